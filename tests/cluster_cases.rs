//! `golden/cluster/*`: a package, a script of steps against a fresh fake API server,
//! and `expected/output.txt`, what each `meshc apply` or `meshc diff` step prints
//! (diagnostics, the report, the exit code). The steps:
//!
//! - `crds RELEASE [without KIND...]`: the Istio CRDs of RELEASE (default: 1.30, all);
//! - `namespace NAME`: a namespace (default: `istio-system` and `shop`);
//! - `as MANAGER [force] FILE`: another field manager server-side applies FILE (YAML
//!   in the case folder), as a person or a controller would;
//! - `meshc apply|diff [FLAGS]`: the command, run in process as the CLI runs it.
//!
//! Each step's output is the case's; `UPDATE_GOLDEN=1` rewrites `expected/`.

use meshc_cluster::applyset::ApplySet;
use meshc_cluster::run::{Mode, Options};
use meshc_compiler::diagnostic::render;
use meshc_fake_apiserver::FakeApiServer;
use meshc_host::{golden, package};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file a case's steps are read from.
pub const STEPS_FILE: &str = "steps.txt";
const OUTPUT_FILE: &str = "output.txt";

/// The cluster cases below `dir`: its subdirectories with a steps file.
pub fn find(dir: &Path) -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.join(STEPS_FILE).is_file()).collect()
        })
        .unwrap_or_default();
    cases.sort();
    cases
}

/// Runs one case and compares (or with UPDATE_GOLDEN blesses) its output.
pub fn run(case: &Path, reference: &Path) -> Result<golden::CaseRun, String> {
    let steps = std::fs::read_to_string(case.join(STEPS_FILE)).map_err(|e| e.to_string())?;
    let loaded = package::load(case, None).map_err(|e| e.to_string())?;
    let analysis = loaded.analyze();
    let mut db = loaded.db.clone();
    golden::relativize_paths(&mut db, case);

    let server = FakeApiServer::new();
    let mut crds_given = false;
    let mut namespaces_given = false;
    let lines: Vec<&str> = steps.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    for line in &lines {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["crds", release, rest @ ..] => {
                crds_given = true;
                let without: Vec<&str> = rest.iter().skip(1).copied().collect();
                for crd in meshc_fake_apiserver::istio_crds(&reference.join("istio-crds").join(release)) {
                    if !without.contains(&crd["spec"]["names"]["kind"].as_str().unwrap_or_default()) {
                        server.install_crd(&crd);
                    }
                }
            }
            ["namespace", name] => {
                namespaces_given = true;
                server.add_namespace(name);
            }
            _ => {}
        }
    }
    if !crds_given {
        for crd in meshc_fake_apiserver::istio_crds(&reference.join("istio-crds/1.30")) {
            server.install_crd(&crd);
        }
    }
    if !namespaces_given {
        server.add_namespace("istio-system");
        server.add_namespace("shop");
    }
    let running = server.start();
    let scratch = std::env::temp_dir().join(format!(
        "meshc-cluster-case-{}-{}",
        std::process::id(),
        case.file_name().unwrap_or_default().to_string_lossy()
    ));
    std::fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
    let kubeconfig = scratch.join("kubeconfig");
    std::fs::write(&kubeconfig, meshc_fake_apiserver::kubeconfig(&running.url(), "token"))
        .map_err(|e| e.to_string())?;
    let target = meshc_cluster::connect::Target { kubeconfig: Some(kubeconfig), context: None };
    let desired = meshc_cluster::gitops::package_objects(&analysis);
    let manifest = analysis.manifest.as_ref().ok_or("a cluster case needs a mesh.toml")?;
    let root = meshc_compiler::manifest::root_namespace(Some(manifest));

    let mut output = String::new();
    let package_diagnostics: Vec<_> = analysis.user_diagnostics(&loaded.db).cloned().collect();
    if !package_diagnostics.is_empty() {
        output.push_str(&render::render_plain(&db, &package_diagnostics));
    }
    for line in lines {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["as", manager, rest @ ..] => {
                let (force, file) = match rest {
                    ["force", file] => (true, file),
                    [file] => (false, file),
                    _ => return Err(format!("`{line}`: as MANAGER [force] FILE")),
                };
                let text = std::fs::read_to_string(case.join(file)).map_err(|e| format!("{file}: {e}"))?;
                let object: serde_json::Value = serde_norway::from_str(&text).map_err(|e| format!("{file}: {e}"))?;
                output.push_str(&format!("$ kubectl apply --server-side --field-manager {manager} -f {file}\n"));
                if let Err(status) = server.apply_as(manager, &object, force) {
                    output.push_str(&format!("{}\n", status.body["message"].as_str().unwrap_or_default()));
                }
                output.push('\n');
            }
            ["meshc", command, flags @ ..] => {
                let mode = match (*command, flags.contains(&"--dry-run=server")) {
                    ("diff", _) => Mode::Diff,
                    ("apply", true) => Mode::DryRun,
                    ("apply", false) => Mode::Apply,
                    _ => return Err(format!("`{line}`: meshc apply|diff [FLAGS]")),
                };
                let options = Options {
                    field_manager: "meshc".into(),
                    force_conflicts: flags.contains(&"--force-conflicts"),
                    prune: flags.contains(&"--prune"),
                    create_namespaces: flags.contains(&"--create-namespaces"),
                    wait_for_crds: None,
                    applyset: ApplySet::for_package(&manifest.name.value, root),
                };
                output.push_str(&format!("$ {line}\n"));
                match meshc_cluster::run_blocking(&target, &desired, mode, &options, &mut |_| {}) {
                    Ok(outcome) => {
                        let problems = meshc_cluster::report::package_diagnostics(&analysis, &outcome.problems);
                        output.push_str(&render::render_plain(&db, &problems));
                        if mode == Mode::Diff {
                            output.push_str(&meshc_cluster::report::render_diff(&outcome, false));
                            output.push_str(&meshc_cluster::report::summary(&outcome));
                            output.push('\n');
                        } else {
                            output.push_str(&meshc_cluster::report::render_text(&outcome, false));
                        }
                        output.push_str(&format!("exit {}\n\n", outcome.exit_code()));
                    }
                    Err(error) => output.push_str(&format!("error: {error}\nexit 2\n\n")),
                }
            }
            ["crds", ..] | ["namespace", _] => {}
            _ => return Err(format!("unknown step `{line}`")),
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    // The server's port is in no message a case shows; the context is `fake`.
    let output = output.replace(&running.url(), "http://fake");
    let expected = golden::read_tree(&case.join(golden::EXPECTED_DIR)).map_err(|e| e.to_string())?;
    let actual = BTreeMap::from([(OUTPUT_FILE.to_string(), output)]);
    Ok(golden::CaseRun { dir: case.to_path_buf(), actual, expected, has_errors: false })
}
