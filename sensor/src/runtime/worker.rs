//! The per-packet pipeline of one worker: decode -> flow -> detect -> event.
//!
//! A worker owns its flow table, its detection scratch and its event buffers, so nothing on
//! this path is shared or locked; buffers are allocated once and reused for every packet.

use std::sync::Arc;

use signatures::{Action, DetectInput, FlowState, RuleSet, Scratch};

use super::output::EventSink;
use super::stats::WorkerStats;
use crate::capture::Frame;
use crate::decode::decode;
use crate::event::{write_alert, write_flow, AlertContext};
use crate::flow::{EndReason, Flow, FlowTable};

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
}

/// One worker's state.
#[derive(Debug)]
pub struct Worker {
    rules: Arc<RuleSet>,
    scratch: Scratch,
    flows: FlowTable,
    cfg: WorkerConfig,
    /// Alert records of the current packet, newline-terminated, held until detection is done
    /// so that a matching `pass` rule can discard them.
    pending: Vec<u8>,
    /// One flow record at a time, reused.
    ended: Vec<u8>,
    stats: WorkerStats,
}

/// Serialises an ended flow (when flows are logged) and hands it to the sink at once, so a
/// burst of ended flows (a timeout sweep) never needs more than one record's buffer.
fn log_flow(
    buf: &mut Vec<u8>,
    cfg: &WorkerConfig,
    sink: &mut impl EventSink,
    flow: &Flow,
    reason: EndReason,
) -> std::io::Result<()> {
    if !cfg.log_flows {
        return Ok(());
    }
    buf.clear();
    write_flow(buf, flow, reason, &cfg.sensor_id)?;
    buf.push(b'\n');
    sink.emit("flow", buf)
}

/// Hands newline-terminated records to the sink one by one.
fn emit_all(sink: &mut impl EventSink, kind: &'static str, records: &[u8]) -> std::io::Result<()> {
    for record in records.split_inclusive(|b| *b == b'\n') {
        sink.emit(kind, record)?;
    }
    Ok(())
}

impl Worker {
    /// A worker over `rules`.
    pub fn new(rules: Arc<RuleSet>, cfg: WorkerConfig) -> Worker {
        Worker {
            scratch: rules.scratch(),
            rules,
            flows: FlowTable::with_capacity(cfg.flow_capacity),
            cfg,
            pending: Vec::with_capacity(64 * 1024),
            ended: Vec::with_capacity(4 * 1024),
            stats: WorkerStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> WorkerStats {
        let mut s = self.stats;
        s.flows = self.flows.counters();
        s
    }

    /// Ends every flow still open (the end of a replay at packet time `now`), writing their
    /// records to `sink`.
    pub fn shutdown(&mut self, now: i64, sink: &mut impl EventSink) -> std::io::Result<()> {
        let (buf, cfg) = (&mut self.ended, &self.cfg);
        let mut result = Ok(());
        self.flows.drain(now, &mut |f, r| {
            if result.is_ok() {
                result = log_flow(buf, cfg, sink, f, r);
            }
        });
        result
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
        let packet = match decode(frame.link, frame.data, self.cfg.verify_checksums) {
            Ok(p) => p,
            Err(e) => {
                self.stats.count_decode_error(e);
                return Ok(());
            }
        };
        self.stats
            .layers
            .count(frame.link, &packet, frame.data.len() as u64);
        let (buf, cfg) = (&mut self.ended, &self.cfg);
        let mut ended = Ok(());
        let flow = self
            .flows
            .track(&packet, frame.ts, frame.data.len() as u64, &mut |f, r| {
                if ended.is_ok() {
                    ended = log_flow(buf, cfg, sink, f, r);
                }
            });
        ended?;

        let input = DetectInput {
            src_ip: packet.src_ip,
            dst_ip: packet.dst_ip,
            src_port: packet.src_port,
            dst_port: packet.dst_port,
            ip_proto: packet.ip_proto,
            payload: packet.payload,
            flow: FlowState {
                to_server: flow.to_server,
                established: flow.established,
                tracked: true,
            },
        };
        let ctx = AlertContext {
            ts: frame.ts,
            pcap_cnt,
            packet: &packet,
            flow: Some(flow),
            sensor_id: &self.cfg.sensor_id,
        };
        self.pending.clear();
        let mut passed = false;
        let mut alerts = 0u64;
        let mut write_err = None;
        let pending = &mut self.pending;
        self.rules.detect(&input, &mut self.scratch, |rule| {
            if passed {
                return;
            }
            if rule.action == Action::Pass {
                // Suricata's action order puts pass first: it silences the packet's alerts,
                // including those of rules that matched before it in load order.
                passed = true;
                return;
            }
            match write_alert(pending, &ctx, rule) {
                Ok(()) => {
                    pending.push(b'\n');
                    alerts += 1;
                }
                Err(e) => write_err = Some(e),
            }
        });
        if let Some(e) = write_err {
            return Err(e);
        }
        if passed || alerts == 0 {
            return Ok(());
        }
        self.stats.alerts += alerts;
        self.flows.mark_alerted(flow.slot);
        if self.cfg.log_alerts {
            emit_all(sink, "alert", &self.pending)?;
        }
        Ok(())
    }
}
