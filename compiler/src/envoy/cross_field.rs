//! Rules that Envoy's code enforces across the fields of one message, beyond its
//! schema: a static cluster's endpoints are IP addresses, a cluster's load balancer
//! suits its type and its gRPC health checks have HTTP/2, weighted clusters weigh
//! more than nothing, pseudo-headers and `host` are never added or removed by a
//! header mutation, the V2 transport protocol is gone, and the names that a JWT
//! filter's rules and the overload manager's triggers use are defined beside them.
//!
//! Envoy checks these when it builds the running configuration, which `--mode
//! validate` does too. Each rule says only what every pinned build was seen to
//! reject (`tests/envoy-corpus/` holds it to them); what a rule cannot read for
//! certain (an interface name in an IPv6 address, a cluster type whose balancer is
//! not known) is left to Envoy.

use super::extensions::Registry;
use super::whole::{config_type, field, items, member};
use crate::diagnostic::{Diagnostic, codes};
use crate::model::node::{Member, Node, NodeKind};
use crate::span::Span;
use std::net::{Ipv4Addr, Ipv6Addr};

/// An enum value's number as Envoy's loader reads it, its name in any case or its
/// number, if it is one of `names` (each name with its number). A number the enum
/// does not define is not judged.
fn enum_number(value: &Node, names: &[(&str, i32)]) -> Option<i32> {
    let word = match &value.kind {
        NodeKind::String(s) => s.as_str(),
        NodeKind::Number { raw, .. } => raw.as_str(),
        _ => return None,
    };
    names
        .iter()
        .find(|(name, number)| name.eq_ignore_ascii_case(word) || word.parse() == Ok(*number))
        .map(|(_, number)| *number)
}

/// `envoy.config.cluster.v3.Cluster.DiscoveryType`.
const DISCOVERY_TYPES: &[(&str, i32)] =
    &[("STATIC", 0), ("STRICT_DNS", 1), ("LOGICAL_DNS", 2), ("EDS", 3), ("ORIGINAL_DST", 4)];
const STATIC: i32 = 0;
const ORIGINAL_DST: i32 = 4;

/// `envoy.config.cluster.v3.Cluster.LbPolicy`.
const LB_POLICIES: &[(&str, i32)] = &[
    ("ROUND_ROBIN", 0),
    ("LEAST_REQUEST", 1),
    ("RING_HASH", 2),
    ("RANDOM", 3),
    ("MAGLEV", 5),
    ("CLUSTER_PROVIDED", 6),
    ("LOAD_BALANCING_POLICY_CONFIG", 7),
];
const CLUSTER_PROVIDED: i32 = 6;
const LOAD_BALANCING_POLICY_CONFIG: i32 = 7;

/// The config of the load-balancing policy extension that hands balancing to the
/// cluster.
const CLUSTER_PROVIDED_POLICY: &str = "envoy.extensions.load_balancing_policies.cluster_provided.v3.ClusterProvided";

/// Custom cluster types that bring their own load balancer, each seen refused by the
/// pinned builds with any other policy. Other custom types are not judged.
const TYPES_WITH_THEIR_OWN_BALANCER: &[&str] = &["envoy.clusters.aggregate", "envoy.clusters.dynamic_forward_proxy"];

/// What kind of cluster a `Cluster` is: one of the discovery types, or a custom type
/// by its registered name (`None` when the build does not say).
enum ClusterKind {
    /// `type`, and where it is written (the default, STATIC, is written nowhere).
    Discovery { number: i32, span: Option<Span> },
    /// `cluster_type`, and where it is written.
    Custom { name: Option<&'static str>, span: Span },
}

impl ClusterKind {
    fn span(&self) -> Option<Span> {
        match self {
            ClusterKind::Discovery { span, .. } => *span,
            ClusterKind::Custom { span, .. } => Some(*span),
        }
    }

    /// How messages name such a cluster: "a cluster of type STATIC".
    fn describe(&self) -> String {
        match self {
            ClusterKind::Discovery { number, .. } => {
                let name = DISCOVERY_TYPES.iter().find(|(_, n)| n == number).map_or("STATIC", |(name, _)| name);
                format!("a cluster of type {name}")
            }
            ClusterKind::Custom { name, .. } => format!("a cluster of type `{}`", name.unwrap_or("custom")),
        }
    }

