//! Per-flow variables that survive a rule reload: flowbits and flowint.
//!
//! The state lives in [`FlowVars`], which the sensor stores in its flow entry (fixed size, no
//! heap: a 512-bit bitset and eight integer slots) and hands to
//! [`crate::RuleSet::detect_with_flow`]. Rules refer to variables by small ids interned by
//! name at load time. A reload keeps ids stable when the new builder inherits the old rule
//! set's names ([`crate::RuleSetBuilder::inherit_var_ids`]): a name keeps its id and new names
//! get fresh ones, so bits set before the swap mean the same afterwards. A rule whose flowbit
//! would not fit the bitset is loaded inactive rather than mis-matched.

use crate::lexer::{shown, Perr, Token};

/// Flowbit ids per flow.
pub const FLOWBITS_CAPACITY: usize = 512;
/// Flowint variables per flow.
pub const FLOWINTS_CAPACITY: usize = 8;

/// Flowbits and flowints of one flow. `Default` is "nothing set".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowVars {
    bits: [u64; FLOWBITS_CAPACITY / 64],
    /// (id + 1, value); id 0 marks a free slot.
    ints: [(u16, u32); FLOWINTS_CAPACITY],
}

impl FlowVars {
    /// Whether flowbit `id` is set.
    pub fn is_set(&self, id: u16) -> bool {
        let i = usize::from(id);
        self.bits
            .get(i / 64)
            .is_some_and(|w| w & (1u64 << (i % 64)) != 0)
    }

    fn put(&mut self, id: u16, on: bool) {
        let i = usize::from(id);
        if let Some(w) = self.bits.get_mut(i / 64) {
            if on {
                *w |= 1u64 << (i % 64);
            } else {
                *w &= !(1u64 << (i % 64));
            }
        }
    }

    /// Clears everything (e.g. when the flow entry is reused).
    pub fn clear(&mut self) {
        *self = FlowVars::default();
    }

    /// Value of flowint `id`, if set.
    pub fn int(&self, id: u16) -> Option<u32> {
        self.ints
            .iter()
            .find(|(k, _)| *k == id.wrapping_add(1))
            .map(|(_, v)| *v)
    }

    /// Sets flowint `id`; false when all slots are taken by other variables.
    fn set_int(&mut self, id: u16, v: u32) -> bool {
        let key = id.wrapping_add(1);
        if let Some(slot) = self.ints.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = v;
            return true;
        }
        if let Some(slot) = self.ints.iter_mut().find(|(k, _)| *k == 0) {
            *slot = (key, v);
            return true;
        }
        false
    }

    fn unset_int(&mut self, id: u16) {
        let key = id.wrapping_add(1);
        for slot in &mut self.ints {
            if slot.0 == key {
                *slot = (0, 0);
            }
        }
    }
}

/// Name -> id tables for flowbits and flowints.
#[derive(Debug, Clone, Default)]
pub(crate) struct VarNames {
    pub(crate) bits: Vec<String>,
    pub(crate) ints: Vec<String>,
    /// xbits names (their state outlives a reload in the shared table, so ids are kept).
    pub(crate) xbits: Vec<String>,
}

impl VarNames {
    fn intern(list: &mut Vec<String>, name: &str) -> usize {
        if let Some(i) = list.iter().position(|n| n == name) {
            return i;
        }
        list.push(name.to_string());
        list.len() - 1
    }
    /// Id of a flowbit name, None when beyond capacity.
    pub(crate) fn bit(&mut self, name: &str) -> Option<u16> {
        let i = Self::intern(&mut self.bits, name);
        (i < FLOWBITS_CAPACITY).then_some(i as u16)
    }
    /// Id of an xbits name.
    pub(crate) fn xbit(&mut self, name: &str) -> Option<u16> {
        u16::try_from(Self::intern(&mut self.xbits, name)).ok()
    }
    /// Id of a flowint name (ids are unbounded; slots per flow are not).
    pub(crate) fn int(&mut self, name: &str) -> Option<u16> {
        u16::try_from(Self::intern(&mut self.ints, name)).ok()
    }
}

