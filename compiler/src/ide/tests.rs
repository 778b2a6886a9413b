//! Each query on a small package, with the cursor written as `$0` in the source.

use super::*;
use crate::driver::analyze;
use crate::source::{SourceDb, SourceKind};
use crate::span::FileId;

const MANIFEST: &str = r#"[package]
name = "shop"
istio = ["1.28", "1.30"]

[providers]
zipkin = { kind = "zipkin", service = "zipkin.istio-system.svc.cluster.local", port = 9411 }
"#;

const OTHER: &str = r#"package shop

/// The labels of the checkout service.
let checkout = { app: "checkout" }
"#;

/// The package with `source` as `main.mesh` and the cursor's offset.
fn package(source: &str) -> (SourceDb, Analysis, FileId, u32) {
    let offset = source.find("$0").map(|o| o as u32).unwrap_or(0);
    let text = source.replacen("$0", "", 1);
    let mut db = SourceDb::with_stdlib();
    db.add("mesh.toml", MANIFEST, SourceKind::Manifest);
    let other = db.add("other.mesh", OTHER, SourceKind::Package);
    db.set_module(other, "other");
    let file = db.add("main.mesh", text, SourceKind::Package);
    db.set_module(file, "main");
    let analysis = analyze(&db, &crate::driver::NoAssets);
    (db, analysis, file, offset)
}

fn labels(source: &str) -> Vec<String> {
    let (db, analysis, file, offset) = package(source);
    completions(&analysis, &db, file, offset).into_iter().map(|c| c.label).collect()
}

fn hover_text(source: &str) -> String {
    let (db, analysis, file, offset) = package(source);
    hover(&analysis, &db, file, offset).map(|h| h.markdown).unwrap_or_default()
}

#[test]
fn completes_declaration_keywords_at_the_top_and_modules_after_import() {
    let top = labels("package shop\n\n$0");
    assert!(top.contains(&"telemetry".to_string()) && top.contains(&"wasm_plugin".to_string()), "{top:?}");
    assert!(!top.contains(&"attribute".to_string()));
    let modules = labels("package shop\nimport $0");
    assert!(modules.contains(&"std.filters".to_string()) && modules.contains(&"shop.other".to_string()), "{modules:?}");
    assert!(!modules.contains(&"shop.main".to_string()), "a file does not import itself");
}

#[test]
fn completes_istio_enum_values_providers_and_modes() {
    let phases = labels("package shop\nwasm_plugin p mesh {\n  phase $0\n}\n");
    assert_eq!(phases, ["authn", "authz", "stats", "unspecified"]);
    let providers = labels("package shop\ntelemetry t mesh {\n  tracing $0\n}\n");
    assert_eq!(providers, ["zipkin"]);
    let modes = labels("package shop\ntelemetry t mesh {\n  metrics prometheus {\n    REQUEST_COUNT ($0\n  }\n}\n");
    assert_eq!(modes, ["client_and_server", "client", "server"]);
    let operations = labels("package shop\nenvoy_filter f mesh {\n  patch cluster {\n    operation m$0\n  }\n}\n");
    assert!(operations.contains(&"merge".to_string()), "{operations:?}");
}

#[test]
fn completes_attributes_metrics_and_labels() {
    let attributes = labels("package shop\ntelemetry t mesh {\n  access_log envoy when request.$0\n}\n");
    assert!(attributes.contains(&"request.host".to_string()), "{attributes:?}");
    assert!(attributes.iter().all(|a| a.starts_with("request.")));
    let metrics = labels("package shop\ntelemetry t mesh {\n  metrics prometheus {\n    $0\n  }\n}\n");
    assert!(metrics.contains(&"REQUEST_COUNT".to_string()) && metrics.contains(&"reporting_interval".to_string()));
    let tags = labels(
        "package shop\ntelemetry t mesh {\n  metrics prometheus {\n    REQUEST_COUNT {\n      remove tag $0\n    }\n  }\n}\n",
    );
    assert!(tags.contains(&"response_flags".to_string()), "{tags:?}");
}

