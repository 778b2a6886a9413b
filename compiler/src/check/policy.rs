//! `rule` declarations: lowered into [`Rule`]s that `crate::policy` evaluates over
//! every resource, and `waive { RULE: "why" }` sections, lowered into the waiver
//! annotations that both meshc and an emitted admission policy honour.

use super::common::{
    Ctx, Settings, enum_value, metadata_map, misplaced_statement, resolved, string_value, wrong_shape,
};
use crate::diagnostic::{Diagnostic, codes, did_you_mean};
use crate::model::policy::{Rule, RuleSeverity, waiver_annotation};
use crate::syntax::ast::{ResourceDecl, StmtKind, ValueKind};
use std::collections::BTreeMap;

const RULE_SETTINGS: &[&str] = &["severity", "kinds", "namespaces", "labels", "message"];
const SEVERITIES: &[(&str, &str)] = &[("deny", "deny"), ("warn", "warn")];

/// Lowers a `rule` declaration of `module`; `None` when it has an error.
pub(super) fn lower_rule(ctx: &mut Ctx, decl: &ResourceDecl, module: &str, docs: &[String]) -> Option<Rule> {
    let mut ok = true;
    for scope in &decl.scopes {
        ctx.report(
            Diagnostic::new(codes::INVALID_SCOPE, scope.span(), "a rule takes no scope")
                .with_label_message("not allowed on a rule")
                .with_help("say which resources it applies to with `kinds`, `namespaces` and `labels` in its body"),
        );
        ok = false;
    }
    let settings = Settings::collect(ctx, &decl.body, RULE_SETTINGS, "a rule");
    let severity = match settings.value(ctx, "severity") {
        Some(value) => match enum_value(ctx, value, SEVERITIES, "rule severity") {
            Some("warn") => RuleSeverity::Warn,
            Some(_) => RuleSeverity::Deny,
            None => {
                ok = false;
                RuleSeverity::Deny
            }
        },
        None => RuleSeverity::Deny,
    };
    let kinds = match settings.value(ctx, "kinds") {
        Some(value) => {
            names(ctx, value, &crate::crd::Kind::ALL.map(crate::crd::Kind::name), "kind").unwrap_or_else(|| {
                ok = false;
                Vec::new()
            })
        }
        None => Vec::new(),
    };
    let namespaces = match settings.value(ctx, "namespaces") {
        Some(value) => strings(ctx, value).unwrap_or_else(|| {
            ok = false;
            Vec::new()
        }),
        None => Vec::new(),
    };
    let labels = metadata_map(ctx, &settings, "labels");
    let message = match settings.value(ctx, "message") {
        Some(value) => string_value(ctx, value),
        None => {
            ctx.report(
                Diagnostic::new(codes::MISSING_SETTING, decl.name.span, format!("the rule `{}` has no `message`", decl.name.name))
                    .with_help("add `message \"what is wrong and what to do\"`: it is what a resource that breaks the rule is told"),
            );
            None
        }
    };
    let mut condition = None;
    let mut message_expression = None;
    for stmt in &decl.body {
        match &stmt.kind {
            StmtKind::MessageExpression { expr } => {
                if message_expression.is_some() {
                    ctx.report(Diagnostic::new(
                        codes::DUPLICATE_SETTING,
                        stmt.span,
                        "a rule has one `message_expression`",
                    ));
                    ok = false;
                    continue;
                }
                ok &= check_rule_expression(ctx, expr, &kinds);
                message_expression = Some((expr.text.clone(), expr.span));
            }
            StmtKind::Require { expr } => {
                if condition.is_some() {
                    ctx.report(
                        Diagnostic::new(codes::DUPLICATE_SETTING, stmt.span, "a rule has one `require` condition")
                            .with_help("join the conditions with `&&`"),
                    );
                    ok = false;
                    continue;
                }
                ok &= check_rule_expression(ctx, expr, &kinds);
                condition = Some(expr.clone());
            }
            StmtKind::Setting { .. } | StmtKind::Section { .. } | StmtKind::Error => {}
            _ => {
                ctx.report(misplaced_statement(stmt, "a rule"));
                ok = false;
            }
        }
    }
    let Some(condition) = condition else {
        ctx.report(
            Diagnostic::new(
                codes::MISSING_SETTING,
                decl.name.span,
                format!("the rule `{}` has no `require` condition", decl.name.name),
            )
            .with_help("add `require EXPR`: a CEL condition over `object` that every matched resource must meet"),
        );
        return None;
    };
    let message = message?;
    ok.then(|| Rule {
        name: decl.name.name.clone(),
        module: module.to_string(),
        severity,
        severity_override: None,
        kinds,
        namespaces,
        labels,
        condition: condition.text,
        condition_span: condition.span,
        message,
        message_expression,
        origin: decl.name.span,
        docs: docs.join("\n"),
    })
}

