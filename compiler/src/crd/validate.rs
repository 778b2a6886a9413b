use crate::diagnostic::Diagnostic;
use crate::model::node::Node;
use crate::versions::IstioRelease;
pub fn validate(_document: &Node, _releases: &[&'static IstioRelease]) -> Vec<Diagnostic> {
    Vec::new()
}
