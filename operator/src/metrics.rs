//! Prometheus metrics of the controller: reconcile outcomes, durations, failures and child writes.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::{counter::Counter, family::Family, histogram::Histogram};
use prometheus_client::registry::Registry;
use std::time::Instant;

/// What a finished reconcile did; `unchanged` is the idle path that sends no write.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Outcome {
    Changed,
    Unchanged,
    InvalidSpec,
    Error,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Changed => "changed",
            Outcome::Unchanged => "unchanged",
            Outcome::InvalidSpec => "invalid_spec",
            Outcome::Error => "error",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    error: &'static str,
}

/// Which write the controller sent for a child: an apply, the replicas hand-off apply or a delete.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Write {
    Apply,
    Handoff,
    Delete,
}

impl Write {
    fn label(self) -> &'static str {
        match self {
            Write::Apply => "apply",
            Write::Handoff => "handoff",
            Write::Delete => "delete",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WriteLabels {
    kind: &'static str,
    op: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WatchLabels {
    kind: &'static str,
}

/// The controller's metrics; cheap to share behind an `Arc`.
#[derive(Clone)]
pub struct Metrics {
    reconciles: Family<OutcomeLabels, Counter>,
    failures: Family<ErrorLabels, Counter>,
    duration: Histogram,
    child_writes: Family<WriteLabels, Counter>,
    watch_errors: Family<WatchLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            reconciles: Family::default(),
            failures: Family::default(),
            // 100 µs .. ~6.5 s: an idle reconcile is microseconds, an apply round trip tens of milliseconds.
            duration: Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                0.0001, 2.0, 17,
            )),
            child_writes: Family::default(),
            watch_errors: Family::default(),
        }
    }
}

impl Metrics {
    /// Registers every metric under the `herd_` prefix.
    pub fn register(self, registry: &mut Registry) -> Self {
        let r = registry.sub_registry_with_prefix("herd");
        r.register("reconciles", "Reconciles by outcome", self.reconciles.clone());
        r.register(
            "reconcile_failures",
            "Failed reconciles by error kind",
            self.failures.clone(),
        );
        r.register(
            "reconcile_duration_seconds",
            "Time one reconcile took",
            self.duration.clone(),
        );
        r.register(
            "child_writes",
            "Write requests sent for children, by kind and operation",
            self.child_writes.clone(),
        );
        r.register(
            "watch_errors",
            "Watch or list failures by watched kind",
            self.watch_errors.clone(),
        );
        self
    }

    /// Starts timing a reconcile; the duration is recorded when the timer is dropped, on every path.
    pub fn reconcile_timer(&self) -> ReconcileTimer {
        ReconcileTimer {
            start: Instant::now(),
            histogram: self.duration.clone(),
        }
    }

    pub fn record_outcome(&self, outcome: Outcome) {
        self.reconciles
            .get_or_create(&OutcomeLabels {
                outcome: outcome.label(),
            })
            .inc();
    }

    pub fn record_failure(&self, error_label: &'static str) {
        self.failures
            .get_or_create(&ErrorLabels { error: error_label })
            .inc();
    }

    pub fn record_write(&self, kind: &'static str, op: Write) {
        self.child_writes
            .get_or_create(&WriteLabels { kind, op: op.label() })
            .inc();
    }

    pub fn record_watch_error(&self, kind: &'static str) {
        self.watch_errors.get_or_create(&WatchLabels { kind }).inc();
    }

    /// Reconciles recorded with `outcome` so far (tests and the benchmark read it).
    pub fn outcome_count(&self, outcome: Outcome) -> u64 {
        self.reconciles
            .get_or_create(&OutcomeLabels {
                outcome: outcome.label(),
            })
            .get()
    }

    /// Watch or list failures of `kind` so far.
    pub fn watch_error_count(&self, kind: &'static str) -> u64 {
        self.watch_errors.get_or_create(&WatchLabels { kind }).get()
    }

    /// Writes of `op` sent for children of `kind` so far.
    pub fn write_count(&self, kind: &'static str, op: Write) -> u64 {
        self.child_writes
            .get_or_create(&WriteLabels { kind, op: op.label() })
            .get()
    }
}

/// Records the elapsed time into the reconcile histogram when dropped.
pub struct ReconcileTimer {
    start: Instant,
    histogram: Histogram,
}

impl Drop for ReconcileTimer {
    fn drop(&mut self) {
        self.histogram.observe(self.start.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_names_every_metric_with_labels() {
        let mut registry = Registry::default();
        let metrics = Metrics::default().register(&mut registry);
        metrics.record_outcome(Outcome::Unchanged);
        metrics.record_failure("apply");
        metrics.record_write("Deployment", Write::Apply);
        metrics.record_watch_error("Service");
        drop(metrics.reconcile_timer());

        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains("herd_reconciles_total{outcome=\"unchanged\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("herd_reconcile_failures_total{error=\"apply\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("herd_child_writes_total{kind=\"Deployment\",op=\"apply\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("herd_watch_errors_total{kind=\"Service\"} 1"),
            "{text}"
        );
        assert!(text.contains("herd_reconcile_duration_seconds_count 1"), "{text}");
    }
}
