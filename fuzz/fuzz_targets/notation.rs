#![no_main]
//! See tests/differential/parsers.rs: no panic, no allow on malformed input.

#[path = "../../tests/differential/parsers.rs"]
mod parsers;

libfuzzer_sys::fuzz_target!(|data: &[u8]| parsers::notation(data));
