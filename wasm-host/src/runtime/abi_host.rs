//! The proxy-wasm ABI's host functions (module `env`) for HTTP filters: 0.2.1, with the
//! 0.2.0 names that differ (`proxy_get_configuration`, `proxy_continue_request`,
//! `proxy_continue_response`).
//!
//! Every function returns a status; a bad guest pointer is `InvalidMemoryAccess`, never a
//! host panic. Data returned to the guest is copied into memory the guest allocates with its
//! `proxy_on_memory_allocate` (or `malloc`) export.
//!
//! Properties: the guest's path is NUL-separated segments, looked up as the segments joined
//! with `.`. The test's properties (and those the plugin set) come first; the host derives
//! `request.path`, `request.url_path`, `request.method`, `request.host`, `request.scheme`,
//! `request.id`, `request.headers` (serialized map) and `request.headers.NAME`, likewise
//! `response.headers[.NAME]`, and `response.code` (an 8-byte little-endian int64, as Envoy).
//!
//! Not implemented: gRPC calls (they return Unimplemented), foreign functions (Unimplemented),
//! downstream/upstream data buffers of TCP filters (BadArgument), gRPC metadata maps.

use wasmtime::{Caller, Linker};

use super::guest::{Fail, Guest, INVALID_MEMORY_ACCESS, finish};
use super::state::{HostState, Metric};
use super::{HttpCall, HttpMessage, LocalReply, LogLevel, MetricValue};

/// proxy-wasm's statuses (`proxy_result_t` / `WasmResult`).
pub mod status {
    pub const OK: i32 = 0;
    pub const NOT_FOUND: i32 = 1;
    pub const BAD_ARGUMENT: i32 = 2;
    pub const SERIALIZATION_FAILURE: i32 = 3;
    pub const PARSE_FAILURE: i32 = 4;
    pub const INVALID_MEMORY_ACCESS: i32 = 6;
    pub const EMPTY: i32 = 7;
    pub const CAS_MISMATCH: i32 = 8;
    pub const INTERNAL_FAILURE: i32 = 10;
    pub const UNIMPLEMENTED: i32 = 12;
}

use status::*;

type C<'a, 'c> = &'a mut Caller<'c, HostState>;
type R = Result<(), Fail>;

fn guest<'a, 'c>(c: C<'a, 'c>) -> Result<Guest<'a, 'c>, Fail> {
    Guest::new(c, INVALID_MEMORY_ACCESS)
}

fn fail<T>(status: i32) -> Result<T, Fail> {
    Err(Fail::Status(status))
}

/// Serializes header pairs as the ABI does: the count, then each key's and value's length
/// (all u32 little-endian), then each key and value followed by a NUL.
pub fn serialize_pairs(pairs: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (k, v) in pairs {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k.as_bytes());
        out.push(0);
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    out
}

/// The inverse of [`serialize_pairs`]; None when the bytes are not such a map.
pub fn deserialize_pairs(bytes: &[u8]) -> Option<Vec<(String, String)>> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let u32_at = |at: usize| -> Option<usize> {
        let b = bytes.get(at..at.checked_add(4)?)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let n = u32_at(0)?;
    let mut sizes = Vec::new();
    for i in 0..n {
        let at = 4 + i.checked_mul(8)?;
        sizes.push((u32_at(at)?, u32_at(at + 4)?));
    }
    let mut at = 4 + n.checked_mul(8)?;
    let mut take = |len: usize| -> Option<String> {
        let s = bytes.get(at..at.checked_add(len)?)?;
        at += len + 1;
        Some(String::from_utf8_lossy(s).into_owned())
    };
    let mut pairs = Vec::new();
    for (kl, vl) in sizes {
        let k = take(kl)?;
        let v = take(vl)?;
        pairs.push((k, v));
    }
    Some(pairs)
}

fn map_mut(s: &mut HostState, map_type: i32) -> Result<&mut Vec<(String, String)>, Fail> {
    match map_type {
        0 => Ok(&mut s.request.headers),
        1 => Ok(&mut s.request.trailers),
        2 => Ok(&mut s.response.headers),
        3 => Ok(&mut s.response.trailers),
        6 | 7 => match &mut s.call_response {
            Some(m) => Ok(if map_type == 6 { &mut m.headers } else { &mut m.trailers }),
            None => fail(NOT_FOUND),
        },
        _ => fail(BAD_ARGUMENT),
    }
}

