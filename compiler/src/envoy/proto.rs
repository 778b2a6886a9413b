//! One Envoy build's descriptor set, read where it lies.
//!
//! `meshc envoy validate` checks one file per process, and linking a descriptor set
//! (resolving every name of every file it reaches, as prost-reflect does) costs more
//! than the whole check. The checker never needs a linked schema: it asks for one
//! message by its full name, its fields, their kinds and options. So it reads the
//! serialized `FileDescriptorProto`s in place: the files are indexed by package on
//! first use (a shallow pass over each file's name, package and options), and a
//! message or enum is decoded only when a check reaches it. Options stay raw bytes,
//! read by field number ([`flag`], [`submessage`]); a `validate.FieldRules` is decoded
//! with the descriptor of `validate.FieldRules` from the same set ([`ProtoSet::decode`]).
//!
//! The language server and `meshc import` use the linked pool
//! ([`super::descriptor_pool`]); a test holds every message of every build equal in
//! both.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex};

/// A map keyed by full names. A check looks one up at every message value, so the
/// keys are hashed with a multiply-rotate hash (the one rustc uses) rather than
/// SipHash; the maps only ever hold names the schema declares (a name a user writes
/// that the schema lacks is not remembered), so no input can flood them.
pub(crate) type NameMap<V> = HashMap<String, V, BuildHasherDefault<NameHasher>>;

/// The files of each package, by the package's name as it stands in the set.
type PackageMap<'a> = HashMap<&'a [u8], Vec<usize>, BuildHasherDefault<NameHasher>>;

#[derive(Default)]
pub(crate) struct NameHasher(u64);

impl Hasher for NameHasher {
    fn write(&mut self, bytes: &[u8]) {
        const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
            self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
        }
        for byte in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(*byte)).wrapping_mul(SEED);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// `FileDescriptorProto`, `DescriptorProto`, `FieldDescriptorProto` and the options
/// messages: the field numbers this reader uses (descriptor.proto).
pub(crate) mod number {
    pub(crate) const FILE_NAME: u64 = 1;
    pub(crate) const FILE_PACKAGE: u64 = 2;
    pub(crate) const FILE_MESSAGE: u64 = 4;
    pub(crate) const FILE_ENUM: u64 = 5;
    pub(crate) const FILE_OPTIONS: u64 = 8;
    pub(crate) const MESSAGE_NAME: u64 = 1;
    pub(crate) const MESSAGE_FIELD: u64 = 2;
    pub(crate) const MESSAGE_NESTED: u64 = 3;
    pub(crate) const MESSAGE_ENUM: u64 = 4;
    pub(crate) const MESSAGE_OPTIONS: u64 = 7;
    pub(crate) const MESSAGE_ONEOF: u64 = 8;
    pub(crate) const FIELD_NAME: u64 = 1;
    pub(crate) const FIELD_NUMBER: u64 = 3;
    pub(crate) const FIELD_LABEL: u64 = 4;
    pub(crate) const FIELD_TYPE: u64 = 5;
    pub(crate) const FIELD_TYPE_NAME: u64 = 6;
    pub(crate) const FIELD_OPTIONS: u64 = 8;
    pub(crate) const FIELD_ONEOF_INDEX: u64 = 9;
    pub(crate) const FIELD_JSON_NAME: u64 = 10;
    pub(crate) const FIELD_PROTO3_OPTIONAL: u64 = 17;
    pub(crate) const ONEOF_NAME: u64 = 1;
    pub(crate) const ONEOF_OPTIONS: u64 = 2;
    pub(crate) const ENUM_VALUE: u64 = 2;
    pub(crate) const ENUM_VALUE_NAME: u64 = 1;
    pub(crate) const ENUM_VALUE_NUMBER: u64 = 2;
    pub(crate) const ENUM_VALUE_OPTIONS: u64 = 3;
    /// `MessageOptions.map_entry`.
    pub(crate) const MAP_ENTRY: u64 = 7;
    /// `FieldOptions.deprecated`.
    pub(crate) const FIELD_DEPRECATED: u64 = 3;
    /// `EnumValueOptions.deprecated`.
    pub(crate) const ENUM_VALUE_DEPRECATED: u64 = 1;
}

