//! Plugin scenarios on wasmtime: what `meshc test` runs. A scenario that names a
//! `plugin` runs that one `wasm_plugin` alone, in meshc's proxy-wasm host, in front of a
//! model of the echo upstream, and is judged by the same code as in the real Envoy
//! ([`crate::judge`]), so that a scenario means the same in both.
//!
//! How the host stands in for Envoy and the echo upstream:
//!
//! - The plugin gets its configuration as the bootstrap gives it (the WasmPlugin's
//!   `pluginConfig` as JSON), the declaration's `env` (`INLINE` values, and `HOST` ones
//!   from meshc's own environment, as Envoy reads them from its own), the scenario's
//!   `properties`, and `plugin_name`, `plugin_root_id` and `plugin_vm_id`.
//! - Each request reaches the plugin as Envoy's connection manager hands it on: `:method`,
//!   `:path`, `:scheme` `http`, `:authority` (the request's `host`, else `127.0.0.1`), the
//!   request's headers, `x-forwarded-proto` and an `x-request-id`.
//! - What the plugin lets through is answered by the echo upstream's own function (status
//!   from `/status/NNN`, `x-echo-response-header`, the request echoed as JSON); a local
//!   reply goes back instead.
//! - The plugin's metrics are shown as Envoy shows them on `/stats/prometheus`: the name
//!   with every character other than a letter, a digit or `_` replaced by `_`, counters and
//!   gauges by value, histograms as `_count` and `_sum`.
//! - Its log lines at info and above are Envoy's log (Envoy runs with `wasm:info`):
//!   `[LEVEL][wasm] wasm log NAME NAME: MESSAGE`, Envoy's text without its time, thread and
//!   source location.
//! - The router's `x-envoy-upstream-service-time` is on the response the plugin sees; the
//!   connection manager's `date` and `server: envoy` on the one the client gets.
//! - The scenarios of a plugin share a VM as they share an Envoy process (see
//!   [`run_plugin_scenarios`]); the plugin's http calls are answered with the scenario's
//!   `call_response`s, each once, in order.
//!
//! A plugin that traps, loops past its fuel or grows past its memory fails the scenario
//! with the reason and the callback; Envoy would answer 503 instead.

use crate::echo::{UpstreamRequest, echo_response};
use crate::http::{Response, ServerRequest};
use crate::judge::{Answer, Window, is_observation, judge_answer, judge_last_answer, judge_observation};
use crate::prometheus::Metrics;
use crate::{Failure, Report, ScenarioResult};
use meshc_compiler::driver::Analysis;
use meshc_compiler::model::istio::{Resource, WasmPlugin};
use meshc_compiler::model::smoke::{PluginUnderTest, PropertyValue, SmokeScenario};
use meshc_wasm_host::runtime::{HttpMessage, LogLevel, MetricValue, Plugin, PluginRun, Vm};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

/// What reports show in place of an Envoy version for a run on wasmtime.
pub const WASMTIME: &str = "wasmtime";

