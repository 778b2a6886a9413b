//! Envoy message literals checked against the schema of every targeted Envoy version.
//!
//! A typed message (`envoy.extensions.filters.http.lua.v3.Lua { ... }`), the value of
//! an EnvoyFilter patch (typed by its `applyTo`) and everything nested in them, down
//! through `typed_config` values resolved by their `@type`, is checked against the
//! descriptors recovered from each Envoy build ([`crate::descriptors`]): unknown
//! fields with did-you-mean, values of the wrong kind, enum values, oneof conflicts,
//! the protoc-gen-validate rules of every field ([`super::envoy_rules`]), deprecated
//! fields (a warning, naming the replacement where one is known), fields and enum
//! values disallowed by default (an error, as Envoy rejects them without a runtime
//! override) and work-in-progress messages and fields (a warning). A mistake found in
//! every version is reported once; one found in some versions names them.

use super::common::Ctx;
use super::envoy_rules::{FieldRules, Rules, Scalar, count_problems, parse_duration};
use crate::descriptors;
use crate::diagnostic::{Diagnostic, Severity, codes, did_you_mean};
use crate::span::Span;
use crate::syntax::ast::*;
use crate::versions;
use prost_reflect::{
    DescriptorPool, DynamicMessage, EnumDescriptor, ExtensionDescriptor, FieldDescriptor, Kind, MessageDescriptor,
    ReflectMessage, Value as Reflected,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

/// Linked schemas by Envoy version, loaded once per process: each takes tens of
/// milliseconds to link, and is the same every time.
fn schema(version: &'static str) -> Option<Arc<Schema>> {
    static SCHEMAS: OnceLock<Mutex<BTreeMap<&'static str, Option<Arc<Schema>>>>> = OnceLock::new();
    let schemas = SCHEMAS.get_or_init(|| Mutex::new(BTreeMap::new()));
    let mut schemas = schemas.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    schemas
        .entry(version)
        .or_insert_with(|| descriptors::load(version).ok().map(|pool| Arc::new(Schema::new(pool))))
        .clone()
}

/// The linked descriptor pool of an Envoy build (`1.38.2`), from the same per-process
/// cache the checks use; the language server completes and describes fields with it.
pub fn descriptor_pool(version: &'static str) -> Option<DescriptorPool> {
    schema(version).map(|schema| schema.pool.clone())
}

/// The Envoy builds (versions) a package targets: those of its Istio releases and
/// the extra Envoy minors of its manifest.
pub fn targeted_envoys(ctx: &Ctx) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for release in &ctx.releases {
        if let Some(build) = versions::envoy_build(release.envoy)
            && !out.contains(&build.version)
        {
            out.push(build.version);
        }
    }
    if let Some(manifest) = ctx.manifest {
        for envoy in &manifest.envoy {
            if let Some(build) = versions::envoy_build(&envoy.value)
                && !out.contains(&build.version)
            {
                out.push(build.version);
            }
        }
    }
    out.sort();
    out
}

/// Whether a value stands for a whole message, or for a part merged into one that
/// Envoy already has (an EnvoyFilter MERGE), where required fields may be left out.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Completeness {
    Whole,
    Partial,
}

/// Checks `fields` as a message of type `type_name` in every targeted Envoy version.
pub fn check_message(ctx: &mut Ctx, type_name: &str, type_span: Span, fields: &[Entry], completeness: Completeness) {
    let envoys = targeted_envoys(ctx);
    // A package thinks in Istio releases: name them beside the Envoy they ship.
    let names: Vec<String> = envoys
        .iter()
        .map(|envoy| {
            let istio: Vec<&str> = ctx
                .releases
                .iter()
                .filter(|r| versions::envoy_build(r.envoy).is_some_and(|b| b.version == *envoy))
                .map(|r| r.version)
                .collect();
            if istio.is_empty() {
                format!("Envoy {envoy}")
            } else {
                format!("Istio {} (Envoy {envoy})", istio.join(", "))
            }
        })
        .collect();
    let mut found = check_each_version(&envoys, type_name, type_span, fields, completeness, Strictness::Language, &[]);
    for (_, version) in &mut found {
        let index = envoys.iter().position(|v| v == version).unwrap_or(0);
        *version = names[index].clone();
    }
    ctx.diagnostics.extend(report_by_version(found, &names));
}

/// How literally values must match their fields' types.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Strictness {
    /// meshc's own values: a number is written as a number.
    Language,
    /// Envoy's own YAML and JSON, which accept proto3 JSON's loose forms, such as
    /// `"8080"` for an integer.
    ProtoJson,
}

