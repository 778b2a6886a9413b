//! `telemetry` declarations: checked and lowered to `telemetry.istio.io/v1` Telemetry.

pub(crate) mod tags;

use super::cel::ExprContext;
use super::common::*;
use crate::diagnostic::{Diagnostic, codes, did_you_mean};
use crate::model::istio as m;
use crate::syntax::ast::*;
use crate::versions::Feature;
use std::collections::BTreeMap;
use tags::CustomTag;

pub(crate) const MODES: &[(&str, &str)] =
    &[("client_and_server", "CLIENT_AND_SERVER"), ("client", "CLIENT"), ("server", "SERVER")];

pub(crate) const TOP_SETTINGS: &[&str] = &["labels", "annotations", "waive"];
pub(crate) const METRICS_SETTINGS: &[&str] = &["reporting_interval"];
pub(crate) const TRACING_SETTINGS: &[&str] = &[
    "sampling",
    "disable_span_reporting",
    "disable_context_propagation",
    "use_request_id_for_trace_sampling",
    "enable_istio_tags",
];

pub(crate) fn lower(ctx: &mut Ctx, decl: &ResourceDecl, scope: &ResolvedScope, name: String) -> Option<m::Telemetry> {
    let settings = Settings::collect(ctx, &decl.body, TOP_SETTINGS, "a telemetry declaration");
    let labels = metadata_map(ctx, &settings, "labels");
    let mut annotations = metadata_map(ctx, &settings, "annotations");
    annotations.extend(crate::check::policy::waivers(ctx, &settings));
    let mut spec = m::TelemetrySpec::default();
    let mut ok = true;
    for stmt in &decl.body {
        match &stmt.kind {
            StmtKind::Metrics { providers, body } => {
                let path = format!("spec.metrics.{}", spec.metrics.len());
                ctx.spans.record(&path, stmt.span);
                match metrics(ctx, providers, body, &path) {
                    Some(metrics) => spec.metrics.push(metrics),
                    None => ok = false,
                }
            }
            StmtKind::Tracing { providers, mode, body } => {
                let path = format!("spec.tracing.{}", spec.tracing.len());
                ctx.spans.record(&path, stmt.span);
                match tracing(ctx, providers, mode.as_ref(), body, &path) {
                    Some(tracing) => spec.tracing.push(tracing),
                    None => ok = false,
                }
            }
            StmtKind::AccessLog { providers, mode, toggle, filter } => {
                let path = format!("spec.accessLogging.{}", spec.access_logging.len());
                ctx.spans.record(&path, stmt.span);
                if let Some(filter) = filter {
                    ctx.spans.record(format!("{path}.filter"), filter.span);
                }
                match access_log(ctx, providers, mode.as_ref(), *toggle, filter.as_ref()) {
                    Some(logging) => spec.access_logging.push(logging),
                    None => ok = false,
                }
            }
            StmtKind::Setting { .. } | StmtKind::Section { .. } | StmtKind::Error => {}
            _ => {
                ctx.report(misplaced_statement(stmt, "a telemetry declaration"));
                ok = false;
            }
        }
    }
    apply_scope(&mut spec, scope);
    ok.then(|| m::Telemetry { metadata: metadata(name, scope, labels, annotations), spec })
}

pub(crate) fn metadata(
    name: String,
    scope: &ResolvedScope,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
) -> m::ObjectMeta {
    m::ObjectMeta { name, namespace: scope.namespace.clone(), labels, annotations }
}

fn apply_scope(spec: &mut m::TelemetrySpec, scope: &ResolvedScope) {
    spec.selector = scope.selector.clone().map(|match_labels| m::WorkloadSelector { match_labels });
    spec.target_refs = scope.target_refs.iter().map(target_ref).collect();
}

pub(crate) fn target_ref(target: &TargetRefOut) -> m::PolicyTargetReference {
    m::PolicyTargetReference {
        group: Some(target.group.clone()),
        kind: target.kind.clone(),
        name: target.name.clone(),
        namespace: None,
    }
}

