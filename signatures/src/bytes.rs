//! `byte_test`, `byte_jump` and `byte_extract`: read a number from the payload and compare,
//! jump or remember it.
//!
//! `byte_extract` stores the value in one of [`MAX_VARS`] per-rule variables (moving the
//! inspection point past the bytes read, as Suricata does); a later `byte_test` may compare
//! against the variable by name. Variables in other places (offsets, distance/within, ...)
//! make the rule unsupported (`keyword byte_extract:<keyword>`).
//!
//! Both keywords share one extraction step (binary big/little endian, or a string number in
//! hex/dec/oct read like C's `strtoull`, optional bitmask with Suricata's shift), so it lives
//! here once. The arithmetic mirrors Suricata's `DetectBytetestDoMatch` and
//! `DetectBytejumpDoMatch` (signed offsets, relative to the previous match, `post_offset`,
//! `align`, `from_beginning`/`from_end`, a jump before the buffer clamps to its start, past the
//! end fails), and is done in `i64` so hostile values cannot overflow.

use crate::lexer::{shown, Perr, Token};

/// How the number is stored in the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Big,
    Little,
    /// ASCII digits in this base (8, 10 or 16).
    String(u32),
}

/// The extraction part common to byte_test and byte_jump.
#[derive(Debug, Clone)]
struct Extract {
    nbytes: usize,
    offset: i64,
    relative: bool,
    encoding: Encoding,
    bitmask: Option<u64>,
}

impl Extract {
    /// Start of the bytes to read, or None when outside the buffer.
    fn start(&self, buf: &[u8], prev_end: usize) -> Option<usize> {
        let len = buf.len() as i64;
        if len == 0 {
            return None;
        }
        let base = if self.relative { prev_end as i64 } else { 0 };
        let start = base + self.offset;
        let remaining = len - start;
        if self.relative && self.nbytes > 0 && len - base <= 0 {
            return None;
        }
        if start < 0 || (self.nbytes as i64) > remaining {
            return None;
        }
        usize::try_from(start).ok()
    }

    /// Reads the value at `start`; returns it and how many bytes were consumed.
    fn read(&self, buf: &[u8], start: usize) -> Option<(u64, usize)> {
        let bytes = buf.get(start..start + self.nbytes)?;
        let (mut val, used) = match self.encoding {
            Encoding::Big => (
                bytes.iter().fold(0u64, |v, &b| (v << 8) | u64::from(b)),
                bytes.len(),
            ),
            Encoding::Little => (
                bytes
                    .iter()
                    .rev()
                    .fold(0u64, |v, &b| (v << 8) | u64::from(b)),
                bytes.len(),
            ),
            Encoding::String(base) => strtoull(bytes, base)?,
        };
        if let Some(mask) = self.bitmask {
            val &= mask;
            if val != 0 {
                val >>= mask.trailing_zeros().min(63);
            }
        }
        Some((val, used))
    }
}

/// C `strtoull` on a byte slice: leading whitespace, optional sign, optional `0x` for base
/// 16, digits until the first non-digit. None when no digit was read or on overflow (both
/// are "no match" in Suricata).
fn strtoull(s: &[u8], base: u32) -> Option<(u64, usize)> {
    let mut i = 0;
    while s
        .get(i)
        .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
    {
        i += 1;
    }
    let negative = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    if base == 16
        && s.get(i) == Some(&b'0')
        && matches!(s.get(i + 1), Some(b'x' | b'X'))
        && s.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
    {
        i += 2;
    }
    let digits_start = i;
    let mut val: u64 = 0;
    while let Some(d) = s.get(i).and_then(|b| (*b as char).to_digit(base)) {
        val = val
            .checked_mul(u64::from(base))?
            .checked_add(u64::from(d))?;
        i += 1;
    }
    if i == digits_start {
        return None;
    }
    Some((if negative { val.wrapping_neg() } else { val }, i))
}

/// byte_test comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Lt,
    Gt,
    Eq,
    Le,
    Ge,
    And,
    Xor,
}

/// Variables a rule may define with byte_extract.
pub(crate) const MAX_VARS: usize = 8;

