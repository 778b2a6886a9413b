//! Hover: what the word under the cursor is, in Markdown.

use super::completion::{Block, block, block_words, enum_table};
use super::context::{cursor_at, is_type_path};
use super::envoy::{self, Envoys, Place, find_field};
use super::navigation::{NameKind, occurrences};
use super::{Hover, symbols, word_at};
use crate::check::symbols::Symbols;
use crate::check::telemetry as tm;
use crate::driver::Analysis;
use crate::source::SourceDb;
use crate::span::{FileId, Span};
use crate::syntax::ast::*;
use prost_reflect::Kind;

pub fn hover(analysis: &Analysis, db: &SourceDb, file: FileId, offset: u32) -> Option<Hover> {
    if db.get(file).kind != crate::source::SourceKind::Package {
        return None;
    }
    let text = db.text(file);
    // A name in a selector (a `let` of labels) is hovered as the name; the rest of a
    // selector explains what it selects.
    let on_name = occurrences(analysis, db, &symbols(analysis, db))
        .iter()
        .any(|o| o.span.file == file && o.span.start <= offset && offset <= o.span.end);
    if !on_name && let Some(hover) = selector(analysis, db, file, offset) {
        return Some(hover);
    }
    let (start, end) = word_at(text, offset.min(text.len() as u32));
    if start == end {
        return None;
    }
    let word = text[start as usize..end as usize].trim_end_matches('.');
    let range = Span::new(file, start, start + word.len() as u32);
    let cursor = cursor_at(text, start);
    if cursor.in_literal {
        return None;
    }
    let (before, _) = cursor.split();
    let symbols = symbols(analysis, db);
    let markdown = declaration(analysis, db, &symbols, file, offset)
        .or_else(|| envoy_hover(analysis, &cursor, word))
        .or_else(|| vocabulary(&symbols, word))
        .or_else(|| istio(analysis, &symbols, &block(&cursor.frames), &before, &cursor.segment, word))?;
    Some(Hover { range, markdown })
}

/// On the scope of a declaration (`for workload { app: "api" } in namespace "shop"`,
/// or a proxy's): what the workloads it selects get from the package in each
/// targeted release, as `meshc explain --workload` prints it.
fn selector(analysis: &Analysis, db: &SourceDb, file: FileId, offset: u32) -> Option<Hover> {
    let parsed = analysis.files.iter().find(|p| p.file == file)?;
    let (decl, scope_span) = parsed.ast.items.iter().find_map(|item| match &item.kind {
        ItemKind::Resource(decl) => decl
            .scopes
            .iter()
            .find(|scope| scope.span().start <= offset && offset <= scope.span().end)
            .map(|scope| (decl, scope)),
        _ => None,
    })?;
    // A mesh-wide or targetRef scope selects no one workload to explain.
    let (Scope::Workload(..) | Scope::Namespace(..)) = scope_span else { return None };
    let scope_span = scope_span.span();
    let mut contexts = crate::explain::SIDECAR_CONTEXTS;
    let (namespace, labels) = if decl.kind == ResourceKind::Proxy {
        let proxy = analysis.lowered.proxies.iter().find(|p| p.name == decl.name.name)?;
        if proxy.role == crate::model::proxy::ProxyRole::Gateway {
            contexts = crate::explain::GATEWAY_CONTEXTS;
        }
        (proxy.namespace.clone(), proxy.labels.clone())
    } else {
        let generated = analysis.lowered.resources.iter().find(|g| g.origin == decl.name.span)?;
        let namespace = generated.resource.metadata().namespace.clone();
        let labels = match &generated.resource {
            crate::model::istio::Resource::Telemetry(t) => t.spec.selector.as_ref().map(|s| s.match_labels.clone()),
            crate::model::istio::Resource::WasmPlugin(w) => w.spec.selector.as_ref().map(|s| s.match_labels.clone()),
            crate::model::istio::Resource::EnvoyFilter(f) => {
                f.spec.workload_selector.as_ref().map(|s| s.labels.clone())
            }
        };
        (namespace, labels.unwrap_or_default())
    };
    let workload = crate::effective::Workload { namespace: &namespace, labels: &labels };
    let releases: Vec<&str> = analysis.targets.istio.iter().map(|r| r.version).collect();
    let explanations =
        crate::explain::explain(&analysis.lowered, analysis.root_namespace(), workload, &releases, contexts);
    let locate = |span: Span| {
        let source = db.get(span.file);
        let position = crate::span::LineIndex::new(&source.text).line_col(&source.text, span.start);
        format!("{}:{}", source.path, position.line)
    };
    let text = crate::explain::render_text(workload, &explanations, &locate);
    let markdown = format!(
        "**What the selected workloads get from this package** (`meshc explain --workload {namespace}/{}`)\n\n```text\n{}```",
        labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
        text
    );
    Some(Hover { range: scope_span, markdown })
}

