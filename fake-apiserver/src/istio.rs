//! CustomResourceDefinition documents for the three Istio kinds meshc writes, around a version's `openAPIV3Schema`.

use serde_json::{Value, json};

/// A full apiextensions.k8s.io/v1 CustomResourceDefinition for `kind` (Telemetry, WasmPlugin or EnvoyFilter) whose every version carries `schema`, as Istio 1.30 installs it:
/// Telemetry in telemetry.istio.io (v1alpha1 and v1, storage v1), WasmPlugin in extensions.istio.io (v1alpha1), EnvoyFilter in networking.istio.io (v1alpha3).
///
/// # Panics
/// For any other kind.
pub fn istio_crd(kind: &str, schema: Value) -> Value {
    let (group, plural, versions): (&str, &str, &[&str]) = match kind {
        "Telemetry" => ("telemetry.istio.io", "telemetries", &["v1alpha1", "v1"]),
        "WasmPlugin" => ("extensions.istio.io", "wasmplugins", &["v1alpha1"]),
        "EnvoyFilter" => ("networking.istio.io", "envoyfilters", &["v1alpha3"]),
        other => panic!("istio_crd: no Istio kind {other:?}"),
    };
    let storage = versions[versions.len() - 1];
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| {
            json!({
                "name": v,
                "served": true,
                "storage": *v == storage,
                "schema": {"openAPIV3Schema": schema.clone()},
                "subresources": {"status": {}},
            })
        })
        .collect();
    let singular = kind.to_lowercase();
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{group}")},
        "spec": {
            "group": group,
            "names": {
                "kind": kind,
                "listKind": format!("{kind}List"),
                "plural": plural,
                "singular": singular,
                "categories": ["istio-io"],
            },
            "scope": "Namespaced",
            "versions": versions,
        },
    })
}

/// The CRDs of the three Istio kinds from a release folder of `shared/reference/istio-crds/`
/// (`telemetry.json`, `wasmplugin.json`, `envoyfilter.json`: each a version's
/// `openAPIV3Schema`), for the fake and for installing into a real test cluster.
///
/// # Panics
/// When a file cannot be read or parsed: the tests need `../shared` beside the repository.
pub fn istio_crds(release_dir: &std::path::Path) -> Vec<Value> {
    read_istio_crds(release_dir).unwrap_or_else(|e| panic!("{e}; the tests need ../shared beside the repository"))
}

/// [`istio_crds`], saying which file cannot be read or parsed.
pub fn read_istio_crds(release_dir: &std::path::Path) -> Result<Vec<Value>, String> {
    ["Telemetry", "WasmPlugin", "EnvoyFilter"]
        .iter()
        .map(|kind| {
            let file = release_dir.join(format!("{}.json", kind.to_ascii_lowercase()));
            let text = std::fs::read_to_string(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let schema = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
            Ok(istio_crd(kind, schema))
        })
        .collect()
}

/// A kubeconfig with one context, `fake`, reaching `server` with a bearer token, as the
/// tests hand it to meshc.
pub fn kubeconfig(server: &str, token: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {server}\nusers:\n- name: tester\n  user:\n    token: {token}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: tester\ncurrent-context: fake\n"
    )
}
