//! The spanned value tree that Envoy configuration is checked as.
//!
//! Three sources feed it: the YAML and JSON reader of `meshc envoy validate`, the
//! lowering of `.mesh` values (message literals and EnvoyFilter patch values), and the
//! raw Envoy target's bootstraps. Every node carries the byte span of what produced
//! it: text in a YAML file, a value in a `.mesh` file, or the declaration a bootstrap
//! part was built from. The Envoy schema checker reads nothing else, so its
//! diagnostics always point at what the user wrote.

use crate::span::Span;
use serde_json::{Map, Value as Json};

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    Null,
    Bool(bool),
    /// A number with the text it was written as, which decides whether it is whole.
    Number {
        value: f64,
        raw: String,
    },
    String(String),
    /// A `.mesh` duration (`250ms`), in nanoseconds.
    Duration {
        nanos: i128,
    },
    List(Vec<Node>),
    Object(Vec<Member>),
    /// A `.mesh` message literal, `envoy.extensions....Type { ... }`: an object whose
    /// type is written beside it.
    Message {
        type_name: String,
        type_span: Span,
        fields: Vec<Member>,
    },
    /// A value another phase has already judged (a syntax error, an unknown name):
    /// the schema checker passes over it without a word.
    Unchecked,
}

/// One field of an object: its key as written and the key's own span.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    pub key: String,
    pub key_span: Span,
    pub value: Node,
}

impl Member {
    pub fn new(key: impl Into<String>, key_span: Span, value: Node) -> Member {
        Member { key: key.into(), key_span, value }
    }

    /// The span of the whole `key: value` entry.
    pub fn span(&self) -> Span {
        self.key_span.cover(self.value.span)
    }
}

impl Node {
    pub fn new(kind: NodeKind, span: Span) -> Node {
        Node { kind, span }
    }

    pub fn string(text: impl Into<String>, span: Span) -> Node {
        Node::new(NodeKind::String(text.into()), span)
    }

    /// An object whose keys all stand at `span`.
    pub fn object(members: Vec<(&str, Node)>, span: Span) -> Node {
        let members = members.into_iter().map(|(key, value)| Member::new(key, span, value)).collect();
        Node::new(NodeKind::Object(members), span)
    }

    /// JSON data as a tree whose every node stands at `span`: the parts of a
    /// bootstrap that one declaration produced.
    pub fn from_json(json: &Json, span: Span) -> Node {
        let kind = match json {
            Json::Null => NodeKind::Null,
            Json::Bool(b) => NodeKind::Bool(*b),
            Json::Number(n) => NodeKind::Number { value: n.as_f64().unwrap_or(0.0), raw: n.to_string() },
            Json::String(s) => NodeKind::String(s.clone()),
            Json::Array(items) => NodeKind::List(items.iter().map(|item| Node::from_json(item, span)).collect()),
            Json::Object(map) => NodeKind::Object(
                map.iter().map(|(key, item)| Member::new(key.clone(), span, Node::from_json(item, span))).collect(),
            ),
        };
        Node { kind, span }
    }

    /// The tree as JSON data, as it is written into a resource or a bootstrap: a
    /// message literal gets its `@type`, a duration becomes protobuf JSON's `"5s"`.
    /// An unchecked node (which only a tree with errors holds) becomes null.
    pub fn to_json(&self) -> Json {
        match &self.kind {
            NodeKind::Null | NodeKind::Unchecked => Json::Null,
            NodeKind::Bool(b) => Json::Bool(*b),
            NodeKind::Number { value, raw } => number_json(*value, raw),
            NodeKind::String(s) => Json::String(s.clone()),
            NodeKind::Duration { nanos } => Json::String(crate::duration::format_duration(*nanos)),
            NodeKind::List(items) => Json::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Object(members) => Json::Object(members_to_json(members)),
            NodeKind::Message { type_name, fields, .. } => {
                let mut object = Map::new();
                object.insert("@type".to_string(), Json::String(format!("type.googleapis.com/{type_name}")));
                object.extend(members_to_json(fields));
                Json::Object(object)
            }
        }
    }