/// The option extensions that carry Envoy's annotations, by number. A test checks
/// each against the extension the set declares under its name.
pub(crate) mod annotation {
    /// `validate.rules` (FieldOptions), `validate.required` (OneofOptions) and
    /// `validate.disabled` (MessageOptions).
    pub(crate) const VALIDATE: u64 = 1071;
    /// `envoy.annotations.disallowed_by_default` (FieldOptions).
    pub(crate) const DISALLOWED_BY_DEFAULT: u64 = 189503207;
    /// `envoy.annotations.disallowed_by_default_enum` (EnumValueOptions).
    pub(crate) const DISALLOWED_BY_DEFAULT_ENUM: u64 = 70100853;
    /// `xds.annotations.v3.field_status`, `message_status` and `file_status`.
    pub(crate) const XDS_STATUS: u64 = 226829418;
    /// `udpa.annotations.file_status` (FileOptions).
    pub(crate) const UDPA_FILE_STATUS: u64 = 222707719;
    /// `work_in_progress` in each of those status annotations.
    pub(crate) const WORK_IN_PROGRESS: u64 = 1;
}

/// Reads a varint at `at`, returning it and where the next byte is.
pub(crate) fn read_varint(bytes: &[u8], mut at: usize) -> Option<(u64, usize)> {
    let mut value = 0u64;
    let mut shift = 0;
    loop {
        let byte = *bytes.get(at)?;
        at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some((value, at));
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}

/// One field of a serialized message as it stands on the wire.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Bytes(&'a [u8]),
}

impl<'a> Wire<'a> {
    fn bytes(self) -> &'a [u8] {
        match self {
            Wire::Bytes(bytes) => bytes,
            _ => &[],
        }
    }

    fn text(self) -> &'a str {
        std::str::from_utf8(self.bytes()).unwrap_or("")
    }

    fn varint(self) -> u64 {
        match self {
            Wire::Varint(value) => value,
            _ => 0,
        }
    }
}

/// The fields of a serialized message, in order, as (number, value). Reading stops at
/// the first malformed byte: what came before it is still read.
pub(crate) fn fields(bytes: &[u8]) -> impl Iterator<Item = (u64, Wire<'_>)> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        let (tag, after_tag) = read_varint(bytes, at)?;
        let (value, next) = match tag & 7 {
            0 => {
                let (value, next) = read_varint(bytes, after_tag)?;
                (Wire::Varint(value), next)
            }
            1 => {
                let raw = bytes.get(after_tag..after_tag + 8)?;
                (Wire::Fixed64(u64::from_le_bytes(raw.try_into().ok()?)), after_tag + 8)
            }
            2 => {
                let (length, start) = read_varint(bytes, after_tag)?;
                let end = start.checked_add(usize::try_from(length).ok()?)?;
                (Wire::Bytes(bytes.get(start..end)?), end)
            }
            5 => {
                let raw = bytes.get(after_tag..after_tag + 4)?;
                (Wire::Fixed32(u32::from_le_bytes(raw.try_into().ok()?)), after_tag + 4)
            }
            _ => return None,
        };
        at = next;
        Some((tag >> 3, value))
    })
}

/// Whether a bool option is set to true (the last occurrence counts, as in protobuf).
pub(crate) fn flag(options: &[u8], number: u64) -> bool {
    fields(options).filter(|(n, _)| *n == number).last().is_some_and(|(_, value)| value.varint() != 0)
}

/// A message option's bytes: every occurrence, concatenated, which is how protobuf
/// merges a message set more than once.
pub(crate) fn submessage(options: &[u8], number: u64) -> Option<Vec<u8>> {
    let mut found: Option<Vec<u8>> = None;
    for (n, value) in fields(options) {
        if n == number {
            found.get_or_insert_with(Vec::new).extend_from_slice(value.bytes());
        }
    }
    found
}

/// A status annotation's `work_in_progress`.
pub(crate) fn work_in_progress(options: &[u8], extension: u64) -> bool {
    submessage(options, extension).is_some_and(|status| flag(&status, annotation::WORK_IN_PROGRESS))
}

