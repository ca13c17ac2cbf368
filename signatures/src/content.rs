//! Payload patterns: decoding `content` strings and matching a chain of content/isdataat
//! elements against a buffer with Suricata's semantics.
//!
//! The inspection follows Suricata's `DetectEngineContentInspection`: absolute windows from
//! offset/depth, relative windows from distance/within measured from the end of the previous
//! match, negated contents, and backtracking — when a later relative element fails, the
//! earlier content is retried at its next occurrence. Backtracking is bounded by a step budget
//! kept in the caller's scratch, as Suricata bounds its recursion, so no rule can blow up.
//! Matching never allocates: single-pattern search uses precompiled `memmem` finders.

use memchr::memmem;

use crate::bytes::{ByteExtract, ByteJump, ByteTest, MAX_VARS};
use crate::lexer::{shown, Perr, Token};
use crate::pcre::{Pcre, PcreSpec};

/// Maximum inspection steps per rule and packet before giving up (Suricata's default
/// `inspection-recursion-limit` is 3000).
pub(crate) const STEP_LIMIT: u32 = 3000;

/// Decodes a quoted content value (`"ab|41 42|c"`, optionally preceded by `!`).
/// Returns the bytes and whether the content is negated.
pub(crate) fn parse_content(tok: Token<'_>) -> Result<(Vec<u8>, bool), Perr> {
    let text = tok.text;
    let (negated, rest, rest_start) = match text.strip_prefix('!') {
        Some(r) => {
            let trimmed = r.trim_start();
            (true, trimmed, tok.start + 1 + (r.len() - trimmed.len()))
        }
        None => (false, text, tok.start),
    };
    crate::lexer::check_quotes(Token {
        text: rest,
        start: rest_start,
    })?;
    let inner = rest
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .filter(|_| rest.len() >= 2);
    let Some(inner) = inner else {
        return Err(Perr::new(
            rest_start,
            format!("expected a quoted content string, found '{}'", shown(rest)),
        ));
    };
    let base = rest_start + 1;
    let bytes = decode_pattern(inner, base)?;
    if bytes.is_empty() {
        return Err(Perr::new(rest_start, "content must not be empty"));
    }
    Ok((bytes, negated))
}

