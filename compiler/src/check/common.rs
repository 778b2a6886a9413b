//! What every resource checker needs: the checking context, settings tables with
//! did-you-mean, enums, typed value accessors, scopes and the conversion of values to
//! the JSON that ends up in a resource.

use super::symbols::Symbols;
use crate::diagnostic::{Diagnostic, codes, did_you_mean};
use crate::envoy::{self, Completeness};
use crate::manifest::Manifest;
use crate::model::SpanIndex;
use crate::model::node::{Member, Node, NodeKind};
use crate::source::SourceDb;
use crate::span::{FileId, Span};
use crate::syntax::ast::*;
use crate::versions::{self, Feature, Targets};
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// The state shared while checking one declaration.
pub(crate) struct Ctx<'a> {
    pub db: &'a SourceDb,
    pub manifest: Option<&'a Manifest>,
    pub symbols: &'a Symbols<'a>,
    /// The Istio releases and Envoy builds the package targets; none when the
    /// manifest is missing.
    pub targets: &'a Targets,
    pub root_namespace: String,
    /// The file of the declaration being checked, for its imports.
    pub file: FileId,
    pub diagnostics: Vec<Diagnostic>,
    pub expressions: &'a super::cel::ExpressionCache,
    /// Where the parts of the resource being lowered were written, by their path in
    /// the resource (see [`crate::model::SpanIndex`]).
    pub spans: SpanIndex,
    /// The path of the EnvoyFilter patch being lowered (`spec.configPatches.2`), under
    /// which its parts record their spans.
    pub patch_path: String,
}

impl Ctx<'_> {
    /// Where a part of the patch being lowered was written (`.match.listener.name`,
    /// relative to the patch), if it was recorded.
    pub(crate) fn spans_find(&self, path: &str) -> Option<Span> {
        let full = format!("{}{path}", self.patch_path);
        self.spans.find(&full).filter(|_| self.spans.has(&full))
    }

    /// Records where a part of the patch being lowered was written, at `path` under
    /// the patch (`match.listener.name`).
    pub(crate) fn record_in_patch(&mut self, path: &str, span: Span) {
        let full = format!("{}.{path}", self.patch_path);
        self.spans.record(full, span);
    }

    /// Checks a message value against Envoy's schema in every targeted build.
    pub(crate) fn check_envoy_message(
        &mut self,
        type_name: &str,
        type_span: Span,
        fields: &[Member],
        completeness: Completeness,
    ) {
        let diagnostics = envoy::check_message(self.targets, type_name, type_span, fields, completeness);
        self.diagnostics.extend(diagnostics);
    }

    pub(crate) fn report(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    /// Reports `what` at `span` unless every targeted release supports `feature`.
    pub(crate) fn require_feature(&mut self, feature: Feature, span: Span, what: &str) -> bool {
        let missing: Vec<&str> = self
            .targets
            .istio
            .iter()
            .filter(|r| !versions::istio_supports(r.version, feature))
            .map(|r| r.version)
            .collect();
        if missing.is_empty() {
            return true;
        }
        self.report(
            Diagnostic::new(
                codes::UNAVAILABLE_IN_VERSION,
                span,
                format!("{what} is not available in Istio {}", missing.join(", ")),
            )
            .with_label_message(format!("not in Istio {}", missing.join(", ")))
            .with_help("drop those releases from `istio` in mesh.toml, or do without this"),
        );
        false
    }

    /// Checks provider references of a telemetry block: declared, and serving `signal`.
    pub(crate) fn check_providers(&mut self, providers: &[Key], signal: &str, block: &str) {
        for key in providers {
            let Some(manifest) = self.manifest else { return };
            let Some(provider) = manifest.providers.iter().find(|p| p.name.value == key.name) else {
                let names: Vec<&str> = manifest.providers.iter().map(|p| p.name.value.as_str()).collect();
                let mut diagnostic = Diagnostic::new(
                    codes::UNKNOWN_PROVIDER,
                    key.span,
                    format!("the provider `{}` is not declared in mesh.toml", key.name),
                )
                .with_label_message("unknown provider");
                diagnostic = match did_you_mean(&key.name, names.iter().copied()) {
                    Some(suggestion) => diagnostic.with_did_you_mean(key.span, suggestion),
                    None => diagnostic.with_help(format!(
                        "declare it under [providers] in mesh.toml; declared providers: {}",
                        names.join(", ")
                    )),
                };
                self.report(diagnostic);
                continue;
            };
            let kind = provider.kind.value.clone();
            if let Some(info) = self.symbols.provider_kinds.get(&kind)
                && !info.signals.iter().any(|s| s == signal)
            {
                let mut diagnostic = Diagnostic::new(
                    codes::PROVIDER_KIND_MISMATCH,
                    key.span,
                    format!("the provider `{}` (kind {kind}) does not serve {block}", key.name),
                )
                .with_label_message(format!("a {kind} provider"));
                diagnostic = if provider.builtin {
                    diagnostic.with_note(format!("`{}` is built into every mesh", key.name))
                } else {
                    diagnostic.with_secondary(provider.kind.span, "its kind is declared here")
                };
                self.report(diagnostic);
            }
        }
    }
}

