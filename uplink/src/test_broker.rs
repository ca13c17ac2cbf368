//! A real mosquitto broker and an MQTT subscriber for tests
//! (feature `test-broker`, off by default).
//!
//! Tests of the uplink, and end-to-end tests of the sensor, should talk to a
//! real broker rather than a mock, and must not race: [`Mosquitto::start`]
//! returns only once the broker accepts TCP connections, and
//! [`Subscriber::start`] returns only once the broker has acknowledged the
//! subscription (SUBACK), so nothing published afterwards can be missed.
//!
//! ```no_run
//! use std::time::Duration;
//! use uplink::test_broker::{mosquitto_or_skip, Mosquitto, Subscriber};
//!
//! if !mosquitto_or_skip("my_test") { return Ok(()); }
//! let broker = Mosquitto::start()?;
//! let sub = Subscriber::start(&broker.url(), "cirt/+/events/#")?;
//! // ... run the code under test against broker.url() ...
//! let got: Vec<(String, Vec<u8>)> = sub.collect(10, Duration::from_secs(5));
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Mosquitto started as root switches to user `mosquitto`, so the generated
//! directory and config are world-readable (and the persistence directory
//! world-writable). The broker is killed when the [`Mosquitto`] is dropped.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use rumqttc::{Client, Event, MqttOptions, Packet, QoS};

use crate::config::BrokerAddr;

/// Path of the mosquitto binary used by [`Mosquitto`].
pub const MOSQUITTO: &str = "/usr/sbin/mosquitto";

/// How long [`Mosquitto::start`]/[`Mosquitto::restart`] wait for the port.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// True if the mosquitto binary exists.
pub fn mosquitto_available() -> bool {
    Path::new(MOSQUITTO).is_file()
}

/// Call first in a test that needs mosquitto. Returns true if the test can
/// run. If mosquitto is missing it prints a skip message and returns false,
/// except when the environment has `CI=true`, where it panics so that a
/// misconfigured CI cannot silently skip.
pub fn mosquitto_or_skip(test_name: &str) -> bool {
    if mosquitto_available() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test_name}: {MOSQUITTO} is required under CI=true but is missing");
    }
    eprintln!("SKIP {test_name}: {MOSQUITTO} not installed");
    false
}

/// A TLS listener for [`BrokerConfig`]: PEM texts, written to files the
/// broker (user `mosquitto` once it drops root) can read.
#[derive(Debug, Clone)]
pub struct TlsListener {
    /// CA certificate(s) client certificates must chain to.
    pub ca_pem: String,
    /// Server certificate.
    pub cert_pem: String,
    /// Server private key.
    pub key_pem: String,
    /// Refuse clients without a valid certificate (mutual TLS).
    pub require_certificate: bool,
}

/// What [`Mosquitto::start_with_config`] sets up besides the plain listener.
#[derive(Debug, Clone, Default)]
pub struct BrokerConfig {
    /// Keep sessions and queued messages across restarts.
    pub persistent: bool,
    /// A second listener with TLS ([`Mosquitto::tls_url`]).
    pub tls: Option<TlsListener>,
    /// Contents of an ACL file (`topic read|write|readwrite <filter>` lines
    /// apply to anonymous clients).
    pub acl: Option<String>,
    /// Raw lines appended at the end of mosquitto.conf, e.g. a bridge
    /// (`connection grc` / `address 127.0.0.1:<port>` / `topic ... out 1`).
    pub extra: Option<String>,
}

/// A mosquitto process on `127.0.0.1:<free port>`, with its own config in a
/// temporary directory. Killed on drop.
#[derive(Debug)]
pub struct Mosquitto {
    dir: tempfile::TempDir,
    port: u16,
    tls_port: Option<u16>,
    child: Option<Child>,
}

impl Mosquitto {
    /// Starts a broker (anonymous access, no persistence) and waits until it
    /// accepts connections. The error includes mosquitto's log on failure.
    pub fn start() -> io::Result<Mosquitto> {
        Self::start_with(false)
    }