    /// Whether the cluster brings its own load balancer, if that is known.
    fn has_own_balancer(&self) -> Option<bool> {
        match self {
            ClusterKind::Discovery { number, .. } => Some(*number == ORIGINAL_DST),
            ClusterKind::Custom { name: Some(name), .. } if TYPES_WITH_THEIR_OWN_BALANCER.contains(name) => Some(true),
            ClusterKind::Custom { .. } => None,
        }
    }
}

fn cluster_kind(entries: &[Member], registry: Option<&Registry>) -> Option<ClusterKind> {
    if let Some(custom) = member(entries, "cluster_type") {
        let name = field(&custom.value, "typed_config")
            .and_then(config_type)
            .and_then(|(type_name, _)| registry?.name_of("envoy.clusters", type_name));
        return Some(ClusterKind::Custom { name, span: custom.key_span });
    }
    match member(entries, "type") {
        // A cluster without a type is a static one.
        None => Some(ClusterKind::Discovery { number: STATIC, span: None }),
        Some(entry) => Some(ClusterKind::Discovery {
            number: enum_number(&entry.value, DISCOVERY_TYPES)?,
            span: Some(entry.value.span),
        }),
    }
}

/// The rules of a whole `envoy.config.cluster.v3.Cluster`: its endpoints' addresses,
/// its load balancer and the protocol its gRPC health checks need.
pub(super) fn cluster(entries: &[Member], anchor: Span, registry: Option<&Registry>) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    let Some(kind) = cluster_kind(entries, registry) else { return diagnostics };
    if let ClusterKind::Discovery { number: STATIC, .. } = kind {
        static_endpoints(entries, &mut diagnostics);
    }
    if let Some(diagnostic) = load_balancer(entries, &kind, anchor) {
        diagnostics.push(diagnostic);
    }
    if let ClusterKind::Discovery { .. } = kind {
        diagnostics.extend(grpc_health_checks(entries));
    }
    diagnostics
}

/// A static cluster resolves each endpoint's address with the IP resolver, which
/// takes an IP address and a port number: a host name or a named port is refused
/// (`malformed IP address`), for the endpoint itself, its additional addresses and
/// its health-check address alike. A DNS cluster resolves the names instead.
fn static_endpoints(entries: &[Member], diagnostics: &mut Vec<Diagnostic>) {
    let Some(assignment) = member(entries, "load_assignment") else { return };
    for locality in items(field(&assignment.value, "endpoints")) {
        for lb_endpoint in items(field(locality, "lb_endpoints")) {
            let Some(endpoint) = field(lb_endpoint, "endpoint") else { continue };
            let health_check = field(endpoint, "health_check_config").and_then(|h| field(h, "address"));
            let additional = items(field(endpoint, "additional_addresses")).filter_map(|a| field(a, "address"));
            for address in field(endpoint, "address").into_iter().chain(health_check).chain(additional) {
                if let Some(socket) = field(address, "socket_address")
                    && let Some(diagnostic) = static_socket_address(socket)
                {
                    diagnostics.push(diagnostic);
                }
            }
        }
    }
}

fn static_socket_address(socket: &Node) -> Option<Diagnostic> {
    // Another resolver (a custom build's) may take names; `envoy.ip` is the default.
    if let Some(resolver) = field(socket, "resolver_name")
        && resolver.as_str().is_some_and(|name| !name.is_empty() && name != "envoy.ip")
    {
        return None;
    }
    let address = field(socket, "address")?;
    let text = address.as_str()?;
    // An IPv6 address with a zone (`fe80::1%eth0`) depends on the machine's interfaces.
    if !text.contains('%') && text.parse::<Ipv4Addr>().is_err() && text.parse::<Ipv6Addr>().is_err() {
        return Some(
            Diagnostic::new(
                codes::ENVOY_STATIC_CLUSTER_NOT_IP,
                address.span,
                format!("`{text}` is not an IP address, and a STATIC cluster does not resolve names"),
            )
            .with_label_message("not an IP address")
            .with_help("write the endpoint's IP address, or make the cluster `type: STRICT_DNS` or `LOGICAL_DNS`")
            .with_note("Envoy reads a static cluster's addresses as IP addresses when it loads the configuration"),
        );
    }
    let named = field(socket, "named_port")?;
    Some(
        Diagnostic::new(
            codes::ENVOY_STATIC_CLUSTER_NOT_IP,
            named.span,
            "a STATIC cluster's endpoint needs a `port_value`, not a named port",
        )
        .with_label_message("a named port")
        .with_note("Envoy's IP resolver takes port numbers only"),
    )
}

/// The load balancer a cluster's config picks.
enum Balancer {
    /// The cluster's own (`CLUSTER_PROVIDED`, or the `ClusterProvided` policy).
    ClusterProvided,
    /// One of Envoy's balancers.
    Envoys,
}

