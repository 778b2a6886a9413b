//! One Envoy version's schema as the checker reads it (the descriptor set read in
//! place, [`ProtoSet`]), and what the checker learns about each message on first use:
//! the validation rules and annotations of its fields, which are decoded once per
//! message rather than at every value.

use super::descriptors;
use super::proto::{self, Enum, Field, Kind, Message, NameMap, ProtoSet, annotation};
use super::rules::FieldRules;
use prost_reflect::DescriptorPool;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// The schema of an Envoy build (`1.38.2`), made once per process. Making it indexes
/// the set's files by package; messages are decoded as checks reach them, so checking
/// one file with one version reads a few hundred messages of the thousands a build has.
pub(super) fn schema(version: &str) -> Option<&'static Schema> {
    static SCHEMAS: OnceLock<Vec<(&'static str, OnceLock<Schema>)>> = OnceLock::new();
    let schemas = SCHEMAS.get_or_init(|| descriptors::versions().map(|v| (v, OnceLock::new())).collect());
    let (version, cell) = schemas.iter().find(|(v, _)| *v == version)?;
    Some(cell.get_or_init(|| Schema::new(ProtoSet::new(descriptors::embedded(version).unwrap_or_default()))))
}

/// The whole linked descriptor pool of an Envoy build (`1.38.2`), linked once per
/// process; the language server completes and describes fields with it, and `meshc
/// import` reads types with it.
pub fn descriptor_pool(version: &str) -> Option<DescriptorPool> {
    static POOLS: OnceLock<Mutex<HashMap<String, Option<DescriptorPool>>>> = OnceLock::new();
    let pools = POOLS.get_or_init(|| Mutex::new(HashMap::new()));
    let mut pools = pools.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    pools.entry(version.to_string()).or_insert_with(|| descriptors::load(version).ok()).clone()
}

/// The validation rules in a field's serialized `FieldOptions`, compiled as the checker
/// compiles them, for the language server, which reads fields from the linked pool.
/// protoc-gen-validate's messages are the same in every build, so the newest decodes
/// them.
pub(crate) fn field_rules(options: &[u8]) -> Option<FieldRules> {
    schema(descriptors::versions().last()?)?.compile_rules(options)
}

/// One Envoy version's schema, with what the checker learns about each message on
/// first use: the options of its fields are decoded once, not at every value.
pub(super) struct Schema {
    pub(super) set: ProtoSet<'static>,
    messages: Mutex<NameMap<Arc<MessageInfo>>>,
    enums: Mutex<NameMap<Arc<Enum<'static>>>>,
    /// Every message's full name, for did-you-mean, listed once when first needed.
    message_names: OnceLock<Vec<String>>,
}

/// What matters about one message type.
pub(super) struct MessageInfo {
    pub(super) message: Arc<Message<'static>>,
    /// Fields with rules or annotations, by field number.
    pub(super) fields: HashMap<u32, FieldInfo>,
    /// Fields that a whole message must set (their rules fail on the default value).
    pub(super) required: Vec<Field<'static>>,
    /// Oneofs marked `(validate.required)`: one of their fields must be set.
    pub(super) required_oneofs: Vec<Vec<Field<'static>>>,
    /// `(validate.disabled)`: the message's rules are not checked.
    pub(super) rules_disabled: bool,
    /// The message is marked work in progress.
    pub(super) work_in_progress: bool,
    /// Its whole file is, under this name.
    pub(super) work_in_progress_file: Option<String>,
    /// Every field is disallowed by default: an extension Envoy removed.
    pub(super) all_disallowed: bool,
}

#[derive(Default)]
pub(super) struct FieldInfo {
    pub(super) rules: Option<FieldRules>,
    pub(super) deprecated: bool,
    pub(super) disallowed: bool,
    pub(super) work_in_progress: bool,
}

impl Schema {
    pub(super) fn new(set: ProtoSet<'static>) -> Schema {
        Schema {
            set,
            messages: Mutex::new(NameMap::default()),
            enums: Mutex::new(NameMap::default()),
            message_names: OnceLock::new(),
        }
    }

    /// The message `name`, with what the checker needs of it.
    pub(super) fn message(&self, name: &str) -> Option<Arc<MessageInfo>> {
        if let Some(info) = self.messages.lock().unwrap_or_else(|p| p.into_inner()).get(name) {
            return Some(info.clone());
        }
        let info = Arc::new(self.learn(self.set.message(name)?));
        self.messages.lock().unwrap_or_else(|p| p.into_inner()).insert(name.to_string(), info.clone());
        Some(info)
    }