/// Decodes text with `|hex|` runs and `\"`, `\\`, `\;`, `\:` escapes. `base` is the offset of
/// `inner` in the rule text, for error positions.
fn decode_pattern(inner: &str, base: usize) -> Result<Vec<u8>, Perr> {
    let b = inner.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                match b.get(i + 1) {
                    Some(&c @ (b'"' | b'\\' | b';' | b':' | b'|')) => out.push(c),
                    Some(_) => {
                        let ch = inner
                            .get(i + 1..)
                            .and_then(|r| r.chars().next())
                            .unwrap_or('?');
                        return Err(Perr::new(
                            base + i,
                            format!(
                                "invalid escape '\\{ch}' in content (expected \\\", \\\\, \\; or \\:)"
                            ),
                        ));
                    }
                    None => return Err(Perr::new(base + i, "content ends with a lone '\\'")),
                }
                i += 2;
            }
            b'|' => {
                let open = i;
                i += 1;
                let mut high: Option<(u8, usize)> = None;
                loop {
                    let Some(&c) = b.get(i) else {
                        return Err(Perr::new(
                            base + open,
                            "unterminated '|' hex block in content",
                        ));
                    };
                    if c == b'|' {
                        if let Some((_, at)) = high {
                            return Err(Perr::new(
                                base + at,
                                "odd number of hex digits in content hex block",
                            ));
                        }
                        i += 1;
                        break;
                    }
                    if c == b' ' || c == b'\t' {
                        i += 1;
                        continue;
                    }
                    let Some(nibble) = (c as char).to_digit(16) else {
                        let ch = inner.get(i..).and_then(|s| s.chars().next()).unwrap_or('?');
                        return Err(Perr::new(
                            base + i,
                            format!("expected a hex digit in content, found '{ch}'"),
                        ));
                    };
                    let nibble = nibble as u8;
                    high = match high {
                        None => Some((nibble, i)),
                        Some((h, _)) => {
                            out.push((h << 4) | nibble);
                            None
                        }
                    };
                    i += 1;
                }
            }
            b'"' => {
                return Err(Perr::new(
                    base + i,
                    "unescaped '\"' inside content (write \\\")",
                ))
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Decodes a quoted msg-like string: strips quotes and resolves backslash escapes.
pub(crate) fn unquote(text: &str) -> String {
    let inner = text
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .filter(|_| text.len() >= 2)
        .unwrap_or(text);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// One compiled content keyword with its modifiers.
#[derive(Debug, Clone)]
pub(crate) struct Content {
    pub(crate) pattern: Vec<u8>,
    pub(crate) negated: bool,
    pub(crate) nocase: bool,
    pub(crate) offset: Option<u32>,
    pub(crate) depth: Option<u32>,
    pub(crate) distance: Option<i32>,
    pub(crate) within: Option<u32>,
    pub(crate) startswith: bool,
    pub(crate) endswith: bool,
    pub(crate) fast_pattern: bool,
    /// `fast_pattern:offset,length` — the part used for prefiltering.
    pub(crate) fast_chop: Option<(u16, u16)>,
    /// Set at compile: the next element is relative to this one (enables backtracking).
    pub(crate) relative_next: bool,
    /// Lowercased pattern for nocase search, exact pattern otherwise.
    finder: Option<Box<memmem::Finder<'static>>>,
}

impl Content {
    pub(crate) fn new(pattern: Vec<u8>, negated: bool) -> Self {
        Content {
            pattern,
            negated,
            nocase: false,
            offset: None,
            depth: None,
            distance: None,
            within: None,
            startswith: false,
            endswith: false,
            fast_pattern: false,
            fast_chop: None,
            relative_next: false,
            finder: None,
        }
    }

    /// Whether this content is positioned relative to the previous match.
    pub(crate) fn is_relative(&self) -> bool {
        self.distance.is_some() || self.within.is_some()
    }

    /// Builds the search structures once modifiers are final.
    pub(crate) fn finish(&mut self) {
        if !self.nocase {
            self.finder = Some(Box::new(memmem::Finder::new(&self.pattern).into_owned()));
        }
    }

    /// First occurrence of the pattern in `hay`.
    fn find(&self, hay: &[u8]) -> Option<usize> {
        if let Some(f) = &self.finder {
            return f.find(hay);
        }
        let n = self.pattern.len();
        let first = *self.pattern.first()?;
        let (lo, up) = (first.to_ascii_lowercase(), first.to_ascii_uppercase());
        let mut start = 0;
        while start + n <= hay.len() {
            let rel = memchr::memchr2(lo, up, hay.get(start..hay.len() + 1 - n)?)?;
            let at = start + rel;
            if hay.get(at..at + n)?.eq_ignore_ascii_case(&self.pattern) {
                return Some(at);
            }
            start = at + 1;
        }
        None
    }

    fn eq_at(&self, hay: &[u8], at: usize) -> bool {
        match hay.get(at..at + self.pattern.len()) {
            Some(w) if self.nocase => w.eq_ignore_ascii_case(&self.pattern),
            Some(w) => w == self.pattern.as_slice(),
            None => false,
        }
    }
}

/// An element of a rule's payload inspection chain.
#[derive(Debug, Clone)]
pub(crate) enum Elem {
    Content(Content),
    /// `isdataat:[!]n[,relative]`.
    IsDataAt {
        n: u32,
        relative: bool,
        negated: bool,
    },
    ByteTest(ByteTest),
    ByteJump(ByteJump),
    ByteExtract(ByteExtract),
    Pcre(Box<PcreElem>),
}

/// A pcre in a chain: its spec, the compiled regex (None until compiled, or for rules loaded
/// inactive that were only syntax-checked) and whether a relative element follows.
#[derive(Debug, Clone)]
pub(crate) struct PcreElem {
    pub(crate) spec: PcreSpec,
    pub(crate) compiled: Option<Pcre>,
    pub(crate) relative_next: bool,
}

impl Elem {
    pub(crate) fn is_relative(&self) -> bool {
        match self {
            Elem::Content(c) => c.is_relative(),
            Elem::IsDataAt { relative, .. } => *relative,
            Elem::ByteTest(t) => t.is_relative(),
            Elem::ByteJump(j) => j.is_relative(),
            Elem::ByteExtract(e) => e.is_relative(),
            Elem::Pcre(p) => p.spec.relative,
        }
    }
}

/// Outcome of inspecting the chain from one element on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Match,
    NoMatch,
    /// No choice of earlier matches can help (or the step budget ran out): stop.
    Discontinue,
}

/// Runs a chain against a buffer. `steps` is the caller's budget counter (reset per rule).
pub(crate) fn inspect(chain: &[Elem], buf: &[u8], steps: &mut u32) -> bool {
    let mut ctx = Ctx {
        buf,
        vars: [0; MAX_VARS],
        min_end: None,
        steps,
    };
    inspect_from(chain, 0, &mut ctx, 0, 0) == Outcome::Match
}

/// Runs a chain against a stream chunk: a match counts only when the furthest byte it
/// matched ends after `new_from` (so an occurrence entirely in the lookbehind context, already
/// reported with an earlier chunk, is not reported again; backtracking looks for a later one).
pub(crate) fn inspect_stream(chain: &[Elem], buf: &[u8], new_from: usize, steps: &mut u32) -> bool {
    let mut ctx = Ctx {
        buf,
        vars: [0; MAX_VARS],
        min_end: Some(new_from),
        steps,
    };
    inspect_from(chain, 0, &mut ctx, 0, 0) == Outcome::Match
}

/// Whether no positive content/pcre follows element `idx`.
fn is_last_positive(chain: &[Elem], idx: usize) -> bool {
    !chain.iter().skip(idx + 1).any(|e| match e {
        Elem::Content(c) => !c.negated,
        Elem::Pcre(p) => !p.spec.negated,
        _ => false,
    })
}

struct Ctx<'b, 's> {
    buf: &'b [u8],
    /// byte_extract variables of the rule.
    vars: [u64; MAX_VARS],
    min_end: Option<usize>,
    steps: &'s mut u32,
}

/// `hi` is the furthest end of any positive match so far.
fn inspect_from(
    chain: &[Elem],
    idx: usize,
    ctx: &mut Ctx<'_, '_>,
    prev_end: usize,
    hi: usize,
) -> Outcome {
    let buf = ctx.buf;
    let Some(elem) = chain.get(idx) else {
        return match ctx.min_end {
            None => Outcome::Match,
            // Chains without positive matches (only negations/isdataat) count when the chunk
            // has new bytes.
            Some(m) if hi > m || (hi == 0 && buf.len() > m) => Outcome::Match,
            Some(_) => Outcome::NoMatch,
        };
    };
    let len = buf.len();
    match elem {
        Elem::IsDataAt {
            n,
            relative,
            negated,
        } => {
            let n = *n as usize;
            // Suricata: relative needs `prev_end + n <= len`, absolute needs `n < len`.
            let present = if *relative {
                prev_end.saturating_add(n) <= len
            } else {
                n < len
            };
            if present != *negated {
                inspect_from(chain, idx + 1, ctx, prev_end, hi)
            } else {
                Outcome::NoMatch
            }
        }
        Elem::ByteExtract(e) => match e.extract(buf, prev_end) {
            Some((val, at)) => {
                if let Some(v) = ctx.vars.get_mut(usize::from(e.slot)) {
                    *v = val;
                }
                inspect_from(chain, idx + 1, ctx, at, hi)
            }
            None => Outcome::NoMatch,
        },
        Elem::ByteTest(t) => {
            if t.matches_with(buf, prev_end, &ctx.vars) {
                inspect_from(chain, idx + 1, ctx, prev_end, hi)
            } else {
                Outcome::NoMatch
            }
        }
        Elem::ByteJump(j) => match j.jump(buf, prev_end) {
            Some(at) => inspect_from(chain, idx + 1, ctx, at, hi),
            None => Outcome::NoMatch,
        },
        Elem::Pcre(p) => {
            let Some(re) = &p.compiled else {
                return Outcome::NoMatch;
            };
            let base = if re.relative { prev_end.min(len) } else { 0 };
            let subject = &buf[base..];
            let mut from = 0;
            loop {
                *ctx.steps += 1;
                if *ctx.steps > STEP_LIMIT {
                    return Outcome::Discontinue;
                }
                match re.find(subject, from) {
                    None if re.negated => {
                        return inspect_from(chain, idx + 1, ctx, prev_end, hi);
                    }
                    None if re.relative => return Outcome::NoMatch,
                    None => return Outcome::Discontinue,
                    Some(_) if re.negated => return Outcome::NoMatch,
                    Some((s, e)) => {
                        let end = base + e;
                        match inspect_from(chain, idx + 1, ctx, end, hi.max(end)) {
                            Outcome::NoMatch
                                if (p.relative_next || ctx.min_end.is_some())
                                    && s < subject.len() =>
                            {
                                from = s + 1;
                            }
                            other => return other,
                        }
                    }
                }
            }
        }
        Elem::Content(c) => {
            let plen = c.pattern.len();
            let mut retry_from: Option<usize> = None;
            loop {
                *ctx.steps += 1;
                if *ctx.steps > STEP_LIMIT {
                    return Outcome::Discontinue;
                }
                let (mut start, mut end);
                if c.is_relative() {
                    start = prev_end;
                    end = len;
                    let dist = c.distance.unwrap_or(0);
                    if dist < 0 && dist.unsigned_abs() as usize > start {
                        start = 0;
                    } else {
                        start = (start as i64 + i64::from(dist)).max(0) as usize;
                    }
                    if let Some(w) = c.within {
                        let lim = prev_end as i64 + i64::from(w) + i64::from(dist);
                        if (end as i64) > lim {
                            end = lim.max(0) as usize;
                        }
                    }
                } else {
                    start = c.offset.unwrap_or(0) as usize;
                    end = match c.depth {
                        Some(d) => start + d as usize,
                        None => len,
                    };
                }
                if let Some(r) = retry_from {
                    start = r;
                }
                if let Some(m) = ctx.min_end {
                    // Stream: when this is the last positive element and nothing so far
                    // ended in the new bytes, only occurrences ending there can count.
                    if hi <= m && !c.negated && is_last_positive(chain, idx) {
                        start = start.max((m + 1).saturating_sub(plen));
                    }
                }
                end = end.min(len);
                if start > end || end == 0 {
                    return if c.negated {
                        inspect_from(chain, idx + 1, ctx, prev_end, hi)
                    } else {
                        Outcome::NoMatch
                    };
                }
                let window = &buf[start..end];
                let found = if c.endswith {
                    // The match must end exactly at the end of the buffer.
                    (end == len && window.len() >= plen && c.eq_at(buf, len - plen))
                        .then(|| window.len() - plen)
                } else {
                    c.find(window)
                };
                match (found, c.negated) {
                    (None, false) => {
                        return if c.is_relative() {
                            Outcome::NoMatch
                        } else {
                            Outcome::Discontinue
                        };
                    }
                    (None, true) => return inspect_from(chain, idx + 1, ctx, prev_end, hi),
                    (Some(_), true) => {
                        return if c.is_relative() || c.relative_next {
                            Outcome::NoMatch
                        } else {
                            Outcome::Discontinue
                        };
                    }
                    (Some(pos), false) => {
                        let match_start = start + pos;
                        let end = match_start + plen;
                        match inspect_from(chain, idx + 1, ctx, end, hi.max(end)) {
                            Outcome::NoMatch if c.relative_next || ctx.min_end.is_some() => {
                                retry_from = Some(match_start + 1);
                            }
                            other => return other,
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(text: &str) -> Token<'_> {
        Token { text, start: 0 }
    }

    #[test]
    fn decodes_hex_and_escapes() {
        let (b, neg) = parse_content(tok(r#"!"a|41 42|\;\"\\""#)).unwrap();
        assert!(neg);
        assert_eq!(b, b"aAB;\"\\");
        assert_eq!(parse_content(tok(r#""|4|""#)).unwrap_err().offset, 2);
        assert_eq!(parse_content(tok(r#""ab|4G|""#)).unwrap_err().offset, 5);
        assert_eq!(parse_content(tok(r#""ab|41""#)).unwrap_err().offset, 3);
        assert!(parse_content(tok(r#""""#)).is_err());
        assert!(parse_content(tok("abc")).is_err());
    }

    #[test]
    fn nocase_find() {
        let mut c = Content::new(b"abc".to_vec(), false);
        c.nocase = true;
        c.finish();
        assert_eq!(c.find(b"xxABcx"), Some(2));
        assert_eq!(c.find(b"ab"), None);
        assert_eq!(c.find(b"aBC"), Some(0));
    }
}
