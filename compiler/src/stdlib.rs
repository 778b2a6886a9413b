//! The standard library: `.mesh` modules embedded in the compiler.
//!
//! They declare the vocabulary the checker uses (Istio's standard metrics and their
//! labels, the attributes of CEL expressions, the provider kinds of MeshConfig and the
//! well-known Envoy filter names), so that vocabulary is documented and reviewed as
//! meshc source rather than hidden in Rust tables.

/// `(path, text)` of every stdlib module; the path is how diagnostics and
/// `import std.NAME` refer to it.
pub(crate) static MODULES: &[(&str, &str)] = &[
    ("std/attributes.mesh", include_str!("../../stdlib/attributes.mesh")),
    ("std/metrics.mesh", include_str!("../../stdlib/metrics.mesh")),
    ("std/providers.mesh", include_str!("../../stdlib/providers.mesh")),
    ("std/filters.mesh", include_str!("../../stdlib/filters.mesh")),
    ("std/policy/recommended.mesh", include_str!("../../stdlib/policy/recommended.mesh")),
];

/// The module name (`std.filters`) of a stdlib path (`std/filters.mesh`).
pub(crate) fn module_name(path: &str) -> Option<String> {
    let stem = path.strip_prefix("std/")?.strip_suffix(".mesh")?;
    Some(format!("std.{}", stem.replace('/', ".")))
}
