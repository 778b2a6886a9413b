//! The server's state: open documents, the packages they belong to, and each
//! package's analyses. Nothing here knows about LSP's wire types; positions are byte
//! offsets until `convert` turns them into UTF-16 at the edge.

use meshc_compiler::diagnostic::{Diagnostic, codes};
use meshc_compiler::driver::{Analysis, analyze};
use meshc_compiler::source::{SourceDb, SourceKind};
use meshc_compiler::span::{FileId, Span};
use meshc_host::HostError;
use meshc_host::package::{self, PackageAssets, document_package_root};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A document the editor has open; its text replaces the file on disk.
#[derive(Clone, Debug)]
pub struct Document {
    pub text: String,
    pub version: i32,
}

/// An analysis and the texts it was made from.
#[derive(Clone)]
pub struct Snapshot {
    pub db: Arc<SourceDb>,
    pub analysis: Arc<Analysis>,
    /// The package generation (edit count) whose texts these are.
    pub generation: u64,
}

impl Snapshot {
    /// Whether `file` has syntax errors in this analysis, so that its AST is partial.
    pub fn is_broken(&self, file: FileId) -> bool {
        self.analysis.diagnostics.iter().any(|d| d.primary_span().file == file && is_syntax_error(d))
    }

    pub fn has_syntax_errors(&self) -> bool {
        self.analysis
            .diagnostics
            .iter()
            .any(|d| is_syntax_error(d) && self.db.get(d.primary_span().file).kind == SourceKind::Package)
    }
}

fn is_syntax_error(diagnostic: &Diagnostic) -> bool {
    [codes::SYNTAX, codes::UNKNOWN_KEYWORD, codes::UNTERMINATED_STRING].contains(&diagnostic.code)
}

/// A package: the directory of a `mesh.toml` and every `.mesh` file below it.
pub struct Package {
    pub root: PathBuf,
    /// The package as read from disk (refreshed on open, save and close).
    disk: SourceDb,
    /// The absolute path of each file of `disk`, none for the stdlib.
    paths: Vec<Option<PathBuf>>,
    /// Counts edits to the package's texts, so an analysis can tell it is out of date.
    pub generation: u64,
    /// The latest analysis.
    pub latest: Option<Snapshot>,
    /// Per file, the latest analysis in which that file had no syntax errors: it answers
    /// queries while the file is broken.
    pub good: HashMap<FileId, Snapshot>,
    /// The files diagnostics were last published for, so fixed ones can be cleared.
    pub published: Vec<PathBuf>,
}

impl Package {
    pub fn load(root: &Path) -> Result<Package, HostError> {
        let loaded = package::load(root, None)?;
        let cwd = std::env::current_dir().unwrap_or_default();
        let paths = loaded
            .db
            .iter()
            .map(|(_, file)| match file.kind {
                SourceKind::Stdlib => None,
                _ => Some(normalise(&cwd.join(&file.path))),
            })
            .collect();
        Ok(Package {
            root: root.to_path_buf(),
            disk: loaded.db,
            paths,
            generation: 0,
            latest: None,
            good: HashMap::new(),
            published: Vec::new(),
        })
    }

    /// Re-reads the files on disk, keeping the generation moving forward.
    pub fn reload(&mut self) -> Result<(), HostError> {
        let fresh = Package::load(&self.root.clone())?;
        self.disk = fresh.disk;
        self.paths = fresh.paths;
        self.generation += 1;
        Ok(())
    }

    pub fn contains(&self, path: &Path) -> bool {
        path.starts_with(&self.root)
    }

