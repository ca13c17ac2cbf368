//! Timestamps as Suricata writes them: `2023-11-14T22:13:20.001000+0000`.
//!
//! Suricata prints local time with its offset; an appliance runs in UTC, so we always write
//! `+0000`, which every EVE consumer parses the same way. Written by hand (civil-from-days)
//! to avoid a date library and any allocation.

use std::io::Write;

use crate::capture::Timestamp;

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's method).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Writes `ts` in EVE's format.
pub fn write_timestamp(out: &mut impl Write, ts: Timestamp) -> std::io::Result<()> {
    let days = ts.secs.div_euclid(86_400);
    let sod = ts.secs.rem_euclid(86_400);
    let (y, mo, d) = civil_from_days(days);
    write!(
        out,
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:06}+0000",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60,
        ts.usecs
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(secs: i64, usecs: u32) -> String {
        let mut v = Vec::new();
        write_timestamp(&mut v, Timestamp { secs, usecs }).unwrap();
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn suricata_format() {
        assert_eq!(fmt(1_700_000_000, 1000), "2023-11-14T22:13:20.001000+0000");
        assert_eq!(fmt(0, 0), "1970-01-01T00:00:00.000000+0000");
        assert_eq!(fmt(951_782_400, 5), "2000-02-29T00:00:00.000005+0000");
        assert_eq!(fmt(-1, 0), "1969-12-31T23:59:59.000000+0000");
    }
}
