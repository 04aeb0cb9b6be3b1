//! Revocation of a Notation signing chain (Notary Project trust-store and
//! trust-policy spec, "Certificate Revocation Evaluation"): every
//! certificate, root to leaf, that names an OCSP responder (AIA id-ad-ocsp)
//! or a CRL distribution point is checked; OCSP first, the CRL as fallback.
//! A certificate naming neither is not revoked. "Revoked" and "cannot be
//! determined" (no source answered with a valid, fresh, signed status) are
//! both failures, which the policy's `revocation` action enforces or logs.
//!
//! Responses are verified: the OCSP response is signed by the issuer or by
//! a responder certificate the issuer delegated (EKU OCSPSigning); the CRL
//! by the issuer (direct CRLs only); both must be current (thisUpdate not
//! in the future, nextUpdate not past). An OCSP response without
//! nextUpdate must be recent (thisUpdate at most 10 min old): requests
//! carry no nonce, so an old signed "good" could otherwise be replayed; a
//! CRL without nextUpdate (RFC 5280 requires it) is refused. A delegated
//! responder needs EKU OCSPSigning and, if it has keyUsage,
//! digitalSignature.
//!
//! Network I/O is bounded: OCSP 2 s, CRL 5 s per source (the
//! specification's defaults), sizes capped, redirects not followed (a 3xx
//! is undetermined: no hop to hosts the certificate did not name), and 6 s
//! for a whole chain, below the plugin's default 10 s decision deadline.
//! Statuses are cached per certificate until the response's nextUpdate (at
//! most an hour). "Cannot be determined" is remembered 30 s (no new
//! request, still a failure, never "good"), and one check per certificate
//! talks to the network at a time; concurrent ones wait for its result.
//!
//! Not supported (the status is then "cannot be determined"): delta and
//! indirect CRLs, critical CRL extensions we do not know, LDAP URLs, P-521
//! and RSA-PSS response signatures; a delegated responder certificate is
//! not itself checked for revocation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use x509_cert::der::asn1::ObjectIdentifier;
use x509_cert::der::Decode;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{AuthorityInfoAccessSyntax, CrlDistributionPoints};

use super::chain::{Cert, KeyKind};

mod crl;
mod ocsp;
pub use crl::crl_answer;
pub use ocsp::{ocsp_answer, ocsp_request};

/// The specification's default timeouts.
pub const OCSP_TIMEOUT: Duration = Duration::from_secs(2);
pub const CRL_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_OCSP_RESPONSE: usize = 64 * 1024;
const MAX_CRL: usize = 8 * 1024 * 1024;
/// Sources tried per certificate, and delegated responder certificates looked at.
const MAX_SOURCES: usize = 4;
/// Clock skew tolerated on thisUpdate.
const SKEW: i64 = 300;
/// A status is reused until nextUpdate, at most this long.
const MAX_CACHE_SECS: i64 = 3600;
/// An OCSP response without nextUpdate is reused this long, and accepted
/// only if its thisUpdate is at most this (plus SKEW) old.
const NO_NEXT_UPDATE_SECS: i64 = 300;
const CACHE_ENTRIES: usize = 4096;
/// "Cannot be determined" is remembered this long: a responder that is
/// down is not asked again by every verification.
pub const UNDETERMINED_CACHE: Duration = Duration::from_secs(30);
/// All network time of one chain's check (below the default 10 s decision
/// deadline, which also covers the registry).
pub const CHAIN_BUDGET: Duration = Duration::from_secs(6);

const AIA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.1");
const CRL_DP: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.31");
const AD_OCSP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1");
const SHA256_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const SHA384_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const SHA512_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");

/// Why a chain fails the revocation check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevocationError {
    #[error(
        "certificate {subject} (serial {serial}) is revoked (since {since}, according to {by})"
    )]
    Revoked {
        subject: String,
        serial: String,
        since: String,
        by: String,
    },
    #[error("the revocation status of certificate {subject} cannot be determined ({why}); make its OCSP responder or CRL reachable by the plugin, or set \"override\": {{\"revocation\": \"log\"}} (or \"skip\") in the trust policy to accept")]
    Undetermined { subject: String, why: String },
}

