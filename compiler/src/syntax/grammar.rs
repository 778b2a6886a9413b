//! The pest parser derived from grammar/meshc.pest, the single source of the syntax.

#[derive(pest_derive::Parser)]
#[grammar = "../../grammar/meshc.pest"]
pub(crate) struct MeshParser;
