//! Writes a large generated package to a directory, for timing `meshc build` by hand:
//! `cargo run -p meshc-tests --bin gen-large -- DIR [WORKLOADS] [NAMESPACES]`.

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: gen-large DIR [WORKLOADS] [NAMESPACES]");
        std::process::exit(2);
    };
    let workloads = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let namespaces = args.next().and_then(|a| a.parse().ok()).unwrap_or(50);
    for (path, text) in meshc_tests::large::large_package(workloads, namespaces) {
        let path = std::path::Path::new(&dir).join(path);
        std::fs::create_dir_all(path.parent().expect("files are in a directory")).expect("create directory");
        std::fs::write(&path, text).expect("write file");
    }
    eprintln!("wrote a package of {workloads} workloads in {namespaces} namespaces to {dir}");
}
