//! Lowers pest's pairs into our AST, turning skipped regions into diagnostics.
//!
//! The grammar's error productions guarantee that the whole-file parse succeeds;
//! every `error_item` and `error_stmt` it produced is re-parsed here with the strict
//! rules to say, in the user's words, what was expected.

use super::ast::*;
use super::grammar::{MeshParser, Rule};
use crate::diagnostic::{Diagnostic, codes, did_you_mean};
use crate::span::{FileId, Span};
use pest::Parser;
use pest::iterators::Pair;

/// Every reserved word of the grammar's `keyword` rule: they cannot be bare names
/// (the formatter quotes keys that are keywords).
pub(crate) const KEYWORDS: &[&str] = &[
    "package",
    "import",
    "as",
    "let",
    "schema",
    "telemetry",
    "wasm_plugin",
    "envoy_filter",
    "attribute",
    "metric",
    "provider_kind",
    "mesh",
    "in",
    "namespace",
    "for",
    "workload",
    "targets",
    "target",
    "metrics",
    "tracing",
    "access_log",
    "custom",
    "disabled",
    "enabled",
    "tag",
    "remove",
    "when",
    "config",
    "env",
    "from",
    "match",
    "ports",
    "patch",
    "value",
    "insert",
    "before",
    "after",
    "first",
    "rule",
    "require",
    "message_expression",
];

/// The words that start a declaration other than a resource's.
const OTHER_ITEM_KEYWORDS: &[&str] = &["package", "import", "let", "schema", "attribute", "metric", "provider_kind"];

/// The words that may start a declaration, for did-you-mean on unknown ones.
pub(crate) fn item_keywords() -> impl Iterator<Item = &'static str> + Clone {
    OTHER_ITEM_KEYWORDS.iter().copied().chain(RESOURCE_KEYWORDS)
}

/// The words that start a statement of their own form inside a block.
pub(crate) const STATEMENT_KEYWORDS: &[&str] = &[
    "metrics",
    "tracing",
    "access_log",
    "tag",
    "remove",
    "config",
    "env",
    "match",
    "patch",
    "value",
    "insert",
    "custom",
    "require",
    "message_expression",
];

/// How deeply braces, brackets and parentheses may nest. Real configuration stays far
/// below (Envoy's deepest messages nest about twenty levels); every phase after the
/// parser walks the tree recursively, so a limit keeps them all within their stack.
pub(crate) const MAX_NESTING: usize = 100;

/// Parses one file. Never fails: what does not parse becomes `Error` nodes and diagnostics.
pub(crate) fn parse_file(file: FileId, text: &str) -> (File, Vec<Diagnostic>) {
    if let Some(at) = nesting_beyond_limit(text) {
        let diagnostic = Diagnostic::new(
            codes::SYNTAX,
            Span::new(file, at as u32, at as u32 + 1),
            format!("brackets nest more than {MAX_NESTING} levels deep here"),
        )
        .with_label_message(format!("level {}", MAX_NESTING + 1))
        .with_note("meshc does not read a file nested this deeply; no configuration needs it");
        return (File { items: Vec::new(), comments: Vec::new() }, vec![diagnostic]);
    }
    let mut lowerer = Lowerer { file, text, diagnostics: Vec::new(), comments: Vec::new() };
    let items = match MeshParser::parse(Rule::file, text) {
        Ok(mut pairs) => {
            let file_pair = pairs.next().expect("the file rule always yields one pair");
            lowerer.collect_comments(&file_pair);
            lowerer.report_unclosed_blocks(&file_pair);
            lowerer.items(file_pair)
        }
        Err(error) => {
            // The error productions make this unreachable in practice; if a grammar
            // change ever breaks that, the user still gets a located diagnostic.
            let (start, end) = error_location(&error);
            lowerer.diagnostics.push(Diagnostic::new(
                codes::SYNTAX,
                Span::new(file, start as u32, end as u32),
                "this file could not be parsed",
            ));
            Vec::new()
        }
    };
    let mut items = items;
    attach_docs(&mut items, &lowerer.comments, text);
    if items.is_empty() && lowerer.diagnostics.is_empty() {
        lowerer.diagnostics.push(Diagnostic::new(
            codes::EMPTY_FILE,
            Span::new(file, 0, 0),
            "this file has no declarations",
        ));
    }
    let comments = lowerer.comments;
    (File { items, comments }, lowerer.diagnostics)
}

fn error_location(error: &pest::error::Error<Rule>) -> (usize, usize) {
    match error.location {
        pest::error::InputLocation::Pos(pos) => (pos, pos),
        pest::error::InputLocation::Span((start, end)) => (start, end),
    }
}

/// Gives each declaration the `///` lines directly above it.
fn attach_docs(items: &mut [Item], comments: &[Comment], text: &str) {
    for item in items.iter_mut() {
        let mut docs = Vec::new();
        let mut cursor = item.span.start as usize;
        for comment in comments.iter().rev().filter(|c| c.is_doc && (c.span.end as usize) <= item.span.start as usize) {
            let between = &text[comment.span.end as usize..cursor];
            if between.chars().filter(|c| *c == '\n').count() > 1 || !between.trim().is_empty() {
                break;
            }
            docs.push(
                comment
                    .text
                    .trim_start_matches('/')
                    .strip_prefix(' ')
                    .unwrap_or(comment.text.trim_start_matches('/'))
                    .to_string(),
            );
            cursor = comment.span.start as usize;
        }
        docs.reverse();
        item.docs = docs;
    }
}

struct Lowerer<'t> {
    file: FileId,
    text: &'t str,
    diagnostics: Vec<Diagnostic>,
    comments: Vec<Comment>,
}

