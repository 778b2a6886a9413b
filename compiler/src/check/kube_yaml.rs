//! Kubernetes YAML given to `meshc check`: Telemetry, WasmPlugin and EnvoyFilter
//! documents that never went through a `.mesh` file, read into the same model as the
//! declarations and checked with the same rules.
//!
//! A document becomes a [`Generated`] whose [`SpanIndex`] records the span of every
//! value under its path (`spec.configPatches.0.patch.value`), so that every check that
//! reads the model (the Istio release tables, the Envoy schemas of patch values, CEL in
//! Telemetry, user rules) points at the YAML line. Patch values keep their YAML spans,
//! and are checked with protobuf JSON's rules, as istiod reads them.

use super::common::Ctx;
use super::{envoy_filter, wasm_plugin};
use crate::diagnostic::{Diagnostic, codes, did_you_mean};
use crate::envoy::{self, Completeness};
use crate::model::istio::{self as m, Resource};
use crate::model::node::{Node, NodeKind};
use crate::model::{Generated, SpanIndex};
use crate::source::{SourceDb, SourceKind};
use crate::span::{FileId, Span};
use crate::syntax::ast::Key;
use serde_json::Value as Json;

use super::cel::ExprContext;
use crate::crd::Kind;

/// Reads and checks every document of the package's Kubernetes YAML files. `new_ctx`
/// gives a checking context for a file, as for declarations.
pub(crate) fn check_resource_files<'a>(
    db: &SourceDb,
    new_ctx: &dyn Fn(FileId) -> Ctx<'a>,
) -> (Vec<Generated>, Vec<Diagnostic>) {
    let mut resources = Vec::new();
    let mut diagnostics = Vec::new();
    for (id, file) in db.iter() {
        if file.kind != SourceKind::Resources {
            continue;
        }
        let (documents, found) = envoy::yaml::parse_yaml_documents(id, &file.text, codes::INVALID_RESOURCE_YAML);
        diagnostics.extend(found);
        // `kubectl get -o yaml` writes a `List` whose items are the objects.
        let documents: Vec<&Node> = documents
            .iter()
            .flat_map(|document| match (document.get("kind").and_then(Node::as_str), document.get("items")) {
                (Some("List"), Some(Node { kind: NodeKind::List(items), .. })) => items.iter().collect(),
                _ => vec![document],
            })
            .collect();
        for document in documents {
            let mut ctx = new_ctx(id);
            if let Some(generated) = read_document(&mut ctx, document) {
                let generated = check_resource(&mut ctx, generated, document);
                resources.push(generated);
            }
            diagnostics.append(&mut ctx.diagnostics);
        }
    }
    (resources, diagnostics)
}

