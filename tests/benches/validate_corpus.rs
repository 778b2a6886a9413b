//! `meshc envoy validate` against the real `envoy --mode validate` over the whole
//! differential corpus (target: at least 50 times faster), measured in the same run.
//!
//! Both see the same files on disk: meshc in one process over every file, as a user
//! would run it in CI; Envoy once per file, since it validates one bootstrap at a
//! time. The meshc binary is built in release mode first; the Envoy build is the
//! pinned 1.38 one, fetched into the test cache like the tests do.

use meshc_tests::corpus::corpus;
use meshc_tests::{cached_envoy, release_meshc};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let envoy = cached_envoy("1.38");
    let meshc = release_meshc();

    let (cases, _) = corpus().expect("the corpus reads");
    let dir = std::env::temp_dir().join(format!("meshc-bench-corpus-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let mut files = Vec::new();
    for (index, case) in cases.iter().enumerate() {
        let path = dir.join(format!("{index:03}.yaml"));
        std::fs::write(&path, &case.text).expect("writes");
        files.push(path);
    }

    // Best of three runs for each, to keep other load on the machine out of it.
    let mut meshc_best = Duration::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        Command::new(&meshc)
            .args(["envoy", "validate", "--envoy", "1.38"])
            .args(&files)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("meshc runs");
        meshc_best = meshc_best.min(start.elapsed());
    }
    let mut envoy_best = Duration::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        for file in &files {
            Command::new(&envoy)
                .args(["--mode", "validate", "--log-level", "critical", "-c"])
                .arg(file)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("envoy runs");
        }
        envoy_best = envoy_best.min(start.elapsed());
    }
    let _ = std::fs::remove_dir_all(&dir);
    let per_file = |total: Duration| total.as_secs_f64() * 1000.0 / files.len() as f64;
    println!("corpus: {} bootstrap files (Envoy 1.38.2)", files.len());
    println!(
        "meshc envoy validate, one process:  {:>8.3} s  ({:.3} ms a file)",
        meshc_best.as_secs_f64(),
        per_file(meshc_best)
    );
    println!(
        "envoy --mode validate, one per file: {:>8.3} s  ({:.3} ms a file)",
        envoy_best.as_secs_f64(),
        per_file(envoy_best)
    );
    println!("meshc is {:.0} times faster (target: 50)", envoy_best.as_secs_f64() / meshc_best.as_secs_f64());
}
