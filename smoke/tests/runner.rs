//! The smoke runner (`meshc_smoke`) against the real Envoy, with hand-written
//! bootstraps: a Lua filter that adds a header, an access log of errors only, a Zipkin
//! tracer sampling every request, and Envoy's own counters and histograms. The
//! bootstraps do what the generator's will do for `site.smoke` (`stats_flush_on_admin`,
//! `tracing.zipkin.min_flush_spans: 1`), so these tests pin the runner's side of that
//! contract.

use meshc_compiler::envoy_target::Site;
use meshc_compiler::model::smoke::{Expectation, ExpectationKind, ScenarioTarget, SmokeRequest, SmokeScenario};
use meshc_compiler::span::{FileId, Span};
use meshc_smoke as smoke;
use meshc_smoke::{EnvoyBinary, Report, Run};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const VERSIONS: [&str; 5] = ["1.36.4", "1.37.0", "1.38.2", "1.39.3", "1.40.0"];

fn span() -> Span {
    Span::new(FileId(0), 0, 0)
}

fn cache() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/meshc-test-cache")
}

/// The cached build of `version`, fetched into the test cache when missing.
fn envoy(version: &str) -> EnvoyBinary {
    let build = meshc_host::envoy::resolve(version).expect("a pinned version");
    let path = match meshc_host::envoy::cached(&cache(), build) {
        Some(path) => path,
        None => meshc_host::envoy::fetch(&cache(), build, None).expect("Envoy can be fetched"),
    };
    EnvoyBinary { version: build.version, path }
}

fn expect(kind: ExpectationKind) -> Expectation {
    Expectation { kind, span: span() }
}

fn get(path: &str, expect: Vec<Expectation>) -> SmokeRequest {
    SmokeRequest { method: "GET".into(), path: path.into(), headers: Vec::new(), body: None, expect, span: span() }
}

