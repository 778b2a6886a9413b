//! Names across the package: go to definition, find references and rename, for
//! `let` and `schema` declarations, resources, imports and plugin config schemas.
//!
//! One walk over every package file's AST lists each occurrence of a name with the
//! declaration it resolves to, through the same [`Symbols`] the checker uses.

use super::{RenameError, TextEdit, symbols};
use crate::check::symbols::Symbols;
use crate::driver::Analysis;
use crate::source::{SourceDb, SourceKind};
use crate::span::{FileId, Span};
use crate::syntax::KEYWORDS;
use crate::syntax::ast::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NameKind {
    Let,
    Schema,
    Resource,
    Import,
}

/// One place a name stands, and the name span of the declaration it means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Occurrence {
    pub span: Span,
    pub target: Span,
    pub kind: NameKind,
    pub is_definition: bool,
}

pub(crate) fn occurrences(analysis: &Analysis, db: &SourceDb, symbols: &Symbols) -> Vec<Occurrence> {
    let proxies = analysis.lowered.proxies.iter().map(|p| (p.name.clone(), p.span)).collect();
    let plugins = plugin_declarations(analysis);
    let mut walker = Walker { symbols, out: Vec::new(), file: FileId(0), aliases: Vec::new(), proxies, plugins };
    for parsed in &analysis.files {
        if db.get(parsed.file).kind != SourceKind::Package {
            continue;
        }
        walker.file = parsed.file;
        walker.aliases.clear();
        for item in &parsed.ast.items {
            if let ItemKind::Import(import) = &item.kind {
                let alias = import.alias.as_ref().or(import.module.segments.last());
                if let Some(alias) = alias {
                    walker.aliases.push((alias.name.clone(), alias.span));
                    walker.define(alias.span, NameKind::Import);
                }
            }
        }
        for item in &parsed.ast.items {
            walker.item(item);
        }
    }
    walker.out
}

struct Walker<'s, 'a> {
    symbols: &'s Symbols<'a>,
    out: Vec<Occurrence>,
    file: FileId,
    /// The import aliases of the current file and the span that declares each.
    aliases: Vec<(String, Span)>,
    /// The package's proxies and the spans of their names, which smoke scenarios name.
    proxies: Vec<(String, Span)>,
    /// Likewise its `wasm_plugin` declarations, which plugin scenarios name.
    plugins: Vec<(String, Span)>,
}

/// The package's `wasm_plugin` declarations: their names and the spans of the names.
pub(super) fn plugin_declarations(analysis: &Analysis) -> Vec<(String, Span)> {
    let mut out = Vec::new();
    for file in &analysis.files {
        for item in &file.ast.items {
            if let ItemKind::Resource(decl) = &item.kind
                && decl.kind == ResourceKind::WasmPlugin
            {
                out.push((decl.name.name.clone(), decl.name.span));
            }
        }
    }
    out
}

impl Walker<'_, '_> {
    fn define(&mut self, span: Span, kind: NameKind) {
        self.out.push(Occurrence { span, target: span, kind, is_definition: true });
    }

    fn refer(&mut self, span: Span, target: Span, kind: NameKind) {
        self.out.push(Occurrence { span, target, kind, is_definition: false });
    }

