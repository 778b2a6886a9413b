//! `envoy_filter` declarations: checked and lowered to `networking.istio.io/v1alpha3` EnvoyFilter.
//!
//! The rules Istio's validation webhook applies (which operations each `applyTo`
//! accepts, which match fits which `applyTo`) are errors here, and matches that
//! istiod would silently apply to nothing are warnings.

use super::common::*;
use super::telemetry::{metadata, target_ref};
use crate::diagnostic::{Diagnostic, codes};
use crate::envoy::{self, Completeness};
use crate::model::istio as m;
use crate::model::node::{Member, Node, NodeKind};
use crate::span::Span;
use crate::syntax::ast::*;
use crate::versions::Feature;

pub(crate) const SETTINGS: &[&str] = &["priority", "labels", "annotations", "waive"];
pub(crate) const PATCH_SETTINGS: &[&str] = &["operation", "filter_class"];
pub(crate) const MATCH_SETTINGS: &[&str] =
    &["context", "proxy", "listener", "route_configuration", "cluster", "waypoint"];

pub(crate) const APPLY_TO: &[(&str, &str)] = &[
    ("listener", "LISTENER"),
    ("filter_chain", "FILTER_CHAIN"),
    ("network_filter", "NETWORK_FILTER"),
    ("http_filter", "HTTP_FILTER"),
    ("route_configuration", "ROUTE_CONFIGURATION"),
    ("virtual_host", "VIRTUAL_HOST"),
    ("http_route", "HTTP_ROUTE"),
    ("cluster", "CLUSTER"),
    ("extension_config", "EXTENSION_CONFIG"),
    ("bootstrap", "BOOTSTRAP"),
    ("listener_filter", "LISTENER_FILTER"),
];
pub(crate) const OPERATIONS: &[(&str, &str)] = &[
    ("merge", "MERGE"),
    ("add", "ADD"),
    ("remove", "REMOVE"),
    ("insert_before", "INSERT_BEFORE"),
    ("insert_after", "INSERT_AFTER"),
    ("insert_first", "INSERT_FIRST"),
    ("replace", "REPLACE"),
    ("merge_and_replace_list", "MERGE_AND_REPLACE_LIST"),
];
pub(crate) const CONTEXTS: &[(&str, &str)] = &[
    ("any", "ANY"),
    ("sidecar_inbound", "SIDECAR_INBOUND"),
    ("sidecar_outbound", "SIDECAR_OUTBOUND"),
    ("gateway", "GATEWAY"),
    ("waypoint", "WAYPOINT"),
];
pub(crate) const FILTER_CLASSES: &[(&str, &str)] =
    &[("unspecified", "UNSPECIFIED"), ("authn", "AUTHN"), ("authz", "AUTHZ"), ("stats", "STATS")];
pub(crate) const ROUTE_ACTIONS: &[(&str, &str)] =
    &[("any", "ANY"), ("route", "ROUTE"), ("redirect", "REDIRECT"), ("direct_response", "DIRECT_RESPONSE")];

const HTTP_CONNECTION_MANAGER: &str = "envoy.filters.network.http_connection_manager";

/// The Envoy message each `applyTo` patches, for typed patch values.
pub(crate) fn patched_type(apply_to: &str) -> Option<&'static str> {
    Some(match apply_to {
        "LISTENER" => "envoy.config.listener.v3.Listener",
        "FILTER_CHAIN" => "envoy.config.listener.v3.FilterChain",
        "NETWORK_FILTER" | "HTTP_FILTER" | "LISTENER_FILTER" => return None,
        "ROUTE_CONFIGURATION" => "envoy.config.route.v3.RouteConfiguration",
        "VIRTUAL_HOST" => "envoy.config.route.v3.VirtualHost",
        "HTTP_ROUTE" => "envoy.config.route.v3.Route",
        "CLUSTER" => "envoy.config.cluster.v3.Cluster",
        "EXTENSION_CONFIG" => "envoy.config.core.v3.TypedExtensionConfig",
        "BOOTSTRAP" => "envoy.config.bootstrap.v3.Bootstrap",
        _ => return None,
    })
}

fn is_filter(apply_to: &str) -> bool {
    matches!(apply_to, "NETWORK_FILTER" | "HTTP_FILTER" | "LISTENER_FILTER")
}

