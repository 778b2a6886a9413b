//! Wasm modules of the raw Envoy target, and the HTTP filters that load them.
//!
//! V8 is the only Wasm runtime that works in the official Envoy builds, so every
//! filter here names `envoy.wasm.runtime.v8`. meshc ships its modules as WebAssembly
//! text (`compiler/assets/*.wat`) and assembles them itself with the `wat` crate. No
//! wasm32 Rust target is needed to build meshc, and the modules stay a few KB, which
//! keeps V8's compile at Envoy start-up short.
//!
//! The stats module (`assets/istio_stats.wat`) knows nothing about Istio. It follows
//! a template that [`stats_configuration`] writes from a list of [`StatsMetric`]s.
//! When a stream ends, it increments or records one Envoy stat per metric. The stat's
//! name carries the labels as `LABEL=.=VALUE;.;` pieces, after the prefix `istio_`:
//! `istio_reporter=.=destination;.;response_code=.=200;.;requests_total`. The
//! bootstrap's `stats_config.stats_tags` ([`stats_tags`]) cut the pieces back out as
//! tags. `/stats/prometheus` then shows Istio's names and labels exactly:
//! `istio_requests_total{reporter="destination",response_code="200"} 1`.
//!
//! # The template
//!
//! The template is text with one record per line. Words are separated by spaces. A
//! byte that cannot stand in a word (space, tab, newline, `%`, other control bytes) is
//! written `%XX`. An empty field is written as no word at all. The records are:
//!
//! ```text
//! prefix istio_                             the start of every stat name that follows
//! metric counter requests_total             a metric: `counter` or `histogram`, its name
//! value 1000000 request duration            its value: an int64 attribute / divisor
//!                                           (no `value` record: the value is 1)
//! label reporter literal destination        a label with a fixed value
//! label response_code attribute response code   an Envoy attribute (path segments)
//! label source_workload header x-source-workload  a request header
//! ```
//!
//! A missing attribute or header, or one that fails to read, gives the label
//! `unknown`. When the attribute of a `value` record is missing, the metric is skipped
//! for that stream. The module checks the whole template in `proxy_on_configure`.
//! A bad line makes Envoy reject the configuration, and the log names that line.

use serde_json::{Value, json};
use std::sync::OnceLock;

/// The start of every stat name of the stats module. Istio's metrics are
/// `istio_requests_total` and so on, and the labels go between prefix and name, as in
/// Istio's own Wasm stats plugin.
const PREFIX: &str = "istio_";

/// Envoy's only usable Wasm runtime in the official builds (`wamr`, `wasmtime` and
/// `null` are registered but fail at load).
const RUNTIME: &str = "envoy.wasm.runtime.v8";

/// A metric the stats module maintains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StatsMetric {
    pub kind: MetricKind,
    /// The base name, without `istio_`: `requests_total`.
    pub name: String,
    pub value: MetricValue,
    /// Labels in the order they appear in the stat name; that order has no effect
    /// on the Prometheus output, whose labels come in `stats_tags` order.
    pub labels: Vec<(String, LabelSource)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MetricKind {
    Counter,
    Histogram,
}

/// What one stream adds to a metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MetricValue {
    /// 1: one request.
    One,
    /// `request.duration` (nanoseconds) in whole milliseconds.
    DurationMilliseconds,
    /// `request.total_size`: request headers and body, in bytes.
    RequestBytes,
    /// `response.total_size`: response headers, body and trailers, in bytes.
    ResponseBytes,
}

/// Where a label's value comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LabelSource {
    /// A value known when meshc builds the bootstrap (reporter, workload names).
    Literal(String),
    /// An Envoy attribute read when the stream ends, as path segments:
    /// `["response", "code"]` is `response.code`. Segments are kept apart because a
    /// segment (a metadata key) may itself contain dots.
    Attribute(Vec<String>),
    /// A request header, by name.
    RequestHeader(String),
}

/// The stats module reads a tag's value where the checker found it.
impl From<crate::model::TagSource> for LabelSource {
    fn from(source: crate::model::TagSource) -> LabelSource {
        match source {
            crate::model::TagSource::Literal(text) => LabelSource::Literal(text),
            crate::model::TagSource::RequestHeader(name) => LabelSource::RequestHeader(name),
            crate::model::TagSource::Attribute(path) => LabelSource::Attribute(path),
        }
    }
}

