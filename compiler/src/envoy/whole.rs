//! Rules that Envoy's code enforces across a whole bootstrap, beyond the schema of
//! each message: names that must be unique (clusters, listener addresses, the
//! domains of a route configuration), clusters that routes and tracers name, and
//! the order of filter chains (a terminal filter last, and only there).
//!
//! Envoy checks these when it builds the running configuration, which `--mode
//! validate` does too; the corpus (`tests/envoy-corpus/`) holds each rule to the
//! verdicts of the real builds. The rules read the bootstrap as a `Node` tree, in
//! proto or JSON field names, and report at the offending value: the second
//! duplicate, the dangling reference, the filter out of place.

use super::checker::bool_word;
use super::extensions::Registry;
use super::proto::json_name;
use crate::diagnostic::{Diagnostic, codes};
use crate::model::node::{Member, Node, NodeKind};
use crate::span::Span;
use std::collections::{BTreeMap, BTreeSet};

/// The connection manager's config type, whose HTTP filters and routes are checked.
const HTTP_CONNECTION_MANAGER: &str =
    "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

/// HTTP filters that end a chain. Terminal filters of other names are not assumed:
/// a chain is judged only by filters whose role is known.
const TERMINAL_HTTP: &[&str] = &["envoy.filters.http.router"];
/// HTTP filters whose role depends on their config or is not established, which
/// are never called non-terminal.
const UNJUDGED_HTTP: &[&str] = &[
    "envoy.filters.http.router",
    "envoy.extensions.filters.http.dynamic_modules",
    "envoy.filters.http.dynamic_modules",
    "envoy.filters.http.composite",
    "envoy.filters.http.match_delegate",
    "envoy.filters.http.filter_chain",
    "envoy.filters.http.file_server",
    "envoy.filters.http.mcp_router",
];
/// Network filters that end a chain, each seen refused before another filter by the
/// pinned builds.
const TERMINAL_NETWORK: &[&str] = &[
    "envoy.filters.network.tcp_proxy",
    "envoy.filters.network.http_connection_manager",
    "envoy.filters.network.echo",
    "envoy.filters.network.direct_response",
    "envoy.filters.network.redis_proxy",
];
/// Network filters that are never called non-terminal: the terminal ones, and those
/// whose role depends on their config or is not established.
const UNJUDGED_NETWORK: &[&str] = &[
    "envoy.filters.network.tcp_proxy",
    "envoy.filters.network.http_connection_manager",
    "envoy.filters.network.echo",
    "envoy.filters.network.direct_response",
    "envoy.filters.network.redis_proxy",
    "envoy.filters.network.thrift_proxy",
    "envoy.filters.network.dubbo_proxy",
    "envoy.filters.network.generic_proxy",
    "envoy.filters.network.reverse_tunnel",
    "envoy.filters.network.reverse_tunnel_drain_aware_http_connection_manager",
    "envoy.filters.network.dynamic_modules",
    "envoy.filters.network.kafka_mesh",
    "envoy.filters.network.rocketmq_proxy",
];

/// The whole-bootstrap rules of one Envoy build (the registry says which filter a
/// config configures).
pub(super) fn check(bootstrap: &Node, registry: Option<&Registry>) -> Vec<Diagnostic> {
    let mut rules = Rules { registry, diagnostics: Vec::new(), clusters: BTreeSet::new() };
    let statics = field(bootstrap, "static_resources");
    rules.clusters(statics.and_then(|s| field(s, "clusters")));
    rules.listeners(statics.and_then(|s| field(s, "listeners")));
    rules.diagnostics
}

struct Rules<'r> {
    registry: Option<&'r Registry>,
    diagnostics: Vec<Diagnostic>,
    /// The names of the static clusters.
    clusters: BTreeSet<String>,
}

