//! librdkafka's mock cluster in a process of its own, for tests of several
//! processes on one machine (a cluster of instances in one consumer group).
//! Unlike a single-node broker under test, its group coordinator moves a
//! killed member's partitions to the survivors once the member's session
//! times out.
//!
//! ```text
//! cargo run --release --example mock_kafka -- TOPIC:PARTITIONS...
//! ```
//!
//! Creates the topics (the mock has no admin API), prints its bootstrap
//! servers on the first line of stdout, and runs until it is killed. The
//! mock keeps about 32,000 messages a partition.

use std::io::Write;

use rdkafka::mocking::MockCluster;

fn main() {
    let topics: Vec<(String, i32)> = std::env::args()
        .skip(1)
        .map(|a| {
            let (name, n) = a
                .rsplit_once(':')
                .unwrap_or_else(|| panic!("`{a}`: give topics as NAME:PARTITIONS"));
            let n = n
                .parse()
                .unwrap_or_else(|_| panic!("`{a}`: PARTITIONS is not a number"));
            (name.to_string(), n)
        })
        .collect();
    let mock = MockCluster::new(1).expect("the mock cluster starts");
    for (name, n) in &topics {
        mock.create_topic(name, *n, 1)
            .unwrap_or_else(|e| panic!("cannot create {name}: {e}"));
    }
    println!("{}", mock.bootstrap_servers());
    std::io::stdout().flush().expect("stdout is open");
    loop {
        std::thread::park();
    }
}
