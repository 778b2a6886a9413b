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
//! errors of its macros (`has`, `exists`) count bytes again. [`syntax::Source`] turns
//! all three into byte spans of the user's file, and nothing else in this module does
//! arithmetic on positions.

mod checker;
pub(in crate::check) mod syntax;
pub(crate) mod types;
mod vocabulary;

pub(crate) use checker::ExprContext;
#[cfg(test)]
pub(crate) use checker::check_expression;
pub(crate) use types::{CelType, parse_type_name};
pub(crate) use vocabulary::{Attribute, Vocabulary};

use crate::diagnostic::Diagnostic;
use crate::span::Span;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use syntax::{ParsedExpr, Source};

/// Remembers the parse of each distinct expression text in a package, and the result
/// of checking it in each context.
///
/// Packages repeat the same expressions across namespaces and workloads
/// (`response.code >= 500`, `request.host`), and parsing CEL is the costliest step
/// of checking them. A parse depends only on the text, and a check only on the text
/// and the context, so each is computed once relative to offset 0 and its
/// diagnostics are moved to each place the text stands. Tracing tags are interpreted
/// from the same parses, so a text written both as a tag and as a filter is parsed once.
#[derive(Default)]
pub(crate) struct ExpressionCache {
    parsed: RefCell<HashMap<String, Parsed>>,
    checked: RefCell<HashMap<(String, ExprContext), Checked>>,
}

/// What parsing an expression gives: its tree, or its syntax error.
type Parsed = Result<Rc<ParsedExpr>, Diagnostic>;

/// What checking an expression gives: its type and its diagnostics.
type Checked = (Option<CelType>, Vec<Diagnostic>);

/// The file id under which cached diagnostics are computed, before being moved.
const RELATIVE: crate::span::FileId = crate::span::FileId(u32::MAX);

/// Moves a diagnostic computed relative to offset 0 to where the expression stands.
fn relocate(diagnostic: &Diagnostic, span: Span) -> Diagnostic {
    let shift = |s: &mut Span| {
        *s = Span::new(span.file, s.start + span.start, s.end + span.start);
    };
    let mut diagnostic = diagnostic.clone();
    diagnostic.labels.iter_mut().for_each(|l| shift(&mut l.span));
    diagnostic.suggestions.iter_mut().for_each(|s| shift(&mut s.span));
    diagnostic
}

impl ExpressionCache {
    pub(crate) fn check_expression(
        &self,
        text: &str,
        span: Span,
        vocabulary: &Vocabulary,
        context: ExprContext,
    ) -> (Option<CelType>, Vec<Diagnostic>) {
        let key = (text.to_string(), context);
        if let Some((ty, diagnostics)) = self.checked.borrow().get(&key) {
            return (ty.clone(), diagnostics.iter().map(|d| relocate(d, span)).collect());
        }
        let relative = Span::new(RELATIVE, 0, text.len() as u32);
        let (ty, diagnostics) = match self.parse(text, relative) {
            Ok(parsed) => checker::check_parsed(&Source::new(text, relative), &parsed, vocabulary, context),
            Err(diagnostic) => (None, vec![diagnostic]),
        };
        let located = diagnostics.iter().map(|d| relocate(d, span)).collect();
        self.checked.borrow_mut().insert(key, (ty.clone(), diagnostics));
        (ty, located)
    }

    /// The parse of `text`, which stands at `span`: its tree, shared by every place the
    /// text stands, or its syntax error located there.
    // A failure is one diagnostic, returned once per expression; boxing it would buy nothing.
    #[allow(clippy::result_large_err)]
    pub(in crate::check) fn parse(&self, text: &str, span: Span) -> Result<Rc<ParsedExpr>, Diagnostic> {
        let located = |parsed: &Parsed| match parsed {
            Ok(tree) => Ok(Rc::clone(tree)),
            Err(diagnostic) => Err(relocate(diagnostic, span)),
        };
        if let Some(parsed) = self.parsed.borrow().get(text) {
            return located(parsed);
        }
        let relative = Span::new(RELATIVE, 0, text.len() as u32);
        let parsed = Source::new(text, relative).parse().map(Rc::new);
        let result = located(&parsed);
        self.parsed.borrow_mut().insert(text.to_string(), parsed);
        result
    }
}

#[cfg(test)]
pub(in crate::check) mod test_support {
    //! What the tests of expressions share: a vocabulary, a file to place expressions
    //! in, and texts that try the parser's limits.

    use super::*;
    use crate::span::FileId;

