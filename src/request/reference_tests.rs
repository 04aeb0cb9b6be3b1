//! Reference parsing and canonical spellings, as dockerd reads them.

use super::*;

/// Every ParseNormalizedNamed vector of the Go library, run through ours.
/// We may be stricter than Go (deny what it accepts) only where dockerd
/// 20.10's older library rejects the input too, or where Go yields an
/// empty registry (`foo_bar.com/x`), which no allowlist can match.
#[test]
fn go_vectors() {
    let data = include_str!("../../tests/data/reference_normalized.tsv");
    let mut checked = 0;
    for line in data
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let f: Vec<&str> = line.split('\t').collect();
        let (input, valid, domain, path, tag, digest, legacy) =
            (f[0], f[1], f[2], f[3], f[4], f[5], f[6]);
        let input = if input == "<empty>" { "" } else { input };
        let ours = Reference::parse_normalized(input);
        match (valid, ours) {
            ("no", Ok(r)) => panic!("{input:?}: Go rejects it, we accepted {r}"),
            ("no", Err(_)) => {}
            (_, Ok(r)) => {
                assert_eq!(r.domain, domain, "{input:?} domain");
                assert_eq!(r.path, path, "{input:?} path");
                assert_eq!(r.tag.as_deref().unwrap_or(""), tag, "{input:?} tag");
                assert_eq!(
                    r.digest.as_deref().unwrap_or(""),
                    digest,
                    "{input:?} digest"
                );
            }
            (_, Err(e)) => assert!(
                legacy.starts_with("err:") || domain.is_empty(),
                "{input:?}: Go (and dockerd 20.10) accept it, we rejected it: {e}"
            ),
        }
        checked += 1;
    }
    assert!(checked > 150, "only {checked} vectors read");
}

#[test]
fn normalisation() {
    let r = Reference::parse_normalized("busybox").unwrap();
    assert_eq!(r.to_string(), "docker.io/library/busybox");
    assert_eq!(
        r.clone().tag_name_only().to_string(),
        "docker.io/library/busybox:latest"
    );
    let r = Reference::parse_normalized("index.docker.io/team/app:v1").unwrap();
    assert_eq!(r.to_string(), "docker.io/team/app:v1");
    let r = Reference::parse_normalized("127.0.0.1:5000/a/b/c:v2").unwrap();
    assert_eq!(
        (r.domain.as_str(), r.path.as_str()),
        ("127.0.0.1:5000", "a/b/c")
    );
    // A bare host:port is a name and a tag, as in Go.
    let r = Reference::parse_normalized("localhost:5000").unwrap();
    assert_eq!(r.to_string(), "docker.io/library/localhost:5000");
}

#[test]
fn identifiers_and_digests() {
    let id = "a".repeat(64);
    assert!(matches!(
        Reference::parse_normalized(&id),
        Err(RefError::Identifier(_))
    ));
    assert!(Reference::parse_normalized(&format!("docker.io/{id}")).is_ok());
    let d = format!("sha256:{}", "b".repeat(64));
    assert!(validate_digest(&d).is_ok());
    assert!(validate_digest(&format!("sha256:{}", "B".repeat(64))).is_err());
    assert!(validate_digest(&format!("sha512:{}", "c".repeat(128))).is_ok());
    assert!(validate_digest(&format!("md5:{}", "c".repeat(32))).is_err());
    let r = Reference::parse_normalized(&format!("busybox:1@{d}")).unwrap();
    assert_eq!(r.tag.as_deref(), Some("1"));
    assert_eq!(r.digest.as_deref(), Some(d.as_str()));
}

/// The allocation-free fast path of `spelling` says "canonical" exactly
/// when `canonical_domain` returns the host unchanged,
/// over many generated hosts: numbers, hex, leading zeros, Hub aliases,
/// upper case, ports in and out of range.
#[test]
fn plainly_canonical_agrees_with_canonical_domain() {
    const HOST: [&str; 24] = [
        "a",
        "b",
        "Z",
        "0",
        "1",
        "00",
        "01",
        "9",
        "255",
        "256",
        "127",
        "999",
        "0x7f",
        "0x",
        "x",
        "-",
        "localhost",
        "docker.io",
        "index.docker.io",
        "registry-1.docker.io",
        "registry.hub.docker.com",
        "LocalHost",
        "reg",
        "_",
    ];
    const PORT: [&str; 14] = [
        "", ":", ":0", ":1", ":80", ":443", ":0443", ":5000", ":05000", ":65535", ":65536", ":+5",
        ":a", ":1:2",
    ];
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        usize::try_from(seed % n as u64).unwrap()
    };
    let (mut fast, mut total) = (0, 0);
    for _ in 0..300_000 {
        let mut d = String::new();
        for i in 0..1 + next(5) {
            if i > 0 && next(4) != 0 {
                d.push('.');
            }
            d.push_str(HOST[next(HOST.len())]);
        }
        d.push_str(PORT[next(PORT.len())]);
        let slow = canonical_domain(&d).is_ok_and(|c| c == d);
        // Characters outside the registry grammar are left to the slow
        // path; otherwise the answers are equal.
        if d.contains('_') {
            assert!(!plainly_canonical(&d), "{d}");
        } else {
            assert_eq!(plainly_canonical(&d), slow, "{d}");
        }
        fast += usize::from(slow);
        total += 1;
    }
    // The generator reaches both answers often (not a vacuous test).
    assert!(fast > total / 50 && fast < total / 2, "{fast} of {total}");
    for d in [
        "1.2.3.4",
        "127.0.0.1:5000",
        "0.0.0.0:1",
        "255.255.255.255:65535",
        "localhost:5000",
    ] {
        assert!(plainly_canonical(d), "{d}");
    }
    for d in [
        "1.2.3.04",
        "1.2.3",
        "1.2.3.4.5",
        "1.2.3.256",
        "[::1]",
        "docker.io:443",
        "index.docker.io",
    ] {
        assert!(!plainly_canonical(d), "{d}");
    }
}

