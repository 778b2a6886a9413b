//! The extensions each pinned Envoy build registers: which factory takes which config
//! message, in which category (HTTP filter, network filter, access logger, tracer...).
//! The lists are read from the builds themselves (`cargo run -p xtask --
//! extract-extensions`) and embedded, like the descriptor sets.
//!
//! A typed config is only useful where a factory of the right category takes it:
//! Envoy rejects a network filter's config in an HTTP filter chain, and a message no
//! factory takes at all.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

/// The committed registries, by Envoy build.
static REGISTRIES: &[(&str, &str)] = &[
    ("1.36.4", include_str!("../../descriptors/envoy-1.36.4.extensions.txt")),
    ("1.37.0", include_str!("../../descriptors/envoy-1.37.0.extensions.txt")),
    ("1.38.2", include_str!("../../descriptors/envoy-1.38.2.extensions.txt")),
    ("1.39.3", include_str!("../../descriptors/envoy-1.39.3.extensions.txt")),
    ("1.40.0", include_str!("../../descriptors/envoy-1.40.0.extensions.txt")),
];

/// One build's registry.
pub struct Registry {
    /// Config message to the (category, extension name) pairs of the factories that take it.
    by_type: BTreeMap<String, Vec<(String, String)>>,
    /// Every (category, extension name) pair, with or without a config type.
    names: BTreeSet<(String, String)>,
}

impl Registry {
    fn parse(text: &str) -> Registry {
        let mut by_type: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        let mut names = BTreeSet::new();
        for line in text.lines() {
            let mut words = line.split(' ');
            let (Some(category), Some(name)) = (words.next(), words.next()) else { continue };
            names.insert((category.to_string(), name.to_string()));
            for type_name in words {
                by_type.entry(type_name.to_string()).or_default().push((category.to_string(), name.to_string()));
            }
        }
        Registry { by_type, names }
    }

    /// Whether the build registers an extension of `category` under `name`.
    pub fn has(&self, category: &str, name: &str) -> bool {
        self.names.contains(&(category.to_string(), name.to_string()))
    }

    /// The names the build registers in `category`.
    pub fn names_in<'r>(&'r self, category: &'r str) -> impl Iterator<Item = &'r str> + 'r {
        self.names.iter().filter(move |(c, _)| c == category).map(|(_, name)| name.as_str())
    }

    /// The categories in which some factory takes `type_name`.
    pub fn categories_of(&self, type_name: &str) -> BTreeSet<&str> {
        self.by_type.get(type_name).into_iter().flatten().map(|(category, _)| category.as_str()).collect()
    }

    /// The name of the extension of `category` that takes `type_name`, if one does.
    pub fn name_of(&self, category: &str, type_name: &str) -> Option<&str> {
        self.by_type.get(type_name)?.iter().find(|(c, _)| c == category).map(|(_, name)| name.as_str())
    }
}

/// The registry of an Envoy build (`1.38.2`), parsed once per process.
pub fn registry(version: &str) -> Option<&'static Registry> {
    static PARSED: OnceLock<Vec<(&'static str, Registry)>> = OnceLock::new();
    let parsed = PARSED.get_or_init(|| REGISTRIES.iter().map(|(v, text)| (*v, Registry::parse(text))).collect());
    parsed.iter().find(|(v, _)| *v == version).map(|(_, registry)| registry)
}

/// The committed registry text of a build, for the test that extracts it again.
pub fn embedded_registry(version: &str) -> Option<&'static str> {
    REGISTRIES.iter().find(|(v, _)| *v == version).map(|(_, text)| *text)
}

/// A category as people call it, for messages.
pub fn describe_category(category: &str) -> &str {
    match category {
        "envoy.filters.http" => "an HTTP filter",
        "envoy.filters.http.upstream" => "an upstream HTTP filter",
        "envoy.filters.network" => "a network filter",
        "envoy.filters.listener" => "a listener filter",
        "envoy.filters.udp_listener" => "a UDP listener filter",
        "envoy.access_loggers" => "an access logger",
        "envoy.access_loggers.extension_filters" => "an access-log filter",
        "envoy.tracers" => "a tracer",
        "envoy.stats_sinks" => "a stats sink",
        "envoy.clusters" => "a cluster type",
        "envoy.resource_monitors" => "a resource monitor",
        "envoy.transport_sockets.upstream" => "an upstream transport socket",
        "envoy.transport_sockets.downstream" => "a downstream transport socket",
        "envoy.wasm.runtime" => "a Wasm runtime",
        "envoy.bootstrap" => "a bootstrap extension",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::versions::ENVOY_BUILDS;

    #[test]
    fn every_pinned_build_has_a_registry_with_the_common_filters() {
        for build in ENVOY_BUILDS {
            let registry = registry(build.version).expect("a registry for every pinned build");
            assert_eq!(
                registry.name_of("envoy.filters.http", "envoy.extensions.filters.http.lua.v3.Lua"),
                Some("envoy.filters.http.lua")
            );
            let tcp_proxy = registry.categories_of("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy");
            assert!(tcp_proxy.contains("envoy.filters.network") && !tcp_proxy.contains("envoy.filters.http"));
        }
    }
}
