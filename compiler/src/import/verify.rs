//! The proof that a declaration reproduces its document: it is built as a package of
//! its own, with the compiler's whole pipeline, and its resource compared with the
//! document as data.

use super::translate::Declaration;
use super::{ImportOptions, manifest_text};
use crate::diagnostic::{Diagnostic, codes};
use crate::driver;
use crate::model::NoAssets;
use crate::model::node::Node;
use crate::source::{SourceDb, SourceKind};
use crate::span::Span;
use serde_json::{Map, Value as Json};

/// `Ok` when the declaration builds without errors to the document's data.
pub(crate) fn verify(document: &Node, declaration: &Declaration, options: &ImportOptions) -> Result<(), Diagnostic> {
    let mut db = SourceDb::with_stdlib();
    db.add("mesh.toml", manifest_text(&[declaration], options), SourceKind::Manifest);
    let mut prefix = format!("package {}\n\n", options.package);
    if declaration.uses_std_filters {
        prefix.push_str("import std.filters\n\n");
    }
    let file = db.add("import.mesh", format!("{prefix}{}\n", declaration.text), SourceKind::Package);
    let analysis = driver::analyze(&db, &NoAssets);
    if let Some(error) = analysis.diagnostics.iter().find(|d| d.is_error()) {
        let at = error.primary_span();
        let yaml = if at.file == file {
            origin(declaration, at.start.saturating_sub(prefix.len() as u32) as usize)
        } else {
            declaration.anchor
        };
        return Err(Diagnostic::new(
            codes::IMPORT_REJECTED,
            yaml,
            format!("meshc's checks reject this document: {}", error.message),
        )
        .with_label_message(format!("[{}] {}", error.code, error.code.info().map(|i| i.title).unwrap_or_default()))
        .with_note("meshc imports a document only when the package it writes builds without errors"));
    }
    let Some(generated) = analysis.lowered.resources.first() else {
        return Err(Diagnostic::new(codes::IMPORT_NOT_FAITHFUL, declaration.anchor, "the declaration builds nothing"));
    };
    let rebuilt = normalize(crate::emit::to_json_value(&generated.resource), &options.default_namespace);
    let original = normalize(document.to_json(), &options.default_namespace);
    match first_difference(&original, &rebuilt, &mut Vec::new()) {
        None => Ok(()),
        Some(path) => {
            let (span, what) = place(document, &path);
            let shown = |value: Option<&Json>| value.map(|v| v.to_string()).unwrap_or_else(|| "nothing".to_string());
            Err(Diagnostic::new(
                codes::IMPORT_NOT_FAITHFUL,
                span,
                format!("meshc cannot write `{}` so that it rebuilds the same", path.join(".")),
            )
            .with_label_message(what)
            .with_note(format!(
                "the YAML has {}, the rebuilt resource {}",
                shown(lookup(&original, &path)),
                shown(lookup(&rebuilt, &path))
            )))
        }
    }
}

/// The YAML value the text at `offset` of the declaration was written from: the
/// narrowest recorded piece around it.
fn origin(declaration: &Declaration, offset: usize) -> Span {
    declaration
        .origins
        .iter()
        .filter(|(start, end, _)| *start <= offset && offset < (*end).max(*start + 1))
        .min_by_key(|(start, end, _)| end - start)
        .map(|(_, _, span)| *span)
        .unwrap_or(declaration.anchor)
}

