//! Code actions: the machine-applicable suggestions of diagnostics (did-you-mean,
//! a deprecated field's same-typed replacement), and the rewrite of a deprecated
//! string field whose replacement is an Envoy `DataSource`.

use super::context::cursor_at;
use super::envoy::{self, Envoys, Place, find_field};
use super::{CodeAction, TextEdit};
use crate::diagnostic::codes;
use crate::driver::Analysis;
use crate::envoy::replacement;
use crate::source::SourceDb;
use crate::span::{FileId, Span};
use crate::syntax::ast::*;
use prost_reflect::Kind;

/// The fixes for the diagnostics of `file` that touch `start..end`.
pub fn code_actions(analysis: &Analysis, db: &SourceDb, file: FileId, start: u32, end: u32) -> Vec<CodeAction> {
    let mut out = Vec::new();
    for (index, diagnostic) in analysis.diagnostics.iter().enumerate() {
        let span = diagnostic.primary_span();
        if span.file != file || span.end < start || span.start > end {
            continue;
        }
        for suggestion in &diagnostic.suggestions {
            out.push(CodeAction {
                title: capitalise(&suggestion.message),
                edits: vec![TextEdit { span: suggestion.span, new_text: suggestion.replacement.clone() }],
                diagnostic: Some(index),
                preferred: diagnostic.suggestions.len() == 1,
            });
        }
        let deprecated =
            diagnostic.code == codes::ENVOY_DEPRECATED_FIELD || diagnostic.code == codes::ENVOY_DISALLOWED_FIELD;
        if deprecated
            && diagnostic.suggestions.is_empty()
            && let Some(action) = data_source_rewrite(analysis, db, span)
        {
            out.push(CodeAction { diagnostic: Some(index), ..action });
        }
    }
    out
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().collect::<String>() + chars.as_str(),
        None => String::new(),
    }
}

/// `inline_code: "..."` to `default_source_code: { inline_string: "..." }`: a deprecated
/// string field whose replacement reads the same text from a `DataSource`.
fn data_source_rewrite(analysis: &Analysis, db: &SourceDb, key: Span) -> Option<CodeAction> {
    let text = db.text(key.file);
    let envoys = Envoys::of(analysis);
    let Place::Message(message) = envoy::place(&envoys, &cursor_at(text, key.start).frames)? else { return None };
    let field = find_field(&message, &text[key.range()])?;
    let replacement = message.get_field_by_name(replacement(field.full_name())?)?;
    let is_data_source =
        matches!(replacement.kind(), Kind::Message(m) if m.full_name() == "envoy.config.core.v3.DataSource");
    if field.kind() != Kind::String || !is_data_source || field.is_list() {
        return None;
    }
    let entry = find_entry(analysis, key)?;
    let value = &text[entry.value.span.range()];
    let new_text = format!("{}: {{ inline_string: {value} }}", replacement.name());
    Some(CodeAction {
        title: format!("Replace `{}` by `{}`", field.name(), replacement.name()),
        edits: vec![TextEdit { span: Span::new(key.file, entry.key.span.start, entry.value.span.end), new_text }],
        diagnostic: None,
        preferred: true,
    })
}

/// The object or message entry whose key is at `key`.
fn find_entry(analysis: &Analysis, key: Span) -> Option<&Entry> {
    fn in_value(value: &Value, key: Span) -> Option<&Entry> {
        let entries = match &value.kind {
            ValueKind::Object(entries) | ValueKind::Message { fields: entries, .. } => entries,
            ValueKind::List(items) => return items.iter().find_map(|v| in_value(v, key)),
            _ => return None,
        };
        entries.iter().find_map(|e| if e.key.span == key { Some(e) } else { in_value(&e.value, key) })
    }
    fn in_stmts(body: &[Stmt], key: Span) -> Option<&Entry> {
        body.iter().filter(|s| s.span.start <= key.start && key.end <= s.span.end).find_map(|stmt| match &stmt.kind {
            StmtKind::Setting { value, .. } | StmtKind::PatchValue { value } | StmtKind::Config { value, .. } => {
                in_value(value, key)
            }
            StmtKind::Insert { value, .. } => in_value(value, key),
            StmtKind::Section { body, .. } | StmtKind::Patch { body, .. } | StmtKind::PatchMatch { body } => {
                in_stmts(body, key)
            }
            _ => None,
        })
    }
    let parsed = analysis.files.iter().find(|p| p.file == key.file)?;
    parsed.ast.items.iter().filter(|i| i.span.start <= key.start && key.end <= i.span.end).find_map(|item| match &item
        .kind
    {
        ItemKind::Resource(decl) => in_stmts(&decl.body, key),
        ItemKind::Let(decl) => in_value(&decl.value, key),
        _ => None,
    })
}