fn buffer(s: &HostState, buffer_type: i32) -> Result<&[u8], Fail> {
    match buffer_type {
        0 => Ok(&s.request.body),
        1 => Ok(&s.response.body),
        4 => match &s.call_response {
            Some(m) => Ok(&m.body),
            None => fail(NOT_FOUND),
        },
        6 => Ok(&s.vm_config),
        7 => Ok(&s.plugin_config),
        _ => fail(BAD_ARGUMENT),
    }
}

fn log(c: C, level: i32, ptr: i32, len: i32) -> R {
    let mut g = guest(c)?;
    g.check(ptr, len)?;
    g.charge(len as u32 as usize)?;
    let line = g.read_string(ptr, len)?;
    let Some(level) = LogLevel::from_abi(level) else {
        return fail(BAD_ARGUMENT);
    };
    g.state().log(level, line);
    Ok(())
}

fn get_log_level(c: C, ret: i32) -> R {
    // Trace: the host records every line, so a test sees what the plugin would log.
    guest(c)?.write_u32(ret, 0)
}

fn get_current_time(c: C, ret: i32) -> R {
    let mut g = guest(c)?;
    let now = g.state().now_nanos;
    g.write_u64(ret, now)
}

fn get_buffer_bytes(c: C, buffer_type: i32, start: i32, max: i32, ret_ptr: i32, ret_size: i32) -> R {
    let mut g = guest(c)?;
    let data = buffer(g.state(), buffer_type)?;
    let start = (start as u32 as usize).min(data.len());
    let end = start.saturating_add(max as u32 as usize).min(data.len());
    let slice = data[start..end].to_vec();
    g.return_bytes(&slice, ret_ptr, ret_size)
}

fn get_buffer_status(c: C, buffer_type: i32, ret_len: i32, ret_flags: i32) -> R {
    let mut g = guest(c)?;
    let len = buffer(g.state(), buffer_type)?.len() as u32;
    g.write_u32(ret_len, len)?;
    g.write_u32(ret_flags, 0)
}

fn set_buffer_bytes(c: C, buffer_type: i32, start: i32, size: i32, ptr: i32, len: i32) -> R {
    let mut g = guest(c)?;
    g.check(ptr, len)?;
    g.charge(len as u32 as usize)?;
    let data = g.read(ptr, len)?;
    let s = g.state();
    let buf = match buffer_type {
        0 => &mut s.request.body,
        1 => &mut s.response.body,
        _ => return fail(BAD_ARGUMENT),
    };
    // Replaces bytes [start, start + size), clamped: (0, 0) prepends, (0, len) replaces
    // the whole buffer, a start at or past the end appends.
    let start = (start as u32 as usize).min(buf.len());
    let end = start.saturating_add(size as u32 as usize).min(buf.len());
    buf.splice(start..end, data);
    Ok(())
}

fn get_header_map_pairs(c: C, map_type: i32, ret_ptr: i32, ret_size: i32) -> R {
    let mut g = guest(c)?;
    let bytes = serialize_pairs(map_mut(g.state(), map_type)?);
    g.return_bytes(&bytes, ret_ptr, ret_size)
}

fn set_header_map_pairs(c: C, map_type: i32, ptr: i32, len: i32) -> R {
    let mut g = guest(c)?;
    g.check(ptr, len)?;
    g.charge(len as u32 as usize)?;
    let bytes = g.read(ptr, len)?;
    let Some(pairs) = deserialize_pairs(&bytes) else {
        return fail(BAD_ARGUMENT);
    };
    let map = map_mut(g.state(), map_type)?;
    *map = pairs.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
    Ok(())
}

