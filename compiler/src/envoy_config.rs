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
use std::collections::HashMap;

const BOOTSTRAP: &str = "envoy.config.bootstrap.v3.Bootstrap";

/// Checks a bootstrap file against the schema of one Envoy build (`1.38.2`).
pub fn validate_bootstrap(file: FileId, text: &str, envoy: &'static str) -> Vec<Diagnostic> {
    validate_bootstrap_in(file, text, &[envoy])
}

/// Checks a bootstrap file against the schemas of several Envoy builds, reading it
/// once; a mistake that only some of them reject names them.
pub fn validate_bootstrap_in(file: FileId, text: &str, envoys: &[&'static str]) -> Vec<Diagnostic> {
    let (value, mut diagnostics) = parse_yaml(file, text);
    match value {
        Some(value) => diagnostics.extend(check_bootstrap(&value, envoys)),
        // Envoy cannot turn an empty document into a config.
        None if diagnostics.is_empty() => diagnostics.push(
            Diagnostic::new(codes::INVALID_ENVOY_CONFIG, Span::new(file, 0, 0), "the file holds no configuration")
                .with_help("a bootstrap is a mapping with `static_resources`, `admin` and the like"),
        ),
        None => {}
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
            &runtime_allowed_deprecations(entries),
        ),
        ValueKind::Null => vec![
            Diagnostic::new(codes::INVALID_ENVOY_CONFIG, value.span, "the file holds no configuration")
                .with_help("a bootstrap is a mapping with `static_resources`, `admin` and the like"),
        ],
        _ => vec![Diagnostic::new(codes::ENVOY_VALUE_MISMATCH, value.span, "a bootstrap is a mapping of fields")],
    }
}

/// The deprecated fields that the bootstrap's static runtime layers re-enable,
/// `envoy.deprecated_features:FULL.FIELD.NAME: true`, which Envoy then accepts even
/// where they are disallowed by default.
fn runtime_allowed_deprecations(entries: &[Entry]) -> Vec<String> {
    let mut allowed = Vec::new();
    let field = |entries: &'_ [Entry], name: &str| -> Option<ValueKind> {
        entries.iter().find(|e| e.key.name == name).map(|e| e.value.kind.clone())
    };
    let Some(ValueKind::Object(runtime)) = field(entries, "layered_runtime") else { return allowed };
    let Some(ValueKind::List(layers)) = field(&runtime, "layers") else { return allowed };
    for layer in layers {
        let ValueKind::Object(layer) = &layer.kind else { continue };
        let Some(ValueKind::Object(values)) = field(layer, "static_layer") else { continue };
        for entry in values {
            if let Some(name) = entry.key.name.strip_prefix("envoy.deprecated_features:")
                && matches!(&entry.value.kind, ValueKind::Bool(true))
            {
                allowed.push(name.to_string());
            }
        }
    }
    allowed
}