/// Every other spelling of a registry dockerd accepts (and keeps as
/// written) has one canonical form, or none and is refused.
#[test]
fn registry_aliases() {
    let spelling = |s: &str| Reference::parse_normalized(s).unwrap().spelling();
    let alias = |c: &str| Spelling::Alias {
        canonical: c.to_string(),
    };
    for canonical in [
        "localhost:27000/acc/lapp",
        "docker.io/library/busybox",
        "busybox",
        "index.docker.io/x/y",
        "127.0.0.1:5000/a",
        "reg.io:80/a",
        "reg.io:5000/a",
        "[fc00::1]:5000/a",
        "[::1]/a",
        "0x7f.example/a",
        "1.example/a",
        // Without its port this would be the Docker Hub repository myreg/a.
        "myreg:443/a",
    ] {
        assert_eq!(spelling(canonical), Spelling::Canonical, "{canonical}");
    }
    for (input, canonical) in [
        // dockerd accepts an upper-case host and records it as written.
        ("LOCALHOST:27000/acc/lapp", "localhost:27000"),
        ("Example.com/foo", "example.com"),
        ("EXAMPLE.COM:5000/foo/bar:v1", "example.com:5000"),
        // :443 is where dockerd's HTTPS goes without a port.
        ("reg.io:443/a", "reg.io"),
        ("reg.io:0443/a", "reg.io"),
        ("MyReg:0443/a", "myreg:443"),
        // Go dials a port's leading zeros away.
        ("reg.io:05000/a", "reg.io:5000"),
        ("127.0.0.1:000080/a", "127.0.0.1:80"),
        // Docker Hub's registry by its other host names.
        ("registry-1.docker.io/library/busybox", "docker.io"),
        ("registry.hub.docker.com/x/y", "docker.io"),
        ("docker.io:443/x/y", "docker.io"),
        ("index.docker.io:443/x/y", "docker.io"),
        ("DOCKER.IO/x/y", "docker.io"),
        ("Index.Docker.IO/x/y", "docker.io"),
        // One IPv6 address, many spellings.
        ("[FC00::1]:5000/a", "[fc00::1]:5000"),
        ("[fc00:0:0:0:0:0:0:1]:5000/a", "[fc00::1]:5000"),
        ("[0:0::1]/a", "[::1]"),
    ] {
        assert_eq!(spelling(input), alias(canonical), "{input}");
    }
    for ambiguous in [
        // Read by the C resolver as 127.0.0.1.
        "127.1:5000/a",
        "2130706433:5000/a",
        "0x7f.0.0.1:5000/a",
        "127.000.000.001:5000/a",
        "017.0.0.1/a.b",
        // An IPv4 address inside IPv6.
        "[::ffff:7f00:1]:5000/a",
        // A registry only by its upper case; in lower case a Hub repository.
        "LOCALDOMAIN/debian",
        "Docker/docker",
        // Ports dockerd cannot dial.
        "reg.io:0/a",
        "reg.io:65536/a",
    ] {
        let s = spelling(ambiguous);
        assert!(
            matches!(s, Spelling::Ambiguous { .. }),
            "{ambiguous}: {s:?}"
        );
    }
    // What the grammar refuses never gets that far: trailing dots,
    // percent-encoding, userinfo, schemes.
    for bad in [
        "reg.io./a",
        "reg.io.:5000/a",
        "localhost./a",
        "reg%2eio/a",
        "reg.io%3a443/a",
        "user@reg.io/a",
        "https://reg.io/a",
        "reg.io:/a",
        "[]:5000/a",
        "[::ffff:127.0.0.1]:5000/a",
    ] {
        assert!(Reference::parse_normalized(bad).is_err(), "{bad}");
    }
}

#[test]
fn refused_forms() {
    for bad in [
        "",
        "UPPER",
        "a/B",
        "busybox:",
        "-x",
        "a//b",
        "a/b/",
        "foo_bar.com/x",
        "a:b:c",
        "host:port/x",
        "bb:tag@sha256:abc",
        "x y",
        "ex\u{212A}/y",
    ] {
        assert!(
            Reference::parse_normalized(bad).is_err(),
            "{bad:?} must be refused"
        );
    }
    assert!(Reference::parse_normalized(&format!("docker.io/{}", "a".repeat(250))).is_err());
}
