//! EnvoyFilter patches against what istiod does in each targeted Istio release (the
//! tables of [`crate::istio_release`]): operations it ignores or rewrites, contexts it
//! never applies, and matches on names it does not generate. These are the patches
//! istiod accepts and applies to nothing, silently, often only after an upgrade.
//!
//! A patch is checked only for the releases its `proxy_version` selects, so a package
//! can keep one patch per release through an upgrade.

use crate::diagnostic::{Diagnostic, codes, did_you_mean};
use crate::istio_release::{NameKind, ReleaseModel, release_model};
use crate::model::istio::{self as m, Resource};
use crate::model::{Generated, Lowered};
use crate::span::Span;
use crate::versions::Targets;
use std::collections::BTreeSet;

/// One finding in one release; identical findings of several releases are reported
/// once, naming them.
struct Finding {
    code: crate::diagnostic::Code,
    span: Span,
    /// The message; `{releases}` stands for the releases it holds in.
    message: String,
    label: String,
    note: Option<String>,
    help: Option<String>,
    replacement: Option<String>,
}

/// Checks every EnvoyFilter of the package against the targeted releases' tables.
pub(crate) fn check_envoy_filters(lowered: &Lowered, targets: &Targets) -> Vec<Diagnostic> {
    let models: Vec<&'static ReleaseModel> =
        targets.istio.iter().filter_map(|release| release_model(release.version)).collect();
    if models.is_empty() {
        return Vec::new();
    }
    let package = PackageNames::collect(lowered);
    let mut out = Vec::new();
    for generated in &lowered.resources {
        let Resource::EnvoyFilter(filter) = &generated.resource else { continue };
        for (index, patch) in filter.spec.config_patches.iter().enumerate() {
            let mut findings: Vec<(Finding, &str)> = Vec::new();
            let releases = releases_of_patch(patch, &models, generated, index, &mut out);
            for model in &releases {
                for finding in check_patch(model, patch, generated, index, &package) {
                    findings.push((finding, model.release.as_str()));
                }
            }
            out.extend(combine(findings));
        }
    }
    out
}

/// The names the package itself brings: its WasmPlugins, and what its patches add.
struct PackageNames {
    /// `(namespace, name)` of each WasmPlugin.
    wasm_plugins: Vec<(String, String)>,
    /// Names of the filters, listeners, chains and clusters the package's patches add.
    added: BTreeSet<String>,
}

impl PackageNames {
    fn collect(lowered: &Lowered) -> PackageNames {
        let mut wasm_plugins = Vec::new();
        let mut added = BTreeSet::new();
        for generated in &lowered.resources {
            match &generated.resource {
                Resource::WasmPlugin(plugin) => {
                    wasm_plugins.push((plugin.metadata.namespace.clone(), plugin.metadata.name.clone()))
                }
                Resource::EnvoyFilter(filter) => {
                    for patch in &filter.spec.config_patches {
                        let operation = patch.patch.as_ref().and_then(|p| p.operation.as_deref()).unwrap_or("");
                        if matches!(operation, "ADD" | "INSERT_BEFORE" | "INSERT_AFTER" | "INSERT_FIRST" | "REPLACE")
                            && let Some(name) = patch
                                .patch
                                .as_ref()
                                .and_then(|p| p.value.as_ref())
                                .and_then(|v| v.get("name"))
                                .and_then(|n| n.as_str())
                        {
                            added.insert(name.to_string());
                        }
                    }
                }
                Resource::Telemetry(_) => {}
            }
        }
        PackageNames { wasm_plugins, added }
    }
}

