//! Fulcio-style signing certificates: the chain to a trusted CA at the
//! signing time, the identity (SAN + OIDC issuer extension) and the embedded
//! certificate-transparency SCT.

use rustls::pki_types::{CertificateDer, UnixTime};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use x509_cert::der::asn1::{ObjectIdentifier, OctetString, Utf8StringRef};
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;

use super::keys::PublicKey;
use super::root::{Authority, TrustedRoot};

/// Fulcio's OIDC issuer, DER UTF8String (current certificates).
const OID_ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
/// Fulcio's OIDC issuer, raw bytes (older certificates).
const OID_ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
/// Fulcio's GitHub Actions claims, raw UTF-8 bytes, as cosign's
/// `--certificate-github-workflow-*` flags read them.
const OID_GH_TRIGGER: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.2");
const OID_GH_SHA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.3");
const OID_GH_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.4");
const OID_GH_REPOSITORY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.5");
const OID_GH_REF: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.6");
const OID_SAN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
const OID_SCT_LIST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");
/// id-kp-codeSigning, DER content octets.
const CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];

/// A parsed signing certificate.
#[derive(Debug, Clone)]
pub struct SigningCert {
    pub der: Vec<u8>,
    pub key: PublicKey,
    /// SAN emails and URIs.
    pub subjects: Vec<String>,
    pub issuer: Option<String>,
    pub github: GithubClaims,
    pub not_before: i64,
    pub not_after: i64,
    cert: x509_cert::Certificate,
}

