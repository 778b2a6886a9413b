//! Envoy schemas: linking one version's whole descriptor set, as the language server
//! and `meshc import` do (target: under 30 ms; the checks read the set in place
//! instead, see `validate_corpus` for the time of a whole process), and checking a typical HTTP connection manager with five HTTP filters against one
//! version once its schema is loaded (target: under 50 µs per version after the
//! first). The YAML is read once whatever the number of versions, so reading it is
//! measured on its own, and so is the whole of `validate_bootstrap` (read and check).

use criterion::{Criterion, criterion_group, criterion_main};
use meshc_compiler::span::FileId;

const HCM_WITH_FIVE_FILTERS: &str = r#"
static_resources:
  listeners:
  - name: ingress
    address: { socket_address: { address: 0.0.0.0, port_value: 10000 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress_http
          codec_type: AUTO
          route_config:
            name: local_route
            virtual_hosts:
            - name: backend
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                route: { cluster: backend, timeout: 5s }
          http_filters:
          - name: envoy.filters.http.cors
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors }
          - name: envoy.filters.http.fault
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault
              abort: { http_status: 503, percentage: { numerator: 1, denominator: HUNDRED } }
          - name: envoy.filters.http.local_ratelimit
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit
              stat_prefix: local_rate_limit
              token_bucket: { max_tokens: 100, tokens_per_fill: 100, fill_interval: 1s }
          - name: envoy.filters.http.lua
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua
              default_source_code: { inline_string: "function envoy_on_request(h) end" }
          - name: envoy.filters.http.router
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
  clusters:
  - name: backend
    connect_timeout: 0.25s
    type: STATIC
    load_assignment:
      cluster_name: backend
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 8080 } } }
"#;

use meshc_compiler::envoy::Strictness::ProtoJson;

fn bench(c: &mut Criterion) {
    c.bench_function("load_envoy_1.38.2_descriptors", |b| {
        b.iter(|| meshc_compiler::envoy::descriptors::load("1.38.2").expect("links"))
    });
    let diagnostics = meshc_compiler::envoy::validate_bootstrap(FileId(0), HCM_WITH_FIVE_FILTERS, &["1.38.2"]);
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    let (parsed, _) = meshc_compiler::envoy::yaml::parse_yaml(FileId(0), HCM_WITH_FIVE_FILTERS);
    let parsed = parsed.expect("the YAML reads");
    let anchor = meshc_compiler::span::Span::new(FileId(0), 0, 0);
    c.bench_function("check_hcm_with_five_filters_envoy_1.38.2", |b| {
        b.iter(|| meshc_compiler::envoy::check_bootstrap(&parsed, anchor, &["1.38.2"], ProtoJson))
    });
    let all: Vec<&'static str> = meshc_compiler::versions::ENVOY_BUILDS.iter().map(|b| b.version).collect();
    meshc_compiler::envoy::check_bootstrap(&parsed, anchor, &all, ProtoJson);
    c.bench_function("check_hcm_with_five_filters_all_five_envoys", |b| {
        b.iter(|| meshc_compiler::envoy::check_bootstrap(&parsed, anchor, &all, ProtoJson))
    });
    c.bench_function("read_hcm_yaml", |b| {
        b.iter(|| meshc_compiler::envoy::yaml::parse_yaml(FileId(0), HCM_WITH_FIVE_FILTERS))
    });
    c.bench_function("validate_bootstrap_hcm_read_and_check_envoy_1.38.2", |b| {
        b.iter(|| meshc_compiler::envoy::validate_bootstrap(FileId(0), HCM_WITH_FIVE_FILTERS, &["1.38.2"]))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
