//! Envoy's schemas, recovered from the official Envoy binaries.
//!
//! protobuf's C++ runtime links every `.proto` file of a program into it as a
//! serialized `FileDescriptorProto`. [`scan_binary`] finds them: each starts with
//! field 1 (the file name, ending in `.proto`), and runs as long as the bytes read as
//! fields that a `FileDescriptorProto` has, with their wire types. The set of all of
//! them is closed under imports and keeps every option (validate rules, deprecation
//! and status annotations), which is what makes it the schema of that Envoy version.
//!
//! The `xtask` crate runs the scan on each pinned build and writes the compressed sets
//! under `compiler/descriptors/`; the compiler embeds them, so checking needs neither
//! network nor an Envoy binary. Everything here is pure: bytes in, data out.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};

/// The wire type each field number of `FileDescriptorProto` has (2: length-delimited,
/// 0: varint): name, package, dependency, message_type, enum_type, service, extension,
/// options, source_code_info, public_dependency, weak_dependency, syntax, edition.
fn file_descriptor_field(number: u64) -> Option<u8> {
    match number {
        1..=9 | 12 => Some(2),
        10 | 11 | 14 => Some(0),
        _ => None,
    }
}

fn read_varint(bytes: &[u8], mut at: usize) -> Option<(u64, usize)> {
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

/// The length of the serialized `FileDescriptorProto` starting at `start`: fields are
/// read until one cannot belong to it.
///
/// Descriptors of different files can lie back to back, so a second `name` field
/// (which a file has once) starts the next one.
fn descriptor_length(bytes: &[u8], start: usize) -> usize {
    let mut at = start;
    while let Some((tag, after_tag)) = read_varint(bytes, at) {
        let (number, wire_type) = (tag >> 3, (tag & 7) as u8);
        if tag == 0 || file_descriptor_field(number) != Some(wire_type) || (number == 1 && at != start) {
            break;
        }
        let Some((value, after_value)) = read_varint(bytes, after_tag) else { break };
        let next = if wire_type == 2 { after_value + value as usize } else { after_value };
        if next > bytes.len() {
            break;
        }
        at = next;
    }
    at - start
}

/// The name a serialized file descriptor starts with, if `at` starts one: field 1
/// (`0x0a`), a length, and a path ending in `.proto`.
fn descriptor_name(bytes: &[u8], at: usize) -> Option<&str> {
    if bytes.get(at) != Some(&0x0a) {
        return None;
    }
    let (length, start) = read_varint(bytes, at + 1)?;
    let length = length as usize;
    if !(7..=300).contains(&length) {
        return None;
    }
    let name = std::str::from_utf8(bytes.get(start..start + length)?).ok()?;
    let plausible = name.ends_with(".proto")
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'.' | b'-'));
    plausible.then_some(name)
}

/// Every serialized `FileDescriptorProto` in a binary, by file name. Where a name
/// occurs more than once (the name string can also stand elsewhere), the longest
/// well-formed run is the descriptor.
pub fn scan_binary(binary: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut found: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut at = 0;
    while let Some(offset) = binary[at..].iter().position(|b| *b == 0x0a) {
        let start = at + offset;
        at = start + 1;
        let Some(name) = descriptor_name(binary, start) else { continue };
        let length = descriptor_length(binary, start);
        let bytes = &binary[start..start + length];
        if found.get(name).is_none_or(|previous| previous.len() < bytes.len()) {
            found.insert(name.to_string(), bytes.to_vec());
        }
    }
    found
}