/// A resource as the comparison sees it. Each step is a difference that is not one:
/// - `apiVersion` is compared by group: Istio serves each of these kinds at several
///   versions of one schema (Telemetry v1alpha1 and v1 are the same resource);
/// - of `metadata`, only what a declaration sets (name, namespace, labels,
///   annotations) is compared: the API server fills in the rest;
/// - a document without a namespace is applied in the default namespace;
/// - numbers compare as the doubles the CRDs hold (`10` and `10.0` are one value);
/// - a tag override without an operation is an UPSERT, protobuf's default, which
///   meshc writes out.
pub(crate) fn normalize(resource: Json, default_namespace: &str) -> Json {
    let Json::Object(mut object) = resource else { return resource };
    if let Some(Json::String(version)) = object.get_mut("apiVersion") {
        *version = version.split('/').next().unwrap_or_default().to_string();
    }
    if let Some(Json::Object(metadata)) = object.get_mut("metadata") {
        metadata.retain(|key, _| matches!(key.as_str(), "name" | "namespace" | "labels" | "annotations"));
        metadata.entry("namespace").or_insert_with(|| Json::String(default_namespace.to_string()));
        for key in ["labels", "annotations"] {
            if metadata.get(key).is_some_and(|v| v.as_object().is_some_and(Map::is_empty)) {
                metadata.remove(key);
            }
        }
    }
    if let Some(Json::Array(metrics)) = object.get_mut("spec").and_then(|s| s.get_mut("metrics")) {
        for entry in metrics {
            let Some(Json::Array(overrides)) = entry.get_mut("overrides") else { continue };
            for item in overrides {
                let Some(Json::Object(tags)) = item.get_mut("tagOverrides") else { continue };
                for tag in tags.values_mut() {
                    if let Json::Object(tag) = tag {
                        tag.entry("operation").or_insert_with(|| Json::String("UPSERT".to_string()));
                    }
                }
            }
        }
    }
    numbers_as_doubles(Json::Object(object))
}

fn numbers_as_doubles(value: Json) -> Json {
    match value {
        Json::Number(n) => n.as_f64().and_then(serde_json::Number::from_f64).map(Json::Number).unwrap_or(Json::Null),
        Json::Array(items) => Json::Array(items.into_iter().map(numbers_as_doubles).collect()),
        Json::Object(map) => Json::Object(map.into_iter().map(|(k, v)| (k, numbers_as_doubles(v))).collect()),
        other => other,
    }
}

/// The path of the first place where two values differ.
pub(crate) fn first_difference(expected: &Json, actual: &Json, path: &mut Vec<String>) -> Option<Vec<String>> {
    match (expected, actual) {
        (Json::Object(a), Json::Object(b)) => {
            for (key, value) in a {
                path.push(key.clone());
                match b.get(key) {
                    Some(other) => {
                        if let Some(found) = first_difference(value, other, path) {
                            return Some(found);
                        }
                    }
                    None => return Some(path.clone()),
                }
                path.pop();
            }
            b.keys().find(|k| !a.contains_key(*k)).map(|key| {
                path.push(key.clone());
                path.clone()
            })
        }
        (Json::Array(a), Json::Array(b)) => {
            for (index, (x, y)) in a.iter().zip(b).enumerate() {
                path.push(index.to_string());
                if let Some(found) = first_difference(x, y, path) {
                    return Some(found);
                }
                path.pop();
            }
            (a.len() != b.len()).then(|| path.clone())
        }
        _ => (expected != actual).then(|| path.clone()),
    }
}

fn lookup<'j>(value: &'j Json, path: &[String]) -> Option<&'j Json> {
    path.iter().try_fold(value, |value, key| match value {
        Json::Object(map) => map.get(key),
        Json::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// The YAML place of `path`: the deepest node of the document along it.
fn place(document: &Node, path: &[String]) -> (Span, &'static str) {
    let mut node = document;
    let mut span = document.span;
    for key in path {
        let next = match &node.kind {
            crate::model::node::NodeKind::List(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => node.members().and_then(|m| m.iter().find(|m| &m.key == key)).map(|m| {
                span = m.key_span;
                &m.value
            }),
        };
        match next {
            Some(next) => {
                node = next;
                if !matches!(node.kind, crate::model::node::NodeKind::Object(_) | crate::model::node::NodeKind::List(_))
                {
                    span = node.span;
                }
            }
            None => return (span, "the rebuilt resource has a field here that the YAML lacks"),
        }
    }
    (span, "the rebuilt resource differs here")
}
