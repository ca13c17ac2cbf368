//! The per-packet pipeline of one worker: decode -> defrag -> flow -> stream -> detect -> event.
//!
//! A worker owns its flow table, defragmenter, reassembler, detection scratch and event
//! buffers, so nothing on this path is shared or locked; buffers are allocated once and
//! reused for every packet.
//!
//! Detection runs once per packet (header, packet payload, flow variables) and once more
//! per reassembled stream chunk the packet made available, following the signatures
//! crate's contract (a rule alerts at most once per packet). When a flow ends, its stream is
//! flushed and the last chunks inspected before the flow record is written, as Suricata does
//! with its flow-timeout pseudo packets. IP fragments are not inspected themselves: the
//! reassembled datagram is, once complete.

use std::sync::Arc;

use signatures::{
    Action, DetectInput, FlowState, FlowVars, IcmpFields, IpFields, RuleMeta, RuleSet, Scratch,
    StreamData, TcpFields,
};

use super::output::EventSink;
use super::stats::WorkerStats;
use crate::app::{AppLayer, AppProto, AppSession, Buffers, Transaction};
use crate::capture::{Frame, Timestamp};
use crate::decode::{decapsulate, decode, Decoded, LinkType, TcpFlags, Transport};
use crate::defrag::{DefragConfig, DefragOutcome, Defragmenter};
use crate::event::{write_alert, write_app_record, write_flow, AlertContext, PktSrc};
use crate::flow::{EndReason, Flow, FlowParts, FlowTable, FlowView};
use crate::stream::{Reassembler, StreamChunk, StreamConfig, StreamEvents, TcpSegment, TcpStream};

/// Most stream lookbehind the rules may ask for (see `Worker::new`).
const MAX_RULE_LOOKBEHIND: usize = 4096;

/// Flows one worker tracks before it evicts the least recently seen.
pub const DEFAULT_FLOW_CAPACITY: usize = 65_536;

/// How a worker is set up.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Sensor id for the `sensor` object of every event.
    pub sensor_id: Arc<str>,
    /// Drop packets with wrong checksums.
    pub verify_checksums: bool,
    /// Flow table capacity.
    pub flow_capacity: usize,
    /// Write EVE `flow` records.
    pub log_flows: bool,
    /// Write EVE `alert` records.
    pub log_alerts: bool,
    /// Which EVE app-layer records (`dns`, `http`, `tls`) to write.
    pub log_app: AppLog,
    /// TCP reassembly settings (memcap per worker).
    pub stream: StreamConfig,
    /// Defragmentation settings (memcap per worker).
    pub defrag: DefragConfig,
}

impl WorkerConfig {
    /// Defaults for `workers` workers: memcaps are split between them.
    pub fn new(sensor_id: Arc<str>, workers: usize) -> WorkerConfig {
        let workers = workers.max(1);
        let stream = StreamConfig::default();
        let defrag = DefragConfig::default();
        WorkerConfig {
            sensor_id,
            verify_checksums: false,
            flow_capacity: DEFAULT_FLOW_CAPACITY,
            log_flows: true,
            log_alerts: true,
            log_app: AppLog::ALL,
            stream: StreamConfig {
                memcap: (stream.memcap / workers).max(1 << 20),
                ..stream
            },
            defrag: DefragConfig {
                max_bytes: (defrag.max_bytes / workers).max(1 << 20),
                ..defrag
            },
        }
    }
}

/// Which app-layer record types a worker writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppLog {
    /// `dns` records.
    pub dns: bool,
    /// `http` records.
    pub http: bool,
    /// `tls` records.
    pub tls: bool,
}

impl AppLog {
    /// All of them.
    pub const ALL: AppLog = AppLog {
        dns: true,
        http: true,
        tls: true,
    };

    fn wants(self, event_type: &str) -> bool {
        match event_type {
            "dns" => self.dns,
            "http" => self.http,
            "tls" => self.tls,
            _ => false,
        }
    }
}

