//! The cluster's state and the semantics of each write.
//!
//! Server-side apply, as structured-merge-diff does it with maps granular, lists atomic unless the schema says `x-kubernetes-list-type: map`:
//! - the field set of a configuration is its leaf paths ([`fields::leaf_paths`]); an item of a map-typed list is a member (`k:{"name":"A"}` in FieldsV1, with `.` and its fields below), so managers own items and item fields, not the list;
//! - a path of the configuration whose value differs from the live one and that another manager (any operation, including the applier's own Update entry) owns is a conflict: 409 without force, moved to the applier with force;
//! - an equal value owned by another manager becomes shared;
//! - paths the applier owned before and no longer applies, owned by no one else, are removed, and so are the maps left empty by that and owned by no one;
//! - an item of a map-typed list is merged by key: one a manager no longer applies goes only when no one else owns it or a field of it, and keeps its key fields while it stays;
//! - a result equal to the live object with equal managedFields is a no-op (no new resourceVersion).
//!
//! Numbers are stored as kube-apiserver's unstructured objects read back: a whole-valued float becomes an integer (`10.0` reads back as `10`, `1.5` stays), before conflicts are looked for, so applying `10.0` onto a stored `10` is a no-op.
//!
//! Deletions check DeleteOptions' `preconditions` (uid, resourceVersion) with the wording of the registry serving the resource (409 Conflict).
//! Authorization denials ([`crate::FakeApiServer::forbid`], 403 in the authorizer's words, before anything else) and a denying validating webhook ([`crate::FakeApiServer::deny_writes_with_webhook`], 403 after schema validation, dry runs included) are opt-in.
//!
//! The order of checks is kube-apiserver's: the typed conversion of the patch (500 `failed to create typed patch object`, whatever fieldValidation says), conflicts (409), the namespace's existence (404), schema validation (422).
//!
//! Simplified: nulls in an applied configuration are dropped (not kept as explicit nulls);
//! conflicts are found on exactly equal paths (an owner of a path below or above a changed leaf does not conflict);
//! map-typed lists: a new item is appended after the live ones (structured-merge-diff interleaves by the configuration's order), `x-kubernetes-list-type: set` lists and `metadata.ownerReferences`/`finalizers` are atomic, and an item missing a key field makes its list atomic instead of failing;
//! whole floats at or beyond 2^63 keep their float form;
//! a webhook denial is not asked for deletions (Istio's validation webhook is registered for CREATE and UPDATE only), and the denying webhook's name is always `validation.istio.io`;
//! authorization rules match paths by pattern, not by RBAC roles, and deny discovery too when a pattern matches it;
//! the resourceVersion precondition of an apply body is not checked;
//! CRD versions are not converted (all versions share one schema shape, as the Istio CRDs do, and an object read in another version only has its apiVersion changed);
//! namespaces are deleted at once (no Terminating phase); there is no watch.
//!
//! CustomResourceDefinitions are objects like any other (applied, listed, deleted through the API), and storing one installs it:
//! its served versions are discoverable at once, and its status reports the names accepted and the CRD Established, as kube-apiserver's controllers do within moments.
//! Simplified: the spec is not defaulted (no `conversion`), only the fields the fake serves by are checked, `storedVersions` is the current storage version only, and a deletion removes the CRD and its objects at once (no cleanup finalizer).

use crate::fields::{self, FieldSet};
use crate::schema;
use crate::{Fault, RecordedRequest, Status};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

pub const TIME: &str = "2026-01-01T00:00:00Z";
const BUILTIN_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public"];

#[derive(Clone, Debug)]
pub struct CrdVersion {
    pub name: String,
    pub served: bool,
    pub storage: bool,
    pub schema: Value,
    pub status_subresource: bool,
}

#[derive(Clone, Debug)]
pub struct Crd {
    pub group: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub list_kind: String,
    pub short_names: Vec<String>,
    pub namespaced: bool,
    pub versions: Vec<CrdVersion>,
}