#[test]
fn completes_envoy_fields_enum_values_and_type_names() {
    let lua = "package shop\nenvoy_filter f mesh {\n  insert http_filter first {\n    envoy.extensions.filters.http.lua.v3.Lua {\n      $0\n    }\n  }\n}\n";
    let fields = labels(lua);
    assert!(
        fields.contains(&"default_source_code".to_string()) && fields.contains(&"inline_code".to_string()),
        "{fields:?}"
    );
    let cluster = "package shop\nenvoy_filter f mesh {\n  patch cluster {\n    value { lb_policy: $0 }\n  }\n}\n";
    let policies = labels(cluster);
    assert!(policies.contains(&"ROUND_ROBIN".to_string()), "{policies:?}");
    let nested = "package shop\nenvoy_filter f mesh {\n  patch cluster {\n    value {\n      circuit_breakers: {\n        thresholds: [{ $0 }]\n      }\n    }\n  }\n}\n";
    assert!(labels(nested).contains(&"max_connections".to_string()));
    let types = labels(
        "package shop\nenvoy_filter f mesh {\n  insert http_filter first {\n    envoy.extensions.filters.http.lu$0\n  }\n}\n",
    );
    assert!(types.contains(&"envoy.extensions.filters.http.lua.v3.Lua".to_string()), "{types:?}");
    // `typed_config` is an `Any`: its value is a message type name.
    let typed = labels(
        "package shop\nenvoy_filter f mesh {\n  patch http_filter {\n    value { name: \"x\", typed_config: envoy.extensions.filters.http.lu$0 }\n  }\n}\n",
    );
    assert!(typed.contains(&"envoy.extensions.filters.http.lua.v3.Lua".to_string()), "{typed:?}");
    // Inside a typed `typed_config` value, the fields of that type.
    let inner = labels(
        "package shop\nenvoy_filter f mesh {\n  patch http_filter {\n    value { typed_config: envoy.extensions.filters.http.lua.v3.Lua { $0 } }\n  }\n}\n",
    );
    assert!(inner.contains(&"default_source_code".to_string()), "{inner:?}");
}

#[test]
fn hovers_envoy_fields_with_type_rules_and_deprecation() {
    let hover = hover_text(
        "package shop\nenvoy_filter f mesh {\n  patch cluster {\n    value { connect_ti$0meout: 2s }\n  }\n}\n",
    );
    assert!(hover.contains("connect_timeout: google.protobuf.Duration"), "{hover}");
    assert!(hover.contains("Validation: > 0s"), "{hover}");
    let deprecated = hover_text(
        "package shop\nenvoy_filter f mesh {\n  insert http_filter first {\n    envoy.extensions.filters.http.lua.v3.Lua { inline_co$0de: \"x\" }\n  }\n}\n",
    );
    assert!(deprecated.contains("**Deprecated**") && deprecated.contains("default_source_code"), "{deprecated}");
}

#[test]
fn hovers_attributes_metrics_settings_and_declarations() {
    assert!(
        hover_text("package shop\ntelemetry t mesh {\n  access_log envoy when request.ho$0st == \"x\"\n}\n")
            .contains("request.host: string")
    );
    assert!(hover_text("package shop\nwasm_plugin p mesh {\n  phase au$0thn\n}\n").contains("`AUTHN`"));
    let decl = hover_text("package shop\ntelemetry t for workload check$0out {\n}\n");
    assert!(decl.contains("let checkout") && decl.contains("The labels of the checkout service."), "{decl}");
}

