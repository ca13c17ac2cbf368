//! Overlap policies: which copy of an overlapping byte a target OS keeps.
//!
//! Suricata implements each policy as trimming rules applied while fragments are inserted
//! (defrag.c, `DefragInsertFrag`). Its unit tests (the Sturges/Novak "target-based" pattern)
//! pin the result down; every one of them is reproduced by one pairwise rule per policy,
//! applied byte by byte in arrival order: a byte already held belongs to the fragment that
//! wrote it last, and the new fragment overwrites it when [`OverlapPolicy::new_wins`] says so,
//! comparing the *original* extents (offset, end) of the two fragments. That formulation is
//! what this module implements, because it is order-exact, needs no trimming state and is
//! easy to check against a model (see the tests).

use std::fmt;
use std::str::FromStr;

/// How overlapping fragment data is resolved, named as in Suricata's `defrag` / host-os
/// policy configuration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum OverlapPolicy {
    /// BSD (Suricata's default): an earlier fragment that starts at or before the new one
    /// keeps its bytes; a new fragment that starts before an earlier one overwrites it.
    #[default]
    Bsd,
    /// BSD-right (HP JetDirect). Suricata has no rule for it (its `\todo policy bsd-right`),
    /// so its result is the copy order of reassembly: the fragment with the larger offset
    /// wins, the later one on equal offsets. Reproduced here as such.
    BsdRight,
    /// Linux: like BSD, but a new fragment starting at the same offset overwrites.
    Linux,
    /// Windows: the earlier data wins, unless the new fragment starts before and ends after
    /// the earlier one.
    Windows,
    /// Solaris: the earlier data wins, unless the new fragment starts before the earlier one
    /// and ends at or after its end.
    Solaris,
    /// First: the first copy of every byte wins.
    First,
    /// Last: the last copy of every byte wins.
    Last,
}

impl OverlapPolicy {
    /// Every policy, for tests and configuration listings.
    pub const ALL: [OverlapPolicy; 7] = [
        OverlapPolicy::Bsd,
        OverlapPolicy::BsdRight,
        OverlapPolicy::Linux,
        OverlapPolicy::Windows,
        OverlapPolicy::Solaris,
        OverlapPolicy::First,
        OverlapPolicy::Last,
    ];

    /// The configuration name (`bsd`, `bsd-right`, `linux`, `windows`, `solaris`, `first`,
    /// `last`).
    pub fn name(self) -> &'static str {
        match self {
            OverlapPolicy::Bsd => "bsd",
            OverlapPolicy::BsdRight => "bsd-right",
            OverlapPolicy::Linux => "linux",
            OverlapPolicy::Windows => "windows",
            OverlapPolicy::Solaris => "solaris",
            OverlapPolicy::First => "first",
            OverlapPolicy::Last => "last",
        }
    }

    /// Whether a byte held from a fragment that covered `[old_start, old_end)` is replaced by
    /// the same byte of a new fragment covering `[new_start, new_end)`.
    pub fn new_wins(self, old_start: u32, old_end: u32, new_start: u32, new_end: u32) -> bool {
        match self {
            OverlapPolicy::Bsd => new_start < old_start,
            OverlapPolicy::BsdRight => new_start >= old_start,
            OverlapPolicy::Linux => new_start <= old_start,
            OverlapPolicy::Windows => new_start < old_start && new_end > old_end,
            OverlapPolicy::Solaris => new_start < old_start && new_end >= old_end,
            OverlapPolicy::First => false,
            OverlapPolicy::Last => true,
        }
    }
}

impl fmt::Display for OverlapPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An overlap policy name that is not one of Suricata's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown defrag policy {0:?} (expected bsd, bsd-right, linux, windows, solaris, first or last)"
)]
pub struct UnknownPolicy(pub String);

impl FromStr for OverlapPolicy {
    type Err = UnknownPolicy;

    /// Accepts the defrag policy names and, like Suricata's host-os-policy mapping
    /// (`DefragGetOsPolicy`), the OS names that map onto them.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(p) = OverlapPolicy::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
        {
            return Ok(p);
        }
        let alias = match s.to_ascii_lowercase().as_str() {
            "hpux10" | "irix" => OverlapPolicy::Bsd,
            "old-linux" => OverlapPolicy::Linux,
            "old-solaris" | "hpux11" | "macos" => OverlapPolicy::First,
            "vista" | "windows2k3" => OverlapPolicy::Windows,
            _ => return Err(UnknownPolicy(s.to_string())),
        };
        Ok(alias)
    }
}
