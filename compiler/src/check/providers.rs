//! The providers of `mesh.toml` checked against MeshConfig's `extensionProviders`, as
//! `std.providers` declares them: a kind must be one MeshConfig knows, and each
//! setting one that kind takes, of its type, in every targeted Istio release.

use super::symbols::Symbols;
use crate::diagnostic::{Diagnostic, codes, did_you_mean};
use crate::manifest::{Manifest, ProviderDecl};
use crate::model::node::{Member, Node, NodeKind};
use crate::syntax::ast::{Stmt, StmtKind, ValueKind};
use crate::versions::{Targets, major_minor};

/// One setting a provider kind takes.
#[derive(Clone, Debug)]
pub(crate) struct SettingSpec {
    pub name: String,
    pub ty: SettingType,
    /// The first Istio release whose MeshConfig has it (`1.29`), when not all do.
    pub since: Option<String>,
}

#[derive(Clone, Debug)]
pub(crate) enum SettingType {
    String,
    Port,
    Uint32,
    Int32,
    Bool,
    Duration,
    Strings,
    StringMap,
    Struct,
    Headers,
    Enum(Vec<String>),
    Section(Vec<SettingSpec>),
}

impl SettingType {
    fn describe(&self) -> String {
        match self {
            SettingType::String => "a string".into(),
            SettingType::Port => "a port number (1 to 65535)".into(),
            SettingType::Uint32 => "a whole number from 0".into(),
            SettingType::Int32 => "a whole number".into(),
            SettingType::Bool => "true or false".into(),
            SettingType::Duration => "a duration such as \"5s\"".into(),
            SettingType::Strings => "a list of strings".into(),
            SettingType::StringMap => "a table of strings".into(),
            SettingType::Struct => "a table".into(),
            SettingType::Headers => "a list of { name, value } or { name, env_name }".into(),
            SettingType::Enum(values) => format!("one of {}", values.join(", ")),
            SettingType::Section(_) => "a table".into(),
        }
    }
}

/// The settings of a `provider_kind`'s `settings { ... }` section: each a setting
/// whose value says its type (`port "port"`, `timeout "duration since 1.29"`), or a
/// section of its own.
pub(crate) fn setting_specs(body: &[Stmt]) -> Vec<SettingSpec> {
    let mut out = Vec::new();
    for stmt in body {
        match &stmt.kind {
            StmtKind::Setting { key, value } => {
                let ValueKind::String(text) = &value.kind else { continue };
                let mut words: Vec<&str> = text.value.split_whitespace().collect();
                let mut since = None;
                if let Some(at) = words.iter().position(|w| *w == "since") {
                    since = words.get(at + 1).map(|v| v.to_string());
                    words.truncate(at);
                }
                words.retain(|w| *w != "deprecated");
                let ty = match words.as_slice() {
                    ["string"] => SettingType::String,
                    ["port"] => SettingType::Port,
                    ["uint32"] => SettingType::Uint32,
                    ["int32"] => SettingType::Int32,
                    ["bool"] => SettingType::Bool,
                    ["duration"] => SettingType::Duration,
                    ["strings"] => SettingType::Strings,
                    ["string_map"] => SettingType::StringMap,
                    ["struct"] => SettingType::Struct,
                    ["headers"] => SettingType::Headers,
                    values => SettingType::Enum(values.iter().filter(|w| **w != "|").map(|w| w.to_string()).collect()),
                };
                out.push(SettingSpec { name: key.name.clone(), ty, since });
            }
            StmtKind::Section { key, body } => {
                out.push(SettingSpec {
                    name: key.name.clone(),
                    ty: SettingType::Section(setting_specs(body)),
                    since: None,
                });
            }
            _ => {}
        }
    }
    out
}

/// MeshConfig's JSON names are camel case; mesh.toml takes them in snake case too.
pub(crate) fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Checks every provider mesh.toml declares.
pub(crate) fn check_providers(manifest: &Manifest, symbols: &Symbols, targets: &Targets) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    for provider in manifest.providers.iter().filter(|p| !p.builtin) {
        check_provider(provider, symbols, targets, &mut diagnostics);
    }
    diagnostics
}

fn check_provider(provider: &ProviderDecl, symbols: &Symbols, targets: &Targets, out: &mut Vec<Diagnostic>) {
    let kind = &provider.kind;
    let Some(info) = symbols.provider_kinds.get(&kind.value) else {
        let kinds: Vec<&str> = symbols.provider_kinds.keys().map(String::as_str).collect();
        let mut diagnostic = Diagnostic::new(
            codes::INVALID_MANIFEST,
            kind.span,
            format!("`{}` is not a kind of MeshConfig extension provider", kind.value),
        )
        .with_label_message("unknown provider kind")
        .with_note(format!("the kinds are: {}", kinds.join(", ")));
        if let Some(suggestion) = did_you_mean(&kind.value, kinds.iter().copied()) {
            diagnostic = diagnostic.with_did_you_mean(kind.span, &format!("\"{suggestion}\""));
        }
        out.push(diagnostic);
        return;
    };
    let Some(members) = provider.settings_tree.members() else { return };
    let article = if kind.value.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    let what = format!("{article} `{}` provider", kind.value);
    check_settings(members, &info.settings, &what, targets, out);
}

