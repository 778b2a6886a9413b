//! The checks of the package's plugin modules, as diagnostics at their `wasm_plugin`
//! declarations: what `meshc check`, `meshc build` and the language server add to the
//! analysis. They need no wasmtime, so the language server uses them without the
//! crate's `runtime` feature.

use crate::abi::{self, Finding, PluginKind};
use crate::load::{self, LoadError, LoadedModule};
use meshc_compiler::diagnostic::{Diagnostic, codes};
use meshc_compiler::driver::Analysis;
use meshc_compiler::model::Generated;
use meshc_compiler::model::istio::{Resource, WasmPlugin};
use meshc_compiler::span::Span;
use std::path::Path;

/// Loads, verifies and ABI-checks the local build of every `wasm_plugin` of the
/// package: its `module "PATH"`, or else the path of its `file://` url, relative to
/// `package_root`. Plugins with neither (a remote url) are not checked: meshc never
/// downloads a module.
pub fn check_modules(analysis: &Analysis, package_root: &Path) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    for generated in &analysis.lowered.resources {
        if let Resource::WasmPlugin(plugin) = &generated.resource {
            check_plugin(generated, plugin, package_root, &mut diagnostics);
        }
    }
    diagnostics
}

/// The local build of a plugin, relative to the package: its `module "PATH"`, or else the
/// path of its `file://` url; `None` for a remote url without a `module`.
pub fn local_module_path(plugin: &WasmPlugin) -> Option<&str> {
    plugin.module.as_deref().or_else(|| plugin.spec.url.strip_prefix("file://"))
}

fn check_plugin(generated: &Generated, plugin: &WasmPlugin, root: &Path, out: &mut Vec<Diagnostic>) {
    let Some(path) = local_module_path(plugin) else { return };
    let at = if plugin.module.is_some() { generated.span_of("module") } else { generated.span_of("spec.url") };
    let loaded = match load::load(&root.join(path)) {
        Ok(loaded) => loaded,
        Err(error) => {
            out.push(load_error(error, path, at));
            return;
        }
    };
    check_digests(generated, plugin, &loaded, path, at, out);
    let kind = PluginKind::of_type(plugin.spec.type_.as_deref());
    for finding in abi::check(&loaded.bytes, kind) {
        out.push(finding_diagnostic(finding, path, at));
    }
}

fn load_error(error: LoadError, path: &str, at: Span) -> Diagnostic {
    match error {
        LoadError::Unreadable { reason, .. } => {
            Diagnostic::new(codes::PLUGIN_MODULE_UNREADABLE, at, format!("the plugin module `{path}` cannot be read: {reason}"))
                .with_label_message("no module here")
                .with_help("the path is relative to the package directory; build the plugin, or point `module \"PATH\"` at its build")
        }
        LoadError::Wat(error) => Diagnostic::new(
            codes::PLUGIN_MODULE_INVALID,
            at,
            format!("the WebAssembly text `{path}` does not assemble"),
        )
        .with_label_message("not WebAssembly")
        .with_note(error),
        LoadError::Layout(problem) => {
            Diagnostic::new(codes::PLUGIN_OCI_LAYOUT, at, format!("the OCI image `{path}` holds no usable Wasm module"))
                .with_label_message("OCI image layout")
                .with_note(problem)
                .with_help("push the plugin as Istio's Wasm image spec says: one layer of media type `application/vnd.module.wasm.content.layer.v1+wasm`, or a tar+gzip layer holding `plugin.wasm`")
        }
        LoadError::BlobDigest { digest, actual } => Diagnostic::new(
            codes::PLUGIN_BLOB_DIGEST,
            at,
            format!("a blob of the OCI image `{path}` does not match its digest"),
        )
        .with_label_message("damaged image")
        .with_note(format!("stored as {digest}, its contents have the digest sha256:{actual}"))
        .with_help("rebuild the image; a registry refuses it and a pull fails"),
    }
}

