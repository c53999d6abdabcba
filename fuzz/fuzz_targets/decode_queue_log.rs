//! Any text through the queue_log adapter and the engine. Nothing may panic.
#![no_main]

use std::sync::Arc;

use callboard::config::Config;
use callboard::decode::QueueLogDecoder;
use callboard::engine::Engine;
use callboard::wire::Status;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let config = Arc::new(Config::default());
    let mut decoder = QueueLogDecoder::new("t", &config.tenant("t"));
    let mut engine = Engine::new(config);
    engine.tenant_mut("t");
    for line in text.lines() {
        if let Ok(events) = decoder.decode_line(line) {
            for ev in &events {
                engine.apply(ev);
            }
        }
    }
    let now = engine.as_of().or(decoder.latest()).unwrap_or(0);
    let s = engine.snapshot("t", now, Status::Live).expect("tenant exists");
    serde_json::to_vec(&s).expect("snapshot serialises");
});