/// The targeted releases whose proxies the patch's `proxy_version` selects (all of them
/// without one). A regex longer than a release's cap selects no proxy of it, which
/// is reported here.
fn releases_of_patch(
    patch: &m::EnvoyConfigObjectPatch,
    models: &[&'static ReleaseModel],
    generated: &Generated,
    index: usize,
    out: &mut Vec<Diagnostic>,
) -> Vec<&'static ReleaseModel> {
    let Some(pattern) = patch.match_.as_ref().and_then(|m| m.proxy.as_ref()).and_then(|p| p.proxy_version.as_deref())
    else {
        return models.to_vec();
    };
    let span = generated.span_of(&format!("spec.configPatches.{index}.match.proxy.proxyVersion"));
    let capped: Vec<&str> = models
        .iter()
        .filter(|m| m.envoy_filter.proxy_version_max_length.is_some_and(|max| pattern.len() > max))
        .map(|m| m.release.as_str())
        .collect();
    if !capped.is_empty() {
        out.push(
            Diagnostic::new(
                codes::MATCH_NEVER_APPLIES,
                span,
                format!(
                    "a `proxy_version` longer than {} characters matches no proxy in {}",
                    models.iter().filter_map(|m| m.envoy_filter.proxy_version_max_length).min().unwrap_or(1024),
                    releases_text(&capped)
                ),
            )
            .with_label_message(format!("{} characters", pattern.len()))
            .with_note("istiod fails closed on long patterns (ISTIO-SECURITY-2026-006); its validation only warns")
            .with_help("shorten the pattern"),
        );
    }
    // An invalid regex is reported where the patch is lowered.
    let Ok(regex) = regex::Regex::new(pattern) else { return Vec::new() };
    models
        .iter()
        .filter(|m| !capped.contains(&m.release.as_str()))
        .filter(|m| (0..100).any(|patch| regex.is_match(&format!("{}.{patch}", m.release))))
        .copied()
        .collect()
}

