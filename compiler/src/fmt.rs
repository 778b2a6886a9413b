//! The formatter behind `meshc fmt`: the AST and its comments back to canonical text.
//!
//! The style: two-space indentation, one statement per line, a blank line between
//! declarations (and at most one where the author left any between statements),
//! `{` on the header line, short objects and lists inline, numbers and durations as
//! written. Comments stay where they were relative to the code: on their own line
//! before the next statement, or at the end of the line they ended. Formatting is
//! idempotent, and a file with syntax errors is not formatted at all.

use crate::span::FileId;
use crate::syntax::ast::*;
use crate::syntax::{KEYWORDS, parse_file};

const WIDTH: usize = 100;

/// The syntax errors of a file, which keep the formatter from formatting it.
pub fn syntax_errors(file: FileId, text: &str) -> Vec<crate::diagnostic::Diagnostic> {
    let (_, diagnostics) = parse_file(file, text);
    diagnostics.into_iter().filter(|d| d.is_error()).collect()
}

/// Formats one file; `None` when it has syntax errors (see [`syntax_errors`]).
pub fn format_source(text: &str) -> Option<String> {
    let (file, diagnostics) = parse_file(FileId(0), text);
    if diagnostics.iter().any(|d| d.is_error()) {
        return None;
    }
    let mut printer =
        Printer { text, out: String::new(), comments: &file.comments, next_comment: 0, indent: 0, last_end: 0 };
    printer.file(&file);
    Some(printer.finish())
}

struct Printer<'a> {
    text: &'a str,
    out: String,
    comments: &'a [Comment],
    next_comment: usize,
    indent: usize,
    /// The end of the last piece of source printed (a node or a comment), for
    /// keeping the author's blank lines.
    last_end: u32,
}