#[test]
fn finds_definitions_references_and_renames_across_files() {
    let source = "package shop\ntelemetry a for workload checkout$0 in namespace \"x\" {\n}\ntelemetry b for workload checkout in namespace \"y\" {\n}\n";
    let (db, analysis, file, offset) = package(source);
    let definition = definition(&analysis, &db, file, offset).unwrap();
    assert_eq!(db.path(definition.file), "other.mesh");
    assert_eq!(&db.text(definition.file)[definition.range()], "checkout");
    assert_eq!(references(&analysis, &db, file, offset, true).len(), 3);
    assert_eq!(references(&analysis, &db, file, offset, false).len(), 2);
    let edits = rename(&analysis, &db, file, offset, "cart").unwrap();
    assert_eq!(edits.len(), 3);
    assert!(edits.iter().all(|e| e.new_text == "cart"));
    assert_eq!(
        rename(&analysis, &db, file, offset, "match"),
        Err(RenameError::InvalidName("`match` is a keyword".into()))
    );
    assert_eq!(rename(&analysis, &db, file, 0, "x"), Err(RenameError::NothingToRename));
}

#[test]
fn goes_from_an_import_to_its_module_and_ignores_the_manifest() {
    let (db, analysis, file, offset) = package("package shop\nimport std.filt$0ers\nlet x = filters.router\n");
    let module = definition(&analysis, &db, file, offset).expect("the module's file");
    assert_eq!(db.path(module.file), "std/filters.mesh");
    assert!(hover(&analysis, &db, file, offset).is_some_and(|h| h.markdown.contains("import std.filters")));
    let manifest = db.find("mesh.toml").unwrap();
    assert!(completions(&analysis, &db, manifest, 3).is_empty());
    assert!(hover(&analysis, &db, manifest, 3).is_none());
}

#[test]
fn offers_the_did_you_mean_of_a_diagnostic_and_rewrites_deprecated_lua_code() {
    let (db, analysis, file, offset) =
        package("package shop\nwasm_plugin p mesh {\n  url \"oci://x/y:v1\"\n  phase autn$0\n}\n");
    let actions = code_actions(&analysis, &db, file, offset, offset);
    assert!(actions.iter().any(|a| a.edits[0].new_text == "authn"), "{actions:?}");
    let lua = "package shop\nenvoy_filter f mesh {\n  insert http_filter first {\n    envoy.extensions.filters.http.lua.v3.Lua { inline$0_code: \"x\" }\n  }\n}\n";
    let (db, analysis, file, offset) = package(lua);
    let actions = code_actions(&analysis, &db, file, offset, offset);
    let rewrite = actions.iter().find(|a| a.title.contains("default_source_code")).expect("a rewrite");
    assert_eq!(rewrite.edits[0].new_text, "default_source_code: { inline_string: \"x\" }");
}

#[test]
fn outlines_folds_and_tokens_follow_the_file() {
    let source = "package shop\n\n// one\n// two\ntelemetry t mesh {\n  tracing zipkin {\n    sampling 5%\n  }\n}\n";
    let (db, analysis, file, _) = package(source);
    let symbols = document_symbols(&analysis, &db, file);
    assert_eq!(symbols.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["shop", "t"]);
    assert_eq!(symbols[1].children[0].name, "tracing zipkin");
    let folds = folding_ranges(&analysis, &db, file);
    assert_eq!(folds.iter().filter(|f| f.kind == FoldingKind::Region).count(), 2);
    assert_eq!(folds.iter().filter(|f| f.kind == FoldingKind::Comment).count(), 1);
    let tokens = semantic_tokens(&analysis, &db, file);
    assert!(tokens.windows(2).all(|w| w[0].span.end <= w[1].span.start));
    let kinds: Vec<(String, TokenKind)> = tokens.iter().map(|t| (source[t.span.range()].to_string(), t.kind)).collect();
    assert!(kinds.contains(&("telemetry".into(), TokenKind::Keyword)));
    assert!(kinds.contains(&("t".into(), TokenKind::Declaration)));
    assert!(kinds.contains(&("sampling".into(), TokenKind::Property)));
    assert!(kinds.contains(&("5%".into(), TokenKind::Number)));
}

