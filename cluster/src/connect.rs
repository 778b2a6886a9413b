//! Reaching a cluster: kubeconfig and context as kubectl reads them, and the client's
//! failures turned into errors that say what to do.

use kube::config::{KubeConfigOptions, Kubeconfig};
use std::path::PathBuf;

/// Which cluster to talk to: kubectl's `--kubeconfig` and `--context`. Without a
/// kubeconfig, `KUBECONFIG` or `~/.kube/config` is read, and inside a pod its service
/// account is used.
#[derive(Clone, Debug, Default)]
pub struct Target {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
}

/// A client, and what to call the cluster in messages.
#[derive(Clone)]
pub struct Connected {
    pub client: kube::Client,
    /// The kubeconfig context's name (`in-cluster` inside a pod).
    pub context: String,
    /// The API server's URL.
    pub server: String,
}

/// Why meshc could not talk to the cluster at all (exit 2), as opposed to the cluster
/// refusing one object (a diagnostic at the object's declaration).
#[derive(Debug, Clone, PartialEq)]
pub enum ClusterError {
    /// The kubeconfig cannot be read, or names no such context.
    Config(String),
    /// No connection: refused, unresolvable, TLS failed.
    Unreachable { server: String, context: String, detail: String },
    /// 401: the credentials are missing, wrong or expired.
    Unauthorized { server: String, context: String },
    /// 403 on something meshc must read or write.
    Forbidden { server: String, context: String, message: String },
    /// The connection broke during a write: the write may or may not have happened.
    Lost { server: String, detail: String, applied: usize, total: usize },
    /// Anything else the server answered that meshc cannot attribute to one object.
    Server { server: String, message: String },
    /// Any of the above, after some of the run's writes were made.
    Interrupted { error: Box<ClusterError>, applied: usize, total: usize },
}

impl ClusterError {
    /// `error`, met after `applied` of the run's `total` writes: a connection that
    /// breaks during the writes is "lost"; anything else says how far the run got.
    pub fn interrupted(error: ClusterError, applied: usize, total: usize) -> ClusterError {
        match error {
            ClusterError::Unreachable { server, detail, .. } => ClusterError::Lost { server, detail, applied, total },
            error if applied == 0 => error,
            error => ClusterError::Interrupted { error: Box::new(error), applied, total },
        }
    }
}

impl std::fmt::Display for ClusterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClusterError::Config(message) => write!(f, "{message}"),
            ClusterError::Unreachable { server, context, detail } => write!(
                f,
                "cannot reach the cluster of context `{context}` at {server}: {detail}\n  = help: is the cluster running, and is this the right context? (`--context`, `--kubeconfig`)"
            ),
            ClusterError::Unauthorized { server, context } => write!(
                f,
                "the cluster at {server} refused the credentials of context `{context}` (401 Unauthorized): they are missing, wrong or expired\n  = help: log in again (for example `gcloud container clusters get-credentials`, `aws eks update-kubeconfig`, `kind export kubeconfig`), or choose another context with `--context`"
            ),
            ClusterError::Forbidden { server, context, message } => write!(
                f,
                "the cluster at {server} forbids what meshc needs with the credentials of context `{context}`: {message}"
            ),
            ClusterError::Lost { server, detail, applied, total } => write!(
                f,
                "lost the connection to {server} after {applied} of {total} writes: {detail}\n  = help: the cluster may hold some of the changes; run the same command again: it applies what is missing and leaves what is done"
            ),
            ClusterError::Server { server, message } => write!(f, "the cluster at {server} answered: {message}"),
            ClusterError::Interrupted { error, applied, total } => write!(
                f,
                "{error}\n  = note: {applied} of the run's {total} writes were made before this; once the cause is fixed, run the same command again: it makes only the writes still missing"
            ),
        }
    }
}

impl std::error::Error for ClusterError {}

