//! The collector side: subscribe to a broker and read events back, with
//! batches ([`crate::DestinationConfig::batch`]) expanded into single
//! events. Used by `sensor tail` and by tests; a CIRT's own collector may
//! use it too, or the `mosquitto_sub ... | zstd -dcq` one-liner documented
//! in [`crate::engine`].
//!
//! A message is a batch when its MQTT 5 content type is
//! [`crate::engine::BATCH_CONTENT_TYPE`] or its payload starts with the zstd
//! frame magic (so batches are recognised over MQTT 3.1.1 and bridges that
//! drop properties too); a JSON payload never starts with that byte.
//! Decompression is bounded ([`MAX_EXPANDED`]) and never panics on hostile
//! input: a bad batch is an [`ExpandError`].

use std::io::Read;
use std::time::Duration;

use crate::config::parse_url;
use crate::destination::TlsConfig;
use crate::error::UplinkError;

/// First four bytes of a zstd frame.
pub const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Largest decompressed batch accepted.
pub const MAX_EXPANDED: usize = 64 << 20;

/// Why a batch could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    /// The zstd data is corrupt or truncated.
    #[error("corrupt zstd batch: {0}")]
    Zstd(String),
    /// It would expand beyond [`MAX_EXPANDED`].
    #[error("batch expands beyond {MAX_EXPANDED} bytes")]
    TooLarge,
}

/// One message as received.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// Topic.
    pub topic: String,
    /// Payload as received.
    pub payload: Vec<u8>,
    /// MQTT 5 content type, if any.
    pub content_type: Option<String>,
    /// MQTT 5 user properties.
    pub user_properties: Vec<(String, String)>,
    /// Retained message.
    pub retained: bool,
}

impl Message {
    /// True if the payload is a batch of JSON lines (compressed or not):
    /// by content type, zstd magic, or the `.../batch` topic (MQTT 3.1.1
    /// batches without compression carry no other sign).
    pub fn is_batch(&self) -> bool {
        self.payload.starts_with(&ZSTD_MAGIC)
            || self.content_type.as_deref() == Some(crate::engine::BATCH_CONTENT_TYPE)
            || self
                .topic
                .rsplit('/')
                .next()
                .is_some_and(|l| l == crate::engine::BATCH_LEVEL)
    }

    /// The events it carries: the payload itself, or each line of a batch.
    pub fn events(&self) -> Result<Vec<Vec<u8>>, ExpandError> {
        expand(&self.payload, self.is_batch())
    }
}

/// Splits a batch (zstd-compressed if it starts with the zstd magic) into
/// its non-empty lines; a non-batch payload is returned as the only event.
pub fn expand(payload: &[u8], batch: bool) -> Result<Vec<Vec<u8>>, ExpandError> {
    let zstd = payload.starts_with(&ZSTD_MAGIC);
    if !batch && !zstd {
        return Ok(vec![payload.to_vec()]);
    }
    let text = if zstd {
        let dec = zstd::stream::read::Decoder::new(payload)
            .map_err(|e| ExpandError::Zstd(e.to_string()))?;
        let mut out = Vec::new();
        dec.take(MAX_EXPANDED as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| ExpandError::Zstd(e.to_string()))?;
        if out.len() > MAX_EXPANDED {
            return Err(ExpandError::TooLarge);
        }
        out
    } else {
        payload.to_vec()
    };
    Ok(text
        .split(|&b| b == b'\n')
        .filter(|l| !l.trim_ascii().is_empty())
        .map(<[u8]>::to_vec)
        .collect())
}

/// An MQTT 5 subscriber (clean start, QoS 1) for collectors and `sensor tail`.
pub struct Collector {
    client: rumqttc::v5::Client,
    conn: rumqttc::v5::Connection,
    filter: String,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector")
            .field("filter", &self.filter)
            .finish_non_exhaustive()
    }
}

