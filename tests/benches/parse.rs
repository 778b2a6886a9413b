//! Parsing time on inputs that used to take exponential time, next to a normal
//! package of the same size: unclosed nesting, random bytes, punctuation. The figures
//! should be of one order per KB (`cargo bench -p meshc-tests --bench parse`).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use meshc_compiler::span::FileId;

fn inputs() -> Vec<(&'static str, String)> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let bytes: Vec<u8> = (0..60_000).map(|_| next() as u8).collect();
    let punctuation = b"{}[]()\"'/*:;,=.%\\\n ";
    let noise: String =
        (0..50_000).map(|_| punctuation[(next() % punctuation.len() as u64) as usize] as char).collect();
    let large: String = meshc_tests::large::large_package(50, 5)
        .into_iter()
        .filter(|(path, _)| path.ends_with(".mesh"))
        .map(|(_, text)| text)
        .collect();
    vec![
        ("25 open objects", format!("let x = {}", "{a: ".repeat(25))),
        ("20 open metrics blocks", format!("telemetry t mesh {{\n{}", "metrics prometheus {\n".repeat(20))),
        ("60 KB random bytes", String::from_utf8_lossy(&bytes).into_owned()),
        ("50 KB punctuation", noise),
        ("a generated package file", large),
    ]
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    for (name, text) in inputs() {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(name, |b| b.iter(|| meshc_compiler::fmt::syntax_errors(FileId(0), &text)));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
