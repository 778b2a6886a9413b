//! The smoke-test runner behind `meshc smoke`: it runs [`SmokeScenario`]s against
//! bootstraps in the real Envoy and judges every [`Expectation`].
//!
//! # What a run does
//!
//! [`run`] starts two in-process servers on `127.0.0.1` with ports the kernel picks:
//! the *echo upstream* every proxy forwards to, and the *trace collector* every
//! tracing provider reports to. Then, for each Envoy build in turn (sequentially:
//! the machines this runs on have two cores, and parallel start-ups slow each other
//! down more than they save), and for each proxy that the scenarios name, it
//!
//! 1. builds a [`Site`] (listener and admin on `127.0.0.1` port 0, upstream = the echo
//!    server, every listed provider = the collector, a fresh access-log file,
//!    `smoke: true`) and asks the caller's closure for the bootstrap text;
//! 2. starts Envoy on it in its own process group with
//!    `--disable-hot-restart --concurrency 1 --admin-address-path F -l warning
//!    --component-log-level lua:info,wasm:info --file-flush-interval-msec 10`, its
//!    stderr (Envoy's log) and stdout (the stdout access logger) going to files;
//! 3. waits until it is ready: the admin address file appears, then `/ready` answers
//!    200; it reads the listener's port from `/listeners?format=json`;
//! 4. runs the proxy's scenarios one after the other in that one process, judging
//!    each against what changed *during that scenario* (see below);
//! 5. stops Envoy: SIGTERM to its process group, SIGKILL after a grace of two
//!    seconds. This also happens when the runner panics (a drop guard) and when meshc
//!    receives SIGINT, SIGTERM or SIGHUP (a handler that stops every child and exits
//!    with 130). Envoy is started with `PR_SET_PDEATHSIG`, so it also dies when meshc
//!    is killed outright.
//!
//! Every wait has a deadline, nothing listens beyond loopback, and the temporary
//! directory of each Envoy process is removed afterwards (those of a meshc killed
//! with SIGKILL are removed by the next run).
//!
//! # The echo upstream
//!
//! Users write expectations against it, so its behaviour is part of meshc's interface:
//!
//! - It answers every request with status 200 and a JSON body
//!   `{"method": "...", "path": "...", "headers": {"name": "value", ...}, "body": "..."}`
//!   echoing the request as the upstream received it (header names as Envoy sent them,
//!   in order; a name sent twice has its values joined with `", "`; the body as UTF-8,
//!   invalid bytes replaced).
//! - A path `/status/NNN` (with any query) answers status `NNN` (200 to 599) instead;
//!   204 and 304 carry no body.
//! - A request header `x-echo-delay-ms: N` delays the answer by `N` milliseconds, at
//!   most 10 000.
//! - Each request header `x-echo-response-header: name=value` (repeatable) adds the
//!   response header `name: value`.
//! - It records every request. `upstream header` expectations are judged against the
//!   last request it received while that scenario request was in flight; when it
//!   received none (a filter answered by itself), `upstream header` fails and
//!   `no upstream header` passes.
//!
//! It speaks HTTP/1.1 with keep-alive, reads chunked and `Content-Length` bodies,
//! writes each response in one write, and sets `TCP_NODELAY` (otherwise Nagle plus
//! delayed ACK add about 40 ms to every response on a reused connection).
//!
//! # The trace collector
//!
//! One HTTP/1.1 endpoint serves every provider: Zipkin v2 JSON at `POST /api/v2/spans`
//! (answered 202) and OTLP/HTTP at `POST /v1/traces`, protobuf or JSON (answered 200).
//! OTLP over gRPC is not served: a bootstrap for `meshc smoke` must use the
//! OpenTelemetry tracer's `http_service`. A span is kept as its name and its tags
//! (Zipkin `tags`, OTLP span `attributes` rendered as strings).
//!
//! # How a scenario is judged
//!
//! Requests are sent one after the other, each on a fresh connection with
//! `connection: close` (and `host: 127.0.0.1:PORT` unless the request sets `host`);
//! the response expectations attached to a request are judged on its response and on
//! what the upstream received for it. Response expectations written on the scenario
//! itself are judged on the last response; observation expectations (metrics, logs,
//! spans) attached to a request are judged with the scenario's, after all requests.
//!
//! The other expectations look at what changed between the scenario's start and its
//! end, so scenarios that share an Envoy process do not see each other:
//!
//! - **Metrics** (`/stats/prometheus`): a series matches by name and a subset of its
//!   labels. Without a value, some matching series must exist at the end. With a
//!   value, the matching series are summed: for counters and histogram series
//!   (`_bucket`, `_sum`, `_count`) the sum of their *increase during the scenario*,
//!   for gauges their value at the end. Histograms are only merged at a stats flush,
//!   which the smoke bootstrap triggers on every admin read (`stats_flush_on_admin`);
//!   the first read after a request still shows the old value, so every reading is
//!   taken twice.
//! - **Access logs**: the lines added to the site's access-log file and to Envoy's
//!   stdout (the stdout access logger) during the scenario.
//! - **Spans**: the spans the collector received during the scenario. A count applies
//!   to the spans that match the given name and tags (all spans when neither is given).
//! - **Envoy's log**: its start-up lines plus the lines written during the scenario.
//!
//! Before judging these, the runner waits (at most two seconds) until Envoy is idle:
//! no active downstream request or connection, no active or pending upstream request
//! (a span report in flight is one), and no access-log bytes waiting to be written.
//! Then it re-reads and re-judges until every expectation holds or two seconds have
//! passed, because spans, access-log lines and stats land a few milliseconds after the
//! response.

use meshc_compiler::envoy_target::{self, Site};
use meshc_compiler::model::proxy::Endpoint;
use meshc_compiler::model::smoke::{Expectation, ExpectationKind, SmokeRequest, SmokeScenario};
use meshc_compiler::span::Span;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long Envoy may take from spawn to `/ready`. A large Wasm module on a loaded
/// two-core machine takes about 1.5 s; this leaves room without hanging forever.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a proxied request may take: the echo delay is capped at 10 s.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// How long an admin request may take.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait for Envoy to become idle after a scenario's requests.
const QUIET_TIMEOUT: Duration = Duration::from_secs(2);
/// How long to keep re-judging observations (spans, logs, stats) that have not
/// arrived yet.
const OBSERVE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long Envoy has to exit after SIGTERM before it gets SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// The longest `x-echo-delay-ms` honoured.
const MAX_ECHO_DELAY_MS: u64 = 10_000;
/// Envoy log lines shown with a failure.
const LOG_EXCERPT_LINES: usize = 30;
/// Bodies larger than this are refused rather than buffered.
const MAX_BODY: usize = 64 << 20;
/// Request or response heads larger than this are refused.
const MAX_HEAD: usize = 256 << 10;

// ---------------------------------------------------------------------------------
// The public interface
// ---------------------------------------------------------------------------------

/// One Envoy build the scenarios run in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvoyBinary {
    /// The Envoy version, e.g. `1.38.2`: passed to the bootstrap closure and shown in
    /// the report.
    pub version: &'static str,
    /// The executable (see [`crate::envoy::cached`]).
    pub path: PathBuf,
}

/// Builds the bootstrap text (YAML or JSON) of `proxy` for Envoy `version` at `site`.
/// An `Err` is reported as the failure of every scenario of that proxy and version.
pub type BootstrapFn<'a> = dyn Fn(&str, &'static str, &Site) -> Result<String, String> + 'a;