#[test]
fn queries_survive_every_prefix_of_an_example() {
    // Typing a file from its first character: every query answers on every prefix.
    let source = include_str!("../../../examples/seed/filters.mesh");
    for end in (0..=source.len()).filter(|e| source.is_char_boundary(*e)).step_by(7) {
        let text = format!("{}$0", &source[..end]);
        let (db, analysis, file, offset) = package(&text);
        let _ = completions(&analysis, &db, file, offset);
        let _ = hover(&analysis, &db, file, offset.saturating_sub(1));
        let _ = document_symbols(&analysis, &db, file);
        let _ = semantic_tokens(&analysis, &db, file);
        let _ = folding_ranges(&analysis, &db, file);
    }
}

#[test]
fn smoke_scenarios_refer_to_their_proxy() {
    let source = "package shop\n\nproxy api for workload { app: \"api\" } in namespace \"shop\" {\n  upstream \"127.0.0.1:9000\"\n}\n\nsmoke works {\n  proxy a$0pi\n  request { path \"/\" }\n}\n";
    let (db, analysis, file, offset) = package(source);
    let text = db.text(file).to_string();
    let target = definition(&analysis, &db, file, offset).expect("the proxy is found");
    assert_eq!(&text[target.range()], "api");
    assert!(target.start < offset, "the definition is the declaration above");
    let edits = rename(&analysis, &db, file, offset, "gateway").expect("renames");
    assert_eq!(edits.len(), 2, "the declaration and the scenario: {edits:?}");
}

#[test]
fn plugin_scenarios_refer_to_their_plugin() {
    let plugin = "package shop\n\nwasm_plugin api_key for workload { app: \"api\" } in namespace \"shop\" {\n  url \"file://k.wat\"\n}\n\n";
    let (db, analysis, file, offset) =
        package(&format!("{plugin}smoke works {{\n  plugin api_$0key\n  request {{ path \"/\" }}\n}}\n"));
    let text = db.text(file).to_string();
    let target = definition(&analysis, &db, file, offset).expect("the plugin is found");
    assert_eq!(&text[target.range()], "api_key");
    assert!(target.start < offset, "the definition is the declaration above");
    assert_eq!(labels(&format!("{plugin}smoke s {{\n  plugin $0\n}}\n")), ["api_key"]);
}

#[test]
fn completes_the_settings_of_proxies_and_smoke_scenarios() {
    let proxy = "package shop\n\nproxy api for workload { app: \"api\" } in namespace \"shop\" {\n  upstream \"127.0.0.1:9000\"\n}\n\n";
    assert!(labels(&format!("{proxy}proxy other {{\n  $0\n}}\n")).contains(&"listen".to_string()));
    let scenario = |body: &str| labels(&format!("{proxy}smoke s {{\n{body}\n}}\n"));
    assert_eq!(scenario("  proxy $0"), ["api"]);
    assert!(scenario("  request {\n    method $0\n  }").contains(&"POST".to_string()));
    assert!(scenario("  request {\n    expect {\n      $0\n    }\n  }").contains(&"upstream_header".to_string()));
    assert!(scenario("  expect {\n    $0\n  }").contains(&"prometheus".to_string()));
}

#[test]
fn hovering_a_selector_explains_what_the_workloads_get() {
    let hover = hover_text(
        "package shop\nenvoy_filter lua for workload { app: \"api$0\" } in namespace \"shop\" {\n  insert http_filter before \"envoy.filters.http.router\" in sidecar_inbound {\n    envoy.extensions.filters.http.lua.v3.Lua { default_source_code: { inline_string: \"\" } }\n  }\n}\n",
    );
    assert!(hover.contains("meshc explain --workload shop/app=api"), "{hover}");
    assert!(hover.contains("HTTP filters of SIDECAR_INBOUND"), "{hover}");
    assert!(hover.contains("envoy.filters.http.lua  <- EnvoyFilter shop/lua, INSERT_BEFORE (main.mesh:3)\n    envoy.filters.http.router"), "{hover}");
}
