//! Tests of the policy-file parser.

use super::*;

fn p(text: &str) -> Result<PolicyFile, PolicyErrors> {
    parse(text, Path::new("/etc/img-authz/policy.toml"))
}

#[test]
fn parses_a_full_policy() {
    let f = p(r#"
version = 1
[global]
mode = "audit"
allow = ["load"]
local_user = "root@host"
[[rules]]
name = "team"
repositories = ["reg.example.com/team/*", "reg.example.com/base"]
users = ["ci-*"]
verifier = "notary"
allow = ["tag"]
[rules.notary]
server = "https://notary.example.com"
trust_on_first_use = false
signers = ["targets/alice"]
root_pin = { certs = ["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] }
[[rules]]
repositories = ["localhost:5000/*"]
verifier = "none"
mode = "audit"
[hardening]
privileged = false
bind_mounts = ["/srv/data"]
cap_add = ["NET_BIND_SERVICE"]
seccomp_profiles = ["sha256:ABCDEF0000000000000000000000000000000000000000000000000000000000"]
[[hardening.overrides]]
users = ["admin"]
privileged = true
"#)
    .unwrap();
    assert_eq!(f.global.mode, Mode::Audit);
    assert_eq!(f.global.allow, vec![Op::Load]);
    assert_eq!(f.rules.len(), 2);
    assert_eq!(f.rules[0].notary.signers, vec!["targets/alice"]);
    assert!(
        matches!(&f.rules[0].notary.root_pin, Some(PinSpec::Certs(ids)) if ids[0].starts_with("aaaa"))
    );
    assert!(f.rules[1].verifiers.is_empty());
    assert_eq!(f.rules[1].mode, Some(Mode::Audit));
    let h = f.hardening.unwrap();
    assert_eq!(h.base.privileged, Some(false));
    assert_eq!(h.base.devices, None);
    // Digests are kept lower-case, as we compute them.
    assert_eq!(
        h.base.seccomp_profiles,
        Some(vec![format!("sha256:abcdef{}", "0".repeat(58))])
    );
    assert_eq!(h.overrides[0].spec.privileged, Some(true));
}

#[test]
fn reports_every_error_with_its_location() {
    let e = p(r#"version = 1
[global]
mode = "loud"
allow = ["load", "everything"]
[[rules]]
repositories = ["reg.example.com/team/*", "UPPER/*", "*x"]
verifier = "notary"
[rules.notary]
server = "http://plain"
signers = ["alice"]
root_pin = { certs = ["short"], ca = "x" }
[[rules]]
verifier = "maybe"
colour = "blue"
[hardening]
privileged = "no"
bind_mounts = ["relative", "/a/../b"]
seccomp_profiles = ["sha256:abc", "SHA256:0000000000000000000000000000000000000000000000000000000000000000"]
"#)
        .unwrap_err();
    let text = e.to_string();
    let want = [
        ("3:", "mode must be"),
        ("4:", "unknown operation \"everything\""),
        ("6:", "UPPER/*"),
        ("6:", "\"*x\""),
        ("9:", "https://"),
        ("10:", "\"alice\" is not a delegation role"),
        ("11:", "exactly one of certs, ca or key"),
        ("12:", "needs repositories"),
        ("13:", "verifier must be"),
        ("14:", "unknown key \"colour\""),
        ("16:", "privileged must be true or false"),
        ("17:", "\"relative\" must be absolute"),
        ("17:", "\"/a/../b\" must be absolute"),
        ("18:", "\"sha256:abc\" must be sha256: and 64 hex digits"),
        ("18:", "\"SHA256:0000"),
    ];
    for (line, msg) in want {
        assert!(
            e.errors
                .iter()
                .any(|x| format!("{}:", x.line) == line && x.message.contains(msg)),
            "missing {line} {msg} in:\n{text}"
        );
    }
    assert!(text.starts_with("/etc/img-authz/policy.toml:"), "{text}");
}

#[test]
fn syntax_errors_and_versions() {
    let e = p("version = 1\n[global\n").unwrap_err();
    assert_eq!(e.errors.len(), 1);
    assert_eq!(e.errors[0].line, 2);
    assert!(p("[global]\n")
        .unwrap_err()
        .to_string()
        .contains("version = 1"));
    assert!(p("version = 2\n")
        .unwrap_err()
        .to_string()
        .contains("version must be 1"));
    assert!(p("version = 1\n").is_ok());
}

#[test]
fn referenced_files_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), "x").unwrap();
    let path = dir.path().join("policy.toml");
    let ok = parse(
            "version = 1\n[[rules]]\nrepositories = [\"r.io/*\"]\nverifier = \"notary\"\n[rules.notary]\ntls_ca = \"ca.pem\"\n",
            &path,
        )
        .unwrap();
    assert_eq!(
        ok.rules[0].notary.tls_ca.as_deref(),
        Some(dir.path().join("ca.pem").as_path())
    );
    let bad = parse(
            "version = 1\n[[rules]]\nrepositories = [\"r.io/*\"]\nverifier = \"notary\"\n[rules.notary]\ntls_ca = \"nope.pem\"\n",
            &path,
        )
        .unwrap_err();
    assert!(bad.to_string().contains("nope.pem does not exist"), "{bad}");
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cosign")
}

#[test]
fn cosign_rules() {
    let f = fixtures();
    let text = format!(
        r#"version = 1
[[rules]]
name = "keys"
repositories = ["r.io/a/*"]
verifier = "cosign"
[rules.cosign]
keys = ["keys/p256.pub", "{f}/keys/rsa.pub"]
threshold = 2
[[rules]]
name = "both"
repositories = ["r.io/b/*"]
verifier = ["notary", "cosign"]
require = "any"
[rules.cosign]
identities = [{{ issuer = "https://i.example", subject = "https://s.example/*" }},
              {{ issuer_regexp = "https://(a|b)\\.example", subject_regexp = "https://s\\.example/.+",
                 github_workflow_repository = "acme/app", github_workflow_ref = "refs/heads/main",
                 github_workflow_name = "release", github_workflow_trigger = "push",
                 github_workflow_sha = "0123" }}]
trusted_root = "trusted_root.json"
tlog = "required"
match_reference = true
"#,
        f = f.display()
    );
    let p = parse(&text, &f.join("policy.toml")).unwrap();
    let a = &p.rules[0];
    assert_eq!(a.verifiers, vec![VerifierKind::Cosign]);
    assert_eq!(
        a.cosign.keys,
        vec![f.join("keys/p256.pub"), f.join("keys/rsa.pub")]
    );
    assert_eq!(a.cosign.threshold, 2);
    assert_eq!(a.require, Require::All);
    let b = &p.rules[1];
    assert_eq!(
        b.verifiers,
        vec![VerifierKind::Notary, VerifierKind::Cosign]
    );
    assert_eq!(b.require, Require::Any);
    use crate::trust::cosign::{Identity, Pattern};
    assert_eq!(b.cosign.identities.len(), 2);
    assert_eq!(
        b.cosign.identities[0],
        Identity::new("https://i.example", "https://s.example/*")
    );
    let r = &b.cosign.identities[1];
    assert_eq!(r.issuer, Pattern::regex(r"https://(a|b)\.example").unwrap());
    assert!(r.subject.matches("https://s.example/x"));
    assert!(!r.subject.matches("http://evil/https://s.example/x"));
    assert_eq!(r.github.repository.as_deref(), Some("acme/app"));
    assert_eq!(r.github.git_ref.as_deref(), Some("refs/heads/main"));
    assert_eq!(r.github.name.as_deref(), Some("release"));
    assert_eq!(r.github.trigger.as_deref(), Some("push"));
    assert_eq!(r.github.sha.as_deref(), Some("0123"));
    assert!(b.cosign.match_reference);
    assert!(!a.cosign.match_reference);
    assert!(b.cosign.tlog_required);
    assert_eq!(b.cosign.trusted_root, Some(f.join("trusted_root.json")));
}

/// `policy validate` reports a malformed Notation trust policy or store
/// with the specification's reason.
#[test]
fn notation_rules() {
    let d = tempfile::tempdir().unwrap();
    let store = d.path().join("truststore/x509/ca/acme");
    std::fs::create_dir_all(&store).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
    std::fs::write(store.join("ca.pem"), p.self_signed(&key).unwrap().pem()).unwrap();
    let statement = |name: &str, scope: &str, id: &str| {
        format!(
            r#"{{"name":"{name}","registryScopes":["{scope}"],"signatureVerification":{{"level":"strict"}},"trustStores":["ca:acme"],"trustedIdentities":["x509.subject: {id}"]}}"#
        )
    };
    let write = |body: String| {
        std::fs::write(
            d.path().join("tp.json"),
            format!(r#"{{"version":"1.0","trustPolicies":[{body}]}}"#),
        )
        .unwrap()
    };
    let policy = "version = 1\n[[rules]]\nrepositories = [\"r.io/*\"]\nverifier = [\"notary\", \"notation\"]\nrequire = \"any\"\n[rules.notation]\ntrust_policy = \"tp.json\"\ntrust_store = \"truststore\"\n";
    let path = d.path().join("policy.toml");
    write(statement("a", "r.io/app", "C=US, ST=WA, O=acme"));
    let f = parse(policy, &path).unwrap();
    assert_eq!(
        f.rules[0].verifiers,
        vec![VerifierKind::Notary, VerifierKind::Notation]
    );
    assert_eq!(f.rules[0].notation.trust_store, d.path().join("truststore"));
    let fails = |why: &str| {
        let e = parse(policy, &path).unwrap_err().to_string();
        assert!(e.contains(why), "{why}: {e}");
    };
    write(format!(
        "{},{}",
        statement("a", "*", "C=US, ST=WA, O=acme"),
        statement("b", "*", "C=US, ST=WA, O=acme")
    ));
    fails("both use the global scope");
    write(statement("a", "r.io/app", "C=US, O=acme"));
    fails("must contain C, ST (or S) and O");
    write(statement("a", "r.io/app", "C=US, ST=WA, O=acme"));
    std::os::unix::fs::symlink(store.join("ca.pem"), store.join("link.pem")).unwrap();
    fails("symbolic link");
    let e = parse(
        "version = 1\n[[rules]]\nrepositories = [\"r.io/*\"]\nverifier = \"notation\"\n",
        &path,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("needs [rules.notation]"), "{e}");
}

#[test]
fn cosign_rule_errors() {
    let f = fixtures();
    let e = parse(
        r#"version = 1
[[rules]]
repositories = ["r.io/a/*"]
verifier = "cosign"
[[rules]]
repositories = ["r.io/b/*"]
verifier = "cosign"
[rules.cosign]
keys = ["digest", "nope.pub"]
identities = [{ issuer = "https://i.example" }]
threshold = 5
tlog = "sometimes"
[[rules]]
repositories = ["r.io/c/*"]
verifier = ["notary", "notary", "sigstore"]
require = "most"
[rules.cosign]
keys = ["keys/p256.pub"]
[[rules]]
repositories = ["r.io/d/*"]
verifier = "notary"
[rules.cosign]
identities = [{ issuer = "https://i.example", subject = "x" }]
tlog = "required"
"#,
        &f.join("policy.toml"),
    )
    .unwrap_err();
    let text = e.to_string();
    let want = [
        ("2:", "needs [rules.cosign]"),
        ("9:", "digest: no PUBLIC KEY block"),
        ("9:", "nope.pub"),
        ("10:", "needs a non-empty subject or subject_regexp"),
        ("11:", "threshold must be between 1 and"),
        ("12:", "tlog must be"),
        ("15:", "listed twice"),
        (
            "15:",
            "holds \"notary\", \"cosign\", \"notation\" and/or \"digests\"",
        ),
        ("16:", "require must be"),
        ("17:", "do not include cosign"),
        ("22:", "do not include cosign"),
        ("22:", "keyless identities need a trusted_root"),
        ("22:", "needs a trusted_root with the Rekor key"),
    ];
    for (line, msg) in want {
        assert!(
            e.errors
                .iter()
                .any(|x| format!("{}:", x.line) == line && x.message.contains(msg)),
            "missing {line} {msg} in:\n{text}"
        );
    }
    let bad_root = parse(
            "version = 1\n[[rules]]\nrepositories = [\"r.io/*\"]\nverifier = \"cosign\"\n[rules.cosign]\nkeys = [\"keys/p256.pub\"]\ntrusted_root = \"digest\"\n",
            &f.join("policy.toml"),
        )
        .unwrap_err();
    assert!(
        bad_root.to_string().contains("not a trusted root"),
        "{bad_root}"
    );
    let dup = parse(
            "version = 1\n[[rules]]\nname = \"a\"\nrepositories = [\"r.io/*\"]\nverifier = \"none\"\n[[rules]]\nname = \"a\"\nrepositories = [\"s.io/*\"]\nverifier = \"none\"\n[[rules]]\nname = \"REGISTRY t.io\"\nrepositories = [\"t.io/*\"]\nverifier = \"none\"\n",
            &f.join("policy.toml"),
        )
        .unwrap_err();
    assert!(
        dup.errors
            .iter()
            .any(|e| e.line == 7 && e.message.contains("already named \"a\"")),
        "{dup}"
    );
    assert!(
        dup.errors
            .iter()
            .any(|e| e.line == 11 && e.message.contains("environment's rules")),
        "{dup}"
    );
    let empty = parse(
            "version = 1\n[[rules]]\nrepositories = [\"r.io/*\"]\nverifier = \"cosign\"\n[rules.cosign]\nkeys = []\nidentities = []\n",
            &f.join("policy.toml"),
        )
        .unwrap_err();
    assert!(
        empty.to_string().contains("needs keys or identities"),
        "{empty}"
    );
}

#[test]
fn cosign_identity_errors() {
    let f = fixtures();
    let e = parse(
        r#"version = 1
[[rules]]
repositories = ["r.io/a/*"]
verifier = "cosign"
[rules.cosign]
trusted_root = "trusted_root.json"
match_reference = "yes"
identities = [
  { issuer = "https://i", issuer_regexp = "https://i", subject = "s" },
  { issuer = "https://i", subject_regexp = "a)|(b" },
  { issuer = "https://i", subject_regexp = "(" },
  { issuer = "https://i", subject = "s", github_workflow_ref = "" },
  { issuer = "https://i", subject = "s", github_workflow = "x" },
  { issuer = "https://i" },
]
"#,
        &f.join("policy.toml"),
    )
    .unwrap_err();
    let text = e.to_string();
    for (line, msg) in [
        ("7:", "match_reference must be true or false"),
        ("9:", "issuer or issuer_regexp, not both"),
        ("10:", "subject_regexp: invalid regular expression"),
        ("11:", "subject_regexp: invalid regular expression"),
        ("12:", "github_workflow_ref is empty"),
        ("13:", "unknown key \"github_workflow\""),
        ("14:", "needs a non-empty subject or subject_regexp"),
    ] {
        assert!(
            e.errors
                .iter()
                .any(|x| format!("{}:", x.line) == line && x.message.contains(msg)),
            "missing {line} {msg} in:\n{text}"
        );
    }
}