/// The settings (`key value` and `key { }`) of a block, checked against the names
/// the block accepts. Other statement forms are left to the caller.
pub(super) struct Settings<'s> {
    pub entries: BTreeMap<&'s str, &'s Stmt>,
}

impl<'s> Settings<'s> {
    pub(super) fn collect(ctx: &mut Ctx, body: &'s [Stmt], allowed: &[&str], block: &str) -> Settings<'s> {
        let mut entries: BTreeMap<&'s str, &'s Stmt> = BTreeMap::new();
        for stmt in body {
            let key = match &stmt.kind {
                StmtKind::Setting { key, .. } | StmtKind::Section { key, .. } => key,
                _ => continue,
            };
            if !allowed.contains(&key.name.as_str()) {
                ctx.report(unknown_setting(key, allowed, block));
                continue;
            }
            if let Some(previous) = entries.get(key.name.as_str()) {
                ctx.report(
                    Diagnostic::new(codes::DUPLICATE_SETTING, key.span, format!("`{}` is set twice", key.name))
                        .with_label_message("set again here")
                        .with_secondary(previous.span, "first set here"),
                );
                continue;
            }
            entries.insert(key.name.as_str(), stmt);
        }
        Settings { entries }
    }

    /// The value of a `key value` setting; a `key { }` block where a value belongs is reported.
    pub(super) fn value(&self, ctx: &mut Ctx, key: &str) -> Option<&'s Value> {
        match &self.entries.get(key)?.kind {
            StmtKind::Setting { value, .. } => Some(value),
            StmtKind::Section { key, .. } => {
                ctx.report(
                    Diagnostic::new(
                        codes::TYPE_MISMATCH,
                        key.span,
                        format!("`{}` takes a value, not a block", key.name),
                    )
                    .with_help(format!("write `{}: {{ ... }}` for an object value", key.name)),
                );
                None
            }
            _ => None,
        }
    }

    pub(super) fn stmt(&self, key: &str) -> Option<&'s Stmt> {
        self.entries.get(key).copied()
    }
}

pub(super) fn unknown_setting(key: &Key, allowed: &[&str], block: &str) -> Diagnostic {
    let mut diagnostic =
        Diagnostic::new(codes::UNKNOWN_SETTING, key.span, format!("{block} has no setting `{}`", key.name))
            .with_label_message("unknown setting");
    diagnostic = match did_you_mean(&key.name, allowed.iter().copied()) {
        Some(suggestion) => diagnostic.with_did_you_mean(key.span, suggestion),
        None if allowed.is_empty() => diagnostic.with_note(format!("{block} takes no settings")),
        None => diagnostic.with_note(format!("{block} accepts: {}", allowed.join(", "))),
    };
    diagnostic
}

/// Reports a statement form that the block does not accept.
pub(super) fn misplaced_statement(stmt: &Stmt, block: &str) -> Diagnostic {
    let what = match &stmt.kind {
        StmtKind::Metrics { .. } => "a `metrics` block",
        StmtKind::MetricOverride { .. } => "a metric override",
        StmtKind::Tracing { .. } => "a `tracing` block",
        StmtKind::AccessLog { .. } => "an `access_log` statement",
        StmtKind::Require { .. } => "a `require` statement",
        StmtKind::MessageExpression { .. } => "a `message_expression` statement",
        StmtKind::TagSet { .. } => "a `tag` statement",
        StmtKind::TagRemove { .. } => "a `remove tag` statement",
        StmtKind::Config { .. } => "a `config` statement",
        StmtKind::Env { .. } => "an `env` statement",
        StmtKind::WasmMatch { .. } | StmtKind::PatchMatch { .. } => "a `match` statement",
        StmtKind::Patch { .. } => "a `patch` block",
        StmtKind::PatchValue { .. } => "a `value` statement",
        StmtKind::Insert { .. } => "an `insert` statement",
        StmtKind::Setting { .. } | StmtKind::Section { .. } => "a setting",
        StmtKind::Error => "this",
    };
    let text = &ctx_text(stmt);
    let word_len = text.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(text.len()).max(1) as u32;
    Diagnostic::new(
        codes::UNKNOWN_KEYWORD,
        stmt.span.sub(0, word_len.min(stmt.span.len())),
        format!("{what} is not allowed in {block}"),
    )
    .with_label_message("not allowed here")
}

