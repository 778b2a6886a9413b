//! Attribute expressions: CEL parsed with the `cel` crate and type-checked against
//! the attribute vocabulary that `std.attributes` declares.
//!
//! The grammar only delimits an expression; here its text is parsed, every node's
//! offset is mapped back into the user's file, and the expression is checked with
//! CEL's type rules: `response.code >= "400"` compares an int with a string.

use crate::diagnostic::{Diagnostic, codes, did_you_mean};
use crate::span::Span;
use cel::common::ast::{Expr, IdedExpr, LiteralValue, SourceInfo};
use cel::parser::Parser;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

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

    /// The type with its article, for messages: "an int", "a string".
    pub fn with_article(&self) -> String {
        let name = self.display();
        let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
        format!("{article} {name}")
    }

    fn is_numeric(&self) -> bool {
        matches!(self, CelType::Int | CelType::Uint | CelType::Double)
    }

    fn is_dyn(&self) -> bool {
        matches!(self, CelType::Dyn)
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
}

impl Vocabulary {
    pub fn new(attributes: Vec<Attribute>) -> Vocabulary {
        Vocabulary { attributes: attributes.into_iter().map(|a| (a.path.clone(), a)).collect() }
    }

    pub fn get(&self, path: &str) -> Option<&Attribute> {
        self.attributes.get(path)
    }

    pub fn attributes(&self) -> impl Iterator<Item = &Attribute> {
        self.attributes.values()
    }

    /// The attributes directly or indirectly below `prefix` (`request` gives `request.*`).
    pub fn children(&self, prefix: &str) -> Vec<&Attribute> {
        let dotted = format!("{prefix}.");
        self.attributes.values().filter(|a| a.path.starts_with(&dotted)).collect()
    }

