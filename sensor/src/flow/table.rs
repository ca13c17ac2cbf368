//! The bounded flow table: slab + hash index + LRU list, all allocated at construction.

use std::collections::HashMap;

use signatures::FlowVars;

use super::key::FlowKey;
use super::state::{EndReason, Flow};
use crate::app::AppSession;
use crate::capture::Timestamp;
use crate::decode::Decoded;
use crate::stream::TcpStream;

/// Called for every flow that ends, with its reassembly, app-layer and variable state, so
/// the caller can flush and inspect the stream's last bytes and return pooled memory before
/// the slot is reused.
pub type OnEnd<'c> = dyn FnMut(FlowParts<'_>, EndReason) + 'c;

/// A flow with the per-flow state the later stages keep in its slot.
#[derive(Debug)]
pub struct FlowParts<'a> {
    /// The flow.
    pub flow: &'a mut Flow,
    /// TCP reassembly state (empty for other protocols).
    pub stream: &'a mut TcpStream,
    /// Flowbits and flowints.
    pub vars: &'a mut FlowVars,
    /// App-layer protocol and parser.
    pub app: &'a mut AppSession,
}

/// Seconds of packet time between timeout sweeps.
const SWEEP_INTERVAL_SECS: i64 = 1;
/// No slot.
const NIL: u32 = u32::MAX;

/// What one packet learns about its flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowView {
    /// Stable id shared by every event of the flow (EVE `flow_id`).
    pub id: u64,
    /// The packet goes from the client to the server.
    pub to_server: bool,
    /// Handshake done (TCP) or both directions seen (others), including this packet.
    pub established: bool,
    /// Where the flow lives, for [`FlowTable::mark_alerted`].
    pub slot: u32,
}

/// Counters the summary and stats report.
#[derive(Debug, Clone, Copy, Default)]
pub struct FlowCounters {
    /// Flows created.
    pub created: u64,
    /// Flows ended by idle timeout.
    pub timed_out: u64,
    /// Flows evicted to make room (table full).
    pub evicted: u64,
    /// Flows still open at shutdown.
    pub shutdown: u64,
    /// Most flows held at once.
    pub peak: u64,
}

impl FlowCounters {
    /// Adds another table's counters (peak adds too: tables are per worker).
    pub fn merge(&mut self, o: &FlowCounters) {
        self.created += o.created;
        self.timed_out += o.timed_out;
        self.evicted += o.evicted;
        self.shutdown += o.shutdown;
        self.peak += o.peak;
    }
}

#[derive(Debug)]
struct Slot {
    key: FlowKey,
    flow: Flow,
    /// TCP reassembly state; holds pool handles, so it is never cloned, only released.
    stream: TcpStream,
    /// Flowbits and flowints.
    vars: FlowVars,
    /// App-layer protocol and parser; its parser goes back to the pool in `on_end`.
    app: AppSession,
    /// Towards the most recently used end.
    newer: u32,
    /// Towards the least recently used end.
    older: u32,
}

/// The flow table of one worker.
#[derive(Debug)]
pub struct FlowTable {
    /// foldhash with a per-process random seed: SipHash was 12% of per-packet time in a
    /// callgrind profile, and a random seed still keeps crafted keys from being aimed at one
    /// bucket chain across sensors.
    index: HashMap<FlowKey, u32, foldhash::fast::RandomState>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Most recently used.
    newest: u32,
    /// Least recently used: the next to evict.
    oldest: u32,
    capacity: usize,
    next_sweep: i64,
    counters: FlowCounters,
}

impl Slot {
    fn parts(&mut self) -> FlowParts<'_> {
        FlowParts {
            flow: &mut self.flow,
            stream: &mut self.stream,
            vars: &mut self.vars,
            app: &mut self.app,
        }
    }
}

impl FlowTable {
    /// A table that holds at most `capacity` flows (at least 1), allocated now.
    pub fn with_capacity(capacity: usize) -> FlowTable {
        let capacity = capacity.clamp(1, NIL as usize - 1);
        FlowTable {
            index: HashMap::with_capacity_and_hasher(capacity, Default::default()),
            slots: Vec::with_capacity(capacity),
            free: Vec::with_capacity(capacity),
            newest: NIL,
            oldest: NIL,
            capacity,
            next_sweep: i64::MIN,
            counters: FlowCounters::default(),
        }
    }