fn get_header_map_value(c: C, map_type: i32, kp: i32, kl: i32, ret_ptr: i32, ret_size: i32) -> R {
    let mut g = guest(c)?;
    let key = g.read_string(kp, kl)?;
    let map = map_mut(g.state(), map_type)?;
    let Some((_, v)) = map.iter().find(|(k, _)| k.eq_ignore_ascii_case(&key)) else {
        return fail(NOT_FOUND);
    };
    let v = v.clone().into_bytes();
    g.return_bytes(&v, ret_ptr, ret_size)
}

fn add_header_map_value(c: C, map_type: i32, kp: i32, kl: i32, vp: i32, vl: i32) -> R {
    let mut g = guest(c)?;
    let key = g.read_string(kp, kl)?.to_ascii_lowercase();
    let value = g.read_string(vp, vl)?;
    g.charge(key.len() + value.len())?;
    map_mut(g.state(), map_type)?.push((key, value));
    Ok(())
}

fn replace_header_map_value(c: C, map_type: i32, kp: i32, kl: i32, vp: i32, vl: i32) -> R {
    let mut g = guest(c)?;
    let key = g.read_string(kp, kl)?.to_ascii_lowercase();
    let value = g.read_string(vp, vl)?;
    g.charge(key.len() + value.len())?;
    let map = map_mut(g.state(), map_type)?;
    match map.iter().position(|(k, _)| k.eq_ignore_ascii_case(&key)) {
        Some(i) => {
            map[i].1 = value;
            let mut n = 0;
            map.retain(|(k, _)| {
                let same = k.eq_ignore_ascii_case(&key);
                n += usize::from(same);
                !same || n == 1
            });
        }
        None => map.push((key, value)),
    }
    Ok(())
}

fn remove_header_map_value(c: C, map_type: i32, kp: i32, kl: i32) -> R {
    let mut g = guest(c)?;
    let key = g.read_string(kp, kl)?;
    map_mut(g.state(), map_type)?.retain(|(k, _)| !k.eq_ignore_ascii_case(&key));
    Ok(())
}

fn get_header_map_size(c: C, map_type: i32, ret: i32) -> R {
    let mut g = guest(c)?;
    let size = serialize_pairs(map_mut(g.state(), map_type)?).len() as u32;
    g.write_u32(ret, size)
}

/// The property at a dotted path, as the host sees it.
pub(crate) fn property(s: &HostState, path: &str) -> Option<Vec<u8>> {
    if let Some(v) = s.properties_set.get(path).or_else(|| s.properties.get(path)) {
        return Some(v.clone());
    }
    let header = |m: &HttpMessage, name: &str| m.header(name).map(|v| v.as_bytes().to_vec());
    if let Some(name) = path.strip_prefix("request.headers.") {
        return header(&s.request, name);
    }
    if let Some(name) = path.strip_prefix("response.headers.") {
        return header(&s.response, name);
    }
    match path {
        "request.path" => header(&s.request, ":path"),
        "request.url_path" => {
            header(&s.request, ":path").map(|p| p.split(|&b| b == b'?').next().unwrap_or_default().to_vec())
        }
        "request.method" => header(&s.request, ":method"),
        "request.host" => header(&s.request, ":authority"),
        "request.scheme" => header(&s.request, ":scheme"),
        "request.id" => header(&s.request, "x-request-id"),
        "request.headers" => Some(serialize_pairs(&s.request.headers)),
        "response.headers" => Some(serialize_pairs(&s.response.headers)),
        "response.code" => {
            let code: i64 = s.response.header(":status")?.parse().ok()?;
            Some(code.to_le_bytes().to_vec())
        }
        _ => None,
    }
}

fn property_path(bytes: &[u8]) -> String {
    let mut segments: Vec<&[u8]> = bytes.split(|&b| b == 0).collect();
    if segments.last().is_some_and(|s| s.is_empty()) {
        segments.pop();
    }
    segments.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect::<Vec<_>>().join(".")
}

fn get_property(c: C, pp: i32, pl: i32, ret_ptr: i32, ret_size: i32) -> R {
    let mut g = guest(c)?;
    let path = property_path(&g.read(pp, pl)?);
    let Some(v) = property(g.state(), &path) else {
        return fail(NOT_FOUND);
    };
    g.return_bytes(&v, ret_ptr, ret_size)
}

