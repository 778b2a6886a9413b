//! The type checker: CEL's standard functions and macros, and the rules that give
//! every node of a parsed expression its type against the attribute vocabulary.

use super::syntax::{Nodes, ParsedExpr, Source, path_of};
use super::types::{CelType, arithmetic, equatable, orderable, unify};
use super::vocabulary::Vocabulary;
use crate::diagnostic::{Diagnostic, codes, did_you_mean};
use crate::span::Span;
use cel::common::ast::{CallExpr, ComprehensionExpr, EntryExpr, Expr, IdedExpr, LiteralValue};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ExprContext {
    /// `access_log ... when EXPR`: must be a boolean.
    AccessLogFilter,
    /// `tag NAME = EXPR` in a metrics override: any value, turned into the label.
    MetricTagValue,
}

/// Parses and checks an expression; returns its type (None when it could not be
/// determined) and every diagnostic, with spans into the user's file.
///
/// `span` is where `text` stands in the user's file; the two must have the same length.
/// The checker goes through [`super::ExpressionCache`]; the tests call this directly.
#[cfg(test)]
pub(crate) fn check_expression(
    text: &str,
    span: Span,
    vocabulary: &Vocabulary,
    context: ExprContext,
) -> (Option<CelType>, Vec<Diagnostic>) {
    let source = Source::new(text, span);
    match source.parse() {
        Ok(parsed) => check_parsed(&source, &parsed, vocabulary, context),
        Err(diagnostic) => (None, vec![diagnostic]),
    }
}

/// Checks an expression already parsed from the text of `source`.
pub(super) fn check_parsed(
    source: &Source,
    parsed: &ParsedExpr,
    vocabulary: &Vocabulary,
    context: ExprContext,
) -> (Option<CelType>, Vec<Diagnostic>) {
    let mut checker = Checker {
        nodes: Nodes::new(source, parsed),
        vocabulary,
        diagnostics: Vec::new(),
        variables: Vec::new(),
        depth: 0,
    };
    let ty = checker.check(&parsed.expr);
    let mut diagnostics = checker.diagnostics;
    if context == ExprContext::AccessLogFilter
        && let Some(ty) = &ty
        && !matches!(ty, CelType::Bool | CelType::Dyn)
    {
        diagnostics.push(
            Diagnostic::new(
                codes::CEL_WRONG_RESULT_TYPE,
                source.whole(),
                format!("an access-log filter must be a condition, but this is {}", ty.with_article()),
            )
            .with_label_message(format!("{}, not a bool", ty.with_article()))
            .with_help("compare it, for example `response.code >= 400`"),
        );
    }
    (ty, diagnostics)
}

/// Deeper than this, the checker stops descending; CEL implementations themselves
/// refuse expressions nested much deeper (cel-go and cel-cpp stop at 250).
const MAX_DEPTH: usize = 200;

/// The kind of a value, as the signatures of the standard functions name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Bool,
    Int,
    Uint,
    Double,
    String,
    Bytes,
    Duration,
    Timestamp,
    Null,
    List,
    Map,
}

impl Kind {
    /// None for `dyn`, which fits every kind.
    fn of(ty: &CelType) -> Option<Kind> {
        Some(match ty {
            CelType::Bool => Kind::Bool,
            CelType::Int => Kind::Int,
            CelType::Uint => Kind::Uint,
            CelType::Double => Kind::Double,
            CelType::String => Kind::String,
            CelType::Bytes => Kind::Bytes,
            CelType::Duration => Kind::Duration,
            CelType::Timestamp => Kind::Timestamp,
            CelType::Null => Kind::Null,
            CelType::List(_) => Kind::List,
            CelType::Map(..) => Kind::Map,
            CelType::Dyn => return None,
        })
    }

    fn with_article(self) -> &'static str {
        match self {
            Kind::Bool => "a bool",
            Kind::Int => "an int",
            Kind::Uint => "a uint",
            Kind::Double => "a double",
            Kind::String => "a string",
            Kind::Bytes => "bytes",
            Kind::Duration => "a duration",
            Kind::Timestamp => "a timestamp",
            Kind::Null => "null",
            Kind::List => "a list",
            Kind::Map => "a map",
        }
    }
}

/// "a string", "a string or bytes", "an int, a uint or a double".
fn describe_kinds(kinds: &[Kind]) -> String {
    let words: Vec<&str> = kinds.iter().map(|k| k.with_article()).collect();
    match words.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// One way of calling a standard function: on a receiver (`s.startsWith(p)`) or not (`size(s)`).
struct Form {
    receiver: Option<&'static [Kind]>,
    params: &'static [&'static [Kind]],
    result: CelType,
}

const fn global(params: &'static [&'static [Kind]], result: CelType) -> Form {
    Form { receiver: None, params, result }
}

const fn method(receiver: &'static [Kind], params: &'static [&'static [Kind]], result: CelType) -> Form {
    Form { receiver: Some(receiver), params, result }
}

const SIZED: &[Kind] = &[Kind::String, Kind::Bytes, Kind::List, Kind::Map];
const TEXT: &[Kind] = &[Kind::String];
const TIME: &[Kind] = &[Kind::Timestamp];
const ANY: &[Kind] = &[
    Kind::Bool,
    Kind::Int,
    Kind::Uint,
    Kind::Double,
    Kind::String,
    Kind::Bytes,
    Kind::Duration,
    Kind::Timestamp,
    Kind::Null,
    Kind::List,
    Kind::Map,
];

const SIZE: &[Form] = &[global(&[SIZED], CelType::Int), method(SIZED, &[], CelType::Int)];
const STRING_TEST: &[Form] = &[method(TEXT, &[TEXT], CelType::Bool)];
const MATCHES: &[Form] = &[global(&[TEXT, TEXT], CelType::Bool), method(TEXT, &[TEXT], CelType::Bool)];
const TO_INT: &[Form] =
    &[global(&[&[Kind::Int, Kind::Uint, Kind::Double, Kind::String, Kind::Timestamp]], CelType::Int)];
const TO_UINT: &[Form] = &[global(&[&[Kind::Int, Kind::Uint, Kind::Double, Kind::String]], CelType::Uint)];
const TO_DOUBLE: &[Form] = &[global(&[&[Kind::Int, Kind::Uint, Kind::Double, Kind::String]], CelType::Double)];
const TO_STRING: &[Form] = &[global(
    &[&[Kind::Int, Kind::Uint, Kind::Double, Kind::String, Kind::Bytes, Kind::Bool, Kind::Duration, Kind::Timestamp]],
    CelType::String,
)];
const TO_BYTES: &[Form] = &[global(&[&[Kind::String, Kind::Bytes]], CelType::Bytes)];
const TO_BOOL: &[Form] = &[global(&[&[Kind::Bool, Kind::String]], CelType::Bool)];
const TO_DURATION: &[Form] = &[global(&[&[Kind::String, Kind::Duration]], CelType::Duration)];
const TO_TIMESTAMP: &[Form] = &[global(&[&[Kind::String, Kind::Timestamp, Kind::Int]], CelType::Timestamp)];
const TO_DYN: &[Form] = &[global(&[ANY], CelType::Dyn)];
const DATE_PART: &[Form] = &[method(TIME, &[], CelType::Int), method(TIME, &[TEXT], CelType::Int)];
const TIME_PART: &[Form] = &[
    method(TIME, &[], CelType::Int),
    method(TIME, &[TEXT], CelType::Int),
    method(&[Kind::Duration], &[], CelType::Int),
];

/// CEL's standard functions, as Envoy's CEL runtime provides them.
fn function_forms(name: &str) -> Option<&'static [Form]> {
    Some(match name {
        "size" => SIZE,
        "contains" | "startsWith" | "endsWith" => STRING_TEST,
        "matches" => MATCHES,
        "int" => TO_INT,
        "uint" => TO_UINT,
        "double" => TO_DOUBLE,
        "string" => TO_STRING,
        "bytes" => TO_BYTES,
        "bool" => TO_BOOL,
        "duration" => TO_DURATION,
        "timestamp" => TO_TIMESTAMP,
        "dyn" | "type" => TO_DYN,
        "getFullYear" | "getMonth" | "getDayOfYear" | "getDayOfMonth" | "getDate" | "getDayOfWeek" => DATE_PART,
        "getHours" | "getMinutes" | "getSeconds" | "getMilliseconds" => TIME_PART,
        _ => return None,
    })
}

