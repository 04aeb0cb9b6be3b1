//! The shipping settings, read from `IMG_AUTHZ_DECISION_LOG_*` and
//! checked once at start-up.

use super::*;

/// Shipping settings, from `IMG_AUTHZ_DECISION_LOG_*`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub url: reqwest::Url,
    /// Host labels of every event (`hostname`, `id` and `version` included).
    pub labels: BTreeMap<String, String>,
    pub buffer_dir: PathBuf,
    pub buffer_bytes: u64,
    /// A batch is sealed at this many (uncompressed) bytes...
    pub batch_bytes: u64,
    /// ... or this long after its first event.
    pub flush: Duration,
    pub retry_min: Duration,
    pub retry_max: Duration,
    pub timeout: Duration,
    /// PEM CA certificates trusted for an https collector (else the system's).
    pub ca_pem: Option<String>,
    /// Events waiting between the request path and the spooler.
    pub queue: usize,
    /// Sent as `Authorization: Bearer …` (`IMG_AUTHZ_DECISION_LOG_TOKEN_FILE`).
    pub token: Option<String>,
}

pub const DEFAULT_BUFFER_BYTES: u64 = 64 * 1024 * 1024;
pub const DEFAULT_BATCH_BYTES: u64 = 512 * 1024;
pub const DEFAULT_FLUSH_MS: u64 = 5_000;
pub const DEFAULT_RETRY_MAX_MS: u64 = 60_000;
const QUEUE: usize = 8192;

/// Why the shipping settings are refused (at start-up).
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("IMG_AUTHZ_DECISION_LOG_URL={url:?}: {source}")]
    Url {
        url: String,
        source: <reqwest::Url as std::str::FromStr>::Err,
    },
    #[error("IMG_AUTHZ_DECISION_LOG_URL={0}: use https:// (http:// only to a loopback address)")]
    Scheme(reqwest::Url),
    #[error("IMG_AUTHZ_DECISION_LOG_LABELS: {0:?} is not key=value")]
    NotKeyValue(String),
    #[error(
        "IMG_AUTHZ_DECISION_LOG_LABELS: {0:?}: the key must be non-empty and not id or version (set by img-authz)"
    )]
    ReservedKey(String),
    #[error("IMG_AUTHZ_DECISION_LOG_CA={path}: {source}")]
    Ca {
        path: String,
        source: std::io::Error,
    },
    #[error("IMG_AUTHZ_DECISION_LOG_TOKEN_FILE={path}: {source}")]
    Token {
        path: String,
        source: std::io::Error,
    },
    #[error("IMG_AUTHZ_DECISION_LOG_TOKEN_FILE={0}: expected one line holding a token")]
    TokenFormat(String),
    #[error("{name}={value:?}: expected a whole number ≥ {min}")]
    Number {
        name: &'static str,
        value: String,
        min: u64,
    },
}

fn num(
    name: &'static str,
    v: Option<String>,
    default: u64,
    min: u64,
) -> Result<u64, SettingsError> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(default),
        Some(s) => match s.parse::<u64>() {
            Ok(n) if n >= min => Ok(n),
            _ => Err(SettingsError::Number {
                name,
                value: s.to_string(),
                min,
            }),
        },
    }
}

/// `k=v,k=v` → labels. Keys are non-empty; values may be empty.
pub fn parse_labels(s: &str) -> Result<BTreeMap<String, String>, SettingsError> {
    let mut out = BTreeMap::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let Some((k, v)) = item.split_once('=') else {
            return Err(SettingsError::NotKeyValue(item.to_string()));
        };
        let k = k.trim();
        if k.is_empty() || ["id", "version"].contains(&k) {
            return Err(SettingsError::ReservedKey(item.to_string()));
        }
        out.insert(k.to_string(), v.trim().to_string());
    }
    Ok(out)
}

/// The kernel's host name (no libc call: no `unsafe`).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

