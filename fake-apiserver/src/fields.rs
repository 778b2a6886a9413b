//! Field sets and the JSON helpers server-side apply is built on.
//!
//! A field path is the list of map keys from the object's root to a field.
//! Lists are atomic (the Istio CRDs declare no list-type maps at the levels meshc writes), so a path never enters a list.

use serde_json::{Map, Value};
use std::collections::BTreeSet;

pub type Path = Vec<String>;
pub type FieldSet = BTreeSet<Path>;

/// Metadata fields the server owns; they are never part of a field set.
const SERVER_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// The field set of an applied configuration: its leaf paths (every scalar, every list, every empty map), without apiVersion, kind, status and the server-owned metadata.
pub fn leaf_paths(config: &Value) -> FieldSet {
    let mut set = FieldSet::new();
    let Some(root) = config.as_object() else {
        return set;
    };
    for (key, value) in root {
        match key.as_str() {
            "apiVersion" | "kind" | "status" => {}
            "metadata" => {
                if let Some(meta) = value.as_object() {
                    for (mkey, mvalue) in meta {
                        if !SERVER_METADATA.contains(&mkey.as_str()) {
                            collect(mvalue, &mut vec!["metadata".into(), mkey.clone()], &mut set);
                        }
                    }
                }
            }
            _ => collect(value, &mut vec![key.clone()], &mut set),
        }
    }
    set
}

fn collect(value: &Value, path: &mut Path, set: &mut FieldSet) {
    match value {
        Value::Null => {}
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                path.push(key.clone());
                collect(child, path, set);
                path.pop();
            }
        }
        _ => {
            set.insert(path.clone());
        }
    }
}

pub fn get<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut current = value;
    for key in path {
        current = current.as_object()?.get(key)?;
    }
    Some(current)
}

/// Sets `path` to `new`, creating the maps on the way (and replacing non-maps on the way).
pub fn set(value: &mut Value, path: &[String], new: Value) {
    let mut current = value;
    for key in &path[..path.len() - 1] {
        if !current.is_object() {
            *current = Value::Object(Map::new());
        }
        let map = current.as_object_mut().expect("made an object above");
        current = map.entry(key.clone()).or_insert_with(|| Value::Object(Map::new()));
    }
    if !current.is_object() {
        *current = Value::Object(Map::new());
    }
    let last = &path[path.len() - 1];
    let map = current.as_object_mut().expect("made an object above");
    match (map.get_mut(last), new) {
        // An empty map in a configuration owns the map, not its contents: an existing map keeps its entries.
        (Some(existing @ Value::Object(_)), Value::Object(new)) if new.is_empty() => {
            let _ = existing;
        }
        (_, new) => {
            map.insert(last.clone(), new);
        }
    }
}

/// Removes `path`; returns whether something was there.
pub fn remove(value: &mut Value, path: &[String]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut current = value;
    for key in parents {
        match current.as_object_mut().and_then(|m| m.get_mut(key)) {
            Some(next) => current = next,
            None => return false,
        }
    }
    current.as_object_mut().and_then(|m| m.shift_remove(last)).is_some()
}

/// Whether `set` holds `path` or a path below it.
pub fn owns_at_or_below(set: &FieldSet, path: &[String]) -> bool {
    set.iter().any(|p| p.starts_with(path))
}

/// The structured-merge-diff spelling of a path: `.spec.tracing`.
pub fn dotted(path: &[String]) -> String {
    path.iter().map(|k| format!(".{k}")).collect()
}

/// The FieldsV1 encoding of a field set.
///
/// A map's key is `f:NAME` and a leaf is `{}`.
/// `".": {}` is written only for a path that is itself in the set and also has members below it (which this server's Apply sets never have, since they hold leaves only);
/// the real server writes it the same way for Apply entries, and also for maps that an Update created, which `update_fields` reproduces by putting such maps in the set.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut current = &mut root;
        for key in path {
            let entry = current.entry(format!("f:{key}")).or_insert_with(|| Value::Object(Map::new()));
            current = entry.as_object_mut().expect("only objects are inserted");
        }
    }
    // Mark members that have children with ".".
    for path in set {
        let mut current = &mut root;
        for key in path {
            current = current.get_mut(&format!("f:{key}")).and_then(Value::as_object_mut).expect("inserted above");
        }
        if !current.is_empty() && !current.contains_key(".") {
            current.insert(".".into(), Value::Object(Map::new()));
        }
    }
    let mut value = Value::Object(root);
    sort_keys(&mut value);
    value
}

