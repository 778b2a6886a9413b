//! The architecture's invariants, checked on the source tree itself, so that they
//! hold by test rather than by convention:
//!
//! - every path ARCHITECTURE.md names exists;
//! - the core's top-level modules form layers: a module uses only the modules that
//!   `compiler/src/lib.rs` declares before it (no import cycles);
//! - the core does no IO: no dependency on clap, nix, ctrlc, zip, sha2 or tokio, no
//!   file, process, environment, network or terminal access, and no `unsafe`;
//! - crates depend only downwards (core, host, smoke runner, cluster client, language
//!   server, then the binary), and the one `unsafe` block of the workspace is in the smoke
//!   runner's process management.

use crate::workspace;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Every `.rs` file below `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let walk = meshc_host::walk::Walk { extension: Some("rs"), skip_dir: &|_, _| false };
    walk.files(dir).unwrap_or_else(|e| panic!("{e}"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The code of a Rust file without its comments, so that prose about `std::fs` in a
/// doc comment is not taken for a use of it. String literals are kept.
fn code_of(text: &str) -> String {
    text.lines()
        .map(|line| {
            let trimmed = line.trim_start();
            if trimmed.starts_with("//") { "" } else { line }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level folders of the repository, which a path in the documentation starts with.
const TOP_LEVEL: &[&str] = &[
    "compiler",
    "host",
    "smoke",
    "cli",
    "language-server",
    "tests",
    "xtask",
    "golden",
    "examples",
    "editors",
    "grammar",
    "stdlib",
    ".ci",
];

/// The paths ARCHITECTURE.md names: link targets, and code spans that start with a
/// top-level folder of the repository (short names inside a link's text, such as
/// `check/mod.rs`, are labels of the link's target).
fn named_paths(markdown: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = markdown;
    while let Some(start) = rest.find("](") {
        let after = &rest[start + 2..];
        let Some(end) = after.find(')') else { break };
        let target = &after[..end];
        if !target.contains("://") && !target.starts_with('#') {
            out.insert(target.split('#').next().unwrap_or(target).to_string());
        }
        rest = &after[end..];
    }
    for (index, span) in markdown.split('`').enumerate() {
        // Odd pieces are inside backticks.
        let first = span.split('/').next().unwrap_or_default();
        if index % 2 == 1
            && span.contains('/')
            && TOP_LEVEL.contains(&first)
            && !span.contains(' ')
            && !span.contains('*')
        {
            out.insert(span.trim_end_matches('/').to_string());
        }
    }
    out.retain(|p| !p.is_empty());
    out
}

pub fn every_path_in_architecture_md_exists() -> Result<(), String> {
    let root = workspace();
    let text = read(&root.join("ARCHITECTURE.md"));
    let named = named_paths(&text);
    if named.len() < 40 {
        return Err(format!("ARCHITECTURE.md names only {} paths; the map is missing", named.len()));
    }
    let missing: Vec<&String> = named.iter().filter(|p| !root.join(p).exists()).collect();
    if missing.is_empty() { Ok(()) } else { Err(format!("ARCHITECTURE.md names paths that do not exist: {missing:?}")) }
}

/// The core's layers, bottom first, as ARCHITECTURE.md lists them: the lines of the
/// `text` block under the heading "Layers of the core", each a comma-separated list
/// of top-level modules.
fn core_layers() -> Vec<Vec<String>> {
    let text = read(&workspace().join("ARCHITECTURE.md"));
    let Some(section) = text.split("## Layers of the core").nth(1) else { return Vec::new() };
    let Some(block) = section.split("```text\n").nth(1).and_then(|b| b.split("```").next()) else {
        return Vec::new();
    };
    block
        .lines()
        .map(|line| line.split(',').map(|m| m.trim().to_string()).filter(|m| !m.is_empty()).collect::<Vec<_>>())
        .filter(|layer| !layer.is_empty())
        .collect()
}

/// The top-level module a core file belongs to.
fn module_of(file: &Path, src: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_string_lossy().into_owned();
    Some(first.trim_end_matches(".rs").to_string())
}

