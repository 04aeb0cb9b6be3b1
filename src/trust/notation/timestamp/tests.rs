//! RFC 3161 timestamps (tokens made by `openssl ts -reply`, a real TSA
//! implementation, over the envelopes our tests sign), the signingAuthority
//! scheme and ES512 (P-521 keys made by `openssl`).

use std::path::Path;
use std::process::Command;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ciborium::value::Value;

use crate::trust::notation::tests::{envelope, pki, target, Pki};
use crate::trust::notation::*;

pub(crate) fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

pub(crate) fn der_of_pem(dir: &Path, pem: &str) -> Vec<u8> {
    openssl(dir, &["x509", "-in", pem, "-outform", "DER"])
}

/// A TSA (root CA and timestamping certificate) in `dir`, made by openssl,
/// with `leaf_ext` as the TSA certificate's extensions and `tsa_extra`
/// appended to its `openssl ts` configuration.
struct Tsa {
    dir: tempfile::TempDir,
    root_der: Vec<u8>,
}

const TSA_EXT: &str = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\n";

fn tsa(leaf_ext: &str, tsa_extra: &str) -> Tsa {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "root.key",
            "-out",
            "root.pem",
            "-subj",
            "/CN=Test TSA Root",
            "-days",
            "3650",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
    );
    openssl(
        d,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "tsa.key",
            "-out",
            "tsa.csr",
            "-subj",
            "/CN=Test TSA",
        ],
    );
    std::fs::write(d.join("ext.cnf"), leaf_ext).unwrap();
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "tsa.csr",
            "-CA",
            "root.pem",
            "-CAkey",
            "root.key",
            "-CAcreateserial",
            "-days",
            "365",
            "-extfile",
            "ext.cnf",
            "-out",
            "tsa.pem",
        ],
    );
    std::fs::write(d.join("serial"), "01\n").unwrap();
    std::fs::write(
        d.join("tsa.cnf"),
        format!(
            "[ tsa ]\ndefault_tsa = t\n[ t ]\nserial = serial\ncrypto_device = builtin\nsigner_cert = tsa.pem\ncerts = root.pem\nsigner_key = tsa.key\nsigner_digest = sha256\ndefault_policy = 1.2.3.4.1\ndigests = sha256, sha384, sha512\naccuracy = secs:1, millisecs:500\nordering = no\ntsa_name = no\ness_cert_id_chain = no\ness_cert_id_alg = sha256\ndigits = 3\n{tsa_extra}"
        ),
    )
    .unwrap();
    let root_der = der_of_pem(d, "root.pem");
    Tsa { dir, root_der }
}

impl Tsa {
    /// A TimeStampToken over `data` (`openssl ts -reply -token_out`).
    fn token(&self, data: &[u8]) -> Vec<u8> {
        let d = self.dir.path();
        std::fs::write(d.join("data"), data).unwrap();
        openssl(
            d,
            &[
                "ts", "-query", "-data", "data", "-sha256", "-cert", "-out", "q.tsq",
            ],
        );
        openssl(
            d,
            &[
                "ts",
                "-reply",
                "-config",
                "tsa.cnf",
                "-queryfile",
                "q.tsq",
                "-token_out",
                "-out",
                "token.der",
            ],
        );
        std::fs::read(d.join("token.der")).unwrap()
    }
}

/// `env` (JWS) with a countersignature of its signature from `tsa`.
fn stamped(env: &[u8], tsa: &Tsa) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(env).unwrap();
    let sig = URL_SAFE_NO_PAD
        .decode(v["signature"].as_str().unwrap())
        .unwrap();
    v["header"]["io.cncf.notary.timestampSignature"] = STANDARD.encode(tsa.token(&sig)).into();
    v.to_string().into_bytes()
}

/// A policy "acme" over `r.io/app` referencing `stores` (type, name, DER
/// certificates) plus `extra` statement fields.
pub(crate) fn config_with(
    stores: &[(&str, &str, Vec<&[u8]>)],
    extra: serde_json::Value,
) -> (tempfile::TempDir, NotationConfig) {
    let dir = tempfile::tempdir().unwrap();
    let mut refs = Vec::new();
    for (kind, name, certs) in stores {
        let s = dir.path().join(format!("truststore/x509/{kind}/{name}"));
        std::fs::create_dir_all(&s).unwrap();
        for (i, c) in certs.iter().enumerate() {
            std::fs::write(s.join(format!("c{i}.crt")), c).unwrap();
        }
        refs.push(format!("{kind}:{name}"));
    }
    let mut st = serde_json::json!({
        "name": "acme", "registryScopes": ["r.io/app"],
        "signatureVerification": {"level": "strict"},
        "trustStores": refs,
        "trustedIdentities": ["x509.subject: C=US, ST=WA, O=acme"],
    });
    for (k, v) in extra.as_object().unwrap() {
        st[k] = v.clone();
    }
    let policy = dir.path().join("trustpolicy.json");
    std::fs::write(
        &policy,
        serde_json::json!({"version": "1.0", "trustPolicies": [st]}).to_string(),
    )
    .unwrap();
    let cfg = NotationConfig::load(&policy, &dir.path().join("truststore")).unwrap();
    (dir, cfg)
}

