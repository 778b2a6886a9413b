//! What each supported Istio release's istiod generates and does with an EnvoyFilter:
//! listener, filter chain, filter, cluster and route names, the HTTP filter order per
//! context, the WasmPlugin filter names, and the operations each applyTo carries out.
//!
//! The tables are data, one file per release under `compiler/istio/`, each naming the
//! Istio source it was read from; this module only parses them (once) and answers
//! questions about them. The EnvoyFilter checks, `meshc explain --workload` and the
//! raw Envoy target all read the same tables.

use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};

/// The release tables, embedded: `(release, TOML text)`.
const TABLES: &[(&str, &str)] = &[
    ("1.28", include_str!("../istio/istio-1.28.toml")),
    ("1.29", include_str!("../istio/istio-1.29.toml")),
    ("1.30", include_str!("../istio/istio-1.30.toml")),
    ("1.31", include_str!("../istio/istio-1.31.toml")),
];

/// The contexts whose proxies istiod generates configuration for. Waypoints have a
/// table of their own but are patched through the sidecar contexts.
pub const PROXY_CONTEXTS: &[&str] = &["SIDECAR_INBOUND", "SIDECAR_OUTBOUND", "GATEWAY", "WAYPOINT", "WAYPOINT_CONNECT"];

/// One release's table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseModel {
    /// `1.30`.
    pub release: String,
    /// The tag the table was read at.
    pub analyzed_tag: String,
    /// The Envoy minor the release's proxy is built on.
    pub envoy_minor: String,
    pub wasm_plugins: WasmPlugins,
    names: Names,
    /// Per context (`SIDECAR_INBOUND`, ...), the HTTP filters in order.
    pub http_filters: BTreeMap<String, Vec<HttpFilter>>,
    /// Per context, the network filters of its chains (`{wasm}` for WasmPlugins).
    network_filters: BTreeMap<String, Vec<String>>,
    /// Per context, the listener filters.
    listener_filters: BTreeMap<String, Vec<String>>,
    pub envoy_filter: EnvoyFilterRules,
    /// What the release's validation rejects and warns about, with the code meshc
    /// reports each with.
    pub validation: Validation,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Validation {
    pub rejects: Vec<ValidationRule>,
    pub warns: Vec<ValidationRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidationRule {
    pub rule: String,
    /// The diagnostic code meshc reports it with; empty where meshc does not check it.
    pub meshc: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WasmPlugins {
    /// The filter name of a WasmPlugin, with `{namespace}` and `{name}`.
    pub filter_name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Names {
    sidecar_inbound_listeners: Vec<String>,
    sidecar_outbound_listeners: Vec<String>,
    gateway_listeners: Vec<String>,
    sidecar_inbound_filter_chains: Vec<String>,
    sidecar_outbound_filter_chains: Vec<String>,
    gateway_filter_chains: Vec<String>,
    clusters: Vec<String>,
    bootstrap_clusters: Vec<String>,
    route_configurations: Vec<String>,
    virtual_hosts: Vec<String>,
}

/// An entry of an HTTP filter chain: a named filter (present only `when` its
/// condition holds, if it has one), or the WasmPlugins of a phase.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpFilter {
    pub name: Option<String>,
    pub when: Option<String>,
    pub wasm_phase: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvoyFilterRules {
    /// The patch contexts the release's CRD accepts.
    pub contexts: Vec<String>,
    /// Contexts the CRD accepts but istiod never applies.
    pub unapplied_contexts: Vec<String>,
    pub operations: Vec<String>,
    /// The applyTo values on which INSERT_* keep their position; elsewhere istiod
    /// turns them into ADD.
    pub positional_apply_to: Vec<String>,
    /// The operations istiod carries out, per applyTo; it accepts the others and does
    /// nothing.
    pub applied_operations: BTreeMap<String, Vec<String>>,
    /// Old filter names to the names istiod generates instead, by kind (`http`,
    /// `network`, `listener`).
    pub deprecated_filter_names: BTreeMap<String, BTreeMap<String, String>>,
    /// Longer `proxyVersion` regexes match no proxy.
    #[serde(default)]
    pub proxy_version_max_length: Option<usize>,
}

/// The kinds of names an EnvoyFilter match compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameKind {
    Listener,
    FilterChain,
    NetworkFilter,
    HttpFilter,
    ListenerFilter,
    Cluster,
    RouteConfiguration,
    VirtualHost,
}

impl NameKind {
    pub fn describe(self) -> &'static str {
        match self {
            NameKind::Listener => "listener",
            NameKind::FilterChain => "filter chain",
            NameKind::NetworkFilter => "network filter",
            NameKind::HttpFilter => "HTTP filter",
            NameKind::ListenerFilter => "listener filter",
            NameKind::Cluster => "cluster",
            NameKind::RouteConfiguration => "route configuration",
            NameKind::VirtualHost => "virtual host",
        }
    }
}

/// The table of a supported release (`1.30` or `1.30.3`), parsed on first use.
pub fn release_model(release: &str) -> Option<&'static ReleaseModel> {
    static MODELS: OnceLock<Vec<ReleaseModel>> = OnceLock::new();
    let models = MODELS.get_or_init(|| {
        TABLES
            .iter()
            .map(|(release, text)| match toml::from_str::<ReleaseModel>(text) {
                Ok(model) => model,
                // The tables are part of the binary and tested; a broken one is a bug.
                Err(error) => panic!("the table of Istio {release} does not parse: {error}"),
            })
            .collect()
    });
    let (major, minor) = crate::versions::major_minor(release)?;
    models.iter().find(|m| crate::versions::major_minor(&m.release) == Some((major, minor)))
}

