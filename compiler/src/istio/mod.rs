//! The Istio output: the resource model and its YAML form.

pub mod emit;
pub mod model;
