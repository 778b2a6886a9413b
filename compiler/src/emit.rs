//! Resources to YAML, and where each one goes.
//!
//! Layout of `meshc build -o DIR`: one file per resource at
//! `DIR/<namespace>/<kind in lower case>/<name>.yaml`, for example
//! `out/my-app/telemetry/custom-metrics.yaml`. Names are unique per kind and
//! namespace in a cluster, so paths never collide.

use crate::model::istio::Resource;
use serde_json::{Map, Value as Json};

/// The path of a resource's file, relative to the output directory.
pub fn output_path(resource: &Resource) -> String {
    let meta = resource.metadata();
    format!("{}/{}/{}.yaml", meta.namespace, resource.kind().to_ascii_lowercase(), meta.name)
}

/// The resource as JSON data, with `apiVersion` and `kind` first.
pub fn to_json_value(resource: &Resource) -> Json {
    let (metadata, spec) = match resource {
        Resource::Telemetry(r) => (serde_json::to_value(&r.metadata), serde_json::to_value(&r.spec)),
        Resource::WasmPlugin(r) => (serde_json::to_value(&r.metadata), serde_json::to_value(&r.spec)),
        Resource::EnvoyFilter(r) => (serde_json::to_value(&r.metadata), serde_json::to_value(&r.spec)),
    };
    let mut object = Map::new();
    object.insert("apiVersion".to_string(), Json::String(resource.api_version().to_string()));
    object.insert("kind".to_string(), Json::String(resource.kind().to_string()));
    // The model holds only strings, numbers, booleans, maps and lists, which always serialise.
    object.insert("metadata".to_string(), metadata.expect("metadata serialises"));
    object.insert("spec".to_string(), spec.expect("spec serialises"));
    Json::Object(object)
}

/// The resource as YAML text: two-space indentation, list items at their key's
/// indentation, multi-line strings as literal blocks, and a trailing newline. The same
/// resource always gives the same bytes.
pub fn to_yaml(resource: &Resource) -> String {
    let mut out = String::new();
    write_value(&mut out, &to_json_value(resource), 0, Position::Document);
    out
}

/// Any JSON value as YAML text, written as resources are (for the raw Envoy target's
/// bootstraps).
pub fn json_to_yaml(value: &Json) -> String {
    let mut out = String::new();
    write_value(&mut out, value, 0, Position::Document);
    out
}

/// Where a value is written, which decides how it starts.
#[derive(Clone, Copy, PartialEq)]
enum Position {
    Document,
    /// After `key:`.
    MapValue,
    /// After `- `.
    ListItem,
}

fn write_value(out: &mut String, value: &Json, indent: usize, position: Position) {
    match value {
        Json::Object(map) if !map.is_empty() => {
            for (i, (key, item)) in map.iter().enumerate() {
                // The first entry of a list item stands on the `- ` line.
                if !(position == Position::ListItem && i == 0) {
                    if !out.is_empty() && !out.ends_with('\n') {
                        out.push('\n');
                    }
                    push_indent(out, indent);
                }
                push_scalar(out, key);
                out.push(':');
                match item {
                    Json::Object(m) if !m.is_empty() => write_value(out, item, indent + 2, Position::MapValue),
                    // Kubernetes style: list items at the key's indentation.
                    Json::Array(a) if !a.is_empty() => write_value(out, item, indent, Position::MapValue),
                    _ => {
                        out.push(' ');
                        write_scalar(out, item, indent + 2);
                    }
                }
            }
            if position == Position::Document {
                out.push('\n');
            }
        }
        Json::Array(items) if !items.is_empty() => {
            for item in items {
                if !out.is_empty() && !out.ends_with('\n') {
                    out.push('\n');
                }
                push_indent(out, indent);
                out.push_str("- ");
                match item {
                    Json::Object(m) if !m.is_empty() => write_value(out, item, indent + 2, Position::ListItem),
                    Json::Array(a) if !a.is_empty() => {
                        // A list in a list: start it on its own line, one level deeper.
                        out.pop();
                        write_value(out, item, indent + 2, Position::MapValue);
                    }
                    _ => write_scalar(out, item, indent + 2),
                }
            }
            if position == Position::Document {
                out.push('\n');
            }
        }
        _ => {
            write_scalar(out, value, indent);
            if position == Position::Document {
                out.push('\n');
            }
        }
    }
}

fn push_indent(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

fn write_scalar(out: &mut String, value: &Json, indent: usize) {
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => out.push_str(&n.to_string()),
        Json::String(text) => match literal_block(text, indent) {
            Some(block) => out.push_str(&block),
            None => push_scalar(out, text),
        },
        Json::Object(_) => out.push_str("{}"),
        Json::Array(_) => out.push_str("[]"),
    }
}

/// A multi-line string as a literal block (`|`, `|-` or `|+` for its final line
/// breaks), when YAML can hold it that way unchanged.
fn literal_block(text: &str, indent: usize) -> Option<String> {
    if !text.contains('\n')
        || text.starts_with([' ', '\t', '\n'])
        || text.chars().any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return None;
    }
    let body = text.trim_end_matches('\n');
    let trailing = text.len() - body.len();
    let chomping = match trailing {
        0 => "-",
        1 => "",
        _ => "+",
    };
    let mut out = format!("|{chomping}");
    let pad = " ".repeat(indent);
    for line in text[..body.len() + trailing.saturating_sub(1)].split('\n') {
        out.push('\n');
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
    }
    Some(out)
}

