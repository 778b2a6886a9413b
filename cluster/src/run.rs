//! One `meshc diff` or `meshc apply` against a cluster: discovery, the namespaces, the
//! ApplySet's parent and live members, a plan checked by server-side dry runs, and
//! then, only when every check passed, the writes.
//!
//! The order of writes is chosen so that a run cut short leaves a state the next run
//! repairs: the parent first lists every kind and namespace the set may hold (the old
//! ones and the new), then members are applied, then what the package no longer
//! produces is pruned, and only then does the parent shrink to what remains.

use crate::ObjectRef;
use crate::applyset::{self, ApplySet, GroupKind, ParentScope};
use crate::connect::{ClusterError, Connected, Failure, classify};
use crate::fields::{self, FieldChange};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, Preconditions};
use kube::core::params::ValidationDirective;
use serde_json::{Value as Json, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// How to apply.
#[derive(Clone, Debug)]
pub struct Options {
    /// The field manager of every apply (`meshc` unless configured).
    pub field_manager: String,
    /// Take fields other managers own instead of stopping at the conflict.
    pub force_conflicts: bool,
    /// Delete the ApplySet's members that the package no longer produces.
    pub prune: bool,
    /// Create the namespaces the resources need when they are missing.
    pub create_namespaces: bool,
    /// Wait this long for missing CRDs to appear before giving up.
    pub wait_for_crds: Option<Duration>,
    pub applyset: ApplySet,
}

/// What a run does with the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Show what would change; write nothing.
    Diff,
    /// `apply --dry-run=server`: every check and dry run, no write.
    DryRun,
    Apply,
}

/// What happens, or would happen, to one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Create,
    Configure,
    Unchanged,
    /// A member of the ApplySet the package no longer produces: deleted by `--prune`.
    Prune,
    CreateNamespace,
}

/// One object in the plan.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Planned {
    pub object: ObjectRef,
    pub action: Action,
    /// Whether the write was made (false in a diff or dry run, or after a failure).
    pub done: bool,
    /// The code of the problem that stops this object (a conflict, a rejection).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<&'static str>,
    /// For a prune: whether `--prune` was given (without it the object is only named).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub pruning: bool,
    /// The fields that change, from the live object to the server's dry-run result.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FieldChange>,
    #[serde(skip)]
    pub before: Option<Json>,
    #[serde(skip)]
    pub after: Option<Json>,
}

impl Planned {
    fn new(object: ObjectRef, action: Action) -> Planned {
        Planned {
            object,
            action,
            done: false,
            refused: None,
            pruning: false,
            changes: vec![],
            before: None,
            after: None,
        }
    }
}

/// Why the cluster will not take an object, as a diagnostic code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum ProblemKind {
    /// The server rejected the object (422 Invalid, 400 BadRequest): E1100.
    Rejected,
    /// Another field manager owns fields the object sets to other values: E1101.
    Conflict,
    /// The cluster does not serve the object's API (a missing CRD or version): E1102.
    NotServed,
    /// The object's namespace does not exist: E1103.
    NoNamespace,
    /// The ApplySet's parent is not meshc's to use: E1104.
    Parent,
    /// The live object belongs to another ApplySet: E1105.
    OtherApplySet,
}

impl ProblemKind {
    pub fn code(self) -> &'static str {
        match self {
            ProblemKind::Rejected => "E1100",
            ProblemKind::Conflict => "E1101",
            ProblemKind::NotServed => "E1102",
            ProblemKind::NoNamespace => "E1103",
            ProblemKind::Parent => "E1104",
            ProblemKind::OtherApplySet => "E1105",
        }
    }
}

/// A reason the cluster will not take an object, with the fields it names.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<ObjectRef>,
    pub message: String,
    /// The fields the server named (`spec.tracing[0].randomSamplingPercentage`), each
    /// with its own message.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// What one run found and did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Outcome {
    pub mode: Mode,
    pub context: String,
    pub server: String,
    pub applyset: String,
    pub applyset_parent: String,
    pub planned: Vec<Planned>,
    pub problems: Vec<Problem>,
}