/// A `let`, `schema`, resource or import, where it is declared or used.
fn declaration(analysis: &Analysis, db: &SourceDb, symbols: &Symbols, file: FileId, offset: u32) -> Option<String> {
    let occurrences = occurrences(analysis, db, symbols);
    let found = occurrences.iter().find(|o| o.span.file == file && o.span.start <= offset && offset <= o.span.end)?;
    let target = found.target;
    let parsed = analysis.files.iter().find(|p| p.file == target.file)?;
    let text = db.text(target.file);
    for item in &parsed.ast.items {
        let docs = item.docs.join("\n");
        let head = match &item.kind {
            ItemKind::Let(decl) if decl.name.span == target => {
                let value = &text[decl.value.span.range()];
                let value = if value.len() > 200 || value.contains('\n') {
                    value.lines().next().unwrap_or("").to_string() + " …"
                } else {
                    value.to_string()
                };
                format!("let {} = {value}", decl.name.name)
            }
            ItemKind::Schema(decl) if decl.name.span == target => {
                let fields: Vec<String> = decl
                    .fields
                    .iter()
                    .map(|f| {
                        let optional = if f.optional { "?" } else { "" };
                        format!("  {}{optional}: {}", f.name.name, &text[f.ty.span.range()])
                    })
                    .collect();
                format!("schema {} {{\n{}\n}}", decl.name.name, fields.join("\n"))
            }
            ItemKind::Resource(decl) if decl.name.span == target => {
                format!("{} {}", decl.kind.keyword(), decl.name.name)
            }
            ItemKind::Import(import) if found.kind == NameKind::Import => {
                let alias = import.alias.as_ref().or(import.module.segments.last());
                if alias.map(|a| a.span) != Some(target) {
                    continue;
                }
                format!("import {}", import.module.text())
            }
            _ => continue,
        };
        let mut out = format!("```mesh\n{head}\n```");
        if !docs.is_empty() {
            out.push_str("\n\n");
            out.push_str(&docs);
        }
        return Some(out);
    }
    None
}

fn envoy_hover(analysis: &Analysis, cursor: &super::context::Cursor, word: &str) -> Option<String> {
    if cursor.frames.is_empty() && !is_type_path(word) {
        return None;
    }
    let envoys = Envoys::of(analysis);
    if is_type_path(word)
        && let Some(message) = envoys.message(word)
    {
        return Some(envoy::message_markdown(&envoys, &message));
    }
    let place = envoy::place(&envoys, &cursor.frames)?;
    let colon = cursor.segment.find(':');
    let field = match (&place, colon) {
        (Place::Message(message), None) => {
            let field = find_field(message, word.trim_matches('"'))?;
            return Some(envoy::field_markdown(&envoys, message, &field));
        }
        (Place::Message(message), Some(colon)) => find_field(message, cursor.segment[..colon].trim())?,
        (Place::List(field), _) => field.clone(),
        _ => return None,
    };
    match field.kind() {
        Kind::Enum(e) => e.get_value_by_name(word).map(|v| envoy::enum_value_markdown(&v)),
        _ => None,
    }
}

