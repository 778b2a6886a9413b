//! The engine, the compiled plugin, and the driver that calls a plugin's callbacks in the
//! order Envoy does.

use std::collections::{BTreeMap, VecDeque};
use std::sync::OnceLock;

use wasmtime::{Config, Engine, Instance, InstancePre, Linker, Module, Store, Trap, WasmParams, WasmResults};

use super::error::HostTrap;
use super::limits::Limiter;
use super::state::HostState;
use super::{HttpMessage, LogLevel, MetricValue, PluginRun, RunError, RunOutcome, abi_host, wasi};

/// The root context's id. Stream contexts get 2, 3, ...
const ROOT: i32 = 1;

/// The most http calls delivered in one go, so a plugin that dispatches a call from every
/// call's response cannot keep the host busy forever.
const MAX_CALLS_PER_CALLBACK: usize = 1000;

/// One engine for the process: fuel on, Cranelift, default settings otherwise.
fn engine() -> Result<&'static Engine, RunError> {
    static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();
    let engine = ENGINE.get_or_init(|| {
        let mut config = Config::new();
        config.consume_fuel(true);
        Engine::new(&config).map_err(|e| e.to_string())
    });
    engine.as_ref().map_err(|e| RunError::Engine(e.clone()))
}

/// A compiled and linked plugin: the cached compiled module that instances start from.
pub struct Plugin {
    pre: InstancePre<HostState>,
}

impl Plugin {
    /// Compiles a module given as Wasm binary or WebAssembly text and links it against the
    /// host. An import the host does not provide is an error naming it.
    pub fn compile(bytes: &[u8]) -> Result<Plugin, RunError> {
        let engine = engine()?;
        let wasm = wat::parse_bytes(bytes).map_err(|e| RunError::Compile(e.to_string()))?;
        let module = Module::new(engine, &wasm).map_err(|e| RunError::Compile(e.to_string()))?;
        let mut linker = Linker::new(engine);
        abi_host::add_to_linker(&mut linker).map_err(|e| RunError::Engine(e.to_string()))?;
        wasi::add_to_linker(&mut linker).map_err(|e| RunError::Engine(e.to_string()))?;
        let mut store = Store::new(engine, HostState::default());
        for import in module.imports() {
            if linker.get(&mut store, import.module(), import.name()).is_err() {
                return Err(RunError::UnknownImport {
                    module: import.module().to_string(),
                    name: import.name().to_string(),
                });
            }
        }
        if module.get_export("memory").is_none() {
            return Err(RunError::MissingExport("memory".into()));
        }
        if module.get_export("proxy_on_memory_allocate").is_none() && module.get_export("malloc").is_none() {
            return Err(RunError::MissingExport("proxy_on_memory_allocate (or malloc)".into()));
        }
        let pre = linker.instantiate_pre(&module).map_err(|e| RunError::Instantiate(e.to_string()))?;
        Ok(Plugin { pre })
    }

    /// Starts a VM and drives one request through it.
    pub fn run(&self, run: &PluginRun) -> Result<RunOutcome, RunError> {
        Vm::start(self, run)?.request(run)
    }
}

/// A running plugin: one instance with its root context configured.
pub struct Vm {
    store: Store<HostState>,
    instance: Instance,
    fuel: u64,
    next_context: i32,
    /// The answers still to give to http calls.
    call_responses: VecDeque<HttpMessage>,
    /// When the timer last fired (or the start time).
    last_tick: u64,
}