const FUNCTION_NAMES: &[&str] = &[
    "size",
    "contains",
    "startsWith",
    "endsWith",
    "matches",
    "int",
    "uint",
    "double",
    "string",
    "bytes",
    "bool",
    "duration",
    "timestamp",
    "dyn",
    "type",
    "getFullYear",
    "getMonth",
    "getDayOfYear",
    "getDayOfMonth",
    "getDate",
    "getDayOfWeek",
    "getHours",
    "getMinutes",
    "getSeconds",
    "getMilliseconds",
];

/// The macros the parser expands; a call by one of these names has the wrong shape.
const MACRO_NAMES: &[&str] = &["has", "all", "exists", "exists_one", "existsOne", "map", "filter"];

/// Names of types, which CEL lets an expression mention as values (`type(x) == string`).
const TYPE_NAMES: &[&str] = &["bool", "int", "uint", "double", "string", "bytes", "list", "map", "null_type", "type"];

/// How a comprehension macro uses the user's sub-expressions.
enum MacroShape<'e> {
    /// `all`, `exists`, `exists_one`: a condition per element.
    Condition(&'e IdedExpr),
    /// `map` and `filter`: an optional condition and a value per kept element.
    Collect {
        filter: Option<&'e IdedExpr>,
        transform: &'e IdedExpr,
    },
    Other,
}

/// The one element appended by a macro's step `@result + [element]`.
fn appended(expr: &IdedExpr) -> Option<&IdedExpr> {
    let Expr::Call(add) = &expr.expr else { return None };
    let [_, list] = add.args.as_slice() else { return None };
    match &list.expr {
        Expr::List(list) if add.func_name == "_+_" && list.elements.len() == 1 => list.elements.first(),
        _ => None,
    }
}

fn macro_shape(comprehension: &ComprehensionExpr) -> MacroShape<'_> {
    let Expr::Call(step) = &comprehension.loop_step.expr else { return MacroShape::Other };
    match (&comprehension.accu_init.expr, step.func_name.as_str(), step.args.as_slice()) {
        (Expr::Literal(LiteralValue::Boolean(_)), "_&&_" | "_||_", [_, condition]) => MacroShape::Condition(condition),
        (Expr::Literal(LiteralValue::Int(_)), "_?_:_", [condition, _, _]) => MacroShape::Condition(condition),
        (Expr::List(_), "_+_", _) => match appended(&comprehension.loop_step) {
            Some(transform) => MacroShape::Collect { filter: None, transform },
            None => MacroShape::Other,
        },
        (Expr::List(_), "_?_:_", [filter, add, _]) => match appended(add) {
            Some(transform) => MacroShape::Collect { filter: Some(filter), transform },
            None => MacroShape::Other,
        },
        _ => MacroShape::Other,
    }
}

fn is_literal(expr: &IdedExpr) -> bool {
    matches!(expr.expr, Expr::Literal(_) | Expr::List(_) | Expr::Map(_))
}

fn operator_text(name: &str) -> &str {
    match name {
        "@in" => "in",
        "_[_]" | "_[?_]" => "[]",
        other => other.trim_matches('_').trim_start_matches('@'),
    }
}

/// Where a prefix of an attribute path ends: at a node, or (for the field that
/// `has()` tests) at a known range.
enum At<'e> {
    Node(&'e IdedExpr),
    Span(Span),
}

struct Checker<'a> {
    nodes: Nodes<'a>,
    vocabulary: &'a Vocabulary,
    diagnostics: Vec<Diagnostic>,
    /// Variables bound by comprehension macros (`exists(h, ...)`), innermost last.
    variables: Vec<(String, CelType)>,
    depth: usize,
}

