//! A Sigstore trusted root (`trusted_root.json`, as `cosign` and
//! sigstore clients read it), loaded from a local file: no network to public
//! Sigstore services. It names the Fulcio certificate authorities, the Rekor
//! transparency logs and the certificate-transparency logs to trust.

use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use super::keys::PublicKey;
use crate::trust::keys::KeyError;

/// Why a trusted root could not be loaded; the messages are the ones the
/// policy checker and startup print.
#[derive(Debug, thiserror::Error)]
pub enum RootError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    InFile {
        path: String,
        source: Box<RootError>,
    },
    #[error("not a trusted root: {0}")]
    NotJson(serde_json::Error),
    #[error("{0} is not base64")]
    NotBase64(String),
    #[error("{what}: {source}")]
    BadKey { what: String, source: KeyError },
    #[error("bad time {text:?}: {source}")]
    BadTime {
        text: String,
        source: time::error::Parse,
    },
    #[error("certificateAuthorities[{0}] has no certificates")]
    EmptyChain(usize),
}

/// A log's key and when it may be used.
#[derive(Debug, Clone)]
pub struct LogKey {
    /// sha256 of the key's SubjectPublicKeyInfo: how entries name their log.
    pub log_id: Vec<u8>,
    pub key: PublicKey,
    pub valid_from: Option<OffsetDateTime>,
    pub valid_until: Option<OffsetDateTime>,
}

impl LogKey {
    pub fn valid_at(&self, t: OffsetDateTime) -> bool {
        self.valid_from.is_none_or(|s| t >= s) && self.valid_until.is_none_or(|e| t <= e)
    }
}

/// A certificate authority: its chain (leaf-most first, root last).
#[derive(Debug, Clone)]
pub struct Authority {
    pub chain: Vec<Vec<u8>>,
    pub valid_from: Option<OffsetDateTime>,
    pub valid_until: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Default)]
pub struct TrustedRoot {
    pub tlogs: Vec<LogKey>,
    pub ctlogs: Vec<LogKey>,
    pub authorities: Vec<Authority>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RootJson {
    #[serde(default)]
    tlogs: Vec<LogJson>,
    #[serde(default)]
    ctlogs: Vec<LogJson>,
    #[serde(default)]
    certificate_authorities: Vec<CaJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogJson {
    public_key: KeyJson,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyJson {
    raw_bytes: String,
    #[serde(default)]
    valid_for: Option<Validity>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CaJson {
    cert_chain: ChainJson,
    #[serde(default)]
    valid_for: Option<Validity>,
}

#[derive(Deserialize)]
struct ChainJson {
    certificates: Vec<CertJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CertJson {
    raw_bytes: String,
}

#[derive(Deserialize, Default)]
struct Validity {
    #[serde(default)]
    start: Option<String>,
    #[serde(default)]
    end: Option<String>,
}

fn b64(s: &str, what: &str) -> Result<Vec<u8>, RootError> {
    crate::trust::encoding::b64_decode_trimmed(s).map_err(|_| RootError::NotBase64(what.into()))
}

type Window = (Option<OffsetDateTime>, Option<OffsetDateTime>);

fn times(v: &Option<Validity>) -> Result<Window, RootError> {
    let parse = |s: &Option<String>| -> Result<Option<OffsetDateTime>, RootError> {
        match s {
            None => Ok(None),
            Some(s) => OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map(Some)
                .map_err(|source| RootError::BadTime {
                    text: s.clone(),
                    source,
                }),
        }
    };
    match v {
        None => Ok((None, None)),
        Some(v) => Ok((parse(&v.start)?, parse(&v.end)?)),
    }
}

fn log_key(l: &LogJson, what: &str) -> Result<LogKey, RootError> {
    let der = b64(&l.public_key.raw_bytes, what)?;
    let key = PublicKey::from_spki(&der).map_err(|source| RootError::BadKey {
        what: what.into(),
        source,
    })?;
    let (valid_from, valid_until) = times(&l.public_key.valid_for)?;
    Ok(LogKey {
        log_id: Sha256::digest(&der).to_vec(),
        key,
        valid_from,
        valid_until,
    })
}

impl TrustedRoot {
    pub fn parse(text: &[u8]) -> Result<TrustedRoot, RootError> {
        let j: RootJson = serde_json::from_slice(text).map_err(RootError::NotJson)?;
        let mut root = TrustedRoot::default();
        for (i, l) in j.tlogs.iter().enumerate() {
            root.tlogs.push(log_key(l, &format!("tlogs[{i}]"))?);
        }
        for (i, l) in j.ctlogs.iter().enumerate() {
            root.ctlogs.push(log_key(l, &format!("ctlogs[{i}]"))?);
        }
        for (i, ca) in j.certificate_authorities.iter().enumerate() {
            let mut chain = Vec::new();
            for c in &ca.cert_chain.certificates {
                chain.push(b64(&c.raw_bytes, &format!("certificateAuthorities[{i}]"))?);
            }
            if chain.is_empty() {
                return Err(RootError::EmptyChain(i));
            }
            let (valid_from, valid_until) = times(&ca.valid_for)?;
            root.authorities.push(Authority {
                chain,
                valid_from,
                valid_until,
            });
        }
        Ok(root)
    }

    pub fn load(path: &std::path::Path) -> Result<TrustedRoot, RootError> {
        let shown = || path.display().to_string();
        let text = std::fs::read(path).map_err(|source| RootError::Read {
            path: shown(),
            source,
        })?;
        TrustedRoot::parse(&text).map_err(|e| RootError::InFile {
            path: shown(),
            source: Box::new(e),
        })
    }

    pub fn tlog(&self, log_id: &[u8]) -> Option<&LogKey> {
        self.tlogs.iter().find(|l| l.log_id == log_id)
    }

    pub fn ctlog(&self, log_id: &[u8]) -> Option<&LogKey> {
        self.ctlogs.iter().find(|l| l.log_id == log_id)
    }
}
