//! Every error path reports `file:line:column: message` and skips only the bad rule.

// Test helpers outside #[test] fns panic on purpose when a fixture is wrong.
#![allow(clippy::unwrap_used)]

mod common;
use common::{error, errors, load};

const OK: &str = "alert tcp any any -> any any (msg:\"ok\"; sid:100;)";

#[test]
fn bad_direction() {
    assert_eq!(
        error("alert tcp any any foo any any (sid:1;)"),
        "x.rules:1:19: expected '->' or '<>', found 'foo'"
    );
}

#[test]
fn unknown_action() {
    let e = error("alrt tcp any any -> any any (sid:1;)");
    assert!(e.starts_with("x.rules:1:1: expected an action"), "{e}");
}

#[test]
fn unterminated_quote() {
    let e = error("alert tcp any any -> any any (msg:\"abc; sid:1;)");
    assert!(
        e.starts_with("x.rules:1:35: unterminated quoted string"),
        "{e}"
    );
    let e = error("alert tcp any any -> any any (sid:1; msg:\"abc)");
    assert!(
        e.starts_with("x.rules:1:42: unterminated quoted string"),
        "{e}"
    );
}

#[test]
fn unterminated_paren() {
    let e = error("alert tcp any any -> any any (msg:\"abc\"; sid:1;");
    assert!(
        e.starts_with("x.rules:1:30: unterminated rule options"),
        "{e}"
    );
    let e = error("alert tcp any any -> any any");
    assert!(e.starts_with("x.rules:1:29: expected '('"), "{e}");
}

#[test]
fn missing_header_parts_and_trailing_garbage() {
    let e = error("alert tcp any any -> any (sid:1;)");
    assert_eq!(e, "x.rules:1:26: expected a destination port, found '('");
    let e = error("alert tcp any any -> any any any (sid:1;)");
    assert_eq!(e, "x.rules:1:30: expected '(', found 'any'");
    let e = error("alert tcp any any -> any any (sid:1;) junk");
    assert!(e.starts_with("x.rules:1:39: expected end of rule"), "{e}");
    let e = error("alert tcp any any -> any any (sid:1; @foo;)");
    assert!(
        e.starts_with("x.rules:1:38: expected an option keyword"),
        "{e}"
    );
    let e = error("alert tcp any any -> any any (sid 1;)");
    assert!(e.starts_with("x.rules:1:35: expected ':' or ';'"), "{e}");
}

#[test]
fn bad_addresses() {
    let e = error("alert tcp 1.2.3.300 any -> any any (sid:1;)");
    assert!(e.starts_with("x.rules:1:11: expected an IP address"), "{e}");
    let e = error("alert tcp any any -> 10.0.0.0/33 any (sid:1;)");
    assert!(e.starts_with("x.rules:1:22: IPv4 prefix length"), "{e}");
    let e = error("alert tcp [1.2.3.4,5.6.7.8 any -> any any (sid:1;)");
    assert!(e.starts_with("x.rules:1:11: expected ']'"), "{e}");
    let e = error("alert tcp $NOPE_NET any -> any any (sid:1;)");
    assert!(
        e.starts_with("x.rules:1:11: undefined address variable '$NOPE_NET'"),
        "{e}"
    );
    let e = error("alert tcp !any any -> any any (sid:1;)");
    assert!(e.starts_with("x.rules:1:11:"), "{e}");
    let e = error("alert tcp [1.2.3.4,!1.2.3.4] any -> any any (sid:1;)");
    assert!(e.contains("matches nothing"), "{e}");
}

#[test]
fn variable_cycles_are_errors_not_hangs() {
    let mut vars = signatures::Vars::suricata_defaults();
    vars.set_address("A_NET", "[1.2.3.4,$B_NET]")
        .set_address("B_NET", "!$A_NET")
        .set_port("P", "$P");
    let mut b = signatures::RuleSetBuilder::new(vars);
    b.add_source(
        "x.rules",
        "alert tcp $A_NET any -> any any (sid:1;)\nalert tcp any $P -> any any (sid:2;)",
    );
    let (_, report) = b.build();
    let e: Vec<String> = report.errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].starts_with("x.rules:1:11:") && e[0].contains("cycle"),
        "{e:?}"
    );
    assert!(
        e[1].starts_with("x.rules:2:15:") && e[1].contains("cycle"),
        "{e:?}"
    );
}

