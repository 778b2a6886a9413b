//! Renderers: diagnostics to text (codespan-reporting) and to JSON.
//!
//! Both are pure functions of the diagnostics and the [`SourceDb`]; the CLI decides
//! where the text goes and whether it is coloured.

use super::{Diagnostic, Severity};
use crate::source::SourceDb;
use crate::span::{FileId, Span};
use codespan_reporting::diagnostic as cs;
use codespan_reporting::files::{Error as FilesError, Files};
use codespan_reporting::term;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
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
        let emitted = match clip_long_lines(db, diagnostic) {
            Some((clipped_files, clipped)) => {
                term::emit_to_string(&mut out, &config, &clipped_files, &to_codespan(&clipped))
            }
            None => term::emit_to_string(&mut out, &config, &files, &to_codespan(diagnostic)),
        };
        // Rendering only fails for spans outside their file, which is a compiler bug;
        // fall back to the message alone rather than losing the diagnostic.
        if emitted.is_err() {
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
        let emitted = match clip_long_lines(db, diagnostic) {
            Some((clipped_files, clipped)) => {
                term::emit_to_write_style(writer, &config, &clipped_files, &to_codespan(&clipped))
            }
            None => term::emit_to_write_style(writer, &config, &files, &to_codespan(diagnostic)),
        };
        emitted.map_err(std::io::Error::other)?;
    }
    Ok(())
}

/// The most characters of a source line a rendered snippet shows; a longer line is
/// cut to a window around the labels on it, with `…` where text was left out. A
/// minified or generated file can have lines of megabytes, and codespan prints a
/// line once per label.
const MAX_SNIPPET_LINE: usize = 160;

/// Copies of the files a diagnostic points into, with its long lines cut down, and
/// the diagnostic with its spans moved into those copies; `None` when no line it
/// points at is long.
fn clip_long_lines(db: &SourceDb, diagnostic: &Diagnostic) -> Option<(ClippedFiles, Diagnostic)> {
    // The byte offsets the diagnostic points at, by file and line.
    let mut points: BTreeMap<(FileId, usize), Vec<u32>> = BTreeMap::new();
    let spans = diagnostic.labels.iter().map(|l| l.span).chain(diagnostic.suggestions.iter().map(|s| s.span));
    for span in spans {
        let index = &db.get(span.file).line_index;
        for offset in [span.start, span.end] {
            points.entry((span.file, index.line_of(offset))).or_default().push(offset);
        }
    }
    let line_range = |file: FileId, line: usize| {
        let source = db.get(file);
        let start = source.line_index.line_start(line) as usize;
        let end = source.text[start..].find('\n').map_or(source.text.len(), |i| start + i);
        (start, end)
    };
    let long: Vec<(FileId, usize)> = points
        .keys()
        .copied()
        .filter(|&(file, line)| {
            let (start, end) = line_range(file, line);
            db.text(file)[start..end].chars().count() > MAX_SNIPPET_LINE
        })
        .collect();
    if long.is_empty() {
        return None;
    }
    let mut clipped = ClippedFiles { files: Vec::new(), windows: Vec::new() };
    // Each cut line: its window's start and end in the original, the line's end in the
    // original, and where the window starts and the rest of the file resumes in the copy.
    let mut windows: Vec<(FileId, usize, usize, usize, usize, usize)> = Vec::new();
    // The same windows as the copies see them, for the columns of the header line.
    let mut copy_windows: Vec<Window> = Vec::new();
    let mut ids: BTreeMap<FileId, FileId> = BTreeMap::new();
    for &(file, _) in points.keys() {
        if ids.contains_key(&file) {
            continue;
        }
        ids.insert(file, FileId(clipped.files.len() as u32));
        let text = db.text(file);
        let mut out = String::with_capacity(text.len().min(1 << 16));
        let mut cursor = 0;
        for &(_, line) in long.iter().filter(|(f, _)| *f == file) {
            let (start, end) = line_range(file, line);
            let offsets = &points[&(file, line)];
            let low = *offsets.iter().min().expect("a point") as usize;
            let high = *offsets.iter().max().expect("a point") as usize;
            let room = MAX_SNIPPET_LINE.saturating_sub(text[low..high].chars().count()) / 2;
            let mut from = back_chars(text, low, room.max(10)).max(start);
            let mut to = forward_chars(text, high, room.max(10)).min(end);
            // Cutting a few characters saves nothing and hides the line's start or end.
            if text[start..from].chars().count() < 20 {
                from = start;
            }
            if text[to..end].chars().count() < 20 {
                to = end;
            }
            out.push_str(&text[cursor..start]);
            if from > start {
                out.push('…');
            }
            let copy_from = out.len();
            let columns_before = text[start..from].chars().count();
            copy_windows.push(Window {
                copy: FileId(clipped.files.len() as u32),
                start: out.len(),
                end: out.len() + (to - from),
                columns_before,
            });
            out.push_str(&text[from..to]);
            if to < end {
                out.push('…');
            }
            windows.push((file, from, to, end, copy_from, out.len()));
            cursor = end;
        }
        out.push_str(&text[cursor..]);
        clipped.files.push((db.path(file).to_string(), out));
    }
    clipped.windows = copy_windows;
    // Offsets in a window move with it; offsets elsewhere on the file move by what the
    // cuts before them removed.
    let relocate = |span: Span| -> Option<Span> {
        let copy = *ids.get(&span.file)?;
        let moved = |offset: u32| -> u32 {
            let offset = offset as usize;
            let mut shift: isize = 0;
            for &(file, from, to, end, copy_from, copy_resume) in &windows {
                if file != span.file {
                    continue;
                }
                if (from..=to).contains(&offset) {
                    return (copy_from + offset - from) as u32;
                }
                if offset > to && offset < end {
                    // Cut away with the rest of the line: at the `…`.
                    return (copy_from + (to - from)) as u32;
                }
                if offset >= end {
                    shift = copy_resume as isize - end as isize;
                }
            }
            (offset as isize + shift).max(0) as u32
        };
        Some(Span::new(copy, moved(span.start), moved(span.end).max(moved(span.start))))
    };
    let mut moved = diagnostic.clone();
    for label in &mut moved.labels {
        label.span = relocate(label.span)?;
    }
    moved.suggestions.clear();
    Some((clipped, moved))
}