    fn item(&mut self, item: &Item) {
        match &item.kind {
            ItemKind::Let(decl) => {
                self.define(decl.name.span, NameKind::Let);
                self.value(&decl.value);
            }
            ItemKind::Schema(decl) => {
                self.define(decl.name.span, NameKind::Schema);
                for field in &decl.fields {
                    self.type_expr(&field.ty);
                    if let Some(default) = &field.default {
                        self.value(default);
                    }
                }
            }
            ItemKind::Resource(decl) => {
                self.define(decl.name.span, NameKind::Resource);
                // `proxy NAME` in a smoke scenario names a proxy declaration, and
                // `plugin NAME` a wasm_plugin declaration.
                if decl.kind == ResourceKind::Smoke {
                    for stmt in &decl.body {
                        if let StmtKind::Setting { key, value } = &stmt.kind
                            && let ValueKind::Path(path) = &value.kind
                            && let [name] = path.segments.as_slice()
                        {
                            let declared = match key.name.as_str() {
                                "proxy" => &self.proxies,
                                "plugin" => &self.plugins,
                                _ => continue,
                            };
                            if let Some((_, target)) = declared.iter().find(|(p, _)| *p == name.name) {
                                let target = *target;
                                self.refer(name.span, target, NameKind::Resource);
                            }
                        }
                    }
                }
                for scope in &decl.scopes {
                    match scope {
                        Scope::Workload(v, _) => self.value(v),
                        Scope::Targets(refs, _) => {
                            for r in refs {
                                if let TargetRef::Object(v) = r {
                                    self.value(v);
                                }
                            }
                        }
                        Scope::Mesh(_) | Scope::Namespace(..) => {}
                    }
                }
                self.stmts(&decl.body);
            }
            _ => {}
        }
    }

    fn type_expr(&mut self, ty: &TypeExpr) {
        for atom in &ty.alternatives {
            match atom {
                TypeAtom::Named(path) => self.schema_ref(path),
                TypeAtom::List(inner, _) | TypeAtom::Map(inner, _) => self.type_expr(inner),
                TypeAtom::Literal(_) => {}
            }
        }
    }

    fn schema_ref(&mut self, path: &Path) {
        if let [name] = path.segments.as_slice()
            && let Some((decl, _)) = self.symbols.schemas.get(&name.name)
        {
            self.refer(name.span, decl.name.span, NameKind::Schema);
        }
    }

    fn stmts(&mut self, body: &[Stmt]) {
        for stmt in body {
            match &stmt.kind {
                StmtKind::Setting { value, .. } | StmtKind::PatchValue { value } => self.value(value),
                StmtKind::Config { schema, value } => {
                    if let Some(schema) = schema {
                        self.schema_ref(schema);
                    }
                    self.value(value);
                }
                StmtKind::Env { value: EnvValue::Inline(v), .. } => self.value(v),
                StmtKind::WasmMatch { ports: Some(v), .. } => self.value(v),
                StmtKind::Section { body, .. }
                | StmtKind::Metrics { body, .. }
                | StmtKind::Tracing { body, .. }
                | StmtKind::Patch { body, .. }
                | StmtKind::PatchMatch { body } => self.stmts(body),
                StmtKind::MetricOverride { tags: Some(tags), .. } => self.stmts(tags),
                StmtKind::Insert { anchor, value, .. } => {
                    if let Some(anchor) = anchor {
                        self.value(anchor);
                    }
                    self.value(value);
                }
                _ => {}
            }
        }
    }

    fn value(&mut self, value: &Value) {
        match &value.kind {
            ValueKind::Path(path) => self.path(path),
            ValueKind::Call { args, .. } | ValueKind::List(args) => args.iter().for_each(|v| self.value(v)),
            ValueKind::Object(entries) => entries.iter().for_each(|e| self.value(&e.value)),
            ValueKind::Message { type_name, fields, .. } => {
                self.schema_ref(type_name);
                fields.iter().for_each(|e| self.value(&e.value));
            }
            _ => {}
        }
    }

    fn path(&mut self, path: &Path) {
        if path.segments.len() == 2
            && let Some((_, span)) = self.aliases.iter().find(|(a, _)| *a == path.segments[0].name)
        {
            self.refer(path.segments[0].span, *span, NameKind::Import);
        }
        if let Some(decl) = self.symbols.resolve_let(self.file, path)
            && let Some(last) = path.segments.last()
        {
            self.refer(last.span, decl.name.span, NameKind::Let);
        }
    }
}

