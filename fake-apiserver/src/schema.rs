//! A small structural-schema validator for custom resources, written for this fake server.
//!
//! Three walks over an object and its CRD's `openAPIV3Schema`:
//! - [`typed_errors`]: what structured-merge-diff's typed conversion rejects in an apply patch (fields not declared in the schema, scalars of the wrong kind), which kube-apiserver reports as a 500 `failed to create typed patch object`;
//! - [`prune`]: removes fields not declared in the schema, as kube-apiserver's pruning does for non-apply writes, and says which;
//! - [`validate`]: the value validation of kube-openapi, with its messages as kube-apiserver turns them into field errors.
//!
//! Supported keywords: `type` (object, array, string, integer, number, boolean; integer accepts whole numbers only), `enum`, `minimum`/`maximum` (and `exclusiveMinimum`/`exclusiveMaximum`), `multipleOf`, `minLength`/`maxLength`, `minItems`/`maxItems`, `minProperties`/`maxProperties`, `pattern`, `required`, `format: int32` ranges, `nullable`, `x-kubernetes-int-or-string`, `x-kubernetes-preserve-unknown-fields`, `additionalProperties`, and `oneOf`/`anyOf`/`allOf`/`not` as structural schemas allow them (required lists and types).
//! CEL rules (`x-kubernetes-validations`) are not evaluated, and string formats (`date-time` and the like) are not checked.

use regex::Regex;
use serde_json::{Map, Value};

/// Metadata fields of ObjectMeta, which every object may carry whatever its schema
/// says, in the order of ObjectMeta's fields in Go.
pub(crate) const OBJECT_META: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

fn types(schema: &Value) -> Vec<&str> {
    if schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        return vec!["integer", "string"];
    }
    schema.get("type").and_then(Value::as_str).map(|t| vec![t]).unwrap_or_default()
}

fn preserves_unknown(schema: &Value) -> bool {
    schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
}

/// The schema of a map's entry `key`, or None when the field is not declared.
fn property_schema<'a>(schema: &'a Value, key: &str) -> Option<&'a Value> {
    if let Some(p) = schema.get("properties").and_then(|p| p.get(key)) {
        return Some(p);
    }
    match schema.get("additionalProperties") {
        Some(s @ Value::Object(_)) => Some(s),
        Some(Value::Bool(true)) => Some(&Value::Null),
        _ if preserves_unknown(schema) => Some(&Value::Null),
        _ => None,
    }
}

/// Go's `%v` of a value structured-merge-diff holds (a `*valueUnstructured`, printed as `&{...}`).
fn go_v(value: &Value) -> String {
    fn inner(value: &Value) -> String {
        match value {
            Value::String(s) => s.clone(),
            Value::Null => "<nil>".into(),
            Value::Array(items) => format!("[{}]", items.iter().map(inner).collect::<Vec<_>>().join(" ")),
            Value::Object(map) => {
                format!("map[{}]", map.iter().map(|(k, v)| format!("{k}:{}", inner(v))).collect::<Vec<_>>().join(" "))
            }
            other => other.to_string(),
        }
    }
    format!("&{{{}}}", inner(value))
}

/// Go's `%T` of an unstructured JSON value.
fn go_type(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "string",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
        Value::Null => "<nil>",
    }
}

/// What structured-merge-diff's conversion of an apply patch to a typed value rejects, as `.spec.foo: field not declared in schema` lines.
/// `root` is the CRD's openAPIV3Schema.
pub fn typed_errors(root: &Value, object: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let Some(map) = object.as_object() else {
        return vec![": expected map".into()];
    };
    for (key, value) in map {
        match key.as_str() {
            "apiVersion" | "kind" => {}
            "metadata" => typed_metadata(value, &mut errors),
            _ => match property_schema(root, key) {
                Some(schema) => typed_walk(schema, value, &format!(".{key}"), &mut errors),
                None => errors.push(format!(".{key}: field not declared in schema")),
            },
        }
    }
    errors
}

fn typed_metadata(value: &Value, errors: &mut Vec<String>) {
    let Some(meta) = value.as_object() else {
        if !value.is_null() {
            errors.push(format!(".metadata: expected map, got {}", go_v(value)));
        }
        return;
    };
    for (key, value) in meta {
        if !OBJECT_META.contains(&key.as_str()) {
            errors.push(format!(".metadata.{key}: field not declared in schema"));
        } else if key == "labels" || key == "annotations" {
            let string_map = serde_json::json!({"type": "object", "additionalProperties": {"type": "string"}});
            typed_walk(&string_map, value, &format!(".metadata.{key}"), errors);
        }
    }
}