    pub(super) fn enumeration(&self, name: &str) -> Option<Arc<Enum<'static>>> {
        let mut enums = self.enums.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(enumeration) = enums.get(name) {
            return Some(enumeration.clone());
        }
        let enumeration = Arc::new(self.set.enumeration(name)?);
        enums.insert(name.to_string(), enumeration.clone());
        Some(enumeration)
    }

    /// Every message's full name, in the set's order.
    pub(super) fn message_names(&self) -> &[String] {
        self.message_names.get_or_init(|| self.set.message_names())
    }

    /// The value field of a map field's entry message.
    pub(super) fn map_value_field(&self, field: &Field<'static>) -> Option<Field<'static>> {
        let Kind::Message(entry) = field.kind else { return None };
        self.set.message(entry)?.field_by_number(2).cloned()
    }

    /// The `(validate.rules)` of a field's serialized `FieldOptions`, compiled, unless
    /// it has none.
    fn compile_rules(&self, options: &[u8]) -> Option<FieldRules> {
        let rules = proto::submessage(options, annotation::VALIDATE)?;
        let compiled = FieldRules::compile(&self.set.decode("validate.FieldRules", &rules)?, &self.set);
        (!compiled.is_empty()).then_some(compiled)
    }

    fn learn(&self, message: Arc<Message<'static>>) -> MessageInfo {
        let mut fields = HashMap::new();
        let mut required = Vec::new();
        for field in &message.fields {
            let Some(options) = field.options else { continue };
            let mut info = FieldInfo {
                deprecated: proto::flag(options, proto::number::FIELD_DEPRECATED),
                rules: self.compile_rules(options),
                ..FieldInfo::default()
            };
            info.disallowed = proto::flag(options, annotation::DISALLOWED_BY_DEFAULT);
            info.work_in_progress = proto::work_in_progress(options, annotation::XDS_STATUS);
            if let Some(rules) = &info.rules
                // A field of a oneof, even the one protoc makes for a proto3
                // `optional` field, is only checked when set.
                && field.oneof.is_none()
                && fails_when_unset(field, rules)
            {
                required.push(field.clone());
            }
            fields.insert(field.number, info);
        }
        let required_oneofs = message
            .oneofs
            .iter()
            .filter(|o| !o.synthetic && proto::flag(o.options, annotation::VALIDATE))
            .map(|oneof| oneof.fields.iter().filter_map(|n| message.field_by_number(*n)).cloned().collect())
            .collect();
        let rules_disabled = proto::flag(message.options, annotation::VALIDATE);
        let work_in_progress = proto::work_in_progress(message.options, annotation::XDS_STATUS);
        let file_options = self.set.file_options(message.file);
        let work_in_progress_file = [annotation::XDS_STATUS, annotation::UDPA_FILE_STATUS]
            .into_iter()
            .any(|extension| proto::work_in_progress(file_options, extension))
            .then(|| self.set.file_name(message.file).to_string());
        let all_disallowed = !message.fields.is_empty()
            && message.fields.iter().all(|f| fields.get(&f.number).is_some_and(|i: &FieldInfo| i.disallowed));
        MessageInfo {
            message,
            fields,
            required,
            required_oneofs,
            rules_disabled,
            work_in_progress,
            work_in_progress_file,
            all_disallowed,
        }
    }
}