fn push_scalar(out: &mut String, text: &str) {
    if plain_is_safe(text) {
        out.push_str(text);
    } else {
        out.push_str(&scalar(text));
    }
}

/// A string as a YAML scalar: plain where every YAML reader (1.1 as in Kubernetes'
/// parser, and 1.2) reads it back as the same string, quoted otherwise.
fn scalar(text: &str) -> String {
    if plain_is_safe(text) {
        return text.to_string();
    }
    if text.chars().all(|c| !c.is_control()) {
        return format!("'{}'", text.replace('\'', "''"));
    }
    serde_json::to_string(text).expect("strings serialise")
}

fn plain_is_safe(text: &str) -> bool {
    const RESERVED: &[&str] = &[
        "null", "Null", "NULL", "~", "true", "True", "TRUE", "false", "False", "FALSE", "yes", "Yes", "YES", "no",
        "No", "NO", "on", "On", "ON", "off", "Off", "OFF", "y", "Y", "n", "N", "=", "<<",
    ];
    let Some(first) = text.chars().next() else { return false };
    if RESERVED.contains(&text) || looks_numeric(text) {
        return false;
    }
    if text.starts_with([
        '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`', ' ', '\t',
    ]) && !(first == '-' && text.len() > 1 && !text[1..].starts_with([' ', '\t']) && !looks_numeric(text))
    {
        return false;
    }
    if text.ends_with([' ', '\t', ':']) || text.contains(": ") || text.contains(" #") || text.contains('\n') {
        return false;
    }
    text.chars().all(|c| !c.is_control())
}

/// Whether a YAML 1.1 or 1.2 reader could take the text for a number (decimal, octal,
/// hexadecimal, binary, sexagesimal, with `_` separators, or infinities and NaN).
fn looks_numeric(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    let unsigned = lower.trim_start_matches(['+', '-']);
    if matches!(unsigned, ".inf" | ".nan") {
        return true;
    }
    if unsigned.is_empty() || !unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return false;
    }
    unsigned.chars().all(|c| c.is_ascii_hexdigit() || matches!(c, '.' | '_' | ':' | 'x' | 'o' | 'b' | 'e' | '+' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ambiguous_strings_are_quoted() {
        for text in [
            "yes", "no", "on", "off", "y", "null", "~", "123", "1.5", "0x1f", "1:20", "1_000", "1e3", "@at", "- dash",
            "a: b", "#x", " lead", "trail ", "",
        ] {
            let quoted = scalar(text);
            assert_ne!(quoted, text, "{text} must be quoted");
        }
        for text in
            ["request.host", "envoy.filters.http.router", "x-custom-id", "IfNotPresent", "oci://ghcr.io/a/b:v1", "-x"]
        {
            assert_eq!(scalar(text), text);
        }
        assert_eq!(scalar("a: 'b'"), "'a: ''b'''");
        assert_eq!(scalar("a\tb"), "\"a\\tb\"");
    }

    #[test]
    fn multi_line_strings_become_literal_blocks() {
        assert_eq!(literal_block("a\n  b\n", 2).as_deref(), Some("|\n  a\n    b"));
        assert_eq!(literal_block("a\nb", 0).as_deref(), Some("|-\na\nb"));
        assert_eq!(literal_block("a\n\n", 0).as_deref(), Some("|+\na\n"));
        assert_eq!(literal_block(" lead\nx", 0), None);
    }
}

/// The forms a MeshConfig fragment is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MeshConfigForm {
    /// `extensionProviders:` at the top, as in the `mesh` key of the `istio` ConfigMap.
    MeshConfig,
    /// An IstioOperator for `istioctl install -f`.
    IstioOperator,
    /// Values of the `istiod` Helm chart (`meshConfig:`).
    Helm,
}

/// The package's declared providers (not Istio's built-in ones) as MeshConfig
/// `extensionProviders`, in the form asked for.
pub fn mesh_config_fragment(manifest: &crate::manifest::Manifest, form: MeshConfigForm) -> String {
    use crate::check::mesh_config::{kind_field, mesh_config_settings};
    let providers: Vec<serde_json::Value> = manifest
        .providers
        .iter()
        .filter(|p| !p.builtin)
        .map(|p| {
            let mut entry = serde_json::Map::new();
            entry.insert("name".into(), serde_json::Value::String(p.name.value.clone()));
            entry.insert(
                kind_field(&p.kind.value),
                mesh_config_settings(&serde_json::Value::Object(p.settings.clone())),
            );
            serde_json::Value::Object(entry)
        })
        .collect();
    let mesh = serde_json::json!({ "extensionProviders": providers });
    let document = match form {
        MeshConfigForm::MeshConfig => mesh,
        MeshConfigForm::Helm => serde_json::json!({ "meshConfig": mesh }),
        MeshConfigForm::IstioOperator => serde_json::json!({
            "apiVersion": "install.istio.io/v1alpha1",
            "kind": "IstioOperator",
            "spec": { "meshConfig": mesh }
        }),
    };
    json_to_yaml(&document)
}