pub fn core_modules_form_layers() -> Result<(), String> {
    let src = workspace().join("compiler/src");
    let layers = core_layers();
    if layers.len() < 8 {
        return Err(format!("ARCHITECTURE.md's layers of the core are missing or short: {layers:?}"));
    }
    let declared: Vec<String> = read(&src.join("lib.rs"))
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod ").or_else(|| l.trim().strip_prefix("pub(crate) mod ")))
        .map(|m| m.trim_end_matches(';').to_string())
        .collect();
    let layered: Vec<&String> = layers.iter().flatten().collect();
    if declared.len() != layered.len() || declared.iter().any(|m| !layered.contains(&m)) {
        return Err(format!("lib.rs declares {declared:?}, ARCHITECTURE.md layers {layered:?}"));
    }
    let position = |name: &str| layers.iter().position(|layer| layer.iter().any(|m| m == name));
    let mut problems = Vec::new();
    for file in rust_files(&src) {
        let Some(module) = module_of(&file, &src) else { continue };
        if module == "lib" {
            continue;
        }
        let Some(own) = position(&module) else {
            problems.push(format!("{} is not declared in lib.rs", file.display()));
            continue;
        };
        let code = code_of(&read(&file));
        for (index, _) in code.match_indices("crate::") {
            let used: String =
                code[index + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            match position(&used) {
                Some(other) if other >= own && used != module => problems.push(format!(
                    "{}: `{module}` uses `{used}`, which is not in a layer below it",
                    file.strip_prefix(&src).unwrap_or(&file).display()
                )),
                _ => {}
            }
        }
    }
    problems.sort();
    problems.dedup();
    if problems.is_empty() { Ok(()) } else { Err(problems.join("\n")) }
}

/// What the core must never use: it takes texts and returns values.
const FORBIDDEN_IN_CORE: &[(&str, &str)] = &[
    ("std::fs", "file access"),
    ("std::process", "processes"),
    ("std::env::", "the environment"),
    ("std::net::Tcp", "the network"),
    ("std::net::Udp", "the network"),
    ("std::io::stdin", "the terminal"),
    ("std::io::stdout", "the terminal"),
    ("std::io::stderr", "the terminal"),
    ("println!", "the terminal"),
    ("eprintln!", "the terminal"),
    ("print!(", "the terminal"),
    ("eprint!(", "the terminal"),
    ("dbg!(", "the terminal"),
    ("unsafe ", "unsafe code"),
    ("SystemTime::now", "the clock"),
    ("Instant::now", "the clock"),
    ("thread::spawn", "threads"),
];

/// Crates the core must not depend on.
const FORBIDDEN_CORE_DEPENDENCIES: &[&str] =
    &["clap", "nix", "ctrlc", "zip", "sha2", "tokio", "kube", "k8s-openapi", "hyper"];

pub fn the_core_does_no_io() -> Result<(), String> {
    let root = workspace().join("compiler");
    let mut problems = Vec::new();
    let lib = read(&root.join("src/lib.rs"));
    if !lib.contains("#![forbid(unsafe_code)]") {
        problems.push("compiler/src/lib.rs does not forbid unsafe code".to_string());
    }
    let manifest = read(&root.join("Cargo.toml"));
    for dependency in FORBIDDEN_CORE_DEPENDENCIES {
        if manifest.lines().any(|l| {
            l.trim_start().starts_with(&format!("{dependency}."))
                || l.trim_start().starts_with(&format!("{dependency} ="))
        }) {
            problems.push(format!("compiler/Cargo.toml depends on {dependency}"));
        }
    }
    for file in rust_files(&root.join("src")) {
        let code = code_of(&read(&file));
        for (needle, what) in FORBIDDEN_IN_CORE {
            if code.contains(needle) {
                problems
                    .push(format!("{} uses {what} (`{needle}`)", file.strip_prefix(&root).unwrap_or(&file).display()));
            }
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join("\n")) }
}

/// The workspace's crates from the bottom up; a crate may depend only on crates
/// listed before it. The tests and xtask stand above them all.
const CRATE_LAYERS: &[(&str, &str)] = &[
    ("compiler", "meshc-compiler"),
    ("host", "meshc-host"),
    ("wasm-host", "meshc-wasm-host"),
    ("smoke", "meshc-smoke"),
    ("cluster", "meshc-cluster"),
    ("language-server", "meshc-language-server"),
    ("cli", "meshc"),
];

pub fn crates_depend_only_downwards() -> Result<(), String> {
    let root = workspace();
    let mut problems = Vec::new();
    for (index, (dir, _)) in CRATE_LAYERS.iter().enumerate() {
        let manifest = read(&root.join(dir).join("Cargo.toml"));
        let dependencies: String = manifest
            .split("\n[")
            .filter(|section| section.starts_with("dependencies]") || section.starts_with("build-dependencies]"))
            .collect();
        for (other_dir, other_name) in &CRATE_LAYERS[index..] {
            let path_dependency = format!("path = \"../{other_dir}\"");
            let named = dependencies.lines().any(|l| l.trim_start().starts_with(&format!("{other_name} =")));
            if other_dir != dir && (named || dependencies.contains(&path_dependency)) {
                problems.push(format!("{dir}/Cargo.toml depends on {other_name}, which stands above it"));
            }
        }
    }
    // The binary serves the language server in process (`meshc lsp`), never the other
    // way round; the server itself carries neither the smoke runner, the Kubernetes
    // client nor wasmtime, so the `meshc-language-server` binary stays small.
    let server = read(&root.join("language-server/Cargo.toml"));
    for shell in ["cli", "smoke", "cluster"] {
        if server.contains(&format!("path = \"../{shell}\"")) {
            problems.push(format!("the language server depends on {shell}/"));
        }
    }
    // It checks plugin modules, but never carries the wasmtime runtime.
    if let Some(line) = server.lines().find(|l| l.contains("path = \"../wasm-host\""))
        && !line.contains("default-features = false")
    {
        problems.push("the language server depends on wasm-host with its wasmtime runtime".to_string());
    }
    // The smoke runner and the cluster client are siblings above the host's package IO:
    // the cluster client reads nothing from disk but a kubeconfig, through kube-rs.
    let cluster = read(&root.join("cluster/Cargo.toml"));
    for sibling in ["host", "smoke"] {
        if cluster.contains(&format!("path = \"../{sibling}\"")) {
            problems.push(format!("cluster/ depends on {sibling}/"));
        }
    }
    // The fake API server is for tests only: no crate ships it.
    for (dir, _) in CRATE_LAYERS {
        let manifest = read(&root.join(dir).join("Cargo.toml"));
        let shipped: String = manifest.split("\n[").filter(|section| section.starts_with("dependencies]")).collect();
        if shipped.contains("path = \"../fake-apiserver\"") {
            problems.push(format!("{dir}/Cargo.toml ships the fake API server (use it as a dev-dependency)"));
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join("\n")) }
}

pub fn unsafe_code_lives_only_in_process_management() -> Result<(), String> {
    let root = workspace();
    let allowed = root.join("smoke/src/process.rs");
    let mut problems = Vec::new();
    for dir in ["compiler", "host", "smoke", "cluster", "fake-apiserver", "cli", "language-server", "xtask", "tests"] {
        for file in rust_files(&root.join(dir)) {
            if file == allowed || file.ends_with("architecture.rs") {
                continue;
            }
            let code = code_of(&read(&file));
            if code.contains("unsafe {") || code.contains("unsafe fn") || code.contains("allow(unsafe_code)") {
                problems.push(format!("{} has unsafe code", file.strip_prefix(&root).unwrap_or(&file).display()));
            }
        }
    }
    if !code_of(&read(&allowed)).contains("unsafe {") {
        problems.push("smoke/src/process.rs no longer has the one unsafe block; update this test".to_string());
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join("\n")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_found_in_links_and_code_spans() {
        let named =
            named_paths("See [`x/a.rs`](compiler/src/a.rs) and `host/src/b.rs`, `meshc check`, `a.b`, `tests/d/`.");
        assert_eq!(named.into_iter().collect::<Vec<_>>(), ["compiler/src/a.rs", "host/src/b.rs", "tests/d"]);
    }
}
