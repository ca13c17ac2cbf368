//! `sensor keygen` and `sensor rules bundle create|verify`: the CIRT side of
//! signed rule updates. The format and the checks live in `uplink::bundle`;
//! this file only reads and writes files.
//!
//! Exit status: 0 on success; 1 when a bundle is refused (the reason is
//! printed); 2 when a file cannot be read or written.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use uplink::bundle::{self, BundleFile};

/// `sensor keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Writes PREFIX.key (secret, mode 0600) and PREFIX.pub (give this one to sensors).
    #[arg(long, value_name = "PREFIX")]
    out: PathBuf,
}

/// `sensor rules bundle ...`.
#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Pack rule files with a manifest and sign it.
    Create(CreateArgs),
    /// Check a bundle's signature, manifest and hashes, and list its files.
    Verify(VerifyArgs),
}

/// `sensor rules bundle create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Secret key file (from `sensor keygen`).
    #[arg(long, value_name = "KEY")]
    key: PathBuf,
    /// Rule set version written in the manifest.
    #[arg(long, value_name = "V")]
    version: String,
    /// Where to write the bundle.
    #[arg(long, value_name = "B")]
    out: PathBuf,
    /// Files to include (stored under their file name, without directories).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

/// `sensor rules bundle verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Trusted public key file (repeatable).
    #[arg(long = "pubkey", value_name = "P", required = true)]
    pubkeys: Vec<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// The bundle.
    #[arg(value_name = "B")]
    bundle: PathBuf,
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Runs `sensor keygen`.
pub fn keygen(a: &KeygenArgs) -> anyhow::Result<ExitCode> {
    let key = bundle::generate_key()?;
    let secret = a.out.with_extension("key");
    let public = a.out.with_extension("pub");
    for p in [&secret, &public] {
        anyhow::ensure!(!p.exists(), "{} exists; not overwriting a key", p.display());
    }
    let mut f = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&secret)
            .with_context(|| format!("cannot create {}", secret.display()))?
    };
    f.write_all(bundle::key_file_text(&key.to_bytes()).as_bytes())
        .with_context(|| format!("cannot write {}", secret.display()))?;
    let pub_text = bundle::key_file_text(key.verifying_key().as_bytes());
    std::fs::write(&public, &pub_text)
        .with_context(|| format!("cannot write {}", public.display()))?;
    println!(
        "secret key: {}\npublic key: {} ({})",
        secret.display(),
        public.display(),
        pub_text.trim()
    );
    Ok(ExitCode::SUCCESS)
}

/// Runs `sensor rules bundle create|verify`.
pub fn run(cmd: &BundleCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        BundleCommand::Create(a) => create(a),
        BundleCommand::Verify(a) => verify(a),
    }
}

fn create(a: &CreateArgs) -> anyhow::Result<ExitCode> {
    let key = bundle::parse_signing_key(&read_text(&a.key)?)
        .with_context(|| format!("key file {}", a.key.display()))?;
    let mut files = Vec::with_capacity(a.files.len());
    for path in &a.files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .with_context(|| format!("{}: no usable file name", path.display()))?;
        let data =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        files.push(BundleFile {
            name: name.to_string(),
            data,
        });
    }
    let bytes = bundle::create(&key, &a.version, &bundle::utc_now(), &files)?;
    std::fs::write(&a.out, &bytes).with_context(|| format!("cannot write {}", a.out.display()))?;
    println!(
        "bundle {} version {}: {} files, {} bytes, signed by {}",
        a.out.display(),
        a.version,
        files.len(),
        bytes.len(),
        bundle::hex(key.verifying_key().as_bytes())
    );
    Ok(ExitCode::SUCCESS)
}

fn verify(a: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let mut trusted = Vec::new();
    for p in &a.pubkeys {
        let k = bundle::parse_verifying_key(&read_text(p)?)
            .with_context(|| format!("public key file {}", p.display()))?;
        trusted.push(k);
    }
    let bytes = match std::fs::read(&a.bundle) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("sensor: error: cannot read {}: {e}", a.bundle.display());
            return Ok(ExitCode::from(2));
        }
    };
    match bundle::verify(&bytes, &trusted) {
        Ok(b) => {
            if a.json {
                let files: Vec<_> = b
                    .files
                    .iter()
                    .map(|f| serde_json::json!({"name": f.name, "size": f.data.len()}))
                    .collect();
                println!(
                    "{}",
                    serde_json::json!({"ok": true, "version": b.version, "created": b.created,
                        "signer": b.signer_hex(), "files": files})
                );
            } else {
                println!(
                    "OK: version {} created {} signed by {}",
                    b.version,
                    b.created,
                    b.signer_hex()
                );
                for f in &b.files {
                    println!("  {} ({} bytes)", f.name, f.data.len());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            if a.json {
                println!(
                    "{}",
                    serde_json::json!({"ok": false, "reason": e.to_string()})
                );
            }
            eprintln!("sensor: bundle refused: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
