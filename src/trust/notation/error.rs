//! Notation's errors above the envelope: a failed step of the level table
//! ([`Failure`]), a rejected signature ([`Rejected`]), an unreadable one
//! ([`Unreadable`]), and the module's boundary [`Error`], which becomes
//! the crate's [`TrustError`] in one place.

use super::policy::{Check, Level, PolicyError};
use super::store::StoreError;
use super::{chain, jws, revocation, timestamp, Descriptor};
use crate::registry::RegistryError;
use crate::trust::TrustError;

/// Why a Notation configuration (trust policy and trust stores) does not
/// load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("trust policy {path}: {why}")]
    Read { path: String, why: String },
    #[error("trust policy {path}: {source}")]
    Policy { path: String, source: PolicyError },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a validation step of the level table fails; the variant decides
/// the step ([`Failure::check`]), the statement the step's action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("the signing certificate ({subject}) does not chain to a certificate of trust store {stores}")]
    NotAnchored { subject: String, stores: String },
    #[error("the signer {signer:?} is not a trusted identity (trustedIdentities: {trusted})")]
    UntrustedIdentity { signer: String, trusted: String },
    #[error("the signature expired at {0}")]
    Expired(String),
    #[error(transparent)]
    Time(#[from] timestamp::TimeError),
    #[error(transparent)]
    Revocation(#[from] revocation::RevocationError),
    /// The chain is not trusted (logged authenticity), so its OCSP
    /// responders and CRLs are not asked: the status is undetermined.
    #[error("the revocation status of {0} cannot be determined: the signing chain is not trusted, so its OCSP responder or CRL is not queried")]
    UntrustedChain(String),
}

impl Failure {
    /// The step of the specification's level table that failed.
    pub fn check(&self) -> Check {
        match self {
            Failure::NotAnchored { .. } | Failure::UntrustedIdentity { .. } => Check::Authenticity,
            Failure::Expired(_) => Check::Expiry,
            Failure::Time(_) => Check::AuthenticTimestamp,
            Failure::Revocation(_) | Failure::UntrustedChain(_) => Check::Revocation,
        }
    }
}

/// Why one signature does not verify under its trust policy statement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("integrity check failed: {0}")]
    Integrity(#[from] jws::EnvelopeError),
    #[error("envelope type {0:?} is not application/jose+json or application/cose")]
    EnvelopeType(String),
    #[error("integrity check failed: the signature is for {} {} ({} bytes), not the image's {} {} ({} bytes)", signed.media_type, signed.digest, signed.size, image.media_type, image.digest, image.size)]
    OtherTarget {
        signed: jws::Target,
        image: Descriptor,
    },
    #[error("the signature carries no certificate chain")]
    NoChain,
    #[error("the signing certificate's subject: {0}")]
    Subject(chain::CertError),
    /// A step the statement enforces failed.
    #[error("{} check failed: {failure}", failure.check().name())]
    Enforced { failure: Failure },
}

/// Why a listed signature could not even be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreadable {
    #[error("{0} is not an index")]
    NotIndex(String),
    #[error("{0} is listed but missing")]
    Missing(String),
    #[error("{origin}: {why}")]
    Registry { origin: String, why: RegistryError },
    #[error("{0} is not a manifest")]
    NotManifest(String),
    #[error("{0} is not a Notation signature manifest")]
    NotSignatureManifest(String),
    #[error("{0} is about another image")]
    OtherSubject(String),
    #[error("{0} must have exactly one layer")]
    LayerCount(String),
    #[error("{0}: its layer has no type or digest")]
    LayerFields(String),
}

/// Why one signature of an image did not count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    #[error(transparent)]
    Unreadable(#[from] Unreadable),
    #[error("{origin}: {error}")]
    Rejected { origin: String, error: Rejected },
}

/// Why Notation does not vouch for an image: the module's boundary error
/// (the crate's [`TrustError`] is made from it in one place, below).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("no statement of the Notation trust policy {policy} covers {image} (add it to a registryScopes, or add a global \"*\" policy)")]
    NoStatement { policy: String, image: String },
    /// `image@digest` is not in its registry.
    #[error("{0} is not in its registry")]
    NotInRegistry(String),
    #[error("{0}: the manifest does not state its mediaType, which Notation signatures bind")]
    NoMediaType(String),
    #[error("cannot read Notation signatures: {0}")]
    Registry(#[from] RegistryError),
    #[error("{image} has no Notation signature (none among its referrers or in tag {tag})")]
    NoSignature { image: String, tag: String },
    /// At most 8 reasons are kept.
    #[error("no Notation signature of {image} verifies under trust policy {policy:?} (level {}): {}", level.name(), reasons.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    NoneVerifies {
        image: String,
        policy: String,
        level: Level,
        reasons: Vec<Reason>,
    },
}

