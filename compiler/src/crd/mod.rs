//! Istio's CRD schemas (Telemetry, WasmPlugin, EnvoyFilter) per supported release,
//! and Kubernetes documents validated against them as the API server validates them.
//!
//! The schemas are the `openAPIV3Schema` of each CRD, written by `cargo run -p xtask
//! -- extract-crds` from `shared/reference/istio-crds/` into `compiler/crds/` in the
//! compact form of [`compact_release`] (descriptions kept, for hovers) and embedded
//! here; each is parsed once, on first use. A test checks that the embedded files
//! are what the extraction writes today.
//!
//! - [`schema`] gives the structural schema of a kind in a release, and [`lookup`]
//!   resolves a field path (`spec.tracing[0].randomSamplingPercentage`) to its
//!   schema node, or says where the path leaves the schema and which fields stand
//!   there (for did-you-mean). The rule type-checker and the IDE ask these.
//! - [`validate`] checks a whole document (`apiVersion`, `kind`, `metadata`,
//!   `spec`) in every given release, reporting a mistake found in all of them once
//!   and naming the releases otherwise; [`validate_value`] checks a value against
//!   any structural schema.

mod schema;
mod validate;

pub use schema::{LookupError, PathSegment, Rule, Schema, parse_path};
pub use validate::{validate, validate_value};

use crate::versions::{ISTIO_RELEASES, IstioRelease};
use serde_json::Value as Json;
use std::sync::OnceLock;

/// The namespace kubectl applies a namespaced document to when it names none, which
/// meshc assumes for such documents when it checks, judges or imports them.
pub const DEFAULT_NAMESPACE: &str = "default";

/// The three Istio kinds meshc knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Telemetry,
    WasmPlugin,
    EnvoyFilter,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Telemetry, Kind::WasmPlugin, Kind::EnvoyFilter];

    /// The kind named by a document's `kind`.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Telemetry => "Telemetry",
            Kind::WasmPlugin => "WasmPlugin",
            Kind::EnvoyFilter => "EnvoyFilter",
        }
    }

    /// The API group of the CRD.
    pub fn group(self) -> &'static str {
        match self {
            Kind::Telemetry => "telemetry.istio.io",
            Kind::WasmPlugin => "extensions.istio.io",
            Kind::EnvoyFilter => "networking.istio.io",
        }
    }

    /// The resource (plural) the API server serves the kind as, which admission rules name.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Telemetry => "telemetries",
            Kind::WasmPlugin => "wasmplugins",
            Kind::EnvoyFilter => "envoyfilters",
        }
    }

    /// The kind served by the API group `group` under this name, if it is one of ours.
    pub fn from_group_and_name(group: &str, name: &str) -> Option<Kind> {
        Kind::from_name(name).filter(|k| k.group() == group)
    }

    /// The versions the CRD serves, all with the same schema, newest first.
    ///
    /// The reference schema files hold one version's `openAPIV3Schema` each; the
    /// served versions are the `versions` list of the CRDs in Istio's
    /// `manifests/charts/base/files/crd-all.gen.yaml`, the same in every supported
    /// release: Telemetry serves `v1` and `v1alpha1`, WasmPlugin only `v1alpha1` and
    /// EnvoyFilter only `v1alpha3`. A test compares this table with the `crd_versions`
    /// that `shared/reference/istio-semantics/generated-config.yaml` records per release.
    pub fn served_versions(self) -> &'static [&'static str] {
        match self {
            Kind::Telemetry => &["v1", "v1alpha1"],
            Kind::WasmPlugin => &["v1alpha1"],
            Kind::EnvoyFilter => &["v1alpha3"],
        }
    }

    /// The file of the kind in a release folder of the reference CRDs.
    pub fn source_file(self) -> &'static str {
        match self {
            Kind::Telemetry => "telemetry.json",
            Kind::WasmPlugin => "wasmplugin.json",
            Kind::EnvoyFilter => "envoyfilter.json",
        }
    }
}

/// The folder of a release under `shared/reference/istio-crds/`: a development
/// release's schemas come from the development branch (`1.31-dev`).
pub fn source_folder(release: &IstioRelease) -> String {
    if release.development { format!("{}-dev", release.version) } else { release.version.to_string() }
}

/// The embedded compact schemas, one file per supported release.
static EMBEDDED: &[(&str, &str)] = &[
    ("1.28", include_str!("../../crds/istio-1.28.json")),
    ("1.29", include_str!("../../crds/istio-1.29.json")),
    ("1.30", include_str!("../../crds/istio-1.30.json")),
    ("1.31", include_str!("../../crds/istio-1.31.json")),
];