/// Why one OCSP responder or CRL gave no usable status (each makes the
/// certificate's status undetermined unless another source answers).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The HTTP client, the connection, the status or the size.
    #[error("{0}")]
    Fetch(String),
    #[error("no answer within {0} s")]
    Timeout(u64),
    #[error("the chain's revocation time budget of {} s ran out", CHAIN_BUDGET.as_secs())]
    Budget,
    /// Not a well-formed response or CRL, or the request cannot be made.
    #[error("{0}")]
    Malformed(String),
    /// Not signed by the issuer (or, for OCSP, a delegated responder).
    #[error("{0}")]
    Unsigned(String),
    /// thisUpdate in the future, nextUpdate past (or absent and old).
    #[error("{0}")]
    Stale(String),
    /// A form we do not evaluate (algorithm, indirect CRL, extension).
    #[error("{0}")]
    Unsupported(String),
    #[error("the response does not cover this certificate")]
    NotCovered,
    #[error("the responder does not know this certificate")]
    Unknown,
}

impl SourceError {
    /// The same failure, its text prefixed with `what`.
    fn about(self, what: &str) -> SourceError {
        use SourceError::*;
        match self {
            Fetch(m) => Fetch(format!("{what}{m}")),
            Malformed(m) => Malformed(format!("{what}{m}")),
            Unsigned(m) => Unsigned(format!("{what}{m}")),
            Stale(m) => Stale(format!("{what}{m}")),
            Unsupported(m) => Unsupported(format!("{what}{m}")),
            e => Malformed(format!("{what}{e}")),
        }
    }
}

/// A status a source vouched for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Good until (unix seconds).
    Good(i64),
    /// Revoked at (RFC 3339 text).
    Revoked(String),
}

/// What one source said, or why it said nothing usable.
type Answer = Result<(Status, i64), SourceError>;

/// What the caches hold for a key.
enum Known {
    /// A status and the source that vouched for it.
    Vouched(Status, String),
    /// Why it could not be determined, moments ago.
    Failed(String),
}

/// Cache key: SHA-256 of the certificate and its issuer.
type Key = [u8; 32];

/// The revocation checker: an HTTP client and a status cache.
pub struct Revocation {
    client: Result<reqwest::Client, SourceError>,
    /// Statuses a source vouched for, until (unix seconds).
    cache: Mutex<HashMap<Key, (Status, String, i64)>>,
    /// Why a status could not be determined, until (monotonic). Separate
    /// from `cache`: an undetermined check never reads as a status.
    undetermined: Mutex<HashMap<Key, (String, Instant)>>,
    /// One network check per key at a time (single flight).
    inflight: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>,
}

/// Our turn at the network for a key; drops its single-flight slot.
struct Flight<'a> {
    map: &'a Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>,
    key: Key,
    gate: Arc<tokio::sync::Mutex<()>>,
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        if let Ok(mut m) = self.map.lock() {
            if m.get(&self.key).is_some_and(|g| Arc::ptr_eq(g, &self.gate)) {
                m.remove(&self.key);
            }
        }
    }
}

impl std::fmt::Debug for Revocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Revocation")
    }
}

impl Default for Revocation {
    fn default() -> Self {
        Revocation::new()
    }
}

fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The http(s) URLs of the certificate's OCSP responders and CRLs.
pub fn sources(cert: &Cert) -> (Vec<String>, Vec<String>) {
    let (mut ocsp, mut crl) = (Vec::new(), Vec::new());
    let http = |u: &str| u.starts_with("http://") || u.starts_with("https://");
    for e in cert.x509().tbs_certificate.extensions.iter().flatten() {
        if e.extn_id == AIA {
            if let Ok(aia) = AuthorityInfoAccessSyntax::from_der(e.extn_value.as_bytes()) {
                for ad in aia.0 {
                    if let (AD_OCSP, GeneralName::UniformResourceIdentifier(u)) =
                        (ad.access_method, &ad.access_location)
                    {
                        ocsp.push(u.to_string());
                    }
                }
            } else {
                // Unparsable: named, but unusable (undetermined below).
                ocsp.push("(an unparsable authorityInfoAccess extension)".into());
            }
        } else if e.extn_id == CRL_DP {
            if let Ok(dps) = CrlDistributionPoints::from_der(e.extn_value.as_bytes()) {
                for dp in dps.0 {
                    if let Some(DistributionPointName::FullName(names)) = dp.distribution_point {
                        for n in names {
                            if let GeneralName::UniformResourceIdentifier(u) = n {
                                crl.push(u.to_string());
                            }
                        }
                    }
                }
            } else {
                crl.push("(an unparsable cRLDistributionPoints extension)".into());
            }
        }
    }
    let ocsp_named = !ocsp.is_empty();
    let crl_named = !crl.is_empty();
    ocsp.retain(|u| http(u));
    crl.retain(|u| http(u));
    // A source we cannot use still counts as named: keep a marker.
    if ocsp_named && ocsp.is_empty() {
        ocsp.push("(no http OCSP URL)".into());
    }
    if crl_named && crl.is_empty() {
        crl.push("(no http CRL URL)".into());
    }
    ocsp.truncate(MAX_SOURCES);
    crl.truncate(MAX_SOURCES);
    (ocsp, crl)
}

/// Verify `sig` over `msg` by `signer` with X.509 algorithm `alg`.
fn verify_by(
    signer: &Cert,
    alg: &ObjectIdentifier,
    msg: &[u8],
    sig: &[u8],
) -> Result<(), SourceError> {
    use ring::signature as s;
    let v: &dyn s::VerificationAlgorithm = match (*alg, signer.key) {
        (SHA256_RSA, KeyKind::Rsa(_)) => &s::RSA_PKCS1_2048_8192_SHA256,
        (SHA384_RSA, KeyKind::Rsa(_)) => &s::RSA_PKCS1_2048_8192_SHA384,
        (SHA512_RSA, KeyKind::Rsa(_)) => &s::RSA_PKCS1_2048_8192_SHA512,
        (ECDSA_SHA256, KeyKind::P256) => &s::ECDSA_P256_SHA256_ASN1,
        (ECDSA_SHA384, KeyKind::P256) => &s::ECDSA_P256_SHA384_ASN1,
        (ECDSA_SHA256, KeyKind::P384) => &s::ECDSA_P384_SHA256_ASN1,
        (ECDSA_SHA384, KeyKind::P384) => &s::ECDSA_P384_SHA384_ASN1,
        (a, k) => {
            return Err(SourceError::Unsupported(format!(
                "signature algorithm {a} with a {k:?} key is not supported"
            )))
        }
    };
    s::UnparsedPublicKey::new(v, signer.key_bytes())
        .verify(msg, sig)
        .map_err(|_| {
            SourceError::Unsigned(format!(
                "its signature does not verify with the key of {}",
                signer.subject_text()
            ))
        })
}

impl Revocation {
    pub fn new() -> Revocation {
        let client = crate::tls::client_config(None)
            .map_err(|e| e.to_string())
            .and_then(|tls| {
                reqwest::Client::builder()
                    .use_preconfigured_tls(tls)
                    .connect_timeout(OCSP_TIMEOUT)
                    // A 3xx is an error: no hop to hosts or schemes the certificate
                    // did not name (SSRF to loopback or metadata services).
                    .redirect(reqwest::redirect::Policy::none())
                    .user_agent(concat!("img-authz/", env!("CARGO_PKG_VERSION")))
                    .hickory_dns(true)
                    .build()
                    .map_err(|e| e.to_string())
            })
            .map_err(|e| SourceError::Fetch(format!("HTTP client: {e}")));
        Revocation {
            client,
            cache: Mutex::new(HashMap::new()),
            undetermined: Mutex::new(HashMap::new()),
            inflight: Mutex::new(HashMap::new()),
        }
    }