fn scenario(name: &str, requests: Vec<SmokeRequest>, expect: Vec<Expectation>) -> SmokeScenario {
    SmokeScenario {
        name: name.into(),
        target: ScenarioTarget::Proxy("shop".into()),
        fresh_envoy: false,
        requests,
        expect,
        span: span(),
    }
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// One bootstrap with everything the scenarios look at: a Lua filter that adds
/// `x-custom-header` to the request and the response and logs a warning (and answers
/// `/deny` itself with 403); a file access
/// log of responses >= 400 only; Zipkin at 100 % with a `user` tag from `x-user`; stats
/// flushed on every admin read.
const COMBINED: &str = r#"
node:
  id: meshc-smoke
  cluster: meshc-smoke
admin:
  address:
    socket_address: { address: "${ADMIN_ADDRESS}", port_value: ${ADMIN_PORT} }
stats_flush_on_admin: true
overload_manager:
  resource_monitors:
  - name: envoy.resource_monitors.global_downstream_max_connections
    typed_config:
      "@type": type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig
      max_active_downstream_connections: 1024
layered_runtime:
  layers:
  - name: static
    static_layer:
      tracing.zipkin.min_flush_spans: 1
static_resources:
  listeners:
  - name: main
    address:
      socket_address: { address: "${LISTEN_ADDRESS}", port_value: ${LISTEN_PORT} }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: main
          access_log:
          - name: envoy.access_loggers.file
            filter:
              status_code_filter:
                comparison:
                  op: GE
                  value: { default_value: 400, runtime_key: access_log.status_min }
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
              path: "${ACCESS_LOG}"
              log_format:
                text_format_source:
                  inline_string: "%RESPONSE_CODE% %REQ(:METHOD)% %REQ(:PATH)%\n"
          tracing:
            random_sampling: { value: 100 }
            custom_tags:
            - tag: user
              request_header: { name: x-user, default_value: anonymous }
            provider:
              name: envoy.tracers.zipkin
              typed_config:
                "@type": type.googleapis.com/envoy.config.trace.v3.ZipkinConfig
                collector_cluster: zipkin
                collector_endpoint: /api/v2/spans
                collector_endpoint_version: HTTP_JSON
          route_config:
            name: local_route
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                route: { cluster: upstream }
          http_filters:
          - name: envoy.filters.http.lua
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua
              default_source_code:
                inline_string: |
                  function envoy_on_request(handle)
                    if handle:headers():get(":path") == "/deny" then
                      handle:respond({[":status"] = "403"}, "denied")
                    end
                    handle:headers():add("x-custom-header", "hello-from-lua")
                    handle:logWarn("lua saw " .. handle:headers():get(":path"))
                  end
                  function envoy_on_response(handle)
                    handle:headers():add("x-custom-header", "hello-from-lua")
                  end
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: upstream
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: upstream
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: { address: "${UPSTREAM_ADDRESS}", port_value: ${UPSTREAM_PORT} }
  - name: zipkin
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: zipkin
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: { address: "${ZIPKIN_ADDRESS}", port_value: ${ZIPKIN_PORT} }
"#;

fn render(template: &str, site: &Site) -> Result<String, String> {
    let zipkin = site.collectors.get("zipkin").ok_or("the runner gave no collector for `zipkin`")?;
    let access_log = site.access_log_path.as_deref().ok_or("the runner gave no access-log path")?;
    if !site.smoke {
        return Err("the site is not a smoke site".into());
    }
    Ok(template
        .replace("${ADMIN_ADDRESS}", &site.admin.address)
        .replace("${ADMIN_PORT}", &site.admin.port.to_string())
        .replace("${LISTEN_ADDRESS}", &site.listen.address)
        .replace("${LISTEN_PORT}", &site.listen.port.to_string())
        .replace("${UPSTREAM_ADDRESS}", &site.upstream.address)
        .replace("${UPSTREAM_PORT}", &site.upstream.port.to_string())
        .replace("${ZIPKIN_ADDRESS}", &zipkin.address)
        .replace("${ZIPKIN_PORT}", &zipkin.port.to_string())
        .replace("${ACCESS_LOG}", access_log))
}

fn combined(scenario: &SmokeScenario, _version: &'static str, site: &Site) -> Result<String, String> {
    assert_eq!(scenario.target_name(), "shop");
    render(COMBINED, site)
}

/// Scenarios that hold on every pinned version. They share one Envoy process, and
/// their order makes the per-scenario windows matter: the errors logged by
/// `access_log_errors` must not count for `no_error_logged`, and the requests of the
/// earlier scenarios must not count for `request_count`.
fn passing_scenarios() -> Vec<SmokeScenario> {
    use ExpectationKind::*;
    vec![
        scenario(
            "lua_header",
            vec![get(
                "/hello",
                vec![
                    expect(Status(200)),
                    expect(Header { name: "x-custom-header".into(), value: Some("hello-from-lua".into()) }),
                    expect(Header { name: "X-Custom-Header".into(), value: None }),
                    expect(NoHeader { name: "x-not-there".into() }),
                    expect(UpstreamHeader { name: "x-custom-header".into(), value: Some("hello-from-lua".into()) }),
                    expect(NoUpstreamHeader { name: "x-not-there".into() }),
                    expect(BodyContains("\"path\":\"/hello\"".into())),
                ],
            )],
            vec![expect(EnvoyLog("lua saw /hello".into())), expect(NoEnvoyLog("lua saw /elsewhere".into()))],
        ),
        scenario(
            "access_log_errors",
            vec![
                get("/ok", vec![expect(Status(200))]),
                get("/status/503", vec![expect(Status(503))]),
                get("/status/404", vec![expect(Status(404))]),
            ],
            vec![expect(AccessLog {
                lines: Some(2),
                contains: vec!["503 GET /status/503".into(), "404 GET /status/404".into()],
            })],
        ),
        scenario(
            "no_error_logged",
            vec![get("/fine", vec![expect(Status(200))])],
            vec![expect(AccessLog { lines: Some(0), contains: Vec::new() })],
        ),
        scenario(
            "sampled_trace",
            vec![SmokeRequest {
                headers: pairs(&[("x-user", "alice")]),
                ..get("/traced", vec![expect(UpstreamHeader { name: "x-b3-sampled".into(), value: Some("1".into()) })])
            }],
            vec![
                expect(Span {
                    count: Some(1),
                    name: None,
                    tags: pairs(&[("user", "alice"), ("http.method", "GET"), ("http.status_code", "200")]),
                }),
                expect(Span { count: Some(1), name: None, tags: Vec::new() }),
            ],
        ),
        scenario(
            "request_count",
            vec![get("/a", vec![]), get("/b", vec![]), get("/c", vec![])],
            vec![
                // A counter: its increase during this scenario.
                expect(Metric {
                    name: "envoy_cluster_upstream_rq_total".into(),
                    labels: pairs(&[("envoy_cluster_name", "upstream")]),
                    value: Some(3.0),
                }),
                // A histogram's count, which needs the flush and the second read.
                expect(Metric {
                    name: "envoy_cluster_upstream_rq_time_count".into(),
                    labels: pairs(&[("envoy_cluster_name", "upstream")]),
                    value: Some(3.0),
                }),
                // Series summed over the labels not named.
                expect(Metric {
                    name: "envoy_cluster_upstream_rq".into(),
                    labels: pairs(&[("envoy_response_code", "200")]),
                    value: Some(3.0),
                }),
                // A gauge: its value.
                expect(Metric { name: "envoy_server_live".into(), labels: Vec::new(), value: Some(1.0) }),
                expect(Metric { name: "envoy_server_live".into(), labels: Vec::new(), value: None }),
            ],
        ),
        scenario(
            "direct_response",
            vec![get(
                "/deny",
                vec![
                    expect(Status(403)),
                    expect(BodyContains("denied".into())),
                    // The upstream received nothing, so it did not receive the header.
                    expect(NoUpstreamHeader { name: "x-custom-header".into() }),
                ],
            )],
            vec![expect(AccessLog { lines: Some(1), contains: vec!["403 GET /deny".into()] })],
        ),
        scenario(
            "echo_features",
            vec![
                SmokeRequest {
                    headers: pairs(&[
                        ("x-echo-response-header", "x-a=1"),
                        ("x-echo-response-header", "x-b=two=2"),
                        ("x-echo-delay-ms", "120"),
                    ]),
                    ..get(
                        "/status/418?q=1",
                        vec![
                            expect(Status(418)),
                            expect(Header { name: "x-a".into(), value: Some("1".into()) }),
                            expect(Header { name: "x-b".into(), value: Some("two=2".into()) }),
                        ],
                    )
                },
                SmokeRequest {
                    method: "POST".into(),
                    body: Some("hello body".into()),
                    ..get(
                        "/post",
                        vec![
                            expect(Status(200)),
                            expect(BodyContains("\"method\":\"POST\"".into())),
                            expect(BodyContains("\"body\":\"hello body\"".into())),
                            expect(UpstreamHeader { name: "content-length".into(), value: Some("10".into()) }),
                        ],
                    )
                },
            ],
            vec![],
        ),
    ]
}

fn run_report(scenarios: &[SmokeScenario], versions: &[&str], bootstrap: &smoke::BootstrapFn<'_>) -> Report {
    let envoys = versions.iter().map(|v| envoy(v)).collect();
    let mut run = Run::new(scenarios.iter().collect(), envoys, bootstrap);
    run.collectors = vec!["zipkin".into()];
    smoke::run(&run).expect("the runner starts")
}

fn rendered(report: &Report) -> String {
    smoke::render_report(report, &|_| None)
}

/// Every Envoy the run started has exited and been reaped.
fn assert_envoys_gone(report: &Report) {
    assert!(!report.envoys.is_empty());
    for envoy in &report.envoys {
        let pid = envoy.pid.expect("Envoy was spawned");
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "Envoy {} (pid {pid}) is still there",
            envoy.envoy_version
        );
        assert_eq!(envoy.exit.as_deref(), Some("exit status: 0"), "Envoy {} ended cleanly", envoy.envoy_version);
    }
}

