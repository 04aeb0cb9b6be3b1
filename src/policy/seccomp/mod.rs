//! Custom seccomp profiles: `--security-opt seccomp=<JSON>` (the CLI reads
//! the file and sends its JSON) and a service's custom profile.
//!
//! dockerd (20.10 and 28.5) takes the value after the first `=` (or, with no
//! `=`, the first `:`) of an option whose key is exactly `seccomp`; only
//! `unconfined` and (28.x) `builtin` are keywords, an empty value means the
//! default profile, and everything else goes through `json.Unmarshal` into
//! its profile type. `null`, `{}` or a profile with neither a default action
//! nor syscalls decode to a profile that makes dockerd install no filter at
//! all. So we read the JSON the way Go does (keys folded, last duplicate
//! wins, which [`Struct`] refuses to guess) and allow a profile only if:
//! - it is an object that installs a filter whose default action denies, and
//! - every rule that lets a syscall run (allow, log, trace, notify, anything
//!   unknown) lets through no more than Docker's default profile does, or
//! - its digest is listed in `[hardening] seccomp_profiles`.
//!
//! Docker's default is taken as what both dockerd 20.10.24's and 28.5's
//! default profiles grant (28.x dropped io_uring and AF_VSOCK sockets; 20.10
//! lacks the newest syscalls), on the architecture we run on (dockerd's).

use sha2::{Digest, Sha256};

use crate::request::json::{parse, JsonError, Struct, Value};

/// Why a seccomp option is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `seccomp=unconfined`.
    Unconfined,
    /// dockerd would not take this option as `seccomp=<value>` (another
    /// separator splits it first, or the key differs): it fails or means
    /// something else, and we do not guess which.
    Misread,
    /// JSON that dockerd turns into no filter at all (`null`, `{}`, ...).
    NoFilter,
    /// JSON dockerd cannot decode into its profile type.
    Unreadable(String),
    /// A readable profile that confines less than Docker's default; listing
    /// its digest allows it.
    Weaker { digest: String, what: Weakness },
}

/// How a profile confines less than Docker's default one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Weakness {
    /// `defaultAction` lets unlisted syscalls run.
    DefaultAction(String),
    /// A rule lets a syscall run that the default does not allow this way.
    Syscall { name: String, action: String },
    /// A filter flag other than logging.
    Flag(String),
    /// `listenerPath`/`listenerMetadata`: syscalls handed to a host socket.
    Listener,
}

impl Refusal {
    /// The `[hardening]` key that governs this refusal.
    pub fn check(&self) -> &'static str {
        match self {
            Refusal::Weaker { .. } => "seccomp_profiles",
            _ => "unconfined",
        }
    }
}

/// Noun phrases: the caller says they are not allowed.
impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Unconfined => {
                f.write_str("seccomp=unconfined, which runs the container with no seccomp filter")
            }
            Refusal::Misread => {
                f.write_str("a seccomp option dockerd would not read as seccomp=<profile>")
            }
            Refusal::NoFilter => f.write_str(
                "a seccomp profile that is null or has neither defaultAction nor syscalls, \
                 with which dockerd runs the container under no seccomp filter at all",
            ),
            Refusal::Unreadable(e) => write!(f, "a seccomp profile dockerd cannot decode ({e})"),
            Refusal::Weaker { digest, what } => {
                let what = match what {
                    Weakness::DefaultAction(a) => {
                        format!("lets every syscall it does not list run (defaultAction {a:?})")
                    }
                    Weakness::Syscall { name, action } => {
                        format!("lets syscall {name} run ({action:?})")
                    }
                    Weakness::Flag(x) => format!("sets the filter flag {x:?}"),
                    Weakness::Listener => {
                        "hands syscalls to a listener socket (listenerPath)".into()
                    }
                };
                write!(
                    f,
                    "the seccomp profile {digest}, which {what} where Docker's default profile \
                     does not (to allow exactly this profile, list \"{digest}\" in [hardening] \
                     seccomp_profiles)"
                )
            }
        }
    }
}

/// A capability that gates rules of the default profile, as profiles name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cap {
    DacReadSearch,
    SysAdmin,
    SysBoot,
    SysChroot,
    SysModule,
    SysPacct,
    SysPtrace,
    SysRawio,
    SysTime,
    SysTtyConfig,
    SysNice,
    Syslog,
}

