//! Raw `keyword:value` options -> typed rule options.
//!
//! This is where each rule's fate is decided:
//!
//! * **unsupported** (skipped, counted under `keyword <name>`): a keyword this engine cannot
//!   evaluate at all (xbits, byte_extract, stream_size, ...), so the rule can never match with
//!   a condition silently dropped;
//! * **inactive** (parsed, validated, kept, never matched): the rule inspects an app-layer
//!   buffer (`http.uri`, `dns.query`, pcre `/U`, `http_uri`, ...) or uses an app-layer keyword
//!   whose parser the sensor does not provide yet ([`Features::buffers`] says which it does);
//! * **active**: everything else.
//!
//! Payload keywords are collected per inspection list, Suricata's model: `pkt_data` (the
//! default), or the sticky buffer selected last (`http.uri; content:...`), or the buffer an
//! old-style modifier moves its content to (`content:...; http_uri;`). Content modifiers apply
//! to the last content wherever it went. Errors in rule-identity keywords are always reported;
//! errors in the options of an unsupported rule are not, since Suricata would read them in a
//! context we do not model.

use crate::buffers::{self, BufferKind};
use crate::bytes::{parse_byte_extract, parse_byte_jump, parse_byte_test_vars};
use crate::classification::{self, Classification};
use crate::content::{parse_content, unquote, Content, Elem, PcreElem};
use crate::flowvars::{parse_flowbits, parse_flowint, FlowbitsRaw, Flowint};
use crate::hdrkw::{self, HeaderTest};
use crate::lexer::{shown, Perr, RawOption, RawRule, Token};
use crate::threshold;
use crate::FlowState;

/// Upper bound on content/isdataat elements per rule, keeping inspection recursion shallow.
const MAX_CHAIN: usize = 128;

/// Keywords that are evaluated exactly (besides sticky buffers, modifiers, header keywords).
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
    "uricontent",
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
    "pcre",
    "bsize",
    "urilen",
    "flowbits",
    "flowint",
    "xbits",
    "noalert",
    "threshold",
    "detection_filter",
    // Tagging logs extra packets after an alert; it never changes what matches.
    "tag",
    // Engine hint (which keyword to prefilter on); matching is the same without it.
    "prefilter",
];

/// Keywords implemented but outside the first-cut scope: enabled only on request.
const OPT_IN_BYTE_KEYWORDS: &[&str] = &["byte_test", "byte_jump", "byte_extract"];

/// Buffer transforms (Suricata 6+); they apply to the current sticky buffer.
const TRANSFORMS: &[&str] = &[
    "dotprefix",
    "to_lowercase",
    "to_uppercase",
    "strip_whitespace",
    "compress_whitespace",
    "url_decode",
    "to_md5",
    "to_sha1",
    "to_sha256",
    "header_lowercase",
    "strip_pseudo_headers",
    "xor",
    "pcrexform",
    "from_base64",
];

/// App-layer keywords that are not buffers: parsed (value kept opaque) and the rule loaded
/// inactive, as its app-layer parser does not exist yet.
const APP_KEYWORDS: &[&str] = &[
    "tls.version",
    "tls_version",
    "ssl_version",
    "ssl_state",
    "tls.fingerprint",
    "tls.store",
    "tls_store",
    "tls.subject",
    "tls.issuerdn",
    "tls_cert_notbefore",
    "tls_cert_notafter",
    "tls_cert_expired",
    "tls_cert_valid",
    "app-layer-protocol",
    "app-layer-event",
    "dns.opcode",
    "filestore",
    "filename",
    "filemagic",
    "fileext",
    "filesize",
    "filemd5",
    "filesha1",
    "filesha256",
    "dce_iface",
    "dce_opnum",
    "dce_stub_data",
    "dcerpc.iface",
    "dcerpc.opnum",
    "dcerpc.stub_data",
    "ssh.protoversion",
    "ssh.softwareversion",
    "ssh.hassh",
    "ssh.hassh.string",
    "ssh.hassh.server",
    "ssh.hassh.server.string",
    "krb5_msg_type",
    "krb5_err_code",
    "smb.ntlmssp_user",
    "smb.ntlmssp_domain",
    "http.request_header",
    "http.response_header",
    "ftpdata_command",
    "enip_command",
    "cip_service",
    "modbus",
    "dnp3_func",
    "dnp3_ind",
    "dnp3_obj",
    "dnp3_data",
];