impl Outcome {
    /// Whether anything would change (or did).
    pub fn has_changes(&self) -> bool {
        self.planned.iter().any(|p| p.action != Action::Unchanged)
    }

    /// The exit code of the command: `meshc diff` as `kubectl diff` (0 no change, 1
    /// changes, 2 problems), `meshc apply` as meshc's other commands (0 done, 1 the
    /// cluster refused something).
    pub fn exit_code(&self) -> u8 {
        match (self.mode, self.problems.is_empty()) {
            (Mode::Diff, false) => 2,
            (Mode::Diff, true) => u8::from(self.has_changes()),
            (_, false) => 1,
            (_, true) => 0,
        }
    }
}

/// One step of the writes, for a progress display.
pub struct Progress<'a> {
    pub step: usize,
    pub total: usize,
    pub object: &'a ObjectRef,
    pub action: Action,
}

/// A resource kind as the cluster serves it.
#[derive(Clone, Debug)]
struct Served {
    resource: ApiResource,
    namespaced: bool,
}

fn config_map_resource() -> ApiResource {
    ApiResource {
        group: String::new(),
        version: "v1".into(),
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        plural: "configmaps".into(),
    }
}

fn namespace_resource() -> ApiResource {
    ApiResource {
        group: String::new(),
        version: "v1".into(),
        api_version: "v1".into(),
        kind: "Namespace".into(),
        plural: "namespaces".into(),
    }
}

fn api(conn: &Connected, served: &Served, namespace: Option<&str>) -> Api<DynamicObject> {
    match (served.namespaced, namespace) {
        (true, Some(namespace)) => Api::namespaced_with(conn.client.clone(), namespace, &served.resource),
        _ => Api::all_with(conn.client.clone(), &served.resource),
    }
}

fn to_json(object: &DynamicObject) -> Json {
    serde_json::to_value(object).unwrap_or(Json::Null)
}

/// Turns a failed request into a problem about `object`, or stops the run.
fn problem_of(error: kube::Error, conn: &Connected, object: &ObjectRef) -> Result<Problem, ClusterError> {
    let status = match classify(error, conn) {
        Failure::Fatal(error) => return Err(error),
        Failure::Status(status) => status,
    };
    let mut causes: Vec<(String, String)> = status
        .details
        .as_ref()
        .map(|d| d.causes.iter().map(|c| (c.field.clone(), c.message.clone())).collect())
        .unwrap_or_default();
    // Server-side apply reports a field its schema lacks, or a value of the wrong type,
    // as a 500 ("failed to create typed patch object (...): .spec.foo: field not declared
    // in schema"), a long-standing kube-apiserver quirk; it is the object's fault all the same.
    let typed_patch = status.code == 500 && status.message.starts_with("failed to create typed patch object");
    if typed_patch
        && causes.is_empty()
        && let Some((_, detail)) = status.message.split_once("): ")
    {
        let (field, why) = detail.split_once(": ").unwrap_or(("", detail));
        causes.push((field.to_string(), why.to_string()));
    }
    let kind = match status.code {
        _ if typed_patch => ProblemKind::Rejected,
        409 => ProblemKind::Conflict,
        404 if status.message.starts_with("namespaces ") => ProblemKind::NoNamespace,
        404 => ProblemKind::NotServed,
        // An admission webhook's denial is about the object, not the credentials.
        403 if status.message.contains("admission webhook") => ProblemKind::Rejected,
        400 | 422 => ProblemKind::Rejected,
        _ => return Err(status_error(&status, conn)),
    };
    let mut notes = Vec::new();
    if kind == ProblemKind::Conflict {
        notes.push(
            "another field manager owns these fields with other values; meshc takes them only with `--force-conflicts`"
                .to_string(),
        );
    }
    Ok(Problem { kind, object: Some(object.clone()), message: status.message.clone(), fields: causes, notes })
}

/// Discovery of the API versions and kinds a run needs: one request for the groups,
/// one per group and version.
struct Discovery {
    groups: BTreeMap<String, (Vec<String>, String)>,
    served: BTreeMap<(String, String), Served>,
}

