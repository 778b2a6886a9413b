//! The HTTP/1 front: routing kube-apiserver's paths to the store, recording requests, authentication and fault injection.

use crate::selector::Selector;
use crate::store::{self, APIEXTENSIONS, State, UpdateMode, no_such_resource, status, version_priority};
use crate::{FakeApiServer, Fault, RecordedRequest, Status};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::{Notify, oneshot};

/// A server serving a [`FakeApiServer`]'s state; it stops when dropped.
pub struct RunningServer {
    url: String,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RunningServer {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.url.clone()
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub fn start(server: FakeApiServer, port: u16) -> std::io::Result<RunningServer> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
    listener.set_nonblocking(true)?;
    let url = format!("http://{}", listener.local_addr()?);
    let (shutdown, mut stopped) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("fake-apiserver".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                loop {
                    tokio::select! {
                        _ = &mut stopped => break,
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else { continue };
                            tokio::spawn(serve_connection(server.clone(), stream));
                        }
                    }
                }
            });
            // Dropping the runtime ends the connections still open.
        })
        .expect("spawn the server thread");
    Ok(RunningServer { url, shutdown: Some(shutdown), thread: Some(thread) })
}

async fn serve_connection(server: FakeApiServer, stream: tokio::net::TcpStream) {
    // A fault drops the connection by ending this task: the socket closes with no response written.
    let kill = Arc::new(Notify::new());
    let service_kill = kill.clone();
    let service = hyper::service::service_fn(move |request| {
        let server = server.clone();
        let kill = service_kill.clone();
        async move { handle(server, request, kill).await }
    });
    let connection = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = connection => {}
        _ = kill.notified() => {}
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&text[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// A response: status code, JSON body, warnings.
struct Reply {
    code: u16,
    body: Value,
    warnings: Vec<String>,
}

impl Reply {
    fn ok(body: Value) -> Reply {
        Reply { code: 200, body, warnings: Vec::new() }
    }
}

impl From<Status> for Reply {
    fn from(status: Status) -> Reply {
        Reply { code: status.code, body: status.body, warnings: Vec::new() }
    }
}

async fn handle(
    server: FakeApiServer,
    request: Request<Incoming>,
    kill: Arc<Notify>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let recorded = RecordedRequest {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parse_query(parts.uri.query()),
        content_type: parts.headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string),
        body: if body.is_empty() { None } else { serde_json::from_slice(&body).ok() },
    };
    let authorization =
        parts.headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_string);
    let host = parts.headers.get(http::header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("127.0.0.1").to_string();

    let (reply, fault) = {
        let mut state = server.state.lock().unwrap_or_else(|e| e.into_inner());
        state.requests.push(recorded.clone());
        let authorized = match &state.token {
            Some(token) => authorization.as_deref() == Some(&format!("Bearer {token}")),
            None => true,
        };
        if !authorized {
            (Reply::from(status(401, "Unauthorized", "Unauthorized", None)), None)
        } else if let Some(denied) = forbidden(&state, &recorded) {
            (Reply::from(denied), None)
        } else {
            let fault = if recorded.is_write() { take_fault(&mut state) } else { None };
            if fault == Some(Fault::BeforeWrite) {
                (Reply::ok(Value::Null), fault)
            } else {
                (route(&mut state, &recorded, &body, &host), fault)
            }
        }
    };
    if fault.is_some() {
        kill.notify_one();
        std::future::pending::<()>().await;
    }
    let mut response = Response::builder()
        .status(reply.code)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header("Cache-Control", "no-cache, private");
    for warning in &reply.warnings {
        response = response.header("Warning", format!("299 - {}", Value::String(warning.clone())));
    }
    let mut bytes = serde_json::to_vec(&reply.body).expect("JSON values serialise");
    bytes.push(b'\n');
    Ok(response.body(Full::new(Bytes::from(bytes))).expect("a valid response"))
}

/// The request attributes kube-apiserver authorizes on, read from the path as its RequestInfoFactory does.
struct Attributes {
    verb: String,
    /// (group, resource with subresource, namespace, name) for resource requests; None for discovery and other paths.
    resource: Option<(String, String, String, String)>,
}

fn attributes(request: &RecordedRequest) -> Attributes {
    let segments: Vec<&str> = request.path.split('/').filter(|s| !s.is_empty()).collect();
    let rest = match segments.as_slice() {
        ["api", _, rest @ ..] if !rest.is_empty() => Some(("", rest)),
        ["apis", group, _, rest @ ..] if !rest.is_empty() => Some((*group, rest)),
        _ => None,
    };
    let Some((group, mut rest)) = rest else {
        return Attributes { verb: request.method.to_ascii_lowercase(), resource: None };
    };
    let mut namespace = "";
    if rest[0] == "namespaces" && rest.len() > 1 {
        namespace = rest[1];
        if rest.len() > 2 && !matches!(rest[2], "status" | "finalize") {
            rest = &rest[2..];
        }
    }
    let name = rest.get(1).copied().unwrap_or("");
    let resource = match rest.get(2) {
        Some(sub) => format!("{}/{sub}", rest[0]),
        None => rest[0].to_string(),
    };
    let verb = match request.method.as_str() {
        "GET" | "HEAD" if !name.is_empty() => "get",
        "GET" | "HEAD" if request.query_value("watch").is_some_and(|w| w == "true" || w == "1") => "watch",
        "GET" | "HEAD" => "list",
        "POST" => "create",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" if name.is_empty() => "deletecollection",
        "DELETE" => "delete",
        other => return Attributes { verb: other.to_ascii_lowercase(), resource: None },
    };
    Attributes {
        verb: verb.to_string(),
        resource: Some((group.to_string(), resource, namespace.to_string(), name.to_string())),
    }
}

/// The 403 of the first [`crate::Forbid`] rule matching the request, in the words of kube-apiserver's authorization filter.
fn forbidden(state: &State, request: &RecordedRequest) -> Option<Status> {
    let attributes = attributes(request);
    let rule = state.forbidden.iter().find(|r| r.matches(&request.method, &attributes.verb, &request.path))?;
    let Some((group, resource, namespace, name)) = &attributes.resource else {
        let message = format!("forbidden: User {:?} cannot {} path {:?}", rule.user, attributes.verb, request.path);
        return Some(status(403, "Forbidden", &message, Some(json!({}))));
    };
    let scope = if namespace.is_empty() {
        "at the cluster scope".to_string()
    } else {
        format!("in the namespace {namespace:?}")
    };
    let why =
        format!("User {:?} cannot {} resource {resource:?} in API group {group:?} {scope}", rule.user, attributes.verb);
    // NewForbidden names the resource without its subresource.
    let plural = resource.split('/').next().unwrap_or_default();
    let qualified = if group.is_empty() { plural.to_string() } else { format!("{plural}.{group}") };
    let message = if name.is_empty() {
        format!("{qualified} is forbidden: {why}")
    } else {
        format!("{qualified} {name:?} is forbidden: {why}")
    };
    let mut details = serde_json::Map::new();
    if !name.is_empty() {
        details.insert("name".into(), name.clone().into());
    }
    if !group.is_empty() {
        details.insert("group".into(), group.clone().into());
    }
    details.insert("kind".into(), plural.into());
    Some(status(403, "Forbidden", &message, Some(Value::Object(details))))
}

/// Counts one write against the pending faults; returns the fault that fires on this write.
fn take_fault(state: &mut State) -> Option<Fault> {
    let mut fired = None;
    for (remaining, fault) in &mut state.faults {
        *remaining -= 1;
        if *remaining == 0 && fired.is_none() {
            fired = Some(*fault);
        }
    }
    state.faults.retain(|(remaining, _)| *remaining > 0);
    fired
}

fn version() -> Value {
    json!({
        "major": "1",
        "minor": "34",
        "emulationMajor": "1",
        "emulationMinor": "34",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "33",
        "gitVersion": "v1.34.0-meshc-fake",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24.6",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

const VERBS: [&str; 8] = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

fn core_resources() -> Value {
    json!({
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [
            {"name": "configmaps", "singularName": "configmap", "namespaced": true, "kind": "ConfigMap", "verbs": VERBS, "shortNames": ["cm"]},
            {"name": "namespaces", "singularName": "namespace", "namespaced": false, "kind": "Namespace",
             "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"], "shortNames": ["ns"]},
            {"name": "namespaces/status", "singularName": "", "namespaced": false, "kind": "Namespace", "verbs": ["get", "patch", "update"]},
        ],
    })
}

fn crd_resources() -> Value {
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": "apiextensions.k8s.io/v1",
        "resources": [
            {"name": "customresourcedefinitions", "singularName": "customresourcedefinition", "namespaced": false,
             "kind": "CustomResourceDefinition", "verbs": VERBS, "shortNames": ["crd", "crds"], "categories": ["api-extensions"]},
            {"name": "customresourcedefinitions/status", "singularName": "", "namespaced": false,
             "kind": "CustomResourceDefinition", "verbs": ["get", "patch", "update"]},
        ],
    })
}

fn group_versions(state: &State, group: &str) -> Vec<String> {
    let mut versions: Vec<String> = Vec::new();
    for crd in state.crds.iter().filter(|c| c.group == group) {
        for v in crd.versions.iter().filter(|v| v.served) {
            if !versions.contains(&v.name) {
                versions.push(v.name.clone());
            }
        }
    }
    versions.sort_by_key(|v| version_priority(v));
    versions
}

fn api_group(state: &State, group: &str) -> Option<Value> {
    let entry = |v: &str| json!({"groupVersion": format!("{group}/{v}"), "version": v});
    if group == APIEXTENSIONS {
        return Some(json!({"name": group, "versions": [entry("v1")], "preferredVersion": entry("v1")}));
    }
    let versions = group_versions(state, group);
    let storage = state.crds.iter().find(|c| c.group == group)?.storage_version().to_string();
    if versions.is_empty() {
        return None;
    }
    let preferred = if versions.contains(&storage) { storage } else { versions[0].clone() };
    Some(json!({
        "name": group,
        "versions": versions.iter().map(|v| entry(v)).collect::<Vec<_>>(),
        "preferredVersion": entry(&preferred),
    }))
}

fn group_list(state: &State) -> Value {
    // Built-in groups come before the groups of CRDs, as kube-apiserver orders them.
    let mut groups: Vec<&str> = vec![APIEXTENSIONS];
    for crd in &state.crds {
        if !groups.contains(&crd.group.as_str()) {
            groups.push(&crd.group);
        }
    }
    json!({
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": groups.iter().filter_map(|g| api_group(state, g)).collect::<Vec<_>>(),
    })
}

fn group_resources(state: &State, group: &str, version: &str) -> Option<Value> {
    if group == APIEXTENSIONS {
        return (version == "v1").then(crd_resources);
    }
    let mut resources = Vec::new();
    for crd in state.crds.iter().filter(|c| c.group == group) {
        let Some(v) = crd.versions.iter().find(|v| v.name == version && v.served) else { continue };
        let mut resource = json!({
            "name": crd.plural,
            "singularName": crd.singular,
            "namespaced": crd.namespaced,
            "kind": crd.kind,
            "verbs": VERBS,
        });
        if !crd.short_names.is_empty() {
            resource["shortNames"] = json!(crd.short_names);
        }
        resources.push(resource);
        if v.status_subresource {
            resources.push(
                json!({"name": format!("{}/status", crd.plural), "singularName": "", "namespaced": crd.namespaced,
                "kind": crd.kind, "verbs": ["get", "patch", "update"]}),
            );
        }
    }
    if resources.is_empty() {
        return None;
    }
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": format!("{group}/{version}"), "resources": resources}),
    )
}

