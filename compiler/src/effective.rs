//! What a workload gets from the package's resources, merged as istiod merges them.
//!
//! istiod layers Telemetry resources: the namespace-wide one of the root namespace,
//! then the namespace-wide one of the workload's namespace, then the first one whose
//! selector the workload's labels satisfy (pilot/pkg/model/telemetry.go,
//! `applicableTelemetries`). Each signal merges the layers in its own way:
//!
//! - metrics (`mergeMetrics`): the providers are those of the last layer that names
//!   any (MeshConfig's default providers otherwise); overrides apply in layer order,
//!   per provider, mode and metric, a later `disabled` or tag override replacing an
//!   earlier one, so a mesh-wide `remove tag` survives a namespace's own tag;
//!   disabling `ALL_METRICS` drops the provider until a later layer overrides any
//!   metric of it;
//! - tracing (`Tracing`): each layer's fields replace the earlier ones when set (the
//!   first provider of a layer that names providers, sampling, custom tags as a
//!   whole, span reporting);
//! - access logging (`mergeLogs`): the providers are those of the last layer that
//!   names any; every entry applies in order to the providers it names (or its
//!   parent's), an entry marked disabled removing them, and each keeps the filter its
//!   last entry gave it.
//!
//! The raw Envoy target and `meshc explain` read the result; nothing here knows how
//! it becomes Envoy configuration.

use crate::model::istio::{self as m, Resource};
use crate::model::{Generated, Lowered, TagSource};
use crate::span::Span;
use std::collections::{BTreeMap, BTreeSet};

/// A workload: where it runs and how it is labelled.
#[derive(Clone, Copy, Debug)]
pub struct Workload<'a> {
    pub namespace: &'a str,
    pub labels: &'a BTreeMap<String, String>,
}

/// Which side of a request the proxy reports: the server side (a sidecar's inbound
/// listener) or the client side (a sidecar's outbound listener, a gateway).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

impl Side {
    fn takes(self, mode: Option<m::WorkloadMode>) -> bool {
        match (mode, self) {
            (None | Some(m::WorkloadMode::ClientAndServer), _) => true,
            (Some(m::WorkloadMode::Client), Side::Client) | (Some(m::WorkloadMode::Server), Side::Server) => true,
            _ => false,
        }
    }
}

/// A tag override that survived the merge.
#[derive(Clone, Debug, PartialEq)]
pub enum TagChange {
    Remove,
    Upsert {
        /// The CEL expression, as written.
        value: String,
        /// What it reads, when the checker could tell.
        source: Option<TagSource>,
    },
}

/// One metric's merged overrides: whether it is disabled, and its tag changes with the
/// statement each came from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricOverride {
    pub disabled: bool,
    pub tags: BTreeMap<String, (TagChange, Span)>,
}

/// The merged metrics of one provider for the workload's side.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProviderMetrics {
    /// Overrides by metric name (`REQUEST_COUNT`, or a custom metric's name).
    pub metrics: BTreeMap<String, MetricOverride>,
    /// The Telemetry block the provider's configuration last came from, if any.
    pub origin: Option<Span>,
}

/// The merged tracing of the workload's side.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tracing {
    pub provider: Option<String>,
    pub disabled: bool,
    /// Percent; Istio samples 1% when no layer sets it.
    pub sampling: Option<f64>,
    pub custom_tags: BTreeMap<String, (m::CustomTag, Span)>,
    pub use_request_id_for_trace_sampling: Option<bool>,
    /// The tracing blocks merged, most specific last.
    pub origins: Vec<Span>,
}

/// An access log the workload writes.
#[derive(Clone, Debug, PartialEq)]
pub struct AccessLog {
    pub provider: String,
    /// The CEL filter of the entry that last configured the provider.
    pub filter: Option<String>,
    pub origin: Span,
}

/// Everything Telemetry gives a workload on one side.
#[derive(Clone, Debug, Default)]
pub struct Telemetry<'a> {
    /// The Telemetry resources that apply, root namespace first.
    pub layers: Vec<&'a Generated>,
    /// Metrics by provider name.
    pub metrics: BTreeMap<String, ProviderMetrics>,
    /// `None` when no layer configures tracing.
    pub tracing: Option<Tracing>,
    pub access_logs: Vec<AccessLog>,
}

fn telemetry_of(generated: &Generated) -> Option<&m::Telemetry> {
    match &generated.resource {
        Resource::Telemetry(telemetry) => Some(telemetry),
        _ => None,
    }
}

