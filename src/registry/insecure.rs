//! dockerd's order for insecure registries: HTTPS first, plain HTTP only
//! when HTTPS is unreachable; loopback is always insecure. What a host that
//! names its port was found to speak is remembered.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::http::{Fetched, HttpError};

/// What an insecure registry's socket was found to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Speaks {
    /// HTTPS unreachable, HTTP answered.
    Plain,
    /// HTTPS answered.
    Tls,
}

/// How long an insecure host found to speak only HTTP is asked over HTTP
/// first; after that HTTPS is tried first again (it may have gained TLS).
pub const PLAIN_FOR: Duration = Duration::from_secs(60);

/// How long an insecure host found to answer HTTPS is taken to: no plain
/// request rides beside its handshakes meanwhile (it would only show the
/// network what is pulled). Losing TLS costs a call the sequential
/// fallback, not a wrong answer.
pub const TLS_FOR: Duration = Duration::from_secs(3600);

/// Whether `host` names its port (`reg:5000`, `[::1]:5000`).
pub(super) fn explicit_port(host: &str) -> bool {
    let after = match host.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or("", |(_, rest)| rest),
        None => host,
    };
    after
        .rsplit_once(':')
        .is_some_and(|(_, p)| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// dockerd treats 127.0.0.0/8 and `localhost` as insecure registries.
pub(super) fn is_loopback(domain: &str) -> bool {
    let host = match domain.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|c| c.is_ascii_digit()) => h,
        _ => domain,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A spawned request that ends when its caller stops waiting for it (a
/// decision's deadline drops the decision, and with it this).
pub(super) struct AbortOnDrop(pub(super) tokio::task::JoinHandle<Result<Fetched, HttpError>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl std::future::Future for AbortOnDrop {
    type Output = Result<Fetched, HttpError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx).map(|r| {
            // Not `Unreachable`: a task that panicked must not let the
            // plain answer stand in for HTTPS.
            r.unwrap_or_else(|e| {
                Err(HttpError::Tls(format!(
                    "the HTTPS request's task ended: {e}"
                )))
            })
        })
    }
}

/// What insecure hosts that name their port were found to speak, and
/// until when that is taken as known: a host found plain is asked over HTTP
/// first (otherwise every call pays a new connection and a failed TLS
/// handshake before its real request: four in a Notation first pull;
/// BENCHMARKS.md 2026-12-06); a host not known either way is asked over both
/// at once (`RegistryClient::call`). Clones share it.
#[derive(Clone, Default)]
pub(super) struct Hosts(Arc<Mutex<HashMap<String, (Speaks, Instant)>>>);

impl Hosts {
    /// What `host` was found to speak within [`PLAIN_FOR`], if anything.
    pub(super) fn speaks(&self, host: &str) -> Option<Speaks> {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match g.get(host) {
            Some((s, until)) if *until > Instant::now() => Some(*s),
            Some(_) => {
                g.remove(host);
                None
            }
            None => None,
        }
    }

    /// Whether `host` was found to speak only plain HTTP within [`PLAIN_FOR`].
    pub(super) fn known_plain(&self, host: &str) -> bool {
        self.speaks(host) == Some(Speaks::Plain)
    }

    /// Remember what `host` speaks (only a host that names its port: without
    /// one, HTTPS and HTTP are 443 and 80, and a moment's outage of 443
    /// would keep the plugin reading port 80 while dockerd, HTTPS first on
    /// every pull, pulls from 443 again). `None` forgets.
    pub(super) fn learn(&self, host: &str, s: Option<Speaks>) {
        if !explicit_port(host) {
            return;
        }
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match s {
            Some(s) => {
                let ttl = match s {
                    Speaks::Plain => PLAIN_FOR,
                    Speaks::Tls => TLS_FOR,
                };
                g.insert(host.to_string(), (s, Instant::now() + ttl));
            }
            None => {
                g.remove(host);
            }
        }
    }
}
