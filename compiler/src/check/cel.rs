//! Attribute expressions: CEL parsed with the `cel` crate and type-checked against
//! the attribute vocabulary that `std.attributes` declares.
//!
//! The grammar only delimits an expression; here its text is parsed, every node's
//! position is mapped back into the user's file, and the expression is checked with
//! CEL's standard type rules: `response.code >= "400"` compares an int with a string.
//!
//! Positions: the `cel` parser records for every node the *byte* offsets of its token
//! (start and inclusive stop), because its ANTLR input stream indexes the UTF-8 text by
//! byte; but the line and column of its syntax errors count *characters*, and the
//! errors of its macros (`has`, `exists`) count bytes again. [`Source`] turns all three
//! into byte spans of the user's file, and nothing else in this module does arithmetic
//! on positions.

use crate::diagnostic::{Diagnostic, codes, did_you_mean};
use crate::span::Span;
use cel::common::ast::{CallExpr, ComprehensionExpr, EntryExpr, Expr, IdedExpr, LiteralValue, SourceInfo};
use cel::parser::{ParseError, Parser};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

#[derive(Clone, Debug, PartialEq)]
pub enum CelType {
    Bool,
    Int,
    Uint,
    Double,
    String,
    Bytes,
    Duration,
    Timestamp,
    Null,
    List(Box<CelType>),
    Map(Box<CelType>, Box<CelType>),
    Dyn,
}

impl CelType {
    /// The type as CEL writes it: `int`, `list(string)`, `map(string, string)`.
    pub fn display(&self) -> String {
        match self {
            CelType::Bool => "bool".into(),
            CelType::Int => "int".into(),
            CelType::Uint => "uint".into(),
            CelType::Double => "double".into(),
            CelType::String => "string".into(),
            CelType::Bytes => "bytes".into(),
            CelType::Duration => "duration".into(),
            CelType::Timestamp => "timestamp".into(),
            CelType::Null => "null".into(),
            CelType::List(t) => format!("list({})", t.display()),
            CelType::Map(k, v) => format!("map({}, {})", k.display(), v.display()),
            CelType::Dyn => "dyn".into(),
        }
    }

    /// The type with its article, for messages: "an int", "a string", "bytes".
    pub fn with_article(&self) -> String {
        match self {
            CelType::Int => "an int".into(),
            CelType::Bytes => "bytes".into(),
            CelType::Null => "null".into(),
            CelType::Dyn => "a value of any type".into(),
            other => format!("a {}", other.display()),
        }
    }

    fn is_numeric(&self) -> bool {
        matches!(self, CelType::Int | CelType::Uint | CelType::Double)
    }

    fn is_dyn(&self) -> bool {
        matches!(self, CelType::Dyn)
    }
}

/// The type of a value that is either `a` or `b`, when CEL gives the two a common type.
fn unify(a: &CelType, b: &CelType) -> Option<CelType> {
    match (a, b) {
        _ if a == b => Some(a.clone()),
        (CelType::Dyn, _) | (_, CelType::Dyn) => Some(CelType::Dyn),
        (CelType::Null, other) | (other, CelType::Null) => Some(other.clone()),
        (CelType::List(x), CelType::List(y)) => Some(CelType::List(Box::new(unify(x, y).unwrap_or(CelType::Dyn)))),
        (CelType::Map(k1, v1), CelType::Map(k2, v2)) => Some(CelType::Map(
            Box::new(unify(k1, k2).unwrap_or(CelType::Dyn)),
            Box::new(unify(v1, v2).unwrap_or(CelType::Dyn)),
        )),
        _ => None,
    }
}

/// Whether `==` between the two types can ever be true. CEL compares numbers across
/// int, uint and double, and anything with null or with a value of unknown type.
fn equatable(a: &CelType, b: &CelType) -> bool {
    match (a, b) {
        (CelType::Dyn, _) | (_, CelType::Dyn) | (CelType::Null, _) | (_, CelType::Null) => true,
        _ if a.is_numeric() && b.is_numeric() => true,
        (CelType::List(x), CelType::List(y)) => equatable(x, y),
        (CelType::Map(k1, v1), CelType::Map(k2, v2)) => equatable(k1, k2) && equatable(v1, v2),
        _ => a == b,
    }
}

/// Whether `<` is defined between the two types.
fn orderable(a: &CelType, b: &CelType) -> bool {
    if a.is_dyn() || b.is_dyn() || (a.is_numeric() && b.is_numeric()) {
        return true;
    }
    a == b && matches!(a, CelType::String | CelType::Bytes | CelType::Duration | CelType::Timestamp | CelType::Bool)
}

/// The result of an arithmetic operator, or None when CEL does not define it for the operands.
fn arithmetic(op: &str, left: &CelType, right: &CelType) -> Option<CelType> {
    use CelType::*;
    if left.is_dyn() || right.is_dyn() {
        return Some(Dyn);
    }
    match (op, left, right) {
        (_, Int, Int) | (_, Uint, Uint) => Some(left.clone()),
        ("_%_", Double, Double) => None,
        (_, Double, Double) => Some(Double),
        ("_+_", String, String) => Some(String),
        ("_+_", Bytes, Bytes) => Some(Bytes),
        ("_+_", List(a), List(b)) => Some(List(Box::new(unify(a, b).unwrap_or(Dyn)))),
        ("_+_" | "_-_", Duration, Duration) => Some(Duration),
        ("_+_", Timestamp, Duration) | ("_+_", Duration, Timestamp) | ("_-_", Timestamp, Duration) => Some(Timestamp),
        ("_-_", Timestamp, Timestamp) => Some(Duration),
        _ => None,
    }
}

/// Parses the type syntax of `attribute` declarations: `string`, `int`, `uint`,
/// `double`, `bool`, `bytes`, `duration`, `timestamp`, `dyn`, `{T}` (a map from
/// strings to T) and `[T]` (a list of T).
pub fn parse_type_name(text: &str) -> Option<CelType> {
    let text = text.trim();
    if let Some(inner) = text.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
        return Some(CelType::Map(Box::new(CelType::String), Box::new(parse_type_name(inner)?)));
    }
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        return Some(CelType::List(Box::new(parse_type_name(inner)?)));
    }
    Some(match text {
        "string" => CelType::String,
        "int" => CelType::Int,
        "uint" => CelType::Uint,
        "double" => CelType::Double,
        "bool" => CelType::Bool,
        "bytes" => CelType::Bytes,
        "duration" => CelType::Duration,
        "timestamp" => CelType::Timestamp,
        "dyn" => CelType::Dyn,
        _ => return None,
    })
}

#[derive(Clone, Debug)]
pub struct Attribute {
    pub path: String,
    pub ty: CelType,
    pub doc: String,
}

/// The attributes an expression may name, by dotted path.
#[derive(Clone, Debug, Default)]
pub struct Vocabulary {
    attributes: BTreeMap<String, Attribute>,
    /// Every proper prefix of an attribute's path (`request`, `xds`): a group of
    /// attributes, which is not a value itself but a step towards one.
    groups: BTreeSet<String>,
}

impl Vocabulary {
    pub fn new(attributes: Vec<Attribute>) -> Vocabulary {
        let mut groups = BTreeSet::new();
        for attribute in &attributes {
            for (index, _) in attribute.path.match_indices('.') {
                groups.insert(attribute.path[..index].to_string());
            }
        }
        Vocabulary { attributes: attributes.into_iter().map(|a| (a.path.clone(), a)).collect(), groups }
    }

    pub fn get(&self, path: &str) -> Option<&Attribute> {
        self.attributes.get(path)
    }

    /// Every attribute, ordered by path.
    pub fn attributes(&self) -> impl Iterator<Item = &Attribute> {
        self.attributes.values()
    }

    /// The attributes directly or indirectly below `prefix` (`request` gives `request.*`),
    /// ordered by path.
    pub fn children(&self, prefix: &str) -> Vec<&Attribute> {
        let dotted = format!("{prefix}.");
        self.attributes
            .range(dotted.clone()..)
            .take_while(|(path, _)| path.starts_with(&dotted))
            .map(|(_, a)| a)
            .collect()
    }

    fn is_group(&self, path: &str) -> bool {
        self.groups.contains(path)
    }

