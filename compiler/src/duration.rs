//! Protobuf durations, exactly: `.mesh` literals such as `250ms` are read into
//! nanoseconds and written back in protobuf JSON's form (`0.250s`), without the
//! rounding of floating point, and within the range `google.protobuf.Duration` holds.

/// The longest duration protobuf represents, ±315,576,000,000 s (10,000 years), in
/// nanoseconds.
pub const MAX_DURATION_NANOS: i128 = 315_576_000_000 * 1_000_000_000 + 999_999_999;

/// Nanoseconds in the protobuf JSON duration form: `10s`, `0.250s`, `0.000001s`.
pub fn format_duration(nanos: i128) -> String {
    let sign = if nanos < 0 { "-" } else { "" };
    let nanos = nanos.unsigned_abs();
    let whole = nanos / 1_000_000_000;
    let fraction = nanos % 1_000_000_000;
    if fraction == 0 {
        return format!("{sign}{whole}s");
    }
    let digits = format!("{fraction:09}");
    // Protobuf JSON writes 0, 3, 6 or 9 fractional digits.
    let trimmed = if digits.ends_with("000000") {
        &digits[..3]
    } else if digits.ends_with("000") {
        &digits[..6]
    } else {
        &digits
    };
    format!("{sign}{whole}.{trimmed}s")
}

/// The exact length of a duration written `NUMBER UNIT` (`1.5s`, `250ms`), in
/// nanoseconds; `Err` says what is wrong with it.
pub fn parse_duration_literal(text: &str) -> Result<i128, &'static str> {
    let digits_end = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let unit: i128 = match &text[digits_end..] {
        "ns" => 1,
        "us" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return Err("an unknown unit"),
    };
    let (whole, fraction) = text[..digits_end].split_once('.').unwrap_or((&text[..digits_end], ""));
    let too_long = "longer than protobuf's durations, 315,576,000,000s (10,000 years)";
    // Beyond 30 digits the value is out of range whatever the unit.
    if whole.len() > 30 || fraction.len() > 30 {
        return Err(if whole.len() > 30 { too_long } else { "finer than a nanosecond" });
    }
    let whole: i128 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| too_long)? };
    let mut nanos = whole.checked_mul(unit).ok_or(too_long)?;
    if !fraction.is_empty() {
        let scale = 10i128.pow(fraction.len() as u32);
        let part = fraction.parse::<i128>().map_err(|_| "not a number")? * unit;
        if part % scale != 0 {
            return Err("finer than a nanosecond");
        }
        nanos = nanos.checked_add(part / scale).ok_or(too_long)?;
    }
    if nanos > MAX_DURATION_NANOS {
        return Err(too_long);
    }
    Ok(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_exact_and_within_protobufs_range() {
        assert_eq!(parse_duration_literal("250ms"), Ok(250_000_000));
        assert_eq!(parse_duration_literal("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_duration_literal("0.001ms"), Ok(1_000));
        assert_eq!(parse_duration_literal("315576000000s"), Ok(315_576_000_000_000_000_000));
        assert!(parse_duration_literal("315576000001s").is_err());
        assert!(parse_duration_literal("99999999999999999999999h").is_err());
        assert!(parse_duration_literal("1.5ns").is_err());
        assert_eq!(format_duration(315_576_000_000_000_000_000), "315576000000s");
        assert_eq!(format_duration(87_658_200_000_000_000), "87658200s");
        assert_eq!(format_duration(1_000), "0.000001s");
    }
}
