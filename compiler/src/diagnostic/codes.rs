//! The registry of diagnostic codes.
//!
//! A code is stable once released: tests, CI filters and editor settings refer to it.
//! Each code is documented exactly once, here; `meshc explain CODE` prints that text.
//! Codes starting with `E` are errors, `W` warnings, `N` notes.

use super::Severity;

/// A stable diagnostic code such as `E0203`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code(pub &'static str);

impl Code {
    pub fn severity(self) -> Severity {
        match self.0.as_bytes().first() {
            Some(b'W') => Severity::Warning,
            Some(b'N') => Severity::Note,
            _ => Severity::Error,
        }
    }

    pub fn info(self) -> Option<&'static CodeInfo> {
        lookup(self.0)
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

pub struct CodeInfo {
    pub code: Code,
    /// A few words, shown in listings.
    pub title: &'static str,
    /// Markdown: what the diagnostic means, an example, and how to fix it.
    pub explanation: &'static str,
}

pub fn lookup(code: &str) -> Option<&'static CodeInfo> {
    let wanted = code.trim().to_ascii_uppercase();
    ALL.iter().find(|info| info.code.0 == wanted)
}

macro_rules! codes {
    ($( $name:ident = $code:literal, $title:literal, $explanation:literal; )*) => {
        $( pub const $name: Code = Code($code); )*
        pub static ALL: &[CodeInfo] = &[
            $( CodeInfo { code: $name, title: $title, explanation: $explanation }, )*
        ];
    };
}