fn set_property(c: C, pp: i32, pl: i32, vp: i32, vl: i32) -> R {
    let mut g = guest(c)?;
    let path = property_path(&g.read(pp, pl)?);
    let value = g.read(vp, vl)?;
    g.charge(path.len() + value.len())?;
    g.state().properties_set.insert(path, value);
    Ok(())
}

fn get_shared_data(c: C, kp: i32, kl: i32, ret_ptr: i32, ret_size: i32, ret_cas: i32) -> R {
    let mut g = guest(c)?;
    let key = g.read_string(kp, kl)?;
    let Some((value, cas)) = g.state().shared.get(&key).cloned() else {
        return fail(NOT_FOUND);
    };
    g.read(ret_cas, 4)?;
    g.return_bytes(&value, ret_ptr, ret_size)?;
    g.write_u32(ret_cas, cas)
}

fn set_shared_data(c: C, kp: i32, kl: i32, vp: i32, vl: i32, cas: i32) -> R {
    let mut g = guest(c)?;
    let key = g.read_string(kp, kl)?;
    let value = g.read(vp, vl)?;
    g.charge(key.len() + value.len())?;
    let shared = &mut g.state().shared;
    let current = shared.get(&key).map_or(0, |(_, cas)| *cas);
    // A CAS of 0 writes unconditionally; another must match the current one.
    if cas != 0 && cas as u32 != current {
        return fail(CAS_MISMATCH);
    }
    shared.insert(key, (value, current.wrapping_add(1).max(1)));
    Ok(())
}

fn register_shared_queue(c: C, np: i32, nl: i32, ret_id: i32) -> R {
    let mut g = guest(c)?;
    let name = g.read_string(np, nl)?;
    let queues = &mut g.state().queues;
    let id = match queues.iter().position(|(n, _)| *n == name) {
        Some(i) => i + 1,
        None => {
            queues.push((name, Default::default()));
            queues.len()
        }
    };
    g.write_u32(ret_id, id as u32)
}

fn resolve_shared_queue(c: C, _vp: i32, _vl: i32, np: i32, nl: i32, ret_id: i32) -> R {
    // One VM: the vm_id is not consulted.
    let mut g = guest(c)?;
    let name = g.read_string(np, nl)?;
    let Some(i) = g.state().queues.iter().position(|(n, _)| *n == name) else {
        return fail(NOT_FOUND);
    };
    g.write_u32(ret_id, i as u32 + 1)
}

fn queue(s: &mut HostState, id: i32) -> Result<&mut std::collections::VecDeque<Vec<u8>>, Fail> {
    let i = (id as u32 as usize).wrapping_sub(1);
    match s.queues.get_mut(i) {
        Some((_, q)) => Ok(q),
        None => fail(NOT_FOUND),
    }
}

fn enqueue_shared_queue(c: C, id: i32, vp: i32, vl: i32) -> R {
    let mut g = guest(c)?;
    let value = g.read(vp, vl)?;
    g.charge(value.len())?;
    queue(g.state(), id)?.push_back(value);
    Ok(())
}

fn dequeue_shared_queue(c: C, id: i32, ret_ptr: i32, ret_size: i32) -> R {
    let mut g = guest(c)?;
    let Some(value) = queue(g.state(), id)?.pop_front() else {
        return fail(EMPTY);
    };
    g.return_bytes(&value, ret_ptr, ret_size)
}

fn define_metric(c: C, metric_type: i32, np: i32, nl: i32, ret_id: i32) -> R {
    let mut g = guest(c)?;
    let name = g.read_string(np, nl)?;
    let value = match metric_type {
        0 => MetricValue::Counter(0),
        1 => MetricValue::Gauge(0),
        2 => MetricValue::Histogram(Vec::new()),
        _ => return fail(BAD_ARGUMENT),
    };
    let metrics = &mut g.state().metrics;
    // Defining a metric again returns the same one, as Envoy's stats do.
    let id = match metrics.iter().position(|m| m.name == name) {
        Some(i) if std::mem::discriminant(&metrics[i].value) == std::mem::discriminant(&value) => i + 1,
        Some(_) => return fail(BAD_ARGUMENT),
        None => {
            metrics.push(Metric { name, value });
            metrics.len()
        }
    };
    g.write_u32(ret_id, id as u32)
}

