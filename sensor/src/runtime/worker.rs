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
use crate::event::{write_alert, AlertContext};
use crate::flow::FlowTable;

/// Flows one worker tracks before it refuses new ones (until issue-sized memcaps arrive).
pub const DEFAULT_FLOW_CAPACITY: usize = 65_536;

/// One worker's state.
#[derive(Debug)]
pub struct Worker {
    rules: Arc<RuleSet>,
    scratch: Scratch,
    flows: FlowTable,
    verify_checksums: bool,
    sensor_id: Arc<str>,
    /// Alert records of the current packet, newline-terminated, held until detection is done
    /// so that a matching `pass` rule can discard them.
    pending: Vec<u8>,
    stats: WorkerStats,
}

impl Worker {
    /// A worker over `rules`.
    pub fn new(rules: Arc<RuleSet>, sensor_id: Arc<str>, verify_checksums: bool) -> Worker {
        Worker {
            scratch: rules.scratch(),
            rules,
            flows: FlowTable::with_capacity(DEFAULT_FLOW_CAPACITY),
            verify_checksums,
            sensor_id,
            pending: Vec::with_capacity(64 * 1024),
            stats: WorkerStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> WorkerStats {
        let mut s = self.stats;
        s.flows = self.flows.counters();
        s
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
        let packet = match decode(frame.link, frame.data, self.verify_checksums) {
            Ok(p) => p,
            Err(e) => {
                self.stats.count_decode_error(e);
                return Ok(());
            }
        };
        let flow = self.flows.track(&packet, frame.ts);
        let input = DetectInput {
            src_ip: packet.src_ip,
            dst_ip: packet.dst_ip,
            src_port: packet.src_port,
            dst_port: packet.dst_port,
            ip_proto: packet.ip_proto,
            payload: packet.payload,
            flow: flow.map_or(FlowState::default(), |f| FlowState {
                to_server: f.to_server,
                established: f.established,
                tracked: true,
            }),
        };
        let ctx = AlertContext {
            ts: frame.ts,
            pcap_cnt,
            packet: &packet,
            flow,
            sensor_id: &self.sensor_id,
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
                // Suricata's action order puts pass first: it silences the packet's alerts.
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
        if passed {
            return Ok(());
        }
        self.stats.alerts += alerts;
        for record in self.pending.split_inclusive(|b| *b == b'\n') {
            sink.emit("alert", record)?;
        }
        Ok(())
    }
}
