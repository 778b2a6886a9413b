//! Completion: what may be written at the cursor, from the grammar's keywords, the
//! checker's tables, the stdlib's vocabulary, the manifest and Envoy's descriptors.

use super::context::{Cursor, Frame, cursor_at};
use super::envoy::{self, Envoys, Place, field_type, find_field};
use super::{Completion, CompletionKind, symbols};
use crate::check::symbols::{STD_MODULES, Symbols};
use crate::check::{envoy_filter as ef, proxy as px, telemetry as tm, wasm_plugin as wp};
use crate::driver::Analysis;
use crate::source::{SourceDb, SourceKind};
use crate::span::{FileId, Span};
use crate::syntax::ast::RESOURCE_KEYWORDS;
use crate::syntax::{STATEMENT_KEYWORDS, item_keywords};
use prost_reflect::Kind;

/// At most this many message type names are offered at once; the editor asks again
/// as the user types more of the name.
pub const COMPLETION_LIMIT: usize = 400;

/// The block the cursor is in, from the headers of the open braces.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Block {
    Top,
    /// The body of `telemetry`, `wasm_plugin`, `envoy_filter`, `proxy` or `smoke`.
    Resource(String),
    /// A `for workload { ... }` selector.
    Selector,
    Metrics,
    /// The tags of a metric override (`REQUEST_COUNT { ... }`).
    MetricTags(String),
    Tracing,
    Patch(String),
    PatchMatch,
    /// The braces of `insert APPLY_TO ... { VALUE }`.
    Insert(String),
    /// `config SCHEMA { ... }` of a wasm_plugin.
    Config(Option<String>),
    /// A smoke scenario's `request { ... }`.
    SmokeRequest,
    /// A request's `expect { ... }`.
    RequestExpect,
    /// A scenario's own `expect { ... }`.
    ScenarioExpect,
    Other,
}

pub(crate) fn block(frames: &[Frame]) -> Block {
    let Some(first) = frames.first() else { return Block::Top };
    let kind = first.first_word();
    if !RESOURCE_KEYWORDS.contains(&kind) {
        return Block::Other;
    }
    if first.words().last() == Some(&"workload") {
        return if frames.len() == 1 { Block::Selector } else { Block::Other };
    }
    let mut block = Block::Resource(kind.to_string());
    for frame in &frames[1..] {
        let words = frame.words();
        let head = words.first().copied().unwrap_or("");
        block = match (&block, head) {
            (Block::Resource(k), "metrics") if k == "telemetry" => Block::Metrics,
            (Block::Resource(k), "tracing") if k == "telemetry" => Block::Tracing,
            (Block::Metrics, _) if head == "custom" || head.starts_with(|c: char| c.is_ascii_uppercase()) => {
                Block::MetricTags(head.to_string())
            }
            (Block::Resource(k), "patch") if k == "envoy_filter" => {
                Block::Patch(words.get(1).copied().unwrap_or("").to_string())
            }
            (Block::Resource(k), "insert") if k == "envoy_filter" => {
                Block::Insert(words.get(1).copied().unwrap_or("").to_string())
            }
            (Block::Patch(_), "match") => Block::PatchMatch,
            (Block::Resource(k), "request") if k == "smoke" => Block::SmokeRequest,
            (Block::Resource(k), "expect") if k == "smoke" => Block::ScenarioExpect,
            (Block::SmokeRequest, "expect") => Block::RequestExpect,
            (Block::Resource(k), "config") if k == "wasm_plugin" => {
                Block::Config(words.get(1).filter(|w| !w.starts_with('{')).map(|w| w.to_string()))
            }
            _ => Block::Other,
        };
    }
    block
}

