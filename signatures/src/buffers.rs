//! Sticky buffers (app-layer inspection buffers) and their old-style names.
//!
//! A rule that inspects a buffer is loaded *inactive* unless the sensor declared that it
//! provides that buffer ([`crate::RuleSetBuilder::enable_buffer`]), so a rule never matches
//! against the wrong bytes. The table below maps each canonical name to its sticky aliases
//! (`file_data`, `dns_query`, ...), its Snort-style content modifiers (`http_uri`, ...) and its
//! pcre buffer flag (`/U`, `/H`, ...), as Suricata 7 accepts them (checked with
//! `suricata -T`: no `http_raw_cookie`, `/K`, `ja3s_hash` or `filename` alias there).
//! [`BufferKind::response_only`] says which kinds only the response side of a transaction
//! has: it decides the side at which [`crate::RuleSet::detect_app`] evaluates a rule.

/// An app-layer inspection buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum BufferKind {
    /// `http.uri`.
    HttpUri,
    /// `http.uri.raw`.
    HttpUriRaw,
    /// `http.method`.
    HttpMethod,
    /// `http.host`.
    HttpHost,
    /// `http.host.raw`.
    HttpHostRaw,
    /// `http.user_agent`.
    HttpUserAgent,
    /// `http.header`.
    HttpHeader,
    /// `http.header.raw`.
    HttpHeaderRaw,
    /// `http.cookie`.
    HttpCookie,
    /// `http.cookie.raw`.
    HttpCookieRaw,
    /// `http.request_body`.
    HttpRequestBody,
    /// `http.response_body`.
    HttpResponseBody,
    /// `http.stat_code`.
    HttpStatCode,
    /// `http.stat_msg`.
    HttpStatMsg,
    /// `http.content_type`.
    HttpContentType,
    /// `http.content_len`.
    HttpContentLen,
    /// `http.header_names`.
    HttpHeaderNames,
    /// `http.request_line`.
    HttpRequestLine,
    /// `http.response_line`.
    HttpResponseLine,
    /// `http.start`.
    HttpStart,
    /// `http.referer`.
    HttpReferer,
    /// `http.location`.
    HttpLocation,
    /// `http.accept`.
    HttpAccept,
    /// `http.accept_enc`.
    HttpAcceptEnc,
    /// `http.accept_lang`.
    HttpAcceptLang,
    /// `http.server`.
    HttpServer,
    /// `http.connection`.
    HttpConnection,
    /// `http.protocol`.
    HttpProtocol,
    /// `file.data`.
    FileData,
    /// `file.name`.
    FileName,
    /// `dns.query`.
    DnsQuery,
    /// `tls.sni`.
    TlsSni,
    /// `tls.cert_subject`.
    TlsCertSubject,
    /// `tls.cert_issuer`.
    TlsCertIssuer,
    /// `tls.cert_serial`.
    TlsCertSerial,
    /// `tls.cert_fingerprint`.
    TlsCertFingerprint,
    /// `tls.certs`.
    TlsCerts,
    /// `ja3.hash`.
    Ja3Hash,
    /// `ja3.string`.
    Ja3String,
    /// `ja4.hash`.
    Ja4Hash,
    /// `ja3s.hash`.
    Ja3sHash,
    /// `ja3s.string`.
    Ja3sString,
    /// `ssh.proto`.
    SshProto,
    /// `ssh.software`.
    SshSoftware,
    /// `smtp.helo`.
    SmtpHelo,
    /// `smb.named_pipe`.
    SmbNamedPipe,
    /// `smb.share`.
    SmbShare,
    /// `krb5.cname`.
    Krb5Cname,
    /// `base64_data`.
    Base64Data,
}

/// (kind, canonical name, sticky aliases, content-modifier names, pcre flag or ' ').
/// One row of [`TABLE`].
type Row = (
    BufferKind,
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    char,
);

