//! One YAML document into the text of one declaration, recording which YAML value
//! each piece of the text came from, so that a problem found when the declaration is
//! built can be reported at the YAML line.

use super::{ImportOptions, ProviderUse, refuse};
use crate::check::{envoy_filter, telemetry, wasm_plugin};
use crate::diagnostic::{Diagnostic, codes};
use crate::model::node::{Member, Node, NodeKind};
use crate::span::Span;
use crate::versions::Feature;
use prost_reflect::{DescriptorPool, FieldDescriptor, Kind};

/// How a document is written, from the most idiomatic to the most literal; the
/// importer keeps the first that rebuilds the document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Typed Envoy messages, durations, Lua blocks, the `insert` form, and filters
    /// written as their typed config alone (meshc derives the filter's name).
    Idiomatic,
    /// As `Idiomatic`, but every filter keeps the name the YAML gives it (`envoy.lua`
    /// is not the name meshc derives, `envoy.filters.http.lua`).
    Typed,
    /// Envoy values as the YAML has them (`"@type"` keys, strings for durations).
    Literal,
}

/// A value that may be shared with other declarations through a `let`.
#[derive(Clone, Debug)]
pub(crate) struct Shareable {
    pub text: String,
    pub name: String,
}

/// The declaration one document became.
#[derive(Clone, Debug)]
pub(crate) struct Declaration {
    /// The `.mesh` name (metadata.name with `_` for `-`).
    pub name: String,
    /// metadata.name in the YAML.
    pub name_span: Span,
    pub keyword: &'static str,
    pub text: String,
    /// Byte ranges of `text` and the YAML value each was written from.
    pub origins: Vec<(usize, usize, Span)>,
    pub features: Vec<Feature>,
    pub providers: Vec<ProviderUse>,
    pub shareable: Vec<Shareable>,
    pub uses_std_filters: bool,
    pub warnings: Vec<Diagnostic>,
    pub style: Style,
    /// The YAML `spec` (or the document), where problems without a better place are reported.
    pub anchor: Span,
    /// The comment that says where the document came from, set by the caller.
    pub source: String,
}

/// Metadata fields the API server fills in; a manifest read back from a cluster has
/// them, and they are not part of what a package declares.
const SERVER_METADATA: &[&str] =
    &["resourceVersion", "uid", "creationTimestamp", "generation", "managedFields", "selfLink"];

/// The `std.filters` names, for `insert ... before filters.router`.
const STD_FILTERS: &[(&str, &str)] = &[
    ("envoy.filters.network.http_connection_manager", "http_connection_manager"),
    ("envoy.filters.network.tcp_proxy", "tcp_proxy"),
    ("envoy.filters.http.router", "router"),
    ("envoy.filters.http.lua", "lua"),
    ("envoy.filters.http.wasm", "wasm"),
    ("envoy.filters.http.ext_authz", "ext_authz"),
    ("envoy.filters.http.rbac", "rbac"),
    ("envoy.filters.http.jwt_authn", "jwt_authn"),
    ("envoy.filters.http.fault", "fault"),
    ("envoy.filters.http.cors", "cors"),
    ("envoy.filters.http.grpc_stats", "grpc_stats"),
    ("envoy.filters.http.header_to_metadata", "header_to_metadata"),
    ("envoy.filters.http.local_ratelimit", "local_ratelimit"),
    ("envoy.filters.http.ratelimit", "ratelimit"),
    ("istio.metadata_exchange", "metadata_exchange"),
    ("istio.stats", "stats"),
    ("istio_authn", "istio_authn"),
];

const HTTP_CONNECTION_MANAGER: &str = "envoy.filters.network.http_connection_manager";

type Refusal = Result<(), Diagnostic>;

/// The text being written and where each piece came from.
struct Writer {
    out: String,
    origins: Vec<(usize, usize, Span)>,
    style: Style,
    features: Vec<Feature>,
    providers: Vec<ProviderUse>,
    shareable: Vec<Shareable>,
    uses_std_filters: bool,
    /// The declaration's name, for naming shared values.
    name: String,
    /// Envoy's schema (of the newest targeted build), for knowing which strings are durations.
    schema: Option<DescriptorPool>,
}

impl Writer {
    fn push(&mut self, text: &str) {
        self.out.push_str(text);
    }

    /// Writes `text` as what `span` became.
    fn from(&mut self, span: Span, text: &str) {
        let start = self.out.len();
        self.out.push_str(text);
        self.origins.push((start, self.out.len(), span));
    }

    fn line(&mut self, text: &str) {
        self.out.push_str(text);
        self.out.push('\n');
    }

    /// Records that the text written since `start` came from `span`.
    fn mark(&mut self, start: usize, span: Span) {
        self.origins.push((start, self.out.len(), span));
    }
}