/// The Istio settings that take one of a table's words, by block and key.
pub(crate) fn enum_table(block: &Block, key: &str) -> Option<(&'static [(&'static str, &'static str)], &'static str)> {
    Some(match (block, key) {
        (Block::Resource(k), "phase") if k == "wasm_plugin" => (wp::PHASES, "WasmPlugin spec.phase"),
        (Block::Resource(k), "image_pull_policy") if k == "wasm_plugin" => {
            (wp::PULL_POLICIES, "WasmPlugin spec.imagePullPolicy")
        }
        (Block::Resource(k), "fail_strategy") if k == "wasm_plugin" => {
            (wp::FAIL_STRATEGIES, "WasmPlugin spec.failStrategy")
        }
        (Block::Resource(k), "type") if k == "wasm_plugin" => (wp::PLUGIN_TYPES, "WasmPlugin spec.type"),
        (Block::Resource(k), "match") if k == "wasm_plugin" => (wp::MATCH_MODES, "WasmPlugin spec.match[].mode"),
        (Block::Patch(_), "operation") => (ef::OPERATIONS, "EnvoyFilter configPatches[].patch.operation"),
        (Block::Patch(_), "filter_class") => (ef::FILTER_CLASSES, "EnvoyFilter configPatches[].patch.filterClass"),
        (Block::PatchMatch, "context") => (ef::CONTEXTS, "EnvoyFilter configPatches[].match.context"),
        (Block::Resource(k), "patch") | (Block::Resource(k), "insert") if k == "envoy_filter" => {
            (ef::APPLY_TO, "EnvoyFilter configPatches[].applyTo")
        }
        _ => return None,
    })
}

/// The settings (`key value`) and statement keywords a block accepts.
pub(crate) fn block_words(block: &Block) -> (&'static [&'static str], &'static [&'static str]) {
    match block {
        Block::Resource(k) if k == "telemetry" => (tm::TOP_SETTINGS, &["metrics", "tracing", "access_log"]),
        Block::Resource(k) if k == "wasm_plugin" => (wp::SETTINGS, &["config", "env", "match"]),
        Block::Resource(k) if k == "envoy_filter" => (ef::SETTINGS, &["patch", "insert"]),
        Block::Metrics => (tm::METRICS_SETTINGS, &["custom"]),
        Block::MetricTags(_) => (&[], &["tag", "remove"]),
        Block::Tracing => (tm::TRACING_SETTINGS, &["tag"]),
        Block::Patch(_) => (ef::PATCH_SETTINGS, &["match", "value"]),
        Block::PatchMatch => (ef::MATCH_SETTINGS, &[]),
        Block::Resource(k) if k == "proxy" => (px::PROXY_SETTINGS, &[]),
        Block::Resource(k) if k == "smoke" => (px::SMOKE_SETTINGS, &[]),
        Block::SmokeRequest => (px::REQUEST_SETTINGS, &[]),
        Block::RequestExpect => (px::RESPONSE_EXPECTATIONS, &[]),
        Block::ScenarioExpect => (px::SCENARIO_EXPECTATIONS, &[]),
        _ => (&[], &[]),
    }
}

struct Out {
    items: Vec<Completion>,
    replace: Span,
}

impl Out {
    fn push(&mut self, label: impl Into<String>, kind: CompletionKind, detail: Option<String>, doc: Option<String>) {
        let label = label.into();
        if self.items.iter().any(|c| c.label == label) {
            return;
        }
        self.items.push(Completion {
            insert: label.clone(),
            label,
            kind,
            detail,
            documentation: doc.filter(|d| !d.is_empty()),
            replace: self.replace,
        });
    }

    fn words(&mut self, words: &[&str], kind: CompletionKind, detail: &str) {
        for word in words {
            self.push(*word, kind, Some(detail.to_string()), None);
        }
    }

    fn table(&mut self, table: &[(&str, &str)], what: &str) {
        for (word, istio) in table {
            self.push(*word, CompletionKind::EnumValue, Some(format!("{what}: {istio}")), None);
        }
    }
}

/// What may be written at `offset` of `file`.
///
/// `db` holds the text being edited; `analysis` may be older than it (the last one
/// made while the user types): only its names and vocabulary are used, never its
/// spans on `file`'s text.
pub fn completions(analysis: &Analysis, db: &SourceDb, file: FileId, offset: u32) -> Vec<Completion> {
    if db.get(file).kind != SourceKind::Package {
        return Vec::new();
    }
    let text = db.text(file);
    let offset = offset.min(text.len() as u32);
    let cursor = cursor_at(text, offset);
    if cursor.in_literal {
        return Vec::new();
    }
    let (before, typing) = cursor.split();
    let replace = Span::new(file, offset - typing.len() as u32, offset);
    let mut out = Out { items: Vec::new(), replace };
    let symbols = symbols(analysis, db);
    let block = block(&cursor.frames);

    if !cursor.frames.is_empty() && envoy_completions(analysis, &cursor, &before, typing, &block, &mut out) {
        return out.items;
    }
    istio_completions(analysis, db, &symbols, file, &cursor, &before, typing, &block, &mut out);
    out.items
}

