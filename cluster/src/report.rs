//! What a run found and did, for people (a line per object, a unified diff per
//! change) and for CI (JSON), and its problems as diagnostics at the declarations
//! that produced the objects. Pure: no IO.

use crate::ObjectRef;
use crate::fields;
use crate::run::{Action, Mode, Outcome, Problem, ProblemKind};
use meshc_compiler::diagnostic::{Diagnostic, codes::Code};
use meshc_compiler::span::Span;
use serde_json::{Value as Json, json};

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const CYAN: &str = "\x1b[36m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

fn paint(text: &str, colour: &str, coloured: bool) -> String {
    if coloured { format!("{colour}{text}{RESET}") } else { text.to_string() }
}

/// The verb of one planned object, as done or as it would be.
fn verb(action: Action, done: bool, pruning: bool, mode: Mode) -> &'static str {
    let would = !done;
    match (action, would) {
        (Action::Create, false) => "created",
        (Action::Create, true) => "would be created",
        (Action::Configure, false) => "configured",
        (Action::Configure, true) => "would be configured",
        (Action::Unchanged, _) => "unchanged",
        (Action::Prune, false) => "pruned",
        (Action::Prune, true) if pruning || mode == Mode::Diff => "would be pruned",
        (Action::Prune, true) => "not in the package (`--prune` deletes it)",
        (Action::CreateNamespace, false) => "created",
        (Action::CreateNamespace, true) => "would be created",
    }
}

/// One line per object and a summary, as `meshc apply` prints them.
pub fn render_text(outcome: &Outcome, coloured: bool) -> String {
    let mut out = String::new();
    for planned in &outcome.planned {
        let refused = planned.refused.map(|code| format!("not applied: the cluster refused it ({code})"));
        let verb =
            refused.as_deref().unwrap_or_else(|| verb(planned.action, planned.done, planned.pruning, outcome.mode));
        let line = format!("{} {verb}", planned.object);
        let colour = match planned.action {
            _ if planned.refused.is_some() => RED,
            Action::Create | Action::CreateNamespace => GREEN,
            Action::Configure => CYAN,
            Action::Prune => RED,
            Action::Unchanged => "",
        };
        out.push_str(&if colour.is_empty() { line } else { paint(&line, colour, coloured) });
        out.push('\n');
    }
    out.push_str(&summary(outcome));
    out.push('\n');
    out
}

/// `2 created, 1 configured, 5 unchanged, 1 pruned` (or `2 to create` for what was
/// not written) and where.
pub fn summary(outcome: &Outcome) -> String {
    let mut parts = Vec::new();
    for (action, done_word, pending_word) in [
        (Action::CreateNamespace, "namespaces created", "namespaces to create"),
        (Action::Create, "created", "to create"),
        (Action::Configure, "configured", "to configure"),
        (Action::Unchanged, "unchanged", "unchanged"),
        (Action::Prune, "pruned", "to prune"),
    ] {
        let of_action = || outcome.planned.iter().filter(move |p| p.action == action && p.refused.is_none());
        let done = of_action().filter(|p| p.done).count();
        let pending = of_action().count() - done;
        if action == Action::Unchanged {
            parts.push(format!("{pending} unchanged"));
            continue;
        }
        if done > 0 {
            parts.push(format!("{done} {done_word}"));
        }
        if pending > 0 {
            parts.push(format!("{pending} {pending_word}"));
        }
    }
    let refused = outcome.planned.iter().filter(|p| p.refused.is_some()).count();
    if refused > 0 {
        parts.push(format!("{refused} refused"));
    }
    let state = match outcome.mode {
        Mode::Apply if outcome.problems.is_empty() => "",
        Mode::Apply if !outcome.planned.iter().any(|p| p.done) => " (nothing was written)",
        Mode::Apply => " (with problems: only the objects marked done were written)",
        Mode::DryRun => " (server dry run: nothing was written)",
        Mode::Diff => " (diff: nothing was written)",
    };
    format!(
        "{}{state}; context `{}`, ApplySet {} ({})",
        parts.join(", "),
        outcome.context,
        outcome.applyset_parent,
        outcome.applyset
    )
}

/// `meshc diff`'s output: for every object that would change, the fields that change
/// and a unified diff of the live object against the server's dry-run result (the
/// metadata the server maintains left out, keys sorted).
pub fn render_diff(outcome: &Outcome, coloured: bool) -> String {
    let mut out = String::new();
    for planned in outcome.planned.iter().filter(|p| p.action != Action::Unchanged && p.refused.is_none()) {
        let title = format!(
            "{} {}",
            planned.object,
            verb(planned.action, false, planned.pruning, Mode::Diff).trim_start_matches("would be ")
        );
        out.push_str(&paint(&title, BOLD, coloured));
        out.push('\n');
        // A created or pruned object is all change: its diff says it all.
        for change in planned.changes.iter().filter(|_| planned.action == Action::Configure) {
            let show = |v: &Option<Json>| v.as_ref().map(|v| v.to_string()).unwrap_or_else(|| "(none)".into());
            out.push_str(&format!("  {}: {} → {}\n", change.field, show(&change.before), show(&change.after)));
        }
        if planned.action == Action::CreateNamespace {
            continue;
        }
        let text = |object: &Option<Json>| {
            object.as_ref().map(|o| meshc_compiler::emit::json_to_yaml(&fields::comparable(o))).unwrap_or_default()
        };
        let before = text(&planned.before);
        let after = text(&planned.after);
        let name = planned.object.to_string();
        let diff = similar::TextDiff::from_lines(&before, &after);
        let unified = diff
            .unified_diff()
            .context_radius(3)
            .header(&format!("live/{name}"), &format!("applied/{name}"))
            .to_string();
        for line in unified.lines() {
            let colour = if line.starts_with("+++") || line.starts_with("---") {
                BOLD
            } else if line.starts_with('+') {
                GREEN
            } else if line.starts_with('-') {
                RED
            } else if line.starts_with("@@") {
                CYAN
            } else {
                ""
            };
            out.push_str(&if colour.is_empty() { line.to_string() } else { paint(line, colour, coloured) });
            out.push('\n');
        }
    }
    out
}

