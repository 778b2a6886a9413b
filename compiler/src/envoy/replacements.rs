//! What replaces each deprecated field.

/// Deprecated fields and what replaces them, from Envoy's documentation of each field
/// (the descriptors compiled into Envoy keep the deprecation but not the comments that
/// name the replacement). A test checks that each entry is a deprecated field of a
/// pinned build and that its replacement is a field of the same message.
pub(crate) const REPLACEMENTS: &[(&str, &str)] = &[
    ("envoy.extensions.filters.http.lua.v3.Lua.inline_code", "default_source_code"),
    ("envoy.config.route.v3.HeaderMatcher.exact_match", "string_match"),
    ("envoy.config.route.v3.HeaderMatcher.prefix_match", "string_match"),
    ("envoy.config.route.v3.HeaderMatcher.suffix_match", "string_match"),
    ("envoy.config.route.v3.HeaderMatcher.contains_match", "string_match"),
    ("envoy.config.route.v3.HeaderMatcher.safe_regex_match", "string_match"),
    ("envoy.config.core.v3.HeaderValueOption.append", "append_action"),
    ("envoy.extensions.access_loggers.file.v3.FileAccessLog.format", "log_format"),
    ("envoy.extensions.access_loggers.file.v3.FileAccessLog.json_format", "log_format"),
    ("envoy.extensions.access_loggers.file.v3.FileAccessLog.typed_json_format", "log_format"),
    ("envoy.config.cluster.v3.Cluster.http_protocol_options", "typed_extension_protocol_options"),
    ("envoy.config.cluster.v3.Cluster.http2_protocol_options", "typed_extension_protocol_options"),
    ("envoy.config.cluster.v3.Cluster.common_http_protocol_options", "typed_extension_protocol_options"),
    ("envoy.config.cluster.v3.Cluster.upstream_http_protocol_options", "typed_extension_protocol_options"),
    ("envoy.config.cluster.v3.Cluster.protocol_selection", "typed_extension_protocol_options"),
    ("envoy.config.cluster.v3.Cluster.max_requests_per_connection", "typed_extension_protocol_options"),
    ("envoy.config.cluster.v3.Cluster.dns_resolvers", "typed_dns_resolver_config"),
    ("envoy.config.cluster.v3.Cluster.use_tcp_for_dns_lookups", "typed_dns_resolver_config"),
    ("envoy.config.cluster.v3.Cluster.dns_resolution_config", "typed_dns_resolver_config"),
    ("envoy.config.bootstrap.v3.Bootstrap.use_tcp_for_dns_lookups", "typed_dns_resolver_config"),
    ("envoy.config.bootstrap.v3.Bootstrap.dns_resolution_config", "typed_dns_resolver_config"),
    ("envoy.config.bootstrap.v3.Bootstrap.watchdog", "watchdogs"),
    ("envoy.config.bootstrap.v3.Admin.access_log_path", "access_log"),
    ("envoy.config.route.v3.RouteAction.internal_redirect_action", "internal_redirect_policy"),
    ("envoy.config.route.v3.RouteAction.max_internal_redirects", "internal_redirect_policy"),
    ("envoy.config.route.v3.RouteAction.max_grpc_timeout", "max_stream_duration"),
    ("envoy.config.route.v3.RouteAction.grpc_timeout_offset", "max_stream_duration"),
    ("envoy.config.route.v3.VirtualHost.cors", "typed_per_filter_config"),
    (
        "envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext.match_subject_alt_names",
        "match_typed_subject_alt_names",
    ),
    ("envoy.config.core.v3.ConfigSource.path", "path_config_source"),
    ("envoy.config.core.v3.SubstitutionFormatString.text_format", "text_format_source"),
    ("envoy.config.core.v3.HealthCheck.event_log_path", "event_logger"),
    ("envoy.config.listener.v3.Listener.reuse_port", "enable_reuse_port"),
    ("envoy.config.core.v3.BindConfig.additional_source_addresses", "extra_source_addresses"),
    ("envoy.config.rbac.v3.Principal.source_ip", "direct_remote_ip"),
    ("envoy.config.rbac.v3.Principal.metadata", "sourced_metadata"),
    ("envoy.config.rbac.v3.Permission.metadata", "sourced_metadata"),
    (
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.access_log_flush_interval",
        "access_log_options",
    ),
    (
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.flush_access_log_on_new_request",
        "access_log_options",
    ),
    ("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.access_log_flush_interval", "access_log_options"),
    ("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.flush_access_log_on_connected", "access_log_options"),
    ("envoy.config.route.v3.Route.per_request_buffer_limit_bytes", "request_body_buffer_limit"),
    ("envoy.config.route.v3.VirtualHost.per_request_buffer_limit_bytes", "request_body_buffer_limit"),
];

/// The replacement of a deprecated field (`envoy.config.route.v3.Route.FIELD`), where
/// one is known.
pub fn replacement(field_full_name: &str) -> Option<&'static str> {
    REPLACEMENTS.iter().find(|(name, _)| *name == field_full_name).map(|(_, replacement)| *replacement)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envoy::descriptors;
    use crate::versions;
    use prost_reflect::DescriptorPool;

    /// Every known replacement names a field that some pinned build deprecates, and
    /// a field of the same message.
    #[test]
    fn replacements_name_deprecated_fields_and_their_siblings() {
        let pools: Vec<DescriptorPool> =
            versions::ENVOY_BUILDS.iter().map(|b| descriptors::load(b.version).expect("links")).collect();
        for (name, replacement) in REPLACEMENTS {
            let (message_name, field_name) = name.rsplit_once('.').expect("a field name");
            let mut deprecated_somewhere = false;
            for pool in &pools {
                let Some(message) = pool.get_message_by_name(message_name) else { continue };
                let Some(field) = message.get_field_by_name(field_name) else { continue };
                deprecated_somewhere |= field.field_descriptor_proto().options.as_ref().is_some_and(|o| o.deprecated());
                assert!(message.get_field_by_name(replacement).is_some(), "{message_name} has no field {replacement}");
            }
            assert!(deprecated_somewhere, "{name} is not a deprecated field of any pinned build");
        }
    }
}
