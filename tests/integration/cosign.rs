//! Issue 7/7: cosign signatures, made by the real cosign 3.1 CLI (key-based,
//! with the test signer's keys imported; see cosign_cli.rs) or, for what
//! that CLI cannot do offline (keyless, tampered material), by an
//! independent implementation (tests/cosign/signer.mjs), pushed to the
//! real registry, verified by
//! the guarded daemon's plugin under the stack's cosign rules
//! (scripts/stack cosign_setup): cosign/key (keys p256 or rsa), cosign/threshold
//! (p256 and ed25519), cosign/keyless (identity https://github.com/acme/*/.github/workflows/*@refs/heads/main from
//! GitHub's issuer, our own trusted root), cosign/both (Notary and cosign),
//! cosign/either (Notary or cosign).

use std::process::Command;
use std::time::Duration;

use crate::cosign_cli::{self as cli, Mode};
use crate::stack::{stack, unique};

const ISSUER: &str = "https://token.actions.githubusercontent.com";
const ACME: &str = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main";
const ACME_DEV: &str = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/dev";
const EVIL: &str = "https://github.com/evil/app/.github/workflows/release.yml@refs/heads/main";

/// A fresh repository under `cosign/<kind>/`, and its image `:v1` pushed
/// unsigned. Returns (`repo`, `repo@digest`).
fn image(kind: &str) -> (String, String) {
    let s = stack();
    let repo = s.repo(&format!("cosign/{kind}/{}", unique("app")));
    let pinned = s.image(&format!("{repo}:v1"));
    assert!(pinned.contains("@sha256:"), "{pinned}");
    (repo, pinned)
}

#[test]
fn a_key_signed_image_pulls_and_runs_by_tag_and_digest() {
    let s = stack();
    let (repo, pinned) = image("key");
    cli::sign(&pinned, Mode::Bundle, "js-p256");
    let tag = format!("{repo}:v1");
    s.guarded(&["pull", &tag]).allowed();
    s.guarded(&["pull", &pinned]).allowed();
    let out = s.guarded(&["run", "--rm", &tag, "cat", "/etc/marker"]);
    out.allowed();
    assert!(out.stdout.starts_with("marker"), "{}", out.text());
    s.guarded(&["run", "--rm", &pinned, "true"]).allowed();
    let digest = pinned.split('@').nth(1).unwrap_or_default();
    let seen = |log: &str| {
        log.contains(&format!("\"digest\":\"{digest}\""))
            && log.contains("cosign, signed by key p256.pub")
    };
    assert!(
        seen(&crate::stack::log_when(&s.plugin_log, seen)),
        "the decision log does not show the cosign verdict for {digest}"
    );
    // The other configured key (RSA) is as good.
    let (repo2, pinned2) = image("key");
    cli::sign(&pinned2, Mode::Bundle, "js-rsa");
    s.guarded(&["pull", &format!("{repo2}:v1")]).allowed();
}

#[test]
fn unsigned_and_wrongly_signed_images_are_denied() {
    let s = stack();
    // Unsigned.
    let (repo, _) = image("key");
    let out = s.guarded(&["pull", &format!("{repo}:v1")]);
    out.denied("signature");
    assert!(
        out.text().contains("has no cosign signature") && out.text().contains("cosign sign"),
        "{}",
        out.text()
    );
    // A key the rule does not trust.
    let (repo, pinned) = image("key");
    cli::sign(&pinned, Mode::Bundle, "js-other");
    let out = s.guarded(&["pull", &format!("{repo}:v1")]);
    out.denied("signature");
    assert!(
        out.text().contains("does not verify with any trusted key"),
        "{}",
        out.text()
    );
    // A payload naming another digest, signed by the trusted key.
    let (repo, pinned) = image("key");
    s.cosign(&pinned, &["--key", "p256", "--tamper", "payload-digest"]);
    let out = s.guarded(&["pull", &format!("{repo}:v1")]);
    out.denied("signature");
    assert!(
        out.text().contains("its payload is for sha256:"),
        "{}",
        out.text()
    );
    // Failed verification, not "sign it" (defect E).
    assert!(
        out.text().contains("failed verification") && !out.text().contains("cosign sign --key"),
        "{}",
        out.text()
    );
    // A tampered signature.
    let (repo, pinned) = image("key");
    s.cosign(&pinned, &["--key", "p256", "--tamper", "signature"]);
    s.guarded(&["pull", &format!("{repo}:v1")])
        .denied("signature");
    s.guarded(&["pull", &pinned]).denied("signature");
}

