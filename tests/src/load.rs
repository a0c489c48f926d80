//! Continuous bounded load through a Service, and the accounting that tells a zero-failure rollout apart.

use std::collections::BTreeMap;
use std::time::Duration;

/// How one request ended, as the load generator saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx answer; `served_by` is the replica's `x-served-by` header, when it sent one.
    Ok { served_by: Option<String> },
    /// Anything else: a non-2xx status (`"503"`) or a transport error (`"connect: ..."`).
    Failed { reason: String },
}

/// What a run of the load generator observed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    pub ok: u64,
    pub failed: u64,
    /// Failures grouped by reason, so a report says *what* failed, not just how often.
    pub failures: BTreeMap<String, u64>,
    /// 2xx answers per replica (`x-served-by`).
    pub served_by: BTreeMap<String, u64>,
}

impl LoadReport {
    pub fn record(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Ok { served_by } => {
                self.ok += 1;
                if let Some(pod) = served_by {
                    *self.served_by.entry(pod).or_default() += 1;
                }
            }
            Outcome::Failed { reason } => {
                self.failed += 1;
                *self.failures.entry(reason).or_default() += 1;
            }
        }
    }

    /// Adds another worker's report to this one.
    pub fn merge(&mut self, other: LoadReport) {
        self.ok += other.ok;
        self.failed += other.failed;
        for (reason, n) in other.failures {
            *self.failures.entry(reason).or_default() += n;
        }
        for (pod, n) in other.served_by {
            *self.served_by.entry(pod).or_default() += n;
        }
    }

    pub fn total(&self) -> u64 {
        self.ok + self.failed
    }

    /// One line for a test failure message: totals, then the failure reasons and replicas seen.
    pub fn summary(&self) -> String {
        format!(
            "{} requests, {} ok, {} failed {:?}, served by {:?}",
            self.total(),
            self.ok,
            self.failed,
            self.failures,
            self.served_by
        )
    }
}

/// Bounds a load run both in requests and in time, so no test can hammer a cluster forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub max_requests: u64,
    pub max_duration: Duration,
    /// Pause between requests of one worker: steady load, not a flood.
    pub pause: Duration,
}

impl Budget {
    /// Whether another request may be sent after `sent` requests and `elapsed` time.
    pub fn allows(&self, sent: u64, elapsed: Duration) -> bool {
        sent < self.max_requests && elapsed < self.max_duration
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(pod: &str) -> Outcome {
        Outcome::Ok {
            served_by: Some(pod.to_string()),
        }
    }

    #[test]
    fn counts_successes_per_replica_and_failures_per_reason() {
        let mut report = LoadReport::default();
        for outcome in [
            ok("shop-a"),
            ok("shop-b"),
            ok("shop-a"),
            Outcome::Ok { served_by: None },
            Outcome::Failed { reason: "503".into() },
            Outcome::Failed { reason: "503".into() },
            Outcome::Failed {
                reason: "connect: refused".into(),
            },
        ] {
            report.record(outcome);
        }
        assert_eq!((report.ok, report.failed, report.total()), (4, 3, 7));
        assert_eq!(
            report.served_by,
            BTreeMap::from([("shop-a".into(), 2), ("shop-b".into(), 1)])
        );
        assert_eq!(
            report.failures,
            BTreeMap::from([("503".into(), 2), ("connect: refused".into(), 1)])
        );
        let summary = report.summary();
        assert!(summary.starts_with("7 requests, 4 ok, 3 failed"), "{summary}");
        assert!(summary.contains("connect: refused"), "{summary}");
    }

    #[test]
    fn merging_worker_reports_adds_every_count() {
        let mut a = LoadReport::default();
        a.record(ok("shop-a"));
        a.record(Outcome::Failed { reason: "502".into() });
        let mut b = LoadReport::default();
        b.record(ok("shop-a"));
        b.record(ok("shop-b"));
        b.record(Outcome::Failed { reason: "502".into() });
        a.merge(b);
        assert_eq!((a.ok, a.failed), (3, 2));
        assert_eq!(
            a.served_by,
            BTreeMap::from([("shop-a".into(), 2), ("shop-b".into(), 1)])
        );
        assert_eq!(a.failures, BTreeMap::from([("502".into(), 2)]));
    }

    #[test]
    fn an_empty_run_is_not_a_success_count() {
        let report = LoadReport::default();
        assert_eq!(report.total(), 0);
        assert!(report.served_by.is_empty());
    }

    #[test]
    fn budget_stops_at_the_request_cap_or_the_deadline_whichever_comes_first() {
        let budget = Budget {
            max_requests: 100,
            max_duration: Duration::from_secs(60),
            pause: Duration::ZERO,
        };
        assert!(budget.allows(0, Duration::ZERO));
        assert!(budget.allows(99, Duration::from_secs(59)));
        assert!(!budget.allows(100, Duration::from_secs(1)));
        assert!(!budget.allows(1, Duration::from_secs(60)));
    }
}