impl Checker<'_> {
    fn span(&self, expr: &IdedExpr) -> Span {
        self.nodes.span(expr)
    }

    fn mismatch(&mut self, span: Span, message: String, label: String) -> &mut Diagnostic {
        self.diagnostics.push(Diagnostic::new(codes::CEL_TYPE_MISMATCH, span, message).with_label_message(label));
        self.diagnostics.last_mut().expect("just pushed")
    }

    fn variable(&self, name: &str) -> Option<CelType> {
        self.variables.iter().rev().find(|(n, _)| n == name).map(|(_, ty)| ty.clone())
    }

    fn check(&mut self, expr: &IdedExpr) -> Option<CelType> {
        if self.depth >= MAX_DEPTH {
            if !self.diagnostics.iter().any(|d| d.code == codes::CEL_SYNTAX) {
                self.diagnostics.push(
                    Diagnostic::new(
                        codes::CEL_SYNTAX,
                        self.nodes.source.whole(),
                        format!("this expression nests more than {MAX_DEPTH} levels deep"),
                    )
                    .with_help("split it into simpler expressions"),
                );
            }
            return None;
        }
        self.depth += 1;
        let ty = self.check_node(expr);
        self.depth -= 1;
        ty
    }

    fn check_node(&mut self, expr: &IdedExpr) -> Option<CelType> {
        match &expr.expr {
            Expr::Literal(literal) => Some(match literal {
                LiteralValue::Boolean(_) => CelType::Bool,
                LiteralValue::Bytes(_) => CelType::Bytes,
                LiteralValue::Double(_) => CelType::Double,
                LiteralValue::Int(_) => CelType::Int,
                LiteralValue::Null => CelType::Null,
                LiteralValue::String(_) => CelType::String,
                LiteralValue::UInt(_) => CelType::Uint,
            }),
            Expr::Select(select) if select.test => self.check_presence(expr),
            Expr::Ident(_) | Expr::Select(_) => match path_of(expr) {
                Some(chain) => self.check_path(&chain),
                None => {
                    // A field of a computed value, such as `request.headers["x"].y`.
                    let Expr::Select(select) = &expr.expr else { return None };
                    let operand = self.check(&select.operand)?;
                    self.field_of(operand, &select.operand, expr, &select.field)
                }
            },
            Expr::List(list) => {
                let mut element: Option<CelType> = None;
                for item in &list.elements {
                    if let Some(ty) = self.check(item) {
                        element = Some(match element {
                            Some(previous) => unify(&previous, &ty).unwrap_or(CelType::Dyn),
                            None => ty,
                        });
                    }
                }
                Some(CelType::List(Box::new(element.unwrap_or(CelType::Dyn))))
            }
            Expr::Map(map) => {
                let (mut keys, mut values): (Option<CelType>, Option<CelType>) = (None, None);
                for entry in &map.entries {
                    if let EntryExpr::MapEntry(entry) = &entry.expr {
                        for (slot, ty) in [(&mut keys, self.check(&entry.key)), (&mut values, self.check(&entry.value))]
                        {
                            if let Some(ty) = ty {
                                *slot = Some(match slot.take() {
                                    Some(previous) => unify(&previous, &ty).unwrap_or(CelType::Dyn),
                                    None => ty,
                                });
                            }
                        }
                    }
                }
                Some(CelType::Map(Box::new(keys.unwrap_or(CelType::Dyn)), Box::new(values.unwrap_or(CelType::Dyn))))
            }
            Expr::Struct(_) => {
                let span = self.span(expr);
                self.mismatch(span, "Istio's expressions cannot create messages".into(), "message construction".into());
                None
            }
            Expr::Call(call) => self.check_call(expr, call),
            Expr::Comprehension(comprehension) => self.check_comprehension(expr, comprehension),
            Expr::Unspecified => None,
        }
    }

    /// The longest prefix of `names` that is an attribute: its length and type.
    fn longest_attribute(&self, names: &[&str]) -> Option<(usize, CelType)> {
        let mut path = String::new();
        let mut found = None;
        for (index, name) in names.iter().enumerate() {
            if index > 0 {
                path.push('.');
            }
            path.push_str(name);
            if let Some(attribute) = self.vocabulary.get(&path) {
                found = Some((index + 1, attribute.ty.clone()));
            } else if !self.vocabulary.is_group(&path) {
                break;
            }
        }
        found
    }

    /// `request.headers.x`: a variable or the longest attribute that prefixes the
    /// path, then fields of its value.
    fn check_path(&mut self, chain: &[(&str, &IdedExpr)]) -> Option<CelType> {
        let names: Vec<&str> = chain.iter().map(|(name, _)| *name).collect();
        let (length, ty) = match self.variable(names[0]) {
            // A macro's variable shadows an attribute group of the same name.
            Some(ty) => (1, ty),
            None => match self.longest_attribute(&names) {
                Some(found) => found,
                None if names.len() == 1 && TYPE_NAMES.contains(&names[0]) => return Some(CelType::Dyn),
                None => {
                    let at: Vec<(&str, At)> = chain.iter().map(|(name, node)| (*name, At::Node(node))).collect();
                    self.unknown_attribute(&at, false);
                    return None;
                }
            },
        };
        let mut ty = ty;
        for index in length..chain.len() {
            ty = self.field_of(ty, chain[index - 1].1, chain[index].1, chain[index].0)?;
        }
        Some(ty)
    }

    /// `operand.field` where the operand's type is `ty`.
    fn field_of(&mut self, ty: CelType, operand: &IdedExpr, select: &IdedExpr, field: &str) -> Option<CelType> {
        match ty {
            CelType::Map(key, value) if matches!(*key, CelType::String | CelType::Dyn) => Some(*value),
            CelType::Dyn => Some(CelType::Dyn),
            other => {
                let span = match self.nodes.field(select) {
                    Some((start, end)) => self.nodes.source.at(start, end),
                    None => self.span(select),
                };
                let operand_span = self.span(operand);
                self.mismatch(
                    span,
                    format!(
                        "`{field}` cannot be read from {}: only maps and messages have fields",
                        other.with_article()
                    ),
                    "no such field".into(),
                )
                .labels
                .push(crate::diagnostic::Label {
                    span: operand_span,
                    message: format!("this is {}", other.with_article()),
                    primary: false,
                });
                None
            }
        }
    }

    fn prefix_span(&self, at: &At) -> Span {
        match at {
            At::Node(node) => self.span(node),
            At::Span(span) => *span,
        }
    }

    /// Reports a path that names no attribute, with the nearest one it could have meant.
    fn unknown_attribute(&mut self, chain: &[(&str, At)], presence: bool) {
        let names: Vec<&str> = chain.iter().map(|(name, _)| *name).collect();
        let joined = |length: usize| names[..length].join(".");
        // The shortest prefix that is not a group of attributes is where the path goes wrong.
        let Some(wrong) = (1..=names.len()).find(|&length| !self.vocabulary.is_group(&joined(length))) else {
            if presence {
                return;
            }
            let path = joined(names.len());
            let members = self.vocabulary.members(&path);
            let span = self.prefix_span(&chain[names.len() - 1].1);
            let mut diagnostic = Diagnostic::new(
                codes::UNKNOWN_ATTRIBUTE,
                span,
                format!("`{path}` is a group of attributes, not an attribute"),
            )
            .with_label_message("a group of attributes")
            .with_note(format!("`{path}` has: {}", members.join(", ")));
            if let Some(first) = members.first() {
                diagnostic = diagnostic.with_help(format!("name one of its attributes, such as `{path}.{first}`"));
            }
            self.diagnostics.push(diagnostic);
            return;
        };
        let mut candidates: Vec<&str> = self.vocabulary.attributes().map(|a| a.path.as_str()).collect();
        candidates.extend(self.vocabulary.groups.iter().map(String::as_str));
        if wrong == 1 {
            candidates.extend(self.variables.iter().map(|(name, _)| name.as_str()));
        }
        let fix = self.fix_for(&names, wrong, &candidates);
        let length = fix.as_ref().map_or(wrong, |(length, _)| *length);
        let written = joined(length);
        let span = self.prefix_span(&chain[length - 1].1);
        let diagnostic =
            Diagnostic::new(codes::UNKNOWN_ATTRIBUTE, span, format!("`{written}` is not an attribute Envoy provides"))
                .with_label_message("unknown attribute");
        let diagnostic = match fix {
            Some((_, replacement)) => diagnostic.with_did_you_mean(span, &replacement),
            None if wrong > 1 => {
                let group = joined(wrong - 1);
                let members = self.vocabulary.members(&group);
                diagnostic.with_note(format!("`{group}` has: {}", members.join(", ")))
            }
            None => diagnostic.with_note("the attributes are declared in the std.attributes module"),
        };
        self.diagnostics.push(diagnostic);
    }

    /// The did-you-mean for a path that goes wrong at its `wrong`-th name: how many of
    /// the user's names to replace, and with what. `respose.code` becomes
    /// `response.code` as a whole, since the nearest name (`response`) is a group that
    /// only together with `code` makes an attribute.
    fn fix_for(&self, names: &[&str], wrong: usize, candidates: &[&str]) -> Option<(usize, String)> {
        let joined = |length: usize| names[..length].join(".");
        let nearest = did_you_mean(&joined(wrong), candidates.iter().copied()).map(str::to_string);
        if let Some(nearest) = &nearest {
            let replaced: Vec<&str> = nearest.split('.').collect();
            let mut fixed = replaced.clone();
            fixed.extend_from_slice(&names[wrong..]);
            let reaches = self.longest_attribute(&fixed).map_or(0, |(length, _)| length);
            if reaches > replaced.len() {
                return Some((wrong + reaches - replaced.len(), fixed[..reaches].join(".")));
            }
            if reaches == replaced.len() || self.variable(nearest).is_some() {
                return Some((wrong, nearest.clone()));
            }
        }
        // The nearest name alone leads nowhere; perhaps a longer stretch of the path is a misspelled attribute.
        let attributes: Vec<&str> = self.vocabulary.attributes().map(|a| a.path.as_str()).collect();
        for length in wrong + 1..=names.len() {
            if let Some(attribute) = did_you_mean(&joined(length), attributes.iter().copied()) {
                return Some((length, attribute.to_string()));
            }
        }
        nearest.map(|nearest| (wrong, nearest))
    }

    /// `has(a.b)`: whether the field `b` is present; `a` must be something with fields.
    fn check_presence(&mut self, expr: &IdedExpr) -> Option<CelType> {
        let Expr::Select(select) = &expr.expr else { return None };
        let field_span = match self.nodes.field(expr) {
            Some((start, end)) => self.nodes.source.at(start, end),
            None => self.span(expr),
        };
        let operand_ty = match path_of(&select.operand) {
            Some(chain) if self.variable(chain[0].0).is_none() => {
                let mut names: Vec<&str> = chain.iter().map(|(name, _)| *name).collect();
                names.push(&select.field);
                match self.longest_attribute(&names) {
                    // `has(request.host)`: whether Envoy knows the attribute for this request.
                    Some((length, _)) if length == names.len() => return Some(CelType::Bool),
                    Some(_) => self.check_path(&chain),
                    None if self.vocabulary.is_group(&names.join(".")) => return Some(CelType::Bool),
                    None => {
                        let mut at: Vec<(&str, At)> =
                            chain.iter().map(|(name, node)| (*name, At::Node(node))).collect();
                        // The whole path `a.b` inside `has(...)`, which has no node of its own.
                        let path_span = self.span(&select.operand).cover(field_span);
                        at.push((&select.field, At::Span(path_span)));
                        self.unknown_attribute(&at, true);
                        return Some(CelType::Bool);
                    }
                }
            }
            _ => self.check(&select.operand),
        };
        if let Some(ty) = operand_ty
            && !matches!(ty, CelType::Map(..) | CelType::Dyn)
        {
            let span = self.span(&select.operand);
            self.mismatch(
                span,
                format!("`has()` tests a field of a map or a message, but this is {}", ty.with_article()),
                format!("this is {}", ty.with_article()),
            );
        }
        Some(CelType::Bool)
    }

    /// A literal the user probably meant as another type: `"400"` for `400`,
    /// `1` for `"1"`, `"1s"` for `duration("1s")`.
    fn literal_fix(&self, literal: &IdedExpr, wanted: &CelType) -> Option<String> {
        let Expr::Literal(value) = &literal.expr else { return None };
        let text = self.nodes.text(literal);
        match (value, wanted) {
            (LiteralValue::String(s), CelType::Int) => s.inner().trim().parse::<i64>().ok().map(|n| n.to_string()),
            (LiteralValue::String(s), CelType::Uint) => s.inner().trim().parse::<u64>().ok().map(|n| format!("{n}u")),
            (LiteralValue::String(s), CelType::Double) => {
                let inner = s.inner().trim();
                inner
                    .parse::<f64>()
                    .ok()
                    .map(|_| if inner.contains(['.', 'e', 'E']) { inner.to_string() } else { format!("{inner}.0") })
            }
            (LiteralValue::String(s), CelType::Bool) => {
                matches!(s.inner().trim(), "true" | "false").then(|| s.inner().trim().to_string())
            }
            (LiteralValue::String(_), CelType::Duration) => Some(format!("duration({text})")),
            (LiteralValue::String(_), CelType::Timestamp) => Some(format!("timestamp({text})")),
            (LiteralValue::Int(_), CelType::Uint) => Some(format!("{text}u")),
            (LiteralValue::Int(_), CelType::Double) => Some(format!("{text}.0")),
            (
                LiteralValue::Int(_) | LiteralValue::UInt(_) | LiteralValue::Double(_) | LiteralValue::Boolean(_),
                CelType::String,
            ) => Some(format!("\"{text}\"")),
            _ => None,
        }
    }

    fn check_call(&mut self, expr: &IdedExpr, call: &CallExpr) -> Option<CelType> {
        let target = call.target.as_deref().map(|t| (t, self.check(t)));
        let args: Vec<(&IdedExpr, Option<CelType>)> = call.args.iter().map(|a| (a, self.check(a))).collect();
        let name = call.func_name.as_str();
        match name {
            "_&&_" | "_||_" => {
                for (arg, ty) in &args {
                    if let Some(ty) = ty
                        && !matches!(ty, CelType::Bool | CelType::Dyn)
                    {
                        let span = self.span(arg);
                        self.mismatch(
                            span,
                            format!("`{}` needs bool operands, but this is {}", operator_text(name), ty.with_article()),
                            format!("this is {}", ty.with_article()),
                        );
                    }
                }
                Some(CelType::Bool)
            }
            "!_" => {
                if let [(arg, Some(ty))] = args.as_slice()
                    && !matches!(ty, CelType::Bool | CelType::Dyn)
                {
                    let span = self.span(arg);
                    self.mismatch(
                        span,
                        format!("`!` needs a bool, but this is {}", ty.with_article()),
                        format!("this is {}", ty.with_article()),
                    );
                }
                Some(CelType::Bool)
            }
            "-_" => {
                let [(arg, Some(ty))] = args.as_slice() else { return None };
                if !matches!(ty, CelType::Int | CelType::Double | CelType::Dyn) {
                    let span = self.span(arg);
                    self.mismatch(
                        span,
                        format!("{} cannot be negated", ty.with_article()),
                        format!("this is {}", ty.with_article()),
                    );
                    return None;
                }
                Some(ty.clone())
            }
            "_==_" | "_!=_" | "_<_" | "_<=_" | "_>_" | "_>=_" => {
                self.compare(name, &args);
                Some(CelType::Bool)
            }
            "_+_" | "_-_" | "_*_" | "_/_" | "_%_" => self.arithmetic(expr, name, &args),
            "_[_]" | "_[?_]" => self.index(&args),
            "_?_:_" => self.conditional(&args),
            "@in" => {
                self.membership(&args);
                Some(CelType::Bool)
            }
            "@not_strictly_false" => Some(CelType::Bool),
            _ => self.check_function(expr, name, target, &args),
        }
    }

    fn compare(&mut self, name: &str, args: &[(&IdedExpr, Option<CelType>)]) {
        let [(left, Some(left_ty)), (right, Some(right_ty))] = args else { return };
        let ordering = !matches!(name, "_==_" | "_!=_");
        if if ordering { orderable(left_ty, right_ty) } else { equatable(left_ty, right_ty) } {
            return;
        }
        // The literal side is usually the mistake: `response.code >= "400"`.
        let ((primary, primary_ty), (other, other_ty)) = if is_literal(left) && !is_literal(right) {
            ((left, left_ty), (right, right_ty))
        } else {
            ((right, right_ty), (left, left_ty))
        };
        let span = self.span(primary);
        let mut diagnostic = Diagnostic::new(
            codes::CEL_TYPE_MISMATCH,
            span,
            format!(
                "cannot compare {} with {} using `{}`",
                left_ty.with_article(),
                right_ty.with_article(),
                operator_text(name)
            ),
        )
        .with_label_message(format!("this is {}", primary_ty.with_article()))
        .with_secondary(self.span(other), format!("this is {}", other_ty.with_article()));
        if let Some(fix) = self.literal_fix(primary, other_ty) {
            diagnostic = diagnostic.with_did_you_mean(span, &fix);
        }
        self.diagnostics.push(diagnostic);
    }

    fn arithmetic(&mut self, expr: &IdedExpr, name: &str, args: &[(&IdedExpr, Option<CelType>)]) -> Option<CelType> {
        let [(left, Some(left_ty)), (right, Some(right_ty))] = args else { return None };
        if let Some(ty) = arithmetic(name, left_ty, right_ty) {
            return Some(ty);
        }
        let op = operator_text(name);
        let operator_span = self.nodes.token_span(expr);
        let mut diagnostic = Diagnostic::new(
            codes::CEL_TYPE_MISMATCH,
            operator_span,
            format!("`{op}` is not defined for {} and {}", left_ty.with_article(), right_ty.with_article()),
        )
        .with_label_message(format!("no `{op}` for these types"))
        .with_secondary(self.span(left), format!("this is {}", left_ty.with_article()))
        .with_secondary(self.span(right), format!("this is {}", right_ty.with_article()));
        let literal_fix = if is_literal(right) && !is_literal(left) {
            self.literal_fix(right, left_ty).map(|fix| (self.span(right), fix))
        } else if is_literal(left) {
            self.literal_fix(left, right_ty).map(|fix| (self.span(left), fix))
        } else {
            None
        };
        if let Some((span, fix)) = literal_fix {
            diagnostic = diagnostic.with_did_you_mean(span, &fix);
        } else if left_ty.is_numeric() && right_ty.is_numeric() && left_ty != right_ty {
            diagnostic = diagnostic.with_help(
                "CEL does not convert between int, uint and double by itself: convert one side with int(), uint() or double()",
            );
        } else if name == "_%_" && left_ty == &CelType::Double {
            diagnostic = diagnostic.with_note("`%` is defined for ints and uints only");
        }
        self.diagnostics.push(diagnostic);
        None
    }

    fn index(&mut self, args: &[(&IdedExpr, Option<CelType>)]) -> Option<CelType> {
        let [(container, Some(container_ty)), (key, key_ty)] = args else { return None };
        match container_ty {
            CelType::Map(map_key, value) => {
                if let Some(key_ty) = key_ty
                    && !(key_ty.is_dyn()
                        || map_key.is_dyn()
                        || key_ty == &**map_key
                        || (key_ty.is_numeric() && map_key.is_numeric()))
                {
                    let span = self.span(key);
                    let fix = self.literal_fix(key, map_key);
                    let container_span = self.span(container);
                    let diagnostic = self.mismatch(
                        span,
                        format!("this map has {} keys, but this key is {}", map_key.display(), key_ty.with_article()),
                        format!("this is {}", key_ty.with_article()),
                    );
                    diagnostic.labels.push(crate::diagnostic::Label {
                        span: container_span,
                        message: format!("this is {}", container_ty.with_article()),
                        primary: false,
                    });
                    if let Some(fix) = fix {
                        *diagnostic =
                            std::mem::replace(diagnostic, Diagnostic::new(codes::CEL_TYPE_MISMATCH, span, ""))
                                .with_did_you_mean(span, &fix);
                    }
                }
                Some((**value).clone())
            }
            CelType::List(element) => {
                if let Some(key_ty) = key_ty
                    && !matches!(key_ty, CelType::Int | CelType::Uint | CelType::Dyn)
                {
                    let span = self.span(key);
                    self.mismatch(
                        span,
                        format!("a list is indexed by an int position, but this is {}", key_ty.with_article()),
                        format!("this is {}", key_ty.with_article()),
                    );
                }
                Some((**element).clone())
            }
            CelType::Dyn => Some(CelType::Dyn),
            other => {
                let span = self.span(container);
                self.mismatch(
                    span,
                    format!("{} cannot be indexed with `[...]`", other.with_article()),
                    format!("this is {}", other.with_article()),
                );
                None
            }
        }
    }

    fn conditional(&mut self, args: &[(&IdedExpr, Option<CelType>)]) -> Option<CelType> {
        let [(condition, condition_ty), (then, then_ty), (otherwise, otherwise_ty)] = args else { return None };
        if let Some(ty) = condition_ty
            && !matches!(ty, CelType::Bool | CelType::Dyn)
        {
            let span = self.span(condition);
            self.mismatch(
                span,
                format!("the condition of `? :` must be a bool, but this is {}", ty.with_article()),
                format!("this is {}", ty.with_article()),
            );
        }
        let (Some(then_ty), Some(otherwise_ty)) = (then_ty, otherwise_ty) else { return None };
        if let Some(ty) = unify(then_ty, otherwise_ty) {
            return Some(ty);
        }
        let span = self.span(otherwise);
        let then_span = self.span(then);
        let mut diagnostic = Diagnostic::new(
            codes::CEL_TYPE_MISMATCH,
            span,
            format!(
                "the two branches of `? :` have different types: {} and {}",
                then_ty.with_article(),
                otherwise_ty.with_article()
            ),
        )
        .with_label_message(format!("this is {}", otherwise_ty.with_article()))
        .with_secondary(then_span, format!("this is {}", then_ty.with_article()));
        if let Some(fix) = self.literal_fix(otherwise, then_ty) {
            diagnostic = diagnostic.with_did_you_mean(span, &fix);
        }
        self.diagnostics.push(diagnostic);
        Some(CelType::Dyn)
    }

    /// `element in container`: a list's elements or a map's keys.
    fn membership(&mut self, args: &[(&IdedExpr, Option<CelType>)]) {
        let [(element, element_ty), (container, Some(container_ty))] = args else { return };
        let held = match container_ty {
            CelType::List(held) | CelType::Map(held, _) => held,
            CelType::Dyn => return,
            other => {
                let span = self.span(container);
                self.mismatch(
                    span,
                    format!("`in` needs a list or a map on its right, but this is {}", other.with_article()),
                    format!("this is {}", other.with_article()),
                );
                return;
            }
        };
        let Some(element_ty) = element_ty else { return };
        if equatable(element_ty, held) {
            return;
        }
        // The literal side is usually the mistake: `response.code in ["200", "404"]`.
        let ((primary, primary_ty), (other, other_ty)) = if is_literal(container) && !is_literal(element) {
            ((container, container_ty), (element, element_ty))
        } else {
            ((element, element_ty), (container, container_ty))
        };
        let span = self.span(primary);
        let other_span = self.span(other);
        let mut diagnostic = Diagnostic::new(
            codes::CEL_TYPE_MISMATCH,
            span,
            format!("`in` looks for {} in {}", element_ty.with_article(), container_ty.with_article()),
        )
        .with_label_message(format!("this is {}", primary_ty.with_article()))
        .with_secondary(other_span, format!("this is {}", other_ty.with_article()));
        if std::ptr::eq(primary, element)
            && let Some(fix) = self.literal_fix(element, held)
        {
            diagnostic = diagnostic.with_did_you_mean(span, &fix);
        }
        self.diagnostics.push(diagnostic);
    }

    fn check_function(
        &mut self,
        expr: &IdedExpr,
        name: &str,
        target: Option<(&IdedExpr, Option<CelType>)>,
        args: &[(&IdedExpr, Option<CelType>)],
    ) -> Option<CelType> {
        let name_span = self.nodes.name_span(expr);
        let Some(forms) = function_forms(name) else {
            self.unknown_function(expr, name, name_span, target.is_some());
            return None;
        };
        let styled: Vec<&Form> = forms.iter().filter(|f| f.receiver.is_some() == target.is_some()).collect();
        let Some(first_styled) = styled.first() else {
            let message = if target.is_some() {
                format!("`{name}` is a function, not a method: write `{name}(value)`")
            } else {
                format!("`{name}` is a method: call it on a value, as in `request.path.{name}(...)`")
            };
            self.diagnostics.push(
                Diagnostic::new(codes::UNKNOWN_FUNCTION, name_span, message).with_label_message("called the wrong way"),
            );
            return Some(forms[0].result.clone());
        };
        let sized: Vec<&Form> = styled.iter().filter(|f| f.params.len() == args.len()).copied().collect();
        let Some(first_sized) = sized.first() else {
            let mut counts: Vec<usize> = styled.iter().map(|f| f.params.len()).collect();
            counts.sort_unstable();
            counts.dedup();
            let counts: Vec<String> = counts.iter().map(usize::to_string).collect();
            let expected = counts.join(" or ");
            let plural = if expected == "1" { "" } else { "s" };
            let given = if args.len() == 1 { "1 was".to_string() } else { format!("{} were", args.len()) };
            let span = self.span(expr);
            self.mismatch(
                span,
                format!("`{name}` takes {expected} argument{plural}, but {given} given"),
                "wrong number of arguments".into(),
            );
            return Some(first_styled.result.clone());
        };
        // Unknown types (dyn, or already reported) fit anything.
        let fits = |allowed: &[Kind], ty: &Option<CelType>| {
            ty.as_ref().and_then(Kind::of).is_none_or(|k| allowed.contains(&k))
        };
        let receiver_ty = target.as_ref().and_then(|(_, ty)| ty.clone());
        if let Some(form) = sized.iter().find(|form| {
            form.receiver.is_none_or(|allowed| fits(allowed, &receiver_ty))
                && form.params.iter().zip(args).all(|(allowed, (_, ty))| fits(allowed, ty))
        }) {
            return Some(form.result.clone());
        }
        // Report the first position no form accepts, naming everything that would fit there.
        let union = |pick: &dyn Fn(&Form) -> Option<&'static [Kind]>| -> Vec<Kind> {
            let mut kinds: Vec<Kind> = Vec::new();
            for form in &sized {
                for kind in pick(form).unwrap_or(&[]) {
                    if !kinds.contains(kind) {
                        kinds.push(*kind);
                    }
                }
            }
            kinds
        };
        if let Some((receiver, ty)) = &target {
            let allowed = union(&|f: &Form| f.receiver);
            if !fits(&allowed, ty) {
                let ty = ty.as_ref().map(CelType::with_article).unwrap_or_default();
                let span = self.span(receiver);
                self.mismatch(
                    span,
                    format!("`{name}` applies to {}, but this is {ty}", describe_kinds(&allowed)),
                    format!("this is {ty}"),
                );
                return Some(first_sized.result.clone());
            }
        }
        for (index, (arg, ty)) in args.iter().enumerate() {
            let allowed = union(&|f: &Form| f.params.get(index).copied());
            if !fits(&allowed, ty) {
                let ty = ty.as_ref().map(CelType::with_article).unwrap_or_default();
                let span = self.span(arg);
                self.mismatch(
                    span,
                    format!("`{name}` takes {} here, not {ty}", describe_kinds(&allowed)),
                    format!("this is {ty}"),
                );
                break;
            }
        }
        Some(first_sized.result.clone())
    }

    fn unknown_function(&mut self, expr: &IdedExpr, name: &str, name_span: Span, method: bool) {
        if MACRO_NAMES.contains(&name) {
            // The parser expands these when their shape is right; this one's is not.
            let usage = match name {
                "has" => "`has` takes one field selection, as in `has(request.headers.x_user)`".to_string(),
                "map" => "`map` takes a variable name and a value, as in `request.headers.map(h, size(h))`".to_string(),
                _ if !method => format!("`{name}` is a macro called on a list or a map, as in `list.{name}(x, x > 0)`"),
                _ => format!("`{name}` takes a variable name and a condition, as in `list.{name}(x, x > 0)`"),
            };
            let span = self.span(expr);
            self.mismatch(span, usage, "wrong shape".into());
            return;
        }
        let mut diagnostic = Diagnostic::new(
            codes::UNKNOWN_FUNCTION,
            name_span,
            format!("`{name}` is not a function of Istio's expressions"),
        )
        .with_label_message("unknown function");
        if matches!(name, "env" | "header" | "formatter") {
            diagnostic = diagnostic.with_note(format!(
                "`{name}(...)` is a form of tracing custom tag, not a function of metric tags or access-log filters"
            ));
        } else if let Some(suggestion) = did_you_mean(name, FUNCTION_NAMES.iter().chain(MACRO_NAMES).copied()) {
            diagnostic = diagnostic.with_did_you_mean(name_span, suggestion);
        } else {
            diagnostic = diagnostic.with_note(
                "the functions are CEL's standard ones: size, contains, startsWith, endsWith, matches, \
                 the conversions int, uint, double, string, bytes, bool, duration and timestamp, \
                 and the macros has, all, exists, exists_one, map and filter",
            );
        }
        self.diagnostics.push(diagnostic);
    }

    /// `list.exists(x, cond)` and the other macros: the parser expanded them into a
    /// comprehension; check the user's parts with the variable bound to an element.
    fn check_comprehension(&mut self, expr: &IdedExpr, comprehension: &ComprehensionExpr) -> Option<CelType> {
        let name = match self.nodes.name_range(expr) {
            Some((start, end)) => self.nodes.source.text[start..end].to_string(),
            None => "this macro".to_string(),
        };
        let range_ty = self.check(&comprehension.iter_range);
        let element = match range_ty {
            Some(CelType::List(element)) => *element,
            Some(CelType::Map(key, _)) => *key,
            Some(CelType::Dyn) | None => CelType::Dyn,
            Some(other) => {
                let span = self.span(&comprehension.iter_range);
                self.mismatch(
                    span,
                    format!("`{name}` goes through a list or a map, but this is {}", other.with_article()),
                    format!("this is {}", other.with_article()),
                );
                CelType::Dyn
            }
        };
        let bound = self.variables.len();
        self.variables.push((comprehension.iter_var.clone(), element));
        if let Some(second) = &comprehension.iter_var2 {
            self.variables.push((second.clone(), CelType::Dyn));
        }
        let result = match macro_shape(comprehension) {
            MacroShape::Condition(condition) => {
                self.expect_condition(condition, &name);
                Some(CelType::Bool)
            }
            MacroShape::Collect { filter, transform } => {
                if let Some(filter) = filter {
                    self.expect_condition(filter, &name);
                }
                let ty = self.check(transform);
                Some(CelType::List(Box::new(ty.unwrap_or(CelType::Dyn))))
            }
            MacroShape::Other => Some(CelType::Dyn),
        };
        self.variables.truncate(bound);
        result
    }

    fn expect_condition(&mut self, condition: &IdedExpr, name: &str) {
        if let Some(ty) = self.check(condition)
            && !matches!(ty, CelType::Bool | CelType::Dyn)
        {
            let span = self.span(condition);
            self.mismatch(
                span,
                format!("the condition of `{name}` must be a bool, but this is {}", ty.with_article()),
                format!("this is {}", ty.with_article()),
            );
        }
    }
}