/// The offset `count` characters before `offset` (or the start of the text).
fn back_chars(text: &str, offset: usize, count: usize) -> usize {
    text[..offset].char_indices().rev().nth(count.saturating_sub(1)).map_or(0, |(i, _)| i)
}

/// The offset `count` characters after `offset` (or the end of the text).
fn forward_chars(text: &str, offset: usize, count: usize) -> usize {
    text[offset..].char_indices().nth(count).map_or(text.len(), |(i, _)| offset + i)
}

/// Copies of files with their long lines cut, for rendering one diagnostic.
struct ClippedFiles {
    files: Vec<(String, String)>,
    windows: Vec<Window>,
}

/// The kept part of a cut line, in a copy: where it stands, and how many characters
/// of the original line came before it, so columns are those of the original.
struct Window {
    copy: FileId,
    start: usize,
    end: usize,
    columns_before: usize,
}

impl<'a> Files<'a> for ClippedFiles {
    type FileId = FileId;
    type Name = &'a str;
    type Source = &'a str;

    fn name(&'a self, id: FileId) -> Result<&'a str, FilesError> {
        self.files.get(id.0 as usize).map(|(name, _)| name.as_str()).ok_or(FilesError::FileMissing)
    }

    fn source(&'a self, id: FileId) -> Result<&'a str, FilesError> {
        self.files.get(id.0 as usize).map(|(_, text)| text.as_str()).ok_or(FilesError::FileMissing)
    }

    fn line_index(&'a self, id: FileId, byte_index: usize) -> Result<usize, FilesError> {
        let text = self.source(id)?;
        Ok(text[..byte_index.min(text.len())].bytes().filter(|b| *b == b'\n').count())
    }

    fn line_range(&'a self, id: FileId, line_index: usize) -> Result<Range<usize>, FilesError> {
        let text = self.source(id)?;
        let mut start = 0;
        for _ in 0..line_index {
            start = text[start..].find('\n').map(|i| start + i + 1).ok_or(FilesError::LineTooLarge {
                given: line_index,
                max: text.bytes().filter(|b| *b == b'\n').count(),
            })?;
        }
        let end = text[start..].find('\n').map_or(text.len(), |i| start + i + 1);
        Ok(start..end)
    }

    fn column_number(&'a self, id: FileId, line_index: usize, byte_index: usize) -> Result<usize, FilesError> {
        let text = self.source(id)?;
        if let Some(window) = self.windows.iter().find(|w| w.copy == id && (w.start..=w.end).contains(&byte_index)) {
            return Ok(window.columns_before + text[window.start..byte_index].chars().count() + 1);
        }
        let line = self.line_range(id, line_index)?;
        Ok(text[line.start..byte_index.min(line.end).max(line.start)].chars().count() + 1)
    }
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

/// A SARIF region: 1-based lines and UTF-16 columns (SARIF's default column kind).
fn sarif_region(db: &SourceDb, span: Span) -> serde_json::Value {
    let source = db.get(span.file);
    let (start_line, start_column) = source.line_index.utf16_position(&source.text, span.start);
    let (end_line, end_column) = source.line_index.utf16_position(&source.text, span.end);
    serde_json::json!({
        "startLine": start_line + 1,
        "startColumn": start_column + 1,
        "endLine": end_line + 1,
        "endColumn": end_column + 1,
        "byteOffset": span.start,
        "byteLength": span.end - span.start,
    })
}

fn sarif_location(db: &SourceDb, span: Span, message: Option<&str>) -> serde_json::Value {
    let mut location = serde_json::json!({
        "physicalLocation": {
            "artifactLocation": { "uri": db.path(span.file) },
            "region": sarif_region(db, span),
        }
    });
    if let Some(message) = message.filter(|m| !m.is_empty()) {
        location["message"] = serde_json::json!({ "text": message });
    }
    location
}

/// Renders diagnostics as a SARIF 2.1.0 log for code-scanning tools: one run of
/// meshc, a rule per code that occurs (with its documentation), and a result per
/// diagnostic with its primary location, the other labels as related locations, and
/// each suggestion as a fix.
pub fn render_sarif(db: &SourceDb, diagnostics: &[Diagnostic], tool_version: &str) -> String {
    let mut codes: Vec<&str> = diagnostics.iter().map(|d| d.code.as_str()).collect();
    codes.sort_unstable();
    codes.dedup();
    let rules: Vec<serde_json::Value> = codes
        .iter()
        .map(|code| {
            let info = super::codes::lookup(code);
            serde_json::json!({
                "id": code,
                "shortDescription": { "text": info.map(|i| i.title).unwrap_or_default() },
                "fullDescription": { "text": info.map(|i| i.explanation).unwrap_or_default() },
                "help": { "text": format!("meshc explain {code}") },
            })
        })
        .collect();
    let results: Vec<serde_json::Value> = diagnostics
        .iter()
        .map(|d| {
            let primary = d.labels.iter().find(|l| l.primary).or(d.labels.first());
            let mut text = d.message.clone();
            for note in &d.notes {
                text.push_str(&format!("\nnote: {note}"));
            }
            if let Some(help) = &d.help {
                text.push_str(&format!("\nhelp: {help}"));
            }
            let mut result = serde_json::json!({
                "ruleId": d.code.as_str(),
                "ruleIndex": codes.iter().position(|c| *c == d.code.as_str()),
                "level": match d.severity {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                    Severity::Note => "note",
                },
                "message": { "text": text },
                "locations": primary.map(|l| vec![sarif_location(db, l.span, Some(&l.message))]).unwrap_or_default(),
            });
            let related: Vec<serde_json::Value> = d
                .labels
                .iter()
                .filter(|l| !l.primary)
                .enumerate()
                .map(|(id, l)| {
                    let mut location = sarif_location(db, l.span, Some(&l.message));
                    location["id"] = serde_json::json!(id);
                    location
                })
                .collect();
            if !related.is_empty() {
                result["relatedLocations"] = serde_json::Value::Array(related);
            }
            let fixes: Vec<serde_json::Value> = d
                .suggestions
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "description": { "text": s.message },
                        "artifactChanges": [{
                            "artifactLocation": { "uri": db.path(s.span.file) },
                            "replacements": [{
                                "deletedRegion": sarif_region(db, s.span),
                                "insertedContent": { "text": s.replacement },
                            }],
                        }],
                    })
                })
                .collect();
            if !fixes.is_empty() {
                result["fixes"] = serde_json::Value::Array(fixes);
            }
            result
        })
        .collect();
    let log = serde_json::json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "meshc",
                "version": tool_version,
                "rules": rules,
            }},
            "columnKind": "utf16CodeUnits",
            "results": results,
        }],
    });
    let mut json = serde_json::to_string_pretty(&log).expect("a SARIF log serialises");
    json.push('\n');
    json
}

