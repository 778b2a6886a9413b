//! One Envoy version's check of a message value: fields, kinds, enums, oneofs,
//! validation rules and annotations, down through `Any` values by their type.

use super::cross_field;
use super::extensions::{Registry, describe_category};
use super::lua::{lua_sources, lua_syntax};
use super::proto::{self, Enum, EnumValue, Field, Kind, annotation};
use super::re2::re2_syntax;
use super::replacements::replacement;
use super::rules::{FieldRules, Rules, Scalar, count_problems, parse_duration};
use super::schema::{FieldInfo, MessageInfo, Schema};
use super::whole;
use super::{Completeness, Strictness};
use crate::diagnostic::{Diagnostic, Severity, codes, did_you_mean};
use crate::model::node::{Member, Node, NodeKind};
use crate::span::Span;
use std::collections::BTreeMap;

pub(super) struct MessageChecker<'s> {
    schema: &'s Schema,
    /// The extensions the build registers, which decide what a `typed_config` may be.
    registry: Option<&'static Registry>,
    pub(super) diagnostics: Vec<Diagnostic>,
    /// The work-in-progress file whose messages are being checked, if any.
    inside_file: Option<String>,
    /// The Envoy minor version (`38`), for behaviour that changed between releases.
    minor: u32,
    /// Deprecated fields the config's runtime re-enables.
    allowed_deprecated: &'s [String],
    completeness: Completeness,
    strictness: Strictness,
    /// Inside a `TypedStruct` value, which Envoy converts to its message without the
    /// protoc-gen-validate rules (only fields and kinds count).
    rules_off: bool,
}

/// Messages whose `typed_config` configures an extension, and the categories of
/// extension it may be (one of them).
const EXTENSION_PLACES: &[(&str, &[&str])] = &[
    ("envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter", &["envoy.filters.http"]),
    ("envoy.config.listener.v3.Filter", &["envoy.filters.network"]),
    // The listener filters of a UDP listener are UDP listener filters.
    ("envoy.config.listener.v3.ListenerFilter", &["envoy.filters.listener", "envoy.filters.udp_listener"]),
    ("envoy.config.accesslog.v3.AccessLog", &["envoy.access_loggers"]),
    ("envoy.config.accesslog.v3.ExtensionFilter", &["envoy.access_loggers.extension_filters"]),
    ("envoy.config.trace.v3.Tracing.Http", &["envoy.tracers"]),
    ("envoy.config.metrics.v3.StatsSink", &["envoy.stats_sinks"]),
    ("envoy.config.overload.v3.ResourceMonitor", &["envoy.resource_monitors"]),
    ("envoy.config.cluster.v3.Cluster.CustomClusterType", &["envoy.clusters"]),
    (
        "envoy.config.core.v3.TransportSocket",
        &["envoy.transport_sockets.upstream", "envoy.transport_sockets.downstream"],
    ),
];

/// Whether a value stands for "not set": Envoy's JSON reader takes `null` as the
/// field's default.
fn is_null(value: &Node) -> bool {
    matches!(value.kind, NodeKind::Null)
}

/// The entry that sets a field, by its proto or JSON name.
fn entry_for<'e>(entries: &'e [Member], field: &Field) -> Option<&'e Member> {
    entries.iter().find(|e| (e.key == field.name || e.key == field.json_name) && !is_null(&e.value))
}

