//! The raw Envoy target: a complete bootstrap per `proxy` declaration, with the
//! package's HTTP filters, stats, tracing and access logs, for users without Istio
//! and for `meshc smoke`.
//!
//! The bootstrap is built from the Istio resources the package generates (already
//! checked and lowered into [`crate::istio::model`]), so the two targets cannot
//! disagree about what a declaration means. It is built per Envoy version, and
//! checked against that version's schema like everything else meshc emits.

pub mod bootstrap;
pub mod smoke;
pub mod wasm;

use crate::analysis::{Analysis, OutputFile};
use crate::diagnostic::Diagnostic;
use crate::span::Span;
use crate::syntax::ast::{Entry, Key, StringLit, StringStyle, Value, ValueKind};
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// One `proxy NAME ... { ... }` declaration, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct ProxyDecl {
    /// The declaration's name, as written (`my_service`).
    pub name: String,
    /// The namespace the proxy stands in (for resources scoped to a namespace).
    pub namespace: String,
    /// The workload labels of the proxy (for resources with a selector).
    pub labels: BTreeMap<String, String>,
    /// Where the proxy listens for requests.
    pub listen: Endpoint,
    /// Where it forwards them.
    pub upstream: Endpoint,
    /// Its admin interface (stats, readiness).
    pub admin: Endpoint,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub address: String,
    pub port: u16,
}

impl Endpoint {
    pub fn new(address: impl Into<String>, port: u16) -> Endpoint {
        Endpoint { address: address.into(), port }
    }
}

/// Where a bootstrap's proxy runs: the addresses a `proxy` declaration names, or
/// those `meshc smoke` picks (port 0, the local upstream and collector).
#[derive(Clone, Debug, PartialEq)]
pub struct Site {
    pub listen: Endpoint,
    pub admin: Endpoint,
    pub upstream: Endpoint,
    /// Tracing and logging providers by name: where their collector listens. A
    /// provider not listed here uses the service and port of mesh.toml.
    pub collectors: BTreeMap<String, Endpoint>,
    /// Where file access logs go; `/dev/stdout` when not given.
    pub access_log_path: Option<String>,
    /// Settings for a quick smoke test: spans flushed one at a time, stats flushed
    /// on every admin read.
    pub smoke: bool,
}

impl Site {
    /// The site a `proxy` declaration describes, for `meshc build --target envoy`.
    pub fn of(proxy: &ProxyDecl) -> Site {
        Site {
            listen: proxy.listen.clone(),
            admin: proxy.admin.clone(),
            upstream: proxy.upstream.clone(),
            collectors: BTreeMap::new(),
            access_log_path: None,
            smoke: false,
        }
    }
}

/// The bootstraps `meshc build --target envoy` writes: one per proxy and targeted
/// Envoy version, at `PROXY/envoy-VERSION.yaml`, each checked against the schema of
/// its version. Errors in a bootstrap (which would be meshc's own mistake, or a
/// construct one version lacks) are reported at the proxy declaration.
pub fn outputs(analysis: &Analysis, assets: &bootstrap::Assets) -> (Vec<OutputFile>, Vec<Diagnostic>) {
    let mut files = Vec::new();
    let mut diagnostics = Vec::new();
    let envoys = targeted_builds(analysis);
    for proxy in &analysis.proxies {
        let site = Site::of(proxy);
        for envoy in &envoys {
            let (json, mut found) = bootstrap::bootstrap(analysis, proxy, envoy, &site, assets);
            found.extend(check_json(&json, proxy.span, envoy));
            merge_diagnostics(&mut diagnostics, found);
            files.push(OutputFile {
                path: format!("{}/envoy-{envoy}.yaml", proxy.name.replace('_', "-")),
                contents: crate::istio::emit::json_to_yaml(&json),
            });
        }
    }
    (files, diagnostics)
}

/// The pinned Envoy builds (`1.38.2`) a package targets.
pub fn targeted_builds(analysis: &Analysis) -> Vec<&'static str> {
    let minors = analysis.manifest.as_ref().map(|m| m.envoy_targets()).unwrap_or_default();
    minors.iter().filter_map(|minor| crate::versions::envoy_build(minor)).map(|b| b.version).collect()
}

/// Checks a generated bootstrap against one version's schema, every value pointing
/// at `span`.
pub fn check_json(json: &Json, span: Span, envoy: &'static str) -> Vec<Diagnostic> {
    crate::envoy_config::check_bootstrap(&json_value(json, span), &[envoy])
}

/// The same diagnostic from several versions is reported once.
fn merge_diagnostics(into: &mut Vec<Diagnostic>, found: Vec<Diagnostic>) {
    for diagnostic in found {
        if !into.iter().any(|d| {
            d.code == diagnostic.code
                && d.message == diagnostic.message
                && d.primary_span() == diagnostic.primary_span()
        }) {
            into.push(diagnostic);
        }
    }
}

/// A JSON value as the schema checker reads values, every node at `span`.
fn json_value(json: &Json, span: Span) -> Value {
    let kind = match json {
        Json::Null => ValueKind::Null,
        Json::Bool(b) => ValueKind::Bool(*b),
        Json::Number(n) => ValueKind::Number { value: n.as_f64().unwrap_or(0.0), raw: n.to_string() },
        Json::String(s) => {
            ValueKind::String(StringLit { value: s.clone(), style: StringStyle::Plain, tag: None, span })
        }
        Json::Array(items) => ValueKind::List(items.iter().map(|item| json_value(item, span)).collect()),
        Json::Object(map) => ValueKind::Object(
            map.iter()
                .map(|(key, item)| Entry {
                    key: Key { name: key.clone(), span, quoted: true },
                    value: json_value(item, span),
                    span,
                })
                .collect(),
        ),
    };
    Value { kind, span }
}
