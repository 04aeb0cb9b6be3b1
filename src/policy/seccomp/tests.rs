//! Tests of the seccomp profile comparison.

use super::*;

const AMD64: Option<&str> = Some("amd64");

fn on(v: &str, arch: Option<&str>) -> Result<(), Refusal> {
    check_profile(v, &[], arch)
}

fn verdict(v: &str) -> Result<(), Refusal> {
    on(v, AMD64)
}

fn unreadable(v: &str) -> bool {
    matches!(verdict(v), Err(Refusal::Unreadable(_)))
}

/// The syscall a profile is refused for, if that is why.
fn weak_syscall(v: &str, arch: Option<&str>) -> Option<String> {
    match on(v, arch) {
        Err(Refusal::Weaker {
            what: Weakness::Syscall { name, .. },
            ..
        }) => Some(name),
        other => panic!("{v}: {other:?}"),
    }
}

fn allowing(rule: &str) -> String {
    format!(
        r#"{{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{{"names":["read","write"],"action":"SCMP_ACT_ALLOW"}},{rule}]}}"#
    )
}

#[test]
fn tables_are_well_formed() {
    assert!(ALWAYS.windows(2).all(|w| w[0] < w[1]), "ALWAYS is sorted");
    for n in [
        "unshare",
        "setns",
        "mount",
        "umount2",
        "bpf",
        "keyctl",
        "add_key",
        "request_key",
        "ptrace",
        "personality",
        "clone",
        "clone3",
        "socket",
        "io_uring_setup",
        "io_uring_enter",
        "userfaultfd",
        "perf_event_open",
        "open_by_handle_at",
        "kexec_load",
        "init_module",
        "chroot",
        "pivot_root",
        "swapon",
    ] {
        assert!(ALWAYS.binary_search(&n).is_err(), "{n}");
    }
    for n in [
        "read",
        "write",
        "execve",
        "openat",
        "clock_nanosleep",
        "exit_group",
    ] {
        assert!(ALWAYS.binary_search(&n).is_ok(), "{n}");
    }
}

#[test]
fn keywords_and_no_profile() {
    assert_eq!(verdict("unconfined"), Err(Refusal::Unconfined));
    // dockerd's default profile.
    assert_eq!(verdict(""), Ok(()));
    assert_eq!(verdict("builtin"), Ok(()));
    // Keywords are exact: anything else is JSON to dockerd.
    assert!(unreadable("Unconfined"));
    assert!(unreadable(" unconfined"));
    assert!(unreadable("custom"));
}

#[test]
fn null_and_empty_profiles_load_no_filter() {
    for v in [
        "null",
        " null",
        "\tnull\r\n",
        "{}",
        " { } ",
        r#"{"syscalls":[]}"#,
        r#"{"syscalls":null}"#,
        r#"{"defaultAction":null}"#,
        r#"{"defaultAction":""}"#,
        r#"{"comment":"x","architectures":["SCMP_ARCH_X86_64"]}"#,
    ] {
        assert_eq!(verdict(v), Err(Refusal::NoFilter), "{v:?}");
        // A listed digest does not make "no filter" a profile.
        assert_eq!(
            check_profile(v, &[digest(v)], AMD64),
            Err(Refusal::NoFilter),
            "{v:?}"
        );
    }
}

#[test]
fn what_dockerd_cannot_decode() {
    for v in [
        "[]",
        r#"[{"defaultAction":"SCMP_ACT_ERRNO"}]"#,
        r#""{\"defaultAction\":\"SCMP_ACT_ERRNO\"}""#,
        "1",
        "-0",
        "true",
        " ",
        "nul",
        "{not json",
        r#"{"defaultAction":"SCMP_ACT_ERRNO"} {}"#,
        r#"{"defaultAction":1}"#,
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":{}}"#,
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[null]}"#,
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[1]}"#,
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":"read"}]}"#,
        r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":-1}"#,
        r#"{"defaultAction":"SCMP_ACT_ERRNO","flags":"x"}"#,
        r#"{"defaultAction":"SCMP_ACT_ERRNO","archMap":[null]}"#,
    ] {
        assert!(unreadable(v), "{v:?}: {:?}", verdict(v));
    }
    for arg in [
        r#"{"index":-1,"value":0,"op":"SCMP_CMP_EQ"}"#,
        r#"{"index":0,"value":1.0,"op":"SCMP_CMP_EQ"}"#,
        r#"{"index":0,"value":1e3,"op":"SCMP_CMP_EQ"}"#,
        r#"{"index":0,"value":18446744073709551616,"op":"SCMP_CMP_EQ"}"#,
        r#"{"index":0,"value":"8","op":"SCMP_CMP_EQ"}"#,
        r#"{"index":0,"value":8,"op":"SCMP_CMP_eq"}"#,
        "null",
    ] {
        let v = allowing(&format!(
            r#"{{"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{arg}]}}"#
        ));
        assert!(unreadable(&v), "{arg}: {:?}", verdict(&v));
    }
    for k in [
        r#""4""#,
        r#""4.8.1""#,
        r#""0.0""#,
        r#""4.256""#,
        r#""a.b""#,
        "48",
        r#""+4.8""#,
    ] {
        let v = allowing(&format!(
            r#"{{"names":["ptrace"],"action":"SCMP_ACT_ALLOW","includes":{{"minKernel":{k}}}}}"#
        ));
        assert!(unreadable(&v), "{k}: {:?}", verdict(&v));
    }
}

