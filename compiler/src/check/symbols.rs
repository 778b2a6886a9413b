//! Name resolution: the package's `let` and `schema` declarations, each file's
//! imports, and the vocabulary the stdlib declares (metrics, attributes, provider kinds).

use super::cel::{self, Attribute, Vocabulary};
use crate::diagnostic::{Diagnostic, codes, did_you_mean};
use crate::model::{MetricInfo, ParsedFile};
use crate::source::{SourceDb, SourceKind};
use crate::span::{FileId, Span};
use crate::stdlib;
use crate::syntax::ast::*;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// A provider kind from `std.providers` and the signals it serves.
#[derive(Clone, Debug)]
pub(crate) struct ProviderKindInfo {
    pub signals: Vec<String>,
    /// The settings the kind takes in mesh.toml.
    pub settings: Vec<super::providers::SettingSpec>,
    pub doc: String,
}

/// A `let` or `schema` declaration and where it stands.
#[derive(Clone, Debug)]
pub(crate) struct Definition<'a> {
    /// The file the declaration stands in, whose imports its value's names use.
    pub file: FileId,
    pub docs: &'a [String],
}

/// Everything names can resolve to in one package.
pub(crate) struct Symbols<'a> {
    /// Module name (`std.filters`, or the package name for package files) to its lets.
    pub lets: HashMap<String, BTreeMap<String, (&'a LetDecl, Definition<'a>)>>,
    pub schemas: BTreeMap<String, (&'a SchemaDecl, Definition<'a>)>,
    /// Per package file: alias to module name.
    pub imports: HashMap<FileId, HashMap<String, (String, Span)>>,
    /// Per package file: the aliases of imports that name no module (already reported).
    pub failed_imports: HashMap<FileId, HashSet<String>>,
    pub metrics: BTreeMap<String, MetricInfo>,
    pub provider_kinds: BTreeMap<String, ProviderKindInfo>,
    pub vocabulary: Vocabulary,
    pub package_module: String,
    /// The metric tags the package's Telemetry resources set (`tag NAME = ...` in a
    /// `metrics` block): a narrower layer may remove one that a broader layer adds.
    pub metric_tags: BTreeSet<String>,
}

pub(crate) const STD_MODULES: &[&str] =
    &["std.attributes", "std.metrics", "std.providers", "std.filters", "std.policy.recommended"];