/// A flowbits operation as written (names resolved later, by the builder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BitsOp {
    Set,
    Unset,
    Toggle,
    IsSet,
    IsNotSet,
}

/// One parsed `flowbits` keyword (not `noalert`, which the caller handles).
#[derive(Debug, Clone)]
pub(crate) struct FlowbitsRaw {
    pub(crate) op: BitsOp,
    pub(crate) names: Vec<String>,
    /// `a|b`: any; otherwise (`a&b` or single): all.
    pub(crate) any: bool,
}

/// A compiled flowbits condition or action.
#[derive(Debug, Clone)]
pub(crate) struct Flowbits {
    pub(crate) op: BitsOp,
    pub(crate) ids: Vec<u16>,
    pub(crate) any: bool,
}

impl Flowbits {
    pub(crate) fn is_condition(&self) -> bool {
        matches!(self.op, BitsOp::IsSet | BitsOp::IsNotSet)
    }

    pub(crate) fn check(&self, vars: &FlowVars) -> bool {
        let test = |id: &u16| match self.op {
            BitsOp::IsNotSet => !vars.is_set(*id),
            _ => vars.is_set(*id),
        };
        if self.any {
            self.ids.iter().any(test)
        } else {
            self.ids.iter().all(test)
        }
    }

    pub(crate) fn apply(&self, vars: &mut FlowVars) {
        for &id in &self.ids {
            match self.op {
                BitsOp::Set => vars.put(id, true),
                BitsOp::Unset => vars.put(id, false),
                BitsOp::Toggle => vars.put(id, !vars.is_set(id)),
                BitsOp::IsSet | BitsOp::IsNotSet => {}
            }
        }
    }
}

/// Parses `flowbits:<op>[,<names>]`; returns None for `noalert`.
pub(crate) fn parse_flowbits(v: Token<'_>) -> Result<Option<FlowbitsRaw>, Perr> {
    let (op_text, names) = match v.text.split_once(',') {
        Some((a, b)) => (a.trim(), Some(b.trim())),
        None => (v.text.trim(), None),
    };
    let op = match op_text.to_ascii_lowercase().as_str() {
        "noalert" => {
            return match names {
                None => Ok(None),
                Some(_) => Err(Perr::new(v.start, "flowbits:noalert takes no name")),
            }
        }
        "set" => BitsOp::Set,
        "unset" => BitsOp::Unset,
        "toggle" => BitsOp::Toggle,
        "isset" => BitsOp::IsSet,
        "isnotset" => BitsOp::IsNotSet,
        other => {
            return Err(Perr::new(
                v.start,
                format!(
                    "expected a flowbits operation (set, unset, toggle, isset, isnotset, noalert), found '{}'",
                    shown(other)
                ),
            ))
        }
    };
    let Some(names) = names.filter(|n| !n.is_empty()) else {
        return Err(Perr::new(
            v.start,
            format!("flowbits:{op_text} needs a flowbit name"),
        ));
    };
    let any = names.contains('|');
    if any && names.contains('&') {
        return Err(Perr::new(v.start, "flowbits cannot mix '|' and '&'"));
    }
    if any && !matches!(op, BitsOp::IsSet | BitsOp::IsNotSet) {
        return Err(Perr::new(
            v.start,
            "flowbits '|' is only allowed with isset and isnotset",
        ));
    }
    let names: Vec<String> = names
        .split(['|', '&'])
        .map(|n| n.trim().to_string())
        .collect();
    if names
        .iter()
        .any(|n| n.is_empty() || n.contains(char::is_whitespace))
    {
        return Err(Perr::new(
            v.start,
            format!("invalid flowbit name in '{}'", shown(v.text)),
        ));
    }
    Ok(Some(FlowbitsRaw { op, names, any }))
}

/// flowint operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IntOp {
    Assign,
    Add,
    Sub,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    IsSet,
    NotSet,
}

/// A parsed `flowint`; `id` is filled by the builder.
#[derive(Debug, Clone)]
pub(crate) struct Flowint {
    pub(crate) name: String,
    pub(crate) id: u16,
    pub(crate) op: IntOp,
    pub(crate) value: u32,
}

