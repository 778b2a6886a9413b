//! Policy rules evaluated over every resource a check sees: the package's own, as
//! emitted, and the Kubernetes YAML checked with it, as written.
//!
//! A rule's condition is CEL with the variables a ValidatingAdmissionPolicy has
//! (`object`), plus `mesh` (the package's settings), `resources` (every resource of
//! the check) and `siblings` (the other resources of the object's kind in its
//! namespace, which is what most rules about neighbours compare with, without
//! walking every resource for every object). A resource breaks a rule when the condition is false or cannot be
//! evaluated (an admission policy with `failurePolicy: Fail` rejects it then too),
//! unless the resource carries the rule's waiver annotation.

use crate::cel_eval::{CelError, Expression};
use crate::crd::Kind;
use crate::diagnostic::{Diagnostic, codes, did_you_mean};
use crate::emit;
use crate::manifest::Manifest;
use crate::model::policy::{Rule, RuleSeverity, WAIVER_PREFIX, waiver_annotation};
use crate::model::{Generated, Lowered};
use crate::versions::Targets;
use serde_json::{Value as Json, json};

/// Built-in warnings a stdlib rule restates: when the rule is in force (or turned off),
/// it decides, and the built-in warning is dropped. Errors the package asked for
/// (`require_pinned_images`, E0319) are never dropped.
pub const SUPERSEDED: &[(&str, codes::Code)] = &[("unpinned_wasm_image", codes::UNPINNED_IMAGE)];

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

/// The namespace of a resource, `default` when it names none.
fn namespace_of(object: &Json) -> &str {
    object["metadata"]["namespace"].as_str().unwrap_or(crate::crd::DEFAULT_NAMESPACE)
}