/// One worker's state.
#[derive(Debug)]
pub struct Worker {
    /// Detection and event state, a field of its own so that it can be borrowed beside the
    /// flow table (flows that end inside `FlowTable::track` are inspected and logged by it).
    det: Detection,
    flows: FlowTable,
    reassembler: Reassembler,
    defrag: Defragmenter,
    /// Protocol detection and pooled parsers.
    app: AppLayer,
    /// A reassembled datagram, copied out of the defragmenter so the pipeline can own it.
    reassembled: Vec<u8>,
    stats: WorkerStats,
}

/// What detection decided for one packet.
#[derive(Debug, Default, Clone, Copy)]
struct Verdict {
    alerts: u64,
    passed: bool,
}

/// Appends an alert for `rule` unless a pass rule already silenced the packet.
fn on_rule(
    rule: &RuleMeta,
    ctx: &AlertContext<'_, '_>,
    pending: &mut Vec<u8>,
    verdict: &mut Verdict,
) {
    if verdict.passed {
        return;
    }
    if rule.action == Action::Pass {
        // Suricata's action order puts pass first: it silences the packet's alerts,
        // including those of rules that matched before it in load order.
        verdict.passed = true;
        pending.clear();
        verdict.alerts = 0;
        return;
    }
    if write_alert(pending, ctx, rule).is_ok() {
        pending.push(b'\n');
        verdict.alerts += 1;
    }
}

/// Detection's view of a decoded packet (without stream data).
fn detect_input<'a>(p: &Decoded<'a>, ts: Timestamp, flow: Option<&FlowView>) -> DetectInput<'a> {
    let flow_state = flow.map_or(FlowState::default(), |f| FlowState {
        to_server: f.to_server,
        established: f.established,
        tracked: true,
    });
    let tcp = match p.transport {
        Transport::Tcp(f) => TcpFields {
            flags: f.bits,
            seq: p.tcp.seq,
            ack: p.tcp.ack,
            window: p.tcp.window,
        },
        _ => TcpFields::default(),
    };
    let icmp = match p.transport {
        Transport::Icmp {
            icmp_type,
            icmp_code,
        } => IcmpFields {
            itype: icmp_type,
            icode: icmp_code,
            id: p.icmp_id_seq.0,
            seq: p.icmp_id_seq.1,
        },
        _ => IcmpFields::default(),
    };
    let ip = IpFields {
        version: p.ip.version,
        ttl: p.ip.ttl,
        tos: p.ip.tos,
        id: p.ip.id,
        frag_flags: p.ip.frag_flags,
        frag_offset: p.ip.frag_offset,
    };
    DetectInput::new(
        p.src_ip, p.dst_ip, p.src_port, p.dst_port, p.ip_proto, p.payload, flow_state,
    )
    .with_ts(u64::try_from(ts.secs).unwrap_or(0), ts.usecs)
    .with_ip(ip, p.ipv4_options)
    .with_tcp(tcp)
    .with_icmp(icmp)
}

/// The packet as seen from the other direction: for stream bytes of the opposite direction,
/// delivered by this packet (its ACK let a gap be skipped).
fn reversed<'a>(p: &Decoded<'a>) -> Decoded<'a> {
    Decoded {
        src_ip: p.dst_ip,
        dst_ip: p.src_ip,
        src_port: p.dst_port,
        dst_port: p.src_port,
        payload: &[],
        ..*p
    }
}

fn stream_data<'a>(c: &StreamChunk<'a>) -> StreamData<'a> {
    StreamData {
        data: c.data,
        new_from: c.new_from,
        offset: c.offset.saturating_sub(c.new_from as u64),
        to_server: c.to_server,
    }
}

/// A pseudo packet for stream bytes inspected when a flow ends: the flow's tuple in the
/// chunk's direction, no payload of its own.
fn pseudo_packet(flow: &Flow, to_server: bool) -> Decoded<'static> {
    let (src, dst) = if to_server {
        (flow.client, flow.server)
    } else {
        (flow.server, flow.client)
    };
    Decoded {
        src_ip: src.0,
        dst_ip: dst.0,
        ip_proto: flow.proto,
        src_port: src.1,
        dst_port: dst.1,
        transport: Transport::Tcp(TcpFlags::default()),
        vlans: flow.vlans,
        payload: &[],
        ip: crate::decode::IpInfo {
            version: if src.0.is_ipv4() { 4 } else { 6 },
            ..Default::default()
        },
        ipv4_options: &[],
        tcp: Default::default(),
        icmp_id_seq: (0, 0),
        fragmented: false,
        layer: Default::default(),
    }
}