impl Printer<'_> {
    fn finish(mut self) -> String {
        self.comments_before(u32::MAX);
        let mut out = self.out.trim_end().to_string();
        out.push('\n');
        if out.trim().is_empty() { String::new() } else { out }
    }

    fn pad(&self) -> String {
        "  ".repeat(self.indent)
    }

    /// Starts a new line at the current indentation.
    fn line(&mut self, content: &str) {
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push('\n');
        }
        self.out.push_str(&self.pad());
        self.out.push_str(content);
    }

    fn blank_line(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with("\n\n") {
            if !self.out.ends_with('\n') {
                self.out.push('\n');
            }
            self.out.push('\n');
        }
    }

    /// Whether the source has a blank line between two offsets.
    fn blank_between(&self, from: u32, to: u32) -> bool {
        let (from, to) = (from as usize, (to as usize).min(self.text.len()));
        from < to && self.text[from..to].split('\n').skip(1).collect::<Vec<_>>().len() >= 2 && {
            let lines: Vec<&str> = self.text[from..to].split('\n').collect();
            lines[1..lines.len() - 1].iter().any(|l| l.trim().is_empty())
        }
    }

    /// Prints the comments that start before `offset` on lines of their own, keeping
    /// one blank line where the author left any.
    fn comments_before(&mut self, offset: u32) {
        while let Some(comment) = self.comments.get(self.next_comment) {
            if comment.span.start >= offset {
                break;
            }
            self.keep_blank_line(comment.span.start);
            let text = comment.text.clone();
            self.line(text.trim_end());
            self.next_comment += 1;
            self.last_end = comment.span.end;
        }
    }

    /// A blank line before what starts at `next` if the source has one since the last
    /// printed piece, except right after an opening brace.
    fn keep_blank_line(&mut self, next: u32) {
        if self.blank_between(self.last_end, next) && !self.out.ends_with(['{', '[']) && !self.out.is_empty() {
            self.blank_line();
        }
    }

    /// Appends the comments that start on the same source line right after `end`.
    fn trailing_comments(&mut self, end: u32) {
        while let Some(comment) = self.comments.get(self.next_comment) {
            let between = &self.text[(end as usize).min(comment.span.start as usize)..comment.span.start as usize];
            // Only a comment with nothing but blanks (or a separator) after `end` trails it.
            if comment.span.start < end
                || between.contains('\n')
                || !between.trim().trim_matches([',', ';']).trim().is_empty()
            {
                break;
            }
            self.out.push(' ');
            self.out.push_str(comment.text.trim_end());
            self.next_comment += 1;
            self.last_end = comment.span.end;
            if comment.text.starts_with("//") {
                break;
            }
        }
    }

    fn has_comment_within(&self, start: u32, end: u32) -> bool {
        self.comments[self.next_comment..].iter().any(|c| c.span.start >= start && c.span.end <= end)
    }

    fn file(&mut self, file: &File) {
        let mut previous_end: Option<u32> = None;
        for item in &file.items {
            if previous_end.is_some() {
                self.blank_line();
            }
            self.comments_before(item.span.start);
            self.item(item);
            self.trailing_comments(item.span.end);
            previous_end = Some(item.span.end);
            self.last_end = self.last_end.max(item.span.end);
        }
    }

    fn item(&mut self, item: &Item) {
        match &item.kind {
            ItemKind::Package(path) => self.line(&format!("package {}", path.text())),
            ItemKind::Import(import) => {
                let alias = import.alias.as_ref().map(|a| format!(" as {}", a.name)).unwrap_or_default();
                self.line(&format!("import {}{alias}", import.module.text()));
            }
            ItemKind::Let(decl) => {
                self.line(&format!("let {} = ", decl.name.name));
                self.value(&decl.value);
            }
            ItemKind::Schema(decl) => {
                self.line(&format!("schema {} {{", decl.name.name));
                self.indent += 1;
                for field in &decl.fields {
                    self.comments_before(field.span.start);
                    self.keep_blank_line(field.span.start);
                    let optional = if field.optional { "?" } else { "" };
                    let ty = self.type_text(&field.ty);
                    self.line(&format!("{}{optional}: {ty}", key_text(&field.name)));
                    if let Some(default) = &field.default {
                        self.out.push_str(" = ");
                        self.value(default);
                    }
                    self.trailing_comments(field.span.end);
                    self.last_end = self.last_end.max(field.span.end);
                }
                self.close_block(item.span.end);
            }
            ItemKind::Resource(decl) => {
                let mut header = format!("{} {}", decl.kind.keyword(), decl.name.name);
                for scope in &decl.scopes {
                    header.push(' ');
                    header.push_str(&self.scope_text(scope));
                }
                header.push_str(" {");
                self.line(&header);
                self.trailing_comments(decl.body_span.start + 1);
                self.block_body(&decl.body, decl.body_span.end);
            }
            ItemKind::Attribute(decl) => {
                let ty = self.type_text(&decl.ty);
                self.line(&format!("attribute {}: {ty}", decl.path.text()));
            }
            ItemKind::Metric(decl) | ItemKind::ProviderKind(decl) => {
                let keyword = if matches!(item.kind, ItemKind::Metric(_)) { "metric" } else { "provider_kind" };
                self.line(&format!("{keyword} {} {{", decl.name.name));
                self.block_body(&decl.body, item.span.end);
            }
            ItemKind::Error => {}
        }
    }

    /// Prints statements one per line, then the closing brace that ends at `end`.
    fn block_body(&mut self, body: &[Stmt], end: u32) {
        self.indent += 1;
        for stmt in body {
            self.comments_before(stmt.span.start);
            self.keep_blank_line(stmt.span.start);
            self.stmt(stmt);
            self.trailing_comments(stmt.span.end);
            self.last_end = self.last_end.max(stmt.span.end);
        }
        self.close_block(end);
    }

    fn close_block(&mut self, end: u32) {
        self.comments_before(end.saturating_sub(1));
        self.indent -= 1;
        if self.out.ends_with('{') {
            self.out.push('}');
        } else {
            self.line("}");
        }
    }

    fn stmt(&mut self, stmt: &Stmt) {
        match &stmt.kind {
            StmtKind::Setting { key, value } => {
                let colon = if matches!(value.kind, ValueKind::Object(_)) { ":" } else { "" };
                self.line(&format!("{}{colon} ", setting_key(key)));
                self.value(value);
            }
            StmtKind::Section { key, body } => {
                self.line(&format!("{} {{", setting_key(key)));
                self.block_body(body, stmt.span.end);
            }
            StmtKind::Metrics { providers, body } => {
                let providers = providers_text(providers);
                self.line(&format!("metrics{}{providers} {{", if providers.is_empty() { "" } else { " " }));
                self.block_body(body, stmt.span.end);
            }
            StmtKind::MetricOverride { metric, mode, toggle, tags } => {
                let mut text = match metric {
                    MetricRef::Standard(name) => name.name.clone(),
                    MetricRef::Custom(name) => format!("custom {}", quote(&name.value)),
                };
                if let Some(mode) = mode {
                    text.push_str(&format!(" ({})", mode.name));
                }
                if let Some(toggle) = toggle {
                    text.push_str(if toggle.disabled { " disabled" } else { " enabled" });
                }
                match tags {
                    Some(tags) => {
                        text.push_str(" {");
                        self.line(&text);
                        self.block_body(tags, stmt.span.end);
                    }
                    None => self.line(&text),
                }
            }
            StmtKind::Tracing { providers, mode, body } => {
                let mut text = statement_head("tracing", providers, mode.as_ref());
                if body.is_empty() && !self.text[stmt.span.range()].trim_end().ends_with('}') {
                    self.line(&text);
                } else {
                    text.push_str(" {");
                    self.line(&text);
                    self.block_body(body, stmt.span.end);
                }
            }
            StmtKind::AccessLog { providers, mode, toggle, filter } => {
                let mut text = statement_head("access_log", providers, mode.as_ref());
                if let Some(toggle) = toggle {
                    text.push_str(if toggle.disabled { " disabled" } else { " enabled" });
                }
                if let Some(filter) = filter {
                    text.push_str(" when ");
                    text.push_str(&filter.text);
                }
                self.line(&text);
            }
            StmtKind::Require { expr } => self.line(&format!("require {}", expr.text)),
            StmtKind::MessageExpression { expr } => self.line(&format!("message_expression {}", expr.text)),
            StmtKind::TagSet { name, expr } => self.line(&format!("tag {} = {}", tag_name(name), expr.text)),
            StmtKind::TagRemove { name } => self.line(&format!("remove tag {}", tag_name(name))),
            StmtKind::Config { schema, value } => {
                match schema {
                    Some(schema) => self.line(&format!("config {} ", schema.text())),
                    None => self.line("config "),
                }
                self.value(value);
            }
            StmtKind::Env { name, value } => match value {
                EnvValue::Inline(value) => {
                    self.line(&format!("env {} = ", setting_key(name)));
                    self.value(value);
                }
                EnvValue::From(source) => self.line(&format!("env {} from {}", setting_key(name), source.name)),
            },
            StmtKind::WasmMatch { mode, ports } => {
                let mut text = "match".to_string();
                if let Some(mode) = mode {
                    text.push(' ');
                    text.push_str(&mode.name);
                }
                if ports.is_some() {
                    text.push_str(" ports ");
                }
                self.line(&text);
                if let Some(ports) = ports {
                    self.value(ports);
                }
            }
            StmtKind::Patch { apply_to, body } => {
                self.line(&format!("patch {} {{", apply_to.name));
                self.block_body(body, stmt.span.end);
            }
            StmtKind::PatchMatch { body } => {
                self.line("match {");
                self.block_body(body, stmt.span.end);
            }
            StmtKind::PatchValue { value } => {
                self.line("value ");
                self.value(value);
            }
            StmtKind::Insert { apply_to, position, anchor, context, value, .. } => {
                let position = match position {
                    InsertPosition::Before => "before",
                    InsertPosition::After => "after",
                    InsertPosition::First => "first",
                };
                self.line(&format!("insert {} {position}", apply_to.name));
                if let Some(anchor) = anchor {
                    self.out.push(' ');
                    self.value(anchor);
                }
                if let Some(context) = context {
                    self.out.push_str(&format!(" in {}", context.name));
                }
                self.out.push_str(" {");
                self.indent += 1;
                self.comments_before(value.span.start);
                self.line("");
                self.value(value);
                self.trailing_comments(value.span.end);
                self.close_block(stmt.span.end);
            }
            StmtKind::Error => {
                // Unreachable: files with errors are not formatted; keep the text if it happens.
                let text = self.text[stmt.span.range()].to_string();
                self.line(&text);
            }
        }
    }

    fn scope_text(&mut self, scope: &Scope) -> String {
        match scope {
            Scope::Mesh(_) => "mesh".to_string(),
            Scope::Namespace(lit, _) => format!("in namespace {}", quote(&lit.value)),
            Scope::Workload(value, _) => format!(
                "for workload {}",
                inline_value(value, self.text).unwrap_or_else(|| self.text[value.span.range()].to_string())
            ),
            Scope::Targets(refs, _) => {
                let refs: Vec<String> =
                    refs.iter()
                        .map(|r| match r {
                            TargetRef::Named { kind, name, .. } => format!("{} {}", kind.name, quote(&name.value)),
                            TargetRef::Object(value) => inline_value(value, self.text)
                                .unwrap_or_else(|| self.text[value.span.range()].to_string()),
                        })
                        .collect();
                if refs.len() == 1 {
                    format!("for target {}", refs[0])
                } else {
                    format!("for targets [{}]", refs.join(", "))
                }
            }
        }
    }

    fn type_text(&self, ty: &TypeExpr) -> String {
        ty.alternatives
            .iter()
            .map(|atom| match atom {
                TypeAtom::Named(path) => path.text(),
                TypeAtom::Literal(lit) => quote(&lit.value),
                TypeAtom::List(inner, _) => format!("[{}]", self.type_text(inner)),
                TypeAtom::Map(inner, _) => format!("{{{}}}", self.type_text(inner)),
            })
            .collect::<Vec<_>>()
            .join(" | ")
    }

    /// The column the output is at now.
    fn column(&self) -> usize {
        self.out.len() - self.out.rfind('\n').map(|i| i + 1).unwrap_or(0)
    }

    /// Prints a value at the current position, inline when it fits.
    fn value(&mut self, value: &Value) {
        if !self.has_comment_within(value.span.start, value.span.end)
            && let Some(inline) = inline_value(value, self.text)
            && self.column() + inline.len() <= WIDTH
        {
            self.out.push_str(&inline);
            return;
        }
        match &value.kind {
            ValueKind::String(lit) if lit.style == StringStyle::Triple => self.triple_string(lit),
            ValueKind::List(items) => {
                self.out.push('[');
                self.indent += 1;
                for item in items {
                    self.comments_before(item.span.start);
                    self.line("");
                    self.value(item);
                    self.out.push(',');
                    self.trailing_comments(item.span.end);
                }
                self.close_bracket(value.span.end, ']');
            }
            ValueKind::Object(entries) => {
                self.out.push('{');
                self.entries(entries, value.span.end);
            }
            ValueKind::Message { type_name, fields, fields_span } => {
                self.out.push_str(&type_name.text());
                self.out.push_str(" {");
                self.entries(fields, fields_span.end);
            }
            ValueKind::Call { name, args } => {
                self.out.push_str(&name.name);
                self.out.push('(');
                for (i, arg) in args.iter().enumerate() {
                    if i > 0 {
                        self.out.push_str(", ");
                    }
                    self.value(arg);
                }
                self.out.push(')');
            }
            _ => {
                let text = inline_value(value, self.text).unwrap_or_else(|| self.text[value.span.range()].to_string());
                self.out.push_str(&text);
            }
        }
    }

    fn entries(&mut self, entries: &[Entry], end: u32) {
        self.indent += 1;
        for entry in entries {
            self.comments_before(entry.span.start);
            self.keep_blank_line(entry.span.start);
            self.line(&format!("{}: ", key_text(&entry.key)));
            self.value(&entry.value);
            self.trailing_comments(entry.span.end);
            self.last_end = self.last_end.max(entry.span.end);
        }
        self.close_bracket(end, '}');
    }

    fn close_bracket(&mut self, end: u32, bracket: char) {
        self.comments_before(end.saturating_sub(1));
        self.indent -= 1;
        if self.out.ends_with(['{', '[']) {
            self.out.push(bracket);
        } else {
            self.line(&bracket.to_string());
        }
    }

    /// A multi-line string, re-indented one level deeper than the line it is on, so
    /// that the parser's indentation removal gives back exactly the same text.
    fn triple_string(&mut self, lit: &StringLit) {
        let tag = lit.tag.clone().unwrap_or_default();
        let line_indent =
            self.out[self.out.rfind('\n').map(|i| i + 1).unwrap_or(0)..].chars().take_while(|c| *c == ' ').count();
        let content_indent = " ".repeat(line_indent + 2);
        self.out.push_str(&tag);
        self.out.push_str("\"\"\"\n");
        let body = lit.value.strip_suffix('\n').unwrap_or(&lit.value);
        for line in body.split('\n') {
            if !line.is_empty() {
                self.out.push_str(&content_indent);
                self.out.push_str(line);
            }
            self.out.push('\n');
        }
        if lit.value.ends_with('\n') {
            self.out.push_str(&" ".repeat(line_indent));
        } else {
            // The text does not end with a line break: close right after its last line.
            self.out.pop();
        }
        self.out.push_str("\"\"\"");
    }
}