impl Collector {
    /// Connects to `url` (`mqtt://`, or `mqtts://` with `tls`) and subscribes
    /// to `filter`. Returns once the broker acknowledged the subscription.
    pub fn connect(
        url: &str,
        filter: &str,
        client_id: &str,
        tls: Option<TlsConfig>,
    ) -> Result<Collector, UplinkError> {
        use rumqttc::v5::mqttbytes::v5::Packet as P;
        let (addr, is_tls) = parse_url(url)?;
        let mut opts = rumqttc::v5::MqttOptions::new(client_id, addr.host, addr.port);
        opts.set_keep_alive(Duration::from_secs(30))
            .set_clean_start(true)
            .set_max_packet_size(Some(u32::try_from(MAX_EXPANDED).unwrap_or(u32::MAX)));
        if is_tls {
            let mut d = crate::DestinationConfig::new("tail", url, "tail");
            d.tls = tls.clone();
            let cfg = d.rustls_config()?.ok_or_else(|| {
                UplinkError::InvalidConfig("mqtts:// needs a CA file (--ca)".into())
            })?;
            opts.set_transport(rumqttc::Transport::tls_with_config(
                rumqttc::TlsConfiguration::Rustls(cfg),
            ));
        }
        let (client, mut conn) = rumqttc::v5::Client::new(opts, 64);
        client
            .subscribe(filter, rumqttc::v5::mqttbytes::QoS::AtLeastOnce)
            .map_err(|e| UplinkError::InvalidConfig(e.to_string()))?;
        loop {
            match conn.recv_timeout(Duration::from_secs(10)) {
                Ok(Ok(rumqttc::v5::Event::Incoming(P::SubAck(a)))) => {
                    use rumqttc::v5::mqttbytes::v5::SubscribeReasonCode as R;
                    if let Some(c) = a.return_codes.iter().find(|c| !matches!(c, R::Success(_))) {
                        return Err(UplinkError::InvalidConfig(format!(
                            "broker refused the subscription to {filter}: {c:?}"
                        )));
                    }
                    break;
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    return Err(UplinkError::InvalidConfig(format!(
                        "cannot connect to {url}: {e}"
                    )))
                }
                Err(_) => {
                    return Err(UplinkError::InvalidConfig(format!(
                        "no SUBACK from {url} within 10 s"
                    )))
                }
            }
        }
        Ok(Collector {
            client,
            conn,
            filter: filter.to_string(),
        })
    }

    /// The next message, waiting at most `timeout`; `Ok(None)` on timeout.
    /// A lost connection is retried (and the subscription renewed) by the
    /// next calls; its error is returned once.
    pub fn next(&mut self, timeout: Duration) -> Result<Option<Message>, UplinkError> {
        use rumqttc::v5::mqttbytes::v5::Packet as P;
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.conn.recv_timeout(left) {
                Ok(Ok(rumqttc::v5::Event::Incoming(P::Publish(p)))) => {
                    let (content_type, user_properties) = p
                        .properties
                        .map(|pr| (pr.content_type, pr.user_properties))
                        .unwrap_or_default();
                    return Ok(Some(Message {
                        topic: String::from_utf8_lossy(&p.topic).into_owned(),
                        payload: p.payload.to_vec(),
                        content_type,
                        user_properties,
                        retained: p.retain,
                    }));
                }
                Ok(Ok(rumqttc::v5::Event::Incoming(P::ConnAck(_)))) => {
                    let _ = self.client.try_subscribe(
                        self.filter.clone(),
                        rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
                    );
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    std::thread::sleep(Duration::from_millis(200).min(left));
                    return Err(UplinkError::InvalidConfig(format!("connection lost: {e}")));
                }
                Err(_) => return Ok(None),
            }
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.client.try_disconnect();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn expands_plain_and_compressed_batches() {
        let lines = b"{\"a\":1}\n{\"b\":2}\n";
        let z = zstd::bulk::compress(lines, 3).unwrap();
        let want = vec![b"{\"a\":1}".to_vec(), b"{\"b\":2}".to_vec()];
        assert_eq!(expand(&z, false).unwrap(), want);
        assert_eq!(expand(lines, true).unwrap(), want);
        assert_eq!(expand(lines, false).unwrap(), vec![lines.to_vec()]);
        let mut two = z.clone();
        two.extend_from_slice(&z);
        assert_eq!(expand(&two, true).unwrap().len(), 4, "concatenated frames");
        assert!(matches!(
            expand(&z[..z.len() - 3], true),
            Err(ExpandError::Zstd(_))
        ));
        assert!(expand(&ZSTD_MAGIC, true).is_err());
    }

    #[test]
    fn batches_are_recognised_without_properties() {
        let m = Message {
            topic: "cirt/s/events/batch".into(),
            payload: b"{\"a\":1}\n{\"b\":2}\n".to_vec(),
            ..Message::default()
        };
        assert!(m.is_batch());
        assert_eq!(m.events().unwrap().len(), 2);
        let one = Message {
            topic: "cirt/s/events/alert".into(),
            payload: b"{\"a\":1}".to_vec(),
            ..Message::default()
        };
        assert!(!one.is_batch());
        assert_eq!(one.events().unwrap().len(), 1);
    }

    #[test]
    fn a_zstd_bomb_is_refused() {
        let big = vec![b'x'; MAX_EXPANDED + 10];
        let z = zstd::bulk::compress(&big, 1).unwrap();
        assert!(z.len() < 1 << 20);
        assert_eq!(expand(&z, true).unwrap_err(), ExpandError::TooLarge);
    }
}
