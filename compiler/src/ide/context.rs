//! Where the cursor stands, read from the text before it.
//!
//! The scan keeps a stack of the braces and brackets still open at the cursor, each
//! with its header (the text of its statement before the `{`, such as `patch cluster`
//! or `typed_config: envoy.extensions.filters.http.lua.v3.Lua`), and the text of the
//! statement the cursor is in. Strings and comments are skipped. Being lexical, it
//! reads a half-typed file as well as a finished one.

/// An open `{` or `[` before the cursor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Frame {
    pub open: u32,
    pub bracket: bool,
    /// The statement text before the opening character, trimmed.
    pub header: String,
}

impl Frame {
    /// The header's words, with a trailing `:` kept on its word.
    pub(super) fn words(&self) -> Vec<&str> {
        self.header.split_whitespace().collect()
    }

    pub(super) fn first_word(&self) -> &str {
        self.header.split_whitespace().next().unwrap_or("")
    }

    /// The key of a `key: {` or `key {` header, when the header is just that.
    pub(super) fn key(&self) -> Option<&str> {
        let words = self.words();
        match words.as_slice() {
            [key] => Some(key.trim_end_matches(':').trim_matches('"')),
            [key, ":"] => Some(key.trim_matches('"')),
            _ => None,
        }
    }
}

/// What the text before an offset says.
#[derive(Clone, Debug)]
pub(crate) struct Cursor {
    pub frames: Vec<Frame>,
    /// The text of the current statement from its start to the cursor.
    pub segment: String,
    /// Inside a string or a comment, where nothing is completed.
    pub in_literal: bool,
}

impl Cursor {
    /// The words of the statement before the word being typed, and that word.
    pub(super) fn split(&self) -> (Vec<&str>, &str) {
        let trimmed = self.segment.trim_start();
        let typing_start = trimmed.rfind(|c: char| !(c.is_ascii() && super::is_word_byte(c as u8))).map(|i| i + 1);
        let (before, typing) = match typing_start {
            Some(i) => trimmed.split_at(i),
            None => ("", trimmed),
        };
        (before.split_whitespace().collect(), typing)
    }
}

/// Whether a header opens a value (an object, a message) rather than a block of
/// statements; inside values `,` separates entries.
pub(crate) fn opens_value(frame: &Frame) -> bool {
    if frame.bracket {
        return true;
    }
    let words = frame.words();
    let Some(last) = words.last() else { return true };
    last.ends_with(':')
        || *last == "value"
        || *last == "workload"
        || words.first() == Some(&"config")
        || words.first() == Some(&"insert")
        || is_type_path(last)
}

/// A dotted path whose last segment starts with an upper-case letter: a message type.
pub(crate) fn is_type_path(word: &str) -> bool {
    word.contains('.') && word.rsplit('.').next().is_some_and(|s| s.starts_with(|c: char| c.is_ascii_uppercase()))
}

pub(crate) fn cursor_at(text: &str, offset: u32) -> Cursor {
    let bytes = text.as_bytes();
    let end = (offset as usize).min(bytes.len());
    let mut frames: Vec<Frame> = Vec::new();
    let mut segment_start = 0usize;
    let mut i = 0usize;
    let mut in_literal = false;
    while i < end {
        let b = bytes[i];
        match b {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let stop = text[i..].find('\n').map(|n| i + n).unwrap_or(bytes.len());
                if stop >= end {
                    in_literal = true;
                    break;
                }
                i = stop;
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let stop = text[i + 2..].find("*/").map(|n| i + 2 + n + 2).unwrap_or(bytes.len());
                if stop > end {
                    in_literal = true;
                    break;
                }
                i = stop;
                continue;
            }
            b'"' if text[i..].starts_with("\"\"\"") => {
                let stop = text[i + 3..].find("\"\"\"").map(|n| i + 3 + n + 3).unwrap_or(bytes.len());
                if stop > end {
                    in_literal = true;
                    break;
                }
                i = stop;
                continue;
            }
            b'"' | b'\'' => {
                let mut j = i + 1;
                while j < bytes.len() && bytes[j] != b && bytes[j] != b'\n' {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
                let stop = (j + 1).min(bytes.len());
                if stop > end || (j < bytes.len() && bytes[j] == b'\n' && j >= end) {
                    in_literal = true;
                    break;
                }
                i = stop;
                continue;
            }
            b'{' | b'[' => {
                let header = text[segment_start..i].trim().to_string();
                frames.push(Frame { open: i as u32, bracket: b == b'[', header });
                segment_start = i + 1;
            }
            b'}' | b']' => {
                frames.pop();
                segment_start = i + 1;
            }
            b'\n' | b';' => segment_start = i + 1,
            b',' if frames.last().is_some_and(opens_value) => segment_start = i + 1,
            _ => {}
        }
        i += 1;
    }
    let segment_start = segment_start.min(end);
    Cursor { frames, segment: text[segment_start..end].to_string(), in_literal }
}