impl Settings {
    /// `None` when `IMG_AUTHZ_DECISION_LOG_URL` is unset: nothing is shipped.
    pub fn from_env(state_dir: &Path) -> Result<Option<Settings>, SettingsError> {
        Settings::from_vars(|k| std::env::var(k).ok(), state_dir)
    }

    pub fn from_vars(
        get: impl Fn(&str) -> Option<String>,
        state_dir: &Path,
    ) -> Result<Option<Settings>, SettingsError> {
        let Some(url) = get("IMG_AUTHZ_DECISION_LOG_URL").filter(|u| !u.trim().is_empty()) else {
            return Ok(None);
        };
        let url = reqwest::Url::parse(url.trim()).map_err(|source| SettingsError::Url {
            url: url.clone(),
            source,
        })?;
        match url.scheme() {
            "https" => {}
            // Decisions name users and images: plain HTTP only to this host
            // (a local Vector or Fluent Bit).
            "http" if is_loopback(&url) => {}
            _ => return Err(SettingsError::Scheme(url)),
        }
        let mut labels = BTreeMap::new();
        labels.insert("hostname".to_string(), hostname());
        labels.extend(parse_labels(
            &get("IMG_AUTHZ_DECISION_LOG_LABELS").unwrap_or_default(),
        )?);
        labels.insert("id".to_string(), crate::log::instance_id().to_string());
        labels.insert("version".to_string(), env!("CARGO_PKG_VERSION").to_string());
        let ca_pem = match get("IMG_AUTHZ_DECISION_LOG_CA").filter(|p| !p.trim().is_empty()) {
            Some(p) => Some(
                std::fs::read_to_string(p.trim())
                    .map_err(|source| SettingsError::Ca { path: p, source })?,
            ),
            None => None,
        };
        let token = match get("IMG_AUTHZ_DECISION_LOG_TOKEN_FILE").filter(|p| !p.trim().is_empty())
        {
            Some(p) => {
                let t = match std::fs::read_to_string(p.trim()) {
                    Ok(t) => t,
                    Err(source) => return Err(SettingsError::Token { path: p, source }),
                };
                let t = t.trim().to_string();
                if t.is_empty() || t.contains(['\r', '\n']) {
                    return Err(SettingsError::TokenFormat(p));
                }
                Some(t)
            }
            None => None,
        };
        let buffer_dir =
            match get("IMG_AUTHZ_DECISION_LOG_BUFFER_DIR").filter(|p| !p.trim().is_empty()) {
                Some(p) => PathBuf::from(p.trim()),
                None => state_dir.join("decision-log"),
            };
        Ok(Some(Settings {
            url,
            labels,
            buffer_dir,
            buffer_bytes: num(
                "IMG_AUTHZ_DECISION_LOG_BUFFER_BYTES",
                get("IMG_AUTHZ_DECISION_LOG_BUFFER_BYTES"),
                DEFAULT_BUFFER_BYTES,
                1024,
            )?,
            batch_bytes: num(
                "IMG_AUTHZ_DECISION_LOG_BATCH_BYTES",
                get("IMG_AUTHZ_DECISION_LOG_BATCH_BYTES"),
                DEFAULT_BATCH_BYTES,
                1,
            )?,
            flush: Duration::from_millis(num(
                "IMG_AUTHZ_DECISION_LOG_FLUSH_MS",
                get("IMG_AUTHZ_DECISION_LOG_FLUSH_MS"),
                DEFAULT_FLUSH_MS,
                10,
            )?),
            retry_min: Duration::from_millis(100),
            retry_max: Duration::from_millis(num(
                "IMG_AUTHZ_DECISION_LOG_RETRY_MAX_MS",
                get("IMG_AUTHZ_DECISION_LOG_RETRY_MAX_MS"),
                DEFAULT_RETRY_MAX_MS,
                100,
            )?),
            timeout: Duration::from_secs(10),
            ca_pem,
            queue: QUEUE,
            token,
        }))
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(h) = url.host_str() else {
        return false;
    };
    let h = h.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>().is_ok_and(|a| a.is_loopback())
}
