//! `mesh.toml`, the package manifest: read from text with a span for every key and
//! value, so a mistake in it is pointed at like a mistake in a `.mesh` file.
//!
//! ```toml
//! [package]
//! name = "payments"                  # required; lower-case letters, digits, '-', '_'
//! istio = ["1.28", "1.30"]           # required: the targeted Istio releases
//! envoy = ["1.40"]                   # optional: extra Envoy minors for raw Envoy output
//! root_namespace = "istio-system"    # optional: MeshConfig rootNamespace
//! mesh_config = "cluster/istio.yaml" # optional: the cluster's MeshConfig, to check
//!                                    # [providers] against (MeshConfig, ConfigMap,
//!                                    # IstioOperator or Helm values)
//!
//! [policy]
//! require_pinned_images = true       # optional: unpinned Wasm images are errors
//!
//! [providers]                        # MeshConfig extensionProviders
//! zipkin = { kind = "zipkin", service = "zipkin.istio-system.svc.cluster.local", port = 9411 }
//! ```
//!
//! Reading is pure (text in, manifest and diagnostics out) and never stops at the
//! first mistake: every key that can be read is, and every mistake is reported.

use crate::diagnostic::{Diagnostic, codes, did_you_mean};
use crate::model::node::{Member, Node, NodeKind};
use crate::span::{FileId, LineIndex, Span};
use crate::versions;
use serde_json::{Map, Value as Json};
use std::ops::Range;
use toml::de::{DeString, DeTable, DeValue};

/// A value read from `mesh.toml` and the byte span it was written at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

/// One entry of `[providers]`: a MeshConfig extension provider the mesh declares.
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderDecl {
    pub name: Spanned<String>,
    /// The provider kind (`zipkin`, `opentelemetry`, ...). It is checked against the
    /// stdlib's `provider_kind` declarations by the checker, not here, so that the
    /// list of kinds lives in one place.
    pub kind: Spanned<String>,
    /// The provider's other settings (service, port, ...), as written.
    pub settings: Map<String, Json>,
    /// The same settings with the spans of their keys and values in mesh.toml, which
    /// the checker reads them from (an object; empty for the built-in providers).
    pub settings_tree: Node,
    /// Istio's built-in providers (`prometheus`, `envoy`) exist in every mesh without a
    /// declaration; their spans are empty, at the start of `mesh.toml`.
    pub builtin: bool,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    pub name: Spanned<String>,
    /// The targeted Istio releases, as written (`1.30` or `1.30.3`); each one is a
    /// supported release unless a diagnostic said otherwise.
    pub istio: Vec<Spanned<String>>,
    /// The extra Envoy versions of raw Envoy output, as written; the Envoy of each Istio
    /// target is implied and not repeated here (see [`Manifest::targets`]).
    pub envoy: Vec<Spanned<String>>,
    pub root_namespace: Spanned<String>,
    /// The cluster's MeshConfig file, relative to the package, when given.
    pub mesh_config: Option<Spanned<String>>,
    pub require_pinned_images: bool,
    /// `[policy.rules]`: the severity each named rule takes in this package (`deny`,
    /// `warn` or `off`), overriding the rule's own.
    pub rule_severities: Vec<(Spanned<String>, Spanned<String>)>,
    /// The declared providers in name order, followed by the built-in ones that the
    /// manifest does not redefine.
    pub providers: Vec<ProviderDecl>,
}

impl Manifest {
    /// The supported Istio releases the package targets, each once.
    pub fn istio_releases(&self) -> Vec<&'static versions::IstioRelease> {
        let mut out: Vec<&'static versions::IstioRelease> = Vec::new();
        for release in self.istio.iter().filter_map(|v| versions::istio_release(&v.value)) {
            if !out.contains(&release) {
                out.push(release);
            }
        }
        out
    }

    /// The releases and Envoy builds a check covers.
    pub fn targets(&self) -> versions::Targets {
        versions::Targets::new(self.istio_releases(), self.envoy.iter().filter_map(|v| versions::envoy_build(&v.value)))
    }

    pub fn provider(&self, name: &str) -> Option<&ProviderDecl> {
        self.providers.iter().find(|p| p.name.value == name)
    }
}

const TOP_KEYS: &[&str] = &["package", "policy", "providers"];
const PACKAGE_KEYS: &[&str] = &["name", "istio", "envoy", "root_namespace", "mesh_config"];
const POLICY_KEYS: &[&str] = &["require_pinned_images", "rules"];
/// MeshConfig's `rootNamespace` when the manifest does not set one.
pub const DEFAULT_ROOT_NAMESPACE: &str = "istio-system";

/// What a package targets; nothing without a manifest.
pub fn targets(manifest: Option<&Manifest>) -> versions::Targets {
    manifest.map(Manifest::targets).unwrap_or_default()
}

/// The mesh's root namespace: the manifest's, else Istio's default.
pub fn root_namespace(manifest: Option<&Manifest>) -> &str {
    manifest.map(|m| m.root_namespace.value.as_str()).unwrap_or(DEFAULT_ROOT_NAMESPACE)
}

