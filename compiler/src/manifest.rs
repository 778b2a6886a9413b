//! `mesh.toml`, the package manifest: read from text with a span for every key and
//! value, so a mistake in it is pointed at like a mistake in a `.mesh` file.
//!
//! ```toml
//! [package]
//! name = "payments"                  # required
//! istio = ["1.28", "1.30"]           # required: the targeted Istio releases
//! envoy = ["1.40"]                   # optional: extra Envoy minors for raw Envoy output
//! root_namespace = "istio-system"    # optional: MeshConfig rootNamespace
//!
//! [policy]
//! require_pinned_images = true       # optional: unpinned Wasm images are errors
//!
//! [providers]                        # MeshConfig extensionProviders
//! zipkin = { kind = "zipkin", service = "zipkin.istio-system.svc.cluster.local", port = 9411 }
//! ```

use crate::diagnostic::{Diagnostic, codes, did_you_mean};
use crate::span::{FileId, Span};
use crate::versions;
use serde_json::{Map, Value as Json};
use toml::de::{DeTable, DeValue};

#[derive(Clone, Debug, PartialEq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ProviderDecl {
    pub name: Spanned<String>,
    pub kind: Spanned<String>,
    /// The provider's other settings (service, port, ...), as written.
    pub settings: Map<String, Json>,
    /// Istio's built-in providers (`prometheus`, `envoy`) exist in every mesh.
    pub builtin: bool,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    pub name: Spanned<String>,
    pub istio: Vec<Spanned<String>>,
    pub envoy: Vec<Spanned<String>>,
    pub root_namespace: Spanned<String>,
    pub require_pinned_images: bool,
    pub providers: Vec<ProviderDecl>,
}

const TOP_KEYS: &[&str] = &["package", "policy", "providers"];
const PACKAGE_KEYS: &[&str] = &["name", "istio", "envoy", "root_namespace"];
const POLICY_KEYS: &[&str] = &["require_pinned_images"];

struct Reader {
    file: FileId,
    diagnostics: Vec<Diagnostic>,
}

impl Reader {
    fn span(&self, range: std::ops::Range<usize>) -> Span {
        Span::new(self.file, range.start as u32, range.end as u32)
    }

    fn error(&mut self, range: std::ops::Range<usize>, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(codes::INVALID_MANIFEST, self.span(range), message)
    }

    fn unknown_key(&mut self, key: &toml::Spanned<toml::de::DeString>, allowed: &[&str], table: &str) {
        let span = self.span(key.span());
        let mut diagnostic = Diagnostic::new(codes::INVALID_MANIFEST, span, format!("unknown key `{}` in {table}", key.get_ref()))
            .with_label_message("unknown key");
        diagnostic = match did_you_mean(key.get_ref(), allowed.iter().copied()) {
            Some(suggestion) => diagnostic.with_did_you_mean(span, suggestion),
            None => diagnostic.with_note(format!("{table} accepts: {}", allowed.join(", "))),
        };
        self.diagnostics.push(diagnostic);
    }

    fn string(&mut self, value: &toml::Spanned<DeValue>, what: &str) -> Option<Spanned<String>> {
        match value.get_ref() {
            DeValue::String(s) => Some(Spanned { value: s.to_string(), span: self.span(value.span()) }),
            _ => {
                let diagnostic = self.error(value.span(), format!("{what} must be a string"));
                self.diagnostics.push(diagnostic);
                None
            }
        }
    }

    fn strings(&mut self, value: &toml::Spanned<DeValue>, what: &str) -> Vec<Spanned<String>> {
        match value.get_ref() {
            DeValue::Array(items) => items.iter().filter_map(|item| self.string(item, what)).collect(),
            _ => {
                let diagnostic = self.error(value.span(), format!("{what} must be a list of strings, such as [\"1.30\"]"));
                self.diagnostics.push(diagnostic);
                Vec::new()
            }
        }
    }

    fn table<'a, 'i>(&mut self, value: &'a toml::Spanned<DeValue<'i>>, what: &str) -> Option<&'a DeTable<'i>> {
        match value.get_ref() {
            DeValue::Table(table) => Some(table),
            _ => {
                let diagnostic = self.error(value.span(), format!("{what} must be a table"));
                self.diagnostics.push(diagnostic);
                None
            }
        }
    }
}

