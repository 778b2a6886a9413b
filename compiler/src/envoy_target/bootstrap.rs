//! Builds the Envoy bootstrap of one proxy from the package's Istio resources.
//!
//! The proxy of the raw target is an inbound sidecar: one listener whose HTTP
//! connection manager forwards every request to one upstream cluster. What Istio
//! would configure on that sidecar is configured here the way istiod does it, as far
//! as stock Envoy allows:
//!
//! - Telemetry `metrics` with the Prometheus provider: Istio's standard metrics,
//!   counted by meshc's own Wasm stats module ([`super::wasm`]) with Istio's names
//!   and labels on `/stats/prometheus`;
//! - Telemetry `tracing`: the Zipkin or OpenTelemetry tracer of the provider, its
//!   sampling and custom tags;
//! - Telemetry `access_log`: file access logs, with the CEL filter;
//! - WasmPlugin: a Wasm HTTP filter per plugin whose module is a local file, placed
//!   by phase and priority;
//! - EnvoyFilter: HTTP filter patches (insert, add, remove, replace) and merges into
//!   the upstream cluster.
//!
//! Which resources apply follows Istio's scoping: mesh-wide ones (the root namespace
//! without a selector), those of the proxy's namespace, and those whose selector the
//! proxy's labels satisfy. For each Telemetry signal the most specific resource that
//! configures it wins. What the raw target cannot express is reported (W0601) and
//! left out; the Istio output is not affected.

use super::wasm::{self, LabelSource, MetricKind, MetricValue, StatsMetric};
use super::{Package, Site};
use crate::diagnostic::{Diagnostic, Severity, codes};
use crate::effective::{self, Side};
use crate::istio_release::ReleaseModel;
use crate::manifest::ProviderDecl;
use crate::model::MetricInfo;
use crate::model::istio::{self as m, Resource};
use crate::model::node::{Node, NodeKind};
use crate::model::proxy::{Endpoint, ProxyDecl, ProxyRole};
use crate::span::Span;
use serde_json::{Value as Json, json};

const ROUTER: &str = "envoy.filters.http.router";
const STATS_FILTER: &str = "istio.stats";

/// The configuration istiod gives the unconditional filters of upstream Envoy in its
/// chains (listener_builder.go); `None` for the filters only Istio's proxy has.
fn upstream_filter_config(name: &str) -> Option<Json> {
    Some(match name {
        "envoy.filters.http.grpc_stats" => json!({
            "@type": "type.googleapis.com/envoy.extensions.filters.http.grpc_stats.v3.FilterConfig",
            "emit_filter_state": true,
            "stats_for_all_methods": false
        }),
        "envoy.filters.http.fault" => {
            json!({ "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault" })
        }
        "envoy.filters.http.cors" => {
            json!({ "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors" })
        }
        _ => return None,
    })
}
const UPSTREAM_CLUSTER: &str = "upstream";

/// The bootstrap of `proxy` for one Envoy version, and what could not be expressed.
/// Every supported version takes the same bootstrap today; the version is where a
/// difference between releases would be decided, and the caller checks the result
/// against that version's schema. Each part of the tree carries the span of the
/// declaration it came from; the rest stands at the `proxy` declaration.
pub(crate) fn bootstrap(
    package: Package<'_>,
    proxy: &ProxyDecl,
    envoy: &'static str,
    site: &Site,
) -> (Node, Vec<Diagnostic>) {
    let release = crate::istio_release::release_for_envoy(envoy);
    let mut builder = Builder { package, proxy, site, release, diagnostics: Vec::new(), clusters: Vec::new() };
    let bootstrap = builder.build();
    (bootstrap, builder.diagnostics)
}

/// The local path of a `file://` URL, relative paths being relative to the package.
pub(crate) fn file_url_path(url: &str) -> Option<&str> {
    url.strip_prefix("file://")
}

/// Whether `resource` selects `proxy`'s workload, with Istio's scoping (see
/// [`crate::explain::selects`]).
fn applies(package: Package<'_>, proxy: &ProxyDecl, resource: &Resource) -> bool {
    let root = crate::manifest::root_namespace(package.manifest);
    crate::explain::selects(resource, root, effective::Workload { namespace: &proxy.namespace, labels: &proxy.labels })
}

