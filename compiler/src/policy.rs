//! Policy rules evaluated over every resource a check sees: the package's own, as
//! emitted, and the Kubernetes YAML checked with it, as written.
//!
//! A rule's condition is CEL with the variables a ValidatingAdmissionPolicy has
//! (`object`), plus `mesh` (the package's settings) and `resources` (every resource of
//! the check). A resource breaks a rule when the condition is false or cannot be
//! evaluated (an admission policy with `failurePolicy: Fail` rejects it then too),
//! unless the resource carries the rule's waiver annotation.

use crate::diagnostic::{Diagnostic, codes, did_you_mean};
use crate::emit;
use crate::manifest::Manifest;
use crate::model::policy::{Rule, RuleSeverity, WAIVER_PREFIX, waiver_annotation};
use crate::model::{Generated, Lowered};
use crate::versions::Targets;
use serde_json::{Value as Json, json};

/// Built-in diagnostics a stdlib rule restates: when the rule is in force, it reports
/// the mistake (with the package's severity) and the built-in one is dropped.
pub const SUPERSEDED: &[(&str, codes::Code)] =
    &[("unpinned_wasm_image", codes::UNPINNED_IMAGE), ("unpinned_wasm_image", codes::UNPINNED_IMAGE_REQUIRED)];

/// The object of each resource as a rule reads it: the emitted resource, or the YAML
/// document as written.
pub fn object_of(generated: &Generated) -> Json {
    generated.document.clone().unwrap_or_else(|| emit::to_json_value(&generated.resource))
}

/// The package's settings, which rules read as `mesh`.
pub fn mesh_context(manifest: Option<&Manifest>, targets: &Targets) -> Json {
    let providers: Vec<&str> =
        manifest.map(|m| m.providers.iter().map(|p| p.name.value.as_str()).collect()).unwrap_or_default();
    json!({
        "releases": targets.istio.iter().map(|r| r.version).collect::<Vec<_>>(),
        "root_namespace": crate::manifest::root_namespace(manifest),
        "providers": providers,
    })
}

/// Whether a rule applies to a resource: its kind, namespace and labels.
pub fn applies(rule: &Rule, object: &Json) -> bool {
    let kind = object["kind"].as_str().unwrap_or("");
    let namespace = object["metadata"]["namespace"].as_str().unwrap_or("default");
    (rule.kinds.is_empty() || rule.kinds.iter().any(|k| k == kind))
        && (rule.namespaces.is_empty() || rule.namespaces.iter().any(|n| n == namespace))
        && rule.labels.iter().all(|(k, v)| object["metadata"]["labels"][k].as_str() == Some(v.as_str()))
}

/// What a rule says of one object.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    Pass,
    Fail,
    /// The condition could not be evaluated, or is not a boolean.
    Error(String),
}

/// Evaluates a compiled condition over one object.
pub fn judge(program: &cel::Program, object: &Json, mesh: &Json, resources: &Json) -> Verdict {
    let mut context = cel::Context::default();
    for (name, value) in [("object", object), ("mesh", mesh), ("resources", resources)] {
        if let Err(error) = context.add_variable(name, value.clone()) {
            return Verdict::Error(error.to_string());
        }
    }
    match program.execute(&context) {
        Ok(cel::Value::Bool(true)) => Verdict::Pass,
        Ok(cel::Value::Bool(false)) => Verdict::Fail,
        Ok(other) => Verdict::Error(format!("the condition gives {other:?}, not a boolean")),
        Err(error) => Verdict::Error(error.to_string()),
    }
}