/// The keyword a statement starts with, from its kind.
fn ctx_text(stmt: &Stmt) -> String {
    match &stmt.kind {
        StmtKind::Metrics { .. } => "metrics",
        StmtKind::Tracing { .. } => "tracing",
        StmtKind::AccessLog { .. } => "access_log",
        StmtKind::Require { .. } => "require",
        StmtKind::MessageExpression { .. } => "message_expression",
        StmtKind::TagSet { .. } => "tag",
        StmtKind::TagRemove { .. } => "remove",
        StmtKind::Config { .. } => "config",
        StmtKind::Env { .. } => "env",
        StmtKind::WasmMatch { .. } | StmtKind::PatchMatch { .. } => "match",
        StmtKind::Patch { .. } => "patch",
        StmtKind::PatchValue { .. } => "value",
        StmtKind::Insert { .. } => "insert",
        StmtKind::MetricOverride { metric: MetricRef::Standard(name), .. } => return name.name.clone(),
        StmtKind::MetricOverride { .. } => "custom",
        StmtKind::Setting { key, .. } | StmtKind::Section { key, .. } => return key.name.clone(),
        StmtKind::Error => "",
    }
    .to_string()
}

/// Whether a block holds statements that did not parse; checks for missing
/// settings then stay quiet, since the setting may be in the broken part.
pub(super) fn has_broken_statements(body: &[Stmt]) -> bool {
    body.iter().any(|s| matches!(s.kind, StmtKind::Error))
}