    fn is_namespace(&self, path: &str) -> bool {
        !self.children(path).is_empty()
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
pub fn check_expression(
    text: &str,
    span: Span,
    vocabulary: &Vocabulary,
    context: ExprContext,
) -> (Option<CelType>, Vec<Diagnostic>) {
    let (expr, info) = match parse(text, span) {
        Ok(parsed) => parsed,
        Err(diagnostic) => return (None, vec![diagnostic]),
    };
    let mut checker =
        Checker { text, span, info: &info, vocabulary, diagnostics: Vec::new(), offsets: char_offsets(text) };
    let ty = checker.check(&expr);
    if context == ExprContext::AccessLogFilter
        && let Some(ty) = &ty
        && !matches!(ty, CelType::Bool | CelType::Dyn)
    {
        checker.diagnostics.push(
            Diagnostic::new(
                codes::CEL_WRONG_RESULT_TYPE,
                span,
                format!("an access-log filter must be a condition, but this is {}", ty.with_article()),
            )
            .with_label_message(format!("{}, not a bool", ty.with_article()))
            .with_help("compare it, for example `response.code >= 400`"),
        );
    }
    (ty, checker.diagnostics)
}

/// Remembers the result of checking each distinct expression text in a package.
///
/// Packages repeat the same expressions across namespaces and workloads
/// (`response.code >= 500`, `request.host`), and parsing CEL is the costliest step
/// of checking them; the result depends only on the text and the context, so it is
/// computed once relative to offset 0 and moved to each place it stands.
#[derive(Default)]
pub struct ExpressionCache {
    checked: RefCell<HashMap<(String, ExprContext), (Option<CelType>, Vec<Diagnostic>)>>,
    tags: RefCell<HashMap<String, (Option<CustomTag>, Vec<Diagnostic>)>>,
}

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

/// Interprets a tracing tag: a string literal, `env(NAME [, DEFAULT])`,
/// `header(NAME [, DEFAULT])` or `formatter(FORMAT)`.
pub fn interpret_custom_tag(text: &str, span: Span) -> (Option<CustomTag>, Vec<Diagnostic>) {
    let (expr, info) = match parse(text, span) {
        Ok(parsed) => parsed,
        Err(diagnostic) => return (None, vec![diagnostic]),
    };
    let offsets = char_offsets(text);
    let checker =
        Checker { text, span, info: &info, vocabulary: &Vocabulary::default(), diagnostics: Vec::new(), offsets };
    let shape_error = |message: &str| {
        Diagnostic::new(codes::CEL_WRONG_RESULT_TYPE, span, message.to_string())
            .with_label_message("not a tracing tag")
            .with_help("write \"text\", env(\"VAR\"), env(\"VAR\", \"default\"), header(\"name\"), header(\"name\", \"default\") or formatter(\"%...%\")")
    };
    match &expr.expr {
        Expr::Literal(LiteralValue::String(s)) => (Some(CustomTag::Literal(s.inner().to_string())), Vec::new()),
        Expr::Call(call) if call.target.is_none() => {
            let strings: Option<Vec<String>> = call
                .args
                .iter()
                .map(|a| match &a.expr {
                    Expr::Literal(LiteralValue::String(s)) => Some(s.inner().to_string()),
                    _ => None,
                })
                .collect();
            let function_span = checker.node_span(&expr);
            let arity = call.args.len();
            let Some(strings) = strings else {
                return (None, vec![shape_error("the arguments of a tracing tag function are strings")]);
            };
            let tag = match (call.func_name.as_str(), arity) {
                ("env", 1 | 2) => CustomTag::Environment { name: strings[0].clone(), default: strings.get(1).cloned() },
                ("header", 1 | 2) => CustomTag::Header { name: strings[0].clone(), default: strings.get(1).cloned() },
                ("formatter", 1) => CustomTag::Formatter(strings[0].clone()),
                ("env" | "header" | "formatter", _) => {
                    return (
                        None,
                        vec![Diagnostic::new(
                            codes::CEL_WRONG_RESULT_TYPE,
                            function_span,
                            format!(
                                "`{}` takes {} arguments, not {arity}",
                                call.func_name,
                                if call.func_name == "formatter" { "1" } else { "1 or 2" }
                            ),
                        )],
                    );
                }
                (name, _) => {
                    let mut diagnostic = Diagnostic::new(
                        codes::UNKNOWN_FUNCTION,
                        name_span(&checker, &expr, name),
                        format!("`{name}` is not a tracing tag function"),
                    )
                    .with_label_message("unknown function");
                    let name_only = name_span(&checker, &expr, name);
                    diagnostic = match did_you_mean(name, ["env", "header", "formatter"]) {
                        Some(suggestion) => diagnostic.with_did_you_mean(name_only, suggestion),
                        None => {
                            diagnostic.with_note("tracing tags are env(...), header(...), formatter(...) or a string")
                        }
                    };
                    return (None, vec![diagnostic]);
                }
            };
            (Some(tag), Vec::new())
        }
        _ => (None, vec![shape_error("a tracing tag is a string or one of env(...), header(...), formatter(...)")]),
    }
}

/// The span of a global call's function name, which precedes its `(`.
fn name_span(checker: &Checker, expr: &IdedExpr, name: &str) -> Span {
    let paren = checker.node_span(expr);
    let start = paren.start.saturating_sub(name.len() as u32).max(checker.span.start);
    Span::new(paren.file, start, paren.start.max(start))
}

/// Byte offset of every character index, plus the end.
fn char_offsets(text: &str) -> Vec<u32> {
    let mut offsets: Vec<u32> = text.char_indices().map(|(i, _)| i as u32).collect();
    offsets.push(text.len() as u32);
    offsets
}

fn parse(text: &str, span: Span) -> Result<(IdedExpr, SourceInfo), Diagnostic> {
    if text.trim().is_empty() {
        return Err(Diagnostic::new(codes::CEL_SYNTAX, span, "the expression is empty"));
    }
    // The parser is generated code; it must never take the compiler down with it.
    let parsed = std::panic::catch_unwind(|| Parser::new().parse_with_source_info(text));
    match parsed {
        Ok(Ok(parsed)) => Ok(parsed),
        Ok(Err(errors)) => {
            let first = errors.errors.into_iter().next();
            let (line, column, message) = first.map(|e| (e.pos.0, e.pos.1, e.msg)).unwrap_or((1, 1, String::new()));
            let offset = line_column_offset(text, line, column);
            let (message, found_len) = plain_syntax_message(&message, &text[offset..]);
            let start = span.start + offset as u32;
            let end = (start + found_len as u32).min(span.end.max(start));
            Err(Diagnostic::new(codes::CEL_SYNTAX, Span::new(span.file, start, end), message)
                .with_secondary(span, "in this expression"))
        }
        Err(_) => Err(Diagnostic::new(codes::CEL_SYNTAX, span, "this expression could not be parsed")),
    }
}

/// The byte offset of a one-based line and character column of the parser's errors.
fn line_column_offset(text: &str, line: isize, column: isize) -> usize {
    let mut offset = 0;
    for (index, line_text) in text.split_inclusive('\n').enumerate() {
        if index as isize + 1 == line {
            let chars = (column - 1).max(0) as usize;
            return offset
                + line_text
                    .char_indices()
                    .nth(chars)
                    .map(|(i, _)| i)
                    .unwrap_or(line_text.trim_end_matches('\n').len());
        }
        offset += line_text.len();
    }
    text.len()
}

/// Turns ANTLR's messages into the user's words, and says how long the offending token is.
fn plain_syntax_message(raw: &str, rest: &str) -> (String, usize) {
    let token_len = rest.chars().next().map(|c| {
        if c.is_alphanumeric() || c == '_' {
            rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len())
        } else {
            c.len_utf8()
        }
    });
    let quoted = raw.split('\'').nth(1).unwrap_or("");
    if rest.trim().is_empty() || quoted == "<EOF>" {
        return ("the expression ends too early".to_string(), 0);
    }
    let message = if raw.contains("token recognition error") {
        format!("`{quoted}` cannot appear in an expression")
    } else {
        format!(
            "unexpected `{}` in the expression",
            if quoted.is_empty() { &rest[..token_len.unwrap_or(0)] } else { quoted }
        )
    };
    (message, token_len.unwrap_or(0))
}

struct Checker<'a> {
    text: &'a str,
    span: Span,
    info: &'a SourceInfo,
    vocabulary: &'a Vocabulary,
    diagnostics: Vec<Diagnostic>,
    offsets: Vec<u32>,
}