impl Cap {
    fn name(self) -> &'static str {
        match self {
            Cap::DacReadSearch => "CAP_DAC_READ_SEARCH",
            Cap::SysAdmin => "CAP_SYS_ADMIN",
            Cap::SysBoot => "CAP_SYS_BOOT",
            Cap::SysChroot => "CAP_SYS_CHROOT",
            Cap::SysModule => "CAP_SYS_MODULE",
            Cap::SysPacct => "CAP_SYS_PACCT",
            Cap::SysPtrace => "CAP_SYS_PTRACE",
            Cap::SysRawio => "CAP_SYS_RAWIO",
            Cap::SysTime => "CAP_SYS_TIME",
            Cap::SysTtyConfig => "CAP_SYS_TTY_CONFIG",
            Cap::SysNice => "CAP_SYS_NICE",
            Cap::Syslog => "CAP_SYSLOG",
        }
    }
}

/// libseccomp's argument comparisons (runc rejects any other name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    NotEqual,
    LessThan,
    LessOrEqual,
    Equal,
    GreaterOrEqual,
    GreaterThan,
    MaskedEqual,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "SCMP_CMP_NE" => Op::NotEqual,
            "SCMP_CMP_LT" => Op::LessThan,
            "SCMP_CMP_LE" => Op::LessOrEqual,
            "SCMP_CMP_EQ" => Op::Equal,
            "SCMP_CMP_GE" => Op::GreaterOrEqual,
            "SCMP_CMP_GT" => Op::GreaterThan,
            "SCMP_CMP_MASKED_EQ" => Op::MaskedEqual,
            _ => return None,
        })
    }
}

/// One argument condition of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Arg {
    index: u64,
    value: u64,
    value_two: u64,
    op: Op,
}

/// What a rule does to the syscalls it names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    /// ERRNO, KILL*, TRAP: the syscall does not run.
    Stops,
    /// ALLOW, LOG; TRACE and NOTIFY (a tracer or a supervisor decides);
    /// anything else we do not know.
    LetsRun,
}

impl Action {
    fn of(s: &str) -> Action {
        match s {
            "SCMP_ACT_ERRNO"
            | "SCMP_ACT_KILL"
            | "SCMP_ACT_KILL_PROCESS"
            | "SCMP_ACT_KILL_THREAD"
            | "SCMP_ACT_TRAP" => Action::Stops,
            _ => Action::LetsRun,
        }
    }
}

/// Where a rule of the default profile applies (its `arches` filters).
#[derive(Debug, Clone, Copy)]
enum Arches {
    Any,
    Only(&'static [&'static str]),
    Except(&'static [&'static str]),
}

/// A rule of Docker's default profile that allows syscalls only under a
/// condition: a capability in the bounding set, an architecture, a minimum
/// kernel, or argument values.
struct Granted {
    names: &'static [&'static str],
    cap: Option<Cap>,
    arches: Arches,
    min_kernel: Option<(u8, u8)>,
    args: &'static [Arg],
}

const fn when_cap(cap: Cap, names: &'static [&'static str]) -> Granted {
    Granted {
        names,
        cap: Some(cap),
        arches: Arches::Any,
        min_kernel: None,
        args: &[],
    }
}

const fn on(arches: &'static [&'static str], names: &'static [&'static str]) -> Granted {
    Granted {
        names,
        cap: None,
        arches: Arches::Only(arches),
        min_kernel: None,
        args: &[],
    }
}

const fn with_arg(name: &'static [&'static str], arches: Arches, args: &'static [Arg]) -> Granted {
    Granted {
        names: name,
        cap: None,
        arches,
        min_kernel: None,
        args,
    }
}

const fn eq0(value: u64) -> Arg {
    Arg {
        index: 0,
        value,
        value_two: 0,
        op: Op::Equal,
    }
}

const S390: &[&str] = &["s390", "s390x"];
/// CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET: clone is
/// allowed without CAP_SYS_ADMIN only when none of these bits is set (its
/// flags are argument 0, or 1 on s390).
const CLONE_NEW_MASK: u64 = 0x7E02_0000;
const AF_VSOCK: u64 = 40;