    /// The names one step below a group (`host`, `path`, ... for `request`), in order.
    fn members(&self, group: &str) -> Vec<String> {
        let mut members: Vec<String> = Vec::new();
        for attribute in self.children(group) {
            let rest = &attribute.path[group.len() + 1..];
            let name = rest.split('.').next().unwrap_or(rest);
            if members.last().is_none_or(|last| last != name) {
                members.push(name.to_string());
            }
        }
        members
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExprContext {
    /// `access_log ... when EXPR`: must be a boolean.
    AccessLogFilter,
    /// `tag NAME = EXPR` in a metrics override: any value, turned into the label.
    MetricTagValue,
}

/// Parses and checks an expression; returns its type (None when it could not be
/// determined) and every diagnostic, with spans into the user's file.
///
/// `span` is where `text` stands in the user's file; the two must have the same length.
pub fn check_expression(
    text: &str,
    span: Span,
    vocabulary: &Vocabulary,
    context: ExprContext,
) -> (Option<CelType>, Vec<Diagnostic>) {
    let source = Source::new(text, span);
    let (expr, info) = match source.parse() {
        Ok(parsed) => parsed,
        Err(diagnostic) => return (None, vec![diagnostic]),
    };
    let mut checker = Checker {
        nodes: Nodes { source: &source, info: &info },
        vocabulary,
        diagnostics: Vec::new(),
        variables: Vec::new(),
        depth: 0,
    };
    let ty = checker.check(&expr);
    let mut diagnostics = checker.diagnostics;
    if context == ExprContext::AccessLogFilter
        && let Some(ty) = &ty
        && !matches!(ty, CelType::Bool | CelType::Dyn)
    {
        diagnostics.push(
            Diagnostic::new(
                codes::CEL_WRONG_RESULT_TYPE,
                source.whole(),
                format!("an access-log filter must be a condition, but this is {}", ty.with_article()),
            )
            .with_label_message(format!("{}, not a bool", ty.with_article()))
            .with_help("compare it, for example `response.code >= 400`"),
        );
    }
    (ty, diagnostics)
}

/// Remembers the result of checking each distinct expression text in a package.
///
/// Packages repeat the same expressions across namespaces and workloads
/// (`response.code >= 500`, `request.host`), and parsing CEL is the costliest step
/// of checking them; the result depends only on the text and the context, so it is
/// computed once relative to offset 0 and moved to each place it stands.
#[derive(Default)]
pub struct ExpressionCache {
    checked: RefCell<HashMap<(String, ExprContext), Checked>>,
    tags: RefCell<HashMap<String, Interpreted>>,
}

/// What checking an expression gives: its type and its diagnostics.
type Checked = (Option<CelType>, Vec<Diagnostic>);

/// What interpreting a tracing tag gives: the tag and its diagnostics.
type Interpreted = (Option<CustomTag>, Vec<Diagnostic>);

/// The file id under which cached diagnostics are computed, before being moved.
const RELATIVE: crate::span::FileId = crate::span::FileId(u32::MAX);

fn relocate(diagnostics: &[Diagnostic], span: Span) -> Vec<Diagnostic> {
    let shift = |s: &mut Span| {
        *s = Span::new(span.file, s.start + span.start, s.end + span.start);
    };
    diagnostics
        .iter()
        .cloned()
        .map(|mut d| {
            d.labels.iter_mut().for_each(|l| shift(&mut l.span));
            d.suggestions.iter_mut().for_each(|s| shift(&mut s.span));
            d
        })
        .collect()
}

impl ExpressionCache {
    pub fn check_expression(
        &self,
        text: &str,
        span: Span,
        vocabulary: &Vocabulary,
        context: ExprContext,
    ) -> (Option<CelType>, Vec<Diagnostic>) {
        let key = (text.to_string(), context);
        if let Some((ty, diagnostics)) = self.checked.borrow().get(&key) {
            return (ty.clone(), relocate(diagnostics, span));
        }
        let relative = Span::new(RELATIVE, 0, text.len() as u32);
        let (ty, diagnostics) = check_expression(text, relative, vocabulary, context);
        let located = relocate(&diagnostics, span);
        self.checked.borrow_mut().insert(key, (ty.clone(), diagnostics));
        (ty, located)
    }

    pub fn interpret_custom_tag(&self, text: &str, span: Span) -> (Option<CustomTag>, Vec<Diagnostic>) {
        if let Some((tag, diagnostics)) = self.tags.borrow().get(text) {
            return (tag.clone(), relocate(diagnostics, span));
        }
        let relative = Span::new(RELATIVE, 0, text.len() as u32);
        let (tag, diagnostics) = interpret_custom_tag(text, relative);
        let located = relocate(&diagnostics, span);
        self.tags.borrow_mut().insert(text.to_string(), (tag.clone(), diagnostics));
        (tag, located)
    }
}

/// A tracing custom tag, as Istio's `customTags` knows them.
#[derive(Clone, Debug, PartialEq)]
pub enum CustomTag {
    Literal(String),
    Environment { name: String, default: Option<String> },
    Header { name: String, default: Option<String> },
    Formatter(String),
}

const TAG_FORMS: &str = "write \"text\", env(\"VAR\"), env(\"VAR\", \"default\"), header(\"name\"), \
                         header(\"name\", \"default\") or formatter(\"%...%\")";

/// A tracing custom tag is written as a string literal, `env(NAME [, DEFAULT])`,
/// `header(NAME [, DEFAULT])` or `formatter(FORMAT)`; anything else is a diagnostic.
pub fn interpret_custom_tag(text: &str, span: Span) -> (Option<CustomTag>, Vec<Diagnostic>) {
    let source = Source::new(text, span);
    let (expr, info) = match source.parse() {
        Ok(parsed) => parsed,
        Err(diagnostic) => return (None, vec![diagnostic]),
    };
    match custom_tag(&Nodes { source: &source, info: &info }, &expr) {
        Ok(tag) => (Some(tag), Vec::new()),
        Err(diagnostic) => (None, vec![diagnostic]),
    }
}

// A failure is one diagnostic, returned once per expression; boxing it would buy nothing.
#[allow(clippy::result_large_err)]
fn custom_tag(nodes: &Nodes, expr: &IdedExpr) -> Result<CustomTag, Diagnostic> {
    let whole = nodes.span(expr);
    match &expr.expr {
        Expr::Literal(LiteralValue::String(s)) => Ok(CustomTag::Literal(s.inner().to_string())),
        Expr::Literal(_) => {
            // Istio's literal tags are strings; a bare number or bool is a missing pair of quotes.
            let quoted = format!("\"{}\"", nodes.text(expr));
            Err(Diagnostic::new(codes::CEL_WRONG_RESULT_TYPE, whole, "a literal tracing tag must be a string")
                .with_label_message("not a string")
                .with_did_you_mean(whole, &quoted))
        }
        Expr::Call(call)
            if call.target.is_none() && matches!(call.func_name.as_str(), "env" | "header" | "formatter") =>
        {
            tag_function(nodes, expr, call)
        }
        Expr::Call(call) if call.target.is_none() && !is_operator(&call.func_name) => {
            let name = call.func_name.as_str();
            let name_span = nodes.name_span(expr);
            let diagnostic =
                Diagnostic::new(codes::UNKNOWN_FUNCTION, name_span, format!("`{name}` is not a form of tracing tag"))
                    .with_label_message("unknown function");
            let forms = ["env", "header", "formatter"];
            // `environment(...)` and `headers(...)` are longer spellings of a form, too far for did-you-mean.
            let nearest = did_you_mean(name, forms).or_else(|| forms.into_iter().find(|form| name.starts_with(form)));
            Err(match nearest {
                Some(suggestion) => diagnostic.with_did_you_mean(name_span, suggestion),
                None => diagnostic.with_note("a tracing tag is a string, env(...), header(...) or formatter(...)"),
            })
        }
        _ => {
            let mut diagnostic = Diagnostic::new(
                codes::CEL_WRONG_RESULT_TYPE,
                whole,
                "a tracing tag is a string, env(...), header(...) or formatter(...), not a computed expression",
            )
            .with_label_message("not a tracing tag");
            // `request.headers["x-user"]` reads a header, which is what header("x-user") does.
            if let Some(header) = header_lookup(expr) {
                diagnostic = diagnostic.with_did_you_mean(whole, &format!("header(\"{header}\")"));
            } else {
                diagnostic = diagnostic.with_help(TAG_FORMS);
            }
            Err(diagnostic)
        }
    }
}

/// The header name of `request.headers["NAME"]`, if that is what `expr` is.
fn header_lookup(expr: &IdedExpr) -> Option<String> {
    let Expr::Call(call) = &expr.expr else { return None };
    let [map, key] = call.args.as_slice() else { return None };
    let path = path_of(map)?;
    let names: Vec<&str> = path.iter().map(|(name, _)| *name).collect();
    match (call.func_name.as_str(), names.as_slice(), &key.expr) {
        ("_[_]", ["request", "headers"], Expr::Literal(LiteralValue::String(name))) => Some(name.inner().to_string()),
        _ => None,
    }
}

// A failure is one diagnostic, returned once per expression; boxing it would buy nothing.
#[allow(clippy::result_large_err)]
fn tag_function(nodes: &Nodes, expr: &IdedExpr, call: &CallExpr) -> Result<CustomTag, Diagnostic> {
    let name = call.func_name.as_str();
    let (usage, maximum) = match name {
        "env" => ("`env` takes an environment variable name and an optional default: env(\"VAR\", \"default\")", 2),
        "header" => ("`header` takes a request header name and an optional default: header(\"name\", \"default\")", 2),
        _ => ("`formatter` takes one format string, such as formatter(\"%REQ(:PATH)%\")", 1),
    };
    let count = call.args.len();
    if count == 0 || count > maximum {
        let given = if count == 1 { "1 argument".to_string() } else { format!("{count} arguments") };
        return Err(Diagnostic::new(codes::CEL_WRONG_RESULT_TYPE, nodes.span(expr), usage)
            .with_label_message(format!("{given} given")));
    }
    let mut strings = Vec::new();
    for arg in &call.args {
        match &arg.expr {
            Expr::Literal(LiteralValue::String(s)) => strings.push(s.inner().to_string()),
            _ => {
                let arg_span = nodes.span(arg);
                let diagnostic = Diagnostic::new(
                    codes::CEL_WRONG_RESULT_TYPE,
                    arg_span,
                    format!("the arguments of `{name}` are quoted strings"),
                )
                .with_label_message("not a string literal");
                // `env(CLUSTER_NAME)`: the name was meant, without its quotes.
                return Err(match path_of(arg) {
                    Some(path) => {
                        let written: Vec<&str> = path.iter().map(|(n, _)| *n).collect();
                        diagnostic.with_did_you_mean(arg_span, &format!("\"{}\"", written.join(".")))
                    }
                    None => diagnostic,
                });
            }
        }
    }
    let first = &strings[0];
    let first_span = nodes.span(&call.args[0]);
    if first.trim().is_empty() {
        let what = match name {
            "env" => "the environment variable name is empty",
            "header" => "the header name is empty",
            _ => "the format is empty",
        };
        return Err(Diagnostic::new(codes::CEL_WRONG_RESULT_TYPE, first_span, what).with_label_message("empty"));
    }
    if name == "header" && !first.bytes().all(is_header_name_byte) {
        return Err(Diagnostic::new(
            codes::CEL_WRONG_RESULT_TYPE,
            first_span,
            format!("`{first}` is not a valid HTTP header name"),
        )
        .with_label_message("header names have no spaces, quotes or separators"));
    }
    let default = strings.get(1).cloned();
    Ok(match name {
        "env" => CustomTag::Environment { name: first.clone(), default },
        "header" => CustomTag::Header { name: first.clone(), default },
        _ => CustomTag::Formatter(first.clone()),
    })
}

/// The characters of an HTTP header name (RFC 9110 `tchar`).
fn is_header_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// More operators than this and the expression is refused before parsing: the `cel`
/// parser recurses once per operator of a chain such as `1 + 1 + ...`, and a stack
/// overflow cannot be caught. A thousand is far beyond any real filter and far below
/// what the parser survives on a 2 MiB thread stack (about 4,000).
const MAX_OPERATORS: usize = 1000;

/// Deeper than this, the checker stops descending; CEL implementations themselves
/// refuse expressions nested much deeper (cel-go and cel-cpp stop at 250).
const MAX_DEPTH: usize = 200;

/// The text of one expression, where it stands in the user's file, and the little
/// lexing that positions need: tokens, and which brackets pair up.
struct Source<'a> {
    text: &'a str,
    span: Span,
    /// Byte ranges of the tokens, in order; a string literal is one token.
    tokens: Vec<(usize, usize)>,
    /// For each bracket outside string literals, the byte offset of its partner.
    partner: HashMap<usize, usize>,
    /// Opening brackets that are never closed, in order.
    unclosed: Vec<usize>,
    /// How many operator characters the text has outside strings: a bound on how deep its tree can be.
    operators: usize,
}

impl<'a> Source<'a> {
    fn new(text: &'a str, span: Span) -> Source<'a> {
        let bytes = text.as_bytes();
        let mut source =
            Source { text, span, tokens: Vec::new(), partner: HashMap::new(), unclosed: Vec::new(), operators: 0 };
        let mut index = 0;
        while index < bytes.len() {
            let byte = bytes[index];
            if byte.is_ascii_whitespace() {
                index += 1;
                continue;
            }
            let start = index;
            if byte == b'"' || byte == b'\'' {
                index = string_end(bytes, index, false);
            } else if byte.is_ascii_alphanumeric() || byte == b'_' {
                let mut end = index;
                while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
                    end += 1;
                }
                let word = &text[index..end];
                let quote_follows = matches!(bytes.get(end), Some(b'"' | b'\''));
                // `r"..."`, `b'...'` and `rb"..."` are string literals with a prefix.
                if quote_follows && word.len() <= 2 && word.bytes().all(|c| matches!(c, b'r' | b'R' | b'b' | b'B')) {
                    index = string_end(bytes, end, word.contains(['r', 'R']));
                } else {
                    index = end;
                }
            } else if byte >= 0x80 {
                // A character outside a string is an error; keep it whole so the error can point at it.
                index += text[index..].chars().next().map_or(1, char::len_utf8);
            } else {
                let pair = bytes.get(index..index + 2);
                index += if matches!(pair, Some(b"==" | b"!=" | b"<=" | b">=" | b"&&" | b"||")) { 2 } else { 1 };
                match byte {
                    b'(' | b'[' | b'{' => source.unclosed.push(start),
                    b')' | b']' | b'}' => {
                        if let Some(open) = source.unclosed.pop() {
                            source.partner.insert(open, start);
                            source.partner.insert(start, open);
                        }
                    }
                    _ => {}
                }
                if b"+-*/%<>=!.[(?".contains(&byte) {
                    source.operators += 1;
                }
            }
            source.tokens.push((start, index.min(bytes.len())));
        }
        source
    }

    /// The span of the byte range `start..end` of the text, kept inside the expression.
    fn at(&self, start: usize, end: usize) -> Span {
        let (start, end) = (floor_char_boundary(self.text, start), floor_char_boundary(self.text, end));
        let start = (self.span.start as usize + start).min(self.span.end as usize);
        let end = (self.span.start as usize + end).min(self.span.end as usize).max(start);
        Span::new(self.span.file, start as u32, end as u32)
    }

    /// The expression without the blanks around it.
    fn whole(&self) -> Span {
        let start = self.text.len() - self.text.trim_start().len();
        let end = self.text.trim_end().len();
        if start < end { self.at(start, end) } else { self.span }
    }

    /// The token at byte `offset`, or the character there when no token covers it.
    fn token_at(&self, offset: usize) -> (usize, usize) {
        let index = self.tokens.partition_point(|t| t.1 <= offset);
        match self.tokens.get(index) {
            Some(&(start, end)) if start <= offset => (start, end),
            _ if offset >= self.text.len() => (self.text.len(), self.text.len()),
            _ => {
                let offset = floor_char_boundary(self.text, offset);
                (offset, offset + self.text[offset..].chars().next().map_or(1, char::len_utf8))
            }
        }
    }

    /// The identifier just before the token at `offset` (a function's name before its `(`).
    fn name_before(&self, offset: usize) -> Option<(usize, usize)> {
        let index = self.tokens.partition_point(|t| t.0 < offset);
        let (start, end) = *self.tokens.get(index.checked_sub(1)?)?;
        let first = self.text.as_bytes()[start];
        (first.is_ascii_alphabetic() || first == b'_').then_some((start, end))
    }

    /// The first token at or after `offset`.
    fn token_after(&self, offset: usize) -> Option<(usize, usize)> {
        self.tokens.get(self.tokens.partition_point(|t| t.0 < offset)).copied()
    }

    /// Widens `start..end` until every bracket in it has its partner in it too, so a
    /// span never shows half of `(a + b)`.
    fn balance(&self, (mut start, mut end): (usize, usize)) -> (usize, usize) {
        loop {
            let (before, after) = (start, end);
            let first = self.tokens.partition_point(|t| t.0 < start);
            for &(token, _) in self.tokens[first..].iter().take_while(|t| t.0 < after) {
                if let Some(&other) = self.partner.get(&token) {
                    start = start.min(other);
                    end = end.max(other + 1);
                }
            }
            if (start, end) == (before, after) {
                return (start, end);
            }
        }
    }

    // A failure is one diagnostic, returned once per expression; boxing it would buy nothing.
    #[allow(clippy::result_large_err)]
    fn parse(&self) -> Result<(IdedExpr, SourceInfo), Diagnostic> {
        if self.text.trim().is_empty() {
            return Err(Diagnostic::new(codes::CEL_SYNTAX, self.span, "the expression is empty")
                .with_label_message("an expression goes here"));
        }
        if self.operators > MAX_OPERATORS {
            return Err(Diagnostic::new(
                codes::CEL_SYNTAX,
                self.whole(),
                format!("this expression is too long to check: it has more than {MAX_OPERATORS} operators"),
            )
            .with_help("split it into smaller expressions"));
        }
        let text = self.text;
        // The parser is generated code; a panic in it must not take the compiler down with it.
        match std::panic::catch_unwind(|| Parser::new().parse_with_source_info(text)) {
            Ok(Ok(parsed)) => Ok(parsed),
            Ok(Err(errors)) => Err(self.syntax_error(&errors.errors)),
            Err(_) => Err(self.unreadable()),
        }
    }

    fn unreadable(&self) -> Diagnostic {
        Diagnostic::new(codes::CEL_SYNTAX, self.whole(), "this expression could not be read as CEL")
    }

    /// The byte offset where a parse error stands, and where it ends when the parser knows.
    fn locate(&self, error: &ParseError) -> (usize, Option<usize>) {
        if error.expr_id != 0
            && let Some((start, stop)) = error.source_info.as_deref().and_then(|i| i.offset_for(error.expr_id))
        {
            let start = floor_char_boundary(self.text, start as usize);
            return (start, Some(floor_char_boundary(self.text, stop as usize + 1).max(start)));
        }
        // ANTLR counts columns in characters; the macros' errors count them in bytes.
        let in_characters = error.msg.starts_with("Syntax error:");
        (line_column_offset(self.text, error.pos.0, error.pos.1, in_characters), None)
    }

    /// One diagnostic for a failed parse: the first error ANTLR itself reported, since
    /// the parser's later complaints ("Incomplete ...") are consequences of it.
    fn syntax_error(&self, errors: &[ParseError]) -> Diagnostic {
        let located: Vec<(&ParseError, usize, Option<usize>)> = errors
            .iter()
            .map(|e| {
                let (start, end) = self.locate(e);
                (e, start, end)
            })
            .collect();
        let chosen = located
            .iter()
            .filter(|(e, ..)| e.msg.starts_with("Syntax error:"))
            .min_by_key(|(_, start, _)| *start)
            .or_else(|| located.iter().min_by_key(|(_, start, _)| *start));
        match chosen {
            Some(&(error, start, end)) => self.describe_syntax_error(error, start, end),
            None => self.unreadable(),
        }
    }

