//! Access to the guest's linear memory from host functions, always bounds-checked, and
//! allocation in the guest through its `proxy_on_memory_allocate` or `malloc` export.

use wasmtime::{Caller, Extern, Memory};

use super::error::HostTrap;
use super::state::HostState;

/// Why a host function gave up: a status for the guest, or a trap.
pub(crate) enum Fail {
    /// A proxy-wasm status (or a WASI errno) returned to the guest.
    Status(i32),
    Trap(wasmtime::Error),
}

impl From<wasmtime::Error> for Fail {
    fn from(e: wasmtime::Error) -> Self {
        Fail::Trap(e)
    }
}

impl From<HostTrap> for Fail {
    fn from(e: HostTrap) -> Self {
        Fail::Trap(wasmtime::Error::new(e))
    }
}

/// The status of a guest pointer that is out of bounds (proxy-wasm's InvalidMemoryAccess).
pub(crate) const INVALID_MEMORY_ACCESS: i32 = 6;

/// The wrapper of host functions: Ok is status 0, a status is returned, a trap propagates.
pub(crate) fn finish(result: Result<(), Fail>) -> wasmtime::Result<i32> {
    match result {
        Ok(()) => Ok(0),
        Err(Fail::Status(s)) => Ok(s),
        Err(Fail::Trap(e)) => Err(e),
    }
}

pub(crate) struct Guest<'a, 'c> {
    pub(crate) caller: &'a mut Caller<'c, HostState>,
    memory: Memory,
    /// The status a bad pointer yields (differs between proxy-wasm and WASI).
    bad_pointer: i32,
}

impl<'a, 'c> Guest<'a, 'c> {
    pub(crate) fn new(caller: &'a mut Caller<'c, HostState>, bad_pointer: i32) -> Result<Self, Fail> {
        let memory = caller.get_export("memory").and_then(Extern::into_memory).ok_or(HostTrap::NoMemoryExport)?;
        Ok(Guest { caller, memory, bad_pointer })
    }

    pub(crate) fn state(&mut self) -> &mut HostState {
        self.caller.data_mut()
    }

    fn range(&self, ptr: i32, len: u32) -> Result<std::ops::Range<usize>, Fail> {
        let start = ptr as u32 as usize;
        let end = start.checked_add(len as usize).ok_or(Fail::Status(self.bad_pointer))?;
        if end > self.memory.data_size(&*self.caller) {
            return Err(Fail::Status(self.bad_pointer));
        }
        Ok(start..end)
    }

    /// Reads guest memory. What the host keeps of it is charged to the host-data budget
    /// by the caller, so a plugin cannot make the host grow without bound.
    pub(crate) fn read(&self, ptr: i32, len: i32) -> Result<Vec<u8>, Fail> {
        let r = self.range(ptr, len as u32)?;
        Ok(self.memory.data(&*self.caller)[r].to_vec())
    }

    /// Fails unless `len` bytes at `ptr` are inside guest memory.
    pub(crate) fn check(&self, ptr: i32, len: i32) -> Result<(), Fail> {
        self.range(ptr, len as u32).map(drop)
    }

    /// Charges `bytes` the host keeps to the store's host-data budget.
    pub(crate) fn charge(&mut self, bytes: usize) -> Result<(), Fail> {
        let s = self.state();
        s.host_bytes = s.host_bytes.saturating_add(bytes);
        if s.host_bytes > s.host_bytes_limit {
            let limit = s.host_bytes_limit;
            return Err(HostTrap::HostDataLimit { limit }.into());
        }
        Ok(())
    }

    pub(crate) fn read_string(&self, ptr: i32, len: i32) -> Result<String, Fail> {
        Ok(String::from_utf8_lossy(&self.read(ptr, len)?).into_owned())
    }

    pub(crate) fn write(&mut self, ptr: i32, bytes: &[u8]) -> Result<(), Fail> {
        let r = self.range(ptr, bytes.len() as u32)?;
        self.memory.data_mut(&mut *self.caller)[r].copy_from_slice(bytes);
        Ok(())
    }

    pub(crate) fn write_u32(&mut self, ptr: i32, v: u32) -> Result<(), Fail> {
        self.write(ptr, &v.to_le_bytes())
    }

    pub(crate) fn write_u64(&mut self, ptr: i32, v: u64) -> Result<(), Fail> {
        self.write(ptr, &v.to_le_bytes())
    }

    pub(crate) fn read_u32(&self, ptr: i32) -> Result<u32, Fail> {
        let b = self.read(ptr, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Allocates `size` bytes in the guest with its own allocator.
    pub(crate) fn allocate(&mut self, size: u32) -> Result<i32, Fail> {
        let func = ["proxy_on_memory_allocate", "malloc"]
            .iter()
            .find_map(|name| self.caller.get_export(name).and_then(Extern::into_func))
            .ok_or(HostTrap::NoAllocator)?;
        let typed = func.typed::<i32, i32>(&*self.caller).map_err(|e| HostTrap::Allocator(e.to_string()))?;
        let ptr = typed.call(&mut *self.caller, size as i32)?;
        if ptr == 0 {
            return Err(HostTrap::AllocationFailed { size }.into());
        }
        Ok(ptr)
    }

    /// Copies `bytes` into fresh guest memory and writes its address and size at the two
    /// return pointers. Empty data is returned as a null pointer and size 0, as Envoy does.
    pub(crate) fn return_bytes(&mut self, bytes: &[u8], return_ptr: i32, return_size: i32) -> Result<(), Fail> {
        // Check the return pointers before the guest allocates anything.
        self.range(return_ptr, 4)?;
        self.range(return_size, 4)?;
        let ptr = if bytes.is_empty() {
            0
        } else {
            let ptr = self.allocate(bytes.len() as u32)?;
            self.write(ptr, bytes)?;
            ptr
        };
        self.write_u32(return_ptr, ptr as u32)?;
        self.write_u32(return_size, bytes.len() as u32)
    }
}
