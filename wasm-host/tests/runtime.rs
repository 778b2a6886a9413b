//! The runtime against the hand-written plugins of tests/plugins: what each does to a
//! request, and why a misbehaving one fails.

use meshc_wasm_host::runtime::{HttpMessage, Limits, LogLevel, MetricValue, Plugin, PluginRun, RunError, Vm};

fn plugin(name: &str) -> Plugin {
    let path = format!("{}/tests/plugins/{name}.wat", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    Plugin::compile(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn get(path: &str, extra: &[(&str, &str)]) -> HttpMessage {
    let mut h = headers(&[(":method", "GET"), (":path", path), (":authority", "svc")]);
    h.extend(headers(extra));
    HttpMessage { headers: h, ..HttpMessage::default() }
}

fn ok_response() -> HttpMessage {
    HttpMessage {
        headers: headers(&[(":status", "200"), ("content-type", "text/plain")]),
        body: b"upstream".to_vec(),
        trailers: Vec::new(),
    }
}

fn run_with(request: HttpMessage) -> PluginRun {
    PluginRun { request, response: ok_response(), ..PluginRun::default() }
}

#[test]
fn header_adder_adds_its_header_and_leaves_the_response_alone() {
    let out = plugin("header_adder").run(&run_with(get("/", &[]))).unwrap();
    assert_eq!(out.forwarded_request.header("x-meshc"), Some("hello"));
    assert_eq!(out.forwarded_request.headers.len(), 4);
    assert_eq!(out.returned_response, ok_response());
    assert_eq!(out.local_reply, None);
}

#[test]
fn require_header_replies_403_without_the_configured_header() {
    let p = plugin("require_header");
    let mut run = run_with(get("/", &[]));
    run.plugin_config = b"x-api-key".to_vec();
    let out = p.run(&run).unwrap();
    let reply = out.local_reply.expect("a local reply");
    assert_eq!(reply.status, 403);
    assert_eq!(reply.body, b"forbidden\n");
    assert_eq!(reply.details, "missing_header");
    assert_eq!(reply.headers, headers(&[("content-type", "text/plain")]));
    assert_eq!(out.returned_response.header(":status"), Some("403"));
    assert_eq!(out.returned_response.body, b"forbidden\n");

    // With the header (in another case: names are case-insensitive), the request passes.
    run.request = get("/", &[("X-Api-Key", "secret")]);
    let out = p.run(&run).unwrap();
    assert_eq!(out.local_reply, None);
    assert_eq!(out.returned_response, ok_response());
}

#[test]
fn require_header_refuses_an_empty_configuration_with_its_reason() {
    let err = plugin("require_header").run(&run_with(get("/", &[]))).unwrap_err();
    assert_eq!(
        err,
        RunError::ConfigurationRejected { reason: Some("no header name in the plugin configuration".into()) }
    );
    assert_eq!(err.to_string(), "the plugin rejected its configuration: no header name in the plugin configuration");
}

#[test]
fn counter_logger_counts_requests_and_logs_their_path() {
    let p = plugin("counter_logger");
    let mut vm = Vm::start(&p, &PluginRun::default()).unwrap();
    let first = vm.request(&run_with(get("/one", &[]))).unwrap();
    assert_eq!(first.metrics.get("meshc_requests_total"), Some(&MetricValue::Counter(1)));
    assert_eq!(first.logs, vec![(LogLevel::Info, "request seen".to_string()), (LogLevel::Info, "/one".to_string())]);
    let second = vm.request(&run_with(get("/two", &[]))).unwrap();
    assert_eq!(second.metrics.get("meshc_requests_total"), Some(&MetricValue::Counter(2)));
    assert_eq!(second.logs[1], (LogLevel::Info, "/two".to_string()));
}

#[test]
fn auth_call_pauses_until_the_call_is_answered_then_resumes() {
    let p = plugin("auth_call");
    let mut run = run_with(get("/", &[]));
    run.http_call_responses = vec![HttpMessage { headers: headers(&[(":status", "200")]), ..HttpMessage::default() }];
    let out = p.run(&run).unwrap();
    assert_eq!(out.http_calls.len(), 1);
    let call = &out.http_calls[0];
    assert_eq!(call.upstream, "auth");
    assert_eq!(call.headers, headers(&[(":method", "GET"), (":path", "/check"), (":authority", "auth")]));
    assert_eq!(call.timeout_ms, 500);
    assert_eq!(out.local_reply, None);
    assert_eq!(out.forwarded_request.header("x-auth"), Some("ok"));
    assert_eq!(out.returned_response, ok_response());
}

#[test]
fn auth_call_denies_on_a_refusal_and_on_a_failed_call() {
    let p = plugin("auth_call");
    let mut run = run_with(get("/", &[]));
    run.http_call_responses = vec![HttpMessage { headers: headers(&[(":status", "401")]), ..HttpMessage::default() }];
    let out = p.run(&run).unwrap();
    assert_eq!(out.local_reply.map(|r| r.status), Some(403));
    assert_eq!(out.forwarded_request.header("x-auth"), None);

    // No answer given: the call fails, as a timeout would.
    run.http_call_responses.clear();
    let out = p.run(&run).unwrap();
    assert_eq!(out.local_reply.map(|r| r.body), Some(b"denied".to_vec()));
}

#[test]
fn a_trap_names_the_callback_and_the_reason() {
    let err = plugin("traps").run(&run_with(get("/", &[]))).unwrap_err();
    let RunError::Trap { callback, reason } = &err else {
        panic!("not a trap: {err}");
    };
    assert_eq!(callback, "proxy_on_request_headers");
    assert!(reason.contains("unreachable"), "{reason}");
}

#[test]
fn an_endless_loop_runs_out_of_fuel() {
    let mut run = run_with(get("/", &[]));
    run.limits = Limits { fuel_per_callback: 1_000_000, ..Limits::default() };
    let err = plugin("loops").run(&run).unwrap_err();
    assert_eq!(err, RunError::OutOfFuel { callback: "proxy_on_request_headers".into(), budget: 1_000_000 });
}

#[test]
fn unbounded_growth_hits_the_memory_limit() {
    let mut run = run_with(get("/", &[]));
    run.limits.memory_bytes = 4 << 20;
    let err = plugin("grows").run(&run).unwrap_err();
    let RunError::MemoryLimit { callback, limit, .. } = &err else {
        panic!("not a memory limit: {err}");
    };
    assert_eq!(callback, "proxy_on_request_headers");
    assert_eq!(*limit, 4 << 20);
}

#[test]
fn an_unknown_import_is_named() {
    let path = format!("{}/tests/plugins/unknown_import.wat", env!("CARGO_MANIFEST_DIR"));
    let err = Plugin::compile(&std::fs::read(path).unwrap()).err().expect("an error");
    assert_eq!(err.to_string(), "the module imports `env::proxy_open_socket`, which this host does not provide");
}

#[test]
fn wasi_stdout_and_environment_are_the_sandboxs() {
    let mut run = run_with(get("/", &[]));
    run.env = vec![("GREETING".into(), "hi".into())];
    let out = plugin("wasi_env").run(&run).unwrap();
    assert_eq!(
        out.logs,
        vec![
            (LogLevel::Info, "started".to_string()),
            (LogLevel::Info, "GREETING=hi".to_string()),
            // EBADF: no file is open.
            (LogLevel::Info, "fd_close(3) = 08".to_string()),
        ]
    );
}

/// A plugin written inline: `body` after a prelude with the imports the cases use, a memory
/// and a bump allocator whose heap starts at 4096.
fn inline(body: &str) -> Plugin {
    let text = format!(
        r#"(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $get_header (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_shared_data" (func $set_shared (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_shared_data" (func $get_shared (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_buffer_bytes" (func $set_buffer (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_property" (func $get_property (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_tick_period_milliseconds" (func $set_tick (param i32) (result i32)))
  (import "env" "proxy_define_metric" (func $define (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_increment_metric" (func $increment (param i32 i64) (result i32)))
  (import "env" "proxy_get_current_time_nanoseconds" (func $now (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $size)))
    (local.get $p))
  {body}
)"#
    );
    Plugin::compile(text.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn bad_guest_pointers_are_a_status_not_a_crash() {
    let p = inline(
        r#"(data (i32.const 0) ":path")
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    ;; 6 is InvalidMemoryAccess: a string past the end of memory...
    (if (i32.ne (call $log (i32.const 2) (i32.const -16) (i32.const 100)) (i32.const 6))
      (then unreachable))
    ;; ...and a return pointer straddling it.
    (if (i32.ne (call $get_header (i32.const 0) (i32.const 0) (i32.const 5) (i32.const 65534) (i32.const 8))
                (i32.const 6))
      (then unreachable))
    (i32.const 0))"#,
    );
    let out = p.run(&run_with(get("/", &[]))).unwrap();
    assert_eq!(out.logs, vec![]);
}

#[test]
fn shared_data_compare_and_swap() {
    let p = inline(
        r#"(data (i32.const 0) "k") (data (i32.const 8) "v1") (data (i32.const 16) "v2")
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    ;; CAS 0 writes unconditionally.
    (if (call $set_shared (i32.const 0) (i32.const 1) (i32.const 8) (i32.const 2) (i32.const 0))
      (then unreachable))
    (if (call $get_shared (i32.const 0) (i32.const 1) (i32.const 32) (i32.const 36) (i32.const 40))
      (then unreachable))
    ;; A stale CAS is CasMismatch (8).
    (if (i32.ne (call $set_shared (i32.const 0) (i32.const 1) (i32.const 16) (i32.const 2)
                      (i32.add (i32.load (i32.const 40)) (i32.const 1)))
                (i32.const 8))
      (then unreachable))
    (if (call $set_shared (i32.const 0) (i32.const 1) (i32.const 16) (i32.const 2) (i32.load (i32.const 40)))
      (then unreachable))
    (i32.const 0))"#,
    );
    let out = p.run(&run_with(get("/", &[]))).unwrap();
    assert_eq!(out.shared_data.get("k"), Some(&(b"v2".to_vec(), 2)), "{:?}", out.shared_data);
}

#[test]
fn a_pause_nothing_resumes_is_a_stall() {
    let p = inline(r#"(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 1))"#);
    let err = p.run(&run_with(get("/", &[]))).unwrap_err();
    assert_eq!(err, RunError::Stalled { callback: "proxy_on_request_headers".into() });
}

#[test]
fn a_paused_headers_callback_still_gets_the_body_which_can_continue() {
    // As in Envoy: StopIteration from the headers holds the headers back from the rest of
    // the chain, and the body callback's Continue lets the stream go on.
    let p = inline(
        r#"(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_request_body") (param i32 i32 i32) (result i32) (i32.const 0))"#,
    );
    let mut request = get("/", &[]);
    request.body = b"payload".to_vec();
    let out = p.run(&run_with(request)).unwrap();
    assert_eq!(out.forwarded_request.body, b"payload");
    assert_eq!(out.returned_response.header(":status"), Some("200"));
}

#[test]
fn a_body_is_seen_whole_and_can_be_replaced() {
    let p = inline(
        r#"(data (i32.const 0) "changed")
  (func (export "proxy_on_request_headers") (param i32 i32) (param $eos i32) (result i32)
    ;; There is a body, so the headers do not end the stream.
    (if (local.get $eos) (then unreachable))
    (i32.const 0))
  (func (export "proxy_on_request_body") (param i32) (param $size i32) (param $eos i32) (result i32)
    (if (i32.eqz (local.get $eos)) (then unreachable))
    (if (i32.ne (local.get $size) (i32.const 8)) (then unreachable))
    (drop (call $set_buffer (i32.const 0) (i32.const 0) (local.get $size) (i32.const 0) (i32.const 7)))
    (i32.const 0))"#,
    );
    let mut request = get("/", &[]);
    request.body = b"original".to_vec();
    let out = p.run(&run_with(request)).unwrap();
    assert_eq!(out.forwarded_request.body, b"changed");
}

#[test]
fn properties_come_from_the_test() {
    let p = inline(
        r#"(data (i32.const 0) "node\00metadata\00REGION")
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (if (call $get_property (i32.const 0) (i32.const 20) (i32.const 32) (i32.const 36))
      (then unreachable))
    (drop (call $log (i32.const 3) (i32.load (i32.const 32)) (i32.load (i32.const 36))))
    (i32.const 0))"#,
    );
    let mut run = run_with(get("/", &[]));
    run.properties.insert("node.metadata.REGION".into(), b"eu-west".to_vec());
    let out = p.run(&run).unwrap();
    assert_eq!(out.logs, vec![(LogLevel::Warn, "eu-west".to_string())]);
}

#[test]
fn the_clock_moves_only_when_the_test_advances_it_and_ticks_then() {
    let p = inline(
        r#"(data (i32.const 0) "ticks") (data (i32.const 8) "now")
  (global $ticks (mut i32) (i32.const 0))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
    (drop (call $set_tick (i32.const 1000)))
    (drop (call $define (i32.const 0) (i32.const 0) (i32.const 5) (i32.const 16)))
    (global.set $ticks (i32.load (i32.const 16)))
    (i32.const 1))
  (func (export "proxy_on_tick") (param i32)
    (drop (call $increment (global.get $ticks) (i64.const 1))))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $now (i32.const 24)))
    (drop (call $set_shared (i32.const 8) (i32.const 3) (i32.const 24) (i32.const 8) (i32.const 0)))
    (i32.const 0))"#,
    );
    let run = run_with(get("/", &[]));
    let mut vm = Vm::start(&p, &run).unwrap();
    vm.advance_clock(2_500_000_000).unwrap();
    let out = vm.request(&run).unwrap();
    assert_eq!(out.metrics.get("ticks"), Some(&MetricValue::Counter(2)));
    let now = run.start_time_nanos + 2_500_000_000;
    assert_eq!(out.shared_data["now"].0, now.to_le_bytes());
}

