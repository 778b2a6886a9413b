//! The differential corpus of Envoy bootstraps (`tests/envoy-corpus/`): its files,
//! what each expects from its name, and the mutations generated from the accepted
//! ones. The differential test (`tests/run.rs`) and the benchmark against the real
//! Envoy (`benches/validate_corpus.rs`) read the same cases.

use crate::workspace;
use std::path::PathBuf;

pub fn corpus_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(workspace().join("tests/envoy-corpus"))
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "yaml")).collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// What a case of the differential corpus expects, from its file name's prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expectation {
    /// `accept-*` and `deprecated-*`: every Envoy accepts it, and so does meshc.
    Accept,
    /// `reject-*` and the generated mutations: every Envoy rejects it, and so does meshc.
    Reject,
    /// `since-1.NN-*`: accepted from Envoy 1.NN on, rejected before.
    Since(u32),
    /// `until-1.NN-*`: accepted up to and including Envoy 1.NN, rejected after.
    Until(u32),
    /// `runtime-*`: Envoy rejects it for a reason meshc leaves to Envoy's runtime
    /// checks (a file that must exist, Lua syntax, a regex, a dangling reference...),
    /// so meshc accepts it. If either side changes, the file must be reclassified.
    Runtime,
}

/// A bootstrap file of the differential corpus (or a mutation of one) and what
/// Envoy and meshc should make of it.
pub struct CorpusCase {
    pub name: String,
    pub text: String,
    pub expect: Expectation,
}

/// The Envoy minor of `1.38.2` or `1.38`.
pub fn envoy_minor(version: &str) -> Option<u32> {
    let mut parts = version.split('.');
    if parts.next()? != "1" {
        return None;
    }
    parts.next()?.parse().ok()
}

impl CorpusCase {
    /// Whether the real Envoy of `version` accepts the case.
    pub fn envoy_accepts(&self, version: &str) -> bool {
        let minor = envoy_minor(version).unwrap_or(0);
        match self.expect {
            Expectation::Accept => true,
            Expectation::Reject | Expectation::Runtime => false,
            Expectation::Since(since) => minor >= since,
            Expectation::Until(until) => minor <= until,
        }
    }

    /// Whether meshc, checking against `version`, accepts the case.
    pub fn meshc_accepts(&self, version: &str) -> bool {
        self.expect == Expectation::Runtime || self.envoy_accepts(version)
    }
}

/// The expectation a corpus file's name gives, or why the name is not understood.
pub fn expectation_of(name: &str) -> Result<Expectation, String> {
    let versioned = |rest: &str| {
        rest.split('-')
            .next()
            .and_then(envoy_minor)
            .ok_or_else(|| format!("{name}: expected a version like 1.38 after the prefix"))
    };
    if name.starts_with("accept-") || name.starts_with("deprecated-") {
        Ok(Expectation::Accept)
    } else if name.starts_with("reject-") {
        Ok(Expectation::Reject)
    } else if name.starts_with("runtime-") {
        Ok(Expectation::Runtime)
    } else if let Some(rest) = name.strip_prefix("since-") {
        versioned(rest).map(Expectation::Since)
    } else if let Some(rest) = name.strip_prefix("until-") {
        versioned(rest).map(Expectation::Until)
    } else {
        Err(format!(
            "{name}: a corpus file is named accept-, deprecated-, reject-, since-1.NN-, until-1.NN- or runtime-"
        ))
    }
}

/// How many mutations one accepted file contributes at most.
pub const MUTATIONS_PER_FILE: usize = 3;
/// The corpus must stay at least this large.
pub const MIN_CORPUS_FILES: usize = 110;
pub const MIN_CORPUS_CASES: usize = 200;

/// A way to break one line of an accepted file that Envoy must reject.
pub struct Mutation {
    pub kind: MutationKind,
    pub line: usize,
    pub range: std::ops::Range<usize>,
    pub replacement: String,
    pub what: String,
}

/// What a mutation changes; the chosen mutations of a file rotate through the kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MutationKind {
    /// A field name misspelled.
    Key,
    /// A number or duration replaced by a list.
    Number,
    /// An enum value made unknown.
    Enum,
    /// A plain string replaced by a list or a mapping.
    String,
}

pub const MUTATION_KINDS: [MutationKind; 4] =
    [MutationKind::Key, MutationKind::Number, MutationKind::String, MutationKind::Enum];

