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