/// Attributes, attribute groups and metrics of the stdlib.
fn vocabulary(symbols: &Symbols, word: &str) -> Option<String> {
    if let Some(attribute) = symbols.vocabulary.get(word) {
        let mut out = format!("```\nattribute {}: {}\n```", attribute.path, attribute.ty.display());
        if !attribute.doc.is_empty() {
            out.push_str(&format!("\n\n{}", attribute.doc));
        }
        return Some(out);
    }
    if let Some(metric) = symbols.metrics.get(word) {
        let mut out = format!("```\nmetric {} ({})\n```", metric.name, metric.kind);
        if let Some(prometheus) = &metric.prometheus {
            out.push_str(&format!("\nPrometheus name `{prometheus}`."));
        }
        if !metric.doc.is_empty() {
            out.push_str(&format!("\n\n{}", metric.doc));
        }
        if !metric.labels.is_empty() {
            out.push_str(&format!(
                "\n\nLabels: {}.",
                metric.labels.iter().map(|l| format!("`{l}`")).collect::<Vec<_>>().join(", ")
            ));
        }
        return Some(out);
    }
    let children = symbols.vocabulary.children(word);
    if !children.is_empty() {
        let names: Vec<String> = children.iter().take(12).map(|a| format!("`{}`", a.path)).collect();
        let more = if children.len() > 12 { ", …" } else { "" };
        return Some(format!(
            "```\nattributes {word}.*\n```\n{} attributes: {}{more}",
            children.len(),
            names.join(", ")
        ));
    }
    None
}

/// Providers, Istio settings and Istio enum values.
fn istio(
    analysis: &Analysis,
    symbols: &Symbols,
    block: &Block,
    before: &[&str],
    segment: &str,
    word: &str,
) -> Option<String> {
    let first = before.first().copied().unwrap_or("");
    if matches!(block, Block::Resource(k) if k == "telemetry") && ["metrics", "tracing", "access_log"].contains(&first)
    {
        if let Some(provider) = analysis.manifest.as_ref().and_then(|m| m.provider(word)) {
            let kind = &provider.kind.value;
            let mut out = format!("```\nprovider {} ({kind})\n```", provider.name.value);
            if provider.builtin {
                out.push_str("\nBuilt into every mesh.");
            }
            for (key, value) in &provider.settings {
                out.push_str(&format!("\n- `{key}`: {value}"));
            }
            if let Some(info) = symbols.provider_kinds.get(kind) {
                out.push_str(&format!("\n\n{}", info.doc));
            }
            return Some(out);
        }
        let open_paren = segment.rfind('(').is_some_and(|p| !segment[p..].contains(')'));
        if open_paren && let Some((_, istio)) = tm::MODES.iter().find(|(w, _)| *w == word) {
            return Some(format!("```\n{word}\n```\nWorkload mode `{istio}`: which side of a request reports it."));
        }
    }
    if let [key] = before
        && let Some((table, what)) = enum_table(block, key)
        && let Some((_, istio)) = table.iter().find(|(w, _)| *w == word)
    {
        return Some(format!("```\n{word}\n```\n{what}: `{istio}`."));
    }
    if before.is_empty() {
        if let Some((table, what)) = enum_table(block, word) {
            let values: Vec<String> = table.iter().map(|(w, i)| format!("`{w}` ({i})")).collect();
            return Some(format!("```\n{word}\n```\nSets {what}; one of {}.", values.join(", ")));
        }
        let (settings, _) = block_words(block);
        if settings.contains(&word) {
            return Some(format!("```\n{word}\n```\nA setting of {}.", describe(block)));
        }
    }
    None
}

fn describe(block: &Block) -> String {
    match block {
        Block::Resource(kind) => format!("`{kind}`"),
        Block::Metrics => "a `metrics` block".into(),
        Block::Tracing => "a `tracing` block".into(),
        Block::Patch(_) => "a `patch`".into(),
        Block::PatchMatch => "a patch `match`".into(),
        _ => "this block".into(),
    }
}