/// The children of a pair without comments, which the grammar lets appear anywhere,
/// and without the marks of missing `}`, which are reported before lowering.
fn inner(pair: Pair<'_, Rule>) -> impl Iterator<Item = Pair<'_, Rule>> {
    pair.into_inner().filter(|p| !matches!(p.as_rule(), Rule::COMMENT | Rule::missing_close))
}

/// The opening `{` of a block whose `}` is missing: in the block's own text, the
/// first brace still open at the end (braces in strings and comments do not count;
/// the braces of a header's selector are closed).
fn unclosed_brace(text: &str) -> Option<usize> {
    let mut open: Vec<usize> = Vec::new();
    let ends_inside = scan_brackets(text, |i, byte| match byte {
        b'{' => {
            open.push(i);
            true
        }
        b'}' => {
            open.pop();
            true
        }
        _ => true,
    });
    // A string or comment left open swallowed the `}`; it is reported on its own.
    if ends_inside { None } else { open.first().copied() }
}

/// The offset of the first opener nested deeper than [`MAX_NESTING`], if any.
fn nesting_beyond_limit(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut beyond = None;
    scan_brackets(text, |i, byte| {
        match byte {
            b'{' | b'[' | b'(' => depth += 1,
            _ => depth = depth.saturating_sub(1),
        }
        if depth > MAX_NESTING {
            beyond = Some(i);
        }
        beyond.is_none()
    });
    beyond
}

/// The first closer in `text` that does not match the opener still open before it:
/// `(opener, closer)` offsets.
fn mismatched_bracket(text: &str) -> Option<(usize, usize)> {
    let mut open: Vec<(usize, u8)> = Vec::new();
    let mut found = None;
    scan_brackets(text, |i, byte| {
        let expected = match byte {
            b'{' | b'[' | b'(' => {
                open.push((i, byte));
                return true;
            }
            b'}' => b'{',
            b']' => b'[',
            _ => b'(',
        };
        match open.pop() {
            Some((_, opener)) if opener == expected => true,
            Some((at, _)) => {
                found = Some((at, i));
                false
            }
            None => true,
        }
    });
    found
}

/// Calls `visit` with the offset of every bracket outside strings and comments, in
/// order, while it returns true. Returns whether the text ends inside a `"""` string
/// or a `/*` comment that is never closed.
fn scan_brackets(text: &str, mut visit: impl FnMut(usize, u8) -> bool) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => match text[i + 2..].find("*/") {
                Some(end) => i += 2 + end + 1,
                None => return true,
            },
            b'"' if text[i..].starts_with("\"\"\"") => match text[i + 3..].find("\"\"\"") {
                Some(end) => i += 3 + end + 2,
                None => return true,
            },
            quote @ (b'"' | b'\'') => {
                i += 1;
                while i < bytes.len() && bytes[i] != quote && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            byte @ (b'{' | b'}' | b'[' | b']' | b'(' | b')') => {
                if !visit(i, byte) {
                    return false;
                }
            }
            _ => {}
        }
        i += 1;
    }
    false
}