/// Reads one YAML (or JSON) document into a value with byte spans.
pub fn parse_yaml(file: FileId, text: &str) -> (Option<Value>, Vec<Diagnostic>) {
    // The parser counts characters; spans are bytes.
    let mut byte_of_char: Vec<u32> = text.char_indices().map(|(i, _)| i as u32).collect();
    byte_of_char.push(text.len() as u32);
    let byte = |index: usize| byte_of_char.get(index).copied().unwrap_or(text.len() as u32);
    let mut builder = Builder { file, stack: Vec::new(), root: None, diagnostics: Vec::new(), anchors: HashMap::new() };
    for event in Parser::new_from_str(text) {
        match event {
            // Envoy reads the first document of a file and ignores the rest.
            Ok((Event::DocumentEnd, _)) => break,
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
    Map { start: Span, entries: Vec<Entry>, key: Option<Key>, anchor: usize },
    List { start: Span, items: Vec<Value>, anchor: usize },
}

struct Builder {
    file: FileId,
    stack: Vec<Frame>,
    root: Option<Value>,
    diagnostics: Vec<Diagnostic>,
    /// Values with a YAML anchor (`&name`), which aliases (`*name`) repeat: Envoy's
    /// YAML loader resolves them.
    anchors: HashMap<usize, Value>,
}

impl Builder {
    fn event(&mut self, event: Event<'_>, span: Span) {
        match event {
            Event::MappingStart(anchor, _) => {
                self.stack.push(Frame::Map { start: span, entries: Vec::new(), key: None, anchor })
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::List { start: span, items: Vec::new(), anchor }),
            Event::MappingEnd => {
                if let Some(Frame::Map { start, entries, anchor, .. }) = self.stack.pop() {
                    let end = entries.last().map(|e| e.span.end).unwrap_or(span.end).max(start.end);
                    let value =
                        Value { kind: ValueKind::Object(entries), span: Span::new(self.file, start.start, end) };
                    self.anchored(anchor, value);
                }
            }
            Event::SequenceEnd => {
                if let Some(Frame::List { start, items, anchor }) = self.stack.pop() {
                    let end = items.last().map(|v| v.span.end).unwrap_or(span.end).max(start.end);
                    let value = Value { kind: ValueKind::List(items), span: Span::new(self.file, start.start, end) };
                    self.anchored(anchor, value);
                }
            }
            Event::Scalar(text, style, anchor, _) => {
                // A mapping waiting for its key takes the scalar as the key.
                if let Some(Frame::Map { key: key @ None, .. }) = self.stack.last_mut() {
                    *key = Some(Key { name: text.to_string(), span, quoted: style != ScalarStyle::Plain });
                    return;
                }
                let kind = scalar_kind(&text, style, span);
                self.anchored(anchor, Value { kind, span });
            }
            Event::Alias(anchor) => match self.anchors.get(&anchor).cloned() {
                Some(value) => {
                    if let Some(Frame::Map { key: key @ None, .. }) = self.stack.last_mut() {
                        // An aliased key: its text is the key.
                        let name = match &value.kind {
                            ValueKind::String(s) => s.value.clone(),
                            ValueKind::Number { raw, .. } => raw.clone(),
                            _ => String::new(),
                        };
                        *key = Some(Key { name, span, quoted: true });
                        return;
                    }
                    self.value(value);
                }
                None => {
                    self.diagnostics.push(Diagnostic::new(
                        codes::INVALID_ENVOY_CONFIG,
                        span,
                        "this YAML alias names no anchor before it",
                    ));
                    self.value(Value { kind: ValueKind::Error, span });
                }
            },
            _ => {}
        }
    }

    /// A finished value, remembered for aliases when it has an anchor.
    fn anchored(&mut self, anchor: usize, value: Value) {
        if anchor != 0 {
            self.anchors.insert(anchor, value.clone());
        }
        self.value(value);
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

/// Plain scalars as Envoy's YAML loader (yaml-cpp) reads them: null, YAML 1.1's
/// booleans (`yes`, `on`, `y` and their capitalised forms too), decimal, hex and
/// octal integers, and floats; anything else is a string.
fn scalar_kind(text: &str, style: ScalarStyle, span: Span) -> ValueKind {
    if style == ScalarStyle::Plain {
        match text {
            "" | "~" | "null" | "Null" | "NULL" => return ValueKind::Null,
            "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "y" | "Y" => {
                return ValueKind::Bool(true);
            }
            "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "n" | "N" => {
                return ValueKind::Bool(false);
            }
            _ => {}
        }
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let radix = if let Some(hex) = digits.strip_prefix("0x") {
            Some((hex, 16))
        } else {
            digits.strip_prefix("0o").map(|octal| (octal, 8))
        };
        if let Some((body, radix)) = radix
            && let Ok(number) = i128::from_str_radix(body, radix)
        {
            let number = if negative { -number } else { number };
            return ValueKind::Number { value: number as f64, raw: number.to_string() };
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
