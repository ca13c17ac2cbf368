//! Helpers shared by the spooled-uplink integration tests: a plaintext destination that
//! reconnects quickly, and a config with a roomy spool.

use std::path::Path;
use std::time::Duration;

use uplink::{DestinationConfig, UplinkConfig};

/// A plaintext destination (the test brokers listen on loopback) with short backoffs.
pub fn dest(name: &str, url: &str, sensor: &str) -> DestinationConfig {
    let mut d = DestinationConfig::new(name, url, sensor);
    d.allow_plaintext = true;
    d.reconnect_backoff_max = Duration::from_millis(300);
    d.connect_timeout = Duration::from_secs(1);
    d
}

/// A config spooling to `dir` (64 MiB) for `dests`.
pub fn config(sensor: &str, dir: &Path, dests: Vec<DestinationConfig>) -> UplinkConfig {
    let mut c = UplinkConfig::new(sensor, dir);
    c.destinations = dests;
    c.spool = uplink::SpoolOptions::with_max_bytes(64 << 20);
    c
}