/// A value on one line, or `None` when it must span lines (a multi-line string, a
/// nested object, or a string that the triple-quote form cannot hold).
fn inline_value(value: &Value, source: &str) -> Option<String> {
    Some(match &value.kind {
        ValueKind::String(lit) => match lit.style {
            // A quoted string keeps its escapes as written (`\u{1F600}` stays so).
            StringStyle::Plain => match source.get(lit.span.range()) {
                Some(written) if written.len() >= 2 && written.starts_with('"') && written.ends_with('"') => {
                    written.to_string()
                }
                _ => quote(&lit.value),
            },
            StringStyle::Triple
                if !lit.value.contains('\n') && !lit.value.contains("\"\"\"") && !lit.value.ends_with('"') =>
            {
                format!("{}\"\"\"{}\"\"\"", lit.tag.clone().unwrap_or_default(), lit.value)
            }
            StringStyle::Triple if !triple_safe(&lit.value) => quote(&lit.value),
            StringStyle::Triple => return None,
        },
        ValueKind::Number { raw, .. } => raw.clone(),
        ValueKind::Percent(p) => format!("{p}%"),
        ValueKind::Duration { raw, .. } => raw.clone(),
        ValueKind::Bool(b) => b.to_string(),
        ValueKind::Null => "null".to_string(),
        ValueKind::Path(path) => path.text(),
        ValueKind::Call { name, args } => {
            let args: Option<Vec<String>> = args.iter().map(|a| inline_value(a, source)).collect();
            format!("{}({})", name.name, args?.join(", "))
        }
        ValueKind::List(items) => {
            let items: Option<Vec<String>> = items.iter().map(|i| inline_value(i, source)).collect();
            format!("[{}]", items?.join(", "))
        }
        ValueKind::Object(entries) => inline_entries(entries, source)?,
        ValueKind::Message { type_name, fields, .. } => {
            format!("{} {}", type_name.text(), inline_entries(fields, source)?)
        }
        ValueKind::Error => return None,
    })
}