/// Checks a CEL expression of a rule (its condition or its message): it parses, and
/// every field it reads from `object` is in the CRD schema of the rule's kinds.
/// Whether it is free of errors.
fn check_rule_expression(ctx: &mut Ctx, expr: &crate::syntax::ast::ExprText, kinds: &[String]) -> bool {
    let errors = ctx.diagnostics.iter().filter(|d| d.is_error()).count();
    if let Err(diagnostic) = ctx.expressions.parse(&expr.text, expr.span) {
        ctx.report(diagnostic);
    }
    check_object_paths(ctx, &expr.text, expr.span, kinds);
    ctx.diagnostics.iter().filter(|d| d.is_error()).count() == errors
}

/// A list of names from `allowed` (`[WasmPlugin, EnvoyFilter]`), each checked.
fn names(ctx: &mut Ctx, value: &crate::syntax::ast::Value, allowed: &[&str], what: &str) -> Option<Vec<String>> {
    let value = resolved(ctx, value);
    let ValueKind::List(items) = &value.kind else {
        ctx.report(wrong_shape(value, &format!("a list of {what}s")));
        return None;
    };
    let mut out = Vec::new();
    let mut ok = true;
    for item in items {
        let text = match &item.kind {
            ValueKind::Path(path) => path.text(),
            ValueKind::String(s) => s.value.clone(),
            _ => {
                ctx.report(wrong_shape(item, &format!("a {what}")));
                ok = false;
                continue;
            }
        };
        if !allowed.contains(&text.as_str()) {
            let mut diagnostic = Diagnostic::new(
                codes::UNKNOWN_ENUM_VALUE,
                item.span,
                format!("`{text}` is not a {what} rules apply to"),
            )
            .with_note(format!("rules apply to {}", allowed.join(", ")));
            if let Some(suggestion) = did_you_mean(&text, allowed.iter().copied()) {
                diagnostic = diagnostic.with_did_you_mean(item.span, suggestion);
            }
            ctx.report(diagnostic);
            ok = false;
            continue;
        }
        out.push(text);
    }
    ok.then_some(out)
}

fn strings(ctx: &mut Ctx, value: &crate::syntax::ast::Value) -> Option<Vec<String>> {
    let value = resolved(ctx, value);
    let ValueKind::List(items) = &value.kind else {
        ctx.report(wrong_shape(value, "a list of strings"));
        return None;
    };
    let mut out = Vec::new();
    for item in items {
        out.push(string_value(ctx, item)?);
    }
    Some(out)
}

/// The waiver annotations of a resource's `waive { RULE: "why" }` section: each names
/// a rule and gives a reason, which the annotation carries to the cluster.
pub(super) fn waivers(ctx: &mut Ctx, settings: &Settings) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(stmt) = settings.stmt("waive") else { return out };
    let StmtKind::Section { body, .. } = &stmt.kind else {
        ctx.report(
            Diagnostic::new(codes::TYPE_MISMATCH, stmt.span, "`waive` is a block of rules and reasons")
                .with_help("write `waive { unpinned_wasm_image: \"the vendor pins its images\" }`"),
        );
        return out;
    };
    for entry in body {
        match &entry.kind {
            StmtKind::Setting { key, value } => {
                let Some(reason) = string_value(ctx, value) else { continue };
                if reason.trim().is_empty() {
                    ctx.report(
                        Diagnostic::new(codes::MISSING_SETTING, value.span, "a waiver says why")
                            .with_label_message("empty reason")
                            .with_help(
                                "the reason is kept as the annotation's value, for whoever reads the resource next",
                            ),
                    );
                    continue;
                }
                ctx.spans.record(format!("metadata.annotations.{}", waiver_annotation(&key.name)), key.span);
                out.insert(waiver_annotation(&key.name), reason);
            }
            StmtKind::Error => {}
            _ => ctx.report(misplaced_statement(entry, "a `waive` block")),
        }
    }
    out
}

