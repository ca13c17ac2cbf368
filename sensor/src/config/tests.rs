//! Config parsing tests: every key, the effective config round trip, and errors with file:line: key path.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn err(text: &str) -> String {
    Config::parse(text, "t.toml").unwrap_err().to_string()
}

#[test]
fn example_config_is_valid_and_round_trips() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sensor.toml");
    let c = Config::load(&path).unwrap();
    assert_eq!(c.sensor.id, "sensor-01");
    assert_eq!(c.interfaces.len(), 2);
    assert_eq!(c.interfaces[0].workers, 2);
    assert_eq!(c.interfaces[1].backend, Backend::Pcap);
    let up = c.uplink.as_ref().unwrap();
    assert_eq!(up.destinations.len(), 2);
    assert_eq!(up.destinations[1].policy, "summary");
    // The printed effective configuration is itself a valid configuration, equal to it.
    let printed = c.to_toml();
    let again = Config::parse(&printed, "printed").unwrap();
    assert_eq!(again, c, "{printed}");
}

#[test]
fn empty_file_gets_defaults() {
    let c = Config::parse("", "t.toml").unwrap();
    assert_eq!(c.stats.interval, 60);
    assert_eq!(c.log.format, LogFormat::Human);
    assert!(c.interfaces.is_empty());
    assert!(c.uplink.is_none());
    assert!(!c.sensor.allow_root);
}

#[test]
fn bad_values_name_line_and_key() {
    let text = "[sensor]\nid = \"s\"\n\n[[interface]]\nname = \"a\"\n\n[[interface]]\nname = \"b\"\nworkers = 65\n";
    assert_eq!(
        err(text),
        "t.toml:9: interface[1].workers: must be 1..=64 (is 65)"
    );
    let e = err("[[interface]]\nname = \"a\"\nblock_size = 5000\n");
    assert_eq!(
        e,
        "t.toml:3: interface[0].block_size: must be a power of two"
    );
    let e = err("[[interface]]\nname = \"a\"\nring_size = 100000\n");
    assert!(
        e.starts_with("t.toml:3: interface[0].ring_size: must be a multiple"),
        "{e}"
    );
    let e = err("[[interface]]\nname = \"a\"\nfilter = \"port 99999999\"\n");
    assert!(
        e.starts_with("t.toml:3: interface[0].filter: bad filter"),
        "{e}"
    );
    let e = err("[log]\nlevel = \"loud\"\n");
    assert!(e.starts_with("t.toml:2: log.level:"), "{e}");
    let e = err("[stats]\ninterval = -1\n");
    assert!(
        e.starts_with("t.toml:2: stats.interval: must be 0..=86400"),
        "{e}"
    );
    let e = err("[eve]\ntypes = [\"alert\", \"smtp\"]\n");
    assert!(
        e.starts_with("t.toml:2: eve.types: unknown event type \"smtp\""),
        "{e}"
    );
    let e = err("[[interface]]\nname = \"a\"\n[[interface]]\nname = \"a\"\n");
    assert!(e.starts_with("t.toml:4: interface[1].name:"), "{e}");
}

#[test]
fn unknown_keys_and_types_name_line_and_key() {
    let e = err("[sensor]\nid = \"s\"\n\n[[interface]]\nname = \"a\"\n[[interface]]\nname = \"b\"\nworkerz = 2\n");
    assert!(
        e.starts_with("t.toml:8: interface[1].workerz: unknown field `workerz`"),
        "{e}"
    );
    let e = err("[log]\nformat = \"xml\"\n");
    assert!(e.starts_with("t.toml:2: log.format:"), "{e}");
    let e = err("[sensor]\nflow_capacity = \"big\"\n");
    assert!(e.starts_with("t.toml:2: sensor.flow_capacity:"), "{e}");
    let e = err("[bogus]\nx = 1\n");
    assert!(e.starts_with("t.toml:1:"), "{e}");
    assert!(e.contains("unknown field `bogus`"), "{e}");
    let e = err("[sensor\n");
    assert!(e.starts_with("t.toml:1:"), "{e}");
    let e = err("[uplink]\n[[uplink.destination]]\nname = \"n\"\nurl = \"mqtt://h\"\n[uplink.destination.tls]\nca = \"x\"\n");
    assert!(
        e.starts_with("t.toml:6: uplink.destination[0].tls.ca: unknown field"),
        "{e}"
    );
}

#[test]
fn destinations_are_checked_by_the_uplink_rules() {
    let e = err("[uplink]\n[[uplink.destination]]\nname = \"n\"\nurl = \"mqtt://h\"\n");
    assert!(e.starts_with("t.toml:2: uplink.destination[0]:"), "{e}");
    assert!(e.contains("allow_plaintext"), "{e}");
    let ok = "[sensor]\nid = \"s1\"\n[uplink]\nspool_dir = \"/tmp/x\"\n[[uplink.destination]]\nname = \"n\"\nurl = \"mqtt://127.0.0.1:1883\"\nallow_plaintext = true\n[[uplink.destination]]\nname = \"m\"\nurl = \"mqtt://127.0.0.1:1884\"\nallow_plaintext = true\nprotocol = \"5\"\n";
    let c = Config::parse(ok, "t.toml").unwrap();
    let u = c.uplink_config().unwrap().unwrap();
    assert_eq!(u.destinations.len(), 2);
    assert_eq!(u.destinations[1].protocol, uplink::Protocol::V5);
    assert_eq!(u.destinations[0].topic_prefix, "cirt/s1/events");
    let e = err("[uplink]\n[[uplink.destination]]\nname = \"n\"\nurl = \"mqtt://h\"\nallow_plaintext = true\nprotocol = \"4\"\n");
    assert!(
        e.starts_with("t.toml:6: uplink.destination[0].protocol:"),
        "{e}"
    );
    let e = err("[uplink]\n[[uplink.destination]]\nname = \"n\"\nurl = \"mqtt://h\"\nallow_plaintext = true\npolicy = \"summary\"\n");
    assert!(e.contains("uplink.destination[0].summary"), "{e}");
}

