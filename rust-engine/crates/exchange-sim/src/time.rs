//! `YYYY-MM-DDTHH:MM:SS[.fff]Z` to microseconds since the Unix epoch (no time-zone library needed).

/// Parses an ISO-8601 UTC time (`Z` or no suffix).
///
/// # Errors
/// A message naming the text when it is not of that form.
pub fn parse_utc_us(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not a UTC time like 2025-10-10T21:00:00Z");
    let t = text.trim_end_matches('Z');
    let (date, clock) = t.split_once('T').ok_or_else(bad)?;
    let d: Vec<i64> = date
        .split('-')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
    let c: Vec<i64> = hms
        .split(':')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    if d.len() != 3
        || c.len() != 3
        || !(1..=12).contains(&d[1])
        || !(1..=31).contains(&d[2])
        || c[0] > 23
        || c[1] > 59
        || c[2] > 60
    {
        return Err(bad());
    }
    let frac_us = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().chain(std::iter::repeat('0')).take(6).collect();
        digits.parse::<i64>().map_err(|_| bad())?
    };
    let days = days_from_civil(d[0], d[1], d[2]);
    Ok(((days * 86_400 + c[0] * 3600 + c[1] * 60 + c[2]) * 1_000_000) + frac_us)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_instants() {
        assert_eq!(super::parse_utc_us("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(
            super::parse_utc_us("2025-10-10T20:45:00Z"),
            Ok(1_760_129_100_000_000)
        );
        assert_eq!(
            super::parse_utc_us("2025-10-10T20:45:00.5Z"),
            Ok(1_760_129_100_500_000)
        );
        assert!(super::parse_utc_us("2025-13-10T20:45:00Z").is_err());
        assert!(super::parse_utc_us("yesterday").is_err());
    }
}
