//! Writing generated files safely: atomically, and never over or away a file that
//! meshc did not generate.

use crate::error::{HostError, write_error};
use meshc_compiler::driver::OutputFile;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The list of files the last build wrote into an output directory; only files in it
/// are ever replaced or removed.
pub const GENERATED_LIST: &str = ".meshc-generated";

/// Writes `contents` to `path` atomically: a temporary file beside it, then a rename,
/// so a reader (or a crash) never sees half a file.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = dir.join(format!(".{file_name}.meshc-tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// What `write_outputs` did, for the summary line.
#[derive(Debug, Default)]
pub struct WriteReport {
    pub written: usize,
    pub unchanged: usize,
    pub removed: Vec<String>,
    /// Temporary files of earlier writes that were killed before their rename.
    pub leftovers_removed: usize,
}

/// The process id in the name of one of meshc's temporary files,
/// `.NAME.meshc-tmp-PID`, if `name` is one.
fn temporary_file_pid(name: &str) -> Option<u32> {
    let (_, pid) = name.strip_prefix('.')?.rsplit_once(".meshc-tmp-")?;
    pid.parse().ok()
}

/// Whether a process is running; where that cannot be known, it is taken to run, so
/// that its files are left alone.
fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let proc_dir = Path::new("/proc");
    !proc_dir.is_dir() || proc_dir.join(pid.to_string()).exists()
}

/// Removes the temporary files that a meshc killed mid-write left in `dirs` (the
/// directories it writes into): only files named as `write_atomic` names them, and
/// only those of processes that no longer run.
fn remove_leftovers(dirs: &BTreeSet<PathBuf>) -> usize {
    let mut removed = 0;
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = temporary_file_pid(&name.to_string_lossy()) else { continue };
            if entry.file_type().is_ok_and(|t| t.is_file())
                && !process_alive(pid)
                && std::fs::remove_file(entry.path()).is_ok()
            {
                removed += 1;
            }
        }
    }
    removed
}

/// Writes the outputs into `dir`: new and changed files atomically, unchanged ones
/// untouched; files from an earlier build that are no longer generated are removed,
/// and nothing else ever is. All outputs belong to one owner, `""`.
pub fn write_outputs(dir: &Path, outputs: &[OutputFile]) -> Result<WriteReport, HostError> {
    let owned: Vec<(String, OutputFile)> = outputs.iter().map(|o| (String::new(), o.clone())).collect();
    write_owned_outputs(dir, &owned)
}

/// What `.meshc-generated` in `dir` records: each file meshc wrote there, as (owner,
/// path); the owner is empty for lines from before owners were recorded.
pub fn generated_files(dir: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(dir.join(GENERATED_LIST))
        .map(|text| {
            text.lines()
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(|line| match line.split_once('\t') {
                    Some((owner, path)) => (owner.to_string(), path.to_string()),
                    None => (String::new(), line.to_string()),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// [`write_outputs`] for outputs of several owners (a package and a target, such as
/// `payments:istio`), which share one directory: a file an earlier build of another
/// owner wrote is kept, and only what this build's owners no longer generate is
/// removed. `.meshc-generated` records each file with its owner (`OWNER<TAB>PATH`); a
/// line without an owner, from before owners were recorded, belongs to every owner.
pub fn write_owned_outputs(dir: &Path, outputs: &[(String, OutputFile)]) -> Result<WriteReport, HostError> {
    let list_path = dir.join(GENERATED_LIST);
    let previously = generated_files(dir);
    let generated_before: BTreeSet<&str> = previously.iter().map(|(_, path)| path.as_str()).collect();
    let owners: BTreeSet<&str> = outputs.iter().map(|(owner, _)| owner.as_str()).collect();
    let ours = |owner: &str| owner.is_empty() || owners.contains(owner) || owners.contains("");

    // Check every target before writing anything, so a conflict leaves the directory as it was.
    let conflicts: Vec<PathBuf> = outputs
        .iter()
        .map(|(_, o)| (dir.join(&o.path), o))
        .filter(|(path, output)| {
            !generated_before.contains(output.path.as_str())
                && path.exists()
                && std::fs::read(path).map(|bytes| bytes != output.contents.as_bytes()).unwrap_or(true)
        })
        .map(|(path, _)| path)
        .collect();
    if !conflicts.is_empty() {
        return Err(HostError::WouldOverwrite(conflicts));
    }

    let mut report = WriteReport::default();
    let mut dirs: BTreeSet<PathBuf> =
        outputs.iter().filter_map(|(_, o)| dir.join(&o.path).parent().map(Path::to_path_buf)).collect();
    dirs.insert(dir.to_path_buf());
    report.leftovers_removed = remove_leftovers(&dirs);
    for (_, output) in outputs {
        let path = dir.join(&output.path);
        if std::fs::read(&path).is_ok_and(|bytes| bytes == output.contents.as_bytes()) {
            report.unchanged += 1;
            continue;
        }
        write_atomic(&path, output.contents.as_bytes()).map_err(write_error(&path))?;
        report.written += 1;
    }
    let current: BTreeSet<&str> = outputs.iter().map(|(_, o)| o.path.as_str()).collect();
    // What other owners wrote stays theirs, unless this build now writes the same path.
    let mut kept: Vec<(String, String)> = Vec::new();
    for (owner, stale) in &previously {
        if current.contains(stale.as_str()) {
            continue;
        }
        if !ours(owner) {
            kept.push((owner.clone(), stale.clone()));
            continue;
        }
        // Paths come from our own list, but never follow one out of the directory.
        if stale.split('/').any(|part| part == ".." || part.is_empty()) {
            continue;
        }
        let path = dir.join(stale);
        if path.is_file() {
            std::fs::remove_file(&path).map_err(write_error(&path))?;
            report.removed.push(stale.clone());
            // Remove directories the build created and emptied; leave any that hold other files.
            let mut parent = path.parent();
            while let Some(p) = parent.filter(|p| *p != dir) {
                if std::fs::remove_dir(p).is_err() {
                    break;
                }
                parent = p.parent();
            }
        }
    }
    let mut list = String::from(
        "# Files generated by meshc, as OWNER<TAB>PATH; meshc replaces or removes only these, and only its owner's.\n",
    );
    let mut entries: Vec<(String, String)> =
        outputs.iter().map(|(owner, o)| (owner.clone(), o.path.clone())).chain(kept).collect();
    entries.sort_by(|a, b| a.1.cmp(&b.1));
    for (owner, path) in entries {
        if owner.is_empty() {
            list.push_str(&path);
        } else {
            list.push_str(&format!("{owner}\t{path}"));
        }
        list.push('\n');
    }
    write_atomic(&list_path, list.as_bytes()).map_err(write_error(&list_path))?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_files_are_recognised_by_their_name() {
        assert_eq!(temporary_file_pid(".telemetry.yaml.meshc-tmp-4242"), Some(4242));
        assert_eq!(temporary_file_pid("telemetry.yaml.meshc-tmp-4242"), None);
        assert_eq!(temporary_file_pid(".notes.meshc-tmp-x"), None);
        assert_eq!(temporary_file_pid(".meshc-generated"), None);
    }
}
