//! A file's shape: its outline (document symbols), its semantic tokens and the
//! regions an editor can fold.

use super::{DocumentSymbol, FoldingKind, FoldingRange, SemanticToken, SymbolKind, TokenKind, symbols};
use crate::check::symbols::Symbols;
use crate::driver::Analysis;
use crate::source::SourceDb;
use crate::span::{FileId, Span};
use crate::syntax::ast::*;
use crate::syntax::{KEYWORDS, item_keywords};
use std::collections::HashMap;

/// The outline of a file: its declarations, and the blocks and settings inside them.
pub fn document_symbols(analysis: &Analysis, db: &SourceDb, file: FileId) -> Vec<DocumentSymbol> {
    let Some(parsed) = analysis.files.iter().find(|p| p.file == file) else { return Vec::new() };
    let text = db.text(file);
    let mut out = Vec::new();
    for item in &parsed.ast.items {
        let symbol = match &item.kind {
            ItemKind::Package(path) => leaf(path.text(), SymbolKind::Package, item.span, path.span),
            ItemKind::Import(import) => leaf(import.module.text(), SymbolKind::Import, item.span, import.module.span),
            ItemKind::Let(decl) => {
                let mut symbol = leaf(decl.name.name.clone(), SymbolKind::Let, item.span, decl.name.span);
                symbol.detail = Some(decl.value.describe().to_string());
                symbol
            }
            ItemKind::Schema(decl) => {
                let mut symbol = leaf(decl.name.name.clone(), SymbolKind::Schema, item.span, decl.name.span);
                symbol.children = decl
                    .fields
                    .iter()
                    .map(|f| {
                        let mut field = leaf(f.name.name.clone(), SymbolKind::Field, f.span, f.name.span);
                        field.detail = Some(text[f.ty.span.range()].to_string());
                        field
                    })
                    .collect();
                symbol
            }
            ItemKind::Resource(decl) => {
                let mut symbol = leaf(decl.name.name.clone(), SymbolKind::Resource, item.span, decl.name.span);
                symbol.detail = Some(decl.kind.keyword().to_string());
                symbol.children = stmts(&decl.body, text);
                symbol
            }
            _ => continue,
        };
        out.push(symbol);
    }
    out
}

fn leaf(name: String, kind: SymbolKind, span: Span, selection: Span) -> DocumentSymbol {
    DocumentSymbol { name, detail: None, kind, span, selection, children: Vec::new() }
}

fn stmts(body: &[Stmt], text: &str) -> Vec<DocumentSymbol> {
    let mut out = Vec::new();
    for stmt in body {
        // The statement's first line names it: `metrics prometheus`, `patch cluster`.
        let head = |n: &str| {
            let line = text[stmt.span.range()].lines().next().unwrap_or("");
            let line = line.split('{').next().unwrap_or(line).trim();
            if line.is_empty() { n.to_string() } else { line.to_string() }
        };
        let keyword_span =
            |len: usize| Span::new(stmt.span.file, stmt.span.start, (stmt.span.start + len as u32).min(stmt.span.end));
        let (name, selection, children) = match &stmt.kind {
            StmtKind::Setting { key, .. } => (key.name.clone(), key.span, Vec::new()),
            StmtKind::Section { key, body } => (key.name.clone(), key.span, stmts(body, text)),
            StmtKind::Metrics { body, .. } => (head("metrics"), keyword_span(7), stmts(body, text)),
            StmtKind::Tracing { body, .. } => (head("tracing"), keyword_span(7), stmts(body, text)),
            StmtKind::AccessLog { .. } => (head("access_log"), keyword_span(10), Vec::new()),
            StmtKind::Require { .. } => (head("require"), keyword_span(7), Vec::new()),
            StmtKind::MessageExpression { .. } => (head("message_expression"), keyword_span(18), Vec::new()),
            StmtKind::MetricOverride { metric, tags, .. } => {
                let span = match metric {
                    MetricRef::Standard(ident) => ident.span,
                    MetricRef::Custom(s) => s.span,
                };
                (head("metric"), span, tags.as_deref().map(|t| stmts(t, text)).unwrap_or_default())
            }
            StmtKind::TagSet { name, .. } => (format!("tag {}", name.name), name.span, Vec::new()),
            StmtKind::TagRemove { name } => (format!("remove tag {}", name.name), name.span, Vec::new()),
            StmtKind::Config { .. } => (head("config"), keyword_span(6), Vec::new()),
            StmtKind::Env { name, .. } => (format!("env {}", name.name), name.span, Vec::new()),
            StmtKind::WasmMatch { .. } => (head("match"), keyword_span(5), Vec::new()),
            StmtKind::Patch { apply_to, body } => {
                (format!("patch {}", apply_to.name), apply_to.span, stmts(body, text))
            }
            StmtKind::PatchMatch { body } => ("match".to_string(), keyword_span(5), stmts(body, text)),
            StmtKind::PatchValue { .. } => ("value".to_string(), keyword_span(5), Vec::new()),
            StmtKind::Insert { apply_to, .. } => (head("insert"), apply_to.span, Vec::new()),
            StmtKind::Error => continue,
        };
        out.push(DocumentSymbol { name, detail: None, kind: SymbolKind::Block, span: stmt.span, selection, children });
    }
    out
}