fn secs(t: &x509_cert::time::Time) -> i64 {
    i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

impl SigningCert {
    pub fn parse(der: &[u8]) -> Result<SigningCert, String> {
        let cert = x509_cert::Certificate::from_der(der)
            .map_err(|e| format!("the signing certificate is not X.509: {e}"))?;
        let tbs = &cert.tbs_certificate;
        let spki = tbs
            .subject_public_key_info
            .to_der()
            .map_err(|e| format!("the certificate's key: {e}"))?;
        let key = PublicKey::from_spki(&spki).map_err(|e| e.to_string())?;
        let mut subjects = Vec::new();
        let mut issuer = None;
        let (mut v1, mut v2) = (None, None);
        let mut github = GithubClaims::default();
        for ext in tbs.extensions.iter().flatten() {
            let value = ext.extn_value.as_bytes();
            if ext.extn_id == OID_SAN {
                let san = SubjectAltName::from_der(value)
                    .map_err(|e| format!("the certificate's SAN: {e}"))?;
                for n in san.0 {
                    match n {
                        GeneralName::Rfc822Name(s) => subjects.push(s.to_string()),
                        GeneralName::UniformResourceIdentifier(s) => subjects.push(s.to_string()),
                        _ => {}
                    }
                }
            } else if ext.extn_id == OID_ISSUER_V2 {
                let s = Utf8StringRef::from_der(value)
                    .map_err(|e| format!("the certificate's issuer extension: {e}"))?;
                v2 = Some(s.as_str().to_string());
            } else if let Some(slot) = github.slot(&ext.extn_id) {
                if slot.is_some() {
                    return Err(format!("the certificate repeats extension {}", ext.extn_id));
                }
                *slot = Some(String::from_utf8(value.to_vec()).map_err(|_| {
                    format!("the certificate's extension {} is not UTF-8", ext.extn_id)
                })?);
            } else if ext.extn_id == OID_ISSUER_V1 {
                v1 = Some(
                    String::from_utf8(value.to_vec())
                        .map_err(|_| "the certificate's issuer extension is not UTF-8")?,
                );
            }
        }
        // Certificates may carry both; the newer one wins, and they must agree.
        if let (Some(a), Some(b)) = (&v1, &v2) {
            if a != b {
                return Err(format!(
                    "the certificate names two OIDC issuers ({a:?} and {b:?})"
                ));
            }
        }
        if let Some(i) = v2.or(v1) {
            issuer = Some(i);
        }
        Ok(SigningCert {
            der: der.to_vec(),
            key,
            subjects,
            issuer,
            github,
            not_before: secs(&tbs.validity.not_before),
            not_after: secs(&tbs.validity.not_after),
            cert,
        })
    }

    /// Was the certificate valid at `t` (Unix seconds)?
    pub fn valid_at(&self, t: i64) -> bool {
        self.not_before <= t && t <= self.not_after
    }

    /// The certificate chains, with the code-signing usage, to a CA of
    /// `root` at time `t`. Returns the issuer's SubjectPublicKeyInfo (for
    /// the SCT).
    pub fn verify_chain(&self, root: &TrustedRoot, t: i64) -> Result<Vec<u8>, String> {
        let at = OffsetDateTime::from_unix_timestamp(t).map_err(|e| e.to_string())?;
        let leaf = CertificateDer::from(self.der.clone());
        let ee = webpki::EndEntityCert::try_from(&leaf)
            .map_err(|e| format!("the signing certificate is unusable: {e:?}"))?;
        let unix = UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            u64::try_from(t).map_err(|_| "signing time before 1970")?,
        ));
        let mut last = String::from("the trusted root names no certificate authority");
        for ca in root.authorities.iter().filter(|a| authority_valid(a, at)) {
            let Some((anchor_der, inter)) = ca.chain.split_last() else {
                continue;
            };
            let anchor_der = CertificateDer::from(anchor_der.clone());
            let Ok(anchor) = webpki::anchor_from_trusted_cert(&anchor_der) else {
                continue;
            };
            let inter: Vec<CertificateDer<'static>> = inter
                .iter()
                .map(|c| CertificateDer::from(c.clone()))
                .collect();
            match ee.verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                &[anchor.to_owned()],
                &inter,
                unix,
                webpki::KeyUsage::required(CODE_SIGNING),
                None,
                None,
            ) {
                Ok(path) => return Ok(path.issuer_spki().as_ref().to_vec()),
                Err(e) => last = format!("it does not chain to a trusted CA: {e:?}"),
            }
        }
        Err(last)
    }

    /// The embedded SCT verifies with a CT log of `root` (RFC 6962 §3.2,
    /// precertificate entry); `issuer_spki` is the key that signed this
    /// certificate.
    pub fn verify_sct(&self, root: &TrustedRoot, issuer_spki: &[u8]) -> Result<(), String> {
        let mut tbs = self.cert.tbs_certificate.clone();
        let exts = tbs
            .extensions
            .as_mut()
            .ok_or("the certificate carries no SCT")?;
        let Some(pos) = exts.iter().position(|e| e.extn_id == OID_SCT_LIST) else {
            return Err("the certificate carries no SCT".into());
        };
        let sct_ext = exts.remove(pos);
        let precert_tbs = tbs.to_der().map_err(|e| e.to_string())?;
        let issuer_key_hash = Sha256::digest(issuer_spki);
        let list = OctetString::from_der(sct_ext.extn_value.as_bytes())
            .map_err(|e| format!("the SCT list is not an OCTET STRING: {e}"))?;
        let scts = parse_sct_list(list.as_bytes())?;
        let mut why = String::from("no SCT");
        for sct in scts {
            let Some(log) = root.ctlog(&sct.log_id) else {
                why = "the SCT is from a CT log the trusted root does not name".into();
                continue;
            };
            let t = i64::try_from(sct.timestamp_ms / 1000).unwrap_or(i64::MAX);
            if !OffsetDateTime::from_unix_timestamp(t).is_ok_and(|t| log.valid_at(t)) {
                why = "the SCT's time is outside its CT log's validity".into();
                continue;
            }
            let mut signed = Vec::with_capacity(precert_tbs.len() + 64);
            signed.push(0); // v1
            signed.push(0); // certificate_timestamp
            signed.extend_from_slice(&sct.timestamp_ms.to_be_bytes());
            signed.extend_from_slice(&1u16.to_be_bytes()); // precert_entry
            signed.extend_from_slice(&issuer_key_hash);
            let len = u32::try_from(precert_tbs.len()).map_err(|_| "TBS too large")?;
            signed.extend_from_slice(&len.to_be_bytes()[1..]);
            signed.extend_from_slice(&precert_tbs);
            let ext_len = u16::try_from(sct.extensions.len()).map_err(|_| "SCT extensions")?;
            signed.extend_from_slice(&ext_len.to_be_bytes());
            signed.extend_from_slice(&sct.extensions);
            if log.key.verify(&signed, &sct.signature) {
                return Ok(());
            }
            why = "the SCT's signature does not verify".into();
        }
        Err(why)
    }
}