/// The run as JSON for CI: every object with its action, whether it was written and
/// its changed fields; the problems; and counts.
pub fn render_json(outcome: &Outcome) -> String {
    let count = |action: Action| outcome.planned.iter().filter(|p| p.action == action).count();
    let report = json!({
        "mode": outcome.mode,
        "context": outcome.context,
        "server": outcome.server,
        "applyset": { "id": outcome.applyset, "parent": outcome.applyset_parent },
        "resources": outcome.planned,
        "problems": outcome.problems.iter().map(|p| {
            let mut value = serde_json::to_value(p).unwrap_or(Json::Null);
            value["code"] = json!(p.kind.code());
            value
        }).collect::<Vec<_>>(),
        "summary": {
            "create": count(Action::Create),
            "configure": count(Action::Configure),
            "unchanged": count(Action::Unchanged),
            "prune": count(Action::Prune),
            "createNamespace": count(Action::CreateNamespace),
            "written": outcome.planned.iter().filter(|p| p.done).count(),
        },
    });
    let mut text = serde_json::to_string_pretty(&report).unwrap_or_default();
    text.push('\n');
    text
}

/// Where a problem is shown: the span of the declaration part that produced `field`
/// of `object` (`spec.tracing.0.randomSamplingPercentage`, in the model's dotted
/// form), or of the declaration, or None when the object is not the package's.
pub type Locate<'a> = dyn Fn(&ObjectRef, Option<&str>) -> Option<Span> + 'a;

/// The problems as diagnostics: at the field the server named where the package
/// declared it, else at the declaration, else at `fallback` (the package's name in
/// mesh.toml).
pub fn diagnostics(problems: &[Problem], locate: &Locate, fallback: Span) -> Vec<Diagnostic> {
    problems
        .iter()
        .map(|problem| {
            let code = Code(problem.kind.code());
            let first_field = problem.fields.first().map(|(field, _)| model_path(field));
            let span =
                problem.object.as_ref().and_then(|object| locate(object, first_field.as_deref())).unwrap_or(fallback);
            let subject = problem.object.as_ref().map(|o| format!("{o}: ")).unwrap_or_default();
            let headline = match problem.kind {
                ProblemKind::Rejected => "the cluster rejected it",
                ProblemKind::Conflict => "fields owned by another field manager",
                ProblemKind::NotServed => "the cluster does not serve this API",
                ProblemKind::NoNamespace => "the namespace does not exist",
                ProblemKind::Parent => "the ApplySet's parent is not meshc's",
                ProblemKind::OtherApplySet => "the object belongs to another ApplySet",
            };
            let mut diagnostic = Diagnostic::new(code, span, format!("{subject}{headline}"))
                .with_label_message(problem.message.lines().next().unwrap_or_default());
            for (field, message) in &problem.fields {
                if !field.is_empty() {
                    diagnostic = diagnostic.with_note(format!("{field}: {message}"));
                }
            }
            for note in &problem.notes {
                diagnostic = diagnostic.with_help(note.clone());
            }
            diagnostic
        })
        .collect()
}

/// The problems of a run as diagnostics at the declarations of the package in
/// `analysis` that produced the objects: at the field the server named, as the
/// declaration wrote it, else at the declaration, else at the package's name.
pub fn package_diagnostics(analysis: &meshc_compiler::driver::Analysis, problems: &[Problem]) -> Vec<Diagnostic> {
    let locate = |object: &ObjectRef, field: Option<&str>| {
        analysis.lowered.resources.iter().find_map(|generated| {
            let reference = ObjectRef::of(&meshc_compiler::emit::to_json_value(&generated.resource));
            reference
                .same_object(object)
                .then(|| field.and_then(|f| generated.spans.find_near(f)).unwrap_or(generated.origin))
        })
    };
    let fallback = analysis.manifest.as_ref().map_or(Span::new(meshc_compiler::span::FileId(0), 0, 0), |m| m.name.span);
    diagnostics(problems, &locate, fallback)
}

/// `spec.tracing[0].randomSamplingPercentage` (the API server's form) or
/// `.spec.tracing` (server-side apply's) as the model's `spec.tracing.0.randomSamplingPercentage`.
pub fn model_path(field: &str) -> String {
    field.trim_start_matches('.').replace('[', ".").replace(']', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_field_paths_become_model_paths() {
        assert_eq!(model_path("spec.tracing[0].randomSamplingPercentage"), "spec.tracing.0.randomSamplingPercentage");
        assert_eq!(model_path(".spec.tracing"), "spec.tracing");
    }
}
