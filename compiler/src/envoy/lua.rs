//! Lua code in Lua filters, parsed as Envoy parses it when it loads the config.

use crate::diagnostic::{Diagnostic, codes};
use crate::model::node::{Member, Node, NodeKind};

/// The inline Lua code of a Lua filter's config or per-route config: `inline_code`,
/// the `inline_string` of `default_source_code` and `source_code`, and of each entry
/// of `source_codes`.
pub(super) fn lua_sources(entries: &[Member]) -> Vec<&Node> {
    fn inline_string(value: &Node) -> Option<&Node> {
        match &value.kind {
            NodeKind::Object(fields) => {
                fields.iter().find(|e| e.key == "inline_string" || e.key == "inlineString").map(|e| &e.value)
            }
            _ => None,
        }
    }
    let mut out = Vec::new();
    for entry in entries {
        match entry.key.as_str() {
            "inline_code" | "inlineCode" => out.push(&entry.value),
            "default_source_code" | "defaultSourceCode" | "source_code" | "sourceCode" => {
                out.extend(inline_string(&entry.value))
            }
            "source_codes" | "sourceCodes" => {
                if let NodeKind::Object(codes) = &entry.value.kind {
                    out.extend(codes.iter().filter_map(|code| inline_string(&code.value)));
                }
            }
            _ => {}
        }
    }
    out
}

/// Envoy compiles a Lua filter's code when it loads the config and rejects code that
/// does not parse; so does meshc, with the parser of Lua 5.1 and LuaJIT's additions.
pub(super) fn lua_syntax(value: &Node) -> Option<Diagnostic> {
    let NodeKind::String(code) = &value.kind else { return None };
    // The parser recurses per nesting level; code nested this deep is left to Envoy.
    let depth = code.bytes().filter(|b| matches!(b, b'(' | b'{' | b'[')).count();
    if depth > 256 {
        return None;
    }
    let parsed = std::panic::catch_unwind(|| full_moon::parse(code)).ok()?;
    let errors = parsed.err()?;
    let error = errors.first()?;
    let (start, _) = error.range();
    Some(
        Diagnostic::new(
            codes::ENVOY_LUA_SYNTAX,
            value.span,
            format!(
                "this Lua code does not parse: {} (line {}, column {} of the code)",
                error.error_message(),
                start.line(),
                start.character()
            ),
        )
        .with_label_message("Envoy rejects the filter")
        .with_note("Envoy compiles the code of a Lua filter when it loads the config"),
    )
}
