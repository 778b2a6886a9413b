//! Runs the scenarios of one group in one Envoy process: builds its bootstrap, starts
//! it, sends each scenario's requests and judges them against what changed while the
//! scenario ran, then stops it. Also the admin requests that find the listener and tell
//! when Envoy is idle.

use crate::collector::Collector;
use crate::echo::Echo;
use crate::files::{LogFile, ProcessFiles, file_len, read_from, read_range};
use crate::http::{Response, http_request};
use crate::judge::{Answer, Window, is_observation, judge_answer, judge_last_answer, judge_observation};
use crate::process::Envoy;
use crate::prometheus::Metrics;
use crate::report::shorten;
use crate::{
    ADMIN_TIMEOUT, EnvoyBinary, EnvoyProcess, Failure, OBSERVE_TIMEOUT, QUIET_TIMEOUT, READY_TIMEOUT, REQUEST_TIMEOUT,
    Run, ScenarioResult, SmokeError,
};
use meshc_compiler::model::smoke::{Expectation, ExpectationKind, SmokeRequest, SmokeScenario};
use meshc_compiler::span::Span;
use meshc_compiler::{envoy_target::Site, model::proxy::Endpoint};
use std::fs;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

/// What the run accumulates across groups and versions.
pub(crate) struct RunState {
    pub(crate) started: Instant,
    pub(crate) first_request: Option<Duration>,
    pub(crate) results: Vec<ScenarioResult>,
    pub(crate) envoys: Vec<EnvoyProcess>,
}

/// Scenarios that share one Envoy process: same proxy, in the order of first mention.
/// A scenario with `fresh_envoy true` (or every scenario, for a run with
/// [`Run::fresh_envoy_per_scenario`]) is a group of its own.
pub(crate) struct Group {
    proxy: String,
    scenarios: Vec<usize>,
    alone: bool,
}

pub(crate) fn group_scenarios(scenarios: &[&SmokeScenario], fresh: bool) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for (index, scenario) in scenarios.iter().enumerate() {
        let alone = fresh || scenario.fresh_envoy;
        let target = scenario.target_name();
        match groups.iter_mut().find(|g| !alone && !g.alone && g.proxy == target) {
            Some(group) => group.scenarios.push(index),
            None => groups.push(Group { proxy: target, scenarios: vec![index], alone }),
        }
    }
    groups
}

pub(crate) fn run_group(
    run: &Run<'_>,
    envoy: &EnvoyBinary,
    version_index: usize,
    group: &Group,
    echo: &Echo,
    collector: &Collector,
    state: &mut RunState,
) -> Result<(), SmokeError> {
    let files = ProcessFiles::new().map_err(SmokeError::CreateTempDir)?;
    let site = Site {
        listen: Endpoint::new("127.0.0.1", 0),
        admin: Endpoint::new("127.0.0.1", 0),
        upstream: Endpoint::new("127.0.0.1", echo.server.addr.port()),
        collectors: run
            .collectors
            .iter()
            .map(|name| (name.clone(), Endpoint::new("127.0.0.1", collector.server.addr.port())))
            .collect(),
        access_log_path: Some(files.access_log.display().to_string()),
        smoke: true,
    };
    let scenarios: Vec<&SmokeScenario> = group.scenarios.iter().map(|&i| run.scenarios[i]).collect();
    let fail_all = |state: &mut RunState, message: String, excerpt: Option<String>| {
        for (&index, scenario) in group.scenarios.iter().zip(&scenarios) {
            state.results.push(ScenarioResult {
                scenario: scenario.name.clone(),
                proxy: scenario.target_name(),
                envoy_version: envoy.version,
                span: scenario.span,
                failures: vec![Failure { span: None, message: message.clone() }],
                log_excerpt: excerpt.clone(),
                duration: Duration::ZERO,
                shared_with: Vec::new(),
                order: (index, version_index),
            });
        }
    };

    let text = match (run.bootstrap)(scenarios[0], envoy.version, &site) {
        Ok(text) => text,
        Err(message) => {
            let what = match scenarios[0].plugin() {
                Some(plugin) => format!("of the plugin `{}` alone", plugin.declaration),
                None => format!("of proxy `{}`", group.proxy),
            };
            fail_all(state, format!("the bootstrap {what} could not be built: {message}"), None);
            return Ok(());
        }
    };
    // Envoy picks the parser by the file's extension.
    let bootstrap = if text.trim_start().starts_with('{') {
        files.bootstrap.with_extension("json")
    } else {
        files.bootstrap.clone()
    };
    fs::write(&bootstrap, &text).map_err(|error| SmokeError::WriteBootstrap { path: bootstrap.clone(), error })?;

    let mut record = EnvoyProcess {
        envoy_version: envoy.version,
        proxy: group.proxy.clone(),
        pid: None,
        ready_after: None,
        exit: None,
    };
    let spawned_at = Instant::now();
    let mut process = match Envoy::spawn(&envoy.path, &bootstrap, &files) {
        Ok(process) => process,
        Err(e) => {
            fail_all(state, format!("cannot start Envoy {} ({}): {e}", envoy.version, envoy.path.display()), None);
            state.envoys.push(record);
            return Ok(());
        }
    };
    record.pid = Some(process.pid());
    let log = LogFile { path: files.envoy_log.clone() };

    let ready = process
        .wait_ready(&files.admin_address, spawned_at + READY_TIMEOUT)
        .and_then(|admin| listener_port(admin, run.listener.as_deref()).map(|port| (admin, port)));
    match ready {
        Err(message) => {
            process.stop();
            // Envoy has exited: its whole log is there.
            fail_all(state, format!("Envoy {} did not start: {message}", envoy.version), log.excerpt());
        }
        Ok((admin, port)) => {
            record.ready_after = Some(spawned_at.elapsed());
            let mut env = Running {
                process: &mut process,
                admin,
                listen: SocketAddr::from(([127, 0, 0, 1], port)),
                log,
                startup_log_len: 0,
                access_logs: vec![files.access_log.clone(), files.stdout.clone()],
            };
            env.startup_log_len = file_len(&env.log.path);
            for (position, (&index, scenario)) in group.scenarios.iter().zip(&scenarios).enumerate() {
                if position > 0 {
                    // Let the previous scenario's late effects land before this one's baseline.
                    env.wait_quiet();
                }
                let scenario_start = Instant::now();
                let failures = run_scenario(scenario, &mut env, echo, collector, state);
                let excerpt = if failures.is_empty() { None } else { env.log.excerpt() };
                state.results.push(ScenarioResult {
                    scenario: scenario.name.clone(),
                    proxy: scenario.target_name(),
                    envoy_version: envoy.version,
                    span: scenario.span,
                    failures,
                    log_excerpt: excerpt,
                    duration: scenario_start.elapsed(),
                    shared_with: scenarios[..position].iter().map(|s| s.name.clone()).collect(),
                    order: (index, version_index),
                });
            }
            process.stop();
        }
    }
    record.exit = process.exit_description();
    state.envoys.push(record);
    drop(process);
    drop(files);
    Ok(())
}