fn check_patch(
    model: &ReleaseModel,
    patch: &m::EnvoyConfigObjectPatch,
    generated: &Generated,
    index: usize,
    package: &PackageNames,
) -> Vec<Finding> {
    let path = |rest: &str| format!("spec.configPatches.{index}.{rest}");
    let span_of = |rest: &str| generated.span_of(&path(rest));
    let mut findings = Vec::new();
    let apply_to = patch.apply_to.as_deref().unwrap_or("");
    let operation = patch.patch.as_ref().and_then(|p| p.operation.as_deref()).unwrap_or("");
    let matched = patch.match_.as_ref();
    let context = matched.and_then(|m| m.context.as_deref()).unwrap_or("ANY");

    if model.envoy_filter.unapplied_contexts.iter().any(|c| c == context) {
        findings.push(Finding {
            code: codes::CONTEXT_NEVER_APPLIED,
            span: span_of("match.context"),
            message: format!("istiod never applies a patch of the {context} context in {{releases}}"),
            label: "accepted, then ignored".into(),
            note: Some(
                "waypoints are patched through SIDECAR_INBOUND (listeners) and SIDECAR_OUTBOUND (clusters)".into(),
            ),
            help: Some("use `context sidecar_inbound` with a `listener` match for the waypoint's listeners".into()),
            replacement: None,
        });
        // Nothing else about the patch matters where it never applies.
        return findings;
    }

    // Operations: the ones istiod carries out for this applyTo, after its rewriting.
    let known_operation = model.envoy_filter.operations.iter().any(|o| o == operation);
    let effective = model.effective_operation(apply_to, operation);
    if known_operation && !model.applies_operation(apply_to, operation) {
        let (why, help) = ignored_operation(apply_to, effective);
        findings.push(Finding {
            code: codes::OPERATION_IGNORED,
            span: span_of("patch.operation"),
            message: format!("istiod ignores {effective} on {apply_to} in {{releases}}"),
            label: why,
            note: None,
            help,
            replacement: None,
        });
    } else if known_operation && effective != operation {
        findings.push(Finding {
            code: codes::OPERATION_REWRITTEN,
            span: span_of("patch.operation"),
            message: format!("istiod turns {operation} on {apply_to} into ADD in {{releases}}"),
            label: "the position is ignored".into(),
            note: Some(format!("only filters and HTTP routes have positions; a {apply_to} is added")),
            help: Some("write `operation add`".into()),
            replacement: None,
        });
    }

    let listener = matched.and_then(|m| m.listener.as_ref());
    let chain = listener.and_then(|l| l.filter_chain.as_ref());
    let filter = chain.and_then(|c| c.filter.as_ref());
    let filter_name = filter.and_then(|f| f.name.as_deref());
    let sub_filter_name = filter.and_then(|f| f.sub_filter.as_ref()).and_then(|s| s.name.as_deref());

    // Filter operations that need a filter to act on.
    let names_its_filter = match apply_to {
        "HTTP_FILTER" => sub_filter_name.is_some(),
        "NETWORK_FILTER" => filter_name.is_some(),
        "LISTENER_FILTER" => listener.and_then(|l| l.listener_filter.as_ref()).is_some(),
        _ => true,
    };
    let needs_a_filter = match apply_to {
        "LISTENER_FILTER" => matches!(operation, "REPLACE" | "REMOVE" | "MERGE"),
        _ => matches!(operation, "REPLACE" | "REMOVE"),
    };
    if !names_its_filter && needs_a_filter && model.applies_operation(apply_to, operation) {
        findings.push(Finding {
            code: codes::OPERATION_IGNORED,
            span: span_of("patch.operation"),
            message: format!("istiod ignores {operation} on {apply_to} without a filter to act on, in {{releases}}"),
            label: "no filter is named in the match".into(),
            note: None,
            help: Some(match apply_to {
                "HTTP_FILTER" => "name the filter: `listener { filter_chain { filter { name \"envoy.filters.network.http_connection_manager\" sub_filter { name \"...\" } } } }`".into(),
                "NETWORK_FILTER" => "name the filter: `listener { filter_chain { filter { name \"...\" } } }`".into(),
                _ => "name the filter: `listener { listener_filter \"...\" }`".into(),
            }),
            replacement: None,
        });
    }

    // MERGE into a WasmPlugin's filter: it is an ECDS filter without typed_config.
    if operation == "MERGE"
        && apply_to == "HTTP_FILTER"
        && let Some(name) = sub_filter_name
        && is_any_wasm_filter_name(name)
    {
        findings.push(Finding {
            code: codes::OPERATION_IGNORED,
            span: span_of("patch.operation"),
            message: format!("istiod ignores MERGE on a WasmPlugin's filter in {{releases}}"),
            label: "the filter is delivered by ECDS and has no typed_config to merge into".into(),
            note: None,
            help: Some("change the WasmPlugin itself (its `config`, `phase` or `priority`)".into()),
            replacement: None,
        });
    }

    // Names the match compares, each against what the context has.
    let contexts = model.reached_contexts(context);
    let mut check_name = |kind: NameKind, name: &str, at: &str| {
        if let Some(finding) = check_match_name(model, kind, context, &contexts, name, span_of(at), package) {
            findings.push(finding);
        }
    };
    if let Some(listener) = listener {
        if let Some(name) = listener.name.as_deref() {
            check_name(NameKind::Listener, name, "match.listener.name");
        }
        if let Some(name) = listener.listener_filter.as_deref() {
            check_name(NameKind::ListenerFilter, name, "match.listener.listenerFilter");
        }
    }
    if let Some(name) = chain.and_then(|c| c.name.as_deref()) {
        check_name(NameKind::FilterChain, name, "match.listener.filterChain.name");
    }
    if let Some(name) = filter_name {
        check_name(NameKind::NetworkFilter, name, "match.listener.filterChain.filter.name");
    }
    if let Some(name) = sub_filter_name {
        check_name(NameKind::HttpFilter, name, "match.listener.filterChain.filter.subFilter.name");
    }
    if let Some(name) = matched.and_then(|m| m.cluster.as_ref()).and_then(|c| c.name.as_deref()) {
        check_name(NameKind::Cluster, name, "match.cluster.name");
    }
    let route = matched.and_then(|m| m.route_configuration.as_ref());
    if let Some(name) = route.and_then(|r| r.name.as_deref()) {
        check_name(NameKind::RouteConfiguration, name, "match.routeConfiguration.name");
    }
    if let Some(name) = route.and_then(|r| r.vhost.as_ref()).and_then(|v| v.name.as_deref()) {
        check_name(NameKind::VirtualHost, name, "match.routeConfiguration.vhost.name");
    }
    findings
}