/// Keywords not implemented yet that public rules use almost only in app-layer rules: a rule
/// that is inactive anyway (app-layer protocol or buffer) loads inactive with them; an
/// otherwise active rule using one is unsupported.
const DEFERRED: &[&str] = &["base64_decode", "asn1", "ftpbounce"];

// Every buffer kind has a bit in `Features::buffers`.
const _: () = assert!(BufferKind::COUNT <= 64);

/// Optional keyword groups a builder may enable.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Features {
    /// Accept `byte_test` and `byte_jump`.
    pub(crate) byte_keywords: bool,
    /// Accept the header protocols `tcp-pkt`, `icmpv4`, `icmpv6`, `ipv4`/`ip4`, `ipv6`/`ip6`.
    pub(crate) extra_protocols: bool,
    /// Sticky buffers the sensor provides: bit `kind as u32`.
    pub(crate) buffers: u64,
}

impl Features {
    fn has_buffer(&self, k: BufferKind) -> bool {
        self.buffers & (1u64 << (k as u32)) != 0
    }
}

/// `flow` options that need state we do not have (defragmentation provenance).
const UNSUPPORTED_FLOW: &[&str] = &["only_frag", "no_frag"];

/// Which payload a TCP rule inspects (Suricata's SIG_FLAG_REQUIRE_PACKET/STREAM).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum StreamMode {
    /// Not decided by the rule: derived from its content (see `ruleset`).
    #[default]
    Auto,
    /// `flow:only_stream` (or `tcp-stream`): reassembled stream only.
    OnlyStream,
    /// `flow:no_stream` (or `tcp-pkt`): packet payload only.
    NoStream,
}

/// `flow:` conditions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FlowMatch {
    /// Some(true): to_server; Some(false): to_client.
    pub(crate) to_server: Option<bool>,
    /// Some(true): established; Some(false): not_established.
    established: Option<bool>,
    pub(crate) stream: StreamMode,
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

/// Which bytes an inspection list reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListId {
    /// Packet payload / reassembled stream.
    Payload,
    /// An app-layer buffer.
    Buffer(BufferKind),
}

/// The keywords of one inspection list, in rule order.
#[derive(Debug, Clone)]
pub(crate) struct List {
    pub(crate) id: ListId,
    pub(crate) chain: Vec<Elem>,
    /// `bsize` / `urilen`: conditions on the buffer length (all must hold).
    pub(crate) bsize: Vec<UintMatch>,
    /// Transform names applied to the buffer, in order.
    pub(crate) transforms: Vec<String>,
    /// The same, compiled (all of them when every one is implemented).
    pub(crate) compiled_transforms: Vec<crate::transform::Transform>,
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
    /// Inspection lists; the payload list first when present.
    pub(crate) lists: Vec<List>,
    pub(crate) header_tests: Vec<HeaderTest>,
    pub(crate) flowbits: Vec<FlowbitsRaw>,
    pub(crate) flowints: Vec<Flowint>,
    pub(crate) noalert: bool,
    pub(crate) thresholds: Vec<threshold::Spec>,
    pub(crate) xbits: Vec<crate::xbits::Spec>,
    /// Why the rule cannot be evaluated at all, if so.
    pub(crate) unsupported: Option<String>,
    /// Why the rule is loaded inactive, if so.
    pub(crate) inactive: Option<String>,
    /// A [`DEFERRED`] keyword the rule uses: unsupported unless the rule is inactive.
    pub(crate) deferred: Option<String>,
}

fn is_known(name: &str, features: Features) -> bool {
    SUPPORTED.contains(&name)
        || (features.byte_keywords && OPT_IN_BYTE_KEYWORDS.contains(&name))
        || hdrkw::KEYWORDS.contains(&name)
        || buffers::sticky(name).is_some()
        || buffers::modifier(name).is_some()
        || TRANSFORMS.contains(&name)
        || APP_KEYWORDS.contains(&name)
        || DEFERRED.contains(&name)
}

