//! `meshc apply` of the generated 1,000-workload package (1,001 resources in 50
//! namespaces) against the fake API server over loopback HTTP: the first apply, and
//! a no-op re-apply, which must send no write. Prints the request counts and times.
//!
//! Run with `cargo bench -p meshc-tests --bench apply`.

use meshc_cluster::applyset::ApplySet;
use meshc_cluster::run::{Mode, Options, run};
use meshc_compiler::source::{SourceDb, SourceKind};
use meshc_fake_apiserver::FakeApiServer;
use std::time::{Duration, Instant};

const TOKEN: &str = "bench";

fn main() {
    let mut db = SourceDb::with_stdlib();
    for (path, text) in meshc_tests::large::large_package(1000, 50) {
        let kind = if path == "mesh.toml" { SourceKind::Manifest } else { SourceKind::Package };
        db.add(path, text, kind);
    }
    let analysis = meshc_compiler::driver::analyze(&db, &meshc_compiler::driver::NoAssets);
    assert!(!analysis.has_errors(), "the generated package must be valid");
    let objects = meshc_cluster::gitops::package_objects(&analysis);
    assert_eq!(objects.len(), 1001);

    let server = FakeApiServer::new();
    for crd in meshc_fake_apiserver::istio_crds(&meshc_tests::workspace().join("../shared/reference/istio-crds/1.30")) {
        server.install_crd(&crd);
    }
    server.require_token(TOKEN);
    let mut namespaces: Vec<&str> = objects.iter().filter_map(|o| o["metadata"]["namespace"].as_str()).collect();
    namespaces.sort();
    namespaces.dedup();
    for namespace in &namespaces {
        server.add_namespace(namespace);
    }
    let running = server.start();
    let dir = std::env::temp_dir().join(format!("meshc-bench-apply-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, meshc_fake_apiserver::kubeconfig(&running.url(), TOKEN)).unwrap();
    let target = meshc_cluster::connect::Target { kubeconfig: Some(kubeconfig), context: None };
    let options = Options {
        field_manager: "meshc".into(),
        force_conflicts: false,
        prune: true,
        create_namespaces: false,
        wait_for_crds: None,
        applyset: ApplySet::for_package("large", "istio-system"),
    };

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let connected = runtime.block_on(meshc_cluster::connect::connect(&target)).unwrap();
    let measure = |title: &str| -> Duration {
        server.clear_requests();
        let start = Instant::now();
        let outcome = runtime.block_on(run(&connected, &objects, Mode::Apply, &options, &mut |_| {})).unwrap();
        let elapsed = start.elapsed();
        assert!(outcome.problems.is_empty(), "{:?}", outcome.problems.first());
        let requests = server.requests();
        let writes = requests.iter().filter(|r| r.is_write()).count();
        println!(
            "{title}: {:.0} ms, {} requests ({} writes, {} dry runs, {} reads)",
            elapsed.as_secs_f64() * 1000.0,
            requests.len(),
            writes,
            requests.iter().filter(|r| r.method == "PATCH" && !r.is_write()).count(),
            requests.iter().filter(|r| r.method == "GET").count(),
        );
        if title.starts_with("no-op") {
            assert_eq!(writes, 0, "a no-op re-apply sends no write");
        }
        elapsed
    };
    measure("first apply of 1,001 resources");
    let mut times: Vec<Duration> = (0..10).map(|_| measure("no-op re-apply")).collect();
    times.sort();
    println!(
        "no-op re-apply, 10 runs: median {:.0} ms, max {:.0} ms",
        times[5].as_secs_f64() * 1000.0,
        times[9].as_secs_f64() * 1000.0
    );
}
