//! A stateful fake Kubernetes API server for testing `meshc diff` and `meshc apply`.
//!
//! It speaks JSON over HTTP/1 as kube-apiserver does for the requests kube-rs sends: version and discovery, namespaces, ConfigMaps, CustomResourceDefinitions and the resources of installed CRDs (get, list with label selectors, server-side apply, merge patch, create, replace, delete), with kube-apiserver's status codes and `Status` bodies.
//! Server-side apply follows structured-merge-diff with maps granular and lists atomic, except lists the CRD schema declares map-typed, which merge by key; see [`store`] for what is simplified.
//! Tests can make it refuse as a cluster with RBAC or a validating webhook does ([`FakeApiServer::forbid`], [`FakeApiServer::deny_writes_with_webhook`]).
//! Metadata is deterministic (uids and resourceVersions from counters, a fixed time) so that golden files are stable.

mod fields;
mod istio;
mod schema;
mod selector;
mod server;
mod store;

pub use istio::{istio_crd, istio_crds, kubeconfig, read_istio_crds};
pub use server::RunningServer;

use serde_json::Value;
use std::sync::{Arc, Mutex, MutexGuard};

/// Fault injection for [`FakeApiServer::drop_connection_on_write`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The connection is dropped without a response and nothing is persisted.
    BeforeWrite,
    /// The write is persisted, then the connection is dropped without a response.
    AfterWrite,
}

/// An error as kube-apiserver returns it: the HTTP status code and the `Status` object.
#[derive(Clone, Debug, PartialEq)]
pub struct Status {
    pub code: u16,
    pub body: Value,
}

/// One request the server received.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// Decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    pub content_type: Option<String>,
    /// The body parsed as JSON, when it was JSON.
    pub body: Option<Value>,
}

impl RecordedRequest {
    /// PATCH, POST, PUT or DELETE without `dryRun=All`.
    pub fn is_write(&self) -> bool {
        matches!(self.method.as_str(), "PATCH" | "POST" | "PUT" | "DELETE") && !self.is_dry_run()
    }

    fn is_dry_run(&self) -> bool {
        self.query.iter().any(|(k, v)| k == "dryRun" && v == "All")
    }

    /// The value of query parameter `name`, if given.
    pub fn query_value(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// A rule for [`FakeApiServer::forbid`]: requests it matches get 403 Forbidden as kube-apiserver's authorizer answers a user without permission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forbid {
    /// HTTP methods (`GET`) or Kubernetes verbs (`list`, `get`, `create`, `patch`, `update`, `delete`, `deletecollection`, `watch`); `*` matches any.
    pub methods: Vec<String>,
    /// A path pattern: segments separated by `/`, where `*` matches one segment and a final `**` any number (including none).
    /// `/apis/telemetry.istio.io/*/telemetries` matches the cluster-wide list and not `/apis/telemetry.istio.io/v1/namespaces/shop/telemetries`.
    pub path: String,
    /// The user the message names.
    pub user: String,
}

impl Forbid {
    /// The user named by default: a CI service account.
    pub const DEFAULT_USER: &str = "system:serviceaccount:ci:meshc";

    pub fn new(methods: &[&str], path: &str) -> Forbid {
        Forbid {
            methods: methods.iter().map(|m| m.to_string()).collect(),
            path: path.to_string(),
            user: Self::DEFAULT_USER.to_string(),
        }
    }

    /// The same rule naming another user.
    pub fn as_user(mut self, user: &str) -> Forbid {
        self.user = user.to_string();
        self
    }

    /// Whether a request with this method, Kubernetes verb and path is denied.
    pub(crate) fn matches(&self, method: &str, verb: &str, path: &str) -> bool {
        let method_matches = self.methods.iter().any(|m| m == "*" || m.eq_ignore_ascii_case(method) || m == verb);
        let pattern: Vec<&str> = self.path.split('/').filter(|s| !s.is_empty()).collect();
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let path_matches = match pattern.split_last() {
            Some((&"**", head)) => {
                segments.len() >= head.len() && head.iter().zip(&segments).all(|(p, s)| *p == "*" || p == s)
            }
            _ => pattern.len() == segments.len() && pattern.iter().zip(&segments).all(|(p, s)| *p == "*" || p == s),
        };
        method_matches && path_matches
    }
}

/// The fake API server: its state, shared by the in-process API and the HTTP server started from it.
#[derive(Clone)]
pub struct FakeApiServer {
    state: Arc<Mutex<store::State>>,
}

impl Default for FakeApiServer {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeApiServer {
    /// An empty cluster: namespaces default, kube-system and kube-public; ConfigMap and Namespace built in; no CRDs.
    pub fn new() -> Self {
        FakeApiServer { state: Arc::new(Mutex::new(store::State::new())) }
    }