    /// Says in plain words what ANTLR's message means; its raw format never reaches the user.
    fn describe_syntax_error(&self, error: &ParseError, start: usize, end: Option<usize>) -> Diagnostic {
        let raw = error.msg.strip_prefix("Syntax error: ").unwrap_or(&error.msg);
        let token = end.map_or_else(|| self.token_at(start), |end| (start, end));
        let token_span = self.at(token.0, token.1);
        let token_text = &self.text[token.0..token.1];
        if let Some(found) = raw.strip_prefix("token recognition error at: '") {
            return self.unrecognized(start, found.strip_suffix('\'').unwrap_or(found));
        }
        if let Some(rest) = raw.strip_prefix("mismatched input '").or_else(|| raw.strip_prefix("extraneous input '")) {
            let (found, expected) = rest.split_once("' expecting ").unwrap_or((rest.trim_end_matches('\''), ""));
            return self.unexpected(start, found == "<EOF>", &expected_in_words(expected));
        }
        if let Some(rest) = raw.strip_prefix("missing '") {
            let (missing, found) = rest.split_once("' at '").unwrap_or((rest, ""));
            return self.missing(start, missing, found.trim_end_matches('\'') == "<EOF>");
        }
        if raw.starts_with("no viable alternative at input") {
            return self.unexpected(start, start >= self.text.trim_end().len(), "");
        }
        if raw.contains("Recursion limit") {
            return Diagnostic::new(codes::CEL_SYNTAX, self.whole(), "this expression is nested too deeply to be read")
                .with_help("split it into simpler expressions");
        }
        if let Some(word) = raw.strip_prefix("reserved identifier: ") {
            return Diagnostic::new(
                codes::CEL_SYNTAX,
                token_span,
                format!("`{word}` is a reserved word in CEL and cannot be used as a name"),
            )
            .with_label_message("reserved word");
        }
        if raw.starts_with("invalid int literal") || raw.starts_with("invalid uint literal") {
            return Diagnostic::new(codes::CEL_SYNTAX, token_span, format!("`{token_text}` does not fit in 64 bits"))
                .with_label_message("number too large");
        }
        if raw.starts_with("invalid double literal") {
            return Diagnostic::new(codes::CEL_SYNTAX, token_span, format!("`{token_text}` is not a valid number"));
        }
        if raw.starts_with("invalid string literal") || raw.starts_with("invalid bytes literal") {
            return Diagnostic::new(codes::CEL_SYNTAX, token_span, "this string has an invalid escape sequence")
                .with_help("the escapes are \\n, \\t, \\\", \\', \\\\, \\xHH, \\uHHHH and the like");
        }
        if raw == "invalid argument to has() macro" {
            return Diagnostic::new(
                codes::CEL_SYNTAX,
                token_span,
                "`has()` takes a field selection, such as `has(request.headers.x_user)`",
            )
            .with_label_message("not a field selection");
        }
        if raw == "argument must be a simple name" {
            return Diagnostic::new(
                codes::CEL_SYNTAX,
                token_span,
                "the first argument of this macro names a variable, as in `request.headers.exists(h, h.startsWith(\"x-\"))`",
            )
            .with_label_message("not a variable name");
        }
        if let Some(what) = raw.strip_prefix("unsupported syntax ") {
            return Diagnostic::new(
                codes::CEL_SYNTAX,
                token_span,
                format!("{} is not supported in Istio's expressions", what.replace('\'', "`")),
            );
        }
        self.unreadable()
    }

    /// A character the lexer could not read: a stray symbol, an unclosed string, a bad escape.
    fn unrecognized(&self, start: usize, found: &str) -> Diagnostic {
        let prefix = found.len() - found.trim_start_matches(['r', 'R', 'b', 'B']).len();
        let quote = found[prefix..].chars().next();
        if prefix <= 2 && matches!(quote, Some('"' | '\'')) {
            let line_end = self.text[start..].find('\n').map_or(self.text.len(), |i| start + i);
            if start + found.len() >= line_end {
                return Diagnostic::new(codes::CEL_SYNTAX, self.at(start, line_end), "this string is never closed")
                    .with_label_message("unclosed string")
                    .with_help(format!("add the closing {}", quote.unwrap_or('"')));
            }
            let last = found.chars().last().map_or(1, char::len_utf8);
            if found.len() > last && found.as_bytes()[found.len() - last - 1] == b'\\' {
                let escape = start + found.len() - last - 1..start + found.len();
                let written = self.text.get(escape.clone()).unwrap_or(&found[found.len() - last - 1..]);
                return Diagnostic::new(
                    codes::CEL_SYNTAX,
                    self.at(escape.start, escape.end),
                    format!("`{written}` is not a valid escape sequence"),
                )
                .with_label_message("invalid escape")
                .with_help("write `\\\\` for a backslash");
            }
        }
        let (character_start, character_end) = self.token_at(start);
        let character = found.chars().next().unwrap_or(' ');
        let span =
            self.at(character_start, character_start + character.len_utf8().min(character_end - character_start));
        match character {
            '=' | '&' | '|' => {
                let operator = format!("{character}{character}");
                let diagnostic =
                    Diagnostic::new(codes::CEL_SYNTAX, span, format!("`{character}` is not an operator in CEL"))
                        .with_label_message("not an operator")
                        .with_did_you_mean(span, &operator);
                if character == '|' {
                    // Istio's old attribute expressions wrote defaults as `a | "default"`.
                    diagnostic.with_note(
                        "for a default value, write a conditional such as \
                         `\"x-user\" in request.headers ? request.headers[\"x-user\"] : \"unknown\"`",
                    )
                } else {
                    diagnostic
                }
            }
            c if !c.is_ascii() => {
                Diagnostic::new(codes::CEL_SYNTAX, span, format!("`{c}` can only appear inside a string"))
                    .with_label_message("outside a string")
            }
            c => Diagnostic::new(codes::CEL_SYNTAX, span, format!("`{c}` cannot appear in an expression"))
                .with_label_message("unexpected character"),
        }
    }

    /// A token the parser did not expect, or the end of the text where it expected more.
    fn unexpected(&self, start: usize, at_end: bool, expected: &str) -> Diagnostic {
        if at_end || start >= self.text.len() {
            let Some(&(last_start, last_end)) = self.tokens.last() else { return self.unreadable() };
            let last = &self.text[last_start..last_end];
            let expected = match expected {
                "" if last == "." => "a field name".to_string(),
                "" => "more".to_string(),
                other => other.to_string(),
            };
            return Diagnostic::new(
                codes::CEL_SYNTAX,
                self.at(last_start, last_end),
                format!("the expression ends too early: expected {expected} after `{last}`"),
            )
            .with_label_message("the expression ends here");
        }
        let (token_start, token_end) = self.token_at(start);
        let token = &self.text[token_start..token_end];
        let message = if expected.is_empty() {
            format!("unexpected `{token}`")
        } else {
            format!("unexpected `{token}`: expected {expected}")
        };
        Diagnostic::new(codes::CEL_SYNTAX, self.at(token_start, token_end), message)
            .with_label_message("not expected here")
    }

    /// A closing bracket (or other token) the parser needed and did not find.
    fn missing(&self, start: usize, missing: &str, at_end: bool) -> Diagnostic {
        let opener = match missing {
            ")" => Some(b'('),
            "]" => Some(b'['),
            "}" => Some(b'{'),
            _ => None,
        };
        let unclosed =
            opener.and_then(|opener| self.unclosed.iter().rev().find(|&&i| self.text.as_bytes()[i] == opener).copied());
        let (here_start, here_end) = if at_end || start >= self.text.len() {
            self.tokens.last().copied().unwrap_or((self.text.len(), self.text.len()))
        } else {
            self.token_at(start)
        };
        match unclosed {
            Some(open) => {
                let opener = &self.text[open..open + 1];
                Diagnostic::new(codes::CEL_SYNTAX, self.at(open, open + 1), format!("this `{opener}` is never closed"))
                    .with_label_message("never closed")
                    .with_secondary(self.at(here_start, here_end), format!("expected `{missing}` after this"))
            }
            None => {
                Diagnostic::new(codes::CEL_SYNTAX, self.at(here_start, here_end), format!("expected `{missing}` here"))
                    .with_label_message(format!("`{missing}` missing"))
            }
        }
    }
}

/// The end of the string literal whose opening quote is at `quote`: just after its
/// closing quote, or where the line (or text) ends if it is never closed.
fn string_end(bytes: &[u8], quote: usize, raw: bool) -> usize {
    let q = bytes[quote];
    let triple = bytes.get(quote..quote + 3) == Some(&[q, q, q][..]);
    let mut index = quote + if triple { 3 } else { 1 };
    while index < bytes.len() {
        let byte = bytes[index];
        if !raw && byte == b'\\' {
            index += 2;
            continue;
        }
        if triple {
            if bytes[index..].starts_with(&[q, q, q]) {
                return index + 3;
            }
        } else if byte == q {
            return index + 1;
        } else if byte == b'\n' {
            return index;
        }
        index += 1;
    }
    bytes.len()
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// The byte offset of a one-based line and column, the column counted in characters
/// (ANTLR's errors) or in bytes (the errors of the parser's macros).
fn line_column_offset(text: &str, line: isize, column: isize, in_characters: bool) -> usize {
    let mut offset = 0;
    for (index, line_text) in text.split_inclusive('\n').enumerate() {
        if index as isize + 1 == line {
            let column = (column - 1).max(0) as usize;
            let content = line_text.trim_end_matches('\n');
            let within = if in_characters {
                content.char_indices().nth(column).map_or(content.len(), |(i, _)| i)
            } else {
                floor_char_boundary(content, column)
            };
            return offset + within;
        }
        offset += line_text.len();
    }
    text.len()
}

/// What ANTLR's `expecting {...}` set asks for, in words.
fn expected_in_words(expected: &str) -> String {
    let items: Vec<&str> = expected
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .split(", ")
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .collect();
    let has = |item: &str| items.contains(&item);
    let value = has("IDENTIFIER") || has("NUM_INT") || has("STRING");
    let operator = has("'=='") || has("'&&'") || has("'+'");
    if items.is_empty() {
        String::new()
    } else if items == ["<EOF>"] {
        "an operator or the end of the expression".to_string()
    } else if value && has("')'") {
        "a value or `)`".to_string()
    } else if value {
        "a value".to_string()
    } else if operator && has("':'") {
        "an operator or the `:` of `? :`".to_string()
    } else if operator {
        "an operator".to_string()
    } else {
        let words: Vec<String> = items.iter().map(|item| format!("`{}`", item.trim_matches('\''))).collect();
        words.join(" or ")
    }
}

fn is_operator(name: &str) -> bool {
    name.starts_with(['_', '@']) || name == "!_" || name == "-_"
}

/// The identifiers of a chain `a.b.c`, each with the node that ends at it (`a`, `a.b`, `a.b.c`).
fn path_of(expr: &IdedExpr) -> Option<Vec<(&str, &IdedExpr)>> {
    let mut chain = Vec::new();
    let mut current = expr;
    loop {
        match &current.expr {
            Expr::Ident(name) => {
                chain.push((name.as_str(), current));
                chain.reverse();
                return Some(chain);
            }
            Expr::Select(select) if !select.test => {
                chain.push((select.field.as_str(), current));
                current = &select.operand;
            }
            _ => return None,
        }
    }
}

/// The parsed expression's nodes, located in the user's file.
struct Nodes<'a> {
    source: &'a Source<'a>,
    info: &'a SourceInfo,
}

type Range = (usize, usize);

fn join(a: Option<Range>, b: Option<Range>) -> Option<Range> {
    match (a, b) {
        (Some(a), Some(b)) => Some((a.0.min(b.0), a.1.max(b.1))),
        (a, b) => a.or(b),
    }
}

impl Nodes<'_> {
    /// The byte range of the node's own token: an identifier, a literal, an operator,
    /// the `(` of a call, the `[` of an index or a list, the `.` of a selection.
    fn token(&self, expr: &IdedExpr) -> Option<Range> {
        let (start, stop) = self.info.offset_for(expr.id)?;
        let start = floor_char_boundary(self.source.text, start as usize);
        Some((start, floor_char_boundary(self.source.text, stop as usize + 1).max(start)))
    }

    /// The byte range of the whole sub-expression: every token of it, the closing
    /// brackets the parser does not record, and the name of a call.
    fn range(&self, expr: &IdedExpr) -> Option<Range> {
        let own = self.token(expr);
        let mut range = own;
        match &expr.expr {
            Expr::Call(call) => {
                if let Some(target) = &call.target {
                    range = join(range, self.range(target));
                }
                for arg in &call.args {
                    range = join(range, self.range(arg));
                }
                let function = !is_operator(&call.func_name);
                if function || call.func_name == "_[_]" || call.func_name == "_[?_]" {
                    range = join(range, self.bracketed(own, function));
                }
            }
            Expr::Select(select) => {
                let operand = self.range(&select.operand);
                range = join(range, operand);
                if select.test {
                    range = join(range, self.bracketed(own, true));
                } else {
                    range = join(range, self.field(expr));
                }
            }
            Expr::List(list) => {
                for element in &list.elements {
                    range = join(range, self.range(element));
                }
                range = join(range, self.bracketed(own, false));
            }
            Expr::Map(map) => {
                for entry in &map.entries {
                    if let EntryExpr::MapEntry(entry) = &entry.expr {
                        range = join(range, join(self.range(&entry.key), self.range(&entry.value)));
                    }
                }
                range = join(range, self.bracketed(own, false));
            }
            Expr::Struct(message) => {
                for entry in &message.entries {
                    if let EntryExpr::StructField(field) = &entry.expr {
                        range = join(range, self.range(&field.value));
                    }
                }
                range = join(range, self.bracketed(own, true));
            }
            Expr::Comprehension(comprehension) => {
                // The macro's other nodes are synthetic and all sit at its `(`.
                range = join(self.range(&comprehension.iter_range), self.bracketed(own, true));
            }
            _ => {}
        }
        range.map(|r| self.source.balance(r))
    }

    /// From the name before the bracket at `own` (when `named`) to its closing partner.
    fn bracketed(&self, own: Option<Range>, named: bool) -> Option<Range> {
        let (open, _) = own?;
        if !matches!(self.source.text.as_bytes().get(open), Some(b'(' | b'[' | b'{')) {
            return own;
        }
        let close = self.source.partner.get(&open).map_or(open + 1, |close| close + 1);
        let start = if named { self.source.name_before(open).map_or(open, |(start, _)| start) } else { open };
        Some((start, close))
    }

    /// The field name of a selection `a.b` (the `b`).
    fn field(&self, expr: &IdedExpr) -> Option<Range> {
        let Expr::Select(select) = &expr.expr else { return None };
        let text = self.source.text;
        let after = match self.token(expr) {
            Some((dot, end)) if &text[dot..end] == "." => end,
            // `has(a.b)` records its `(`; the dot follows the operand.
            _ => {
                let (_, operand_end) = self.range(&select.operand)?;
                let (dot, end) = self.source.token_after(operand_end)?;
                if &text[dot..end] != "." {
                    return None;
                }
                end
            }
        };
        let (start, end) = self.source.token_after(after)?;
        (text[start..end] == select.field).then_some((start, end))
    }

    fn span(&self, expr: &IdedExpr) -> Span {
        match self.range(expr) {
            Some((start, end)) => self.source.at(start, end),
            None => self.source.whole(),
        }
    }

    fn text(&self, expr: &IdedExpr) -> &str {
        match self.range(expr) {
            Some((start, end)) => &self.source.text[start..end],
            None => self.source.text.trim(),
        }
    }

