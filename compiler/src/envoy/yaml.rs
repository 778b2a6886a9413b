//! Envoy's own YAML and JSON (a bootstrap given to `meshc envoy validate`), read as
//! Envoy's loader reads it into the spanned tree the schema checker checks, so
//! that every diagnostic points at the line in the user's file.

use crate::diagnostic::codes::Code;
use crate::diagnostic::{Diagnostic, codes};
use crate::model::node::{Member, Node, NodeKind};
use crate::span::{FileId, Span};
use saphyr_parser::{Event, Parser, ScalarStyle};
use std::collections::HashMap;

/// Reads one YAML (or JSON) document into a value with byte spans.
pub fn parse_yaml(file: FileId, text: &str) -> (Option<Node>, Vec<Diagnostic>) {
    // Envoy reads the first document of a file and ignores the rest.
    let (documents, diagnostics) = read_documents(file, text, codes::INVALID_ENVOY_CONFIG, Some(1));
    (documents.into_iter().next(), diagnostics)
}

/// Reads every document of a YAML stream (`---`-separated Kubernetes manifests) into
/// values with byte spans; empty documents are skipped. A syntax error ends the
/// stream: the documents before it are returned with a diagnostic of code `code`.
pub fn parse_yaml_documents(file: FileId, text: &str, code: Code) -> (Vec<Node>, Vec<Diagnostic>) {
    read_documents(file, text, code, None)
}

fn read_documents(file: FileId, text: &str, code: Code, limit: Option<usize>) -> (Vec<Node>, Vec<Diagnostic>) {
    // The parser counts characters; spans are bytes.
    let mut byte_of_char: Vec<u32> = text.char_indices().map(|(i, _)| i as u32).collect();
    byte_of_char.push(text.len() as u32);
    let byte = |index: usize| byte_of_char.get(index).copied().unwrap_or(text.len() as u32);
    let mut builder =
        Builder { file, code, stack: Vec::new(), root: None, diagnostics: Vec::new(), anchors: HashMap::new() };
    let mut documents = Vec::new();
    for event in Parser::new_from_str(text) {
        match event {
            Ok((Event::DocumentEnd, _)) => {
                // Anchors are local to their document.
                builder.anchors.clear();
                builder.stack.clear();
                if let Some(root) = builder.root.take()
                    && root.kind != NodeKind::Null
                {
                    documents.push(root);
                }
                if limit.is_some_and(|limit| documents.len() >= limit) {
                    break;
                }
            }
            Ok((event, span)) => builder.event(
                event,
                Span::new(file, byte(span.start.index()), byte(span.end.index()).max(byte(span.start.index()))),
            ),
            Err(error) => {
                let at = byte(error.marker().index());
                builder.diagnostics.push(Diagnostic::new(
                    code,
                    Span::new(file, at, at),
                    format!("this is not valid YAML: {}", error.info()),
                ));
                return (documents, builder.diagnostics);
            }
        }
    }
    (documents, builder.diagnostics)
}

enum Frame {
    Map { start: Span, entries: Vec<Member>, key: Option<(String, Span)>, anchor: usize },
    List { start: Span, items: Vec<Node>, anchor: usize },
}

