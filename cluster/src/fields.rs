//! Field sets as server-side apply counts them, and the field-by-field comparison of
//! two objects. Pure: no IO.
//!
//! A field set is the set of leaf paths of an applied configuration: every scalar,
//! every list (the Istio CRDs' lists are atomic at the levels meshc writes) and every
//! empty map; maps, `metadata.labels` and `metadata.annotations` included, are
//! granular. The object's identity (apiVersion, kind, name, namespace) and `status`
//! are not fields of an apply.

use serde_json::Value as Json;
use std::collections::BTreeSet;

/// A path of map keys from the object's root.
pub type FieldPath = Vec<String>;

/// The field set of an applied configuration.
pub fn applied_fields(object: &Json) -> BTreeSet<FieldPath> {
    let mut fields = BTreeSet::new();
    let Some(map) = object.as_object() else { return fields };
    for (key, value) in map {
        match key.as_str() {
            "apiVersion" | "kind" | "status" => {}
            "metadata" => {
                for (meta_key, meta_value) in value.as_object().into_iter().flatten() {
                    if !matches!(meta_key.as_str(), "name" | "namespace" | "managedFields") {
                        leaves(meta_value, &mut vec!["metadata".into(), meta_key.clone()], &mut fields);
                    }
                }
            }
            _ => leaves(value, &mut vec![key.clone()], &mut fields),
        }
    }
    fields
}

fn leaves(value: &Json, path: &mut FieldPath, into: &mut BTreeSet<FieldPath>) {
    match value {
        Json::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                path.push(key.clone());
                leaves(child, path, into);
                path.pop();
            }
        }
        _ => {
            into.insert(path.clone());
        }
    }
}

/// The paths a `managedFields` entry's `fieldsV1` names. A `k:`/`v:`/`i:` child (an
/// element of a granular list) makes its list one owned field, as meshc never applies
/// list elements one by one.
pub fn fields_v1_paths(fields_v1: &Json) -> BTreeSet<FieldPath> {
    let mut paths = BTreeSet::new();
    walk_fields_v1(fields_v1, &mut Vec::new(), &mut paths);
    paths
}

fn walk_fields_v1(node: &Json, path: &mut FieldPath, into: &mut BTreeSet<FieldPath>) {
    let Some(map) = node.as_object() else { return };
    let children: Vec<(&String, &Json)> = map.iter().filter(|(k, _)| k.as_str() != ".").collect();
    if children.is_empty() || children.iter().any(|(k, _)| !k.starts_with("f:")) {
        if !path.is_empty() {
            into.insert(path.clone());
        }
        return;
    }
    for (key, child) in children {
        path.push(key["f:".len()..].to_string());
        walk_fields_v1(child, path, into);
        path.pop();
    }
}

/// The value at a path of map keys.
pub fn value_at<'a>(object: &'a Json, path: &[String]) -> Option<&'a Json> {
    path.iter().try_fold(object, |value, key| value.get(key))
}

/// The field set `manager` owns by apply in a live object's `managedFields`.
pub fn applied_by(live: &Json, manager: &str) -> Option<BTreeSet<FieldPath>> {
    let entries = live["metadata"]["managedFields"].as_array()?;
    let mut owned: Option<BTreeSet<FieldPath>> = None;
    for entry in entries {
        if entry["manager"] == manager && entry["operation"] == "Apply" {
            owned.get_or_insert_with(BTreeSet::new).extend(fields_v1_paths(&entry["fieldsV1"]));
        }
    }
    owned
}

/// Whether applying `desired` as `manager` would leave `live` as it is: the manager
/// already owns exactly the desired fields by apply, and each holds the desired value.
/// This is what lets a re-apply of an unchanged package send no write at all.
pub fn apply_is_no_op(desired: &Json, live: &Json, manager: &str) -> bool {
    let wanted = applied_fields(desired);
    let Some(owned) = applied_by(live, manager) else { return false };
    owned == wanted
        && wanted.iter().all(|path| match (value_at(live, path), value_at(desired, path)) {
            (Some(a), Some(b)) => same_value(a, b),
            (a, b) => a == b,
        })
}

/// Whether a dry run's result leaves the live object as it is: the same object (the
/// metadata the server maintains aside) and the same fields owned by `manager`. Then
/// the apply would write nothing, even though the package's values differ from what
/// the live object holds at their paths (another manager's items in a keyed list,
/// defaults a webhook added), and meshc sends no write.
pub fn dry_run_is_no_op(live: &Json, result: &Json, manager: &str) -> bool {
    same_value(&comparable(live), &comparable(result)) && applied_by(live, manager) == applied_by(result, manager)
}

/// Equality as the API server keeps values: numbers by value, because it decodes JSON
/// numbers into integers or floats and writes `1.0` back as `1`.
pub fn same_value(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        (Json::Array(x), Json::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_value(a, b)),
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same_value(v, w)))
        }
        _ => a == b,
    }
}

/// The object as a person compares it: without the metadata the server maintains
/// (managedFields, resourceVersion, uid, generation, creationTimestamp), and with map
/// keys sorted, so that two renderings differ only where the objects do.
pub fn comparable(object: &Json) -> Json {
    let mut object = sorted(object);
    if let Some(metadata) = object.get_mut("metadata").and_then(Json::as_object_mut) {
        for key in ["managedFields", "resourceVersion", "uid", "generation", "creationTimestamp", "selfLink"] {
            metadata.remove(key);
        }
    }
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
    }
    object
}