/// The default profile's conditional grants (both versions agree on these).
const GRANTED: &[Granted] = &[
    Granted {
        names: &["ptrace"],
        cap: None,
        arches: Arches::Any,
        min_kernel: Some((4, 8)),
        args: &[],
    },
    // 28.x: any socket but AF_VSOCK (20.10 allowed every family).
    with_arg(
        &["socket"],
        Arches::Any,
        &[Arg {
            index: 0,
            value: AF_VSOCK,
            value_two: 0,
            op: Op::NotEqual,
        }],
    ),
    // personality(PER_LINUX), (PER_LINUX32), (UNAME26), (UNAME26|PER_LINUX32), query.
    with_arg(&["personality"], Arches::Any, &[eq0(0x0)]),
    with_arg(&["personality"], Arches::Any, &[eq0(0x8)]),
    with_arg(&["personality"], Arches::Any, &[eq0(0x2_0000)]),
    with_arg(&["personality"], Arches::Any, &[eq0(0x2_0008)]),
    with_arg(&["personality"], Arches::Any, &[eq0(0xFFFF_FFFF)]),
    with_arg(
        &["clone"],
        Arches::Except(S390),
        &[Arg {
            index: 0,
            value: CLONE_NEW_MASK,
            value_two: 0,
            op: Op::MaskedEqual,
        }],
    ),
    with_arg(
        &["clone"],
        Arches::Only(S390),
        &[Arg {
            index: 1,
            value: CLONE_NEW_MASK,
            value_two: 0,
            op: Op::MaskedEqual,
        }],
    ),
    on(&["ppc64le"], &["sync_file_range2"]),
    on(
        &["arm", "arm64"],
        &[
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "sync_file_range2",
            "breakpoint",
            "cacheflush",
            "set_tls",
        ],
    ),
    on(&["amd64", "x32"], &["arch_prctl"]),
    on(&["amd64", "x32", "x86"], &["modify_ldt"]),
    on(
        S390,
        &[
            "s390_pci_mmio_read",
            "s390_pci_mmio_write",
            "s390_runtime_instr",
        ],
    ),
    when_cap(Cap::DacReadSearch, &["open_by_handle_at"]),
    when_cap(
        Cap::SysAdmin,
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "name_to_handle_at",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    when_cap(Cap::SysBoot, &["reboot"]),
    when_cap(Cap::SysChroot, &["chroot"]),
    when_cap(
        Cap::SysModule,
        &["delete_module", "init_module", "finit_module"],
    ),
    when_cap(Cap::SysPacct, &["acct"]),
    when_cap(
        Cap::SysPtrace,
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
    ),
    when_cap(Cap::SysRawio, &["iopl", "ioperm"]),
    when_cap(Cap::SysTime, &["settimeofday", "stime", "clock_settime"]),
    when_cap(Cap::SysTtyConfig, &["vhangup"]),
    when_cap(Cap::SysNice, &["get_mempolicy", "mbind", "set_mempolicy"]),
    when_cap(Cap::Syslog, &["syslog"]),
];

/// Syscalls the default profile allows with no condition (sorted, for
/// binary search). Not in it, among others: unshare, setns, mount, bpf,
/// keyctl, add_key, request_key, ptrace, personality, clone, clone3,
/// io_uring_*, userfaultfd, perf_event_open, open_by_handle_at, kexec_*.
#[rustfmt::skip]
const ALWAYS: &[&str] = &[
    "_llseek", "_newselect", "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk",
    "capget", "capset", "chdir", "chmod", "chown", "chown32", "clock_adjtime",
    "clock_adjtime64", "clock_getres", "clock_getres_time64", "clock_gettime",
    "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "close", "close_range",
    "connect", "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create",
    "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait",
    "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat", "exit", "exit_group",
    "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate", "fanotify_mark",
    "fchdir", "fchmod", "fchmodat", "fchown", "fchown32", "fchownat", "fcntl", "fcntl64",
    "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr",
    "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
    "ftruncate64", "futex", "futex_time64", "futex_waitv", "futimesat", "get_robust_list",
    "get_thread_area", "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32",
    "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getitimer",
    "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom",
    "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "getrusage", "getsid",
    "getsockname", "getsockopt", "gettid", "gettimeofday", "getuid", "getuid32", "getxattr",
    "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel",
    "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64", "io_setup",
    "io_submit", "ioctl", "ioprio_get", "ioprio_set", "ipc", "kill", "landlock_add_rule",
    "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lchown32", "lgetxattr",
    "link", "linkat", "listen", "listxattr", "llistxattr", "lremovexattr", "lseek",
    "lsetxattr", "lstat", "lstat64", "madvise", "membarrier", "memfd_create", "memfd_secret",
    "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap",
    "mmap2", "mprotect", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive",
    "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "mremap",
    "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap",
    "nanosleep", "newfstatat", "open", "openat", "openat2", "pause", "pidfd_open",
    "pidfd_send_signal", "pipe", "pipe2", "poll", "ppoll", "ppoll_time64", "prctl", "pread64",
    "preadv", "preadv2", "prlimit64", "process_mrelease", "pselect6", "pselect6_time64",
    "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv",
    "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages",
    "removexattr", "rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq",
    "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn",
    "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo",
    "sched_get_priority_max", "sched_get_priority_min", "sched_getaffinity", "sched_getattr",
    "sched_getparam", "sched_getscheduler", "sched_rr_get_interval",
    "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr", "sched_setparam",
    "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl", "semget", "semop",
    "semtimedop", "semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg", "sendmsg",
    "sendto", "set_robust_list", "set_thread_area", "set_tid_address", "setfsgid",
    "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32",
    "setitimer", "setpgid", "setpriority", "setregid", "setregid32", "setresgid",
    "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32", "setrlimit", "setsid",
    "setsockopt", "setuid", "setuid32", "setxattr", "shmat", "shmctl", "shmdt", "shmget",
    "shutdown", "sigaltstack", "signalfd", "signalfd4", "sigprocmask", "sigreturn",
    "socketcall", "socketpair", "splice", "stat", "stat64", "statfs", "statfs64", "statx",
    "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill",
    "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
    "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime",
    "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate",
    "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "utime", "utimensat",
    "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write",
    "writev",
];

/// The libseccomp name of the architecture we (and dockerd, on the same
/// host) run on, as profiles' `arches` filters name it.
fn native_arch() -> Option<&'static str> {
    match std::env::consts::ARCH {
        "x86_64" => Some("amd64"),
        "x86" => Some("x86"),
        "aarch64" => Some("arm64"),
        "arm" => Some("arm"),
        "s390x" => Some("s390x"),
        "powerpc64" if cfg!(target_endian = "little") => Some("ppc64le"),
        _ => None,
    }
}

