//! `mesh.toml`'s providers against the cluster's MeshConfig, when `mesh_config` names
//! a file of it: every declared provider must be one of the MeshConfig's
//! `extensionProviders`, of the same kind, with the same settings. The file may be a
//! MeshConfig, the `istio` ConfigMap (`data.mesh`), an IstioOperator
//! (`spec.meshConfig`) or Helm values (`meshConfig`).

use crate::diagnostic::{Diagnostic, codes, did_you_mean};
use crate::manifest::{Manifest, ProviderDecl};
use crate::model::DefaultProviders;
use crate::model::node::{Node, NodeKind};
use crate::source::{SourceDb, SourceKind};
use crate::span::{FileId, Span};
use serde_json::Value as Json;

/// The MeshConfig's field for a provider kind: `envoy_otel_als` → `envoyOtelAls`.
pub(crate) fn kind_field(kind: &str) -> String {
    camel_case(kind)
}

/// MeshConfig is a protobuf message, so its settings take protobuf's JSON names.
pub(crate) fn camel_case(snake: &str) -> String {
    crate::envoy::json_name(snake)
}

/// Settings whose values are the user's own maps, whose keys stay as written.
const VERBATIM_SETTINGS: &[&str] = &["labels", "include_additional_headers_in_check", "environment", "dynatrace"];

/// A provider's settings as MeshConfig writes them: keys in camel case, except inside
/// the user's own maps.
pub(crate) fn mesh_config_settings(settings: &Json) -> Json {
    match settings {
        Json::Object(map) => Json::Object(
            map.iter()
                .map(|(key, value)| {
                    let value = if VERBATIM_SETTINGS.contains(&key.as_str()) {
                        value.clone()
                    } else {
                        mesh_config_settings(value)
                    };
                    (camel_case(key), value)
                })
                .collect(),
        ),
        Json::Array(items) => Json::Array(items.iter().map(mesh_config_settings).collect()),
        other => other.clone(),
    }
}

/// Checks the manifest's providers against the MeshConfig file of `db`, if the
/// manifest names one.
pub(crate) fn check_against_mesh_config(
    db: &SourceDb,
    manifest: &Manifest,
) -> (Option<DefaultProviders>, Vec<Diagnostic>) {
    let Some(path) = &manifest.mesh_config else { return (None, Vec::new()) };
    let Some((file, source)) = db.iter().find(|(_, f)| f.kind == SourceKind::MeshConfig) else {
        return (None, vec![
            Diagnostic::new(
                codes::INVALID_MANIFEST,
                path.span,
                format!("the MeshConfig file `{}` could not be read", path.value),
            )
            .with_help("the path is relative to mesh.toml; export it with `kubectl get configmap istio -n istio-system -o yaml`"),
        ]);
    };
    let (root, mut diagnostics) = crate::envoy::yaml::parse_yaml(file, &source.text);
    let Some(root) = root else { return (None, diagnostics) };
    // istiod reads MeshConfig as protobuf JSON, which takes field names in snake case
    // as well as camel case.
    let mesh = mesh_config_object(&root, file, &source.text, &mut diagnostics).map(|mut mesh| {
        camel_case_keys(&mut mesh);
        mesh
    });
    let defaults = mesh.as_ref().map(default_providers);
    let providers = match mesh.as_ref().and_then(|m| m.get("extensionProviders")).map(|n| &n.kind) {
        Some(NodeKind::List(items)) => Some(items.clone()),
        _ => None,
    };
    let Some(providers) = providers else {
        diagnostics.push(
            Diagnostic::new(
                codes::INVALID_MANIFEST,
                path.span,
                format!("`{}` holds no MeshConfig extensionProviders", path.value),
            )
            .with_note("read as a MeshConfig, the `istio` ConfigMap (data.mesh), an IstioOperator (spec.meshConfig) or Helm values (meshConfig)"),
        );
        return (defaults, diagnostics);
    };
    let cluster: Vec<(&str, &Node)> =
        providers.iter().filter_map(|p| p.get("name").and_then(Node::as_str).map(|name| (name, p))).collect();
    for provider in manifest.providers.iter().filter(|p| !p.builtin) {
        let name = &provider.name.value;
        let Some((_, found)) = cluster.iter().find(|(n, _)| n == name) else {
            // istiod predefines these; mesh.toml may restate them.
            if matches!(name.as_str(), "prometheus" | "envoy" | "stackdriver") {
                continue;
            }
            let mut diagnostic = Diagnostic::new(
                codes::PROVIDER_NOT_IN_MESH_CONFIG,
                provider.name.span,
                format!("the cluster's MeshConfig declares no provider `{name}`"),
            )
            .with_label_message(format!("not in {}", path.value));
            if let Some(suggestion) = did_you_mean(name, cluster.iter().map(|(n, _)| *n)) {
                diagnostic = diagnostic.with_did_you_mean(provider.name.span, suggestion);
            } else {
                diagnostic = diagnostic.with_help(
                    "add it to the MeshConfig's extensionProviders (`meshc mesh-config` prints the fragment), or drop it here",
                );
            }
            diagnostics.push(diagnostic);
            continue;
        };
        compare_provider(provider, found, &mut diagnostics);
    }
    (defaults, diagnostics)
}

