//! Instantiation and one request through the header-adding plugin, against the targets of
//! issue 14: instantiate < 5 ms from the cached compiled module, a request < 50 µs.
//! Run with `cargo bench -p meshc-wasm-host --bench plugin`; prints medians.

use std::time::{Duration, Instant};

use meshc_wasm_host::runtime::{HttpMessage, Plugin, PluginRun, Vm};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/plugins/header_adder.wat");
    let text = std::fs::read(path).expect("the header adder");

    let t = Instant::now();
    let plugin = Plugin::compile(&text).expect("it compiles");
    let compile = t.elapsed();

    let run = PluginRun {
        request: HttpMessage {
            headers: [(":method", "GET"), (":path", "/"), (":authority", "svc")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..HttpMessage::default()
        },
        response: HttpMessage {
            headers: vec![(":status".into(), "200".into())],
            body: b"hello".to_vec(),
            trailers: Vec::new(),
        },
        ..PluginRun::default()
    };

    // Instantiation: a fresh store and instance, and the root context's lifecycle.
    let runs = 500;
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let vm = Vm::start(&plugin, &run).expect("it starts");
        samples.push(t.elapsed());
        drop(vm);
    }
    let instantiate = median(samples);

    // One request through a started VM, as Envoy reuses its VM across requests.
    let mut vm = Vm::start(&plugin, &run).expect("it starts");
    let runs = 5000;
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let out = vm.request(&run).expect("it runs");
        samples.push(t.elapsed());
        assert_eq!(out.forwarded_request.header("x-meshc"), Some("hello"));
    }
    let request = median(samples);

    println!("compile (once):        {compile:>12.3?}");
    println!(
        "instantiate (median):  {instantiate:>12.3?}   target < 5 ms   {}",
        verdict(instantiate < Duration::from_millis(5))
    );
    println!(
        "one request (median):  {request:>12.3?}   target < 50 µs  {}",
        verdict(request < Duration::from_micros(50))
    );
}

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "MISSED" }
}
