//! The cluster half of meshc: `meshc diff` and `meshc apply` (with `--prune`) over
//! server-side apply, with ApplySets (KEP-3659) to know which objects are meshc's.
//!
//! The crate is a shell around kube-rs. What can be pure is pure and has its own
//! module: [`applyset`] (ids, labels, the parent object), [`fields`] (field sets as
//! server-side apply counts them, and field-by-field comparison), [`report`] (what a
//! run did, as text, a unified diff and JSON). [`connect`] reads kubeconfig and maps
//! the client's failures to errors a person can act on; [`run`] talks to the API
//! server: it checks everything with reads and server-side dry runs before the first
//! write, and writes nothing when a check fails.

pub mod applyset;
pub mod connect;
pub mod fields;
pub mod gitops;
pub mod report;
pub mod run;

use serde_json::Value as Json;

/// Group, kind, namespace and name: one object in whatever version it is read.
pub type Identity = (String, String, Option<String>, String);

/// One object's identity as the API server names it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    pub fn of(object: &Json) -> ObjectRef {
        let text = |v: &Json| v.as_str().unwrap_or_default().to_string();
        ObjectRef {
            api_version: text(&object["apiVersion"]),
            kind: text(&object["kind"]),
            namespace: object["metadata"]["namespace"].as_str().map(String::from),
            name: text(&object["metadata"]["name"]),
        }
    }

    pub fn group(&self) -> &str {
        self.api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or_default()
    }

    pub fn version(&self) -> &str {
        self.api_version.rsplit_once('/').map(|(_, v)| v).unwrap_or(&self.api_version)
    }

    /// Whether two refs name one object: the same group, kind, namespace and name, in
    /// whatever version each was read.
    pub fn same_object(&self, other: &ObjectRef) -> bool {
        self.identity() == other.identity()
    }

    /// What names one object whatever version it is read in: group, kind, namespace, name.
    pub fn identity(&self) -> Identity {
        (self.group().to_string(), self.kind.clone(), self.namespace.clone(), self.name.clone())
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "{} {namespace}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// Runs [`run::run`] on a runtime of its own, for callers without one (the CLI).
pub fn run_blocking(
    target: &connect::Target,
    desired: &[serde_json::Value],
    mode: run::Mode,
    options: &run::Options,
    progress: &mut dyn FnMut(run::Progress),
) -> Result<run::Outcome, connect::ClusterError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| connect::ClusterError::Config(format!("cannot start the client's runtime: {e}")))?;
    runtime.block_on(async {
        let connected = connect::connect(target).await?;
        run::run(&connected, desired, mode, options, progress).await
    })
}