/// A field's type, as the checker sees it: scalars by their protobuf type, messages
/// and enums by their full name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind<'a> {
    Double,
    Float,
    Int64,
    Uint64,
    Int32,
    Fixed64,
    Fixed32,
    Bool,
    String,
    Bytes,
    Uint32,
    Sfixed32,
    Sfixed64,
    Sint32,
    Sint64,
    Message(&'a str),
    Enum(&'a str),
}

impl<'a> Kind<'a> {
    /// The kind of `FieldDescriptorProto.type`, with its type name for messages and
    /// enums (groups read as messages).
    fn of(number: u64, type_name: &'a str) -> Option<Kind<'a>> {
        Some(match number {
            1 => Kind::Double,
            2 => Kind::Float,
            3 => Kind::Int64,
            4 => Kind::Uint64,
            5 => Kind::Int32,
            6 => Kind::Fixed64,
            7 => Kind::Fixed32,
            8 => Kind::Bool,
            9 => Kind::String,
            10 | 11 => Kind::Message(type_name),
            12 => Kind::Bytes,
            13 => Kind::Uint32,
            14 => Kind::Enum(type_name),
            15 => Kind::Sfixed32,
            16 => Kind::Sfixed64,
            17 => Kind::Sint32,
            18 => Kind::Sint64,
            _ => return None,
        })
    }
}

/// One field of a message.
#[derive(Clone, Debug)]
pub(crate) struct Field<'a> {
    pub name: &'a str,
    /// The name in proto3 JSON: the descriptor's `json_name`, else the lower camel
    /// case of the name, as protoc derives it.
    pub json_name: String,
    pub number: u32,
    pub kind: Kind<'a>,
    pub repeated: bool,
    /// A `map<K, V>` field (a repeated entry message marked `map_entry`).
    pub map: bool,
    /// The index of its oneof in [`Message::oneofs`].
    pub oneof: Option<usize>,
    /// `FieldOptions`, serialized.
    pub options: Option<&'a [u8]>,
}

/// One oneof of a message.
#[derive(Clone, Debug)]
pub(crate) struct Oneof<'a> {
    pub name: &'a str,
    /// The oneof protoc makes for a proto3 `optional` field, which is no choice.
    pub synthetic: bool,
    pub options: &'a [u8],
    /// The numbers of its fields, in the order they are declared.
    pub fields: Vec<u32>,
}

/// A message, decoded from its `DescriptorProto`.
#[derive(Debug)]
pub(crate) struct Message<'a> {
    pub full_name: String,
    pub fields: Vec<Field<'a>>,
    pub oneofs: Vec<Oneof<'a>>,
    /// `MessageOptions`, serialized.
    pub options: &'a [u8],
    /// The file that declares it, as an index of [`ProtoSet`].
    pub file: usize,
}

impl<'a> Message<'a> {
    pub(crate) fn field_by_name(&self, name: &str) -> Option<&Field<'a>> {
        self.fields.iter().find(|f| f.name == name)
    }

    pub(crate) fn field_by_json_name(&self, name: &str) -> Option<&Field<'a>> {
        self.fields.iter().find(|f| f.json_name == name)
    }

    pub(crate) fn field_by_number(&self, number: u32) -> Option<&Field<'a>> {
        self.fields.iter().find(|f| f.number == number)
    }

    /// The oneof a field belongs to, unless it is a proto3 `optional` field's own.
    pub(crate) fn real_oneof(&self, field: &Field<'a>) -> Option<&Oneof<'a>> {
        field.oneof.and_then(|i| self.oneofs.get(i)).filter(|o| !o.synthetic)
    }
}

/// An enum, decoded from its `EnumDescriptorProto`.
#[derive(Debug)]
pub(crate) struct Enum<'a> {
    pub full_name: String,
    pub values: Vec<EnumValue<'a>>,
}

#[derive(Clone, Debug)]
pub(crate) struct EnumValue<'a> {
    pub name: &'a str,
    pub number: i32,
    /// `EnumValueOptions`, serialized.
    pub options: Option<&'a [u8]>,
}

impl<'a> Enum<'a> {
    pub(crate) fn value_by_name(&self, name: &str) -> Option<&EnumValue<'a>> {
        self.values.iter().find(|v| v.name == name)
    }

    /// The first value with this number, as protobuf resolves aliases.
    pub(crate) fn value_by_number(&self, number: i32) -> Option<&EnumValue<'a>> {
        self.values.iter().find(|v| v.number == number)
    }
}

struct FileEntry<'a> {
    name: &'a [u8],
    bytes: &'a [u8],
}

/// A serialized `FileDescriptorSet`, indexed by package, with the messages decoded so
/// far.
pub(crate) struct ProtoSet<'a> {
    files: Vec<FileEntry<'a>>,
    by_package: PackageMap<'a>,
    decoded: Mutex<NameMap<Arc<Message<'a>>>>,
}

/// Where a full name was found: a message's or an enum's bytes, whether it is an
/// enum, and its file.
struct Found<'a> {
    bytes: &'a [u8],
    file: usize,
    is_enum: bool,
}

