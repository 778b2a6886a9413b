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
    /// Which of Istio's proxies it stands for, which decides the EnvoyFilter patches
    /// that apply to it and the side it reports metrics, traces and logs as.
    pub role: ProxyRole,
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

/// The proxies of Istio a raw Envoy can stand for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyRole {
    /// A sidecar's inbound listener: requests to the workload (the server side).
    SidecarInbound,
    /// A sidecar's outbound listener: the workload's requests to others (the client side).
    SidecarOutbound,
    /// A gateway, which Istio configures as a client of the services it routes to.
    Gateway,
}

impl ProxyRole {
    /// The EnvoyFilter context of the role (`SIDECAR_INBOUND`).
    pub fn context(self) -> &'static str {
        match self {
            ProxyRole::SidecarInbound => "SIDECAR_INBOUND",
            ProxyRole::SidecarOutbound => "SIDECAR_OUTBOUND",
            ProxyRole::Gateway => "GATEWAY",
        }
    }
}