/// What to run. Scenarios of one proxy share one Envoy process per version (unless
/// [`Run::fresh_envoy_per_scenario`]), so the bootstrap is asked for once per proxy
/// and version.
pub struct Run<'a> {
    /// The scenarios, in the order to run and report them.
    pub scenarios: Vec<&'a SmokeScenario>,
    /// The Envoy builds, run one after the other in this order.
    pub envoys: Vec<EnvoyBinary>,
    /// `(proxy, envoy_version, site) -> bootstrap text`.
    pub bootstrap: &'a BootstrapFn<'a>,
    /// Tracing (and logging) provider names that must report to the local collector;
    /// each becomes an entry of [`Site::collectors`].
    pub collectors: Vec<String>,
    /// The listener that requests go to, by name. `None`: the first listener Envoy
    /// lists (a generated bootstrap has one).
    pub listener: Option<String>,
    /// Start a new Envoy process for every scenario instead of one per proxy and
    /// version. Slower; for scenarios that depend on a fresh process (Lua globals,
    /// gauges).
    pub fresh_envoy_per_scenario: bool,
    /// When the command started, for the "first request after" figure; `None`: when
    /// [`run`] was called.
    pub started: Option<Instant>,
    /// Install the SIGINT/SIGTERM/SIGHUP handler that stops the children and exits
    /// (see [`install_signal_handler`]). Default true; an embedder with its own
    /// handler turns it off and calls [`stop_all_children`] itself.
    pub handle_signals: bool,
}

impl<'a> Run<'a> {
    /// A run with the defaults: no collectors, the first listener, shared processes,
    /// signals handled, timed from now.
    pub fn new(scenarios: Vec<&'a SmokeScenario>, envoys: Vec<EnvoyBinary>, bootstrap: &'a BootstrapFn<'a>) -> Run<'a> {
        Run {
            scenarios,
            envoys,
            bootstrap,
            collectors: Vec::new(),
            listener: None,
            fresh_envoy_per_scenario: false,
            started: None,
            handle_signals: true,
        }
    }
}

/// Everything a run found out.
#[derive(Clone, Debug)]
pub struct Report {
    /// One result per scenario and version, in the order they ran.
    pub results: Vec<ScenarioResult>,
    /// One entry per Envoy process started (or attempted).
    pub envoys: Vec<EnvoyProcess>,
    /// From [`Run::started`] to the moment the first scenario request was sent: the
    /// issue's benchmark (under 1 s on a cached Envoy).
    pub first_request_after: Option<Duration>,
    /// From [`Run::started`] to the end of the run.
    pub total: Duration,
}

impl Report {
    pub fn passed(&self) -> usize {
        self.results.iter().filter(|r| r.passed()).count()
    }

    pub fn failed(&self) -> usize {
        self.results.len() - self.passed()
    }

    /// True when every scenario passed in every version (and there was at least one).
    pub fn success(&self) -> bool {
        !self.results.is_empty() && self.failed() == 0
    }
}

/// The outcome of one scenario in one Envoy version.
#[derive(Clone, Debug)]
pub struct ScenarioResult {
    pub scenario: String,
    pub proxy: String,
    pub envoy_version: &'static str,
    /// The scenario's declaration.
    pub span: Span,
    /// Empty when the scenario passed.
    pub failures: Vec<Failure>,
    /// The last lines of Envoy's log when the scenario failed (and there was a log).
    pub log_excerpt: Option<String>,
    /// From the scenario's start to the end of its judgement (Envoy's start-up is in
    /// [`EnvoyProcess::ready_after`]).
    pub duration: Duration,
    /// The scenario's position in [`Run::scenarios`] and the version's in
    /// [`Run::envoys`], to report scenario by scenario.
    order: (usize, usize),
}

impl ScenarioResult {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// One thing that did not hold, in words a user can act on.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// The expectation (or request) it is about; `None` for failures of the run
    /// itself (the bootstrap could not be built, Envoy did not start).
    pub span: Option<Span>,
    /// E.g. `request 1 GET /: status: expected 200, got 503`. May span several lines.
    pub message: String,
}

/// One Envoy process the run started.
#[derive(Clone, Debug)]
pub struct EnvoyProcess {
    pub envoy_version: &'static str,
    pub proxy: String,
    /// The process id (also its process group); `None` when it could not be spawned.
    pub pid: Option<u32>,
    /// From spawn to `/ready` answering 200.
    pub ready_after: Option<Duration>,
    /// How it ended, e.g. `exit status: 0`.
    pub exit: Option<String>,
}

/// Runs the scenarios. `Err` only when the runner itself cannot work (it cannot bind
/// a loopback port or create a temporary directory); everything that goes wrong with
/// a bootstrap or a scenario is a failure in the report.
pub fn run(run: &Run<'_>) -> Result<Report, String> {
    let started = run.started.unwrap_or_else(Instant::now);
    if run.handle_signals {
        // Envoy runs in its own process group, so a terminal's Ctrl-C reaches only
        // meshc; without the handler Envoy would still die with meshc (PDEATHSIG),
        // but its temporary directory would stay until the next run.
        let _ = install_signal_handler();
    }
    remove_stale_dirs();
    let echo = Echo::start().map_err(|e| format!("cannot start the local upstream: {e}"))?;
    let collector = Collector::start().map_err(|e| format!("cannot start the local trace collector: {e}"))?;
    let mut state = RunState { started, first_request: None, results: Vec::new(), envoys: Vec::new() };

    let groups = group_scenarios(&run.scenarios, run.fresh_envoy_per_scenario);
    for (version_index, envoy) in run.envoys.iter().enumerate() {
        for group in &groups {
            run_group(run, envoy, version_index, group, &echo, &collector, &mut state)?;
        }
    }
    Ok(Report {
        results: state.results,
        envoys: state.envoys,
        first_request_after: state.first_request,
        total: started.elapsed(),
    })
}

/// The human-readable report: one line per scenario and version, the details of each
/// failure indented under it, the timings, and last the line `N passed, M failed`
/// alone. `locate` turns a span into `file:line:column` when the caller can.
pub fn render_report(report: &Report, locate: &dyn Fn(Span) -> Option<String>) -> String {
    let mut results: Vec<&ScenarioResult> = report.results.iter().collect();
    results.sort_by_key(|r| r.order);
    let width = results.iter().map(|r| r.scenario.chars().count()).max().unwrap_or(0);
    let version_width = results.iter().map(|r| r.envoy_version.len()).max().unwrap_or(0);
    let mut out = String::new();
    for result in results {
        let _ = writeln!(
            out,
            "{:<5} {:<width$}  Envoy {:<version_width$}  ({} ms)",
            if result.passed() { "ok" } else { "FAIL" },
            result.scenario,
            result.envoy_version,
            result.duration.as_millis(),
        );
        for failure in &result.failures {
            let location = failure.span.and_then(locate).map(|l| format!("{l}: ")).unwrap_or_default();
            let text = format!("{location}{}", failure.message);
            let _ = writeln!(out, "      {}", text.replace('\n', "\n        "));
        }
        if let Some(excerpt) = &result.log_excerpt {
            let _ = writeln!(out, "      Envoy log (last lines):");
            for line in excerpt.lines() {
                let _ = writeln!(out, "        | {line}");
            }
        }
    }
    let ready: Vec<String> = report
        .envoys
        .iter()
        .filter_map(|e| e.ready_after.map(|d| format!("{} {} ms", e.envoy_version, d.as_millis())))
        .collect();
    if !ready.is_empty() {
        let _ = writeln!(out, "Envoy ready after start: {}", ready.join(", "));
    }
    match report.first_request_after {
        Some(first) => {
            let _ = writeln!(
                out,
                "first request sent {} ms after the start; {} ms in all",
                first.as_millis(),
                report.total.as_millis()
            );
        }
        None => {
            let _ = writeln!(out, "no request was sent; {} ms in all", report.total.as_millis());
        }
    }
    let _ = writeln!(out, "{} passed, {} failed", report.passed(), report.failed());
    out
}

/// Runs a package's smoke scenarios in the given Envoy builds and renders the report:
/// the work of `meshc smoke` after the package is checked, shared with the tests.
pub fn run_package(
    loaded: &meshc_host::package::LoadedPackage,
    analysis: &meshc_compiler::driver::Analysis,
    envoys: Vec<EnvoyBinary>,
    started: std::time::Instant,
) -> Result<(Report, String), String> {
    let assets = loaded.assets();
    let package =
        envoy_target::Package { manifest: analysis.manifest.as_ref(), lowered: &analysis.lowered, assets: &assets };
    let bootstrap = |proxy_name: &str, version: &'static str, site: &Site| {
        let proxy = analysis.lowered.proxies.iter().find(|p| p.name == proxy_name).ok_or("no such proxy")?;
        let (config, found) = envoy_target::checked_bootstrap(package, proxy, version, site);
        let errors: Vec<String> = found.iter().filter(|d| d.is_error()).map(|d| d.message.clone()).collect();
        if errors.is_empty() {
            Ok(meshc_compiler::emit::json_to_yaml(&config.to_json()))
        } else {
            Err(errors.join("; "))
        }
    };
    let collectors: Vec<String> = analysis
        .manifest
        .as_ref()
        .map(|m| {
            m.providers
                .iter()
                .filter(|p| matches!(p.kind.value.as_str(), "zipkin" | "opentelemetry"))
                .map(|p| p.name.value.clone())
                .collect()
        })
        .unwrap_or_default();
    let scenarios = analysis.lowered.smokes.iter().collect();
    let mut smoke_run = Run::new(scenarios, envoys, &bootstrap);
    smoke_run.collectors = collectors;
    smoke_run.started = Some(started);
    let report = run(&smoke_run)?;
    let db = &loaded.db;
    let locate = |span: meshc_compiler::span::Span| {
        let file = db.get(span.file);
        let position = meshc_compiler::span::LineIndex::new(&file.text).line_col(&file.text, span.start);
        Some(format!("{}:{}:{}", file.path, position.line, position.column))
    };
    let rendered = render_report(&report, &locate);
    Ok((report, rendered))
}

