//! Golden cases: a folder holding a small package and the files it should produce.
//!
//! A case folder has `.mesh` files, a `mesh.toml` (or inherits one), and `expected/`
//! with every file the build would write plus `diagnostics.txt` when there are
//! diagnostics. Comparison is byte for byte; a missing or stray expected file is a
//! failure. The repository's own `golden/` and `meshc test` both use this module.

use crate::error::{HostError, read_error, write_error};
use crate::package;
use crate::walk::Walk;
use meshc_compiler::diagnostic::render;
use meshc_compiler::driver::{self, OutputFile};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const EXPECTED_DIR: &str = "expected";
pub const DIAGNOSTICS_FILE: &str = "diagnostics.txt";

/// What a case produced and what it should have produced, by path under `expected/`.
pub struct CaseRun {
    pub dir: PathBuf,
    pub actual: BTreeMap<String, String>,
    pub expected: BTreeMap<String, String>,
    pub has_errors: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// The case produces this file but `expected/` lacks it.
    Missing(String),
    /// `expected/` has this file but the case does not produce it.
    Stray(String),
    /// Both have the file with different bytes.
    Differs { path: String, expected: String, actual: String },
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mismatch::Missing(path) => write!(f, "expected/{path} is missing (the case produces it)"),
            Mismatch::Stray(path) => write!(f, "expected/{path} is stray (the case does not produce it)"),
            Mismatch::Differs { path, expected, actual } => {
                writeln!(f, "expected/{path} differs:")?;
                write!(f, "{}", line_diff(expected, actual))
            }
        }
    }
}

/// Where a case's bootstraps of the raw Envoy target are, inside `expected/`.
pub const ENVOY_DIR: &str = "envoy";
/// Where a case's admission policies are, inside `expected/`.
pub const ADMISSION_DIR: &str = "admission";

/// Runs one case: analyses the package in `dir` and renders what `meshc build` would
/// write (and, for a package with proxies, `meshc build --target envoy` under
/// `envoy/`), plus the diagnostics as a person reads them.
pub fn run_case(dir: &Path, manifest_fallback: Option<&Path>) -> Result<CaseRun, HostError> {
    let loaded = package::load(dir, manifest_fallback)?;
    let analysis = loaded.analyze();
    let mut actual = BTreeMap::new();
    let has_errors = analysis.has_errors();
    let mut diagnostics: Vec<_> = analysis.user_diagnostics(&loaded.db).cloned().collect();
    if !has_errors {
        for OutputFile { path, contents } in driver::istio_outputs(&analysis) {
            actual.insert(path, contents);
        }
        for OutputFile { path, contents } in driver::envoy_outputs(&analysis) {
            actual.insert(format!("{ENVOY_DIR}/{path}"), contents);
        }
        // The rules of a package, as `meshc build --target admission` writes them.
        let (files, notes) = driver::admission_outputs(&analysis);
        for OutputFile { path, contents } in files {
            actual.insert(format!("{ADMISSION_DIR}/{path}"), contents);
        }
        diagnostics.extend(notes);
        meshc_compiler::diagnostic::sort(&mut diagnostics);
    }
    if !diagnostics.is_empty() {
        // Paths in a golden file must not depend on where the tests run from.
        let mut db = loaded.db.clone();
        relativize_paths(&mut db, dir);
        actual.insert(DIAGNOSTICS_FILE.to_string(), render::render_plain(&db, &diagnostics));
    }
    let expected = read_tree(&dir.join(EXPECTED_DIR))?;
    Ok(CaseRun { dir: dir.to_path_buf(), actual, expected, has_errors })
}

/// Runs one lint case: the Kubernetes YAML files of `dir` checked as `meshc check`
/// checks them (with the case's `mesh.toml`, when it has one), whose diagnostics as a
/// person reads them are the case's only output.
pub fn run_lint_case(dir: &Path) -> Result<CaseRun, HostError> {
    let loaded = load_lint_case(dir)?;
    let analysis = loaded.analyze();
    let mut actual = BTreeMap::new();
    let diagnostics: Vec<_> = analysis.user_diagnostics(&loaded.db).cloned().collect();
    if !diagnostics.is_empty() {
        let mut db = loaded.db.clone();
        relativize_paths(&mut db, dir);
        actual.insert(DIAGNOSTICS_FILE.to_string(), render::render_plain(&db, &diagnostics));
    }
    let expected = read_tree(&dir.join(EXPECTED_DIR))?;
    Ok(CaseRun { dir: dir.to_path_buf(), actual, expected, has_errors: analysis.has_errors() })
}

/// A lint case as `meshc check` reads it: its YAML files (not those of `expected/`),
/// with the package they sit in.
pub fn load_lint_case(dir: &Path) -> Result<package::LoadedPackage, HostError> {
    let skip = |path: &Path, _| path.file_name().is_some_and(|n| n == EXPECTED_DIR);
    let yaml: Vec<PathBuf> = (Walk { extension: None, skip_dir: &skip })
        .files(dir)?
        .into_iter()
        .filter(|f| package::is_yaml_file(f))
        .collect();
    package::load_resources(&yaml)
}

