//! Envoy message literals checked against the schema of every targeted Envoy version.
//!
//! A typed message (`envoy.extensions.filters.http.lua.v3.Lua { ... }`), the value of
//! an EnvoyFilter patch (typed by its `applyTo`) and everything nested in them, down
//! through `typed_config` values resolved by their `@type`, is checked against the
//! descriptors recovered from each Envoy build ([`crate::descriptors`]): unknown
//! fields with did-you-mean, values of the wrong kind, enum values, oneof conflicts
//! and deprecated fields. A mistake found in every version is reported once; one
//! found in some versions names them.

use super::common::Ctx;
use crate::descriptors;
use crate::diagnostic::{Diagnostic, Severity, codes, did_you_mean};
use crate::span::Span;
use crate::syntax::ast::*;
use crate::versions;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, ReflectMessage, Value as Reflected,
};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Linked schemas by Envoy version, loaded once per process: each takes tens of
/// milliseconds to link, and is the same every time.
fn pool(version: &str) -> Option<Arc<DescriptorPool>> {
    static POOLS: OnceLock<Mutex<BTreeMap<String, Option<Arc<DescriptorPool>>>>> = OnceLock::new();
    let pools = POOLS.get_or_init(|| Mutex::new(BTreeMap::new()));
    let mut pools = pools.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    pools.entry(version.to_string()).or_insert_with(|| descriptors::load(version).ok().map(Arc::new)).clone()
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
            if istio.is_empty() { format!("Envoy {envoy}") } else { format!("Istio {} (Envoy {envoy})", istio.join(", ")) }
        })
        .collect();
    let mut found = check_each_version(&envoys, type_name, type_span, fields, completeness, Strictness::Language);
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
pub fn check_in_versions(
    envoys: &[&'static str],
    type_name: &str,
    type_span: Span,
    fields: &[Entry],
    completeness: Completeness,
    strictness: Strictness,
) -> Vec<Diagnostic> {
    let found = check_each_version(envoys, type_name, type_span, fields, completeness, strictness)
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
) -> Vec<(Diagnostic, String)> {
    let mut found: Vec<(Diagnostic, String)> = Vec::new();
    for version in envoys {
        let Some(pool) = pool(version) else { continue };
        let rules = pool.get_extension_by_name("validate.rules");
        let mut checker =
            MessageChecker { pool: &pool, version, diagnostics: Vec::new(), rules, completeness, strictness };
        match pool.get_message_by_name(type_name) {
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
                diagnostic.notes.push(format!("{} accepts it", fine.join(", ")));
            }
            diagnostic
        })
        .collect()
}

struct MessageChecker<'p> {
    pool: &'p DescriptorPool,
    /// The Envoy version of `pool`, which keys the process-wide rule cache.
    version: &'static str,
    diagnostics: Vec<Diagnostic>,
    /// The protoc-gen-validate field option, when the schema has it.
    rules: Option<prost_reflect::ExtensionDescriptor>,
    completeness: Completeness,
    strictness: Strictness,
}

/// A sub-message of validate rules, if it is set.
fn rule_group(rules: &DynamicMessage, name: &str) -> Option<DynamicMessage> {
    let field = rules.descriptor().get_field_by_name(name)?;
    if !rules.has_field(&field) {
        return None;
    }
    match rules.get_field(&field).into_owned() {
        Reflected::Message(message) => Some(message),
        _ => None,
    }
}

/// A number-valued rule (`gt`, `min_len`, ...) if it is set, as f64.
fn rule_number(rules: &DynamicMessage, name: &str) -> Option<f64> {
    let field = rules.descriptor().get_field_by_name(name)?;
    if !rules.has_field(&field) {
        return None;
    }
    match rules.get_field(&field).as_ref() {
        Reflected::I32(v) => Some(f64::from(*v)),
        Reflected::I64(v) => Some(*v as f64),
        Reflected::U32(v) => Some(f64::from(*v)),
        Reflected::U64(v) => Some(*v as f64),
        Reflected::F32(v) => Some(f64::from(*v)),
        Reflected::F64(v) => Some(*v),
        Reflected::Message(duration) => {
            let seconds = rule_number(duration, "seconds").unwrap_or(0.0);
            let nanos = rule_number(duration, "nanos").unwrap_or(0.0);
            Some(seconds + nanos / 1e9)
        }
        _ => None,
    }
}

fn rule_flag(rules: &DynamicMessage, name: &str) -> bool {
    rules
        .descriptor()
        .get_field_by_name(name)
        .is_some_and(|f| matches!(rules.get_field(&f).as_ref(), Reflected::Bool(true)))
}