/// EnvoyFilter patches that select the workload of some proxy but whose context is
/// the role of none of them: no bootstrap carries them, which is said once per patch
/// rather than once per proxy, so that a package with an inbound and an outbound
/// proxy for one workload hears nothing.
pub(crate) fn patches_of_no_role(package: Package<'_>) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    for generated in &package.lowered.resources {
        let Resource::EnvoyFilter(filter) = &generated.resource else { continue };
        let proxies: Vec<&ProxyDecl> =
            package.lowered.proxies.iter().filter(|p| applies(package, p, &generated.resource)).collect();
        if proxies.is_empty() {
            continue;
        }
        for (index, patch) in filter.spec.config_patches.iter().enumerate() {
            let context = patch.match_.as_ref().and_then(|m| m.context.as_deref()).unwrap_or("ANY");
            if context == "ANY" || proxies.iter().any(|p| p.role.context() == context) {
                continue;
            }
            let role = context.to_ascii_lowercase();
            let played: Vec<String> =
                proxies.iter().map(|p| format!("`{}` ({})", p.name, p.role.context().to_ascii_lowercase())).collect();
            let mut diagnostic = Diagnostic::new(
                codes::NOT_IN_RAW_ENVOY,
                generated.span_of(&format!("spec.configPatches.{index}")),
                format!(
                    "this patch of the {context} context is carried into no proxy of the raw Envoy target; the proxies for its workload play other roles: {}",
                    played.join(", ")
                ),
            )
            .with_severity(Severity::Warning);
            for proxy in &proxies {
                diagnostic = diagnostic
                    .with_secondary(proxy.span, format!("plays {}", proxy.role.context().to_ascii_lowercase()));
            }
            diagnostics.push(
                diagnostic.with_help(format!(
                    "declare a proxy with `role {role}` for the workload to run this patch in Envoy"
                )),
            );
        }
    }
    diagnostics
}

struct Builder<'a> {
    package: Package<'a>,
    proxy: &'a ProxyDecl,
    site: &'a Site,
    /// The Istio release whose proxy runs this Envoy: its filter names and order.
    release: &'static ReleaseModel,
    diagnostics: Vec<Diagnostic>,
    /// Clusters that tracing providers need, beside the upstream.
    clusters: Vec<Node>,
}

impl<'a> Builder<'a> {
    fn not_carried(&mut self, span: Span, message: String) {
        self.diagnostics.push(
            Diagnostic::new(codes::NOT_IN_RAW_ENVOY, span, message)
                .with_severity(Severity::Warning)
                .with_note(format!("in the bootstrap of the proxy `{}`", self.proxy.name)),
        );
    }

    /// Whether a resource applies to the proxy (Istio's scoping: mesh-wide, the
    /// proxy's namespace, a selector the proxy's labels satisfy).
    fn applies(&self, resource: &Resource) -> bool {
        applies(self.package, self.proxy, resource)
    }