pub(crate) fn translate(document: &Node, options: &ImportOptions, style: Style) -> Result<Declaration, Diagnostic> {
    let kind = document.get("kind").and_then(Node::as_str).unwrap_or_default();
    let (keyword, group) = match kind {
        "Telemetry" => ("telemetry", "telemetry.istio.io"),
        "WasmPlugin" => ("wasm_plugin", "extensions.istio.io"),
        _ => ("envoy_filter", "networking.istio.io"),
    };
    let members = object(document, "a resource")?;
    for member in members {
        if !matches!(member.key.as_str(), "apiVersion" | "kind" | "metadata" | "spec") {
            return Err(unknown_field(member, kind));
        }
    }
    match document.get("apiVersion") {
        Some(version) => match version.as_str() {
            Some(text) if text.split('/').next() == Some(group) => {}
            _ => {
                return Err(refuse(
                    version.span,
                    format!("a {kind} of apiVersion `{}` is not one meshc generates", describe(version)),
                    format!("meshc writes {kind} resources of the group `{group}`"),
                ));
            }
        },
        None => return Err(refuse(document.span, format!("this {kind} has no `apiVersion`"), "missing apiVersion")),
    }
    let metadata = document
        .get("metadata")
        .ok_or_else(|| refuse(document.span, format!("this {kind} has no `metadata`"), "missing metadata"))?;
    let mut warnings = Vec::new();
    let mut name = None;
    let mut namespace = None;
    let mut labels = None;
    let mut annotations = None;
    for member in object(metadata, "metadata")? {
        match member.key.as_str() {
            "name" => name = Some(member),
            "namespace" => namespace = Some(member),
            "labels" => labels = Some(member),
            "annotations" => annotations = Some(member),
            key if SERVER_METADATA.contains(&key) => {}
            _ => {
                return Err(refuse(
                    member.key_span,
                    format!("meshc cannot declare `metadata.{}`", member.key),
                    "a declaration sets a resource's name, namespace, labels and annotations only",
                ));
            }
        }
    }
    let name_member = name.ok_or_else(|| refuse(metadata.span, "this resource has no `metadata.name`", "no name"))?;
    let k8s_name = string(&name_member.value, "metadata.name")?;
    let decl_name = declaration_name(k8s_name).ok_or_else(|| {
        refuse(
            name_member.value.span,
            format!("`{k8s_name}` cannot be the name of a declaration"),
            "a declaration's name is a letter followed by letters, digits, `-` and `_`, and is not a keyword",
        )
    })?;
    let namespace = match namespace {
        Some(member) => string(&member.value, "metadata.namespace")?.to_string(),
        None => {
            warnings.push(
                Diagnostic::new(
                    codes::IMPORT_NO_NAMESPACE,
                    name_member.value.span,
                    format!("`{k8s_name}` names no namespace; it is imported into `{}`", options.default_namespace),
                )
                .with_label_message("kubectl applies a resource without a namespace in the namespace of its context")
                .with_help("write `in namespace \"...\"` in the declaration if the resource belongs elsewhere"),
            );
            options.default_namespace.clone()
        }
    };
    let spec = document.get("spec");
    let anchor = document.members().and_then(|m| m.iter().find(|m| m.key == "spec")).map(|m| m.key_span);
    let anchor = anchor.unwrap_or(document.span);
    let mut writer = Writer {
        out: String::new(),
        origins: Vec::new(),
        style,
        features: Vec::new(),
        providers: Vec::new(),
        shareable: Vec::new(),
        uses_std_filters: false,
        name: decl_name.clone(),
        schema: envoy_schema(),
    };
    let w = &mut writer;
    w.push(keyword);
    w.push(" ");
    w.from(name_member.value.span, &decl_name);
    // The scope: the selector or target references, then the namespace.
    let empty = Node::new(NodeKind::Object(Vec::new()), document.span);
    let spec_node = spec.unwrap_or(&empty);
    let spec_members = object(spec_node, "spec")?;
    let (selector_key, labels_key) =
        if kind == "EnvoyFilter" { ("workloadSelector", "labels") } else { ("selector", "matchLabels") };
    let mut scoped = false;
    for member in spec_members {
        if member.key == selector_key {
            let mut selector_labels = None;
            for inner in object(&member.value, selector_key)? {
                if inner.key == labels_key {
                    selector_labels = Some(&inner.value);
                } else {
                    return Err(unknown_field(inner, selector_key));
                }
            }
            let Some(selector_labels) = selector_labels else {
                return Err(refuse(
                    member.key_span,
                    "this selector selects by nothing",
                    "meshc needs labels to select by",
                ));
            };
            w.push(" for workload ");
            let start = w.out.len();
            let text = string_map_text(selector_labels)?;
            w.from(selector_labels.span, &text);
            let share_name = selector_labels
                .get("app")
                .or_else(|| selector_labels.get("istio"))
                .and_then(Node::as_str)
                .and_then(declaration_name)
                .map(|n| format!("{n}_workload"))
                .unwrap_or_else(|| format!("{decl_name}_workload"));
            w.shareable.push(Shareable { text, name: share_name });
            w.mark(start, member.key_span);
            scoped = true;
        } else if member.key == "targetRef" {
            return Err(refuse(
                member.key_span,
                "meshc writes `targetRefs`, not the deprecated single `targetRef`",
                "the rebuilt resource would name its target in `targetRefs`",
            )
            .with_help("write the target as `targetRefs: [ ... ]` before importing"));
        } else if member.key == "targetRefs" {
            let items = list(&member.value, "targetRefs")?;
            let mut texts = Vec::new();
            for item in items {
                let mut group = None;
                let mut target_kind = None;
                let mut target_name = None;
                for field in object(item, "a target reference")? {
                    match field.key.as_str() {
                        "group" => group = Some(string(&field.value, "group")?),
                        "kind" => target_kind = Some(string(&field.value, "kind")?),
                        "name" => target_name = Some(string(&field.value, "name")?),
                        _ => return Err(unknown_field(field, "a target reference")),
                    }
                }
                let (Some(target_kind), Some(target_name)) = (target_kind, target_name) else {
                    return Err(refuse(item.span, "a target reference needs a kind and a name", "incomplete"));
                };
                // `Gateway "name"` stands for the kind with the group the checker gives
                // it (check/common.rs); the build proves the two agree.
                let known_group = match target_kind {
                    "Gateway" | "GatewayClass" => Some("gateway.networking.k8s.io"),
                    "Service" => Some(""),
                    "ServiceEntry" => Some("networking.istio.io"),
                    _ => None,
                };
                let shorthand = style != Style::Literal && group.is_some() && known_group == group;
                texts.push(if shorthand {
                    format!("{target_kind} {}", quote(target_name))
                } else {
                    let group = group.map(|g| format!("group: {}, ", quote(g))).unwrap_or_default();
                    format!("{{ {group}kind: {}, name: {} }}", quote(target_kind), quote(target_name))
                });
            }
            let start = w.out.len();
            if texts.len() == 1 {
                w.push(&format!(" for target {}", texts[0]));
            } else {
                w.push(&format!(" for targets [{}]", texts.join(", ")));
            }
            w.mark(start, member.key_span);
            scoped = true;
        }
    }
    let namespace_span = metadata.get("namespace").map(|n| n.span).unwrap_or(name_member.value.span);
    if namespace == crate::manifest::DEFAULT_ROOT_NAMESPACE && !scoped {
        w.from(namespace_span, " mesh");
    } else {
        w.push(" in namespace ");
        w.from(namespace_span, &quote(&namespace));
    }
    w.line(" {");
    for (key, member) in [("labels", labels), ("annotations", annotations)] {
        if let Some(member) = member {
            if member.value.members().is_some_and(|m| m.is_empty()) {
                continue;
            }
            w.push(&format!("  {key} "));
            let text = string_map_text(&member.value)?;
            w.from(member.value.span, &text);
            w.line("");
        }
    }
    match kind {
        "Telemetry" => telemetry_body(w, spec_members)?,
        "WasmPlugin" => wasm_plugin_body(w, spec_members)?,
        _ => envoy_filter_body(w, spec_members, spec_node)?,
    }
    w.push("}");
    Ok(Declaration {
        name: decl_name,
        name_span: name_member.value.span,
        keyword,
        text: writer.out,
        origins: writer.origins,
        features: writer.features,
        providers: writer.providers,
        shareable: writer.shareable,
        uses_std_filters: writer.uses_std_filters,
        warnings,
        style,
        anchor,
        source: String::new(),
    })
}

/// The schema of the Envoy that the newest default Istio release ships.
fn envoy_schema() -> Option<DescriptorPool> {
    let release = super::default_releases().last().and_then(|v| crate::versions::istio_release(v))?;
    let build = crate::versions::ENVOY_BUILDS.iter().find(|b| b.minor == release.envoy)?;
    crate::envoy::descriptor_pool(build.version)
}

/// The `.mesh` name of a Kubernetes name: `-` becomes `_`, which the checker turns back.
pub(crate) fn declaration_name(name: &str) -> Option<String> {
    let candidate = name.replace('-', "_");
    let valid = candidate.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && candidate.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !crate::syntax::KEYWORDS.contains(&candidate.as_str());
    valid.then_some(candidate)
}

// -- Telemetry ---------------------------------------------------------------------

fn telemetry_body(w: &mut Writer, spec: &[Member]) -> Refusal {
    for member in spec {
        match member.key.as_str() {
            "selector" | "targetRefs" => {}
            "tracing" => {
                for item in list(&member.value, "tracing")? {
                    tracing(w, item)?;
                }
            }
            "metrics" => {
                for item in list(&member.value, "metrics")? {
                    metrics(w, item)?;
                }
            }
            "accessLogging" => {
                for item in list(&member.value, "accessLogging")? {
                    access_logging(w, item)?;
                }
            }
            _ => return Err(unknown_field(member, "a Telemetry spec")),
        }
    }
    Ok(())
}

