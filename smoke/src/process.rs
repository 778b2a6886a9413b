//! Envoy processes and stopping them whatever happens: spawning each in its own
//! process group, a registry of what must be cleaned up, and the signal handler that
//! uses it. The only module allowed `unsafe`, for the `pre_exec` of PR_SET_PDEATHSIG.

use crate::files::ProcessFiles;
use crate::http::http_request;
use crate::{ADMIN_TIMEOUT, READY_TIMEOUT, STOP_GRACE, SmokeError};
use std::fs::{self, File};
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// What must be cleaned up if meshc is interrupted: the process groups of the Envoys
/// still running (or exited but not yet reaped, so their ids cannot be reused) and
/// the temporary directories.
pub(crate) struct Registry {
    groups: Vec<i32>,
    pub(crate) dirs: Vec<PathBuf>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry { groups: Vec::new(), dirs: Vec::new() });

pub(crate) fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Installs (once per process) a handler for SIGINT, SIGTERM and SIGHUP that stops
/// every Envoy the runner started, removes their temporary directories and exits
/// with status 130. [`run`](crate::run) calls it unless
/// [`Run::handle_signals`](crate::Run::handle_signals) is off. Fails when another
/// handler was installed through the `ctrlc` crate already.
pub fn install_signal_handler() -> Result<(), SmokeError> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            ctrlc::set_handler(|| {
                // The registry stays locked until the process is gone: a runner that
                // notices its Envoy died blocks on it instead of carrying on (and maybe
                // exiting 0 first).
                let mut registry = registry();
                stop_registered(&mut registry);
                std::process::exit(130);
            })
            .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(SmokeError::SignalHandler)
}

/// Stops every Envoy the runner started and removes their temporary directories:
/// SIGTERM to each process group, SIGKILL 200 ms later. For an embedder's own signal
/// handler, which should exit right after.
pub fn stop_all_children() {
    stop_registered(&mut registry());
}

/// The processes stay registered (as zombies until the caller exits), so no process
/// group id can be reused before the SIGKILL.
fn stop_registered(registry: &mut Registry) {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    for &group in &registry.groups {
        let _ = killpg(Pid::from_raw(group), Signal::SIGTERM);
    }
    if !registry.groups.is_empty() {
        thread::sleep(Duration::from_millis(200));
    }
    for &group in &registry.groups {
        let _ = killpg(Pid::from_raw(group), Signal::SIGKILL);
    }
    for dir in registry.dirs.drain(..) {
        let _ = fs::remove_dir_all(dir);
    }
}

/// Asks the kernel to send SIGTERM to the child when meshc dies, even by SIGKILL,
/// which no handler can catch (Envoy would otherwise keep running, reparented).
#[allow(unsafe_code)]
fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = nix::unistd::getpid();
    // SAFETY: the closure runs in the forked child before exec. It only makes the
    // prctl(2) and getppid(2) system calls, which are async-signal-safe, and it
    // allocates nothing (its errors are plain errno values), so it cannot deadlock on
    // a lock another thread held at fork time.
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)?;
            // The parent may have died before prctl took effect.
            if nix::unistd::getppid() != parent {
                return Err(io::Error::from(nix::errno::Errno::ESRCH));
            }
            Ok(())
        });
    }
}

/// An Envoy child in its own process group, stopped when dropped.
///
/// PR_SET_PDEATHSIG fires when the *thread* that spawned the child exits; [`run`](crate::run)
/// spawns and stops each Envoy on the calling thread, so that never cuts a run short.
pub(crate) struct Envoy {
    child: Child,
    exit: Option<ExitStatus>,
}

impl Envoy {
    pub(crate) fn spawn(binary: &Path, bootstrap: &Path, files: &ProcessFiles) -> io::Result<Envoy> {
        use std::os::unix::process::CommandExt;
        let mut command = Command::new(binary);
        command
            .arg("-c")
            .arg(bootstrap)
            .arg("--admin-address-path")
            .arg(&files.admin_address)
            // No shared memory or domain socket, so several Envoys can run at once.
            .args(["--disable-hot-restart", "--concurrency", "1"])
            // Warnings and errors of every component, plus what Lua and Wasm code logs
            // (`logInfo`, `proxy_log`), which is what smoke scenarios look for.
            .args(["-l", "warning", "--component-log-level", "lua:info,wasm:info"])
            // Envoy writes the first access-log line at once but later ones only at the
            // next flush tick, every 10 s by default; 10 ms keeps them in the scenario.
            .args(["--file-flush-interval-msec", "10"])
            .stdin(Stdio::null())
            .stdout(File::create(&files.stdout)?)
            .stderr(File::create(&files.envoy_log)?)
            .current_dir(files.dir.path())
            .process_group(0);
        die_with_parent(&mut command);
        // Registered under the lock, so an interrupt cannot fall between spawn and
        // registration.
        let mut registry = registry();
        let child = command.spawn()?;
        registry.groups.push(child.id() as i32);
        Ok(Envoy { child, exit: None })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether Envoy has exited (reaping it). Reaping and leaving the registry happen
    /// under one lock, so the signal handler never signals a reaped, reusable id.
    pub(crate) fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            let mut registry = registry();
            if let Ok(Some(status)) = self.child.try_wait() {
                let pid = self.child.id() as i32;
                registry.groups.retain(|&g| g != pid);
                self.exit = Some(status);
            }
        }
        self.exit
    }

    pub(crate) fn exit_description(&self) -> Option<String> {
        self.exit.map(|status| status.to_string())
    }

    /// SIGTERM to the process group; SIGKILL after [`STOP_GRACE`]. Envoy exits about
    /// 5 ms after SIGTERM, with status 0.
    pub(crate) fn stop(&mut self) {
        use nix::sys::signal::{Signal, killpg};
        use nix::unistd::Pid;
        if self.try_exit().is_some() {
            return;
        }
        let group = Pid::from_raw(self.child.id() as i32);
        // Not reaped yet, so the group id is still ours even if Envoy just exited.
        let _ = killpg(group, Signal::SIGTERM);
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if self.try_exit().is_some() {
                return;
            }
            thread::sleep(Duration::from_millis(2));
        }
        let _ = killpg(group, Signal::SIGKILL);
        let mut registry = registry();
        if let Ok(status) = self.child.wait() {
            self.exit = Some(status);
        }
        registry.groups.retain(|&g| g != group.as_raw());
    }

    /// Polls for the admin address file, then `/ready` until it answers 200.
    pub(crate) fn wait_ready(&mut self, address_file: &Path, deadline: Instant) -> Result<SocketAddr, String> {
        let mut admin: Option<SocketAddr> = None;
        loop {
            if let Some(status) = self.try_exit() {
                return Err(format!("Envoy exited ({status}) before it was ready"));
            }
            if admin.is_none() {
                admin = fs::read_to_string(address_file).ok().and_then(|text| text.trim().parse().ok());
            }
            if let Some(admin) = admin {
                if http_request(admin, "GET", "/ready", &[], None, ADMIN_TIMEOUT).is_ok_and(|r| r.status == 200) {
                    return Ok(admin);
                }
            }
            if Instant::now() >= deadline {
                return Err(match admin {
                    None => format!(
                        "Envoy did not bind its admin interface within {} s (does the bootstrap have an `admin` address?)",
                        READY_TIMEOUT.as_secs()
                    ),
                    Some(_) => format!("Envoy was not ready within {} s", READY_TIMEOUT.as_secs()),
                });
            }
            thread::sleep(Duration::from_millis(3));
        }
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        self.stop();
    }
}
