//! `safe_regex` patterns, compiled with RE2's syntax as Envoy compiles them when it loads the config.

use crate::diagnostic::{Diagnostic, codes};
use crate::model::node::{Node, NodeKind};

/// Envoy compiles a `RegexMatcher`'s pattern with RE2 when it loads the config and
/// rejects one that does not compile. The `regex` crate shares RE2's syntax; the two
/// constructs of RE2 it lacks (`\Q...\E` quoting and `\C`) are left to Envoy, so a
/// pattern RE2 takes is never reported.
pub(super) fn re2_syntax(value: &Node) -> Option<Diagnostic> {
    let NodeKind::String(pattern) = &value.kind else { return None };
    if pattern.contains("\\Q") || pattern.contains("\\C") {
        return None;
    }
    let error = regex::RegexBuilder::new(&pattern).octal(true).size_limit(1 << 24).build().err()?;
    if matches!(error, regex::Error::CompiledTooBig(_)) {
        return None;
    }
    let detail = error.to_string();
    let reason = detail
        .lines()
        .rev()
        .find(|l| l.starts_with("error:"))
        .map(|l| l.trim_start_matches("error:").trim().to_string());
    Some(
        Diagnostic::new(
            codes::ENVOY_REGEX_SYNTAX,
            value.span,
            format!(
                "this regular expression does not compile: {}",
                reason.unwrap_or_else(|| "invalid syntax".to_string())
            ),
        )
        .with_label_message("Envoy rejects the pattern")
        .with_note("Envoy compiles `safe_regex` patterns with RE2 when it loads the config"),
    )
}
