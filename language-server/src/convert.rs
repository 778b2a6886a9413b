//! meshc's byte offsets and plain data to LSP's UTF-16 positions and wire types, and back.

use meshc_compiler::diagnostic::{Diagnostic, Severity};
use meshc_compiler::ide;
use meshc_compiler::source::SourceDb;
use meshc_compiler::span::{FileId, Span};
use tower_lsp_server::ls_types as lsp;

pub fn position(db: &SourceDb, file: FileId, offset: u32) -> lsp::Position {
    let source = db.get(file);
    let (line, character) = source.line_index.utf16_position(&source.text, offset);
    lsp::Position { line, character }
}

pub fn offset(db: &SourceDb, file: FileId, position: lsp::Position) -> u32 {
    let source = db.get(file);
    source.line_index.offset_of_utf16(&source.text, position.line, position.character)
}

pub fn range(db: &SourceDb, span: Span) -> lsp::Range {
    lsp::Range { start: position(db, span.file, span.start), end: position(db, span.file, span.end) }
}

pub fn uri(path: &std::path::Path) -> Option<lsp::Uri> {
    lsp::Uri::from_file_path(path)
}

pub fn diagnostic(
    db: &SourceDb,
    diagnostic: &Diagnostic,
    uri_of: &dyn Fn(FileId) -> Option<lsp::Uri>,
) -> lsp::Diagnostic {
    let span = diagnostic.primary_span();
    let mut message = diagnostic.message.clone();
    let primary_label = diagnostic.labels.iter().find(|l| l.primary).map(|l| l.message.as_str()).unwrap_or("");
    if !primary_label.is_empty() {
        message.push_str(&format!(" ({primary_label})"));
    }
    for note in &diagnostic.notes {
        message.push_str(&format!("\nnote: {note}"));
    }
    if let Some(help) = &diagnostic.help {
        message.push_str(&format!("\nhelp: {help}"));
    }
    let related: Vec<lsp::DiagnosticRelatedInformation> = diagnostic
        .labels
        .iter()
        .filter(|l| !l.primary)
        .filter_map(|l| {
            Some(lsp::DiagnosticRelatedInformation {
                location: lsp::Location { uri: uri_of(l.span.file)?, range: range(db, l.span) },
                message: l.message.clone(),
            })
        })
        .collect();
    lsp::Diagnostic {
        range: range(db, span),
        severity: Some(match diagnostic.severity {
            Severity::Error => lsp::DiagnosticSeverity::ERROR,
            Severity::Warning => lsp::DiagnosticSeverity::WARNING,
            Severity::Note => lsp::DiagnosticSeverity::INFORMATION,
        }),
        code: Some(lsp::NumberOrString::String(diagnostic.code.0.to_string())),
        source: Some("meshc".to_string()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        ..lsp::Diagnostic::default()
    }
}

pub fn completion_kind(kind: ide::CompletionKind) -> lsp::CompletionItemKind {
    use ide::CompletionKind as K;
    match kind {
        K::Keyword => lsp::CompletionItemKind::KEYWORD,
        K::Declaration => lsp::CompletionItemKind::VARIABLE,
        K::EnumValue => lsp::CompletionItemKind::ENUM_MEMBER,
        K::Attribute => lsp::CompletionItemKind::PROPERTY,
        K::Metric => lsp::CompletionItemKind::CONSTANT,
        K::Provider => lsp::CompletionItemKind::REFERENCE,
        K::Module => lsp::CompletionItemKind::MODULE,
        K::Field => lsp::CompletionItemKind::FIELD,
        K::Type => lsp::CompletionItemKind::CLASS,
        K::Setting => lsp::CompletionItemKind::PROPERTY,
    }
}

pub fn symbol_kind(kind: ide::SymbolKind) -> lsp::SymbolKind {
    use ide::SymbolKind as K;
    match kind {
        K::Package => lsp::SymbolKind::PACKAGE,
        K::Import => lsp::SymbolKind::MODULE,
        K::Let => lsp::SymbolKind::CONSTANT,
        K::Schema => lsp::SymbolKind::STRUCT,
        K::Field => lsp::SymbolKind::FIELD,
        K::Resource => lsp::SymbolKind::OBJECT,
        K::Block => lsp::SymbolKind::PROPERTY,
    }
}

#[allow(deprecated)]
pub fn document_symbol(db: &SourceDb, symbol: &ide::DocumentSymbol) -> lsp::DocumentSymbol {
    lsp::DocumentSymbol {
        name: if symbol.name.is_empty() { "_".to_string() } else { symbol.name.clone() },
        detail: symbol.detail.clone(),
        kind: symbol_kind(symbol.kind),
        tags: None,
        deprecated: None,
        range: range(db, symbol.span),
        selection_range: range(db, symbol.selection),
        children: Some(symbol.children.iter().map(|c| document_symbol(db, c)).collect()),
    }
}

/// The token types of the legend, in the order of [`token_type`]'s indices.
pub fn token_legend() -> lsp::SemanticTokensLegend {
    use lsp::SemanticTokenType as T;
    lsp::SemanticTokensLegend {
        token_types: vec![
            T::KEYWORD,
            T::COMMENT,
            T::STRING,
            T::NUMBER,
            T::TYPE,
            T::VARIABLE,
            T::PROPERTY,
            T::ENUM_MEMBER,
            T::MACRO,
            T::CLASS,
            T::NAMESPACE,
            T::OPERATOR,
        ],
        token_modifiers: vec![lsp::SemanticTokenModifier::DECLARATION],
    }
}

fn token_type(kind: ide::TokenKind) -> u32 {
    use ide::TokenKind as K;
    match kind {
        K::Keyword => 0,
        K::Comment => 1,
        K::String => 2,
        K::Number => 3,
        K::Type => 4,
        K::Variable => 5,
        K::Property => 6,
        K::EnumMember => 7,
        K::Attribute => 8,
        K::Declaration => 9,
        K::Namespace => 10,
        K::Operator => 11,
    }
}

/// Tokens in LSP's relative encoding; each token is on one line already.
pub fn semantic_tokens(db: &SourceDb, tokens: &[ide::SemanticToken]) -> Vec<lsp::SemanticToken> {
    let mut out = Vec::with_capacity(tokens.len());
    let (mut last_line, mut last_start) = (0, 0);
    for token in tokens {
        let start = position(db, token.span.file, token.span.start);
        let end = position(db, token.span.file, token.span.end);
        if end.line != start.line || end.character <= start.character {
            continue;
        }
        let delta_line = start.line - last_line;
        let delta_start = if delta_line == 0 { start.character - last_start } else { start.character };
        out.push(lsp::SemanticToken {
            delta_line,
            delta_start,
            length: end.character - start.character,
            token_type: token_type(token.kind),
            token_modifiers_bitset: u32::from(token.declaration),
        });
        (last_line, last_start) = (start.line, start.character);
    }
    out
}

pub fn folding_range(db: &SourceDb, file: FileId, fold: &ide::FoldingRange) -> Option<lsp::FoldingRange> {
    let start = position(db, file, fold.start).line;
    let end = position(db, file, fold.end).line;
    (end > start).then(|| lsp::FoldingRange {
        start_line: start,
        end_line: end,
        kind: Some(match fold.kind {
            ide::FoldingKind::Region => lsp::FoldingRangeKind::Region,
            ide::FoldingKind::Comment => lsp::FoldingRangeKind::Comment,
            ide::FoldingKind::Imports => lsp::FoldingRangeKind::Imports,
        }),
        ..lsp::FoldingRange::default()
    })
}
