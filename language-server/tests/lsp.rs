//! The language server driven over stdio exactly as an editor drives it: JSON-RPC
//! with Content-Length framing, against the built binary. Answers are snapshot drawn
//! over the source text (`↑` at the cursor, `^^^` under each returned range).

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(60);

const MANIFEST: &str = r#"[package]
name = "shop"
istio = ["1.28", "1.30"]

[providers]
zipkin = { kind = "zipkin", service = "zipkin.istio-system.svc.cluster.local", port = 9411 }
"#;

// ---------------------------------------------------------------------------
// The editor side

struct Editor {
    child: Child,
    stdin: ChildStdin,
    messages: Receiver<Value>,
    /// Notifications received while waiting for responses.
    notifications: Vec<Value>,
    next_id: i64,
    root: PathBuf,
}

impl Editor {
    /// Starts the server on a fresh package directory holding `files`.
    fn start(files: &[(&str, &str)]) -> Editor {
        Editor::start_with(Command::new(env!("CARGO_BIN_EXE_meshc-language-server")), files)
    }

    /// Starts the server with `command` (the server binary, or `meshc lsp`).
    fn start_with(mut command: Command, files: &[(&str, &str)]) -> Editor {
        let root = temp_package(files);
        let mut child = command
            .env("MESHC_LANGUAGE_SERVER_TEST", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the server starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, messages) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut length = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(value) = line.strip_prefix("Content-Length: ") {
                        length = value.parse::<usize>().ok();
                    }
                }
                let mut body = vec![0; length.expect("a Content-Length header")];
                reader.read_exact(&mut body).expect("a whole message");
                if sender.send(serde_json::from_slice(&body).expect("JSON")).is_err() {
                    return;
                }
            }
        });
        let mut editor = Editor { child, stdin, messages, notifications: Vec::new(), next_id: 1, root };
        let root_uri = editor.uri("");
        let init = editor.request("initialize", json!({ "processId": null, "rootUri": root_uri, "capabilities": {} }));
        assert!(init["result"]["capabilities"]["completionProvider"].is_object(), "{init}");
        editor.notify("initialized", json!({}));
        editor
    }

    fn uri(&self, file: &str) -> String {
        let root = self.root.canonicalize().unwrap();
        format!("file://{}", if file.is_empty() { root } else { root.join(file) }.display())
    }

    fn send(&mut self, message: &Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// Sends a request and returns the whole response (`result` or `error`).
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        self.response(id)
    }

    fn response(&mut self, id: i64) -> Value {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let message = self.receive(deadline).unwrap_or_else(|| panic!("no response to request {id}"));
            if message.get("id") == Some(&json!(id)) && message.get("method").is_none() {
                return message;
            }
            if message.get("method").is_some() && message.get("id").is_some() {
                // A request from the server (none expected): answer it so it does not wait.
                let reply = json!({ "jsonrpc": "2.0", "id": message["id"], "result": null });
                self.send(&reply);
                continue;
            }
            self.notifications.push(message);
        }
    }

    fn receive(&mut self, deadline: Instant) -> Option<Value> {
        self.messages.recv_timeout(deadline.saturating_duration_since(Instant::now())).ok()
    }

    /// The next diagnostics published for `file` (at `version` if given), consuming
    /// earlier ones.
    /// The diagnostics published for `file` once they satisfy `done`, skipping earlier
    /// publications (an analysis that ran before the last edit arrived).
    fn diagnostics_until(&mut self, file: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let found = self.diagnostics(file, None);
            if done(&found) {
                return found;
            }
            assert!(Instant::now() < deadline, "the diagnostics of {file} never settled: {found:?}");
        }
    }

    fn diagnostics(&mut self, file: &str, version: Option<i64>) -> Vec<Value> {
        let uri = self.uri(file);
        let deadline = Instant::now() + TIMEOUT;
        let matches = |m: &Value| {
            m["method"] == "textDocument/publishDiagnostics"
                && m["params"]["uri"] == uri.as_str()
                && version.is_none_or(|v| m["params"]["version"] == v)
        };
        loop {
            if let Some(index) = self.notifications.iter().position(matches) {
                let found = self.notifications.remove(index);
                self.notifications.retain(|m| {
                    !(m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri.as_str())
                });
                return found["params"]["diagnostics"].as_array().cloned().unwrap_or_default();
            }
            let message = self.receive(deadline).unwrap_or_else(|| panic!("no diagnostics for {file} at {version:?}"));
            self.notifications.push(message);
        }
    }

    fn open(&mut self, file: &str, text: &str) {
        let uri = self.uri(file);
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": "mesh", "version": 1, "text": text } }),
        );
    }

    fn change_all(&mut self, file: &str, version: i64, text: &str) {
        let uri = self.uri(file);
        self.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": uri, "version": version }, "contentChanges": [{ "text": text }] }),
        );
    }

    /// A position request at the `$0` of `source`.
    fn at(&mut self, method: &str, file: &str, source: &str, extra: Value) -> Value {
        let (line, character) = cursor(source);
        let mut params =
            json!({ "textDocument": { "uri": self.uri(file) }, "position": { "line": line, "character": character } });
        if let (Some(params), Some(extra)) = (params.as_object_mut(), extra.as_object()) {
            params.extend(extra.clone());
        }
        self.request(method, params)
    }

    fn shutdown(mut self) {
        let response = self.request("shutdown", Value::Null);
        assert!(response.get("error").is_none(), "{response}");
        self.notify("exit", Value::Null);
        // The server's exit closes its stdout, which ends the reader thread and with it
        // the channel: wait for that event, then for the process.
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match self.messages.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(_) => continue,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("the server did not exit"),
            }
        }
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the server exits cleanly: {status}");
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

