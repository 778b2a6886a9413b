//! protoc-gen-validate rules of Envoy's schema, compiled into plain data.
//!
//! Envoy's protos attach `(validate.rules)` to their fields, and Envoy's generated C++
//! checks them when it loads a config. The rules arrive here as options of the field
//! descriptors (a `validate.FieldRules` message, decoded by its own descriptor); each
//! field's rules are compiled once into [`FieldRules`] and then evaluated against
//! values as often as needed.
//!
//! The semantics follow the C++ validators that Envoy links: a scalar field that is not
//! set is checked as its default value (so `string name = 1 [min_len: 1]` makes the
//! field required), while an unset message field is only checked for `required`.

use super::proto::{self, Decoded, ProtoSet, Value};
use regex::Regex;

/// The rules of one field.
#[derive(Debug, Default)]
pub(crate) struct FieldRules {
    /// `message`, `duration`, `timestamp` or `any` with `required: true`.
    pub required: bool,
    pub kind: Rules,
}

#[derive(Debug, Default)]
pub(crate) enum Rules {
    #[default]
    None,
    /// Every numeric type, and durations in seconds.
    Number(NumberRules),
    Bool(Option<bool>),
    String(StringRules),
    Bytes(StringRules),
    Enum(EnumRules),
    Repeated(RepeatedRules),
    Map(MapRules),
    Any {
        only: Vec<String>,
        not: Vec<String>,
    },
    Duration(NumberRules),
}

#[derive(Debug, Default)]
pub(crate) struct NumberRules {
    pub gt: Option<f64>,
    pub gte: Option<f64>,
    pub lt: Option<f64>,
    pub lte: Option<f64>,
    pub constant: Option<f64>,
    pub only: Vec<f64>,
    pub not: Vec<f64>,
    pub ignore_empty: bool,
}

#[derive(Debug, Default)]
pub(crate) struct StringRules {
    pub constant: Option<String>,
    pub len: Option<u64>,
    pub min_len: Option<u64>,
    pub max_len: Option<u64>,
    pub len_bytes: Option<u64>,
    pub min_bytes: Option<u64>,
    pub max_bytes: Option<u64>,
    pub pattern: Option<Pattern>,
    pub prefix: Option<String>,
    pub suffix: Option<String>,
    pub contains: Option<String>,
    pub not_contains: Option<String>,
    pub only: Vec<String>,
    pub not: Vec<String>,
    pub well_known: Option<WellKnown>,
    pub ignore_empty: bool,
}

/// A `pattern` rule: the pattern as written, compiled anchored at both ends (RE2's
/// FullMatch) when a value is first held to it, since most rules a check compiles
/// never meet a value and compiling a regular expression costs more than the rest of
/// a message's rules. Envoy's validators use RE2, whose syntax the `regex` crate
/// shares; a pattern it cannot compile is left unchecked.
#[derive(Debug)]
pub(crate) struct Pattern {
    pub source: String,
    compiled: std::sync::OnceLock<Option<Regex>>,
}

impl Pattern {
    fn new(source: String) -> Pattern {
        Pattern { source, compiled: std::sync::OnceLock::new() }
    }

