//! Raw `keyword:value` options -> typed rule options.
//!
//! This is where "supported" is decided. A first pass looks for any keyword (or keyword
//! form) this engine cannot evaluate exactly; such a rule is reported as unsupported under
//! `keyword <name>` and never compiled, so it can never match with a condition silently
//! dropped. Errors in rule-identity keywords (msg, sid, classtype, ...) are always reported;
//! errors in the payload chain of an already-unsupported rule are not, because Suricata would
//! interpret those modifiers against a buffer (sticky buffer, pcre, byte_extract variable)
//! that we do not model.

use crate::bytes::{parse_byte_jump, parse_byte_test};
use crate::classification::{self, Classification};
use crate::content::{parse_content, unquote, Content, Elem};
use crate::lexer::{shown, Perr, RawOption, RawRule, Token};
use crate::FlowState;

/// Upper bound on content/isdataat elements per rule, keeping inspection recursion shallow.
const MAX_CHAIN: usize = 128;

/// Keywords that are evaluated exactly (everything else makes the rule unsupported).
const SUPPORTED: &[&str] = &[
    "msg",
    "sid",
    "rev",
    "gid",
    "classtype",
    "priority",
    "reference",
    "metadata",
    "target",
    "content",
    "nocase",
    "offset",
    "depth",
    "distance",
    "within",
    "fast_pattern",
    "rawbytes",
    "startswith",
    "endswith",
    "isdataat",
    "pkt_data",
    "flow",
    "dsize",
];

/// Keywords implemented but outside the first-cut scope: enabled only on request.
const OPT_IN_BYTE_KEYWORDS: &[&str] = &["byte_test", "byte_jump"];

/// Optional keyword groups a builder may enable.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Features {
    /// Accept `byte_test` and `byte_jump`.
    pub(crate) byte_keywords: bool,
    /// Accept the header protocols `tcp-pkt`, `icmpv4`, `icmpv6`, `ipv4`/`ip4`, `ipv6`/`ip6`.
    pub(crate) extra_protocols: bool,
}

/// `flow` options that need stream reassembly or defragmentation state we do not have.
const UNSUPPORTED_FLOW: &[&str] = &["only_stream", "no_stream", "only_frag", "no_frag"];

/// `flow:` conditions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FlowMatch {
    /// Some(true): to_server; Some(false): to_client.
    to_server: Option<bool>,
    /// Some(true): established; Some(false): not_established.
    established: Option<bool>,
}

impl FlowMatch {
    pub(crate) fn matches(&self, flow: FlowState) -> bool {
        if !flow.tracked {
            return self.to_server.is_none() && self.established.is_none();
        }
        self.to_server.is_none_or(|d| d == flow.to_server)
            && self.established.is_none_or(|e| e == flow.established)
    }
}

/// A `dsize`-style unsigned comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UintMatch {
    Eq(u32),
    Ne(u32),
    Lt(u32),
    Le(u32),
    Gt(u32),
    Ge(u32),
    /// Exclusive on both ends, as Suricata's `a<>b`.
    Between(u32, u32),
}

impl UintMatch {
    pub(crate) fn matches(self, v: usize) -> bool {
        let v = u64::try_from(v).unwrap_or(u64::MAX);
        match self {
            UintMatch::Eq(n) => v == u64::from(n),
            UintMatch::Ne(n) => v != u64::from(n),
            UintMatch::Lt(n) => v < u64::from(n),
            UintMatch::Le(n) => v <= u64::from(n),
            UintMatch::Gt(n) => v > u64::from(n),
            UintMatch::Ge(n) => v >= u64::from(n),
            UintMatch::Between(a, b) => v > u64::from(a) && v < u64::from(b),
        }
    }
}

/// Everything the options of one rule say.
#[derive(Debug, Clone, Default)]
pub(crate) struct RuleOptions {
    pub(crate) msg: String,
    pub(crate) sid: Option<u32>,
    pub(crate) gid: Option<u32>,
    pub(crate) rev: Option<u32>,
    pub(crate) class: Option<&'static Classification>,
    pub(crate) priority: Option<u8>,
    pub(crate) flow: FlowMatch,
    pub(crate) dsize: Option<UintMatch>,
    pub(crate) chain: Vec<Elem>,
    /// Why the rule cannot be evaluated exactly, if so.
    pub(crate) unsupported: Option<String>,
}

