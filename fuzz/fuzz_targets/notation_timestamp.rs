#![no_main]
//! See tests/differential/parsers.rs: no panic, nothing verifies without a root.

#[path = "../../tests/differential/parsers.rs"]
mod parsers;

libfuzzer_sys::fuzz_target!(|data: &[u8]| parsers::notation_timestamp(data));