#[test]
fn keyless_signatures_need_the_trusted_root_and_identity() {
    let s = stack();
    for format in ["simple", "bundle"] {
        let (repo, pinned) = image("keyless");
        s.cosign(&pinned, &["--format", format, "--keyless", ACME, ISSUER]);
        s.guarded(&["pull", &format!("{repo}:v1")]).allowed();
        s.guarded(&["run", "--rm", &format!("{repo}:v1"), "true"])
            .allowed();

        let (repo, pinned) = image("keyless");
        s.cosign(&pinned, &["--format", format, "--keyless", EVIL, ISSUER]);
        let out = s.guarded(&["pull", &format!("{repo}:v1")]);
        out.denied("signature");
        assert!(
            out.text().contains("not a trusted identity"),
            "{format}: {}",
            out.text()
        );

        // The rule's `*` stays inside a path segment: the workflow at
        // another ref (after `@`) is another identity.
        let (repo, pinned) = image("keyless");
        s.cosign(
            &pinned,
            &["--format", format, "--keyless", ACME_DEV, ISSUER],
        );
        let out = s.guarded(&["pull", &format!("{repo}:v1")]);
        out.denied("signature");
        assert!(
            out.text().contains("not a trusted identity"),
            "{format}: {}",
            out.text()
        );

        let (repo, pinned) = image("keyless");
        s.cosign(
            &pinned,
            &[
                "--format",
                format,
                "--keyless",
                ACME,
                "https://accounts.google.com",
            ],
        );
        s.guarded(&["pull", &format!("{repo}:v1")])
            .denied("signature");

        // A certificate, CT log and Rekor that the trusted root does not name.
        let (repo, pinned) = image("keyless");
        s.cosign(
            &pinned,
            &["--format", format, "--keyless", ACME, ISSUER, "--rogue"],
        );
        s.guarded(&["pull", &format!("{repo}:v1")])
            .denied("signature");

        let (repo, pinned) = image("keyless");
        s.cosign(
            &pinned,
            &[
                "--format",
                format,
                "--keyless",
                ACME,
                ISSUER,
                "--tamper",
                "set",
            ],
        );
        s.guarded(&["pull", &format!("{repo}:v1")])
            .denied("signature");
    }
}