#[cfg(test)]
#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    #[test]
    fn a_well_typed_filter_is_a_bool() {
        for text in [
            "response.code >= 400",
            "response.code >= 400 && request.headers[\"x-user\"].startsWith(\"a\")",
            "response.code == 200u || response.code < 1.5",
            "request.duration > duration(\"1s\") || request.time < timestamp(\"2024-01-01T00:00:00Z\")",
            "size(request.path) > 10 && request.path.size() < 100 && request.path.matches(\"^/api\")",
            "has(request.headers.x_user) && has(request.host)",
            "\"x-route\" in request.headers && !connection.mtls",
            "request.headers.exists(h, h.startsWith(\"x-\")) && [1, 2].all(n, n > 0)",
            "int(request.headers[\"x-count\"]) > 3 && string(response.code) == \"200\"",
            "request.time.getHours() < 6 && request.duration.getSeconds() > 1",
            "xds.node.metadata[\"NAME\"] == \"a\" && filter_state[\"k\"] != null",
            "type(response.code) == int",
        ] {
            let (ty, diagnostics) = filter(text);
            assert_eq!(ty, Some(CelType::Bool), "{text}");
            assert!(diagnostics.is_empty(), "{text}: {diagnostics:#?}");
        }
    }

    #[test]
    fn tag_values_have_the_type_of_their_expression() {
        assert_eq!(tag("request.host"), (Some(CelType::String), vec![]));
        assert_eq!(tag("request.headers[\"x\"]"), (Some(CelType::String), vec![]));
        assert_eq!(tag("response.code + 1"), (Some(CelType::Int), vec![]));
        assert_eq!(
            tag("\"x-route\" in request.headers ? request.headers[\"x-route\"] : \"none\""),
            (Some(CelType::String), vec![])
        );
        assert_eq!(tag("request.headers.map(h, size(h))"), (Some(CelType::List(Box::new(CelType::Int))), vec![]));
        assert_eq!(tag("xds.node.id"), (Some(CelType::Dyn), vec![]));
        assert_eq!(tag("request.time - request.time"), (Some(CelType::Duration), vec![]));
    }

    #[test]
    fn comparing_an_int_with_a_string_points_at_the_string() {
        let (diagnostic, labels, suggestions) = only("response.code >= \"400\"", ExprContext::AccessLogFilter);
        assert_eq!(diagnostic.code, codes::CEL_TYPE_MISMATCH);
        assert_eq!(diagnostic.message, "cannot compare an int with a string using `>=`");
        assert_eq!(
            labels,
            [("\"400\"".into(), "this is a string".into()), ("response.code".into(), "this is an int".into())]
        );
        assert_eq!(suggestions, [("\"400\"".into(), "400".into())]);
        // Exact bytes: the string starts 17 bytes into the expression, which starts at 10.
        assert_eq!((diagnostic.primary_span().start, diagnostic.primary_span().end), (27, 32));
    }

    #[test]
    fn the_literal_side_of_a_comparison_is_blamed_whichever_side_it_is_on() {
        let (_, labels, _) = only("\"400\" <= response.code", ExprContext::AccessLogFilter);
        assert_eq!(labels[0], ("\"400\"".into(), "this is a string".into()));
        let (_, labels, suggestions) = only("request.headers[\"x\"] == 5", ExprContext::AccessLogFilter);
        assert_eq!(labels[0], ("5".into(), "this is an int".into()));
        assert_eq!(suggestions, [("5".into(), "\"5\"".into())]);
        let (_, _, suggestions) = only("request.duration > \"1s\"", ExprContext::AccessLogFilter);
        assert_eq!(suggestions, [("\"1s\"".into(), "duration(\"1s\")".into())]);
    }

    #[test]
    fn misspelled_attributes_suggest_the_right_one() {
        let (diagnostic, labels, suggestions) = only("request.hots == \"a\"", ExprContext::AccessLogFilter);
        assert_eq!(diagnostic.code, codes::UNKNOWN_ATTRIBUTE);
        assert_eq!(diagnostic.message, "`request.hots` is not an attribute Envoy provides");
        assert_eq!(labels, [("request.hots".into(), "unknown attribute".into())]);
        assert_eq!(suggestions, [("request.hots".into(), "request.host".into())]);
        assert_eq!(diagnostic.help.as_deref(), Some("did you mean `request.host`?"));
        assert_eq!((diagnostic.suggestions[0].span.start, diagnostic.suggestions[0].span.end), (10, 22));
    }

    #[test]
    fn a_misspelled_group_is_fixed_together_with_the_rest_of_the_path() {
        let (_, labels, suggestions) = only("respose.code >= 500", ExprContext::AccessLogFilter);
        assert_eq!(labels[0].0, "respose.code");
        assert_eq!(suggestions, [("respose.code".into(), "response.code".into())]);
        // The field read from the map stays out of the replacement.
        let (_, _, suggestions) = only("requst.headers.x_user == \"a\"", ExprContext::AccessLogFilter);
        assert_eq!(suggestions, [("requst.headers".into(), "request.headers".into())]);
        let (_, _, suggestions) = only("respose.cod == 1", ExprContext::AccessLogFilter);
        assert_eq!(suggestions, [("respose.cod".into(), "response.code".into())]);
        let (_, _, suggestions) = only("request_host", ExprContext::MetricTagValue);
        assert_eq!(suggestions, [("request_host".into(), "request.host".into())]);
    }

    #[test]
    fn unknown_attributes_without_a_near_miss_list_what_the_group_has() {
        let (diagnostic, labels, suggestions) = only("request.nothing_like_it", ExprContext::MetricTagValue);
        assert_eq!(labels[0].0, "request.nothing_like_it");
        assert!(suggestions.is_empty());
        assert_eq!(diagnostic.notes, ["`request` has: duration, headers, host, path, time"]);
        let (diagnostic, ..) = only("zzz", ExprContext::MetricTagValue);
        assert_eq!(diagnostic.message, "`zzz` is not an attribute Envoy provides");
    }

    #[test]
    fn a_group_of_attributes_is_not_a_value() {
        let (diagnostic, labels, _) = only("request", ExprContext::MetricTagValue);
        assert_eq!(diagnostic.code, codes::UNKNOWN_ATTRIBUTE);
        assert_eq!(diagnostic.message, "`request` is a group of attributes, not an attribute");
        assert_eq!(labels, [("request".into(), "a group of attributes".into())]);
        assert_eq!(diagnostic.help.as_deref(), Some("name one of its attributes, such as `request.duration`"));
    }

    #[test]
    fn filters_must_be_conditions() {
        let (diagnostic, labels, _) = only("request.host", ExprContext::AccessLogFilter);
        assert_eq!(diagnostic.code, codes::CEL_WRONG_RESULT_TYPE);
        assert_eq!(diagnostic.message, "an access-log filter must be a condition, but this is a string");
        assert_eq!(labels, [("request.host".into(), "a string, not a bool".into())]);
        assert_eq!(tag("request.host"), (Some(CelType::String), vec![]));
        // A value of unknown type may well be a bool.
        assert_eq!(filter("xds.node.metadata[\"X\"]"), (Some(CelType::Dyn), vec![]));
    }

    #[test]
    fn independent_mistakes_are_all_reported() {
        let (_, diagnostics) =
            filter("request.hots == \"a\" || respons.code == 1 || !response.code || response.code >= \"400\"");
        assert_eq!(
            diagnostics,
            [
                seen("E0401", "request.hots", "`request.hots` is not an attribute Envoy provides"),
                seen("E0401", "respons.code", "`respons.code` is not an attribute Envoy provides"),
                seen("E0402", "response.code", "`!` needs a bool, but this is an int"),
                seen("E0402", "\"400\"", "cannot compare an int with a string using `>=`"),
            ]
        );
    }

    #[test]
    fn operators_need_operands_of_the_right_type() {
        assert_eq!(
            filter("response.code && true").1,
            [seen("E0402", "response.code", "`&&` needs bool operands, but this is an int")]
        );
        assert_eq!(filter("-request.host == \"a\"").1, [seen("E0402", "request.host", "a string cannot be negated")]);
        assert_eq!(
            filter("connection.id + 1 > 2u").1,
            [seen("E0402", "+", "`+` is not defined for a uint and an int")]
        );
        let (diagnostic, _, suggestions) = only("connection.id + 1 > 2u", ExprContext::AccessLogFilter);
        assert_eq!(suggestions, [("1".into(), "1u".into())]);
        assert_eq!(diagnostic.help.as_deref(), Some("did you mean `1u`?"));
        assert_eq!(tag("response.code * 1.5").1, [seen("E0402", "*", "`*` is not defined for an int and a double")]);
        assert_eq!(
            filter("(request.path + 1) == \"a\"").1,
            [seen("E0402", "+", "`+` is not defined for a string and an int")]
        );
    }

    #[test]
    fn indexes_need_keys_of_the_right_type() {
        let (diagnostic, labels, suggestions) = only("request.headers[1] == \"a\"", ExprContext::AccessLogFilter);
        assert_eq!(diagnostic.message, "this map has string keys, but this key is an int");
        assert_eq!(
            labels,
            [("1".into(), "this is an int".into()), ("request.headers".into(), "this is a map(string, string)".into())]
        );
        assert_eq!(suggestions, [("1".into(), "\"1\"".into())]);
        assert_eq!(
            tag("request.host[0]").1,
            [seen("E0402", "request.host", "a string cannot be indexed with `[...]`")]
        );
        assert_eq!(
            tag("[1, 2][\"a\"]").1,
            [seen("E0402", "\"a\"", "a list is indexed by an int position, but this is a string")]
        );
    }

    #[test]
    fn in_and_conditionals_are_checked() {
        assert_eq!(
            filter("response.code in [\"200\", \"404\"]").1,
            [seen("E0402", "[\"200\", \"404\"]", "`in` looks for an int in a list(string)")]
        );
        assert_eq!(
            filter("\"a\" in request.host").1,
            [seen("E0402", "request.host", "`in` needs a list or a map on its right, but this is a string")]
        );
        assert_eq!(
            tag("response.code ? \"a\" : \"b\"").1,
            [seen("E0402", "response.code", "the condition of `? :` must be a bool, but this is an int")]
        );
        assert_eq!(
            tag("connection.mtls ? \"a\" : 1").1,
            [seen("E0402", "1", "the two branches of `? :` have different types: a string and an int")]
        );
        assert_eq!(tag("connection.mtls ? \"a\" : null"), (Some(CelType::String), vec![]));
    }

    #[test]
    fn fields_are_read_from_maps_and_messages_only() {
        let (diagnostic, labels, _) = only("response.code.value == 1", ExprContext::AccessLogFilter);
        assert_eq!(diagnostic.message, "`value` cannot be read from an int: only maps and messages have fields");
        assert_eq!(
            labels,
            [("value".into(), "no such field".into()), ("response.code".into(), "this is an int".into())]
        );
        assert_eq!(
            filter("has(response.code.value)").1,
            [seen("E0402", "response.code", "`has()` tests a field of a map or a message, but this is an int")]
        );
        let (_, _, suggestions) = only("has(request.hots)", ExprContext::AccessLogFilter);
        assert_eq!(suggestions, [("request.hots".into(), "request.host".into())]);
    }

    #[test]
    fn functions_are_checked_by_name_receiver_and_arguments() {
        let (diagnostic, labels, suggestions) = only("lookup(request.host) == \"a\"", ExprContext::AccessLogFilter);
        assert_eq!(diagnostic.code, codes::UNKNOWN_FUNCTION);
        assert_eq!(labels, [("lookup".into(), "unknown function".into())]);
        assert!(suggestions.is_empty());
        let (_, labels, suggestions) = only("request.path.startWith(\"/api\")", ExprContext::AccessLogFilter);
        assert_eq!(labels[0].0, "startWith");
        assert_eq!(suggestions, [("startWith".into(), "startsWith".into())]);
        assert_eq!(
            filter("response.code.startsWith(\"4\")").1,
            [seen("E0402", "response.code", "`startsWith` applies to a string, but this is an int")]
        );
        assert_eq!(
            filter("request.path.startsWith(1)").1,
            [seen("E0402", "1", "`startsWith` takes a string here, not an int")]
        );
        assert_eq!(
            tag("int(request.headers)").1,
            [seen(
                "E0402",
                "request.headers",
                "`int` takes an int, a uint, a double, a string or a timestamp here, not a map(string, string)"
            )]
        );
        assert_eq!(
            tag("size(request.path, 1)").1,
            [seen("E0402", "size(request.path, 1)", "`size` takes 1 argument, but 2 were given")]
        );
        assert_eq!(
            filter("startsWith(request.path, \"/\")").1,
            [seen(
                "E0404",
                "startsWith",
                "`startsWith` is a method: call it on a value, as in `request.path.startsWith(...)`"
            )]
        );
        let (diagnostic, ..) = only("env(\"CLUSTER\")", ExprContext::MetricTagValue);
        assert_eq!(diagnostic.code, codes::UNKNOWN_FUNCTION);
        assert!(diagnostic.notes[0].contains("tracing custom tag"));
    }

    #[test]
    fn macros_bind_their_variable_to_an_element() {
        assert_eq!(
            filter("request.headers.exists(h, hh == \"a\")").1,
            [seen("E0401", "hh", "`hh` is not an attribute Envoy provides")]
        );
        let (_, _, suggestions) = only("request.headers.exists(h, hh == \"a\")", ExprContext::AccessLogFilter);
        assert_eq!(suggestions, [("hh".into(), "h".into())]);
        assert_eq!(
            filter("[1, 2].all(n, n)").1,
            [seen("E0402", "n", "the condition of `all` must be a bool, but this is an int")]
        );
        assert_eq!(
            filter("request.host.exists(c, c == \"a\")").1,
            [seen("E0402", "request.host", "`exists` goes through a list or a map, but this is a string")]
        );
        assert_eq!(
            filter("[1].exists(n, n == \"a\")").1,
            [seen("E0402", "\"a\"", "cannot compare an int with a string using `==`")]
        );
        // The variable is gone after the macro.
        assert_eq!(filter("[1].exists(n, n == 1) && n == 1").1[0].1, "n");
    }
}