#[test]
fn bad_ports() {
    let e = error("alert tcp any 70000 -> any any (sid:1;)");
    assert!(e.starts_with("x.rules:1:15: expected a port"), "{e}");
    let e = error("alert tcp any any -> any 90:80 (sid:1;)");
    assert!(
        e.starts_with("x.rules:1:26: port range '90:80' is reversed"),
        "{e}"
    );
    let e = error("alert tcp any [80,abc] -> any any (sid:1;)");
    assert!(e.starts_with("x.rules:1:15:"), "{e}");
    let e = error("alert tcp any $HOME_NET -> any any (sid:1;)");
    assert!(e.contains("undefined port variable"), "{e}");
}

#[test]
fn missing_and_bad_sid() {
    let e = error("alert tcp any any -> any any (msg:\"x\";)");
    assert!(e.starts_with("x.rules:1:30: rule has no sid"), "{e}");
    let e = error("alert tcp any any -> any any (sid:abc;)");
    assert_eq!(
        e,
        "x.rules:1:35: expected a non-negative number, found 'abc'"
    );
    let e = error("alert tcp any any -> any any (sid:99999999999;)");
    assert!(
        e.starts_with("x.rules:1:35: a non-negative number out of range"),
        "{e}"
    );
    let e = error("alert tcp any any -> any any (sid:0;)");
    assert!(
        e.starts_with("x.rules:1:35: sid must be greater than 0"),
        "{e}"
    );
    let e = error("alert tcp any any -> any any (sid:1; sid:2;)");
    assert!(
        e.starts_with("x.rules:1:38: 'sid' given more than once"),
        "{e}"
    );
    let e = error("alert tcp any any -> any any (sid:1; rev:-1;)");
    assert!(e.starts_with("x.rules:1:42:"), "{e}");
}

#[test]
fn duplicate_sid_reports_the_later_rule() {
    let src = format!("{OK}\n\nalert udp any any -> any any (msg:\"dup\"; sid:100;)\n");
    let (rules, report) = load(&src);
    assert_eq!(rules.len(), 1);
    assert_eq!(report.errors.len(), 1);
    let e = report.errors[0].to_string();
    assert!(
        e.starts_with("x.rules:3:46: duplicate sid 100 (gid 1), first defined at x.rules:1"),
        "{e}"
    );
    // Same sid under another gid is a different rule.
    let src = format!("{OK}\nalert udp any any -> any any (sid:100; gid:3;)\n");
    assert!(errors(&src).is_empty());
}

#[test]
fn content_errors() {
    let e = error("alert tcp any any -> any any (content:\"|4G|\"; sid:1;)");
    assert_eq!(
        e,
        "x.rules:1:42: expected a hex digit in content, found 'G'"
    );
    let e = error("alert tcp any any -> any any (content:\"a|414|\"; sid:1;)");
    assert!(
        e.starts_with("x.rules:1:44: odd number of hex digits"),
        "{e}"
    );
    let e = error("alert tcp any any -> any any (content:\"a|41\"; sid:1;)");
    assert!(e.starts_with("x.rules:1:41: unterminated '|'"), "{e}");
    let e = error("alert tcp any any -> any any (content:abc; sid:1;)");
    assert!(
        e.starts_with("x.rules:1:39: expected a quoted content string"),
        "{e}"
    );
    let e = error("alert tcp any any -> any any (content:\"\"; sid:1;)");
    assert!(
        e.starts_with("x.rules:1:39: content must not be empty"),
        "{e}"
    );
    let e = error("alert tcp any any -> any any (content:\"ab\",depth 4; sid:1;)");
    assert_eq!(
        e,
        "x.rules:1:43: expected ';' after the quoted string, found ',depth 4'"
    );
    let e = error("alert tcp any any -> any any (content:\"a\\x\"; sid:1;)");
    assert!(e.starts_with("x.rules:1:41: invalid escape"), "{e}");
}

#[test]
fn modifier_errors() {
    let e = error("alert tcp any any -> any any (nocase; sid:1;)");
    assert_eq!(e, "x.rules:1:31: 'nocase' needs a preceding content");
    let e = error("alert tcp any any -> any any (depth:4; content:\"a\"; sid:1;)");
    assert!(
        e.starts_with("x.rules:1:31: 'depth' needs a preceding content"),
        "{e}"
    );
    let e = error("alert tcp any any -> any any (content:\"abcd\"; depth:2; sid:1;)");
    assert!(e.starts_with("x.rules:1:53: depth 2 is smaller"), "{e}");
    let e = error("alert tcp any any -> any any (content:\"ab\"; offset:x; sid:1;)");
    assert!(
        e.starts_with("x.rules:1:52: expected a non-negative number, found 'x'"),
        "{e}"
    );
    let e = error("alert tcp any any -> any any (content:\"ab\"; offset:1; distance:2; sid:1;)");
    assert!(
        e.starts_with("x.rules:1:55: 'distance' cannot be combined"),
        "{e}"
    );
    let e = error("alert tcp any any -> any any (content:\"ab\"; within:1; sid:1;)");
    assert!(e.starts_with("x.rules:1:52: within 1 is smaller"), "{e}");
    let e = error("alert tcp any any -> any any (content:\"ab\"; nocase; nocase; sid:1;)");
    assert!(e.starts_with("x.rules:1:53: 'nocase' given twice"), "{e}");
    let e = error("alert tcp any any -> any any (content:\"ab\"; startswith; offset:1; sid:1;)");
    assert!(
        e.starts_with("x.rules:1:57: 'offset' cannot be combined with 'startswith'"),
        "{e}"
    );
    let e = error("alert tcp any any -> any any (content:\"ab\"; nocase:1; sid:1;)");
    assert!(
        e.starts_with("x.rules:1:52: 'nocase' takes no value"),
        "{e}"
    );
    let e = error("alert tcp any any -> any any (content:\"ab\"; fast_pattern:1,5; sid:1;)");
    assert!(
        e.starts_with("x.rules:1:58: fast_pattern 1,5 is outside"),
        "{e}"
    );
}

