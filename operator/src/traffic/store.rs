//! The shared state between discovery, the scraper and the API: tracked pods and their counter samples.

use super::discovery::{Discovered, PodTarget};
use super::rate::{RateConfig, Sample, Series};
use super::selector::Selector;
use std::collections::{BTreeSet, HashMap};
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

/// The served rate of one pod.
#[derive(Clone, Debug, PartialEq)]
pub struct PodValue {
    pub namespace: String,
    pub pod: String,
    pub per_second: f64,
    /// The span the rate was computed over (`windowSeconds`).
    pub window: Duration,
    /// When the newest sample was taken.
    pub timestamp: jiff::Timestamp,
}

struct Tracked {
    target: PodTarget,
    series: Series,
}

#[derive(Default)]
struct State {
    pods: HashMap<(String, String), Tracked>,
    metric_names: BTreeSet<String>,
}

/// Tracked pods keyed by namespace and name. Locks are held only for map operations, never across I/O.
pub struct Store {
    config: RateConfig,
    epoch: Instant,
    wall_epoch: jiff::Timestamp,
    state: RwLock<State>,
}

impl Store {
    pub fn new(config: RateConfig) -> Self {
        Store {
            config,
            epoch: Instant::now(),
            wall_epoch: jiff::Timestamp::now(),
            state: RwLock::new(State::default()),
        }
    }

    /// Monotonic time since the store was made; samples and queries are placed on this clock.
    pub fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    pub fn config(&self) -> &RateConfig {
        &self.config
    }

    /// Replaces the tracked pods. History is kept for a pod that is still there with the same uid and
    /// dropped for pods that vanished, turned unready, or were recreated under the same name.
    pub fn update(&self, discovered: Discovered) {
        // A panic elsewhere while holding the lock leaves plain maps behind, still consistent enough to serve.
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        let mut previous = std::mem::take(&mut state.pods);
        for target in discovered.targets {
            let key = (target.namespace.clone(), target.pod.clone());
            let series = match previous.remove(&key) {
                Some(old) if old.target.uid == target.uid && old.target.address == target.address => {
                    old.series
                }
                _ => Series::default(),
            };
            state.pods.insert(key, Tracked { target, series });
        }
        state.metric_names = discovered.metric_names;
    }