/// The load balancer must suit the cluster: an ORIGINAL_DST cluster takes
/// `lb_policy: CLUSTER_PROVIDED` and nothing else; a cluster type with its own balancer
/// needs the cluster's balancer, the others one of Envoy's; `LOAD_BALANCING_POLICY_CONFIG`
/// needs `load_balancing_policy`; `CLUSTER_PROVIDED` cannot be combined with
/// `lb_subset_config`. They are checked in the order Envoy was seen to report them, and
/// only the first is reported.
fn load_balancer(entries: &[Member], kind: &ClusterKind, anchor: Span) -> Option<Diagnostic> {
    let lb_policy = member(entries, "lb_policy");
    // An unreadable policy is the schema's to report.
    let policy_number = match lb_policy {
        Some(entry) => enum_number(&entry.value, LB_POLICIES)?,
        None => 0,
    };
    let policy_name =
        LB_POLICIES.iter().find(|(_, number)| *number == policy_number).map_or("ROUND_ROBIN", |(name, _)| name);
    let policy_config = member(entries, "load_balancing_policy");
    // A rule of `lb_policy` points at it, or else at the type that calls for another.
    let at_policy = lb_policy.map(|e| e.value.span).or(kind.span()).unwrap_or(anchor);
    if let ClusterKind::Discovery { number: ORIGINAL_DST, .. } = kind
        && policy_number != CLUSTER_PROVIDED
    {
        let default = if lb_policy.is_none() { " (the default)" } else { "" };
        return Some(
            Diagnostic::new(
                codes::ENVOY_LB_POLICY_FOR_CLUSTER,
                at_policy,
                format!("an ORIGINAL_DST cluster takes `lb_policy: CLUSTER_PROVIDED` only, not {policy_name}{default}"),
            )
            .with_label_message("not CLUSTER_PROVIDED")
            .with_help(
                "set `lb_policy: CLUSTER_PROVIDED`: the cluster balances by each connection's original destination",
            )
            .with_note("Envoy asks for it even when `load_balancing_policy` is set"),
        );
    }
    if policy_number == LOAD_BALANCING_POLICY_CONFIG && policy_config.is_none() {
        return Some(
            Diagnostic::new(
                codes::ENVOY_LB_POLICY_FOR_CLUSTER,
                at_policy,
                "`lb_policy: LOAD_BALANCING_POLICY_CONFIG` needs a `load_balancing_policy`",
            )
            .with_label_message("no load_balancing_policy")
            .with_help("add a `load_balancing_policy`, or choose another `lb_policy`"),
        );
    }
    if policy_number == CLUSTER_PROVIDED
        && policy_config.is_none()
        && let Some(subset) = member(entries, "lb_subset_config")
    {
        return Some(
            Diagnostic::new(
                codes::ENVOY_LB_POLICY_FOR_CLUSTER,
                at_policy,
                "`lb_policy: CLUSTER_PROVIDED` cannot be combined with `lb_subset_config`",
            )
            .with_label_message("the cluster's own balancer")
            .with_secondary(subset.key_span, "subsets of Envoy's balancer"),
        );
    }
    // `load_balancing_policy`, when set, decides over `lb_policy`: Envoy takes its first
    // policy.
    let (balancer, at) = match policy_config {
        Some(config) => {
            let first = items(field(&config.value, "policies")).next()?;
            let (type_name, _) =
                field(first, "typed_extension_config").and_then(|c| field(c, "typed_config")).and_then(config_type)?;
            let balancer =
                if type_name == CLUSTER_PROVIDED_POLICY { Balancer::ClusterProvided } else { Balancer::Envoys };
            (balancer, config.key_span)
        }
        None if policy_number == CLUSTER_PROVIDED => (Balancer::ClusterProvided, at_policy),
        None => (Balancer::Envoys, at_policy),
    };
    let cluster = kind.describe();
    match (balancer, kind.has_own_balancer()?) {
        (Balancer::ClusterProvided, false) => Some(
            Diagnostic::new(
                codes::ENVOY_LB_POLICY_FOR_CLUSTER,
                at,
                format!("the cluster's own load balancer is asked for, but {cluster} has none"),
            )
            .with_label_message("the cluster's own balancer")
            .with_help("choose one of Envoy's load balancers, such as ROUND_ROBIN or LEAST_REQUEST")
            .with_note("only ORIGINAL_DST clusters and custom types such as `aggregate` bring their own"),
        ),
        (Balancer::Envoys, true) => Some(
            Diagnostic::new(
                codes::ENVOY_LB_POLICY_FOR_CLUSTER,
                at,
                format!("{cluster} brings its own load balancer, but one of Envoy's is asked for"),
            )
            .with_label_message("one of Envoy's balancers")
            .with_help("set `lb_policy: CLUSTER_PROVIDED`"),
        ),
        _ => None,
    }
}

/// Weighted clusters each need a weight, and the weights must add up to more than 0
/// and at most 4,294,967,295 (`Sum of weights in the weighted_cluster must be greater
/// than 0`). The deprecated `total_weight` plays no part in it.
pub(super) fn weighted_clusters(entries: &[Member]) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    let Some(clusters) = member(entries, "clusters") else { return diagnostics };
    // The sum, while every weight can be read.
    let mut total: Option<u64> = Some(0);
    let mut count = 0;
    for cluster in items(Some(&clusters.value)) {
        count += 1;
        match field(cluster, "weight") {
            // A weight beyond any integer's range is the schema's to report; the sum
            // only has to stay above the limit.
            Some(weight) => total = total.zip(weight_value(weight)).map(|(sum, weight)| sum.saturating_add(weight)),
            None => {
                let at = field(cluster, "name")
                    .or_else(|| field(cluster, "cluster_header"))
                    .map_or(cluster.span, |n| n.span);
                diagnostics.push(
                    Diagnostic::new(codes::ENVOY_WEIGHTED_CLUSTERS_WEIGHT, at, "this weighted cluster has no `weight`")
                        .with_label_message("no weight")
                        .with_help("give it a `weight`; 0 keeps it out of the split")
                        .with_note("Envoy requires the weight of every weighted cluster"),
                );
                total = None;
            }
        }
    }
    if count == 0 || !diagnostics.is_empty() {
        return diagnostics;
    }
    match total {
        Some(0) => diagnostics.push(
            Diagnostic::new(
                codes::ENVOY_WEIGHTED_CLUSTERS_WEIGHT,
                clusters.key_span,
                "the weights of these weighted clusters add up to 0",
            )
            .with_label_message("every weight is 0")
            .with_help("give at least one cluster a weight above 0")
            .with_note("Envoy requires the sum of the weights to be greater than 0"),
        ),
        Some(sum) if sum > u64::from(u32::MAX) => diagnostics.push(
            Diagnostic::new(
                codes::ENVOY_WEIGHTED_CLUSTERS_WEIGHT,
                clusters.key_span,
                format!("the weights of these weighted clusters add up to {sum}, more than 4294967295"),
            )
            .with_label_message("the weights overflow")
            .with_help("scale the weights down; only their proportions matter"),
        ),
        _ => {}
    }
    diagnostics
}

