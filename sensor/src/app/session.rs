//! Per-flow app-layer state ([`AppSession`]) and the per-worker side ([`AppLayer`]):
//! protocol detection and pooled parsers.
//!
//! Detection follows Suricata's defaults: TCP protocols are recognised by content on any
//! port (HTTP and TLS), DNS by its port (53) confirmed by a header check. A direction is
//! probed from the first byte of its stream; while a probe needs more bytes the flow stays
//! `Unknown`, and when every probe said no in both directions it is `Failed` (EVE's
//! `"app_proto":"failed"`). Once a protocol is known the flow takes a parser from the
//! worker's pool for that protocol and gives it back, reset, when the flow ends, so a warm
//! worker allocates no parser per flow.

use super::{AppCounters, AppParser, AppProto, Probe, TxSink};

/// A parser as the pools hold it.
type BoxedParser = Box<dyn AppParser + Send>;

/// One protocol the app layer knows: how to recognise it and how to make its parser.
struct Protocol {
    proto: AppProto,
    /// Runs over TCP streams (else UDP datagrams).
    tcp: bool,
    /// Only flows whose server port is one of these are probed (empty: any port), as
    /// Suricata's port-based probing goes by the destination of the flow's first packet.
    ports: &'static [u16],
    probe: fn(bool, &[u8]) -> Probe,
    new: fn() -> BoxedParser,
}

/// The protocols, in probing order.
static PROTOCOLS: &[Protocol] = &[
    Protocol {
        proto: AppProto::Http,
        tcp: true,
        ports: &[],
        probe: super::http::probe,
        new: || Box::new(super::http::HttpParser::new()),
    },
    Protocol {
        proto: AppProto::Tls,
        tcp: true,
        ports: &[],
        probe: super::tls::probe,
        new: || Box::new(super::tls::TlsParser::new()),
    },
    Protocol {
        proto: AppProto::Dns,
        tcp: true,
        ports: &[53],
        probe: super::dns::probe_tcp,
        new: || Box::new(super::dns::DnsParser::tcp()),
    },
    Protocol {
        proto: AppProto::Dns,
        tcp: false,
        ports: &[53],
        probe: super::dns::probe,
        new: || Box::new(super::dns::DnsParser::udp()),
    },
];

/// What probing a direction's first bytes decided.
enum Detected {
    /// `PROTOCOLS[i]`.
    As(usize),
    /// A probe needs more bytes.
    Later,
    /// No protocol.
    Never,
}

/// Bytes a direction may offer before a probe that still wants more is given up.
const PROBE_LIMIT: usize = 4096;

/// The app-layer state of one flow, kept in its flow-table slot.
#[derive(Default)]
pub struct AppSession {
    proto: AppProto,
    /// Index into [`PROTOCOLS`] of the parser in use.
    entry: usize,
    parser: Option<BoxedParser>,
    /// Stream offset each direction's parser expects next (to_server, to_client).
    next: [u64; 2],
    /// Every probe said no for this direction.
    refused: [bool; 2],
}

impl std::fmt::Debug for AppSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppSession")
            .field("proto", &self.proto)
            .field("parser", &self.parser.is_some())
            .field("next", &self.next)
            .field("refused", &self.refused)
            .finish()
    }
}

impl AppSession {
    /// The flow's protocol so far.
    pub fn proto(&self) -> AppProto {
        self.proto
    }
}

/// Per-protocol parser counters and detection totals, for the stats record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppLayerCounters {
    /// Flows detected per protocol: http, tls, dns (tcp), dns (udp).
    pub flows: [u64; 4],
    /// Flows whose detection failed.
    pub failed: u64,
    /// Parser counters summed over ended flows, per protocol as in `flows`.
    pub parsers: [AppCounters; 4],
}

impl AppLayerCounters {
    /// Adds another worker's counters.
    pub fn merge(&mut self, o: &AppLayerCounters) {
        for (a, b) in self.flows.iter_mut().zip(o.flows) {
            *a += b;
        }
        self.failed += o.failed;
        for (a, b) in self.parsers.iter_mut().zip(o.parsers) {
            a.tx += b.tx;
            a.parse_errors += b.parse_errors;
            a.truncated += b.truncated;
            a.gaps += b.gaps;
        }
    }
}

/// Where a protocol's counters go in [`AppLayerCounters`].
fn counter_index(p: &Protocol) -> usize {
    match (p.proto, p.tcp) {
        (AppProto::Http, _) => 0,
        (AppProto::Tls, _) => 1,
        (AppProto::Dns, true) => 2,
        _ => 3,
    }
}

/// One worker's app layer: parser pools and counters.
pub struct AppLayer {
    /// Reset parsers ready for new flows, one pool per entry of [`PROTOCOLS`].
    pools: Vec<Vec<BoxedParser>>,
    counters: AppLayerCounters,
}

impl std::fmt::Debug for AppLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppLayer")
            .field(
                "pooled",
                &self.pools.iter().map(Vec::len).collect::<Vec<_>>(),
            )
            .field("counters", &self.counters)
            .finish()
    }
}