impl Vm {
    /// Instantiates the plugin in a fresh sandbox and runs the root context's lifecycle:
    /// `_initialize` (or `_start`), `proxy_on_context_create`, `proxy_on_vm_start`,
    /// `proxy_on_configure`.
    pub fn start(plugin: &Plugin, run: &PluginRun) -> Result<Vm, RunError> {
        let state = HostState {
            limiter: Limiter { memory_bytes: run.limits.memory_bytes, table_elements: run.limits.table_elements },
            plugin_config: run.plugin_config.clone(),
            vm_config: run.vm_config.clone(),
            env: run.env.clone(),
            now_nanos: run.start_time_nanos,
            rng: run.random_seed,
            properties: run.properties.clone(),
            effective_context: ROOT as u32,
            host_bytes_limit: run.limits.host_bytes,
            ..HostState::default()
        };
        let mut store = Store::new(plugin.pre.module().engine(), state);
        store.limiter(|s| &mut s.limiter);
        let fuel = run.limits.fuel_per_callback;
        store.set_fuel(fuel).map_err(|e| RunError::Engine(e.to_string()))?;
        let instance = plugin.pre.instantiate(&mut store).map_err(|e| classify(e, "instantiation", fuel))?;
        let mut vm = Vm {
            store,
            instance,
            fuel,
            next_context: ROOT + 1,
            call_responses: run.http_call_responses.iter().cloned().collect(),
            last_tick: run.start_time_nanos,
        };
        // A reactor's `_initialize`, else a command's `_start`; `proc_exit(0)` there is a
        // normal end (TinyGo's `_start` may call it).
        for name in ["_initialize", "_start"] {
            if vm.instance.get_func(&mut vm.store, name).is_some() {
                match vm.call::<(), ()>(name, ()) {
                    Err(RunError::Exit { code: 0, .. }) | Ok(_) => break,
                    Err(e) => return Err(e),
                }
            }
        }
        vm.call::<(i32, i32), ()>("proxy_on_context_create", (ROOT, 0))?;
        vm.deliver_calls()?;
        let size = run.vm_config.len() as i32;
        let started = vm.call::<(i32, i32), i32>("proxy_on_vm_start", (ROOT, size))?;
        vm.deliver_calls()?;
        if started == Some(0) {
            return Err(RunError::VmStartFailed);
        }
        let size = run.plugin_config.len() as i32;
        let configured = vm.call::<(i32, i32), i32>("proxy_on_configure", (ROOT, size))?;
        vm.deliver_calls()?;
        if configured == Some(0) {
            let reason = vm
                .store
                .data()
                .logs
                .iter()
                .rev()
                .find(|(level, _)| *level >= LogLevel::Warn)
                .map(|(_, line)| line.clone());
            return Err(RunError::ConfigurationRejected { reason });
        }
        Ok(vm)
    }

    /// Drives one stream: the request (headers, body, trailers), then, unless the plugin
    /// replied locally or closed the stream, the upstream's response, then the end of the
    /// stream (`proxy_on_log`, `proxy_on_done`, `proxy_on_delete`). Http calls are answered
    /// with the run's `http_call_responses`, from the first. Logs, http calls and metrics
    /// are those since the VM started or since the previous request.
    pub fn request(&mut self, run: &PluginRun) -> Result<RunOutcome, RunError> {
        self.request_to(run, &mut |_| run.response.clone())
    }

    /// [`Vm::request`] with an upstream that answers the request as the plugin let it go,
    /// as an echo server does, instead of the run's fixed `response`.
    pub fn request_to(
        &mut self,
        run: &PluginRun,
        upstream: &mut dyn FnMut(&HttpMessage) -> HttpMessage,
    ) -> Result<RunOutcome, RunError> {
        let ctx = self.next_context;
        self.next_context += 1;
        self.call_responses = run.http_call_responses.iter().cloned().collect();
        {
            let s = self.store.data_mut();
            s.request = run.request.clone();
            s.response = HttpMessage::default();
            s.local_reply = None;
            s.stream_closed = false;
            s.effective_context = ctx as u32;
        }
        self.call::<(i32, i32), ()>("proxy_on_context_create", (ctx, ROOT))?;
        self.deliver_calls()?;
        let go_on = self.message(ctx, false, &run.request)?;
        let forwarded_request = self.store.data().request.clone();
        if go_on {
            let response = upstream(&forwarded_request);
            self.store.data_mut().response = response.clone();
            self.message(ctx, true, &response)?;
        }
        self.store.data_mut().effective_context = ctx as u32;
        self.call::<i32, ()>("proxy_on_log", ctx)?;
        self.store.data_mut().effective_context = ctx as u32;
        self.call::<i32, i32>("proxy_on_done", ctx)?;
        self.store.data_mut().effective_context = ctx as u32;
        self.call::<i32, ()>("proxy_on_delete", ctx)?;
        self.store.data_mut().effective_context = ROOT as u32;
        Ok(self.outcome(forwarded_request))
    }