impl<'t> Lowerer<'t> {
    /// The span of a pair without the white space and comments that pest counts into
    /// a rule when an optional or repeated part at its end does not match.
    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let s = pair.as_span();
        let (start, mut end) = (s.start(), s.end());
        // Comments are collected (sorted) before lowering; find the ones inside this pair.
        let first = self.comments.partition_point(|c| (c.span.start as usize) < start);
        let comments: Vec<(usize, usize)> = self.comments[first..]
            .iter()
            .take_while(|c| (c.span.end as usize) <= end)
            .map(|c| (c.span.start as usize, c.span.end as usize))
            .collect();
        loop {
            end = start + self.text[start..end].trim_end().len();
            match comments.iter().find(|(_, comment_end)| *comment_end == end) {
                Some((comment_start, _)) if *comment_start > start => end = *comment_start,
                _ => break,
            }
        }
        Span::new(self.file, start as u32, end as u32)
    }

    fn collect_comments(&mut self, file_pair: &Pair<'_, Rule>) {
        for pair in file_pair.clone().into_inner().flatten() {
            if pair.as_rule() == Rule::COMMENT {
                let text = pair.as_str().to_string();
                let is_doc = text.starts_with("///");
                let span = self.span(&pair);
                if text.starts_with("/*") && !(text.len() >= 4 && text.ends_with("*/")) {
                    self.diagnostics.push(
                        Diagnostic::new(codes::SYNTAX, span.sub(0, 2), "this comment is never closed")
                            .with_label_message("the comment runs to the end of the file")
                            .with_help("close it with `*/`"),
                    );
                }
                self.comments.push(Comment { span, text, is_doc });
            }
        }
    }

    /// Reports every block whose `}` is missing: the grammar ends such a block where
    /// the next declaration or the file begins, and marks the place.
    fn report_unclosed_blocks(&mut self, pair: &Pair<'_, Rule>) {
        for child in pair.clone().into_inner() {
            if child.as_rule() != Rule::missing_close {
                self.report_unclosed_blocks(&child);
                continue;
            }
            let block = pair.as_span();
            let end = child.as_span().start();
            // A statement with a mismatched bracket that took the block's `}` as its
            // own closer is the mistake, and is reported as such.
            if pair.clone().into_inner().flatten().any(|p| {
                matches!(p.as_rule(), Rule::error_stmt | Rule::error_item) && mismatched_bracket(p.as_str()).is_some()
            }) {
                continue;
            }
            let Some(brace) = unclosed_brace(&self.text[block.start()..end]).map(|i| block.start() + i) else {
                continue;
            };
            let brace_span = Span::new(self.file, brace as u32, brace as u32 + 1);
            let header = self.text[block.start()..brace].trim();
            let header = header.lines().next().unwrap_or(header).trim();
            let ends = if end >= self.text.len() {
                "still open at the end of the file"
            } else {
                "still open where the next declaration starts"
            };
            let at_end = Span::new(self.file, end as u32, end as u32);
            let mut diagnostic = Diagnostic::new(codes::SYNTAX, brace_span, "this `{` is never closed")
                .with_label_message("unclosed")
                .with_secondary(at_end, ends);
            if !header.is_empty() {
                diagnostic = diagnostic.with_help(format!("add the `}}` that ends `{header} {{ ... }}`"));
            }
            self.diagnostics.push(diagnostic);
        }
    }

    fn items(&mut self, file_pair: Pair<'t, Rule>) -> Vec<Item> {
        let mut items = Vec::new();
        for pair in inner(file_pair) {
            if pair.as_rule() == Rule::EOI {
                continue;
            }
            items.push(self.item(pair));
        }
        items
    }

    fn item(&mut self, pair: Pair<'t, Rule>) -> Item {
        let span = self.span(&pair);
        let kind = match pair.as_rule() {
            Rule::package_decl => {
                let path = inner(pair).find(|p| p.as_rule() == Rule::module_path).map(|p| self.path(p));
                path.map(ItemKind::Package).unwrap_or(ItemKind::Error)
            }
            Rule::import_decl => {
                let mut module = None;
                let mut alias = None;
                for child in inner(pair) {
                    match child.as_rule() {
                        Rule::module_path => module = Some(self.path(child)),
                        Rule::ident => alias = Some(self.ident(child)),
                        _ => {}
                    }
                }
                match module {
                    Some(module) => ItemKind::Import(Import { module, alias }),
                    None => ItemKind::Error,
                }
            }
            Rule::let_decl => {
                let mut children = inner(pair).filter(|p| p.as_rule() != Rule::kw_let);
                let name = self.ident(children.next().expect("let has a name"));
                let value = self.value(children.next().expect("let has a value"));
                ItemKind::Let(LetDecl { name, value })
            }
            Rule::schema_decl => {
                let mut name = None;
                let mut fields = Vec::new();
                for child in inner(pair) {
                    match child.as_rule() {
                        Rule::ident => name = Some(self.ident(child)),
                        Rule::schema_field => fields.push(self.schema_field(child)),
                        _ => {}
                    }
                }
                ItemKind::Schema(SchemaDecl { name: name.expect("schema has a name"), fields })
            }
            Rule::telemetry_decl => ItemKind::Resource(self.resource(pair, ResourceKind::Telemetry)),
            Rule::wasm_plugin_decl => ItemKind::Resource(self.resource(pair, ResourceKind::WasmPlugin)),
            Rule::envoy_filter_decl => ItemKind::Resource(self.resource(pair, ResourceKind::EnvoyFilter)),
            Rule::proxy_decl => ItemKind::Resource(self.resource(pair, ResourceKind::Proxy)),
            Rule::smoke_decl => ItemKind::Resource(self.resource(pair, ResourceKind::Smoke)),
            Rule::rule_decl => ItemKind::Resource(self.resource(pair, ResourceKind::Rule)),
            Rule::attribute_decl => {
                let mut path = None;
                let mut ty = None;
                for child in inner(pair) {
                    match child.as_rule() {
                        Rule::path => path = Some(self.path(child)),
                        Rule::type_expr => ty = Some(self.type_expr(child)),
                        _ => {}
                    }
                }
                ItemKind::Attribute(AttributeDecl {
                    path: path.expect("attribute path"),
                    ty: ty.expect("attribute type"),
                })
            }
            Rule::metric_decl | Rule::provider_kind_decl => {
                let is_metric = pair.as_rule() == Rule::metric_decl;
                let mut name = None;
                let mut body = Vec::new();
                for child in inner(pair) {
                    match child.as_rule() {
                        Rule::ident => name = Some(self.ident(child)),
                        Rule::kw_metric | Rule::kw_provider_kind => {}
                        _ => body.push(self.stmt(child)),
                    }
                }
                let decl = VocabularyDecl { name: name.expect("vocabulary name"), body };
                if is_metric { ItemKind::Metric(decl) } else { ItemKind::ProviderKind(decl) }
            }
            Rule::error_item => {
                self.report_error_item(&pair);
                ItemKind::Error
            }
            rule => unreachable!("unexpected item rule {rule:?}"),
        };
        Item { kind, span, docs: Vec::new() }
    }

    fn resource(&mut self, pair: Pair<'t, Rule>, kind: ResourceKind) -> ResourceDecl {
        let whole = self.span(&pair);
        let mut keyword = whole;
        let mut name = None;
        let mut scopes = Vec::new();
        let mut body_pairs = Vec::new();
        for child in inner(pair) {
            match child.as_rule() {
                Rule::kw_telemetry
                | Rule::kw_wasm_plugin
                | Rule::kw_envoy_filter
                | Rule::kw_proxy
                | Rule::kw_smoke
                | Rule::kw_rule => keyword = self.span(&child),
                Rule::decl_name => name = Some(self.ident(child)),
                Rule::scope_mesh | Rule::scope_namespace | Rule::scope_workload | Rule::scope_targets => {
                    scopes.push(self.scope(child))
                }
                _ => body_pairs.push(child),
            }
        }
        let body = self.stmts(body_pairs.into_iter());
        // The body starts at the `{` after the header, which pest does not give as a pair.
        let header_end =
            scopes.last().map(|s| s.span().end).or(name.as_ref().map(|n| n.span.end)).unwrap_or(whole.start);
        let brace = self.text[header_end as usize..whole.end as usize]
            .find('{')
            .map(|i| header_end + i as u32)
            .unwrap_or(header_end);
        let body_span = Span::new(self.file, brace, whole.end);
        ResourceDecl { kind, keyword, name: name.expect("resource has a name"), scopes, body, body_span }
    }

    fn scope(&mut self, pair: Pair<'t, Rule>) -> Scope {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::scope_mesh => Scope::Mesh(span),
            Rule::scope_namespace => {
                let lit = inner(pair).find(|p| p.as_rule() == Rule::string_lit).expect("namespace string");
                Scope::Namespace(self.string_lit(lit), span)
            }
            Rule::scope_workload => {
                let value = inner(pair)
                    .find(|p| matches!(p.as_rule(), Rule::object | Rule::path))
                    .map(|p| self.value(p))
                    .expect("workload selector");
                Scope::Workload(value, span)
            }
            Rule::scope_targets => {
                let refs =
                    inner(pair).filter(|p| p.as_rule() == Rule::target_ref).map(|p| self.target_ref(p)).collect();
                Scope::Targets(refs, span)
            }
            rule => unreachable!("unexpected scope rule {rule:?}"),
        }
    }

    fn target_ref(&mut self, pair: Pair<'t, Rule>) -> TargetRef {
        let span = self.span(&pair);
        let mut children = inner(pair);
        let first = children.next().expect("target ref has content");
        if first.as_rule() == Rule::object {
            return TargetRef::Object(self.value(first));
        }
        let kind = self.ident(first);
        let name = self.string_lit(children.next().expect("target ref name"));
        TargetRef::Named { kind, name, span }
    }

    fn schema_field(&mut self, pair: Pair<'t, Rule>) -> SchemaField {
        let span = self.span(&pair);
        let mut name = None;
        let mut optional = false;
        let mut ty = None;
        let mut default = None;
        for child in inner(pair) {
            match child.as_rule() {
                Rule::optional_mark => optional = true,
                Rule::type_expr => ty = Some(self.type_expr(child)),
                Rule::string_lit | Rule::raw_ident if name.is_none() => name = Some(self.key(child)),
                _ => default = Some(self.value(child)),
            }
        }
        SchemaField { name: name.expect("field name"), optional, ty: ty.expect("field type"), default, span }
    }

    fn type_expr(&mut self, pair: Pair<'t, Rule>) -> TypeExpr {
        let span = self.span(&pair);
        let alternatives = inner(pair)
            .map(|atom| {
                let atom_span = self.span(&atom);
                match atom.as_rule() {
                    Rule::list_type => {
                        let inner_ty = self.type_expr(inner(atom).next().expect("list element type"));
                        TypeAtom::List(Box::new(inner_ty), atom_span)
                    }
                    Rule::map_type => {
                        let inner_ty = self.type_expr(inner(atom).next().expect("map value type"));
                        TypeAtom::Map(Box::new(inner_ty), atom_span)
                    }
                    Rule::string_lit => TypeAtom::Literal(self.string_lit(atom)),
                    Rule::path => TypeAtom::Named(self.path(atom)),
                    rule => unreachable!("unexpected type rule {rule:?}"),
                }
            })
            .collect();
        TypeExpr { alternatives, span }
    }

    fn stmts(&mut self, pairs: impl Iterator<Item = Pair<'t, Rule>>) -> Vec<Stmt> {
        let mut stmts: Vec<Stmt> = Vec::new();
        for pair in pairs {
            let stmt = self.stmt(pair);
            if matches!(stmt.kind, StmtKind::Error) {
                self.merge_with_misspelled_statement(&mut stmts, &stmt);
            }
            stmts.push(stmt);
        }
        stmts
    }

    /// `acess_log envoy when x` parses as the setting `acess_log envoy` followed by a
    /// broken statement; report that as one misspelled statement keyword instead of two errors.
    fn merge_with_misspelled_statement(&mut self, stmts: &mut [Stmt], error: &Stmt) {
        let Some(previous) = stmts.last_mut() else { return };
        let StmtKind::Setting { key, .. } = &previous.kind else { return };
        let same_line = !self.text[previous.span.end as usize..error.span.start as usize].contains('\n');
        if !same_line {
            return;
        }
        let Some(keyword) = did_you_mean(&key.name, STATEMENT_KEYWORDS.iter().copied()) else { return };
        // Replace the diagnostic the broken statement produced by one about the keyword.
        if let Some(last) = self.diagnostics.last()
            && last.primary_span().start >= error.span.start
        {
            self.diagnostics.pop();
        }
        self.diagnostics.push(
            Diagnostic::new(codes::UNKNOWN_KEYWORD, key.span, format!("unknown statement `{}`", key.name))
                .with_label_message("not a statement of this language")
                .with_did_you_mean(key.span, keyword),
        );
        previous.kind = StmtKind::Error;
        previous.span = previous.span.cover(error.span);
    }

    fn stmt(&mut self, pair: Pair<'t, Rule>) -> Stmt {
        let span = self.span(&pair);
        let kind = match pair.as_rule() {
            Rule::setting => {
                let mut children = inner(pair);
                let key = self.key(children.next().expect("setting key"));
                let wrapped = children.next().expect("setting value");
                let value = self.value(inner(wrapped).next().expect("setting value has a value"));
                StmtKind::Setting { key, value }
            }
            Rule::section => {
                let mut children = inner(pair);
                let key = self.key(children.next().expect("section key"));
                let body = self.stmts(children);
                StmtKind::Section { key, body }
            }
            Rule::metrics_block => {
                let mut providers = Vec::new();
                let mut body_pairs = Vec::new();
                for child in inner(pair) {
                    match child.as_rule() {
                        Rule::kw_metrics => {}
                        Rule::provider_list => providers = self.providers(child),
                        _ => body_pairs.push(child),
                    }
                }
                let body = self.stmts(body_pairs.into_iter());
                StmtKind::Metrics { providers, body }
            }
            Rule::metric_override => {
                let mut metric = None;
                let mut mode = None;
                let mut toggle = None;
                let mut tag_pairs = Vec::new();
                let mut has_block = false;
                for child in inner(pair.clone()) {
                    match child.as_rule() {
                        Rule::metric_name => metric = Some(MetricRef::Standard(self.ident(child))),
                        Rule::custom_metric => {
                            let lit =
                                inner(child).find(|p| p.as_rule() == Rule::string_lit).expect("custom metric name");
                            metric = Some(MetricRef::Custom(self.string_lit(lit)));
                        }
                        Rule::mode_clause => mode = Some(self.mode(child)),
                        Rule::toggle => toggle = Some(self.toggle(child)),
                        _ => {
                            has_block = true;
                            tag_pairs.push(child);
                        }
                    }
                }
                // An empty `{ }` yields no pairs; look for the brace in the text.
                if !has_block && pair.as_str().trim_end().ends_with('}') {
                    has_block = true;
                }
                let tags = has_block.then(|| self.stmts(tag_pairs.into_iter()));
                StmtKind::MetricOverride { metric: metric.expect("override metric"), mode, toggle, tags }
            }
            Rule::tracing_block => {
                let mut providers = Vec::new();
                let mut mode = None;
                let mut body_pairs = Vec::new();
                for child in inner(pair) {
                    match child.as_rule() {
                        Rule::kw_tracing => {}
                        Rule::provider_list => providers = self.providers(child),
                        Rule::mode_clause => mode = Some(self.mode(child)),
                        _ => body_pairs.push(child),
                    }
                }
                let body = self.stmts(body_pairs.into_iter());
                StmtKind::Tracing { providers, mode, body }
            }
            Rule::require_stmt => match inner(pair).find(|p| p.as_rule() == Rule::expr_text) {
                Some(expr) => StmtKind::Require { expr: self.expr_text(expr) },
                None => StmtKind::Error,
            },
            Rule::message_expr_stmt => match inner(pair).find(|p| p.as_rule() == Rule::expr_text) {
                Some(expr) => StmtKind::MessageExpression { expr: self.expr_text(expr) },
                None => StmtKind::Error,
            },
            Rule::access_log_stmt => {
                let mut providers = Vec::new();
                let mut mode = None;
                let mut toggle = None;
                let mut filter = None;
                for child in inner(pair) {
                    match child.as_rule() {
                        Rule::provider_list => providers = self.providers(child),
                        Rule::mode_clause => mode = Some(self.mode(child)),
                        Rule::toggle => toggle = Some(self.toggle(child)),
                        Rule::expr_text => filter = Some(self.expr_text(child)),
                        _ => {}
                    }
                }
                StmtKind::AccessLog { providers, mode, toggle, filter }
            }
            Rule::tag_set => {
                let mut name = None;
                let mut expr = None;
                for child in inner(pair) {
                    match child.as_rule() {
                        Rule::kw_tag => {}
                        Rule::expr_text => expr = Some(self.expr_text(child)),
                        _ => name = Some(self.key(child)),
                    }
                }
                StmtKind::TagSet { name: name.expect("tag name"), expr: expr.expect("tag expression") }
            }
            Rule::tag_remove => {
                let name = inner(pair)
                    .find(|p| matches!(p.as_rule(), Rule::tag_word | Rule::string_lit))
                    .map(|p| self.key(p))
                    .expect("tag name");
                StmtKind::TagRemove { name }
            }
            Rule::config_stmt => {
                let mut schema = None;
                let mut value = None;
                for child in inner(pair) {
                    match child.as_rule() {
                        Rule::path => schema = Some(self.path(child)),
                        Rule::object => value = Some(self.value(child)),
                        _ => {}
                    }
                }
                StmtKind::Config { schema, value: value.expect("config object") }
            }
            Rule::env_stmt => {
                let mut children = inner(pair).filter(|p| p.as_rule() != Rule::kw_env);
                let name = self.key(children.next().expect("env name"));
                let next = children.next().expect("env value");
                let value = if next.as_rule() == Rule::kw_from {
                    EnvValue::From(self.ident(children.next().expect("env source")))
                } else {
                    EnvValue::Inline(self.value(next))
                };
                StmtKind::Env { name, value }
            }
            Rule::wasm_match => {
                let mut mode = None;
                let mut ports = None;
                for child in inner(pair) {
                    match child.as_rule() {
                        Rule::ident => mode = Some(self.ident(child)),
                        Rule::list => ports = Some(self.value(child)),
                        _ => {}
                    }
                }
                StmtKind::WasmMatch { mode, ports }
            }
            Rule::patch_block => {
                let mut children = inner(pair).filter(|p| p.as_rule() != Rule::kw_patch);
                let apply_to = self.ident(children.next().expect("patch applyTo"));
                let body = self.stmts(children);
                StmtKind::Patch { apply_to, body }
            }
            Rule::patch_match => {
                let body = self.stmts(inner(pair).filter(|p| p.as_rule() != Rule::kw_match));
                StmtKind::PatchMatch { body }
            }
            Rule::patch_value => {
                let value =
                    inner(pair).find(|p| p.as_rule() != Rule::kw_value).map(|p| self.value(p)).expect("patch value");
                StmtKind::PatchValue { value }
            }
            Rule::insert_stmt => {
                let mut apply_to = None;
                let mut position = None;
                let mut anchor = None;
                let mut context = None;
                let mut value = None;
                let mut seen_in = false;
                for child in inner(pair) {
                    match child.as_rule() {
                        Rule::kw_insert => {}
                        Rule::kw_in => seen_in = true,
                        Rule::ident if apply_to.is_none() => apply_to = Some(self.ident(child)),
                        Rule::ident if seen_in => context = Some(self.ident(child)),
                        Rule::insert_position => {
                            let position_span = self.span(&child);
                            let kind = match child.as_str() {
                                "before" => InsertPosition::Before,
                                "after" => InsertPosition::After,
                                _ => InsertPosition::First,
                            };
                            position = Some((kind, position_span));
                        }
                        Rule::insert_anchor => anchor = inner(child).next().map(|p| self.value(p)),
                        _ => value = Some(self.value(child)),
                    }
                }
                let (position, position_span) = position.expect("insert position");
                StmtKind::Insert {
                    apply_to: apply_to.expect("insert applyTo"),
                    position,
                    position_span,
                    anchor,
                    context,
                    value: value.expect("insert value"),
                }
            }
            Rule::error_stmt => {
                self.report_error_stmt(&pair);
                StmtKind::Error
            }
            rule => unreachable!("unexpected statement rule {rule:?}"),
        };
        Stmt { kind, span }
    }

    fn providers(&mut self, pair: Pair<'t, Rule>) -> Vec<Key> {
        inner(pair).map(|p| self.key(p)).collect()
    }

    fn mode(&mut self, pair: Pair<'t, Rule>) -> Ident {
        self.ident(inner(pair).next().expect("mode name"))
    }

    fn toggle(&mut self, pair: Pair<'t, Rule>) -> Toggle {
        Toggle { disabled: pair.as_str() == "disabled", span: self.span(&pair) }
    }

    fn expr_text(&mut self, pair: Pair<'t, Rule>) -> ExprText {
        // The grammar stops an expression at the end of the line, so trailing blanks
        // belong to the layout, not to the expression.
        let raw = pair.as_str();
        let trimmed = raw.trim_end();
        let start = pair.as_span().start() as u32;
        ExprText { text: trimmed.to_string(), span: Span::new(self.file, start, start + trimmed.len() as u32) }
    }

    fn ident(&mut self, pair: Pair<'t, Rule>) -> Ident {
        Ident { name: pair.as_str().to_string(), span: self.span(&pair) }
    }

    fn path(&mut self, pair: Pair<'t, Rule>) -> Path {
        let span = self.span(&pair);
        let mut offset = span.start;
        let segments = pair
            .as_str()
            .split('.')
            .map(|segment| {
                let ident = Ident {
                    name: segment.to_string(),
                    span: Span::new(self.file, offset, offset + segment.len() as u32),
                };
                offset += segment.len() as u32 + 1;
                ident
            })
            .collect();
        Path { segments, span }
    }

    fn key(&mut self, pair: Pair<'t, Rule>) -> Key {
        if pair.as_rule() == Rule::string_lit {
            let lit = self.string_lit(pair);
            Key { name: lit.value, span: lit.span, quoted: true }
        } else {
            Key { name: pair.as_str().to_string(), span: self.span(&pair), quoted: false }
        }
    }

    fn string_lit(&mut self, pair: Pair<'t, Rule>) -> StringLit {
        let span = self.span(&pair);
        let piece = inner(pair).next().expect("string has a body");
        match piece.as_rule() {
            Rule::plain_string => {
                let raw = piece.as_str();
                let value = self.unescape(&raw[1..raw.len() - 1], span.start + 1);
                StringLit { value, style: StringStyle::Plain, tag: None, span }
            }
            Rule::triple_string => {
                let raw = piece.as_str();
                let quote = raw.find("\"\"\"").expect("triple quote");
                let tag = (quote > 0).then(|| raw[..quote].to_string());
                let body = &raw[quote + 3..raw.len() - 3];
                if let Some(nul) = body.find('\0') {
                    self.nul_character(span.start + (quote + 3 + nul) as u32, 1);
                }
                StringLit { value: dedent(&body.replace('\0', "")), style: StringStyle::Triple, tag, span }
            }
            rule => unreachable!("unexpected string rule {rule:?}"),
        }
    }

    fn unescape(&mut self, body: &str, body_start: u32) -> String {
        let mut out = String::with_capacity(body.len());
        let mut chars = body.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == '\0' {
                self.nul_character(body_start + i as u32, 1);
                continue;
            }
            if c != '\\' {
                out.push(c);
                continue;
            }
            let Some((_, escaped)) = chars.next() else { break };
            match escaped {
                '\\' => out.push('\\'),
                '"' => out.push('"'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'u' => {
                    let rest = &body[i + 2..];
                    let decoded =
                        rest.strip_prefix('{').and_then(|r| r.find('}').map(|end| &r[..end])).and_then(|hex| {
                            u32::from_str_radix(hex, 16).ok().and_then(char::from_u32).map(|c| (c, hex.len()))
                        });
                    match decoded {
                        Some(('\0', hex_len)) => {
                            self.nul_character(body_start + i as u32, hex_len as u32 + 4);
                            for _ in 0..hex_len + 2 {
                                chars.next();
                            }
                        }
                        Some((decoded, hex_len)) => {
                            out.push(decoded);
                            for _ in 0..hex_len + 2 {
                                chars.next();
                            }
                        }
                        None => self.bad_escape(body_start + i as u32, 2),
                    }
                }
                other => self.bad_escape(body_start + i as u32, 1 + other.len_utf8() as u32),
            }
        }
        out
    }

    /// Kubernetes, YAML readers and Envoy all refuse a NUL character in a string.
    fn nul_character(&mut self, start: u32, len: u32) {
        let span = Span::new(self.file, start, start + len);
        self.diagnostics.push(
            Diagnostic::new(codes::INVALID_ESCAPE, span, "a string cannot hold a NUL character")
                .with_label_message("NUL")
                .with_note("Kubernetes and Envoy refuse text with a NUL character"),
        );
    }

    fn bad_escape(&mut self, start: u32, len: u32) {
        let span = Span::new(self.file, start, start + len);
        let text = &self.text[span.range()];
        self.diagnostics.push(
            Diagnostic::new(codes::INVALID_ESCAPE, span, format!("invalid escape `{text}` in a string"))
                .with_label_message("not an escape")
                .with_help("write `\\\\` for a backslash; known escapes are \\\\ \\\" \\n \\r \\t \\u{...}"),
        );
    }

    fn value(&mut self, pair: Pair<'t, Rule>) -> Value {
        let span = self.span(&pair);
        let kind = match pair.as_rule() {
            Rule::string_lit => ValueKind::String(self.string_lit(pair)),
            Rule::number => {
                let raw = pair.as_str().to_string();
                match raw.parse::<f64>() {
                    Ok(value) if value.is_finite() => ValueKind::Number { value, raw },
                    _ => {
                        self.diagnostics.push(Diagnostic::new(
                            codes::INVALID_NUMBER,
                            span,
                            format!("`{raw}` is not a number meshc can represent"),
                        ));
                        ValueKind::Error
                    }
                }
            }
            Rule::percent => {
                let raw = pair.as_str();
                ValueKind::Percent(raw[..raw.len() - 1].parse().unwrap_or(f64::NAN))
            }
            Rule::duration => {
                let raw = pair.as_str().to_string();
                match crate::duration::parse_duration_literal(&raw) {
                    Ok(nanos) => ValueKind::Duration { nanos, raw },
                    Err(problem) => {
                        self.diagnostics.push(
                            Diagnostic::new(codes::OUT_OF_RANGE, span, format!("`{raw}` is {problem}"))
                                .with_label_message("not a duration protobuf can hold"),
                        );
                        ValueKind::Error
                    }
                }
            }
            Rule::boolean => ValueKind::Bool(pair.as_str() == "true"),
            Rule::null => ValueKind::Null,
            Rule::path => ValueKind::Path(self.path(pair)),
            Rule::call => {
                let mut children = inner(pair);
                let name = self.ident(children.next().expect("call name"));
                let args = children.map(|p| self.value(p)).collect();
                ValueKind::Call { name, args }
            }
            Rule::list => ValueKind::List(inner(pair).map(|p| self.value(p)).collect()),
            Rule::object => ValueKind::Object(self.entries(pair)),
            Rule::message_lit => {
                let mut children = inner(pair);
                let type_name = self.path(children.next().expect("message type"));
                let object = children.next().expect("message fields");
                let fields_span = self.span(&object);
                ValueKind::Message { type_name, fields: self.entries(object), fields_span }
            }
            rule => unreachable!("unexpected value rule {rule:?}"),
        };
        Value { kind, span }
    }

    fn entries(&mut self, object: Pair<'t, Rule>) -> Vec<Entry> {
        inner(object)
            .map(|entry| {
                let span = self.span(&entry);
                let mut children = inner(entry);
                let key = self.key(children.next().expect("entry key"));
                let value = self.value(children.next().expect("entry value"));
                Entry { key, value, span }
            })
            .collect()
    }

    // -- Diagnostics for skipped regions ---------------------------------------------

    fn report_error_item(&mut self, pair: &Pair<'_, Rule>) {
        let span = self.span(pair);
        let text = pair.as_str();
        if self.report_unterminated_string(text, span.start) {
            return;
        }
        let word_len = text.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(text.len());
        let word = &text[..word_len];
        if word_len > 0 && !item_keywords().any(|k| k == word) {
            let word_span = span.sub(0, word_len as u32);
            let mut diagnostic =
                Diagnostic::new(codes::UNKNOWN_KEYWORD, word_span, format!("unknown declaration `{word}`"))
                    .with_label_message("expected a declaration keyword");
            diagnostic = match did_you_mean(word, item_keywords()) {
                Some(keyword) => diagnostic.with_did_you_mean(word_span, keyword),
                None => diagnostic.with_note(format!(
                    "a declaration starts with one of: {}",
                    item_keywords().collect::<Vec<_>>().join(", ")
                )),
            };
            self.diagnostics.push(diagnostic);
            return;
        }
        if self.report_unclosed_value(text, span, "declaration") {
            return;
        }
        self.report_strict_reparse(Rule::item_strict_only, text, span, "declaration");
    }

    /// A skipped region that ends with a `{` of its value still open (the region
    /// stops where the next declaration starts): that brace is the mistake, wherever
    /// the strict parse gave up.
    fn report_unclosed_value(&mut self, text: &str, span: Span, what: &str) -> bool {
        let Some(brace) = unclosed_brace(text) else { return false };
        let brace_span = span.sub(brace as u32, brace as u32 + 1);
        self.diagnostics.push(
            Diagnostic::new(codes::SYNTAX, brace_span, "this `{` is never closed")
                .with_label_message(format!("unclosed in this {what}"))
                .with_help("add the `}` that ends this value"),
        );
        true
    }

    fn report_error_stmt(&mut self, pair: &Pair<'_, Rule>) {
        let span = self.span(pair);
        let text = pair.as_str();
        if self.report_unterminated_string(text, span.start) {
            return;
        }
        if let Some((opener, closer)) = mismatched_bracket(text) {
            let closer_char = &text[closer..closer + 1];
            let opener_char = &text[opener..opener + 1];
            let expected = match opener_char {
                "{" => "}",
                "[" => "]",
                _ => ")",
            };
            let diagnostic = Diagnostic::new(
                codes::SYNTAX,
                span.sub(closer as u32, closer as u32 + 1),
                format!("this `{closer_char}` does not close the `{opener_char}` before it"),
            )
            .with_label_message(format!("expected `{expected}`"))
            .with_secondary(span.sub(opener as u32, opener as u32 + 1), format!("this `{opener_char}` is still open"));
            self.diagnostics.push(diagnostic);
            return;
        }
        self.report_strict_reparse(Rule::stmt_strict_only, text, span, "statement");
    }

    /// Reports a string that runs to the end of its line (or file) without closing.
    fn report_unterminated_string(&mut self, text: &str, base: u32) -> bool {
        let bytes = text.as_bytes();
        let mut i = 0;
        // Byte-wise: `i` may stop inside a multi-byte character, so never slice `text` at it.
        while i < bytes.len() {
            if bytes[i..].starts_with(b"\"\"\"") {
                match text.as_bytes()[i + 3..].windows(3).position(|w| w == b"\"\"\"") {
                    Some(end) => i += 3 + end + 3,
                    None => {
                        self.push_unterminated(base + i as u32, 3, "this multi-line string is never closed");
                        return true;
                    }
                }
                continue;
            }
            match bytes[i] {
                b'"' => {
                    let mut j = i + 1;
                    let mut closed = false;
                    while j < bytes.len() && bytes[j] != b'\n' {
                        if bytes[j] == b'\\' {
                            j += 2;
                            continue;
                        }
                        if bytes[j] == b'"' {
                            closed = true;
                            break;
                        }
                        j += 1;
                    }
                    if !closed {
                        self.push_unterminated(
                            base + i as u32,
                            (j.min(bytes.len()) - i) as u32,
                            "this string is not closed before the end of the line",
                        );
                        return true;
                    }
                    i = j + 1;
                }
                b'/' if bytes[i..].starts_with(b"//") => {
                    i = bytes[i..].iter().position(|b| *b == b'\n').map(|n| i + n).unwrap_or(bytes.len());
                }
                _ => i += 1,
            }
        }
        false
    }

    fn push_unterminated(&mut self, start: u32, len: u32, label: &str) {
        let span = Span::new(self.file, start, start + len.max(1));
        self.diagnostics.push(
            Diagnostic::new(codes::UNTERMINATED_STRING, span, "unterminated string")
                .with_label_message(label)
                .with_help("close the string with `\"` (or `\"\"\"` for a multi-line string)"),
        );
    }

    /// Re-parses a skipped region with the strict rule to find where and why it fails.
    fn report_strict_reparse(&mut self, rule: Rule, text: &str, span: Span, what: &str) {
        let (offset, expected) = match MeshParser::parse(rule, text) {
            Ok(pairs) => {
                // The strict rule matched a prefix: the error is what follows it.
                let end = pairs.last().map(|p| p.as_span().end()).unwrap_or(0);
                let rest = &text[end..];
                if rest.trim().is_empty() {
                    // The whole text is a well-formed statement of another block.
                    let word_len = token_len(text);
                    let word = &text[..word_len];
                    self.diagnostics.push(
                        Diagnostic::new(
                            codes::UNKNOWN_KEYWORD,
                            span.sub(0, word_len as u32),
                            format!("`{word}` is not allowed in this {what}'s block"),
                        )
                        .with_label_message("not allowed here"),
                    );
                    return;
                }
                (end + (rest.len() - rest.trim_start().len()), Vec::new())
            }
            Err(error) => {
                let (pos, _) = error_location(&error);
                let positives = match &error.variant {
                    pest::error::ErrorVariant::ParsingError { positives, .. } => positives.clone(),
                    pest::error::ErrorVariant::CustomError { .. } => Vec::new(),
                };
                (pos, positives)
            }
        };
        let offset = offset.min(text.len());
        let found_len = token_len(&text[offset..]);
        let error_span = span.sub(offset as u32, (offset + found_len) as u32);
        let found = &text[offset..offset + found_len];
        let mut words: Vec<&str> = expected.iter().filter_map(|r| rule_words(*r)).collect();
        words.sort();
        words.dedup();
        // Where any value fits, listing each kind of value only adds noise.
        if words.contains(&"a value") {
            words.retain(|w| !matches!(*w, "`[`" | "`{`" | "a name" | "a (dotted) name" | "a string"));
        }
        let message = if found.is_empty() {
            format!("this {what} is incomplete")
        } else {
            format!("unexpected `{found}` in this {what}")
        };
        let label = if words.is_empty() {
            "not expected here".to_string()
        } else {
            format!("expected {}", join_alternatives(&words))
        };
        let mut diagnostic = Diagnostic::new(codes::SYNTAX, error_span, message)
            .with_label_message(label)
            .with_secondary(span.sub(0, token_len(text) as u32), format!("in this {what}"));
        // A reserved word where a name was expected reads as a mystery otherwise.
        if words.iter().any(|w| w.contains("name")) && KEYWORDS.contains(&found) {
            diagnostic = diagnostic
                .with_note(format!("`{found}` is a keyword of meshc"))
                .with_help(format!("choose another name, such as `my_{found}`"));
        }
        self.diagnostics.push(diagnostic);
    }
}

