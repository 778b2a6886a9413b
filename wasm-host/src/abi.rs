//! The proxy-wasm ABI check: whether a Wasm module is one that Envoy can host as a
//! plugin of a given type. Pure: bytes in, findings out; it reads the module's imports
//! and exports with wasmparser and never instantiates it.

use wasmparser::{ExternalKind, Parser, Payload, TypeRef, Validator};

/// Where Envoy runs a plugin, from the WasmPlugin's `type` (HTTP when unspecified, as
/// istiod defaults it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PluginKind {
    Http,
    Network,
}

impl PluginKind {
    /// The kind of a WasmPlugin `type` as the model holds it (`HTTP`, `NETWORK`,
    /// `UNSPECIFIED_PLUGIN_TYPE`, or none).
    pub fn of_type(type_: Option<&str>) -> PluginKind {
        match type_ {
            Some("NETWORK") => PluginKind::Network,
            _ => PluginKind::Http,
        }
    }

    /// The stream callbacks of this kind of plugin; a module needs at least one.
    pub fn stream_callbacks(self) -> &'static [&'static str] {
        match self {
            PluginKind::Http => HTTP_CALLBACKS,
            PluginKind::Network => NETWORK_CALLBACKS,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            PluginKind::Http => "HTTP",
            PluginKind::Network => "network",
        }
    }
}

const HTTP_CALLBACKS: &[&str] = &[
    "proxy_on_request_headers",
    "proxy_on_request_body",
    "proxy_on_request_trailers",
    "proxy_on_response_headers",
    "proxy_on_response_body",
    "proxy_on_response_trailers",
];
const NETWORK_CALLBACKS: &[&str] = &["proxy_on_new_connection", "proxy_on_downstream_data", "proxy_on_upstream_data"];

/// The ABI versions the Envoy of supported Istio releases hosts (proxy-wasm-cpp-host
/// dropped 0.1.0).
pub const SUPPORTED_ABI_VERSIONS: &[&str] = &["0_2_0", "0_2_1"];
const ABI_EXPORT_PREFIX: &str = "proxy_abi_version_";

/// The import modules a proxy-wasm host provides: the ABI's `env` and WASI, under both
/// of its names.
const WASI_MODULES: &[&str] = &["wasi_snapshot_preview1", "wasi_unstable"];