// ---------------------------------------------------------------------------------
// Running groups of scenarios in one Envoy process
// ---------------------------------------------------------------------------------

struct RunState {
    started: Instant,
    first_request: Option<Duration>,
    results: Vec<ScenarioResult>,
    envoys: Vec<EnvoyProcess>,
}

/// Scenarios that share one Envoy process: same proxy, in the order of first mention.
struct Group {
    proxy: String,
    scenarios: Vec<usize>,
}

fn group_scenarios(scenarios: &[&SmokeScenario], fresh: bool) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for (index, scenario) in scenarios.iter().enumerate() {
        match groups.iter_mut().find(|g| !fresh && g.proxy == scenario.proxy) {
            Some(group) => group.scenarios.push(index),
            None => groups.push(Group { proxy: scenario.proxy.clone(), scenarios: vec![index] }),
        }
    }
    groups
}

/// The files of one Envoy process, in its own temporary directory.
struct ProcessFiles {
    dir: TempDir,
    bootstrap: PathBuf,
    admin_address: PathBuf,
    envoy_log: PathBuf,
    stdout: PathBuf,
    access_log: PathBuf,
}

impl ProcessFiles {
    fn new() -> io::Result<ProcessFiles> {
        let dir = TempDir::new()?;
        let path = |name: &str| dir.path().join(name);
        Ok(ProcessFiles {
            bootstrap: path("bootstrap.yaml"),
            admin_address: path("admin-address"),
            envoy_log: path("envoy.log"),
            stdout: path("stdout.log"),
            access_log: path("access.log"),
            dir,
        })
    }
}

