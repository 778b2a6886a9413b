//! `meshc build --applyset` and `--kustomization`: the package's resources labelled as
//! members of its ApplySet, the parent, and a kustomization.yaml, for GitOps flows
//! (Argo CD, Flux) that apply the files themselves and never run `meshc apply`. The
//! labels are the ones `meshc apply` writes, so either can take over from the other
//! and `meshc apply --prune` sees what a GitOps tool applied. Pure: no IO.

use crate::applyset::{ApplySet, GroupKind};
use meshc_compiler::driver::{Analysis, OutputFile};
use meshc_compiler::emit;
use serde_json::Value as Json;
use std::collections::BTreeSet;

/// The package's resources as the API server takes them, one per output file, in
/// the order of their paths.
pub fn package_objects(analysis: &Analysis) -> Vec<Json> {
    let mut seen = BTreeSet::new();
    let mut objects: Vec<(String, Json)> = Vec::new();
    for generated in &analysis.lowered.resources {
        let path = emit::output_path(&generated.resource);
        if seen.insert(path.clone()) {
            objects.push((path, emit::to_json_value(&generated.resource)));
        }
    }
    objects.sort_by(|a, b| a.0.cmp(&b.0));
    objects.into_iter().map(|(_, object)| object).collect()
}

/// The output file of any object, at `NAMESPACE/KIND/NAME.yaml` as `meshc build` lays
/// resources out.
fn file_of(object: &Json) -> OutputFile {
    let namespace = object["metadata"]["namespace"].as_str().unwrap_or("_cluster");
    let kind = object["kind"].as_str().unwrap_or_default().to_ascii_lowercase();
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    OutputFile { path: format!("{namespace}/{kind}/{name}.yaml"), contents: emit::json_to_yaml(object) }
}

/// The resources labelled as members of `applyset`, and its parent. A resource that
/// its author labelled for another set is named in the error.
pub fn applyset_files(applyset: &ApplySet, objects: &[Json]) -> Result<Vec<OutputFile>, String> {
    let mut files = Vec::new();
    let mut kinds = BTreeSet::new();
    let mut namespaces = BTreeSet::new();
    for object in objects {
        let mut object = object.clone();
        applyset.label_member(&mut object).map_err(|other| {
            format!(
                "{} is labelled for another ApplySet ({other}); meshc sets {} itself",
                crate::ObjectRef::of(&object),
                crate::applyset::PART_OF_LABEL
            )
        })?;
        kinds.insert(GroupKind::of(&object));
        if let Some(namespace) = object["metadata"]["namespace"].as_str() {
            namespaces.insert(namespace.to_string());
        }
        files.push(file_of(&object));
    }
    files.push(file_of(&applyset.parent(&kinds, &namespaces)));
    Ok(files)
}

/// A kustomization.yaml listing `paths` (relative to the output directory).
pub fn kustomization(paths: &[&str]) -> OutputFile {
    let mut sorted: Vec<&str> = paths.to_vec();
    sorted.sort();
    let mut contents = String::from(
        "# Written by meshc build --kustomization: every resource of this directory, for kustomize,\n# Argo CD and Flux.\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n",
    );
    for path in sorted {
        contents.push_str(&format!("- {path}\n"));
    }
    OutputFile { path: "kustomization.yaml".into(), contents }
}
