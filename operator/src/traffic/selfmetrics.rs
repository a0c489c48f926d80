//! The metrics source's own health in Prometheus text: scrapes by result, scrape duration, pods tracked.

use prometheus_client::encoding::{EncodeLabelSet, text::encode};
use prometheus_client::metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram};
use prometheus_client::registry::Registry;

/// How one scrape of a pod ended; the label value of `herd_metrics_api_scrapes_total{result}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScrapeResult {
    Success,
    Timeout,
    ConnectError,
    HttpStatus,
    BodyError,
    ParseError,
}

impl ScrapeResult {
    pub fn as_str(self) -> &'static str {
        match self {
            ScrapeResult::Success => "success",
            ScrapeResult::Timeout => "timeout",
            ScrapeResult::ConnectError => "connect_error",
            ScrapeResult::HttpStatus => "http_status",
            ScrapeResult::BodyError => "body_error",
            ScrapeResult::ParseError => "parse_error",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

/// Counters and gauges of the metrics source, exposed on its `/metrics`.
pub struct SourceMetrics {
    registry: Registry,
    scrapes: Family<ResultLabel, Counter>,
    scrape_duration: Histogram,
    pods_tracked: Gauge,
}

impl Default for SourceMetrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let scrapes = Family::<ResultLabel, Counter>::default();
        registry.register(
            "herd_metrics_api_scrapes",
            "Pod /metrics scrapes by result",
            scrapes.clone(),
        );
        let scrape_duration = Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]);
        registry.register(
            "herd_metrics_api_scrape_duration_seconds",
            "Time to scrape one pod, failures included",
            scrape_duration.clone(),
        );
        let pods_tracked = Gauge::default();
        registry.register(
            "herd_metrics_api_pods_tracked",
            "Ready pods of traffic-scaled StatelessServices being scraped",
            pods_tracked.clone(),
        );
        SourceMetrics {
            registry,
            scrapes,
            scrape_duration,
            pods_tracked,
        }
    }
}

impl SourceMetrics {
    pub fn scraped(&self, result: ScrapeResult, seconds: f64) {
        self.scrapes
            .get_or_create(&ResultLabel {
                result: result.as_str(),
            })
            .inc();
        self.scrape_duration.observe(seconds);
    }

    pub fn set_pods_tracked(&self, pods: usize) {
        self.pods_tracked.set(i64::try_from(pods).unwrap_or(i64::MAX));
    }

    pub fn scrapes(&self, result: ScrapeResult) -> u64 {
        self.scrapes
            .get_or_create(&ResultLabel {
                result: result.as_str(),
            })
            .get()
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail; an error here would only come from a broken metric name.
        if encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposes_scrapes_by_result_duration_and_pods_tracked() {
        let metrics = SourceMetrics::default();
        metrics.scraped(ScrapeResult::Success, 0.003);
        metrics.scraped(ScrapeResult::Success, 0.004);
        metrics.scraped(ScrapeResult::Timeout, 1.0);
        metrics.set_pods_tracked(3);
        let text = metrics.encode();
        assert!(
            text.contains("herd_metrics_api_scrapes_total{result=\"success\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("herd_metrics_api_scrapes_total{result=\"timeout\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("herd_metrics_api_scrape_duration_seconds_count 3"),
            "{text}"
        );
        assert!(text.contains("herd_metrics_api_pods_tracked 3"), "{text}");
        assert_eq!(metrics.scrapes(ScrapeResult::Success), 2);
    }
}
