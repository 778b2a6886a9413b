//! `meshc import`: Istio YAML (Telemetry, WasmPlugin, EnvoyFilter) back into an
//! idiomatic `.mesh` package that builds to the same resources as data.
//!
//! The input is the documents of one or more YAML streams as spanned [`Node`] trees
//! (read with [`crate::envoy::yaml::parse_yaml_documents`]); the output is the
//! package's files as text and diagnostics that point at the YAML. Each document is
//! translated into one declaration ([`translate`]), in the most idiomatic form first
//! (typed Envoy messages, units, the `insert` form) and in a literal form second.
//! A form is kept only when it builds without errors and its resource equals the
//! document as data ([`verify`]); a document that no form reproduces is refused with
//! a diagnostic at the YAML field that could not be expressed. Values that repeat
//! across documents become `let`s, and every file goes through the formatter.

mod translate;
mod verify;

use crate::diagnostic::codes::{self, Code};
use crate::diagnostic::{Diagnostic, Severity};
use crate::model::node::Node;
use crate::source::{SourceDb, SourceKind};
use crate::span::Span;
use crate::versions::Feature;
use std::collections::BTreeMap;
pub use translate::Style;

/// What the package is called and where documents without a namespace go.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// The package name of `mesh.toml` and of every file's `package` line.
    pub package: String,
    /// The namespace of documents that name none: `kubectl apply` puts them in the
    /// namespace of its context, `default` unless told otherwise.
    pub default_namespace: String,
}

impl Default for ImportOptions {
    fn default() -> ImportOptions {
        ImportOptions { package: "imported".to_string(), default_namespace: crate::crd::DEFAULT_NAMESPACE.to_string() }
    }
}

/// One file of the generated package, by its path relative to the package root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageFile {
    pub path: String,
    pub text: String,
}

/// What happened to one document, in input order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Imported as the declaration of this name, in the given style.
    Imported { declaration: String, style: Style },
    /// Refused: the diagnostic of this code says why.
    Refused { code: Code },
    /// Not a kind meshc generates; left out with a note.
    Skipped,
}

/// The generated package: its files (empty when no document was imported), what
/// became of each document, and the diagnostics about the YAML.
#[derive(Clone, Debug)]
pub struct ImportedPackage {
    pub files: Vec<PackageFile>,
    pub outcomes: Vec<Outcome>,
    pub diagnostics: Vec<Diagnostic>,
}

impl ImportedPackage {
    pub fn refused(&self) -> usize {
        self.outcomes.iter().filter(|o| matches!(o, Outcome::Refused { .. })).count()
    }
}

/// The Istio releases an imported package targets unless a feature needs newer ones:
/// the supported releases that are not in development.
pub(crate) fn default_releases() -> Vec<&'static str> {
    crate::versions::ISTIO_RELEASES.iter().filter(|r| !r.development).map(|r| r.version).collect()
}

/// The releases a package needs for `features`: the default ones that have them all,
/// or, when none has, the releases in development that do.
fn releases_with(features: &[Feature]) -> Vec<&'static str> {
    use crate::versions::{ISTIO_RELEASES, major_minor};
    let since = features.iter().filter_map(|f| major_minor(f.since())).max();
    let has_all = |version: &str| since.is_none_or(|since| major_minor(version).is_some_and(|v| v >= since));
    let stable: Vec<&'static str> = default_releases().into_iter().filter(|v| has_all(v)).collect();
    if !stable.is_empty() {
        return stable;
    }
    ISTIO_RELEASES.iter().map(|r| r.version).filter(|v| has_all(v)).collect()
}

/// A provider a Telemetry document names, and the signal it serves there.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ProviderUse {
    pub name: String,
    pub signal: &'static str,
}

