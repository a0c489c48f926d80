//! Per-pod request rate from counter samples over a sliding window (pure; time is passed in).

use std::collections::VecDeque;
use std::time::Duration;

/// How rates are computed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateConfig {
    /// Samples older than this (relative to the newest one) leave the window.
    pub window: Duration,
    /// A series whose newest sample is older than this is not reported: the pod stopped answering and its
    /// last rate would be a guess. The HPA then treats the pod as missing, which it handles conservatively.
    pub stale_after: Duration,
}

/// One scrape of a pod's request counter. `at` is a monotonic offset, so a wall-clock jump cannot make a
/// rate negative or huge.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub at: Duration,
    pub total: f64,
}

/// A rate computed over `span`, ending with the sample taken at `newest`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub span: Duration,
    pub newest: Duration,
}

/// The samples of one pod inside the window, oldest first.
#[derive(Clone, Debug, Default)]
pub struct Series {
    samples: VecDeque<Sample>,
}

impl Series {
    /// Adds a sample and forgets those that fell out of the window. A sample not newer than the last one is
    /// ignored (it cannot come from a monotonic clock, and accepting it would divide by zero or go backwards).
    pub fn record(&mut self, sample: Sample, window: Duration) {
        if self.samples.back().is_some_and(|last| sample.at <= last.at) {
            return;
        }
        self.samples.push_back(sample);
        let oldest_kept = sample.at.saturating_sub(window);
        while self.samples.front().is_some_and(|s| s.at < oldest_kept) {
            self.samples.pop_front();
        }
    }

    /// The request rate over the window, or `None` while it cannot be known honestly: fewer than two samples
    /// (a new pod — reporting 0 would drag the HPA's average down and could trigger a scale-down, while a
    /// missing pod is assumed idle only when scaling up and busy when scaling down) or a stale series.
    pub fn rate(&self, now: Duration, config: &RateConfig) -> Option<Rate> {
        let newest = *self.samples.back()?;
        if now.saturating_sub(newest.at) > config.stale_after {
            return None;
        }
        let oldest_kept = newest.at.saturating_sub(config.window);
        let mut in_window = self.samples.iter().filter(|s| s.at >= oldest_kept);
        let first = *in_window.next()?;
        let span = newest.at.checked_sub(first.at).filter(|span| !span.is_zero())?;
        let mut increase = 0.0;
        let mut previous = first.total;
        for sample in in_window {
            // A counter that went down was reset (the container restarted) and counts again from zero.
            increase += if sample.total >= previous {
                sample.total - previous
            } else {
                sample.total
            };
            previous = sample.total;
        }
        Some(Rate {
            per_second: increase / span.as_secs_f64(),
            span,
            newest: newest.at,
        })
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: RateConfig = RateConfig {
        window: Duration::from_secs(30),
        stale_after: Duration::from_secs(15),
    };

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn series(points: &[(u64, f64)]) -> Series {
        let mut series = Series::default();
        for &(at, total) in points {
            series.record(Sample { at: secs(at), total }, CONFIG.window);
        }
        series
    }

    fn per_second(series: &Series, now: u64) -> Option<f64> {
        series.rate(secs(now), &CONFIG).map(|r| r.per_second)
    }

    #[test]
    fn steady_counter_gives_its_slope() {
        let s = series(&[(0, 100.0), (5, 300.0), (10, 500.0)]);
        let rate = s.rate(secs(10), &CONFIG).unwrap();
        assert_eq!(rate.per_second, 40.0);
        assert_eq!(rate.span, secs(10));
        assert_eq!(rate.newest, secs(10));
    }

    #[test]
    fn a_new_pod_has_no_rate_until_its_second_sample() {
        let mut s = series(&[(0, 50.0)]);
        assert_eq!(per_second(&s, 0), None);
        s.record(
            Sample {
                at: secs(5),
                total: 150.0,
            },
            CONFIG.window,
        );
        assert_eq!(per_second(&s, 5), Some(20.0));
    }

    #[test]
    fn counter_reset_counts_the_restarted_pods_requests_not_a_negative_rate() {
        // 0→100 in 5 s, then a restart: the new process served 40 by the next scrape, then 100 more.
        let s = series(&[(0, 0.0), (5, 100.0), (10, 40.0), (15, 140.0)]);
        assert_eq!(per_second(&s, 15), Some((100.0 + 40.0 + 100.0) / 15.0));
    }

    #[test]
    fn old_samples_leave_the_window_so_the_rate_follows_load() {
        // 10 rps for a minute, then idle: once the window holds only idle samples the rate is zero.
        let mut points: Vec<(u64, f64)> = (0..=12).map(|i| (i * 5, (i * 50) as f64)).collect();
        points.extend((13..=20).map(|i| (i * 5, 600.0)));
        let s = series(&points);
        assert_eq!(per_second(&s, 100), Some(0.0));
        assert!(
            s.len() <= 7,
            "window keeps only 30 s of 5 s samples, kept {}",
            s.len()
        );

        let busy_then_idle = series(&points[..16]);
        let rate = per_second(&busy_then_idle, 75).unwrap();
        assert!(
            rate > 0.0 && rate < 10.0,
            "half-idle window gives a partial rate, got {rate}"
        );
    }

    #[test]
    fn a_gap_in_scrapes_averages_over_the_gap() {
        // The pod did not answer at 5 and 10; the counter says what happened meanwhile.
        let s = series(&[(0, 0.0), (15, 300.0)]);
        assert_eq!(per_second(&s, 15), Some(20.0));
    }

    #[test]
    fn a_pod_that_stopped_answering_ages_out() {
        let s = series(&[(0, 0.0), (5, 100.0)]);
        assert_eq!(per_second(&s, 20), Some(20.0));
        assert_eq!(per_second(&s, 21), None);
    }

    #[test]
    fn a_sample_from_the_past_is_ignored() {
        let s = series(&[(0, 0.0), (10, 100.0), (10, 5000.0), (3, 1.0)]);
        assert_eq!(s.len(), 2);
        assert_eq!(per_second(&s, 10), Some(10.0));
    }

    #[test]
    fn an_empty_series_has_no_rate() {
        assert_eq!(per_second(&Series::default(), 0), None);
        assert!(Series::default().is_empty());
    }
}