    /// The metrics as they stand now (after [`Vm::start`], those the VM's start recorded).
    pub fn metrics(&self) -> BTreeMap<String, MetricValue> {
        self.store.data().metrics.iter().map(|m| (m.name.clone(), m.value.clone())).collect()
    }

    /// The log lines written since the VM started or since the last request or call of
    /// this, which the next request's outcome would otherwise carry.
    pub fn take_logs(&mut self) -> Vec<(LogLevel, String)> {
        let s = self.store.data_mut();
        s.flush_stdio(true);
        std::mem::take(&mut s.logs)
    }

    /// Advances the clock by `nanos`, firing `proxy_on_tick` for every tick period that
    /// ends on the way.
    pub fn advance_clock(&mut self, nanos: u64) -> Result<(), RunError> {
        let target = self.store.data().now_nanos.saturating_add(nanos);
        for _ in 0..10_000 {
            let period = u64::from(self.store.data().tick_period_ms) * 1_000_000;
            if period == 0 || self.last_tick.saturating_add(period) > target {
                break;
            }
            self.last_tick += period;
            let s = self.store.data_mut();
            s.now_nanos = self.last_tick;
            s.effective_context = ROOT as u32;
            self.call::<i32, ()>("proxy_on_tick", ROOT)?;
            self.deliver_calls()?;
        }
        self.store.data_mut().now_nanos = target;
        Ok(())
    }

    /// Headers, body and trailers of the request (or the response). False when the stream
    /// ends early (a local reply or a closed stream).
    fn message(&mut self, ctx: i32, response: bool, m: &HttpMessage) -> Result<bool, RunError> {
        let (headers, body, trailers) = if response {
            ("proxy_on_response_headers", "proxy_on_response_body", "proxy_on_response_trailers")
        } else {
            ("proxy_on_request_headers", "proxy_on_request_body", "proxy_on_request_trailers")
        };
        let has_body = !m.body.is_empty();
        let has_trailers = !m.trailers.is_empty();
        let n = m.headers.len() as i32;
        let eos = !has_body && !has_trailers;
        if !self.phase(ctx, response, headers, Some(n), eos)? {
            return Ok(false);
        }
        if has_body {
            let s = self.store.data();
            let size = if response { &s.response } else { &s.request }.body.len() as i32;
            if !self.phase(ctx, response, body, Some(size), !has_trailers)? {
                return Ok(false);
            }
        }
        if has_trailers && !self.phase(ctx, response, trailers, None, true)? {
            return Ok(false);
        }
        Ok(true)
    }

    /// One callback of a stream, then the http calls it dispatched. `size` is None for the
    /// trailers callbacks, which take (context, count) only.
    fn phase(
        &mut self,
        ctx: i32,
        response: bool,
        name: &'static str,
        size: Option<i32>,
        eos: bool,
    ) -> Result<bool, RunError> {
        let s = self.store.data_mut();
        s.resume_request = false;
        s.resume_response = false;
        s.effective_context = ctx as u32;
        let action = match size {
            Some(size) => self.call::<(i32, i32, i32), i32>(name, (ctx, size, i32::from(eos)))?,
            None => {
                let s = self.store.data();
                let m = if response { &s.response } else { &s.request };
                let n = m.trailers.len() as i32;
                self.call::<(i32, i32), i32>(name, (ctx, n))?
            }
        };
        self.deliver_calls()?;
        let s = self.store.data();
        if s.local_reply.is_some() || s.stream_closed {
            return Ok(false);
        }
        let resumed = if response { s.resume_response } else { s.resume_request };
        // Any action but Continue (0) stops the stream until the plugin resumes it. Before
        // the end of the stream that is fine, as in Envoy: a paused headers callback still
        // gets the body (whose callback may continue), and a paused body callback buffers.
        let more_to_come = !eos;
        if action.unwrap_or(0) != 0 && !resumed && !more_to_come {
            return Err(RunError::Stalled { callback: name.to_string() });
        }
        Ok(true)
    }