    fn lock(&self) -> MutexGuard<'_, store::State> {
        // A panic in one request handler must not take every later request down with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Installs a full apiextensions.k8s.io/v1 CustomResourceDefinition document as an administrator would, with no field manager;
    /// it is stored as one applied through the API is (status Established) and its served versions appear in discovery at once.
    ///
    /// # Panics
    /// When the API server would refuse the document (no spec.group, spec.names.kind or spec.names.plural, a name other than `PLURAL.GROUP`, ...).
    pub fn install_crd(&self, crd: &Value) {
        if let Err(status) = self.lock().install_crd(crd) {
            panic!("install_crd: {}", status.body["message"]);
        }
    }

    pub fn add_namespace(&self, name: &str) {
        self.lock().add_namespace(name);
    }

    /// From now on, requests without `Authorization: Bearer <token>` get 401.
    pub fn require_token(&self, token: &str) {
        self.lock().token = Some(token.to_string());
    }

    /// Serves on 127.0.0.1 on a port of its own, on a thread with its own tokio runtime; returns once the socket is listening.
    pub fn start(&self) -> RunningServer {
        self.start_on(0).expect("bind 127.0.0.1:0")
    }

    /// Serves on 127.0.0.1:`port` (0: any free port), as [`FakeApiServer::start`] does; fails when the port cannot be bound.
    pub fn start_on(&self, port: u16) -> std::io::Result<RunningServer> {
        server::start(self.clone(), port)
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.lock().requests.clear();
    }

    /// An object as a GET would return it, in its storage version; `group` is "" for ConfigMaps and Namespaces.
    pub fn object(&self, group: &str, plural: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
        self.lock().stored_object(group, plural, namespace.unwrap_or(""), name)
    }

    /// Everything stored except the built-in namespaces and the CustomResourceDefinitions, sorted by (group, plural, namespace, name), in storage versions.
    pub fn objects(&self) -> Vec<Value> {
        self.lock().all_objects()
    }

    /// Server-side apply as another actor would send it (for seeding and for conflicts), with the semantics of an apply PATCH.
    pub fn apply_as(&self, manager: &str, object: &Value, force: bool) -> Result<Value, Status> {
        self.lock().apply_object(manager, object, force).map(|outcome| outcome.object)
    }

    /// A non-apply write (operation Update, as `kubectl edit` or a controller does): replaces the object (creating it if absent);
    /// fields whose value changed or appeared become owned by `manager` and leave other managers' sets.
    pub fn update_as(&self, manager: &str, object: &Value) -> Result<Value, Status> {
        self.lock().update_object(manager, object).map(|outcome| outcome.object)
    }

    /// The `nth` write request from now (1-based; PATCH without dryRun=All, POST, PUT, DELETE) gets its connection dropped without a response.
    pub fn drop_connection_on_write(&self, nth: usize, fault: Fault) {
        self.lock().faults.push((nth, fault));
    }

    /// From now on, requests matching `rule` get 403 Forbidden with the message of kube-apiserver's authorizer
    /// (`telemetries.telemetry.istio.io is forbidden: User "system:serviceaccount:ci:meshc" cannot list resource "telemetries" in API group "telemetry.istio.io" at the cluster scope`).
    /// Authorization comes after authentication and before everything else: a denied request changes nothing and counts as no write for [`Self::drop_connection_on_write`].
    pub fn forbid(&self, rule: Forbid) {
        self.lock().forbidden.push(rule);
    }

    /// From now on, writes (create, update, patch, server-side apply, dry run or not; not deletions) of objects of `kind`
    /// are denied by a validating admission webhook named `validation.istio.io`, as Istio's is: 403 Forbidden with
    /// `PLURAL.GROUP "NAME" is forbidden: admission webhook "validation.istio.io" denied the request: MESSAGE`.
    /// The webhook runs where kube-apiserver calls it: after conflicts and schema validation, before anything is stored.
    pub fn deny_writes_with_webhook(&self, kind: &str, message: &str) {
        self.lock().webhook_denials.push((kind.to_string(), message.to_string()));
    }

    /// The current value of the global resourceVersion counter.
    pub fn resource_version(&self) -> u64 {
        self.lock().resource_version
    }
}