/// First thing in the rule we cannot evaluate exactly.
fn find_unsupported(options: &[RawOption<'_>], features: Features) -> Option<String> {
    for opt in options {
        let name = opt.name.text.to_ascii_lowercase();
        let opted_in = features.byte_keywords && OPT_IN_BYTE_KEYWORDS.contains(&name.as_str());
        if !SUPPORTED.contains(&name.as_str()) && !opted_in {
            return Some(format!("keyword {name}"));
        }
        if name == "byte_test" || name == "byte_jump" {
            // DCERPC-relative endianness needs the DCE/RPC parser.
            if opt.value.is_some_and(|v| {
                v.text
                    .split(',')
                    .any(|p| p.trim().eq_ignore_ascii_case("dce"))
            }) {
                return Some(format!("keyword {name}:dce"));
            }
        }
        if name == "flow" {
            if let Some(v) = opt.value {
                for part in v.text.split(',') {
                    let part = part.trim().to_ascii_lowercase();
                    if UNSUPPORTED_FLOW.contains(&part.as_str()) {
                        return Some(format!("keyword flow:{part}"));
                    }
                }
            }
        }
    }
    None
}

/// Parses all options of a rule.
pub(crate) fn parse_options(raw: &RawRule<'_>, features: Features) -> Result<RuleOptions, Perr> {
    let mut out = RuleOptions {
        unsupported: find_unsupported(&raw.options, features),
        ..RuleOptions::default()
    };
    let mut fast_pattern_seen = false;
    let mut flow_seen = false;
    for opt in &raw.options {
        let name = opt.name.text.to_ascii_lowercase();
        let r = match name.as_str() {
            "msg" => value(opt).and_then(|v| {
                crate::lexer::check_quotes(v)?;
                out.msg = unquote(v.text);
                Ok(())
            }),
            "sid" => once(opt, out.sid.is_some())
                .and_then(|()| number(opt))
                .and_then(|n| {
                    if n == 0 {
                        Err(Perr::new(value(opt)?.start, "sid must be greater than 0"))
                    } else {
                        out.sid = Some(n);
                        Ok(())
                    }
                }),
            "rev" => once(opt, out.rev.is_some())
                .and_then(|()| number(opt))
                .map(|n| out.rev = Some(n)),
            "gid" => once(opt, out.gid.is_some())
                .and_then(|()| number(opt))
                .map(|n| out.gid = Some(n)),
            "classtype" => once(opt, out.class.is_some()).and_then(|()| {
                let v = value(opt)?;
                let c = classification::lookup(v.text).ok_or_else(|| {
                    Perr::new(v.start, format!("unknown classtype '{}'", shown(v.text)))
                })?;
                out.class = Some(c);
                Ok(())
            }),
            "priority" => number(opt).and_then(|n| match u8::try_from(n) {
                Ok(p) if p > 0 => {
                    out.priority = Some(p);
                    Ok(())
                }
                _ => Err(Perr::new(
                    value(opt)?.start,
                    format!("priority must be 1-255, found '{n}'"),
                )),
            }),
            "reference" => value(opt).and_then(|v| {
                if v.text.contains(',') {
                    Ok(())
                } else {
                    Err(Perr::new(
                        v.start,
                        format!(
                            "expected 'system,id' in reference, found '{}'",
                            shown(v.text)
                        ),
                    ))
                }
            }),
            "metadata" => value(opt).map(|_| ()),
            "target" => value(opt).and_then(|v| match v.text {
                "src_ip" | "dest_ip" => Ok(()),
                other => Err(Perr::new(
                    v.start,
                    format!(
                        "expected 'src_ip' or 'dest_ip' for target, found '{}'",
                        shown(other)
                    ),
                )),
            }),
            _ if out.unsupported.is_some() => {
                // The rule is skipped; only identity keywords above are validated.
                Ok(())
            }
            "flow" => {
                let r = once(opt, flow_seen).and_then(|()| parse_flow(opt));
                flow_seen = true;
                r.map(|f| out.flow = f)
            }
            "dsize" => once(opt, out.dsize.is_some())
                .and_then(|()| parse_uint(opt))
                .map(|d| out.dsize = Some(d)),
            _ => chain_option(&mut out.chain, opt, &name, &mut fast_pattern_seen),
        };
        r?;
    }
    if out.sid.is_none() {
        return Err(Perr::new(
            raw.open_paren,
            "rule has no sid: expected 'sid:<number>;'",
        ));
    }
    if out.unsupported.is_some() {
        out.chain.clear();
        return Ok(out);
    }
    finish_chain(&mut out.chain);
    Ok(out)
}

/// Marks which contents have a relative element after them, and builds searchers.
fn finish_chain(chain: &mut [Elem]) {
    for i in 0..chain.len() {
        let mut relative_next = false;
        for next in chain.iter().skip(i + 1) {
            if next.is_relative() {
                relative_next = true;
                break;
            }
            if matches!(next, Elem::Content(_)) {
                break;
            }
        }
        if let Some(Elem::Content(c)) = chain.get_mut(i) {
            c.relative_next = relative_next;
            c.finish();
        }
    }
}

fn value<'a>(opt: &RawOption<'a>) -> Result<Token<'a>, Perr> {
    match opt.value {
        Some(v) if !v.text.is_empty() => Ok(v),
        Some(v) => Err(Perr::new(
            v.start,
            format!("expected a value for '{}'", opt.name.text),
        )),
        None => Err(Perr::new(
            opt.name.start,
            format!("expected ':' and a value after '{}'", opt.name.text),
        )),
    }
}