fn metric(s: &mut HostState, id: i32) -> Result<&mut MetricValue, Fail> {
    let i = (id as u32 as usize).wrapping_sub(1);
    match s.metrics.get_mut(i) {
        Some(m) => Ok(&mut m.value),
        None => fail(NOT_FOUND),
    }
}

fn increment_metric(c: C, id: i32, offset: i64) -> R {
    match metric(c.data_mut(), id)? {
        MetricValue::Counter(v) if offset >= 0 => *v = v.saturating_add(offset as u64),
        MetricValue::Gauge(v) => *v = v.saturating_add(offset),
        _ => return fail(BAD_ARGUMENT),
    }
    Ok(())
}

fn record_metric(c: C, id: i32, value: i64) -> R {
    match metric(c.data_mut(), id)? {
        // A counter's recorded value is its new total.
        MetricValue::Counter(v) => *v = value as u64,
        MetricValue::Gauge(v) => *v = value,
        MetricValue::Histogram(values) => values.push(value as u64),
    }
    Ok(())
}

fn get_metric(c: C, id: i32, ret: i32) -> R {
    let mut g = guest(c)?;
    let v = match metric(g.state(), id)? {
        MetricValue::Counter(v) => *v,
        MetricValue::Gauge(v) => *v as u64,
        MetricValue::Histogram(_) => return fail(BAD_ARGUMENT),
    };
    g.write_u64(ret, v)
}

#[allow(clippy::too_many_arguments)]
fn send_local_response(
    c: C,
    status_code: i32,
    dp: i32,
    dl: i32,
    bp: i32,
    bl: i32,
    hp: i32,
    hl: i32,
    grpc_status: i32,
) -> R {
    let mut g = guest(c)?;
    let details = g.read_string(dp, dl)?;
    let body = g.read(bp, bl)?;
    let Some(headers) = deserialize_pairs(&g.read(hp, hl)?) else {
        return fail(BAD_ARGUMENT);
    };
    g.state().local_reply = Some(LocalReply { status: status_code as u32, headers, body, details, grpc_status });
    Ok(())
}

fn continue_stream(c: C, stream_type: i32) -> R {
    let s = c.data_mut();
    match stream_type {
        0 => s.resume_request = true,
        1 => s.resume_response = true,
        _ => return fail(BAD_ARGUMENT),
    }
    Ok(())
}