    async fn fetch(
        &self,
        req: reqwest::RequestBuilder,
        timeout: Duration,
        limit: usize,
        deadline: tokio::time::Instant,
    ) -> Result<Vec<u8>, SourceError> {
        use SourceError::Fetch;
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return Err(SourceError::Budget);
        }
        let fut = async {
            let mut resp = req
                .send()
                .await
                .map_err(|e| Fetch(crate::http::error_chain(&e)))?;
            if !resp.status().is_success() {
                return Err(Fetch(format!("HTTP {}", resp.status())));
            }
            let mut body = Vec::new();
            while let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| Fetch(crate::http::error_chain(&e)))?
            {
                if body.len() + chunk.len() > limit {
                    return Err(Fetch(format!("the answer exceeds {limit} bytes")));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(body)
        };
        tokio::time::timeout(timeout.min(left), fut)
            .await
            .map_err(|_| {
                if left < timeout {
                    SourceError::Budget
                } else {
                    SourceError::Timeout(timeout.as_secs())
                }
            })?
    }

    async fn ocsp(
        &self,
        url: &str,
        cert: &Cert,
        issuer: &Cert,
        at: i64,
        deadline: tokio::time::Instant,
    ) -> Answer {
        let client = self.client.as_ref().map_err(Clone::clone)?;
        let req = ocsp_request(cert, issuer)?;
        let body = self
            .fetch(
                client
                    .post(url)
                    .header("Content-Type", "application/ocsp-request")
                    .header("Accept", "application/ocsp-response")
                    .body(req),
                OCSP_TIMEOUT,
                MAX_OCSP_RESPONSE,
                deadline,
            )
            .await?;
        ocsp_answer(&body, cert, issuer, at)
    }

    async fn crl(
        &self,
        url: &str,
        cert: &Cert,
        issuer: &Cert,
        at: i64,
        deadline: tokio::time::Instant,
    ) -> Answer {
        let client = self.client.as_ref().map_err(Clone::clone)?;
        let body = self
            .fetch(client.get(url), CRL_TIMEOUT, MAX_CRL, deadline)
            .await?;
        crl_answer(&body, cert, issuer, at)
    }

    fn cached(&self, key: &[u8; 32], at: i64) -> Option<(Status, String)> {
        let g = self.cache.lock().ok()?;
        g.get(key)
            .filter(|(_, _, until)| *until > at)
            .map(|(s, src, _)| (s.clone(), src.clone()))
    }

    fn remember(&self, key: [u8; 32], status: Status, source: String, until: i64, at: i64) {
        if let Ok(mut g) = self.cache.lock() {
            if g.len() >= CACHE_ENTRIES {
                g.retain(|_, (_, _, u)| *u > at);
                if g.len() >= CACHE_ENTRIES {
                    g.clear();
                }
            }
            g.insert(key, (status, source, until));
        }
    }

    /// Why `key` was undetermined less than [`UNDETERMINED_CACHE`] ago.
    fn failed_recently(&self, key: &Key) -> Option<String> {
        let g = self.undetermined.lock().ok()?;
        g.get(key)
            .filter(|(_, until)| *until > Instant::now())
            .map(|(why, _)| why.clone())
    }

    fn remember_failure(&self, key: Key, why: String) {
        if let Ok(mut g) = self.undetermined.lock() {
            let now = Instant::now();
            if g.len() >= CACHE_ENTRIES {
                g.retain(|_, (_, u)| *u > now);
                if g.len() >= CACHE_ENTRIES {
                    g.clear();
                }
            }
            g.insert(key, (why, now + UNDETERMINED_CACHE));
        }
    }

    /// A cached answer for `key`: a status, or a recent failure.
    fn known(&self, key: &Key, at: i64) -> Option<Known> {
        if let Some((status, source)) = self.cached(key, at) {
            return Some(Known::Vouched(status, source));
        }
        self.failed_recently(key).map(Known::Failed)
    }

