//! meshc's host: everything that touches the file system for the compiler.
//!
//! It finds a package's root and reads its files into a [`SourceDb`], reads the
//! Wasm modules a package names, writes outputs atomically without ever removing a
//! file meshc did not generate, manages the cache of official Envoy builds, and runs
//! golden cases. The CLI, the language server, the tests and xtask all read packages
//! through this crate, so there is one file walker ([`walk`]) and one package-root
//! finder ([`package::package_root`]).

pub mod envoy;
mod error;
pub mod golden;
pub mod package;
pub mod walk;
pub mod write;

pub use error::HostError;
pub use meshc_compiler::source::SourceDb;
