//! `proxy` and `smoke` declarations: the raw Envoy target and its smoke scenarios.
//!
//! A `proxy` stands for one Envoy: where it listens, where it forwards, where its
//! admin interface is, and (through its scope) which workload it is, so that the
//! package's Telemetry, WasmPlugin and EnvoyFilter declarations that select that
//! workload apply to it. A `smoke` scenario names a proxy, requests to send and what
//! to observe.

use super::common::*;
use crate::check::cel::types::CelType;
use crate::diagnostic::{Diagnostic, codes};
use crate::model::proxy::{Endpoint, ProxyDecl, ProxyRole};
use crate::model::smoke::{
    CallResponse, Expectation, ExpectationKind, PluginUnderTest, PropertyValue, ScenarioTarget, SmokeRequest,
    SmokeScenario,
};
use crate::span::Span;
use crate::syntax::ast::*;

pub(crate) const PROXY_SETTINGS: &[&str] = &["role", "listen", "upstream", "admin"];
/// What a raw Envoy stands for, as the EnvoyFilter contexts name Istio's proxies.
pub(crate) const ROLES: &[(&str, &str)] =
    &[("sidecar_inbound", "SIDECAR_INBOUND"), ("sidecar_outbound", "SIDECAR_OUTBOUND"), ("gateway", "GATEWAY")];
pub(crate) const SMOKE_SETTINGS: &[&str] =
    &["proxy", "plugin", "fresh_envoy", "request", "expect", "properties", "call_response"];
pub(crate) const CALL_RESPONSE_SETTINGS: &[&str] = &["status", "headers", "body"];
pub(crate) const REQUEST_SETTINGS: &[&str] = &["method", "path", "headers", "body", "expect"];
pub(crate) const RESPONSE_EXPECTATIONS: &[&str] =
    &["status", "header", "no_header", "body_contains", "upstream_header", "no_upstream_header"];
pub(crate) const SCENARIO_EXPECTATIONS: &[&str] = &["prometheus", "access_logs", "span", "envoy_log", "no_envoy_log"];
pub(crate) const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];

pub(crate) fn lower_proxy(ctx: &mut Ctx, decl: &ResourceDecl, scope: &ResolvedScope) -> Option<ProxyDecl> {
    for stmt in &decl.body {
        if !matches!(stmt.kind, StmtKind::Setting { .. } | StmtKind::Section { .. } | StmtKind::Error) {
            ctx.report(misplaced_statement(stmt, "a proxy"));
        }
    }
    let settings = Settings::collect(ctx, &decl.body, PROXY_SETTINGS, "a proxy");
    let mut ok = true;
    if !scope.target_refs.is_empty() {
        let span = scope.span.unwrap_or(decl.name.span);
        ctx.report(
            Diagnostic::new(codes::INVALID_SCOPE, span, "a proxy stands for a workload, not for target references")
                .with_help("write `for workload { app: \"...\" }` with the labels of the workload"),
        );
        ok = false;
    }
    let role = match settings.value(ctx, "role") {
        Some(value) => match enum_value(ctx, value, ROLES, "proxy role") {
            Some("SIDECAR_OUTBOUND") => Some(ProxyRole::SidecarOutbound),
            Some("GATEWAY") => Some(ProxyRole::Gateway),
            Some(_) => Some(ProxyRole::SidecarInbound),
            None => None,
        },
        None => Some(ProxyRole::SidecarInbound),
    };
    let listen = match settings.value(ctx, "listen") {
        Some(value) => endpoint(ctx, value, "0.0.0.0", "the listener"),
        None => Some(Endpoint::new("0.0.0.0", 8080)),
    };
    let admin = match settings.value(ctx, "admin") {
        Some(value) => endpoint(ctx, value, "127.0.0.1", "the admin interface"),
        None => Some(Endpoint::new("127.0.0.1", 9901)),
    };
    let upstream = match settings.value(ctx, "upstream") {
        Some(value) => endpoint(ctx, value, "127.0.0.1", "the upstream"),
        None if has_broken_statements(&decl.body) => None,
        None => {
            ctx.report(
                Diagnostic::new(
                    codes::MISSING_SETTING,
                    decl.name.span,
                    format!("the proxy `{}` has no `upstream`", decl.name.name),
                )
                .with_label_message("missing `upstream`")
                .with_help("add `upstream \"127.0.0.1:9000\"`: where the proxy forwards requests"),
            );
            None
        }
    };
    let (Some(role), Some(listen), Some(admin), Some(upstream)) = (role, listen, admin, upstream) else { return None };
    if !ok {
        return None;
    }
    Some(ProxyDecl {
        name: decl.name.name.clone(),
        namespace: scope.namespace.clone(),
        labels: scope.selector.clone().unwrap_or_default(),
        role,
        listen,
        upstream,
        admin,
        span: decl.name.span,
    })
}