/// The worker's detection and event state: rules, scratch and reused event buffers.
#[derive(Debug)]
struct Detection {
    rules: Arc<RuleSet>,
    scratch: Scratch,
    /// Alert records of the current packet, newline-terminated, held until detection is done
    /// so that a matching `pass` rule can discard them.
    pending: Vec<u8>,
    /// App-layer records (dns, http, tls) of the current packet, newline-terminated.
    app_records: AppRecords,
    /// One flow record at a time, reused.
    record: Vec<u8>,
    cfg: WorkerConfig,
}

/// App-layer records of one packet: the bytes and, per record, its event type and end.
#[derive(Debug, Default)]
struct AppRecords {
    bytes: Vec<u8>,
    ends: Vec<(&'static str, usize)>,
}

impl AppRecords {
    fn with_capacity(bytes: usize) -> AppRecords {
        AppRecords {
            bytes: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(64),
        }
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }

    fn push(&mut self, ctx: &AlertContext<'_, '_>, tx: &dyn Transaction) {
        let start = self.bytes.len();
        if write_app_record(&mut self.bytes, ctx, tx).is_ok() {
            self.bytes.push(b'\n');
            self.ends.push((tx.event_type(), self.bytes.len()));
        } else {
            self.bytes.truncate(start);
        }
    }

    fn emit(&self, sink: &mut impl EventSink) -> std::io::Result<()> {
        let mut from = 0;
        for &(kind, end) in &self.ends {
            if let Some(record) = self.bytes.get(from..end) {
                sink.emit(kind, record)?;
            }
            from = end;
        }
        Ok(())
    }
}

/// The flow's app layer, for a packet whose flow has one.
struct AppPart<'x> {
    layer: &'x mut AppLayer,
    session: &'x mut AppSession,
}

/// What an inspection point needs from the worker's detection state: the rules, the
/// scratch, the packet's pending alerts and app records.
struct TxInspect<'d> {
    rules: &'d RuleSet,
    scratch: &'d mut Scratch,
    pending: &'d mut Vec<u8>,
    records: &'d mut AppRecords,
    log_app: AppLog,
}

impl TxInspect<'_> {
    /// Runs the app-layer rules over one inspection point (`base` and `ctx` describe the
    /// packet that completed it) and records what it logs.
    fn run(
        &mut self,
        base: &DetectInput<'_>,
        ctx: &AlertContext<'_, '_>,
        vars: &mut FlowVars,
        verdict: &mut Verdict,
        tx: &dyn Transaction,
    ) {
        let mut buffers = Buffers::new();
        tx.buffers(&mut buffers);
        let input = DetectInput {
            stream: None,
            buffers: &buffers,
            app_proto: tx_proto(tx),
            ..*base
        };
        let ctx = AlertContext {
            app_proto: tx_proto(tx),
            ..*ctx
        };
        let ctx_tx = AlertContext {
            tx: Some(tx),
            ..ctx
        };
        let pending = &mut *self.pending;
        self.rules.detect_app(&input, vars, self.scratch, |r| {
            on_rule(r, &ctx_tx, pending, verdict)
        });
        if self.log_app.wants(tx.event_type()) && tx.log() {
            self.records.push(&ctx, tx);
        }
    }
}

