//! `meshc import` on every document of the real corpus (`../shared/reference/
//! istio-real-corpus/`): each document is imported into a package of its own, and
//! that package must build without errors to the document's data; or the document is
//! refused with a diagnostic. The documents of `expected-invalid/`, which Istio's CRD
//! validation rejects, must be refused. meshc gives its own first reason, which is
//! not always Istio's: the three waypoint documents have no `patch`, which meshc
//! needs before it can judge the match, so they are refused for that.
//!
//! The comparison reads both sides with serde_norway (the original file and the YAML
//! meshc writes), independently of the importer's own check, and normalises only what
//! [`normalize`] lists, each with its reason.

use crate::shared;
use meshc_compiler::diagnostic::codes;
use meshc_compiler::driver;
use meshc_compiler::envoy::yaml::parse_yaml_documents;
use meshc_compiler::import::{ImportOptions, Outcome, import_documents};
use meshc_compiler::model::NoAssets;
use meshc_compiler::model::node::{Node, NodeKind};
use meshc_compiler::source::{SourceDb, SourceKind};
use serde_json::{Map, Value as Json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The corpus annotates each expected-invalid document with the error Istio reports,
/// in a top-level `_err` field that is not part of the resource.
const ANNOTATION: &str = "_err";

/// The figures of one run, for the report and the assertions.
#[derive(Default)]
pub struct Figures {
    pub imported: usize,
    /// Imported documents by the style that reproduced them.
    pub styles: BTreeMap<String, usize>,
    /// Refusals by code and message.
    pub refused: BTreeMap<String, usize>,
    pub problems: Vec<String>,
}

impl Figures {
    pub fn refused_total(&self) -> usize {
        self.refused.values().sum()
    }

    pub fn report(&self) -> String {
        let styles: Vec<String> = self.styles.iter().map(|(style, n)| format!("{n} {style}")).collect();
        let mut out = format!("imported {} ({}), refused {}\n", self.imported, styles.join(", "), self.refused_total());
        for (reason, count) in &self.refused {
            out.push_str(&format!("  {count:3}  {reason}\n"));
        }
        out
    }
}

pub fn corpus_documents(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for kind in ["envoyfilter", "telemetry", "wasmplugin"] {
        let Ok(entries) = std::fs::read_dir(dir.join(kind)) else { continue };
        files.extend(entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "yaml")));
    }
    files.sort();
    files
}

pub fn corpus_dir() -> PathBuf {
    shared().join("reference/istio-real-corpus")
}

/// Imports and checks every document under `dir`; `must_refuse` for expected-invalid ones.
pub fn run(dir: &Path, must_refuse: bool) -> Figures {
    let mut figures = Figures::default();
    for path in corpus_documents(dir) {
        let name = path.strip_prefix(dir).unwrap_or(&path).display().to_string();
        let text = std::fs::read_to_string(&path).expect("a corpus file is readable");
        let mut sources = SourceDb::new();
        let file = sources.add(name.clone(), text.clone(), SourceKind::Other);
        let (documents, diagnostics) = parse_yaml_documents(file, &text, codes::IMPORT_INVALID_YAML);
        if !diagnostics.is_empty() || documents.len() != 1 {
            figures.problems.push(format!("{name}: expected one readable document"));
            continue;
        }
        let document = without_annotation(&documents[0]);
        let options = ImportOptions { package: "imported".into(), default_namespace: "default".into() };
        let imported = import_documents(&sources, std::slice::from_ref(&document), &options);
        match &imported.outcomes[..] {
            [Outcome::Imported { style, .. }] => {
                figures.imported += 1;
                *figures.styles.entry(format!("{style:?}").to_lowercase()).or_default() += 1;
                if must_refuse {
                    figures.problems.push(format!("{name}: Istio rejects it, but meshc imported it"));
                    continue;
                }
                if let Err(problem) = rebuilds_the_same(&text, &imported.files, &options.default_namespace) {
                    figures.problems.push(format!("{name}: {problem}"));
                }
            }
            [Outcome::Refused { code }] => {
                let Some(diagnostic) = imported.diagnostics.iter().find(|d| d.code == *code) else {
                    figures.problems.push(format!("{name}: refused without a diagnostic"));
                    continue;
                };
                if diagnostic.primary_span().file != file || diagnostic.primary_span().end as usize > text.len() {
                    figures.problems.push(format!("{name}: the refusal does not point into the YAML"));
                }
                *figures.refused.entry(format!("[{code}] {}", reason(&diagnostic.message))).or_default() += 1;
            }
            other => figures.problems.push(format!("{name}: neither imported nor refused: {other:?}")),
        }
    }
    figures
}

