//! The core's CRD validator (`meshc_compiler::crd`) against the reference material:
//! the embedded schemas against `shared/reference/istio-crds/`, the real-world corpus
//! of `shared/reference/istio-real-corpus/` (valid documents pass, the documents the
//! CRDs reject are rejected with the API server's error), and reject cases of our
//! own in `tests/crd-corpus/`. The golden runner compares the core's verdict on
//! every generated resource with the jsonschema validator of [`crate::crd`]
//! ([`agree_with_jsonschema`]).

use meshc_compiler::crd::{self, Kind};
use meshc_compiler::diagnostic::{Diagnostic, codes};
use meshc_compiler::envoy::yaml::parse_yaml_documents;
use meshc_compiler::span::FileId;
use meshc_compiler::versions::{Feature, ISTIO_RELEASES, IstioRelease, istio_supports};
use std::path::{Path, PathBuf};

fn corpus_dir() -> PathBuf {
    super::shared().join("reference/istio-real-corpus")
}

/// Reads a YAML stream into its documents; a YAML error is a failure of the test.
fn documents(path: &Path) -> Result<(String, Vec<meshc_compiler::model::node::Node>), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (documents, errors) = parse_yaml_documents(FileId(0), &text, codes::CRD_INVALID_DOCUMENT);
    if !errors.is_empty() {
        return Err(format!("{}: {:?}", path.display(), errors));
    }
    Ok((text, documents))
}

/// The rows of an `index.tsv`, as maps from the header's column names.
fn index(path: &Path) -> Result<Vec<std::collections::BTreeMap<String, String>>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().ok_or("an empty index")?.split('\t').collect();
    Ok(lines
        .filter(|l| !l.trim().is_empty())
        .map(|line| header.iter().map(|h| h.to_string()).zip(line.split('\t').map(str::to_string)).collect())
        .collect())
}

/// The embedded schemas are exactly what `xtask extract-crds` writes from the
/// reference files today.
pub fn embedded_schemas_match_the_reference() -> Result<(), String> {
    let mut problems = Vec::new();
    for release in ISTIO_RELEASES {
        let folder = super::shared().join("reference/istio-crds").join(crd::source_folder(release));
        let mut texts = Vec::new();
        for kind in Kind::ALL {
            let path = folder.join(kind.source_file());
            texts.push((kind, std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?));
        }
        let sources: Vec<(Kind, &str)> = texts.iter().map(|(k, t)| (*k, t.as_str())).collect();
        let expected = crd::compact_release(release, &sources)?;
        if crd::embedded_text(release.version) != Some(expected.as_str()) {
            problems.push(format!(
                "compiler/crds/istio-{}.json differs from {}; run `cargo run -p xtask -- extract-crds`",
                release.version,
                folder.display()
            ));
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join("\n")) }
}

/// The Istio features a corpus document uses, read from its `features` column, so
/// that it is validated only for the releases whose CRDs have them.
fn features_of(features: &str) -> Vec<Feature> {
    let mut out = Vec::new();
    for token in features.split(';') {
        if token.ends_with("@WAYPOINT") {
            out.push(Feature::WaypointContext);
        }
        if token.contains("MERGE_AND_REPLACE_LIST") {
            out.push(Feature::PatchMergeAndReplaceList);
        }
        if token == "disableContextPropagation" {
            out.push(Feature::TracingDisableContextPropagation);
        }
        if token == "customTag:formatter" {
            out.push(Feature::TelemetryFormatterTag);
        }
        if token.contains("transportSocket") {
            out.push(Feature::FilterChainTransportSocketMatch);
        }
    }
    out
}

/// Corpus documents that Istio's analyzer tests load without the API server, which
/// rejects them: the code meshc must report, and why.
const REJECTED_BY_THE_API_SERVER: &[(&str, &str, &str)] = &[
    (
        "envoyfilter/istio-analyzer-envoy-filter-add-operation--test-auth-4.yaml",
        "E0801",
        "`match.app` is not a field of a patch match (the fixture meant a workload selector)",
    ),
    (
        "envoyfilter/istio-analyzer-envoy-filter-add-operation--test-auth-5.yaml",
        "E0801",
        "`match.app` is not a field of a patch match (the fixture meant a workload selector)",
    ),
    (
        "telemetry/istio-analyzer-k8sgateway-selector--telemetry-effective.yaml",
        "E0808",
        "it sets both `selector` and `targetRef`, which the Telemetry CRD's rule forbids",
    ),
];

