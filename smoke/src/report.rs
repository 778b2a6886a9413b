//! The human-readable report of a run, and the shortening of long lines for it (and
//! for failure messages), so that one huge line of Envoy's cannot bury the rest.

use crate::{Report, ScenarioResult};
use meshc_compiler::span::Span;
use std::fmt::Write as _;

/// The human-readable report: one line per scenario and version, the details of each
/// failure indented under it, the timings, and last the line `N passed, M failed`
/// alone. `locate` turns a span into `file:line:column` when the caller can.
pub fn render_report(report: &Report, locate: &dyn Fn(Span) -> Option<String>) -> String {
    let mut results: Vec<&ScenarioResult> = report.results.iter().collect();
    results.sort_by_key(|r| r.order);
    let width = results.iter().map(|r| r.scenario.chars().count()).max().unwrap_or(0);
    let version_width = results.iter().map(|r| runs_in(r.envoy_version).len()).max().unwrap_or(0);
    let mut out = String::new();
    for result in results {
        let _ = writeln!(
            out,
            "{:<5} {:<width$}  {:<version_width$}  ({} ms{})",
            if result.passed() { "ok" } else { "FAIL" },
            result.scenario,
            runs_in(result.envoy_version),
            result.duration.as_millis(),
            match result.shared_with.len() {
                0 => String::new(),
                1 => ", after 1 scenario in this Envoy".to_string(),
                n => format!(", after {n} scenarios in this Envoy"),
            },
        );
        for failure in &result.failures {
            let location = failure.span.and_then(locate).map(|l| format!("{l}: ")).unwrap_or_default();
            let text = format!("{location}{}", failure.message);
            let _ = writeln!(out, "      {}", text.replace('\n', "\n        "));
        }
        if !result.passed() && !result.shared_with.is_empty() {
            // State left by earlier scenarios is a cause the user cannot see otherwise.
            let _ = writeln!(
                out,
                "      note: ran in the Envoy process of {}; `fresh_envoy true` in the scenario gives it a process of its own",
                shorten(&result.shared_with.join(", "), 200)
            );
        }
        if let Some(excerpt) = &result.log_excerpt {
            let whose = if result.envoy_version == crate::plugin::WASMTIME { "Plugin log" } else { "Envoy log" };
            let _ = writeln!(out, "      {whose} (last lines):");
            for line in excerpt.lines() {
                let _ = writeln!(out, "        | {line}");
            }
        }
    }
    let ready: Vec<String> = report
        .envoys
        .iter()
        .filter_map(|e| e.ready_after.map(|d| format!("{} {} ms", e.envoy_version, d.as_millis())))
        .collect();
    if !ready.is_empty() {
        let _ = writeln!(out, "Envoy ready after start: {}", ready.join(", "));
    }
    match report.first_request_after {
        Some(first) => {
            let _ = writeln!(
                out,
                "first request sent {} ms after the start; {} ms in all",
                first.as_millis(),
                report.total.as_millis()
            );
        }
        None => {
            let _ = writeln!(out, "no request was sent; {} ms in all", report.total.as_millis());
        }
    }
    let _ = writeln!(out, "{} passed, {} failed", report.passed(), report.failed());
    out
}

/// Where a result ran: `Envoy 1.38.2`, or `wasmtime`.
fn runs_in(version: &str) -> String {
    if version == crate::plugin::WASMTIME { version.to_string() } else { format!("Envoy {version}") }
}

/// Keeps the start and the end of a long line: Envoy puts the reason for rejecting a
/// bootstrap at the end of a very long one.
pub(crate) fn shorten_middle(text: &str, head: usize, tail: usize) -> String {
    let count = text.chars().count();
    if count <= head + tail + 10 {
        return text.to_string();
    }
    let start: String = text.chars().take(head).collect();
    let end: String = text.chars().skip(count - tail).collect();
    format!("{start} … {end}")
}

/// Cuts a long text after `max` characters, marking the cut.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    format!("{cut}…")
}