/// Runs the package's plugin scenarios on wasmtime, in their order. `host_env` gives the
/// values of the environment variables a WasmPlugin passes from the host (`HOST`).
///
/// The scenarios of one plugin share a VM, as they share an Envoy process in `meshc
/// smoke`, so that state the plugin keeps (gauges, globals) carries over alike; a scenario
/// with `fresh_envoy true`, or one that sets properties or answers calls (which Envoy does
/// not run), gets a VM of its own.
pub fn run_plugin_scenarios(
    analysis: &Analysis,
    package_root: &Path,
    host_env: &dyn Fn(&str) -> Option<String>,
) -> Report {
    let started = Instant::now();
    let mut compiled: BTreeMap<(String, String), Result<Plugin, String>> = BTreeMap::new();
    let mut shared: BTreeMap<(String, String), SharedVm> = BTreeMap::new();
    let mut results = Vec::new();
    let mut first_request = None;
    for (index, scenario) in analysis.lowered.smokes.iter().enumerate() {
        let Some(under_test) = scenario.plugin() else { continue };
        let scenario_start = Instant::now();
        let mut shared_with = Vec::new();
        let mut log_excerpt = None;
        let failures = match find_plugin(analysis, under_test) {
            None => vec![Failure {
                span: Some(under_test.span),
                message: format!("the package has no WasmPlugin {}/{}", under_test.namespace, under_test.name),
            }],
            Some(resource) => {
                let key = (under_test.namespace.clone(), under_test.name.clone());
                let plugin = compiled.entry(key.clone()).or_insert_with(|| compile(resource, package_root));
                match plugin {
                    Err(message) => vec![Failure { span: Some(under_test.span), message: message.clone() }],
                    Ok(plugin) => {
                        first_request.get_or_insert_with(|| started.elapsed());
                        let run = base_run(under_test, resource, host_env);
                        let alone = scenario.fresh_envoy || under_test.needs_a_test_host();
                        let mut own = SharedVm::default();
                        let vm = if alone { &mut own } else { shared.entry(key).or_default() };
                        if vm.vm.is_none() {
                            match start_vm(plugin, &run, &plugin_name(resource)) {
                                Ok(started) => *vm = started,
                                Err(failure) => vm.failure = Some(failure),
                            }
                        } else {
                            shared_with = vm.scenarios.clone();
                        }
                        vm.scenarios.push(scenario.name.clone());
                        match &vm.failure {
                            Some(message) => vec![Failure { span: Some(under_test.span), message: message.clone() }],
                            None => {
                                let (failures, log) = run_scenario(scenario, resource, run, vm);
                                // The plugin's log is what a failure's reader needs next, as
                                // Envoy's log is in `meshc smoke`.
                                if !failures.is_empty() && !log.trim().is_empty() {
                                    let lines: Vec<&str> = log.lines().collect();
                                    log_excerpt = Some(lines[lines.len().saturating_sub(10)..].join("\n"));
                                }
                                failures
                            }
                        }
                    }
                }
            }
        };
        results.push(ScenarioResult {
            scenario: scenario.name.clone(),
            proxy: scenario.target_name(),
            envoy_version: WASMTIME,
            span: scenario.span,
            failures,
            log_excerpt,
            duration: scenario_start.elapsed(),
            shared_with,
            order: (index, 0),
        });
    }
    Report { results, envoys: Vec::new(), first_request_after: first_request, total: started.elapsed() }
}

/// A VM and what its scenarios share, as an Envoy process and its log.
#[derive(Default)]
struct SharedVm {
    vm: Option<Vm>,
    /// The log lines of the VM's start, part of every scenario's log as Envoy's start-up
    /// lines are.
    startup_log: String,
    /// Why the VM could not start, for every scenario that needs it.
    failure: Option<String>,
    /// The scenarios that ran in it, in order.
    scenarios: Vec<String>,
}

fn start_vm(plugin: &Plugin, run: &PluginRun, name: &str) -> Result<SharedVm, String> {
    let mut vm = Vm::start(plugin, run).map_err(|error| format!("the plugin did not start: {error}"))?;
    let mut startup_log = String::new();
    write_log(&mut startup_log, name, &vm.take_logs());
    Ok(SharedVm { vm: Some(vm), startup_log, failure: None, scenarios: Vec::new() })
}

/// Log lines as Envoy writes a plugin's (it logs Wasm at info and above in `meshc smoke`):
/// `wasm log NAME ROOT_ID: MESSAGE`, where the bootstrap sets both to the plugin's name (as
/// the pinned builds print it; `tests/plugin-agreement` holds it to them). Envoy's own
/// lines also carry a time, a thread and a source location, so only the text from
/// `wasm log` on is the same in both.
fn write_log(out: &mut String, name: &str, lines: &[(LogLevel, String)]) {
    for (level, line) in lines {
        if *level >= LogLevel::Info {
            let _ = writeln!(out, "[{}][wasm] wasm log {name} {name}: {line}", level_name(*level));
        }
    }
}

fn find_plugin<'a>(analysis: &'a Analysis, under_test: &PluginUnderTest) -> Option<&'a WasmPlugin> {
    analysis.lowered.resources.iter().find_map(|g| match &g.resource {
        Resource::WasmPlugin(p)
            if p.metadata.namespace == under_test.namespace && p.metadata.name == under_test.name =>
        {
            Some(p)
        }
        _ => None,
    })
}

/// Loads the plugin's local build (as `meshc check` does) and compiles it once for all
/// its scenarios.
fn compile(plugin: &WasmPlugin, package_root: &Path) -> Result<Plugin, String> {
    let Some(path) = meshc_wasm_host::local_module_path(plugin) else {
        return Err(format!(
            "the plugin's module `{}` is not on disk: give the plugin `module \"PATH\"`, its local build, to test it",
            plugin.spec.url
        ));
    };
    let loaded = meshc_wasm_host::load::load(&package_root.join(path))
        .map_err(|e| format!("the plugin module `{path}` cannot be loaded: {e}"))?;
    Plugin::compile(&loaded.bytes).map_err(|e| format!("the plugin module `{path}` cannot be compiled: {e}"))
}

