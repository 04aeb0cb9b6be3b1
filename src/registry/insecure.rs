//! dockerd's order for insecure registries: HTTPS first, plain HTTP only
//! when HTTPS is unreachable; loopback is always insecure. What a host that
//! names its port was found to speak is remembered, and one call at a time
//! finds out.

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

/// What a call may do about an insecure host that names its port.
pub(super) enum Probed {
    /// Found to speak this.
    Known(Speaks),
    /// Nothing known: this call finds out, holding the probe.
    Probe(Probe),
    /// Another call's probe ended without finding out (it failed): this
    /// call tries on its own, as if it were the first, without making the
    /// host's other calls wait for it in turn.
    Unknown,
}

/// What is known of an insecure host that names its port.
enum Host {
    /// Found to speak this, until then.
    Found(Speaks, Instant),
    /// A call is finding out (its [`Probe`]); the channel closes when it
    /// ends, and the calls that waited for it look again.
    Probing(tokio::sync::watch::Receiver<()>),
}

/// The one call finding out what a host speaks. Other first calls to the
/// same host wait for it rather than race a TLS handshake and a plain
/// request of their own (a Notation first pull's tag read and the pull's
/// own look-up of the tag start together: two handshakes and four new
/// connections where one handshake will do). Let go as soon as the
/// HTTPS attempt has ended, or with the call, however that ends.
pub(super) struct Probe {
    learnt: Arc<Mutex<HashMap<String, Host>>>,
    host: String,
    /// Never sent on: its drop is the signal.
    _done: tokio::sync::watch::Sender<()>,
    ours: tokio::sync::watch::Receiver<()>,
}

impl Drop for Probe {
    fn drop(&mut self) {
        let mut g = self.learnt.lock().unwrap_or_else(|p| p.into_inner());
        // Unless the call learnt what the host speaks (which replaced it).
        if matches!(g.get(&self.host), Some(Host::Probing(r)) if r.same_channel(&self.ours)) {
            g.remove(&self.host);
        }
    }
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
/// at once (`RegistryClient::call`), by one call at a time. Clones share it.
#[derive(Clone, Default)]
pub(super) struct Hosts(Arc<Mutex<HashMap<String, Host>>>);

impl Hosts {
    /// What `host` speaks, once no other call is finding out ([`Probed`]).
    pub(super) async fn speaks_or_probe(&self, host: &str) -> Probed {
        let mut waited = false;
        loop {
            let mut wait = {
                let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
                match g.get(host) {
                    Some(Host::Found(s, until)) if *until > Instant::now() => {
                        return Probed::Known(*s)
                    }
                    // Waited for one probe: however it ended, no more.
                    _ if waited => return Probed::Unknown,
                    // Its channel closed: a probe that ended without
                    // clearing its entry is no probe.
                    Some(Host::Probing(r)) if r.has_changed().is_ok() => r.clone(),
                    Some(Host::Found(..) | Host::Probing(_)) | None => {
                        let (done, ours) = tokio::sync::watch::channel(());
                        g.insert(host.to_string(), Host::Probing(ours.clone()));
                        return Probed::Probe(Probe {
                            learnt: Arc::clone(&self.0),
                            host: host.to_string(),
                            _done: done,
                            ours,
                        });
                    }
                }
            };
            // Nothing is ever sent: this ends when the probing call does.
            let _ = wait.changed().await;
            waited = true;
        }
    }

    /// Whether `host` was found to speak only plain HTTP within [`PLAIN_FOR`].
    #[cfg(test)]
    pub(super) fn known_plain(&self, host: &str) -> bool {
        let g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        matches!(g.get(host), Some(Host::Found(Speaks::Plain, until)) if *until > Instant::now())
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
                g.insert(host.to_string(), Host::Found(s, Instant::now() + ttl));
            }
            // Another call's probe stays: it will learn.
            None => {
                if matches!(g.get(host), Some(Host::Found(..))) {
                    g.remove(host);
                }
            }
        }
    }
}
