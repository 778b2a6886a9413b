//! The compiler's one pipeline: a package's sources in, its resources, bootstraps
//! and diagnostics out.
//!
//! Phases run in order (manifest, parse, resolve, check and lower, the raw Envoy
//! target) and each returns what it could build together with its diagnostics, so
//! one broken file or declaration never hides the mistakes in another. The CLI, the
//! golden runner, the smoke runner and the language server all call [`analyze`], so
//! `meshc check`, `meshc build` and the editor report the same diagnostics.

use crate::check;
use crate::diagnostic::{self, Diagnostic, codes};
use crate::emit;
use crate::envoy_target;
use crate::envoy_target::Bootstrap;
use crate::manifest::{Manifest, parse_manifest};
pub use crate::model::{Assets, NoAssets};
use crate::model::{Lowered, ParsedFile};
use crate::source::{SourceDb, SourceKind};
use crate::span::{FileId, Span};
use crate::syntax::parse_file;
use crate::versions::Targets;

/// Everything the compiler learnt about a package.
#[derive(Clone, Debug)]
pub struct Analysis {
    pub manifest: Option<Manifest>,
    /// The Istio releases and Envoy builds the package targets.
    pub targets: Targets,
    pub(crate) files: Vec<ParsedFile>,
    /// What the declarations mean: resources, proxies, smoke scenarios.
    pub lowered: Lowered,
    /// The bootstraps of the raw Envoy target: one per proxy and targeted Envoy build.
    pub bootstraps: Vec<Bootstrap>,
    /// All diagnostics of all phases, sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
}

impl Analysis {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// The diagnostics about package files and the manifest, without those about the stdlib
    /// (which would be a compiler bug, and are reported by the stdlib's own tests).
    pub fn user_diagnostics<'a>(&'a self, db: &'a SourceDb) -> impl Iterator<Item = &'a Diagnostic> {
        self.diagnostics.iter().filter(move |d| db.get(d.primary_span().file).kind != SourceKind::Stdlib)
    }

    /// The root namespace of the mesh (MeshConfig `rootNamespace`).
    pub fn root_namespace(&self) -> &str {
        crate::manifest::root_namespace(self.manifest.as_ref())
    }
}

/// A file to write: its path relative to the output directory, and its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputFile {
    pub path: String,
    pub contents: String,
}