/// A ready Envoy and what the scenarios need to talk to it.
struct Running<'p> {
    process: &'p mut Envoy,
    admin: SocketAddr,
    listen: SocketAddr,
    log: LogFile,
    /// Envoy's log up to readiness: part of every scenario's log window.
    startup_log_len: u64,
    /// The access-log file of the site and Envoy's stdout.
    access_logs: Vec<PathBuf>,
}

impl Running<'_> {
    /// Waits until Envoy has no request or connection in progress (downstream or
    /// upstream, which includes span reports) and no access-log bytes waiting in its
    /// flush buffer. Gives up quietly at the deadline: judging then simply sees what
    /// is there.
    fn wait_quiet(&mut self) {
        let deadline = Instant::now() + QUIET_TIMEOUT;
        let path = "/stats?filter=(downstream_rq_active|downstream_cx_active|upstream_rq_active|upstream_rq_pending_active|write_total_buffered)$";
        loop {
            let Ok(text) = admin_get(self.admin, path) else { return };
            let busy = text.lines().any(|line| {
                let Some((name, value)) = line.split_once(':') else { return false };
                let name = name.trim();
                // Our own admin request is active while it is answered.
                if name.starts_with("http.admin.") || name.starts_with("listener.admin.") {
                    return false;
                }
                value.trim().parse::<f64>().is_ok_and(|v| v != 0.0)
            });
            if !busy || Instant::now() >= deadline {
                return;
            }
            thread::sleep(Duration::from_millis(2));
        }
    }

    fn metrics(&self) -> Result<Metrics, String> {
        admin_get(self.admin, "/stats/prometheus").map(|text| Metrics::parse(&text))
    }

    /// Reads the metrics twice: with `stats_flush_on_admin`, the first read triggers the
    /// flush that merges histograms and the second shows them.
    fn flushed_metrics(&self) -> Result<Metrics, String> {
        self.metrics()?;
        self.metrics()
    }
}

/// Where each observation stood when a scenario started.
struct Marks {
    spans: usize,
    access_logs: Vec<u64>,
    envoy_log: u64,
    metrics: Option<Metrics>,
}

