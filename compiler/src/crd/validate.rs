//! A Kubernetes document validated as the API server validates a custom resource:
//! the envelope (`apiVersion`, `kind`, `metadata`), then the CRD's structural schema
//! in each release, with its CEL rules.

use super::schema::Schema;
use super::{Kind, document_schema, schema};
use crate::cel_eval::{CelError, Expression};
use crate::diagnostic::{Diagnostic, codes, did_you_mean};
use crate::model::node::{Member, Node, NodeKind};
use crate::span::Span;
use crate::versions::IstioRelease;
use serde_json::Value as Json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Validates one document of a manifest stream against the CRD of its kind in each
/// of `releases` (every supported release when empty). A mistake found in every
/// release is reported once, with a note naming them; one found in some releases
/// names them in its message. A document of another kind gets no diagnostic: the
/// caller decides what to say about kinds meshc does not know ([`super::Kind::from_name`]).
pub fn validate(document: &Node, releases: &[&IstioRelease]) -> Vec<Diagnostic> {
    let releases: Vec<&IstioRelease> = if releases.is_empty() { super::releases() } else { releases.to_vec() };
    let mut out = Vec::new();
    let Some(members) = document.members() else {
        out.push(
            Diagnostic::new(codes::CRD_INVALID_DOCUMENT, document.span, "a Kubernetes object is a mapping")
                .with_help("write `apiVersion`, `kind`, `metadata` and `spec` as fields"),
        );
        return out;
    };
    let Some(kind) = envelope(document, members, &mut out) else { return out };
    // What concerns the document as a whole is shown at its `kind`.
    let at_kind = members.iter().find(|m| m.key == "kind").map_or(start_of(document.span), |m| m.key_span);
    let envelope_fields = ["apiVersion", "kind", "metadata"];
    if let Some(metadata) = members.iter().find(|m| m.key == "metadata") {
        let meta_schema = document_schema().property("metadata").expect("metadata is described");
        let mut checker = Checker::default();
        checker.value(meta_schema, &metadata.value, "metadata", metadata.key_span);
        out.extend(checker.out);
        object_meta(&metadata.value, &mut out);
    } else {
        out.push(
            Diagnostic::new(codes::CRD_REQUIRED, at_kind, "metadata: Required value")
                .with_help("give the object a `metadata` with its `name` and `namespace`"),
        );
    }
    let mut found = Vec::new();
    let mut names = Vec::new();
    for release in &releases {
        let Some(root) = schema(release.version, kind) else { continue };
        let label = format!("Istio {}", release.version);
        names.push(label.clone());
        let mut checker = Checker::default();
        checker.object(root, document, "", at_kind, &envelope_fields);
        checker.rules(root, document, "", at_kind);
        found.extend(checker.out.into_iter().map(|d| (d, label.clone())));
    }
    out.extend(crate::envoy::report_by_version(found, &names));
    out
}

fn start_of(span: Span) -> Span {
    Span::new(span.file, span.start, span.start)
}

/// Validates a value against any structural schema, with its CEL rules, as the API
/// server validates a field: a ValidatingAdmissionPolicy's parameters, a user's own
/// schema. `path` names the value in messages (`spec`), and mistakes about the value
/// as a whole are shown at `anchor`.
pub fn validate_value(schema: Schema<'_>, value: &Node, path: &str, anchor: Span) -> Vec<Diagnostic> {
    let mut checker = Checker::default();
    checker.value(schema, value, path, anchor);
    checker.out
}

/// Checks `apiVersion` and `kind`; gives the kind when it is one of Istio's three.
fn envelope(document: &Node, members: &[Member], out: &mut Vec<Diagnostic>) -> Option<Kind> {
    let at_start = start_of(document.span);
    let kind_node = members.iter().find(|m| m.key == "kind");
    let kind = match kind_node.map(|m| &m.value) {
        Some(node) => match node.as_str() {
            Some(name) => Kind::from_name(name)?,
            None => {
                out.push(Diagnostic::new(codes::CRD_INVALID_DOCUMENT, node.span, "`kind` must be a string"));
                return None;
            }
        },
        None => {
            out.push(Diagnostic::new(codes::CRD_INVALID_DOCUMENT, at_start, "the object has no `kind`"));
            return None;
        }
    };
    let served: Vec<String> = kind.served_versions().iter().map(|v| format!("{}/{v}", kind.group())).collect();
    match members.iter().find(|m| m.key == "apiVersion") {
        None => out.push(
            Diagnostic::new(
                codes::CRD_INVALID_DOCUMENT,
                kind_node.map_or(at_start, |m| m.key_span),
                format!("the {} has no `apiVersion`", kind.name()),
            )
            .with_help(format!("add `apiVersion: {}`", served[0])),
        ),
        Some(member) => match member.value.as_str() {
            Some(api_version) if served.iter().any(|s| s == api_version) => {}
            Some(api_version) => {
                let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
                let message = if group != kind.group() {
                    format!("{} belongs to the API group `{}`, not `{group}`", kind.name(), kind.group())
                } else {
                    format!("the {} CRD does not serve the version `{version}`", kind.name())
                };
                let mut diagnostic = Diagnostic::new(codes::CRD_INVALID_DOCUMENT, member.value.span, message)
                    .with_note(format!("the CRD serves {}", served.join(", ")));
                if let Some(best) =
                    did_you_mean(api_version, served.iter().map(String::as_str)).or(served.first().map(String::as_str))
                {
                    diagnostic = diagnostic.with_did_you_mean(member.value.span, best);
                }
                out.push(diagnostic);
            }
            None => out.push(Diagnostic::new(
                codes::CRD_INVALID_DOCUMENT,
                member.value.span,
                "`apiVersion` must be a string",
            )),
        },
    }
    Some(kind)
}