/// The typed walk below the root; `schema` Null means anything goes.
pub(crate) fn typed_walk(schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    if schema.is_null() || value.is_null() {
        return;
    }
    let types = types(schema);
    if types.len() > 1 {
        return; // int-or-string is an untyped scalar to structured-merge-diff
    }
    match types.first().copied() {
        Some("object") => {
            let Some(map) = value.as_object() else {
                errors.push(format!("{path}: expected map, got {}", go_v(value)));
                return;
            };
            for (key, child) in map {
                match property_schema(schema, key) {
                    Some(child_schema) => typed_walk(child_schema, child, &format!("{path}.{key}"), errors),
                    None => errors.push(format!("{path}.{key}: field not declared in schema")),
                }
            }
        }
        Some("array") => {
            let Some(items) = value.as_array() else {
                errors.push(format!("{path}: expected list, got {}", go_v(value)));
                return;
            };
            let item_schema = schema.get("items").unwrap_or(&Value::Null);
            for (i, item) in items.iter().enumerate() {
                typed_walk(item_schema, item, &format!("{path}[{i}]"), errors);
            }
        }
        Some("integer" | "number") if !value.is_number() => {
            errors.push(format!("{path}: expected numeric (int or float), got {}", go_type(value)));
        }
        Some("string") if !value.is_string() => {
            errors.push(format!("{path}: expected string, got &value.valueUnstructured{{Value:{}}}", go_plain(value)));
        }
        Some("boolean") if !value.is_boolean() => {
            errors.push(format!("{path}: expected boolean, got {}", go_v(value)));
        }
        _ => {}
    }
}

fn go_plain(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// Removes the fields `root` does not declare from `object`, returning their paths (`spec.foo`, `spec.tracing[0].foo`), as kube-apiserver's pruning reports them.
pub fn prune(root: &Value, object: &mut Value) -> Vec<String> {
    let mut pruned = Vec::new();
    if let Some(map) = object.as_object_mut() {
        map.retain(|key, value| match key.as_str() {
            "apiVersion" | "kind" => true,
            "metadata" => {
                if let Some(meta) = value.as_object_mut() {
                    meta.retain(|mkey, _| {
                        let known = OBJECT_META.contains(&mkey.as_str());
                        if !known {
                            pruned.push(format!("metadata.{mkey}"));
                        }
                        known
                    });
                }
                true
            }
            _ => match property_schema(root, key) {
                Some(schema) => {
                    prune_walk(schema, value, key, &mut pruned);
                    true
                }
                None => {
                    pruned.push(key.clone());
                    false
                }
            },
        });
    }
    pruned
}

fn prune_walk(schema: &Value, value: &mut Value, path: &str, pruned: &mut Vec<String>) {
    if schema.is_null() {
        return;
    }
    match value {
        Value::Object(map) if types(schema) == ["object"] => {
            map.retain(|key, child| match property_schema(schema, key) {
                Some(child_schema) => {
                    prune_walk(child_schema, child, &format!("{path}.{key}"), pruned);
                    true
                }
                None => {
                    pruned.push(format!("{path}.{key}"));
                    false
                }
            });
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    prune_walk(item_schema, item, &format!("{path}[{i}]"), pruned);
                }
            }
        }
        _ => {}
    }
}

/// One field error, as k8s.io/apimachinery's `field.Error`.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldError {
    /// The cause type: `FieldValueInvalid`, `FieldValueRequired`, ...
    pub reason: &'static str,
    pub field: String,
    pub bad_value: Option<Value>,
    pub detail: String,
}

impl FieldError {
    fn new(reason: &'static str, field: &str, bad_value: Option<Value>, detail: String) -> FieldError {
        FieldError { reason, field: field.to_string(), bad_value, detail }
    }

