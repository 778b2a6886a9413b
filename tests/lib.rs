//! Shared helpers of the workspace-level tests and benchmarks.

pub mod admission;
pub mod architecture;
pub mod cluster_cases;
pub mod corpus;
pub mod crd;
pub mod crd_corpus;
pub mod crd_features;
pub mod import_corpus;
pub mod large;
pub mod wasm_agreement;

use std::path::PathBuf;

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `../shared` beside the repository: the reference material CI provides.
pub fn shared() -> PathBuf {
    workspace().join("../shared")
}

/// The cached binary of a pinned Envoy build (`1.38`), fetched into the tests' cache
/// under `target/` when it is not there yet.
pub fn cached_envoy(version: &str) -> PathBuf {
    let build = meshc_compiler::versions::envoy_build(version).expect("a pinned Envoy build");
    let cache = workspace().join("target/meshc-test-cache");
    match meshc_host::envoy::cached(&cache, build) {
        Some(path) => path,
        None => meshc_host::envoy::fetch(&cache, build, None).expect("the pinned Envoy downloads"),
    }
}

/// The release `meshc` binary, built first, for benchmarks that time the command as a
/// user runs it.
pub fn release_meshc() -> PathBuf {
    let status = std::process::Command::new(env!("CARGO"))
        .args(["build", "--release", "--quiet", "-p", "meshc", "--bin", "meshc"])
        .current_dir(workspace())
        .status()
        .expect("cargo runs");
    assert!(status.success(), "meshc builds");
    // Cargo puts it under CARGO_TARGET_DIR when that is set (relative to the workspace).
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace().join("target"), |d| workspace().join(d));
    target.join("release").join(format!("meshc{}", std::env::consts::EXE_SUFFIX))
}