/// A `FileDescriptorSet` holding the files as they were found (no re-encoding), in
/// name order, so the same binary always gives the same bytes.
pub fn descriptor_set(files: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    for bytes in files.values() {
        out.push(0x0a);
        let mut length = bytes.len() as u64;
        loop {
            let byte = (length & 0x7f) as u8;
            length >>= 7;
            if length == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
        out.extend_from_slice(bytes);
    }
    out
}

/// Compresses a descriptor set for the repository (raw deflate: no timestamps, so
/// the bytes depend only on the input).
pub fn compress(set: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(set).expect("writing to memory succeeds");
    encoder.finish().expect("writing to memory succeeds")
}

pub fn decompress(compressed: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(compressed).read_to_end(&mut out)?;
    Ok(out)
}

/// The descriptor sets embedded in the compiler, one per pinned Envoy build.
static EMBEDDED: &[(&str, &[u8])] = &[
    ("1.36.4", include_bytes!("../../descriptors/envoy-1.36.4.binpb.deflate")),
    ("1.37.0", include_bytes!("../../descriptors/envoy-1.37.0.binpb.deflate")),
    ("1.38.2", include_bytes!("../../descriptors/envoy-1.38.2.binpb.deflate")),
    ("1.39.3", include_bytes!("../../descriptors/envoy-1.39.3.binpb.deflate")),
    ("1.40.0", include_bytes!("../../descriptors/envoy-1.40.0.binpb.deflate")),
];

/// The compressed descriptor set of an Envoy build (`1.38.2`), as committed.
pub fn embedded(version: &str) -> Option<&'static [u8]> {
    EMBEDDED.iter().find(|(v, _)| *v == version).map(|(_, bytes)| *bytes)
}

/// The linked schema of an Envoy build, from the embedded descriptor set.
pub fn load(version: &str) -> Result<prost_reflect::DescriptorPool, String> {
    let compressed = embedded(version).ok_or_else(|| format!("no descriptor set is embedded for Envoy {version}"))?;
    let set = decompress(compressed)
        .map_err(|e| format!("the embedded descriptor set of Envoy {version} is damaged: {e}"))?;
    link(&set)
}

/// Links a descriptor set; an error names what is missing or inconsistent.
pub fn link(set: &[u8]) -> Result<prost_reflect::DescriptorPool, String> {
    prost_reflect::DescriptorPool::decode(set).map_err(|e| e.to_string())
}

/// The files of a descriptor set, found by a shallow read of its bytes: their names,
/// their imports, and the full names of the messages, enums and extensions each
/// declares. Linking a whole Envoy schema takes tens of milliseconds, most of it spent
/// on files a given configuration never reaches; the catalog lets a pool be built
/// from only the files a lookup needs, with their imports.
pub struct Catalog {
    set: Vec<u8>,
    files: Vec<CatalogFile>,
    messages: HashMap<String, usize>,
    /// The messages' names in the order a pool linked from the whole set lists them.
    message_order: Vec<String>,
    extensions: HashMap<String, usize>,
}

struct CatalogFile {
    /// The whole entry in the set, tag and length included.
    entry: std::ops::Range<usize>,
    dependencies: Vec<usize>,
    declares_extensions: bool,
}

/// The fields of one protobuf message, as (number, wire type, payload): the bytes of
/// a length-delimited field, or nothing for the others. `None` marks bytes that are
/// not a well-formed message.
fn wire_fields(bytes: &[u8]) -> impl Iterator<Item = Option<(u64, &[u8])>> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= bytes.len() {
            return None;
        }
        let field = (|| {
            let (tag, after_tag) = read_varint(bytes, at)?;
            let (number, payload, next) = match tag & 7 {
                0 => (tag >> 3, &bytes[0..0], read_varint(bytes, after_tag)?.1),
                1 => (tag >> 3, &bytes[0..0], after_tag + 8),
                2 => {
                    let (length, start) = read_varint(bytes, after_tag)?;
                    let end = start.checked_add(usize::try_from(length).ok()?)?;
                    (tag >> 3, bytes.get(start..end)?, end)
                }
                5 => (tag >> 3, &bytes[0..0], after_tag + 4),
                _ => return None,
            };
            (next <= bytes.len()).then_some((number, payload, next))
        })();
        match field {
            Some((number, payload, next)) => {
                at = next;
                Some(Some((number, payload)))
            }
            None => {
                at = bytes.len();
                Some(None)
            }
        }
    })
}

fn text(bytes: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(bytes).map_err(|e| format!("a name in the descriptor set is not UTF-8: {e}"))
}

