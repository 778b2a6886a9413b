//! Policy rules as the checker lowered them: which resources each applies to, and the
//! CEL condition each of them must meet.

use crate::span::Span;
use std::collections::BTreeMap;

/// What breaking a rule is: an error (`deny`) or a warning (`warn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleSeverity {
    Deny,
    Warn,
}

impl RuleSeverity {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleSeverity::Deny => "deny",
            RuleSeverity::Warn => "warn",
        }
    }
}

/// One `rule` declaration of the package or of an imported stdlib module.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// The rule's name (`unpinned_wasm_image`), as mesh.toml and waivers name it.
    pub name: String,
    /// The module that declares it (`std.policy.recommended`), for messages.
    pub module: String,
    pub severity: RuleSeverity,
    /// Where the severity was set, when mesh.toml's `[policy.rules]` overrides it.
    pub severity_override: Option<Span>,
    /// The kinds it applies to (`WasmPlugin`); every kind when empty.
    pub kinds: Vec<String>,
    /// The namespaces it applies to; every namespace when empty.
    pub namespaces: Vec<String>,
    /// The labels a resource must carry for the rule to apply.
    pub labels: BTreeMap<String, String>,
    /// The CEL condition every matched resource must meet, over `object` (the resource
    /// as emitted), `mesh` (the package's settings) and `resources` (every resource
    /// checked with it).
    pub condition: String,
    pub condition_span: Span,
    /// What a resource that breaks the rule is told.
    pub message: String,
    /// A CEL string expression over the same variables that says it for one resource
    /// (`messageExpression`); the plain message stands when it fails.
    pub message_expression: Option<(String, Span)>,
    /// The rule's name in its declaration.
    pub origin: Span,
    /// The `///` lines above the declaration.
    pub docs: String,
}

/// The annotation that waives a rule on one resource, with the reason as its value.
pub fn waiver_annotation(rule: &str) -> String {
    format!("{WAIVER_PREFIX}{rule}")
}

/// The prefix of waiver annotations; the rest of the key is the rule's name.
pub const WAIVER_PREFIX: &str = "waivers.meshc.dev/";