    /// Counters so far.
    pub fn counters(&self) -> FlowCounters {
        self.counters
    }

    /// Flows currently held.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True when no flow is held.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Updates the packet's flow; flows that end meanwhile (timeouts, eviction) are passed
    /// to `on_end` before it returns.
    pub fn track(
        &mut self,
        p: &Decoded<'_>,
        ts: Timestamp,
        frame_len: u64,
        on_end: &mut OnEnd<'_>,
    ) -> FlowView {
        let now = ts.secs;
        if now >= self.next_sweep {
            self.expire(now, on_end);
            self.next_sweep = now.saturating_add(SWEEP_INTERVAL_SECS);
        }
        let key = FlowKey::of(p);
        let mut slot = self.index.get(&key).copied();
        // A flow idle past its timeout is over even if no sweep has removed it yet: which
        // packets trigger sweeps depends on how flows are spread over workers, and the
        // result must not.
        if let Some(s) = slot {
            if self.slot(s).is_some_and(|sl| sl.flow.expired(now)) {
                self.end(s, EndReason::Timeout, on_end);
                slot = None;
            }
        }
        let s = match slot {
            Some(s) => s,
            None => self.insert(key, Flow::new(key.flow_id(ts), p, ts), on_end),
        };
        self.touch(s);
        match self.slots.get_mut(s as usize) {
            Some(sl) => {
                let to_server = sl.flow.update(p, ts, frame_len);
                FlowView {
                    id: sl.flow.id,
                    to_server,
                    established: sl.flow.established,
                    slot: s,
                }
            }
            // Unreachable: `s` was just inserted or found; answer as a flowless packet would.
            None => FlowView {
                id: 0,
                to_server: true,
                established: false,
                slot: NIL,
            },
        }
    }