/// Why istiod ignores an operation on an applyTo, and what to write instead.
fn ignored_operation(apply_to: &str, operation: &str) -> (String, Option<String>) {
    match (apply_to, operation) {
        ("BOOTSTRAP", _) => (
            "istiod validates BOOTSTRAP patches but never applies them".into(),
            Some("configure the bootstrap through ProxyConfig or a custom bootstrap template".into()),
        ),
        ("ROUTE_CONFIGURATION", _) => (
            "only MERGE applies to a route configuration".into(),
            Some("merge into it, or patch its virtual hosts (`virtual_host`) and routes (`http_route`)".into()),
        ),
        ("EXTENSION_CONFIG", _) => {
            ("only ADD applies to an extension config".into(), Some("write `operation add`".into()))
        }
        (_, "REPLACE") => (
            format!("REPLACE is not implemented for {apply_to}"),
            Some("remove it and add the new one, or merge into it".into()),
        ),
        (_, "MERGE_AND_REPLACE_LIST") => (
            "filters are merged only by MERGE".into(),
            Some("write `operation merge`; lists in the value are then appended to".into()),
        ),
        _ => (format!("{operation} is not carried out for {apply_to}"), None),
    }
}

const TRAFFIC_EXTENSION_PREFIX: &str = "extensions.istio.io/trafficextension/";
const TRANSLATED_SUFFIX: &str = "~istio-translated-wasmplugin";

/// Whether `name` has the form of a WasmPlugin filter name of any release. A
/// TrafficExtension's own name (no translation suffix) is not one: a Lua
/// TrafficExtension is an inline filter with a typed_config.
fn is_any_wasm_filter_name(name: &str) -> bool {
    wasm_plugin_of(name).is_some()
}

/// The namespace and name of the WasmPlugin behind a filter name of either form.
fn wasm_plugin_of(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix("extensions.istio.io/wasmplugin/").or_else(|| {
        name.strip_prefix(TRAFFIC_EXTENSION_PREFIX).and_then(|rest| rest.strip_suffix(TRANSLATED_SUFFIX))
    })?;
    rest.split_once('.')
}

/// A TrafficExtension's own filter name (1.30 and later): `.../trafficextension/NS.NAME`.
fn is_traffic_extension_name(name: &str) -> bool {
    name.strip_prefix(TRAFFIC_EXTENSION_PREFIX)
        .is_some_and(|rest| !rest.ends_with(TRANSLATED_SUFFIX) && rest.contains('.'))
}

