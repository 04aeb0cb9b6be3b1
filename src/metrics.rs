//! Prometheus metrics: decisions by action and outcome, decision latency,
//! cache hits and misses, and calls to upstream services.
//!
//! One plugin runs per process, so the figures live in a process-wide
//! registry of atomics; recording costs a few nanoseconds.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, OnceLock};
use std::time::Duration;

/// Bucket upper bounds, in seconds.
const BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
];

/// A latency histogram.
pub struct Histogram {
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    fn new() -> Histogram {
        Histogram {
            buckets: BUCKETS.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        if let Some((_, c)) = BUCKETS.iter().zip(&self.buckets).find(|(b, _)| s <= **b) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cum = 0;
        let sep = if labels.is_empty() { "" } else { "," };
        for (b, c) in BUCKETS.iter().zip(&self.buckets) {
            cum += c.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {cum}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

/// Which service a call went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Upstream {
    Notary,
    Registry,
    Daemon,
}

impl Upstream {
    /// This upstream's entry in a per-upstream array (constant indices: no panic).
    fn slot<T>(self, a: &[T; 3]) -> &T {
        match self {
            Upstream::Notary => &a[0],
            Upstream::Registry => &a[1],
            Upstream::Daemon => &a[2],
        }
    }

    fn name(self) -> &'static str {
        match self {
            Upstream::Notary => "notary",
            Upstream::Registry => "registry",
            Upstream::Daemon => "daemon",
        }
    }
}

/// A decision counter's key: (action, decision, rule).
type Key = (&'static str, &'static str, &'static str);

/// Decision counters without a lock: a fixed open-addressing table whose
/// slots are claimed once (`OnceLock`) and then only counted (`AtomicU64`).
/// The keys are a small closed set (action kinds × outcomes × rules, all
/// `&'static str`); should the table ever fill, the rest go to a mutexed map.
struct Counters {
    slots: Vec<(OnceLock<Key>, AtomicU64)>,
    overflow: Mutex<BTreeMap<Key, u64>>,
}

/// Slots in the decision table: well above the keys a process sees.
const SLOTS: usize = 512;

impl Counters {
    fn new() -> Counters {
        Counters {
            slots: (0..SLOTS)
                .map(|_| (OnceLock::new(), AtomicU64::new(0)))
                .collect(),
            overflow: Mutex::new(BTreeMap::new()),
        }
    }

    fn add(&self, k: Key) {
        // FNV-1a over the key's text: cheap, and equal keys hash equally
        // whatever their addresses.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for part in [k.0, k.1, k.2] {
            for b in part.bytes().chain([0]) {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
        }
        let start = usize::try_from(h % SLOTS as u64).unwrap_or(0);
        for i in 0..SLOTS {
            let Some((key, n)) = self.slots.get((start + i) % SLOTS) else {
                break;
            };
            if *key.get_or_init(|| k) == k {
                n.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        if let Ok(mut m) = self.overflow.lock() {
            *m.entry(k).or_insert(0) += 1;
        }
    }

    fn snapshot(&self) -> BTreeMap<Key, u64> {
        let mut out = self.overflow.lock().map(|m| m.clone()).unwrap_or_default();
        for (key, n) in &self.slots {
            if let Some(k) = key.get() {
                *out.entry(*k).or_insert(0) += n.load(Ordering::Relaxed);
            }
        }
        out
    }
}

pub struct Metrics {
    decisions: Counters,
    latency: Histogram,
    upstream_ok: [AtomicU64; 3],
    upstream_err: [AtomicU64; 3],
    upstream_latency: [Histogram; 3],
}

/// The process-wide metrics.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(|| Metrics {
    decisions: Counters::new(),
    latency: Histogram::new(),
    upstream_ok: Default::default(),
    upstream_err: Default::default(),
    upstream_latency: [Histogram::new(), Histogram::new(), Histogram::new()],
});

/// Cache figures supplied by whoever owns the caches (`trust` owns them
/// and defines the type; metrics only renders it).
pub use crate::trust::cache::CacheStats as CacheFigures;

impl Metrics {
    /// One decision of the request phase.
    pub fn decision(
        &self,
        action: &'static str,
        d: &'static str,
        rule: &'static str,
        took: Duration,
    ) {
        self.decisions.add((action, d, rule));
        self.latency.observe(took);
    }

    /// One call to an upstream service.
    pub fn upstream(&self, u: Upstream, ok: bool, took: Duration) {
        if ok {
            u.slot(&self.upstream_ok).fetch_add(1, Ordering::Relaxed);
        } else {
            u.slot(&self.upstream_err).fetch_add(1, Ordering::Relaxed);
        }
        u.slot(&self.upstream_latency).observe(took);
    }

    /// Decisions so far, by (action, decision, rule).
    pub fn decisions(&self) -> BTreeMap<(&'static str, &'static str, &'static str), u64> {
        self.decisions.snapshot()
    }

    /// Prometheus text exposition format.
    pub fn render(&self, caches: &[CacheFigures]) -> String {
        let mut out = String::new();
        out.push_str("# HELP img_authz_decisions_total Authorization decisions, by action, decision and rule.\n");
        out.push_str("# TYPE img_authz_decisions_total counter\n");
        for ((a, d, r), n) in self.decisions() {
            let _ = writeln!(
                out,
                "img_authz_decisions_total{{action=\"{a}\",decision=\"{d}\",rule=\"{r}\"}} {n}"
            );
        }
        out.push_str("# HELP img_authz_decision_seconds Time to decide one request.\n");
        out.push_str("# TYPE img_authz_decision_seconds histogram\n");
        self.latency
            .render(&mut out, "img_authz_decision_seconds", "");
        out.push_str(
            "# HELP img_authz_cache_hits_total Cache hits (including waits on a shared fetch).\n",
        );
        out.push_str("# TYPE img_authz_cache_hits_total counter\n");
        for c in caches {
            let _ = writeln!(
                out,
                "img_authz_cache_hits_total{{cache=\"{}\"}} {}",
                c.name, c.hits
            );
        }
        out.push_str("# HELP img_authz_cache_misses_total Cache misses.\n");
        out.push_str("# TYPE img_authz_cache_misses_total counter\n");
        for c in caches {
            let _ = writeln!(
                out,
                "img_authz_cache_misses_total{{cache=\"{}\"}} {}",
                c.name, c.misses
            );
        }
        out.push_str("# HELP img_authz_cache_entries Entries held.\n");
        out.push_str("# TYPE img_authz_cache_entries gauge\n");
        for c in caches {
            let _ = writeln!(
                out,
                "img_authz_cache_entries{{cache=\"{}\"}} {}",
                c.name, c.entries
            );
        }
        out.push_str("# HELP img_authz_upstream_requests_total Calls to notary servers, registries and dockerd.\n");
        out.push_str("# TYPE img_authz_upstream_requests_total counter\n");
        for u in [Upstream::Notary, Upstream::Registry, Upstream::Daemon] {
            let n = u.name();
            let _ = writeln!(
                out,
                "img_authz_upstream_requests_total{{upstream=\"{n}\",outcome=\"ok\"}} {}",
                u.slot(&self.upstream_ok).load(Ordering::Relaxed)
            );
            let _ = writeln!(
                out,
                "img_authz_upstream_requests_total{{upstream=\"{n}\",outcome=\"error\"}} {}",
                u.slot(&self.upstream_err).load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP img_authz_upstream_seconds Latency of calls to upstream services.\n");
        out.push_str("# TYPE img_authz_upstream_seconds histogram\n");
        for u in [Upstream::Notary, Upstream::Registry, Upstream::Daemon] {
            u.slot(&self.upstream_latency).render(
                &mut out,
                "img_authz_upstream_seconds",
                &format!("upstream=\"{}\"", u.name()),
            );
        }
        crate::log::writer::render(&mut out);
        crate::log::ship::STATS.render(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics {
            decisions: Counters::new(),
            latency: Histogram::new(),
            upstream_ok: Default::default(),
            upstream_err: Default::default(),
            upstream_latency: [Histogram::new(), Histogram::new(), Histogram::new()],
        };
        m.decision("pull", "deny", "signature", Duration::from_micros(300));
        m.decision("pull", "deny", "signature", Duration::from_millis(3));
        m.upstream(Upstream::Notary, false, Duration::from_millis(40));
        let text = m.render(&[CacheFigures {
            name: "notary",
            entries: 2,
            hits: 5,
            misses: 1,
        }]);
        assert!(text.contains(
            "img_authz_decisions_total{action=\"pull\",decision=\"deny\",rule=\"signature\"} 2"
        ));
        assert!(text.contains("img_authz_decision_seconds_bucket{le=\"0.0005\"} 1"));
        assert!(text.contains("img_authz_decision_seconds_bucket{le=\"+Inf\"} 2"));
        assert!(text.contains("img_authz_decision_seconds_count 2"));
        assert!(text.contains("img_authz_cache_hits_total{cache=\"notary\"} 5"));
        assert!(text.contains(
            "img_authz_upstream_requests_total{upstream=\"notary\",outcome=\"error\"} 1"
        ));
        assert!(
            text.contains("img_authz_upstream_seconds_bucket{upstream=\"notary\",le=\"0.05\"} 1")
        );
    }

    /// Every key keeps its own count, from many threads at once, and keys
    /// beyond the table's slots still count (in the overflow map).
    #[test]
    fn decision_counts_are_exact_under_contention() {
        let c = Counters::new();
        // More distinct keys than slots: leaked strings, test only.
        let keys: Vec<Key> = (0..SLOTS + 40)
            .map(|i| {
                let a: &'static str = Box::leak(format!("a{}", i % 7).into_boxed_str());
                let r: &'static str = Box::leak(format!("r{i}").into_boxed_str());
                (a, if i % 2 == 0 { "allow" } else { "deny" }, r)
            })
            .collect();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..3 {
                        for k in &keys {
                            c.add(*k);
                        }
                    }
                });
            }
        });
        let snap = c.snapshot();
        assert_eq!(snap.len(), keys.len());
        for k in &keys {
            assert_eq!(snap.get(k), Some(&12), "{k:?}");
        }
        // A key given by equal text at another address is the same key.
        let again: &'static str = Box::leak(String::from("r3").into_boxed_str());
        c.add(("a3", "deny", again));
        assert_eq!(c.snapshot().get(&("a3", "deny", "r3")), Some(&13));
    }
}
