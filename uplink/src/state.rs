//! Delivery bookkeeping for QoS 1 publishes, with no I/O.
//!
//! rumqttc assigns packet ids itself and, with a clean session, forgets every
//! unacknowledged publish when the connection drops (`EventLoop::pending` is
//! cleared when CONNACK says `session_present = false`). So the uplink keeps
//! its own copy of every accepted-but-unacknowledged event here and:
//!
//! * hands events to rumqttc only while connected, in order;
//! * learns the packet id of each handed event from rumqttc's
//!   `Outgoing::Publish(pkid)` notifications, which arrive in request order
//!   (a collision, `Outgoing::AwaitAck`, holds back exactly one publish, which
//!   is the next one announced);
//! * on `PUBACK(pkid)` releases the event and counts it acked exactly once;
//! * on disconnect moves every unacknowledged event back to the send queue,
//!   so it is published again after the next CONNACK.
//!
//! Anything that does not fit this model is reported as an [`Anomaly`]; the
//! I/O layer then drops the connection, which makes the model valid again
//! (at the cost of republishing, never of losing or double counting).
//!
//! The number of events held is bounded by the window size.

use std::collections::{BTreeMap, HashMap, VecDeque};

/// One event ready to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    pub topic: String,
    pub payload: Vec<u8>,
    /// Set when the payload is a batch of several events.
    pub batch: Option<Box<BatchInfo>>,
}

/// What a batch publish carries (MQTT 5 user properties).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BatchInfo {
    /// Events in the batch.
    pub count: u64,
    /// Event id of the first and the last event.
    pub first_id: String,
    pub last_id: String,
    /// Payload is zstd-compressed.
    pub zstd: bool,
}

/// Something rumqttc reported that the bookkeeping cannot explain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Anomaly {
    /// `Outgoing::Publish`/`AwaitAck` with no event handed over.
    UnexpectedPublish(u16),
    /// The packet id is already mapped to another unacked event.
    PkidInUse(u16),
    /// PUBACK for a packet id we do not have in flight.
    UnknownAck(u16),
}

#[derive(Debug)]
struct Slot {
    event: Event,
    sends: u32,
}

/// Accepted, not yet acknowledged events and their packet ids.
#[derive(Debug)]
pub(crate) struct Outbox {
    window: usize,
    next_id: u64,
    slots: BTreeMap<u64, Slot>,
    unsent: VecDeque<u64>,
    awaiting_pkid: VecDeque<u64>,
    collided: Option<u64>,
    by_pkid: HashMap<u16, u64>,
    connected: bool,
}

impl Outbox {
    pub(crate) fn new(window: usize) -> Self {
        Outbox {
            window: window.max(1),
            next_id: 0,
            slots: BTreeMap::new(),
            unsent: VecDeque::new(),
            awaiting_pkid: VecDeque::new(),
            collided: None,
            by_pkid: HashMap::new(),
            connected: false,
        }
    }

    /// Whether another event may be admitted.
    pub(crate) fn has_room(&self) -> bool {
        self.slots.len() < self.window
    }