    fn build(&mut self) -> Node {
        let at = self.proxy.span;
        let workload = effective::Workload { namespace: &self.proxy.namespace, labels: &self.proxy.labels };
        let root = crate::manifest::root_namespace(self.package.manifest);
        let telemetry = effective::telemetry(self.package.lowered, root, workload, self.side());
        let (metrics, metrics_span) = self.stats_metrics(&telemetry);
        let mut plugins = self.wasm_plugins();
        // The release's chain for the proxy's context, with what Envoy can run of it:
        // the WasmPlugins of each phase, Istio's unconditional upstream filters, the
        // stats filter (meshc's Wasm module in place of Istio's native one) and the
        // router. Filters of Istio's own proxy (metadata exchange, ALPN) and those
        // present only under a policy the package cannot express are left out.
        let mut http_filters = Vec::new();
        let chain = self.release.http_filters.get(self.proxy.role.context()).map(Vec::as_slice).unwrap_or_default();
        for entry in chain {
            match (entry.name.as_deref(), entry.wasm_phase.as_deref(), entry.when.is_some()) {
                (_, Some(phase), _) => {
                    http_filters.extend(plugins.iter_mut().filter(|(p, _)| p == phase).filter_map(|(_, n)| n.take()))
                }
                (Some(STATS_FILTER), _, _) if !metrics.is_empty() => {
                    http_filters.push(Node::from_json(&wasm::stats_filter(&metrics), metrics_span))
                }
                (Some(ROUTER), _, _) => http_filters.push(Node::from_json(
                    &json!({
                        "name": ROUTER,
                        "typed_config": { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" }
                    }),
                    at,
                )),
                (Some(name), None, false) => {
                    if let Some(typed_config) = upstream_filter_config(name) {
                        http_filters.push(Node::from_json(&json!({ "name": name, "typed_config": typed_config }), at));
                    }
                }
                _ => {}
            }
        }
        let mut upstream = self.upstream_cluster();
        self.envoy_filters(&mut http_filters, &mut upstream);

        let mut hcm = Node::from_json(
            &json!({
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                "stat_prefix": "inbound"
            }),
            at,
        );
        if let Some(tracing) = self.tracing(&telemetry) {
            hcm.insert("tracing", tracing);
        }
        let access_logs = self.access_logs(&telemetry);
        if !access_logs.is_empty() {
            hcm.insert("access_log", Node::new(NodeKind::List(access_logs), at));
        }
        hcm.insert(
            "route_config",
            Node::from_json(
                &json!({
                    "name": "inbound",
                    "virtual_hosts": [{
                        "name": "inbound",
                        "domains": ["*"],
                        "routes": [{ "match": { "prefix": "/" }, "route": { "cluster": UPSTREAM_CLUSTER } }]
                    }]
                }),
                at,
            ),
        );
        hcm.insert("http_filters", Node::new(NodeKind::List(http_filters), at));

        let mut clusters = vec![upstream];
        clusters.append(&mut self.clusters);

        let mut out = Node::object(vec![("node", self.node())], at);
        out.insert("admin", Node::from_json(&json!({ "address": socket_address(&self.site.admin) }), at));
        if self.site.smoke {
            // Spans are reported one at a time and stats are flushed on every admin
            // read, so that a smoke test sees them at once instead of after 5 s.
            out.insert(
                "layered_runtime",
                Node::from_json(
                    &json!({ "layers": [{ "name": "static", "static_layer": {
                        "tracing.zipkin.min_flush_spans": 1,
                        "tracing.opentelemetry.min_flush_spans": 1
                    } }] }),
                    at,
                ),
            );
            out.insert("stats_flush_on_admin", Node::new(NodeKind::Bool(true), at));
        }
        // Without a limit on downstream connections Envoy warns at every start.
        out.insert(
            "overload_manager",
            Node::from_json(
                &json!({ "resource_monitors": [{
                    "name": "envoy.resource_monitors.global_downstream_max_connections",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig",
                        "max_active_downstream_connections": 50000
                    }
                }] }),
                at,
            ),
        );
        if !metrics.is_empty() {
            out.insert(
                "stats_config",
                Node::from_json(&json!({ "stats_tags": wasm::stats_tags(&metrics) }), metrics_span),
            );
        }
        let mut network_filter =
            Node::from_json(&json!({ "name": "envoy.filters.network.http_connection_manager" }), at);
        network_filter.insert("typed_config", hcm);
        let mut listener = Node::from_json(
            &json!({ "name": "inbound", "address": socket_address(&self.site.listen), "filter_chains": [] }),
            at,
        );
        listener.insert(
            "filter_chains",
            Node::new(
                NodeKind::List(vec![Node::object(
                    vec![("filters", Node::new(NodeKind::List(vec![network_filter]), at))],
                    at,
                )]),
                at,
            ),
        );
        out.insert(
            "static_resources",
            Node::object(
                vec![
                    ("listeners", Node::new(NodeKind::List(vec![listener]), at)),
                    ("clusters", Node::new(NodeKind::List(clusters), at)),
                ],
                at,
            ),
        );
        out
    }

    fn node(&self) -> Node {
        let labels = &self.proxy.labels;
        let workload = kubernetes_name(&self.proxy.name);
        let mut metadata = serde_json::Map::new();
        metadata.insert("NAME".into(), json!(workload));
        metadata.insert("NAMESPACE".into(), json!(self.proxy.namespace));
        metadata.insert("WORKLOAD_NAME".into(), json!(workload));
        if let Some(app) = labels.get("app") {
            metadata.insert("APP".into(), json!(app));
        }
        if let Some(version) = labels.get("version") {
            metadata.insert("VERSION".into(), json!(version));
        }
        metadata.insert("LABELS".into(), json!(labels));
        Node::from_json(
            &json!({
                "id": format!("{workload}.{}", self.proxy.namespace),
                "cluster": format!("{workload}.{}", self.proxy.namespace),
                "metadata": metadata
            }),
            self.proxy.span,
        )
    }

    fn upstream_cluster(&self) -> Node {
        Node::from_json(&static_cluster(UPSTREAM_CLUSTER, &self.site.upstream, false), self.proxy.span)
    }

    // -- Telemetry --------------------------------------------------------------

