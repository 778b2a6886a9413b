//! Writes a large generated package (or, with `--yaml`, a directory of Kubernetes YAML
//! documents) to a directory, for timing `meshc build` and `meshc check` by hand:
//! `cargo run -p meshc-tests --bin gen-large -- DIR [WORKLOADS] [NAMESPACES]` or
//! `cargo run -p meshc-tests --bin gen-large -- --yaml DIR [DOCUMENTS] [NAMESPACES]`.

fn main() {
    let mut args = std::env::args().skip(1).peekable();
    let yaml = args.peek().is_some_and(|a| a == "--yaml");
    if yaml {
        args.next();
    }
    let Some(dir) = args.next() else {
        eprintln!("usage: gen-large [--yaml] DIR [COUNT] [NAMESPACES]");
        std::process::exit(2);
    };
    let count = args.next().and_then(|a| a.parse().ok()).unwrap_or(if yaml { 3000 } else { 1000 });
    let namespaces = args.next().and_then(|a| a.parse().ok()).unwrap_or(50);
    let files = if yaml {
        meshc_tests::large::large_yaml(count, namespaces)
    } else {
        meshc_tests::large::large_package(count, namespaces)
    };
    for (path, text) in files {
        let path = std::path::Path::new(&dir).join(path);
        std::fs::create_dir_all(path.parent().expect("files are in a directory")).expect("create directory");
        std::fs::write(&path, text).expect("write file");
    }
    let what = if yaml { "YAML documents" } else { "workloads" };
    eprintln!("wrote {count} {what} in {namespaces} namespaces to {dir}");
}