/// The declared digests (`sha256` and the url's `@sha256:`) against the one the Istio
/// agent compares. Which one that is, from istio/istio `pkg/wasm/cache.go`
/// (`LocalFileCache.Get`) and `pkg/wasm/imagefetcher.go` (`PrepareFetch`): for an
/// http(s) url, the sha256 of the downloaded module's bytes; for an `oci://` url, the
/// digest of the image *manifest* (`img.Digest()`), not that of the module inside it.
/// A local build that is a bare module cannot be compared with an `oci://` pin, and is
/// not.
fn check_digests(
    generated: &Generated,
    plugin: &WasmPlugin,
    loaded: &LoadedModule,
    path: &str,
    at: Span,
    out: &mut Vec<Diagnostic>,
) {
    let url = plugin.spec.url.as_str();
    let image = url.starts_with("oci://");
    let (actual, what) = match (&loaded.image, image) {
        (Some(image), true) => (image.manifest_sha256.as_str(), "the image manifest"),
        (None, true) => return,
        (_, false) => (loaded.module_sha256.as_str(), "the module"),
    };
    let mut declared: Vec<(String, Span)> = Vec::new();
    if let Some(sha) = &plugin.spec.sha256 {
        declared.push((sha.clone(), generated.span_of("spec.sha256")));
    }
    if let Some((_, digest)) = url.rsplit_once("@sha256:") {
        declared.push((digest.to_ascii_lowercase(), generated.span_of("spec.url")));
    }
    for (digest, span) in declared {
        if digest == actual {
            continue;
        }
        out.push(
            Diagnostic::new(
                codes::PLUGIN_SHA256_MISMATCH,
                span,
                format!("the declared sha256 is not the digest of {what} `{path}`"),
            )
            .with_label_message(format!("declared {digest}"))
            .with_secondary(at, format!("{what} has sha256 {actual}"))
            .with_note(if image {
                "for an oci:// image, the Istio agent compares the digest of the image manifest"
            } else {
                "the Istio agent compares the sha256 of the module's bytes"
            })
            .with_help(format!("if this build is the one published, pin it with `sha256 \"{actual}\"`")),
        );
    }
}

fn finding_diagnostic(finding: Finding, path: &str, at: Span) -> Diagnostic {
    match finding {
        Finding::Invalid(error) => Diagnostic::new(
            codes::PLUGIN_MODULE_INVALID,
            at,
            format!("the plugin module `{path}` is not valid WebAssembly"),
        )
        .with_label_message("not WebAssembly")
        .with_note(error)
        .with_help("Envoy refuses a module that does not validate; rebuild the plugin"),
        Finding::NotProxyWasm => Diagnostic::new(
            codes::PLUGIN_NOT_PROXY_WASM,
            at,
            format!("the plugin module `{path}` is not a proxy-wasm module"),
        )
        .with_label_message("exports no `proxy_abi_version_*`")
        .with_help("build the plugin with a proxy-wasm SDK, which exports `proxy_abi_version_0_2_1`"),
        Finding::UnsupportedAbi(versions) => {
            let versions: Vec<String> = versions.iter().map(|v| v.replace('_', ".")).collect();
            Diagnostic::new(
                codes::PLUGIN_UNSUPPORTED_ABI,
                at,
                format!(
                    "the plugin module `{path}` speaks proxy-wasm ABI {}, which Envoy no longer hosts",
                    versions.join(", ")
                ),
            )
            .with_label_message("unsupported ABI version")
            .with_help("rebuild the plugin with a current proxy-wasm SDK (ABI 0.2.0 or 0.2.1)")
        }
        Finding::NoMemory => Diagnostic::new(
            codes::PLUGIN_MISSING_EXPORT,
            at,
            format!("the plugin module `{path}` does not export its memory as `memory`"),
        )
        .with_label_message("no exported memory")
        .with_help("export the linear memory: `(memory (export \"memory\") 1)`"),
        Finding::NoAllocator => Diagnostic::new(
            codes::PLUGIN_MISSING_EXPORT,
            at,
            format!("the plugin module `{path}` exports neither `proxy_on_memory_allocate` nor `malloc`"),
        )
        .with_label_message("no allocator")
        .with_help("Envoy allocates in the plugin's memory through `proxy_on_memory_allocate`; the SDKs export it"),
        Finding::MissingCallback { kind, name } => Diagnostic::new(
            codes::PLUGIN_MISSING_CALLBACK,
            at,
            format!("the plugin module `{path}` does not export `{name}`, which every {} plugin needs", kind.name()),
        )
        .with_label_message(format!("no `{name}`"))
        .with_help("Envoy creates the plugin's root and stream contexts through it"),
        Finding::NoStreamCallback { kind } => Diagnostic::new(
            codes::PLUGIN_MISSING_CALLBACK,
            at,
            format!("the plugin module `{path}` exports none of the callbacks of a {} plugin", kind.name()),
        )
        .with_label_message(format!("not a {} plugin", kind.name()))
        .with_note(format!("a {} plugin exports at least one of {}", kind.name(), kind.stream_callbacks().join(", ")))
        .with_help(match kind {
            PluginKind::Http => "if it filters connections, declare `type network`",
            PluginKind::Network => "if it filters HTTP requests, declare `type http`",
        }),
        Finding::ForeignImport { module, name, what } => Diagnostic::new(
            codes::PLUGIN_FOREIGN_IMPORT,
            at,
            format!(
                "the plugin module `{path}` imports the {what} `{module}.{name}`, which no proxy-wasm host provides"
            ),
        )
        .with_label_message("cannot be instantiated by Envoy")
        .with_help("a proxy provides the `proxy_*` functions of `env` and WASI; build without other host bindings"),
    }
}