impl Detection {
    /// Inspects the packet, then every stream chunk `reassembler` has ready for `stream`,
    /// feeding the app layer as it goes.
    #[allow(clippy::too_many_arguments)]
    fn inspect(
        &mut self,
        packet: &Decoded<'_>,
        ts: Timestamp,
        pcap_cnt: u64,
        pkt_src: PktSrc,
        flow: Option<FlowView>,
        vars: &mut FlowVars,
        stream: Option<(&mut Reassembler, &mut TcpStream)>,
        payload_in_stream: bool,
        mut app: Option<AppPart<'_>>,
    ) -> Verdict {
        let mut verdict = Verdict::default();
        self.pending.clear();
        self.app_records.clear();
        let app_proto = app.as_ref().and_then(|a| a.session.proto().eve_name());
        let mut input =
            detect_input(packet, ts, flow.as_ref()).with_stream(None, payload_in_stream);
        input.app_proto = app_proto;
        let ctx = AlertContext {
            ts,
            pcap_cnt,
            packet,
            flow,
            pkt_src,
            sensor_id: &self.cfg.sensor_id,
            app_proto,
            tx: None,
        };
        let pending = &mut self.pending;
        self.rules
            .detect_with_flow(&input, vars, &mut self.scratch, |r| {
                on_rule(r, &ctx, pending, &mut verdict)
            });
        let Some((reassembler, stream)) = stream else {
            if let (Some(a), Transport::Udp) = (app.as_mut(), packet.transport) {
                let to_server = flow.is_none_or(|f| f.to_server);
                let mut run = TxInspect {
                    rules: &self.rules,
                    scratch: &mut self.scratch,
                    pending: &mut *pending,
                    records: &mut self.app_records,
                    log_app: self.cfg.log_app,
                };
                let ports = if to_server {
                    [packet.src_port, packet.dst_port]
                } else {
                    [packet.dst_port, packet.src_port]
                };
                a.layer
                    .on_datagram(a.session, ports, to_server, packet.payload, &mut |tx| {
                        run.run(&input, &ctx, vars, &mut verdict, tx);
                    });
            }
            return verdict;
        };
        let back = reversed(packet);
        while let Some(chunk) = reassembler.next_chunk(stream) {
            let same_direction = flow.is_none_or(|f| f.to_server == chunk.to_server);
            let (p, view) = if same_direction {
                (packet, flow)
            } else {
                (
                    &back,
                    flow.map(|f| FlowView {
                        to_server: !f.to_server,
                        ..f
                    }),
                )
            };
            let mut input = detect_input(p, ts, view.as_ref())
                .with_stream(Some(stream_data(&chunk)), payload_in_stream);
            input.app_proto = app_proto;
            let ctx = AlertContext {
                packet: p,
                flow: view,
                ..ctx
            };
            self.rules
                .detect_stream_chunk(&input, vars, &mut self.scratch, |r| {
                    on_rule(r, &ctx, pending, &mut verdict)
                });
            if let Some(a) = app.as_mut() {
                let mut run = TxInspect {
                    rules: &self.rules,
                    scratch: &mut self.scratch,
                    pending: &mut *pending,
                    records: &mut self.app_records,
                    log_app: self.cfg.log_app,
                };
                let ports = match view {
                    Some(v) if !v.to_server => [p.dst_port, p.src_port],
                    _ => [p.src_port, p.dst_port],
                };
                a.layer.on_stream(
                    a.session,
                    ports,
                    chunk.to_server,
                    chunk.data,
                    chunk.new_from,
                    chunk.offset,
                    &mut |tx| run.run(&input, &ctx, vars, &mut verdict, tx),
                );
            }
        }
        verdict
    }