impl<'a> Symbols<'a> {
    pub(crate) fn collect(
        db: &SourceDb,
        package_name: Option<&str>,
        files: &'a [ParsedFile],
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Symbols<'a> {
        let package_module = package_name.unwrap_or("package").to_string();
        let mut symbols = Symbols {
            lets: HashMap::new(),
            schemas: BTreeMap::new(),
            imports: HashMap::new(),
            failed_imports: HashMap::new(),
            metrics: BTreeMap::new(),
            provider_kinds: BTreeMap::new(),
            vocabulary: Vocabulary::new(Vec::new()),
            package_module: package_module.clone(),
            metric_tags: BTreeSet::new(),
        };
        let mut attributes = Vec::new();
        // Package files are also modules of their own, `PACKAGE.dir.file`, for imports.
        let local_modules: Vec<String> = files
            .iter()
            .filter_map(|p| db.get(p.file).module.as_ref().map(|m| format!("{package_module}.{m}")))
            .collect();
        for parsed in files {
            let source = db.get(parsed.file);
            let is_stdlib = source.kind == SourceKind::Stdlib;
            let module =
                if is_stdlib { stdlib::module_name(&source.path).unwrap_or_default() } else { package_module.clone() };
            for item in &parsed.ast.items {
                let doc = item.docs.join("\n");
                match &item.kind {
                    ItemKind::Let(decl) => {
                        if let Some(local) = &source.module {
                            let definition = Definition { file: parsed.file, docs: &item.docs };
                            symbols
                                .lets
                                .entry(format!("{package_module}.{local}"))
                                .or_default()
                                .insert(decl.name.name.clone(), (decl, definition));
                        }
                        let lets = symbols.lets.entry(module.clone()).or_default();
                        let definition = Definition { file: parsed.file, docs: &item.docs };
                        if let Some((previous, _)) = lets.get(&decl.name.name) {
                            diagnostics.push(duplicate(&decl.name, previous.name.span, "let"));
                        } else {
                            lets.insert(decl.name.name.clone(), (decl, definition));
                        }
                    }
                    ItemKind::Schema(decl) => {
                        let definition = Definition { file: parsed.file, docs: &item.docs };
                        if let Some((previous, _)) = symbols.schemas.get(&decl.name.name) {
                            diagnostics.push(duplicate(&decl.name, previous.name.span, "schema"));
                        } else {
                            symbols.schemas.insert(decl.name.name.clone(), (decl, definition));
                        }
                    }
                    ItemKind::Attribute(decl) if is_stdlib => {
                        let type_text = &source.text[decl.ty.span.range()];
                        match cel::parse_type_name(type_text) {
                            Some(ty) => attributes.push(Attribute { path: decl.path.text(), ty, doc }),
                            None => diagnostics.push(Diagnostic::new(
                                codes::TYPE_MISMATCH,
                                decl.ty.span,
                                format!("`{type_text}` is not an attribute type"),
                            )),
                        }
                    }
                    ItemKind::Metric(decl) if is_stdlib => {
                        let labels = string_list_setting(&decl.body, "labels");
                        let prometheus = string_setting(&decl.body, "prometheus");
                        let kind = string_setting(&decl.body, "type").unwrap_or_default();
                        symbols.metrics.insert(
                            decl.name.name.clone(),
                            MetricInfo { name: decl.name.name.clone(), prometheus, kind, labels, doc },
                        );
                    }
                    ItemKind::ProviderKind(decl) if is_stdlib => {
                        let signals = string_list_setting(&decl.body, "signals");
                        let settings = decl
                            .body
                            .iter()
                            .find_map(|stmt| match &stmt.kind {
                                StmtKind::Section { key, body } if key.name == "settings" => {
                                    Some(super::providers::setting_specs(body))
                                }
                                _ => None,
                            })
                            .unwrap_or_default();
                        symbols
                            .provider_kinds
                            .insert(decl.name.name.clone(), ProviderKindInfo { signals, settings, doc });
                    }
                    ItemKind::Attribute(_) | ItemKind::Metric(_) | ItemKind::ProviderKind(_) => {
                        diagnostics.push(
                            Diagnostic::new(
                                codes::STDLIB_ONLY,
                                item.span,
                                "this declaration is only allowed in the standard library",
                            )
                            .with_label_message("not allowed in a package"),
                        );
                    }
                    ItemKind::Import(import) if !is_stdlib => {
                        let module_name = import.module.text();
                        let known = STD_MODULES.contains(&module_name.as_str()) || local_modules.contains(&module_name);
                        if !known {
                            let mut diagnostic = Diagnostic::new(
                                codes::UNKNOWN_MODULE,
                                import.module.span,
                                format!("there is no module `{module_name}`"),
                            )
                            .with_label_message("unknown module");
                            let candidates =
                                STD_MODULES.iter().copied().chain(local_modules.iter().map(String::as_str));
                            diagnostic = match did_you_mean(&module_name, candidates) {
                                Some(suggestion) => diagnostic.with_did_you_mean(import.module.span, suggestion),
                                None => diagnostic.with_note(format!(
                                    "the standard modules are {}; this package's files are {}",
                                    STD_MODULES.join(", "),
                                    if local_modules.is_empty() {
                                        "not modules (no package name)".to_string()
                                    } else {
                                        local_modules.join(", ")
                                    }
                                )),
                            };
                            diagnostics.push(diagnostic);
                            let alias = import
                                .alias
                                .as_ref()
                                .or(import.module.segments.last())
                                .map(|a| a.name.clone())
                                .unwrap_or_default();
                            symbols.failed_imports.entry(parsed.file).or_default().insert(alias);
                            continue;
                        }
                        let alias = import.alias.as_ref().map(|a| a.name.clone()).unwrap_or_else(|| {
                            import.module.segments.last().map(|s| s.name.clone()).unwrap_or_default()
                        });
                        symbols
                            .imports
                            .entry(parsed.file)
                            .or_default()
                            .insert(alias, (module_name, import.module.span));
                    }
                    ItemKind::Resource(decl) if decl.kind == ResourceKind::Telemetry && !is_stdlib => {
                        for stmt in &decl.body {
                            let StmtKind::Metrics { body, .. } = &stmt.kind else { continue };
                            for metric in body {
                                let StmtKind::MetricOverride { tags: Some(tags), .. } = &metric.kind else { continue };
                                for tag in tags {
                                    if let StmtKind::TagSet { name, .. } = &tag.kind {
                                        symbols.metric_tags.insert(name.name.clone());
                                    }
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        symbols.vocabulary = Vocabulary::new(attributes);
        symbols
    }

    /// Resolves a dotted name used as a value in `file`: `name` (a package `let`) or
    /// `alias.name` (a `let` of an imported module).
    pub(crate) fn resolve_let(&self, file: FileId, path: &Path) -> Option<&'a LetDecl> {
        self.resolve_let_in(file, path).map(|(decl, _)| decl)
    }

    /// The `let` a name written in `file` refers to, and the file the `let` stands in:
    /// the names inside its value are resolved with that file's imports.
    pub(crate) fn resolve_let_in(&self, file: FileId, path: &Path) -> Option<(&'a LetDecl, FileId)> {
        let (decl, definition) = match path.segments.as_slice() {
            [name] => self.lets.get(&self.package_module)?.get(&name.name)?,
            [alias, name] => {
                let (module, _) = self.imports.get(&file)?.get(&alias.name)?;
                self.lets.get(module)?.get(&name.name)?
            }
            _ => return None,
        };
        Some((*decl, definition.file))
    }

    /// The lets whose value refers back to themselves, through other lets or not,
    /// each cycle reported once at the first of its lets in the package.
    pub(crate) fn let_cycles(&self) -> Vec<Vec<(&'a LetDecl, FileId)>> {
        let mut all: Vec<(&'a LetDecl, FileId)> = Vec::new();
        for lets in self.lets.values() {
            for (decl, definition) in lets.values() {
                if !all.iter().any(|(d, _)| std::ptr::eq(*d, *decl)) {
                    all.push((*decl, definition.file));
                }
            }
        }
        all.sort_by_key(|(decl, file)| (*file, decl.name.span.start));
        let mut cycles: Vec<Vec<(&'a LetDecl, FileId)>> = Vec::new();
        for start in &all {
            if cycles.iter().flatten().any(|(d, _)| std::ptr::eq(*d, start.0)) {
                continue;
            }
            // Depth-first from `start`, looking for a path back to it.
            let mut path = vec![*start];
            if self.leads_back(start.0, &mut path, 0) {
                cycles.push(path);
            }
        }
        cycles
    }

    fn leads_back(&self, target: &'a LetDecl, path: &mut Vec<(&'a LetDecl, FileId)>, depth: usize) -> bool {
        if depth > 64 {
            return false;
        }
        let (current, file) = *path.last().expect("a path");
        for name in referenced_names(&current.value) {
            let Some((next, next_file)) = self.resolve_let_in(file, name) else { continue };
            if std::ptr::eq(next, target) {
                return true;
            }
            if path.iter().any(|(d, _)| std::ptr::eq(*d, next)) {
                continue;
            }
            path.push((next, next_file));
            if self.leads_back(target, path, depth + 1) {
                return true;
            }
            path.pop();
        }
        false
    }

    /// Every name a value could refer to in `file`, for did-you-mean.
    pub(crate) fn visible_names(&self, file: FileId) -> Vec<String> {
        let mut names: Vec<String> =
            self.lets.get(&self.package_module).map(|l| l.keys().cloned().collect()).unwrap_or_default();
        if let Some(imports) = self.imports.get(&file) {
            for (alias, (module, _)) in imports {
                if let Some(lets) = self.lets.get(module) {
                    names.extend(lets.keys().map(|name| format!("{alias}.{name}")));
                }
            }
        }
        names
    }

    /// The filter name Envoy registers for a typed config, from `std.filters.names_by_type`.
    pub(crate) fn filter_name_for_type(&self, type_name: &str) -> Option<String> {
        let (decl, _) = self.lets.get("std.filters")?.get("names_by_type")?;
        let ValueKind::Object(entries) = &decl.value.kind else { return None };
        entries.iter().find(|e| e.key.name == type_name).and_then(|e| match &e.value.kind {
            ValueKind::String(s) => Some(s.value.clone()),
            _ => None,
        })
    }
}

/// The names a value refers to, in lists, objects and messages too.
fn referenced_names(value: &Value) -> Vec<&Path> {
    let mut out = Vec::new();
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match &value.kind {
            ValueKind::Path(path) => out.push(path),
            ValueKind::List(items) => stack.extend(items.iter()),
            ValueKind::Object(entries) | ValueKind::Message { fields: entries, .. } => {
                stack.extend(entries.iter().map(|e| &e.value))
            }
            _ => {}
        }
    }
    out
}

fn duplicate(name: &Ident, previous: Span, what: &str) -> Diagnostic {
    Diagnostic::new(codes::DUPLICATE_NAME, name.span, format!("the {what} `{}` is declared twice", name.name))
        .with_label_message("declared again here")
        .with_secondary(previous, "first declared here")
}

/// The strings of a `key [..]` setting in a stdlib vocabulary body.
fn string_setting(body: &[Stmt], key: &str) -> Option<String> {
    body.iter().find_map(|stmt| match &stmt.kind {
        StmtKind::Setting { key: k, value: Value { kind: ValueKind::String(s), .. } } if k.name == key => {
            Some(s.value.clone())
        }
        _ => None,
    })
}

fn string_list_setting(body: &[Stmt], key: &str) -> Vec<String> {
    body.iter()
        .find_map(|stmt| match &stmt.kind {
            StmtKind::Setting { key: k, value } if k.name == key => match &value.kind {
                ValueKind::List(items) => Some(
                    items
                        .iter()
                        .filter_map(|v| match &v.kind {
                            ValueKind::String(s) => Some(s.value.clone()),
                            _ => None,
                        })
                        .collect(),
                ),
                _ => None,
            },
            _ => None,
        })
        .unwrap_or_default()
}
