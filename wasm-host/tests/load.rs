//! Loading plugins from disk: the `.wat` fixtures of `tests/plugins/`, and OCI image
//! layouts (directories and tarballs) built here in temporary directories.

use flate2::Compression;
use flate2::write::GzEncoder;
use meshc_wasm_host::abi::{self, Finding, PluginKind};
use meshc_wasm_host::load::{self, LoadError, Variant, WASM_LAYER_MEDIA_TYPE, sha256_hex};
use std::io::Write;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/plugins").join(name)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("meshc-wasm-load-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn http_plugin() -> Vec<u8> {
    wat::parse_file(fixture("http_plugin.wat")).unwrap()
}

/// A ustar archive of `entries`, as `tar` writes one.
fn tar(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, data) in entries {
        let mut header = [0u8; 512];
        header[..name.len()].copy_from_slice(name.as_bytes());
        header[100..107].copy_from_slice(b"0000644");
        header[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
        header[136..147].copy_from_slice(b"00000000000");
        header[156] = b'0';
        header[257..263].copy_from_slice(b"ustar\0");
        header[263..265].copy_from_slice(b"00");
        header[148..156].copy_from_slice(b"        ");
        let sum: u32 = header.iter().map(|&b| b as u32).sum();
        header[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// An OCI image layout: `layers` (media type, contents) under one manifest, written
/// into `dir`. Returns the manifest's sha256.
fn write_layout(dir: &Path, layers: &[(&str, Vec<u8>)]) -> String {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let digest = sha256_hex(bytes);
        std::fs::write(blobs.join(&digest), bytes).unwrap();
        digest
    };
    let config = put(b"{}");
    let descriptors: Vec<String> = layers
        .iter()
        .map(|(media_type, bytes)| {
            format!(r#"{{"mediaType":"{media_type}","digest":"sha256:{}","size":{}}}"#, put(bytes), bytes.len())
        })
        .collect();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.module.wasm.config.v1+json","digest":"sha256:{config}","size":2}},"layers":[{}]}}"#,
        descriptors.join(",")
    );
    let manifest_digest = put(manifest.as_bytes());
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(
        dir.join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{manifest_digest}","size":{}}}]}}"#,
            manifest.len()
        ),
    )
    .unwrap();
    manifest_digest
}

/// The files of a layout directory, packed as `tar -C dir -cf - .` packs them.
fn pack(dir: &Path) -> Vec<u8> {
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    for name in ["oci-layout", "index.json"] {
        entries.push((format!("./{name}"), std::fs::read(dir.join(name)).unwrap()));
    }
    for entry in std::fs::read_dir(dir.join("blobs/sha256")).unwrap() {
        let path = entry.unwrap().path();
        let name = format!("./blobs/sha256/{}", path.file_name().unwrap().to_string_lossy());
        entries.push((name, std::fs::read(&path).unwrap()));
    }
    let borrowed: Vec<(&str, &[u8])> = entries.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    tar(&borrowed)
}

#[test]
fn wat_and_wasm_files_load_as_the_same_module() {
    let from_text = load::load(&fixture("http_plugin.wat")).unwrap();
    let dir = scratch("wasm");
    std::fs::write(dir.join("plugin.wasm"), &from_text.bytes).unwrap();
    let from_binary = load::load(&dir.join("plugin.wasm")).unwrap();
    assert_eq!(from_text, from_binary);
    assert_eq!(from_binary.module_sha256, sha256_hex(&http_plugin()));
    assert_eq!(from_binary.image, None);
    assert_eq!(abi::check(&from_binary.bytes, PluginKind::Http), vec![]);
}

#[test]
fn text_that_does_not_assemble_and_missing_files_are_errors() {
    assert!(matches!(load::load(&fixture("broken.wat")), Err(LoadError::Wat(_))));
    assert!(matches!(load::load(&fixture("missing.wasm")), Err(LoadError::Unreadable { .. })));
}

#[test]
fn the_fixtures_have_the_findings_they_are_named_for() {
    let findings = |name| abi::check(&load::load(&fixture(name)).unwrap().bytes, PluginKind::Http);
    assert_eq!(findings("abi_0_1_0.wat"), vec![Finding::UnsupportedAbi(vec!["0_1_0".into()])]);
    assert_eq!(findings("not_proxy_wasm.wat"), vec![Finding::NotProxyWasm]);
    assert_eq!(findings("no_memory.wat"), vec![Finding::NoMemory, Finding::NoAllocator]);
    assert!(matches!(findings("browser_build.wat").as_slice(), [Finding::ForeignImport { .. }]));
    assert_eq!(
        findings("no_callbacks.wat"),
        vec![
            Finding::MissingCallback { kind: PluginKind::Http, name: "proxy_on_context_create" },
            Finding::NoStreamCallback { kind: PluginKind::Http }
        ]
    );
}

#[test]
fn an_oci_variant_image_yields_its_wasm_layer_and_its_manifest_digest() {
    let dir = scratch("oci");
    let manifest = write_layout(
        &dir,
        &[(WASM_LAYER_MEDIA_TYPE, http_plugin()), ("application/vnd.module.wasm.runtime.v1+json", b"{}".to_vec())],
    );
    let loaded = load::load(&dir).unwrap();
    assert_eq!(loaded.bytes, http_plugin());
    let image = loaded.image.unwrap();
    assert_eq!(image.manifest_sha256, manifest);
    assert_eq!(image.variant, Variant::Oci);
    assert_ne!(image.manifest_sha256, loaded.module_sha256);
}

#[test]
fn a_compat_variant_image_yields_plugin_wasm_from_its_layer() {
    let dir = scratch("compat");
    let layer = gzip(&tar(&[("./README", b"hello"), ("./plugin.wasm", &http_plugin())]));
    write_layout(&dir, &[("application/vnd.oci.image.layer.v1.tar+gzip", layer)]);
    let loaded = load::load(&dir).unwrap();
    assert_eq!(loaded.bytes, http_plugin());
    assert_eq!(loaded.image.unwrap().variant, Variant::Compat);
}

#[test]
fn a_tarball_of_a_layout_loads_as_the_directory_does() {
    let dir = scratch("tarball");
    let layout = dir.join("layout");
    write_layout(&layout, &[(WASM_LAYER_MEDIA_TYPE, http_plugin()), ("application/octet-stream", Vec::new())]);
    std::fs::write(dir.join("image.tar"), pack(&layout)).unwrap();
    assert_eq!(load::load(&dir.join("image.tar")).unwrap(), load::load(&layout).unwrap());
}

#[test]
fn a_blob_that_is_not_what_its_digest_says_is_refused() {
    let dir = scratch("damaged");
    write_layout(&dir, &[(WASM_LAYER_MEDIA_TYPE, http_plugin()), ("application/octet-stream", Vec::new())]);
    let layer = dir.join("blobs/sha256").join(sha256_hex(&http_plugin()));
    let mut damaged = http_plugin();
    damaged.push(0);
    std::fs::write(&layer, &damaged).unwrap();
    match load::load(&dir) {
        Err(LoadError::BlobDigest { digest, actual }) => {
            assert_eq!(digest, format!("sha256:{}", sha256_hex(&http_plugin())));
            assert_eq!(actual, sha256_hex(&damaged));
        }
        other => panic!("expected a digest mismatch, got {other:?}"),
    }
}

#[test]
fn a_missing_layer_and_an_image_without_wasm_are_layout_errors() {
    let dir = scratch("missing-layer");
    write_layout(&dir, &[(WASM_LAYER_MEDIA_TYPE, http_plugin()), ("application/octet-stream", Vec::new())]);
    std::fs::remove_file(dir.join("blobs/sha256").join(sha256_hex(&http_plugin()))).unwrap();
    match load::load(&dir) {
        Err(LoadError::Layout(problem)) => assert!(problem.contains("is missing"), "{problem}"),
        other => panic!("expected a layout error, got {other:?}"),
    }
    let dir = scratch("no-wasm");
    write_layout(&dir, &[("application/vnd.oci.image.layer.v1.tar+gzip", gzip(&tar(&[("./other.wasm", b"x")])))]);
    match load::load(&dir) {
        Err(LoadError::Layout(problem)) => assert!(problem.contains("holds no `plugin.wasm`"), "{problem}"),
        other => panic!("expected a layout error, got {other:?}"),
    }
    let dir = scratch("not-a-layout");
    std::fs::write(dir.join("index.json"), "{}").unwrap();
    assert_eq!(load::load(&dir), Err(LoadError::Layout("there is no `oci-layout` file".into())));
}
