//! Flow: per-connection state keyed by a symmetric 5-tuple plus VLAN ids.
//!
//! The table ([`FlowTable`]) has a fixed capacity allocated up front: a slab of flow slots, a
//! hash index from key to slot, and an intrusive least-recently-used list through the slots.
//! Looking up, touching and evicting are O(1); a full table first expires idle flows, then
//! evicts the least recently seen one and counts it, so memory never grows with traffic.
//!
//! A flow knows which side is the client (so `flow:to_server` works), whether it is
//! established (three-way handshake for TCP, both directions seen for the rest, as Suricata
//! decides it), and what it carried each way, for the EVE `flow` record written when it ends:
//! on timeout (Suricata's per-protocol, per-state defaults), eviction, or at shutdown.

mod key;
mod state;
mod table;

pub use key::FlowKey;
pub use state::{EndReason, Flow, FlowState, TcpProgress};
pub use table::{FlowCounters, FlowParts, FlowTable, FlowView};