/// Completions inside Envoy values; false when the cursor is not in one.
fn envoy_completions(
    analysis: &Analysis,
    cursor: &Cursor,
    before: &[&str],
    typing: &str,
    block: &Block,
    out: &mut Out,
) -> bool {
    let envoys = Envoys::of(analysis);
    // `insert http_filter before X { | }`: the value is a typed message.
    if let Block::Insert(apply_to) = block
        && cursor.frames.len() == 2
    {
        if before.is_empty() {
            type_names(&envoys, typing, envoy::insert_type_prefix(apply_to), out);
        }
        return true;
    }
    let Some(place) = envoy::place(&envoys, &cursor.frames) else { return false };
    let colon = cursor.segment.find(':');
    match (place, colon) {
        (Place::Message(message), None) if before.is_empty() => {
            fields(&envoys, message.full_name(), out);
        }
        (Place::Message(message), Some(colon)) => {
            let key = cursor.segment[..colon].trim().trim_matches('"');
            if let Some(field) = find_field(&message, key) {
                field_values(&envoys, &field, typing, out);
            }
        }
        (Place::List(field), _) => field_values(&envoys, &field, typing, out),
        _ => {}
    }
    true
}

/// The fields of a message in every targeted version, marked where only some have them.
fn fields(envoys: &Envoys, message: &str, out: &mut Out) {
    for pool in envoys.pools.iter().rev() {
        let Some(descriptor) = pool.get_message_by_name(message) else { continue };
        for field in descriptor.fields() {
            if out.items.iter().any(|c| c.label == field.name()) {
                continue;
            }
            let mut detail = field_type(&field);
            if let Some(have) = envoys.only_in(message, Some(field.name())) {
                detail.push_str(&format!(" (only in Envoy {})", have.join(", ")));
            }
            let doc = envoy::field_markdown(envoys, &descriptor, &field);
            out.push(field.name(), CompletionKind::Field, Some(detail), Some(doc));
            if let Some(last) = out.items.last_mut() {
                last.insert = format!("{}: ", field.name());
            }
        }
    }
}

fn field_values(envoys: &Envoys, field: &prost_reflect::FieldDescriptor, typing: &str, out: &mut Out) {
    match field.kind() {
        Kind::Enum(e) => {
            for value in e.values() {
                out.push(
                    value.name(),
                    CompletionKind::EnumValue,
                    Some(e.full_name().to_string()),
                    Some(envoy::enum_value_markdown(&value)),
                );
            }
        }
        Kind::Bool => out.words(&["true", "false"], CompletionKind::Keyword, "bool"),
        Kind::Message(m) if m.full_name() == "google.protobuf.Any" => type_names(envoys, typing, "envoy.", out),
        _ => {}
    }
}

/// Message type names starting with what is typed (or with `prefix` when nothing is).
fn type_names(envoys: &Envoys, typing: &str, prefix: &str, out: &mut Out) {
    let Some(pool) = envoys.newest() else { return };
    let wanted = if typing.is_empty() { prefix } else { typing };
    let mut names: Vec<String> = pool
        .all_messages()
        .filter(|m| !m.is_map_entry() && m.full_name().starts_with(wanted) && m.full_name().contains(".v3."))
        .map(|m| m.full_name().to_string())
        .collect();
    names.sort();
    for name in names.into_iter().take(COMPLETION_LIMIT) {
        let doc = envoys.message(&name).map(|m| envoy::message_markdown(envoys, &m));
        out.push(name, CompletionKind::Type, Some("Envoy message".to_string()), doc);
    }
}