/// What keeps a module from running as a plugin, one finding per mistake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    /// Not valid WebAssembly; the validator's message.
    Invalid(String),
    /// No `proxy_abi_version_*` export.
    NotProxyWasm,
    /// Only unsupported ABI versions, as written after `proxy_abi_version_` (`0_1_0`).
    UnsupportedAbi(Vec<String>),
    /// No exported linear memory named `memory`.
    NoMemory,
    /// Neither `proxy_on_memory_allocate` nor `malloc` is exported.
    NoAllocator,
    /// A required callback is not exported (`proxy_on_context_create`).
    MissingCallback { kind: PluginKind, name: &'static str },
    /// None of the stream callbacks of the plugin's kind is exported.
    NoStreamCallback { kind: PluginKind },
    /// An import no proxy-wasm host provides.
    ForeignImport { module: String, name: String, what: &'static str },
}

/// Checks `bytes` as a proxy-wasm plugin of `kind`. An invalid module or one that is
/// not proxy-wasm at all gets that one finding; otherwise every problem is listed.
pub fn check(bytes: &[u8], kind: PluginKind) -> Vec<Finding> {
    if let Err(error) = Validator::new().validate_all(bytes) {
        return vec![Finding::Invalid(error.to_string())];
    }
    let Ok(surface) = Surface::read(bytes) else {
        // The validator accepted it, so the reader cannot fail; stay total anyway.
        return vec![Finding::Invalid("the module's sections cannot be read".to_string())];
    };
    let mut findings = Vec::new();
    for (module, name, ty) in &surface.imports {
        let function = matches!(ty, TypeRef::Func(_) | TypeRef::FuncExact(_));
        let provided = function
            && ((module == "env" && (name.starts_with("proxy_") || name == "emscripten_notify_memory_growth"))
                || WASI_MODULES.contains(&module.as_str()));
        if !provided {
            let what = match ty {
                TypeRef::Func(_) | TypeRef::FuncExact(_) => "function",
                TypeRef::Table(_) => "table",
                TypeRef::Memory(_) => "memory",
                TypeRef::Global(_) => "global",
                TypeRef::Tag(_) => "tag",
            };
            findings.push(Finding::ForeignImport { module: module.clone(), name: name.clone(), what });
        }
    }
    let versions: Vec<String> =
        surface.functions.iter().filter_map(|name| name.strip_prefix(ABI_EXPORT_PREFIX)).map(str::to_string).collect();
    if versions.is_empty() {
        findings.insert(0, Finding::NotProxyWasm);
        return findings;
    }
    if !versions.iter().any(|v| SUPPORTED_ABI_VERSIONS.contains(&v.as_str())) {
        findings.insert(0, Finding::UnsupportedAbi(versions));
        return findings;
    }
    if !surface.memories.iter().any(|name| name == "memory") {
        findings.push(Finding::NoMemory);
    }
    if !surface.exports_function("proxy_on_memory_allocate") && !surface.exports_function("malloc") {
        findings.push(Finding::NoAllocator);
    }
    if !surface.exports_function("proxy_on_context_create") {
        findings.push(Finding::MissingCallback { kind, name: "proxy_on_context_create" });
    }
    if !kind.stream_callbacks().iter().any(|name| surface.exports_function(name)) {
        findings.push(Finding::NoStreamCallback { kind });
    }
    findings
}

/// A module's imports and exported names.
struct Surface {
    imports: Vec<(String, String, TypeRef)>,
    functions: Vec<String>,
    memories: Vec<String>,
}

impl Surface {
    fn read(bytes: &[u8]) -> Result<Surface, wasmparser::BinaryReaderError> {
        let mut surface = Surface { imports: Vec::new(), functions: Vec::new(), memories: Vec::new() };
        for payload in Parser::new(0).parse_all(bytes) {
            match payload? {
                Payload::ImportSection(reader) => {
                    for import in reader.into_imports() {
                        let import = import?;
                        surface.imports.push((import.module.to_string(), import.name.to_string(), import.ty));
                    }
                }
                Payload::ExportSection(reader) => {
                    for export in reader {
                        let export = export?;
                        match export.kind {
                            ExternalKind::Func | ExternalKind::FuncExact => {
                                surface.functions.push(export.name.to_string())
                            }
                            ExternalKind::Memory => surface.memories.push(export.name.to_string()),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(surface)
    }

    fn exports_function(&self, name: &str) -> bool {
        self.functions.iter().any(|f| f == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(body: &str) -> Vec<u8> {
        wat::parse_str(format!("(module {body})")).expect("the test module assembles")
    }

    const HTTP_PLUGIN: &str = r#"
        (import "env" "proxy_log" (func (param i32 i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
        (memory (export "memory") 1)
        (func (export "proxy_abi_version_0_2_1"))
        (func (export "proxy_on_memory_allocate") (param i32) (result i32) i32.const 0)
        (func (export "proxy_on_context_create") (param i32 i32))
        (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) i32.const 0)
    "#;

    #[test]
    fn a_complete_http_plugin_has_no_finding() {
        assert_eq!(check(&module(HTTP_PLUGIN), PluginKind::Http), vec![]);
    }

    #[test]
    fn an_http_plugin_is_not_a_network_plugin() {
        assert_eq!(
            check(&module(HTTP_PLUGIN), PluginKind::Network),
            vec![Finding::NoStreamCallback { kind: PluginKind::Network }]
        );
    }

    #[test]
    fn invalid_bytes_are_one_finding() {
        let findings = check(b"\0asm\x01\0\0\0\x99", PluginKind::Http);
        assert!(matches!(findings.as_slice(), [Finding::Invalid(_)]), "{findings:?}");
        assert!(matches!(check(b"hello", PluginKind::Http).as_slice(), [Finding::Invalid(_)]));
    }

    #[test]
    fn a_module_without_an_abi_version_is_not_proxy_wasm() {
        let findings = check(&module(r#"(memory (export "memory") 1) (func (export "malloc"))"#), PluginKind::Http);
        assert_eq!(findings, vec![Finding::NotProxyWasm]);
    }

    #[test]
    fn abi_0_1_0_is_unsupported() {
        let findings = check(&module(r#"(func (export "proxy_abi_version_0_1_0"))"#), PluginKind::Http);
        assert_eq!(findings, vec![Finding::UnsupportedAbi(vec!["0_1_0".to_string()])]);
        // A module that speaks both is hosted with the supported one.
        let both = HTTP_PLUGIN.to_string() + r#"(func (export "proxy_abi_version_0_1_0"))"#;
        assert_eq!(check(&module(&both), PluginKind::Http), vec![]);
    }

    #[test]
    fn memory_allocator_and_callbacks_are_each_reported() {
        let findings = check(&module(r#"(memory 1) (func (export "proxy_abi_version_0_2_0"))"#), PluginKind::Http);
        assert_eq!(
            findings,
            vec![
                Finding::NoMemory,
                Finding::NoAllocator,
                Finding::MissingCallback { kind: PluginKind::Http, name: "proxy_on_context_create" },
                Finding::NoStreamCallback { kind: PluginKind::Http },
            ]
        );
    }

    #[test]
    fn malloc_is_an_allocator() {
        let with_malloc = HTTP_PLUGIN.replace("proxy_on_memory_allocate", "malloc");
        assert_eq!(check(&module(&with_malloc), PluginKind::Http), vec![]);
    }

    #[test]
    fn imports_outside_env_and_wasi_are_foreign() {
        let foreign = r#"(import "wbg" "__wbindgen_throw" (func (param i32 i32)))
                 (import "env" "table" (table 1 funcref))"#
            .to_string()
            + HTTP_PLUGIN;
        assert_eq!(
            check(&module(&foreign), PluginKind::Http),
            vec![
                Finding::ForeignImport { module: "wbg".into(), name: "__wbindgen_throw".into(), what: "function" },
                Finding::ForeignImport { module: "env".into(), name: "table".into(), what: "table" },
            ]
        );
    }

    #[test]
    fn a_network_plugin_needs_a_connection_callback() {
        let network = HTTP_PLUGIN.replace("proxy_on_request_headers", "proxy_on_downstream_data");
        assert_eq!(check(&module(&network), PluginKind::Network), vec![]);
        assert_eq!(
            check(&module(&network), PluginKind::Http),
            vec![Finding::NoStreamCallback { kind: PluginKind::Http }]
        );
    }

    #[test]
    fn the_plugin_kind_follows_the_declared_type() {
        assert_eq!(PluginKind::of_type(Some("NETWORK")), PluginKind::Network);
        assert_eq!(PluginKind::of_type(Some("HTTP")), PluginKind::Http);
        assert_eq!(PluginKind::of_type(Some("UNSPECIFIED_PLUGIN_TYPE")), PluginKind::Http);
        assert_eq!(PluginKind::of_type(None), PluginKind::Http);
    }
}