    /// A flow ended: inspect what its stream still holds, let its app layer report what is
    /// pending, release both, and write the flow record.
    fn flow_ended(
        &mut self,
        reassembler: &mut Reassembler,
        app: &mut AppLayer,
        sink: &mut impl EventSink,
        parts: FlowParts<'_>,
        reason: EndReason,
    ) -> std::io::Result<u64> {
        let FlowParts {
            flow,
            stream,
            vars,
            app: session,
        } = parts;
        let mut alerts = 0;
        let (id, established, last) = (flow.id, flow.established, flow.last);
        let view_of = |to_server: bool| FlowView {
            id,
            to_server,
            established,
            slot: u32::MAX,
        };
        if flow.proto == crate::decode::ipproto::TCP {
            reassembler.flush(stream);
            let mut first = true;
            while let Some(chunk) = reassembler.next_chunk(stream) {
                let p = pseudo_packet(flow, chunk.to_server);
                let view = view_of(chunk.to_server);
                let mut input = detect_input(&p, flow.last, Some(&view))
                    .with_stream(Some(stream_data(&chunk)), true);
                input.app_proto = session.proto().eve_name();
                let ctx = AlertContext {
                    ts: flow.last,
                    pcap_cnt: 0,
                    pkt_src: PktSrc::FlowTimeout,
                    packet: &p,
                    flow: Some(view),
                    sensor_id: &self.cfg.sensor_id,
                    app_proto: session.proto().eve_name(),
                    tx: None,
                };
                let mut verdict = Verdict::default();
                self.pending.clear();
                self.app_records.clear();
                let pending = &mut self.pending;
                let on_match = |r: &RuleMeta| on_rule(r, &ctx, pending, &mut verdict);
                if first {
                    self.rules
                        .detect_with_flow(&input, vars, &mut self.scratch, on_match);
                    first = false;
                } else {
                    self.rules
                        .detect_stream_chunk(&input, vars, &mut self.scratch, on_match);
                }
                let mut run = TxInspect {
                    rules: &self.rules,
                    scratch: &mut self.scratch,
                    pending: &mut *pending,
                    records: &mut self.app_records,
                    log_app: self.cfg.log_app,
                };
                app.on_stream(
                    session,
                    [flow.client.1, flow.server.1],
                    chunk.to_server,
                    chunk.data,
                    chunk.new_from,
                    chunk.offset,
                    &mut |tx| run.run(&input, &ctx, vars, &mut verdict, tx),
                );
                alerts += self.emit(sink, verdict, flow)?;
            }
            reassembler.release(stream);
        }
        let app_proto = session.proto().eve_name();
        if session.proto() != AppProto::Unknown {
            // What the parser still holds (an HTTP request without its response, a TLS
            // session that never finished its handshake) is inspected and logged now.
            let mut verdict = Verdict::default();
            self.pending.clear();
            self.app_records.clear();
            let mut p = pseudo_packet(flow, true);
            p.ip_proto = flow.proto;
            if flow.proto != crate::decode::ipproto::TCP {
                p.transport = Transport::Udp;
            }
            let back = reversed(&p);
            let mut run = TxInspect {
                rules: &self.rules,
                scratch: &mut self.scratch,
                pending: &mut self.pending,
                records: &mut self.app_records,
                log_app: self.cfg.log_app,
            };
            let sensor_id = &self.cfg.sensor_id;
            app.on_end(session, &mut |tx| {
                let packet = if tx.to_server() { &p } else { &back };
                let view = view_of(tx.to_server());
                let input = detect_input(packet, last, Some(&view));
                let ctx = AlertContext {
                    ts: last,
                    pcap_cnt: 0,
                    pkt_src: PktSrc::FlowTimeout,
                    packet,
                    flow: Some(view),
                    sensor_id,
                    app_proto: None,
                    tx: None,
                };
                run.run(&input, &ctx, vars, &mut verdict, tx);
            });
            alerts += self.emit(sink, verdict, flow)?;
        }
        if self.cfg.log_flows {
            self.record.clear();
            write_flow(
                &mut self.record,
                flow,
                reason,
                app_proto,
                &self.cfg.sensor_id,
            )?;
            self.record.push(b'\n');
            sink.emit("flow", &self.record)?;
        }
        Ok(alerts)
    }

    /// Emits the pending alerts (unless a pass rule silenced them) and app records.
    fn emit(
        &mut self,
        sink: &mut impl EventSink,
        verdict: Verdict,
        flow: &mut Flow,
    ) -> std::io::Result<u64> {
        let mut alerts = 0;
        if !verdict.passed && verdict.alerts > 0 {
            alerts = verdict.alerts;
            flow.alerted = true;
            if self.cfg.log_alerts {
                emit_all(sink, "alert", &self.pending)?;
            }
        }
        self.app_records.emit(sink)?;
        Ok(alerts)
    }
}

/// The `app_proto` an inspection point's alerts carry.
fn tx_proto(tx: &dyn Transaction) -> Option<&'static str> {
    match tx.event_type() {
        "http" => Some("http"),
        "tls" => Some("tls"),
        "dns" => Some("dns"),
        _ => None,
    }
}

