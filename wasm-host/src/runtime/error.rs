//! Why a plugin run failed, worded for a test failure message.

use std::fmt;

/// A failed run. `Display` says what happened and in which callback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunError {
    /// The engine could not be created (a wasmtime configuration problem, not the plugin's).
    Engine(String),
    /// The bytes are neither a valid Wasm module nor valid WebAssembly text.
    Compile(String),
    /// The module imports a function the host does not provide.
    UnknownImport { module: String, name: String },
    /// Instantiation failed for another reason (an import of the wrong type, a start trap).
    Instantiate(String),
    /// A required export is absent.
    MissingExport(String),
    /// An export the host calls has the wrong type.
    BadExport { name: String, reason: String },
    /// The guest trapped (`unreachable`, an out-of-bounds access, a host call it misused).
    Trap { callback: String, reason: String },
    /// The callback used up its fuel: an endless or far too long loop.
    OutOfFuel { callback: String, budget: u64 },
    /// The guest asked for more linear memory than the limit allows.
    MemoryLimit { callback: String, requested: usize, limit: usize },
    /// The guest called WASI `proc_exit` with a code (outside `_start`/`_initialize` with 0).
    Exit { callback: String, code: i32 },
    /// `proxy_on_vm_start` returned false.
    VmStartFailed,
    /// `proxy_on_configure` returned false: the plugin refused its configuration.
    /// `reason` is the last warning or error the plugin logged, if any.
    ConfigurationRejected { reason: Option<String> },
    /// A callback paused the stream and nothing resumed it (no `proxy_continue_stream`,
    /// no local reply) before the next phase.
    Stalled { callback: String },
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Engine(e) => write!(f, "the Wasm engine could not be created: {e}"),
            RunError::Compile(e) => write!(f, "the module does not compile: {e}"),
            RunError::UnknownImport { module, name } => {
                write!(f, "the module imports `{module}::{name}`, which this host does not provide")
            }
            RunError::Instantiate(e) => write!(f, "the module cannot be instantiated: {e}"),
            RunError::MissingExport(name) => write!(f, "the module does not export `{name}`"),
            RunError::BadExport { name, reason } => {
                write!(f, "the module's export `{name}` has the wrong type: {reason}")
            }
            RunError::Trap { callback, reason } => {
                write!(f, "the plugin trapped in `{callback}`: {reason}")
            }
            RunError::OutOfFuel { callback, budget } => write!(
                f,
                "the plugin ran out of fuel in `{callback}` (budget {budget} per callback): it loops or does far too much work"
            ),
            RunError::MemoryLimit { callback, requested, limit } => write!(
                f,
                "the plugin exceeded its memory limit in `{callback}`: it asked for {requested} bytes of linear memory, the limit is {limit}"
            ),
            RunError::Exit { callback, code } => {
                write!(f, "the plugin called proc_exit({code}) in `{callback}`")
            }
            RunError::VmStartFailed => write!(f, "proxy_on_vm_start returned false"),
            RunError::ConfigurationRejected { reason: Some(r) } => {
                write!(f, "the plugin rejected its configuration: {r}")
            }
            RunError::ConfigurationRejected { reason: None } => write!(
                f,
                "the plugin rejected its configuration (proxy_on_configure returned false, logging no reason)"
            ),
            RunError::Stalled { callback } => write!(
                f,
                "`{callback}` paused the stream and nothing resumed it (no proxy_continue_stream, no local reply, no pending http call)"
            ),
        }
    }
}

impl std::error::Error for RunError {}

/// A trap the host raises from a host function or the resource limiter. It travels through
/// wasmtime as a `wasmtime::Error` and is recovered by downcasting.
#[derive(Debug)]
pub(crate) enum HostTrap {
    MemoryLimit { requested: usize, limit: usize },
    ProcExit(i32),
    NoMemoryExport,
    NoAllocator,
    Allocator(String),
    AllocationFailed { size: u32 },
    HostDataLimit { limit: usize },
}

impl fmt::Display for HostTrap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostTrap::MemoryLimit { requested, limit } => {
                write!(f, "linear memory of {requested} bytes requested, limit {limit}")
            }
            HostTrap::ProcExit(code) => write!(f, "proc_exit({code})"),
            HostTrap::NoMemoryExport => write!(f, "the module exports no memory named `memory`"),
            HostTrap::NoAllocator => write!(
                f,
                "the module exports neither `proxy_on_memory_allocate` nor `malloc`, so the host cannot return data to it"
            ),
            HostTrap::Allocator(e) => write!(f, "the guest allocator failed: {e}"),
            HostTrap::HostDataLimit { limit } => write!(
                f,
                "the plugin made the host keep more than {limit} bytes (logs, shared data, queues, http calls, properties, headers, bodies)"
            ),
            HostTrap::AllocationFailed { size } => {
                write!(f, "the guest allocator returned null for {size} bytes")
            }
        }
    }
}

impl std::error::Error for HostTrap {}
