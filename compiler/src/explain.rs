//! What a workload gets from a package, per targeted Istio release: the Telemetry
//! layers merged as istiod merges them, the WasmPlugins in the order istiod inserts
//! them, and where each EnvoyFilter patch lands in the HTTP filter chains that
//! release generates. `meshc explain --workload` prints it; the language server shows
//! it on selectors; the raw Envoy target builds its filter chain from the same
//! [`http_chain`].
//!
//! Everything here reads the lowered model and the release tables; it does no IO
//! and knows nothing of how it is displayed beyond the plain-text rendering.

use crate::effective::{self, Side, TagChange, Workload};
use crate::istio_release::{ReleaseModel, release_model};
use crate::model::istio::{self as m, Resource};
use crate::model::node::Node;
use crate::model::{Generated, Lowered};
use crate::span::Span;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The proxy contexts of a sidecar, whose chains are explained by default.
pub const SIDECAR_CONTEXTS: &[(&str, Side)] = &[("SIDECAR_INBOUND", Side::Server), ("SIDECAR_OUTBOUND", Side::Client)];
/// The proxy context of a gateway, which reports as the client side.
pub const GATEWAY_CONTEXTS: &[(&str, Side)] = &[("GATEWAY", Side::Client)];

/// A WasmPlugin that applies, in istiod's order.
#[derive(Clone, Debug)]
pub struct AppliedPlugin<'a> {
    pub plugin: &'a m::WasmPlugin,
    pub origin: Span,
    /// The filter name the release gives it.
    pub filter_name: String,
    pub phase: String,
}

/// An entry of a generated HTTP filter chain.
#[derive(Clone, Debug)]
pub struct ChainEntry {
    pub name: String,
    /// Present only when this holds (a conditional filter of the release's table).
    pub when: Option<String>,
    /// What put it there: a WasmPlugin or an EnvoyFilter patch, with its declaration.
    pub origin: Option<(String, Span)>,
    /// The filter's value, for filters a patch inserted or replaced.
    pub value: Option<Node>,
    /// Patches that merged into it.
    pub merged: Vec<(String, Span)>,
}

/// A patch and what became of it in one chain.
#[derive(Clone, Debug)]
pub struct PatchOutcome {
    /// `namespace/name`.
    pub resource: String,
    pub origin: Span,
    pub apply_to: String,
    pub operation: String,
    /// What happened, in words: `inserted before envoy.filters.http.router`.
    pub outcome: String,
}

/// One HTTP filter chain of a release.
#[derive(Clone, Debug)]
pub struct Chain {
    pub context: &'static str,
    pub entries: Vec<ChainEntry>,
    /// The patches for this context that are not HTTP filter patches, or that found
    /// nothing to act on.
    pub other_patches: Vec<PatchOutcome>,
}

/// Everything a workload gets in one release.
#[derive(Clone, Debug)]
pub struct ReleaseExplanation<'a> {
    pub release: &'static ReleaseModel,
    pub server: effective::Telemetry<'a>,
    pub client: effective::Telemetry<'a>,
    pub plugins: Vec<AppliedPlugin<'a>>,
    pub chains: Vec<Chain>,
}

/// Which resources select a workload, the way istiod scopes them: mesh-wide from the
/// root namespace, namespace-wide, or by a selector the workload's labels satisfy;
/// a selector in the root namespace selects workloads of every namespace
/// (push_context.go), except a Telemetry's, which selects only its own namespace's.
/// Resources attached by `targetRefs` select services and gateways instead.
pub fn selects(resource: &Resource, root_namespace: &str, workload: Workload<'_>) -> bool {
    let (metadata, labels, has_targets) = match resource {
        Resource::Telemetry(t) => {
            (&t.metadata, t.spec.selector.as_ref().map(|s| &s.match_labels), !t.spec.target_refs.is_empty())
        }
        Resource::WasmPlugin(w) => {
            (&w.metadata, w.spec.selector.as_ref().map(|s| &s.match_labels), !w.spec.target_refs.is_empty())
        }
        Resource::EnvoyFilter(f) => {
            (&f.metadata, f.spec.workload_selector.as_ref().map(|s| &s.labels), !f.spec.target_refs.is_empty())
        }
    };
    if has_targets {
        return false;
    }
    let from_root = metadata.namespace == root_namespace && !matches!(resource, Resource::Telemetry(_));
    match labels {
        Some(labels) if !labels.is_empty() => {
            (metadata.namespace == workload.namespace || from_root)
                && labels.iter().all(|(k, v)| workload.labels.get(k) == Some(v))
        }
        _ => metadata.namespace == workload.namespace || metadata.namespace == root_namespace,
    }
}