impl<'s> MessageChecker<'s> {
    pub(super) fn new(
        schema: &'s Schema,
        registry: Option<&'static Registry>,
        completeness: Completeness,
        strictness: Strictness,
        minor: u32,
        allowed_deprecated: &'s [String],
    ) -> MessageChecker<'s> {
        MessageChecker {
            schema,
            registry,
            diagnostics: Vec::new(),
            inside_file: None,
            minor,
            allowed_deprecated,
            completeness,
            strictness,
            rules_off: false,
        }
    }

    pub(super) fn unknown_type(&mut self, type_name: &str, span: Span) {
        let names = self.schema.message_names();
        let mut diagnostic =
            Diagnostic::new(codes::UNKNOWN_ENVOY_TYPE, span, format!("`{type_name}` is not a message type of Envoy"))
                .with_label_message("unknown type");
        if let Some(suggestion) = did_you_mean(type_name, names.iter().map(String::as_str)) {
            diagnostic = diagnostic.with_did_you_mean(span, suggestion);
        }
        self.diagnostics.push(diagnostic);
    }

    pub(super) fn fields(&mut self, info: &MessageInfo, entries: &[Member], anchor: Span) {
        let message = &*info.message;
        // A work-in-progress file is reported where a value enters it, not at each of
        // its messages.
        let entered_file = info.work_in_progress_file.is_some() && info.work_in_progress_file != self.inside_file;
        let outer_file = std::mem::replace(&mut self.inside_file, info.work_in_progress_file.clone());
        if info.work_in_progress || entered_file {
            self.work_in_progress(anchor, format!("`{}`", message.full_name));
        }
        if self.completeness == Completeness::Whole && !info.rules_disabled && !self.rules_off {
            self.required(info, entries, anchor);
        }
        let mut oneofs: BTreeMap<String, &Member> = BTreeMap::new();
        for entry in entries {
            if entry.key == "@type" {
                continue;
            }
            let Some(field) = message.field_by_name(&entry.key).or_else(|| message.field_by_json_name(&entry.key))
            else {
                self.unknown_field(info, &entry.key, entry.key_span);
                continue;
            };
            if is_null(&entry.value) {
                continue;
            }
            if let Some(oneof) = message.real_oneof(field) {
                if let Some(previous) = oneofs.get(oneof.name) {
                    self.diagnostics.push(
                        Diagnostic::new(
                            codes::ENVOY_ONEOF_CONFLICT,
                            entry.key_span,
                            format!(
                                "`{}` and `{}` are alternatives of `{}`; set one",
                                previous.key, entry.key, oneof.name
                            ),
                        )
                        .with_label_message("a second alternative")
                        .with_secondary(previous.key_span, "the first one"),
                    );
                } else {
                    oneofs.insert(oneof.name.to_string(), entry);
                }
            }
            let field_info = info.fields.get(&field.number);
            if let Some(field_info) = field_info
                && is_set(field, &entry.value)
            {
                self.annotations(info, field, field_info, entry);
            }
            self.field_value(field, &entry.value);
            if !info.rules_disabled
                && !self.rules_off
                && let Some(rules) = field_info.and_then(|f| f.rules.as_ref())
            {
                self.validate(field, rules, &entry.value);
            }
        }
        if message.full_name == "envoy.type.matcher.v3.RegexMatcher"
            && let Some(entry) = entries.iter().find(|e| e.key == "regex")
            && let Some(diagnostic) = re2_syntax(&entry.value)
        {
            self.diagnostics.push(diagnostic);
        }
        if matches!(
            message.full_name.as_str(),
            "envoy.extensions.filters.http.lua.v3.Lua" | "envoy.extensions.filters.http.lua.v3.LuaPerRoute"
        ) {
            for code in lua_sources(entries) {
                if let Some(diagnostic) = lua_syntax(code) {
                    self.diagnostics.push(diagnostic);
                }
            }
        }
        self.code_rules(&message.full_name, entries, anchor);
        self.extension_kind(&message.full_name, entries);
        self.inside_file = outer_file;
    }

    /// The `typed_config` of a message that configures an extension must be the
    /// config of an extension of the kind its place calls for.
    fn extension_kind(&mut self, message: &str, entries: &[Member]) {
        let Some(registry) = self.registry else { return };
        let Some(expected) = EXTENSION_PLACES.iter().find(|(m, _)| *m == message).map(|(_, c)| *c) else {
            return;
        };
        let Some(entry) = entries.iter().find(|e| e.key == "typed_config" || e.key == "typedConfig") else { return };
        let (type_name, span) = match &entry.value.kind {
            NodeKind::Message { type_name, type_span, .. } => (type_name.clone(), *type_span),
            NodeKind::Object(fields) => match fields.iter().find(|f| f.key == "@type") {
                Some(Member { value: Node { kind: NodeKind::String(url), span }, .. }) => match url.rsplit_once('/') {
                    Some((_, name)) => (name.to_string(), *span),
                    None => return,
                },
                _ => return,
            },
            _ => return,
        };
        // A TypedStruct carries the real config inside, and Envoy finds the factory by
        // the type it names.
        let (type_name, span) = if is_typed_struct(&type_name) {
            match typed_struct_type(&entry.value) {
                Some((inner, inner_span)) => (inner.to_string(), inner_span),
                None => return,
            }
        } else {
            (type_name, span)
        };
        // An unknown type is reported as such.
        if self.schema.message(&type_name).is_none() {
            return;
        }
        // An optional HTTP filter that no factory takes is skipped by Envoy.
        let optional = entries.iter().find(|e| e.key == "is_optional" || e.key == "isOptional").is_some_and(|e| {
            matches!(&e.value.kind, NodeKind::Bool(true))
                || matches!(&e.value.kind, NodeKind::String(s) if bool_word(s) == Some(true))
        });
        if optional {
            return;
        }
        let categories = registry.categories_of(&type_name);
        if categories.is_empty() {
            // Some factories (the proactive resource monitors, custom cluster types,
            // transport sockets) list no config type, so only the places whose
            // factories all do are judged.
            if UNREGISTERED_JUDGED.contains(&message) {
                let wanted = describe_category(expected[0]);
                self.diagnostics.push(
                    Diagnostic::new(
                        codes::ENVOY_UNREGISTERED_EXTENSION,
                        span,
                        format!("no extension of this Envoy build takes `{type_name}` as its config"),
                    )
                    .with_label_message(format!("not the config of {wanted}"))
                    .with_note(format!(
                        "`{message}` holds {wanted}; Envoy finds the extension by the type of its config"
                    )),
                );
            }
            return;
        }
        if expected.iter().any(|c| categories.contains(c)) {
            return;
        }
        let wanted = describe_category(expected[0]);
        let mut diagnostic =
            Diagnostic::new(codes::ENVOY_WRONG_EXTENSION, span, format!("`{type_name}` is not the config of {wanted}"));
        if let Some(category) = categories.iter().next() {
            let name = registry.name_of(category, &type_name).unwrap_or_default();
            diagnostic =
                diagnostic.with_label_message(format!("the config of {} (`{name}`)", describe_category(category)));
        }
        self.diagnostics.push(diagnostic.with_note(format!(
            "`{message}` holds {wanted}; Envoy finds the extension by the type of its config and rejects one of another kind"
        )));
    }

    /// Rules that Envoy's code enforces on one message, beyond its schema.
    fn code_rules(&mut self, message: &str, entries: &[Member], anchor: Span) {
        let set = |key: &str| whole::member(entries, key);
        // Headers a mutation adds stay in any config it is merged into, so a part is
        // judged as well as a whole.
        self.diagnostics.extend(cross_field::header_mutations(message, entries));
        // A merged part that sets V2 leaves V2 in the config it is merged into.
        self.diagnostics.extend(cross_field::transport_api_version(message, entries));
        match message {
            // Envoy takes `inline_code` when it is not empty, and refuses it beside
            // `default_source_code`.
            "envoy.extensions.filters.http.lua.v3.Lua" => {
                if let (Some(inline), Some(default)) = (set("inline_code"), set("default_source_code"))
                    && !matches!(&inline.value.kind, NodeKind::String(s) if s.is_empty())
                {
                    let (first, second) = if inline.key_span.start <= default.key_span.start {
                        (inline.key_span, default.key_span)
                    } else {
                        (default.key_span, inline.key_span)
                    };
                    self.diagnostics.push(
                        Diagnostic::new(
                            codes::ENVOY_LUA_TWO_SOURCES,
                            second,
                            "a Lua filter takes `inline_code` or `default_source_code`, not both",
                        )
                        .with_label_message("the second source")
                        .with_secondary(first, "the first one")
                        .with_help("keep `default_source_code`; `inline_code` is deprecated"),
                    );
                }
            }
            "envoy.extensions.wasm.v3.VmConfig" => {
                if let Some(registry) = self.registry
                    && let Some(runtime) = set("runtime")
                    && let NodeKind::String(name) = &runtime.value.kind
                    && !name.is_empty()
                    && !registry.has("envoy.wasm.runtime", name)
                {
                    let known: Vec<&str> = registry.names_in("envoy.wasm.runtime").collect();
                    let mut diagnostic = Diagnostic::new(
                        codes::ENVOY_UNKNOWN_WASM_RUNTIME,
                        runtime.value.span,
                        format!("this Envoy build has no Wasm runtime `{name}`"),
                    )
                    .with_label_message("not a runtime of this build")
                    .with_note(format!("its runtimes are: {}", known.join(", ")));
                    if let Some(suggestion) = did_you_mean(name, known.iter().copied()) {
                        diagnostic = diagnostic.with_did_you_mean(runtime.value.span, &format!("\"{suggestion}\""));
                    }
                    self.diagnostics.push(diagnostic);
                }
            }
            // A part merged into a cluster (an EnvoyFilter MERGE) may take its type and
            // endpoints from the cluster it is merged into, so only a whole one is judged.
            "envoy.config.cluster.v3.Cluster" if self.completeness == Completeness::Whole => {
                self.diagnostics.extend(cross_field::cluster(entries, anchor, self.registry));
            }
            // The weighted clusters of a part merged into a route are added to those it
            // has, so only a whole list is judged.
            "envoy.config.route.v3.WeightedCluster" if self.completeness == Completeness::Whole => {
                self.diagnostics.extend(cross_field::weighted_clusters(entries));
            }
            // A merged part may name what the config it is merged into defines.
            "envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication"
                if self.completeness == Completeness::Whole =>
            {
                self.diagnostics.extend(cross_field::jwt_authentication(entries));
            }
            "envoy.config.overload.v3.OverloadManager" if self.completeness == Completeness::Whole => {
                self.diagnostics.extend(cross_field::overload_manager(entries));
            }
            "envoy.config.listener.v3.Listener" if self.completeness == Completeness::Whole => {
                if set("address").is_none() && set("internal_listener").is_none() && set("api_listener").is_none() {
                    self.diagnostics.push(
                        Diagnostic::new(
                            codes::ENVOY_LISTENER_WITHOUT_ADDRESS,
                            anchor,
                            "this listener has no `address`",
                        )
                        .with_label_message("no address")
                        .with_note("only an internal listener or an API listener goes without one"),
                    );
                }
            }
            name if self.completeness == Completeness::Whole && MISSING_CONFIG_JUDGED.contains(&name) => {
                let optional = set("is_optional").is_some_and(|e| match &e.value.kind {
                    NodeKind::Bool(b) => *b,
                    NodeKind::String(s) => bool_word(s) == Some(true),
                    _ => false,
                });
                if set("typed_config").is_none() && set("config_discovery").is_none() && !optional {
                    let span = set("name").map_or(anchor, |e| e.value.span);
                    let what = set("name").and_then(|e| e.value.as_str()).unwrap_or("this extension");
                    let mut diagnostic = Diagnostic::new(
                        codes::ENVOY_MISSING_TYPED_CONFIG,
                        span,
                        format!("`{what}` has no `typed_config`"),
                    )
                    .with_label_message("no typed_config")
                    .with_note("Envoy finds an extension's factory by the type of its config, not by its name");
                    if message.ends_with("HttpFilter") {
                        diagnostic = diagnostic
                            .with_help("add a `typed_config` with its `@type`, or mark the filter `is_optional: true`");
                    } else {
                        diagnostic = diagnostic.with_help("add a `typed_config` with its `@type`");
                    }
                    self.diagnostics.push(diagnostic);
                }
            }
            _ => {}
        }
    }

    /// Deprecated, disallowed and work-in-progress fields.
    fn annotations(&mut self, message: &MessageInfo, field: &Field, info: &FieldInfo, entry: &Member) {
        // Envoy rejects a disallowed field from 1.39 on, unless the runtime re-enables
        // it; earlier releases only warn, as for any deprecated field. A message whose
        // every field is disallowed is an extension Envoy removed, which no release
        // has a factory for.
        let full_name = format!("{}.{}", message.message.full_name, field.name);
        let allowed = self.allowed_deprecated.contains(&full_name);
        let removed = message.all_disallowed;
        if info.disallowed && (self.minor >= 39 || removed) && !allowed {
            let mut diagnostic = Diagnostic::new(
                codes::ENVOY_DISALLOWED_FIELD,
                entry.key_span,
                format!("`{}` of `{}` is deprecated and disallowed by default", field.name, message.message.full_name),
            )
            .with_label_message("disallowed by default")
            .with_note("Envoy rejects it unless the runtime re-enables this deprecated feature");
            if let Some(replacement) = replacement(&full_name) {
                diagnostic = diagnostic.with_help(format!("use `{replacement}` instead"));
            }
            self.diagnostics.push(diagnostic);
        } else if info.deprecated || info.disallowed {
            let mut diagnostic = Diagnostic::new(
                codes::ENVOY_DEPRECATED_FIELD,
                entry.key_span,
                format!("`{}` is deprecated in `{}`", field.name, message.message.full_name),
            )
            .with_label_message("deprecated")
            .with_severity(Severity::Warning);
            if let Some(replacement) = replacement(&full_name) {
                diagnostic = diagnostic.with_help(format!("use `{replacement}` instead"));
                if message.message.field_by_name(replacement).is_some_and(|r| r.kind == field.kind) {
                    diagnostic = diagnostic.with_did_you_mean(entry.key_span, replacement);
                }
            }
            self.diagnostics.push(diagnostic);
        }
        if info.work_in_progress {
            self.work_in_progress(entry.key_span, format!("`{}` of `{}`", field.name, message.message.full_name));
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
    fn required(&mut self, info: &MessageInfo, entries: &[Member], anchor: Span) {
        let mut missing = Vec::new();
        for field in &info.required {
            if entry_for(entries, field).is_none() {
                missing.push(format!("`{}`", field.name));
            }
        }
        for oneof in &info.required_oneofs {
            if !oneof.iter().any(|f| entry_for(entries, f).is_some()) {
                missing.push(format!(
                    "one of {}",
                    oneof.iter().map(|f| format!("`{}`", f.name)).collect::<Vec<_>>().join(", ")
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
                format!("`{}` requires {}", info.message.full_name, missing.join(", ")),
            )
            .with_label_message(format!("missing {}", missing.join(", "))),
        );
    }

    /// protoc-gen-validate rules on a given value.
    fn validate(&mut self, field: &Field<'static>, rules: &FieldRules, value: &Node) {
        let mut problems = Vec::new();
        match (&rules.kind, &value.kind) {
            (Rules::Repeated(repeated), NodeKind::List(items)) => {
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
            (Rules::Map(map), NodeKind::Object(entries)) => {
                if !(map.ignore_empty && entries.is_empty()) {
                    problems.extend(count_problems(entries.len() as u64, map.min_pairs, map.max_pairs, "map", "entry"));
                    for entry in entries {
                        if let Some(key_rules) = &map.keys {
                            let key_problems = key_rules.scalar_problems(Scalar::Str(&entry.key));
                            if !key_problems.is_empty() {
                                self.diagnostics.push(
                                    Diagnostic::new(
                                        codes::ENVOY_RULE_VIOLATED,
                                        entry.key_span,
                                        format!("the keys of `{}` must be {}", field.name, key_problems.join(" and ")),
                                    )
                                    .with_label_message("violates the schema's validation rule"),
                                );
                            }
                        }
                        if let Some(value_rules) = &map.values
                            && let Some(value_field) = self.schema.map_value_field(field)
                        {
                            self.validate_single(&value_field, value_rules, &entry.value);
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
    fn validate_single(&mut self, field: &Field, rules: &FieldRules, value: &Node) {
        let Some(scalar) = self.scalar(field, value) else { return };
        let problems = rules.scalar_problems(scalar);
        if !problems.is_empty() {
            self.violation(field, value, problems);
        }
    }

    fn violation(&mut self, field: &Field, value: &Node, problems: Vec<String>) {
        self.diagnostics.push(
            Diagnostic::new(
                codes::ENVOY_RULE_VIOLATED,
                value.span,
                format!("`{}` must be {}", field.name, problems.join(" and ")),
            )
            .with_label_message("violates the schema's validation rule"),
        );
    }

    /// A value as the rules see it, given its field's type; `None` when it is not of
    /// that type (reported elsewhere) or the rules have nothing to say of it.
    fn scalar<'v>(&self, field: &Field, value: &'v Node) -> Option<Scalar<'v>> {
        let loose = self.strictness == Strictness::ProtoJson;
        let number = |value: &'v Node| match &value.kind {
            NodeKind::Number { value, .. } => Some(*value),
            NodeKind::String(s) if loose => s.parse::<f64>().ok(),
            _ => None,
        };
        match field.kind {
            Kind::String | Kind::Bytes => match &value.kind {
                NodeKind::String(s) => Some(Scalar::Str(s)),
                _ => None,
            },
            Kind::Bool => match &value.kind {
                NodeKind::Bool(b) => Some(Scalar::Bool(*b)),
                _ => None,
            },
            Kind::Enum(enumeration) => {
                let enumeration = self.schema.enumeration(enumeration)?;
                enum_number(&enumeration, value).map(|(n, defined)| Scalar::Enum(n, defined))
            }
            Kind::Message(message) => match message {
                "google.protobuf.Duration" => duration_seconds(value).map(Scalar::Duration),
                "google.protobuf.Any" => any_type_url(value).map(Scalar::TypeUrl),
                "google.protobuf.StringValue" | "google.protobuf.BytesValue" => match &value.kind {
                    NodeKind::String(s) => Some(Scalar::Str(s)),
                    _ => None,
                },
                "google.protobuf.BoolValue" => match &value.kind {
                    NodeKind::Bool(b) => Some(Scalar::Bool(*b)),
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

    fn unknown_field(&mut self, message: &MessageInfo, key: &str, key_span: Span) {
        let names: Vec<&str> = message.message.fields.iter().map(|f| f.name).collect();
        let mut diagnostic = Diagnostic::new(
            codes::UNKNOWN_ENVOY_FIELD,
            key_span,
            format!("`{}` has no field `{key}`", message.message.full_name),
        )
        .with_label_message("unknown field");
        diagnostic = match did_you_mean(key, names.iter().copied()) {
            Some(suggestion) => diagnostic.with_did_you_mean(key_span, suggestion),
            None if names.len() <= 12 => diagnostic.with_note(format!("its fields are: {}", names.join(", "))),
            None => diagnostic,
        };
        self.diagnostics.push(diagnostic);
    }

    fn field_value(&mut self, field: &Field<'static>, value: &Node) {
        if field.map {
            let NodeKind::Object(entries) = &value.kind else {
                self.wrong(value, &format!("a map for `{}`", field.name));
                return;
            };
            let Some(value_field) = self.schema.map_value_field(field) else { return };
            for entry in entries {
                self.single(&value_field, &entry.value);
            }
            return;
        }
        if field.repeated {
            match &value.kind {
                NodeKind::List(items) => items.iter().for_each(|item| self.single(field, item)),
                // Envoy's YAML loader takes a single value for a list of one.
                _ if self.strictness == Strictness::ProtoJson => self.single(field, value),
                _ => self.wrong(value, &format!("a list for `{}`", field.name)),
            }
            return;
        }
        self.single(field, value);
    }

    /// One value of a field's kind (a list's element, a map's value, or the field).
    fn single(&mut self, field: &Field, value: &Node) {
        if matches!(value.kind, NodeKind::Unchecked | NodeKind::Null) {
            // Names resolve to `let` values elsewhere; errors were reported already;
            // null is the default.
            return;
        }
        match &field.kind {
            Kind::Message(message) => self.message_value(message, value),
            Kind::Enum(enumeration) => {
                if let Some(enumeration) = self.schema.enumeration(enumeration) {
                    self.enum_value(&enumeration, value)
                }
            }
            Kind::Bool => {
                let loose = self.strictness == Strictness::ProtoJson
                    && matches!(&value.kind, NodeKind::String(s) if bool_word(s).is_some());
                if !matches!(value.kind, NodeKind::Bool(_)) && !loose {
                    self.wrong(value, "`true` or `false`");
                }
            }
            Kind::String | Kind::Bytes => {
                if !matches!(value.kind, NodeKind::String(_)) {
                    self.wrong(value, "a string");
                }
            }
            Kind::Double | Kind::Float => {
                let loose = self.strictness == Strictness::ProtoJson
                    && matches!(&value.kind, NodeKind::String(s) if s.parse::<f64>().is_ok() || matches!(s.as_str(), "NaN" | "Infinity" | "-Infinity"));
                if !matches!(value.kind, NodeKind::Number { .. }) && !loose {
                    self.wrong(value, "a number");
                }
            }
            kind => self.integer(kind, value),
        }
    }

    fn enum_value(&mut self, enumeration: &Enum, value: &Node) {
        let word = match &value.kind {
            NodeKind::String(s) => s.clone(),
            NodeKind::Number { raw, .. } => raw.clone(),
            _ => return self.wrong(value, &format!("a value of `{}` (a string)", enumeration.full_name)),
        };
        if let Some(defined) = enumeration.value_by_name(&word) {
            self.enum_annotations(enumeration, defined, value);
            return;
        }
        // Envoy parses enum names without regard to case.
        if self.strictness == Strictness::ProtoJson
            && let Some(defined) = enumeration.values.iter().find(|v| v.name.eq_ignore_ascii_case(&word))
        {
            self.enum_annotations(enumeration, defined, value);
            return;
        }
        if let Ok(number) = word.parse::<i32>() {
            if let Some(defined) = enumeration.value_by_number(number) {
                self.enum_annotations(enumeration, defined, value);
            }
            return;
        }
        let names: Vec<&str> = enumeration.values.iter().map(|v| v.name).collect();
        let mut diagnostic = Diagnostic::new(
            codes::UNKNOWN_ENVOY_ENUM,
            value.span,
            format!("`{word}` is not a value of `{}`", enumeration.full_name),
        )
        .with_label_message("unknown value")
        .with_note(format!("expected one of: {}", names.join(", ")));
        if let Some(suggestion) = did_you_mean(&word, names.iter().copied()) {
            diagnostic = diagnostic.with_did_you_mean(value.span, &format!("\"{suggestion}\""));
        }
        self.diagnostics.push(diagnostic);
    }

    /// Deprecated and disallowed enum values.
    fn enum_annotations(&mut self, enumeration: &Enum, defined: &EnumValue, value: &Node) {
        let Some(options) = defined.options else { return };
        let disallowed = proto::flag(options, annotation::DISALLOWED_BY_DEFAULT_ENUM);
        // Values named `DEPRECATED_AND_UNAVAILABLE_DO_NOT_USE` are gone from the code,
        // so every release rejects them; other disallowed values only from 1.39 on.
        let unavailable = defined.name.contains("UNAVAILABLE");
        if disallowed && (self.minor >= 39 || unavailable) {
            self.diagnostics.push(
                Diagnostic::new(
                    codes::ENVOY_DISALLOWED_FIELD,
                    value.span,
                    format!(
                        "`{}` of `{}` is deprecated and disallowed by default",
                        defined.name, enumeration.full_name
                    ),
                )
                .with_label_message("disallowed by default")
                .with_note("Envoy rejects it unless the runtime re-enables this deprecated feature"),
            );
        } else if proto::flag(options, proto::number::ENUM_VALUE_DEPRECATED) || disallowed {
            self.diagnostics.push(
                Diagnostic::new(
                    codes::ENVOY_DEPRECATED_FIELD,
                    value.span,
                    format!("`{}` of `{}` is deprecated", defined.name, enumeration.full_name),
                )
                .with_label_message("deprecated")
                .with_severity(Severity::Warning),
            );
        }
    }

    fn integer(&mut self, kind: &Kind, value: &Node) {
        let raw = match &value.kind {
            NodeKind::Number { raw, .. } => raw.clone(),
            NodeKind::String(s) if self.strictness == Strictness::ProtoJson => s.clone(),
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

    fn message_value(&mut self, type_name: &str, value: &Node) {
        match type_name {
            "google.protobuf.Any" => return self.any(value),
            "google.protobuf.Duration" => {
                // Envoy's loader also takes the message form, `{ seconds: 5, nanos: 0 }`.
                let message_form = self.strictness == Strictness::ProtoJson
                    && matches!(&value.kind, NodeKind::Object(entries) if entries.iter().all(|e| matches!(e.key.as_str(), "seconds" | "nanos") && matches!(e.value.kind, NodeKind::Number { .. })));
                match duration_seconds(value) {
                    None if !message_form => self.wrong(value, "a duration such as `5s`"),
                    // Protobuf's durations span ±10,000 years; Envoy's loader refuses more.
                    Some(seconds) if seconds < 0.0 => self.diagnostics.push(
                        Diagnostic::new(codes::ENVOY_NEGATIVE_DURATION, value.span, "Envoy rejects negative durations")
                            .with_label_message("negative")
                            .with_note("Envoy checks every duration of a configuration when it loads it"),
                    ),
                    Some(seconds) if seconds.abs() >= 315_576_000_001.0 => self.diagnostics.push(
                        Diagnostic::new(
                            codes::ENVOY_VALUE_MISMATCH,
                            value.span,
                            "this duration is longer than protobuf's durations, 315,576,000,000s (10,000 years)",
                        )
                        .with_label_message("out of range"),
                    ),
                    _ => {}
                }
                return;
            }
            "google.protobuf.Struct" | "google.protobuf.Value" | "google.protobuf.ListValue" => return,
            "google.protobuf.Timestamp" => {
                if !matches!(value.kind, NodeKind::String(_)) {
                    self.wrong(value, "a timestamp string");
                }
                return;
            }
            name if name.starts_with("google.protobuf.") && name.ends_with("Value") => {
                // Wrapper types read as their single `value` field.
                if let Some(message) = self.schema.message(name)
                    && let Some(inner) = message.message.field_by_name("value")
                    && !matches!(value.kind, NodeKind::Object(_))
                {
                    return self.single(inner, value);
                }
            }
            _ => {}
        }
        let Some(message) = self.schema.message(type_name) else { return };
        match &value.kind {
            NodeKind::Object(entries) => self.fields(&message, entries, value.span.sub(0, 1)),
            NodeKind::Message { type_name: written, type_span, fields } => {
                if written.as_str() != type_name {
                    self.diagnostics.push(
                        Diagnostic::new(
                            codes::ENVOY_VALUE_MISMATCH,
                            *type_span,
                            format!("this field holds `{type_name}`, not `{}`", written.as_str()),
                        )
                        .with_did_you_mean(*type_span, type_name),
                    );
                } else {
                    self.fields(&message, fields, *type_span);
                }
            }
            _ => self.wrong(value, &format!("a `{type_name}` object")),
        }
    }

    /// `google.protobuf.Any`: a typed message, or an object with an `@type`.
    fn any(&mut self, value: &Node) {
        let (type_name, type_span, fields) = match &value.kind {
            NodeKind::Message { type_name, type_span, fields } => (type_name.clone(), *type_span, fields.as_slice()),
            NodeKind::Object(entries) => match entries.iter().find(|e| e.key == "@type") {
                Some(Member { value: Node { kind: NodeKind::String(s), span }, .. }) => {
                    // A type URL is `HOST/TYPE`; Envoy rejects one without a host.
                    match s.rsplit_once('/') {
                        Some((host, name)) if !host.is_empty() => (name.to_string(), *span, entries.as_slice()),
                        _ => {
                            self.diagnostics.push(
                                Diagnostic::new(codes::UNKNOWN_ENVOY_TYPE, *span, format!("`{}` is not a type URL", s))
                                    .with_label_message("no `type.googleapis.com/` prefix")
                                    .with_did_you_mean(*span, &format!("\"type.googleapis.com/{}\"", s)),
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
        match self.schema.message(&type_name) {
            Some(message) => {
                self.fields(&message, fields, type_span);
                if is_typed_struct(&type_name) {
                    self.typed_struct(fields);
                }
            }
            None => self.unknown_type(&type_name, type_span),
        }
    }

    /// The `value` of a `TypedStruct`, which Envoy converts to the message its
    /// `type_url` names: unknown fields and values of the wrong kind are rejected,
    /// the validation rules are not applied.
    fn typed_struct(&mut self, fields: &[Member]) {
        let Some(Member { value: Node { kind: NodeKind::String(url), span: url_span }, .. }) =
            fields.iter().find(|f| f.key == "type_url" || f.key == "typeUrl")
        else {
            return;
        };
        let Some((_, type_name)) = url.rsplit_once('/') else { return };
        let Some(message) = self.schema.message(type_name) else {
            return self.unknown_type(type_name, *url_span);
        };
        let Some(value) = fields.iter().find(|f| f.key == "value") else { return };
        let NodeKind::Object(entries) = &value.value.kind else { return };
        let outer = std::mem::replace(&mut self.rules_off, true);
        self.fields(&message, entries, value.key_span);
        self.rules_off = outer;
    }

    fn wrong(&mut self, value: &Node, expected: &str) {
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

/// Places whose `typed_config` names an extension that every factory of their
/// categories registers by its config type, so a type no factory takes is a mistake.
const UNREGISTERED_JUDGED: &[&str] = &[
    "envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter",
    "envoy.config.listener.v3.Filter",
    "envoy.config.listener.v3.ListenerFilter",
    "envoy.config.accesslog.v3.AccessLog",
    "envoy.config.trace.v3.Tracing.Http",
];

/// Places where Envoy finds the extension by its config's type, so a `name` alone
/// finds nothing.
const MISSING_CONFIG_JUDGED: &[&str] = UNREGISTERED_JUDGED;

/// `udpa.type.v1.TypedStruct` and `xds.type.v3.TypedStruct`: a config as a `Struct`,
/// with the type it stands for.
fn is_typed_struct(type_name: &str) -> bool {
    matches!(type_name, "udpa.type.v1.TypedStruct" | "xds.type.v3.TypedStruct")
}

/// The type a `TypedStruct` value stands for, and where it is written.
fn typed_struct_type(value: &Node) -> Option<(&str, Span)> {
    let entry = value.members()?.iter().find(|m| m.key == "type_url" || m.key == "typeUrl")?;
    let (_, name) = entry.value.as_str()?.rsplit_once('/')?;
    Some((name, entry.value.span))
}

/// A bool written as a string, as Envoy's loader reads one (absl's `SimpleAtob`):
/// `true`, `t`, `yes`, `y`, `1` and `false`, `f`, `no`, `n`, `0`, in any case.
pub(super) fn bool_word(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "1" => Some(true),
        "false" | "f" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// Whether Envoy sees a field as set: proto3 scalars at their default value, and empty
/// lists, are indistinguishable from unset ones (so their deprecation goes unnoticed).
fn is_set(field: &Field, value: &Node) -> bool {
    match &value.kind {
        NodeKind::Null => false,
        NodeKind::List(items) => !items.is_empty(),
        NodeKind::Object(entries) if field.map => !entries.is_empty(),
        _ if matches!(field.kind, Kind::Message(_)) || field.oneof.is_some() => true,
        NodeKind::Bool(b) => *b,
        NodeKind::String(s) => match field.kind {
            Kind::String | Kind::Bytes => !s.is_empty(),
            _ => s.parse::<f64>().map_or(true, |n| n != 0.0),
        },
        NodeKind::Number { value, .. } => *value != 0.0,
        _ => true,
    }
}

/// An enum value's number, and whether the enum defines it.
fn enum_number(enumeration: &Enum, value: &Node) -> Option<(i32, bool)> {
    let word = match &value.kind {
        NodeKind::String(s) => s.as_str(),
        NodeKind::Number { raw, .. } => raw.as_str(),
        _ => return None,
    };
    if let Some(defined) = enumeration.value_by_name(word) {
        return Some((defined.number, true));
    }
    if let Some(defined) = enumeration.values.iter().find(|v| v.name.eq_ignore_ascii_case(word)) {
        return Some((defined.number, true));
    }
    let number = word.parse::<i32>().ok()?;
    Some((number, enumeration.value_by_number(number).is_some()))
}

/// A duration in seconds: meshc's `5s`, or proto3 JSON's `"5s"`.
fn duration_seconds(value: &Node) -> Option<f64> {
    match &value.kind {
        NodeKind::Duration { nanos } => Some(*nanos as f64 / 1e9),
        NodeKind::String(s) => parse_duration(s),
        _ => None,
    }
}

/// The type URL of an `Any` value.
fn any_type_url(value: &Node) -> Option<&str> {
    match &value.kind {
        NodeKind::Object(entries) => entries.iter().find(|e| e.key == "@type").and_then(|e| match &e.value.kind {
            NodeKind::String(s) => Some(s.as_str()),
            _ => None,
        }),
        _ => None,
    }
}

/// A scalar's text, for the uniqueness of list items.
fn scalar_text(value: &Node) -> Option<String> {
    match &value.kind {
        NodeKind::String(s) => Some(format!("s:{}", s)),
        NodeKind::Number { value, .. } => Some(format!("n:{value}")),
        NodeKind::Bool(b) => Some(format!("b:{b}")),
        _ => None,
    }
}