impl Discovery {
    async fn read(conn: &Connected) -> Result<Discovery, ClusterError> {
        let list = conn.client.list_api_groups().await.map_err(|e| fatal(e, conn))?;
        let groups = list
            .groups
            .into_iter()
            .map(|g| {
                let versions = g.versions.iter().map(|v| v.version.clone()).collect();
                let preferred = g.preferred_version.map(|v| v.version).unwrap_or_default();
                (g.name, (versions, preferred))
            })
            .collect();
        Ok(Discovery { groups, served: BTreeMap::new() })
    }

    /// The kind at `api_version`, or why the cluster does not serve it.
    async fn kind(
        &mut self,
        conn: &Connected,
        api_version: &str,
        kind: &str,
    ) -> Result<Result<Served, String>, ClusterError> {
        if let Some(served) = self.served.get(&(api_version.to_string(), kind.to_string())) {
            return Ok(Ok(served.clone()));
        }
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        match self.groups.get(group) {
            None => return Ok(Err(format!("the cluster serves no {group} API: the CRD of {kind} is not installed"))),
            Some((versions, _)) if !versions.iter().any(|v| v == version) => {
                return Ok(Err(format!(
                    "the cluster serves {group} at {} but not {version}: its Istio is older or newer than the releases this package targets",
                    versions.join(", ")
                )));
            }
            _ => {}
        }
        let resources = match conn.client.list_api_group_resources(api_version).await {
            Ok(list) => list.resources,
            Err(kube::Error::Api(status)) if status.code == 404 => {
                return Ok(Err(format!("the cluster does not serve {api_version}")));
            }
            Err(error) => return Err(fatal(error, conn)),
        };
        let Some(found) = resources.iter().find(|r| r.kind == kind && !r.name.contains('/')) else {
            return Ok(Err(format!("the cluster serves {api_version} but no {kind} in it")));
        };
        let served = Served {
            resource: ApiResource {
                group: group.to_string(),
                version: version.to_string(),
                api_version: api_version.to_string(),
                kind: kind.to_string(),
                plural: found.name.clone(),
            },
            namespaced: found.namespaced,
        };
        self.served.insert((api_version.to_string(), kind.to_string()), served.clone());
        Ok(Ok(served))
    }

    /// A group-kind at its group's preferred version, for listing members whose kind
    /// the package no longer produces.
    async fn preferred(&mut self, conn: &Connected, gk: &GroupKind) -> Result<Option<Served>, ClusterError> {
        let Some((_, preferred)) = self.groups.get(&gk.group).cloned() else { return Ok(None) };
        let api_version = if gk.group.is_empty() { preferred } else { format!("{}/{preferred}", gk.group) };
        Ok(self.kind(conn, &api_version, &gk.kind).await?.ok())
    }
}

fn fatal(error: kube::Error, conn: &Connected) -> ClusterError {
    match classify(error, conn) {
        Failure::Fatal(error) => error,
        Failure::Status(status) => status_error(&status, conn),
    }
}

/// An answer of the server that stops the run: a permission meshc lacks (403), or
/// anything else it cannot pin on one object.
fn status_error(status: &kube::core::Status, conn: &Connected) -> ClusterError {
    if status.code == 403 {
        ClusterError::Forbidden {
            server: conn.server.clone(),
            context: conn.context.clone(),
            message: status.message.clone(),
        }
    } else {
        ClusterError::Server { server: conn.server.clone(), message: status.message.clone() }
    }
}