/// Hands newline-terminated records to the sink one by one.
fn emit_all(sink: &mut impl EventSink, kind: &'static str, records: &[u8]) -> std::io::Result<()> {
    for record in records.split_inclusive(|b| *b == b'\n') {
        sink.emit(kind, record)?;
    }
    Ok(())
}

/// Handles the flows that end while the table is busy (inside `track` or `drain`): each one
/// is inspected and logged at once; the first write error stops the rest and is returned by
/// [`FlowEnds::finish`].
struct FlowEnds<'a, S> {
    det: &'a mut Detection,
    reassembler: &'a mut Reassembler,
    app: &'a mut AppLayer,
    sink: &'a mut S,
    result: std::io::Result<u64>,
}

impl<'a, S: EventSink> FlowEnds<'a, S> {
    fn new(
        det: &'a mut Detection,
        reassembler: &'a mut Reassembler,
        app: &'a mut AppLayer,
        sink: &'a mut S,
    ) -> Self {
        FlowEnds {
            det,
            reassembler,
            app,
            sink,
            result: Ok(0),
        }
    }

    fn on_end(&mut self, parts: FlowParts<'_>, r: EndReason) {
        if let Ok(n) = self.result {
            self.result = self
                .det
                .flow_ended(self.reassembler, self.app, self.sink, parts, r)
                .map(|a| a + n);
        }
    }

    /// Alerts raised on the ended flows' last stream bytes, or the first error.
    fn finish(self) -> std::io::Result<u64> {
        self.result
    }
}

impl Worker {
    /// A worker over `rules`.
    pub fn new(rules: Arc<RuleSet>, cfg: WorkerConfig) -> Worker {
        let stream_cfg = StreamConfig {
            // Matches spanning chunks are found when they fit in the lookbehind. Every chunk
            // rescans it, so one rule cannot grow it without bound: ET Open's longest span is
            // 60,009 bytes (`isdataat:60000,relative`), and a lookbehind that long made stream
            // inspection five times slower; only 3 of its rules span more than 4 KiB.
            lookbehind: cfg.stream.lookbehind.max(
                rules
                    .max_stream_match_span()
                    .saturating_sub(1)
                    .min(MAX_RULE_LOOKBEHIND),
            ),
            ..cfg.stream
        };
        let mut app = AppLayer::new();
        // Parsers come back to their pools when flows end: room for every flow the table
        // holds, so returning one never grows a pool on the packet path.
        app.reserve(cfg.flow_capacity);
        Worker {
            flows: FlowTable::with_capacity(cfg.flow_capacity),
            reassembler: Reassembler::new(stream_cfg),
            defrag: Defragmenter::new(cfg.defrag),
            app,
            det: Detection {
                scratch: rules.scratch(),
                rules,
                pending: Vec::with_capacity(64 * 1024),
                app_records: AppRecords::with_capacity(64 * 1024),
                record: Vec::with_capacity(4 * 1024),
                cfg,
            },
            reassembled: Vec::with_capacity(64 * 1024),
            stats: WorkerStats::default(),
        }
    }

    /// Counts threshold/detection_filter state in `other`'s table, so that workers
    /// rate-limit rules together (locked only when a thresholded rule matched).
    pub fn share_thresholds_with(&mut self, other: &Worker) {
        self.det.scratch.share_thresholds(&other.det.scratch);
    }

    /// Counters so far.
    pub fn stats(&self) -> WorkerStats {
        let mut s = self.stats;
        s.flows = self.flows.counters();
        s.stream = self.reassembler.counters();
        s.defrag = self.defrag.counters();
        s.app = self.app.counters();
        s
    }

    /// Ends every flow still open (the end of a replay at packet time `now`), inspecting
    /// their remaining stream bytes and writing their records to `sink`.
    pub fn shutdown(&mut self, now: i64, sink: &mut impl EventSink) -> std::io::Result<()> {
        let mut ends = FlowEnds::new(&mut self.det, &mut self.reassembler, &mut self.app, sink);
        self.flows.drain(now, &mut |parts, r| ends.on_end(parts, r));
        self.stats.alerts += ends.finish()?;
        Ok(())
    }