#[test]
fn passing_scenarios_pass_in_envoy_1_38() {
    let scenarios = passing_scenarios();
    let report = run_report(&scenarios, &["1.38.2"], &combined);
    let text = rendered(&report);
    eprintln!("{text}");
    assert!(report.success(), "{text}");
    assert_eq!(report.passed(), scenarios.len());
    // All the scenarios ran in one process.
    assert_eq!(report.envoys.len(), 1);
    assert_envoys_gone(&report);
    assert!(text.lines().any(|l| l.starts_with("ok    lua_header ") && l.contains("Envoy 1.38.2")), "{text}");
    assert_eq!(text.lines().last(), Some(format!("{} passed, 0 failed", scenarios.len()).as_str()));
    let echo = report.results.iter().find(|r| r.scenario == "echo_features").unwrap();
    assert!(echo.duration >= Duration::from_millis(120), "x-echo-delay-ms delays the answer: {:?}", echo.duration);
    let first = report.first_request_after.expect("a request was sent");
    assert!(first < Duration::from_secs(5), "first request after {first:?}");
}

#[test]
fn passing_scenarios_pass_in_every_pinned_envoy() {
    let scenarios = passing_scenarios();
    let report = run_report(&scenarios, &VERSIONS, &combined);
    let text = rendered(&report);
    eprintln!("{text}");
    assert!(report.success(), "{text}");
    assert_eq!(report.results.len(), scenarios.len() * VERSIONS.len());
    assert_eq!(report.envoys.len(), VERSIONS.len());
    assert_envoys_gone(&report);
    // The report goes scenario by scenario, each in every version in order.
    let lua: Vec<&str> = text.lines().filter(|l| l.contains(" lua_header ")).collect();
    assert_eq!(lua.len(), VERSIONS.len());
    for (line, version) in lua.iter().zip(VERSIONS) {
        assert!(line.contains(&format!("Envoy {version}")), "{line}");
    }
}

