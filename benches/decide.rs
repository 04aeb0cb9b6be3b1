//! Micro-benchmarks of the decision path without HTTP: the call envelope
//! (JSON + base64), decoding as dockerd would, deciding, and the whole
//! `Plugin::authorize` (decode, decide, metrics, decision log).
//!
//! For each representative call (`read`: `docker ps -a`; `create_large`:
//! `docker run` with a large HostConfig; `pull_tag`; `pull_digest`):
//!
//! - `decode/<call>`: envelope parse + `request::decode`;
//! - `decide/<call>`: envelope parse + `Plugin::evaluate` (decode + policy);
//! - `authorize/<call>`: envelope parse + `Plugin::authorize` (adds metrics
//!   and the decision log line; allowed reads are not logged by default,
//!   pulls and creates are, to stderr: run with `2>/dev/null`).
//!
//! The policy is `examples/hardened.toml` (container hardening on) over the
//! environment's registry rule. Pulls are verified against a real Notary
//! server when `scripts/bench` provides one (BENCH_REGISTRY, BENCH_NOTARY,
//! BENCH_NOTARY_CA, BENCH_IMAGE=repo:tag, BENCH_DIGEST): the decision then
//! comes from the pull-decision cache (warmed once, and checked to be an
//! allow), which is what every repeated pull costs. Without them the pulls
//! use `IMG_AUTHZ_TRUST=none` (registry allowlist only) and are named
//! `*_rules_only`. The container create always uses the allowlist without
//! signature (a signed create asks dockerd which image it would run: that
//! round trip is measured end to end by `docker run` in `scripts/bench`).
//!
//! `cargo bench --bench decide` (or `make bench`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "benchmark code: a panic is how a benchmark stops on a broken setup"
)]
// The create body is one large json! literal.
#![recursion_limit = "512"]

mod support;

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use img_authz::decide::{Policy, RawConfig};
use img_authz::protocol::{Authorize, AuthzRequest, Phase};
use img_authz::run::{DecisionLog, Plugin};

struct Setup {
    rt: tokio::runtime::Runtime,
    /// For reads and the create: allowlist, hardening, no signatures.
    rules: Plugin,
    /// For pulls: notary (cached) when a stack is given, else rules only.
    pulls: Plugin,
    notary: bool,
    calls: Vec<(&'static str, Vec<u8>)>,
    _state: tempfile::TempDir,
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

fn plugin(raw: RawConfig, policy_file: &std::path::Path) -> Plugin {
    let cfg = raw.validate().expect("valid bench configuration");
    let file = img_authz::decide::file::load(policy_file).expect("valid policy file");
    let policy = Policy::new(cfg, Some(file)).expect("policy");
    Plugin::new(policy, DecisionLog::new(0, None).expect("log"))
}

fn setup() -> Setup {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let state = tempfile::tempdir().expect("tempdir");
    let policy_file = env("BENCH_POLICY").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/hardened.toml")
    });
    let registry = env("BENCH_REGISTRY").unwrap_or_else(|| "registry.example.com".into());
    let base = RawConfig {
        registry: registry.clone(),
        state_dir: state.path().display().to_string(),
        // A signed create would ask dockerd; the bench's creates do not.
        docker_host: "unix:///nonexistent/docker.sock".into(),
        cache_ttl_secs: Some(3600),
        pull_cache_secs: Some(3600),
        ..Default::default()
    };
    let rules = plugin(
        RawConfig {
            trust: "none".into(),
            ..base.clone()
        },
        &policy_file,
    );
    let notary = env("BENCH_NOTARY").is_some() && env("BENCH_IMAGE").is_some();
    let pulls = if notary {
        let ca = std::fs::read_to_string(env("BENCH_NOTARY_CA").expect("BENCH_NOTARY_CA"))
            .expect("read BENCH_NOTARY_CA");
        plugin(
            RawConfig {
                trust: "notary".into(),
                notary: env("BENCH_NOTARY").unwrap_or_default(),
                notary_root_ca: ca,
                ..base.clone()
            },
            &policy_file,
        )
    } else {
        plugin(
            RawConfig {
                trust: "none".into(),
                ..base
            },
            &policy_file,
        )
    };
    let image = env("BENCH_IMAGE").unwrap_or_else(|| format!("{registry}/team/app:v1"));
    let (repo, tag) = support::split_ref(&image);
    let digest = env("BENCH_DIGEST").unwrap_or_else(|| format!("sha256:{}", "ab".repeat(32)));
    let calls = vec![
        ("read", support::wire(&support::read())),
        (
            "create_large",
            support::wire(&support::create_large(&format!("{registry}/team/app:v1"))),
        ),
        ("pull_tag", support::wire(&support::pull(&repo, &tag))),
        ("pull_digest", support::wire(&support::pull(&repo, &digest))),
    ];
    Setup {
        rt,
        rules,
        pulls,
        notary,
        calls,
        _state: state,
    }
}

fn parse(wire: &[u8]) -> AuthzRequest {
    serde_json::from_slice(wire).expect("valid envelope")
}

fn benches(c: &mut Criterion) {
    let s = setup();
    for (name, wire) in &s.calls {
        let is_pull = name.starts_with("pull");
        let plugin = if is_pull { &s.pulls } else { &s.rules };
        let id = match (is_pull, s.notary) {
            (true, true) => format!("{name}_notary_cached"),
            (true, false) => format!("{name}_rules_only"),
            _ => (*name).to_string(),
        };
        // Warm the caches, and make sure what is measured is an allow.
        let first = s.rt.block_on(plugin.authorize(Phase::Request, parse(wire)));
        assert!(
            first.allow,
            "{name} must be allowed for the benchmark to mean anything: {}",
            first.msg
        );
        println!("bench {id}: {} bytes on the wire, allowed", wire.len());

        c.bench_function(&format!("decode/{id}"), |b| {
            b.iter(|| {
                let req = parse(black_box(wire));
                black_box(img_authz::request::decode(&req).is_ok())
            })
        });
        c.bench_function(&format!("decide/{id}"), |b| {
            b.iter(|| {
                let req = parse(black_box(wire));
                let (_, d) = s.rt.block_on(plugin.evaluate(&req));
                black_box(d.allowed())
            })
        });
        c.bench_function(&format!("authorize/{id}"), |b| {
            b.iter(|| {
                let req = parse(black_box(wire));
                black_box(s.rt.block_on(plugin.authorize(Phase::Request, req)).allow)
            })
        });
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(800))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
        .configure_from_args()
}

criterion_group! {
    name = decide;
    config = config();
    targets = benches
}
criterion_main!(decide);