/// Applies mesh.toml's `[policy.rules]` severities: `off` takes a rule out of force.
/// A name that is no rule in force is reported, with the stdlib module that has it
/// when the package does not import that module.
pub(super) fn apply_severities(
    rules: &mut Vec<Rule>,
    manifest: &crate::manifest::Manifest,
    db: &crate::source::SourceDb,
    files: &[crate::model::ParsedFile],
) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    let mut off = Vec::new();
    for (name, severity) in &manifest.rule_severities {
        let Some(rule) = rules.iter_mut().find(|r| r.name == name.value) else {
            let mut diagnostic = Diagnostic::new(
                codes::UNKNOWN_NAME,
                name.span,
                format!("`{}` is not a rule in force in this package", name.value),
            )
            .with_label_message("unknown rule");
            if let Some(module) = stdlib_module_declaring(db, files, &name.value) {
                diagnostic = diagnostic
                    .with_note(format!("`{}` is declared in `{module}`", name.value))
                    .with_help(format!("add `import {module}` to a file of the package"));
            } else if let Some(suggestion) = did_you_mean(&name.value, rules.iter().map(|r| r.name.as_str())) {
                diagnostic = diagnostic.with_did_you_mean(name.span, suggestion);
            }
            diagnostics.push(diagnostic);
            continue;
        };
        match severity.value.as_str() {
            "off" => off.push(rule.name.clone()),
            "warn" => rule.severity = RuleSeverity::Warn,
            _ => rule.severity = RuleSeverity::Deny,
        }
        rule.severity_override = Some(severity.span);
    }
    rules.retain(|r| !off.contains(&r.name));
    diagnostics
}

/// The stdlib module that declares a rule named `name`, if one does.
fn stdlib_module_declaring(
    db: &crate::source::SourceDb,
    files: &[crate::model::ParsedFile],
    name: &str,
) -> Option<String> {
    use crate::syntax::ast::{ItemKind, ResourceKind};
    files.iter().find_map(|parsed| {
        let source = db.get(parsed.file);
        if source.kind != crate::source::SourceKind::Stdlib {
            return None;
        }
        let declares = parsed.ast.items.iter().any(
            |item| matches!(&item.kind, ItemKind::Resource(d) if d.kind == ResourceKind::Rule && d.name.name == name),
        );
        if declares { crate::stdlib::module_name(&source.path) } else { None }
    })
}

/// Checks every field a rule's condition reads from `object` (and from the variables
/// of comprehensions over its lists) against the CRD schema of each kind the rule
/// applies to, in each targeted release: a path that no kind has in any release is an
/// error at the segment that leaves the schema, with the nearest field name.
pub(super) fn check_object_paths(ctx: &mut Ctx, text: &str, span: crate::span::Span, kinds: &[String]) {
    use super::cel::syntax::{Nodes, Source};
    let Ok(parsed) = ctx.expressions.parse(text, span) else { return };
    let source = Source::new(text, span);
    let nodes = Nodes::new(&source, &parsed);
    let kinds: Vec<crate::crd::Kind> = if kinds.is_empty() {
        crate::crd::Kind::ALL.to_vec()
    } else {
        kinds.iter().filter_map(|k| crate::crd::Kind::from_name(k)).collect()
    };
    let releases: Vec<&str> = if ctx.targets.istio.is_empty() {
        crate::versions::ISTIO_RELEASES.iter().map(|r| r.version).collect()
    } else {
        ctx.targets.istio.iter().map(|r| r.version).collect()
    };
    let mut reads = Vec::new();
    collect_reads(&parsed.expr, &mut Vec::new(), &mut reads);
    let mut reported = std::collections::HashSet::new();
    for read in reads {
        let mut best: Option<crate::crd::LookupError> = None;
        let found = kinds.iter().any(|kind| {
            releases.iter().any(|release| match crate::crd::lookup_segments(release, *kind, &read.segments) {
                Ok(_) => true,
                Err(error) => {
                    // The error that got furthest down the path says the most.
                    if best.as_ref().is_none_or(|b| error.segment > b.segment) {
                        best = Some(error);
                    }
                    false
                }
            })
        });
        let Some(error) = best.filter(|_| !found) else { continue };
        // The node of the segment that left the schema: the selections are in path order.
        let Some(node) = read.nodes.get(error.segment) else { continue };
        let at = nodes.field_span(node).unwrap_or_else(|| nodes.span(node));
        if !reported.insert(at) {
            continue;
        }
        let kinds_text: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
        let mut diagnostic = Diagnostic::new(
            codes::UNKNOWN_RESOURCE_FIELD,
            at,
            format!("{} has no field `{}` here", kinds_text.join(" or "), error.name),
        )
        .with_label_message("not in the CRD schema")
        .with_note(error.message.clone());
        if let Some(suggestion) = &error.suggestion {
            diagnostic = diagnostic.with_did_you_mean(at, suggestion);
        }
        ctx.report(diagnostic);
    }
}