/// `providers: [{name}]` as `a, b`, remembering each provider and its signal.
fn providers(w: &mut Writer, value: &Node, signal: &'static str) -> Result<String, Diagnostic> {
    let mut names = Vec::new();
    for item in list(value, "providers")? {
        let mut name = None;
        for field in object(item, "a provider reference")? {
            match field.key.as_str() {
                "name" => name = Some(string(&field.value, "a provider name")?),
                _ => return Err(unknown_field(field, "a provider reference")),
            }
        }
        let name = name.ok_or_else(|| refuse(item.span, "a provider reference without a name", "no name"))?;
        if name.is_empty() {
            return Err(refuse(item.span, "a provider reference with an empty name", "Istio requires a name"));
        }
        w.providers.push(ProviderUse { name: name.to_string(), signal });
        let plain = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            && !crate::syntax::KEYWORDS.contains(&name);
        names.push(if plain { name.to_string() } else { quote(name) });
    }
    if names.is_empty() {
        return Err(refuse(value.span, "an empty provider list", "meshc writes no `providers` instead"));
    }
    Ok(names.join(", "))
}

/// `match: { mode: M }` as ` (m)`.
fn mode(value: &Node, what: &str) -> Result<String, Diagnostic> {
    let mut mode = None;
    for field in object(value, what)? {
        match field.key.as_str() {
            "mode" => mode = Some(enum_word(&field.value, telemetry::MODES, "mode")?),
            _ => return Err(unknown_field(field, what)),
        }
    }
    match mode {
        Some(mode) => Ok(format!(" ({mode})")),
        None => Err(refuse(value.span, format!("{what} without a mode"), "meshc writes no `match` instead")),
    }
}

fn tracing(w: &mut Writer, item: &Node) -> Refusal {
    let start = w.out.len();
    w.push("  tracing");
    let members = object(item, "a tracing entry")?;
    if let Some(value) = item.get("providers") {
        let names = providers(w, value, "tracing")?;
        w.push(" ");
        w.from(value.span, &names);
    }
    if let Some(value) = item.get("match") {
        let text = mode(value, "a tracing match")?;
        w.from(value.span, &text);
    }
    w.line(" {");
    for member in members {
        let key = member.key.as_str();
        let setting = match key {
            "providers" | "match" => continue,
            "randomSamplingPercentage" => Some("sampling"),
            "disableSpanReporting" => Some("disable_span_reporting"),
            "useRequestIdForTraceSampling" => Some("use_request_id_for_trace_sampling"),
            "enableIstioTags" => Some("enable_istio_tags"),
            "disableContextPropagation" => {
                w.features.push(Feature::TracingDisableContextPropagation);
                Some("disable_context_propagation")
            }
            "customTags" => None,
            _ => return Err(unknown_field(member, "a tracing entry")),
        };
        match setting {
            Some("sampling") => {
                let text = format!("{}%", number_text(&member.value, "a sampling percentage")?);
                w.push("    sampling ");
                w.from(member.value.span, &text);
                w.line("");
            }
            Some(setting) => {
                let text = boolean(&member.value, key)?;
                w.push(&format!("    {setting} "));
                w.from(member.value.span, text);
                w.line("");
            }
            None => {
                for tag in object(&member.value, "customTags")? {
                    let value = custom_tag(w, tag)?;
                    w.push(&format!("    tag {} = ", tag_name(&tag.key)));
                    w.from(tag.value.span, &value);
                    w.line("");
                }
            }
        }
    }
    w.push("  }");
    w.mark(start, item.span);
    w.line("");
    Ok(())
}

fn custom_tag(w: &mut Writer, tag: &Member) -> Result<String, Diagnostic> {
    let forms = object(&tag.value, "a custom tag")?;
    let [form] = forms else {
        return Err(refuse(
            tag.key_span,
            "a custom tag sets one of literal, environment, header or formatter",
            "not one",
        ));
    };
    let mut name = None;
    let mut default = None;
    let mut value = None;
    for field in object(&form.value, "a custom tag")? {
        match field.key.as_str() {
            "name" => name = Some(string(&field.value, "a name")?),
            "defaultValue" => default = Some(string(&field.value, "a default value")?),
            "value" => value = Some(string(&field.value, "a value")?),
            _ => return Err(unknown_field(field, "a custom tag")),
        }
    }
    let call = |function: &str, name: Option<&str>| -> Result<String, Diagnostic> {
        let name = name.ok_or_else(|| refuse(form.value.span, "this tag names nothing", "no name"))?;
        Ok(match default {
            Some(default) => format!("{function}({}, {})", cel_string(name), cel_string(default)),
            None => format!("{function}({})", cel_string(name)),
        })
    };
    match form.key.as_str() {
        "literal" if name.is_none() && default.is_none() => {
            let value = value.ok_or_else(|| refuse(form.value.span, "a literal tag without a value", "no value"))?;
            Ok(cel_string(value))
        }
        "environment" if value.is_none() => call("env", name),
        "header" if value.is_none() => call("header", name),
        "formatter" if name.is_none() && default.is_none() => {
            w.features.push(Feature::TelemetryFormatterTag);
            let value = value.ok_or_else(|| refuse(form.value.span, "a formatter tag without a value", "no value"))?;
            Ok(format!("formatter({})", cel_string(value)))
        }
        _ => Err(refuse(form.key_span, format!("meshc cannot write this `{}` tag", form.key), "unexpected fields")),
    }
}

fn metrics(w: &mut Writer, item: &Node) -> Refusal {
    let start = w.out.len();
    w.push("  metrics");
    let members = object(item, "a metrics entry")?;
    if let Some(value) = item.get("providers") {
        let names = providers(w, value, "metrics")?;
        w.push(" ");
        w.from(value.span, &names);
    }
    w.line(" {");
    for member in members {
        match member.key.as_str() {
            "providers" => {}
            "reportingInterval" => {
                let text = string(&member.value, "a reporting interval")?;
                let Some(duration) = duration_literal(text) else {
                    return Err(refuse(
                        member.value.span,
                        format!("meshc cannot write the interval `{text}` as it is"),
                        "meshc writes durations as protobuf writes them (`15s`, `0.500s`)",
                    ));
                };
                w.push("    reporting_interval ");
                w.from(member.value.span, &duration);
                w.line("");
            }
            "overrides" => {
                for entry in list(&member.value, "overrides")? {
                    metric_override(w, entry)?;
                }
            }
            _ => return Err(unknown_field(member, "a metrics entry")),
        }
    }
    w.push("  }");
    w.mark(start, item.span);
    w.line("");
    Ok(())
}

