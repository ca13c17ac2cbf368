//! `sensor run` on a real interface: two network namespaces made by the test and joined by a
//! veth pair, the daemon capturing on one end, the bundled demo capture sent from the other
//! by our own sender (libpcap's inject, run in the sender's namespace by re-executing this
//! test binary), and a real mosquitto in the capture namespace (the daemon cannot reach a
//! broker outside its namespace, so the uplink's test-broker helpers, which start on the
//! host's loopback, do not fit; mosquitto and mosquitto_sub are started the same way here).
//!
//! Needs root (namespaces, raw sockets) and `ip`; skips with a message otherwise. Everything
//! it creates (namespaces, processes) is removed by Drop guards, whatever happens.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{demo_dir, replay_eve, run_sensor, sensor_bin};

const SENDER_ENV: &str = "SENSOR_LIVE_TEST_SENDER";

/// The sender, when this binary is re-executed inside the sender's namespace: injects every
/// frame of the capture `$SENSOR_LIVE_TEST_SENDER=iface,pcap,rounds` with libpcap.
#[test]
fn sender_helper() {
    let Ok(spec) = std::env::var(SENDER_ENV) else {
        return;
    };
    let mut parts = spec.split(',');
    let (iface, pcap_path, rounds) = (
        parts.next().unwrap().to_string(),
        parts.next().unwrap().to_string(),
        parts.next().unwrap_or("1").parse::<usize>().unwrap(),
    );
    let mut out = pcap::Capture::from_device(iface.as_str())
        .unwrap()
        .open()
        .unwrap();
    for _ in 0..rounds {
        let mut file = pcap::Capture::from_file(&pcap_path).unwrap();
        while let Ok(p) = file.next_packet() {
            out.sendpacket(p.data).unwrap();
            // A short pause keeps the demo's order within each flow obvious to read in a
            // capture of the veth; the ring would hold the burst anyway.
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

fn root_or_skip(name: &str) -> bool {
    if sensor::sys::euid() != 0
        || !Path::new("/usr/sbin/ip").exists() && !Path::new("/sbin/ip").exists()
    {
        if std::env::var("CI").is_ok_and(|v| v == "true") && sensor::sys::euid() == 0 {
            panic!("{name}: `ip` is required under CI=true");
        }
        eprintln!("SKIP {name}: needs root and iproute2 (network namespaces, raw sockets)");
        return false;
    }
    true
}

fn sh(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two namespaces joined by a veth pair (`cap` in the first, `snd` in the second); deleted
/// on drop together with every process started in them through [`Netns::spawn`].
struct Netns {
    cap: String,
    snd: String,
    children: Vec<Child>,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl Netns {
    fn new() -> Netns {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}-{n}", std::process::id());
        let ns = Netns {
            cap: format!("sens-cap-{id}"),
            snd: format!("sens-snd-{id}"),
            children: Vec::new(),
        };
        sh(&["ip", "netns", "add", &ns.cap]);
        sh(&["ip", "netns", "add", &ns.snd]);
        sh(&[
            "ip", "link", "add", "cap0", "netns", &ns.cap, "type", "veth", "peer", "name", "snd0",
            "netns", &ns.snd,
        ]);
        for (netns, dev) in [(&ns.cap, "cap0"), (&ns.snd, "snd0")] {
            // No IPv6 autoconfiguration chatter: the only frames on the wire are the test's.
            for key in ["all", "default", dev] {
                sh(&[
                    "ip",
                    "netns",
                    "exec",
                    netns,
                    "sysctl",
                    "-qw",
                    &format!("net.ipv6.conf.{key}.disable_ipv6=1"),
                ]);
            }
            sh(&["ip", "-n", netns, "link", "set", "lo", "up"]);
            sh(&["ip", "-n", netns, "link", "set", dev, "up"]);
        }
        ns
    }

    /// A second veth pair, `cap1` / `snd1`.
    fn add_pair(&self) {
        sh(&[
            "ip", "link", "add", "cap1", "netns", &self.cap, "type", "veth", "peer", "name",
            "snd1", "netns", &self.snd,
        ]);
        sh(&[
            "ip",
            "netns",
            "exec",
            &self.cap,
            "sysctl",
            "-qw",
            "net.ipv6.conf.cap1.disable_ipv6=1",
        ]);
        sh(&[
            "ip",
            "netns",
            "exec",
            &self.snd,
            "sysctl",
            "-qw",
            "net.ipv6.conf.snd1.disable_ipv6=1",
        ]);
        sh(&["ip", "-n", &self.cap, "link", "set", "cap1", "up"]);
        sh(&["ip", "-n", &self.snd, "link", "set", "snd1", "up"]);
    }

    fn exec(&self, netns: &str, prog: &Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", netns]).arg(prog);
        c
    }

    fn spawn(&mut self, mut c: Command) -> u32 {
        let child = c.spawn().unwrap();
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// Sends the capture `rounds` times from the sender namespace.
    fn send(&self, pcap: &Path, rounds: usize) {
        self.send_on("snd0", pcap, rounds);
    }

    /// Sends the capture `rounds` times on sender interface `dev`.
    fn send_on(&self, dev: &str, pcap: &Path, rounds: usize) {
        let exe = std::env::current_exe().unwrap();
        let out = self
            .exec(&self.snd, &exe)
            .args([
                "--exact",
                "sender_helper",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(SENDER_ENV, format!("{dev},{},{rounds}", pcap.display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "sender: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in [&self.cap, &self.snd] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// A world-writable scratch directory (the daemon runs as `nobody`).
fn scratch() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::Builder::new()
        .prefix("sensor-live-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    d
}

type AlertKey = (u64, String, u64, String, u64, String);

fn alerts(eve: &str) -> BTreeMap<AlertKey, usize> {
    let mut m = BTreeMap::new();
    for line in eve.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v["event_type"] != "alert" {
            continue;
        }
        let key = (
            v["alert"]["signature_id"].as_u64().unwrap(),
            v["src_ip"].as_str().unwrap_or("").to_string(),
            v["src_port"].as_u64().unwrap_or(0),
            v["dest_ip"].as_str().unwrap_or("").to_string(),
            v["dest_port"].as_u64().unwrap_or(0),
            v["proto"].as_str().unwrap_or("").to_string(),
        );
        *m.entry(key).or_insert(0) += 1;
    }
    m
}

fn by_sid(a: &BTreeMap<AlertKey, usize>) -> BTreeMap<u64, usize> {
    let mut m = BTreeMap::new();
    for (k, n) in a {
        *m.entry(k.0).or_insert(0) += n;
    }
    m
}

/// `sensor replay` of the demo capture with `rules`: the reference alerts.
fn replay_alerts(rules: &Path) -> BTreeMap<AlertKey, usize> {
    let (out, eve) = replay_eve(rules, "live-1", &[], &demo_dir().join("demo.pcap"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    alerts(&eve)
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

fn signal(pid: u32, sig: &str) {
    sh(&["kill", &format!("-{sig}"), &pid.to_string()]);
}

/// The daemon's process: started in the capture namespace, its log in a file.
struct Daemon {
    pid: u32,
    log: PathBuf,
}

fn start_daemon(ns: &mut Netns, config: &Path, log: PathBuf) -> Daemon {
    start_daemon_env(ns, config, log, &[])
}

fn start_daemon_env(ns: &mut Netns, config: &Path, log: PathBuf, env: &[(&str, &Path)]) -> Daemon {
    let mut c = ns.exec(&ns.cap.clone(), &sensor_bin());
    c.envs(env.iter().copied());
    c.args(["run", "--config", config.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    let pid = ns.spawn(c);
    let d = Daemon { pid, log };
    wait_for("sensor running", Duration::from_secs(20), || {
        read(&d.log).contains("sensor running")
    });
    d
}

/// Waits for the daemon to exit and returns its exit code.
fn stop_daemon(ns: &mut Netns, d: &Daemon) -> Option<i32> {
    signal(d.pid, "TERM");
    let start = Instant::now();
    let child = ns.children.iter_mut().find(|c| c.id() == d.pid).unwrap();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st.code();
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "daemon did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The last EVE `stats` record.
fn last_stats(eve: &str) -> serde_json::Value {
    eve.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event_type"] == "stats")
        .expect("a stats record")
}

fn config(dir: &Path, backend: &str, workers: usize, extra_iface: &str, extra: &str) -> PathBuf {
    let rules = dir.join("live.rules");
    if !rules.exists() {
        std::fs::copy(demo_dir().join("demo.rules"), &rules).unwrap();
    }
    let text = format!(
        r#"[sensor]
id = "live-1"
user = "nobody"
shutdown_timeout = 10

[log]
health_interval = 1

[stats]
interval = 1

[rules]
paths = ["{rules}"]

[eve]
path = "{eve}"

{extra}

[[interface]]
name = "cap0"
backend = "{backend}"
workers = {workers}
block_size = 65536
ring_size = 1048576
{extra_iface}
"#,
        rules = rules.display(),
        eve = dir.join("eve.json").display(),
    );
    let p = dir.join("sensor.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// A mosquitto and a subscriber to `cirt/#` inside the capture namespace; returns the received
/// lines.
fn broker(ns: &mut Netns, dir: &Path) -> Arc<Mutex<Vec<String>>> {
    broker_with(ns, dir, &["cirt/#"])
}

/// [`broker`] with the subscriber's topic filters (they must cover `cirt/probe`, which is how
/// readiness is seen; binary payloads end the reader, so leave out topics carrying them).
fn broker_with(ns: &mut Netns, dir: &Path, topics: &[&str]) -> Arc<Mutex<Vec<String>>> {
    use std::os::unix::fs::PermissionsExt;
    let conf = dir.join("mosquitto.conf");
    std::fs::write(&conf, "listener 1883 127.0.0.1\nallow_anonymous true\n").unwrap();
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut c = ns.exec(&ns.cap.clone(), Path::new("/usr/sbin/mosquitto"));
    c.args(["-c", conf.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    ns.spawn(c);
    let cap = ns.cap.clone();
    let publish_probe = || {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &cap,
                "/usr/bin/mosquitto_pub",
                "-h",
                "127.0.0.1",
                "-p",
                "1883",
                "-t",
                "cirt/probe",
                "-m",
                "x",
            ])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    wait_for("mosquitto", Duration::from_secs(20), publish_probe);
    let mut sub = ns.exec(&ns.cap.clone(), Path::new("/usr/bin/mosquitto_sub"));
    sub.args(["-h", "127.0.0.1", "-p", "1883", "-q", "1", "-v"]);
    for t in topics {
        sub.args(["-t", t]);
    }
    sub.stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = sub.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    ns.children.push(child);
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(l);
        }
    });
    // Ready once a probe published through the broker reaches the subscriber.
    wait_for("the subscriber", Duration::from_secs(20), || {
        publish_probe();
        std::thread::sleep(Duration::from_millis(100));
        lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with("cirt/probe"))
    });
    lines
}

fn mqtt_alerts(lines: &Mutex<Vec<String>>) -> BTreeMap<AlertKey, usize> {
    let text: String = lines
        .lock()
        .unwrap()
        .iter()
        .filter_map(|l| l.strip_prefix("cirt/live-1/events/alert "))
        .map(|p| format!("{p}\n"))
        .collect();
    alerts(&text)
}

/// Two frames of new flows: a UDP datagram with the RECON-PROBE marker from `port`, and an
/// ICMP echo carrying the EXFIL marker from the home network (demo sid 9000006).
fn probe_pcap(dir: &Path, name: &str, port: u16) -> PathBuf {
    let mut udp = Vec::new();
    etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4([10, 0, 0, 7], [203, 0, 113, 7], 64)
        .udp(port, 9999)
        .write(&mut udp, b"xxRECON-PROBExx")
        .unwrap();
    let mut icmp = Vec::new();
    etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4([10, 0, 0, 7], [203, 0, 113, 8], 64)
        .icmpv4_echo_request(port, 1)
        .write(&mut icmp, b"EXFIL:secret")
        .unwrap();
    let p = dir.join(name);
    std::fs::write(&p, common::pcap_bytes(&[udp, icmp])).unwrap();
    p
}

fn total(a: &BTreeMap<AlertKey, usize>) -> usize {
    a.values().sum()
}

/// af-packet with two workers: alerts equal replay's, on disk and at the broker; SIGHUP with
/// changed rules takes effect; broken rules are refused and the old set keeps matching;
/// SIGTERM exits 0 with kernel packets = processed + drops.
#[test]
fn af_packet_two_workers_end_to_end() {
    if !root_or_skip("af_packet_two_workers_end_to_end")
        || !uplink::test_broker::mosquitto_or_skip("af_packet_two_workers_end_to_end")
    {
        return;
    }
    if !Path::new("/usr/bin/mosquitto_sub").exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "mosquitto_sub (mosquitto-clients) is required under CI=true"
        );
        eprintln!("SKIP af_packet_two_workers_end_to_end: mosquitto-clients not installed");
        return;
    }
    let mut ns = Netns::new();
    let dir = scratch();
    let mqtt = broker(&mut ns, dir.path());
    let uplink = format!(
        "[uplink]\nspool_dir = \"{}\"\n[[uplink.destination]]\nname = \"national\"\nurl = \"mqtt://127.0.0.1:1883\"\nallow_plaintext = true\n",
        dir.path().join("spool").display()
    );
    let cfg = config(dir.path(), "af-packet", 2, "", &uplink);
    let eve = dir.path().join("eve.json");
    let d = start_daemon(&mut ns, &cfg, dir.path().join("sensor.log"));
    let log = read(&d.log);
    assert!(log.contains("privileges dropped"), "{log}");
    // Running as nobody with CAP_NET_RAW (bit 13) and nothing else, in every thread.
    let tasks = std::fs::read_dir(format!("/proc/{}/task", d.pid)).unwrap();
    for task in tasks {
        let status = read(&task.unwrap().path().join("status"));
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap()
                .to_string()
        };
        assert_eq!(field("Uid:"), "65534", "{status}");
        assert_eq!(field("CapEff:"), "0000000000002000", "{status}");
        assert_eq!(field("CapPrm:"), "0000000000002000", "{status}");
    }

    // Round 1: the demo capture, alerts as in `sensor replay`.
    let demo = demo_dir().join("demo.pcap");
    let want = replay_alerts(&dir.path().join("live.rules"));
    assert!(total(&want) >= 9, "{want:?}");
    ns.send(&demo, 1);
    wait_for("live alerts", Duration::from_secs(20), || {
        total(&alerts(&read(&eve))) >= total(&want)
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        alerts(&read(&eve)),
        want,
        "live alerts differ from replay's"
    );
    wait_for("alerts at the broker", Duration::from_secs(20), || {
        total(&mqtt_alerts(&mqtt)) >= total(&want)
    });
    assert_eq!(mqtt_alerts(&mqtt), want, "MQTT alerts differ from replay's");

    // Round 2: SIGHUP with one rule removed (9000006, ICMP EXFIL) and one added (9100001).
    // New flows each round: the demo's own flows are still open in the workers.
    let rules = dir.path().join("live.rules");
    let old = std::fs::read_to_string(&rules).unwrap();
    let mut new: String = old
        .lines()
        .filter(|l| !l.contains("sid:9000006;"))
        .map(|l| format!("{l}\n"))
        .collect();
    new.push_str("alert udp any any -> any any (msg:\"LIVE reloaded probe\"; content:\"RECON-PROBE\"; sid:9100001; rev:1;)\n");
    std::fs::write(&rules, &new).unwrap();
    signal(d.pid, "HUP");
    wait_for("reload", Duration::from_secs(20), || {
        read(&d.log).contains("reload: ")
    });
    let base = by_sid(&alerts(&read(&eve)));
    let round2 = probe_pcap(dir.path(), "round2.pcap", 40_001);
    ns.send(&round2, 1);
    let mut expected = base.clone();
    *expected.entry(9_000_007).or_insert(0) += 1;
    *expected.entry(9_100_001).or_insert(0) += 1;
    wait_for("alerts after reload", Duration::from_secs(20), || {
        by_sid(&alerts(&read(&eve))) == expected
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        by_sid(&alerts(&read(&eve))),
        expected,
        "after SIGHUP (no 9000006 any more)"
    );

    // Round 3: a broken rule file is refused; the round-2 set keeps matching.
    std::fs::write(
        &rules,
        format!("{new}alert tcp any any -> any any (msg:\"broken\"; content:; sid:1;)\n"),
    )
    .unwrap();
    signal(d.pid, "HUP");
    wait_for("refused reload", Duration::from_secs(20), || {
        read(&d.log).contains("reload refused")
    });
    let round3 = probe_pcap(dir.path(), "round3.pcap", 40_002);
    ns.send(&round3, 1);
    *expected.entry(9_000_007).or_insert(0) += 1;
    *expected.entry(9_100_001).or_insert(0) += 1;
    wait_for(
        "alerts after refused reload",
        Duration::from_secs(20),
        || by_sid(&alerts(&read(&eve))) == expected,
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        by_sid(&alerts(&read(&eve))),
        expected,
        "after a refused reload"
    );

    // SIGTERM: clean exit, counters add up.
    assert_eq!(stop_daemon(&mut ns, &d), Some(0), "{}", read(&d.log));
    let stats = last_stats(&read(&eve));
    let s = &stats["stats"];
    let pkts = s["decoder"]["pkts"].as_u64().unwrap();
    let kernel = s["capture"]["kernel_packets"].as_u64().unwrap();
    let drops = s["capture"]["kernel_drops"].as_u64().unwrap();
    assert_eq!(kernel, pkts + drops, "{stats}");
    assert_eq!(pkts + drops, 104 + 2 + 2, "{stats}");
    assert!(read(&d.log).contains("sensor stopped"));
}

/// Idle flows end on the wall clock, without a packet to sweep them (UDP/ICMP: 30 s).
#[test]
fn idle_flows_time_out_without_packets() {
    if !root_or_skip("idle_flows_time_out_without_packets") {
        return;
    }
    let mut ns = Netns::new();
    let dir = scratch();
    let cfg = config(dir.path(), "af-packet", 1, "", "");
    let eve = dir.path().join("eve.json");
    let d = start_daemon(&mut ns, &cfg, dir.path().join("sensor.log"));
    ns.send(&probe_pcap(dir.path(), "idle.pcap", 40_100), 1);
    let timed_out = || {
        read(&eve)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["event_type"] == "flow" && v["flow"]["reason"] == "timeout")
            .count()
    };
    wait_for("flow timeouts", Duration::from_secs(50), || {
        timed_out() == 2
    });
    assert_eq!(stop_daemon(&mut ns, &d), Some(0), "{}", read(&d.log));
}

/// libpcap backend: the same alerts as replay, and a clean SIGTERM.
#[test]
fn pcap_backend_matches_replay() {
    if !root_or_skip("pcap_backend_matches_replay") {
        return;
    }
    let mut ns = Netns::new();
    let dir = scratch();
    let cfg = config(dir.path(), "pcap", 1, "", "");
    let eve = dir.path().join("eve.json");
    // systemd's notification socket, writable by the unprivileged daemon.
    let notify_path = dir.path().join("notify");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&notify_path, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    notify
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let d = start_daemon_env(
        &mut ns,
        &cfg,
        dir.path().join("sensor.log"),
        &[("NOTIFY_SOCKET", &notify_path)],
    );
    let mut buf = [0u8; 256];
    let n = notify.recv(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("READY=1"));
    let want = replay_alerts(&dir.path().join("live.rules"));
    ns.send(&demo_dir().join("demo.pcap"), 1);
    wait_for("live alerts", Duration::from_secs(20), || {
        total(&alerts(&read(&eve))) >= total(&want)
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(alerts(&read(&eve)), want);
    assert_eq!(stop_daemon(&mut ns, &d), Some(0), "{}", read(&d.log));
    let n = notify.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"STOPPING=1");
    let stats = last_stats(&read(&eve));
    let s = &stats["stats"];
    assert_eq!(
        s["capture"]["kernel_packets"].as_u64().unwrap(),
        s["decoder"]["pkts"].as_u64().unwrap() + s["capture"]["kernel_drops"].as_u64().unwrap(),
        "{stats}"
    );
}

/// Two interfaces at once, each with its own backend and workers.
#[test]
fn two_interfaces_at_once() {
    if !root_or_skip("two_interfaces_at_once") {
        return;
    }
    let mut ns = Netns::new();
    ns.add_pair();
    let dir = scratch();
    let second = "[[interface]]\nname = \"cap1\"\nbackend = \"pcap\"\nworkers = 1\n";
    let cfg = config(dir.path(), "af-packet", 2, "", "");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("{text}\n{second}")).unwrap();
    let eve = dir.path().join("eve.json");
    let d = start_daemon(&mut ns, &cfg, dir.path().join("sensor.log"));
    let want = replay_alerts(&dir.path().join("live.rules"));
    ns.send_on("snd0", &demo_dir().join("demo.pcap"), 1);
    ns.send_on("snd1", &probe_pcap(dir.path(), "second.pcap", 40_200), 1);
    let mut expected = by_sid(&want);
    *expected.entry(9_000_006).or_insert(0) += 1;
    *expected.entry(9_000_007).or_insert(0) += 1;
    wait_for(
        "alerts from both interfaces",
        Duration::from_secs(20),
        || by_sid(&alerts(&read(&eve))) == expected,
    );
    assert_eq!(stop_daemon(&mut ns, &d), Some(0), "{}", read(&d.log));
    let stats = last_stats(&read(&eve));
    assert_eq!(
        stats["stats"]["decoder"]["pkts"].as_u64(),
        Some(104 + 2),
        "{stats}"
    );
}

/// A BPF filter keeps everything outside it away from the workers, in both backends.
#[test]
fn bpf_filter_keeps_other_traffic_out() {
    if !root_or_skip("bpf_filter_keeps_other_traffic_out") {
        return;
    }
    for backend in ["af-packet", "pcap"] {
        let mut ns = Netns::new();
        let dir = scratch();
        let cfg = config(dir.path(), backend, 2, "filter = \"tcp\"", "");
        let eve = dir.path().join("eve.json");
        let d = start_daemon(&mut ns, &cfg, dir.path().join("sensor.log"));
        ns.send(&demo_dir().join("demo.pcap"), 1);
        // Only the TCP sids of the demo may fire.
        wait_for("tcp alerts", Duration::from_secs(20), || {
            by_sid(&alerts(&read(&eve))).contains_key(&9_000_001)
        });
        assert_eq!(stop_daemon(&mut ns, &d), Some(0), "{}", read(&d.log));
        let text = read(&eve);
        let sids = by_sid(&alerts(&text));
        for udp_or_icmp in [9_000_005, 9_000_006, 9_000_007] {
            assert!(!sids.contains_key(&udp_or_icmp), "{backend}: {sids:?}");
        }
        let stats = last_stats(&text);
        let dec = &stats["stats"]["decoder"];
        assert!(dec["tcp"].as_u64().unwrap() > 0, "{backend}: {stats}");
        assert_eq!(
            dec["pkts"], dec["tcp"],
            "{backend}: only TCP reached the workers: {stats}"
        );
        assert_eq!(dec["udp"].as_u64(), Some(0), "{backend}");
    }
}

/// Root without a user to become is refused before anything is opened.
#[test]
fn refuses_to_run_as_root_unless_told() {
    if sensor::sys::euid() != 0 {
        eprintln!("SKIP refuses_to_run_as_root_unless_told: needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("s.toml");
    std::fs::write(&cfg, "[[interface]]\nname = \"lo\"\n").unwrap();
    let out = run_sensor(&["run", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to run as root"), "{err}");
}

/// `sensor config check` prints the effective configuration or the error with its line.
#[test]
fn config_check_reports_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("t.toml");
    std::fs::write(
        &cfg,
        "[[interface]]\nname = \"a\"\n\n[[interface]]\nname = \"b\"\nworkers = 0\n",
    )
    .unwrap();
    let out = run_sensor(&["config", "check", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("t.toml:6: interface[1].workers: must be 1..=64"),
        "{err}"
    );
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sensor.toml");
    let out = run_sensor(&["config", "check", example.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("[[uplink.destination]]") && printed.contains("backend = \"af-packet\""),
        "{printed}"
    );
}

/// `sensor keygen --out dir/name`: the public key file.
fn keygen(dir: &Path, name: &str) -> PathBuf {
    let prefix = dir.join(name);
    let out = run_sensor(&["keygen", "--out", prefix.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    prefix.with_extension("pub")
}

/// `sensor rules bundle create` of `files` (name, text), signed with `key_prefix`.key.
fn make_bundle(dir: &Path, key_pub: &Path, version: &str, files: &[(&str, &str)]) -> PathBuf {
    let src = dir.join(format!("src-{version}"));
    std::fs::create_dir_all(&src).unwrap();
    let out_path = dir.join(format!("{version}.bundle"));
    let key = key_pub.with_extension("key");
    let mut args = vec![
        "rules".to_string(),
        "bundle".into(),
        "create".into(),
        "--key".into(),
        key.to_str().unwrap().into(),
        "--version".into(),
        version.into(),
        "--out".into(),
        out_path.to_str().unwrap().into(),
    ];
    for (name, text) in files {
        let p = src.join(name);
        std::fs::write(&p, text).unwrap();
        args.push(p.to_str().unwrap().into());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_sensor(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out_path
}

/// Publishes a bundle retained with MQTT 5, as a CIRT would, inside the capture namespace.
fn publish_bundle(ns: &Netns, bundle: &Path) {
    sh(&[
        "ip",
        "netns",
        "exec",
        &ns.cap,
        "/usr/bin/mosquitto_pub",
        "-V",
        "5",
        "-h",
        "127.0.0.1",
        "-p",
        "1883",
        "-q",
        "1",
        "-r",
        "-t",
        "cirt/live-1/cmd/rules",
        "-f",
        bundle.to_str().unwrap(),
    ]);
}

/// The command results received so far.
fn results(lines: &Mutex<Vec<String>>) -> Vec<serde_json::Value> {
    lines
        .lock()
        .unwrap()
        .iter()
        .filter_map(|l| l.strip_prefix("cirt/live-1/cmd/result "))
        .filter_map(|p| serde_json::from_str(p).ok())
        .collect()
}

/// Remote rule updates end to end: a daemon with `commands = true` takes a retained bundle
/// signed with a `sensor keygen` key (result `applied`, its new rule fires on traffic sent
/// afterwards); a bundle signed by an unknown key and one with a broken rule file are
/// rejected with a reason, and the running rules keep firing.
#[test]
fn signed_rule_bundles_over_mqtt() {
    let name = "signed_rule_bundles_over_mqtt";
    if !root_or_skip(name) || !uplink::test_broker::mosquitto_or_skip(name) {
        return;
    }
    if !Path::new("/usr/bin/mosquitto_sub").exists()
        || !Path::new("/usr/bin/mosquitto_pub").exists()
    {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "mosquitto-clients are required under CI=true"
        );
        eprintln!("SKIP {name}: mosquitto-clients not installed");
        return;
    }
    let mut ns = Netns::new();
    let dir = scratch();
    let mqtt = broker_with(
        &mut ns,
        dir.path(),
        &["cirt/probe", "cirt/live-1/cmd/result"],
    );
    let trusted = keygen(dir.path(), "cirt");
    let stranger = keygen(dir.path(), "stranger");
    let uplink = format!(
        "[uplink]\nspool_dir = \"{spool}\"\n[[uplink.destination]]\nname = \"national\"\nurl = \"mqtt://127.0.0.1:1883\"\nallow_plaintext = true\nprotocol = \"5\"\ncommands = true\n[uplink.destination.batch]\nlinger_ms = 50\n",
        spool = dir.path().join("spool").display(),
    );
    let cfg = config(dir.path(), "af-packet", 1, "", &uplink);
    // [rules] is written by `config`; the bundle settings go into that table.
    let text = read(&cfg).replacen(
        "[rules]\n",
        &format!(
            "[rules]\nbundle_keys = [\"{}\"]\nbundle_dir = \"{}\"\n",
            trusted.display(),
            dir.path().join("bundles").display()
        ),
        1,
    );
    std::fs::write(&cfg, text).unwrap();
    let eve = dir.path().join("eve.json");
    let d = start_daemon(&mut ns, &cfg, dir.path().join("sensor.log"));
    assert!(
        read(&d.log).contains("taking signed rule bundles"),
        "{}",
        read(&d.log)
    );

    // Before any bundle: the demo rules (9000007 on the UDP probe, 9000006 on the ICMP one).
    let mut expected = by_sid(&alerts(&read(&eve)));
    let probe = |port: u16, expected: &BTreeMap<u64, usize>, what: &str| {
        let pcap = probe_pcap(dir.path(), &format!("probe-{port}.pcap"), port);
        ns.send(&pcap, 1);
        wait_for(what, Duration::from_secs(15), || {
            by_sid(&alerts(&read(&eve))) == *expected
        });
    };
    *expected.entry(9_000_006).or_insert(0) += 1;
    *expected.entry(9_000_007).or_insert(0) += 1;
    probe(41_000, &expected, "alerts of the configured rules");

    // A bundle signed with the trusted key: the demo rules plus a new one.
    let demo_rules = read(&demo_dir().join("demo.rules"));
    let new_rule = "alert udp any any -> any any (msg:\"BUNDLE probe\"; content:\"RECON-PROBE\"; sid:9200001; rev:1;)\n";
    let v1 = make_bundle(
        dir.path(),
        &trusted,
        "2026.12.06-1",
        &[("demo.rules", &demo_rules), ("new.rules", new_rule)],
    );
    publish_bundle(&ns, &v1);
    wait_for("the applied result", Duration::from_secs(15), || {
        !results(&mqtt).is_empty()
    });
    let r = &results(&mqtt)[0];
    assert_eq!(r["status"], "applied", "{r}");
    assert_eq!(r["version"], "2026.12.06-1", "{r}");
    *expected.entry(9_000_006).or_insert(0) += 1;
    *expected.entry(9_000_007).or_insert(0) += 1;
    *expected.entry(9_200_001).or_insert(0) += 1;
    probe(41_001, &expected, "alerts of the bundle's rules");

    // Signed by a key the sensor does not trust: rejected, the bundle's rules stay.
    let v2 = make_bundle(
        dir.path(),
        &stranger,
        "2026.12.06-2",
        &[(
            "only.rules",
            "alert icmp any any -> any any (msg:\"x\"; sid:9200002;)\n",
        )],
    );
    publish_bundle(&ns, &v2);
    wait_for("the unknown-key result", Duration::from_secs(15), || {
        results(&mqtt).len() >= 2
    });
    let r = &results(&mqtt)[1];
    assert_eq!(r["status"], "rejected", "{r}");
    assert!(r["reason"].as_str().unwrap().contains("refused"), "{r}");

    // Trusted key, but a rule that does not parse: rejected, the bundle's rules stay.
    let v3 = make_bundle(
        dir.path(),
        &trusted,
        "2026.12.06-3",
        &[
            ("demo.rules", &demo_rules),
            (
                "broken.rules",
                "alert tcp any any -> any any (msg:\"broken\"; content:; sid:9200003;)\n",
            ),
        ],
    );
    publish_bundle(&ns, &v3);
    wait_for("the broken-rules result", Duration::from_secs(15), || {
        results(&mqtt).len() >= 3
    });
    let r = &results(&mqtt)[2];
    assert_eq!(r["status"], "rejected", "{r}");
    assert_eq!(r["version"], "2026.12.06-3", "{r}");
    assert!(
        r["reason"].as_str().unwrap().contains("do not parse"),
        "{r}"
    );

    // The running version again (as a retained bundle comes back after a reconnect): answered,
    // not reloaded.
    publish_bundle(&ns, &v1);
    wait_for(
        "the already-running result",
        Duration::from_secs(15),
        || results(&mqtt).len() >= 4,
    );
    let r = &results(&mqtt)[3];
    assert_eq!(r["status"], "applied", "{r}");
    assert!(
        r["reason"].as_str().unwrap().contains("already running"),
        "{r}"
    );
    assert_eq!(read(&d.log).matches("rule bundle applied").count(), 1);

    *expected.entry(9_000_006).or_insert(0) += 1;
    *expected.entry(9_000_007).or_insert(0) += 1;
    *expected.entry(9_200_001).or_insert(0) += 1;
    probe(41_002, &expected, "alerts after two refused bundles");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(by_sid(&alerts(&read(&eve))), expected);
    // Events went out in batches on the same destination and were acknowledged.
    wait_for(
        "batched events acknowledged",
        Duration::from_secs(15),
        || {
            read(&d.log).lines().any(|l| {
                l.split("uplink_acked=")
                    .nth(1)
                    .and_then(|v| v.split(' ').next())
                    .is_some_and(|v| v.parse::<u64>().is_ok_and(|n| n > 0))
            })
        },
    );
    // One unpacked bundle directory: the applied one.
    assert_eq!(
        std::fs::read_dir(dir.path().join("bundles"))
            .unwrap()
            .count(),
        1
    );
    assert_eq!(stop_daemon(&mut ns, &d), Some(0), "{}", read(&d.log));
}
