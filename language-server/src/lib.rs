//! The meshc language server: a thin LSP adapter over the compiler's
//! [`meshc_compiler::driver`] and [`meshc_compiler::ide`].
//!
//! It owns what the core must not: files, editor buffers, positions in UTF-16, the
//! wire types and scheduling. Every answer comes from the compiler's own analysis,
//! so the editor and `meshc check` never disagree.
//!
//! - Messages are handled one at a time, in the order they arrive (concurrency 1),
//!   so edits apply in order however fast they come; handlers never block long,
//!   because the analysis after an edit runs on a blocking thread after a short pause.
//! - Diagnostics cover the whole package a file belongs to, with open documents laid
//!   over the files on disk, and every file whose diagnostics went away gets an empty
//!   list.
//! - While a file does not parse, the last analysis in which it did answers position
//!   queries, with offsets mapped around the edited region ([`workspace::Shift`]).
//! - Every call into the compiler is wrapped in `catch_unwind`: a panic answers that
//!   request with an error and the server keeps running.

pub mod convert;
pub mod framing;
pub mod workspace;

use meshc_compiler::ide;
use meshc_compiler::source::SourceDb;
use meshc_compiler::span::{FileId, LineIndex, Span};
use meshc_host::package::document_package_root as package_root;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower_lsp_server::jsonrpc::{Error, ErrorCode, Result};
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer, LspService, Server};
use workspace::{Document, Package, Shift, Snapshot, normalise, panic_message};

/// The pause in typing after which a package is analysed again.
const DEBOUNCE: Duration = Duration::from_millis(30);

/// The command that panics on purpose, registered only when this variable is set, so
/// the tests can prove a panic costs one request and not the server.
const TEST_PANIC_ENV: &str = "MESHC_LANGUAGE_SERVER_TEST";
const PANIC_COMMAND: &str = "meshc.test.panic";

/// The versions of the compiler this server was built against, for `initialize`.
pub fn server_version() -> &'static str {
    meshc_compiler::VERSION
}

/// Serves LSP on stdin and stdout until the client says `exit`.
pub fn run_stdio() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    runtime.block_on(async {
        let (service, socket) =
            LspService::build(Backend::new).custom_method(framing::MALFORMED_METHOD, Backend::malformed).finish();
        let input = framing::guarded(tokio::io::stdin());
        Server::new(input, tokio::io::stdout(), socket).concurrency_level(1).serve(service).await;
    });
    // The guard may still be blocked reading stdin, on a thread no one can interrupt;
    // the client said `exit`, so the process does not wait for it.
    runtime.shutdown_background();
}

pub struct Backend {
    client: Client,
    state: Arc<Mutex<State>>,
}

impl Backend {
    /// Answers a message that [`framing`] found malformed, with its error code.
    async fn malformed(&self, params: serde_json::Value) -> Result<()> {
        let code = params.get("code").and_then(serde_json::Value::as_i64).unwrap_or(-32600);
        let message = params.get("message").and_then(serde_json::Value::as_str).unwrap_or("malformed message");
        Err(Error { code: ErrorCode::from(code), message: message.to_string().into(), data: None })
    }
}

#[derive(Default)]
struct State {
    /// Open documents by normalised path.
    documents: BTreeMap<PathBuf, Document>,
    /// The packages of open documents, by root.
    packages: BTreeMap<PathBuf, Package>,
}

/// What a query needs: the analysis, the file, and the last good analysis of the
/// file while it is broken.
struct Fetched {
    snapshot: Snapshot,
    file: FileId,
    good: Option<Snapshot>,
    paths: Vec<Option<PathBuf>>,
}

impl Fetched {
    fn uri_of(&self, file: FileId) -> Option<Uri> {
        self.paths.get(file.0 as usize)?.as_deref().and_then(convert::uri)
    }

    /// The good analysis and how offsets of the current text map into it.
    fn good_shift(&self) -> Option<(&Snapshot, Shift)> {
        let good = self.good.as_ref()?;
        Some((good, Shift::between(good.db.text(self.file), self.snapshot.db.text(self.file))))
    }
}

fn guard<T>(f: impl FnOnce() -> T) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| Error {
        code: ErrorCode::InternalError,
        message: panic_message(payload).into(),
        data: None,
    })
}