    /// The name of a call or macro: the identifier before its `(`.
    fn name_range(&self, expr: &IdedExpr) -> Option<Range> {
        let (open, _) = self.token(expr)?;
        self.source.name_before(open)
    }

    fn name_span(&self, expr: &IdedExpr) -> Span {
        match self.name_range(expr) {
            Some((start, end)) => self.source.at(start, end),
            None => self.span(expr),
        }
    }

    fn token_span(&self, expr: &IdedExpr) -> Span {
        match self.token(expr) {
            Some((start, end)) => self.source.at(start, end),
            None => self.span(expr),
        }
    }
}

/// The kind of a value, as the signatures of the standard functions name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Bool,
    Int,
    Uint,
    Double,
    String,
    Bytes,
    Duration,
    Timestamp,
    Null,
    List,
    Map,
}

impl Kind {
    /// None for `dyn`, which fits every kind.
    fn of(ty: &CelType) -> Option<Kind> {
        Some(match ty {
            CelType::Bool => Kind::Bool,
            CelType::Int => Kind::Int,
            CelType::Uint => Kind::Uint,
            CelType::Double => Kind::Double,
            CelType::String => Kind::String,
            CelType::Bytes => Kind::Bytes,
            CelType::Duration => Kind::Duration,
            CelType::Timestamp => Kind::Timestamp,
            CelType::Null => Kind::Null,
            CelType::List(_) => Kind::List,
            CelType::Map(..) => Kind::Map,
            CelType::Dyn => return None,
        })
    }

    fn with_article(self) -> &'static str {
        match self {
            Kind::Bool => "a bool",
            Kind::Int => "an int",
            Kind::Uint => "a uint",
            Kind::Double => "a double",
            Kind::String => "a string",
            Kind::Bytes => "bytes",
            Kind::Duration => "a duration",
            Kind::Timestamp => "a timestamp",
            Kind::Null => "null",
            Kind::List => "a list",
            Kind::Map => "a map",
        }
    }
}

/// "a string", "a string or bytes", "an int, a uint or a double".
fn describe_kinds(kinds: &[Kind]) -> String {
    let words: Vec<&str> = kinds.iter().map(|k| k.with_article()).collect();
    match words.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// One way of calling a standard function: on a receiver (`s.startsWith(p)`) or not (`size(s)`).
struct Form {
    receiver: Option<&'static [Kind]>,
    params: &'static [&'static [Kind]],
    result: CelType,
}

const fn global(params: &'static [&'static [Kind]], result: CelType) -> Form {
    Form { receiver: None, params, result }
}

const fn method(receiver: &'static [Kind], params: &'static [&'static [Kind]], result: CelType) -> Form {
    Form { receiver: Some(receiver), params, result }
}

const SIZED: &[Kind] = &[Kind::String, Kind::Bytes, Kind::List, Kind::Map];
const TEXT: &[Kind] = &[Kind::String];
const TIME: &[Kind] = &[Kind::Timestamp];
const ANY: &[Kind] = &[
    Kind::Bool,
    Kind::Int,
    Kind::Uint,
    Kind::Double,
    Kind::String,
    Kind::Bytes,
    Kind::Duration,
    Kind::Timestamp,
    Kind::Null,
    Kind::List,
    Kind::Map,
];

const SIZE: &[Form] = &[global(&[SIZED], CelType::Int), method(SIZED, &[], CelType::Int)];
const STRING_TEST: &[Form] = &[method(TEXT, &[TEXT], CelType::Bool)];
const MATCHES: &[Form] = &[global(&[TEXT, TEXT], CelType::Bool), method(TEXT, &[TEXT], CelType::Bool)];
const TO_INT: &[Form] =
    &[global(&[&[Kind::Int, Kind::Uint, Kind::Double, Kind::String, Kind::Timestamp]], CelType::Int)];
const TO_UINT: &[Form] = &[global(&[&[Kind::Int, Kind::Uint, Kind::Double, Kind::String]], CelType::Uint)];
const TO_DOUBLE: &[Form] = &[global(&[&[Kind::Int, Kind::Uint, Kind::Double, Kind::String]], CelType::Double)];
const TO_STRING: &[Form] = &[global(
    &[&[Kind::Int, Kind::Uint, Kind::Double, Kind::String, Kind::Bytes, Kind::Bool, Kind::Duration, Kind::Timestamp]],
    CelType::String,
)];
const TO_BYTES: &[Form] = &[global(&[&[Kind::String, Kind::Bytes]], CelType::Bytes)];
const TO_BOOL: &[Form] = &[global(&[&[Kind::Bool, Kind::String]], CelType::Bool)];
const TO_DURATION: &[Form] = &[global(&[&[Kind::String, Kind::Duration]], CelType::Duration)];
const TO_TIMESTAMP: &[Form] = &[global(&[&[Kind::String, Kind::Timestamp, Kind::Int]], CelType::Timestamp)];
const TO_DYN: &[Form] = &[global(&[ANY], CelType::Dyn)];
const DATE_PART: &[Form] = &[method(TIME, &[], CelType::Int), method(TIME, &[TEXT], CelType::Int)];
const TIME_PART: &[Form] = &[
    method(TIME, &[], CelType::Int),
    method(TIME, &[TEXT], CelType::Int),
    method(&[Kind::Duration], &[], CelType::Int),
];

/// CEL's standard functions, as Envoy's CEL runtime provides them.
fn function_forms(name: &str) -> Option<&'static [Form]> {
    Some(match name {
        "size" => SIZE,
        "contains" | "startsWith" | "endsWith" => STRING_TEST,
        "matches" => MATCHES,
        "int" => TO_INT,
        "uint" => TO_UINT,
        "double" => TO_DOUBLE,
        "string" => TO_STRING,
        "bytes" => TO_BYTES,
        "bool" => TO_BOOL,
        "duration" => TO_DURATION,
        "timestamp" => TO_TIMESTAMP,
        "dyn" | "type" => TO_DYN,
        "getFullYear" | "getMonth" | "getDayOfYear" | "getDayOfMonth" | "getDate" | "getDayOfWeek" => DATE_PART,
        "getHours" | "getMinutes" | "getSeconds" | "getMilliseconds" => TIME_PART,
        _ => return None,
    })
}

const FUNCTION_NAMES: &[&str] = &[
    "size",
    "contains",
    "startsWith",
    "endsWith",
    "matches",
    "int",
    "uint",
    "double",
    "string",
    "bytes",
    "bool",
    "duration",
    "timestamp",
    "dyn",
    "type",
    "getFullYear",
    "getMonth",
    "getDayOfYear",
    "getDayOfMonth",
    "getDate",
    "getDayOfWeek",
    "getHours",
    "getMinutes",
    "getSeconds",
    "getMilliseconds",
];

/// The macros the parser expands; a call by one of these names has the wrong shape.
const MACRO_NAMES: &[&str] = &["has", "all", "exists", "exists_one", "existsOne", "map", "filter"];

/// Names of types, which CEL lets an expression mention as values (`type(x) == string`).
const TYPE_NAMES: &[&str] = &["bool", "int", "uint", "double", "string", "bytes", "list", "map", "null_type", "type"];

/// How a comprehension macro uses the user's sub-expressions.
enum MacroShape<'e> {
    /// `all`, `exists`, `exists_one`: a condition per element.
    Condition(&'e IdedExpr),
    /// `map` and `filter`: an optional condition and a value per kept element.
    Collect {
        filter: Option<&'e IdedExpr>,
        transform: &'e IdedExpr,
    },
    Other,
}

/// The one element appended by a macro's step `@result + [element]`.
fn appended(expr: &IdedExpr) -> Option<&IdedExpr> {
    let Expr::Call(add) = &expr.expr else { return None };
    let [_, list] = add.args.as_slice() else { return None };
    match &list.expr {
        Expr::List(list) if add.func_name == "_+_" && list.elements.len() == 1 => list.elements.first(),
        _ => None,
    }
}

fn macro_shape(comprehension: &ComprehensionExpr) -> MacroShape<'_> {
    let Expr::Call(step) = &comprehension.loop_step.expr else { return MacroShape::Other };
    match (&comprehension.accu_init.expr, step.func_name.as_str(), step.args.as_slice()) {
        (Expr::Literal(LiteralValue::Boolean(_)), "_&&_" | "_||_", [_, condition]) => MacroShape::Condition(condition),
        (Expr::Literal(LiteralValue::Int(_)), "_?_:_", [condition, _, _]) => MacroShape::Condition(condition),
        (Expr::List(_), "_+_", _) => match appended(&comprehension.loop_step) {
            Some(transform) => MacroShape::Collect { filter: None, transform },
            None => MacroShape::Other,
        },
        (Expr::List(_), "_?_:_", [filter, add, _]) => match appended(add) {
            Some(transform) => MacroShape::Collect { filter: Some(filter), transform },
            None => MacroShape::Other,
        },
        _ => MacroShape::Other,
    }
}

fn is_literal(expr: &IdedExpr) -> bool {
    matches!(expr.expr, Expr::Literal(_) | Expr::List(_) | Expr::Map(_))
}

fn operator_text(name: &str) -> &str {
    match name {
        "@in" => "in",
        "_[_]" | "_[?_]" => "[]",
        other => other.trim_matches('_').trim_start_matches('@'),
    }
}

/// Where a prefix of an attribute path ends: at a node, or (for the field that
/// `has()` tests) at a known range.
enum At<'e> {
    Node(&'e IdedExpr),
    Span(Span),
}

struct Checker<'a> {
    nodes: Nodes<'a>,
    vocabulary: &'a Vocabulary,
    diagnostics: Vec<Diagnostic>,
    /// Variables bound by comprehension macros (`exists(h, ...)`), innermost last.
    variables: Vec<(String, CelType)>,
    depth: usize,
}