/// Whether a rule applies to a resource: its kind, namespace and labels.
pub fn applies(rule: &Rule, object: &Json) -> bool {
    let kind = object["kind"].as_str().unwrap_or("");
    let namespace = object["metadata"]["namespace"].as_str().unwrap_or(crate::crd::DEFAULT_NAMESPACE);
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

fn judge_values(
    condition: &Expression,
    object: &cel::Value,
    mesh: &cel::Value,
    resources: &cel::Value,
    siblings: &cel::Value,
) -> Verdict {
    let bindings = [("object", object), ("mesh", mesh), ("resources", resources), ("siblings", siblings)];
    match condition.evaluate_bool_values(&bindings) {
        Ok(true) => Verdict::Pass,
        Ok(false) => Verdict::Fail,
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
    for rule in &lowered.rules {
        match Expression::compile(&rule.condition) {
            // A condition that does not parse was reported where it was declared.
            Ok(_) | Err(CelError::Syntax(_)) => {}
            Err(error) => diagnostics.push(
                Diagnostic::new(codes::RULE_NOT_EVALUATED, rule.condition_span, error.to_string())
                    .with_label_message(format!("the rule `{}` is not checked", rule.name))
                    .with_note(
                        "an admission policy emitted from it is enforced by the cluster, which has the function",
                    ),
            ),
        }
    }
    let objects: Vec<Json> = all.iter().map(|g| object_of(g)).collect();
    let mesh = mesh_context(manifest, targets);
    for (rule, object, verdict) in verdicts(&lowered.rules, &objects, &mesh) {
        if verdict != Verdict::Pass {
            let rule = &lowered.rules[rule];
            let message = message_for(rule, &objects[object], &mesh);
            diagnostics.push(violation(rule, all[object], verdict, message));
        }
    }
    diagnostics
}

/// What a resource that breaks a rule is told: its `message_expression` evaluated over
/// the resource, or the plain message when there is none or it fails, as the API
/// server does with `messageExpression`.
pub fn message_for(rule: &Rule, object: &Json, mesh: &Json) -> String {
    let evaluated = rule.message_expression.as_ref().and_then(|(text, _)| {
        let expression = Expression::compile(text).ok()?;
        match expression.evaluate(&[("object", object), ("mesh", mesh)]).ok()? {
            Json::String(message) if !message.trim().is_empty() => Some(message),
            _ => None,
        }
    });
    evaluated.unwrap_or_else(|| rule.message.clone())
}

/// The verdict of every rule (by index) on every object (by index) it applies to and
/// that does not waive it: what `meshc check` reports, and what the tests compare with
/// the emitted admission policies. Rules meshc cannot evaluate have no verdicts.
pub fn verdicts(rules: &[Rule], objects: &[Json], mesh: &Json) -> Vec<(usize, usize, Verdict)> {
    let mut out = Vec::new();
    // Every document is converted to a CEL value once, not once per rule and object.
    let values: Vec<cel::Value> = objects.iter().map(crate::cel_eval::to_cel).collect();
    let resources = cel::Value::List(std::sync::Arc::new(values.clone()));
    let mesh = crate::cel_eval::to_cel(mesh);
    // The siblings of each object, grouped once by kind and namespace.
    let mut groups: std::collections::HashMap<(String, String), Vec<usize>> = std::collections::HashMap::new();
    for (index, object) in objects.iter().enumerate() {
        let key = (object["kind"].as_str().unwrap_or("").to_string(), namespace_of(object).to_string());
        groups.entry(key).or_default().push(index);
    }
    let siblings_of = |index: usize| {
        let object = &objects[index];
        let key = (object["kind"].as_str().unwrap_or("").to_string(), namespace_of(object).to_string());
        let members = groups.get(&key).map(Vec::as_slice).unwrap_or_default();
        let list: Vec<cel::Value> = members
            .iter()
            .filter(|&&other| other != index && objects[other]["metadata"]["name"] != object["metadata"]["name"])
            .map(|&other| values[other].clone())
            .collect();
        cel::Value::List(std::sync::Arc::new(list))
    };
    let empty = cel::Value::List(std::sync::Arc::new(Vec::new()));
    for (rule_index, rule) in rules.iter().enumerate() {
        let Ok(program) = Expression::compile(&rule.condition) else { continue };
        let reads_siblings = program.uses_variable("siblings");
        for (index, object) in objects.iter().enumerate() {
            if !applies(rule, object) || object["metadata"]["annotations"][waiver_annotation(&rule.name)].is_string() {
                continue;
            }
            let siblings = if reads_siblings { siblings_of(index) } else { empty.clone() };
            out.push((rule_index, index, judge_values(&program, &values[index], &mesh, &resources, &siblings)));
        }
    }
    out
}

/// The diagnostic of a resource that breaks a rule, at the part of it the condition
/// reads first (`object.spec.url` → `spec.url`) when that part was recorded.
fn violation(rule: &Rule, generated: &Generated, verdict: Verdict, message: String) -> Diagnostic {
    let (code, severity) = match rule.severity {
        RuleSeverity::Deny => (codes::POLICY_DENIED, crate::diagnostic::Severity::Error),
        RuleSeverity::Warn => (codes::POLICY_WARNED, crate::diagnostic::Severity::Warning),
    };
    let span =
        first_object_path(&rule.condition).and_then(|path| generated.spans.find(&path)).unwrap_or(generated.origin);
    let kind = generated.resource.kind();
    let name = &generated.resource.metadata().name;
    let mut diagnostic = Diagnostic::new(code, span, message)
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
    let at = condition.match_indices("object.").map(|(at, _)| at).find(|&at| {
        condition[..at].chars().next_back().is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
    })?;
    let start = at + "object.".len();
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

// -- Admission policies ---------------------------------------------------------------
//
// Each rule can be enforced by the cluster itself, on YAML that never went through
// meshc: a ValidatingAdmissionPolicy and its binding. The policy holds the rule's
// condition with the package's settings as the variable `mesh` and the waiver
// annotation honoured, so that the cluster and meshc judge a resource alike; tests
// evaluate the emitted policies with [`evaluate_admission`] to hold them to that.

/// A rule as a ValidatingAdmissionPolicy and its binding, or why it cannot be one.
pub fn admission_policy(rule: &Rule, package: &str, mesh: &Json) -> Result<(Json, Json), String> {
    if binds_variable(&rule.condition, "mesh") {
        return Err(format!(
            "the rule `{}` names a comprehension variable `mesh`, which an admission policy would read as the package's settings; rename the variable",
            rule.name
        ));
    }
    for variable in ["resources", "siblings"] {
        if reads_identifier(&rule.condition, variable) {
            return Err(format!(
                "the rule `{}` reads `{variable}`, and an admission policy sees one object at a time",
                rule.name
            ));
        }
    }
    let name = format!("meshc.{}.{}", package, rule.name).to_ascii_lowercase().replace('_', "-");
    let resource_rules: Vec<Json> = Kind::ALL
        .iter()
        .filter(|kind| rule.kinds.is_empty() || rule.kinds.iter().any(|k| k == kind.name()))
        .map(|kind| {
            json!({
                "apiGroups": [kind.group()],
                "apiVersions": ["*"],
                "operations": ["CREATE", "UPDATE"],
                "resources": [kind.plural()],
            })
        })
        .collect();
    let mut match_constraints = json!({ "resourceRules": resource_rules });
    if !rule.namespaces.is_empty() {
        match_constraints["namespaceSelector"] = json!({
            "matchExpressions": [{ "key": "kubernetes.io/metadata.name", "operator": "In", "values": rule.namespaces }]
        });
    }
    if !rule.labels.is_empty() {
        match_constraints["objectSelector"] = json!({ "matchLabels": rule.labels });
    }
    let waiver = waiver_annotation(&rule.name);
    if rule.message_expression.as_ref().is_some_and(|(text, _)| {
        binds_variable(text, "mesh") || reads_identifier(text, "resources") || reads_identifier(text, "siblings")
    }) {
        return Err(format!(
            "the message_expression of the rule `{}` reads what an admission policy does not have",
            rule.name
        ));
    }
    let expression = format!(
        "(has(object.metadata.annotations) && {} in object.metadata.annotations) || ({})",
        cel_string(&waiver),
        with_variables(&rule.condition, "mesh")
    );
    let mut validation = json!({ "expression": expression, "message": rule.message });
    if let Some((text, _)) = &rule.message_expression {
        validation["messageExpression"] = Json::String(with_variables(text, "mesh"));
    }
    let labels = json!({ "app.kubernetes.io/managed-by": "meshc" });
    let annotations = json!({ "meshc.dev/rule": rule.name, "meshc.dev/module": rule.module });
    let policy = json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": { "name": name, "labels": labels, "annotations": annotations },
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": match_constraints,
            "variables": [{ "name": "mesh", "expression": cel_literal(mesh) }],
            "validations": [validation],
        }
    });
    let actions = match rule.severity {
        RuleSeverity::Deny => json!(["Deny"]),
        RuleSeverity::Warn => json!(["Warn", "Audit"]),
    };
    let binding = json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": { "name": name, "labels": labels },
        "spec": { "policyName": name, "validationActions": actions }
    });
    Ok((policy, binding))
}

