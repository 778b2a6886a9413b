//! `meshc smoke` on a cached Envoy: the time from the command's start to the first
//! scenario's request (target: under 1 second), as the command reports it, over ten
//! runs of `meshc smoke examples/smoke --envoy 1.38` with the release binary. The
//! figure covers reading and checking the package, assembling its Wasm modules,
//! building the bootstrap, starting the local upstream and collector, and starting
//! Envoy until it is ready.

use meshc_tests::{cached_envoy, release_meshc, workspace};
use std::process::Command;

fn main() {
    cached_envoy("1.38");
    let cache = workspace().join("target/meshc-test-cache");
    let meshc = release_meshc();
    let mut figures: Vec<u64> = Vec::new();
    for _ in 0..10 {
        let output = Command::new(&meshc)
            .args(["smoke", "examples/smoke", "--envoy", "1.38"])
            .env("MESHC_CACHE_DIR", &cache)
            .current_dir(workspace())
            .output()
            .expect("meshc runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "the scenarios pass:\n{stdout}");
        let line = stdout.lines().find(|l| l.starts_with("first request sent")).expect("the report says when");
        let ms: u64 = line
            .trim_start_matches("first request sent ")
            .split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("a number of milliseconds");
        figures.push(ms);
    }
    figures.sort();
    println!(
        "meshc smoke, start to first request (cached Envoy 1.38.2, 10 runs): median {} ms, max {} ms (target: under 1000 ms)",
        figures[figures.len() / 2],
        figures[figures.len() - 1]
    );
}