impl Default for AppLayer {
    fn default() -> Self {
        AppLayer::new()
    }
}

impl AppLayer {
    /// An app layer with empty pools (they fill as flows end).
    pub fn new() -> AppLayer {
        AppLayer {
            pools: PROTOCOLS.iter().map(|_| Vec::new()).collect(),
            counters: AppLayerCounters::default(),
        }
    }

    /// Counters so far.
    pub fn counters(&self) -> AppLayerCounters {
        self.counters
    }

    /// Reserves pool room for `flows` parsers per protocol, so that returning parsers never
    /// grows a pool on the packet path.
    pub fn reserve(&mut self, flows: usize) {
        for pool in &mut self.pools {
            pool.reserve(flows.saturating_sub(pool.len()));
        }
    }

    /// New bytes of one TCP direction. `data` is context followed by new bytes from
    /// `new_from` on; `offset` is the stream offset of `data[new_from]`; `ports` are the
    /// client's and the server's.
    #[allow(clippy::too_many_arguments)]
    pub fn on_stream(
        &mut self,
        s: &mut AppSession,
        ports: [u16; 2],
        to_server: bool,
        data: &[u8],
        new_from: usize,
        offset: u64,
        sink: &mut TxSink<'_>,
    ) {
        let new = data.get(new_from..).unwrap_or_default();
        if new.is_empty() {
            return;
        }
        let dir = usize::from(!to_server);
        let end = offset.saturating_add(new.len() as u64);
        if let Some(parser) = s.parser.as_mut() {
            if offset > s.next[dir] {
                parser.gap(to_server, offset - s.next[dir]);
            }
            if end > s.next[dir] {
                // Bytes before `next` were given already (a retransmission cannot reach here,
                // but a parser that started mid-stream may have been given them as context).
                let skip = usize::try_from(s.next[dir].saturating_sub(offset)).unwrap_or(0);
                parser.parse(to_server, new.get(skip..).unwrap_or_default(), sink);
                s.next[dir] = end;
            }
            return;
        }
        if s.proto != AppProto::Unknown || s.refused[dir] {
            return;
        }
        // Probe from the first byte of the stream when the chunk still holds it.
        let start = offset.saturating_sub(new_from as u64);
        let (bytes, bytes_offset) = if start == 0 { (data, 0) } else { (new, offset) };
        match self.probe(true, ports, to_server, bytes) {
            Detected::Later => {}
            Detected::Never => self.refuse(s, dir),
            Detected::As(entry) => {
                self.start(s, entry);
                if let Some(parser) = s.parser.as_mut() {
                    if bytes_offset > 0 {
                        parser.gap(to_server, bytes_offset);
                    }
                    parser.parse(to_server, bytes, sink);
                }
                s.next[dir] = end;
            }
        }
    }

    /// One UDP datagram of the flow; `ports` are the client's and the server's.
    pub fn on_datagram(
        &mut self,
        s: &mut AppSession,
        ports: [u16; 2],
        to_server: bool,
        payload: &[u8],
        sink: &mut TxSink<'_>,
    ) {
        if payload.is_empty() {
            return;
        }
        if s.parser.is_none() {
            if s.proto != AppProto::Unknown {
                return;
            }
            match self.probe(false, ports, to_server, payload) {
                Detected::As(entry) => self.start(s, entry),
                // On a port a parser claims, a datagram that fails the probe leaves the flow
                // undecided (a later message may still be DNS), as in Suricata.
                Detected::Later => return,
                Detected::Never => {
                    s.refused = [true; 2];
                    s.proto = AppProto::Failed;
                    self.counters.failed += 1;
                    return;
                }
            }
        }
        if let Some(parser) = s.parser.as_mut() {
            parser.parse(to_server, payload, sink);
        }
    }

    /// The flow ended: the parser reports what is pending and goes back to its pool.
    pub fn on_end(&mut self, s: &mut AppSession, sink: &mut TxSink<'_>) {
        if let Some(mut parser) = s.parser.take() {
            parser.end(sink);
            let idx = PROTOCOLS.get(s.entry).map_or(0, counter_index);
            if let Some(c) = self.counters.parsers.get_mut(idx) {
                let p = parser.counters();
                c.tx += p.tx;
                c.parse_errors += p.parse_errors;
                c.truncated += p.truncated;
                c.gaps += p.gaps;
            }
            parser.reset();
            if let Some(pool) = self.pools.get_mut(s.entry) {
                pool.push(parser);
            }
        }
        *s = AppSession::default();
    }

