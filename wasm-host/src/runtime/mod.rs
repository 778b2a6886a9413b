//! The runtime: runs a proxy-wasm HTTP filter on wasmtime, sandboxed, and drives one
//! HTTP request through it as Envoy would, for `meshc test`.
//!
//! - [`Plugin::compile`] compiles a module once (binary or text) and links it against the
//!   host; the result is the cached compiled module every instance starts from.
//! - [`Vm::start`] instantiates it in a fresh [`wasmtime::Store`] with the [`Limits`]
//!   and runs the root context's lifecycle (`_initialize`/`_start`, `proxy_on_context_create`,
//!   `proxy_on_vm_start`, `proxy_on_configure`).
//! - [`Vm::request`] drives one stream through the filter; [`Plugin::run`] does both.
//!
//! The host functions live in [`abi_host`] (proxy-wasm 0.2.1 and 0.2.0, module `env`)
//! and [`wasi`] (stubs of `wasi_snapshot_preview1` with no filesystem, network or real clock).
//!
//! Simplifications, compared with Envoy:
//! - a body arrives in one chunk; trailers, if any, follow it;
//! - an http call is answered right after the callback that dispatched it returns, with the
//!   test's next response (or, when the test gave none, as a failed call: no headers, no body);
//!   [`Vm::start`] and each [`Vm::request`] answer from the start of the run's list;
//! - a callback's Pause must be resolved by then (by `proxy_continue_stream` or a local reply),
//!   except before the end of the stream: a paused headers callback still gets the body, whose
//!   callback may continue, and a paused body callback means "buffer"; a Pause at the end of
//!   the stream fails the run with [`RunError::Stalled`]; any action other than 0 is a Pause;
//! - after a local reply the stream skips the rest of the request and the upstream, and goes
//!   to `proxy_on_log`, `proxy_on_done`, `proxy_on_delete` (Envoy also runs the encoder path);
//! - shared queues never call `proxy_on_queue_ready`; timers tick only in [`Vm::advance_clock`];
//! - there is one VM, one root context and one stream at a time.

pub mod abi_host;
mod error;
mod guest;
mod lifecycle;
mod limits;
mod state;
pub mod wasi;

use std::collections::BTreeMap;

pub use error::RunError;
pub use lifecycle::{Plugin, Vm};
pub use limits::Limits;

/// A request or a response: headers (pseudo-headers such as `:path`, `:status` included),
/// a body and trailers. Header names are compared without regard to case.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpMessage {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub trailers: Vec<(String, String)>,
}

impl HttpMessage {
    /// The first value of header `name`, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// The local reply a plugin sent with `proxy_send_local_response`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalReply {
    pub status: u32,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub details: String,
    pub grpc_status: i32,
}

/// proxy-wasm's log levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Critical,
}

impl LogLevel {
    pub(crate) fn from_abi(level: i32) -> Option<LogLevel> {
        Some(match level {
            0 => LogLevel::Trace,
            1 => LogLevel::Debug,
            2 => LogLevel::Info,
            3 => LogLevel::Warn,
            4 => LogLevel::Error,
            5 => LogLevel::Critical,
            _ => return None,
        })
    }
}

/// A metric's value at the end of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetricValue {
    Counter(u64),
    Gauge(i64),
    /// Every value recorded, in order.
    Histogram(Vec<u64>),
}

/// An http call a plugin dispatched with `proxy_http_call`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpCall {
    /// The cluster the call goes to.
    pub upstream: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub trailers: Vec<(String, String)>,
    pub timeout_ms: u32,
    pub token: u32,
}

/// What a test gives the host: the plugin's inputs and the traffic.
#[derive(Clone, Debug)]
pub struct PluginRun {
    /// The plugin configuration (`proxy_on_configure`, buffer type 7).
    pub plugin_config: Vec<u8>,
    /// The VM configuration (`proxy_on_vm_start`, buffer type 6).
    pub vm_config: Vec<u8>,
    /// The WASI environment, the only one the plugin sees (the WasmPlugin's `env`).
    pub env: Vec<(String, String)>,
    /// Properties by dotted path (`source.address`, `plugin_name`, `node.metadata.X`);
    /// the host also derives `request.*`/`response.*` from the messages (see [`abi_host`]).
    pub properties: BTreeMap<String, Vec<u8>>,
    /// The downstream request.
    pub request: HttpMessage,
    /// What the upstream answers, when the request is forwarded.
    pub response: HttpMessage,
    /// The answers to the plugin's http calls, in the order they are dispatched.
    pub http_call_responses: Vec<HttpMessage>,
    pub limits: Limits,
    /// The clock's fixed start, in nanoseconds since the Unix epoch.
    pub start_time_nanos: u64,
    /// The seed of WASI `random_get`.
    pub random_seed: u64,
}

impl Default for PluginRun {
    fn default() -> Self {
        PluginRun {
            plugin_config: Vec::new(),
            vm_config: Vec::new(),
            env: Vec::new(),
            properties: BTreeMap::new(),
            request: HttpMessage::default(),
            response: HttpMessage::default(),
            http_call_responses: Vec::new(),
            limits: Limits::default(),
            // 2026-01-01T00:00:00Z.
            start_time_nanos: 1_767_225_600_000_000_000,
            random_seed: 0x006d_6573_6863,
        }
    }
}

/// What came out of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunOutcome {
    /// The request as the plugin let it go upstream (meaningless when `local_reply` is set).
    pub forwarded_request: HttpMessage,
    /// The response sent downstream: the upstream's as the plugin changed it, or the local reply.
    pub returned_response: HttpMessage,
    pub local_reply: Option<LocalReply>,
    /// Whether the plugin closed (reset) the stream with `proxy_close_stream`.
    pub stream_closed: bool,
    pub metrics: BTreeMap<String, MetricValue>,
    /// Log lines, in order: `proxy_log`, and WASI stdout (Info) and stderr (Error) lines.
    pub logs: Vec<(LogLevel, String)>,
    pub http_calls: Vec<HttpCall>,
    /// The shared data at the end of the run: key, value and CAS.
    pub shared_data: BTreeMap<String, (Vec<u8>, u32)>,
    /// Properties the plugin set with `proxy_set_property`.
    pub properties_set: BTreeMap<String, Vec<u8>>,
}