/// One of Istio's built-in providers: name, kind and settings.
struct Builtin {
    name: &'static str,
    kind: &'static str,
    settings: &'static [(&'static str, &'static str)],
}

/// The providers istiod defines in every mesh without MeshConfig declaring them.
const BUILTIN_PROVIDERS: &[Builtin] = &[
    Builtin { name: "prometheus", kind: "prometheus", settings: &[] },
    Builtin { name: "envoy", kind: "envoy_file_access_log", settings: &[("path", "/dev/stdout")] },
];

type Key<'i> = toml::Spanned<DeString<'i>>;
type Value<'i> = toml::Spanned<DeValue<'i>>;

/// Whether a diagnostic is about the document's structure (a missing or unknown key)
/// or about one value. After a syntax error the parser's recovery can move keys to
/// other tables or drop them, so structural diagnostics would be echoes of the syntax
/// error; diagnostics about values stay trustworthy away from the broken lines.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Syntax,
    Structure,
    Value,
}

struct Reader<'t> {
    text: &'t str,
    file: FileId,
    diagnostics: Vec<(Kind, Diagnostic)>,
}

impl Reader<'_> {
    /// The span of a byte range of the text, clamped to it, since recovery after a
    /// syntax error may report ranges at or past the end.
    fn span(&self, range: Range<usize>) -> Span {
        let end = range.end.min(self.text.len());
        let start = range.start.min(end);
        Span::new(self.file, start as u32, end as u32)
    }

    fn report(&mut self, kind: Kind, diagnostic: Diagnostic) {
        self.diagnostics.push((kind, diagnostic));
    }

    fn invalid(&mut self, kind: Kind, range: Range<usize>, message: impl Into<String>, label: &str) {
        let diagnostic = Diagnostic::new(codes::INVALID_MANIFEST, self.span(range), message).with_label_message(label);
        self.report(kind, diagnostic);
    }

    fn unknown_key(&mut self, key: &Key, allowed: &[&str], table: &str) {
        let span = self.span(key.span());
        let diagnostic =
            Diagnostic::new(codes::INVALID_MANIFEST, span, format!("unknown key `{}` in {table}", key.get_ref()))
                .with_label_message("unknown key");
        let diagnostic = match did_you_mean(key.get_ref(), allowed.iter().copied()) {
            Some(suggestion) => diagnostic.with_did_you_mean(span, suggestion),
            None => diagnostic.with_note(format!("{table} accepts: {}", allowed.join(", "))),
        };
        self.report(Kind::Structure, diagnostic);
    }

    fn wrong_type(&mut self, value: &Value, what: &str, expected: &str) {
        let message = format!("{what} must be {expected}, not {}", type_name(value.get_ref()));
        self.invalid(Kind::Value, value.span(), message, &format!("expected {expected}"));
    }

    fn string(&mut self, value: &Value, what: &str) -> Option<Spanned<String>> {
        match value.get_ref() {
            DeValue::String(s) => Some(Spanned { value: s.to_string(), span: self.span(value.span()) }),
            _ => {
                self.wrong_type(value, what, "a string");
                None
            }
        }
    }

    fn table<'a, 'i>(&mut self, value: &'a Value<'i>, what: &str) -> Option<&'a DeTable<'i>> {
        match value.get_ref() {
            DeValue::Table(table) => Some(table),
            _ => {
                self.wrong_type(value, what, "a table");
                None
            }
        }
    }

    /// A list of version strings. A version written as a bare number (`1.30`) or a
    /// list written as a single string are likely slips, so they come with the
    /// quoted or bracketed replacement.
    fn versions(&mut self, value: &Value, key: &str) -> Vec<Spanned<String>> {
        let items = match value.get_ref() {
            DeValue::Array(items) => items,
            other => {
                let span = self.span(value.span());
                let message = format!("`{key}` must be a list of versions, not {}", type_name(other));
                let mut diagnostic = Diagnostic::new(codes::INVALID_MANIFEST, span, message)
                    .with_label_message("expected a list such as [\"1.30\"]");
                if let Some(text) = self.text.get(value.span()) {
                    diagnostic = diagnostic.with_did_you_mean(span, &format!("[{text}]"));
                }
                self.report(Kind::Value, diagnostic);
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for item in items.iter() {
            match item.get_ref() {
                DeValue::String(s) => out.push(Spanned { value: s.to_string(), span: self.span(item.span()) }),
                other => {
                    let span = self.span(item.span());
                    let message = format!("each version in `{key}` must be a string, not {}", type_name(other));
                    let mut diagnostic =
                        Diagnostic::new(codes::INVALID_MANIFEST, span, message).with_label_message("expected a string");
                    if matches!(other, DeValue::Float(_) | DeValue::Integer(_))
                        && let Some(text) = self.text.get(item.span())
                    {
                        diagnostic = diagnostic.with_did_you_mean(span, &format!("\"{text}\""));
                    }
                    self.report(Kind::Value, diagnostic);
                }
            }
        }
        self.duplicates(&out, key);
        out
    }

    fn duplicates(&mut self, versions: &[Spanned<String>], key: &str) {
        for (index, version) in versions.iter().enumerate() {
            if let Some(first) = versions[..index].iter().find(|v| v.value == version.value) {
                let diagnostic = Diagnostic::new(
                    codes::INVALID_MANIFEST,
                    version.span,
                    format!("`{key}` names {} twice", version.value),
                )
                .with_label_message("named again here")
                .with_secondary(first.span, "first named here");
                self.report(Kind::Value, diagnostic);
            }
        }
    }
}

fn type_name(value: &DeValue) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

fn to_json(value: &DeValue) -> Json {
    match value {
        DeValue::String(s) => Json::String(s.to_string()),
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).map(Json::from).unwrap_or(Json::Null),
        DeValue::Float(f) => f
            .as_str()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Json::Number)
            .unwrap_or(Json::Null),
        DeValue::Boolean(b) => Json::Bool(*b),
        DeValue::Datetime(d) => Json::String(d.to_string()),
        DeValue::Array(items) => Json::Array(items.iter().map(|i| to_json(i.get_ref())).collect()),
        DeValue::Table(table) => {
            Json::Object(table.iter().map(|(k, v)| (k.get_ref().to_string(), to_json(v.get_ref()))).collect())
        }
    }
}