    /// `field.Error.ErrorBody()`: the type's words, the bad value, the detail.
    pub fn body(&self) -> String {
        let words = match self.reason {
            "FieldValueRequired" => "Required value",
            "FieldValueNotSupported" => "Unsupported value",
            "FieldValueTooLong" => "Too long",
            "FieldValueTooMany" => "Too many",
            "FieldValueForbidden" => "Forbidden",
            _ => "Invalid value",
        };
        let mut body = match (&self.bad_value, self.reason) {
            (_, "FieldValueRequired" | "FieldValueTooLong" | "FieldValueForbidden") | (None, _) => words.to_string(),
            (Some(value), _) => format!("{words}: {}", go_value(value)),
        };
        if !self.detail.is_empty() {
            body.push_str(": ");
            body.push_str(&self.detail);
        }
        body
    }

    /// `field.Error.Error()`.
    pub fn message(&self) -> String {
        format!("{}: {}", self.field, self.body())
    }
}

/// How `field.Error` prints a bad value: strings quoted (`%q`), numbers and booleans bare, others as JSON.
fn go_value(value: &Value) -> String {
    match value {
        Value::String(s) => go_quote(s),
        Value::Number(n) => go_number(n.as_f64().unwrap_or_default(), n),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

fn go_quote(s: &str) -> String {
    // serde_json's escaping matches Go's %q for the printable strings that matter here.
    Value::String(s.to_string()).to_string()
}

fn go_number(f: f64, n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() { n.to_string() } else { go_float(f) }
}

/// Go's `%v` of a float64 (shortest representation, exponent from 1e21).
fn go_float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e21 { format!("{}", f as i64) } else { format!("{f}") }
}

fn bound(schema: &Value, key: &str) -> Option<f64> {
    schema.get(key).and_then(Value::as_f64)
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "string",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        Value::Null => "null",
    }
}

/// Validates a custom resource against its version's openAPIV3Schema; `apiVersion`, `kind` and `metadata` are not the schema's business.
pub fn validate(root: &Value, object: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(map) = object.as_object() {
        for key in root.get("required").and_then(Value::as_array).into_iter().flatten() {
            if let Some(key) = key.as_str()
                && !map.contains_key(key)
            {
                errors.push(FieldError::new("FieldValueRequired", key, None, String::new()));
            }
        }
        for (key, value) in map {
            if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            if let Some(schema) = property_schema(root, key) {
                validate_node(schema, value, key, &mut errors);
            }
        }
    }
    errors
}