fn run_group(
    run: &Run<'_>,
    envoy: &EnvoyBinary,
    version_index: usize,
    group: &Group,
    echo: &Echo,
    collector: &Collector,
    state: &mut RunState,
) -> Result<(), String> {
    let files = ProcessFiles::new().map_err(|e| format!("cannot create a temporary directory: {e}"))?;
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
                proxy: scenario.proxy.clone(),
                envoy_version: envoy.version,
                span: scenario.span,
                failures: vec![Failure { span: None, message: message.clone() }],
                log_excerpt: excerpt.clone(),
                duration: Duration::ZERO,
                order: (index, version_index),
            });
        }
    };

    let text = match (run.bootstrap)(&group.proxy, envoy.version, &site) {
        Ok(text) => text,
        Err(message) => {
            fail_all(state, format!("the bootstrap of proxy `{}` could not be built: {message}", group.proxy), None);
            return Ok(());
        }
    };
    // Envoy picks the parser by the file's extension.
    let bootstrap = if text.trim_start().starts_with('{') {
        files.bootstrap.with_extension("json")
    } else {
        files.bootstrap.clone()
    };
    fs::write(&bootstrap, &text).map_err(|e| format!("cannot write {}: {e}", bootstrap.display()))?;

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
                    proxy: scenario.proxy.clone(),
                    envoy_version: envoy.version,
                    span: scenario.span,
                    failures,
                    log_excerpt: excerpt,
                    duration: scenario_start.elapsed(),
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

    let mut last_response: Option<(usize, &SmokeRequest, Result<Response, String>, Option<UpstreamRequest>)> = None;
    for (number, request) in scenario.requests.iter().enumerate() {
        let number = number + 1;
        let upstream_before = echo.received();
        if state.first_request.is_none() {
            state.first_request = Some(state.started.elapsed());
        }
        let response = send_request(env.listen, request).map_err(|e| e.to_string());
        let upstream = echo.since(upstream_before).pop();
        match &response {
            // One failure for the request, not one per expectation it could not meet.
            Err(error) => failures.push(Failure {
                span: Some(request.span),
                message: format!("request {number} {} {}: no response: {error}", request.method, request.path),
            }),
            Ok(_) => {
                for expectation in request.expect.iter().filter(|e| !is_observation(&e.kind)) {
                    if let Some(message) = judge_response(&expectation.kind, &response, upstream.as_ref()) {
                        failures.push(Failure {
                            span: Some(expectation.span),
                            message: format!("request {number} {} {}: {message}", request.method, request.path),
                        });
                    }
                }
            }
        }
        last_response = Some((number, request, response, upstream));
    }
    for expectation in scenario.expect.iter().filter(|e| !is_observation(&e.kind)) {
        let message = match &last_response {
            None => Some("no request was sent, so there is no response to judge".to_string()),
            Some((number, request, response, upstream)) => {
                judge_response(&expectation.kind, response, upstream.as_ref())
                    .map(|m| format!("request {number} {} {}: {m}", request.method, request.path))
            }
        };
        if let Some(message) = message {
            failures.push(Failure { span: Some(expectation.span), message });
        }
    }

    if !observed.is_empty() {
        env.wait_quiet();
        let deadline = Instant::now() + OBSERVE_TIMEOUT;
        loop {
            let window = Window::read(env, collector, &marks, needs_metrics);
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

/// Expectations judged on what Envoy, the collector or the logs observed, as opposed
/// to those judged on one response.
fn is_observation(kind: &ExpectationKind) -> bool {
    matches!(
        kind,
        ExpectationKind::Metric { .. }
            | ExpectationKind::AccessLog { .. }
            | ExpectationKind::Span { .. }
            | ExpectationKind::EnvoyLog(_)
            | ExpectationKind::NoEnvoyLog(_)
    )
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

/// Judges one response expectation; `None` when it holds.
fn judge_response(
    kind: &ExpectationKind,
    response: &Result<Response, String>,
    upstream: Option<&UpstreamRequest>,
) -> Option<String> {
    let response = match response {
        Ok(response) => response,
        Err(error) => return Some(format!("no response: {error}")),
    };
    match kind {
        ExpectationKind::Status(expected) => {
            (response.status != *expected).then(|| format!("status: expected {expected}, got {}", response.status))
        }
        ExpectationKind::Header { name, value } => judge_header("header", name, value.as_deref(), &response.headers),
        ExpectationKind::NoHeader { name } => judge_no_header("header", name, &response.headers),
        ExpectationKind::BodyContains(text) => {
            let body = String::from_utf8_lossy(&response.body);
            (!body.contains(text.as_str()))
                .then(|| format!("body: does not contain {text:?}; the body is {:?}", shorten(&body, 300)))
        }
        ExpectationKind::UpstreamHeader { name, value } => match upstream {
            None => Some(format!("upstream header {name}: the upstream received no request for it")),
            Some(upstream) => judge_header("upstream header", name, value.as_deref(), &upstream.headers),
        },
        ExpectationKind::NoUpstreamHeader { name } => {
            upstream.and_then(|upstream| judge_no_header("upstream header", name, &upstream.headers))
        }
        _ => None,
    }
}

fn header_values<'h>(name: &str, headers: &'h [(String, String)]) -> Vec<&'h str> {
    headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
}

fn quoted_list(values: &[&str]) -> String {
    values.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(", ")
}

fn judge_header(what: &str, name: &str, expected: Option<&str>, headers: &[(String, String)]) -> Option<String> {
    let values = header_values(name, headers);
    match expected {
        _ if values.is_empty() => Some(format!("{what} {name}: absent")),
        Some(expected) if !values.contains(&expected) => {
            Some(format!("{what} {name}: expected {expected:?}, got {}", quoted_list(&values)))
        }
        _ => None,
    }
}

fn judge_no_header(what: &str, name: &str, headers: &[(String, String)]) -> Option<String> {
    let values = header_values(name, headers);
    (!values.is_empty()).then(|| format!("{what} {name}: expected absent, got {}", quoted_list(&values)))
}

/// What changed during one scenario, read at one moment.
struct Window {
    metrics_before: Option<Metrics>,
    metrics: Option<Result<Metrics, String>>,
    access_lines: Vec<String>,
    spans: Vec<CollectedSpan>,
    envoy_log: String,
}

impl Window {
    fn read(env: &Running<'_>, collector: &Collector, marks: &Marks, needs_metrics: bool) -> Window {
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
}

/// Judges one observation; `None` when it holds.
fn judge_observation(kind: &ExpectationKind, window: &Window) -> Option<String> {
    match kind {
        ExpectationKind::Metric { name, labels, value } => {
            let selector = format_selector(name, labels);
            let after = match &window.metrics {
                Some(Ok(metrics)) => metrics,
                Some(Err(message)) => {
                    return Some(format!("metric {selector}: cannot read /stats/prometheus: {message}"));
                }
                None => return Some(format!("metric {selector}: the metrics were not read")),
            };
            let matching: Vec<&Series> = after.series.iter().filter(|s| s.matches(name, labels)).collect();
            if matching.is_empty() {
                return Some(no_series_message(&selector, name, after));
            }
            let expected = (*value)?;
            let gauge = after.is_gauge(name);
            let got: f64 = matching
                .iter()
                .map(|s| {
                    let before =
                        if gauge { 0.0 } else { window.metrics_before.as_ref().map_or(0.0, |m| m.value_of(s)) };
                    s.value - before
                })
                .sum();
            let close = (got - expected).abs() <= 1e-9 * expected.abs().max(1.0);
            let what = if gauge { "its value at the end of the scenario" } else { "its increase during the scenario" };
            (!close).then(|| format!("metric {selector}: expected {} ({what}), got {}", number(expected), number(got)))
        }
        ExpectationKind::AccessLog { lines, contains } => {
            let got = &window.access_lines;
            let mut problems = Vec::new();
            if let Some(expected) = lines {
                if got.len() != *expected {
                    problems.push(format!("expected {} line{}, got {}", expected, plural(*expected), got.len()));
                }
            }
            for text in contains {
                if !got.iter().any(|line| line.contains(text.as_str())) {
                    problems.push(format!("no line contains {text:?}"));
                }
            }
            (!problems.is_empty()).then(|| {
                let mut message = format!("access log: {}", problems.join("; "));
                list_lines(&mut message, "lines written during the scenario", got);
                message
            })
        }
        ExpectationKind::Span { count, name, tags } => {
            let matching = window.spans.iter().filter(|s| s.matches(name.as_deref(), tags)).count();
            let filter = span_filter(name.as_deref(), tags);
            let problem = match count {
                Some(expected) if matching != *expected => {
                    Some(format!("spans{filter}: expected {expected}, got {matching}"))
                }
                None if matching == 0 => Some(format!("span{filter}: none received")),
                _ => None,
            };
            problem.map(|mut message| {
                let received: Vec<String> = window.spans.iter().map(CollectedSpan::describe).collect();
                list_lines(&mut message, "spans received during the scenario", &received);
                message
            })
        }
        ExpectationKind::EnvoyLog(text) => {
            (!window.envoy_log.contains(text.as_str())).then(|| format!("Envoy log: does not contain {text:?}"))
        }
        ExpectationKind::NoEnvoyLog(text) => window
            .envoy_log
            .lines()
            .find(|line| line.contains(text.as_str()))
            .map(|line| format!("Envoy log: contains {text:?}: {}", shorten(line, 300))),
        _ => None,
    }
}

fn no_series_message(selector: &str, name: &str, metrics: &Metrics) -> String {
    let same_name: Vec<&Series> = metrics.series.iter().filter(|s| s.name == name).collect();
    if same_name.is_empty() {
        let mut names: Vec<&str> = metrics.series.iter().map(|s| s.name.as_str()).collect();
        names.dedup();
        let mut message = format!("metric {selector}: no series of this name");
        if let Some(suggestion) = meshc_compiler::diagnostic::did_you_mean(name, names.iter().copied()) {
            let _ = write!(message, "; did you mean `{suggestion}`?");
        }
        message
    } else {
        let mut message = format!("metric {selector}: no series of this name has these labels");
        let listed: Vec<String> = same_name.iter().map(|s| s.describe()).collect();
        list_lines(&mut message, "series of this name", &listed);
        message
    }
}

/// Appends up to ten lines under a heading, so a failure shows what was there.
fn list_lines(message: &mut String, heading: &str, lines: &[String]) {
    if lines.is_empty() {
        let _ = write!(message, "\n({heading}: none)");
        return;
    }
    let _ = write!(message, "\n{heading}:");
    for line in lines.iter().take(10) {
        let _ = write!(message, "\n  {}", shorten(line, 300));
    }
    if lines.len() > 10 {
        let _ = write!(message, "\n  … and {} more", lines.len() - 10);
    }
}

fn format_selector(name: &str, labels: &[(String, String)]) -> String {
    if labels.is_empty() {
        return name.to_string();
    }
    let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{name}{{{}}}", labels.join(","))
}

fn span_filter(name: Option<&str>, tags: &[(String, String)]) -> String {
    let mut out = String::new();
    if let Some(name) = name {
        let _ = write!(out, " named {name:?}");
    }
    if !tags.is_empty() {
        let tags: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        let _ = write!(out, " with tags {}", tags.join(", "));
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A metric value as people write it: `2`, not `2.0`.
fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 { format!("{}", value as i64) } else { format!("{value}") }
}

/// Keeps the start and the end of a long line: Envoy puts the reason for rejecting a
/// bootstrap at the end of a very long one.
fn shorten_middle(text: &str, head: usize, tail: usize) -> String {
    let count = text.chars().count();
    if count <= head + tail + 10 {
        return text.to_string();
    }
    let start: String = text.chars().take(head).collect();
    let end: String = text.chars().skip(count - tail).collect();
    format!("{start} … {end}")
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    format!("{cut}…")
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

fn admin_get(admin: SocketAddr, path: &str) -> Result<String, String> {
    let response =
        http_request(admin, "GET", path, &[], None, ADMIN_TIMEOUT).map_err(|e| format!("GET {path}: {e}"))?;
    let body = String::from_utf8_lossy(&response.body).into_owned();
    if response.status == 200 {
        Ok(body)
    } else {
        Err(format!("GET {path}: status {}: {}", response.status, shorten(body.trim(), 200)))
    }
}

// ---------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------

fn file_len(path: &Path) -> u64 {
    fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// The text of `path` from byte `from` on (empty when it does not exist).
fn read_from(path: &Path, from: u64) -> String {
    read_range(path, from, u64::MAX)
}

fn read_range(path: &Path, from: u64, to: u64) -> String {
    use std::io::{Seek, SeekFrom};
    let Ok(mut file) = File::open(path) else { return String::new() };
    if file.seek(SeekFrom::Start(from)).is_err() {
        return String::new();
    }
    let mut bytes = Vec::new();
    let _ = file.take(to.saturating_sub(from)).read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

struct LogFile {
    path: PathBuf,
}

impl LogFile {
    /// The last lines of Envoy's log, each cut to a readable length.
    fn excerpt(&self) -> Option<String> {
        let text = read_from(&self.path, 0);
        let lines: Vec<&str> = text.lines().collect();
        if lines.is_empty() {
            return None;
        }
        let start = lines.len().saturating_sub(LOG_EXCERPT_LINES);
        Some(lines[start..].iter().map(|l| shorten_middle(l, 200, 400)).collect::<Vec<_>>().join("\n"))
    }
}

/// A directory under the system's temporary directory, removed when dropped (and by
/// the signal handler).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> io::Result<TempDir> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let base = std::env::temp_dir();
        for _ in 0..100 {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let nanos =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
            let path = base.join(format!("meshc-smoke-{}-{n}-{nanos:x}", std::process::id()));
            match fs::create_dir(&path) {
                Ok(()) => {
                    registry().dirs.push(path.clone());
                    return Ok(TempDir(path));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other("cannot find a free temporary directory name"))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

/// Removes the temporary directories of runs whose process is gone: a meshc killed
/// with SIGKILL cannot clean up after itself, so the next run does.
fn remove_stale_dirs() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("meshc-smoke-")) else { continue };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else { continue };
        // A live process with that id may be another meshc's (or a reused id): keep it.
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
        registry().dirs.retain(|d| d != &self.0);
    }
}

// ---------------------------------------------------------------------------------
// The Envoy process, and stopping it whatever happens
// ---------------------------------------------------------------------------------

/// What must be cleaned up if meshc is interrupted: the process groups of the Envoys
/// still running (or exited but not yet reaped, so their ids cannot be reused) and
/// the temporary directories.
struct Registry {
    groups: Vec<i32>,
    dirs: Vec<PathBuf>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry { groups: Vec::new(), dirs: Vec::new() });

fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Installs (once per process) a handler for SIGINT, SIGTERM and SIGHUP that stops
/// every Envoy this module started, removes their temporary directories and exits
/// with status 130. [`run`] calls it unless [`Run::handle_signals`] is off. Fails when
/// another handler was installed through the `ctrlc` crate already.
pub fn install_signal_handler() -> Result<(), String> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            ctrlc::set_handler(|| {
                // The registry stays locked until the process is gone: a runner that
                // notices its Envoy died blocks on it instead of carrying on (and maybe
                // exiting 0 first).
                let mut registry = registry();
                stop_registered(&mut registry);
                std::process::exit(130);
            })
            .map_err(|e| format!("cannot handle interrupts: {e}"))
        })
        .clone()
}

/// Stops every Envoy this module started and removes their temporary directories:
/// SIGTERM to each process group, SIGKILL 200 ms later. For an embedder's own signal
/// handler, which should exit right after.
pub fn stop_all_children() {
    stop_registered(&mut registry());
}

/// The processes stay registered (as zombies until the caller exits), so no process
/// group id can be reused before the SIGKILL.
fn stop_registered(registry: &mut Registry) {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    for &group in &registry.groups {
        let _ = killpg(Pid::from_raw(group), Signal::SIGTERM);
    }
    if !registry.groups.is_empty() {
        thread::sleep(Duration::from_millis(200));
    }
    for &group in &registry.groups {
        let _ = killpg(Pid::from_raw(group), Signal::SIGKILL);
    }
    for dir in registry.dirs.drain(..) {
        let _ = fs::remove_dir_all(dir);
    }
}

/// Asks the kernel to send SIGTERM to the child when meshc dies, even by SIGKILL,
/// which no handler can catch (Envoy would otherwise keep running, reparented).
#[allow(unsafe_code)]
fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = nix::unistd::getpid();
    // SAFETY: the closure runs in the forked child before exec. It only makes the
    // prctl(2) and getppid(2) system calls, which are async-signal-safe, and it
    // allocates nothing (its errors are plain errno values), so it cannot deadlock on
    // a lock another thread held at fork time.
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)?;
            // The parent may have died before prctl took effect.
            if nix::unistd::getppid() != parent {
                return Err(io::Error::from(nix::errno::Errno::ESRCH));
            }
            Ok(())
        });
    }
}