/// Imports every document; see the module documentation. `sources` holds the YAML
/// files the documents were read from (their spans point into it), so that each
/// declaration can say where it came from.
pub fn import_documents(sources: &SourceDb, documents: &[Node], options: &ImportOptions) -> ImportedPackage {
    let mut diagnostics = Vec::new();
    let mut outcomes = Vec::new();
    let mut declarations: Vec<translate::Declaration> = Vec::new();
    let mut names: BTreeMap<String, Span> = BTreeMap::new();
    for document in documents {
        let kind = document.get("kind").and_then(Node::as_str).unwrap_or_default();
        if !matches!(kind, "Telemetry" | "WasmPlugin" | "EnvoyFilter") {
            let at = document.get("kind").map(|k| k.span).unwrap_or(document.span);
            let what = if kind.is_empty() { "a document without a `kind`".to_string() } else { format!("`{kind}`") };
            diagnostics.push(
                Diagnostic::new(codes::IMPORT_SKIPPED_KIND, at, format!("{what} is not imported"))
                    .with_severity(Severity::Note)
                    .with_label_message("meshc generates Telemetry, WasmPlugin and EnvoyFilter only"),
            );
            outcomes.push(Outcome::Skipped);
            continue;
        }
        match import_one(document, options, &mut diagnostics) {
            Ok(mut declaration) => {
                declaration.source = provenance(sources, document.span);
                if let Some(previous) = names.get(&declaration.name) {
                    diagnostics.push(
                        Diagnostic::new(
                            codes::IMPORT_UNSUPPORTED,
                            declaration.name_span,
                            format!("a second document would be the declaration `{}`", declaration.name),
                        )
                        .with_label_message("a package holds one declaration of each name")
                        .with_secondary(*previous, "the first one")
                        .with_help("import the two documents into separate packages"),
                    );
                    outcomes.push(Outcome::Refused { code: codes::IMPORT_UNSUPPORTED });
                    continue;
                }
                names.insert(declaration.name.clone(), declaration.name_span);
                outcomes.push(Outcome::Imported { declaration: declaration.name.clone(), style: declaration.style });
                declarations.push(declaration);
            }
            Err(diagnostic) => {
                outcomes.push(Outcome::Refused { code: diagnostic.code });
                diagnostics.push(diagnostic);
            }
        }
    }
    let files = if declarations.is_empty() {
        Vec::new()
    } else {
        // Each declaration was proven on its own; together, with their `let`s, they
        // must still build. A package that does not is written without sharing.
        let shared = package_files(&declarations, options, true);
        if builds(&shared) { shared } else { package_files(&declarations, options, false) }
    };
    ImportedPackage { files, outcomes, diagnostics }
}

/// `// From FILE, line N.`, for the comment above a declaration.
fn provenance(sources: &SourceDb, span: Span) -> String {
    if (span.file.0 as usize) >= sources.len() {
        return String::new();
    }
    let source = sources.get(span.file);
    let line = source.line_index.line_col(&source.text, span.start).line;
    format!("// From {}, line {line}.\n", source.path)
}

/// Whether the package's files build without errors.
fn builds(files: &[PackageFile]) -> bool {
    let mut db = SourceDb::with_stdlib();
    for file in files {
        let kind = if file.path == "mesh.toml" { SourceKind::Manifest } else { SourceKind::Package };
        db.add(file.path.clone(), file.text.clone(), kind);
    }
    !crate::driver::analyze(&db, &crate::model::NoAssets).has_errors()
}

/// One document: the most idiomatic style that reproduces it, or the reason none does.
fn import_one(
    document: &Node,
    options: &ImportOptions,
    diagnostics: &mut Vec<Diagnostic>,
) -> Result<translate::Declaration, Diagnostic> {
    let mut last_problem = None;
    for style in [Style::Idiomatic, Style::Typed, Style::Literal] {
        let declaration = translate::translate(document, options, style)?;
        match verify::verify(document, &declaration, options) {
            Ok(()) => {
                diagnostics.extend(declaration.warnings.iter().cloned());
                return Ok(declaration);
            }
            Err(problem) => last_problem = Some(problem),
        }
    }
    Err(last_problem.expect("at least one style was tried"))
}

/// The manifest of a package holding `declarations`.
pub(crate) fn manifest_text(declarations: &[&translate::Declaration], options: &ImportOptions) -> String {
    let features: Vec<Feature> = declarations.iter().flat_map(|d| d.features.iter().copied()).collect();
    let releases = releases_with(&features);
    let mut out = String::new();
    out.push_str("# Generated by `meshc import`.\n[package]\n");
    out.push_str(&format!("name = {}\n", toml_string(&options.package)));
    if releases != default_releases() {
        let mut needed: Vec<String> =
            features.iter().map(|f| format!("{} (since Istio {})", f.describe(), f.since())).collect();
        needed.sort();
        needed.dedup();
        out.push_str(&format!("# Only the releases that have what the YAML uses: {}.\n", needed.join(", ")));
    }
    let quoted: Vec<String> = releases.iter().map(|r| toml_string(r)).collect();
    out.push_str(&format!("istio = [{}]\n", quoted.join(", ")));
    let mut providers: Vec<ProviderUse> = declarations.iter().flat_map(|d| d.providers.iter().cloned()).collect();
    providers.sort();
    providers.dedup_by(|a, b| a.name == b.name);
    let providers: Vec<ProviderUse> =
        providers.into_iter().filter(|p| !matches!(p.name.as_str(), "prometheus" | "envoy")).collect();
    if !providers.is_empty() {
        out.push_str("\n[providers]\n");
        for provider in providers {
            let (kind, known) = provider_kind(&provider);
            if !known {
                out.push_str(&format!(
                    "# The YAML names `{}` for {} but not its kind: `{kind}` is a guess that the checker accepts for that signal. Check it against the cluster's MeshConfig extensionProviders.\n",
                    provider.name,
                    provider.signal.replace('_', " ")
                ));
            }
            out.push_str(&format!("{} = {{ kind = {} }}\n", toml_key(&provider.name), toml_string(kind)));
        }
    }
    out
}

