//! Parsing takes time linear in the input, whatever the input: random bytes,
//! punctuation, blocks and brackets left open to any depth, files cut short.
//!
//! The budget is counted, not timed: pest counts the rule calls of a parse and fails
//! it when they exceed the limit set with `pest::set_call_limit`, and a parse that
//! fails that way reports "this file could not be parsed". Each input gets a budget
//! proportional to its length, so a parse that is exponential (or quadratic) in the
//! nesting or the length fails the test on any machine, loaded or not. The limit is
//! process-wide, which is why this file is its own test binary with one test.

use meshc_compiler::span::FileId;
use std::num::NonZeroUsize;

/// Rule calls allowed per byte of input, and for any input at all. The grammar
/// needs at most about 50 per byte on the inputs below; the
/// budget leaves room for denser input without letting anything super-linear pass.
const CALLS_PER_BYTE: usize = 200;
const CALLS_BASE: usize = 20_000;

/// Parses `text` within its budget; the diagnostics say whether the budget held.
fn parses_within_budget(text: &str) -> bool {
    let budget = CALLS_BASE + CALLS_PER_BYTE * text.len();
    pest::set_call_limit(NonZeroUsize::new(budget));
    let errors = meshc_compiler::fmt::syntax_errors(FileId(0), text);
    pest::set_call_limit(None);
    !errors.iter().any(|d| d.message == "this file could not be parsed")
}

/// A small deterministic generator (xorshift), so a failure can be reproduced.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The pieces that make parsers backtrack: openers without closers, strings and
/// comments left open, keywords that start blocks, and the words between them.
const PIECES: &[&str] = &[
    "{",
    "{",
    "[",
    "(",
    "}",
    "]",
    ")",
    "\"",
    "\"\"\"",
    "lua\"\"\"",
    "/*",
    "*/",
    "//",
    "\n",
    "\n",
    " ",
    ":",
    ",",
    ";",
    "=",
    "telemetry t mesh ",
    "metrics prometheus ",
    "tracing zipkin ",
    "access_log envoy when ",
    "tag a = ",
    "REQUEST_COUNT ",
    "patch cluster ",
    "match ",
    "value ",
    "insert http_filter before ",
    "let x = ",
    "a: ",
    "a.b ",
    "proxy p ",
    "smoke s ",
    "config C ",
    "x",
    "5%",
    "10s",
    "'",
    "\\",
    "envoy.extensions.filters.http.lua.v3.Lua ",
];

fn shapes() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let repeat = |piece: &str, n: usize| piece.repeat(n);
    for depth in [25, 200, 2_000] {
        out.push((format!("let with {depth} open objects"), format!("let x = {}", repeat("{a: ", depth))));
        out.push((
            format!("{depth} open metrics blocks"),
            format!("telemetry t mesh {{\n{}", repeat("metrics prometheus {\n", depth)),
        ));
        out.push((format!("{depth} open sections"), format!("telemetry t mesh {{\n{}", repeat("a {\n", depth))));
        out.push((format!("{depth} open braces"), repeat("{", depth)));
        out.push((format!("{depth} open brackets in a value"), format!("let x = {}", repeat("[", depth))));
        out.push((
            format!("{depth} open parentheses in an expression"),
            format!("telemetry t mesh {{\n  access_log envoy when {}\n}}\n", repeat("(", depth)),
        ));
        out.push((format!("{depth} open triple strings"), repeat("x: \"\"\" {\n", depth)));
        out.push((format!("{depth} open comments"), repeat("/* {\n", depth)));
    }
    let mut random = Random(0x5eed_1234_abcd_9876);
    let bytes: Vec<u8> = (0..60_000).map(|_| random.next() as u8).collect();
    out.push(("60 KB of random bytes".to_string(), String::from_utf8_lossy(&bytes).into_owned()));
    let punctuation: Vec<u8> = b"{}[]()\"'/*:;,=.%\\\n ".to_vec();
    let text: String = (0..50_000).map(|_| punctuation[random.below(punctuation.len())] as char).collect();
    out.push(("50 KB of punctuation".to_string(), text));
    for round in 0..40 {
        let text: String = (0..2_000).map(|_| PIECES[random.below(PIECES.len())]).collect();
        out.push((format!("random pieces, round {round}"), text));
    }
    out.push(("a 500 KB line".to_string(), format!("telemetry t mesh {{ {} }}\n", repeat("x ", 250_000))));
    out
}

/// Real packages cut short anywhere: what an editor sends while the user types.
fn truncations() -> Vec<(String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut out = Vec::new();
    for file in ["examples/seed/telemetry.mesh", "examples/smoke/main.mesh", "examples/platform/filters.mesh"] {
        let Ok(text) = std::fs::read_to_string(root.join(file)) else { continue };
        let cuts: Vec<usize> = (0..text.len()).filter(|i| text.is_char_boundary(*i)).step_by(97).collect();
        for cut in cuts {
            out.push((format!("{file} cut at byte {cut}"), text[..cut].to_string()));
        }
        out.push((file.to_string(), text));
    }
    out
}

#[test]
fn parsing_is_linear_in_the_input_on_any_input() {
    let cases: Vec<(String, String)> = shapes().into_iter().chain(truncations()).collect();
    assert!(cases.len() > 100, "only {} inputs", cases.len());
    let over: Vec<&str> =
        cases.iter().filter(|(_, text)| !parses_within_budget(text)).map(|(name, _)| name.as_str()).collect();
    assert!(over.is_empty(), "parsing took more than {CALLS_PER_BYTE} rule calls a byte on: {over:?}");
}