/// Whether an unset field breaks its rules: a required message, or a scalar or list
/// whose default value (empty, zero) the rules reject.
fn fails_when_unset(field: &Field, rules: &FieldRules) -> bool {
    if rules.required {
        return true;
    }
    if field.repeated {
        return !rules.default_problems().is_empty();
    }
    match field.kind {
        Kind::Message(_) => false,
        _ => !rules.default_problems().is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envoy::proto::{Decoded, Value};
    use crate::envoy::rules::Rules;
    use crate::versions;
    use prost_reflect::{DynamicMessage, Value as Reflected};

    fn kind_name(kind: &Kind) -> String {
        match kind {
            Kind::Message(name) | Kind::Enum(name) => name.to_string(),
            scalar => format!("{scalar:?}").to_lowercase(),
        }
    }

    fn reflected_kind_name(kind: &prost_reflect::Kind) -> String {
        match kind {
            prost_reflect::Kind::Message(m) => m.full_name().to_string(),
            prost_reflect::Kind::Enum(e) => e.full_name().to_string(),
            scalar => format!("{scalar:?}").to_lowercase(),
        }
    }

    /// An option of a linked descriptor, read through its extension by name.
    fn reflected_flag(options: &DynamicMessage, pool: &DescriptorPool, extension: &str) -> bool {
        let extension = pool.get_extension_by_name(extension).expect(extension);
        options.has_extension(&extension) && matches!(options.get_extension(&extension).as_ref(), Reflected::Bool(true))
    }

    fn reflected_status(options: &DynamicMessage, pool: &DescriptorPool, extension: &str) -> bool {
        let extension = pool.get_extension_by_name(extension).expect(extension);
        options.has_extension(&extension)
            && matches!(options.get_extension(&extension).as_ref(), Reflected::Message(status)
                if status.get_field_by_name("work_in_progress").is_some_and(|v| matches!(v.as_ref(), Reflected::Bool(true))))
    }

    /// The descriptor set read in place answers as the linked pool does, for every
    /// message and enum of every build: the same fields with the same names, JSON
    /// names, numbers, kinds, labels, maps and oneofs, and the same annotations.
    #[test]
    fn the_set_read_in_place_answers_as_the_linked_pool() {
        for build in versions::ENVOY_BUILDS {
            let pool = descriptors::load(build.version).expect("links");
            let schema = schema(build.version).expect("reads");
            let names: Vec<String> = pool.all_messages().map(|m| m.full_name().to_string()).collect();
            assert_eq!(schema.set.message_names(), names, "the messages, in the pool's order");
            for expected in pool.all_messages() {
                let name = expected.full_name();
                let info = schema.message(name).unwrap_or_else(|| panic!("{name} in Envoy {}", build.version));
                let found: Vec<_> = info
                    .message
                    .fields
                    .iter()
                    .map(|f| {
                        let oneof = f
                            .oneof
                            .map(|o| (info.message.oneofs[o].name.to_string(), info.message.oneofs[o].synthetic));
                        let field_info = info.fields.get(&f.number);
                        let flags = field_info.map(|i| (i.deprecated, i.disallowed, i.work_in_progress));
                        (
                            f.name.to_string(),
                            f.json_name.clone(),
                            f.number,
                            kind_name(&f.kind),
                            f.repeated && !f.map,
                            f.map,
                            oneof,
                            flags,
                        )
                    })
                    .collect();
                let wanted: Vec<_> = expected
                    .fields()
                    .map(|f| {
                        let oneof = f.containing_oneof().map(|o| (o.name().to_string(), o.is_synthetic()));
                        let flags = f.field_descriptor_proto().options.as_ref().map(|o| {
                            let options = f.options();
                            (
                                o.deprecated(),
                                reflected_flag(&options, &pool, "envoy.annotations.disallowed_by_default"),
                                reflected_status(&options, &pool, "xds.annotations.v3.field_status"),
                            )
                        });
                        (
                            f.name().to_string(),
                            f.json_name().to_string(),
                            f.number(),
                            reflected_kind_name(&f.kind()),
                            f.is_list(),
                            f.is_map(),
                            oneof,
                            flags,
                        )
                    })
                    .collect();
                assert_eq!(found, wanted, "{name} in Envoy {}", build.version);
                let options = expected.options();
                assert_eq!(info.rules_disabled, reflected_flag(&options, &pool, "validate.disabled"), "{name}");
                assert_eq!(
                    info.work_in_progress,
                    reflected_status(&options, &pool, "xds.annotations.v3.message_status"),
                    "{name}"
                );
                let file_options = expected.parent_file().options();
                let file_wip = reflected_status(&file_options, &pool, "xds.annotations.v3.file_status")
                    || reflected_status(&file_options, &pool, "udpa.annotations.file_status");
                assert_eq!(
                    info.work_in_progress_file,
                    file_wip.then(|| expected.parent_file().name().to_string()),
                    "{name}"
                );
                let required_oneofs: Vec<Vec<String>> = expected
                    .oneofs()
                    .filter(|o| !o.is_synthetic() && reflected_flag(&o.options(), &pool, "validate.required"))
                    .map(|o| o.fields().map(|f| f.name().to_string()).collect())
                    .collect();
                let found_oneofs: Vec<Vec<String>> =
                    info.required_oneofs.iter().map(|o| o.iter().map(|f| f.name.to_string()).collect()).collect();
                assert_eq!(found_oneofs, required_oneofs, "{name}");
                // A field of a oneof (a proto3 `optional` one too) is only checked
                // when set; others whose rules fail on the default are required.
                let required: Vec<String> = expected
                    .fields()
                    .filter(|f| f.containing_oneof().is_none())
                    .filter(|f| {
                        let field = info.message.field_by_number(f.number()).expect("the same fields");
                        info.fields
                            .get(&f.number())
                            .and_then(|i| i.rules.as_ref())
                            .is_some_and(|r| fails_when_unset(field, r))
                    })
                    .map(|f| f.name().to_string())
                    .collect();
                let found_required: Vec<String> = info.required.iter().map(|f| f.name.to_string()).collect();
                assert_eq!(found_required, required, "{name}");
            }
            for expected in pool.all_enums() {
                let found =
                    schema.enumeration(expected.full_name()).unwrap_or_else(|| panic!("{}", expected.full_name()));
                let mut found: Vec<_> = found
                    .values
                    .iter()
                    .map(|v| {
                        let flags = v.options.map(|o| {
                            (
                                proto::flag(o, proto::number::ENUM_VALUE_DEPRECATED),
                                proto::flag(o, annotation::DISALLOWED_BY_DEFAULT_ENUM),
                            )
                        });
                        (v.name.to_string(), v.number, flags)
                    })
                    .collect();
                let mut wanted: Vec<_> = expected
                    .values()
                    .map(|v| {
                        let flags = v.enum_value_descriptor_proto().options.as_ref().map(|o| {
                            (
                                o.deprecated(),
                                reflected_flag(&v.options(), &pool, "envoy.annotations.disallowed_by_default_enum"),
                            )
                        });
                        (v.name().to_string(), v.number(), flags)
                    })
                    .collect();
                // Both list values by number; the pool orders aliases of one number
                // its own way, the reader in declaration order.
                let numbers =
                    |values: &[(String, i32, Option<(bool, bool)>)]| values.iter().map(|v| v.1).collect::<Vec<_>>();
                assert_eq!(numbers(&found), numbers(&wanted), "{}", expected.full_name());
                found.sort();
                wanted.sort();
                assert_eq!(found, wanted, "{} in Envoy {}", expected.full_name(), build.version);
            }
            assert!(schema.message("envoy.config.bootstrap.v3.NoSuchMessage").is_none());
            assert!(schema.message("envoy.config.core.v3.RoutingPriority").is_none(), "an enum is not a message");
            assert!(schema.enumeration("envoy.config.core.v3.RoutingPriority").is_some());
        }
    }

    /// A value decoded by the set's descriptors, as prost-reflect decodes it: field
    /// names and values, nested messages included.
    fn decoded_text(decoded: &Decoded, set: &ProtoSet) -> Vec<String> {
        let mut out = Vec::new();
        for (name, value) in &decoded.values {
            match value {
                Value::Message(type_name, bytes) => {
                    let inner = set.decode(type_name, bytes).expect(type_name);
                    out.push(format!("{name}: {{{}}}", decoded_text(&inner, set).join(", ")));
                }
                Value::Int(v) => out.push(format!("{name}: {v}")),
                Value::Uint(v) => out.push(format!("{name}: {v}")),
                Value::Float(v) => out.push(format!("{name}: {v}")),
                Value::Bool(v) => out.push(format!("{name}: {v}")),
                Value::Enum(v) => out.push(format!("{name}: {v}")),
                Value::Str(v) => out.push(format!("{name}: {v:?}")),
            }
        }
        out
    }

    fn reflected_text(message: &DynamicMessage) -> Vec<String> {
        fn one(name: &str, value: &Reflected, out: &mut Vec<String>) {
            match value {
                Reflected::Message(m) => out.push(format!("{name}: {{{}}}", reflected_text(m).join(", "))),
                Reflected::List(items) => items.iter().for_each(|item| one(name, item, out)),
                Reflected::I32(v) => out.push(format!("{name}: {v}")),
                Reflected::I64(v) => out.push(format!("{name}: {v}")),
                Reflected::U32(v) => out.push(format!("{name}: {v}")),
                Reflected::U64(v) => out.push(format!("{name}: {v}")),
                Reflected::F32(v) => out.push(format!("{name}: {}", f64::from(*v))),
                Reflected::F64(v) => out.push(format!("{name}: {v}")),
                Reflected::Bool(v) => out.push(format!("{name}: {v}")),
                Reflected::EnumNumber(v) => out.push(format!("{name}: {v}")),
                Reflected::String(v) => out.push(format!("{name}: {v:?}")),
                Reflected::Bytes(v) => out.push(format!("{name}: {:?}", String::from_utf8_lossy(v))),
                Reflected::Map(_) => out.push(format!("{name}: a map")),
            }
        }
        let mut out = Vec::new();
        for (field, value) in message.fields() {
            one(field.name(), value, &mut out);
        }
        out
    }

    /// Every `(validate.rules)` of every build decodes by the set's own descriptor of
    /// `validate.FieldRules` as prost-reflect decodes it, so the rules compile from
    /// the same values; and every `pattern` among them compiles with the `regex`
    /// crate (Envoy's validators use RE2, whose syntax it shares), or it would go
    /// unchecked.
    #[test]
    fn validation_rules_decode_as_prost_reflect_decodes_them() {
        let mut failed = Vec::new();
        for build in versions::ENVOY_BUILDS {
            let pool = descriptors::load(build.version).expect("links");
            let schema = schema(build.version).expect("reads");
            let extension = pool.get_extension_by_name("validate.rules").expect("validate.rules");
            let mut checked = 0;
            for message in pool.all_messages() {
                let info = schema.message(message.full_name()).expect("found");
                for field in message.fields() {
                    let options = field.options();
                    if !options.has_extension(&extension) {
                        continue;
                    }
                    let Reflected::Message(expected) = options.get_extension(&extension).into_owned() else {
                        panic!("validate.rules is a message")
                    };
                    let raw = info.message.field_by_number(field.number()).and_then(|f| f.options).expect("options");
                    let bytes = proto::submessage(raw, annotation::VALIDATE).expect("rules");
                    let decoded = schema.set.decode("validate.FieldRules", &bytes).expect("decodes");
                    assert_eq!(
                        decoded_text(&decoded, &schema.set),
                        reflected_text(&expected),
                        "{} in Envoy {}",
                        field.full_name(),
                        build.version
                    );
                    checked += 1;
                    let mut stack: Vec<&FieldRules> =
                        info.fields.get(&field.number()).and_then(|i| i.rules.as_ref()).into_iter().collect();
                    while let Some(rules) = stack.pop() {
                        match &rules.kind {
                            Rules::String(s) => {
                                if let Some(pattern) = &s.pattern
                                    && pattern.regex().is_none()
                                {
                                    failed.push(format!(
                                        "{} {}: {}",
                                        build.version,
                                        message.full_name(),
                                        pattern.source
                                    ));
                                }
                            }
                            Rules::Repeated(r) => stack.extend(r.items.as_deref()),
                            Rules::Map(m) => stack.extend(m.keys.as_deref().into_iter().chain(m.values.as_deref())),
                            _ => {}
                        }
                    }
                }
            }
            assert!(checked > 1000, "Envoy {} has {checked} fields with rules", build.version);
        }
        assert!(failed.is_empty(), "patterns that do not compile:\n{}", failed.join("\n"));
    }

    /// The annotation numbers the reader uses are those the sets declare.
    #[test]
    fn annotation_numbers_are_the_sets_own() {
        for build in versions::ENVOY_BUILDS {
            let pool = descriptors::load(build.version).expect("links");
            let number = |name: &str| u64::from(pool.get_extension_by_name(name).expect(name).number());
            assert_eq!(number("validate.rules"), annotation::VALIDATE);
            assert_eq!(number("validate.required"), annotation::VALIDATE);
            assert_eq!(number("validate.disabled"), annotation::VALIDATE);
            assert_eq!(number("envoy.annotations.disallowed_by_default"), annotation::DISALLOWED_BY_DEFAULT);
            assert_eq!(number("envoy.annotations.disallowed_by_default_enum"), annotation::DISALLOWED_BY_DEFAULT_ENUM);
            for status in ["field_status", "message_status", "file_status"] {
                assert_eq!(number(&format!("xds.annotations.v3.{status}")), annotation::XDS_STATUS);
            }
            assert_eq!(number("udpa.annotations.file_status"), annotation::UDPA_FILE_STATUS);
        }
    }
}