/// `8080`, `"0.0.0.0:8080"` or `"[::1]:8080"`.
fn endpoint(ctx: &mut Ctx, value: &Value, default_address: &str, what: &str) -> Option<Endpoint> {
    if let ValueKind::Number { .. } = &resolved(ctx, value).kind {
        let port = int_value(ctx, value, 0, 65535, &format!("the port of {what}"))?;
        return Some(Endpoint::new(default_address, port as u16));
    }
    let text = string_value(ctx, value)?;
    let parsed = text.rsplit_once(':').and_then(|(host, port)| {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = port.parse::<u16>().ok()?;
        (!host.is_empty()).then(|| Endpoint::new(host, port))
    });
    if parsed.is_none() {
        ctx.report(
            Diagnostic::new(codes::TYPE_MISMATCH, value.span, format!("`{text}` is not an address and port"))
                .with_label_message("expected `HOST:PORT` or a port number")
                .with_help(format!("for example `\"{default_address}:8080\"`")),
        );
    }
    parsed
}

pub(crate) fn lower_smoke(ctx: &mut Ctx, decl: &ResourceDecl) -> Option<SmokeScenario> {
    if let Some(scope) = decl.scopes.first() {
        ctx.report(
            Diagnostic::new(codes::INVALID_SCOPE, scope.span(), "a smoke scenario has no scope")
                .with_help("name the proxy it runs against with `proxy NAME` in its body"),
        );
    }
    let mut ok = true;
    let mut proxy = None;
    let mut plugin: Option<(String, Span)> = None;
    let mut properties: Vec<(String, PropertyValue)> = Vec::new();
    let mut call_responses = Vec::new();
    let mut plugin_only: Option<Span> = None;
    let mut requests = Vec::new();
    let mut expect = Vec::new();
    let mut fresh_envoy = false;
    for stmt in &decl.body {
        match &stmt.kind {
            StmtKind::Setting { key, value } if key.name == "plugin" => match &value.kind {
                ValueKind::Path(path) if path.segments.len() == 1 => {
                    plugin = Some((path.segments[0].name.clone(), path.span))
                }
                _ => match string_value(ctx, value) {
                    Some(name) => plugin = Some((name, value.span)),
                    None => ok = false,
                },
            },
            StmtKind::Section { key, body } if key.name == "properties" => {
                plugin_only.get_or_insert(key.span);
                ok &= test_properties(ctx, body, &mut properties);
            }
            StmtKind::Section { key, body } if key.name == "call_response" => {
                plugin_only.get_or_insert(key.span);
                match call_response(ctx, body, stmt.span) {
                    Some(response) => call_responses.push(response),
                    None => ok = false,
                }
            }
            StmtKind::Setting { key, value } if key.name == "fresh_envoy" => match bool_value(ctx, value) {
                Some(fresh) => fresh_envoy = fresh,
                None => ok = false,
            },
            StmtKind::Setting { key, value } if key.name == "proxy" => match &value.kind {
                ValueKind::Path(path) if path.segments.len() == 1 => {
                    proxy = Some((path.segments[0].name.clone(), path.span))
                }
                _ => match string_value(ctx, value) {
                    Some(name) => proxy = Some((name, value.span)),
                    None => ok = false,
                },
            },
            StmtKind::Section { key, body } if key.name == "request" => match request(ctx, body, stmt.span) {
                Some(request) => requests.push(request),
                None => ok = false,
            },
            StmtKind::Section { key, body } if key.name == "expect" => {
                ok &= expectations(ctx, body, SCENARIO_EXPECTATIONS, "a scenario's `expect`", &mut expect)
            }
            StmtKind::Setting { key, .. } | StmtKind::Section { key, .. } => {
                if ["request", "expect", "properties", "call_response"].contains(&key.name.as_str()) {
                    ctx.report(
                        Diagnostic::new(codes::TYPE_MISMATCH, key.span, format!("`{}` takes a block", key.name))
                            .with_help(format!("write `{} {{ ... }}`", key.name)),
                    );
                } else if SMOKE_SETTINGS.contains(&key.name.as_str()) {
                    ctx.report(
                        Diagnostic::new(
                            codes::TYPE_MISMATCH,
                            key.span,
                            format!("`{}` takes a value, not a block", key.name),
                        )
                        .with_help(format!("write `{} VALUE`", key.name)),
                    );
                } else {
                    ctx.report(unknown_setting(key, SMOKE_SETTINGS, "a smoke scenario"));
                }
                ok = false;
            }
            StmtKind::Error => ok = false,
            _ => {
                ctx.report(misplaced_statement(stmt, "a smoke scenario"));
                ok = false;
            }
        }
    }
    let target = match (proxy, plugin) {
        (Some((_, proxy_span)), Some((_, plugin_span))) => {
            ctx.report(
                Diagnostic::new(
                    codes::SCENARIO_TWO_TARGETS,
                    plugin_span,
                    format!("the smoke scenario `{}` names both a proxy and a plugin", decl.name.name),
                )
                .with_label_message("a second target")
                .with_secondary(proxy_span, "the proxy")
                .with_help("a scenario runs against a proxy (everything the package applies to it) or against one plugin alone; write two scenarios"),
            );
            return None;
        }
        (Some((name, _)), None) => {
            if let Some(span) = plugin_only {
                ctx.report(
                    Diagnostic::new(
                        codes::NOT_FOR_THIS_SCENARIO,
                        span,
                        "only a plugin's scenario sets properties and answers http calls",
                    )
                    .with_note("in a proxy's scenario the real Envoy decides the properties and makes the calls")
                    .with_help("run the plugin alone with `plugin NAME` instead of `proxy NAME`"),
                );
                return None;
            }
            ScenarioTarget::Proxy(name)
        }
        (None, Some((declaration, span))) => ScenarioTarget::Plugin(PluginUnderTest {
            declaration,
            namespace: String::new(),
            name: String::new(),
            properties,
            call_responses,
            span,
        }),
        (None, None) => {
            if !has_broken_statements(&decl.body) {
                ctx.report(
                    Diagnostic::new(
                        codes::MISSING_SETTING,
                        decl.name.span,
                        format!("the smoke scenario `{}` names no proxy or plugin", decl.name.name),
                    )
                    .with_label_message("missing `proxy` or `plugin`")
                    .with_help("add `proxy NAME`, the proxy declaration to run against, or `plugin NAME`, a wasm_plugin to test alone"),
                );
            }
            return None;
        }
    };
    if matches!(target, ScenarioTarget::Plugin(_)) {
        // The plugin runs alone, with no Telemetry: nothing writes access logs or spans.
        for expectation in &expect {
            if matches!(expectation.kind, ExpectationKind::AccessLog { .. } | ExpectationKind::Span { .. }) {
                ctx.report(
                    Diagnostic::new(
                        codes::NOT_FOR_THIS_SCENARIO,
                        expectation.span,
                        "a plugin's scenario has no access logs or spans to expect",
                    )
                    .with_note("the plugin runs alone, without the package's Telemetry")
                    .with_help("expect them in a scenario of a proxy the plugin applies to"),
                );
                ok = false;
            }
        }
    }
    if requests.is_empty() && ok {
        ctx.report(
            Diagnostic::new(
                codes::MISSING_SETTING,
                decl.name.span,
                format!("the smoke scenario `{}` sends no request", decl.name.name),
            )
            .with_label_message("no `request`")
            .with_help("add `request { path \"/\" expect { status 200 } }`"),
        );
        ok = false;
    }
    ok.then(|| SmokeScenario {
        name: decl.name.name.clone(),
        target,
        fresh_envoy,
        requests,
        expect,
        span: decl.name.span,
    })
}