codes! {
    // Syntax: E01xx.
    SYNTAX = "E0100", "syntax error",
"The text does not follow meshc's grammar at this point.
The message says what the parser expected; the rest of the file is still checked,
so fix the first error of a region before trusting the ones right after it.

    telemetry defaults mesh {
      tracing zipkin { sampling 5% }
      access_log envoy when           # E0100: expected an expression after `when`
    }";
    UNKNOWN_KEYWORD = "E0101", "unknown declaration or statement",
"A declaration or statement starts with a word that meshc does not know in this place.
Declarations are `package`, `import`, `let`, `schema`, `telemetry`, `wasm_plugin` and
`envoy_filter`; each block lists the statements it accepts in the language tour.
A did-you-mean names the nearest known word.

    telemtry defaults mesh { }        # E0101: did you mean `telemetry`?";
    UNTERMINATED_STRING = "E0102", "unterminated string",
"A string literal is not closed before the end of its line (for `\"...\"`) or the end of
the file (for `\"\"\"...\"\"\"`). Close it, or use a triple-quoted string for text that spans lines.

    url \"oci://ghcr.io/myorg/plugin:v1     # E0102";
    INVALID_UTF8 = "E0103", "file is not valid UTF-8",
"meshc reads source files as UTF-8. The label points at the first byte that is not valid
UTF-8; everything before it is still checked. Re-save the file as UTF-8.";
    EMPTY_FILE = "W0104", "empty file",
"The file contains no declarations (only white space or comments). It contributes
nothing to the package; delete it or add declarations.";
    INVALID_ESCAPE = "E0105", "invalid escape in a string",
"Strings accept the escapes `\\\\`, `\\\"`, `\\n`, `\\r`, `\\t` and `\\u{...}`.
Any other backslash sequence is an error; write `\\\\` for a literal backslash
(regular expressions in `proxy_version` need it).";
    INVALID_NUMBER = "E0106", "invalid number or unit",
"A number is malformed, too large, or carries a unit meshc does not know.
Units are `%` for percentages and `ns`, `us`, `ms`, `s`, `m`, `h` for durations.

    sampling 5 %      # E0106: write `5%` without a space";
    MISSING_PACKAGE = "E0107", "package declaration does not match mesh.toml",
"Every `.mesh` file of a package may start with `package NAME`; when it does, NAME must
equal the `name` in the package's `mesh.toml`, so that files moved between packages are noticed.";
    STDLIB_ONLY = "E0108", "declaration only allowed in the standard library",
"`attribute`, `metric` and `provider_kind` declarations describe the vocabulary that
meshc checks against; they are part of the embedded standard library and cannot be
declared by a package.";

    // Package, manifest and names: E02xx.
    INVALID_RESOURCE_YAML = "E0110", "invalid Kubernetes YAML",
"A YAML file given to `meshc check` does not parse as YAML. The documents before the
mistake are still checked; the rest of the file is not, because a YAML parser cannot
know where the broken document ends.";
    KIND_NOT_CHECKED = "N0112", "kind not checked",
"A YAML file given to `meshc check` holds a document of a kind meshc does not check
(a Deployment, a VirtualService). meshc checks Telemetry, WasmPlugin and EnvoyFilter;
other documents, and documents that are no Kubernetes object at all (Helm values, a
CI workflow), are passed over with this note, so that a directory of manifests can be
checked as it is.";
    UNREADABLE_RESOURCE = "E0113", "resource cannot be read",
"A Telemetry, WasmPlugin or EnvoyFilter document that its CRD accepts still holds a value
istiod cannot read into Istio's API types, such as an EnvoyFilter `priority` beyond a
32-bit integer (the CRD's `format: int32` sets no bounds). meshc cannot read it either,
and checks nothing else in the document. The message names what did not fit.";
    MISSING_MANIFEST = "E0200", "missing mesh.toml",
"A package is a directory with a `mesh.toml`. meshc looked for it in the directory
given on the command line (or the directory of the given file) and its parents.
Create one:

    [package]
    name = \"payments\"
    istio = [\"1.30\"]
    root_namespace = \"istio-system\"

    [providers]
    prometheus = { kind = \"prometheus\" }";
    INVALID_MANIFEST = "E0201", "invalid mesh.toml",
"The manifest is not valid TOML, or a key has the wrong type or an unknown value.
The label points at the offending key in `mesh.toml`.";
    DUPLICATE_NAME = "E0202", "duplicate declaration",
"Two declarations of the same kind share a name in one package, or two declarations
would generate a resource with the same kind, namespace and name. Resource names must
be unique, because a later one would silently replace the earlier in the cluster.";
    UNKNOWN_PROVIDER = "E0203", "unknown provider",
"A telemetry block names a provider that the package's `mesh.toml` does not declare
under `[providers]`. Istio resolves provider names against MeshConfig's
`extensionProviders`; a name that is not there is silently ignored at runtime, so meshc
rejects it. Declare the provider in `mesh.toml`, or fix the name.

    tracing zipkn { }      # E0203: did you mean `zipkin`?";
    UNKNOWN_MODULE = "E0204", "unknown module",
"An `import` names a module that is neither in the standard library (`std.*`) nor a
`.mesh` file of this package. Stdlib modules are `std.metrics`, `std.attributes`,
`std.providers` and `std.filters`. A package file `lib/labels.mesh` of the package
`payments` is the module `payments.lib.labels`; its `let` declarations are then
written `labels.NAME`. (Every file of a package also sees the others' declarations
by their bare names.)";
    UNKNOWN_NAME = "E0205", "unknown name",
"A reference names no `let`, `schema` or imported declaration in scope.
Names from an imported module are written `module.name` (`filters.router`).";
    UNKNOWN_ISTIO_VERSION = "E0206", "unsupported target version",
"`mesh.toml` names an Istio or Envoy version that meshc does not support.
`meshc --version` lists the supported releases.";
    PROVIDER_KIND_MISMATCH = "E0207", "provider of the wrong kind",
"A provider is used where its kind does not fit: a tracing block needs a tracing
provider (zipkin, opentelemetry, datadog, skywalking, stackdriver), a metrics block a
metrics provider (prometheus, stackdriver) and an access_log an access-log provider
(envoy_file_access_log, envoy_otel_als, envoy_http_als, envoy_tcp_als, opentelemetry).
Istio ignores such a provider without an error.";
    UNUSED_IMPORT = "W0208", "unused import",
"A module is imported but none of its names are used in the file.";
    PROVIDER_NOT_IN_MESH_CONFIG = "E0210", "provider missing from the cluster's MeshConfig",
"mesh.toml names the cluster's MeshConfig (`mesh_config = \"...\"` under [package]), and a
provider it declares is not among that MeshConfig's `extensionProviders`, or is of another
kind there. istiod would reject or ignore every Telemetry that names it. Add the provider
to the MeshConfig (`meshc mesh-config` prints the fragment to merge), or fix the name.";
    PROVIDER_SETTING_DIFFERS = "W0211", "provider setting differs from the cluster's MeshConfig",
"A provider of mesh.toml sets a value that the cluster's MeshConfig sets differently, or
not at all. istiod uses the MeshConfig's; meshc checked against mesh.toml's. Make them
agree (`meshc mesh-config` prints mesh.toml's providers as a MeshConfig fragment).";
    CYCLIC_LET = "E0209", "a let defined through itself",
"A `let` whose value names itself, directly or through other lets (`let a = b`,
`let b = a`), or through lets of modules that import each other, has no value. The
message shows the chain of names; break it by writing one of the values out.";

    // Istio resources: E03xx.
    UNKNOWN_ENUM_VALUE = "E0300", "unknown value",
"A value must be one of a fixed set (a metric name, a mode, a phase, a patch operation,
an applyTo, a context, a pull policy, ...). The message lists the accepted values and
a did-you-mean names the nearest one. Values are written in lower snake case
(`client_and_server`, `sidecar_inbound`), except metric names, which keep Istio's
upper case (`REQUEST_COUNT`).";
    WRONG_UNIT = "E0301", "value of the wrong type or unit",
"A setting expects a value of a given type: a percentage (`5%`), a duration (`10s`,
`250ms`), a whole number, a string, a boolean, a list or a map. Units are types: a bare
`5` is not a percentage, and `5%` is not a duration.";
    OUT_OF_RANGE = "E0302", "value out of range",
"A number lies outside the range the setting accepts: sampling between 0% and 100%,
ports between 1 and 65535, a reporting interval of at least 1ms, priorities within
32-bit integers.";
    SELECTOR_AND_TARGET_REFS = "E0303", "selector and targetRefs together",
"A resource selects its workloads either by labels (`for workload {...}`) or by
`for targets [...]`, never both: Istio rejects a resource that sets both.";
    INVALID_SCOPE = "E0304", "invalid scope",
"The scope clauses of a declaration contradict each other or are incomplete:
`mesh` places a resource in the root namespace and cannot be combined with
`in namespace`; a workload selector or target reference needs a namespace (it is
taken from `in namespace`); a declaration without any scope needs one.";
    INVALID_OPERATION_FOR_APPLY_TO = "E0305", "operation not valid for its applyTo",
"Istio accepts only some patch operations per `applyTo`:
INSERT_BEFORE, INSERT_AFTER and INSERT_FIRST only for the list elements
NETWORK_FILTER, HTTP_FILTER, LISTENER_FILTER (and FILTER_CHAIN for INSERT_FIRST is
not valid); ADD is not valid for ROUTE_CONFIGURATION or EXTENSION_CONFIG patches with a
match; MERGE cannot target BOOTSTRAP and REMOVE needs a match. Anything else is
rejected or silently ignored by istiod.";
    DUPLICATE_SETTING = "E0306", "setting given twice",
"A setting appears twice in the same block; only the last one would take effect.";
    UNKNOWN_SETTING = "E0307", "unknown setting",
"This block does not have a setting of this name. The message lists the settings the
block accepts; a did-you-mean names the nearest one.";
    MISSING_SETTING = "E0308", "missing required setting",
"A required setting is absent, for example `url` of a `wasm_plugin`, `operation` or
`value` of an EnvoyFilter patch that needs one, or the value of an UPSERT tag.";
    TYPE_MISMATCH = "E0309", "value of the wrong shape",
"A value has a different shape than the setting or schema field expects: a string where
a number belongs, an object where a list belongs, a field the plugin's config schema
does not declare.";
    DUPLICATE_SCOPE = "W0310", "two Telemetry resources at the same scope",
"Istio expects at most one Telemetry resource per scope (the mesh, one namespace, or one
workload selector); with two, istiod applies one of them (the oldest) and ignores the
other without an error. Merge them into one declaration. This is a warning because
Istio accepts both resources; set the package up so that it does not occur.";
    UNAVAILABLE_IN_VERSION = "E0311", "not available in a targeted Istio release",
"The construct exists only in some Istio releases, and the package targets one where it
does not (for example the `WAYPOINT` patch context and waypoint matches before 1.29,
or the `formatter` custom tag before 1.29). The resource would be rejected by those
releases' CRD validation. The message names the releases that lack it.";
    PLUGIN_CONFIG_MISMATCH = "E0312", "plugin config does not match its schema",
"A `config SCHEMA { ... }` of a wasm_plugin is checked against the `schema` declaration of
that name: every required field present, no unknown field, each value of its declared type.";
    INVALID_RESOURCE_NAME = "E0313", "invalid Kubernetes name",
"Resource names, namespaces and label values must be valid Kubernetes names: lower-case
letters, digits and `-` (declaration names may use `_`, emitted as `-`), at most 63
characters for namespaces and label values and 253 for names, starting and ending with a
letter or digit. Label keys may carry a DNS prefix (`app.kubernetes.io/name`).";
    UNPINNED_IMAGE = "W0314", "Wasm image not pinned",
"A wasm_plugin's `url` points at a remote image by a mutable tag (or no tag) and no
`sha256` is given, so the code Envoy runs can change without a change to the package.
Pin it: add `sha256 \"...\"` or reference the image by digest (`@sha256:...`).";
    UNPINNED_IMAGE_REQUIRED = "E0319", "Wasm image not pinned where policy requires it",
"The package's mesh.toml sets `require_pinned_images = true` under [policy], and a
wasm_plugin's `url` points at a remote image by a mutable tag without a `sha256`.
Pin it: add `sha256 \"...\"` or reference the image by digest (`@sha256:...`).";
    EMPTY_SELECTOR = "E0315", "empty selector",
"`for workload {}` with no labels would select every workload in the namespace, which is
what leaving out `for workload` already means; Istio rejects an empty selector in some
kinds. Give at least one label or drop the clause.";
    MATCH_NEVER_APPLIES = "W0316", "match that cannot apply",
"The match of an EnvoyFilter patch cannot select anything that Istio generates for the
targeted release: a listener match on an applyTo that patches clusters, a route
configuration match on a filter patch, a `sub_filter` without a `filter`, or a
`proxy_version` regex that no targeted Istio release satisfies. istiod applies such a
patch to nothing, silently.";
    PATCH_VALUE_MISSING = "E0317", "patch value required",
"Every patch operation except REMOVE needs a `value`; REMOVE must not have one.";

    // Envoy messages against Envoy's schemas: E05xx.
    UNKNOWN_ENVOY_TYPE = "E0500", "unknown Envoy message type",
"A typed message (`envoy.extensions.filters.http.lua.v3.Lua { ... }`) or an `@type` names
a message that the targeted Envoy versions do not have. The schemas are the descriptors
compiled into each official Envoy build; a did-you-mean names the nearest type.";
    UNKNOWN_ENVOY_FIELD = "E0501", "unknown field of an Envoy message",
"The message has no field of this name in the targeted Envoy versions. Envoy rejects
such a config (or, inside an EnvoyFilter patch, istiod's merge fails), so meshc reports
it at the line you wrote, with the nearest field name. Fields are written in snake case
as in Envoy's protos; their JSON camel-case names are accepted too.

    envoy.extensions.filters.http.lua.v3.Lua { inline_cod: \"...\" }   # E0501: did you mean `inline_code`?";
    ENVOY_VALUE_MISMATCH = "E0502", "value of the wrong kind for an Envoy field",
"The value does not fit the field's type in Envoy's schema: a string for a number, an
object for a list, a number out of the field's range, a message of another type.
Durations are written `5s` or `250ms`; enums as their name in quotes.";
    UNKNOWN_ENVOY_ENUM = "E0503", "unknown value of an Envoy enum",
"An enum field is set to a name that the enum does not have in the targeted Envoy
versions. The note lists the names it has.";
    ENVOY_ONEOF_CONFLICT = "E0504", "two alternatives of an Envoy oneof",
"The two fields belong to the same `oneof` of the message: only one of them can be set.
Envoy rejects the config.";
    ENVOY_RULE_VIOLATED = "E0506", "Envoy validation rule violated",
"Envoy's schema attaches validation rules (protoc-gen-validate) to many fields: a
required message, a string of at least one character, a number within a range, a list
with a minimum number of items. Envoy rejects a config that breaks them, so meshc checks
them for every targeted version. Inside an EnvoyFilter `merge` patch, required fields
may be left out, since the value is merged into an object Envoy already has.";
    INVALID_ENVOY_CONFIG = "E0507", "unreadable Envoy configuration",
"`meshc envoy validate` could not read the file as YAML or JSON (or it uses a YAML
YAML alias before its anchor). The label points at the place.";
    ENVOY_DEPRECATED_FIELD = "W0505", "deprecated Envoy field",
"The field (or enum value) is marked deprecated in the targeted Envoy version's schema.
It still works, but a later Envoy release may reject it; the message says which versions
deprecate it, and the help names the field that replaces it where one is known.";
    ENVOY_DISALLOWED_FIELD = "E0508", "Envoy field disallowed by default",
"The field (or enum value) is deprecated and marked `disallowed_by_default` in the
targeted Envoy version's schema: Envoy rejects a config that sets it unless the runtime
key of that deprecated feature re-enables it. Move to its replacement.";
    ENVOY_LUA_SYNTAX = "E0510", "Lua code that does not parse",
"The inline code of a Lua filter (`default_source_code`, `source_codes`, the deprecated
`inline_code`, or a per-route `source_code`) is not valid Lua. Envoy compiles it when it
loads the config and rejects the whole config, so meshc reports it with the line and
column inside the code. The parser is Lua 5.1's with LuaJIT's additions, as Envoy runs.";
    ENVOY_REGEX_SYNTAX = "E0511", "regular expression that does not compile",
"A `safe_regex` pattern (`envoy.type.matcher.v3.RegexMatcher`) is not a valid RE2
regular expression. Envoy compiles it when it loads the config and rejects the config;
meshc compiles it with RE2's syntax and reports why.";
    ENVOY_WRONG_EXTENSION = "E0512", "extension of the wrong kind",
"A typed config stands where Envoy looks for an extension of one kind: the
`typed_config` of an HTTP filter must be the config of an HTTP filter, that of a
network filter the config of a network filter, that of an access log the config of an
access logger, and so on. Envoy finds the factory by the config's type and rejects the
configuration when no factory of that kind takes it (a network filter such as
`TcpProxy` inserted as an HTTP filter, an HTTP filter's config given to an access log).
The kinds each Envoy build registers are read from the build itself.";
    ENVOY_WORK_IN_PROGRESS = "W0509", "work-in-progress Envoy extension",
"The message, its file, or the field is annotated as work in progress in the targeted
Envoy version's schema. Envoy accepts it, but its behaviour and its schema may change
in any release without a deprecation period.";

    // Rules Envoy's code enforces across a configuration, beyond each field's schema: E052x-E054x.
    ENVOY_DUPLICATE_CLUSTER = "E0520", "two clusters with one name",
"Two static clusters have the same `name`. Envoy's cluster manager refuses the second
(`cluster manager: duplicate cluster 'NAME'`), so the whole bootstrap is rejected. The
label points at the second one; rename it or remove one of them.";
    ENVOY_DUPLICATE_LISTENER_ADDRESS = "E0521", "two listeners on one address",
"Two static listeners listen on the same address, port and protocol. Envoy refuses to
add the second (`has duplicate address ... as existing listener`), even when it does not
bind to the port. Listeners may share a name; they may not share an address. Give the
second another port, or merge their filter chains into one listener.";
    ENVOY_DUPLICATE_DOMAIN = "E0522", "a virtual-host domain claimed twice",
"Within one route configuration, every domain of every virtual host must be different,
compared without regard to case, and only one virtual host may use the wildcard `*`.
Envoy rejects the configuration when it builds the route table (`Only unique values for
domains are permitted`, `Only a single wildcard domain is permitted`). The label points
at the second occurrence.";
    ENVOY_UNKNOWN_CLUSTER = "E0523", "a reference to a cluster that is not defined",
"A route's `cluster`, a weighted cluster, a request mirror policy, or the collector
cluster of a Zipkin or Datadog tracer names a cluster that `static_resources` does not
define. For a route configuration written inline in the connection manager, Envoy checks
every cluster a route names when it loads the listener (`validate_clusters` is on unless
set to false), and it does so even when the bootstrap also has CDS: clusters that CDS
would deliver do not exist yet. Tracers look their collector cluster up when they are
built. Define the cluster statically, fix the name, or (for routes whose clusters come
from CDS) set `validate_clusters: false` in the route configuration.";
    ENVOY_TERMINAL_FILTER_NOT_LAST = "E0524", "a terminal filter before the end of its chain",
"A terminal filter ends the chain it stands in: the HTTP router, or a network filter such
as `tcp_proxy`, `http_connection_manager`, `echo`, `direct_response` or `redis_proxy`.
Envoy rejects a chain where one is followed by another filter (`terminal filter named ...
must be the last filter`). Move it to the end, or remove the filters after it.";
    ENVOY_LAST_FILTER_NOT_TERMINAL = "E0525", "a filter chain that does not end in a terminal filter",
"The last filter of an HTTP or network filter chain must be terminal, one that answers the
request or proxies the connection: the router at the end of `http_filters`, `tcp_proxy` or
`http_connection_manager` at the end of a listener's `filters`. Envoy rejects a chain
whose last filter only inspects or modifies traffic (`non-terminal filter named ... is the
last filter`). An empty HTTP filter chain is accepted.";
    ENVOY_MISSING_TYPED_CONFIG = "E0526", "an extension without its typed config",
"An HTTP, network or listener filter, an access log or a tracer gives only a `name`.
Envoy finds an extension's factory by the type of its `typed_config`, not by its name, so
it rejects the configuration (`Didn't find a registered implementation for 'NAME' with type
URL: ''`), even for filters whose config has no fields, such as the router. Add a
`typed_config` with its `@type`, or mark an HTTP filter `is_optional: true`.";
    ENVOY_UNREGISTERED_EXTENSION = "E0527", "a typed config that no extension takes",
"The `typed_config` of a filter, access log or tracer is a message of Envoy's schema, but
no extension of the Envoy build registers it as its configuration (a `Cluster`, an
`Address`, a `Struct`...). Envoy rejects the configuration (`Didn't find a registered
implementation ... with type URL`). The registered extensions of each build are read from
the build itself.";
    ENVOY_LUA_TWO_SOURCES = "E0528", "Lua filter with both `inline_code` and `default_source_code`",
"A Lua filter takes its default code from `inline_code` (deprecated) or from
`default_source_code`, not both: Envoy rejects the filter (`Only one of inline_code or
default_source_code can be set`). Keep `default_source_code`.";
    ENVOY_NEGATIVE_DURATION = "E0529", "a negative duration",
"Envoy checks every duration of a configuration when it loads it and rejects a negative
one (`Invalid duration: Expected positive duration`), whatever the field's own
validation rules say. Use zero or a positive duration, or leave the field unset.";
    ENVOY_LISTENER_WITHOUT_ADDRESS = "E0530", "a listener without an address",
"A listener must have an `address` unless it is an internal listener
(`internal_listener`) or an API listener. The schema does not require the field, but
Envoy refuses to add such a listener (`address is necessary`).";
    ENVOY_UNKNOWN_WASM_RUNTIME = "E0531", "a Wasm runtime the Envoy build does not have",
"The `runtime` of a Wasm VM names a runtime that the Envoy build does not register. The
official builds have `envoy.wasm.runtime.v8` (and `envoy.wasm.runtime.null`, for plugins
compiled into Envoy); WAMR, Wasmtime and WAVM are build options they leave out, so Envoy
cannot create the plugin and rejects the configuration.";
    ENVOY_STATIC_CLUSTER_NOT_IP = "E0532", "a STATIC cluster endpoint that is not an IP address",
"A cluster of `type: STATIC` (the default when a cluster sets no type) reads the address
of each endpoint, of its `additional_addresses` and of its `health_check_config` as an
IP address and a port number; it does not resolve names. Envoy rejects a host name
(`malformed IP address: NAME`), an address with brackets or a port in it, and a
`named_port`. Write the IP address, or make the cluster `STRICT_DNS` or `LOGICAL_DNS`
so that Envoy resolves the name. IPv6 addresses with a zone (`fe80::1%eth0`) depend on
the machine's interfaces and are left to Envoy.";
    ENVOY_LB_POLICY_FOR_CLUSTER = "E0533", "a load balancer that does not suit the cluster",
"Envoy's code pairs a cluster's type with its load balancer. An `ORIGINAL_DST` cluster
takes `lb_policy: CLUSTER_PROVIDED` and nothing else, even the default ROUND_ROBIN;
custom cluster types that balance by themselves (`envoy.clusters.aggregate`,
`envoy.clusters.dynamic_forward_proxy`) need the cluster's balancer too, from
`CLUSTER_PROVIDED` or a `ClusterProvided` entry of `load_balancing_policy`. The other
types (STATIC, STRICT_DNS, LOGICAL_DNS, EDS) have no balancer of their own, so they
cannot ask for one. `LOAD_BALANCING_POLICY_CONFIG` needs a `load_balancing_policy`, and
`CLUSTER_PROVIDED` cannot be combined with `lb_subset_config`. When
`load_balancing_policy` is set, its first policy decides over `lb_policy`.";
    ENVOY_WEIGHTED_CLUSTERS_WEIGHT = "E0534", "weighted clusters whose weights Envoy refuses",
"Every cluster of a route's `weighted_clusters` needs a `weight` (0 is allowed and keeps
it out of the split), and the weights must add up to more than 0 and at most
4,294,967,295. Envoy rejects the route configuration otherwise (`Sum of weights in the
weighted_cluster must be greater than 0`). The deprecated `total_weight` plays no part:
Envoy ignores it.";
    ENVOY_PSEUDO_HEADER_MUTATION = "E0535", "a pseudo-header or `host` added or removed",
"The header mutations of route configurations, virtual hosts, routes, weighted clusters,
HTTP health checks, the header mutation filter's `append`, the local rate limit's
`response_headers_to_add` and local reply mappers cannot add or remove a pseudo-header
(`:path`, `:authority`, `:method`, `:status`...) or `host`, in any case: Envoy rejects
the configuration (`:-prefixed or host headers may not be modified`). Rewrite the path or
the host with the route's own fields instead (`prefix_rewrite`, `regex_rewrite`,
`host_rewrite_literal`).";
    ENVOY_TRANSPORT_API_V2 = "E0536", "the V2 xDS transport protocol",