/// The WasmPlugins of the package that apply to `workload` on `side`, in the order
/// istiod inserts them: by phase, then higher priority first (unset is lowest), then
/// the workload's own namespace before the root namespace's, then the older resource
/// (declaration order stands for creation order).
pub fn applied_plugins<'a>(
    lowered: &'a Lowered,
    model: &ReleaseModel,
    root_namespace: &str,
    workload: Workload<'_>,
    side: Side,
) -> Vec<AppliedPlugin<'a>> {
    let mut plugins: Vec<(usize, AppliedPlugin<'a>)> = Vec::new();
    for (index, generated) in lowered.resources.iter().enumerate() {
        let Resource::WasmPlugin(plugin) = &generated.resource else { continue };
        if !selects(&generated.resource, root_namespace, workload) || plugin.spec.type_.as_deref() == Some("NETWORK") {
            continue;
        }
        let mode_fits = plugin.spec.match_.is_empty()
            || plugin.spec.match_.iter().any(|m| match (m.mode.as_deref(), side) {
                (None | Some("UNDEFINED") | Some("CLIENT_AND_SERVER"), _) => true,
                (Some("CLIENT"), Side::Client) | (Some("SERVER"), Side::Server) => true,
                _ => false,
            });
        if !mode_fits {
            continue;
        }
        let phase = plugin.spec.phase.clone().unwrap_or_else(|| "UNSPECIFIED_PHASE".to_string());
        plugins.push((
            index,
            AppliedPlugin {
                plugin,
                origin: generated.origin,
                filter_name: model.wasm_filter_name(&plugin.metadata.namespace, &plugin.metadata.name),
                phase,
            },
        ));
    }
    plugins.sort_by_key(|(index, p)| {
        (
            std::cmp::Reverse(p.plugin.spec.priority.unwrap_or(i32::MIN)),
            p.plugin.metadata.namespace != workload.namespace,
            *index,
        )
    });
    plugins.into_iter().map(|(_, p)| p).collect()
}

/// The EnvoyFilters that apply to a workload in `release`, in istiod's order: by
/// priority, the root namespace's first at equal priority, then creation order.
pub fn applied_envoy_filters<'a>(
    lowered: &'a Lowered,
    root_namespace: &str,
    workload: Workload<'_>,
) -> Vec<(&'a Generated, &'a m::EnvoyFilter)> {
    let mut filters: Vec<(i32, bool, usize, &'a Generated, &'a m::EnvoyFilter)> = Vec::new();
    for (index, generated) in lowered.resources.iter().enumerate() {
        let Resource::EnvoyFilter(filter) = &generated.resource else { continue };
        if selects(&generated.resource, root_namespace, workload) {
            let not_root = filter.metadata.namespace != root_namespace;
            filters.push((filter.spec.priority.unwrap_or(0), not_root, index, generated, filter));
        }
    }
    filters.sort_by_key(|(priority, not_root, index, _, _)| (*priority, *not_root, *index));
    filters.into_iter().map(|(_, _, _, g, f)| (g, f)).collect()
}

/// Whether a patch's `proxy_version` lets it reach proxies of `release`.
pub(crate) fn reaches_release(patch: &m::EnvoyConfigObjectPatch, release: &ReleaseModel) -> bool {
    let Some(pattern) = patch.match_.as_ref().and_then(|m| m.proxy.as_ref()).and_then(|p| p.proxy_version.as_deref())
    else {
        return true;
    };
    if release.envoy_filter.proxy_version_max_length.is_some_and(|max| pattern.len() > max) {
        return false;
    }
    regex::Regex::new(pattern).is_ok_and(|r| (0..100).any(|patch| r.is_match(&format!("{}.{patch}", release.release))))
}