/// Checks a message in each of `envoys`, reporting every distinct mistake once.
/// `allowed_deprecated` names deprecated fields that the config's runtime re-enables
/// (`envoy.deprecated_features:FIELD: true`), which are then not disallowed.
pub fn check_in_versions(
    envoys: &[&'static str],
    type_name: &str,
    type_span: Span,
    fields: &[Entry],
    completeness: Completeness,
    strictness: Strictness,
    allowed_deprecated: &[String],
) -> Vec<Diagnostic> {
    let found = check_each_version(envoys, type_name, type_span, fields, completeness, strictness, allowed_deprecated)
        .into_iter()
        .map(|(diagnostic, version)| (diagnostic, format!("Envoy {version}")))
        .collect();
    let names: Vec<String> = envoys.iter().map(|v| format!("Envoy {v}")).collect();
    report_by_version(found, &names)
}

/// The diagnostics of each version, with the version they came from.
fn check_each_version(
    envoys: &[&'static str],
    type_name: &str,
    type_span: Span,
    fields: &[Entry],
    completeness: Completeness,
    strictness: Strictness,
    allowed_deprecated: &[String],
) -> Vec<(Diagnostic, String)> {
    let mut found: Vec<(Diagnostic, String)> = Vec::new();
    for version in envoys {
        let Some(schema) = schema(version) else { continue };
        let minor = version.split('.').nth(1).and_then(|m| m.parse().ok()).unwrap_or(0);
        let mut checker = MessageChecker {
            schema: &schema,
            diagnostics: Vec::new(),
            inside_file: None,
            completeness,
            strictness,
            minor,
            allowed_deprecated,
        };
        match schema.pool.get_message_by_name(type_name) {
            Some(message) => checker.fields(&message, fields, type_span),
            None => checker.unknown_type(type_name, type_span),
        }
        found.extend(checker.diagnostics.into_iter().map(|d| (d, version.to_string())));
    }
    found
}

/// One diagnostic per distinct mistake, saying which versions it applies to unless
/// it applies to all of them.
fn report_by_version(found: Vec<(Diagnostic, String)>, all: &[String]) -> Vec<Diagnostic> {
    let mut grouped: Vec<(Diagnostic, Vec<String>)> = Vec::new();
    for (diagnostic, version) in found {
        match grouped.iter_mut().find(|(d, _)| *d == diagnostic) {
            Some((_, versions)) => versions.push(version),
            None => grouped.push((diagnostic, vec![version])),
        }
    }
    grouped
        .into_iter()
        .map(|(mut diagnostic, versions)| {
            if versions.len() == all.len() {
                diagnostic.notes.push(format!("in {}", versions.join(", ")));
            } else {
                diagnostic.message = format!("{} in {}", diagnostic.message, versions.join(", "));
                let fine: Vec<&str> = all.iter().filter(|v| !versions.contains(v)).map(String::as_str).collect();
                let verb = if diagnostic.is_error() { "accepts it" } else { "does not warn of it" };
                diagnostic.notes.push(format!("{} {verb}", fine.join(", ")));
            }
            diagnostic
        })
        .collect()
}

/// One Envoy version's linked schema, with what the checker learns about each message
/// on first use: the options of its fields are decoded once, not at every value.
pub struct Schema {
    pool: DescriptorPool,
    annotations: Annotations,
    messages: Mutex<HashMap<String, Arc<MessageInfo>>>,
}

/// The option extensions that carry Envoy's annotations, where the schema has them.
struct Annotations {
    rules: Option<ExtensionDescriptor>,
    oneof_required: Option<ExtensionDescriptor>,
    rules_disabled: Option<ExtensionDescriptor>,
    disallowed: Option<ExtensionDescriptor>,
    disallowed_enum: Option<ExtensionDescriptor>,
    field_status: Option<ExtensionDescriptor>,
    message_status: Option<ExtensionDescriptor>,
    file_status: Vec<ExtensionDescriptor>,
}

/// What matters about one message type.
struct MessageInfo {
    /// Fields with rules or annotations, by field number.
    fields: HashMap<u32, FieldInfo>,
    /// Fields that a whole message must set (their rules fail on the default value),
    /// with what their rule asks.
    required: Vec<FieldDescriptor>,
    /// Oneofs marked `(validate.required)`: one of their fields must be set.
    required_oneofs: Vec<Vec<FieldDescriptor>>,
    /// `(validate.disabled)`: the message's rules are not checked.
    rules_disabled: bool,
    /// The message is marked work in progress.
    work_in_progress: bool,
    /// Its whole file is, under this name.
    work_in_progress_file: Option<String>,
}

#[derive(Default)]
struct FieldInfo {
    rules: Option<FieldRules>,
    deprecated: bool,
    disallowed: bool,
    work_in_progress: bool,
}

impl Schema {
    fn new(pool: DescriptorPool) -> Schema {
        let extension = |name: &str| pool.get_extension_by_name(name);
        let annotations = Annotations {
            rules: extension("validate.rules"),
            oneof_required: extension("validate.required"),
            rules_disabled: extension("validate.disabled"),
            disallowed: extension("envoy.annotations.disallowed_by_default"),
            disallowed_enum: extension("envoy.annotations.disallowed_by_default_enum"),
            field_status: extension("xds.annotations.v3.field_status"),
            message_status: extension("xds.annotations.v3.message_status"),
            file_status: ["xds.annotations.v3.file_status", "udpa.annotations.file_status"]
                .into_iter()
                .filter_map(extension)
                .collect(),
        };
        Schema { pool, annotations, messages: Mutex::new(HashMap::new()) }
    }

    fn message_info(&self, message: &MessageDescriptor) -> Arc<MessageInfo> {
        if let Some(info) = self.messages.lock().unwrap_or_else(|p| p.into_inner()).get(message.full_name()) {
            return info.clone();
        }
        let info = Arc::new(self.learn(message));
        self.messages.lock().unwrap_or_else(|p| p.into_inner()).insert(message.full_name().to_string(), info.clone());
        info
    }

    fn learn(&self, message: &MessageDescriptor) -> MessageInfo {
        let a = &self.annotations;
        let mut fields = HashMap::new();
        let mut required = Vec::new();
        for field in message.fields() {
            let proto_options = field.field_descriptor_proto().options.as_ref();
            let Some(proto_options) = proto_options else { continue };
            let options = field.options();
            let mut info = FieldInfo { deprecated: proto_options.deprecated(), ..FieldInfo::default() };
            if let Some(rules) = &a.rules
                && options.has_extension(rules)
                && let Reflected::Message(rules) = options.get_extension(rules).as_ref()
            {
                let compiled = FieldRules::compile(rules);
                if !compiled.is_empty() {
                    info.rules = Some(compiled);
                }
            }
            info.disallowed = a.disallowed.as_ref().is_some_and(|d| extension_flag(&options, d));
            info.work_in_progress = a.field_status.as_ref().is_some_and(|s| status_work_in_progress(&options, s));
            if let Some(rules) = &info.rules
                && field.containing_oneof().is_none()
                && fails_when_unset(&field, rules)
            {
                required.push(field.clone());
            }
            fields.insert(field.number(), info);
        }
        let required_oneofs = message
            .oneofs()
            .filter(|o| !o.is_synthetic())
            .filter(|o| a.oneof_required.as_ref().is_some_and(|r| extension_flag(&o.options(), r)))
            .map(|o| o.fields().collect())
            .collect();
        let message_options = message.options();
        let rules_disabled = a.rules_disabled.as_ref().is_some_and(|d| extension_flag(&message_options, d));
        let file_options = message.parent_file().options();
        let work_in_progress = a.message_status.as_ref().is_some_and(|s| status_work_in_progress(&message_options, s));
        let work_in_progress_file = a
            .file_status
            .iter()
            .any(|s| status_work_in_progress(&file_options, s))
            .then(|| message.parent_file().name().to_string());
        MessageInfo { fields, required, required_oneofs, rules_disabled, work_in_progress, work_in_progress_file }
    }
}

/// Whether every field of a message is disallowed by default.
fn info_all_disallowed(schema: &Schema, message: &MessageDescriptor) -> bool {
    let info = schema.message_info(message);
    message.fields().len() > 0 && message.fields().all(|f| info.fields.get(&f.number()).is_some_and(|i| i.disallowed))
}

/// Whether an unset field breaks its rules: a required message, or a scalar or list
/// whose default value (empty, zero) the rules reject.
fn fails_when_unset(field: &FieldDescriptor, rules: &FieldRules) -> bool {
    if rules.required {
        return true;
    }
    if field.is_list() || field.is_map() {
        return !rules.default_problems().is_empty();
    }
    match field.kind() {
        Kind::Message(_) => false,
        _ => !rules.default_problems().is_empty(),
    }
}

fn extension_flag(options: &DynamicMessage, extension: &ExtensionDescriptor) -> bool {
    options.has_extension(extension) && matches!(options.get_extension(extension).as_ref(), Reflected::Bool(true))
}

/// `work_in_progress: true` inside a status annotation (xds or udpa).
fn status_work_in_progress(options: &DynamicMessage, extension: &ExtensionDescriptor) -> bool {
    if !options.has_extension(extension) {
        return false;
    }
    match options.get_extension(extension).as_ref() {
        Reflected::Message(status) => status
            .descriptor()
            .get_field_by_name("work_in_progress")
            .is_some_and(|f| matches!(status.get_field(&f).as_ref(), Reflected::Bool(true))),
        _ => false,
    }
}

/// Deprecated fields and what replaces them, from Envoy's documentation of each field
/// (the descriptors compiled into Envoy keep the deprecation but not the comments that
/// name the replacement). A test checks that each entry is a deprecated field of a
/// pinned build and that its replacement is a field of the same message.
pub const REPLACEMENTS: &[(&str, &str)] = &[
    ("envoy.extensions.filters.http.lua.v3.Lua.inline_code", "default_source_code"),
    ("envoy.config.route.v3.HeaderMatcher.exact_match", "string_match"),
    ("envoy.config.route.v3.HeaderMatcher.prefix_match", "string_match"),
    ("envoy.config.route.v3.HeaderMatcher.suffix_match", "string_match"),
    ("envoy.config.route.v3.HeaderMatcher.contains_match", "string_match"),
    ("envoy.config.route.v3.HeaderMatcher.safe_regex_match", "string_match"),
    ("envoy.config.core.v3.HeaderValueOption.append", "append_action"),
    ("envoy.extensions.access_loggers.file.v3.FileAccessLog.format", "log_format"),
    ("envoy.extensions.access_loggers.file.v3.FileAccessLog.json_format", "log_format"),
    ("envoy.extensions.access_loggers.file.v3.FileAccessLog.typed_json_format", "log_format"),
    ("envoy.config.cluster.v3.Cluster.http_protocol_options", "typed_extension_protocol_options"),
    ("envoy.config.cluster.v3.Cluster.http2_protocol_options", "typed_extension_protocol_options"),
    ("envoy.config.cluster.v3.Cluster.common_http_protocol_options", "typed_extension_protocol_options"),
    ("envoy.config.cluster.v3.Cluster.upstream_http_protocol_options", "typed_extension_protocol_options"),
    ("envoy.config.cluster.v3.Cluster.protocol_selection", "typed_extension_protocol_options"),
    ("envoy.config.cluster.v3.Cluster.max_requests_per_connection", "typed_extension_protocol_options"),
    ("envoy.config.cluster.v3.Cluster.dns_resolvers", "typed_dns_resolver_config"),
    ("envoy.config.cluster.v3.Cluster.use_tcp_for_dns_lookups", "typed_dns_resolver_config"),
    ("envoy.config.cluster.v3.Cluster.dns_resolution_config", "typed_dns_resolver_config"),
    ("envoy.config.bootstrap.v3.Bootstrap.use_tcp_for_dns_lookups", "typed_dns_resolver_config"),
    ("envoy.config.bootstrap.v3.Bootstrap.dns_resolution_config", "typed_dns_resolver_config"),
    ("envoy.config.bootstrap.v3.Bootstrap.watchdog", "watchdogs"),
    ("envoy.config.bootstrap.v3.Admin.access_log_path", "access_log"),
    ("envoy.config.route.v3.RouteAction.internal_redirect_action", "internal_redirect_policy"),
    ("envoy.config.route.v3.RouteAction.max_internal_redirects", "internal_redirect_policy"),
    ("envoy.config.route.v3.RouteAction.max_grpc_timeout", "max_stream_duration"),
    ("envoy.config.route.v3.RouteAction.grpc_timeout_offset", "max_stream_duration"),
    ("envoy.config.route.v3.VirtualHost.cors", "typed_per_filter_config"),
    (
        "envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext.match_subject_alt_names",
        "match_typed_subject_alt_names",
    ),
    ("envoy.config.core.v3.ConfigSource.path", "path_config_source"),
    ("envoy.config.core.v3.SubstitutionFormatString.text_format", "text_format_source"),
    ("envoy.config.core.v3.HealthCheck.event_log_path", "event_logger"),
    ("envoy.config.listener.v3.Listener.reuse_port", "enable_reuse_port"),
    ("envoy.config.core.v3.BindConfig.additional_source_addresses", "extra_source_addresses"),
    ("envoy.config.rbac.v3.Principal.source_ip", "direct_remote_ip"),
    ("envoy.config.rbac.v3.Principal.metadata", "sourced_metadata"),
    ("envoy.config.rbac.v3.Permission.metadata", "sourced_metadata"),
    (
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.access_log_flush_interval",
        "access_log_options",
    ),
    (
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.flush_access_log_on_new_request",
        "access_log_options",
    ),
    ("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.access_log_flush_interval", "access_log_options"),
    ("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.flush_access_log_on_connected", "access_log_options"),
    ("envoy.config.route.v3.Route.per_request_buffer_limit_bytes", "request_body_buffer_limit"),
    ("envoy.config.route.v3.VirtualHost.per_request_buffer_limit_bytes", "request_body_buffer_limit"),
];

/// The replacement of a deprecated field, where one is known.
pub fn replacement(field: &FieldDescriptor) -> Option<&'static str> {
    REPLACEMENTS.iter().find(|(name, _)| *name == field.full_name()).map(|(_, replacement)| *replacement)
}

struct MessageChecker<'s> {
    schema: &'s Schema,
    diagnostics: Vec<Diagnostic>,
    /// The work-in-progress file whose messages are being checked, if any.
    inside_file: Option<String>,
    /// The Envoy minor version (`38`), for behaviour that changed between releases.
    minor: u32,
    /// Deprecated fields the config's runtime re-enables.
    allowed_deprecated: &'s [String],
    completeness: Completeness,
    strictness: Strictness,
}