/// The provider kind a name suggests, and whether the name says it for sure.
fn provider_kind(provider: &ProviderUse) -> (&'static str, bool) {
    let name = provider.name.to_ascii_lowercase();
    match provider.signal {
        "tracing" => {
            for (word, kind) in [
                ("zipkin", "zipkin"),
                ("jaeger", "zipkin"),
                ("skywalking", "skywalking"),
                ("datadog", "datadog"),
                ("lightstep", "lightstep"),
                ("stackdriver", "stackdriver"),
                ("opentelemetry", "opentelemetry"),
                ("otel", "opentelemetry"),
            ] {
                if name.contains(word) {
                    return (kind, name == kind);
                }
            }
            ("opentelemetry", false)
        }
        "access_logging" => {
            if name.contains("otel") || name.contains("opentelemetry") {
                ("envoy_otel_als", false)
            } else if name.contains("http") && name.contains("als") {
                ("envoy_http_als", false)
            } else if name.contains("tcp") && name.contains("als") {
                ("envoy_tcp_als", false)
            } else {
                ("envoy_file_access_log", false)
            }
        }
        _ => ("prometheus", false),
    }
}

fn toml_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

fn toml_key(key: &str) -> String {
    if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        key.to_string()
    } else {
        toml_string(key)
    }
}

/// A candidate for a `let`: a value written the same in several declarations.
struct Shared {
    text: String,
    name: String,
}

/// The package's files: `mesh.toml`, a file per kind, and `shared.mesh` for the
/// `let`s of values that repeat across documents; every `.mesh` file formatted.
fn package_files(declarations: &[translate::Declaration], options: &ImportOptions, share: bool) -> Vec<PackageFile> {
    let refs: Vec<&translate::Declaration> = declarations.iter().collect();
    let mut files = vec![PackageFile { path: "mesh.toml".to_string(), text: manifest_text(&refs, options) }];
    // Values that stand in more than one declaration: workload selectors and long
    // strings (Lua sources above all). A `let` names them once.
    let mut counts: BTreeMap<&str, (usize, &str, &str)> = BTreeMap::new();
    for declaration in declarations {
        let mut seen_here: Vec<&str> = Vec::new();
        for candidate in &declaration.shareable {
            if seen_here.contains(&candidate.text.as_str()) {
                continue;
            }
            seen_here.push(&candidate.text);
            let entry = counts.entry(&candidate.text).or_insert((0, &candidate.name, &declaration.name));
            entry.0 += 1;
        }
    }
    let mut shared: Vec<Shared> = Vec::new();
    let mut used_names: Vec<String> = declarations.iter().map(|d| d.name.clone()).collect();
    for (text, (count, name, _)) in &counts {
        if *count < 2 || !share {
            continue;
        }
        let mut name = name.to_string();
        let mut n = 2;
        while used_names.contains(&name) {
            name = format!("{}_{n}", name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '_'));
            n += 1;
        }
        used_names.push(name.clone());
        shared.push(Shared { text: text.to_string(), name });
    }
    // Longer texts first, so that a value inside another is replaced after it.
    shared.sort_by(|a, b| b.text.len().cmp(&a.text.len()));
    let header = format!("package {}\n\n", options.package);
    if !shared.is_empty() {
        let mut text = header.clone();
        text.push_str("// Values that several imported resources share.\n");
        let mut by_name: Vec<&Shared> = shared.iter().collect();
        by_name.sort_by(|a, b| a.name.cmp(&b.name));
        for value in by_name {
            text.push_str(&format!("let {} = {}\n\n", value.name, value.text));
        }
        files.push(PackageFile { path: "shared.mesh".to_string(), text: formatted(text) });
    }
    for (path, keyword) in
        [("telemetry.mesh", "telemetry"), ("plugins.mesh", "wasm_plugin"), ("filters.mesh", "envoy_filter")]
    {
        let of_kind: Vec<&translate::Declaration> = declarations.iter().filter(|d| d.keyword == keyword).collect();
        if of_kind.is_empty() {
            continue;
        }
        let mut text = header.clone();
        if of_kind.iter().any(|d| d.uses_std_filters) {
            text.push_str("import std.filters\n\n");
        }
        for declaration in of_kind {
            let mut body = declaration.text.clone();
            for value in &shared {
                body = replace_values(&body, &value.text, &value.name);
            }
            text.push_str(&declaration.source);
            text.push_str(&body);
            text.push_str("\n\n");
        }
        files.push(PackageFile { path: path.to_string(), text: formatted(text) });
    }
    files
}

