//! The one file walker of meshc: every tool that looks for files below a directory
//! (loading a package, `meshc fmt`, golden cases, the tests) walks through here, so
//! all of them skip the same directories and see files in the same order.

use crate::error::{HostError, read_error};
use std::path::{Path, PathBuf};

/// Directories no walk enters: hidden ones (`.git`, `.meshc-tmp-*`), build output and
/// installed packages.
const NEVER_ENTERED: &[&str] = &["target", "node_modules"];

/// What a walk collects and where it does not go.
#[derive(Clone, Copy)]
pub struct Walk<'a> {
    /// Only files with this extension (without the dot); every file when `None`.
    pub extension: Option<&'a str>,
    /// Decides, for a directory below the root (given with its depth, 1 for the
    /// root's children), whether the walk leaves it out.
    pub skip_dir: &'a dyn Fn(&Path, usize) -> bool,
}

impl Walk<'_> {
    /// Every `.mesh` file, in every directory a walk enters.
    pub const MESH_FILES: Walk<'static> = Walk { extension: Some("mesh"), skip_dir: &|_, _| false };
    /// Every file.
    pub const ALL_FILES: Walk<'static> = Walk { extension: None, skip_dir: &|_, _| false };

    /// The files below `root` (a directory), sorted by path.
    pub fn files(&self, root: &Path) -> Result<Vec<PathBuf>, HostError> {
        let mut out = Vec::new();
        self.collect(root, 0, &mut out)?;
        out.sort();
        Ok(out)
    }

    fn collect(&self, dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), HostError> {
        for entry in std::fs::read_dir(dir).map_err(read_error(dir))? {
            let entry = entry.map_err(read_error(dir))?;
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') {
                continue;
            }
            let file_type = entry.file_type().map_err(read_error(&path))?;
            if file_type.is_dir() {
                if !NEVER_ENTERED.contains(&name.as_ref()) && !(self.skip_dir)(&path, depth + 1) {
                    self.collect(&path, depth + 1, out)?;
                }
            } else if self.extension.is_none_or(|ext| path.extension().is_some_and(|e| e == ext)) {
                out.push(path);
            }
        }
        Ok(())
    }
}

/// The directory holding a file, or the path itself when it is a directory; a path
/// that does not exist (an editor's unsaved file) counts as a file. A bare file name
/// is in the working directory, `.`.
pub fn directory_of(path: &Path) -> PathBuf {
    if path.is_dir() {
        return path.to_path_buf();
    }
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
