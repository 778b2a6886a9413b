//! Checking and lowering: resolves names, checks every declaration against Istio's
//! rules and lowers it into the output model ([`crate::model::istio`]).
//!
//! Each declaration is checked on its own, so a mistake in one never hides the
//! mistakes in another; a declaration with an error produces no resource.

pub(crate) mod cel;
mod common;
pub(crate) mod envoy_filter;
mod istio_semantics;
mod kube_yaml;
pub(crate) mod mesh_config;
pub(crate) mod policy;
pub(crate) mod providers;
pub(crate) mod proxy;
pub(crate) mod symbols;
pub(crate) mod telemetry;
mod usage;
pub(crate) mod wasm_plugin;

use crate::diagnostic::{Diagnostic, codes, did_you_mean};
use crate::manifest::Manifest;
use crate::model::istio::Resource;
use crate::model::proxy::ProxyDecl;
use crate::model::smoke::{ScenarioTarget, SmokeScenario};
use crate::model::{Generated, Lowered, ParsedFile, SpanIndex};
use crate::source::{SourceDb, SourceKind};
use crate::span::Span;
use crate::syntax::ast::{ItemKind, ResourceKind};
use crate::versions::Targets;
use common::{Ctx, ResolvedScope};
use std::collections::HashMap;
use symbols::Symbols;

