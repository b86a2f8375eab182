#![no_main]
//! cargo-fuzz target: `mirrorwatch::fuzzing::config`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| mirrorwatch::fuzzing::config(data));