fn check_match_name(
    model: &ReleaseModel,
    kind: NameKind,
    context: &str,
    contexts: &[&str],
    name: &str,
    span: Span,
    package: &PackageNames,
) -> Option<Finding> {
    if let Some(replacement) = model.replacement_of_deprecated(kind, name) {
        return Some(Finding {
            code: codes::DEPRECATED_FILTER_NAME,
            span,
            message: format!("istiod names no {} `{name}` in {{releases}}", kind.describe()),
            label: "an old name; matches compare names exactly".into(),
            note: Some(format!("istiod generates `{replacement}`")),
            help: None,
            replacement: Some(replacement.to_string()),
        });
    }
    if matches!(kind, NameKind::HttpFilter | NameKind::NetworkFilter)
        && let Some((namespace, plugin)) = wasm_plugin_of(name)
    {
        if model.is_wasm_filter_name(name) {
            return None;
        }
        let current = model.wasm_filter_name(namespace, plugin);
        return Some(Finding {
            code: codes::WASM_FILTER_RENAMED,
            span,
            message: format!("the filter of the WasmPlugin `{namespace}/{plugin}` has another name in {{releases}}"),
            label: "the name of another release".into(),
            note: Some(format!("its filter is named `{current}` there")),
            help: Some(
                "anchor on the release's name, or keep one patch per release, each with a `proxy_version`".into(),
            ),
            replacement: Some(current),
        });
    }
    if package.added.contains(name) {
        return None;
    }
    // TrafficExtensions (1.30) are resources of their own, which a package may not
    // declare; their filters exist where the release has them.
    if kind == NameKind::HttpFilter
        && is_traffic_extension_name(name)
        && model.wasm_plugins.filter_name.starts_with(TRAFFIC_EXTENSION_PREFIX)
    {
        return None;
    }
    if matches!(kind, NameKind::HttpFilter | NameKind::NetworkFilter)
        && package.wasm_plugins.iter().any(|(ns, plugin)| model.wasm_filter_name(ns, plugin) == name)
    {
        return None;
    }
    if model.has_name(kind, context, name) {
        return None;
    }
    if kind == NameKind::Cluster && model.is_bootstrap_cluster(name) {
        return Some(Finding {
            code: codes::NAME_NOT_GENERATED,
            span,
            message: format!("`{name}` is a bootstrap cluster in {{releases}}, which CLUSTER patches never reach"),
            label: "not in CDS".into(),
            note: Some("CLUSTER patches apply to the clusters istiod sends by CDS".into()),
            help: None,
            replacement: None,
        });
    }
    let known: Vec<&str> =
        contexts.iter().flat_map(|c| model.names(kind, c)).collect::<BTreeSet<_>>().into_iter().collect();
    let concrete: Vec<&str> = known.iter().copied().filter(|n| !n.contains('{')).collect();
    let replacement = did_you_mean(name, concrete.iter().copied()).map(str::to_string);
    let context_text = match context {
        "ANY" => "any context".to_string(),
        other => other.to_string(),
    };
    Some(Finding {
        code: codes::NAME_NOT_GENERATED,
        span,
        message: format!("istiod generates no {} `{name}` for {context_text} in {{releases}}", kind.describe()),
        label: "the patch applies to nothing unless another EnvoyFilter adds it".into(),
        note: (!known.is_empty()).then(|| format!("{context_text} has: {}", known.join(", "))),
        help: None,
        replacement,
    })
}

/// One diagnostic per finding, naming the releases it holds in.
fn combine(findings: Vec<(Finding, &str)>) -> Vec<Diagnostic> {
    let mut groups: Vec<(Finding, Vec<&str>)> = Vec::new();
    for (finding, release) in findings {
        match groups.iter_mut().find(|(f, _)| {
            f.code == finding.code
                && f.span == finding.span
                && f.message == finding.message
                && f.replacement == finding.replacement
        }) {
            Some((_, releases)) => releases.push(release),
            None => groups.push((finding, vec![release])),
        }
    }
    groups
        .into_iter()
        .map(|(finding, releases)| {
            let releases_text = releases_text(&releases);
            let mut diagnostic =
                Diagnostic::new(finding.code, finding.span, finding.message.replace("{releases}", &releases_text))
                    .with_label_message(finding.label);
            if let Some(note) = finding.note {
                diagnostic = diagnostic.with_note(note);
            }
            match (finding.replacement, finding.help) {
                (Some(replacement), help) => {
                    diagnostic = diagnostic.with_did_you_mean(finding.span, &format!("\"{replacement}\""));
                    if let Some(help) = help {
                        diagnostic = diagnostic.with_note(help);
                    }
                }
                (None, Some(help)) => diagnostic = diagnostic.with_help(help),
                (None, None) => {}
            }
            diagnostic
        })
        .collect()
}

/// `Istio 1.30`, `Istio 1.30 and 1.31`, `Istio 1.28, 1.29 and 1.30`.
fn releases_text(releases: &[&str]) -> String {
    match releases {
        [] => String::new(),
        [one] => format!("Istio {one}"),
        [init @ .., last] => format!("Istio {} and {last}", init.join(", ")),
    }
}