#[allow(clippy::too_many_arguments)]
fn istio_completions(
    analysis: &Analysis,
    db: &SourceDb,
    symbols: &Symbols,
    file: FileId,
    cursor: &Cursor,
    before: &[&str],
    typing: &str,
    block: &Block,
    out: &mut Out,
) {
    let first = before.first().copied().unwrap_or("");
    let last = before.last().copied().unwrap_or("");
    let segment = cursor.segment.as_str();
    let open_paren = segment.rfind('(').is_some_and(|p| !segment[p..].contains(')'));

    // CEL expressions: after `when` and in `tag NAME = ...`.
    let in_expression = matches!(block, Block::Resource(k) if k == "telemetry") && before.contains(&"when")
        || matches!(block, Block::MetricTags(_)) && first == "tag" && before.contains(&"=");
    if in_expression {
        attributes(symbols, typing, out);
        return;
    }

    match block {
        Block::Top => match before {
            [] => {
                let words: Vec<&str> =
                    item_keywords().filter(|w| !matches!(*w, "attribute" | "metric" | "provider_kind")).collect();
                out.words(&words, CompletionKind::Keyword, "declaration");
            }
            ["import"] => modules(analysis, db, file, out),
            [kind, _, ..] if RESOURCE_KEYWORDS.contains(kind) => match last {
                "in" => out.words(&["namespace"], CompletionKind::Keyword, "scope"),
                "for" => out.words(&["workload", "targets", "target"], CompletionKind::Keyword, "scope"),
                "workload" => declarations(symbols, file, out),
                _ => out.words(&["mesh", "in", "for"], CompletionKind::Keyword, "scope"),
            },
            _ => {}
        },
        Block::Resource(kind) if kind == "telemetry" && ["metrics", "tracing", "access_log"].contains(&first) => {
            if open_paren {
                out.table(tm::MODES, "mode");
            } else if before.len() == 1 || last.ends_with(',') {
                let signal = match first {
                    "metrics" => "metrics",
                    "tracing" => "tracing",
                    _ => "access_logging",
                };
                providers(analysis, symbols, signal, out);
            } else if first == "access_log" {
                out.words(&["disabled", "when"], CompletionKind::Keyword, "access_log");
            }
        }
        Block::Resource(kind) if kind == "wasm_plugin" && first == "config" && before.len() == 1 => {
            for (name, (_, definition)) in &symbols.schemas {
                out.push(name, CompletionKind::Declaration, Some("schema".into()), Some(definition.docs.join("\n")));
            }
        }
        Block::Resource(kind) if kind == "wasm_plugin" && first == "env" && last == "from" => {
            out.table(&wp::ENV_SOURCES[1..], "env source")
        }
        Block::Resource(kind) if kind == "wasm_plugin" && first == "match" => {
            if before.len() == 1 {
                out.table(wp::MATCH_MODES, "WasmPlugin match mode");
            }
            out.words(&["ports"], CompletionKind::Keyword, "match");
        }
        Block::Resource(kind) if kind == "envoy_filter" && first == "insert" && before.len() >= 2 => match last {
            "before" | "after" => declarations(symbols, file, out),
            "in" => out.table(ef::CONTEXTS, "patch context"),
            _ if before.len() == 2 => out.words(&["before", "after", "first"], CompletionKind::Keyword, "position"),
            _ => out.words(&["in"], CompletionKind::Keyword, "insert"),
        },
        Block::Metrics if first.starts_with(|c: char| c.is_ascii_uppercase()) || first == "custom" => {
            if open_paren {
                out.table(tm::MODES, "mode");
            } else if !before.is_empty() {
                out.words(&["disabled", "enabled"], CompletionKind::Keyword, "metric override");
            }
        }
        Block::MetricTags(metric) if before == ["remove"] => out.words(&["tag"], CompletionKind::Keyword, "remove tag"),
        Block::MetricTags(metric) if before == ["tag"] || before == ["remove", "tag"] => {
            if let Some(info) = symbols.metrics.get(metric) {
                for label in &info.labels {
                    out.push(label, CompletionKind::Metric, Some(format!("label of {metric}")), None);
                }
            }
        }
        _ => {}
    }
    if let [key] = before
        && let Some((table, what)) = enum_table(block, key)
    {
        out.table(table, what);
    }
    if let [key] = before
        && *key == "method"
        && *block == Block::SmokeRequest
    {
        out.words(px::METHODS, CompletionKind::EnumValue, "HTTP method");
    }
    if let [key] = before
        && *key == "proxy"
        && matches!(block, Block::Resource(k) if k == "smoke")
    {
        for proxy in &analysis.lowered.proxies {
            out.push(&proxy.name, CompletionKind::Declaration, Some("proxy".to_string()), None);
        }
    }
    if let [key] = before
        && *key == "plugin"
        && matches!(block, Block::Resource(k) if k == "smoke")
    {
        for (name, _) in super::navigation::plugin_declarations(analysis) {
            out.push(&name, CompletionKind::Declaration, Some("wasm_plugin".to_string()), None);
        }
    }
    if let Block::Config(Some(schema)) = block
        && before.is_empty()
        && let Some((decl, _)) = symbols.schemas.get(schema)
    {
        for field in &decl.fields {
            let ty = type_text(&field.ty);
            let optional = if field.optional { "?" } else { "" };
            out.push(&field.name.name, CompletionKind::Field, Some(format!("{optional}: {ty}")), None);
            if let Some(last) = out.items.last_mut() {
                last.insert = format!("{}: ", field.name.name);
            }
        }
    }
    if before.is_empty() {
        let (settings, keywords) = block_words(block);
        out.words(keywords, CompletionKind::Keyword, "statement");
        out.words(settings, CompletionKind::Setting, "setting");
        if matches!(block, Block::Metrics) {
            for (name, info) in &symbols.metrics {
                let detail = info.prometheus.clone().unwrap_or_else(|| info.kind.clone());
                out.push(name, CompletionKind::Metric, Some(detail), Some(info.doc.clone()));
            }
        }
        if matches!(block, Block::Other) && cursor.frames.len() > 1 {
            // An unknown block of a resource: the statement keywords are still a fair guess.
            out.words(STATEMENT_KEYWORDS, CompletionKind::Keyword, "statement");
        }
    }
}

