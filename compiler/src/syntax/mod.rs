//! Parsing: text to AST, never failing, with one diagnostic per mistake.

pub(crate) mod ast;
mod grammar;
mod parse;

pub(crate) use parse::{KEYWORDS, STATEMENT_KEYWORDS, item_keywords, parse_file};
