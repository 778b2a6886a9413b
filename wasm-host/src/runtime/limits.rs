//! The sandbox's budgets: fuel per callback and the size of linear memory.

use super::error::HostTrap;

/// What one plugin instance may consume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Fuel given to each callback (`_start`, `proxy_on_*`), refilled before every one.
    /// Wasmtime charges about one unit per Wasm instruction. A real HTTP filter spends
    /// 10^4 to 10^6 per callback, so 10^9 (about a second of compiled code on a small
    /// machine) never stops a sane plugin, yet turns an endless loop into a test failure
    /// within seconds instead of a hung test run.
    pub fuel_per_callback: u64,
    /// The most bytes a linear memory may have (64 MiB by default, Envoy's V8 default
    /// is larger, but a filter needing more than this in a test is almost certainly leaking).
    pub memory_bytes: usize,
    /// The most elements a table may have.
    pub table_elements: usize,
    /// The most bytes of guest data the host keeps for a VM over its life (log lines,
    /// stdout, shared data, queues, http calls, properties, headers and bodies the plugin
    /// writes): 256 MiB, so a plugin cannot exhaust the test process through the host.
    pub host_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel_per_callback: 1_000_000_000,
            memory_bytes: 64 << 20,
            table_elements: 100_000,
            host_bytes: 256 << 20,
        }
    }
}

/// Wasmtime's `ResourceLimiter` for one store. It refuses growth past the limits with a
/// trap that names the limit (instead of `memory.grow` quietly returning -1), so a plugin
/// that grows without bound fails with that reason.
#[derive(Debug, Default)]
pub(crate) struct Limiter {
    pub(crate) memory_bytes: usize,
    pub(crate) table_elements: usize,
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            return Err(wasmtime::Error::new(HostTrap::MemoryLimit { requested: desired, limit: self.memory_bytes }));
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= self.table_elements)
    }

    fn instances(&self) -> usize {
        1
    }

    fn memories(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        4
    }
}