impl Rules<'_> {
    /// Cluster names are unique; they are what routes and tracers may name.
    fn clusters(&mut self, clusters: Option<&Node>) {
        let mut seen: BTreeMap<String, Span> = BTreeMap::new();
        for cluster in items(clusters) {
            let Some(name) = field(cluster, "name") else { continue };
            let Some(text) = name.as_str() else { continue };
            self.clusters.insert(text.to_string());
            match seen.get(text) {
                Some(first) => self.diagnostics.push(
                    Diagnostic::new(
                        codes::ENVOY_DUPLICATE_CLUSTER,
                        name.span,
                        format!("a cluster named `{text}` is already defined"),
                    )
                    .with_label_message("a second cluster of this name")
                    .with_secondary(*first, "the first one"),
                ),
                None => {
                    seen.insert(text.to_string(), name.span);
                }
            }
        }
    }

    fn listeners(&mut self, listeners: Option<&Node>) {
        let mut seen: BTreeMap<String, Span> = BTreeMap::new();
        for listener in items(listeners) {
            if let Some((key, span, shown)) = listener_address(listener) {
                match seen.get(&key) {
                    Some(first) => self.diagnostics.push(
                        Diagnostic::new(
                            codes::ENVOY_DUPLICATE_LISTENER_ADDRESS,
                            span,
                            format!("another listener already listens on {shown}"),
                        )
                        .with_label_message("a second listener on this address")
                        .with_secondary(*first, "the first one"),
                    ),
                    None => {
                        seen.insert(key, span);
                    }
                }
            }
            for chain in items(field(listener, "filter_chains")).chain(field(listener, "default_filter_chain")) {
                self.network_filters(field(chain, "filters"));
            }
        }
    }

    /// A listener's network filters: a terminal filter last, and only there; the
    /// HTTP connection managers among them.
    fn network_filters(&mut self, filters: Option<&Node>) {
        let filters: Vec<&Node> = items(filters).collect();
        let names: Vec<Option<String>> =
            filters.iter().map(|f| self.extension_name("envoy.filters.network", f)).collect();
        self.chain_order(&filters, &names, TERMINAL_NETWORK, UNJUDGED_NETWORK, "network");
        for filter in filters {
            if let Some(config) = field(filter, "typed_config")
                && config_type(config).is_some_and(|(t, _)| t == HTTP_CONNECTION_MANAGER)
            {
                self.connection_manager(config);
            }
        }
    }

    fn connection_manager(&mut self, hcm: &Node) {
        let filters: Vec<&Node> = items(field(hcm, "http_filters")).collect();
        let names: Vec<Option<String>> = filters
            .iter()
            .map(|f| if is_optional(f) { None } else { self.extension_name("envoy.filters.http", f) })
            .collect();
        self.chain_order(&filters, &names, TERMINAL_HTTP, UNJUDGED_HTTP, "HTTP");
        if let Some(routes) = field(hcm, "route_config") {
            self.route_configuration(routes);
        }
        if let Some(provider) = field(hcm, "tracing").and_then(|t| field(t, "provider"))
            && let Some(config) = field(provider, "typed_config")
            && let Some((type_name, _)) = config_type(config)
            && matches!(type_name, "envoy.config.trace.v3.ZipkinConfig" | "envoy.config.trace.v3.DatadogConfig")
            && let Some(collector) = field(config, "collector_cluster")
        {
            let tracer = if type_name.contains("Zipkin") { "Zipkin" } else { "Datadog" };
            self.reference(collector, &format!("the {tracer} tracer's collector cluster"));
        }
    }

    /// The domains of a route configuration are unique (without regard to case), and
    /// its routes name defined clusters unless `validate_clusters` is false.
    fn route_configuration(&mut self, routes: &Node) {
        let mut seen: BTreeMap<String, Span> = BTreeMap::new();
        let virtual_hosts: Vec<&Node> = items(field(routes, "virtual_hosts")).collect();
        for host in &virtual_hosts {
            for domain in items(field(host, "domains")) {
                let Some(text) = domain.as_str() else { continue };
                let key = text.to_ascii_lowercase();
                match seen.get(&key) {
                    Some(first) => {
                        let message = if key == "*" {
                            "only one wildcard domain `*` is allowed in a route configuration".to_string()
                        } else {
                            format!("the domain `{text}` is already claimed in this route configuration")
                        };
                        self.diagnostics.push(
                            Diagnostic::new(codes::ENVOY_DUPLICATE_DOMAIN, domain.span, message)
                                .with_label_message("claimed a second time")
                                .with_secondary(*first, "the first claim")
                                .with_note("Envoy compares domains without regard to case"),
                        );
                    }
                    None => {
                        seen.insert(key, domain.span);
                    }
                }
            }
        }
        if field(routes, "validate_clusters").is_some_and(|v| bool_value(v) == Some(false)) {
            return;
        }
        for host in virtual_hosts {
            self.mirrors(field(host, "request_mirror_policies"));
            for route in items(field(host, "routes")) {
                let Some(action) = field(route, "route") else { continue };
                if let Some(cluster) = field(action, "cluster") {
                    self.reference(cluster, "the route's cluster");
                }
                if let Some(weighted) = field(action, "weighted_clusters") {
                    for entry in items(field(weighted, "clusters")) {
                        if let Some(name) = field(entry, "name") {
                            self.reference(name, "this weighted cluster");
                        }
                    }
                }
                self.mirrors(field(action, "request_mirror_policies"));
            }
        }
    }

    fn mirrors(&mut self, policies: Option<&Node>) {
        for policy in items(policies) {
            if let Some(cluster) = field(policy, "cluster") {
                self.reference(cluster, "the request mirror's cluster");
            }
        }
    }

    /// A cluster name that must be one of the static clusters.
    fn reference(&mut self, name: &Node, what: &str) {
        let Some(text) = name.as_str() else { return };
        if text.is_empty() || self.clusters.contains(text) {
            return;
        }
        let mut diagnostic = Diagnostic::new(
            codes::ENVOY_UNKNOWN_CLUSTER,
            name.span,
            format!("{what} `{text}` is not a cluster of the bootstrap"),
        )
        .with_label_message("no static cluster of this name");
        if let Some(suggestion) = crate::diagnostic::did_you_mean(text, self.clusters.iter().map(String::as_str)) {
            diagnostic = diagnostic.with_did_you_mean(name.span, suggestion);
        }
        self.diagnostics.push(diagnostic.with_note(
            "Envoy looks the cluster up among the static clusters when it loads the configuration, even when CDS is configured",
        ));
    }

    /// A chain's order: no terminal filter before the last, and a last filter that
    /// is terminal. `names` are the registered names of the filters' configs, `None`
    /// where the config does not say (those are not judged).
    fn chain_order(
        &mut self,
        filters: &[&Node],
        names: &[Option<String>],
        terminal: &[&str],
        unjudged: &[&str],
        kind: &str,
    ) {
        let Some(last) = filters.len().checked_sub(1) else { return };
        for (index, (filter, name)) in filters.iter().zip(names).enumerate() {
            let Some(name) = name else { continue };
            let at = field(filter, "name").map_or(filter.span, |n| n.span);
            if index < last && terminal.contains(&name.as_str()) {
                self.diagnostics.push(
                    Diagnostic::new(
                        codes::ENVOY_TERMINAL_FILTER_NOT_LAST,
                        at,
                        format!("`{name}` ends the {kind} filter chain, but filters follow it"),
                    )
                    .with_label_message("a terminal filter before the end")
                    .with_help("move it to the end of the chain"),
                );
            }
            if index == last && !unjudged.contains(&name.as_str()) {
                self.diagnostics.push(
                    Diagnostic::new(
                        codes::ENVOY_LAST_FILTER_NOT_TERMINAL,
                        at,
                        format!("the {kind} filter chain ends with `{name}`, which is not a terminal filter"),
                    )
                    .with_label_message("the last filter is not terminal")
                    .with_help(if kind == "HTTP" {
                        "end the chain with the router, `envoy.filters.http.router`"
                    } else {
                        "end the chain with a filter that proxies or answers, such as `tcp_proxy` or `http_connection_manager`"
                    }),
                );
            }
        }
    }

    /// The registered name of the extension of `category` that a filter's
    /// `typed_config` configures, if the build has one.
    fn extension_name(&self, category: &str, filter: &Node) -> Option<String> {
        let registry = self.registry?;
        let (type_name, _) = config_type(field(filter, "typed_config")?)?;
        registry.name_of(category, type_name).map(str::to_string)
    }
}

