//! The data of one store: everything the host functions read and change.

use std::collections::{BTreeMap, VecDeque};

use super::limits::Limiter;
use super::{HttpCall, HttpMessage, LocalReply, LogLevel, MetricValue};

/// A metric the plugin defined; its id is its index plus one.
#[derive(Debug)]
pub(crate) struct Metric {
    pub(crate) name: String,
    pub(crate) value: MetricValue,
}

#[derive(Debug, Default)]
pub(crate) struct HostState {
    pub(crate) limiter: Limiter,
    pub(crate) plugin_config: Vec<u8>,
    pub(crate) vm_config: Vec<u8>,
    pub(crate) env: Vec<(String, String)>,
    /// The deterministic clock, in nanoseconds since the epoch.
    pub(crate) now_nanos: u64,
    /// The state of the splitmix64 generator behind `random_get`.
    pub(crate) rng: u64,
    /// Properties the test gave, by dotted path.
    pub(crate) properties: BTreeMap<String, Vec<u8>>,
    /// Properties the plugin set.
    pub(crate) properties_set: BTreeMap<String, Vec<u8>>,
    pub(crate) logs: Vec<(LogLevel, String)>,
    /// Unfinished lines written to WASI stdout and stderr.
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
    pub(crate) request: HttpMessage,
    pub(crate) response: HttpMessage,
    /// The response of the http call being delivered, during `proxy_on_http_call_response`.
    pub(crate) call_response: Option<HttpMessage>,
    pub(crate) shared: BTreeMap<String, (Vec<u8>, u32)>,
    /// Shared queues; a queue's id is its index plus one.
    pub(crate) queues: Vec<(String, VecDeque<Vec<u8>>)>,
    pub(crate) metrics: Vec<Metric>,
    pub(crate) local_reply: Option<LocalReply>,
    pub(crate) stream_closed: bool,
    pub(crate) resume_request: bool,
    pub(crate) resume_response: bool,
    pub(crate) http_calls: Vec<HttpCall>,
    /// Dispatched calls not yet answered: the dispatching context and the token.
    pub(crate) pending_calls: VecDeque<(u32, u32)>,
    /// The context the current callback runs for (`proxy_set_effective_context` changes it).
    pub(crate) effective_context: u32,
    pub(crate) tick_period_ms: u32,
    pub(crate) done_called: bool,
    /// Bytes of guest data the host has kept (see `Guest::charge`) and their limit.
    pub(crate) host_bytes: usize,
    pub(crate) host_bytes_limit: usize,
}

impl HostState {
    pub(crate) fn log(&mut self, level: LogLevel, line: String) {
        self.logs.push((level, line));
    }

    /// The next 64 random bits (splitmix64: deterministic, seeded by the test).
    pub(crate) fn next_random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Moves finished lines of WASI output into the log; with `all`, unfinished ones too.
    pub(crate) fn flush_stdio(&mut self, all: bool) {
        for (level, which) in [(LogLevel::Info, false), (LogLevel::Error, true)] {
            let buf = if which { &mut self.stderr } else { &mut self.stdout };
            let mut lines = Vec::new();
            while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=nl).collect();
                lines.push(String::from_utf8_lossy(&line[..line.len() - 1]).into_owned());
            }
            if all && !buf.is_empty() {
                lines.push(String::from_utf8_lossy(buf).into_owned());
                buf.clear();
            }
            for line in lines {
                self.log(level, line);
            }
        }
    }
}
