//! Calendar dates in UTC from Unix seconds, without libc's time functions: on 32-bit musl
//! targets the libc crate's `time_t` is 32-bit while musl ≥ 1.2 (zig's, ours) uses 64-bit, so
//! `localtime_r` would read half a value. Dates the agent prints are therefore UTC.

/// Year, month (1-12), day (1-31), hour, minute, second of `unix` seconds, in UTC.
pub fn parts(unix: i64) -> (i64, u32, u32, u32, u32, u32) {
    let (days, rem) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    let rem = rem as u32;
    (year, month, day, rem / 3600, rem / 60 % 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::parts;

    #[test]
    fn known_dates() {
        assert_eq!(parts(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(parts(1_795_700_587), (2026, 11, 26, 13, 43, 7));
        assert_eq!(parts(951_782_400), (2000, 2, 29, 0, 0, 0));
        assert_eq!(parts(-1), (1969, 12, 31, 23, 59, 59));
        assert_eq!(parts(4_102_444_800), (2100, 1, 1, 0, 0, 0));
    }
}
