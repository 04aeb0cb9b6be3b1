//! The signingAuthority scheme and the algorithms beyond `ring`: ES512
//! with P-521 keys and RSASSA-PSS certificate signatures (keys and
//! certificates made by `openssl`).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;

use super::tests::{envelope, pki, target};
use super::timestamp::tests::{config_with, der_of_pem, openssl, run};
use super::*;

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
