//! `wasm_plugin` declarations: checked and lowered to `extensions.istio.io/v1alpha1` WasmPlugin.

use super::common::*;
use super::telemetry::{metadata, target_ref};
use crate::diagnostic::{Diagnostic, Severity, codes, did_you_mean};
use crate::model::SpanIndex;
use crate::model::istio as m;
use crate::span::Span;
use crate::syntax::ast::*;
use serde_json::{Map, Value as Json};

pub(crate) const SETTINGS: &[&str] = &[
    "url",
    "sha256",
    "module",
    "phase",
    "priority",
    "plugin_name",
    "image_pull_policy",
    "image_pull_secret",
    "fail_strategy",
    "type",
    "verification_key",
    "labels",
    "annotations",
    "waive",
];

pub(crate) const PHASES: &[(&str, &str)] =
    &[("authn", "AUTHN"), ("authz", "AUTHZ"), ("stats", "STATS"), ("unspecified", "UNSPECIFIED_PHASE")];
pub(crate) const PULL_POLICIES: &[(&str, &str)] =
    &[("if_not_present", "IfNotPresent"), ("always", "Always"), ("unspecified", "UNSPECIFIED_POLICY")];
pub(crate) const FAIL_STRATEGIES: &[(&str, &str)] =
    &[("fail_close", "FAIL_CLOSE"), ("fail_open", "FAIL_OPEN"), ("fail_reload", "FAIL_RELOAD")];
pub(crate) const PLUGIN_TYPES: &[(&str, &str)] =
    &[("http", "HTTP"), ("network", "NETWORK"), ("unspecified", "UNSPECIFIED_PLUGIN_TYPE")];
pub(crate) const MATCH_MODES: &[(&str, &str)] = &[
    ("undefined", "UNDEFINED"),
    ("client", "CLIENT"),
    ("server", "SERVER"),
    ("client_and_server", "CLIENT_AND_SERVER"),
];
pub(crate) const ENV_SOURCES: &[(&str, &str)] = &[("inline", "INLINE"), ("host", "HOST")];