fn metric_override(w: &mut Writer, entry: &Node) -> Refusal {
    let start = w.out.len();
    let members = object(entry, "a metrics override")?;
    // The tags first: a tag Istio rejects is the better reason to refuse.
    let mut tags = Vec::new();
    for member in members {
        match member.key.as_str() {
            "match" | "disabled" => {}
            "tagOverrides" => {
                for tag in object(&member.value, "tagOverrides")? {
                    tags.push(tag_override(tag)?);
                }
            }
            _ => return Err(unknown_field(member, "a metrics override")),
        }
    }
    let Some(selector) = entry.get("match") else {
        return Err(refuse(
            entry.span,
            "an override without a `match` applies to all metrics",
            "meshc writes the metric it overrides (`ALL_METRICS` for all) in `match`",
        ));
    };
    let mut metric = None;
    let mut mode = None;
    for field in object(selector, "a metric selector")? {
        match field.key.as_str() {
            "metric" => {
                let name = string(&field.value, "a metric name")?;
                let standard = !name.is_empty()
                    && name.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                    && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
                if !standard {
                    return Err(refuse(field.value.span, format!("`{name}` is not a standard metric name"), "unknown"));
                }
                metric = Some((name.to_string(), field.value.span));
            }
            "customMetric" => {
                let name = string(&field.value, "a metric name")?;
                metric = Some((format!("custom {}", quote(name)), field.value.span));
            }
            "mode" => mode = Some(enum_word(&field.value, telemetry::MODES, "mode")?),
            _ => return Err(unknown_field(field, "a metric selector")),
        }
    }
    let Some((metric, metric_span)) = metric else {
        return Err(refuse(selector.span, "a metric selector without a metric", "meshc needs the metric to override"));
    };
    w.push("    ");
    w.from(metric_span, &metric);
    if let Some(mode) = mode {
        w.push(&format!(" ({mode})"));
    }
    if let Some(disabled) = entry.get("disabled") {
        let text = if boolean(disabled, "disabled")? == "true" { " disabled" } else { " enabled" };
        w.from(disabled.span, text);
    }
    if !tags.is_empty() {
        w.line(" {");
        for (text, span) in tags {
            w.push("      ");
            w.from(span, &text);
            w.line("");
        }
        w.push("    }");
    }
    w.mark(start, entry.span);
    w.line("");
    Ok(())
}

/// One tag override as its statement (`tag NAME = VALUE` or `remove tag NAME`).
fn tag_override(tag: &Member) -> Result<(String, Span), Diagnostic> {
    let mut operation = None;
    let mut value = None;
    for field in object(&tag.value, "a tag override")? {
        match field.key.as_str() {
            "operation" => operation = Some((string(&field.value, "an operation")?, field.value.span)),
            "value" => value = Some((string(&field.value, "a tag value")?, field.value.span)),
            _ => return Err(unknown_field(field, "a tag override")),
        }
    }
    match (operation.map(|o| o.0), value) {
        (None | Some("UPSERT"), Some((value, span))) => {
            if value.contains(['\n', '\r']) || value.contains("//") || value.trim().is_empty() {
                return Err(refuse(span, "meshc writes a tag value on one line", "this value spans lines"));
            }
            Ok((format!("tag {} = {}", tag_name(&tag.key), value.trim()), span))
        }
        (Some("REMOVE"), None) => Ok((format!("remove tag {}", tag_name(&tag.key)), tag.key_span)),
        (Some("UPSERT") | None, None) => {
            Err(refuse(tag.key_span, "an upserted tag without a value", "Istio requires a value"))
        }
        (Some("REMOVE"), Some((_, span))) => {
            Err(refuse(span, "a removed tag with a value", "Istio rejects a value on REMOVE"))
        }
        (Some(other), _) => {
            let span = operation.map(|o| o.1).unwrap_or(tag.key_span);
            Err(refuse(span, format!("`{other}` is not a tag operation"), "UPSERT or REMOVE"))
        }
    }
}

fn access_logging(w: &mut Writer, item: &Node) -> Refusal {
    let start = w.out.len();
    w.push("  access_log");
    let members = object(item, "an access logging entry")?;
    if let Some(value) = item.get("providers") {
        let names = providers(w, value, "access_logging")?;
        w.push(" ");
        w.from(value.span, &names);
    }
    if let Some(value) = item.get("match") {
        let text = mode(value, "an access logging match")?;
        w.from(value.span, &text);
    }
    for member in members {
        match member.key.as_str() {
            "providers" | "match" | "filter" => {}
            "disabled" => {
                let text = if boolean(&member.value, "disabled")? == "true" { " disabled" } else { " enabled" };
                w.from(member.value.span, text);
            }
            _ => return Err(unknown_field(member, "an access logging entry")),
        }
    }
    if let Some(filter) = item.get("filter") {
        let mut expression = None;
        for field in object(filter, "an access log filter")? {
            match field.key.as_str() {
                "expression" => expression = Some((string(&field.value, "an expression")?, field.value.span)),
                _ => return Err(unknown_field(field, "an access log filter")),
            }
        }
        let Some((expression, span)) = expression else {
            return Err(refuse(filter.span, "a filter without an expression", "no expression"));
        };
        if expression.contains(['\n', '\r']) || expression.contains("//") || expression.trim().is_empty() {
            return Err(refuse(span, "meshc writes a filter on one line", "this expression spans lines"));
        }
        w.push(" when ");
        w.from(span, expression.trim());
    }
    w.mark(start, item.span);
    w.line("");
    Ok(())
}

// -- WasmPlugin ---------------------------------------------------------------------

fn wasm_plugin_body(w: &mut Writer, spec: &[Member]) -> Refusal {
    for member in spec {
        let key = member.key.as_str();
        let value = &member.value;
        let start = w.out.len();
        match key {
            "selector" | "targetRefs" => continue,
            "url" | "sha256" | "imagePullSecret" | "verificationKey" | "pluginName" => {
                let text = string(value, key)?;
                w.push(&format!("  {} ", crate::check::providers::snake_case(key)));
                w.from(value.span, &quote(text));
            }
            "phase" | "imagePullPolicy" | "failStrategy" | "type" => {
                let table = match key {
                    "phase" => wasm_plugin::PHASES,
                    "imagePullPolicy" => wasm_plugin::PULL_POLICIES,
                    "failStrategy" => wasm_plugin::FAIL_STRATEGIES,
                    _ => wasm_plugin::PLUGIN_TYPES,
                };
                let word = enum_word(value, table, key)?;
                w.push(&format!("  {} ", crate::check::providers::snake_case(key)));
                w.from(value.span, word);
            }
            "priority" => {
                let text = integer(value, "a priority")?;
                w.push("  priority ");
                w.from(value.span, &text);
            }
            "pluginConfig" => {
                object(value, "pluginConfig")?;
                w.push("  config ");
                let start_value = w.out.len();
                plain_value(w, value, 2)?;
                w.mark(start_value, value.span);
            }
            "vmConfig" => {
                for field in object(value, "vmConfig")? {
                    if field.key != "env" {
                        return Err(unknown_field(field, "vmConfig"));
                    }
                    for env in list(&field.value, "env")? {
                        wasm_env(w, env)?;
                    }
                }
                continue;
            }
            "match" => {
                for selector in list(value, "match")? {
                    wasm_match(w, selector)?;
                }
                continue;
            }
            _ => return Err(unknown_field(member, "a WasmPlugin spec")),
        }
        w.mark(start, member.key_span);
        w.line("");
    }
    Ok(())
}