fn providers_out(providers: &[Key]) -> Vec<m::ProviderRef> {
    providers.iter().map(|p| m::ProviderRef { name: p.name.clone() }).collect()
}

fn mode_match(ctx: &mut Ctx, mode: Option<&Ident>) -> Option<Option<m::WorkloadMode>> {
    match mode {
        None => Some(None),
        Some(mode) => Some(Some(parse_mode(enum_word(ctx, mode, MODES, "traffic mode")?))),
    }
}

fn parse_mode(istio: &str) -> m::WorkloadMode {
    match istio {
        "CLIENT" => m::WorkloadMode::Client,
        "SERVER" => m::WorkloadMode::Server,
        _ => m::WorkloadMode::ClientAndServer,
    }
}

/// A `metrics` block, lowered as `spec.metrics` entry `path`.
fn metrics(ctx: &mut Ctx, providers: &[Key], body: &[Stmt], path: &str) -> Option<m::Metrics> {
    ctx.check_providers(providers, "metrics", "metrics");
    let settings = Settings::collect(ctx, body, METRICS_SETTINGS, "a metrics block");
    let mut ok = true;
    let reporting_interval = match settings.value(ctx, "reporting_interval") {
        Some(value) => {
            let interval = duration_value(ctx, value, 0.001, "1ms", "the reporting interval");
            ok &= interval.is_some();
            interval
        }
        None => None,
    };
    let mut overrides = Vec::new();
    for stmt in body {
        match &stmt.kind {
            StmtKind::MetricOverride { metric, mode, toggle, tags } => {
                let path = format!("{path}.overrides.{}", overrides.len());
                ctx.spans.record(&path, stmt.span);
                match metric_override(ctx, metric, mode.as_ref(), *toggle, tags.as_deref(), &path) {
                    Some(o) => overrides.push(o),
                    None => ok = false,
                }
            }
            StmtKind::Setting { .. } | StmtKind::Section { .. } | StmtKind::Error => {}
            _ => {
                ctx.report(misplaced_statement(stmt, "a metrics block"));
                ok = false;
            }
        }
    }
    ok.then(|| m::Metrics { providers: providers_out(providers), overrides, reporting_interval })
}

