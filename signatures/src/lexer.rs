//! Logical rule text -> header tokens and raw `keyword[:value]` options, all with byte spans.
//!
//! The lexer knows only the rule's *shape* (whitespace-separated header up to `(`, then
//! `;`-separated options honouring quotes and backslash escapes, then `)`), never what a
//! keyword means. Keeping meaning out of here lets every syntax error be reported at an exact
//! offset, and lets `options` decide per keyword whether it is supported.

use std::fmt;

/// A parse failure at a byte offset of the logical rule text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Perr {
    pub(crate) offset: usize,
    pub(crate) message: String,
}

impl Perr {
    pub(crate) fn new(offset: usize, message: impl Into<String>) -> Self {
        Perr {
            offset,
            message: message.into(),
        }
    }
}

impl fmt::Display for Perr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A slice of the rule text and where it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    pub(crate) text: &'a str,
    pub(crate) start: usize,
}

/// One `keyword[:value]` option as written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawOption<'a> {
    pub(crate) name: Token<'a>,
    /// Trimmed value, when a `:` was present.
    pub(crate) value: Option<Token<'a>>,
}

/// A rule split into its header tokens and raw options.
#[derive(Debug, Clone)]
pub(crate) struct RawRule<'a> {
    pub(crate) header: Vec<Token<'a>>,
    /// Offset of the `(` opening the options (or end of text when missing).
    pub(crate) open_paren: usize,
    pub(crate) options: Vec<RawOption<'a>>,
}

/// Shows a token for "found '...'" messages, shortened so huge garbage stays readable.
pub(crate) fn shown(text: &str) -> String {
    let mut s: String = text.chars().take(40).collect();
    if text.chars().count() > 40 {
        s.push_str("...");
    }
    s
}

fn is_keyword_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

/// Splits a logical rule into header tokens and raw options.
pub(crate) fn lex_rule(text: &str) -> Result<RawRule<'_>, Perr> {
    let bytes = text.as_bytes();
    let mut header = Vec::new();
    let mut i = 0;
    let open_paren;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() {
            return Err(Perr::new(
                text.len(),
                "expected '(' to start the rule options, found end of rule",
            ));
        }
        if bytes[i] == b'(' {
            open_paren = i;
            break;
        }
        let start = i;
        let mut open_brackets: Vec<usize> = Vec::new();
        while i < bytes.len() {
            match bytes[i] {
                b'[' => open_brackets.push(i),
                b']' => {
                    open_brackets.pop();
                }
                b'(' => break,
                b if b.is_ascii_whitespace() && open_brackets.is_empty() => break,
                _ => {}
            }
            i += 1;
        }
        if let Some(&at) = open_brackets.first() {
            return Err(Perr::new(at, "expected ']' to close '['"));
        }
        header.push(Token {
            text: &text[start..i],
            start,
        });
    }
    let options = lex_options(text, open_paren)?;
    Ok(RawRule {
        header,
        open_paren,
        options,
    })
}

fn lex_options(text: &str, open_paren: usize) -> Result<Vec<RawOption<'_>>, Perr> {
    let bytes = text.as_bytes();
    let mut options = Vec::new();
    let mut i = open_paren + 1;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let Some(&b) = bytes.get(i) else {
            return Err(Perr::new(
                open_paren,
                "unterminated rule options: expected ')' at the end of the rule",
            ));
        };
        if b == b')' {
            expect_end(text, i + 1)?;
            return Ok(options);
        }
        let name_start = i;
        while i < bytes.len() && is_keyword_byte(bytes[i]) {
            i += 1;
        }
        if i == name_start {
            return Err(Perr::new(
                i,
                format!(
                    "expected an option keyword, found '{}'",
                    shown(rest_char(text, i))
                ),
            ));
        }
        let name = Token {
            text: &text[name_start..i],
            start: name_start,
        };
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        match bytes.get(i) {
            Some(b';') => {
                options.push(RawOption { name, value: None });
                i += 1;
            }
            Some(b':') => {
                let (value, next, closed) = scan_value(text, i + 1)?;
                options.push(RawOption {
                    name,
                    value: Some(value),
                });
                i = next;
                if closed {
                    return Ok(options);
                }
            }
            Some(b')') => {
                // Last option without a trailing ';' (accepted, as Snort and Suricata do).
                options.push(RawOption { name, value: None });
                expect_end(text, i + 1)?;
                return Ok(options);
            }
            Some(_) => {
                return Err(Perr::new(
                    i,
                    format!(
                        "expected ':' or ';' after '{}', found '{}'",
                        name.text,
                        shown(rest_char(text, i))
                    ),
                ))
            }
            None => {
                return Err(Perr::new(
                    open_paren,
                    "unterminated rule options: expected ')' at the end of the rule",
                ))
            }
        }
    }
}