    /// Like [`Mosquitto::start`] but with persistence on, so that sessions
    /// and queued QoS 1 messages of `clean_session = false` clients survive
    /// [`Mosquitto::restart`] (the broker saves on SIGTERM).
    pub fn start_persistent() -> io::Result<Mosquitto> {
        Self::start_with(true)
    }

    fn start_with(persistent: bool) -> io::Result<Mosquitto> {
        Self::start_with_config(&BrokerConfig {
            persistent,
            ..BrokerConfig::default()
        })
    }

    /// Starts a broker with a plain listener ([`Mosquitto::url`]) and, as
    /// configured, a TLS listener and an ACL file.
    pub fn start_with_config(cfg: &BrokerConfig) -> io::Result<Mosquitto> {
        let mut last_err = None;
        // The free port may be taken by someone else before mosquitto binds
        // it; retry with another port in that case.
        for _ in 0..5 {
            let dir = tempfile::Builder::new().prefix("uplink-mosq-").tempdir()?;
            fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))?;
            let port = free_port()?;
            let tls_port = match cfg.tls {
                Some(_) => Some(free_port()?),
                None => None,
            };
            write_config(dir.path(), port, tls_port, cfg)?;
            let mut broker = Mosquitto {
                dir,
                port,
                tls_port,
                child: None,
            };
            match broker.launch() {
                Ok(()) => return Ok(broker),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| io::Error::other("mosquitto did not start")))
    }

    /// The TCP port the broker listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `mqtt://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// `mqtts://127.0.0.1:<tls port>`, if a TLS listener was configured.
    pub fn tls_url(&self) -> Option<String> {
        self.tls_port.map(|p| format!("mqtts://127.0.0.1:{p}"))
    }

    /// Everything mosquitto logged so far (all runs of this instance).
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Whether the broker process is running (as far as we started it).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    /// Stops the broker (SIGTERM, then SIGKILL after 5 s). The port stays
    /// reserved for [`Mosquitto::restart`]. No-op if already stopped.
    pub fn stop(&mut self) -> io::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.kill()?;
        child.wait()?;
        Ok(())
    }

    /// Starts the broker again on the same port (stopping it first if it is
    /// running) and waits until it accepts connections.
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop()?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match self.launch() {
                Ok(()) => return Ok(()),
                // The old socket may linger briefly; retry until the deadline.
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("mosquitto.log")
    }

    fn launch(&mut self) -> io::Result<()> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        let mut child = Command::new(MOSQUITTO)
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot run {MOSQUITTO}: {e}")))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait()? {
                return Err(io::Error::other(format!(
                    "mosquitto exited ({status}) before accepting connections on port {}; log:\n{}",
                    self.port,
                    self.log()
                )));
            }
            let tls_ready = self.tls_port.is_none_or(|p| {
                let a = SocketAddr::from(([127, 0, 0, 1], p));
                TcpStream::connect_timeout(&a, Duration::from_millis(200)).is_ok()
            });
            if tls_ready && TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "mosquitto did not accept connections on port {} within {READY_TIMEOUT:?}; log:\n{}",
                        self.port,
                        self.log()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> io::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

fn write_readable(path: &Path, text: &str) -> io::Result<()> {
    fs::write(path, text)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o644))
}