/// The embedded file of a release (`1.30`), as `xtask extract-crds` wrote it.
pub fn embedded_text(release: &str) -> Option<&'static str> {
    EMBEDDED.iter().find(|(r, _)| *r == release).map(|(_, text)| *text)
}

/// The parsed schemas of every embedded release: (release, kind, root schema).
fn parsed() -> &'static Vec<(&'static str, Kind, Json)> {
    static PARSED: OnceLock<Vec<(&'static str, Kind, Json)>> = OnceLock::new();
    PARSED.get_or_init(|| {
        let mut out = Vec::new();
        for (release, text) in EMBEDDED {
            let Ok(Json::Object(file)) = serde_json::from_str::<Json>(text) else { continue };
            let Some(Json::Array(kinds)) = file.get("kinds") else { continue };
            for entry in kinds {
                let kind = entry.get("kind").and_then(Json::as_str).and_then(Kind::from_name);
                if let (Some(kind), Some(schema)) = (kind, entry.get("schema")) {
                    out.push((*release, kind, schema.clone()));
                }
            }
        }
        out
    })
}

/// The `openAPIV3Schema` of `kind` in an Istio release (`1.30`, `1.30.3`), whose
/// root describes the whole document; `apiVersion`, `kind` and `metadata`, which
/// the API server checks itself, are described by [`document_schema`].
pub fn schema(release: &str, kind: Kind) -> Option<Schema<'static>> {
    let release = crate::versions::istio_release(release)?;
    parsed().iter().find(|(r, k, _)| *r == release.version && *k == kind).map(|(_, _, json)| Schema::new(json))
}

/// What the API server knows of every object's `apiVersion`, `kind` and `metadata`
/// (the parts of `ObjectMeta` a manifest writes), as a schema, so that lookups and
/// validation treat them like the CRD's own fields.
pub fn document_schema() -> Schema<'static> {
    static META: OnceLock<Json> = OnceLock::new();
    Schema::new(META.get_or_init(|| serde_json::from_str(OBJECT_META).expect("the ObjectMeta schema is JSON")))
}

const OBJECT_META: &str = r#"{"type":"object","properties":{
"apiVersion":{"type":"string","description":"The group and version of the resource, such as `telemetry.istio.io/v1`."},
"kind":{"type":"string","description":"The kind of the resource."},
"metadata":{"type":"object","description":"Standard object metadata: `name` is required unless `generateName` is given.","properties":{
 "name":{"type":"string","description":"The name, unique in its namespace: a DNS subdomain (lowercase letters, digits, `-` and `.`, at most 253 characters)."},
 "generateName":{"type":"string","description":"A prefix the API server completes into a unique name when `name` is not given."},
 "namespace":{"type":"string","description":"The namespace: a DNS label."},
 "labels":{"type":"object","additionalProperties":{"type":"string"},"description":"Labels, which selectors match."},
 "annotations":{"type":"object","additionalProperties":{"type":"string"},"description":"Annotations: data for tools."},
 "uid":{"type":"string"},"resourceVersion":{"type":"string"},"generation":{"type":"integer"},"selfLink":{"type":"string"},
 "creationTimestamp":{"type":"string","nullable":true},"deletionTimestamp":{"type":"string","nullable":true},
 "deletionGracePeriodSeconds":{"type":"integer"},
 "finalizers":{"type":"array","items":{"type":"string"}},
 "ownerReferences":{"type":"array","items":{"type":"object","x-kubernetes-preserve-unknown-fields":true}},
 "managedFields":{"type":"array","items":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}}}}}"#;

/// Resolves a field path of a document of `kind` in `release` to its schema node:
/// `spec.tracing[0].randomSamplingPercentage`, `metadata.labels['app']`.
pub fn lookup(release: &str, kind: Kind, path: &str) -> Result<Schema<'static>, LookupError> {
    let segments = parse_path(path).map_err(|message| LookupError {
        segment: 0,
        name: path.to_string(),
        message,
        siblings: Vec::new(),
        suggestion: None,
    })?;
    lookup_segments(release, kind, &segments)
}

/// [`lookup`] with the path already split into segments.
pub fn lookup_segments(release: &str, kind: Kind, segments: &[PathSegment]) -> Result<Schema<'static>, LookupError> {
    let root = schema(release, kind).ok_or_else(|| LookupError {
        segment: 0,
        name: kind.name().to_string(),
        message: format!("meshc has no schema of {} for Istio {release}", kind.name()),
        siblings: Vec::new(),
        suggestion: None,
    })?;
    // The envelope's fields come from ObjectMeta's schema, the rest from the CRD's.
    let starts_in_envelope =
        matches!(segments.first(), Some(PathSegment::Field(f)) if document_schema().property(f).is_some());
    let start = if starts_in_envelope { document_schema() } else { root };
    start.resolve(segments, &document_field_names(root))
}

