//! Finding a package on disk and reading it into a [`SourceDb`], with the Wasm
//! modules it names.

use crate::error::{HostError, read_error};
use crate::walk::{Walk, directory_of};
use meshc_compiler::driver::{self, Analysis, Assets};
use meshc_compiler::source::{SourceDb, SourceKind};
use std::path::{Path, PathBuf};

/// The name of a package's manifest.
pub const MANIFEST: &str = "mesh.toml";

/// A package read from disk.
pub struct LoadedPackage {
    /// The directory that holds `mesh.toml` (or the directory given, when none was found).
    pub root: PathBuf,
    pub db: SourceDb,
}

impl LoadedPackage {
    /// The files of `file://` URLs, read from below the package root when asked for.
    pub fn assets(&self) -> PackageAssets {
        PackageAssets { root: self.root.clone() }
    }

    /// Runs the compiler on the package: what `meshc check`, `meshc build`, the
    /// language server and the tests all see.
    pub fn analyze(&self) -> Analysis {
        driver::analyze(&self.db, &self.assets())
    }
}

/// The Wasm modules a package names by `file://` URL, relative to its root.
pub struct PackageAssets {
    pub root: PathBuf,
}

impl Assets for PackageAssets {
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        std::fs::read(self.root.join(path)).ok()
    }
}

/// Directories under a package root that never hold the package's own sources.
const SKIPPED_DIRS: &[&str] = &["tests", "out"];

/// Finds the package root for a path: the nearest directory, from the path upwards,
/// that holds a `mesh.toml`. Without one, the directory itself (the analysis then
/// reports the missing manifest).
pub fn package_root(path: &Path) -> Result<PathBuf, HostError> {
    std::fs::metadata(path).map_err(read_error(path))?;
    Ok(document_package_root(path))
}

/// The package root of a document an editor has open, which need not exist on disk
/// yet: the nearest directory upwards from it with a `mesh.toml`, or its own
/// directory.
pub fn document_package_root(path: &Path) -> PathBuf {
    let start = directory_of(path);
    let mut current = Some(start.as_path());
    while let Some(dir) = current {
        if dir.join(MANIFEST).is_file() {
            return dir.to_path_buf();
        }
        current = dir.parent().filter(|p| !p.as_os_str().is_empty());
    }
    start
}

/// The `.mesh` files of the package at `root`, in a stable order: every one below the
/// root except in `tests/` and `out/`, and in nested packages (their own mesh.toml).
pub fn package_files(root: &Path) -> Result<Vec<PathBuf>, HostError> {
    let skip = |dir: &Path, depth: usize| {
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        (depth == 1 && SKIPPED_DIRS.contains(&name.as_str())) || dir.join(MANIFEST).is_file()
    };
    Walk { extension: Some("mesh"), skip_dir: &skip }.files(root)
}

/// The module name of a package file: its path below the root with dots
/// (`lib/labels.mesh` is `lib.labels`).
pub fn module_name(root: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(root).ok()?;
    Some(relative.with_extension("").to_string_lossy().replace(['/', '\\'], "."))
}

/// Reads a package: its `mesh.toml` (or `manifest_fallback`, a golden case's
/// inherited one) and every `.mesh` file below the root, with paths shown relative
/// to where the user pointed.
pub fn load(root: &Path, manifest_fallback: Option<&Path>) -> Result<LoadedPackage, HostError> {
    let mut db = SourceDb::with_stdlib();
    add_manifest(&mut db, root, manifest_fallback)?;
    for file in package_files(root)? {
        let bytes = std::fs::read(&file).map_err(read_error(&file))?;
        let id = db.add_bytes(display(&file), bytes, SourceKind::Package);
        if let Some(module) = module_name(root, &file) {
            db.set_module(id, module);
        }
    }
    Ok(LoadedPackage { root: root.to_path_buf(), db })
}