/// The span of a smoke scenario's `proxy NAME` setting, to report an unknown proxy.
pub(crate) fn smoke_proxy_span(decl: &ResourceDecl) -> Option<Span> {
    decl.body.iter().find_map(|stmt| match &stmt.kind {
        StmtKind::Setting { key, value } if key.name == "proxy" => Some(value.span),
        _ => None,
    })
}

/// `properties { "source.principal": "spiffe://..." }`: attributes of `std.attributes`
/// that the plugin reads, each a value of its attribute's type. The request's and the
/// response's own come from the messages, so they cannot be set.
fn test_properties(ctx: &mut Ctx, body: &[Stmt], out: &mut Vec<(String, PropertyValue)>) -> bool {
    let mut ok = true;
    for stmt in body {
        let StmtKind::Setting { key, value } = &stmt.kind else {
            if !matches!(stmt.kind, StmtKind::Error) {
                ctx.report(wrong_statement(stmt, "`\"attribute.path\": value` pairs"));
            }
            ok = false;
            continue;
        };
        let path = key.name.as_str();
        let Some(attribute) = ctx.symbols.vocabulary.get(path) else {
            let mut diagnostic = Diagnostic::new(
                codes::UNKNOWN_ATTRIBUTE,
                key.span,
                format!("`{path}` is not an attribute `std.attributes` declares"),
            )
            .with_label_message("unknown attribute");
            let paths: Vec<&str> = ctx.symbols.vocabulary.attributes().map(|a| a.path.as_str()).collect();
            if let Some(suggestion) = crate::diagnostic::did_you_mean(path, paths.iter().copied()) {
                let text = if key.quoted { format!("\"{suggestion}\"") } else { suggestion.to_string() };
                diagnostic = diagnostic.with_did_you_mean(key.span, &text);
            }
            ctx.report(diagnostic);
            ok = false;
            continue;
        };
        if path.starts_with("request.") || path.starts_with("response.") {
            ctx.report(
                Diagnostic::new(
                    codes::TYPE_MISMATCH,
                    key.span,
                    format!("`{path}` comes from the scenario's request and response; it cannot be set"),
                )
                .with_help("set the request's path, method, headers and body in `request { ... }` instead"),
            );
            ok = false;
            continue;
        }
        let ty = attribute.ty.clone();
        let typed = match (&ty, &resolved(ctx, value).kind) {
            (CelType::String, _) => string_value(ctx, value).map(PropertyValue::String),
            (CelType::Bool, _) => bool_value(ctx, value).map(PropertyValue::Bool),
            (CelType::Int, _) => int_value(ctx, value, i64::MIN, i64::MAX, path).map(PropertyValue::Int),
            (CelType::Uint, _) => int_value(ctx, value, 0, i64::MAX, path).map(|n| PropertyValue::Uint(n as u64)),
            (CelType::Double, ValueKind::Number { value: number, .. }) => Some(PropertyValue::Double(*number)),
            (CelType::Duration, ValueKind::Duration { nanos, .. }) => match i64::try_from(*nanos) {
                Ok(nanos) => Some(PropertyValue::Duration(nanos)),
                Err(_) => {
                    ctx.report(wrong_shape(value, "a duration a 64-bit count of nanoseconds holds"));
                    None
                }
            },
            (CelType::Double | CelType::Duration, ValueKind::Error) => None,
            (CelType::Double, _) => {
                ctx.report(wrong_shape(value, "a number"));
                None
            }
            (CelType::Duration, _) => {
                ctx.report(wrong_shape(value, "a duration such as `10s` or `250ms`"));
                None
            }
            _ => {
                ctx.report(
                    Diagnostic::new(
                        codes::TYPE_MISMATCH,
                        key.span,
                        format!("`{path}` is a {}, which a test cannot set", ty.display()),
                    )
                    .with_note("a test sets properties of type string, bool, int, uint, double or duration"),
                );
                None
            }
        };
        match typed {
            Some(typed) => out.push((path.to_string(), typed)),
            None => ok = false,
        }
    }
    ok
}

