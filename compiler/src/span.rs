//! Byte-offset spans and the one place that turns them into lines and columns.
//!
//! Everything inside the compiler speaks in byte offsets into a file's text; line
//! and column numbers (and the UTF-16 columns LSP wants) are computed only at the
//! edges, by [`LineIndex`].

use serde::Serialize;

/// Identifies one source text in a [`crate::source::SourceDb`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct FileId(pub u32);

/// A half-open byte range `start..end` in one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: FileId, start: u32, end: u32) -> Span {
        debug_assert!(start <= end, "span start {start} after end {end}");
        Span { file, start, end }
    }

    /// The smallest span that covers both; both must be in the same file.
    pub fn cover(self, other: Span) -> Span {
        Span::new(self.file, self.start.min(other.start), self.end.max(other.end))
    }

    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }

    pub fn len(self) -> u32 {
        self.end - self.start
    }

    pub fn is_empty(self) -> bool {
        self.start == self.end
    }

    /// This span cut short to end at `end` (an offset in the file), for pointing at
    /// the first words of a long statement.
    pub fn sub_to(self, end: u32) -> Span {
        Span::new(self.file, self.start, end.clamp(self.start, self.end))
    }

    /// A span of the given byte range relative to this span's start.
    pub fn sub(self, start: u32, end: u32) -> Span {
        Span::new(self.file, self.start + start, self.start + end)
    }
}

/// A one-based line and column; the column counts characters (Unicode scalar values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct LineCol {
    pub line: u32,
    pub column: u32,
}

/// Line starts of one text, for converting byte offsets at the edges.
///
/// Columns come in two flavours because humans and JSON readers count characters,
/// while LSP counts UTF-16 code units.
#[derive(Clone, Debug)]
pub struct LineIndex {
    line_starts: Vec<u32>,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let mut line_starts = vec![0];
        for (offset, byte) in text.bytes().enumerate() {
            if byte == b'\n' {
                line_starts.push(offset as u32 + 1);
            }
        }
        LineIndex { line_starts }
    }

    /// The zero-based line that contains `offset`.
    pub fn line_of(&self, offset: u32) -> usize {
        match self.line_starts.binary_search(&offset) {
            Ok(line) => line,
            Err(next) => next - 1,
        }
    }

    pub fn line_start(&self, line: usize) -> u32 {
        self.line_starts[line]
    }

    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }

    /// One-based line and character column of a byte offset; offsets inside a
    /// multi-byte character count as that character.
    pub fn line_col(&self, text: &str, offset: u32) -> LineCol {
        let offset = offset.min(text.len() as u32);
        let line = self.line_of(offset);
        let start = self.line_starts[line] as usize;
        let column = text[start..].char_indices().take_while(|(i, _)| start + i < offset as usize).count();
        LineCol { line: line as u32 + 1, column: column as u32 + 1 }
    }

    /// Zero-based line and UTF-16 column, as LSP positions count them.
    pub fn utf16_position(&self, text: &str, offset: u32) -> (u32, u32) {
        let offset = (offset as usize).min(text.len());
        let line = self.line_of(offset as u32);
        let start = self.line_starts[line] as usize;
        let column: usize =
            text[start..].char_indices().take_while(|(i, _)| start + i < offset).map(|(_, c)| c.len_utf16()).sum();
        (line as u32, column as u32)
    }

    /// The byte offset of a zero-based line and UTF-16 column, clamped to the text.
    pub fn offset_of_utf16(&self, text: &str, line: u32, column: u32) -> u32 {
        let Some(&start) = self.line_starts.get(line as usize) else {
            return text.len() as u32;
        };
        let mut units = 0u32;
        for (i, c) in text[start as usize..].char_indices() {
            if units >= column || c == '\n' {
                return start + i as u32;
            }
            units += c.len_utf16() as u32;
        }
        text.len() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_characters_and_utf16_units() {
        let text = "ab\né𝄞x\n";
        let index = LineIndex::new(text);
        let x = text.find('x').unwrap() as u32;
        assert_eq!(index.line_col(text, x), LineCol { line: 2, column: 3 });
        assert_eq!(index.utf16_position(text, x), (1, 3));
        assert_eq!(index.offset_of_utf16(text, 1, 3), x);
    }
}