/// The character at `i` (for messages), or "end of rule".
fn rest_char(text: &str, i: usize) -> &str {
    text.get(i..)
        .and_then(|r| r.char_indices().nth(1).map(|(n, _)| &r[..n]).or(Some(r)))
        .filter(|s| !s.is_empty())
        .unwrap_or("end of rule")
}

fn expect_end(text: &str, from: usize) -> Result<(), Perr> {
    let rest = text.get(from..).unwrap_or("");
    let trimmed = rest.trim_start();
    if trimmed.is_empty() {
        Ok(())
    } else {
        let at = from + (rest.len() - trimmed.len());
        Err(Perr::new(
            at,
            format!("expected end of rule after ')', found '{}'", shown(trimmed)),
        ))
    }
}

/// Scans an option value starting after `:`. Returns the trimmed value, the offset after the
/// terminating `;`, and whether the option list was closed by `)` instead (last value without
/// `;`).
///
/// Like Suricata, the value ends at the first `;` not escaped by a backslash — quotes do not
/// protect semicolons (`pcre:"/["']/"` is legal, `msg:"a;b"` is not).
fn scan_value(text: &str, from: usize) -> Result<(Token<'_>, usize, bool), Perr> {
    let bytes = text.as_bytes();
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b';' => return Ok((trimmed(text, from, i), i + 1, false)),
            _ => {}
        }
        i += 1;
    }
    // No ';': accept `value)` at the very end of the rule.
    let rest = text.get(from..).unwrap_or("").trim_end();
    if let Some(body) = rest.strip_suffix(')') {
        let value = trimmed(text, from, from + body.len());
        check_quotes(value)?;
        return Ok((value, text.len(), true));
    }
    let value = trimmed(text, from, text.len());
    check_quotes(value)?;
    Err(Perr::new(
        from.saturating_sub(1),
        "unterminated option: expected ';' and a closing ')'",
    ))
}

/// Checks a value holding one quoted string: the quote must be closed (backslash escapes
/// honoured) and nothing may follow it.
pub(crate) fn check_quotes(value: Token<'_>) -> Result<(), Perr> {
    let t = value.text;
    let Some(q) = t.find('"') else { return Ok(()) };
    let bytes = t.as_bytes();
    let mut i = q + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => break,
            _ => i += 1,
        }
    }
    if i >= bytes.len() {
        return Err(Perr::new(
            value.start + q,
            "unterminated quoted string: expected '\"'",
        ));
    }
    let rest = t.get(i + 1..).unwrap_or("");
    let trailing = rest.trim_start();
    if trailing.is_empty() {
        Ok(())
    } else {
        Err(Perr::new(
            value.start + i + 1 + (rest.len() - trailing.len()),
            format!(
                "expected ';' after the quoted string, found '{}'",
                shown(trailing)
            ),
        ))
    }
}

fn trimmed(text: &str, from: usize, to: usize) -> Token<'_> {
    let raw = text.get(from..to).unwrap_or("");
    let lead = raw.len() - raw.trim_start().len();
    Token {
        text: raw.trim(),
        start: from + lead,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_header_and_options() {
        let r = lex_rule(
            r#"alert tcp [1.2.3.4, 5.6.7.8] any -> any any (msg:"a\;\"b"; nocase; sid:1;)"#,
        )
        .unwrap();
        assert_eq!(r.header.len(), 7);
        assert_eq!(r.header[2].text, "[1.2.3.4, 5.6.7.8]");
        assert_eq!(r.options.len(), 3);
        assert_eq!(r.options[0].value.unwrap().text, r#""a\;\"b""#);
        assert!(r.options[1].value.is_none());
    }

    #[test]
    fn unterminated_quote_points_at_quote() {
        let e = lex_rule(r#"alert tcp any any -> any any (msg:"abc)"#).unwrap_err();
        assert_eq!(e.offset, 34);
    }

    #[test]
    fn last_option_without_semicolon() {
        let r = lex_rule("alert tcp any any -> any any (msg:\"x\"; sid:1)").unwrap();
        assert_eq!(r.options[1].value.unwrap().text, "1");
    }
}