/// A TOML value as the spanned tree the checker reads, every part at its text.
fn to_node(reader: &Reader, value: &toml::Spanned<DeValue>) -> Node {
    let span = reader.span(value.span());
    let kind = match value.get_ref() {
        DeValue::String(s) => NodeKind::String(s.to_string()),
        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => NodeKind::Number { value: n as f64, raw: n.to_string() },
            Err(_) => NodeKind::Number { value: f64::INFINITY, raw: i.as_str().to_string() },
        },
        DeValue::Float(f) => {
            NodeKind::Number { value: f.as_str().parse().unwrap_or(f64::NAN), raw: f.as_str().to_string() }
        }
        DeValue::Boolean(b) => NodeKind::Bool(*b),
        DeValue::Datetime(d) => NodeKind::String(d.to_string()),
        DeValue::Array(items) => NodeKind::List(items.iter().map(|item| to_node(reader, item)).collect()),
        DeValue::Table(table) => NodeKind::Object(
            table
                .iter()
                .map(|(k, v)| Member::new(k.get_ref().to_string(), reader.span(k.span()), to_node(reader, v)))
                .collect(),
        ),
    };
    Node::new(kind, span)
}

/// What `[package]` yielded.
#[derive(Default)]
struct Package {
    name: Option<Spanned<String>>,
    istio: Vec<Spanned<String>>,
    envoy: Vec<Spanned<String>>,
    root_namespace: Option<Spanned<String>>,
    mesh_config: Option<Spanned<String>>,
}

/// Reads a manifest; returns what it could read (None when it has no readable package
/// name, which every later phase needs) and every diagnostic.
pub fn parse_manifest(text: &str, file: FileId) -> (Option<Manifest>, Vec<Diagnostic>) {
    let mut reader = Reader { text, file, diagnostics: Vec::new() };
    let (root, errors) = DeTable::parse_recoverable(text);
    for error in &errors {
        let range = error.span().unwrap_or(0..0);
        let message = format!("mesh.toml is not valid TOML: {}", error.message().trim());
        let diagnostic = Diagnostic::new(codes::INVALID_MANIFEST, reader.span(range), message);
        reader.report(Kind::Syntax, diagnostic);
    }

    let mut package = None;
    let mut require_pinned_images = false;
    let mut rule_severities = Vec::new();
    let mut providers: Vec<ProviderDecl> = Vec::new();
    for (key, value) in root.get_ref().iter() {
        match key.get_ref().as_ref() {
            "package" => {
                if let Some(table) = reader.table(value, "[package]") {
                    package = Some(read_package(&mut reader, table, value.span()));
                }
            }
            "policy" => {
                if let Some(table) = reader.table(value, "[policy]") {
                    (require_pinned_images, rule_severities) = read_policy(&mut reader, table);
                }
            }
            "providers" => {
                if let Some(table) = reader.table(value, "[providers]") {
                    providers = read_providers(&mut reader, table);
                }
            }
            _ => reader.unknown_key(key, TOP_KEYS, "mesh.toml"),
        }
    }
    if package.is_none() && !root.get_ref().contains_key("package") {
        let diagnostic =
            Diagnostic::new(codes::INVALID_MANIFEST, reader.span(0..0), "mesh.toml has no [package] table")
                .with_label_message("expected [package] with `name` and `istio`")
                .with_help("start mesh.toml with [package], then `name = \"...\"` and `istio = [\"1.30\"]`");
        reader.report(Kind::Structure, diagnostic);
    }

    let whole = reader.span(0..0);
    for builtin in BUILTIN_PROVIDERS {
        if !providers.iter().any(|p| p.name.value == builtin.name) {
            providers.push(ProviderDecl {
                name: Spanned { value: builtin.name.to_string(), span: whole },
                kind: Spanned { value: builtin.kind.to_string(), span: whole },
                settings: builtin.settings.iter().map(|(k, v)| (k.to_string(), Json::String(v.to_string()))).collect(),
                settings_tree: Node::new(NodeKind::Object(Vec::new()), whole),
                builtin: true,
                span: whole,
            });
        }
    }

    let package = package.unwrap_or_default();
    let manifest = package.name.map(|name| Manifest {
        name,
        istio: package.istio,
        envoy: package.envoy,
        root_namespace: package
            .root_namespace
            .unwrap_or_else(|| Spanned { value: DEFAULT_ROOT_NAMESPACE.to_string(), span: whole }),
        mesh_config: package.mesh_config,
        require_pinned_images,
        rule_severities,
        providers,
    });
    (manifest, finish(text, reader.diagnostics))
}