/// The member that sets a field, by its proto name or its JSON name (`null` is unset).
pub(super) fn member<'m>(members: &'m [Member], name: &str) -> Option<&'m Member> {
    let camel = json_name(name);
    members.iter().find(|m| m.key == name || m.key == camel).filter(|m| !matches!(m.value.kind, NodeKind::Null))
}

/// The value of a field by its proto name or its JSON name (`null` is unset).
pub(super) fn field<'n>(node: &'n Node, name: &str) -> Option<&'n Node> {
    member(node.members()?, name).map(|m| &m.value)
}

/// The items of a list (a single value stands for a list of one, as Envoy reads it).
pub(super) fn items(node: Option<&Node>) -> impl Iterator<Item = &Node> {
    let list: &[Node] = match node.map(|n| &n.kind) {
        Some(NodeKind::List(items)) => items,
        _ => &[],
    };
    let single = match node {
        Some(n) if matches!(n.kind, NodeKind::Object(_)) => Some(n),
        _ => None,
    };
    list.iter().chain(single)
}

/// The config type of an `Any` (a `TypedStruct` stands for the type it names).
pub(super) fn config_type(config: &Node) -> Option<(&str, Span)> {
    let (url, span) = match &config.kind {
        NodeKind::Message { type_name, type_span, .. } => (type_name.as_str(), *type_span),
        _ => {
            let entry = field(config, "@type")?;
            (entry.as_str()?, entry.span)
        }
    };
    let name = url.rsplit_once('/').map_or(url, |(_, name)| name);
    if matches!(name, "udpa.type.v1.TypedStruct" | "xds.type.v3.TypedStruct") {
        let inner = field(config, "type_url")?;
        let url = inner.as_str()?;
        return Some((url.rsplit_once('/').map_or(url, |(_, name)| name), inner.span));
    }
    Some((name, span))
}

