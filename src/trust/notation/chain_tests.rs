//! The certificate profile's CA rules, on certificates from openssl
//! (non-critical extensions, which rcgen does not make).

use super::*;
use crate::trust::notation::timestamp::tests::{der_of_pem, openssl};

/// The CA profile is one function for both chains ([`Cert::check_ca`]):
/// the signing chain wants basicConstraints and keyUsage critical, the TSA
/// chain (notation-core-go) only their values; pathLen binds both.
#[test]
fn the_ca_profile_is_shared_by_both_chains() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("req.cnf"), "[req]\ndistinguished_name=dn\n[dn]\n").unwrap();
    let ca = |name: &str, exts: &[&str]| {
        let pem = format!("{name}.pem");
        let mut args = vec![
            "req",
            "-config",
            "req.cnf",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "k.pem",
            "-out",
            &pem,
            "-subj",
            "/CN=Test CA",
            "-days",
            "3",
        ];
        for e in exts {
            args.extend(["-addext", e]);
        }
        openssl(d, &args);
        Cert::parse(&der_of_pem(d, &pem)).unwrap()
    };
    let (s, t) = (ChainKind::Signing, ChainKind::Timestamping);
    let strict = ca(
        "strict",
        &[
            "basicConstraints=critical,CA:TRUE,pathlen:0",
            "keyUsage=critical,keyCertSign",
        ],
    );
    strict.check_ca(0, s).unwrap();
    strict.check_ca(0, t).unwrap();
    for kind in [s, t] {
        assert!(
            matches!(
                strict.check_ca(1, kind),
                Err(ProfileError::PathLen {
                    allowed: 0,
                    below: 1,
                    ..
                })
            ),
            "{kind:?}"
        );
    }
    // Values right, criticality missing: a TSA CA, not a signing one.
    let lax = ca("lax", &["basicConstraints=CA:TRUE", "keyUsage=keyCertSign"]);
    lax.check_ca(0, t).unwrap();
    let e = lax.check_ca(0, s).unwrap_err();
    assert!(
        matches!(
            e,
            ProfileError::NotCa {
                chain: ChainKind::Signing,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .contains("has no critical basicConstraints cA=true"),
        "{e}"
    );
    let ku = ca(
        "ku",
        &["basicConstraints=critical,CA:TRUE", "keyUsage=keyCertSign"],
    );
    ku.check_ca(0, t).unwrap();
    let e = ku.check_ca(0, s).unwrap_err();
    assert!(
        matches!(
            e,
            ProfileError::NoKeyCertSign {
                chain: ChainKind::Signing,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .contains("has no critical keyUsage with keyCertSign"),
        "{e}"
    );
    // No keyUsage: the TSA chain names that first.
    let none = ca("none", &["basicConstraints=critical,CA:TRUE"]);
    assert!(matches!(
        none.check_ca(0, t),
        Err(ProfileError::NoKeyUsage(_))
    ));
    assert!(matches!(
        none.check_ca(0, s),
        Err(ProfileError::NoKeyCertSign { .. })
    ));
    // Not a CA at all, in the TSA chain's words.
    let leaf = ca(
        "leaf",
        &["basicConstraints=CA:FALSE", "keyUsage=keyCertSign"],
    );
    let e = leaf.check_ca(0, t).unwrap_err();
    assert!(
        e.to_string()
            .ends_with("issues a certificate of the TSA chain but is not a CA"),
        "{e}"
    );
}