fn sorted(value: &Json) -> Json {
    match value {
        Json::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Json::Object(keys.into_iter().map(|k| (k.clone(), sorted(&map[k]))).collect())
        }
        Json::Array(items) => Json::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// One field that differs between two objects, with list indexes in the path
/// (`spec.tracing[0].randomSamplingPercentage`), as the API server names fields.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct FieldChange {
    pub field: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Json>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Json>,
}

/// The fields that differ between `before` and `after` (either may be absent), leaf
/// by leaf, in the order of the paths.
pub fn changes(before: Option<&Json>, after: Option<&Json>) -> Vec<FieldChange> {
    let mut out = Vec::new();
    compare(before.map(comparable).as_ref(), after.map(comparable).as_ref(), &mut String::new(), &mut out);
    out
}

fn compare(before: Option<&Json>, after: Option<&Json>, path: &mut String, out: &mut Vec<FieldChange>) {
    match (before, after) {
        (Some(Json::Object(a)), Some(Json::Object(b))) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                compare(a.get(key), b.get(key), path, out);
                path.truncate(len);
            }
        }
        (Some(Json::Array(a)), Some(Json::Array(b))) if a.len() == b.len() => {
            for (index, (x, y)) in a.iter().zip(b).enumerate() {
                let len = path.len();
                path.push_str(&format!("[{index}]"));
                compare(Some(x), Some(y), path, out);
                path.truncate(len);
            }
        }
        (Some(a), Some(b)) if same_value(a, b) => {}
        (None, None) => {}
        (a, b) => out.push(FieldChange { field: path.clone(), before: a.cloned(), after: b.cloned() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn path(p: &str) -> FieldPath {
        p.split('.').map(String::from).collect()
    }

    #[test]
    fn applied_fields_are_leaves_without_identity() {
        let object = json!({
            "apiVersion": "telemetry.istio.io/v1", "kind": "Telemetry",
            "metadata": {"name": "n", "namespace": "ns", "labels": {"a": "1"}},
            "spec": {"selector": {"matchLabels": {"app": "x"}}, "tracing": [{"randomSamplingPercentage": 1}], "empty": {}}
        });
        let fields = applied_fields(&object);
        let expected: BTreeSet<FieldPath> =
            ["metadata.labels.a", "spec.selector.matchLabels.app", "spec.tracing", "spec.empty"].map(path).into();
        assert_eq!(fields, expected);
    }

    #[test]
    fn fields_v1_decodes_to_the_same_paths() {
        let fields_v1 = json!({"f:metadata": {"f:labels": {".": {}, "f:a": {}}}, "f:spec": {"f:tracing": {}, "f:list": {"k:{\"name\":\"x\"}": {}}}});
        let expected: BTreeSet<FieldPath> = ["metadata.labels.a", "spec.tracing", "spec.list"].map(path).into();
        assert_eq!(fields_v1_paths(&fields_v1), expected);
    }

    #[test]
    fn no_op_needs_the_same_fields_and_values() {
        let desired = json!({"metadata": {"name": "n"}, "spec": {"a": 1, "b": [1]}});
        let mut live = json!({"metadata": {"name": "n", "managedFields": [
            {"manager": "meshc", "operation": "Apply", "fieldsV1": {"f:spec": {"f:a": {}, "f:b": {}}}}
        ]}, "spec": {"a": 1, "b": [1], "c": "someone else's"}});
        assert!(apply_is_no_op(&desired, &live, "meshc"));
        assert!(!apply_is_no_op(&desired, &live, "other"));
        live["spec"]["a"] = json!(2);
        assert!(!apply_is_no_op(&desired, &live, "meshc"));
        let fewer = json!({"metadata": {"name": "n"}, "spec": {"a": 2}});
        assert!(!apply_is_no_op(&fewer, &live, "meshc"), "a field to remove is a change");
    }

    #[test]
    fn numbers_compare_by_value_as_the_server_rewrites_them() {
        let desired = json!({"metadata": {"name": "n"}, "spec": {"p": 1.0}});
        let live = json!({"metadata": {"name": "n", "managedFields": [
            {"manager": "meshc", "operation": "Apply", "fieldsV1": {"f:spec": {"f:p": {}}}}
        ]}, "spec": {"p": 1}});
        assert!(apply_is_no_op(&desired, &live, "meshc"));
        assert!(changes(Some(&desired), Some(&live)).is_empty());
    }

    #[test]
    fn changes_name_fields_with_list_indexes() {
        let before = json!({"metadata": {"resourceVersion": "1"}, "spec": {"tracing": [{"p": 1}], "gone": true}});
        let after = json!({"metadata": {"resourceVersion": "2"}, "spec": {"tracing": [{"p": 2}], "new": "x"}});
        let fields: Vec<String> = changes(Some(&before), Some(&after)).into_iter().map(|c| c.field).collect();
        assert_eq!(fields, ["spec.gone", "spec.new", "spec.tracing[0].p"]);
    }
}
