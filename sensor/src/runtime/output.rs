//! Where serialised events go: the EVE file (or standard output) and the uplink.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Receives serialised events; `record` is one JSON object followed by `\n`.
pub trait EventSink {
    /// Delivers one record of the given EVE event type.
    fn emit(&mut self, event_type: &'static str, record: &[u8]) -> std::io::Result<()>;
}

/// The EVE writer plus, when configured, the MQTT uplink.
pub struct EveOutput {
    writer: BufWriter<Box<dyn Write + Send>>,
    uplink: Option<uplink::EventSender>,
    uplink_refused: u64,
}

impl std::fmt::Debug for EveOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EveOutput")
            .field("uplink", &self.uplink.is_some())
            .field("uplink_refused", &self.uplink_refused)
            .finish()
    }
}

impl EveOutput {
    /// Writes to `path`, or standard output when `None`.
    pub fn open(path: Option<&Path>, uplink: Option<uplink::EventSender>) -> std::io::Result<Self> {
        let w: Box<dyn Write + Send> = match path {
            Some(p) => Box::new(File::create(p).map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot create {}: {e}", p.display()))
            })?),
            None => Box::new(std::io::stdout()),
        };
        Ok(EveOutput {
            writer: BufWriter::with_capacity(256 * 1024, w),
            uplink,
            uplink_refused: 0,
        })
    }

    /// Events the uplink refused (its thread is gone); they are still in the EVE file.
    pub fn uplink_refused(&self) -> u64 {
        self.uplink_refused
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
            // Replay applies backpressure instead of dropping: a file can wait, a wire cannot.
            if up.send(event_type, body.to_vec()).is_err() {
                self.uplink_refused += 1;
            }
        }
        Ok(())
    }
}