#[test]
fn proc_exit_in_a_callback_fails_with_its_code() {
    let p = inline(
        r#"(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (call $exit (i32.const 3))
    (i32.const 0))"#,
    );
    let err = p.run(&run_with(get("/", &[]))).unwrap_err();
    assert_eq!(err, RunError::Exit { callback: "proxy_on_request_headers".into(), code: 3 });
}

#[test]
fn abi_0_2_0_names_are_accepted() {
    let p = Plugin::compile(
        br#"(module
  (import "env" "proxy_get_configuration" (func $config (param i32 i32) (result i32)))
  (import "env" "proxy_continue_request" (func $continue (result i32)))
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "proxy_abi_version_0_2_0"))
  (func (export "malloc") (param i32) (result i32) (i32.const 1024))
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (if (call $config (i32.const 0) (i32.const 4)) (then unreachable))
    (drop (call $log (i32.const 1) (i32.load (i32.const 0)) (i32.load (i32.const 4))))
    (i32.const 1))
  ;; Pauses, but resumes the request itself before returning.
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $continue))
    (i32.const 1))
)"#,
    )
    .unwrap();
    let mut run = run_with(get("/", &[]));
    run.plugin_config = b"old names".to_vec();
    let out = p.run(&run).unwrap();
    assert_eq!(out.logs, vec![(LogLevel::Debug, "old names".to_string())]);
    assert_eq!(out.returned_response, ok_response());
}

#[test]
fn a_plugin_cannot_make_the_host_keep_unbounded_data() {
    let p = inline(
        r#"(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (loop $forever
      (drop (call $log (i32.const 2) (i32.const 0) (i32.const 1024)))
      (br $forever))
    (i32.const 0))"#,
    );
    let mut run = run_with(get("/", &[]));
    run.limits.host_bytes = 64 << 10;
    let err = p.run(&run).unwrap_err();
    let RunError::Trap { callback, reason } = &err else {
        panic!("not a trap: {err}");
    };
    assert_eq!(callback, "proxy_on_request_headers");
    assert!(reason.contains("more than 65536 bytes"), "{reason}");
}