/// Imports every document under `dir` into one package, as `meshc import DIR` does:
/// the package (with the `let`s of shared values) must build without errors, and each
/// resource must equal its document. Returns how many resources were compared.
pub fn run_together(dir: &Path) -> Result<usize, String> {
    let mut sources = SourceDb::new();
    let mut documents = Vec::new();
    let mut texts = Vec::new();
    for path in corpus_documents(dir) {
        let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
        let file = sources.add(path.display().to_string(), text.clone(), SourceKind::Other);
        let (read, _) = parse_yaml_documents(file, &text, codes::IMPORT_INVALID_YAML);
        for document in read {
            documents.push(document);
            texts.push(text.clone());
        }
    }
    let options = ImportOptions { package: "corpus".into(), default_namespace: "default".into() };
    let imported = import_documents(&sources, &documents, &options);
    if !imported.files.iter().any(|f| f.path == "shared.mesh") {
        return Err("the corpus shares values (workload selectors), but no `let` was written".into());
    }
    let mut db = SourceDb::with_stdlib();
    for file in &imported.files {
        let kind = if file.path == "mesh.toml" { SourceKind::Manifest } else { SourceKind::Package };
        db.add(&file.path, file.text.clone(), kind);
    }
    let analysis = driver::analyze(&db, &NoAssets);
    if analysis.has_errors() {
        let errors: Vec<_> = analysis.diagnostics.iter().filter(|d| d.is_error()).cloned().collect();
        return Err(meshc_compiler::diagnostic::render::render_plain(&db, &errors));
    }
    let mut rebuilt: BTreeMap<String, Json> = BTreeMap::new();
    for output in driver::istio_outputs(&analysis) {
        let value: Json = serde_norway::from_str(&output.contents).map_err(|e| e.to_string())?;
        rebuilt.insert(identity(&value, "default"), normalize(value, "default"));
    }
    let mut compared = 0;
    for (outcome, text) in imported.outcomes.iter().zip(&texts) {
        if !matches!(outcome, Outcome::Imported { .. }) {
            continue;
        }
        let original: Json = serde_norway::from_str(text).map_err(|e| e.to_string())?;
        let key = identity(&original, "default");
        match rebuilt.get(&key) {
            Some(value) if *value == normalize(original.clone(), "default") => compared += 1,
            Some(value) => return Err(format!("{key} differs:\n  yaml:    {original}\n  rebuilt: {value}")),
            None => return Err(format!("{key} was imported but the package does not generate it")),
        }
    }
    Ok(compared)
}

/// KIND/NAMESPACE/NAME of a resource.
fn identity(resource: &Json, default_namespace: &str) -> String {
    let metadata = &resource["metadata"];
    format!(
        "{}/{}/{}",
        resource["kind"].as_str().unwrap_or_default(),
        metadata["namespace"].as_str().unwrap_or(default_namespace),
        metadata["name"].as_str().unwrap_or_default()
    )
}

/// The kind of a refusal without the document's own names, so that counts group.
fn reason(message: &str) -> String {
    let mut out = String::new();
    let mut in_quote = false;
    for c in message.chars() {
        if c == '`' {
            in_quote = !in_quote;
            out.push_str(if in_quote { "`…" } else { "`" });
        } else if !in_quote {
            out.push(c);
        }
    }
    out.chars().take(90).collect()
}

fn without_annotation(document: &Node) -> Node {
    let mut document = document.clone();
    if let NodeKind::Object(members) = &mut document.kind {
        members.retain(|m| m.key != ANNOTATION);
    }
    document
}