/// A syscall rule of a profile, as far as the decision needs it.
#[derive(Debug, Default)]
struct Rule {
    names: Vec<String>,
    action: String,
    args: Vec<Arg>,
    include_caps: Vec<String>,
    include_arches: Vec<String>,
    exclude_arches: Vec<String>,
    /// `includes.minKernel`: the rule applies only from this kernel on.
    min_kernel: Option<(u8, u8)>,
}

impl Rule {
    /// Whether dockerd keeps the rule on `arch` (unknown: assume it does).
    fn applies_on(&self, arch: Option<&str>) -> bool {
        let Some(arch) = arch else { return true };
        !self.exclude_arches.iter().any(|a| a == arch)
            && (self.include_arches.is_empty() || self.include_arches.iter().any(|a| a == arch))
    }

    /// Whether the default profile lets `name` run whenever this rule does.
    fn within_default(&self, name: &str, arch: Option<&str>) -> bool {
        if ALWAYS.binary_search(&name).is_ok() {
            return true;
        }
        GRANTED.iter().any(|g| {
            g.names.contains(&name)
                && match (g.arches, arch) {
                    (Arches::Any, _) => true,
                    (Arches::Only(l), Some(a)) => l.contains(&a),
                    (Arches::Except(l), Some(a)) => !l.contains(&a),
                    (_, None) => false,
                }
                // Our rule fires only when every cap it includes is held.
                && g.cap.is_none_or(|c| self.include_caps.iter().any(|x| x == c.name()))
                && g.min_kernel.is_none_or(|k| self.min_kernel.is_some_and(|m| m >= k))
                && (g.args.is_empty() || {
                    let mut mine = self.args.clone();
                    mine.sort();
                    mine == g.args
                })
        })
    }
}

