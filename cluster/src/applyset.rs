//! ApplySets (KEP-3659), as `kubectl apply --prune --applyset` writes them: a parent
//! object whose `applyset.kubernetes.io/id` label is derived from its own identity, and
//! members labelled `applyset.kubernetes.io/part-of` with that id. Pruning deletes only
//! objects that carry the label, in the kinds and namespaces the parent lists, so a
//! second package's ApplySet (another id) is never touched.
//!
//! Pure: no IO. `meshc build --applyset` uses it to label resources for GitOps flows,
//! `meshc apply` to label what it applies and to find what to prune.

use base64::Engine;
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

pub const ID_LABEL: &str = "applyset.kubernetes.io/id";
pub const PART_OF_LABEL: &str = "applyset.kubernetes.io/part-of";
pub const TOOLING_ANNOTATION: &str = "applyset.kubernetes.io/tooling";
pub const GROUP_KINDS_ANNOTATION: &str = "applyset.kubernetes.io/contains-group-kinds";
pub const NAMESPACES_ANNOTATION: &str = "applyset.kubernetes.io/additional-namespaces";
/// The package whose set it is: two packages that would share a parent (the same name
/// and root namespace, or `--applyset` naming another package's parent) are told apart.
pub const PACKAGE_ANNOTATION: &str = "meshc.dev/package";

/// The tool name every meshc parent carries; a parent with another tool's name is
/// refused, as the KEP asks of every tool.
pub const TOOL: &str = "meshc";

/// The parent of one package's ApplySet: a ConfigMap (kubectl's `--applyset=configmap/NAME`;
/// a ConfigMap rather than kubectl's default Secret, because reading Secrets is the
/// permission clusters guard most).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplySet {
    pub name: String,
    pub namespace: String,
    /// The package the set belongs to.
    pub package: String,
}

/// A group and kind, written `Kind.group` (`Kind` for the core group) as kubectl writes
/// them into `contains-group-kinds`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupKind {
    pub group: String,
    pub kind: String,
}

impl GroupKind {
    pub fn of(object: &Json) -> GroupKind {
        let api_version = object["apiVersion"].as_str().unwrap_or_default();
        let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or_default();
        GroupKind { group: group.to_string(), kind: object["kind"].as_str().unwrap_or_default().to_string() }
    }

    pub fn parse(text: &str) -> GroupKind {
        match text.split_once('.') {
            Some((kind, group)) => GroupKind { group: group.to_string(), kind: kind.to_string() },
            None => GroupKind { group: String::new(), kind: text.to_string() },
        }
    }
}

impl std::fmt::Display for GroupKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.group.is_empty() { write!(f, "{}", self.kind) } else { write!(f, "{}.{}", self.kind, self.group) }
    }
}