    /// The first protocol whose probe matches.
    fn probe(&self, tcp: bool, ports: [u16; 2], to_server: bool, bytes: &[u8]) -> Detected {
        let mut undecided = false;
        for (i, p) in PROTOCOLS.iter().enumerate() {
            if p.tcp != tcp || !(p.ports.is_empty() || p.ports.contains(&ports[1])) {
                continue;
            }
            match (p.probe)(to_server, bytes) {
                Probe::Match => return Detected::As(i),
                Probe::NeedMore => undecided = true,
                // A datagram protocol keeps its port's flows undecided until one matches.
                Probe::NoMatch => undecided |= !tcp,
            }
        }
        if undecided && (!tcp || bytes.len() < PROBE_LIMIT) {
            Detected::Later
        } else {
            Detected::Never
        }
    }

    /// Gives the flow a parser for `PROTOCOLS[entry]` (a pooled one when there is one).
    fn start(&mut self, s: &mut AppSession, entry: usize) {
        let Some(p) = PROTOCOLS.get(entry) else {
            return;
        };
        let parser = self
            .pools
            .get_mut(entry)
            .and_then(Vec::pop)
            .unwrap_or_else(|| (p.new)());
        s.proto = p.proto;
        s.entry = entry;
        s.parser = Some(parser);
        if let Some(n) = self.counters.flows.get_mut(counter_index(p)) {
            *n += 1;
        }
    }

    fn refuse(&mut self, s: &mut AppSession, dir: usize) {
        if let Some(r) = s.refused.get_mut(dir) {
            *r = true;
        }
        if s.refused == [true; 2] {
            s.proto = AppProto::Failed;
            self.counters.failed += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::Transaction;

    /// Feeds `data` as the first bytes of a direction and collects (event_type, to_server).
    fn feed(
        app: &mut AppLayer,
        s: &mut AppSession,
        ports: [u16; 2],
        to_server: bool,
        offset: u64,
        data: &[u8],
    ) -> Vec<(&'static str, bool)> {
        let mut seen = Vec::new();
        app.on_stream(
            s,
            ports,
            to_server,
            data,
            0,
            offset,
            &mut |tx: &dyn Transaction| seen.push((tx.event_type(), tx.to_server())),
        );
        seen
    }

    #[test]
    fn http_and_tls_are_detected_by_content_on_any_port() {
        let mut app = AppLayer::new();
        let mut s = AppSession::default();
        let req = b"GET /x HTTP/1.1\r\nHost: a.example\r\n\r\n";
        let seen = feed(&mut app, &mut s, [40000, 8080], true, 0, req);
        assert_eq!(s.proto(), AppProto::Http);
        assert_eq!(seen, vec![("http", true)]);
        let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        let seen = feed(&mut app, &mut s, [40000, 8080], false, 0, resp);
        assert_eq!(seen, vec![("http", false)]);
        let mut sink = |_: &dyn Transaction| {};
        app.on_end(&mut s, &mut sink);
        assert_eq!(
            s.proto(),
            AppProto::Unknown,
            "reset for the slot's next flow"
        );
        assert_eq!(app.counters().flows[0], 1);

        // A TLS ClientHello record header on 8443; a parser comes from the pool.
        let mut t = AppSession::default();
        let hello = [0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00];
        feed(&mut app, &mut t, [40001, 8443], true, 0, &hello);
        assert_eq!(t.proto(), AppProto::Tls);
    }

    #[test]
    fn unknown_bytes_both_ways_fail_detection() {
        let mut app = AppLayer::new();
        let mut s = AppSession::default();
        let junk = [0x5au8; 64];
        feed(&mut app, &mut s, [40000, 5555], true, 0, &junk);
        assert_eq!(s.proto(), AppProto::Unknown);
        feed(&mut app, &mut s, [40000, 5555], false, 0, &junk);
        assert_eq!(s.proto(), AppProto::Failed);
        assert_eq!(app.counters().failed, 1);
    }

    #[test]
    fn dns_over_tcp_needs_port_53() {
        // A query for a.example, length-prefixed.
        let msg: &[u8] = &[
            0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, b'a',
            0x07, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 0x00, 0x00, 0x01, 0x00, 0x01,
        ];
        let mut framed = (msg.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(msg);
        let mut app = AppLayer::new();
        let mut s = AppSession::default();
        let seen = feed(&mut app, &mut s, [40000, 53], true, 0, &framed);
        assert_eq!(s.proto(), AppProto::Dns);
        assert_eq!(seen, vec![("dns", true)]);
        let mut other = AppSession::default();
        feed(&mut app, &mut other, [40000, 5353], true, 0, &framed);
        assert_ne!(other.proto(), AppProto::Dns);
    }

    #[test]
    fn udp_dns_waits_for_a_datagram_that_parses() {
        let mut app = AppLayer::new();
        let mut s = AppSession::default();
        let mut sink = |_: &dyn Transaction| {};
        app.on_datagram(&mut s, [40000, 53], true, b"not dns", &mut sink);
        assert_eq!(s.proto(), AppProto::Unknown);
        app.on_datagram(&mut s, [40000, 123], true, b"ntp-ish", &mut sink);
        let mut ntp = AppSession::default();
        app.on_datagram(&mut ntp, [40000, 123], true, b"ntp-ish", &mut sink);
        assert_eq!(ntp.proto(), AppProto::Failed);
    }
}
