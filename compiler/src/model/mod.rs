//! The lowered package: what the checker decided each declaration means, as plain
//! data that every later phase reads (the Istio emitter, the raw Envoy target, the
//! smoke runner, the IDE queries).
//!
//! This module sits at the bottom of the core: it imports nothing above `syntax`,
//! so that the checker, the targets and the driver can all depend on it without
//! depending on each other.

pub mod istio;
pub mod node;
pub mod policy;
pub mod proxy;
pub mod smoke;

use crate::span::{FileId, Span};
use crate::syntax::ast;
use std::collections::BTreeMap;

/// One parsed `.mesh` file (package or stdlib).
#[derive(Clone, Debug)]
pub(crate) struct ParsedFile {
    pub(crate) file: FileId,
    pub(crate) ast: ast::File,
}

/// A resource the package generates, with the declaration it came from.
#[derive(Clone, Debug)]
pub struct Generated {
    pub resource: istio::Resource,
    /// The span of the declaration's name, for diagnostics about the whole resource.
    pub origin: Span,
    /// Where parts of the resource were written, so that a later phase (the raw Envoy
    /// target) can point at the statement behind the part it reports on.
    pub spans: SpanIndex,
    /// For a resource read from Kubernetes YAML: the document as written, which is what
    /// the cluster sees, including fields the model does not keep.
    pub document: Option<serde_json::Value>,
}

impl Generated {
    pub fn new(resource: istio::Resource, origin: Span) -> Generated {
        Generated { resource, origin, spans: SpanIndex::default(), document: None }
    }

    /// The span of the statement that produced the part of the resource at `path`
    /// (`spec.tracing.0.customTags.user`): the innermost part recorded while
    /// lowering, else the declaration's name.
    pub fn span_of(&self, path: &str) -> Span {
        self.spans.find(path).unwrap_or(self.origin)
    }
}

/// Spans by the path of the part of a resource they produced, as the checker records
/// them while lowering: `spec.configPatches.2`, `spec.tracing.0.customTags.user`.
/// Paths use the resource's field names and list indexes, separated by dots.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpanIndex {
    entries: Vec<(String, Span)>,
}

impl SpanIndex {
    pub fn record(&mut self, path: impl Into<String>, span: Span) {
        self.entries.push((path.into(), span));
    }

    /// Whether a span was recorded for exactly `path`.
    pub fn has(&self, path: &str) -> bool {
        self.entries.iter().any(|(p, _)| p == path)
    }

    /// The span recorded for `path`, else for its nearest recorded parent, else for the
    /// first part recorded inside it (a whole list the checker recorded item by item).
    pub fn find_near(&self, path: &str) -> Option<Span> {
        self.find(path).or_else(|| {
            let prefix = format!("{path}.");
            self.entries.iter().find(|(p, _)| p.starts_with(&prefix)).map(|(_, span)| *span)
        })
    }

    /// The span recorded for `path` or, failing that, for its nearest recorded parent.
    pub fn find(&self, path: &str) -> Option<Span> {
        let mut current = path;
        loop {
            if let Some((_, span)) = self.entries.iter().rev().find(|(p, _)| p == current) {
                return Some(*span);
            }
            current = &current[..current.rfind('.')?];
        }
    }
}

/// The files a package names by path, which the host reads for the core: the Wasm
/// modules of `file://` WasmPlugin URLs. The core never opens a file itself.
pub trait Assets {
    /// The bytes of the file at `path` (as written after `file://`, relative to the
    /// package directory), or `None` when it cannot be read.
    fn read(&self, path: &str) -> Option<Vec<u8>>;
}

/// Files held in memory, by path: for tests, and for hosts that read ahead.
impl Assets for BTreeMap<String, Vec<u8>> {
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        self.get(path).cloned()
    }
}

/// No files at all: every `file://` module is unreadable.
pub struct NoAssets;

impl Assets for NoAssets {
    fn read(&self, _path: &str) -> Option<Vec<u8>> {
        None
    }
}

/// Where the raw Envoy target's stats module finds the value of a metric tag, as the
/// checker read it from the tag's CEL expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TagSource {
    /// A fixed value.
    Literal(String),
    /// A request header, by its name in lower case, as Envoy keeps header names.
    RequestHeader(String),
    /// An attribute, by the names of its path: `["request", "host"]`.
    Attribute(Vec<String>),
}

/// A standard Istio metric from `std.metrics`.
#[derive(Clone, Debug)]
pub struct MetricInfo {
    pub name: String,
    /// The Prometheus name (`istio_requests_total`), none for `ALL_METRICS`.
    pub prometheus: Option<String>,
    /// `counter`, `histogram` or `all`.
    pub kind: String,
    pub labels: Vec<String>,
    pub doc: String,
}

/// What checking a package lowered, besides its diagnostics.
#[derive(Clone, Debug, Default)]
pub struct Lowered {
    pub resources: Vec<Generated>,
    /// `proxy` declarations: the Envoys of the raw Envoy target.
    pub proxies: Vec<proxy::ProxyDecl>,
    /// `smoke` scenarios, each against one of `proxies` or one WasmPlugin alone.
    pub smokes: Vec<smoke::SmokeScenario>,
    /// The standard Istio metrics of `std.metrics`, which the raw Envoy target reports.
    pub standard_metrics: Vec<MetricInfo>,
    /// MeshConfig's `defaultProviders`: the cluster's, when mesh.toml names its
    /// MeshConfig, and a Helm install's otherwise.
    pub default_providers: DefaultProviders,
    /// The resources of the Kubernetes YAML files given to `meshc check`: checked like
    /// the package's own, never emitted.
    pub linted: Vec<Generated>,
    /// The policy rules in force: the package's own and those of imported stdlib
    /// modules, with mesh.toml's severities.
    pub rules: Vec<policy::Rule>,
}

/// The providers of each signal that apply where no Telemetry names one (MeshConfig
/// `defaultProviders`).
#[derive(Clone, Debug, PartialEq)]
pub struct DefaultProviders {
    pub metrics: Vec<String>,
    pub tracing: Vec<String>,
    pub access_logging: Vec<String>,
    /// Where they were read, when they came from the cluster's MeshConfig.
    pub origin: Option<Span>,
}

impl Default for DefaultProviders {
    /// What the istiod Helm chart writes into the MeshConfig when its values set no
    /// `defaultProviders`: Prometheus metrics, and nothing else.
    fn default() -> DefaultProviders {
        DefaultProviders {
            metrics: vec!["prometheus".to_string()],
            tracing: Vec::new(),
            access_logging: Vec::new(),
            origin: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_is_found_at_the_nearest_recorded_parent() {
        let at = |start| Span::new(FileId(0), start, start + 1);
        let mut index = SpanIndex::default();
        index.record("spec.tracing.0", at(1));
        index.record("spec.tracing.0.customTags.user", at(2));
        assert_eq!(index.find("spec.tracing.0.customTags.user"), Some(at(2)));
        assert_eq!(index.find("spec.tracing.0.customTags.other"), Some(at(1)));
        assert_eq!(index.find("spec.tracing.0"), Some(at(1)));
        assert_eq!(index.find("spec.metrics.0"), None);
    }
}
