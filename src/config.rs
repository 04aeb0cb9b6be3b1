//! Plugin configuration, compatible with the prior `img-authz-plugin`:
//! `REGISTRY`, `NOTARY` and `NOTARY_ROOT_CA` from the environment, plus our
//! own `IMG_AUTHZ_*` settings. Everything is validated once at start-up; a bad
//! value stops the plugin with a message naming the variable.

use std::fmt;
use std::time::Duration;

use crate::request::reference::DEFAULT_DOMAIN;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("REGISTRY: {value:?} is not a registry host[:port] ({why})")]
    Registry { value: String, why: &'static str },
    #[error("NOTARY: {value:?} is not a valid https URL ({why})")]
    Notary { value: String, why: String },
    #[error("NOTARY_ROOT_CA: {0}")]
    RootCa(String),
    #[error("IMG_AUTHZ_ALLOW: unknown setting {0:?} (known: import, load, build, commit, plugins, tag, swarm)")]
    Allow(String),
    #[error("{name}: {why}")]
    Invalid { name: &'static str, why: String },
}

/// Operations that bring images in by a path other than a verified pull.
/// Each is denied unless switched on (`IMG_AUTHZ_ALLOW=load,build`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Allow {
    /// `docker import` (`images/create?fromSrc=`).
    pub import: bool,
    /// `docker load`.
    pub load: bool,
    /// `docker build`: `/build`, and BuildKit's `/session` and `/grpc`.
    pub build: bool,
    /// `docker commit`.
    pub commit: bool,
    /// Plugin install, create and upgrade.
    pub plugins: bool,
    /// Tagging an image into a repository of an authorized registry.
    pub tag: bool,
    /// Joining a swarm, whose managers then schedule tasks here unchecked.
    pub swarm: bool,
}

impl Allow {
    pub fn parse(list: &str) -> Result<Allow, ConfigError> {
        let mut a = Allow::default();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item.to_ascii_lowercase().as_str() {
                "import" => a.import = true,
                "load" => a.load = true,
                "build" => a.build = true,
                "commit" => a.commit = true,
                "plugins" => a.plugins = true,
                "tag" => a.tag = true,
                "swarm" => a.swarm = true,
                "none" => {}
                _ => return Err(ConfigError::Allow(item.to_string())),
            }
        }
        Ok(a)
    }
}

impl fmt::Display for Allow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = [
            (self.import, "import"),
            (self.load, "load"),
            (self.build, "build"),
            (self.commit, "commit"),
            (self.plugins, "plugins"),
            (self.tag, "tag"),
            (self.swarm, "swarm"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| *n)
        .collect();
        if names.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&names.join(","))
        }
    }
}

/// The Notary server and the CA behind its TLS certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notary {
    /// Base URL, always https, without a trailing slash.
    pub url: String,
    /// PEM bundle of CA certificates for the server's TLS certificate;
    /// `None` means the system roots.
    pub root_ca_pem: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Authorized registries, normalised (`index.docker.io` → `docker.io`).
    pub registries: Vec<String>,
    pub notary: Notary,
    pub allow: Allow,
    /// Deadline of one authorization decision.
    pub deadline: Duration,
}

/// Raw settings as read from flags and environment.
#[derive(Debug, Clone, Default)]
pub struct RawConfig {
    pub registry: String,
    pub notary: String,
    pub notary_root_ca: String,
    pub allow: String,
    pub deadline_ms: Option<u64>,
}

pub const DEFAULT_NOTARY: &str = "https://notary.docker.io";
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(10);

impl RawConfig {
    /// Read the settings from the process environment.
    pub fn from_env() -> Result<RawConfig, ConfigError> {
        let var = |k: &str| std::env::var(k).unwrap_or_default();
        let deadline_ms = match std::env::var("IMG_AUTHZ_DEADLINE_MS") {
            Ok(v) if !v.trim().is_empty() => {
                Some(v.trim().parse::<u64>().map_err(|_| ConfigError::Invalid {
                    name: "IMG_AUTHZ_DEADLINE_MS",
                    why: format!("{v:?} is not a number of milliseconds"),
                })?)
            }
            _ => None,
        };
        Ok(RawConfig {
            registry: var("REGISTRY"),
            notary: var("NOTARY"),
            notary_root_ca: var("NOTARY_ROOT_CA"),
            allow: var("IMG_AUTHZ_ALLOW"),
            deadline_ms,
        })
    }

    pub fn validate(&self) -> Result<Config, ConfigError> {
        let mut registries = Vec::new();
        for r in self
            .registry
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let r = normalize_registry(r)?;
            if !registries.contains(&r) {
                registries.push(r);
            }
        }
        if registries.is_empty() {
            registries.push(DEFAULT_DOMAIN.to_string());
        }
        let deadline = match self.deadline_ms {
            None => DEFAULT_DEADLINE,
            Some(0) => {
                return Err(ConfigError::Invalid {
                    name: "IMG_AUTHZ_DEADLINE_MS",
                    why: "must be above 0".into(),
                })
            }
            Some(ms) => Duration::from_millis(ms),
        };
        Ok(Config {
            registries,
            notary: Notary {
                url: normalize_notary(&self.notary)?,
                root_ca_pem: parse_root_ca(&self.notary_root_ca)?,
            },
            allow: Allow::parse(&self.allow)?,
            deadline,
        })
    }
}