/// The API server's own checks of `ObjectMeta`: the name, the namespace, labels.
fn object_meta(metadata: &Node, out: &mut Vec<Diagnostic>) {
    let has = |key: &str| metadata.get(key).is_some_and(|v| !matches!(v.kind, NodeKind::Null));
    if !has("name") && !has("generateName") && metadata.members().is_some() {
        out.push(
            Diagnostic::new(codes::CRD_REQUIRED, metadata.span, "metadata.name: Required value")
                .with_help("name the object, or give `generateName` to let the API server choose"),
        );
    }
    if let Some(name) = metadata.get("name").and_then(|n| n.as_str().map(|s| (s, n.span)))
        && let Some(problem) = dns_subdomain_problem(name.0)
    {
        out.push(Diagnostic::new(
            codes::CRD_INVALID_METADATA,
            name.1,
            format!("metadata.name: Invalid value: {:?}: {problem}", name.0),
        ));
    }
    if let Some((namespace, span)) = metadata.get("namespace").and_then(|n| n.as_str().map(|s| (s, n.span)))
        && let Some(problem) = dns_label_problem(namespace)
    {
        out.push(Diagnostic::new(
            codes::CRD_INVALID_METADATA,
            span,
            format!("metadata.namespace: Invalid value: {namespace:?}: {problem}"),
        ));
    }
    for (field, check_values) in [("labels", true), ("annotations", false)] {
        let Some(entries) = metadata.get(field).and_then(Node::members) else { continue };
        for entry in entries {
            if let Some(problem) = qualified_name_problem(&entry.key) {
                out.push(Diagnostic::new(
                    codes::CRD_INVALID_METADATA,
                    entry.key_span,
                    format!("metadata.{field}: Invalid value: {:?}: {problem}", entry.key),
                ));
            }
            if check_values
                && let Some(value) = entry.value.as_str()
                && let Some(problem) = label_value_problem(value)
            {
                out.push(Diagnostic::new(
                    codes::CRD_INVALID_METADATA,
                    entry.value.span,
                    format!("metadata.labels: Invalid value: {value:?}: {problem}"),
                ));
            }
        }
    }
}

fn is_alnum_lower(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn dns_label_problem(text: &str) -> Option<String> {
    if text.len() > 63 {
        return Some("must be no more than 63 characters".to_string());
    }
    let valid = !text.is_empty()
        && text.chars().all(|c| is_alnum_lower(c) || c == '-')
        && text.starts_with(is_alnum_lower)
        && text.ends_with(is_alnum_lower);
    (!valid).then(|| "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character".to_string())
}

fn dns_subdomain_problem(text: &str) -> Option<String> {
    if text.len() > 253 {
        return Some("must be no more than 253 characters".to_string());
    }
    let valid = !text.is_empty() && text.split('.').all(|label| dns_label_problem(label).is_none());
    (!valid).then(|| "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character".to_string())
}

/// A label's or annotation's key: `[prefix/]name`.
fn qualified_name_problem(key: &str) -> Option<String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix
        && dns_subdomain_problem(prefix).is_some()
    {
        return Some("the prefix must be a DNS subdomain".to_string());
    }
    if name.is_empty() {
        return Some("name part must be non-empty".to_string());
    }
    label_value_problem(name).map(|p| format!("name part {p}"))
}

fn label_value_problem(value: &str) -> Option<String> {
    if value.len() > 63 {
        return Some("must be no more than 63 characters".to_string());
    }
    let alnum = |c: char| c.is_ascii_alphanumeric();
    let valid = value.is_empty()
        || (value.chars().all(|c| alnum(c) || matches!(c, '-' | '_' | '.'))
            && value.starts_with(alnum)
            && value.ends_with(alnum));
    (!valid).then(|| "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character".to_string())
}