/// Whether a value stands for "not set": Envoy's JSON reader takes `null` as the
/// field's default.
fn is_null(value: &Value) -> bool {
    matches!(value.kind, ValueKind::Null)
}

/// The entry that sets a field, by its proto or JSON name.
fn entry_for<'e>(entries: &'e [Entry], field: &FieldDescriptor) -> Option<&'e Entry> {
    entries.iter().find(|e| (e.key.name == field.name() || e.key.name == field.json_name()) && !is_null(&e.value))
}

impl MessageChecker<'_> {
    fn unknown_type(&mut self, type_name: &str, span: Span) {
        let names: Vec<String> = self.schema.pool.all_messages().map(|m| m.full_name().to_string()).collect();
        let mut diagnostic =
            Diagnostic::new(codes::UNKNOWN_ENVOY_TYPE, span, format!("`{type_name}` is not a message type of Envoy"))
                .with_label_message("unknown type");
        if let Some(suggestion) = did_you_mean(type_name, names.iter().map(String::as_str)) {
            diagnostic = diagnostic.with_did_you_mean(span, suggestion);
        }
        self.diagnostics.push(diagnostic);
    }

    fn fields(&mut self, message: &MessageDescriptor, entries: &[Entry], anchor: Span) {
        let info = self.schema.message_info(message);
        // A work-in-progress file is reported where a value enters it, not at each of
        // its messages.
        let entered_file = info.work_in_progress_file.is_some() && info.work_in_progress_file != self.inside_file;
        let outer_file = std::mem::replace(&mut self.inside_file, info.work_in_progress_file.clone());
        if info.work_in_progress || entered_file {
            self.work_in_progress(anchor, format!("`{}`", message.full_name()));
        }
        if self.completeness == Completeness::Whole && !info.rules_disabled {
            self.required(message, &info, entries, anchor);
        }
        let mut oneofs: BTreeMap<String, &Entry> = BTreeMap::new();
        for entry in entries {
            if entry.key.name == "@type" {
                continue;
            }
            let Some(field) =
                message.get_field_by_name(&entry.key.name).or_else(|| message.get_field_by_json_name(&entry.key.name))
            else {
                self.unknown_field(message, &entry.key);
                continue;
            };
            if is_null(&entry.value) {
                continue;
            }
            if let Some(oneof) = field.containing_oneof()
                && !oneof.is_synthetic()
            {
                if let Some(previous) = oneofs.get(oneof.name()) {
                    self.diagnostics.push(
                        Diagnostic::new(
                            codes::ENVOY_ONEOF_CONFLICT,
                            entry.key.span,
                            format!(
                                "`{}` and `{}` are alternatives of `{}`; set one",
                                previous.key.name,
                                entry.key.name,
                                oneof.name()
                            ),
                        )
                        .with_label_message("a second alternative")
                        .with_secondary(previous.key.span, "the first one"),
                    );
                } else {
                    oneofs.insert(oneof.name().to_string(), entry);
                }
            }
            let field_info = info.fields.get(&field.number());
            if let Some(field_info) = field_info
                && is_set(&field, &entry.value)
            {
                self.annotations(message, &field, field_info, entry);
            }
            self.field_value(&field, &entry.value);
            if !info.rules_disabled
                && let Some(rules) = field_info.and_then(|f| f.rules.as_ref())
            {
                self.validate(&field, rules, &entry.value);
            }
        }
        if message.full_name() == "envoy.type.matcher.v3.RegexMatcher"
            && let Some(entry) = entries.iter().find(|e| e.key.name == "regex")
            && let Some(diagnostic) = re2_syntax(&entry.value)
        {
            self.diagnostics.push(diagnostic);
        }
        if matches!(
            message.full_name(),
            "envoy.extensions.filters.http.lua.v3.Lua" | "envoy.extensions.filters.http.lua.v3.LuaPerRoute"
        ) {
            for code in lua_sources(entries) {
                if let Some(diagnostic) = lua_syntax(code) {
                    self.diagnostics.push(diagnostic);
                }
            }
        }
        self.inside_file = outer_file;
    }

    /// Deprecated, disallowed and work-in-progress fields.
    fn annotations(&mut self, message: &MessageDescriptor, field: &FieldDescriptor, info: &FieldInfo, entry: &Entry) {
        // Envoy rejects a disallowed field from 1.39 on, unless the runtime re-enables
        // it; earlier releases only warn, as for any deprecated field. A message whose
        // every field is disallowed is an extension Envoy removed, which no release
        // has a factory for.
        let allowed = self.allowed_deprecated.iter().any(|f| f == field.full_name());
        let removed = info_all_disallowed(self.schema, message);
        if info.disallowed && (self.minor >= 39 || removed) && !allowed {
            let mut diagnostic = Diagnostic::new(
                codes::ENVOY_DISALLOWED_FIELD,
                entry.key.span,
                format!("`{}` of `{}` is deprecated and disallowed by default", field.name(), message.full_name()),
            )
            .with_label_message("disallowed by default")
            .with_note("Envoy rejects it unless the runtime re-enables this deprecated feature");
            if let Some(replacement) = replacement(field) {
                diagnostic = diagnostic.with_help(format!("use `{replacement}` instead"));
            }
            self.diagnostics.push(diagnostic);
        } else if info.deprecated || info.disallowed {
            let mut diagnostic = Diagnostic::new(
                codes::ENVOY_DEPRECATED_FIELD,
                entry.key.span,
                format!("`{}` is deprecated in `{}`", field.name(), message.full_name()),
            )
            .with_label_message("deprecated")
            .with_severity(Severity::Warning);
            if let Some(replacement) = replacement(field) {
                diagnostic = diagnostic.with_help(format!("use `{replacement}` instead"));
                if message.get_field_by_name(replacement).is_some_and(|r| r.kind() == field.kind()) {
                    diagnostic = diagnostic.with_did_you_mean(entry.key.span, replacement);
                }
            }
            self.diagnostics.push(diagnostic);
        }
        if info.work_in_progress {
            self.work_in_progress(entry.key.span, format!("`{}` of `{}`", field.name(), message.full_name()));
        }
    }

    fn work_in_progress(&mut self, span: Span, what: String) {
        self.diagnostics.push(
            Diagnostic::new(codes::ENVOY_WORK_IN_PROGRESS, span, format!("{what} is work in progress in Envoy"))
                .with_label_message("work in progress")
                .with_severity(Severity::Warning)
                .with_note("Envoy accepts it, but its behaviour and schema may change without a deprecation period"),
        );
    }

    /// Fields that a whole message must set, and required oneofs.
    fn required(&mut self, message: &MessageDescriptor, info: &MessageInfo, entries: &[Entry], anchor: Span) {
        let mut missing = Vec::new();
        for field in &info.required {
            if entry_for(entries, field).is_none() {
                missing.push(format!("`{}`", field.name()));
            }
        }
        for oneof in &info.required_oneofs {
            if !oneof.iter().any(|f| entry_for(entries, f).is_some()) {
                missing.push(format!(
                    "one of {}",
                    oneof.iter().map(|f| format!("`{}`", f.name())).collect::<Vec<_>>().join(", ")
                ));
            }
        }
        if missing.is_empty() {
            return;
        }
        self.diagnostics.push(
            Diagnostic::new(
                codes::ENVOY_RULE_VIOLATED,
                anchor,
                format!("`{}` requires {}", message.full_name(), missing.join(", ")),
            )
            .with_label_message(format!("missing {}", missing.join(", "))),
        );
    }

    /// protoc-gen-validate rules on a given value.
    fn validate(&mut self, field: &FieldDescriptor, rules: &FieldRules, value: &Value) {
        let mut problems = Vec::new();
        match (&rules.kind, &value.kind) {
            (Rules::Repeated(repeated), ValueKind::List(items)) => {
                if !(repeated.ignore_empty && items.is_empty()) {
                    problems.extend(count_problems(
                        items.len() as u64,
                        repeated.min_items,
                        repeated.max_items,
                        "list",
                        "item",
                    ));
                    if let Some(item_rules) = &repeated.items {
                        for item in items {
                            self.validate_single(field, item_rules, item);
                        }
                    }
                    if repeated.unique {
                        let mut seen: Vec<String> = Vec::new();
                        for item in items {
                            let Some(text) = scalar_text(item) else { continue };
                            if seen.contains(&text) {
                                self.violation(field, item, vec!["a list of unique items".to_string()]);
                            }
                            seen.push(text);
                        }
                    }
                }
            }
            (Rules::Map(map), ValueKind::Object(entries)) => {
                if !(map.ignore_empty && entries.is_empty()) {
                    problems.extend(count_problems(entries.len() as u64, map.min_pairs, map.max_pairs, "map", "entry"));
                    for entry in entries {
                        if let Some(key_rules) = &map.keys {
                            let key_problems = key_rules.scalar_problems(Scalar::Str(&entry.key.name));
                            if !key_problems.is_empty() {
                                self.diagnostics.push(
                                    Diagnostic::new(
                                        codes::ENVOY_RULE_VIOLATED,
                                        entry.key.span,
                                        format!(
                                            "the keys of `{}` must be {}",
                                            field.name(),
                                            key_problems.join(" and ")
                                        ),
                                    )
                                    .with_label_message("violates the schema's validation rule"),
                                );
                            }
                        }
                        if let Some(value_rules) = &map.values
                            && let Kind::Message(entry_type) = field.kind()
                        {
                            self.validate_single(&entry_type.map_entry_value_field(), value_rules, &entry.value);
                        }
                    }
                }
            }
            _ => return self.validate_single(field, rules, value),
        }
        if !problems.is_empty() {
            self.violation(field, value, problems);
        }
    }

    /// Rules of one value: the field's own, or those of a list's items.
    fn validate_single(&mut self, field: &FieldDescriptor, rules: &FieldRules, value: &Value) {
        let Some(scalar) = self.scalar(field, value) else { return };
        let problems = rules.scalar_problems(scalar);
        if !problems.is_empty() {
            self.violation(field, value, problems);
        }
    }

    fn violation(&mut self, field: &FieldDescriptor, value: &Value, problems: Vec<String>) {
        self.diagnostics.push(
            Diagnostic::new(
                codes::ENVOY_RULE_VIOLATED,
                value.span,
                format!("`{}` must be {}", field.name(), problems.join(" and ")),
            )
            .with_label_message("violates the schema's validation rule"),
        );
    }

    /// A value as the rules see it, given its field's type; `None` when it is not of
    /// that type (reported elsewhere) or the rules have nothing to say of it.
    fn scalar<'v>(&self, field: &FieldDescriptor, value: &'v Value) -> Option<Scalar<'v>> {
        let loose = self.strictness == Strictness::ProtoJson;
        let number = |value: &'v Value| match &value.kind {
            ValueKind::Number { value, .. } => Some(*value),
            ValueKind::String(s) if loose => s.value.parse::<f64>().ok(),
            _ => None,
        };
        match field.kind() {
            Kind::String | Kind::Bytes => match &value.kind {
                ValueKind::String(s) => Some(Scalar::Str(&s.value)),
                _ => None,
            },
            Kind::Bool => match &value.kind {
                ValueKind::Bool(b) => Some(Scalar::Bool(*b)),
                _ => None,
            },
            Kind::Enum(enumeration) => enum_number(&enumeration, value).map(|(n, defined)| Scalar::Enum(n, defined)),
            Kind::Message(message) => match message.full_name() {
                "google.protobuf.Duration" => duration_seconds(value).map(Scalar::Duration),
                "google.protobuf.Any" => any_type_url(value).map(Scalar::TypeUrl),
                "google.protobuf.StringValue" | "google.protobuf.BytesValue" => match &value.kind {
                    ValueKind::String(s) => Some(Scalar::Str(&s.value)),
                    _ => None,
                },
                "google.protobuf.BoolValue" => match &value.kind {
                    ValueKind::Bool(b) => Some(Scalar::Bool(*b)),
                    _ => None,
                },
                name if name.starts_with("google.protobuf.") && name.ends_with("Value") => {
                    number(value).map(Scalar::Number)
                }
                _ => None,
            },
            _ => number(value).map(Scalar::Number),
        }
    }

    fn unknown_field(&mut self, message: &MessageDescriptor, key: &Key) {
        let names: Vec<String> = message.fields().map(|f| f.name().to_string()).collect();
        let mut diagnostic = Diagnostic::new(
            codes::UNKNOWN_ENVOY_FIELD,
            key.span,
            format!("`{}` has no field `{}`", message.full_name(), key.name),
        )
        .with_label_message("unknown field");
        diagnostic = match did_you_mean(&key.name, names.iter().map(String::as_str)) {
            Some(suggestion) => diagnostic.with_did_you_mean(key.span, suggestion),
            None if names.len() <= 12 => diagnostic.with_note(format!("its fields are: {}", names.join(", "))),
            None => diagnostic,
        };
        self.diagnostics.push(diagnostic);
    }

    fn field_value(&mut self, field: &FieldDescriptor, value: &Value) {
        if field.is_map() {
            let ValueKind::Object(entries) = &value.kind else {
                self.wrong(value, &format!("a map for `{}`", field.name()));
                return;
            };
            let Kind::Message(entry_type) = field.kind() else { return };
            let value_field = entry_type.map_entry_value_field();
            for entry in entries {
                self.single(&value_field, &entry.value);
            }
            return;
        }
        if field.is_list() {
            match &value.kind {
                ValueKind::List(items) => items.iter().for_each(|item| self.single(field, item)),
                // Envoy's YAML loader takes a single value for a list of one.
                _ if self.strictness == Strictness::ProtoJson => self.single(field, value),
                _ => self.wrong(value, &format!("a list for `{}`", field.name())),
            }
            return;
        }
        self.single(field, value);
    }

    /// One value of a field's kind (a list's element, a map's value, or the field).
    fn single(&mut self, field: &FieldDescriptor, value: &Value) {
        if matches!(value.kind, ValueKind::Error | ValueKind::Path(_) | ValueKind::Null) {
            // Names resolve to `let` values elsewhere; errors were reported already;
            // null is the default.
            return;
        }
        match field.kind() {
            Kind::Message(message) => self.message_value(&message, value),
            Kind::Enum(enumeration) => self.enum_value(&enumeration, value),
            Kind::Bool => {
                let loose = self.strictness == Strictness::ProtoJson
                    && matches!(&value.kind, ValueKind::String(s) if s.value == "true" || s.value == "false");
                if !matches!(value.kind, ValueKind::Bool(_)) && !loose {
                    self.wrong(value, "`true` or `false`");
                }
            }
            Kind::String | Kind::Bytes => {
                if !matches!(value.kind, ValueKind::String(_)) {
                    self.wrong(value, "a string");
                }
            }
            Kind::Double | Kind::Float => {
                let loose = self.strictness == Strictness::ProtoJson
                    && matches!(&value.kind, ValueKind::String(s) if s.value.parse::<f64>().is_ok() || matches!(s.value.as_str(), "NaN" | "Infinity" | "-Infinity"));
                if !matches!(value.kind, ValueKind::Number { .. }) && !loose {
                    self.wrong(value, "a number");
                }
            }
            kind => self.integer(&kind, value),
        }
    }

    fn enum_value(&mut self, enumeration: &EnumDescriptor, value: &Value) {
        let word = match &value.kind {
            ValueKind::String(s) => s.value.clone(),
            ValueKind::Number { raw, .. } => raw.clone(),
            _ => return self.wrong(value, &format!("a value of `{}` (a string)", enumeration.full_name())),
        };
        if let Some(defined) = enumeration.get_value_by_name(&word) {
            self.enum_annotations(enumeration, &defined, value);
            return;
        }
        // Envoy parses enum names without regard to case.
        if self.strictness == Strictness::ProtoJson
            && let Some(defined) = enumeration.values().find(|v| v.name().eq_ignore_ascii_case(&word))
        {
            self.enum_annotations(enumeration, &defined, value);
            return;
        }
        if let Ok(number) = word.parse::<i32>() {
            if let Some(defined) = enumeration.get_value(number) {
                self.enum_annotations(enumeration, &defined, value);
            }
            return;
        }
        let names: Vec<String> = enumeration.values().map(|v| v.name().to_string()).collect();
        let mut diagnostic = Diagnostic::new(
            codes::UNKNOWN_ENVOY_ENUM,
            value.span,
            format!("`{word}` is not a value of `{}`", enumeration.full_name()),
        )
        .with_label_message("unknown value")
        .with_note(format!("expected one of: {}", names.join(", ")));
        if let Some(suggestion) = did_you_mean(&word, names.iter().map(String::as_str)) {
            diagnostic = diagnostic.with_did_you_mean(value.span, &format!("\"{suggestion}\""));
        }
        self.diagnostics.push(diagnostic);
    }

    /// Deprecated and disallowed enum values.
    fn enum_annotations(
        &mut self,
        enumeration: &EnumDescriptor,
        defined: &prost_reflect::EnumValueDescriptor,
        value: &Value,
    ) {
        let Some(proto_options) = defined.enum_value_descriptor_proto().options.as_ref() else { return };
        let disallowed =
            self.schema.annotations.disallowed_enum.as_ref().is_some_and(|d| extension_flag(&defined.options(), d));
        // Values named `DEPRECATED_AND_UNAVAILABLE_DO_NOT_USE` are gone from the code,
        // so every release rejects them; other disallowed values only from 1.39 on.
        let unavailable = defined.name().contains("UNAVAILABLE");
        if disallowed && (self.minor >= 39 || unavailable) {
            self.diagnostics.push(
                Diagnostic::new(
                    codes::ENVOY_DISALLOWED_FIELD,
                    value.span,
                    format!(
                        "`{}` of `{}` is deprecated and disallowed by default",
                        defined.name(),
                        enumeration.full_name()
                    ),
                )
                .with_label_message("disallowed by default")
                .with_note("Envoy rejects it unless the runtime re-enables this deprecated feature"),
            );
        } else if proto_options.deprecated() || disallowed {
            self.diagnostics.push(
                Diagnostic::new(
                    codes::ENVOY_DEPRECATED_FIELD,
                    value.span,
                    format!("`{}` of `{}` is deprecated", defined.name(), enumeration.full_name()),
                )
                .with_label_message("deprecated")
                .with_severity(Severity::Warning),
            );
        }
    }

    fn integer(&mut self, kind: &Kind, value: &Value) {
        let raw = match &value.kind {
            ValueKind::Number { raw, .. } => raw.clone(),
            ValueKind::String(s) if self.strictness == Strictness::ProtoJson => s.value.clone(),
            _ => {
                self.wrong(value, "a whole number");
                return;
            }
        };
        let (min, max): (i128, i128) = match kind {
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => (i32::MIN.into(), i32::MAX.into()),
            Kind::Uint32 | Kind::Fixed32 => (0, u32::MAX.into()),
            Kind::Uint64 | Kind::Fixed64 => (0, u64::MAX.into()),
            _ => (i64::MIN.into(), i64::MAX.into()),
        };
        // From 1.37 on, Envoy takes an integer written as a float with no fraction.
        let raw = match raw.strip_suffix(".0").or_else(|| raw.strip_suffix(".00")) {
            Some(whole) if self.strictness == Strictness::ProtoJson && self.minor >= 37 => whole.to_string(),
            _ => raw,
        };
        match raw.parse::<i128>() {
            Ok(number) if (min..=max).contains(&number) => {}
            Ok(_) => self.diagnostics.push(
                Diagnostic::new(
                    codes::ENVOY_VALUE_MISMATCH,
                    value.span,
                    format!("{raw} is out of range for this field ({min} to {max})"),
                )
                .with_label_message("out of range"),
            ),
            Err(_) => self.diagnostics.push(
                Diagnostic::new(
                    codes::ENVOY_VALUE_MISMATCH,
                    value.span,
                    format!("expected a whole number, found `{raw}`"),
                )
                .with_label_message("expected a whole number"),
            ),
        }
    }

    fn message_value(&mut self, message: &MessageDescriptor, value: &Value) {
        match message.full_name() {
            "google.protobuf.Any" => return self.any(value),
            "google.protobuf.Duration" => {
                // Envoy's loader also takes the message form, `{ seconds: 5, nanos: 0 }`.
                let message_form = self.strictness == Strictness::ProtoJson
                    && matches!(&value.kind, ValueKind::Object(entries) if entries.iter().all(|e| matches!(e.key.name.as_str(), "seconds" | "nanos") && matches!(e.value.kind, ValueKind::Number { .. })));
                if duration_seconds(value).is_none() && !message_form {
                    self.wrong(value, "a duration such as `5s`");
                }
                return;
            }
            "google.protobuf.Struct" | "google.protobuf.Value" | "google.protobuf.ListValue" => return,
            "google.protobuf.Timestamp" => {
                if !matches!(value.kind, ValueKind::String(_)) {
                    self.wrong(value, "a timestamp string");
                }
                return;
            }
            name if name.starts_with("google.protobuf.") && name.ends_with("Value") => {
                // Wrapper types read as their single `value` field.
                if let Some(inner) = message.get_field_by_name("value")
                    && !matches!(value.kind, ValueKind::Object(_))
                {
                    return self.single(&inner, value);
                }
            }
            _ => {}
        }
        match &value.kind {
            ValueKind::Object(entries) => self.fields(message, entries, value.span.sub(0, 1)),
            ValueKind::Message { type_name, fields, .. } => {
                if type_name.text() != message.full_name() {
                    self.diagnostics.push(
                        Diagnostic::new(
                            codes::ENVOY_VALUE_MISMATCH,
                            type_name.span,
                            format!("this field holds `{}`, not `{}`", message.full_name(), type_name.text()),
                        )
                        .with_did_you_mean(type_name.span, message.full_name()),
                    );
                } else {
                    self.fields(message, fields, type_name.span);
                }
            }
            _ => self.wrong(value, &format!("a `{}` object", message.full_name())),
        }
    }

    /// `google.protobuf.Any`: a typed message, or an object with an `@type`.
    fn any(&mut self, value: &Value) {
        let (type_name, type_span, fields) = match &value.kind {
            ValueKind::Message { type_name, fields, .. } => (type_name.text(), type_name.span, fields.as_slice()),
            ValueKind::Object(entries) => match entries.iter().find(|e| e.key.name == "@type") {
                Some(Entry { value: Value { kind: ValueKind::String(s), span }, .. }) => {
                    // A type URL is `HOST/TYPE`; Envoy rejects one without a host.
                    match s.value.rsplit_once('/') {
                        Some((host, name)) if !host.is_empty() => (name.to_string(), *span, entries.as_slice()),
                        _ => {
                            self.diagnostics.push(
                                Diagnostic::new(
                                    codes::UNKNOWN_ENVOY_TYPE,
                                    *span,
                                    format!("`{}` is not a type URL", s.value),
                                )
                                .with_label_message("no `type.googleapis.com/` prefix")
                                .with_did_you_mean(*span, &format!("\"type.googleapis.com/{}\"", s.value)),
                            );
                            return;
                        }
                    }
                }
                _ => {
                    self.diagnostics.push(
                        Diagnostic::new(codes::UNKNOWN_ENVOY_TYPE, value.span, "this `Any` value does not say its type")
                            .with_help("write a typed message, `envoy.extensions....Type { ... }`, or add `\"@type\": \"type.googleapis.com/...\"`"),
                    );
                    return;
                }
            },
            _ => return self.wrong(value, "a typed message"),
        };
        match self.schema.pool.get_message_by_name(&type_name) {
            Some(message) => self.fields(&message, fields, type_span),
            None => self.unknown_type(&type_name, type_span),
        }
    }

    fn wrong(&mut self, value: &Value, expected: &str) {
        self.diagnostics.push(
            Diagnostic::new(
                codes::ENVOY_VALUE_MISMATCH,
                value.span,
                format!("expected {expected}, found {}", value.describe()),
            )
            .with_label_message(format!("expected {expected}")),
        );
    }
}

