//! The text of an expression: its tokens and brackets, its parse by the `cel` crate
//! with the parser's errors turned into our syntax diagnostics, and the byte spans of
//! the parsed nodes in the user's file.

use crate::diagnostic::{Diagnostic, codes};
use crate::span::Span;
use cel::common::ast::{EntryExpr, Expr, IdedExpr, SourceInfo};
use cel::parser::{ParseError, Parser};
use std::collections::HashMap;

/// More operators than this and the expression is refused before parsing: the `cel`
/// parser recurses once per operator of a chain such as `1 + 1 + ...`, and a stack
/// overflow cannot be caught. A thousand is far beyond any real filter and far below
/// what the parser survives on a 2 MiB thread stack (about 4,000).
const MAX_OPERATORS: usize = 1000;

/// A parsed expression: its tree, and where the parser found each node in the text.
/// Both depend only on the text, not on where it stands in a file.
pub(in crate::check) struct ParsedExpr {
    pub(in crate::check) expr: IdedExpr,
    info: SourceInfo,
}

/// The text of one expression, where it stands in the user's file, and the little
/// lexing that positions need: tokens, and which brackets pair up.
pub(in crate::check) struct Source<'a> {
    pub(super) text: &'a str,
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
    pub(in crate::check) fn new(text: &'a str, span: Span) -> Source<'a> {
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
    pub(super) fn at(&self, start: usize, end: usize) -> Span {
        let (start, end) = (floor_char_boundary(self.text, start), floor_char_boundary(self.text, end));
        let start = (self.span.start as usize + start).min(self.span.end as usize);
        let end = (self.span.start as usize + end).min(self.span.end as usize).max(start);
        Span::new(self.span.file, start as u32, end as u32)
    }

    /// The expression without the blanks around it.
    pub(super) fn whole(&self) -> Span {
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
    pub(in crate::check) fn parse(&self) -> Result<ParsedExpr, Diagnostic> {
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
            Ok(Ok((expr, info))) => Ok(ParsedExpr { expr, info }),
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

pub(in crate::check) fn is_operator(name: &str) -> bool {
    name.starts_with(['_', '@']) || name == "!_" || name == "-_"
}

/// The identifiers of a chain `a.b.c`, each with the node that ends at it (`a`, `a.b`, `a.b.c`).
pub(in crate::check) fn path_of(expr: &IdedExpr) -> Option<Vec<(&str, &IdedExpr)>> {
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
pub(in crate::check) struct Nodes<'a> {
    pub(super) source: &'a Source<'a>,
    info: &'a SourceInfo,
}

type Range = (usize, usize);

fn join(a: Option<Range>, b: Option<Range>) -> Option<Range> {
    match (a, b) {
        (Some(a), Some(b)) => Some((a.0.min(b.0), a.1.max(b.1))),
        (a, b) => a.or(b),
    }
}

impl<'a> Nodes<'a> {
    /// The nodes of `parsed`, which was parsed from the text of `source`.
    pub(in crate::check) fn new(source: &'a Source<'a>, parsed: &'a ParsedExpr) -> Nodes<'a> {
        Nodes { source, info: &parsed.info }
    }

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
    pub(super) fn field(&self, expr: &IdedExpr) -> Option<Range> {
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

    /// The span of the field name of a selection `a.b` (the `b`).
    pub(in crate::check) fn field_span(&self, expr: &IdedExpr) -> Option<Span> {
        self.field(expr).map(|(start, end)| self.source.at(start, end))
    }

    pub(in crate::check) fn span(&self, expr: &IdedExpr) -> Span {
        match self.range(expr) {
            Some((start, end)) => self.source.at(start, end),
            None => self.source.whole(),
        }
    }

    pub(in crate::check) fn text(&self, expr: &IdedExpr) -> &str {
        match self.range(expr) {
            Some((start, end)) => &self.source.text[start..end],
            None => self.source.text.trim(),
        }
    }

    /// The name of a call or macro: the identifier before its `(`.
    pub(super) fn name_range(&self, expr: &IdedExpr) -> Option<Range> {
        let (open, _) = self.token(expr)?;
        self.source.name_before(open)
    }

    pub(in crate::check) fn name_span(&self, expr: &IdedExpr) -> Span {
        match self.name_range(expr) {
            Some((start, end)) => self.source.at(start, end),
            None => self.span(expr),
        }
    }

    pub(super) fn token_span(&self, expr: &IdedExpr) -> Span {
        match self.token(expr) {
            Some((start, end)) => self.source.at(start, end),
            None => self.span(expr),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::{ExprContext, check_expression};
    use crate::diagnostic::codes;
    use crate::span::{FileId, Span};

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
    fn mutated_expressions_never_panic_and_keep_spans_inside() {
        for text in mutations() {
            let span = Span::new(FileId(1), 7, 7 + text.len() as u32);
            let (_, diagnostics) = check_expression(&text, span, &vocabulary(), ExprContext::AccessLogFilter);
            assert_inside(&text, span, &diagnostics);
        }
    }

    #[test]
    fn odd_input_never_panics() {
        for text in &odd_texts() {
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
        }
        // Too long to parse safely: refused with a diagnostic rather than a crash.
        let (_, diagnostics) = filter(&format!("1{}", " + 1".repeat(5_000)));
        assert_eq!(diagnostics[0].0, "E0400");
    }
}