/// A bool as Envoy's loader reads it: `true`, `"yes"`, or a `BoolValue` `{ value: ... }`.
fn bool_value(node: &Node) -> Option<bool> {
    match &node.kind {
        NodeKind::Bool(b) => Some(*b),
        NodeKind::String(s) => bool_word(s),
        NodeKind::Object(_) => field(node, "value").and_then(bool_value),
        _ => None,
    }
}

fn is_optional(filter: &Node) -> bool {
    field(filter, "is_optional").and_then(bool_value) == Some(true)
}

/// What identifies a listener's address: the IP (as written, lower case), the port
/// and the protocol, or a pipe's path; with the span of the address and how to
/// name it. A port of 0 (any free port) is not compared.
fn listener_address(listener: &Node) -> Option<(String, Span, String)> {
    let address = field(listener, "address")?;
    if let Some(socket) = field(address, "socket_address") {
        let ip = field(socket, "address")?.as_str()?.to_ascii_lowercase();
        let port = match &field(socket, "port_value")?.kind {
            NodeKind::Number { raw, .. } => raw.clone(),
            NodeKind::String(s) => s.clone(),
            _ => return None,
        };
        if port.parse::<u64>().ok()? == 0 {
            return None;
        }
        let protocol = field(socket, "protocol").and_then(Node::as_str).unwrap_or("TCP").to_ascii_uppercase();
        let shown = format!("{ip}:{port} ({protocol})");
        return Some((format!("socket {ip} {port} {protocol}"), socket.span, shown));
    }
    let pipe = field(address, "pipe")?;
    let path = field(pipe, "path")?.as_str()?;
    Some((format!("pipe {path}"), pipe.span, format!("the pipe `{path}`")))
}

#[cfg(test)]
mod tests {
    use crate::diagnostic::codes;
    use crate::envoy::validate_bootstrap;
    use crate::span::FileId;

