#![no_main]
//! cargo-fuzz target: `mirrorwatch::fuzzing::proxy`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| mirrorwatch::fuzzing::proxy(data));