/// What an admission policy and its binding do with one object being created.
#[derive(Debug, PartialEq)]
pub enum AdmissionVerdict {
    /// The policy does not select the object.
    NotMatched,
    Allowed,
    /// Rejected (`Deny`), with the message.
    Denied(String),
    /// Admitted with a warning (`Warn`), with the message.
    Warned(String),
}

/// Evaluates an admission policy and its binding on an object being created, as the
/// API server does: the match constraints (resource rules, the namespace's
/// `kubernetes.io/metadata.name` label, object labels), then the variables, then the
/// validations; an expression that fails to evaluate fails the object, as
/// `failurePolicy: Fail` has it.
pub fn evaluate_admission(policy: &Json, binding: &Json, object: &Json) -> AdmissionVerdict {
    // The API server admits a namespaced object with the namespace of its request,
    // which kubectl makes `default` when the document names none.
    let mut object = object.clone();
    if object["metadata"]["namespace"].is_null()
        && let Some(metadata) = object.get_mut("metadata").and_then(Json::as_object_mut)
    {
        metadata.insert("namespace".to_string(), Json::String(crate::crd::DEFAULT_NAMESPACE.to_string()));
    }
    let object = &object;
    let spec = &policy["spec"];
    let constraints = &spec["matchConstraints"];
    let api_version = object["apiVersion"].as_str().unwrap_or("");
    let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    let kind = object["kind"].as_str().unwrap_or("");
    let plural = Kind::from_group_and_name(group, kind).map(Kind::plural);
    let contains = |list: &Json, value: &str| {
        list.as_array().is_some_and(|items| items.iter().any(|i| i.as_str() == Some(value) || i.as_str() == Some("*")))
    };
    let selected = constraints["resourceRules"].as_array().is_some_and(|rules| {
        rules.iter().any(|r| {
            contains(&r["apiGroups"], group)
                && plural.is_some_and(|p| contains(&r["resources"], p))
                && contains(&r["operations"], "CREATE")
        })
    });
    if !selected {
        return AdmissionVerdict::NotMatched;
    }
    let namespace = object["metadata"]["namespace"].as_str().unwrap_or(crate::crd::DEFAULT_NAMESPACE);
    if let Some(expressions) = constraints["namespaceSelector"]["matchExpressions"].as_array() {
        for expression in expressions {
            let key = expression["key"].as_str().unwrap_or("");
            let operator = expression["operator"].as_str().unwrap_or("");
            // The only label every namespace is known to carry is its own name.
            let value = (key == "kubernetes.io/metadata.name").then_some(namespace);
            let holds = match operator {
                "In" => value.is_some_and(|v| contains(&expression["values"], v)),
                "NotIn" => !value.is_some_and(|v| contains(&expression["values"], v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            };
            if !holds {
                return AdmissionVerdict::NotMatched;
            }
        }
    }
    if let Some(labels) = constraints["objectSelector"]["matchLabels"].as_object()
        && labels.iter().any(|(k, v)| object["metadata"]["labels"][k] != *v)
    {
        return AdmissionVerdict::NotMatched;
    }
    let actions = &binding["spec"]["validationActions"];
    let failed = |message: String| {
        if contains(actions, "Deny") { AdmissionVerdict::Denied(message) } else { AdmissionVerdict::Warned(message) }
    };
    let mut variables = serde_json::Map::new();
    for variable in spec["variables"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let name = variable["name"].as_str().unwrap_or("").to_string();
        let value = Expression::compile(variable["expression"].as_str().unwrap_or(""))
            .and_then(|expression| expression.evaluate(&[("object", object)]));
        match value {
            Ok(value) => {
                variables.insert(name, value);
            }
            Err(error) => return failed(format!("variable `{name}`: {error}")),
        }
    }
    let variables = Json::Object(variables);
    for validation in spec["validations"].as_array().map(Vec::as_slice).unwrap_or_default() {
        // `messageExpression` wins when it gives a non-empty string.
        let bindings = [("object", object), ("variables", &variables)];
        let evaluated = validation["messageExpression"].as_str().and_then(|text| {
            match Expression::compile(text).ok()?.evaluate(&bindings).ok()? {
                Json::String(message) if !message.trim().is_empty() => Some(message),
                _ => None,
            }
        });
        let message = evaluated.unwrap_or_else(|| validation["message"].as_str().unwrap_or("").to_string());
        let result = Expression::compile(validation["expression"].as_str().unwrap_or(""))
            .and_then(|expression| expression.evaluate_bool(&[("object", object), ("variables", &variables)]));
        if result != Ok(true) {
            return failed(message);
        }
    }
    AdmissionVerdict::Allowed
}

/// Whether a CEL text reads the top-level identifier `name` (not a field of that name,
/// not inside a string literal).
fn reads_identifier(text: &str, name: &str) -> bool {
    with_variables(text, name) != text
}

/// `text` with each top-level identifier `name` read from `variables` instead
/// (`mesh.root_namespace` → `variables.mesh.root_namespace`), as admission policies
/// hold their variables. String literals (quoted, triple-quoted, raw) and field
/// selections are left alone.
fn with_variables(text: &str, name: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut raw = false;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'"' || c == b'\'' {
            // Copy the literal through its closing quote(s), honouring escapes unless raw.
            let start = i;
            let triple = bytes.get(i..i + 3) == Some(&[c, c, c][..]);
            let quote_len = if triple { 3 } else { 1 };
            i += quote_len;
            while i < bytes.len() {
                if !raw && bytes[i] == b'\\' {
                    i += 2;
                } else if bytes[i] == c && (!triple || bytes.get(i..i + 3) == Some(&[c, c, c][..])) {
                    i += quote_len;
                    break;
                } else {
                    i += 1;
                }
            }
            i = i.min(bytes.len());
            out.push_str(&text[start..i]);
            raw = false;
            continue;
        }
        raw = false;
        if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let word = &text[start..i];
            // `r"..."`, `b'...'` and `rb"..."` are string prefixes, not identifiers.
            if matches!(bytes.get(i), Some(b'"' | b'\''))
                && matches!(word.to_ascii_lowercase().as_str(), "r" | "b" | "rb" | "br")
            {
                raw = word.to_ascii_lowercase().contains('r');
                out.push_str(word);
                continue;
            }
            let selected = text[..start].trim_end().ends_with('.');
            if word == name && !selected {
                out.push_str("variables.");
            }
            out.push_str(word);
            continue;
        }
        // Multi-byte characters are copied whole.
        let len = text[i..].chars().next().map(char::len_utf8).unwrap_or(1);
        out.push_str(&text[i..i + len]);
        i += len;
    }
    out
}