/// The Telemetry resources that apply to a workload, in istiod's order.
pub fn telemetry_layers<'a>(lowered: &'a Lowered, root_namespace: &str, workload: Workload<'_>) -> Vec<&'a Generated> {
    let telemetries: Vec<(&'a Generated, &'a m::Telemetry)> =
        lowered.resources.iter().filter_map(|g| telemetry_of(g).map(|t| (g, t))).collect();
    let namespace_wide = |namespace: &str| {
        telemetries
            .iter()
            .find(|(_, t)| {
                t.metadata.namespace == namespace
                    && t.spec.target_refs.is_empty()
                    && t.spec.selector.as_ref().is_none_or(|s| s.match_labels.is_empty())
            })
            .map(|(g, _)| *g)
    };
    let mut layers = Vec::new();
    layers.extend(namespace_wide(root_namespace));
    if workload.namespace != root_namespace {
        layers.extend(namespace_wide(workload.namespace));
    }
    // Every Telemetry whose selector the workload satisfies, in order (Istio asks for
    // one; with several, each is a layer).
    let selected = telemetries.iter().filter(|(_, t)| {
        t.metadata.namespace == workload.namespace
            && t.spec.selector.as_ref().is_some_and(|s| {
                !s.match_labels.is_empty() && s.match_labels.iter().all(|(k, v)| workload.labels.get(k) == Some(v))
            })
    });
    layers.extend(selected.map(|(g, _)| *g));
    layers
}

/// The Telemetry a workload gets on `side`, merged from its layers. `metric_names`
/// are the standard metrics `ALL_METRICS` stands for.
pub fn telemetry<'a>(lowered: &'a Lowered, root_namespace: &str, workload: Workload<'_>, side: Side) -> Telemetry<'a> {
    let layers = telemetry_layers(lowered, root_namespace, workload);
    let metric_names: Vec<String> =
        lowered.standard_metrics.iter().map(|m| m.name.clone()).filter(|n| n != "ALL_METRICS").collect();
    let defaults = &lowered.default_providers;
    Telemetry {
        metrics: merge_metrics(&layers, side, &metric_names, &defaults.metrics),
        tracing: merge_tracing(&layers, side, &defaults.tracing),
        access_logs: merge_logs(&layers, side, defaults),
        layers,
    }
}

fn provider_names(refs: &[m::ProviderRef]) -> Vec<String> {
    refs.iter().map(|p| p.name.clone()).collect()
}

fn merge_metrics(
    layers: &[&Generated],
    side: Side,
    metric_names: &[String],
    default: &[String],
) -> BTreeMap<String, ProviderMetrics> {
    // Each `metrics` block with its resource and index, in layer order.
    let blocks: Vec<(&Generated, usize, &m::Metrics)> = layers
        .iter()
        .filter_map(|g| telemetry_of(g).map(|t| (*g, t)))
        .flat_map(|(g, t)| t.spec.metrics.iter().enumerate().map(move |(i, b)| (g, i, b)))
        .collect();
    let default: Vec<String> = default.to_vec();
    let mut out: BTreeMap<String, ProviderMetrics> = BTreeMap::new();
    if blocks.is_empty() {
        for provider in &default {
            out.insert(provider.clone(), ProviderMetrics::default());
        }
        return out;
    }
    let in_scope: BTreeSet<String> = blocks
        .iter()
        .map(|(_, _, b)| provider_names(&b.providers))
        .filter(|names| !names.is_empty())
        .next_back()
        .unwrap_or_else(|| default.clone())
        .into_iter()
        .collect();
    let mut parent = default;
    let mut all_disabled: BTreeSet<String> = BTreeSet::new();
    for (generated, index, block) in &blocks {
        let mut names = provider_names(&block.providers);
        if names.is_empty() {
            names = parent.clone();
        }
        parent = names.clone();
        for provider in names.iter().filter(|p| in_scope.contains(*p)) {
            let merged = out.entry(provider.clone()).or_default();
            merged.origin = Some(generated.span_of(&format!("spec.metrics.{index}")));
            for (override_index, o) in block.overrides.iter().enumerate() {
                let selector = o.match_.as_ref();
                let all_metrics = selector.and_then(|s| s.metric.as_deref()) == Some("ALL_METRICS");
                if all_metrics && o.disabled == Some(true) {
                    all_disabled.insert(provider.clone());
                    continue;
                }
                // A later layer that overrides any metric brings the provider back.
                all_disabled.remove(provider);
                if !side.takes(selector.and_then(|s| s.mode)) {
                    continue;
                }
                let names: Vec<String> =
                    match (selector.and_then(|s| s.custom_metric.clone()), selector.and_then(|s| s.metric.clone())) {
                        (Some(custom), _) => vec![custom],
                        (None, Some(metric)) if metric != "ALL_METRICS" => vec![metric],
                        _ => metric_names.to_vec(),
                    };
                let path = format!("spec.metrics.{index}.overrides.{override_index}");
                for name in names {
                    let metric = merged.metrics.entry(name).or_default();
                    if let Some(disabled) = o.disabled {
                        metric.disabled = disabled;
                    }
                    for (tag, tag_override) in &o.tag_overrides {
                        let change = match tag_override.operation {
                            Some(m::TagOperation::Remove) => TagChange::Remove,
                            _ => TagChange::Upsert {
                                value: tag_override.value.clone().unwrap_or_default(),
                                source: tag_override.value_source.clone(),
                            },
                        };
                        metric
                            .tags
                            .insert(tag.clone(), (change, generated.span_of(&format!("{path}.tagOverrides.{tag}"))));
                    }
                }
            }
        }
    }
    out.retain(|provider, _| !all_disabled.contains(provider));
    out
}

