//! meshc's proxy-wasm host and the real Envoy run the same scenario on the same plugin:
//! the smoke example's header-adding plugin (`examples/smoke/plugins/add_header.wat`),
//! with its configuration as the package emits it, through the requests of the
//! `wasm_adds_header` scenario. The smoke trials (`smoke::smoke::envoy_*`) hold the
//! scenario's expectations against the five Envoy builds; this holds the same
//! expectations against the wasmtime host.

use meshc_compiler::model::smoke::ExpectationKind;
use meshc_host::package;
use meshc_wasm_host::runtime::{HttpMessage, Plugin, PluginRun};

/// Runs the scenario's requests through the plugin on wasmtime and checks every
/// expectation the host can observe (headers, status); returns how many it checked.
pub fn runtime_meets_the_smoke_scenario(example: &std::path::Path) -> Result<usize, String> {
    let loaded = package::load(example, None).map_err(|e| e.to_string())?;
    let analysis = loaded.analyze();
    let generated = analysis
        .lowered
        .resources
        .iter()
        .find(|g| g.resource.kind() == "WasmPlugin" && g.resource.metadata().name == "custom-header")
        .ok_or("the smoke example declares the custom_header plugin")?;
    let resource = meshc_compiler::emit::to_json_value(&generated.resource);
    let config = serde_json::to_vec(&resource["spec"]["pluginConfig"]).map_err(|e| e.to_string())?;
    let module = std::fs::read(example.join("plugins/add_header.wat")).map_err(|e| e.to_string())?;
    let plugin = Plugin::compile(&module).map_err(|e| e.to_string())?;
    let scenario = analysis
        .lowered
        .smokes
        .iter()
        .find(|s| s.name == "wasm_adds_header")
        .ok_or("the smoke example has the wasm_adds_header scenario")?;
    let mut checked = 0;
    for request in &scenario.requests {
        let mut headers = vec![
            (":method".to_string(), request.method.clone()),
            (":path".to_string(), request.path.clone()),
            (":authority".to_string(), "my-service".to_string()),
        ];
        headers.extend(request.headers.iter().cloned());
        let run = PluginRun {
            plugin_config: config.clone(),
            request: HttpMessage {
                headers,
                body: request.body.clone().unwrap_or_default().into_bytes(),
                trailers: vec![],
            },
            // The smoke runner's upstream answers 200.
            response: HttpMessage { headers: vec![(":status".into(), "200".into())], body: vec![], trailers: vec![] },
            ..PluginRun::default()
        };
        let outcome = plugin.run(&run).map_err(|e| e.to_string())?;
        let response = &outcome.returned_response;
        let upstream = &outcome.forwarded_request;
        for expectation in &request.expect {
            let problem = match &expectation.kind {
                ExpectationKind::Status(code) => {
                    (response.header(":status") != Some(code.to_string().as_str())).then(|| format!("status {code}"))
                }
                ExpectationKind::Header { name, value } => {
                    let found = response.header(name);
                    (found.is_none() || value.as_deref().is_some_and(|v| found != Some(v)))
                        .then(|| format!("response header {name}: {value:?}, found {found:?}"))
                }
                ExpectationKind::NoHeader { name } => {
                    response.header(name).is_some().then(|| format!("no response header {name}"))
                }
                ExpectationKind::UpstreamHeader { name, value } => {
                    let found = upstream.header(name);
                    (found.is_none() || value.as_deref().is_some_and(|v| found != Some(v)))
                        .then(|| format!("upstream header {name}: {value:?}, found {found:?}"))
                }
                ExpectationKind::NoUpstreamHeader { name } => {
                    upstream.header(name).is_some().then(|| format!("no upstream header {name}"))
                }
                // Metrics, logs and spans are Envoy's and its collector's, not the plugin's.
                _ => continue,
            };
            checked += 1;
            if let Some(problem) = problem {
                return Err(format!(
                    "on wasmtime, {} {} does not meet the expectation {problem}",
                    request.method, request.path
                ));
            }
        }
    }
    Ok(checked)
}
