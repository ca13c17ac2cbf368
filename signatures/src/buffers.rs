//! Sticky buffers (app-layer inspection buffers) and their old-style names.
//!
//! A rule that inspects a buffer is loaded *inactive* unless the sensor declared that it
//! provides that buffer ([`crate::RuleSetBuilder::enable_buffer`]), so a rule never matches
//! against the wrong bytes. The table below maps each canonical name to its sticky aliases
//! (`file_data`, `dns_query`, ...), its Snort-style content modifiers (`http_uri`, ...) and its
//! pcre buffer flag (`/U`, `/H`, ...).

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
    (
        BufferKind::HttpCookieRaw,
        "http.cookie.raw",
        &[],
        &["http_raw_cookie"],
        'K',
    ),
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
    (BufferKind::FileName, "file.name", &["filename"], &[], ' '),
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
    (BufferKind::Ja3sHash, "ja3s.hash", &["ja3s_hash"], &[], ' '),
    (
        BufferKind::Ja3sString,
        "ja3s.string",
        &["ja3s_string"],
        &[],
        ' ',
    ),
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
    }
}
