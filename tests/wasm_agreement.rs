//! meshc's proxy-wasm host and the real Envoy reach the same verdicts on the same plugin
//! scenarios. The smoke example's plugin scenarios (the seed's header-adding plugin, here
//! as WebAssembly text with the seed's configuration, and an API-key plugin with a local
//! reply, metrics and a log line) and those of `tests/plugin-agreement` (state shared by a
//! plugin's scenarios, a fresh VM, counters and logs from the VM's start, a local reply
//! from the response side, the headers Envoy adds) run on wasmtime, as `meshc test` runs
//! them, and in one pinned Envoy, as `meshc smoke` runs them. So do their mutants: copies of each scenario
//! with one expectation turned false (another status, another header value, a header
//! expected absent, a metric off by one, a log line expected missing). Every scenario
//! must pass or fail alike in both, at the same expectations, and every mutant must fail
//! in both, so the comparison cannot pass by judging nothing.

use meshc_compiler::model::smoke::{Expectation, ExpectationKind, SmokeScenario};
use meshc_compiler::span::Span;
use meshc_host::package;
use meshc_smoke::{EnvoyBinary, Report};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The verdict of one scenario: whether it passed, and the expectations that failed.
type Verdict = (bool, BTreeSet<(u32, u32)>);

/// Runs the example's plugin scenarios and their mutants on wasmtime and in `envoy`;
/// returns how many scenarios were compared.
pub fn plugin_verdicts_agree(example: &Path, envoy: EnvoyBinary) -> Result<usize, String> {
    let loaded = package::load(example, None).map_err(|e| e.to_string())?;
    let mut analysis = loaded.analyze();
    if analysis.has_errors() {
        return Err("the example has errors".into());
    }
    // Only what the real Envoy can run: no properties or call answers.
    let originals: Vec<SmokeScenario> = analysis
        .lowered
        .smokes
        .iter()
        .filter(|s| s.plugin().is_some_and(|p| !p.needs_a_test_host()))
        .cloned()
        .collect();
    if originals.is_empty() {
        return Err("the example has no plugin scenario the real Envoy can run".into());
    }
    let mut scenarios = originals.clone();
    let mut mutants = BTreeSet::new();
    for scenario in &originals {
        for (index, mutant) in mutants_of(scenario).into_iter().enumerate() {
            let mut mutant = mutant;
            mutant.name = format!("{}__mutant_{index}", scenario.name);
            mutants.insert(mutant.name.clone());
            scenarios.push(mutant);
        }
    }
    analysis.lowered.smokes = scenarios;

    let wasmtime = meshc_smoke::run_plugin_scenarios(&analysis, &loaded.root, &|_| None);
    let started = std::time::Instant::now();
    let (in_envoy, rendered) =
        meshc_smoke::run_package(&loaded, &analysis, vec![envoy], false, started).map_err(|e| e.to_string())?;
    let on_wasmtime = verdicts(&wasmtime);
    let on_envoy = verdicts(&in_envoy);
    let mut problems = Vec::new();
    for scenario in &analysis.lowered.smokes {
        let (Some(w), Some(e)) = (on_wasmtime.get(&scenario.name), on_envoy.get(&scenario.name)) else {
            problems.push(format!("{}: not run by both", scenario.name));
            continue;
        };
        if w != e {
            problems.push(format!(
                "{}: wasmtime {} at {:?}, Envoy {} at {:?}",
                scenario.name,
                if w.0 { "passes" } else { "fails" },
                w.1,
                if e.0 { "passes" } else { "fails" },
                e.1
            ));
        }
        if mutants.contains(&scenario.name) && (w.0 || e.0) {
            problems.push(format!("{}: a mutant passed", scenario.name));
        }
    }
    if problems.is_empty() {
        Ok(analysis.lowered.smokes.len())
    } else {
        let wasmtime_report = meshc_smoke::render_report(&wasmtime, &|_| None);
        Err(format!("{}\n\non wasmtime:\n{wasmtime_report}\nin Envoy:\n{rendered}", problems.join("\n")))
    }
}

fn verdicts(report: &Report) -> BTreeMap<String, Verdict> {
    report
        .results
        .iter()
        .map(|r| {
            let failed = r.failures.iter().filter_map(|f| f.span).map(|s: Span| (s.start, s.end)).collect();
            (r.scenario.clone(), (r.passed(), failed))
        })
        .collect()
}

/// One copy of the scenario per expectation, with that expectation made false.
fn mutants_of(scenario: &SmokeScenario) -> Vec<SmokeScenario> {
    let mut out = Vec::new();
    let count_requests = scenario.requests.len();
    for request in 0..=count_requests {
        let expectations = if request < count_requests { &scenario.requests[request].expect } else { &scenario.expect };
        for index in 0..expectations.len() {
            let Some(kind) = falsified(&expectations[index].kind) else { continue };
            let mut mutant = scenario.clone();
            let target: &mut Vec<Expectation> =
                if request < count_requests { &mut mutant.requests[request].expect } else { &mut mutant.expect };
            target[index].kind = kind;
            out.push(mutant);
        }
    }
    out
}

fn falsified(kind: &ExpectationKind) -> Option<ExpectationKind> {
    use ExpectationKind::*;
    let other = |v: &str| format!("{v}-not");
    Some(match kind {
        Status(code) => Status(if *code == 200 { 201 } else { 200 }),
        Header { name, value: Some(v) } => Header { name: name.clone(), value: Some(other(v)) },
        Header { name, value: None } => NoHeader { name: name.clone() },
        NoHeader { name } => Header { name: name.clone(), value: None },
        BodyContains(text) => BodyContains(other(text)),
        UpstreamHeader { name, value: Some(v) } => UpstreamHeader { name: name.clone(), value: Some(other(v)) },
        UpstreamHeader { name, value: None } => NoUpstreamHeader { name: name.clone() },
        NoUpstreamHeader { name } => UpstreamHeader { name: name.clone(), value: None },
        Metric { name, labels, value: Some(v) } => {
            Metric { name: name.clone(), labels: labels.clone(), value: Some(v + 1.0) }
        }
        Metric { name, labels, value: None } => {
            Metric { name: format!("{name}_not"), labels: labels.clone(), value: None }
        }
        EnvoyLog(text) => NoEnvoyLog(text.clone()),
        NoEnvoyLog(text) => EnvoyLog(text.clone()),
        AccessLog { .. } | Span { .. } => return None,
    })
}