/// Runs `mode` for `desired` (the package's resources as the API server takes them).
pub async fn run(
    conn: &Connected,
    desired: &[Json],
    mode: Mode,
    options: &Options,
    progress: &mut dyn FnMut(Progress),
) -> Result<Outcome, ClusterError> {
    let applyset = &options.applyset;
    let mut outcome = Outcome {
        mode,
        context: conn.context.clone(),
        server: conn.server.clone(),
        applyset: applyset.id(),
        applyset_parent: format!("ConfigMap {}/{}", applyset.namespace, applyset.name),
        planned: Vec::new(),
        problems: Vec::new(),
    };

    // Every member carries the set's label; an object labelled for another set by its
    // author is not silently moved.
    let mut objects = Vec::new();
    for object in desired {
        let mut object = object.clone();
        if let Err(other) = applyset.label_member(&mut object) {
            outcome.problems.push(Problem {
                kind: ProblemKind::OtherApplySet,
                object: Some(ObjectRef::of(&object)),
                message: format!("the resource is labelled {}={other}, another ApplySet", applyset::PART_OF_LABEL),
                fields: vec![],
                notes: vec!["meshc sets this label itself; remove it from the declaration".into()],
            });
            continue;
        }
        objects.push(object);
    }

    // Discovery, waiting for CRDs if asked to.
    let deadline = options.wait_for_crds.and_then(|wait| tokio::time::Instant::now().checked_add(wait));
    let (mut discovery, served) = loop {
        let mut discovery = Discovery::read(conn).await?;
        let mut served = Vec::new();
        let mut missing = Vec::new();
        for object in &objects {
            let reference = ObjectRef::of(object);
            match discovery.kind(conn, &reference.api_version, &reference.kind).await? {
                Ok(kind) => served.push(Some(kind)),
                Err(why) => {
                    served.push(None);
                    missing.push((reference, why));
                }
            }
        }
        let waiting = options.wait_for_crds.is_some() && deadline.is_none_or(|d| tokio::time::Instant::now() < d);
        if !missing.is_empty() && waiting {
            let left = deadline.map_or(Duration::from_secs(2), |d| d - tokio::time::Instant::now());
            tokio::time::sleep(Duration::from_secs(2).min(left)).await;
            continue;
        }
        for (reference, why) in missing {
            outcome.problems.push(Problem {
                kind: ProblemKind::NotServed,
                object: Some(reference),
                message: why,
                fields: vec![],
                notes: vec!["meshc installs nothing but the package's resources: install Istio (its CRDs) first, or wait for them with `--wait-for-crds`".into()],
            });
        }
        break (discovery, served);
    };

    // Namespaces: one list, or one read each where listing is not allowed.
    let mut wanted_namespaces: BTreeSet<String> =
        objects.iter().filter_map(|o| o["metadata"]["namespace"].as_str().map(String::from)).collect();
    wanted_namespaces.insert(applyset.namespace.clone());
    let mut existing = existing_namespaces(conn, &wanted_namespaces).await?;
    let mut namespaces_to_create = Vec::new();
    for namespace in wanted_namespaces.iter().filter(|ns| !existing.contains(*ns)) {
        let reference =
            ObjectRef { api_version: "v1".into(), kind: "Namespace".into(), namespace: None, name: namespace.clone() };
        if options.create_namespaces {
            namespaces_to_create.push(reference.clone());
            outcome.planned.push(Planned::new(reference, Action::CreateNamespace));
        } else {
            let first = objects
                .iter()
                .map(ObjectRef::of)
                .find(|o| o.namespace.as_deref() == Some(namespace))
                .or(Some(reference));
            outcome.problems.push(Problem {
                kind: ProblemKind::NoNamespace,
                object: first,
                message: format!("the namespace `{namespace}` does not exist in the cluster"),
                fields: vec![],
                notes: vec!["meshc creates namespaces only when asked: `--create-namespaces`".into()],
            });
        }
    }

    // The parent, and the scope it gives to pruning.
    let parent_kind = Served { resource: config_map_resource(), namespaced: true };
    let parent_api = api(conn, &parent_kind, Some(&applyset.namespace));
    let live_parent = if existing.contains(&applyset.namespace) {
        match parent_api.get_opt(&applyset.name).await {
            Ok(found) => found.map(|p| to_json(&p)),
            Err(error) => return Err(fatal(error, conn)),
        }
    } else {
        None
    };
    let mut old_scope = ParentScope::default();
    if let Some(parent) = &live_parent {
        match applyset::read_parent(applyset, parent) {
            Ok(scope) => old_scope = scope,
            Err(message) => outcome.problems.push(Problem {
                kind: ProblemKind::Parent,
                object: None,
                message,
                fields: vec![],
                notes: vec!["choose another parent for the package's ApplySet with `--applyset NAME`".into()],
            }),
        }
    }
    // Members may still live in namespaces the package has left: those are read too.
    let left: BTreeSet<String> = old_scope.namespaces.difference(&wanted_namespaces).cloned().collect();
    if !left.is_empty() {
        existing.extend(existing_namespaces(conn, &left).await?);
    }

    // Live objects of every kind the set may hold, members or not. A kind the parent
    // lists that the cluster no longer serves cannot be listed: it stays in the parent.
    let mut kinds: BTreeMap<GroupKind, Served> = BTreeMap::new();
    for (object, served) in objects.iter().zip(&served) {
        if let Some(served) = served {
            kinds.entry(GroupKind::of(object)).or_insert_with(|| served.clone());
        }
    }
    let mut unlisted_kinds = BTreeSet::new();
    for gk in &old_scope.group_kinds {
        if kinds.contains_key(gk) {
            continue;
        }
        match discovery.preferred(conn, gk).await? {
            Some(served) => {
                kinds.insert(gk.clone(), served);
            }
            None => {
                unlisted_kinds.insert(gk.clone());
            }
        }
    }
    let mut scope_namespaces = old_scope.namespaces.clone();
    scope_namespaces.extend(wanted_namespaces.iter().cloned());
    let mut live: Vec<Json> = Vec::new();
    for served in kinds.values() {
        live.extend(list_all(conn, served, &scope_namespaces, &existing).await?);
    }
    // Objects are matched by identity, whatever version they were read in; an index,
    // because a package of a thousand resources would otherwise compare a million pairs.
    let live_by_identity: std::collections::HashMap<_, usize> =
        live.iter().enumerate().map(|(index, object)| (ObjectRef::of(object).identity(), index)).collect();
    let id = applyset.id();
    let is_member = |object: &Json| {
        object["metadata"]["labels"][applyset::PART_OF_LABEL] == id.as_str()
            && object["metadata"]["namespace"].as_str().is_none_or(|ns| scope_namespaces.contains(ns))
    };

    // The plan: unchanged objects are known without a request; every other one is
    // checked by a server-side dry run, which also says what the server would make of it.
    let dry_run = PatchParams {
        dry_run: true,
        force: options.force_conflicts,
        field_manager: Some(options.field_manager.clone()),
        field_validation: Some(ValidationDirective::Strict),
    };
    let mut to_apply: Vec<(usize, Json, Served)> = Vec::new();
    // Objects in namespaces still to be created: dry-run once the namespaces exist.
    let mut deferred: Vec<usize> = Vec::new();
    for (object, served) in objects.iter().zip(&served) {
        let Some(served) = served else { continue };
        let reference = ObjectRef::of(object);
        let current = live_by_identity.get(&reference.identity()).map(|index| live[*index].clone());
        if let Some(current) = &current {
            let label = current["metadata"]["labels"][applyset::PART_OF_LABEL].as_str().unwrap_or_default();
            // Not even `--force-conflicts` moves an object out of another set: the
            // other package's next prune would no longer see it, or would delete it.
            if !label.is_empty() && label != id {
                // kubectl names the type as the lower-case kind and its group.
                let release = format!(
                    "kubectl label {}.{} {} -n {} {}-",
                    reference.kind.to_ascii_lowercase(),
                    reference.group(),
                    reference.name,
                    reference.namespace.as_deref().unwrap_or_default(),
                    applyset::PART_OF_LABEL
                );
                outcome.problems.push(Problem {
                    kind: ProblemKind::OtherApplySet,
                    object: Some(reference),
                    message: format!("the live object belongs to another ApplySet ({}={label})", applyset::PART_OF_LABEL),
                    fields: vec![],
                    notes: vec![format!(
                        "two packages produce this object; remove it from one of them (and apply that one with --prune), or release it from the other set with `{release}`"
                    )],
                });
                continue;
            }
            if fields::apply_is_no_op(object, current, &options.field_manager) {
                let mut planned = Planned::new(reference, Action::Unchanged);
                planned.before = Some(current.clone());
                planned.after = Some(current.clone());
                outcome.planned.push(planned);
                continue;
            }
        }
        let action = if current.is_some() { Action::Configure } else { Action::Create };
        let namespace = reference.namespace.clone();
        let mut planned = Planned::new(reference.clone(), action);
        planned.before = current.clone();
        planned.after = Some(object.clone());
        if namespace.as_ref().is_some_and(|ns| !existing.contains(ns)) {
            deferred.push(outcome.planned.len());
        } else {
            match api(conn, served, namespace.as_deref()).patch(&reference.name, &dry_run, &Patch::Apply(object)).await
            {
                Ok(result) => {
                    let result = to_json(&result);
                    // The server would leave the object as it is (another manager's
                    // items in a keyed list, a webhook's defaults): nothing to write.
                    if let Some(current) = &current
                        && fields::dry_run_is_no_op(current, &result, &options.field_manager)
                    {
                        planned.action = Action::Unchanged;
                        planned.after = Some(current.clone());
                        outcome.planned.push(planned);
                        continue;
                    }
                    planned.after = Some(result);
                }
                Err(error) => {
                    let problem = problem_of(error, conn, &reference)?;
                    planned.refused = Some(problem.kind.code());
                    planned.after = None;
                    outcome.planned.push(planned);
                    outcome.problems.push(problem);
                    continue;
                }
            }
        }
        planned.changes = fields::changes(planned.before.as_ref(), planned.after.as_ref());
        to_apply.push((outcome.planned.len(), object.clone(), served.clone()));
        outcome.planned.push(planned);
    }
    let desired_identities: std::collections::HashSet<_> =
        objects.iter().map(|o| ObjectRef::of(o).identity()).collect();
    let mut to_prune: Vec<(usize, Json, Served)> = Vec::new();
    for object in live.iter().filter(|l| is_member(l)) {
        let reference = ObjectRef::of(object);
        if desired_identities.contains(&reference.identity()) {
            continue;
        }
        let Some(served) = kinds.get(&GroupKind::of(object)) else { continue };
        to_prune.push((outcome.planned.len(), object.clone(), served.clone()));
        let mut planned = Planned::new(reference, Action::Prune);
        planned.pruning = options.prune;
        planned.changes = fields::changes(Some(object), None);
        planned.before = Some(object.clone());
        outcome.planned.push(planned);
    }

    // The parent as it must be while the set changes (old and new kinds and
    // namespaces), and after a prune (what remains, and kinds that could not be listed).
    let new_kinds: BTreeSet<GroupKind> = objects.iter().map(GroupKind::of).collect();
    let mut member_namespaces: BTreeSet<String> =
        objects.iter().filter_map(|o| o["metadata"]["namespace"].as_str().map(String::from)).collect();
    member_namespaces.insert(applyset.namespace.clone());
    let wide_parent = applyset.parent(
        &new_kinds.union(&old_scope.group_kinds).cloned().collect(),
        &member_namespaces.union(&old_scope.namespaces).cloned().collect(),
    );
    let final_parent = applyset.parent(&new_kinds.union(&unlisted_kinds).cloned().collect(), &member_namespaces);
    let parent_reference = ObjectRef::of(&wide_parent);
    let wide_parent_needed = applyset::parent_differs(&wide_parent, live_parent.as_ref());
    if wide_parent_needed
        && existing.contains(&applyset.namespace)
        && outcome.problems.is_empty()
        && let Err(error) = parent_api.patch(&applyset.name, &dry_run, &Patch::Apply(&wide_parent)).await
    {
        outcome.problems.push(problem_of(error, conn, &parent_reference)?);
    }

    if mode != Mode::Apply || !outcome.problems.is_empty() {
        return Ok(outcome);
    }

    // The writes. Namespaces first, so that what goes into them can be checked; then
    // the parent, listing old and new kinds and namespaces, so that a run cut short
    // still prunes what it should next time; then the members; then the prunes.
    let apply_params = PatchParams { dry_run: false, ..dry_run.clone() };
    let prunes = if options.prune { to_prune.len() } else { 0 };
    let total = namespaces_to_create.len() + usize::from(wide_parent_needed) + to_apply.len() + prunes;
    let mut step = 0;
    let mut writes = 0;
    let interrupted = |error: ClusterError, writes: usize| ClusterError::interrupted(error, writes, total);

    let namespace_kind = Served { resource: namespace_resource(), namespaced: false };
    for (index, reference) in namespaces_to_create.iter().enumerate() {
        step += 1;
        progress(Progress { step, total, object: reference, action: Action::CreateNamespace });
        let object = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": reference.name}});
        match api(conn, &namespace_kind, None).patch(&reference.name, &apply_params, &Patch::Apply(&object)).await {
            Ok(_) => {
                writes += 1;
                existing.insert(reference.name.clone());
                if let Some(planned) =
                    outcome.planned.iter_mut().filter(|p| p.action == Action::CreateNamespace).nth(index)
                {
                    planned.done = true;
                }
            }
            Err(error) => {
                let problem = problem_of(error, conn, reference).map_err(|e| interrupted(e, writes))?;
                outcome.problems.push(problem);
                return Ok(outcome);
            }
        }
    }
    // What could not be checked before its namespace existed is checked now, before
    // anything else is written.
    for index in &deferred {
        let planned = &outcome.planned[*index];
        let Some((_, object, served)) = to_apply.iter().find(|(i, _, _)| i == index) else { continue };
        let reference = planned.object.clone();
        match api(conn, served, reference.namespace.as_deref())
            .patch(&reference.name, &dry_run, &Patch::Apply(object))
            .await
        {
            Ok(result) => outcome.planned[*index].after = Some(to_json(&result)),
            Err(error) => {
                let problem = problem_of(error, conn, &reference).map_err(|e| interrupted(e, writes))?;
                outcome.planned[*index].refused = Some(problem.kind.code());
                outcome.problems.push(problem);
            }
        }
    }
    if wide_parent_needed
        && live_parent.is_none()
        && !namespaces_to_create.is_empty()
        && let Err(error) = parent_api.patch(&applyset.name, &dry_run, &Patch::Apply(&wide_parent)).await
    {
        let problem = problem_of(error, conn, &parent_reference).map_err(|e| interrupted(e, writes))?;
        outcome.problems.push(problem);
    }
    if !outcome.problems.is_empty() {
        return Ok(outcome);
    }

    let mut parent_live = live_parent.clone();
    if wide_parent_needed {
        match parent_api.patch(&applyset.name, &apply_params, &Patch::Apply(&wide_parent)).await {
            Ok(result) => {
                writes += 1;
                parent_live = Some(to_json(&result));
            }
            Err(error) => {
                let problem = problem_of(error, conn, &parent_reference).map_err(|e| interrupted(e, writes))?;
                outcome.problems.push(problem);
                return Ok(outcome);
            }
        }
    }

    for (index, object, served) in &to_apply {
        step += 1;
        let reference = outcome.planned[*index].object.clone();
        progress(Progress { step, total, object: &reference, action: outcome.planned[*index].action });
        let namespace = reference.namespace.clone();
        match api(conn, served, namespace.as_deref()).patch(&reference.name, &apply_params, &Patch::Apply(object)).await
        {
            Ok(result) => {
                writes += 1;
                let planned = &mut outcome.planned[*index];
                planned.done = true;
                planned.after = Some(to_json(&result));
            }
            Err(error) => {
                let problem = problem_of(error, conn, &reference).map_err(|e| interrupted(e, writes))?;
                outcome.planned[*index].refused = Some(problem.kind.code());
                outcome.problems.push(problem);
            }
        }
    }

    // Prune only after every apply succeeded: a failed run deletes nothing.
    if options.prune && outcome.problems.is_empty() {
        for (index, object, served) in &to_prune {
            step += 1;
            let reference = outcome.planned[*index].object.clone();
            progress(Progress { step, total, object: &reference, action: Action::Prune });
            // The preconditions make sure the object deleted is the member that was
            // listed, unchanged since: not one created since under the same name, nor
            // one that another package has taken into its set in the meantime.
            let params = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: object["metadata"]["uid"].as_str().map(String::from),
                    resource_version: object["metadata"]["resourceVersion"].as_str().map(String::from),
                }),
                ..DeleteParams::default()
            };
            match api(conn, served, reference.namespace.as_deref()).delete(&reference.name, &params).await {
                Ok(_) => {
                    writes += 1;
                    outcome.planned[*index].done = true;
                }
                Err(kube::Error::Api(status)) if status.code == 404 => outcome.planned[*index].done = true,
                Err(kube::Error::Api(status)) if status.code == 409 => {
                    return Err(interrupted(
                        ClusterError::Server {
                            server: conn.server.clone(),
                            message: format!(
                                "{reference} changed after meshc read it, so it was not pruned ({})",
                                status.message
                            ),
                        },
                        writes,
                    ));
                }
                Err(error) => {
                    let problem = problem_of(error, conn, &reference).map_err(|e| interrupted(e, writes))?;
                    outcome.planned[*index].refused = Some(problem.kind.code());
                    outcome.problems.push(problem);
                }
            }
        }
        if outcome.problems.is_empty() && applyset::parent_differs(&final_parent, parent_live.as_ref()) {
            parent_api
                .patch(&applyset.name, &apply_params, &Patch::Apply(&final_parent))
                .await
                .map_err(|e| interrupted(fatal(e, conn), writes))?;
        }
    }
    Ok(outcome)
}

