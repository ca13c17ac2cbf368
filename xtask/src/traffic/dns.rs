//! DNS wire-format encoding for the demo's queries and answers (RFC 1035):
//! enough to produce real, parseable A/AAAA/TXT messages without a DNS crate.

/// DNS record types used by the demo.
#[derive(Debug, Clone, Copy)]
pub enum RecordType {
    /// IPv4 address record.
    A,
    /// IPv6 address record.
    Aaaa,
    /// Text record.
    Txt,
}

impl RecordType {
    fn code(self) -> u16 {
        match self {
            RecordType::A => 1,
            RecordType::Aaaa => 28,
            RecordType::Txt => 16,
        }
    }
}

/// Encode a domain name as length-prefixed labels ending in the root label.
fn push_name(out: &mut Vec<u8>, name: &str) {
    for label in name.trim_end_matches('.').split('.') {
        let bytes = label.as_bytes();
        out.push(u8::try_from(bytes.len()).unwrap_or(63).min(63));
        out.extend_from_slice(&bytes[..bytes.len().min(63)]);
    }
    out.push(0);
}

fn header(out: &mut Vec<u8>, id: u16, flags: u16, qd: u16, an: u16) {
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&qd.to_be_bytes());
    out.extend_from_slice(&an.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes()); // nscount
    out.extend_from_slice(&0u16.to_be_bytes()); // arcount
}

/// A standard recursive query (RD set) for one name and type.
pub fn query(id: u16, name: &str, rtype: RecordType) -> Vec<u8> {
    let mut out = Vec::new();
    header(&mut out, id, 0x0100, 1, 0);
    push_name(&mut out, name);
    out.extend_from_slice(&rtype.code().to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes()); // class IN
    out
}

/// A NOERROR response echoing the question with one answer whose name is a
/// compression pointer to the question (offset 12) and whose data is `rdata`.
pub fn response(id: u16, name: &str, rtype: RecordType, ttl: u32, rdata: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    header(&mut out, id, 0x8180, 1, 1);
    push_name(&mut out, name);
    out.extend_from_slice(&rtype.code().to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&[0xc0, 0x0c]);
    out.extend_from_slice(&rtype.code().to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    out.extend_from_slice(&u16::try_from(rdata.len()).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(rdata);
    out
}

/// TXT record data: one length-prefixed character string.
pub fn txt_rdata(text: &str) -> Vec<u8> {
    let bytes = &text.as_bytes()[..text.len().min(255)];
    let mut out = vec![u8::try_from(bytes.len()).unwrap_or(255)];
    out.extend_from_slice(bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_wire_format() {
        let q = query(0x1234, "a.bc", RecordType::A);
        assert_eq!(
            q,
            [
                0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'a', 2, b'b', b'c', 0, 0, 1, 0,
                1
            ]
        );
    }

    #[test]
    fn response_points_back_to_question() {
        let r = response(7, "x.y", RecordType::A, 60, &[1, 2, 3, 4]);
        let answer = &r[12 + 5 + 4..];
        assert_eq!(&answer[..2], &[0xc0, 0x0c]);
        assert_eq!(&answer[answer.len() - 4..], &[1, 2, 3, 4]);
    }
}
