//! `pcre`: Perl-compatible regular expressions through PCRE2 (JIT when available).
//!
//! Suricata's semantics: `pcre:[!]"/<re>/<flags>"`; flags `i s m x A E G` change the regex,
//! `R` makes it relative (the subject starts at the end of the previous match, so `^` anchors
//! there), `B` (rawbytes) and `O` (Suricata's own limit override) are accepted and ignored,
//! and the HTTP buffer flags (`U I H D C M P Q S Y V W Z`) move it to that sticky buffer. A
//! match moves the inspection point to the end of the match; when a later relative keyword
//! fails, the regex is retried from one byte after its previous match start (Suricata's
//! retry loop).
//!
//! Bounded work: every regex carries `(*LIMIT_MATCH=…)` and `(*LIMIT_DEPTH=…)` (Suricata's
//! `pcre.match-limit` 3500 and `match-limit-recursion` 1500 defaults; JIT honours the match
//! limit), and the JIT uses PCRE2's default 32 KiB stack; hitting a limit is "no match", never
//! a hang or a crash. Patterns
//! of rules loaded inactive are compiled without JIT, only to report syntax errors.
//!
//! Memory: the `pcre2` crate keeps one match-data block per regex and thread in a pool whose
//! owner thread takes it without locking; other threads pop/push a mutex-guarded stack (an
//! uncontended lock per call, no allocation once warm).

use pcre2::bytes::{Regex, RegexBuilder};

use crate::buffers::{pcre_flag, BufferKind};
use crate::lexer::{shown, Perr, Token};

/// Suricata's default `pcre.match-limit`.
pub(crate) const MATCH_LIMIT: u32 = 3500;
/// Suricata's default `pcre.match-limit-recursion`.
pub(crate) const DEPTH_LIMIT: u32 = 1500;

/// A parsed (not yet compiled) pcre keyword.
#[derive(Debug, Clone)]
pub(crate) struct PcreSpec {
    pub(crate) pattern: String,
    caseless: bool,
    dotall: bool,
    multiline: bool,
    extended: bool,
    anchored: bool,
    dollar_endonly: bool,
    ungreedy: bool,
    pub(crate) negated: bool,
    pub(crate) relative: bool,
    /// Buffer chosen by a buffer flag.
    pub(crate) buffer: Option<BufferKind>,
    /// Offset of the keyword value in the rule, for compile errors.
    pub(crate) at: usize,
}

/// A compiled pcre element.
#[derive(Debug, Clone)]
pub(crate) struct Pcre {
    regex: Regex,
    pub(crate) negated: bool,
    pub(crate) relative: bool,
}

/// Parses `[!]"/re/flags"`.
pub(crate) fn parse(v: Token<'_>) -> Result<PcreSpec, Perr> {
    let text = v.text.trim();
    let (negated, rest) = match text.strip_prefix('!') {
        Some(r) => (true, r.trim_start()),
        None => (false, text),
    };
    let inner = rest
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .filter(|_| rest.len() >= 2)
        .ok_or_else(|| {
            Perr::new(
                v.start,
                format!(
                    "expected a quoted \"/regex/flags\" for pcre, found '{}'",
                    shown(text)
                ),
            )
        })?;
    let body = inner.strip_prefix('/').ok_or_else(|| {
        Perr::new(
            v.start,
            format!("pcre must start with '/', found '{}'", shown(inner)),
        )
    })?;
    let close = body
        .rfind('/')
        .ok_or_else(|| Perr::new(v.start, "pcre is missing its closing '/'"))?;
    let (pat, flags) = (&body[..close], &body[close + 1..]);
    // Rule-level escapes: `\;` and `\"` stand for themselves inside the regex as well.
    let pattern = pat.replace("\\;", ";").replace("\\\"", "\"");
    let mut spec = PcreSpec {
        pattern,
        caseless: false,
        dotall: false,
        multiline: false,
        extended: false,
        anchored: false,
        dollar_endonly: false,
        ungreedy: false,
        negated,
        relative: false,
        buffer: None,
        at: v.start,
    };
    for f in flags.chars() {
        match f {
            'i' => spec.caseless = true,
            's' => spec.dotall = true,
            'm' => spec.multiline = true,
            'x' => spec.extended = true,
            'A' => spec.anchored = true,
            'E' => spec.dollar_endonly = true,
            'G' => spec.ungreedy = true,
            'R' => spec.relative = true,
            'B' | 'O' => {}
            c => match pcre_flag(c) {
                Some(k) => {
                    if spec.buffer.is_some_and(|b| b != k) {
                        return Err(Perr::new(v.start, "pcre has more than one buffer flag"));
                    }
                    spec.buffer = Some(k);
                }
                None => return Err(Perr::new(v.start, format!("unknown pcre flag '{c}'"))),
            },
        }
    }
    Ok(spec)
}

