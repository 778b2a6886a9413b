//! The editor integrations' tests, run by `cargo test --workspace` (a `[[test]]` of the
//! `meshc-tests` crate): the VS Code extension's Node test suite in `editors/vscode/test/`,
//! which checks that the TextMate grammar highlights `test/sample.mesh` as
//! `test/sample.tokens.txt` says, starts the client against a stand-in server, and
//! builds the `.vsix`.
//!
//! It installs the extension's npm packages with `npm ci` when `node_modules` is
//! missing or older than `package-lock.json` (the npm registry is the only network it
//! uses), then runs `node --test`. Without Node.js 20 or newer and npm it fails and says
//! so: it never skips. `UPDATE_GOLDEN=1` passes through and re-blesses the token snapshot.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::SystemTime;

const MIN_NODE_MAJOR: u32 = 20;

/// `editors/vscode`, found from this crate's manifest directory upwards.
fn extension_dir() -> PathBuf {
    let start = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    start
        .ancestors()
        .map(|dir| dir.join("editors").join("vscode"))
        .find(|dir| dir.join("package.json").is_file())
        .unwrap_or_else(|| panic!("no editors/vscode/package.json above {}", start.display()))
}

/// npm is a `.cmd` script on Windows.
fn npm() -> &'static str {
    if cfg!(windows) { "npm.cmd" } else { "npm" }
}

fn run(program: &str, args: &[&OsStr], dir: &Path) -> Result<Output, std::io::Error> {
    Command::new(program).args(args).current_dir(dir).output()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The version `program --version` prints, or a panic that says what to install.
fn require_tool(program: &str, dir: &Path) -> String {
    let missing = |why: String| -> ! {
        panic!(
            "the editor tests (editors/vscode) need Node.js {MIN_NODE_MAJOR} or newer and npm on PATH, and `{program} --version` \
             failed: {why}. Install Node.js and npm (for example `apt-get install nodejs npm`, or from nodejs.org) and run the tests again."
        )
    };
    match run(program, &[OsStr::new("--version")], dir) {
        Ok(output) if output.status.success() => text(&output.stdout).trim().to_string(),
        Ok(output) => missing(format!("{} {}", output.status, text(&output.stderr).trim())),
        Err(error) => missing(error.to_string()),
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    path.metadata().and_then(|m| m.modified()).ok()
}

/// Whether `npm ci` must run: no `node_modules`, or one installed before the lockfile changed.
/// npm writes `node_modules/.package-lock.json` when an install completes.
fn needs_install(dir: &Path) -> Option<&'static str> {
    let installed = modified(&dir.join("node_modules").join(".package-lock.json"));
    let lock = modified(&dir.join("package-lock.json"));
    match (installed, lock) {
        (None, _) => Some("node_modules is missing or incomplete"),
        (Some(installed), Some(lock)) if installed < lock => Some("node_modules is older than package-lock.json"),
        _ => None,
    }
}

fn report(what: &str, output: &Output) -> String {
    format!(
        "{what} exited with {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    )
}

#[test]
fn vscode_extension_tests_pass() {
    let dir = extension_dir();

    let node_version = require_tool("node", &dir);
    let major: u32 = node_version.trim_start_matches('v').split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
    assert!(
        major >= MIN_NODE_MAJOR,
        "the editor tests need Node.js {MIN_NODE_MAJOR} or newer (its built-in test runner); found {node_version}"
    );
    let npm_version = require_tool(npm(), &dir);
    println!("node {node_version}, npm {npm_version}, in {}", dir.display());

    if let Some(reason) = needs_install(&dir) {
        println!("{reason}: running npm ci");
        let args: Vec<&OsStr> = ["ci", "--no-audit", "--no-fund"].iter().map(OsStr::new).collect();
        let output = run(npm(), &args, &dir).unwrap_or_else(|e| panic!("could not run npm ci: {e}"));
        assert!(output.status.success(), "{}", report("npm ci (in editors/vscode)", &output));
    }

    // The test files, named one by one: `node --test DIR` means different things in
    // different Node versions (a folder to search in 20, a glob pattern from 21 on).
    let mut tests: Vec<PathBuf> = std::fs::read_dir(dir.join("test"))
        .expect("editors/vscode/test is readable")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(".test.js")))
        .collect();
    tests.sort();
    assert!(!tests.is_empty(), "no *.test.js files in {}", dir.join("test").display());
    let mut args: Vec<&OsStr> = vec![OsStr::new("--test")];
    args.extend(tests.iter().map(|t| t.as_os_str()));
    let output = run("node", &args, &dir).unwrap_or_else(|e| panic!("could not run node --test: {e}"));
    println!("{}", text(&output.stdout));
    eprintln!("{}", text(&output.stderr));
    assert!(
        output.status.success(),
        "the VS Code extension's tests failed: node --test exited with {} (its output is above; rerun them with \
         `cd editors/vscode && npm test`; `UPDATE_GOLDEN=1` re-blesses test/sample.tokens.txt)",
        output.status
    );
}
