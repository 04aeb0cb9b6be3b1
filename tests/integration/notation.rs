//! Issue 17: Notation signatures made by the real notation CLI (1.3, keys
//! from `notation cert generate-test`), stored through the referrers tag
//! scheme in the stack's registry 2.8 (JWS and COSE envelopes) (no referrers API), verified by the
//! guarded daemon's plugin under the stack's notation rules
//! (scripts/stack notation_setup): notation/app (trust policy "stack",
//! strict, ca:stack, identity O=Notary CN=stack), notation/identity (only
//! O=wabbit-networks.io is trusted), notation-either/app (Notary or
//! Notation); any other repository under notation/ has no trust-policy scope.

use std::process::Command;

use crate::stack::{stack, unique};

/// `notation sign` of `image` (`repo@digest`) with the stack's notation
/// configuration and `opts`, against the plain-HTTP registry.
pub(crate) fn sign(image: &str, opts: &[&str]) {
    let s = stack();
    let config = std::env::var("STACK_NOTATION")
        .unwrap_or_else(|_| s.dir.join("notation").display().to_string());
    let bin = std::env::var("STACK_NOTATION_BIN")
        .unwrap_or_else(|_| "/var/cache/img-authz/modern/prefix/usr/bin/notation".into());
    let home = tempfile::tempdir().expect("scratch HOME");
    let out = Command::new(bin)
        .env("XDG_CONFIG_HOME", &config)
        .env("HOME", home.path())
        .args(["sign", "--insecure-registry"])
        .args(opts)
        .arg(image)
        .output()
        .expect("notation runs");
    assert!(
        out.status.success(),
        "notation sign {image} {opts:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fresh image pushed (unsigned) as `repo:TAG` in repository `repo`
/// (trust-policy scopes are exact repositories, so tags vary).
pub(crate) fn image(repo: &str) -> (String, String) {
    let s = stack();
    let tagged = format!("{}:{}", s.repo(repo), unique("v"));
    let pinned = s.image(&tagged);
    assert!(pinned.contains("@sha256:"), "{pinned}");
    (tagged, pinned)
}

#[test]
fn a_notation_signed_image_pulls_and_runs() {
    let s = stack();
    let (tag, pinned) = image("notation/app");
    sign(&pinned, &[]);
    s.guarded(&["pull", &tag]).allowed();
    let out = s.guarded(&["run", "--rm", &tag, "cat", "/etc/marker"]);
    out.allowed();
    assert!(out.stdout.starts_with("marker"), "{}", out.text());
    s.guarded(&["run", "--rm", &pinned, "true"]).allowed();
    let digest = pinned.split('@').nth(1).unwrap_or_default();
    let seen = |log: &str| {
        log.contains(&format!("\"digest\":\"{digest}\""))
            && log.contains("notation, signed by")
            && log.contains("CN=stack")
    };
    assert!(
        seen(&crate::stack::log_when(&s.plugin_log, seen)),
        "the decision log does not show the notation verdict for {digest}"
    );
    // Combined with Notary, one is enough.
    let (tag, pinned) = image("notation-either/app");
    sign(&pinned, &[]);
    s.guarded(&["pull", &tag]).allowed();
}

#[test]
fn unsigned_other_signers_and_other_identities_are_denied() {
    let s = stack();
    let (tag, _) = image("notation/app");
    let out = s.guarded(&["pull", &tag]);
    out.denied("signature");
    assert!(
        out.text().contains("has no Notation signature") && out.text().contains("notation sign"),
        "{}",
        out.text()
    );
    // Signed by a key whose certificate is in a store the policy does not name.
    let (tag, pinned) = image("notation/app");
    sign(&pinned, &["--key", "other"]);
    let out = s.guarded(&["pull", &tag]);
    out.denied("signature");
    assert!(
        out.text().contains("authenticity check failed") && out.text().contains("ca:stack"),
        "{}",
        out.text()
    );
    s.guarded(&["run", "--rm", &pinned, "true"])
        .denied("signature");
    // The trusted store, but not a trusted identity for this repository.
    let (tag, pinned) = image("notation/identity");
    sign(&pinned, &[]);
    let out = s.guarded(&["pull", &tag]);
    out.denied("signature");
    assert!(
        out.text().contains("is not a trusted identity"),
        "{}",
        out.text()
    );
    // A repository no trust-policy scope covers.
    let (tag, pinned) = image("notation/unscoped");
    sign(&pinned, &[]);
    let out = s.guarded(&["pull", &tag]);
    out.denied("signature");
    assert!(
        out.text()
            .contains("no statement of the Notation trust policy"),
        "{}",
        out.text()
    );
}

#[test]
fn a_moved_tag_is_denied_and_the_signed_digest_still_pulls() {
    let s = stack();
    let (tag, signed) = image("notation/app");
    sign(&signed, &[]);
    // The publisher moves the tag to an unsigned image.
    let moved = s.image(&tag);
    assert_ne!(moved, signed);
    let out = s.guarded(&["pull", &tag]);
    out.denied("signature");
    let new_digest = moved.split('@').nth(1).unwrap_or_default();
    assert!(out.text().contains(new_digest), "{}", out.text());
    s.guarded(&["pull", &signed]).allowed();
}

#[test]
fn cose_signatures_verify_too() {
    let s = stack();
    let (tag, pinned) = image("notation/app");
    sign(&pinned, &["--signature-format", "cose"]);
    s.guarded(&["pull", &tag]).allowed();
    s.guarded(&["run", "--rm", &tag, "true"]).allowed();
    // Another signer's COSE signature is no better than its JWS one.
    let (tag, pinned) = image("notation/app");
    sign(&pinned, &["--signature-format", "cose", "--key", "other"]);
    let out = s.guarded(&["pull", &tag]);
    out.denied("signature");
    assert!(
        out.text().contains("authenticity check failed"),
        "{}",
        out.text()
    );
}