fn check_settings(members: &[Member], specs: &[SettingSpec], what: &str, targets: &Targets, out: &mut Vec<Diagnostic>) {
    for member in members {
        let name = snake_case(&member.key);
        let Some(spec) = specs.iter().find(|s| s.name == name) else {
            let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
            let mut diagnostic = Diagnostic::new(
                codes::INVALID_MANIFEST,
                member.key_span,
                format!("{what} has no setting `{}`", member.key),
            )
            .with_label_message("unknown setting");
            diagnostic = match did_you_mean(&name, names.iter().copied()) {
                Some(suggestion) => diagnostic.with_did_you_mean(member.key_span, suggestion),
                None if names.is_empty() => diagnostic.with_note(format!("{what} takes no settings")),
                None => diagnostic.with_note(format!("its settings are: {}", names.join(", "))),
            };
            out.push(diagnostic);
            continue;
        };
        if let Some(since) = &spec.since {
            let missing: Vec<&str> = targets
                .istio
                .iter()
                .filter(|r| major_minor(r.version) < major_minor(since))
                .map(|r| r.version)
                .collect();
            if !missing.is_empty() {
                out.push(
                    Diagnostic::new(
                        codes::UNAVAILABLE_IN_VERSION,
                        member.key_span,
                        format!("`{}` of {what} is not available in Istio {}", spec.name, missing.join(", ")),
                    )
                    .with_label_message(format!("since Istio {since}"))
                    .with_help("drop those releases from `istio` in mesh.toml, or do without this setting"),
                );
            }
        }
        check_value(&member.value, &spec.ty, &format!("`{}` of {what}", spec.name), targets, out);
    }
}

fn check_value(value: &Node, ty: &SettingType, what: &str, targets: &Targets, out: &mut Vec<Diagnostic>) {
    let fits = match (ty, &value.kind) {
        (SettingType::String, NodeKind::String(_)) => true,
        (SettingType::Port, NodeKind::Number { raw, .. }) => raw.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p)),
        (SettingType::Uint32, NodeKind::Number { raw, .. }) => raw.parse::<u32>().is_ok(),
        (SettingType::Int32, NodeKind::Number { raw, .. }) => raw.parse::<i32>().is_ok(),
        (SettingType::Bool, NodeKind::Bool(_)) => true,
        (SettingType::Duration, NodeKind::String(text)) => crate::envoy::rules::parse_duration(text).is_some(),
        (SettingType::Strings, NodeKind::List(items)) => items.iter().all(|i| matches!(i.kind, NodeKind::String(_))),
        (SettingType::StringMap, NodeKind::Object(entries)) => {
            entries.iter().all(|e| matches!(e.value.kind, NodeKind::String(_)))
        }
        (SettingType::Struct, NodeKind::Object(_)) => true,
        (SettingType::Headers, NodeKind::List(items)) => items.iter().all(is_header),
        (SettingType::Enum(values), NodeKind::String(text)) => {
            if !values.contains(text) {
                let mut diagnostic =
                    Diagnostic::new(codes::INVALID_MANIFEST, value.span, format!("`{text}` is not a value of {what}"))
                        .with_label_message(format!("expected one of {}", values.join(", ")));
                if let Some(suggestion) = did_you_mean(text, values.iter().map(String::as_str)) {
                    diagnostic = diagnostic.with_did_you_mean(value.span, &format!("\"{suggestion}\""));
                }
                out.push(diagnostic);
            }
            return;
        }
        (SettingType::Section(specs), NodeKind::Object(members)) => {
            check_settings(members, specs, what, targets, out);
            return;
        }
        _ => false,
    };
    if !fits {
        out.push(
            Diagnostic::new(codes::INVALID_MANIFEST, value.span, format!("{what} must be {}", ty.describe()))
                .with_label_message(format!("not {}", ty.describe())),
        );
    }
}

/// `{ name = "x", value = "y" }` or `{ name = "x", env_name = "Y" }`.
fn is_header(item: &Node) -> bool {
    let Some(members) = item.members() else { return false };
    let has = |key: &str| members.iter().any(|m| m.key == key && matches!(m.value.kind, NodeKind::String(_)));
    has("name") && (has("value") ^ (has("env_name") || has("envName")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_case_names_are_read_in_snake_case() {
        assert_eq!(snake_case("maxTagLength"), "max_tag_length");
        assert_eq!(snake_case("service"), "service");
    }
}
