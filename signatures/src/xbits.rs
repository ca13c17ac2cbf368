//! `xbits`: named bits on hosts or host pairs, shared by all flows (Suricata's xbits with
//! `track ip_src`, `ip_dst` or `ip_pair`; ET Open uses them to tie, say, a login on one flow
//! to a download on another).
//!
//! `xbits:<set|unset|toggle|isset|isnotset>,<name>,track <ip_src|ip_dst|ip_pair>[,expire <s>]`.
//! As in Suricata, `ip_src` and `ip_dst` address one host table (a bit set on the source of
//! one packet can be tested on the destination of another), `ip_pair` a table of unordered
//! address pairs; `set` stamps an expiry (`expire`, default 30 s) and a bit is set while the
//! packet time is before it. The state lives next to the threshold table in the mutex that
//! [`crate::Scratch::share_thresholds`] shares between workers, taken only when a rule with
//! xbits is verified, never per packet. Memory is bounded: a fixed open-addressing table whose
//! full probe window evicts an expired entry, else the one expiring first (counted).

use std::net::IpAddr;

use crate::lexer::{shown, Perr, Token};

/// Suricata's default `expire` (DETECT_XBITS_EXPIRE_DEFAULT).
const DEFAULT_EXPIRE: u32 = 30;

/// The operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Set,
    Unset,
    Toggle,
    IsSet,
    IsNotSet,
}

/// What the bit is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Track {
    Src,
    Dst,
    Pair,
}

/// One parsed `xbits` keyword; `id` is resolved by the builder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Spec {
    pub(crate) op: Op,
    pub(crate) name: String,
    pub(crate) id: u16,
    pub(crate) track: Track,
    pub(crate) expire: u32,
}

impl Spec {
    /// isset/isnotset: a condition rather than an action.
    pub(crate) fn is_condition(&self) -> bool {
        matches!(self.op, Op::IsSet | Op::IsNotSet)
    }
}

/// Parses the value of `xbits:`.
pub(crate) fn parse(v: Token<'_>) -> Result<Spec, Perr> {
    let err = |m: String| Perr::new(v.start, m);
    let mut parts = v.text.split(',').map(str::trim);
    let op = match parts.next().unwrap_or("") {
        "set" => Op::Set,
        "unset" => Op::Unset,
        "toggle" => Op::Toggle,
        "isset" => Op::IsSet,
        "isnotset" => Op::IsNotSet,
        other => {
            return Err(err(format!(
                "expected xbits set, unset, toggle, isset or isnotset, found '{}'",
                shown(other)
            )))
        }
    };
    let name = parts.next().unwrap_or("");
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(err(format!(
            "expected an xbits name, found '{}'",
            shown(name)
        )));
    }
    let (mut track, mut expire) = (None, None);
    for part in parts {
        let (k, val) = part
            .split_once(char::is_whitespace)
            .map_or((part, ""), |(a, b)| (a, b.trim()));
        match k {
            "track" => {
                track = Some(match val {
                    "ip_src" => Track::Src,
                    "ip_dst" => Track::Dst,
                    "ip_pair" => Track::Pair,
                    other => {
                        return Err(err(format!(
                            "expected track ip_src, ip_dst or ip_pair, found '{}'",
                            shown(other)
                        )))
                    }
                })
            }
            "expire" => {
                expire = Some(val.parse::<u32>().ok().filter(|e| *e > 0).ok_or_else(|| {
                    err(format!(
                        "expected a positive number of seconds for expire, found '{}'",
                        shown(val)
                    ))
                })?)
            }
            other => return Err(err(format!("unknown xbits option '{}'", shown(other)))),
        }
    }
    let track = track.ok_or_else(|| err("xbits needs 'track ip_src|ip_dst|ip_pair'".into()))?;
    Ok(Spec {
        op,
        name: name.to_string(),
        id: 0,
        track,
        expire: expire.unwrap_or(DEFAULT_EXPIRE),
    })
}

/// Slots in a table (each 48 bytes; allocated on the first `set`).
pub(crate) const CAPACITY: usize = 16384;
/// Slots probed before evicting.
const PROBE: usize = 8;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Key {
    id: u16,
    pair: bool,
    a: u128,
    b: u128,
}

#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    used: bool,
    key: Key,
    /// Microseconds since the epoch; set while `now < expire`.
    expire: u64,
}

/// Host and host-pair bits (see the module docs).
#[derive(Debug, Clone, Default)]
pub(crate) struct Table {
    slots: Vec<Entry>,
    /// Live entries evicted because their probe window was full.
    pub(crate) evictions: u64,
}

fn ip_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)) | (1u128 << 127),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn key(spec: &Spec, src: IpAddr, dst: IpAddr) -> Key {
    let (s, d) = (ip_bits(src), ip_bits(dst));
    match spec.track {
        Track::Src => Key {
            id: spec.id,
            pair: false,
            a: s,
            b: 0,
        },
        Track::Dst => Key {
            id: spec.id,
            pair: false,
            a: d,
            b: 0,
        },
        // A pair is the same in both directions.
        Track::Pair => Key {
            id: spec.id,
            pair: true,
            a: s.min(d),
            b: s.max(d),
        },
    }
}

fn hash(k: &Key) -> usize {
    let mut x = u64::from(k.id) | (u64::from(k.pair) << 16);
    x ^= (k.a as u64) ^ ((k.a >> 64) as u64).rotate_left(17) ^ (k.b as u64).rotate_left(31);
    x ^= ((k.b >> 64) as u64).rotate_left(47);
    x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (x >> 32) as usize
}