/// The name Envoy gives the plugin's filter, root context and VM in the bootstrap.
fn plugin_name(plugin: &WasmPlugin) -> String {
    plugin.spec.plugin_name.clone().unwrap_or_else(|| plugin.metadata.name.clone())
}

/// What the plugin starts with: configuration, environment and properties.
fn base_run(under_test: &PluginUnderTest, plugin: &WasmPlugin, host_env: &dyn Fn(&str) -> Option<String>) -> PluginRun {
    let plugin_config = plugin
        .spec
        .plugin_config
        .as_ref()
        .map(|config| serde_json::to_vec(&serde_json::Value::Object(config.clone())).unwrap_or_default())
        .unwrap_or_default();
    let mut env = Vec::new();
    for var in plugin.spec.vm_config.iter().flat_map(|vm| &vm.env) {
        match (var.value_from.as_deref(), &var.value) {
            (Some("HOST"), _) => {
                if let Some(value) = host_env(&var.name) {
                    env.push((var.name.clone(), value));
                }
            }
            (_, Some(value)) => env.push((var.name.clone(), value.clone())),
            _ => {}
        }
    }
    let name = plugin_name(plugin);
    let mut properties = BTreeMap::new();
    for key in ["plugin_name", "plugin_root_id", "plugin_vm_id"] {
        properties.insert(key.to_string(), name.clone().into_bytes());
    }
    for (path, value) in &under_test.properties {
        properties.insert(path.clone(), property_bytes(value));
    }
    let http_call_responses = under_test
        .call_responses
        .iter()
        .map(|r| {
            let mut headers = vec![(":status".to_string(), r.status.to_string())];
            headers.extend(r.headers.iter().cloned());
            HttpMessage { headers, body: r.body.clone().into_bytes(), trailers: Vec::new() }
        })
        .collect();
    PluginRun { plugin_config, env, properties, http_call_responses, ..PluginRun::default() }
}

/// A property's bytes as Envoy serializes them for `proxy_get_property`: strings as
/// their bytes, numbers and durations (nanoseconds) as 8 little-endian bytes, a bool as
/// one byte.
fn property_bytes(value: &PropertyValue) -> Vec<u8> {
    match value {
        PropertyValue::String(s) => s.clone().into_bytes(),
        PropertyValue::Int(n) | PropertyValue::Duration(n) => n.to_le_bytes().to_vec(),
        PropertyValue::Uint(n) => n.to_le_bytes().to_vec(),
        PropertyValue::Double(n) => n.to_le_bytes().to_vec(),
        PropertyValue::Bool(b) => vec![u8::from(*b)],
    }
}

/// Runs one scenario in the shared VM: the failures, and the plugin's log as the scenario
/// saw it.
fn run_scenario(
    scenario: &SmokeScenario,
    resource: &WasmPlugin,
    mut run: PluginRun,
    shared: &mut SharedVm,
) -> (Vec<Failure>, String) {
    let mut failures = Vec::new();
    let name = plugin_name(resource);
    let Some(vm) = shared.vm.as_mut() else {
        let message = "the plugin's VM failed in an earlier scenario".to_string();
        return (vec![Failure { span: Some(scenario.span), message }], String::new());
    };
    // Counters are judged by their increase during the scenario, as in Envoy.
    let metrics_before = Metrics::parse(&prometheus_text(&vm.metrics()));
    let mut log = shared.startup_log.clone();
    // Lines written between scenarios belong to none, as in Envoy's log window.
    let _ = vm.take_logs();
    let mut last: Option<Answer> = None;
    let mut failed_vm = false;
    for (number, request) in scenario.requests.iter().enumerate() {
        let number = number + 1;
        let label = format!("request {number} {} {}", request.method, request.path);
        run.request = downstream_request(number, &request.method, &request.path, &request.headers, &request.body);
        let mut upstream_seen = None;
        let outcome = vm.request_to(&run, &mut |forwarded| {
            let (received, answer) = echo(forwarded);
            upstream_seen = Some(received);
            answer
        });
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(error) => {
                failures.push(Failure {
                    span: Some(request.span),
                    message: format!("{label}: the plugin failed: {error}"),
                });
                // The VM is broken; later requests and scenarios cannot run in it.
                failed_vm = true;
                last = None;
                break;
            }
        };
        // Each answer is used once: the next request's calls get the next answers.
        let used = outcome.http_calls.len().min(run.http_call_responses.len());
        run.http_call_responses.drain(..used);
        write_log(&mut log, &name, &outcome.logs);
        // A local reply from the response side comes after the upstream got the request.
        let upstream = if outcome.stream_closed { None } else { upstream_seen };
        let response = if outcome.stream_closed {
            Err("the plugin closed the stream".to_string())
        } else {
            Ok(downstream_response(&outcome.returned_response, outcome.local_reply.is_some()))
        };
        match &response {
            Err(error) => {
                failures.push(Failure { span: Some(request.span), message: format!("{label}: no response: {error}") })
            }
            Ok(_) => failures.extend(judge_answer(&request.expect, &label, &response, upstream.as_ref())),
        }
        last = Some((label, response, upstream));
    }
    let metrics = Metrics::parse(&prometheus_text(&vm.metrics()));
    if failed_vm {
        shared.vm = None;
        shared.failure = Some("the plugin's VM failed in an earlier scenario".into());
    }
    failures.extend(judge_last_answer(
        &scenario.expect,
        last.as_ref(),
        "no request was answered, so there is no response to judge",
    ));
    let window = Window {
        metrics_before: Some(metrics_before),
        metrics: Some(Ok(metrics)),
        access_lines: Vec::new(),
        spans: Vec::new(),
        envoy_log: log,
    };
    for expectation in scenario.expect.iter().chain(scenario.requests.iter().flat_map(|r| &r.expect)) {
        if is_observation(&expectation.kind)
            && let Some(message) = judge_observation(&expectation.kind, &window)
        {
            failures.push(Failure { span: Some(expectation.span), message });
        }
    }
    (failures, window.envoy_log)
}