/// The lint cases below `dir`: its subdirectories that hold YAML files (and, when
/// the YAML is checked with a package's rules, the package).
pub fn find_lint_cases(dir: &Path) -> Result<Vec<PathBuf>, HostError> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut cases = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_error(dir))? {
        let path = entry.map_err(read_error(dir))?.path();
        if path.is_dir() && Walk::ALL_FILES.files(&path)?.iter().any(|f| package::is_yaml_file(f)) {
            cases.push(path);
        }
    }
    cases.sort();
    Ok(cases)
}

/// Names the files of `db` relative to the case folder `dir`, so that golden files do not
/// depend on where the tests run from.
pub fn relativize_paths(db: &mut meshc_compiler::source::SourceDb, dir: &Path) {
    let prefix = package::display(dir);
    db.map_paths(|path| {
        path.strip_prefix(&prefix).map(|p| p.trim_start_matches('/').to_string()).unwrap_or_else(|| {
            Path::new(path).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.to_string())
        })
    });
}

impl CaseRun {
    pub fn mismatches(&self) -> Vec<Mismatch> {
        let mut out = Vec::new();
        for (path, actual) in &self.actual {
            match self.expected.get(path) {
                None => out.push(Mismatch::Missing(path.clone())),
                Some(expected) if expected != actual => out.push(Mismatch::Differs {
                    path: path.clone(),
                    expected: expected.clone(),
                    actual: actual.clone(),
                }),
                Some(_) => {}
            }
        }
        for path in self.expected.keys() {
            if !self.actual.contains_key(path) {
                out.push(Mismatch::Stray(path.clone()));
            }
        }
        out
    }

    /// Rewrites `expected/` to what the case produces now, removing stray files.
    pub fn bless(&self) -> Result<(), HostError> {
        let expected_dir = self.dir.join(EXPECTED_DIR);
        for (path, contents) in &self.actual {
            if self.expected.get(path) != Some(contents) {
                let target = expected_dir.join(path);
                crate::write::write_atomic(&target, contents.as_bytes()).map_err(write_error(&target))?;
            }
        }
        for path in self.expected.keys() {
            if !self.actual.contains_key(path) {
                let stray = expected_dir.join(path);
                std::fs::remove_file(&stray).map_err(write_error(&stray))?;
            }
        }
        Ok(())
    }
}

/// Every file below `dir`, by path relative to it with `/` separators.
pub fn read_tree(dir: &Path) -> Result<BTreeMap<String, String>, HostError> {
    let mut out = BTreeMap::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    for path in Walk::ALL_FILES.files(dir)? {
        let relative = path.strip_prefix(dir).unwrap_or(&path).to_string_lossy().replace('\\', "/");
        let bytes = std::fs::read(&path).map_err(read_error(&path))?;
        out.insert(relative, String::from_utf8_lossy(&bytes).into_owned());
    }
    Ok(out)
}

/// The case folders below `dir`: every directory that holds `.mesh` files directly,
/// unless it is inside another case (whose modules it then holds) or an `expected/`
/// folder.
pub fn find_cases(dir: &Path) -> Result<Vec<PathBuf>, HostError> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let skip = |path: &Path, _| path.file_name().is_some_and(|n| n == EXPECTED_DIR);
    let holders: std::collections::BTreeSet<PathBuf> = (Walk { extension: Some("mesh"), skip_dir: &skip })
        .files(dir)?
        .iter()
        .filter_map(|file| file.parent().map(Path::to_path_buf))
        .filter(|holder| holder != dir)
        .collect();
    let inside_another = |case: &PathBuf| holders.iter().any(|other| other != case && case.starts_with(other));
    Ok(holders.iter().filter(|case| !inside_another(case)).cloned().collect())
}

/// A compact line diff: the first differing region with a little context.
pub fn line_diff(expected: &str, actual: &str) -> String {
    let expected_lines: Vec<&str> = expected.lines().collect();
    let actual_lines: Vec<&str> = actual.lines().collect();
    let first = expected_lines
        .iter()
        .zip(&actual_lines)
        .position(|(a, b)| a != b)
        .unwrap_or(expected_lines.len().min(actual_lines.len()));
    let mut out = String::new();
    let from = first.saturating_sub(2);
    for line in &expected_lines[from..first] {
        out.push_str(&format!("    {line}\n"));
    }
    for line in expected_lines.iter().skip(first).take(8) {
        out.push_str(&format!("  - {line}\n"));
    }
    for line in actual_lines.iter().skip(first).take(8) {
        out.push_str(&format!("  + {line}\n"));
    }
    if expected.ends_with('\n') != actual.ends_with('\n') {
        out.push_str("  (they differ in the final newline)\n");
    }
    out
}