impl MessageChecker<'_> {
    fn unknown_type(&mut self, type_name: &str, span: Span) {
        let names: Vec<String> = self.pool.all_messages().map(|m| m.full_name().to_string()).collect();
        let mut diagnostic =
            Diagnostic::new(codes::UNKNOWN_ENVOY_TYPE, span, format!("`{type_name}` is not a message type of Envoy"))
                .with_label_message("unknown type");
        if let Some(suggestion) = did_you_mean(type_name, names.iter().map(String::as_str)) {
            diagnostic = diagnostic.with_did_you_mean(span, suggestion);
        }
        self.diagnostics.push(diagnostic);
    }

    fn fields(&mut self, message: &MessageDescriptor, entries: &[Entry], anchor: Span) {
        if self.completeness == Completeness::Whole {
            self.required(message, entries, anchor);
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
            if field.field_descriptor_proto().options.as_ref().is_some_and(|o| o.deprecated()) {
                self.diagnostics.push(
                    Diagnostic::new(
                        codes::ENVOY_DEPRECATED_FIELD,
                        entry.key.span,
                        format!("`{}` is deprecated in `{}`", field.name(), message.full_name()),
                    )
                    .with_label_message("deprecated")
                    .with_severity(Severity::Warning),
                );
            }
            self.field_value(&field, &entry.value);
            self.validate(&field, &entry.value);
        }
    }

    /// The validate rules of a field, if the schema gives it any.
    ///
    /// Decoding a field's options is the costliest step of checking a message, so
    /// fields without options are skipped outright and decoded rules are remembered
    /// for the life of the process (the schemas never change).
    fn field_rules(&self, field: &FieldDescriptor) -> Option<DynamicMessage> {
        type RuleCache = Mutex<std::collections::HashMap<(&'static str, String), Option<DynamicMessage>>>;
        static CACHE: OnceLock<RuleCache> = OnceLock::new();
        let extension = self.rules.as_ref()?;
        field.field_descriptor_proto().options.as_ref()?;
        let key = (self.version, field.full_name().to_string());
        let cache = CACHE.get_or_init(|| Mutex::new(std::collections::HashMap::new()));
        if let Some(rules) = cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(&key) {
            return rules.clone();
        }
        let options = field.options();
        let rules = if options.has_extension(extension) {
            match options.get_extension(extension).into_owned() {
                Reflected::Message(rules) => Some(rules),
                _ => None,
            }
        } else {
            None
        };
        cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(key, rules.clone());
        rules
    }

    /// Fields that a whole message must have: required messages and durations, and
    /// strings and lists with a minimum size.
    fn required(&mut self, message: &MessageDescriptor, entries: &[Entry], anchor: Span) {
        let mut missing = Vec::new();
        for field in message.fields() {
            let given = entries.iter().any(|e| e.key.name == field.name() || e.key.name == field.json_name());
            if given {
                continue;
            }
            // A field of a oneof is only required when the oneof itself is.
            if field.containing_oneof().is_some_and(|o| !o.is_synthetic()) {
                continue;
            }
            let Some(rules) = self.field_rules(&field) else { continue };
            let required = ["message", "duration", "any", "timestamp"]
                .iter()
                .any(|group| rule_group(&rules, group).is_some_and(|g| rule_flag(&g, "required")))
                || rule_group(&rules, "string").is_some_and(|g| {
                    rule_number(&g, "min_len").unwrap_or(0.0) >= 1.0
                        || rule_number(&g, "min_bytes").unwrap_or(0.0) >= 1.0
                })
                || rule_group(&rules, "repeated").is_some_and(|g| rule_number(&g, "min_items").unwrap_or(0.0) >= 1.0)
                || rule_group(&rules, "map").is_some_and(|g| rule_number(&g, "min_pairs").unwrap_or(0.0) >= 1.0);
            if required {
                missing.push(field.name().to_string());
            }
        }
        // Oneofs marked required need one of their fields.
        for oneof in message.oneofs().filter(|o| !o.is_synthetic()) {
            let required = oneof_required(self.pool, &oneof);
            if required
                && !oneof
                    .fields()
                    .any(|f| entries.iter().any(|e| e.key.name == f.name() || e.key.name == f.json_name()))
            {
                missing.push(format!(
                    "one of {}",
                    oneof.fields().map(|f| format!("`{}`", f.name())).collect::<Vec<_>>().join(", ")
                ));
            }
        }
        if missing.is_empty() {
            return;
        }
        let shown: Vec<String> =
            missing.iter().map(|m| if m.starts_with("one of") { m.clone() } else { format!("`{m}`") }).collect();
        self.diagnostics.push(
            Diagnostic::new(
                codes::ENVOY_RULE_VIOLATED,
                anchor,
                format!("`{}` requires {}", message.full_name(), shown.join(", ")),
            )
            .with_label_message(format!("missing {}", shown.join(", "))),
        );
    }

    /// protoc-gen-validate rules on a given value: lengths, ranges, item counts.
    fn validate(&mut self, field: &FieldDescriptor, value: &Value) {
        let Some(rules) = self.field_rules(field) else { return };
        let mut problems = Vec::new();
        match &value.kind {
            ValueKind::String(s) => {
                if let Some(string) = rule_group(&rules, "string") {
                    let length = s.value.chars().count() as f64;
                    if let Some(min) = rule_number(&string, "min_len").or(rule_number(&string, "min_bytes"))
                        && length < min
                    {
                        problems.push(if min == 1.0 {
                            "non-empty".to_string()
                        } else {
                            format!("at least {min} characters long")
                        });
                    }
                    if let Some(max) = rule_number(&string, "max_len").or(rule_number(&string, "max_bytes"))
                        && length > max
                    {
                        problems.push(format!("at most {max} characters long"));
                    }
                }
            }
            ValueKind::Number { value: number, .. } => {
                for group in
                    ["uint32", "int32", "uint64", "int64", "double", "float", "sint32", "sint64", "fixed32", "fixed64"]
                {
                    if let Some(range) = rule_group(&rules, group) {
                        problems.extend(range_problems(&range, *number, ""));
                    }
                }
            }
            ValueKind::Duration { seconds, .. } => {
                if let Some(range) = rule_group(&rules, "duration") {
                    problems.extend(range_problems(&range, *seconds, "s"));
                }
            }
            ValueKind::List(items) => {
                if let Some(repeated) = rule_group(&rules, "repeated") {
                    let count = items.len() as f64;
                    if let Some(min) = rule_number(&repeated, "min_items")
                        && count < min
                    {
                        problems.push(format!("a list of at least {min} items"));
                    }
                    if let Some(max) = rule_number(&repeated, "max_items")
                        && count > max
                    {
                        problems.push(format!("a list of at most {max} items"));
                    }
                }
            }
            _ => {}
        }
        if !problems.is_empty() {
            self.diagnostics.push(
                Diagnostic::new(
                    codes::ENVOY_RULE_VIOLATED,
                    value.span,
                    format!("`{}` must be {}", field.name(), problems.join(" and ")),
                )
                .with_label_message("violates the schema's validation rule"),
            );
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
                _ => self.wrong(value, &format!("a list for `{}`", field.name())),
            }
            return;
        }
        self.single(field, value);
    }

    /// One value of a field's kind (a list's element, a map's value, or the field).
    fn single(&mut self, field: &FieldDescriptor, value: &Value) {
        if matches!(value.kind, ValueKind::Error | ValueKind::Path(_)) {
            // Names resolve to `let` values elsewhere; errors were reported already.
            return;
        }
        match field.kind() {
            Kind::Message(message) => self.message_value(&message, value),
            Kind::Enum(enumeration) => {
                let word = match &value.kind {
                    ValueKind::String(s) => Some(s.value.clone()),
                    ValueKind::Number { raw, .. } => Some(raw.clone()),
                    _ => None,
                };
                match word {
                    Some(word) if enumeration.get_value_by_name(&word).is_some() || word.parse::<i32>().is_ok() => {}
                    Some(word) => {
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
                    None => self.wrong(value, &format!("a value of `{}` (a string)", enumeration.full_name())),
                }
            }
            Kind::Bool => {
                if !matches!(value.kind, ValueKind::Bool(_)) {
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
            Err(_) => self.wrong(value, "a whole number"),
        }
    }

    fn message_value(&mut self, message: &MessageDescriptor, value: &Value) {
        match message.full_name() {
            "google.protobuf.Any" => return self.any(value),
            "google.protobuf.Duration" => {
                if !matches!(value.kind, ValueKind::Duration { .. } | ValueKind::String(_)) {
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
                    (s.value.trim_start_matches("type.googleapis.com/").to_string(), *span, entries.as_slice())
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
        match self.pool.get_message_by_name(&type_name) {
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

/// Whether a oneof carries `(validate.required) = true`.
fn oneof_required(pool: &DescriptorPool, oneof: &prost_reflect::OneofDescriptor) -> bool {
    let Some(extension) = pool.get_extension_by_name("validate.required") else { return false };
    let options = oneof.options();
    options.has_extension(&extension) && matches!(options.get_extension(&extension).as_ref(), Reflected::Bool(true))
}

/// `gt`, `gte`, `lt`, `lte` of a numeric or duration rule group, against a value.
fn range_problems(range: &DynamicMessage, value: f64, unit: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(bound) = rule_number(range, "gt")
        && value <= bound
    {
        problems.push(format!("greater than {bound}{unit}"));
    }
    if let Some(bound) = rule_number(range, "gte")
        && value < bound
    {
        problems.push(format!("at least {bound}{unit}"));
    }
    if let Some(bound) = rule_number(range, "lt")
        && value >= bound
    {
        problems.push(format!("less than {bound}{unit}"));
    }
    if let Some(bound) = rule_number(range, "lte")
        && value > bound
    {
        problems.push(format!("at most {bound}{unit}"));
    }
    problems
}
