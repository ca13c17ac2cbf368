//! Buffer transforms applied before a sticky buffer is inspected (Suricata 6+).
//!
//! Implemented: `dotprefix`, `to_lowercase`, `to_uppercase`, `strip_whitespace`,
//! `compress_whitespace`, `url_decode`. The others (`to_md5`, `to_sha1`, `to_sha256`, `xor`,
//! `pcrexform`, `from_base64`, `header_lowercase`, `strip_pseudo_headers`) keep a rule
//! inactive. Transforms write into two reusable per-worker buffers, so no allocation happens
//! once they have grown to the largest buffer seen.

/// An implemented transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transform {
    DotPrefix,
    ToLower,
    ToUpper,
    StripWhitespace,
    CompressWhitespace,
    UrlDecode,
}

impl Transform {
    /// The transform named `name`, if implemented.
    pub(crate) fn from_name(name: &str) -> Option<Transform> {
        Some(match name {
            "dotprefix" => Transform::DotPrefix,
            "to_lowercase" => Transform::ToLower,
            "to_uppercase" => Transform::ToUpper,
            "strip_whitespace" => Transform::StripWhitespace,
            "compress_whitespace" => Transform::CompressWhitespace,
            "url_decode" => Transform::UrlDecode,
            _ => return None,
        })
    }

    fn apply(self, src: &[u8], out: &mut Vec<u8>) {
        out.clear();
        match self {
            Transform::DotPrefix => {
                out.push(b'.');
                out.extend_from_slice(src);
            }
            Transform::ToLower => out.extend(src.iter().map(u8::to_ascii_lowercase)),
            Transform::ToUpper => out.extend(src.iter().map(u8::to_ascii_uppercase)),
            Transform::StripWhitespace => {
                out.extend(src.iter().copied().filter(|b| !is_space(*b)));
            }
            Transform::CompressWhitespace => {
                let mut prev_space = false;
                for &b in src {
                    let sp = is_space(b);
                    if !(sp && prev_space) {
                        out.push(b);
                    }
                    prev_space = sp;
                }
            }
            Transform::UrlDecode => {
                let mut i = 0;
                while let Some(&b) = src.get(i) {
                    let hex = |j: usize| src.get(j).and_then(|c| (*c as char).to_digit(16));
                    match (b, hex(i + 1), hex(i + 2)) {
                        (b'%', Some(h), Some(l)) => {
                            out.push((h * 16 + l) as u8);
                            i += 3;
                        }
                        (b'+', _, _) => {
                            out.push(b' ');
                            i += 1;
                        }
                        _ => {
                            out.push(b);
                            i += 1;
                        }
                    }
                }
            }
        }
    }
}

/// Suricata's whitespace for the whitespace transforms (isspace).
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Applies `chain` to `src`; the result is in `a` (using `b` as the second buffer).
pub(crate) fn apply_all<'s>(
    chain: &[Transform],
    src: &'s [u8],
    a: &'s mut Vec<u8>,
    b: &mut Vec<u8>,
) -> &'s [u8] {
    let Some((first, rest)) = chain.split_first() else {
        return src;
    };
    first.apply(src, a);
    for t in rest {
        t.apply(a, b);
        std::mem::swap(a, b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transforms() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let t = [Transform::DotPrefix, Transform::ToUpper];
        assert_eq!(apply_all(&t, b"evil.com", &mut a, &mut b), b".EVIL.COM");
        let t = [Transform::CompressWhitespace];
        assert_eq!(apply_all(&t, b"a  \t b", &mut a, &mut b), b"a b");
        let t = [Transform::StripWhitespace];
        assert_eq!(apply_all(&t, b" a b ", &mut a, &mut b), b"ab");
        let t = [Transform::UrlDecode];
        assert_eq!(apply_all(&t, b"%41+b%zz%4", &mut a, &mut b), b"A b%zz%4");
        assert_eq!(apply_all(&[], b"x", &mut a, &mut b), b"x");
    }
}