impl Checker<'_> {
    fn byte(&self, char_index: u32) -> u32 {
        self.offsets.get(char_index as usize).copied().unwrap_or(self.text.len() as u32)
    }

    /// The span of a whole sub-expression: every node's token, plus the closing
    /// bracket of calls and indexes, which the parser does not record.
    fn node_span(&self, expr: &IdedExpr) -> Span {
        let (start, end) = self.char_range(expr);
        let (start, mut end) = (self.byte(start), self.byte(end));
        if let Expr::Call(call) = &expr.expr
            && (call.func_name == "_[_]" || !call.func_name.starts_with(['_', '!', '-', '@']))
            && let Some((open, _)) = self.info.offset_for(expr.id)
        {
            end = end.max(self.closing_bracket(self.byte(open)).unwrap_or(end));
        }
        Span::new(self.span.file, self.span.start + start, self.span.start + end.max(start))
    }

    fn char_range(&self, expr: &IdedExpr) -> (u32, u32) {
        let own = self.info.offset_for(expr.id).map(|(s, e)| (s, e + 1));
        let mut range = own.unwrap_or((u32::MAX, 0));
        let mut include = |r: (u32, u32)| {
            range.0 = range.0.min(r.0);
            range.1 = range.1.max(r.1);
        };
        match &expr.expr {
            Expr::Call(call) => {
                if let Some(target) = &call.target {
                    include(self.char_range(target));
                }
                for arg in &call.args {
                    include(self.char_range(arg));
                }
            }
            Expr::Select(select) => {
                include(self.char_range(&select.operand));
                if let Some((dot, _)) = self.info.offset_for(expr.id) {
                    include((dot, dot + 1 + select.field.chars().count() as u32));
                }
            }
            Expr::List(list) => list.elements.iter().for_each(|e| include(self.char_range(e))),
            _ => {}
        }
        if range.0 == u32::MAX { (0, self.text.chars().count() as u32) } else { range }
    }

    /// The byte offset just after the bracket that closes the one at byte `open`.
    fn closing_bracket(&self, open: u32) -> Option<u32> {
        let bytes = self.text.as_bytes();
        let mut depth = 0i32;
        let mut in_string: Option<u8> = None;
        let mut index = open as usize;
        while index < bytes.len() {
            let byte = bytes[index];
            match in_string {
                Some(_) if byte == b'\\' => index += 1,
                Some(quote) if byte == quote => in_string = None,
                Some(_) => {}
                None => match byte {
                    b'"' | b'\'' => in_string = Some(byte),
                    b'(' | b'[' => depth += 1,
                    b')' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(index as u32 + 1);
                        }
                    }
                    _ => {}
                },
            }
            index += 1;
        }
        None
    }

    fn error(&mut self, code: crate::diagnostic::Code, span: Span, message: String) -> &mut Diagnostic {
        self.diagnostics.push(Diagnostic::new(code, span, message));
        self.diagnostics.last_mut().expect("just pushed")
    }

    /// The dotted path of a chain of identifiers and field selections.
    fn path_of(expr: &IdedExpr) -> Option<Vec<String>> {
        match &expr.expr {
            Expr::Ident(name) => Some(vec![name.clone()]),
            Expr::Select(select) if !select.test => {
                let mut path = Self::path_of(&select.operand)?;
                path.push(select.field.clone());
                Some(path)
            }
            _ => None,
        }
    }

    fn check(&mut self, expr: &IdedExpr) -> Option<CelType> {
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
            Expr::Ident(_) | Expr::Select(_) => self.check_path(expr),
            Expr::List(list) => {
                let mut element = None;
                for item in &list.elements {
                    let ty = self.check(item);
                    element = element.or(ty);
                }
                Some(CelType::List(Box::new(element.unwrap_or(CelType::Dyn))))
            }
            Expr::Map(map) => {
                for entry in &map.entries {
                    if let cel::common::ast::EntryExpr::MapEntry(entry) = &entry.expr {
                        self.check(&entry.key);
                        self.check(&entry.value);
                    }
                }
                Some(CelType::Map(Box::new(CelType::Dyn), Box::new(CelType::Dyn)))
            }
            Expr::Comprehension(comprehension) => {
                // The body refers to the iteration variable, which is not an attribute;
                // check the range and trust the macro's shape for the result.
                self.check(&comprehension.iter_range);
                Some(match &comprehension.accu_init.expr {
                    Expr::Literal(LiteralValue::Boolean(_)) => CelType::Bool,
                    Expr::Literal(LiteralValue::Int(_)) => CelType::Bool,
                    _ => CelType::List(Box::new(CelType::Dyn)),
                })
            }
            Expr::Struct(_) => {
                let span = self.node_span(expr);
                self.error(
                    codes::CEL_TYPE_MISMATCH,
                    span,
                    "message construction is not available in Istio expressions".into(),
                );
                None
            }
            Expr::Call(call) => self.check_call(expr, call),
            Expr::Unspecified => None,
        }
    }

    fn check_path(&mut self, expr: &IdedExpr) -> Option<CelType> {
        if let Expr::Select(select) = &expr.expr
            && select.test
        {
            // `has(a.b)`: the operand must resolve; the answer is a bool.
            self.check(&select.operand);
            return Some(CelType::Bool);
        }
        let Some(path) = Self::path_of(expr) else {
            // A field of a computed value, such as `f(x).y`.
            if let Expr::Select(select) = &expr.expr {
                let operand = self.check(&select.operand)?;
                return self.field_of(expr, &operand, &select.field);
            }
            return None;
        };
        // The longest known attribute that prefixes the path; the rest are fields of its value.
        for length in (1..=path.len()).rev() {
            let prefix = path[..length].join(".");
            if let Some(attribute) = self.vocabulary.get(&prefix) {
                let mut ty = attribute.ty.clone();
                for field in &path[length..] {
                    ty = self.field_of(expr, &ty, field)?;
                }
                return Some(ty);
            }
        }
        let full = path.join(".");
        let span = self.node_span(expr);
        if self.vocabulary.is_namespace(&full) {
            let examples: Vec<String> =
                self.vocabulary.children(&full).iter().take(4).map(|a| a.path.clone()).collect();
            self.error(codes::UNKNOWN_ATTRIBUTE, span, format!("`{full}` is a group of attributes, not an attribute"))
                .notes
                .push(format!("for example: {}", examples.join(", ")));
            return None;
        }
        let candidates: Vec<&str> = self.vocabulary.attributes().map(|a| a.path.as_str()).collect();
        let suggestion = did_you_mean(&full, candidates.iter().copied()).map(str::to_string);
        let diagnostic =
            self.error(codes::UNKNOWN_ATTRIBUTE, span, format!("`{full}` is not an attribute Envoy provides"));
        diagnostic.labels[0].message = "unknown attribute".to_string();
        match suggestion {
            Some(suggestion) => {
                let taken =
                    std::mem::replace(diagnostic, Diagnostic::new(codes::UNKNOWN_ATTRIBUTE, span, String::new()));
                *diagnostic = taken.with_did_you_mean(span, &suggestion);
            }
            None => diagnostic.notes.push("the attributes are listed in the std.attributes module".to_string()),
        }
        None
    }

    fn field_of(&mut self, expr: &IdedExpr, ty: &CelType, field: &str) -> Option<CelType> {
        match ty {
            CelType::Map(key, value) if matches!(**key, CelType::String | CelType::Dyn) => Some((**value).clone()),
            CelType::Dyn => Some(CelType::Dyn),
            other => {
                let span = self.node_span(expr);
                self.error(codes::CEL_TYPE_MISMATCH, span, format!("{} has no field `{field}`", other.with_article()));
                None
            }
        }
    }

    fn check_call(&mut self, expr: &IdedExpr, call: &cel::common::ast::CallExpr) -> Option<CelType> {
        let target = call.target.as_deref().map(|t| (t, self.check(t)));
        let args: Vec<(&IdedExpr, Option<CelType>)> = call.args.iter().map(|a| (a, self.check(a))).collect();
        // An operand whose type is unknown was already reported; do not pile on.
        let known = |i: usize| args.get(i).and_then(|(_, t)| t.clone());
        let name = call.func_name.as_str();
        match name {
            "_&&_" | "_||_" => {
                for (arg, ty) in &args {
                    if let Some(ty) = ty
                        && !matches!(ty, CelType::Bool | CelType::Dyn)
                    {
                        let span = self.node_span(arg);
                        let op = if name == "_&&_" { "&&" } else { "||" };
                        self.error(
                            codes::CEL_TYPE_MISMATCH,
                            span,
                            format!("`{op}` needs bool operands, but this is {}", ty.with_article()),
                        )
                        .labels[0]
                            .message = ty.with_article();
                    }
                }
                Some(CelType::Bool)
            }
            "!_" => {
                if let Some(ty) = known(0)
                    && !matches!(ty, CelType::Bool | CelType::Dyn)
                {
                    let span = self.node_span(args[0].0);
                    self.error(
                        codes::CEL_TYPE_MISMATCH,
                        span,
                        format!("`!` needs a bool, but this is {}", ty.with_article()),
                    );
                }
                Some(CelType::Bool)
            }
            "-_" => {
                let ty = known(0)?;
                if !(ty.is_numeric() || ty.is_dyn() || ty == CelType::Duration) {
                    let span = self.node_span(args[0].0);
                    self.error(codes::CEL_TYPE_MISMATCH, span, format!("{} cannot be negated", ty.with_article()));
                    return None;
                }
                Some(ty)
            }
            "_==_" | "_!=_" | "_<_" | "_<=_" | "_>_" | "_>=_" => {
                let (left, right) = (known(0)?, known(1)?);
                let ordering = !matches!(name, "_==_" | "_!=_");
                if !comparable(&left, &right, ordering) {
                    let op = name.trim_matches('_');
                    let (left_span, right_span) = (self.node_span(args[0].0), self.node_span(args[1].0));
                    let diagnostic = Diagnostic::new(
                        codes::CEL_TYPE_MISMATCH,
                        right_span,
                        format!("cannot compare {} with {} using `{op}`", left.with_article(), right.with_article()),
                    )
                    .with_label_message(format!("this is {}", right.with_article()))
                    .with_secondary(left_span, format!("this is {}", left.with_article()));
                    let diagnostic = match (&left, &right) {
                        (CelType::Int | CelType::Uint | CelType::Double, CelType::String) => {
                            let literal = &self.text[(right_span.start - self.span.start) as usize
                                ..(right_span.end - self.span.start) as usize];
                            let unquoted = literal.trim_matches(['"', '\'']);
                            if unquoted.parse::<f64>().is_ok() {
                                diagnostic.with_did_you_mean(right_span, unquoted)
                            } else {
                                diagnostic
                            }
                        }
                        _ => diagnostic,
                    };
                    self.diagnostics.push(diagnostic);
                }
                Some(CelType::Bool)
            }
            "_+_" | "_-_" | "_*_" | "_/_" | "_%_" => {
                let (left, right) = (known(0)?, known(1)?);
                match arithmetic(name, &left, &right) {
                    Some(ty) => Some(ty),
                    None => {
                        let op = name.trim_matches('_');
                        let span = self.node_span(expr);
                        self.error(
                            codes::CEL_TYPE_MISMATCH,
                            span,
                            format!("`{op}` is not defined for {} and {}", left.with_article(), right.with_article()),
                        );
                        None
                    }
                }
            }
            "_[_]" | "_[?_]" => {
                let (container, key) = (known(0)?, known(1)?);
                match &container {
                    CelType::Map(key_ty, value) => {
                        if !key.is_dyn() && !key_ty.is_dyn() && key != **key_ty {
                            let span = self.node_span(args[1].0);
                            self.error(
                                codes::CEL_TYPE_MISMATCH,
                                span,
                                format!("this map is indexed by {}, not by {}", key_ty.display(), key.display()),
                            );
                        }
                        Some((**value).clone())
                    }
                    CelType::List(element) => {
                        if !matches!(key, CelType::Int | CelType::Uint | CelType::Dyn) {
                            let span = self.node_span(args[1].0);
                            self.error(
                                codes::CEL_TYPE_MISMATCH,
                                span,
                                format!("a list is indexed by int, not by {}", key.display()),
                            );
                        }
                        Some((**element).clone())
                    }
                    CelType::Dyn => Some(CelType::Dyn),
                    other => {
                        let span = self.node_span(args[0].0);
                        self.error(
                            codes::CEL_TYPE_MISMATCH,
                            span,
                            format!("{} cannot be indexed", other.with_article()),
                        );
                        None
                    }
                }
            }
            "_?_:_" => {
                if let Some(condition) = known(0)
                    && !matches!(condition, CelType::Bool | CelType::Dyn)
                {
                    let span = self.node_span(args[0].0);
                    self.error(
                        codes::CEL_TYPE_MISMATCH,
                        span,
                        format!("the condition of `? :` must be a bool, not {}", condition.with_article()),
                    );
                }
                match (known(1), known(2)) {
                    (Some(a), Some(b)) if a == b => Some(a),
                    (Some(_), Some(_)) => Some(CelType::Dyn),
                    _ => None,
                }
            }
            "@in" => {
                let container = known(1)?;
                if !matches!(container, CelType::List(_) | CelType::Map(..) | CelType::Dyn) {
                    let span = self.node_span(args[1].0);
                    self.error(
                        codes::CEL_TYPE_MISMATCH,
                        span,
                        format!("`in` needs a list or a map, not {}", container.with_article()),
                    );
                }
                Some(CelType::Bool)
            }
            "@not_strictly_false" => Some(CelType::Bool),
            _ => self.check_function(expr, name, target, &args),
        }
    }

    fn check_function(
        &mut self,
        expr: &IdedExpr,
        name: &str,
        target: Option<(&IdedExpr, Option<CelType>)>,
        args: &[(&IdedExpr, Option<CelType>)],
    ) -> Option<CelType> {
        let receiver = target.as_ref().and_then(|(_, t)| t.clone());
        let first_arg = args.first().and_then(|(_, t)| t.clone());
        let subject = if target.is_some() { receiver.clone() } else { first_arg.clone() };
        let string_method = |ty: &Option<CelType>| matches!(ty, Some(CelType::String | CelType::Dyn) | None);
        let result = match name {
            "size" => {
                if let Some(ty) = &subject
                    && !matches!(
                        ty,
                        CelType::String | CelType::Bytes | CelType::List(_) | CelType::Map(..) | CelType::Dyn
                    )
                {
                    let span = self.node_span(expr);
                    self.error(
                        codes::CEL_TYPE_MISMATCH,
                        span,
                        format!("`size` is not defined for {}", ty.with_article()),
                    );
                }
                CelType::Int
            }
            "startsWith" | "endsWith" | "contains" | "matches" if target.is_some() => {
                if !string_method(&receiver) {
                    let span = self.node_span(target.expect("checked").0);
                    let ty = receiver.map(|t| t.with_article()).unwrap_or_default();
                    self.error(
                        codes::CEL_TYPE_MISMATCH,
                        span,
                        format!("`{name}` is a string method, but this is {ty}"),
                    );
                }
                if let Some(arg) = &first_arg
                    && !matches!(arg, CelType::String | CelType::Dyn)
                {
                    let span = self.node_span(args[0].0);
                    self.error(
                        codes::CEL_TYPE_MISMATCH,
                        span,
                        format!("`{name}` takes a string, not {}", arg.with_article()),
                    );
                }
                CelType::Bool
            }
            "int" => CelType::Int,
            "uint" => CelType::Uint,
            "double" => CelType::Double,
            "string" => CelType::String,
            "bytes" => CelType::Bytes,
            "bool" => CelType::Bool,
            "duration" => CelType::Duration,
            "timestamp" => CelType::Timestamp,
            "dyn" | "type" => CelType::Dyn,
            "getFullYear" | "getMonth" | "getDayOfYear" | "getDate" | "getDayOfMonth" | "getDayOfWeek" | "getHours"
            | "getMinutes" | "getSeconds" | "getMilliseconds"
                if target.is_some() =>
            {
                CelType::Int
            }
            _ => {
                let span = self.node_span(expr);
                let known = [
                    "size",
                    "startsWith",
                    "endsWith",
                    "contains",
                    "matches",
                    "int",
                    "uint",
                    "double",
                    "string",
                    "duration",
                    "timestamp",
                ];
                let mut diagnostic = Diagnostic::new(
                    codes::UNKNOWN_FUNCTION,
                    span,
                    format!("`{name}` is not a function of Istio's expressions"),
                )
                .with_label_message("unknown function");
                if matches!(name, "env" | "header" | "formatter") {
                    diagnostic = diagnostic.with_note(format!(
                        "`{name}(...)` is a tracing custom tag, not a function of metric or log expressions"
                    ));
                } else if let Some(suggestion) = did_you_mean(name, known) {
                    diagnostic = diagnostic.with_help(format!("did you mean `{suggestion}`?"));
                }
                self.diagnostics.push(diagnostic);
                return None;
            }
        };
        Some(result)
    }
}