fn metric_override(
    ctx: &mut Ctx,
    metric: &MetricRef,
    mode: Option<&Ident>,
    toggle: Option<Toggle>,
    tags: Option<&[Stmt]>,
    path: &str,
) -> Option<m::MetricsOverrides> {
    let mut ok = true;
    let mut selector = m::MetricSelector::default();
    let labels: Option<Vec<String>> = match metric {
        MetricRef::Standard(ident) => match ctx.symbols.metrics.get(&ident.name) {
            Some(info) => {
                selector.metric = Some(ident.name.clone());
                Some(info.labels.clone())
            }
            None => {
                let names: Vec<&str> = ctx.symbols.metrics.keys().map(String::as_str).collect();
                let mut diagnostic = Diagnostic::new(
                    codes::UNKNOWN_ENUM_VALUE,
                    ident.span,
                    format!("`{}` is not a standard Istio metric", ident.name),
                )
                .with_label_message("unknown metric")
                .with_note(format!(
                    "expected one of: {}; or `custom \"name\"` for a metric of your own",
                    names.join(", ")
                ));
                if let Some(suggestion) = did_you_mean(&ident.name, names.iter().copied()) {
                    diagnostic = diagnostic.with_did_you_mean(ident.span, suggestion);
                }
                ctx.report(diagnostic);
                ok = false;
                None
            }
        },
        MetricRef::Custom(name) => {
            if name.value.is_empty() {
                ctx.report(Diagnostic::new(codes::MISSING_SETTING, name.span, "a custom metric needs a name"));
                ok = false;
            }
            selector.custom_metric = Some(name.value.clone());
            None
        }
    };
    match mode_match(ctx, mode) {
        Some(mode) => selector.mode = mode,
        None => ok = false,
    }
    let mut tag_overrides: BTreeMap<String, m::TagOverride> = BTreeMap::new();
    let mut seen: BTreeMap<String, Key> = BTreeMap::new();
    for stmt in tags.unwrap_or_default() {
        let (name, tag) = match &stmt.kind {
            StmtKind::TagSet { name, expr } => {
                let (_, diagnostics) = ctx.expressions.check_expression(
                    &expr.text,
                    expr.span,
                    &ctx.symbols.vocabulary,
                    ExprContext::MetricTagValue,
                );
                ok &= !diagnostics.iter().any(Diagnostic::is_error);
                ctx.diagnostics.extend(diagnostics);
                let value_source = tags::metric_tag_source(ctx.expressions, &expr.text);
                let tag = m::TagOverride {
                    operation: Some(m::TagOperation::Upsert),
                    value: Some(expr.text.clone()),
                    value_source,
                };
                (name, tag)
            }
            StmtKind::TagRemove { name } => {
                if let Some(labels) = &labels
                    && !labels.iter().any(|l| *l == name.name)
                    && !ctx.symbols.metric_tags.contains(&name.name)
                {
                    let mut diagnostic = Diagnostic::new(
                        codes::UNKNOWN_SETTING,
                        name.span,
                        format!("the metric has no standard label `{}` to remove", name.name),
                    )
                    .with_label_message("not a label of this metric, nor a tag this package sets");
                    if let Some(suggestion) = did_you_mean(&name.name, labels.iter().map(String::as_str)) {
                        diagnostic = diagnostic.with_did_you_mean(name.span, suggestion);
                    }
                    ctx.report(diagnostic);
                    ok = false;
                }
                (name, m::TagOverride { operation: Some(m::TagOperation::Remove), value: None, value_source: None })
            }
            StmtKind::Error => continue,
            _ => {
                ctx.report(misplaced_statement(stmt, "a metric override"));
                ok = false;
                continue;
            }
        };
        if let Some(previous) = seen.get(&name.name) {
            ctx.report(
                Diagnostic::new(
                    codes::DUPLICATE_SETTING,
                    name.span,
                    format!("the tag `{}` is overridden twice", name.name),
                )
                .with_label_message("again here")
                .with_secondary(previous.span, "first here"),
            );
            ok = false;
            continue;
        }
        seen.insert(name.name.clone(), name.clone());
        ctx.spans.record(format!("{path}.tagOverrides.{}", name.name), stmt.span);
        tag_overrides.insert(name.name.clone(), tag);
    }
    ok.then(|| m::MetricsOverrides { match_: Some(selector), disabled: toggle.map(|t| t.disabled), tag_overrides })
}