#[test]
fn a_fresh_envoy_per_scenario_gives_the_same_results() {
    let scenarios = passing_scenarios();
    let envoys = vec![envoy("1.38.2")];
    let bootstrap: &smoke::BootstrapFn<'_> = &combined;
    let mut run = Run::new(scenarios.iter().collect(), envoys, bootstrap);
    run.collectors = vec!["zipkin".into()];
    run.fresh_envoy_per_scenario = true;
    let started = Instant::now();
    let report = smoke::run(&run).expect("the runner starts");
    let text = rendered(&report);
    eprintln!("{text}\n(fresh Envoy per scenario: {:?})", started.elapsed());
    assert!(report.success(), "{text}");
    assert_eq!(report.envoys.len(), scenarios.len());
    assert_envoys_gone(&report);
}

/// The OpenTelemetry tracer over OTLP/HTTP (protobuf) instead of Zipkin, to the same
/// collector.
fn otlp(_: &SmokeScenario, _: &'static str, site: &Site) -> Result<String, String> {
    let zipkin = r#"            provider:
              name: envoy.tracers.zipkin
              typed_config:
                "@type": type.googleapis.com/envoy.config.trace.v3.ZipkinConfig
                collector_cluster: zipkin
                collector_endpoint: /api/v2/spans
                collector_endpoint_version: HTTP_JSON
"#;
    let otel = r#"            provider:
              name: envoy.tracers.opentelemetry
              typed_config:
                "@type": type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig
                service_name: my-service
                http_service:
                  http_uri:
                    uri: "http://${ZIPKIN_ADDRESS}:${ZIPKIN_PORT}/v1/traces"
                    cluster: zipkin
                    timeout: 1s
"#;
    assert!(COMBINED.contains(zipkin));
    let template = COMBINED.replace(zipkin, otel).replace(
        "tracing.zipkin.min_flush_spans: 1",
        "tracing.zipkin.min_flush_spans: 1\n      tracing.opentelemetry.min_flush_spans: 1",
    );
    render(&template, site)
}