    /// Runs one frame through the pipeline; events go to `sink`.
    pub fn process(
        &mut self,
        frame: &Frame<'_>,
        pcap_cnt: u64,
        sink: &mut impl EventSink,
    ) -> std::io::Result<()> {
        self.stats.packets += 1;
        self.stats.bytes += frame.data.len() as u64;
        if (frame.data.len() as u64) < u64::from(frame.wire_len) {
            self.stats.snaplen_cut += 1;
        }
        let packet = match decode(frame.link, frame.data, self.det.cfg.verify_checksums) {
            Ok(p) => p,
            Err(e) => {
                self.stats.count_decode_error(e);
                return Ok(());
            }
        };
        let len = frame.data.len() as u64;
        self.process_layer(&packet, frame, len, pcap_cnt, PktSrc::Wire, sink)
    }

    /// One packet of a frame (the outer one, a reassembled one, or one out of a tunnel):
    /// defragmented when a fragment, else inspected, then the tunnel it carries, if any.
    /// Recursion is bounded by `MAX_TUNNEL_DEPTH` (each level is one tunnel deeper).
    fn process_layer(
        &mut self,
        packet: &Decoded<'_>,
        frame: &Frame<'_>,
        len: u64,
        pcap_cnt: u64,
        pkt_src: PktSrc,
        sink: &mut impl EventSink,
    ) -> std::io::Result<()> {
        self.stats.layers.count(frame.link, packet, len);
        if packet.fragmented {
            return self.reassemble(packet, frame, pcap_cnt, sink);
        }
        if packet.has_flow() {
            self.inspect(packet, frame.ts, len, pcap_cnt, pkt_src, sink)?;
        } else {
            self.inspect_flowless(packet, frame.ts, pcap_cnt, pkt_src, sink)?;
        }
        let Some(encap) = packet.layer.encap else {
            return Ok(());
        };
        self.stats.layers.count_tunnel(&encap);
        match decapsulate(packet, encap, self.det.cfg.verify_checksums) {
            Ok(inner) => {
                let inner_len = inner.layer.len as u64;
                self.process_layer(&inner, frame, inner_len, pcap_cnt, pkt_src, sink)
            }
            Err(e) => {
                self.stats.count_tunnel_error(e);
                Ok(())
            }
        }
    }

    /// Detection for a packet that has no flow (the outer packet of a GRE or IPv6-carried
    /// tunnel, for which Suricata sets up none).
    fn inspect_flowless(
        &mut self,
        packet: &Decoded<'_>,
        ts: Timestamp,
        pcap_cnt: u64,
        pkt_src: PktSrc,
        sink: &mut impl EventSink,
    ) -> std::io::Result<()> {
        let mut vars = FlowVars::default();
        let verdict = self.det.inspect(
            packet, ts, pcap_cnt, pkt_src, None, &mut vars, None, false, None,
        );
        if verdict.passed || verdict.alerts == 0 {
            return Ok(());
        }
        self.stats.alerts += verdict.alerts;
        if self.det.cfg.log_alerts {
            emit_all(sink, "alert", &self.det.pending)?;
        }
        Ok(())
    }

    /// Feeds a fragment to the defragmenter and processes the datagram it completes.
    fn reassemble(
        &mut self,
        packet: &Decoded<'_>,
        frame: &Frame<'_>,
        pcap_cnt: u64,
        sink: &mut impl EventSink,
    ) -> std::io::Result<()> {
        let DefragOutcome::Reassembled(bytes) =
            self.defrag
                .push(packet.layer.ip_packet, packet.vlans, frame.ts)
        else {
            return Ok(());
        };
        // Copied once per datagram (not per fragment) into a buffer allocated up front (a
        // fragment inside a reassembled tunnel gets a buffer of its own).
        let mut buf = std::mem::take(&mut self.reassembled);
        buf.clear();
        buf.extend_from_slice(bytes);
        let result = match decode(LinkType::RawIp, &buf, false) {
            Ok(mut whole) => {
                whole.vlans = packet.vlans;
                whole.layer.tunnel = packet.layer.tunnel;
                whole.layer.depth = packet.layer.depth;
                whole.layer.links = packet.layer.links;
                let len = buf.len() as u64;
                self.process_layer(&whole, frame, len, pcap_cnt, PktSrc::Defrag, sink)
            }
            Err(e) => {
                self.stats.count_decode_error(e);
                Ok(())
            }
        };
        if buf.capacity() >= self.reassembled.capacity() {
            self.reassembled = buf;
        }
        result
    }