/// Whether a condition binds `name` as a comprehension variable (`all(mesh, ...)`),
/// which the rewrite into `variables.` cannot tell from the package's `mesh`.
fn binds_variable(text: &str, name: &str) -> bool {
    ["all", "exists", "exists_one", "map", "filter"].iter().any(|macro_name| {
        text.match_indices(&format!("{macro_name}(")).any(|(at, found)| {
            let rest = text[at + found.len()..].trim_start();
            rest.strip_prefix(name).is_some_and(|after| after.trim_start().starts_with(','))
        })
    })
}

/// A CEL string literal.
fn cel_string(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// A JSON value as a CEL literal.
fn cel_literal(value: &Json) -> String {
    match value {
        Json::Null => "null".to_string(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.to_string(),
        Json::String(s) => cel_string(s),
        Json::Array(items) => format!("[{}]", items.iter().map(cel_literal).collect::<Vec<_>>().join(", ")),
        Json::Object(map) => format!(
            "{{{}}}",
            map.iter().map(|(k, v)| format!("{}: {}", cel_string(k), cel_literal(v))).collect::<Vec<_>>().join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_level_identifiers_are_read_from_variables() {
        assert_eq!(
            with_variables("object.metadata.namespace != mesh.root_namespace", "mesh"),
            "object.metadata.namespace != variables.mesh.root_namespace"
        );
        // Fields of that name and string literals are left alone.
        assert_eq!(
            with_variables("object.mesh == 'mesh' && \"a mesh\" != ''", "mesh"),
            "object.mesh == 'mesh' && \"a mesh\" != ''"
        );
        assert!(reads_identifier("!resources.exists(r, r.kind == 'X')", "resources"));
        // Triple-quoted and raw strings are literals too.
        assert_eq!(
            with_variables("\"\"\"it's \" mesh\"\"\" == mesh.x", "mesh"),
            "\"\"\"it's \" mesh\"\"\" == variables.mesh.x"
        );
        assert_eq!(with_variables("r'a\\' + mesh.y", "mesh"), "r'a\\' + variables.mesh.y");
        assert!(binds_variable("object.spec.x.all(mesh, has(mesh.y))", "mesh"));
        assert!(!binds_variable("object.spec.x.all(m, m in mesh.providers)", "mesh"));
        assert!(!reads_identifier("object.spec.resources.size() > 0", "resources"));
    }

    #[test]
    fn json_becomes_a_cel_literal_that_evaluates_back() {
        let value = json!({ "releases": ["1.29", "1.30"], "root": "it's", "n": 3, "ok": true });
        let result = Expression::compile(&cel_literal(&value)).unwrap().evaluate(&[]).unwrap();
        assert_eq!(result, value);
    }
}