#[test]
fn keys_fold_as_go_does() {
    // encoding/json matches keys case-insensitively.
    assert!(matches!(
        verdict(r#"{"DefaultAction":"SCMP_ACT_ALLOW"}"#),
        Err(Refusal::Weaker {
            what: Weakness::DefaultAction(_),
            ..
        })
    ));
    assert_eq!(
        verdict(
            r#"{"DEFAULTACTION":"SCMP_ACT_ERRNO","SYSCALLS":[{"NAMES":["read"],"ACTION":"SCMP_ACT_ALLOW"}]}"#
        ),
        Ok(())
    );
    assert_eq!(
        weak_syscall(
            r#"{"defaultaction":"SCMP_ACT_ERRNO","Syscalls":[{"Names":["unshare"],"Action":"SCMP_ACT_ALLOW"}]}"#,
            AMD64
        ),
        Some("unshare".into())
    );
    // Go keeps the last of duplicates; we refuse to guess.
    for v in [
            r#"{"defaultAction":"SCMP_ACT_ERRNO","DEFAULTACTION":"SCMP_ACT_ALLOW"}"#,
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultAction":"SCMP_ACT_ERRNO"}"#,
            // ſ (U+017F) folds onto s in Go: this is `syscalls`.
            "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"\u{17F}yscalls\":[{\"names\":[\"unshare\"],\"action\":\"SCMP_ACT_ALLOW\"}]}",
        ] {
            assert!(unreadable(v), "{v}: {:?}", verdict(v));
        }
}

#[test]
fn the_default_action_must_deny() {
    for a in [
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_TRAP",
    ] {
        assert_eq!(
            verdict(&format!(r#"{{"defaultAction":"{a}"}}"#)),
            Ok(()),
            "{a}"
        );
    }
    for a in [
        "SCMP_ACT_ALLOW",
        "SCMP_ACT_LOG",
        "SCMP_ACT_TRACE",
        "SCMP_ACT_NOTIFY",
        "scmp_act_errno",
        "SCMP_ACT_ERRNO ",
    ] {
        let v = format!(r#"{{"defaultAction":"{a}","syscalls":[]}}"#);
        assert_eq!(
            verdict(&v),
            Err(Refusal::Weaker {
                digest: digest(&v),
                what: Weakness::DefaultAction(a.into())
            }),
            "{a}"
        );
    }
    // A default of "" with syscalls is a filter without a denying default.
    assert!(matches!(
        verdict(r#"{"syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#),
        Err(Refusal::Weaker {
            what: Weakness::DefaultAction(_),
            ..
        })
    ));
}

#[test]
fn syscalls_beyond_the_default_profile() {
    for n in [
        "unshare",
        "mount",
        "keyctl",
        "add_key",
        "bpf",
        "ptrace",
        "setns",
        "io_uring_setup",
        "userfaultfd",
        "perf_event_open",
        "open_by_handle_at",
        "personality",
        "clone",
        "clone3",
        "socket",
        "UNSHARE",
    ] {
        for action in [
            "SCMP_ACT_ALLOW",
            "SCMP_ACT_LOG",
            "SCMP_ACT_TRACE",
            "SCMP_ACT_NOTIFY",
            "",
            "SCMP_ACT_WHATEVER",
        ] {
            let v = allowing(&format!(r#"{{"names":["{n}"],"action":"{action}"}}"#));
            assert_eq!(weak_syscall(&v, AMD64), Some(n.into()), "{n} {action}");
        }
        // `name` counts as much as `names`.
        let v = allowing(&format!(r#"{{"name":"{n}","action":"SCMP_ACT_ALLOW"}}"#));
        assert_eq!(weak_syscall(&v, AMD64), Some(n.into()), "{n}");
        // Rules that stop a syscall are fine.
        for action in ["SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_TRAP"] {
            let v = allowing(&format!(r#"{{"names":["{n}"],"action":"{action}"}}"#));
            assert_eq!(verdict(&v), Ok(()), "{n} {action}");
        }
    }
    // Anything Docker's default allows outright.
    let v = allowing(
        r#"{"names":["openat","execve","clock_nanosleep"],"action":"SCMP_ACT_LOG","args":[{"index":0,"value":1,"op":"SCMP_CMP_GT"}]}"#,
    );
    assert_eq!(verdict(&v), Ok(()));
    // Filter flags and listeners.
    let v = r#"{"defaultAction":"SCMP_ACT_ERRNO","flags":["SECCOMP_FILTER_FLAG_LOG"]}"#;
    assert_eq!(verdict(v), Ok(()));
    let v = r#"{"defaultAction":"SCMP_ACT_ERRNO","flags":["SECCOMP_FILTER_FLAG_SPEC_ALLOW"]}"#;
    assert!(matches!(
        verdict(v),
        Err(Refusal::Weaker {
            what: Weakness::Flag(_),
            ..
        })
    ));
    let v = r#"{"defaultAction":"SCMP_ACT_ERRNO","listenerPath":"/run/x.sock"}"#;
    assert!(matches!(
        verdict(v),
        Err(Refusal::Weaker {
            what: Weakness::Listener,
            ..
        })
    ));
}

#[test]
fn conditional_grants_of_the_default_profile() {
    let rule = |r: &str| allowing(r);
    let ok = |r: &str, arch| assert_eq!(on(&rule(r), arch), Ok(()), "{r} on {arch:?}");
    let weak = |r: &str, arch| assert!(weak_syscall(&rule(r), arch).is_some(), "{r} on {arch:?}");
    // Capability-gated grants count only for rules gated the same way.
    ok(
        r#"{"names":["mount","unshare","clone"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN"]}}"#,
        AMD64,
    );
    ok(
        r#"{"names":["ptrace"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_NET_ADMIN","CAP_SYS_PTRACE"]}}"#,
        AMD64,
    );
    weak(
        r#"{"names":["mount"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["SYS_ADMIN"]}}"#,
        AMD64,
    );
    weak(
        r#"{"names":["mount"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_PTRACE"]}}"#,
        AMD64,
    );
    weak(
        r#"{"names":["mount"],"action":"SCMP_ACT_ALLOW","excludes":{"caps":["CAP_SYS_ADMIN"]}}"#,
        AMD64,
    );
    // ptrace from kernel 4.8 on.
    ok(
        r#"{"names":["ptrace"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"4.8"}}"#,
        AMD64,
    );
    ok(
        r#"{"names":["ptrace"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"5.10"}}"#,
        AMD64,
    );
    weak(
        r#"{"names":["ptrace"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"4.7"}}"#,
        AMD64,
    );
    weak(
        r#"{"names":["ptrace"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":""}}"#,
        AMD64,
    );
    weak(
        r#"{"names":["ptrace"],"action":"SCMP_ACT_ALLOW","excludes":{"minKernel":"4.8"}}"#,
        AMD64,
    );
    // Argument-filtered grants: only with exactly the default's filter.
    ok(
        r#"{"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":8,"valueTwo":0,"op":"SCMP_CMP_EQ"}]}"#,
        AMD64,
    );
    ok(
        r#"{"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":4294967295,"op":"SCMP_CMP_EQ"}]}"#,
        AMD64,
    );
    weak(
        r#"{"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}]}"#,
        AMD64,
    );
    weak(
        r#"{"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":8,"op":"SCMP_CMP_GE"}]}"#,
        AMD64,
    );
    // Two conditions on one argument are two rules to runc (either matches).
    weak(
        r#"{"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"},{"index":0,"value":1,"op":"SCMP_CMP_EQ"}]}"#,
        AMD64,
    );
    let clone0 = r#"{"names":["clone"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":2114060288,"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"}]}"#;
    let clone1 = r#"{"names":["clone"],"action":"SCMP_ACT_ALLOW","args":[{"index":1,"value":2114060288,"op":"SCMP_CMP_MASKED_EQ"}]}"#;
    ok(clone0, AMD64);
    ok(clone0, Some("arm64"));
    // On s390 the flags are argument 1: masking argument 0 checks nothing.
    weak(clone0, Some("s390x"));
    ok(clone1, Some("s390x"));
    weak(clone1, AMD64);
    weak(
        r#"{"names":["clone"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":2080505856,"op":"SCMP_CMP_MASKED_EQ"}]}"#,
        AMD64,
    );
    weak(r#"{"names":["clone"],"action":"SCMP_ACT_ALLOW"}"#, AMD64);
    ok(
        r#"{"names":["socket"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":40,"op":"SCMP_CMP_NE"}]}"#,
        AMD64,
    );
    weak(r#"{"names":["socket"],"action":"SCMP_ACT_ALLOW"}"#, AMD64);
    // Architecture-gated grants, and rules dockerd drops on our arch.
    ok(
        r#"{"names":["arch_prctl","modify_ldt"],"action":"SCMP_ACT_ALLOW"}"#,
        AMD64,
    );
    weak(
        r#"{"names":["arch_prctl"],"action":"SCMP_ACT_ALLOW"}"#,
        Some("arm64"),
    );
    weak(
        r#"{"names":["arch_prctl"],"action":"SCMP_ACT_ALLOW"}"#,
        None,
    );
    ok(
        r#"{"names":["unshare"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["s390x"]}}"#,
        AMD64,
    );
    ok(
        r#"{"names":["unshare"],"action":"SCMP_ACT_ALLOW","excludes":{"arches":["amd64"]}}"#,
        AMD64,
    );
    weak(
        r#"{"names":["unshare"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["amd64"]}}"#,
        AMD64,
    );
    weak(
        r#"{"names":["unshare"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["s390x"]}}"#,
        None,
    );
}

#[test]
fn a_listed_digest_allows_exactly_that_profile() {
    let pretty = "{\n  \"defaultAction\": \"SCMP_ACT_ERRNO\",\n  \"syscalls\": [\n    {\"names\": [\"unshare\", \"a b\"], \"action\": \"SCMP_ACT_ALLOW\"}\n  ]\n}\n";
    let compacted = r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["unshare","a b"],"action":"SCMP_ACT_ALLOW"}]}"#;
    // The CLI compacts the file; the API may send it as written.
    assert_eq!(compact(pretty), compacted);
    assert_eq!(digest(pretty), digest(compacted));
    let d = digest(compacted);
    assert!(parse_digest(&d).is_some());
    let err = verdict(pretty).unwrap_err();
    assert_eq!(err.check(), "seccomp_profiles");
    let msg = err.to_string();
    assert!(
        msg.contains(&d) && msg.contains("unshare") && msg.contains("seccomp_profiles"),
        "{msg}"
    );
    assert_eq!(
        check_profile(pretty, std::slice::from_ref(&d), AMD64),
        Ok(())
    );
    assert_eq!(
        check_profile(
            compacted,
            &[d.to_ascii_uppercase().replace("SHA256", "sha256")],
            AMD64
        ),
        Ok(())
    );
    // Another profile, another digest.
    let other = compacted.replace("unshare", "mount");
    assert!(check_profile(&other, std::slice::from_ref(&d), AMD64).is_err());
    // Strings keep their spaces: a different profile.
    assert_ne!(digest(compacted), digest(&compacted.replace("a b", "ab")));
    // A listed permissive profile is the policy's choice.
    let allow = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["unshare"],"action":"SCMP_ACT_ERRNO"}]}"#;
    assert_eq!(check_profile(allow, &[digest(allow)], AMD64), Ok(()));
    for bad in ["sha256:abc", "sha512:0000", &d[7..], &format!("{d}0")] {
        assert_eq!(parse_digest(bad), None, "{bad}");
    }
}

#[test]
fn options_split_as_dockerd_splits_them() {
    assert_eq!(check_option("seccomp=null", &[]), Err(Refusal::NoFilter));
    assert_eq!(check_option("seccomp= null", &[]), Err(Refusal::NoFilter));
    assert_eq!(check_option("seccomp:null", &[]), Err(Refusal::NoFilter));
    assert_eq!(
        check_option("seccomp=unconfined", &[]),
        Err(Refusal::Unconfined)
    );
    assert_eq!(
        check_option("seccomp:unconfined", &[]),
        Err(Refusal::Unconfined)
    );
    assert_eq!(check_option("seccomp=builtin", &[]), Ok(()));
    assert_eq!(
        check_option(r#"seccomp={"defaultAction":"SCMP_ACT_ERRNO"}"#, &[]),
        Ok(())
    );
    // dockerd splits at the first '=' when there is one: the key is
    // then not `seccomp` and the option fails (or means something else).
    for o in [
        r#"seccomp:{"defaultAction":"SCMP_ACT_ERRNO","comment":"a=b"}"#,
        "Seccomp=null",
        " seccomp=null",
        "seccomp",
    ] {
        assert_eq!(check_option(o, &[]), Err(Refusal::Misread), "{o}");
    }
    assert_eq!(Refusal::NoFilter.check(), "unconfined");
    assert!(Refusal::NoFilter.to_string().contains("no seccomp filter"));
}