pub(crate) fn lower(ctx: &mut Ctx, decl: &ResourceDecl, scope: &ResolvedScope, name: String) -> Option<m::EnvoyFilter> {
    let settings = Settings::collect(ctx, &decl.body, SETTINGS, "an envoy_filter");
    let labels = metadata_map(ctx, &settings, "labels");
    let mut annotations = metadata_map(ctx, &settings, "annotations");
    annotations.extend(super::policy::waivers(ctx, &settings));
    let mut ok = true;
    let mut spec = m::EnvoyFilterSpec::default();
    if let Some(value) = settings.value(ctx, "priority") {
        spec.priority = int_value(ctx, value, i32::MIN as i64, i32::MAX as i64, "the priority").map(|p| p as i32);
        ok &= spec.priority.is_some();
    }
    for stmt in &decl.body {
        ctx.patch_path = format!("spec.configPatches.{}", spec.config_patches.len());
        // A patch is pointed at by its first words, `patch http_filter` or `insert http_filter`.
        let (patch, header) = match &stmt.kind {
            StmtKind::Patch { apply_to, body } => {
                (patch_block(ctx, apply_to, body, stmt.span), stmt.span.sub_to(apply_to.span.end))
            }
            StmtKind::Insert { apply_to, position, position_span, anchor, context, value } => (
                insert(ctx, apply_to, *position, *position_span, anchor.as_ref(), context.as_ref(), value),
                stmt.span.sub_to(apply_to.span.end),
            ),
            StmtKind::Setting { .. } | StmtKind::Section { .. } | StmtKind::Error => continue,
            _ => {
                ctx.report(misplaced_statement(stmt, "an envoy_filter"));
                ok = false;
                continue;
            }
        };
        match patch {
            Some(patch) => {
                ctx.spans.record(format!("spec.configPatches.{}", spec.config_patches.len()), header);
                spec.config_patches.push(patch);
            }
            None => ok = false,
        }
    }
    if spec.config_patches.is_empty() && ok && !has_broken_statements(&decl.body) {
        ctx.report(
            Diagnostic::new(
                codes::MISSING_SETTING,
                decl.name.span,
                format!("the envoy_filter `{}` patches nothing", decl.name.name),
            )
            .with_help("add a `patch APPLY_TO { ... }` block or an `insert ...` statement"),
        );
        ok = false;
    }
    spec.workload_selector = scope.selector.clone().map(|labels| m::EnvoyFilterWorkloadSelector { labels });
    spec.target_refs = scope.target_refs.iter().map(target_ref).collect();
    ok.then(|| m::EnvoyFilter { metadata: metadata(name, scope, labels, annotations), spec })
}

