//! Envoy's schemas, recovered from the official Envoy binaries.
//!
//! protobuf's C++ runtime links every `.proto` file of a program into it as a
//! serialized `FileDescriptorProto`. [`scan_binary`] finds them: each starts with
//! field 1 (the file name, ending in `.proto`), and runs as long as the bytes read as
//! fields that a `FileDescriptorProto` has, with their wire types. The set of all of
//! them is closed under imports and keeps every option (validate rules, deprecation
//! and status annotations), which is what makes it the schema of that Envoy version.
//!
//! The `xtask` crate runs the scan on each pinned build and writes the sets under
//! `compiler/descriptors/`; the compiler embeds them, so checking needs neither
//! network nor an Envoy binary. Everything here is pure: bytes in, data out.

use super::proto::read_varint;
use std::collections::BTreeMap;

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

/// The descriptor sets embedded in the compiler, one per pinned Envoy build.
/// They are stored uncompressed: the checker reads them in place
/// ([`super::proto::ProtoSet`]), and inflating one would take longer than a check.
static EMBEDDED: &[(&str, &[u8])] = &[
    ("1.36.4", include_bytes!("../../descriptors/envoy-1.36.4.binpb")),
    ("1.37.0", include_bytes!("../../descriptors/envoy-1.37.0.binpb")),
    ("1.38.2", include_bytes!("../../descriptors/envoy-1.38.2.binpb")),
    ("1.39.3", include_bytes!("../../descriptors/envoy-1.39.3.binpb")),
    ("1.40.0", include_bytes!("../../descriptors/envoy-1.40.0.binpb")),
];

/// The descriptor set of an Envoy build (`1.38.2`), as committed.
pub fn embedded(version: &str) -> Option<&'static [u8]> {
    EMBEDDED.iter().find(|(v, _)| *v == version).map(|(_, bytes)| *bytes)
}

/// The Envoy builds whose descriptor sets are embedded.
pub fn versions() -> impl Iterator<Item = &'static str> {
    EMBEDDED.iter().map(|(version, _)| *version)
}

/// The linked schema of an Envoy build, from the embedded descriptor set.
pub fn load(version: &str) -> Result<prost_reflect::DescriptorPool, String> {
    let set = embedded(version).ok_or_else(|| format!("no descriptor set is embedded for Envoy {version}"))?;
    link(set)
}

/// Links a descriptor set; an error names what is missing or inconsistent.
pub fn link(set: &[u8]) -> Result<prost_reflect::DescriptorPool, String> {
    prost_reflect::DescriptorPool::decode(set).map_err(|e| e.to_string())
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