/// First thing in the rule we cannot evaluate exactly.
fn find_unsupported(options: &[RawOption<'_>], features: Features) -> Option<String> {
    for opt in options {
        let name = opt.name.text.to_ascii_lowercase();
        if !is_known(&name, features) {
            return Some(format!("keyword {name}"));
        }
        if name == "byte_test" || name == "byte_jump" || name == "byte_extract" {
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

/// Payload keywords that modify the last content (wherever it went).
const MODIFIERS: &[&str] = &[
    "nocase",
    "offset",
    "depth",
    "distance",
    "within",
    "fast_pattern",
    "rawbytes",
    "startswith",
    "endswith",
];

/// Parse state of the inspection lists.
struct Lists {
    lists: Vec<List>,
    /// The list new payload keywords go to.
    cur: usize,
    /// The list holding the last content.
    last: Option<usize>,
}

impl Lists {
    fn index(&mut self, id: ListId) -> usize {
        if let Some(i) = self.lists.iter().position(|l| l.id == id) {
            return i;
        }
        self.lists.push(List {
            id,
            chain: Vec::new(),
            bsize: Vec::new(),
            transforms: Vec::new(),
            compiled_transforms: Vec::new(),
        });
        self.lists.len() - 1
    }
    fn cur(&mut self) -> &mut List {
        if self.lists.is_empty() {
            self.cur = self.index(ListId::Payload);
        }
        let i = self.cur.min(self.lists.len() - 1);
        &mut self.lists[i]
    }
}

/// byte_extract variables used where only numbers are supported here.
fn var_misuse(options: &[RawOption<'_>]) -> Option<String> {
    let names: Vec<&str> = options
        .iter()
        .filter(|o| o.name.text.eq_ignore_ascii_case("byte_extract"))
        .filter_map(|o| {
            o.value
                .and_then(|v| v.text.split(',').nth(2))
                .map(str::trim)
        })
        .collect();
    if names.is_empty() {
        return None;
    }
    for o in options {
        let name = o.name.text.to_ascii_lowercase();
        let Some(v) = o.value else { continue };
        let parts: Vec<&str> = v.text.split(',').map(str::trim).collect();
        let positions: &[usize] = match name.as_str() {
            "offset" | "depth" | "distance" | "within" | "isdataat" => &[0],
            "byte_test" => &[0, 3],
            "byte_jump" => &[0, 1],
            _ => &[],
        };
        for &i in positions {
            let Some(p) = parts.get(i) else { continue };
            let p = p.trim_start_matches(['!', '-']).trim();
            if names.contains(&p) {
                return Some(format!("keyword byte_extract:{name}"));
            }
        }
    }
    None
}

/// Parses all options of a rule.
pub(crate) fn parse_options(raw: &RawRule<'_>, features: Features) -> Result<RuleOptions, Perr> {
    let mut out = RuleOptions {
        unsupported: find_unsupported(&raw.options, features).or_else(|| var_misuse(&raw.options)),
        ..RuleOptions::default()
    };
    let mut fast_pattern_seen = false;
    let mut flow_seen = false;
    let mut lists = Lists {
        lists: Vec::new(),
        cur: 0,
        last: None,
    };
    let mut vars: Vec<String> = Vec::new();
    let mut inactive: Option<String> = None;
    let mut mark_inactive = |reason: String| {
        if inactive.is_none() {
            inactive = Some(reason);
        }
    };
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
            "tag" => value(opt).map(|_| ()),
            "prefilter" => no_value(opt),
            "noalert" => no_value(opt).map(|()| out.noalert = true),
            "flowbits" => value(opt).and_then(|v| {
                match parse_flowbits(v)? {
                    None => out.noalert = true,
                    Some(f) => out.flowbits.push(f),
                }
                Ok(())
            }),
            "xbits" => value(opt).and_then(|v| {
                out.xbits.push(crate::xbits::parse(v)?);
                Ok(())
            }),
            "flowint" => value(opt).and_then(|v| match parse_flowint(v)? {
                Ok(f) => {
                    out.flowints.push(f);
                    Ok(())
                }
                Err(reason) => {
                    out.unsupported = Some(reason);
                    Ok(())
                }
            }),
            "threshold" | "detection_filter"
                if opt.value.is_some_and(|v| v.text.contains("unique_on")) =>
            {
                // Suricata 8: count distinct ports.
                out.unsupported = Some(format!("keyword {name}:unique_on"));
                Ok(())
            }
            "threshold" | "detection_filter" => value(opt).and_then(|v| {
                let spec = threshold::parse(v, name == "detection_filter")?;
                if out.thresholds.iter().any(|t| {
                    (t.kind == threshold::Kind::DetectionFilter) == (name == "detection_filter")
                }) {
                    return Err(Perr::new(
                        opt.name.start,
                        format!("'{name}' given more than once"),
                    ));
                }
                out.thresholds.push(spec);
                Ok(())
            }),
            "pkt_data" => no_value(opt).map(|()| lists.cur = lists.index(ListId::Payload)),
            "bsize" | "urilen" => {
                let target = if name == "urilen" {
                    let raw = opt.value.is_some_and(|v| {
                        v.text.split(',').nth(1).is_some_and(|p| p.trim() == "raw")
                    });
                    let kind = if raw {
                        BufferKind::HttpUriRaw
                    } else {
                        BufferKind::HttpUri
                    };
                    Some(lists.index(ListId::Buffer(kind)))
                } else {
                    None
                };
                let v = value(opt);
                v.and_then(|v| {
                    let first = v.text.split(',').next().unwrap_or("").trim();
                    let tok = Token {
                        text: first,
                        start: v.start,
                    };
                    let m = parse_uint_tok(tok)?;
                    let list = match target {
                        Some(i) => &mut lists.lists[i],
                        None => {
                            let l = lists.cur();
                            if l.id == ListId::Payload {
                                return Err(Perr::new(
                                    opt.name.start,
                                    "'bsize' needs a sticky buffer before it",
                                ));
                            }
                            l
                        }
                    };
                    list.bsize.push(m);
                    Ok(())
                })
            }
            "pcre" => value(opt).and_then(|v| {
                let spec = crate::pcre::parse(v)?;
                let idx = match spec.buffer {
                    Some(k) => lists.index(ListId::Buffer(k)),
                    None => {
                        lists.cur();
                        lists.cur
                    }
                };
                let list = &mut lists.lists[idx];
                if list.chain.len() >= MAX_CHAIN {
                    return Err(Perr::new(
                        opt.name.start,
                        format!("more than {MAX_CHAIN} payload keywords"),
                    ));
                }
                // Compiled (and its syntax checked) at the end, once activity is known.
                list.chain.push(Elem::Pcre(Box::new(PcreElem {
                    spec,
                    compiled: None,
                    relative_next: false,
                })));
                out_pcre_at(&mut list.chain, v.start);
                Ok(())
            }),
            "uricontent" => {
                // Snort's `uricontent:"x"` is `content:"x"; http_uri;`.
                let idx = lists.index(ListId::Buffer(BufferKind::HttpUri));
                let r = chain_option(
                    &mut lists.lists[idx].chain,
                    opt,
                    "content",
                    &mut fast_pattern_seen,
                    &mut vars,
                );
                if r.is_ok() {
                    lists.last = Some(idx);
                }
                r
            }
            n if hdrkw::KEYWORDS.contains(&n) => {
                hdrkw::parse(n, opt.value, opt.name.start).map(|t| out.header_tests.push(t))
            }
            n if buffers::sticky(n).is_some() => {
                // Suricata 8 `=>` rules name the direction: `file.data:to_client;`.
                if let Some(v) = opt.value.map(|v| v.text.trim()) {
                    if v == "to_client" || v == "to_server" {
                        out.unsupported = Some(format!("keyword {n}:{v}"));
                        continue;
                    }
                }
                no_value(opt).map(|()| {
                    if let Some(k) = buffers::sticky(n) {
                        lists.cur = lists.index(ListId::Buffer(k));
                    }
                })
            }
            n if buffers::modifier(n).is_some() => no_value(opt).and_then(|()| {
                let Some(k) = buffers::modifier(n) else {
                    return Ok(());
                };
                let Some(from) = lists.last else {
                    return Err(Perr::new(
                        opt.name.start,
                        format!("'{n}' needs a preceding content"),
                    ));
                };
                let pos = lists.lists[from]
                    .chain
                    .iter()
                    .rposition(|e| matches!(e, Elem::Content(_)));
                let Some(pos) = pos else { return Ok(()) };
                if lists.lists[from].id != ListId::Payload {
                    return Err(Perr::new(
                        opt.name.start,
                        format!("'{n}' applies to a content of another buffer"),
                    ));
                }
                let elem = lists.lists[from].chain.remove(pos);
                let to = lists.index(ListId::Buffer(k));
                lists.lists[to].chain.push(elem);
                lists.last = Some(to);
                Ok(())
            }),
            n if TRANSFORMS.contains(&n) => {
                let l = lists.cur();
                if l.id == ListId::Payload {
                    out.unsupported = Some(format!("keyword {n} (transform on pkt_data)"));
                } else {
                    l.transforms.push(n.to_string());
                }
                Ok(())
            }
            n if DEFERRED.contains(&n) => {
                if out.deferred.is_none() {
                    out.deferred = Some(format!("keyword {n}"));
                }
                Ok(())
            }
            n if APP_KEYWORDS.contains(&n) => {
                mark_inactive(format!("keyword {n}"));
                Ok(())
            }
            _ => {
                let idx = if MODIFIERS.contains(&name.as_str()) {
                    lists.last.unwrap_or(lists.cur)
                } else {
                    lists.cur();
                    lists.cur
                };
                let is_content = name == "content";
                let r = match lists.lists.get_mut(idx) {
                    Some(l) => {
                        chain_option(&mut l.chain, opt, &name, &mut fast_pattern_seen, &mut vars)
                    }
                    None => chain_option(
                        &mut Vec::new(),
                        opt,
                        &name,
                        &mut fast_pattern_seen,
                        &mut vars,
                    ),
                };
                if is_content && r.is_ok() {
                    lists.last = Some(idx);
                }
                r
            }
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
        return Ok(out);
    }
    // Payload list first, then buffers in first-use order.
    let mut all = lists.lists;
    all.sort_by_key(|l| l.id != ListId::Payload);
    for l in &mut all {
        if let ListId::Buffer(k) = l.id {
            if !features.has_buffer(k) {
                mark_inactive(format!("buffer {}", k.name()));
            } else if let Some(t) = l
                .transforms
                .iter()
                .find(|t| crate::transform::Transform::from_name(t).is_none())
            {
                mark_inactive(format!("transform {t}"));
            }
            l.compiled_transforms = l
                .transforms
                .iter()
                .filter_map(|t| crate::transform::Transform::from_name(t))
                .collect();
        }
    }
    out.inactive = inactive;
    let active = out.inactive.is_none();
    for l in &mut all {
        finish_chain(&mut l.chain, active)?;
    }
    all.retain(|l| !l.chain.is_empty() || !l.bsize.is_empty() || l.id != ListId::Payload);
    out.lists = all;
    Ok(out)
}

/// Remembers where a pcre's value starts, for compile errors (kept in the spec's pattern
/// position slot).
fn out_pcre_at(chain: &mut [Elem], at: usize) {
    if let Some(Elem::Pcre(p)) = chain.last_mut() {
        p.spec.at = at;
    }
}

/// Marks which elements have a relative element after them, builds searchers and compiles
/// regexes (JIT for active rules).
fn finish_chain(chain: &mut [Elem], active: bool) -> Result<(), Perr> {
    for i in 0..chain.len() {
        let mut relative_next = false;
        for next in chain.iter().skip(i + 1) {
            if next.is_relative() {
                relative_next = true;
                break;
            }
            if matches!(next, Elem::Content(_) | Elem::Pcre(_)) {
                break;
            }
        }
        match chain.get_mut(i) {
            Some(Elem::Content(c)) => {
                c.relative_next = relative_next;
                c.finish();
            }
            Some(Elem::Pcre(p)) => {
                p.relative_next = relative_next;
                p.compiled = Some(p.spec.compile(active, p.spec.at)?);
            }
            _ => {}
        }
    }
    Ok(())
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
            "only_stream" | "no_stream" => {
                let mode = if word == "only_stream" {
                    StreamMode::OnlyStream
                } else {
                    StreamMode::NoStream
                };
                if f.stream != StreamMode::Auto && f.stream != mode {
                    return Err(Perr::new(at, format!("conflicting flow option '{word}'")));
                }
                f.stream = mode;
                continue;
            }
            _ => {
                return Err(Perr::new(
                    at,
                    format!(
                        "expected a flow option (to_server, to_client, from_server, from_client, established, not_established, stateless, only_stream, no_stream), found '{}'",
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
    parse_uint_tok(value(opt)?)
}

fn parse_uint_tok(v: Token<'_>) -> Result<UintMatch, Perr> {
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
    vars: &mut Vec<String>,
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
        "byte_extract" => {
            if chain.len() >= MAX_CHAIN {
                return Err(Perr::new(
                    at,
                    format!("more than {MAX_CHAIN} payload keywords"),
                ));
            }
            chain.push(Elem::ByteExtract(parse_byte_extract(value(opt)?, vars)?));
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
                Elem::ByteTest(parse_byte_test_vars(v, vars)?)
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
