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
    Pending(Pending<V, E>),
    /// A failure, returned again until `expires` (negative caching).
    Failed {
        error: E,
        expires: Instant,
    },
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
            let mut slots = match self.slots.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            match slots.get(&key) {
                Some(Slot::Ready { value, expires, .. }) if *expires > now => {
                    self.stats.hits.fetch_add(1, Ordering::Relaxed);
                    return Ok(value.clone());
                }
                Some(Slot::Failed { error, expires }) if *expires > now => {
                    self.stats.hits.fetch_add(1, Ordering::Relaxed);
                    return Err(error.clone());
                }
                Some(Slot::Pending(p)) => {
                    self.stats.hits.fetch_add(1, Ordering::Relaxed);
                    p.clone()
                }
                _ => {
                    self.stats.misses.fetch_add(1, Ordering::Relaxed);
                    let p = fetch().boxed().shared();
                    slots.insert(key.clone(), Slot::Pending(p.clone()));
                    p
                }
            }
        };
        let result = pending.clone().await;
        let mut slots = match self.slots.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        // Only the fetch we awaited may replace its own pending slot.
        let ours = matches!(slots.get(&key), Some(Slot::Pending(p)) if p.ptr_eq(&pending));
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
                    Slot::Failed { .. } | Slot::Pending(_) => None,
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