impl MetricValue {
    /// The attribute and divisor the module turns into the value; `None` for 1.
    fn attribute(self) -> Option<(u64, [&'static str; 2])> {
        match self {
            MetricValue::One => None,
            MetricValue::DurationMilliseconds => Some((1_000_000, ["request", "duration"])),
            MetricValue::RequestBytes => Some((1, ["request", "total_size"])),
            MetricValue::ResponseBytes => Some((1, ["response", "total_size"])),
        }
    }
}

/// Assembles WebAssembly text into a binary module. Errors carry the crate's message
/// with `line:column` and the offending line. The `wat` crate checks syntax and
/// names, not types: V8 checks those when Envoy loads the module, as in
/// `envoy --mode validate`.
pub(crate) fn assemble(wat: &str) -> Result<Vec<u8>, String> {
    wat::parse_str(wat).map_err(|error| error.to_string())
}

/// The stats module, assembled the first time it is needed. The text is part of
/// meshc, so a failure here is a bug in meshc, caught by the unit tests.
pub(crate) fn istio_stats_module() -> &'static [u8] {
    static MODULE: OnceLock<Vec<u8>> = OnceLock::new();
    MODULE.get_or_init(|| {
        assemble(include_str!("../../assets/istio_stats.wat"))
            .unwrap_or_else(|error| panic!("assets/istio_stats.wat does not assemble: {error}"))
    })
}

/// The template the stats module follows, for the filter's `config.configuration`.
/// Labels with an empty name are left out, since no tag could name them. An attribute
/// with an empty path or segment, or a header with an empty name, cannot name
/// anything, so such a label is written as the literal `unknown`, the value the
/// module would give.
pub(crate) fn stats_configuration(metrics: &[StatsMetric]) -> String {
    let mut out = format!("prefix {}\n", word(PREFIX));
    for metric in metrics {
        let kind = match metric.kind {
            MetricKind::Counter => "counter",
            MetricKind::Histogram => "histogram",
        };
        out.push_str(&record(&["metric", kind, &word(&metric.name)]));
        if let Some((divisor, path)) = metric.value.attribute() {
            out.push_str(&record(&["value", &divisor.to_string(), path[0], path[1]]));
        }
        for (name, source) in &metric.labels {
            if name.is_empty() {
                continue;
            }
            let name = word(name);
            let line = match source {
                LabelSource::Literal(text) => record(&["label", &name, "literal", &word(text)]),
                LabelSource::Attribute(path) if !path.is_empty() && path.iter().all(|s| !s.is_empty()) => {
                    let mut words = vec!["label".to_string(), name.clone(), "attribute".to_string()];
                    words.extend(path.iter().map(|segment| word(segment)));
                    record(&words.iter().map(String::as_str).collect::<Vec<_>>())
                }
                LabelSource::RequestHeader(header) if !header.is_empty() => {
                    record(&["label", &name, "header", &word(header)])
                }
                LabelSource::Attribute(_) | LabelSource::RequestHeader(_) => {
                    record(&["label", &name, "literal", "unknown"])
                }
            };
            out.push_str(&line);
        }
    }
    out
}

/// One line of the template. Empty words are dropped: an empty field is written as no
/// word, and only last fields may be empty.
fn record(words: &[&str]) -> String {
    let mut line = words.iter().filter(|w| !w.is_empty()).copied().collect::<Vec<_>>().join(" ");
    line.push('\n');
    line
}