/// Checks every declaration of a package and lowers what it means into the model.
pub(crate) fn check_package(
    db: &SourceDb,
    manifest: Option<&Manifest>,
    targets: &Targets,
    files: &[ParsedFile],
) -> (Lowered, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let mut default_providers = None;
    let package_name = manifest.map(|m| m.name.value.as_str());
    let symbols = Symbols::collect(db, package_name, files, &mut diagnostics);
    if let Some(manifest) = manifest {
        diagnostics.extend(providers::check_providers(manifest, &symbols, targets));
        let (defaults, found) = mesh_config::check_against_mesh_config(db, manifest);
        diagnostics.extend(found);
        default_providers = defaults;
    }
    for cycle in symbols.let_cycles() {
        let (first, _) = cycle[0];
        let mut chain: Vec<String> = cycle.iter().map(|(decl, _)| decl.name.name.clone()).collect();
        chain.push(first.name.name.clone());
        let mut diagnostic = Diagnostic::new(
            codes::CYCLIC_LET,
            first.name.span,
            format!("`{}` is defined through itself: {}", first.name.name, chain.join(" → ")),
        )
        .with_label_message("this let has no value");
        for (decl, _) in cycle.iter().skip(1) {
            diagnostic =
                diagnostic.with_secondary(decl.name.span, format!("`{}` is part of the cycle", decl.name.name));
        }
        diagnostics.push(diagnostic.with_help("write one of the values out instead of naming another let"));
    }
    let root_namespace = crate::manifest::root_namespace(manifest).to_string();

    let expressions = cel::ExpressionCache::default();
    let mut generated = Vec::new();
    // Resource identity (kind, namespace, name) to the span of the declaration's name.
    let mut identities: HashMap<(ResourceKind, String, String), Span> = HashMap::new();
    // Telemetry scope (namespace, selector, targets) to the declaration that claimed it.
    let mut telemetry_scopes: HashMap<String, Span> = HashMap::new();
    let mut proxies: Vec<ProxyDecl> = Vec::new();
    let mut smokes: Vec<(SmokeScenario, Option<Span>)> = Vec::new();
    // `wasm_plugin` declarations by name: the namespace and name of their WasmPlugin,
    // for the scenarios that test one plugin alone.
    let mut plugin_declarations: Vec<(String, String, String)> = Vec::new();
    // Every `wasm_plugin` declaration's name, lowered or not.
    let attempted_plugins: Vec<String> = files
        .iter()
        .filter(|f| db.get(f.file).kind == SourceKind::Package)
        .flat_map(|f| &f.ast.items)
        .filter_map(|i| match &i.kind {
            ItemKind::Resource(d) if d.kind == ResourceKind::WasmPlugin => Some(d.name.name.clone()),
            _ => None,
        })
        .collect();
    let mut rules: Vec<crate::model::policy::Rule> = Vec::new();
    // Modules that declare rules: importing one puts its rules in force, which is a use.
    let rule_modules: Vec<String> = files
        .iter()
        .filter(|f| {
            f.ast.items.iter().any(|i| matches!(&i.kind, ItemKind::Resource(d) if d.kind == ResourceKind::Rule))
        })
        .filter_map(|f| {
            let source = db.get(f.file);
            match source.kind {
                SourceKind::Stdlib => crate::stdlib::module_name(&source.path),
                _ => None,
            }
        })
        .collect();
    // Proxy and smoke names, which share one namespace each within the package.
    let mut target_names: HashMap<(ResourceKind, String), Span> = HashMap::new();

    // Each declaration is checked with a context of its own, so that its diagnostics
    // can be collected (and deduplicated) apart from the others'.
    let new_ctx = |file| Ctx {
        db,
        manifest,
        symbols: &symbols,
        targets,
        root_namespace: root_namespace.clone(),
        file,
        diagnostics: Vec::new(),
        expressions: &expressions,
        spans: SpanIndex::default(),
        patch_path: String::new(),
    };
    for parsed in files {
        if db.get(parsed.file).kind != SourceKind::Package {
            continue;
        }
        if let Some(imports) = symbols.imports.get(&parsed.file) {
            let used = usage::referenced_roots(&parsed.ast);
            let mut unused: Vec<(&String, &(String, Span))> = imports
                .iter()
                .filter(|(alias, (module, _))| !used.contains(*alias) && !rule_modules.contains(module))
                .collect();
            unused.sort_by_key(|(_, (_, span))| span.start);
            for (alias, (module, span)) in unused {
                diagnostics.push(
                    Diagnostic::new(
                        codes::UNUSED_IMPORT,
                        *span,
                        format!("the module `{module}` is imported but `{alias}.` is never used"),
                    )
                    .with_label_message("unused import")
                    .with_help("remove the import"),
                );
            }
        }
        for item in &parsed.ast.items {
            match &item.kind {
                ItemKind::Package(path) => {
                    if let Some(expected) = package_name
                        && path.text() != expected
                    {
                        diagnostics.push(
                            Diagnostic::new(
                                codes::MISSING_PACKAGE,
                                path.span,
                                format!(
                                    "this file says `package {}`, but mesh.toml names the package `{expected}`",
                                    path.text()
                                ),
                            )
                            .with_did_you_mean(path.span, expected),
                        );
                    }
                }
                ItemKind::Resource(decl) if decl.kind == ResourceKind::Rule => {
                    let mut ctx = new_ctx(parsed.file);
                    let module = package_name.unwrap_or("the package");
                    if let Some(previous) = rules.iter().find(|r| r.name == decl.name.name) {
                        ctx.report(
                            Diagnostic::new(
                                codes::DUPLICATE_NAME,
                                decl.name.span,
                                format!("the rule `{}` is declared twice", decl.name.name),
                            )
                            .with_secondary(previous.origin, "first declared here"),
                        );
                    } else if let Some(rule) = policy::lower_rule(&mut ctx, decl, module, &item.docs) {
                        rules.push(rule);
                    }
                    diagnostics.append(&mut ctx.diagnostics);
                }
                ItemKind::Resource(decl) if matches!(decl.kind, ResourceKind::Proxy | ResourceKind::Smoke) => {
                    let mut ctx = new_ctx(parsed.file);
                    let key = (decl.kind, decl.name.name.clone());
                    if let Some(previous) = target_names.get(&key) {
                        ctx.report(
                            Diagnostic::new(
                                codes::DUPLICATE_NAME,
                                decl.name.span,
                                format!("a {} named `{}` is declared twice", decl.kind.keyword(), decl.name.name),
                            )
                            .with_label_message("declared again here")
                            .with_secondary(*previous, "first declared here"),
                        );
                    } else {
                        target_names.insert(key, decl.name.span);
                        if decl.kind == ResourceKind::Proxy {
                            if let Some(scope) = common::resolve_scope(&mut ctx, decl)
                                && let Some(proxy) = proxy::lower_proxy(&mut ctx, decl, &scope)
                            {
                                proxies.push(proxy);
                            }
                        } else if let Some(smoke) = proxy::lower_smoke(&mut ctx, decl) {
                            smokes.push((smoke, proxy::smoke_proxy_span(decl)));
                        }
                    }
                    diagnostics.append(&mut ctx.diagnostics);
                }
                ItemKind::Resource(decl) => {
                    let mut ctx = new_ctx(parsed.file);
                    let scope = common::resolve_scope(&mut ctx, decl);
                    let name = common::resource_name(&mut ctx, &decl.name);
                    let resource = match (&scope, name) {
                        (Some(scope), Some(name)) => lower(&mut ctx, decl, scope, name),
                        _ => {
                            // Still check the body, so its mistakes show up now too.
                            let placeholder = ResolvedScope::default();
                            let _ = lower(&mut ctx, decl, &placeholder, "placeholder".to_string());
                            None
                        }
                    };
                    diagnostics.append(&mut ctx.diagnostics);
                    let spans = std::mem::take(&mut ctx.spans);
                    let Some(resource) = resource else { continue };
                    let meta = resource.metadata();
                    let identity = (decl.kind, meta.namespace.clone(), meta.name.clone());
                    if let Some(previous) = identities.get(&identity) {
                        diagnostics.push(
                            Diagnostic::new(
                                codes::DUPLICATE_NAME,
                                decl.name.span,
                                format!(
                                    "a {} named `{}` in namespace `{}` is declared twice",
                                    decl.kind.keyword(),
                                    identity.2,
                                    identity.1
                                ),
                            )
                            .with_label_message("declared again here")
                            .with_secondary(*previous, "first declared here"),
                        );
                        continue;
                    }
                    identities.insert(identity, decl.name.span);
                    if let (Resource::Telemetry(_), Some(scope)) = (&resource, &scope) {
                        let key = telemetry_scope_key(scope);
                        if let Some(previous) = telemetry_scopes.get(&key) {
                            diagnostics.push(
                                Diagnostic::new(
                                    codes::DUPLICATE_SCOPE,
                                    decl.name.span,
                                    format!(
                                        "another telemetry declaration already applies to {}",
                                        describe_scope(scope, &root_namespace)
                                    ),
                                )
                                .with_label_message("second Telemetry at this scope")
                                .with_secondary(*previous, "the first one")
                                .with_help(
                                    "merge the two declarations; istiod applies one of them and ignores the other",
                                ),
                            );
                        } else {
                            telemetry_scopes.insert(key, decl.name.span);
                        }
                    }
                    if decl.kind == ResourceKind::WasmPlugin {
                        plugin_declarations.push((decl.name.name.clone(), meta.namespace.clone(), meta.name.clone()));
                    }
                    generated.push(Generated { resource, origin: decl.name.span, spans, document: None });
                }
                _ => {}
            }
        }
    }
    // Every scenario runs against a declared proxy, or a declared plugin.
    let mut checked_smokes = Vec::new();
    for (mut smoke, proxy_span) in smokes {
        let scenario_name = smoke.name.clone();
        match &mut smoke.target {
            ScenarioTarget::Proxy(proxy) => {
                if proxies.iter().any(|p| p.name == *proxy) {
                    checked_smokes.push(smoke);
                    continue;
                }
                let span = proxy_span.unwrap_or(smoke.span);
                let mut diagnostic = Diagnostic::new(
                    codes::UNKNOWN_PROXY,
                    span,
                    format!("the smoke scenario `{scenario_name}` names the proxy `{proxy}`, which is not declared"),
                )
                .with_label_message("unknown proxy");
                if let Some(suggestion) = did_you_mean(proxy, proxies.iter().map(|p| p.name.as_str())) {
                    diagnostic = diagnostic.with_did_you_mean(span, suggestion);
                }
                diagnostics.push(diagnostic);
            }
            ScenarioTarget::Plugin(plugin) => {
                if let Some((_, namespace, name)) =
                    plugin_declarations.iter().find(|(declaration, ..)| *declaration == plugin.declaration)
                {
                    let network = generated.iter().any(|g| {
                        matches!(&g.resource, Resource::WasmPlugin(p)
                            if p.metadata.namespace == *namespace && p.metadata.name == *name
                                && p.spec.type_.as_deref() == Some("NETWORK"))
                    });
                    if network {
                        diagnostics.push(
                            Diagnostic::new(
                                codes::UNTESTABLE_PLUGIN,
                                plugin.span,
                                format!(
                                    "the smoke scenario `{scenario_name}` names `{}`, a network plugin; scenarios send HTTP requests through HTTP plugins",
                                    plugin.declaration
                                ),
                            )
                            .with_label_message("type network"),
                        );
                        continue;
                    }
                    plugin.namespace = namespace.clone();
                    plugin.name = name.clone();
                    checked_smokes.push(smoke);
                    continue;
                }
                // A declaration of that name that did not lower has its own diagnostics.
                if attempted_plugins.contains(&plugin.declaration) {
                    continue;
                }
                let mut diagnostic = Diagnostic::new(
                    codes::UNKNOWN_PLUGIN,
                    plugin.span,
                    format!(
                        "the smoke scenario `{scenario_name}` names the plugin `{}`, which is not declared",
                        plugin.declaration
                    ),
                )
                .with_label_message("unknown wasm_plugin");
                if let Some(suggestion) =
                    did_you_mean(&plugin.declaration, plugin_declarations.iter().map(|(d, ..)| d.as_str()))
                {
                    diagnostic = diagnostic.with_did_you_mean(plugin.span, suggestion);
                }
                diagnostics.push(diagnostic);
            }
        }
    }
    // The rules of the stdlib modules the package imports.
    let imported: std::collections::HashSet<&String> =
        symbols.imports.values().flat_map(|aliases| aliases.values().map(|(module, _)| module)).collect();
    for parsed in files {
        let source = db.get(parsed.file);
        if source.kind != SourceKind::Stdlib {
            continue;
        }
        let Some(module) = crate::stdlib::module_name(&source.path) else { continue };
        if !imported.contains(&module) {
            continue;
        }
        for item in &parsed.ast.items {
            if let ItemKind::Resource(decl) = &item.kind
                && decl.kind == ResourceKind::Rule
            {
                // A package rule of the same name would be shadowed without a word, in
                // mesh.toml's severities, waivers and the admission policies alike.
                if let Some(own) = rules.iter().find(|r| r.name == decl.name.name) {
                    diagnostics.push(
                        Diagnostic::new(
                            codes::DUPLICATE_NAME,
                            own.origin,
                            format!(
                                "the rule `{}` is also declared in `{module}`, which the package imports",
                                own.name
                            ),
                        )
                        .with_label_message("a second rule of this name")
                        .with_help("rename this rule; mesh.toml and waivers name rules by name alone"),
                    );
                    continue;
                }
                let mut ctx = new_ctx(parsed.file);
                if let Some(rule) = policy::lower_rule(&mut ctx, decl, &module, &item.docs) {
                    rules.push(rule);
                }
                diagnostics.append(&mut ctx.diagnostics);
            }
        }
    }
    if let Some(manifest) = manifest {
        diagnostics.extend(policy::apply_severities(&mut rules, manifest, db, files));
    }
    // Kubernetes YAML given to check: read into the model and checked as declarations are.
    let (linted, found) = kube_yaml::check_resource_files(db, &new_ctx);
    diagnostics.extend(found);
    let standard_metrics = symbols.metrics.values().cloned().collect();
    let mut lowered = Lowered {
        resources: generated,
        proxies,
        smokes: checked_smokes,
        standard_metrics,
        default_providers: default_providers.unwrap_or_default(),
        linted: Vec::new(),
        rules,
    };
    if linted.is_empty() {
        diagnostics.extend(istio_semantics::check_envoy_filters(&lowered, targets));
    } else {
        // The release checks see the YAML's resources beside the declarations', so that
        // a patch anchored on a WasmPlugin of another file is judged with it in view.
        lowered.linted = linted;
        let mut together = lowered.clone();
        together.resources.extend(together.linted.drain(..));
        diagnostics.extend(istio_semantics::check_envoy_filters(&together, targets));
    }
    (lowered, diagnostics)
}

