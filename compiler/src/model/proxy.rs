//! `proxy` declarations, checked: the Envoys of the raw Envoy target and of `meshc smoke`.

use crate::span::Span;
use std::collections::BTreeMap;

/// One `proxy NAME ... { ... }` declaration, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct ProxyDecl {
    /// The declaration's name, as written (`my_service`).
    pub name: String,
    /// The namespace the proxy stands in (for resources scoped to a namespace).
    pub namespace: String,
    /// The workload labels of the proxy (for resources with a selector).
    pub labels: BTreeMap<String, String>,
    /// Where the proxy listens for requests.
    pub listen: Endpoint,
    /// Where it forwards them.
    pub upstream: Endpoint,
    /// Its admin interface (stats, readiness).
    pub admin: Endpoint,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub address: String,
    pub port: u16,
}

impl Endpoint {
    pub fn new(address: impl Into<String>, port: u16) -> Endpoint {
        Endpoint { address: address.into(), port }
    }
}