    /// The package's texts with the open documents laid over the files on disk; an
    /// open `.mesh` file not yet saved is added. File ids of files on disk are stable.
    pub fn current_db(&self, documents: &BTreeMap<PathBuf, Document>) -> (SourceDb, Vec<Option<PathBuf>>) {
        let mut db = self.disk.clone();
        // Files that are not on disk (open documents never saved, open YAML) are added
        // again each time, after the files on disk, in the order of the documents.
        let mut paths: Vec<Option<PathBuf>> = self.paths.iter().take(db.len()).cloned().collect();
        for (path, document) in documents.range(self.root.clone()..).take_while(|(p, _)| p.starts_with(&self.root)) {
            match paths.iter().position(|p| p.as_deref() == Some(path.as_path())) {
                Some(index) => db.set_text(FileId(index as u32), document.text.clone()),
                None if path.extension().is_some_and(|e| e == "mesh") && document_package_root(path) == self.root => {
                    let id = db.add(path.to_string_lossy(), document.text.clone(), SourceKind::Package);
                    if let Some(module) = package::module_name(&self.root, path) {
                        db.set_module(id, module);
                    }
                    paths.push(Some(path.clone()));
                }
                // An open Istio YAML file is checked as `meshc check FILE.yaml` checks it,
                // with the package it sits in.
                None if package::is_yaml_file(path)
                    && package::is_istio_yaml(&document.text)
                    && document_package_root(path) == self.root =>
                {
                    db.add(path.to_string_lossy(), document.text.clone(), SourceKind::Resources);
                    paths.push(Some(path.clone()));
                }
                None => {}
            }
        }
        (db, paths)
    }

    /// Analyses the current texts; a panic in the compiler keeps the previous analysis.
    pub fn analyse(&mut self, documents: &BTreeMap<PathBuf, Document>) -> Result<Snapshot, String> {
        let (db, paths) = self.current_db(documents);
        let snapshot = analyse_db(db, &self.root, self.generation)?;
        self.store(snapshot.clone(), paths);
        Ok(snapshot)
    }

    /// Keeps a finished analysis unless a newer one is already stored.
    pub fn store(&mut self, snapshot: Snapshot, paths: Vec<Option<PathBuf>>) {
        if self.latest.as_ref().is_some_and(|l| l.generation > snapshot.generation) {
            return;
        }
        self.paths = merge_paths(&self.paths, paths);
        for (id, file) in snapshot.db.iter() {
            if file.kind == SourceKind::Package && !snapshot.is_broken(id) {
                self.good.insert(id, snapshot.clone());
            }
        }
        self.latest = Some(snapshot);
    }

    pub fn is_fresh(&self) -> bool {
        self.latest.as_ref().is_some_and(|l| l.generation == self.generation)
    }

    pub fn file_id(&self, path: &Path) -> Option<FileId> {
        self.paths.iter().position(|p| p.as_deref() == Some(path)).map(|i| FileId(i as u32))
    }

    pub fn path_of(&self, file: FileId) -> Option<&Path> {
        self.paths.get(file.0 as usize).and_then(|p| p.as_deref())
    }

    /// The package's diagnostics by file, including empty lists for files that had
    /// some last time.
    pub fn diagnostics_by_file<'p>(
        &mut self,
        snapshot: &Snapshot,
        open: impl Iterator<Item = &'p PathBuf>,
    ) -> Vec<(PathBuf, FileId, Vec<Diagnostic>)> {
        let mut by_file: BTreeMap<PathBuf, (FileId, Vec<Diagnostic>)> = BTreeMap::new();
        // Every open file of the package hears about its diagnostics, even when there are none.
        for path in open.filter(|p| self.contains(p)) {
            if let Some(file) = self.file_id(path) {
                by_file.insert(path.clone(), (file, Vec::new()));
            }
        }
        for diagnostic in snapshot.analysis.user_diagnostics(&snapshot.db) {
            let file = diagnostic.primary_span().file;
            if let Some(path) = self.path_of(file) {
                by_file.entry(path.to_path_buf()).or_insert((file, Vec::new())).1.push(diagnostic.clone());
            }
        }
        for path in std::mem::take(&mut self.published) {
            if !by_file.contains_key(&path)
                && let Some(file) = self.file_id(&path)
            {
                by_file.insert(path, (file, Vec::new()));
            }
        }
        self.published = by_file.iter().filter(|(_, (_, d))| !d.is_empty()).map(|(p, _)| p.clone()).collect();
        by_file.into_iter().map(|(path, (file, diagnostics))| (path, file, diagnostics)).collect()
    }
}