/// Sorts every map's keys, as Go's encoding/json does for the unstructured objects a CRD's resources are.
pub fn sort_keys(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.sort_keys();
            for child in map.values_mut() {
                sort_keys(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(sort_keys),
        _ => {}
    }
}

/// Removes null values from maps, recursively (a null in an applied configuration is treated as absent).
pub fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// Writes whole-valued floats as integers, recursively, as a stored object reads back from kube-apiserver:
/// Go's encoding/json writes float64(10) as `10`, and the next decoding of unstructured JSON makes a number without a fraction an int64.
/// So an applied `10.0` reads back as `10` and equals a stored `10`, while `1.5` stays `1.5`.
/// Floats beyond int64 are left as they are (Go writes those from 1e21 in exponent form).
pub fn whole_floats_to_integers(value: &mut Value) {
    match value {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().expect("an f64");
            // 2^63 is exact in f64; every whole float strictly inside (-2^63, 2^63) is an int64.
            if f.fract() == 0.0 && f.abs() < 9_223_372_036_854_775_808.0 {
                *value = Value::from(f as i64);
            }
        }
        Value::Object(map) => map.values_mut().for_each(whole_floats_to_integers),
        Value::Array(items) => items.iter_mut().for_each(whole_floats_to_integers),
        _ => {}
    }
}

/// Paths whose value differs between `old` and `new`, at the granularity of `new`'s and `old`'s leaves (lists atomic), plus maps that `new` has and `old` lacks.
/// This is the field set an Update operation takes ownership of.
pub fn update_fields(old: Option<&Value>, new: &Value) -> FieldSet {
    let mut set = FieldSet::new();
    let new_leaves = leaf_paths(new);
    for path in &new_leaves {
        let old_value = old.and_then(|o| get(o, path));
        if old_value != get(new, path) {
            set.insert(path.clone());
            // Maps this update created (below the top level) are owned too, as "." in FieldsV1.
            for len in 2..path.len() {
                let prefix = &path[..len];
                if old.and_then(|o| get(o, prefix)).is_none() {
                    set.insert(prefix.to_vec());
                }
            }
        }
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn leaves_and_fields_v1() {
        let config = json!({"apiVersion": "v1", "kind": "X", "metadata": {"name": "a", "labels": {"app": "x"}},
            "spec": {"selector": {"matchLabels": {"app": "x"}}, "tracing": [{"a": 1}], "empty": {}}});
        let set = leaf_paths(&config);
        assert_eq!(
            to_fields_v1(&set),
            json!({"f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:empty": {}, "f:selector": {"f:matchLabels": {"f:app": {}}}, "f:tracing": {}}})
        );
    }

    #[test]
    fn whole_floats_become_integers() {
        let mut value: Value =
            serde_json::from_str(r#"{"a": 10.0, "b": [1.5, -3.0, 7], "c": {"d": 1e3, "e": 0.25, "f": 1e30}}"#).unwrap();
        whole_floats_to_integers(&mut value);
        assert_eq!(value.to_string(), r#"{"a":10,"b":[1.5,-3,7],"c":{"d":1000,"e":0.25,"f":1e+30}}"#);
    }

    #[test]
    fn update_marks_created_maps() {
        let old = json!({"metadata": {"name": "a"}, "spec": {"x": 1}});
        let new = json!({"metadata": {"name": "a", "labels": {"app": "y"}}, "spec": {"x": 1, "m": {"k": "v"}}});
        assert_eq!(
            to_fields_v1(&update_fields(Some(&old), &new)),
            json!({"f:metadata": {"f:labels": {".": {}, "f:app": {}}}, "f:spec": {"f:m": {".": {}, "f:k": {}}}})
        );
    }
}
