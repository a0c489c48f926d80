//! Reads one counter out of a Prometheus (or OpenMetrics) text exposition.

use thiserror::Error;

/// Why a scraped body could not be read.
#[derive(Debug, Error, PartialEq)]
pub enum ParseError {
    #[error("line {line}: {message}")]
    Malformed { line: usize, message: &'static str },
    #[error("line {line}: sample value {value:?} of {metric} is not a finite, non-negative number")]
    BadValue {
        line: usize,
        metric: String,
        value: String,
    },
}

/// Sums every series of `metric` (all label sets) in `body`.
///
/// Returns `Ok(0.0)` when the metric is absent: a labelled counter that has seen no request yet exposes no
/// series at all, and that pod really has served zero requests. Lines of other metrics are skipped without
/// being validated beyond what is needed to find their name, so a quirk elsewhere cannot hide our counter.
pub fn sum_counter(body: &str, metric: &str) -> Result<f64, ParseError> {
    let mut total = 0.0;
    for (index, raw) in body.lines().enumerate() {
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name_end = line
            .find(|c: char| c == '{' || c.is_ascii_whitespace())
            .unwrap_or(line.len());
        if &line[..name_end] != metric {
            continue;
        }
        let rest = &line[name_end..];
        let after_labels = if rest.starts_with('{') {
            skip_labels(rest).ok_or(ParseError::Malformed {
                line: index + 1,
                message: "unterminated label set",
            })?
        } else {
            rest
        };
        let value_text = after_labels
            .split_ascii_whitespace()
            .next()
            .ok_or(ParseError::Malformed {
                line: index + 1,
                message: "sample has no value",
            })?;
        let value = value_text
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| ParseError::BadValue {
                line: index + 1,
                metric: metric.to_string(),
                value: value_text.to_string(),
            })?;
        total += value;
    }
    Ok(total)
}

/// Returns what follows the closing `}` of a label set that starts `text`, honouring quoted values (which
/// may contain `}`, `,` and escaped quotes).
fn skip_labels(text: &str) -> Option<&str> {
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in text.char_indices().skip(1) {
        match (in_quotes, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (true, false, '"') => in_quotes = false,
            (false, _, '"') => in_quotes = true,
            (false, _, '}') => return Some(&text[i + 1..]),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: &str = "herd_http_requests_total";

    #[test]
    fn sums_every_series_of_the_counter() {
        let body = "\
# HELP herd_http_requests_total Requests served.
# TYPE herd_http_requests_total counter
herd_http_requests_total{method=\"GET\",route=\"/products\",status=\"200\"} 120
herd_http_requests_total{method=\"POST\",route=\"/cart/items\",status=\"201\"} 30.5
herd_http_requests_total{method=\"GET\",route=\"/products/{id}\",status=\"404\"} 4 1700000000000
herd_http_requests_created{method=\"GET\",route=\"/products\",status=\"200\"} 1700000000
herd_http_request_duration_seconds_count 999
";
        assert_eq!(sum_counter(body, NAME), Ok(154.5));
    }

    #[test]
    fn reads_openmetrics_with_eof_and_unlabelled_series() {
        let body = "# TYPE herd_http_requests counter\nherd_http_requests_total 7\n# EOF\n";
        assert_eq!(sum_counter(body, NAME), Ok(7.0));
    }

    #[test]
    fn label_values_may_contain_braces_commas_and_escaped_quotes() {
        let body = r#"herd_http_requests_total{route="/a}b,c",note="say \"hi\" }"} 5"#;
        assert_eq!(sum_counter(body, NAME), Ok(5.0));
    }

    #[test]
    fn absent_counter_counts_as_zero_requests() {
        let body =
            "# HELP herd_http_requests_total Requests served.\n# TYPE herd_http_requests_total counter\n";
        assert_eq!(sum_counter(body, NAME), Ok(0.0));
        assert_eq!(sum_counter("", NAME), Ok(0.0));
    }

    #[test]
    fn a_metric_whose_name_only_starts_the_same_is_not_counted() {
        let body = "herd_http_requests_total_bogus 100\nherd_http_requests_total 1\n";
        assert_eq!(sum_counter(body, NAME), Ok(1.0));
    }

    #[test]
    fn broken_samples_of_the_counter_are_errors_naming_the_line() {
        assert_eq!(
            sum_counter("ok 1\nherd_http_requests_total{route=\"/x\" 3\n", NAME),
            Err(ParseError::Malformed {
                line: 2,
                message: "unterminated label set"
            })
        );
        assert_eq!(
            sum_counter("herd_http_requests_total{}\n", NAME),
            Err(ParseError::Malformed {
                line: 1,
                message: "sample has no value"
            })
        );
        for bad in ["NaN", "+Inf", "-3", "lots"] {
            let err = sum_counter(&format!("herd_http_requests_total {bad}\n"), NAME).unwrap_err();
            assert!(
                matches!(err, ParseError::BadValue { line: 1, .. }),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn broken_lines_of_other_metrics_are_ignored() {
        let body = "other_metric{oops 3\nherd_http_requests_total 2\n";
        assert_eq!(sum_counter(body, NAME), Ok(2.0));
    }
}