/// Multi-line braces, brackets, triple-quoted strings, comment runs and import runs.
/// Lexical, so a file that does not parse still folds.
pub fn folding_ranges(analysis: &Analysis, db: &SourceDb, file: FileId) -> Vec<FoldingRange> {
    let text = db.text(file);
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    // The current run of `//` lines: the start of its first line and the end of its last.
    let mut comments: Option<(usize, usize, usize)> = None;
    let index = &db.get(file).line_index;
    let line_of = |i: usize| index.line_of(i as u32);
    let flush = |run: &mut Option<(usize, usize, usize)>, out: &mut Vec<FoldingRange>| {
        if let Some((start, end, lines)) = run.take()
            && lines > 1
        {
            out.push(FoldingRange { start: start as u32, end: end as u32, kind: FoldingKind::Comment });
        }
    };
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let stop = text[i..].find('\n').map(|n| i + n).unwrap_or(bytes.len());
                let line_start = text[..i].rfind('\n').map(|n| n + 1).unwrap_or(0);
                let alone = text[line_start..i].trim().is_empty();
                match (&mut comments, alone) {
                    (Some((_, end, lines)), true) if line_of(*end) + 1 == line_of(i) => {
                        *end = stop;
                        *lines += 1;
                    }
                    (_, true) => {
                        flush(&mut comments, &mut out);
                        comments = Some((i, stop, 1));
                    }
                    _ => {}
                }
                i = stop;
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let stop = text[i + 2..].find("*/").map(|n| i + 2 + n + 2).unwrap_or(bytes.len());
                if text[i..stop].contains('\n') {
                    out.push(FoldingRange { start: i as u32, end: stop as u32, kind: FoldingKind::Comment });
                }
                i = stop;
                continue;
            }
            b'"' if text[i..].starts_with("\"\"\"") => {
                let stop = text[i + 3..].find("\"\"\"").map(|n| i + 3 + n + 3).unwrap_or(bytes.len());
                if text[i..stop].contains('\n') {
                    out.push(FoldingRange { start: i as u32, end: stop as u32, kind: FoldingKind::Region });
                }
                i = stop;
                continue;
            }
            b'"' => {
                let mut j = i + 1;
                while j < bytes.len() && bytes[j] != b'"' && bytes[j] != b'\n' {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
                i = j + 1;
                continue;
            }
            b'{' | b'[' => open.push(i),
            b'}' | b']' => {
                if let Some(start) = open.pop() {
                    // Fold up to the end of the line before the closing brace, so it stays visible.
                    let line_start = text[..i].rfind('\n').unwrap_or(0);
                    if line_start > start {
                        out.push(FoldingRange {
                            start: start as u32,
                            end: line_start as u32,
                            kind: FoldingKind::Region,
                        });
                    }
                }
            }
            b'\n' => {}
            c if !c.is_ascii_whitespace()
                && comments.as_ref().is_some_and(|(_, end, _)| line_of(*end) != line_of(i)) =>
            {
                flush(&mut comments, &mut out);
            }
            _ => {}
        }
        i += 1;
    }
    flush(&mut comments, &mut out);
    if let Some(parsed) = analysis.files.iter().find(|p| p.file == file) {
        let imports: Vec<Span> =
            parsed.ast.items.iter().filter(|i| matches!(i.kind, ItemKind::Import(_))).map(|i| i.span).collect();
        if imports.len() > 1 {
            let (first, last) = (imports[0], imports[imports.len() - 1]);
            out.push(FoldingRange { start: first.start, end: last.end, kind: FoldingKind::Imports });
        }
    }
    out.sort_by_key(|r| (r.start, r.end));
    out
}