fn no_value(opt: &RawOption<'_>) -> Result<(), Perr> {
    match opt.value {
        None => Ok(()),
        Some(v) => Err(Perr::new(
            v.start,
            format!(
                "'{}' takes no value, found '{}'",
                opt.name.text,
                shown(v.text)
            ),
        )),
    }
}

fn once(opt: &RawOption<'_>, seen: bool) -> Result<(), Perr> {
    if seen {
        Err(Perr::new(
            opt.name.start,
            format!("'{}' given more than once", opt.name.text),
        ))
    } else {
        Ok(())
    }
}

fn parse_num<T: std::str::FromStr>(tok: Token<'_>, what: &str) -> Result<T, Perr> {
    let t = tok.text.trim();
    let digits = t.strip_prefix('-').unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Perr::new(
            tok.start,
            format!("expected {what}, found '{}'", shown(t)),
        ));
    }
    t.parse::<T>()
        .map_err(|_| Perr::new(tok.start, format!("{what} out of range: '{}'", shown(t))))
}

fn number(opt: &RawOption<'_>) -> Result<u32, Perr> {
    parse_num(value(opt)?, "a non-negative number")
}

fn parse_flow(opt: &RawOption<'_>) -> Result<FlowMatch, Perr> {
    let v = value(opt)?;
    let mut f = FlowMatch::default();
    let mut pos = v.start;
    for part in v.text.split(',') {
        let lead = part.len() - part.trim_start().len();
        let at = pos + lead;
        pos += part.len() + 1;
        let word = part.trim().to_ascii_lowercase();
        let (slot, val) = match word.as_str() {
            "to_server" | "from_client" => (&mut f.to_server, true),
            "to_client" | "from_server" => (&mut f.to_server, false),
            "established" => (&mut f.established, true),
            "not_established" => (&mut f.established, false),
            "stateless" => continue,
            _ => {
                return Err(Perr::new(
                    at,
                    format!(
                        "expected a flow option (to_server, to_client, from_server, from_client, established, not_established, stateless), found '{}'",
                        shown(part.trim())
                    ),
                ))
            }
        };
        if slot.is_some_and(|old| old != val) {
            return Err(Perr::new(at, format!("conflicting flow option '{word}'")));
        }
        *slot = Some(val);
    }
    Ok(f)
}

