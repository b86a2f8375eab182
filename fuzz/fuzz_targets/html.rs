#![no_main]
//! cargo-fuzz target: `mirrorwatch::fuzzing::html`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| mirrorwatch::fuzzing::html(data));
