//! Resources to YAML, and where each one goes.
//!
//! Layout of `meshc build -o DIR`: one file per resource at
//! `DIR/<namespace>/<kind in lower case>/<name>.yaml`, for example
//! `out/my-app/telemetry/custom-metrics.yaml`. Names are unique per kind and
//! namespace in a cluster, so paths never collide.

use super::model::Resource;
use serde_json::{Map, Value as Json};

/// The path of a resource's file, relative to the output directory.
pub fn output_path(resource: &Resource) -> String {
    let meta = resource.metadata();
    format!("{}/{}/{}.yaml", meta.namespace, resource.kind().to_ascii_lowercase(), meta.name)
}

/// The resource as JSON data, with `apiVersion` and `kind` first.
pub fn to_json_value(resource: &Resource) -> Json {
    let (metadata, spec) = match resource {
        Resource::Telemetry(r) => (serde_json::to_value(&r.metadata), serde_json::to_value(&r.spec)),
        Resource::WasmPlugin(r) => (serde_json::to_value(&r.metadata), serde_json::to_value(&r.spec)),
        Resource::EnvoyFilter(r) => (serde_json::to_value(&r.metadata), serde_json::to_value(&r.spec)),
    };
    let mut object = Map::new();
    object.insert("apiVersion".to_string(), Json::String(resource.api_version().to_string()));
    object.insert("kind".to_string(), Json::String(resource.kind().to_string()));
    // The model holds only strings, numbers, booleans, maps and lists, which always serialise.
    object.insert("metadata".to_string(), metadata.expect("metadata serialises"));
    object.insert("spec".to_string(), spec.expect("spec serialises"));
    Json::Object(object)
}

/// The resource as YAML text: two-space indentation, multi-line strings as literal
/// blocks, and a trailing newline. The same resource always gives the same bytes.
pub fn to_yaml(resource: &Resource) -> String {
    serde_norway::to_string(&to_json_value(resource)).expect("JSON data serialises as YAML")
}