    pub fn targets(&self) -> Vec<PodTarget> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        state.pods.values().map(|t| t.target.clone()).collect()
    }

    pub fn pods_tracked(&self) -> usize {
        self.state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .pods
            .len()
    }

    /// Records a counter total scraped from `target` at `at`. A sample for a pod that was dropped or
    /// replaced while the scrape was in flight is discarded.
    pub fn record(&self, target: &PodTarget, at: Duration, total: f64) {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        let key = (target.namespace.clone(), target.pod.clone());
        if let Some(tracked) = state.pods.get_mut(&key).filter(|t| t.target.uid == target.uid) {
            tracked.series.record(Sample { at, total }, self.config.window);
        }
    }

    pub fn metric_names(&self) -> Vec<String> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        state.metric_names.iter().cloned().collect()
    }

    pub fn knows_metric(&self, metric: &str) -> bool {
        self.state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .metric_names
            .contains(metric)
    }

    /// Rates of the pods in `namespace` that match `selector` and are served under `metric`, sorted by pod
    /// name. Pods without a rate yet (or any more) are left out.
    pub fn values(&self, namespace: &str, metric: &str, selector: &Selector, at: Duration) -> Vec<PodValue> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        let mut values: Vec<PodValue> = state
            .pods
            .values()
            .filter(|t| {
                t.target.namespace == namespace
                    && t.target.metric == metric
                    && selector.matches(&t.target.labels)
            })
            .filter_map(|t| self.value_of(t, at))
            .collect();
        values.sort_by(|a, b| a.pod.cmp(&b.pod));
        values
    }

    pub fn value(&self, namespace: &str, pod: &str, metric: &str, at: Duration) -> Option<PodValue> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        let tracked = state.pods.get(&(namespace.to_string(), pod.to_string()))?;
        if tracked.target.metric != metric {
            return None;
        }
        self.value_of(tracked, at)
    }

    fn value_of(&self, tracked: &Tracked, at: Duration) -> Option<PodValue> {
        let rate = tracked.series.rate(at, &self.config)?;
        let offset = jiff::SignedDuration::try_from(rate.newest).ok()?;
        Some(PodValue {
            namespace: tracked.target.namespace.clone(),
            pod: tracked.target.pod.clone(),
            per_second: rate.per_second,
            window: rate.span,
            timestamp: self.wall_epoch.checked_add(offset).ok()?,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::BTreeMap;

    pub(crate) fn target(ns: &str, pod: &str, uid: &str, port: u16) -> PodTarget {
        PodTarget {
            namespace: ns.into(),
            pod: pod.into(),
            uid: uid.into(),
            labels: BTreeMap::from([
                ("app.kubernetes.io/name".to_string(), "web".to_string()),
                ("app.kubernetes.io/instance".to_string(), "web".to_string()),
            ]),
            address: ([127, 0, 0, 1], port).into(),
            metric: "herd_http_requests_per_second".into(),
        }
    }

    pub(crate) fn discovered(targets: Vec<PodTarget>) -> Discovered {
        Discovered {
            targets,
            metric_names: BTreeSet::from(["herd_http_requests_per_second".to_string()]),
        }
    }

    const CONFIG: RateConfig = RateConfig {
        window: Duration::from_secs(30),
        stale_after: Duration::from_secs(15),
    };
    const METRIC: &str = "herd_http_requests_per_second";

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn rates(store: &Store, at: u64) -> Vec<(String, f64)> {
        let all = Selector::default();
        store
            .values("shop", METRIC, &all, secs(at))
            .into_iter()
            .map(|v| (v.pod, v.per_second))
            .collect()
    }

    #[test]
    fn serves_per_pod_rates_and_skips_pods_without_history() {
        let store = Store::new(CONFIG);
        let (a, b, c) = (
            target("shop", "a", "1", 1),
            target("shop", "b", "2", 2),
            target("shop", "c", "3", 3),
        );
        store.update(discovered(vec![a.clone(), b.clone(), c.clone()]));
        for (at, ta, tb) in [(0, 0.0, 0.0), (5, 200.0, 100.0)] {
            store.record(&a, secs(at), ta);
            store.record(&b, secs(at), tb);
        }
        store.record(&c, secs(5), 10.0);
        assert_eq!(
            rates(&store, 5),
            [("a".to_string(), 40.0), ("b".to_string(), 20.0)]
        );
        let value = store.value("shop", "a", METRIC, secs(5)).unwrap();
        assert_eq!(value.window, secs(5));
        assert_eq!(store.value("shop", "a", "other_metric", secs(5)), None);
        assert_eq!(store.value("other", "a", METRIC, secs(5)), None);
    }

    #[test]
    fn vanished_or_recreated_pods_lose_their_history() {
        let store = Store::new(CONFIG);
        let (a, b) = (target("shop", "a", "1", 1), target("shop", "b", "2", 2));
        store.update(discovered(vec![a.clone(), b.clone()]));
        for at in [0, 5] {
            store.record(&a, secs(at), at as f64 * 10.0);
            store.record(&b, secs(at), at as f64 * 10.0);
        }
        // b is gone; a was deleted and recreated with the same name.
        let a2 = target("shop", "a", "1-new", 1);
        store.update(discovered(vec![a2.clone()]));
        assert_eq!(rates(&store, 5), []);
        assert_eq!(store.pods_tracked(), 1);
        // A scrape of the old pod that finishes after the update must not feed the new one.
        store.record(&a, secs(6), 1000.0);
        store.record(&a2, secs(10), 0.0);
        store.record(&a2, secs(15), 50.0);
        assert_eq!(rates(&store, 15), [("a".to_string(), 10.0)]);
    }

    #[test]
    fn a_pod_that_stays_keeps_its_history_across_updates() {
        let store = Store::new(CONFIG);
        let a = target("shop", "a", "1", 1);
        store.update(discovered(vec![a.clone()]));
        store.record(&a, secs(0), 0.0);
        store.update(discovered(vec![a.clone(), target("shop", "b", "2", 2)]));
        store.record(&a, secs(5), 50.0);
        assert_eq!(rates(&store, 5), [("a".to_string(), 10.0)]);
        assert!(store.knows_metric(METRIC));
        assert!(!store.knows_metric("nope"));
    }

    #[test]
    fn selector_and_metric_name_pick_the_pods() {
        let store = Store::new(CONFIG);
        let a = target("shop", "a", "1", 1);
        let mut other = target("shop", "z", "9", 9);
        other
            .labels
            .insert("app.kubernetes.io/instance".into(), "api".into());
        other.metric = "api_rps".into();
        store.update(discovered(vec![a.clone(), other.clone()]));
        for at in [0, 5] {
            store.record(&a, secs(at), at as f64);
            store.record(&other, secs(at), at as f64);
        }
        let web = Selector::parse("app.kubernetes.io/instance=web").unwrap();
        let pods = |metric| -> Vec<String> {
            store
                .values("shop", metric, &web, secs(5))
                .into_iter()
                .map(|v| v.pod)
                .collect()
        };
        assert_eq!(pods(METRIC), ["a"]);
        assert!(pods("api_rps").is_empty());
    }
}