/// Evaluates every rule in force over every resource of `lowered`.
pub fn evaluate(lowered: &Lowered, manifest: Option<&Manifest>, targets: &Targets) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    let all: Vec<&Generated> = lowered.resources.iter().chain(&lowered.linted).collect();
    check_waivers(&lowered.rules, &all, &mut diagnostics);
    if lowered.rules.is_empty() {
        return diagnostics;
    }
    let objects: Vec<Json> = all.iter().map(|g| object_of(g)).collect();
    let resources = Json::Array(objects.clone());
    let mesh = mesh_context(manifest, targets);
    for rule in &lowered.rules {
        // A condition that does not parse was reported where it was declared.
        let Ok(program) = cel::Program::compile(&rule.condition) else { continue };
        for (generated, object) in all.iter().zip(&objects) {
            if !applies(rule, object) {
                continue;
            }
            let waiver = waiver_annotation(&rule.name);
            if object["metadata"]["annotations"][&waiver].is_string() {
                continue;
            }
            let verdict = judge(&program, object, &mesh, &resources);
            if verdict != Verdict::Pass {
                diagnostics.push(violation(rule, generated, verdict));
            }
        }
    }
    diagnostics
}

/// The diagnostic of a resource that breaks a rule, at the part of it the condition
/// reads first (`object.spec.url` → `spec.url`) when that part was recorded.
fn violation(rule: &Rule, generated: &Generated, verdict: Verdict) -> Diagnostic {
    let (code, severity) = match rule.severity {
        RuleSeverity::Deny => (codes::POLICY_DENIED, crate::diagnostic::Severity::Error),
        RuleSeverity::Warn => (codes::POLICY_WARNED, crate::diagnostic::Severity::Warning),
    };
    let span =
        first_object_path(&rule.condition).and_then(|path| generated.spans.find(&path)).unwrap_or(generated.origin);
    let kind = generated.resource.kind();
    let name = &generated.resource.metadata().name;
    let mut diagnostic = Diagnostic::new(code, span, rule.message.clone())
        .with_severity(severity)
        .with_label_message(format!("{kind} `{name}` breaks the rule `{}`", rule.name))
        .with_secondary(rule.origin, format!("the rule, in {}", rule.module));
    if let Verdict::Error(error) = verdict {
        diagnostic = diagnostic.with_note(format!("the condition could not be evaluated: {error}"));
    }
    if let Some(span) = rule.severity_override {
        diagnostic = diagnostic.with_secondary(span, format!("mesh.toml makes it `{}`", rule.severity.as_str()));
    }
    diagnostic.with_help(if generated.document.is_some() {
        format!("or waive it with the annotation `{}: \"why\"`", waiver_annotation(&rule.name))
    } else {
        format!("or waive it on this declaration with `waive {{ {}: \"why\" }}`", rule.name)
    })
}

/// The first `object.a.b` chain of a condition, as a resource path (`a.b`).
fn first_object_path(condition: &str) -> Option<String> {
    let start = condition.find("object.")? + "object.".len();
    let path: String =
        condition[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.').collect();
    let path = path.trim_end_matches('.');
    (!path.is_empty()).then(|| path.to_string())
}

/// A waiver names a rule in force; one that names none is reported with the nearest name.
fn check_waivers(rules: &[Rule], all: &[&Generated], diagnostics: &mut Vec<Diagnostic>) {
    for generated in all {
        for key in generated.resource.metadata().annotations.keys() {
            let Some(name) = key.strip_prefix(WAIVER_PREFIX) else { continue };
            if rules.iter().any(|r| r.name == name) {
                continue;
            }
            let span = generated.spans.find(&format!("metadata.annotations.{key}")).unwrap_or(generated.origin);
            let mut diagnostic = Diagnostic::new(
                codes::UNKNOWN_WAIVER,
                span,
                format!("this waiver names `{name}`, which is not a rule in force"),
            )
            .with_label_message("waives nothing");
            diagnostic = match did_you_mean(name, rules.iter().map(|r| r.name.as_str())) {
                Some(suggestion) => diagnostic.with_help(format!("did you mean `{suggestion}`?")),
                None => diagnostic.with_help("remove it, or import the module that declares the rule"),
            };
            diagnostics.push(diagnostic);
        }
    }
}
