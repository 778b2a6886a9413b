//! The smoke-test runner behind `meshc smoke`: it runs [`SmokeScenario`]s against
//! bootstraps in the real Envoy and judges every [`Expectation`].
//!
//! [`Expectation`]: meshc_compiler::model::smoke::Expectation
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

#![deny(unsafe_code)]

mod collector;
mod echo;
mod extensions;
mod files;
mod group;
mod http;
mod judge;
mod otlp_protobuf;
mod plugin;
mod process;
mod prometheus;
mod report;

pub use extensions::extension_registry;
pub use plugin::{WASMTIME, run_plugin_scenarios};
pub use process::{install_signal_handler, stop_all_children};
pub use report::render_report;

use collector::Collector;
use echo::Echo;
use files::remove_stale_dirs;
use group::{RunState, group_scenarios, run_group};
use meshc_compiler::envoy_target::{self, Site};
use meshc_compiler::model::smoke::{ScenarioTarget, SmokeScenario};
use meshc_compiler::span::Span;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

// The deadlines of every wait the runner makes, kept side by side because together
// they bound how long a run can hang.

/// How long Envoy may take from spawn to `/ready`. A large Wasm module on a loaded
/// two-core machine takes about 1.5 s; this leaves room without hanging forever.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a proxied request may take: the echo delay is capped at 10 s.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// How long an admin request may take.
pub(crate) const ADMIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait for Envoy to become idle after a scenario's requests.
pub(crate) const QUIET_TIMEOUT: Duration = Duration::from_secs(2);
/// How long to keep re-judging observations (spans, logs, stats) that have not
/// arrived yet.
pub(crate) const OBSERVE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long Envoy has to exit after SIGTERM before it gets SIGKILL.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(2);

/// One Envoy build the scenarios run in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvoyBinary {
    /// The Envoy version, e.g. `1.38.2`: passed to the bootstrap closure and shown in
    /// the report.
    pub version: &'static str,
    /// The executable (see [`meshc_host::envoy::cached`]).
    pub path: PathBuf,
}

/// Builds the bootstrap text (YAML or JSON) that `scenario` runs in (its proxy's, or its
/// plugin's alone) for Envoy `version` at `site`. It is asked once per group of scenarios
/// that share a process, with the first of them. An `Err` is reported as the failure of
/// every scenario of the group in that version.
pub type BootstrapFn<'a> = dyn Fn(&SmokeScenario, &'static str, &Site) -> Result<String, String> + 'a;

/// What to run. Scenarios of one proxy share one Envoy process per version (unless
/// [`Run::fresh_envoy_per_scenario`]), so the bootstrap is asked for once per proxy
/// and version.
pub struct Run<'a> {
    /// The scenarios, in the order to run and report them.
    pub scenarios: Vec<&'a SmokeScenario>,
    /// The Envoy builds, run one after the other in this order.
    pub envoys: Vec<EnvoyBinary>,
    /// `(scenario, envoy_version, site) -> bootstrap text`.
    pub bootstrap: &'a BootstrapFn<'a>,
    /// Tracing (and logging) provider names that must report to the local collector;
    /// each becomes an entry of [`Site::collectors`].
    pub collectors: Vec<String>,
    /// The listener that requests go to, by name. `None`: the first listener Envoy
    /// lists (a generated bootstrap has one).
    pub listener: Option<String>,
    /// Start a new Envoy process for every scenario instead of one per proxy and
    /// version (`meshc smoke --fresh-envoy`). Slower; a single scenario that depends on
    /// a fresh process (rate-limit tokens, Lua globals, gauges) says
    /// `fresh_envoy true` instead.
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
    /// The scenarios that ran before this one in the same Envoy process, whose state
    /// (rate-limit tokens, Lua globals, gauges, connections) this one saw; empty when
    /// it had the process to itself from the start.
    pub shared_with: Vec<String>,
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

/// Why the runner itself could not work. Whatever goes wrong with a bootstrap, an
/// Envoy process or a scenario is a [`Failure`] in the report instead.
#[derive(Debug)]
pub enum SmokeError {
    /// The echo upstream could not listen on a loopback port.
    StartUpstream(io::Error),
    /// The trace collector could not listen on a loopback port.
    StartCollector(io::Error),
    /// The temporary directory of an Envoy process could not be created.
    CreateTempDir(io::Error),
    /// The bootstrap could not be written into the temporary directory.
    WriteBootstrap { path: PathBuf, error: io::Error },
    /// The interrupt handler could not be installed; the text is `ctrlc`'s, kept as
    /// text because the outcome is computed once and handed to every caller.
    SignalHandler(String),
    /// Envoy could not be started or did not answer on its admin interface.
    Envoy(String),
}