/// The length of the token at the start of `text`: a word, a string, or one character.
fn token_len(text: &str) -> usize {
    let Some(first) = text.chars().next() else { return 0 };
    if first.is_alphanumeric() || first == '_' {
        return text.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.')).unwrap_or(text.len());
    }
    if first == '"' {
        return text[1..].find(['"', '\n']).map(|i| i + 2).unwrap_or(text.len());
    }
    first.len_utf8()
}

fn join_alternatives(words: &[&str]) -> String {
    match words {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}

/// The user's words for a grammar rule in "expected ..." messages; `None` hides
/// rules that only structure the grammar.
fn rule_words(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::string_lit | Rule::plain_string | Rule::triple_string => "a string",
        Rule::ident | Rule::raw_ident | Rule::decl_name | Rule::tag_word => "a name",
        Rule::path | Rule::module_path => "a (dotted) name",
        Rule::metric_name => "a metric name",
        Rule::number | Rule::percent | Rule::duration | Rule::boolean | Rule::null | Rule::message_lit | Rule::call => {
            "a value"
        }
        Rule::object => "`{`",
        Rule::list => "`[`",
        Rule::expr_text => "an expression",
        Rule::type_expr => "a type",
        Rule::mode_clause => "a mode in parentheses",
        Rule::toggle => "`disabled`",
        Rule::provider_list => "a provider",
        Rule::insert_position => "`before`, `after` or `first`",
        Rule::setting | Rule::section => "a setting",
        Rule::setting_value => "a value",
        Rule::scope_mesh | Rule::scope_namespace | Rule::scope_workload | Rule::scope_targets => "a scope",
        Rule::kw_in => "`in`",
        Rule::kw_when => "`when`",
        Rule::kw_namespace => "`namespace`",
        Rule::kw_workload => "`workload`",
        Rule::kw_targets | Rule::kw_target => "`target`",
        Rule::kw_tag => "`tag`",
        Rule::kw_from => "`from`",
        Rule::kw_ports => "`ports`",
        Rule::kw_as => "`as`",
        Rule::EOI => "the end of the file",
        _ => return None,
    })
}

