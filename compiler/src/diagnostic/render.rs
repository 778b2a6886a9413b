//! Renderers: diagnostics to text (codespan-reporting) and to JSON.
//!
//! Both are pure functions of the diagnostics and the [`SourceDb`]; the CLI decides
//! where the text goes and whether it is coloured.

use super::{Diagnostic, Severity};
use crate::source::SourceDb;
use crate::span::FileId;
use codespan_reporting::diagnostic as cs;
use codespan_reporting::files::{Error as FilesError, Files};
use codespan_reporting::term;
use serde::Serialize;
use std::ops::Range;

/// Adapts the [`SourceDb`] to codespan-reporting, reusing our line index.
struct DbFiles<'a>(&'a SourceDb);

impl<'a> Files<'a> for DbFiles<'a> {
    type FileId = FileId;
    type Name = &'a str;
    type Source = &'a str;

    fn name(&'a self, id: FileId) -> Result<&'a str, FilesError> {
        Ok(self.0.path(id))
    }

    fn source(&'a self, id: FileId) -> Result<&'a str, FilesError> {
        Ok(self.0.text(id))
    }

    fn line_index(&'a self, id: FileId, byte_index: usize) -> Result<usize, FilesError> {
        Ok(self.0.get(id).line_index.line_of(byte_index as u32))
    }

    fn line_range(&'a self, id: FileId, line_index: usize) -> Result<Range<usize>, FilesError> {
        let file = self.0.get(id);
        let index = &file.line_index;
        if line_index >= index.line_count() {
            return Err(FilesError::LineTooLarge { given: line_index, max: index.line_count() - 1 });
        }
        let start = index.line_start(line_index) as usize;
        let end = if line_index + 1 < index.line_count() {
            index.line_start(line_index + 1) as usize
        } else {
            file.text.len()
        };
        Ok(start..end)
    }
}

fn to_codespan(diagnostic: &Diagnostic) -> cs::Diagnostic<FileId> {
    let severity = match diagnostic.severity {
        Severity::Error => cs::Severity::Error,
        Severity::Warning => cs::Severity::Warning,
        Severity::Note => cs::Severity::Note,
    };
    let labels = diagnostic
        .labels
        .iter()
        .map(|label| {
            let style = if label.primary { cs::LabelStyle::Primary } else { cs::LabelStyle::Secondary };
            cs::Label::new(style, label.span.file, label.span.range()).with_message(label.message.clone())
        })
        .collect();
    let mut notes = diagnostic.notes.clone();
    if let Some(help) = &diagnostic.help {
        notes.push(format!("help: {help}"));
    }
    cs::Diagnostic::new(severity)
        .with_code(diagnostic.code.as_str())
        .with_message(diagnostic.message.clone())
        .with_labels(labels)
        .with_notes(notes)
}

/// Renders diagnostics as a person reads them in a terminal, without colour.
pub fn render_plain(db: &SourceDb, diagnostics: &[Diagnostic]) -> String {
    let config = term::Config::default();
    let files = DbFiles(db);
    let mut out = String::new();
    for diagnostic in diagnostics {
        // Rendering only fails for spans outside their file, which is a compiler bug;
        // fall back to the message alone rather than losing the diagnostic.
        if term::emit_to_string(&mut out, &config, &files, &to_codespan(diagnostic)).is_err() {
            out.push_str(&format!("{}[{}]: {}\n", diagnostic.severity.as_str(), diagnostic.code, diagnostic.message));
        }
    }
    out
}

/// Renders diagnostics with ANSI colours into `writer`.
pub fn render_coloured(
    db: &SourceDb,
    diagnostics: &[Diagnostic],
    writer: &mut dyn term::WriteStyle,
) -> std::io::Result<()> {
    let config = term::Config::default();
    let files = DbFiles(db);
    for diagnostic in diagnostics {
        term::emit_to_write_style(writer, &config, &files, &to_codespan(diagnostic)).map_err(std::io::Error::other)?;
    }
    Ok(())
}

/// One diagnostic in the `--format json` output; lines and columns are one-based,
/// columns count characters, and `end` is exclusive.
#[derive(Serialize)]
pub struct JsonDiagnostic<'a> {
    pub code: &'a str,
    pub severity: &'a str,
    pub message: &'a str,
    pub file: &'a str,
    pub start: JsonPosition,
    pub end: JsonPosition,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suggestions: Vec<JsonSuggestion<'a>>,
}

#[derive(Serialize)]
pub struct JsonPosition {
    pub line: u32,
    pub column: u32,
    pub offset: u32,
}

#[derive(Serialize)]
pub struct JsonSuggestion<'a> {
    pub message: &'a str,
    pub replacement: &'a str,
    pub start: JsonPosition,
    pub end: JsonPosition,
}

fn position(db: &SourceDb, file: FileId, offset: u32) -> JsonPosition {
    let source = db.get(file);
    let lc = source.line_index.line_col(&source.text, offset);
    JsonPosition { line: lc.line, column: lc.column, offset }
}

/// Renders diagnostics as a JSON array, one object per diagnostic.
pub fn render_json(db: &SourceDb, diagnostics: &[Diagnostic]) -> String {
    let items: Vec<JsonDiagnostic> = diagnostics
        .iter()
        .map(|d| {
            let span = d.primary_span();
            JsonDiagnostic {
                code: d.code.as_str(),
                severity: d.severity.as_str(),
                message: &d.message,
                file: db.path(span.file),
                start: position(db, span.file, span.start),
                end: position(db, span.file, span.end),
                notes: d.notes.iter().map(String::as_str).collect(),
                help: d.help.as_deref(),
                suggestions: d
                    .suggestions
                    .iter()
                    .map(|s| JsonSuggestion {
                        message: &s.message,
                        replacement: &s.replacement,
                        start: position(db, s.span.file, s.span.start),
                        end: position(db, s.span.file, s.span.end),
                    })
                    .collect(),
            }
        })
        .collect();
    let mut json = serde_json::to_string_pretty(&items).expect("diagnostics serialise");
    json.push('\n');
    json
}
