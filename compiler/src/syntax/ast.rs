//! The syntax tree of a `.mesh` file.
//!
//! It is our own tree, lowered from pest's pairs right after parsing, with a byte
//! span on every node so later phases can point at exactly what the user wrote.
//! Parts that did not parse are kept as `Error` nodes with their span; later phases
//! skip them silently because the parser already reported them.

use crate::span::Span;

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Ident {
    pub name: String,
    pub span: Span,
}

/// A file: its items in source order, and the comments the formatter must keep.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct File {
    pub items: Vec<Item>,
    pub comments: Vec<Comment>,
}

/// A `//` or `/* */` comment; `///` lines directly above a declaration are its docs.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Comment {
    pub span: Span,
    pub text: String,
    pub is_doc: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Item {
    pub kind: ItemKind,
    pub span: Span,
    /// The text of the `///` lines directly above the item, without the slashes.
    pub docs: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ItemKind {
    Package(Path),
    Import(Import),
    Let(LetDecl),
    Schema(SchemaDecl),
    Resource(ResourceDecl),
    Attribute(AttributeDecl),
    Metric(VocabularyDecl),
    ProviderKind(VocabularyDecl),
    /// A region that did not parse; the parser reported it.
    Error,
}

/// A dotted name such as `std.filters` or `envoy.extensions.filters.http.lua.v3.Lua`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Path {
    pub segments: Vec<Ident>,
    pub span: Span,
}

