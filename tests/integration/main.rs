//! Integration tests: the real docker CLI against a real dockerd guarded by
//! img-authz, with a real registry and notary-server. Run by `make test`.

mod core;
mod cosign;
mod engine;
mod hardening;
mod notary_auth;
mod ops;
mod raw;
mod stack;
mod trust;