impl From<Error> for TrustError {
    /// The one mapping of Notation's verdicts to the crate's trust errors.
    fn from(e: Error) -> TrustError {
        use crate::trust::{Invalid, NotSigned, RegistryLookup, Unavailable};
        match e {
            Error::Registry(source) => TrustError::Unavailable(Unavailable::Registry {
                what: RegistryLookup::NotationSignatures,
                source,
            }),
            Error::NotInRegistry(image) => {
                TrustError::NotSigned(NotSigned::NotInRegistry { image })
            }
            Error::NoMediaType(_) => TrustError::Invalid(Invalid::Notation(e)),
            Error::NoStatement { .. } | Error::NoSignature { .. } | Error::NoneVerifies { .. } => {
                TrustError::NotSigned(NotSigned::Notation(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::policy::{Identities, PolicyStatement, VerifyTimestamp};
    use super::super::step;
    use super::*;

    fn stmt(
        level: Level,
        overrides: &[(&'static str, super::super::policy::Action)],
    ) -> PolicyStatement {
        PolicyStatement {
            name: "p".into(),
            scopes: vec!["r.io/app".into()],
            level,
            overrides: overrides.iter().copied().collect(),
            verify_timestamp: VerifyTimestamp::Always,
            stores: Vec::new(),
            identities: Identities::Any,
        }
    }

    fn one_of_each() -> Vec<Failure> {
        vec![
            Failure::NotAnchored {
                subject: "CN=s".into(),
                stores: "ca:x".into(),
            },
            Failure::UntrustedIdentity {
                signer: "CN=s".into(),
                trusted: "\"CN=t\"".into(),
            },
            Failure::Expired("2026-01-01T00:00:00Z".into()),
            Failure::Time(timestamp::TimeError::NoAuthenticSigningTime),
            Failure::Revocation(revocation::RevocationError::Undetermined {
                subject: "CN=s".into(),
                why: "down".into(),
            }),
            Failure::UntrustedChain("CN=s".into()),
        ]
    }

    #[test]
    fn each_failure_belongs_to_its_step_of_the_level_table() {
        let steps: Vec<Check> = one_of_each().iter().map(Failure::check).collect();
        assert_eq!(
            steps,
            [
                Check::Authenticity,
                Check::Authenticity,
                Check::Expiry,
                Check::AuthenticTimestamp,
                Check::Revocation,
                Check::Revocation,
            ]
        );
    }

    #[test]
    fn the_statement_s_action_for_the_failure_s_step_decides() {
        use super::super::policy::Action;
        // Permissive: authenticity enforced, the others logged.
        let permissive = stmt(Level::Permissive, &[]);
        for f in one_of_each() {
            let mut logged = Vec::new();
            let r = step(&permissive, Some(f.clone()), &mut logged);
            if f.check() == Check::Authenticity {
                assert_eq!(r, Err(Rejected::Enforced { failure: f.clone() }));
                assert!(logged.is_empty());
                assert!(
                    r.unwrap_err()
                        .to_string()
                        .starts_with("authenticity check failed: "),
                    "the message names the step"
                );
            } else {
                assert_eq!(r, Ok(()));
                assert_eq!(
                    logged,
                    [format!(
                        "{} (logged only, level permissive): {f}",
                        f.check().name()
                    )]
                );
            }
        }
        // An override of revocation to skip: neither enforced nor logged.
        let skip = stmt(Level::Strict, &[("revocation", Action::Skip)]);
        let mut logged = Vec::new();
        let f = Failure::UntrustedChain("CN=s".into());
        assert_eq!(step(&skip, Some(f), &mut logged), Ok(()));
        assert!(logged.is_empty());
        // Strict enforces a revoked signer.
        let revoked = Failure::Revocation(revocation::RevocationError::Revoked {
            subject: "CN=s".into(),
            serial: "01".into(),
            since: "then".into(),
            by: "CRL x".into(),
        });
        let r = step(
            &stmt(Level::Strict, &[]),
            Some(revoked.clone()),
            &mut logged,
        );
        assert_eq!(r, Err(Rejected::Enforced { failure: revoked }));
    }

    #[test]
    fn the_boundary_maps_each_error_to_its_trust_error_with_the_same_text() {
        let registry = Error::Registry(RegistryError::Status {
            registry: "r.io".into(),
            reference: "sha256:a".into(),
            status: 500,
        });
        let no_type = Error::NoMediaType("r.io/app@sha256:a".into());
        let none = Error::NoneVerifies {
            image: "r.io/app@sha256:a".into(),
            policy: "p".into(),
            level: Level::Strict,
            reasons: vec![
                Reason::Unreadable(Unreadable::Missing("signature sha256:b".into())),
                Reason::Rejected {
                    origin: "signature sha256:c".into(),
                    error: Rejected::NoChain,
                },
            ],
        };
        let e = TrustError::from(registry.clone());
        assert!(
            matches!(
                &e,
                TrustError::Unavailable(crate::trust::Unavailable::Registry {
                    what: crate::trust::RegistryLookup::NotationSignatures,
                    ..
                })
            ),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "cannot read Notation signatures: registry r.io answered 500 for sha256:a"
        );
        let e = TrustError::from(no_type.clone());
        assert!(
            matches!(&e, TrustError::Invalid(crate::trust::Invalid::Notation(n)) if *n == no_type),
            "{e:?}"
        );
        assert_eq!(e.to_string(), no_type.to_string());
        let e = TrustError::from(none.clone());
        assert!(
            matches!(&e, TrustError::NotSigned(crate::trust::NotSigned::Notation(n)) if *n == none),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "no Notation signature of r.io/app@sha256:a verifies under trust policy \"p\" (level strict): signature sha256:b is listed but missing; signature sha256:c: the signature carries no certificate chain"
        );
        for e in [
            Error::NoStatement {
                policy: "/p.json".into(),
                image: "r.io/app".into(),
            },
            Error::NotInRegistry("r.io/app@sha256:a".into()),
            Error::NoSignature {
                image: "r.io/app@sha256:a".into(),
                tag: "sha256-a".into(),
            },
        ] {
            let t = TrustError::from(e.clone());
            assert!(matches!(&t, TrustError::NotSigned(_)), "{t:?}");
            assert_eq!(t.to_string(), e.to_string());
        }
    }

    #[test]
    fn the_errors_are_plain_values() {
        fn value<T: Clone + PartialEq + Eq + std::fmt::Debug + Send + Sync + 'static>() {}
        value::<Error>();
        value::<Rejected>();
        value::<chain::ChainError>();
        value::<jws::EnvelopeError>();
        value::<timestamp::TimeError>();
        value::<revocation::SourceError>();
    }
}