/// The MeshConfig object in whichever form the file has: a bare MeshConfig, Helm
/// values (`meshConfig`), an IstioOperator (`spec.meshConfig`), or the `istio`
/// ConfigMap, whose `data.mesh` is MeshConfig YAML as text (its parts pointed at
/// line by line in the file).
fn mesh_config_object(root: &Node, file: FileId, file_text: &str, diagnostics: &mut Vec<Diagnostic>) -> Option<Node> {
    for path in [&["spec", "meshConfig"][..], &["meshConfig"]] {
        let mut node = Some(root);
        for key in path {
            node = node.and_then(|n| n.get(key));
        }
        if let Some(found) = node.filter(|n| n.members().is_some()) {
            return Some(found.clone());
        }
    }
    if let Some(mesh) = root.get("data").and_then(|d| d.get("mesh"))
        && let Some(text) = mesh.as_str()
    {
        let (inner, inner_diagnostics) = crate::envoy::yaml::parse_yaml(file, text);
        for diagnostic in inner_diagnostics {
            diagnostics.push(Diagnostic::new(diagnostic.code, mesh.span, diagnostic.message));
        }
        let mut inner = inner?;
        let lines = block_lines(file_text, mesh.span, text);
        respan(&mut inner, &|span| match &lines {
            Some(lines) => Span::new(span.file, lines.to_file(span.start), lines.to_file(span.end)),
            None => mesh.span,
        });
        return Some(inner);
    }
    (root.get("extensionProviders").is_some() || root.get("defaultProviders").is_some()).then(|| root.clone())
}

/// MeshConfig's `defaultProviders`; when the MeshConfig has none, istiod's own
/// default, which has no provider at all (Prometheus is a default of the Helm chart,
/// which writes it into the MeshConfig).
fn default_providers(mesh: &Node) -> DefaultProviders {
    let names = |key: &str| -> Vec<String> {
        match mesh.get("defaultProviders").and_then(|d| d.get(key)).map(|n| &n.kind) {
            Some(NodeKind::List(items)) => items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect(),
            _ => Vec::new(),
        }
    };
    DefaultProviders {
        metrics: names("metrics"),
        tracing: names("tracing"),
        access_logging: names("accessLogging"),
        origin: Some(mesh.get("defaultProviders").map(|d| d.span).unwrap_or(mesh.span)),
    }
}

/// Where the lines of a literal block scalar (`mesh: |-`) start in the file: the
/// scalar's text is the file's lines with their indentation removed.
struct BlockLines {
    /// For each line of the scalar's text: its start in the text and in the file.
    starts: Vec<(u32, u32)>,
}

impl BlockLines {
    fn to_file(&self, offset: u32) -> u32 {
        let index = self.starts.partition_point(|(inner, _)| *inner <= offset).saturating_sub(1);
        let (inner, file) = self.starts[index];
        file + (offset - inner)
    }
}

