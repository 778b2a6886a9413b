//! Envoy's schemas for completion and hover: which message the cursor is in, and how
//! a field, an enum value or a message is described, across the targeted versions.

use super::context::{Frame, is_type_path};
use crate::check::envoy_filter::patched_type;
use crate::driver::Analysis;
use crate::envoy::rules::{FieldRules, Rules};
use crate::envoy::{descriptor_pool, replacement};
use crate::versions;
use prost_reflect::{DescriptorPool, EnumValueDescriptor, FieldDescriptor, Kind, MessageDescriptor, Value};

/// The schemas of the Envoy builds a package targets, oldest first.
pub(crate) struct Envoys {
    pub versions: Vec<&'static str>,
    pub pools: Vec<DescriptorPool>,
}

impl Envoys {
    pub(super) fn of(analysis: &Analysis) -> Envoys {
        let mut builds: Vec<&'static str> = analysis.targets.envoy_versions();
        if builds.is_empty() {
            // Without targets, describe the newest supported Envoy.
            builds.extend(versions::ENVOY_BUILDS.last().map(|b| b.version));
        }
        let mut out = Envoys { versions: Vec::new(), pools: Vec::new() };
        for build in builds {
            if let Some(pool) = descriptor_pool(build) {
                out.versions.push(build);
                out.pools.push(pool);
            }
        }
        out
    }

    /// The newest pool, which answers questions that do not depend on the version.
    pub(super) fn newest(&self) -> Option<&DescriptorPool> {
        self.pools.last()
    }

    pub(super) fn message(&self, name: &str) -> Option<MessageDescriptor> {
        self.pools.iter().rev().find_map(|p| p.get_message_by_name(name))
    }

    /// The versions whose schema has `message.field`; all of them gives `None`.
    pub(super) fn only_in(&self, message: &str, field: Option<&str>) -> Option<Vec<&'static str>> {
        let have: Vec<&'static str> = self
            .versions
            .iter()
            .zip(&self.pools)
            .filter(|(_, pool)| {
                pool.get_message_by_name(message).is_some_and(|m| field.is_none_or(|f| find_field(&m, f).is_some()))
            })
            .map(|(v, _)| *v)
            .collect();
        (have.len() != self.versions.len()).then_some(have)
    }
}

/// A field by its proto name or its JSON (camelCase) name, as meshc accepts both.
pub(crate) fn find_field(message: &MessageDescriptor, key: &str) -> Option<FieldDescriptor> {
    message.get_field_by_name(key).or_else(|| message.get_field_by_json_name(key))
}

/// Where the cursor is inside Envoy values.
#[derive(Clone, Debug)]
pub(crate) enum Place {
    /// Among the fields of a message.
    Message(MessageDescriptor),
    /// Among the items of a repeated field.
    List(FieldDescriptor),
    /// Among the entries of a map field.
    Map(FieldDescriptor),
}

/// The Envoy message whose fields the innermost frames are in, if any.
pub(crate) fn place(envoys: &Envoys, frames: &[Frame]) -> Option<Place> {
    let (start, message) =
        frames.iter().enumerate().rev().find_map(|(i, _)| establish(envoys, frames, i).map(|m| (i, m)))?;
    let mut place = Place::Message(message);
    for frame in &frames[start + 1..] {
        place = step(place, frame)?;
    }
    Some(place)
}

/// The message a frame opens by naming its type (`envoy.x.v3.Lua {`, `typed_config: T {`)
/// or by standing where Istio puts one (`value {` in a `patch`).
fn establish(envoys: &Envoys, frames: &[Frame], index: usize) -> Option<MessageDescriptor> {
    let frame = &frames[index];
    if frame.bracket {
        return None;
    }
    let words = frame.words();
    let last = words.last()?.trim_end_matches(':');
    if is_type_path(last) {
        return envoys.message(last);
    }
    if last == "value" && words.len() == 1 {
        let patch = frames[..index].iter().rev().find(|f| f.first_word() == "patch")?;
        let apply_to = patch.words().get(1)?.to_ascii_uppercase();
        return envoys.message(filter_or_patched_type(&apply_to)?);
    }
    None
}

/// The message an EnvoyFilter patch value of `applyTo` is: the patched object, or the
/// filter wrapper (`name` and `typed_config`) for the filter kinds.
pub(crate) fn filter_or_patched_type(apply_to: &str) -> Option<&'static str> {
    patched_type(apply_to).or(match apply_to {
        "HTTP_FILTER" => Some("envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter"),
        "NETWORK_FILTER" => Some("envoy.config.listener.v3.Filter"),
        "LISTENER_FILTER" => Some("envoy.config.listener.v3.ListenerFilter"),
        _ => None,
    })
}

/// The package of type names an `insert` of `applyTo` takes.
pub(crate) fn insert_type_prefix(apply_to: &str) -> &'static str {
    match apply_to {
        "http_filter" => "envoy.extensions.filters.http.",
        "network_filter" => "envoy.extensions.filters.network.",
        "listener_filter" => "envoy.extensions.filters.listener.",
        _ => "envoy.",
    }
}