/// `call_response { status 200 headers { ... } body "..." }`: the answer to the next
/// http call the plugin makes.
fn call_response(ctx: &mut Ctx, body: &[Stmt], span: Span) -> Option<CallResponse> {
    let mut ok = true;
    let mut out = CallResponse { status: 200, headers: Vec::new(), body: String::new(), span };
    for stmt in body {
        match &stmt.kind {
            StmtKind::Setting { key, value } if key.name == "status" => {
                match int_value(ctx, value, 100, 599, "a status") {
                    Some(status) => out.status = status as u16,
                    None => ok = false,
                }
            }
            StmtKind::Setting { key, value } if key.name == "body" => match string_value(ctx, value) {
                Some(body) => out.body = body,
                None => ok = false,
            },
            StmtKind::Section { key, .. } | StmtKind::Setting { key, .. } if key.name == "headers" => {
                match headers(ctx, &stmt.kind) {
                    Some(headers) => out.headers.extend(headers),
                    None => ok = false,
                }
            }
            StmtKind::Setting { key, .. } | StmtKind::Section { key, .. } => {
                ctx.report(unknown_setting(key, CALL_RESPONSE_SETTINGS, "a call response"));
                ok = false;
            }
            StmtKind::Error => ok = false,
            _ => {
                ctx.report(misplaced_statement(stmt, "a call response"));
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

fn request(ctx: &mut Ctx, body: &[Stmt], span: Span) -> Option<SmokeRequest> {
    let mut ok = true;
    let mut out = SmokeRequest {
        method: "GET".to_string(),
        path: "/".to_string(),
        headers: Vec::new(),
        body: None,
        expect: Vec::new(),
        span,
    };
    for stmt in body {
        match &stmt.kind {
            StmtKind::Setting { key, value } if key.name == "method" => {
                let word = match &value.kind {
                    ValueKind::Path(path) if path.segments.len() == 1 => Some(path.segments[0].name.clone()),
                    _ => string_value(ctx, value),
                };
                match word {
                    Some(word) if METHODS.contains(&word.to_ascii_uppercase().as_str()) => {
                        out.method = word.to_ascii_uppercase()
                    }
                    Some(word) => {
                        let mut diagnostic = Diagnostic::new(
                            codes::UNKNOWN_ENUM_VALUE,
                            value.span,
                            format!("`{word}` is not an HTTP method meshc sends"),
                        )
                        .with_note(format!("expected one of: {}", METHODS.join(", ")));
                        if let Some(suggestion) =
                            crate::diagnostic::did_you_mean(&word.to_ascii_uppercase(), METHODS.iter().copied())
                        {
                            diagnostic = diagnostic.with_did_you_mean(value.span, &format!("\"{suggestion}\""));
                        }
                        ctx.report(diagnostic);
                        ok = false;
                    }
                    None => ok = false,
                }
            }
            StmtKind::Setting { key, value } if key.name == "path" => match string_value(ctx, value) {
                Some(path) if path.starts_with('/') && !path.contains([' ', '\n', '\r']) => out.path = path,
                Some(path) => {
                    ctx.report(
                        Diagnostic::new(codes::TYPE_MISMATCH, value.span, format!("`{path}` is not a request path"))
                            .with_label_message("a path starts with `/` and has no spaces"),
                    );
                    ok = false;
                }
                None => ok = false,
            },
            StmtKind::Setting { key, value } if key.name == "body" => match string_value(ctx, value) {
                Some(body) => out.body = Some(body),
                None => ok = false,
            },
            StmtKind::Section { key, .. } | StmtKind::Setting { key, .. } if key.name == "headers" => {
                match headers(ctx, &stmt.kind) {
                    Some(headers) => out.headers.extend(headers),
                    None => ok = false,
                }
            }
            StmtKind::Section { key, body } if key.name == "expect" => {
                ok &= expectations(ctx, body, RESPONSE_EXPECTATIONS, "a request's `expect`", &mut out.expect)
            }
            StmtKind::Setting { key, .. } | StmtKind::Section { key, .. } => {
                ctx.report(unknown_setting(key, REQUEST_SETTINGS, "a request"));
                ok = false;
            }
            StmtKind::Error => ok = false,
            _ => {
                ctx.report(misplaced_statement(stmt, "a request"));
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// The headers of a request or a call response, written either way: as a block,
/// `headers { "x-a" "1" }`, or as an object value, `headers: { "x-a": "1" }`.
fn headers(ctx: &mut Ctx, kind: &StmtKind) -> Option<Vec<(String, String)>> {
    match kind {
        StmtKind::Section { body, .. } => string_map(ctx, body),
        StmtKind::Setting { value, .. } => object_strings(ctx, value),
        _ => None,
    }
}

/// `{ "x-a": "1" }` written as a block of settings.
fn string_map(ctx: &mut Ctx, body: &[Stmt]) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut ok = true;
    for stmt in body {
        match &stmt.kind {
            StmtKind::Setting { key, value } => match string_value(ctx, value) {
                Some(text) => out.push((key.name.clone(), text)),
                None => ok = false,
            },
            StmtKind::Error => ok = false,
            _ => {
                ctx.report(wrong_statement(stmt, "`\"name\": \"value\"` pairs"));
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

fn wrong_statement(stmt: &Stmt, expected: &str) -> Diagnostic {
    Diagnostic::new(codes::TYPE_MISMATCH, stmt.span, format!("expected {expected} here"))
}

/// `{ "x-a": "1" }` written as an object value.
fn object_strings(ctx: &mut Ctx, value: &Value) -> Option<Vec<(String, String)>> {
    let ValueKind::Object(entries) = &resolved(ctx, value).kind else {
        ctx.report(wrong_shape(value, "an object of strings"));
        return None;
    };
    let mut out = Vec::new();
    for entry in entries {
        out.push((entry.key.name.clone(), string_value(ctx, &entry.value)?));
    }
    Some(out)
}

/// Header expectations: `"name": "value"` for a value, `"name": true` for presence.
fn header_expectations(ctx: &mut Ctx, body: &[Stmt], upstream: bool, out: &mut Vec<Expectation>) -> bool {
    let mut ok = true;
    for stmt in body {
        let StmtKind::Setting { key, value } = &stmt.kind else {
            if !matches!(stmt.kind, StmtKind::Error) {
                ctx.report(wrong_statement(stmt, "`\"name\": \"value\"` or `\"name\": true`"));
            }
            ok = false;
            continue;
        };
        let expected = match &resolved(ctx, value).kind {
            ValueKind::Bool(true) => None,
            _ => match string_value(ctx, value) {
                Some(text) => Some(text),
                None => {
                    ok = false;
                    continue;
                }
            },
        };
        let name = key.name.to_ascii_lowercase();
        let kind = if upstream {
            ExpectationKind::UpstreamHeader { name, value: expected }
        } else {
            ExpectationKind::Header { name, value: expected }
        };
        out.push(Expectation { kind, span: stmt.span });
    }
    ok
}

/// A string or a list of strings.
fn strings(ctx: &mut Ctx, value: &Value) -> Option<Vec<String>> {
    match &resolved(ctx, value).kind {
        ValueKind::List(items) => items.iter().map(|item| string_value(ctx, item)).collect(),
        _ => Some(vec![string_value(ctx, value)?]),
    }
}

fn expectations(ctx: &mut Ctx, body: &[Stmt], allowed: &[&str], block: &str, out: &mut Vec<Expectation>) -> bool {
    let mut ok = true;
    for stmt in body {
        let span = stmt.span;
        let (key, setting, section) = match &stmt.kind {
            StmtKind::Setting { key, value } => (key, Some(value), None),
            StmtKind::Section { key, body } => (key, None, Some(body.as_slice())),
            StmtKind::Error => {
                ok = false;
                continue;
            }
            _ => {
                ctx.report(misplaced_statement(stmt, block));
                ok = false;
                continue;
            }
        };
        if !allowed.contains(&key.name.as_str()) {
            let mut diagnostic = unknown_setting(key, allowed, block);
            let other = if allowed == RESPONSE_EXPECTATIONS { SCENARIO_EXPECTATIONS } else { RESPONSE_EXPECTATIONS };
            if other.contains(&key.name.as_str()) {
                diagnostic = diagnostic.with_note(if allowed == RESPONSE_EXPECTATIONS {
                    "metrics, access logs, spans and Envoy's log are expected in the scenario's own `expect`"
                } else {
                    "status, headers and bodies are expected in a request's `expect`"
                });
            }
            ctx.report(diagnostic);
            ok = false;
            continue;
        }
        let kind = match (key.name.as_str(), setting, section) {
            ("status", Some(value), _) => {
                int_value(ctx, value, 100, 599, "a status").map(|s| ExpectationKind::Status(s as u16))
            }
            ("header" | "upstream_header", _, Some(body)) => {
                ok &= header_expectations(ctx, body, key.name == "upstream_header", out);
                continue;
            }
            ("header" | "upstream_header", Some(value), _) => {
                // `header "x-a"`: present, any value.
                for name in strings(ctx, value).unwrap_or_default() {
                    let name = name.to_ascii_lowercase();
                    let kind = if key.name == "header" {
                        ExpectationKind::Header { name, value: None }
                    } else {
                        ExpectationKind::UpstreamHeader { name, value: None }
                    };
                    out.push(Expectation { kind, span });
                }
                continue;
            }
            ("no_header" | "no_upstream_header", Some(value), _) => {
                match strings(ctx, value) {
                    Some(names) => {
                        for name in names {
                            let name = name.to_ascii_lowercase();
                            let kind = if key.name == "no_header" {
                                ExpectationKind::NoHeader { name }
                            } else {
                                ExpectationKind::NoUpstreamHeader { name }
                            };
                            out.push(Expectation { kind, span });
                        }
                    }
                    None => ok = false,
                }
                continue;
            }
            ("body_contains", Some(value), _) => string_value(ctx, value).map(ExpectationKind::BodyContains),
            ("envoy_log", Some(value), _) => string_value(ctx, value).map(ExpectationKind::EnvoyLog),
            ("no_envoy_log", Some(value), _) => string_value(ctx, value).map(ExpectationKind::NoEnvoyLog),
            ("prometheus", _, Some(body)) => metric(ctx, body, key),
            ("access_logs", _, Some(body)) => access_log(ctx, body),
            ("span", _, Some(body)) => span_expectation(ctx, body),
            (name, Some(_), None) if matches!(name, "prometheus" | "access_logs" | "span") => {
                ctx.report(
                    Diagnostic::new(codes::TYPE_MISMATCH, key.span, format!("`{name}` takes a block"))
                        .with_help(format!("write `{name} {{ ... }}`")),
                );
                None
            }
            (name, None, Some(_)) => {
                ctx.report(Diagnostic::new(
                    codes::TYPE_MISMATCH,
                    key.span,
                    format!("`{name}` takes a value, not a block"),
                ));
                None
            }
            _ => None,
        };
        match kind {
            Some(kind) => out.push(Expectation { kind, span }),
            None => ok = false,
        }
    }
    ok
}

fn metric(ctx: &mut Ctx, body: &[Stmt], key: &Key) -> Option<ExpectationKind> {
    let settings = Settings::collect(ctx, body, &["name", "labels", "equals"], "a `prometheus` expectation");
    let mut ok = true;
    let name = match settings.value(ctx, "name") {
        Some(value) => string_value(ctx, value),
        None => {
            ctx.report(
                Diagnostic::new(
                    codes::MISSING_SETTING,
                    key.span,
                    "a `prometheus` expectation needs the series' `name`",
                )
                .with_help("add `name \"istio_requests_total\"`"),
            );
            None
        }
    };
    let mut labels = Vec::new();
    match settings.stmt("labels").map(|s| &s.kind) {
        Some(StmtKind::Section { body, .. }) => match string_map(ctx, body) {
            Some(found) => labels = found,
            None => ok = false,
        },
        Some(StmtKind::Setting { value, .. }) => match object_strings(ctx, value) {
            Some(found) => labels = found,
            None => ok = false,
        },
        _ => {}
    }
    let value = match settings.value(ctx, "equals") {
        Some(value) => match &resolved(ctx, value).kind {
            ValueKind::Number { value: number, .. } => Some(*number),
            _ => {
                ctx.report(wrong_shape(value, "a number"));
                ok = false;
                None
            }
        },
        None => None,
    };
    let name = name?;
    ok.then_some(ExpectationKind::Metric { name, labels, value })
}

fn access_log(ctx: &mut Ctx, body: &[Stmt]) -> Option<ExpectationKind> {
    let settings = Settings::collect(ctx, body, &["lines", "contains"], "an `access_logs` expectation");
    let lines = match settings.value(ctx, "lines") {
        Some(value) => Some(int_value(ctx, value, 0, 100_000, "a number of lines")? as usize),
        None => None,
    };
    let contains = match settings.value(ctx, "contains") {
        Some(value) => strings(ctx, value)?,
        None => Vec::new(),
    };
    Some(ExpectationKind::AccessLog { lines, contains })
}

fn span_expectation(ctx: &mut Ctx, body: &[Stmt]) -> Option<ExpectationKind> {
    let settings = Settings::collect(ctx, body, &["count", "name", "tags"], "a span expectation");
    let count = match settings.value(ctx, "count") {
        Some(value) => Some(int_value(ctx, value, 0, 100_000, "a number of spans")? as usize),
        None => None,
    };
    let name = match settings.value(ctx, "name") {
        Some(value) => Some(string_value(ctx, value)?),
        None => None,
    };
    let tags = match settings.stmt("tags").map(|s| &s.kind) {
        Some(StmtKind::Section { body, .. }) => string_map(ctx, body)?,
        Some(StmtKind::Setting { value, .. }) => object_strings(ctx, value)?,
        _ => Vec::new(),
    };
    Some(ExpectationKind::Span { count, name, tags })
}