/// Whether a multi-line text can be written as a triple-quoted string and read back
/// unchanged: no `"""` inside, and not every line starting with white space (which
/// the indentation removal would eat).
fn triple_safe(text: &str) -> bool {
    let body = text.strip_suffix('\n').unwrap_or(text);
    !text.contains("\"\"\"")
        && !text.contains('\r')
        && !body.split('\n').filter(|l| !l.is_empty()).all(|l| l.starts_with([' ', '\t']))
        && !body.split('\n').any(|l| !l.is_empty() && l.trim().is_empty())
        && !body.starts_with('\n')
}

fn inline_entries(entries: &[Entry], source: &str) -> Option<String> {
    if entries.is_empty() {
        return Some("{}".to_string());
    }
    // Objects inside objects are easier to read one entry per line.
    if entries.iter().any(|e| matches!(e.value.kind, ValueKind::Object(_) | ValueKind::Message { .. })) {
        return None;
    }
    let parts: Option<Vec<String>> =
        entries.iter().map(|e| inline_value(&e.value, source).map(|v| format!("{}: {v}", key_text(&e.key)))).collect();
    Some(format!("{{ {} }}", parts?.join(", ")))
}

fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn key_text(key: &Key) -> String {
    if key.quoted || !is_identifier(&key.name) { quote(&key.name) } else { key.name.clone() }
}