/// Analyses the package in `db`: its `mesh.toml` (the one file of kind
/// [`SourceKind::Manifest`]), its `.mesh` files and the stdlib modules; `assets`
/// gives the Wasm modules the raw Envoy target inlines.
pub fn analyze(db: &SourceDb, assets: &dyn Assets) -> Analysis {
    let mut diagnostics = Vec::new();

    let manifest = match db.iter().find(|(_, f)| f.kind == SourceKind::Manifest) {
        Some((id, file)) => {
            let (manifest, manifest_diagnostics) = parse_manifest(&file.text, id);
            diagnostics.extend(manifest_diagnostics);
            manifest
        }
        None => {
            // Without a manifest there is nowhere to point; the first package file
            // (or an empty span of file 0) carries the diagnostic.
            let anchor = db.iter().find(|(_, f)| f.kind == SourceKind::Package).map(|(id, _)| id).unwrap_or(FileId(0));
            // Kubernetes YAML alone needs no manifest: it is checked against every
            // supported release.
            let only_yaml = db.iter().any(|(_, f)| f.kind == SourceKind::Resources)
                && !db.iter().any(|(_, f)| f.kind == SourceKind::Package);
            if !db.is_empty() && !only_yaml {
                diagnostics.push(
                    Diagnostic::new(codes::MISSING_MANIFEST, Span::new(anchor, 0, 0), "this package has no mesh.toml")
                        .with_help(
                            "create a mesh.toml next to the .mesh files; `meshc explain E0200` shows an example",
                        ),
                );
            }
            None
        }
    };
    // Kubernetes YAML checked without a manifest is checked against every supported
    // release: meshc cannot know which one the cluster runs.
    let yaml_without_manifest = manifest.is_none() && db.iter().any(|(_, f)| f.kind == SourceKind::Resources);
    let targets = if yaml_without_manifest {
        crate::versions::Targets::new(crate::versions::ISTIO_RELEASES.iter().collect(), [])
    } else {
        crate::manifest::targets(manifest.as_ref())
    };

    let mut files = Vec::new();
    for (id, file) in db.iter() {
        if let Some(offset) = file.invalid_utf8_at {
            diagnostics.push(
                Diagnostic::new(codes::INVALID_UTF8, Span::new(id, offset, offset + 1), "this file is not valid UTF-8")
                    .with_label_message("the first invalid byte is here")
                    .with_help("save the file as UTF-8"),
            );
        }
        if matches!(file.kind, SourceKind::Package | SourceKind::Stdlib) {
            let (ast, parse_diagnostics) = parse_file(id, &file.text);
            diagnostics.extend(parse_diagnostics);
            files.push(ParsedFile { file: id, ast });
        }
    }

    let (lowered, check_diagnostics) = check::check_package(db, manifest.as_ref(), &targets, &files);
    diagnostics.extend(check_diagnostics);
    // The rules in force, over the package's resources and the YAML checked with it.
    diagnostics.extend(crate::policy::evaluate(&lowered, manifest.as_ref(), &targets));
    let superseded: Vec<codes::Code> = crate::policy::SUPERSEDED
        .iter()
        .filter(|(rule, _)| {
            lowered.rules.iter().any(|r| r.name == *rule && r.module.starts_with("std."))
                || manifest
                    .as_ref()
                    .is_some_and(|m| m.rule_severities.iter().any(|(n, s)| n.value == *rule && s.value == "off"))
        })
        .map(|(_, code)| *code)
        .collect();
    diagnostics.retain(|d| !superseded.contains(&d.code));

    let package = envoy_target::Package { manifest: manifest.as_ref(), lowered: &lowered, assets };
    let (bootstraps, bootstrap_diagnostics) = envoy_target::bootstraps(package, &targets);
    // A bootstrap carries the package's own Envoy values, which the checker has already
    // checked where they were written; a mistake found there again is not news.
    let already_reported: std::collections::HashSet<(&str, Span)> =
        diagnostics.iter().map(|d| (d.code.as_str(), d.primary_span())).collect();
    let fresh: Vec<Diagnostic> = bootstrap_diagnostics
        .into_iter()
        .filter(|d| !already_reported.contains(&(d.code.as_str(), d.primary_span())))
        .collect();
    diagnostics.extend(fresh);

    diagnostic::sort(&mut diagnostics);
    Analysis { manifest, targets, files, lowered, bootstraps, diagnostics }
}