impl Config {
    /// Whether images from `domain` may be used. Host names compare without
    /// case (DNS does); ports must match exactly.
    pub fn registry_allowed(&self, domain: &str) -> bool {
        self.registries
            .iter()
            .any(|r| r.eq_ignore_ascii_case(domain))
    }
}

/// `host[:port]`, as the registry part of an image reference.
fn normalize_registry(value: &str) -> Result<String, ConfigError> {
    let err = |why| ConfigError::Registry {
        value: value.to_string(),
        why,
    };
    if value.contains("://") {
        return Err(err("give host[:port] without a scheme"));
    }
    if value.contains('/') {
        return Err(err("give host[:port] without a path"));
    }
    // Reuse the reference grammar: `<value>/x` must parse with `value` as domain.
    let probe = format!("{value}/x");
    match crate::request::reference::Reference::parse_normalized(&probe) {
        Ok(r)
            if r.domain.eq_ignore_ascii_case(value)
                || (value == "index.docker.io" && r.domain == DEFAULT_DOMAIN) =>
        {
            Ok(r.domain.to_ascii_lowercase())
        }
        _ => Err(err(
            "not a valid host name or address with an optional port",
        )),
    }
}

fn normalize_notary(value: &str) -> Result<String, ConfigError> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(DEFAULT_NOTARY.to_string());
    }
    // The prior plugin prepended https:// when the scheme was missing.
    let with_scheme = if v.contains("://") {
        v.to_string()
    } else {
        format!("https://{v}")
    };
    let err = |why: String| ConfigError::Notary {
        value: value.to_string(),
        why,
    };
    let url = reqwest::Url::parse(&with_scheme).map_err(|e| err(e.to_string()))?;
    if url.scheme() != "https" {
        return Err(err("Notary servers are reached over https only".into()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(err("no host".into()));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(err(
            "give only scheme, host, port and an optional path".into()
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// The PEM text of `NOTARY_ROOT_CA`. Users of the prior plugin sometimes pass
/// it with literal `\n` sequences; those are accepted too.
fn parse_root_ca(value: &str) -> Result<Option<String>, ConfigError> {
    let v = value.trim().trim_matches('\'').trim();
    if v.is_empty() {
        return Ok(None);
    }
    let pem = if !v.contains('\n') && v.contains("\\n") {
        v.replace("\\n", "\n")
    } else {
        v.to_string()
    };
    let certs = crate::tls::parse_pem_certificates(pem.as_bytes()).map_err(ConfigError::RootCa)?;
    if certs.is_empty() {
        return Err(ConfigError::RootCa("no PEM CERTIFICATE block found".into()));
    }
    Ok(Some(pem))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(registry: &str, notary: &str, ca: &str, allow: &str) -> RawConfig {
        RawConfig {
            registry: registry.into(),
            notary: notary.into(),
            notary_root_ca: ca.into(),
            allow: allow.into(),
            deadline_ms: None,
        }
    }

    #[test]
    fn prior_plugin_defaults() {
        let c = raw("", "", "", "").validate().unwrap();
        assert_eq!(c.registries, vec!["docker.io"]);
        assert_eq!(c.notary.url, DEFAULT_NOTARY);
        assert_eq!(c.notary.root_ca_pem, None);
        assert_eq!(c.allow, Allow::default());
        // The prior plugin prepended https:// to a bare host.
        assert_eq!(
            raw("", "reg.local:4443", "", "")
                .validate()
                .unwrap()
                .notary
                .url,
            "https://reg.local:4443"
        );
    }

    #[test]
    fn registries() {
        let c = raw(
            "reg.local, 127.0.0.1:5000,index.docker.io,REG.local",
            "",
            "",
            "",
        )
        .validate()
        .unwrap();
        assert_eq!(
            c.registries,
            vec!["reg.local", "127.0.0.1:5000", "docker.io"]
        );
        assert!(c.registry_allowed("Reg.Local"));
        assert!(!c.registry_allowed("127.0.0.1:5001"));
        for bad in [
            "https://reg.local",
            "reg.local/path",
            "re g",
            "-bad.com",
            "host:port",
            "a_b.com",
        ] {
            assert!(
                matches!(
                    raw(bad, "", "", "").validate(),
                    Err(ConfigError::Registry { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn notary_and_ca() {
        assert!(matches!(
            raw("", "http://n:4443", "", "").validate(),
            Err(ConfigError::Notary { .. })
        ));
        assert!(matches!(
            raw("", "https://", "", "").validate(),
            Err(ConfigError::Notary { .. })
        ));
        assert!(matches!(
            raw("", "https://n?x=1", "", "").validate(),
            Err(ConfigError::Notary { .. })
        ));
        assert!(matches!(
            raw("", "", "not a pem", "").validate(),
            Err(ConfigError::RootCa(_))
        ));
        let garbage = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            raw("", "", garbage, "").validate(),
            Err(ConfigError::RootCa(_))
        ));
    }

    #[test]
    fn allow_list() {
        let a = Allow::parse("load, BUILD,tag").unwrap();
        assert!(a.load && a.build && a.tag && !a.import && !a.commit && !a.plugins && !a.swarm);
        assert_eq!(a.to_string(), "load,build,tag");
        assert!(matches!(
            Allow::parse("everything"),
            Err(ConfigError::Allow(_))
        ));
        assert_eq!(Allow::parse("none").unwrap(), Allow::default());
    }
}
