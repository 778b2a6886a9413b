//! Raw Envoy configuration (a bootstrap in YAML or JSON) checked statically, as
//! `envoy --mode validate` would check its schema: `meshc envoy validate`.
//!
//! The YAML is read into the same value tree as meshc's own literals, with byte
//! spans, so the Envoy schema checker points at the line in the user's file.

use crate::check::envoy_schema::{self, Completeness, Strictness};
use crate::diagnostic::{Diagnostic, codes};
use crate::span::{FileId, Span};
use crate::syntax::ast::{Entry, Key, StringLit, StringStyle, Value, ValueKind};
use saphyr_parser::{Event, Parser, ScalarStyle};

const BOOTSTRAP: &str = "envoy.config.bootstrap.v3.Bootstrap";

/// Checks a bootstrap file against the schema of one Envoy build (`1.38.2`).
pub fn validate_bootstrap(file: FileId, text: &str, envoy: &'static str) -> Vec<Diagnostic> {
    let (value, mut diagnostics) = parse_yaml(file, text);
    if let Some(value) = value {
        diagnostics.extend(check_bootstrap(&value, &[envoy]));
    }
    diagnostics
}

/// Checks a bootstrap already read by [`parse_yaml`] against the schemas of some Envoy
/// builds: the text is read once, however many versions it is checked against.
pub fn check_bootstrap(value: &Value, envoys: &[&'static str]) -> Vec<Diagnostic> {
    match &value.kind {
        ValueKind::Object(entries) => envoy_schema::check_in_versions(
            envoys,
            BOOTSTRAP,
            Span::new(value.span.file, 0, 0),
            entries,
            Completeness::Whole,
            Strictness::ProtoJson,
        ),
        ValueKind::Null => Vec::new(),
        _ => vec![Diagnostic::new(codes::ENVOY_VALUE_MISMATCH, value.span, "a bootstrap is a mapping of fields")],
    }
}

/// Reads one YAML (or JSON) document into a value with byte spans.
pub fn parse_yaml(file: FileId, text: &str) -> (Option<Value>, Vec<Diagnostic>) {
    // The parser counts characters; spans are bytes.
    let mut byte_of_char: Vec<u32> = text.char_indices().map(|(i, _)| i as u32).collect();
    byte_of_char.push(text.len() as u32);
    let byte = |index: usize| byte_of_char.get(index).copied().unwrap_or(text.len() as u32);
    let mut builder = Builder { file, stack: Vec::new(), root: None, diagnostics: Vec::new() };
    for event in Parser::new_from_str(text) {
        match event {
            Ok((event, span)) => builder.event(
                event,
                Span::new(file, byte(span.start.index()), byte(span.end.index()).max(byte(span.start.index()))),
            ),
            Err(error) => {
                let at = byte(error.marker().index());
                builder.diagnostics.push(Diagnostic::new(
                    codes::INVALID_ENVOY_CONFIG,
                    Span::new(file, at, at),
                    format!("this is not valid YAML: {}", error.info()),
                ));
                return (None, builder.diagnostics);
            }
        }
    }
    (builder.root, builder.diagnostics)
}

enum Frame {
    Map { start: Span, entries: Vec<Entry>, key: Option<Key> },
    List { start: Span, items: Vec<Value> },
}

struct Builder {
    file: FileId,
    stack: Vec<Frame>,
    root: Option<Value>,
    diagnostics: Vec<Diagnostic>,
}

impl Builder {
    fn event(&mut self, event: Event<'_>, span: Span) {
        match event {
            Event::MappingStart(..) => self.stack.push(Frame::Map { start: span, entries: Vec::new(), key: None }),
            Event::SequenceStart(..) => self.stack.push(Frame::List { start: span, items: Vec::new() }),
            Event::MappingEnd => {
                if let Some(Frame::Map { start, entries, .. }) = self.stack.pop() {
                    let end = entries.last().map(|e| e.span.end).unwrap_or(span.end).max(start.end);
                    self.value(Value {
                        kind: ValueKind::Object(entries),
                        span: Span::new(self.file, start.start, end),
                    });
                }
            }
            Event::SequenceEnd => {
                if let Some(Frame::List { start, items }) = self.stack.pop() {
                    let end = items.last().map(|v| v.span.end).unwrap_or(span.end).max(start.end);
                    self.value(Value { kind: ValueKind::List(items), span: Span::new(self.file, start.start, end) });
                }
            }
            Event::Scalar(text, style, _, _) => {
                // A mapping waiting for its key takes the scalar as the key.
                if let Some(Frame::Map { key: key @ None, .. }) = self.stack.last_mut() {
                    *key = Some(Key { name: text.to_string(), span, quoted: style != ScalarStyle::Plain });
                    return;
                }
                let kind = scalar_kind(&text, style, span);
                self.value(Value { kind, span });
            }
            Event::Alias(_) => {
                self.diagnostics.push(
                    Diagnostic::new(codes::INVALID_ENVOY_CONFIG, span, "YAML aliases are not supported here")
                        .with_help("write the value out"),
                );
                self.value(Value { kind: ValueKind::Error, span });
            }
            _ => {}
        }
    }

    fn value(&mut self, value: Value) {
        match self.stack.last_mut() {
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                Some(key) => {
                    let span = key.span.cover(value.span);
                    entries.push(Entry { key, value, span });
                }
                None => {
                    // A mapping or list used as a key: not something Envoy reads.
                    self.diagnostics.push(Diagnostic::new(
                        codes::INVALID_ENVOY_CONFIG,
                        value.span,
                        "keys must be plain strings",
                    ));
                    *key = Some(Key { name: String::new(), span: value.span, quoted: true });
                }
            },
            Some(Frame::List { items, .. }) => items.push(value),
            None => self.root = Some(value),
        }
    }
}

