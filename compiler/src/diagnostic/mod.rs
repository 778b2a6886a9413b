//! Diagnostics as plain data.
//!
//! Every phase returns what it could build together with a `Vec<Diagnostic>`; nothing
//! in the core prints. The renderers in [`render`] turn diagnostics into text for a
//! terminal (codespan-reporting) or into JSON; the language server converts them to
//! LSP at its own edge.

pub mod codes;
pub mod render;

use crate::span::Span;
pub use codes::{Code, CodeInfo};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
    Note,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

/// A labelled range of source text; the primary label says where the mistake is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub message: String,
    pub primary: bool,
}

/// A machine-applicable edit, such as a did-you-mean replacement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suggestion {
    pub span: Span,
    pub replacement: String,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    pub labels: Vec<Label>,
    pub notes: Vec<String>,
    pub help: Option<String>,
    pub suggestions: Vec<Suggestion>,
}

impl Diagnostic {
    /// A diagnostic of `code` at its registered severity, with `span` as its primary label.
    pub fn new(code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: code.severity(),
            message: message.into(),
            labels: vec![Label { span, message: String::new(), primary: true }],
            notes: Vec::new(),
            help: None,
            suggestions: Vec::new(),
        }
    }

    /// Sets the text shown at the primary label.
    pub fn with_label_message(mut self, message: impl Into<String>) -> Diagnostic {
        if let Some(label) = self.labels.iter_mut().find(|l| l.primary) {
            label.message = message.into();
        }
        self
    }

    pub fn with_secondary(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.labels.push(Label { span, message: message.into(), primary: false });
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn with_severity(mut self, severity: Severity) -> Diagnostic {
        self.severity = severity;
        self
    }

    /// Adds a did-you-mean: help text and a replacement of `span` by `replacement`.
    pub fn with_did_you_mean(mut self, span: Span, replacement: &str) -> Diagnostic {
        self.help = Some(format!("did you mean `{replacement}`?"));
        self.suggestions.push(Suggestion {
            span,
            replacement: replacement.to_string(),
            message: format!("replace with `{replacement}`"),
        });
        self
    }

    pub fn primary_span(&self) -> Span {
        self.labels
            .iter()
            .find(|l| l.primary)
            .or(self.labels.first())
            .map(|l| l.span)
            .expect("a diagnostic always has a label")
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Sorts diagnostics by file, position and code, so output is stable across runs.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| {
        let (sa, sb) = (a.primary_span(), b.primary_span());
        (sa.file, sa.start, sa.end, a.code.0, &a.message).cmp(&(sb.file, sb.start, sb.end, b.code.0, &b.message))
    });
}

/// The candidate closest to `word`, if it is close enough to be a plausible typo.
///
/// Case differences alone always count as close, so `CLIENT` suggests `client`.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    let mut best: Option<(&str, f64)> = None;
    for candidate in candidates {
        if candidate == word {
            continue;
        }
        let score = if candidate.to_ascii_lowercase() == lower {
            1.0
        } else {
            let distance = strsim::damerau_levenshtein(&lower, &candidate.to_ascii_lowercase());
            let limit = (word.len().max(candidate.len()) / 3).max(1);
            if distance > limit {
                continue;
            }
            1.0 - distance as f64 / word.len().max(candidate.len()).max(1) as f64
        };
        if best.is_none_or(|(_, s)| score > s) {
            best = Some((candidate, score));
        }
    }
    best.map(|(c, _)| c)
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn suggests_near_misses_only() {
        let names = ["request.host", "request.headers", "response.code"];
        assert_eq!(did_you_mean("request.hots", names), Some("request.host"));
        assert_eq!(did_you_mean("CLIENT", ["client", "server"]), Some("client"));
        assert_eq!(did_you_mean("zzz", names), None);
    }
}