impl Flowint {
    pub(crate) fn is_condition(&self) -> bool {
        !matches!(self.op, IntOp::Assign | IntOp::Add | IntOp::Sub)
    }

    pub(crate) fn check(&self, vars: &FlowVars) -> bool {
        let cur = vars.int(self.id);
        let v = self.value;
        match self.op {
            IntOp::IsSet => cur.is_some(),
            IntOp::NotSet => cur.is_none(),
            IntOp::Eq => cur == Some(v),
            IntOp::Ne => cur.is_some_and(|c| c != v),
            IntOp::Lt => cur.is_some_and(|c| c < v),
            IntOp::Le => cur.is_some_and(|c| c <= v),
            IntOp::Gt => cur.is_some_and(|c| c > v),
            IntOp::Ge => cur.is_some_and(|c| c >= v),
            IntOp::Assign | IntOp::Add | IntOp::Sub => true,
        }
    }

    pub(crate) fn apply(&self, vars: &mut FlowVars) {
        let cur = vars.int(self.id).unwrap_or(0);
        let new = match self.op {
            IntOp::Assign => self.value,
            IntOp::Add => cur.saturating_add(self.value),
            IntOp::Sub => cur.saturating_sub(self.value),
            _ => return,
        };
        if !vars.set_int(self.id, new) {
            // No free slot: the variable stays unset (bounded memory wins).
            vars.unset_int(self.id);
        }
    }
}

/// Parses `flowint:<name>,<op>[,<value>]`. A variable as value is unsupported (Err(None)).
pub(crate) fn parse_flowint(v: Token<'_>) -> Result<Result<Flowint, String>, Perr> {
    let parts: Vec<&str> = v.text.split(',').map(str::trim).collect();
    let bad = |m: &str| Perr::new(v.start, m.to_string());
    let (Some(name), Some(op)) = (parts.first(), parts.get(1)) else {
        return Err(bad("expected flowint:<name>,<operator>[,<value>]"));
    };
    if name.is_empty() {
        return Err(bad("flowint needs a variable name"));
    }
    let op = match *op {
        "=" => IntOp::Assign,
        "+" | "+=" => IntOp::Add,
        "-" | "-=" => IntOp::Sub,
        "==" => IntOp::Eq,
        "!=" => IntOp::Ne,
        "<" => IntOp::Lt,
        "<=" => IntOp::Le,
        ">" => IntOp::Gt,
        ">=" => IntOp::Ge,
        "isset" => IntOp::IsSet,
        "notset" | "isnotset" => IntOp::NotSet,
        other => {
            return Err(bad(&format!(
                "expected a flowint operator, found '{}'",
                shown(other)
            )))
        }
    };
    let value = if matches!(op, IntOp::IsSet | IntOp::NotSet) {
        0
    } else {
        let Some(val) = parts.get(2) else {
            return Err(bad("flowint needs a value for this operator"));
        };
        match val.parse::<u32>() {
            Ok(n) => n,
            Err(_)
                if val
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') =>
            {
                return Ok(Err("keyword flowint:variable-value".to_string()))
            }
            Err(_) => return Err(bad(&format!("invalid flowint value '{}'", shown(val)))),
        }
    };
    Ok(Ok(Flowint {
        name: (*name).to_string(),
        id: 0,
        op,
        value,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_and_ints() {
        let mut v = FlowVars::default();
        let set = Flowbits {
            op: BitsOp::Set,
            ids: vec![3, 511],
            any: false,
        };
        set.apply(&mut v);
        assert!(v.is_set(3) && v.is_set(511) && !v.is_set(4));
        let isset = Flowbits {
            op: BitsOp::IsSet,
            ids: vec![3, 4],
            any: true,
        };
        assert!(isset.check(&v));
        let all = Flowbits {
            any: false,
            ..isset.clone()
        };
        assert!(!all.check(&v));
        for i in 0..9u16 {
            let f = Flowint {
                name: String::new(),
                id: i,
                op: IntOp::Add,
                value: 2,
            };
            f.apply(&mut v);
        }
        assert_eq!(v.int(0), Some(2));
        assert_eq!(v.int(8), None);
    }
}