impl Catalog {
    /// Reads the files of a `FileDescriptorSet`; an error says what is malformed.
    pub fn new(set: Vec<u8>) -> Result<Catalog, String> {
        let malformed = || "the descriptor set is malformed".to_string();
        let mut catalog = Catalog {
            set: Vec::new(),
            files: Vec::new(),
            messages: HashMap::new(),
            message_order: Vec::new(),
            extensions: HashMap::new(),
        };
        let mut names: HashMap<&str, usize> = HashMap::new();
        let mut imports: Vec<Vec<&str>> = Vec::new();
        let base = set.as_ptr() as usize;
        for field in wire_fields(&set) {
            let (number, file) = field.ok_or_else(malformed)?;
            if number != 1 {
                continue;
            }
            let index = catalog.files.len();
            let (mut name, mut package, mut dependencies) = ("", "", Vec::new());
            let mut declares_extensions = false;
            for field in wire_fields(file) {
                match field.ok_or_else(malformed)? {
                    (1, bytes) => name = text(bytes)?,
                    (2, bytes) => package = text(bytes)?,
                    (3, bytes) => dependencies.push(text(bytes)?),
                    (7, _) => declares_extensions = true,
                    _ => {}
                }
            }
            let scope = if package.is_empty() { String::new() } else { format!("{package}.") };
            for field in wire_fields(file) {
                match field.ok_or_else(malformed)? {
                    (4, message) => catalog.declare_message(&scope, message, index, &mut declares_extensions)?,
                    (5, enumeration) => {
                        catalog.declare(Kind::Enum, &scope, enumeration, index)?;
                    }
                    (7, extension) => {
                        catalog.declare(Kind::Extension, &scope, extension, index)?;
                    }
                    _ => {}
                }
            }
            // The entry's tag and length stand just before the file's bytes.
            let start = file.as_ptr() as usize - base;
            let header = 1 + varint_length(file.len() as u64);
            catalog.files.push(CatalogFile {
                entry: start - header..start + file.len(),
                dependencies: Vec::new(),
                declares_extensions,
            });
            names.insert(name, index);
            imports.push(dependencies);
        }
        for (file, imports) in catalog.files.iter_mut().zip(imports) {
            for import in imports {
                let index = names.get(import).ok_or_else(|| format!("the descriptor set lacks {import}"))?;
                file.dependencies.push(*index);
            }
        }
        drop(names);
        catalog.set = set;
        Ok(catalog)
    }

