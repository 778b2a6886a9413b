//! Loading a plugin's local build from disk: a `.wasm` file, a `.wat` file (assembled
//! here), an OCI image layout directory, or a `.tar` of one. Every blob of an image is
//! verified against its digest. No network, ever.
//!
//! The image is read as the Istio agent reads one it pulled (`pkg/wasm/imagefetcher.go`,
//! `PrepareFetch`): first as the *compat* variant, whose last layer is a tar (gzip)
//! holding `plugin.wasm`; then as the *oci* variant, two layers of which one has the
//! media type `application/vnd.module.wasm.content.layer.v1+wasm` and is the module.

use flate2::read::GzDecoder;
use serde_json::Value as Json;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The layer media type of the *oci* variant of Istio's Wasm image spec.
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/vnd.module.wasm.content.layer.v1+wasm";
/// The layer media types the agent accepts as the *compat* variant's last layer.
const COMPAT_LAYER_MEDIA_TYPES: &[&str] =
    &["application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.docker.image.rootfs.diff.tar.gzip"];
const INDEX_MEDIA_TYPES: &[&str] =
    &["application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"];

/// A module read from disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadedModule {
    /// The Wasm binary.
    pub bytes: Vec<u8>,
    /// The sha256 of `bytes`, in hexadecimal.
    pub module_sha256: String,
    /// When the module came out of an OCI image: the image's manifest.
    pub image: Option<Image>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// The sha256 of the image manifest, in hexadecimal: the image's digest, which the
    /// agent compares with the declared one.
    pub manifest_sha256: String,
    pub variant: Variant,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// A single image layer (tar, gzip) holding `plugin.wasm`.
    Compat,
    /// A layer of media type [`WASM_LAYER_MEDIA_TYPE`].
    Oci,
}

/// Why a module could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// The file or directory cannot be read.
    Unreadable { path: PathBuf, reason: String },
    /// WebAssembly text that does not assemble.
    Wat(String),
    /// The OCI image layout lacks what the agent looks for.
    Layout(String),
    /// A blob is not what its digest says.
    BlobDigest { digest: String, actual: String },
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Unreadable { path, reason } => write!(f, "cannot read {}: {reason}", path.display()),
            LoadError::Wat(error) => write!(f, "the WebAssembly text does not assemble: {error}"),
            LoadError::Layout(problem) => f.write_str(problem),
            LoadError::BlobDigest { digest, actual } => {
                write!(f, "the blob {digest} has the digest sha256:{actual}")
            }
        }
    }
}

/// Loads the module at `path`: a directory is an OCI image layout; a `.tar` (or any
/// ustar archive) one packed; a `.wat` is assembled; anything else is the module.
pub fn load(path: &Path) -> Result<LoadedModule, LoadError> {
    let unreadable =
        |error: std::io::Error| LoadError::Unreadable { path: path.to_path_buf(), reason: error.to_string() };
    if path.is_dir() {
        return read_image(&Directory(path.to_path_buf()));
    }
    let bytes = std::fs::read(path).map_err(unreadable)?;
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if extension == "tar" || is_tar(&bytes) {
        return read_image(&read_tar(&bytes)?);
    }
    let bytes = if extension == "wat" {
        wat::parse_bytes(&bytes).map_err(|error| LoadError::Wat(error.to_string()))?.into_owned()
    } else {
        bytes
    };
    Ok(module(bytes, None))
}

