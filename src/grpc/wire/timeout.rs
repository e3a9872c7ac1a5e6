//! The `grpc-timeout` header: 1 to 8 ASCII digits and a unit, `H` hours, `M` minutes,
//! `S` seconds, `m` milliseconds, `u` microseconds, `n` nanoseconds.

use crate::grpc::wire::status::{Code, Status};
use std::time::Duration;

/// Largest value with 8 digits.
const MAX_VALUE: u64 = 99_999_999;

/// Parses a received `grpc-timeout`; a malformed one fails the call (INTERNAL, as grpc-core).
pub fn parse(value: &[u8]) -> Result<Duration, Status> {
    let bad = || {
        Status::new(
            Code::Internal,
            format!(
                "malformed grpc-timeout {:?}",
                String::from_utf8_lossy(value)
            ),
        )
    };
    let (&unit, digits) = value.split_last().ok_or_else(bad)?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let n: u64 = std::str::from_utf8(digits)
        .ok()
        .and_then(|d| d.parse().ok())
        .ok_or_else(bad)?;
    Ok(match unit {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return Err(bad()),
    })
}

/// Encodes a deadline for sending, in the finest unit that fits 8 digits, rounded up so the
/// peer never gets less time than we have.
pub fn encode(timeout: Duration) -> String {
    let nanos = timeout.as_nanos();
    let units: [(u128, char); 6] = [
        (1, 'n'),
        (1_000, 'u'),
        (1_000_000, 'm'),
        (1_000_000_000, 'S'),
        (60_000_000_000, 'M'),
        (3_600_000_000_000, 'H'),
    ];
    for (per_unit, unit) in units {
        let value = nanos.div_ceil(per_unit);
        if value <= u128::from(MAX_VALUE) {
            return format!("{value}{unit}");
        }
    }
    format!("{MAX_VALUE}H")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_parses() {
        assert_eq!(parse(b"2H").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse(b"3M").unwrap(), Duration::from_secs(180));
        assert_eq!(parse(b"4S").unwrap(), Duration::from_secs(4));
        assert_eq!(parse(b"250m").unwrap(), Duration::from_millis(250));
        assert_eq!(parse(b"7u").unwrap(), Duration::from_micros(7));
        assert_eq!(
            parse(b"99999999n").unwrap(),
            Duration::from_nanos(99_999_999)
        );
        assert_eq!(
            parse(b"99999999H").unwrap(),
            Duration::from_secs(99_999_999 * 3600)
        );
        assert_eq!(parse(b"0m").unwrap(), Duration::ZERO);
    }

    #[test]
    fn malformed_values_fail_the_call() {
        for bad in [
            &b""[..],
            b"S",
            b"10",
            b"123456789S",
            b"1s",
            b"-1S",
            b"1 S",
            b"1.5S",
            b"\xffS",
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.code, Code::Internal, "{bad:?}");
        }
    }

    #[test]
    fn encoding_is_exact_when_it_can_be_and_never_short() {
        assert_eq!(encode(Duration::from_millis(1500)), "1500000u");
        assert_eq!(encode(Duration::from_nanos(5)), "5n");
        assert_eq!(encode(Duration::from_secs(2)), "2000000u");
        // 100 000 s is 100 000 000 ms: one digit too many, so whole seconds.
        assert_eq!(encode(Duration::from_secs(100_000)), "100000S");
        for d in [
            Duration::from_nanos(123_456_789),
            Duration::from_millis(3),
            Duration::from_secs(86_400 * 365),
            Duration::from_secs(u64::MAX / 4),
        ] {
            let text = encode(d);
            let back = parse(text.as_bytes()).unwrap();
            assert!(
                back >= d.min(Duration::from_secs(99_999_999 * 3600)),
                "{d:?} -> {text}"
            );
            assert!(text.len() <= 9, "{text}");
        }
    }
}
