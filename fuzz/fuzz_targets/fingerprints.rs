#![no_main]
//! cargo-fuzz target: `mirrorwatch::fuzzing::fingerprints`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| mirrorwatch::fuzzing::fingerprints(data));
