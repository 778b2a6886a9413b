//! Stubs of `wasi_snapshot_preview1`, enough for modules built for wasm32-wasip1 (Rust's
//! std, TinyGo) to start and print, in a sandbox: no files (every descriptor but stdout and
//! stderr is EBADF, so there are no preopened directories), no sockets, no arguments, only
//! the test's environment, the test's clock and a seeded random generator.
//! stdout and stderr are captured line by line into the run's log (Info and Error).

use wasmtime::{Caller, Linker};

use super::error::HostTrap;
use super::guest::{Fail, Guest, finish};
use super::state::HostState;

const SUCCESS: i32 = 0;
const EBADF: i32 = 8;
const EFAULT: i32 = 21;
const EINVAL: i32 = 28;
const ENOSYS: i32 = 52;

type C<'a, 'c> = &'a mut Caller<'c, HostState>;

fn guest<'a, 'c>(c: C<'a, 'c>) -> Result<Guest<'a, 'c>, Fail> {
    Guest::new(c, EFAULT)
}

fn environ_strings(s: &HostState) -> Vec<Vec<u8>> {
    s.env
        .iter()
        .map(|(k, v)| {
            let mut b = format!("{k}={v}").into_bytes();
            b.push(0);
            b
        })
        .collect()
}

fn environ_sizes_get(c: C, count_ptr: i32, size_ptr: i32) -> Result<(), Fail> {
    let mut g = guest(c)?;
    let strings = environ_strings(g.state());
    let size: usize = strings.iter().map(Vec::len).sum();
    g.write_u32(count_ptr, strings.len() as u32)?;
    g.write_u32(size_ptr, size as u32)
}

fn environ_get(c: C, environ_ptr: i32, buf_ptr: i32) -> Result<(), Fail> {
    let mut g = guest(c)?;
    let strings = environ_strings(g.state());
    let mut at = buf_ptr as u32;
    for (i, s) in strings.iter().enumerate() {
        g.write_u32(environ_ptr.wrapping_add(4 * i as i32), at)?;
        g.write(at as i32, s)?;
        at = at.wrapping_add(s.len() as u32);
    }
    Ok(())
}

fn clock_time_get(c: C, id: i32, ret: i32) -> Result<(), Fail> {
    // Realtime, monotonic, process and thread clocks all read the test's clock.
    if !(0..=3).contains(&id) {
        return Err(Fail::Status(EINVAL));
    }
    let mut g = guest(c)?;
    let now = g.state().now_nanos;
    g.write_u64(ret, now)
}

fn random_get(c: C, buf: i32, len: i32) -> Result<(), Fail> {
    let mut g = guest(c)?;
    g.check(buf, len)?;
    let mut bytes = Vec::with_capacity(len as u32 as usize);
    while bytes.len() < len as u32 as usize {
        bytes.extend_from_slice(&g.state().next_random().to_le_bytes());
    }
    bytes.truncate(len as u32 as usize);
    g.write(buf, &bytes)
}

fn fd_write(c: C, fd: i32, iovs: i32, iovs_len: i32, nwritten: i32) -> Result<(), Fail> {
    if fd != 1 && fd != 2 {
        return Err(Fail::Status(EBADF));
    }
    let mut g = guest(c)?;
    let mut data = Vec::new();
    for i in 0..iovs_len.max(0) {
        let iov = iovs.wrapping_add(8 * i);
        let ptr = g.read_u32(iov)?;
        let len = g.read_u32(iov.wrapping_add(4))?;
        g.check(ptr as i32, len as i32)?;
        g.charge(len as usize)?;
        data.extend_from_slice(&g.read(ptr as i32, len as i32)?);
    }
    let n = data.len() as u32;
    let s = g.state();
    if fd == 1 {
        s.stdout.extend_from_slice(&data);
    } else {
        s.stderr.extend_from_slice(&data);
    }
    s.flush_stdio(false);
    g.write_u32(nwritten, n)
}

fn proc_exit(c: C, code: i32) -> wasmtime::Result<()> {
    c.data_mut().flush_stdio(true);
    Err(wasmtime::Error::new(HostTrap::ProcExit(code)))
}

/// Defines the stubs in `linker`.
pub(crate) fn add_to_linker(l: &mut Linker<HostState>) -> wasmtime::Result<()> {
    type Cx<'c> = Caller<'c, HostState>;
    let m = "wasi_snapshot_preview1";
    l.func_wrap(m, "args_sizes_get", |mut c: Cx, a: i32, b: i32| {
        finish((|| {
            let mut g = guest(&mut c)?;
            g.write_u32(a, 0)?;
            g.write_u32(b, 0)
        })())
    })?;
    l.func_wrap(m, "args_get", |_: i32, _: i32| Ok(SUCCESS))?;
    l.func_wrap(m, "environ_sizes_get", |mut c: Cx, a: i32, b: i32| finish(environ_sizes_get(&mut c, a, b)))?;
    l.func_wrap(m, "environ_get", |mut c: Cx, a: i32, b: i32| finish(environ_get(&mut c, a, b)))?;
    l.func_wrap(m, "clock_time_get", |mut c: Cx, id: i32, _precision: i64, r: i32| {
        finish(clock_time_get(&mut c, id, r))
    })?;
    l.func_wrap(m, "clock_res_get", |mut c: Cx, _id: i32, r: i32| finish((|| guest(&mut c)?.write_u64(r, 1))()))?;
    l.func_wrap(m, "random_get", |mut c: Cx, b: i32, n: i32| finish(random_get(&mut c, b, n)))?;
    l.func_wrap(m, "fd_write", |mut c: Cx, fd: i32, v: i32, n: i32, w: i32| finish(fd_write(&mut c, fd, v, n, w)))?;
    l.func_wrap(m, "proc_exit", |mut c: Cx, code: i32| proc_exit(&mut c, code))?;
    l.func_wrap(m, "sched_yield", || Ok(SUCCESS))?;
    l.func_wrap(m, "poll_oneoff", |_: i32, _: i32, _: i32, _: i32| Ok(ENOSYS))?;
    // Descriptors: none exists but stdout and stderr, which only take writes.
    let ebadf = || Ok(EBADF);
    l.func_wrap(m, "fd_read", move |_: i32, _: i32, _: i32, _: i32| ebadf())?;
    l.func_wrap(m, "fd_close", move |_: i32| ebadf())?;
    l.func_wrap(m, "fd_seek", move |_: i32, _: i64, _: i32, _: i32| ebadf())?;
    l.func_wrap(m, "fd_tell", move |_: i32, _: i32| ebadf())?;
    l.func_wrap(m, "fd_sync", move |_: i32| ebadf())?;
    l.func_wrap(m, "fd_fdstat_get", move |_: i32, _: i32| ebadf())?;
    l.func_wrap(m, "fd_fdstat_set_flags", move |_: i32, _: i32| ebadf())?;
    l.func_wrap(m, "fd_filestat_get", move |_: i32, _: i32| ebadf())?;
    l.func_wrap(m, "fd_prestat_get", move |_: i32, _: i32| ebadf())?;
    l.func_wrap(m, "fd_prestat_dir_name", move |_: i32, _: i32, _: i32| ebadf())?;
    l.func_wrap(m, "path_open", move |_: i32, _: i32, _: i32, _: i32, _: i32, _: i64, _: i64, _: i32, _: i32| ebadf())?;
    l.func_wrap(m, "path_filestat_get", move |_: i32, _: i32, _: i32, _: i32, _: i32| ebadf())?;
    Ok(())
}
