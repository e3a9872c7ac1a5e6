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

/// Unix seconds now (0 if the clock is before 1970).
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Unix seconds of a UTC calendar time; `None` for a date that does not exist, or a year
/// outside 1-9999 (years come from log lines; one of sixteen digits overflowed the arithmetic
/// below: found by fuzz/fuzz_targets/syslog.rs).
pub fn unix(year: i64, month: u32, day: u32, h: u32, m: u32, s: u32) -> Option<i64> {
    if !(1..=9999).contains(&year) {
        return None;
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month) || day == 0 || day > days_in[month as usize - 1] {
        return None;
    }
    if h > 23 || m > 59 || s > 60 {
        return None;
    }
    // The inverse of `parts` (Howard Hinnant's days_from_civil).
    let y = year - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + i64::from(h * 3600 + m * 60 + s))
}

/// The month number of an English three-letter abbreviation (`Jan` = 1).
pub fn month(abbrev: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    MONTHS
        .iter()
        .position(|m| *m == abbrev)
        .map(|i| i as u32 + 1)
}

#[cfg(test)]
mod tests {
    use super::{month, parts, unix};

    #[test]
    fn unix_inverts_parts() {
        for t in [
            0,
            1_795_700_587,
            951_782_400,
            -1,
            4_102_444_800,
            1_709_164_800,
        ] {
            let (y, mo, d, h, mi, s) = parts(t);
            assert_eq!(unix(y, mo, d, h, mi, s), Some(t), "{t}");
        }
        assert_eq!(unix(2026, 2, 29, 0, 0, 0), None);
        assert_eq!(unix(2026, 13, 1, 0, 0, 0), None);
        // Years from outside (a logread line's fifth word; fuzz/regressions/syslog).
        assert_eq!(unix(8_844_444_444_401_320, 1, 1, 0, 0, 0), None);
        assert_eq!(unix(i64::MIN, 1, 1, 0, 0, 0), None);
        assert_eq!(unix(0, 1, 1, 0, 0, 0), None);
        assert_eq!(unix(9999, 12, 31, 23, 59, 59), Some(253_402_300_799));
        let line = "Tu Nov +7 16:00:27 8844444444401320 0";
        assert_eq!(crate::ocserv::syslog::parse(line, 2026), None);
        assert_eq!(month("Nov"), Some(11));
        assert_eq!(month("nov"), None);
    }

    #[test]
    fn known_dates() {
        assert_eq!(parts(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(parts(1_795_700_587), (2026, 11, 26, 13, 43, 7));
        assert_eq!(parts(951_782_400), (2000, 2, 29, 0, 0, 0));
        assert_eq!(parts(-1), (1969, 12, 31, 23, 59, 59));
        assert_eq!(parts(4_102_444_800), (2100, 1, 1, 0, 0, 0));
    }
}