/// The GitHub Actions workflow claims Fulcio puts in a certificate
/// (OIDs 1.3.6.1.4.1.57264.1.2 to .6); absent ones are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GithubClaims {
    /// The event that ran the workflow (`push`, `workflow_dispatch`, ...).
    pub trigger: Option<String>,
    /// The commit the workflow ran at.
    pub sha: Option<String>,
    /// The workflow's `name:`.
    pub name: Option<String>,
    /// `owner/repo`.
    pub repository: Option<String>,
    /// `refs/heads/main`, `refs/tags/v1`, ...
    pub git_ref: Option<String>,
}

impl GithubClaims {
    fn slot(&mut self, oid: &ObjectIdentifier) -> Option<&mut Option<String>> {
        Some(match *oid {
            OID_GH_TRIGGER => &mut self.trigger,
            OID_GH_SHA => &mut self.sha,
            OID_GH_NAME => &mut self.name,
            OID_GH_REPOSITORY => &mut self.repository,
            OID_GH_REF => &mut self.git_ref,
            _ => return None,
        })
    }

    /// Every claim `self` constrains is in `cert`, exactly equal (as
    /// cosign's flags compare them).
    pub fn allow(&self, cert: &GithubClaims) -> bool {
        let ok = |want: &Option<String>, got: &Option<String>| {
            want.as_ref().is_none_or(|w| got.as_ref() == Some(w))
        };
        ok(&self.trigger, &cert.trigger)
            && ok(&self.sha, &cert.sha)
            && ok(&self.name, &cert.name)
            && ok(&self.repository, &cert.repository)
            && ok(&self.git_ref, &cert.git_ref)
    }

    pub fn is_empty(&self) -> bool {
        *self == GithubClaims::default()
    }

    /// `key value` pairs, for messages.
    pub fn describe(&self) -> String {
        [
            ("repository", &self.repository),
            ("ref", &self.git_ref),
            ("workflow name", &self.name),
            ("trigger", &self.trigger),
            ("sha", &self.sha),
        ]
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} {v:?}")))
        .collect::<Vec<_>>()
        .join(", ")
    }
}

fn authority_valid(a: &Authority, t: OffsetDateTime) -> bool {
    a.valid_from.is_none_or(|s| t >= s) && a.valid_until.is_none_or(|e| t <= e)
}

struct Sct {
    log_id: Vec<u8>,
    timestamp_ms: u64,
    extensions: Vec<u8>,
    signature: Vec<u8>,
}

/// A TLS reader over `b`.
struct Tls<'a>(&'a [u8]);

impl<'a> Tls<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("the SCT list is cut short".into());
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let b = self.take(N)?;
        b.try_into().map_err(|_| "the SCT list is cut short".into())
    }
    fn u8(&mut self) -> Result<u8, String> {
        let [b] = self.array()?;
        Ok(b)
    }
    fn u16(&mut self) -> Result<usize, String> {
        Ok(usize::from(u16::from_be_bytes(self.array()?)))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_be_bytes(self.array()?))
    }
}

fn parse_sct_list(b: &[u8]) -> Result<Vec<Sct>, String> {
    let mut r = Tls(b);
    let total = r.u16()?;
    let mut list = Tls(r.take(total)?);
    if !r.0.is_empty() {
        return Err("trailing bytes after the SCT list".into());
    }
    let mut out = Vec::new();
    while !list.0.is_empty() {
        let n = list.u16()?;
        let mut s = Tls(list.take(n)?);
        if s.u8()? != 0 {
            // Unknown SCT versions are skipped, as RFC 6962 asks.
            continue;
        }
        let log_id = s.take(32)?.to_vec();
        let timestamp_ms = s.u64()?;
        let ext_len = s.u16()?;
        let extensions = s.take(ext_len)?.to_vec();
        let (_hash, _sig_alg) = (s.u8()?, s.u8()?);
        let sig_len = s.u16()?;
        let signature = s.take(sig_len)?.to_vec();
        out.push(Sct {
            log_id,
            timestamp_ms,
            extensions,
            signature,
        });
    }
    Ok(out)
}

