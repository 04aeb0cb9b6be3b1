//! img-authz: a Docker Engine authorization plugin that lets a host run only
//! images from authorized registries whose signatures verify.
//!
//! Data flows one way (ARCHITECTURE.md): `protocol` (wire types, unix-socket
//! server) → `request` (decode like dockerd into a typed action) → `policy`
//! (decide, with `trust`, `registry` and `daemon` below it) → `plugin` (ties
//! them together, logs the decision).
//!
//! # Public API
//!
//! The layers are private modules. What other crates of this repository use
//! (the `img-authz` binary in `src/main.rs` + `src/cli/`, the `tests/*.rs`
//! targets, `tests/integration/`, `benches/`, and `fuzz/`, which includes
//! `tests/differential/`) is listed here, by purpose; everything else is an
//! internal helper, and the compiler reports it when nothing uses it.
//!
//! - [`protocol`]: the `docker.authz/1.0` wire types ([`protocol::AuthzRequest`],
//!   [`protocol::AuthzResponse`]) and the server on the unix socket
//!   ([`protocol::serve`], the [`protocol::Authorize`] trait it calls).
//! - [`request`]: the decoder, `decode(&AuthzRequest) -> Decoded` and the parsers
//!   it is made of (`uri`, `query`, `json`, `reference`, `routes`, `action`),
//!   public for the differential tests against dockerd and the fuzz targets.
//! - [`decide`]: the compiled [`decide::Policy`] and what it answers
//!   ([`decide::Decision`], [`decide::Outcome`], [`decide::Check`]), its inputs (the
//!   environment's [`decide::Config`], the policy [`decide::file`]) and the pure
//!   helpers tests compare against (ownership scopes, the seccomp digest).
//! - [`run`]: running the plugin: [`run::Plugin`] (decode → decide → log →
//!   answer; also what `img-authz check` runs), the [`run::DecisionLog`], and
//!   the service plumbing the binary wires (socket, reloads, metrics listener,
//!   `img-authz status`).
//! - [`fleet`]: signed policy bundles: what `img-authz bundle push|pull` and
//!   `serve` with `IMG_AUTHZ_BUNDLE` use.
//! - [`verify`]: the parsers and offline checks of the signature formats
//!   (cosign, Notary v1, Notation) for the fixture tests and fuzz targets, and
//!   [`verify::Signed`], the proof of verification that only `trust` can make.
//! - [`upstream`]: outgoing calls: registry credentials, the HTTP client and
//!   its `WWW-Authenticate` parser, the upstream names of the metrics.
//!
//! A new use outside the library goes through one of these groups (add the
//! item to the group it belongs to); the layers stay private:
//!
//! ```
//! use img_authz::decide::Policy;
//! use img_authz::verify::notary::parse_key;
//! // (so the compile_fail tests of `Signed` fail on its privacy, not its path)
//! use img_authz::verify::Signed;
//! ```
//! ```compile_fail,E0603
//! use img_authz::policy::Policy; // the layer itself is private
//! ```
//! ```compile_fail,E0603
//! use img_authz::trust::notary::keys::parse_key; // so is every verifier
//! ```

mod bundle;
mod config;
mod credentials;
mod daemon;
mod http;
mod log;
mod metrics;
mod op;
mod ownership_store;
mod plugin;
mod policy;
pub mod protocol;
mod registry;
pub mod request;
mod service;
mod tls;
mod trust;
mod unix_http;

/// The compiled policy, its inputs and its decisions.
pub mod decide {
    pub use crate::config::{flag, opt_u64, Config, ConfigError, RawConfig, TrustMode};
    pub use crate::policy::ownership::{scope, Scope};
    pub use crate::policy::seccomp::digest as seccomp_digest;
    pub use crate::policy::{
        BuildError, Check, CreateCheck, Ctx, Decision, ImageCheck, Outcome, Policy, PolicyFile,
    };

    /// The policy file (`docs/policy.md`): read, parse and validate it.
    pub mod file {
        pub use crate::policy::file::{load, load_confined, parse, PolicyErrors, VerifierKind};
    }
}

/// Running the plugin: the `Authorize` of the server, its decision log, the
/// service plumbing of `img-authz serve` and `img-authz status`, and what
/// `serve` warns at start-up when `NOTARY` is Docker Hub's retired server.
pub mod run {
    pub use crate::log::DecisionLog;
    pub use crate::plugin::{describe, Plugin};
    pub use crate::service::{
        listener, reload, shutdown_signal, spawn_metrics, spawn_reloader, unix_request,
    };
    pub use crate::trust::notary::verifier::{
        is_docker_hub_notary, DOCKER_HUB_INSTEAD, DOCKER_HUB_SHUTDOWN,
    };
}

/// Signed policy bundles (`docs/fleet.md`): publish, fetch and verify, and the
/// source that keeps a running plugin on the newest verified bundle.
pub mod fleet {
    pub use crate::bundle::fetch::{Fetcher, FetcherError};
    pub use crate::bundle::format::{scope_entry, ScopeError};
    pub use crate::bundle::push::Pusher;
    pub use crate::bundle::serve::{Options, Pin, Settings, SettingsError, Source};
    pub use crate::bundle::{Bundle, BundleError, BundleRef, RefError};
}

/// The signature formats' parsers and offline checks, for the fixture tests
/// and the fuzz targets. The plugin reaches them only through a policy.
pub mod verify {
    pub use crate::trust::Signed;

    /// cosign: keys, the Sigstore trusted root, signature candidates (bundle
    /// or simple-signing layer) and the policy that checks them.
    pub mod cosign {
        pub use crate::trust::cosign::keys::PublicKey;
        pub use crate::trust::cosign::root::TrustedRoot;
        pub use crate::trust::cosign::signature::{from_bundle, from_simple_layer, Candidate};
        pub use crate::trust::cosign::verify::{
            distinct_authorities, Authority, Evidence, Rejection, TlogError, Verified,
        };
        pub use crate::trust::cosign::{CosignPolicy, Identity, Pattern, Tlog};
    }

    /// Notary v1 (TUF): the metadata and key parsers, and the update of one
    /// repository's trust state against a server.
    pub mod notary {
        pub use crate::trust::notary::client::HttpFetch;
        pub use crate::trust::notary::keys::parse_key;
        pub use crate::trust::notary::metadata::{
            parse_envelope, parse_root, parse_snapshot, parse_targets, parse_timestamp,
        };
        pub use crate::trust::notary::root::RootPolicy;
        pub use crate::trust::notary::state::StateStore;
        pub use crate::trust::notary::update::update;
    }

    /// Notation: the JWS and COSE envelopes (integrity only), RFC 4514 DNs,
    /// the trust policy, RFC 3161 timestamps.
    pub mod notation {
        pub use crate::trust::notation::dn::Dn;
        pub use crate::trust::notation::policy::TrustPolicy;
        pub use crate::trust::notation::{cose, jws, timestamp};
    }
}

/// Outgoing calls: read-only registry credentials, the HTTP client (and its
/// `WWW-Authenticate` parser), the upstream names the metrics count.
pub mod upstream {
    pub use crate::credentials::Credentials;
    pub use crate::http::{parse_challenge, HttpClient};
    pub use crate::metrics::Upstream;
}