fn errors(diagnostics: &[Diagnostic]) -> Vec<String> {
    diagnostics.iter().filter(|d| d.is_error()).map(|d| format!("[{}] {}", d.code, d.message)).collect()
}

/// Every valid corpus document passes in the releases that have its features, and
/// fails in the others (which proves the features column right).
pub fn real_corpus_validates() -> Result<(), String> {
    let rows = index(&corpus_dir().join("index.tsv"))?;
    let mut problems = Vec::new();
    let mut passed = 0;
    let mut rejected = 0;
    let mut warnings = Vec::new();
    for row in &rows {
        let file = &row["file"];
        let (_, docs) = documents(&corpus_dir().join(file))?;
        if docs.len() != 1 {
            problems.push(format!("{file}: {} documents, one expected", docs.len()));
            continue;
        }
        let features = features_of(row.get("features").map(String::as_str).unwrap_or(""));
        let (with, without): (Vec<&'static IstioRelease>, Vec<&'static IstioRelease>) =
            ISTIO_RELEASES.iter().partition(|r| features.iter().all(|f| istio_supports(r.version, *f)));
        let diagnostics = crd::validate(&docs[0], &with);
        warnings.extend(
            diagnostics.iter().filter(|d| !d.is_error()).map(|d| format!("{file}: [{}] {}", d.code, d.message)),
        );
        let found = errors(&diagnostics);
        if let Some((_, code, why)) = REJECTED_BY_THE_API_SERVER.iter().find(|(f, _, _)| f == file) {
            let wanted = format!("[{code}]");
            if !found.iter().any(|e| e.starts_with(&wanted)) {
                problems.push(format!("{file} must be rejected with {code}, since {why}; found {found:?}"));
            }
            rejected += 1;
            continue;
        }
        if !found.is_empty() {
            let names: Vec<&str> = with.iter().map(|r| r.version).collect();
            problems.push(format!("{file} is rejected in Istio {}:\n  {}", names.join(", "), found.join("\n  ")));
            continue;
        }
        for release in without {
            if errors(&crd::validate(&docs[0], &[release])).is_empty() {
                problems.push(format!("{file} uses {features:?}, yet Istio {} accepts it", release.version));
            }
        }
        passed += 1;
    }
    if rows.len() < 100 {
        problems.push(format!("only {} corpus documents were found", rows.len()));
    }
    if problems.is_empty() {
        eprintln!(
            "crd corpus: {passed} of {} documents pass in the releases that have their features, {rejected} are rejected as the API server rejects them",
            rows.len()
        );
        for warning in &warnings {
            eprintln!("  {warning}");
        }
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// The error of an expected-invalid document, without its quotes.
fn expected_error(text: &str) -> String {
    text.trim().trim_matches(|c| c == '\'' || c == '"').to_string()
}

/// Each document the CRDs reject is rejected, in some release, with a diagnostic
/// whose message carries the API server's error.
pub fn expected_invalid_documents_are_rejected() -> Result<(), String> {
    let dir = corpus_dir().join("expected-invalid");
    let rows = index(&dir.join("index.tsv"))?;
    let mut problems = Vec::new();
    for row in &rows {
        let file = &row["file"];
        let (_, docs) = documents(&dir.join(file))?;
        let expected = expected_error(&row["expected_error"]);
        let diagnostics: Vec<Diagnostic> = docs.iter().flat_map(|d| crd::validate(d, &[])).collect();
        if !diagnostics.iter().any(|d| d.is_error() && d.message.contains(&expected)) {
            problems.push(format!(
                "{file}: no error carries {expected:?}; found:\n  {}",
                errors(&diagnostics).join("\n  ")
            ));
        }
    }
    if rows.len() != 12 {
        problems.push(format!("{} expected-invalid documents, 12 expected", rows.len()));
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join("\n")) }
}

fn collect_yaml(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_yaml(&path, out);
        } else if path.extension().is_some_and(|x| x == "yaml") {
            out.push(path);
        }
    }
}