    const BASE: &str = "static_resources:
  listeners:
  - name: a
    address: { socket_address: { address: 0.0.0.0, port_value: 10000 } }
    filter_chains:
    - filters:
      - name: hcm
        typed_config:
          \"@type\": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: in
          route_config:
            virtual_hosts:
            - name: one
              domains: [\"example.com\", \"*\"]
              routes:
              - match: { prefix: \"/\" }
                route: { cluster: backend }
          http_filters:
          - name: envoy.filters.http.router
            typed_config: { \"@type\": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
  clusters:
  - name: backend
    connect_timeout: 1s
";

    /// The codes `text` gets from 1.38, and the text each one points at.
    fn found(text: &str) -> Vec<(String, String)> {
        validate_bootstrap(FileId(0), text, &["1.38.2"])
            .into_iter()
            .filter(|d| d.is_error())
            .map(|d| (d.code.to_string(), text[d.primary_span().range()].to_string()))
            .collect()
    }

    #[test]
    fn the_base_is_accepted() {
        assert_eq!(found(BASE), vec![]);
    }

    #[test]
    fn a_second_cluster_of_one_name_is_reported_at_its_name() {
        let text = format!("{BASE}  - name: backend\n    connect_timeout: 2s\n");
        let found = found(&text);
        assert_eq!(found, vec![(codes::ENVOY_DUPLICATE_CLUSTER.to_string(), "backend".to_string())]);
        let diagnostic = &validate_bootstrap(FileId(0), &text, &["1.38.2"])[0];
        assert!(diagnostic.primary_span().start as usize > text.find("  - name: backend").unwrap());
    }

    #[test]
    fn a_domain_claimed_twice_in_another_case_is_reported() {
        let text = BASE.replace(
            "              routes:\n",
            "              routes: []\n            - name: two\n              domains: [\"Example.COM\"]\n              routes:\n",
        );
        assert_eq!(found(&text), vec![(codes::ENVOY_DUPLICATE_DOMAIN.to_string(), "\"Example.COM\"".to_string())]);
    }

    #[test]
    fn a_route_to_a_missing_cluster_is_reported_unless_validation_is_off() {
        let text = BASE.replace("route: { cluster: backend }", "route: { cluster: backnd }");
        assert_eq!(found(&text), vec![(codes::ENVOY_UNKNOWN_CLUSTER.to_string(), "backnd".to_string())]);
        let off = text
            .replace("          route_config:\n", "          route_config:\n            validate_clusters: false\n");
        assert_eq!(found(&off), vec![]);
    }

    #[test]
    fn the_router_must_end_the_chain() {
        let router = "          - name: envoy.filters.http.router\n            typed_config: { \"@type\": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }\n";
        let cors = "          - name: cors\n            typed_config: { \"@type\": type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors }\n";
        let before = BASE.replace(router, &format!("{router}{cors}"));
        let found_before = found(&before);
        assert!(
            found_before.contains(&(
                codes::ENVOY_TERMINAL_FILTER_NOT_LAST.to_string(),
                "envoy.filters.http.router".to_string()
            )),
            "{found_before:?}"
        );
        assert!(
            found_before.contains(&(codes::ENVOY_LAST_FILTER_NOT_TERMINAL.to_string(), "cors".to_string())),
            "{found_before:?}"
        );
        assert_eq!(
            found(&BASE.replace(router, "          http_filters: []\n").replace("          http_filters:\n", "")),
            vec![]
        );
    }

    #[test]
    fn two_listeners_on_one_port_are_reported_but_not_two_of_one_name() {
        let second =
            "  - name: a\n    address: { socket_address: { address: 0.0.0.0, port_value: 10001 } }\n  clusters:\n";
        assert_eq!(found(&BASE.replace("  clusters:\n", second)), vec![]);
        let same = second.replace("10001", "10000");
        let found = found(&BASE.replace("  clusters:\n", &same));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, codes::ENVOY_DUPLICATE_LISTENER_ADDRESS.to_string());
    }
}