/// A compiled `byte_test`.
#[derive(Debug, Clone)]
pub(crate) struct ByteTest {
    extract: Extract,
    op: Op,
    negated: bool,
    value: u64,
    /// Compare against this byte_extract variable instead of `value`.
    value_var: Option<u8>,
}

/// A compiled `byte_extract`.
#[derive(Debug, Clone)]
pub(crate) struct ByteExtract {
    extract: Extract,
    pub(crate) slot: u8,
    multiplier: u64,
    align: u64,
}

impl ByteExtract {
    pub(crate) fn is_relative(&self) -> bool {
        self.extract.relative
    }

    /// The value and the new inspection offset, or None (no match).
    pub(crate) fn extract(&self, buf: &[u8], prev_end: usize) -> Option<(u64, usize)> {
        let start = self.extract.start(buf, prev_end)?;
        let (val, used) = self.extract.read(buf, start)?;
        let mut val = val.wrapping_mul(self.multiplier);
        if self.align > 1 && val % self.align != 0 {
            val = val.wrapping_add(self.align - val % self.align);
        }
        Some((val, start + used))
    }
}

/// Parses `byte_extract:<bytes>,<offset>,<name>[,options]`; `names` receives the variable.
pub(crate) fn parse_byte_extract(
    v: Token<'_>,
    names: &mut Vec<String>,
) -> Result<ByteExtract, Perr> {
    let a = args(v);
    if a.len() < 3 {
        return Err(Perr::new(
            v.start,
            "expected byte_extract:<bytes>,<offset>,<name>[,options]",
        ));
    }
    let nbytes = int(a[0], "a number of bytes")?;
    let offset = parse_offset(a[1], "a byte_extract offset")?;
    let name = a[2].text;
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(Perr::new(
            a[2].start,
            format!("expected a variable name, found '{}'", shown(name)),
        ));
    }
    if names.iter().any(|n| n == name) {
        return Err(Perr::new(
            a[2].start,
            format!("variable '{name}' defined twice"),
        ));
    }
    if names.len() >= MAX_VARS {
        return Err(Perr::new(
            a[2].start,
            format!("more than {MAX_VARS} byte_extract variables"),
        ));
    }
    let (ex, rest) = extract_spec(offset, &a[3..])?;
    let mut out = ByteExtract {
        extract: ex,
        slot: names.len() as u8,
        multiplier: 1,
        align: 1,
    };
    for f in rest {
        let lower = f.text.to_ascii_lowercase();
        let arg = |n: &str| {
            let v = f.text[n.len()..].trim_start();
            Token {
                text: v,
                start: f.start + (f.text.len() - v.len()),
            }
        };
        if lower.starts_with("multiplier") {
            out.multiplier = uint_in(arg("multiplier"), "a multiplier", 1, 65535)? as u64;
        } else if lower.starts_with("align") {
            let n = uint_in(arg("align"), "an alignment (2 or 4)", 2, 4)?;
            if n == 3 {
                return Err(Perr::new(f.start, "align must be 2 or 4"));
            }
            out.align = n as u64;
        } else {
            return Err(Perr::new(
                f.start,
                format!("unknown byte_extract option '{}'", shown(f.text)),
            ));
        }
    }
    nbytes_check(a[0], nbytes, &out.extract, 1)?;
    out.extract.nbytes = nbytes as usize;
    names.push(name.to_string());
    Ok(out)
}

impl ByteTest {
    pub(crate) fn is_relative(&self) -> bool {
        self.extract.relative
    }

    #[cfg(test)]
    pub(crate) fn matches(&self, buf: &[u8], prev_end: usize) -> bool {
        self.matches_with(buf, prev_end, &[])
    }

    /// With the rule's byte_extract variables.
    pub(crate) fn matches_with(&self, buf: &[u8], prev_end: usize, vars: &[u64]) -> bool {
        let Some(start) = self.extract.start(buf, prev_end) else {
            return false;
        };
        let Some((val, _)) = self.extract.read(buf, start) else {
            return false;
        };
        let v = match self.value_var {
            Some(slot) => vars.get(usize::from(slot)).copied().unwrap_or(0),
            None => self.value,
        };
        let m = match self.op {
            Op::Lt => val < v,
            Op::Gt => val > v,
            Op::Eq => val == v,
            Op::Le => val <= v,
            Op::Ge => val >= v,
            Op::And => val & v != 0,
            Op::Xor => val ^ v != 0,
        };
        m != self.negated
    }
}