#[test]
fn bundles_are_found_through_the_referrers_tag_scheme() {
    // The Debian registry has no referrers API: the signer lists bundles in
    // the index at tag sha256-<hex>, and only that fallback can find them.
    let s = stack();
    let (repo, pinned) = image("key");
    cli::sign(&pinned, Mode::Bundle, "js-p256");
    let digest = pinned.split('@').nth(1).unwrap_or_default();
    let path = repo.split_once('/').map(|(_, p)| p).unwrap_or_default();
    let status = |what: &str| {
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
            .args(["-H", "Accept: application/vnd.oci.image.index.v1+json"])
            .arg(format!("http://{}/v2/{path}/{what}", s.registry))
            .output()
            .expect("curl runs");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert_eq!(
        status(&format!("referrers/{digest}")),
        "404",
        "the registry has a referrers API"
    );
    assert_eq!(
        status(&format!("manifests/{}", digest.replace(':', "-"))),
        "200"
    );
    s.guarded(&["pull", &format!("{repo}:v1")]).allowed();
    // A bundle that says it is about another image does not count.
    let (repo, pinned) = image("key");
    s.cosign(
        &pinned,
        &["--format", "bundle", "--key", "p256", "--tamper", "subject"],
    );
    let out = s.guarded(&["pull", &format!("{repo}:v1")]);
    out.denied("signature");
    assert!(out.text().contains("about another image"), "{}", out.text());
}

#[test]
fn a_threshold_needs_distinct_signers() {
    let s = stack();
    let (repo, pinned) = image("threshold");
    cli::sign(&pinned, Mode::Bundle, "js-p256");
    cli::sign(&pinned, Mode::Classic, "js-p256");
    let out = s.guarded(&["pull", &format!("{repo}:v1")]);
    out.denied("signature");
    assert!(
        out.text().contains("signed by 1 of the 2"),
        "{}",
        out.text()
    );
    cli::sign(&pinned, Mode::Bundle, "js-ed25519");
    // Denies are not cached: verification runs again and finds both.
    s.guarded(&["pull", &format!("{repo}:v1")]).allowed();
}

#[test]
fn a_moved_tag_or_a_removed_signature_stops_the_image() {
    let s = stack();
    let (repo, pinned) = image("key");
    cli::sign(&pinned, Mode::Classic, "js-p256");
    let tag = format!("{repo}:v1");
    s.guarded(&["pull", &tag]).allowed();
    // The tag moves to unsigned content: pulling it is denied, while the
    // signed image already pulled still runs by that tag.
    s.image(&tag);
    s.guarded(&["pull", &tag]).denied("signature");
    s.guarded(&["run", "--rm", &tag, "true"]).allowed();
    // The publisher withdraws the signature: once the cache expires, the
    // local image no longer runs.
    let digest = pinned.split('@').nth(1).unwrap_or_default();
    let path = repo.split_once('/').map(|(_, p)| p).unwrap_or_default();
    let sig = format!(
        "http://{}/v2/{path}/manifests/{}.sig",
        s.registry,
        digest.replace(':', "-")
    );
    let head = Command::new("curl")
        .args([
            "-fsSI",
            "-H",
            "Accept: application/vnd.oci.image.manifest.v1+json",
            &sig,
        ])
        .output()
        .expect("curl runs");
    let headers = String::from_utf8_lossy(&head.stdout).to_lowercase();
    let sig_digest = headers
        .lines()
        .find_map(|l| l.strip_prefix("docker-content-digest:"))
        .map(|d| d.trim().to_string())
        .expect("the signature manifest has a digest");
    let del = Command::new("curl")
        .args(["-fsS", "-X", "DELETE"])
        .arg(format!(
            "http://{}/v2/{path}/manifests/{sig_digest}",
            s.registry
        ))
        .output()
        .expect("curl runs");
    assert!(
        del.status.success(),
        "{}",
        String::from_utf8_lossy(&del.stderr)
    );
    std::thread::sleep(s.cache_ttl() + Duration::from_millis(500));
    let out = s.guarded(&["run", "--rm", &tag, "true"]);
    out.denied("signature");
    assert!(
        out.text().contains("has no cosign signature"),
        "{}",
        out.text()
    );
}

#[test]
fn notary_and_cosign_together_or_either() {
    let s = stack();
    // Both required.
    let (repo, pinned) = image("both");
    let tag = format!("{repo}:v1");
    s.sign(&tag);
    let out = s.guarded(&["pull", &tag]);
    out.denied("signature");
    assert!(out.text().contains("cosign"), "{}", out.text());
    cli::sign(&pinned, Mode::Bundle, "js-p256");
    s.guarded(&["pull", &tag]).allowed();
    s.guarded(&["run", "--rm", &tag, "true"]).allowed();

    let (repo, pinned) = image("both");
    cli::sign(&pinned, Mode::Bundle, "js-p256");
    s.guarded(&["pull", &format!("{repo}:v1")])
        .denied("signature");

    // Either is enough.
    let (repo, pinned) = image("either");
    cli::sign(&pinned, Mode::Bundle, "js-p256");
    s.guarded(&["pull", &format!("{repo}:v1")]).allowed();
    let (repo, _) = image("either");
    s.sign(&format!("{repo}:v1"));
    s.guarded(&["pull", &format!("{repo}:v1")]).allowed();
    let (repo, _) = image("either");
    let out = s.guarded(&["pull", &format!("{repo}:v1")]);
    out.denied("signature");
    assert!(
        out.text().contains("notary") && out.text().contains("cosign"),
        "the deny should say what each verifier found: {}",
        out.text()
    );
}
