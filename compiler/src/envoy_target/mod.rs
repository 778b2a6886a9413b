//! The raw Envoy target: a complete bootstrap per `proxy` declaration, with the
//! package's HTTP filters, stats, tracing and access logs, for users without Istio
//! and for `meshc smoke`.
//!
//! The bootstrap is built from the lowered package ([`crate::model`]): the Istio
//! resources the checker produced, so the two targets cannot disagree about what a
//! declaration means. It is built per Envoy version as a spanned tree whose every
//! part points at the declaration that produced it, and checked against that
//! version's schema like everything else meshc emits.

pub(crate) mod bootstrap;
pub(crate) mod wasm;

use crate::diagnostic::Diagnostic;
use crate::envoy::{self, Strictness};
use crate::manifest::Manifest;
use crate::model::istio::Resource;
use crate::model::node::Node;
use crate::model::proxy::{Endpoint, ProxyDecl, ProxyRole};
use crate::model::smoke::PluginUnderTest;
use crate::model::{Assets, DefaultProviders, Lowered};
use crate::versions::Targets;
use std::collections::BTreeMap;

/// Where a bootstrap's proxy runs: the addresses a `proxy` declaration names, or
/// those `meshc smoke` picks (port 0, the local upstream and collector).
#[derive(Clone, Debug, PartialEq)]
pub struct Site {
    pub listen: Endpoint,
    pub admin: Endpoint,
    pub upstream: Endpoint,
    /// Tracing and logging providers by name: where their collector listens. A
    /// provider not listed here uses the service and port of mesh.toml.
    pub collectors: BTreeMap<String, Endpoint>,
    /// Where file access logs go; `/dev/stdout` when not given.
    pub access_log_path: Option<String>,
    /// Settings for a quick smoke test: spans flushed one at a time, stats flushed
    /// on every admin read.
    pub smoke: bool,
}

impl Site {
    /// The site a `proxy` declaration describes, for `meshc build --target envoy`.
    pub fn of(proxy: &ProxyDecl) -> Site {
        Site {
            listen: proxy.listen.clone(),
            admin: proxy.admin.clone(),
            upstream: proxy.upstream.clone(),
            collectors: BTreeMap::new(),
            access_log_path: None,
            smoke: false,
        }
    }
}

/// One bootstrap of the raw Envoy target: a proxy in one Envoy build.
#[derive(Clone, Debug)]
pub struct Bootstrap {
    /// The `proxy` declaration's name.
    pub proxy: String,
    /// The pinned Envoy build (`1.38.2`).
    pub envoy: &'static str,
    pub config: Node,
}

/// The package as the raw Envoy target reads it.
#[derive(Clone, Copy)]
pub struct Package<'a> {
    pub manifest: Option<&'a Manifest>,
    pub lowered: &'a Lowered,
    /// The Wasm modules of `file://` WasmPlugin URLs.
    pub assets: &'a dyn Assets,
}

/// The bootstraps `meshc build --target envoy` writes: one per proxy and targeted
/// Envoy build, each checked against the schema of its version. What a bootstrap
/// cannot carry (W0601) and what its version rejects are reported at the
/// declaration that produced the part in question.
pub fn bootstraps(package: Package<'_>, targets: &Targets) -> (Vec<Bootstrap>, Vec<Diagnostic>) {
    let mut built = Vec::new();
    let mut diagnostics = Vec::new();
    for proxy in &package.lowered.proxies {
        let site = Site::of(proxy);
        for envoy in targets.envoy_versions() {
            let (config, found) = checked_bootstrap(package, proxy, envoy, &site);
            merge_diagnostics(&mut diagnostics, found);
            built.push(Bootstrap { proxy: proxy.name.clone(), envoy, config });
        }
    }
    merge_diagnostics(&mut diagnostics, bootstrap::patches_of_no_role(package));
    (built, diagnostics)
}