/// The diagnostics to show, in the order of the text (tables iterate in key order):
/// all of them for a manifest that parsed, and after syntax errors only those that
/// cannot be echoes of one (see [`Kind`]).
fn finish(text: &str, diagnostics: Vec<(Kind, Diagnostic)>) -> Vec<Diagnostic> {
    let mut shown = keep(text, diagnostics);
    crate::diagnostic::sort(&mut shown);
    shown
}

fn keep(text: &str, diagnostics: Vec<(Kind, Diagnostic)>) -> Vec<Diagnostic> {
    let index = LineIndex::new(text);
    let broken_lines: Vec<usize> = diagnostics
        .iter()
        .filter(|(kind, _)| *kind == Kind::Syntax)
        .map(|(_, d)| index.line_of(d.primary_span().start))
        .collect();
    if broken_lines.is_empty() {
        return diagnostics.into_iter().map(|(_, d)| d).collect();
    }
    diagnostics
        .into_iter()
        .filter(|(kind, diagnostic)| match kind {
            Kind::Syntax => true,
            Kind::Structure => false,
            Kind::Value => {
                let span = diagnostic.primary_span();
                let lines = index.line_of(span.start)..=index.line_of(span.end);
                !broken_lines.iter().any(|line| lines.contains(line))
            }
        })
        .map(|(_, d)| d)
        .collect()
}

fn read_package(reader: &mut Reader, table: &DeTable, header: Range<usize>) -> Package {
    let mut package = Package::default();
    let mut istio_given = false;
    for (key, value) in table.iter() {
        match key.get_ref().as_ref() {
            "name" => {
                package.name = reader.string(value, "the package `name`");
                if let Some(name) = &package.name
                    && !is_package_name(&name.value)
                {
                    let message = format!("`{}` is not a valid package name", name.value);
                    reader.invalid(
                        Kind::Value,
                        value.span(),
                        message,
                        "a lower-case letter, then lower-case letters, digits, `-` or `_`",
                    );
                }
            }
            "istio" => {
                istio_given = true;
                package.istio = reader.versions(value, "istio");
                if matches!(value.get_ref(), DeValue::Array(items) if items.is_empty()) {
                    let message = "`istio` names no Istio release";
                    reader.invalid(Kind::Value, value.span(), message, "add at least one release, such as \"1.30\"");
                }
                for version in &package.istio {
                    if versions::istio_release(&version.value).is_none() {
                        report_unknown_istio(reader, version);
                    }
                }
            }
            "envoy" => {
                package.envoy = reader.versions(value, "envoy");
                for version in &package.envoy {
                    check_envoy(reader, version);
                }
            }
            "mesh_config" => package.mesh_config = reader.string(value, "`mesh_config`"),
            "root_namespace" => {
                package.root_namespace = reader.string(value, "`root_namespace`");
                if let Some(namespace) = &package.root_namespace
                    && !is_dns_label(&namespace.value)
                {
                    let message = format!("`{}` is not a valid Kubernetes namespace", namespace.value);
                    let label = "lower-case letters, digits and `-`, at most 63";
                    reader.invalid(Kind::Value, value.span(), message, label);
                }
            }
            _ => reader.unknown_key(key, PACKAGE_KEYS, "[package]"),
        }
    }
    if !table.contains_key("name") {
        let diagnostic =
            Diagnostic::new(codes::INVALID_MANIFEST, reader.span(header.clone()), "mesh.toml has no package name")
                .with_label_message("this table needs `name`")
                .with_help("add `name = \"...\"` under [package]");
        reader.report(Kind::Structure, diagnostic);
    }
    if !istio_given {
        let diagnostic =
            Diagnostic::new(codes::INVALID_MANIFEST, reader.span(header), "mesh.toml names no target Istio release")
                .with_label_message("this table needs `istio`")
                .with_help("add `istio = [\"1.30\"]` under [package]");
        reader.report(Kind::Structure, diagnostic);
    }
    package
}

