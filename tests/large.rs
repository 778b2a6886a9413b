//! A generator of large, realistic packages for benchmarks: many teams' workloads
//! across many namespaces, each with its telemetry, Wasm plugins and EnvoyFilters.

/// The files of a generated package, `(relative path, text)`, `mesh.toml` first.
pub fn large_package(workloads: usize, namespaces: usize) -> Vec<(String, String)> {
    let mut files = vec![("mesh.toml".to_string(), MANIFEST.to_string())];
    files.push(("common.mesh".to_string(), COMMON.to_string()));
    let per_namespace = workloads.div_ceil(namespaces);
    for ns in 0..namespaces {
        let mut text = format!("package large\n\nimport std.filters\n\n// Namespace team-{ns:02}.\n");
        for w in 0..per_namespace {
            let index = ns * per_namespace + w;
            if index >= workloads {
                break;
            }
            let app = format!("svc-{index:04}");
            // 60% telemetry, 20% Wasm plugins, 20% EnvoyFilters.
            let declaration = match index % 5 {
                0 | 1 | 2 => telemetry(&app, ns, index),
                3 => wasm_plugin(&app, ns, index),
                _ => envoy_filter(&app, ns, index),
            };
            text.push_str(&declaration);
        }
        files.push((format!("teams/team-{ns:02}.mesh"), text));
    }
    files
}

const MANIFEST: &str = r#"[package]
name = "large"
istio = ["1.28", "1.29", "1.30"]
root_namespace = "istio-system"

[providers]
zipkin = { kind = "zipkin", service = "zipkin.istio-system.svc.cluster.local", port = 9411 }
otel = { kind = "opentelemetry", service = "otel-collector.observability.svc.cluster.local", port = 4317 }
otel-als = { kind = "envoy_otel_als", service = "otel-collector.observability.svc.cluster.local", port = 4317 }
"#;

const COMMON: &str = r#"package large

/// Configuration of the shared header plugin.
schema HeaderConfig {
  header_name: string
  header_value: string
  max_age?: int
  mode: "inject" | "overwrite" = "inject"
}

telemetry mesh_defaults mesh {
  tracing otel {
    sampling 1%
    tag cluster = env("CLUSTER_NAME", "unknown")
  }
  metrics prometheus {
    ALL_METRICS (client_and_server) {
      tag request_method = request.method
    }
  }
  access_log envoy when response.code >= 500
}
"#;

fn telemetry(app: &str, ns: usize, index: usize) -> String {
    format!(
        r#"
telemetry {app}_telemetry for workload {{ app: "{app}", version: "v{v}" }} in namespace "team-{ns:02}" {{
  metrics prometheus {{
    REQUEST_COUNT (client_and_server) {{
      tag request_host = request.host
      tag route = "x-route" in request.headers ? request.headers["x-route"] : "default"
      remove tag response_flags
    }}
    REQUEST_DURATION (server) disabled
    reporting_interval 15s
  }}
  tracing zipkin (server) {{
    sampling {sampling}%
    tag team = "team-{ns:02}"
    tag user = header("x-user-id", "anonymous")
  }}
  access_log envoy when response.code >= 400 && request.url_path.startsWith("/api")
}}
"#,
        v = index % 3 + 1,
        sampling = index % 100,
    )
}

fn wasm_plugin(app: &str, ns: usize, index: usize) -> String {
    format!(
        r#"
wasm_plugin {app}_headers for workload {{ app: "{app}" }} in namespace "team-{ns:02}" {{
  url "oci://registry.example.com/plugins/headers:v1.{minor}.0"
  sha256 "{sha}"
  phase authn
  priority {priority}
  image_pull_policy if_not_present
  fail_strategy fail_open
  config HeaderConfig {{
    header_name: "x-{app}-id"
    header_value: "team-{ns:02}"
    max_age: {max_age}
  }}
  env POD_NAME from host
  env TEAM = "team-{ns:02}"
  match server ports [8080, 9090]
}}
"#,
        minor = index % 10,
        sha = format!("{:064x}", index as u128 * 0x9e3779b97f4a7c15),
        priority = index % 20,
        max_age = index % 3600,
    )
}