pub(crate) fn lower(ctx: &mut Ctx, decl: &ResourceDecl, scope: &ResolvedScope, name: String) -> Option<m::WasmPlugin> {
    let settings = Settings::collect(ctx, &decl.body, SETTINGS, "a wasm_plugin");
    let labels = metadata_map(ctx, &settings, "labels");
    let mut annotations = metadata_map(ctx, &settings, "annotations");
    annotations.extend(super::policy::waivers(ctx, &settings));
    let mut ok = true;
    let mut spec = m::WasmPluginSpec::default();

    match settings.value(ctx, "url") {
        Some(value) => match string_value(ctx, value) {
            Some(url) => {
                ok &= check_url(ctx, &url, value.span);
                ctx.spans.record("spec.url", value.span);
                spec.url = url;
            }
            None => ok = false,
        },
        None if has_broken_statements(&decl.body) => ok = false,
        None => {
            ctx.report(
                Diagnostic::new(
                    codes::MISSING_SETTING,
                    decl.name.span,
                    format!("the wasm_plugin `{}` has no `url`", decl.name.name),
                )
                .with_label_message("missing `url`")
                .with_help("add `url \"oci://registry/image:tag\"` (or https://, http://, file://)"),
            );
            ok = false;
        }
    }
    if let Some(value) = settings.value(ctx, "sha256") {
        match string_value(ctx, value) {
            Some(sha) if sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) => {
                ctx.spans.record("spec.sha256", value.span);
                spec.sha256 = Some(sha)
            }
            Some(_) => {
                ctx.report(
                    Diagnostic::new(
                        codes::TYPE_MISMATCH,
                        value.span,
                        "`sha256` must be 64 lower-case hexadecimal digits",
                    )
                    .with_label_message("not a SHA-256 digest"),
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    let mut module = None;
    if let Some(value) = settings.value(ctx, "module") {
        match string_value(ctx, value) {
            Some(path) if path.is_empty() || path.contains("://") => {
                ctx.report(
                    Diagnostic::new(codes::TYPE_MISMATCH, value.span, "`module` is a path relative to the package")
                        .with_label_message("not a local path")
                        .with_help("name the local build of the plugin: `module \"plugin.wasm\"`, a `.wat` file, an OCI image layout directory or a `.tar` of one"),
                );
                ok = false;
            }
            Some(path) => {
                ctx.spans.record("module", value.span);
                module = Some(path);
            }
            None => ok = false,
        }
    }
    ok &=
        enum_setting(ctx, &settings, "phase", PHASES, "plugin phase", |s, v| s.phase = Some(v.to_string()), &mut spec);
    ok &= enum_setting(
        ctx,
        &settings,
        "image_pull_policy",
        PULL_POLICIES,
        "pull policy",
        |s, v| s.image_pull_policy = Some(v.to_string()),
        &mut spec,
    );
    ok &= enum_setting(
        ctx,
        &settings,
        "fail_strategy",
        FAIL_STRATEGIES,
        "fail strategy",
        |s, v| s.fail_strategy = Some(v.to_string()),
        &mut spec,
    );
    ok &= enum_setting(
        ctx,
        &settings,
        "type",
        PLUGIN_TYPES,
        "plugin type",
        |s, v| s.type_ = Some(v.to_string()),
        &mut spec,
    );
    if let Some(value) = settings.value(ctx, "priority") {
        spec.priority = int_value(ctx, value, i32::MIN as i64, i32::MAX as i64, "the priority").map(|p| p as i32);
        ok &= spec.priority.is_some();
    }
    for (key, max, field) in [
        ("plugin_name", 256usize, &mut spec.plugin_name),
        ("image_pull_secret", 253, &mut spec.image_pull_secret),
        ("verification_key", usize::MAX, &mut spec.verification_key),
    ] {
        let Some(value) = settings.value(ctx, key) else { continue };
        match string_value(ctx, value) {
            Some(text) if text.len() > max => {
                ctx.report(Diagnostic::new(
                    codes::OUT_OF_RANGE,
                    value.span,
                    format!("`{key}` is at most {max} characters long"),
                ));
                ok = false;
            }
            Some(text) => *field = Some(text),
            None => ok = false,
        }
    }

    let mut config_seen: Option<Span> = None;
    let mut env_names: Vec<Key> = Vec::new();
    for stmt in &decl.body {
        match &stmt.kind {
            StmtKind::Config { schema, value } => {
                if let Some(previous) = config_seen {
                    ctx.report(
                        Diagnostic::new(codes::DUPLICATE_SETTING, stmt.span, "`config` is given twice")
                            .with_secondary(previous, "first given here"),
                    );
                    ok = false;
                    continue;
                }
                config_seen = Some(stmt.span);
                ctx.spans.record("spec.pluginConfig", stmt.span);
                match plugin_config(ctx, schema.as_ref(), value) {
                    Some(config) => spec.plugin_config = Some(config),
                    None => ok = false,
                }
            }
            StmtKind::Env { name, value } => {
                if let Some(previous) = env_names.iter().find(|k| k.name == name.name) {
                    ctx.report(
                        Diagnostic::new(
                            codes::DUPLICATE_SETTING,
                            name.span,
                            format!("the environment variable `{}` is set twice", name.name),
                        )
                        .with_secondary(previous.span, "first set here"),
                    );
                    ok = false;
                    continue;
                }
                env_names.push(name.clone());
                let env = match value {
                    EnvValue::Inline(value) => string_value(ctx, value).map(|text| m::EnvVar {
                        name: name.name.clone(),
                        value_from: None,
                        value: Some(text),
                    }),
                    EnvValue::From(source) => enum_word(ctx, source, ENV_SOURCES, "environment source").map(|from| {
                        m::EnvVar { name: name.name.clone(), value_from: Some(from.to_string()), value: None }
                    }),
                };
                match env {
                    Some(env) => spec.vm_config.get_or_insert_with(Default::default).env.push(env),
                    None => ok = false,
                }
            }
            StmtKind::WasmMatch { mode, ports } => {
                let mut selector = m::WasmPluginTrafficSelector::default();
                if let Some(mode) = mode {
                    match enum_word(ctx, mode, MATCH_MODES, "traffic mode") {
                        Some(mode) => selector.mode = Some(mode.to_string()),
                        None => ok = false,
                    }
                }
                if let Some(ports) = ports {
                    let ValueKind::List(items) = &ports.kind else { continue };
                    for item in items {
                        match int_value(ctx, item, 1, 65535, "a port") {
                            Some(number) => selector.ports.push(m::PortSelector { number: number as u32 }),
                            None => ok = false,
                        }
                    }
                }
                spec.match_.push(selector);
            }
            StmtKind::Setting { .. } | StmtKind::Section { .. } | StmtKind::Error => {}
            _ => {
                ctx.report(misplaced_statement(stmt, "a wasm_plugin"));
                ok = false;
            }
        }
    }
    if spec.vm_config.as_ref().is_some_and(|vm| vm.env.len() > 256) {
        ctx.report(Diagnostic::new(
            codes::OUT_OF_RANGE,
            decl.name.span,
            "a wasm_plugin takes at most 256 environment variables",
        ));
        ok = false;
    }
    if ok {
        let url_span = settings.value(ctx, "url").map(|v| v.span).unwrap_or(decl.name.span);
        check_pinned(ctx, &spec, url_span);
    }
    spec.selector = scope.selector.clone().map(|match_labels| m::WorkloadSelector { match_labels });
    spec.target_refs = scope.target_refs.iter().map(target_ref).collect();
    ok.then(|| m::WasmPlugin { metadata: metadata(name, scope, labels, annotations), spec, module })
}

fn enum_setting(
    ctx: &mut Ctx,
    settings: &Settings,
    key: &str,
    choices: &[(&str, &'static str)],
    what: &str,
    apply: impl FnOnce(&mut m::WasmPluginSpec, &'static str),
    spec: &mut m::WasmPluginSpec,
) -> bool {
    let Some(value) = settings.value(ctx, key) else { return true };
    match enum_value(ctx, value, choices, what) {
        Some(istio) => {
            apply(spec, istio);
            true
        }
        None => false,
    }
}

fn check_url(ctx: &mut Ctx, url: &str, span: Span) -> bool {
    let scheme = url.split_once("://").map(|(scheme, _)| scheme);
    match scheme {
        None | Some("oci" | "http" | "https" | "file") if !url.is_empty() => true,
        _ => {
            ctx.report(
                Diagnostic::new(
                    codes::TYPE_MISMATCH,
                    span,
                    "a plugin url must use oci://, https://, http:// or file://",
                )
                .with_label_message("unsupported url"),
            );
            false
        }
    }
}

/// Warns (or, under `require_pinned_images`, errors) when a remote image can change under the package.
pub(super) fn check_pinned(ctx: &mut Ctx, spec: &m::WasmPluginSpec, span: Span) {
    let remote = !spec.url.starts_with("file://");
    let pinned = spec.sha256.is_some() || spec.url.contains("@sha256:");
    if !remote || pinned {
        return;
    }
    let required = ctx.manifest.is_some_and(|m| m.require_pinned_images);
    let mut diagnostic = Diagnostic::new(codes::UNPINNED_IMAGE, span, "this Wasm image is not pinned by digest")
        .with_label_message("a tag can point at different code tomorrow")
        .with_help("add `sha256 \"<64 hex digits>\"`, or reference the image as `...@sha256:<digest>`");
    if required {
        diagnostic.code = codes::UNPINNED_IMAGE_REQUIRED;
        diagnostic.severity = Severity::Error;
        diagnostic = diagnostic.with_note("mesh.toml sets `require_pinned_images = true`");
    }
    ctx.report(diagnostic);
}

/// `config SCHEMA { ... }` is checked against the package's `schema SCHEMA`; a bare
/// `config { ... }` is passed through as written.
fn plugin_config(ctx: &mut Ctx, schema: Option<&Path>, value: &Value) -> Option<Map<String, Json>> {
    let Some(schema_path) = schema else {
        return match to_json(ctx, value)? {
            Json::Object(map) => Some(map),
            _ => None,
        };
    };
    let schema_name = schema_path.text();
    let Some((decl, _)) = ctx.symbols.schemas.get(&schema_name) else {
        let names: Vec<&str> = ctx.symbols.schemas.keys().map(String::as_str).collect();
        let mut diagnostic =
            Diagnostic::new(codes::UNKNOWN_NAME, schema_path.span, format!("there is no schema `{schema_name}`"))
                .with_label_message("unknown schema");
        diagnostic = match did_you_mean(&schema_name, names.iter().copied()) {
            Some(suggestion) => diagnostic.with_did_you_mean(schema_path.span, suggestion),
            None => diagnostic.with_help(format!("declare it with `schema {schema_name} {{ field: type }}`")),
        };
        ctx.report(diagnostic);
        return None;
    };
    let decl = *decl;
    match check_against_schema(ctx, decl, value, schema_path.span, 0)? {
        Json::Object(map) => Some(map),
        _ => None,
    }
}

/// Checks an object against a schema; `anchor` is where a missing field is reported
/// (the schema name of a `config`, or the start of a nested object).
fn check_against_schema(ctx: &mut Ctx, schema: &SchemaDecl, value: &Value, anchor: Span, depth: usize) -> Option<Json> {
    let value = resolved(ctx, value);
    let ValueKind::Object(entries) = &value.kind else {
        ctx.report(schema_mismatch(value, &format!("an object of schema `{}`", schema.name.name)));
        return None;
    };
    let mut ok = true;
    let mut out = Map::new();
    let field_names: Vec<&str> = schema.fields.iter().map(|f| f.name.name.as_str()).collect();
    for entry in entries {
        let Some(field) = schema.fields.iter().find(|f| f.name.name == entry.key.name) else {
            let mut diagnostic = Diagnostic::new(
                codes::PLUGIN_CONFIG_MISMATCH,
                entry.key.span,
                format!("the schema `{}` has no field `{}`", schema.name.name, entry.key.name),
            )
            .with_label_message("unknown field")
            .with_secondary(schema.name.span, "schema declared here");
            diagnostic = match did_you_mean(&entry.key.name, field_names.iter().copied()) {
                Some(suggestion) => diagnostic.with_did_you_mean(entry.key.span, suggestion),
                None => diagnostic.with_note(format!("its fields are: {}", field_names.join(", "))),
            };
            ctx.report(diagnostic);
            ok = false;
            continue;
        };
        match check_type(ctx, &field.ty, &entry.value, depth) {
            Some(json) => {
                out.insert(entry.key.name.clone(), json);
            }
            None => ok = false,
        }
    }
    let mut missing = Vec::new();
    for field in &schema.fields {
        if entries.iter().any(|e| e.key.name == field.name.name) {
            continue;
        }
        if let Some(default) = &field.default {
            if let Some(json) = to_json(ctx, default) {
                out.insert(field.name.name.clone(), json);
            }
        } else if !field.optional {
            missing.push(field);
        }
    }
    if !missing.is_empty() {
        let names: Vec<String> = missing.iter().map(|f| format!("`{}`", f.name.name)).collect();
        let (noun, verb) = if missing.len() == 1 { ("field", "is") } else { ("fields", "are") };
        let mut diagnostic = Diagnostic::new(
            codes::PLUGIN_CONFIG_MISMATCH,
            anchor,
            format!("the required {noun} {} of schema `{}` {verb} missing", names.join(", "), schema.name.name),
        )
        .with_label_message(format!("missing {}", names.join(", ")));
        for field in missing {
            diagnostic = diagnostic.with_secondary(field.name.span, "declared as required here");
        }
        ctx.report(diagnostic);
        ok = false;
    }
    ok.then_some(Json::Object(out))
}

fn schema_mismatch(value: &Value, expected: &str) -> Diagnostic {
    Diagnostic::new(
        codes::PLUGIN_CONFIG_MISMATCH,
        value.span,
        format!("expected {expected}, found {}", value.describe()),
    )
    .with_label_message(format!("expected {expected}"))
}

/// Checks a value against a schema type; the first alternative that fits wins.
fn check_type(ctx: &mut Ctx, ty: &TypeExpr, value: &Value, depth: usize) -> Option<Json> {
    if depth > 32 {
        ctx.report(Diagnostic::new(
            codes::PLUGIN_CONFIG_MISMATCH,
            value.span,
            "schemas nest too deeply (a schema refers to itself?)",
        ));
        return None;
    }
    // Try each alternative silently; report against the whole type only if none fits.
    for atom in &ty.alternatives {
        let mut trial = Ctx {
            db: ctx.db,
            manifest: ctx.manifest,
            symbols: ctx.symbols,
            targets: ctx.targets,
            root_namespace: ctx.root_namespace.clone(),
            file: ctx.file,
            diagnostics: Vec::new(),
            expressions: ctx.expressions,
            spans: SpanIndex::default(),
            patch_path: String::new(),
        };
        let result = check_atom(&mut trial, atom, value, depth);
        if result.is_some() && trial.diagnostics.iter().all(|d| !d.is_error()) {
            ctx.diagnostics.extend(trial.diagnostics);
            return result;
        }
        if ty.alternatives.len() == 1 {
            ctx.diagnostics.extend(trial.diagnostics);
            return None;
        }
    }
    let text = &ctx.db.text(ty.span.file)[ty.span.range()];
    ctx.report(schema_mismatch(value, &format!("`{text}`")).with_secondary(ty.span, "the declared type"));
    None
}

fn check_atom(ctx: &mut Ctx, atom: &TypeAtom, value: &Value, depth: usize) -> Option<Json> {
    let value = resolved(ctx, value);
    match atom {
        TypeAtom::Literal(lit) => match &value.kind {
            ValueKind::String(s) if s.value == lit.value => Some(Json::String(s.value.clone())),
            _ => {
                ctx.report(schema_mismatch(value, &format!("\"{}\"", lit.value)));
                None
            }
        },
        TypeAtom::List(inner, _) => {
            let ValueKind::List(items) = &value.kind else {
                ctx.report(schema_mismatch(value, "a list"));
                return None;
            };
            let mut out = Vec::new();
            let mut ok = true;
            for item in items {
                match check_type(ctx, inner, item, depth + 1) {
                    Some(json) => out.push(json),
                    None => ok = false,
                }
            }
            ok.then_some(Json::Array(out))
        }
        TypeAtom::Map(inner, _) => {
            let ValueKind::Object(entries) = &value.kind else {
                ctx.report(schema_mismatch(value, "a map"));
                return None;
            };
            let mut out = Map::new();
            let mut ok = true;
            for entry in entries {
                match check_type(ctx, inner, &entry.value, depth + 1) {
                    Some(json) => {
                        out.insert(entry.key.name.clone(), json);
                    }
                    None => ok = false,
                }
            }
            ok.then_some(Json::Object(out))
        }
        TypeAtom::Named(path) => {
            let name = path.text();
            match (name.as_str(), &value.kind) {
                ("string", ValueKind::String(s)) => Some(Json::String(s.value.clone())),
                ("int", ValueKind::Number { raw, .. }) if !raw.contains(['.', 'e', 'E']) => to_json(ctx, value),
                ("float" | "number", ValueKind::Number { .. }) => to_json(ctx, value),
                ("bool", ValueKind::Bool(_)) => to_json(ctx, value),
                ("duration", ValueKind::Duration { .. }) => to_json(ctx, value),
                ("percent", ValueKind::Percent(p)) => serde_json::Number::from_f64(*p).map(Json::Number),
                ("any", _) => to_json(ctx, value),
                ("string" | "int" | "float" | "number" | "bool" | "duration" | "percent", _) => {
                    let expected = match name.as_str() {
                        "int" => "a whole number".to_string(),
                        "float" | "number" => "a number".to_string(),
                        "bool" => "`true` or `false`".to_string(),
                        other => format!("a {other}"),
                    };
                    ctx.report(schema_mismatch(value, &expected));
                    None
                }
                _ => match ctx.symbols.schemas.get(&name) {
                    Some((decl, _)) => {
                        let decl = *decl;
                        check_against_schema(ctx, decl, value, value.span.sub(0, 1), depth + 1)
                    }
                    None => {
                        ctx.report(
                            Diagnostic::new(codes::UNKNOWN_NAME, path.span, format!("`{name}` is neither a type nor a schema"))
                                .with_note("types are string, int, float, bool, duration, percent, any, [T], {T}, \"literal\" and schema names"),
                        );
                        None
                    }
                },
            }
        }
    }
}