fn run_scenario(
    scenario: &SmokeScenario,
    env: &mut Running<'_>,
    echo: &Echo,
    collector: &Collector,
    state: &mut RunState,
) -> Vec<Failure> {
    let mut failures = Vec::new();
    let observed: Vec<&Expectation> = scenario
        .expect
        .iter()
        .chain(scenario.requests.iter().flat_map(|r| &r.expect))
        .filter(|e| is_observation(&e.kind))
        .collect();
    let needs_metrics = observed.iter().any(|e| matches!(e.kind, ExpectationKind::Metric { .. }));
    let metrics = if needs_metrics {
        match env.flushed_metrics() {
            Ok(metrics) => Some(metrics),
            Err(message) => {
                failures.push(Failure { span: None, message: format!("cannot read the metrics: {message}") });
                None
            }
        }
    } else {
        None
    };
    let marks = Marks {
        spans: collector.received(),
        access_logs: env.access_logs.iter().map(|p| file_len(p)).collect(),
        envoy_log: file_len(&env.log.path),
        metrics,
    };

    let mut last_response: Option<Answer> = None;
    for (number, request) in scenario.requests.iter().enumerate() {
        let number = number + 1;
        let upstream_before = echo.received();
        if state.first_request.is_none() {
            state.first_request = Some(state.started.elapsed());
        }
        let response = send_request(env.listen, request).map_err(|e| e.to_string());
        let upstream = echo.since(upstream_before).pop();
        let label = format!("request {number} {} {}", request.method, request.path);
        match &response {
            // One failure for the request, not one per expectation it could not meet.
            Err(error) => {
                failures.push(Failure { span: Some(request.span), message: format!("{label}: no response: {error}") })
            }
            Ok(_) => failures.extend(judge_answer(&request.expect, &label, &response, upstream.as_ref())),
        }
        last_response = Some((label, response, upstream));
    }
    failures.extend(judge_last_answer(
        &scenario.expect,
        last_response.as_ref(),
        "no request was sent, so there is no response to judge",
    ));

    if !observed.is_empty() {
        env.wait_quiet();
        let deadline = Instant::now() + OBSERVE_TIMEOUT;
        loop {
            let window = read_window(env, collector, &marks, needs_metrics);
            let messages: Vec<(Span, String)> =
                observed.iter().filter_map(|e| judge_observation(&e.kind, &window).map(|m| (e.span, m))).collect();
            if messages.is_empty() || Instant::now() >= deadline || env.process.try_exit().is_some() {
                failures.extend(messages.into_iter().map(|(span, message)| Failure { span: Some(span), message }));
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
    if let Some(status) = env.process.try_exit() {
        failures.push(Failure { span: None, message: format!("Envoy exited during the scenario ({status})") });
    }
    failures
}

/// What changed during one scenario, read at one moment.
fn read_window(env: &Running<'_>, collector: &Collector, marks: &Marks, needs_metrics: bool) -> Window {
    let mut access_lines = Vec::new();
    for (path, &from) in env.access_logs.iter().zip(&marks.access_logs) {
        let text = read_from(path, from);
        access_lines.extend(text.lines().filter(|l| !l.trim().is_empty()).map(str::to_string));
    }
    let mut envoy_log = read_range(&env.log.path, 0, env.startup_log_len.min(marks.envoy_log));
    envoy_log.push_str(&read_from(&env.log.path, marks.envoy_log));
    Window {
        metrics_before: marks.metrics.clone(),
        metrics: needs_metrics.then(|| env.flushed_metrics()),
        access_lines,
        spans: collector.since(marks.spans),
        envoy_log,
    }
}

fn send_request(listen: SocketAddr, request: &SmokeRequest) -> io::Result<Response> {
    http_request(
        listen,
        &request.method,
        &request.path,
        &request.headers,
        request.body.as_deref().map(str::as_bytes),
        REQUEST_TIMEOUT,
    )
}

/// The port of the listener requests go to, from `/listeners?format=json`.
fn listener_port(admin: SocketAddr, name: Option<&str>) -> Result<u16, String> {
    let text = admin_get(admin, "/listeners?format=json")?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("cannot read /listeners?format=json: {e}"))?;
    let listeners = json["listener_statuses"].as_array().cloned().unwrap_or_default();
    let port_of = |l: &serde_json::Value| l["local_address"]["socket_address"]["port_value"].as_u64();
    let chosen = match name {
        Some(name) => listeners.iter().find(|l| l["name"].as_str() == Some(name)).ok_or_else(|| {
            let names: Vec<&str> = listeners.iter().filter_map(|l| l["name"].as_str()).collect();
            format!("the bootstrap has no listener named `{name}` (it has: {})", names.join(", "))
        })?,
        None => listeners.iter().find(|l| port_of(l).is_some()).ok_or("the bootstrap has no listener")?,
    };
    port_of(chosen)
        .and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| format!("listener {} has no socket address", chosen["name"]))
}

pub(crate) fn admin_get(admin: SocketAddr, path: &str) -> Result<String, String> {
    let response =
        http_request(admin, "GET", path, &[], None, ADMIN_TIMEOUT).map_err(|e| format!("GET {path}: {e}"))?;
    let body = String::from_utf8_lossy(&response.body).into_owned();
    if response.status == 200 {
        Ok(body)
    } else {
        Err(format!("GET {path}: status {}: {}", response.status, shorten(body.trim(), 200)))
    }
}
