//! Header matching: protocols, variables, negation, CIDR v4/v6, port ranges, `<>`, flow.

// Test helpers outside #[test] fns panic on purpose when a fixture is wrong.
#![allow(clippy::unwrap_used)]

mod common;
use common::{fired, load, tcp};
use signatures::{DetectInput, FlowState};

fn packet<'a>(src: &str, sp: u16, dst: &str, dp: u16, proto: u8) -> DetectInput<'a> {
    DetectInput {
        src_ip: src.parse().unwrap(),
        dst_ip: dst.parse().unwrap(),
        src_port: sp,
        dst_port: dp,
        ip_proto: proto,
        payload: b"",
        flow: FlowState::default(),
        ..DetectInput::default()
    }
}

fn fires(header: &str, input: &DetectInput<'_>) -> bool {
    let (rules, report) = load(&format!("{header} (sid:1;)"));
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(rules.len(), 1);
    !fired(&rules, input).is_empty()
}

#[test]
fn protocols() {
    let t = packet("1.1.1.1", 1, "2.2.2.2", 2, 6);
    let u = packet("1.1.1.1", 1, "2.2.2.2", 2, 17);
    let i4 = packet("1.1.1.1", 0, "2.2.2.2", 0, 1);
    let i6 = packet("::1", 0, "::2", 0, 58);
    assert!(fires("alert tcp any any -> any any", &t));
    assert!(!fires("alert tcp any any -> any any", &u));
    assert!(fires("alert udp any any -> any any", &u));
    assert!(fires("alert icmp any any -> any any", &i4));
    assert!(fires("alert icmp any any -> any any", &i6));
    assert!(!fires("alert icmp any any -> any any", &t));
    for p in [&t, &u, &i4, &i6] {
        assert!(fires("alert ip any any -> any any", p));
    }
}

#[test]
fn home_net_and_external_net() {
    let out = packet("10.1.1.1", 1234, "93.184.216.34", 80, 6);
    let inbound = packet("93.184.216.34", 80, "192.168.1.5", 1234, 6);
    let h = "alert tcp $HOME_NET any -> $EXTERNAL_NET $HTTP_PORTS";
    assert!(fires(h, &out));
    assert!(!fires(h, &inbound));
    assert!(fires(
        "alert tcp $EXTERNAL_NET any -> $HOME_NET any",
        &inbound
    ));
    assert!(fires(
        "alert tcp $EXTERNAL_NET $HTTP_PORTS -> $HTTP_SERVERS any",
        &inbound
    ));
    assert!(!fires("alert tcp $EXTERNAL_NET any -> $HOME_NET any", &out));
    assert!(fires(
        "alert tcp 172.16.0.0/12 any -> any any",
        &packet("172.31.255.255", 1, "1.1.1.1", 2, 6)
    ));
    assert!(!fires(
        "alert tcp $HOME_NET any -> any any",
        &packet("172.32.0.1", 1, "1.1.1.1", 2, 6)
    ));
}

#[test]
fn address_lists_negation_and_v6() {
    let p = |src: &str| packet(src, 1, "1.1.1.1", 2, 6);
    let h = "alert tcp [10.0.0.0/8,!10.1.1.1,2001:db8::/32] any -> any any";
    assert!(fires(h, &p("10.2.3.4")));
    assert!(!fires(h, &p("10.1.1.1")));
    assert!(!fires(h, &p("11.0.0.1")));
    assert!(fires(h, &p("2001:db8::5")));
    assert!(!fires(h, &p("2001:db9::5")));
    assert!(fires("alert tcp !1.2.3.4 any -> any any", &p("1.2.3.5")));
    assert!(!fires("alert tcp !1.2.3.4 any -> any any", &p("1.2.3.4")));
    assert!(fires("alert tcp !1.2.3.4 any -> any any", &p("::1")));
    assert!(fires(
        "alert tcp ![1.2.3.4,1.2.3.5] any -> any any",
        &p("1.2.3.6")
    ));
    assert!(!fires(
        "alert tcp ![1.2.3.4,1.2.3.5] any -> any any",
        &p("1.2.3.5")
    ));
    assert!(fires(
        "alert tcp [!$HOME_NET] any -> any any",
        &p("8.8.8.8")
    ));
    assert!(!fires(
        "alert tcp [!$HOME_NET] any -> any any",
        &p("10.0.0.1")
    ));
    assert!(fires(
        "alert tcp [$HOME_NET,!10.0.0.0/8] any -> any any",
        &p("192.168.0.1")
    ));
    assert!(!fires(
        "alert tcp [$HOME_NET,!10.0.0.0/8] any -> any any",
        &p("10.0.0.1")
    ));
    assert!(fires("alert tcp ::1 any -> any any", &p("::1")));
    assert!(fires(
        "alert tcp [1.2.3.4, 5.6.7.8] any -> any any",
        &p("5.6.7.8")
    ));
}

