//! The meshc language server.
//!
//! It will be a thin adapter that turns LSP requests into calls on the compiler's
//! `analysis` API and the answers back into LSP types. Until its own issue lands it
//! only proves that the compiler's API can be used from outside the CLI.

/// The versions of the compiler this server was built against, for `initialize`.
pub fn server_version() -> &'static str {
    meshc::VERSION
}