#[test]
fn otlp_http_spans_are_collected_in_every_pinned_envoy() {
    use ExpectationKind::*;
    let scenarios = vec![scenario(
        "otlp_trace",
        vec![SmokeRequest { headers: pairs(&[("x-user", "bob")]), ..get("/otel", vec![expect(Status(200))]) }],
        vec![expect(Span {
            count: Some(1),
            name: Some("ingress".into()),
            tags: pairs(&[("user", "bob"), ("http.method", "GET"), ("http.status_code", "200")]),
        })],
    )];
    let report = run_report(&scenarios, &VERSIONS, &otlp);
    let text = rendered(&report);
    eprintln!("{text}");
    assert!(report.success(), "{text}");
    assert_envoys_gone(&report);
}

#[test]
fn wrong_expectations_fail_with_what_was_observed() {
    use ExpectationKind::*;
    let scenarios = vec![
        scenario(
            "wrong",
            vec![get(
                "/hello",
                vec![
                    expect(Status(404)),
                    expect(Header { name: "x-custom-header".into(), value: Some("wrong".into()) }),
                    expect(Header { name: "x-missing".into(), value: None }),
                    expect(NoHeader { name: "x-custom-header".into() }),
                    expect(UpstreamHeader { name: "x-missing".into(), value: None }),
                    expect(NoUpstreamHeader { name: "x-custom-header".into() }),
                    expect(BodyContains("nope".into())),
                ],
            )],
            vec![
                expect(Metric {
                    name: "envoy_cluster_upstream_rq_total".into(),
                    labels: pairs(&[("envoy_cluster_name", "upstream")]),
                    value: Some(5.0),
                }),
                expect(Metric { name: "envoy_cluster_upstream_rq_totl".into(), labels: Vec::new(), value: None }),
                expect(Metric {
                    name: "envoy_cluster_upstream_rq_total".into(),
                    labels: pairs(&[("envoy_cluster_name", "nowhere")]),
                    value: None,
                }),
                expect(AccessLog { lines: Some(1), contains: vec!["200".into()] }),
                expect(Span { count: Some(2), name: None, tags: Vec::new() }),
                expect(Span { count: None, name: Some("no-such-span".into()), tags: Vec::new() }),
                expect(EnvoyLog("never logged".into())),
                expect(NoEnvoyLog("lua saw /hello".into())),
            ],
        ),
        scenario(
            "wrong_deny",
            vec![get("/deny", vec![expect(UpstreamHeader { name: "x-custom-header".into(), value: None })])],
            vec![],
        ),
        // A passing scenario after the failing ones, in the same process: a failure
        // does not leak into the next scenario.
        scenario("right", vec![get("/after", vec![expect(Status(200))])], vec![]),
    ];
    let report = run_report(&scenarios, &["1.38.2"], &combined);
    let text = rendered(&report);
    eprintln!("{text}");
    assert_eq!((report.passed(), report.failed()), (1, 2), "{text}");
    let deny = &report.results.iter().find(|r| r.scenario == "wrong_deny").unwrap();
    assert_eq!(
        deny.failures.iter().map(|f| f.message.as_str()).collect::<Vec<_>>(),
        ["request 1 GET /deny: upstream header x-custom-header: the upstream received no request for it"]
    );
    let wrong = &report.results.iter().find(|r| r.scenario == "wrong").unwrap();
    let messages: Vec<&str> = wrong.failures.iter().map(|f| f.message.as_str()).collect();
    let expected = [
        "request 1 GET /hello: status: expected 404, got 200",
        "request 1 GET /hello: header x-custom-header: expected \"wrong\", got \"hello-from-lua\"",
        "request 1 GET /hello: header x-missing: absent",
        "request 1 GET /hello: header x-custom-header: expected absent, got \"hello-from-lua\"",
        "request 1 GET /hello: upstream header x-missing: absent",
        "request 1 GET /hello: upstream header x-custom-header: expected absent, got \"hello-from-lua\"",
        "request 1 GET /hello: body: does not contain \"nope\"",
        "metric envoy_cluster_upstream_rq_total{envoy_cluster_name=\"upstream\"}: expected 5 (its increase during the scenario), got 1",
        "metric envoy_cluster_upstream_rq_totl: no series of this name; did you mean `envoy_cluster_upstream_rq_total`?",
        "metric envoy_cluster_upstream_rq_total{envoy_cluster_name=\"nowhere\"}: no series of this name has these labels",
        "access log: expected 1 line, got 0; no line contains \"200\"",
        "spans: expected 2, got 1",
        "span named \"no-such-span\": none received",
        "Envoy log: does not contain \"never logged\"",
        "Envoy log: contains \"lua saw /hello\"",
    ];
    for text in expected {
        assert!(
            messages.iter().any(|m| m.starts_with(text)),
            "no failure starts with {text:?}; failures: {messages:#?}"
        );
    }
    assert_eq!(messages.len(), expected.len(), "{messages:#?}");
    let excerpt = wrong.log_excerpt.as_deref().expect("a failure shows Envoy's log");
    assert!(excerpt.contains("lua saw /hello"), "{excerpt}");
    assert!(text.contains("FAIL  wrong "), "{text}");
    assert!(text.contains("      request 1 GET /hello: status: expected 404, got 200\n"), "{text}");
    assert!(text.contains("        | "), "the log excerpt is in the report: {text}");
    assert_eq!(text.lines().last(), Some("1 passed, 2 failed"));
    assert_envoys_gone(&report);
}