/// The checks of one release's schema, collecting diagnostics.
#[derive(Default)]
struct Checker {
    out: Vec<Diagnostic>,
    /// Inside a `oneOf`/`anyOf`/`not` branch, which only tests values: fields the
    /// branch does not name are not unknown there.
    branch: bool,
}

fn child_path(path: &str, name: &str) -> String {
    if path.is_empty() { name.to_string() } else { format!("{path}.{name}") }
}

impl Checker {
    fn report(&mut self, diagnostic: Diagnostic) {
        self.out.push(diagnostic);
    }

    /// Checks a value against its schema node. `anchor` is where the field was
    /// named (its key), for mistakes about the value as a whole.
    fn value(&mut self, schema: Schema<'_>, node: &Node, path: &str, anchor: Span) {
        match &node.kind {
            NodeKind::Unchecked => return,
            NodeKind::Null => {
                if !schema.nullable() && !self.branch {
                    self.report(
                        Diagnostic::new(
                            codes::CRD_NULL_DROPPED,
                            node.span.cover(anchor),
                            format!("`{path}` is null, and the API server drops it"),
                        )
                        .with_help("remove the field, or give it a value"),
                    );
                }
                return;
            }
            _ => {}
        }
        if !self.type_matches(schema, node, path) {
            return;
        }
        let enum_values = schema.enum_json();
        if !enum_values.is_empty() {
            let value = node.to_json();
            if !enum_values.contains(&value) {
                let listed: Vec<String> = enum_values.iter().map(|v| v.to_string()).collect();
                let mut diagnostic = Diagnostic::new(
                    codes::CRD_ENUM,
                    node.span,
                    format!("{path}: Unsupported value: {value}: supported values: {}", listed.join(", ")),
                );
                if let Some(text) = value.as_str()
                    && let Some(best) = did_you_mean(text, enum_values.iter().filter_map(Json::as_str))
                {
                    diagnostic = diagnostic.with_did_you_mean(node.span, best);
                }
                self.report(diagnostic);
            }
        }
        match &node.kind {
            NodeKind::String(text) => self.string(schema, text, node.span, path),
            NodeKind::Number { value, .. } => {
                if let Some(minimum) = schema.minimum()
                    && *value < minimum
                {
                    self.report(Diagnostic::new(
                        codes::CRD_OUT_OF_BOUNDS,
                        node.span,
                        format!("{path} in body should be greater than or equal to {minimum}"),
                    ));
                }
                if let Some(maximum) = schema.maximum()
                    && *value > maximum
                {
                    self.report(Diagnostic::new(
                        codes::CRD_OUT_OF_BOUNDS,
                        node.span,
                        format!("{path} in body should be less than or equal to {maximum}"),
                    ));
                }
            }
            NodeKind::List(items) => self.list(schema, items, node, path, anchor),
            NodeKind::Object(_) | NodeKind::Message { .. } => self.object(schema, node, path, anchor, &[]),
            _ => {}
        }
        self.combinators(schema, node, path, anchor);
        if !self.branch {
            self.rules(schema, node, path, anchor);
        }
    }

    /// Whether the value has the schema's type, reporting it when not.
    fn type_matches(&mut self, schema: Schema<'_>, node: &Node, path: &str) -> bool {
        let whole = |value: f64| value.fract() == 0.0 && value.is_finite();
        let (matches, wanted) = if schema.int_or_string() {
            (
                matches!(&node.kind, NodeKind::String(_))
                    || matches!(&node.kind, NodeKind::Number { value, .. } if whole(*value)),
                "integer or string",
            )
        } else {
            match schema.type_name() {
                None => (true, ""),
                Some("string") => (matches!(node.kind, NodeKind::String(_) | NodeKind::Duration { .. }), "string"),
                Some("integer") => (matches!(&node.kind, NodeKind::Number { value, .. } if whole(*value)), "integer"),
                Some("number") => (matches!(node.kind, NodeKind::Number { .. }), "number"),
                Some("boolean") => (matches!(node.kind, NodeKind::Bool(_)), "boolean"),
                Some("array") => (matches!(node.kind, NodeKind::List(_)), "array"),
                Some("object") => (matches!(node.kind, NodeKind::Object(_) | NodeKind::Message { .. }), "object"),
                Some(_) => (true, ""),
            }
        };
        if matches {
            return true;
        }
        if self.branch {
            self.out.push(Diagnostic::new(codes::CRD_TYPE_MISMATCH, node.span, ""));
            return false;
        }
        let got = json_type(node);
        let mut diagnostic = Diagnostic::new(
            codes::CRD_TYPE_MISMATCH,
            node.span,
            format!("{path}: Invalid value: \"{got}\": {path} in body must be of type {wanted}: \"{got}\""),
        )
        .with_label_message(format!("{} where the CRD wants {}", node.describe(), article(wanted)));
        if let NodeKind::String(text) = &node.kind {
            let unquoted = match wanted {
                "integer" | "number" | "integer or string" => text.trim().parse::<f64>().is_ok(),
                "boolean" => matches!(text.as_str(), "true" | "false"),
                _ => false,
            };
            if unquoted {
                diagnostic = diagnostic.with_help(
                    "write it without quotes: the API server checks types strictly and does not read proto3 JSON's quoted forms",
                );
            }
        } else if wanted == "string" && matches!(node.kind, NodeKind::Number { .. } | NodeKind::Bool(_)) {
            diagnostic = diagnostic.with_help(
                "quote it: YAML reads it as a number or a boolean (`yes`, `on` and `off` are booleans to Kubernetes)",
            );
        }
        self.report(diagnostic);
        false
    }

