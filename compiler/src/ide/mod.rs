//! IDE queries over an analysed package: completion, hover, navigation, rename,
//! outline, semantic tokens, folding ranges and code actions.
//!
//! Every query is a pure function of an [`Analysis`], the [`SourceDb`] it was made
//! from, a file and a byte offset, and answers with meshc's own plain data in byte
//! offsets. The language server converts offsets to LSP's UTF-16 positions at its
//! edge and owns everything about editors; nothing here knows about LSP.
//!
//! Queries that depend on where the cursor stands (completion, hover, Envoy fields)
//! read the text before the cursor lexically ([`context`]), so that they also work
//! while the file does not parse, which is most of the time while someone types.
//! Queries about names (definition, references, rename) walk the AST.

mod actions;
mod completion;
mod context;
mod envoy;
mod hover;
mod navigation;
mod outline;
#[cfg(test)]
mod tests;

pub use actions::code_actions;
pub use completion::{COMPLETION_LIMIT, completions};
pub use hover::hover;
pub use navigation::{definition, prepare_rename, references, rename};
pub use outline::{document_symbols, folding_ranges, semantic_tokens};

use crate::check::symbols::Symbols;
use crate::driver::Analysis;
use crate::source::SourceDb;
use crate::span::Span;

/// What a completion item stands for, which editors show as an icon.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompletionKind {
    Keyword,
    /// A `let`, `schema` or resource declaration of the package.
    Declaration,
    /// An Istio enum value (`authn`) or an Envoy enum value (`UPSERT`).
    EnumValue,
    /// A CEL attribute of `std.attributes` (`request.host`).
    Attribute,
    /// A standard Istio metric (`REQUEST_COUNT`) or one of its labels.
    Metric,
    /// A provider of `mesh.toml`.
    Provider,
    /// A module for `import`.
    Module,
    /// A field of an Envoy message or of a `schema`.
    Field,
    /// An Envoy message type name.
    Type,
    /// A setting of an Istio block (`sampling`, `phase`).
    Setting,
}

/// One completion: `insert` replaces the text of `replace` (the word being typed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    pub label: String,
    pub kind: CompletionKind,
    /// A short line shown beside the label: a type, a kind, the versions.
    pub detail: Option<String>,
    /// Markdown.
    pub documentation: Option<String>,
    pub insert: String,
    pub replace: Span,
}

/// A hover answer: Markdown about the thing in `range`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hover {
    pub range: Span,
    pub markdown: String,
}

/// Replace the text of `span` by `new_text`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TextEdit {
    pub span: Span,
    pub new_text: String,
}

/// Why a rename cannot be done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RenameError {
    /// There is no declaration of the package at the position.
    NothingToRename,
    /// The new name is not a name the grammar accepts there.
    InvalidName(String),
}

impl std::fmt::Display for RenameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RenameError::NothingToRename => write!(f, "there is no declaration of this package here to rename"),
            RenameError::InvalidName(reason) => write!(f, "{reason}"),
        }
    }
}

/// What an outline entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SymbolKind {
    Package,
    Import,
    Let,
    Schema,
    Field,
    Resource,
    /// A block or setting inside a resource (`metrics`, `patch cluster`, `phase`).
    Block,
}

/// An entry of a file's outline; `selection` is its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentSymbol {
    pub name: String,
    pub detail: Option<String>,
    pub kind: SymbolKind,
    pub span: Span,
    pub selection: Span,
    pub children: Vec<DocumentSymbol>,
}

/// The kinds of semantic tokens meshc reports; the server maps them to LSP's legend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TokenKind {
    Keyword,
    Comment,
    String,
    Number,
    /// An Envoy message type or a schema name.
    Type,
    /// A `let` name, or an import alias in a dotted name.
    Variable,
    /// A setting key, an object or message field, a schema field.
    Property,
    /// An Istio or Envoy enum value, a metric name.
    EnumMember,
    /// A CEL attribute.
    Attribute,
    /// A resource declaration's name.
    Declaration,
    /// A module path.
    Namespace,
    Operator,
}

/// A token: a byte range on one line and its kind; `declaration` marks where a name is declared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SemanticToken {
    pub span: Span,
    pub kind: TokenKind,
    pub declaration: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FoldingKind {
    Region,
    Comment,
    Imports,
}

/// A foldable region from the line of `start` to the line of `end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FoldingRange {
    pub start: u32,
    pub end: u32,
    pub kind: FoldingKind,
}

/// A fix: edits in one or more files, for the diagnostic at `diagnostic` (an index
/// into `Analysis::diagnostics`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeAction {
    pub title: String,
    pub edits: Vec<TextEdit>,
    pub diagnostic: Option<usize>,
    /// The one fix an editor may apply on "fix all" or a shortcut.
    pub preferred: bool,
}

/// The names of one package, resolved once per query.
pub(crate) fn symbols<'a>(analysis: &'a Analysis, db: &SourceDb) -> Symbols<'a> {
    let name = analysis.manifest.as_ref().map(|m| m.name.value.as_str());
    Symbols::collect(db, name, &analysis.files, &mut Vec::new())
}

/// Whether a byte is part of a word the queries look at: names, dotted paths and
/// the `-` of provider and declaration names.
pub(crate) fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-' || b == b'@'
}

/// The word around `offset` (both directions), as a byte range.
pub(crate) fn word_at(text: &str, offset: u32) -> (u32, u32) {
    let bytes = text.as_bytes();
    let offset = (offset as usize).min(bytes.len());
    let mut start = offset;
    while start > 0 && is_word_byte(bytes[start - 1]) {
        start -= 1;
    }
    let mut end = offset;
    while end < bytes.len() && is_word_byte(bytes[end]) {
        end += 1;
    }
    (start as u32, end as u32)
}
