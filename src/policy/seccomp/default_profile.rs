//! Docker's default seccomp profile, as the table of what it grants: the
//! syscalls always allowed, and those allowed only under a capability, an
//! architecture, a kernel version or argument values. `super` compares a
//! custom profile with it.

/// A capability that gates rules of the default profile, as profiles name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cap {
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
    pub(super) fn name(self) -> &'static str {
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
pub(super) enum Op {
    NotEqual,
    LessThan,
    LessOrEqual,
    Equal,
    GreaterOrEqual,
    GreaterThan,
    MaskedEqual,
}

impl Op {
    pub(super) fn parse(s: &str) -> Option<Op> {
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
pub(super) struct Arg {
    pub(super) index: u64,
    pub(super) value: u64,
    pub(super) value_two: u64,
    pub(super) op: Op,
}

/// What a rule does to the syscalls it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Action {
    /// ERRNO, KILL*, TRAP: the syscall does not run.
    Stops,
    /// ALLOW, LOG; TRACE and NOTIFY (a tracer or a supervisor decides);
    /// anything else we do not know.
    LetsRun,
}

impl Action {
    pub(super) fn of(s: &str) -> Action {
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
pub(super) enum Arches {
    Any,
    Only(&'static [&'static str]),
    Except(&'static [&'static str]),
}

/// A rule of Docker's default profile that allows syscalls only under a
/// condition: a capability in the bounding set, an architecture, a minimum
/// kernel, or argument values.
pub(super) struct Granted {
    pub(super) names: &'static [&'static str],
    pub(super) cap: Option<Cap>,
    pub(super) arches: Arches,
    pub(super) min_kernel: Option<(u8, u8)>,
    pub(super) args: &'static [Arg],
}

pub(super) const fn when_cap(cap: Cap, names: &'static [&'static str]) -> Granted {
    Granted {
        names,
        cap: Some(cap),
        arches: Arches::Any,
        min_kernel: None,
        args: &[],
    }
}

pub(super) const fn on(arches: &'static [&'static str], names: &'static [&'static str]) -> Granted {
    Granted {
        names,
        cap: None,
        arches: Arches::Only(arches),
        min_kernel: None,
        args: &[],
    }
}

pub(super) const fn with_arg(
    name: &'static [&'static str],
    arches: Arches,
    args: &'static [Arg],
) -> Granted {
    Granted {
        names: name,
        cap: None,
        arches,
        min_kernel: None,
        args,
    }
}

pub(super) const fn eq0(value: u64) -> Arg {
    Arg {
        index: 0,
        value,
        value_two: 0,
        op: Op::Equal,
    }
}

pub(super) const S390: &[&str] = &["s390", "s390x"];
/// CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET: clone is
/// allowed without CAP_SYS_ADMIN only when none of these bits is set (its
/// flags are argument 0, or 1 on s390).
pub(super) const CLONE_NEW_MASK: u64 = 0x7E02_0000;
pub(super) const AF_VSOCK: u64 = 40;

/// The default profile's conditional grants (both versions agree on these).
pub(super) const GRANTED: &[Granted] = &[
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
pub(super) const ALWAYS: &[&str] = &[
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