impl ApplySet {
    /// The default parent of a package: `meshc-NAME` in the package's root namespace.
    pub fn for_package(package: &str, root_namespace: &str) -> ApplySet {
        let name: String = package
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c.to_ascii_lowercase() } else { '-' })
            .collect();
        ApplySet {
            name: format!("meshc-{}", name.trim_matches('-')),
            namespace: root_namespace.to_string(),
            package: package.to_string(),
        }
    }

    /// The set of `package`: its parent is `name` when given (`--applyset NAME`), else
    /// `meshc-PACKAGE`, in the root namespace. A name the API server would refuse is
    /// refused here, before anything is sent.
    pub fn new(package: &str, root_namespace: &str, name: Option<&str>) -> Result<ApplySet, String> {
        let Some(name) = name else { return Ok(ApplySet::for_package(package, root_namespace)) };
        let valid = !name.is_empty()
            && name.len() <= 253
            && name.split('.').all(|part| {
                !part.is_empty()
                    && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !part.starts_with('-')
                    && !part.ends_with('-')
            });
        if !valid {
            return Err(format!(
                "`{name}` cannot name a ConfigMap: use lower-case letters, digits, `-` and `.`, starting and ending with a letter or digit"
            ));
        }
        Ok(ApplySet { name: name.to_string(), namespace: root_namespace.to_string(), package: package.to_string() })
    }

    /// `applyset-<base64url(sha256(NAME.NAMESPACE.KIND.GROUP))>-v1`, the id kubectl
    /// computes for a parent (KEP-3659 "ApplySet Identification"); the core group is
    /// the empty string.
    pub fn id(&self) -> String {
        let hash = Sha256::digest(format!("{}.{}.ConfigMap.", self.name, self.namespace).as_bytes());
        format!("applyset-{}-v1", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash))
    }

    /// Adds the part-of label to a member. A member that already carries another
    /// ApplySet's label is the caller's error to report; this overwrites nothing then
    /// and returns the label it found.
    pub fn label_member(&self, object: &mut Json) -> Result<(), String> {
        let id = self.id();
        let metadata = object.as_object_mut().map(|o| o.entry("metadata").or_insert_with(|| json!({})));
        let Some(metadata) = metadata.and_then(Json::as_object_mut) else { return Ok(()) };
        let labels = metadata.entry("labels").or_insert_with(|| json!({}));
        if let Some(existing) = labels.get(PART_OF_LABEL).and_then(Json::as_str)
            && existing != id
        {
            return Err(existing.to_string());
        }
        if let Some(labels) = labels.as_object_mut() {
            labels.insert(PART_OF_LABEL.to_string(), Json::String(id));
        }
        Ok(())
    }

    /// The parent object listing the members' group-kinds and the namespaces other than
    /// its own, each sorted and joined with commas as the KEP requires.
    pub fn parent(&self, group_kinds: &BTreeSet<GroupKind>, namespaces: &BTreeSet<String>) -> Json {
        let mut annotations = serde_json::Map::new();
        annotations.insert(TOOLING_ANNOTATION.into(), Json::String(tooling()));
        annotations.insert(PACKAGE_ANNOTATION.into(), Json::String(self.package.clone()));
        // Sorted as written (`Kind.group`), which is the order the KEP asks for.
        let names: BTreeSet<String> = group_kinds.iter().map(ToString::to_string).collect();
        annotations
            .insert(GROUP_KINDS_ANNOTATION.into(), Json::String(names.into_iter().collect::<Vec<_>>().join(",")));
        let others: Vec<&str> = namespaces.iter().map(String::as_str).filter(|ns| *ns != self.namespace).collect();
        if !others.is_empty() {
            annotations.insert(NAMESPACES_ANNOTATION.into(), Json::String(others.join(",")));
        }
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": { ID_LABEL: self.id() },
                "annotations": annotations,
            }
        })
    }
}

/// Whether the live parent lacks what meshc wants of it. Only meshc's own keys count:
/// a label or annotation that another tool adds (Argo CD's tracking id, kubectl's
/// last-applied configuration) is not a reason to write the parent again.
pub fn parent_differs(wanted: &Json, live: Option<&Json>) -> bool {
    let Some(live) = live else { return true };
    let differs = |section: &str, keys: &[&str]| {
        keys.iter().any(|key| wanted["metadata"][section].get(*key) != live["metadata"][section].get(*key))
    };
    differs("labels", &[ID_LABEL])
        || differs(
            "annotations",
            &[TOOLING_ANNOTATION, GROUP_KINDS_ANNOTATION, NAMESPACES_ANNOTATION, PACKAGE_ANNOTATION],
        )
}

/// `meshc/vVERSION`, the KEP's `<toolname>/<semver>`.
pub fn tooling() -> String {
    format!("{TOOL}/v{}", env!("CARGO_PKG_VERSION"))
}

/// What a parent found in the cluster says: its members' group-kinds and namespaces.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParentScope {
    pub group_kinds: BTreeSet<GroupKind>,
    pub namespaces: BTreeSet<String>,
}

