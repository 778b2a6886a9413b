//! The Istio releases meshc targets, the Envoy each ships, and what each release's
//! CRDs accept.
//!
//! The feature table is derived from the CRD schemas of each release (the OpenAPI
//! schemas under `shared/reference/istio-crds/` in the development setup): a feature
//! is listed where a release's schema first has the field or enum value.

/// An Istio minor release and the Envoy minor its proxy is built on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IstioRelease {
    pub version: &'static str,
    pub envoy: &'static str,
    /// Not yet released; its schemas come from the development branch.
    pub development: bool,
}

/// Istio's proxy tracks one Envoy minor per Istio minor, released about three months
/// apart: 1.28 ships Envoy 1.36 and each later Istio minor the next Envoy minor.
pub static ISTIO_RELEASES: &[IstioRelease] = &[
    IstioRelease { version: "1.28", envoy: "1.36", development: false },
    IstioRelease { version: "1.29", envoy: "1.37", development: false },
    IstioRelease { version: "1.30", envoy: "1.38", development: false },
    IstioRelease { version: "1.31", envoy: "1.39", development: true },
];

/// The Envoy minors meshc supports for raw Envoy output.
pub static ENVOY_MINORS: &[&str] = &["1.36", "1.37", "1.38", "1.39", "1.40"];

/// The release of a version written as `1.30` or `1.30.3`.
pub fn istio_release(version: &str) -> Option<&'static IstioRelease> {
    let mut parts = version.trim().split('.');
    let (major, minor) = (parts.next()?, parts.next()?);
    if parts.next().is_some_and(|patch| patch.parse::<u32>().is_err()) {
        return None;
    }
    let wanted = format!("{major}.{minor}");
    ISTIO_RELEASES.iter().find(|r| r.version == wanted)
}

/// Fields and values that only some releases' CRDs have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feature {
    /// Telemetry `tracing[].customTags[].formatter` (1.29 and later).
    TelemetryFormatterTag,
    /// EnvoyFilter `match.context: WAYPOINT` and the `match.waypoint` object (1.29 and later).
    WaypointContext,
    /// EnvoyFilter `match.listener.filterChain.transportSocket` (1.31 and later).
    FilterChainTransportSocketMatch,
}

impl Feature {
    fn since(self) -> (u32, u32) {
        match self {
            Feature::TelemetryFormatterTag | Feature::WaypointContext => (1, 29),
            Feature::FilterChainTransportSocketMatch => (1, 31),
        }
    }
}

pub fn istio_supports(release: &str, feature: Feature) -> bool {
    let mut parts = release.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let version = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    version >= feature.since()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_parse_with_or_without_patch() {
        assert_eq!(istio_release("1.30").map(|r| r.envoy), Some("1.38"));
        assert_eq!(istio_release("1.28.3").map(|r| r.envoy), Some("1.36"));
        assert_eq!(istio_release("1.27"), None);
        assert_eq!(istio_release("1.30.x"), None);
    }

    #[test]
    fn features_follow_the_crd_schemas() {
        assert!(!istio_supports("1.28", Feature::WaypointContext));
        assert!(istio_supports("1.29", Feature::WaypointContext));
        assert!(istio_supports("1.30", Feature::TelemetryFormatterTag));
        assert!(!istio_supports("1.30", Feature::FilterChainTransportSocketMatch));
        assert!(istio_supports("1.31", Feature::FilterChainTransportSocketMatch));
    }
}