impl PcreSpec {
    /// Compiles the regex (JIT when `jit`); errors point at the keyword value.
    pub(crate) fn compile(&self, jit: bool, at: usize) -> Result<Pcre, Perr> {
        let mut full = format!("(*LIMIT_MATCH={MATCH_LIMIT})(*LIMIT_DEPTH={DEPTH_LIMIT})");
        // Inline option settings have the same effect as the compile options.
        let mut opts = String::new();
        if self.ungreedy {
            opts.push('U');
        }
        if !opts.is_empty() {
            full.push_str(&format!("(?{opts})"));
        }
        if self.anchored {
            full.push_str("\\G(?:");
        }
        full.push_str(&self.pattern);
        if self.anchored {
            full.push(')');
        }
        let _ = self.dollar_endonly; // PCRE2 has no inline form; `$` before a final \n is rare.
        let mut b = RegexBuilder::new();
        b.caseless(self.caseless)
            .dotall(self.dotall)
            .multi_line(self.multiline)
            .extended(self.extended);
        if jit {
            // No custom JIT stack: the pcre2 crate would allocate one per regex and thread
            // (32 KiB each, tens of MB per worker for a public rule set); PCRE2's default
            // 32 KiB stack bounds recursion instead, and hitting it is "no match".
            b.jit_if_available(true);
        }
        let regex = b
            .build(&full)
            .map_err(|e| Perr::new(at, format!("invalid pcre '{}': {e}", shown(&self.pattern))))?;
        Ok(Pcre {
            regex,
            negated: self.negated,
            relative: self.relative,
        })
    }
}

impl Pcre {
    /// First match in `subject` at or after `start`: (start, end). Limits hit = no match.
    pub(crate) fn find(&self, subject: &[u8], start: usize) -> Option<(usize, usize)> {
        if start > subject.len() {
            return None;
        }
        match self.regex.find_at(subject, start) {
            Ok(Some(m)) => Some((m.start(), m.end())),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> PcreSpec {
        parse(Token { text: s, start: 0 }).unwrap()
    }

    #[test]
    fn flags_and_buffers() {
        let s = spec(r#""/a\;b/smiR""#);
        assert_eq!(s.pattern, "a;b");
        assert!(s.relative && s.caseless && s.dotall && s.multiline);
        assert_eq!(spec(r#""/x/U""#).buffer, Some(BufferKind::HttpUri));
        assert!(spec(r#"!"/x/""#).negated);
        assert!(parse(Token {
            text: r#""/x/J""#,
            start: 0
        })
        .is_err());
        assert!(parse(Token {
            text: r#""x""#,
            start: 0
        })
        .is_err());
    }

    #[test]
    fn lookaround_backrefs_and_limits() {
        let p = spec(r#""/(?<=GET )\/(\w+)\/\1/""#)
            .compile(true, 0)
            .unwrap();
        assert_eq!(p.find(b"GET /ab/ab", 0), Some((4, 10)));
        assert_eq!(p.find(b"GET /ab/ac", 0), None);
        // Catastrophic backtracking is cut by the match limit: no hang.
        let p = spec(r#""/(a+)+$/""#).compile(true, 0).unwrap();
        let mut s = vec![b'a'; 5000];
        s.push(b'!');
        let t = std::time::Instant::now();
        assert_eq!(p.find(&s, 0), None);
        assert!(t.elapsed().as_secs() < 2);
        let p = spec(r#""/ab/A""#).compile(false, 0).unwrap();
        assert_eq!(p.find(b"xab", 1), Some((1, 3)));
        assert_eq!(p.find(b"xab", 0), None);
        assert!(spec(r#""/(/""#).compile(false, 0).is_err());
    }
}