#[test]
fn a_bootstrap_envoy_rejects_is_a_failure_with_its_log() {
    let scenarios = vec![
        scenario("first", vec![get("/", vec![expect(ExpectationKind::Status(200))])], vec![]),
        scenario("second", vec![get("/", vec![])], vec![]),
    ];
    let rejected = |_: &SmokeScenario, _: &'static str, site: &Site| {
        render(COMBINED, site).map(|text| text.replace("port_value: 0", "port_value: 99999"))
    };
    let report = run_report(&scenarios, &["1.38.2"], &rejected);
    let text = rendered(&report);
    eprintln!("{text}");
    assert_eq!((report.passed(), report.failed()), (0, 2), "{text}");
    for result in &report.results {
        assert_eq!(result.failures.len(), 1);
        let message = &result.failures[0].message;
        assert!(
            message.starts_with("Envoy 1.38.2 did not start: Envoy exited (exit status: 1) before it was ready"),
            "{message}"
        );
        let excerpt = result.log_excerpt.as_deref().expect("the log of the failed start");
        assert!(excerpt.contains("value must be less than or equal to 65535"), "{excerpt}");
    }
    assert!(report.first_request_after.is_none());
    assert!(text.contains("no request was sent"), "{text}");
    let envoy = &report.envoys[0];
    assert!(!Path::new(&format!("/proc/{}", envoy.pid.unwrap())).exists());
    assert_eq!(envoy.exit.as_deref(), Some("exit status: 1"));
}

