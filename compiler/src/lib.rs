//! meshc's compiler: the pure core.
//!
//! It takes source texts (a [`source::SourceDb`]), the bytes of files a package
//! names (through [`driver::Assets`]) and the Envoy schemas embedded in it, and
//! returns what it could build plus diagnostics. It never reads files, prints,
//! reads the environment, starts processes or exits: the `meshc` binary, the host
//! crate and the language server do that. See ARCHITECTURE.md for the pipeline, the
//! layers and the invariants.

#![forbid(unsafe_code)]
// What other crates may use is `pub`; everything else says `pub(crate)`, so the
// core's interface stays visible at a glance.
#![warn(unreachable_pub)]

// The modules form layers (ARCHITECTURE.md lists them, and the workspace test
// `tests/architecture.rs` holds the code to that order): each uses only those below it.
pub mod cel_eval;
pub(crate) mod check;
pub mod crd;
pub mod diagnostic;
pub mod driver;
pub mod duration;
pub mod effective;
pub mod emit;
pub mod envoy;
pub mod envoy_target;
pub mod explain;
pub mod fmt;
pub mod ide;
pub mod import;
pub mod istio_release;
pub mod manifest;
pub mod model;
pub mod policy;
pub mod source;
pub mod span;
pub(crate) mod stdlib;
pub(crate) mod syntax;
pub mod versions;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