fn parse_uint(opt: &RawOption<'_>) -> Result<UintMatch, Perr> {
    let v = value(opt)?;
    let t = v.text;
    let sub = |s: &str| -> Result<u32, Perr> {
        let off = t.len() - s.len();
        let s2 = s.trim_start();
        parse_num(
            Token {
                text: s2,
                start: v.start + off + (s.len() - s2.len()),
            },
            "a non-negative number",
        )
    };
    if let Some((a, b)) = t.split_once("<>").or_else(|| t.split_once('-')) {
        let lo = sub(a.trim_end()).map_err(|e| Perr::new(v.start, e.message))?;
        let hi = sub(b)?;
        if lo >= hi {
            return Err(Perr::new(
                v.start,
                format!("range '{}' is empty (low must be below high)", shown(t)),
            ));
        }
        return Ok(UintMatch::Between(lo, hi));
    }
    for (prefix, make) in [
        ("<=", UintMatch::Le as fn(u32) -> UintMatch),
        (">=", UintMatch::Ge),
        ("<", UintMatch::Lt),
        (">", UintMatch::Gt),
        ("!", UintMatch::Ne),
        ("=", UintMatch::Eq),
    ] {
        if let Some(rest) = t.strip_prefix(prefix) {
            return sub(rest).map(make);
        }
    }
    sub(t).map(UintMatch::Eq)
}

/// The content a modifier applies to: the last content of the chain.
fn last_content<'c>(chain: &'c mut [Elem], opt: &RawOption<'_>) -> Result<&'c mut Content, Perr> {
    chain
        .iter_mut()
        .rev()
        .find_map(|e| match e {
            Elem::Content(c) => Some(c),
            _ => None,
        })
        .ok_or_else(|| {
            Perr::new(
                opt.name.start,
                format!("'{}' needs a preceding content", opt.name.text),
            )
        })
}