impl<'a> ProtoSet<'a> {
    /// Indexes a `FileDescriptorSet`: each file's name and package, which protoc
    /// writes first, so the rest of a file is not read.
    pub(crate) fn new(set: &'a [u8]) -> ProtoSet<'a> {
        let mut files = Vec::new();
        let mut by_package = PackageMap::default();
        for (number, file) in fields(set) {
            if number != 1 {
                continue;
            }
            let bytes = file.bytes();
            let (mut name, mut package) = (&[][..], &[][..]);
            for (number, value) in fields(bytes) {
                match number {
                    number::FILE_NAME => name = value.bytes(),
                    number::FILE_PACKAGE => package = value.bytes(),
                    // Fields come in number order; a file without a package has
                    // none of them.
                    _ => break,
                }
            }
            by_package.entry(package).or_default().push(files.len());
            files.push(FileEntry { name, bytes });
        }
        ProtoSet { files, by_package, decoded: Mutex::new(NameMap::default()) }
    }

    /// The name of a file (`envoy/config/core/v3/address.proto`).
    pub(crate) fn file_name(&self, file: usize) -> &'a str {
        self.files.get(file).and_then(|f| std::str::from_utf8(f.name).ok()).unwrap_or("")
    }

    /// A file's `FileOptions`, serialized.
    pub(crate) fn file_options(&self, file: usize) -> &'a [u8] {
        let bytes = self.files.get(file).map_or(&[][..], |f| f.bytes);
        fields(bytes).find(|(n, _)| *n == number::FILE_OPTIONS).map_or(&[], |(_, options)| options.bytes())
    }

    /// Finds the declaration of a full name: the longest package that is a prefix of
    /// it, then the path of names inside its files.
    fn find(&self, full_name: &str) -> Option<Found<'a>> {
        let mut split = full_name.len();
        while let Some(dot) = full_name[..split].rfind('.') {
            split = dot;
            let (package, path) = (&full_name[..dot], &full_name[dot + 1..]);
            let Some(files) = self.by_package.get(package.as_bytes()) else { continue };
            for &file in files {
                if let Some((bytes, is_enum)) = find_in(self.files[file].bytes, path, true) {
                    return Some(Found { bytes, file, is_enum });
                }
            }
        }
        // A name in a file without a package.
        for &file in self.by_package.get(&b""[..]).into_iter().flatten() {
            if let Some((bytes, is_enum)) = find_in(self.files[file].bytes, full_name, true) {
                return Some(Found { bytes, file, is_enum });
            }
        }
        None
    }

    /// The message `full_name` (`envoy.config.core.v3.Address`), decoded once.
    pub(crate) fn message(&self, full_name: &str) -> Option<Arc<Message<'a>>> {
        let mut decoded = self.decoded.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(message) = decoded.get(full_name) {
            return Some(message.clone());
        }
        let found = self.find(full_name).filter(|f| !f.is_enum)?;
        let message = Arc::new(decode_message(full_name, found.bytes, found.file));
        decoded.insert(full_name.to_string(), message.clone());
        Some(message)
    }

    /// The enum `full_name`, decoded.
    pub(crate) fn enumeration(&self, full_name: &str) -> Option<Enum<'a>> {
        let found = self.find(full_name).filter(|f| f.is_enum)?;
        let mut values = Vec::new();
        for (number, value) in fields(found.bytes) {
            if number != number::ENUM_VALUE {
                continue;
            }
            let mut enum_value = EnumValue { name: "", number: 0, options: None };
            for (number, part) in fields(value.bytes()) {
                match number {
                    number::ENUM_VALUE_NAME => enum_value.name = part.text(),
                    number::ENUM_VALUE_NUMBER => enum_value.number = part.varint() as i32,
                    number::ENUM_VALUE_OPTIONS => enum_value.options = Some(part.bytes()),
                    _ => {}
                }
            }
            values.push(enum_value);
        }
        // By number, as a linked pool lists them (and so the notes that name the
        // values); aliases stay in declaration order, so the first one a number
        // finds is the first declared, as protobuf resolves it.
        values.sort_by_key(|v| v.number);
        Some(Enum { full_name: full_name.to_string(), values })
    }

    /// The full name of every message, files in order, each message before those it
    /// nests (the order of a linked pool).
    pub(crate) fn message_names(&self) -> Vec<String> {
        fn walk(scope: &str, message: &[u8], out: &mut Vec<String>) {
            let name = fields(message).find(|(n, _)| *n == number::MESSAGE_NAME).map_or("", |(_, v)| v.text());
            let full = if scope.is_empty() { name.to_string() } else { format!("{scope}.{name}") };
            out.push(full.clone());
            for (number, nested) in fields(message) {
                if number == number::MESSAGE_NESTED {
                    walk(&full, nested.bytes(), out);
                }
            }
        }
        let mut out = Vec::new();
        for file in &self.files {
            let package = fields(file.bytes).find(|(n, _)| *n == number::FILE_PACKAGE).map_or("", |(_, v)| v.text());
            for (number, message) in fields(file.bytes) {
                if number == number::FILE_MESSAGE {
                    walk(package, message.bytes(), &mut out);
                }
            }
        }
        out
    }

    /// A serialized message of type `type_name` decoded by that type's descriptor in
    /// this set: each field that is set, by name, in order (a repeated field once per
    /// value). Used for option messages such as `validate.FieldRules`.
    pub(crate) fn decode(&self, type_name: &str, bytes: &[u8]) -> Option<Decoded<'a>> {
        let message = self.message(type_name)?;
        let mut values = Vec::new();
        for (number, wire) in fields(bytes) {
            let Some(field) = message.field_by_number(number as u32) else { continue };
            // A singular message set twice is the two merged, which for the wire
            // format is their bytes one after the other.
            if let (Kind::Message(_), false, Wire::Bytes(more)) = (&field.kind, field.repeated, wire)
                && let Some((_, Value::Message(_, bytes))) = values.iter_mut().find(|(name, _)| *name == field.name)
            {
                bytes.extend_from_slice(more);
                continue;
            }
            let mut push = |value: Option<Value>| {
                if let Some(value) = value {
                    values.push((field.name, value));
                }
            };
            match wire {
                // A packed list of scalars.
                Wire::Bytes(packed) if !matches!(field.kind, Kind::String | Kind::Bytes | Kind::Message(_)) => {
                    let mut at = 0;
                    while at < packed.len() {
                        let (wire, next) = match fixed_width(&field.kind) {
                            Some(8) => match packed.get(at..at + 8) {
                                Some(raw) => (Wire::Fixed64(u64::from_le_bytes(raw.try_into().ok()?)), at + 8),
                                None => break,
                            },
                            Some(_) => match packed.get(at..at + 4) {
                                Some(raw) => (Wire::Fixed32(u32::from_le_bytes(raw.try_into().ok()?)), at + 4),
                                None => break,
                            },
                            None => match read_varint(packed, at) {
                                Some((value, next)) => (Wire::Varint(value), next),
                                None => break,
                            },
                        };
                        push(Value::read(&field.kind, wire));
                        at = next;
                    }
                }
                wire => push(Value::read(&field.kind, wire)),
            }
        }
        Some(Decoded { values })
    }
}

