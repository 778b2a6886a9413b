//! Parsing: text to AST, never failing, with one diagnostic per mistake.

pub mod ast;
mod grammar;
mod parse;

pub use parse::{ITEM_KEYWORDS, KEYWORDS, STATEMENT_KEYWORDS, parse_file};