/// Renders diagnostics as GitHub Actions workflow commands (`::error file=...::`),
/// which annotate the lines of a pull request. Values are escaped as the runner
/// expects: `%`, CR and LF everywhere, and `:` and `,` in properties too.
pub fn render_github(db: &SourceDb, diagnostics: &[Diagnostic]) -> String {
    fn data(text: &str) -> String {
        text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
    }
    fn property(text: &str) -> String {
        data(text).replace(':', "%3A").replace(',', "%2C")
    }
    let mut out = String::new();
    for d in diagnostics {
        let span = d.primary_span();
        let source = db.get(span.file);
        let start = source.line_index.line_col(&source.text, span.start);
        let end = source.line_index.line_col(&source.text, span.end);
        let command = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "notice",
        };
        let mut message = d.message.clone();
        if let Some(help) = &d.help {
            message.push_str(&format!("\nhelp: {help}"));
        }
        let _ = writeln!(
            out,
            "::{command} file={},line={},col={},endLine={},endColumn={},title={}::{}",
            property(db.path(span.file)),
            start.line,
            start.column,
            end.line,
            end.column.max(start.column + 1),
            property(&format!("meshc {}", d.code.as_str())),
            data(&message)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::codes;
    use crate::source::SourceKind;

    #[test]
    fn sarif_and_github_point_at_the_same_place() {
        let mut db = SourceDb::new();
        let file = db.add("pkg/main.mesh", "package p\n  tracing zipkn, x\n".to_string(), SourceKind::Package);
        let diagnostic =
            Diagnostic::new(codes::UNKNOWN_PROVIDER, Span::new(file, 20, 25), "unknown provider `zipkn`, 100%")
                .with_label_message("here")
                .with_did_you_mean(Span::new(file, 20, 25), "zipkin");
        let sarif: serde_json::Value =
            serde_json::from_str(&render_sarif(&db, &[diagnostic.clone()], "0.1.0")).unwrap();
        let result = &sarif["runs"][0]["results"][0];
        assert_eq!(result["ruleId"], "E0203");
        assert_eq!(result["level"], "error");
        let region = &result["locations"][0]["physicalLocation"]["region"];
        assert_eq!((region["startLine"].as_u64(), region["startColumn"].as_u64()), (Some(2), Some(11)));
        assert_eq!(result["fixes"][0]["artifactChanges"][0]["replacements"][0]["insertedContent"]["text"], "zipkin");
        assert_eq!(sarif["runs"][0]["tool"]["driver"]["rules"][0]["id"], "E0203");
        let github = render_github(&db, &[diagnostic]);
        assert_eq!(
            github,
            "::error file=pkg/main.mesh,line=2,col=11,endLine=2,endColumn=16,title=meshc E0203::unknown provider `zipkn`, 100%25%0Ahelp: did you mean `zipkin`?\n"
        );
    }

    /// A mistake in the middle of a 500 KB line shows a window of it, once, with the
    /// column of the original line.
    #[test]
    fn long_lines_are_cut_around_the_labels() {
        let line = format!("{}MISTAKE{}", "a ".repeat(125_000), " b".repeat(125_000));
        let mut db = SourceDb::new();
        let file = db.add("long.mesh", format!("first line\n{line}\nlast line\n"), SourceKind::Package);
        let start = 11 + 250_000;
        let diagnostic = Diagnostic::new(codes::SYNTAX, Span::new(file, start, start + 7), "a mistake")
            .with_label_message("here")
            .with_secondary(Span::new(file, start + 8, start + 9), "and here");
        let rendered = render_plain(&db, &[diagnostic]);
        assert!(rendered.len() < 2_000, "{} bytes:\n{rendered}", rendered.len());
        assert!(rendered.contains("long.mesh:2:250001"), "{rendered}");
        assert!(rendered.contains("2 │ … a a a"), "{rendered}");
        assert!(rendered.contains("a a MISTAKE b b"), "{rendered}");
        assert!(rendered.contains(" b …\n"), "{rendered}");
        assert!(rendered.contains("^^^^^^^ - and here"), "{rendered}");
    }

    /// Labels on the lines after a cut line stay on their own lines: the cut's
    /// removed text moves them back by exactly its length.
    #[test]
    fn labels_after_a_cut_line_keep_their_lines() {
        let long = format!("let deep = {}", "{ a: ".repeat(40));
        let text = format!("package shop\n\n{long}\n\ntelemetry t mesh {{\n}}\n");
        let mut db = SourceDb::new();
        let file = db.add("deep.mesh", text.clone(), SourceKind::Package);
        let let_start = text.find("let").unwrap() as u32;
        let blank = (text.find("\n\ntelemetry").unwrap() + 1) as u32;
        let telemetry = text.find("telemetry").unwrap() as u32;
        let diagnostic = Diagnostic::new(codes::SYNTAX, Span::new(file, blank, blank), "incomplete")
            .with_label_message("expected a value")
            .with_secondary(Span::new(file, let_start, let_start + 3), "in this declaration")
            .with_secondary(Span::new(file, telemetry, telemetry + 9), "next");
        let rendered = render_plain(&db, &[diagnostic]);
        assert!(rendered.contains("deep.mesh:4:1"), "{rendered}");
        assert!(rendered.contains("4 │ \n") || rendered.contains("4 │\n"), "{rendered}");
        assert!(rendered.contains("5 │ telemetry t mesh {\n  │ --------- next"), "{rendered}");
    }
}
