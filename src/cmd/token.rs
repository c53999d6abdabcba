//! `callboard token`: access tokens made and hashed for the config file.

use std::io;
use std::process::ExitCode;

use crate::config::Role;
use crate::http::auth::{hash_token, hex, new_token};

#[derive(clap::Subcommand, Debug)]
pub enum TokenCommand {
    /// Make a new random token; prints it once with its SHA-256 and a
    /// `[[tokens]]` entry for the config file (which stores only the hash).
    New {
        /// A name for the token, shown in logs.
        #[arg(long, default_value = "wallboard")]
        name: String,
        /// `tenant`, `admin` or `metrics`.
        #[arg(long, value_enum, default_value = "tenant")]
        role: Role,
        /// The tenant a `tenant` token reads.
        #[arg(long)]
        tenant: Option<String>,
        /// Limit a `tenant` token to these services (comma-separated): its
        /// board, REST, websocket and reports show only them.
        #[arg(long, value_delimiter = ',', value_name = "SERVICE,...")]
        services: Vec<String>,
    },
    /// Print the SHA-256 of a token read from standard input.
    Hash,
}

pub fn execute(cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TokenCommand::New {
            name,
            role,
            tenant,
            services,
        } => {
            anyhow::ensure!(
                (role == Role::Tenant) == tenant.is_some(),
                "a tenant token needs --tenant NAME; other roles take none"
            );
            anyhow::ensure!(
                services.is_empty() || role == Role::Tenant,
                "only a tenant token is limited to --services"
            );
            let made = new_token(&name, role, tenant.as_deref(), &services)?;
            println!(
                "token (give it to the client; it is not stored): {}",
                made.token
            );
            println!();
            print!("{}", made.entry);
        }
        TokenCommand::Hash => {
            let mut token = String::new();
            io::stdin().read_line(&mut token)?;
            let token = token.trim();
            anyhow::ensure!(!token.is_empty(), "no token on standard input");
            println!("{}", hex(&hash_token(token)));
        }
    }
    Ok(ExitCode::SUCCESS)
}