#[test]
fn a_bootstrap_that_cannot_be_built_is_a_failure() {
    let scenarios = vec![scenario("first", vec![get("/", vec![])], vec![])];
    let broken = |scenario: &SmokeScenario, version: &'static str, _: &Site| {
        Err(format!("no proxy `{}` for Envoy {version}", scenario.target_name()))
    };
    let report = run_report(&scenarios, &["1.38.2"], &broken);
    assert_eq!(report.failed(), 1);
    assert_eq!(
        report.results[0].failures[0].message,
        "the bootstrap of proxy `shop` could not be built: no proxy `shop` for Envoy 1.38.2"
    );
    assert!(report.envoys.is_empty(), "no Envoy is started for it");
}

// --- Interruption: a child test process runs a slow scenario, the parent signals it.

/// The scenario the child runs: its one request waits 10 s in the echo upstream, so
/// the child is in the middle of a run when the parent signals it.
#[test]
fn interrupted_child() {
    if std::env::var_os("MESHC_SMOKE_CHILD").is_none() {
        return;
    }
    let scenarios = vec![scenario(
        "slow",
        vec![SmokeRequest { headers: pairs(&[("x-echo-delay-ms", "10000")]), ..get("/slow", vec![]) }],
        vec![],
    )];
    let _ = run_report(&scenarios, &["1.38.2"], &combined);
}

/// Processes whose parent is `parent`, with their names.
fn children_of(parent: u32) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        let name = stat[open + 1..close].to_string();
        let ppid = stat[close + 1..].split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) {
            out.push((pid, name));
        }
    }
    out
}

/// Whether `pid` is a live process (not gone, not a zombie).
fn running(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    let state = stat.rfind(')').and_then(|i| stat[i + 1..].split_whitespace().next().map(str::to_string));
    state.as_deref() != Some("Z")
}

/// Starts the child test, waits until its Envoy runs, signals the child; returns the
/// child's exit status, its pid and Envoy's pid.
fn signal_child_during_run(signal: nix::sys::signal::Signal) -> (std::process::ExitStatus, u32, u32) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "interrupted_child", "--nocapture", "--test-threads", "1"])
        .env("MESHC_SMOKE_CHILD", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let envoy = loop {
        if let Some((pid, _)) = children_of(child.id()).into_iter().find(|(_, name)| name == "envoy") {
            break pid;
        }
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            panic!("the child never started Envoy");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // Let the slow request get under way.
    std::thread::sleep(Duration::from_millis(500));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the child did not exit after {signal}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    (status, child.id(), envoy)
}

fn wait_gone(pid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if !running(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

#[test]
fn sigint_stops_envoy_and_removes_the_temporary_files() {
    let (status, child, envoy) = signal_child_during_run(nix::sys::signal::Signal::SIGINT);
    assert_eq!(status.code(), Some(130), "{status}");
    assert!(wait_gone(envoy), "Envoy {envoy} still runs after meshc was interrupted");
    let prefix = format!("meshc-smoke-{child}-");
    let left: Vec<String> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "temporary directories left behind: {left:?}");
}

#[test]
fn sigterm_stops_envoy() {
    let (status, _, envoy) = signal_child_during_run(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(status.code(), Some(130), "{status}");
    assert!(wait_gone(envoy), "Envoy {envoy} still runs after meshc got SIGTERM");
}

#[test]
fn envoy_dies_with_a_killed_runner() {
    let (status, child, envoy) = signal_child_during_run(nix::sys::signal::Signal::SIGKILL);
    assert_eq!(status.code(), None, "killed by a signal");
    assert!(wait_gone(envoy), "Envoy {envoy} outlived a runner killed with SIGKILL");
    // The killed runner could not remove its temporary directory; the next run does
    // (maybe a concurrent test's, so only the end state is asserted).
    let prefix = format!("meshc-smoke-{child}-");
    let left = || {
        std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .count()
    };
    let scenarios = vec![scenario("first", vec![get("/", vec![])], vec![])];
    let _ = run_report(&scenarios, &["1.38.2"], &|_: &SmokeScenario, _: &'static str, _: &Site| {
        Err("not needed".to_string())
    });
    assert_eq!(left(), 0, "the next run removed it");
}
