//! `threshold` and `detection_filter`: alert rate control with Suricata's semantics.
//!
//! State lives in a fixed-capacity open-addressing table keyed by (gid, sid, tracked
//! addresses); when a probe window is full, the entry seen least recently is evicted, so
//! memory is bounded whatever the traffic. Time comes from the packet timestamp. Each
//! [`crate::Scratch`] starts with its own table; workers that call
//! [`crate::Scratch::share_thresholds`] count in one table, like Suricata's global one. It is
//! behind a mutex taken only when a thresholded rule has matched, never per packet.

use std::net::IpAddr;

use crate::lexer::{shown, Perr, Token};

/// What kind of rate control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Limit,
    Threshold,
    Both,
    DetectionFilter,
}

/// Whose matches are counted together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Track {
    Src,
    Dst,
    Rule,
    Both,
}

/// A parsed threshold/detection_filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Spec {
    pub(crate) kind: Kind,
    pub(crate) track: Track,
    pub(crate) count: u32,
    pub(crate) seconds: u32,
}

/// Parses `threshold:` (with `type`) or `detection_filter:` (without).
pub(crate) fn parse(v: Token<'_>, detection_filter: bool) -> Result<Spec, Perr> {
    let (mut kind, mut track, mut count, mut seconds) = (None, None, None, None);
    if detection_filter {
        kind = Some(Kind::DetectionFilter);
    }
    for part in v.text.split(',') {
        let part = part.trim();
        let (k, val) = part
            .split_once(char::is_whitespace)
            .map(|(a, b)| (a.trim(), b.trim()))
            .unwrap_or((part, ""));
        let num = |what: &str| -> Result<u32, Perr> {
            val.parse::<u32>().map_err(|_| {
                Perr::new(
                    v.start,
                    format!("expected a number for {what}, found '{}'", shown(val)),
                )
            })
        };
        match k.to_ascii_lowercase().as_str() {
            "type" if !detection_filter => {
                kind = Some(match val {
                    "limit" => Kind::Limit,
                    "threshold" => Kind::Threshold,
                    "both" => Kind::Both,
                    other => {
                        return Err(Perr::new(
                            v.start,
                            format!(
                                "expected threshold type limit, threshold or both, found '{}'",
                                shown(other)
                            ),
                        ))
                    }
                })
            }
            "track" => {
                track = Some(match val {
                    "by_src" => Track::Src,
                    "by_dst" => Track::Dst,
                    "by_rule" => Track::Rule,
                    "by_both" => Track::Both,
                    other => {
                        return Err(Perr::new(
                            v.start,
                            format!(
                                "expected track by_src, by_dst, by_rule or by_both, found '{}'",
                                shown(other)
                            ),
                        ))
                    }
                })
            }
            "count" => count = Some(num("count")?),
            "seconds" => seconds = Some(num("seconds")?),
            other => {
                return Err(Perr::new(
                    v.start,
                    format!("unknown threshold option '{}'", shown(other)),
                ))
            }
        }
    }
    match (kind, track, count, seconds) {
        (Some(kind), Some(track), Some(count), Some(seconds)) => Ok(Spec {
            kind,
            track,
            count,
            seconds,
        }),
        _ => Err(Perr::new(
            v.start,
            if detection_filter {
                "detection_filter needs track, count and seconds"
            } else {
                "threshold needs type, track, count and seconds"
            },
        )),
    }
}

/// Entries per worker table.
pub(crate) const CAPACITY: usize = 8192;
/// Slots probed before evicting.
const PROBE: usize = 8;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Key {
    gid: u32,
    sid: u32,
    a: u128,
    b: u128,
}

#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    used: bool,
    key: Key,
    window_start: u64,
    count: u32,
    last_seen: u64,
}

/// Per-worker threshold state.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    slots: Vec<Entry>,
    /// Entries evicted to make room (for stats/tests).
    pub(crate) evictions: u64,
}

impl Default for Table {
    fn default() -> Self {
        Table {
            slots: vec![Entry::default(); CAPACITY],
            evictions: 0,
        }
    }
}

fn ip_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)) | (1u128 << 127),
        IpAddr::V6(a) => u128::from(a),
    }
}

