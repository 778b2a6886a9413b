//! CEL's types as attribute declarations name them, and the rules CEL applies to them:
//! which types unify, compare, order and combine arithmetically.

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum CelType {
    Bool,
    Int,
    Uint,
    Double,
    String,
    Bytes,
    Duration,
    Timestamp,
    Null,
    List(Box<CelType>),
    Map(Box<CelType>, Box<CelType>),
    Dyn,
}

impl CelType {
    /// The type as CEL writes it: `int`, `list(string)`, `map(string, string)`.
    pub(crate) fn display(&self) -> String {
        match self {
            CelType::Bool => "bool".into(),
            CelType::Int => "int".into(),
            CelType::Uint => "uint".into(),
            CelType::Double => "double".into(),
            CelType::String => "string".into(),
            CelType::Bytes => "bytes".into(),
            CelType::Duration => "duration".into(),
            CelType::Timestamp => "timestamp".into(),
            CelType::Null => "null".into(),
            CelType::List(t) => format!("list({})", t.display()),
            CelType::Map(k, v) => format!("map({}, {})", k.display(), v.display()),
            CelType::Dyn => "dyn".into(),
        }
    }

    /// The type with its article, for messages: "an int", "a string", "bytes".
    pub(crate) fn with_article(&self) -> String {
        match self {
            CelType::Int => "an int".into(),
            CelType::Bytes => "bytes".into(),
            CelType::Null => "null".into(),
            CelType::Dyn => "a value of any type".into(),
            other => format!("a {}", other.display()),
        }
    }

    pub(super) fn is_numeric(&self) -> bool {
        matches!(self, CelType::Int | CelType::Uint | CelType::Double)
    }

    pub(super) fn is_dyn(&self) -> bool {
        matches!(self, CelType::Dyn)
    }
}

/// The type of a value that is either `a` or `b`, when CEL gives the two a common type.
pub(super) fn unify(a: &CelType, b: &CelType) -> Option<CelType> {
    match (a, b) {
        _ if a == b => Some(a.clone()),
        (CelType::Dyn, _) | (_, CelType::Dyn) => Some(CelType::Dyn),
        (CelType::Null, other) | (other, CelType::Null) => Some(other.clone()),
        (CelType::List(x), CelType::List(y)) => Some(CelType::List(Box::new(unify(x, y).unwrap_or(CelType::Dyn)))),
        (CelType::Map(k1, v1), CelType::Map(k2, v2)) => Some(CelType::Map(
            Box::new(unify(k1, k2).unwrap_or(CelType::Dyn)),
            Box::new(unify(v1, v2).unwrap_or(CelType::Dyn)),
        )),
        _ => None,
    }
}

/// Whether `==` between the two types can ever be true. CEL compares numbers across
/// int, uint and double, and anything with null or with a value of unknown type.
pub(super) fn equatable(a: &CelType, b: &CelType) -> bool {
    match (a, b) {
        (CelType::Dyn, _) | (_, CelType::Dyn) | (CelType::Null, _) | (_, CelType::Null) => true,
        _ if a.is_numeric() && b.is_numeric() => true,
        (CelType::List(x), CelType::List(y)) => equatable(x, y),
        (CelType::Map(k1, v1), CelType::Map(k2, v2)) => equatable(k1, k2) && equatable(v1, v2),
        _ => a == b,
    }
}

/// Whether `<` is defined between the two types.
pub(super) fn orderable(a: &CelType, b: &CelType) -> bool {
    if a.is_dyn() || b.is_dyn() || (a.is_numeric() && b.is_numeric()) {
        return true;
    }
    a == b && matches!(a, CelType::String | CelType::Bytes | CelType::Duration | CelType::Timestamp | CelType::Bool)
}

/// The result of an arithmetic operator, or None when CEL does not define it for the operands.
pub(super) fn arithmetic(op: &str, left: &CelType, right: &CelType) -> Option<CelType> {
    use CelType::*;
    if left.is_dyn() || right.is_dyn() {
        return Some(Dyn);
    }
    match (op, left, right) {
        (_, Int, Int) | (_, Uint, Uint) => Some(left.clone()),
        ("_%_", Double, Double) => None,
        (_, Double, Double) => Some(Double),
        ("_+_", String, String) => Some(String),
        ("_+_", Bytes, Bytes) => Some(Bytes),
        ("_+_", List(a), List(b)) => Some(List(Box::new(unify(a, b).unwrap_or(Dyn)))),
        ("_+_" | "_-_", Duration, Duration) => Some(Duration),
        ("_+_", Timestamp, Duration) | ("_+_", Duration, Timestamp) | ("_-_", Timestamp, Duration) => Some(Timestamp),
        ("_-_", Timestamp, Timestamp) => Some(Duration),
        _ => None,
    }
}

/// Parses the type syntax of `attribute` declarations: `string`, `int`, `uint`,
/// `double`, `bool`, `bytes`, `duration`, `timestamp`, `dyn`, `{T}` (a map from
/// strings to T) and `[T]` (a list of T).
pub(crate) fn parse_type_name(text: &str) -> Option<CelType> {
    let text = text.trim();
    if let Some(inner) = text.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
        return Some(CelType::Map(Box::new(CelType::String), Box::new(parse_type_name(inner)?)));
    }
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        return Some(CelType::List(Box::new(parse_type_name(inner)?)));
    }
    Some(match text {
        "string" => CelType::String,
        "int" => CelType::Int,
        "uint" => CelType::Uint,
        "double" => CelType::Double,
        "bool" => CelType::Bool,
        "bytes" => CelType::Bytes,
        "duration" => CelType::Duration,
        "timestamp" => CelType::Timestamp,
        "dyn" => CelType::Dyn,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_parse() {
        assert_eq!(parse_type_name("int"), Some(CelType::Int));
        assert_eq!(
            parse_type_name(" {string} "),
            Some(CelType::Map(Box::new(CelType::String), Box::new(CelType::String)))
        );
        assert_eq!(parse_type_name("[{dyn}]").map(|t| t.display()), Some("list(map(string, dyn))".to_string()));
        assert_eq!(parse_type_name("{}"), None);
        assert_eq!(parse_type_name("integer"), None);
        assert_eq!(CelType::Uint.with_article(), "a uint");
    }
}