impl fmt::Display for SmokeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SmokeError::StartUpstream(e) => write!(f, "cannot start the local upstream: {e}"),
            SmokeError::StartCollector(e) => write!(f, "cannot start the local trace collector: {e}"),
            SmokeError::CreateTempDir(e) => write!(f, "cannot create a temporary directory: {e}"),
            SmokeError::WriteBootstrap { path, error } => write!(f, "cannot write {}: {error}", path.display()),
            SmokeError::SignalHandler(message) => write!(f, "cannot handle interrupts: {message}"),
            SmokeError::Envoy(message) => write!(f, "{message}"),
        }
    }
}

// No `source()`: the message already ends with the cause, and a reporter that walks
// the chain would print it twice.
impl std::error::Error for SmokeError {}

/// Runs the scenarios. `Err` only when the runner itself cannot work (it cannot bind
/// a loopback port or create a temporary directory); everything that goes wrong with
/// a bootstrap or a scenario is a failure in the report.
pub fn run(run: &Run<'_>) -> Result<Report, SmokeError> {
    let started = run.started.unwrap_or_else(Instant::now);
    if run.handle_signals {
        // Envoy runs in its own process group, so a terminal's Ctrl-C reaches only
        // meshc; without the handler Envoy would still die with meshc (PDEATHSIG),
        // but its temporary directory would stay until the next run.
        let _ = install_signal_handler();
    }
    remove_stale_dirs();
    let echo = Echo::start().map_err(SmokeError::StartUpstream)?;
    let collector = Collector::start().map_err(SmokeError::StartCollector)?;
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

/// Runs a package's smoke scenarios in the given Envoy builds and renders the report:
/// the work of `meshc smoke` after the package is checked, shared with the tests.
pub fn run_package(
    loaded: &meshc_host::package::LoadedPackage,
    analysis: &meshc_compiler::driver::Analysis,
    envoys: Vec<EnvoyBinary>,
    fresh_envoy_per_scenario: bool,
    started: std::time::Instant,
) -> Result<(Report, String), SmokeError> {
    let assets = loaded.assets();
    let package =
        envoy_target::Package { manifest: analysis.manifest.as_ref(), lowered: &analysis.lowered, assets: &assets };
    let bootstrap = |scenario: &SmokeScenario, version: &'static str, site: &Site| {
        let (config, found) = match &scenario.target {
            ScenarioTarget::Proxy(name) => {
                let proxy = analysis.lowered.proxies.iter().find(|p| p.name == *name).ok_or("no such proxy")?;
                envoy_target::checked_bootstrap(package, proxy, version, site)
            }
            ScenarioTarget::Plugin(plugin) => envoy_target::checked_plugin_bootstrap(package, plugin, version, site)?,
        };
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
    // A plugin's scenario that sets properties or answers http calls needs meshc's test
    // host: the real Envoy decides those itself.
    let (scenarios, test_host_only): (Vec<&SmokeScenario>, Vec<&SmokeScenario>) =
        analysis.lowered.smokes.iter().partition(|s| !s.plugin().is_some_and(|p| p.needs_a_test_host()));
    let mut smoke_run = Run::new(scenarios, envoys, &bootstrap);
    smoke_run.collectors = collectors;
    smoke_run.fresh_envoy_per_scenario = fresh_envoy_per_scenario;
    smoke_run.started = Some(started);
    let report = run(&smoke_run)?;
    let mut rendered = String::new();
    for scenario in test_host_only {
        rendered.push_str(&format!(
            "skip  {}  (sets properties or answers http calls, which only `meshc test` gives a plugin)\n",
            scenario.name
        ));
    }
    rendered.push_str(&render_package_report(&report, &loaded.db));
    Ok((report, rendered))
}

/// The report of a package's scenarios, each failure located as `file:line:column` in
/// the package's sources.
pub fn render_package_report(report: &Report, db: &meshc_compiler::source::SourceDb) -> String {
    let locate = |span: Span| {
        let file = db.get(span.file);
        let position = meshc_compiler::span::LineIndex::new(&file.text).line_col(&file.text, span.start);
        Some(format!("{}:{}:{}", file.path, position.line, position.column))
    };
    render_report(report, &locate)
}