fn write_config(
    dir: &Path,
    port: u16,
    tls_port: Option<u16>,
    cfg: &BrokerConfig,
) -> io::Result<()> {
    let mut conf = String::from(
        "per_listener_settings false\nallow_anonymous true\nlog_dest stderr\n\
         log_type error\nlog_type warning\nlog_type notice\nlog_type information\n\
         max_inflight_messages 0\nmax_queued_messages 100000\n",
    );
    if let Some(acl) = &cfg.acl {
        let path = dir.join("acl");
        write_readable(&path, acl)?;
        conf.push_str(&format!("acl_file {}\n", path.display()));
    }
    conf.push_str(&format!("listener {port} 127.0.0.1\n"));
    if let (Some(tls), Some(tls_port)) = (&cfg.tls, tls_port) {
        let ca = dir.join("ca.pem");
        let cert = dir.join("server.pem");
        let key = dir.join("server.key");
        write_readable(&ca, &tls.ca_pem)?;
        write_readable(&cert, &tls.cert_pem)?;
        write_readable(&key, &tls.key_pem)?;
        conf.push_str(&format!(
            "listener {tls_port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate {}\n",
            ca.display(),
            cert.display(),
            key.display(),
            tls.require_certificate
        ));
    }
    let persistent = cfg.persistent;
    if persistent {
        let data = dir.join("data");
        fs::create_dir(&data)?;
        fs::set_permissions(&data, fs::Permissions::from_mode(0o777))?;
        conf.push_str(&format!(
            "persistence true\npersistence_location {}/\n",
            data.display()
        ));
    } else {
        conf.push_str("persistence false\n");
    }
    if let Some(extra) = &cfg.extra {
        conf.push_str(extra);
        conf.push('\n');
    }
    let path = dir.join("mosquitto.conf");
    let mut f = File::create(&path)?;
    f.write_all(conf.as_bytes())?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644))?;
    Ok(())
}

/// A QoS 1 MQTT subscriber that is known to be subscribed.
///
/// Messages are collected in the background from the moment
/// [`Subscriber::start`] returns; read them with [`Subscriber::collect`] or
/// [`Subscriber::drain`]. If the broker restarts, the subscriber reconnects
/// and subscribes again (with [`Subscriber::start_persistent`] the broker
/// also keeps messages for it while it is away).
pub struct Subscriber {
    client: SubClient,
    rx: mpsc::Receiver<(String, Vec<u8>)>,
    stop: Arc<AtomicBool>,
}

enum SubClient {
    V4(Client),
    V5(rumqttc::v5::Client),
}