/// Does `pattern` match `s`? `*` matches any run of characters other than
/// `/` and `@`, so that it stays inside one path segment of a URI identity
/// (`https://github.com/acme/*` is a repository, not every workflow of
/// every acme repository at every ref) and inside the local part or the
/// domain of an email.
pub fn glob(pattern: &str, s: &str) -> bool {
    let (p, s) = (pattern.as_bytes(), s.as_bytes());
    // next[j]: p[i + 1..] matches s[j..]; filled from the end (O(|p|·|s|)).
    let at = |v: &[bool], j: usize| v.get(j).copied().unwrap_or(false);
    let mut next = vec![false; s.len() + 1];
    if let Some(end) = next.last_mut() {
        *end = true;
    }
    for &c in p.iter().rev() {
        let mut cur = vec![false; s.len() + 1];
        for j in (0..=s.len()).rev() {
            let m = match (c, s.get(j)) {
                (b'*', Some(b'/' | b'@') | None) => at(&next, j),
                (b'*', Some(_)) => at(&next, j) || at(&cur, j + 1),
                (c, Some(&x)) => c == x && at(&next, j + 1),
                (_, None) => false,
            };
            if let Some(slot) = cur.get_mut(j) {
                *slot = m;
            }
        }
        next = cur;
    }
    at(&next, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("a@example.com", "a@example.com"));
        assert!(!glob("a@example.com", "b@example.com"));
        // `*` stays inside one path segment: a repository is not all of
        // its workflows, nor an owner all of its repositories.
        assert!(glob(
            "https://github.com/acme/*",
            "https://github.com/acme/app"
        ));
        assert!(!glob(
            "https://github.com/acme/*",
            "https://github.com/acme/app/.github/workflows/x.yml@refs/heads/main"
        ));
        assert!(glob(
            "https://github.com/acme/*/.github/workflows/*@refs/heads/main",
            "https://github.com/acme/app/.github/workflows/x.yml@refs/heads/main"
        ));
        assert!(!glob(
            "https://github.com/acme/*/.github/workflows/*@refs/heads/main",
            "https://github.com/acme/app/.github/workflows/x.yml@refs/heads/main/x"
        ));
        assert!(!glob(
            "https://github.com/acme/*/.github/workflows/*@refs/heads/main",
            "https://github.com/acme/a/b/.github/workflows/x.yml@refs/heads/main"
        ));
        // ... nor crosses the `@` of a ref.
        assert!(!glob(
            "https://github.com/acme/app/.github/workflows/*",
            "https://github.com/acme/app/.github/workflows/x.yml@refs/heads/dev"
        ));
        assert!(!glob(
            "https://github.com/acme/*",
            "https://github.com/acme-evil/app"
        ));
        assert!(glob("*@example.com", "x@example.com"));
        assert!(!glob("*@example.com", "x@example.com.evil"));
        assert!(!glob("*@example.com", "x@y@example.com"));
        assert!(glob("a*b*c", "abc"));
        assert!(glob("a*b*c", "aXbYc"));
        assert!(!glob("a*b*c", "acb"));
        assert!(!glob("ab*ba", "aba"));
        assert!(glob("**", "abc"));
        assert!(!glob("*", "a/b"));
        assert!(glob("", ""));
        // Many stars on a long subject stay cheap.
        assert!(!glob(&"*a".repeat(200), &"a".repeat(199)));
    }

    #[test]
    fn sct_lists_are_parsed_strictly() {
        assert!(parse_sct_list(&[0, 5, 0]).is_err());
        assert!(parse_sct_list(&[0, 0, 1]).is_err());
        assert_eq!(parse_sct_list(&[0, 0]).map(|v| v.len()), Ok(0));
    }
}