impl Table {
    /// Records a match of rule (gid, sid) at time `now` (microseconds since the epoch) and
    /// says whether it may alert.
    pub(crate) fn allow(
        &mut self,
        spec: &Spec,
        gid: u32,
        sid: u32,
        src: IpAddr,
        dst: IpAddr,
        now: u64,
    ) -> bool {
        let (a, b) = match spec.track {
            Track::Src => (ip_bits(src), 0),
            Track::Dst => (ip_bits(dst), 0),
            Track::Rule => (0, 0),
            Track::Both => (ip_bits(src), ip_bits(dst)),
        };
        let key = Key { gid, sid, a, b };
        let h = {
            let mut x = u64::from(gid) << 32 | u64::from(sid);
            x ^= (a as u64) ^ ((a >> 64) as u64).rotate_left(17) ^ (b as u64).rotate_left(31);
            x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            (x >> 32) as usize
        };
        let n = self.slots.len();
        let mut victim = h % n;
        let mut oldest = u64::MAX;
        let mut found = None;
        for i in 0..PROBE {
            let idx = (h + i) % n;
            let Some(e) = self.slots.get(idx) else {
                continue;
            };
            if e.used && e.key == key {
                found = Some(idx);
                break;
            }
            let age = if e.used { e.last_seen } else { 0 };
            if !e.used && oldest != 0 {
                victim = idx;
                oldest = 0;
            } else if age < oldest {
                victim = idx;
                oldest = age;
            }
        }
        // Suricata (detect-engine-threshold.c): a window is [start, start + seconds], inclusive,
        // at microsecond precision.
        let window = u64::from(spec.seconds).saturating_mul(1_000_000);
        let c = spec.count;
        let Some(idx) = found else {
            let Some(e) = self.slots.get_mut(victim) else {
                return true;
            };
            if e.used {
                self.evictions += 1;
            }
            *e = Entry {
                used: true,
                key,
                window_start: now,
                count: 1,
                last_seen: now,
            };
            return match spec.kind {
                Kind::Limit => true,
                Kind::Threshold | Kind::Both => c == 1,
                Kind::DetectionFilter => false,
            };
        };
        let Some(e) = self.slots.get_mut(idx) else {
            return true;
        };
        e.last_seen = now;
        if now > e.window_start.saturating_add(window) {
            // Expired: a new window starts with this match.
            e.window_start = now;
            e.count = 1;
            return match spec.kind {
                Kind::Limit => true,
                Kind::Both => c == 1,
                // Suricata does not alert on the match that restarts these windows.
                Kind::Threshold | Kind::DetectionFilter => false,
            };
        }
        e.count = e.count.saturating_add(1);
        match spec.kind {
            Kind::Limit => e.count <= c,
            Kind::Threshold => {
                if e.count >= c {
                    e.count = 0;
                    true
                } else {
                    false
                }
            }
            Kind::Both => e.count == c,
            Kind::DetectionFilter => e.count > c,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: Kind, count: u32, seconds: u32) -> Spec {
        Spec {
            kind,
            track: Track::Src,
            count,
            seconds,
        }
    }

    fn run(s: Spec, times: &[u64]) -> Vec<bool> {
        let mut t = Table::default();
        let ip: IpAddr = "10.0.0.1".parse().unwrap_or(IpAddr::V4(0.into()));
        times
            .iter()
            .map(|&ts| t.allow(&s, 1, 7, ip, ip, ts * 1_000_000))
            .collect()
    }

    #[test]
    fn limit_threshold_both_filter() {
        let l = run(spec(Kind::Limit, 2, 60), &[0, 1, 2, 3, 61, 62, 63]);
        assert_eq!(l, [true, true, false, false, true, true, false]);
        // The window end is inclusive: 60 is still in the window that started at 0.
        let l = run(spec(Kind::Limit, 1, 60), &[0, 60, 61]);
        assert_eq!(l, [true, false, true]);
        let t = run(spec(Kind::Threshold, 3, 60), &[0, 1, 2, 3, 4, 5]);
        assert_eq!(t, [false, false, true, false, false, true]);
        // count 1: every match alerts, except the one restarting an expired window.
        let t = run(spec(Kind::Threshold, 1, 10), &[0, 1, 20, 21]);
        assert_eq!(t, [true, true, false, true]);
        let b = run(spec(Kind::Both, 2, 60), &[0, 1, 2, 3, 62, 63]);
        assert_eq!(b, [false, true, false, false, false, true]);
        let d = run(spec(Kind::DetectionFilter, 2, 60), &[0, 1, 2, 3, 70]);
        assert_eq!(d, [false, false, true, true, false]);
    }

    #[test]
    fn parse_forms() {
        let t = |s| Token { text: s, start: 0 };
        let s = parse(t("type limit, track by_src, seconds 60, count 1"), false).unwrap();
        assert_eq!(s.kind, Kind::Limit);
        assert!(parse(t("type limit, track by_src"), false).is_err());
        let d = parse(t("track by_dst, count 5, seconds 10"), true).unwrap();
        assert_eq!(d.kind, Kind::DetectionFilter);
    }
}
