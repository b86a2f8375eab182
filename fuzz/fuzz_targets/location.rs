#![no_main]
//! cargo-fuzz target: `mirrorwatch::fuzzing::location`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| mirrorwatch::fuzzing::location(data));