/// The inline Lua code of a Lua filter's config or per-route config: `inline_code`,
/// the `inline_string` of `default_source_code` and `source_code`, and of each entry
/// of `source_codes`.
fn lua_sources(entries: &[Entry]) -> Vec<&Value> {
    fn inline_string(value: &Value) -> Option<&Value> {
        match &value.kind {
            ValueKind::Object(fields) => {
                fields.iter().find(|e| e.key.name == "inline_string" || e.key.name == "inlineString").map(|e| &e.value)
            }
            _ => None,
        }
    }
    let mut out = Vec::new();
    for entry in entries {
        match entry.key.name.as_str() {
            "inline_code" | "inlineCode" => out.push(&entry.value),
            "default_source_code" | "defaultSourceCode" | "source_code" | "sourceCode" => {
                out.extend(inline_string(&entry.value))
            }
            "source_codes" | "sourceCodes" => {
                if let ValueKind::Object(codes) = &entry.value.kind {
                    out.extend(codes.iter().filter_map(|code| inline_string(&code.value)));
                }
            }
            _ => {}
        }
    }
    out
}

/// Envoy compiles a `RegexMatcher`'s pattern with RE2 when it loads the config and
/// rejects one that does not compile. The `regex` crate shares RE2's syntax; the two
/// constructs of RE2 it lacks (`\Q...\E` quoting and `\C`) are left to Envoy, so a
/// pattern RE2 takes is never reported.
fn re2_syntax(value: &Value) -> Option<Diagnostic> {
    let ValueKind::String(pattern) = &value.kind else { return None };
    if pattern.value.contains("\\Q") || pattern.value.contains("\\C") {
        return None;
    }
    let error = regex::RegexBuilder::new(&pattern.value).octal(true).size_limit(1 << 24).build().err()?;
    if matches!(error, regex::Error::CompiledTooBig(_)) {
        return None;
    }
    let detail = error.to_string();
    let reason = detail
        .lines()
        .rev()
        .find(|l| l.starts_with("error:"))
        .map(|l| l.trim_start_matches("error:").trim().to_string());
    Some(
        Diagnostic::new(
            codes::ENVOY_REGEX_SYNTAX,
            value.span,
            format!(
                "this regular expression does not compile: {}",
                reason.unwrap_or_else(|| "invalid syntax".to_string())
            ),
        )
        .with_label_message("Envoy rejects the pattern")
        .with_note("Envoy compiles `safe_regex` patterns with RE2 when it loads the config"),
    )
}