/// What packages checked or built together say about each other: the same resource
/// declared by two of them (E0202), and two Telemetry resources at one scope (W0310).
/// The diagnostics of each package, in the order given, point at its own
/// declaration and name the other package's by file and line.
pub fn check_together(packages: &[(&SourceDb, &Analysis)]) -> Vec<Vec<Diagnostic>> {
    let mut out: Vec<Vec<Diagnostic>> = vec![Vec::new(); packages.len()];
    let mut resources: std::collections::HashMap<String, (usize, Span)> = std::collections::HashMap::new();
    let mut scopes: std::collections::HashMap<String, (usize, Span)> = std::collections::HashMap::new();
    let place = |index: usize, span: Span| {
        let (db, _) = packages[index];
        let file = db.get(span.file);
        let at = file.line_index.line_col(&file.text, span.start);
        format!("{}:{}:{}", file.path, at.line, at.column)
    };
    let mut proxies: std::collections::HashMap<String, (usize, Span)> = std::collections::HashMap::new();
    for (index, (_, analysis)) in packages.iter().enumerate() {
        // The bootstraps of proxies are written at PROXY/envoy-VERSION.yaml.
        for proxy in &analysis.lowered.proxies {
            match proxies.get(&proxy.name) {
                Some(&(first, first_span)) if first != index => out[index].push(
                    Diagnostic::new(
                        codes::DUPLICATE_NAME,
                        proxy.span,
                        format!("another package also declares a proxy named `{}`", proxy.name),
                    )
                    .with_label_message("declared again here")
                    .with_note(format!("first declared at {}", place(first, first_span))),
                ),
                Some(_) => {}
                None => {
                    proxies.insert(proxy.name.clone(), (index, proxy.span));
                }
            }
        }
        for generated in &analysis.lowered.resources {
            let path = emit::output_path(&generated.resource);
            match resources.get(&path) {
                Some(&(first, first_span)) if first != index => {
                    let meta = generated.resource.metadata();
                    out[index].push(
                        Diagnostic::new(
                            codes::DUPLICATE_NAME,
                            generated.origin,
                            format!(
                                "another package also declares the {} `{}` in namespace `{}`",
                                generated.resource.kind(),
                                meta.name,
                                meta.namespace
                            ),
                        )
                        .with_label_message("declared again here")
                        .with_note(format!("first declared at {}", place(first, first_span)))
                        .with_help(
                            "packages built together write one output directory, where each resource has one file",
                        ),
                    );
                }
                Some(_) => {}
                None => {
                    resources.insert(path, (index, generated.origin));
                }
            }
            if let crate::model::istio::Resource::Telemetry(telemetry) = &generated.resource {
                let key = format!(
                    "{}|{:?}|{:?}",
                    telemetry.metadata.namespace,
                    telemetry.spec.selector.as_ref().map(|s| &s.match_labels),
                    telemetry.spec.target_refs.iter().map(|t| (&t.kind, &t.name)).collect::<Vec<_>>()
                );
                match scopes.get(&key) {
                    Some(&(first, first_span)) if first != index => out[index].push(
                        Diagnostic::new(
                            codes::DUPLICATE_SCOPE,
                            generated.origin,
                            "a Telemetry of another package already applies at this scope",
                        )
                        .with_severity(crate::diagnostic::Severity::Warning)
                        .with_label_message("second Telemetry at this scope")
                        .with_note(format!("the other one is declared at {}", place(first, first_span)))
                        .with_help("merge the two declarations; istiod applies one of them and ignores the other"),
                    ),
                    Some(_) => {}
                    None => {
                        scopes.insert(key, (index, generated.origin));
                    }
                }
            }
        }
    }
    out
}