fn wasm_env(w: &mut Writer, env: &Node) -> Refusal {
    let mut name = None;
    let mut value = None;
    let mut from = None;
    for field in object(env, "an environment variable")? {
        match field.key.as_str() {
            "name" => name = Some(string(&field.value, "a name")?),
            "value" => value = Some(string(&field.value, "a value")?),
            "valueFrom" => {
                from = Some((enum_word(&field.value, wasm_plugin::ENV_SOURCES, "valueFrom")?, field.value.span))
            }
            _ => return Err(unknown_field(field, "an environment variable")),
        }
    }
    let name = name.ok_or_else(|| refuse(env.span, "an environment variable without a name", "no name"))?;
    let key = if is_plain_key(name) { name.to_string() } else { quote(name) };
    let start = w.out.len();
    match (value, from) {
        (Some(value), None) => w.push(&format!("  env {key} = {}", quote(value))),
        (None, Some((from, _))) => w.push(&format!("  env {key} from {from}")),
        (Some(_), Some((_, span))) => {
            return Err(refuse(span, "meshc writes an inline value without `valueFrom`", "`valueFrom` with a `value`"));
        }
        (None, None) => {
            return Err(refuse(env.span, "an environment variable with neither value nor valueFrom", "nothing to set"));
        }
    }
    w.mark(start, env.span);
    w.line("");
    Ok(())
}

fn wasm_match(w: &mut Writer, selector: &Node) -> Refusal {
    let start = w.out.len();
    w.push("  match");
    let mut ports_text = None;
    for field in object(selector, "a traffic selector")? {
        match field.key.as_str() {
            "mode" => {
                let word = enum_word(&field.value, wasm_plugin::MATCH_MODES, "mode")?;
                w.push(" ");
                w.from(field.value.span, word);
            }
            "ports" => {
                let mut numbers = Vec::new();
                for port in list(&field.value, "ports")? {
                    let mut number = None;
                    for entry in object(port, "a port selector")? {
                        match entry.key.as_str() {
                            "number" => number = Some(integer(&entry.value, "a port")?),
                            _ => return Err(unknown_field(entry, "a port selector")),
                        }
                    }
                    numbers.push(
                        number.ok_or_else(|| refuse(port.span, "a port selector without a number", "no number"))?,
                    );
                }
                if numbers.is_empty() {
                    return Err(refuse(field.value.span, "an empty port list", "meshc writes no `ports` instead"));
                }
                ports_text = Some((format!(" ports [{}]", numbers.join(", ")), field.value.span));
            }
            _ => return Err(unknown_field(field, "a traffic selector")),
        }
    }
    if let Some((text, span)) = ports_text {
        w.from(span, &text);
    }
    w.mark(start, selector.span);
    w.line("");
    Ok(())
}

// -- EnvoyFilter --------------------------------------------------------------------

fn envoy_filter_body(w: &mut Writer, spec: &[Member], spec_node: &Node) -> Refusal {
    let mut patched = false;
    for member in spec {
        match member.key.as_str() {
            "workloadSelector" | "targetRefs" => {}
            "priority" => {
                let text = integer(&member.value, "a priority")?;
                w.push("  priority ");
                w.from(member.value.span, &text);
                w.line("");
            }
            "configPatches" => {
                for patch in list(&member.value, "configPatches")? {
                    config_patch(w, patch)?;
                    patched = true;
                }
            }
            _ => return Err(unknown_field(member, "an EnvoyFilter spec")),
        }
    }
    if !patched {
        return Err(refuse(spec_node.span, "this EnvoyFilter patches nothing", "an envoy_filter needs a patch"));
    }
    Ok(())
}

fn config_patch(w: &mut Writer, item: &Node) -> Refusal {
    let members = object(item, "a config patch")?;
    for member in members {
        if !matches!(member.key.as_str(), "applyTo" | "match" | "patch") {
            return Err(unknown_field(member, "a config patch"));
        }
    }
    let apply_node = item
        .get("applyTo")
        .ok_or_else(|| refuse(item.span, "a patch without `applyTo`", "meshc needs to know what it patches"))?;
    let apply_word = enum_word(apply_node, envoy_filter::APPLY_TO, "applyTo")?;
    let apply = string(apply_node, "applyTo")?;
    let patch =
        item.get("patch").ok_or_else(|| refuse(item.span, "a config patch without `patch`", "nothing to apply"))?;
    let mut operation = None;
    let mut value = None;
    let mut filter_class = None;
    for field in object(patch, "a patch")? {
        match field.key.as_str() {
            "operation" => operation = Some(field),
            "value" => value = Some(field),
            "filterClass" => filter_class = Some(field),
            _ => return Err(unknown_field(field, "a patch")),
        }
    }
    let operation = operation.ok_or_else(|| refuse(patch.span, "a patch without `operation`", "no operation"))?;
    let operation_word = enum_word(&operation.value, envoy_filter::OPERATIONS, "operation")?;
    if operation_word == "merge_and_replace_list" {
        w.features.push(Feature::PatchMergeAndReplaceList);
    }
    if w.style == Style::Idiomatic && filter_class.is_none() && try_insert(w, item, apply, operation_word, value)? {
        return Ok(());
    }
    let start = w.out.len();
    w.push("  patch ");
    w.from(apply_node.span, apply_word);
    w.line(" {");
    if let Some(object_match) = item.get("match") {
        w.push("    match ");
        let start_match = w.out.len();
        match_block(w, object_match, &MATCH_FIELDS, 2)?;
        w.mark(start_match, object_match.span);
        w.line("");
    }
    w.push("    operation ");
    w.from(operation.value.span, operation_word);
    w.line("");
    if let Some(class) = filter_class {
        let word = enum_word(&class.value, envoy_filter::FILTER_CLASSES, "filterClass")?;
        w.push("    filter_class ");
        w.from(class.value.span, word);
        w.line("");
    }
    if let Some(value) = value {
        w.push("    value ");
        patch_value(w, apply, &value.value, 2)?;
        w.line("");
    }
    w.push("  }");
    w.mark(start, item.span);
    w.line("");
    Ok(())
}

