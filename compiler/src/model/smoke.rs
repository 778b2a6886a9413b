//! Smoke scenarios: requests to send to a proxy running in a real Envoy, and what
//! must be observed. This is plain data lowered from `smoke` declarations; the CLI's
//! runner (the `meshc-smoke` crate) starts the processes and judges the expectations.

use crate::span::Span;

/// One `smoke NAME { ... }` declaration.
#[derive(Clone, Debug, PartialEq)]
pub struct SmokeScenario {
    /// The declaration's name, as written.
    pub name: String,
    /// The `proxy` declaration it runs against.
    pub proxy: String,
    /// `fresh_envoy true`: run in an Envoy process of its own rather than the one the
    /// proxy's other scenarios share, for a scenario that depends on a new process
    /// (rate-limit tokens, Lua globals, gauges).
    pub fresh_envoy: bool,
    /// The requests, sent one after the other on fresh connections.
    pub requests: Vec<SmokeRequest>,
    /// Expectations judged after every request has been answered (metrics, access
    /// logs, spans, Envoy's log).
    pub expect: Vec<Expectation>,
    /// The declaration's name, for reports.
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SmokeRequest {
    pub method: String,
    /// The path and query, starting with `/`.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    /// Expectations on this request's response (status, headers, body) and on what
    /// the upstream received.
    pub expect: Vec<Expectation>,
    pub span: Span,
}

/// Something a scenario expects to observe.
#[derive(Clone, Debug, PartialEq)]
pub struct Expectation {
    pub kind: ExpectationKind,
    /// Where the user wrote it, for reports.
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExpectationKind {
    /// The response status.
    Status(u16),
    /// A response header is present, with this value when one is given.
    Header { name: String, value: Option<String> },
    /// A response header is absent.
    NoHeader { name: String },
    /// The response body contains this text.
    BodyContains(String),
    /// The local upstream received this request header (with this value when given).
    UpstreamHeader { name: String, value: Option<String> },
    /// The local upstream did not receive this request header.
    NoUpstreamHeader { name: String },
    /// A metric on the admin interface's `/stats/prometheus`: a series of this name
    /// whose labels include these, with this value when one is given (for a
    /// histogram, the name of its `_count` or `_sum` series can be given).
    Metric { name: String, labels: Vec<(String, String)>, value: Option<f64> },
    /// Access-log lines: how many lines there are in all, when given, and that some
    /// line contains each of these texts.
    AccessLog { lines: Option<usize>, contains: Vec<String> },
    /// Spans received by the local trace collector: how many, when given, and that
    /// some span has this name and these tags.
    Span { count: Option<usize>, name: Option<String>, tags: Vec<(String, String)> },
    /// Envoy's own log (its stderr) contains this text.
    EnvoyLog(String),
    /// Envoy's own log does not contain this text.
    NoEnvoyLog(String),
}