/// A document as a resource of the model, or `None` (with a diagnostic) when it is
/// not a Telemetry, WasmPlugin or EnvoyFilter that can be read.
fn read_document(ctx: &mut Ctx, document: &Node) -> Option<Generated> {
    // A document that is no Kubernetes object at all (Helm values, a CI workflow) is
    // not what meshc checks: passed over with a note, as other kinds are.
    let not_an_object = match &document.kind {
        NodeKind::Object(_) => document.get("apiVersion").is_none() && document.get("kind").is_none(),
        _ => true,
    };
    if not_an_object {
        ctx.report(
            Diagnostic::new(
                codes::KIND_NOT_CHECKED,
                document.span.sub_to(document.span.start),
                "this document is not a Kubernetes object (it has no `apiVersion` and `kind`); meshc passes over it",
            )
            .with_label_message("passed over"),
        );
        return None;
    }
    let kind_text = document.get("kind").and_then(Node::as_str);
    let group = document
        .get("apiVersion")
        .and_then(Node::as_str)
        .map(|v| v.rsplit_once('/').map(|(group, _)| group).unwrap_or(""));
    let istio_group = group.is_some_and(|g| Kind::ALL.iter().any(|k| k.group() == g));
    let ours = match kind_text {
        Some(kind) => Kind::from_name(kind).is_some(),
        // Without a kind, a document of one of our groups is taken for ours.
        None => istio_group,
    };
    if !ours {
        let kind = document.get("kind").unwrap_or(document);
        let kind_text = kind_text.unwrap_or("untyped");
        let mut diagnostic = Diagnostic::new(
            codes::KIND_NOT_CHECKED,
            kind.span,
            format!("meshc does not check `{kind_text}` documents; it checks Telemetry, WasmPlugin and EnvoyFilter"),
        )
        .with_label_message("passed over");
        // A kind of one of Istio's groups that is none of ours is likely a misspelling.
        if istio_group && let Some(suggestion) = did_you_mean(kind_text, Kind::ALL.iter().map(|k| k.name())) {
            diagnostic = diagnostic.with_did_you_mean(kind.span, suggestion);
        }
        ctx.report(diagnostic);
        return None;
    }
    // The API server's validation against the CRD of each targeted release: the
    // envelope (apiVersion, kind, metadata), every field's type, enum, bounds and
    // pattern, and the CRD's own CEL rules.
    let found = crate::crd::validate(document, &ctx.targets.istio);
    let crd_errors = found.iter().any(Diagnostic::is_error);
    ctx.diagnostics.extend(found);
    let kind = document.get("kind")?;
    // A kind in another group than its own: the CRD validation has reported it.
    let kind_name = Kind::from_group_and_name(group?, kind_text?)?.name();
    // `generateName` (for `kubectl create`) stands for the name the server will choose;
    // without either, the CRD validation has reported the document.
    let metadata = document.get("metadata");
    let name = metadata.and_then(|m| m.get("name")).or_else(|| metadata.and_then(|m| m.get("generateName")));
    let name_span = name.filter(|n| n.as_str().is_some_and(|s| !s.is_empty())).map(|n| n.span)?;

    // The model reads `metadata` and `spec`; what else a document holds (status,
    // managed fields) is the cluster's.
    let mut json = serde_json::Map::new();
    for key in ["metadata", "spec"] {
        if let Some(value) = document.get(key) {
            json.insert(key.to_string(), value.to_json());
        }
    }
    if let Some(Json::Object(metadata)) = json.get_mut("metadata")
        && !metadata.contains_key("name")
        && let Some(generated) = metadata.get("generateName").cloned()
    {
        metadata.insert("name".to_string(), generated);
    }
    let json = Json::Object(json);
    let read = match kind_name {
        "Telemetry" => serde_json::from_value(json).map(Resource::Telemetry),
        "WasmPlugin" => serde_json::from_value(json).map(Resource::WasmPlugin),
        _ => serde_json::from_value(json).map(Resource::EnvoyFilter),
    };
    let mut resource = match read {
        Ok(resource) => resource,
        // The CRD validation said what does not fit.
        Err(_) if crd_errors => return None,
        Err(error) => {
            ctx.report(
                Diagnostic::new(
                    codes::UNREADABLE_RESOURCE,
                    kind.span,
                    format!("this {kind_name} cannot be read: {}", describe_serde_error(&error)),
                )
                .with_label_message("not checked further"),
            );
            return None;
        }
    };
    // A document without a namespace lands in the namespace kubectl applies it to,
    // which meshc cannot know; `default` is kubectl's own default.
    let namespace = match &mut resource {
        Resource::Telemetry(r) => &mut r.metadata.namespace,
        Resource::WasmPlugin(r) => &mut r.metadata.namespace,
        Resource::EnvoyFilter(r) => &mut r.metadata.namespace,
    };
    if namespace.is_empty() {
        *namespace = crate::crd::DEFAULT_NAMESPACE.to_string();
    }
    if let Resource::EnvoyFilter(filter) = &mut resource {
        let patches = document.get("spec").and_then(|s| s.get("configPatches"));
        if let Some(NodeKind::List(items)) = patches.map(|p| &p.kind) {
            for (patch, item) in filter.spec.config_patches.iter_mut().zip(items) {
                if let (Some(patch), Some(value)) =
                    (patch.patch.as_mut(), item.get("patch").and_then(|p| p.get("value")))
                {
                    patch.value = Some(value.clone());
                }
            }
        }
    }
    let mut spans = SpanIndex::default();
    record_spans(&mut spans, "", document);
    // What rules read is the object as the API server admits it, with the namespace
    // kubectl gives a document that names none.
    let mut object = document.to_json();
    let namespace = resource.metadata().namespace.clone();
    if let Some(Json::Object(metadata)) = object.get_mut("metadata") {
        metadata.entry("namespace").or_insert(Json::String(namespace));
    }
    Some(Generated { resource, origin: name_span, spans, document: Some(object) })
}