impl Drop for Editor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn temp_package(files: &[(&str, &str)]) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let root = std::env::temp_dir().join(format!("meshc-ls-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    for (path, text) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    root
}

/// The zero-based line and UTF-16 column of `$0`.
fn cursor(source: &str) -> (u32, u32) {
    let offset = source.find("$0").expect("a $0 cursor");
    let before = &source[..offset];
    let line = before.matches('\n').count() as u32;
    let column = before[before.rfind('\n').map(|i| i + 1).unwrap_or(0)..].encode_utf16().count() as u32;
    (line, column)
}

fn text(source: &str) -> String {
    source.replacen("$0", "", 1)
}

// ---------------------------------------------------------------------------
// Drawing answers over the source

/// `source` with a line under each line that a range touches: `^` under the range,
/// then its label; `↑` under the cursor when `cursor` is given.
fn draw(source: &str, cursor: Option<(u32, u32)>, ranges: &[(Value, String)]) -> String {
    let mut out = String::new();
    for (index, line) in source.lines().enumerate() {
        let index = index as u32;
        out.push_str(line);
        out.push('\n');
        if let Some((l, c)) = cursor
            && l == index
        {
            out.push_str(&format!("{}↑\n", " ".repeat(c as usize)));
        }
        for (range, label) in ranges {
            let (start, end) = (&range["start"], &range["end"]);
            let (sl, sc) = (start["line"].as_u64().unwrap() as u32, start["character"].as_u64().unwrap() as usize);
            let (el, ec) = (end["line"].as_u64().unwrap() as u32, end["character"].as_u64().unwrap() as usize);
            if sl > index || el < index {
                continue;
            }
            let from = if sl == index { sc } else { 0 };
            let to = if el == index { ec } else { line.encode_utf16().count() };
            let marks = "^".repeat(to.saturating_sub(from).max(1));
            out.push_str(&format!("{}{marks} {label}\n", " ".repeat(from)));
        }
    }
    out
}

fn diagnostic_lines(diagnostics: &[Value]) -> Vec<(Value, String)> {
    diagnostics
        .iter()
        .map(|d| {
            let first = d["message"].as_str().unwrap_or("").lines().next().unwrap_or("").to_string();
            (d["range"].clone(), format!("{} {}", d["code"].as_str().unwrap_or(""), first))
        })
        .collect()
}

fn completion_labels(response: &Value) -> Vec<String> {
    response["result"]["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| match i["detail"].as_str() {
                    Some(detail) => format!("{} — {detail}", i["label"].as_str().unwrap()),
                    None => i["label"].as_str().unwrap().to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Tests

const PLUGIN: &str = r#"package shop

/// The headers the plugin adds.
schema HeaderConfig {
  header_name: string
  header_value: string
}

/// The checkout workloads.
let checkout = { app: "checkout" }

wasm_plugin headers for workload checkout in namespace "shop" {
  url "oci://ghcr.io/shop/headers@sha256:4c7e9c5f0c6b1f1e3c1f6d1f0a8b9e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7"
  phase autn
  config HeaderConfig { header_name: "x-shop", header_value: "1" }
}

telemetry checkout_tracing for workload checkout in namespace "shop" {
  tracing zipkin {
    sampling 5%
  }
}
"#;

#[test]
fn diagnostics_are_published_on_open_and_cleared_when_fixed() {
    let mut editor = Editor::start(&[("mesh.toml", MANIFEST), ("main.mesh", PLUGIN)]);
    editor.open("main.mesh", PLUGIN);
    let diagnostics = editor.diagnostics("main.mesh", Some(1));
    insta::assert_snapshot!("diagnostics_on_open", draw(PLUGIN, None, &diagnostic_lines(&diagnostics)));

    let actions = editor.request(
        "textDocument/codeAction",
        json!({
            "textDocument": { "uri": editor.uri("main.mesh") },
            "range": diagnostics[0]["range"],
            "context": { "diagnostics": [] }
        }),
    );
    let action = &actions["result"][0];
    let edits = action["edit"]["changes"][editor.uri("main.mesh")].as_array().unwrap().clone();
    let drawn: Vec<(Value, String)> = edits
        .iter()
        .map(|e| (e["range"].clone(), format!("{} → {}", action["title"].as_str().unwrap(), e["newText"])))
        .collect();
    insta::assert_snapshot!("code_action_did_you_mean", draw(PLUGIN, None, &drawn));

    let fixed = PLUGIN.replace("phase autn", "phase authn");
    editor.change_all("main.mesh", 2, &fixed);
    assert_eq!(editor.diagnostics("main.mesh", Some(2)), Vec::<Value>::new());
    editor.shutdown();
}

/// The editor runs the same pipeline as `meshc check`, raw Envoy target included:
/// what a proxy's bootstrap cannot carry is a warning at the statement, as you type.
#[test]
fn bootstrap_diagnostics_reach_the_editor() {
    let source = "package shop\n\nproxy api for workload { app: \"api\" } in namespace \"shop\" {\n  upstream \"127.0.0.1:9000\"\n}\n\nwasm_plugin remote for workload { app: \"api\" } in namespace \"shop\" {\n  url \"oci://ghcr.io/example/plugin@sha256:4c7e9c5f0c6b1f1e3c1f6d1f0a8b9e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7\"\n}\n";
    let mut editor = Editor::start(&[("mesh.toml", MANIFEST), ("main.mesh", source)]);
    editor.open("main.mesh", source);
    let diagnostics = editor.diagnostics("main.mesh", Some(1));
    let warning = diagnostics.iter().find(|d| d["code"] == "W0601").unwrap_or_else(|| panic!("{diagnostics:?}"));
    assert_eq!(warning["range"]["start"], json!({ "line": 7, "character": 6 }), "{warning}");
    editor.shutdown();
}

#[test]
fn completion_offers_what_fits_the_cursor() {
    let cases = [
        ("phase", "package shop\nwasm_plugin p mesh {\n  phase $0\n}\n"),
        ("provider", "package shop\ntelemetry t mesh {\n  tracing $0\n}\n"),
        ("attribute", "package shop\ntelemetry t mesh {\n  access_log envoy when source.$0\n}\n"),
        ("import", "package shop\nimport std.$0\n"),
        (
            "envoy_field",
            "package shop\nenvoy_filter f mesh {\n  patch cluster {\n    value { circuit_breakers: { thresholds: [{ max_re$0 }] } }\n  }\n}\n",
        ),
        (
            "envoy_enum",
            "package shop\nenvoy_filter f mesh {\n  patch cluster {\n    value { dns_lookup_family: $0 }\n  }\n}\n",
        ),
        (
            "schema_field",
            "package shop\nschema H {\n  /// doc\n  name: string\n  ttl?: int\n}\nwasm_plugin p mesh {\n  config H { $0 }\n}\n",
        ),
    ];
    let mut editor = Editor::start(&[("mesh.toml", MANIFEST), ("main.mesh", "package shop\n")]);
    editor.open("main.mesh", "package shop\n");
    editor.diagnostics("main.mesh", Some(1));
    let mut out = String::new();
    for (version, (name, source)) in cases.iter().enumerate() {
        editor.change_all("main.mesh", version as i64 + 2, &text(source));
        // As in an editor after a pause: the analysis of this text is done (completion
        // never waits for it, and would otherwise use the previous one's names).
        editor.diagnostics("main.mesh", Some(version as i64 + 2));
        let response = editor.at("textDocument/completion", "main.mesh", source, json!({}));
        assert!(response.get("error").is_none(), "{response}");
        let mut labels = completion_labels(&response);
        labels.sort();
        let shown: Vec<&String> =
            labels.iter().filter(|l| !name.starts_with("envoy_field") || l.starts_with("max_re")).collect();
        out.push_str(&format!(
            "== {name}\n{}{}\n",
            draw(&text(source), Some(cursor(source)), &[]),
            shown.iter().map(|l| format!("  {l}\n")).collect::<String>()
        ));
    }
    insta::assert_snapshot!("completions", out);
    editor.shutdown();
}

#[test]
fn hover_describes_envoy_fields_istio_values_attributes_and_declarations() {
    let cases = [
        (
            "envoy_field",
            "package shop\nenvoy_filter f mesh {\n  patch cluster {\n    value { connect_ti$0meout: 2s }\n  }\n}\n",
        ),
        (
            "deprecated_field",
            "package shop\nenvoy_filter f mesh {\n  insert http_filter first {\n    envoy.extensions.filters.http.lua.v3.Lua { inline_co$0de: \"x\" }\n  }\n}\n",
        ),
        ("istio_value", "package shop\nwasm_plugin p mesh {\n  phase au$0thz\n}\n"),
        ("attribute", "package shop\ntelemetry t mesh {\n  access_log envoy when response.co$0de >= 500\n}\n"),
        (
            "declaration",
            "package shop\n/// The checkout workloads.\nlet checkout = { app: \"checkout\" }\ntelemetry t for workload check$0out in namespace \"x\" {\n}\n",
        ),
    ];
    let mut editor = Editor::start(&[("mesh.toml", MANIFEST), ("main.mesh", "package shop\n")]);
    editor.open("main.mesh", "package shop\n");
    let mut out = String::new();
    for (version, (name, source)) in cases.iter().enumerate() {
        editor.change_all("main.mesh", version as i64 + 2, &text(source));
        let response = editor.at("textDocument/hover", "main.mesh", source, json!({}));
        let result = &response["result"];
        let drawn = draw(&text(source), Some(cursor(source)), &[(result["range"].clone(), "hover".to_string())]);
        out.push_str(&format!("== {name}\n{drawn}{}\n\n", result["contents"]["value"].as_str().unwrap_or("(none)")));
    }
    insta::assert_snapshot!("hovers", out);
    editor.shutdown();
}

/// Hovering a selector shows what the selected workloads get, as `meshc explain
/// --workload` prints it.
#[test]
fn hovering_a_selector_explains_the_workload() {
    let source = "package shop\n\nwasm_plugin headers for workload { app: \"check$0out\" } in namespace \"shop\" {\n  url \"oci://ghcr.io/shop/headers@sha256:4c7e9c5f0c6b1f1e3c1f6d1f0a8b9e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7\"\n  phase authn\n}\n";
    let mut editor = Editor::start(&[("mesh.toml", MANIFEST), ("main.mesh", &text(source))]);
    editor.open("main.mesh", &text(source));
    editor.diagnostics("main.mesh", Some(1));
    let response = editor.at("textDocument/hover", "main.mesh", source, json!({}));
    let value = response["result"]["contents"]["value"].as_str().unwrap_or_default().to_string();
    assert!(value.contains("meshc explain --workload shop/app=checkout"), "{response}");
    assert!(value.contains("AUTHN              shop/headers"), "{value}");
    assert_eq!(response["result"]["range"]["start"], json!({ "line": 2, "character": 20 }), "{response}");
    editor.shutdown();
}

#[test]
fn definition_references_and_rename_work_across_the_package() {
    let labels = "package shop\n\n/// The checkout workloads.\nlet checkout = { app: \"checkout\" }\n";
    let main = "package shop\n\ntelemetry a for workload check$0out in namespace \"a\" {\n}\n\ntelemetry b for workload checkout in namespace \"b\" {\n}\n";
    let mut editor = Editor::start(&[("mesh.toml", MANIFEST), ("labels.mesh", labels), ("main.mesh", &text(main))]);
    editor.open("main.mesh", &text(main));
    editor.diagnostics("main.mesh", Some(1));

    let definition = editor.at("textDocument/definition", "main.mesh", main, json!({}));
    assert_eq!(definition["result"]["uri"], editor.uri("labels.mesh"));
    let mut out = format!(
        "== definition\n{}",
        draw(labels, None, &[(definition["result"]["range"].clone(), "definition".into())])
    );

    let references =
        editor.at("textDocument/references", "main.mesh", main, json!({ "context": { "includeDeclaration": true } }));
    let locations = references["result"].as_array().unwrap();
    assert_eq!(locations.len(), 3);
    let in_main: Vec<(Value, String)> = locations
        .iter()
        .filter(|l| l["uri"] == editor.uri("main.mesh"))
        .map(|l| (l["range"].clone(), "reference".to_string()))
        .collect();
    out.push_str(&format!("== references\n{}", draw(&text(main), Some(cursor(main)), &in_main)));

    let rename = editor.at("textDocument/rename", "main.mesh", main, json!({ "newName": "cart" }));
    let changes = &rename["result"]["changes"];
    for (file, source) in [("labels.mesh", labels.to_string()), ("main.mesh", text(main))] {
        let edits: Vec<(Value, String)> = changes[editor.uri(file)]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["range"].clone(), format!("→ {}", e["newText"].as_str().unwrap())))
            .collect();
        out.push_str(&format!("== rename in {file}\n{}", draw(&source, None, &edits)));
    }
    let bad = editor.at("textDocument/rename", "main.mesh", main, json!({ "newName": "match" }));
    assert!(bad["error"]["message"].as_str().unwrap().contains("keyword"), "{bad}");
    insta::assert_snapshot!("navigation", out);
    editor.shutdown();
}

#[test]
fn formatting_symbols_tokens_and_folding_describe_the_file() {
    let messy = "package shop\ntelemetry   t mesh {\n// tracing for all\n  tracing zipkin { sampling 5% }\n    access_log envoy when response.code >= 500\n}\n";
    let mut editor = Editor::start(&[("mesh.toml", MANIFEST), ("main.mesh", messy)]);
    editor.open("main.mesh", messy);
    let uri = editor.uri("main.mesh");
    let formatting = editor.request(
        "textDocument/formatting",
        json!({ "textDocument": { "uri": uri }, "options": { "tabSize": 2, "insertSpaces": true } }),
    );
    let edit = &formatting["result"][0];
    let mut out = format!("== formatting\n{}", edit["newText"].as_str().unwrap());

    let symbols = editor.request("textDocument/documentSymbol", json!({ "textDocument": { "uri": uri } }));
    fn outline(symbols: &Value, depth: usize, out: &mut String) {
        for s in symbols.as_array().into_iter().flatten() {
            let range = &s["range"];
            out.push_str(&format!(
                "{}{} ({}) lines {}-{}\n",
                "  ".repeat(depth),
                s["name"].as_str().unwrap(),
                s["kind"],
                range["start"]["line"],
                range["end"]["line"]
            ));
            outline(&s["children"], depth + 1, out);
        }
    }
    out.push_str("== document symbols\n");
    outline(&symbols["result"], 0, &mut out);

    let tokens = editor.request("textDocument/semanticTokens/full", json!({ "textDocument": { "uri": uri } }));
    let legend = [
        "keyword",
        "comment",
        "string",
        "number",
        "type",
        "variable",
        "property",
        "enumMember",
        "macro",
        "class",
        "namespace",
        "operator",
    ];
    let data: Vec<u64> = tokens["result"]["data"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    let (mut line, mut start) = (0u64, 0u64);
    let mut drawn = Vec::new();
    for token in data.chunks(5) {
        if token[0] > 0 {
            line += token[0];
            start = token[1];
        } else {
            start += token[1];
        }
        let range = json!({ "start": { "line": line, "character": start }, "end": { "line": line, "character": start + token[2] } });
        let modifier = if token[4] & 1 == 1 { " (declaration)" } else { "" };
        drawn.push((range, format!("{}{modifier}", legend[token[3] as usize])));
    }
    out.push_str(&format!("== semantic tokens\n{}", draw(messy, None, &drawn)));

    let folds = editor.request("textDocument/foldingRange", json!({ "textDocument": { "uri": uri } }));
    out.push_str("== folding ranges\n");
    for fold in folds["result"].as_array().unwrap() {
        out.push_str(&format!(
            "lines {}-{} {}\n",
            fold["startLine"],
            fold["endLine"],
            fold["kind"].as_str().unwrap_or("")
        ));
    }
    insta::assert_snapshot!("file_shape", out);
    editor.shutdown();
}

#[test]
fn diagnostics_cover_the_package_with_unsaved_edits_of_other_files() {
    let labels = "package shop\nlet checkout = { app: \"checkout\" }\n";
    let main = "package shop\ntelemetry t for workload checkout in namespace \"a\" {\n}\n";
    let mut editor = Editor::start(&[("mesh.toml", MANIFEST), ("labels.mesh", labels), ("main.mesh", main)]);
    editor.open("main.mesh", main);
    assert_eq!(editor.diagnostics("main.mesh", Some(1)), Vec::<Value>::new());
    // Renaming the let in the unsaved buffer of another file breaks this one.
    editor.open("labels.mesh", labels);
    editor.change_all("labels.mesh", 2, &labels.replace("checkout =", "cart ="));
    // Opening labels.mesh may publish main.mesh's (still empty) diagnostics once more
    // before the edit's analysis does: wait for the analysis that sees the edit.
    let broken = editor.diagnostics_until("main.mesh", |d| !d.is_empty());
    insta::assert_snapshot!("unsaved_edit_of_another_file", draw(main, None, &diagnostic_lines(&broken)));
    editor.change_all("labels.mesh", 3, labels);
    assert_eq!(editor.diagnostics_until("main.mesh", |d| d.is_empty()), Vec::<Value>::new());
    editor.shutdown();
}

/// Blocks left open to any depth (which once made parsing exponential) are parsed
/// at once: the diagnostics arrive, name the first unclosed `{`, and the server goes
/// on answering requests on the same document.
#[test]
fn deeply_unclosed_blocks_do_not_stall_the_server() {
    let mut source = String::from("package shop\n\nlet deep = ");
    source.push_str(&"{ a: ".repeat(40));
    source.push_str("\n\ntelemetry t in namespace \"shop\" {\n");
    source.push_str(&"  metrics prometheus {\n".repeat(20));
    let mut editor = Editor::start(&[("mesh.toml", MANIFEST), ("main.mesh", &source)]);
    editor.open("main.mesh", &source);
    let diagnostics = editor.diagnostics("main.mesh", Some(1));
    let unclosed = diagnostics
        .iter()
        .find(|d| d["message"].as_str().is_some_and(|m| m.contains("never closed")))
        .unwrap_or_else(|| panic!("{diagnostics:?}"));
    assert_eq!(unclosed["range"]["start"], json!({ "line": 2, "character": 11 }), "{unclosed}");
    let symbols =
        editor.request("textDocument/documentSymbol", json!({ "textDocument": { "uri": editor.uri("main.mesh") } }));
    assert!(symbols.get("result").is_some(), "{symbols}");
    editor.shutdown();
}

#[test]
fn a_broken_file_keeps_answering_and_bad_requests_get_errors() {
    let mut editor = Editor::start(&[("mesh.toml", MANIFEST), ("main.mesh", PLUGIN)]);
    editor.open("main.mesh", PLUGIN);
    editor.diagnostics("main.mesh", Some(1));
    // Break the schema declaration: the outline and hovers below still come from the
    // last analysis in which the file parsed.
    let broken = PLUGIN.replace("  header_value: string\n}", "  header_value: string\n  oops {{\n}");
    editor.change_all("main.mesh", 2, &broken);
    let diagnostics = editor.diagnostics("main.mesh", Some(2));
    assert!(diagnostics.iter().any(|d| d["code"] == "E0100"), "{diagnostics:?}");
    let symbols =
        editor.request("textDocument/documentSymbol", json!({ "textDocument": { "uri": editor.uri("main.mesh") } }));
    let names: Vec<&str> = symbols["result"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"HeaderConfig") && names.contains(&"checkout_tracing"), "{names:?}");
    let source = broken.replace("config HeaderConfig", "config Header$0Config");
    let hover = editor.at("textDocument/hover", "main.mesh", &source, json!({}));
    assert!(hover["result"]["contents"]["value"].as_str().unwrap_or("").contains("schema HeaderConfig"), "{hover}");

    // Malformed params, an unknown method and a panic each cost one request.
    let malformed = editor.request("textDocument/hover", json!({ "position": "nowhere" }));
    assert_eq!(malformed["error"]["code"], -32602, "{malformed}");
    let unknown = editor.request("meshc/nothing", json!({}));
    assert_eq!(unknown["error"]["code"], -32601, "{unknown}");
    let panic = editor.request("workspace/executeCommand", json!({ "command": "meshc.test.panic", "arguments": [] }));
    assert_eq!(panic["error"]["code"], -32603, "{panic}");
    assert!(panic["error"]["message"].as_str().unwrap().contains("panicked"), "{panic}");
    let still = editor.at("textDocument/hover", "main.mesh", &source, json!({}));
    assert!(still.get("result").is_some(), "{still}");

    // A body that is not JSON, and JSON that is not a message: each is answered with
    // its error code, and the server goes on answering.
    let body = br#"{"jsonrpc":"2.0","id":99,"method":"#;
    write!(editor.stdin, "Content-Length: {}\r\n\r\n", body.len()).unwrap();
    editor.stdin.write_all(body).unwrap();
    editor.stdin.flush().unwrap();
    let deadline = Instant::now() + TIMEOUT;
    let parse_error = loop {
        let message = editor.receive(deadline).expect("an answer to a body that is not JSON");
        if message.get("error").is_some() {
            break message;
        }
    };
    assert_eq!(parse_error["error"]["code"], -32700, "{parse_error}");
    editor.send(&json!({ "jsonrpc": "2.0", "id": 98 }));
    let invalid = editor.response(98);
    assert_eq!(invalid["error"]["code"], -32600, "{invalid}");
    let after = editor.at("textDocument/hover", "main.mesh", &source, json!({}));
    assert!(after.get("result").is_some(), "{after}");
    editor.shutdown();
}

/// A diagnostic's code and its start and end as (line, UTF-16 column).
type Located = (String, (u32, u32), (u32, u32));

/// Types a whole example file one character at a time, as fast as the pipe takes it,
/// asking for completions and hovers on the way; no request may fail, and the final
/// diagnostics must be those `meshc check` reports for the file.
#[test]
fn typing_an_example_character_by_character_ends_with_the_diagnostics_of_meshc_check() {
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/seed");
    let files: Vec<(String, String)> = std::fs::read_dir(&seed)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
        .collect();
    let borrowed: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    let typed = "plugins.mesh";
    let source = files.iter().find(|(p, _)| p == typed).unwrap().1.clone();
    let mut editor = Editor::start(&borrowed);
    editor.open(typed, "");
    let uri = editor.uri(typed);
    let (mut line, mut character) = (0u32, 0u32);
    let mut version = 1;
    for (index, c) in source.chars().enumerate() {
        version += 1;
        let position = json!({ "line": line, "character": character });
        editor.notify(
            "textDocument/didChange",
            json!({
                "textDocument": { "uri": uri, "version": version },
                "contentChanges": [{ "range": { "start": position, "end": position }, "text": c.to_string() }]
            }),
        );
        if c == '\n' {
            line += 1;
            character = 0;
        } else {
            character += c.len_utf16() as u32;
        }
        if index % 25 == 0 {
            let at = json!({ "textDocument": { "uri": uri }, "position": { "line": line, "character": character } });
            for method in ["textDocument/completion", "textDocument/hover"] {
                let response = editor.request(method, at.clone());
                assert!(response.get("error").is_none(), "{method} failed after {index} characters: {response}");
            }
        }
    }
    let formatted = editor.request(
        "textDocument/formatting",
        json!({ "textDocument": { "uri": uri }, "options": { "tabSize": 2, "insertSpaces": true } }),
    );
    assert!(formatted.get("error").is_none(), "{formatted}");
    let published = editor.diagnostics(typed, Some(version));

    // What `meshc check` says about the same package, converted the same way.
    let loaded = meshc_host::package::load(&editor.root.canonicalize().unwrap(), None).unwrap();
    let analysis = loaded.analyze();
    let file = loaded.db.iter().find(|(_, f)| f.path.ends_with(typed)).map(|(id, _)| id).unwrap();
    let expected: Vec<Located> = analysis
        .user_diagnostics(&loaded.db)
        .filter(|d| d.primary_span().file == file)
        .map(|d| {
            let span = d.primary_span();
            let source = loaded.db.get(file);
            let start = source.line_index.utf16_position(&source.text, span.start);
            let end = source.line_index.utf16_position(&source.text, span.end);
            (d.code.0.to_string(), start, end)
        })
        .collect();
    let got: Vec<Located> = published
        .iter()
        .map(|d| {
            let r = &d["range"];
            let pos = |p: &Value| (p["line"].as_u64().unwrap() as u32, p["character"].as_u64().unwrap() as u32);
            (d["code"].as_str().unwrap().to_string(), pos(&r["start"]), pos(&r["end"]))
        })
        .collect();
    assert!(!expected.is_empty(), "the example has a warning to compare");
    assert_eq!(got, expected);
    editor.shutdown();
}

/// An open Istio YAML file of a package is checked as `meshc check FILE.yaml` checks
/// it, with the package's settings and rules, and every position is the YAML's own
/// (UTF-16 columns after a non-ASCII comment); YAML of other kinds is left alone.
#[test]
fn open_istio_yaml_gets_the_diagnostics_of_meshc_check() {
    let rules = "package shop\n\nrule owner {\n  kinds [EnvoyFilter]\n  require has(object.metadata.annotations) && \"owner\" in object.metadata.annotations\n  message \"an EnvoyFilter names its owner\"\n}\n";
    let yaml = "# Délai des clusters\napiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nmetadata:\n  name: timeouts\n  namespace: shop\nspec:\n  workloadSelector:\n    labels: { app: shop }\n  configPatches:\n  - applyTo: CLUSTER\n    patch:\n      operation: MERGE\n      value: { conect_timeout: 1s }  # é\n";
    let workflow = "name: ci\non: [push]\njobs: {}\n";
    let mut editor = Editor::start(&[
        ("mesh.toml", MANIFEST),
        ("rules.mesh", rules),
        ("manifests/filters.yaml", yaml),
        ("manifests/ci.yaml", workflow),
    ]);
    editor.open("manifests/filters.yaml", yaml);
    let diagnostics = editor.diagnostics("manifests/filters.yaml", Some(1));
    let codes: Vec<&str> = diagnostics.iter().map(|d| d["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["E1000", "E0501"], "{diagnostics:?}");
    let unknown = &diagnostics[1];
    assert_eq!(unknown["range"]["start"], json!({ "line": 13, "character": 15 }), "{unknown}");
    assert_eq!(unknown["range"]["end"], json!({ "line": 13, "character": 29 }), "{unknown}");
    // Queries on a YAML file answer nothing rather than fail.
    let hover = editor.request(
        "textDocument/hover",
        json!({ "textDocument": { "uri": editor.uri("manifests/filters.yaml") }, "position": { "line": 2, "character": 8 } }),
    );
    assert!(hover.get("error").is_none(), "{hover}");

    // Fixed, its diagnostics are cleared.
    let fixed = yaml
        .replace("conect_timeout", "connect_timeout")
        .replace("  name: timeouts\n", "  name: timeouts\n  annotations: { owner: platform }\n");
    editor.change_all("manifests/filters.yaml", 2, &fixed);
    assert_eq!(editor.diagnostics("manifests/filters.yaml", Some(2)), Vec::<Value>::new());

    // A YAML file of no kind meshc checks gets no diagnostics at all: by the time the
    // package's next analysis is published, nothing has been said about it.
    editor.open("manifests/ci.yaml", workflow);
    editor.change_all("manifests/filters.yaml", 3, yaml);
    assert_eq!(editor.diagnostics("manifests/filters.yaml", Some(3)).len(), 2);
    let ci = editor.uri("manifests/ci.yaml");
    assert!(!editor.notifications.iter().any(|m| m["params"]["uri"] == ci.as_str()), "{:?}", editor.notifications);
    editor.shutdown();
}

/// The editor shows what `meshc check` says of a plugin's module (E1200 to E1209): here
/// a module that is Wasm but not a proxy-wasm plugin, at the `module` statement.
#[test]
fn a_plugin_module_that_is_not_proxy_wasm_is_shown_at_its_declaration() {
    let mesh = "package shop\n\nwasm_plugin adder in namespace \"shop\" {\n  url \"oci://ghcr.io/example/adder:1.0\"\n  module \"plugins/adder.wat\"\n}\n";
    let module = "(module\n  (memory (export \"memory\") 1)\n  (func (export \"add\") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1))))\n";
    let mut editor = Editor::start(&[("mesh.toml", MANIFEST), ("main.mesh", mesh), ("plugins/adder.wat", module)]);
    editor.open("main.mesh", mesh);
    let diagnostics = editor.diagnostics("main.mesh", Some(1));
    let found = diagnostics.iter().find(|d| d["code"] == "E1205").unwrap_or_else(|| panic!("{diagnostics:?}"));
    assert_eq!(found["range"]["start"], json!({ "line": 4, "character": 9 }), "{found}");
    editor.shutdown();
}