    fn string(&mut self, schema: Schema<'_>, text: &str, span: Span, path: &str) {
        let length = text.chars().count() as f64;
        if let Some(min) = schema.min_length()
            && length < min
        {
            self.report(Diagnostic::new(
                codes::CRD_OUT_OF_BOUNDS,
                span,
                format!("{path} in body should be at least {min} chars long"),
            ));
        }
        if let Some(max) = schema.max_length()
            && length > max
        {
            self.report(Diagnostic::new(
                codes::CRD_OUT_OF_BOUNDS,
                span,
                format!("{path} in body should be at most {max} chars long"),
            ));
        }
        if let Some(pattern) = schema.pattern() {
            match compiled_pattern(pattern) {
                Some(regex) if !regex.is_match(text) => self.report(Diagnostic::new(
                    codes::CRD_PATTERN,
                    span,
                    format!("{path} in body should match '{pattern}'"),
                )),
                _ => {}
            }
        }
    }

    fn list(&mut self, schema: Schema<'_>, items: &[Node], node: &Node, path: &str, anchor: Span) {
        let count = items.len() as f64;
        if let Some(min) = schema.min_items()
            && count < min
        {
            self.report(Diagnostic::new(
                codes::CRD_OUT_OF_BOUNDS,
                node.span.cover(anchor),
                format!("{path} in body should have at least {min} items"),
            ));
        }
        if let Some(max) = schema.max_items()
            && count > max
        {
            self.report(Diagnostic::new(
                codes::CRD_OUT_OF_BOUNDS,
                node.span.cover(anchor),
                format!("{path}: Too many: {count}: must have at most {max} items"),
            ));
        }
        if let Some(item_schema) = schema.items() {
            for (index, item) in items.iter().enumerate() {
                self.value(item_schema, item, &format!("{path}[{index}]"), item.span);
            }
        }
        if self.branch {
            return;
        }
        // A map list is keyed by its key fields, a set by its whole items.
        let keys = schema.list_map_keys();
        let key_of = |item: &Node| -> Option<Json> {
            match schema.list_type() {
                Some("map") if !keys.is_empty() => {
                    let mut key = serde_json::Map::new();
                    for name in &keys {
                        key.insert(name.to_string(), item.get(name).map(Node::to_json).unwrap_or(Json::Null));
                    }
                    Some(Json::Object(key))
                }
                Some("set") => Some(item.to_json()),
                _ => None,
            }
        };
        let mut seen: Vec<Json> = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let Some(key) = key_of(item) else { return };
            if seen.contains(&key) {
                self.report(Diagnostic::new(
                    codes::CRD_DUPLICATE,
                    item.span,
                    format!("{path}[{index}]: Duplicate value: {key}"),
                ));
            } else {
                seen.push(key);
            }
        }
    }

    /// An object's fields: known ones are checked, unknown ones reported, required
    /// ones looked for. `skip` names fields checked elsewhere (the envelope).
    fn object(&mut self, schema: Schema<'_>, node: &Node, path: &str, anchor: Span, skip: &[&str]) {
        let members = node.members().unwrap_or(&[]);
        let count = members.len() as f64;
        if let Some(max) = schema.max_properties()
            && count > max
        {
            self.report(Diagnostic::new(
                codes::CRD_OUT_OF_BOUNDS,
                node.span.cover(anchor),
                format!("{path}: Too many: {count}: must have at most {max} items"),
            ));
        }
        if let Some(min) = schema.min_properties()
            && count < min
        {
            self.report(Diagnostic::new(
                codes::CRD_OUT_OF_BOUNDS,
                node.span.cover(anchor),
                format!("{path} in body should have at least {min} properties"),
            ));
        }
        for required in schema.required() {
            if !members.iter().any(|m| m.key == required) {
                let field = child_path(path, required);
                self.report(
                    Diagnostic::new(codes::CRD_REQUIRED, anchor, format!("{field}: Required value"))
                        .with_label_message(format!("`{required}` is missing here")),
                );
            }
        }
        let mut seen: Vec<&str> = Vec::new();
        for member in members {
            if seen.contains(&member.key.as_str()) && !self.branch {
                self.report(Diagnostic::new(
                    codes::CRD_DUPLICATE,
                    member.key_span,
                    format!("`{}` is set twice in `{path}`", member.key),
                ));
            }
            seen.push(&member.key);
            if skip.contains(&member.key.as_str()) {
                continue;
            }
            if let Some(field) = schema.property(&member.key) {
                self.value(field, &member.value, &child_path(path, &member.key), member.key_span);
            } else if let Some(values) = schema.additional_properties() {
                self.value(values, &member.value, &format!("{path}[{}]", member.key), member.key_span);
            } else if !schema.preserves_unknown_fields() && !self.branch {
                let mut names: Vec<&str> = skip.to_vec();
                names.extend(schema.property_names());
                let field = child_path(path, &member.key);
                let mut diagnostic =
                    Diagnostic::new(codes::CRD_UNKNOWN_FIELD, member.key_span, format!("unknown field \"{field}\""))
                        .with_label_message("the API server rejects or silently drops it");
                // No list of the fields that stand here: it differs between releases,
                // and would split one mistake into a diagnostic per release.
                if let Some(best) = did_you_mean(&member.key, names.iter().copied()) {
                    diagnostic = diagnostic.with_did_you_mean(member.key_span, best);
                }
                self.report(diagnostic);
            }
        }
    }

    /// `oneOf`, `anyOf`, `allOf` and `not`, which structural schemas use to say
    /// which fields exclude each other.
    fn combinators(&mut self, schema: Schema<'_>, node: &Node, path: &str, anchor: Span) {
        let one_of = schema.combinator("oneOf");
        if !one_of.is_empty() {
            let accepted: Vec<Schema<'_>> =
                one_of.iter().copied().filter(|branch| self.accepts(*branch, node)).collect();
            if accepted.len() != 1 {
                let fields: Vec<String> =
                    accepted.iter().flat_map(|b| b.required()).map(|f| format!("`{f}`")).collect();
                let message = if accepted.len() > 1 && !fields.is_empty() {
                    format!(
                        "{path}: only one of {} may be set: must validate one and only one schema (oneOf)",
                        fields.join(", ")
                    )
                } else {
                    format!("{path}: must validate one and only one schema (oneOf)")
                };
                self.report(Diagnostic::new(codes::CRD_ONE_OF, anchor, message));
            }
        }
        let any_of = schema.combinator("anyOf");
        // An int-or-string's `anyOf` restates its two types, which are checked already.
        if !any_of.is_empty() && !schema.int_or_string() && !any_of.iter().any(|branch| self.accepts(*branch, node)) {
            self.report(Diagnostic::new(
                codes::CRD_ONE_OF,
                anchor,
                format!("{path}: must validate at least one schema (anyOf)"),
            ));
        }
        for branch in schema.combinator("allOf") {
            self.value(branch, node, path, anchor);
        }
        if let Some(not) = schema.negated()
            && self.accepts(not, node)
        {
            let fields = not.required();
            let message = if fields.is_empty() {
                format!("{path}: must not validate the schema (not)")
            } else {
                format!(
                    "{path}: must not set {}",
                    fields.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ")
                )
            };
            self.report(Diagnostic::new(codes::CRD_ONE_OF, anchor, message));
        }
    }

    /// Whether `node` passes a branch's value checks.
    fn accepts(&self, branch: Schema<'_>, node: &Node) -> bool {
        let mut trial = Checker { out: Vec::new(), branch: true };
        trial.value(branch, node, "", node.span);
        trial.out.is_empty()
    }

    /// The node's `x-kubernetes-validations`, with `self` bound to its value as the
    /// API server sees it: with unknown fields pruned.
    fn rules(&mut self, schema: Schema<'_>, node: &Node, path: &str, anchor: Span) {
        let rules = schema.validations();
        if rules.is_empty() {
            return;
        }
        let value = pruned(schema, node);
        let shown_path = if path.is_empty() { "<root>" } else { path };
        for rule in rules {
            let expression = match compiled_rule(rule.rule) {
                Ok(expression) => expression,
                Err(error) => {
                    self.not_evaluated(rule.rule, rule.message, &error, anchor);
                    continue;
                }
            };
            // A transition rule compares with the stored object, which a new object
            // does not have: the API server skips it on create, and so does meshc.
            if expression.uses_variable("oldSelf") {
                continue;
            }
            let type_name = schema.type_name().unwrap_or_else(|| json_type(node));
            let span = rule.field_path.and_then(|p| field_path_span(node, p)).unwrap_or(anchor);
            let message = || -> String {
                if let Some(text) = rule.message_expression
                    && let Ok(expression) = compiled_rule(text)
                    && let Ok(Json::String(message)) = expression.evaluate(&[("self", &value)])
                {
                    return message;
                }
                rule.message.map(str::to_string).unwrap_or_else(|| format!("failed rule: {}", rule.rule))
            };
            match expression.evaluate_bool(&[("self", &value)]) {
                Ok(true) => {}
                Ok(false) => self.report(
                    Diagnostic::new(
                        codes::CRD_RULE_FAILED,
                        span,
                        format!("{shown_path}: Invalid value: \"{type_name}\": {}", message()),
                    )
                    .with_note(format!("the CRD's rule: {}", rule.rule.replace('\n', " "))),
                ),
                // The API server reports a rule that fails to evaluate (a missing
                // key, most often) as invalid too, with the error before the message.
                Err(CelError::Evaluation(error)) => self.report(
                    Diagnostic::new(
                        codes::CRD_RULE_FAILED,
                        span,
                        format!("{shown_path}: Invalid value: \"{type_name}\": {error} evaluating rule: {}", message()),
                    )
                    .with_note(format!("the CRD's rule: {}", rule.rule.replace('\n', " "))),
                ),
                Err(error) => self.not_evaluated(rule.rule, rule.message, &error, span),
            }
        }
    }

    fn not_evaluated(&mut self, rule: &str, message: Option<&str>, error: &CelError, span: Span) {
        let mut diagnostic = Diagnostic::new(
            codes::CRD_RULE_NOT_EVALUATED,
            span,
            format!("meshc cannot evaluate the CRD's rule `{}`", rule.replace('\n', " ")),
        )
        .with_note(error.to_string());
        if let Some(message) = message {
            diagnostic = diagnostic
                .with_note(format!("the API server rejects the value with \"{message}\" when the rule is false"));
        }
        self.report(diagnostic);
    }
}

