//! Which imported modules a file uses, for the unused-import warning.

use crate::syntax::ast::*;
use std::collections::HashSet;

/// The first segment of every dotted name a file refers to as a value.
pub(super) fn referenced_roots(file: &File) -> HashSet<String> {
    let mut roots = HashSet::new();
    for item in &file.items {
        match &item.kind {
            ItemKind::Let(decl) => value(&decl.value, &mut roots),
            ItemKind::Schema(decl) => {
                decl.fields.iter().filter_map(|f| f.default.as_ref()).for_each(|v| value(v, &mut roots))
            }
            ItemKind::Resource(decl) => {
                for scope in &decl.scopes {
                    match scope {
                        Scope::Workload(v, _) => value(v, &mut roots),
                        Scope::Targets(refs, _) => refs.iter().for_each(|r| {
                            if let TargetRef::Object(v) = r {
                                value(v, &mut roots)
                            }
                        }),
                        Scope::Mesh(_) | Scope::Namespace(..) => {}
                    }
                }
                stmts(&decl.body, &mut roots);
            }
            _ => {}
        }
    }
    roots
}

fn stmts(body: &[Stmt], roots: &mut HashSet<String>) {
    for stmt in body {
        match &stmt.kind {
            StmtKind::Setting { value: v, .. }
            | StmtKind::Config { value: v, .. }
            | StmtKind::PatchValue { value: v } => value(v, roots),
            StmtKind::Env { value: EnvValue::Inline(v), .. } => value(v, roots),
            StmtKind::WasmMatch { ports: Some(v), .. } => value(v, roots),
            StmtKind::Section { body, .. }
            | StmtKind::Metrics { body, .. }
            | StmtKind::Tracing { body, .. }
            | StmtKind::Patch { body, .. }
            | StmtKind::PatchMatch { body } => stmts(body, roots),
            StmtKind::MetricOverride { tags: Some(tags), .. } => stmts(tags, roots),
            StmtKind::Insert { anchor, value: v, .. } => {
                if let Some(anchor) = anchor {
                    value(anchor, roots);
                }
                value(v, roots);
            }
            _ => {}
        }
    }
}

fn value(v: &Value, roots: &mut HashSet<String>) {
    match &v.kind {
        ValueKind::Path(path) if path.segments.len() > 1 => {
            roots.insert(path.segments[0].name.clone());
        }
        ValueKind::List(items) => items.iter().for_each(|i| value(i, roots)),
        ValueKind::Object(entries) | ValueKind::Message { fields: entries, .. } => {
            entries.iter().for_each(|e| value(&e.value, roots))
        }
        ValueKind::Call { args, .. } => args.iter().for_each(|a| value(a, roots)),
        _ => {}
    }
}
