//! Read-only registry credentials from a docker `config.json`.
//!
//! dockerd strips `X-Registry-Auth` before calling plugins, so the plugin
//! never sees the user's credentials; it needs its own. Only inline `auths`
//! entries are read: credential helpers are programs, and the plugin never
//! runs programs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

/// Why a `config.json` text is unusable.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error("auths[{0:?}].auth is not base64")]
    NotBase64(String),
    #[error("auths[{0:?}].auth is not UTF-8")]
    NotUtf8(String),
    #[error("auths[{0:?}].auth is not user:password")]
    NotUserPassword(String),
}

/// Why a `config.json` file could not be loaded; the message names it.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Parse {
        path: PathBuf,
        source: CredentialsError,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub password: String,
}

/// Credentials by registry host (`host[:port]`).
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    by_host: HashMap<String, Credential>,
}

#[derive(Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
}

#[derive(Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// `https://index.docker.io/v1/` → `docker.io`; `https://host:5000` → `host:5000`.
fn host_key(k: &str) -> String {
    let k = k.trim();
    let k = k.split_once("://").map_or(k, |(_, rest)| rest);
    let host = k.split('/').next().unwrap_or(k).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        _ => host,
    }
}

impl Credentials {
    pub fn load(path: &Path) -> Result<Credentials, LoadError> {
        let text = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Credentials::parse(&text).map_err(|source| LoadError::Parse {
            path: path.to_path_buf(),
            source,
        })
    }

    pub fn parse(text: &[u8]) -> Result<Credentials, CredentialsError> {
        let cfg: ConfigFile = serde_json::from_slice(text)?;
        let mut by_host = HashMap::new();
        for (k, e) in cfg.auths {
            let cred = if !e.auth.is_empty() {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(e.auth.trim())
                    .map_err(|_| CredentialsError::NotBase64(k.clone()))?;
                let s = String::from_utf8(raw).map_err(|_| CredentialsError::NotUtf8(k.clone()))?;
                let (u, p) = s
                    .split_once(':')
                    .ok_or_else(|| CredentialsError::NotUserPassword(k.clone()))?;
                Credential {
                    username: u.to_string(),
                    password: p.to_string(),
                }
            } else if !e.username.is_empty() {
                Credential {
                    username: e.username,
                    password: e.password,
                }
            } else {
                continue;
            };
            by_host.insert(host_key(&k), cred);
        }
        Ok(Credentials { by_host })
    }

    /// Credentials for a registry or notary host (`host[:port]`).
    pub fn get(&self, host: &str) -> Option<&Credential> {
        self.by_host.get(&host_key(host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_inline_auths() {
        let c = Credentials::parse(
            br#"{"auths":{"https://index.docker.io/v1/":{"auth":"dTpw"},"reg.local:5000":{"username":"a","password":"b"},"helper.io":{}},"credsStore":"desktop"}"#,
        )
        .unwrap();
        assert_eq!(c.get("docker.io").unwrap().username, "u");
        assert_eq!(c.get("docker.io").unwrap().password, "p");
        assert_eq!(c.get("REG.local:5000").unwrap().password, "b");
        assert!(c.get("helper.io").is_none());
        assert!(Credentials::parse(br#"{"auths":{"x":{"auth":"!!"}}}"#).is_err());
    }
}