/// Envoy compiles a Lua filter's code when it loads the config and rejects code that
/// does not parse; so does meshc, with the parser of Lua 5.1 and LuaJIT's additions.
fn lua_syntax(value: &Value) -> Option<Diagnostic> {
    let ValueKind::String(code) = &value.kind else { return None };
    // The parser recurses per nesting level; code nested this deep is left to Envoy.
    let depth = code.value.bytes().filter(|b| matches!(b, b'(' | b'{' | b'[')).count();
    if depth > 256 {
        return None;
    }
    let parsed = std::panic::catch_unwind(|| full_moon::parse(&code.value)).ok()?;
    let errors = parsed.err()?;
    let error = errors.first()?;
    let (start, _) = error.range();
    Some(
        Diagnostic::new(
            codes::ENVOY_LUA_SYNTAX,
            value.span,
            format!(
                "this Lua code does not parse: {} (line {}, column {} of the code)",
                error.error_message(),
                start.line(),
                start.character()
            ),
        )
        .with_label_message("Envoy rejects the filter")
        .with_note("Envoy compiles the code of a Lua filter when it loads the config"),
    )
}

/// Whether Envoy sees a field as set: proto3 scalars at their default value, and empty
/// lists, are indistinguishable from unset ones (so their deprecation goes unnoticed).
fn is_set(field: &FieldDescriptor, value: &Value) -> bool {
    match &value.kind {
        ValueKind::Null => false,
        ValueKind::List(items) => !items.is_empty(),
        ValueKind::Object(entries) if field.is_map() => !entries.is_empty(),
        _ if matches!(field.kind(), Kind::Message(_)) || field.containing_oneof().is_some() => true,
        ValueKind::Bool(b) => *b,
        ValueKind::String(s) => match field.kind() {
            Kind::String | Kind::Bytes => !s.value.is_empty(),
            _ => s.value.parse::<f64>().map_or(true, |n| n != 0.0),
        },
        ValueKind::Number { value, .. } => *value != 0.0,
        _ => true,
    }
}

