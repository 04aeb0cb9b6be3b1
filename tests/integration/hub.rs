//! Issue 16 item 4: Docker Hub after Notary v1, with rules shaped like
//! examples/docker-hub.toml on the stack's registry (scripts/stack
//! hub_setup): hub/dhi/* by either of two trusted keys (as DHI's dhi-2 and
//! dhi-1), hub/library/* by a digest pinned at stack start
//! (hub/library/pinned:v1), the rest of hub/ denied by an empty pin list.

use crate::cosign_cli::{sign, Mode};
use crate::stack::{stack, unique};

/// Docker Hardened Images-shaped rule: either trusted key is enough (OR),
/// another key or no signature is denied. Signed as DHI signs: by the real
/// cosign CLI, simple-signing layers in an OCI 1.1 referrer.
#[test]
fn dhi_shaped_rule_accepts_either_published_key() {
    let s = stack();
    for key in ["js-p256", "js-p384"] {
        let repo = s.repo(&format!("hub/dhi/{}", unique("app")));
        let pinned = s.image(&format!("{repo}:v1"));
        sign(&pinned, Mode::Oci11, key);
        s.guarded(&["pull", &format!("{repo}:v1")]).allowed();
        let out = s.guarded(&["run", "--rm", &format!("{repo}:v1"), "true"]);
        out.allowed();
    }
    // A key outside the keyring.
    let repo = s.repo(&format!("hub/dhi/{}", unique("app")));
    let pinned = s.image(&format!("{repo}:v1"));
    sign(&pinned, Mode::Oci11, "js-other");
    s.guarded(&["pull", &format!("{repo}:v1")])
        .denied("signature");
    // Unsigned.
    let repo = s.repo(&format!("hub/dhi/{}", unique("app")));
    s.image(&format!("{repo}:v1"));
    s.guarded(&["pull", &format!("{repo}:v1")])
        .denied("signature");
}

/// Docker Official Images-shaped rule: the pinned digest pulls by tag and
/// by digest and runs; another image of the same rule, or a new tag, is
/// denied with the digest to pin; the rest of hub/ is denied.
#[test]
fn pinned_digests_allow_exactly_the_pinned_images() {
    let s = stack();
    let pinned_tag = format!("{}/hub/library/pinned:v1", s.registry);
    let pins = std::fs::read_to_string(s.dir.join("hub.digests")).unwrap();
    let digest = pins
        .lines()
        .find_map(|l| {
            l.split_whitespace()
                .next()
                .filter(|w| w.starts_with("sha256:"))
        })
        .expect("a pinned digest")
        .to_string();
    s.guarded(&["pull", &pinned_tag]).allowed();
    let out = s.guarded(&["run", "--rm", &pinned_tag, "cat", "/etc/marker"]);
    out.allowed();
    assert!(out.stdout.starts_with("pinned"), "{}", out.text());
    let by_digest = format!("{}/hub/library/pinned@{digest}", s.registry);
    s.guarded(&["pull", &by_digest]).allowed();
    s.guarded(&["run", "--rm", &by_digest, "true"]).allowed();

    // Other content under the rule: a new image, and a new tag of the
    // pinned repository. The deny names the digest to pin.
    for reference in [
        format!("{}/hub/library/{}:v1", s.registry, unique("other")),
        format!("{}/hub/library/pinned:{}", s.registry, unique("t")),
    ] {
        let served = s.image(&reference);
        let d = served.split('@').nth(1).unwrap_or_default().to_string();
        let out = s.guarded(&["pull", &reference]);
        out.denied("signature");
        let t = out.text();
        assert!(t.contains("not one of the rule's pinned digests"), "{t}");
        assert!(t.contains(&format!("digests = [\"{d}\"]")), "{t}");
        assert_eq!(policy_rule_of(&reference), "hub official (pinned)");
    }

    // The rest of hub/: nothing pinned, denied.
    let other = format!("{}/hub/{}/app:v1", s.registry, unique("org"));
    s.image(&other);
    let out = s.guarded(&["pull", &other]);
    out.denied("signature");
    assert_eq!(policy_rule_of(&other), "hub (everything else)");
}

/// The policy rule of the plugin's last logged deny naming `reference`
/// (repository and tag), from its decision log.
fn policy_rule_of(reference: &str) -> String {
    let (repo, tag) = reference.rsplit_once(':').unwrap_or((reference, "latest"));
    let has_rule = |l: &str| {
        serde_json::from_str::<serde_json::Value>(l)
            .ok()
            .and_then(|v| v.get("policy_rule")?.as_str().map(str::to_string))
    };
    crate::stack::logged_line(&stack().plugin_decisions, |l| {
        l.contains(repo) && l.contains(tag) && l.contains("\"deny\"") && has_rule(l).is_some()
    })
    .and_then(|l| has_rule(&l))
    .unwrap_or_else(|| panic!("no logged deny for {reference}"))
}
