//! A node of a CRD's structural schema, and field paths resolved through it.

use serde_json::Value as Json;

/// One node of a structural schema (OpenAPI v3 as Kubernetes restricts it), read in
/// place from the embedded JSON.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schema<'a> {
    json: &'a Json,
}

/// An `x-kubernetes-validations` entry: a CEL rule with `self` bound to the value
/// the schema node describes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rule<'a> {
    pub rule: &'a str,
    pub message: Option<&'a str>,
    pub message_expression: Option<&'a str>,
    /// A path relative to the node (`.spec.name`) where the API server reports it.
    pub field_path: Option<&'a str>,
}

impl<'a> Schema<'a> {
    pub fn new(json: &'a Json) -> Schema<'a> {
        Schema { json }
    }

    /// The JSON of the node, for what the accessors do not cover.
    pub fn json(self) -> &'a Json {
        self.json
    }

    fn str_field(self, key: &str) -> Option<&'a str> {
        self.json.get(key).and_then(Json::as_str)
    }

    fn flag(self, key: &str) -> bool {
        self.json.get(key).and_then(Json::as_bool).unwrap_or(false)
    }

    fn sub(self, key: &str) -> Option<Schema<'a>> {
        self.json.get(key).filter(|j| j.is_object()).map(Schema::new)
    }

    fn number(self, key: &str) -> Option<f64> {
        self.json.get(key).and_then(Json::as_f64)
    }

    /// `type`: object, array, string, integer, number or boolean; none for
    /// `x-kubernetes-int-or-string` and `x-kubernetes-preserve-unknown-fields` alone.
    pub fn type_name(self) -> Option<&'a str> {
        self.str_field("type")
    }

    /// `format`, such as `int32`, `double` or `date-time`.
    pub fn format(self) -> Option<&'a str> {
        self.str_field("format")
    }

    pub fn description(self) -> Option<&'a str> {
        self.str_field("description")
    }

    /// The allowed values of an enum, as written (strings, for the Istio CRDs).
    pub fn enum_values(self) -> Vec<&'a str> {
        self.enum_json().iter().filter_map(Json::as_str).collect()
    }

    pub(crate) fn enum_json(self) -> &'a [Json] {
        self.json.get("enum").and_then(Json::as_array).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn nullable(self) -> bool {
        self.flag("nullable")
    }

    /// `x-kubernetes-int-or-string`: an integer or a string.
    pub fn int_or_string(self) -> bool {
        self.flag("x-kubernetes-int-or-string")
    }

    /// `x-kubernetes-preserve-unknown-fields`: fields the schema does not name are
    /// kept rather than pruned, and not checked.
    pub fn preserves_unknown_fields(self) -> bool {
        self.flag("x-kubernetes-preserve-unknown-fields")
    }

    /// The schema of a named field (`properties`).
    pub fn property(self, name: &str) -> Option<Schema<'a>> {
        self.json.get("properties")?.get(name).map(Schema::new)
    }

    /// The names of the fields in `properties`, in the schema's order.
    pub fn property_names(self) -> Vec<&'a str> {
        match self.json.get("properties") {
            Some(Json::Object(map)) => map.keys().map(String::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// The schema of the values of a map (`additionalProperties` as a schema).
    pub fn additional_properties(self) -> Option<Schema<'a>> {
        self.sub("additionalProperties")
    }

    /// The schema of a list's items.
    pub fn items(self) -> Option<Schema<'a>> {
        self.sub("items")
    }

    /// The fields that must be present.
    pub fn required(self) -> Vec<&'a str> {
        self.json
            .get("required")
            .and_then(Json::as_array)
            .map(|r| r.iter().filter_map(Json::as_str).collect())
            .unwrap_or_default()
    }

    pub fn minimum(self) -> Option<f64> {
        self.number("minimum")
    }

    pub fn maximum(self) -> Option<f64> {
        self.number("maximum")
    }

    pub fn min_length(self) -> Option<f64> {
        self.number("minLength")
    }

    pub fn max_length(self) -> Option<f64> {
        self.number("maxLength")
    }

    pub fn min_items(self) -> Option<f64> {
        self.number("minItems")
    }

    pub fn max_items(self) -> Option<f64> {
        self.number("maxItems")
    }

    pub fn min_properties(self) -> Option<f64> {
        self.number("minProperties")
    }

    pub fn max_properties(self) -> Option<f64> {
        self.number("maxProperties")
    }

    pub fn pattern(self) -> Option<&'a str> {
        self.str_field("pattern")
    }

    /// `x-kubernetes-list-type` (`atomic`, `set` or `map`).
    pub fn list_type(self) -> Option<&'a str> {
        self.str_field("x-kubernetes-list-type")
    }

    /// `x-kubernetes-list-map-keys`: the fields that identify an item of a map list.
    pub fn list_map_keys(self) -> Vec<&'a str> {
        self.json
            .get("x-kubernetes-list-map-keys")
            .and_then(Json::as_array)
            .map(|keys| keys.iter().filter_map(Json::as_str).collect())
            .unwrap_or_default()
    }

    /// The subschemas of `oneOf`, `anyOf` or `allOf`.
    pub fn combinator(self, key: &str) -> Vec<Schema<'a>> {
        self.json.get(key).and_then(Json::as_array).map(|all| all.iter().map(Schema::new).collect()).unwrap_or_default()
    }

    /// The subschema of `not`.
    pub fn negated(self) -> Option<Schema<'a>> {
        self.sub("not")
    }

    /// The CEL rules of `x-kubernetes-validations`.
    pub fn validations(self) -> Vec<Rule<'a>> {
        let Some(Json::Array(rules)) = self.json.get("x-kubernetes-validations") else { return Vec::new() };
        rules
            .iter()
            .filter_map(|rule| {
                Some(Rule {
                    rule: rule.get("rule")?.as_str()?,
                    message: rule.get("message").and_then(Json::as_str),
                    message_expression: rule.get("messageExpression").and_then(Json::as_str),
                    field_path: rule.get("fieldPath").and_then(Json::as_str),
                })
            })
            .collect()
    }

    /// Whether the node describes an object with named fields or a map.
    pub fn is_object(self) -> bool {
        self.type_name() == Some("object")
    }

    /// Follows `segments` down from this node; `top_names` are the field names to
    /// offer when the first segment is unknown.
    pub(crate) fn resolve(self, segments: &[PathSegment], top_names: &[String]) -> Result<Schema<'a>, LookupError> {
        let mut node = self;
        for (index, segment) in segments.iter().enumerate() {
            // Below a node that keeps unknown fields, any path is that node's.
            if node.preserves_unknown_fields()
                && node.property_names().is_empty()
                && node.additional_properties().is_none()
            {
                return Ok(node);
            }
            let fail = |name: &str, message: String, siblings: Vec<String>| {
                let suggestion =
                    crate::diagnostic::did_you_mean(name, siblings.iter().map(String::as_str)).map(str::to_string);
                LookupError { segment: index, name: name.to_string(), message, siblings, suggestion }
            };
            node = match segment {
                PathSegment::Item => match node.items() {
                    Some(items) => items,
                    None => {
                        return Err(fail("[]", format!("`{}` is not a list", join(&segments[..index])), Vec::new()));
                    }
                },
                PathSegment::Field(name) => {
                    if let Some(field) = node.property(name) {
                        field
                    } else if let Some(values) = node.additional_properties() {
                        values
                    } else if node.type_name() == Some("array") {
                        return Err(fail(
                            name,
                            format!("`{}` is a list: index it first", join(&segments[..index])),
                            Vec::new(),
                        ));
                    } else {
                        let siblings: Vec<String> = if index == 0 {
                            top_names.to_vec()
                        } else {
                            node.property_names().into_iter().map(str::to_string).collect()
                        };
                        let place = if index == 0 {
                            "a document".to_string()
                        } else {
                            format!("`{}`", join(&segments[..index]))
                        };
                        return Err(fail(name, format!("`{name}` is not a field of {place}"), siblings));
                    }
                }
            };
        }
        Ok(node)
    }
}

