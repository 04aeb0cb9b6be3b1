//! A bounded TTL cache whose misses are shared: concurrent requests for the
//! same key wait for one fetch instead of starting their own.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use futures_util::future::{BoxFuture, FutureExt, Shared};

type Pending<V, E> = Shared<BoxFuture<'static, Result<(V, Instant), E>>>;

enum Slot<V, E> {
    Ready {
        value: V,
        expires: Instant,
        inserted: Instant,
    },
    /// A fetch under way, and how many callers wait for it: when the last
    /// gives up (a decision's deadline), the slot goes and with it the
    /// fetch, rather than being resumed by a later caller long after it
    /// started (and a spawned request in it aborted, not left to finish).
    Pending {
        fetch: Pending<V, E>,
        waiters: usize,
    },
    /// A failure, returned again until `expires` (negative caching).
    Failed { error: E, expires: Instant },
}

/// Hit and miss counts, as they run.
#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
}

/// A cache's figures at one moment, for status and metrics: `trust` hands
/// these up and `metrics` renders them (no dependency of `trust` on it).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CacheStats {
    pub name: &'static str,
    pub entries: usize,
    pub hits: u64,
    pub misses: u64,
}

pub struct TtlCache<K, V, E> {
    slots: Mutex<HashMap<K, Slot<V, E>>>,
    capacity: usize,
    /// How long a failure is returned again without a new fetch.
    negative_ttl: std::time::Duration,
    stats: Counters,
}

impl<K, V, E> TtlCache<K, V, E>
where
    K: Hash + Eq + Clone + Send + 'static,
    V: Clone + Send + Sync + 'static,
    E: Clone + Send + Sync + 'static,
{
    pub fn new(capacity: usize) -> Self {
        TtlCache {
            slots: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            negative_ttl: std::time::Duration::ZERO,
            stats: Counters::default(),
        }
    }

    /// Return a failure to every caller for `ttl` instead of fetching again
    /// at once: a server that fails (or serves what is refused) is not
    /// asked again, and its answer not parsed again, on every request.
    pub fn with_negative_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.negative_ttl = ttl;
        self
    }

    /// The cached value for `key`, or the result of `fetch` (which returns
    /// the value and the instant it stops being usable). Errors are cached
    /// for the negative TTL only (by default not at all).
    pub async fn get_or_fetch<F, Fut>(&self, key: K, fetch: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(V, Instant), E>> + Send + 'static,
    {
        let now = Instant::now();
        let pending = {
            let mut slots = lock(&self.slots);
            match slots.get_mut(&key) {
                Some(Slot::Ready { value, expires, .. }) if *expires > now => {
                    self.stats.hits.fetch_add(1, Ordering::Relaxed);
                    return Ok(value.clone());
                }
                Some(Slot::Failed { error, expires }) if *expires > now => {
                    self.stats.hits.fetch_add(1, Ordering::Relaxed);
                    return Err(error.clone());
                }
                Some(Slot::Pending { fetch, waiters }) => {
                    self.stats.hits.fetch_add(1, Ordering::Relaxed);
                    *waiters += 1;
                    fetch.clone()
                }
                _ => {
                    self.stats.misses.fetch_add(1, Ordering::Relaxed);
                    let p = fetch().boxed().shared();
                    slots.insert(
                        key.clone(),
                        Slot::Pending {
                            fetch: p.clone(),
                            waiters: 1,
                        },
                    );
                    p
                }
            }
        };
        let mut waiting = Waiting {
            slots: &self.slots,
            key: Some(key.clone()),
            pending: pending.clone(),
        };
        let result = pending.clone().await;
        waiting.key = None;
        let mut slots = lock(&self.slots);
        // Only the fetch we awaited may replace its own pending slot.
        let ours =
            matches!(slots.get(&key), Some(Slot::Pending { fetch, .. }) if fetch.ptr_eq(&pending));
        match &result {
            Ok((value, expires)) if ours => {
                slots.insert(
                    key,
                    Slot::Ready {
                        value: value.clone(),
                        expires: *expires,
                        inserted: Instant::now(),
                    },
                );
                self.evict(&mut slots);
            }
            Err(error) if ours => {
                if self.negative_ttl.is_zero() {
                    slots.remove(&key);
                } else {
                    slots.insert(
                        key,
                        Slot::Failed {
                            error: error.clone(),
                            expires: Instant::now() + self.negative_ttl,
                        },
                    );
                    self.evict(&mut slots);
                }
            }
            _ => {}
        }
        result.map(|(v, _)| v)
    }

    fn evict(&self, slots: &mut HashMap<K, Slot<V, E>>) {
        if slots.len() <= self.capacity {
            return;
        }
        let now = Instant::now();
        slots.retain(|_, s| {
            !matches!(s, Slot::Ready { expires, .. } | Slot::Failed { expires, .. } if *expires <= now)
        });
        // Failures go first: they are worth least.
        if slots.len() > self.capacity {
            slots.retain(|_, s| !matches!(s, Slot::Failed { .. }));
        }
        while slots.len() > self.capacity {
            let oldest = slots
                .iter()
                .filter_map(|(k, s)| match s {
                    Slot::Ready { inserted, .. } => Some((k.clone(), *inserted)),
                    Slot::Failed { .. } | Slot::Pending { .. } => None,
                })
                .min_by_key(|(_, t)| *t)
                .map(|(k, _)| k);
            match oldest {
                Some(k) => {
                    slots.remove(&k);
                }
                None => break,
            }
        }
    }

    /// Entries held now (ready or in flight).
    pub fn len(&self) -> usize {
        self.slots.lock().map(|s| s.len()).unwrap_or(0)
    }

    /// Its figures for the metrics, under `name`.
    pub fn figures(&self, name: &'static str) -> CacheStats {
        use std::sync::atomic::Ordering;
        CacheStats {
            name,
            entries: self.len(),
            hits: self.stats.hits.load(Ordering::Relaxed),
            misses: self.stats.misses.load(Ordering::Relaxed),
        }
    }

    /// Forget everything (after a policy reload).
    #[cfg(test)]
    pub fn clear(&self) {
        if let Ok(mut s) = self.slots.lock() {
            s.clear();
        }
    }
}