fn to_json(value: &DeValue) -> Json {
    match value {
        DeValue::String(s) => Json::String(s.to_string()),
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).map(Json::from).unwrap_or(Json::Null),
        DeValue::Float(f) => f.as_str().parse::<f64>().ok().and_then(serde_json::Number::from_f64).map(Json::Number).unwrap_or(Json::Null),
        DeValue::Boolean(b) => Json::Bool(*b),
        DeValue::Datetime(d) => Json::String(d.to_string()),
        DeValue::Array(items) => Json::Array(items.iter().map(|i| to_json(i.get_ref())).collect()),
        DeValue::Table(table) => Json::Object(table.iter().map(|(k, v)| (k.get_ref().to_string(), to_json(v.get_ref()))).collect()),
    }
}

/// Reads a manifest; returns what it could read (None when the required keys are
/// missing or the text is not TOML) and every diagnostic.
pub fn parse_manifest(text: &str, file: FileId) -> (Option<Manifest>, Vec<Diagnostic>) {
    let mut reader = Reader { file, diagnostics: Vec::new() };
    let (root, errors) = DeTable::parse_recoverable(text);
    for error in &errors {
        let range = error.span().unwrap_or(0..0);
        let diagnostic = reader.error(range, format!("mesh.toml is not valid TOML: {}", error.message().trim()));
        reader.diagnostics.push(diagnostic);
    }
    if !errors.is_empty() {
        return (None, reader.diagnostics);
    }
    let root = root.get_ref();
    let whole = reader.span(0..0);

    let mut name = None;
    let mut istio = Vec::new();
    let mut envoy = Vec::new();
    let mut root_namespace = None;
    let mut require_pinned_images = false;
    let mut providers: Vec<ProviderDecl> = Vec::new();
    let mut package_span = None;

    for (key, value) in root.iter() {
        match key.get_ref().as_ref() {
            "package" => {
                package_span = Some(reader.span(key.span()));
                let Some(table) = reader.table(value, "[package]") else { continue };
                for (key, value) in table.iter() {
                    match key.get_ref().as_ref() {
                        "name" => {
                            name = reader.string(value, "the package name");
                            if let Some(n) = &name
                                && !is_package_name(&n.value)
                            {
                                let diagnostic = reader.error(value.span(), format!("`{}` is not a valid package name", n.value));
                                reader.diagnostics.push(diagnostic.with_label_message("lower-case letters, digits, `-` and `_`"));
                            }
                        }
                        "istio" => {
                            istio = reader.strings(value, "`istio`");
                            for version in &istio {
                                if versions::istio_release(&version.value).is_none() {
                                    let supported: Vec<&str> = versions::ISTIO_RELEASES.iter().map(|r| r.version).collect();
                                    reader.diagnostics.push(
                                        Diagnostic::new(
                                            codes::UNKNOWN_ISTIO_VERSION,
                                            version.span,
                                            format!("meshc does not support Istio {}", version.value),
                                        )
                                        .with_label_message("unsupported release")
                                        .with_note(format!("supported releases: {}", supported.join(", "))),
                                    );
                                }
                            }
                        }
                        "envoy" => {
                            envoy = reader.strings(value, "`envoy`");
                            for version in &envoy {
                                let minor: String = version.value.split('.').take(2).collect::<Vec<_>>().join(".");
                                if !versions::ENVOY_MINORS.contains(&minor.as_str()) {
                                    reader.diagnostics.push(
                                        Diagnostic::new(
                                            codes::UNKNOWN_ISTIO_VERSION,
                                            version.span,
                                            format!("meshc does not support Envoy {}", version.value),
                                        )
                                        .with_note(format!("supported Envoy minors: {}", versions::ENVOY_MINORS.join(", "))),
                                    );
                                }
                            }
                        }
                        "root_namespace" => root_namespace = reader.string(value, "`root_namespace`"),
                        _ => reader.unknown_key(key, PACKAGE_KEYS, "[package]"),
                    }
                }
            }
            "policy" => {
                let Some(table) = reader.table(value, "[policy]") else { continue };
                for (key, value) in table.iter() {
                    match key.get_ref().as_ref() {
                        "require_pinned_images" => match value.get_ref() {
                            DeValue::Boolean(b) => require_pinned_images = *b,
                            _ => {
                                let diagnostic = reader.error(value.span(), "`require_pinned_images` must be true or false");
                                reader.diagnostics.push(diagnostic);
                            }
                        },
                        _ => reader.unknown_key(key, POLICY_KEYS, "[policy]"),
                    }
                }
            }
            "providers" => {
                let Some(table) = reader.table(value, "[providers]") else { continue };
                for (provider_key, provider_value) in table.iter() {
                    let provider_name = Spanned { value: provider_key.get_ref().to_string(), span: reader.span(provider_key.span()) };
                    let Some(settings) = reader.table(provider_value, &format!("the provider `{}`", provider_name.value)) else {
                        continue;
                    };
                    let mut kind = None;
                    let mut rest = Map::new();
                    for (key, value) in settings.iter() {
                        if key.get_ref() == "kind" {
                            kind = reader.string(value, "a provider's `kind`");
                        } else {
                            if key.get_ref() == "port" && !matches!(value.get_ref(), DeValue::Integer(_)) {
                                let diagnostic = reader.error(value.span(), "a provider's `port` must be a number");
                                reader.diagnostics.push(diagnostic);
                            }
                            rest.insert(key.get_ref().to_string(), to_json(value.get_ref()));
                        }
                    }
                    match kind {
                        Some(kind) => providers.push(ProviderDecl {
                            name: provider_name,
                            kind,
                            settings: rest,
                            builtin: false,
                            span: reader.span(provider_key.span().start..provider_value.span().end),
                        }),
                        None => {
                            let diagnostic = reader
                                .error(provider_key.span(), format!("the provider `{}` has no `kind`", provider_name.value))
                                .with_help("add `kind = \"zipkin\"` (or opentelemetry, prometheus, envoy_file_access_log, envoy_otel_als, ...)");
                            reader.diagnostics.push(diagnostic);
                        }
                    }
                }
            }
            _ => reader.unknown_key(key, TOP_KEYS, "mesh.toml"),
        }
    }

    let anchor = package_span.unwrap_or(whole);
    if name.is_none() {
        reader.diagnostics.push(
            Diagnostic::new(codes::INVALID_MANIFEST, anchor, "mesh.toml has no package name")
                .with_help("add `name = \"...\"` under [package]"),
        );
    }
    if istio.is_empty() && !reader.diagnostics.iter().any(|d| d.message.contains("`istio`")) {
        reader.diagnostics.push(
            Diagnostic::new(codes::INVALID_MANIFEST, anchor, "mesh.toml names no target Istio release")
                .with_help("add `istio = [\"1.30\"]` under [package]"),
        );
    }
    for (builtin, kind) in [("prometheus", "prometheus"), ("envoy", "envoy_file_access_log")] {
        if !providers.iter().any(|p| p.name.value == builtin) {
            let mut settings = Map::new();
            if builtin == "envoy" {
                settings.insert("path".to_string(), Json::String("/dev/stdout".to_string()));
            }
            providers.push(ProviderDecl {
                name: Spanned { value: builtin.to_string(), span: whole },
                kind: Spanned { value: kind.to_string(), span: whole },
                settings,
                builtin: true,
                span: whole,
            });
        }
    }
    let manifest = name.map(|name| Manifest {
        name,
        istio,
        envoy,
        root_namespace: root_namespace.unwrap_or(Spanned { value: "istio-system".to_string(), span: whole }),
        require_pinned_images,
        providers,
    });
    (manifest, reader.diagnostics)
}