    /// The status of `cert` issued by `issuer`.
    async fn check_one(
        &self,
        cert: &Cert,
        issuer: &Cert,
        at: i64,
        deadline: tokio::time::Instant,
    ) -> Result<(), RevocationError> {
        let (ocsp, crl) = sources(cert);
        if ocsp.is_empty() && crl.is_empty() {
            return Ok(());
        }
        let mut key_input = cert.der.clone();
        key_input.extend_from_slice(&issuer.der);
        let mut key = [0u8; 32];
        key.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, &key_input).as_ref());
        let revoked = |since: String, source: String| RevocationError::Revoked {
            subject: cert.subject_text(),
            serial: hex(cert.x509().tbs_certificate.serial_number.as_bytes()),
            since,
            by: source,
        };
        let undetermined = |why: String| RevocationError::Undetermined {
            subject: cert.subject_text(),
            why,
        };
        let from_cache = |hit: Known| match hit {
            Known::Vouched(Status::Good(_), _) => Ok(()),
            Known::Vouched(Status::Revoked(since), source) => Err(revoked(since, source)),
            Known::Failed(why) => Err(undetermined(format!(
                "{why}; remembered for {} s",
                UNDETERMINED_CACHE.as_secs()
            ))),
        };
        if let Some(hit) = self.known(&key, at) {
            return from_cache(hit);
        }
        // Single flight: wait for a check of the same certificate already
        // talking to the network, then use what it found.
        let gate = match self.inflight.lock() {
            Ok(mut m) => m.entry(key).or_default().clone(),
            Err(_) => Arc::default(),
        };
        let _turn = tokio::time::timeout_at(deadline, gate.lock())
            .await
            .map_err(|_| undetermined(SourceError::Budget.to_string()))?;
        // Only the check holding the turn frees the slot (also when it is
        // cancelled); a waiter giving up must not let a second fetch start.
        let _flight = Flight {
            map: &self.inflight,
            key,
            gate: gate.clone(),
        };
        if let Some(hit) = self.known(&key, at) {
            return from_cache(hit);
        }
        let mut why = Vec::new();
        // Whether a source was really asked; a check whose budget was
        // spent before (on other certificates) says nothing about this one.
        let mut asked = false;
        let tries = ocsp
            .iter()
            .map(|u| (true, u))
            .chain(crl.iter().map(|u| (false, u)));
        for (is_ocsp, url) in tries {
            let source = format!("{} {url}", if is_ocsp { "OCSP responder" } else { "CRL" });
            if url.starts_with('(') {
                why.push(format!("{source}: unusable"));
                continue;
            }
            if tokio::time::Instant::now() >= deadline {
                why.push(format!("{source}: {}", SourceError::Budget));
                continue;
            }
            asked = true;
            let answer = if is_ocsp {
                self.ocsp(url, cert, issuer, at, deadline).await
            } else {
                self.crl(url, cert, issuer, at, deadline).await
            };
            match answer {
                Ok((status, until)) => {
                    self.remember(key, status.clone(), source.clone(), until, at);
                    return match status {
                        Status::Good(_) => Ok(()),
                        Status::Revoked(since) => Err(revoked(since, source)),
                    };
                }
                Err(e) => why.push(format!("{source}: {e}")),
            }
        }
        let why = why.join("; ");
        if asked {
            self.remember_failure(key, why.clone());
        }
        Err(undetermined(why))
    }

    /// Check `chain` (leaf first, root last) root to leaf, within
    /// [`CHAIN_BUDGET`]; the first revoked or undetermined certificate
    /// fails it.
    pub async fn check(&self, chain: &[Cert], at: i64) -> Result<(), RevocationError> {
        let deadline = tokio::time::Instant::now() + CHAIN_BUDGET;
        for (i, c) in chain.iter().enumerate().rev() {
            let issuer = chain.get(i + 1).unwrap_or(c);
            self.check_one(c, issuer, at, deadline).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