/// An enum value's number, and whether the enum defines it.
fn enum_number(enumeration: &EnumDescriptor, value: &Value) -> Option<(i32, bool)> {
    let word = match &value.kind {
        ValueKind::String(s) => s.value.as_str(),
        ValueKind::Number { raw, .. } => raw.as_str(),
        _ => return None,
    };
    if let Some(defined) = enumeration.get_value_by_name(word) {
        return Some((defined.number(), true));
    }
    if let Some(defined) = enumeration.values().find(|v| v.name().eq_ignore_ascii_case(word)) {
        return Some((defined.number(), true));
    }
    let number = word.parse::<i32>().ok()?;
    Some((number, enumeration.get_value(number).is_some()))
}

/// A duration in seconds: meshc's `5s`, or proto3 JSON's `"5s"`.
fn duration_seconds(value: &Value) -> Option<f64> {
    match &value.kind {
        ValueKind::Duration { seconds, .. } => Some(*seconds),
        ValueKind::String(s) => parse_duration(&s.value),
        _ => None,
    }
}

/// The type URL of an `Any` value.
fn any_type_url(value: &Value) -> Option<&str> {
    match &value.kind {
        ValueKind::Object(entries) => {
            entries.iter().find(|e| e.key.name == "@type").and_then(|e| match &e.value.kind {
                ValueKind::String(s) => Some(s.value.as_str()),
                _ => None,
            })
        }
        _ => None,
    }
}