fn at(occurrences: &[Occurrence], file: FileId, offset: u32) -> Option<Occurrence> {
    occurrences.iter().copied().find(|o| o.span.file == file && o.span.start <= offset && offset <= o.span.end)
}

/// Where the name at `offset` is declared. On an import, its module's file.
pub fn definition(analysis: &Analysis, db: &SourceDb, file: FileId, offset: u32) -> Option<Span> {
    let symbols = symbols(analysis, db);
    let occurrences = occurrences(analysis, db, &symbols);
    let found = at(&occurrences, file, offset)?;
    if found.kind == NameKind::Import && found.is_definition {
        let alias = &db.text(file)[found.span.range()];
        let (module, _) = symbols.imports.get(&file)?.get(alias)?;
        return module_file(analysis, db, module).map(|id| Span::new(id, 0, 0));
    }
    Some(found.target)
}

fn module_file(analysis: &Analysis, db: &SourceDb, module: &str) -> Option<FileId> {
    let package = analysis.manifest.as_ref().map(|m| m.name.value.as_str()).unwrap_or("package");
    db.iter()
        .find(|(_, f)| match f.kind {
            SourceKind::Stdlib => crate::stdlib::module_name(&f.path).as_deref() == Some(module),
            SourceKind::Package => f.module.as_ref().is_some_and(|m| format!("{package}.{m}") == module),
            _ => false,
        })
        .map(|(id, _)| id)
}

/// Every occurrence of the name at `offset` in the package, in file and text order.
pub fn references(
    analysis: &Analysis,
    db: &SourceDb,
    file: FileId,
    offset: u32,
    include_declaration: bool,
) -> Vec<Span> {
    let symbols = symbols(analysis, db);
    let occurrences = occurrences(analysis, db, &symbols);
    let Some(found) = at(&occurrences, file, offset) else { return Vec::new() };
    let mut spans: Vec<Span> = occurrences
        .iter()
        .filter(|o| o.target == found.target && (include_declaration || !o.is_definition))
        .map(|o| o.span)
        .collect();
    spans.sort();
    spans.dedup();
    spans
}

/// The name a rename at `offset` would change, if it is a declaration of the package.
pub fn prepare_rename(analysis: &Analysis, db: &SourceDb, file: FileId, offset: u32) -> Option<Span> {
    let symbols = symbols(analysis, db);
    let occurrences = occurrences(analysis, db, &symbols);
    let found = at(&occurrences, file, offset)?;
    let renamable = found.kind != NameKind::Import && db.get(found.target.file).kind == SourceKind::Package;
    renamable.then_some(found.span)
}

/// The edits that rename the declaration at `offset`, and every use of it, to `new_name`.
pub fn rename(
    analysis: &Analysis,
    db: &SourceDb,
    file: FileId,
    offset: u32,
    new_name: &str,
) -> Result<Vec<TextEdit>, RenameError> {
    let symbols = symbols(analysis, db);
    let occurrences = occurrences(analysis, db, &symbols);
    let found = at(&occurrences, file, offset).ok_or(RenameError::NothingToRename)?;
    if found.kind == NameKind::Import || db.get(found.target.file).kind != SourceKind::Package {
        return Err(RenameError::NothingToRename);
    }
    let dash_allowed = found.kind == NameKind::Resource;
    let valid = new_name.starts_with(|c: char| c.is_ascii_alphabetic() || (c == '_' && !dash_allowed))
        && new_name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || (dash_allowed && c == '-'));
    if !valid {
        return Err(RenameError::InvalidName(format!("`{new_name}` is not a valid name")));
    }
    if KEYWORDS.contains(&new_name) {
        return Err(RenameError::InvalidName(format!("`{new_name}` is a keyword")));
    }
    let mut edits: Vec<TextEdit> = occurrences
        .iter()
        .filter(|o| o.target == found.target)
        .map(|o| TextEdit { span: o.span, new_text: new_name.to_string() })
        .collect();
    edits.sort();
    edits.dedup();
    Ok(edits)
}