impl Checker<'_> {
    fn span(&self, expr: &IdedExpr) -> Span {
        self.nodes.span(expr)
    }

    fn mismatch(&mut self, span: Span, message: String, label: String) -> &mut Diagnostic {
        self.diagnostics.push(Diagnostic::new(codes::CEL_TYPE_MISMATCH, span, message).with_label_message(label));
        self.diagnostics.last_mut().expect("just pushed")
    }

    fn variable(&self, name: &str) -> Option<CelType> {
        self.variables.iter().rev().find(|(n, _)| n == name).map(|(_, ty)| ty.clone())
    }

    fn check(&mut self, expr: &IdedExpr) -> Option<CelType> {
        if self.depth >= MAX_DEPTH {
            if !self.diagnostics.iter().any(|d| d.code == codes::CEL_SYNTAX) {
                self.diagnostics.push(
                    Diagnostic::new(
                        codes::CEL_SYNTAX,
                        self.nodes.source.whole(),
                        format!("this expression nests more than {MAX_DEPTH} levels deep"),
                    )
                    .with_help("split it into simpler expressions"),
                );
            }
            return None;
        }
        self.depth += 1;
        let ty = self.check_node(expr);
        self.depth -= 1;
        ty
    }

    fn check_node(&mut self, expr: &IdedExpr) -> Option<CelType> {
        match &expr.expr {
            Expr::Literal(literal) => Some(match literal {
                LiteralValue::Boolean(_) => CelType::Bool,
                LiteralValue::Bytes(_) => CelType::Bytes,
                LiteralValue::Double(_) => CelType::Double,
                LiteralValue::Int(_) => CelType::Int,
                LiteralValue::Null => CelType::Null,
                LiteralValue::String(_) => CelType::String,
                LiteralValue::UInt(_) => CelType::Uint,
            }),
            Expr::Select(select) if select.test => self.check_presence(expr),
            Expr::Ident(_) | Expr::Select(_) => match path_of(expr) {
                Some(chain) => self.check_path(&chain),
                None => {
                    // A field of a computed value, such as `request.headers["x"].y`.
                    let Expr::Select(select) = &expr.expr else { return None };
                    let operand = self.check(&select.operand)?;
                    self.field_of(operand, &select.operand, expr, &select.field)
                }
            },
            Expr::List(list) => {
                let mut element: Option<CelType> = None;
                for item in &list.elements {
                    if let Some(ty) = self.check(item) {
                        element = Some(match element {
                            Some(previous) => unify(&previous, &ty).unwrap_or(CelType::Dyn),
                            None => ty,
                        });
                    }
                }
                Some(CelType::List(Box::new(element.unwrap_or(CelType::Dyn))))
            }
            Expr::Map(map) => {
                let (mut keys, mut values): (Option<CelType>, Option<CelType>) = (None, None);
                for entry in &map.entries {
                    if let EntryExpr::MapEntry(entry) = &entry.expr {
                        for (slot, ty) in [(&mut keys, self.check(&entry.key)), (&mut values, self.check(&entry.value))]
                        {
                            if let Some(ty) = ty {
                                *slot = Some(match slot.take() {
                                    Some(previous) => unify(&previous, &ty).unwrap_or(CelType::Dyn),
                                    None => ty,
                                });
                            }
                        }
                    }
                }
                Some(CelType::Map(Box::new(keys.unwrap_or(CelType::Dyn)), Box::new(values.unwrap_or(CelType::Dyn))))
            }
            Expr::Struct(_) => {
                let span = self.span(expr);
                self.mismatch(span, "Istio's expressions cannot create messages".into(), "message construction".into());
                None
            }
            Expr::Call(call) => self.check_call(expr, call),
            Expr::Comprehension(comprehension) => self.check_comprehension(expr, comprehension),
            Expr::Unspecified => None,
        }
    }

    /// The longest prefix of `names` that is an attribute: its length and type.
    fn longest_attribute(&self, names: &[&str]) -> Option<(usize, CelType)> {
        let mut path = String::new();
        let mut found = None;
        for (index, name) in names.iter().enumerate() {
            if index > 0 {
                path.push('.');
            }
            path.push_str(name);
            if let Some(attribute) = self.vocabulary.get(&path) {
                found = Some((index + 1, attribute.ty.clone()));
            } else if !self.vocabulary.is_group(&path) {
                break;
            }
        }
        found
    }

    /// `request.headers.x`: a variable or the longest attribute that prefixes the
    /// path, then fields of its value.
    fn check_path(&mut self, chain: &[(&str, &IdedExpr)]) -> Option<CelType> {
        let names: Vec<&str> = chain.iter().map(|(name, _)| *name).collect();
        let (length, ty) = match self.variable(names[0]) {
            // A macro's variable shadows an attribute group of the same name.
            Some(ty) => (1, ty),
            None => match self.longest_attribute(&names) {
                Some(found) => found,
                None if names.len() == 1 && TYPE_NAMES.contains(&names[0]) => return Some(CelType::Dyn),
                None => {
                    let at: Vec<(&str, At)> = chain.iter().map(|(name, node)| (*name, At::Node(node))).collect();
                    self.unknown_attribute(&at, false);
                    return None;
                }
            },
        };
        let mut ty = ty;
        for index in length..chain.len() {
            ty = self.field_of(ty, chain[index - 1].1, chain[index].1, chain[index].0)?;
        }
        Some(ty)
    }

    /// `operand.field` where the operand's type is `ty`.
    fn field_of(&mut self, ty: CelType, operand: &IdedExpr, select: &IdedExpr, field: &str) -> Option<CelType> {
        match ty {
            CelType::Map(key, value) if matches!(*key, CelType::String | CelType::Dyn) => Some(*value),
            CelType::Dyn => Some(CelType::Dyn),
            other => {
                let span = match self.nodes.field(select) {
                    Some((start, end)) => self.nodes.source.at(start, end),
                    None => self.span(select),
                };
                let operand_span = self.span(operand);
                self.mismatch(
                    span,
                    format!(
                        "`{field}` cannot be read from {}: only maps and messages have fields",
                        other.with_article()
                    ),
                    "no such field".into(),
                )
                .labels
                .push(crate::diagnostic::Label {
                    span: operand_span,
                    message: format!("this is {}", other.with_article()),
                    primary: false,
                });
                None
            }
        }
    }

    fn prefix_span(&self, at: &At) -> Span {
        match at {
            At::Node(node) => self.span(node),
            At::Span(span) => *span,
        }
    }

    /// Reports a path that names no attribute, with the nearest one it could have meant.
    fn unknown_attribute(&mut self, chain: &[(&str, At)], presence: bool) {
        let names: Vec<&str> = chain.iter().map(|(name, _)| *name).collect();
        let joined = |length: usize| names[..length].join(".");
        // The shortest prefix that is not a group of attributes is where the path goes wrong.
        let Some(wrong) = (1..=names.len()).find(|&length| !self.vocabulary.is_group(&joined(length))) else {
            if presence {
                return;
            }
            let path = joined(names.len());
            let members = self.vocabulary.members(&path);
            let span = self.prefix_span(&chain[names.len() - 1].1);
            let mut diagnostic = Diagnostic::new(
                codes::UNKNOWN_ATTRIBUTE,
                span,
                format!("`{path}` is a group of attributes, not an attribute"),
            )
            .with_label_message("a group of attributes")
            .with_note(format!("`{path}` has: {}", members.join(", ")));
            if let Some(first) = members.first() {
                diagnostic = diagnostic.with_help(format!("name one of its attributes, such as `{path}.{first}`"));
            }
            self.diagnostics.push(diagnostic);
            return;
        };
        let mut candidates: Vec<&str> = self.vocabulary.attributes().map(|a| a.path.as_str()).collect();
        candidates.extend(self.vocabulary.groups.iter().map(String::as_str));
        if wrong == 1 {
            candidates.extend(self.variables.iter().map(|(name, _)| name.as_str()));
        }
        let fix = self.fix_for(&names, wrong, &candidates);
        let length = fix.as_ref().map_or(wrong, |(length, _)| *length);
        let written = joined(length);
        let span = self.prefix_span(&chain[length - 1].1);
        let diagnostic =
            Diagnostic::new(codes::UNKNOWN_ATTRIBUTE, span, format!("`{written}` is not an attribute Envoy provides"))
                .with_label_message("unknown attribute");
        let diagnostic = match fix {
            Some((_, replacement)) => diagnostic.with_did_you_mean(span, &replacement),
            None if wrong > 1 => {
                let group = joined(wrong - 1);
                let members = self.vocabulary.members(&group);
                diagnostic.with_note(format!("`{group}` has: {}", members.join(", ")))
            }
            None => diagnostic.with_note("the attributes are declared in the std.attributes module"),
        };
        self.diagnostics.push(diagnostic);
    }

    /// The did-you-mean for a path that goes wrong at its `wrong`-th name: how many of
    /// the user's names to replace, and with what. `respose.code` becomes
    /// `response.code` as a whole, since the nearest name (`response`) is a group that
    /// only together with `code` makes an attribute.
    fn fix_for(&self, names: &[&str], wrong: usize, candidates: &[&str]) -> Option<(usize, String)> {
        let joined = |length: usize| names[..length].join(".");
        let nearest = did_you_mean(&joined(wrong), candidates.iter().copied()).map(str::to_string);
        if let Some(nearest) = &nearest {
            let replaced: Vec<&str> = nearest.split('.').collect();
            let mut fixed = replaced.clone();
            fixed.extend_from_slice(&names[wrong..]);
            let reaches = self.longest_attribute(&fixed).map_or(0, |(length, _)| length);
            if reaches > replaced.len() {
                return Some((wrong + reaches - replaced.len(), fixed[..reaches].join(".")));
            }
            if reaches == replaced.len() || self.variable(nearest).is_some() {
                return Some((wrong, nearest.clone()));
            }
        }
        // The nearest name alone leads nowhere; perhaps a longer stretch of the path is a misspelled attribute.
        let attributes: Vec<&str> = self.vocabulary.attributes().map(|a| a.path.as_str()).collect();
        for length in wrong + 1..=names.len() {
            if let Some(attribute) = did_you_mean(&joined(length), attributes.iter().copied()) {
                return Some((length, attribute.to_string()));
            }
        }
        nearest.map(|nearest| (wrong, nearest))
    }

    /// `has(a.b)`: whether the field `b` is present; `a` must be something with fields.
    fn check_presence(&mut self, expr: &IdedExpr) -> Option<CelType> {
        let Expr::Select(select) = &expr.expr else { return None };
        let field_span = match self.nodes.field(expr) {
            Some((start, end)) => self.nodes.source.at(start, end),
            None => self.span(expr),
        };
        let operand_ty = match path_of(&select.operand) {
            Some(chain) if self.variable(chain[0].0).is_none() => {
                let mut names: Vec<&str> = chain.iter().map(|(name, _)| *name).collect();
                names.push(&select.field);
                match self.longest_attribute(&names) {
                    // `has(request.host)`: whether Envoy knows the attribute for this request.
                    Some((length, _)) if length == names.len() => return Some(CelType::Bool),
                    Some(_) => self.check_path(&chain),
                    None if self.vocabulary.is_group(&names.join(".")) => return Some(CelType::Bool),
                    None => {
                        let mut at: Vec<(&str, At)> =
                            chain.iter().map(|(name, node)| (*name, At::Node(node))).collect();
                        // The whole path `a.b` inside `has(...)`, which has no node of its own.
                        let path_span = self.span(&select.operand).cover(field_span);
                        at.push((&select.field, At::Span(path_span)));
                        self.unknown_attribute(&at, true);
                        return Some(CelType::Bool);
                    }
                }
            }
            _ => self.check(&select.operand),
        };
        if let Some(ty) = operand_ty
            && !matches!(ty, CelType::Map(..) | CelType::Dyn)
        {
            let span = self.span(&select.operand);
            self.mismatch(
                span,
                format!("`has()` tests a field of a map or a message, but this is {}", ty.with_article()),
                format!("this is {}", ty.with_article()),
            );
        }
        Some(CelType::Bool)
    }

    /// A literal the user probably meant as another type: `"400"` for `400`,
    /// `1` for `"1"`, `"1s"` for `duration("1s")`.
    fn literal_fix(&self, literal: &IdedExpr, wanted: &CelType) -> Option<String> {
        let Expr::Literal(value) = &literal.expr else { return None };
        let text = self.nodes.text(literal);
        match (value, wanted) {
            (LiteralValue::String(s), CelType::Int) => s.inner().trim().parse::<i64>().ok().map(|n| n.to_string()),
            (LiteralValue::String(s), CelType::Uint) => s.inner().trim().parse::<u64>().ok().map(|n| format!("{n}u")),
            (LiteralValue::String(s), CelType::Double) => {
                let inner = s.inner().trim();
                inner
                    .parse::<f64>()
                    .ok()
                    .map(|_| if inner.contains(['.', 'e', 'E']) { inner.to_string() } else { format!("{inner}.0") })
            }
            (LiteralValue::String(s), CelType::Bool) => {
                matches!(s.inner().trim(), "true" | "false").then(|| s.inner().trim().to_string())
            }
            (LiteralValue::String(_), CelType::Duration) => Some(format!("duration({text})")),
            (LiteralValue::String(_), CelType::Timestamp) => Some(format!("timestamp({text})")),
            (LiteralValue::Int(_), CelType::Uint) => Some(format!("{text}u")),
            (LiteralValue::Int(_), CelType::Double) => Some(format!("{text}.0")),
            (
                LiteralValue::Int(_) | LiteralValue::UInt(_) | LiteralValue::Double(_) | LiteralValue::Boolean(_),
                CelType::String,
            ) => Some(format!("\"{text}\"")),
            _ => None,
        }
    }

    fn check_call(&mut self, expr: &IdedExpr, call: &CallExpr) -> Option<CelType> {
        let target = call.target.as_deref().map(|t| (t, self.check(t)));
        let args: Vec<(&IdedExpr, Option<CelType>)> = call.args.iter().map(|a| (a, self.check(a))).collect();
        let name = call.func_name.as_str();
        match name {
            "_&&_" | "_||_" => {
                for (arg, ty) in &args {
                    if let Some(ty) = ty
                        && !matches!(ty, CelType::Bool | CelType::Dyn)
                    {
                        let span = self.span(arg);
                        self.mismatch(
                            span,
                            format!("`{}` needs bool operands, but this is {}", operator_text(name), ty.with_article()),
                            format!("this is {}", ty.with_article()),
                        );
                    }
                }
                Some(CelType::Bool)
            }
            "!_" => {
                if let [(arg, Some(ty))] = args.as_slice()
                    && !matches!(ty, CelType::Bool | CelType::Dyn)
                {
                    let span = self.span(arg);
                    self.mismatch(
                        span,
                        format!("`!` needs a bool, but this is {}", ty.with_article()),
                        format!("this is {}", ty.with_article()),
                    );
                }
                Some(CelType::Bool)
            }
            "-_" => {
                let [(arg, Some(ty))] = args.as_slice() else { return None };
                if !matches!(ty, CelType::Int | CelType::Double | CelType::Dyn) {
                    let span = self.span(arg);
                    self.mismatch(
                        span,
                        format!("{} cannot be negated", ty.with_article()),
                        format!("this is {}", ty.with_article()),
                    );
                    return None;
                }
                Some(ty.clone())
            }
            "_==_" | "_!=_" | "_<_" | "_<=_" | "_>_" | "_>=_" => {
                self.compare(name, &args);
                Some(CelType::Bool)
            }
            "_+_" | "_-_" | "_*_" | "_/_" | "_%_" => self.arithmetic(expr, name, &args),
            "_[_]" | "_[?_]" => self.index(&args),
            "_?_:_" => self.conditional(&args),
            "@in" => {
                self.membership(&args);
                Some(CelType::Bool)
            }
            "@not_strictly_false" => Some(CelType::Bool),
            _ => self.check_function(expr, name, target, &args),
        }
    }

    fn compare(&mut self, name: &str, args: &[(&IdedExpr, Option<CelType>)]) {
        let [(left, Some(left_ty)), (right, Some(right_ty))] = args else { return };
        let ordering = !matches!(name, "_==_" | "_!=_");
        if if ordering { orderable(left_ty, right_ty) } else { equatable(left_ty, right_ty) } {
            return;
        }
        // The literal side is usually the mistake: `response.code >= "400"`.
        let ((primary, primary_ty), (other, other_ty)) = if is_literal(left) && !is_literal(right) {
            ((left, left_ty), (right, right_ty))
        } else {
            ((right, right_ty), (left, left_ty))
        };
        let span = self.span(primary);
        let mut diagnostic = Diagnostic::new(
            codes::CEL_TYPE_MISMATCH,
            span,
            format!(
                "cannot compare {} with {} using `{}`",
                left_ty.with_article(),
                right_ty.with_article(),
                operator_text(name)
            ),
        )
        .with_label_message(format!("this is {}", primary_ty.with_article()))
        .with_secondary(self.span(other), format!("this is {}", other_ty.with_article()));
        if let Some(fix) = self.literal_fix(primary, other_ty) {
            diagnostic = diagnostic.with_did_you_mean(span, &fix);
        }
        self.diagnostics.push(diagnostic);
    }

    fn arithmetic(&mut self, expr: &IdedExpr, name: &str, args: &[(&IdedExpr, Option<CelType>)]) -> Option<CelType> {
        let [(left, Some(left_ty)), (right, Some(right_ty))] = args else { return None };
        if let Some(ty) = arithmetic(name, left_ty, right_ty) {
            return Some(ty);
        }
        let op = operator_text(name);
        let operator_span = self.nodes.token_span(expr);
        let mut diagnostic = Diagnostic::new(
            codes::CEL_TYPE_MISMATCH,
            operator_span,
            format!("`{op}` is not defined for {} and {}", left_ty.with_article(), right_ty.with_article()),
        )
        .with_label_message(format!("no `{op}` for these types"))
        .with_secondary(self.span(left), format!("this is {}", left_ty.with_article()))
        .with_secondary(self.span(right), format!("this is {}", right_ty.with_article()));
        let literal_fix = if is_literal(right) && !is_literal(left) {
            self.literal_fix(right, left_ty).map(|fix| (self.span(right), fix))
        } else if is_literal(left) {
            self.literal_fix(left, right_ty).map(|fix| (self.span(left), fix))
        } else {
            None
        };
        if let Some((span, fix)) = literal_fix {
            diagnostic = diagnostic.with_did_you_mean(span, &fix);
        } else if left_ty.is_numeric() && right_ty.is_numeric() && left_ty != right_ty {
            diagnostic = diagnostic.with_help(
                "CEL does not convert between int, uint and double by itself: convert one side with int(), uint() or double()",
            );
        } else if name == "_%_" && left_ty == &CelType::Double {
            diagnostic = diagnostic.with_note("`%` is defined for ints and uints only");
        }
        self.diagnostics.push(diagnostic);
        None
    }

    fn index(&mut self, args: &[(&IdedExpr, Option<CelType>)]) -> Option<CelType> {
        let [(container, Some(container_ty)), (key, key_ty)] = args else { return None };
        match container_ty {
            CelType::Map(map_key, value) => {
                if let Some(key_ty) = key_ty
                    && !(key_ty.is_dyn()
                        || map_key.is_dyn()
                        || key_ty == &**map_key
                        || (key_ty.is_numeric() && map_key.is_numeric()))
                {
                    let span = self.span(key);
                    let fix = self.literal_fix(key, map_key);
                    let container_span = self.span(container);
                    let diagnostic = self.mismatch(
                        span,
                        format!("this map has {} keys, but this key is {}", map_key.display(), key_ty.with_article()),
                        format!("this is {}", key_ty.with_article()),
                    );
                    diagnostic.labels.push(crate::diagnostic::Label {
                        span: container_span,
                        message: format!("this is {}", container_ty.with_article()),
                        primary: false,
                    });
                    if let Some(fix) = fix {
                        *diagnostic =
                            std::mem::replace(diagnostic, Diagnostic::new(codes::CEL_TYPE_MISMATCH, span, ""))
                                .with_did_you_mean(span, &fix);
                    }
                }
                Some((**value).clone())
            }
            CelType::List(element) => {
                if let Some(key_ty) = key_ty
                    && !matches!(key_ty, CelType::Int | CelType::Uint | CelType::Dyn)
                {
                    let span = self.span(key);
                    self.mismatch(
                        span,
                        format!("a list is indexed by an int position, but this is {}", key_ty.with_article()),
                        format!("this is {}", key_ty.with_article()),
                    );
                }
                Some((**element).clone())
            }
            CelType::Dyn => Some(CelType::Dyn),
            other => {
                let span = self.span(container);
                self.mismatch(
                    span,
                    format!("{} cannot be indexed with `[...]`", other.with_article()),
                    format!("this is {}", other.with_article()),
                );
                None
            }
        }
    }

    fn conditional(&mut self, args: &[(&IdedExpr, Option<CelType>)]) -> Option<CelType> {
        let [(condition, condition_ty), (then, then_ty), (otherwise, otherwise_ty)] = args else { return None };
        if let Some(ty) = condition_ty
            && !matches!(ty, CelType::Bool | CelType::Dyn)
        {
            let span = self.span(condition);
            self.mismatch(
                span,
                format!("the condition of `? :` must be a bool, but this is {}", ty.with_article()),
                format!("this is {}", ty.with_article()),
            );
        }
        let (Some(then_ty), Some(otherwise_ty)) = (then_ty, otherwise_ty) else { return None };
        if let Some(ty) = unify(then_ty, otherwise_ty) {
            return Some(ty);
        }
        let span = self.span(otherwise);
        let then_span = self.span(then);
        let mut diagnostic = Diagnostic::new(
            codes::CEL_TYPE_MISMATCH,
            span,
            format!(
                "the two branches of `? :` have different types: {} and {}",
                then_ty.with_article(),
                otherwise_ty.with_article()
            ),
        )
        .with_label_message(format!("this is {}", otherwise_ty.with_article()))
        .with_secondary(then_span, format!("this is {}", then_ty.with_article()));
        if let Some(fix) = self.literal_fix(otherwise, then_ty) {
            diagnostic = diagnostic.with_did_you_mean(span, &fix);
        }
        self.diagnostics.push(diagnostic);
        Some(CelType::Dyn)
    }

    /// `element in container`: a list's elements or a map's keys.
    fn membership(&mut self, args: &[(&IdedExpr, Option<CelType>)]) {
        let [(element, element_ty), (container, Some(container_ty))] = args else { return };
        let held = match container_ty {
            CelType::List(held) | CelType::Map(held, _) => held,
            CelType::Dyn => return,
            other => {
                let span = self.span(container);
                self.mismatch(
                    span,
                    format!("`in` needs a list or a map on its right, but this is {}", other.with_article()),
                    format!("this is {}", other.with_article()),
                );
                return;
            }
        };
        let Some(element_ty) = element_ty else { return };
        if equatable(element_ty, held) {
            return;
        }
        // The literal side is usually the mistake: `response.code in ["200", "404"]`.
        let ((primary, primary_ty), (other, other_ty)) = if is_literal(container) && !is_literal(element) {
            ((container, container_ty), (element, element_ty))
        } else {
            ((element, element_ty), (container, container_ty))
        };
        let span = self.span(primary);
        let other_span = self.span(other);
        let mut diagnostic = Diagnostic::new(
            codes::CEL_TYPE_MISMATCH,
            span,
            format!("`in` looks for {} in {}", element_ty.with_article(), container_ty.with_article()),
        )
        .with_label_message(format!("this is {}", primary_ty.with_article()))
        .with_secondary(other_span, format!("this is {}", other_ty.with_article()));
        if std::ptr::eq(primary, element)
            && let Some(fix) = self.literal_fix(element, held)
        {
            diagnostic = diagnostic.with_did_you_mean(span, &fix);
        }
        self.diagnostics.push(diagnostic);
    }

    fn check_function(
        &mut self,
        expr: &IdedExpr,
        name: &str,
        target: Option<(&IdedExpr, Option<CelType>)>,
        args: &[(&IdedExpr, Option<CelType>)],
    ) -> Option<CelType> {
        let name_span = self.nodes.name_span(expr);
        let Some(forms) = function_forms(name) else {
            self.unknown_function(expr, name, name_span, target.is_some());
            return None;
        };
        let styled: Vec<&Form> = forms.iter().filter(|f| f.receiver.is_some() == target.is_some()).collect();
        let Some(first_styled) = styled.first() else {
            let message = if target.is_some() {
                format!("`{name}` is a function, not a method: write `{name}(value)`")
            } else {
                format!("`{name}` is a method: call it on a value, as in `request.path.{name}(...)`")
            };
            self.diagnostics.push(
                Diagnostic::new(codes::UNKNOWN_FUNCTION, name_span, message).with_label_message("called the wrong way"),
            );
            return Some(forms[0].result.clone());
        };
        let sized: Vec<&Form> = styled.iter().filter(|f| f.params.len() == args.len()).copied().collect();
        let Some(first_sized) = sized.first() else {
            let mut counts: Vec<usize> = styled.iter().map(|f| f.params.len()).collect();
            counts.sort_unstable();
            counts.dedup();
            let counts: Vec<String> = counts.iter().map(usize::to_string).collect();
            let expected = counts.join(" or ");
            let plural = if expected == "1" { "" } else { "s" };
            let given = if args.len() == 1 { "1 was".to_string() } else { format!("{} were", args.len()) };
            let span = self.span(expr);
            self.mismatch(
                span,
                format!("`{name}` takes {expected} argument{plural}, but {given} given"),
                "wrong number of arguments".into(),
            );
            return Some(first_styled.result.clone());
        };
        // Unknown types (dyn, or already reported) fit anything.
        let fits = |allowed: &[Kind], ty: &Option<CelType>| {
            ty.as_ref().and_then(Kind::of).is_none_or(|k| allowed.contains(&k))
        };
        let receiver_ty = target.as_ref().and_then(|(_, ty)| ty.clone());
        if let Some(form) = sized.iter().find(|form| {
            form.receiver.is_none_or(|allowed| fits(allowed, &receiver_ty))
                && form.params.iter().zip(args).all(|(allowed, (_, ty))| fits(allowed, ty))
        }) {
            return Some(form.result.clone());
        }
        // Report the first position no form accepts, naming everything that would fit there.
        let union = |pick: &dyn Fn(&Form) -> Option<&'static [Kind]>| -> Vec<Kind> {
            let mut kinds: Vec<Kind> = Vec::new();
            for form in &sized {
                for kind in pick(form).unwrap_or(&[]) {
                    if !kinds.contains(kind) {
                        kinds.push(*kind);
                    }
                }
            }
            kinds
        };
        if let Some((receiver, ty)) = &target {
            let allowed = union(&|f: &Form| f.receiver);
            if !fits(&allowed, ty) {
                let ty = ty.as_ref().map(CelType::with_article).unwrap_or_default();
                let span = self.span(receiver);
                self.mismatch(
                    span,
                    format!("`{name}` applies to {}, but this is {ty}", describe_kinds(&allowed)),
                    format!("this is {ty}"),
                );
                return Some(first_sized.result.clone());
            }
        }
        for (index, (arg, ty)) in args.iter().enumerate() {
            let allowed = union(&|f: &Form| f.params.get(index).copied());
            if !fits(&allowed, ty) {
                let ty = ty.as_ref().map(CelType::with_article).unwrap_or_default();
                let span = self.span(arg);
                self.mismatch(
                    span,
                    format!("`{name}` takes {} here, not {ty}", describe_kinds(&allowed)),
                    format!("this is {ty}"),
                );
                break;
            }
        }
        Some(first_sized.result.clone())
    }

    fn unknown_function(&mut self, expr: &IdedExpr, name: &str, name_span: Span, method: bool) {
        if MACRO_NAMES.contains(&name) {
            // The parser expands these when their shape is right; this one's is not.
            let usage = match name {
                "has" => "`has` takes one field selection, as in `has(request.headers.x_user)`".to_string(),
                "map" => "`map` takes a variable name and a value, as in `request.headers.map(h, size(h))`".to_string(),
                _ if !method => format!("`{name}` is a macro called on a list or a map, as in `list.{name}(x, x > 0)`"),
                _ => format!("`{name}` takes a variable name and a condition, as in `list.{name}(x, x > 0)`"),
            };
            let span = self.span(expr);
            self.mismatch(span, usage, "wrong shape".into());
            return;
        }
        let mut diagnostic = Diagnostic::new(
            codes::UNKNOWN_FUNCTION,
            name_span,
            format!("`{name}` is not a function of Istio's expressions"),
        )
        .with_label_message("unknown function");
        if matches!(name, "env" | "header" | "formatter") {
            diagnostic = diagnostic.with_note(format!(
                "`{name}(...)` is a form of tracing custom tag, not a function of metric tags or access-log filters"
            ));
        } else if let Some(suggestion) = did_you_mean(name, FUNCTION_NAMES.iter().chain(MACRO_NAMES).copied()) {
            diagnostic = diagnostic.with_did_you_mean(name_span, suggestion);
        } else {
            diagnostic = diagnostic.with_note(
                "the functions are CEL's standard ones: size, contains, startsWith, endsWith, matches, \
                 the conversions int, uint, double, string, bytes, bool, duration and timestamp, \
                 and the macros has, all, exists, exists_one, map and filter",
            );
        }
        self.diagnostics.push(diagnostic);
    }

    /// `list.exists(x, cond)` and the other macros: the parser expanded them into a
    /// comprehension; check the user's parts with the variable bound to an element.
    fn check_comprehension(&mut self, expr: &IdedExpr, comprehension: &ComprehensionExpr) -> Option<CelType> {
        let name = match self.nodes.name_range(expr) {
            Some((start, end)) => self.nodes.source.text[start..end].to_string(),
            None => "this macro".to_string(),
        };
        let range_ty = self.check(&comprehension.iter_range);
        let element = match range_ty {
            Some(CelType::List(element)) => *element,
            Some(CelType::Map(key, _)) => *key,
            Some(CelType::Dyn) | None => CelType::Dyn,
            Some(other) => {
                let span = self.span(&comprehension.iter_range);
                self.mismatch(
                    span,
                    format!("`{name}` goes through a list or a map, but this is {}", other.with_article()),
                    format!("this is {}", other.with_article()),
                );
                CelType::Dyn
            }
        };
        let bound = self.variables.len();
        self.variables.push((comprehension.iter_var.clone(), element));
        if let Some(second) = &comprehension.iter_var2 {
            self.variables.push((second.clone(), CelType::Dyn));
        }
        let result = match macro_shape(comprehension) {
            MacroShape::Condition(condition) => {
                self.expect_condition(condition, &name);
                Some(CelType::Bool)
            }
            MacroShape::Collect { filter, transform } => {
                if let Some(filter) = filter {
                    self.expect_condition(filter, &name);
                }
                let ty = self.check(transform);
                Some(CelType::List(Box::new(ty.unwrap_or(CelType::Dyn))))
            }
            MacroShape::Other => Some(CelType::Dyn),
        };
        self.variables.truncate(bound);
        result
    }

    fn expect_condition(&mut self, condition: &IdedExpr, name: &str) {
        if let Some(ty) = self.check(condition)
            && !matches!(ty, CelType::Bool | CelType::Dyn)
        {
            let span = self.span(condition);
            self.mismatch(
                span,
                format!("the condition of `{name}` must be a bool, but this is {}", ty.with_article()),
                format!("this is {}", ty.with_article()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::FileId;

    fn vocabulary() -> Vocabulary {
        let attribute = |path: &str, ty: CelType| Attribute { path: path.to_string(), ty, doc: String::new() };
        let strings = CelType::Map(Box::new(CelType::String), Box::new(CelType::String));
        Vocabulary::new(vec![
            attribute("request.host", CelType::String),
            attribute("request.path", CelType::String),
            attribute("request.headers", strings.clone()),
            attribute("request.duration", CelType::Duration),
            attribute("request.time", CelType::Timestamp),
            attribute("response.code", CelType::Int),
            attribute("response.flags", CelType::Int),
            attribute("response.headers", strings),
            attribute("connection.mtls", CelType::Bool),
            attribute("connection.id", CelType::Uint),
            attribute("xds.node", CelType::Dyn),
            attribute("xds.cluster_name", CelType::String),
            attribute("filter_state", CelType::Map(Box::new(CelType::String), Box::new(CelType::Dyn))),
        ])
    }

    /// What a user sees of one diagnostic: code, the text under the primary label, the message.
    type Seen = (String, String, String);

    /// The file the expression is checked in: ten bytes of something else, then the
    /// expression, so spans are visibly shifted from the expression's own offsets.
    fn file_of(text: &str) -> String {
        format!("{}{text}", "x".repeat(10))
    }

    fn check_raw(text: &str, context: ExprContext) -> (Option<CelType>, Vec<Diagnostic>) {
        let span = Span::new(FileId(0), 10, 10 + text.len() as u32);
        check_expression(text, span, &vocabulary(), context)
    }

    fn check(text: &str, context: ExprContext) -> (Option<CelType>, Vec<Seen>) {
        let file = file_of(text);
        let (ty, diagnostics) = check_raw(text, context);
        let seen = diagnostics
            .iter()
            .map(|d| (d.code.as_str().to_string(), file[d.primary_span().range()].to_string(), d.message.clone()))
            .collect();
        (ty, seen)
    }

    fn filter(text: &str) -> (Option<CelType>, Vec<Seen>) {
        check(text, ExprContext::AccessLogFilter)
    }

    fn tag(text: &str) -> (Option<CelType>, Vec<Seen>) {
        check(text, ExprContext::MetricTagValue)
    }

    /// The text under every label and suggestion of the only diagnostic of `text`.
    /// Pairs of (text under a label or suggestion, its message or replacement).
    type Texts = Vec<(String, String)>;

    fn only(text: &str, context: ExprContext) -> (Diagnostic, Texts, Texts) {
        let file = file_of(text);
        let (_, mut diagnostics) = check_raw(text, context);
        assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
        let diagnostic = diagnostics.remove(0);
        let labels = diagnostic.labels.iter().map(|l| (file[l.span.range()].to_string(), l.message.clone())).collect();
        let suggestions =
            diagnostic.suggestions.iter().map(|s| (file[s.span.range()].to_string(), s.replacement.clone())).collect();
        (diagnostic, labels, suggestions)
    }

    fn seen(code: &str, under: &str, message: &str) -> Seen {
        (code.to_string(), under.to_string(), message.to_string())
    }

    #[test]
    fn a_well_typed_filter_is_a_bool() {
        for text in [
            "response.code >= 400",
            "response.code >= 400 && request.headers[\"x-user\"].startsWith(\"a\")",
            "response.code == 200u || response.code < 1.5",
            "request.duration > duration(\"1s\") || request.time < timestamp(\"2024-01-01T00:00:00Z\")",
            "size(request.path) > 10 && request.path.size() < 100 && request.path.matches(\"^/api\")",
            "has(request.headers.x_user) && has(request.host)",
            "\"x-route\" in request.headers && !connection.mtls",
            "request.headers.exists(h, h.startsWith(\"x-\")) && [1, 2].all(n, n > 0)",
            "int(request.headers[\"x-count\"]) > 3 && string(response.code) == \"200\"",
            "request.time.getHours() < 6 && request.duration.getSeconds() > 1",
            "xds.node.metadata[\"NAME\"] == \"a\" && filter_state[\"k\"] != null",
            "type(response.code) == int",
        ] {
            let (ty, diagnostics) = filter(text);
            assert_eq!(ty, Some(CelType::Bool), "{text}");
            assert!(diagnostics.is_empty(), "{text}: {diagnostics:#?}");
        }
    }

    #[test]
    fn tag_values_have_the_type_of_their_expression() {
        assert_eq!(tag("request.host"), (Some(CelType::String), vec![]));
        assert_eq!(tag("request.headers[\"x\"]"), (Some(CelType::String), vec![]));
        assert_eq!(tag("response.code + 1"), (Some(CelType::Int), vec![]));
        assert_eq!(
            tag("\"x-route\" in request.headers ? request.headers[\"x-route\"] : \"none\""),
            (Some(CelType::String), vec![])
        );
        assert_eq!(tag("request.headers.map(h, size(h))"), (Some(CelType::List(Box::new(CelType::Int))), vec![]));
        assert_eq!(tag("xds.node.id"), (Some(CelType::Dyn), vec![]));
        assert_eq!(tag("request.time - request.time"), (Some(CelType::Duration), vec![]));
    }

    #[test]
    fn comparing_an_int_with_a_string_points_at_the_string() {
        let (diagnostic, labels, suggestions) = only("response.code >= \"400\"", ExprContext::AccessLogFilter);
        assert_eq!(diagnostic.code, codes::CEL_TYPE_MISMATCH);
        assert_eq!(diagnostic.message, "cannot compare an int with a string using `>=`");
        assert_eq!(
            labels,
            [("\"400\"".into(), "this is a string".into()), ("response.code".into(), "this is an int".into())]
        );
        assert_eq!(suggestions, [("\"400\"".into(), "400".into())]);
        // Exact bytes: the string starts 17 bytes into the expression, which starts at 10.
        assert_eq!((diagnostic.primary_span().start, diagnostic.primary_span().end), (27, 32));
    }

    #[test]
    fn the_literal_side_of_a_comparison_is_blamed_whichever_side_it_is_on() {
        let (_, labels, _) = only("\"400\" <= response.code", ExprContext::AccessLogFilter);
        assert_eq!(labels[0], ("\"400\"".into(), "this is a string".into()));
        let (_, labels, suggestions) = only("request.headers[\"x\"] == 5", ExprContext::AccessLogFilter);
        assert_eq!(labels[0], ("5".into(), "this is an int".into()));
        assert_eq!(suggestions, [("5".into(), "\"5\"".into())]);
        let (_, _, suggestions) = only("request.duration > \"1s\"", ExprContext::AccessLogFilter);
        assert_eq!(suggestions, [("\"1s\"".into(), "duration(\"1s\")".into())]);
    }

    #[test]
    fn misspelled_attributes_suggest_the_right_one() {
        let (diagnostic, labels, suggestions) = only("request.hots == \"a\"", ExprContext::AccessLogFilter);
        assert_eq!(diagnostic.code, codes::UNKNOWN_ATTRIBUTE);
        assert_eq!(diagnostic.message, "`request.hots` is not an attribute Envoy provides");
        assert_eq!(labels, [("request.hots".into(), "unknown attribute".into())]);
        assert_eq!(suggestions, [("request.hots".into(), "request.host".into())]);
        assert_eq!(diagnostic.help.as_deref(), Some("did you mean `request.host`?"));
        assert_eq!((diagnostic.suggestions[0].span.start, diagnostic.suggestions[0].span.end), (10, 22));
    }

    #[test]
    fn a_misspelled_group_is_fixed_together_with_the_rest_of_the_path() {
        let (_, labels, suggestions) = only("respose.code >= 500", ExprContext::AccessLogFilter);
        assert_eq!(labels[0].0, "respose.code");
        assert_eq!(suggestions, [("respose.code".into(), "response.code".into())]);
        // The field read from the map stays out of the replacement.
        let (_, _, suggestions) = only("requst.headers.x_user == \"a\"", ExprContext::AccessLogFilter);
        assert_eq!(suggestions, [("requst.headers".into(), "request.headers".into())]);
        let (_, _, suggestions) = only("respose.cod == 1", ExprContext::AccessLogFilter);
        assert_eq!(suggestions, [("respose.cod".into(), "response.code".into())]);
        let (_, _, suggestions) = only("request_host", ExprContext::MetricTagValue);
        assert_eq!(suggestions, [("request_host".into(), "request.host".into())]);
    }

    #[test]
    fn unknown_attributes_without_a_near_miss_list_what_the_group_has() {
        let (diagnostic, labels, suggestions) = only("request.nothing_like_it", ExprContext::MetricTagValue);
        assert_eq!(labels[0].0, "request.nothing_like_it");
        assert!(suggestions.is_empty());
        assert_eq!(diagnostic.notes, ["`request` has: duration, headers, host, path, time"]);
        let (diagnostic, ..) = only("zzz", ExprContext::MetricTagValue);
        assert_eq!(diagnostic.message, "`zzz` is not an attribute Envoy provides");
    }

    #[test]
    fn a_group_of_attributes_is_not_a_value() {
        let (diagnostic, labels, _) = only("request", ExprContext::MetricTagValue);
        assert_eq!(diagnostic.code, codes::UNKNOWN_ATTRIBUTE);
        assert_eq!(diagnostic.message, "`request` is a group of attributes, not an attribute");
        assert_eq!(labels, [("request".into(), "a group of attributes".into())]);
        assert_eq!(diagnostic.help.as_deref(), Some("name one of its attributes, such as `request.duration`"));
    }

    #[test]
    fn filters_must_be_conditions() {
        let (diagnostic, labels, _) = only("request.host", ExprContext::AccessLogFilter);
        assert_eq!(diagnostic.code, codes::CEL_WRONG_RESULT_TYPE);
        assert_eq!(diagnostic.message, "an access-log filter must be a condition, but this is a string");
        assert_eq!(labels, [("request.host".into(), "a string, not a bool".into())]);
        assert_eq!(tag("request.host"), (Some(CelType::String), vec![]));
        // A value of unknown type may well be a bool.
        assert_eq!(filter("xds.node.metadata[\"X\"]"), (Some(CelType::Dyn), vec![]));
    }

    #[test]
    fn syntax_errors_point_at_the_offending_part() {
        assert_eq!(
            filter("request.host == \"é\" &&").1,
            [seen("E0400", "&&", "the expression ends too early: expected a value after `&&`")]
        );
        assert_eq!(filter("request.host == \"é\" # 1").1, [seen("E0400", "#", "`#` cannot appear in an expression")]);
        assert_eq!(
            filter("a b").1,
            [seen("E0400", "b", "unexpected `b`: expected an operator or the end of the expression")]
        );
        assert_eq!(filter("1 +* 2").1, [seen("E0400", "*", "unexpected `*`: expected a value")]);
        assert_eq!(
            filter("request.").1,
            [seen("E0400", ".", "the expression ends too early: expected a field name after `.`")]
        );
        assert_eq!(filter("(response.code == 1").1, [seen("E0400", "(", "this `(` is never closed")]);
        assert_eq!(filter("response.code == \"abc").1, [seen("E0400", "\"abc", "this string is never closed")]);
        assert_eq!(
            filter("\"é\\q\" == request.host").1,
            [seen("E0400", "\\q", "`\\q` is not a valid escape sequence")]
        );
        assert_eq!(
            filter("if == 1").1,
            [seen("E0400", "if", "`if` is a reserved word in CEL and cannot be used as a name")]
        );
        assert_eq!(
            filter("has(1)").1,
            [seen("E0400", "1", "`has()` takes a field selection, such as `has(request.headers.x_user)`")]
        );
        assert_eq!(
            filter("99999999999999999999 > 1").1,
            [seen("E0400", "99999999999999999999", "`99999999999999999999` does not fit in 64 bits")]
        );
        assert_eq!(filter("é == 1").1, [seen("E0400", "é", "`é` can only appear inside a string")]);
        assert_eq!(filter("").1, [seen("E0400", "", "the expression is empty")]);
        assert_eq!(filter("   ").1, [seen("E0400", "   ", "the expression is empty")]);
    }

    #[test]
    fn a_single_equals_sign_suggests_the_comparison() {
        let (diagnostic, labels, suggestions) = only("response.code = 200", ExprContext::AccessLogFilter);
        assert_eq!(diagnostic.code, codes::CEL_SYNTAX);
        assert_eq!(diagnostic.message, "`=` is not an operator in CEL");
        assert_eq!(labels, [("=".into(), "not an operator".into())]);
        assert_eq!(suggestions, [("=".into(), "==".into())]);
    }

    #[test]
    fn syntax_errors_on_later_lines_are_located_in_characters() {
        // ANTLR counts the column of `#` in characters; the file counts bytes.
        let text = "\"日本\" == request.host &&\n  \"é\" == # ";
        let (_, diagnostics) = filter(text);
        assert_eq!(diagnostics, [seen("E0400", "#", "`#` cannot appear in an expression")]);
    }

    #[test]
    fn independent_mistakes_are_all_reported() {
        let (_, diagnostics) =
            filter("request.hots == \"a\" || respons.code == 1 || !response.code || response.code >= \"400\"");
        assert_eq!(
            diagnostics,
            [
                seen("E0401", "request.hots", "`request.hots` is not an attribute Envoy provides"),
                seen("E0401", "respons.code", "`respons.code` is not an attribute Envoy provides"),
                seen("E0402", "response.code", "`!` needs a bool, but this is an int"),
                seen("E0402", "\"400\"", "cannot compare an int with a string using `>=`"),
            ]
        );
    }

    #[test]
    fn non_ascii_text_before_a_mistake_keeps_spans_exact() {
        // The cel parser's node offsets are bytes: "日本" is 6 bytes but 2 characters.
        let text = "\"日本\" == request.host && response.code >= \"400\" && request.hots == \"é\"";
        let (_, diagnostics) = filter(text);
        assert_eq!(
            diagnostics,
            [
                seen("E0402", "\"400\"", "cannot compare an int with a string using `>=`"),
                seen("E0401", "request.hots", "`request.hots` is not an attribute Envoy provides"),
            ]
        );
        let (_, raw) = check_raw(text, ExprContext::AccessLogFilter);
        let start = 10 + text.find("\"400\"").unwrap() as u32;
        assert_eq!((raw[0].primary_span().start, raw[0].primary_span().end), (start, start + 5));
        let (_, diagnostics) = tag("\"ü\" + request.path + 1");
        assert_eq!(diagnostics, [seen("E0402", "+", "`+` is not defined for a string and an int")]);
        let (_, labels, _) = only("\"ü\" + request.path + 1", ExprContext::MetricTagValue);
        assert_eq!(labels[1], ("\"ü\" + request.path".into(), "this is a string".into()));
    }

    #[test]
    fn operators_need_operands_of_the_right_type() {
        assert_eq!(
            filter("response.code && true").1,
            [seen("E0402", "response.code", "`&&` needs bool operands, but this is an int")]
        );
        assert_eq!(filter("-request.host == \"a\"").1, [seen("E0402", "request.host", "a string cannot be negated")]);
        assert_eq!(
            filter("connection.id + 1 > 2u").1,
            [seen("E0402", "+", "`+` is not defined for a uint and an int")]
        );
        let (diagnostic, _, suggestions) = only("connection.id + 1 > 2u", ExprContext::AccessLogFilter);
        assert_eq!(suggestions, [("1".into(), "1u".into())]);
        assert_eq!(diagnostic.help.as_deref(), Some("did you mean `1u`?"));
        assert_eq!(tag("response.code * 1.5").1, [seen("E0402", "*", "`*` is not defined for an int and a double")]);
        assert_eq!(
            filter("(request.path + 1) == \"a\"").1,
            [seen("E0402", "+", "`+` is not defined for a string and an int")]
        );
    }

    #[test]
    fn indexes_need_keys_of_the_right_type() {
        let (diagnostic, labels, suggestions) = only("request.headers[1] == \"a\"", ExprContext::AccessLogFilter);
        assert_eq!(diagnostic.message, "this map has string keys, but this key is an int");
        assert_eq!(
            labels,
            [("1".into(), "this is an int".into()), ("request.headers".into(), "this is a map(string, string)".into())]
        );
        assert_eq!(suggestions, [("1".into(), "\"1\"".into())]);
        assert_eq!(
            tag("request.host[0]").1,
            [seen("E0402", "request.host", "a string cannot be indexed with `[...]`")]
        );
        assert_eq!(
            tag("[1, 2][\"a\"]").1,
            [seen("E0402", "\"a\"", "a list is indexed by an int position, but this is a string")]
        );
    }

    #[test]
    fn in_and_conditionals_are_checked() {
        assert_eq!(
            filter("response.code in [\"200\", \"404\"]").1,
            [seen("E0402", "[\"200\", \"404\"]", "`in` looks for an int in a list(string)")]
        );
        assert_eq!(
            filter("\"a\" in request.host").1,
            [seen("E0402", "request.host", "`in` needs a list or a map on its right, but this is a string")]
        );
        assert_eq!(
            tag("response.code ? \"a\" : \"b\"").1,
            [seen("E0402", "response.code", "the condition of `? :` must be a bool, but this is an int")]
        );
        assert_eq!(
            tag("connection.mtls ? \"a\" : 1").1,
            [seen("E0402", "1", "the two branches of `? :` have different types: a string and an int")]
        );
        assert_eq!(tag("connection.mtls ? \"a\" : null"), (Some(CelType::String), vec![]));
    }

    #[test]
    fn fields_are_read_from_maps_and_messages_only() {
        let (diagnostic, labels, _) = only("response.code.value == 1", ExprContext::AccessLogFilter);
        assert_eq!(diagnostic.message, "`value` cannot be read from an int: only maps and messages have fields");
        assert_eq!(
            labels,
            [("value".into(), "no such field".into()), ("response.code".into(), "this is an int".into())]
        );
        assert_eq!(
            filter("has(response.code.value)").1,
            [seen("E0402", "response.code", "`has()` tests a field of a map or a message, but this is an int")]
        );
        let (_, _, suggestions) = only("has(request.hots)", ExprContext::AccessLogFilter);
        assert_eq!(suggestions, [("request.hots".into(), "request.host".into())]);
    }

    #[test]
    fn functions_are_checked_by_name_receiver_and_arguments() {
        let (diagnostic, labels, suggestions) = only("lookup(request.host) == \"a\"", ExprContext::AccessLogFilter);
        assert_eq!(diagnostic.code, codes::UNKNOWN_FUNCTION);
        assert_eq!(labels, [("lookup".into(), "unknown function".into())]);
        assert!(suggestions.is_empty());
        let (_, labels, suggestions) = only("request.path.startWith(\"/api\")", ExprContext::AccessLogFilter);
        assert_eq!(labels[0].0, "startWith");
        assert_eq!(suggestions, [("startWith".into(), "startsWith".into())]);
        assert_eq!(
            filter("response.code.startsWith(\"4\")").1,
            [seen("E0402", "response.code", "`startsWith` applies to a string, but this is an int")]
        );
        assert_eq!(
            filter("request.path.startsWith(1)").1,
            [seen("E0402", "1", "`startsWith` takes a string here, not an int")]
        );
        assert_eq!(
            tag("int(request.headers)").1,
            [seen(
                "E0402",
                "request.headers",
                "`int` takes an int, a uint, a double, a string or a timestamp here, not a map(string, string)"
            )]
        );
        assert_eq!(
            tag("size(request.path, 1)").1,
            [seen("E0402", "size(request.path, 1)", "`size` takes 1 argument, but 2 were given")]
        );
        assert_eq!(
            filter("startsWith(request.path, \"/\")").1,
            [seen(
                "E0404",
                "startsWith",
                "`startsWith` is a method: call it on a value, as in `request.path.startsWith(...)`"
            )]
        );
        let (diagnostic, ..) = only("env(\"CLUSTER\")", ExprContext::MetricTagValue);
        assert_eq!(diagnostic.code, codes::UNKNOWN_FUNCTION);
        assert!(diagnostic.notes[0].contains("tracing custom tag"));
    }

    #[test]
    fn macros_bind_their_variable_to_an_element() {
        assert_eq!(
            filter("request.headers.exists(h, hh == \"a\")").1,
            [seen("E0401", "hh", "`hh` is not an attribute Envoy provides")]
        );
        let (_, _, suggestions) = only("request.headers.exists(h, hh == \"a\")", ExprContext::AccessLogFilter);
        assert_eq!(suggestions, [("hh".into(), "h".into())]);
        assert_eq!(
            filter("[1, 2].all(n, n)").1,
            [seen("E0402", "n", "the condition of `all` must be a bool, but this is an int")]
        );
        assert_eq!(
            filter("request.host.exists(c, c == \"a\")").1,
            [seen("E0402", "request.host", "`exists` goes through a list or a map, but this is a string")]
        );
        assert_eq!(
            filter("[1].exists(n, n == \"a\")").1,
            [seen("E0402", "\"a\"", "cannot compare an int with a string using `==`")]
        );
        // The variable is gone after the macro.
        assert_eq!(filter("[1].exists(n, n == 1) && n == 1").1[0].1, "n");
    }

    #[test]
    fn custom_tags_have_four_forms() {
        let span = Span::new(FileId(0), 0, 20);
        assert_eq!(interpret_custom_tag("\"prod\"", span).0, Some(CustomTag::Literal("prod".into())));
        assert_eq!(
            interpret_custom_tag("env(\"A\", \"b\")", span).0,
            Some(CustomTag::Environment { name: "A".into(), default: Some("b".into()) })
        );
        assert_eq!(
            interpret_custom_tag("env(\"A\")", span).0,
            Some(CustomTag::Environment { name: "A".into(), default: None })
        );
        assert_eq!(
            interpret_custom_tag("header(\"x\")", span).0,
            Some(CustomTag::Header { name: "x".into(), default: None })
        );
        assert_eq!(interpret_custom_tag("formatter(\"%A%\")", span).0, Some(CustomTag::Formatter("%A%".into())));
    }

    /// Interprets a tag placed at offset 10 and returns what the user sees.
    /// What a user sees of a tracing tag's diagnostic: code, text under it, message, fixes.
    type SeenTag = (String, String, String, Texts);

    fn custom(text: &str) -> (Option<CustomTag>, Vec<SeenTag>) {
        let file = file_of(text);
        let (tag, diagnostics) = interpret_custom_tag(text, Span::new(FileId(0), 10, file.len() as u32));
        let seen = diagnostics
            .iter()
            .map(|d| {
                let fixes =
                    d.suggestions.iter().map(|s| (file[s.span.range()].to_string(), s.replacement.clone())).collect();
                (d.code.as_str().to_string(), file[d.primary_span().range()].to_string(), d.message.clone(), fixes)
            })
            .collect();
        (tag, seen)
    }

    #[test]
    fn malformed_custom_tags_say_which_form_was_meant() {
        let fix = |a: &str, b: &str| vec![(a.to_string(), b.to_string())];
        assert_eq!(
            custom("enviro(\"A\")"),
            (
                None,
                vec![(
                    "E0404".into(),
                    "enviro".into(),
                    "`enviro` is not a form of tracing tag".into(),
                    fix("enviro", "env")
                )]
            )
        );
        assert_eq!(
            custom("env(CLUSTER_NAME)"),
            (
                None,
                vec![(
                    "E0403".into(),
                    "CLUSTER_NAME".into(),
                    "the arguments of `env` are quoted strings".into(),
                    fix("CLUSTER_NAME", "\"CLUSTER_NAME\"")
                )]
            )
        );
        let (_, seen) = custom("env(\"A\", \"b\", \"c\")");
        assert_eq!((seen[0].0.as_str(), seen[0].1.as_str()), ("E0403", "env(\"A\", \"b\", \"c\")"));
        let (_, seen) = custom("request.headers[\"x-user\"]");
        assert_eq!(seen[0].3, fix("request.headers[\"x-user\"]", "header(\"x-user\")"));
        let (_, seen) = custom("header(\"x user\")");
        assert_eq!(seen[0].1, "\"x user\"");
        let (_, seen) = custom("5");
        assert_eq!(seen[0].3, fix("5", "\"5\""));
        // Non-ASCII text before the mistake.
        let (_, seen) = custom("  env(\"é\", DEFAULT)");
        assert_eq!(seen[0].1, "DEFAULT");
        assert_eq!(custom("\"ü").1[0].2, "this string is never closed");
    }

    #[test]
    fn cached_results_move_to_where_the_expression_stands() {
        let cache = ExpressionCache::default();
        let vocabulary = vocabulary();
        let text = "request.hots == \"a\"";
        for start in [0u32, 40, 7] {
            let span = Span::new(FileId(3), start, start + text.len() as u32);
            let (_, diagnostics) = cache.check_expression(text, span, &vocabulary, ExprContext::AccessLogFilter);
            assert_eq!(diagnostics[0].primary_span(), Span::new(FileId(3), start, start + 12));
            assert_eq!(diagnostics[0].suggestions[0].span, Span::new(FileId(3), start, start + 12));
        }
    }

    #[test]
    fn type_names_parse() {
        assert_eq!(parse_type_name("int"), Some(CelType::Int));
        assert_eq!(
            parse_type_name(" {string} "),
            Some(CelType::Map(Box::new(CelType::String), Box::new(CelType::String)))
        );
        assert_eq!(parse_type_name("[{dyn}]").map(|t| t.display()), Some("list(map(string, dyn))".to_string()));
        assert_eq!(parse_type_name("{}"), None);
        assert_eq!(parse_type_name("integer"), None);
        assert_eq!(CelType::Uint.with_article(), "a uint");
    }

    #[test]
    fn the_vocabulary_knows_groups_and_children() {
        let vocabulary = vocabulary();
        assert_eq!(vocabulary.get("response.code").map(|a| &a.ty), Some(&CelType::Int));
        let children: Vec<&str> = vocabulary.children("response").iter().map(|a| a.path.as_str()).collect();
        assert_eq!(children, ["response.code", "response.flags", "response.headers"]);
        assert!(vocabulary.is_group("xds") && !vocabulary.is_group("xds.node"));
        assert!(vocabulary.children("respons").is_empty());
    }

    #[test]
    fn the_stdlib_declares_every_attribute_once_with_a_type_and_a_doc_comment() {
        let text = include_str!("../../../stdlib/attributes.mesh");
        let lines: Vec<&str> = text.lines().collect();
        let mut seen = BTreeSet::new();
        for (index, line) in lines.iter().enumerate() {
            let Some(declaration) = line.strip_prefix("attribute ") else { continue };
            let (path, ty) = declaration.split_once(':').expect("attribute PATH: TYPE");
            assert!(parse_type_name(ty).is_some(), "{line}");
            assert!(seen.insert(path.trim()), "declared twice: {path}");
            assert!(index > 0 && lines[index - 1].starts_with("/// "), "no doc comment: {line}");
        }
        for expected in
            ["request.path", "request.headers", "response.code", "connection.mtls", "xds.node", "filter_state"]
        {
            assert!(seen.contains(expected), "{expected}");
        }
    }

    #[test]
    fn mutated_expressions_never_panic_and_keep_spans_inside() {
        let seeds = [
            "response.code >= 400 && request.headers[\"x-user\"].startsWith(\"é\")",
            "has(request.headers.x) ? request.headers.x : 'none'",
            "[1, 2u, 3.0].exists(n, n > 1) || {\"a\": b\"x\"}.size() == 1",
            "request.time - duration(\"1h\") < timestamp('2024-01-01T00:00:00Z')",
            "env(\"A\", \"b\")",
            "r'raw \\d' + '''tri\nple''' + \"日本\"",
        ];
        let alphabet: Vec<char> = "()[]{}.,:?!&|=<>+-*/%\"'\\ \n\tabxyz019_éü日".chars().collect();
        // A fixed xorshift sequence, so a failure reproduces.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % bound.max(1) as u64) as usize
        };
        for round in 0..1500 {
            let mut chars: Vec<char> = seeds[round % seeds.len()].chars().collect();
            for _ in 0..1 + next(4) {
                let at = next(chars.len() + 1);
                match next(3) {
                    0 if at < chars.len() => {
                        chars.remove(at);
                    }
                    1 if at < chars.len() => chars[at] = alphabet[next(alphabet.len())],
                    _ => chars.insert(at.min(chars.len()), alphabet[next(alphabet.len())]),
                }
            }
            let text: String = chars.into_iter().collect();
            let span = Span::new(FileId(1), 7, 7 + text.len() as u32);
            let (_, diagnostics) = check_expression(&text, span, &vocabulary(), ExprContext::AccessLogFilter);
            let (_, tag_diagnostics) = interpret_custom_tag(&text, span);
            for d in diagnostics.iter().chain(&tag_diagnostics) {
                let spans = d.labels.iter().map(|l| l.span).chain(d.suggestions.iter().map(|s| s.span));
                for s in spans {
                    let (start, end) = ((s.start - 7) as usize, (s.end - 7) as usize);
                    let inside = s.start >= span.start && s.end <= span.end;
                    assert!(inside && text.is_char_boundary(start) && text.is_char_boundary(end), "{text:?}: {d:?}");
                }
                // The parser's raw wording never reaches the user.
                assert!(!d.message.contains("Syntax error") && !d.message.contains("expecting"), "{text:?}: {d:?}");
            }
        }
    }

    #[test]
    fn odd_input_never_panics() {
        let deep = |open: &str, close: &str, n: usize| format!("{}1{}", open.repeat(n), close.repeat(n));
        let texts = [
            String::new(),
            "   ".into(),
            "(((".into(),
            ")".into(),
            "a[".into(),
            "\"".into(),
            "'''".into(),
            "\"\"\"abc".into(),
            "r\"\\\"".into(),
            "b'\\xff'".into(),
            "1 +".into(),
            "{".into(),
            "}".into(),
            "[1,".into(),
            "é".into(),
            "a.b.c.d.e.f".into(),
            "has(x)".into(),
            "x.exists(1, 2)".into(),
            "x.map(a)".into(),
            "{1: 2}.a".into(),
            "Msg{a: 1}".into(),
            "a.?b".into(),
            "\n\n\n#".into(),
            "\r\n)".into(),
            "\u{0}".into(),
            "request.headers[request.headers]".into(),
            "-9223372036854775808".into(),
            "18446744073709551615u".into(),
            "1e999".into(),
            "(".repeat(500),
            ")".repeat(500),
            deep("(", ")", 10_000),
            deep("[", "]", 200),
            deep("-", "", 5_000),
            deep("!", "", 5_000),
            deep("f(", ")", 300),
            format!("1{}", " + 1".repeat(5_000)),
            format!("1{}", " + 1".repeat(900)),
            format!("response.code{}", ".x".repeat(900)),
            format!("request.headers{}", "[\"a\"]".repeat(600)),
            format!("true{}", " && true".repeat(5_000)),
            format!("[{}]", "1, ".repeat(5_000)),
            format!("1{}", " ? 1 : 1".repeat(300)),
        ];
        for text in &texts {
            let span = Span::new(FileId(0), 100, 100 + text.len() as u32);
            for context in [ExprContext::AccessLogFilter, ExprContext::MetricTagValue] {
                let (_, diagnostics) = check_expression(text, span, &vocabulary(), context);
                for d in &diagnostics {
                    for l in &d.labels {
                        assert!(
                            l.span.start >= span.start
                                && l.span.end <= span.end
                                && text.is_char_boundary((l.span.start - 100) as usize),
                            "{text:.40}: {d:?}"
                        );
                    }
                }
            }
            let _ = interpret_custom_tag(text, span);
        }
        // Too long to parse safely: refused with a diagnostic rather than a crash.
        let (_, diagnostics) = filter(&format!("1{}", " + 1".repeat(5_000)));
        assert_eq!(diagnostics[0].0, "E0400");
    }
}
