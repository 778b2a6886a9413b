//! The echo upstream every smoke proxy forwards to. It answers each request with what
//! it received and records it; its behaviour is part of meshc's interface, described
//! in the crate docs.

use crate::http::{HttpServer, ServerRequest, ServerResponse, header, lock};
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The longest `x-echo-delay-ms` honoured.
const MAX_ECHO_DELAY_MS: u64 = 10_000;

/// A request the echo upstream received.
#[derive(Clone, Debug)]
pub(crate) struct UpstreamRequest {
    pub(crate) headers: Vec<(String, String)>,
}

/// The upstream every smoke proxy forwards to; semantics in the crate docs.
pub(crate) struct Echo {
    pub(crate) server: HttpServer,
    log: Arc<Mutex<Vec<UpstreamRequest>>>,
}

impl Echo {
    pub(crate) fn start() -> io::Result<Echo> {
        let log: Arc<Mutex<Vec<UpstreamRequest>>> = Arc::default();
        let handler = {
            let log = log.clone();
            Arc::new(move |request: &ServerRequest| {
                lock(&log).push(UpstreamRequest { headers: request.headers.clone() });
                echo_response(request)
            })
        };
        Ok(Echo { server: HttpServer::start("echo", handler)?, log })
    }

    /// How many requests it has received so far.
    pub(crate) fn received(&self) -> usize {
        lock(&self.log).len()
    }

    pub(crate) fn since(&self, from: usize) -> Vec<UpstreamRequest> {
        lock(&self.log).get(from..).map(<[_]>::to_vec).unwrap_or_default()
    }
}

/// The answer to one request, as the crate docs describe it; also what the plugin runner
/// on wasmtime answers with.
pub(crate) fn echo_response(request: &ServerRequest) -> ServerResponse {
    let path = request.target.split('?').next().unwrap_or("");
    let status = path
        .strip_prefix("/status/")
        .and_then(|code| code.parse::<u16>().ok())
        .filter(|code| (200..=599).contains(code))
        .unwrap_or(200);
    let delay_ms = header(&request.headers, "x-echo-delay-ms")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0)
        .min(MAX_ECHO_DELAY_MS);
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    for (name, value) in &request.headers {
        if !name.eq_ignore_ascii_case("x-echo-response-header") {
            continue;
        }
        if let Some((name, value)) = value.split_once('=') {
            let name = name.trim();
            if !name.is_empty() && name.bytes().all(is_token_byte) {
                headers.push((name.to_string(), value.trim().to_string()));
            }
        }
    }
    let mut echoed = serde_json::Map::new();
    for (name, value) in &request.headers {
        match echoed.get_mut(name) {
            Some(serde_json::Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(value);
            }
            _ => {
                echoed.insert(name.clone(), serde_json::Value::String(value.clone()));
            }
        }
    }
    let body = serde_json::json!({
        "method": request.method,
        "path": request.target,
        "headers": echoed,
        "body": String::from_utf8_lossy(&request.body),
    });
    ServerResponse {
        status,
        headers,
        body: serde_json::to_vec(&body).unwrap_or_default(),
        delay: Duration::from_millis(delay_ms),
    }
}

/// A byte allowed in a header name (an RFC 9110 token).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