const TABLE: &[Row] = &[
    (BufferKind::HttpUri, "http.uri", &[], &["http_uri"], 'U'),
    (
        BufferKind::HttpUriRaw,
        "http.uri.raw",
        &[],
        &["http_raw_uri"],
        'I',
    ),
    (
        BufferKind::HttpMethod,
        "http.method",
        &[],
        &["http_method"],
        'M',
    ),
    (BufferKind::HttpHost, "http.host", &[], &["http_host"], 'W'),
    (
        BufferKind::HttpHostRaw,
        "http.host.raw",
        &[],
        &["http_raw_host"],
        'Z',
    ),
    (
        BufferKind::HttpUserAgent,
        "http.user_agent",
        &[],
        &["http_user_agent"],
        'V',
    ),
    (
        BufferKind::HttpHeader,
        "http.header",
        &[],
        &["http_header"],
        'H',
    ),
    (
        BufferKind::HttpHeaderRaw,
        "http.header.raw",
        &[],
        &["http_raw_header"],
        'D',
    ),
    (
        BufferKind::HttpCookie,
        "http.cookie",
        &[],
        &["http_cookie"],
        'C',
    ),
    // Not a Suricata 7 keyword (no sticky name, modifier or pcre flag there); kept for
    // parsers that expose the raw Cookie header.
    (BufferKind::HttpCookieRaw, "http.cookie.raw", &[], &[], ' '),
    (
        BufferKind::HttpRequestBody,
        "http.request_body",
        &["http.client_body"],
        &["http_client_body"],
        'P',
    ),
    (
        BufferKind::HttpResponseBody,
        "http.response_body",
        &[],
        &["http_server_body"],
        'Q',
    ),
    (
        BufferKind::HttpStatCode,
        "http.stat_code",
        &[],
        &["http_stat_code"],
        'S',
    ),
    (
        BufferKind::HttpStatMsg,
        "http.stat_msg",
        &[],
        &["http_stat_msg"],
        'Y',
    ),
    (
        BufferKind::HttpContentType,
        "http.content_type",
        &["http_content_type"],
        &[],
        ' ',
    ),
    (
        BufferKind::HttpContentLen,
        "http.content_len",
        &["http_content_len"],
        &[],
        ' ',
    ),
    (
        BufferKind::HttpHeaderNames,
        "http.header_names",
        &["http_header_names"],
        &[],
        ' ',
    ),
    (
        BufferKind::HttpRequestLine,
        "http.request_line",
        &["http_request_line"],
        &[],
        ' ',
    ),
    (
        BufferKind::HttpResponseLine,
        "http.response_line",
        &["http_response_line"],
        &[],
        ' ',
    ),
    (
        BufferKind::HttpStart,
        "http.start",
        &["http_start"],
        &[],
        ' ',
    ),
    (
        BufferKind::HttpReferer,
        "http.referer",
        &["http_referer"],
        &[],
        ' ',
    ),
    (BufferKind::HttpLocation, "http.location", &[], &[], ' '),
    (
        BufferKind::HttpAccept,
        "http.accept",
        &["http_accept"],
        &[],
        ' ',
    ),
    (
        BufferKind::HttpAcceptEnc,
        "http.accept_enc",
        &["http_accept_enc"],
        &[],
        ' ',
    ),
    (
        BufferKind::HttpAcceptLang,
        "http.accept_lang",
        &["http_accept_lang"],
        &[],
        ' ',
    ),
    (BufferKind::HttpServer, "http.server", &[], &[], ' '),
    (
        BufferKind::HttpConnection,
        "http.connection",
        &["http_connection"],
        &[],
        ' ',
    ),
    (
        BufferKind::HttpProtocol,
        "http.protocol",
        &["http_protocol"],
        &[],
        ' ',
    ),
    (BufferKind::FileData, "file.data", &["file_data"], &[], ' '),
    // `filename` is not an alias: it is a keyword with a value (`filename:"x"`).
    (BufferKind::FileName, "file.name", &[], &[], ' '),
    (BufferKind::DnsQuery, "dns.query", &["dns_query"], &[], ' '),
    (BufferKind::TlsSni, "tls.sni", &["tls_sni"], &[], ' '),
    (
        BufferKind::TlsCertSubject,
        "tls.cert_subject",
        &["tls_cert_subject"],
        &[],
        ' ',
    ),
    (
        BufferKind::TlsCertIssuer,
        "tls.cert_issuer",
        &["tls_cert_issuer"],
        &[],
        ' ',
    ),
    (
        BufferKind::TlsCertSerial,
        "tls.cert_serial",
        &["tls_cert_serial"],
        &[],
        ' ',
    ),
    (
        BufferKind::TlsCertFingerprint,
        "tls.cert_fingerprint",
        &["tls_cert_fingerprint"],
        &[],
        ' ',
    ),
    (BufferKind::TlsCerts, "tls.certs", &[], &[], ' '),
    (BufferKind::Ja3Hash, "ja3.hash", &["ja3_hash"], &[], ' '),
    (
        BufferKind::Ja3String,
        "ja3.string",
        &["ja3_string"],
        &[],
        ' ',
    ),
    (BufferKind::Ja4Hash, "ja4.hash", &["ja4_hash"], &[], ' '),
    // Suricata 7 has no `ja3s_hash`/`ja3s_string` aliases.
    (BufferKind::Ja3sHash, "ja3s.hash", &[], &[], ' '),
    (BufferKind::Ja3sString, "ja3s.string", &[], &[], ' '),
    (BufferKind::SshProto, "ssh.proto", &["ssh_proto"], &[], ' '),
    (
        BufferKind::SshSoftware,
        "ssh.software",
        &["ssh_software"],
        &[],
        ' ',
    ),
    (BufferKind::SmtpHelo, "smtp.helo", &[], &[], ' '),
    (BufferKind::SmbNamedPipe, "smb.named_pipe", &[], &[], ' '),
    (BufferKind::SmbShare, "smb.share", &[], &[], ' '),
    (
        BufferKind::Krb5Cname,
        "krb5.cname",
        &["krb5_cname"],
        &[],
        ' ',
    ),
    (BufferKind::Base64Data, "base64_data", &[], &[], ' '),
];