/// The `insert` form: an HTTP filter placed before or after another, or first, in the
/// connection manager, with a typed value whose filter name meshc derives. Returns
/// whether the patch was written that way.
fn try_insert(
    w: &mut Writer,
    item: &Node,
    apply: &str,
    operation: &str,
    value: Option<&Member>,
) -> Result<bool, Diagnostic> {
    let position = match operation {
        "insert_before" => "before",
        "insert_after" => "after",
        "insert_first" => "first",
        _ => return Ok(false),
    };
    if apply != "HTTP_FILTER" {
        return Ok(false);
    }
    let Some(value) = value else { return Ok(false) };
    // The value must be exactly a name and a typed config.
    let Some(members) = value.value.members() else { return Ok(false) };
    if members.len() != 2 || value.value.get("name").and_then(Node::as_str).is_none() {
        return Ok(false);
    }
    let Some(config) = value.value.get("typed_config").or_else(|| value.value.get("typedConfig")) else {
        return Ok(false);
    };
    if config.get("@type").and_then(Node::as_str).and_then(|t| t.strip_prefix("type.googleapis.com/")).is_none() {
        return Ok(false);
    }
    // The match must be exactly what `insert` writes.
    let mut context = None;
    let mut anchor = None;
    if let Some(object_match) = item.get("match") {
        for field in object(object_match, "a match")? {
            match field.key.as_str() {
                "context" => context = Some(enum_word(&field.value, envoy_filter::CONTEXTS, "context")?),
                "listener" => {
                    let Some([chain]) = field.value.members() else { return Ok(false) };
                    if chain.key != "filterChain" {
                        return Ok(false);
                    }
                    let Some([filter]) = chain.value.members() else { return Ok(false) };
                    if filter.key != "filter" {
                        return Ok(false);
                    }
                    let Some(filter_members) = filter.value.members() else { return Ok(false) };
                    for part in filter_members {
                        match part.key.as_str() {
                            "name" if part.value.as_str() == Some(HTTP_CONNECTION_MANAGER) => {}
                            "subFilter" => match part.value.members() {
                                Some([name]) if name.key == "name" && name.value.as_str().is_some() => {
                                    anchor = Some(&name.value)
                                }
                                _ => return Ok(false),
                            },
                            _ => return Ok(false),
                        }
                    }
                    if filter.value.get("name").is_none() {
                        return Ok(false);
                    }
                }
                _ => return Ok(false),
            }
        }
    }
    if (position == "first") != anchor.is_none()
        || (item.get("match").is_some() && item.get("match").and_then(|m| m.get("listener")).is_none())
    {
        return Ok(false);
    }
    if item.get("match").is_none() {
        return Ok(false);
    }
    let start = w.out.len();
    w.push(&format!("  insert http_filter {position}"));
    if let Some(anchor) = anchor {
        let name = anchor.as_str().unwrap_or_default();
        w.push(" ");
        match STD_FILTERS.iter().find(|(full, _)| *full == name) {
            Some((_, short)) => {
                w.uses_std_filters = true;
                w.from(anchor.span, &format!("filters.{short}"));
            }
            None => w.from(anchor.span, &quote(name)),
        }
    }
    if let Some(context) = context {
        w.push(&format!(" in {context}"));
    }
    w.line(" {");
    w.push("    ");
    let start_value = w.out.len();
    envoy_value(w, config, 2, Some("typed_config"), Expected::Unknown)?;
    w.mark(start_value, value.value.span);
    w.line("");
    w.push("  }");
    w.mark(start, item.span);
    w.line("");
    Ok(true)
}

