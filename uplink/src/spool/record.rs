//! On-disk framing of one spool record.
//!
//! ```text
//! frame  = len:u32le crc:u32le body          (crc = CRC-32/ISO-HDLC of body)
//! body   = seq:u64le target_len:u8 target type_len:u16le event_type payload
//! ```
//!
//! `target` is empty for an event that goes to every `full` destination
//! (each applies its event-type filter when reading) and holds a destination
//! name for a record meant for one destination only (a summary). The length
//! prefix lets a reader skip a record without parsing it; the CRC tells a
//! complete record from a torn or corrupted one after a crash. Pure code, no
//! I/O, so every corruption case is unit-tested.

/// Bytes before the body: length and CRC.
pub(crate) const HEADER: usize = 8;
/// Largest body accepted when reading; anything longer is corruption.
pub(crate) const MAX_BODY: usize = 64 << 20;

/// One decoded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub seq: u64,
    /// `None`: every full destination; `Some(name)`: that destination only.
    pub target: Option<String>,
    pub event_type: String,
    pub payload: Vec<u8>,
}

/// Result of decoding at the start of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// A valid record and the number of bytes it took.
    Record(Record, usize),
    /// The buffer ends inside the record; at least this many bytes are needed.
    NeedMore(usize),
    /// The bytes are not a valid record.
    Corrupt(&'static str),
}

/// Appends one framed record to `buf`; the payload is written by
/// `write_payload` straight into the buffer (no intermediate copy).
pub(crate) fn encode(
    buf: &mut Vec<u8>,
    seq: u64,
    target: Option<&str>,
    event_type: &str,
    write_payload: impl FnOnce(&mut Vec<u8>),
) -> Result<(), &'static str> {
    let target = target.unwrap_or("");
    let target_len = u8::try_from(target.len()).map_err(|_| "target name too long")?;
    let type_len = u16::try_from(event_type.len()).map_err(|_| "event type too long")?;
    let start = buf.len();
    buf.extend_from_slice(&[0; HEADER]);
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.push(target_len);
    buf.extend_from_slice(target.as_bytes());
    buf.extend_from_slice(&type_len.to_le_bytes());
    buf.extend_from_slice(event_type.as_bytes());
    write_payload(buf);
    let body_len = buf.len() - start - HEADER;
    let Ok(len) = u32::try_from(body_len) else {
        buf.truncate(start);
        return Err("record too large");
    };
    if body_len > MAX_BODY {
        buf.truncate(start);
        return Err("record too large");
    }
    let crc = crc32fast::hash(&buf[start + HEADER..]);
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
    buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

/// Decodes the record at the start of `buf`.
pub(crate) fn decode(buf: &[u8]) -> Decoded {
    if buf.len() < HEADER {
        return Decoded::NeedMore(HEADER);
    }
    let len = le_u32(buf) as usize;
    if len > MAX_BODY {
        return Decoded::Corrupt("length out of range");
    }
    if len < 8 + 1 + 2 {
        return Decoded::Corrupt("length too small");
    }
    let total = HEADER + len;
    if buf.len() < total {
        return Decoded::NeedMore(total);
    }
    let body = &buf[HEADER..total];
    if crc32fast::hash(body) != le_u32(&buf[4..]) {
        return Decoded::Corrupt("checksum mismatch");
    }
    let mut seq = [0; 8];
    seq.copy_from_slice(&body[..8]);
    let seq = u64::from_le_bytes(seq);
    let tlen = usize::from(body[8]);
    let rest = &body[9..];
    if rest.len() < tlen + 2 {
        return Decoded::Corrupt("target overruns record");
    }
    let (target, rest) = rest.split_at(tlen);
    let ty_len = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
    let rest = &rest[2..];
    if rest.len() < ty_len {
        return Decoded::Corrupt("event type overruns record");
    }
    let (ty, payload) = rest.split_at(ty_len);
    let (Ok(target), Ok(ty)) = (std::str::from_utf8(target), std::str::from_utf8(ty)) else {
        return Decoded::Corrupt("name is not UTF-8");
    };
    Decoded::Record(
        Record {
            seq,
            target: (!target.is_empty()).then(|| target.to_string()),
            event_type: ty.to_string(),
            payload: payload.to_vec(),
        },
        total,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(seq: u64, target: Option<&str>, ty: &str, p: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        encode(&mut b, seq, target, ty, |b| b.extend_from_slice(p)).unwrap();
        b
    }

    #[test]
    fn round_trip() {
        let mut b = enc(7, None, "alert", b"{\"a\":1}");
        b.extend(enc(8, Some("grc"), "alert_summary", b""));
        let Decoded::Record(r, n) = decode(&b) else {
            panic!()
        };
        assert_eq!((r.seq, r.target, r.event_type.as_str()), (7, None, "alert"));
        assert_eq!(r.payload, b"{\"a\":1}");
        let Decoded::Record(r, m) = decode(&b[n..]) else {
            panic!()
        };
        assert_eq!(r.target.as_deref(), Some("grc"));
        assert_eq!(n + m, b.len());
    }

    #[test]
    fn every_truncation_needs_more_and_every_bit_flip_is_caught() {
        let b = enc(42, Some("x"), "flow", b"payload bytes");
        for cut in 0..b.len() {
            assert!(
                matches!(decode(&b[..cut]), Decoded::NeedMore(_)),
                "cut {cut}"
            );
        }
        for i in 4..b.len() {
            for bit in 0..8 {
                let mut c = b.clone();
                c[i] ^= 1 << bit;
                assert!(
                    !matches!(decode(&c), Decoded::Record(..)),
                    "flip byte {i} bit {bit}"
                );
            }
        }
        assert_eq!(decode(&[0; 8]), Decoded::Corrupt("length too small"));
        assert_eq!(decode(&[0xff; 8]), Decoded::Corrupt("length out of range"));
    }
}