/// The reject cases of `tests/crd-corpus/`: each file's first line names the codes
/// it must produce (`# expect: E0801 E0803`), exactly, in order.
pub fn own_reject_cases() -> Result<Vec<String>, String> {
    let dir = super::workspace().join("tests/crd-corpus");
    let mut files = Vec::new();
    collect_yaml(&dir, &mut files);
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    for path in &files {
        let (text, docs) = documents(path)?;
        let expected: Vec<&str> = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect:"))
            .map(|l| l.split_whitespace().collect())
            .unwrap_or_default();
        let schema_case = path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("schema-"));
        let diagnostics: Vec<Diagnostic> = match (schema_case, docs.as_slice()) {
            (true, [schema, value]) => {
                let schema = schema.to_json();
                crd::validate_value(crd::Schema::new(&schema), value, "value", value.span)
            }
            (true, _) => return Err(format!("{}: a schema case holds a schema and a value", path.display())),
            (false, _) => docs.iter().flat_map(|d| crd::validate(d, &[])).collect(),
        };
        let found: Vec<&str> = diagnostics.iter().map(|d| d.code.0).collect();
        if found != expected || expected.is_empty() {
            problems.push(format!(
                "{}: expected {expected:?}, found:\n  {}",
                path.display(),
                diagnostics.iter().map(|d| format!("[{}] {}", d.code, d.message)).collect::<Vec<_>>().join("\n  ")
            ));
        }
        seen.extend(found.iter().map(|c| c.to_string()));
    }
    if files.len() < 5 {
        problems.push(format!("only {} reject cases in {}", files.len(), dir.display()));
    }
    if problems.is_empty() { Ok(seen) } else { Err(problems.join("\n")) }
}

/// Every CEL rule of every embedded CRD compiles, and meshc evaluates it: the count
/// of rules it cannot evaluate is zero (were it not, W0812 would say so per value).
pub fn every_crd_rule_is_evaluated() -> Result<(), String> {
    let mut rules = 0;
    let mut unsupported = Vec::new();
    for release in ISTIO_RELEASES {
        for kind in Kind::ALL {
            let schema = crd::schema(release.version, kind).ok_or("a schema")?;
            let mut stack = vec![schema];
            while let Some(node) = stack.pop() {
                for rule in node.validations() {
                    rules += 1;
                    if let Err(error) = meshc_compiler::cel_eval::Expression::compile(rule.rule) {
                        unsupported.push(format!("Istio {} {}: {}: {error}", release.version, kind.name(), rule.rule));
                    }
                }
                stack.extend(node.property_names().into_iter().filter_map(|n| node.property(n)));
                stack.extend(node.items());
                stack.extend(node.additional_properties());
            }
        }
    }
    if rules < 40 {
        return Err(format!("only {rules} rules were found"));
    }
    if unsupported.is_empty() {
        eprintln!("crd rules: all {rules} rules of the embedded CRDs are evaluated");
        Ok(())
    } else {
        Err(format!("{} of {rules} rules cannot be evaluated:\n{}", unsupported.len(), unsupported.join("\n")))
    }
}

/// The core's verdict on a generated resource (its YAML text) in one release,
/// compared with the jsonschema validator's, which the golden runner has already
/// given: both must accept it, or both reject it. (jsonschema does not reject unknown
/// fields, since the CRD schemas do not forbid additional properties; the core does,
/// as the API server does.)
pub fn agree_with_jsonschema(yaml: &str, release: &IstioRelease, jsonschema_accepts: bool) -> Result<(), String> {
    let (documents, errors_of_yaml) = parse_yaml_documents(FileId(0), yaml, codes::CRD_INVALID_DOCUMENT);
    if !errors_of_yaml.is_empty() || documents.len() != 1 {
        return Err("the output is not one YAML document".to_string());
    }
    let found = errors(&crd::validate(&documents[0], &[release]));
    match (jsonschema_accepts, found.is_empty()) {
        (true, true) | (false, false) => Ok(()),
        (true, false) => {
            Err(format!("jsonschema accepts it in Istio {}, meshc rejects it: {}", release.version, found.join("; ")))
        }
        (false, true) => Err(format!("jsonschema rejects it in Istio {}, meshc accepts it", release.version)),
    }
}