/// Replaces `value` where it stands as a whole value (after a `{`, `:`, `workload`
/// or the start of a patch value), never inside a string.
fn replace_values(text: &str, value: &str, name: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(value) {
        let before = rest[..at].trim_end();
        let whole = before.ends_with(':')
            || before.ends_with('{')
            || before.ends_with("workload")
            || before.ends_with("value")
            || before.ends_with("inline_code")
            || before.ends_with(',');
        out.push_str(&rest[..at]);
        out.push_str(if whole { name } else { value });
        rest = &rest[at + value.len()..];
    }
    out.push_str(rest);
    out
}

/// The formatter's canonical text; generated text always parses, but if it did not,
/// the text is kept as it is rather than lost.
fn formatted(text: String) -> String {
    crate::fmt::format_source(&text).unwrap_or(text)
}

/// A refusal: the document cannot be imported faithfully because of the field at `span`.
pub(crate) fn refuse(span: Span, message: impl Into<String>, why: impl Into<String>) -> Diagnostic {
    Diagnostic::new(codes::IMPORT_UNSUPPORTED, span, message).with_label_message(why)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envoy::yaml::parse_yaml_documents;

    fn import(text: &str) -> ImportedPackage {
        let mut sources = SourceDb::new();
        let file = sources.add("in.yaml", text, SourceKind::Other);
        let (documents, diagnostics) = parse_yaml_documents(file, text, codes::IMPORT_INVALID_YAML);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        import_documents(&sources, &documents, &ImportOptions::default())
    }

    fn file<'p>(package: &'p ImportedPackage, path: &str) -> &'p str {
        &package.files.iter().find(|f| f.path == path).expect("the file is written").text
    }

    #[test]
    fn durations_are_written_in_units_only_when_protobuf_writes_them_back_the_same() {
        assert_eq!(translate::duration_literal("300s").as_deref(), Some("5m"));
        assert_eq!(translate::duration_literal("0.250s").as_deref(), Some("250ms"));
        assert_eq!(translate::duration_literal("0.25s"), None);
        assert_eq!(translate::duration_literal("5m"), None);
        assert_eq!(translate::duration_literal("abc"), None);
    }

    #[test]
    fn a_telemetry_becomes_a_declaration_with_its_scope_and_provider() {
        let package = import(
            "apiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata:\n  name: mesh-default\n  namespace: istio-system\nspec:\n  tracing:\n  - providers:\n    - name: otel\n    randomSamplingPercentage: 5\n",
        );
        assert_eq!(
            package.outcomes,
            [Outcome::Imported { declaration: "mesh_default".into(), style: Style::Idiomatic }]
        );
        assert!(
            file(&package, "telemetry.mesh")
                .contains("telemetry mesh_default mesh {\n  tracing otel {\n    sampling 5%")
        );
        assert!(file(&package, "mesh.toml").contains("otel = { kind = \"opentelemetry\" }"));
        assert!(file(&package, "mesh.toml").contains("Check it against the cluster"));
    }

    #[test]
    fn an_unknown_field_is_refused_at_its_line() {
        let text = "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata:\n  name: p\n  namespace: a\nspec:\n  url: oci://x/y:1\n  frobnicate: true\n";
        let package = import(text);
        assert_eq!(package.outcomes, [Outcome::Refused { code: codes::IMPORT_UNSUPPORTED }]);
        let span = package.diagnostics[0].primary_span();
        assert_eq!(&text[span.range()], "frobnicate");
        assert!(package.files.is_empty());
    }

    #[test]
    fn other_kinds_are_skipped_with_a_note() {
        let package = import("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n");
        assert_eq!(package.outcomes, [Outcome::Skipped]);
        assert_eq!(package.diagnostics[0].severity, Severity::Note);
    }
}