/// Reads a live parent, or says why meshc may not use it: another tool's ApplySet, or
/// a parent whose id label does not match its identity.
pub fn read_parent(applyset: &ApplySet, live: &Json) -> Result<ParentScope, String> {
    let annotations = &live["metadata"]["annotations"];
    let tooling = annotations[TOOLING_ANNOTATION].as_str().unwrap_or_default();
    let id = live["metadata"]["labels"][ID_LABEL].as_str().unwrap_or_default();
    if id.is_empty() && tooling.is_empty() {
        return Err(format!(
            "ConfigMap {}/{} exists but is not an ApplySet parent (it has no {ID_LABEL} label); choose another name with --applyset",
            applyset.namespace, applyset.name
        ));
    }
    if tooling.split('/').next() != Some(TOOL) {
        return Err(format!(
            "ConfigMap {}/{} is the parent of an ApplySet of `{tooling}`, not of meshc; meshc does not change another tool's ApplySet",
            applyset.namespace, applyset.name
        ));
    }
    if id != applyset.id() {
        return Err(format!(
            "ConfigMap {}/{} carries the ApplySet id `{id}`, which is not the id of its name and namespace (`{}`)",
            applyset.namespace,
            applyset.name,
            applyset.id()
        ));
    }
    let package = annotations[PACKAGE_ANNOTATION].as_str().unwrap_or_default();
    if !package.is_empty() && package != applyset.package {
        return Err(format!(
            "ConfigMap {}/{} is the ApplySet parent of the package `{package}`, not of `{}`; two packages never share a set",
            applyset.namespace, applyset.name, applyset.package
        ));
    }
    let list = |key: &str| -> Vec<String> {
        annotations[key].as_str().unwrap_or_default().split(',').filter(|s| !s.is_empty()).map(String::from).collect()
    };
    let mut namespaces: BTreeSet<String> = list(NAMESPACES_ANNOTATION).into_iter().collect();
    namespaces.insert(applyset.namespace.clone());
    Ok(ParentScope {
        group_kinds: list(GROUP_KINDS_ANNOTATION).iter().map(|s| GroupKind::parse(s)).collect(),
        namespaces,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The id of a parent named like kubectl's documentation example, computed by hand
    /// with `printf 'NAME.NS.ConfigMap.' | sha256sum | xxd -r -p | base64 | tr '+/' '-_' | tr -d =`.
    #[test]
    fn id_is_the_base64url_sha256_of_the_parent_identity() {
        let set = ApplySet::for_package("shop", "istio-system");
        assert_eq!(set.id(), "applyset-dGIEEvEdXtCbvU4rnOImb_GuzuNe5bBLJsJ12tcak5o-v1");
    }

    #[test]
    fn parent_lists_group_kinds_and_other_namespaces_sorted() {
        let set = ApplySet { name: "p".into(), namespace: "istio-system".into(), package: "p".into() };
        let gks = [
            GroupKind { group: "telemetry.istio.io".into(), kind: "Telemetry".into() },
            GroupKind { group: "extensions.istio.io".into(), kind: "WasmPlugin".into() },
        ]
        .into_iter()
        .collect();
        let namespaces = ["shop", "istio-system", "api"].map(String::from).into_iter().collect();
        let parent = set.parent(&gks, &namespaces);
        let annotations = &parent["metadata"]["annotations"];
        assert_eq!(annotations[GROUP_KINDS_ANNOTATION], "Telemetry.telemetry.istio.io,WasmPlugin.extensions.istio.io");
        assert_eq!(annotations[NAMESPACES_ANNOTATION], "api,shop");
        assert_eq!(read_parent(&set, &parent).unwrap().namespaces.len(), 3);
    }

    #[test]
    fn another_tools_parent_is_refused() {
        let set = ApplySet { name: "p".into(), namespace: "ns".into(), package: "p".into() };
        let mut parent = set.parent(&BTreeSet::new(), &BTreeSet::new());
        parent["metadata"]["annotations"][TOOLING_ANNOTATION] = json!("kubectl/v1.30");
        assert!(read_parent(&set, &parent).unwrap_err().contains("kubectl/v1.30"));
    }

    #[test]
    fn another_packages_parent_is_refused() {
        let theirs = ApplySet { name: "meshc-shop".into(), namespace: "ns".into(), package: "billing".into() };
        let ours = ApplySet { package: "shop".into(), ..theirs.clone() };
        let parent = theirs.parent(&BTreeSet::new(), &BTreeSet::new());
        assert!(read_parent(&ours, &parent).unwrap_err().contains("package `billing`"));
    }

    #[test]
    fn other_tools_keys_on_the_parent_do_not_make_it_differ() {
        let set = ApplySet::for_package("shop", "istio-system");
        let wanted = set.parent(&BTreeSet::new(), &BTreeSet::new());
        let mut live = wanted.clone();
        live["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"] =
            json!("shop:/ConfigMap:istio-system/meshc-shop");
        live["metadata"]["labels"]["app.kubernetes.io/instance"] = json!("shop");
        assert!(!parent_differs(&wanted, Some(&live)));
        live["metadata"]["annotations"][NAMESPACES_ANNOTATION] = json!("old");
        assert!(parent_differs(&wanted, Some(&live)), "an annotation meshc removes is a difference");
    }

    #[test]
    fn a_member_of_another_applyset_is_not_relabelled() {
        let set = ApplySet { name: "p".into(), namespace: "ns".into(), package: "p".into() };
        let mut member = json!({"metadata": {"labels": {PART_OF_LABEL: "applyset-other-v1"}}});
        assert_eq!(set.label_member(&mut member), Err("applyset-other-v1".to_string()));
        assert_eq!(member["metadata"]["labels"][PART_OF_LABEL], "applyset-other-v1");
    }
}