fn envoy_filter(app: &str, ns: usize, index: usize) -> String {
    format!(
        r#"
envoy_filter {app}_lua for workload {{ app: "{app}" }} in namespace "team-{ns:02}" {{
  priority {priority}
  insert http_filter before filters.router in sidecar_inbound {{
    envoy.extensions.filters.http.lua.v3.Lua {{
      default_source_code: {{
        inline_string: lua"""
          function envoy_on_request(handle)
            handle:headers():add("x-served-by", "{app}")
          end
        """
      }}
    }}
  }}
  patch cluster {{
    match {{
      context sidecar_outbound
      cluster {{
        service "backend-{index}.team-{ns:02}.svc.cluster.local"
        port_number 8080
      }}
    }}
    operation merge
    value {{
      connect_timeout: 2s
      per_connection_buffer_limit_bytes: 32768
    }}
  }}
}}
"#,
        priority = index % 10,
    )
}

/// A generated directory of Kubernetes YAML for the linter's benchmark: `documents`
/// Telemetry, WasmPlugin and EnvoyFilter documents (40%, 30%, 30%) in files of ten
/// documents each, spread over `namespaces` namespaces, all valid.
pub fn large_yaml(documents: usize, namespaces: usize) -> Vec<(String, String)> {
    let mut files = Vec::new();
    for start in (0..documents).step_by(10) {
        let mut text = String::new();
        for index in start..(start + 10).min(documents) {
            let ns = index % namespaces;
            let app = format!("svc-{index:05}");
            text.push_str("---\n");
            text.push_str(&match index % 10 {
                0..=3 => yaml_telemetry(&app, ns),
                4..=6 => yaml_wasm_plugin(&app, ns, index),
                _ => yaml_envoy_filter(&app, ns, index),
            });
        }
        files.push((format!("manifests/part-{:04}.yaml", start / 10), text));
    }
    files
}

fn yaml_telemetry(app: &str, ns: usize) -> String {
    format!(
        r#"apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: {app}
  namespace: team-{ns:02}
spec:
  selector:
    matchLabels:
      app: {app}
  tracing:
  - randomSamplingPercentage: 5
    customTags:
      team:
        literal:
          value: team-{ns:02}
  metrics:
  - providers:
    - name: prometheus
    overrides:
    - match:
        metric: REQUEST_COUNT
        mode: SERVER
      tagOverrides:
        route:
          value: request.url_path
  accessLogging:
  - providers:
    - name: envoy
    filter:
      expression: response.code >= 500 || request.duration > duration("2s")
"#
    )
}

fn yaml_wasm_plugin(app: &str, ns: usize, index: usize) -> String {
    format!(
        r#"apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata:
  name: {app}-headers
  namespace: team-{ns:02}
spec:
  selector:
    matchLabels:
      app: {app}
  url: oci://registry.example.com/headers@sha256:{index:064x}
  phase: STATS
  priority: {priority}
  pluginConfig:
    header: x-{app}
    value: "{index}"
"#,
        // Unique within a namespace, so that no two plugins share a phase and priority.
        priority = index / 50
    )
}

fn yaml_envoy_filter(app: &str, ns: usize, index: usize) -> String {
    format!(
        r#"apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata:
  name: {app}-limits
  namespace: team-{ns:02}
spec:
  workloadSelector:
    labels:
      app: {app}
  configPatches:
  - applyTo: HTTP_FILTER
    match:
      context: SIDECAR_INBOUND
      proxy:
        proxyVersion: ^1\.(28|29|30|31).*
      listener:
        filterChain:
          filter:
            name: envoy.filters.network.http_connection_manager
            subFilter:
              name: envoy.filters.http.router
    patch:
      operation: INSERT_BEFORE
      value:
        name: envoy.filters.http.local_ratelimit
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit
          stat_prefix: {app}_limit
          token_bucket:
            max_tokens: {tokens}
            tokens_per_fill: {tokens}
            fill_interval: 1s
  - applyTo: CLUSTER
    match:
      context: SIDECAR_OUTBOUND
      proxy:
        proxyVersion: ^1\.(28|29|30|31).*
      cluster:
        service: {app}.team-{ns:02}.svc.cluster.local
    patch:
      operation: MERGE
      value:
        connect_timeout: 2s
        per_connection_buffer_limit_bytes: 65536
"#,
        tokens = 100 + index % 900
    )
}
