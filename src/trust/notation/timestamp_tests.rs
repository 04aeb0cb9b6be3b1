//! RFC 3161 timestamps (tokens made by `openssl ts -reply`, a real TSA
//! implementation, over the envelopes our tests sign), the signingAuthority
//! scheme and ES512 (P-521 keys made by `openssl`).

use std::path::Path;
use std::process::Command;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ciborium::value::Value;

use super::tests::{envelope, pki, target, Pki};
use super::*;

fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
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

fn der_of_pem(dir: &Path, pem: &str) -> Vec<u8> {
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
fn config_with(
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

fn run(cfg: &NotationConfig, media: &str, env: &[u8], at: i64) -> Result<Outcome, String> {
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
    let env = super::tests::cose_envelope(&p, vec![], &target(), false);
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

fn authority(at: &str) -> serde_json::Value {
    serde_json::json!({"io.cncf.notary.signingScheme": "notary.x509.signingAuthority",
        "io.cncf.notary.authenticSigningTime": at, "io.cncf.notary.signingTime": null,
        "crit": ["io.cncf.notary.signingScheme", "io.cncf.notary.authenticSigningTime"]})
}

#[test]
fn the_signing_authority_scheme_uses_its_own_stores_and_time() {
    let p = pki("acme", |l| {
        l.not_before = rcgen::date_time_ymd(2020, 1, 1);
        l.not_after = rcgen::date_time_ymd(2021, 1, 1);
    });
    let sa = [("signingAuthority", "sa", vec![p.root_der.as_slice()])];
    let ca = [("ca", "acme", vec![p.root_der.as_slice()])];
    let (_d, sacfg) = config_with(&sa, serde_json::json!({}));
    let (_d, cacfg) = config_with(&ca, serde_json::json!({}));
    // Signed inside the (long expired) validity: the authentic time counts.
    let env = envelope(&p, authority("2020-06-01T00:00:00Z"), &target());
    let o = run(&sacfg, jws::MEDIA_TYPE, &env, now()).unwrap();
    assert!(o.signer.contains("O=acme"), "{}", o.signer);
    // A CA store does not trust a signing authority's signature ...
    let e = run(&cacfg, jws::MEDIA_TYPE, &env, now()).unwrap_err();
    assert!(
        e.contains("authenticity check failed") && e.contains("none of type signingAuthority"),
        "{e}"
    );
    // ... nor a signingAuthority store a notary.x509 signature.
    let x509 = envelope(&p, serde_json::json!({}), &target());
    let e = run(&sacfg, jws::MEDIA_TYPE, &x509, rcgen_mid()).unwrap_err();
    assert!(e.contains("none of type ca"), "{e}");
    // An authentic time outside the validity.
    let late = envelope(&p, authority("2022-01-01T00:00:00Z"), &target());
    let e = run(&sacfg, jws::MEDIA_TYPE, &late, now()).unwrap_err();
    assert!(
        e.contains("authenticTimestamp check failed")
            && e.contains("was not valid when the signature was produced"),
        "{e}"
    );
}

/// 2020-06-01, inside the validity of the 2020 certificates.
fn rcgen_mid() -> i64 {
    1_590_969_600
}

/// A P-521 root and leaf made by openssl, for ES512.
#[test]
fn es512_signatures_and_p521_chains_verify() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let subj_root = "/C=US/ST=WA/O=acme/CN=root521";
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-521",
            "-nodes",
            "-keyout",
            "root.key",
            "-out",
            "root.pem",
            "-subj",
            subj_root,
            "-days",
            "30",
            "-sha512",
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
            "ec_paramgen_curve:P-521",
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/C=US/ST=WA/O=acme/CN=signer521",
        ],
    );
    std::fs::write(
        d.join("ext.cnf"),
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n",
    )
    .unwrap();
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "root.pem",
            "-CAkey",
            "root.key",
            "-CAcreateserial",
            "-days",
            "30",
            "-sha512",
            "-extfile",
            "ext.cnf",
            "-out",
            "leaf.pem",
        ],
    );
    let root = der_of_pem(d, "root.pem");
    let leaf = der_of_pem(d, "leaf.pem");
    let sign = |alg: &str| {
        let h = serde_json::json!({"alg": alg, "cty": jws::PAYLOAD_TYPE,
            "crit": ["io.cncf.notary.signingScheme"],
            "io.cncf.notary.signingScheme": "notary.x509",
            "io.cncf.notary.signingTime": "2026-12-05T20:00:00Z"});
        let t = target();
        let payload = serde_json::json!({"targetArtifact": {
            "mediaType": t.media_type, "digest": t.digest, "size": t.size}});
        let ph = URL_SAFE_NO_PAD.encode(h.to_string());
        let pl = URL_SAFE_NO_PAD.encode(payload.to_string());
        std::fs::write(d.join("input"), format!("{ph}.{pl}")).unwrap();
        let der_sig = openssl(d, &["dgst", "-sha512", "-sign", "leaf.key", "input"]);
        let fixed = p521::ecdsa::Signature::from_der(&der_sig)
            .unwrap()
            .to_bytes();
        serde_json::json!({"payload": pl, "protected": ph,
            "header": {"x5c": [STANDARD.encode(&leaf), STANDARD.encode(&root)]},
            "signature": URL_SAFE_NO_PAD.encode(fixed)})
        .to_string()
        .into_bytes()
    };
    let (_d, cfg) = config_with(
        &[("ca", "acme", vec![root.as_slice()])],
        serde_json::json!({}),
    );
    let o = run(&cfg, jws::MEDIA_TYPE, &sign("ES512"), now()).unwrap();
    assert!(o.signer.contains("CN=signer521"), "{}", o.signer);
    let e = run(&cfg, jws::MEDIA_TYPE, &sign("ES384"), now()).unwrap_err();
    assert!(e.contains("signing key needs ES512"), "{e}");
    // A tampered ES512 signature.
    let mut v: serde_json::Value = serde_json::from_slice(&sign("ES512")).unwrap();
    let mut s = URL_SAFE_NO_PAD
        .decode(v["signature"].as_str().unwrap())
        .unwrap();
    s[10] ^= 1;
    v["signature"] = URL_SAFE_NO_PAD.encode(s).into();
    let e = run(&cfg, jws::MEDIA_TYPE, v.to_string().as_bytes(), now()).unwrap_err();
    assert!(e.contains("does not verify"), "{e}");
}