    /// Istio's standard HTTP metrics as the merged Telemetry layers configure them for
    /// the proxy's side, and the span of the `metrics` block they last came from.
    fn stats_metrics(&mut self, telemetry: &effective::Telemetry<'a>) -> (Vec<StatsMetric>, Span) {
        let mut prometheus = None;
        for (provider, metrics) in &telemetry.metrics {
            match self.provider_kind(provider) {
                Some("prometheus") if prometheus.is_none() => prometheus = Some(metrics),
                Some("prometheus") => {}
                kind => {
                    if let Some(origin) = metrics.origin {
                        self.not_carried(
                            origin,
                            format!(
                                "the metrics provider `{provider}` (kind {}) is not carried into the raw Envoy target, which reports Prometheus metrics",
                                kind.unwrap_or("unknown")
                            ),
                        );
                    }
                }
            }
        }
        let Some(prometheus) = prometheus else { return (Vec::new(), self.proxy.span) };
        let origin = prometheus.origin.unwrap_or(self.proxy.span);
        let standard: Vec<&MetricInfo> = self
            .package
            .lowered
            .standard_metrics
            .iter()
            .filter(|m| {
                matches!(m.name.as_str(), "REQUEST_COUNT" | "REQUEST_DURATION" | "REQUEST_SIZE" | "RESPONSE_SIZE")
            })
            .collect();
        let mut out = Vec::new();
        for info in standard {
            let mut labels: Vec<(String, LabelSource)> =
                info.labels.iter().map(|label| (label.clone(), self.standard_label(label))).collect();
            if let Some(merged) = prometheus.metrics.get(&info.name) {
                if merged.disabled {
                    continue;
                }
                for (tag, (change, span)) in &merged.tags {
                    match change {
                        effective::TagChange::Remove => labels.retain(|(name, _)| name != tag),
                        effective::TagChange::Upsert { value, source } => {
                            let source = match source {
                                Some(source) => LabelSource::from(source.clone()),
                                None => {
                                    self.not_carried(
                                        *span,
                                        format!(
                                            "the tag `{tag}` = `{value}` is not a plain attribute or string; the raw Envoy target reports it as `unknown`"
                                        ),
                                    );
                                    LabelSource::Literal("unknown".into())
                                }
                            };
                            match labels.iter_mut().find(|(name, _)| name == tag) {
                                Some(label) => label.1 = source,
                                None => labels.push((tag.clone(), source)),
                            }
                        }
                    }
                }
            }
            let prometheus_name = info.prometheus.clone().unwrap_or_default();
            let (kind, value) = match info.name.as_str() {
                "REQUEST_COUNT" => (MetricKind::Counter, MetricValue::One),
                "REQUEST_DURATION" => (MetricKind::Histogram, MetricValue::DurationMilliseconds),
                "REQUEST_SIZE" => (MetricKind::Histogram, MetricValue::RequestBytes),
                _ => (MetricKind::Histogram, MetricValue::ResponseBytes),
            };
            out.push(StatsMetric {
                kind,
                name: prometheus_name.strip_prefix("istio_").unwrap_or(&prometheus_name).to_string(),
                value,
                labels,
            });
        }
        (out, origin)
    }

    /// What Istio's stats filter reports for a standard label: the proxy's own identity
    /// on its own side (destination for an inbound sidecar, source for an outbound
    /// sidecar or a gateway), the request's attributes, and `unknown` for the peer,
    /// which only Istio's metadata exchange knows.
    fn standard_label(&self, label: &str) -> LabelSource {
        let labels = &self.proxy.labels;
        let workload = kubernetes_name(&self.proxy.name);
        let namespace = &self.proxy.namespace;
        let literal = |text: &str| LabelSource::Literal(text.to_string());
        let (own, reporter) = match self.side() {
            Side::Server => ("destination_", "destination"),
            Side::Client => ("source_", "source"),
        };
        if label == "reporter" {
            return literal(reporter);
        }
        if let Some(own_label) = label.strip_prefix(own) {
            return match own_label {
                "workload" => literal(&workload),
                "workload_namespace" | "service_namespace" => literal(namespace),
                "app" => literal(labels.get("app").map(String::as_str).unwrap_or("unknown")),
                "version" => literal(labels.get("version").map(String::as_str).unwrap_or("unknown")),
                "service" => literal(&format!("{workload}.{namespace}.svc.cluster.local")),
                "service_name" => literal(&workload),
                "canonical_service" => literal(
                    labels
                        .get("service.istio.io/canonical-name")
                        .or(labels.get("app"))
                        .map(String::as_str)
                        .unwrap_or(&workload),
                ),
                "canonical_revision" => literal(
                    labels
                        .get("service.istio.io/canonical-revision")
                        .or(labels.get("version"))
                        .map(String::as_str)
                        .unwrap_or("latest"),
                ),
                "cluster" => literal("Kubernetes"),
                _ => literal("unknown"),
            };
        }
        match label {
            "request_protocol" => LabelSource::Attribute(vec!["request".into(), "protocol".into()]),
            "response_code" => LabelSource::Attribute(vec!["response".into(), "code".into()]),
            "grpc_response_status" => literal(""),
            "response_flags" => literal("-"),
            "connection_security_policy" => literal("none"),
            _ => literal("unknown"),
        }
    }

