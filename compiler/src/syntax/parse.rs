use super::grammar::{MeshParser, Rule};
use pest::Parser;
pub fn parse_file(text: &str) -> bool { MeshParser::parse(Rule::file, text).is_ok() }
