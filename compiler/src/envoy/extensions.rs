//! The extensions each pinned Envoy build registers: which factory takes which config
//! message, in which category (HTTP filter, network filter, access logger, tracer...).
//! The lists are read from the builds themselves (`cargo run -p xtask --
//! extract-extensions`) and embedded, like the descriptor sets.
//!
//! A typed config is only useful where a factory of the right category takes it:
//! Envoy rejects a network filter's config in an HTTP filter chain, and a message no
//! factory takes at all.

use std::collections::BTreeSet;
use std::sync::OnceLock;

/// The committed registries, by Envoy build.
static REGISTRIES: [(&str, Registry); 5] = [
    ("1.36.4", Registry::new(include_str!("../../descriptors/envoy-1.36.4.extensions.txt"))),
    ("1.37.0", Registry::new(include_str!("../../descriptors/envoy-1.37.0.extensions.txt"))),
    ("1.38.2", Registry::new(include_str!("../../descriptors/envoy-1.38.2.extensions.txt"))),
    ("1.39.3", Registry::new(include_str!("../../descriptors/envoy-1.39.3.extensions.txt"))),
    ("1.40.0", Registry::new(include_str!("../../descriptors/envoy-1.40.0.extensions.txt"))),
];

/// One build's registry: its committed text, one extension per line (`CATEGORY NAME
/// [CONFIG_TYPE...]`), with a list of (config type, category, name) made on first use:
/// slices of the text, searched in order, which costs far less to make than maps of
/// owned strings and answers the handful of questions a check asks as fast.
pub struct Registry {
    text: &'static str,
    by_type: OnceLock<Vec<(&'static str, &'static str, &'static str)>>,
}

impl Registry {
    const fn new(text: &'static str) -> Registry {
        Registry { text, by_type: OnceLock::new() }
    }

    /// Every line as (category, extension name, config types separated by spaces).
    fn lines(&self) -> impl Iterator<Item = (&'static str, &'static str, &'static str)> {
        self.text.lines().filter_map(|line| {
            let (category, rest) = line.split_once(' ')?;
            let (name, types) = rest.split_once(' ').unwrap_or((rest, ""));
            Some((category, name, types))
        })
    }

    /// The (category, extension name) pairs of the factories that take `type_name`.
    fn takers(&self, type_name: &str) -> impl Iterator<Item = (&'static str, &'static str)> {
        let by_type = self.by_type.get_or_init(|| {
            self.lines()
                .flat_map(|(category, name, types)| {
                    types.split(' ').filter(|t| !t.is_empty()).map(move |t| (t, category, name))
                })
                .collect()
        });
        by_type.iter().filter(move |(t, _, _)| *t == type_name).map(|(_, category, name)| (*category, *name))
    }

    /// Whether the build registers an extension of `category` under `name`.
    pub fn has(&self, category: &str, name: &str) -> bool {
        self.lines().any(|(c, n, _)| c == category && n == name)
    }

    /// The names the build registers in `category`, sorted.
    pub fn names_in(&self, category: &str) -> impl Iterator<Item = &'static str> + use<> {
        let mut names: Vec<&'static str> = self.lines().filter(|(c, _, _)| *c == category).map(|(_, n, _)| n).collect();
        names.sort_unstable();
        names.dedup();
        names.into_iter()
    }

    /// The categories in which some factory takes `type_name`.
    pub fn categories_of(&self, type_name: &str) -> BTreeSet<&'static str> {
        self.takers(type_name).map(|(category, _)| category).collect()
    }

    /// The name of the extension of `category` that takes `type_name`, if one does.
    pub fn name_of(&self, category: &str, type_name: &str) -> Option<&'static str> {
        self.takers(type_name).find(|(c, _)| *c == category).map(|(_, name)| name)
    }
}

/// The registry of an Envoy build (`1.38.2`).
pub fn registry(version: &str) -> Option<&'static Registry> {
    REGISTRIES.iter().find(|(v, _)| *v == version).map(|(_, registry)| registry)
}

/// The committed registry text of a build, for the test that extracts it again.
pub fn embedded_registry(version: &str) -> Option<&'static str> {
    registry(version).map(|registry| registry.text)
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
