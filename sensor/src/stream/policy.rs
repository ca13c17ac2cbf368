//! Overlap policies: which bytes win when a segment overlaps buffered, not yet delivered data.
//!
//! Decisions follow Suricata's `DoHandleDataOverlap` (stream-tcp-list.c), which encodes how
//! each target OS resolves an overlap from where the new segment starts and ends relative to
//! the stored segment it overlaps (Novak's target-based reassembly results).

/// How the monitored hosts' TCP stacks resolve overlapping segments (Suricata's
/// `host-os-policy` names). Suricata's default is [`OverlapPolicy::Bsd`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OverlapPolicy {
    /// The first data received for a byte always wins.
    First,
    /// The last data received for a byte always wins.
    Last,
    /// BSD (also Suricata's `hpux10`, `irix`, `windows`, `windows2k3`, `macos`): new data wins
    /// only where the new segment starts before the stored one.
    #[default]
    Bsd,
    /// Linux: as BSD, and also when the new segment starts with the stored one and ends beyond it.
    Linux,
    /// Old Linux: as BSD, and also when the new segment starts with the stored one and ends at
    /// or beyond its end.
    OldLinux,
    /// Solaris (also `hpux11`): new data wins when the new segment ends at or beyond the stored
    /// one and does not start after it, or starts after it and ends beyond it.
    Solaris,
    /// Windows Vista (also `bsd-right`, `old-solaris`): the stored data always wins, as `First`.
    Vista,
}

impl OverlapPolicy {
    /// Parses a Suricata `host-os-policy` name.
    pub fn from_name(name: &str) -> Option<OverlapPolicy> {
        Some(match name.to_ascii_lowercase().as_str() {
            "first" => OverlapPolicy::First,
            "last" => OverlapPolicy::Last,
            "bsd" | "hpux10" | "irix" | "windows" | "windows2k3" | "macos" => OverlapPolicy::Bsd,
            "linux" => OverlapPolicy::Linux,
            "old-linux" => OverlapPolicy::OldLinux,
            "solaris" | "hpux11" => OverlapPolicy::Solaris,
            // Suricata lists these in none of its "new data wins" cases.
            "vista" | "bsd-right" | "old-solaris" => OverlapPolicy::Vista,
            _ => return None,
        })
    }

    /// Whether the new segment `[ns, ne)` replaces the overlapped bytes of the stored segment
    /// `[ls, le)` (stream offsets) when the bytes differ.
    pub fn new_wins(self, ns: u64, ne: u64, ls: u64, le: u64) -> bool {
        use std::cmp::Ordering::*;
        match self {
            OverlapPolicy::Last => true,
            OverlapPolicy::First | OverlapPolicy::Vista => false,
            OverlapPolicy::Bsd => ns < ls,
            OverlapPolicy::Linux => ns < ls || (ns == ls && ne > le),
            OverlapPolicy::OldLinux => ns < ls || (ns == ls && ne >= le),
            OverlapPolicy::Solaris => match ns.cmp(&ls) {
                Equal | Less => ne >= le,
                Greater => ne > le,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::OverlapPolicy::*;
    use super::*;

    #[test]
    fn suricata_overlap_table() {
        // (new start, new end) against stored [10, 20).
        let cases: &[(u64, u64, [bool; 6])] = &[
            //            First  Last  Bsd    Linux  OldLx  Solaris
            (5, 15, [false, true, true, true, true, false]),
            (5, 25, [false, true, true, true, true, true]),
            (10, 15, [false, true, false, false, false, false]),
            (10, 20, [false, true, false, false, true, true]),
            (10, 25, [false, true, false, true, true, true]),
            (12, 18, [false, true, false, false, false, false]),
            (12, 20, [false, true, false, false, false, false]),
            (12, 25, [false, true, false, false, false, true]),
        ];
        for &(ns, ne, want) in cases {
            for (p, w) in [First, Last, Bsd, Linux, OldLinux, Solaris]
                .into_iter()
                .zip(want)
            {
                assert_eq!(p.new_wins(ns, ne, 10, 20), w, "{p:?} [{ns},{ne})");
            }
        }
        assert_eq!(OverlapPolicy::default(), Bsd);
        assert_eq!(OverlapPolicy::from_name("windows"), Some(Bsd));
        assert_eq!(OverlapPolicy::from_name("nope"), None);
    }
}
