//! Field sets and the JSON helpers server-side apply is built on.
//!
//! A field path is the list of map keys from the object's root to a field.
//! Lists are atomic, except those the schema declares `x-kubernetes-list-type: map` with `x-kubernetes-list-map-keys`
//! (Istio's WasmPlugin has `spec.vmConfig.env`, keyed by `name`): a path enters such a list through an item key,
//! a path element holding the compact JSON of the item's key fields, keys sorted, behind a NUL mark ([`KEY_MARK`]) that no map key in a Kubernetes object starts with.
//! In FieldsV1 it is written `k:{"name":"A"}`, as structured-merge-diff writes it.

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

/// Marks a path element as an item key of a map-typed list.
pub const KEY_MARK: char = '\0';

/// The key fields of a map-typed list's schema, if it is one.
fn map_keys(schema: Option<&Value>) -> Option<Vec<String>> {
    let schema = schema?;
    if schema.get("x-kubernetes-list-type").and_then(Value::as_str) != Some("map") {
        return None;
    }
    let keys: Vec<String> = schema
        .get("x-kubernetes-list-map-keys")?
        .as_array()?
        .iter()
        .filter_map(|k| k.as_str().map(str::to_string))
        .collect();
    (!keys.is_empty()).then_some(keys)
}

/// The path element of `item` in a list keyed by `keys`: NUL, then the compact JSON of its key fields with keys sorted.
/// None when the item is not a map or lacks a key field (such a list is then treated as atomic).
fn item_key(item: &Value, keys: &[String]) -> Option<String> {
    let map = item.as_object()?;
    let mut sorted: Vec<&String> = keys.iter().collect();
    sorted.sort();
    let mut fields = Map::new();
    for key in sorted {
        fields.insert(key.clone(), map.get(key).filter(|v| !v.is_null())?.clone());
    }
    Some(format!("{KEY_MARK}{}", Value::Object(fields)))
}

/// The key fields an item-key path element holds.
pub fn key_fields(element: &str) -> Option<Map<String, Value>> {
    let json = element.strip_prefix(KEY_MARK)?;
    serde_json::from_str::<Value>(json).ok()?.as_object().cloned()
}

/// The index of the item `element` names in `items`.
fn find_item(items: &[Value], element: &str) -> Option<usize> {
    let wanted = key_fields(element)?;
    items.iter().position(|item| item.as_object().is_some_and(|m| wanted.iter().all(|(k, v)| m.get(k) == Some(v))))
}

/// The schema of a map's entry `key` (None: undeclared or unknown).
fn child_schema<'a>(schema: Option<&'a Value>, key: &str) -> Option<&'a Value> {
    let schema = schema?;
    schema
        .get("properties")
        .and_then(|p| p.get(key))
        .or_else(|| schema.get("additionalProperties").filter(|s| s.is_object()))
}

/// The field set of an applied configuration: its leaf paths (every scalar, every atomic list, every empty map), without apiVersion, kind, status and the server-owned metadata.
/// Lists that `schema` (the openAPIV3Schema of the object, if any) declares map-typed contribute an item-key path per item and the item's own fields below it.
pub fn leaf_paths(config: &Value, schema: Option<&Value>) -> FieldSet {
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
                            collect(mvalue, None, &mut vec!["metadata".into(), mkey.clone()], &mut set);
                        }
                    }
                }
            }
            _ => collect(value, child_schema(schema, key), &mut vec![key.clone()], &mut set),
        }
    }
    set
}