/// Why a path does not resolve: the segment where it leaves the schema, the fields
/// that stand there, and the nearest of them.
#[derive(Clone, Debug, PartialEq)]
pub struct LookupError {
    /// The index of the segment that does not resolve.
    pub segment: usize,
    pub name: String,
    pub message: String,
    pub siblings: Vec<String>,
    pub suggestion: Option<String>,
}

/// One step of a field path: a field (or a map key), or an item of a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathSegment {
    Field(String),
    /// `[0]`, `[*]` or `[]`: any item, since all items of a list share a schema.
    Item,
}

/// Splits `spec.tracing[0].customTags['my.tag'].literal` into segments.
pub fn parse_path(text: &str) -> Result<Vec<PathSegment>, String> {
    let mut segments = Vec::new();
    let mut rest = text.trim();
    rest = rest.strip_prefix('.').unwrap_or(rest);
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']').ok_or_else(|| format!("`[` without `]` in `{text}`"))?;
            let inside = after[..end].trim();
            let quoted = inside
                .strip_prefix('\'')
                .and_then(|s| s.strip_suffix('\''))
                .or_else(|| inside.strip_prefix('"').and_then(|s| s.strip_suffix('"')));
            match quoted {
                Some(key) => segments.push(PathSegment::Field(key.to_string())),
                None if inside.is_empty() || inside == "*" || inside.bytes().all(|b| b.is_ascii_digit()) => {
                    segments.push(PathSegment::Item)
                }
                None => return Err(format!("`[{inside}]` is neither an index nor a quoted key")),
            }
            rest = &after[end + 1..];
            rest = rest.strip_prefix('.').unwrap_or(rest);
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            if end == 0 {
                return Err(format!("an empty field name in `{text}`"));
            }
            segments.push(PathSegment::Field(rest[..end].to_string()));
            rest = &rest[end..];
            rest = rest.strip_prefix('.').unwrap_or(rest);
        }
    }
    Ok(segments)
}

fn join(segments: &[PathSegment]) -> String {
    let mut out = String::new();
    for segment in segments {
        match segment {
            PathSegment::Field(name) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(name);
            }
            PathSegment::Item => out.push_str("[*]"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_into_fields_items_and_keys() {
        use PathSegment::{Field, Item};
        let f = |s: &str| Field(s.to_string());
        assert_eq!(
            parse_path("spec.tracing[0].randomSamplingPercentage"),
            Ok(vec![f("spec"), f("tracing"), Item, f("randomSamplingPercentage")])
        );
        assert_eq!(parse_path("spec.customTags['my.tag'][*]"), Ok(vec![f("spec"), f("customTags"), f("my.tag"), Item]));
        assert_eq!(parse_path(".spec"), Ok(vec![f("spec")]));
        assert!(parse_path("spec..x").is_err());
        assert!(parse_path("spec[x]").is_err());
    }
}