/// The line map of a block scalar whose text starts at `span` in `file_text`, if the
/// text is the file's lines minus one indentation (a literal block); `None` for
/// folded or quoted strings, whose parts are then pointed at by the whole value.
fn block_lines(file_text: &str, span: Span, text: &str) -> Option<BlockLines> {
    let start = span.start as usize;
    let line_start = file_text[..start].rfind('\n').map_or(0, |i| i + 1);
    let indent = start - line_start;
    let mut starts = Vec::new();
    let mut file_offset = line_start;
    let mut inner_offset = 0usize;
    for line in text.split_inclusive('\n') {
        let file_line_end = file_text[file_offset..].find('\n').map_or(file_text.len(), |i| file_offset + i + 1);
        let file_line = &file_text[file_offset..file_line_end];
        let content = file_line.get(indent.min(file_line.len())..).unwrap_or("");
        let blank = line.trim().is_empty();
        if !blank && content.trim_end_matches('\n') != line.trim_end_matches('\n') {
            return None;
        }
        starts.push((inner_offset as u32, (file_offset + indent.min(file_line.len())) as u32));
        inner_offset += line.len();
        file_offset = file_line_end;
    }
    (!starts.is_empty()).then_some(BlockLines { starts })
}

/// Member keys in camel case, except inside the user's own maps.
fn camel_case_keys(node: &mut Node) {
    match &mut node.kind {
        NodeKind::Object(members) => {
            for member in members {
                let verbatim = VERBATIM_SETTINGS.iter().any(|v| camel_case(v) == camel_case(&member.key));
                member.key = camel_case(&member.key);
                if !verbatim {
                    camel_case_keys(&mut member.value);
                }
            }
        }
        NodeKind::List(items) => items.iter_mut().for_each(camel_case_keys),
        _ => {}
    }
}

fn respan(node: &mut Node, map: &dyn Fn(Span) -> Span) {
    node.span = map(node.span);
    match &mut node.kind {
        NodeKind::Object(members) => {
            for member in members {
                member.key_span = map(member.key_span);
                respan(&mut member.value, map);
            }
        }
        NodeKind::List(items) => items.iter_mut().for_each(|item| respan(item, map)),
        _ => {}
    }
}

fn compare_provider(provider: &ProviderDecl, found: &Node, diagnostics: &mut Vec<Diagnostic>) {
    let name = &provider.name.value;
    let kind = kind_field(&provider.kind.value);
    let Some(settings) = found.get(&kind) else {
        let other = found.members().and_then(|m| m.iter().find(|m| m.key != "name")).map(|m| m.key.clone());
        diagnostics.push(
            Diagnostic::new(
                codes::PROVIDER_NOT_IN_MESH_CONFIG,
                provider.kind.span,
                format!(
                    "the provider `{name}` is of kind `{}` here and {} in the cluster's MeshConfig",
                    provider.kind.value,
                    other.map(|o| format!("of kind `{o}`")).unwrap_or_else(|| "of no kind".into())
                ),
            )
            .with_secondary(found.span, "the MeshConfig's provider"),
        );
        return;
    };
    let declared = mesh_config_settings(&Json::Object(provider.settings.clone()));
    let Json::Object(declared) = declared else { return };
    for (key, value) in &declared {
        let snake = provider.settings.keys().find(|k| camel_case(k) == *key).cloned().unwrap_or_else(|| key.clone());
        let at = provider.settings_tree.get(&snake).map(|n| n.span).unwrap_or(provider.name.span);
        match settings.get(key) {
            Some(actual) if loosely_equal(&actual.to_json(), value) => {}
            Some(actual) => diagnostics.push(
                Diagnostic::new(
                    codes::PROVIDER_SETTING_DIFFERS,
                    at,
                    format!("`{snake}` of the provider `{name}` differs from the cluster's MeshConfig"),
                )
                .with_label_message(format!("{value} here"))
                .with_secondary(actual.span, format!("{} in the MeshConfig", actual.to_json())),
            ),
            None => diagnostics.push(
                Diagnostic::new(
                    codes::PROVIDER_SETTING_DIFFERS,
                    at,
                    format!("the cluster's MeshConfig does not set `{snake}` of the provider `{name}`"),
                )
                .with_label_message("set only here")
                .with_secondary(settings.span, "the MeshConfig's settings"),
            ),
        }
    }
}

/// Equal as MeshConfig would read them: numbers and their strings are one value.
fn loosely_equal(actual: &Json, declared: &Json) -> bool {
    match (actual, declared) {
        (Json::String(a), Json::Number(d)) | (Json::Number(d), Json::String(a)) => a == &d.to_string(),
        (Json::Object(a), Json::Object(d)) => d.iter().all(|(k, dv)| a.get(k).is_some_and(|av| loosely_equal(av, dv))),
        _ => actual == declared,
    }
}