/// A readable profile, as far as the decision needs it.
#[derive(Debug, Default)]
struct Profile {
    default_action: String,
    flags: Vec<String>,
    listener: bool,
    rules: Vec<Rule>,
}

fn unreadable(e: JsonError) -> Refusal {
    Refusal::Unreadable(e.to_string())
}

fn bad(field: &str, expected: &str) -> Refusal {
    Refusal::Unreadable(format!("{field} must be {expected}"))
}

/// A Go unsigned integer field: a JSON integer literal (no sign, fraction
/// or exponent) that fits 64 bits, or null (zero / nil).
fn uint(s: &Struct<'_>, field: &str) -> Result<u64, Refusal> {
    match s.field(field).map_err(unreadable)? {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n
            .parse::<u64>()
            .map_err(|_| bad(field, "an unsigned integer")),
        Some(_) => Err(bad(field, "an unsigned integer")),
    }
}

/// `KernelVersion.UnmarshalJSON`: "<kernel>.<major>", each below 256, not
/// 0.0; "" is a present 0.0 (which every kernel satisfies).
fn kernel(s: &Struct<'_>, field: &str) -> Result<Option<(u8, u8)>, Refusal> {
    let v = match s.field(field).map_err(unreadable)? {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(v)) => v,
        Some(_) => return Err(bad(field, "a string")),
    };
    if v.is_empty() {
        return Ok(Some((0, 0)));
    }
    let num = |p: &str| {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse::<u8>().ok()
    };
    let mut parts = v.splitn(3, '.');
    match (
        parts.next().and_then(num),
        parts.next().and_then(num),
        parts.next(),
    ) {
        (Some(k), Some(m), None) if (k, m) != (0, 0) => Ok(Some((k, m))),
        _ => Err(bad(field, "\"<kernel>.<major>\"")),
    }
}

/// Every element of an array of objects; null elements are nil pointers
/// that dockerd 20.10 dereferences, so they are refused.
fn objects<'a>(s: &Struct<'a>, field: &str) -> Result<Vec<Struct<'a>>, Refusal> {
    match s.field(field).map_err(unreadable)? {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match Struct::of(field, v) {
                Ok(Some(o)) => Ok(o),
                Ok(None) => Err(bad(field, "an array without null elements")),
                Err(e) => Err(unreadable(e)),
            })
            .collect(),
        Some(_) => Err(bad(field, "an array of objects")),
    }
}

fn rule(s: &Struct<'_>) -> Result<Rule, Refusal> {
    let mut r = Rule {
        names: s.strings("names").map_err(unreadable)?,
        action: s.string("action").map_err(unreadable)?,
        ..Rule::default()
    };
    // dockerd refuses `name` together with `names`; either way both count.
    let name = s.string("name").map_err(unreadable)?;
    if !name.is_empty() {
        r.names.push(name);
    }
    uint(s, "errnoRet")?;
    for a in objects(s, "args")? {
        let op = a.string("op").map_err(unreadable)?;
        r.args.push(Arg {
            index: uint(&a, "index")?,
            value: uint(&a, "value")?,
            value_two: uint(&a, "valueTwo")?,
            // runc refuses an unknown comparison; it matches no grant.
            op: Op::parse(&op).ok_or_else(|| bad("args.op", "a SCMP_CMP_* comparison"))?,
        });
    }
    if let Some(inc) = s.sub("includes").map_err(unreadable)? {
        r.include_caps = inc.strings("caps").map_err(unreadable)?;
        r.include_arches = inc.strings("arches").map_err(unreadable)?;
        r.min_kernel = kernel(&inc, "minKernel")?;
    }
    if let Some(exc) = s.sub("excludes").map_err(unreadable)? {
        // Excluded caps and kernels only ever drop the rule; we assume it stays.
        exc.strings("caps").map_err(unreadable)?;
        r.exclude_arches = exc.strings("arches").map_err(unreadable)?;
        kernel(&exc, "minKernel")?;
    }
    Ok(r)
}