/// The width of a fixed-size scalar on the wire, or `None` for a varint.
fn fixed_width(kind: &Kind) -> Option<usize> {
    match kind {
        Kind::Double | Kind::Fixed64 | Kind::Sfixed64 => Some(8),
        Kind::Float | Kind::Fixed32 | Kind::Sfixed32 => Some(4),
        _ => None,
    }
}

/// A value of a decoded option message.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(String),
    Enum(i32),
    /// A message, by its type's full name and its bytes.
    Message(String, Vec<u8>),
}

impl Value {
    fn read(kind: &Kind, wire: Wire) -> Option<Value> {
        Some(match (kind, wire) {
            (Kind::Bool, Wire::Varint(v)) => Value::Bool(v != 0),
            (Kind::Int32, Wire::Varint(v)) => Value::Int(i64::from(v as i32)),
            (Kind::Int64, Wire::Varint(v)) => Value::Int(v as i64),
            (Kind::Uint32, Wire::Varint(v)) => Value::Uint(u64::from(v as u32)),
            (Kind::Uint64, Wire::Varint(v)) => Value::Uint(v),
            (Kind::Sint32 | Kind::Sint64, Wire::Varint(v)) => Value::Int(((v >> 1) as i64) ^ -((v & 1) as i64)),
            (Kind::Enum(_), Wire::Varint(v)) => Value::Enum(v as i32),
            (Kind::Fixed32, Wire::Fixed32(v)) => Value::Uint(u64::from(v)),
            (Kind::Sfixed32, Wire::Fixed32(v)) => Value::Int(i64::from(v as i32)),
            (Kind::Float, Wire::Fixed32(v)) => Value::Float(f64::from(f32::from_bits(v))),
            (Kind::Fixed64, Wire::Fixed64(v)) => Value::Uint(v),
            (Kind::Sfixed64, Wire::Fixed64(v)) => Value::Int(v as i64),
            (Kind::Double, Wire::Fixed64(v)) => Value::Float(f64::from_bits(v)),
            (Kind::String | Kind::Bytes, Wire::Bytes(b)) => Value::Str(String::from_utf8_lossy(b).into_owned()),
            (Kind::Message(name), Wire::Bytes(b)) => Value::Message(name.to_string(), b.to_vec()),
            _ => return None,
        })
    }
}