fn report_unknown_istio(reader: &mut Reader, version: &Spanned<String>) {
    let supported: Vec<&str> = versions::ISTIO_RELEASES.iter().map(|r| r.version).collect();
    let diagnostic = Diagnostic::new(
        codes::UNKNOWN_ISTIO_VERSION,
        version.span,
        format!("meshc does not support Istio {}", version.value),
    )
    .with_label_message("unsupported release")
    .with_note(format!("supported releases: {}", supported.join(", ")));
    reader.report(Kind::Value, diagnostic);
}

/// An Envoy version must name a supported minor; a full version must be that minor's
/// pinned build, because meshc checks against that build's schemas and would otherwise
/// claim to have checked a version it has not.
fn check_envoy(reader: &mut Reader, version: &Spanned<String>) {
    if versions::envoy_build(&version.value).is_some() {
        return;
    }
    let minor: String = version.value.trim().split('.').take(2).collect::<Vec<_>>().join(".");
    let diagnostic = match versions::envoy_build(&minor) {
        Some(build) => Diagnostic::new(
            codes::UNKNOWN_ISTIO_VERSION,
            version.span,
            format!("meshc does not support Envoy {}", version.value),
        )
        .with_label_message(format!("not the pinned {minor} build"))
        .with_note(format!("meshc checks Envoy {minor} against its pinned build {}", build.version))
        .with_did_you_mean(version.span, &format!("\"{minor}\"")),
        None => Diagnostic::new(
            codes::UNKNOWN_ISTIO_VERSION,
            version.span,
            format!("meshc does not support Envoy {}", version.value),
        )
        .with_label_message("unsupported Envoy version")
        .with_note(format!("supported Envoy minors: {}", versions::ENVOY_MINORS.join(", "))),
    };
    reader.report(Kind::Value, diagnostic);
}

/// The severities a rule can be given in `[policy.rules]`.
pub const RULE_SEVERITIES: &[&str] = &["deny", "warn", "off"];

/// `[policy]`: whether unpinned images are errors, and the rules' severities.
type PolicySettings = (bool, Vec<(Spanned<String>, Spanned<String>)>);

fn read_policy(reader: &mut Reader, table: &DeTable) -> PolicySettings {
    let mut require_pinned_images = false;
    let mut rule_severities = Vec::new();
    for (key, value) in table.iter() {
        match key.get_ref().as_ref() {
            "require_pinned_images" => match value.get_ref() {
                DeValue::Boolean(b) => require_pinned_images = *b,
                _ => reader.wrong_type(value, "`require_pinned_images`", "true or false"),
            },
            "rules" => {
                let Some(rules) = reader.table(value, "[policy.rules]") else { continue };
                for (rule, severity) in rules.iter() {
                    let name = Spanned { value: rule.get_ref().to_string(), span: reader.span(rule.span()) };
                    let Some(text) = reader.string(severity, "a rule's severity") else { continue };
                    let (text, span) = (text.value, text.span);
                    if !RULE_SEVERITIES.contains(&text.as_str()) {
                        let mut diagnostic = Diagnostic::new(
                            codes::INVALID_MANIFEST,
                            span,
                            format!("`{text}` is not a rule severity; use \"deny\", \"warn\" or \"off\""),
                        );
                        if let Some(suggestion) = did_you_mean(&text, RULE_SEVERITIES.iter().copied()) {
                            diagnostic = diagnostic.with_did_you_mean(span, &format!("\"{suggestion}\""));
                        }
                        reader.report(Kind::Value, diagnostic);
                        continue;
                    }
                    rule_severities.push((name, Spanned { value: text, span }));
                }
            }
            _ => reader.unknown_key(key, POLICY_KEYS, "[policy]"),
        }
    }
    (require_pinned_images, rule_severities)
}

fn read_providers(reader: &mut Reader, table: &DeTable) -> Vec<ProviderDecl> {
    let mut providers = Vec::new();
    for (key, value) in table.iter() {
        let name = Spanned { value: key.get_ref().to_string(), span: reader.span(key.span()) };
        let what = format!("the provider `{}`", name.value);
        let Some(settings) = reader.table(value, &what) else {
            continue;
        };
        let mut kind = None;
        let mut rest = Map::new();
        let mut members = Vec::new();
        // The settings a kind takes are the stdlib's, so the checker checks them.
        for (setting, setting_value) in settings.iter() {
            if setting.get_ref() == "kind" {
                kind = reader.string(setting_value, "a provider's `kind`");
                continue;
            }
            rest.insert(setting.get_ref().to_string(), to_json(setting_value.get_ref()));
            members.push(Member::new(
                setting.get_ref().to_string(),
                reader.span(setting.span()),
                to_node(reader, setting_value),
            ));
        }
        let settings_tree = Node::new(NodeKind::Object(members), reader.span(value.span()));
        // A `[providers.NAME]` header's value span is the header, which contains the
        // key; an inline table's follows it. The cover of both is the declaration.
        let span = reader.span(key.span().start.min(value.span().start)..key.span().end.max(value.span().end));
        match kind {
            Some(kind) => {
                providers.push(ProviderDecl { name, kind, settings: rest, settings_tree, builtin: false, span })
            }
            // A provider without a kind cannot be checked or emitted, so it is left out;
            // only the missing kind is reported, wherever the provider is used.
            None if !settings.contains_key("kind") => {
                let diagnostic = Diagnostic::new(
                    codes::INVALID_MANIFEST,
                    name.span,
                    format!("the provider `{}` has no `kind`", name.value),
                )
                .with_label_message("needs `kind`")
                .with_help("add `kind = \"zipkin\"` (or opentelemetry, prometheus, envoy_file_access_log, envoy_otel_als, ...)");
                reader.report(Kind::Structure, diagnostic);
            }
            None => {}
        }
    }
    providers
}