/// Where a byte_jump is measured from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JumpFrom {
    /// After the bytes read (the default).
    Here,
    Beginning,
    End,
}

/// A compiled `byte_jump`.
#[derive(Debug, Clone)]
pub(crate) struct ByteJump {
    extract: Extract,
    multiplier: u64,
    align: bool,
    from: JumpFrom,
    post_offset: i64,
}

impl ByteJump {
    pub(crate) fn is_relative(&self) -> bool {
        self.extract.relative
    }

    /// The new inspection offset, or None when the jump fails.
    pub(crate) fn jump(&self, buf: &[u8], prev_end: usize) -> Option<usize> {
        let start = self.extract.start(buf, prev_end)?;
        let (val, used) = self.extract.read(buf, start)?;
        let mut val = val.wrapping_mul(self.multiplier);
        if self.align && val % 4 != 0 {
            val = val.wrapping_add(4 - val % 4);
        }
        // Suricata adds post_offset in u64 and reinterprets as i64.
        let val = val.wrapping_add(self.post_offset as u64) as i64;
        let len = buf.len() as i64;
        let target = match self.from {
            JumpFrom::Beginning => Some(val),
            JumpFrom::End => len.checked_add(val),
            JumpFrom::Here => (start as i64 + used as i64).checked_add(val),
        }?;
        if target > len {
            return None;
        }
        usize::try_from(target.max(0)).ok()
    }
}

/// Splits `byte_test`/`byte_jump` arguments on commas, with their offsets in the rule.
fn args(v: Token<'_>) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut pos = v.start;
    for part in v.text.split(',') {
        let lead = part.len() - part.trim_start().len();
        out.push(Token {
            text: part.trim(),
            start: pos + lead,
        });
        pos += part.len() + 1;
    }
    out
}

fn int(tok: Token<'_>, what: &str) -> Result<i64, Perr> {
    let t = tok.text;
    let (neg, digits) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t),
    };
    let parsed = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) => i64::from_str_radix(hex, 16),
        None if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => digits.parse(),
        None => {
            return Err(Perr::new(
                tok.start,
                format!("expected {what}, found '{}'", shown(t)),
            ))
        }
    };
    parsed
        .map(|n| if neg { -n } else { n })
        .map_err(|_| Perr::new(tok.start, format!("expected {what}, found '{}'", shown(t))))
}

fn uint_in(tok: Token<'_>, what: &str, lo: i64, hi: i64) -> Result<i64, Perr> {
    let n = int(tok, what)?;
    if n < lo || n > hi {
        return Err(Perr::new(
            tok.start,
            format!("{what} must be {lo}-{hi}, found '{}'", shown(tok.text)),
        ));
    }
    Ok(n)
}

/// Flags shared by both keywords; returns the ones it did not recognise.
/// The offset argument of byte_test, byte_jump and byte_extract (a signed 32-bit value).
fn parse_offset(tok: Token<'_>, what: &str) -> Result<i64, Perr> {
    uint_in(tok, what, i64::from(i32::MIN), i64::from(i32::MAX))
}

/// The part byte_test, byte_jump and byte_extract share: an [`Extract`] at `offset` read as
/// the flags say (relative, endianness, string base, bitmask). Flags it does not know are
/// returned for the keyword's own options.
fn extract_spec<'a>(offset: i64, flags: &[Token<'a>]) -> Result<(Extract, Vec<Token<'a>>), Perr> {
    let mut ex = Extract {
        nbytes: 0,
        offset,
        relative: false,
        encoding: Encoding::Big,
        bitmask: None,
    };
    let (mut string_base, mut is_string) = (None, false);
    let mut rest = Vec::new();
    for f in flags {
        let lower = f.text.to_ascii_lowercase();
        match lower.as_str() {
            "relative" => ex.relative = true,
            "big" => ex.encoding = Encoding::Big,
            "little" => ex.encoding = Encoding::Little,
            "string" => is_string = true,
            "hex" => string_base = Some(16),
            "dec" => string_base = Some(10),
            "oct" => string_base = Some(8),
            _ if lower.starts_with("bitmask") => {
                let v = f.text["bitmask".len()..].trim_start();
                let tok = Token {
                    text: v,
                    start: f.start + (f.text.len() - v.len()),
                };
                let mask = uint_in(tok, "a bitmask", 1, i64::from(u32::MAX))?;
                ex.bitmask = Some(mask as u64);
            }
            _ => rest.push(*f),
        }
    }
    if is_string {
        ex.encoding = Encoding::String(string_base.unwrap_or(10));
    }
    Ok((ex, rest))
}

