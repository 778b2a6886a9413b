//! Shared helpers of the workspace-level tests and benchmarks.

pub mod corpus;
pub mod crd;
pub mod large;

use std::path::PathBuf;

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `../shared` beside the repository: the reference material CI provides.
pub fn shared() -> PathBuf {
    workspace().join("../shared")
}