fn validate_node(schema: &Value, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    if schema.is_null() {
        return;
    }
    let invalid = |detail: String| FieldError::new("FieldValueInvalid", path, Some(value.clone()), detail);
    // Type.
    if value.is_null() {
        if schema.get("nullable") == Some(&Value::Bool(true)) || types(schema).is_empty() {
            return;
        }
        let type_name = types(schema).join(",");
        errors.push(FieldError::new(
            "FieldValueTypeInvalid",
            path,
            Some(Value::String("null".into())),
            format!("{path} in body must be of type {type_name}: \"null\""),
        ));
        return;
    }
    let allowed = types(schema);
    if !allowed.is_empty() {
        let actual = json_type(value);
        let whole_number = value.as_f64().is_some_and(|f| f.fract() == 0.0);
        let ok = allowed.iter().any(|t| {
            *t == actual
                || (*t == "number" && actual == "integer")
                || (*t == "integer" && actual == "number" && whole_number)
        });
        if !ok {
            errors.push(FieldError::new(
                "FieldValueTypeInvalid",
                path,
                Some(Value::String(actual.into())),
                format!("{path} in body must be of type {}: \"{actual}\"", allowed.join(",")),
            ));
            return;
        }
    }
    // oneOf, anyOf, allOf, not: structural schemas only carry required lists and types there.
    if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
        let matched = options.iter().filter(|s| matches_schema(s, value)).count();
        if matched != 1 {
            let found = if matched == 0 {
                "Found none valid".to_string()
            } else {
                format!("Found {matched} valid alternatives")
            };
            errors.push(FieldError::new(
                "FieldValueInvalid",
                "<nil>",
                Some(Value::String(String::new())),
                format!("\"{path}\" must validate one and only one schema (oneOf). {found}"),
            ));
        }
    }
    if let Some(options) = schema.get("anyOf").and_then(Value::as_array)
        && !options.iter().any(|s| matches_schema(s, value))
    {
        errors.push(FieldError::new(
            "FieldValueInvalid",
            "<nil>",
            Some(Value::String(String::new())),
            format!("\"{path}\" must validate at least one schema (anyOf)"),
        ));
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array)
        && !all.iter().all(|s| matches_schema(s, value))
    {
        errors.push(FieldError::new(
            "FieldValueInvalid",
            "<nil>",
            Some(Value::String(String::new())),
            format!("\"{path}\" must validate all the schemas (allOf)"),
        ));
    }
    if let Some(not) = schema.get("not")
        && matches_schema(not, value)
    {
        errors.push(FieldError::new(
            "FieldValueInvalid",
            "<nil>",
            Some(Value::String(String::new())),
            format!("\"{path}\" must not validate the schema (not)"),
        ));
    }
    match value {
        Value::String(s) => {
            let chars = s.chars().count() as u64;
            if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
                && chars > max
            {
                let unit = if max == 1 { "byte" } else { "bytes" };
                errors.push(FieldError::new(
                    "FieldValueTooLong",
                    path,
                    Some(value.clone()),
                    format!("may not be more than {max} {unit}"),
                ));
            }
            if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
                && chars < min
            {
                errors.push(invalid(format!("{path} in body should be at least {min} chars long")));
            }
            if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
                && let Ok(re) = Regex::new(pattern)
                && !re.is_match(s)
            {
                errors.push(invalid(format!("{path} in body should match '{pattern}'")));
            }
        }
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or_default();
            if schema.get("format").and_then(Value::as_str) == Some("int32")
                && !(i32::MIN as f64..=i32::MAX as f64).contains(&f)
            {
                errors.push(invalid(format!("{path} in body must be of type int32: \"{}\"", go_number(f, n))));
            }
            if let Some(m) = bound(schema, "multipleOf")
                && m != 0.0
                && (f / m).fract() != 0.0
            {
                errors.push(invalid(format!("{path} in body should be a multiple of {}", go_float(m))));
            }
            if let Some(max) = bound(schema, "maximum") {
                if schema.get("exclusiveMaximum") == Some(&Value::Bool(true)) {
                    if f >= max {
                        errors.push(invalid(format!("{path} in body should be less than {}", go_float(max))));
                    }
                } else if f > max {
                    errors.push(invalid(format!("{path} in body should be less than or equal to {}", go_float(max))));
                }
            }
            if let Some(min) = bound(schema, "minimum") {
                if schema.get("exclusiveMinimum") == Some(&Value::Bool(true)) {
                    if f <= min {
                        errors.push(invalid(format!("{path} in body should be greater than {}", go_float(min))));
                    }
                } else if f < min {
                    errors
                        .push(invalid(format!("{path} in body should be greater than or equal to {}", go_float(min))));
                }
            }
        }
        Value::Array(items) => {
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
                && (items.len() as u64) < min
            {
                errors.push(invalid(format!("{path} in body should have at least {min} items")));
            }
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
                && items.len() as u64 > max
            {
                let unit = if max == 1 { "item" } else { "items" };
                errors.push(FieldError::new(
                    "FieldValueTooMany",
                    path,
                    Some(Value::from(items.len())),
                    format!("must have at most {max} {unit}"),
                ));
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    validate_node(item_schema, item, &format!("{path}[{i}]"), errors);
                }
            }
        }
        _ => {}
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        let supported: Vec<String> = options
            .iter()
            .map(|o| match o {
                Value::String(s) => go_quote(s),
                other => go_quote(&other.to_string()),
            })
            .collect();
        errors.push(FieldError::new(
            "FieldValueNotSupported",
            path,
            Some(value.clone()),
            format!("supported values: {}", supported.join(", ")),
        ));
    }
    if let Value::Object(map) = value {
        validate_object(schema, map, path, errors);
    }
}

fn validate_object(schema: &Value, map: &Map<String, Value>, path: &str, errors: &mut Vec<FieldError>) {
    if let Some(max) = schema.get("maxProperties").and_then(Value::as_u64)
        && map.len() as u64 > max
    {
        let unit = if max == 1 { "item" } else { "items" };
        errors.push(FieldError::new(
            "FieldValueTooMany",
            path,
            Some(Value::from(map.len())),
            format!("must have at most {max} {unit}"),
        ));
    }
    if let Some(min) = schema.get("minProperties").and_then(Value::as_u64)
        && (map.len() as u64) < min
    {
        errors.push(FieldError::new(
            "FieldValueInvalid",
            path,
            Some(Value::Object(map.clone())),
            format!("{path} in body should have at least {min} properties"),
        ));
    }
    for key in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
        if let Some(key) = key.as_str()
            && !map.contains_key(key)
        {
            errors.push(FieldError::new("FieldValueRequired", &format!("{path}.{key}"), None, String::new()));
        }
    }
    for (key, child) in map {
        if let Some(child_schema) = property_schema(schema, key) {
            validate_node(child_schema, child, &format!("{path}.{key}"), errors);
        }
    }
}