fn nbytes_check(tok: Token<'_>, n: i64, ex: &Extract, min: i64) -> Result<(), Perr> {
    let max = if matches!(ex.encoding, Encoding::String(_)) {
        23
    } else {
        8
    };
    if n < min || n > max {
        return Err(Perr::new(
            tok.start,
            format!(
                "number of bytes must be {min}-{max}, found '{}'",
                shown(tok.text)
            ),
        ));
    }
    Ok(())
}

/// Parses `byte_test:<n>,[!]<op>,<value>,<offset>[,flags...]`.
#[cfg(test)]
pub(crate) fn parse_byte_test(v: Token<'_>) -> Result<ByteTest, Perr> {
    parse_byte_test_vars(v, &[])
}

/// Like `parse_byte_test`; the value may name a byte_extract variable of `names`.
pub(crate) fn parse_byte_test_vars(v: Token<'_>, names: &[String]) -> Result<ByteTest, Perr> {
    let a = args(v);
    if a.len() < 4 {
        return Err(Perr::new(
            v.start,
            "expected byte_test:<bytes>,<operator>,<value>,<offset>[,options]",
        ));
    }
    let nbytes = int(a[0], "a number of bytes")?;
    let (negated, op_text) = match a[1].text.strip_prefix('!') {
        Some(r) => (true, r.trim()),
        None => (false, a[1].text),
    };
    let op = match op_text {
        "<" => Op::Lt,
        ">" => Op::Gt,
        "=" | "" if negated || op_text == "=" => Op::Eq,
        "<=" => Op::Le,
        ">=" => Op::Ge,
        "&" => Op::And,
        "^" => Op::Xor,
        _ => {
            return Err(Perr::new(
                a[1].start,
                format!(
                    "expected a byte_test operator (<, >, =, <=, >=, &, ^, optionally negated with !), found '{}'",
                    shown(a[1].text)
                ),
            ))
        }
    };
    let var = names.iter().position(|n| n == a[2].text);
    let value = match var {
        Some(_) => 0,
        None => uint_in(a[2], "a byte_test value", 0, i64::MAX)? as u64,
    };
    let offset = parse_offset(a[3], "a byte_test offset")?;
    let (mut ex, rest) = extract_spec(offset, &a[4..])?;
    if let Some(f) = rest.first() {
        return Err(Perr::new(
            f.start,
            format!("unknown byte_test option '{}'", shown(f.text)),
        ));
    }
    // Suricata has no lower bound: 0 bytes reads nothing (a string read then fails).
    nbytes_check(a[0], nbytes, &ex, 0)?;
    ex.nbytes = nbytes as usize;
    Ok(ByteTest {
        extract: ex,
        op,
        negated,
        value,
        value_var: var.map(|i| i as u8),
    })
}

