//! The extensions an Envoy build registers, read from the build itself: started on a
//! bootstrap with nothing but an admin interface, Envoy lists every factory it has in
//! `/server_info` (`node.extensions`: name, category and the config types it takes).
//! `cargo run -p xtask -- extract-extensions` writes the list of each pinned build
//! into the compiler's data, and a test checks it against the real binary.

use crate::files::ProcessFiles;
use crate::group::admin_get;
use crate::process::Envoy;
use crate::{READY_TIMEOUT, SmokeError};
use std::path::Path;
use std::time::Instant;

/// The bootstrap of an Envoy that only answers on its admin interface.
const ADMIN_ONLY: &str = "admin:\n  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }\n";

/// The registry of `binary` as text, one extension a line, sorted:
/// `CATEGORY NAME [TYPE...]`, where each type is a message's full name.
pub fn extension_registry(binary: &Path) -> Result<String, SmokeError> {
    let files = ProcessFiles::new().map_err(SmokeError::CreateTempDir)?;
    std::fs::write(&files.bootstrap, ADMIN_ONLY)
        .map_err(|error| SmokeError::WriteBootstrap { path: files.bootstrap.clone(), error })?;
    let mut envoy = Envoy::spawn(binary, &files.bootstrap, &files)
        .map_err(|error| SmokeError::Envoy(format!("cannot start {}: {error}", binary.display())))?;
    let info = envoy
        .wait_ready(&files.admin_address, Instant::now() + READY_TIMEOUT)
        .and_then(|admin| admin_get(admin, "/server_info"));
    envoy.stop();
    let info = info.map_err(SmokeError::Envoy)?;
    registry_lines(&info).map_err(SmokeError::Envoy)
}

/// The lines of the registry from the JSON of `/server_info`.
fn registry_lines(server_info: &str) -> Result<String, String> {
    let json: serde_json::Value =
        serde_json::from_str(server_info).map_err(|e| format!("/server_info is not JSON: {e}"))?;
    let extensions = json["node"]["extensions"].as_array().ok_or("/server_info lists no node.extensions")?;
    let mut lines: Vec<String> = extensions
        .iter()
        .filter(|e| !e["disabled"].as_bool().unwrap_or(false))
        .map(|e| {
            let mut words =
                vec![e["category"].as_str().unwrap_or("").to_string(), e["name"].as_str().unwrap_or("").to_string()];
            words
                .extend(e["type_urls"].as_array().into_iter().flatten().filter_map(|t| t.as_str()).map(str::to_string));
            words.join(" ")
        })
        .collect();
    lines.sort();
    lines.dedup();
    Ok(lines.join("\n") + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_is_one_sorted_line_per_extension() {
        let info = r#"{"node": {"extensions": [
            {"name": "envoy.filters.http.lua", "category": "envoy.filters.http", "type_urls": ["envoy.extensions.filters.http.lua.v3.Lua", "envoy.extensions.filters.http.lua.v3.LuaPerRoute"]},
            {"name": "envoy.access_loggers.file", "category": "envoy.access_loggers", "type_urls": ["envoy.extensions.access_loggers.file.v3.FileAccessLog"]},
            {"name": "envoy.old", "category": "envoy.filters.http", "disabled": true}
        ]}}"#;
        assert_eq!(
            registry_lines(info).unwrap(),
            "envoy.access_loggers envoy.access_loggers.file envoy.extensions.access_loggers.file.v3.FileAccessLog\n\
             envoy.filters.http envoy.filters.http.lua envoy.extensions.filters.http.lua.v3.Lua envoy.extensions.filters.http.lua.v3.LuaPerRoute\n"
        );
    }
}
