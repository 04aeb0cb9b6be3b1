//! Integration tests: the real docker CLI against a real dockerd guarded by
//! img-authz, with a real registry and notary-server. Run by `make test`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a panic is how a test fails"
)]

mod build;
mod core;
mod cosign;
mod cosign_cli;
mod decision_log;
mod drivers;
mod engine;
mod fleet;
mod hardening;
mod hub;
mod identity;
mod notary_auth;
mod notation;
mod notation_levels;
mod notation_ts;
mod ops;
mod ownership;
mod raw;
mod seccomp;
mod stack;
mod trust;