/// The fields of a match block, level by level: the YAML key, the `.mesh` key, and
/// what the value is (a nested block, an enum of `table`, a port, a string or a map).
enum MatchField {
    Block(&'static [(&'static str, &'static str, MatchField)]),
    Enum(&'static [(&'static str, &'static str)]),
    Port,
    Text,
    Map,
}

const FILTER_FIELDS: &[(&str, &str, MatchField)] = &[
    ("name", "name", MatchField::Text),
    ("subFilter", "sub_filter", MatchField::Block(&[("name", "name", MatchField::Text)])),
];

const MATCH_FIELDS: MatchField = MatchField::Block(&[
    ("context", "context", MatchField::Enum(envoy_filter::CONTEXTS)),
    (
        "proxy",
        "proxy",
        MatchField::Block(&[
            ("proxyVersion", "proxy_version", MatchField::Text),
            ("metadata", "metadata", MatchField::Map),
        ]),
    ),
    (
        "listener",
        "listener",
        MatchField::Block(&[
            ("portNumber", "port_number", MatchField::Port),
            ("portName", "port_name", MatchField::Text),
            (
                "filterChain",
                "filter_chain",
                MatchField::Block(&[
                    ("name", "name", MatchField::Text),
                    ("sni", "sni", MatchField::Text),
                    ("transportProtocol", "transport_protocol", MatchField::Text),
                    ("applicationProtocols", "application_protocols", MatchField::Text),
                    ("filter", "filter", MatchField::Block(FILTER_FIELDS)),
                    ("destinationPort", "destination_port", MatchField::Port),
                    ("transportSocket", "transport_socket", MatchField::Text),
                ]),
            ),
            ("listenerFilter", "listener_filter", MatchField::Text),
            ("name", "name", MatchField::Text),
        ]),
    ),
    (
        "routeConfiguration",
        "route_configuration",
        MatchField::Block(&[
            ("portNumber", "port_number", MatchField::Port),
            ("portName", "port_name", MatchField::Text),
            ("gateway", "gateway", MatchField::Text),
            (
                "vhost",
                "vhost",
                MatchField::Block(&[
                    ("name", "name", MatchField::Text),
                    ("domainName", "domain_name", MatchField::Text),
                    (
                        "route",
                        "route",
                        MatchField::Block(&[
                            ("name", "name", MatchField::Text),
                            ("action", "action", MatchField::Enum(envoy_filter::ROUTE_ACTIONS)),
                        ]),
                    ),
                ]),
            ),
            ("name", "name", MatchField::Text),
        ]),
    ),
    (
        "cluster",
        "cluster",
        MatchField::Block(&[
            ("portNumber", "port_number", MatchField::Port),
            ("service", "service", MatchField::Text),
            ("subset", "subset", MatchField::Text),
            ("name", "name", MatchField::Text),
        ]),
    ),
    (
        "waypoint",
        "waypoint",
        MatchField::Block(&[
            ("filter", "filter", MatchField::Block(FILTER_FIELDS)),
            ("route", "route", MatchField::Block(&[("name", "name", MatchField::Text)])),
            ("portNumber", "port_number", MatchField::Port),
        ]),
    ),
]);

fn match_block(w: &mut Writer, value: &Node, field: &MatchField, depth: usize) -> Refusal {
    let MatchField::Block(fields) = field else { return Ok(()) };
    let members = object(value, "a match")?;
    if members.is_empty() {
        // An empty block still selects (`cluster: {}` is every cluster); the
        // comparison with the document decides whether meshc writes it back.
        w.push("{}");
        return Ok(());
    }
    w.line("{");
    for member in members {
        let Some((_, key, kind)) = fields.iter().find(|(yaml, _, _)| *yaml == member.key) else {
            return Err(unknown_field(member, "a match"));
        };
        if *key == "filter_chain" && member.value.get("transportSocket").is_some() {
            w.features.push(Feature::FilterChainTransportSocketMatch);
        }
        if *key == "context" && member.value.as_str() == Some("WAYPOINT") {
            w.features.push(Feature::WaypointContext);
        }
        if *key == "waypoint" {
            w.features.push(Feature::WaypointContext);
        }
        let pad = "  ".repeat(depth + 1);
        w.push(&format!("{pad}{key} "));
        let start = w.out.len();
        match kind {
            MatchField::Block(_) => match_block(w, &member.value, kind, depth + 1)?,
            MatchField::Enum(table) => {
                let word = enum_word(&member.value, table, key)?;
                w.push(word);
            }
            MatchField::Port => {
                let text = integer(&member.value, "a port")?;
                w.push(&text);
            }
            MatchField::Text => {
                let text = string(&member.value, key)?;
                w.push(&quote(text));
            }
            MatchField::Map => {
                let text = string_map_text(&member.value)?;
                w.push(&text);
            }
        }
        w.mark(start, member.value.span);
        w.line("");
    }
    w.push(&"  ".repeat(depth));
    w.push("}");
    Ok(())
}

/// A patch value: for filters, `Type { ... }` when the value is just a name and a
/// typed config (meshc derives the name from the type); otherwise the object.
fn patch_value(w: &mut Writer, apply: &str, value: &Node, depth: usize) -> Refusal {
    let start = w.out.len();
    let is_filter = matches!(apply, "HTTP_FILTER" | "NETWORK_FILTER" | "LISTENER_FILTER");
    let config = value.get("typed_config").or_else(|| value.get("typedConfig"));
    let typed = config.and_then(|c| c.get("@type")).and_then(Node::as_str).is_some();
    if w.style == Style::Idiomatic
        && is_filter
        && typed
        && value.members().is_some_and(|m| m.len() == 2)
        && value.get("name").and_then(Node::as_str).is_some()
        && let Some(config) = config
    {
        envoy_value(w, config, depth, Some("typed_config"), Expected::Unknown)?;
    } else {
        // The message the value patches, for knowing which of its strings are durations.
        let patched = match apply {
            "HTTP_FILTER" => Some("envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter"),
            "NETWORK_FILTER" => Some("envoy.config.listener.v3.Filter"),
            "LISTENER_FILTER" => Some("envoy.config.listener.v3.ListenerFilter"),
            _ => envoy_filter::patched_type(apply),
        };
        let expected = patched
            .and_then(|name| w.schema.as_ref()?.get_message_by_name(name))
            .map(|message| Expected::Field(Kind::Message(message)))
            .unwrap_or(Expected::Unknown);
        envoy_value(w, value, depth, None, expected)?;
    }
    w.mark(start, value.span);
    Ok(())
}

/// What the schema expects of a value: a field's kind, a list or map of one, or
/// nothing known (an untyped `Struct`, a message meshc cannot find).
#[derive(Clone)]
enum Expected {
    Unknown,
    Field(Kind),
    ListOf(Kind),
    MapOf(Kind),
}

impl Expected {
    fn of_field(field: &FieldDescriptor) -> Expected {
        if field.is_map() {
            match field.kind() {
                Kind::Message(entry) => Expected::MapOf(entry.map_entry_value_field().kind()),
                _ => Expected::Unknown,
            }
        } else if field.is_list() {
            Expected::ListOf(field.kind())
        } else {
            Expected::Field(field.kind())
        }
    }

    fn is_duration(&self) -> bool {
        matches!(self, Expected::Field(Kind::Message(message)) if message.full_name() == "google.protobuf.Duration")
    }
}

/// Envoy configuration: typed messages for `@type` objects, durations and Lua blocks
/// in the idiomatic style; as written otherwise.
fn envoy_value(w: &mut Writer, value: &Node, depth: usize, key: Option<&str>, expected: Expected) -> Refusal {
    let start = w.out.len();
    match &value.kind {
        NodeKind::Object(members) => {
            let type_name = value
                .get("@type")
                .and_then(Node::as_str)
                .and_then(|t| t.strip_prefix("type.googleapis.com/"))
                .filter(|t| is_path(t));
            // The message whose fields these are: the `@type`, or the field's own type.
            let message = match (&expected, type_name) {
                (_, Some(name)) => w.schema.as_ref().and_then(|schema| schema.get_message_by_name(name)),
                (Expected::Field(Kind::Message(message)), None) => Some(message.clone()),
                _ => None,
            };
            let typed = w.style != Style::Literal && type_name.is_some();
            if typed {
                w.push(type_name.unwrap_or_default());
                w.push(" ");
            }
            let fields: Vec<&Member> = members.iter().filter(|m| !(typed && m.key == "@type")).collect();
            let lua = type_name.is_some_and(|t| t.ends_with(".lua.v3.Lua") || t.ends_with(".lua.v3.LuaPerRoute"));
            object_text(w, &fields, depth, |w, member, depth| {
                let in_lua = lua || key.is_some_and(|k| k.contains("source_code") || k.contains("SourceCode"));
                let field_expected = match (&expected, &message) {
                    (Expected::MapOf(kind), None) => Expected::Field(kind.clone()),
                    (_, Some(message)) => message
                        .get_field_by_name(&member.key)
                        .or_else(|| message.get_field_by_json_name(&member.key))
                        .map(|field| Expected::of_field(&field))
                        .unwrap_or(Expected::Unknown),
                    _ => Expected::Unknown,
                };
                let key = if in_lua { lua_key(&member.key) } else { &member.key };
                envoy_value(w, &member.value, depth, Some(key), field_expected)
            })?;
        }
        NodeKind::List(items) => list_text(w, items, depth, |w, item, depth| {
            let item_expected = match &expected {
                Expected::ListOf(kind) => Expected::Field(kind.clone()),
                _ => Expected::Unknown,
            };
            envoy_value(w, item, depth, None, item_expected)
        })?,
        NodeKind::String(text) => {
            let lua = key.is_some_and(|k| k == "lua:inline_code" || k == "lua:inline_string");
            if w.style != Style::Literal
                && expected.is_duration()
                && let Some(duration) = duration_literal(text)
            {
                w.push(&duration);
            } else if w.style != Style::Literal
                && let Some(block) = triple_string(text, depth, lua)
            {
                if block.len() > 80 {
                    let name = format!("{}_{}", w.name, if lua { "lua" } else { "text" });
                    w.shareable.push(Shareable { text: block.clone(), name });
                }
                w.push(&block);
            } else {
                w.push(&quote(text));
            }
        }
        _ => scalar(w, value)?,
    }
    w.mark(start, value.span);
    Ok(())
}

/// Keys whose strings are Lua code, marked so that they become `lua"""` blocks.
fn lua_key(key: &str) -> &str {
    match key {
        "inline_code" | "inlineCode" => "lua:inline_code",
        "inline_string" | "inlineString" => "lua:inline_string",
        "default_source_code" | "defaultSourceCode" | "source_codes" | "sourceCodes" => "source_code",
        other => other,
    }
}

/// Any JSON-like value as written (plugin configs).
fn plain_value(w: &mut Writer, value: &Node, depth: usize) -> Refusal {
    let start = w.out.len();
    match &value.kind {
        NodeKind::Object(members) => {
            let fields: Vec<&Member> = members.iter().collect();
            object_text(w, &fields, depth, |w, member, depth| plain_value(w, &member.value, depth))?;
        }
        NodeKind::List(items) => list_text(w, items, depth, plain_value)?,
        NodeKind::String(text) => w.push(&quote(text)),
        _ => scalar(w, value)?,
    }
    w.mark(start, value.span);
    Ok(())
}

fn object_text(
    w: &mut Writer,
    fields: &[&Member],
    depth: usize,
    mut each: impl FnMut(&mut Writer, &Member, usize) -> Refusal,
) -> Refusal {
    if fields.is_empty() {
        w.push("{}");
        return Ok(());
    }
    w.line("{");
    for member in fields {
        w.push(&"  ".repeat(depth + 1));
        let key = if is_plain_key(&member.key) { member.key.clone() } else { quote(&member.key) };
        w.from(member.key_span, &key);
        w.push(": ");
        each(w, member, depth + 1)?;
        w.line("");
    }
    w.push(&"  ".repeat(depth));
    w.push("}");
    Ok(())
}

fn list_text(
    w: &mut Writer,
    items: &[Node],
    depth: usize,
    mut each: impl FnMut(&mut Writer, &Node, usize) -> Refusal,
) -> Refusal {
    if items.is_empty() {
        w.push("[]");
        return Ok(());
    }
    w.line("[");
    for item in items {
        w.push(&"  ".repeat(depth + 1));
        each(w, item, depth + 1)?;
        w.line("");
    }
    w.push(&"  ".repeat(depth));
    w.push("]");
    Ok(())
}

fn scalar(w: &mut Writer, value: &Node) -> Refusal {
    match &value.kind {
        NodeKind::Null => w.push("null"),
        NodeKind::Bool(b) => w.push(if *b { "true" } else { "false" }),
        NodeKind::Number { .. } => {
            let text = number_text(value, "a number")?;
            w.push(&text);
        }
        _ => return Err(refuse(value.span, "meshc cannot write this value", "an unreadable value")),
    }
    Ok(())
}

// -- Values -------------------------------------------------------------------------

fn object<'n>(node: &'n Node, what: &str) -> Result<&'n [Member], Diagnostic> {
    match &node.kind {
        NodeKind::Object(members) => Ok(members),
        NodeKind::Null => Ok(&[]),
        _ => Err(refuse(node.span, format!("{what} must be an object, not {}", node.describe()), "not an object")),
    }
}

