//! Installs the system packages the sensor needs on a Debian-like machine.
//!
//! The sensor links against libpcap and its MQTT tests talk to a local
//! mosquitto broker; both come from apt. We only call apt-get when something
//! is actually missing, and never try to escalate privileges ourselves: a
//! non-root user gets told exactly what to install.

use crate::proc;
use anyhow::{bail, Result};
use std::path::Path;
use std::process::Command;

/// A Debian package and how to tell whether it is already usable.
#[derive(Debug, Clone, Copy)]
pub struct Package {
    /// Debian package name given to apt-get.
    pub name: &'static str,
    /// Files whose presence means the package (or an equivalent) is installed.
    pub marker_files: &'static [&'static str],
}

/// libpcap headers and the linker symlink, needed to build the sensor.
pub const LIBPCAP_DEV: Package = Package {
    name: "libpcap-dev",
    marker_files: &["/usr/include/pcap.h", "/usr/include/pcap/pcap.h"],
};

/// The MQTT broker used by the uplink integration tests.
pub const MOSQUITTO: Package = Package {
    name: "mosquitto",
    marker_files: &["/usr/sbin/mosquitto"],
};

/// mosquitto_pub/mosquitto_sub: the live-capture test subscribes with them inside its
/// network namespace (and they are handy for poking at the broker by hand).
pub const MOSQUITTO_CLIENTS: Package = Package {
    name: "mosquitto-clients",
    marker_files: &["/usr/bin/mosquitto_sub"],
};

/// `zstd`, the collector one-liner the uplink tests run on compressed batches.
pub const ZSTD: Package = Package {
    name: "zstd",
    marker_files: &["/usr/bin/zstd"],
};

/// `ip`, for the network namespaces and veth pairs of the live-capture tests.
pub const IPROUTE2: Package = Package {
    name: "iproute2",
    marker_files: &["/usr/sbin/ip", "/sbin/ip", "/bin/ip"],
};

impl Package {
    /// True when dpkg reports the package installed or a marker file exists.
    fn is_installed(&self) -> bool {
        if self.marker_files.iter().any(|f| Path::new(f).exists()) {
            return true;
        }
        Command::new("dpkg")
            .args(["-s", self.name])
            .output()
            .map(|out| {
                out.status.success()
                    && String::from_utf8_lossy(&out.stdout).contains("Status: install ok installed")
            })
            .unwrap_or(false)
    }
}

/// Make sure every package in `required` is installed; `optional` packages are
/// installed alongside when we have to run apt-get anyway, never required.
pub fn ensure(required: &[Package], optional: &[Package]) -> Result<()> {
    let missing: Vec<&str> = required
        .iter()
        .filter(|p| !p.is_installed())
        .map(|p| p.name)
        .collect();
    if missing.is_empty() {
        eprintln!(
            "xtask: system packages present: {}",
            required
                .iter()
                .map(|p| p.name)
                .collect::<Vec<_>>()
                .join(", ")
        );
        return Ok(());
    }
    let mut to_install = missing.clone();
    to_install.extend(
        optional
            .iter()
            .filter(|p| !p.is_installed())
            .map(|p| p.name),
    );
    let list = to_install.join(" ");
    if !proc::is_root() {
        bail!(
            "missing system packages: {}\n  install them first, e.g.: sudo apt-get install -y {list}",
            missing.join(", ")
        );
    }
    if !Path::new("/usr/bin/apt-get").exists() {
        bail!(
            "missing system packages: {} and apt-get is not available; install the equivalent of `{list}` with your package manager",
            missing.join(", ")
        );
    }
    eprintln!("xtask: installing missing packages: {list}");
    proc::run(Command::new("apt-get").arg("update"))?;
    proc::run(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(&to_install)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    let still: Vec<&str> = required
        .iter()
        .filter(|p| !p.is_installed())
        .map(|p| p.name)
        .collect();
    if !still.is_empty() {
        bail!(
            "apt-get finished but these packages still look missing: {}",
            still.join(", ")
        );
    }
    Ok(())
}

/// Suricata, the reference `cargo xtask bench` compares against. Debian bookworm ships 6.0;
/// the benchmark wants 7.x, which bookworm-backports has.
pub const SURICATA: Package = Package {
    name: "suricata",
    marker_files: &["/usr/bin/suricata"],
};

/// The backports source Suricata 7 comes from, in deb822 form.
const BACKPORTS_SOURCES: &str = "/etc/apt/sources.list.d/bookworm-backports.sources";
const BACKPORTS_ENTRY: &str = "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n";

/// Installs Suricata from bookworm-backports when it is not installed: adds the backports
/// source if missing, `apt-get update`, `apt-get install -t bookworm-backports suricata`.
pub fn ensure_suricata() -> Result<()> {
    if SURICATA.is_installed() {
        return Ok(());
    }
    if !proc::is_root() || !Path::new("/usr/bin/apt-get").exists() {
        bail!(
            "suricata is not installed; install it first, e.g. (Debian bookworm, as root): add {BACKPORTS_SOURCES} with\n{BACKPORTS_ENTRY}then apt-get update && apt-get install -y -t bookworm-backports suricata"
        );
    }
    if !Path::new(BACKPORTS_SOURCES).exists() {
        eprintln!("xtask: adding {BACKPORTS_SOURCES}");
        std::fs::write(BACKPORTS_SOURCES, BACKPORTS_ENTRY)
            .map_err(|e| anyhow::anyhow!("writing {BACKPORTS_SOURCES}: {e}"))?;
    }
    proc::run(Command::new("apt-get").arg("update"))?;
    proc::run(
        Command::new("apt-get")
            .args(["install", "-y", "-t", "bookworm-backports", "suricata"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    if !SURICATA.is_installed() {
        bail!("apt-get finished but suricata still looks missing");
    }
    Ok(())
}
