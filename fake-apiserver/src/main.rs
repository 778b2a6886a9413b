//! `meshc-fake-apiserver`: the fake API server as a process, to try `meshc diff` and `meshc apply` by hand
//! or to run the real-cluster tier of `cli/tests/cluster.rs` against it.
//!
//! It serves on 127.0.0.1, prints `ready URL` on stdout once it accepts connections, and serves until it is killed
//! (Ctrl-C or `kill PID`: it holds nothing that needs saving, so it has no shutdown of its own).
//! Its state lives in memory and is gone when it stops.

use meshc_fake_apiserver::{FakeApiServer, kubeconfig, read_istio_crds};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: meshc-fake-apiserver [--port N] [--istio-crds DIR] [--namespace NAME]... [--token T] [--kubeconfig-out PATH]

Serves a fake Kubernetes API server on 127.0.0.1 until killed; prints `ready URL` when it accepts connections.

  --port N               the port to listen on (default 0: any free port)
  --istio-crds DIR       install the Telemetry, WasmPlugin and EnvoyFilter CRDs of an Istio release folder
                         (like ../shared/reference/istio-crds/1.30)
  --namespace NAME       create namespace NAME (repeatable; default, kube-system and kube-public always exist)
  --token T              refuse requests without `Authorization: Bearer T` (401)
  --kubeconfig-out PATH  write a kubeconfig reaching the server (context `fake`, with token T)
";

#[derive(Default)]
struct Options {
    port: u16,
    istio_crds: Option<PathBuf>,
    namespaces: Vec<String>,
    token: Option<String>,
    kubeconfig_out: Option<PathBuf>,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options::default();
    while let Some(arg) = args.next() {
        if arg == "--help" || arg == "-h" {
            return Err(String::new());
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag.to_string(), Some(value.to_string())),
            _ => (arg, None),
        };
        let mut value = || inline.clone().or_else(|| args.next()).ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => {
                let text = value()?;
                options.port = text.parse().map_err(|_| format!("--port: {text:?} is not a port number"))?;
            }
            "--istio-crds" => options.istio_crds = Some(value()?.into()),
            "--namespace" => options.namespaces.push(value()?),
            "--token" => options.token = Some(value()?),
            "--kubeconfig-out" => options.kubeconfig_out = Some(value()?.into()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(options)
}

fn run(options: Options) -> Result<(), String> {
    let server = FakeApiServer::new();
    if let Some(dir) = &options.istio_crds {
        for crd in read_istio_crds(dir)? {
            server.install_crd(&crd);
        }
    }
    for namespace in &options.namespaces {
        server.add_namespace(namespace);
    }
    if let Some(token) = &options.token {
        server.require_token(token);
    }
    let running =
        server.start_on(options.port).map_err(|e| format!("cannot listen on 127.0.0.1:{}: {e}", options.port))?;
    if let Some(path) = &options.kubeconfig_out {
        // Without --token the server takes any token; the kubeconfig still needs one.
        let text = kubeconfig(&running.url(), options.token.as_deref().unwrap_or("any"));
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let mut stdout = std::io::stdout();
    writeln!(stdout, "ready {}", running.url()).and_then(|()| stdout.flush()).map_err(|e| e.to_string())?;
    // The server runs on its own thread; this one only keeps the process alive.
    loop {
        std::thread::park();
    }
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) if message.is_empty() => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprint!("meshc-fake-apiserver: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("meshc-fake-apiserver: {message}");
            ExitCode::FAILURE
        }
    }
}