/// The bootstrap of `proxy` for one Envoy build at `site` (`meshc smoke` picks its
/// own ports), with what could not be carried and what the build's schema rejects.
pub fn checked_bootstrap(
    package: Package<'_>,
    proxy: &ProxyDecl,
    envoy: &'static str,
    site: &Site,
) -> (Node, Vec<Diagnostic>) {
    let (config, mut diagnostics) = bootstrap::bootstrap(package, proxy, envoy, site);
    // The bootstrap is a file Envoy's own loader reads, as it reads any bootstrap.
    diagnostics.extend(envoy::check_bootstrap(&config, proxy.span, &[envoy], Strictness::ProtoJson));
    (config, diagnostics)
}

/// The bootstrap of a plugin's scenario: the one `wasm_plugin` alone in front of the
/// upstream, for one Envoy build at `site`. Nothing else of the package applies, neither
/// its EnvoyFilters nor its other plugins nor Telemetry (not even MeshConfig's default
/// Prometheus metrics), so that the real Envoy runs the same plugin alone that
/// `meshc test` runs on wasmtime. The proxy stands in the plugin's namespace with the
/// labels its selector asks for, as the server or, for a plugin that matches only
/// client traffic, as the client.
pub fn checked_plugin_bootstrap(
    package: Package<'_>,
    plugin: &PluginUnderTest,
    envoy: &'static str,
    site: &Site,
) -> Result<(Node, Vec<Diagnostic>), String> {
    let generated = package
        .lowered
        .resources
        .iter()
        .find(|g| {
            matches!(&g.resource, Resource::WasmPlugin(p)
                if p.metadata.namespace == plugin.namespace && p.metadata.name == plugin.name)
        })
        .ok_or_else(|| format!("the package has no WasmPlugin {}/{}", plugin.namespace, plugin.name))?;
    let Resource::WasmPlugin(resource) = &generated.resource else { unreachable!("matched above") };
    let labels: BTreeMap<String, String> = resource
        .spec
        .selector
        .as_ref()
        .map(|s| s.match_labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let client_only =
        !resource.spec.match_.is_empty() && resource.spec.match_.iter().all(|m| m.mode.as_deref() == Some("CLIENT"));
    let proxy = ProxyDecl {
        name: format!("plugin {}", plugin.declaration),
        namespace: plugin.namespace.clone(),
        labels,
        role: if client_only { ProxyRole::SidecarOutbound } else { ProxyRole::SidecarInbound },
        listen: site.listen.clone(),
        upstream: site.upstream.clone(),
        admin: site.admin.clone(),
        span: plugin.span,
    };
    // Alone, the plugin applies to the proxy whatever its scope: a plugin attached to a
    // gateway by `targetRefs` is tested as one selected by labels.
    let mut generated = generated.clone();
    if let Resource::WasmPlugin(plugin) = &mut generated.resource {
        plugin.spec.target_refs.clear();
        plugin.spec.selector = None;
    }
    let alone = Lowered {
        resources: vec![generated],
        default_providers: DefaultProviders {
            metrics: Vec::new(),
            tracing: Vec::new(),
            access_logging: Vec::new(),
            origin: None,
        },
        ..Lowered::default()
    };
    let alone_package = Package { manifest: package.manifest, lowered: &alone, assets: package.assets };
    let (config, diagnostics) = checked_bootstrap(alone_package, &proxy, envoy, site);
    // Without its filter the scenario would run against the bare upstream and prove
    // nothing: say why the plugin is missing instead.
    if !config.to_json().to_string().contains("envoy.extensions.filters.http.wasm.v3.Wasm") {
        let reasons: Vec<String> = diagnostics.iter().map(|d| d.message.clone()).collect();
        return Err(if reasons.is_empty() {
            "the plugin has no HTTP filter in the bootstrap".to_string()
        } else {
            format!("the plugin has no HTTP filter in the bootstrap: {}", reasons.join("; "))
        });
    }
    Ok((config, diagnostics))
}

/// The same diagnostic from several versions is reported once.
fn merge_diagnostics(into: &mut Vec<Diagnostic>, found: Vec<Diagnostic>) {
    for diagnostic in found {
        if !into.iter().any(|d| {
            d.code == diagnostic.code
                && d.message == diagnostic.message
                && d.primary_span() == diagnostic.primary_span()
        }) {
            into.push(diagnostic);
        }
    }
}