fn path_of(uri: &Uri) -> Option<PathBuf> {
    uri.to_file_path().map(|p| normalise(&p))
}

fn invalid(message: &str) -> Error {
    Error { code: ErrorCode::InvalidParams, message: message.to_string().into(), data: None }
}

impl Backend {
    pub fn new(client: Client) -> Backend {
        Backend { client, state: Arc::new(Mutex::new(State::default())) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Makes sure the package of `path` is loaded, and returns its root.
    fn ensure_package(state: &mut State, path: &Path) -> PathBuf {
        let root = normalise(&package_root(path));
        if let Some(package) = state.packages.get_mut(&root) {
            if package.file_id(path).is_none() {
                let _ = package.reload();
            }
        } else if let Ok(package) = Package::load(&root) {
            state.packages.insert(root.clone(), package);
        }
        root
    }

    /// Analyses the package after a pause, unless more edits come first, then publishes.
    fn schedule(&self, root: PathBuf, delay: Duration) {
        let state = self.state.clone();
        let client = self.client.clone();
        let generation = match self.lock().packages.get(&root) {
            Some(package) => package.generation,
            None => return,
        };
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let (db, paths, versions) = {
                let state = state.lock().unwrap_or_else(|p| p.into_inner());
                let Some(package) = state.packages.get(&root) else { return };
                if package.generation != generation || package.is_fresh() {
                    return;
                }
                let (db, paths) = package.current_db(&state.documents);
                (db, paths, versions(&state.documents))
            };
            let package_root = root.clone();
            let analysed =
                tokio::task::spawn_blocking(move || workspace::analyse_db(db, &package_root, generation)).await;
            let snapshot = match analysed {
                Ok(Ok(snapshot)) => snapshot,
                Ok(Err(message)) => {
                    client.log_message(MessageType::ERROR, message).await;
                    return;
                }
                Err(_) => return,
            };
            warm_envoy_schemas(&snapshot);
            let published = {
                let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
                let Some(package) = state.packages.get_mut(&root) else { return };
                package.store(snapshot.clone(), paths);
                if package.latest.as_ref().map(|l| l.generation) != Some(generation) {
                    return;
                }
                diagnostics_to_publish(package, &snapshot, &versions)
            };
            for (uri, diagnostics, version) in published {
                client.publish_diagnostics(uri, diagnostics, version).await;
            }
        });
    }

    /// The analysis of the package of `uri`, brought up to date with the open documents.
    async fn fetch(&self, uri: &Uri) -> Result<Fetched> {
        let path = path_of(uri).ok_or_else(|| invalid("not a file URI"))?;
        let (fetched, published) = {
            let mut guard_state = self.lock();
            let state = &mut *guard_state;
            let root = Self::ensure_package(state, &path);
            let package = state.packages.get_mut(&root).ok_or_else(|| invalid("no package for this file"))?;
            let mut published = Vec::new();
            if !package.is_fresh() {
                let snapshot = package.analyse(&state.documents).map_err(|message| Error {
                    code: ErrorCode::InternalError,
                    message: message.into(),
                    data: None,
                })?;
                published = diagnostics_to_publish(package, &snapshot, &versions(&state.documents));
            }
            let snapshot = package.latest.clone().ok_or_else(|| invalid("the package could not be analysed"))?;
            let file = package.file_id(&path).ok_or_else(|| invalid("this file is not part of its package"))?;
            let good = snapshot.is_broken(file).then(|| package.good.get(&file).cloned()).flatten();
            let paths =
                (0..snapshot.db.len()).map(|i| package.path_of(FileId(i as u32)).map(Path::to_path_buf)).collect();
            (Fetched { snapshot, file, good, paths }, published)
        };
        for (uri, diagnostics, version) in published {
            self.client.publish_diagnostics(uri, diagnostics, version).await;
        }
        Ok(fetched)
    }

    /// For completion: the latest analysis (possibly older than the text) with the
    /// current texts, so completing never waits for an analysis.
    fn fetch_for_completion(&self, uri: &Uri) -> Option<(Snapshot, Arc<SourceDb>, FileId)> {
        let path = path_of(uri)?;
        let mut state = self.lock();
        let root = Self::ensure_package(&mut state, &path);
        let package = state.packages.get(&root)?;
        let snapshot = package.latest.clone()?;
        if package.is_fresh() {
            let file = package.file_id(&path)?;
            let db = snapshot.db.clone();
            return Some((snapshot, db, file));
        }
        let (db, paths) = package.current_db(&state.documents);
        let file = paths.iter().position(|p| p.as_deref() == Some(path.as_path())).map(|i| FileId(i as u32))?;
        Some((snapshot, Arc::new(db), file))
    }

