//! A CEL evaluator over JSON values, with the Kubernetes CEL library functions that
//! Istio's CRD validation rules use.
//!
//! An [`Expression`] is compiled once and evaluated many times with variables bound
//! to JSON data (`self` for a CRD rule, `object` and `params` for a
//! ValidatingAdmissionPolicy or a user's rule). Evaluation gives a value or a
//! [`CelError`]; a rule that calls a Kubernetes function this evaluator does not
//! provide is [`CelError::Unsupported`], found when it is compiled, so that a caller
//! can say the rule was not evaluated instead of letting it pass.
//!
//! The `cel` crate interprets the standard library (with its `regex` feature for
//! `matches`) and the `strings` extension, which Kubernetes also enables. On top of
//! it this module provides Kubernetes' `isURL` and `url` with the URL accessors, the
//! list functions `isSorted`, `sum`, `min` and `max`, and `duration`. Durations are
//! kept as whole nanoseconds (an `int`): the `cel` crate only has a duration type
//! with its `chrono` feature, which would pull chrono and its time-zone tables into
//! the core for one comparison, and a number of nanoseconds compares and adds as a
//! duration does. Only `type(duration(...))` tells them apart.

use cel::objects::{Key, Map, Opaque, Value};
use cel::{Context, Env, ExecutionError, Program};
use serde_json::Value as Json;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// Why an expression could not be compiled or evaluated.
#[derive(Clone, Debug, PartialEq)]
pub enum CelError {
    /// The text is not CEL.
    Syntax(String),
    /// The expression calls a function of the Kubernetes CEL libraries that this
    /// evaluator does not provide: its result is unknown, not false.
    Unsupported(String),
    /// Evaluation failed (no such key, wrong types, a function's error), as it
    /// would in the API server.
    Evaluation(String),
}

impl std::fmt::Display for CelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CelError::Syntax(message) => write!(f, "this is not valid CEL: {message}"),
            CelError::Unsupported(name) => write!(f, "meshc cannot evaluate the Kubernetes CEL function `{name}`"),
            CelError::Evaluation(message) => f.write_str(message),
        }
    }
}

/// Functions of the Kubernetes CEL libraries (quantity, IP and CIDR addresses,
/// authorization, `format`, regex `find`, semantic versions, sets, two-variable
/// comprehensions' helpers) that this evaluator does not implement.
pub const UNSUPPORTED_FUNCTIONS: &[&str] = &[
    "quantity",
    "isQuantity",
    "ip",
    "isIP",
    "cidr",
    "isCIDR",
    "format",
    "find",
    "findAll",
    "semver",
    "isSemver",
    "authorizer",
    "sets.contains",
    "sets.equivalent",
    "sets.intersects",
    "transformList",
    "transformMap",
    "transformMapEntry",
    "timestamp",
];

/// A compiled CEL expression.
pub struct Expression {
    program: Program,
    text: String,
}

impl std::fmt::Debug for Expression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Expression").field("text", &self.text).finish()
    }
}

/// The environment: the standard library and the `strings` extension. Built once,
/// as registering the overloads is not free.
fn env() -> &'static Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Env::stdlib();
        // The strings extension is one of the libraries the API server enables.
        let _ = env.add_extension(cel::extensions::strings);
        Arc::new(env)
    })
}

impl Expression {
    /// Compiles `text`; a call of a Kubernetes function this evaluator lacks is
    /// [`CelError::Unsupported`] at once.
    pub fn compile(text: &str) -> Result<Expression, CelError> {
        let program = env().compile(text).map_err(|e| CelError::Syntax(e.to_string()))?;
        let references = program.references();
        if let Some(name) = UNSUPPORTED_FUNCTIONS.iter().find(|name| references.has_function(name)) {
            return Err(CelError::Unsupported(name.to_string()));
        }
        Ok(Expression { program, text: text.to_string() })
    }

    /// The text it was compiled from.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the expression reads the variable `name` (`oldSelf` marks a
    /// transition rule, which the API server skips when an object is created).
    pub fn uses_variable(&self, name: &str) -> bool {
        self.program.references().has_variable(name)
    }