#[test]
fn other_option_errors() {
    let e = error("alert tcp any any -> any any (classtype:nope; sid:1;)");
    assert_eq!(e, "x.rules:1:41: unknown classtype 'nope'");
    let e = error("alert tcp any any -> any any (flow:sideways; sid:1;)");
    assert!(e.starts_with("x.rules:1:36: expected a flow option"), "{e}");
    let e = error("alert tcp any any -> any any (flow:to_server,to_client; sid:1;)");
    assert!(
        e.starts_with("x.rules:1:46: conflicting flow option"),
        "{e}"
    );
    let e = error("alert tcp any any -> any any (dsize:>x; sid:1;)");
    assert!(
        e.starts_with("x.rules:1:38: expected a non-negative number"),
        "{e}"
    );
    let e = error("alert tcp any any -> any any (dsize:10<>5; sid:1;)");
    assert!(e.starts_with("x.rules:1:37: range '10<>5' is empty"), "{e}");
    let e = error("alert tcp any any -> any any (priority:0; sid:1;)");
    assert!(e.starts_with("x.rules:1:40: priority must be 1-255"), "{e}");
    let e = error("alert tcp any any -> any any (reference:nocomma; sid:1;)");
    assert!(e.starts_with("x.rules:1:41: expected 'system,id'"), "{e}");
    let e = error("alert tcp any any -> any any (target:both; sid:1;)");
    assert!(
        e.starts_with("x.rules:1:38: expected 'src_ip' or 'dest_ip'"),
        "{e}"
    );
    let e = error("alert tcp any any -> any any (msg; sid:1;)");
    assert!(
        e.starts_with("x.rules:1:31: expected ':' and a value after 'msg'"),
        "{e}"
    );
    let e = error("alert tcp any any -> any any (isdataat:5,sideways; sid:1;)");
    assert!(
        e.starts_with("x.rules:1:40: expected 'relative' or 'rawbytes'"),
        "{e}"
    );
}

#[test]
fn multi_line_rule_errors_point_at_physical_line() {
    let src = "# header comment\n\nalert tcp any any -> any any ( \\\n  msg:\"x\"; \\\n  content:\"|ZZ|\"; sid:1;)\n";
    let e = error(src);
    assert_eq!(
        e,
        "x.rules:5:13: expected a hex digit in content, found 'Z'"
    );
    let (_, report) = load(src);
    assert_eq!(report.rules[0].location, "x.rules:3");
}

#[test]
fn bad_rules_do_not_stop_the_rest() {
    let src = format!(
        "alert tcp any any foo any any (sid:1;)\n{OK}\nalert tcp any any -> any any (content:\"|zz|\"; sid:2;)\nalert tcp any any -> any any (sid:3;)\n"
    );
    let (rules, report) = load(&src);
    assert_eq!(report.errors.len(), 2);
    assert_eq!(report.loaded, 2);
    assert_eq!(rules.len(), 2);
    let skipped: Vec<_> = report.rules.iter().map(|r| r.skipped.is_some()).collect();
    assert_eq!(skipped, [true, false, true, false]);
    assert_eq!(report.rules[2].sid, Some(2));
    assert_eq!(report.rules[2].location, "x.rules:3");
    assert!(report.rules[0]
        .skipped
        .as_deref()
        .unwrap()
        .starts_with("x.rules:1:19:"));
}

#[test]
fn columns_count_characters_not_bytes() {
    let e = error("alert tcp any any -> any any (msg:\"é\"; content:\"|4G|\"; sid:1;)");
    assert!(e.starts_with("x.rules:1:51:"), "{e}");
}