/// The JSON type name of a value, as the API server's messages write it.
fn json_type(node: &Node) -> &'static str {
    match &node.kind {
        NodeKind::String(_) | NodeKind::Duration { .. } => "string",
        NodeKind::Number { value, raw } => {
            if value.fract() == 0.0 && !raw.contains(['.', 'e', 'E']) {
                "integer"
            } else {
                "number"
            }
        }
        NodeKind::Bool(_) => "boolean",
        NodeKind::List(_) => "array",
        NodeKind::Object(_) | NodeKind::Message { .. } => "object",
        NodeKind::Null | NodeKind::Unchecked => "null",
    }
}

fn article(wanted: &str) -> String {
    match wanted.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {wanted}"),
        _ => format!("a {wanted}"),
    }
}

/// The value as the API server stores it before running rules: fields the schema
/// does not know, and nulls it does not allow, pruned.
fn pruned(schema: Schema<'_>, node: &Node) -> Json {
    match &node.kind {
        NodeKind::Object(members) | NodeKind::Message { fields: members, .. } => {
            let mut object = serde_json::Map::new();
            for member in members {
                let field = schema.property(&member.key).or_else(|| schema.additional_properties());
                match field {
                    Some(field) if matches!(member.value.kind, NodeKind::Null) && !field.nullable() => {}
                    Some(field) => {
                        object.insert(member.key.clone(), pruned(field, &member.value));
                    }
                    None if schema.preserves_unknown_fields() => {
                        object.insert(member.key.clone(), member.value.to_json());
                    }
                    None => {}
                }
            }
            Json::Object(object)
        }
        NodeKind::List(items) => match schema.items() {
            Some(item) => Json::Array(items.iter().map(|i| pruned(item, i)).collect()),
            None => node.to_json(),
        },
        _ => node.to_json(),
    }
}