/// Builds a client for `target`. This reads files and the environment but sends no
/// request: the first request tells whether the cluster is there.
pub async fn connect(target: &Target) -> Result<Connected, ClusterError> {
    let options = KubeConfigOptions { context: target.context.clone(), cluster: None, user: None };
    let (config, context) = match &target.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .map_err(|e| ClusterError::Config(format!("cannot read the kubeconfig {}: {e}", path.display())))?;
            let context = context_name(&kubeconfig, &options)?;
            let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| ClusterError::Config(format!("the kubeconfig {}: {e}", path.display())))?;
            (config, context)
        }
        None => match Kubeconfig::read() {
            Ok(kubeconfig) => {
                let context = context_name(&kubeconfig, &options)?;
                let config = kube::Config::from_kubeconfig(&options)
                    .await
                    .map_err(|e| ClusterError::Config(format!("the kubeconfig: {e}")))?;
                (config, context)
            }
            Err(kubeconfig_error) => match kube::Config::incluster() {
                Ok(config) if target.context.is_none() => (config, "in-cluster".to_string()),
                _ => {
                    return Err(ClusterError::Config(format!(
                        "no kubeconfig to read ({kubeconfig_error}); name one with `--kubeconfig` or KUBECONFIG"
                    )));
                }
            },
        },
    };
    let server = config.cluster_url.to_string().trim_end_matches('/').to_string();
    let client = kube::Client::try_from(config)
        .map_err(|e| ClusterError::Config(format!("cannot build a client for {server}: {e}")))?;
    Ok(Connected { client, context, server })
}

/// The context that `options` selects, or an error naming the contexts there are.
fn context_name(kubeconfig: &Kubeconfig, options: &KubeConfigOptions) -> Result<String, ClusterError> {
    let names: Vec<&str> = kubeconfig.contexts.iter().map(|c| c.name.as_str()).collect();
    match options.context.as_deref().or(kubeconfig.current_context.as_deref()) {
        Some(name) if names.contains(&name) => Ok(name.to_string()),
        Some(name) => Err(ClusterError::Config(format!(
            "the kubeconfig has no context `{name}`{}",
            if names.is_empty() { String::new() } else { format!(" (it has: {})", names.join(", ")) }
        ))),
        None => Err(ClusterError::Config(format!(
            "the kubeconfig has no current context; choose one with `--context`{}",
            if names.is_empty() { String::new() } else { format!(" ({})", names.join(", ")) }
        ))),
    }
}

/// What a failed request was: the server's answer, or a failure to get one.
pub enum Failure {
    /// The server answered with a Status.
    Status(Box<kube::core::Status>),
    /// meshc cannot go on: no connection, no credentials.
    Fatal(ClusterError),
}

/// Sorts a client error into an answer of the server, about one object, or a reason
/// to stop talking to the cluster.
pub fn classify(error: kube::Error, at: &Connected) -> Failure {
    match error {
        kube::Error::Api(status) if status.code == 401 => {
            Failure::Fatal(ClusterError::Unauthorized { server: at.server.clone(), context: at.context.clone() })
        }
        kube::Error::Api(status) => Failure::Status(status),
        // Credentials that cannot be had (an exec plugin failing, a token file missing)
        // are not a cluster that cannot be reached.
        kube::Error::Auth(error) => Failure::Fatal(ClusterError::Config(format!(
            "cannot get the credentials of context `{}`: {}",
            at.context,
            root_cause(&error)
        ))),
        other if is_auth_error(&other) => Failure::Fatal(ClusterError::Config(format!(
            "cannot get the credentials of context `{}`: {}",
            at.context,
            root_cause(&other)
        ))),
        other => {
            let detail = root_cause(&other);
            Failure::Fatal(ClusterError::Unreachable { server: at.server.clone(), context: at.context.clone(), detail })
        }
    }
}

/// Whether an error comes from getting credentials (kube-rs wraps its authentication
/// layer's errors as service errors).
fn is_auth_error(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = current {
        if error.is::<kube::client::AuthError>() {
            return true;
        }
        current = error.source();
    }
    false
}

/// The innermost cause of an error, which is the one a person recognises
/// ("Connection refused (os error 111)"), rather than the chain of wrappers.
pub fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current: &(dyn std::error::Error + 'static) = error;
    while let Some(source) = current.source() {
        current = source;
    }
    let text = current.to_string();
    if text.is_empty() { error.to_string() } else { text }
}