/// A scenario request as Envoy's connection manager hands it to its filters.
fn downstream_request(
    number: usize,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &Option<String>,
) -> HttpMessage {
    let authority = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("host"))
        .map_or_else(|| "127.0.0.1".to_string(), |(_, v)| v.clone());
    let mut out = vec![
        (":authority".to_string(), authority),
        (":path".to_string(), path.to_string()),
        (":method".to_string(), method.to_string()),
        (":scheme".to_string(), "http".to_string()),
    ];
    out.extend(
        headers
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("host"))
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone())),
    );
    let has = |out: &[(String, String)], name: &str| out.iter().any(|(k, _)| k == name);
    if let Some(body) = body
        && !has(&out, "content-length")
    {
        out.push(("content-length".to_string(), body.len().to_string()));
    }
    // What the connection manager adds, unless the client sent it (a request from
    // loopback is internal, so Envoy keeps its request id).
    if !has(&out, "x-forwarded-proto") {
        out.push(("x-forwarded-proto".to_string(), "http".to_string()));
    }
    if !has(&out, "x-request-id") {
        // A fixed id per request, so that runs are reproducible.
        out.push(("x-request-id".to_string(), format!("00000000-0000-4000-8000-{number:012}")));
    }
    HttpMessage { headers: out, body: body.clone().unwrap_or_default().into_bytes(), trailers: Vec::new() }
}

/// The echo upstream's answer to the request the plugin let go, and what it received.
fn echo(forwarded: &HttpMessage) -> (UpstreamRequest, HttpMessage) {
    let pseudo = |name: &str| forwarded.header(name).unwrap_or_default().to_string();
    let mut headers = vec![("host".to_string(), pseudo(":authority"))];
    headers.extend(forwarded.headers.iter().filter(|(k, _)| !k.starts_with(':')).cloned());
    let request = ServerRequest {
        method: pseudo(":method"),
        target: pseudo(":path"),
        headers: headers.clone(),
        body: forwarded.body.clone(),
    };
    let answer = echo_response(&request);
    let mut response = vec![(":status".to_string(), answer.status.to_string())];
    response.extend(answer.headers);
    response.push(("content-length".to_string(), answer.body.len().to_string()));
    // The router adds it before the filters see the response.
    response.push(("x-envoy-upstream-service-time".to_string(), "0".to_string()));
    (UpstreamRequest { headers }, HttpMessage { headers: response, body: answer.body, trailers: Vec::new() })
}