fn is_package_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name.as_bytes()[0].is_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::codes;

    fn parse(text: &str) -> (Option<Manifest>, Vec<Diagnostic>) {
        parse_manifest(text, FileId(0))
    }

    #[test]
    fn reads_a_complete_manifest_with_spans() {
        let text = "[package]\nname = \"payments\"\nistio = [\"1.28\", \"1.30\"]\n\n[providers]\nzipkin = { kind = \"zipkin\", port = 9411 }\n";
        let (manifest, diagnostics) = parse(text);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let manifest = manifest.unwrap();
        assert_eq!(&text[manifest.name.span.range()], "\"payments\"");
        assert_eq!(manifest.root_namespace.value, "istio-system");
        let names: Vec<&str> = manifest.providers.iter().map(|p| p.name.value.as_str()).collect();
        assert_eq!(names, ["zipkin", "prometheus", "envoy"]);
        assert_eq!(manifest.providers[0].settings["port"], 9411);
    }

    #[test]
    fn reports_every_mistake() {
        let text = "[package]\nname = \"x\"\nistio = [\"1.99\"]\nroot_namspace = \"a\"\n\n[providers]\nzipkin = { port = 1 }\n";
        let (_, diagnostics) = parse(text);
        let codes: Vec<&str> = diagnostics.iter().map(|d| d.code.as_str()).collect();
        assert_eq!(codes, [codes::UNKNOWN_ISTIO_VERSION.as_str(), codes::INVALID_MANIFEST.as_str(), codes::INVALID_MANIFEST.as_str()]);
        assert_eq!(&text[diagnostics[1].primary_span().range()], "root_namspace");
        assert_eq!(diagnostics[1].help.as_deref(), Some("did you mean `root_namespace`?"));
    }

    #[test]
    fn invalid_toml_is_located() {
        let (manifest, diagnostics) = parse("[package\nname = 1");
        assert!(manifest.is_none());
        assert_eq!(diagnostics[0].code, codes::INVALID_MANIFEST);
    }
}
