//! `meshc envoy validate` against the real `envoy --mode validate` over the whole
//! differential corpus, measured in the same run, in two ways:
//!
//! - per process (target: at least 10 times faster): one `meshc envoy validate
//!   --envoy 1.38 FILE` per file, as CI runs it on one bootstrap, against one
//!   `envoy --mode validate -c FILE` per file;
//! - in a batch (target: at least 50 times faster): meshc in one process over every
//!   file, against Envoy once per file, since it validates one bootstrap at a time.
//!
//! Both see the same files on disk. The meshc binary is built in release mode first;
//! the Envoy build is the pinned 1.38 one, fetched into the test cache like the tests
//! do. Each figure is the best of three runs, to keep other load on the machine out.

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

    let best_of_three = |run: &dyn Fn()| {
        (0..3)
            .map(|_| {
                let start = Instant::now();
                run();
                start.elapsed()
            })
            .min()
            .expect("three runs")
    };
    let meshc_batch = best_of_three(&|| {
        Command::new(&meshc)
            .args(["envoy", "validate", "--envoy", "1.38"])
            .args(&files)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("meshc runs");
    });
    let meshc_per_file = best_of_three(&|| {
        for file in &files {
            Command::new(&meshc)
                .args(["envoy", "validate", "--envoy", "1.38"])
                .arg(file)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("meshc runs");
        }
    });
    let envoy_per_file = best_of_three(&|| {
        for file in &files {
            Command::new(&envoy)
                .args(["--mode", "validate", "--log-level", "critical", "-c"])
                .arg(file)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("envoy runs");
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
    let per_file = |total: Duration| total.as_secs_f64() * 1000.0 / files.len() as f64;
    println!("corpus: {} bootstrap files (Envoy 1.38.2)", files.len());
    println!(
        "meshc envoy validate, one process per file: {:>8.3} s  ({:.3} ms a process)",
        meshc_per_file.as_secs_f64(),
        per_file(meshc_per_file)
    );
    println!(
        "envoy --mode validate, one process per file: {:>7.3} s  ({:.3} ms a process)",
        envoy_per_file.as_secs_f64(),
        per_file(envoy_per_file)
    );
    println!(
        "meshc envoy validate, one process for all:  {:>8.3} s  ({:.3} ms a file)",
        meshc_batch.as_secs_f64(),
        per_file(meshc_batch)
    );
    let ratio = |meshc: Duration| envoy_per_file.as_secs_f64() / meshc.as_secs_f64();
    println!("per process, meshc is {:.1} times faster (target: 10)", ratio(meshc_per_file));
    println!("in a batch, meshc is {:.0} times faster (target: 50)", ratio(meshc_batch));
}
