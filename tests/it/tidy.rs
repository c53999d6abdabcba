//! Rules of the code base that check themselves: the layers of
//! ARCHITECTURE.md hold for every `crate::` path in `src/`, and no module
//! but `telemetry` names a metric. Each failure says the file and what to
//! do.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The source without its unit tests (a `#[cfg(test)] mod`, last) and
/// without comments: the rules are about what the product's code uses.
fn product_code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod ") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| match l.trim_start() {
            t if t.starts_with("//") => "",
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The layer table of ARCHITECTURE.md: each top-level module (and
/// `main`) with its layer's number.
fn layers() -> BTreeMap<String, u32> {
    let doc = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let section = doc
        .split("\n## Layers\n")
        .nth(1)
        .expect("ARCHITECTURE.md has a `## Layers` section")
        .split("\n## ")
        .next()
        .unwrap();
    let mut table = BTreeMap::new();
    for line in section.lines() {
        let Some((number, rest)) = line.split_once(". ") else {
            continue;
        };
        let Ok(number) = number.trim().parse::<u32>() else {
            continue;
        };
        // The modules are the backquoted names before the first colon.
        let names = rest.split(':').next().unwrap();
        for name in names.split('`').skip(1).step_by(2) {
            let name = name.trim_end_matches(".rs").trim_end_matches('/');
            table.insert(name.to_string(), number);
        }
    }
    assert!(
        table.len() > 10,
        "ARCHITECTURE.md's layer list should name the modules: {table:?}"
    );
    table
}

/// The top-level module a file of `src/` belongs to.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// The top-level modules a piece of code names through `crate::` (or
/// `callboard::`, from `main.rs`), `use crate::{a, b}` included.
fn imports(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().last();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            // Top-level names of the group: nested braces skipped.
            let mut depth = 0;
            let mut name = String::new();
            for c in group[..end].chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.insert(first_segment(&name));
                        name.clear();
                    }
                    _ if depth == 0 => name.push(c),
                    _ => {}
                }
            }
            if !name.trim().is_empty() {
                out.insert(first_segment(&name));
            }
        } else {
            out.insert(first_segment(rest));
        }
    }
    out.retain(|m| !m.is_empty() && m != "self");
    out
}

fn first_segment(path: &str) -> String {
    path.trim()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The modules `lib.rs` declares.
fn declared_modules() -> BTreeSet<String> {
    let lib = std::fs::read_to_string(root().join("src/lib.rs")).unwrap();
    lib.lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';').to_string())
        .collect()
}

#[test]
fn every_import_follows_the_layers_of_architecture_md() {
    let layers = layers();
    let src = root().join("src");
    let declared = declared_modules();
    let listed: BTreeSet<String> = layers.keys().filter(|m| *m != "main").cloned().collect();
    assert_eq!(
        declared, listed,
        "lib.rs's modules and ARCHITECTURE.md's layer list must name the same modules"
    );

    let mut problems = Vec::new();
    let mut edges: BTreeSet<(String, String)> = BTreeSet::new();
    for file in rust_files(&src) {
        let module = module_of(&src, &file);
        if module == "lib" {
            continue;
        }
        let code = product_code(&std::fs::read_to_string(&file).unwrap());
        let prefix = if module == "main" {
            "callboard::"
        } else {
            "crate::"
        };
        let Some(&own) = layers.get(&module) else {
            problems.push(format!(
                "{}: module `{module}` is not in ARCHITECTURE.md's layer list",
                file.display()
            ));
            continue;
        };
        for used in imports(&code, prefix) {
            if used == module {
                continue;
            }
            match layers.get(&used) {
                None => problems.push(format!(
                    "{}: uses `{used}`, which ARCHITECTURE.md's layer list does not name",
                    file.display()
                )),
                Some(&layer) if layer > own => problems.push(format!(
                    "{}: `{module}` (layer {own}) uses `{used}` (layer {layer}): an arrow up the layers",
                    file.display()
                )),
                Some(_) => {
                    edges.insert((module.clone(), used));
                }
            }
        }
    }
    for (a, b) in &edges {
        if a < b && edges.contains(&(b.clone(), a.clone())) {
            problems.push(format!("`{a}` and `{b}` import each other"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_rule_reader_sees_what_it_checks() {
    // The checks above are only as good as what they read: a grouped use,
    // a path in a body and a comment.
    let code = "use crate::{engine::Engine, time::{self, Millis}};\nlet x = crate::wire::Snapshot::default();\n";
    let found = imports(&product_code(code), "crate::");
    assert_eq!(
        found,
        ["engine", "time", "wire"]
            .map(String::from)
            .into_iter()
            .collect()
    );
    assert!(imports(&product_code("// crate::serve\n"), "crate::").is_empty());
    assert!(imports("mycrate::x", "crate::").is_empty());
    assert!(layers().contains_key("engine"));
}

#[test]
fn no_module_but_telemetry_names_a_metric() {
    let src = root().join("src");
    let mut problems = Vec::new();
    for file in rust_files(&src) {
        if file.starts_with(src.join("telemetry")) {
            continue;
        }
        let code = product_code(&std::fs::read_to_string(&file).unwrap());
        for (n, line) in code.lines().enumerate() {
            let names_one = line.contains("\"callboard_")
                || line.contains("telemetry::names")
                || line.contains("names::");
            if names_one {
                problems.push(format!(
                    "{}:{}: a metric named outside telemetry/ (emit a signal of `telemetry` instead): {}",
                    file.display(),
                    n + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn an_enum_has_one_name_on_the_wire_and_in_labels() {
    // `names!` gives `as_str` and `parse`; serde names the same variants
    // on its own: the two must agree, and `parse` must undo `as_str`.
    fn same<T: serde::Serialize + Copy + PartialEq + std::fmt::Debug>(
        all: &[T],
        as_str: fn(T) -> &'static str,
        parse: fn(&str) -> Option<T>,
    ) {
        for &v in all {
            assert_eq!(
                serde_json::to_string(&v).unwrap(),
                format!("\"{}\"", as_str(v))
            );
            assert_eq!(parse(as_str(v)), Some(v));
        }
    }
    use callboard::event::{AgentState, Direction};
    use callboard::wire::{By, Step};
    same(&AgentState::ALL, AgentState::as_str, AgentState::parse);
    same(&By::ALL, By::as_str, By::parse);
    same(&Step::ALL, Step::as_str, Step::parse);
    for d in Direction::ALL {
        assert_eq!(Direction::parse(d.as_str()), Some(d));
    }
}