fn route(state: &mut State, request: &RecordedRequest, body: &[u8], host: &str) -> Reply {
    let segments: Vec<&str> = request.path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    let get = request.method == "GET";
    match segments.as_slice() {
        ["version"] if get => return Reply::ok(version()),
        ["api"] if get => {
            return Reply::ok(json!({"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]}));
        }
        ["api", "v1"] if get => return Reply::ok(core_resources()),
        ["apis"] if get => return Reply::ok(group_list(state)),
        ["apis", group] if get => {
            return match api_group(state, group) {
                Some(mut g) => {
                    let map = g.as_object_mut().expect("an object");
                    let mut out = serde_json::Map::new();
                    out.insert("kind".into(), "APIGroup".into());
                    out.insert("apiVersion".into(), "v1".into());
                    out.extend(std::mem::take(map));
                    Reply::ok(Value::Object(out))
                }
                None => no_such_resource().into(),
            };
        }
        ["apis", group, version] if get => {
            return match group_resources(state, group, version) {
                Some(list) => Reply::ok(list),
                None => no_such_resource().into(),
            };
        }
        _ => {}
    }
    // Objects: (group, version, namespace, plural, name).
    let target = match segments.as_slice() {
        ["api", v, "namespaces", ns, plural, rest @ ..] if *plural != "status" && *plural != "finalize" => {
            Some(("", *v, Some(*ns), *plural, rest))
        }
        ["api", v, plural, rest @ ..] => Some(("", *v, None, *plural, rest)),
        ["apis", g, v, "namespaces", ns, plural, rest @ ..] => Some((*g, *v, Some(*ns), *plural, rest)),
        ["apis", g, v, plural, rest @ ..] => Some((*g, *v, None, *plural, rest)),
        _ => None,
    };
    // `/api/v1/namespaces/NAME` is the namespace NAME itself.
    let target = match (target, segments.as_slice()) {
        (_, ["api", v, "namespaces", name]) => Some(("", *v, None, "namespaces", std::slice::from_ref(name))),
        (t, _) => t,
    };
    let Some((group, version, namespace, plural, rest)) = target else {
        return no_such_resource().into();
    };
    let Some(resource) = state.resolve(group, version, plural) else {
        return no_such_resource().into();
    };
    let name = match rest {
        [] => None,
        [name] => Some(*name),
        _ => return no_such_resource().into(),
    };
    if namespace.is_some() && !resource.namespaced {
        return no_such_resource().into();
    }
    let namespace = namespace.unwrap_or("");
    match object_request(state, request, body, &resource, namespace, name) {
        Ok(reply) => reply,
        Err(status) => status.into(),
    }
}

fn object_request(
    state: &mut State,
    request: &RecordedRequest,
    body: &[u8],
    resource: &store::Resource,
    namespace: &str,
    name: Option<&str>,
) -> Result<Reply, Status> {
    let dry_run = request.query_value("dryRun") == Some("All")
        || request.body.as_ref().and_then(|b| b.get("dryRun")).is_some_and(|d| d == &json!(["All"]));
    let manager = request.query_value("fieldManager");
    let field_validation = request.query_value("fieldValidation").unwrap_or("Warn");
    let parse_body = || -> Result<Value, Status> {
        serde_json::from_slice(body).map_err(|e| store::bad_request(&format!("error decoding YAML: {e}")))
    };
    let content_type = request.content_type.as_deref().unwrap_or("").split(';').next().unwrap_or("").trim().to_string();
    let reply = |outcome: store::Outcome| Reply {
        code: if outcome.created { 201 } else { 200 },
        body: outcome.object,
        warnings: outcome.warnings,
    };
    match (request.method.as_str(), name) {
        ("GET", Some(name)) => Ok(Reply::ok(state.get(resource, namespace, name)?)),
        ("GET", None) => {
            if request.query_value("watch").is_some_and(|w| w == "true" || w == "1") {
                return Err(status(405, "MethodNotAllowed", "watch is not supported by this fake server", None));
            }
            let selector = Selector::parse(request.query_value("labelSelector").unwrap_or(""))
                .map_err(|e| store::bad_request(&format!("unable to parse requirement: {e}")))?;
            let fields = field_selector(request.query_value("fieldSelector").unwrap_or(""))?;
            let ns = if namespace.is_empty() { None } else { Some(namespace) };
            let mut list = state.list(resource, ns, &selector);
            if let Some(items) = list["items"].as_array_mut() {
                items.retain(|item| {
                    fields.iter().all(|(field, equal, value)| {
                        let actual = item.pointer(&format!("/{}", field.replace('.', "/"))).and_then(Value::as_str);
                        (actual.unwrap_or("") == value) == *equal
                    })
                });
            }
            Ok(Reply::ok(list))
        }
        ("PATCH", Some(name)) => match content_type.as_str() {
            "application/apply-patch+yaml" => {
                let Some(manager) = manager.filter(|m| !m.is_empty()) else {
                    // ValidatePatchOptions' answer.
                    return Err(status(
                        422,
                        "Invalid",
                        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                        Some(json!({"group": "meta.k8s.io", "kind": "PatchOptions", "causes": [
                            {"reason": "FieldValueRequired", "message": "Required value: is required for apply patch", "field": "fieldManager"}]})),
                    ));
                };
                let force = request.query_value("force") == Some("true");
                let config = parse_body()?;
                Ok(reply(state.apply(resource, namespace, name, manager, &config, force, dry_run)?))
            }
            "application/merge-patch+json" | "application/strategic-merge-patch+json"
                if content_type == "application/merge-patch+json" || resource.builtin.is_some() =>
            {
                let patch = parse_body()?;
                let mut object = state.get(resource, namespace, name)?;
                merge_patch(&mut object, &patch);
                let manager = manager.unwrap_or("unknown");
                Ok(reply(state.update(
                    resource,
                    namespace,
                    name,
                    manager,
                    &object,
                    UpdateMode::Replace,
                    field_validation,
                    dry_run,
                )?))
            }
            other => Err(status(
                415,
                "UnsupportedMediaType",
                &format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {other:?})"
                ),
                None,
            )),
        },
        ("POST", None) => {
            let object = parse_body()?;
            let Some(name) = object.pointer("/metadata/name").and_then(Value::as_str).map(str::to_string) else {
                return Err(invalid_name(resource));
            };
            let manager = manager.unwrap_or("unknown");
            Ok(reply(state.update(
                resource,
                namespace,
                &name,
                manager,
                &object,
                UpdateMode::Create,
                field_validation,
                dry_run,
            )?))
        }
        ("PUT", Some(name)) => {
            let object = parse_body()?;
            let manager = manager.unwrap_or("unknown");
            Ok(reply(state.update(
                resource,
                namespace,
                name,
                manager,
                &object,
                UpdateMode::Replace,
                field_validation,
                dry_run,
            )?))
        }
        ("DELETE", Some(name)) => {
            // kube-rs sends DeleteOptions as the body: {"kind":"DeleteOptions","apiVersion":"v1","preconditions":{...}}.
            let preconditions = request.body.as_ref().and_then(|b| b.get("preconditions")).filter(|p| p.is_object());
            Ok(Reply::ok(state.delete(resource, namespace, name, preconditions, dry_run)?))
        }
        _ => Err(status(
            405,
            "MethodNotAllowed",
            &format!(
                "the server does not allow this method on the requested resource ({} {})",
                request.method, request.path
            ),
            None,
        )),
    }
}

/// A field selector's requirements (field, whether it must equal, value), on the fields every kind supports:
/// `metadata.name` and `metadata.namespace` (kubectl wait and `kubectl get --field-selector` send them).
fn field_selector(text: &str) -> Result<Vec<(String, bool, String)>, Status> {
    let mut requirements = Vec::new();
    for term in text.split(',').filter(|t| !t.is_empty()) {
        let (field, equal, value) = if let Some((f, v)) = term.split_once("!=") {
            (f, false, v)
        } else if let Some((f, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            (f, true, v)
        } else {
            return Err(store::bad_request(&format!("invalid selector: '{text}'; can't understand '{term}'")));
        };
        if !matches!(field, "metadata.name" | "metadata.namespace") {
            return Err(store::bad_request(&format!("field label not supported: {field}")));
        }
        requirements.push((field.to_string(), equal, value.to_string()));
    }
    Ok(requirements)
}

fn invalid_name(resource: &store::Resource) -> Status {
    status(
        422,
        "Invalid",
        &format!("{} \"\" is invalid: metadata.name: Required value: name or generateName is required", resource.kind),
        Some(
            json!({"kind": resource.kind, "causes": [{"reason": "FieldValueRequired", "message": "Required value: name or generateName is required", "field": "metadata.name"}]}),
        ),
    )
}

/// RFC 7386 JSON merge patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let map = target.as_object_mut().expect("made an object above");
    for (key, value) in patch {
        if value.is_null() {
            map.shift_remove(key);
        } else {
            merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}
