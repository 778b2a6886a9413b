//! `meshc check` and `meshc build` on a generated package of 1,000 workloads in 50
//! namespaces (60% telemetry, 20% Wasm plugins, 20% EnvoyFilters), in memory, so the
//! figures are the compiler's and not the disk's.
//!
//! Run with `cargo bench -p meshc-tests --bench build`. For peak memory of the whole
//! command, write the package with `cargo run -p meshc-tests --bin gen-large -- DIR`
//! and run `/usr/bin/time -v meshc build DIR -o OUT`.

use criterion::{Criterion, criterion_group, criterion_main};
use meshc_compiler::source::{SourceDb, SourceKind};

fn package_db() -> SourceDb {
    let mut db = SourceDb::with_stdlib();
    for (path, text) in meshc_tests::large::large_package(1000, 50) {
        let kind = if path == "mesh.toml" { SourceKind::Manifest } else { SourceKind::Package };
        db.add(path, text, kind);
    }
    db
}

fn bench(c: &mut Criterion) {
    let db = package_db();
    let analysis = meshc_compiler::driver::analyze(&db, &meshc_compiler::driver::NoAssets);
    assert!(!analysis.has_errors(), "the generated package must be valid");
    assert_eq!(analysis.lowered.resources.len(), 1001);
    let mut group = c.benchmark_group("large_package_1000_workloads");
    group.sample_size(20);
    group.bench_function("check", |b| {
        b.iter(|| meshc_compiler::driver::analyze(&db, &meshc_compiler::driver::NoAssets))
    });
    group.bench_function("build", |b| {
        b.iter(|| {
            let analysis = meshc_compiler::driver::analyze(&db, &meshc_compiler::driver::NoAssets);
            meshc_compiler::driver::istio_outputs(&analysis)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