/// The semantic tokens of a file in text order, none spanning lines: the lexer finds
/// the tokens and the AST says what each name is.
pub fn semantic_tokens(analysis: &Analysis, db: &SourceDb, file: FileId) -> Vec<SemanticToken> {
    if !matches!(db.get(file).kind, crate::source::SourceKind::Package | crate::source::SourceKind::Stdlib) {
        return Vec::new();
    }
    let text = db.text(file);
    let symbols = symbols(analysis, db);
    let mut names = Names { map: HashMap::new(), expressions: Vec::new(), symbols: &symbols, file };
    if let Some(parsed) = analysis.files.iter().find(|p| p.file == file) {
        for item in &parsed.ast.items {
            names.item(item);
        }
    }
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut push = |start: usize, end: usize, kind: TokenKind, declaration: bool| {
        // Tokens never span lines: split at each newline.
        let mut from = start;
        for (n, _) in text[start..end].match_indices('\n') {
            if start + n > from {
                out.push(SemanticToken { span: Span::new(file, from as u32, (start + n) as u32), kind, declaration });
            }
            from = start + n + 1;
        }
        if end > from {
            out.push(SemanticToken { span: Span::new(file, from as u32, end as u32), kind, declaration });
        }
    };
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let start = i;
        if b == b'/' && bytes.get(i + 1) == Some(&b'/') {
            i = text[i..].find('\n').map(|n| i + n).unwrap_or(bytes.len());
            push(start, i, TokenKind::Comment, false);
        } else if b == b'/' && bytes.get(i + 1) == Some(&b'*') {
            i = text[i + 2..].find("*/").map(|n| i + 2 + n + 2).unwrap_or(bytes.len());
            push(start, i, TokenKind::Comment, false);
        } else if text[i..].starts_with("\"\"\"") || text[i..].starts_with("lua\"\"\"") {
            let open = if b == b'l' { i + 6 } else { i + 3 };
            i = text[open..].find("\"\"\"").map(|n| open + n + 3).unwrap_or(bytes.len());
            push(start, i, TokenKind::String, false);
        } else if b == b'"' || (b == b'\'' && names.in_expression(i)) {
            let mut j = i + 1;
            while j < bytes.len() && bytes[j] != b && bytes[j] != b'\n' {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            i = (j + 1).min(bytes.len());
            push(start, i, TokenKind::String, false);
        } else if b.is_ascii_digit() {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.' || bytes[i] == b'%') {
                i += 1;
            }
            push(start, i, TokenKind::Number, false);
        } else if b.is_ascii_alphabetic() || b == b'_' {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b'.' | b'-')) {
                i += 1;
            }
            let word = &text[start..i];
            if let Some(&(kind, declaration)) = names.map.get(&(start as u32)) {
                push(start, i, kind, declaration);
            } else if names.in_expression(start) {
                let root = word.split('.').next().unwrap_or(word);
                if symbols.vocabulary.get(word).is_some() || !symbols.vocabulary.children(root).is_empty() {
                    push(start, i, TokenKind::Attribute, false);
                } else if matches!(word, "true" | "false" | "null" | "in") {
                    push(start, i, TokenKind::Keyword, false);
                }
            } else if KEYWORDS.contains(&word)
                || item_keywords().any(|k| k == word)
                || matches!(word, "true" | "false" | "null" | "lua")
            {
                push(start, i, TokenKind::Keyword, false);
            }
        } else {
            i += 1;
        }
    }
    out
}

/// What the AST says each name of a file is, by the offset where it starts.
struct Names<'s, 'a> {
    map: HashMap<u32, (TokenKind, bool)>,
    expressions: Vec<Span>,
    symbols: &'s Symbols<'a>,
    file: FileId,
}

impl Names<'_, '_> {
    fn in_expression(&self, offset: usize) -> bool {
        self.expressions.iter().any(|s| s.start as usize <= offset && offset < s.end as usize)
    }

    fn mark(&mut self, span: Span, kind: TokenKind, declaration: bool) {
        self.map.insert(span.start, (kind, declaration));
    }

    fn item(&mut self, item: &Item) {
        match &item.kind {
            ItemKind::Package(path) => self.mark(path.span, TokenKind::Namespace, false),
            ItemKind::Import(import) => {
                self.mark(import.module.span, TokenKind::Namespace, false);
                if let Some(alias) = &import.alias {
                    self.mark(alias.span, TokenKind::Variable, true);
                }
            }
            ItemKind::Let(decl) => {
                self.mark(decl.name.span, TokenKind::Variable, true);
                self.value(&decl.value);
            }
            ItemKind::Schema(decl) => {
                self.mark(decl.name.span, TokenKind::Type, true);
                for field in &decl.fields {
                    self.mark(field.name.span, TokenKind::Property, true);
                    for atom in &field.ty.alternatives {
                        if let TypeAtom::Named(path) = atom {
                            self.mark(path.span, TokenKind::Type, false);
                        }
                    }
                    if let Some(v) = &field.default {
                        self.value(v);
                    }
                }
            }
            ItemKind::Resource(decl) => {
                self.mark(decl.name.span, TokenKind::Declaration, true);
                for scope in &decl.scopes {
                    if let Scope::Workload(v, _) = scope {
                        self.value(v);
                    }
                }
                self.stmts(&decl.body);
            }
            ItemKind::Attribute(decl) => self.mark(decl.path.span, TokenKind::Attribute, true),
            ItemKind::Metric(decl) | ItemKind::ProviderKind(decl) => {
                self.mark(decl.name.span, TokenKind::EnumMember, true);
                self.stmts(&decl.body);
            }
            ItemKind::Error => {}
        }
    }