    fn edited(&self, path: &Path) -> Option<PathBuf> {
        let mut state = self.lock();
        let root = Self::ensure_package(&mut state, path);
        let package = state.packages.get_mut(&root)?;
        package.generation += 1;
        Some(root)
    }
}

fn versions(documents: &BTreeMap<PathBuf, Document>) -> HashMap<PathBuf, i32> {
    documents.iter().map(|(p, d)| (p.clone(), d.version)).collect()
}

fn diagnostics_to_publish(
    package: &mut Package,
    snapshot: &Snapshot,
    versions: &HashMap<PathBuf, i32>,
) -> Vec<(Uri, Vec<Diagnostic>, Option<i32>)> {
    let by_file = package.diagnostics_by_file(snapshot, versions.keys());
    let uri_of = |file: FileId| package.path_of(file).and_then(convert::uri);
    by_file
        .into_iter()
        .filter_map(|(path, _, diagnostics)| {
            let uri = convert::uri(&path)?;
            let converted = diagnostics.iter().map(|d| convert::diagnostic(&snapshot.db, d, &uri_of)).collect();
            Some((uri, converted, versions.get(&path).copied()))
        })
        .collect()
}

/// Loads the descriptors of the package's Envoy versions, so the first completion in
/// an Envoy message does not pay for linking them.
fn warm_envoy_schemas(snapshot: &Snapshot) {
    for envoy in snapshot.analysis.targets.envoy_versions() {
        let _ = meshc_compiler::envoy::descriptor_pool(envoy);
    }
}

fn apply_change(text: &mut String, change: &TextDocumentContentChangeEvent) {
    match change.range {
        None => *text = change.text.clone(),
        Some(range) => {
            let index = LineIndex::new(text);
            let start = index.offset_of_utf16(text, range.start.line, range.start.character) as usize;
            let end = (index.offset_of_utf16(text, range.end.line, range.end.character) as usize).max(start);
            text.replace_range(start..end, &change.text);
        }
    }
}