"Envoy no longer speaks version 2 of the xDS transport protocol. An xDS config source
(`api_config_source`, `ads_config`), the gRPC ext_authz filters, the rate limit service,
the metrics service sink and the gRPC access loggers refuse `transport_api_version: V2`
when Envoy builds them (`V2 xDS transport protocol version is deprecated`), although the
schema only marks the value deprecated. Use V3; the default, AUTO, means V3. An ext_authz
filter that calls an HTTP service, a `self` config source and `resource_api_version`
are not checked by Envoy.";
    ENVOY_GRPC_HEALTH_CHECK_WITHOUT_HTTP2 = "E0537", "a gRPC health check on a cluster without HTTP/2",
"gRPC runs over HTTP/2, so a cluster with a `grpc_health_check` must speak HTTP/2 to its
endpoints: Envoy rejects the cluster otherwise (`cluster must support HTTP/2 for gRPC
healthchecking`). A cluster speaks HTTP/2 when its `HttpProtocolOptions` (under
`typed_extension_protocol_options`) set `explicit_http_config` or
`use_downstream_protocol_config` with `http2_protocol_options`, or `auto_config`, or when
it sets the deprecated `http2_protocol_options`. Without options it speaks HTTP/1.1.";
    ENVOY_JWT_UNDEFINED_NAME = "E0538", "a JWT requirement naming what the filter does not define",