/// serde's message without its line and column, which count in the JSON copy, not in
/// the user's file.
fn describe_serde_error(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.find(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// Records the span of every value of a document under its path in the resource.
fn record_spans(spans: &mut SpanIndex, path: &str, node: &Node) {
    if !path.is_empty() {
        spans.record(path.to_string(), node.span);
    }
    let join = |key: &str| if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
    match &node.kind {
        NodeKind::Object(members) => {
            for member in members {
                record_spans(spans, &join(&member.key), &member.value);
            }
        }
        NodeKind::List(items) => {
            for (index, item) in items.iter().enumerate() {
                record_spans(spans, &join(&index.to_string()), item);
            }
        }
        _ => {}
    }
}

/// Runs the checks that read a resource of the model on one read from YAML.
fn check_resource(ctx: &mut Ctx, generated: Generated, document: &Node) -> Generated {
    ctx.spans = generated.spans.clone();
    match &generated.resource {
        Resource::EnvoyFilter(filter) => check_envoy_filter(ctx, &generated, filter),
        Resource::Telemetry(telemetry) => check_telemetry(ctx, &generated, telemetry, document),
        Resource::WasmPlugin(plugin) => {
            wasm_plugin::check_pinned(ctx, &plugin.spec, generated.span_of("spec.url"));
        }
    }
    generated
}

fn check_envoy_filter(ctx: &mut Ctx, generated: &Generated, filter: &m::EnvoyFilter) {
    for (index, patch) in filter.spec.config_patches.iter().enumerate() {
        let path = format!("spec.configPatches.{index}");
        ctx.patch_path = path.clone();
        let at = |part: &str| generated.span_of(&format!("{path}.{part}"));
        let Some(apply) = patch.apply_to.as_deref() else {
            ctx.report(
                Diagnostic::new(codes::MISSING_SETTING, generated.span_of(&path), "this patch has no `applyTo`")
                    .with_help("name what it patches: HTTP_FILTER, NETWORK_FILTER, CLUSTER, LISTENER, ..."),
            );
            continue;
        };
        let Some(operation) = patch.patch.as_ref().and_then(|p| p.operation.as_deref()) else {
            ctx.report(
                Diagnostic::new(
                    codes::MISSING_SETTING,
                    generated.span_of(&path),
                    "this patch has no `patch.operation`",
                )
                .with_help("add `operation: MERGE` (or ADD, REMOVE, REPLACE, INSERT_BEFORE, ...)"),
            );
            continue;
        };
        if let Some(diagnostic) =
            envoy_filter::invalid_operation(apply, operation, at("patch.operation"), at("applyTo"))
        {
            ctx.report(
                diagnostic.with_help(
                    "use `operation: INSERT_BEFORE` with a `subFilter` match on `envoy.filters.http.router`",
                ),
            );
        }
        let value = patch.patch.as_ref().and_then(|p| p.value.as_ref());
        match (value, operation) {
            (Some(value), "REMOVE") => ctx.report(
                Diagnostic::new(codes::PATCH_VALUE_MISSING, value.span, "a REMOVE patch takes no value")
                    .with_label_message("ignored by Istio"),
            ),
            (None, "REMOVE") => {}
            (None, _) => ctx.report(
                Diagnostic::new(
                    codes::PATCH_VALUE_MISSING,
                    at("patch"),
                    format!("a {operation} patch needs a `value`"),
                )
                .with_label_message("missing `value`"),
            ),
            (Some(value), _) => check_patch_value(ctx, apply, operation, value),
        }
        if let Some(object_match) = &patch.match_ {
            envoy_filter::check_match_fits(ctx, apply, object_match, at("match"), operation);
            if let Some(pattern) = object_match.proxy.as_ref().and_then(|p| p.proxy_version.as_deref()) {
                envoy_filter::check_proxy_version(ctx, pattern, at("match.proxy.proxyVersion"));
            }
        }
    }
}

/// A patch value against Envoy's schema of every targeted build: the filter it makes
/// for the filter kinds, the patched message otherwise.
fn check_patch_value(ctx: &mut Ctx, apply: &str, operation: &str, value: &Node) {
    let completeness = if operation.starts_with("MERGE") { Completeness::Partial } else { Completeness::Whole };
    let type_name = envoy_filter::filter_kind(apply)
        .map(|(filter_type, _)| filter_type)
        .or_else(|| envoy_filter::patched_type(apply));
    let Some(type_name) = type_name else { return };
    match &value.kind {
        NodeKind::Object(members) => {
            let found = envoy::check_message_as_proto_json(
                ctx.targets,
                type_name,
                value.span.sub_to(value.span.start),
                members,
                completeness,
            );
            ctx.diagnostics.extend(found);
        }
        _ => ctx.report(
            Diagnostic::new(
                codes::ENVOY_VALUE_MISMATCH,
                value.span,
                format!("a patch value is an object (`{type_name}`), not {}", value.describe()),
            )
            .with_label_message("expected an object"),
        ),
    }
}

fn check_telemetry(ctx: &mut Ctx, generated: &Generated, telemetry: &m::Telemetry, document: &Node) {
    let text = ctx.db.text(ctx.file).to_string();
    let keys = |providers: &[m::ProviderRef], path: &str| -> Vec<Key> {
        providers
            .iter()
            .enumerate()
            .map(|(index, p)| Key {
                name: p.name.clone(),
                span: generated.span_of(&format!("{path}.providers.{index}.name")),
                quoted: false,
            })
            .collect()
    };
    for (index, metrics) in telemetry.spec.metrics.iter().enumerate() {
        let path = format!("spec.metrics.{index}");
        ctx.check_providers(&keys(&metrics.providers, &path), "metrics", "metrics");
        for (o, overrides) in metrics.overrides.iter().enumerate() {
            for (tag, value) in &overrides.tag_overrides {
                let Some(expression) = &value.value else { continue };
                let node = node_at(document, &format!("{path}.overrides.{o}.tagOverrides.{tag}.value"));
                check_expression(ctx, &text, expression, node, ExprContext::MetricTagValue);
            }
        }
    }
    for (index, tracing) in telemetry.spec.tracing.iter().enumerate() {
        ctx.check_providers(&keys(&tracing.providers, &format!("spec.tracing.{index}")), "tracing", "tracing");
    }
    for (index, logging) in telemetry.spec.access_logging.iter().enumerate() {
        let path = format!("spec.accessLogging.{index}");
        ctx.check_providers(&keys(&logging.providers, &path), "access_logging", "access logging");
        if let Some(filter) = &logging.filter {
            let node = node_at(document, &format!("{path}.filter.expression"));
            check_expression(ctx, &text, &filter.expression, node, ExprContext::AccessLogFilter);
        }
    }
}

/// Checks a CEL expression written as a YAML scalar. Positions inside it are exact when
/// the scalar is written plain or quoted without escapes; otherwise every finding is
/// shown at the whole scalar.
fn check_expression(ctx: &mut Ctx, text: &str, expression: &str, node: Option<&Node>, context: ExprContext) {
    let Some(node) = node else { return };
    let written = &text[node.span.range()];
    let bytes = written.as_bytes();
    let quoted = bytes.len() >= 2 && matches!(bytes[0], b'"' | b'\'') && bytes[bytes.len() - 1] == bytes[0];
    let exact = if written == expression {
        Some(node.span)
    } else if quoted && written.get(1..written.len() - 1) == Some(expression) {
        Some(node.span.sub(1, written.len() as u32 - 1))
    } else {
        None
    };
    let at = exact.unwrap_or(Span::new(node.span.file, node.span.start, node.span.start + expression.len() as u32));
    let (_, found) = ctx.expressions.check_expression(expression, at, &ctx.symbols.vocabulary, context);
    let found = found.into_iter().map(|mut diagnostic| {
        if exact.is_none() {
            for label in &mut diagnostic.labels {
                label.span = node.span;
            }
            diagnostic.suggestions.clear();
        }
        diagnostic
    });
    ctx.diagnostics.extend(found);
}

/// The node at a dotted path of a document (`spec.accessLogging.0.filter.expression`).
fn node_at<'n>(document: &'n Node, path: &str) -> Option<&'n Node> {
    let mut current = document;
    for segment in path.split('.') {
        current = match &current.kind {
            NodeKind::Object(_) => current.get(segment)?,
            NodeKind::List(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}
