//! Judging: turns a response, or what changed during a scenario, into the message of
//! each expectation that does not hold. Nothing here does IO: [`crate::group`] gathers
//! what is judged.

use crate::Failure;
use crate::collector::CollectedSpan;
use crate::echo::UpstreamRequest;
use crate::http::Response;
use crate::prometheus::{Metrics, Series, format_selector, number};
use crate::report::shorten;
use meshc_compiler::model::smoke::{Expectation, ExpectationKind};
use std::fmt::Write as _;

/// Expectations judged on what Envoy, the collector or the logs observed, as opposed
/// to those judged on one response.
pub(crate) fn is_observation(kind: &ExpectationKind) -> bool {
    matches!(
        kind,
        ExpectationKind::Metric { .. }
            | ExpectationKind::AccessLog { .. }
            | ExpectationKind::Span { .. }
            | ExpectationKind::EnvoyLog(_)
            | ExpectationKind::NoEnvoyLog(_)
    )
}

/// Judges the response expectations among `expectations` (the observations are judged
/// apart) on one request's answer and on what the upstream received for it; each
/// failure's message starts with `label`, such as `request 2 GET /`.
pub(crate) fn judge_answer(
    expectations: &[Expectation],
    label: &str,
    response: &Result<Response, String>,
    upstream: Option<&UpstreamRequest>,
) -> Vec<Failure> {
    expectations
        .iter()
        .filter(|e| !is_observation(&e.kind))
        .filter_map(|e| {
            judge_response(&e.kind, response, upstream)
                .map(|message| Failure { span: Some(e.span), message: format!("{label}: {message}") })
        })
        .collect()
}

/// A request's label (`request 2 GET /`), its answer and what the upstream received for it.
pub(crate) type Answer = (String, Result<Response, String>, Option<UpstreamRequest>);

/// Judges a scenario's own response expectations on its last answer; without one, each
/// fails with `unanswered`.
pub(crate) fn judge_last_answer(expectations: &[Expectation], last: Option<&Answer>, unanswered: &str) -> Vec<Failure> {
    match last {
        None => expectations
            .iter()
            .filter(|e| !is_observation(&e.kind))
            .map(|e| Failure { span: Some(e.span), message: unanswered.to_string() })
            .collect(),
        Some((label, response, upstream)) => judge_answer(expectations, label, response, upstream.as_ref()),
    }
}

/// Judges one response expectation; `None` when it holds.
pub(crate) fn judge_response(
    kind: &ExpectationKind,
    response: &Result<Response, String>,
    upstream: Option<&UpstreamRequest>,
) -> Option<String> {
    let response = match response {
        Ok(response) => response,
        Err(error) => return Some(format!("no response: {error}")),
    };
    match kind {
        ExpectationKind::Status(expected) => {
            (response.status != *expected).then(|| format!("status: expected {expected}, got {}", response.status))
        }
        ExpectationKind::Header { name, value } => judge_header("header", name, value.as_deref(), &response.headers),
        ExpectationKind::NoHeader { name } => judge_no_header("header", name, &response.headers),
        ExpectationKind::BodyContains(text) => {
            let body = String::from_utf8_lossy(&response.body);
            (!body.contains(text.as_str()))
                .then(|| format!("body: does not contain {text:?}; the body is {:?}", shorten(&body, 300)))
        }
        ExpectationKind::UpstreamHeader { name, value } => match upstream {
            None => Some(format!("upstream header {name}: the upstream received no request for it")),
            Some(upstream) => judge_header("upstream header", name, value.as_deref(), &upstream.headers),
        },
        ExpectationKind::NoUpstreamHeader { name } => {
            upstream.and_then(|upstream| judge_no_header("upstream header", name, &upstream.headers))
        }
        _ => None,
    }
}

fn header_values<'h>(name: &str, headers: &'h [(String, String)]) -> Vec<&'h str> {
    headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
}

fn quoted_list(values: &[&str]) -> String {
    values.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(", ")
}

fn judge_header(what: &str, name: &str, expected: Option<&str>, headers: &[(String, String)]) -> Option<String> {
    let values = header_values(name, headers);
    match expected {
        _ if values.is_empty() => Some(format!("{what} {name}: absent")),
        Some(expected) if !values.contains(&expected) => {
            Some(format!("{what} {name}: expected {expected:?}, got {}", quoted_list(&values)))
        }
        _ => None,
    }
}

fn judge_no_header(what: &str, name: &str, headers: &[(String, String)]) -> Option<String> {
    let values = header_values(name, headers);
    (!values.is_empty()).then(|| format!("{what} {name}: expected absent, got {}", quoted_list(&values)))
}

/// What changed during one scenario, as read at one moment: what observations are
/// judged on.
pub(crate) struct Window {
    /// The metrics when the scenario started, the baseline of counters.
    pub(crate) metrics_before: Option<Metrics>,
    /// `None` when no expectation needs the metrics, so they were not read.
    pub(crate) metrics: Option<Result<Metrics, String>>,
    pub(crate) access_lines: Vec<String>,
    pub(crate) spans: Vec<CollectedSpan>,
    /// Envoy's start-up lines and the lines written during the scenario.
    pub(crate) envoy_log: String,
}