    /// The side of requests the proxy reports as, from its role.
    fn side(&self) -> Side {
        match self.proxy.role {
            ProxyRole::SidecarInbound => Side::Server,
            ProxyRole::SidecarOutbound | ProxyRole::Gateway => Side::Client,
        }
    }

    fn provider(&self, name: &str) -> Option<&'a ProviderDecl> {
        self.package.manifest?.providers.iter().find(|p| p.name.value == name)
    }

    fn provider_kind(&self, name: &str) -> Option<&'a str> {
        self.provider(name).map(|p| p.kind.value.as_str())
    }

    /// Where a provider's collector is: the smoke test's local one, or the service and
    /// port of mesh.toml.
    fn collector(&self, name: &str) -> Option<Endpoint> {
        if let Some(endpoint) = self.site.collectors.get(name) {
            return Some(endpoint.clone());
        }
        let provider = self.provider(name)?;
        let service = provider.settings.get("service")?.as_str()?;
        let port = provider.settings.get("port")?.as_u64()?;
        Some(Endpoint::new(service, u16::try_from(port).ok()?))
    }

    fn tracing(&mut self, telemetry: &effective::Telemetry<'a>) -> Option<Node> {
        let tracing = telemetry.tracing.as_ref()?;
        let at = tracing.origins.last().copied().unwrap_or(self.proxy.span);
        if tracing.disabled {
            return None;
        }
        let provider_name = match &tracing.provider {
            Some(provider) => provider.clone(),
            None => {
                self.not_carried(at, "tracing without a provider relies on MeshConfig's default provider, which the raw Envoy target does not know".into());
                return None;
            }
        };
        let kind = self.provider_kind(&provider_name).unwrap_or_default().to_string();
        let Some(collector) = self.collector(&provider_name) else {
            self.not_carried(
                at,
                format!("the tracing provider `{provider_name}` has no service and port in mesh.toml"),
            );
            return None;
        };
        let cluster_name = format!("tracing-{provider_name}");
        let provider = match kind.as_str() {
            "zipkin" => {
                self.clusters.push(Node::from_json(&static_cluster(&cluster_name, &collector, false), at));
                json!({
                    "name": "envoy.tracers.zipkin",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig",
                        "collector_cluster": cluster_name,
                        "collector_endpoint": "/api/v2/spans",
                        "collector_endpoint_version": "HTTP_JSON",
                        "collector_hostname": collector.address
                    }
                })
            }
            // A smoke test's collector takes OTLP over HTTP, which needs no gRPC.
            "opentelemetry" if self.site.smoke => {
                self.clusters.push(Node::from_json(&static_cluster(&cluster_name, &collector, false), at));
                json!({
                    "name": "envoy.tracers.opentelemetry",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig",
                        "http_service": {
                            "http_uri": {
                                "uri": format!("http://{}:{}/v1/traces", collector.address, collector.port),
                                "cluster": cluster_name,
                                "timeout": "1s"
                            }
                        },
                        "service_name": format!("{}.{}", kubernetes_name(&self.proxy.name), self.proxy.namespace)
                    }
                })
            }
            "opentelemetry" => {
                self.clusters.push(Node::from_json(&static_cluster(&cluster_name, &collector, true), at));
                json!({
                    "name": "envoy.tracers.opentelemetry",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig",
                        "grpc_service": { "envoy_grpc": { "cluster_name": cluster_name } },
                        "service_name": format!("{}.{}", kubernetes_name(&self.proxy.name), self.proxy.namespace)
                    }
                })
            }
            other => {
                self.not_carried(at, format!("the raw Envoy target has no tracer for providers of kind `{other}`"));
                return None;
            }
        };
        let mut out = Node::object(vec![("provider", Node::from_json(&provider, at))], at);
        // Istio samples 1% unless told otherwise.
        out.insert("random_sampling", Node::from_json(&json!({ "value": tracing.sampling.unwrap_or(1.0) }), at));
        let mut tags = Vec::new();
        for (tag, (custom, tag_span)) in &tracing.custom_tags {
            let json = if let Some(literal) = &custom.literal {
                json!({ "tag": tag, "literal": { "value": literal.value } })
            } else if let Some(environment) = &custom.environment {
                let mut env = json!({ "name": environment.name });
                if let Some(default) = &environment.default_value {
                    env["default_value"] = json!(default);
                }
                json!({ "tag": tag, "environment": env })
            } else if let Some(header) = &custom.header {
                let mut request_header = json!({ "name": header.name });
                if let Some(default) = &header.default_value {
                    request_header["default_value"] = json!(default);
                }
                json!({ "tag": tag, "request_header": request_header })
            } else if let Some(formatter) = &custom.formatter {
                json!({ "tag": tag, "value": formatter.value })
            } else {
                continue;
            };
            tags.push(Node::from_json(&json, *tag_span));
        }
        if !tags.is_empty() {
            out.insert("custom_tags", Node::new(NodeKind::List(tags), at));
        }
        Some(out)
    }

    /// The file access logs of the merged Telemetry layers, each with its filter.
    fn access_logs(&mut self, telemetry: &effective::Telemetry<'a>) -> Vec<Node> {
        let mut out = Vec::new();
        for log in &telemetry.access_logs {
            let provider = &log.provider;
            let at = log.origin;
            let kind = self.provider_kind(provider).unwrap_or_default().to_string();
            let settings = self.provider(provider).map(|p| p.settings.clone()).unwrap_or_default();
            // MeshConfig's `logFormat.text`; Istio's default format otherwise.
            let format =
                settings.get("log_format").and_then(|f| f.get("text")).and_then(Json::as_str).map(str::to_string);
            let path = match kind.as_str() {
                "envoy_file_access_log" => settings.get("path").and_then(Json::as_str).map(str::to_string),
                other => {
                    self.not_carried(
                        at,
                        format!("the raw Envoy target writes file access logs only; `{provider}` is of kind `{other}`"),
                    );
                    continue;
                }
            };
            let path = self.site.access_log_path.clone().or(path).unwrap_or_else(|| "/dev/stdout".to_string());
            let mut node = Node::from_json(
                &json!({
                    "name": "envoy.access_loggers.file",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                        "path": path,
                        "log_format": { "text_format_source": { "inline_string": format.unwrap_or_else(|| ISTIO_TEXT_FORMAT.to_string()) } }
                    }
                }),
                at,
            );
            if let Some(filter) = &log.filter {
                let filter_json = json!({ "extension_filter": {
                    "name": "envoy.access_loggers.extension_filters.cel",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter",
                        "expression": filter
                    }
                } });
                node.insert("filter", Node::from_json(&filter_json, at));
            }
            out.push(node);
        }
        out
    }

    // -- WasmPlugin -------------------------------------------------------------

    /// The Wasm HTTP filters of the WasmPlugins that apply, in Istio's order: by
    /// phase (authn, authz, stats, then unspecified), then by priority, highest first.
    /// The HTTP WasmPlugins that apply to the proxy's side, in istiod's order, each
    /// with its phase; a plugin the raw target cannot load has no filter.
    fn wasm_plugins(&mut self) -> Vec<(String, Option<Node>)> {
        for generated in &self.package.lowered.resources {
            if let Resource::WasmPlugin(plugin) = &generated.resource
                && self.applies(&generated.resource)
                && plugin.spec.type_.as_deref() == Some("NETWORK")
            {
                self.not_carried(
                    generated.origin,
                    "network Wasm plugins are not carried into the raw Envoy target, which has one HTTP listener"
                        .into(),
                );
            }
        }
        let workload = effective::Workload { namespace: &self.proxy.namespace, labels: &self.proxy.labels };
        let root = crate::manifest::root_namespace(self.package.manifest);
        let applied = crate::explain::applied_plugins(self.package.lowered, self.release, root, workload, self.side());
        let mut out = Vec::new();
        for applied_plugin in applied {
            let plugin = applied_plugin.plugin;
            let Some(generated) = self
                .package
                .lowered
                .resources
                .iter()
                .find(|g| matches!(&g.resource, Resource::WasmPlugin(p) if std::ptr::eq(p, plugin)))
            else {
                continue;
            };
            out.push((applied_plugin.phase.clone(), None));
            let url = &plugin.spec.url;
            let url_at = generated.span_of("spec.url");
            // A `module "PATH"` that is a module file is the local build of the image the
            // url names; an OCI layout is not a file Envoy can load.
            let local_module = plugin.module.as_deref().filter(|m| m.ends_with(".wasm") || m.ends_with(".wat"));
            if local_module.is_none() && !url.starts_with("file://") {
                self.not_carried(
                    url_at,
                    format!(
                        "the Wasm module `{url}` is not a local file; the raw Envoy target loads `file://` modules and the `module` of a plugin when it is a `.wasm` or `.wat` file"
                    ),
                );
                continue;
            }
            let (url, url_at) = match local_module {
                Some(module) => (&format!("file://{module}"), generated.span_of("module")),
                None => (url, url_at),
            };
            let Some(bytes) = file_url_path(url).and_then(|path| self.package.assets.read(path)) else {
                self.diagnostics.push(
                    Diagnostic::new(
                        codes::WASM_MODULE_UNREADABLE,
                        url_at,
                        format!("the Wasm module `{url}` could not be read"),
                    )
                    .with_help("the path of a `file://` URL is relative to the package directory"),
                );
                continue;
            };
            let module = if url.ends_with(".wat") {
                match wasm::assemble(&String::from_utf8_lossy(&bytes)) {
                    Ok(module) => module,
                    Err(error) => {
                        self.diagnostics.push(Diagnostic::new(
                            codes::WASM_MODULE_UNREADABLE,
                            generated.origin,
                            format!("the WebAssembly text `{url}` does not assemble: {error}"),
                        ));
                        continue;
                    }
                }
            } else {
                bytes
            };
            let name = plugin.spec.plugin_name.clone().unwrap_or_else(|| plugin.metadata.name.clone());
            let configuration = plugin
                .spec
                .plugin_config
                .as_ref()
                .map(|config| serde_json::to_string(&Json::Object(config.clone())).unwrap_or_default())
                .unwrap_or_default();
            let mut config = json!({
                "name": name,
                "root_id": name,
                "vm_config": {
                    "vm_id": name,
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": { "local": { "inline_bytes": wasm::base64(&module) } }
                },
                "configuration": { "@type": "type.googleapis.com/google.protobuf.StringValue", "value": configuration }
            });
            if plugin.spec.fail_strategy.as_deref() == Some("FAIL_OPEN") {
                config["fail_open"] = json!(true);
            }
            if let Some(vm) = &plugin.spec.vm_config {
                let mut env = serde_json::Map::new();
                let mut host = Vec::new();
                for var in &vm.env {
                    match (&var.value_from, &var.value) {
                        (Some(from), _) if from == "HOST" => host.push(json!(var.name)),
                        (_, Some(value)) => {
                            env.insert(var.name.clone(), json!(value));
                        }
                        _ => {}
                    }
                }
                let mut environment = serde_json::Map::new();
                if !host.is_empty() {
                    environment.insert("host_env_keys".into(), Json::Array(host));
                }
                if !env.is_empty() {
                    environment.insert("key_values".into(), Json::Object(env));
                }
                if !environment.is_empty() {
                    config["vm_config"]["environment_variables"] = Json::Object(environment);
                }
            }
            let filter = Node::from_json(
                &json!({
                    "name": applied_plugin.filter_name,
                    "typed_config": { "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm", "config": config }
                }),
                generated.origin,
            );
            if let Some(last) = out.last_mut() {
                last.1 = Some(filter);
            }
        }
        out
    }

    // -- EnvoyFilter ------------------------------------------------------------

    /// Why the filter a patch is anchored on is not in the raw proxy's chain.
    fn missing_anchor(&self, anchor: &str) -> String {
        if anchor.is_empty() {
            return "this patch names no filter to act on; istiod does nothing with it".to_string();
        }
        let release = &self.release.release;
        let entry = self
            .release
            .http_filters
            .get(self.proxy.role.context())
            .and_then(|chain| chain.iter().find(|f| f.name.as_deref() == Some(anchor)));
        match entry {
            Some(entry)
                if anchor != STATS_FILTER
                    && (anchor.starts_with("istio.")
                        || upstream_filter_config(anchor).is_none() && entry.when.is_none()) =>
            {
                format!(
                    "the filter `{anchor}` this patch is relative to belongs to Istio's own proxy build, which the official Envoy builds of the raw target lack"
                )
            }
            Some(entry) => format!(
                "the filter `{anchor}` this patch is relative to is in Istio {release}'s chain only when {}; the raw Envoy target has none",
                entry.when.as_deref().unwrap_or("its policy applies")
            ),
            None => format!("the filter `{anchor}` this patch is relative to is not in the raw proxy's HTTP filters"),
        }
    }

    fn envoy_filters(&mut self, http_filters: &mut Vec<Node>, upstream: &mut Node) {
        let workload = effective::Workload { namespace: &self.proxy.namespace, labels: &self.proxy.labels };
        let root = crate::manifest::root_namespace(self.package.manifest);
        // In istiod's order, which `meshc explain` shows too.
        for (generated, filter) in crate::explain::applied_envoy_filters(self.package.lowered, root, workload) {
            for (index, patch) in filter.spec.config_patches.iter().enumerate() {
                let at = generated.span_of(&format!("spec.configPatches.{index}"));
                self.patch(at, patch, http_filters, upstream);
            }
        }
    }

    fn patch(
        &mut self,
        at: Span,
        patch: &m::EnvoyConfigObjectPatch,
        http_filters: &mut Vec<Node>,
        upstream: &mut Node,
    ) {
        let apply_to = patch.apply_to.as_deref().unwrap_or("INVALID");
        let matched = patch.match_.as_ref();
        let context = matched.and_then(|m| m.context.as_deref()).unwrap_or("ANY");
        // As in Istio, a patch of another context does not apply to this proxy, nor
        // one whose proxy_version does not select this Envoy's Istio release.
        if context != "ANY" && context != self.proxy.role.context() {
            return;
        }
        if !crate::explain::reaches_release(patch, self.release) {
            return;
        }
        let operation = patch.patch.as_ref().and_then(|p| p.operation.as_deref()).unwrap_or("INVALID");
        let value = patch.patch.as_ref().and_then(|p| p.value.clone());
        match apply_to {
            "HTTP_FILTER" => {
                let sub_filter = matched
                    .and_then(|m| m.listener.as_ref())
                    .and_then(|l| l.filter_chain.as_ref())
                    .and_then(|c| c.filter.as_ref())
                    .and_then(|f| f.sub_filter.as_ref())
                    .and_then(|s| s.name.clone());
                let position = sub_filter.as_ref().and_then(|name| {
                    http_filters.iter().position(|f| f.get("name").and_then(Node::as_str) == Some(name.as_str()))
                });
                match (operation, value) {
                    ("INSERT_FIRST", Some(value)) => http_filters.insert(0, value),
                    ("ADD", Some(value)) => http_filters.push(value),
                    // Without an anchor, istiod prepends an INSERT_BEFORE and appends an
                    // INSERT_AFTER.
                    ("INSERT_BEFORE", Some(value)) if sub_filter.is_none() => http_filters.insert(0, value),
                    ("INSERT_AFTER", Some(value)) if sub_filter.is_none() => http_filters.push(value),
                    ("INSERT_BEFORE" | "INSERT_AFTER" | "REPLACE" | "REMOVE", value) => {
                        let Some(position) = position else {
                            let anchor = sub_filter.unwrap_or_default();
                            let message = self.missing_anchor(&anchor);
                            self.not_carried(at, message);
                            return;
                        };
                        match (operation, value) {
                            ("INSERT_BEFORE", Some(value)) => http_filters.insert(position, value),
                            ("INSERT_AFTER", Some(value)) => http_filters.insert(position + 1, value),
                            ("REPLACE", Some(value)) => http_filters[position] = value,
                            ("REMOVE", _) => {
                                // istiod removes every filter of the name.
                                http_filters.retain(|f| f.get("name").and_then(Node::as_str) != Some(anchor_name(&sub_filter)));
                            }
                            _ => {}
                        }
                    }
                    _ => self.not_carried(at, format!("the operation {operation} on HTTP_FILTER is not carried into the raw Envoy target")),
                }
            }
            "CLUSTER" if operation == "MERGE" => {
                if let Some(value) = value {
                    upstream.merge(&value);
                }
            }
            _ => self.not_carried(
                at,
                format!("a {apply_to} patch ({operation}) is not carried into the raw Envoy target; it applies HTTP_FILTER patches and CLUSTER merges"),
            ),
        }
    }
}

