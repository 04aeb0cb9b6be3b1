//! A Sigstore trusted root (`trusted_root.json`, as `cosign` and
//! sigstore clients read it), loaded from a local file: no network to public
//! Sigstore services. It names the Fulcio certificate authorities, the Rekor
//! transparency logs and the certificate-transparency logs to trust.

use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use super::keys::PublicKey;

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

fn b64(s: &str, what: &str) -> Result<Vec<u8>, String> {
    crate::trust::encoding::b64_decode_trimmed(s).map_err(|_| format!("{what} is not base64"))
}

fn times(v: &Option<Validity>) -> Result<(Option<OffsetDateTime>, Option<OffsetDateTime>), String> {
    let parse = |s: &Option<String>| -> Result<Option<OffsetDateTime>, String> {
        match s {
            None => Ok(None),
            Some(s) => OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map(Some)
                .map_err(|e| format!("bad time {s:?}: {e}")),
        }
    };
    match v {
        None => Ok((None, None)),
        Some(v) => Ok((parse(&v.start)?, parse(&v.end)?)),
    }
}

fn log_key(l: &LogJson, what: &str) -> Result<LogKey, String> {
    let der = b64(&l.public_key.raw_bytes, what)?;
    let key = PublicKey::from_spki(&der).map_err(|e| format!("{what}: {e}"))?;
    let (valid_from, valid_until) = times(&l.public_key.valid_for)?;
    Ok(LogKey {
        log_id: Sha256::digest(&der).to_vec(),
        key,
        valid_from,
        valid_until,
    })
}

impl TrustedRoot {
    pub fn parse(text: &[u8]) -> Result<TrustedRoot, String> {
        let j: RootJson =
            serde_json::from_slice(text).map_err(|e| format!("not a trusted root: {e}"))?;
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
                return Err(format!("certificateAuthorities[{i}] has no certificates"));
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

    pub fn load(path: &std::path::Path) -> Result<TrustedRoot, String> {
        let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        TrustedRoot::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn tlog(&self, log_id: &[u8]) -> Option<&LogKey> {
        self.tlogs.iter().find(|l| l.log_id == log_id)
    }

    pub fn ctlog(&self, log_id: &[u8]) -> Option<&LogKey> {
        self.ctlogs.iter().find(|l| l.log_id == log_id)
    }
}