/// An option message decoded by its descriptor (see [`ProtoSet::decode`]).
#[derive(Debug)]
pub(crate) struct Decoded<'a> {
    /// The fields that are set, by name, in wire order.
    pub values: Vec<(&'a str, Value)>,
}

impl<'a> Decoded<'a> {
    /// The value of a singular field (the last occurrence, as in protobuf).
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        self.values.iter().rev().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Every value of a repeated field.
    pub(crate) fn all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s Value> + 's {
        self.values.iter().filter(move |(n, _)| *n == name).map(|(_, v)| v)
    }
}

/// Finds `path` (`Outer.Inner`) among the declarations of a file (`top`) or a message.
/// Returns the declaration's bytes and whether it is an enum.
fn find_in<'a>(scope: &'a [u8], path: &str, top: bool) -> Option<(&'a [u8], bool)> {
    let (head, rest) = match path.split_once('.') {
        Some((head, rest)) => (head, Some(rest)),
        None => (path, None),
    };
    let (message_number, enum_number) =
        if top { (number::FILE_MESSAGE, number::FILE_ENUM) } else { (number::MESSAGE_NESTED, number::MESSAGE_ENUM) };
    for (number, value) in fields(scope) {
        let is_enum = number == enum_number;
        if number != message_number && !is_enum {
            continue;
        }
        let declaration = value.bytes();
        // Both a message and an enum have their name as field 1.
        let name = fields(declaration).find(|(n, _)| *n == 1).map_or("", |(_, v)| v.text());
        if name != head {
            continue;
        }
        return match (rest, is_enum) {
            (None, _) => Some((declaration, is_enum)),
            (Some(rest), false) => find_in(declaration, rest, false),
            (Some(_), true) => None,
        };
    }
    None
}

