//! Differential tests: img-authz's request decoder against a reference built
//! on Go's own net/http, net/url, mime and encoding/json (`tests/goref`),
//! modelling dockerd 20.10 and current moby. See TESTING.md.
//!
//! `fixed_corpus` runs in `make test`: the decoder table, the known bypass
//! shapes and a fixed, seeded set of their mutations. `long_differential`
//! (ignored; `make fuzz`) runs fresh random mutations for `DIFF_SECONDS`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a panic is how a test fails"
)]

#[path = "decoder.rs"]
#[allow(dead_code, reason = "the differential run uses only the table")]
mod decoder_table;
#[path = "differential/harness.rs"]
mod harness;

use std::time::{Duration, Instant};

use harness::{mutate, run_cases, Case, Finding, GoRef, Src, Stats};
use serde_json::Value;

/// A decoder-table row as the raw request the Docker CLI (or the attacker)
/// sends. A row that hides its body (a Content-Length but no forwarded body)
/// gets a form body of that length, the worst body it could carry.
fn from_table(row: &decoder_table::Case) -> Case {
    let mut headers: Vec<(String, String)> = Vec::new();
    if row.body.is_some() {
        headers.push(("Content-Type".into(), "application/json".into()));
    } else if row.method == "POST" || row.method == "PUT" {
        headers.push(("Content-Type".into(), "text/plain".into()));
    }
    let mut framing = "";
    let mut body = row.body.map(|b| b.as_bytes().to_vec()).unwrap_or_default();
    for (k, v) in row.headers {
        if k.eq_ignore_ascii_case("content-length") {
            match v.parse::<usize>() {
                Ok(n) if body.is_empty() => {
                    body = b"fromImage=evil.io/x&tag=v1&repo=evil.io/x&"
                        .iter()
                        .copied()
                        .cycle()
                        .take(n)
                        .collect();
                }
                Ok(_) => {}
                Err(_) => {
                    framing = "chunked";
                    if body.is_empty() {
                        body = b"fromImage=evil.io/x".to_vec();
                    }
                }
            }
            continue;
        }
        headers.retain(|(h, _)| !h.eq_ignore_ascii_case(k));
        if !v.is_empty() {
            headers.push((k.to_string(), v.to_string()));
        }
    }
    Case {
        method: row.method.into(),
        uri: row.uri.into(),
        headers,
        body,
        framing,
    }
}

fn seeds() -> Vec<Case> {
    let mut s: Vec<Case> = decoder_table::CASES.iter().map(from_table).collect();
    s.extend(harness::bypass_seeds());
    s
}

/// `n` mutants of the seeds from a fixed RNG seed; a third are mutated
/// again, so that changes combine.
fn corpus(seed: u64, n: usize) -> Vec<Case> {
    let mut seeds = seeds();
    let mut r = Src::Seeded(seed);
    let mut out = seeds.clone();
    // The 1 MiB body is checked once; its mutants would only be slow.
    seeds.retain(|c| c.body.len() < 65_536);
    for i in 0..n {
        let base = &seeds[i % seeds.len()];
        let mut c = mutate(base, &mut r);
        if r.chance(33) {
            c = mutate(&c, &mut r);
        }
        out.push(c);
    }
    out
}

fn summary(stats: &Stats, findings: &[Finding], took: Duration) -> String {
    format!(
        "{} cases in {:.1?}: {} daemon views reached the plugin; {} compared field by field, \
         {} refused by img-authz where dockerd acts (safe), {} decoded where dockerd rejects, \
         {} refused by both, {} known (documented) shapes; {} bodies checked against encoding/json; \
         {} findings",
        stats.cases,
        took,
        stats.reached,
        stats.compared,
        stats.rust_stricter,
        stats.go_rejects,
        stats.both_refuse,
        stats.known,
        stats.json_checked,
        findings.len()
    )
}