    pub(super) fn vocabulary() -> Vocabulary {
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
    pub(super) type Seen = (String, String, String);

    /// The file the expression is checked in: ten bytes of something else, then the
    /// expression, so spans are visibly shifted from the expression's own offsets.
    pub(in crate::check) fn file_of(text: &str) -> String {
        format!("{}{text}", "x".repeat(10))
    }

    pub(super) fn check_raw(text: &str, context: ExprContext) -> (Option<CelType>, Vec<Diagnostic>) {
        let span = Span::new(FileId(0), 10, 10 + text.len() as u32);
        check_expression(text, span, &vocabulary(), context)
    }

    pub(super) fn check(text: &str, context: ExprContext) -> (Option<CelType>, Vec<Seen>) {
        let file = file_of(text);
        let (ty, diagnostics) = check_raw(text, context);
        let seen = diagnostics
            .iter()
            .map(|d| (d.code.as_str().to_string(), file[d.primary_span().range()].to_string(), d.message.clone()))
            .collect();
        (ty, seen)
    }

    pub(super) fn filter(text: &str) -> (Option<CelType>, Vec<Seen>) {
        check(text, ExprContext::AccessLogFilter)
    }

    pub(super) fn tag(text: &str) -> (Option<CelType>, Vec<Seen>) {
        check(text, ExprContext::MetricTagValue)
    }

    /// Pairs of (text under a label or suggestion, its message or replacement).
    pub(in crate::check) type Texts = Vec<(String, String)>;

    /// The text under every label and suggestion of the only diagnostic of `text`.
    pub(super) fn only(text: &str, context: ExprContext) -> (Diagnostic, Texts, Texts) {
        let file = file_of(text);
        let (_, mut diagnostics) = check_raw(text, context);
        assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
        let diagnostic = diagnostics.remove(0);
        let labels = diagnostic.labels.iter().map(|l| (file[l.span.range()].to_string(), l.message.clone())).collect();
        let suggestions =
            diagnostic.suggestions.iter().map(|s| (file[s.span.range()].to_string(), s.replacement.clone())).collect();
        (diagnostic, labels, suggestions)
    }

    pub(super) fn seen(code: &str, under: &str, message: &str) -> Seen {
        (code.to_string(), under.to_string(), message.to_string())
    }

    /// Seeds mutated at random into 1,500 texts, by a fixed xorshift sequence so a
    /// failure reproduces.
    pub(in crate::check) fn mutations() -> Vec<String> {
        let seeds = [
            "response.code >= 400 && request.headers[\"x-user\"].startsWith(\"é\")",
            "has(request.headers.x) ? request.headers.x : 'none'",
            "[1, 2u, 3.0].exists(n, n > 1) || {\"a\": b\"x\"}.size() == 1",
            "request.time - duration(\"1h\") < timestamp('2024-01-01T00:00:00Z')",
            "env(\"A\", \"b\")",
            "r'raw \\d' + '''tri\nple''' + \"日本\"",
        ];
        let alphabet: Vec<char> = "()[]{}.,:?!&|=<>+-*/%\"'\\ \n\tabxyz019_éü日".chars().collect();
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % bound.max(1) as u64) as usize
        };
        let mut texts = Vec::new();
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
            texts.push(chars.into_iter().collect());
        }
        texts
    }

    /// Asserts that every label and suggestion of `diagnostics` lies inside `span`, where
    /// `text` stands, on character boundaries, and that the parser's raw wording never
    /// reaches the user.
    pub(in crate::check) fn assert_inside(text: &str, span: Span, diagnostics: &[Diagnostic]) {
        for d in diagnostics {
            let spans = d.labels.iter().map(|l| l.span).chain(d.suggestions.iter().map(|s| s.span));
            for s in spans {
                let inside = s.start >= span.start && s.end <= span.end;
                let (start, end) = ((s.start - span.start) as usize, (s.end - span.start) as usize);
                assert!(inside && text.is_char_boundary(start) && text.is_char_boundary(end), "{text:?}: {d:?}");
            }
            assert!(!d.message.contains("Syntax error") && !d.message.contains("expecting"), "{text:?}: {d:?}");
        }
    }

    /// Texts at the edges of what the parser and the checker survive: empty, unbalanced,
    /// odd characters, and nesting or chains far deeper than any real expression.
    pub(in crate::check) fn odd_texts() -> Vec<String> {
        let deep = |open: &str, close: &str, n: usize| format!("{}1{}", open.repeat(n), close.repeat(n));
        vec![
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
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::vocabulary;
    use super::*;
    use crate::span::FileId;

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
    fn a_text_is_parsed_once_and_its_syntax_error_moves_to_each_place() {
        let cache = ExpressionCache::default();
        let first = cache.parse("request.host", Span::new(FileId(1), 0, 12)).expect("parses");
        let again = cache.parse("request.host", Span::new(FileId(2), 30, 42)).expect("parses");
        assert!(Rc::ptr_eq(&first, &again));
        for start in [0u32, 25] {
            let span = Span::new(FileId(4), start, start + 4);
            let Err(diagnostic) = cache.parse("1 + ", span) else { panic!("`1 + ` parsed") };
            assert_eq!(diagnostic.primary_span(), Span::new(FileId(4), start + 2, start + 3));
        }
    }
}
