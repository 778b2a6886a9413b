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
/// The kinds a rule can apply to.
pub(crate) const RULE_KINDS: &[&str] = &["Telemetry", "WasmPlugin", "EnvoyFilter"];

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
        Some(value) => names(ctx, value, RULE_KINDS, "kind").unwrap_or_else(|| {
            ok = false;
            Vec::new()
        }),
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
    for stmt in &decl.body {
        match &stmt.kind {
            StmtKind::Require { expr } => {
                if condition.is_some() {
                    ctx.report(
                        Diagnostic::new(codes::DUPLICATE_SETTING, stmt.span, "a rule has one `require` condition")
                            .with_help("join the conditions with `&&`"),
                    );
                    ok = false;
                    continue;
                }
                if let Err(diagnostic) = ctx.expressions.parse(&expr.text, expr.span) {
                    ctx.report(diagnostic);
                    ok = false;
                }
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
        origin: decl.name.span,
        docs: docs.join("\n"),
    })
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