fn insert(
    ctx: &mut Ctx,
    apply_to: &Ident,
    position: InsertPosition,
    position_span: Span,
    anchor: Option<&Value>,
    context: Option<&Ident>,
    value: &Value,
) -> Option<m::EnvoyConfigObjectPatch> {
    let apply = enum_word(ctx, apply_to, APPLY_TO, "patch target (applyTo)")?;
    ctx.record_in_patch("patch.operation", position_span);
    ctx.record_in_patch("applyTo", apply_to.span);
    if let Some(context) = context {
        ctx.record_in_patch("match.context", context.span);
    }
    if let Some(anchor) = anchor {
        let path = match apply {
            "HTTP_FILTER" => "match.listener.filterChain.filter.subFilter.name",
            "NETWORK_FILTER" => "match.listener.filterChain.filter.name",
            "LISTENER_FILTER" => "match.listener.listenerFilter",
            _ => "match.routeConfiguration.vhost.route.name",
        };
        ctx.record_in_patch(path, anchor.span);
    }
    let operation = match position {
        InsertPosition::Before => "INSERT_BEFORE",
        InsertPosition::After => "INSERT_AFTER",
        InsertPosition::First => "INSERT_FIRST",
    };
    if !is_filter(apply) && apply != "HTTP_ROUTE" {
        ctx.report(
            Diagnostic::new(
                codes::INVALID_OPERATION_FOR_APPLY_TO,
                apply_to.span,
                format!("`insert` places filters or routes in a chain; `{}` is not one", apply_to.name),
            )
            .with_label_message("not a list element")
            .with_help("use `patch` with `operation add`, `merge`, `replace` or `remove` for this applyTo"),
        );
        return None;
    }
    let mut ok = true;
    match (position, anchor) {
        (InsertPosition::First, Some(anchor)) => {
            ctx.report(
                Diagnostic::new(codes::SYNTAX, anchor.span, "`insert ... first` takes no anchor")
                    .with_label_message("the filter is inserted at the start of the chain"),
            );
            ok = false;
        }
        (InsertPosition::Before | InsertPosition::After, None) => {
            ctx.report(
                Diagnostic::new(
                    codes::MISSING_SETTING,
                    position_span,
                    "`before` and `after` need the name of the filter to insert next to",
                )
                .with_help("write `insert http_filter before \"envoy.filters.http.router\" ...`"),
            );
            ok = false;
        }
        _ => {}
    }
    let context = match context {
        Some(context) => {
            let value = context_value(ctx, context);
            ok &= value.is_some();
            value
        }
        None => None,
    };
    let anchor = match anchor {
        Some(value) => match string_value(ctx, value) {
            Some(text)
                if apply == "HTTP_FILTER" && operation == "INSERT_AFTER" && text == "envoy.filters.http.router" =>
            {
                ctx.report(
                    Diagnostic::new(
                        codes::INVALID_OPERATION_FOR_APPLY_TO,
                        value.span,
                        "this HTTP filter would come after the router",
                    )
                    .with_label_message("Envoy rejects a chain whose router is not last")
                    .with_did_you_mean(position_span, "before"),
                );
                ok = false;
                Some(text)
            }
            Some(text) => Some(text),
            None => {
                ok = false;
                None
            }
        },
        None => None,
    };
    let listener = match apply {
        "HTTP_FILTER" => Some(m::ListenerMatch {
            filter_chain: Some(m::FilterChainMatch {
                filter: Some(m::FilterMatch {
                    name: Some(HTTP_CONNECTION_MANAGER.to_string()),
                    sub_filter: anchor.clone().map(|name| m::SubFilterMatch { name: Some(name) }),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        "NETWORK_FILTER" => Some(m::ListenerMatch {
            filter_chain: anchor.clone().map(|name| m::FilterChainMatch {
                filter: Some(m::FilterMatch { name: Some(name), sub_filter: None }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        "LISTENER_FILTER" => Some(m::ListenerMatch { listener_filter: anchor.clone(), ..Default::default() }),
        _ => None,
    };
    let route_configuration = (apply == "HTTP_ROUTE").then(|| m::RouteConfigurationMatch {
        vhost: anchor.clone().map(|name| m::VirtualHostMatch {
            route: Some(m::RouteMatch { name: Some(name), action: None }),
            ..Default::default()
        }),
        ..Default::default()
    });
    let value = patch_value(ctx, apply, operation, value)?;
    ok.then(|| m::EnvoyConfigObjectPatch {
        apply_to: Some(apply.to_string()),
        match_: Some(m::EnvoyConfigObjectMatch { context, listener, route_configuration, ..Default::default() }),
        patch: Some(m::Patch { operation: Some(operation.to_string()), value: Some(value), filter_class: None }),
    })
}

fn context_value(ctx: &mut Ctx, context: &Ident) -> Option<String> {
    let value = enum_word(ctx, context, CONTEXTS, "patch context")?;
    if value == "WAYPOINT" && !ctx.require_feature(Feature::WaypointContext, context.span, "the `waypoint` context") {
        return None;
    }
    Some(value.to_string())
}

fn patch_block(ctx: &mut Ctx, apply_to: &Ident, body: &[Stmt], span: Span) -> Option<m::EnvoyConfigObjectPatch> {
    let apply = enum_word(ctx, apply_to, APPLY_TO, "patch target (applyTo)");
    let settings = Settings::collect(ctx, body, PATCH_SETTINGS, "a patch");
    let mut ok = apply.is_some();
    let operation = match settings.value(ctx, "operation") {
        Some(value) => {
            let op = enum_value(ctx, value, OPERATIONS, "patch operation");
            ok &= op.is_some();
            op.map(|op| (op, value.span))
        }
        None => {
            ctx.report(
                Diagnostic::new(codes::MISSING_SETTING, apply_to.span, "this patch has no `operation`").with_help(
                    "add `operation merge` (or add, remove, replace, insert_before, insert_after, insert_first)",
                ),
            );
            ok = false;
            None
        }
    };
    let filter_class = match settings.value(ctx, "filter_class") {
        Some(value) => {
            let class = enum_value(ctx, value, FILTER_CLASSES, "filter class");
            ok &= class.is_some();
            class.map(str::to_string)
        }
        None => None,
    };
    let mut matches = body.iter().filter(|s| matches!(s.kind, StmtKind::PatchMatch { .. }));
    let match_stmt = matches.next();
    if let Some(second) = matches.next() {
        ctx.report(Diagnostic::new(codes::DUPLICATE_SETTING, second.span, "a patch has one `match` block"));
        ok = false;
    }
    let mut values = body.iter().filter(|s| matches!(s.kind, StmtKind::PatchValue { .. }));
    let value_stmt = values.next();
    if let Some(second) = values.next() {
        ctx.report(Diagnostic::new(codes::DUPLICATE_SETTING, second.span, "a patch has one `value`"));
        ok = false;
    }
    for stmt in body {
        if !matches!(
            stmt.kind,
            StmtKind::PatchMatch { .. }
                | StmtKind::PatchValue { .. }
                | StmtKind::Setting { .. }
                | StmtKind::Section { .. }
                | StmtKind::Error
        ) {
            ctx.report(misplaced_statement(stmt, "a patch"));
            ok = false;
        }
    }
    let object_match = match match_stmt {
        Some(Stmt { kind: StmtKind::PatchMatch { body }, .. }) => match_block(ctx, body),
        _ => Some(m::EnvoyConfigObjectMatch::default()),
    };
    ok &= object_match.is_some();
    let (Some(apply), Some((operation, operation_span))) = (apply, operation) else { return None };
    ctx.record_in_patch("patch.operation", operation_span);
    ctx.record_in_patch("applyTo", apply_to.span);
    if operation == "MERGE_AND_REPLACE_LIST"
        && !ctx.require_feature(
            Feature::PatchMergeAndReplaceList,
            operation_span,
            "the `merge_and_replace_list` operation",
        )
    {
        return None;
    }

    // What Envoy rejects whatever the release. The operations istiod ignores or
    // rewrites per release are checked against the release tables
    // (check/istio_semantics.rs).
    if let Some(diagnostic) = invalid_operation(apply, operation, operation_span, apply_to.span) {
        ctx.report(diagnostic.with_help(
            "insert it before the router: `insert http_filter before filters.router in CONTEXT { ... }`, or `operation insert_before` with a `sub_filter` match on `envoy.filters.http.router`",
        ));
        ok = false;
    }

    let value = match (value_stmt, operation) {
        (Some(stmt), "REMOVE") => {
            ctx.report(
                Diagnostic::new(codes::PATCH_VALUE_MISSING, stmt.span, "a `remove` patch takes no value")
                    .with_label_message("ignored by Istio"),
            );
            ok = false;
            None
        }
        (Some(Stmt { kind: StmtKind::PatchValue { value }, .. }), _) => {
            let converted = patch_value(ctx, apply, operation, value);
            ok &= converted.is_some();
            converted
        }
        (None, "REMOVE") => None,
        // A statement that did not parse may be the value; the parser reported it.
        (None, _) if has_broken_statements(body) => {
            ok = false;
            None
        }
        (_, _) => {
            ctx.report(
                Diagnostic::new(
                    codes::PATCH_VALUE_MISSING,
                    span.sub(0, 5),
                    format!("a {} patch needs a `value`", operation.to_lowercase()),
                )
                .with_label_message("missing `value`"),
            );
            ok = false;
            None
        }
    };
    let object_match = object_match?;
    ok &= check_match_fits(ctx, apply, &object_match, match_stmt.map(|s| s.span).unwrap_or(apply_to.span), operation);
    ok.then(|| m::EnvoyConfigObjectPatch {
        apply_to: Some(apply.to_string()),
        match_: (object_match != m::EnvoyConfigObjectMatch::default()).then_some(object_match),
        patch: Some(m::Patch { operation: Some(operation.to_string()), value, filter_class }),
    })
}

/// An operation Envoy rejects for an applyTo whatever the release (ADD on HTTP_FILTER),
/// for `.mesh` patches and YAML ones alike; the caller adds help in its own syntax.
pub(super) fn invalid_operation(
    apply: &str,
    operation: &str,
    operation_span: Span,
    apply_span: Span,
) -> Option<Diagnostic> {
    (operation == "ADD" && apply == "HTTP_FILTER").then(|| {
        Diagnostic::new(
            codes::INVALID_OPERATION_FOR_APPLY_TO,
            operation_span,
            format!("operation {operation} is not valid for applyTo {apply}"),
        )
        .with_label_message(
            "istiod appends an added HTTP filter after the router, and Envoy rejects a chain whose router is not last",
        )
        .with_secondary(apply_span, "the applyTo")
    })
}

/// Istio rejects a match of one object class on an applyTo of another, and applies a
/// sub-filter match without a filter to nothing.
pub(super) fn check_match_fits(
    ctx: &mut Ctx,
    apply: &str,
    object_match: &m::EnvoyConfigObjectMatch,
    span: Span,
    operation: &str,
) -> bool {
    let class = match apply {
        "LISTENER" | "FILTER_CHAIN" | "NETWORK_FILTER" | "HTTP_FILTER" | "LISTENER_FILTER" => "listener",
        "ROUTE_CONFIGURATION" | "VIRTUAL_HOST" | "HTTP_ROUTE" => "route_configuration",
        "CLUSTER" => "cluster",
        _ => "",
    };
    let given = if object_match.listener.is_some() {
        Some("listener")
    } else if object_match.route_configuration.is_some() {
        Some("route_configuration")
    } else if object_match.cluster.is_some() {
        Some("cluster")
    } else if object_match.waypoint.is_some() {
        Some("waypoint")
    } else {
        None
    };
    let mut ok = true;
    if let Some(given) = given
        && given != "waypoint"
        && given != class
    {
        ctx.report(
            Diagnostic::new(
                codes::INVALID_OPERATION_FOR_APPLY_TO,
                span,
                format!("a `{given}` match cannot select the objects that applyTo {apply} patches"),
            )
            .with_label_message(if class.is_empty() {
                format!("applyTo {apply} takes no object match")
            } else {
                format!("applyTo {apply} needs a `{class}` match")
            }),
        );
        ok = false;
    }
    if object_match.waypoint.is_some() && object_match.context.as_deref() != Some("WAYPOINT") {
        ctx.report(Diagnostic::new(
            codes::INVALID_OPERATION_FOR_APPLY_TO,
            span,
            "a `waypoint` match is only supported with `context waypoint`",
        ));
        ok = false;
    }
    if apply == "HTTP_FILTER"
        && operation != "ADD"
        && let Some(listener) = &object_match.listener
        && let Some(chain) = &listener.filter_chain
        && let Some(filter) = &chain.filter
        && let Some(name) = &filter.name
        && name != HTTP_CONNECTION_MANAGER
        && name != "envoy.http_connection_manager"
    {
        let at = ctx.spans_find(".match.listener.filterChain.filter.name").unwrap_or(span);
        // With a sub_filter, Istio's validation rejects it; without, it matches nothing.
        let (code, label) = if filter.sub_filter.is_some() {
            ok = false;
            (codes::INVALID_OPERATION_FOR_APPLY_TO, "istiod rejects a sub_filter under another filter")
        } else {
            (codes::MATCH_NEVER_APPLIES, "istiod patches HTTP filters only inside the connection manager")
        };
        ctx.report(
            Diagnostic::new(code, at, format!("HTTP filters live in `{HTTP_CONNECTION_MANAGER}`, not in `{name}`"))
                .with_label_message(label)
                .with_help("an HTTP_FILTER patch must match the HTTP connection manager as its network filter"),
        );
    }
    // Envoy rejects a connection manager whose router is not the last filter.
    let after_router = apply == "HTTP_FILTER"
        && operation == "INSERT_AFTER"
        && object_match
            .listener
            .as_ref()
            .and_then(|l| l.filter_chain.as_ref())
            .and_then(|c| c.filter.as_ref())
            .and_then(|f| f.sub_filter.as_ref())
            .is_none_or(|s| s.name.as_deref() == Some("envoy.filters.http.router"));
    if after_router {
        ctx.report(
            Diagnostic::new(
                codes::INVALID_OPERATION_FOR_APPLY_TO,
                ctx.spans_find(".patch.operation").unwrap_or(span),
                "this HTTP filter would come after the router",
            )
            .with_label_message("Envoy rejects a chain whose router is not last")
            .with_help("insert it before `envoy.filters.http.router` instead"),
        );
        ok = false;
    }
    let filter = object_match.listener.as_ref().and_then(|l| l.filter_chain.as_ref()).and_then(|c| c.filter.as_ref());
    // Istio's validation: a sub_filter only makes sense for HTTP filters.
    if apply != "HTTP_FILTER" && filter.is_some_and(|f| f.sub_filter.is_some()) {
        ctx.report(
            Diagnostic::new(
                codes::INVALID_OPERATION_FOR_APPLY_TO,
                ctx.spans_find(".match.listener.filterChain.filter.subFilter.name").unwrap_or(span),
                format!("a `sub_filter` match only applies to HTTP_FILTER patches, not to {apply}"),
            )
            .with_label_message(if apply == "LISTENER_FILTER" {
                "it matches nothing here"
            } else {
                "istiod rejects it"
            }),
        );
        ok = false;
    }
    // Istio's validation warns that a filter match has no effect on these.
    if matches!(apply, "LISTENER" | "FILTER_CHAIN") && filter.is_some() {
        ctx.report(
            Diagnostic::new(
                codes::MATCH_NEVER_APPLIES,
                ctx.spans_find(".match.listener.filterChain.filter.name").unwrap_or(span),
                format!("a `filter` match has no effect on a {apply} patch"),
            )
            .with_label_message("istiod ignores it")
            .with_help("match the listener or filter chain by its name, port or protocol instead"),
        );
    }
    ok
}

/// The message and extension category of the filters an applyTo patches.
pub(super) fn filter_kind(apply: &str) -> Option<(&'static str, &'static str)> {
    match apply {
        "HTTP_FILTER" => {
            Some(("envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter", "envoy.filters.http"))
        }
        "NETWORK_FILTER" => Some(("envoy.config.listener.v3.Filter", "envoy.filters.network")),
        "LISTENER_FILTER" => Some(("envoy.config.listener.v3.ListenerFilter", "envoy.filters.listener")),
        _ => None,
    }
}

/// The `value` of a patch: a message literal of the patched type loses its `@type`
/// (EnvoyFilter values are the message itself), and a typed filter config becomes a
/// named filter. The value is checked against Envoy's schema of every targeted
/// version: as the filter it makes for the filter kinds (so that its config must be
/// an extension of the right kind), as the patched message otherwise.
fn patch_value(ctx: &mut Ctx, apply: &str, operation: &str, value: &Value) -> Option<Node> {
    let value = resolved(ctx, value);
    let completeness = if operation.starts_with("MERGE") { Completeness::Partial } else { Completeness::Whole };
    let (node, complete) = to_node(ctx, value);
    match (&node.kind, filter_kind(apply)) {
        (NodeKind::Message { type_name, type_span, fields }, Some((filter_type, category))) => {
            // A typed config becomes a filter named as Envoy registers its factory.
            let name = ctx
                .symbols
                .filter_name_for_type(type_name)
                .or_else(|| envoy::extension_name(ctx.targets, category, type_name));
            let filter = Node::new(
                NodeKind::Object(vec![
                    // An unknown name stands as the type, so that only the kind is reported.
                    Member::new(
                        "name",
                        *type_span,
                        Node::string(name.clone().unwrap_or(type_name.clone()), *type_span),
                    ),
                    Member::new("typed_config", *type_span, node.clone()),
                ]),
                node.span,
            );
            if !envoy::is_message(ctx.targets, type_name) {
                // Not a message at all: say so, with the nearest name.
                ctx.check_envoy_message(type_name, *type_span, fields, completeness);
                return None;
            }
            let errors_before = ctx.diagnostics.iter().filter(|d| d.is_error()).count();
            let members = filter.members().expect("an object").to_vec();
            ctx.check_envoy_message(filter_type, *type_span, &members, completeness);
            let wrong_kind = ctx.diagnostics.iter().filter(|d| d.is_error()).count() > errors_before;
            if name.is_none() && !wrong_kind {
                ctx.report(
                    Diagnostic::new(
                        codes::MISSING_SETTING,
                        *type_span,
                        format!("meshc does not know the filter name of `{type_name}`"),
                    )
                    .with_help(format!(
                        "write the filter out: `{{ name: \"envoy.filters...\", typed_config: {type_name} {{ ... }} }}`"
                    )),
                );
            }
            (complete && name.is_some() && !wrong_kind).then_some(filter)
        }
        (NodeKind::Message { type_name, type_span, fields }, None) => {
            ctx.check_envoy_message(type_name, *type_span, fields, completeness);
            if let Some(expected) = patched_type(apply)
                && expected != type_name
            {
                ctx.report(
                    Diagnostic::new(
                        codes::TYPE_MISMATCH,
                        *type_span,
                        format!("applyTo {apply} patches `{expected}`, not `{type_name}`"),
                    )
                    .with_did_you_mean(*type_span, expected),
                );
                return None;
            }
            complete.then(|| Node::new(NodeKind::Object(fields.clone()), node.span))
        }
        (NodeKind::Object(members), kind) => {
            if let Some(object_type) = kind.map(|(filter_type, _)| filter_type).or_else(|| patched_type(apply)) {
                ctx.check_envoy_message(object_type, node.span.sub(0, 1), members, completeness);
            }
            complete.then_some(node)
        }
        _ => {
            if complete {
                ctx.report(wrong_shape(value, "an object or a typed message"));
            }
            None
        }
    }
}

// -- The match block ---------------------------------------------------------------

/// One level of a match block: its settings by name, checked against `allowed`.
struct Block<'s> {
    settings: Settings<'s>,
}

impl<'s> Block<'s> {
    fn new(ctx: &mut Ctx, body: &'s [Stmt], allowed: &[&str], what: &str) -> Block<'s> {
        for stmt in body {
            if !matches!(stmt.kind, StmtKind::Setting { .. } | StmtKind::Section { .. } | StmtKind::Error) {
                ctx.report(misplaced_statement(stmt, what));
            }
        }
        Block { settings: Settings::collect(ctx, body, allowed, what) }
    }

    fn string(&self, ctx: &mut Ctx, key: &str, ok: &mut bool) -> Option<String> {
        let value = self.settings.value(ctx, key)?;
        let text = string_value(ctx, value);
        *ok &= text.is_some();
        text
    }

    fn port(&self, ctx: &mut Ctx, key: &str, ok: &mut bool) -> Option<u32> {
        let value = self.settings.value(ctx, key)?;
        let port = int_value(ctx, value, 0, u32::MAX as i64, "a port number").map(|p| p as u32);
        *ok &= port.is_some();
        port
    }

    /// Records where the value of `key` was written, at `path` under the patch.
    fn record(&self, ctx: &mut Ctx, key: &str, path: &str) {
        if let Some(Stmt { kind: StmtKind::Setting { value, .. }, .. }) = self.settings.stmt(key) {
            ctx.record_in_patch(path, value.span);
        }
    }

    /// The body of a `key { ... }` section.
    fn section(&self, ctx: &mut Ctx, key: &str, ok: &mut bool) -> Option<&'s [Stmt]> {
        match &self.settings.stmt(key)?.kind {
            StmtKind::Section { body, .. } => Some(body),
            StmtKind::Setting { key: k, value } => {
                ctx.report(wrong_shape(value, &format!("a block: `{} {{ ... }}`", k.name)));
                *ok = false;
                None
            }
            _ => None,
        }
    }
}

fn match_block(ctx: &mut Ctx, body: &[Stmt]) -> Option<m::EnvoyConfigObjectMatch> {
    let block = Block::new(ctx, body, MATCH_SETTINGS, "a patch match");
    let mut ok = true;
    let mut out = m::EnvoyConfigObjectMatch::default();
    if let Some(value) = block.settings.value(ctx, "context") {
        ctx.record_in_patch("match.context", value.span);
        match value.kind {
            ValueKind::Path(ref path) if path.segments.len() == 1 => {
                out.context = context_value(ctx, &path.segments[0]);
                ok &= out.context.is_some();
            }
            _ => {
                ok &= enum_value(ctx, value, CONTEXTS, "patch context").is_some();
            }
        }
    }
    if let Some(proxy) = block.section(ctx, "proxy", &mut ok) {
        let proxy_block = Block::new(ctx, proxy, &["proxy_version", "metadata"], "a proxy match");
        let mut proxy_match = m::ProxyMatch::default();
        if let Some(value) = proxy_block.settings.value(ctx, "proxy_version") {
            match string_value(ctx, value) {
                Some(regex) => {
                    ctx.record_in_patch("match.proxy.proxyVersion", value.span);
                    ok &= check_proxy_version(ctx, &regex, value.span);
                    proxy_match.proxy_version = Some(regex);
                }
                None => ok = false,
            }
        }
        if proxy_block.settings.stmt("metadata").is_some() {
            proxy_match.metadata = metadata_map(ctx, &proxy_block.settings, "metadata");
        }
        out.proxy = Some(proxy_match);
    }
    let mut object_matches = Vec::new();
    if let Some(listener) = block.section(ctx, "listener", &mut ok) {
        object_matches.push(block.settings.stmt("listener").map(|s| s.span));
        out.listener = listener_match(ctx, listener, &mut ok);
    }
    if let Some(route) = block.section(ctx, "route_configuration", &mut ok) {
        object_matches.push(block.settings.stmt("route_configuration").map(|s| s.span));
        out.route_configuration = route_match(ctx, route, &mut ok);
    }
    if let Some(cluster) = block.section(ctx, "cluster", &mut ok) {
        object_matches.push(block.settings.stmt("cluster").map(|s| s.span));
        let cluster_block = Block::new(ctx, cluster, &["port_number", "service", "subset", "name"], "a cluster match");
        cluster_block.record(ctx, "name", "match.cluster.name");
        out.cluster = Some(m::ClusterMatch {
            port_number: cluster_block.port(ctx, "port_number", &mut ok),
            service: cluster_block.string(ctx, "service", &mut ok),
            subset: cluster_block.string(ctx, "subset", &mut ok),
            name: cluster_block.string(ctx, "name", &mut ok),
        });
    }
    if let Some(waypoint) = block.section(ctx, "waypoint", &mut ok) {
        let span = block.settings.stmt("waypoint").map(|s| s.span);
        object_matches.push(span);
        if let Some(span) = span {
            ok &= ctx.require_feature(Feature::WaypointContext, span, "a `waypoint` match");
        }
        let waypoint_block = Block::new(ctx, waypoint, &["port_number", "filter", "route"], "a waypoint match");
        let mut waypoint_match =
            m::WaypointMatch { port_number: waypoint_block.port(ctx, "port_number", &mut ok), ..Default::default() };
        if let Some(port) = waypoint_match.port_number
            && !(1..=65535).contains(&port)
            && let Some(value) = waypoint_block.settings.value(ctx, "port_number")
        {
            ctx.report(Diagnostic::new(codes::OUT_OF_RANGE, value.span, "a waypoint port must be between 1 and 65535"));
            ok = false;
        }
        if let Some(filter) = waypoint_block.section(ctx, "filter", &mut ok) {
            waypoint_match.filter = filter_match(ctx, filter, &mut ok, "match.waypoint.filter");
        }
        if let Some(route) = waypoint_block.section(ctx, "route", &mut ok) {
            let route_block = Block::new(ctx, route, &["name"], "a waypoint route match");
            waypoint_match.route = Some(m::WaypointRouteMatch { name: route_block.string(ctx, "name", &mut ok) });
        }
        out.waypoint = Some(waypoint_match);
    }
    let mut object_matches: Vec<Span> = object_matches.into_iter().flatten().collect();
    object_matches.sort_by_key(|s| s.start);
    if let Some(second) = object_matches.get(1) {
        ctx.report(
            Diagnostic::new(codes::INVALID_OPERATION_FOR_APPLY_TO, *second, "a match selects one kind of object")
                .with_label_message("a second object match")
                .with_help("keep one of `listener`, `route_configuration`, `cluster` and `waypoint`"),
        );
        ok = false;
    }
    ok.then_some(out)
}

fn listener_match(ctx: &mut Ctx, body: &[Stmt], ok: &mut bool) -> Option<m::ListenerMatch> {
    let block = Block::new(
        ctx,
        body,
        &["port_number", "port_name", "filter_chain", "listener_filter", "name"],
        "a listener match",
    );
    block.record(ctx, "name", "match.listener.name");
    block.record(ctx, "listener_filter", "match.listener.listenerFilter");
    let mut out = m::ListenerMatch {
        port_number: block.port(ctx, "port_number", ok),
        port_name: block.string(ctx, "port_name", ok),
        listener_filter: block.string(ctx, "listener_filter", ok),
        name: block.string(ctx, "name", ok),
        ..Default::default()
    };
    if let Some(chain) = block.section(ctx, "filter_chain", ok) {
        let chain_block = Block::new(
            ctx,
            chain,
            &[
                "name",
                "sni",
                "transport_protocol",
                "application_protocols",
                "filter",
                "destination_port",
                "transport_socket",
            ],
            "a filter chain match",
        );
        chain_block.record(ctx, "name", "match.listener.filterChain.name");
        let mut chain_match = m::FilterChainMatch {
            name: chain_block.string(ctx, "name", ok),
            sni: chain_block.string(ctx, "sni", ok),
            transport_protocol: chain_block.string(ctx, "transport_protocol", ok),
            application_protocols: chain_block.string(ctx, "application_protocols", ok),
            destination_port: chain_block.port(ctx, "destination_port", ok),
            ..Default::default()
        };
        if let Some(stmt) = chain_block.settings.stmt("transport_socket") {
            *ok &= ctx.require_feature(
                Feature::FilterChainTransportSocketMatch,
                stmt.span,
                "a `transport_socket` filter chain match",
            );
            chain_match.transport_socket = chain_block.string(ctx, "transport_socket", ok);
        }
        if let Some(filter) = chain_block.section(ctx, "filter", ok) {
            chain_match.filter = filter_match(ctx, filter, ok, "match.listener.filterChain.filter");
        }
        out.filter_chain = Some(chain_match);
    }
    Some(out)
}

fn filter_match(ctx: &mut Ctx, body: &[Stmt], ok: &mut bool, path: &str) -> Option<m::FilterMatch> {
    let block = Block::new(ctx, body, &["name", "sub_filter"], "a filter match");
    block.record(ctx, "name", &format!("{path}.name"));
    let mut out = m::FilterMatch { name: block.string(ctx, "name", ok), sub_filter: None };
    if out.name.is_none()
        && let Some(Stmt { kind: StmtKind::Section { key, .. }, .. }) = block.settings.stmt("sub_filter")
    {
        // Istio's validation rejects a filter match without a name.
        ctx.report(
            Diagnostic::new(
                codes::INVALID_OPERATION_FOR_APPLY_TO,
                key.span,
                "a `sub_filter` match needs the `name` of the filter it belongs to",
            )
            .with_label_message("the filter it belongs to is not named; istiod rejects it")
            .with_help(format!("add `name \"{HTTP_CONNECTION_MANAGER}\"` to the `filter` block")),
        );
        *ok = false;
    }
    if let Some(sub) = block.section(ctx, "sub_filter", ok) {
        let sub_block = Block::new(ctx, sub, &["name"], "a sub-filter match");
        sub_block.record(ctx, "name", &format!("{path}.subFilter.name"));
        out.sub_filter = Some(m::SubFilterMatch { name: sub_block.string(ctx, "name", ok) });
    }
    Some(out)
}

fn route_match(ctx: &mut Ctx, body: &[Stmt], ok: &mut bool) -> Option<m::RouteConfigurationMatch> {
    let block =
        Block::new(ctx, body, &["port_number", "port_name", "gateway", "vhost", "name"], "a route configuration match");
    block.record(ctx, "name", "match.routeConfiguration.name");
    let mut out = m::RouteConfigurationMatch {
        port_number: block.port(ctx, "port_number", ok),
        port_name: block.string(ctx, "port_name", ok),
        gateway: block.string(ctx, "gateway", ok),
        name: block.string(ctx, "name", ok),
        vhost: None,
    };
    if let Some(vhost) = block.section(ctx, "vhost", ok) {
        let vhost_block = Block::new(ctx, vhost, &["name", "domain_name", "route"], "a virtual host match");
        vhost_block.record(ctx, "name", "match.routeConfiguration.vhost.name");
        let mut vhost_match = m::VirtualHostMatch {
            name: vhost_block.string(ctx, "name", ok),
            domain_name: vhost_block.string(ctx, "domain_name", ok),
            route: None,
        };
        if let Some(route) = vhost_block.section(ctx, "route", ok) {
            let route_block = Block::new(ctx, route, &["name", "action"], "a route match");
            route_block.record(ctx, "name", "match.routeConfiguration.vhost.route.name");
            let action = match route_block.settings.value(ctx, "action") {
                Some(value) => {
                    let action = enum_value(ctx, value, ROUTE_ACTIONS, "route action");
                    *ok &= action.is_some();
                    action.map(str::to_string)
                }
                None => None,
            };
            vhost_match.route = Some(m::RouteMatch { name: route_block.string(ctx, "name", ok), action });
        }
        out.vhost = Some(vhost_match);
    }
    Some(out)
}

/// A `proxy_version` regex must compile (Istio uses Go's RE2 syntax, which the regex
/// crate shares) and match a proxy of at least one targeted Istio release.
pub(super) fn check_proxy_version(ctx: &mut Ctx, pattern: &str, span: Span) -> bool {
    let regex = match regex::Regex::new(pattern) {
        Ok(regex) => regex,
        Err(error) => {
            ctx.report(
                Diagnostic::new(codes::TYPE_MISMATCH, span, "`proxy_version` is not a valid regular expression")
                    .with_note(error.to_string().lines().last().unwrap_or_default().to_string()),
            );
            return false;
        }
    };
    if ctx.targets.istio.is_empty() {
        return true;
    }
    // Proxies report versions such as 1.28.3; try every patch release up to .99.
    let matching: Vec<&str> = ctx
        .targets
        .istio
        .iter()
        .filter(|r| (0..100).any(|patch| regex.is_match(&format!("{}.{patch}", r.version))))
        .map(|r| r.version)
        .collect();
    if matching.is_empty() {
        let targeted: Vec<&str> = ctx.targets.istio.iter().map(|r| r.version).collect();
        ctx.report(
            Diagnostic::new(
                codes::MATCH_NEVER_APPLIES,
                span,
                "this `proxy_version` matches no proxy of the targeted Istio releases",
            )
            .with_label_message(format!(
                "matches none of {}",
                targeted.iter().map(|v| format!("{v}.x")).collect::<Vec<_>>().join(", ")
            ))
            .with_help("istiod will apply the patch to nothing after the upgrade; widen the regex or drop it"),
        );
    }
    true
}
