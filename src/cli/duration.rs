//! Durations on the command line (`--for 2h`, `--expires-in 90d`): a whole number and one
//! unit, s/m/h/d/w. Anything else is refused rather than guessed; zero is refused because a
//! grant or key that ends as it starts is always a mistake.

use std::time::Duration;

/// Parses `30m`, `2h`, `90d`...; at most ten years.
pub fn parse(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{s:?} has no unit: write it like 30m, 2h, 7d or 4w"))?;
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} does not start with a whole number"))?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(format!("{s:?} has an unknown unit: use s, m, h, d or w")),
    };
    let secs = n
        .checked_mul(unit_secs)
        .filter(|&secs| secs <= 10 * 365 * 86_400)
        .ok_or_else(|| format!("{s:?} is longer than ten years"))?;
    if secs == 0 {
        return Err(format!("{s:?} is zero"));
    }
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_with_one_unit_are_read() {
        assert_eq!(parse("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse("1w"), Ok(Duration::from_secs(604_800)));
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "2",
            "h",
            "2x",
            "2 h",
            "-2h",
            "+2h",
            "1.5h",
            "2H",
            "2hh",
            "0h",
            "0s",
            "99999999999999999999h",
            "3651d",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