/// An Envoy child in its own process group, stopped when dropped.
///
/// PR_SET_PDEATHSIG fires when the *thread* that spawned the child exits; [`run`]
/// spawns and stops each Envoy on the calling thread, so that never cuts a run short.
struct Envoy {
    child: Child,
    exit: Option<ExitStatus>,
}

impl Envoy {
    fn spawn(binary: &Path, bootstrap: &Path, files: &ProcessFiles) -> io::Result<Envoy> {
        use std::os::unix::process::CommandExt;
        let mut command = Command::new(binary);
        command
            .arg("-c")
            .arg(bootstrap)
            .arg("--admin-address-path")
            .arg(&files.admin_address)
            // No shared memory or domain socket, so several Envoys can run at once.
            .args(["--disable-hot-restart", "--concurrency", "1"])
            // Warnings and errors of every component, plus what Lua and Wasm code logs
            // (`logInfo`, `proxy_log`), which is what smoke scenarios look for.
            .args(["-l", "warning", "--component-log-level", "lua:info,wasm:info"])
            // Envoy writes the first access-log line at once but later ones only at the
            // next flush tick, every 10 s by default; 10 ms keeps them in the scenario.
            .args(["--file-flush-interval-msec", "10"])
            .stdin(Stdio::null())
            .stdout(File::create(&files.stdout)?)
            .stderr(File::create(&files.envoy_log)?)
            .current_dir(files.dir.path())
            .process_group(0);
        die_with_parent(&mut command);
        // Registered under the lock, so an interrupt cannot fall between spawn and
        // registration.
        let mut registry = registry();
        let child = command.spawn()?;
        registry.groups.push(child.id() as i32);
        Ok(Envoy { child, exit: None })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether Envoy has exited (reaping it). Reaping and leaving the registry happen
    /// under one lock, so the signal handler never signals a reaped, reusable id.
    fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            let mut registry = registry();
            if let Ok(Some(status)) = self.child.try_wait() {
                let pid = self.child.id() as i32;
                registry.groups.retain(|&g| g != pid);
                self.exit = Some(status);
            }
        }
        self.exit
    }

    fn exit_description(&self) -> Option<String> {
        self.exit.map(|status| status.to_string())
    }

    /// SIGTERM to the process group; SIGKILL after [`STOP_GRACE`]. Envoy exits about
    /// 5 ms after SIGTERM, with status 0.
    fn stop(&mut self) {
        use nix::sys::signal::{Signal, killpg};
        use nix::unistd::Pid;
        if self.try_exit().is_some() {
            return;
        }
        let group = Pid::from_raw(self.child.id() as i32);
        // Not reaped yet, so the group id is still ours even if Envoy just exited.
        let _ = killpg(group, Signal::SIGTERM);
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if self.try_exit().is_some() {
                return;
            }
            thread::sleep(Duration::from_millis(2));
        }
        let _ = killpg(group, Signal::SIGKILL);
        let mut registry = registry();
        if let Ok(status) = self.child.wait() {
            self.exit = Some(status);
        }
        registry.groups.retain(|&g| g != group.as_raw());
    }

    /// Polls for the admin address file, then `/ready` until it answers 200.
    fn wait_ready(&mut self, address_file: &Path, deadline: Instant) -> Result<SocketAddr, String> {
        let mut admin: Option<SocketAddr> = None;
        loop {
            if let Some(status) = self.try_exit() {
                return Err(format!("Envoy exited ({status}) before it was ready"));
            }
            if admin.is_none() {
                admin = fs::read_to_string(address_file).ok().and_then(|text| text.trim().parse().ok());
            }
            if let Some(admin) = admin {
                if http_request(admin, "GET", "/ready", &[], None, ADMIN_TIMEOUT).is_ok_and(|r| r.status == 200) {
                    return Ok(admin);
                }
            }
            if Instant::now() >= deadline {
                return Err(match admin {
                    None => format!(
                        "Envoy did not bind its admin interface within {} s (does the bootstrap have an `admin` address?)",
                        READY_TIMEOUT.as_secs()
                    ),
                    Some(_) => format!("Envoy was not ready within {} s", READY_TIMEOUT.as_secs()),
                });
            }
            thread::sleep(Duration::from_millis(3));
        }
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------------
// HTTP/1.1: just what the runner, the echo upstream and the collector need
// ---------------------------------------------------------------------------------

/// A response as the client read it.
#[derive(Clone, Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// A stream whose reads fail once an overall deadline has passed, so that no read of
/// a whole message can take longer than its budget.
struct DeadlineStream {
    stream: TcpStream,
    deadline: Instant,
}

impl Read for DeadlineStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"));
        }
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf)
    }
}

