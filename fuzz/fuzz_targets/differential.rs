#![no_main]
//! Coverage-guided differential fuzzing: libFuzzer's bytes choose a seed
//! (decoder table or known bypass shape) and the mutations applied to it;
//! the case then goes through tests/goref and img-authz, and any
//! disagreement is a crash. The Go process is started once and kept.

#[path = "../../tests/decoder.rs"]
#[allow(dead_code, unused_imports)]
mod decoder_table;
#[path = "../../tests/differential/harness.rs"]
mod harness;

use std::sync::{Mutex, OnceLock};

use harness::{mutate, Case, GoRef, Src, Stats};

fn seeds() -> &'static [Case] {
    static S: OnceLock<Vec<Case>> = OnceLock::new();
    S.get_or_init(|| {
        let mut s: Vec<Case> = decoder_table::CASES
            .iter()
            .map(|row| {
                let ct = if row.body.is_some() {
                    "application/json"
                } else {
                    "text/plain"
                };
                let mut c = Case::new(
                    row.method,
                    row.uri,
                    &[("Content-Type", ct)],
                    row.body.unwrap_or("").as_bytes(),
                );
                for (k, v) in row.headers {
                    if !k.eq_ignore_ascii_case("content-length") {
                        c.headers.retain(|(h, _)| !h.eq_ignore_ascii_case(k));
                        if !v.is_empty() {
                            c.headers.push((k.to_string(), v.to_string()));
                        }
                    }
                }
                c
            })
            .collect();
        s.extend(
            harness::bypass_seeds()
                .into_iter()
                .filter(|c| c.body.len() < 65_536),
        );
        s
    })
}

static GO: Mutex<Option<GoRef>> = Mutex::new(None);

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut r = Src::Bytes(data, 0);
    let seeds = seeds();
    let mut case = seeds[r.below(seeds.len())].clone();
    let rounds = 1 + r.below(4);
    for _ in 0..rounds {
        case = mutate(&case, &mut r);
        if r.exhausted() {
            break;
        }
    }
    let mut guard = GO.lock().unwrap_or_else(|e| e.into_inner());
    let go = guard.get_or_insert_with(GoRef::start);
    let (mut stats, mut findings) = (Stats::default(), Vec::new());
    harness::run_cases(go, std::slice::from_ref(&case), &mut stats, &mut findings);
    if !findings.is_empty() {
        panic!(
            "img-authz and dockerd disagree:\n{}",
            harness::report(&findings)
        );
    }
});
