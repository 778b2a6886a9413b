//! The Istio features meshc knows per release ([`meshc_compiler::versions::Feature`]),
//! checked against the CRD schemas of every release in `../shared/reference`: a
//! feature appears in the schemas at the release it says, and every difference
//! between two releases' schemas is a feature meshc knows.

use meshc_compiler::versions::{Feature, istio_supports};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where each feature lives in its kind's CRD schema: the schema file, the paths
/// (from the schema's root, `/`-separated) of everything it adds, and one path (with
/// an enum value, for enum features) whose presence marks a release that has it.
struct Probe {
    feature: Feature,
    file: &'static str,
    covers: Vec<String>,
    marker: String,
    enum_value: Option<&'static str>,
}

fn probes() -> Vec<Probe> {
    let tracing = "properties/spec/properties/tracing/items/properties";
    let tags = format!("{tracing}/customTags/additionalProperties");
    let patch = "properties/spec/properties/configPatches/items/properties";
    let matches = format!("{patch}/match");
    let transport_socket = format!("{matches}/properties/listener/properties/filterChain/properties/transportSocket");
    vec![
        Probe {
            feature: Feature::TelemetryFormatterTag,
            file: "telemetry",
            covers: vec![format!("{tags}/oneOf"), format!("{tags}/properties/formatter")],
            marker: format!("{tags}/properties/formatter"),
            enum_value: None,
        },
        Probe {
            feature: Feature::WaypointContext,
            file: "envoyfilter",
            covers: vec![
                format!("{matches}/oneOf"),
                format!("{matches}/x-kubernetes-validations"),
                format!("{matches}/properties/waypoint"),
                format!("{matches}/properties/context/enum"),
            ],
            marker: format!("{matches}/properties/context/enum"),
            enum_value: Some("WAYPOINT"),
        },
        Probe {
            feature: Feature::TracingDisableContextPropagation,
            file: "telemetry",
            covers: vec![format!("{tracing}/disableContextPropagation")],
            marker: format!("{tracing}/disableContextPropagation"),
            enum_value: None,
        },
        Probe {
            feature: Feature::FilterChainTransportSocketMatch,
            file: "envoyfilter",
            covers: vec![transport_socket.clone()],
            marker: transport_socket,
            enum_value: None,
        },
        Probe {
            feature: Feature::PatchMergeAndReplaceList,
            file: "envoyfilter",
            covers: vec![format!("{patch}/patch/properties/operation/enum")],
            marker: format!("{patch}/patch/properties/operation/enum"),
            enum_value: Some("MERGE_AND_REPLACE_LIST"),
        },
    ]
}

/// The CRD schemas of each release folder (`1.28`, ..., `1.31-dev`), if this
/// checkout has the shared reference material next to it.
fn crd_releases() -> Option<(PathBuf, Vec<String>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference/istio-crds");
    let mut releases: Vec<String> = std::fs::read_dir(&root)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    releases.sort_by_key(|r| {
        let numbers: Vec<u32> = r.split(['.', '-']).take(2).filter_map(|n| n.parse().ok()).collect();
        numbers
    });
    Some((root, releases))
}

fn schema(root: &Path, release: &str, file: &str) -> Json {
    let path = root.join(release).join(format!("{file}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn lookup<'a>(schema: &'a Json, path: &str) -> Option<&'a Json> {
    path.split('/').try_fold(schema, |node, key| match node {
        Json::Object(map) => map.get(key),
        Json::Array(items) => items.get(key.parse::<usize>().ok()?),
        _ => None,
    })
}

/// Every leaf of a schema by its path, without descriptions and comments, which
/// change wording between releases without changing what the CRD accepts.
fn leaves(node: &Json, path: String, out: &mut BTreeMap<String, Json>) {
    match node {
        Json::Object(map) => {
            for (key, value) in map {
                if key != "description" && key != "$comment" {
                    leaves(value, format!("{path}/{key}"), out);
                }
            }
        }
        Json::Array(items) if items.iter().any(|i| i.is_object() || i.is_array()) => {
            for (index, item) in items.iter().enumerate() {
                leaves(item, format!("{path}/{index}"), out);
            }
        }
        leaf => {
            out.insert(path.trim_start_matches('/').to_string(), leaf.clone());
        }
    }
}

/// Each feature starts, in the CRD schemas, at the release `Feature::since` names.
pub fn features_match_the_crd_schemas() {
    let (root, releases) =
        crd_releases().expect("shared/reference/istio-crds must be next to this checkout (CI puts ../shared there)");
    assert!(releases.len() >= 2, "{releases:?}");
    let probes = probes();
    for feature in Feature::ALL {
        assert!(probes.iter().any(|p| p.feature == *feature), "{feature:?} has no probe");
    }
    for probe in probes {
        for release in &releases {
            let schema = schema(&root, release, probe.file);
            let found = match (lookup(&schema, &probe.marker), probe.enum_value) {
                (Some(Json::Array(values)), Some(value)) => values.iter().any(|v| v == value),
                (Some(_), None) => true,
                _ => false,
            };
            assert_eq!(
                found,
                istio_supports(release, probe.feature),
                "{:?} in Istio {release}: the schema and `since` disagree",
                probe.feature
            );
        }
    }
}

/// Every difference between the CRD schemas of two releases is a known feature.
pub fn every_schema_difference_is_a_feature() {
    let (root, releases) =
        crd_releases().expect("shared/reference/istio-crds must be next to this checkout (CI puts ../shared there)");
    let probes = probes();
    for file in ["telemetry", "wasmplugin", "envoyfilter"] {
        for pair in releases.windows(2) {
            let [old, new] = pair else { unreachable!() };
            let (mut before, mut after) = (BTreeMap::new(), BTreeMap::new());
            leaves(&schema(&root, old, file), String::new(), &mut before);
            leaves(&schema(&root, new, file), String::new(), &mut after);
            for path in before.keys().chain(after.keys()) {
                if before.get(path) == after.get(path) {
                    continue;
                }
                let covered = probes
                    .iter()
                    .filter(|p| p.file == file && istio_supports(new, p.feature) && !istio_supports(old, p.feature))
                    .any(|p| p.covers.iter().any(|prefix| path.starts_with(prefix)));
                assert!(covered, "{file}: `{path}` differs between Istio {old} and {new}, and no Feature says so");
            }
        }
    }
}