pub(crate) fn run(
    cfg: &NotationConfig,
    media: &str,
    env: &[u8],
    at: i64,
) -> Result<Outcome, String> {
    evaluate(
        cfg,
        cfg.policy.select("r.io/app").unwrap(),
        media,
        env,
        &target(),
        at,
    )
    .map_err(|e| e.to_string())
}

const DAY: i64 = 86_400;

/// A leaf valid from yesterday to tomorrow.
fn short_lived() -> Pki {
    let t = time::OffsetDateTime::now_utc();
    pki("acme", |l| {
        l.not_before = t - time::Duration::days(1);
        l.not_after = t + time::Duration::days(1);
    })
}

fn verify_ts(v: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"signatureVerification": {"level": "strict", "verifyTimestamp": v}})
}

#[test]
fn a_timestamp_vouches_for_a_certificate_expired_since() {
    let p = short_lived();
    let t = tsa(TSA_EXT, "");
    let env = stamped(&envelope(&p, serde_json::json!({}), &target()), &t);
    let stores = [
        ("ca", "acme", vec![p.root_der.as_slice()]),
        ("tsa", "ts", vec![t.root_der.as_slice()]),
    ];
    let (_d, cfg) = config_with(&stores, serde_json::json!({}));
    run(&cfg, jws::MEDIA_TYPE, &env, now()).unwrap();
    // Ten days later the leaf has expired; the timestamp proves it signed
    // in time, under verifyTimestamp "always" and "afterCertExpiry".
    let later = now() + 10 * DAY;
    run(&cfg, jws::MEDIA_TYPE, &env, later).unwrap();
    let (_d, after) = config_with(&stores, verify_ts("afterCertExpiry".into()));
    run(&after, jws::MEDIA_TYPE, &env, later).unwrap();
    // Without the timestamp, the expired leaf fails.
    let bare = envelope(&p, serde_json::json!({}), &target());
    let e = run(&after, jws::MEDIA_TYPE, &bare, later).unwrap_err();
    assert!(
        e.contains("authenticTimestamp check failed") && e.contains("no RFC 3161 timestamp"),
        "{e}"
    );
    // afterCertExpiry with a valid chain needs no timestamp ...
    run(&after, jws::MEDIA_TYPE, &bare, now()).unwrap();
    // ... "always" (the default) does, as notation-go.
    let e = run(&cfg, jws::MEDIA_TYPE, &bare, now()).unwrap_err();
    assert!(e.contains("verifyTimestamp is \"always\""), "{e}");
    // Permissive only logs the timestamp step.
    let (_d, perm) = config_with(
        &stores,
        serde_json::json!({"signatureVerification": {"level": "permissive"}}),
    );
    let o = run(&perm, jws::MEDIA_TYPE, &bare, later).unwrap();
    assert!(
        o.logged[0].starts_with("authenticTimestamp"),
        "{:?}",
        o.logged
    );
}

#[test]
fn without_a_tsa_store_a_timestamp_is_not_used() {
    let p = short_lived();
    let t = tsa(TSA_EXT, "");
    let env = stamped(&envelope(&p, serde_json::json!({}), &target()), &t);
    let (_d, cfg) = config_with(
        &[("ca", "acme", vec![p.root_der.as_slice()])],
        serde_json::json!({}),
    );
    run(&cfg, jws::MEDIA_TYPE, &env, now()).unwrap();
    let e = run(&cfg, jws::MEDIA_TYPE, &env, now() + 10 * DAY).unwrap_err();
    assert!(
        e.contains("not valid now") && e.contains("named a tsa trust store"),
        "{e}"
    );
}

#[test]
fn a_bad_or_untrusted_timestamp_is_refused() {
    let p = short_lived();
    let t = tsa(TSA_EXT, "");
    let other = tsa(TSA_EXT, "");
    let env = envelope(&p, serde_json::json!({}), &target());
    let stores = [
        ("ca", "acme", vec![p.root_der.as_slice()]),
        ("tsa", "ts", vec![t.root_der.as_slice()]),
    ];
    let (_d, cfg) = config_with(&stores, serde_json::json!({}));
    // Another TSA than the store's.
    let e = run(&cfg, jws::MEDIA_TYPE, &stamped(&env, &other), now()).unwrap_err();
    assert!(
        e.contains("authenticTimestamp check failed")
            && e.contains("timestamping authority is not trusted")
            && e.contains("tsa:ts"),
        "{e}"
    );
    // A token over something else than the signature value.
    let mut v: serde_json::Value = serde_json::from_slice(&env).unwrap();
    v["header"]["io.cncf.notary.timestampSignature"] = STANDARD.encode(t.token(b"other")).into();
    let e = run(&cfg, jws::MEDIA_TYPE, v.to_string().as_bytes(), now()).unwrap_err();
    assert!(e.contains("not the hash of the signature value"), "{e}");
    // A flipped byte in the token's signed content or signature.
    let good = t.token(
        &URL_SAFE_NO_PAD
            .decode(v["signature"].as_str().unwrap())
            .unwrap(),
    );
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    v["header"]["io.cncf.notary.timestampSignature"] = STANDARD.encode(&bad).into();
    let e = run(&cfg, jws::MEDIA_TYPE, v.to_string().as_bytes(), now()).unwrap_err();
    assert!(e.contains("signature is invalid"), "{e}");
    // Junk.
    v["header"]["io.cncf.notary.timestampSignature"] = STANDARD.encode(b"junk").into();
    let e = run(&cfg, jws::MEDIA_TYPE, v.to_string().as_bytes(), now()).unwrap_err();
    assert!(e.contains("timestamp token is malformed"), "{e}");
    // The signing certificate was already expired when timestamped.
    let old = pki("acme", |l| {
        l.not_before = rcgen::date_time_ymd(2020, 1, 1);
        l.not_after = rcgen::date_time_ymd(2021, 1, 1);
    });
    let (_d, oldcfg) = config_with(
        &[
            ("ca", "acme", vec![old.root_der.as_slice()]),
            ("tsa", "ts", vec![t.root_der.as_slice()]),
        ],
        serde_json::json!({}),
    );
    let env = stamped(&envelope(&old, serde_json::json!({}), &target()), &t);
    let e = run(&oldcfg, jws::MEDIA_TYPE, &env, now()).unwrap_err();
    assert!(e.contains("may be after certificate"), "{e}");
}