    /// Answers the http calls dispatched so far, each with the test's next response.
    fn deliver_calls(&mut self) -> Result<(), RunError> {
        for _ in 0..MAX_CALLS_PER_CALLBACK {
            let Some((ctx, token)) = self.store.data_mut().pending_calls.pop_front() else {
                return Ok(());
            };
            let answer = self.call_responses.pop_front().unwrap_or_default();
            let args = (
                ctx as i32,
                token as i32,
                answer.headers.len() as i32,
                answer.body.len() as i32,
                answer.trailers.len() as i32,
            );
            let s = self.store.data_mut();
            s.call_response = Some(answer);
            s.effective_context = ctx;
            let result = self.call::<(i32, i32, i32, i32, i32), ()>("proxy_on_http_call_response", args);
            self.store.data_mut().call_response = None;
            result?;
        }
        Err(RunError::Trap {
            callback: "proxy_on_http_call_response".into(),
            reason: format!("more than {MAX_CALLS_PER_CALLBACK} http calls in a row"),
        })
    }

    /// Calls an export if the module has it; None when it does not.
    fn call<P: WasmParams, R: WasmResults>(&mut self, name: &'static str, params: P) -> Result<Option<R>, RunError> {
        let Some(func) = self.instance.get_func(&mut self.store, name) else {
            return Ok(None);
        };
        let typed = func
            .typed::<P, R>(&self.store)
            .map_err(|e| RunError::BadExport { name: name.to_string(), reason: e.to_string() })?;
        self.store.set_fuel(self.fuel).map_err(|e| RunError::Engine(e.to_string()))?;
        let result = typed.call(&mut self.store, params);
        self.store.data_mut().flush_stdio(result.is_err());
        result.map(Some).map_err(|e| classify(e, name, self.fuel))
    }

    fn outcome(&mut self, forwarded_request: HttpMessage) -> RunOutcome {
        let s = self.store.data_mut();
        s.flush_stdio(true);
        let returned_response = match &s.local_reply {
            Some(reply) => {
                let mut headers = vec![(":status".to_string(), reply.status.to_string())];
                headers.extend(reply.headers.iter().cloned());
                HttpMessage { headers, body: reply.body.clone(), trailers: Vec::new() }
            }
            None => s.response.clone(),
        };
        RunOutcome {
            forwarded_request,
            returned_response,
            local_reply: s.local_reply.clone(),
            stream_closed: s.stream_closed,
            metrics: s.metrics.iter().map(|m| (m.name.clone(), m.value.clone())).collect(),
            logs: std::mem::take(&mut s.logs),
            http_calls: std::mem::take(&mut s.http_calls),
            shared_data: s.shared.clone(),
            properties_set: s.properties_set.clone(),
        }
    }
}

/// Turns wasmtime's error into the reason a test shows.
fn classify(e: wasmtime::Error, callback: &str, budget: u64) -> RunError {
    let callback = callback.to_string();
    if let Some(h) = e.downcast_ref::<HostTrap>() {
        return match h {
            HostTrap::MemoryLimit { requested, limit } => {
                RunError::MemoryLimit { callback, requested: *requested, limit: *limit }
            }
            HostTrap::ProcExit(code) => RunError::Exit { callback, code: *code },
            other => RunError::Trap { callback, reason: other.to_string() },
        };
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => RunError::OutOfFuel { callback, budget },
        Some(trap) => RunError::Trap { callback, reason: trap.to_string() },
        None => RunError::Trap { callback, reason: e.to_string() },
    }
}