/// A `tracing` block, lowered as `spec.tracing` entry `path`.
fn tracing(ctx: &mut Ctx, providers: &[Key], mode: Option<&Ident>, body: &[Stmt], path: &str) -> Option<m::Tracing> {
    ctx.check_providers(providers, "tracing", "tracing");
    let settings = Settings::collect(ctx, body, TRACING_SETTINGS, "a tracing block");
    let mut ok = true;
    let mut tracing = m::Tracing { providers: providers_out(providers), ..Default::default() };
    match mode_match(ctx, mode) {
        Some(mode) => tracing.match_ = mode.map(|mode| m::TracingSelector { mode: Some(mode) }),
        None => ok = false,
    }
    if let Some(value) = settings.value(ctx, "sampling") {
        ctx.spans.record(format!("{path}.randomSamplingPercentage"), value.span);
        tracing.random_sampling_percentage = percent_value(ctx, value, "sampling");
        ok &= tracing.random_sampling_percentage.is_some();
    }
    if let Some(stmt) = settings.stmt("disable_context_propagation") {
        ok &=
            ctx.require_feature(Feature::TracingDisableContextPropagation, stmt.span, "`disable_context_propagation`");
    }
    for (key, field) in [
        ("disable_span_reporting", &mut tracing.disable_span_reporting),
        ("disable_context_propagation", &mut tracing.disable_context_propagation),
        ("use_request_id_for_trace_sampling", &mut tracing.use_request_id_for_trace_sampling),
        ("enable_istio_tags", &mut tracing.enable_istio_tags),
    ] {
        if let Some(value) = settings.value(ctx, key) {
            *field = bool_value(ctx, value);
            ok &= field.is_some();
        }
    }
    let mut seen: BTreeMap<String, Key> = BTreeMap::new();
    for stmt in body {
        match &stmt.kind {
            StmtKind::TagSet { name, expr } => {
                if let Some(previous) = seen.get(&name.name) {
                    ctx.report(
                        Diagnostic::new(
                            codes::DUPLICATE_SETTING,
                            name.span,
                            format!("the tag `{}` is set twice", name.name),
                        )
                        .with_label_message("set again here")
                        .with_secondary(previous.span, "first set here"),
                    );
                    ok = false;
                    continue;
                }
                seen.insert(name.name.clone(), name.clone());
                ctx.spans.record(format!("{path}.customTags.{}", name.name), stmt.span);
                let (tag, diagnostics) = tags::interpret_custom_tag(ctx.expressions, &expr.text, expr.span);
                ok &= !diagnostics.iter().any(Diagnostic::is_error);
                ctx.diagnostics.extend(diagnostics);
                let Some(tag) = tag else {
                    ok = false;
                    continue;
                };
                let custom = match tag {
                    CustomTag::Literal(value) => {
                        m::CustomTag { literal: Some(m::LiteralTag { value }), ..Default::default() }
                    }
                    CustomTag::Environment { name, default } => m::CustomTag {
                        environment: Some(m::EnvironmentTag { name, default_value: default }),
                        ..Default::default()
                    },
                    CustomTag::Header { name, default } => m::CustomTag {
                        header: Some(m::RequestHeaderTag { name, default_value: default }),
                        ..Default::default()
                    },
                    CustomTag::Formatter(value) => {
                        ok &= ctx.require_feature(
                            Feature::TelemetryFormatterTag,
                            expr.span,
                            "the `formatter` custom tag",
                        );
                        m::CustomTag { formatter: Some(m::FormatterTag { value }), ..Default::default() }
                    }
                };
                tracing.custom_tags.insert(name.name.clone(), custom);
            }
            StmtKind::Setting { .. } | StmtKind::Section { .. } | StmtKind::Error => {}
            _ => {
                ctx.report(misplaced_statement(stmt, "a tracing block"));
                ok = false;
            }
        }
    }
    ok.then_some(tracing)
}

fn access_log(
    ctx: &mut Ctx,
    providers: &[Key],
    mode: Option<&Ident>,
    toggle: Option<Toggle>,
    filter: Option<&ExprText>,
) -> Option<m::AccessLogging> {
    ctx.check_providers(providers, "access_logging", "access logging");
    let mut ok = true;
    let mut logging = m::AccessLogging {
        providers: providers_out(providers),
        disabled: toggle.map(|t| t.disabled),
        ..Default::default()
    };
    match mode_match(ctx, mode) {
        Some(mode) => logging.match_ = mode.map(|mode| m::AccessLogSelector { mode: Some(mode) }),
        None => ok = false,
    }
    if let Some(filter) = filter {
        let (_, diagnostics) = ctx.expressions.check_expression(
            &filter.text,
            filter.span,
            &ctx.symbols.vocabulary,
            ExprContext::AccessLogFilter,
        );
        ok &= !diagnostics.iter().any(Diagnostic::is_error);
        ctx.diagnostics.extend(diagnostics);
        logging.filter = Some(m::AccessLogFilter { expression: filter.text.clone() });
    }
    ok.then_some(logging)
}
