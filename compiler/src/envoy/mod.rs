//! Envoy's schemas, and configuration checked against them.
//!
//! A message value (a `.mesh` message literal, an EnvoyFilter patch value typed by
//! its `applyTo`, a bootstrap of the raw Envoy target, or a YAML bootstrap given to
//! `meshc envoy validate`) arrives as a spanned [`Node`] tree and is checked against
//! the descriptors recovered from each targeted Envoy build ([`descriptors`]):
//! unknown fields with did-you-mean, values of the wrong kind, enum values, oneof
//! conflicts, the protoc-gen-validate rules of every field ([`rules`]), deprecated
//! fields (a warning, naming the replacement where one is known: [`replacements`]),
//! fields and enum values disallowed by default (an error, as Envoy rejects them
//! without a runtime override), work-in-progress messages and fields (a warning), and
//! what Envoy compiles when it loads the config: Lua code ([`lua`]) and regular
//! expressions ([`re2`]). A mistake found in every version is reported once; one
//! found in some versions names them.
//!
//! This module knows nothing of the `.mesh` language: the checker lowers `.mesh`
//! values into nodes before asking.

mod checker;
mod cross_field;
pub mod descriptors;
pub mod extensions;
mod lua;
mod proto;
mod re2;
pub(crate) mod replacements;
pub(crate) mod rules;
mod schema;
mod whole;
pub mod yaml;

use crate::diagnostic::{Diagnostic, codes};
use crate::model::node::{Member, Node, NodeKind};
use crate::span::{FileId, Span};
use crate::versions::Targets;
use checker::MessageChecker;

pub(crate) use proto::json_name;
pub use replacements::replacement;
pub use schema::descriptor_pool;
pub(crate) use schema::field_rules;

/// Whether a value stands for a whole message, or for a part merged into one that
/// Envoy already has (an EnvoyFilter MERGE), where required fields may be left out.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Completeness {
    Whole,
    Partial,
}

/// How literally values must match their fields' types.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Strictness {
    /// meshc's own values: a number is written as a number.
    Language,
    /// Envoy's own YAML and JSON, which accept proto3 JSON's loose forms, such as
    /// `"8080"` for an integer.
    ProtoJson,
}

/// Checks `fields` as a message of type `type_name`, written in `.mesh`, in every
/// Envoy build the package targets; diagnostics name the Istio releases beside the
/// Envoy versions they apply to.
pub fn check_message(
    targets: &Targets,
    type_name: &str,
    type_span: Span,
    fields: &[Member],
    completeness: Completeness,
) -> Vec<Diagnostic> {
    check_targeted(targets, type_name, type_span, fields, completeness, Strictness::Language)
}

/// Checks `fields` as a message of type `type_name` read from Kubernetes YAML (an
/// EnvoyFilter patch value), which istiod converts with protobuf's JSON rules and so
/// accepts their loose forms, in every Envoy build the package targets.
pub fn check_message_as_proto_json(
    targets: &Targets,
    type_name: &str,
    type_span: Span,
    fields: &[Member],
    completeness: Completeness,
) -> Vec<Diagnostic> {
    check_targeted(targets, type_name, type_span, fields, completeness, Strictness::ProtoJson)
}

fn check_targeted(
    targets: &Targets,
    type_name: &str,
    type_span: Span,
    fields: &[Member],
    completeness: Completeness,
    strictness: Strictness,
) -> Vec<Diagnostic> {
    let envoys = targets.envoy_versions();
    let found =
        check_each_version(&envoys, type_name, type_span, fields, completeness, strictness, &[], |v| targets.label(v));
    let names: Vec<String> = envoys.iter().map(|v| targets.label(v)).collect();
    report_by_version(found, &names)
}

/// Whether `type_name` is a message of some targeted Envoy build.
pub fn is_message(targets: &Targets, type_name: &str) -> bool {
    targets.envoy_versions().iter().any(|v| schema::schema(v).is_some_and(|s| s.message(type_name).is_some()))
}

/// The name under which the targeted builds register the extension of `category`
/// that takes `type_name` (the newest build that has one decides).
pub fn extension_name(targets: &Targets, category: &str, type_name: &str) -> Option<String> {
    targets
        .envoy_versions()
        .iter()
        .rev()
        .find_map(|v| extensions::registry(v)?.name_of(category, type_name))
        .map(str::to_string)
}

/// The message type of a bootstrap.
const BOOTSTRAP: &str = "envoy.config.bootstrap.v3.Bootstrap";