fn lower(
    ctx: &mut Ctx,
    decl: &crate::syntax::ast::ResourceDecl,
    scope: &ResolvedScope,
    name: String,
) -> Option<Resource> {
    match decl.kind {
        ResourceKind::Telemetry => telemetry::lower(ctx, decl, scope, name).map(Resource::Telemetry),
        ResourceKind::WasmPlugin => wasm_plugin::lower(ctx, decl, scope, name).map(Resource::WasmPlugin),
        ResourceKind::EnvoyFilter => envoy_filter::lower(ctx, decl, scope, name).map(Resource::EnvoyFilter),
        // Handled by `check_package` before any Istio resource is lowered.
        ResourceKind::Proxy | ResourceKind::Smoke | ResourceKind::Rule => None,
    }
}

fn telemetry_scope_key(scope: &ResolvedScope) -> String {
    let selector = scope.selector.as_ref().map(|labels| format!("{labels:?}")).unwrap_or_default();
    let targets =
        scope.target_refs.iter().map(|t| format!("{}/{}/{}", t.group, t.kind, t.name)).collect::<Vec<_>>().join(",");
    format!("{}|{selector}|{targets}", scope.namespace)
}

fn describe_scope(scope: &ResolvedScope, root_namespace: &str) -> String {
    if let Some(labels) = &scope.selector {
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("the workloads {{{}}} in namespace `{}`", labels.join(", "), scope.namespace)
    } else if !scope.target_refs.is_empty() {
        format!("the same targets in namespace `{}`", scope.namespace)
    } else if scope.namespace == root_namespace {
        "the whole mesh".to_string()
    } else {
        format!("namespace `{}`", scope.namespace)
    }
}