/// The table of the Istio release whose proxy runs Envoy `envoy` (`1.38.2` or
/// `1.38`); for an Envoy newer than every release's, the newest release.
pub fn release_for_envoy(envoy: &str) -> &'static ReleaseModel {
    let minor = crate::versions::major_minor(envoy);
    let releases = crate::versions::ISTIO_RELEASES;
    releases
        .iter()
        .find(|r| crate::versions::major_minor(r.envoy) == minor)
        .or(releases.last())
        .and_then(|r| release_model(r.version))
        .expect("every supported release has a table")
}

impl ReleaseModel {
    /// The proxy contexts a patch of `context` (`ANY`, `SIDECAR_INBOUND`, ...) reaches:
    /// waypoints take the sidecar contexts' patches.
    pub fn reached_contexts(&self, context: &str) -> Vec<&'static str> {
        match context {
            "SIDECAR_INBOUND" => vec!["SIDECAR_INBOUND", "WAYPOINT", "WAYPOINT_CONNECT"],
            "SIDECAR_OUTBOUND" => vec!["SIDECAR_OUTBOUND"],
            "GATEWAY" => vec!["GATEWAY"],
            "ANY" => PROXY_CONTEXTS.to_vec(),
            _ => Vec::new(),
        }
    }

    /// The name patterns of one kind that a proxy of `context` has. `{wasm}` and the
    /// wasm phases stand for the WasmPlugins, which callers add by name.
    pub fn names(&self, kind: NameKind, context: &str) -> Vec<&str> {
        let names = &self.names;
        match kind {
            NameKind::Listener => match context {
                "SIDECAR_INBOUND" => names.sidecar_inbound_listeners.iter().map(String::as_str).collect(),
                "SIDECAR_OUTBOUND" => names.sidecar_outbound_listeners.iter().map(String::as_str).collect(),
                "GATEWAY" => names.gateway_listeners.iter().map(String::as_str).collect(),
                _ => Vec::new(),
            },
            NameKind::FilterChain => match context {
                "SIDECAR_INBOUND" => names.sidecar_inbound_filter_chains.iter().map(String::as_str).collect(),
                "SIDECAR_OUTBOUND" => names.sidecar_outbound_filter_chains.iter().map(String::as_str).collect(),
                "GATEWAY" => names.gateway_filter_chains.iter().map(String::as_str).collect(),
                _ => Vec::new(),
            },
            NameKind::NetworkFilter => self
                .network_filters
                .get(context)
                .map(|f| f.iter().map(String::as_str).filter(|n| *n != "{wasm}").collect())
                .unwrap_or_default(),
            NameKind::HttpFilter => self
                .http_filters
                .get(context)
                .map(|f| f.iter().filter_map(|f| f.name.as_deref()).collect())
                .unwrap_or_default(),
            NameKind::ListenerFilter => {
                self.listener_filters.get(context).map(|f| f.iter().map(String::as_str).collect()).unwrap_or_default()
            }
            NameKind::Cluster => names.clusters.iter().map(String::as_str).collect(),
            NameKind::RouteConfiguration => names.route_configurations.iter().map(String::as_str).collect(),
            NameKind::VirtualHost => names.virtual_hosts.iter().map(String::as_str).collect(),
        }
    }

    /// Whether `name` is one that a proxy reached by a patch of `context` has, by the
    /// table's patterns.
    pub fn has_name(&self, kind: NameKind, context: &str, name: &str) -> bool {
        self.reached_contexts(context)
            .into_iter()
            .any(|c| self.names(kind, c).into_iter().any(|pattern| pattern_matches(pattern, name)))
    }

    /// The name istiod generates instead of the old filter name `name`, if it is one.
    pub fn replacement_of_deprecated(&self, kind: NameKind, name: &str) -> Option<&str> {
        let table = match kind {
            NameKind::HttpFilter => "http",
            NameKind::NetworkFilter => "network",
            NameKind::ListenerFilter => "listener",
            _ => return None,
        };
        self.envoy_filter.deprecated_filter_names.get(table)?.get(name).map(String::as_str)
    }

    /// Clusters of the bootstrap, which are not in CDS and which patches never reach.
    pub fn is_bootstrap_cluster(&self, name: &str) -> bool {
        self.names.bootstrap_clusters.iter().any(|c| c == name)
    }

    /// The filter name of the WasmPlugin `namespace/name` in this release.
    pub fn wasm_filter_name(&self, namespace: &str, name: &str) -> String {
        self.wasm_plugins.filter_name.replace("{namespace}", namespace).replace("{name}", name)
    }

    /// Whether `name` is a WasmPlugin filter name of this release's form.
    pub fn is_wasm_filter_name(&self, name: &str) -> bool {
        pattern_matches(&self.wasm_plugins.filter_name, name)
    }

    /// Whether istiod carries out `operation` on `apply_to` (after rewriting
    /// INSERT_* into ADD where it does).
    pub fn applies_operation(&self, apply_to: &str, operation: &str) -> bool {
        let operation = self.effective_operation(apply_to, operation);
        self.envoy_filter.applied_operations.get(apply_to).is_some_and(|ops| ops.iter().any(|o| o == operation))
    }

    /// The operation istiod performs for `operation` on `apply_to`: INSERT_* become ADD
    /// where the applyTo has no positions.
    pub fn effective_operation<'o>(&self, apply_to: &str, operation: &'o str) -> &'o str {
        if operation.starts_with("INSERT_") && !self.envoy_filter.positional_apply_to.iter().any(|a| a == apply_to) {
            "ADD"
        } else {
            operation
        }
    }
}