/// Where a rule's `fieldPath` (`.spec.name`, `.items[0]`, `['key']`) points, below
/// the node the rule sits on.
fn field_path_span(node: &Node, path: &str) -> Option<Span> {
    let segments = super::parse_path(path).ok()?;
    let mut current = node;
    let mut span = node.span;
    for segment in segments {
        match segment {
            super::PathSegment::Field(name) => {
                let member = current.members()?.iter().find(|m| m.key == name)?;
                span = member.key_span;
                current = &member.value;
            }
            // Which item the index names is not kept by the parsed path: the list
            // as a whole is shown.
            super::PathSegment::Item => span = current.span,
        }
    }
    Some(span)
}

/// Rules compiled once per process: the same few rules stand in every release and
/// on every item of a list.
fn compiled_rule(text: &str) -> Result<Arc<Expression>, CelError> {
    type Compiled = Result<Arc<Expression>, CelError>;
    static CACHE: OnceLock<Mutex<HashMap<String, Compiled>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Mutex::default);
    if let Some(found) = cache.lock().ok().and_then(|c| c.get(text).cloned()) {
        return found;
    }
    let compiled = Expression::compile(text).map(Arc::new);
    if let Ok(mut cache) = cache.lock() {
        cache.insert(text.to_string(), compiled.clone());
    }
    compiled
}