/// Parses `byte_jump:<n>,<offset>[,flags...]`.
pub(crate) fn parse_byte_jump(v: Token<'_>) -> Result<ByteJump, Perr> {
    let a = args(v);
    if a.len() < 2 {
        return Err(Perr::new(
            v.start,
            "expected byte_jump:<bytes>,<offset>[,options]",
        ));
    }
    let nbytes = int(a[0], "a number of bytes")?;
    let offset = parse_offset(a[1], "a byte_jump offset")?;
    let (ex, rest) = extract_spec(offset, &a[2..])?;
    let mut jump = ByteJump {
        extract: ex,
        multiplier: 1,
        align: false,
        from: JumpFrom::Here,
        post_offset: 0,
    };
    for f in rest {
        let lower = f.text.to_ascii_lowercase();
        let arg = |name: &str| {
            let v = f.text[name.len()..].trim_start();
            Token {
                text: v,
                start: f.start + (f.text.len() - v.len()),
            }
        };
        match lower.as_str() {
            "align" => jump.align = true,
            "from_beginning" => jump.from = JumpFrom::Beginning,
            "from_end" => jump.from = JumpFrom::End,
            _ if lower.starts_with("multiplier") => {
                jump.multiplier = uint_in(arg("multiplier"), "a multiplier", 1, 65535)? as u64;
            }
            _ if lower.starts_with("post_offset") => {
                jump.post_offset = uint_in(
                    arg("post_offset"),
                    "a post_offset",
                    i64::from(i32::MIN),
                    i64::from(i32::MAX),
                )?;
            }
            _ => {
                return Err(Perr::new(
                    f.start,
                    format!("unknown byte_jump option '{}'", shown(f.text)),
                ))
            }
        }
    }
    nbytes_check(a[0], nbytes, &jump.extract, 0)?;
    jump.extract.nbytes = nbytes as usize;
    Ok(jump)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(text: &str) -> Token<'_> {
        Token { text, start: 0 }
    }

    #[test]
    fn strtoull_like_c() {
        assert_eq!(strtoull(b" 12x", 10), Some((12, 3)));
        assert_eq!(strtoull(b"0x1f", 16), Some((31, 4)));
        assert_eq!(strtoull(b"17", 8), Some((15, 2)));
        assert_eq!(strtoull(b"x", 10), None);
        assert_eq!(strtoull(b"-1", 10), Some((u64::MAX, 2)));
        assert_eq!(strtoull(b"99999999999999999999999", 10), None);
    }

    #[test]
    fn byte_test_bitmask_shift() {
        // suricata-verify detect-bytetest-01: 'H' (0x48) & 0xf8 >> 3 == 9.
        let t = parse_byte_test(tok("1,=,0x9,0, bitmask 0xf8")).unwrap();
        assert!(t.matches(b"HTTP", 0));
        let t = parse_byte_test(tok("2,=,0x90a,0, bitmask 0xf8f8")).unwrap();
        assert!(t.matches(b"HTTP", 0));
        let t = parse_byte_test(tok("1,!=,0x48,0, bitmask 0xf8")).unwrap();
        assert!(t.matches(b"HTTP", 0));
        let t = parse_byte_test(tok("2,>,0x100,1,relative,little")).unwrap();
        assert!(t.matches(b"\x00\x00\x01\x02", 1));
        assert!(!t.matches(b"\x00\x00\x01\x00", 1));
        let t = parse_byte_test(tok("3,=,123,0,string,dec")).unwrap();
        assert!(t.matches(b"123", 0));
        assert!(!t.matches(b"12", 0));
        assert!(parse_byte_test(tok("9,=,1,0")).is_err());
        assert!(parse_byte_test(tok("1,~,1,0")).is_err());
    }

    #[test]
    fn byte_jump_forms() {
        // suricata-verify detect-bytejump-01.
        let p = b"Question?13When will the pandemic end?";
        let j = parse_byte_jump(tok("2,0,relative,string,from_end,post_offset -26")).unwrap();
        let at = j.jump(p, 9).unwrap();
        assert_eq!(at, p.len() - 13);
        let j = parse_byte_jump(tok("0,0,relative,string,from_end,post_offset -3")).unwrap();
        assert_eq!(j.jump(p, 9), None);
        let j = parse_byte_jump(tok("1,0")).unwrap();
        assert_eq!(j.jump(b"\x02abcd", 0), Some(3));
        assert_eq!(j.jump(b"\x09abcd", 0), None);
        let j = parse_byte_jump(tok("1,0,multiplier 2,align")).unwrap();
        assert_eq!(j.jump(b"\x01abcdefgh", 0), Some(5));
        let j = parse_byte_jump(tok("0,0,relative,post_offset -10")).unwrap();
        assert_eq!(j.jump(b"abcdef", 4), Some(0));
    }
}