/// A template word: the bytes that would end a word or a line, `%` and control bytes
/// become `%XX`. Other bytes, UTF-8 included, stay as they are, so the template reads
/// like the names it holds.
fn word(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '%' || c == ' ' || c.is_ascii_control() {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// A label name as the module writes it into the stat name: `;`, `=` and control
/// bytes become `_`, so the tag regex must use the same spelling.
fn clean(name: &str) -> String {
    name.chars().map(|c| if c == ';' || c == '=' || c.is_ascii_control() { '_' } else { c }).collect()
}

/// The bootstrap's `stats_config.stats_tags` for these metrics: one entry per distinct
/// label name, in order of first appearance. Every label needs its own entry,
/// otherwise its `LABEL=.=VALUE;.;` piece stays inside the metric's name.
///
/// The regex `(LABEL=\.=(.*?);\.;)` is Istio's. Its first group is the piece Envoy
/// removes, the second the tag value. A label name that ends another one after an
/// underscore (`workload` and `source_workload`) would also match inside the longer
/// one, so label sets must not pair such names. Istio's standard labels do not.
pub(crate) fn stats_tags(metrics: &[StatsMetric]) -> Vec<Value> {
    let mut seen: Vec<String> = Vec::new();
    for (name, _) in metrics.iter().flat_map(|metric| &metric.labels) {
        let name = clean(name);
        if !name.is_empty() && !seen.contains(&name) {
            seen.push(name);
        }
    }
    seen.into_iter()
        .map(|name| {
            let regex = format!("({}=\\.=(.*?);\\.;)", regex_escape(&name));
            json!({ "tag_name": name, "regex": regex })
        })
        .collect()
}

/// Escapes every character that is not a letter, digit or `_` with a backslash, which
/// both std::regex and RE2 read as that literal character.
fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if !(c.is_ascii_alphanumeric() || c == '_') && c.is_ascii() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The HTTP filter entry (for an HCM's `http_filters`) that runs the stats module on
/// these metrics. Its place in the list does not matter: Envoy calls the log hook of
/// every filter of a stream, also when another filter, before or after it, sends a
/// local reply (checked on 1.36 and 1.40).
///
/// The VM id is derived from the template. The module keeps one template per VM,
/// and filters with the same VM id share a VM. Filters with equal templates then
/// share one, and different templates get their own. Envoy still compiles the
/// module once for all of them.
pub(crate) fn stats_filter(metrics: &[StatsMetric]) -> Value {
    let configuration = stats_configuration(metrics);
    let vm_id = format!("istio_stats_{:016x}", fnv1a64(configuration.as_bytes()));
    wasm_filter("istio.stats", "istio_stats", &vm_id, istio_stats_module(), &configuration)
}

/// An HTTP filter entry running a Wasm module on V8, with the module inline (no file
/// to ship next to the bootstrap) and `configuration` as the plugin configuration.
/// `name` is the filter's name; `plugin` names the plugin in Envoy's logs and is its
/// root id.
pub(crate) fn wasm_filter(name: &str, plugin: &str, vm_id: &str, module: &[u8], configuration: &str) -> Value {
    json!({
        "name": name,
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": plugin,
                "root_id": plugin,
                "vm_config": {
                    "vm_id": vm_id,
                    "runtime": RUNTIME,
                    "code": { "local": { "inline_bytes": base64(module) } }
                },
                "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                    "value": configuration
                }
            }
        }
    })
}

