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
use crate::trust::keys::KeyError;

/// Why a signing certificate cannot be read or trusted; Display is the text
/// the deny message has always carried.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("the signing certificate is not X.509: {0}")]
    NotX509(x509_cert::der::Error),
    #[error("the certificate's key: {0}")]
    KeyEncoding(x509_cert::der::Error),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("the certificate's SAN: {0}")]
    San(x509_cert::der::Error),
    #[error("the certificate's issuer extension: {0}")]
    IssuerExtension(x509_cert::der::Error),
    #[error("the certificate repeats extension {0}")]
    RepeatedExtension(ObjectIdentifier),
    #[error("the certificate's extension {0} is not UTF-8")]
    ExtensionNotUtf8(ObjectIdentifier),
    #[error("the certificate's issuer extension is not UTF-8")]
    IssuerNotUtf8,
    #[error("the certificate names two OIDC issuers ({0:?} and {1:?})")]
    TwoIssuers(String, String),
    #[error("{0}")]
    BadTime(time::error::ComponentRange),
    #[error("the signing certificate is unusable: {0:?}")]
    Unusable(webpki::Error),
    #[error("signing time before 1970")]
    Before1970,
    #[error("the trusted root names no certificate authority")]
    NoAuthority,
    #[error("it does not chain to a trusted CA: {0:?}")]
    NoChain(webpki::Error),
    #[error("the certificate carries no SCT")]
    NoSct,
    #[error("{0}")]
    TbsEncoding(x509_cert::der::Error),
    #[error("the SCT list is not an OCTET STRING: {0}")]
    SctListNotOctets(x509_cert::der::Error),
    #[error("the SCT list is cut short")]
    SctListShort,
    #[error("trailing bytes after the SCT list")]
    SctListTrailing,
    #[error("no SCT")]
    NoSctInList,
    #[error("the SCT is from a CT log the trusted root does not name")]
    UnknownCtLog,
    #[error("the SCT's time is outside its CT log's validity")]
    SctOutsideLogValidity,
    #[error("TBS too large")]
    TbsTooLarge,
    #[error("SCT extensions")]
    SctExtensionsTooLarge,
    #[error("the SCT's signature does not verify")]
    BadSctSignature,
}

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
    pub fn parse(der: &[u8]) -> Result<SigningCert, CertError> {
        let cert = x509_cert::Certificate::from_der(der).map_err(CertError::NotX509)?;
        let tbs = &cert.tbs_certificate;
        let spki = tbs
            .subject_public_key_info
            .to_der()
            .map_err(CertError::KeyEncoding)?;
        let key = PublicKey::from_spki(&spki)?;
        let mut subjects = Vec::new();
        let mut issuer = None;
        let (mut v1, mut v2) = (None, None);
        let mut github = GithubClaims::default();
        for ext in tbs.extensions.iter().flatten() {
            let value = ext.extn_value.as_bytes();
            if ext.extn_id == OID_SAN {
                let san = SubjectAltName::from_der(value).map_err(CertError::San)?;
                for n in san.0 {
                    match n {
                        GeneralName::Rfc822Name(s) => subjects.push(s.to_string()),
                        GeneralName::UniformResourceIdentifier(s) => subjects.push(s.to_string()),
                        _ => {}
                    }
                }
            } else if ext.extn_id == OID_ISSUER_V2 {
                let s = Utf8StringRef::from_der(value).map_err(CertError::IssuerExtension)?;
                v2 = Some(s.as_str().to_string());
            } else if let Some(slot) = github.slot(&ext.extn_id) {
                if slot.is_some() {
                    return Err(CertError::RepeatedExtension(ext.extn_id));
                }
                *slot = Some(
                    String::from_utf8(value.to_vec())
                        .map_err(|_| CertError::ExtensionNotUtf8(ext.extn_id))?,
                );
            } else if ext.extn_id == OID_ISSUER_V1 {
                v1 = Some(String::from_utf8(value.to_vec()).map_err(|_| CertError::IssuerNotUtf8)?);
            }
        }
        // Certificates may carry both; the newer one wins, and they must agree.
        if let (Some(a), Some(b)) = (&v1, &v2) {
            if a != b {
                return Err(CertError::TwoIssuers(a.clone(), b.clone()));
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
    pub fn verify_chain(&self, root: &TrustedRoot, t: i64) -> Result<Vec<u8>, CertError> {
        let at = OffsetDateTime::from_unix_timestamp(t).map_err(CertError::BadTime)?;
        let leaf = CertificateDer::from(self.der.clone());
        let ee = webpki::EndEntityCert::try_from(&leaf).map_err(CertError::Unusable)?;
        let unix = UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            u64::try_from(t).map_err(|_| CertError::Before1970)?,
        ));
        let mut last = CertError::NoAuthority;
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
                Err(e) => last = CertError::NoChain(e),
            }
        }
        Err(last)
    }

    /// The embedded SCT verifies with a CT log of `root` (RFC 6962 §3.2,
    /// precertificate entry); `issuer_spki` is the key that signed this
    /// certificate.
    pub fn verify_sct(&self, root: &TrustedRoot, issuer_spki: &[u8]) -> Result<(), CertError> {
        let mut tbs = self.cert.tbs_certificate.clone();
        let exts = tbs.extensions.as_mut().ok_or(CertError::NoSct)?;
        let Some(pos) = exts.iter().position(|e| e.extn_id == OID_SCT_LIST) else {
            return Err(CertError::NoSct);
        };
        let sct_ext = exts.remove(pos);
        let precert_tbs = tbs.to_der().map_err(CertError::TbsEncoding)?;
        let issuer_key_hash = Sha256::digest(issuer_spki);
        let list = OctetString::from_der(sct_ext.extn_value.as_bytes())
            .map_err(CertError::SctListNotOctets)?;
        let scts = parse_sct_list(list.as_bytes())?;
        let mut why = CertError::NoSctInList;
        for sct in scts {
            let Some(log) = root.ctlog(&sct.log_id) else {
                why = CertError::UnknownCtLog;
                continue;
            };
            let t = i64::try_from(sct.timestamp_ms / 1000).unwrap_or(i64::MAX);
            if !OffsetDateTime::from_unix_timestamp(t).is_ok_and(|t| log.valid_at(t)) {
                why = CertError::SctOutsideLogValidity;
                continue;
            }
            let mut signed = Vec::with_capacity(precert_tbs.len() + 64);
            signed.push(0); // v1
            signed.push(0); // certificate_timestamp
            signed.extend_from_slice(&sct.timestamp_ms.to_be_bytes());
            signed.extend_from_slice(&1u16.to_be_bytes()); // precert_entry
            signed.extend_from_slice(&issuer_key_hash);
            let len = u32::try_from(precert_tbs.len()).map_err(|_| CertError::TbsTooLarge)?;
            signed.extend_from_slice(&len.to_be_bytes()[1..]);
            signed.extend_from_slice(&precert_tbs);
            let ext_len = u16::try_from(sct.extensions.len())
                .map_err(|_| CertError::SctExtensionsTooLarge)?;
            signed.extend_from_slice(&ext_len.to_be_bytes());
            signed.extend_from_slice(&sct.extensions);
            if log.key.verify(&signed, &sct.signature) {
                return Ok(());
            }
            why = CertError::BadSctSignature;
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
    fn take(&mut self, n: usize) -> Result<&'a [u8], CertError> {
        if self.0.len() < n {
            return Err(CertError::SctListShort);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], CertError> {
        let b = self.take(N)?;
        b.try_into().map_err(|_| CertError::SctListShort)
    }
    fn u8(&mut self) -> Result<u8, CertError> {
        let [b] = self.array()?;
        Ok(b)
    }
    fn u16(&mut self) -> Result<usize, CertError> {
        Ok(usize::from(u16::from_be_bytes(self.array()?)))
    }
    fn u64(&mut self) -> Result<u64, CertError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
}

fn parse_sct_list(b: &[u8]) -> Result<Vec<Sct>, CertError> {
    let mut r = Tls(b);
    let total = r.u16()?;
    let mut list = Tls(r.take(total)?);
    if !r.0.is_empty() {
        return Err(CertError::SctListTrailing);
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
        assert!(parse_sct_list(&[0, 0]).is_ok_and(|v| v.is_empty()));
    }
}