"A JWT filter's requirements refer to its providers and requirements by name, and Envoy
resolves the names when it builds the filter: every `provider_name` (in `rules`,
`requirement_map` and `filter_state_rules`, however deeply nested in `requires_any` and
`requires_all`, even in a requirement no rule uses) must be a key of `providers`
(`Required provider ['NAME'] is not configured`), and every rule's `requirement_name` a
key of `requirement_map`. Names are compared exactly, case included.";
    ENVOY_OVERLOAD_UNKNOWN_TRIGGER = "E0539", "an overload trigger naming no resource monitor",
"The triggers of the overload manager's actions and load-shed points name the resource
they watch, which must be one of its `resource_monitors` (`Unknown trigger resource
NAME`). The one resource Envoy tracks by itself,
`envoy.resource_monitors.global_downstream_max_connections`, may be named without a
monitor of that name.";

    // The raw Envoy target and smoke scenarios: E06xx.
    UNKNOWN_PROXY = "E0600", "unknown proxy",
"A `smoke` scenario names a `proxy` that the package does not declare. Scenarios run
against the bootstrap meshc builds for a proxy declaration:

    proxy my_service for workload { app: \"my-service\" } in namespace \"my-app\" {
      upstream \"127.0.0.1:9000\"
    }
    smoke adds_header { proxy my_service  request { path \"/\" expect { status 200 } } }";
    NOT_IN_RAW_ENVOY = "W0601", "not carried into the raw Envoy target",
"The declaration applies to the proxy, but the raw Envoy bootstrap cannot express this
part of it (for example an EnvoyFilter patch of the outbound side, which a proxy of the
raw target does not have, or a Wasm image that is not a local file). The Istio output is
unaffected; the bootstrap is built without it.";
    WASM_MODULE_UNREADABLE = "E0602", "Wasm module unreadable",
"The raw Envoy target inlines the Wasm module of a `file://` WasmPlugin URL into the
bootstrap, and this one could not be read (the path is relative to the package
directory) or, for a `.wat` file, its WebAssembly text does not assemble.";
    UNKNOWN_PLUGIN = "E0603", "unknown plugin",
"A `smoke` scenario names a `plugin` that the package does not declare. A plugin's
scenario runs one `wasm_plugin` declaration alone, on wasmtime for `meshc test` and in the
real Envoy for `meshc smoke`; it names the declaration as written:

    wasm_plugin custom_header for workload { app: \"my-service\" } in namespace \"my-app\" {
      url \"file://plugins/add_header.wat\"
    }
    smoke adds_header { plugin custom_header  request { path \"/\" expect { status 200 } } }";
    UNTESTABLE_PLUGIN = "E0604", "a plugin a scenario cannot run",
"A plugin's scenario sends HTTP requests through one `wasm_plugin`, so the plugin must be an
HTTP plugin: a `type network` plugin sees TCP bytes, not requests. Test it in a scenario of a
proxy, or leave it to a cluster.";
    SCENARIO_TWO_TARGETS = "E0605", "a scenario with two targets",
"A `smoke` scenario runs against one target: a `proxy` (the bootstrap of a proxy declaration,
with everything the package applies to it) or a `plugin` (one `wasm_plugin` alone). Write one
scenario for each:

    smoke through_the_proxy { proxy my_service  request { path \"/\" } }
    smoke the_plugin_alone { plugin custom_header  request { path \"/\" } }";
    NOT_FOR_THIS_SCENARIO = "E0606", "not for this kind of scenario",
"Some parts of a scenario belong to one kind of target. `properties` and `call_response` give
a plugin what only a test can (in a proxy's scenario the real Envoy decides the properties and
makes the calls); access logs and spans come from the package's Telemetry, which a plugin's
scenario leaves out, running the plugin alone.";

    // What istiod does with an EnvoyFilter, per release: E07xx.
    POLICY_DENIED = "E1000", "breaks a rule",
"A resource breaks a policy rule whose severity is `deny`: the rule's condition is
false for it, or cannot be evaluated (a field read without `has()` that the resource
lacks; an admission policy with `failurePolicy: Fail` rejects such a resource too).
The message is the rule's; a second label shows the rule. Rules come from `rule`
declarations of the package and from imported stdlib modules such as
`std.policy.recommended`:

    rule registry_images {
      kinds [WasmPlugin]
      require object.spec.url.startsWith(\"oci://registry.example.com/\")
      message \"Wasm images come from registry.example.com\"
    }

Fix the resource, give the rule another severity under [policy.rules] in mesh.toml
(`registry_images = \"warn\"` or `\"off\"`), or waive it on one declaration with
`waive { registry_images: \"why\" }` (on YAML, the annotation
`waivers.meshc.dev/registry_images: \"why\"`).";
    POLICY_WARNED = "W1001", "warned by a rule",
"A resource breaks a policy rule whose severity is `warn`. See E1000 for rules,
severities and waivers.";
    NOT_ADMISSION_ENFORCEABLE = "N1003", "rule not enforceable at admission",
"`meshc build --target admission` writes a ValidatingAdmissionPolicy per rule, so that
the cluster enforces the rules on YAML that never went through meshc. A rule that reads
`resources` (every resource checked with it, to compare a WasmPlugin with its
neighbours) cannot be one: an admission policy sees one object at a time. meshc still
checks the rule on every package and YAML file it checks.";
    RULE_NOT_EVALUATED = "W1004", "rule meshc cannot evaluate",
"A rule's condition calls a function of the Kubernetes CEL libraries that meshc's
evaluator does not implement (quantities, IP addresses and CIDRs, `format`, semantic
versions, the authorizer), so meshc does not check the rule: neither passing nor
failing it would be true. An admission policy emitted from the rule is enforced by the
cluster, which has the function.";
    CLUSTER_REJECTED = "E1100", "the cluster rejected the resource",
"`meshc diff` and `meshc apply` check every resource with a server-side dry run before
the first write. The API server refused this one: a value its CRD schema does not
allow (422 Invalid), or a field it does not know (400, with strict field validation).
meshc's own checks use the CRDs of the releases the package targets, so this usually
means the cluster runs another Istio release than mesh.toml names: target the
cluster's release (`istio = [...]`) and meshc reports the field at its line before
anything reaches the cluster. The label points at the field the server named.";
    FIELD_MANAGER_CONFLICT = "E1101", "fields owned by another manager",
"Server-side apply records which field manager set each field. Another manager (a
person with `kubectl edit`, a controller, another tool) set fields of this object to
values other than the package's, so applying it would take their changes away. meshc
stops before writing anything and names the manager and the fields. Bring the package
in line with the cluster, or take the fields with `meshc apply --force-conflicts`
(after which the other manager's next write may conflict in turn).";
    API_NOT_SERVED = "E1102", "the cluster does not serve this API",
"The cluster has no CRD for the resource's kind, or its CRD does not serve the
version meshc emits for the targeted Istio releases (`telemetry.istio.io/v1` needs
Istio 1.22 or later). meshc installs nothing but the package's resources: install
Istio, or target the releases the cluster runs. `--wait-for-crds SECONDS` waits for
the CRDs to appear, for pipelines that install Istio and apply config in one go.";
    NAMESPACE_MISSING = "E1103", "namespace does not exist",
"The resource's namespace does not exist in the cluster. meshc does not create
namespaces unless asked: `meshc apply --create-namespaces` creates them (with meshc as
their field manager, outside the ApplySet, so pruning never deletes a namespace).";
    APPLYSET_PARENT = "E1104", "ApplySet parent not meshc's",
"meshc records what it applied in an ApplySet (KEP-3659, as `kubectl apply --prune
--applyset`): a parent ConfigMap (`meshc-PACKAGE` in the root namespace) labelled with
the set's id, whose members carry `applyset.kubernetes.io/part-of`. The ConfigMap of
that name exists but belongs to another tool, is not an ApplySet parent, or carries an
id that does not match its name. meshc never changes another tool's ApplySet: choose
another parent with `--applyset NAME`.";
    OTHER_APPLYSET = "E1105", "object of another ApplySet",
"The live object is a member of another ApplySet (its `applyset.kubernetes.io/part-of`
label names another set): another package, or another tool, applies an object of the
same kind, namespace and name. Applying it would move it into this package's set, and
the other package's next `apply --prune` would no longer see it. Rename one of them,
or take the object with `--force-conflicts`.";
    UNKNOWN_WAIVER = "W1002", "waiver of no rule",
"A `waive { RULE: \"why\" }` section (or a `waivers.meshc.dev/RULE` annotation)
names no rule in force: a misspelling, or a rule of a module the package does not
import. A waiver that waives nothing hides nothing, but it misleads its reader.";
    OPERATION_IGNORED = "E0701", "patch operation istiod ignores",
"istiod accepts the patch and does nothing with it in the named Istio releases: the
operation is not one it carries out for that applyTo (REPLACE on clusters, listeners,
filter chains and HTTP routes; anything but MERGE on route configurations; anything but
ADD on extension configs; BOOTSTRAP patches at all; MERGE_AND_REPLACE_LIST on filters),
MERGE on a WasmPlugin's filter (which has no typed_config to merge into), or REPLACE or
REMOVE of a filter without naming the filter. The release tables under
`compiler/istio/` name the Istio source of each rule.";
    OPERATION_REWRITTEN = "W0702", "patch operation istiod rewrites",
"istiod turns INSERT_BEFORE, INSERT_AFTER and INSERT_FIRST into ADD for every applyTo
except HTTP, network and listener filters and HTTP routes: the new cluster, listener,
filter chain or virtual host is added, and the position is ignored. Write `operation
add` to say what happens.";
    DEPRECATED_FILTER_NAME = "E0703", "match on a filter name istiod no longer generates",
"The match names a filter by an old name (`envoy.router`, `envoy.http_connection_manager`,
`envoy.lua`, ...). istiod generates filters under their canonical names and compares
match names exactly, so the patch never applies; istiod's validation only warns. Use the
name meshc suggests.";
    NAME_NOT_GENERATED = "W0704", "match on a name istiod does not generate",
"The match names a listener, filter chain, filter, cluster, route configuration or
virtual host that istiod does not generate for the patch's context in the named Istio
releases, and that no patch of the package adds. Unless another EnvoyFilter in the
cluster adds it, the patch applies to nothing. The note lists what the context has.";
    WASM_FILTER_RENAMED = "E0705", "match on a WasmPlugin filter name of another release",
"WasmPlugin filters are named `extensions.istio.io/wasmplugin/NAMESPACE.NAME` up to Istio
1.29; from 1.30 istiod translates every WasmPlugin into a TrafficExtension and names the
filter `extensions.istio.io/trafficextension/NAMESPACE.NAME~istio-translated-wasmplugin`.
A patch anchored on the name of the other form applies to nothing in the named releases.
Anchor on the release's name, or scope one patch per release with `proxy_version`.";
    CONTEXT_NEVER_APPLIED = "E0706", "patch context istiod never applies",
"The named Istio releases accept the WAYPOINT patch context (and skip validating its
patches), but no code in istiod applies a patch of that context: it does nothing.
Waypoints are patched through SIDECAR_INBOUND (their listeners) and SIDECAR_OUTBOUND
(their outbound clusters).";

    // Kubernetes documents against Istio's CRD schemas, as the API server validates them: E08xx.
    CRD_INVALID_DOCUMENT = "E0800", "not a resource the CRD serves",
"The document is not a Kubernetes object the CRD of its kind accepts: it is not a
mapping, it lacks `apiVersion` or `kind`, or its `apiVersion` names another group or a
version the CRD does not serve. Telemetry is served as `telemetry.istio.io/v1` and
`v1alpha1`, WasmPlugin as `extensions.istio.io/v1alpha1`, EnvoyFilter as
`networking.istio.io/v1alpha3`; every served version has the same schema.

    apiVersion: telemetry.istio.io/v2   # E0800: did you mean `telemetry.istio.io/v1`?";
    CRD_UNKNOWN_FIELD = "E0801", "field the CRD does not have",
"The CRD's schema has no field of this name here. The API server never applies such a
field: `kubectl apply` (strict field validation, the default since Kubernetes 1.27)
rejects the object, and clients that do not ask for strict validation (controllers,
GitOps tools, older kubectl) get it silently pruned, so the setting is lost without a
word. meshc reports it as an error for that reason, with the nearest field name. A field
that only some releases know names them.

    spec:
      tracing:
      - randomSamplingPercentag: 10     # E0801: did you mean `randomSamplingPercentage`?";
    CRD_TYPE_MISMATCH = "E0802", "value of the wrong type for the CRD",
"The schema gives the field another type. The API server checks the OpenAPI types
strictly: unlike Istio's own proto3 JSON reader it does not take `\"10\"` for a number or
`\"true\"` for a boolean, and an integer field takes only whole numbers. Fields marked
`x-kubernetes-int-or-string` take an integer or a string.";
    CRD_ENUM = "E0803", "value not in the CRD's enum",
"The field takes one of a fixed set of values (the message lists them), written exactly,
in the same case.

    match:
      mode: CLIENT_AND_SEVER            # E0803: did you mean `CLIENT_AND_SERVER`?";
    CRD_REQUIRED = "E0804", "required field missing",
"The schema requires this field here (a provider's `name`, a WasmPlugin's `url`, an
environment variable's `name`), and the object does not set it. `metadata.name` is required
unless `metadata.generateName` is given.";
    CRD_OUT_OF_BOUNDS = "E0805", "value outside the CRD's bounds",
"The value breaks a bound of the schema: a number below `minimum` or above `maximum`, a
string shorter than `minLength` or longer than `maxLength` (counted in characters), a
list with fewer than `minItems` or more than `maxItems` items, or an object with more
than `maxProperties` fields. The message quotes the API server's wording.";
    CRD_PATTERN = "E0806", "string does not match the CRD's pattern",
"The string must match the schema's regular expression (the message quotes it), such as
a WasmPlugin's `sha256`, which is empty or 64 lowercase hexadecimal digits.";
    CRD_ONE_OF = "E0807", "fields that exclude each other",
"The schema accepts at most one of a group of fields (`oneOf`, `anyOf`, `not`, as Istio
generates them from a protobuf `oneof`), and the object sets more than one, such as a
patch match with both `listener` and `cluster`. Keep the one you mean.";
    CRD_RULE_FAILED = "E0808", "CRD validation rule fails",
"The CRD attaches a CEL rule (`x-kubernetes-validations`) to this field, and the value
makes it false (or makes it fail), so the API server rejects the object with the rule's
message, which this diagnostic carries. For example, an EnvoyFilter's `match.waypoint`
is allowed only with `context: WAYPOINT`, and a tag override with `operation: UPSERT`
needs a `value`.";
    CRD_DUPLICATE = "E0809", "duplicate list item or field",
"A list the schema declares as a map (`x-kubernetes-list-type: map`, such as a
WasmPlugin's `vmConfig.env`, keyed by `name`) or a set holds two items with the same
key, or a mapping repeats a key. The API server rejects the object (`Duplicate value`).";
    CRD_INVALID_METADATA = "E0810", "invalid object metadata",
"The API server checks every object's metadata: `name` must be a DNS subdomain (lowercase
letters, digits, `-` and `.`, starting and ending with a letter or digit, at most 253
characters), `namespace` a DNS label (at most 63 characters, no `.`), label keys
qualified names (an optional DNS-subdomain prefix and `/`, then at most 63 letters,
digits, `-`, `_` and `.`), and label values at most 63 such characters.";
    CRD_NULL_DROPPED = "W0811", "null value the API server drops",
"The field is set to null (`~`, `null` or nothing after the colon) but the schema does
not mark it nullable, so the API server prunes it before validating: the object is
stored without the field. Remove it, or give it a value.";
    CRD_RULE_NOT_EVALUATED = "W0812", "CRD validation rule meshc cannot evaluate",
"The CRD attaches a CEL rule to this field that calls a function of the Kubernetes CEL
libraries meshc does not implement (quantities, IP addresses, `format`, ...), so meshc
cannot say whether the API server will accept the value. The rule and its message are
shown; check them by hand.";

    // Attribute expressions (CEL): E04xx.
    UNKNOWN_RESOURCE_FIELD = "E0405", "field not in the CRD",
"A rule's condition reads a field of `object` that the CRD schema of the kinds it
applies to does not have, in any targeted release, so the condition would fail to
evaluate (or `has()` would always be false) on every resource:

    rule sampled {
      kinds [Telemetry]
      require object.spec.tracing.all(t, t.samplingPercentage <= 10.0)
    }

The field is `randomSamplingPercentage`. Fields under a free-form value (an EnvoyFilter
patch's `value`, a WasmPlugin's `pluginConfig`) are not checked.";
    CEL_SYNTAX = "E0400", "invalid attribute expression",
"A tag value or access-log filter is a CEL expression over Istio's attributes, and this
one does not parse as CEL.";
    UNKNOWN_ATTRIBUTE = "E0401", "unknown attribute",
"The expression names an attribute that Envoy does not provide. The vocabulary is the
`std.attributes` module (request.*, response.*, source.*, destination.*, connection.*,
upstream.*, xds.*, filter_state, metadata); a did-you-mean names the nearest one.

    tag request_host = request.hots     # E0401: did you mean `request.host`?";
    CEL_TYPE_MISMATCH = "E0402", "type error in attribute expression",
"The operands of an operator or the arguments of a function have types it does not
accept. `response.code` is an int, so it compares with `400`, not with `\"400\"`:

    access_log envoy when response.code >= \"400\"    # E0402";
    CEL_WRONG_RESULT_TYPE = "E0403", "expression has the wrong result type",
"An access-log filter must be a boolean expression (a condition); `response.code` alone
is an int, `response.code >= 400` is a condition. A tracing custom tag must be one of
its four forms: a string, `env(...)`, `header(...)` or `formatter(...)`.";
    UNKNOWN_FUNCTION = "E0404", "unknown function",
"The expression calls a function that is neither a CEL standard function nor one of the
custom-tag forms (`env(NAME [, DEFAULT])`, `header(NAME [, DEFAULT])`, `formatter(FORMAT)`).";

    // Importing Istio YAML (`meshc import`): E08xx.
    IMPORT_UNSUPPORTED = "E0900", "YAML field meshc cannot import",
"`meshc import` turns a Telemetry, WasmPlugin or EnvoyFilter into a declaration that builds
back to the same resource. This document has a field that no statement of the language
produces (an unknown field, the deprecated single `targetRef`, a metadata field other than
name, namespace, labels and annotations, a name that cannot be a declaration's), or a
value meshc would write differently. The label points at the field; the document is not
imported, and the others still are.

    spec:
      targetRef: { kind: Gateway, name: ingress }    # E0900: meshc writes `targetRefs`

Rewrite the field in a form meshc can express (here `targetRefs: [ ... ]`), or keep the
document as YAML.";
    IMPORT_REJECTED = "E0901", "imported document fails meshc's checks",
"The document translates into a declaration, but meshc's own checks reject that
declaration: an Envoy field that does not exist in a targeted Envoy version, Lua that does
not parse, an attribute expression with a type error, a value Istio's CRD refuses. The
label points at the YAML value the error is about and names the check's own code
(`meshc explain` that code for more). Such a document would be refused by the cluster or
by Envoy, or behaves differently from what it says; fix the YAML and import it again.

    typed_config:
      \"@type\": type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua
      inlineCode: \"function envoy_on_request(\"     # E0901: Lua that does not parse";
    IMPORT_NOT_FAITHFUL = "E0902", "imported declaration rebuilds different data",
"`meshc import` builds every declaration it writes and compares the resource with the
document, as data. Here they differ: the field at the label is one that meshc writes
otherwise (a duration protobuf spells differently, a default meshc writes out, an empty
object meshc leaves out). The note shows both values. The document is not imported; write
the field as the note's rebuilt value shows, if that means the same to you, and import
again.";
    IMPORT_NO_NAMESPACE = "W0903", "imported document without a namespace",
"A Kubernetes manifest without `metadata.namespace` is applied in the namespace of
kubectl's context. A declaration must name its namespace, so `meshc import` puts the
resource in the default namespace (`default`, or the one given with `--namespace`).
Check that this is where the resource belongs, and change the declaration's
`in namespace \"...\"` if not.";
    IMPORT_SKIPPED_KIND = "N0904", "document of another kind not imported",
"`meshc import` reads Telemetry, WasmPlugin and EnvoyFilter resources; documents of other
kinds (a Deployment, a VirtualService, a ConfigMap) in the same files are left out with
this note. Keep them in YAML.";
    IMPORT_INVALID_YAML = "E0905", "unreadable YAML",
"A file given to `meshc import` is not valid YAML. The documents before the error are
imported; fix the YAML at the label to import the rest.";
    // Wasm plugin modules, checked by the host (meshc-wasm-host) after analysis: E12xx.
    PLUGIN_MODULE_UNREADABLE = "E1200", "Wasm module cannot be read",
"`meshc check` and `meshc build` read the local build of each `wasm_plugin`: the file
its `module \"PATH\"` statement names, or else the path of a `file://` url, relative to
the package directory. The file does not exist or cannot be read. Build the plugin, or
correct the path. meshc never downloads a module: an `oci://` or `https://` url without
a `module` statement is not checked.";
    PLUGIN_MODULE_INVALID = "E1201", "not a WebAssembly module",
"The module is not valid WebAssembly: a `.wasm` file that does not start with the Wasm
magic bytes or that fails validation, or a `.wat` file that does not assemble. istiod's
agent refuses a binary without the magic bytes, and Envoy refuses one that does not
validate, so the plugin would never run. The message names the first problem the
validator found.";
    PLUGIN_SHA256_MISMATCH = "E1202", "Wasm module digest differs from the declaration",
"The declaration pins the plugin by digest (`sha256 \"...\"`, or `@sha256:` in the url),
and the local build does not have that digest. The Istio agent compares the same
digest before it hands the module to Envoy, and refuses the plugin when they differ: for
a module fetched over http(s) the sha256 of the module's bytes, for an OCI image the
sha256 of the image manifest. Either the pin is out of date (copy the digest the message
shows), or the local build is not the one that was published.";
    PLUGIN_OCI_LAYOUT = "E1203", "OCI image layout problem",
"The module is an OCI image layout (a directory with `oci-layout` and `index.json`, or a
`.tar` of one), and meshc could not find the Wasm module in it as the Istio agent looks
for it: `index.json` names no manifest, the manifest or a blob is missing, or the image
has neither a layer of media type `application/vnd.module.wasm.content.layer.v1+wasm`
(the *oci* variant of the Wasm image spec) nor, as its last layer, a tar (gzip) layer
holding `plugin.wasm` (the *compat* variant).";
    PLUGIN_BLOB_DIGEST = "E1204", "OCI blob does not match its digest",
"A blob of the OCI image layout (the manifest, a layer) is stored under a digest that is
not the sha256 of its contents. A registry refuses such a push, and a pull verifies
every blob, so the image is damaged: rebuild it.";
    PLUGIN_NOT_PROXY_WASM = "E1205", "not a proxy-wasm module",
"A proxy-wasm module says which version of the ABI it speaks by exporting a function
named `proxy_abi_version_X_Y_Z`. This module exports none, so Envoy cannot tell how to
talk to it and refuses to load it. Build the plugin with a proxy-wasm SDK (Rust
`proxy-wasm`, Go `proxy-wasm-go-sdk`, C++ `proxy-wasm-cpp-sdk`), which adds the export.";
    PLUGIN_UNSUPPORTED_ABI = "E1206", "unsupported proxy-wasm ABI version",
"The module speaks a version of the proxy-wasm ABI that the Envoy of current Istio
releases does not host: Envoy hosts 0.2.0 and 0.2.1 (`proxy_abi_version_0_2_0`,
`proxy_abi_version_0_2_1`); 0.1.0 was removed. Rebuild the plugin with a current SDK.";
    PLUGIN_MISSING_EXPORT = "E1207", "proxy-wasm module lacks a required export",
"Envoy writes into a plugin's memory through an allocator the plugin exports, so every
proxy-wasm module must export its linear memory (`memory`) and an allocator
(`proxy_on_memory_allocate`, or `malloc` in older SDKs). Without them the VM fails to
start. The SDKs export both; a hand-written module must too.";
    PLUGIN_MISSING_CALLBACK = "E1208", "plugin has no callback for its type",
"A plugin's `type` says where Envoy runs it: an HTTP plugin (the default) needs
`proxy_on_context_create` and at least one HTTP stream callback
(`proxy_on_request_headers`, `proxy_on_request_body`, `proxy_on_request_trailers`,
`proxy_on_response_headers`, `proxy_on_response_body`, `proxy_on_response_trailers`); a
network plugin needs `proxy_on_context_create` and at least one of
`proxy_on_new_connection`, `proxy_on_downstream_data`, `proxy_on_upstream_data`. A
module without them is loaded and does nothing. Check the plugin's `type`, or that the
module is the right build.";
    PLUGIN_FOREIGN_IMPORT = "E1209", "module imports what no proxy provides",
"A proxy-wasm host provides the `proxy_*` functions of module `env` and WASI
(`wasi_snapshot_preview1`, `wasi_unstable`); a module that imports anything else (a
function of another module, a JavaScript binding of a browser build, an `env` function
that is not part of the ABI) fails to instantiate in Envoy. Build for `wasm32-wasip1` or
`wasm32-unknown-unknown` with a proxy-wasm SDK, without other host bindings.";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_documented() {
        let mut seen = std::collections::HashSet::new();
        for info in ALL {
            assert!(seen.insert(info.code.0), "duplicate code {}", info.code);
            assert!(!info.explanation.trim().is_empty(), "{} has no explanation", info.code);
            let digits = &info.code.0[1..];
            assert!(digits.len() == 4 && digits.chars().all(|c| c.is_ascii_digit()), "malformed {}", info.code);
        }
    }
}