impl Table {
    fn find(&self, k: &Key) -> Option<usize> {
        let n = self.slots.len();
        if n == 0 {
            return None;
        }
        let h = hash(k);
        (0..PROBE)
            .map(|i| (h + i) % n)
            .find(|&i| self.slots.get(i).is_some_and(|e| e.used && e.key == *k))
    }

    fn is_set(&self, k: &Key, now: u64) -> bool {
        self.find(k)
            .and_then(|i| self.slots.get(i))
            .is_some_and(|e| now < e.expire)
    }

    fn set(&mut self, k: Key, expire: u64, now: u64) {
        if self.slots.is_empty() {
            self.slots = vec![Entry::default(); CAPACITY];
        }
        let n = self.slots.len();
        let h = hash(&k);
        let mut victim = h % n;
        let mut best = u64::MAX;
        for i in 0..PROBE {
            let idx = (h + i) % n;
            let Some(e) = self.slots.get(idx) else {
                continue;
            };
            if e.used && e.key == k {
                victim = idx;
                break;
            }
            // Free or expired slots first, then the entry expiring soonest.
            let rank = if !e.used || e.expire <= now {
                0
            } else {
                e.expire
            };
            if rank < best {
                victim = idx;
                best = rank;
            }
        }
        if let Some(e) = self.slots.get_mut(victim) {
            if e.used && e.key != k && e.expire > now {
                self.evictions += 1;
            }
            *e = Entry {
                used: true,
                key: k,
                expire,
            };
        }
    }

    fn unset(&mut self, k: &Key) {
        if let Some(e) = self.find(k).and_then(|i| self.slots.get_mut(i)) {
            e.used = false;
        }
    }

    /// Whether the condition `spec` (isset/isnotset) holds; actions hold trivially.
    pub(crate) fn check(&self, spec: &Spec, src: IpAddr, dst: IpAddr, now: u64) -> bool {
        let set = self.is_set(&key(spec, src, dst), now);
        match spec.op {
            Op::IsSet => set,
            Op::IsNotSet => !set,
            _ => true,
        }
    }

    /// Runs the action `spec` (set/unset/toggle); conditions do nothing.
    pub(crate) fn apply(&mut self, spec: &Spec, src: IpAddr, dst: IpAddr, now: u64) {
        let k = key(spec, src, dst);
        let expire = now.saturating_add(u64::from(spec.expire).saturating_mul(1_000_000));
        match spec.op {
            Op::Set => self.set(k, expire, now),
            Op::Unset => self.unset(&k),
            Op::Toggle => {
                if self.is_set(&k, now) {
                    self.unset(&k);
                } else {
                    self.set(k, expire, now);
                }
            }
            Op::IsSet | Op::IsNotSet => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses; the id is the name's first byte, as the builder would intern it.
    fn spec(s: &str) -> Spec {
        let mut sp = parse(Token { text: s, start: 0 }).unwrap();
        sp.id = u16::from(sp.name.as_bytes()[0]);
        sp
    }

    #[test]
    fn parses_et_forms() {
        let s = spec("set, ET.PROPFIND, track ip_src, expire 360");
        assert_eq!((s.op, s.track, s.expire), (Op::Set, Track::Src, 360));
        assert_eq!(s.name, "ET.PROPFIND");
        let s = spec("isset,ET.IBMDRM1,track ip_dst");
        assert_eq!((s.op, s.track, s.expire), (Op::IsSet, Track::Dst, 30));
        assert_eq!(spec("unset,a,track ip_pair,expire 5").track, Track::Pair);
        for bad in [
            "flip,a,track ip_src",
            "set,,track ip_src",
            "set,a",
            "set,a,track host",
            "set,a,track ip_src,expire 0",
            "set,a,track ip_src,ttl 3",
        ] {
            assert!(
                parse(Token {
                    text: bad,
                    start: 0
                })
                .is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn host_bits_pairs_and_expiry() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let mut t = Table::default();
        let set_src = spec("set,x,track ip_src,expire 10");
        let isset_dst = spec("isset,x,track ip_dst");
        t.apply(&set_src, a, b, 0);
        // Same host table: set on a as source, seen on a as destination.
        assert!(t.check(&isset_dst, b, a, 1));
        assert!(!t.check(&isset_dst, a, b, 1));
        assert!(!t.check(&isset_dst, b, a, 10_000_000));
        let pair = spec("set,p,track ip_pair");
        t.apply(&pair, a, b, 0);
        assert!(t.check(&spec("isset,p,track ip_pair"), b, a, 5));
        assert!(t.check(&spec("isnotset,p,track ip_src"), a, b, 5));
        t.apply(&spec("unset,p,track ip_pair"), a, b, 6);
        assert!(!t.check(&spec("isset,p,track ip_pair"), a, b, 7));
        t.apply(&spec("toggle,p,track ip_pair"), a, b, 8);
        assert!(t.check(&spec("isset,p,track ip_pair"), a, b, 9));
    }

    #[test]
    fn bounded_with_evictions() {
        let mut t = Table::default();
        let s = spec("set,x,track ip_src,expire 100");
        for i in 0..(CAPACITY as u32 * 2) {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(i));
            t.apply(&s, ip, ip, 0);
        }
        assert_eq!(t.slots.len(), CAPACITY);
        assert!(t.evictions > 0);
    }
}
