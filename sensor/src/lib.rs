//! The sensor: capture -> decode -> flow -> detect -> event -> uplink.
//!
//! Each stage is a folder of its own and data flows one way through them; `runtime` is the
//! only place that wires the stages together, and `cli` the only place that knows about
//! command-line arguments. Detection lives in the `signatures` crate and delivery in the
//! `uplink` crate; neither knows anything about this one.

pub mod app;
pub mod capture;
pub mod cli;
pub mod config;
pub mod decode;
pub mod defrag;
pub mod event;
pub mod flow;
pub mod runtime;
pub mod stream;
pub mod sys;