    /// The flow in `slot` with its per-flow state, for the packet being processed.
    pub fn parts_mut(&mut self, slot: u32) -> Option<FlowParts<'_>> {
        self.slots.get_mut(slot as usize).map(Slot::parts)
    }

    /// Records that the flow in `slot` raised an alert.
    pub fn mark_alerted(&mut self, slot: u32) {
        if let Some(sl) = self.slots.get_mut(slot as usize) {
            sl.flow.alerted = true;
        }
    }

    /// Ends every flow idle past its timeout at `now`.
    pub fn expire(&mut self, now: i64, on_end: &mut OnEnd<'_>) {
        // Walk from the least recently used end: flows there are the idlest. Timeouts differ
        // per state, so keep going past a live flow, but stop at flows seen within the
        // shortest timeout (0 s for closed non-TCP flows only applies to flows seen before
        // `now`), which bounds the walk by the flows that are actually old.
        let mut s = self.oldest;
        while s != NIL {
            let Some(sl) = self.slot(s) else { break };
            if sl.flow.last.secs >= now {
                break;
            }
            let newer = sl.newer;
            if sl.flow.expired(now) {
                self.end(s, EndReason::Timeout, on_end);
            }
            s = newer;
        }
    }

    /// Ends every flow: those idle past their timeout at `now` as timeouts, the rest as
    /// shutdown (the end of a replay).
    pub fn drain(&mut self, now: i64, on_end: &mut OnEnd<'_>) {
        while self.oldest != NIL {
            let s = self.oldest;
            let reason = match self.slot(s) {
                Some(sl) if sl.flow.expired(now) => EndReason::Timeout,
                Some(_) => EndReason::Shutdown,
                None => break,
            };
            self.end(s, reason, on_end);
        }
    }

    fn slot(&self, s: u32) -> Option<&Slot> {
        self.slots.get(s as usize)
    }

    fn insert(&mut self, key: FlowKey, flow: Flow, on_end: &mut OnEnd<'_>) -> u32 {
        if self.index.len() >= self.capacity {
            let victim = self.oldest;
            self.end(victim, EndReason::Forced, on_end);
        }
        self.counters.created += 1;
        let s = match self.free.pop() {
            Some(s) => {
                if let Some(sl) = self.slots.get_mut(s as usize) {
                    sl.key = key;
                    sl.flow = flow;
                    // `end` handed the old stream to `on_end`, which released it.
                    sl.stream = TcpStream::default();
                    sl.vars = FlowVars::default();
                    sl.app = AppSession::default();
                    sl.newer = NIL;
                    sl.older = NIL;
                }
                s
            }
            None => {
                let s = self.slots.len() as u32;
                self.slots.push(Slot {
                    key,
                    flow,
                    stream: TcpStream::default(),
                    vars: FlowVars::default(),
                    app: AppSession::default(),
                    newer: NIL,
                    older: NIL,
                });
                s
            }
        };
        self.index.insert(key, s);
        self.link_newest(s);
        self.counters.peak = self.counters.peak.max(self.index.len() as u64);
        s
    }

    fn end(&mut self, s: u32, reason: EndReason, on_end: &mut OnEnd<'_>) {
        let Some(sl) = self.slots.get_mut(s as usize) else {
            return;
        };
        on_end(sl.parts(), reason);
        let key = sl.key;
        match reason {
            EndReason::Timeout => self.counters.timed_out += 1,
            EndReason::Forced => self.counters.evicted += 1,
            EndReason::Shutdown => self.counters.shutdown += 1,
        }
        self.unlink(s);
        self.index.remove(&key);
        self.free.push(s);
    }

    fn touch(&mut self, s: u32) {
        if self.newest != s {
            self.unlink(s);
            self.link_newest(s);
        }
    }

    fn link_newest(&mut self, s: u32) {
        let old_newest = self.newest;
        if let Some(sl) = self.slots.get_mut(s as usize) {
            sl.older = old_newest;
            sl.newer = NIL;
        }
        if let Some(n) = self.slots.get_mut(old_newest as usize) {
            n.newer = s;
        }
        self.newest = s;
        if self.oldest == NIL {
            self.oldest = s;
        }
    }

    fn unlink(&mut self, s: u32) {
        let Some(sl) = self.slots.get(s as usize) else {
            return;
        };
        let (newer, older) = (sl.newer, sl.older);
        match self.slots.get_mut(newer as usize) {
            Some(n) => n.older = older,
            None => self.newest = older,
        }
        match self.slots.get_mut(older as usize) {
            Some(o) => o.newer = newer,
            None => self.oldest = newer,
        }
        if let Some(sl) = self.slots.get_mut(s as usize) {
            sl.newer = NIL;
            sl.older = NIL;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{decode, LinkType};
    use etherparse::PacketBuilder;

    const C: [u8; 4] = [10, 0, 0, 1];
    const S: [u8; 4] = [192, 0, 2, 1];

    fn tcp(from_client: bool, syn: bool, ack: bool, fin: bool) -> Vec<u8> {
        let (s, d, sp, dp) = if from_client {
            (C, S, 40000, 80)
        } else {
            (S, C, 80, 40000)
        };
        let mut b = PacketBuilder::ipv4(s, d, 64).tcp(sp, dp, 1, 1000);
        if syn {
            b = b.syn();
        }
        if ack {
            b = b.ack(1);
        }
        if fin {
            b = b.fin();
        }
        let mut out = Vec::new();
        b.write(&mut out, &[]).unwrap();
        out
    }

    fn udp(sport: u16) -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ipv4(C, S, 64)
            .udp(sport, 53)
            .write(&mut out, b"x")
            .unwrap();
        out
    }

    struct Ended(Vec<(u64, EndReason, [u64; 2])>);

    impl Ended {
        fn cb(&mut self) -> impl FnMut(FlowParts<'_>, EndReason) + '_ {
            |p: FlowParts<'_>, r| self.0.push((p.flow.id, r, p.flow.pkts))
        }
    }

    fn step(t: &mut FlowTable, frame: &[u8], secs: i64, ended: &mut Ended) -> FlowView {
        let d = decode(LinkType::RawIp, frame, false).unwrap();
        t.track(
            &d,
            Timestamp { secs, usecs: 0 },
            frame.len() as u64,
            &mut ended.cb(),
        )
    }

    #[test]
    fn handshake_establishes_on_third_packet_and_fins_close() {
        let mut t = FlowTable::with_capacity(4);
        let mut e = Ended(Vec::new());
        let a = step(&mut t, &tcp(true, true, false, false), 0, &mut e);
        let b = step(&mut t, &tcp(false, true, true, false), 0, &mut e);
        let c = step(&mut t, &tcp(true, false, true, false), 0, &mut e);
        assert!(a.to_server && !a.established);
        assert!(!b.to_server && !b.established);
        assert!(c.to_server && c.established);
        assert_eq!(a.id, c.id);
        step(&mut t, &tcp(true, false, true, true), 1, &mut e);
        step(&mut t, &tcp(false, false, true, true), 1, &mut e);
        t.drain(1, &mut e.cb());
        assert_eq!(e.0, vec![(a.id, EndReason::Shutdown, [3, 2])]);
        assert_eq!(t.counters().created, 1);
        assert_eq!(t.counters().shutdown, 1);
        assert!(t.is_empty());
    }

    #[test]
    fn synack_first_makes_its_sender_the_server() {
        let mut t = FlowTable::with_capacity(4);
        let v = step(
            &mut t,
            &tcp(false, true, true, false),
            0,
            &mut Ended(Vec::new()),
        );
        assert!(!v.to_server);
    }

    #[test]
    fn full_table_evicts_the_least_recently_seen_flow() {
        let mut t = FlowTable::with_capacity(2);
        let mut e = Ended(Vec::new());
        let a = step(&mut t, &udp(1), 0, &mut e);
        let b = step(&mut t, &udp(2), 0, &mut e);
        step(&mut t, &udp(1), 0, &mut e); // a is now the most recent
        let c = step(&mut t, &udp(3), 0, &mut e);
        assert_eq!(e.0, vec![(b.id, EndReason::Forced, [1, 0])]);
        assert_eq!(t.len(), 2);
        assert_eq!(t.counters().evicted, 1);
        t.drain(0, &mut e.cb());
        let ids: Vec<u64> = e.0.iter().map(|x| x.0).collect();
        assert_eq!(ids, vec![b.id, a.id, c.id]);
    }

    #[test]
    fn idle_flows_time_out_by_state_and_protocol() {
        let mut t = FlowTable::with_capacity(8);
        let mut e = Ended(Vec::new());
        let u = step(&mut t, &udp(1), 0, &mut e);
        let s = step(&mut t, &tcp(true, true, false, false), 0, &mut e);
        step(&mut t, &udp(9), 31, &mut e); // UDP new: 30 s; TCP new: 60 s
        assert_eq!(e.0, vec![(u.id, EndReason::Timeout, [1, 0])]);
        step(&mut t, &udp(9), 61, &mut e);
        assert_eq!(e.0.len(), 2);
        assert_eq!(e.0[1].0, s.id);
        assert_eq!(t.counters().timed_out, 2);
    }

    #[test]
    fn idle_flow_is_new_on_its_next_packet_without_waiting_for_a_sweep() {
        let mut t = FlowTable::with_capacity(4);
        let mut e = Ended(Vec::new());
        let a = step(&mut t, &tcp(true, true, false, false), 0, &mut e);
        t.next_sweep = i64::MAX;
        let b = step(&mut t, &tcp(true, true, false, false), 61, &mut e);
        assert_ne!(a.id, b.id);
        assert_eq!(t.counters().created, 2);
        assert_eq!(t.counters().timed_out, 1);
    }

    /// Slots are reused: churning many flows through a small table never grows it.
    #[test]
    fn churn_reuses_slots() {
        let mut t = FlowTable::with_capacity(16);
        let mut e = Ended(Vec::new());
        for i in 0..10_000u16 {
            step(&mut t, &udp(i), i64::from(i / 100), &mut e);
        }
        assert!(t.slots.len() <= 16);
        assert_eq!(t.len(), 16);
        assert_eq!(t.counters().created, 10_000);
        assert_eq!(t.counters().evicted + t.counters().timed_out, 10_000 - 16);
    }
}