    /// Records a message and what it nests, under `scope` (`package.` or `package.Outer.`).
    fn declare_message(
        &mut self,
        scope: &str,
        message: &[u8],
        file: usize,
        declares_extensions: &mut bool,
    ) -> Result<(), String> {
        let malformed = || "the descriptor set is malformed".to_string();
        let name = self.declare(Kind::Message, scope, message, file)?;
        let inner = format!("{name}.");
        for field in wire_fields(message) {
            match field.ok_or_else(malformed)? {
                (3, nested) => self.declare_message(&inner, nested, file, declares_extensions)?,
                (4, enumeration) => {
                    self.declare(Kind::Enum, &inner, enumeration, file)?;
                }
                (6, extension) => {
                    *declares_extensions = true;
                    self.declare(Kind::Extension, &inner, extension, file)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Records one named declaration (its field 1 is its name) and returns its full name.
    fn declare(&mut self, kind: Kind, scope: &str, declaration: &[u8], file: usize) -> Result<String, String> {
        let mut name = "";
        for field in wire_fields(declaration) {
            if let Some((1, bytes)) = field {
                name = text(bytes)?;
            }
        }
        let full = format!("{scope}{name}");
        let names = match kind {
            Kind::Message => {
                self.message_order.push(full.clone());
                &mut self.messages
            }
            Kind::Enum => return Ok(full),
            Kind::Extension => &mut self.extensions,
        };
        names.insert(full.clone(), file);
        Ok(full)
    }

    /// The file that declares the message `name` (`envoy.config.bootstrap.v3.Bootstrap`).
    pub fn file_of_message(&self, name: &str) -> Option<usize> {
        self.messages.get(name).copied()
    }

    /// The full names of every message, in the order of a pool linked from the whole
    /// set (files in order, each message before those it nests).
    pub fn message_names(&self) -> impl Iterator<Item = &str> {
        self.message_order.iter().map(String::as_str)
    }

    pub fn file_of_extension(&self, name: &str) -> Option<usize> {
        self.extensions.get(name).copied()
    }

    /// The files that declare extensions (the option annotations: validation rules,
    /// deprecation, status). A pool must hold them all from the start, or options
    /// would be read without them.
    pub fn extension_files(&self) -> Vec<usize> {
        (0..self.files.len()).filter(|&i| self.files[i].declares_extensions).collect()
    }

    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    /// `files` and everything they import, transitively, leaving out those `loaded`
    /// marks; in the set's order.
    pub fn closure(&self, files: &[usize], loaded: &[bool]) -> Vec<usize> {
        let mut wanted = vec![false; self.files.len()];
        let mut stack: Vec<usize> = files.to_vec();
        while let Some(file) = stack.pop() {
            if wanted[file] || loaded.get(file).copied().unwrap_or(false) {
                continue;
            }
            wanted[file] = true;
            stack.extend(&self.files[file].dependencies);
        }
        (0..self.files.len()).filter(|&i| wanted[i]).collect()
    }

    /// A `FileDescriptorSet` of some of the files, as they stand in the set.
    pub fn subset(&self, files: &[usize]) -> Vec<u8> {
        let mut out = Vec::new();
        for &file in files {
            out.extend_from_slice(&self.set[self.files[file].entry.clone()]);
        }
        out
    }

    /// The whole set.
    pub fn set(&self) -> &[u8] {
        &self.set
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Message,
    Enum,
    Extension,
}

fn varint_length(mut value: u64) -> usize {
    let mut length = 1;
    while value >= 0x80 {
        value >>= 7;
        length += 1;
    }
    length
}

/// The catalog of an Envoy build's embedded descriptor set.
pub fn catalog(version: &str) -> Result<Catalog, String> {
    let compressed = embedded(version).ok_or_else(|| format!("no descriptor set is embedded for Envoy {version}"))?;
    let set = decompress(compressed)
        .map_err(|e| format!("the embedded descriptor set of Envoy {version} is damaged: {e}"))?;
    Catalog::new(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A FileDescriptorProto with a name, a package and a dependency, by hand.
    fn file(name: &str, package: &str, dependency: Option<&str>) -> Vec<u8> {
        let mut out = vec![0x0a, name.len() as u8];
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&[0x12, package.len() as u8]);
        out.extend_from_slice(package.as_bytes());
        if let Some(dependency) = dependency {
            out.extend_from_slice(&[0x1a, dependency.len() as u8]);
            out.extend_from_slice(dependency.as_bytes());
        }
        out.extend_from_slice(&[0x62, 6]);
        out.extend_from_slice(b"proto3");
        out
    }

    #[test]
    fn finds_descriptors_between_other_bytes_and_links_them() {
        let a = file("a/a.proto", "a", None);
        let b = file("b/b.proto", "b", Some("a/a.proto"));
        let mut binary = b"\x7fELF junk \x0a\x03abc more junk".to_vec();
        binary.extend_from_slice(&a);
        // Back to back, as the linker may place them.
        let c = file("c/c.proto", "c", None);
        binary.extend_from_slice(&c);
        binary.extend_from_slice(&[0, 0, 0, 0x0a, 0x09]);
        binary.extend_from_slice(b"a/a.proto"); // the name again, as a plain string
        binary.push(0);
        binary.extend_from_slice(&b);
        binary.extend_from_slice(b"\x00trailing");
        let files = scan_binary(&binary);
        assert_eq!(files.keys().collect::<Vec<_>>(), ["a/a.proto", "b/b.proto", "c/c.proto"]);
        assert_eq!(files["a/a.proto"], a);
        assert_eq!(files["c/c.proto"], c);
        assert_eq!(files["b/b.proto"], b);
        let set = descriptor_set(&files);
        assert_eq!(decompress(&compress(&set)).unwrap(), set);
        let pool = link(&set).expect("links");
        assert_eq!(pool.files().count(), 3);
    }

    #[test]
    fn every_pinned_build_has_a_linked_schema() {
        for build in crate::versions::ENVOY_BUILDS {
            let pool = load(build.version).unwrap_or_else(|e| panic!("{e}"));
            for message in [
                "envoy.config.bootstrap.v3.Bootstrap",
                "envoy.extensions.filters.http.lua.v3.Lua",
                "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                "validate.FieldRules",
            ] {
                assert!(pool.get_message_by_name(message).is_some(), "Envoy {} lacks {message}", build.version);
            }
        }
    }

    #[test]
    fn a_missing_import_does_not_link() {
        let files = BTreeMap::from([("b/b.proto".to_string(), file("b/b.proto", "b", Some("a/a.proto")))]);
        assert!(link(&descriptor_set(&files)).is_err());
    }
}