/// The HTTP filter chain `release` generates for `context` with the package's
/// WasmPlugins in it, then the package's HTTP_FILTER patches applied as istiod
/// applies them; patches of that context that are not HTTP filter patches are
/// listed as they are.
pub fn http_chain(
    release: &ReleaseModel,
    context: &'static str,
    plugins: &[AppliedPlugin<'_>],
    filters: &[(&Generated, &m::EnvoyFilter)],
) -> Chain {
    let mut entries: Vec<ChainEntry> = Vec::new();
    for filter in release.http_filters.get(context).map(Vec::as_slice).unwrap_or_default() {
        match (&filter.name, &filter.wasm_phase) {
            (Some(name), _) => entries.push(ChainEntry {
                name: name.clone(),
                when: filter.when.clone(),
                origin: None,
                value: None,
                merged: Vec::new(),
            }),
            (None, Some(phase)) => {
                for plugin in plugins.iter().filter(|p| &p.phase == phase) {
                    entries.push(ChainEntry {
                        name: plugin.filter_name.clone(),
                        when: None,
                        origin: Some((
                            format!("WasmPlugin {}/{}", plugin.plugin.metadata.namespace, plugin.plugin.metadata.name),
                            plugin.origin,
                        )),
                        value: None,
                        merged: Vec::new(),
                    });
                }
            }
            (None, None) => {}
        }
    }
    let mut other_patches = Vec::new();
    let mut merges: Vec<(&m::EnvoyConfigObjectPatch, PatchOutcome)> = Vec::new();
    for (generated, filter) in filters {
        let resource = format!("{}/{}", filter.metadata.namespace, filter.metadata.name);
        for (index, patch) in filter.spec.config_patches.iter().enumerate() {
            let patch_context = patch.match_.as_ref().and_then(|m| m.context.as_deref()).unwrap_or("ANY");
            if !reaches_release(patch, release) {
                continue;
            }
            if patch_context != "ANY" && patch_context != context {
                // Patches for a kind of proxy not explained here are still listed.
                let other_kinds = ["SIDECAR_INBOUND", "SIDECAR_OUTBOUND"].contains(&context)
                    != ["SIDECAR_INBOUND", "SIDECAR_OUTBOUND"].contains(&patch_context);
                if other_kinds && context != "SIDECAR_OUTBOUND" {
                    other_patches.push(PatchOutcome {
                        resource: resource.clone(),
                        origin: generated.span_of(&format!("spec.configPatches.{index}")),
                        apply_to: patch.apply_to.clone().unwrap_or_default(),
                        operation: patch.patch.as_ref().and_then(|p| p.operation.clone()).unwrap_or_default(),
                        outcome: format!("for {patch_context} proxies, not shown here"),
                    });
                }
                continue;
            }
            let origin = generated.span_of(&format!("spec.configPatches.{index}"));
            let apply_to = patch.apply_to.clone().unwrap_or_default();
            let operation = patch.patch.as_ref().and_then(|p| p.operation.clone()).unwrap_or_default();
            let mut outcome = PatchOutcome {
                resource: resource.clone(),
                origin,
                apply_to: apply_to.clone(),
                operation: operation.clone(),
                outcome: String::new(),
            };
            if apply_to != "HTTP_FILTER" {
                outcome.outcome = if release.applies_operation(&apply_to, &operation) {
                    format!("{} {}", release.effective_operation(&apply_to, &operation), apply_to)
                } else {
                    format!("ignored by istiod {}", release.release)
                };
                other_patches.push(outcome);
                continue;
            }
            let network_filter = patch
                .match_
                .as_ref()
                .and_then(|m| m.listener.as_ref())
                .and_then(|l| l.filter_chain.as_ref())
                .and_then(|c| c.filter.as_ref())
                .and_then(|f| f.name.as_deref());
            if network_filter.is_some_and(|name| name != "envoy.filters.network.http_connection_manager") {
                outcome.outcome = "matches no connection manager: nothing happens".into();
                other_patches.push(outcome);
                continue;
            }
            // istiod merges after every other HTTP filter patch (listener_patch.go).
            if operation == "MERGE" {
                merges.push((patch, outcome));
                continue;
            }
            let what = format!("EnvoyFilter {resource}, {operation}");
            outcome.outcome = apply_http_filter_patch(&mut entries, patch, &operation, (what, origin));
            if !outcome.outcome.is_empty() {
                other_patches.push(outcome);
            }
        }
    }
    for (patch, mut outcome) in merges {
        let anchor = sub_filter_name(patch);
        let mut merged = false;
        // Into every filter of the name; WasmPlugin filters come by ECDS with no
        // typed_config, which istiod skips.
        for entry in entries.iter_mut().filter(|e| Some(&e.name) == anchor.as_ref()) {
            if entry.origin.as_ref().is_some_and(|(what, _)| what.starts_with("WasmPlugin")) {
                continue;
            }
            entry.merged.push((format!("EnvoyFilter {}, MERGE", outcome.resource), outcome.origin));
            merged = true;
        }
        if !merged {
            outcome.outcome = match anchor {
                Some(name) => format!("nothing to merge into: no `{name}` with a typed_config in the chain"),
                None => "names no filter: nothing happens".into(),
            };
            other_patches.push(outcome);
        }
    }
    Chain { context, entries, other_patches }
}

/// Applies one HTTP_FILTER patch to a chain as istiod's listener_patch.go does:
/// positional operations act on the first filter of the anchor's name, REMOVE on all
/// of them; without an anchor INSERT_BEFORE prepends and INSERT_AFTER appends. Returns
/// what to say about a patch that did not change the chain, or nothing.
fn apply_http_filter_patch(
    entries: &mut Vec<ChainEntry>,
    patch: &m::EnvoyConfigObjectPatch,
    operation: &str,
    origin: (String, Span),
) -> String {
    let anchor = sub_filter_name(patch);
    let value = patch.patch.as_ref().and_then(|p| p.value.clone());
    let new_entry = |value: &Option<Node>| ChainEntry {
        name: value.as_ref().and_then(|v| v.get("name")).and_then(Node::as_str).unwrap_or("(unnamed)").to_string(),
        when: None,
        origin: Some(origin.clone()),
        value: value.clone(),
        merged: Vec::new(),
    };
    let position = anchor.as_ref().and_then(|name| entries.iter().position(|e| &e.name == name));
    let missing = || match &anchor {
        Some(name) => format!("no `{name}` in the chain: nothing happens"),
        None => "names no filter: nothing happens".to_string(),
    };
    match operation {
        "INSERT_FIRST" => entries.insert(0, new_entry(&value)),
        "ADD" => entries.push(new_entry(&value)),
        "INSERT_BEFORE" => match (anchor.is_some(), position) {
            (false, _) => entries.insert(0, new_entry(&value)),
            (true, Some(at)) => entries.insert(at, new_entry(&value)),
            (true, None) => return missing(),
        },
        "INSERT_AFTER" => match (anchor.is_some(), position) {
            (false, _) => entries.push(new_entry(&value)),
            (true, Some(at)) => entries.insert(at + 1, new_entry(&value)),
            (true, None) => return missing(),
        },
        "REPLACE" => match position {
            Some(at) => entries[at] = new_entry(&value),
            None => return missing(),
        },
        "REMOVE" => {
            let before = entries.len();
            if let Some(name) = &anchor {
                entries.retain(|e| &e.name != name);
            }
            if entries.len() == before {
                return missing();
            }
            return format!("removed `{}`", anchor.unwrap_or_default());
        }
        _ => return format!("{operation} is not applied to HTTP filters"),
    }
    String::new()
}

/// The HTTP filter an HTTP_FILTER patch names (`sub_filter`), if any.
fn sub_filter_name(patch: &m::EnvoyConfigObjectPatch) -> Option<String> {
    patch
        .match_
        .as_ref()
        .and_then(|m| m.listener.as_ref())
        .and_then(|l| l.filter_chain.as_ref())
        .and_then(|c| c.filter.as_ref())
        .and_then(|f| f.sub_filter.as_ref())
        .and_then(|s| s.name.clone())
}

/// What `workload` gets in each of `releases`.
pub fn explain<'a>(
    lowered: &'a Lowered,
    root_namespace: &str,
    workload: Workload<'_>,
    releases: &[&str],
    contexts: &'static [(&'static str, Side)],
) -> Vec<ReleaseExplanation<'a>> {
    let filters = applied_envoy_filters(lowered, root_namespace, workload);
    releases
        .iter()
        .filter_map(|release| release_model(release))
        .map(|release| {
            let mut chains = Vec::new();
            let mut plugins = Vec::new();
            for &(context, side) in contexts {
                let applied = applied_plugins(lowered, release, root_namespace, workload, side);
                chains.push(http_chain(release, context, &applied, &filters));
                for plugin in applied {
                    if !plugins.iter().any(|p: &AppliedPlugin<'_>| std::ptr::eq(p.plugin, plugin.plugin)) {
                        plugins.push(plugin);
                    }
                }
            }
            ReleaseExplanation {
                release,
                server: effective::telemetry(lowered, root_namespace, workload, Side::Server),
                client: effective::telemetry(lowered, root_namespace, workload, Side::Client),
                plugins,
                chains,
            }
        })
        .collect()
}