/// Checks a bootstrap file against the schemas of several Envoy builds, reading it
/// once; a mistake that only some of them reject names them. This is `meshc envoy
/// validate`: the text is Envoy's own YAML or JSON.
pub fn validate_bootstrap(file: FileId, text: &str, envoys: &[&'static str]) -> Vec<Diagnostic> {
    let (value, mut diagnostics) = yaml::parse_yaml(file, text);
    match value {
        Some(value) => {
            diagnostics.extend(check_bootstrap(&value, Span::new(file, 0, 0), envoys, Strictness::ProtoJson))
        }
        // Envoy cannot turn an empty document into a config.
        None if diagnostics.is_empty() => diagnostics.push(
            Diagnostic::new(codes::INVALID_ENVOY_CONFIG, Span::new(file, 0, 0), "the file holds no configuration")
                .with_help("a bootstrap is a mapping with `static_resources`, `admin` and the like"),
        ),
        None => {}
    }
    diagnostics
}

/// Checks a bootstrap tree against the schemas of some Envoy builds: one read from a
/// file by [`yaml::parse_yaml`], or one the raw Envoy target built. A field the
/// bootstrap lacks is reported at `anchor`. Then the rules that span the whole
/// bootstrap ([`whole`]): unique names, the clusters routes and tracers name, the
/// order of filter chains.
pub fn check_bootstrap(value: &Node, anchor: Span, envoys: &[&'static str], strictness: Strictness) -> Vec<Diagnostic> {
    match &value.kind {
        NodeKind::Object(members) => {
            let allowed = runtime_allowed_deprecations(value);
            let mut found = check_each_version(
                envoys,
                BOOTSTRAP,
                anchor,
                members,
                Completeness::Whole,
                strictness,
                &allowed,
                |v| format!("Envoy {v}"),
            );
            // The rules Envoy's code enforces across the whole bootstrap.
            for version in envoys {
                let rules = whole::check(value, extensions::registry(version));
                found.extend(rules.into_iter().map(|d| (d, format!("Envoy {version}"))));
            }
            let names: Vec<String> = envoys.iter().map(|v| format!("Envoy {v}")).collect();
            report_by_version(found, &names)
        }
        NodeKind::Null => vec![
            Diagnostic::new(codes::INVALID_ENVOY_CONFIG, value.span, "the file holds no configuration")
                .with_help("a bootstrap is a mapping with `static_resources`, `admin` and the like"),
        ],
        _ => vec![Diagnostic::new(codes::ENVOY_VALUE_MISMATCH, value.span, "a bootstrap is a mapping of fields")],
    }
}

/// The deprecated fields that the bootstrap's static runtime layers re-enable,
/// `envoy.deprecated_features:FULL.FIELD.NAME: true`, which Envoy then accepts even
/// where they are disallowed by default.
fn runtime_allowed_deprecations(bootstrap: &Node) -> Vec<String> {
    let mut allowed = Vec::new();
    let Some(NodeKind::List(layers)) = bootstrap.get("layered_runtime").and_then(|r| r.get("layers")).map(|l| &l.kind)
    else {
        return allowed;
    };
    for layer in layers {
        let Some(values) = layer.get("static_layer").and_then(Node::members) else { continue };
        for member in values {
            if let Some(name) = member.key.strip_prefix("envoy.deprecated_features:")
                && matches!(member.value.kind, NodeKind::Bool(true))
            {
                allowed.push(name.to_string());
            }
        }
    }
    allowed
}

/// The diagnostics of each version, with the name of the version they came from.
#[allow(clippy::too_many_arguments)]
fn check_each_version(
    envoys: &[&'static str],
    type_name: &str,
    type_span: Span,
    fields: &[Member],
    completeness: Completeness,
    strictness: Strictness,
    allowed_deprecated: &[String],
    name: impl Fn(&str) -> String,
) -> Vec<(Diagnostic, String)> {
    let mut found: Vec<(Diagnostic, String)> = Vec::new();
    for version in envoys {
        let Some(schema) = schema::schema(version) else { continue };
        let minor = version.split('.').nth(1).and_then(|m| m.parse().ok()).unwrap_or(0);
        let registry = extensions::registry(version);
        let mut checker = MessageChecker::new(schema, registry, completeness, strictness, minor, allowed_deprecated);
        match schema.message(type_name) {
            Some(message) => checker.fields(&message, fields, type_span),
            None => checker.unknown_type(type_name, type_span),
        }
        found.extend(checker.diagnostics.into_iter().map(|d| (d, name(version))));
    }
    found
}

/// One diagnostic per distinct mistake, saying which versions it applies to unless
/// it applies to all of them. The CRD validator reports per Istio release with it too.
pub(crate) fn report_by_version(found: Vec<(Diagnostic, String)>, all: &[String]) -> Vec<Diagnostic> {
    let mut grouped: Vec<(Diagnostic, Vec<String>)> = Vec::new();
    for (diagnostic, version) in found {
        match grouped.iter_mut().find(|(d, _)| *d == diagnostic) {
            Some((_, versions)) => versions.push(version),
            None => grouped.push((diagnostic, vec![version])),
        }
    }
    grouped
        .into_iter()
        .map(|(mut diagnostic, versions)| {
            if versions.len() == all.len() {
                diagnostic.notes.push(format!("in {}", versions.join(", ")));
            } else {
                diagnostic.message = format!("{} in {}", diagnostic.message, versions.join(", "));
                let fine: Vec<&str> = all.iter().filter(|v| !versions.contains(v)).map(String::as_str).collect();
                let verb = if diagnostic.is_error() { "accepts it" } else { "does not warn of it" };
                diagnostic.notes.push(format!("{} {verb}", fine.join(", ")));
            }
            diagnostic
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelled_field_is_reported_at_its_line() {
        let text = "static_resources:\n  clusters:\n  - name: a\n    conect_timeout: 1s\n";
        let diagnostics = validate_bootstrap(FileId(0), text, &["1.38.2"]);
        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
        assert_eq!(diagnostics[0].code, codes::UNKNOWN_ENVOY_FIELD);
        assert_eq!(&text[diagnostics[0].primary_span().range()], "conect_timeout");
        assert_eq!(diagnostics[0].suggestions[0].replacement, "connect_timeout");
    }

    #[test]
    fn invalid_yaml_is_located() {
        let diagnostics = validate_bootstrap(FileId(0), "a: [1, 2\n", &["1.38.2"]);
        assert_eq!(diagnostics[0].code, codes::INVALID_ENVOY_CONFIG);
    }
}