/// Builds the imported package and compares its one resource with the original text.
fn rebuilds_the_same(
    original: &str,
    files: &[meshc_compiler::import::PackageFile],
    default_namespace: &str,
) -> Result<(), String> {
    let mut db = SourceDb::with_stdlib();
    for file in files {
        if file.path == "mesh.toml" {
            db.add(&file.path, file.text.clone(), SourceKind::Manifest);
        } else {
            let id = db.add(&file.path, file.text.clone(), SourceKind::Package);
            db.set_module(id, file.path.trim_end_matches(".mesh").replace('/', "."));
        }
    }
    let analysis = driver::analyze(&db, &NoAssets);
    if analysis.has_errors() {
        let errors: Vec<_> = analysis.diagnostics.iter().filter(|d| d.is_error()).cloned().collect();
        return Err(format!(
            "the imported package has errors:\n{}",
            meshc_compiler::diagnostic::render::render_plain(&db, &errors)
        ));
    }
    let outputs = driver::istio_outputs(&analysis);
    let [output] = &outputs[..] else {
        return Err(format!("expected one resource, the package has {}", outputs.len()));
    };
    let rebuilt: Json =
        serde_norway::from_str(&output.contents).map_err(|e| format!("the output does not read: {e}"))?;
    let mut expected: Json =
        serde_norway::from_str(original).map_err(|e| format!("the original does not read: {e}"))?;
    if let Json::Object(map) = &mut expected {
        map.remove(ANNOTATION);
    }
    let (expected, rebuilt) = (normalize(expected, default_namespace), normalize(rebuilt, default_namespace));
    if expected != rebuilt {
        return Err(format!(
            "the rebuilt resource differs:\n  yaml:    {expected}\n  rebuilt: {rebuilt}\n  files:\n{}",
            files.iter().map(|f| format!("--- {}\n{}", f.path, f.text)).collect::<String>()
        ));
    }
    Ok(())
}

/// The differences that are not differences, each for a reason:
/// - `apiVersion` is compared by group: Istio serves Telemetry at v1alpha1 and v1, and
///   meshc writes v1, the same schema;
/// - of `metadata`, only name, namespace, labels and annotations: what a declaration
///   sets; the API server fills in the rest (resourceVersion, uid, ...);
/// - a document without a namespace is applied in kubectl's default namespace, where
///   the importer puts it (with warning W0903);
/// - numbers compare as doubles: the CRD fields are numbers, and `10` and `10.0` are one;
/// - a tag override without `operation` is an UPSERT, protobuf's default value, which
///   meshc writes out.
fn normalize(resource: Json, default_namespace: &str) -> Json {
    let Json::Object(mut object) = resource else { return resource };
    if let Some(Json::String(version)) = object.get_mut("apiVersion") {
        *version = version.split('/').next().unwrap_or_default().to_string();
    }
    if let Some(Json::Object(metadata)) = object.get_mut("metadata") {
        metadata.retain(|key, _| matches!(key.as_str(), "name" | "namespace" | "labels" | "annotations"));
        metadata.entry("namespace").or_insert_with(|| Json::String(default_namespace.to_string()));
    }
    if let Some(Json::Array(metrics)) = object.get_mut("spec").and_then(|s| s.get_mut("metrics")) {
        for entry in metrics {
            let Some(Json::Array(overrides)) = entry.get_mut("overrides") else { continue };
            for item in overrides {
                let Some(Json::Object(tags)) = item.get_mut("tagOverrides") else { continue };
                for tag in tags.values_mut().filter_map(Json::as_object_mut) {
                    tag.entry("operation").or_insert_with(|| Json::String("UPSERT".into()));
                }
            }
        }
    }
    doubles(Json::Object(object))
}

fn doubles(value: Json) -> Json {
    match value {
        Json::Number(n) => n.as_f64().and_then(serde_json::Number::from_f64).map(Json::Number).unwrap_or(Json::Null),
        Json::Array(items) => Json::Array(items.into_iter().map(doubles).collect()),
        Json::Object(map) => Json::Object(map.into_iter().map(|(k, v)| (k, doubles(v))).collect::<Map<_, _>>()),
        other => other,
    }
}