fn comparable(left: &CelType, right: &CelType, ordering: bool) -> bool {
    if left.is_dyn() || right.is_dyn() {
        return true;
    }
    if left.is_numeric() && right.is_numeric() {
        return true;
    }
    if !ordering && (matches!(left, CelType::Null) || matches!(right, CelType::Null)) {
        return true;
    }
    if ordering {
        return left == right
            && matches!(
                left,
                CelType::String | CelType::Bytes | CelType::Duration | CelType::Timestamp | CelType::Bool
            );
    }
    match (left, right) {
        (CelType::List(_), CelType::List(_)) | (CelType::Map(..), CelType::Map(..)) => true,
        _ => left == right,
    }
}

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
        ("_+_", List(a), List(_)) => Some(List(a.clone())),
        ("_+_" | "_-_", Duration, Duration) => Some(Duration),
        ("_+_", Timestamp, Duration) | ("_+_", Duration, Timestamp) | ("_-_", Timestamp, Duration) => Some(Timestamp),
        ("_-_", Timestamp, Timestamp) => Some(Duration),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::FileId;

    fn vocabulary() -> Vocabulary {
        let attribute = |path: &str, ty: CelType| Attribute { path: path.to_string(), ty, doc: String::new() };
        Vocabulary::new(vec![
            attribute("request.host", CelType::String),
            attribute("request.path", CelType::String),
            attribute("request.headers", CelType::Map(Box::new(CelType::String), Box::new(CelType::String))),
            attribute("request.duration", CelType::Duration),
            attribute("response.code", CelType::Int),
            attribute("connection.mtls", CelType::Bool),
            attribute("xds.node", CelType::Dyn),
        ])
    }

    /// Checks `text` placed at offset 10 of a file, so spans are visibly shifted.
    fn check(text: &str, context: ExprContext) -> (Option<CelType>, Vec<(String, String, String)>) {
        let file = format!("{}{text}", "x".repeat(10));
        let span = Span::new(FileId(0), 10, file.len() as u32);
        let (ty, diagnostics) = check_expression(text, span, &vocabulary(), context);
        let rendered = diagnostics
            .iter()
            .map(|d| (d.code.as_str().to_string(), file[d.primary_span().range()].to_string(), d.message.clone()))
            .collect();
        (ty, rendered)
    }

    #[test]
    fn a_well_typed_filter_is_a_bool() {
        let (ty, diagnostics) = check(
            "response.code >= 400 && request.headers[\"x-user\"].startsWith(\"a\")",
            ExprContext::AccessLogFilter,
        );
        assert_eq!(ty, Some(CelType::Bool));
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
    }

    #[test]
    fn comparing_an_int_with_a_string_points_at_the_string() {
        let (_, diagnostics) = check("response.code >= \"400\"", ExprContext::AccessLogFilter);
        assert_eq!(
            diagnostics,
            [("E0402".into(), "\"400\"".into(), "cannot compare an int with a string using `>=`".into())]
        );
    }

    #[test]
    fn misspelled_attributes_suggest_the_right_one() {
        let (_, diagnostics) = check("request.hots == \"a\"", ExprContext::AccessLogFilter);
        assert_eq!(diagnostics[0].0, "E0401");
        assert_eq!(diagnostics[0].1, "request.hots");
        let span = Span::new(FileId(0), 10, 22);
        let (_, raw) = check_expression(
            "request.hots == \"a\"",
            Span::new(FileId(0), 10, 29),
            &vocabulary(),
            ExprContext::AccessLogFilter,
        );
        assert_eq!(raw[0].suggestions[0].replacement, "request.host");
        assert_eq!(raw[0].suggestions[0].span, span);
    }

    #[test]
    fn filters_must_be_conditions() {
        let (_, diagnostics) = check("request.host", ExprContext::AccessLogFilter);
        assert_eq!(diagnostics[0].0, "E0403");
        let (ty, diagnostics) = check("request.host", ExprContext::MetricTagValue);
        assert_eq!(ty, Some(CelType::String));
        assert!(diagnostics.is_empty());
    }

    #[test]
    fn syntax_errors_are_located_after_non_ascii_text() {
        let (_, diagnostics) = check("request.host == \"é\" &&", ExprContext::AccessLogFilter);
        assert_eq!(diagnostics, [("E0400".into(), "".into(), "the expression ends too early".into())]);
        let (_, diagnostics) = check("request.host == \"é\" # 1", ExprContext::AccessLogFilter);
        assert_eq!(diagnostics[0].1, "#");
    }

    #[test]
    fn independent_mistakes_are_all_reported() {
        let (_, diagnostics) =
            check("request.hots == \"a\" || respons.code == 1 || !response.code", ExprContext::AccessLogFilter);
        let codes: Vec<&str> = diagnostics.iter().map(|d| d.0.as_str()).collect();
        assert_eq!(codes, ["E0401", "E0401", "E0402"]);
    }

    #[test]
    fn dyn_and_map_fields_are_accepted() {
        let (ty, diagnostics) =
            check("xds.node.id == \"a\" && request.headers.foo == \"b\"", ExprContext::AccessLogFilter);
        assert_eq!(ty, Some(CelType::Bool));
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
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
            interpret_custom_tag("header(\"x\")", span).0,
            Some(CustomTag::Header { name: "x".into(), default: None })
        );
        assert_eq!(interpret_custom_tag("formatter(\"%A%\")", span).0, Some(CustomTag::Formatter("%A%".into())));
        let (tag, diagnostics) = interpret_custom_tag("enviro(\"A\")", span);
        assert!(tag.is_none());
        assert_eq!(diagnostics[0].code, codes::UNKNOWN_FUNCTION);
    }

    #[test]
    fn odd_input_never_panics() {
        for text in ["", "   ", "(((", ")", "a[", "\"", "'''", &"(".repeat(500), "1 +", "{", "[1,", "é", "a.b.c.d.e.f"]
        {
            let span = Span::new(FileId(0), 0, text.len() as u32);
            let _ = check_expression(text, span, &vocabulary(), ExprContext::AccessLogFilter);
            let _ = interpret_custom_tag(text, span);
        }
    }
}