/// A `google.protobuf.UInt32Value` weight: a number, a string of one (protobuf's JSON
/// takes both), or `{ value: ... }`.
fn weight_value(weight: &Node) -> Option<u64> {
    match &weight.kind {
        NodeKind::Number { raw, value } => {
            raw.parse().ok().or_else(|| (value.fract() == 0.0 && *value >= 0.0).then_some(*value as u64))
        }
        NodeKind::String(text) => text.parse().ok(),
        NodeKind::Object(_) => weight_value(field(weight, "value")?),
        _ => None,
    }
}

/// The messages whose header mutations Envoy builds with its header parser, which
/// refuses to add or remove pseudo-headers (`:path`, `:status`...) and `host`: the
/// fields that add headers (`HeaderValueOption`s) and those that remove them (names).
/// Each was seen refused by the pinned builds; the header mutation filter's `remove`
/// is not among them, as Envoy accepts it.
const HEADER_MUTATIONS: &[(&str, &[&str], &[&str])] = &[
    (
        "envoy.config.route.v3.RouteConfiguration",
        &["request_headers_to_add", "response_headers_to_add"],
        &["request_headers_to_remove", "response_headers_to_remove"],
    ),
    (
        "envoy.config.route.v3.VirtualHost",
        &["request_headers_to_add", "response_headers_to_add"],
        &["request_headers_to_remove", "response_headers_to_remove"],
    ),
    (
        "envoy.config.route.v3.Route",
        &["request_headers_to_add", "response_headers_to_add"],
        &["request_headers_to_remove", "response_headers_to_remove"],
    ),
    (
        "envoy.config.route.v3.WeightedCluster.ClusterWeight",
        &["request_headers_to_add", "response_headers_to_add"],
        &["request_headers_to_remove", "response_headers_to_remove"],
    ),
    ("envoy.config.core.v3.HealthCheck.HttpHealthCheck", &["request_headers_to_add"], &["request_headers_to_remove"]),
    ("envoy.config.common.mutation_rules.v3.HeaderMutation", &["append"], &[]),
    ("envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit", &["response_headers_to_add"], &[]),
    ("envoy.extensions.filters.network.http_connection_manager.v3.ResponseMapper", &["headers_to_add"], &[]),
];

/// Whether Envoy's header parser lets a mutation touch a header: not a pseudo-header,
/// and not `host` in any case.
fn is_modifiable_header(name: &str) -> bool {
    !name.starts_with(':') && !name.eq_ignore_ascii_case("host")
}

/// Pseudo-headers and `host` added or removed by the header mutations of `message`.
pub(super) fn header_mutations(message: &str, entries: &[Member]) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    let Some((_, added, removed)) = HEADER_MUTATIONS.iter().find(|(m, _, _)| *m == message) else {
        return diagnostics;
    };
    for name in *added {
        let Some(options) = member(entries, name) else { continue };
        for option in items(Some(&options.value)) {
            if let Some(key) = field(option, "header").and_then(|h| field(h, "key"))
                && let Some(text) = key.as_str()
                && !is_modifiable_header(text)
            {
                diagnostics.push(header_mutation(key.span, text, "added"));
            }
        }
    }
    for name in *removed {
        let Some(names) = member(entries, name) else { continue };
        let list: &[Node] = match &names.value.kind {
            NodeKind::List(list) => list,
            _ => std::slice::from_ref(&names.value),
        };
        for header in list {
            if let Some(text) = header.as_str()
                && !is_modifiable_header(text)
            {
                diagnostics.push(header_mutation(header.span, text, "removed"));
            }
        }
    }
    diagnostics
}

fn header_mutation(span: Span, name: &str, done: &str) -> Diagnostic {
    let what =
        if name.starts_with(':') { format!("the pseudo-header `{name}`") } else { format!("the header `{name}`") };
    let mut diagnostic = Diagnostic::new(
        codes::ENVOY_PSEUDO_HEADER_MUTATION,
        span,
        format!("{what} cannot be {done} by a header mutation"),
    )
    .with_label_message(format!("cannot be {done}"))
    .with_note("Envoy refuses to let header mutations touch `:`-prefixed headers and `host`");
    // An added path or host has a field of the route made for it.
    let lower = name.to_ascii_lowercase();
    if done == "added" && lower == ":path" {
        diagnostic = diagnostic.with_help("rewrite the path with the route's `prefix_rewrite` or `regex_rewrite`");
    } else if done == "added" && (lower == ":authority" || lower == "host") {
        diagnostic = diagnostic.with_help("rewrite the host with the route's `host_rewrite_literal`");
    }
    diagnostic
}