#[test]
fn nested_and_custom_variables() {
    let mut vars = signatures::Vars::suricata_defaults();
    vars.set_address("HOME_NET", "[10.0.0.0/8,fd00::/8]")
        .set_address("DMZ", "[$HOME_NET,!10.9.0.0/16]")
        .set_port("WEB", "[$HTTP_PORTS,8080:8090,!8085]");
    let mut b = signatures::RuleSetBuilder::new(vars);
    b.add_source(
        "v.rules",
        "alert tcp $DMZ any -> $EXTERNAL_NET $WEB (sid:1;)",
    );
    let (rules, report) = b.build();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let go = |src: &str, dst: &str, dp: u16| !fired(&rules, &packet(src, 1, dst, dp, 6)).is_empty();
    assert!(go("10.1.0.1", "8.8.8.8", 80));
    assert!(go("fd00::1", "2001:db8::1", 8084));
    assert!(!go("10.9.0.1", "8.8.8.8", 80));
    assert!(!go("10.1.0.1", "8.8.8.8", 8085));
    assert!(!go("10.1.0.1", "10.2.2.2", 80));
    assert!(!go("10.1.0.1", "8.8.8.8", 81));
}

#[test]
fn ports() {
    let p = |dp: u16| packet("1.1.1.1", 5000, "2.2.2.2", dp, 6);
    assert!(fires("alert tcp any any -> any 1024:", &p(1024)));
    assert!(!fires("alert tcp any any -> any 1024:", &p(1023)));
    assert!(fires("alert tcp any any -> any :1023", &p(0)));
    assert!(!fires("alert tcp any any -> any :1023", &p(1024)));
    let list = "alert tcp any any -> any [80,443,8000:8080]";
    assert!(fires(list, &p(443)));
    assert!(fires(list, &p(8050)));
    assert!(!fires(list, &p(8081)));
    assert!(fires("alert tcp any any -> any !80", &p(81)));
    assert!(!fires("alert tcp any any -> any !80", &p(80)));
    assert!(!fires("alert tcp any any -> any ![1,2]", &p(2)));
    assert!(fires("alert tcp any any -> any ![1,2]", &p(3)));
    assert!(fires("alert tcp any any -> any [1:100,!50]", &p(49)));
    assert!(!fires("alert tcp any any -> any [1:100,!50]", &p(50)));
    assert!(fires(
        "alert tcp any $SHELLCODE_PORTS -> any $FILE_DATA_PORTS",
        &p(143)
    ));
    assert!(fires("alert tcp any 5000 -> any any", &p(1)));
    assert!(!fires("alert tcp any 5001 -> any any", &p(1)));
}

#[test]
fn bidirectional() {
    let h = "alert tcp 10.0.0.1 1234 <> 8.8.8.8 53";
    assert!(fires(h, &packet("10.0.0.1", 1234, "8.8.8.8", 53, 6)));
    assert!(fires(h, &packet("8.8.8.8", 53, "10.0.0.1", 1234, 6)));
    assert!(!fires(h, &packet("8.8.8.8", 1234, "10.0.0.1", 53, 6)));
    let one_way = "alert tcp 10.0.0.1 1234 -> 8.8.8.8 53";
    assert!(!fires(one_way, &packet("8.8.8.8", 53, "10.0.0.1", 1234, 6)));
}

#[test]
fn flow_state() {
    let mut p = tcp(b"");
    let rule = |flow: &str| format!("alert tcp any any -> any any (flow:{flow}; sid:1;)");
    let check = |flow: &str, p: &DetectInput<'_>| {
        let (rules, report) = load(&rule(flow));
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        !fired(&rules, p).is_empty()
    };
    p.flow = FlowState {
        tracked: true,
        to_server: true,
        established: true,
    };
    assert!(check("to_server,established", &p));
    assert!(check("from_client", &p));
    assert!(check("established,to_server", &p));
    assert!(check("stateless", &p));
    assert!(!check("to_client", &p));
    assert!(!check("from_server,established", &p));
    assert!(!check("not_established", &p));
    p.flow = FlowState {
        tracked: true,
        to_server: false,
        established: false,
    };
    assert!(check("to_client,not_established", &p));
    assert!(!check("established", &p));
}

#[test]
fn actions_and_metadata() {
    let src = "drop tcp any any -> any any (msg:\"a \\\"quoted\\\" \\; msg\"; classtype:trojan-activity; sid:7; rev:3;)\n\
               reject tcp any any -> any any (msg:\"r\"; classtype:trojan-activity; priority:3; gid:2; sid:8;)\n\
               pass tcp any any -> any any (sid:9;)\n";
    let (rules, report) = load(src);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let metas: Vec<_> = rules.rules().cloned().collect();
    assert_eq!(metas[0].action, signatures::Action::Drop);
    assert_eq!(metas[0].action.eve_name(), "blocked");
    assert_eq!(metas[0].msg, "a \"quoted\" ; msg");
    assert_eq!(metas[0].category, "A Network Trojan was detected");
    assert_eq!(metas[0].severity, 1);
    assert_eq!((metas[0].gid, metas[0].sid, metas[0].rev), (1, 7, 3));
    assert_eq!(metas[1].action, signatures::Action::Reject);
    assert_eq!(metas[1].severity, 3);
    assert_eq!(metas[1].gid, 2);
    assert_eq!(metas[2].action.eve_name(), "allowed");
    assert_eq!(
        (metas[2].category.as_str(), metas[2].severity, metas[2].rev),
        ("", 3, 0)
    );
    assert_eq!(metas[2].location, "x.rules:3");
}