/// Whether `value` satisfies a oneOf/anyOf/allOf/not alternative (required lists, types and nested combinators).
fn matches_schema(schema: &Value, value: &Value) -> bool {
    let allowed = types(schema);
    if !allowed.is_empty() {
        let actual = json_type(value);
        if !allowed.iter().any(|t| *t == actual || (*t == "number" && actual == "integer")) {
            return false;
        }
    }
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        let Some(map) = value.as_object() else { return false };
        if !required.iter().filter_map(Value::as_str).all(|k| map.contains_key(k)) {
            return false;
        }
    }
    if let Some(options) = schema.get("anyOf").and_then(Value::as_array)
        && !options.iter().any(|s| matches_schema(s, value))
    {
        return false;
    }
    if let Some(options) = schema.get("oneOf").and_then(Value::as_array)
        && options.iter().filter(|s| matches_schema(s, value)).count() != 1
    {
        return false;
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array)
        && !all.iter().all(|s| matches_schema(s, value))
    {
        return false;
    }
    if let Some(not) = schema.get("not")
        && matches_schema(not, value)
    {
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "n": {"type": "integer", "maximum": 100, "format": "int32"},
            "mode": {"type": "string", "enum": ["A", "B"]},
            "list": {"type": "array", "maxItems": 1, "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string", "minLength": 1}}}},
            "m": {"type": "object", "additionalProperties": {"type": "string"}},
            "any": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            "one": {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
                "oneOf": [{"not": {"anyOf": [{"required": ["a"]}, {"required": ["b"]}]}}, {"required": ["a"]}, {"required": ["b"]}]}
        }}}})
    }

    fn messages(object: Value) -> Vec<String> {
        validate(&schema(), &object).iter().map(FieldError::message).collect()
    }

    #[test]
    fn value_errors_read_as_kube_apiserver_writes_them() {
        assert_eq!(
            messages(
                json!({"spec": {"n": 200, "mode": "C", "list": [{}, {"name": ""}], "m": {"k": "v"}, "any": {"x": [1]}}})
            ),
            vec![
                "spec.n: Invalid value: 200: spec.n in body should be less than or equal to 100",
                "spec.mode: Unsupported value: \"C\": supported values: \"A\", \"B\"",
                "spec.list: Too many: 2: must have at most 1 item",
                "spec.list[0].name: Required value",
                "spec.list[1].name: Invalid value: \"\": spec.list[1].name in body should be at least 1 chars long",
            ]
        );
        assert_eq!(
            messages(json!({"spec": {"n": "x", "one": {"a": "1", "b": "2"}}})),
            vec![
                "spec.n: Invalid value: \"string\": spec.n in body must be of type integer: \"string\"",
                "<nil>: Invalid value: \"\": \"spec.one\" must validate one and only one schema (oneOf). Found 2 valid alternatives",
            ]
        );
        assert!(messages(json!({"spec": {"n": 5.0, "one": {"a": "1"}}})).is_empty());
    }

    #[test]
    fn unknown_fields_are_found_and_pruned() {
        let mut object = json!({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a"},
            "spec": {"foo": 1, "list": [{"name": "a", "bar": 2}], "any": {"kept": 1}, "n": "x"}});
        assert_eq!(
            typed_errors(&schema(), &object),
            vec![
                ".spec.foo: field not declared in schema",
                ".spec.list[0].bar: field not declared in schema",
                ".spec.n: expected numeric (int or float), got string",
            ]
        );
        assert_eq!(prune(&schema(), &mut object), vec!["spec.foo", "spec.list[0].bar"]);
        assert_eq!(object["spec"], json!({"list": [{"name": "a"}], "any": {"kept": 1}, "n": "x"}));
    }
}
