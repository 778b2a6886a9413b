//! A proxy-wasm host on wasmtime.

pub mod runtime;