#[test]
fn live_diff_separates_live_and_restart_sections() {
    let a = Config::parse("[rules]\npaths = [\"a.rules\"]\n", "t").unwrap();
    let b = Config::parse(
        "[rules]\npaths = [\"b.rules\"]\n[stats]\ninterval = 5\n",
        "t",
    )
    .unwrap();
    let d = b.live_diff(&a);
    assert!(d.rules && d.intervals && d.need_restart.is_empty());
    let c = Config::parse(
        "[rules]\npaths = [\"a.rules\"]\n[[interface]]\nname = \"x\"\n",
        "t",
    )
    .unwrap();
    assert_eq!(c.live_diff(&a).need_restart, vec!["interface"]);
}

#[test]
fn filters_compile_to_bpf() {
    let prog = compile_filter("udp port 53").unwrap();
    assert!(prog.len() > 3);
    // The last instruction of a libpcap program is a return.
    assert_eq!(prog.last().unwrap().code & 0x07, 0x06);
    assert!(compile_filter("no such thing").is_err());
}

#[test]
fn commands_batches_and_bundle_keys() {
    let dest = "[uplink]\nspool_dir = \"/tmp/x/spool\"\n[[uplink.destination]]\nname = \"n\"\nurl = \"mqtt://127.0.0.1:1883\"\nallow_plaintext = true\n";
    // commands need MQTT 5 and trusted keys, each named at the `commands` line.
    let e = err(&format!("{dest}commands = true\n"));
    assert!(
        e.starts_with("t.toml:7: uplink.destination[0].commands: commands need protocol"),
        "{e}"
    );
    let e = err(&format!("{dest}protocol = \"5\"\ncommands = true\n"));
    assert!(
        e.starts_with("t.toml:8: uplink.destination[0].commands: commands need rules.bundle_keys"),
        "{e}"
    );
    let e = err(&format!("[rules]\nbundle_keys = [\"\"]\n{dest}"));
    assert!(
        e.starts_with("t.toml:2: rules.bundle_keys[0]: must not be empty"),
        "{e}"
    );

    // Batch ranges, with the table's key path.
    let e = err(&format!(
        "{dest}[uplink.destination.batch]\nmax_events = 0\n"
    ));
    assert!(
        e.starts_with("t.toml:8: uplink.destination[0].batch.max_events: must be 1..=100000"),
        "{e}"
    );
    let e = err(&format!(
        "{dest}[uplink.destination.batch]\nzstd_level = 20\n"
    ));
    assert!(
        e.starts_with("t.toml:8: uplink.destination[0].batch.zstd_level: must be 0..=19"),
        "{e}"
    );
    let e = err(&format!("{dest}[uplink.destination.batch]\nlinger = 5\n"));
    assert!(
        e.starts_with("t.toml:8: uplink.destination[0].batch.linger: unknown field"),
        "{e}"
    );

    // A valid one maps onto the uplink's structs and round-trips through to_toml.
    let dir = tempfile::tempdir().unwrap();
    let key = uplink::bundle::generate_key().unwrap();
    let pub_path = dir.path().join("cirt.pub");
    std::fs::write(
        &pub_path,
        uplink::bundle::key_file_text(key.verifying_key().as_bytes()),
    )
    .unwrap();
    let text = format!(
        "[rules]\nbundle_keys = [\"{}\"]\n{dest}protocol = \"5\"\ncommands = true\n[uplink.destination.batch]\nmax_events = 100\nlinger_ms = 50\nzstd_level = 0\n",
        pub_path.display()
    );
    let c = Config::parse(&text, "t.toml").unwrap();
    assert_eq!(c.rules.bundle_dir, Path::new("/tmp/x/rules"));
    assert_eq!(c.bundle_keys().unwrap(), vec![key.verifying_key()]);
    let u = c.uplink_config().unwrap().unwrap();
    let d = &u.destinations[0];
    assert!(d.commands);
    let b = d.batch.as_ref().unwrap();
    assert_eq!(b.max_events, 100);
    assert_eq!(b.max_bytes, uplink::BatchConfig::default().max_bytes);
    assert_eq!(b.linger, Duration::from_millis(50));
    assert_eq!(b.zstd_level, None);
    let again = Config::parse(&c.to_toml(), "printed").unwrap();
    assert_eq!(again, c);

    // Defaults: no batching, no commands, bundles under /var/lib/sensor/rules.
    let c = Config::parse("", "t.toml").unwrap();
    assert_eq!(c.rules.bundle_dir, Path::new(DEFAULT_BUNDLE_DIR));
    let c = Config::parse(&format!("{dest}[uplink.destination.batch]\n"), "t.toml").unwrap();
    let u = c.uplink_config().unwrap().unwrap();
    assert_eq!(
        u.destinations[0].batch,
        Some(uplink::BatchConfig::default())
    );
    assert!(!u.destinations[0].commands);

    // A key file that is not a key names the file.
    std::fs::write(&pub_path, "not hex\n").unwrap();
    let c = Config::parse(&text, "t.toml").unwrap();
    let e = c.bundle_keys().unwrap_err();
    assert!(
        e.starts_with("rules.bundle_keys: ") && e.contains("cirt.pub"),
        "{e}"
    );
}