fn module(bytes: Vec<u8>, image: Option<Image>) -> LoadedModule {
    LoadedModule { module_sha256: sha256_hex(&bytes), bytes, image }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The files of an OCI image layout, by their path inside it.
trait Layout {
    fn file(&self, path: &str) -> Option<Vec<u8>>;
}

struct Directory(PathBuf);

impl Layout for Directory {
    fn file(&self, path: &str) -> Option<Vec<u8>> {
        std::fs::read(self.0.join(path)).ok()
    }
}

impl Layout for BTreeMap<String, Vec<u8>> {
    fn file(&self, path: &str) -> Option<Vec<u8>> {
        self.get(path).cloned()
    }
}

fn read_image(layout: &dyn Layout) -> Result<LoadedModule, LoadError> {
    let marker = layout.file("oci-layout").ok_or_else(|| layout_error("there is no `oci-layout` file"))?;
    let marker: Json =
        serde_json::from_slice(&marker).map_err(|e| layout_error(format!("`oci-layout` is not JSON: {e}")))?;
    if marker.get("imageLayoutVersion").and_then(Json::as_str).is_none() {
        return Err(layout_error("`oci-layout` has no `imageLayoutVersion`"));
    }
    let index = layout.file("index.json").ok_or_else(|| layout_error("there is no `index.json`"))?;
    let mut index: Json =
        serde_json::from_slice(&index).map_err(|e| layout_error(format!("`index.json` is not JSON: {e}")))?;
    // An index may name further indexes (a multi-platform image); the first manifest
    // reached is the image. Bounded, so that an index naming itself ends.
    for _ in 0..8 {
        let descriptor = index
            .get("manifests")
            .and_then(Json::as_array)
            .and_then(|m| m.first())
            .cloned()
            .ok_or_else(|| layout_error("the index names no manifest"))?;
        let digest = descriptor
            .get("digest")
            .and_then(Json::as_str)
            .ok_or_else(|| layout_error("a descriptor has no digest"))?;
        let bytes = blob(layout, digest)?;
        let document: Json = serde_json::from_slice(&bytes)
            .map_err(|e| layout_error(format!("the manifest {digest} is not JSON: {e}")))?;
        let media_type = document
            .get("mediaType")
            .or_else(|| descriptor.get("mediaType"))
            .and_then(Json::as_str)
            .unwrap_or_default();
        if INDEX_MEDIA_TYPES.contains(&media_type) || document.get("manifests").is_some() {
            index = document;
            continue;
        }
        return read_manifest(layout, &document, sha256_hex(&bytes));
    }
    Err(layout_error("the indexes nest too deeply"))
}

fn read_manifest(layout: &dyn Layout, manifest: &Json, manifest_sha256: String) -> Result<LoadedModule, LoadError> {
    let layers = manifest.get("layers").and_then(Json::as_array).cloned().unwrap_or_default();
    let layer_of = |descriptor: &Json| -> (String, String) {
        let text = |key| descriptor.get(key).and_then(Json::as_str).unwrap_or_default().to_string();
        (text("mediaType"), text("digest"))
    };
    let Some(last) = layers.last() else {
        return Err(layout_error("the image manifest has no layers"));
    };
    // The compat variant first, as the agent tries it first.
    let (media_type, digest) = layer_of(last);
    let compat = if COMPAT_LAYER_MEDIA_TYPES.contains(&media_type.as_str()) {
        let layer = blob(layout, &digest)?;
        plugin_wasm(&layer).map_err(|problem| format!("its last layer {problem}"))
    } else {
        Err(format!("its last layer has the media type `{media_type}`, not a tar+gzip layer"))
    };
    let compat_problem = match compat {
        Ok(bytes) => return Ok(module(bytes, Some(Image { manifest_sha256, variant: Variant::Compat }))),
        Err(problem) => problem,
    };
    let oci_problem = if layers.len() != 2 {
        format!("it has {} layers, not 2", layers.len())
    } else {
        match layers.iter().map(layer_of).find(|(media_type, _)| media_type == WASM_LAYER_MEDIA_TYPE) {
            Some((_, digest)) => {
                let bytes = blob(layout, &digest)?;
                return Ok(module(bytes, Some(Image { manifest_sha256, variant: Variant::Oci })));
            }
            None => format!("no layer has the media type `{WASM_LAYER_MEDIA_TYPE}`"),
        }
    };
    Err(layout_error(format!(
        "the image holds no Wasm module: as the compat variant, {compat_problem}; as the oci variant, {oci_problem}"
    )))
}

/// The blob of `digest`, verified.
fn blob(layout: &dyn Layout, digest: &str) -> Result<Vec<u8>, LoadError> {
    let hex = digest
        .strip_prefix("sha256:")
        .filter(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| layout_error(format!("`{digest}` is not a sha256 digest")))?;
    let bytes = layout
        .file(&format!("blobs/sha256/{hex}"))
        .ok_or_else(|| layout_error(format!("the blob {digest} is missing")))?;
    let actual = sha256_hex(&bytes);
    if actual != hex.to_ascii_lowercase() {
        return Err(LoadError::BlobDigest { digest: digest.to_string(), actual });
    }
    Ok(bytes)
}

/// `plugin.wasm` out of a compat layer: a tar, gzip-compressed (or not).
fn plugin_wasm(layer: &[u8]) -> Result<Vec<u8>, String> {
    let tar = if layer.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        GzDecoder::new(layer).read_to_end(&mut out).map_err(|e| format!("is not a valid gzip stream: {e}"))?;
        out
    } else {
        layer.to_vec()
    };
    let files = read_tar(&tar).map_err(|e| format!("is not a tar: {e}"))?;
    files
        .into_iter()
        .find(|(name, _)| name.rsplit('/').next() == Some("plugin.wasm"))
        .map(|(_, bytes)| bytes)
        .ok_or_else(|| "holds no `plugin.wasm`".to_string())
}