impl BufferKind {
    /// The canonical (Suricata 7) name.
    pub fn name(self) -> &'static str {
        TABLE.iter().find(|t| t.0 == self).map_or("?", |t| t.1)
    }

    /// Looks up a canonical name.
    pub fn from_name(name: &str) -> Option<BufferKind> {
        TABLE.iter().find(|t| t.1 == name).map(|t| t.0)
    }

    /// Every buffer kind.
    pub fn all() -> impl Iterator<Item = BufferKind> {
        TABLE.iter().map(|t| t.0)
    }

    /// Whether only the response side of a transaction has this buffer (`http.stat_code`,
    /// `http.stat_msg`, `http.response_line`, `http.response_body`, `http.location`,
    /// `http.server`, `tls.cert_*`, `tls.certs`, `ja3s.*`). A rule inspecting one is
    /// evaluated at the response-side inspection point (see [`crate::RuleSet::detect_app`]);
    /// the response point also offers the request-only kinds of its transaction.
    pub fn response_only(self) -> bool {
        matches!(
            self,
            BufferKind::HttpStatCode
                | BufferKind::HttpStatMsg
                | BufferKind::HttpResponseLine
                | BufferKind::HttpResponseBody
                | BufferKind::HttpLocation
                | BufferKind::HttpServer
                | BufferKind::TlsCertSubject
                | BufferKind::TlsCertIssuer
                | BufferKind::TlsCertSerial
                | BufferKind::TlsCertFingerprint
                | BufferKind::TlsCerts
                | BufferKind::Ja3sHash
                | BufferKind::Ja3sString
        )
    }

    /// Number of kinds: `kind as usize` is below it.
    pub(crate) const COUNT: usize = BufferKind::Base64Data as usize + 1;
}

/// A sticky-buffer keyword (canonical or alias) -> its kind.
pub(crate) fn sticky(keyword: &str) -> Option<BufferKind> {
    TABLE
        .iter()
        .find(|t| t.1 == keyword || t.2.contains(&keyword))
        .map(|t| t.0)
}

/// A Snort-style content modifier (`http_uri`, ...) -> its kind.
pub(crate) fn modifier(keyword: &str) -> Option<BufferKind> {
    TABLE.iter().find(|t| t.3.contains(&keyword)).map(|t| t.0)
}