/// The name under which a cluster's HTTP protocol options are given.
const HTTP_PROTOCOL_OPTIONS: &str = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/// Whether a cluster speaks HTTP/2 to its endpoints, if its options say for certain:
/// the deprecated `http2_protocol_options`, or `HttpProtocolOptions` with HTTP/2 given
/// explicitly, offered beside the downstream protocol, or left to ALPN (`auto_config`,
/// which always offers it).
fn speaks_http2(entries: &[Member]) -> Option<bool> {
    if member(entries, "http2_protocol_options").is_some() {
        return Some(true);
    }
    let Some(options) = member(entries, "typed_extension_protocol_options") else { return Some(false) };
    let Some(http) = field(&options.value, HTTP_PROTOCOL_OPTIONS) else { return Some(false) };
    if let Some(explicit) = field(http, "explicit_http_config") {
        // HTTP/3 has checks of its own, which are left to Envoy.
        if field(explicit, "http3_protocol_options").is_some() {
            return None;
        }
        return Some(field(explicit, "http2_protocol_options").is_some());
    }
    if let Some(downstream) = field(http, "use_downstream_protocol_config") {
        return Some(field(downstream, "http2_protocol_options").is_some());
    }
    if field(http, "auto_config").is_some() {
        return Some(true);
    }
    // Options that choose no protocol are the schema's to report.
    None
}

/// A gRPC health check speaks HTTP/2, so Envoy refuses one on a cluster that does
/// not (`cluster must support HTTP/2 for gRPC healthchecking`), whatever its type.
fn grpc_health_checks(entries: &[Member]) -> Vec<Diagnostic> {
    let Some(checks) = member(entries, "health_checks") else { return Vec::new() };
    let grpc: Vec<&Member> =
        items(Some(&checks.value)).filter_map(|check| member(check.members()?, "grpc_health_check")).collect();
    if grpc.is_empty() || speaks_http2(entries) != Some(false) {
        return Vec::new();
    }
    grpc.into_iter()
        .map(|check| {
            Diagnostic::new(
                codes::ENVOY_GRPC_HEALTH_CHECK_WITHOUT_HTTP2,
                check.key_span,
                "a gRPC health check needs a cluster that speaks HTTP/2, and this one speaks HTTP/1.1",
            )
            .with_label_message("gRPC over HTTP/1.1")
            .with_help(format!(
                "give the cluster `typed_extension_protocol_options` with `{HTTP_PROTOCOL_OPTIONS}` and `explicit_http_config: {{ http2_protocol_options: {{}} }}`"
            ))
        })
        .collect()
}

/// `envoy.config.core.v3.ApiVersion`.
const API_VERSIONS: &[(&str, i32)] = &[("AUTO", 0), ("V2", 1), ("V3", 2)];
const API_V2: i32 = 1;

/// The messages whose `transport_api_version` Envoy checks when it builds them, and
/// whether only a gRPC service is (the HTTP ext_authz filter checks it only for one).
const TRANSPORT_API_VERSIONS: &[(&str, bool)] = &[
    ("envoy.config.core.v3.ApiConfigSource", false),
    ("envoy.config.metrics.v3.MetricsServiceConfig", false),
    ("envoy.config.ratelimit.v3.RateLimitServiceConfig", false),
    ("envoy.extensions.access_loggers.grpc.v3.CommonGrpcAccessLogConfig", false),
    ("envoy.extensions.filters.network.ext_authz.v3.ExtAuthz", false),
    ("envoy.extensions.filters.http.ext_authz.v3.ExtAuthz", true),
];

/// Envoy no longer speaks version 2 of the xDS transport protocol, and refuses a
/// service configured for it (`V2 xDS transport protocol version is deprecated`);
/// `AUTO`, the default, is taken as V3. The schema only marks the value deprecated.
pub(super) fn transport_api_version(message: &str, entries: &[Member]) -> Option<Diagnostic> {
    let (_, grpc_only) = TRANSPORT_API_VERSIONS.iter().find(|(m, _)| *m == message)?;
    if *grpc_only && member(entries, "grpc_service").is_none() {
        return None;
    }
    let version = member(entries, "transport_api_version")?;
    if enum_number(&version.value, API_VERSIONS)? != API_V2 {
        return None;
    }
    Some(
        Diagnostic::new(
            codes::ENVOY_TRANSPORT_API_V2,
            version.value.span,
            "Envoy no longer speaks version 2 of the xDS transport protocol",
        )
        .with_label_message("V2 is gone")
        .with_did_you_mean(version.value.span, "V3")
        .with_note("Envoy rejects the configuration; the default, AUTO, means V3"),
    )
}