/// Standard base64 with padding, as proto3 JSON writes `bytes` fields
/// (`inline_bytes`). It is small enough not to need a dependency.
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(chunk.get(1).copied().unwrap_or(0)) << 8)
            | u32::from(chunk.get(2).copied().unwrap_or(0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// FNV-1a, 64 bits: a stable hash (the same in every meshc build), so the same
/// package always gives the same bootstrap.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::FileId;

    fn attribute(path: &str) -> LabelSource {
        LabelSource::Attribute(path.split('.').map(str::to_string).collect())
    }

    fn example() -> Vec<StatsMetric> {
        let labels = vec![
            ("reporter".to_string(), LabelSource::Literal("destination".into())),
            ("response_code".to_string(), attribute("response.code")),
            ("source_workload".to_string(), LabelSource::RequestHeader("x-source-workload".into())),
        ];
        vec![
            StatsMetric {
                kind: MetricKind::Counter,
                name: "requests_total".into(),
                value: MetricValue::One,
                labels: labels.clone(),
            },
            StatsMetric {
                kind: MetricKind::Histogram,
                name: "request_duration_milliseconds".into(),
                value: MetricValue::DurationMilliseconds,
                labels: vec![
                    labels[0].clone(),
                    ("request_protocol".to_string(), attribute("request.protocol")),
                    ("destination_workload".to_string(), LabelSource::Literal("my service %1".into())),
                    ("grpc_response_status".to_string(), LabelSource::Literal(String::new())),
                ],
            },
        ]
    }

    #[test]
    fn the_modules_assemble() {
        let module = istio_stats_module();
        assert_eq!(&module[..8], b"\0asm\x01\0\0\0");
        assert!(module.len() < 8 * 1024, "the stats module grew to {} bytes", module.len());
        let plugin = assemble(include_str!("../../../examples/smoke/plugins/add_header.wat")).unwrap();
        assert_eq!(&plugin[..4], b"\0asm");
    }

    #[test]
    fn assembly_errors_have_a_position() {
        let error = assemble("(module\n  (func (export \"f\") (result i32)\n    (i32.const)))").unwrap_err();
        assert!(error.contains(":3:"), "{error}");
    }

    #[test]
    fn the_configuration_is_a_template_of_lines() {
        assert_eq!(
            stats_configuration(&example()),
            "prefix istio_\n\
             metric counter requests_total\n\
             label reporter literal destination\n\
             label response_code attribute response code\n\
             label source_workload header x-source-workload\n\
             metric histogram request_duration_milliseconds\n\
             value 1000000 request duration\n\
             label reporter literal destination\n\
             label request_protocol attribute request protocol\n\
             label destination_workload literal my%20service%20%251\n\
             label grpc_response_status literal\n"
        );
    }

    #[test]
    fn labels_that_cannot_name_anything_are_unknown() {
        let metric = StatsMetric {
            kind: MetricKind::Histogram,
            name: "response_bytes".into(),
            value: MetricValue::ResponseBytes,
            labels: vec![
                ("a".into(), LabelSource::Attribute(vec![])),
                ("b".into(), LabelSource::Attribute(vec!["metadata".into(), "envoy.lb".into(), String::new()])),
                ("c".into(), LabelSource::RequestHeader(String::new())),
                (String::new(), LabelSource::Literal("dropped".into())),
                ("d".into(), LabelSource::Attribute(vec!["metadata".into(), "envoy.lb".into()])),
            ],
        };
        assert_eq!(
            stats_configuration(&[metric]),
            "prefix istio_\n\
             metric histogram response_bytes\n\
             value 1 response total_size\n\
             label a literal unknown\n\
             label b literal unknown\n\
             label c literal unknown\n\
             label d attribute metadata envoy.lb\n"
        );
    }

    #[test]
    fn one_stats_tag_per_distinct_label() {
        let tags: Vec<String> = stats_tags(&example()).iter().map(Value::to_string).collect();
        assert_eq!(
            tags,
            [
                r#"{"tag_name":"reporter","regex":"(reporter=\\.=(.*?);\\.;)"}"#,
                r#"{"tag_name":"response_code","regex":"(response_code=\\.=(.*?);\\.;)"}"#,
                r#"{"tag_name":"source_workload","regex":"(source_workload=\\.=(.*?);\\.;)"}"#,
                r#"{"tag_name":"request_protocol","regex":"(request_protocol=\\.=(.*?);\\.;)"}"#,
                r#"{"tag_name":"destination_workload","regex":"(destination_workload=\\.=(.*?);\\.;)"}"#,
                r#"{"tag_name":"grpc_response_status","regex":"(grpc_response_status=\\.=(.*?);\\.;)"}"#,
            ]
        );
        let odd = StatsMetric {
            kind: MetricKind::Counter,
            name: "x".into(),
            value: MetricValue::One,
            labels: vec![("a.b;c".into(), LabelSource::Literal("v".into()))],
        };
        assert_eq!(stats_tags(&[odd])[0], json!({"tag_name": "a.b_c", "regex": "(a\\.b_c=\\.=(.*?);\\.;)"}));
    }

    #[test]
    fn base64_pads_like_proto3_json() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foob"), "Zm9vYg==");
        assert_eq!(base64(&[0xff, 0xfe, 0x00, 0x01]), "//4AAQ==");
    }

    #[test]
    fn the_filter_passes_the_envoy_schema() {
        let metrics = example();
        let filter = stats_filter(&metrics);
        let config = &filter["typed_config"]["config"];
        assert_eq!(config["vm_config"]["runtime"], "envoy.wasm.runtime.v8");
        assert_eq!(config["configuration"]["value"], stats_configuration(&metrics).as_str());
        assert_eq!(config["vm_config"]["code"]["local"]["inline_bytes"], base64(istio_stats_module()).as_str());
        // Equal templates share a VM; different ones do not.
        assert_eq!(
            stats_filter(&metrics)["typed_config"]["config"]["vm_config"]["vm_id"],
            config["vm_config"]["vm_id"]
        );
        assert_ne!(
            stats_filter(&metrics[..1])["typed_config"]["config"]["vm_config"]["vm_id"],
            config["vm_config"]["vm_id"]
        );

        let bootstrap = json!({
            "stats_config": { "stats_tags": stats_tags(&metrics) },
            "static_resources": {
                "listeners": [{
                    "name": "main",
                    "address": { "socket_address": { "address": "127.0.0.1", "port_value": 0 } },
                    "filter_chains": [{ "filters": [{
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                            "stat_prefix": "main",
                            "route_config": { "virtual_hosts": [{
                                "name": "all",
                                "domains": ["*"],
                                "routes": [{ "match": { "prefix": "/" }, "route": { "cluster": "upstream" } }]
                            }]},
                            "http_filters": [
                                filter,
                                {
                                    "name": "envoy.filters.http.router",
                                    "typed_config": { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" }
                                }
                            ]
                        }
                    }]}]
                }],
                "clusters": [{
                    "name": "upstream",
                    "type": "STATIC",
                    "load_assignment": { "cluster_name": "upstream", "endpoints": [{ "lb_endpoints": [{ "endpoint": {
                        "address": { "socket_address": { "address": "127.0.0.1", "port_value": 8080 } }
                    }}]}]}
                }]
            }
        });
        let text = serde_json::to_string_pretty(&bootstrap).unwrap();
        let diagnostics = crate::envoy::validate_bootstrap(FileId(0), &text, &["1.38.2"]);
        assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    }
}