/// An enum value written as a bare word; `choices` pairs the written word with Istio's spelling.
pub(super) fn enum_word(
    ctx: &mut Ctx,
    word: &Ident,
    choices: &[(&str, &'static str)],
    what: &str,
) -> Option<&'static str> {
    if let Some((_, istio)) = choices.iter().find(|(written, _)| *written == word.name) {
        return Some(istio);
    }
    let written: Vec<&str> = choices.iter().map(|(w, _)| *w).collect();
    let mut diagnostic =
        Diagnostic::new(codes::UNKNOWN_ENUM_VALUE, word.span, format!("`{}` is not a {what}", word.name))
            .with_label_message(format!("unknown {what}"))
            .with_note(format!("expected one of: {}", written.join(", ")));
    if let Some(suggestion) = did_you_mean(&word.name, written.iter().copied()) {
        diagnostic = diagnostic.with_did_you_mean(word.span, suggestion);
    }
    ctx.report(diagnostic);
    None
}

/// An enum value from a setting's value, which must be a single bare word.
pub(super) fn enum_value(
    ctx: &mut Ctx,
    value: &Value,
    choices: &[(&str, &'static str)],
    what: &str,
) -> Option<&'static str> {
    match &value.kind {
        ValueKind::Path(path) if path.segments.len() == 1 => enum_word(ctx, &path.segments[0], choices, what),
        ValueKind::String(s) => {
            let written: Vec<&str> = choices.iter().map(|(w, _)| *w).collect();
            let suggestion = written
                .iter()
                .find(|w| w.eq_ignore_ascii_case(&s.value) || choices.iter().any(|(c, i)| c == *w && *i == s.value));
            let mut diagnostic = Diagnostic::new(
                codes::WRONG_UNIT,
                value.span,
                format!("a {what} is written as a bare word, not a string"),
            )
            .with_note(format!("expected one of: {}", written.join(", ")));
            if let Some(suggestion) = suggestion {
                diagnostic = diagnostic.with_did_you_mean(value.span, suggestion);
            }
            ctx.report(diagnostic);
            None
        }
        ValueKind::Error => None,
        _ => {
            ctx.report(wrong_shape(value, &format!("a {what}")));
            None
        }
    }
}

pub(super) fn wrong_shape(value: &Value, expected: &str) -> Diagnostic {
    Diagnostic::new(codes::WRONG_UNIT, value.span, format!("expected {expected}, found {}", value.describe()))
        .with_label_message(format!("expected {expected}"))
}

/// A value after following `let` references, so `sampling default_rate` works like
/// `sampling 5%`. Each `let`'s value is read in its own file, whose imports it uses. A
/// chain that comes back to a `let` it passed (reported once, at the lets) ends in an
/// error value, which no later check reports again.
pub(super) fn resolved<'v>(ctx: &Ctx<'v>, value: &'v Value) -> &'v Value {
    static CYCLE: Value = Value { kind: ValueKind::Error, span: Span { file: FileId(0), start: 0, end: 0 } };
    let mut current = value;
    let mut file = ctx.file;
    let mut seen: Vec<*const LetDecl> = Vec::new();
    loop {
        let ValueKind::Path(path) = &current.kind else { return current };
        let Some((decl, decl_file)) = ctx.symbols.resolve_let_in(file, path) else { return current };
        if seen.contains(&(decl as *const LetDecl)) {
            return &CYCLE;
        }
        seen.push(decl);
        current = &decl.value;
        file = decl_file;
    }
}

pub(super) fn string_value(ctx: &mut Ctx, value: &Value) -> Option<String> {
    let value_resolved = resolved(ctx, value);
    match &value_resolved.kind {
        ValueKind::String(s) => Some(s.value.clone()),
        ValueKind::Error => None,
        ValueKind::Path(path) => {
            report_unknown_name(ctx, path);
            None
        }
        _ => {
            ctx.report(wrong_shape(value, "a string"));
            None
        }
    }
}

pub(super) fn bool_value(ctx: &mut Ctx, value: &Value) -> Option<bool> {
    match &resolved(ctx, value).kind {
        ValueKind::Bool(b) => Some(*b),
        ValueKind::Error => None,
        _ => {
            ctx.report(wrong_shape(value, "`true` or `false`"));
            None
        }
    }
}

/// A whole number within `min..=max`.
pub(super) fn int_value(ctx: &mut Ctx, value: &Value, min: i64, max: i64, what: &str) -> Option<i64> {
    match &resolved(ctx, value).kind {
        ValueKind::Number { value: number, raw } => {
            if raw.contains(['.', 'e', 'E']) || number.fract() != 0.0 {
                ctx.report(wrong_shape(value, &format!("a whole number for {what}")));
                return None;
            }
            if *number < min as f64 || *number > max as f64 {
                ctx.report(
                    Diagnostic::new(codes::OUT_OF_RANGE, value.span, format!("{what} must be between {min} and {max}"))
                        .with_label_message(format!("{raw} is out of range")),
                );
                return None;
            }
            Some(*number as i64)
        }
        ValueKind::Error => None,
        _ => {
            ctx.report(wrong_shape(value, &format!("a whole number for {what}")));
            None
        }
    }
}

/// A percentage within 0..=100, as a number of percent.
pub(super) fn percent_value(ctx: &mut Ctx, value: &Value, what: &str) -> Option<f64> {
    match &resolved(ctx, value).kind {
        ValueKind::Percent(p) => {
            if !(0.0..=100.0).contains(p) {
                ctx.report(
                    Diagnostic::new(codes::OUT_OF_RANGE, value.span, format!("{what} must be between 0% and 100%"))
                        .with_label_message("out of range"),
                );
                return None;
            }
            Some(*p)
        }
        ValueKind::Number { raw, .. } => {
            ctx.report(
                Diagnostic::new(codes::WRONG_UNIT, value.span, format!("{what} is a percentage"))
                    .with_label_message("a bare number")
                    .with_did_you_mean(value.span, &format!("{raw}%")),
            );
            None
        }
        ValueKind::Error => None,
        _ => {
            ctx.report(wrong_shape(value, "a percentage such as `5%`"));
            None
        }
    }
}

/// A duration of at least `min_seconds`, in protobuf JSON form (`"10s"`, `"0.250s"`).
pub(super) fn duration_value(
    ctx: &mut Ctx,
    value: &Value,
    min_seconds: f64,
    min_text: &str,
    what: &str,
) -> Option<String> {
    match &resolved(ctx, value).kind {
        ValueKind::Duration { nanos, raw } => {
            if (*nanos as f64) / 1e9 < min_seconds {
                ctx.report(
                    Diagnostic::new(codes::OUT_OF_RANGE, value.span, format!("{what} must be at least {min_text}"))
                        .with_label_message(format!("{raw} is too short")),
                );
                return None;
            }
            Some(crate::duration::format_duration(*nanos))
        }
        ValueKind::Number { raw, .. } => {
            ctx.report(
                Diagnostic::new(codes::WRONG_UNIT, value.span, format!("{what} is a duration"))
                    .with_label_message("a bare number has no unit")
                    .with_did_you_mean(value.span, &format!("{raw}s")),
            );
            None
        }
        ValueKind::Error => None,
        _ => {
            ctx.report(wrong_shape(value, "a duration such as `10s` or `250ms`"));
            None
        }
    }
}

/// Reports a name that resolves to nothing, unless it goes through an import that
/// was already reported as unknown.
pub(super) fn report_unknown_name(ctx: &mut Ctx, path: &Path) {
    let through_failed_import = path.segments.len() > 1
        && ctx.symbols.failed_imports.get(&ctx.file).is_some_and(|aliases| aliases.contains(&path.segments[0].name));
    if !through_failed_import {
        let diagnostic = unknown_name(ctx, path);
        ctx.report(diagnostic);
    }
}

fn unknown_name(ctx: &Ctx, path: &Path) -> Diagnostic {
    let text = path.text();
    let names = ctx.symbols.visible_names(ctx.file);
    let mut diagnostic = Diagnostic::new(codes::UNKNOWN_NAME, path.span, format!("`{text}` is not defined"))
        .with_label_message("unknown name");
    if let Some(suggestion) = did_you_mean(&text, names.iter().map(String::as_str)) {
        diagnostic = diagnostic.with_did_you_mean(path.span, suggestion);
    } else {
        diagnostic = diagnostic.with_help("write text as a string in quotes, or declare it with `let`");
    }
    diagnostic
}

/// Converts a value to the JSON that stands in the resource: objects keep their order,
/// typed messages get their `@type`, durations become protobuf JSON durations, and
/// names resolve to their `let`. `None` when some part of it is wrong (reported).
pub(super) fn to_json(ctx: &mut Ctx, value: &Value) -> Option<Json> {
    let (node, complete) = to_node(ctx, value);
    complete.then(|| node.to_json())
}

/// Lowers a value into the spanned tree the Envoy schema checker reads and the
/// resource carries: names resolve to their `let` (keeping the spans of the `let`'s
/// value), and every mistake is reported and leaves an unchecked node in its place,
/// so the rest is still checked. The flag says whether nothing was wrong.
pub(super) fn to_node(ctx: &mut Ctx, value: &Value) -> (Node, bool) {
    let mut complete = true;
    let node = lower_node(ctx, value, &mut complete, 0);
    (node, complete)
}

fn lower_node(ctx: &mut Ctx, value: &Value, complete: &mut bool, depth: usize) -> Node {
    let unchecked = |complete: &mut bool| {
        *complete = false;
        Node::new(NodeKind::Unchecked, value.span)
    };
    let kind = match &value.kind {
        ValueKind::String(s) => NodeKind::String(s.value.clone()),
        ValueKind::Number { value: number, raw } => NodeKind::Number { value: *number, raw: raw.clone() },
        ValueKind::Bool(b) => NodeKind::Bool(*b),
        ValueKind::Null => NodeKind::Null,
        ValueKind::Duration { nanos, .. } => NodeKind::Duration { nanos: *nanos },
        ValueKind::Percent(_) => {
            ctx.report(Diagnostic::new(codes::WRONG_UNIT, value.span, "a percentage has no meaning here").with_help(
                "Envoy's percentages are objects such as `{ value: 5 }` (`envoy.type.v3.Percent`); write the number",
            ));
            return unchecked(complete);
        }
        ValueKind::Path(path) => match ctx.symbols.resolve_let_in(ctx.file, path) {
            // The let's value is read in its own file, with that file's imports.
            Some((decl, decl_file)) if depth < 16 => {
                let outer = std::mem::replace(&mut ctx.file, decl_file);
                let node = lower_node(ctx, &decl.value.clone(), complete, depth + 1);
                ctx.file = outer;
                return node;
            }
            // A let that names itself, directly or not, is reported at the lets.
            Some(_) => return unchecked(complete),
            None => {
                report_unknown_name(ctx, path);
                return unchecked(complete);
            }
        },
        ValueKind::Call { name, .. } => {
            ctx.report(
                Diagnostic::new(codes::TYPE_MISMATCH, name.span, format!("`{}(...)` is not a value", name.name))
                    .with_help("function calls are only written in tag and filter expressions"),
            );
            return unchecked(complete);
        }
        ValueKind::List(items) => {
            NodeKind::List(items.iter().map(|item| lower_node(ctx, item, complete, depth)).collect())
        }
        ValueKind::Object(entries) => NodeKind::Object(lower_members(ctx, entries, complete, depth)),
        ValueKind::Message { type_name, fields, .. } => NodeKind::Message {
            type_name: type_name.text(),
            type_span: type_name.span,
            fields: lower_members(ctx, fields, complete, depth),
        },
        ValueKind::Error => return unchecked(complete),
    };
    Node::new(kind, value.span)
}

fn lower_members(ctx: &mut Ctx, entries: &[Entry], complete: &mut bool, depth: usize) -> Vec<Member> {
    let mut members = Vec::with_capacity(entries.len());
    for entry in entries {
        if let Some(previous) =
            entries.iter().take_while(|e| !std::ptr::eq(*e, entry)).find(|e| e.key.name == entry.key.name)
        {
            ctx.report(
                Diagnostic::new(
                    codes::DUPLICATE_SETTING,
                    entry.key.span,
                    format!("the field `{}` is given twice", entry.key.name),
                )
                .with_label_message("given again here")
                .with_secondary(previous.key.span, "first given here"),
            );
            *complete = false;
            continue;
        }
        let value = lower_node(ctx, &entry.value, complete, depth);
        members.push(Member::new(entry.key.name.clone(), entry.key.span, value));
    }
    members
}

/// Where a resource goes and which workloads it selects.
#[derive(Clone, Debug, Default)]
pub(crate) struct ResolvedScope {
    pub namespace: String,
    pub selector: Option<BTreeMap<String, String>>,
    pub target_refs: Vec<TargetRefOut>,
    /// The span to point at when two resources collide on scope.
    pub span: Option<Span>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TargetRefOut {
    pub group: String,
    pub kind: String,
    pub name: String,
}

/// The kinds a target reference may name and their API groups.
const TARGET_KINDS: &[(&str, &str)] = &[
    ("Gateway", "gateway.networking.k8s.io"),
    ("GatewayClass", "gateway.networking.k8s.io"),
    ("Service", ""),
    ("ServiceEntry", "networking.istio.io"),
];

pub(super) fn resolve_scope(ctx: &mut Ctx, decl: &ResourceDecl) -> Option<ResolvedScope> {
    let mut scope = ResolvedScope::default();
    let mut mesh: Option<Span> = None;
    let mut namespace: Option<(String, Span)> = None;
    let mut workload: Option<Span> = None;
    let mut targets: Option<Span> = None;
    let mut ok = true;
    for clause in &decl.scopes {
        let span = clause.span();
        let previous = match clause {
            Scope::Mesh(_) => mesh.replace(span),
            Scope::Namespace(lit, _) => namespace.replace((lit.value.clone(), span)).map(|(_, s)| s),
            Scope::Workload(..) => workload.replace(span),
            Scope::Targets(..) => targets.replace(span),
        };
        if let Some(previous) = previous {
            ctx.report(
                Diagnostic::new(codes::INVALID_SCOPE, span, "this scope clause is given twice")
                    .with_secondary(previous, "first given here"),
            );
            ok = false;
        }
        match clause {
            Scope::Namespace(lit, _) => {
                if let Some(problem) = dns_label_problem(&lit.value) {
                    ctx.report(
                        Diagnostic::new(
                            codes::INVALID_RESOURCE_NAME,
                            lit.span,
                            format!("`{}` is not a valid namespace name", lit.value),
                        )
                        .with_label_message(problem)
                        .with_note("a namespace name is lower-case letters, digits and `-`, at most 63 characters"),
                    );
                    ok = false;
                }
            }
            Scope::Workload(value, _) => match selector_labels(ctx, value) {
                Some(labels) => scope.selector = Some(labels),
                None => ok = false,
            },
            Scope::Targets(refs, span) => {
                if refs.len() > 16 {
                    ctx.report(Diagnostic::new(codes::OUT_OF_RANGE, *span, "at most 16 target references are allowed"));
                    ok = false;
                }
                for target in refs {
                    match target_ref(ctx, target) {
                        Some(out) => scope.target_refs.push(out),
                        None => ok = false,
                    }
                }
            }
            Scope::Mesh(_) => {}
        }
    }
    if let (Some(mesh_span), Some((_, ns_span))) = (mesh, &namespace) {
        ctx.report(
            Diagnostic::new(codes::INVALID_SCOPE, *ns_span, "`mesh` and `in namespace` cannot be combined")
                .with_secondary(mesh_span, "`mesh` places the resource in the root namespace")
                .with_help(format!("the root namespace is `{}` (root_namespace in mesh.toml)", ctx.root_namespace)),
        );
        ok = false;
    }
    if let (Some(workload_span), Some(targets_span)) = (workload, targets) {
        ctx.report(
            Diagnostic::new(
                codes::SELECTOR_AND_TARGET_REFS,
                targets_span,
                "a workload selector and target references cannot be combined",
            )
            .with_secondary(workload_span, "the workload selector")
            .with_help("Istio rejects a resource that sets both `selector` and `targetRefs`; keep one"),
        );
        ok = false;
    }
    scope.namespace = match (&mesh, namespace) {
        (_, Some((ns, _))) => ns,
        (Some(_), None) => ctx.root_namespace.clone(),
        (None, None) => {
            ctx.report(
                Diagnostic::new(codes::INVALID_SCOPE, decl.name.span, format!("`{}` has no scope", decl.name.name))
                    .with_label_message("missing `mesh` or `in namespace \"...\"`")
                    .with_help(format!(
                        "add `mesh` (the root namespace `{}`) or `in namespace \"NAME\"` after the name",
                        ctx.root_namespace
                    )),
            );
            return None;
        }
    };
    scope.span = Some(decl.scopes.first().map(|s| s.span()).unwrap_or(decl.name.span));
    ok.then_some(scope)
}

fn selector_labels(ctx: &mut Ctx, value: &Value) -> Option<BTreeMap<String, String>> {
    let value = resolved(ctx, value);
    let entries = match &value.kind {
        ValueKind::Object(entries) => entries,
        ValueKind::Path(path) => {
            report_unknown_name(ctx, path);
            return None;
        }
        _ => {
            ctx.report(wrong_shape(value, "labels such as `{ app: \"reviews\" }`"));
            return None;
        }
    };
    if entries.is_empty() {
        ctx.report(
            Diagnostic::new(codes::EMPTY_SELECTOR, value.span, "a workload selector needs at least one label")
                .with_help("drop `for workload {}` to select every workload of the namespace"),
        );
        return None;
    }
    let mut labels = BTreeMap::new();
    let mut ok = true;
    for entry in entries {
        if !is_label_key(&entry.key.name) {
            ctx.report(
                Diagnostic::new(
                    codes::INVALID_RESOURCE_NAME,
                    entry.key.span,
                    format!("`{}` is not a valid label key", entry.key.name),
                )
                .with_label_message("an optional DNS prefix and `/`, then at most 63 letters, digits, `-`, `_` or `.`"),
            );
            ok = false;
            continue;
        }
        let Some(label_value) = string_value(ctx, &entry.value) else {
            ok = false;
            continue;
        };
        if !is_label_value(&label_value) {
            let length = label_value.chars().count();
            let label = if length > 63 {
                format!("it is {length} characters long; Kubernetes allows 63")
            } else {
                "letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit, no wildcards".to_string()
            };
            ctx.report(
                Diagnostic::new(
                    codes::INVALID_RESOURCE_NAME,
                    entry.value.span,
                    format!("`{label_value}` is not a valid label value"),
                )
                .with_label_message(label),
            );
            ok = false;
            continue;
        }
        labels.insert(entry.key.name.clone(), label_value);
    }
    ok.then_some(labels)
}

fn target_ref(ctx: &mut Ctx, target: &TargetRef) -> Option<TargetRefOut> {
    match target {
        TargetRef::Named { kind, name, .. } => {
            let kinds: Vec<(&str, &'static str)> = TARGET_KINDS.iter().map(|(k, _)| (*k, *k)).collect();
            let kind_name = enum_word(ctx, kind, &kinds, "target kind")?;
            let group = TARGET_KINDS.iter().find(|(k, _)| *k == kind_name).map(|(_, g)| *g).unwrap_or_default();
            Some(TargetRefOut { group: group.to_string(), kind: kind_name.to_string(), name: name.value.clone() })
        }
        TargetRef::Object(value) => {
            let ValueKind::Object(entries) = &value.kind else {
                ctx.report(wrong_shape(value, "a target reference"));
                return None;
            };
            let mut out = TargetRefOut { group: String::new(), kind: String::new(), name: String::new() };
            for entry in entries {
                let field = match entry.key.name.as_str() {
                    "group" => &mut out.group,
                    "kind" => &mut out.kind,
                    "name" => &mut out.name,
                    _ => {
                        ctx.report(unknown_setting(&entry.key, &["group", "kind", "name"], "a target reference"));
                        return None;
                    }
                };
                *field = string_value(ctx, &entry.value)?;
            }
            if out.kind.is_empty() || out.name.is_empty() {
                ctx.report(Diagnostic::new(
                    codes::MISSING_SETTING,
                    value.span,
                    "a target reference needs `kind` and `name`",
                ));
                return None;
            }
            Some(out)
        }
    }
}

/// The Kubernetes resource name of a declaration: `_` becomes `-`.
pub(super) fn resource_name(ctx: &mut Ctx, name: &Ident) -> Option<String> {
    let k8s = name.name.replace('_', "-");
    if let Some(problem) = dns_subdomain_problem(&k8s) {
        let mut diagnostic =
            Diagnostic::new(codes::INVALID_RESOURCE_NAME, name.span, format!("`{k8s}` is not a valid Kubernetes name"))
                .with_label_message(problem)
                .with_note("a name is lower-case letters, digits, `-` and `.`, starting and ending with a letter or digit, at most 63 characters between dots");
        if name.name.chars().any(|c| c.is_ascii_uppercase()) {
            diagnostic = diagnostic.with_did_you_mean(name.span, &name.name.to_ascii_lowercase());
        }
        ctx.report(diagnostic);
        return None;
    }
    Some(k8s)
}

/// Why `s` is not a DNS label (RFC 1123), as Kubernetes requires of names and
/// namespaces, in words; `None` when it is one.
pub(super) fn dns_label_problem(s: &str) -> Option<String> {
    let length = s.chars().count();
    if s.is_empty() {
        Some("it is empty".to_string())
    } else if length > 63 {
        Some(format!("it is {length} characters long; Kubernetes allows 63"))
    } else if let Some(bad) = s.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')) {
        Some(format!("`{bad}` is not allowed: only lower-case letters, digits and `-`"))
    } else if s.starts_with('-') || s.ends_with('-') {
        Some("it must start and end with a letter or digit".to_string())
    } else {
        None
    }
}

/// Why `s` is not a DNS subdomain (labels separated by dots, at most 253 characters).
pub(super) fn dns_subdomain_problem(s: &str) -> Option<String> {
    let length = s.chars().count();
    if length > 253 {
        return Some(format!("it is {length} characters long; Kubernetes allows 253"));
    }
    s.split('.').find_map(dns_label_problem)
}

pub(super) fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

pub(super) fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label)
}

fn is_label_value(s: &str) -> bool {
    s.is_empty()
        || (s.len() <= 63
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && s.as_bytes()[0].is_ascii_alphanumeric()
            && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric())
}

fn is_label_key(s: &str) -> bool {
    let (prefix, name) = match s.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, s),
    };
    prefix.is_none_or(is_dns_subdomain) && !name.is_empty() && is_label_value(name)
}

/// Metadata settings every resource accepts.
pub(super) fn metadata_map(ctx: &mut Ctx, settings: &Settings, key: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(stmt) = settings.stmt(key) else { return out };
    let pairs: Vec<(Key, Value)> = match &stmt.kind {
        StmtKind::Setting { value, .. } => match &resolved(ctx, value).kind {
            ValueKind::Object(entries) => entries.iter().map(|e| (e.key.clone(), e.value.clone())).collect(),
            _ => {
                ctx.report(wrong_shape(value, "an object of strings"));
                return out;
            }
        },
        StmtKind::Section { body, .. } => body
            .iter()
            .filter_map(|s| match &s.kind {
                StmtKind::Setting { key, value } => Some((key.clone(), value.clone())),
                _ => None,
            })
            .collect(),
        _ => return out,
    };
    for (k, v) in pairs {
        if !is_label_key(&k.name) {
            ctx.report(Diagnostic::new(
                codes::INVALID_RESOURCE_NAME,
                k.span,
                format!("`{}` is not a valid {key} key", k.name),
            ));
            continue;
        }
        if let Some(text) = string_value(ctx, &v) {
            out.insert(k.name, text);
        }
    }
    out
}