/// The Istio resources `meshc build` writes, in a stable order.
///
/// Two declarations that would produce the same path were already reported as
/// duplicates by the checker; here the first one wins.
pub fn istio_outputs(analysis: &Analysis) -> Vec<OutputFile> {
    let mut seen = std::collections::HashSet::new();
    let mut files: Vec<OutputFile> = Vec::new();
    for generated in &analysis.lowered.resources {
        let path = emit::output_path(&generated.resource);
        if !seen.insert(path.clone()) {
            continue;
        }
        files.push(OutputFile { path, contents: emit::to_yaml(&generated.resource) });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

/// What `meshc build --target admission` writes: a ValidatingAdmissionPolicy and its
/// binding per rule in force (`cluster/ValidatingAdmissionPolicy/NAME.yaml`), so that
/// the cluster enforces the rules on YAML that never went through meshc; and a note for
/// each rule an admission policy cannot carry.
pub fn admission_outputs(analysis: &Analysis) -> (Vec<OutputFile>, Vec<Diagnostic>) {
    let package = analysis.manifest.as_ref().map(|m| m.name.value.as_str()).unwrap_or("package");
    let mesh = crate::policy::mesh_context(analysis.manifest.as_ref(), &analysis.targets);
    let mut files = Vec::new();
    let mut notes = Vec::new();
    for rule in &analysis.lowered.rules {
        match crate::policy::admission_policy(rule, package, &mesh) {
            Ok((policy, binding)) => {
                for object in [policy, binding] {
                    let kind = object["kind"].as_str().unwrap_or_default();
                    let name = object["metadata"]["name"].as_str().unwrap_or_default();
                    let mut contents = emit::json_to_yaml(&object);
                    if !contents.ends_with('\n') {
                        contents.push('\n');
                    }
                    files.push(OutputFile { path: format!("cluster/{kind}/{name}.yaml"), contents });
                }
            }
            Err(reason) => notes.push(
                Diagnostic::new(codes::NOT_ADMISSION_ENFORCEABLE, rule.origin, reason)
                    .with_label_message("not emitted as an admission policy")
                    .with_help("meshc still checks it on everything it builds and checks"),
            ),
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    (files, notes)
}

/// The bootstraps `meshc build --target envoy` writes: `PROXY/envoy-VERSION.yaml`.
pub fn envoy_outputs(analysis: &Analysis) -> Vec<OutputFile> {
    let mut files: Vec<OutputFile> = analysis
        .bootstraps
        .iter()
        .map(|b| OutputFile {
            path: format!("{}/envoy-{}.yaml", b.proxy.replace('_', "-"), b.envoy),
            contents: emit::json_to_yaml(&b.config.to_json()),
        })
        .collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effective::{self, Side, TagChange, Workload};

    /// The reference document's Telemetry resources at their levels: the mesh-wide
    /// `mesh_telemetry` (tracing, a tag on ALL_METRICS, an access log of errors) and
    /// `custom_metrics` of `my-app` (a tag on REQUEST_COUNT, REQUEST_DURATION disabled
    /// on the server side). A workload of `my-app` gets both, layered as istiod
    /// layers them; the second mesh-wide Telemetry (`tracing_config`) is ignored, as
    /// istiod takes the first at a scope.
    #[test]
    fn the_seeds_telemetry_layers_merge_as_istiod_merges_them() {
        let mut db = SourceDb::with_stdlib();
        db.add("mesh.toml", include_str!("../../examples/seed/mesh.toml"), SourceKind::Manifest);
        db.add("telemetry.mesh", include_str!("../../examples/seed/telemetry.mesh"), SourceKind::Package);
        let analysis = analyze(&db, &NoAssets);
        let labels = std::collections::BTreeMap::from([("app".to_string(), "my-service".to_string())]);
        let workload = Workload { namespace: "my-app", labels: &labels };
        let server = effective::telemetry(&analysis.lowered, analysis.root_namespace(), workload, Side::Server);
        let names: Vec<&str> = server.layers.iter().map(|g| g.resource.metadata().name.as_str()).collect();
        assert_eq!(names, ["mesh-telemetry", "custom-metrics"]);

        let prometheus = &server.metrics["prometheus"];
        let count = &prometheus.metrics["REQUEST_COUNT"];
        let tags: Vec<(&str, &TagChange)> = count.tags.iter().map(|(k, (c, _))| (k.as_str(), c)).collect();
        assert!(
            matches!(
                tags.as_slice(),
                [("request_host", TagChange::Upsert { .. }), ("request_method", TagChange::Upsert { .. })]
            ),
            "{tags:?}"
        );
        assert!(prometheus.metrics["REQUEST_DURATION"].disabled);
        let client = effective::telemetry(&analysis.lowered, analysis.root_namespace(), workload, Side::Client);
        assert!(!client.metrics["prometheus"].metrics["REQUEST_DURATION"].disabled, "disabled on the server side only");

        let tracing = server.tracing.expect("mesh-wide tracing");
        assert_eq!((tracing.provider.as_deref(), tracing.sampling), (Some("opentelemetry"), Some(5.0)));
        assert_eq!(tracing.custom_tags.keys().collect::<Vec<_>>(), ["cluster_name"]);
        let logs: Vec<(&str, Option<&str>)> =
            server.access_logs.iter().map(|l| (l.provider.as_str(), l.filter.as_deref())).collect();
        assert_eq!(logs, [("envoy", Some("response.code >= 400")), ("otel-als", None)]);
    }

    /// A third layer, for the workload: it removes the mesh-wide `request_method`
    /// tag, adds its own, and changes only the sampling of the inherited tracing. The
    /// mesh-wide and namespace changes it does not touch survive it, as in istiod.
    #[test]
    fn a_workload_layer_keeps_what_it_does_not_override() {
        let mut db = SourceDb::with_stdlib();
        db.add("mesh.toml", include_str!("../../examples/seed/mesh.toml"), SourceKind::Manifest);
        db.add("telemetry.mesh", include_str!("../../examples/seed/telemetry.mesh"), SourceKind::Package);
        db.add(
            "workload.mesh",
            "package seed\n\ntelemetry my_service_metrics for workload { app: \"my-service\" } in namespace \"my-app\" {\n  metrics prometheus {\n    REQUEST_COUNT (server) {\n      remove tag request_method\n      tag user_agent = request.headers[\"user-agent\"]\n    }\n  }\n  tracing {\n    sampling 50%\n  }\n  access_log envoy (server) disabled\n}\n",
            SourceKind::Package,
        );
        let analysis = analyze(&db, &NoAssets);
        let errors: Vec<&Diagnostic> = analysis.diagnostics.iter().filter(|d| d.is_error()).collect();
        assert!(errors.is_empty(), "{errors:#?}");
        let labels = std::collections::BTreeMap::from([("app".to_string(), "my-service".to_string())]);
        let workload = Workload { namespace: "my-app", labels: &labels };
        let server = effective::telemetry(&analysis.lowered, analysis.root_namespace(), workload, Side::Server);
        let names: Vec<&str> = server.layers.iter().map(|g| g.resource.metadata().name.as_str()).collect();
        assert_eq!(names, ["mesh-telemetry", "custom-metrics", "my-service-metrics"]);

        let count = &server.metrics["prometheus"].metrics["REQUEST_COUNT"];
        let tags: Vec<(&str, bool)> =
            count.tags.iter().map(|(k, (c, _))| (k.as_str(), matches!(c, TagChange::Remove))).collect();
        assert_eq!(tags, [("request_host", false), ("request_method", true), ("user_agent", false)]);
        // Another metric keeps the mesh-wide tag the workload removed from REQUEST_COUNT only.
        let size = &server.metrics["prometheus"].metrics["REQUEST_SIZE"];
        assert!(matches!(size.tags.get("request_method"), Some((TagChange::Upsert { .. }, _))), "{size:?}");
        assert!(server.metrics["prometheus"].metrics["REQUEST_DURATION"].disabled, "from the namespace layer");

        let tracing = server.tracing.expect("inherited tracing");
        assert_eq!((tracing.provider.as_deref(), tracing.sampling), (Some("opentelemetry"), Some(50.0)));
        assert_eq!(tracing.custom_tags.keys().collect::<Vec<_>>(), ["cluster_name"], "inherited custom tags");
        // istiod's mergeLogs: among the entries of a side, the most specific layer
        // that names providers decides which are in scope. On the server side the
        // workload names only `envoy`, which drops `otel-als`, and disables it; the
        // client side does not see that entry, so it keeps the mesh-wide logs, each
        // with its own filter.
        assert!(server.access_logs.is_empty(), "{:?}", server.access_logs);
        let client = effective::telemetry(&analysis.lowered, analysis.root_namespace(), workload, Side::Client);
        let logs: Vec<(&str, Option<&str>)> =
            client.access_logs.iter().map(|l| (l.provider.as_str(), l.filter.as_deref())).collect();
        assert_eq!(logs, [("envoy", Some("response.code >= 400")), ("otel-als", None)]);
    }

    /// With the cluster's MeshConfig, its defaultProviders stand where no Telemetry
    /// names a provider: here access logs to `envoy`, and no metrics provider at all
    /// (Prometheus is only the Helm chart's default, which this MeshConfig replaced).
    #[test]
    fn the_clusters_default_providers_replace_the_helm_default() {
        let mut db = SourceDb::with_stdlib();
        db.add(
            "mesh.toml",
            "[package]\nname = \"shop\"\nistio = [\"1.30\"]\nmesh_config = \"mesh.yaml\"\n",
            SourceKind::Manifest,
        );
        db.add("mesh.yaml", "defaultProviders:\n  accessLogging: [envoy]\n", SourceKind::MeshConfig);
        db.add("main.mesh", "package shop\n", SourceKind::Package);
        let analysis = analyze(&db, &NoAssets);
        let labels = std::collections::BTreeMap::new();
        let workload = Workload { namespace: "shop", labels: &labels };
        let server = effective::telemetry(&analysis.lowered, analysis.root_namespace(), workload, Side::Server);
        assert!(server.metrics.is_empty(), "{:?}", server.metrics);
        let logs: Vec<&str> = server.access_logs.iter().map(|l| l.provider.as_str()).collect();
        assert_eq!(logs, ["envoy"]);

        let mut helm = SourceDb::with_stdlib();
        helm.add("mesh.toml", "[package]\nname = \"shop\"\nistio = [\"1.30\"]\n", SourceKind::Manifest);
        helm.add("main.mesh", "package shop\n", SourceKind::Package);
        let analysis = analyze(&helm, &NoAssets);
        let server = effective::telemetry(&analysis.lowered, analysis.root_namespace(), workload, Side::Server);
        assert_eq!(server.metrics.keys().collect::<Vec<_>>(), ["prometheus"]);
        assert!(server.access_logs.is_empty());
    }

    /// The raw Envoy target and `meshc explain` build one chain: the bootstrap's HTTP
    /// filters are the explained chain's, less what the official Envoy builds cannot
    /// run, in the same order (EnvoyFilter priority, root namespace first, age).
    #[test]
    fn the_raw_target_and_explain_agree_on_the_chain() {
        let source = r#"package shop

proxy api for workload { app: "api" } in namespace "shop" {
  upstream "127.0.0.1:9000"
}

envoy_filter late for workload { app: "api" } in namespace "shop" {
  insert http_filter before "envoy.filters.http.router" in sidecar_inbound {
    envoy.extensions.filters.http.lua.v3.Lua { default_source_code: { inline_string: "-- late" } }
  }
}

envoy_filter mesh_wide for workload { app: "api" } in namespace "istio-system" {
  insert http_filter before "envoy.filters.http.router" in sidecar_inbound {
    { name: "mesh.lua", typed_config: envoy.extensions.filters.http.lua.v3.Lua { default_source_code: { inline_string: "-- mesh" } } }
  }
}

envoy_filter early for workload { app: "api" } in namespace "shop" {
  priority -1
  insert http_filter after "envoy.filters.http.cors" in sidecar_inbound {
    { name: "early.lua", typed_config: envoy.extensions.filters.http.lua.v3.Lua { default_source_code: { inline_string: "-- early" } } }
  }
  patch http_filter {
    match { context sidecar_inbound proxy { proxy_version "^1\\.28.*" } }
    operation insert_first
    value { name: "only.1.28", typed_config: envoy.extensions.filters.http.lua.v3.Lua { default_source_code: { inline_string: "" } } }
  }
}
"#;
        let mut db = SourceDb::with_stdlib();
        db.add("mesh.toml", "[package]\nname = \"shop\"\nistio = [\"1.30\"]\n", SourceKind::Manifest);
        db.add("main.mesh", source, SourceKind::Package);
        let analysis = analyze(&db, &NoAssets);
        let errors: Vec<&Diagnostic> = analysis.diagnostics.iter().filter(|d| d.is_error()).collect();
        assert!(errors.is_empty(), "{errors:#?}");
        let bootstrap = &analysis.bootstraps.iter().find(|b| b.envoy == "1.38.2").expect("a 1.38 bootstrap").config;
        let json = bootstrap.to_json();
        let filters =
            &json["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"];
        let raw: Vec<&str> = filters.as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
        let labels = std::collections::BTreeMap::from([("app".to_string(), "api".to_string())]);
        let workload = Workload { namespace: "shop", labels: &labels };
        let explained = crate::explain::explain(
            &analysis.lowered,
            analysis.root_namespace(),
            workload,
            &["1.30"],
            crate::explain::SIDECAR_CONTEXTS,
        );
        let chain: Vec<&str> =
            explained[0].chains[0].entries.iter().map(|e| e.name.as_str()).filter(|name| raw.contains(name)).collect();
        assert_eq!(raw, chain);
        assert_eq!(
            raw,
            [
                "envoy.filters.http.grpc_stats",
                "envoy.filters.http.fault",
                "envoy.filters.http.cors",
                "early.lua",
                "istio.stats",
                "mesh.lua",
                "envoy.filters.http.lua",
                "envoy.filters.http.router"
            ]
        );
    }

    /// istiod merges HTTP filters after every other HTTP filter patch, into every
    /// filter of the name, and never into a WasmPlugin's (ECDS) filter; a gateway is
    /// explained with the GATEWAY chain.
    #[test]
    fn explain_merges_last_and_knows_gateways() {
        let source = r#"package shop

envoy_filter merge_first for workload { app: "api" } in namespace "shop" {
  priority -10
  patch http_filter {
    match {
      context sidecar_inbound
      listener { filter_chain { filter { name "envoy.filters.network.http_connection_manager" sub_filter { name "envoy.filters.http.lua" } } } }
    }
    operation merge
    value { name: "envoy.filters.http.lua" }
  }
}

envoy_filter insert_later for workload { app: "api" } in namespace "shop" {
  insert http_filter before "envoy.filters.http.router" in sidecar_inbound {
    envoy.extensions.filters.http.lua.v3.Lua { default_source_code: { inline_string: "" } }
  }
  insert http_filter first in gateway {
    envoy.extensions.filters.http.cors.v3.Cors {}
  }
}
"#;
        let mut db = SourceDb::with_stdlib();
        db.add("mesh.toml", "[package]\nname = \"shop\"\nistio = [\"1.30\"]\n", SourceKind::Manifest);
        db.add("main.mesh", source, SourceKind::Package);
        let analysis = analyze(&db, &NoAssets);
        let labels = std::collections::BTreeMap::from([("app".to_string(), "api".to_string())]);
        let workload = Workload { namespace: "shop", labels: &labels };
        let sidecar = crate::explain::explain(
            &analysis.lowered,
            analysis.root_namespace(),
            workload,
            &["1.30"],
            crate::explain::SIDECAR_CONTEXTS,
        );
        let inbound = &sidecar[0].chains[0];
        let lua = inbound.entries.iter().find(|e| e.name == "envoy.filters.http.lua").expect("the inserted Lua filter");
        assert_eq!(lua.merged.len(), 1, "{inbound:#?}");
        assert!(
            inbound.other_patches.iter().any(|p| p.outcome == "for GATEWAY proxies, not shown here"),
            "{inbound:#?}"
        );
        let gateway = crate::explain::explain(
            &analysis.lowered,
            analysis.root_namespace(),
            workload,
            &["1.30"],
            crate::explain::GATEWAY_CONTEXTS,
        );
        assert_eq!(gateway[0].chains[0].context, "GATEWAY");
        assert_eq!(gateway[0].chains[0].entries[0].name, "envoy.filters.http.cors");
    }

    #[test]
    fn the_stdlib_has_no_diagnostics_and_declares_the_vocabulary() {
        let db = SourceDb::with_stdlib();
        let analysis = analyze(&db, &NoAssets);
        let stdlib: Vec<&Diagnostic> =
            analysis.diagnostics.iter().filter(|d| d.code != codes::MISSING_MANIFEST).collect();
        assert!(stdlib.is_empty(), "{stdlib:#?}");
        let mut diagnostics = Vec::new();
        let symbols = crate::check::symbols::Symbols::collect(&db, None, &analysis.files, &mut diagnostics);
        assert!(symbols.vocabulary.get("request.host").is_some());
        assert!(symbols.metrics.contains_key("REQUEST_COUNT"));
        assert!(symbols.provider_kinds.contains_key("zipkin"));
        assert_eq!(
            symbols.filter_name_for_type("envoy.extensions.filters.http.lua.v3.Lua").as_deref(),
            Some("envoy.filters.http.lua")
        );
    }
}