#[test]
fn the_tsa_certificate_profile_is_enforced() {
    // openssl ts refuses to sign with these, so the profile is checked on
    // the certificates themselves.
    let cases = [
        (
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=timeStamping\n",
            "must be critical",
        ),
        (
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping,codeSigning\n",
            "timeStamping and nothing else",
        ),
        (
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=critical,timeStamping\n",
            "digitalSignature only",
        ),
        ("basicConstraints=CA:FALSE\nextendedKeyUsage=critical,timeStamping\n", "no keyUsage"),
    ];
    let parse = |t: &Tsa, f: &str| chain::Cert::parse(&der_of_pem(t.dir.path(), f)).unwrap();
    let good = tsa(TSA_EXT, "");
    timestamp::check_tsa_profile(&[parse(&good, "tsa.pem"), parse(&good, "root.pem")]).unwrap();
    for (ext, want) in cases {
        let t = tsa(ext, "");
        let e = timestamp::check_tsa_profile(&[parse(&t, "tsa.pem"), parse(&t, "root.pem")])
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{ext}: {e}");
    }
    // A root that is not a CA.
    let e = timestamp::check_tsa_profile(&[parse(&good, "tsa.pem"), parse(&good, "tsa.pem")])
        .unwrap_err();
    assert!(
        matches!(
            &e,
            chain::ProfileError::NotCa {
                chain: chain::ChainKind::Timestamping,
                ..
            }
        ),
        "{e:?}"
    );
    let e = e.to_string();
    assert!(e.contains("is not a CA"), "{e}");
    // RFC 2634 signing-certificate (v1, SHA-1) instead of v2: refused.
    let p = short_lived();
    let t = tsa(TSA_EXT, "ess_cert_id_alg = sha1\n");
    let env = stamped(&envelope(&p, serde_json::json!({}), &target()), &t);
    let (_d, cfg) = config_with(
        &[
            ("ca", "acme", vec![p.root_der.as_slice()]),
            ("tsa", "ts", vec![t.root_der.as_slice()]),
        ],
        serde_json::json!({}),
    );
    let e = run(&cfg, jws::MEDIA_TYPE, &env, now()).unwrap_err();
    assert!(e.contains("signing-certificate-v2 is missing"), "{e}");
}

#[test]
fn cose_timestamps_verify_too() {
    let p = short_lived();
    let t = tsa(TSA_EXT, "");
    let (_d, cfg) = config_with(
        &[
            ("ca", "acme", vec![p.root_der.as_slice()]),
            ("tsa", "ts", vec![t.root_der.as_slice()]),
        ],
        serde_json::json!({}),
    );
    let env = crate::trust::notation::tests::cose_envelope(&p, vec![], &target(), false);
    let Value::Tag(18, body) = ciborium::de::from_reader::<Value, _>(env.as_slice()).unwrap()
    else {
        panic!("not COSE")
    };
    let Value::Array(mut parts) = *body else {
        panic!("not an array")
    };
    let Value::Bytes(sig) = parts[3].clone() else {
        panic!("no signature")
    };
    let Value::Map(unprotected) = &mut parts[1] else {
        panic!("no header")
    };
    unprotected.push((
        Value::Text("io.cncf.notary.timestampSignature".into()),
        Value::Bytes(t.token(&sig)),
    ));
    let mut out = Vec::new();
    ciborium::ser::into_writer(&Value::Tag(18, Box::new(Value::Array(parts))), &mut out).unwrap();
    run(&cfg, cose::MEDIA_TYPE, &out, now() + 10 * DAY).unwrap();
    let e = run(&cfg, cose::MEDIA_TYPE, &env, now()).unwrap_err();
    assert!(e.contains("no RFC 3161 timestamp"), "{e}");
}