/// Package names appear in module paths (`payments.lib.labels`) and resource labels,
/// so they start with a letter and use the characters both accept.
fn is_package_name(name: &str) -> bool {
    name.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// A Kubernetes namespace name (RFC 1123 label), as the root namespace must be.
fn is_dns_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Option<Manifest>, Vec<Diagnostic>) {
        parse_manifest(text, FileId(0))
    }

    /// The text each diagnostic's primary label points at, with its code and message.
    fn shown<'t>(text: &'t str, diagnostics: &[Diagnostic]) -> Vec<(&'static str, &'t str, String)> {
        diagnostics.iter().map(|d| (d.code.as_str(), &text[d.primary_span().range()], d.message.clone())).collect()
    }

    const COMPLETE: &str = r#"[package]
name = "payments"
istio = ["1.28", "1.30.2"]
envoy = ["1.40"]
root_namespace = "mesh-root"

[policy]
require_pinned_images = true

[providers]
zipkin = { kind = "zipkin", service = "zipkin.istio-system.svc.cluster.local", port = 9411 }
otel-als = { kind = "envoy_otel_als", service = "otel-collector.observability.svc.cluster.local", port = 4317 }
"#;

    #[test]
    fn reads_a_complete_manifest_with_spans() {
        let (manifest, diagnostics) = parse(COMPLETE);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let manifest = manifest.unwrap();
        let at = |span: Span| &COMPLETE[span.range()];
        assert_eq!((manifest.name.value.as_str(), at(manifest.name.span)), ("payments", "\"payments\""));
        let istio: Vec<&str> = manifest.istio.iter().map(|v| at(v.span)).collect();
        assert_eq!(istio, ["\"1.28\"", "\"1.30.2\""]);
        assert_eq!(manifest.root_namespace.value, "mesh-root");
        assert!(manifest.require_pinned_images);
        assert_eq!(manifest.targets().envoys.iter().map(|b| b.minor).collect::<Vec<_>>(), ["1.36", "1.38", "1.40"]);

        let zipkin = manifest.provider("zipkin").unwrap();
        assert_eq!(at(zipkin.kind.span), "\"zipkin\"");
        assert!(at(zipkin.span).starts_with("zipkin = {") && at(zipkin.span).ends_with('}'));
        assert_eq!(zipkin.settings["port"], 9411);
        assert_eq!(zipkin.settings["service"], "zipkin.istio-system.svc.cluster.local");
        assert!(!zipkin.settings.contains_key("kind"));
    }

    #[test]
    fn every_mesh_has_the_builtin_providers_unless_it_redefines_them() {
        let (manifest, _) = parse(COMPLETE);
        let manifest = manifest.unwrap();
        let names: Vec<(&str, &str, bool)> =
            manifest.providers.iter().map(|p| (p.name.value.as_str(), p.kind.value.as_str(), p.builtin)).collect();
        assert_eq!(
            names,
            [
                ("otel-als", "envoy_otel_als", false),
                ("zipkin", "zipkin", false),
                ("prometheus", "prometheus", true),
                ("envoy", "envoy_file_access_log", true)
            ]
        );
        assert_eq!(manifest.provider("envoy").unwrap().settings["path"], "/dev/stdout");

        let text = "[package]\nname = \"p\"\nistio = [\"1.30\"]\n[providers]\nenvoy = { kind = \"envoy_file_access_log\", path = \"/var/log/a\" }\n";
        let manifest = parse(text).0.unwrap();
        let envoy = manifest.provider("envoy").unwrap();
        assert_eq!(&text[envoy.span.range()], "envoy = { kind = \"envoy_file_access_log\", path = \"/var/log/a\" }");
        assert!(!envoy.builtin);
        assert_eq!(envoy.settings["path"], "/var/log/a");
        assert_eq!(manifest.providers.iter().filter(|p| p.name.value == "envoy").count(), 1);
    }

    #[test]
    fn providers_may_be_written_as_tables() {
        let text =
            "[package]\nname = \"p\"\nistio = [\"1.30\"]\n\n[providers.otel]\nkind = \"opentelemetry\"\nport = 4317\n";
        let (manifest, diagnostics) = parse(text);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let otel = manifest.as_ref().unwrap().provider("otel").unwrap();
        assert_eq!(&text[otel.span.range()], "[providers.otel]");
        assert_eq!(&text[otel.kind.span.range()], "\"opentelemetry\"");
        assert_eq!(otel.settings["port"], 4317);
    }

    #[test]
    fn defaults_apply_to_a_minimal_manifest() {
        let (manifest, diagnostics) = parse("[package]\nname = \"p\"\nistio = [\"1.29\"]\n");
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let manifest = manifest.unwrap();
        assert_eq!(manifest.root_namespace.value, "istio-system");
        assert!(!manifest.require_pinned_images);
        assert!(manifest.envoy.is_empty());
        assert_eq!(manifest.targets().envoys.iter().map(|b| b.minor).collect::<Vec<_>>(), ["1.37"]);
    }

    #[test]
    fn independent_mistakes_give_one_diagnostic_each() {
        // A provider's settings are checked against its kind by the checker, which
        // knows the kinds from the stdlib; here they are only read.
        let text = "[package]\nname = \"x\"\nistio = [\"1.99\"]\nroot_namspace = \"a\"\n\n[providers]\nzipkin = { kind = \"zipkin\", port = \"9411\" }\n";
        let (manifest, diagnostics) = parse(text);
        assert_eq!(
            shown(text, &diagnostics),
            [
                ("E0206", "\"1.99\"", "meshc does not support Istio 1.99".to_string()),
                ("E0201", "root_namspace", "unknown key `root_namspace` in [package]".to_string()),
            ]
        );
        assert_eq!(diagnostics[0].notes, ["supported releases: 1.28, 1.29, 1.30, 1.31"]);
        assert_eq!(diagnostics[1].help.as_deref(), Some("did you mean `root_namespace`?"));
        assert_eq!(diagnostics[1].suggestions[0].replacement, "root_namespace");
        // What could be read is still returned.
        let manifest = manifest.unwrap();
        assert_eq!(manifest.name.value, "x");
        assert!(manifest.provider("zipkin").is_some());
    }

    #[test]
    fn wrong_types_are_pointed_at() {
        let text = "[package]\nname = 7\nistio = \"1.30\"\nenvoy = [1.40]\n[policy]\nrequire_pinned_images = \"yes\"\n[providers]\nzipkin = \"zipkin\"\n";
        let (manifest, diagnostics) = parse(text);
        assert!(manifest.is_none(), "no readable name");
        let shown = shown(text, &diagnostics);
        let expected = [
            ("E0201", "7", "the package `name` must be a string, not an integer"),
            ("E0201", "\"1.30\"", "`istio` must be a list of versions, not a string"),
            ("E0201", "1.40", "each version in `envoy` must be a string, not a float"),
            ("E0201", "\"yes\"", "`require_pinned_images` must be true or false, not a string"),
            ("E0201", "\"zipkin\"", "the provider `zipkin` must be a table, not a string"),
        ];
        assert_eq!(shown.len(), expected.len(), "{shown:#?}");
        for expected in expected {
            assert!(shown.iter().any(|(c, t, m)| (*c, *t, m.as_str()) == expected), "{expected:?} not in {shown:#?}");
        }
        let quote = diagnostics.iter().find(|d| d.message.contains("`envoy`")).unwrap();
        assert_eq!(quote.suggestions[0].replacement, "\"1.40\"");
        let bracket = diagnostics.iter().find(|d| d.message.contains("`istio`")).unwrap();
        assert_eq!(bracket.suggestions[0].replacement, "[\"1.30\"]");
    }

    #[test]
    fn missing_keys_are_reported_at_their_table() {
        let text = "[package]\nroot_namespace = \"istio-system\"\n";
        let (manifest, diagnostics) = parse(text);
        assert!(manifest.is_none());
        let messages: Vec<(&str, String)> =
            diagnostics.iter().map(|d| (&text[d.primary_span().range()], d.message.clone())).collect();
        assert_eq!(
            messages,
            [
                ("[package]", "mesh.toml has no package name".to_string()),
                ("[package]", "mesh.toml names no target Istio release".to_string())
            ]
        );

        let (manifest, diagnostics) = parse("");
        assert!(manifest.is_none());
        assert_eq!(diagnostics.len(), 1);
        assert_eq!(diagnostics[0].message, "mesh.toml has no [package] table");
        assert_eq!(diagnostics[0].primary_span(), Span::new(FileId(0), 0, 0));

        let text = "[package]\nname = \"p\"\nistio = []\n[providers]\nzipkin = { port = 9411 }\n";
        let (_, diagnostics) = parse(text);
        assert_eq!(
            shown(text, &diagnostics),
            [
                ("E0201", "[]", "`istio` names no Istio release".to_string()),
                ("E0201", "zipkin", "the provider `zipkin` has no `kind`".to_string()),
            ]
        );
    }

    #[test]
    fn unknown_keys_suggest_the_nearest_known_one() {
        let text = "[pakage]\nname = \"p\"\n[package]\nname = \"p\"\nistio = [\"1.30\"]\n[policy]\nrequire_pined_images = true\n[providers]\n";
        let (_, diagnostics) = parse(text);
        let suggestions: Vec<(&str, Option<&str>)> =
            diagnostics.iter().map(|d| (&text[d.primary_span().range()], d.help.as_deref())).collect();
        assert_eq!(
            suggestions,
            [
                ("pakage", Some("did you mean `package`?")),
                ("require_pined_images", Some("did you mean `require_pinned_images`?"))
            ]
        );
        let text = "[package]\nname = \"p\"\nistio = [\"1.30\"]\ncolour = \"blue\"\n";
        let (_, diagnostics) = parse(text);
        assert_eq!(diagnostics[0].notes, ["[package] accepts: name, istio, envoy, root_namespace, mesh_config"]);
    }

    #[test]
    fn versions_must_be_supported() {
        let text = "[package]\nname = \"p\"\nistio = [\"1.27\", \"1.30\", \"1.30\"]\nenvoy = [\"1.35\", \"1.38.3\", \"1.38.2\", \"1.40\"]\n";
        let (manifest, diagnostics) = parse(text);
        assert_eq!(
            shown(text, &diagnostics),
            [
                ("E0206", "\"1.27\"", "meshc does not support Istio 1.27".to_string()),
                ("E0201", "\"1.30\"", "`istio` names 1.30 twice".to_string()),
                ("E0206", "\"1.35\"", "meshc does not support Envoy 1.35".to_string()),
                ("E0206", "\"1.38.3\"", "meshc does not support Envoy 1.38.3".to_string()),
            ]
        );
        assert_eq!(&text[diagnostics[1].labels[1].span.range()], "\"1.30\"");
        assert!(diagnostics[1].labels[1].span.start < diagnostics[1].primary_span().start);
        assert_eq!(diagnostics[2].notes, ["supported Envoy minors: 1.36, 1.37, 1.38, 1.39, 1.40"]);
        assert_eq!(diagnostics[3].notes, ["meshc checks Envoy 1.38 against its pinned build 1.38.2"]);
        assert_eq!(diagnostics[3].suggestions[0].replacement, "\"1.38\"");
        let manifest = manifest.unwrap();
        assert_eq!(manifest.istio_releases().len(), 1);
        assert_eq!(manifest.targets().envoys.iter().map(|b| b.minor).collect::<Vec<_>>(), ["1.38", "1.40"]);
    }

    #[test]
    fn names_and_namespaces_are_validated() {
        let text = "[package]\nname = \"Payments\"\nistio = [\"1.30\"]\nroot_namespace = \"Istio_System\"\n[providers]\nzipkin = { kind = \"zipkin\", service = 9411, port = 70000 }\n";
        let (manifest, diagnostics) = parse(text);
        assert_eq!(
            shown(text, &diagnostics),
            [
                ("E0201", "\"Payments\"", "`Payments` is not a valid package name".to_string()),
                ("E0201", "\"Istio_System\"", "`Istio_System` is not a valid Kubernetes namespace".to_string()),
            ]
        );
        assert!(manifest.is_some(), "the name was read, even if invalid");
    }

    #[test]
    fn syntax_errors_are_located_and_do_not_hide_other_mistakes() {
        let text = "[package]\nname = \"p\"\nistio = [\"1.99\"]\n[policy]\nrequire_pinned_images = tru\n";
        let (manifest, diagnostics) = parse(text);
        let shown = shown(text, &diagnostics);
        assert_eq!(shown.len(), 2, "{shown:#?}");
        assert_eq!((shown[0].0, shown[0].1), ("E0206", "\"1.99\""));
        assert_eq!((shown[1].0, shown[1].1), ("E0201", "tru"));
        assert!(shown[1].2.starts_with("mesh.toml is not valid TOML: "), "{}", shown[1].2);
        assert_eq!(manifest.unwrap().name.value, "p");
    }

    #[test]
    fn a_broken_table_header_does_not_cascade() {
        let text = "[package\nname = \"p\"\nistio = [\"1.30\"]\n";
        let (manifest, diagnostics) = parse(text);
        assert!(manifest.is_none());
        assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
        assert_eq!(diagnostics[0].code, codes::INVALID_MANIFEST);
        assert_eq!(diagnostics[0].primary_span(), Span::new(FileId(0), 8, 8));
        assert!(diagnostics[0].message.contains("expected `]`"), "{}", diagnostics[0].message);
    }

    #[test]
    fn damaged_text_never_panics() {
        for cut in 0..=COMPLETE.len() {
            let _ = parse(&COMPLETE[..cut]);
            let _ = parse(&format!("{}{}", &COMPLETE[..cut], &COMPLETE[(cut + 7).min(COMPLETE.len())..]));
        }
        let _ = parse("é = \"\u{1F600}\"\n[[package]]\nname = [\"é\"]\n");
    }
}