    /// Evaluates the expression with each `(name, value)` bound as a variable.
    pub fn evaluate(&self, bindings: &[(&str, &Json)]) -> Result<Json, CelError> {
        let mut context = Context::with_env(Arc::clone(env()));
        register_kubernetes_functions(&mut context);
        for (name, value) in bindings {
            context.add_variable_from_value(*name, to_cel(value));
        }
        match self.program.execute(&context) {
            Ok(value) => to_json(&value),
            Err(error) => Err(self.classify(error)),
        }
    }

    /// A call of a function nobody registered is an unsupported function, since the
    /// API server would have had it; an unbound variable and every other error are
    /// the expression's.
    fn classify(&self, error: ExecutionError) -> CelError {
        match error {
            ExecutionError::UndeclaredReference(name) if self.program.references().has_function(name.as_str()) => {
                CelError::Unsupported(name.to_string())
            }
            other => CelError::Evaluation(other.to_string()),
        }
    }

    /// Evaluates a condition with variables already converted to CEL values, for
    /// callers that evaluate many expressions over the same data: converting a large
    /// document costs far more than reading a few of its fields.
    pub fn evaluate_bool_values(&self, bindings: &[(&str, &Value)]) -> Result<bool, CelError> {
        let mut context = Context::with_env(Arc::clone(env()));
        register_kubernetes_functions(&mut context);
        // Binding a value converts it deeply into the interpreter's own objects, so a
        // variable the expression never reads (a list of every resource) is not bound.
        for (name, value) in bindings.iter().filter(|(name, _)| self.uses_variable(name)) {
            context.add_variable_from_value(*name, (*value).clone());
        }
        match self.program.execute(&context) {
            Ok(Value::Bool(result)) => Ok(result),
            Ok(other) => Err(CelError::Evaluation(format!("the rule gives {other:?}, not a boolean"))),
            Err(error) => Err(self.classify(error)),
        }
    }

    /// Evaluates a condition: anything but a boolean is an error, as the API server
    /// has it for validation rules.
    pub fn evaluate_bool(&self, bindings: &[(&str, &Json)]) -> Result<bool, CelError> {
        match self.evaluate(bindings)? {
            Json::Bool(result) => Ok(result),
            other => Err(CelError::Evaluation(format!("the rule gives {other}, not a boolean"))),
        }
    }
}

/// JSON data as a CEL value: whole numbers are `int`, other numbers `double`.
pub fn to_cel(json: &Json) -> Value {
    match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => match n.as_u64() {
                Some(u) => Value::UInt(u),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
        },
        Json::String(s) => Value::String(Arc::new(s.clone())),
        Json::Array(items) => Value::List(Arc::new(items.iter().map(to_cel).collect())),
        Json::Object(map) => {
            let entries: HashMap<Key, Value> =
                map.iter().map(|(k, v)| (Key::String(Arc::new(k.clone())), to_cel(v))).collect();
            Value::Map(Map::from(entries))
        }
    }
}

/// A CEL value as JSON data; a URL becomes its text.
fn to_json(value: &Value) -> Result<Json, CelError> {
    Ok(match value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::UInt(u) => Json::from(*u),
        Value::Float(f) => serde_json::Number::from_f64(*f).map(Json::Number).unwrap_or(Json::Null),
        Value::String(s) => Json::String(s.to_string()),
        Value::List(items) => Json::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        Value::Map(map) => {
            let mut object = serde_json::Map::new();
            for (key, value) in map.map.iter() {
                let key = match key {
                    Key::String(s) => s.to_string(),
                    Key::Int(i) => i.to_string(),
                    Key::Uint(u) => u.to_string(),
                    Key::Bool(b) => b.to_string(),
                };
                object.insert(key, to_json(value)?);
            }
            Json::Object(object)
        }
        Value::Opaque(opaque) => match opaque.downcast_ref::<Url>() {
            Some(url) => Json::String(url.text.clone()),
            None => return Err(CelError::Evaluation("the result is not JSON data".to_string())),
        },
        other => return Err(CelError::Evaluation(format!("the result {other:?} is not JSON data"))),
    })
}