/// Removes the common indentation of a triple-quoted string, the line break right
/// after the opening quotes and the indentation before the closing ones, so the text
/// can be indented with the code around it.
pub(super) fn dedent(body: &str) -> String {
    let body = body.strip_prefix("\r\n").or_else(|| body.strip_prefix('\n')).unwrap_or(body);
    let mut lines: Vec<&str> = body.split('\n').collect();
    let closing_on_own_line = lines.len() > 1 && lines.last().is_some_and(|l| l.trim().is_empty());
    if closing_on_own_line {
        lines.pop();
    }
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start_matches([' ', '\t']).len())
        .min()
        .unwrap_or(0);
    let mut out = String::with_capacity(body.len());
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let line = line.strip_suffix('\r').unwrap_or(line);
        out.push_str(line.get(indent..).unwrap_or(line.trim_start()));
    }
    if closing_on_own_line {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Declaration keywords that are not reserved words.
    const UNRESERVED_ITEM_KEYWORDS: &[&str] = &["proxy", "smoke"];

    #[test]
    fn keyword_lists_match_the_grammar() {
        for word in KEYWORDS {
            assert!(
                MeshParser::parse(Rule::keyword, word).is_ok_and(|p| p.as_str() == *word),
                "{word} is not a grammar keyword"
            );
        }
        // `proxy` and `smoke` start declarations but stay usable as names and keys
        // (`proxy { ... }` is a section of EnvoyFilter matches).
        for word in
            item_keywords().chain(STATEMENT_KEYWORDS.iter().copied()).filter(|w| !UNRESERVED_ITEM_KEYWORDS.contains(w))
        {
            assert!(KEYWORDS.contains(&word), "{word} is missing from KEYWORDS");
        }
        for word in UNRESERVED_ITEM_KEYWORDS {
            assert!(MeshParser::parse(Rule::keyword, word).map(|p| p.as_str() != *word).unwrap_or(true));
        }
        for word in ["requests", "tagged", "inn", "mesh_x"] {
            assert!(
                MeshParser::parse(Rule::keyword, word).map(|p| p.as_str() != word).unwrap_or(true),
                "{word} must not be a keyword"
            );
        }
    }
}
