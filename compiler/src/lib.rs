//! meshc: a compiler for the observability and extension layer of an Istio mesh.
//!
//! The crate is a pure core: it takes source texts (a [`source::SourceDb`]) and returns
//! what it could build plus diagnostics. It never reads files, prints, or exits; the
//! `meshc` binary (src/main.rs and src/cli/) and the language server do that.
//! See ARCHITECTURE.md for the pipeline and the invariants.

pub mod analysis;
pub mod check;
pub mod descriptors;
pub mod diagnostic;
pub mod envoy_config;
pub mod envoy_target;
pub mod fmt;
pub mod ide;
pub mod istio;
pub mod manifest;
pub mod stdlib;
pub mod versions;

pub mod source;
pub mod span;
pub mod syntax;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