/// The candidate mutations of an accepted file, in line order: every field name
/// misspelled, every number replaced by a list, every enum value made unknown, and
/// every plain string value replaced by a list or a mapping. Comments, block scalars
/// (Lua code, certificates) and lines marked `# free-form` (map keys chosen by the
/// user, `Struct` contents, format strings: places where any key or value is valid)
/// are left alone.
pub fn mutation_candidates(text: &str) -> Vec<Mutation> {
    use std::sync::LazyLock;
    static KEY: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r#"(?:^\s*(?:-\s+)*|[{,]\s*)"?([A-Za-z_@][A-Za-z0-9_@]{2,})"?:(?:\s|$)"#).expect("regex")
    });
    // A number after a mapping's colon: YAML's, followed by a space, or JSON's, after a
    // quoted key. A colon inside a plain scalar (the port of `http://host:9002`) is not
    // one, and replacing what follows it leaves a valid string.
    static NUMBER: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r#"(?:":\s*|:\s+)([0-9][0-9.]*s?)(?:[\s,}\]]|$)"#).expect("regex"));
    static ENUMERATION: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r#"([a-z_]+)"?:\s*"?([A-Z][A-Z0-9_]+)"?(?:[\s,}]|$)"#).expect("regex"));
    static STRING: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r#"^\s*(?:-\s+)?"?([A-Za-z_@][A-Za-z0-9_@]*)"?:\s+("?[A-Za-z/][A-Za-z0-9_./:\-]*"?),?\s*$"#)
            .expect("regex")
    });
    // Values that name something a user chose, where any upper-case word is valid.
    const FREE_VALUES: &[&str] = &["value", "key", "exact", "prefix", "suffix", "contains", "name", "descriptor_value"];
    let mut out = Vec::new();
    let mut block_scalar_indent: Option<usize> = None;
    for (index, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start().len();
        if let Some(parent) = block_scalar_indent {
            if line.trim().is_empty() || indent > parent {
                continue;
            }
            block_scalar_indent = None;
        }
        let code = line.split(" #").next().unwrap_or(line);
        if ["|", "|-", "|+", ">", ">-", ">+"].iter().any(|marker| code.trim_end().ends_with(&format!(": {marker}"))) {
            block_scalar_indent = Some(indent);
            continue;
        }
        if line.trim_start().starts_with('#') || line.contains("# free-form") {
            continue;
        }
        let mut found = Vec::new();
        for capture in KEY.captures_iter(code) {
            let word = capture.get(1).expect("group");
            let key = word.as_str();
            let misspelled = format!("{}{}", &key[..key.len() - 2], &key[key.len() - 1..]);
            found.push(Mutation {
                kind: MutationKind::Key,
                line: index,
                range: word.range(),
                replacement: misspelled,
                what: format!("key-{key}"),
            });
        }
        for capture in NUMBER.captures_iter(code) {
            let number = capture.get(1).expect("group");
            found.push(Mutation {
                kind: MutationKind::Number,
                line: index,
                range: number.range(),
                replacement: "[oops]".to_string(),
                what: format!("number-{}", number.as_str()),
            });
        }
        for capture in ENUMERATION.captures_iter(code) {
            let (key, value) = (capture.get(1).expect("group"), capture.get(2).expect("group"));
            if !FREE_VALUES.contains(&key.as_str()) {
                found.push(Mutation {
                    kind: MutationKind::Enum,
                    line: index,
                    range: value.range(),
                    replacement: format!("{}X", value.as_str()),
                    what: format!("enum-{}", value.as_str()),
                });
            }
        }
        if let Some(capture) = STRING.captures(code) {
            let value = capture.get(2).expect("group");
            let bare = value.as_str().trim_matches('"');
            let is_enum = bare.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if !is_enum && !["true", "false", "null", "yes", "no", "on", "off"].contains(&bare) {
                // Alternate a list and a mapping, both of which a string field refuses.
                let replacement = if out.len() % 2 == 0 {
                    format!("[{}]", value.as_str())
                } else {
                    format!("{{ oops: {} }}", value.as_str())
                };
                found.push(Mutation {
                    kind: MutationKind::String,
                    line: index,
                    range: value.range(),
                    replacement,
                    what: format!("string-{bare}"),
                });
            }
        }
        found.sort_by_key(|m| m.range.start);
        out.extend(found);
    }
    out
}

/// The files of `tests/envoy-corpus/`, and up to [`MUTATIONS_PER_FILE`] mutations of
/// each `accept-*` file (except `accept-loose-*`, whose point is a loose spelling).
/// The mutations of a file are spread evenly over it, so they fall at different
/// depths, and rotate through the kinds of [`MutationKind`]; a mutated line that an
/// earlier file already produced (the admin block, a listener address...) is not
/// used again. Every mutation must be rejected by every Envoy.
pub fn corpus() -> Result<(Vec<CorpusCase>, usize), String> {
    let files = corpus_files();
    let mut cases = Vec::new();
    let mut seen_lines = std::collections::HashSet::new();
    let mut mutated_files = 0;
    for file in &files {
        let name = file.file_stem().expect("a file name").to_string_lossy().into_owned();
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let expect = expectation_of(&name)?;
        if !text.starts_with("# ") {
            return Err(format!("{name}: the first line must be a `# ...` comment saying what the file tests"));
        }
        if name.starts_with("accept-") && !name.starts_with("accept-loose-") {
            let lines: Vec<&str> = text.lines().collect();
            let mutated_line = |m: &Mutation| {
                let line = lines[m.line];
                format!("{}{}{}", &line[..m.range.start], m.replacement, &line[m.range.end..])
            };
            let candidates: Vec<Mutation> = mutation_candidates(&text)
                .into_iter()
                .filter(|m| !seen_lines.contains(mutated_line(m).trim()))
                .collect();
            let picks = MUTATIONS_PER_FILE.min(candidates.len());
            let mut taken: Vec<usize> = Vec::new();
            for pick in 0..picks {
                let target = (2 * pick + 1) * candidates.len() / (2 * picks);
                let wanted = MUTATION_KINDS[(mutated_files + pick) % MUTATION_KINDS.len()];
                let chosen = (0..candidates.len())
                    .filter(|index| !taken.contains(index))
                    .min_by_key(|&index| (candidates[index].kind != wanted, index.abs_diff(target)));
                if let Some(index) = chosen {
                    taken.push(index);
                }
            }
            taken.sort_unstable();
            for index in taken {
                let mutation = &candidates[index];
                let changed = mutated_line(mutation);
                seen_lines.insert(changed.trim().to_string());
                let mut mutated = lines.clone();
                mutated[mutation.line] = &changed;
                cases.push(CorpusCase {
                    name: format!("{name}/line-{}-{}", mutation.line + 1, mutation.what),
                    text: mutated.join("\n") + "\n",
                    expect: Expectation::Reject,
                });
            }
            mutated_files += 1;
        }
        cases.push(CorpusCase { name, text, expect });
    }
    Ok((cases, files.len()))
}