fn chain_option(
    chain: &mut Vec<Elem>,
    opt: &RawOption<'_>,
    name: &str,
    fast_pattern_seen: &mut bool,
) -> Result<(), Perr> {
    let at = opt.name.start;
    let dup = |what: &str| Perr::new(at, format!("'{what}' given twice for the same content"));
    let mix = || {
        Perr::new(
            at,
            format!(
                "'{}' cannot be combined with {} modifiers on the same content",
                opt.name.text,
                if matches!(name, "distance" | "within") {
                    "absolute (offset/depth/startswith)"
                } else {
                    "relative (distance/within)"
                }
            ),
        )
    };
    match name {
        "content" => {
            if chain.len() >= MAX_CHAIN {
                return Err(Perr::new(
                    at,
                    format!("more than {MAX_CHAIN} content/isdataat keywords"),
                ));
            }
            let (bytes, negated) = parse_content(value(opt)?)?;
            chain.push(Elem::Content(Content::new(bytes, negated)));
        }
        "isdataat" => {
            if chain.len() >= MAX_CHAIN {
                return Err(Perr::new(
                    at,
                    format!("more than {MAX_CHAIN} content/isdataat keywords"),
                ));
            }
            let v = value(opt)?;
            let mut parts = v.text.split(',');
            let first = parts.next().unwrap_or("").trim();
            let (negated, num) = match first.strip_prefix('!') {
                Some(r) => (true, r.trim()),
                None => (false, first),
            };
            let n: u32 = parse_num(
                Token {
                    text: num,
                    start: v.start,
                },
                "a non-negative number",
            )?;
            let mut relative = false;
            for p in parts {
                match p.trim() {
                    "relative" => relative = true,
                    "rawbytes" => {}
                    other => {
                        return Err(Perr::new(
                            v.start,
                            format!(
                                "expected 'relative' or 'rawbytes' in isdataat, found '{}'",
                                shown(other)
                            ),
                        ))
                    }
                }
            }
            chain.push(Elem::IsDataAt {
                n,
                relative,
                negated,
            });
        }
        "byte_test" | "byte_jump" => {
            if chain.len() >= MAX_CHAIN {
                return Err(Perr::new(
                    at,
                    format!("more than {MAX_CHAIN} payload keywords"),
                ));
            }
            let v = value(opt)?;
            chain.push(if name == "byte_test" {
                Elem::ByteTest(parse_byte_test(v)?)
            } else {
                Elem::ByteJump(parse_byte_jump(v)?)
            });
        }
        "pkt_data" => no_value(opt)?,
        "nocase" | "rawbytes" | "startswith" | "endswith" => {
            no_value(opt)?;
            let c = last_content(chain, opt)?;
            match name {
                "nocase" => {
                    if c.nocase {
                        return Err(dup(name));
                    }
                    c.nocase = true;
                }
                "startswith" => {
                    if c.startswith {
                        return Err(dup(name));
                    }
                    if c.offset.is_some() || c.depth.is_some() || c.is_relative() {
                        return Err(Perr::new(
                            at,
                            "'startswith' cannot be combined with offset, depth, distance or within",
                        ));
                    }
                    c.startswith = true;
                    c.offset = Some(0);
                    c.depth = Some(u32::try_from(c.pattern.len()).unwrap_or(u32::MAX));
                }
                "endswith" => {
                    if c.endswith {
                        return Err(dup(name));
                    }
                    c.endswith = true;
                }
                _ => {}
            }
        }
        "offset" | "depth" | "distance" | "within" => {
            let v = value(opt)?;
            let c = last_content(chain, opt)?;
            if c.startswith {
                return Err(Perr::new(
                    at,
                    format!("'{}' cannot be combined with 'startswith'", opt.name.text),
                ));
            }
            let plen = c.pattern.len();
            match name {
                "offset" => {
                    if c.offset.is_some() {
                        return Err(dup(name));
                    }
                    if c.is_relative() {
                        return Err(mix());
                    }
                    c.offset = Some(parse_num(v, "a non-negative number")?);
                }
                "depth" => {
                    if c.depth.is_some() {
                        return Err(dup(name));
                    }
                    if c.is_relative() {
                        return Err(mix());
                    }
                    let d: u32 = parse_num(v, "a non-negative number")?;
                    if (d as usize) < plen {
                        return Err(Perr::new(
                            v.start,
                            format!("depth {d} is smaller than the content length {plen}"),
                        ));
                    }
                    c.depth = Some(d);
                }
                "distance" => {
                    if c.distance.is_some() {
                        return Err(dup(name));
                    }
                    if c.offset.is_some() || c.depth.is_some() {
                        return Err(mix());
                    }
                    c.distance = Some(parse_num(v, "a number")?);
                }
                _ => {
                    if c.within.is_some() {
                        return Err(dup(name));
                    }
                    if c.offset.is_some() || c.depth.is_some() {
                        return Err(mix());
                    }
                    let w: u32 = parse_num(v, "a non-negative number")?;
                    if (w as usize) < plen {
                        return Err(Perr::new(
                            v.start,
                            format!("within {w} is smaller than the content length {plen}"),
                        ));
                    }
                    c.within = Some(w);
                }
            }
        }
        "fast_pattern" => {
            if *fast_pattern_seen {
                return Err(Perr::new(
                    at,
                    "'fast_pattern' given more than once in the rule",
                ));
            }
            *fast_pattern_seen = true;
            let c = last_content(chain, opt)?;
            c.fast_pattern = true;
            if let Some(v) = opt.value {
                let t = v.text.trim();
                if t != "only" {
                    let Some((a, b)) = t.split_once(',') else {
                        return Err(Perr::new(
                            v.start,
                            format!("expected 'only' or '<offset>,<length>' for fast_pattern, found '{}'", shown(t)),
                        ));
                    };
                    let off: u16 = parse_num(
                        Token {
                            text: a.trim(),
                            start: v.start,
                        },
                        "a fast_pattern offset",
                    )?;
                    let len: u16 = parse_num(
                        Token {
                            text: b.trim(),
                            start: v.start,
                        },
                        "a fast_pattern length",
                    )?;
                    if len == 0 || usize::from(off) + usize::from(len) > c.pattern.len() {
                        return Err(Perr::new(
                            v.start,
                            format!(
                                "fast_pattern {off},{len} is outside the content (length {})",
                                c.pattern.len()
                            ),
                        ));
                    }
                    c.fast_chop = Some((off, len));
                }
            }
        }
        _ => {
            // Unreachable in practice: anything else made the rule unsupported.
            return Err(Perr::new(
                at,
                format!("unsupported keyword '{}'", opt.name.text),
            ));
        }
    }
    Ok(())
}