fn merge_paths(old: &[Option<PathBuf>], new: Vec<Option<PathBuf>>) -> Vec<Option<PathBuf>> {
    if new.len() >= old.len() { new } else { old.to_vec() }
}

/// Runs the compiler on a database of the package at `root` (whose Wasm modules it
/// reads from disk), turning a panic into an error message.
pub fn analyse_db(db: SourceDb, root: &Path, generation: u64) -> Result<Snapshot, String> {
    let assets = PackageAssets { root: root.to_path_buf() };
    let analysis = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut analysis = analyze(&db, &assets);
        // The plugins' modules, checked as `meshc check` checks them.
        analysis.diagnostics.extend(meshc_wasm_host::check_modules(&analysis, root));
        meshc_compiler::diagnostic::sort(&mut analysis.diagnostics);
        analysis
    }))
    .map_err(panic_message)?;
    Ok(Snapshot { db: Arc::new(db), analysis: Arc::new(analysis), generation })
}

pub fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string());
    format!("meshc panicked: {text}")
}

/// A path with symlinks resolved where it exists, so the editor's paths and the
/// loader's compare equal.
pub fn normalise(path: &Path) -> PathBuf {
    if let Ok(canonical) = path.canonicalize() {
        return canonical;
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => {
            parent.canonicalize().map(|p| p.join(name)).unwrap_or_else(|_| path.to_path_buf())
        }
        _ => path.to_path_buf(),
    }
}

/// How offsets of one text map to another that differs from it in one region: the
/// last good analysis of a file answers queries about its current text through it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shift {
    /// Bytes equal at the start of both texts.
    prefix: u32,
    /// Where the equal tail starts in the old and in the new text.
    old_tail: u32,
    new_tail: u32,
}

impl Shift {
    pub fn between(old: &str, new: &str) -> Shift {
        let (a, b) = (old.as_bytes(), new.as_bytes());
        let mut prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
        while !old.is_char_boundary(prefix) {
            prefix -= 1;
        }
        let max_suffix = a.len().min(b.len()) - prefix;
        let mut suffix = a.iter().rev().zip(b.iter().rev()).take(max_suffix).take_while(|(x, y)| x == y).count();
        while !old.is_char_boundary(a.len() - suffix) || !new.is_char_boundary(b.len() - suffix) {
            suffix -= 1;
        }
        Shift { prefix: prefix as u32, old_tail: (a.len() - suffix) as u32, new_tail: (b.len() - suffix) as u32 }
    }

    /// An offset of the new text in the old one; none inside the changed region.
    pub fn to_old(&self, offset: u32) -> Option<u32> {
        if offset <= self.prefix {
            Some(offset)
        } else if offset >= self.new_tail {
            Some(offset - self.new_tail + self.old_tail)
        } else {
            None
        }
    }

    pub fn to_new(&self, offset: u32) -> Option<u32> {
        if offset <= self.prefix {
            Some(offset)
        } else if offset >= self.old_tail {
            Some(offset - self.old_tail + self.new_tail)
        } else {
            None
        }
    }

    pub fn span_to_new(&self, span: Span) -> Option<Span> {
        Some(Span::new(span.file, self.to_new(span.start)?, self.to_new(span.end)?))
    }
}

#[cfg(test)]
mod tests {
    use super::Shift;

    #[test]
    fn shifts_map_offsets_around_one_changed_region() {
        let shift = Shift::between("let a = 1\nlet b = 2\n", "let a = 1\nlet b  = \nlet b = 2\n");
        assert_eq!(shift.to_old(4), Some(4));
        assert_eq!(shift.to_old(27), Some(17));
        assert_eq!(shift.to_new(17), Some(27));
        assert_eq!(shift.to_old(20), None);
    }
}
