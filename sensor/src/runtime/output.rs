//! Where serialised events go: the EVE file (or standard output) and the uplink.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Duration;

/// Receives serialised events; `record` is one JSON object followed by `\n`.
pub trait EventSink {
    /// Delivers one record of the given EVE event type.
    fn emit(&mut self, event_type: &'static str, record: &[u8]) -> std::io::Result<()>;
}

/// The EVE writer plus, when configured, the MQTT uplink.
pub struct EveOutput {
    writer: BufWriter<Box<dyn Write + Send>>,
    uplink: Option<uplink::EventSender>,
    /// How long one event may wait for room in the uplink before the broker counts as gone.
    uplink_wait: Duration,
    /// Set once an event timed out: from then on events are offered without waiting, so an
    /// absent broker costs one timeout, not one per event.
    uplink_stalled: bool,
    offered: u64,
}

impl std::fmt::Debug for EveOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EveOutput")
            .field("uplink", &self.uplink.is_some())
            .field("offered", &self.offered)
            .field("uplink_stalled", &self.uplink_stalled)
            .finish()
    }
}

impl EveOutput {
    /// Writes to `path`, or standard output when `None`.
    pub fn open(
        path: Option<&Path>,
        uplink: Option<uplink::EventSender>,
        uplink_wait: Duration,
    ) -> std::io::Result<Self> {
        let w: Box<dyn Write + Send> = match path {
            Some(p) => Box::new(File::create(p).map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot create {}: {e}", p.display()))
            })?),
            None => Box::new(std::io::stdout()),
        };
        Ok(EveOutput {
            writer: BufWriter::with_capacity(256 * 1024, w),
            uplink,
            uplink_wait,
            uplink_stalled: false,
            offered: 0,
        })
    }

    /// Events offered to the uplink; every one must be acknowledged or is reported missing.
    pub fn offered_to_uplink(&self) -> u64 {
        self.offered
    }

    /// Flushes the EVE file.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.writer.flush()
    }
}

impl EventSink for EveOutput {
    fn emit(&mut self, event_type: &'static str, record: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(record)?;
        if let Some(up) = &self.uplink {
            let body = record.strip_suffix(b"\n").unwrap_or(record);
            self.offered += 1;
            if self.uplink_stalled {
                // Refused events are counted by the uplink and missing from its acks.
                let _ = up.try_send(event_type, body.to_vec());
            } else if up
                .send_timeout(event_type, body.to_vec(), self.uplink_wait)
                .is_err()
            {
                // Replay applies backpressure rather than dropping (a file can wait, a wire
                // cannot), but not forever: a broker that never answers must not hang us.
                self.uplink_stalled = true;
            }
        }
        Ok(())
    }
}
