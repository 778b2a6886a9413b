//! The trace collector every tracing provider reports to: one HTTP endpoint that takes
//! Zipkin v2 JSON and OTLP/HTTP (JSON here, protobuf in [`crate::otlp_protobuf`]) and
//! keeps each span as its name and tags, for the span expectations.

use crate::http::{HttpServer, ServerRequest, ServerResponse, header, lock};
use crate::otlp_protobuf::parse_otlp_protobuf;
use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A span as the collector keeps it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CollectedSpan {
    pub(crate) name: String,
    pub(crate) tags: BTreeMap<String, String>,
}

impl CollectedSpan {
    pub(crate) fn matches(&self, name: Option<&str>, tags: &[(String, String)]) -> bool {
        name.is_none_or(|n| self.name == n) && tags.iter().all(|(k, v)| self.tags.get(k) == Some(v))
    }

    pub(crate) fn describe(&self) -> String {
        let tags: Vec<String> = self.tags.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        format!("{:?} {}", self.name, tags.join(" "))
    }
}

/// Receives spans from every tracing provider; protocols in the crate docs.
pub(crate) struct Collector {
    pub(crate) server: HttpServer,
    spans: Arc<Mutex<Vec<CollectedSpan>>>,
}

impl Collector {
    pub(crate) fn start() -> io::Result<Collector> {
        let spans: Arc<Mutex<Vec<CollectedSpan>>> = Arc::default();
        let handler = {
            let spans = spans.clone();
            Arc::new(move |request: &ServerRequest| {
                let path = request.target.split('?').next().unwrap_or("");
                let (status, received) = match (request.method.as_str(), path) {
                    ("POST", "/api/v2/spans") => (202, parse_zipkin(&request.body)),
                    ("POST", "/v1/traces") => {
                        let json = header(&request.headers, "content-type").is_some_and(|t| t.contains("json"));
                        (200, if json { parse_otlp_json(&request.body) } else { parse_otlp_protobuf(&request.body) })
                    }
                    _ => (404, Some(Vec::new())),
                };
                let status = match received {
                    Some(received) => {
                        lock(&spans).extend(received);
                        status
                    }
                    None => 400,
                };
                ServerResponse { status, headers: Vec::new(), body: Vec::new(), delay: Duration::ZERO }
            })
        };
        Ok(Collector { server: HttpServer::start("collector", handler)?, spans })
    }

    pub(crate) fn received(&self) -> usize {
        lock(&self.spans).len()
    }

    pub(crate) fn since(&self, from: usize) -> Vec<CollectedSpan> {
        lock(&self.spans).get(from..).map(<[_]>::to_vec).unwrap_or_default()
    }
}

/// Zipkin v2 JSON: an array of spans with `name` and string `tags`.
fn parse_zipkin(body: &[u8]) -> Option<Vec<CollectedSpan>> {
    let json: serde_json::Value = serde_json::from_slice(body).ok()?;
    let spans = json.as_array()?;
    Some(
        spans
            .iter()
            .map(|span| CollectedSpan {
                name: span["name"].as_str().unwrap_or_default().to_string(),
                tags: span["tags"]
                    .as_object()
                    .map(|tags| tags.iter().map(|(k, v)| (k.clone(), json_scalar(v))).collect())
                    .unwrap_or_default(),
            })
            .collect(),
    )
}

fn json_scalar(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// OTLP/HTTP JSON: `resourceSpans[].scopeSpans[].spans[]` with `name` and
/// `attributes[{key, value: {stringValue | intValue | ...}}]`.
fn parse_otlp_json(body: &[u8]) -> Option<Vec<CollectedSpan>> {
    let json: serde_json::Value = serde_json::from_slice(body).ok()?;
    let mut out = Vec::new();
    for resource in json["resourceSpans"].as_array()? {
        for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
            for span in scope["spans"].as_array().into_iter().flatten() {
                let tags = span["attributes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|kv| {
                        let key = kv["key"].as_str()?.to_string();
                        let value = kv["value"].as_object()?.values().next().map(json_scalar)?;
                        Some((key, value))
                    })
                    .collect();
                out.push(CollectedSpan { name: span["name"].as_str().unwrap_or_default().to_string(), tags });
            }
        }
    }
    Some(out)
}