#[test]
fn fixed_corpus() {
    let start = Instant::now();
    let cases = corpus(0x1316_a07b, 30_000);
    let mut go = GoRef::start();
    let (mut stats, mut findings) = (Stats::default(), Vec::new());
    for chunk in cases.chunks(2_000) {
        run_cases(&mut go, chunk, &mut stats, &mut findings);
    }
    let took = start.elapsed();
    eprintln!("{}", summary(&stats, &findings, took));
    eprintln!(
        "img-authz refusals dockerd would have acted on:\n{}",
        stats.top_stricter(12)
    );
    // The comparison must really happen: a broken reference that reaches
    // nothing would otherwise pass.
    assert!(stats.compared > 10_000, "too few comparisons: {stats:?}");
    assert!(stats.rust_stricter > 0 && stats.go_rejects > 0, "{stats:?}");
    assert!(
        findings.is_empty(),
        "img-authz and dockerd disagree:\n{}",
        harness::report(&findings)
    );
}

/// The reference itself must say what dockerd is documented to do, or the
/// comparison proves nothing.
#[test]
fn reference_models_dockerd() {
    let c = Case::new;
    let json = ("Content-Type", "application/json");
    let cases = vec![
        c(
            "POST",
            "/v1.41/containers%2Fcreate",
            &[json],
            br#"{"Image":"a"}"#,
        ),
        c(
            "POST",
            "/v1.41/containers/create?x=/auth",
            &[json],
            br#"{"Image":"a"}"#,
        ),
        c(
            "POST",
            "/v1.41/containers/create",
            &[json],
            br#"{"Image":"a","Privileged":true}"#,
        ),
        c(
            "POST",
            "/v1.41/images/create?fromSrc=-",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Content-Type", "text/plain"),
            ],
            b"fromImage=evil.io/x",
        ),
        c("GET", "/v1.41//containers/json", &[], b""),
        c("POST", "/v1.41/containers/x/start/kill", &[], b""),
        c("POST", "/v1.41/debug/vars", &[], b""),
        c("GET", "/v1.41/images/a/json?b=1;c=2", &[], b""),
    ];
    let out = GoRef::start().run(&cases);
    let view = |i: usize, m: usize| out[i]["views"][m].clone();
    assert_eq!(view(0, 0)["route"], "POST /containers/create");
    assert_eq!(
        view(0, 1)["envelope"]["RequestUri"],
        "/v1.41/containers%2Fcreate"
    );
    // 20.10 withholds the body for a URI ending in /auth; current moby does not.
    assert_eq!(view(1, 0)["envelope"]["RequestBody"], Value::Null);
    assert!(view(1, 1)["envelope"]["RequestBody"].is_string());
    // 20.10 applies top-level HostConfig fields; current moby ignores them.
    assert_eq!(view(2, 0)["body"]["host"]["privileged"], true);
    assert_eq!(view(2, 1)["body"]["host"]["privileged"], false);
    // The first Content-Type decides the form; the plugin sees the last.
    assert_eq!(view(3, 0)["form"]["fromImage"][0], "evil.io/x");
    assert_eq!(
        view(3, 0)["envelope"]["RequestHeaders"]["Content-Type"],
        "text/plain"
    );
    // mux redirects unclean paths before any handler runs.
    assert_eq!(view(4, 0)["reached"], false);
    let kill = view(5, 1);
    assert_eq!(kill["route"], "POST /containers/{name}/kill");
    assert_eq!(kill["vars"][0], "x/start");
    // 20.10 serves /debug only unversioned; current moby only GET.
    assert_eq!(view(6, 0)["reached"], false);
    assert_eq!(view(6, 1)["reached"], false);
    // A ';' in the query: mux still routes it (a read here).
    assert_eq!(view(7, 0)["route"], "GET /images/{name}/json");
}