/// A pcre buffer flag (`U`, `H`, ...) -> its kind.
pub(crate) fn pcre_flag(flag: char) -> Option<BufferKind> {
    TABLE
        .iter()
        .find(|t| t.4 == flag && flag != ' ')
        .map(|t| t.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in BufferKind::all() {
            assert_eq!(BufferKind::from_name(k.name()), Some(k));
            assert_eq!(sticky(k.name()), Some(k));
        }
        assert_eq!(sticky("file_data"), Some(BufferKind::FileData));
        assert_eq!(modifier("http_uri"), Some(BufferKind::HttpUri));
        assert_eq!(pcre_flag('U'), Some(BufferKind::HttpUri));
        assert_eq!(pcre_flag('R'), None);
        // Suricata 7: no such aliases or flags.
        assert_eq!(pcre_flag('K'), None);
        assert_eq!(modifier("http_raw_cookie"), None);
        assert_eq!(sticky("filename"), None);
        assert_eq!(sticky("ja3s_hash"), None);
        assert_eq!(sticky("ja4_hash"), Some(BufferKind::Ja4Hash));
        assert_eq!(BufferKind::all().count(), BufferKind::COUNT);
        assert!(BufferKind::all().all(|k| (k as usize) < BufferKind::COUNT));
    }

    /// Suricata 7's names: sticky buffers with their legacy aliases, content modifiers and
    /// pcre flags (checked against `suricata -T` 7.0.10).
    #[test]
    fn suricata7_names() {
        for (kw, k) in [
            ("http.uri", BufferKind::HttpUri),
            ("http.uri.raw", BufferKind::HttpUriRaw),
            ("http.host.raw", BufferKind::HttpHostRaw),
            ("http_content_type", BufferKind::HttpContentType),
            ("http_content_len", BufferKind::HttpContentLen),
            ("http_header_names", BufferKind::HttpHeaderNames),
            ("http_request_line", BufferKind::HttpRequestLine),
            ("http_response_line", BufferKind::HttpResponseLine),
            ("http_start", BufferKind::HttpStart),
            ("http_referer", BufferKind::HttpReferer),
            ("http_accept", BufferKind::HttpAccept),
            ("http_accept_enc", BufferKind::HttpAcceptEnc),
            ("http_accept_lang", BufferKind::HttpAcceptLang),
            ("http_connection", BufferKind::HttpConnection),
            ("http_protocol", BufferKind::HttpProtocol),
            ("http.location", BufferKind::HttpLocation),
            ("http.server", BufferKind::HttpServer),
            ("file_data", BufferKind::FileData),
            ("dns_query", BufferKind::DnsQuery),
            ("tls_sni", BufferKind::TlsSni),
            ("tls_cert_subject", BufferKind::TlsCertSubject),
            ("tls_cert_issuer", BufferKind::TlsCertIssuer),
            ("tls_cert_serial", BufferKind::TlsCertSerial),
            ("tls_cert_fingerprint", BufferKind::TlsCertFingerprint),
            ("tls.certs", BufferKind::TlsCerts),
            ("ja3_hash", BufferKind::Ja3Hash),
            ("ja3_string", BufferKind::Ja3String),
            ("ja3s.hash", BufferKind::Ja3sHash),
            ("ja4.hash", BufferKind::Ja4Hash),
            ("ssh_proto", BufferKind::SshProto),
            ("ssh_software", BufferKind::SshSoftware),
            ("krb5_cname", BufferKind::Krb5Cname),
        ] {
            assert_eq!(sticky(kw), Some(k), "{kw}");
        }
        for (kw, k) in [
            ("http_uri", BufferKind::HttpUri),
            ("http_raw_uri", BufferKind::HttpUriRaw),
            ("http_method", BufferKind::HttpMethod),
            ("http_host", BufferKind::HttpHost),
            ("http_raw_host", BufferKind::HttpHostRaw),
            ("http_user_agent", BufferKind::HttpUserAgent),
            ("http_header", BufferKind::HttpHeader),
            ("http_raw_header", BufferKind::HttpHeaderRaw),
            ("http_cookie", BufferKind::HttpCookie),
            ("http_client_body", BufferKind::HttpRequestBody),
            ("http_server_body", BufferKind::HttpResponseBody),
            ("http_stat_code", BufferKind::HttpStatCode),
            ("http_stat_msg", BufferKind::HttpStatMsg),
        ] {
            assert_eq!(modifier(kw), Some(k), "{kw}");
        }
        for (f, k) in [
            ('U', BufferKind::HttpUri),
            ('I', BufferKind::HttpUriRaw),
            ('P', BufferKind::HttpRequestBody),
            ('Q', BufferKind::HttpResponseBody),
            ('H', BufferKind::HttpHeader),
            ('D', BufferKind::HttpHeaderRaw),
            ('M', BufferKind::HttpMethod),
            ('C', BufferKind::HttpCookie),
            ('S', BufferKind::HttpStatCode),
            ('Y', BufferKind::HttpStatMsg),
            ('V', BufferKind::HttpUserAgent),
            ('W', BufferKind::HttpHost),
            ('Z', BufferKind::HttpHostRaw),
        ] {
            assert_eq!(pcre_flag(f), Some(k), "{f}");
        }
    }
}