/// The names of the namespaces among `wanted` that exist.
async fn existing_namespaces(conn: &Connected, wanted: &BTreeSet<String>) -> Result<BTreeSet<String>, ClusterError> {
    let namespaces = Served { resource: namespace_resource(), namespaced: false };
    let api = api(conn, &namespaces, None);
    match api.list_metadata(&ListParams::default()).await {
        Ok(list) => Ok(list.items.into_iter().filter_map(|n| n.metadata.name).filter(|n| wanted.contains(n)).collect()),
        Err(kube::Error::Api(status)) if status.code == 403 => {
            let mut found = BTreeSet::new();
            for name in wanted {
                match api.get_metadata_opt(name).await {
                    Ok(Some(_)) => {
                        found.insert(name.clone());
                    }
                    Ok(None) => {}
                    // Not allowed to read it either: the dry runs will say whether it exists.
                    Err(kube::Error::Api(status)) if status.code == 403 => {
                        found.insert(name.clone());
                    }
                    Err(error) => return Err(fatal(error, conn)),
                }
            }
            Ok(found)
        }
        Err(error) => Err(fatal(error, conn)),
    }
}

/// Every object of a kind: one list across namespaces, or one per namespace of the
/// scope where the cluster forbids listing across namespaces.
async fn list_all(
    conn: &Connected,
    served: &Served,
    namespaces: &BTreeSet<String>,
    existing: &BTreeSet<String>,
) -> Result<Vec<Json>, ClusterError> {
    let with_kind = |object: &DynamicObject| {
        let mut json = to_json(object);
        // Items of a list may come without their type; the list's type is theirs.
        json["apiVersion"] = Json::String(served.resource.api_version.clone());
        json["kind"] = Json::String(served.resource.kind.clone());
        json
    };
    match api(conn, served, None).list(&ListParams::default()).await {
        Ok(list) => Ok(list.items.iter().map(with_kind).collect()),
        Err(kube::Error::Api(status)) if status.code == 403 && served.namespaced => {
            let mut items = Vec::new();
            for namespace in namespaces.iter().filter(|ns| existing.contains(*ns)) {
                let list = api(conn, served, Some(namespace))
                    .list(&ListParams::default())
                    .await
                    .map_err(|e| fatal(e, conn))?;
                items.extend(list.items.iter().map(with_kind));
            }
            Ok(items)
        }
        Err(error) => Err(fatal(error, conn)),
    }
}