/// RSASSA-PSS certificate signatures (openssl `-sigopt
/// rsa_padding_mode:pss`): verified with the digest-long salt ring knows,
/// refused otherwise.
#[test]
fn rsassa_pss_certificates_verify() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pss = |salt: &str| {
        vec![
            "-sigopt".to_string(),
            "rsa_padding_mode:pss".into(),
            "-sigopt".into(),
            format!("rsa_pss_saltlen:{salt}"),
        ]
    };
    let mut args: Vec<String> = [
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
        "/C=US/ST=WA/O=acme/CN=pss root",
        "-days",
        "30",
        "-sha256",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(pss("digest"));
    openssl(d, &args.iter().map(String::as_str).collect::<Vec<_>>());
    openssl(
        d,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/C=US/ST=WA/O=acme/CN=pss signer",
        ],
    );
    std::fs::write(
        d.join("ext.cnf"),
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n",
    )
    .unwrap();
    let leaf_with = |salt: &str, out: &str| {
        let mut a: Vec<String> = [
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "root.pem",
            "-CAkey",
            "root.key",
            "-CAcreateserial",
            "-days",
            "30",
            "-sha256",
            "-extfile",
            "ext.cnf",
            "-out",
            out,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(pss(salt));
        openssl(d, &a.iter().map(String::as_str).collect::<Vec<_>>());
        der_of_pem(d, out)
    };
    let root = der_of_pem(d, "root.pem");
    let sign = |leaf: &[u8]| {
        let h = serde_json::json!({"alg": "PS256", "cty": jws::PAYLOAD_TYPE,
            "crit": ["io.cncf.notary.signingScheme"],
            "io.cncf.notary.signingScheme": "notary.x509",
            "io.cncf.notary.signingTime": "2026-12-05T20:00:00Z"});
        let t = target();
        let payload = serde_json::json!({"targetArtifact": {
            "mediaType": t.media_type, "digest": t.digest, "size": t.size}});
        let ph = URL_SAFE_NO_PAD.encode(h.to_string());
        let pl = URL_SAFE_NO_PAD.encode(payload.to_string());
        std::fs::write(d.join("input"), format!("{ph}.{pl}")).unwrap();
        let s = openssl(
            d,
            &[
                "dgst",
                "-sha256",
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:digest",
                "-sign",
                "leaf.key",
                "input",
            ],
        );
        serde_json::json!({"payload": pl, "protected": ph,
            "header": {"x5c": [STANDARD.encode(leaf), STANDARD.encode(&root)]},
            "signature": URL_SAFE_NO_PAD.encode(s)})
        .to_string()
        .into_bytes()
    };
    let (_d, cfg) = config_with(
        &[("ca", "acme", vec![root.as_slice()])],
        serde_json::json!({}),
    );
    let good = leaf_with("digest", "leaf.pem");
    let o = run(&cfg, jws::MEDIA_TYPE, &sign(&good), now()).unwrap();
    assert!(o.signer.contains("CN=pss signer"), "{}", o.signer);
    let odd = leaf_with("20", "odd.pem");
    let e = run(&cfg, jws::MEDIA_TYPE, &sign(&odd), now()).unwrap_err();
    assert!(e.contains("salt length"), "{e}");
}