/// The comparison must flag a daemon that reads a request differently:
/// feed it Go's answer with one field changed at a time.
#[test]
fn comparator_flags_disagreements() {
    let json = ("Content-Type", "application/json");
    let create = Case::new(
        "POST",
        "/v1.41/containers/create?name=c",
        &[json],
        br#"{"Image":"a","HostConfig":{"Binds":["/:/h"]}}"#,
    );
    let pull = Case::new(
        "POST",
        "/v1.41/images/create?fromImage=127.0.0.1:5000/ok&tag=v1",
        &[("Content-Type", "text/plain")],
        b"",
    );
    let mut go = GoRef::start();
    let answers = go.run(&[create.clone(), pull.clone()]);
    let tamper: Vec<(usize, &str, Value)> = vec![
        (0, "/route", "POST /containers/{name}/kill".into()),
        (0, "/version", "1.40".into()),
        (0, "/body/image", "evil.io/x".into()),
        (0, "/body/host/privileged", true.into()),
        (0, "/body/host/binds/0", "/etc:/h".into()),
        (0, "/form/name/0", "other".into()),
        (1, "/form/fromImage/0", "evil.io/x".into()),
        (1, "/form/tag/0", "v2".into()),
    ];
    for (i, ptr, val) in tamper {
        let (case, mut a) = ([&create, &pull][i], answers[i].clone());
        let (mut stats, mut f) = (Stats::default(), Vec::new());
        harness::check(case, &a, &mut stats, &mut f);
        assert!(f.is_empty(), "untampered {ptr}: {}", harness::report(&f));
        for m in 0..2 {
            *a["views"][m].pointer_mut(ptr).expect(ptr) = val.clone();
        }
        harness::check(case, &a, &mut stats, &mut f);
        assert_eq!(
            f.len(),
            2,
            "tampering with {ptr} must be flagged in both models"
        );
    }
}

/// Every finding the harness made, kept as a regression: each must now
/// decode the way dockerd acts, or be refused.
#[test]
fn past_findings_stay_fixed() {
    let cases = regressions();
    let mut go = GoRef::start();
    let (mut stats, mut findings) = (Stats::default(), Vec::new());
    run_cases(&mut go, &cases, &mut stats, &mut findings);
    assert_eq!(stats.cases, cases.len());
    assert!(
        findings.is_empty(),
        "a past finding is back:\n{}",
        harness::report(&findings)
    );
    // The duplicate Content-Type shapes (TESTING.md) are still seen for what
    // they are, in both daemon models; if this drops, update TESTING.md.
    assert_eq!(stats.known, 4, "{stats:?}");
}

/// Shapes the harness reported, kept as regressions.
fn regressions() -> Vec<Case> {
    let dup_ct = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Content-Type", "text/plain"),
    ];
    vec![
        // Review F3: an import to the plugin, a pull of anything to dockerd.
        Case::new(
            "POST",
            "/v1.41/images/create?fromSrc=-&repo=x",
            &dup_ct,
            b"fromImage=evil.io/x&tag=v1",
        ),
        // The same for classic build parameters.
        Case::new(
            "POST",
            "/v1.41/build?t=x",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Content-Type", "application/x-tar"),
            ],
            b"t=127.0.0.1:5000/ok:v1&remote=http://evil/c.tar",
        ),
    ]
}

/// `make fuzz`: fresh random mutations for DIFF_SECONDS (default 600).
#[test]
#[ignore = "long; run by `make fuzz`"]
fn long_differential() {
    let secs: u64 = std::env::var("DIFF_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let seed: u64 = std::env::var("DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    eprintln!("long differential run: {secs} s, DIFF_SEED={seed}");
    let mut seeds = seeds();
    seeds.retain(|c| c.body.len() < 65_536);
    let mut r = Src::Seeded(seed);
    let mut go = GoRef::start();
    let (mut stats, mut findings) = (Stats::default(), Vec::new());
    let start = Instant::now();
    // Mutants that reached a comparison are kept as parents too, so that
    // mutations stack up over the run.
    let mut pool: Vec<Case> = seeds.clone();
    while start.elapsed() < Duration::from_secs(secs) {
        let batch: Vec<Case> = (0..2_000)
            .map(|_| {
                let base = r.pick(&pool).clone();
                mutate(&base, &mut r)
            })
            .collect();
        let before = stats.compared;
        run_cases(&mut go, &batch, &mut stats, &mut findings);
        if stats.compared > before && pool.len() < 20_000 {
            pool.extend(batch.into_iter().step_by(50));
        }
        if findings.len() > 200 {
            break;
        }
    }
    let msg = format!(
        "{}\nimg-authz refusals dockerd would have acted on:\n{}",
        summary(&stats, &findings, start.elapsed()),
        stats.top_stricter(25)
    );
    eprintln!("{msg}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-findings");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(
        dir.join(format!("differential-{seed}.txt")),
        format!("{msg}\n{}", harness::report(&findings)),
    );
    assert!(
        findings.is_empty(),
        "img-authz and dockerd disagree (DIFF_SEED={seed}):\n{}",
        harness::report(&findings)
    );
}