    fn stmts(&mut self, body: &[Stmt]) {
        for stmt in body {
            match &stmt.kind {
                StmtKind::Setting { key, value } => {
                    self.mark(key.span, TokenKind::Property, false);
                    self.value(value);
                }
                StmtKind::Section { key, body } => {
                    self.mark(key.span, TokenKind::Property, false);
                    self.stmts(body);
                }
                StmtKind::Metrics { providers, body } => {
                    providers.iter().for_each(|p| self.mark(p.span, TokenKind::Variable, false));
                    self.stmts(body);
                }
                StmtKind::Tracing { providers, mode, body } => {
                    providers.iter().for_each(|p| self.mark(p.span, TokenKind::Variable, false));
                    if let Some(mode) = mode {
                        self.mark(mode.span, TokenKind::EnumMember, false);
                    }
                    self.stmts(body);
                }
                StmtKind::Require { expr } | StmtKind::MessageExpression { expr } => self.expressions.push(expr.span),
                StmtKind::AccessLog { providers, mode, filter, .. } => {
                    providers.iter().for_each(|p| self.mark(p.span, TokenKind::Variable, false));
                    if let Some(mode) = mode {
                        self.mark(mode.span, TokenKind::EnumMember, false);
                    }
                    if let Some(filter) = filter {
                        self.expressions.push(filter.span);
                    }
                }
                StmtKind::MetricOverride { metric, mode, tags, .. } => {
                    if let MetricRef::Standard(ident) = metric {
                        self.mark(ident.span, TokenKind::EnumMember, false);
                    }
                    if let Some(mode) = mode {
                        self.mark(mode.span, TokenKind::EnumMember, false);
                    }
                    if let Some(tags) = tags {
                        self.stmts(tags);
                    }
                }
                StmtKind::TagSet { name, expr } => {
                    self.mark(name.span, TokenKind::Property, false);
                    self.expressions.push(expr.span);
                }
                StmtKind::TagRemove { name } | StmtKind::Env { name, value: EnvValue::From(_) } => {
                    self.mark(name.span, TokenKind::Property, false)
                }
                StmtKind::Env { name, value: EnvValue::Inline(v) } => {
                    self.mark(name.span, TokenKind::Property, false);
                    self.value(v);
                }
                StmtKind::Config { schema, value } => {
                    if let Some(schema) = schema {
                        self.mark(schema.span, TokenKind::Type, false);
                    }
                    self.value(value);
                }
                StmtKind::WasmMatch { mode, ports } => {
                    if let Some(mode) = mode {
                        self.mark(mode.span, TokenKind::EnumMember, false);
                    }
                    if let Some(ports) = ports {
                        self.value(ports);
                    }
                }
                StmtKind::Patch { apply_to, body } => {
                    self.mark(apply_to.span, TokenKind::EnumMember, false);
                    self.stmts(body);
                }
                StmtKind::PatchMatch { body } => self.stmts(body),
                StmtKind::PatchValue { value } => self.value(value),
                StmtKind::Insert { apply_to, anchor, context, value, .. } => {
                    self.mark(apply_to.span, TokenKind::EnumMember, false);
                    if let Some(context) = context {
                        self.mark(context.span, TokenKind::EnumMember, false);
                    }
                    if let Some(anchor) = anchor {
                        self.value(anchor);
                    }
                    self.value(value);
                }
                StmtKind::Error => {}
            }
        }
    }

    fn value(&mut self, value: &Value) {
        match &value.kind {
            ValueKind::Path(path) => {
                let kind = if self.symbols.resolve_let(self.file, path).is_some() {
                    TokenKind::Variable
                } else {
                    TokenKind::EnumMember
                };
                self.mark(path.span, kind, false);
            }
            ValueKind::Call { name, args } => {
                self.mark(name.span, TokenKind::Keyword, false);
                args.iter().for_each(|v| self.value(v));
            }
            ValueKind::List(items) => items.iter().for_each(|v| self.value(v)),
            ValueKind::Object(entries) => self.entries(entries),
            ValueKind::Message { type_name, fields, .. } => {
                self.mark(type_name.span, TokenKind::Type, false);
                self.entries(fields);
            }
            _ => {}
        }
    }

    fn entries(&mut self, entries: &[Entry]) {
        for entry in entries {
            if !entry.key.quoted {
                self.mark(entry.key.span, TokenKind::Property, false);
            }
            self.value(&entry.value);
        }
    }
}
