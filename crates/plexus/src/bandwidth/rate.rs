//! Rates as people write them: `20Mbit`, `2.5MB/s`, `500KiB/s`, `off`.

/// What a rate looks like, for error messages.
const EXAMPLES: &str =
    "write e.g. 20Mbit (megabits per second), 2.5MB/s, 500KiB/s or 100000 (bytes per second); off for no cap";

/// Parses a rate into bytes per second; `off`, `none` and `0` give 0 (no
/// cap). Bit units (`kbit`, `Mbit`, `Gbit`, also `Mbps`) count bits,
/// byte units (`KB`, `MB`, `GB` powers of 1000, `KiB`, `MiB`, `GiB`
/// powers of 1024) bytes; a trailing `/s` is optional.
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let s = text.trim().to_ascii_lowercase();
    if matches!(s.as_str(), "off" | "none" | "unlimited") {
        return Ok(0);
    }
    let s = s.strip_suffix("/s").unwrap_or(&s).trim_end();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let bad = || format!("{text:?} is not a rate: {EXAMPLES}");
    let per_sec: f64 = match unit.trim() {
        "" | "b" => 1.0,
        "kbit" | "kbps" => 1e3 / 8.0,
        "mbit" | "mbps" => 1e6 / 8.0,
        "gbit" | "gbps" => 1e9 / 8.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    let value: f64 = number.parse().map_err(|_| bad())?;
    let bytes = value * per_sec;
    if !(0.0..1e15).contains(&bytes) {
        return Err(format!("{text:?} is out of range: {EXAMPLES}"));
    }
    if bytes > 0.0 && bytes < 1024.0 {
        return Err(format!(
            "{text:?} is below 1 KiB/s, too slow to move a blob: {EXAMPLES}"
        ));
    }
    Ok(bytes.round() as u64)
}

/// A rate for people: `20.0 Mbit/s (2.50 MB/s)`, or `no cap`.
pub fn format_rate(bytes_per_sec: Option<u64>) -> String {
    match bytes_per_sec {
        None | Some(0) => "no cap".to_string(),
        Some(b) => format!(
            "{:.1} Mbit/s ({:.2} MB/s)",
            b as f64 * 8.0 / 1e6,
            b as f64 / 1e6
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_in_bits_and_bytes() {
        assert_eq!(parse_rate("20Mbit"), Ok(2_500_000));
        assert_eq!(parse_rate("20 mbps"), Ok(2_500_000));
        assert_eq!(parse_rate("2.5MB/s"), Ok(2_500_000));
        assert_eq!(parse_rate("500KiB/s"), Ok(512_000));
        assert_eq!(parse_rate("1Gbit/s"), Ok(125_000_000));
        assert_eq!(parse_rate("100000"), Ok(100_000));
        for off in ["off", "None", "0"] {
            assert_eq!(parse_rate(off), Ok(0), "{off}");
        }
        for bad in ["", "fast", "20 parsecs", "-1MB/s", "Mbit", "10bit"] {
            let err = parse_rate(bad).unwrap_err();
            assert!(
                err.contains("20Mbit") && err.contains("off"),
                "{bad}: {err}"
            );
        }
        assert_eq!(format_rate(Some(2_500_000)), "20.0 Mbit/s (2.50 MB/s)");
        assert_eq!(format_rate(None), "no cap");
    }
}
