//! The root of trust: validating `root.json` against pins, trust on first
//! use, and rotations.
//!
//! As notary's `ValidateRoot`: every root-role key must be an X.509
//! certificate whose leaf names the repository (CN = GUN, or a `prefix/*`
//! wildcard), valid now (one day of clock skew on NotBefore), not signed
//! with SHA-1; only certificates that also satisfy the pin applying to the
//! repository count towards the root threshold. A root that replaces a
//! trusted one must also meet the trusted root's threshold.

use rustls::pki_types::{CertificateDer, UnixTime};
use time::OffsetDateTime;

use super::keys::{canonical_key_id, Cert, Key};
use super::metadata::{parse_root, verify_threshold, Envelope, RoleKeys, Root};
use super::TufError;
use crate::trust::pattern::{most_specific, PrefixPattern};

/// One day of tolerance on NotBefore, as notary allows.
const NOT_BEFORE_LEEWAY: i64 = 24 * 3600;

/// How the root certificates of matching repositories are pinned.
#[derive(Debug, Clone)]
pub enum Pin {
    /// Root certificate key IDs (notary's canonical IDs, or TUF IDs).
    Certs(Vec<String>),
    /// The root certificate must chain to one of these CAs.
    Ca(Vec<CertificateDer<'static>>),
    /// The root certificate must hold one of these public keys (SPKI DER).
    Keys(Vec<Vec<u8>>),
}

impl Pin {
    /// A short digest of what the pin accepts, naming its trust state.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest as _, Sha256};
        let mut h = Sha256::new();
        let mut put = |tag: &[u8], items: Vec<&[u8]>| {
            h.update(tag);
            let mut items = items;
            items.sort();
            for i in items {
                h.update((i.len() as u64).to_be_bytes());
                h.update(i);
            }
        };
        match self {
            Pin::Certs(ids) => put(b"certs", ids.iter().map(|i| i.as_bytes()).collect()),
            Pin::Ca(cas) => put(b"ca", cas.iter().map(|c| c.as_ref()).collect()),
            Pin::Keys(ks) => put(b"keys", ks.iter().map(Vec::as_slice).collect()),
        }
        super::keys::hex(h.finalize().get(..16).unwrap_or_default())
    }
}

/// A pin for repositories matching `pattern` (raw-prefix grammar,
/// [`PrefixPattern`]).
#[derive(Debug, Clone)]
pub struct PinRule {
    pub pattern: PrefixPattern,
    pub pin: Pin,
}

/// Pins and the trust-on-first-use setting.
#[derive(Debug, Clone, Default)]
pub struct RootPolicy {
    pub pins: Vec<PinRule>,
    /// Trust a repository's first root when no pin applies (Docker's default).
    pub tofu: bool,
}

impl RootPolicy {
    /// The pin for `gun`: the most specific, then the first
    /// ([`most_specific`], the rules' precedence).
    pub fn pin_for(&self, gun: &str) -> Option<&PinRule> {
        most_specific(
            self.pins
                .iter()
                .filter(|p| p.pattern.matches(gun))
                .map(|p| (p.pattern.specificity(), p)),
        )
    }
}

fn cn_matches(cn: &str, gun: &str) -> bool {
    match cn.strip_suffix("/*") {
        Some(prefix) => gun.starts_with(&format!("{prefix}/")),
        None => cn == gun,
    }
}

/// Why a root certificate does not count, if it does not.
/// How much of a root to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Everything: a root that will be used now.
    Full,
    /// All but expiry (of the certificates and of the metadata): a root
    /// whose only remaining use is to vouch for its successor in a
    /// rotation, as notary and TUF check only the final root's expiry.
    Rotation,
}

fn cert_problem(k: &Key, gun: &str, now: i64, check: Check) -> Option<String> {
    let Some(leaf) = k.leaf() else {
        return Some("is not an X.509 certificate".into());
    };
    // notary counts only leaf (non-CA) certificates as root keys.
    if leaf.is_ca {
        return Some("is a CA certificate, not a leaf".into());
    }
    if !cn_matches(&leaf.common_name, gun) {
        return Some(format!("names {:?}, not {gun:?}", leaf.common_name));
    }
    if check == Check::Full && now + NOT_BEFORE_LEEWAY < leaf.not_before {
        return Some("is not valid yet".into());
    }
    if check == Check::Full && now > leaf.not_after {
        let when = OffsetDateTime::from_unix_timestamp(leaf.not_after)
            .map(|t| t.to_string())
            .unwrap_or_default();
        return Some(format!("expired at {when}"));
    }
    if leaf.sha1_signed || k.certs.iter().skip(1).any(|c| c.sha1_signed) {
        return Some("is signed with SHA-1".into());
    }
    None
}

fn pin_allows(pin: &Pin, k: &Key, leaf: &Cert, now: i64) -> bool {
    match pin {
        Pin::Certs(ids) => {
            let canonical = canonical_key_id(leaf).unwrap_or_default();
            ids.iter().any(|id| *id == canonical || *id == k.id)
        }
        Pin::Keys(spkis) => spkis.contains(&leaf.spki_der),
        Pin::Ca(cas) => chains_to(leaf, k.certs.get(1..).unwrap_or_default(), cas, now),
    }
}