    /// Number of unacknowledged events held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.connected
    }

    /// Takes ownership of an accepted event; it is queued for sending.
    pub(crate) fn admit(&mut self, event: Event) {
        let id = self.next_id;
        self.admit_id(id, event);
    }

    /// Like [`Outbox::admit`] with a caller-chosen id (the spool sequence
    /// number). Ids must increase from one call to the next.
    pub(crate) fn admit_id(&mut self, id: u64, event: Event) {
        self.next_id = id + 1;
        self.slots.insert(id, Slot { event, sends: 0 });
        self.unsent.push_back(id);
    }

    /// How many more events may be admitted.
    pub(crate) fn room(&self) -> usize {
        self.window.saturating_sub(self.slots.len())
    }

    /// Smallest id not yet acknowledged.
    pub(crate) fn first_id(&self) -> Option<u64> {
        self.slots.keys().next().copied()
    }

    /// Next event to hand to the MQTT client, if connected. The boolean is
    /// true when this is a republish. Call [`Outbox::unhand`] if the hand-over
    /// failed.
    pub(crate) fn next_to_send(&mut self) -> Option<(&Event, bool)> {
        if !self.connected {
            return None;
        }
        let id = self.unsent.pop_front()?;
        let Some(slot) = self.slots.get_mut(&id) else {
            // Cannot happen: ids in `unsent` always have a slot.
            return None;
        };
        slot.sends += 1;
        self.awaiting_pkid.push_back(id);
        Some((&slot.event, slot.sends > 1))
    }

    /// Undoes the last [`Outbox::next_to_send`].
    pub(crate) fn unhand(&mut self) {
        if let Some(id) = self.awaiting_pkid.pop_back() {
            if let Some(slot) = self.slots.get_mut(&id) {
                slot.sends = slot.sends.saturating_sub(1);
            }
            self.unsent.push_front(id);
        }
    }

    /// rumqttc put a handed publish on the wire with this packet id.
    pub(crate) fn on_outgoing_publish(&mut self, pkid: u16) -> Result<(), Anomaly> {
        let id = match self.collided.take() {
            Some(id) => id,
            None => self
                .awaiting_pkid
                .pop_front()
                .ok_or(Anomaly::UnexpectedPublish(pkid))?,
        };
        if self.by_pkid.insert(pkid, id).is_some() {
            return Err(Anomaly::PkidInUse(pkid));
        }
        Ok(())
    }

    /// rumqttc holds the next handed publish back because `pkid` is in use.
    pub(crate) fn on_await_ack(&mut self, pkid: u16) -> Result<(), Anomaly> {
        if self.collided.is_some() {
            return Err(Anomaly::UnexpectedPublish(pkid));
        }
        let id = self
            .awaiting_pkid
            .pop_front()
            .ok_or(Anomaly::UnexpectedPublish(pkid))?;
        self.collided = Some(id);
        Ok(())
    }

    /// Events carried by the publish with this packet id (1 unless a batch).
    pub(crate) fn weight(&self, pkid: u16) -> u64 {
        self.by_pkid
            .get(&pkid)
            .and_then(|id| self.slots.get(id))
            .and_then(|s| s.event.batch.as_ref())
            .map_or(1, |b| b.count)
    }

    /// PUBACK received; `Ok(id)` means that event is now acknowledged.
    pub(crate) fn on_puback(&mut self, pkid: u16) -> Result<u64, Anomaly> {
        let id = self
            .by_pkid
            .remove(&pkid)
            .ok_or(Anomaly::UnknownAck(pkid))?;
        self.slots.remove(&id);
        Ok(id)
    }

    /// CONNACK received: unacknowledged events become sendable.
    pub(crate) fn on_connected(&mut self) {
        self.reset_to_unsent();
        self.connected = true;
    }

    /// Connection lost: every unacknowledged event will be sent again.
    pub(crate) fn on_disconnected(&mut self) {
        self.reset_to_unsent();
        self.connected = false;
    }

    fn reset_to_unsent(&mut self) {
        self.by_pkid.clear();
        self.awaiting_pkid.clear();
        self.collided = None;
        self.unsent = self.slots.keys().copied().collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(n: u32) -> Event {
        Event {
            topic: format!("t/{n}"),
            payload: n.to_be_bytes().to_vec(),
            batch: None,
        }
    }

    fn send_all(o: &mut Outbox) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        while let Some((e, again)) = o.next_to_send() {
            out.push((e.topic.clone(), again));
        }
        out
    }

    #[test]
    fn nothing_is_sent_while_disconnected() {
        let mut o = Outbox::new(4);
        o.admit(ev(1));
        assert!(o.next_to_send().is_none());
        o.on_connected();
        assert_eq!(send_all(&mut o), vec![("t/1".to_string(), false)]);
    }

    #[test]
    fn acks_by_pkid_in_any_order() {
        let mut o = Outbox::new(8);
        o.on_connected();
        for n in 0..3 {
            o.admit(ev(n));
        }
        assert_eq!(send_all(&mut o).len(), 3);
        for pkid in 1..=3 {
            o.on_outgoing_publish(pkid).unwrap();
        }
        o.on_puback(2).unwrap();
        o.on_puback(3).unwrap();
        assert_eq!(o.on_puback(3), Err(Anomaly::UnknownAck(3)));
        assert_eq!(o.len(), 1);
        o.on_puback(1).unwrap();
        assert!(o.is_empty());
    }

    #[test]
    fn window_bounds_admission() {
        let mut o = Outbox::new(2);
        o.admit(ev(1));
        assert!(o.has_room());
        o.admit(ev(2));
        assert!(!o.has_room());
    }

    #[test]
    fn disconnect_resends_unacked_in_order_and_counts_once() {
        let mut o = Outbox::new(8);
        o.on_connected();
        for n in 0..4 {
            o.admit(ev(n));
        }
        send_all(&mut o);
        o.on_outgoing_publish(1).unwrap();
        o.on_outgoing_publish(2).unwrap();
        // events 2 and 3 were handed but never announced when the link dropped
        o.on_puback(1).unwrap();
        o.on_disconnected();
        assert!(o.next_to_send().is_none());
        o.admit(ev(9));
        o.on_connected();
        let sent = send_all(&mut o);
        assert_eq!(
            sent,
            vec![
                ("t/1".to_string(), true),
                ("t/2".to_string(), true),
                ("t/3".to_string(), true),
                ("t/9".to_string(), false)
            ]
        );
        // rumqttc may reuse packet id 1 and 2 in the new session
        for pkid in [2, 3, 4, 5] {
            o.on_outgoing_publish(pkid).unwrap();
        }
        // a stale ack for the old pkid 1 is unknown now
        assert_eq!(o.on_puback(1), Err(Anomaly::UnknownAck(1)));
        for pkid in [2, 3, 4, 5] {
            o.on_puback(pkid).unwrap();
        }
        assert!(o.is_empty());
    }

    #[test]
    fn collision_holds_one_publish_back() {
        let mut o = Outbox::new(8);
        o.on_connected();
        o.admit(ev(1));
        o.admit(ev(2));
        send_all(&mut o);
        o.on_outgoing_publish(1).unwrap();
        o.on_await_ack(1).unwrap(); // ev 2 collided on pkid 1
        o.on_puback(1).unwrap(); // ev 1 acked
        o.on_outgoing_publish(1).unwrap(); // rumqttc now sends ev 2 with pkid 1
        o.on_puback(1).unwrap();
        assert!(o.is_empty());
    }

    #[test]
    fn anomalies() {
        let mut o = Outbox::new(8);
        o.on_connected();
        assert_eq!(o.on_outgoing_publish(7), Err(Anomaly::UnexpectedPublish(7)));
        assert_eq!(o.on_await_ack(7), Err(Anomaly::UnexpectedPublish(7)));
        o.admit(ev(1));
        o.admit(ev(2));
        send_all(&mut o);
        o.on_outgoing_publish(3).unwrap();
        assert_eq!(o.on_outgoing_publish(3), Err(Anomaly::PkidInUse(3)));
    }

    #[test]
    fn caller_ids_are_returned_on_ack() {
        let mut o = Outbox::new(4);
        o.on_connected();
        o.admit_id(10, ev(1));
        o.admit_id(15, ev(2));
        assert_eq!(o.room(), 2);
        send_all(&mut o);
        o.on_outgoing_publish(1).unwrap();
        o.on_outgoing_publish(2).unwrap();
        assert_eq!(o.on_puback(2), Ok(15));
        assert_eq!(o.first_id(), Some(10));
        assert_eq!(o.on_puback(1), Ok(10));
        assert_eq!(o.first_id(), None);
    }

    #[test]
    fn unhand_restores_order() {
        let mut o = Outbox::new(8);
        o.on_connected();
        o.admit(ev(1));
        o.admit(ev(2));
        assert!(o.next_to_send().is_some());
        o.unhand();
        assert_eq!(
            send_all(&mut o),
            vec![("t/1".to_string(), false), ("t/2".to_string(), false)]
        );
    }
}
