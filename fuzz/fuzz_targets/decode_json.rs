//! Any bytes through the JSON decoder; what it accepts goes through the
//! engine and out as a snapshot. Nothing may panic, and an accepted event
//! must survive encode -> decode unchanged.
#![no_main]

use std::sync::Arc;

use callboard::config::Config;
use callboard::decode::decode_json;
use callboard::engine::Engine;
use callboard::wire::{Status, encode_event};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut engine = Engine::new(Arc::new(Config::default()));
    for line in data.split(|&b| b == b'\n') {
        let Ok(ev) = decode_json(line, 64 * 1024) else { continue };
        let again = encode_event(&ev);
        let back = decode_json(again.as_bytes(), 1 << 20).expect("re-encoded event decodes");
        assert_eq!(back, ev, "round trip of {again}");
        engine.apply(&ev);
        engine.apply(&ev);
    }
    for t in engine.tenant_names() {
        let now = engine.as_of().unwrap_or(0);
        let s = engine.snapshot(&t, now, Status::Live).expect("tenant exists");
        serde_json::to_vec(&s).expect("snapshot serialises");
    }
});