/// The versions each CRD serves, which the core keeps as a table
/// (`Kind::served_versions`), are those the reference records per release
/// (`crd_versions` of `shared/reference/istio-semantics/generated-config.yaml`).
pub fn served_versions_match_the_reference() -> Result<(), String> {
    let path = super::shared().join("reference/istio-semantics/generated-config.yaml");
    let (_, docs) = documents(&path)?;
    let releases = docs.first().and_then(|d| d.get("releases")).ok_or("no `releases` in the reference")?;
    let mut problems = Vec::new();
    let mut compared = 0;
    for release in ISTIO_RELEASES {
        let versions = releases
            .get(release.version)
            .and_then(|r| r.get("crd_versions"))
            .ok_or_else(|| format!("no crd_versions for Istio {}", release.version))?;
        for kind in Kind::ALL {
            let mut recorded: Vec<String> = match versions.get(kind.name()).map(|v| &v.kind) {
                Some(meshc_compiler::model::node::NodeKind::List(items)) => items
                    .iter()
                    .filter_map(|i| i.as_str())
                    .map(|v| v.trim_end_matches("(storage)").to_string())
                    .collect(),
                _ => Vec::new(),
            };
            let mut ours: Vec<String> =
                kind.served_versions().iter().map(|v| format!("{}/{v}", kind.group())).collect();
            recorded.sort();
            ours.sort();
            if recorded != ours {
                problems.push(format!(
                    "Istio {} {}: the reference has {recorded:?}, meshc {ours:?}",
                    release.version,
                    kind.name()
                ));
            }
            compared += 1;
        }
    }
    if problems.is_empty() && compared == ISTIO_RELEASES.len() * 3 { Ok(()) } else { Err(problems.join("\n")) }
}

/// Every scalar under `spec` of a generated resource, replaced by a value of another
/// type (a string by a number, a number or a boolean by a string), gets the same
/// verdict from jsonschema and from the core in `release`: the two validators must
/// agree on invalid resources too, not only on valid ones. Gives how many mutations
/// were compared.
pub fn mutations_agree(resource: &serde_json::Value, release: &IstioRelease) -> Result<usize, String> {
    let mut paths = Vec::new();
    if let Some(spec) = resource.get("spec") {
        scalar_paths(spec, &mut vec!["spec".to_string()], &mut paths);
    }
    let mut problems = Vec::new();
    for path in &paths {
        let mut mutated = resource.clone();
        let Some(leaf) = path.iter().try_fold(&mut mutated, |node, key| match node {
            serde_json::Value::Object(map) => map.get_mut(key),
            serde_json::Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
            _ => None,
        }) else {
            continue;
        };
        *leaf = match leaf {
            serde_json::Value::String(_) => serde_json::json!(12345),
            _ => serde_json::json!("mutated"),
        };
        let by_jsonschema = super::crd::validate(&mutated, &crd::source_folder(release)).is_ok();
        let node =
            meshc_compiler::model::node::Node::from_json(&mutated, meshc_compiler::span::Span::new(FileId(0), 0, 0));
        let by_core = errors(&crd::validate(&node, &[release]));
        if by_jsonschema != by_core.is_empty() {
            problems.push(format!(
                "{} mutated in Istio {}: jsonschema says {}, meshc says {}",
                path.join("."),
                release.version,
                if by_jsonschema { "valid" } else { "invalid" },
                if by_core.is_empty() { "valid".to_string() } else { by_core.join("; ") }
            ));
        }
    }
    if problems.is_empty() { Ok(paths.len()) } else { Err(problems.join("\n")) }
}

fn scalar_paths(value: &serde_json::Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                path.push(key.clone());
                scalar_paths(item, path, out);
                path.pop();
            }
        }
        serde_json::Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                path.push(index.to_string());
                scalar_paths(item, path, out);
                path.pop();
            }
        }
        serde_json::Value::Null => {}
        _ => out.push(path.clone()),
    }
}

/// Every corpus document, cut short at many places, is validated without a panic:
/// half-typed YAML is what an editor sends.
pub fn damaged_documents_never_panic() -> Result<(), String> {
    let mut files = Vec::new();
    collect_yaml(&corpus_dir(), &mut files);
    let mut runs = 0;
    for path in &files {
        let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        let boundaries: Vec<usize> = (0..=text.len()).filter(|i| text.is_char_boundary(*i)).collect();
        let step = (boundaries.len() / 12).max(1);
        for &cut in boundaries.iter().step_by(step) {
            let damaged = &text[..cut];
            let result = std::panic::catch_unwind(|| {
                let (documents, _) = parse_yaml_documents(FileId(0), damaged, codes::CRD_INVALID_DOCUMENT);
                for document in &documents {
                    let _ = crd::validate(document, &[]);
                }
            });
            if result.is_err() {
                return Err(format!("panicked on {} cut at byte {cut}", path.display()));
            }
            runs += 1;
        }
    }
    if runs < 1000 {
        return Err(format!("only {runs} damaged documents were tried"));
    }
    Ok(())
}