fn bad_data(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// Reads one line ending in LF (CR stripped). `None` at end of stream before any byte.
fn read_line(reader: &mut impl BufRead, budget: &mut usize) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    let n = reader.by_ref().take(*budget as u64 + 1).read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if n > *budget {
        return Err(bad_data("message head too large"));
    }
    *budget -= n;
    if line.last() != Some(&b'\n') {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed in the middle of a line"));
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    Ok(Some(String::from_utf8_lossy(&line).into_owned()))
}

/// Reads a start line and headers. `None` when the stream ends before a message.
fn read_head(reader: &mut impl BufRead) -> io::Result<Option<(String, Vec<(String, String)>)>> {
    let mut budget = MAX_HEAD;
    let start = loop {
        match read_line(reader, &mut budget)? {
            None => return Ok(None),
            // Tolerate empty lines between messages (RFC 9112, section 2.2).
            Some(line) if line.is_empty() => continue,
            Some(line) => break line,
        }
    };
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader, &mut budget)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed in the headers"))?;
        if line.is_empty() {
            return Ok(Some((start, headers)));
        }
        let (name, value) = line.split_once(':').ok_or_else(|| bad_data(format!("bad header line {line:?}")))?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

fn is_chunked(headers: &[(String, String)]) -> bool {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"))
        .any(|(_, v)| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("chunked")))
}

/// Reads a body framed by `Transfer-Encoding: chunked` or `Content-Length`; without
/// either, to the end of the stream when `until_eof` (a response) or empty (a request).
fn read_body(reader: &mut impl BufRead, headers: &[(String, String)], until_eof: bool) -> io::Result<Vec<u8>> {
    if is_chunked(headers) {
        return read_chunked(reader);
    }
    if let Some(length) = header(headers, "content-length") {
        let length: usize = length.parse().map_err(|_| bad_data(format!("bad content-length {length:?}")))?;
        if length > MAX_BODY {
            return Err(bad_data("body too large"));
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        return Ok(body);
    }
    let mut body = Vec::new();
    if until_eof {
        reader.take(MAX_BODY as u64).read_to_end(&mut body)?;
    }
    Ok(body)
}

fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut budget = MAX_HEAD;
        let line = read_line(reader, &mut budget)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed in a chunked body"))?;
        let size = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size, 16).map_err(|_| bad_data(format!("bad chunk size {line:?}")))?;
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                match read_line(reader, &mut budget)? {
                    None => return Ok(body),
                    Some(line) if line.is_empty() => return Ok(body),
                    Some(_) => {}
                }
            }
        }
        if body.len() + size > MAX_BODY {
            return Err(bad_data("body too large"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf)?;
    }
}

/// Sends one request on a fresh connection (`connection: close`) and reads the
/// response, all within `timeout`. `host` and `content-length` are added unless the
/// caller set them.
fn http_request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: Option<&[u8]>,
    timeout: Duration,
) -> io::Result<Response> {
    let deadline = Instant::now() + timeout;
    let stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_nodelay(true)?;
    stream.set_write_timeout(Some(timeout))?;
    let mut head = format!("{method} {target} HTTP/1.1\r\n");
    if header(headers, "host").is_none() {
        let _ = write!(head, "host: {addr}\r\n");
    }
    for (name, value) in headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    let body = body.unwrap_or_default();
    if header(headers, "content-length").is_none()
        && !is_chunked(headers)
        && (!body.is_empty() || method_has_body(method))
    {
        let _ = write!(head, "content-length: {}\r\n", body.len());
    }
    if header(headers, "connection").is_none() {
        head.push_str("connection: close\r\n");
    }
    head.push_str("\r\n");
    let mut message = head.into_bytes();
    message.extend_from_slice(body);
    (&stream).write_all(&message)?;

    let mut reader = BufReader::new(DeadlineStream { stream, deadline });
    loop {
        let (start, headers) = read_head(&mut reader)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "the connection closed without a response"))?;
        let status = parse_status_line(&start)?;
        // Interim responses (100 Continue) come before the real one.
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        let no_body = method.eq_ignore_ascii_case("HEAD") || status == 204 || status == 304;
        let body = if no_body { Vec::new() } else { read_body(&mut reader, &headers, true)? };
        return Ok(Response { status, headers, body });
    }
}

fn method_has_body(method: &str) -> bool {
    ["POST", "PUT", "PATCH"].iter().any(|m| m.eq_ignore_ascii_case(method))
}

fn parse_status_line(line: &str) -> io::Result<u16> {
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let status = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(bad_data(format!("not an HTTP/1.x response: {line:?}")));
    }
    status.parse().map_err(|_| bad_data(format!("bad status line {line:?}")))
}

/// A request as a server received it.
#[derive(Clone, Debug)]
struct ServerRequest {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// What a server answers.
struct ServerResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Held back this long before the answer is written.
    delay: Duration,
}

type Handler = dyn Fn(&ServerRequest) -> ServerResponse + Send + Sync;

/// A tiny threaded HTTP/1.1 server on `127.0.0.1` (one thread per connection, which
/// is plenty for one Envoy with one worker), stopped when dropped.
struct HttpServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    connections: Arc<Mutex<HashMap<u64, TcpStream>>>,
    accept: Option<JoinHandle<()>>,
}

