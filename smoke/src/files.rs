//! The files of each Envoy process: its temporary directory (registered so that an
//! interrupted run still removes it, and stale ones are removed by the next run) and
//! the reading of its logs from a byte offset, which is how a scenario sees only what
//! it caused.

use crate::process::registry;
use crate::report::shorten_middle;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Envoy log lines shown with a failure.
const LOG_EXCERPT_LINES: usize = 30;

/// The files of one Envoy process, in its own temporary directory.
pub(crate) struct ProcessFiles {
    pub(crate) dir: TempDir,
    pub(crate) bootstrap: PathBuf,
    pub(crate) admin_address: PathBuf,
    pub(crate) envoy_log: PathBuf,
    pub(crate) stdout: PathBuf,
    pub(crate) access_log: PathBuf,
}

impl ProcessFiles {
    pub(crate) fn new() -> io::Result<ProcessFiles> {
        let dir = TempDir::new()?;
        let path = |name: &str| dir.path().join(name);
        Ok(ProcessFiles {
            bootstrap: path("bootstrap.yaml"),
            admin_address: path("admin-address"),
            envoy_log: path("envoy.log"),
            stdout: path("stdout.log"),
            access_log: path("access.log"),
            dir,
        })
    }
}

pub(crate) fn file_len(path: &Path) -> u64 {
    fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// The text of `path` from byte `from` on (empty when it does not exist).
pub(crate) fn read_from(path: &Path, from: u64) -> String {
    read_range(path, from, u64::MAX)
}

pub(crate) fn read_range(path: &Path, from: u64, to: u64) -> String {
    use std::io::{Seek, SeekFrom};
    let Ok(mut file) = File::open(path) else { return String::new() };
    if file.seek(SeekFrom::Start(from)).is_err() {
        return String::new();
    }
    let mut bytes = Vec::new();
    let _ = file.take(to.saturating_sub(from)).read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

pub(crate) struct LogFile {
    pub(crate) path: PathBuf,
}

impl LogFile {
    /// The last lines of Envoy's log, each cut to a readable length.
    pub(crate) fn excerpt(&self) -> Option<String> {
        let text = read_from(&self.path, 0);
        let lines: Vec<&str> = text.lines().collect();
        if lines.is_empty() {
            return None;
        }
        let start = lines.len().saturating_sub(LOG_EXCERPT_LINES);
        Some(lines[start..].iter().map(|l| shorten_middle(l, 200, 400)).collect::<Vec<_>>().join("\n"))
    }
}

/// A directory under the system's temporary directory, removed when dropped (and by
/// the signal handler).
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    fn new() -> io::Result<TempDir> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let base = std::env::temp_dir();
        for _ in 0..100 {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let nanos =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
            let path = base.join(format!("meshc-smoke-{}-{n}-{nanos:x}", std::process::id()));
            match fs::create_dir(&path) {
                Ok(()) => {
                    registry().dirs.push(path.clone());
                    return Ok(TempDir(path));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other("cannot find a free temporary directory name"))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

/// Removes the temporary directories of runs whose process is gone: a meshc killed
/// with SIGKILL cannot clean up after itself, so the next run does.
pub(crate) fn remove_stale_dirs() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("meshc-smoke-")) else { continue };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else { continue };
        // A live process with that id may be another meshc's (or a reused id): keep it.
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
        registry().dirs.retain(|d| d != &self.0);
    }
}