struct Builder {
    file: FileId,
    /// The code of the diagnostics about the YAML itself.
    code: Code,
    stack: Vec<Frame>,
    root: Option<Node>,
    diagnostics: Vec<Diagnostic>,
    /// Values with a YAML anchor (`&name`), which aliases (`*name`) repeat: Envoy's
    /// YAML loader resolves them.
    anchors: HashMap<usize, Node>,
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
                    let end = entries.last().map(|e| e.span().end).unwrap_or(span.end).max(start.end);
                    let value = Node { kind: NodeKind::Object(entries), span: Span::new(self.file, start.start, end) };
                    self.anchored(anchor, value);
                }
            }
            Event::SequenceEnd => {
                if let Some(Frame::List { start, items, anchor }) = self.stack.pop() {
                    let end = items.last().map(|v| v.span.end).unwrap_or(span.end).max(start.end);
                    let value = Node { kind: NodeKind::List(items), span: Span::new(self.file, start.start, end) };
                    self.anchored(anchor, value);
                }
            }
            Event::Scalar(text, style, anchor, _) => {
                // A mapping waiting for its key takes the scalar as the key.
                if let Some(Frame::Map { key: key @ None, .. }) = self.stack.last_mut() {
                    *key = Some((text.to_string(), span));
                    return;
                }
                let kind = scalar_kind(&text, style);
                self.anchored(anchor, Node { kind, span });
            }
            Event::Alias(anchor) => match self.anchors.get(&anchor).cloned() {
                Some(value) => {
                    if let Some(Frame::Map { key: key @ None, .. }) = self.stack.last_mut() {
                        // An aliased key: its text is the key.
                        let name = match &value.kind {
                            NodeKind::String(s) => s.clone(),
                            NodeKind::Number { raw, .. } => raw.clone(),
                            _ => String::new(),
                        };
                        *key = Some((name, span));
                        return;
                    }
                    self.value(value);
                }
                None => {
                    self.diagnostics.push(Diagnostic::new(
                        self.code,
                        span,
                        "this YAML alias names no anchor before it",
                    ));
                    self.value(Node { kind: NodeKind::Unchecked, span });
                }
            },
            _ => {}
        }
    }

    /// A finished value, remembered for aliases when it has an anchor.
    fn anchored(&mut self, anchor: usize, value: Node) {
        if anchor != 0 {
            self.anchors.insert(anchor, value.clone());
        }
        self.value(value);
    }

    fn value(&mut self, value: Node) {
        match self.stack.last_mut() {
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                Some((key, key_span)) => entries.push(Member::new(key, key_span, value)),
                None => {
                    // A mapping or list used as a key: not something Envoy reads.
                    self.diagnostics.push(Diagnostic::new(self.code, value.span, "keys must be plain strings"));
                    *key = Some((String::new(), value.span));
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
fn scalar_kind(text: &str, style: ScalarStyle) -> NodeKind {
    if style == ScalarStyle::Plain {
        match text {
            "" | "~" | "null" | "Null" | "NULL" => return NodeKind::Null,
            "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "y" | "Y" => {
                return NodeKind::Bool(true);
            }
            "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "n" | "N" => {
                return NodeKind::Bool(false);
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
            return NodeKind::Number { value: number as f64, raw: number.to_string() };
        }
        let looks_numeric =
            text.trim_start_matches(['-', '+']).chars().next().is_some_and(|c| c.is_ascii_digit() || c == '.');
        if looks_numeric && let Ok(value) = text.parse::<f64>() {
            return NodeKind::Number { value, raw: text.to_string() };
        }
    }
    NodeKind::String(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_document_of_a_stream_is_read_with_its_spans() {
        let text = "---\nkind: A\n---\n# only a comment\n---\nkind: B\nx: &anchor 1\ny: *anchor\n";
        let (documents, diagnostics) = parse_yaml_documents(FileId(0), text, codes::INVALID_ENVOY_CONFIG);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        assert_eq!(documents.len(), 2);
        assert_eq!(documents[1].get("kind").and_then(Node::as_str), Some("B"));
        assert_eq!(&text[documents[1].get("kind").unwrap().span.range()], "B");
        assert!(matches!(documents[1].get("y").unwrap().kind, NodeKind::Number { .. }));
        // Envoy's reader keeps the first document only.
        let (first, _) = parse_yaml(FileId(0), text);
        assert_eq!(first.unwrap().get("kind").and_then(Node::as_str), Some("A"));
    }

    #[test]
    fn a_syntax_error_keeps_the_documents_before_it() {
        let text = "kind: A\n---\nkind: [B\n";
        let (documents, diagnostics) = parse_yaml_documents(FileId(0), text, codes::INVALID_ENVOY_CONFIG);
        assert_eq!(documents.len(), 1);
        assert_eq!(diagnostics.len(), 1);
        assert_eq!(diagnostics[0].code, codes::INVALID_ENVOY_CONFIG);
    }

    #[test]
    fn yaml_values_keep_their_spans() {
        let text = "admin:\n  address: { socket_address: { port_value: 9901 } }\nlist: [a, \"b\", 1.5, true]\n";
        let (value, diagnostics) = parse_yaml(FileId(0), text);
        assert!(diagnostics.is_empty());
        let NodeKind::Object(entries) = value.unwrap().kind else { panic!("a mapping") };
        assert_eq!(&text[entries[0].key_span.range()], "admin");
        let NodeKind::List(items) = &entries[1].value.kind else { panic!("a list") };
        assert_eq!(&text[items[1].span.range()], "\"b\"");
        assert!(matches!(items[2].kind, NodeKind::Number { .. }));
        assert!(matches!(items[3].kind, NodeKind::Bool(true)));
    }
}
