//! Smoke scenarios: requests to send to a proxy running in a real Envoy, or to one Wasm
//! plugin, and what must be observed. This is plain data lowered from `smoke`
//! declarations; the `meshc-smoke` crate runs them (in the real Envoy for `meshc smoke`,
//! a plugin's also on wasmtime for `meshc test`) and judges the expectations.

use crate::span::Span;

/// One `smoke NAME { ... }` declaration.
#[derive(Clone, Debug, PartialEq)]
pub struct SmokeScenario {
    /// The declaration's name, as written.
    pub name: String,
    /// What it runs against: a `proxy` declaration, or one `wasm_plugin` alone.
    pub target: ScenarioTarget,
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

impl SmokeScenario {
    /// What the scenario runs against, as reports name it: `my_service` for a proxy,
    /// `plugin custom_header` for a plugin. Scenarios of one target share a process.
    pub fn target_name(&self) -> String {
        match &self.target {
            ScenarioTarget::Proxy(name) => name.clone(),
            ScenarioTarget::Plugin(plugin) => format!("plugin {}", plugin.declaration),
        }
    }

    /// The plugin under test, for a plugin scenario.
    pub fn plugin(&self) -> Option<&PluginUnderTest> {
        match &self.target {
            ScenarioTarget::Plugin(plugin) => Some(plugin),
            ScenarioTarget::Proxy(_) => None,
        }
    }
}

/// What a scenario runs against.
#[derive(Clone, Debug, PartialEq)]
pub enum ScenarioTarget {
    /// `proxy NAME`: the bootstrap of a `proxy` declaration, with everything the package
    /// applies to it.
    Proxy(String),
    /// `plugin NAME`: one `wasm_plugin` alone in front of the echo upstream, on wasmtime
    /// (`meshc test`) and in the real Envoy (`meshc smoke`).
    Plugin(PluginUnderTest),
}

/// The `wasm_plugin` a plugin scenario runs, and what only a test can give it.
#[derive(Clone, Debug, PartialEq)]
pub struct PluginUnderTest {
    /// The `wasm_plugin` declaration's name, as written (`custom_header`).
    pub declaration: String,
    /// The WasmPlugin resource it lowered to: its namespace and name, set when the
    /// checker resolves the declaration.
    pub namespace: String,
    pub name: String,
    /// Properties the plugin reads with `proxy_get_property` that a test sets, by the
    /// attribute's dotted path (`source.principal`), typed as `std.attributes` types them.
    pub properties: Vec<(String, PropertyValue)>,
    /// The answers to the plugin's `proxy_http_call`s, in the order they are made.
    pub call_responses: Vec<CallResponse>,
    /// Where `plugin NAME` was written.
    pub span: Span,
}

impl PluginUnderTest {
    /// Whether the scenario gives the plugin something only a test can give (properties,
    /// answers to its calls), so that the real Envoy cannot run it as written.
    pub fn needs_a_test_host(&self) -> bool {
        !self.properties.is_empty() || !self.call_responses.is_empty()
    }
}

/// A property's value, typed by its attribute.
#[derive(Clone, Debug, PartialEq)]
pub enum PropertyValue {
    String(String),
    Int(i64),
    Uint(u64),
    Bool(bool),
    Double(f64),
    /// A duration, in nanoseconds.
    Duration(i64),
}

/// The answer to one http call a plugin makes.
#[derive(Clone, Debug, PartialEq)]
pub struct CallResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
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
    /// Envoy's own log (its stderr) contains this text. For a plugin scenario that is
    /// where the plugin's log lines go (info and above), on wasmtime too.
    EnvoyLog(String),
    /// Envoy's own log does not contain this text.
    NoEnvoyLog(String),
}