/// protoc's JSON name of a field: underscores dropped, the letter after each one
/// capitalised.
pub(crate) fn json_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn decode_message<'a>(full_name: &str, bytes: &'a [u8], file: usize) -> Message<'a> {
    let mut message =
        Message { full_name: full_name.to_string(), fields: Vec::new(), oneofs: Vec::new(), options: &[], file };
    // Nested messages marked `map_entry`, by name, to tell map fields.
    let mut map_entries: Vec<&str> = Vec::new();
    let mut proto3_optional: Vec<(usize, bool)> = Vec::new();
    for (number, value) in fields(bytes) {
        match number {
            number::MESSAGE_FIELD => {
                let mut field = Field {
                    name: "",
                    json_name: String::new(),
                    number: 0,
                    kind: Kind::Int32,
                    repeated: false,
                    map: false,
                    oneof: None,
                    options: None,
                };
                let (mut type_number, mut type_name, mut json) = (0, "", None);
                let mut optional = false;
                for (number, part) in fields(value.bytes()) {
                    match number {
                        number::FIELD_NAME => field.name = part.text(),
                        number::FIELD_NUMBER => field.number = part.varint() as u32,
                        number::FIELD_LABEL => field.repeated = part.varint() == 3,
                        number::FIELD_TYPE => type_number = part.varint(),
                        number::FIELD_TYPE_NAME => type_name = part.text().trim_start_matches('.'),
                        number::FIELD_OPTIONS => field.options = Some(part.bytes()),
                        number::FIELD_ONEOF_INDEX => field.oneof = Some(part.varint() as usize),
                        number::FIELD_JSON_NAME => json = Some(part.text()),
                        number::FIELD_PROTO3_OPTIONAL => optional = part.varint() != 0,
                        _ => {}
                    }
                }
                field.kind = Kind::of(type_number, type_name).unwrap_or(Kind::Bytes);
                field.json_name = json.map_or_else(|| json_name(field.name), str::to_string);
                if let Some(oneof) = field.oneof {
                    proto3_optional.push((oneof, optional));
                }
                message.fields.push(field);
            }
            number::MESSAGE_NESTED => {
                let nested = value.bytes();
                let options = fields(nested).filter(|(n, _)| *n == number::MESSAGE_OPTIONS).last();
                if options.is_some_and(|(_, o)| flag(o.bytes(), number::MAP_ENTRY)) {
                    let name = fields(nested).find(|(n, _)| *n == number::MESSAGE_NAME).map_or("", |(_, v)| v.text());
                    map_entries.push(name);
                }
            }
            number::MESSAGE_OPTIONS => message.options = value.bytes(),
            number::MESSAGE_ONEOF => {
                let mut oneof = Oneof { name: "", synthetic: false, options: &[], fields: Vec::new() };
                for (number, part) in fields(value.bytes()) {
                    match number {
                        number::ONEOF_NAME => oneof.name = part.text(),
                        number::ONEOF_OPTIONS => oneof.options = part.bytes(),
                        _ => {}
                    }
                }
                message.oneofs.push(oneof);
            }
            _ => {}
        }
    }
    for field in &message.fields {
        if let Some(oneof) = field.oneof.and_then(|o| message.oneofs.get_mut(o)) {
            oneof.fields.push(field.number);
        }
    }
    // In number order, as a linked pool lists them (and so the messages that name
    // fields list them).
    message.fields.sort_by_key(|f| f.number);
    // A oneof is synthetic when all its fields are proto3 `optional` ones.
    for (index, oneof) in message.oneofs.iter_mut().enumerate() {
        let members: Vec<bool> = proto3_optional.iter().filter(|(o, _)| *o == index).map(|(_, opt)| *opt).collect();
        oneof.synthetic = !members.is_empty() && members.iter().all(|opt| *opt);
    }
    let prefix_length = full_name.len() + 1;
    for field in &mut message.fields {
        if let Kind::Message(type_name) = field.kind
            && field.repeated
            && type_name.len() > prefix_length
            && type_name.starts_with(full_name)
            && type_name.as_bytes()[full_name.len()] == b'.'
            && map_entries.contains(&&type_name[prefix_length..])
        {
            field.map = true;
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost_reflect::prost::Message as _;
    use prost_reflect::prost_types::field_descriptor_proto::{Label, Type};
    use prost_reflect::prost_types::{
        DescriptorProto, FieldDescriptorProto, FieldOptions, FileDescriptorProto, FileDescriptorSet,
    };
    use prost_reflect::{DescriptorPool, DynamicMessage, Value as Reflected};

    fn field(name: &str, number: i32, kind: Type, label: Label, packed: Option<bool>) -> FieldDescriptorProto {
        FieldDescriptorProto {
            name: Some(name.to_string()),
            number: Some(number),
            label: Some(label as i32),
            r#type: Some(kind as i32),
            type_name: (kind == Type::Message).then(|| ".t.Sample".to_string()),
            options: packed.map(|packed| FieldOptions { packed: Some(packed), ..FieldOptions::default() }),
            ..FieldDescriptorProto::default()
        }
    }

    /// Every scalar encoding the reader decodes (zigzag, fixed widths, floats,
    /// negative varints, packed and unpacked lists) and a message set twice, decoded
    /// as prost-reflect decodes the same bytes; the Envoy sets' rules use only some
    /// of them, so this pins the rest.
    #[test]
    fn option_values_decode_as_prost_reflect_decodes_them() {
        use Label::{Optional, Repeated};
        let sample = DescriptorProto {
            name: Some("Sample".to_string()),
            field: vec![
                field("si32", 1, Type::Sint32, Optional, None),
                field("si64", 2, Type::Sint64, Optional, None),
                field("f32", 3, Type::Fixed32, Optional, None),
                field("sf32", 4, Type::Sfixed32, Optional, None),
                field("f64", 5, Type::Fixed64, Optional, None),
                field("sf64", 6, Type::Sfixed64, Optional, None),
                field("float", 7, Type::Float, Optional, None),
                field("double", 8, Type::Double, Optional, None),
                field("i32", 9, Type::Int32, Optional, None),
                field("u64", 10, Type::Uint64, Optional, None),
                field("packed", 11, Type::Sint64, Repeated, Some(true)),
                field("unpacked", 12, Type::Int32, Repeated, Some(false)),
                field("doubles", 13, Type::Double, Repeated, Some(true)),
                field("text", 14, Type::String, Optional, None),
                field("inner", 15, Type::Message, Optional, None),
            ],
            ..DescriptorProto::default()
        };
        let file = FileDescriptorProto {
            name: Some("t/sample.proto".to_string()),
            package: Some("t".to_string()),
            message_type: vec![sample],
            syntax: Some("proto2".to_string()),
            ..FileDescriptorProto::default()
        };
        let set = FileDescriptorSet { file: vec![file] }.encode_to_vec();
        let pool = DescriptorPool::decode(set.as_slice()).expect("links");
        let descriptor = pool.get_message_by_name("t.Sample").expect("declared");
        let mut value = DynamicMessage::new(descriptor.clone());
        let set_field = |value: &mut DynamicMessage, name: &str, v: Reflected| value.set_field_by_name(name, v);
        set_field(&mut value, "si32", Reflected::I32(-3));
        set_field(&mut value, "si64", Reflected::I64(-40_000_000_000));
        set_field(&mut value, "f32", Reflected::U32(4_000_000_000));
        set_field(&mut value, "sf32", Reflected::I32(-5));
        set_field(&mut value, "f64", Reflected::U64(u64::MAX));
        set_field(&mut value, "sf64", Reflected::I64(-6));
        set_field(&mut value, "float", Reflected::F32(1.5));
        set_field(&mut value, "double", Reflected::F64(-2.25));
        set_field(&mut value, "i32", Reflected::I32(-7));
        set_field(&mut value, "u64", Reflected::U64(8));
        set_field(&mut value, "packed", Reflected::List(vec![Reflected::I64(-1), Reflected::I64(2)]));
        set_field(&mut value, "unpacked", Reflected::List(vec![Reflected::I32(-3), Reflected::I32(4)]));
        set_field(&mut value, "doubles", Reflected::List(vec![Reflected::F64(0.5), Reflected::F64(-0.25)]));
        set_field(&mut value, "text", Reflected::String("é".to_string()));
        let mut bytes = value.encode_to_vec();
        // `inner` set twice: the two halves merge.
        let mut first = DynamicMessage::new(descriptor.clone());
        first.set_field_by_name("i32", Reflected::I32(1));
        let mut second = DynamicMessage::new(descriptor.clone());
        second.set_field_by_name("u64", Reflected::U64(2));
        for half in [first, second] {
            let mut outer = DynamicMessage::new(descriptor.clone());
            outer.set_field_by_name("inner", Reflected::Message(half));
            bytes.extend(outer.encode_to_vec());
        }
        let expected = DynamicMessage::decode(descriptor, bytes.as_slice()).expect("decodes");

        let reader = ProtoSet::new(&set);
        fn text(reader: &ProtoSet, decoded: &Decoded) -> Vec<String> {
            decoded
                .values
                .iter()
                .map(|(name, value)| match value {
                    Value::Message(type_name, bytes) => {
                        let inner = reader.decode(type_name, bytes).expect("decodes");
                        format!("{name}: {{{}}}", text(reader, &inner).join(", "))
                    }
                    Value::Int(v) => format!("{name}: {v}"),
                    Value::Uint(v) => format!("{name}: {v}"),
                    Value::Float(v) => format!("{name}: {v}"),
                    Value::Bool(v) => format!("{name}: {v}"),
                    Value::Enum(v) => format!("{name}: {v}"),
                    Value::Str(v) => format!("{name}: {v:?}"),
                })
                .collect()
        }
        fn reflected(message: &DynamicMessage) -> Vec<String> {
            let mut out = Vec::new();
            for (field, value) in message.fields() {
                let items = match value {
                    Reflected::List(items) => items.clone(),
                    other => vec![other.clone()],
                };
                for item in items {
                    out.push(match item {
                        Reflected::Message(m) => format!("{}: {{{}}}", field.name(), reflected(&m).join(", ")),
                        Reflected::I32(v) => format!("{}: {v}", field.name()),
                        Reflected::I64(v) => format!("{}: {v}", field.name()),
                        Reflected::U32(v) => format!("{}: {v}", field.name()),
                        Reflected::U64(v) => format!("{}: {v}", field.name()),
                        Reflected::F32(v) => format!("{}: {}", field.name(), f64::from(v)),
                        Reflected::F64(v) => format!("{}: {v}", field.name()),
                        Reflected::String(v) => format!("{}: {v:?}", field.name()),
                        other => format!("{}: {other:?}", field.name()),
                    });
                }
            }
            out
        }
        let decoded = reader.decode("t.Sample", &bytes).expect("decodes");
        assert_eq!(text(&reader, &decoded), reflected(&expected));
        assert!(text(&reader, &decoded).contains(&"inner: {i32: 1, u64: 2}".to_string()));
        assert!(reader.message("t.Nothing").is_none() && reader.message("t").is_none());
        assert!(
            reader.decode("t.Sample", &[0xff]).is_some_and(|d| d.values.is_empty()),
            "malformed bytes read as nothing"
        );
    }
}
