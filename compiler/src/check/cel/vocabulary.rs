//! The attribute vocabulary: the attributes `std.attributes` declares, by dotted path,
//! and the groups their paths pass through.

use super::types::CelType;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug)]
pub(crate) struct Attribute {
    pub path: String,
    pub ty: CelType,
    pub doc: String,
}

/// The attributes an expression may name, by dotted path.
#[derive(Clone, Debug, Default)]
pub(crate) struct Vocabulary {
    attributes: BTreeMap<String, Attribute>,
    /// Every proper prefix of an attribute's path (`request`, `xds`): a group of
    /// attributes, which is not a value itself but a step towards one.
    pub(super) groups: BTreeSet<String>,
}

impl Vocabulary {
    pub(crate) fn new(attributes: Vec<Attribute>) -> Vocabulary {
        let mut groups = BTreeSet::new();
        for attribute in &attributes {
            for (index, _) in attribute.path.match_indices('.') {
                groups.insert(attribute.path[..index].to_string());
            }
        }
        Vocabulary { attributes: attributes.into_iter().map(|a| (a.path.clone(), a)).collect(), groups }
    }

    pub(crate) fn get(&self, path: &str) -> Option<&Attribute> {
        self.attributes.get(path)
    }

    /// Every attribute, ordered by path.
    pub(crate) fn attributes(&self) -> impl Iterator<Item = &Attribute> {
        self.attributes.values()
    }

    /// The attributes directly or indirectly below `prefix` (`request` gives `request.*`),
    /// ordered by path.
    pub(crate) fn children(&self, prefix: &str) -> Vec<&Attribute> {
        let dotted = format!("{prefix}.");
        self.attributes
            .range(dotted.clone()..)
            .take_while(|(path, _)| path.starts_with(&dotted))
            .map(|(_, a)| a)
            .collect()
    }

    pub(super) fn is_group(&self, path: &str) -> bool {
        self.groups.contains(path)
    }

    /// The names one step below a group (`host`, `path`, ... for `request`), in order.
    pub(super) fn members(&self, group: &str) -> Vec<String> {
        let mut members: Vec<String> = Vec::new();
        for attribute in self.children(group) {
            let rest = &attribute.path[group.len() + 1..];
            let name = rest.split('.').next().unwrap_or(rest);
            if members.last().is_none_or(|last| last != name) {
                members.push(name.to_string());
            }
        }
        members
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::vocabulary;
    use super::super::types::parse_type_name;
    use super::*;

    #[test]
    fn the_vocabulary_knows_groups_and_children() {
        let vocabulary = vocabulary();
        assert_eq!(vocabulary.get("response.code").map(|a| &a.ty), Some(&CelType::Int));
        let children: Vec<&str> = vocabulary.children("response").iter().map(|a| a.path.as_str()).collect();
        assert_eq!(children, ["response.code", "response.flags", "response.headers"]);
        assert!(vocabulary.is_group("xds") && !vocabulary.is_group("xds.node"));
        assert!(vocabulary.children("respons").is_empty());
    }

    #[test]
    fn the_stdlib_declares_every_attribute_once_with_a_type_and_a_doc_comment() {
        let text = include_str!("../../../../stdlib/attributes.mesh");
        let lines: Vec<&str> = text.lines().collect();
        let mut seen = BTreeSet::new();
        for (index, line) in lines.iter().enumerate() {
            let Some(declaration) = line.strip_prefix("attribute ") else { continue };
            let (path, ty) = declaration.split_once(':').expect("attribute PATH: TYPE");
            assert!(parse_type_name(ty).is_some(), "{line}");
            assert!(seen.insert(path.trim()), "declared twice: {path}");
            assert!(index > 0 && lines[index - 1].starts_with("/// "), "no doc comment: {line}");
        }
        for expected in
            ["request.path", "request.headers", "response.code", "connection.mtls", "xds.node", "filter_state"]
        {
            assert!(seen.contains(expected), "{expected}");
        }
    }
}