impl HttpServer {
    fn start(name: &str, handler: Arc<Handler>) -> io::Result<HttpServer> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let connections: Arc<Mutex<HashMap<u64, TcpStream>>> = Arc::default();
        let accept = {
            let (stop, connections, name) = (stop.clone(), connections.clone(), name.to_string());
            thread::Builder::new().name(format!("meshc-smoke-{name}")).spawn(move || {
                let mut next_id = 0u64;
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let _ = stream.set_nodelay(true);
                    let id = next_id;
                    next_id += 1;
                    if let Ok(clone) = stream.try_clone() {
                        lock(&connections).insert(id, clone);
                    }
                    let (handler, registered) = (handler.clone(), connections.clone());
                    let spawned = thread::Builder::new().name(format!("meshc-smoke-{name}-conn")).spawn(move || {
                        let _ = serve_connection(stream, &*handler);
                        lock(&registered).remove(&id);
                    });
                    if spawned.is_err() {
                        lock(&connections).remove(&id);
                    }
                }
            })?
        };
        Ok(HttpServer { addr, stop, connections, accept: Some(accept) })
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        for (_, stream) in lock(&self.connections).drain() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Serves requests on one connection until the peer closes it, asks to close, or it
/// has been idle for five minutes.
fn serve_connection(stream: TcpStream, handler: &Handler) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(300)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let Some((start, headers)) = read_head(&mut reader)? else { return Ok(()) };
        let mut parts = start.split(' ');
        let (method, target, version) =
            (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if header(&headers, "expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
            writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let body = read_body(&mut reader, &headers, false)?;
        let close = version == "HTTP/1.0"
            || header(&headers, "connection")
                .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")));
        let request = ServerRequest { method: method.to_string(), target: target.to_string(), headers, body };
        let response = handler(&request);
        if !response.delay.is_zero() {
            thread::sleep(response.delay);
        }
        let mut out = format!("HTTP/1.1 {} {}\r\n", response.status, reason(response.status));
        for (name, value) in &response.headers {
            let _ = write!(out, "{name}: {value}\r\n");
        }
        let bodiless = response.status == 204 || response.status == 304;
        if !bodiless {
            let _ = write!(out, "content-length: {}\r\n", response.body.len());
        }
        if close {
            out.push_str("connection: close\r\n");
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        if !bodiless && !request.method.eq_ignore_ascii_case("HEAD") {
            bytes.extend_from_slice(&response.body);
        }
        // One write: with Nagle off this is one segment, and no delayed ACK can stall it.
        writer.write_all(&bytes)?;
        if close {
            return Ok(());
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

// ---------------------------------------------------------------------------------
// The echo upstream
// ---------------------------------------------------------------------------------

/// A request the echo upstream received.
#[derive(Clone, Debug)]
struct UpstreamRequest {
    headers: Vec<(String, String)>,
}

/// The upstream every smoke proxy forwards to; semantics in the module docs.
struct Echo {
    server: HttpServer,
    log: Arc<Mutex<Vec<UpstreamRequest>>>,
}

impl Echo {
    fn start() -> io::Result<Echo> {
        let log: Arc<Mutex<Vec<UpstreamRequest>>> = Arc::default();
        let handler = {
            let log = log.clone();
            Arc::new(move |request: &ServerRequest| {
                lock(&log).push(UpstreamRequest { headers: request.headers.clone() });
                echo_response(request)
            })
        };
        Ok(Echo { server: HttpServer::start("echo", handler)?, log })
    }

    /// How many requests it has received so far.
    fn received(&self) -> usize {
        lock(&self.log).len()
    }

    fn since(&self, from: usize) -> Vec<UpstreamRequest> {
        lock(&self.log).get(from..).map(<[_]>::to_vec).unwrap_or_default()
    }
}

fn echo_response(request: &ServerRequest) -> ServerResponse {
    let path = request.target.split('?').next().unwrap_or("");
    let status = path
        .strip_prefix("/status/")
        .and_then(|code| code.parse::<u16>().ok())
        .filter(|code| (200..=599).contains(code))
        .unwrap_or(200);
    let delay_ms = header(&request.headers, "x-echo-delay-ms")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0)
        .min(MAX_ECHO_DELAY_MS);
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    for (name, value) in &request.headers {
        if !name.eq_ignore_ascii_case("x-echo-response-header") {
            continue;
        }
        if let Some((name, value)) = value.split_once('=') {
            let name = name.trim();
            if !name.is_empty() && name.bytes().all(is_token_byte) {
                headers.push((name.to_string(), value.trim().to_string()));
            }
        }
    }
    let mut echoed = serde_json::Map::new();
    for (name, value) in &request.headers {
        match echoed.get_mut(name) {
            Some(serde_json::Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(value);
            }
            _ => {
                echoed.insert(name.clone(), serde_json::Value::String(value.clone()));
            }
        }
    }
    let body = serde_json::json!({
        "method": request.method,
        "path": request.target,
        "headers": echoed,
        "body": String::from_utf8_lossy(&request.body),
    });
    ServerResponse {
        status,
        headers,
        body: serde_json::to_vec(&body).unwrap_or_default(),
        delay: Duration::from_millis(delay_ms),
    }
}

/// A byte allowed in a header name (an RFC 9110 token).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

// ---------------------------------------------------------------------------------
// The trace collector
// ---------------------------------------------------------------------------------

/// A span as the collector keeps it.
#[derive(Clone, Debug, PartialEq)]
struct CollectedSpan {
    name: String,
    tags: BTreeMap<String, String>,
}

impl CollectedSpan {
    fn matches(&self, name: Option<&str>, tags: &[(String, String)]) -> bool {
        name.is_none_or(|n| self.name == n) && tags.iter().all(|(k, v)| self.tags.get(k) == Some(v))
    }

    fn describe(&self) -> String {
        let tags: Vec<String> = self.tags.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        format!("{:?} {}", self.name, tags.join(" "))
    }
}

/// Receives spans from every tracing provider; protocols in the module docs.
struct Collector {
    server: HttpServer,
    spans: Arc<Mutex<Vec<CollectedSpan>>>,
}

impl Collector {
    fn start() -> io::Result<Collector> {
        let spans: Arc<Mutex<Vec<CollectedSpan>>> = Arc::default();
        let handler = {
            let spans = spans.clone();
            Arc::new(move |request: &ServerRequest| {
                let path = request.target.split('?').next().unwrap_or("");
                let (status, received) = match (request.method.as_str(), path) {
                    ("POST", "/api/v2/spans") => (202, parse_zipkin(&request.body)),
                    ("POST", "/v1/traces") => {
                        let json = header(&request.headers, "content-type").is_some_and(|t| t.contains("json"));
                        (200, if json { parse_otlp_json(&request.body) } else { parse_otlp_protobuf(&request.body) })
                    }
                    _ => (404, Some(Vec::new())),
                };
                let status = match received {
                    Some(received) => {
                        lock(&spans).extend(received);
                        status
                    }
                    None => 400,
                };
                ServerResponse { status, headers: Vec::new(), body: Vec::new(), delay: Duration::ZERO }
            })
        };
        Ok(Collector { server: HttpServer::start("collector", handler)?, spans })
    }

    fn received(&self) -> usize {
        lock(&self.spans).len()
    }

    fn since(&self, from: usize) -> Vec<CollectedSpan> {
        lock(&self.spans).get(from..).map(<[_]>::to_vec).unwrap_or_default()
    }
}

/// Zipkin v2 JSON: an array of spans with `name` and string `tags`.
fn parse_zipkin(body: &[u8]) -> Option<Vec<CollectedSpan>> {
    let json: serde_json::Value = serde_json::from_slice(body).ok()?;
    let spans = json.as_array()?;
    Some(
        spans
            .iter()
            .map(|span| CollectedSpan {
                name: span["name"].as_str().unwrap_or_default().to_string(),
                tags: span["tags"]
                    .as_object()
                    .map(|tags| tags.iter().map(|(k, v)| (k.clone(), json_scalar(v))).collect())
                    .unwrap_or_default(),
            })
            .collect(),
    )
}

fn json_scalar(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// OTLP/HTTP JSON: `resourceSpans[].scopeSpans[].spans[]` with `name` and
/// `attributes[{key, value: {stringValue | intValue | ...}}]`.
fn parse_otlp_json(body: &[u8]) -> Option<Vec<CollectedSpan>> {
    let json: serde_json::Value = serde_json::from_slice(body).ok()?;
    let mut out = Vec::new();
    for resource in json["resourceSpans"].as_array()? {
        for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
            for span in scope["spans"].as_array().into_iter().flatten() {
                let tags = span["attributes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|kv| {
                        let key = kv["key"].as_str()?.to_string();
                        let value = kv["value"].as_object()?.values().next().map(json_scalar)?;
                        Some((key, value))
                    })
                    .collect();
                out.push(CollectedSpan { name: span["name"].as_str().unwrap_or_default().to_string(), tags });
            }
        }
    }
    Some(out)
}

/// One protobuf field: its number and its wire value.
enum Wire<'b> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'b [u8]),
    /// Skipped: no field that the collector reads is a fixed32.
    Fixed32,
}

/// The fields of one protobuf message, or `None` when the bytes are not one.
fn protobuf_fields(mut buf: &[u8]) -> Option<Vec<(u64, Wire<'_>)>> {
    fn varint(buf: &mut &[u8]) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = buf.split_first()?;
            *buf = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }
    fn take<'b>(buf: &mut &'b [u8], n: usize) -> Option<&'b [u8]> {
        if buf.len() < n {
            return None;
        }
        let (head, rest) = buf.split_at(n);
        *buf = rest;
        Some(head)
    }
    let mut fields = Vec::new();
    while !buf.is_empty() {
        let key = varint(&mut buf)?;
        let value = match key & 7 {
            0 => Wire::Varint(varint(&mut buf)?),
            1 => Wire::Fixed64(u64::from_le_bytes(take(&mut buf, 8)?.try_into().ok()?)),
            2 => {
                let n = usize::try_from(varint(&mut buf)?).ok()?;
                Wire::Bytes(take(&mut buf, n)?)
            }
            5 => {
                take(&mut buf, 4)?;
                Wire::Fixed32
            }
            _ => return None,
        };
        fields.push((key >> 3, value));
    }
    Some(fields)
}