fn register_kubernetes_functions(context: &mut Context<'_, '_>) {
    // A name the `cel` crate already declares is refused; none of these is one.
    let _ = context.add_function("isURL", |text: Arc<String>| parse_url(&text).is_ok());
    let _ = context.add_function("url", |text: Arc<String>| -> Result<Value, ExecutionError> {
        parse_url(&text).map(|url| Value::Opaque(Arc::new(url))).map_err(|e| ExecutionError::function_error("url", e))
    });
    let _ = context.add_function("getScheme", |cel::extractors::This(url): cel::extractors::This<Value>| {
        url_part(&url, "getScheme", |u| u.scheme.clone())
    });
    let _ = context.add_function("getHost", |cel::extractors::This(url): cel::extractors::This<Value>| {
        url_part(&url, "getHost", |u| u.host.clone())
    });
    let _ = context.add_function("getHostname", |cel::extractors::This(url): cel::extractors::This<Value>| {
        url_part(&url, "getHostname", |u| hostname(&u.host))
    });
    let _ = context.add_function("getPort", |cel::extractors::This(url): cel::extractors::This<Value>| {
        url_part(&url, "getPort", |u| port(&u.host))
    });
    let _ = context.add_function("getEscapedPath", |cel::extractors::This(url): cel::extractors::This<Value>| {
        url_part(&url, "getEscapedPath", |u| u.path.clone())
    });
    let _ = context.add_function("duration", |text: Arc<String>| -> Result<i64, ExecutionError> {
        parse_go_duration(&text).map_err(|e| ExecutionError::function_error("duration", e))
    });
    let _ = context.add_function("isSorted", |cel::extractors::This(list): cel::extractors::This<Arc<Vec<Value>>>| {
        list.windows(2).all(|pair| pair[0].partial_cmp(&pair[1]).is_some_and(|o| o.is_le()))
    });
    let _ = context.add_function(
        "sum",
        |cel::extractors::This(list): cel::extractors::This<Arc<Vec<Value>>>| -> Result<Value, ExecutionError> {
            let mut total = Value::Int(0);
            for (index, item) in list.iter().enumerate() {
                total = if index == 0 { item.clone() } else { (total + item.clone())? };
            }
            Ok(total)
        },
    );
    for (name, want_less) in [("min", true), ("max", false)] {
        let _ = context.add_function(
            name,
            move |cel::extractors::This(list): cel::extractors::This<Arc<Vec<Value>>>| -> Result<Value, ExecutionError> {
                let mut best: Option<&Value> = None;
                for item in list.iter() {
                    best = match best {
                        None => Some(item),
                        Some(current) => match item.partial_cmp(current) {
                            Some(order) if order.is_lt() == want_less && order.is_ne() => Some(item),
                            Some(_) => Some(current),
                            None => {
                                return Err(ExecutionError::function_error(
                                    if want_less { "min" } else { "max" },
                                    "the list mixes values that do not compare",
                                ));
                            }
                        },
                    };
                }
                best.cloned().ok_or_else(|| {
                    ExecutionError::function_error(if want_less { "min" } else { "max" }, "the list is empty")
                })
            },
        );
    }
}

fn url_part(value: &Value, function: &str, part: impl Fn(&Url) -> String) -> Result<Value, ExecutionError> {
    match value {
        Value::Opaque(opaque) => match opaque.downcast_ref::<Url>() {
            Some(url) => Ok(Value::String(Arc::new(part(url)))),
            None => Err(ExecutionError::function_error(function, "the target is not a URL")),
        },
        _ => Err(ExecutionError::function_error(function, "the target is not a URL")),
    }
}

/// A URL as Kubernetes' `url()` reads it: Go's `url.ParseRequestURI`, an absolute
/// URI or an absolute path.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Url {
    text: String,
    scheme: String,
    /// `host` or `host:port`, empty without an authority.
    host: String,
    path: String,
}

impl Opaque for Url {
    fn runtime_type_name(&self) -> &str {
        "kubernetes.URL"
    }
}