/// The slots; a panic elsewhere while holding the lock leaves them whole
/// (every change is one map operation), so a poisoned lock is used as is.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One caller's wait on a pending slot; dropped before the fetch ends (the
/// caller gave up), it counts the caller out, and the last one out removes
/// the slot.
struct Waiting<'a, K: Hash + Eq, V, E> {
    slots: &'a Mutex<HashMap<K, Slot<V, E>>>,
    /// `None` once the fetch has ended.
    key: Option<K>,
    /// Never polled: `ptr_eq` names the fetch only before completion.
    pending: Pending<V, E>,
}

impl<K: Hash + Eq, V, E> Drop for Waiting<'_, K, V, E> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let mut slots = lock(self.slots);
        let last = match slots.get_mut(&key) {
            Some(Slot::Pending { fetch, waiters }) if fetch.ptr_eq(&self.pending) => {
                *waiters = waiters.saturating_sub(1);
                *waiters == 0
            }
            _ => false,
        };
        if last {
            // Dropped after the lock is let go: the fetch's own drop code
            // may reach this cache again.
            let gone = slots.remove(&key);
            drop(slots);
            drop(gone);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn shares_one_fetch_and_expires() {
        let cache: Arc<TtlCache<&str, u32, String>> = Arc::new(TtlCache::new(8));
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (cache, calls) = (cache.clone(), calls.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_fetch("k", move || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok((7, Instant::now() + Duration::from_millis(100)))
                    })
                    .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), Ok(7));
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "concurrent misses share one fetch"
        );
        tokio::time::sleep(Duration::from_millis(120)).await;
        let c2 = calls.clone();
        let v = cache
            .get_or_fetch("k", move || async move {
                c2.fetch_add(1, Ordering::SeqCst);
                Ok((8, Instant::now() + Duration::from_secs(1)))
            })
            .await;
        assert_eq!(v, Ok(8));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "an expired entry is fetched again"
        );
    }

    /// A fetch whose every waiter gave up is dropped with its slot: a
    /// later caller starts its own instead of resuming one begun long
    /// before (whose spawned request would have run on meanwhile).
    #[tokio::test]
    async fn a_fetch_everyone_gave_up_on_is_dropped() {
        struct Flag(Arc<AtomicUsize>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let cache: TtlCache<&str, u32, String> = TtlCache::new(8);
        let (calls, dropped) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let slow = || {
            let (calls, dropped) = (calls.clone(), dropped.clone());
            move || {
                // Made when the fetch starts, dropped with it.
                let flag = Flag(dropped);
                async move {
                    let _flag = flag;
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    Ok((1, Instant::now() + Duration::from_secs(60)))
                }
            }
        };
        // Two callers share the fetch; both give up.
        let (a, b) = tokio::join!(
            tokio::time::timeout(Duration::from_millis(50), cache.get_or_fetch("k", slow())),
            tokio::time::timeout(Duration::from_millis(80), cache.get_or_fetch("k", slow())),
        );
        assert!(a.is_err() && b.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1, "the two shared one fetch");
        assert_eq!(
            dropped.load(Ordering::SeqCst),
            1,
            "the abandoned fetch lives on"
        );
        assert_eq!(cache.len(), 0);
        let v = cache
            .get_or_fetch("k", || async {
                Ok((2, Instant::now() + Duration::from_secs(60)))
            })
            .await;
        assert_eq!(v, Ok(2), "a later caller resumed the abandoned fetch");
    }

    #[tokio::test]
    async fn errors_are_not_cached_and_size_is_bounded() {
        let cache: TtlCache<u32, u32, String> = TtlCache::new(3);
        assert!(cache
            .get_or_fetch(1, || async { Err("down".to_string()) })
            .await
            .is_err());
        assert_eq!(
            cache
                .get_or_fetch(1, || async {
                    Ok((1, Instant::now() + Duration::from_secs(60)))
                })
                .await,
            Ok(1)
        );
        for k in 2..10 {
            cache
                .get_or_fetch(k, move || async move {
                    Ok((k, Instant::now() + Duration::from_secs(60)))
                })
                .await
                .unwrap();
        }
        assert!(cache.len() <= 3);
    }

    #[tokio::test]
    async fn failures_are_returned_again_for_the_negative_ttl() {
        let cache: TtlCache<u32, u32, String> =
            TtlCache::new(4).with_negative_ttl(Duration::from_millis(300));
        let calls = Arc::new(AtomicUsize::new(0));
        let fail = |calls: Arc<AtomicUsize>| {
            move || async move {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(u32, Instant), _>("refused".to_string())
            }
        };
        for _ in 0..5 {
            assert_eq!(
                cache.get_or_fetch(1, fail(calls.clone())).await,
                Err("refused".to_string())
            );
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "one fetch, four cached failures"
        );
        tokio::time::sleep(Duration::from_millis(350)).await;
        let v = cache
            .get_or_fetch(1, || async {
                Ok((9, Instant::now() + Duration::from_secs(9)))
            })
            .await;
        assert_eq!(v, Ok(9), "after the negative TTL the fetch is tried again");
        // Failures never make the cache exceed its capacity.
        for k in 10..30 {
            let _ = cache.get_or_fetch(k, fail(calls.clone())).await;
        }
        assert!(cache.len() <= 4);
    }
}