fn list<'n>(node: &'n Node, what: &str) -> Result<&'n [Node], Diagnostic> {
    match &node.kind {
        NodeKind::List(items) => Ok(items),
        _ => Err(refuse(node.span, format!("`{what}` must be a list, not {}", node.describe()), "not a list")),
    }
}

fn string<'n>(node: &'n Node, what: &str) -> Result<&'n str, Diagnostic> {
    node.as_str()
        .ok_or_else(|| refuse(node.span, format!("{what} must be a string, not {}", node.describe()), "not a string"))
}

fn boolean(node: &Node, what: &str) -> Result<&'static str, Diagnostic> {
    match node.kind {
        NodeKind::Bool(true) => Ok("true"),
        NodeKind::Bool(false) => Ok("false"),
        _ => {
            Err(refuse(node.span, format!("`{what}` must be true or false, not {}", node.describe()), "not a boolean"))
        }
    }
}

fn integer(node: &Node, what: &str) -> Result<String, Diagnostic> {
    match &node.kind {
        NodeKind::Number { raw, .. } if raw.parse::<i64>().is_ok() => Ok(raw.clone()),
        _ => {
            Err(refuse(node.span, format!("{what} must be a whole number, not {}", node.describe()), "not an integer"))
        }
    }
}

/// A number as the grammar reads it, keeping how the YAML wrote it.
fn number_text(node: &Node, what: &str) -> Result<String, Diagnostic> {
    let NodeKind::Number { value, raw } = &node.kind else {
        return Err(refuse(node.span, format!("{what} must be a number, not {}", node.describe()), "not a number"));
    };
    let grammatical = {
        let body = raw.strip_prefix('-').unwrap_or(raw);
        let (mantissa, exponent) = match body.find(['e', 'E']) {
            Some(at) => (&body[..at], Some(&body[at + 1..])),
            None => (body, None),
        };
        let (whole, fraction) = mantissa.split_once('.').map(|(a, b)| (a, Some(b))).unwrap_or((mantissa, None));
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        digits(whole)
            && fraction.is_none_or(digits)
            && exponent.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)))
    };
    if grammatical {
        Ok(raw.clone())
    } else if value.is_finite() {
        Ok(format!("{value:?}"))
    } else {
        Err(refuse(node.span, format!("meshc cannot write the number `{raw}`"), "not a finite number"))
    }
}

/// `{ key: "value", ... }` for a map of strings (labels, selectors, metadata).
fn string_map_text(node: &Node) -> Result<String, Diagnostic> {
    let members = object(node, "a map of strings")?;
    let mut parts = Vec::new();
    for member in members {
        let value = string(&member.value, "a label value")?;
        let key = if is_plain_key(&member.key) { member.key.clone() } else { quote(&member.key) };
        parts.push(format!("{key}: {}", quote(value)));
    }
    if parts.is_empty() {
        return Err(refuse(node.span, "an empty map", "meshc writes no empty map"));
    }
    Ok(format!("{{ {} }}", parts.join(", ")))
}

/// A YAML value's enum in the `.mesh` spelling of `table` (`SIDECAR_INBOUND` is `sidecar_inbound`).
fn enum_word(node: &Node, table: &[(&'static str, &'static str)], what: &str) -> Result<&'static str, Diagnostic> {
    let text = string(node, what)?;
    table.iter().find(|(_, istio)| *istio == text).map(|(word, _)| *word).ok_or_else(|| {
        let known: Vec<&str> = table.iter().map(|(_, istio)| *istio).collect();
        refuse(
            node.span,
            format!("`{text}` is not a value of `{what}` meshc knows"),
            format!("expected one of {}", known.join(", ")),
        )
    })
}

fn unknown_field(member: &Member, what: &str) -> Diagnostic {
    refuse(
        member.key_span,
        format!("meshc cannot write `{}` of {what}", member.key),
        "no statement of the language produces this field",
    )
}

fn describe(node: &Node) -> String {
    node.as_str().map(str::to_string).unwrap_or_else(|| node.describe().to_string())
}

fn quote(text: &str) -> String {
    crate::fmt::quote(text)
}

/// A string inside a CEL expression (tag values of `tag NAME = ...`).
fn cel_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

fn tag_name(name: &str) -> String {
    let word = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if word { name.to_string() } else { quote(name) }
}

fn is_plain_key(key: &str) -> bool {
    key.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_path(text: &str) -> bool {
    !text.is_empty() && text.split('.').all(is_plain_key)
}

/// A duration literal (`5m`, `250ms`) for a string that protobuf JSON writes the
/// same way back; `None` for any other string.
pub(crate) fn duration_literal(text: &str) -> Option<String> {
    let body = text.strip_suffix('s')?;
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let nanos = crate::duration::parse_duration_literal(text).ok()?;
    if crate::duration::format_duration(nanos) != text {
        return None;
    }
    // The largest unit that writes the duration whole.
    for (unit, size) in [
        ("h", 3_600_000_000_000i128),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
        ("ns", 1),
    ] {
        if nanos != 0 && nanos % size == 0 {
            return Some(format!("{}{unit}", nanos / size));
        }
    }
    Some("0s".to_string())
}

/// A `"""` block (tagged `lua` for Lua code) for multi-line text that the block reads
/// back exactly, by the formatter's rules: no `"""` inside, no carriage returns, no
/// blank line of spaces, and not every line indented (the block removes common
/// indentation). Text without a final line break closes on its last line.
fn triple_string(text: &str, depth: usize, lua: bool) -> Option<String> {
    if !text.contains('\n') || text.contains("\"\"\"") || text.contains('\r') || text.starts_with('\n') {
        return None;
    }
    let body = text.strip_suffix('\n').unwrap_or(text);
    let lines: Vec<&str> = body.split('\n').collect();
    let indented = lines.iter().filter(|l| !l.is_empty()).all(|l| l.starts_with([' ', '\t']));
    let blank_with_spaces = lines.iter().any(|l| !l.is_empty() && l.trim().is_empty());
    if indented || blank_with_spaces || (!text.ends_with('\n') && text.ends_with('"')) {
        return None;
    }
    let pad = "  ".repeat(depth + 1);
    let mut out = String::from(if lua { "lua\"\"\"\n" } else { "\"\"\"\n" });
    for line in lines {
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
        out.push('\n');
    }
    if text.ends_with('\n') {
        out.push_str(&"  ".repeat(depth));
    } else {
        out.pop();
    }
    out.push_str("\"\"\"");
    Some(out)
}