fn attributes(symbols: &Symbols, typing: &str, out: &mut Out) {
    let vocabulary = &symbols.vocabulary;
    match typing.rfind('.') {
        Some(dot) => {
            for attribute in vocabulary.children(&typing[..dot]) {
                out.push(
                    &attribute.path,
                    CompletionKind::Attribute,
                    Some(attribute.ty.display()),
                    Some(attribute.doc.clone()),
                );
            }
        }
        None => {
            for attribute in vocabulary.attributes() {
                match attribute.path.split_once('.') {
                    Some((group, _)) => out.push(group, CompletionKind::Attribute, Some("attributes".into()), None),
                    None => out.push(
                        &attribute.path,
                        CompletionKind::Attribute,
                        Some(attribute.ty.display()),
                        Some(attribute.doc.clone()),
                    ),
                }
            }
        }
    }
}

fn providers(analysis: &Analysis, symbols: &Symbols, signal: &str, out: &mut Out) {
    let Some(manifest) = &analysis.manifest else { return };
    for provider in &manifest.providers {
        let kind = &provider.kind.value;
        let serves = symbols.provider_kinds.get(kind).is_none_or(|k| k.signals.iter().any(|s| s == signal));
        if serves {
            let doc = symbols.provider_kinds.get(kind).map(|k| k.doc.clone());
            out.push(&provider.name.value, CompletionKind::Provider, Some(format!("provider ({kind})")), doc);
        }
    }
}

fn modules(analysis: &Analysis, db: &SourceDb, file: FileId, out: &mut Out) {
    out.words(STD_MODULES, CompletionKind::Module, "standard module");
    let package = analysis.manifest.as_ref().map(|m| m.name.value.clone()).unwrap_or_else(|| "package".into());
    for (_, source) in db.iter().filter(|(id, f)| f.kind == SourceKind::Package && *id != file) {
        if let Some(module) = &source.module {
            out.push(format!("{package}.{module}"), CompletionKind::Module, Some("package module".into()), None);
        }
    }
}

fn declarations(symbols: &Symbols, file: FileId, out: &mut Out) {
    let mut names = symbols.visible_names(file);
    names.sort();
    for name in names {
        out.push(name, CompletionKind::Declaration, Some("let".into()), None);
    }
}

/// A schema field's type as written, from the AST (the analysis may be older than the
/// text being completed, so its spans are not used on that text).
fn type_text(ty: &crate::syntax::ast::TypeExpr) -> String {
    use crate::syntax::ast::TypeAtom;
    ty.alternatives
        .iter()
        .map(|atom| match atom {
            TypeAtom::Named(path) => path.text(),
            TypeAtom::Literal(s) => crate::fmt::quote(&s.value),
            TypeAtom::List(inner, _) => format!("[{}]", type_text(inner)),
            TypeAtom::Map(inner, _) => format!("{{{}}}", type_text(inner)),
        })
        .collect::<Vec<_>>()
        .join(" | ")
}
