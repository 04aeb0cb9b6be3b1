//! Integration tests: the real docker CLI against a real dockerd guarded by
//! img-authz, with a real registry and notary-server. Run by `make test`.

mod core;
mod cosign;
mod drivers;
mod engine;
mod hardening;
mod identity;
mod notary_auth;
mod notation;
mod ops;
mod raw;
mod seccomp;
mod stack;
mod trust;