    /// What the value is, for messages: "a string", "an object".
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            NodeKind::String(_) => "a string",
            NodeKind::Number { .. } => "a number",
            NodeKind::Duration { .. } => "a duration",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Null => "null",
            NodeKind::List(_) => "a list",
            NodeKind::Object(_) => "an object",
            NodeKind::Message { .. } => "a typed message",
            NodeKind::Unchecked => "an invalid value",
        }
    }

    /// The members of an object or a message literal.
    pub fn members(&self) -> Option<&[Member]> {
        match &self.kind {
            NodeKind::Object(members) | NodeKind::Message { fields: members, .. } => Some(members),
            _ => None,
        }
    }

    /// The value of an object's field.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.members()?.iter().find(|m| m.key == key).map(|m| &m.value)
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::String(s) => Some(s),
            _ => None,
        }
    }

    /// Sets an object's field, replacing the value of a field of that name.
    pub fn insert(&mut self, key: &str, value: Node) {
        let span = value.span;
        if let NodeKind::Object(members) | NodeKind::Message { fields: members, .. } = &mut self.kind {
            match members.iter_mut().find(|m| m.key == key) {
                Some(member) => member.value = value,
                None => members.push(Member::new(key, span, value)),
            }
        }
    }

    /// A deep merge, as istiod merges a MERGE patch: objects are merged field by
    /// field, anything else (lists included) is replaced by the patch's value.
    pub fn merge(&mut self, patch: &Node) {
        match (&mut self.kind, &patch.kind) {
            (NodeKind::Object(target), NodeKind::Object(source)) => {
                for member in source {
                    match target.iter_mut().find(|m| m.key == member.key) {
                        Some(existing)
                            if matches!(existing.value.kind, NodeKind::Object(_))
                                && matches!(member.value.kind, NodeKind::Object(_)) =>
                        {
                            existing.value.merge(&member.value)
                        }
                        Some(existing) => *existing = member.clone(),
                        None => target.push(member.clone()),
                    }
                }
            }
            _ => *self = patch.clone(),
        }
    }
}

fn members_to_json(members: &[Member]) -> Map<String, Json> {
    members.iter().map(|m| (m.key.clone(), m.value.to_json())).collect()
}

/// A number as JSON: whole numbers written without a fraction stay integers.
pub fn number_json(number: f64, raw: &str) -> Json {
    if !raw.contains(['.', 'e', 'E'])
        && let Ok(integer) = raw.parse::<i64>()
    {
        return Json::from(integer);
    }
    serde_json::Number::from_f64(number).map(Json::Number).unwrap_or(Json::Null)
}

/// A tree is written into a resource as the JSON it stands for.
impl serde::Serialize for Node {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::FileId;
    use serde_json::json;

    fn at(start: u32) -> Span {
        Span::new(FileId(0), start, start + 1)
    }

    #[test]
    fn a_merge_is_deep_and_replaces_lists_keeping_the_patch_spans() {
        let mut cluster = Node::from_json(&json!({ "name": "a", "thresholds": [1], "x": { "y": 1 } }), at(0));
        let patch = Node::from_json(&json!({ "x": { "z": 2 }, "thresholds": [2, 3] }), at(9));
        cluster.merge(&patch);
        assert_eq!(cluster.to_json(), json!({ "name": "a", "thresholds": [2, 3], "x": { "y": 1, "z": 2 } }));
        assert_eq!(cluster.get("x").and_then(|x| x.get("z")).map(|z| z.span), Some(at(9)));
        assert_eq!(cluster.get("name").map(|n| n.span), Some(at(0)));
    }

    #[test]
    fn message_literals_and_durations_become_protobuf_json() {
        let message = Node::new(
            NodeKind::Message {
                type_name: "envoy.config.cluster.v3.Cluster".into(),
                type_span: at(0),
                fields: vec![Member::new(
                    "connect_timeout",
                    at(1),
                    Node::new(NodeKind::Duration { nanos: 250_000_000 }, at(2)),
                )],
            },
            at(0),
        );
        assert_eq!(
            message.to_json(),
            json!({ "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster", "connect_timeout": "0.250s" })
        );
    }
}