fn layout_error(problem: impl Into<String>) -> LoadError {
    LoadError::Layout(problem.into())
}

const BLOCK: usize = 512;

/// Whether `bytes` start with a ustar header.
fn is_tar(bytes: &[u8]) -> bool {
    bytes.len() >= BLOCK && &bytes[257..262] == b"ustar"
}

/// The regular files of a tar archive (ustar, with GNU long names and pax `path`
/// records), by their path without a leading `./`.
fn read_tar(bytes: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, LoadError> {
    let broken = |problem: &str| layout_error(format!("the tar archive is damaged: {problem}"));
    let mut files = BTreeMap::new();
    let mut offset = 0;
    let mut long_name: Option<String> = None;
    while offset + BLOCK <= bytes.len() {
        let header = &bytes[offset..offset + BLOCK];
        if header.iter().all(|&b| b == 0) {
            break;
        }
        let stored: u32 = octal(&header[148..156]).ok_or_else(|| broken("a header checksum is not a number"))? as u32;
        let sum: u32 =
            header.iter().enumerate().map(|(i, &b)| if (148..156).contains(&i) { 32 } else { b as u32 }).sum();
        if stored != sum {
            return Err(broken("a header checksum does not match"));
        }
        let size = octal(&header[124..136]).ok_or_else(|| broken("an entry size is not a number"))? as usize;
        let start = offset + BLOCK;
        let end =
            start.checked_add(size).filter(|&end| end <= bytes.len()).ok_or_else(|| broken("an entry is cut short"))?;
        let data = &bytes[start..end];
        let mut name = text(&header[0..100]);
        if &header[257..262] == b"ustar" {
            let prefix = text(&header[345..500]);
            if !prefix.is_empty() {
                name = format!("{prefix}/{name}");
            }
        }
        match header[156] {
            b'L' => long_name = Some(text(data)),
            b'x' => long_name = pax_path(data).or(long_name),
            b'0' | 0 => {
                let name = long_name.take().unwrap_or(name);
                files.insert(name.trim_start_matches("./").to_string(), data.to_vec());
            }
            _ => long_name = None,
        }
        offset = start + size.div_ceil(BLOCK) * BLOCK;
    }
    Ok(files)
}

fn text(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

fn octal(field: &[u8]) -> Option<u64> {
    let digits = text(field);
    let digits = digits.trim_matches(|c: char| c == ' ' || c == '\0');
    if digits.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(digits, 8).ok()
}

/// The `path` record of a pax extended header (`LEN path=VALUE\n`).
fn pax_path(data: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(data);
    text.lines().find_map(|line| line.split_once(' ')?.1.strip_prefix("path=").map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octal_fields_read_as_tar_writes_them() {
        assert_eq!(octal(b"00000001750\0"), Some(0o1750));
        assert_eq!(octal(b"  1750 \0"), Some(0o1750));
        assert_eq!(octal(b"\0\0\0"), Some(0));
        assert_eq!(octal(b"12x"), None);
    }

    #[test]
    fn pax_records_name_the_path() {
        assert_eq!(pax_path(b"30 mtime=1.0\n27 path=a/very/long/name\n"), Some("a/very/long/name".to_string()));
        assert_eq!(pax_path(b"30 mtime=1.0\n"), None);
    }
}