/// The names a JWT filter's requirements use must be defined in the filter: every
/// `provider_name` (in `rules`, `requirement_map` and `filter_state_rules`, at any
/// depth of `requires_any` and `requires_all`) a key of `providers`, every rule's
/// `requirement_name` a key of `requirement_map`. Envoy resolves them when it builds
/// the filter (`Required provider ['NAME'] is not configured`).
pub(super) fn jwt_authentication(entries: &[Member]) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    let keys = |name: &str| -> Vec<&str> {
        member(entries, name)
            .and_then(|m| m.value.members())
            .map_or(Vec::new(), |members| members.iter().map(|m| m.key.as_str()).collect())
    };
    let providers = keys("providers");
    let requirement_names = keys("requirement_map");
    let mut requirements: Vec<&Node> = Vec::new();
    for rule in items(member(entries, "rules").map(|m| &m.value)) {
        requirements.extend(field(rule, "requires"));
        if let Some(name) = field(rule, "requirement_name")
            && let Some(text) = name.as_str()
            && !requirement_names.contains(&text)
        {
            diagnostics.push(unknown_name(name, text, "requirement", "`requirement_map`", &requirement_names));
        }
    }
    // The requirements named in `requirement_map`, and those chosen by filter state.
    let named = member(entries, "requirement_map").map(|m| &m.value);
    let by_filter_state = member(entries, "filter_state_rules").and_then(|m| field(&m.value, "requires"));
    for map in [named, by_filter_state] {
        requirements.extend(map.and_then(Node::members).into_iter().flatten().map(|m| &m.value));
    }
    while let Some(requirement) = requirements.pop() {
        let named = field(requirement, "provider_name")
            .or_else(|| field(requirement, "provider_and_audiences").and_then(|p| field(p, "provider_name")));
        if let Some(name) = named
            && let Some(text) = name.as_str()
            && !providers.contains(&text)
        {
            diagnostics.push(unknown_name(name, text, "provider", "`providers`", &providers));
        }
        for group in ["requires_any", "requires_all"] {
            requirements.extend(items(field(requirement, group).and_then(|g| field(g, "requirements"))));
        }
    }
    diagnostics.sort_by_key(|d| d.primary_span().start);
    diagnostics
}

fn unknown_name(name: &Node, text: &str, what: &str, place: &str, known: &[&str]) -> Diagnostic {
    let mut diagnostic = Diagnostic::new(
        codes::ENVOY_JWT_UNDEFINED_NAME,
        name.span,
        format!("the {what} `{text}` is not defined in {place}"),
    )
    .with_label_message(format!("no such {what}"));
    diagnostic = if known.is_empty() {
        diagnostic.with_note(format!("{place} defines none"))
    } else {
        diagnostic.with_note(format!("{place} defines: {}", known.join(", ")))
    };
    if let Some(suggestion) = crate::diagnostic::did_you_mean(text, known.iter().copied()) {
        diagnostic = diagnostic.with_did_you_mean(name.span, suggestion);
    }
    diagnostic
}

/// The resource Envoy's overload manager tracks by itself, which a trigger may name
/// without a resource monitor of that name.
const PROACTIVE_RESOURCES: &[&str] = &["envoy.resource_monitors.global_downstream_max_connections"];

/// The triggers of overload actions and load-shed points name resource monitors of
/// the overload manager (`Unknown trigger resource NAME`). An overload manager
/// without resource monitors breaks the schema's rules, which say so.
pub(super) fn overload_manager(entries: &[Member]) -> Vec<Diagnostic> {
    let monitors: Vec<&str> = items(member(entries, "resource_monitors").map(|m| &m.value))
        .filter_map(|monitor| field(monitor, "name")?.as_str())
        .collect();
    if monitors.is_empty() {
        return Vec::new();
    }
    let mut diagnostics = Vec::new();
    for (list, what) in [("actions", "overload action"), ("loadshed_points", "load-shed point")] {
        for entry in items(member(entries, list).map(|m| &m.value)) {
            for trigger in items(field(entry, "triggers")) {
                let Some(name) = field(trigger, "name") else { continue };
                let Some(text) = name.as_str() else { continue };
                if monitors.contains(&text) || PROACTIVE_RESOURCES.contains(&text) {
                    continue;
                }
                let mut diagnostic = Diagnostic::new(
                    codes::ENVOY_OVERLOAD_UNKNOWN_TRIGGER,
                    name.span,
                    format!(
                        "this {what} is triggered by `{text}`, which is not a resource monitor of the overload manager"
                    ),
                )
                .with_label_message("no such resource monitor")
                .with_note(format!("the resource monitors are: {}", monitors.join(", ")));
                if let Some(suggestion) = crate::diagnostic::did_you_mean(text, monitors.iter().copied()) {
                    diagnostic = diagnostic.with_did_you_mean(name.span, suggestion);
                }
                diagnostics.push(diagnostic);
            }
        }
    }
    diagnostics
}

#[cfg(test)]
mod tests {
    use crate::diagnostic::codes;
    use crate::envoy::validate_bootstrap;
    use crate::span::FileId;

    /// A bootstrap with one listener routing to the cluster `backend`, whose type,
    /// load balancer and endpoint address are filled in by each test.
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
              domains: [\"*\"]
              routes:
              - match: { prefix: \"/\" }
                route: ROUTE
          http_filters:
          - name: envoy.filters.http.router
            typed_config: { \"@type\": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
  clusters:
  - name: backend
    connect_timeout: 1s
CLUSTER";

    const ENDPOINT: &str = "    load_assignment:
      cluster_name: backend
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: ADDRESS, port_value: 8080 } } }
";