/// The response as the client receives it: the connection manager sets `date` and
/// `server` after the filters, and gives a local reply with a body a `content-type`.
fn downstream_response(message: &HttpMessage, local_reply: bool) -> Response {
    let mut headers: Vec<(String, String)> =
        message.headers.iter().filter(|(k, _)| !k.starts_with(':') && k != "server" && k != "date").cloned().collect();
    let has = |headers: &[(String, String)], name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    if local_reply {
        if !message.body.is_empty() && !has(&headers, "content-type") {
            headers.push(("content-type".to_string(), "text/plain".to_string()));
        }
        if !has(&headers, "content-length") {
            headers.push(("content-length".to_string(), message.body.len().to_string()));
        }
    }
    headers.push(("date".to_string(), "Thu, 01 Jan 2026 00:00:00 GMT".to_string()));
    headers.push(("server".to_string(), "envoy".to_string()));
    Response {
        status: message.header(":status").and_then(|s| s.parse().ok()).unwrap_or(0),
        headers,
        body: message.body.clone(),
    }
}

/// The plugin's metrics as `/stats/prometheus` shows an Envoy's Wasm metrics.
fn prometheus_text(metrics: &BTreeMap<String, MetricValue>) -> String {
    let mut out = String::new();
    for (name, value) in metrics {
        let name: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
        match value {
            MetricValue::Counter(n) => {
                let _ = writeln!(out, "# TYPE {name} counter\n{name}{{}} {n}");
            }
            MetricValue::Gauge(n) => {
                let _ = writeln!(out, "# TYPE {name} gauge\n{name}{{}} {n}");
            }
            MetricValue::Histogram(values) => {
                let sum: u64 = values.iter().sum();
                let _ =
                    writeln!(out, "# TYPE {name} histogram\n{name}_count{{}} {}\n{name}_sum{{}} {sum}", values.len());
            }
        }
    }
    out
}

fn level_name(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Trace => "trace",
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warning",
        LogLevel::Error => "error",
        LogLevel::Critical => "critical",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshc_compiler::model::istio::{EnvVar, VmConfig};
    use meshc_compiler::model::smoke::CallResponse;
    use meshc_compiler::span::{FileId, Span};

    fn span() -> Span {
        Span::new(FileId(0), 0, 1)
    }

    #[test]
    fn the_plugin_gets_its_configuration_environment_and_properties_as_declared() {
        let mut plugin = WasmPlugin::default();
        plugin.metadata.name = "api-key".into();
        plugin.spec.plugin_config = serde_json::json!({ "header": "x-api-key" }).as_object().cloned();
        let var = |name: &str, from: Option<&str>, value: Option<&str>| EnvVar {
            name: name.into(),
            value_from: from.map(String::from),
            value: value.map(String::from),
        };
        plugin.spec.vm_config = Some(VmConfig {
            env: vec![
                var("MODE", None, Some("strict")),
                var("REGION", Some("HOST"), None),
                var("UNSET_ON_HOST", Some("HOST"), None),
            ],
        });
        let under_test = PluginUnderTest {
            declaration: "api_key".into(),
            namespace: "shop".into(),
            name: "api-key".into(),
            properties: vec![
                ("connection.mtls".into(), PropertyValue::Bool(true)),
                ("source.port".into(), PropertyValue::Int(8080)),
            ],
            call_responses: vec![CallResponse {
                status: 503,
                headers: vec![("retry-after".into(), "1".into())],
                body: "busy".into(),
                span: span(),
            }],
            span: span(),
        };
        let host = |name: &str| (name == "REGION").then(|| "eu-west-1".to_string());
        let run = base_run(&under_test, &plugin, &host);
        assert_eq!(run.plugin_config, br#"{"header":"x-api-key"}"#);
        // Only what the declaration passes, and a HOST variable only when the host has it.
        assert_eq!(
            run.env,
            [("MODE".to_string(), "strict".to_string()), ("REGION".to_string(), "eu-west-1".to_string())]
        );
        assert_eq!(run.properties["connection.mtls"], [1]);
        assert_eq!(run.properties["source.port"], 8080i64.to_le_bytes());
        assert_eq!(run.properties["plugin_name"], b"api-key");
        assert_eq!(run.http_call_responses[0].header(":status"), Some("503"));
        assert_eq!(run.http_call_responses[0].body, b"busy");
    }

    #[test]
    fn the_echo_model_answers_as_the_echo_upstream() {
        let forwarded =
            downstream_request(1, "GET", "/status/418?x=1", &[("x-echo-response-header".into(), "a=b".into())], &None);
        let (received, answer) = echo(&forwarded);
        assert_eq!(answer.header(":status"), Some("418"));
        assert_eq!(answer.header("a"), Some("b"));
        assert_eq!(received.headers[0], ("host".to_string(), "127.0.0.1".to_string()));
        assert!(received.headers.iter().all(|(k, _)| !k.starts_with(':')));
        let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(body["path"], "/status/418?x=1");
    }
}
