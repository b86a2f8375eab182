#![no_main]
//! cargo-fuzz target: `mirrorwatch::fuzzing::dns`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| mirrorwatch::fuzzing::dns(data));
