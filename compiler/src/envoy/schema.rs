//! One Envoy version's linked schema, and what the checker learns about each
//! message on first use: the validation rules and annotations of its fields, which
//! are decoded once per message rather than at every value.

use super::descriptors;
use super::rules::FieldRules;
use prost_reflect::{
    DescriptorPool, DynamicMessage, ExtensionDescriptor, FieldDescriptor, Kind, MessageDescriptor, ReflectMessage,
    Value as Reflected,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

/// Schemas by Envoy version, made once per process. A schema links only the files
/// its lookups need (see [`Pool`]), so checking one file with one version costs a
/// few milliseconds rather than the tens that linking everything takes.
pub(super) fn schema(version: &'static str) -> Option<Arc<Schema>> {
    static SCHEMAS: OnceLock<Mutex<BTreeMap<&'static str, Option<Arc<Schema>>>>> = OnceLock::new();
    let schemas = SCHEMAS.get_or_init(|| Mutex::new(BTreeMap::new()));
    let mut schemas = schemas.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    schemas
        .entry(version)
        .or_insert_with(|| {
            let catalog = descriptors::catalog(version).ok()?;
            Some(Arc::new(Schema::new(Pool::new(catalog).ok()?)))
        })
        .clone()
}

/// The whole linked descriptor pool of an Envoy build (`1.38.2`), from the same
/// per-process cache the checks use; the language server completes and describes
/// fields with it.
pub fn descriptor_pool(version: &'static str) -> Option<DescriptorPool> {
    schema(version).and_then(|schema| schema.pool.full())
}

/// A descriptor pool linked as it is used: it starts with the files that declare
/// option extensions (so every option reads as in the whole schema), and a lookup of
/// a name it lacks adds the file that declares the name, with its imports. Looking up
/// a name answers exactly as the whole schema would; [`Pool::full`] links the whole
/// schema.
///
/// Descriptors handed out before a file was added stay valid: each holds the pool as
/// it was, and every file it reaches was in it.
pub(super) struct Pool {
    catalog: descriptors::Catalog,
    state: Mutex<PoolState>,
}

struct PoolState {
    pool: DescriptorPool,
    loaded: Vec<bool>,
    whole: bool,
}

impl Pool {
    pub(super) fn new(catalog: descriptors::Catalog) -> Result<Pool, String> {
        let loaded = vec![false; catalog.file_count()];
        let mut state = PoolState { pool: DescriptorPool::new(), loaded, whole: false };
        let annotations = catalog.extension_files();
        add(&catalog, &mut state, &annotations)?;
        Ok(Pool { catalog, state: Mutex::new(state) })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The message `name`, as the whole schema has it.
    pub(super) fn get_message_by_name(&self, name: &str) -> Option<MessageDescriptor> {
        let mut state = self.state();
        if let Some(message) = state.pool.get_message_by_name(name) {
            return Some(message);
        }
        let file = self.catalog.file_of_message(name)?;
        add(&self.catalog, &mut state, &[file]).ok()?;
        state.pool.get_message_by_name(name)
    }

    pub(super) fn get_extension_by_name(&self, name: &str) -> Option<ExtensionDescriptor> {
        let mut state = self.state();
        if let Some(extension) = state.pool.get_extension_by_name(name) {
            return Some(extension);
        }
        let file = self.catalog.file_of_extension(name)?;
        add(&self.catalog, &mut state, &[file]).ok()?;
        state.pool.get_extension_by_name(name)
    }

    /// Adds, in one step, the files of those `names` that are messages of the schema:
    /// a hint of what a check is about to look up, since adding files one lookup at a
    /// time copies the pool each time. Names that are not messages are passed over.
    pub(super) fn preload<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        let mut state = self.state();
        if state.whole {
            return;
        }
        let files: Vec<usize> = names.into_iter().filter_map(|name| self.catalog.file_of_message(name)).collect();
        let _ = add(&self.catalog, &mut state, &files);
    }

    /// The full name of every message of the schema, in the whole schema's order,
    /// without linking it.
    pub(super) fn message_names(&self) -> impl Iterator<Item = &str> {
        self.catalog.message_names()
    }

    /// The whole schema, linked once; from then on every lookup uses it.
    pub(super) fn full(&self) -> Option<DescriptorPool> {
        let mut state = self.state();
        if !state.whole {
            state.pool = descriptors::link(self.catalog.set()).ok()?;
            state.loaded.fill(true);
            state.whole = true;
        }
        Some(state.pool.clone())
    }
}

/// Links `files` and what they import into the pool, unless they are there already.
fn add(catalog: &descriptors::Catalog, state: &mut PoolState, files: &[usize]) -> Result<(), String> {
    let missing = catalog.closure(files, &state.loaded);
    if missing.is_empty() {
        return Ok(());
    }
    state.pool.decode_file_descriptor_set(catalog.subset(&missing).as_slice()).map_err(|e| e.to_string())?;
    for file in missing {
        state.loaded[file] = true;
    }
    Ok(())
}

/// One Envoy version's linked schema, with what the checker learns about each message
/// on first use: the options of its fields are decoded once, not at every value.
pub(super) struct Schema {
    pub(super) pool: Pool,
    pub(super) annotations: Annotations,
    messages: Mutex<HashMap<String, Arc<MessageInfo>>>,
}

/// The option extensions that carry Envoy's annotations, where the schema has them.
pub(super) struct Annotations {
    pub(super) rules: Option<ExtensionDescriptor>,
    pub(super) oneof_required: Option<ExtensionDescriptor>,
    pub(super) rules_disabled: Option<ExtensionDescriptor>,
    pub(super) disallowed: Option<ExtensionDescriptor>,
    pub(super) disallowed_enum: Option<ExtensionDescriptor>,
    pub(super) field_status: Option<ExtensionDescriptor>,
    pub(super) message_status: Option<ExtensionDescriptor>,
    pub(super) file_status: Vec<ExtensionDescriptor>,
}

/// What matters about one message type.
pub(super) struct MessageInfo {
    /// Fields with rules or annotations, by field number.
    pub(super) fields: HashMap<u32, FieldInfo>,
    /// Fields that a whole message must set (their rules fail on the default value),
    /// with what their rule asks.
    pub(super) required: Vec<FieldDescriptor>,
    /// Oneofs marked `(validate.required)`: one of their fields must be set.
    pub(super) required_oneofs: Vec<Vec<FieldDescriptor>>,
    /// `(validate.disabled)`: the message's rules are not checked.
    pub(super) rules_disabled: bool,
    /// The message is marked work in progress.
    pub(super) work_in_progress: bool,
    /// Its whole file is, under this name.
    pub(super) work_in_progress_file: Option<String>,
}

#[derive(Default)]
pub(super) struct FieldInfo {
    pub(super) rules: Option<FieldRules>,
    pub(super) deprecated: bool,
    pub(super) disallowed: bool,
    pub(super) work_in_progress: bool,
}

impl Schema {
    pub(super) fn new(pool: Pool) -> Schema {
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

    pub(super) fn message_info(&self, message: &MessageDescriptor) -> Arc<MessageInfo> {
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
pub(super) fn info_all_disallowed(schema: &Schema, message: &MessageDescriptor) -> bool {
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

pub(super) fn extension_flag(options: &DynamicMessage, extension: &ExtensionDescriptor) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envoy::rules::Rules;
    use crate::versions;

    /// Envoy's validators compile `pattern` rules with RE2; each pattern of every
    /// pinned schema must compile with the `regex` crate too, or it would go unchecked.
    /// A pool that links files as lookups need them answers as the whole schema does:
    /// every message is found, with the same fields, the same types and the same
    /// options (validation rules and annotations included), whatever was looked up
    /// before it.
    #[test]
    fn a_pool_linked_on_demand_answers_as_the_whole_schema() {
        for build in versions::ENVOY_BUILDS {
            let whole = descriptors::load(build.version).expect("links");
            let lazy = Pool::new(descriptors::catalog(build.version).expect("reads")).expect("links");
            for expected in whole.all_messages() {
                let found = lazy.get_message_by_name(expected.full_name()).expect(expected.full_name());
                let fields = |m: &MessageDescriptor| -> Vec<(String, u32, String, Vec<u8>)> {
                    m.fields()
                        .map(|f| {
                            let kind = match f.kind() {
                                Kind::Message(m) => m.full_name().to_string(),
                                Kind::Enum(e) => e.full_name().to_string(),
                                other => format!("{other:?}"),
                            };
                            (
                                f.name().to_string(),
                                f.number(),
                                kind,
                                prost_reflect::prost::Message::encode_to_vec(&f.options()),
                            )
                        })
                        .collect()
                };
                assert_eq!(fields(&found), fields(&expected), "{} in Envoy {}", expected.full_name(), build.version);
                let options = |m: &MessageDescriptor| prost_reflect::prost::Message::encode_to_vec(&m.options());
                assert_eq!(options(&found), options(&expected));
            }
            assert!(lazy.get_message_by_name("envoy.config.bootstrap.v3.NoSuchMessage").is_none());
            let names: Vec<String> = whole.all_messages().map(|m| m.full_name().to_string()).collect();
            assert!(
                lazy.message_names().eq(names.iter().map(String::as_str)),
                "the catalog lists them in the pool's order"
            );
            let names =
                |pool: &DescriptorPool| pool.all_extensions().map(|e| e.full_name().to_string()).collect::<Vec<_>>();
            assert_eq!(names(&lazy.full().expect("links")), names(&whole));
        }
    }

    #[test]
    fn every_pattern_rule_compiles() {
        let mut failed = Vec::new();
        for build in versions::ENVOY_BUILDS {
            let schema = schema(build.version).expect("links");
            for message in schema.pool.full().expect("links").all_messages() {
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
