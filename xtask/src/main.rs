//! Repository chores on the pinned Envoy builds (all by default, or the minors given),
//! each fetched into the meshc cache first (pip, sha256-verified):
//!
//! - `cargo run -p xtask -- extract-descriptors [MINOR...]` recovers the descriptor set
//!   compiled into each build, checks that it links, and writes
//!   `compiler/descriptors/envoy-<version>.binpb` with its provenance in
//!   `envoy-<version>.json`;
//! - `cargo run -p xtask -- extract-extensions [MINOR...]` starts each build and writes
//!   the extensions it registers (category, name, config types) to
//!   `compiler/descriptors/envoy-<version>.extensions.txt`;
//! - `cargo run -p xtask -- extract-crds` reads Istio's CRD schemas of every supported
//!   release from `../shared/reference/istio-crds/` and writes their compact form
//!   (`meshc_compiler::crd::compact_release`) to `compiler/crds/istio-<release>.json`.

use meshc_compiler::envoy::descriptors;
use meshc_compiler::versions::{self, EnvoyBuild};
use meshc_host::envoy;
use std::path::{Path, PathBuf};

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("extract-crds") => match extract_crds() {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("error: {message}");
                std::process::ExitCode::from(1)
            }
        },
        Some(command @ ("extract-descriptors" | "extract-extensions")) => {
            let wanted: Vec<String> = args.collect();
            let builds: Vec<&'static EnvoyBuild> = if wanted.is_empty() {
                versions::ENVOY_BUILDS.iter().collect()
            } else {
                match wanted.iter().map(|v| envoy::resolve(v)).collect::<Result<Vec<_>, _>>() {
                    Ok(builds) => builds,
                    Err(message) => {
                        eprintln!("error: {message}");
                        return std::process::ExitCode::from(2);
                    }
                }
            };
            for build in builds {
                let done = if command == "extract-descriptors" {
                    extract(build, &descriptors_dir())
                } else {
                    extract_extensions(build, &descriptors_dir())
                };
                if let Err(message) = done {
                    eprintln!("error: Envoy {}: {message}", build.version);
                    return std::process::ExitCode::from(1);
                }
            }
            std::process::ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: cargo run -p xtask -- extract-descriptors|extract-extensions [MINOR...] | extract-crds");
            std::process::ExitCode::from(2)
        }
    }
}

fn descriptors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../compiler/descriptors")
}

fn extract(build: &'static EnvoyBuild, out_dir: &Path) -> Result<(), String> {
    let cache = envoy::cache_dir();
    let binary_path = envoy::ensure(&cache, build).map_err(|e| e.to_string())?;
    let binary = std::fs::read(&binary_path).map_err(|e| format!("cannot read {}: {e}", binary_path.display()))?;
    let files = descriptors::scan_binary(&binary);
    let set = descriptors::descriptor_set(&files);
    let pool = descriptors::link(&set).map_err(|e| format!("the recovered descriptors do not link: {e}"))?;
    std::fs::create_dir_all(out_dir).map_err(|e| e.to_string())?;
    let data_path = out_dir.join(format!("envoy-{}.binpb", build.version));
    meshc_host::write::write_atomic(&data_path, &set).map_err(|e| e.to_string())?;
    let provenance = serde_json::json!({
        "envoy": build.version,
        "wheel": build.wheel,
        "wheel_sha256": build.sha256,
        "files": files.len(),
        "messages": pool.all_messages().count(),
        "descriptor_set_bytes": set.len(),
    });
    let provenance_path = out_dir.join(format!("envoy-{}.json", build.version));
    let text = serde_json::to_string_pretty(&provenance).expect("JSON") + "\n";
    meshc_host::write::write_atomic(&provenance_path, text.as_bytes()).map_err(|e| e.to_string())?;
    eprintln!(
        "Envoy {}: {} files, {} messages, {} bytes -> {}",
        build.version,
        files.len(),
        pool.all_messages().count(),
        set.len(),
        data_path.display()
    );
    Ok(())
}

fn extract_extensions(build: &'static EnvoyBuild, out_dir: &Path) -> Result<(), String> {
    let binary = envoy::ensure(&envoy::cache_dir(), build).map_err(|e| e.to_string())?;
    let registry = meshc_smoke::extension_registry(&binary).map_err(|e| e.to_string())?;
    let path = out_dir.join(format!("envoy-{}.extensions.txt", build.version));
    meshc_host::write::write_atomic(&path, registry.as_bytes()).map_err(|e| e.to_string())?;
    eprintln!("Envoy {}: {} extensions -> {}", build.version, registry.lines().count(), path.display());
    Ok(())
}

/// Writes the compact CRD schemas of every supported release into the compiler.
fn extract_crds() -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out_dir = root.join("compiler/crds");
    std::fs::create_dir_all(&out_dir).map_err(|e| e.to_string())?;
    for release in versions::ISTIO_RELEASES {
        let folder = root.join("../shared/reference/istio-crds").join(meshc_compiler::crd::source_folder(release));
        let mut texts = Vec::new();
        for kind in meshc_compiler::crd::Kind::ALL {
            let path = folder.join(kind.source_file());
            let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            texts.push((kind, text));
        }
        let sources: Vec<(meshc_compiler::crd::Kind, &str)> = texts.iter().map(|(k, t)| (*k, t.as_str())).collect();
        let compact = meshc_compiler::crd::compact_release(release, &sources)?;
        let path = out_dir.join(format!("istio-{}.json", release.version));
        meshc_host::write::write_atomic(&path, compact.as_bytes()).map_err(|e| e.to_string())?;
        eprintln!("Istio {}: {} bytes from {} -> {}", release.version, compact.len(), folder.display(), path.display());
    }
    Ok(())
}