/// Adds the package's `mesh.toml` (or `manifest_fallback`) to `db`, with the cluster's
/// MeshConfig it names.
fn add_manifest(db: &mut SourceDb, root: &Path, manifest_fallback: Option<&Path>) -> Result<(), HostError> {
    let manifest = root.join(MANIFEST);
    // A `mesh.toml` that is a directory is a mistake to name, not a missing manifest.
    if manifest.exists() && !manifest.is_file() {
        return Err(HostError::NotAFile { path: manifest });
    }
    let manifest = if manifest.is_file() { Some(manifest) } else { manifest_fallback.map(Path::to_path_buf) };
    if let Some(manifest) = manifest {
        let bytes = std::fs::read(&manifest).map_err(read_error(&manifest))?;
        let id = db.add_bytes(display(&manifest), bytes, SourceKind::Manifest);
        // The cluster's MeshConfig the manifest names, relative to the manifest; one
        // that cannot be read is reported by the checker at the manifest's key.
        let (parsed, _) = meshc_compiler::manifest::parse_manifest(&db.get(id).text, id);
        if let Some(path) = parsed.and_then(|m| m.mesh_config) {
            let file = manifest.parent().unwrap_or(root).join(&path.value);
            if let Ok(bytes) = std::fs::read(&file) {
                db.add_bytes(display(&file), bytes, SourceKind::MeshConfig);
            }
        }
    }
    Ok(())
}

/// Loads each package named by `paths` once (two paths in one package are one
/// package), in the order given.
pub fn load_all(paths: &[PathBuf]) -> Result<Vec<LoadedPackage>, HostError> {
    let mut roots: Vec<PathBuf> = Vec::new();
    for path in paths {
        let root = package_root(path)?;
        if !roots.contains(&root) {
            roots.push(root);
        }
    }
    roots.iter().map(|root| load(root, None)).collect()
}

/// Whether a YAML file by its name: `.yaml` or `.yml`.
pub fn is_yaml_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "yaml" || e == "yml")
}

/// Whether a YAML text holds a document of a kind meshc checks (`kind: EnvoyFilter` on
/// a line of its own): the editor checks only such YAML files, not every YAML file open.
pub fn is_istio_yaml(text: &str) -> bool {
    text.lines().any(|line| {
        line.strip_prefix("kind:")
            .map(|kind| kind.trim().trim_matches(['"', '\'']))
            .is_some_and(|kind| meshc_compiler::crd::Kind::from_name(kind).is_some())
    })
}

/// Whether `meshc check` reads a path as Kubernetes YAML rather than as a package: a
/// YAML file, or a directory with YAML files below it and no `.mesh` file (it may hold
/// a `mesh.toml` whose settings the YAML is checked with).
pub fn is_resource_path(path: &Path) -> bool {
    if path.is_file() {
        return is_yaml_file(path);
    }
    if !path.is_dir() {
        return false;
    }
    let Ok(files) = Walk::ALL_FILES.files(path) else { return false };
    !files.iter().any(|f| f.extension().is_some_and(|e| e == "mesh")) && files.iter().any(|f| is_yaml_file(f))
}

/// Reads Kubernetes YAML for `meshc check`: the given files and the YAML files below the
/// given directories, together with the package the first of them sits in, when there
/// is one: its settings (releases, providers, MeshConfig) and its rules apply to the
/// YAML, and its declarations are checked with it.
pub fn load_resources(paths: &[PathBuf]) -> Result<LoadedPackage, HostError> {
    let first = paths.first().map(PathBuf::as_path).unwrap_or(Path::new("."));
    std::fs::metadata(first).map_err(read_error(first))?;
    let root = document_package_root(first);
    let mut loaded = if root.join(MANIFEST).is_file() {
        load(&root, None)?
    } else {
        LoadedPackage { root: root.clone(), db: SourceDb::with_stdlib() }
    };
    let mut files = Vec::new();
    for path in paths {
        std::fs::metadata(path).map_err(read_error(path))?;
        if path.is_dir() {
            files.extend(Walk::ALL_FILES.files(path)?.into_iter().filter(|f| is_yaml_file(f)));
        } else {
            files.push(path.clone());
        }
    }
    // A file named twice (itself and through its directory) is read once.
    let mut seen = std::collections::HashSet::new();
    files.retain(|file| seen.insert(std::fs::canonicalize(file).unwrap_or_else(|_| file.clone())));
    for file in files {
        let bytes = std::fs::read(&file).map_err(read_error(&file))?;
        loaded.db.add_bytes(display(&file), bytes, SourceKind::Resources);
    }
    Ok(loaded)
}

/// A path as diagnostics show it: relative to the working directory when it is below it.
pub fn display(path: &Path) -> String {
    let shown = std::env::current_dir().ok().and_then(|cwd| path.strip_prefix(&cwd).ok().map(Path::to_path_buf));
    let shown = shown.unwrap_or_else(|| path.to_path_buf());
    let text = shown.to_string_lossy().replace('\\', "/");
    text.strip_prefix("./").map(str::to_string).unwrap_or(text)
}