/// A scalar's text, for the uniqueness of list items.
fn scalar_text(value: &Value) -> Option<String> {
    match &value.kind {
        ValueKind::String(s) => Some(format!("s:{}", s.value)),
        ValueKind::Number { value, .. } => Some(format!("n:{value}")),
        ValueKind::Bool(b) => Some(format!("b:{b}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every known replacement names a field that some pinned build deprecates, and
    /// a field of the same message.
    #[test]
    fn replacements_name_deprecated_fields_and_their_siblings() {
        let pools: Vec<DescriptorPool> =
            versions::ENVOY_BUILDS.iter().map(|b| descriptors::load(b.version).expect("links")).collect();
        for (name, replacement) in REPLACEMENTS {
            let (message_name, field_name) = name.rsplit_once('.').expect("a field name");
            let mut deprecated_somewhere = false;
            for pool in &pools {
                let Some(message) = pool.get_message_by_name(message_name) else { continue };
                let Some(field) = message.get_field_by_name(field_name) else { continue };
                deprecated_somewhere |= field.field_descriptor_proto().options.as_ref().is_some_and(|o| o.deprecated());
                assert!(message.get_field_by_name(replacement).is_some(), "{message_name} has no field {replacement}");
            }
            assert!(deprecated_somewhere, "{name} is not a deprecated field of any pinned build");
        }
    }

    /// Envoy's validators compile `pattern` rules with RE2; each pattern of every
    /// pinned schema must compile with the `regex` crate too, or it would go unchecked.
    #[test]
    fn every_pattern_rule_compiles() {
        let mut failed = Vec::new();
        for build in versions::ENVOY_BUILDS {
            let schema = Schema::new(descriptors::load(build.version).expect("links"));
            for message in schema.pool.all_messages() {
                let info = schema.message_info(&message);
                for field in info.fields.values() {
                    let mut stack: Vec<&FieldRules> = field.rules.iter().collect();
                    while let Some(rules) = stack.pop() {
                        match &rules.kind {
                            Rules::String(s) => {
                                if let Some((pattern, None)) = &s.pattern {
                                    failed.push(format!("{} {}: {pattern}", build.version, message.full_name()));
                                }
                            }
                            Rules::Repeated(r) => stack.extend(r.items.as_deref()),
                            Rules::Map(m) => stack.extend(m.keys.as_deref().into_iter().chain(m.values.as_deref())),
                            _ => {}
                        }
                    }
                }
            }
        }
        assert!(failed.is_empty(), "patterns that do not compile:\n{}", failed.join("\n"));
    }
}