/// Whether `name` fits `pattern`, whose `{placeholders}` stand for the parts istiod
/// fills in: ports are digits, hosts and addresses have no `|`, gateway and port
/// names have no dots (istiod splits gateway route names at dots).
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    if !pattern.contains('{') {
        return pattern == name;
    }
    let mut regex = String::from("^");
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        regex.push_str(&regex::escape(&rest[..open]));
        let Some(close) = rest[open..].find('}') else { break };
        let placeholder = &rest[open + 1..open + close];
        regex.push_str(match placeholder {
            "port" => r"[0-9]+",
            "subset" => r"[A-Za-z0-9._-]*",
            "host" => r"[A-Za-z0-9*._-]+",
            "address" => r"[0-9A-Fa-f.:\[\]]+",
            "port_name" | "gateway" => r"[A-Za-z0-9_-]+",
            "namespace" => r"[a-z0-9-]+",
            _ => r"[^|]+",
        });
        rest = &rest[open + close + 1..];
    }
    regex.push_str(&regex::escape(rest));
    regex.push('$');
    // The tables' patterns are few and asked about on every check: compile each once.
    static COMPILED: OnceLock<Mutex<HashMap<String, Option<regex::Regex>>>> = OnceLock::new();
    let mut compiled = COMPILED.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    compiled
        .entry(pattern.to_string())
        .or_insert_with(|| regex::Regex::new(&regex).ok())
        .as_ref()
        .is_some_and(|r| r.is_match(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::versions::ISTIO_RELEASES;

    #[test]
    fn every_supported_release_has_a_table_that_agrees_on_its_envoy() {
        for release in ISTIO_RELEASES {
            let model = release_model(release.version).unwrap_or_else(|| panic!("no table for {}", release.version));
            assert_eq!(model.release, release.version);
            assert_eq!(model.envoy_minor, release.envoy, "Istio {}", release.version);
            for &context in PROXY_CONTEXTS {
                let filters = &model.http_filters[context];
                assert_eq!(
                    filters.last().and_then(|f| f.name.as_deref()),
                    Some("envoy.filters.http.router"),
                    "the router ends {context} in Istio {}",
                    release.version
                );
                for filter in filters {
                    assert!(filter.name.is_some() != filter.wasm_phase.is_some(), "{filter:?}");
                }
            }
            for (apply_to, operations) in &model.envoy_filter.applied_operations {
                for operation in operations {
                    assert!(model.envoy_filter.operations.contains(operation), "{apply_to}: {operation}");
                }
            }
        }
    }

    #[test]
    fn contexts_and_operations_agree_with_the_release_features() {
        use crate::versions::{Feature, istio_supports};
        for release in ISTIO_RELEASES {
            let model = release_model(release.version).unwrap();
            let rules = &model.envoy_filter;
            assert_eq!(
                rules.contexts.iter().any(|c| c == "WAYPOINT"),
                istio_supports(release.version, Feature::WaypointContext),
                "Istio {}",
                release.version
            );
            assert_eq!(
                rules.operations.iter().any(|o| o == "MERGE_AND_REPLACE_LIST"),
                istio_supports(release.version, Feature::PatchMergeAndReplaceList),
                "Istio {}",
                release.version
            );
        }
        // A later release generates every filter of an earlier one, in the same order.
        for pair in ISTIO_RELEASES.windows(2) {
            let (old, new) = (release_model(pair[0].version).unwrap(), release_model(pair[1].version).unwrap());
            for (context, filters) in &old.http_filters {
                let names = |m: &ReleaseModel| -> Vec<String> {
                    m.http_filters[context]
                        .iter()
                        .map(|f| f.name.clone().or(f.wasm_phase.clone()).unwrap_or_default())
                        .collect()
                };
                let (before, after) = (names(old), names(new));
                let mut rest = after.iter();
                for name in &before {
                    assert!(
                        rest.any(|n| n == name),
                        "{context}: {name} of {} missing or reordered in {}",
                        old.release,
                        new.release
                    );
                }
                let _ = filters;
            }
            assert_eq!(old.envoy_filter.deprecated_filter_names, new.envoy_filter.deprecated_filter_names);
        }
    }

    #[test]
    fn every_validation_rule_names_a_real_code() {
        for release in ISTIO_RELEASES {
            let model = release_model(release.version).unwrap();
            for rule in model.validation.rejects.iter().chain(&model.validation.warns) {
                assert!(
                    rule.meshc.is_empty() || crate::diagnostic::codes::lookup(&rule.meshc).is_some(),
                    "Istio {}: `{}` names {}",
                    release.version,
                    rule.rule,
                    rule.meshc
                );
            }
            // What the release rejects, meshc reports as an error.
            for rule in &model.validation.rejects {
                assert!(rule.meshc.is_empty() || rule.meshc.starts_with('E'), "{}: {}", rule.rule, rule.meshc);
            }
        }
    }

    #[test]
    fn patterns_stand_for_the_names_istiod_builds() {
        assert!(pattern_matches("outbound|{port}|{subset}|{host}", "outbound|9080||reviews.default.svc.cluster.local"));
        assert!(pattern_matches(
            "outbound|{port}|{subset}|{host}",
            "outbound|9080|v1|reviews.default.svc.cluster.local"
        ));
        assert!(!pattern_matches("outbound|{port}|{subset}|{host}", "outbound|http|v1|reviews"));
        assert!(pattern_matches("{address}_{port}", "0.0.0.0_8080"));
        assert!(pattern_matches("https.{port}.{port_name}.{gateway}.{namespace}", "https.443.https.gw.istio-system"));
        assert!(!pattern_matches(
            "https.{port}.{port_name}.{gateway}.{namespace}",
            "https.443.https.my.gw.istio-system"
        ));
        assert!(pattern_matches("virtualInbound", "virtualInbound"));
    }

    #[test]
    fn the_wasm_filter_names_change_in_1_30() {
        let old = release_model("1.29").unwrap();
        let new = release_model("1.30").unwrap();
        assert_eq!(old.wasm_filter_name("shop", "auth"), "extensions.istio.io/wasmplugin/shop.auth");
        assert_eq!(
            new.wasm_filter_name("shop", "auth"),
            "extensions.istio.io/trafficextension/shop.auth~istio-translated-wasmplugin"
        );
        assert!(!new.is_wasm_filter_name("extensions.istio.io/wasmplugin/shop.auth"));
    }

    #[test]
    fn insert_becomes_add_where_there_is_no_position() {
        let model = release_model("1.28").unwrap();
        assert_eq!(model.effective_operation("CLUSTER", "INSERT_AFTER"), "ADD");
        assert_eq!(model.effective_operation("HTTP_FILTER", "INSERT_AFTER"), "INSERT_AFTER");
        assert!(!model.applies_operation("CLUSTER", "REPLACE"));
        assert!(!model.applies_operation("ROUTE_CONFIGURATION", "INSERT_FIRST"));
        assert!(!model.applies_operation("BOOTSTRAP", "MERGE"));
        assert!(!release_model("1.31").unwrap().applies_operation("HTTP_FILTER", "MERGE_AND_REPLACE_LIST"));
        assert!(release_model("1.31").unwrap().applies_operation("CLUSTER", "MERGE_AND_REPLACE_LIST"));
    }
}
