//! A proxy-wasm host on wasmtime.
//!
//! - [`load`]: reads a plugin's local build from disk (a `.wasm` or `.wat` file, an OCI
//!   image layout directory or tarball), verifying every blob's digest.
//! - [`abi`]: checks that a module speaks a proxy-wasm ABI Envoy hosts, with the
//!   callbacks its plugin type needs (pure: bytes in, findings out).
//! - [`check_modules`]: both, for every `wasm_plugin` of an analysed package, as
//!   diagnostics (E1200 to E1209) at the declaration.
//! - [`runtime`]: runs a plugin sandboxed on wasmtime (fuel, memory limits, WASI stubs
//!   with a deterministic clock and no files), as Envoy drives an HTTP filter through
//!   one request, with the proxy-wasm ABI's host functions (feature `runtime`, on by
//!   default; the language server uses the checks without wasmtime).

pub mod abi;
mod check;
pub mod load;
#[cfg(feature = "runtime")]
pub mod runtime;

pub use check::{check_modules, local_module_path};