fn collect(value: &Value, schema: Option<&Value>, path: &mut Path, set: &mut FieldSet) {
    match value {
        Value::Null => {}
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                path.push(key.clone());
                collect(child, child_schema(schema, key), path, set);
                path.pop();
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let keyed =
                map_keys(schema).and_then(|keys| items.iter().map(|i| item_key(i, &keys)).collect::<Option<Vec<_>>>());
            let Some(elements) = keyed else {
                set.insert(path.clone());
                return;
            };
            let item_schema = schema.and_then(|s| s.get("items"));
            for (element, item) in elements.into_iter().zip(items) {
                path.push(element);
                set.insert(path.clone());
                collect(item, item_schema, path, set);
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
        current = if key.starts_with(KEY_MARK) {
            let items = current.as_array()?;
            &items[find_item(items, key)?]
        } else {
            current.as_object()?.get(key)?
        };
    }
    Some(current)
}

/// The value at `key` below `current`, made as an empty map, or as an item holding only its key fields, when absent.
fn child_or_insert<'a>(current: &'a mut Value, key: &str) -> &'a mut Value {
    if let Some(fields) = key_fields(key) {
        if !current.is_array() {
            *current = Value::Array(Vec::new());
        }
        let items = current.as_array_mut().expect("made an array above");
        let index = match find_item(items, key) {
            Some(i) => i,
            None => {
                items.push(Value::Object(fields));
                items.len() - 1
            }
        };
        return &mut items[index];
    }
    if !current.is_object() {
        *current = Value::Object(Map::new());
    }
    current
        .as_object_mut()
        .expect("made an object above")
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()))
}

/// Sets `path` to `new`, creating the maps on the way (and replacing non-maps on the way).
/// An item key as the last element makes the item (with its key fields only) when absent and leaves an existing one as it is: its fields are set one by one.
pub fn set(value: &mut Value, path: &[String], new: Value) {
    let mut current = value;
    for key in &path[..path.len() - 1] {
        current = child_or_insert(current, key);
    }
    if path[path.len() - 1].starts_with(KEY_MARK) {
        child_or_insert(current, &path[path.len() - 1]);
        return;
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
        let next = if key.starts_with(KEY_MARK) {
            current.as_array_mut().and_then(|items| find_item(items, key).map(move |i| &mut items[i]))
        } else {
            current.as_object_mut().and_then(|m| m.get_mut(key))
        };
        match next {
            Some(next) => current = next,
            None => return false,
        }
    }
    if last.starts_with(KEY_MARK) {
        let Some(items) = current.as_array_mut() else { return false };
        return find_item(items, last).map(|i| items.remove(i)).is_some();
    }
    current.as_object_mut().and_then(|m| m.shift_remove(last)).is_some()
}

/// Whether `set` holds `path` or a path below it.
pub fn owns_at_or_below(set: &FieldSet, path: &[String]) -> bool {
    set.iter().any(|p| p.starts_with(path))
}

/// The structured-merge-diff spelling of a path: `.spec.tracing`.
/// An item key is written `[name="A"]` (`.spec.vmConfig.env[name="A"].value`).
pub fn dotted(path: &[String]) -> String {
    path.iter()
        .map(|k| match key_fields(k) {
            Some(fields) => {
                let pairs: Vec<String> = fields.iter().map(|(f, v)| format!("{f}={v}")).collect();
                format!("[{}]", pairs.join(","))
            }
            None => format!(".{k}"),
        })
        .collect()
}

/// The FieldsV1 name of a path element: `f:NAME`, or `k:{...}` for an item key.
fn fields_v1_name(element: &str) -> String {
    match element.strip_prefix(KEY_MARK) {
        Some(json) => format!("k:{json}"),
        None => format!("f:{element}"),
    }
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
            let entry = current.entry(fields_v1_name(key)).or_insert_with(|| Value::Object(Map::new()));
            current = entry.as_object_mut().expect("only objects are inserted");
        }
    }
    // Mark members that have children with ".".
    for path in set {
        let mut current = &mut root;
        for key in path {
            current = current.get_mut(&fields_v1_name(key)).and_then(Value::as_object_mut).expect("inserted above");
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
pub fn update_fields(old: Option<&Value>, new: &Value, schema: Option<&Value>) -> FieldSet {
    let mut set = FieldSet::new();
    let new_leaves = leaf_paths(new, schema);
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
        let set = leaf_paths(&config, None);
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
            to_fields_v1(&update_fields(Some(&old), &new, None)),
            json!({"f:metadata": {"f:labels": {".": {}, "f:app": {}}}, "f:spec": {"f:m": {".": {}, "f:k": {}}}})
        );
    }
}