/// Judges one observation; `None` when it holds.
pub(crate) fn judge_observation(kind: &ExpectationKind, window: &Window) -> Option<String> {
    match kind {
        ExpectationKind::Metric { name, labels, value } => {
            let selector = format_selector(name, labels);
            let after = match &window.metrics {
                Some(Ok(metrics)) => metrics,
                Some(Err(message)) => {
                    return Some(format!("metric {selector}: cannot read /stats/prometheus: {message}"));
                }
                None => return Some(format!("metric {selector}: the metrics were not read")),
            };
            let matching: Vec<&Series> = after.series.iter().filter(|s| s.matches(name, labels)).collect();
            if matching.is_empty() {
                return Some(no_series_message(&selector, name, after));
            }
            let expected = (*value)?;
            let gauge = after.is_gauge(name);
            let got: f64 = matching
                .iter()
                .map(|s| {
                    let before =
                        if gauge { 0.0 } else { window.metrics_before.as_ref().map_or(0.0, |m| m.value_of(s)) };
                    s.value - before
                })
                .sum();
            let close = (got - expected).abs() <= 1e-9 * expected.abs().max(1.0);
            let what = if gauge { "its value at the end of the scenario" } else { "its increase during the scenario" };
            (!close).then(|| format!("metric {selector}: expected {} ({what}), got {}", number(expected), number(got)))
        }
        ExpectationKind::AccessLog { lines, contains } => {
            let got = &window.access_lines;
            let mut problems = Vec::new();
            if let Some(expected) = lines {
                if got.len() != *expected {
                    problems.push(format!("expected {} line{}, got {}", expected, plural(*expected), got.len()));
                }
            }
            for text in contains {
                if !got.iter().any(|line| line.contains(text.as_str())) {
                    problems.push(format!("no line contains {text:?}"));
                }
            }
            (!problems.is_empty()).then(|| {
                let mut message = format!("access log: {}", problems.join("; "));
                list_lines(&mut message, "lines written during the scenario", got);
                message
            })
        }
        ExpectationKind::Span { count, name, tags } => {
            let matching = window.spans.iter().filter(|s| s.matches(name.as_deref(), tags)).count();
            let filter = span_filter(name.as_deref(), tags);
            let problem = match count {
                Some(expected) if matching != *expected => {
                    Some(format!("spans{filter}: expected {expected}, got {matching}"))
                }
                None if matching == 0 => Some(format!("span{filter}: none received")),
                _ => None,
            };
            problem.map(|mut message| {
                let received: Vec<String> = window.spans.iter().map(CollectedSpan::describe).collect();
                list_lines(&mut message, "spans received during the scenario", &received);
                message
            })
        }
        ExpectationKind::EnvoyLog(text) => {
            (!window.envoy_log.contains(text.as_str())).then(|| format!("Envoy log: does not contain {text:?}"))
        }
        ExpectationKind::NoEnvoyLog(text) => window
            .envoy_log
            .lines()
            .find(|line| line.contains(text.as_str()))
            .map(|line| format!("Envoy log: contains {text:?}: {}", shorten(line, 300))),
        _ => None,
    }
}

fn no_series_message(selector: &str, name: &str, metrics: &Metrics) -> String {
    let same_name: Vec<&Series> = metrics.series.iter().filter(|s| s.name == name).collect();
    if same_name.is_empty() {
        let mut names: Vec<&str> = metrics.series.iter().map(|s| s.name.as_str()).collect();
        names.dedup();
        let mut message = format!("metric {selector}: no series of this name");
        if let Some(suggestion) = meshc_compiler::diagnostic::did_you_mean(name, names.iter().copied()) {
            let _ = write!(message, "; did you mean `{suggestion}`?");
        }
        message
    } else {
        let mut message = format!("metric {selector}: no series of this name has these labels");
        let listed: Vec<String> = same_name.iter().map(|s| s.describe()).collect();
        list_lines(&mut message, "series of this name", &listed);
        message
    }
}

/// Appends up to ten lines under a heading, so a failure shows what was there.
fn list_lines(message: &mut String, heading: &str, lines: &[String]) {
    if lines.is_empty() {
        let _ = write!(message, "\n({heading}: none)");
        return;
    }
    let _ = write!(message, "\n{heading}:");
    for line in lines.iter().take(10) {
        let _ = write!(message, "\n  {}", shorten(line, 300));
    }
    if lines.len() > 10 {
        let _ = write!(message, "\n  … and {} more", lines.len() - 10);
    }
}

fn span_filter(name: Option<&str>, tags: &[(String, String)]) -> String {
    let mut out = String::new();
    if let Some(name) = name {
        let _ = write!(out, " named {name:?}");
    }
    if !tags.is_empty() {
        let tags: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        let _ = write!(out, " with tags {}", tags.join(", "));
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