/// Go's `url.ParseRequestURI` in the parts the URL library exposes: a scheme of
/// letters, digits, `+`, `-` and `.` starting with a letter; then an opaque part, an
/// authority and path, or (without a scheme) an absolute path. Control characters, a
/// port that is not a number and characters Go refuses in a host are errors.
fn parse_url(text: &str) -> Result<Url, String> {
    if text.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("the URL holds a control character".to_string());
    }
    let without_fragment = text.split('#').next().unwrap_or("");
    let (scheme, rest) = match scheme_of(without_fragment)? {
        Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
        None => (String::new(), without_fragment),
    };
    let rest = rest.split('?').next().unwrap_or("");
    if !rest.starts_with('/') {
        if !scheme.is_empty() {
            return Ok(Url { text: text.to_string(), scheme, host: String::new(), path: String::new() });
        }
        return Err("invalid URI for request".to_string());
    }
    let (host, path) = match rest.strip_prefix("//") {
        Some(authority_and_path) if !scheme.is_empty() => {
            let end = authority_and_path.find('/').unwrap_or(authority_and_path.len());
            let authority = &authority_and_path[..end];
            let host = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
            check_host(host)?;
            (host.to_string(), authority_and_path[end..].to_string())
        }
        _ => (String::new(), rest.to_string()),
    };
    Ok(Url { text: text.to_string(), scheme, host, path })
}

fn scheme_of(text: &str) -> Result<Option<(&str, &str)>, String> {
    for (index, c) in text.char_indices() {
        match c {
            'a'..='z' | 'A'..='Z' => {}
            '0'..='9' | '+' | '-' | '.' if index > 0 => {}
            ':' if index == 0 => return Err("missing protocol scheme".to_string()),
            ':' => return Ok(Some((&text[..index], &text[index + 1..]))),
            _ => return Ok(None),
        }
    }
    Ok(None)
}

