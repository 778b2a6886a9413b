//! Golden cases: a folder holding a small package and the files it should produce.
//!
//! A case folder has `.mesh` files, a `mesh.toml` (or inherits one), and `expected/`
//! with every file the build would write plus `diagnostics.txt` when there are
//! diagnostics. Comparison is byte for byte; a missing or stray expected file is a
//! failure. The repository's own `golden/` and `meshc test` both use this module.

use crate::package;
use meshc_compiler::analysis::{self, OutputFile};
use meshc_compiler::diagnostic::render;
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

/// Runs one case: analyses the package in `dir` and renders what `meshc build` would
/// write (and, for a package with proxies, `meshc build --target envoy` under
/// `envoy/`), plus the diagnostics as a person reads them.
pub fn run_case(dir: &Path, manifest_fallback: Option<&Path>) -> std::io::Result<CaseRun> {
    let loaded = package::load(dir, manifest_fallback)?;
    let analysis = analysis::analyze(&loaded.db);
    let mut actual = BTreeMap::new();
    let mut has_errors = analysis.has_errors();
    let mut diagnostics: Vec<_> = analysis.user_diagnostics(&loaded.db).cloned().collect();
    // A package with proxies also builds for the raw Envoy target, under `envoy/`.
    let mut bootstraps = Vec::new();
    if !has_errors && !analysis.proxies.is_empty() {
        let assets = crate::package::read_assets(dir, &analysis);
        let (files, envoy_diagnostics) = meshc_compiler::envoy_target::outputs(&analysis, &assets);
        has_errors |= envoy_diagnostics.iter().any(|d| d.is_error());
        diagnostics.extend(envoy_diagnostics);
        meshc_compiler::diagnostic::sort(&mut diagnostics);
        bootstraps = files;
    }
    if !has_errors {
        for OutputFile { path, contents } in analysis::outputs(&analysis) {
            actual.insert(path, contents);
        }
        for OutputFile { path, contents } in bootstraps {
            actual.insert(format!("{ENVOY_DIR}/{path}"), contents);
        }
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

fn relativize_paths(db: &mut meshc_compiler::source::SourceDb, dir: &Path) {
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
    pub fn bless(&self) -> std::io::Result<()> {
        let expected_dir = self.dir.join(EXPECTED_DIR);
        for (path, contents) in &self.actual {
            if self.expected.get(path) != Some(contents) {
                crate::write::write_atomic(&expected_dir.join(path), contents.as_bytes())?;
            }
        }
        for path in self.expected.keys() {
            if !self.actual.contains_key(path) {
                std::fs::remove_file(expected_dir.join(path))?;
            }
        }
        Ok(())
    }
}

/// Every file below `dir`, by path relative to it with `/` separators.
fn read_tree(dir: &Path) -> std::io::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(dir).unwrap_or(&path).to_string_lossy().replace('\\', "/");
                let bytes = std::fs::read(&path)?;
                out.insert(relative, String::from_utf8_lossy(&bytes).into_owned());
            }
        }
    }
    Ok(out)
}

/// The case folders below `dir`: every directory that holds `.mesh` files directly.
pub fn find_cases(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut cases = Vec::new();
    if !dir.is_dir() {
        return Ok(cases);
    }
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir)?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_dir()).collect();
    entries.sort();
    for entry in entries {
        let has_mesh = std::fs::read_dir(&entry)?
            .filter_map(Result::ok)
            .any(|e| e.path().extension().is_some_and(|x| x == "mesh"));
        if has_mesh {
            cases.push(entry);
        } else if entry.file_name().is_some_and(|n| n != EXPECTED_DIR) {
            cases.extend(find_cases(&entry)?);
        }
    }
    Ok(cases)
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
