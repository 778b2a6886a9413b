//! Parsing: text to AST, never failing, with one diagnostic per mistake.

pub mod ast;
mod grammar;
mod parse;

pub use parse::{KEYWORDS, STATEMENT_KEYWORDS, item_keywords, parse_file};
