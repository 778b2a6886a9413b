//! Tracing custom tags and metric tag values: what Istio's `customTags` and the raw
//! Envoy target's stats module make of an expression, read from its CEL parse.

use super::super::cel::ExpressionCache;
use super::super::cel::syntax::{Nodes, Source, is_operator, path_of};
use crate::diagnostic::{Diagnostic, codes, did_you_mean};
use crate::model::TagSource;
use crate::span::{FileId, Span};
use cel::common::ast::{CallExpr, Expr, IdedExpr, LiteralValue};

/// A tracing custom tag, as Istio's `customTags` knows them.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum CustomTag {
    Literal(String),
    Environment { name: String, default: Option<String> },
    Header { name: String, default: Option<String> },
    Formatter(String),
}

const TAG_FORMS: &str = "write \"text\", env(\"VAR\"), env(\"VAR\", \"default\"), header(\"name\"), \
                         header(\"name\", \"default\") or formatter(\"%...%\")";

/// A tracing custom tag is written as a string literal, `env(NAME [, DEFAULT])`,
/// `header(NAME [, DEFAULT])` or `formatter(FORMAT)`; anything else is a diagnostic.
/// `text` stands at `span`; `expressions` parses each distinct text once per package.
pub(crate) fn interpret_custom_tag(
    expressions: &ExpressionCache,
    text: &str,
    span: Span,
) -> (Option<CustomTag>, Vec<Diagnostic>) {
    let parsed = match expressions.parse(text, span) {
        Ok(parsed) => parsed,
        Err(diagnostic) => return (None, vec![diagnostic]),
    };
    let source = Source::new(text, span);
    match custom_tag(&Nodes::new(&source, &parsed), &parsed.expr) {
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

/// What the stats module can compute of a metric tag's value (`tag NAME = EXPR` in a
/// metrics override): a string literal, a request header `request.headers["X"]`, or an
/// attribute named by a path of two names or more. None for a computed expression, and
/// for text that does not parse, which checking has already reported.
/// The parse comes from the package's cache, so the text is not parsed again.
pub(crate) fn metric_tag_source(expressions: &ExpressionCache, text: &str) -> Option<TagSource> {
    // The span only places diagnostics, and a parse error here was reported by checking.
    let parsed = expressions.parse(text, Span::new(FileId(0), 0, text.len() as u32)).ok()?;
    let expr = &parsed.expr;
    if let Expr::Literal(LiteralValue::String(value)) = &expr.expr {
        return Some(TagSource::Literal(value.inner().to_string()));
    }
    if let Some(name) = header_lookup(expr) {
        return Some(TagSource::RequestHeader(name.to_ascii_lowercase()));
    }
    match path_of(expr) {
        Some(path) if path.len() >= 2 => {
            Some(TagSource::Attribute(path.iter().map(|(name, _)| name.to_string()).collect()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::cel::test_support::{Texts, assert_inside, file_of, mutations, odd_texts};
    use super::*;

    /// Interprets a tag with a cache of its own, as if it were the package's only one.
    fn interpret(text: &str, span: Span) -> (Option<CustomTag>, Vec<Diagnostic>) {
        interpret_custom_tag(&ExpressionCache::default(), text, span)
    }

    #[test]
    fn custom_tags_have_four_forms() {
        let span = Span::new(FileId(0), 0, 20);
        assert_eq!(interpret("\"prod\"", span).0, Some(CustomTag::Literal("prod".into())));
        assert_eq!(
            interpret("env(\"A\", \"b\")", span).0,
            Some(CustomTag::Environment { name: "A".into(), default: Some("b".into()) })
        );
        assert_eq!(interpret("env(\"A\")", span).0, Some(CustomTag::Environment { name: "A".into(), default: None }));
        assert_eq!(interpret("header(\"x\")", span).0, Some(CustomTag::Header { name: "x".into(), default: None }));
        assert_eq!(interpret("formatter(\"%A%\")", span).0, Some(CustomTag::Formatter("%A%".into())));
    }

    /// What a user sees of a tracing tag's diagnostic: code, text under it, message, fixes.
    type SeenTag = (String, String, String, Texts);

    /// Interprets a tag placed at offset 10 and returns what the user sees.
    fn custom(text: &str) -> (Option<CustomTag>, Vec<SeenTag>) {
        let file = file_of(text);
        let (tag, diagnostics) = interpret(text, Span::new(FileId(0), 10, file.len() as u32));
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
    fn cached_tags_move_to_where_they_stand() {
        let cache = ExpressionCache::default();
        for start in [0u32, 40, 7] {
            let span = Span::new(FileId(3), start, start + 11);
            let (tag, diagnostics) = interpret_custom_tag(&cache, "enviro(\"A\")", span);
            assert_eq!(tag, None);
            assert_eq!(diagnostics[0].primary_span(), Span::new(FileId(3), start, start + 6));
            let (tag, _) = interpret_custom_tag(&cache, "env(\"A\")", span);
            assert_eq!(tag, Some(CustomTag::Environment { name: "A".into(), default: None }));
        }
    }

    #[test]
    fn mutated_tags_never_panic_and_keep_spans_inside() {
        for text in mutations() {
            let span = Span::new(FileId(1), 7, 7 + text.len() as u32);
            assert_inside(&text, span, &interpret(&text, span).1);
        }
    }

    #[test]
    fn odd_tags_never_panic() {
        for text in odd_texts() {
            let _ = interpret(&text, Span::new(FileId(0), 100, 100 + text.len() as u32));
        }
    }

    #[test]
    fn metric_tag_values_the_stats_module_can_compute() {
        let cache = ExpressionCache::default();
        assert_eq!(metric_tag_source(&cache, "\"static\""), Some(TagSource::Literal("static".into())));
        assert_eq!(metric_tag_source(&cache, "'static'"), Some(TagSource::Literal("static".into())));
        assert_eq!(
            metric_tag_source(&cache, "request.headers['X-User']"),
            Some(TagSource::RequestHeader("x-user".into()))
        );
        assert_eq!(
            metric_tag_source(&cache, "request.headers[\"X-User\"]"),
            Some(TagSource::RequestHeader("x-user".into()))
        );
        assert_eq!(
            metric_tag_source(&cache, "request.host"),
            Some(TagSource::Attribute(vec!["request".into(), "host".into()]))
        );
        assert_eq!(metric_tag_source(&cache, "request.host + \"x\""), None);
    }

    #[test]
    fn metric_tag_values_it_cannot_compute() {
        let cache = ExpressionCache::default();
        // One name is a group of attributes or a variable, not an attribute.
        assert_eq!(metric_tag_source(&cache, "request"), None);
        assert_eq!(metric_tag_source(&cache, "request.headers[request.host]"), None);
        assert_eq!(metric_tag_source(&cache, "response.headers['x']"), None);
        assert_eq!(metric_tag_source(&cache, "1"), None);
        assert_eq!(metric_tag_source(&cache, "request.host =="), None);
    }
}
