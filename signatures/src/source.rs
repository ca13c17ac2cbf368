//! Rule source text -> logical rules with a position map.
//!
//! Rules may span several physical lines (a trailing backslash continues the rule), and every
//! later stage works on the joined logical text. Errors must still point at the physical
//! `line:column`, so each logical rule keeps the list of segments it was built from and maps a
//! byte offset back to (line, column). Comment (`#`) and blank lines are dropped here so no
//! later stage has to know about them.

/// Where a physical line starts inside a logical rule.
#[derive(Debug, Clone, Copy)]
struct Segment {
    /// Byte offset in the logical text.
    start: usize,
    /// 1-based physical line number.
    line: usize,
}

/// One logical rule: the joined text plus how to map offsets back to the file.
#[derive(Debug, Clone)]
pub(crate) struct RuleText {
    pub(crate) text: String,
    segments: Vec<Segment>,
}

impl RuleText {
    /// 1-based line of the rule's first line.
    pub(crate) fn first_line(&self) -> usize {
        self.segments.first().map_or(1, |s| s.line)
    }

    /// 1-based (line, column) of a byte offset in the logical text. Columns count characters.
    pub(crate) fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let idx = self
            .segments
            .partition_point(|s| s.start <= offset)
            .saturating_sub(1);
        let Some(seg) = self.segments.get(idx) else {
            return (1, offset + 1);
        };
        let prefix = self
            .text
            .get(seg.start..offset)
            .map_or(offset - seg.start, |p| p.chars().count());
        (seg.line, prefix + 1)
    }
}

/// Splits a rules file into logical rules, skipping comments and blank lines.
pub(crate) fn split_rules(src: &str) -> Vec<RuleText> {
    let mut out = Vec::new();
    let mut current: Option<RuleText> = None;
    for (idx, line) in src.lines().enumerate() {
        let line_no = idx + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if current.is_none() {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
        }
        let rule = current.get_or_insert_with(|| RuleText {
            text: String::new(),
            segments: Vec::new(),
        });
        rule.segments.push(Segment {
            start: rule.text.len(),
            line: line_no,
        });
        let body = line.trim_end();
        if let Some(cont) = body.strip_suffix('\\') {
            rule.text.push_str(cont);
        } else {
            rule.text.push_str(line);
            if let Some(done) = current.take() {
                out.push(done);
            }
        }
    }
    if let Some(done) = current.take() {
        out.push(done);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_continuations_and_maps_positions() {
        let src = "# comment\n\nalert tcp any any \\\n  -> any any (sid:1;)\n";
        let rules = split_rules(src);
        assert_eq!(rules.len(), 1);
        let r = &rules[0];
        assert_eq!(r.first_line(), 3);
        let arrow = r.text.find("->").unwrap();
        assert_eq!(r.position(arrow), (4, 3));
        assert_eq!(r.position(0), (3, 1));
    }
}
