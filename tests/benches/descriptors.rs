//! Loading one Envoy version's schema: decompressing the embedded descriptor set and
//! linking it with prost-reflect. Target: under 30 ms.

use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    c.bench_function("load_envoy_1.38.2_descriptors", |b| {
        b.iter(|| meshc::descriptors::load("1.38.2").expect("links"))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
