//! `meshc check` on Kubernetes YAML: the 114 documents of the real corpus
//! (`../shared/reference/istio-real-corpus`), and a generated directory of 3,000
//! valid Telemetry, WasmPlugin and EnvoyFilter documents, checked against every
//! supported release, and with a package's settings and `std.policy.recommended`.
//! In memory, so the figures are the compiler's and not the disk's.
//!
//! Run with `cargo bench -p meshc-tests --bench lint`.

use criterion::{Criterion, criterion_group, criterion_main};
use meshc_compiler::driver::{NoAssets, analyze};
use meshc_compiler::source::{SourceDb, SourceKind};

fn corpus_db() -> SourceDb {
    let corpus = meshc_tests::shared().join("reference/istio-real-corpus");
    meshc_host::package::load_resources(&[corpus]).expect("the corpus loads").db
}

fn generated_db(with_rules: bool) -> SourceDb {
    let mut db = SourceDb::with_stdlib();
    if with_rules {
        db.add("mesh.toml", "[package]\nname = \"lint\"\nistio = [\"1.30\"]\n", SourceKind::Manifest);
        db.add("rules.mesh", "package lint\n\nimport std.policy.recommended\n", SourceKind::Package);
    }
    for (path, text) in meshc_tests::large::large_yaml(3000, 50) {
        db.add(path, text, SourceKind::Resources);
    }
    db
}

fn bench(c: &mut Criterion) {
    let corpus = corpus_db();
    let plain = generated_db(false);
    let analysis = analyze(&plain, &NoAssets);
    let errors: Vec<_> = analysis.diagnostics.iter().filter(|d| d.is_error()).take(3).collect();
    assert!(errors.is_empty(), "the generated YAML must be valid: {errors:?}");
    assert_eq!(analysis.lowered.linted.len(), 3000);
    let with_rules = generated_db(true);
    assert_eq!(analyze(&with_rules, &NoAssets).lowered.rules.len(), 8);

    let mut group = c.benchmark_group("lint");
    group.sample_size(10);
    group.bench_function("corpus_114_documents_all_releases", |b| b.iter(|| analyze(&corpus, &NoAssets)));
    group.bench_function("generated_3000_documents_all_releases", |b| b.iter(|| analyze(&plain, &NoAssets)));
    group.bench_function("generated_3000_documents_one_release_recommended_rules", |b| {
        b.iter(|| analyze(&with_rules, &NoAssets))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
