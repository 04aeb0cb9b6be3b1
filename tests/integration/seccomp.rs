//! Issue 12, hole 1 and the seccomp defence in depth: custom seccomp
//! profiles against the real guarded daemon (examples/hardened.toml,
//! `unconfined = false`). The CLI reads the file and sends its JSON as
//! `seccomp=<profile>`; dockerd loads it into its profile type.

use crate::stack::{stack, unique};

/// Syscalls busybox and runc's final exec need, all of which Docker's
/// default profile allows unconditionally.
const BASIC: &[&str] = &[
    "access",
    "arch_prctl",
    "brk",
    "capget",
    "capset",
    "chdir",
    "close",
    "dup",
    "dup2",
    "dup3",
    "epoll_create1",
    "epoll_ctl",
    "epoll_pwait",
    "execve",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fchdir",
    "fchown",
    "fcntl",
    "fstat",
    "fstatfs",
    "futex",
    "getcwd",
    "getdents64",
    "getegid",
    "geteuid",
    "getgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getrandom",
    "gettid",
    "getuid",
    "ioctl",
    "lseek",
    "madvise",
    "mmap",
    "mprotect",
    "munmap",
    "nanosleep",
    "newfstatat",
    "open",
    "openat",
    "openat2",
    "pipe2",
    "prctl",
    "pread64",
    "prlimit64",
    "read",
    "readlink",
    "readlinkat",
    "rseq",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "sched_getaffinity",
    "sched_yield",
    "set_robust_list",
    "set_tid_address",
    "setgid",
    "setgroups",
    "setuid",
    "sigaltstack",
    "stat",
    "statfs",
    "statx",
    "tgkill",
    "uname",
    "wait4",
    "write",
    "writev",
];

fn profile(extra: &[&str]) -> String {
    let names: Vec<String> = BASIC
        .iter()
        .chain(extra)
        .map(|n| format!("{n:?}"))
        .collect();
    // Pretty-printed on purpose: the CLI compacts it before sending.
    format!(
        "{{\n  \"defaultAction\": \"SCMP_ACT_ERRNO\",\n  \"syscalls\": [\n    {{\"names\": [{}], \"action\": \"SCMP_ACT_ALLOW\"}}\n  ]\n}}\n",
        names.join(", ")
    )
}

#[test]
fn custom_seccomp_profiles() {
    let s = stack();
    let image = s.repo(&format!("seccomp/{}:v1", unique("app")));
    s.signed_image(&image);
    s.guarded(&["pull", &image]).allowed();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write profile");
        format!("seccomp={}", p.display())
    };
    let run = |opt: &str| {
        s.guarded(&[
            "run",
            "--rm",
            "--security-opt",
            opt,
            &image,
            "cat",
            "/proc/self/status",
        ])
    };
    // The `Seccomp:` line of the container's /proc/self/status.
    let mode = |out: &crate::stack::Run| {
        out.stdout
            .lines()
            .find(|l| l.starts_with("Seccomp:"))
            .unwrap_or_default()
            .to_string()
    };

    // Hole 1: a file holding `null` makes dockerd load no filter at all.
    // Before the fix this ran and printed `Seccomp: 0`.
    for text in ["null", " null\n"] {
        let out = run(&file(&unique("null"), text));
        assert!(!out.ok, "seccomp={text:?} ran a container ({})", mode(&out));
        out.denied("hardening");
        let t = out.text();
        assert!(
            t.contains("seccomp")
                && t.contains("no seccomp filter")
                && t.contains("[hardening] unconfined"),
            "{t}"
        );
    }

    // Through the API, with the blank dockerd's JSON decoder skips, and
    // under a case-folded key dockerd honours.
    for body in [
        format!(r#"{{"Image":"{image}","HostConfig":{{"SecurityOpt":["seccomp= null"]}}}}"#),
        format!(r#"{{"image":"{image}","hostconfig":{{"securityopt":["seccomp=\tnull"]}}}}"#),
    ] {
        crate::raw::assert_denied(
            &crate::raw::json(&s.guarded, "POST", "/v1.41/containers/create", &body),
            "no seccomp filter",
        );
    }

    // Defence in depth: denies by default, but lets `unshare` through.
    let unshare = profile(&["unshare"]);
    let out = run(&file("unshare.json", &unshare));
    assert!(!out.ok, "a profile allowing unshare ran ({})", mode(&out));
    out.denied("hardening");
    let t = out.text();
    assert!(
        t.contains("unshare") && t.contains("seccomp_profiles"),
        "{t}"
    );
    // The digest to list is the file's, though the CLI sent it compacted.
    let digest = img_authz::decide::seccomp_digest(&unshare);
    assert!(t.contains(&digest), "{digest} not in {t}");

    // A restrictive profile still runs, under a filter (mode 2).
    let out = run(&file("good.json", &profile(&[])));
    out.allowed();
    assert_eq!(mode(&out), "Seccomp:\t2");
}