fn check_host(host: &str) -> Result<(), String> {
    let (name, port) = if host.starts_with('[') {
        match host.find(']') {
            Some(end) => (&host[..=end], &host[end + 1..]),
            None => return Err("missing ']' in host".to_string()),
        }
    } else {
        match host.rfind(':') {
            Some(colon) => (&host[..colon], &host[colon..]),
            None => (host, ""),
        }
    };
    let numeric_port = port.strip_prefix(':').is_some_and(|digits| digits.bytes().all(|b| b.is_ascii_digit()));
    if !port.is_empty() && !numeric_port {
        return Err(format!("invalid port {port:?} after host"));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:[]<>\"%".contains(c) || !c.is_ascii();
    match name.chars().find(|c| !allowed(*c)) {
        Some(c) => Err(format!("invalid character {c:?} in host name")),
        None => Ok(()),
    }
}

fn hostname(host: &str) -> String {
    if let Some(inner) = host.strip_prefix('[') {
        return inner.split(']').next().unwrap_or("").to_string();
    }
    host.rsplit_once(':').map(|(name, _)| name).unwrap_or(host).to_string()
}

fn port(host: &str) -> String {
    let after_bracket = host.rsplit(']').next().unwrap_or(host);
    after_bracket.rsplit_once(':').map(|(_, port)| port.to_string()).unwrap_or_default()
}

/// A duration as Go's `time.ParseDuration` reads it (`1h30m`, `1.5s`, `-2ms`, `0`),
/// in nanoseconds.
fn parse_go_duration(text: &str) -> Result<i64, String> {
    let invalid = || format!("invalid duration {text:?}");
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(invalid)?;
        let number: f64 = rest[..number_end].parse().map_err(|_| invalid())?;
        rest = &rest[number_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let nanos_per_unit = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(format!("unknown unit in duration {text:?}")),
        };
        total += number * nanos_per_unit;
        rest = &rest[unit_end..];
    }
    if total > i64::MAX as f64 {
        return Err(invalid());
    }
    Ok(if negative { -(total.round() as i64) } else { total.round() as i64 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(text: &str, value: Json) -> Result<Json, CelError> {
        Expression::compile(text)?.evaluate(&[("self", &value)])
    }

    #[test]
    fn standard_expressions_see_bound_json() {
        assert_eq!(eval("self.a + 1", json!({"a": 2})), Ok(json!(3)));
        assert_eq!(eval("has(self.a) && !has(self.b)", json!({"a": 2})), Ok(json!(true)));
        assert_eq!(eval("self.all(k, k.size() != 0)", json!({"x": "1", "": "2"})), Ok(json!(false)));
        assert_eq!(eval("!self.contains('*')", json!("a*b")), Ok(json!(false)));
        assert_eq!(eval("self.matches('^[a-z]+$')", json!("abc")), Ok(json!(true)));
        assert_eq!(eval("'Ab'.lowerAscii()", json!(null)), Ok(json!("ab")));
        assert_eq!(eval("0 < self && self <= 65535", json!(0)), Ok(json!(false)));
        let expression = Expression::compile("object.spec.x == params.x").unwrap();
        let (object, params) = (json!({"spec": {"x": 1}}), json!({"x": 1}));
        assert_eq!(expression.evaluate_bool(&[("object", &object), ("params", &params)]), Ok(true));
    }

    #[test]
    fn kubernetes_url_functions_follow_go() {
        let rule = "isURL(self) ? (url(self).getScheme() in ['', 'http', 'https', 'oci', 'file']) : \
                    (isURL('http://' + self) && url('http://' + self).getScheme() in ['', 'http', 'https', 'oci', 'file'])";
        for (url, valid) in [
            ("oci://ghcr.io/org/plugin:v1", true),
            ("ghcr.io/org/plugin:v1", true),
            ("file:///opt/filter.wasm", true),
            ("HTTPS://example.com/x.wasm", true),
            ("fake://foo", false),
            ("/absolute/path", true),
        ] {
            assert_eq!(eval(rule, json!(url)), Ok(json!(valid)), "{url}");
        }
        assert_eq!(eval("isURL(self)", json!("ghcr.io/x")), Ok(json!(false)));
        assert_eq!(eval("isURL(self)", json!("http://host:port/")), Ok(json!(false)));
        assert_eq!(eval("url(self).getHostname()", json!("https://a.b:8443/p")), Ok(json!("a.b")));
        assert_eq!(eval("url(self).getPort()", json!("https://a.b:8443/p")), Ok(json!("8443")));
        assert_eq!(eval("url(self).getEscapedPath()", json!("https://a.b:8443/p?q")), Ok(json!("/p")));
    }

    #[test]
    fn durations_and_lists() {
        assert_eq!(eval("duration(self) >= duration('1ms')", json!("1.5s")), Ok(json!(true)));
        assert_eq!(eval("duration(self) >= duration('1ms')", json!("500us")), Ok(json!(false)));
        assert_eq!(eval("duration(self) == duration('90m')", json!("1h30m")), Ok(json!(true)));
        assert!(matches!(eval("duration(self) > duration('1s')", json!("5 seconds")), Err(CelError::Evaluation(_))));
        assert_eq!(eval("self.isSorted()", json!([1, 2, 2, 5])), Ok(json!(true)));
        assert_eq!(eval("self.isSorted()", json!(["b", "a"])), Ok(json!(false)));
        assert_eq!(eval("self.sum()", json!([1, 2, 3])), Ok(json!(6)));
        assert_eq!(eval("self.min() == 1 && self.max() == 3", json!([3, 1, 2])), Ok(json!(true)));
    }

    #[test]
    fn missing_functions_are_unsupported_never_false() {
        assert_eq!(
            Expression::compile("quantity(self) > quantity('1Gi')").unwrap_err(),
            CelError::Unsupported("quantity".into())
        );
        assert!(matches!(eval("frobnicate(self)", json!(1)), Err(CelError::Unsupported(_))));
        assert!(matches!(Expression::compile("self.a +"), Err(CelError::Syntax(_))));
        assert!(matches!(eval("self.missing == 1", json!({})), Err(CelError::Evaluation(_))));
        assert!(matches!(eval("params.x == 1", json!({})), Err(CelError::Evaluation(_))), "an unbound variable");
        assert!(Expression::compile("self == oldSelf").unwrap().uses_variable("oldSelf"));
    }
}
