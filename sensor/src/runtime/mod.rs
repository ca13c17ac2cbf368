//! Runtime: wires the stages together and runs them on threads.
//!
//! `worker` is the per-packet pipeline (decode, flow, detect, event) and owns all its state;
//! `replay` feeds it from capture files, directly or through `dispatch`'s worker threads; `output` delivers serialised events to the EVE file
//! and the uplink; `rules` loads and reports rule files; `daemon` is `sensor run` on live
//! interfaces.

pub mod daemon;
pub mod dispatch;
pub mod output;
pub mod replay;
pub mod rules;
pub mod stats;
pub mod worker;