fn step(place: Place, frame: &Frame) -> Option<Place> {
    match place {
        Place::Message(message) => {
            let field = find_field(&message, frame.key()?)?;
            if frame.bracket {
                return field.is_list().then_some(Place::List(field));
            }
            if field.is_map() {
                return Some(Place::Map(field));
            }
            match field.kind() {
                Kind::Message(inner) => Some(Place::Message(inner)),
                _ => None,
            }
        }
        Place::List(field) if !frame.bracket && frame.header.is_empty() => match field.kind() {
            Kind::Message(inner) => Some(Place::Message(inner)),
            _ => None,
        },
        Place::Map(field) if !frame.bracket => {
            let Kind::Message(entry) = field.kind() else { return None };
            match entry.get_field_by_name("value")?.kind() {
                Kind::Message(inner) => Some(Place::Message(inner)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// A field's type as proto writes it: `string`, `repeated envoy.config.core.v3.HeaderValueOption`, `map<string, string>`.
pub(crate) fn field_type(field: &FieldDescriptor) -> String {
    if field.is_map()
        && let Kind::Message(entry) = field.kind()
    {
        let part = |name: &str| entry.get_field_by_name(name).map(|f| kind_name(&f.kind())).unwrap_or_default();
        return format!("map<{}, {}>", part("key"), part("value"));
    }
    let name = kind_name(&field.kind());
    if field.is_list() { format!("repeated {name}") } else { name }
}

fn kind_name(kind: &Kind) -> String {
    match kind {
        Kind::Double => "double".into(),
        Kind::Float => "float".into(),
        Kind::Int32 => "int32".into(),
        Kind::Int64 => "int64".into(),
        Kind::Uint32 => "uint32".into(),
        Kind::Uint64 => "uint64".into(),
        Kind::Sint32 => "sint32".into(),
        Kind::Sint64 => "sint64".into(),
        Kind::Fixed32 => "fixed32".into(),
        Kind::Fixed64 => "fixed64".into(),
        Kind::Sfixed32 => "sfixed32".into(),
        Kind::Sfixed64 => "sfixed64".into(),
        Kind::Bool => "bool".into(),
        Kind::String => "string".into(),
        Kind::Bytes => "bytes".into(),
        Kind::Message(m) => m.full_name().to_string(),
        Kind::Enum(e) => e.full_name().to_string(),
    }
}

fn flag_extension(options: &prost_reflect::DynamicMessage, pool: &DescriptorPool, name: &str) -> bool {
    pool.get_extension_by_name(name).is_some_and(|ext| {
        options.has_extension(&ext) && matches!(options.get_extension(&ext).as_ref(), Value::Bool(true))
    })
}

/// The protoc-gen-validate rules of a field, compiled by the checker's own code.
fn rules_of(field: &FieldDescriptor) -> Option<FieldRules> {
    crate::envoy::field_rules(&prost_reflect::prost::Message::encode_to_vec(&field.options()))
}

/// The rules as short phrases: `required`, `at least 1 character`, `> 0s`.
pub(crate) fn describe_rules(rules: &FieldRules) -> Vec<String> {
    let mut out = Vec::new();
    if rules.required {
        out.push("required".to_string());
    }
    let bounds = |out: &mut Vec<String>, r: &crate::envoy::rules::NumberRules, unit: &str| {
        let bound = |op: &str, v: Option<f64>| v.map(|v| format!("{op} {v}{unit}"));
        out.extend(
            [bound(">", r.gt), bound(">=", r.gte), bound("<", r.lt), bound("<=", r.lte), bound("=", r.constant)]
                .into_iter()
                .flatten(),
        );
        if !r.only.is_empty() {
            out.push(format!("one of {:?}", r.only));
        }
        if !r.not.is_empty() {
            out.push(format!("none of {:?}", r.not));
        }
    };
    match &rules.kind {
        Rules::None => {}
        Rules::Number(r) => bounds(&mut out, r, ""),
        Rules::Duration(r) => bounds(&mut out, r, "s"),
        Rules::Bool(Some(v)) => out.push(format!("must be {v}")),
        Rules::Bool(None) => {}
        Rules::String(r) | Rules::Bytes(r) => {
            let unit = if matches!(rules.kind, Rules::Bytes(_)) { "bytes" } else { "characters" };
            let count = |what: &str, v: Option<u64>, unit: &str| v.map(|v| format!("{what} {v} {unit}"));
            out.extend(
                [
                    count("exactly", r.len, unit),
                    count("at least", r.min_len, unit),
                    count("at most", r.max_len, unit),
                    count("exactly", r.len_bytes, "bytes"),
                    count("at least", r.min_bytes, "bytes"),
                    count("at most", r.max_bytes, "bytes"),
                    r.constant.as_ref().map(|c| format!("exactly {c:?}")),
                    r.pattern.as_ref().map(|p| format!("matches `{}`", p.source)),
                    r.prefix.as_ref().map(|p| format!("starts with {p:?}")),
                    r.suffix.as_ref().map(|p| format!("ends with {p:?}")),
                    r.contains.as_ref().map(|p| format!("contains {p:?}")),
                    r.not_contains.as_ref().map(|p| format!("does not contain {p:?}")),
                    r.well_known.map(|w| format!("a well-formed {w:?}")),
                ]
                .into_iter()
                .flatten(),
            );
            if !r.only.is_empty() {
                out.push(format!("one of {:?}", r.only));
            }
            if !r.not.is_empty() {
                out.push(format!("none of {:?}", r.not));
            }
        }
        Rules::Enum(r) => {
            if r.defined_only {
                out.push("a defined value".to_string());
            }
            if !r.only.is_empty() {
                out.push(format!("one of the numbers {:?}", r.only));
            }
        }
        Rules::Repeated(r) => {
            out.extend(r.min_items.map(|n| format!("at least {n} items")));
            out.extend(r.max_items.map(|n| format!("at most {n} items")));
            if r.unique {
                out.push("unique items".to_string());
            }
            if let Some(items) = &r.items {
                out.extend(describe_rules(items).into_iter().map(|p| format!("each item: {p}")));
            }
        }
        Rules::Map(r) => {
            out.extend(r.min_pairs.map(|n| format!("at least {n} entries")));
            out.extend(r.max_pairs.map(|n| format!("at most {n} entries")));
            if let Some(keys) = &r.keys {
                out.extend(describe_rules(keys).into_iter().map(|p| format!("each key: {p}")));
            }
            if let Some(values) = &r.values {
                out.extend(describe_rules(values).into_iter().map(|p| format!("each value: {p}")));
            }
        }
        Rules::Any { only, .. } => {
            if !only.is_empty() {
                out.push(format!("one of the types {}", only.join(", ")));
            }
        }
    }
    out
}

/// Markdown about a field of an Envoy message.
pub(crate) fn field_markdown(envoys: &Envoys, message: &MessageDescriptor, field: &FieldDescriptor) -> String {
    let mut out = format!("```\n{}: {}\n```\nField of `{}`", field.name(), field_type(field), message.full_name());
    if let Some(oneof) = field.containing_oneof().filter(|o| !o.is_synthetic()) {
        out.push_str(&format!(", one of `{}`", oneof.name()));
    }
    out.push_str(&format!(" (JSON `{}`).", field.json_name()));
    if let Some(rules) = rules_of(field) {
        let phrases = describe_rules(&rules);
        if !phrases.is_empty() {
            out.push_str(&format!("\n\nValidation: {}.", phrases.join("; ")));
        }
    }
    let deprecated = field.field_descriptor_proto().options.as_ref().is_some_and(|o| o.deprecated());
    let disallowed = flag_extension(&field.options(), field.parent_pool(), "envoy.annotations.disallowed_by_default");
    if deprecated || disallowed {
        out.push_str("\n\n**Deprecated**");
        if disallowed {
            out.push_str(", disallowed by default (rejected from Envoy 1.39 on)");
        }
        match replacement(field.full_name()) {
            Some(replacement) => out.push_str(&format!(": use `{replacement}` instead.")),
            None => out.push('.'),
        }
    }
    out.push_str(&versions_line(envoys, message.full_name(), Some(field.name())));
    out
}

pub(crate) fn message_markdown(envoys: &Envoys, message: &MessageDescriptor) -> String {
    let fields: Vec<String> = message.fields().map(|f| format!("`{}`", f.name())).collect();
    let mut out = format!("```\nmessage {}\n```", message.full_name());
    if !fields.is_empty() {
        out.push_str(&format!("\nFields: {}.", fields.join(", ")));
    }
    out.push_str(&versions_line(envoys, message.full_name(), None));
    out
}

pub(crate) fn enum_value_markdown(value: &EnumValueDescriptor) -> String {
    let mut out =
        format!("```\n{} = {}\n```\nValue of `{}`.", value.name(), value.number(), value.parent_enum().full_name());
    if value.enum_value_descriptor_proto().options.as_ref().is_some_and(|o| o.deprecated()) {
        out.push_str("\n\n**Deprecated.**");
    }
    out
}

fn versions_line(envoys: &Envoys, message: &str, field: Option<&str>) -> String {
    match envoys.only_in(message, field) {
        None => format!("\n\nIn every targeted Envoy: {}.", envoys.versions.join(", ")),
        Some(have) if have.is_empty() => "\n\nIn none of the targeted Envoy versions.".to_string(),
        Some(have) => format!(
            "\n\nOnly in Envoy {} (not in {}).",
            have.join(", "),
            envoys.versions.iter().filter(|v| !have.contains(v)).copied().collect::<Vec<_>>().join(", ")
        ),
    }
}