/// The fields a document may have at its top: the envelope's and the CRD's.
fn document_field_names(root: Schema<'_>) -> Vec<String> {
    let mut names: Vec<String> = document_schema().property_names().into_iter().map(str::to_string).collect();
    names.extend(root.property_names().into_iter().map(str::to_string));
    names
}

/// The embedded file of one release, from the reference CRD files' texts: the
/// provenance (the source folder, each file and its `$comment`), then each kind's
/// schema, minified and otherwise unchanged (descriptions included). `xtask
/// extract-crds` writes it; the drift test compares it with the embedded copy.
pub fn compact_release(release: &IstioRelease, sources: &[(Kind, &str)]) -> Result<String, String> {
    let folder = source_folder(release);
    let mut kinds = Vec::new();
    for (kind, text) in sources {
        let mut schema: serde_json::Map<String, Json> =
            serde_json::from_str(text).map_err(|e| format!("{folder}/{}: {e}", kind.source_file()))?;
        let comment = schema.remove("$comment").unwrap_or(Json::Null);
        kinds.push(serde_json::json!({
            "kind": kind.name(),
            "source": format!("shared/reference/istio-crds/{folder}/{}", kind.source_file()),
            "comment": comment,
            "schema": Json::Object(schema),
        }));
    }
    let file = serde_json::json!({
        "provenance": format!(
            "Written by `cargo run -p xtask -- extract-crds` from shared/reference/istio-crds/{folder}/ for Istio {}; do not edit.",
            release.version
        ),
        "release": release.version,
        "kinds": kinds,
    });
    Ok(serde_json::to_string(&file).map_err(|e| e.to_string())? + "\n")
}

/// The supported releases whose schemas are embedded, oldest first.
pub fn releases() -> Vec<&'static IstioRelease> {
    ISTIO_RELEASES.iter().filter(|r| embedded_text(r.version).is_some()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_release_has_every_kind() {
        for release in ISTIO_RELEASES {
            for kind in Kind::ALL {
                let schema = schema(release.version, kind).unwrap_or_else(|| panic!("{kind:?} in {}", release.version));
                assert!(schema.property("spec").is_some());
            }
        }
        assert!(schema("1.27", Kind::Telemetry).is_none());
        assert!(schema("1.30.3", Kind::Telemetry).is_some(), "a patch release has its minor's schema");
    }

    #[test]
    fn paths_resolve_to_their_schema_nodes() {
        let node = lookup("1.30", Kind::Telemetry, "spec.tracing[0].randomSamplingPercentage").unwrap();
        assert_eq!(node.type_name(), Some("number"));
        assert!(node.nullable());
        assert!(node.description().is_some_and(|d| !d.is_empty()));
        let mode = lookup("1.30", Kind::Telemetry, "spec.accessLogging[*].match.mode").unwrap();
        assert_eq!(mode.enum_values(), vec!["CLIENT_AND_SERVER", "CLIENT", "SERVER"]);
        let tag =
            lookup("1.30", Kind::Telemetry, "spec.metrics[0].overrides[0].tagOverrides['request_host'].operation");
        assert_eq!(tag.unwrap().enum_values(), vec!["UPSERT", "REMOVE"]);
        let value = lookup("1.30", Kind::WasmPlugin, "spec.pluginConfig.anything.at.all").unwrap();
        assert!(value.preserves_unknown_fields());
        assert_eq!(lookup("1.30", Kind::EnvoyFilter, "metadata.labels.app").unwrap().type_name(), Some("string"));
        let priority = lookup("1.29", Kind::WasmPlugin, "spec.priority").unwrap();
        assert_eq!((priority.type_name(), priority.format()), (Some("integer"), Some("int32")));
    }

    #[test]
    fn a_wrong_path_names_the_fields_that_stand_there() {
        let error = lookup("1.30", Kind::Telemetry, "spec.tracing[0].randomSamplingPercentag").unwrap_err();
        assert_eq!(error.segment, 3);
        assert_eq!(error.suggestion.as_deref(), Some("randomSamplingPercentage"));
        assert!(error.siblings.iter().any(|s| s == "customTags"));
        let error = lookup("1.30", Kind::Telemetry, "spek.tracing").unwrap_err();
        assert_eq!(error.suggestion.as_deref(), Some("spec"));
        // Introduced in 1.29: the path exists there, not in 1.28.
        assert!(lookup("1.29", Kind::EnvoyFilter, "spec.configPatches[0].match.waypoint.portNumber").is_ok());
        assert!(lookup("1.28", Kind::EnvoyFilter, "spec.configPatches[0].match.waypoint").is_err());
        let error = lookup("1.30", Kind::Telemetry, "spec.tracing.foo").unwrap_err();
        assert!(error.message.contains("list"), "{}", error.message);
    }
}