/// The sub-messages (or strings) in field `number`.
fn protobuf_bytes<'b>(fields: &[(u64, Wire<'b>)], number: u64) -> Vec<&'b [u8]> {
    fields
        .iter()
        .filter_map(|(n, w)| match w {
            Wire::Bytes(b) if *n == number => Some(*b),
            _ => None,
        })
        .collect()
}

/// OTLP/HTTP protobuf, `ExportTraceServiceRequest`: resource_spans (1) → scope_spans
/// (2) → spans (2) with name (5) and attributes (9, `KeyValue`: key 1, `AnyValue` 2).
fn parse_otlp_protobuf(body: &[u8]) -> Option<Vec<CollectedSpan>> {
    let mut out = Vec::new();
    for resource in protobuf_bytes(&protobuf_fields(body)?, 1) {
        for scope in protobuf_bytes(&protobuf_fields(resource)?, 2) {
            for span in protobuf_bytes(&protobuf_fields(scope)?, 2) {
                let fields = protobuf_fields(span)?;
                let name = protobuf_bytes(&fields, 5).first().map(|b| String::from_utf8_lossy(b).into_owned());
                let mut tags = BTreeMap::new();
                for attribute in protobuf_bytes(&fields, 9) {
                    let kv = protobuf_fields(attribute)?;
                    let Some(key) = protobuf_bytes(&kv, 1).first().map(|b| String::from_utf8_lossy(b).into_owned())
                    else {
                        continue;
                    };
                    let value = protobuf_bytes(&kv, 2).first().and_then(|v| any_value(v)).unwrap_or_default();
                    tags.insert(key, value);
                }
                out.push(CollectedSpan { name: name.unwrap_or_default(), tags });
            }
        }
    }
    Some(out)
}

/// An OTLP `AnyValue` as text: string 1, bool 2, int 3, double 4.
fn any_value(bytes: &[u8]) -> Option<String> {
    let fields = protobuf_fields(bytes)?;
    fields.iter().find_map(|(n, w)| match (n, w) {
        (1, Wire::Bytes(b)) => Some(String::from_utf8_lossy(b).into_owned()),
        (2, Wire::Varint(v)) => Some((*v != 0).to_string()),
        (3, Wire::Varint(v)) => Some((*v as i64).to_string()),
        (4, Wire::Fixed64(v)) => Some(f64::from_bits(*v).to_string()),
        _ => None,
    })
}

// ---------------------------------------------------------------------------------
// Prometheus text exposition
// ---------------------------------------------------------------------------------

/// One sample line of `/stats/prometheus`.
#[derive(Clone, Debug, PartialEq)]
struct Series {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

impl Series {
    fn matches(&self, name: &str, labels: &[(String, String)]) -> bool {
        self.name == name && labels.iter().all(|(k, v)| self.labels.iter().any(|(sk, sv)| sk == k && sv == v))
    }

    fn key(&self) -> (String, Vec<(String, String)>) {
        let mut labels = self.labels.clone();
        labels.sort();
        (self.name.clone(), labels)
    }

    fn describe(&self) -> String {
        format!("{} {}", format_selector(&self.name, &self.labels), number(self.value))
    }
}

/// A parsed `/stats/prometheus` reading.
#[derive(Clone, Debug, Default)]
struct Metrics {
    series: Vec<Series>,
    /// `# TYPE` by metric family name.
    types: HashMap<String, String>,
    values: HashMap<(String, Vec<(String, String)>), f64>,
}

impl Metrics {
    fn parse(text: &str) -> Metrics {
        let mut metrics = Metrics::default();
        for line in text.lines() {
            let line = line.trim();
            if let Some(comment) = line.strip_prefix('#') {
                let mut words = comment.split_whitespace();
                if let (Some("TYPE"), Some(name), Some(kind)) = (words.next(), words.next(), words.next()) {
                    metrics.types.insert(name.to_string(), kind.to_string());
                }
                continue;
            }
            if let Some(series) = parse_sample(line) {
                metrics.values.insert(series.key(), series.value);
                metrics.series.push(series);
            }
        }
        metrics
    }

    /// The value of the same series in this reading (0 when it was not there yet).
    fn value_of(&self, series: &Series) -> f64 {
        self.values.get(&series.key()).copied().unwrap_or(0.0)
    }

    /// Whether the series name belongs to a gauge (whose value, not its change, is
    /// what an expectation means).
    fn is_gauge(&self, name: &str) -> bool {
        let family = self.types.get(name).or_else(|| {
            ["_bucket", "_sum", "_count"].iter().find_map(|suffix| self.types.get(name.strip_suffix(suffix)?))
        });
        family.is_some_and(|kind| kind == "gauge")
    }
}

/// `name{label="value",...} value [timestamp]`, or `None` for anything else.
fn parse_sample(line: &str) -> Option<Series> {
    if line.is_empty() {
        return None;
    }
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace())?;
    let name = &line[..name_end];
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        let mut chars = after.char_indices().peekable();
        let end;
        loop {
            // Skip separators.
            while let Some(&(_, c)) = chars.peek() {
                if c == ',' || c.is_whitespace() {
                    chars.next();
                } else {
                    break;
                }
            }
            match chars.peek() {
                Some(&(i, '}')) => {
                    end = i;
                    break;
                }
                None => return None,
                _ => {}
            }
            let mut key = String::new();
            for (_, c) in chars.by_ref() {
                if c == '=' {
                    break;
                }
                key.push(c);
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return None;
            }
            let mut value = String::new();
            loop {
                match chars.next()?.1 {
                    '"' => break,
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    c => value.push(c),
                }
            }
            labels.push((key.trim().to_string(), value));
        }
        rest = &after[end + 1..];
    }
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().ok()?,
    };
    Some(Series { name: name.to_string(), labels, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_samples_are_parsed_with_labels_and_escapes() {
        let text = "# TYPE envoy_cluster_upstream_rq_total counter\n\
                    envoy_cluster_upstream_rq_total{envoy_cluster_name=\"upstream\"} 4\n\
                    # TYPE envoy_server_live gauge\n\
                    envoy_server_live{} 1\n\
                    odd{a=\"x\\\"y\",b=\"1,2\"} 2.5\n\
                    h_bucket{le=\"+Inf\"} 3\n";
        let metrics = Metrics::parse(text);
        assert_eq!(metrics.series.len(), 4);
        let labels = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        assert_eq!(metrics.series[0].labels, labels(&[("envoy_cluster_name", "upstream")]));
        assert_eq!(metrics.series[1].labels, labels(&[]));
        assert_eq!(metrics.series[2].labels, labels(&[("a", "x\"y"), ("b", "1,2")]));
        assert_eq!(metrics.series[2].value, 2.5);
        assert!(metrics.is_gauge("envoy_server_live"));
        assert!(!metrics.is_gauge("envoy_cluster_upstream_rq_total"));
    }

    #[test]
    fn otlp_protobuf_spans_are_decoded() {
        // ExportTraceServiceRequest{resource_spans{scope_spans{spans{name:"ingress",
        // attributes{key:"k", value{string_value:"v"}}}}}}
        fn len(field: u8, bytes: &[u8]) -> Vec<u8> {
            let mut out = vec![(field << 3) | 2, bytes.len() as u8];
            out.extend_from_slice(bytes);
            out
        }
        let any = len(1, b"v");
        let kv = [len(1, b"k"), len(2, &any)].concat();
        let span = [len(5, b"ingress"), len(9, &kv)].concat();
        let body = len(1, &len(2, &len(2, &span)));
        let spans = parse_otlp_protobuf(&body).unwrap();
        let tags: BTreeMap<String, String> = BTreeMap::from([("k".to_string(), "v".to_string())]);
        assert_eq!(spans, vec![CollectedSpan { name: "ingress".to_string(), tags }]);
    }

    #[test]
    fn chunked_bodies_are_read() {
        let mut reader = io::Cursor::new(b"4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\nT: 1\r\n\r\n".to_vec());
        assert_eq!(read_chunked(&mut reader).unwrap(), b"Wikipedia");
    }
}