/// Decode `text` as dockerd's `json.Unmarshal` into its profile type would.
fn decode(text: &str) -> Result<Profile, Refusal> {
    let doc = parse(text.as_bytes()).map_err(unreadable)?;
    let root = match Struct::root(&doc) {
        Ok(Some(r)) => r,
        Ok(None) => return Err(Refusal::NoFilter),
        Err(JsonError::Type { .. }) => {
            return Err(Refusal::Unreadable(format!(
                "{} is not a profile object",
                doc.kind()
            )))
        }
        Err(e) => return Err(unreadable(e)),
    };
    let mut p = Profile {
        default_action: root.string("defaultAction").map_err(unreadable)?,
        flags: root.strings("flags").map_err(unreadable)?,
        listener: !root.string("listenerPath").map_err(unreadable)?.is_empty()
            || !root
                .string("listenerMetadata")
                .map_err(unreadable)?
                .is_empty(),
        rules: Vec::new(),
    };
    uint(&root, "defaultErrnoRet")?;
    root.strings("architectures").map_err(unreadable)?;
    for a in objects(&root, "archMap")? {
        a.string("architecture").map_err(unreadable)?;
        a.strings("subArchitectures").map_err(unreadable)?;
    }
    let syscalls = objects(&root, "syscalls")?;
    // setupSeccomp: no default action and no syscalls means no filter.
    if p.default_action.is_empty() && syscalls.is_empty() {
        return Err(Refusal::NoFilter);
    }
    for s in &syscalls {
        p.rules.push(rule(s)?);
    }
    Ok(p)
}

/// Go's `json.Compact` (what the CLI sends for a profile file): the text
/// without whitespace outside strings. `text` is valid JSON.
fn compact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_str, mut escaped) = (false, false);
    for c in text.chars() {
        if in_str {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
        } else if c == '"' {
            in_str = true;
        } else if matches!(c, ' ' | '\t' | '\n' | '\r') {
            continue;
        }
        out.push(c);
    }
    out
}

/// The digest a policy lists to allow a profile: sha256 of its compacted
/// JSON, so that a file given to `docker run` and the same profile sent
/// pretty-printed through the API have one digest.
pub fn digest(text: &str) -> String {
    let d = Sha256::digest(compact(text).as_bytes());
    let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// A well-formed digest for `seccomp_profiles`, lower-cased.
pub fn parse_digest(s: &str) -> Option<String> {
    let hex = s.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| format!("sha256:{}", hex.to_ascii_lowercase()))
}

/// A seccomp security option (`seccomp=...` or `seccomp:...`, whole), as
/// dockerd's parseSecurityOpt splits it. `allowed`: listed digests.
pub fn check_option(opt: &str, allowed: &[String]) -> Result<(), Refusal> {
    let split = if opt.contains('=') {
        opt.split_once('=')
    } else {
        opt.split_once(':')
    };
    match split {
        Some(("seccomp", v)) => check_profile(v, allowed, native_arch()),
        _ => Err(Refusal::Misread),
    }
}

/// A seccomp option's value (the profile), on architecture `arch`.
fn check_profile(v: &str, allowed: &[String], arch: Option<&str>) -> Result<(), Refusal> {
    match v {
        "unconfined" => return Err(Refusal::Unconfined),
        // No profile: dockerd's default; `builtin` names it on 28.x (and
        // fails to decode on 20.10).
        "" | "builtin" => return Ok(()),
        _ => {}
    }
    let p = decode(v)?;
    let digest = digest(v);
    if allowed.iter().any(|a| a.eq_ignore_ascii_case(&digest)) {
        return Ok(());
    }
    let weaker = |what| {
        Err(Refusal::Weaker {
            digest: digest.clone(),
            what,
        })
    };
    if Action::of(&p.default_action) != Action::Stops {
        return weaker(Weakness::DefaultAction(p.default_action));
    }
    if let Some(f) = p.flags.iter().find(|f| *f != "SECCOMP_FILTER_FLAG_LOG") {
        return weaker(Weakness::Flag(f.clone()));
    }
    if p.listener {
        return weaker(Weakness::Listener);
    }
    for r in &p.rules {
        if Action::of(&r.action) == Action::Stops || !r.applies_on(arch) {
            continue;
        }
        if let Some(n) = r.names.iter().find(|n| !r.within_default(n, arch)) {
            return weaker(Weakness::Syscall {
                name: n.clone(),
                action: r.action.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
