use super::*;

fn raw(registry: &str, notary: &str, ca: &str, allow: &str) -> RawConfig {
    RawConfig {
        registry: registry.into(),
        notary: notary.into(),
        notary_root_ca: ca.into(),
        allow: allow.into(),
        ..Default::default()
    }
}

/// A bad IMG_AUTHZ_NOTARY_MAX_ROLE_BYTES stops the plugin, as every
/// setting does (it used to be read in trust/notary, warn and go on).
#[test]
fn notary_max_role_bytes_is_a_validated_setting() {
    let with = |n: Option<u64>| {
        RawConfig {
            notary_max_role_bytes: n,
            ..raw("", "", "", "")
        }
        .validate()
    };
    let max = |n| with(n).map(|c| c.trust.notary_max_role);
    assert_eq!(
        max(None),
        Ok(crate::trust::notary::update::DEFAULT_MAX_ROLE)
    );
    assert_eq!(max(Some(1024)), Ok(1024));
    assert_eq!(max(Some(8 << 20)), Ok(8 << 20));
    let e = with(Some(1023)).unwrap_err().to_string();
    assert!(e.starts_with("IMG_AUTHZ_NOTARY_MAX_ROLE_BYTES: "), "{e}");
    assert!(opt_u64("IMG_AUTHZ_NOTARY_MAX_ROLE_BYTES", "4 MiB").is_err());
}

#[test]
fn pin_and_signer_patterns_name_a_registry() {
    let id = "a".repeat(64);
    for ok in [
        "*",
        "reg.io/team/*",
        "reg.io/base",
        "localhost:5000/x*",
        "REG.IO/t*",
    ] {
        assert!(parse_pins(&format!("{ok}=certs:{id}")).is_ok(), "{ok}");
        assert!(
            parse_signers(&format!("{ok}=targets/alice")).is_ok(),
            "{ok}"
        );
    }
    // Loaded in the one spelling a GUN has, or a pin would never apply.
    let pins = parse_pins(&format!("REG.IO:443/t*=certs:{id}")).unwrap();
    assert_eq!(pins[0].pattern, "reg.io/t*");
    let signers = parse_signers("LOCALHOST:05000/x=targets/alice").unwrap();
    assert_eq!(signers[0].pattern, "localhost:5000/x");
    for bad in [
        "team/*",
        "app",
        "reg.io*",
        "reg.io/*/x",
        "re*g.io/x",
        "127.1/x*",
    ] {
        assert!(parse_pins(&format!("{bad}=certs:{id}")).is_err(), "{bad}");
        assert!(
            parse_signers(&format!("{bad}=targets/alice")).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn prior_plugin_defaults() {
    let c = raw("", "", "", "").validate().unwrap();
    assert_eq!(c.registries, vec!["docker.io"]);
    assert_eq!(c.notary.url, DEFAULT_NOTARY);
    assert_eq!(c.notary.root_ca_pem, None);
    assert_eq!(c.allow, Allow::default());
    // The prior plugin prepended https:// to a bare host.
    assert_eq!(
        raw("", "reg.local:4443", "", "")
            .validate()
            .unwrap()
            .notary
            .url,
        "https://reg.local:4443"
    );
}

#[test]
fn registries() {
    let c = raw(
        "reg.local, 127.0.0.1:5000,index.docker.io,REG.local",
        "",
        "",
        "",
    )
    .validate()
    .unwrap();
    assert_eq!(
        c.registries,
        vec!["reg.local", "127.0.0.1:5000", "docker.io"]
    );
    assert!(c.registry_allowed("reg.local"));
    assert!(!c.registry_allowed("Reg.Local"));
    assert!(!c.registry_allowed("127.0.0.1:5001"));
    let c = raw(
        "Reg.Local:443,127.0.0.1:05000,registry-1.docker.io",
        "",
        "",
        "",
    )
    .validate()
    .unwrap();
    assert_eq!(c.registries, ["reg.local", "127.0.0.1:5000", "docker.io"]);
    assert!(raw("127.1:5000", "", "", "").validate().is_err());
    for bad in [
        "https://reg.local",
        "reg.local/path",
        "re g",
        "-bad.com",
        "host:port",
        "a_b.com",
    ] {
        assert!(
            matches!(
                raw(bad, "", "", "").validate(),
                Err(ConfigError::Registry { .. })
            ),
            "{bad}"
        );
    }
}

#[test]
fn notary_and_ca() {
    assert!(matches!(
        raw("", "http://n:4443", "", "").validate(),
        Err(ConfigError::Notary { .. })
    ));
    assert!(matches!(
        raw("", "https://", "", "").validate(),
        Err(ConfigError::Notary { .. })
    ));
    assert!(matches!(
        raw("", "https://n?x=1", "", "").validate(),
        Err(ConfigError::Notary { .. })
    ));
    assert!(matches!(
        raw("", "", "not a pem", "").validate(),
        Err(ConfigError::RootCa(_))
    ));
    let garbage = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    assert!(matches!(
        raw("", "", garbage, "").validate(),
        Err(ConfigError::RootCa(_))
    ));
}

#[test]
fn allow_list() {
    let a = Allow::parse("load, BUILD,tag").unwrap();
    assert!(
        a.contains(Op::Load)
            && a.contains(Op::Build)
            && a.contains(Op::Tag)
            && !a.contains(Op::Import)
            && !a.contains(Op::Commit)
            && !a.contains(Op::Plugins)
            && !a.contains(Op::Swarm)
    );
    assert_eq!(a.to_string(), "load,build,tag");
    let a = Allow::parse("cp, PUSH").unwrap();
    assert!(a.contains(Op::Cp) && a.contains(Op::Push) && !a.contains(Op::Plugins));
    assert_eq!(a.to_string(), "cp,push");
    assert!(matches!(
        Allow::parse("everything"),
        Err(ConfigError::Allow(_))
    ));
    assert_eq!(Allow::parse("none").unwrap(), Allow::default());
}