/// Schema patterns compiled once. The API server compiles them with Go's RE2
/// syntax, which the `regex` crate shares; one that does not compile checks nothing.
fn compiled_pattern(pattern: &str) -> Option<regex::Regex> {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<regex::Regex>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Mutex::default);
    let mut cache = cache.lock().ok()?;
    cache.entry(pattern.to_string()).or_insert_with(|| regex::Regex::new(pattern).ok()).clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envoy::yaml::parse_yaml_documents;
    use crate::span::FileId;
    use crate::versions::ISTIO_RELEASES;

    fn check(text: &str, releases: &[&str]) -> Vec<Diagnostic> {
        let (documents, errors) = parse_yaml_documents(FileId(0), text, codes::CRD_INVALID_DOCUMENT);
        assert!(errors.is_empty(), "{errors:?}");
        let releases: Vec<&'static IstioRelease> =
            releases.iter().map(|r| ISTIO_RELEASES.iter().find(|x| x.version == *r).unwrap()).collect();
        documents.iter().flat_map(|d| validate(d, &releases)).collect()
    }

    fn codes_of(diagnostics: &[Diagnostic]) -> Vec<&'static str> {
        diagnostics.iter().map(|d| d.code.0).collect()
    }

    const TELEMETRY: &str =
        "apiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata:\n  name: t\n  namespace: ns\nspec:\n";

    #[test]
    fn a_valid_document_has_no_diagnostic() {
        let text =
            format!("{TELEMETRY}  tracing:\n  - randomSamplingPercentage: 10\n    providers:\n    - name: zipkin\n");
        assert_eq!(check(&text, &["1.28", "1.30"]), vec![]);
        let other = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: b\n";
        assert_eq!(check(other, &["1.30"]), vec![], "other kinds are the caller's business");
    }

    #[test]
    fn unknown_fields_are_errors_with_did_you_mean_at_the_key() {
        let text = format!("{TELEMETRY}  tracing:\n  - randomSamplingPercentag: 10\n");
        let found = check(&text, &["1.30"]);
        assert_eq!(codes_of(&found), vec!["E0801"]);
        assert_eq!(&text[found[0].primary_span().range()], "randomSamplingPercentag");
        assert_eq!(found[0].help.as_deref(), Some("did you mean `randomSamplingPercentage`?"));
        assert!(found[0].message.contains("spec.tracing[0].randomSamplingPercentag"), "{}", found[0].message);
    }

    #[test]
    fn types_are_strict_and_int_or_string_takes_both() {
        let text = format!("{TELEMETRY}  tracing:\n  - randomSamplingPercentage: \"10\"\n");
        let found = check(&text, &["1.30"]);
        assert_eq!(codes_of(&found), vec!["E0802"]);
        assert!(found[0].help.as_deref().unwrap_or("").contains("without quotes"));
        let wasm = "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata:\n  name: w\nspec:\n  url: oci://x/y:1\n  priority: 1.5\n";
        assert_eq!(codes_of(&check(wasm, &["1.30"])), vec!["E0802"]);
        let status = "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata:\n  name: w\nspec:\n  url: oci://x/y:1\nstatus:\n  observedGeneration: \"3\"\n";
        assert_eq!(check(status, &["1.30"]), vec![]);
    }

    #[test]
    fn enums_bounds_patterns_and_required() {
        let text = format!(
            "{TELEMETRY}  accessLogging:\n  - match:\n      mode: CLIENT_AND_SEVER\n  tracing:\n  - randomSamplingPercentage: 150\n  metrics:\n  - providers:\n    - {{}}\n"
        );
        let found = check(&text, &["1.30"]);
        assert_eq!(codes_of(&found), vec!["E0803", "E0805", "E0804"]);
        assert_eq!(found[0].help.as_deref(), Some("did you mean `CLIENT_AND_SERVER`?"));
        let wasm = "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata:\n  name: w\nspec:\n  url: oci://x/y:1\n  sha256: abc\n";
        let found = check(wasm, &["1.30"]);
        assert_eq!(codes_of(&found), vec!["E0806"]);
        assert!(found[0].message.starts_with("spec.sha256 in body should match"));
    }

    #[test]
    fn rules_fail_with_their_message_where_they_stand() {
        let text = "apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nmetadata:\n  name: f\nspec:\n  configPatches:\n  - applyTo: HTTP_FILTER\n    match:\n      context: WAYPOINT\n      waypoint:\n        portNumber: 0\n";
        let found = check(text, &["1.30"]);
        assert_eq!(codes_of(&found), vec!["E0808"]);
        assert!(found[0].message.contains("spec.configPatches[0].match.waypoint.portNumber: Invalid value: \"integer\": port must be between 1-65535"), "{}", found[0].message);
        assert_eq!(&text[found[0].primary_span().range()], "portNumber");
    }

    #[test]
    fn a_mistake_of_some_releases_names_them() {
        let text = format!("{TELEMETRY}  tracing:\n  - disableContextPropagation: true\n");
        let found = check(&text, &["1.29", "1.30"]);
        assert_eq!(codes_of(&found), vec!["E0801"]);
        assert!(found[0].message.ends_with("in Istio 1.29"), "{}", found[0].message);
        assert_eq!(found[0].notes.last().map(String::as_str), Some("Istio 1.30 accepts it"));
        let everywhere = format!("{TELEMETRY}  tracing:\n  - nope: true\n");
        let found = check(&everywhere, &["1.29", "1.30"]);
        assert_eq!(found.len(), 1, "one diagnostic for both releases");
        assert_eq!(found[0].notes.last().map(String::as_str), Some("in Istio 1.29, Istio 1.30"));
    }

    #[test]
    fn the_envelope_is_checked_once() {
        let text = "apiVersion: telemetry.istio.io/v2\nkind: Telemetry\nmetadata:\n  name: Bad_Name\n  labels:\n    app: \"-x\"\n  uid2: 1\nspec: {}\nextra: 1\n";
        let found = check(text, &["1.29", "1.30"]);
        assert_eq!(codes_of(&found), vec!["E0800", "E0801", "E0810", "E0810", "E0801"]);
        assert_eq!(found[0].suggestions[0].replacement, "telemetry.istio.io/v1");
        let v1alpha1 =
            "apiVersion: telemetry.istio.io/v1alpha1\nkind: Telemetry\nmetadata:\n  generateName: t-\nspec: {}\n";
        assert_eq!(check(v1alpha1, &["1.30"]), vec![]);
        let nameless = "apiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata:\n  namespace: ns\n";
        assert_eq!(codes_of(&check(nameless, &["1.30"])), vec!["E0804"]);
    }

    #[test]
    fn one_of_and_duplicates() {
        let text = "apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nmetadata:\n  name: f\nspec:\n  configPatches:\n  - applyTo: CLUSTER\n    match:\n      cluster: {}\n      listener: {}\n";
        let found = check(text, &["1.30"]);
        assert_eq!(codes_of(&found), vec!["E0807"]);
        assert!(found[0].message.contains("`listener`, `cluster`"), "{}", found[0].message);
        let env = "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata:\n  name: w\nspec:\n  url: oci://x/y:1\n  vmConfig:\n    env:\n    - name: A\n    - name: A\n";
        assert_eq!(codes_of(&check(env, &["1.30"])), vec!["E0809"]);
    }

    #[test]
    fn a_custom_tag_takes_one_form() {
        let text = format!(
            "{TELEMETRY}  tracing:\n  - customTags:\n      both:\n        literal:\n          value: x\n        header:\n          name: h\n      none: {{}}\n"
        );
        let found = check(&text, &["1.30"]);
        // An empty tag passes: the schema's `oneOf` lets a tag set none of the forms.
        assert_eq!(codes_of(&found), vec!["E0807"], "{found:#?}");
        assert!(
            found[0].message.contains("`header`, `literal`") || found[0].message.contains("`literal`, `header`"),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn rules_take_message_expressions_field_paths_and_skip_transitions() {
        let schema = serde_json::json!({
            "type": "object",
            "properties": { "min": { "type": "integer" }, "max": { "type": "integer" } },
            "x-kubernetes-validations": [
                { "rule": "self.min <= self.max", "messageExpression": "'min ' + string(self.min) + ' exceeds max'", "fieldPath": ".max" },
                { "rule": "self.min == oldSelf.min", "message": "min is immutable" },
            ],
        });
        let text = "min: 5\nmax: 2\n";
        let (documents, _) = parse_yaml_documents(FileId(0), text, codes::CRD_INVALID_DOCUMENT);
        let found = validate_value(Schema::new(&schema), &documents[0], "spec", documents[0].span);
        assert_eq!(codes_of(&found), vec!["E0808"], "the transition rule is skipped on create");
        assert!(found[0].message.ends_with("min 5 exceeds max"), "{}", found[0].message);
        assert_eq!(&text[found[0].primary_span().range()], "max");
    }

    #[test]
    fn nulls_the_schema_does_not_allow_are_dropped() {
        let text = format!("{TELEMETRY}  tracing:\n  - randomSamplingPercentage: ~\n    providers:\n");
        let found = check(&text, &["1.30"]);
        assert_eq!(codes_of(&found), vec!["W0811"]);
    }
}