    fn bootstrap(route: &str, cluster: &str) -> String {
        BASE.replace("ROUTE", route).replace("CLUSTER", cluster)
    }

    fn with_cluster(cluster: &str) -> String {
        bootstrap("{ cluster: backend }", cluster)
    }

    fn endpoint(address: &str) -> String {
        ENDPOINT.replace("ADDRESS", address)
    }

    /// The codes `text` gets from 1.38, and the text each one points at.
    fn found(text: &str) -> Vec<(String, String)> {
        validate_bootstrap(FileId(0), text, &["1.38.2"])
            .into_iter()
            .filter(|d| d.is_error())
            .map(|d| (d.code.to_string(), text[d.primary_span().range()].to_string()))
            .collect()
    }

    fn one(code: crate::diagnostic::Code, at: &str) -> Vec<(String, String)> {
        vec![(code.to_string(), at.to_string())]
    }

    #[test]
    fn a_static_cluster_takes_ip_addresses_only() {
        for address in ["127.0.0.1", "::1", "::ffff:1.2.3.4", "fe80::1%lo"] {
            assert_eq!(found(&with_cluster(&endpoint(&format!("\"{address}\"")))), vec![], "{address}");
        }
        for address in ["backend.internal", "127.1", "010.0.0.1", "[::1]", "127.0.0.1:80"] {
            let quoted = format!("\"{address}\"");
            assert_eq!(
                found(&with_cluster(&endpoint(&quoted))),
                one(codes::ENVOY_STATIC_CLUSTER_NOT_IP, &quoted),
                "{address}"
            );
        }
        let typed = format!("    type: static\n{}", endpoint("backend.internal"));
        assert_eq!(found(&with_cluster(&typed)), one(codes::ENVOY_STATIC_CLUSTER_NOT_IP, "backend.internal"));
    }

    #[test]
    fn a_dns_cluster_takes_host_names() {
        for kind in ["STRICT_DNS", "LOGICAL_DNS"] {
            let cluster = format!("    type: {kind}\n{}", endpoint("backend.internal"));
            assert_eq!(found(&with_cluster(&cluster)), vec![], "{kind}");
        }
    }

    #[test]
    fn a_static_cluster_refuses_a_named_port() {
        let cluster = endpoint("127.0.0.1").replace("port_value: 8080", "named_port: http");
        assert_eq!(found(&with_cluster(&cluster)), one(codes::ENVOY_STATIC_CLUSTER_NOT_IP, "http"));
    }

    #[test]
    fn an_original_destination_cluster_takes_the_cluster_provided_balancer_only() {
        assert_eq!(
            found(&with_cluster("    type: ORIGINAL_DST\n")),
            one(codes::ENVOY_LB_POLICY_FOR_CLUSTER, "ORIGINAL_DST")
        );
        assert_eq!(
            found(&with_cluster("    type: ORIGINAL_DST\n    lb_policy: MAGLEV\n")),
            one(codes::ENVOY_LB_POLICY_FOR_CLUSTER, "MAGLEV")
        );
        assert_eq!(found(&with_cluster("    type: ORIGINAL_DST\n    lb_policy: cluster_provided\n")), vec![]);
    }

    #[test]
    fn other_discovery_types_have_no_balancer_of_their_own() {
        let cluster = format!("    lb_policy: CLUSTER_PROVIDED\n{}", endpoint("127.0.0.1"));
        assert_eq!(found(&with_cluster(&cluster)), one(codes::ENVOY_LB_POLICY_FOR_CLUSTER, "CLUSTER_PROVIDED"));
        let config = format!("    lb_policy: LOAD_BALANCING_POLICY_CONFIG\n{}", endpoint("127.0.0.1"));
        assert_eq!(
            found(&with_cluster(&config)),
            one(codes::ENVOY_LB_POLICY_FOR_CLUSTER, "LOAD_BALANCING_POLICY_CONFIG")
        );
    }

