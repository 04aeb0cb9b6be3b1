//! Notary v1 (Docker Content Trust), verified in-process.
//!
//! `tough` cannot read Notary's metadata (capitalised `_type`, x509 keys,
//! raw r‖s ECDSA, base64 hashes), so this is a small client of our own:
//! [`keys`] and [`metadata`] check signatures, [`root`] the root of trust,
//! [`update`] walks the chain, [`state`] keeps roots and versions across
//! restarts, [`client`] fetches over HTTPS, and [`verifier`] is the cached
//! [`crate::trust::Verifier`] the policy uses.

pub mod canonical;
pub mod client;
pub mod keys;
pub mod metadata;
pub mod root;
pub mod state;
pub mod update;
pub mod verifier;

#[cfg(test)]
pub(crate) mod testkit;

#[cfg(test)]
mod tests;

/// Why metadata is not trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TufError {
    #[error("malformed metadata: {0}")]
    Format(String),
    #[error("bad key: {0}")]
    Key(String),
    #[error("bad signature: {0}")]
    Signature(String),
    #[error("not enough valid signatures: {0}")]
    Threshold(String),
    #[error("metadata expired: {0}")]
    Expired(String),
    #[error("metadata does not match its listed hash: {0}")]
    Hash(String),
    #[error("rollback: {0}")]
    Rollback(String),
    #[error("root of trust rejected: {0}")]
    Root(String),
    #[error("root changed: {0}")]
    RootMismatch(String),
    #[error("metadata too large: {0}")]
    TooLarge(String),
    #[error("metadata missing on the server: {0}")]
    Missing(String),
    #[error("notary server unavailable: {0}")]
    Unavailable(Unreachable),
    #[error("trust state: {0}")]
    State(String),
}

/// Why the Notary server could not be asked; the text names the server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreachable {
    /// No answer (connection, TLS, timeout) or a failed token exchange.
    #[error(transparent)]
    Http(#[from] crate::http::HttpError),
    #[error("notary server {server} refused access to {gun} ({status}); give img-authz credentials in its docker config")]
    Refused {
        server: String,
        gun: String,
        status: reqwest::StatusCode,
    },
    #[error("notary server {server} answered {status} for {file}")]
    Status {
        server: String,
        file: String,
        status: reqwest::StatusCode,
    },
    /// The process is stopping: no more updates are started.
    #[error("metadata updates are shut down")]
    ShutDown,
}

impl TufError {
    /// Failures a newer root could explain (key rotation).
    pub fn suggests_new_root(&self) -> bool {
        matches!(
            self,
            TufError::Threshold(_) | TufError::Signature(_) | TufError::RootMismatch(_)
        )
    }
}