    pub(crate) fn regex(&self) -> Option<&Regex> {
        self.compiled.get_or_init(|| Regex::new(&format!("^(?:{})$", self.source)).ok()).as_ref()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WellKnown {
    Hostname,
    Ip,
    Ipv4,
    Ipv6,
    Address,
    Uuid,
    HeaderName,
    HeaderValue,
    /// `well_known_regex` with `strict: false`: no NUL, CR or LF.
    HeaderString,
}

#[derive(Debug, Default)]
pub(crate) struct EnumRules {
    pub constant: Option<i32>,
    pub defined_only: bool,
    pub only: Vec<i32>,
    pub not: Vec<i32>,
}

#[derive(Debug, Default)]
pub(crate) struct RepeatedRules {
    pub min_items: Option<u64>,
    pub max_items: Option<u64>,
    pub unique: bool,
    pub items: Option<Box<FieldRules>>,
    pub ignore_empty: bool,
}

#[derive(Debug, Default)]
pub(crate) struct MapRules {
    pub min_pairs: Option<u64>,
    pub max_pairs: Option<u64>,
    pub keys: Option<Box<FieldRules>>,
    pub values: Option<Box<FieldRules>>,
    pub ignore_empty: bool,
}

/// A value as the rules see it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Scalar<'a> {
    Number(f64),
    Bool(bool),
    Str(&'a str),
    /// An enum value by number, and whether the enum defines it.
    Enum(i32, bool),
    /// Seconds.
    Duration(f64),
    /// The type URL of an `Any`.
    TypeUrl(&'a str),
}

impl FieldRules {
    /// Compiles a `validate.FieldRules` message, decoded by its descriptor in `set`
    /// (which also decodes the groups it holds).
    pub(crate) fn compile(rules: &Decoded, set: &ProtoSet) -> FieldRules {
        let mut out = FieldRules::default();
        for (name, group) in &rules.values {
            let Value::Message(type_name, bytes) = group else { continue };
            let Some(group) = set.decode(type_name, bytes) else { continue };
            let group = &group;
            let nested = |name: &str| -> Option<Box<FieldRules>> {
                let Some(Value::Message(type_name, bytes)) = group.get(name) else { return None };
                set.decode(type_name, bytes).map(|m| Box::new(FieldRules::compile(&m, set)))
            };
            match *name {
                "message" => out.required |= flag(group, "required"),
                "string" => out.kind = Rules::String(string_rules(group)),
                "bytes" => out.kind = Rules::Bytes(string_rules(group)),
                "bool" => out.kind = Rules::Bool(number(group, "const").map(|v| v != 0.0)),
                "enum" => {
                    out.kind = Rules::Enum(EnumRules {
                        constant: number(group, "const").map(|v| v as i32),
                        defined_only: flag(group, "defined_only"),
                        only: numbers(group, "in").into_iter().map(|v| v as i32).collect(),
                        not: numbers(group, "not_in").into_iter().map(|v| v as i32).collect(),
                    })
                }
                "repeated" => {
                    out.kind = Rules::Repeated(RepeatedRules {
                        min_items: number(group, "min_items").map(|v| v as u64),
                        max_items: number(group, "max_items").map(|v| v as u64),
                        unique: flag(group, "unique"),
                        items: nested("items"),
                        ignore_empty: flag(group, "ignore_empty"),
                    })
                }
                "map" => {
                    out.kind = Rules::Map(MapRules {
                        min_pairs: number(group, "min_pairs").map(|v| v as u64),
                        max_pairs: number(group, "max_pairs").map(|v| v as u64),
                        keys: nested("keys"),
                        values: nested("values"),
                        ignore_empty: flag(group, "ignore_empty"),
                    })
                }
                "any" => {
                    out.required |= flag(group, "required");
                    out.kind = Rules::Any { only: strings(group, "in"), not: strings(group, "not_in") };
                }
                "duration" => {
                    out.required |= flag(group, "required");
                    out.kind = Rules::Duration(number_rules(group));
                }
                "timestamp" => out.required |= flag(group, "required"),
                _ => out.kind = Rules::Number(number_rules(group)),
            }
        }
        out
    }

    /// Whether the rules say anything at all.
    pub(crate) fn is_empty(&self) -> bool {
        !self.required && matches!(self.kind, Rules::None)
    }

    /// What is wrong with a scalar value, as phrases that complete "must be ...".
    pub(crate) fn scalar_problems(&self, value: Scalar<'_>) -> Vec<String> {
        match (&self.kind, value) {
            (Rules::Number(rules), Scalar::Number(v)) => rules.problems(v, ""),
            (Rules::Duration(rules), Scalar::Duration(v)) => rules.problems(v, "s"),
            (Rules::Bool(Some(expected)), Scalar::Bool(v)) if v != *expected => vec![format!("{expected}")],
            (Rules::String(rules), Scalar::Str(v)) => rules.problems(v),
            (Rules::Bytes(rules), Scalar::Str(v)) => rules.bytes_problems(v),
            (Rules::Enum(rules), Scalar::Enum(number, defined)) => rules.problems(number, defined),
            (Rules::Any { only, not }, Scalar::TypeUrl(url)) => {
                let mut problems = Vec::new();
                if !only.is_empty() && !only.iter().any(|u| u == url) {
                    problems.push(format!("one of the types {}", only.join(", ")));
                }
                if not.iter().any(|u| u == url) {
                    problems.push("of another type".to_string());
                }
                problems
            }
            _ => Vec::new(),
        }
    }

    /// What is wrong with the default value of an unset scalar field: the default
    /// is what Envoy checks then.
    pub(crate) fn default_problems(&self) -> Vec<String> {
        match &self.kind {
            Rules::Number(rules) => rules.problems(0.0, ""),
            Rules::Bool(Some(true)) => vec!["true".to_string()],
            Rules::String(rules) => rules.problems(""),
            Rules::Bytes(rules) => rules.bytes_problems(""),
            Rules::Enum(rules) => rules.problems(0, true),
            Rules::Repeated(rules) if !rules.ignore_empty => count_problems(0, rules.min_items, None, "list", "item"),
            Rules::Map(rules) if !rules.ignore_empty => count_problems(0, rules.min_pairs, None, "map", "entry"),
            _ => Vec::new(),
        }
    }
}

/// What is wrong with the size of a list or map, as phrases that complete "must be
/// ...": `a non-empty list`, `a list of at least 2 items`, `a map of at most 1 entry`.
pub(crate) fn count_problems(
    count: u64,
    min: Option<u64>,
    max: Option<u64>,
    container: &str,
    noun: &str,
) -> Vec<String> {
    let plural = |n: u64| if n == 1 { noun.to_string() } else { plural(noun) };
    let mut problems = Vec::new();
    if let Some(min) = min
        && count < min
    {
        problems.push(if min == 1 {
            format!("a non-empty {container}")
        } else {
            format!("a {container} of at least {min} {}", plural(min))
        });
    }
    if let Some(max) = max
        && count > max
    {
        problems.push(format!("a {container} of at most {max} {}", plural(max)));
    }
    problems
}

fn plural(noun: &str) -> String {
    if noun == "entry" { "entries".to_string() } else { format!("{noun}s") }
}

impl NumberRules {
    fn problems(&self, value: f64, unit: &str) -> Vec<String> {
        if self.ignore_empty && value == 0.0 {
            return Vec::new();
        }
        let show = |v: f64| format!("{v}{unit}");
        let mut problems = Vec::new();
        if let Some(constant) = self.constant
            && value != constant
        {
            problems.push(show(constant));
        }
        if !self.only.is_empty() && !self.only.contains(&value) {
            problems.push(format!("one of {}", self.only.iter().map(|v| show(*v)).collect::<Vec<_>>().join(", ")));
        }
        if self.not.contains(&value) {
            problems.push(format!("none of {}", self.not.iter().map(|v| show(*v)).collect::<Vec<_>>().join(", ")));
        }
        let above = self.gt.is_none_or(|b| value > b) && self.gte.is_none_or(|b| value >= b);
        let below = self.lt.is_none_or(|b| value < b) && self.lte.is_none_or(|b| value <= b);
        let lower = self.gt.or(self.gte);
        let upper = self.lt.or(self.lte);
        let lower_text =
            self.gt.map(|b| format!("greater than {}", show(b))).or(self.gte.map(|b| format!("at least {}", show(b))));
        let upper_text =
            self.lt.map(|b| format!("less than {}", show(b))).or(self.lte.map(|b| format!("at most {}", show(b))));
        match (lower, upper) {
            // A lower bound above the upper one is an exclusive range: the value must
            // lie outside it.
            (Some(l), Some(u)) if l >= u => {
                if !above && !below {
                    problems.push(format!("{} or {}", upper_text.unwrap_or_default(), lower_text.unwrap_or_default()));
                }
            }
            (Some(_), Some(_)) => {
                if !above || !below {
                    problems.push(format!("{} and {}", lower_text.unwrap_or_default(), upper_text.unwrap_or_default()));
                }
            }
            _ => {
                if !above {
                    problems.extend(lower_text);
                }
                if !below {
                    problems.extend(upper_text);
                }
            }
        }
        problems
    }
}

impl EnumRules {
    fn problems(&self, value: i32, defined: bool) -> Vec<String> {
        let mut problems = Vec::new();
        if self.defined_only && !defined {
            problems.push("a value the enum defines".to_string());
        }
        if let Some(constant) = self.constant
            && value != constant
        {
            problems.push(format!("the value numbered {constant}"));
        }
        if !self.only.is_empty() && !self.only.contains(&value) {
            problems.push(format!(
                "one of the values numbered {}",
                self.only.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ")
            ));
        }
        if self.not.contains(&value) {
            problems.push(format!("not the value numbered {value}"));
        }
        problems
    }
}

impl StringRules {
    fn problems(&self, value: &str) -> Vec<String> {
        if self.ignore_empty && value.is_empty() {
            return Vec::new();
        }
        let mut problems = Vec::new();
        let chars = value.chars().count() as u64;
        let bytes = value.len() as u64;
        if let Some(constant) = &self.constant
            && value != constant
        {
            problems.push(format!("\"{constant}\""));
        }
        if !self.only.is_empty() && !self.only.iter().any(|v| v == value) {
            problems.push(format!("one of {}", quoted_list(&self.only)));
        }
        if self.not.iter().any(|v| v == value) {
            problems.push(format!("none of {}", quoted_list(&self.not)));
        }
        if let Some(len) = self.len
            && chars != len
        {
            problems.push(format!("exactly {len} characters long"));
        }
        problems.extend(length_problems(chars, self.min_len, self.max_len, "characters"));
        if let Some(len) = self.len_bytes
            && bytes != len
        {
            problems.push(format!("exactly {len} bytes long"));
        }
        problems.extend(length_problems(bytes, self.min_bytes, self.max_bytes, "bytes"));
        if let Some(prefix) = &self.prefix
            && !value.starts_with(prefix.as_str())
        {
            problems.push(format!("a string starting with \"{prefix}\""));
        }
        if let Some(suffix) = &self.suffix
            && !value.ends_with(suffix.as_str())
        {
            problems.push(format!("a string ending with \"{suffix}\""));
        }
        if let Some(contains) = &self.contains
            && !value.contains(contains.as_str())
        {
            problems.push(format!("a string containing \"{contains}\""));
        }
        if let Some(not_contains) = &self.not_contains
            && value.contains(not_contains.as_str())
        {
            problems.push(format!("a string without \"{not_contains}\""));
        }
        if let Some(pattern) = &self.pattern
            && let Some(regex) = pattern.regex()
            && !regex.is_match(value)
        {
            problems.push(format!("a string matching the pattern `{}`", pattern.source));
        }
        if let Some(known) = self.well_known
            && !known.accepts(value)
        {
            problems.push(known.describe().to_string());
        }
        problems
    }

    /// Bytes are written in base64 in Envoy's JSON; only the lengths of the decoded
    /// bytes are checked, which a base64 text's length bounds well enough for the
    /// rules Envoy uses (non-empty, a maximum).
    fn bytes_problems(&self, value: &str) -> Vec<String> {
        let decoded = (value.trim_end_matches('=').len() * 3 / 4) as u64;
        let mut problems = length_problems(decoded, self.min_len.or(self.min_bytes), None, "bytes");
        if self.ignore_empty && value.is_empty() {
            problems.clear();
        }
        problems
    }
}

fn length_problems(length: u64, min: Option<u64>, max: Option<u64>, unit: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(min) = min
        && length < min
    {
        problems.push(if min == 1 { "non-empty".to_string() } else { format!("at least {min} {unit} long") });
    }
    if let Some(max) = max
        && length > max
    {
        problems.push(format!("at most {max} {unit} long"));
    }
    problems
}

fn quoted_list(values: &[String]) -> String {
    values.iter().map(|v| format!("\"{v}\"")).collect::<Vec<_>>().join(", ")
}

impl WellKnown {
    pub(crate) fn accepts(self, value: &str) -> bool {
        match self {
            WellKnown::Hostname => is_hostname(value),
            WellKnown::Ip => value.parse::<std::net::IpAddr>().is_ok(),
            WellKnown::Ipv4 => value.parse::<std::net::Ipv4Addr>().is_ok(),
            WellKnown::Ipv6 => value.parse::<std::net::Ipv6Addr>().is_ok(),
            WellKnown::Address => is_hostname(value) || value.parse::<std::net::IpAddr>().is_ok(),
            WellKnown::Uuid => is_uuid(value),
            WellKnown::HeaderName => is_header_name(value),
            // RFC 7230 field content: no control characters but horizontal tab.
            WellKnown::HeaderValue => !value.chars().any(|c| (c < ' ' && c != '\t') || c == '\u{7f}'),
            WellKnown::HeaderString => !value.contains(['\0', '\n', '\r']),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            WellKnown::Hostname => "a valid hostname",
            WellKnown::Ip => "an IP address",
            WellKnown::Ipv4 => "an IPv4 address",
            WellKnown::Ipv6 => "an IPv6 address",
            WellKnown::Address => "an IP address or a hostname",
            WellKnown::Uuid => "a UUID",
            WellKnown::HeaderName => "a valid HTTP header name (RFC 7230 token characters)",
            WellKnown::HeaderValue => "a valid HTTP header value (no control characters)",
            WellKnown::HeaderString => "free of NUL, CR and LF characters",
        }
    }
}

/// The hostname rule of Envoy's validators: at most 253 bytes, dot-separated labels
/// of 1 to 63 letters, digits and hyphens, not starting or ending with a hyphen.
fn is_hostname(value: &str) -> bool {
    let trimmed = value.strip_suffix('.').unwrap_or(value);
    if value.len() > 253 || trimmed.is_empty() {
        return false;
    }
    trimmed.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

fn is_uuid(value: &str) -> bool {
    value.len() == 36
        && value.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// An optional leading `:` (HTTP/2 pseudo-headers), then RFC 7230 token characters.
/// Envoy's pattern writes the class as `!#$%&'*+-.^_|~` and a backtick, where `+-.` is
/// a range that also takes the comma; the same is done here.
fn is_header_name(value: &str) -> bool {
    let name = value.strip_prefix(':').unwrap_or(value);
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+,-.^_|~`".contains(&b))
}

fn string_rules(group: &Decoded) -> StringRules {
    let mut rules = StringRules {
        constant: string(group, "const"),
        len: number(group, "len").map(|v| v as u64),
        min_len: number(group, "min_len").map(|v| v as u64),
        max_len: number(group, "max_len").map(|v| v as u64),
        len_bytes: number(group, "len_bytes").map(|v| v as u64),
        min_bytes: number(group, "min_bytes").map(|v| v as u64),
        max_bytes: number(group, "max_bytes").map(|v| v as u64),
        pattern: string(group, "pattern").map(Pattern::new),
        prefix: string(group, "prefix"),
        suffix: string(group, "suffix"),
        contains: string(group, "contains"),
        not_contains: string(group, "not_contains"),
        only: strings(group, "in"),
        not: strings(group, "not_in"),
        well_known: None,
        ignore_empty: flag(group, "ignore_empty"),
    };
    let strict = group.get("strict").is_none() || flag(group, "strict");
    for (flag_name, known) in [
        ("hostname", WellKnown::Hostname),
        ("ip", WellKnown::Ip),
        ("ipv4", WellKnown::Ipv4),
        ("ipv6", WellKnown::Ipv6),
        ("address", WellKnown::Address),
        ("uuid", WellKnown::Uuid),
    ] {
        if flag(group, flag_name) {
            rules.well_known = Some(known);
        }
    }
    match group.get("well_known_regex") {
        Some(Value::Enum(1)) => {
            rules.well_known = Some(if strict { WellKnown::HeaderName } else { WellKnown::HeaderString })
        }
        Some(Value::Enum(2)) => {
            rules.well_known = Some(if strict { WellKnown::HeaderValue } else { WellKnown::HeaderString })
        }
        _ => {}
    }
    rules
}

fn number_rules(group: &Decoded) -> NumberRules {
    NumberRules {
        gt: number(group, "gt"),
        gte: number(group, "gte"),
        lt: number(group, "lt"),
        lte: number(group, "lte"),
        constant: number(group, "const"),
        only: numbers(group, "in"),
        not: numbers(group, "not_in"),
        ignore_empty: flag(group, "ignore_empty"),
    }
}

fn flag(message: &Decoded, name: &str) -> bool {
    matches!(message.get(name), Some(Value::Bool(true)))
}

fn string(message: &Decoded, name: &str) -> Option<String> {
    match message.get(name)? {
        Value::Str(s) => Some(s.clone()),
        _ => None,
    }
}

fn strings(message: &Decoded, name: &str) -> Vec<String> {
    message
        .all(name)
        .filter_map(|item| match item {
            Value::Str(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

/// A numeric rule value, as f64; a `google.protobuf.Duration` in seconds.
fn scalar_number(value: &Value) -> Option<f64> {
    match value {
        Value::Int(v) => Some(*v as f64),
        Value::Uint(v) => Some(*v as f64),
        Value::Float(v) => Some(*v),
        Value::Bool(v) => Some(if *v { 1.0 } else { 0.0 }),
        Value::Enum(v) => Some(f64::from(*v)),
        Value::Message(_, bytes) => {
            // `seconds` (int64) is field 1 and `nanos` (int32) field 2.
            let (mut seconds, mut nanos) = (0.0, 0.0);
            for (number, wire) in proto::fields(bytes) {
                if let proto::Wire::Varint(v) = wire {
                    match number {
                        1 => seconds = v as i64 as f64,
                        2 => nanos = f64::from(v as i32),
                        _ => {}
                    }
                }
            }
            Some(seconds + nanos / 1e9)
        }
        Value::Str(_) => None,
    }
}

fn number(message: &Decoded, name: &str) -> Option<f64> {
    scalar_number(message.get(name)?)
}

fn numbers(message: &Decoded, name: &str) -> Vec<f64> {
    message.all(name).filter_map(scalar_number).collect()
}

/// Parses a proto3 JSON duration, `"1.5s"` or `"-0.250s"`, into seconds.
pub(crate) fn parse_duration(text: &str) -> Option<f64> {
    let body = text.strip_suffix('s')?;
    let digits = body.strip_prefix('-').unwrap_or(body);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if fraction.len() > 9 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seconds: f64 = body.parse().ok()?;
    // Durations are bounded to about 10,000 years either way.
    (seconds.abs() <= 315_576_000_000.0).then_some(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_ranges_take_values_outside() {
        let rules = NumberRules { gt: Some(10.0), lt: Some(5.0), ..Default::default() };
        assert!(rules.problems(3.0, "").is_empty());
        assert!(rules.problems(11.0, "").is_empty());
        assert_eq!(rules.problems(7.0, ""), vec!["less than 5 or greater than 10"]);
    }

    #[test]
    fn inclusive_ranges_and_bounds() {
        let rules = NumberRules { gte: Some(1.0), lte: Some(100.0), ..Default::default() };
        assert!(rules.problems(1.0, "").is_empty());
        assert_eq!(rules.problems(0.0, ""), vec!["at least 1 and at most 100"]);
        let positive = NumberRules { gt: Some(0.0), ..Default::default() };
        assert_eq!(positive.problems(0.0, "s"), vec!["greater than 0s"]);
    }

    #[test]
    fn well_known_formats() {
        assert!(WellKnown::HeaderName.accepts("x-custom-header"));
        assert!(WellKnown::HeaderName.accepts(":authority"));
        assert!(!WellKnown::HeaderName.accepts("x custom"));
        assert!(!WellKnown::HeaderName.accepts(""));
        assert!(WellKnown::HeaderValue.accepts("a\tb"));
        assert!(!WellKnown::HeaderValue.accepts("a\nb"));
        assert!(WellKnown::Hostname.accepts("reviews.default.svc.cluster.local"));
        assert!(!WellKnown::Hostname.accepts("-bad.example"));
        assert!(WellKnown::Address.accepts("127.0.0.1"));
        assert!(WellKnown::Uuid.accepts("123e4567-e89b-12d3-a456-426614174000"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1.5s"), Some(1.5));
        assert_eq!(parse_duration("-0.250s"), Some(-0.25));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("1m"), None);
        assert_eq!(parse_duration("0.0000000001s"), None);
    }
}