/// The leaf chains to one of `cas` (intermediates from the key's own chain).
fn chains_to(
    leaf: &Cert,
    intermediates: &[Cert],
    cas: &[CertificateDer<'static>],
    now: i64,
) -> bool {
    let leaf_der = CertificateDer::from(leaf.der.clone());
    let Ok(ee) = webpki::EndEntityCert::try_from(&leaf_der) else {
        return false;
    };
    let anchors: Vec<_> = cas
        .iter()
        .filter_map(|c| {
            webpki::anchor_from_trusted_cert(c)
                .ok()
                .map(|a| a.to_owned())
        })
        .collect();
    let inter: Vec<CertificateDer<'static>> = intermediates
        .iter()
        .map(|c| CertificateDer::from(c.der.clone()))
        .collect();
    let Ok(secs) = u64::try_from(now) else {
        return false;
    };
    // Notary root certificates carry the code-signing EKU.
    const CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];
    ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        &inter,
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs)),
        webpki::KeyUsage::required_if_present(CODE_SIGNING),
        None,
        None,
    )
    .is_ok()
}

/// Validate a root file for `gun`. `trusted`: the root currently trusted
/// (for a rotation); `pin`: the pin that applies, if any.
pub fn validate_root(
    env: &Envelope,
    gun: &str,
    pin: Option<&PinRule>,
    trusted: Option<&Root>,
    now: OffsetDateTime,
    check: Check,
) -> Result<Root, TufError> {
    let mut root = parse_root(env)?;
    let role = root.role("root")?;
    let secs = now.unix_timestamp();
    let (counted, problems) = count_root_certs(role, gun, pin, secs, check);
    // What may vouch for a successor: the same set, expiry aside (notary's
    // validRootLeafCerts without the expiry check), never the other keys
    // the root role lists.
    let vouching = match check {
        Check::Rotation => counted.clone(),
        Check::Full => count_root_certs(role, gun, pin, secs, Check::Rotation).0,
    };
    if counted.keys.is_empty() {
        let why = if problems.is_empty() {
            "no root certificates".to_string()
        } else {
            problems.join("; ")
        };
        return Err(TufError::Root(why));
    }
    verify_threshold(env, &counted).map_err(|e| {
        let mut m = e.to_string();
        if !problems.is_empty() {
            m.push_str(&format!(" ({})", problems.join("; ")));
        }
        TufError::Root(m)
    })?;
    if let Some(old) = trusted {
        if root.common.version < old.common.version {
            return Err(TufError::Rollback(format!(
                "root version {} is older than the trusted {}",
                root.common.version, old.common.version
            )));
        }
        verify_threshold(env, &old.root_certs).map_err(|e| {
            TufError::Root(format!(
                "the new root is not signed by the trusted root's keys: {e}"
            ))
        })?;
    }
    if check == Check::Full {
        root.common.check_expiry("root", now)?;
    }
    root.root_certs = vouching;
    Ok(root)
}

/// The root role's keys that count as root certificates for `gun` (and
/// its pin), at the old threshold, and why the others do not.
fn count_root_certs(
    role: &RoleKeys,
    gun: &str,
    pin: Option<&PinRule>,
    secs: i64,
    check: Check,
) -> (RoleKeys, Vec<String>) {
    let mut counted = RoleKeys {
        name: "root".into(),
        keys: Default::default(),
        threshold: role.threshold,
    };
    let mut problems = Vec::new();
    for (id, k) in &role.keys {
        if let Some(p) = cert_problem(k, gun, secs, check) {
            problems.push(format!("root certificate {} {p}", super::keys::short(id)));
            continue;
        }
        if let (Some(rule), Some(leaf)) = (pin, k.leaf()) {
            // A CA pin checks the chain at a time the leaf was valid when
            // its expiry is not in question.
            let at = if check == Check::Full {
                secs
            } else {
                secs.min(leaf.not_after)
            };
            if !pin_allows(&rule.pin, k, leaf, at) {
                problems.push(format!(
                    "root certificate {} does not satisfy the pin for {:?}",
                    super::keys::short(id),
                    rule.pattern.as_str()
                ));
                continue;
            }
        }
        counted.keys.insert(id.clone(), k.clone());
    }
    (counted, problems)
}

#[cfg(test)]
mod pattern_tests {

    /// One tie-break with the policy's rules: the most specific pin wins,
    /// and among equal ones (the same pattern twice) the first. Failed
    /// before: `max_by_key` let the last duplicate win.
    #[test]
    fn most_specific_pin_wins_then_the_first() {
        use super::{Pin, PinRule, RootPolicy};
        let pin = |pattern: &str, id: &str| PinRule {
            pattern: pattern.into(),
            pin: Pin::Certs(vec![id.to_string()]),
        };
        let roots = RootPolicy {
            pins: vec![
                pin("*", "any"),
                pin("reg.io/team*", "first"),
                pin("reg.io/team*", "second"),
                pin("reg.io/team/app", "exact"),
                pin("reg.io/t*", "shorter"),
            ],
            tofu: false,
        };
        let id = |gun: &str| match roots.pin_for(gun).map(|p| &p.pin) {
            Some(Pin::Certs(ids)) => ids.first().cloned().unwrap_or_default(),
            other => format!("{other:?}"),
        };
        assert_eq!(id("reg.io/team/app"), "exact");
        assert_eq!(id("reg.io/team/other"), "first");
        // The raw prefix covers `reg.io/teams-x/…` too (documented grammar).
        assert_eq!(id("reg.io/teams-x/app"), "first");
        assert_eq!(id("reg.io/tools/app"), "shorter");
        assert_eq!(id("other.io/app"), "any");
    }
}