/// YAML's core schema for plain scalars, as Envoy's loader reads them.
fn scalar_kind(text: &str, style: ScalarStyle, span: Span) -> ValueKind {
    if style == ScalarStyle::Plain {
        match text {
            "" | "~" | "null" | "Null" | "NULL" => return ValueKind::Null,
            "true" | "True" | "TRUE" => return ValueKind::Bool(true),
            "false" | "False" | "FALSE" => return ValueKind::Bool(false),
            _ => {}
        }
        let looks_numeric =
            text.trim_start_matches(['-', '+']).chars().next().is_some_and(|c| c.is_ascii_digit() || c == '.');
        if looks_numeric && let Ok(value) = text.parse::<f64>() {
            return ValueKind::Number { value, raw: text.to_string() };
        }
    }
    ValueKind::String(StringLit { value: text.to_string(), style: StringStyle::Plain, tag: None, span })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_values_keep_their_spans() {
        let text = "admin:\n  address: { socket_address: { port_value: 9901 } }\nlist: [a, \"b\", 1.5, true]\n";
        let (value, diagnostics) = parse_yaml(FileId(0), text);
        assert!(diagnostics.is_empty());
        let ValueKind::Object(entries) = value.unwrap().kind else { panic!("a mapping") };
        assert_eq!(&text[entries[0].key.span.range()], "admin");
        let ValueKind::List(items) = &entries[1].value.kind else { panic!("a list") };
        assert_eq!(&text[items[1].span.range()], "\"b\"");
        assert!(matches!(items[2].kind, ValueKind::Number { .. }));
        assert!(matches!(items[3].kind, ValueKind::Bool(true)));
    }

    #[test]
    fn a_misspelled_field_is_reported_at_its_line() {
        let text = "static_resources:\n  clusters:\n  - name: a\n    conect_timeout: 1s\n";
        let diagnostics = validate_bootstrap(FileId(0), text, "1.38.2");
        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
        assert_eq!(diagnostics[0].code, codes::UNKNOWN_ENVOY_FIELD);
        assert_eq!(&text[diagnostics[0].primary_span().range()], "conect_timeout");
        assert_eq!(diagnostics[0].suggestions[0].replacement, "connect_timeout");
    }

    #[test]
    fn invalid_yaml_is_located() {
        let diagnostics = validate_bootstrap(FileId(0), "a: [1, 2\n", "1.38.2");
        assert_eq!(diagnostics[0].code, codes::INVALID_ENVOY_CONFIG);
    }
}