fn anchor_name(sub_filter: &Option<String>) -> &str {
    sub_filter.as_deref().unwrap_or_default()
}

/// Istio's default text format for access logs (MeshConfig `accessLogFormat`).
const ISTIO_TEXT_FORMAT: &str = "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% \"%UPSTREAM_TRANSPORT_FAILURE_REASON%\" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% \"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" \"%REQ(X-REQUEST-ID)%\" \"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\" %UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%\n";

/// `my_service` as Kubernetes spells it.
fn kubernetes_name(name: &str) -> String {
    name.replace('_', "-")
}

fn socket_address(endpoint: &Endpoint) -> Json {
    json!({ "socket_address": { "address": endpoint.address, "port_value": endpoint.port } })
}

/// A cluster of one endpoint, resolved by DNS unless it is an IP address; gRPC
/// collectors need HTTP/2.
fn static_cluster(name: &str, endpoint: &Endpoint, http2: bool) -> Json {
    let is_ip = endpoint.address.parse::<std::net::IpAddr>().is_ok();
    let mut cluster = json!({
        "name": name,
        "type": if is_ip { "STATIC" } else { "STRICT_DNS" },
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{ "lb_endpoints": [{ "endpoint": { "address": socket_address(endpoint) } }] }]
        }
    });
    if http2 {
        cluster["typed_extension_protocol_options"] = json!({
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": { "http2_protocol_options": {} }
            }
        });
    }
    cluster
}