/// Renders explanations as text; `locate` turns a span into `file:line`.
pub fn render_text(
    workload: Workload<'_>,
    explanations: &[ReleaseExplanation<'_>],
    locate: &dyn Fn(Span) -> String,
) -> String {
    let mut text = String::new();
    let labels: Vec<String> = workload.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    // A release whose explanation is the previous one's says so instead of repeating it.
    let mut previous: Option<(String, &str)> = None;
    for explanation in explanations {
        let release = explanation.release;
        let _ = write!(
            text,
            "Workload {}/{{{}}} in Istio {} (Envoy {})",
            workload.namespace,
            labels.join(","),
            release.release,
            release.envoy_minor
        );
        let body = render_release(explanation, locate);
        match &previous {
            Some((last, last_release)) if *last == body => {
                let _ = writeln!(text, ": as in Istio {last_release}\n");
            }
            _ => {
                let _ = writeln!(text, ":");
                text.push_str(&body);
            }
        }
        previous = Some((body, release.release.as_str()));
    }
    text
}

fn render_release(explanation: &ReleaseExplanation<'_>, locate: &dyn Fn(Span) -> String) -> String {
    let mut out = String::new();
    {
        render_telemetry(&mut out, &explanation.server, &explanation.client, locate);
        let _ = writeln!(out, "\n  WasmPlugins, in the order istiod inserts them:");
        if explanation.plugins.is_empty() {
            let _ = writeln!(out, "    none");
        }
        for plugin in &explanation.plugins {
            let priority = plugin.plugin.spec.priority.map(|p| format!(", priority {p}")).unwrap_or_default();
            let _ = writeln!(
                out,
                "    {:<18} {}/{}{priority}, filter `{}`  ({})",
                plugin.phase,
                plugin.plugin.metadata.namespace,
                plugin.plugin.metadata.name,
                plugin.filter_name,
                locate(plugin.origin)
            );
        }
        for chain in &explanation.chains {
            let _ = writeln!(out, "\n  HTTP filters of {}:", chain.context);
            for entry in &chain.entries {
                let mut line = format!("    {}", entry.name);
                if let Some(when) = &entry.when {
                    let _ = write!(line, "  [when {when}]");
                }
                if let Some((what, span)) = &entry.origin {
                    let _ = write!(line, "  <- {what} ({})", locate(*span));
                }
                for (what, span) in &entry.merged {
                    let _ = write!(line, "  (merged by {what}, {})", locate(*span));
                }
                let _ = writeln!(out, "{line}");
            }
            for patch in &chain.other_patches {
                let _ = writeln!(
                    out,
                    "    patch {} {} of EnvoyFilter {}: {}  ({})",
                    patch.apply_to,
                    patch.operation,
                    patch.resource,
                    patch.outcome,
                    locate(patch.origin)
                );
            }
        }
        out.push('\n');
    }
    out
}

fn render_telemetry(
    out: &mut String,
    server: &effective::Telemetry<'_>,
    client: &effective::Telemetry<'_>,
    locate: &dyn Fn(Span) -> String,
) {
    let layers: Vec<String> = server
        .layers
        .iter()
        .map(|g| format!("{}/{} ({})", g.resource.metadata().namespace, g.resource.metadata().name, locate(g.origin)))
        .collect();
    let _ = writeln!(
        out,
        "  Telemetry layers, root namespace first: {}",
        if layers.is_empty() { "none".to_string() } else { layers.join(", ") }
    );
    for (side, telemetry) in [("server (inbound)", server), ("client (outbound)", client)] {
        let _ = writeln!(out, "  {side}:");
        for (provider, metrics) in &telemetry.metrics {
            // Metrics with the same changes are listed together.
            let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
            for (metric, change) in &metrics.metrics {
                let description = if change.disabled {
                    "disabled".to_string()
                } else {
                    let tags: Vec<String> = change
                        .tags
                        .iter()
                        .map(|(tag, (change, _))| match change {
                            TagChange::Remove => format!("remove tag {tag}"),
                            TagChange::Upsert { value, .. } => format!("tag {tag} = {value}"),
                        })
                        .collect();
                    if tags.is_empty() {
                        continue;
                    }
                    tags.join(", ")
                };
                match groups.iter_mut().find(|(d, _)| *d == description) {
                    Some((_, names)) => names.push(metric),
                    None => groups.push((description, vec![metric])),
                }
            }
            let _ = writeln!(
                out,
                "    metrics {provider}:{}",
                if groups.is_empty() { " Istio's standard metrics and labels" } else { "" }
            );
            for (description, names) in groups {
                let _ = writeln!(out, "      {}: {description}", names.join(", "));
            }
        }
        match &telemetry.tracing {
            Some(tracing) if tracing.disabled => {
                let _ = writeln!(out, "    tracing: span reporting disabled");
            }
            Some(tracing) => {
                let tags: Vec<&String> = tracing.custom_tags.keys().collect();
                let _ = writeln!(
                    out,
                    "    tracing {}: sampling {}%{}",
                    tracing.provider.as_deref().unwrap_or("(MeshConfig's default provider)"),
                    tracing.sampling.unwrap_or(1.0),
                    if tags.is_empty() {
                        String::new()
                    } else {
                        format!(", tags {}", tags.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", "))
                    }
                );
            }
            None => {
                let _ = writeln!(out, "    tracing: none");
            }
        }
        if telemetry.access_logs.is_empty() {
            let _ = writeln!(out, "    access logs: none");
        }
        for log in &telemetry.access_logs {
            let _ = writeln!(
                out,
                "    access log {}{}",
                log.provider,
                log.filter.as_ref().map(|f| format!(" when {f}")).unwrap_or_default()
            );
        }
    }
}

/// Parses `NAMESPACE/KEY=VALUE,KEY=VALUE` (labels may be empty: `NAMESPACE/`).
pub fn parse_workload(text: &str) -> Result<(String, BTreeMap<String, String>), String> {
    let (namespace, labels) = text.split_once('/').unwrap_or((text, ""));
    if namespace.is_empty() {
        return Err(format!("`{text}` names no namespace: write NAMESPACE/KEY=VALUE,..."));
    }
    let mut out = BTreeMap::new();
    for pair in labels.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(format!("`{pair}` is not a label: write KEY=VALUE"));
        };
        out.insert(key.trim().to_string(), value.trim().to_string());
    }
    Ok((namespace.to_string(), out))
}