/// A chain of fields read from `object`, with the expression node of each segment
/// (`None` for a list item reached through a comprehension variable).
struct Read<'e> {
    segments: Vec<crate::crd::PathSegment>,
    nodes: Vec<&'e IdedExpr>,
}

use cel::common::ast::{Expr, IdedExpr};

/// Collects the chains read from `object` and from comprehension variables bound to
/// its lists (`object.spec.tracing.all(t, t.providers...)`).
fn collect_reads<'e>(
    expr: &'e IdedExpr,
    scope: &mut Vec<(String, Vec<crate::crd::PathSegment>, Vec<&'e IdedExpr>)>,
    out: &mut Vec<Read<'e>>,
) {
    if let Some(read) = chain(expr, scope) {
        out.push(read);
        return;
    }
    match &expr.expr {
        Expr::Call(call) => {
            if let Some(target) = &call.target {
                collect_reads(target, scope, out);
            }
            for arg in &call.args {
                collect_reads(arg, scope, out);
            }
        }
        Expr::Select(select) => collect_reads(&select.operand, scope, out),
        Expr::List(list) => list.elements.iter().for_each(|e| collect_reads(e, scope, out)),
        Expr::Map(map) => {
            for entry in &map.entries {
                if let cel::common::ast::EntryExpr::MapEntry(entry) = &entry.expr {
                    collect_reads(&entry.key, scope, out);
                    collect_reads(&entry.value, scope, out);
                }
            }
        }
        Expr::Comprehension(comprehension) => {
            collect_reads(&comprehension.iter_range, scope, out);
            // The variable stands for an item of the range, when the range is a read.
            let bound = chain(&comprehension.iter_range, scope).map(|read| {
                let mut segments = read.segments;
                segments.push(crate::crd::PathSegment::Item);
                let mut nodes = read.nodes;
                nodes.push(&comprehension.iter_range);
                (comprehension.iter_var.clone(), segments, nodes)
            });
            let pushed = bound.is_some();
            if let Some(bound) = bound {
                scope.push(bound);
            }
            for part in [&comprehension.loop_cond, &comprehension.loop_step, &comprehension.result] {
                collect_reads(part, scope, out);
            }
            if pushed {
                scope.pop();
            }
        }
        _ => {}
    }
}

/// `object.a.b` (or `has(object.a.b)`, or `v.a` for a bound variable `v`) as a read.
fn chain<'e>(
    expr: &'e IdedExpr,
    scope: &[(String, Vec<crate::crd::PathSegment>, Vec<&'e IdedExpr>)],
) -> Option<Read<'e>> {
    let mut fields = Vec::new();
    let mut current = expr;
    loop {
        match &current.expr {
            Expr::Select(select) => {
                fields.push((select.field.clone(), current));
                current = &select.operand;
            }
            Expr::Ident(name) => {
                fields.reverse();
                let (mut segments, mut nodes) = if name == "object" {
                    (Vec::new(), Vec::new())
                } else {
                    let (_, segments, nodes) = scope.iter().rev().find(|(var, _, _)| var == name)?;
                    (segments.clone(), nodes.clone())
                };
                if fields.is_empty() && name == "object" {
                    return None;
                }
                for (field, node) in fields {
                    segments.push(crate::crd::PathSegment::Field(field));
                    nodes.push(node);
                }
                return Some(Read { segments, nodes });
            }
            _ => return None,
        }
    }
}
