//! Tunnel decapsulation end to end: the sensor binary on crafted captures and on the
//! corpus's tunnel captures, checked against what Suricata 7 logs for them (outer and inner
//! flows, the `tunnel` object on alerts, the decoder counters).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use std::path::Path;

use common::{corpus_dir, pcap_bytes, run_sensor};
use serde_json::Value;

/// Runs the sensor on `pcap` with `rules`; returns every EVE record.
fn replay(pcap: &Path, rules: &str, workers: &str) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let rules_path = dir.path().join("t.rules");
    std::fs::write(&rules_path, rules).unwrap();
    let eve = dir.path().join("eve.json");
    let out = run_sensor(&[
        "replay",
        "--workers",
        workers,
        "--rules",
        rules_path.to_str().unwrap(),
        "--eve",
        eve.to_str().unwrap(),
        pcap.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(&eve)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn of_type<'a>(events: &'a [Value], t: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event_type"] == t).collect()
}

fn decoder(events: &[Value]) -> Value {
    of_type(events, "stats")
        .last()
        .map(|s| s["stats"]["decoder"].clone())
        .unwrap()
}

fn icmp_echo(ty: u8, src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::new();
    let b = etherparse::PacketBuilder::ipv4(src, dst, 64);
    let b = if ty == 8 {
        b.icmpv4_echo_request(7, 1)
    } else {
        b.icmpv4_echo_reply(7, 1)
    };
    b.write(&mut out, b"ping data").unwrap();
    out
}

fn udp_frame(sport: u16, dport: u16, src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4(src, dst, 64)
        .udp(sport, dport)
        .write(&mut out, payload)
        .unwrap();
    out
}

fn ip_frame(proto: u8, src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4(src, dst, 64)
        .write(&mut out, etherparse::IpNumber(proto), payload)
        .unwrap();
    out
}

fn vxlan(inner_ip: &[u8]) -> Vec<u8> {
    let mut v = vec![0x08, 0, 0, 0, 0, 0, 42, 0];
    v.extend_from_slice(&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00]);
    v.extend_from_slice(inner_ip);
    v
}

const ECHO_RULE: &str = "alert icmp any any -> any any (msg:\"echo\"; itype:8; sid:1;)\n";

#[test]
fn vxlan_inner_flow_alerts_with_tunnel_object() {
    let (a, b) = ([192, 0, 2, 1], [192, 0, 2, 2]);
    let (x, y) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    let frames = vec![
        udp_frame(40000, 4789, a, b, &vxlan(&icmp_echo(8, x, y))),
        udp_frame(40001, 4789, b, a, &vxlan(&icmp_echo(0, y, x))),
    ];
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("vxlan.pcap");
    std::fs::write(&pcap, pcap_bytes(&frames)).unwrap();
    let events = replay(&pcap, ECHO_RULE, "1");

    let alerts = of_type(&events, "alert");
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let alert = alerts[0];
    assert_eq!(alert["src_ip"], "10.0.0.1");
    assert_eq!(alert["pkt_src"], "vxlan encapsulation");
    assert!(
        alert.get("pcap_cnt").is_none(),
        "Suricata: only tunnel.pcap_cnt"
    );
    let t = &alert["tunnel"];
    assert_eq!(t["src_ip"], "192.0.2.1");
    assert_eq!(t["dest_port"], 4789);
    assert_eq!(t["proto"], "UDP");
    assert_eq!(t["depth"], 1);
    assert_eq!(t["pcap_cnt"], 1);

    let flows = of_type(&events, "flow");
    let inner: Vec<_> = flows.iter().filter(|f| f["proto"] == "ICMP").collect();
    assert_eq!(inner.len(), 1);
    assert_eq!(inner[0]["flow"]["pkts_toserver"], 1);
    assert_eq!(inner[0]["flow"]["pkts_toclient"], 1);
    // Suricata counts a VXLAN inner packet from its IP header.
    assert_eq!(inner[0]["flow"]["bytes_toserver"], 20 + 8 + 9);
    let outer = flows.iter().filter(|f| f["dest_port"] == 4789).count();
    assert_eq!(
        outer, 2,
        "each direction's outer datagram is a flow of its own"
    );
    assert_eq!(decoder(&events)["vxlan"], 2);
}

#[test]
fn gre_outer_packet_has_no_flow_inner_one_does() {
    let (a, b) = ([192, 0, 2, 1], [192, 0, 2, 2]);
    let (x, y) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    let gre = |ip: Vec<u8>| [&[0u8, 0, 0x08, 0x00][..], &ip].concat();
    let frames = vec![
        ip_frame(47, a, b, &gre(icmp_echo(8, x, y))),
        ip_frame(47, b, a, &gre(icmp_echo(0, y, x))),
        // A broken GRE header: counted, the outer packet still inspected.
        ip_frame(47, a, b, &[0xb0, 0, 0x08, 0]),
    ];
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("gre.pcap");
    std::fs::write(&pcap, pcap_bytes(&frames)).unwrap();
    let rules =
        format!("{ECHO_RULE}alert ip any any -> any any (msg:\"gre\"; ip_proto:47; sid:2;)\n");
    let events = replay(&pcap, &rules, "1");
    let flows = of_type(&events, "flow");
    assert_eq!(flows.len(), 1, "{flows:?}");
    assert_eq!(flows[0]["proto"], "ICMP");
    let sids: Vec<_> = of_type(&events, "alert")
        .iter()
        .map(|a| a["alert"]["signature_id"].as_u64().unwrap())
        .collect();
    assert_eq!(sids.iter().filter(|s| **s == 2).count(), 3);
    assert_eq!(sids.iter().filter(|s| **s == 1).count(), 1);
    let d = decoder(&events);
    assert_eq!(d["gre"], 2);
    assert_eq!(d["tunnel_invalid"], 1);
}