/// A setting's key, quoted when it would read as a keyword.
fn setting_key(key: &Key) -> String {
    if key.quoted || !is_identifier(&key.name) || KEYWORDS.contains(&key.name.as_str()) {
        quote(&key.name)
    } else {
        key.name.clone()
    }
}

fn tag_name(key: &Key) -> String {
    let bare = key.name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && key.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !KEYWORDS.contains(&key.name.as_str());
    if bare && !key.quoted { key.name.clone() } else { quote(&key.name) }
}

/// `KEYWORD PROVIDERS (MODE)`, the start of `tracing` and `access_log` statements.
fn statement_head(keyword: &str, providers: &[Key], mode: Option<&Ident>) -> String {
    let mut text = keyword.to_string();
    let providers = providers_text(providers);
    if !providers.is_empty() {
        text.push(' ');
        text.push_str(&providers);
    }
    if let Some(mode) = mode {
        text.push_str(&format!(" ({})", mode.name));
    }
    text
}

fn providers_text(providers: &[Key]) -> String {
    providers.iter().map(tag_name).collect::<Vec<_>>().join(", ")
}

/// A string literal with the escapes the parser reads back.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AST without spans, for comparing a file before and after formatting.
    fn shape(text: &str) -> String {
        let (file, diagnostics) = parse_file(FileId(0), text);
        assert!(diagnostics.iter().all(|d| !d.is_error()), "{diagnostics:?}");
        let debug = format!("{:?}", file.items);
        let mut out = String::new();
        let mut rest = debug.as_str();
        while let Some(i) = rest.find("Span {") {
            out.push_str(&rest[..i]);
            let after = &rest[i..];
            let end = after.find('}').expect("span closes");
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }

    fn comments(text: &str) -> Vec<String> {
        parse_file(FileId(0), text).0.comments.iter().map(|c| c.text.trim_end().to_string()).collect()
    }

    fn assert_formats(input: &str) -> String {
        let once = format_source(input).expect("formats");
        let twice = format_source(&once).expect("formats again");
        assert_eq!(once, twice, "not idempotent:\n{once}");
        assert_eq!(shape(input), shape(&once), "the meaning changed:\n{once}");
        assert_eq!(comments(input), comments(&once), "comments changed:\n{once}");
        once
    }

    const EXAMPLE: &str = r#"package payments
import std.filters
/// Metrics for the payments app.
telemetry custom_metrics in namespace "my-app" {
  metrics prometheus {
    REQUEST_COUNT (client_and_server) { tag request_host = request.host }
    REQUEST_DURATION (server) disabled
  }
}
telemetry mesh_defaults mesh {
  tracing opentelemetry { sampling 5%  tag cluster_name = env("CLUSTER_NAME") }
  access_log envoy when response.code >= 400 // only errors
  access_log "otel-als"
}
wasm_plugin custom_header for workload { app: "my-service" } in namespace "my-app" {
  url "oci://ghcr.io/myorg/header-plugin:v1.2.0"
  phase authn
  config HeaderConfig { header_name: "x-custom-id", header_value: "injected-by-wasm" }
  match server ports [8080]
  env POD from host
}
envoy_filter add_lua for workload { app: "my-service" } in namespace "my-app" {
  insert http_filter before "envoy.filters.http.router" in sidecar_inbound {
    envoy.extensions.filters.http.lua.v3.Lua {
      default_source_code: { inline_string: lua"""
        function envoy_on_request(h) h:headers():add("x-custom-header", "hello-from-lua") end
      """ }
    }
  }
  patch cluster {
    match { context sidecar_outbound cluster { service "foo.svc" } }
    operation merge
    value { connect_timeout: "1s" }
  }
}
"#;

    #[test]
    fn quoted_strings_keep_their_escapes() {
        let formatted = assert_formats("package p\n\nlet a = \"x\\u{1F600}\\ty\"\n");
        assert!(formatted.contains(r#""x\u{1F600}\ty""#), "{formatted}");
    }

    #[test]
    fn formats_the_brief_example_canonically() {
        let formatted = assert_formats(EXAMPLE);
        assert!(formatted.contains("\n\ntelemetry mesh_defaults mesh {\n  tracing opentelemetry {\n    sampling 5%\n    tag cluster_name = env(\"CLUSTER_NAME\")\n  }\n"), "{formatted}");
        assert!(formatted.contains("  access_log envoy when response.code >= 400 // only errors\n"), "{formatted}");
        assert!(
            formatted.contains(
                "      default_source_code: {\n        inline_string: lua\"\"\"\n          function envoy_on_request(h)"
            ),
            "{formatted}"
        );
        assert!(formatted.contains("    match {\n      context sidecar_outbound\n      cluster {\n        service \"foo.svc\"\n      }\n    }\n"), "{formatted}");
    }

    #[test]
    fn keeps_comments_everywhere() {
        let input = "// head\npackage p // after package\n\n/* block */\ntelemetry t in namespace \"a\" { // brace\n  // inside\n\n  access_log envoy // trailing\n  // before close\n}\n// at the end\n";
        let formatted = assert_formats(input);
        assert_eq!(
            formatted,
            "// head\npackage p // after package\n\n/* block */\ntelemetry t in namespace \"a\" { // brace\n  // inside\n\n  access_log envoy // trailing\n  // before close\n}\n// at the end\n"
        );
    }

    #[test]
    fn comments_inside_objects_stay_inside() {
        let input = "wasm_plugin w in namespace \"a\" {\n  config { a: 1, // one\n    b: [1, 2] }\n}\n";
        let formatted = assert_formats(input);
        assert!(formatted.contains("  config {\n    a: 1 // one\n    b: [1, 2]\n  }\n"), "{formatted}");
    }

    #[test]
    fn every_form_round_trips() {
        let input = r#"package p
import std.filters as f
let x = { a: "b", "c d": 1.5, e: [true, null, 10s, 5%] }
schema S { a: string, b?: [int] = [1], c: "x" | "y", d: {S} }
telemetry t for targets [Gateway "g", { kind: "Service", name: "s" }] in namespace "a" {
  labels: { team: "t" }
  metrics prometheus, stackdriver { custom "m" (client) enabled { remove tag a tag "b-c" = 'x' } reporting_interval 1m }
  tracing { sampling 0.5% }
  tracing z (server)
  access_log envoy (client) disabled
}
wasm_plugin w for workload x in namespace "a" {
  env A = "b"
  match ports [1]
  match
  config { nested: { deep: { deeper: "v" } }, message: envoy.type.v3.Percent { value: 1 } }
}
envoy_filter e mesh {
  insert http_filter first { f.router }
  insert listener_filter after "x" in gateway { {} }
  patch bootstrap { operation merge value: { a: 1 } }
}
"#;
        assert_formats(input);
    }

    #[test]
    fn multi_line_strings_keep_their_text() {
        let input = "let s = \"\"\"\n    a\n      b\n\n    c\n    \"\"\"\nlet t = lua\"\"\"one line\"\"\"\nlet u = \"\"\"\n  x\n  y\"\"\"\n";
        let formatted = assert_formats(input);
        assert_eq!(
            formatted,
            "let s = \"\"\"\n  a\n    b\n\n  c\n\"\"\"\n\nlet t = lua\"\"\"one line\"\"\"\n\nlet u = \"\"\"\n  x\n  y\"\"\"\n"
        );
    }

    #[test]
    fn refuses_files_with_syntax_errors() {
        assert_eq!(format_source("telemetry t in namespace \"a\" { tag = }"), None);
    }
}