impl Subscriber {
    /// Connects with a clean session, subscribes to `topic_filter` at QoS 1
    /// and returns after the SUBACK (or an error within 10 s).
    pub fn start(url: &str, topic_filter: &str) -> io::Result<Subscriber> {
        static N: AtomicU64 = AtomicU64::new(0);
        let id = format!(
            "uplink-test-sub-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        Self::start_with(url, topic_filter, &id, true)
    }

    /// Like [`Subscriber::start`] with `clean_session = false` and the given
    /// client id, so a persistent broker queues messages across restarts.
    pub fn start_persistent(
        url: &str,
        topic_filter: &str,
        client_id: &str,
    ) -> io::Result<Subscriber> {
        Self::start_with(url, topic_filter, client_id, false)
    }

    fn start_with(url: &str, filter: &str, client_id: &str, clean: bool) -> io::Result<Subscriber> {
        let addr = BrokerAddr::parse(url)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        if client_id.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "empty client id",
            ));
        }
        let mut opts = MqttOptions::new(client_id, addr.host, addr.port);
        opts.set_keep_alive(Duration::from_secs(5))
            .set_clean_session(clean)
            .set_max_packet_size(4 << 20, 4 << 20)
            .set_inflight(1000);
        let (client, mut conn) = Client::new(opts, 1000);
        client
            .subscribe(filter, QoS::AtLeastOnce)
            .map_err(io::Error::other)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut early = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match conn.recv_timeout(left) {
                Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => break,
                // A persistent session may deliver queued messages first.
                Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                    early.push((p.topic.clone(), p.payload.to_vec()));
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionRefused,
                        format!("subscriber cannot connect to {url}: {e}"),
                    ))
                }
                Err(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no SUBACK from {url} within 10 s"),
                    ))
                }
            }
        }
        let (tx, rx) = mpsc::channel();
        for m in early {
            let _ = tx.send(m);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let thread_client = client.clone();
        let filter = filter.to_string();
        std::thread::Builder::new()
            .name("test-subscriber".into())
            .spawn(move || {
                for ev in conn.iter() {
                    if thread_stop.load(Ordering::Relaxed) {
                        break;
                    }
                    match ev {
                        Ok(Event::Incoming(Packet::Publish(p))) => {
                            if tx.send((p.topic.clone(), p.payload.to_vec())).is_err() {
                                break;
                            }
                        }
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            let _ = thread_client.try_subscribe(filter.clone(), QoS::AtLeastOnce);
                        }
                        Ok(_) => {}
                        Err(_) => std::thread::sleep(Duration::from_millis(100)),
                    }
                }
            })?;
        Ok(Subscriber {
            client: SubClient::V4(client),
            rx,
            stop,
        })
    }

    /// An MQTT 5 subscriber (clean start), e.g. for shared subscriptions
    /// (`$share/<group>/<filter>`). Returns after the SUBACK.
    pub fn start_v5(url: &str, topic_filter: &str) -> io::Result<Subscriber> {
        use rumqttc::v5::mqttbytes::v5::Packet as P;
        use rumqttc::v5::{Client as C5, Event as E5, MqttOptions as O5};
        static N: AtomicU64 = AtomicU64::new(0);
        let id = format!(
            "uplink-test-sub5-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let addr = BrokerAddr::parse(url)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let mut opts = O5::new(id, addr.host, addr.port);
        opts.set_keep_alive(Duration::from_secs(5))
            .set_clean_start(true)
            .set_max_packet_size(Some(4 << 20));
        let (client, mut conn) = C5::new(opts, 1000);
        let qos = rumqttc::v5::mqttbytes::QoS::AtLeastOnce;
        client
            .subscribe(topic_filter, qos)
            .map_err(io::Error::other)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let (tx, rx) = mpsc::channel();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match conn.recv_timeout(left) {
                Ok(Ok(E5::Incoming(P::SubAck(_)))) => break,
                Ok(Ok(E5::Incoming(P::Publish(p)))) => {
                    let _ = tx.send((
                        String::from_utf8_lossy(&p.topic).into_owned(),
                        p.payload.to_vec(),
                    ));
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionRefused,
                        format!("subscriber cannot connect to {url}: {e}"),
                    ))
                }
                Err(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no SUBACK from {url} within 10 s"),
                    ))
                }
            }
        }
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let thread_client = client.clone();
        let filter = topic_filter.to_string();
        std::thread::Builder::new()
            .name("test-subscriber-v5".into())
            .spawn(move || {
                for ev in conn.iter() {
                    if thread_stop.load(Ordering::Relaxed) {
                        break;
                    }
                    match ev {
                        Ok(E5::Incoming(P::Publish(p))) => {
                            let m = (
                                String::from_utf8_lossy(&p.topic).into_owned(),
                                p.payload.to_vec(),
                            );
                            if tx.send(m).is_err() {
                                break;
                            }
                        }
                        Ok(E5::Incoming(P::ConnAck(_))) => {
                            let _ = thread_client.try_subscribe(filter.clone(), qos);
                        }
                        Ok(_) => {}
                        Err(_) => std::thread::sleep(Duration::from_millis(100)),
                    }
                }
            })?;
        Ok(Subscriber {
            client: SubClient::V5(client),
            rx,
            stop,
        })
    }

    /// Returns messages as `(topic, payload)` once `expected` have arrived
    /// or `timeout` has passed, whichever is first (so it may return fewer).
    pub fn collect(&self, expected: usize, timeout: Duration) -> Vec<(String, Vec<u8>)> {
        let deadline = Instant::now() + timeout.min(Duration::from_secs(86400));
        let mut out = Vec::with_capacity(expected);
        while out.len() < expected {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(m) => out.push(m),
                Err(_) => break,
            }
        }
        out
    }

    /// Returns everything that arrives until no message came for `quiet`.
    pub fn drain(&self, quiet: Duration) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        while let Ok(m) = self.rx.recv_timeout(quiet) {
            out.push(m);
        }
        out
    }
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber").finish_non_exhaustive()
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = match &self.client {
            SubClient::V4(c) => c.try_disconnect().is_ok(),
            SubClient::V5(c) => c.try_disconnect().is_ok(),
        };
    }
}
