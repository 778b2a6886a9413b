//! Finding and reading a package from disk into a [`SourceDb`].

use meshc_compiler::source::{SourceDb, SourceKind};
use std::path::{Path, PathBuf};

/// A package read from disk.
pub struct LoadedPackage {
    /// The directory that holds `mesh.toml` (or the directory given, when none was found).
    pub root: PathBuf,
    pub db: SourceDb,
}

/// Directories under a package root that never hold the package's own sources.
const SKIPPED_DIRS: &[&str] = &["tests", "target", "node_modules", "out"];

/// Finds the package root for a path: the nearest directory, from the path upwards,
/// that holds a `mesh.toml`. Without one, the directory itself (the analysis then
/// reports the missing manifest).
pub fn package_root(path: &Path) -> std::io::Result<PathBuf> {
    let metadata = std::fs::metadata(path)?;
    let start =
        if metadata.is_dir() { path.to_path_buf() } else { path.parent().map(Path::to_path_buf).unwrap_or_default() };
    let mut current = Some(start.as_path());
    while let Some(dir) = current {
        if dir.join("mesh.toml").is_file() {
            return Ok(dir.to_path_buf());
        }
        current = dir.parent().filter(|p| !p.as_os_str().is_empty());
    }
    Ok(start)
}

/// Reads a package: its `mesh.toml` and every `.mesh` file below the root, in a stable
/// order, with paths shown relative to where the user pointed.
pub fn load(root: &Path, manifest_fallback: Option<&Path>) -> std::io::Result<LoadedPackage> {
    let mut db = SourceDb::with_stdlib();
    let manifest = root.join("mesh.toml");
    let manifest = if manifest.is_file() { Some(manifest) } else { manifest_fallback.map(Path::to_path_buf) };
    if let Some(manifest) = manifest {
        let bytes = std::fs::read(&manifest)?;
        db.add_bytes(display(&manifest), bytes, SourceKind::Manifest);
    }
    let mut files = Vec::new();
    collect_mesh_files(root, root, &mut files)?;
    files.sort();
    for file in files {
        let bytes = std::fs::read(&file)?;
        let id = db.add_bytes(display(&file), bytes, SourceKind::Package);
        if let Ok(relative) = file.strip_prefix(root) {
            let module = relative.with_extension("").to_string_lossy().replace(['/', '\\'], ".");
            db.set_module(id, module);
        }
    }
    Ok(LoadedPackage { root: root.to_path_buf(), db })
}

fn collect_mesh_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        if entry.file_type()?.is_dir() {
            // A nested package (its own mesh.toml) is not part of this one.
            if (dir == root && SKIPPED_DIRS.contains(&name.as_ref())) || path.join("mesh.toml").is_file() {
                continue;
            }
            collect_mesh_files(root, &path, out)?;
        } else if name.ends_with(".mesh") {
            out.push(path);
        }
    }
    Ok(())
}

/// A path as diagnostics show it: relative to the working directory when it is below it.
pub fn display(path: &Path) -> String {
    let shown = std::env::current_dir().ok().and_then(|cwd| path.strip_prefix(&cwd).ok().map(Path::to_path_buf));
    let shown = shown.unwrap_or_else(|| path.to_path_buf());
    let text = shown.to_string_lossy().replace('\\', "/");
    text.strip_prefix("./").map(str::to_string).unwrap_or(text)
}

/// Reads the local Wasm modules (`file://` URLs, relative to the package) that the
/// raw Envoy target inlines into bootstraps. A file that cannot be read is left out;
/// the core reports it where the URL was written.
pub fn read_assets(
    root: &Path,
    analysis: &meshc_compiler::analysis::Analysis,
) -> meshc_compiler::envoy_target::bootstrap::Assets {
    let mut assets = meshc_compiler::envoy_target::bootstrap::Assets::new();
    for url in meshc_compiler::envoy_target::bootstrap::asset_urls(analysis) {
        let Some(path) = meshc_compiler::envoy_target::bootstrap::file_url_path(&url) else { continue };
        if let Ok(bytes) = std::fs::read(root.join(path)) {
            assets.insert(url, bytes);
        }
    }
    assets
}
