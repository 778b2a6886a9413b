//! Parsing: text to AST, never failing, with one diagnostic per mistake.

pub mod ast;
mod grammar;
mod parse;

pub use parse::parse_file;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::FileId;

    #[test]
    fn debug_dump() {
        let text = std::fs::read_to_string(std::env::var("MESH_DEBUG_FILE").unwrap_or_default()).unwrap_or_default();
        if text.is_empty() { return; }
        let (file, diags) = parse_file(FileId(0), &text);
        eprintln!("{file:#?}");
        for d in &diags { eprintln!("{} {} {:?} {:?} help={:?}", d.code, d.message, &text[d.primary_span().range()], d.labels, d.help); }
    }
}