    #[test]
    fn the_load_balancing_policy_decides_over_lb_policy() {
        let round_robin = "    load_balancing_policy:
      policies:
      - typed_extension_config:
          name: rr
          typed_config: { \"@type\": type.googleapis.com/envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin }
";
        let cluster = format!("    lb_policy: CLUSTER_PROVIDED\n{round_robin}{}", endpoint("127.0.0.1"));
        assert_eq!(found(&with_cluster(&cluster)), vec![]);
        let original = format!("    type: ORIGINAL_DST\n    lb_policy: CLUSTER_PROVIDED\n{round_robin}");
        assert_eq!(found(&with_cluster(&original)), one(codes::ENVOY_LB_POLICY_FOR_CLUSTER, "load_balancing_policy"));
    }

    #[test]
    fn weighted_clusters_need_weights_above_zero_in_all() {
        let route = |clusters: &str| bootstrap(&format!("{{ weighted_clusters: {{ clusters: [{clusters}] }} }}"), "");
        assert_eq!(found(&route("{ name: backend, weight: 0 }, { name: backend, weight: 1 }")), vec![]);
        assert_eq!(
            found(&route("{ name: backend, weight: 0 }, { name: backend, weight: \"0\" }")),
            one(codes::ENVOY_WEIGHTED_CLUSTERS_WEIGHT, "clusters")
        );
        assert_eq!(
            found(&route("{ name: backend, weight: 1 }, { name: backend }")),
            one(codes::ENVOY_WEIGHTED_CLUSTERS_WEIGHT, "backend")
        );
        assert_eq!(
            found(&route("{ name: backend, weight: 4294967295 }, { name: backend, weight: 1 }")),
            one(codes::ENVOY_WEIGHTED_CLUSTERS_WEIGHT, "clusters")
        );
    }

    #[test]
    fn pseudo_headers_and_host_are_not_mutated() {
        let route = |mutation: &str| bootstrap(&format!("{{ cluster: backend }}\n                {mutation}"), "");
        assert_eq!(found(&route("request_headers_to_add: [{ header: { key: x-path, value: v } }]")), vec![]);
        assert_eq!(
            found(&route("request_headers_to_add: [{ header: { key: \":path\", value: v } }]")),
            one(codes::ENVOY_PSEUDO_HEADER_MUTATION, "\":path\"")
        );
        assert_eq!(
            found(&route("response_headers_to_remove: [x-a, Host]")),
            one(codes::ENVOY_PSEUDO_HEADER_MUTATION, "Host")
        );
    }

    #[test]
    fn a_grpc_health_check_needs_http2() {
        let check = "    health_checks:
    - { timeout: 1s, interval: 5s, unhealthy_threshold: 2, healthy_threshold: 2, grpc_health_check: {} }
";
        let plain = format!("{check}{}", endpoint("127.0.0.1"));
        assert_eq!(
            found(&with_cluster(&plain)),
            one(codes::ENVOY_GRPC_HEALTH_CHECK_WITHOUT_HTTP2, "grpc_health_check")
        );
        let options = |config: &str| {
            format!(
                "{plain}    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        \"@type\": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        {config}
"
            )
        };
        assert_eq!(found(&with_cluster(&options("explicit_http_config: { http2_protocol_options: {} }"))), vec![]);
        assert_eq!(
            found(&with_cluster(&options("use_downstream_protocol_config: { http_protocol_options: {} }"))),
            one(codes::ENVOY_GRPC_HEALTH_CHECK_WITHOUT_HTTP2, "grpc_health_check")
        );
    }

    /// A bootstrap whose router is preceded by the HTTP filter `filter`.
    fn with_http_filter(filter: &str) -> String {
        let router = "          - name: envoy.filters.http.router\n";
        bootstrap("{ cluster: backend }", "").replace(router, &format!("{filter}{router}"))
    }

    #[test]
    fn transport_api_version_v2_is_refused_where_envoy_checks_it() {
        let ext_authz = |service: &str| {
            with_http_filter(&format!(
                "          - name: authz
            typed_config:
              \"@type\": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz
              transport_api_version: V2
              {service}
"
            ))
        };
        assert_eq!(
            found(&ext_authz("grpc_service: { envoy_grpc: { cluster_name: backend } }")),
            one(codes::ENVOY_TRANSPORT_API_V2, "V2")
        );
        // An HTTP authorization service is not checked.
        assert_eq!(
            found(&ext_authz("http_service: { server_uri: { uri: http://authz, cluster: backend, timeout: 1s } }")),
            vec![]
        );
    }

    #[test]
    fn jwt_requirements_name_providers_and_requirements_of_the_filter() {
        let jwt = |rules: &str| {
            with_http_filter(&format!(
                "          - name: jwt
            typed_config:
              \"@type\": type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication
              providers:
                issuer: {{ issuer: https://issuer, local_jwks: {{ inline_string: \"{{}}\" }} }}
              requirement_map:
                strict: {{ provider_name: issuer }}
              rules:
              {rules}
"
            ))
        };
        assert_eq!(found(&jwt("- { match: { prefix: / }, requirement_name: strict }")), vec![]);
        assert_eq!(
            found(&jwt("- { match: { prefix: / }, requirement_name: lenient }")),
            one(codes::ENVOY_JWT_UNDEFINED_NAME, "lenient")
        );
        assert_eq!(
            found(&jwt(
                "- { match: { prefix: / }, requires: { requires_any: { requirements: [{ provider_name: isuer }, { allow_missing: {} }] } } }"
            )),
            one(codes::ENVOY_JWT_UNDEFINED_NAME, "isuer")
        );
    }

    #[test]
    fn overload_triggers_name_resource_monitors() {
        let overload = |trigger: &str| {
            format!(
                "overload_manager:
  resource_monitors:
  - name: heap
    typed_config: {{ \"@type\": type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig, max_heap_size_bytes: 1000000 }}
  actions:
  - name: envoy.overload_actions.stop_accepting_requests
    triggers: [{{ name: {trigger}, threshold: {{ value: 0.9 }} }}]
{}",
                bootstrap("{ cluster: backend }", "")
            )
        };
        assert_eq!(found(&overload("heap")), vec![]);
        assert_eq!(found(&overload("envoy.resource_monitors.global_downstream_max_connections")), vec![]);
        assert_eq!(found(&overload("heep")), one(codes::ENVOY_OVERLOAD_UNKNOWN_TRIGGER, "heep"));
    }
}
