//! Issue 16: images signed by the real cosign 3.1 CLI (Debian's package,
//! unpacked by `scripts/stack deps`), in each of the three ways cosign
//! stores signatures, verified by the guarded plugin under the stack's rule
//! "cosign cli key" (`cosign/cli/*`, trusting the key `good.pub` that
//! `cosign generate-key-pair` made in scripts/stack cosign_setup). The
//! stack's registry is distribution 2.8: it has no referrers API, so cosign
//! writes the referrers tag scheme (`sha256-<hex>` index) there; the API
//! path is tested against a stand-in in src/trust/cosign/discover.rs.
//! Offline: `TUF_ROOT` is a scratch directory and cosign's TUF fetch fails
//! harmlessly (there is no network); keyless stays with tests/cosign.

use std::path::PathBuf;
use std::process::Command;

use crate::stack::{stack, unique};

#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// cosign 3's default: a Sigstore bundle (DSSE) as a referrer, with a
    /// signing config that names no transparency log.
    Bundle,
    /// The classic `sha256-<hex>.sig` tag with simple-signing layers.
    Classic,
    /// Simple-signing layers in an OCI 1.1 referrer (the Docker Hardened
    /// Images form).
    Oci11,
}

const MODES: [Mode; 3] = [Mode::Bundle, Mode::Classic, Mode::Oci11];

fn cli() -> PathBuf {
    stack().dir.join("cosign/cli")
}

/// `cosign sign --key KEY.key` of `image` (`repo@sha256:…`) in `mode`.
/// Keys: `good`, `other`, and the test signer's keys imported as `js-NAME`
/// (`js-p256`, `js-rsa`, `js-ed25519`, `js-other`).
pub fn sign(image: &str, mode: Mode, key: &str) {
    let dir = cli();
    let mut cmd = Command::new(dir.join("cosign"));
    cmd.env("COSIGN_PASSWORD", "stack")
        .env("TUF_ROOT", dir.join("tuf"))
        .args([
            "sign",
            "--yes",
            "--allow-insecure-registry",
            "--allow-http-registry",
        ])
        .arg(format!(
            "--key={}",
            dir.join(format!("{key}.key")).display()
        ));
    let legacy = [
        "--new-bundle-format=false",
        "--use-signing-config=false",
        "--tlog-upload=false",
    ];
    match mode {
        Mode::Bundle => {
            cmd.arg(format!(
                "--signing-config={}",
                dir.join("signing-config.json").display()
            ));
        }
        Mode::Classic => {
            cmd.args(legacy);
        }
        Mode::Oci11 => {
            cmd.env("COSIGN_EXPERIMENTAL", "1")
                .args(legacy)
                .arg("--registry-referrers-mode=oci-1-1");
        }
    }
    let out = cmd.arg(image).output().expect("cosign runs");
    assert!(
        out.status.success(),
        "cosign sign {mode:?} {image} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fresh repository under `cosign/cli/` with `:v1` pushed unsigned.
fn image() -> (String, String) {
    let s = stack();
    let repo = s.repo(&format!("cosign/cli/{}", unique("app")));
    let pinned = s.image(&format!("{repo}:v1"));
    assert!(pinned.contains("@sha256:"), "{pinned}");
    (repo, pinned)
}

fn digest_of(pinned: &str) -> &str {
    pinned.split('@').nth(1).unwrap_or_default()
}

#[test]
fn cosign_cli_signatures_verify_in_every_storage_mode() {
    let s = stack();
    for mode in MODES {
        let (repo, pinned) = image();
        sign(&pinned, mode, "good");
        let tag = format!("{repo}:v1");
        s.guarded(&["pull", &tag]).allowed();
        s.guarded(&["run", "--rm", &pinned, "true"]).allowed();
        let seen = |log: &str| {
            log.contains(&format!("\"digest\":\"{}\"", digest_of(&pinned)))
                && log.contains("cosign, signed by key good.pub")
        };
        assert!(
            seen(&crate::stack::log_when(&s.plugin_log, seen)),
            "{mode:?}: the decision log does not show the cosign verdict"
        );
    }
}

#[test]
fn cosign_cli_signatures_by_another_key_are_denied() {
    let s = stack();
    for mode in MODES {
        let (repo, pinned) = image();
        sign(&pinned, mode, "other");
        let out = s.guarded(&["pull", &format!("{repo}:v1")]);
        out.denied("signature");
        assert!(
            out.text().contains("does not verify with any trusted key"),
            "{mode:?}: {}",
            out.text()
        );
    }
}

#[test]
fn cosign_cli_signatures_do_not_cover_other_content_under_the_tag() {
    let s = stack();
    for mode in MODES {
        let (repo, pinned) = image();
        sign(&pinned, mode, "good");
        let tag = format!("{repo}:v1");
        // The tag moves to other, unsigned content.
        let moved = s.image(&tag);
        assert_ne!(moved, pinned);
        s.guarded(&["pull", &tag]).denied("signature");
        s.guarded(&["pull", &moved]).denied("signature");
        s.guarded(&["pull", &pinned]).allowed();
    }
}

/// HTTP call to the stack's registry (plain HTTP on loopback).
fn curl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("curl")
        .args(["-fsS", "--max-time", "20"])
        .args(args)
        .output()
        .expect("curl runs");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn a_signature_of_another_image_attached_as_referrer_is_denied() {
    let s = stack();
    for mode in [Mode::Bundle, Mode::Oci11] {
        // Two images in one repository; cosign signs the first.
        let (repo, signed) = image();
        let path = repo.split_once('/').map(|x| x.1).unwrap_or_default();
        let unsigned = s.image(&format!("{repo}:v2"));
        sign(&signed, mode, "good");
        // The referrers index of the signed image (tag scheme), copied to
        // the unsigned image's tag: it lists a signature whose subject is
        // the signed image.
        let tag_of = |pinned: &str| digest_of(pinned).replacen(':', "-", 1);
        let base = format!("http://{}/v2/{path}/manifests", s.registry);
        let index = curl(&[
            "-H",
            "Accept: application/vnd.oci.image.index.v1+json",
            &format!("{base}/{}", tag_of(&signed)),
        ]);
        let index_file = s.dir.join(unique("index"));
        std::fs::write(&index_file, &index).unwrap();
        curl(&[
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/vnd.oci.image.index.v1+json",
            "--data-binary",
            &format!("@{}", index_file.display()),
            &format!("{base}/{}", tag_of(&unsigned)),
        ]);
        let out = s.guarded(&["pull", &format!("{repo}:v2")]);
        out.denied("signature");
        assert!(
            out.text().contains("is about another image"),
            "{mode:?}: {}",
            out.text()
        );
        s.guarded(&["pull", &format!("{repo}:v1")]).allowed();
    }
}