impl Crd {
    pub fn storage_version(&self) -> &str {
        self.versions.iter().find(|v| v.storage).or(self.versions.first()).map(|v| v.name.as_str()).unwrap_or("v1")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    ConfigMap,
    Namespace,
    CustomResourceDefinition,
}

/// The API group of CustomResourceDefinitions, served in version v1.
pub const APIEXTENSIONS: &str = "apiextensions.k8s.io";

/// A resource type as a request names it, in the requested version.
#[derive(Clone, Debug)]
pub struct Resource {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub namespaced: bool,
    pub builtin: Option<Builtin>,
    /// The requested version's openAPIV3Schema (CRDs only).
    pub schema: Option<Value>,
    pub storage_version: String,
}

impl Resource {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) }
    }

    /// `telemetries.telemetry.istio.io`, or `configmaps`.
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() { self.plural.clone() } else { format!("{}.{}", self.plural, self.group) }
    }

    /// `Telemetry.telemetry.istio.io`, or `ConfigMap`.
    fn qualified_kind(&self) -> String {
        if self.group.is_empty() { self.kind.clone() } else { format!("{}.{}", self.kind, self.group) }
    }

    /// Whether metadata.generation counts changes of the spec (custom resources and CRDs, not ConfigMaps or Namespaces).
    fn has_generation(&self) -> bool {
        matches!(self.builtin, None | Some(Builtin::CustomResourceDefinition))
    }

    fn builtin(builtin: Builtin) -> Resource {
        let (group, kind, plural, namespaced) = match builtin {
            Builtin::ConfigMap => ("", "ConfigMap", "configmaps", true),
            Builtin::Namespace => ("", "Namespace", "namespaces", false),
            Builtin::CustomResourceDefinition => {
                (APIEXTENSIONS, "CustomResourceDefinition", "customresourcedefinitions", false)
            }
        };
        Resource {
            group: group.into(),
            version: "v1".into(),
            kind: kind.into(),
            plural: plural.into(),
            namespaced,
            builtin: Some(builtin),
            schema: None,
            storage_version: "v1".into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    Apply,
    Update,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ManagedEntry {
    pub manager: String,
    pub operation: Operation,
    pub api_version: String,
    pub set: FieldSet,
}

impl ManagedEntry {
    /// How kube-apiserver names this manager in conflict messages: Apply managers by name, Update managers with their apiVersion.
    fn printed(&self) -> String {
        match self.operation {
            Operation::Apply => format!("{:?}", self.manager),
            Operation::Update => format!("{:?} using {}", self.manager, self.api_version),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stored {
    /// The object without managedFields, apiVersion in the storage version.
    pub object: Value,
    pub managed: Vec<ManagedEntry>,
}

/// (group, plural, namespace, name); namespace "" for cluster-scoped objects.
type Key = (String, String, String, String);

pub struct State {
    pub crds: Vec<Crd>,
    pub objects: BTreeMap<Key, Stored>,
    pub resource_version: u64,
    pub uid: u64,
    pub token: Option<String>,
    pub requests: Vec<RecordedRequest>,
    /// Pending faults: (writes to go, including the faulty one; what to do).
    pub faults: Vec<(usize, Fault)>,
    /// [`crate::FakeApiServer::forbid`]'s rules.
    pub forbidden: Vec<crate::Forbid>,
    /// [`crate::FakeApiServer::deny_writes_with_webhook`]'s (kind, message).
    pub webhook_denials: Vec<(String, String)>,
}

/// The result of a write.
pub struct Outcome {
    pub object: Value,
    pub created: bool,
    pub warnings: Vec<String>,
}

pub fn status(code: u16, reason: &str, message: &str, details: Option<Value>) -> Status {
    let mut body = Map::new();
    body.insert("kind".into(), "Status".into());
    body.insert("apiVersion".into(), "v1".into());
    body.insert("metadata".into(), json!({}));
    body.insert("status".into(), "Failure".into());
    body.insert("message".into(), message.into());
    if !reason.is_empty() {
        body.insert("reason".into(), reason.into());
    }
    if let Some(details) = details {
        body.insert("details".into(), details);
    }
    body.insert("code".into(), code.into());
    Status { code, body: Value::Object(body) }
}

fn details(name: &str, group: &str, kind: &str) -> Value {
    let mut d = Map::new();
    d.insert("name".into(), name.into());
    if !group.is_empty() {
        d.insert("group".into(), group.into());
    }
    d.insert("kind".into(), kind.into());
    Value::Object(d)
}

pub fn bad_request(message: &str) -> Status {
    status(400, "BadRequest", message, None)
}

pub fn not_found(resource: &Resource, name: &str) -> Status {
    status(
        404,
        "NotFound",
        &format!("{} {name:?} not found", resource.qualified_plural()),
        Some(details(name, &resource.group, &resource.plural)),
    )
}

/// What kube-apiserver answers for a resource no one serves.
pub fn no_such_resource() -> Status {
    status(404, "NotFound", "the server could not find the requested resource", Some(json!({})))
}

fn namespace_not_found(namespace: &str) -> Status {
    status(404, "NotFound", &format!("namespaces {namespace:?} not found"), Some(details(namespace, "", "namespaces")))
}

fn invalid(resource: &Resource, name: &str, errors: &[schema::FieldError]) -> Status {
    let mut messages: Vec<String> = Vec::new();
    for e in errors {
        let m = e.message();
        if !messages.contains(&m) {
            messages.push(m);
        }
    }
    let aggregate = if messages.len() == 1 { messages[0].clone() } else { format!("[{}]", messages.join(", ")) };
    let causes: Vec<Value> =
        errors.iter().map(|e| json!({"reason": e.reason, "message": e.body(), "field": e.field})).collect();
    let mut d = details(name, &resource.group, &resource.kind);
    d["causes"] = Value::Array(causes);
    status(422, "Invalid", &format!("{} {name:?} is invalid: {aggregate}", resource.qualified_kind()), Some(d))
}

/// kube's version priority: GA before beta before alpha, higher numbers first, then others alphabetically.
pub fn version_priority(version: &str) -> (u8, i64, i64, String) {
    let parse = |rest: &str| -> Option<(u8, i64, i64)> {
        let (major, tail) = rest.split_at(rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len()));
        let major: i64 = major.parse().ok()?;
        if tail.is_empty() {
            return Some((0, -major, 0));
        }
        for (level, word) in [(1u8, "beta"), (2, "alpha")] {
            if let Some(minor) = tail.strip_prefix(word) {
                return Some((level, -major, -minor.parse::<i64>().ok()?));
            }
        }
        None
    };
    match version.strip_prefix('v').and_then(parse) {
        Some((level, major, minor)) => (level, major, minor, String::new()),
        None => (3, 0, 0, version.to_string()),
    }
}

/// The order of ObjectMeta's fields in Go, which typed objects (ConfigMap, Namespace)
/// are serialised in: the schema's list of them, which is in that order.
const META_ORDER: &[&str] = crate::schema::OBJECT_META;

fn order_typed(object: &mut Value, top: &[&str]) {
    let Some(map) = object.as_object_mut() else { return };
    if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
        let mut ordered = Map::new();
        for key in META_ORDER {
            if let Some(mut v) = meta.shift_remove(*key) {
                if matches!(*key, "labels" | "annotations") {
                    fields::sort_keys(&mut v);
                }
                ordered.insert((*key).to_string(), v);
            }
        }
        ordered.extend(std::mem::take(meta));
        *meta = ordered;
    }
    let mut ordered = Map::new();
    for key in top {
        if let Some(mut v) = map.shift_remove(*key) {
            if matches!(*key, "data" | "binaryData") {
                fields::sort_keys(&mut v);
            }
            ordered.insert((*key).to_string(), v);
        }
    }
    ordered.extend(std::mem::take(map));
    *map = ordered;
}

fn render_entries(entries: &[ManagedEntry], typed: bool) -> Value {
    let mut sorted: Vec<&ManagedEntry> = entries.iter().collect();
    sorted.sort_by(|a, b| (a.operation, &a.manager, &a.api_version).cmp(&(b.operation, &b.manager, &b.api_version)));
    Value::Array(
        sorted
            .into_iter()
            .map(|e| {
                let operation = match e.operation {
                    Operation::Apply => "Apply",
                    Operation::Update => "Update",
                };
                let mut m = Map::new();
                m.insert("manager".into(), e.manager.clone().into());
                m.insert("operation".into(), operation.into());
                m.insert("apiVersion".into(), e.api_version.clone().into());
                m.insert("time".into(), TIME.into());
                m.insert("fieldsType".into(), "FieldsV1".into());
                m.insert("fieldsV1".into(), fields::to_fields_v1(&e.set));
                if !typed {
                    m.sort_keys();
                }
                Value::Object(m)
            })
            .collect(),
    )
}

/// An object as the API returns it in `resource`'s version.
pub fn render(stored: &Stored, resource: &Resource) -> Value {
    let mut object = stored.object.clone();
    object["apiVersion"] = resource.api_version().into();
    object["kind"] = resource.kind.clone().into();
    let typed = resource.builtin.is_some();
    if !stored.managed.is_empty() {
        object["metadata"]["managedFields"] = render_entries(&stored.managed, typed);
    }
    match resource.builtin {
        Some(Builtin::ConfigMap) => {
            order_typed(&mut object, &["kind", "apiVersion", "metadata", "immutable", "data", "binaryData"])
        }
        Some(Builtin::Namespace | Builtin::CustomResourceDefinition) => {
            order_typed(&mut object, &["kind", "apiVersion", "metadata", "spec", "status"])
        }
        None => fields::sort_keys(&mut object),
    }
    object
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

/// Everything but metadata and status, which a generation bump depends on.
fn generation_content(object: &Value) -> Value {
    let mut content = object.clone();
    if let Some(map) = content.as_object_mut() {
        for key in ["metadata", "status", "apiVersion", "kind"] {
            map.shift_remove(key);
        }
    }
    content
}

impl State {
    pub fn new() -> State {
        let mut state = State {
            crds: Vec::new(),
            objects: BTreeMap::new(),
            resource_version: 0,
            uid: 0,
            token: None,
            requests: Vec::new(),
            faults: Vec::new(),
            forbidden: Vec::new(),
            webhook_denials: Vec::new(),
        };
        for name in BUILTIN_NAMESPACES {
            state.add_namespace(name);
        }
        state
    }

    fn next_uid(&mut self) -> String {
        self.uid += 1;
        format!("00000000-0000-0000-0000-{:012}", self.uid)
    }

    pub fn add_namespace(&mut self, name: &str) {
        if self.namespace_exists(name) {
            return;
        }
        let resource = Resource::builtin(Builtin::Namespace);
        // Namespaces the tests add carry no manager, like the built-in ones.
        let mut object = json!({"metadata": {"name": name}});
        self.finish_create(&resource, &mut object);
        self.objects.insert(
            (String::new(), "namespaces".into(), String::new(), name.into()),
            Stored { object, managed: Vec::new() },
        );
    }

    fn namespace_exists(&self, name: &str) -> bool {
        self.objects.contains_key(&(String::new(), "namespaces".into(), String::new(), name.into()))
    }

    /// Installs a CRD as an administrator would, with no field manager (like the namespaces the tests add): stored, then served as an applied one is.
    pub fn install_crd(&mut self, crd: &Value) -> Result<(), Status> {
        let resource = Resource::builtin(Builtin::CustomResourceDefinition);
        let name = str_at(crd, "/metadata/name").unwrap_or_default().to_string();
        Self::check_identity(&resource, "", &name, crd, true)?;
        let key = Self::key(&resource, "", &name);
        let live = self.objects.get(&key).cloned();
        let managed = live.as_ref().map(|l| l.managed.clone()).unwrap_or_default();
        let mut object = crd.clone();
        object.as_object_mut().map(|m| m.shift_remove("status"));
        let meta = object["metadata"].as_object_mut().expect("check_identity saw metadata.name");
        for key in ["uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink"] {
            match live.as_ref().and_then(|l| l.object["metadata"].get(key)) {
                Some(v) => meta.insert(key.into(), v.clone()),
                None => meta.shift_remove(key),
            };
        }
        Self::validate(&resource, &name, &object)?;
        self.commit(&resource, key, live, object, managed, false, Vec::new());
        Ok(())
    }

    /// Serves a stored CRD (validated by [`crd_errors`]): its served versions appear in discovery.
    fn serve_crd(&mut self, object: &Value) {
        let spec = &object["spec"];
        let names = &spec["names"];
        let kind = str_at(names, "/kind").unwrap_or_default().to_string();
        let versions = spec["versions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| CrdVersion {
                name: str_at(v, "/name").unwrap_or("v1").to_string(),
                served: v["served"].as_bool().unwrap_or(true),
                storage: v["storage"].as_bool().unwrap_or(false),
                schema: v.pointer("/schema/openAPIV3Schema").cloned().unwrap_or(Value::Null),
                status_subresource: v.pointer("/subresources/status").is_some(),
            })
            .collect();
        let crd = Crd {
            group: str_at(spec, "/group").unwrap_or_default().to_string(),
            plural: str_at(names, "/plural").unwrap_or_default().to_string(),
            singular: str_at(names, "/singular").map(str::to_string).unwrap_or_else(|| kind.to_lowercase()),
            list_kind: str_at(names, "/listKind").map(str::to_string).unwrap_or_else(|| format!("{kind}List")),
            short_names: names["shortNames"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect(),
            namespaced: str_at(spec, "/scope") != Some("Cluster"),
            kind,
            versions,
        };
        self.crds.retain(|c| !(c.group == crd.group && c.plural == crd.plural));
        self.crds.push(crd);
    }

    /// The resource `group`/`version`/`plural` names, when something serves it.
    pub fn resolve(&self, group: &str, version: &str, plural: &str) -> Option<Resource> {
        if group.is_empty() {
            if version != "v1" {
                return None;
            }
            return match plural {
                "configmaps" => Some(Resource::builtin(Builtin::ConfigMap)),
                "namespaces" => Some(Resource::builtin(Builtin::Namespace)),
                _ => None,
            };
        }
        if group == APIEXTENSIONS {
            return (version == "v1" && plural == "customresourcedefinitions")
                .then(|| Resource::builtin(Builtin::CustomResourceDefinition));
        }
        let crd = self.crds.iter().find(|c| c.group == group && c.plural == plural)?;
        let served = crd.versions.iter().find(|v| v.name == version && v.served)?;
        Some(Resource {
            group: crd.group.clone(),
            version: version.into(),
            kind: crd.kind.clone(),
            plural: crd.plural.clone(),
            namespaced: crd.namespaced,
            builtin: None,
            schema: Some(served.schema.clone()),
            storage_version: crd.storage_version().into(),
        })
    }

    /// The resource of an object's apiVersion and kind (for the in-process API).
    fn resolve_kind(&self, object: &Value) -> Result<Resource, Status> {
        let api_version = str_at(object, "/apiVersion").unwrap_or_default();
        let kind = str_at(object, "/kind").unwrap_or_default();
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let plural = match (group, kind) {
            ("", "ConfigMap") => "configmaps".to_string(),
            ("", "Namespace") => "namespaces".to_string(),
            (APIEXTENSIONS, "CustomResourceDefinition") => "customresourcedefinitions".to_string(),
            _ => self
                .crds
                .iter()
                .find(|c| c.group == group && c.kind == kind)
                .map(|c| c.plural.clone())
                .unwrap_or_default(),
        };
        self.resolve(group, version, &plural).ok_or_else(no_such_resource)
    }

    fn key(resource: &Resource, namespace: &str, name: &str) -> Key {
        let namespace = if resource.namespaced { namespace } else { "" };
        (resource.group.clone(), resource.plural.clone(), namespace.into(), name.into())
    }

    pub fn get(&self, resource: &Resource, namespace: &str, name: &str) -> Result<Value, Status> {
        self.objects
            .get(&Self::key(resource, namespace, name))
            .map(|stored| render(stored, resource))
            .ok_or_else(|| not_found(resource, name))
    }

    /// A list; `namespace` None lists across all namespaces.
    pub fn list(&self, resource: &Resource, namespace: Option<&str>, selector: &crate::selector::Selector) -> Value {
        let items: Vec<Value> = self
            .objects
            .iter()
            .filter(|((g, p, ns, _), _)| {
                *g == resource.group
                    && *p == resource.plural
                    && namespace.is_none_or(|n| !resource.namespaced || n == ns)
            })
            .map(|(_, stored)| render(stored, resource))
            .filter(|o| selector.matches(o))
            .collect();
        let list_kind = match resource.builtin {
            Some(Builtin::ConfigMap) => "ConfigMapList".to_string(),
            Some(Builtin::Namespace) => "NamespaceList".to_string(),
            Some(Builtin::CustomResourceDefinition) => "CustomResourceDefinitionList".to_string(),
            None => self
                .crds
                .iter()
                .find(|c| c.group == resource.group && c.plural == resource.plural)
                .map(|c| c.list_kind.clone())
                .unwrap_or_default(),
        };
        let mut list = Map::new();
        if resource.builtin.is_some() {
            list.insert("kind".into(), list_kind.into());
            list.insert("apiVersion".into(), resource.api_version().into());
        } else {
            // Unstructured lists are serialised with sorted keys: apiVersion, items, kind, metadata.
            list.insert("apiVersion".into(), resource.api_version().into());
            list.insert("items".into(), Value::Null);
            list.insert("kind".into(), list_kind.into());
        }
        list.insert("metadata".into(), json!({"resourceVersion": self.resource_version.to_string()}));
        list.insert("items".into(), Value::Array(items));
        Value::Object(list)
    }

    pub fn stored_object(&self, group: &str, plural: &str, namespace: &str, name: &str) -> Option<Value> {
        let stored = self.objects.get(&(group.into(), plural.into(), namespace.into(), name.into()))?;
        let resource = self.storage_resource(group, plural)?;
        Some(render(stored, &resource))
    }

    fn storage_resource(&self, group: &str, plural: &str) -> Option<Resource> {
        if group.is_empty() || group == APIEXTENSIONS {
            return self.resolve(group, "v1", plural);
        }
        let crd = self.crds.iter().find(|c| c.group == group && c.plural == plural)?;
        self.resolve(group, crd.storage_version(), plural)
    }

    pub fn all_objects(&self) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|((g, p, _, name), _)| {
                !(g.is_empty() && p == "namespaces" && BUILTIN_NAMESPACES.contains(&name.as_str()))
                    && g != APIEXTENSIONS
            })
            .filter_map(|((g, p, _, _), stored)| Some(render(stored, &self.storage_resource(g, p)?)))
            .collect()
    }

    /// Checks the body's apiVersion, kind, name and namespace against the request's.
    fn check_identity(
        resource: &Resource,
        namespace: &str,
        name: &str,
        body: &Value,
        apply: bool,
    ) -> Result<(), Status> {
        if !body.is_object() {
            return Err(bad_request("the body of the request was in an unknown format"));
        }
        let api_version = str_at(body, "/apiVersion").unwrap_or_default();
        let kind = str_at(body, "/kind").unwrap_or_default();
        if apply && api_version != resource.api_version() {
            let (_, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
            return Err(bad_request(&format!(
                "Incorrect version specified in apply patch. Specified patch version: {version}, expected: {}",
                resource.version
            )));
        }
        if (apply || !kind.is_empty()) && kind != resource.kind {
            return Err(bad_request(&format!(
                "invalid object type: {}, Kind={kind}",
                if resource.group.is_empty() { format!("/{}", resource.version) } else { resource.api_version() }
            )));
        }
        if let Some(body_name) = str_at(body, "/metadata/name")
            && body_name != name
        {
            return Err(bad_request(&format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        if let Some(body_ns) = str_at(body, "/metadata/namespace")
            && resource.namespaced
            && body_ns != namespace
        {
            return Err(bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        Ok(())
    }

    /// structured-merge-diff's typed conversion of an apply patch: fields the type does not declare, scalars of the wrong kind.
    fn typed_check(resource: &Resource, namespace: &str, name: &str, body: &Value) -> Result<(), Status> {
        let errors = match (&resource.builtin, &resource.schema) {
            (Some(Builtin::ConfigMap), _) => schema::typed_errors(&configmap_schema(), body),
            (Some(Builtin::Namespace), _) => schema::typed_errors(&namespace_schema(), body),
            (None, Some(schema)) => schema::typed_errors(schema, body),
            (Some(Builtin::CustomResourceDefinition), _) | (None, None) => Vec::new(),
        };
        if errors.is_empty() {
            return Ok(());
        }
        let text = if errors.len() == 1 {
            errors[0].clone()
        } else {
            format!("errors:\n{}", errors.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))
        };
        let gv = if resource.group.is_empty() { format!("/{}", resource.version) } else { resource.api_version() };
        let ns = if resource.namespaced { namespace } else { "" };
        Err(status(
            500,
            "",
            &format!("failed to create typed patch object ({ns}/{name}; {gv}, Kind={}): {text}", resource.kind),
            None,
        ))
    }

    fn validate(resource: &Resource, name: &str, object: &Value) -> Result<(), Status> {
        let errors = match (&resource.builtin, &resource.schema) {
            (Some(Builtin::CustomResourceDefinition), _) => crd_errors(name, object),
            (_, Some(schema)) => schema::validate(schema, object),
            (_, None) => Vec::new(),
        };
        if errors.is_empty() { Ok(()) } else { Err(invalid(resource, name, &errors)) }
    }

    /// Sets the server's metadata on a new object.
    fn finish_create(&mut self, resource: &Resource, object: &mut Value) {
        let uid = self.next_uid();
        self.resource_version += 1;
        let meta = object["metadata"].as_object_mut().expect("objects have metadata");
        meta.insert("uid".into(), uid.into());
        meta.insert("resourceVersion".into(), self.resource_version.to_string().into());
        if resource.has_generation() {
            meta.insert("generation".into(), 1.into());
        }
        meta.insert("creationTimestamp".into(), TIME.into());
        if resource.builtin == Some(Builtin::Namespace) {
            let name = meta["name"].as_str().unwrap_or_default().to_string();
            let labels = meta.entry("labels").or_insert_with(|| json!({}));
            labels["kubernetes.io/metadata.name"] = name.into();
            object["spec"] = json!({"finalizers": ["kubernetes"]});
            object["status"] = json!({"phase": "Active"});
        }
    }

    /// Stores `object` with `managed` unless it is a no-op or a dry run; returns what the response shows.
    #[allow(clippy::too_many_arguments)]
    fn commit(
        &mut self,
        resource: &Resource,
        key: Key,
        live: Option<Stored>,
        mut object: Value,
        mut managed: Vec<ManagedEntry>,
        dry_run: bool,
        warnings: Vec<String>,
    ) -> Outcome {
        managed.retain(|e| !e.set.is_empty());
        object["apiVersion"] = format!(
            "{}{}",
            if resource.group.is_empty() { String::new() } else { format!("{}/", resource.group) },
            resource.storage_version
        )
        .into();
        object["kind"] = resource.kind.clone().into();
        let crd = resource.builtin == Some(Builtin::CustomResourceDefinition);
        if crd {
            // The CRD controllers' verdict, as it stands moments after the write; derived from the spec alone, so a re-apply is a no-op.
            object["status"] = crd_status(&object);
        }
        let created = live.is_none();
        match live {
            Some(live) => {
                if live.object == object && live.managed == managed {
                    return Outcome { object: render(&live, resource), created, warnings };
                }
                if resource.has_generation() && generation_content(&live.object) != generation_content(&object) {
                    let generation = live.object["metadata"]["generation"].as_i64().unwrap_or(1) + 1;
                    object["metadata"]["generation"] = generation.into();
                }
                if !dry_run {
                    self.resource_version += 1;
                    object["metadata"]["resourceVersion"] = self.resource_version.to_string().into();
                }
            }
            None => {
                if dry_run {
                    // A dry run shows what a create would store, without using up a uid or a resourceVersion.
                    let (uid, rv) = (self.uid, self.resource_version);
                    self.finish_create(resource, &mut object);
                    object["metadata"].as_object_mut().map(|m| m.shift_remove("resourceVersion"));
                    (self.uid, self.resource_version) = (uid, rv);
                } else {
                    self.finish_create(resource, &mut object);
                }
            }
        }
        let stored = Stored { object, managed };
        let shown = render(&stored, resource);
        if !dry_run {
            if crd {
                self.serve_crd(&stored.object);
            }
            self.objects.insert(key, stored);
        }
        Outcome { object: shown, created, warnings }
    }

    /// Server-side apply of `config` by `manager` at the object `resource`/`namespace`/`name`.
    #[allow(clippy::too_many_arguments)]
    pub fn apply(
        &mut self,
        resource: &Resource,
        namespace: &str,
        name: &str,
        manager: &str,
        config: &Value,
        force: bool,
        dry_run: bool,
    ) -> Result<Outcome, Status> {
        Self::check_identity(resource, namespace, name, config, true)?;
        Self::typed_check(resource, namespace, name, config)?;
        let mut config = config.clone();
        fields::drop_nulls(&mut config);
        fields::whole_floats_to_integers(&mut config);
        let applied = fields::leaf_paths(&config, resource.schema.as_ref());
        let key = Self::key(resource, namespace, name);
        let live = self.objects.get(&key).cloned();
        let live_object = live.as_ref().map(|l| &l.object);
        let mut managed = live.as_ref().map(|l| l.managed.clone()).unwrap_or_default();
        let is_mine = |e: &ManagedEntry| e.manager == manager && e.operation == Operation::Apply;

        // Conflicts: applied paths whose value changes and that someone else owns.
        let mut conflicts: Vec<(usize, fields::Path)> = Vec::new();
        for path in &applied {
            let new_value = fields::get(&config, path);
            let old_value = live_object.and_then(|o| fields::get(o, path));
            let item = path.last().is_some_and(|k| k.starts_with(fields::KEY_MARK));
            let unchanged = match (new_value, old_value) {
                // An item is there or not; its fields are compared one by one.
                (Some(_), Some(_)) if item => true,
                (Some(Value::Object(n)), Some(Value::Object(_))) if n.is_empty() => true,
                (n, o) => n == o,
            };
            if unchanged {
                continue;
            }
            for (i, entry) in managed.iter().enumerate() {
                if !is_mine(entry) && entry.set.contains(path) {
                    conflicts.push((i, path.clone()));
                }
            }
        }
        if !conflicts.is_empty() {
            if !force {
                return Err(conflict_status(&managed, &conflicts));
            }
            for (i, path) in &conflicts {
                managed[*i].set.remove(path);
            }
        }
        if resource.namespaced && !self.namespace_exists(namespace) {
            return Err(namespace_not_found(namespace));
        }

        let mut object = match live_object {
            Some(o) => o.clone(),
            None => {
                let mut meta = Map::new();
                meta.insert("name".into(), name.into());
                if resource.namespaced {
                    meta.insert("namespace".into(), namespace.into());
                }
                json!({"metadata": meta})
            }
        };
        // Removal of what this manager no longer applies and no one else owns.
        let previous: FieldSet = managed.iter().find(|e| is_mine(e)).map(|e| e.set.clone()).unwrap_or_default();
        let others: Vec<&ManagedEntry> = managed.iter().filter(|e| !is_mine(e)).collect();
        let owned_by_others = |path: &[String]| others.iter().any(|e| fields::owns_at_or_below(&e.set, path));
        for path in previous.difference(&applied) {
            if owned_by_others(path) || applied.iter().any(|p| p.starts_with(path)) {
                continue;
            }
            // An item keeps its key fields while it stays; it goes as a whole when its own path does.
            let key_field = path.len() >= 2
                && fields::key_fields(&path[path.len() - 2])
                    .is_some_and(|keys| keys.contains_key(&path[path.len() - 1]));
            if key_field {
                continue;
            }
            fields::remove(&mut object, path);
            for len in (1..path.len()).rev() {
                let parent = &path[..len];
                let empty = match fields::get(&object, parent) {
                    Some(Value::Object(map)) => map.is_empty(),
                    Some(Value::Array(items)) => items.is_empty(),
                    _ => false,
                };
                if parent == ["metadata"]
                    || !empty
                    || owned_by_others(parent)
                    || fields::owns_at_or_below(&applied, parent)
                {
                    break;
                }
                fields::remove(&mut object, parent);
            }
        }
        for path in &applied {
            let value = fields::get(&config, path).cloned().unwrap_or(Value::Null);
            fields::set(&mut object, path, value);
        }
        managed.retain(|e| !is_mine(e));
        managed.push(ManagedEntry {
            manager: manager.into(),
            operation: Operation::Apply,
            api_version: resource.api_version(),
            set: applied,
        });
        Self::validate(resource, name, &object)?;
        self.admit(resource, name)?;
        Ok(self.commit(resource, key, live, object, managed, dry_run, Vec::new()))
    }

    /// A non-apply write (operation Update) replacing the object with `body`; `create` says whether it may or must create.
    #[allow(clippy::too_many_arguments)]
    pub fn update(
        &mut self,
        resource: &Resource,
        namespace: &str,
        name: &str,
        manager: &str,
        body: &Value,
        mode: UpdateMode,
        field_validation: &str,
        dry_run: bool,
    ) -> Result<Outcome, Status> {
        Self::check_identity(resource, namespace, name, body, false)?;
        let key = Self::key(resource, namespace, name);
        let live = self.objects.get(&key).cloned();
        match (&live, mode) {
            (Some(_), UpdateMode::Create) => {
                return Err(status(
                    409,
                    "AlreadyExists",
                    &format!("{} {name:?} already exists", resource.qualified_plural()),
                    Some(details(name, &resource.group, &resource.plural)),
                ));
            }
            (None, UpdateMode::Replace) => return Err(not_found(resource, name)),
            (Some(live), UpdateMode::Replace) => {
                if let Some(rv) = str_at(body, "/metadata/resourceVersion")
                    && Some(rv) != str_at(&live.object, "/metadata/resourceVersion")
                {
                    return Err(status(
                        409,
                        "Conflict",
                        &format!(
                            "Operation cannot be fulfilled on {} {name:?}: the object has been modified; please apply your changes to the latest version and try again",
                            resource.qualified_plural()
                        ),
                        Some(details(name, &resource.group, &resource.plural)),
                    ));
                }
            }
            _ => {}
        }
        let mut object = body.clone();
        fields::whole_floats_to_integers(&mut object);
        // Unknown fields: pruned, reported by fieldValidation.
        let pruned = match (&resource.builtin, &resource.schema) {
            (Some(Builtin::ConfigMap), _) => schema::prune(&configmap_schema(), &mut object),
            (Some(Builtin::Namespace), _) => schema::prune(&namespace_schema(), &mut object),
            (None, Some(schema)) => schema::prune(schema, &mut object),
            (Some(Builtin::CustomResourceDefinition), _) | (None, None) => Vec::new(),
        };
        let mut warnings = Vec::new();
        if !pruned.is_empty() {
            let unknown: Vec<String> = pruned.iter().map(|p| format!("unknown field {p:?}")).collect();
            match field_validation {
                "Strict" => {
                    return Err(bad_request(&format!(
                        "{} in version {:?} cannot be handled as a {}: strict decoding error: {}",
                        resource.kind,
                        resource.version,
                        resource.kind,
                        unknown.join(", ")
                    )));
                }
                "Ignore" => {}
                _ => warnings = unknown,
            }
        }
        if resource.builtin == Some(Builtin::ConfigMap) {
            for key in ["data", "binaryData"] {
                let bad = object.get(key).and_then(Value::as_object).and_then(|m| m.values().find(|v| !v.is_string()));
                if let Some(bad) = bad {
                    let json_kind = match bad {
                        Value::Number(_) => "number",
                        Value::Bool(_) => "bool",
                        Value::Array(_) => "array",
                        Value::Object(_) => "object",
                        _ => "null",
                    };
                    return Err(bad_request(&format!(
                        "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: cannot unmarshal {json_kind} into Go struct field ConfigMap.{key} of type string"
                    )));
                }
            }
        }
        if resource.namespaced && !self.namespace_exists(namespace) {
            return Err(namespace_not_found(namespace));
        }
        // Server-owned metadata comes from the live object.
        let meta = object.as_object_mut().expect("checked above").entry("metadata").or_insert_with(|| json!({}));
        if !meta.is_object() {
            *meta = json!({});
        }
        let meta = meta.as_object_mut().expect("made an object above");
        for key in ["uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink"] {
            meta.shift_remove(key);
        }
        meta.insert("name".into(), name.into());
        if resource.namespaced {
            meta.insert("namespace".into(), namespace.into());
        } else {
            meta.shift_remove("namespace");
        }
        if let Some(live) = &live {
            for key in ["uid", "resourceVersion", "generation", "creationTimestamp"] {
                if let Some(v) = live.object["metadata"].get(key) {
                    meta.insert(key.into(), v.clone());
                }
            }
            if resource.builtin == Some(Builtin::Namespace) {
                for key in ["spec", "status"] {
                    object[key] = live.object[key].clone();
                }
                object["metadata"]["labels"]["kubernetes.io/metadata.name"] = name.into();
            }
        }
        if resource.builtin.is_none() {
            // The main resource of a CRD with a status subresource ignores status.
            match &live {
                Some(live) => match live.object.get("status") {
                    Some(s) => object["status"] = s.clone(),
                    None => {
                        object.as_object_mut().map(|m| m.shift_remove("status"));
                    }
                },
                None => {
                    object.as_object_mut().map(|m| m.shift_remove("status"));
                }
            }
        }
        fields::sort_keys(&mut object);
        Self::validate(resource, name, &object)?;

        let mut managed = live.as_ref().map(|l| l.managed.clone()).unwrap_or_default();
        let changed = fields::update_fields(live.as_ref().map(|l| &l.object), &object, resource.schema.as_ref());
        let api_version = resource.api_version();
        for entry in &mut managed {
            let mine =
                entry.manager == manager && entry.operation == Operation::Update && entry.api_version == api_version;
            if !mine {
                entry.set.retain(|p| !changed.contains(p));
            }
            entry.set.retain(|p| fields::get(&object, p).is_some());
        }
        match managed
            .iter_mut()
            .find(|e| e.manager == manager && e.operation == Operation::Update && e.api_version == api_version)
        {
            Some(entry) => entry.set.extend(changed),
            None => managed.push(ManagedEntry {
                manager: manager.into(),
                operation: Operation::Update,
                api_version,
                set: changed,
            }),
        }
        self.admit(resource, name)?;
        Ok(self.commit(resource, key, live, object, managed, dry_run, warnings))
    }

    /// The validating admission webhooks of [`crate::FakeApiServer::deny_writes_with_webhook`], with the Status that kube-apiserver makes of a denial that sets only a message.
    fn admit(&self, resource: &Resource, name: &str) -> Result<(), Status> {
        let Some((_, message)) = self.webhook_denials.iter().find(|(kind, _)| *kind == resource.kind) else {
            return Ok(());
        };
        Err(status(
            403,
            "Forbidden",
            &format!(
                "{} {name:?} is forbidden: admission webhook \"validation.istio.io\" denied the request: {message}",
                resource.qualified_plural()
            ),
            Some(details(name, &resource.group, &resource.plural)),
        ))
    }

    /// A deletion; `preconditions` is the DeleteOptions body's `preconditions` (uid and resourceVersion), checked before anything is removed.
    pub fn delete(
        &mut self,
        resource: &Resource,
        namespace: &str,
        name: &str,
        preconditions: Option<&Value>,
        dry_run: bool,
    ) -> Result<Value, Status> {
        let key = Self::key(resource, namespace, name);
        let stored = self.objects.get(&key).cloned().ok_or_else(|| not_found(resource, name))?;
        if let Some(preconditions) = preconditions {
            check_delete_preconditions(resource, name, &stored.object, preconditions)?;
        }
        if !dry_run {
            self.objects.remove(&key);
            if resource.builtin == Some(Builtin::Namespace) {
                self.objects.retain(|(_, _, ns, _), _| ns != name);
            }
            if resource.builtin == Some(Builtin::CustomResourceDefinition) {
                let group = str_at(&stored.object, "/spec/group").unwrap_or_default().to_string();
                let plural = str_at(&stored.object, "/spec/names/plural").unwrap_or_default().to_string();
                self.crds.retain(|c| !(c.group == group && c.plural == plural));
                self.objects.retain(|(g, p, _, _), _| !(*g == group && *p == plural));
            }
        }
        if resource.builtin == Some(Builtin::ConfigMap) {
            let uid = stored.object["metadata"]["uid"].clone();
            return Ok(json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": {"name": name, "kind": "configmaps", "uid": uid}}));
        }
        Ok(render(&stored, resource))
    }

    /// [`FakeApiServer::apply_as`]: the resource and namespace come from the object.
    pub fn apply_object(&mut self, manager: &str, object: &Value, force: bool) -> Result<Outcome, Status> {
        let resource = self.resolve_kind(object)?;
        let name = str_at(object, "/metadata/name").unwrap_or_default().to_string();
        let namespace = str_at(object, "/metadata/namespace").unwrap_or("default").to_string();
        self.apply(&resource, &namespace, &name, manager, object, force, false)
    }

    /// [`FakeApiServer::update_as`]: creates or replaces.
    pub fn update_object(&mut self, manager: &str, object: &Value) -> Result<Outcome, Status> {
        let resource = self.resolve_kind(object)?;
        let name = str_at(object, "/metadata/name").unwrap_or_default().to_string();
        let namespace = str_at(object, "/metadata/namespace").unwrap_or("default").to_string();
        let mut body = object.clone();
        if let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.shift_remove("resourceVersion");
        }
        self.update(&resource, &namespace, &name, manager, &body, UpdateMode::Upsert, "Ignore", false)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateMode {
    /// POST: the object must not exist.
    Create,
    /// PUT and merge patches: the object must exist.
    Replace,
    /// The in-process `update_as`: either.
    Upsert,
}

/// DeleteOptions.preconditions against the live object, with the wording of the registry that serves the resource:
/// namespaces and CRDs have their own deletion (`Precondition failed: UID in precondition: X, UID in object meta: Y`, on the plural);
/// everything else goes through the generic registry's `BeforeDelete` (`the UID in the precondition (X) does not match the UID in record (Y)...`, on the kind).
fn check_delete_preconditions(
    resource: &Resource,
    name: &str,
    live: &Value,
    preconditions: &Value,
) -> Result<(), Status> {
    let own_registry = matches!(resource.builtin, Some(Builtin::Namespace | Builtin::CustomResourceDefinition));
    for (field, meta) in [("uid", "UID"), ("resourceVersion", "ResourceVersion")] {
        let Some(wanted) = preconditions.get(field).and_then(Value::as_str) else { continue };
        let actual = live["metadata"][field].as_str().unwrap_or_default();
        if wanted == actual {
            continue;
        }
        let (on, kind, why) = if own_registry {
            (
                resource.qualified_plural(),
                resource.plural.clone(),
                format!("Precondition failed: {meta} in precondition: {wanted}, {meta} in object meta: {actual}"),
            )
        } else {
            let consequence = if field == "uid" {
                "The object might have been deleted and then recreated"
            } else {
                "The object might have been modified"
            };
            (
                resource.qualified_kind(),
                resource.kind.clone(),
                format!(
                    "the {meta} in the precondition ({wanted}) does not match the {meta} in record ({actual}). {consequence}"
                ),
            )
        };
        return Err(status(
            409,
            "Conflict",
            &format!("Operation cannot be fulfilled on {on} {name:?}: {why}"),
            Some(details(name, &resource.group, &kind)),
        ));
    }
    Ok(())
}

fn conflict_status(managed: &[ManagedEntry], conflicts: &[(usize, fields::Path)]) -> Status {
    let mut sorted: Vec<(String, String)> =
        conflicts.iter().map(|(i, path)| (managed[*i].printed(), fields::dotted(path))).collect();
    sorted.sort();
    let message = if sorted.len() == 1 {
        format!("Apply failed with 1 conflict: conflict with {}: {}", sorted[0].0, sorted[0].1)
    } else {
        let mut lines = Vec::new();
        let mut last: Option<&str> = None;
        for (manager, path) in &sorted {
            if last != Some(manager.as_str()) {
                lines.push(format!("conflicts with {manager}:"));
                last = Some(manager);
            }
            lines.push(format!("- {path}"));
        }
        format!("Apply failed with {} conflicts: {}", sorted.len(), lines.join("\n"))
    };
    let causes: Vec<Value> = sorted
        .iter()
        .map(|(manager, path)| json!({"reason": "FieldManagerConflict", "message": format!("conflict with {manager}"), "field": path}))
        .collect();
    status(409, "Conflict", &message, Some(json!({"causes": causes})))
}

fn configmap_schema() -> Value {
    json!({"type": "object", "properties": {
        "data": {"type": "object", "additionalProperties": {"type": "string"}},
        "binaryData": {"type": "object", "additionalProperties": {"type": "string"}},
        "immutable": {"type": "boolean"},
    }})
}

fn namespace_schema() -> Value {
    json!({"type": "object", "properties": {
        "spec": {"type": "object", "properties": {"finalizers": {"type": "array", "items": {"type": "string"}}}},
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
    }})
}

fn crd_error(reason: &'static str, field: &str, bad_value: Option<Value>, detail: &str) -> schema::FieldError {
    schema::FieldError { reason, field: field.into(), bad_value, detail: detail.into() }
}

/// What kube-apiserver's CRD validation says about the fields the fake serves a CRD by.
fn crd_errors(name: &str, object: &Value) -> Vec<schema::FieldError> {
    let spec = &object["spec"];
    let mut errors = Vec::new();
    for (pointer, field) in
        [("/group", "spec.group"), ("/names/plural", "spec.names.plural"), ("/names/kind", "spec.names.kind")]
    {
        if str_at(spec, pointer).is_none_or(str::is_empty) {
            errors.push(crd_error("FieldValueRequired", field, None, ""));
        }
    }
    if let (Some(group), Some(plural)) = (str_at(spec, "/group"), str_at(spec, "/names/plural"))
        && name != format!("{plural}.{group}")
    {
        errors.push(crd_error(
            "FieldValueInvalid",
            "metadata.name",
            Some(name.into()),
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    if !matches!(str_at(spec, "/scope"), Some("Namespaced" | "Cluster")) {
        let scope = spec.get("scope").cloned().unwrap_or_else(|| "".into());
        errors.push(crd_error(
            "FieldValueNotSupported",
            "spec.scope",
            Some(scope),
            "supported values: \"Cluster\", \"Namespaced\"",
        ));
    }
    let versions = spec["versions"].as_array().map(Vec::as_slice).unwrap_or_default();
    if versions.is_empty() {
        errors.push(crd_error(
            "FieldValueInvalid",
            "spec.versions",
            Some(json!([])),
            "must have exactly one version marked as storage version",
        ));
    } else if versions.iter().filter(|v| v["storage"] == true).count() != 1 {
        errors.push(crd_error(
            "FieldValueInvalid",
            "spec.versions",
            Some(spec["versions"].clone()),
            "must have exactly one version marked as storage version",
        ));
    }
    errors
}

/// A CRD's status as kube-apiserver's controllers write it once the names are accepted and the CRD is served.
fn crd_status(object: &Value) -> Value {
    let spec = &object["spec"];
    let kind = str_at(spec, "/names/kind").unwrap_or_default();
    let mut names = spec["names"].clone();
    names["singular"] =
        str_at(spec, "/names/singular").map(str::to_string).unwrap_or_else(|| kind.to_lowercase()).into();
    names["listKind"] =
        str_at(spec, "/names/listKind").map(str::to_string).unwrap_or_else(|| format!("{kind}List")).into();
    fields::sort_keys(&mut names);
    let storage: Vec<Value> = spec["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["storage"] == true)
        .map(|v| v["name"].clone())
        .collect();
    json!({
        "acceptedNames": names,
        "conditions": [
            {"lastTransitionTime": TIME, "message": "no conflicts found", "reason": "NoConflicts", "status": "True", "type": "NamesAccepted"},
            {"lastTransitionTime": TIME, "message": "the initial names have been accepted", "reason": "InitialNamesAccepted", "status": "True", "type": "Established"},
        ],
        "storedVersions": storage,
    })
}
