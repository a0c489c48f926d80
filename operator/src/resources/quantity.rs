//! Kubernetes resource quantities (`500m`, `1.5Gi`, `2e3`): parsing for validation and comparison, and
//! formatting a per-replica rate as a quantity for the HPA.

/// Parses a quantity into its value in base units (cores, bytes). The grammar is
/// `[+-]digits[.digits](Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|e[+-]digits|E[+-]digits)?`.
pub fn parse_quantity(text: &str) -> Result<f64, String> {
    let err = |why: &str| format!("{text:?} is not a quantity ({why}); examples: 250m, 1.5, 512Mi, 2Gi");
    let number_end = text
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_digit() || *c == '.' || (*i == 0 && (*c == '+' || *c == '-'))))
        .map_or(text.len(), |(i, _)| i);
    let (number, suffix) = text.split_at(number_end);
    let digits = number.trim_start_matches(['+', '-']);
    if digits.is_empty() || digits == "." || digits.matches('.').count() > 1 {
        return Err(err("it must start with a number"));
    }
    let value: f64 = number.parse().map_err(|_| err("it must start with a number"))?;
    let multiplier = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => {
            let exponent = suffix
                .strip_prefix(['e', 'E'])
                .ok_or_else(|| err("unknown suffix"))?
                .parse::<i32>()
                .map_err(|_| err("unknown suffix"))?;
            10f64.powi(exponent)
        }
    };
    Ok(value * multiplier)
}

/// Largest rate [`rate_quantity`] formats; beyond it milli-units leave f64's exact integer range.
pub const MAX_RATE: f64 = 9.0e12;

/// Formats a rate as a quantity with milli precision (`50`, `2500m`); `None` when it rounds to zero or
/// exceeds [`MAX_RATE`].
pub fn rate_quantity(per_second: f64) -> Option<String> {
    let milli = (per_second * 1000.0).round();
    if !(1.0..=MAX_RATE * 1000.0).contains(&milli) {
        return None;
    }
    // Exact: the range check keeps milli below 2^53.
    let milli = milli as u64;
    Some(if milli.is_multiple_of(1000) {
        format!("{}", milli / 1000)
    } else {
        format!("{milli}m")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_suffixes() {
        let cases = [
            ("1", 1.0),
            ("250m", 0.25),
            ("1.5", 1.5),
            (".5", 0.5),
            ("2k", 2000.0),
            ("512Mi", 512.0 * 1024.0 * 1024.0),
            ("1Gi", 1024f64.powi(3)),
            ("1e3", 1000.0),
            ("+1E-3", 0.001),
        ];
        for (text, value) in cases {
            let parsed = parse_quantity(text).unwrap();
            assert!(
                (parsed - value).abs() < 1e-9 * value.max(1.0),
                "{text}: {parsed} != {value}"
            );
        }
    }

    #[test]
    fn rejects_non_quantities() {
        for bad in ["", "abc", "1.2.3", "10MB", "1 Gi", "Gi", "1ee3", "1e", "."] {
            assert!(parse_quantity(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rates_format_with_milli_precision() {
        assert_eq!(rate_quantity(50.0).as_deref(), Some("50"));
        assert_eq!(rate_quantity(2.5).as_deref(), Some("2500m"));
        assert_eq!(rate_quantity(0.0001), None);
        assert_eq!(rate_quantity(1e300), None);
    }
}