fn merge_tracing(layers: &[&Generated], side: Side, default: &[String]) -> Option<Tracing> {
    // MeshConfig's default tracing provider traces every workload no layer configures.
    let mut merged: Option<Tracing> =
        default.first().map(|provider| Tracing { provider: Some(provider.clone()), ..Tracing::default() });
    for generated in layers {
        let Some(telemetry) = telemetry_of(generated) else { continue };
        for (index, block) in telemetry.spec.tracing.iter().enumerate() {
            if !side.takes(block.match_.as_ref().and_then(|s| s.mode)) {
                continue;
            }
            let tracing = merged.get_or_insert_with(Tracing::default);
            let path = format!("spec.tracing.{index}");
            tracing.origins.push(generated.span_of(&path));
            if let Some(first) = block.providers.first() {
                tracing.provider = Some(first.name.clone());
            }
            if let Some(disabled) = block.disable_span_reporting {
                tracing.disabled = disabled;
            }
            // istiod replaces custom tags as a whole, unlike metric tags.
            if !block.custom_tags.is_empty() {
                tracing.custom_tags = block
                    .custom_tags
                    .iter()
                    .map(|(name, tag)| {
                        (name.clone(), (tag.clone(), generated.span_of(&format!("{path}.customTags.{name}"))))
                    })
                    .collect();
            }
            if let Some(sampling) = block.random_sampling_percentage {
                tracing.sampling = Some(sampling);
            }
            if let Some(use_request_id) = block.use_request_id_for_trace_sampling {
                tracing.use_request_id_for_trace_sampling = Some(use_request_id);
            }
        }
    }
    merged
}

fn merge_logs(layers: &[&Generated], side: Side, defaults: &crate::model::DefaultProviders) -> Vec<AccessLog> {
    // The entries of each layer, in order.
    let levels: Vec<Vec<(&Generated, usize, &m::AccessLogging)>> = layers
        .iter()
        .filter_map(|g| telemetry_of(g).map(|t| (*g, t)))
        .filter(|(_, t)| !t.spec.access_logging.is_empty())
        .map(|(g, t)| t.spec.access_logging.iter().enumerate().map(|(i, a)| (g, i, a)).collect())
        .collect();
    // istiod's first pass: among the entries of this side, the most specific layer
    // that names providers decides which are in scope, and each provider keeps the
    // filter its last entry of this side gave it (an entry naming no provider gives
    // none).
    let mut in_scope: BTreeSet<String> = defaults.access_logging.iter().cloned().collect();
    if levels.is_empty() {
        // No Telemetry logs: MeshConfig's default providers, without filters.
        let Some(origin) = defaults.origin else { return Vec::new() };
        return in_scope.into_iter().map(|provider| AccessLog { provider, filter: None, origin }).collect();
    }
    let mut filters: BTreeMap<String, Option<String>> = BTreeMap::new();
    for level in &levels {
        let mut names: BTreeSet<String> = BTreeSet::new();
        for (_, _, entry) in level {
            if !side.takes(entry.match_.as_ref().and_then(|s| s.mode)) {
                continue;
            }
            for provider in provider_names(&entry.providers) {
                filters.insert(provider.clone(), entry.filter.as_ref().map(|f| f.expression.clone()));
                names.insert(provider);
            }
        }
        if !names.is_empty() {
            in_scope = names;
        }
    }
    let mut providers: BTreeMap<String, (Option<String>, Span)> = BTreeMap::new();
    let mut parent: Vec<String> = defaults.access_logging.clone();
    for (generated, index, entry) in levels.iter().flatten() {
        let mut names = provider_names(&entry.providers);
        if names.is_empty() {
            names = parent.clone();
        }
        parent = names.clone();
        for provider in names.into_iter().filter(|p| in_scope.contains(p)) {
            if !side.takes(entry.match_.as_ref().and_then(|s| s.mode)) {
                continue;
            }
            if entry.disabled == Some(true) {
                providers.remove(&provider);
                continue;
            }
            let filter = filters.get(&provider).cloned().flatten();
            providers.insert(provider, (filter, generated.span_of(&format!("spec.accessLogging.{index}"))));
        }
    }
    providers.into_iter().map(|(provider, (filter, origin))| AccessLog { provider, filter, origin }).collect()
}