fn close_stream(c: C, stream_type: i32) -> R {
    if !(0..=1).contains(&stream_type) {
        return fail(BAD_ARGUMENT);
    }
    c.data_mut().stream_closed = true;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn http_call(
    c: C,
    up: i32,
    ul: i32,
    hp: i32,
    hl: i32,
    bp: i32,
    bl: i32,
    tp: i32,
    tl: i32,
    timeout_ms: i32,
    ret_token: i32,
) -> R {
    let mut g = guest(c)?;
    let upstream = g.read_string(up, ul)?;
    let body = g.read(bp, bl)?;
    let (Some(headers), Some(trailers)) = (deserialize_pairs(&g.read(hp, hl)?), deserialize_pairs(&g.read(tp, tl)?))
    else {
        return fail(BAD_ARGUMENT);
    };
    // Envoy refuses a call without the pseudo-headers it needs to build the request.
    if ![":method", ":path", ":authority"].iter().all(|p| headers.iter().any(|(k, _)| k == p)) {
        return fail(BAD_ARGUMENT);
    }
    g.read(ret_token, 4)?;
    g.charge(upstream.len() + body.len() + hl as u32 as usize + tl as u32 as usize)?;
    let s = g.state();
    let token = s.http_calls.len() as u32 + 1;
    s.http_calls.push(HttpCall { upstream, headers, body, trailers, timeout_ms: timeout_ms as u32, token });
    let context = s.effective_context;
    s.pending_calls.push_back((context, token));
    g.write_u32(ret_token, token)
}

fn unimplemented() -> wasmtime::Result<i32> {
    Ok(UNIMPLEMENTED)
}

/// Defines every host function of this module in `linker`.
pub(crate) fn add_to_linker(l: &mut Linker<HostState>) -> wasmtime::Result<()> {
    type Cx<'c> = Caller<'c, HostState>;
    let m = "env";
    l.func_wrap(m, "proxy_log", |mut c: Cx, a: i32, b: i32, d: i32| finish(log(&mut c, a, b, d)))?;
    l.func_wrap(m, "proxy_get_log_level", |mut c: Cx, a: i32| finish(get_log_level(&mut c, a)))?;
    l.func_wrap(m, "proxy_get_current_time_nanoseconds", |mut c: Cx, a: i32| finish(get_current_time(&mut c, a)))?;
    l.func_wrap(m, "proxy_set_tick_period_milliseconds", |mut c: Cx, ms: i32| {
        c.data_mut().tick_period_ms = ms as u32;
        Ok(OK)
    })?;
    l.func_wrap(m, "proxy_get_configuration", |mut c: Cx, p: i32, s: i32| {
        finish(get_buffer_bytes(&mut c, 7, 0, i32::MAX, p, s))
    })?;
    l.func_wrap(m, "proxy_get_buffer_bytes", |mut c: Cx, t: i32, st: i32, mx: i32, p: i32, s: i32| {
        finish(get_buffer_bytes(&mut c, t, st, mx, p, s))
    })?;
    l.func_wrap(m, "proxy_get_buffer_status", |mut c: Cx, t: i32, a: i32, b: i32| {
        finish(get_buffer_status(&mut c, t, a, b))
    })?;
    l.func_wrap(m, "proxy_set_buffer_bytes", |mut c: Cx, t: i32, st: i32, sz: i32, p: i32, s: i32| {
        finish(set_buffer_bytes(&mut c, t, st, sz, p, s))
    })?;
    l.func_wrap(m, "proxy_get_header_map_pairs", |mut c: Cx, t: i32, p: i32, s: i32| {
        finish(get_header_map_pairs(&mut c, t, p, s))
    })?;
    l.func_wrap(m, "proxy_set_header_map_pairs", |mut c: Cx, t: i32, p: i32, s: i32| {
        finish(set_header_map_pairs(&mut c, t, p, s))
    })?;
    l.func_wrap(m, "proxy_get_header_map_value", |mut c: Cx, t: i32, kp: i32, kl: i32, p: i32, s: i32| {
        finish(get_header_map_value(&mut c, t, kp, kl, p, s))
    })?;
    l.func_wrap(m, "proxy_add_header_map_value", |mut c: Cx, t: i32, kp: i32, kl: i32, vp: i32, vl: i32| {
        finish(add_header_map_value(&mut c, t, kp, kl, vp, vl))
    })?;
    l.func_wrap(m, "proxy_replace_header_map_value", |mut c: Cx, t: i32, kp: i32, kl: i32, vp: i32, vl: i32| {
        finish(replace_header_map_value(&mut c, t, kp, kl, vp, vl))
    })?;
    l.func_wrap(m, "proxy_remove_header_map_value", |mut c: Cx, t: i32, kp: i32, kl: i32| {
        finish(remove_header_map_value(&mut c, t, kp, kl))
    })?;
    l.func_wrap(m, "proxy_get_header_map_size", |mut c: Cx, t: i32, r: i32| finish(get_header_map_size(&mut c, t, r)))?;
    l.func_wrap(m, "proxy_get_property", |mut c: Cx, pp: i32, pl: i32, p: i32, s: i32| {
        finish(get_property(&mut c, pp, pl, p, s))
    })?;
    l.func_wrap(m, "proxy_set_property", |mut c: Cx, pp: i32, pl: i32, vp: i32, vl: i32| {
        finish(set_property(&mut c, pp, pl, vp, vl))
    })?;
    l.func_wrap(m, "proxy_get_shared_data", |mut c: Cx, kp: i32, kl: i32, p: i32, s: i32, cas: i32| {
        finish(get_shared_data(&mut c, kp, kl, p, s, cas))
    })?;
    l.func_wrap(m, "proxy_set_shared_data", |mut c: Cx, kp: i32, kl: i32, vp: i32, vl: i32, cas: i32| {
        finish(set_shared_data(&mut c, kp, kl, vp, vl, cas))
    })?;
    l.func_wrap(m, "proxy_register_shared_queue", |mut c: Cx, np: i32, nl: i32, r: i32| {
        finish(register_shared_queue(&mut c, np, nl, r))
    })?;
    l.func_wrap(m, "proxy_resolve_shared_queue", |mut c: Cx, vp: i32, vl: i32, np: i32, nl: i32, r: i32| {
        finish(resolve_shared_queue(&mut c, vp, vl, np, nl, r))
    })?;
    l.func_wrap(m, "proxy_enqueue_shared_queue", |mut c: Cx, id: i32, vp: i32, vl: i32| {
        finish(enqueue_shared_queue(&mut c, id, vp, vl))
    })?;
    l.func_wrap(m, "proxy_dequeue_shared_queue", |mut c: Cx, id: i32, p: i32, s: i32| {
        finish(dequeue_shared_queue(&mut c, id, p, s))
    })?;
    l.func_wrap(m, "proxy_define_metric", |mut c: Cx, t: i32, np: i32, nl: i32, r: i32| {
        finish(define_metric(&mut c, t, np, nl, r))
    })?;
    l.func_wrap(m, "proxy_increment_metric", |mut c: Cx, id: i32, off: i64| finish(increment_metric(&mut c, id, off)))?;
    l.func_wrap(m, "proxy_record_metric", |mut c: Cx, id: i32, v: i64| finish(record_metric(&mut c, id, v)))?;
    l.func_wrap(m, "proxy_get_metric", |mut c: Cx, id: i32, r: i32| finish(get_metric(&mut c, id, r)))?;
    l.func_wrap(
        m,
        "proxy_send_local_response",
        |mut c: Cx, st: i32, dp: i32, dl: i32, bp: i32, bl: i32, hp: i32, hl: i32, gs: i32| {
            finish(send_local_response(&mut c, st, dp, dl, bp, bl, hp, hl, gs))
        },
    )?;
    l.func_wrap(m, "proxy_continue_stream", |mut c: Cx, t: i32| finish(continue_stream(&mut c, t)))?;
    l.func_wrap(m, "proxy_close_stream", |mut c: Cx, t: i32| finish(close_stream(&mut c, t)))?;
    l.func_wrap(m, "proxy_continue_request", |mut c: Cx| finish(continue_stream(&mut c, 0)))?;
    l.func_wrap(m, "proxy_continue_response", |mut c: Cx| finish(continue_stream(&mut c, 1)))?;
    l.func_wrap(m, "proxy_clear_route_cache", || Ok(OK))?;
    l.func_wrap(
        m,
        "proxy_http_call",
        |mut c: Cx, up: i32, ul: i32, hp: i32, hl: i32, bp: i32, bl: i32, tp: i32, tl: i32, to: i32, r: i32| {
            finish(http_call(&mut c, up, ul, hp, hl, bp, bl, tp, tl, to, r))
        },
    )?;
    l.func_wrap(m, "proxy_done", |mut c: Cx| {
        c.data_mut().done_called = true;
        Ok(OK)
    })?;
    l.func_wrap(m, "proxy_set_effective_context", |mut c: Cx, ctx: i32| {
        c.data_mut().effective_context = ctx as u32;
        Ok(OK)
    })?;
    l.func_wrap(m, "proxy_call_foreign_function", |_: i32, _: i32, _: i32, _: i32, _: i32, _: i32| unimplemented())?;
    l.func_wrap(
        m,
        "proxy_grpc_call",
        |_: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32| {
            unimplemented()
        },
    )?;
    l.func_wrap(m, "proxy_grpc_stream", |_: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32| {
        unimplemented()
    })?;
    l.func_wrap(m, "proxy_grpc_send", |_: i32, _: i32, _: i32, _: i32| unimplemented())?;
    l.func_wrap(m, "proxy_grpc_cancel", |_: i32| unimplemented())?;
    l.func_wrap(m, "proxy_grpc_close", |_: i32| unimplemented())?;
    Ok(())
}