impl Path {
    pub(crate) fn text(&self) -> String {
        self.segments.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(".")
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Import {
    pub module: Path,
    pub alias: Option<Ident>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LetDecl {
    pub name: Ident,
    pub value: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SchemaDecl {
    pub name: Ident,
    pub fields: Vec<SchemaField>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SchemaField {
    pub name: Key,
    pub optional: bool,
    pub ty: TypeExpr,
    pub default: Option<Value>,
    pub span: Span,
}

/// A type in a schema or attribute declaration: alternatives separated by `|`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TypeExpr {
    pub alternatives: Vec<TypeAtom>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum TypeAtom {
    /// `string`, `int`, a schema name, ...
    Named(Path),
    /// A string literal type: the value must be exactly this string.
    Literal(StringLit),
    /// `[T]`
    List(Box<TypeExpr>, Span),
    /// `{T}`: a map from strings to T.
    Map(Box<TypeExpr>, Span),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ResourceKind {
    Telemetry,
    WasmPlugin,
    EnvoyFilter,
    /// One Envoy of the raw Envoy target (not an Istio resource).
    Proxy,
    /// A smoke scenario run against a proxy in a real Envoy (not an Istio resource).
    Smoke,
    /// A policy rule over the package's resources (not an Istio resource).
    Rule,
}

/// The words that start a resource declaration, in the order of [`ResourceKind`]:
/// the one list the parser's did-you-mean, the formatter and the editor read.
pub(crate) const RESOURCE_KEYWORDS: [&str; 6] = ["telemetry", "wasm_plugin", "envoy_filter", "proxy", "smoke", "rule"];

impl ResourceKind {
    pub(crate) fn keyword(self) -> &'static str {
        RESOURCE_KEYWORDS[self as usize]
    }
}

/// `telemetry NAME SCOPE... { ... }` and its siblings.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ResourceDecl {
    pub kind: ResourceKind,
    pub keyword: Span,
    pub name: Ident,
    pub scopes: Vec<Scope>,
    pub body: Vec<Stmt>,
    /// The span of the `{ ... }` body, braces included.
    pub body_span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Scope {
    /// `mesh`: the root namespace, no selector.
    Mesh(Span),
    /// `in namespace "ns"`
    Namespace(StringLit, Span),
    /// `for workload { app: "x" }` or `for workload some_labels`
    Workload(Value, Span),
    /// `for targets [Gateway "gw", ...]` or `for target Service "svc"`
    Targets(Vec<TargetRef>, Span),
}

impl Scope {
    pub(crate) fn span(&self) -> Span {
        match self {
            Scope::Mesh(span) | Scope::Namespace(_, span) | Scope::Workload(_, span) | Scope::Targets(_, span) => *span,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum TargetRef {
    /// `Gateway "name"`: the group follows from the kind.
    Named { kind: Ident, name: StringLit, span: Span },
    /// `{ group: "...", kind: "...", name: "..." }`
    Object(Value),
}

/// `attribute request.host: string` (stdlib only).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct AttributeDecl {
    pub path: Path,
    pub ty: TypeExpr,
}

/// `metric NAME { ... }` and `provider_kind NAME { ... }` (stdlib only).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct VocabularyDecl {
    pub name: Ident,
    pub body: Vec<Stmt>,
}

/// A key of a setting, an object entry or a schema field: a name or a quoted string.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Key {
    pub name: String,
    pub span: Span,
    pub quoted: bool,
}

/// Raw text of a CEL expression and where it stands; checked by `check::cel`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ExprText {
    pub text: String,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InsertPosition {
    Before,
    After,
    First,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum StmtKind {
    /// `key value` or `key: value`
    Setting { key: Key, value: Value },
    /// `key { ... }`
    Section { key: Key, body: Vec<Stmt> },
    /// `metrics PROVIDERS { ... }`
    Metrics { providers: Vec<Key>, body: Vec<Stmt> },
    /// `REQUEST_COUNT (mode) disabled { tag ... }` or `custom "name" ...`
    MetricOverride { metric: MetricRef, mode: Option<Ident>, toggle: Option<Toggle>, tags: Option<Vec<Stmt>> },
    /// `tracing PROVIDERS (mode) { ... }`
    Tracing { providers: Vec<Key>, mode: Option<Ident>, body: Vec<Stmt> },
    /// `access_log PROVIDERS (mode) disabled when EXPR`
    AccessLog { providers: Vec<Key>, mode: Option<Ident>, toggle: Option<Toggle>, filter: Option<ExprText> },
    /// `require EXPR` of a rule
    Require { expr: ExprText },
    /// `message_expression EXPR` of a rule
    MessageExpression { expr: ExprText },
    /// `tag NAME = EXPR`
    TagSet { name: Key, expr: ExprText },
    /// `remove tag NAME`
    TagRemove { name: Key },
    /// `config SCHEMA { ... }`
    Config { schema: Option<Path>, value: Value },
    /// `env NAME = VALUE` or `env NAME from host`
    Env { name: Key, value: EnvValue },
    /// `match MODE ports [...]` of a wasm_plugin
    WasmMatch { mode: Option<Ident>, ports: Option<Value> },
    /// `patch APPLY_TO { ... }`
    Patch { apply_to: Ident, body: Vec<Stmt> },
    /// `match { ... }` inside a patch
    PatchMatch { body: Vec<Stmt> },
    /// `value VALUE` inside a patch
    PatchValue { value: Value },
    /// `insert APPLY_TO before "anchor" in CONTEXT { VALUE }`
    Insert {
        apply_to: Ident,
        position: InsertPosition,
        position_span: Span,
        anchor: Option<Value>,
        context: Option<Ident>,
        value: Value,
    },
    /// A statement that did not parse; the parser reported it.
    Error,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum MetricRef {
    Standard(Ident),
    Custom(StringLit),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Toggle {
    pub disabled: bool,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum EnvValue {
    Inline(Value),
    From(Ident),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StringStyle {
    /// `"..."`
    Plain,
    /// `"""..."""`, possibly tagged (`lua"""`).
    Triple,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StringLit {
    /// The value after escapes and (for triple strings) indentation removal.
    pub value: String,
    pub style: StringStyle,
    pub tag: Option<String>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Value {
    pub kind: ValueKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ValueKind {
    String(StringLit),
    /// A number as written; `raw` keeps the spelling for the formatter and for integers.
    Number {
        value: f64,
        raw: String,
    },
    /// `5%`: the number of percent.
    Percent(f64),
    /// `250ms`: the exact length in nanoseconds (a duration finer than a nanosecond
    /// or beyond protobuf's range is an error at parsing), and the text as written.
    Duration {
        nanos: i128,
        raw: String,
    },
    Bool(bool),
    Null,
    /// An enum value or a reference to a `let`, such as `authn` or `filters.router`.
    Path(Path),
    Call {
        name: Ident,
        args: Vec<Value>,
    },
    List(Vec<Value>),
    Object(Vec<Entry>),
    /// `TYPE { ... }`: a typed message (an Envoy type or a schema).
    Message {
        type_name: Path,
        fields: Vec<Entry>,
        fields_span: Span,
    },
    /// A value that did not parse; the parser reported it.
    Error,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Entry {
    pub key: Key,
    pub value: Value,
    pub span: Span,
}

impl Value {
    /// A short description of the value's shape for messages: "a string", "a list", ...
    pub(crate) fn describe(&self) -> &'static str {
        match &self.kind {
            ValueKind::String(_) => "a string",
            ValueKind::Number { .. } => "a number",
            ValueKind::Percent(_) => "a percentage",
            ValueKind::Duration { .. } => "a duration",
            ValueKind::Bool(_) => "a boolean",
            ValueKind::Null => "null",
            ValueKind::Path(_) => "a name",
            ValueKind::Call { .. } => "a function call",
            ValueKind::List(_) => "a list",
            ValueKind::Object(_) => "an object",
            ValueKind::Message { .. } => "a typed message",
            ValueKind::Error => "an invalid value",
        }
    }
}