/// The corpus's VXLAN and GENEVE cases, with Suricata-verify's expectations, and the same
/// events whatever the number of workers.
#[test]
fn corpus_vxlan_and_geneve() {
    let Some(corpus) = corpus_dir() else { return };
    let tests = corpus.join("suricata-verify/tests");
    for workers in ["1", "3"] {
        let events = replay(
            &tests.join("vxlan-decoder-02/vxlan.pcap"),
            ECHO_RULE,
            workers,
        );
        let flows = of_type(&events, "flow");
        let icmp: Vec<_> = flows.iter().filter(|f| f["proto"] == "ICMP").collect();
        assert_eq!(icmp.len(), 1);
        assert_eq!(icmp[0]["flow"]["pkts_toserver"], 4);
        assert_eq!(icmp[0]["flow"]["pkts_toclient"], 4);
        assert_eq!(
            flows.iter().filter(|f| f["dest_port"] == 4789).count(),
            4,
            "workers {workers}"
        );
        let alerts = of_type(&events, "alert");
        assert_eq!(alerts.len(), 4);
        assert!(alerts.iter().all(|a| a["tunnel"]["dest_port"] == 4789));
        assert_eq!(decoder(&events)["vxlan"], 10);
    }
    let events = replay(&tests.join("geneve-decoder/input.pcap"), "", "1");
    let icmp: Vec<_> = of_type(&events, "flow")
        .into_iter()
        .filter(|f| f["proto"] == "ICMP")
        .collect();
    assert_eq!(icmp.len(), 1);
    assert_eq!(icmp[0]["flow"]["bytes_toserver"], 392);
    assert_eq!(icmp[0]["flow"]["bytes_toclient"], 392);
    assert!(decoder(&events)["geneve"].as_u64().unwrap() >= 8);
}

/// Teredo, PPTP-style GRE/PPP with fragments inside, and a Linux SLL capture whose ARPHRD
/// type etherparse refused: decoded without errors, flows as Suricata 7 logs them.
#[test]
fn corpus_teredo_gre_and_sll() {
    let Some(corpus) = corpus_dir() else { return };
    let tests = corpus.join("suricata-verify/tests");
    let events = replay(&tests.join("decode-teredo-01/input.pcap"), "", "1");
    assert_eq!(of_type(&events, "flow").len(), 12, "as Suricata 7.0.10");
    let d = decoder(&events);
    assert!(d["teredo"].as_u64().unwrap() > 0);
    assert_eq!(d["invalid"], 0);

    let events = replay(&tests.join("bug-5633-gre-02/gre-sample.pcap"), "", "1");
    assert!(of_type(&events, "flow").iter().all(|f| f["proto"] != "GRE"));
    assert!(of_type(&events, "flow")
        .iter()
        .any(|f| f["dest_port"] == 22));
    assert_eq!(decoder(&events)["gre"], 40);

    let events = replay(
        &tests.join("defrag/bug-6942-6887-defrag-eth-ip-gre-ppp-ip-udp-data/eth-ip-gre-ppp-max-ip-packet.pcap"),
        "",
        "1",
    );
    let d = decoder(&events);
    assert_eq!(
        (d["gre"].as_u64(), d["ppp"].as_u64()),
        (Some(1024), Some(1024))
    );
    let s = &of_type(&events, "stats")[0]["stats"]["defrag"];
    assert_eq!(
        s["ipv4"]["fragments"], 1024,
        "inner fragments reach the defragmenter"
    );

    // PPPoE over QinQ, some frames with a PPPoE length shorter than their IP packet.
    let events = replay(&corpus.join("pcaps/zeek/pppoe-over-qinq.pcap"), "", "1");
    let d = decoder(&events);
    assert_eq!(
        (d["pppoe"].clone(), d["invalid"].clone()),
        (d["pkts"].clone(), 0.into())
    );
    let flows = of_type(&events, "flow");
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[0]["flow"]["pkts_toclient"], 42, "as Suricata 7.0.10");

    let events = replay(&corpus.join("pcaps/ndpi/KakaoTalk_chat.pcap"), "", "1");
    let d = decoder(&events);
    assert_eq!(d["sll"], d["pkts"]);
    assert_eq!(d["invalid"], 0);
    assert_eq!(of_type(&events, "flow").len(), 38, "as Suricata 7.0.10");
}
