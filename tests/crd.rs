//! Validation of generated resources against Istio's own CRD schemas (OpenAPI v3, as
//! JSON, per release, in `shared/reference/istio-crds/`).

use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The releases that have schemas, such as `1.28` and `1.31-dev`.
pub fn releases() -> Vec<String> {
    let mut releases: Vec<String> = std::fs::read_dir(super::shared().join("reference/istio-crds"))
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    releases.sort();
    releases
}

fn validators() -> &'static BTreeMap<(String, String), jsonschema::Validator> {
    static VALIDATORS: OnceLock<BTreeMap<(String, String), jsonschema::Validator>> = OnceLock::new();
    VALIDATORS.get_or_init(|| {
        let mut out = BTreeMap::new();
        for release in releases() {
            for (kind, file) in
                [("Telemetry", "telemetry"), ("WasmPlugin", "wasmplugin"), ("EnvoyFilter", "envoyfilter")]
            {
                let path = super::shared().join(format!("reference/istio-crds/{release}/{file}.json"));
                let text =
                    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
                let schema: Json = serde_json::from_str(&text).expect("CRD schemas are JSON");
                let validator =
                    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                out.insert((release.clone(), kind.to_string()), validator);
            }
        }
        out
    })
}

/// Validates one resource (apiVersion, kind, metadata, spec) against the CRD schema
/// of its kind in `release`; the errors name the instance path.
pub fn validate(resource: &Json, release: &str) -> Result<(), Vec<String>> {
    let kind =
        resource.get("kind").and_then(Json::as_str).ok_or_else(|| vec!["the resource has no kind".to_string()])?;
    let validator = validators()
        .get(&(release.to_string(), kind.to_string()))
        .ok_or_else(|| vec![format!("no schema for {kind} in Istio {release}")])?;
    let errors: Vec<String> = validator.iter_errors(resource).map(|e| format!("{}: {e}", e.instance_path())).collect();
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

/// The CRD release folder for a targeted Istio version (`1.31` is `1.31-dev`).
pub fn schema_release(istio: &str) -> String {
    let available = releases();
    available
        .iter()
        .find(|r| *r == istio || r.starts_with(&format!("{istio}-")))
        .cloned()
        .unwrap_or_else(|| istio.to_string())
}