    /// Flow, stream, detection and events for one whole packet.
    fn inspect(
        &mut self,
        packet: &Decoded<'_>,
        ts: Timestamp,
        len: u64,
        pcap_cnt: u64,
        pkt_src: PktSrc,
        sink: &mut impl EventSink,
    ) -> std::io::Result<()> {
        let mut ends = FlowEnds::new(&mut self.det, &mut self.reassembler, &mut self.app, sink);
        let flow = self
            .flows
            .track(packet, ts, len, &mut |parts, r| ends.on_end(parts, r));
        self.stats.alerts += ends.finish()?;
        let (det, reassembler, app) = (&mut self.det, &mut self.reassembler, &mut self.app);

        let Some(FlowParts {
            stream,
            vars,
            app: session,
            ..
        }) = self.flows.parts_mut(flow.slot)
        else {
            return Ok(());
        };
        let app = Some(AppPart {
            layer: app,
            session,
        });
        let verdict = match packet.transport {
            Transport::Tcp(flags) => {
                let seg = TcpSegment {
                    seq: packet.tcp.seq,
                    ack: packet.tcp.ack,
                    flags,
                    tfo: flags.syn && TcpSegment::fast_open_option(packet.tcp.options),
                    window: packet.tcp.window,
                    payload: packet.payload,
                };
                let outcome = reassembler.on_segment(stream, flow.to_server, &seg);
                let refused = StreamEvents::NOT_TRACKED;
                let payload_in_stream = !packet.payload.is_empty()
                    && !outcome.events.contains(refused)
                    && !outcome.events.contains(StreamEvents::DATA_IGNORED)
                    && !outcome.events.contains(StreamEvents::RST_WITH_DATA)
                    && !outcome.events.contains(StreamEvents::SYN_DATA_IGNORED);
                det.inspect(
                    packet,
                    ts,
                    pcap_cnt,
                    pkt_src,
                    Some(flow),
                    vars,
                    Some((reassembler, stream)),
                    payload_in_stream,
                    app,
                )
            }
            _ => det.inspect(
                packet,
                ts,
                pcap_cnt,
                pkt_src,
                Some(flow),
                vars,
                None,
                false,
                app,
            ),
        };
        if !verdict.passed && verdict.alerts > 0 {
            self.stats.alerts += verdict.alerts;
            self.flows.mark_alerted(flow.slot);
            if self.det.cfg.log_alerts {
                emit_all(sink, "alert", &self.det.pending)?;
            }
        }
        self.det.app_records.emit(sink)
    }

    /// Swaps in a reloaded rule set between packets (`sensor run`'s SIGHUP). Flow variables
    /// of live flows keep their meaning when `rules` was built with
    /// `RuleSetBuilder::inherit_var_ids`; threshold state starts over in `thresholds`'s table
    /// (one table shared by every worker, as at start).
    pub fn replace_rules(&mut self, rules: Arc<RuleSet>, thresholds: &signatures::Scratch) {
        self.det.scratch = rules.scratch();
        self.det.scratch.share_thresholds(thresholds);
        self.det.rules = rules;
    }

    /// Ends the flows idle past their timeout at wall-clock time `now` (live capture, where
    /// time passes without packets), inspecting and logging them as `shutdown` does.
    pub fn expire_idle(&mut self, now: i64, sink: &mut impl EventSink) -> std::io::Result<()> {
        let mut ends = FlowEnds::new(&mut self.det, &mut self.reassembler, &mut self.app, sink);
        self.flows
            .expire(now, &mut |parts, r| ends.on_end(parts, r));
        self.stats.alerts += ends.finish()?;
        Ok(())
    }
}