impl LanguageServer for Backend {
    async fn initialize(&self, _: InitializeParams) -> Result<InitializeResult> {
        let commands =
            if std::env::var_os(TEST_PANIC_ENV).is_some() { vec![PANIC_COMMAND.to_string()] } else { vec![] };
        Ok(InitializeResult {
            server_info: Some(ServerInfo {
                name: "meshc-language-server".into(),
                version: Some(server_version().into()),
            }),
            capabilities: ServerCapabilities {
                text_document_sync: Some(TextDocumentSyncCapability::Options(TextDocumentSyncOptions {
                    open_close: Some(true),
                    change: Some(TextDocumentSyncKind::INCREMENTAL),
                    save: Some(TextDocumentSyncSaveOptions::Supported(true)),
                    ..TextDocumentSyncOptions::default()
                })),
                completion_provider: Some(CompletionOptions {
                    trigger_characters: Some(vec![".".into(), " ".into(), ":".into(), "(".into()]),
                    ..CompletionOptions::default()
                }),
                hover_provider: Some(HoverProviderCapability::Simple(true)),
                definition_provider: Some(OneOf::Left(true)),
                references_provider: Some(OneOf::Left(true)),
                rename_provider: Some(OneOf::Right(RenameOptions {
                    prepare_provider: Some(true),
                    work_done_progress_options: WorkDoneProgressOptions::default(),
                })),
                document_formatting_provider: Some(OneOf::Left(true)),
                document_symbol_provider: Some(OneOf::Left(true)),
                folding_range_provider: Some(FoldingRangeProviderCapability::Simple(true)),
                semantic_tokens_provider: Some(SemanticTokensServerCapabilities::SemanticTokensOptions(
                    SemanticTokensOptions {
                        legend: convert::token_legend(),
                        full: Some(SemanticTokensFullOptions::Bool(true)),
                        range: None,
                        work_done_progress_options: WorkDoneProgressOptions::default(),
                    },
                )),
                code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
                    code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
                    ..CodeActionOptions::default()
                })),
                execute_command_provider: (!commands.is_empty())
                    .then(|| ExecuteCommandOptions { commands, ..ExecuteCommandOptions::default() }),
                ..ServerCapabilities::default()
            },
            ..InitializeResult::default()
        })
    }

    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let Some(path) = path_of(&params.text_document.uri) else { return };
        let root = {
            let mut state = self.lock();
            let document = params.text_document;
            state.documents.insert(path.clone(), Document { text: document.text, version: document.version });
            let root = Self::ensure_package(&mut state, &path);
            if let Some(package) = state.packages.get_mut(&root) {
                package.generation += 1;
            }
            root
        };
        self.schedule(root, Duration::ZERO);
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let Some(path) = path_of(&params.text_document.uri) else { return };
        {
            let mut state = self.lock();
            let Some(document) = state.documents.get_mut(&path) else { return };
            for change in &params.content_changes {
                apply_change(&mut document.text, change);
            }
            document.version = params.text_document.version;
        }
        if let Some(root) = self.edited(&path) {
            self.schedule(root, DEBOUNCE);
        }
    }

    async fn did_save(&self, params: DidSaveTextDocumentParams) {
        let Some(path) = path_of(&params.text_document.uri) else { return };
        let root = {
            let mut state = self.lock();
            let root = Self::ensure_package(&mut state, &path);
            if let Some(package) = state.packages.get_mut(&root) {
                let _ = package.reload();
            }
            root
        };
        self.schedule(root, Duration::ZERO);
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let Some(path) = path_of(&params.text_document.uri) else { return };
        let root = {
            let mut state = self.lock();
            state.documents.remove(&path);
            let root = Self::ensure_package(&mut state, &path);
            if let Some(package) = state.packages.get_mut(&root) {
                let _ = package.reload();
            }
            root
        };
        self.schedule(root, Duration::ZERO);
    }

    async fn completion(&self, params: CompletionParams) -> Result<Option<CompletionResponse>> {
        let position = params.text_document_position;
        let Some((snapshot, db, file)) = self.fetch_for_completion(&position.text_document.uri) else {
            return Ok(None);
        };
        let offset = convert::offset(&db, file, position.position);
        let items = guard(|| ide::completions(&snapshot.analysis, &db, file, offset))?;
        let incomplete = items.len() >= ide::COMPLETION_LIMIT;
        let items = items
            .into_iter()
            .map(|c| CompletionItem {
                label: c.label,
                kind: Some(convert::completion_kind(c.kind)),
                detail: c.detail,
                documentation: c
                    .documentation
                    .map(|value| Documentation::MarkupContent(MarkupContent { kind: MarkupKind::Markdown, value })),
                text_edit: Some(CompletionTextEdit::Edit(TextEdit {
                    range: convert::range(&db, c.replace),
                    new_text: c.insert,
                })),
                ..CompletionItem::default()
            })
            .collect();
        Ok(Some(CompletionResponse::List(CompletionList { is_incomplete: incomplete, items })))
    }

    async fn hover(&self, params: HoverParams) -> Result<Option<Hover>> {
        let position = params.text_document_position_params;
        let fetched = self.fetch(&position.text_document.uri).await?;
        let (db, analysis, file) = (&fetched.snapshot.db, &fetched.snapshot.analysis, fetched.file);
        let offset = convert::offset(db, file, position.position);
        let mut found = guard(|| ide::hover(analysis, db, file, offset))?;
        if found.is_none()
            && let Some((good, shift)) = fetched.good_shift()
            && let Some(old) = shift.to_old(offset)
        {
            found = guard(|| ide::hover(&good.analysis, &good.db, file, old))?
                .and_then(|h| Some(ide::Hover { range: shift.span_to_new(h.range)?, ..h }));
        }
        Ok(found.map(|h| Hover {
            contents: HoverContents::Markup(MarkupContent { kind: MarkupKind::Markdown, value: h.markdown }),
            range: Some(convert::range(db, h.range)),
        }))
    }

    async fn goto_definition(&self, params: GotoDefinitionParams) -> Result<Option<GotoDefinitionResponse>> {
        let position = params.text_document_position_params;
        let fetched = self.fetch(&position.text_document.uri).await?;
        let (db, analysis, file) = (&fetched.snapshot.db, &fetched.snapshot.analysis, fetched.file);
        let offset = convert::offset(db, file, position.position);
        let mut found = guard(|| ide::definition(analysis, db, file, offset))?.map(|s| (s, db.clone()));
        if found.is_none()
            && let Some((good, shift)) = fetched.good_shift()
            && let Some(old) = shift.to_old(offset)
        {
            found = guard(|| ide::definition(&good.analysis, &good.db, file, old))?
                .and_then(|s| if s.file == file { shift.span_to_new(s) } else { Some(s) })
                .map(|s| (s, db.clone()));
        }
        Ok(found.and_then(|(span, db)| {
            Some(GotoDefinitionResponse::Scalar(Location {
                uri: fetched.uri_of(span.file)?,
                range: convert::range(&db, span),
            }))
        }))
    }

    async fn references(&self, params: ReferenceParams) -> Result<Option<Vec<Location>>> {
        let position = params.text_document_position;
        let fetched = self.fetch(&position.text_document.uri).await?;
        let (db, analysis, file) = (&fetched.snapshot.db, &fetched.snapshot.analysis, fetched.file);
        let offset = convert::offset(db, file, position.position);
        let include = params.context.include_declaration;
        let mut spans = guard(|| ide::references(analysis, db, file, offset, include))?;
        if spans.is_empty()
            && let Some((good, shift)) = fetched.good_shift()
            && let Some(old) = shift.to_old(offset)
        {
            spans = guard(|| ide::references(&good.analysis, &good.db, file, old, include))?
                .into_iter()
                .filter_map(|s| if s.file == file { shift.span_to_new(s) } else { Some(s) })
                .collect();
        }
        let locations = spans
            .into_iter()
            .filter_map(|span| Some(Location { uri: fetched.uri_of(span.file)?, range: convert::range(db, span) }))
            .collect();
        Ok(Some(locations))
    }

    async fn prepare_rename(&self, params: TextDocumentPositionParams) -> Result<Option<PrepareRenameResponse>> {
        let fetched = self.fetch(&params.text_document.uri).await?;
        let (db, analysis, file) = (&fetched.snapshot.db, &fetched.snapshot.analysis, fetched.file);
        let offset = convert::offset(db, file, params.position);
        let span = guard(|| ide::prepare_rename(analysis, db, file, offset))?;
        Ok(span.map(|s| PrepareRenameResponse::Range(convert::range(db, s))))
    }

    async fn rename(&self, params: RenameParams) -> Result<Option<WorkspaceEdit>> {
        let position = params.text_document_position;
        let fetched = self.fetch(&position.text_document.uri).await?;
        if fetched.snapshot.has_syntax_errors() {
            return Err(invalid("fix the syntax errors of the package before renaming"));
        }
        let (db, analysis, file) = (&fetched.snapshot.db, &fetched.snapshot.analysis, fetched.file);
        let offset = convert::offset(db, file, position.position);
        let edits = guard(|| ide::rename(analysis, db, file, offset, &params.new_name))?
            .map_err(|error| invalid(&error.to_string()))?;
        let mut changes: HashMap<Uri, Vec<TextEdit>> = HashMap::new();
        for edit in edits {
            if let Some(uri) = fetched.uri_of(edit.span.file) {
                changes
                    .entry(uri)
                    .or_default()
                    .push(TextEdit { range: convert::range(db, edit.span), new_text: edit.new_text });
            }
        }
        Ok(Some(WorkspaceEdit { changes: Some(changes), ..WorkspaceEdit::default() }))
    }

    async fn formatting(&self, params: DocumentFormattingParams) -> Result<Option<Vec<TextEdit>>> {
        let fetched = self.fetch(&params.text_document.uri).await?;
        let db = &fetched.snapshot.db;
        let text = db.text(fetched.file);
        if db.get(fetched.file).kind != meshc_compiler::source::SourceKind::Package {
            return Ok(None);
        }
        let Some(formatted) = guard(|| meshc_compiler::fmt::format_source(text))? else {
            return Err(invalid("the file has syntax errors; fix them before formatting"));
        };
        if formatted == text {
            return Ok(Some(Vec::new()));
        }
        let whole = Span::new(fetched.file, 0, text.len() as u32);
        Ok(Some(vec![TextEdit { range: convert::range(db, whole), new_text: formatted }]))
    }

    async fn document_symbol(&self, params: DocumentSymbolParams) -> Result<Option<DocumentSymbolResponse>> {
        let fetched = self.fetch(&params.text_document.uri).await?;
        let file = fetched.file;
        // While the file is broken, the outline of its last good version, where it maps.
        if let Some((good, shift)) = fetched.good_shift() {
            let symbols = guard(|| ide::document_symbols(&good.analysis, &good.db, file))?;
            let mapped = symbols.iter().filter_map(|s| shift_symbol(s, &shift)).collect::<Vec<_>>();
            let db = &fetched.snapshot.db;
            return Ok(Some(DocumentSymbolResponse::Nested(
                mapped.iter().map(|s| convert::document_symbol(db, s)).collect(),
            )));
        }
        let (db, analysis) = (&fetched.snapshot.db, &fetched.snapshot.analysis);
        let symbols = guard(|| ide::document_symbols(analysis, db, file))?;
        Ok(Some(DocumentSymbolResponse::Nested(symbols.iter().map(|s| convert::document_symbol(db, s)).collect())))
    }

    async fn semantic_tokens_full(&self, params: SemanticTokensParams) -> Result<Option<SemanticTokensResult>> {
        let fetched = self.fetch(&params.text_document.uri).await?;
        let (db, analysis, file) = (&fetched.snapshot.db, &fetched.snapshot.analysis, fetched.file);
        let tokens = guard(|| ide::semantic_tokens(analysis, db, file))?;
        let data = convert::semantic_tokens(db, &tokens);
        Ok(Some(SemanticTokensResult::Tokens(SemanticTokens { result_id: None, data })))
    }

    async fn folding_range(&self, params: FoldingRangeParams) -> Result<Option<Vec<FoldingRange>>> {
        let fetched = self.fetch(&params.text_document.uri).await?;
        let (db, analysis, file) = (&fetched.snapshot.db, &fetched.snapshot.analysis, fetched.file);
        let folds = guard(|| ide::folding_ranges(analysis, db, file))?;
        Ok(Some(folds.iter().filter_map(|f| convert::folding_range(db, file, f)).collect()))
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        let fetched = self.fetch(&params.text_document.uri).await?;
        let (db, analysis, file) = (&fetched.snapshot.db, &fetched.snapshot.analysis, fetched.file);
        let start = convert::offset(db, file, params.range.start);
        let end = convert::offset(db, file, params.range.end);
        let actions = guard(|| ide::code_actions(analysis, db, file, start, end))?;
        let uri_of = |f: FileId| fetched.uri_of(f);
        let response = actions
            .into_iter()
            .map(|action| {
                let mut changes: HashMap<Uri, Vec<TextEdit>> = HashMap::new();
                for edit in action.edits {
                    if let Some(uri) = fetched.uri_of(edit.span.file) {
                        changes
                            .entry(uri)
                            .or_default()
                            .push(TextEdit { range: convert::range(db, edit.span), new_text: edit.new_text });
                    }
                }
                let diagnostics = action
                    .diagnostic
                    .and_then(|i| analysis.diagnostics.get(i))
                    .map(|d| vec![convert::diagnostic(db, d, &uri_of)]);
                CodeActionOrCommand::CodeAction(CodeAction {
                    title: action.title,
                    kind: Some(CodeActionKind::QUICKFIX),
                    diagnostics,
                    edit: Some(WorkspaceEdit { changes: Some(changes), ..WorkspaceEdit::default() }),
                    is_preferred: Some(action.preferred),
                    ..CodeAction::default()
                })
            })
            .collect();
        Ok(Some(response))
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> Result<Option<LSPAny>> {
        if params.command == PANIC_COMMAND && std::env::var_os(TEST_PANIC_ENV).is_some() {
            return guard(|| panic!("a panic requested by {PANIC_COMMAND}"));
        }
        Err(Error::method_not_found())
    }
}

fn shift_symbol(symbol: &ide::DocumentSymbol, shift: &Shift) -> Option<ide::DocumentSymbol> {
    Some(ide::DocumentSymbol {
        span: shift.span_to_new(symbol.span)?,
        selection: shift.span_to_new(symbol.selection)?,
        children: symbol.children.iter().filter_map(|c| shift_symbol(c, shift)).collect(),
        ..symbol.clone()
    })
}
