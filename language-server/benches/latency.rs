//! Latency of the language server on a package whose one file has 5,000 lines.
//!
//! Two parts: criterion measures the compiler calls behind each request in process
//! (analysis after an edit, completion, hover); then the real server binary is driven
//! over stdio as an editor does, and the p95 of the round trips (edit to published
//! diagnostics, completion, hover) and the server's peak memory are printed.
//!
//! `cargo bench -p meshc-language-server --bench latency`

use criterion::{Criterion, criterion_group};
use meshc_compiler::driver::analyze;
use meshc_compiler::ide;
use meshc_compiler::source::{SourceDb, SourceKind};
use meshc_compiler::span::FileId;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

/// The generated package with all its workloads in one file of at least 5,000 lines.
fn package() -> Vec<(String, String)> {
    let files = meshc_tests::large::large_package(250, 1);
    let lines = files.iter().find(|(p, _)| p.starts_with("teams/")).map(|(_, t)| t.lines().count()).unwrap_or(0);
    assert!(lines >= 5000, "the big file has {lines} lines");
    files
}

fn big_file(files: &[(String, String)]) -> (String, String) {
    files.iter().find(|(p, _)| p.starts_with("teams/")).cloned().unwrap()
}

fn db_of(files: &[(String, String)]) -> (SourceDb, FileId) {
    let mut db = SourceDb::with_stdlib();
    let mut big = FileId(0);
    for (path, text) in files {
        let kind = if path == "mesh.toml" { SourceKind::Manifest } else { SourceKind::Package };
        let id = db.add(path.clone(), text.clone(), kind);
        if kind == SourceKind::Package {
            db.set_module(id, path.trim_end_matches(".mesh").replace('/', "."));
        }
        if path.starts_with("teams/") {
            big = id;
        }
    }
    (db, big)
}

/// Cursor offsets in the big file: inside the last Lua message, after the last
/// `request.`, and on the last `connect_timeout`.
fn cursors(text: &str) -> (u32, u32, u32) {
    let envoy = text.rfind("      default_source_code").unwrap() as u32;
    let attribute = (text.rfind("request.url_path").unwrap() + "request.".len()) as u32;
    let hover = (text.rfind("connect_timeout").unwrap() + 3) as u32;
    (envoy, attribute, hover)
}

fn in_process(c: &mut Criterion) {
    let files = package();
    let (mut db, big) = db_of(&files);
    let text = db.text(big).to_string();
    let analysis = analyze(&db, &meshc_compiler::driver::NoAssets);
    let (envoy, attribute, hover) = cursors(&text);
    let mut group = c.benchmark_group("5000_lines");
    group.sample_size(20);
    group.bench_function("analysis_after_an_edit", |b| {
        let mut flip = false;
        b.iter(|| {
            flip = !flip;
            let edited = if flip { text.replacen("sampling 1%", "sampling 2%", 1) } else { text.clone() };
            db.set_text(big, edited);
            analyze(&db, &meshc_compiler::driver::NoAssets).diagnostics.len()
        })
    });
    db.set_text(big, text.clone());
    group.sample_size(100);
    group.bench_function("completion_envoy_fields", |b| b.iter(|| ide::completions(&analysis, &db, big, envoy).len()));
    group
        .bench_function("completion_attributes", |b| b.iter(|| ide::completions(&analysis, &db, big, attribute).len()));
    group.bench_function("hover_envoy_field", |b| b.iter(|| ide::hover(&analysis, &db, big, hover).is_some()));
    group.finish();
}

criterion_group!(benches, in_process);

// ---------------------------------------------------------------------------
// Over stdio, against the server binary

struct Client {
    stdin: std::process::ChildStdin,
    messages: std::sync::mpsc::Receiver<Value>,
    next_id: i64,
}

impl Client {
    fn send(&mut self, message: Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        loop {
            let message = self.messages.recv_timeout(Duration::from_secs(60)).expect("a response");
            if message["id"] == id {
                assert!(message.get("error").is_none(), "{message}");
                return message;
            }
        }
    }

    fn wait_diagnostics(&mut self, version: i64) {
        loop {
            let message = self.messages.recv_timeout(Duration::from_secs(60)).expect("diagnostics");
            if message["method"] == "textDocument/publishDiagnostics" && message["params"]["version"] == version {
                return;
            }
        }
    }
}

fn p95(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[(samples.len() * 95).div_ceil(100) - 1]
}

fn over_stdio() {
    let files = package();
    let root = std::env::temp_dir().join(format!("meshc-ls-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for (path, text) in &files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let (path, text) = big_file(&files);
    let path: PathBuf = root.join(path).canonicalize().unwrap();
    let uri = format!("file://{}", path.display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_meshc-language-server"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let stdout = child.stdout.take().unwrap();
    let (sender, messages) = channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        loop {
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                if line.trim().is_empty() {
                    break;
                }
                if let Some(v) = line.trim().strip_prefix("Content-Length: ") {
                    length = v.parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            if sender.send(serde_json::from_slice::<Value>(&body).unwrap()).is_err() {
                return;
            }
        }
    });
    let mut client = Client { stdin: child.stdin.take().unwrap(), messages, next_id: 1 };
    client.request("initialize", json!({ "processId": null, "capabilities": {} }));
    client.send(json!({ "jsonrpc": "2.0", "method": "initialized", "params": {} }));
    client.send(json!({ "jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
        "textDocument": { "uri": uri, "languageId": "mesh", "version": 1, "text": text } } }));
    client.wait_diagnostics(1);

    let line_of = |offset: usize| text[..offset].matches('\n').count();
    let column_of = |offset: usize| offset - text[..offset].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let (envoy, attribute, hover) = cursors(&text);
    let position = |offset: u32| json!({ "line": line_of(offset as usize), "character": column_of(offset as usize) });
    let edit_at = text.find("sampling 1%").unwrap() + "sampling ".len();

    let rounds = 60;
    let mut edits = Vec::new();
    let mut completions = Vec::new();
    let mut hovers = Vec::new();
    for round in 0..rounds {
        let version = round as i64 + 2;
        let digit = ((round % 9) + 1).to_string();
        let start = Instant::now();
        client.send(json!({ "jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
            "textDocument": { "uri": uri, "version": version },
            "contentChanges": [{ "range": { "start": position(edit_at as u32), "end": position(edit_at as u32 + 1) }, "text": digit }] } }));
        client.wait_diagnostics(version);
        edits.push(start.elapsed());
        for offset in [envoy, attribute] {
            let start = Instant::now();
            client.request(
                "textDocument/completion",
                json!({ "textDocument": { "uri": uri }, "position": position(offset) }),
            );
            completions.push(start.elapsed());
        }
        let start = Instant::now();
        client.request("textDocument/hover", json!({ "textDocument": { "uri": uri }, "position": position(hover) }));
        hovers.push(start.elapsed());
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let peak = status.lines().find(|l| l.starts_with("VmHWM")).unwrap_or("VmHWM: unknown").to_string();
    println!("over stdio, {} lines, {rounds} rounds:", text.lines().count());
    println!("  edit to published diagnostics  p95 {:?} (includes the {} ms pause)", p95(edits), 30);
    println!("  completion                     p95 {:?}", p95(completions));
    println!("  hover                          p95 {:?}", p95(hovers));
    println!("  server peak memory             {}", peak.split_whitespace().skip(1).collect::<Vec<_>>().join(" "));
    client.request("shutdown", Value::Null);
    client.send(json!({ "jsonrpc": "2.0", "method": "exit" }));
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&root);
}

fn main() {
    over_stdio();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
