//! `meshc diff` and `meshc apply` as a user runs them, against a cluster.
//!
//! Three tiers run the same scenarios (the `scenario!` macro makes the three twins):
//! - `*_fake`: the fake API server of `meshc-fake-apiserver`, a stateful server with
//!   server-side apply's field managers, conflicts, dry runs, label selectors and
//!   schema validation, reached over HTTP through a kubeconfig as a real cluster is,
//!   seeded and inspected in process. Only here can a test count the requests meshc
//!   sends and cut the connection.
//! - `*_fake_via_api`: a fresh fake (no CRDs, the default namespaces) treated as a real
//!   cluster, so the real tier's own code runs on every test run: it installs Istio's
//!   CRDs by server-side apply through kube-rs, waits until they are Established,
//!   creates and at the end deletes its namespaces, seeds and reads objects through
//!   discovery.
//! - `*_real` (ignored unless asked for): the cluster `MESHC_TEST_KUBECONFIG` names
//!   (kind, k3d or any other). Each scenario works in namespaces of its own, applies
//!   Istio's CRDs (1.30) with force as `meshc-test-setup`, and deletes its namespaces at
//!   the end (a real cluster takes a while to finish that). Use a disposable cluster.
//!
//! The real tier with kind:
//!
//! ```text
//! kind create cluster --name meshc-test
//! kind get kubeconfig --name meshc-test > /tmp/meshc-test-kubeconfig
//! MESHC_TEST_KUBECONFIG=/tmp/meshc-test-kubeconfig cargo test -p meshc --test cluster -- --ignored
//! kind delete cluster --name meshc-test
//! ```
//!
//! With k3d:
//!
//! ```text
//! k3d cluster create meshc-test
//! k3d kubeconfig get meshc-test > /tmp/meshc-test-kubeconfig
//! MESHC_TEST_KUBECONFIG=/tmp/meshc-test-kubeconfig cargo test -p meshc --test cluster -- --ignored
//! k3d cluster delete meshc-test
//! ```
//!
//! The same tier against the fake as a process (what `*_fake_via_api` does in process;
//! `--token` because `expired_credentials_are_named_real` needs a token to refuse):
//!
//! ```text
//! cargo run -p meshc-fake-apiserver -- --token t --kubeconfig-out /tmp/fake-kubeconfig &
//! MESHC_TEST_KUBECONFIG=/tmp/fake-kubeconfig cargo test -p meshc --test cluster -- --ignored
//! kill %1
//! ```
//!
//! `meshc apply` by hand against the fake, from the repository's root (the fake prints
//! `ready URL` once it accepts connections and serves until killed; its state is in
//! memory and goes with it):
//!
//! ```text
//! cargo build -p meshc -p meshc-fake-apiserver
//! target/debug/meshc-fake-apiserver --istio-crds ../shared/reference/istio-crds/1.30 \
//!     --namespace istio-system --kubeconfig-out /tmp/fake-kubeconfig &
//! target/debug/meshc diff examples/baseline --kubeconfig /tmp/fake-kubeconfig
//! target/debug/meshc apply examples/baseline --kubeconfig /tmp/fake-kubeconfig --create-namespaces
//! curl -s URL/apis/telemetry.istio.io/v1/telemetries   # what is stored, URL as printed
//! kill %1
//! ```

use meshc_fake_apiserver::{FakeApiServer, Fault, RunningServer};
use serde_json::{Value as Json, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The Istio release whose CRDs the clusters serve, as the packages target it.
const RELEASE: &str = "1.30";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The CRDs of the three Istio kinds, from the schemas in `../shared/reference`.
fn istio_crds() -> Vec<Json> {
    meshc_fake_apiserver::istio_crds(&workspace().join("../shared/reference/istio-crds").join(RELEASE))
}

/// A cluster for one scenario, and where its objects go.
struct TestCluster {
    dir: PathBuf,
    kubeconfig: PathBuf,
    /// The package's root namespace and its application namespace: fixed on the fake,
    /// unique per scenario on a real cluster.
    root: String,
    shop: String,
    backend: Backend,
}

enum Backend {
    /// The fake, seeded and inspected in process.
    Fake { server: FakeApiServer, running: RunningServer },
    /// A cluster reached only through its API, as a real one is: seeded by server-side
    /// apply through kube-rs, read through discovery. `serving` is the fake behind it in
    /// the `*_fake_via_api` twins (None on a real cluster).
    Api { client: kube::Client, runtime: tokio::runtime::Runtime, serving: Option<(FakeApiServer, RunningServer)> },
}

const TOKEN: &str = "meshc-test-token";

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("meshc-cluster-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn kubeconfig_text(server: &str, token: &str) -> String {
    meshc_fake_apiserver::kubeconfig(server, token)
}

impl TestCluster {
    /// The fake API server with Istio's CRDs and the scenario's namespaces.
    fn fake(name: &str) -> TestCluster {
        let server = FakeApiServer::new();
        for crd in istio_crds() {
            server.install_crd(&crd);
        }
        server.require_token(TOKEN);
        for namespace in ["istio-system", "shop"] {
            server.add_namespace(namespace);
        }
        let running = server.start();
        let dir = scratch(name);
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(&kubeconfig, kubeconfig_text(&running.url(), TOKEN)).unwrap();
        TestCluster {
            dir,
            kubeconfig,
            root: "istio-system".into(),
            shop: "shop".into(),
            backend: Backend::Fake { server, running },
        }
    }

    /// The real cluster of `MESHC_TEST_KUBECONFIG`, with namespaces of this scenario's own.
    fn real(name: &str) -> TestCluster {
        let path = std::env::var_os("MESHC_TEST_KUBECONFIG")
            .map(PathBuf::from)
            .expect("the real-cluster tier needs MESHC_TEST_KUBECONFIG (a kubeconfig of a disposable cluster)");
        TestCluster::through_api(scratch(name), path, None)
    }

    /// A fresh fake (no CRDs, the default namespaces, a token) treated as a real cluster:
    /// the real tier's own setup, reads and teardown run against it on every test run.
    fn fake_via_api(name: &str) -> TestCluster {
        let server = FakeApiServer::new();
        server.require_token(TOKEN);
        let running = server.start();
        let dir = scratch(name);
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(&kubeconfig, kubeconfig_text(&running.url(), TOKEN)).unwrap();
        TestCluster::through_api(dir, kubeconfig, Some((server, running)))
    }

    /// The cluster of `kubeconfig`, reached only through its API: installs Istio's CRDs,
    /// waits until they are served, creates the scenario's namespaces.
    fn through_api(dir: PathBuf, path: PathBuf, serving: Option<(FakeApiServer, RunningServer)>) -> TestCluster {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let client = runtime.block_on(async {
            let kubeconfig = kube::config::Kubeconfig::read_from(&path).unwrap();
            let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await.unwrap();
            kube::Client::try_from(config).unwrap()
        });
        // Namespace names have at most 63 characters, and the scenarios add `-new` to one:
        // the process id and a counter keep them short and unique (the scratch folder
        // carries the scenario's name).
        static SCENARIOS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let suffix = format!("{}-{}", std::process::id(), SCENARIOS.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let cluster = TestCluster {
            dir,
            kubeconfig: path,
            root: format!("meshc-root-{suffix}"),
            shop: format!("meshc-shop-{suffix}"),
            backend: Backend::Api { client, runtime, serving },
        };
        for crd in istio_crds() {
            cluster.apply_as("meshc-test-setup", &crd, true).expect("install the CRDs");
        }
        // A CRD is served once the API server reports it Established.
        for crd in istio_crds() {
            let name = crd["metadata"]["name"].as_str().unwrap().to_string();
            let established = |object: &Json| {
                object["status"]["conditions"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|c| c["type"] == "Established" && c["status"] == "True"))
            };
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
            while !cluster.get_crd(&name).is_some_and(|c| established(&c)) {
                assert!(std::time::Instant::now() < deadline, "the CRD {name} is not established after 120 s");
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
        }
        for namespace in [&cluster.root, &cluster.shop] {
            let object = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}});
            cluster.apply_as("meshc-test-setup", &object, true).unwrap();
        }
        cluster
    }

    fn fake_server(&self) -> Option<&FakeApiServer> {
        match &self.backend {
            Backend::Fake { server, .. } => Some(server),
            Backend::Api { .. } => None,
        }
    }

    /// Server-side apply as another actor (a person, a controller) would.
    fn apply_as(&self, manager: &str, object: &Json, force: bool) -> Result<Json, String> {
        match &self.backend {
            Backend::Fake { server, .. } => server.apply_as(manager, object, force).map_err(|s| s.body.to_string()),
            Backend::Api { client, runtime, .. } => runtime.block_on(async {
                let api = dynamic_api(client.clone(), object).await?;
                let name = object["metadata"]["name"].as_str().unwrap_or_default();
                let params = kube::api::PatchParams { force, ..kube::api::PatchParams::apply(manager) };
                api.patch(name, &params, &kube::api::Patch::Apply(object))
                    .await
                    .map(|o| serde_json::to_value(o).unwrap())
                    .map_err(|e| e.to_string())
            }),
        }
    }

    /// The live object, as a GET returns it.
    fn get(&self, api_version: &str, kind: &str, namespace: &str, name: &str) -> Option<Json> {
        let plural = match kind {
            "Telemetry" => "telemetries",
            "WasmPlugin" => "wasmplugins",
            "EnvoyFilter" => "envoyfilters",
            "ConfigMap" => "configmaps",
            other => panic!("no plural for {other}"),
        };
        match &self.backend {
            Backend::Fake { server, .. } => {
                let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or_default();
                server.object(group, plural, Some(namespace), name)
            }
            Backend::Api { client, runtime, .. } => runtime.block_on(async {
                let object = json!({"apiVersion": api_version, "kind": kind, "metadata": {"namespace": namespace}});
                let api = dynamic_api(client.clone(), &object).await.ok()?;
                api.get_opt(name).await.ok().flatten().map(|o| serde_json::to_value(o).unwrap())
            }),
        }
    }

    /// A CustomResourceDefinition of a cluster reached through its API.
    fn get_crd(&self, name: &str) -> Option<Json> {
        let Backend::Api { client, runtime, .. } = &self.backend else { return None };
        runtime.block_on(async {
            let object =
                json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {}});
            let api = dynamic_api(client.clone(), &object).await.ok()?;
            api.get_opt(name).await.ok().flatten().map(|o| serde_json::to_value(o).unwrap())
        })
    }

    /// The resourceVersion of every object of the scenario's namespaces (the three
    /// Istio kinds and ConfigMaps), by kind, namespace and name.
    fn versions(&self) -> std::collections::BTreeMap<String, String> {
        let kinds = [
            ("telemetry.istio.io/v1", "Telemetry"),
            ("extensions.istio.io/v1alpha1", "WasmPlugin"),
            ("networking.istio.io/v1alpha3", "EnvoyFilter"),
            ("v1", "ConfigMap"),
        ];
        let mut versions = std::collections::BTreeMap::new();
        for namespace in [&self.root, &self.shop] {
            for (api_version, kind) in kinds {
                let items: Vec<Json> = match &self.backend {
                    Backend::Fake { server, .. } => server
                        .objects()
                        .into_iter()
                        .filter(|o| o["kind"] == kind && o["metadata"]["namespace"] == namespace.as_str())
                        .collect(),
                    Backend::Api { client, runtime, .. } => runtime.block_on(async {
                        let object =
                            json!({"apiVersion": api_version, "kind": kind, "metadata": {"namespace": namespace}});
                        let Ok(api) = dynamic_api(client.clone(), &object).await else { return vec![] };
                        let list = api.list(&Default::default()).await.map(|l| l.items).unwrap_or_default();
                        list.iter().map(|o| serde_json::to_value(o).unwrap()).collect()
                    }),
                };
                for item in items {
                    let name = item["metadata"]["name"].as_str().unwrap_or_default();
                    let version = item["metadata"]["resourceVersion"].as_str().unwrap_or_default();
                    versions.insert(format!("{kind} {namespace}/{name}"), version.to_string());
                }
            }
        }
        versions
    }

    /// Asserts that nothing was written since `before` was taken (and the fake's log
    /// cleared): on the fake, not one write request; on any cluster, no object of the
    /// scenario's namespaces created, changed or deleted.
    fn assert_unwritten(&self, before: &std::collections::BTreeMap<String, String>, what: &str) {
        assert_eq!(&self.versions(), before, "{what}: the cluster changed");
        if let Some(writes) = self.take_writes() {
            assert_eq!(writes, Vec::<String>::new(), "{what}: write requests were sent");
        }
    }

    /// The writes the fake received since the last call (None on a real cluster).
    fn take_writes(&self) -> Option<Vec<String>> {
        let server = self.fake_server()?;
        let writes = server
            .requests()
            .into_iter()
            .filter(|r| r.is_write())
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        server.clear_requests();
        Some(writes)
    }

    /// Writes the package (`{root}` and `{shop}` in the texts stand for the scenario's
    /// namespaces) and returns its directory.
    fn package(&self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = self.dir.join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (file, text) in files {
            let text = text.replace("{root}", &self.root).replace("{shop}", &self.shop);
            std::fs::write(dir.join(file), text).unwrap();
        }
        dir
    }

    fn meshc(&self, args: &[&str]) -> Output {
        let kubeconfig = self.kubeconfig.to_str().unwrap();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--kubeconfig", kubeconfig]);
        Command::new(env!("CARGO_BIN_EXE_meshc"))
            .args(&all)
            .current_dir(&self.dir)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if let Backend::Api { client, runtime, serving } = &self.backend {
            let deleted: Vec<Result<(), String>> = runtime.block_on(async {
                let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client.clone());
                let mut deleted = Vec::new();
                for namespace in [&self.root, &self.shop] {
                    deleted.push(
                        namespaces.delete(namespace, &Default::default()).await.map(|_| ()).map_err(|e| e.to_string()),
                    );
                }
                deleted
            });
            // A real cluster takes its time; the fake deletes at once, which shows the
            // teardown works.
            if let Some((server, _)) = serving
                && !std::thread::panicking()
            {
                assert_eq!(deleted, [Ok(()), Ok(())], "the scenario's namespaces are deleted");
                for namespace in [&self.root, &self.shop] {
                    assert_eq!(server.object("", "namespaces", None, namespace), None, "{namespace} is deleted");
                }
            }
        }
    }
}

async fn dynamic_api(client: kube::Client, object: &Json) -> Result<kube::Api<kube::api::DynamicObject>, String> {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let kind = object["kind"].as_str().unwrap_or_default();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
    let (resource, capabilities) = kube::discovery::pinned_kind(&client, &gvk)
        .await
        .map_err(|e| format!("discovery of {api_version} {kind}: {e}"))?;
    Ok(match (capabilities.scope, object["metadata"]["namespace"].as_str()) {
        (kube::discovery::Scope::Namespaced, Some(namespace)) => {
            kube::Api::namespaced_with(client, namespace, &resource)
        }
        _ => kube::Api::all_with(client, &resource),
    })
}

/// What the fake stores besides namespaces.
fn stored(server: &FakeApiServer) -> Vec<Json> {
    server.objects().into_iter().filter(|o| o["kind"] != "Namespace").collect()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_succeeds(output: &Output) {
    assert_eq!(output.status.code(), Some(0), "{}{}", stdout(output), stderr(output));
}

fn assert_contains(text: &str, expected: &[&str]) {
    for part in expected {
        assert!(text.contains(part), "missing {part:?} in:\n{text}");
    }
}

const MANIFEST: &str = "[package]\nname = \"shop\"\nistio = [\"1.30\"]\nroot_namespace = \"{root}\"\n\n[providers]\nzipkin = { kind = \"zipkin\", service = \"zipkin.{root}.svc.cluster.local\", port = 9411 }\n";

/// The package of most scenarios: a mesh-wide Telemetry, one in the application's
/// namespace, and a WasmPlugin there.
fn shop_mesh(sampling: &str) -> String {
    format!(
        "package shop\n\ntelemetry mesh_default mesh {{\n  tracing zipkin {{ sampling 1% }}\n}}\n\ntelemetry shop_tracing in namespace \"{{shop}}\" {{\n  tracing zipkin {{ sampling {sampling} }}\n}}\n\nwasm_plugin auth in namespace \"{{shop}}\" {{\n  url \"oci://ghcr.io/example/auth@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"\n  phase authn\n}}\n"
    )
}

fn shop_package(cluster: &TestCluster, sampling: &str) -> PathBuf {
    cluster.package("pkg", &[("mesh.toml", MANIFEST), ("main.mesh", &shop_mesh(sampling))])
}

/// Runs a scenario on the fake; on a fresh fake reached only through its API, set up and
/// read as a real cluster is (so the real tier's own code runs on every test run); and on
/// the real cluster in the ignored twin.
macro_rules! scenario {
    ($name:ident, $fake:ident, $via_api:ident, $real:ident) => {
        #[test]
        fn $fake() {
            $name(&TestCluster::fake(stringify!($fake)));
        }

        #[test]
        fn $via_api() {
            $name(&TestCluster::fake_via_api(stringify!($via_api)));
        }

        #[test]
        #[ignore = "needs a real cluster: MESHC_TEST_KUBECONFIG=... cargo test -p meshc --test cluster -- --ignored"]
        fn $real() {
            $name(&TestCluster::real(stringify!($real)));
        }
    };
}

scenario!(
    apply_then_reapply,
    apply_then_reapply_writes_nothing_fake,
    apply_then_reapply_writes_nothing_fake_via_api,
    apply_then_reapply_writes_nothing_real
);
fn apply_then_reapply(cluster: &TestCluster) {
    let pkg = shop_package(cluster, "10%");
    let first = cluster.meshc(&["apply", pkg.to_str().unwrap()]);
    assert_eq!(first.status.code(), Some(0), "{}{}", stdout(&first), stderr(&first));
    assert_contains(
        &stdout(&first),
        &[
            &format!("Telemetry {}/mesh-default created", cluster.root),
            &format!("Telemetry {}/shop-tracing created", cluster.shop),
            &format!("WasmPlugin {}/auth created", cluster.shop),
            "3 created, 0 unchanged",
        ],
    );
    let telemetry = cluster.get("telemetry.istio.io/v1", "Telemetry", &cluster.shop, "shop-tracing").expect("applied");
    let id = telemetry["metadata"]["labels"]["applyset.kubernetes.io/part-of"].as_str().expect("labelled").to_string();
    let parent = cluster.get("v1", "ConfigMap", &cluster.root, "meshc-shop").expect("the ApplySet's parent");
    assert_eq!(parent["metadata"]["labels"]["applyset.kubernetes.io/id"], id.as_str());
    assert_eq!(
        parent["metadata"]["annotations"]["applyset.kubernetes.io/contains-group-kinds"],
        "Telemetry.telemetry.istio.io,WasmPlugin.extensions.istio.io"
    );
    let managers: Vec<&str> = telemetry["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert_eq!(managers, ["meshc"]);
    let version = telemetry["metadata"]["resourceVersion"].clone();
    cluster.take_writes();
    let before = cluster.versions();
    assert_eq!(before.len(), 4, "the three resources and the parent are seen: {before:?}");

    let again = cluster.meshc(&["apply", pkg.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_contains(&stdout(&again), &["\n3 unchanged; context `"]);
    cluster.assert_unwritten(&before, "a no-op re-apply");
    let after = cluster.get("telemetry.istio.io/v1", "Telemetry", &cluster.shop, "shop-tracing").unwrap();
    assert_eq!(after["metadata"]["resourceVersion"], version);
}

scenario!(
    change_and_diff,
    a_change_is_diffed_then_configured_fake,
    a_change_is_diffed_then_configured_fake_via_api,
    a_change_is_diffed_then_configured_real
);
fn change_and_diff(cluster: &TestCluster) {
    let pkg = shop_package(cluster, "10%");
    assert_succeeds(&cluster.meshc(&["apply", pkg.to_str().unwrap()]));
    let unchanged = cluster.meshc(&["diff", pkg.to_str().unwrap()]);
    assert_eq!(unchanged.status.code(), Some(0), "no change: exit 0\n{}{}", stdout(&unchanged), stderr(&unchanged));
    assert_eq!(stdout(&unchanged), "");

    let pkg = shop_package(cluster, "20%");
    cluster.take_writes();
    let before = cluster.versions();
    let diff = cluster.meshc(&["diff", pkg.to_str().unwrap()]);
    assert_eq!(diff.status.code(), Some(1), "changes: exit 1\n{}", stderr(&diff));
    let text = stdout(&diff);
    assert_contains(
        &text,
        &[
            &format!("Telemetry {}/shop-tracing configured", cluster.shop),
            "spec.tracing[0].randomSamplingPercentage: 10",
            &format!("--- live/Telemetry {}/shop-tracing", cluster.shop),
            "-    randomSamplingPercentage: 10",
            "+    randomSamplingPercentage: 20",
        ],
    );
    assert!(!text.contains("mesh-default"), "only what changes is shown:\n{text}");
    cluster.assert_unwritten(&before, "a diff");

    let apply = cluster.meshc(&["apply", pkg.to_str().unwrap()]);
    assert_eq!(apply.status.code(), Some(0), "{}", stderr(&apply));
    assert_contains(
        &stdout(&apply),
        &[&format!("Telemetry {}/shop-tracing configured", cluster.shop), "1 configured, 2 unchanged"],
    );
    let live = cluster.get("telemetry.istio.io/v1", "Telemetry", &cluster.shop, "shop-tracing").unwrap();
    assert_eq!(live["spec"]["tracing"][0]["randomSamplingPercentage"].as_f64(), Some(20.0));
    if let Some(writes) = cluster.take_writes() {
        assert_eq!(writes, ["PATCH /apis/telemetry.istio.io/v1/namespaces/shop/telemetries/shop-tracing"]);
    }
}

scenario!(
    conflict_and_force,
    a_conflict_names_the_manager_and_force_takes_the_field_fake,
    a_conflict_names_the_manager_and_force_takes_the_field_fake_via_api,
    a_conflict_names_the_manager_and_force_takes_the_field_real
);
fn conflict_and_force(cluster: &TestCluster) {
    let pkg = shop_package(cluster, "10%");
    assert_succeeds(&cluster.meshc(&["apply", pkg.to_str().unwrap()]));
    // Someone raises the sampling by hand, taking the field.
    let mut edited = cluster.get("telemetry.istio.io/v1", "Telemetry", &cluster.shop, "shop-tracing").unwrap();
    let edit = json!({
        "apiVersion": "telemetry.istio.io/v1", "kind": "Telemetry",
        "metadata": {"name": "shop-tracing", "namespace": cluster.shop},
        "spec": {"tracing": [{"providers": [{"name": "zipkin"}], "randomSamplingPercentage": 50}]}
    });
    cluster.apply_as("ops-team", &edit, true).unwrap();
    edited = cluster.get("telemetry.istio.io/v1", "Telemetry", &cluster.shop, "shop-tracing").unwrap_or(edited);
    cluster.take_writes();
    let before = cluster.versions();

    let refused = cluster.meshc(&["apply", pkg.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1), "{}{}", stdout(&refused), stderr(&refused));
    let text = stderr(&refused);
    assert_contains(&text, &["error[E1101]", "ops-team", ".spec.tracing", "pkg/main.mesh:", "--force-conflicts"]);
    assert_contains(&stdout(&refused), &["nothing was written"]);
    cluster.assert_unwritten(&before, "a conflict stops every write");
    let live = cluster.get("telemetry.istio.io/v1", "Telemetry", &cluster.shop, "shop-tracing").unwrap();
    assert_eq!(live["spec"], edited["spec"]);

    let forced = cluster.meshc(&["apply", pkg.to_str().unwrap(), "--force-conflicts"]);
    assert_eq!(forced.status.code(), Some(0), "{}", stderr(&forced));
    let live = cluster.get("telemetry.istio.io/v1", "Telemetry", &cluster.shop, "shop-tracing").unwrap();
    assert_eq!(live["spec"]["tracing"][0]["randomSamplingPercentage"].as_f64(), Some(10.0));
    let ops_fields: Vec<&Json> = live["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["manager"] == "ops-team")
        .map(|m| &m["fieldsV1"])
        .collect();
    assert!(
        ops_fields.iter().all(|f| f["f:spec"].get("f:tracing").is_none()),
        "the forced apply took the field: {ops_fields:?}"
    );
}

scenario!(
    dry_run,
    a_server_dry_run_writes_nothing_fake,
    a_server_dry_run_writes_nothing_fake_via_api,
    a_server_dry_run_writes_nothing_real
);
fn dry_run(cluster: &TestCluster) {
    let pkg = shop_package(cluster, "10%");
    cluster.take_writes();
    let before = cluster.versions();
    let output = cluster.meshc(&["apply", pkg.to_str().unwrap(), "--dry-run=server"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_contains(
        &stdout(&output),
        &[&format!("WasmPlugin {}/auth would be created", cluster.shop), "server dry run: nothing was written"],
    );
    assert_eq!(cluster.get("extensions.istio.io/v1alpha1", "WasmPlugin", &cluster.shop, "auth"), None);
    assert_eq!(cluster.get("v1", "ConfigMap", &cluster.root, "meshc-shop"), None);
    cluster.assert_unwritten(&before, "a server dry run");
}

scenario!(
    prune,
    prune_deletes_only_the_sets_own_objects_fake,
    prune_deletes_only_the_sets_own_objects_fake_via_api,
    prune_deletes_only_the_sets_own_objects_real
);
fn prune(cluster: &TestCluster) {
    let pkg = shop_package(cluster, "10%");
    assert_succeeds(&cluster.meshc(&["apply", pkg.to_str().unwrap()]));
    // A second package's ApplySet in the same namespaces, and an object of no ApplySet.
    let billing = cluster.package(
        "billing",
        &[
            ("mesh.toml", &MANIFEST.replace("name = \"shop\"", "name = \"billing\"")),
            (
                "main.mesh",
                "package billing\n\ntelemetry billing_tracing in namespace \"{shop}\" {\n  tracing zipkin { sampling 5% }\n}\n",
            ),
        ],
    );
    let output = cluster.meshc(&["apply", billing.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let hand_made = json!({
        "apiVersion": "extensions.istio.io/v1alpha1", "kind": "WasmPlugin",
        "metadata": {"name": "hand-made", "namespace": cluster.shop},
        "spec": {"url": "oci://ghcr.io/example/other@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
    });
    cluster.apply_as("kubectl", &hand_made, false).unwrap();

    // The package drops its WasmPlugin.
    let without_plugin = shop_mesh("10%");
    let without_plugin = &without_plugin[..without_plugin.find("wasm_plugin").unwrap()];
    let pkg = cluster.package("pkg", &[("mesh.toml", MANIFEST), ("main.mesh", without_plugin)]);
    let diff = cluster.meshc(&["diff", pkg.to_str().unwrap()]);
    assert_eq!(diff.status.code(), Some(1));
    assert_contains(&stdout(&diff), &[&format!("WasmPlugin {}/auth pruned", cluster.shop), "-kind: WasmPlugin"]);

    let kept = cluster.meshc(&["apply", pkg.to_str().unwrap()]);
    assert_eq!(kept.status.code(), Some(0), "{}", stderr(&kept));
    assert_contains(&stdout(&kept), &["not in the package (`--prune` deletes it)"]);
    assert!(cluster.get("extensions.istio.io/v1alpha1", "WasmPlugin", &cluster.shop, "auth").is_some());

    let pruned = cluster.meshc(&["apply", pkg.to_str().unwrap(), "--prune"]);
    assert_eq!(pruned.status.code(), Some(0), "{}", stderr(&pruned));
    assert_contains(&stdout(&pruned), &[&format!("WasmPlugin {}/auth pruned", cluster.shop), "1 pruned"]);
    assert_eq!(cluster.get("extensions.istio.io/v1alpha1", "WasmPlugin", &cluster.shop, "auth"), None);
    assert!(cluster.get("extensions.istio.io/v1alpha1", "WasmPlugin", &cluster.shop, "hand-made").is_some());
    assert!(cluster.get("telemetry.istio.io/v1", "Telemetry", &cluster.shop, "billing-tracing").is_some());
    assert!(cluster.get("v1", "ConfigMap", &cluster.root, "meshc-billing").is_some());
    let parent = cluster.get("v1", "ConfigMap", &cluster.root, "meshc-shop").unwrap();
    assert_eq!(
        parent["metadata"]["annotations"]["applyset.kubernetes.io/contains-group-kinds"],
        "Telemetry.telemetry.istio.io"
    );

    // Nothing is left to prune, and the billing package still sees its own object.
    let again = cluster.meshc(&["diff", billing.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));
}

scenario!(
    missing_namespace,
    a_missing_namespace_is_created_only_when_asked_fake,
    a_missing_namespace_is_created_only_when_asked_fake_via_api,
    a_missing_namespace_is_created_only_when_asked_real
);
fn missing_namespace(cluster: &TestCluster) {
    let files = [
        ("mesh.toml", MANIFEST),
        (
            "main.mesh",
            "package shop\n\ntelemetry t in namespace \"{shop}-new\" {\n  tracing zipkin { sampling 1% }\n}\n",
        ),
    ];
    let pkg = cluster.package("pkg", &files);
    let refused = cluster.meshc(&["apply", pkg.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    assert_contains(
        &stderr(&refused),
        &["error[E1103]", &format!("`{}-new` does not exist", cluster.shop), "pkg/main.mesh:3:", "--create-namespaces"],
    );
    let created = cluster.meshc(&["apply", pkg.to_str().unwrap(), "--create-namespaces"]);
    assert_eq!(created.status.code(), Some(0), "{}{}", stdout(&created), stderr(&created));
    assert_contains(&stdout(&created), &[&format!("Namespace {}-new created", cluster.shop), "created"]);
    assert!(cluster.get("telemetry.istio.io/v1", "Telemetry", &format!("{}-new", cluster.shop), "t").is_some());
    if let Backend::Api { client, runtime, .. } = &cluster.backend {
        runtime.block_on(async {
            let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client.clone());
            let _ = namespaces.delete(&format!("{}-new", cluster.shop), &Default::default()).await;
        });
    }
}

scenario!(
    expired_credentials,
    expired_credentials_are_named_fake,
    expired_credentials_are_named_fake_via_api,
    expired_credentials_are_named_real
);
fn expired_credentials(cluster: &TestCluster) {
    let server = match &cluster.backend {
        Backend::Fake { running, .. } => running.url(),
        Backend::Api { .. } => {
            let kubeconfig = kube::config::Kubeconfig::read_from(&cluster.kubeconfig).unwrap();
            let current = kubeconfig.current_context.clone().unwrap();
            let context = kubeconfig.contexts.iter().find(|c| c.name == current).unwrap();
            let cluster_name = &context.context.as_ref().unwrap().cluster;
            let named = kubeconfig.clusters.iter().find(|c| &c.name == cluster_name).unwrap();
            named.cluster.as_ref().unwrap().server.clone().unwrap()
        }
    };
    let stale = cluster.dir.join("stale-kubeconfig");
    let mut text = kubeconfig_text(&server, "expired-token");
    if server.starts_with("https") {
        text = text.replace("    server:", "    insecure-skip-tls-verify: true\n    server:");
    }
    std::fs::write(&stale, text).unwrap();
    let pkg = shop_package(cluster, "10%");
    let output = Command::new(env!("CARGO_BIN_EXE_meshc"))
        .args(["apply", pkg.to_str().unwrap(), "--kubeconfig", stale.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_contains(
        &stderr(&output),
        &["refused the credentials of context `fake` (401 Unauthorized)", "expired", "log in again"],
    );
}

#[test]
fn connection_refused_is_named_with_the_context() {
    let dir = scratch("refused");
    // A port nothing listens on: bind one, then let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, kubeconfig_text(&format!("http://127.0.0.1:{port}"), TOKEN)).unwrap();
    std::fs::create_dir_all(dir.join("pkg")).unwrap();
    std::fs::write(dir.join("pkg/mesh.toml"), MANIFEST.replace("{root}", "istio-system")).unwrap();
    std::fs::write(dir.join("pkg/main.mesh"), shop_mesh("1%").replace("{shop}", "shop")).unwrap();
    for command in ["apply", "diff"] {
        let output = Command::new(env!("CARGO_BIN_EXE_meshc"))
            .args([command, "pkg", "--kubeconfig", kubeconfig.to_str().unwrap()])
            .current_dir(&dir)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2));
        assert_contains(
            &stderr(&output),
            &[&format!("cannot reach the cluster of context `fake` at http://127.0.0.1:{port}"), "onnection refused"],
        );
    }
}

#[test]
fn a_package_with_errors_never_reaches_the_cluster() {
    let cluster = TestCluster::fake("package-errors");
    let pkg = cluster.package(
        "pkg",
        &[
            ("mesh.toml", MANIFEST),
            ("main.mesh", "package shop\n\ntelemetry t mesh {\n  tracing zipkn { sampling 1% }\n}\n"),
        ],
    );
    let output = cluster.meshc(&["apply", pkg.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert_contains(&stderr(&output), &["error[E0203]", "nothing was sent to the cluster"]);
    assert!(cluster.fake_server().unwrap().requests().is_empty(), "not even a read");
}

/// Starts `server` (with CRDs of the test's choosing) with the namespaces `istio-system`
/// and `shop`, and writes the shop package and a kubeconfig (`kubeconfig`) into a
/// fresh directory, for the tests that need a cluster other than [`TestCluster::fake`]'s.
fn serve_with_shop_package(server: &FakeApiServer, name: &str) -> (RunningServer, PathBuf) {
    server.add_namespace("istio-system");
    server.add_namespace("shop");
    let running = server.start();
    let dir = scratch(name);
    std::fs::write(dir.join("kubeconfig"), kubeconfig_text(&running.url(), "any")).unwrap();
    std::fs::create_dir_all(dir.join("pkg")).unwrap();
    std::fs::write(dir.join("pkg/mesh.toml"), MANIFEST.replace("{root}", "istio-system")).unwrap();
    std::fs::write(dir.join("pkg/main.mesh"), shop_mesh("10%").replace("{shop}", "shop")).unwrap();
    (running, dir)
}

/// `meshc apply pkg` in a directory of [`serve_with_shop_package`].
fn apply_in(dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshc"))
        .args(["apply", "pkg", "--kubeconfig", "kubeconfig"])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

#[test]
fn the_servers_schema_errors_point_at_the_field() {
    // A cluster whose Telemetry CRD allows at most 5% sampling (a stricter release than
    // the one the package targets).
    let server = FakeApiServer::new();
    for mut crd in istio_crds() {
        if crd["spec"]["names"]["kind"] == "Telemetry" {
            for version in crd["spec"]["versions"].as_array_mut().unwrap() {
                let tracing = &mut version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["tracing"];
                tracing["items"]["properties"]["randomSamplingPercentage"]["maximum"] = json!(5);
            }
        }
        server.install_crd(&crd);
    }
    let (_running, dir) = serve_with_shop_package(&server, "schema");
    let output = apply_in(&dir);
    assert_eq!(output.status.code(), Some(1), "{}{}", stdout(&output), stderr(&output));
    // The sampling statement of `shop_tracing` is on line 8.
    assert_contains(
        &stderr(&output),
        &[
            "error[E1100]: Telemetry shop/shop-tracing: the cluster rejected it",
            "pkg/main.mesh:8:",
            "spec.tracing[0].randomSamplingPercentage",
            "less than or equal to 5",
        ],
    );
    assert!(server.requests().iter().all(|r| !r.is_write()), "nothing is written when a dry run fails");
}

#[test]
fn a_missing_crd_stops_before_any_write() {
    let server = FakeApiServer::new();
    for crd in istio_crds().into_iter().filter(|c| c["spec"]["names"]["kind"] != "WasmPlugin") {
        server.install_crd(&crd);
    }
    let (_running, dir) = serve_with_shop_package(&server, "missing-crd");
    let output = apply_in(&dir);
    assert_eq!(output.status.code(), Some(1));
    assert_contains(
        &stderr(&output),
        &["error[E1102]: WasmPlugin shop/auth", "no extensions.istio.io API", "pkg/main.mesh:11:", "install Istio"],
    );
    assert_eq!(stored(&server), Vec::<Json>::new(), "nothing was applied");
}

#[test]
fn another_tools_applyset_is_left_alone() {
    let cluster = TestCluster::fake("other-tool");
    let parent = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "meshc-shop", "namespace": "istio-system",
            "labels": {"applyset.kubernetes.io/id": "applyset-whatever-v1"},
            "annotations": {"applyset.kubernetes.io/tooling": "kubectl/v1.30"}}
    });
    cluster.apply_as("kubectl", &parent, false).unwrap();
    let pkg = shop_package(&cluster, "10%");
    let output = cluster.meshc(&["apply", pkg.to_str().unwrap(), "--prune"]);
    assert_eq!(output.status.code(), Some(1));
    assert_contains(&stderr(&output), &["error[E1104]", "kubectl/v1.30", "--applyset"]);
    assert_eq!(cluster.take_writes(), Some(vec![]));
}

/// The connection breaks on the third write (the parent is the first, then the
/// resources in order). Whether the write was lost or made before the break, the next
/// apply finishes the job and leaves what was done alone.
#[test]
fn a_connection_lost_mid_apply_is_repaired_by_the_next_apply() {
    for fault in [Fault::BeforeWrite, Fault::AfterWrite] {
        let cluster = TestCluster::fake(&format!("lost-{fault:?}"));
        let server = cluster.fake_server().unwrap();
        server.drop_connection_on_write(3, fault);
        let pkg = shop_package(&cluster, "10%");
        let broken = cluster.meshc(&["apply", pkg.to_str().unwrap()]);
        assert_eq!(broken.status.code(), Some(2), "{fault:?}: {}{}", stdout(&broken), stderr(&broken));
        assert_contains(
            &stderr(&broken),
            &["lost the connection", "after 2 of 4 writes", "run the same command again"],
        );
        let count = stored(server).len();
        assert_eq!(count, if fault == Fault::BeforeWrite { 2 } else { 3 }, "{fault:?}: parent and what was written");
        cluster.take_writes();

        let repaired = cluster.meshc(&["apply", pkg.to_str().unwrap()]);
        assert_eq!(repaired.status.code(), Some(0), "{}", stderr(&repaired));
        let expected_writes = if fault == Fault::BeforeWrite { 2 } else { 1 };
        assert_eq!(cluster.take_writes().unwrap().len(), expected_writes, "{fault:?}: only what is missing is written");
        assert_eq!(stored(server).len(), 4, "the parent and the three resources");
        let again = cluster.meshc(&["apply", pkg.to_str().unwrap()]);
        assert_contains(&stdout(&again), &["3 unchanged"]);
    }
}

#[test]
fn apply_reports_json_for_ci() {
    let cluster = TestCluster::fake("json");
    let pkg = shop_package(&cluster, "10%");
    let output = cluster.meshc(&["apply", pkg.to_str().unwrap(), "--output", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report: Json = serde_json::from_str(&stdout(&output)).expect("JSON on stdout");
    assert_eq!(report["mode"], "apply");
    assert_eq!(report["context"], "fake");
    assert_eq!(report["summary"]["create"], 3);
    assert_eq!(report["summary"]["written"], 3);
    assert_eq!(report["resources"][0]["action"], "create");
    assert_eq!(report["resources"][0]["done"], true);
    assert_eq!(report["problems"], json!([]));
}

/// The requests of a first apply, of a no-op re-apply and of a prune, as kube-rs sends them,
/// pinned in `tests/cluster-requests.txt` (UPDATE_GOLDEN=1 rewrites it).
#[test]
fn requests_are_pinned() {
    let cluster = TestCluster::fake("requests");
    let pkg = shop_package(&cluster, "10%");
    let server = cluster.fake_server().unwrap();
    server.clear_requests();
    let mut log = String::new();
    let without_plugin = shop_mesh("10%");
    let without_plugin = &without_plugin[..without_plugin.find("wasm_plugin").unwrap()];
    for title in ["first apply", "no-op re-apply", "apply --prune of the package without its WasmPlugin"] {
        if title.contains("--prune") {
            cluster.package("pkg", &[("mesh.toml", MANIFEST), ("main.mesh", without_plugin)]);
        }
        let output = cluster.meshc(&["apply", pkg.to_str().unwrap(), "--prune"]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        log.push_str(&format!("# {title}\n"));
        for request in server.requests() {
            let query: Vec<String> = request.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            log.push_str(&format!(
                "{} {}{}{}{}\n",
                request.method,
                request.path,
                if query.is_empty() { String::new() } else { format!("?{}", query.join("&")) },
                request.content_type.as_deref().map(|c| format!(" [{c}]")).unwrap_or_default(),
                request.body.as_ref().map(|b| format!(" {b}")).unwrap_or_default(),
            ));
        }
        server.clear_requests();
    }
    let expected_file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cluster-requests.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&expected_file, &log).unwrap();
    }
    let expected = std::fs::read_to_string(&expected_file).unwrap_or_default();
    assert!(expected == log, "the requests changed (UPDATE_GOLDEN=1 to accept):\n{log}");
}

/// `--wait-for-crds`: the apply waits while Istio is being installed, and applies once
/// the CRDs are served. The test installs them when meshc has asked for them at least
/// once (an event in the fake's request log), not after a delay.
#[test]
fn apply_waits_for_crds_when_asked() {
    let server = FakeApiServer::new();
    let (_running, dir) = serve_with_shop_package(&server, "wait-crds");
    let child = Command::new(env!("CARGO_BIN_EXE_meshc"))
        .args(["apply", "pkg", "--kubeconfig", "kubeconfig", "--wait-for-crds", "600"])
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // meshc has read discovery and found no Istio group: now Istio "is installed".
    let asked = std::sync::mpsc::channel::<()>();
    let watcher = {
        let server = server.clone();
        std::thread::spawn(move || {
            while !server.requests().iter().any(|r| r.path == "/apis") {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            let _ = asked.0.send(());
        })
    };
    asked.1.recv_timeout(std::time::Duration::from_secs(300)).expect("meshc reads discovery");
    watcher.join().unwrap();
    assert!(server.objects().iter().all(|o| o["kind"] == "Namespace"), "nothing is applied before the CRDs exist");
    for crd in istio_crds() {
        server.install_crd(&crd);
    }
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}{}", stdout(&output), stderr(&output));
    assert_contains(&stdout(&output), &["3 created"]);
}

/// `meshc build --applyset --kustomization` writes the labels `meshc apply` writes, the
/// parent, and a kustomization.yaml of every file; after a GitOps tool applied them,
/// `meshc apply` changes no value and prunes nothing.
#[test]
fn build_for_gitops_matches_what_apply_writes() {
    let cluster = TestCluster::fake("gitops");
    let pkg = shop_package(&cluster, "10%");
    let out = cluster.dir.join("out");
    let output = Command::new(env!("CARGO_BIN_EXE_meshc"))
        .args(["build", pkg.to_str().unwrap(), "-o", out.to_str().unwrap(), "--applyset", "--kustomization"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let kustomization = std::fs::read_to_string(out.join("kustomization.yaml")).unwrap();
    assert_contains(
        &kustomization,
        &[
            "kind: Kustomization",
            "- istio-system/configmap/meshc-shop.yaml",
            "- istio-system/telemetry/mesh-default.yaml",
            "- shop/telemetry/shop-tracing.yaml",
            "- shop/wasmplugin/auth.yaml",
        ],
    );
    // Argo CD or Flux applies the files (here: server-side, as another manager).
    for file in kustomization.lines().filter_map(|l| l.strip_prefix("- ")) {
        let text = std::fs::read_to_string(out.join(file)).unwrap();
        let object: Json = serde_norway::from_str(&text).unwrap();
        assert!(
            object["kind"] == "ConfigMap"
                || object["metadata"]["labels"]["applyset.kubernetes.io/part-of"]
                    == "applyset-dGIEEvEdXtCbvU4rnOImb_GuzuNe5bBLJsJ12tcak5o-v1",
            "{file} is labelled"
        );
        cluster.apply_as("argocd-controller", &object, false).unwrap();
    }
    cluster.take_writes();
    // The first meshc apply changes no value: it only records meshc beside the GitOps
    // tool as an owner of the fields (shared ownership), and prunes nothing.
    let diff = cluster.meshc(&["diff", pkg.to_str().unwrap()]);
    assert_eq!(diff.status.code(), Some(1), "{}", stderr(&diff));
    let changed_lines = stdout(&diff)
        .lines()
        .filter(|l| (l.starts_with('+') && !l.starts_with("+++")) || (l.starts_with('-') && !l.starts_with("---")))
        .count();
    assert_eq!(changed_lines, 0, "no value changes:\n{}", stdout(&diff));
    let apply = cluster.meshc(&["apply", pkg.to_str().unwrap(), "--prune"]);
    assert_eq!(apply.status.code(), Some(0), "{}", stderr(&apply));
    assert_contains(&stdout(&apply), &["\n3 configured, 0 unchanged; context"]);
    let writes = cluster.take_writes().unwrap();
    assert_eq!(writes.len(), 3, "the three resources, not the parent, nothing deleted: {writes:?}");
    let telemetry = cluster.get("telemetry.istio.io/v1", "Telemetry", "shop", "shop-tracing").unwrap();
    let managers: Vec<&str> = telemetry["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert!(managers.contains(&"argocd-controller") && managers.contains(&"meshc"), "{managers:?}");
    // From then on, neither writes.
    let again = cluster.meshc(&["apply", pkg.to_str().unwrap(), "--prune"]);
    assert_contains(&stdout(&again), &["\n3 unchanged; context"]);
    assert_eq!(cluster.take_writes(), Some(vec![]));
}

/// `--context` picks a context of the kubeconfig other than its current one, as kubectl's.
#[test]
fn context_selects_the_cluster() {
    let cluster = TestCluster::fake("context");
    let text = std::fs::read_to_string(&cluster.kubeconfig).unwrap();
    // The current context now points at a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let two = text
        .replace("current-context: fake", "current-context: elsewhere")
        .replace("contexts:\n", "contexts:\n- name: elsewhere\n  context:\n    cluster: nowhere\n    user: tester\n")
        .replace(
            "clusters:\n",
            &format!("clusters:\n- name: nowhere\n  cluster:\n    server: http://127.0.0.1:{port}\n"),
        );
    let kubeconfig = cluster.dir.join("two-contexts");
    std::fs::write(&kubeconfig, two).unwrap();
    let pkg = shop_package(&cluster, "10%");
    let run = |extra: &[&str]| {
        let mut args = vec!["diff", pkg.to_str().unwrap(), "--kubeconfig", kubeconfig.to_str().unwrap()];
        args.extend(extra);
        Command::new(env!("CARGO_BIN_EXE_meshc")).args(&args).output().unwrap()
    };
    let current = run(&[]);
    assert_eq!(current.status.code(), Some(2));
    assert_contains(&stderr(&current), &["context `elsewhere`"]);
    let chosen = run(&["--context", "fake"]);
    assert_eq!(chosen.status.code(), Some(1), "the fake is empty: everything would be created\n{}", stderr(&chosen));
    assert_contains(&stderr(&chosen), &["3 to create", "context `fake`"]);
    let unknown = run(&["--context", "staging"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert_contains(&stderr(&unknown), &["no context `staging` (it has: elsewhere, fake)"]);
}

/// A user who may list only in their own namespaces: meshc falls back to reading
/// namespace by namespace, and a resource that moved to another namespace is pruned
/// from the one it left (which the parent still lists), not forgotten.
#[test]
fn pruning_under_namespace_scoped_permissions_follows_the_parent() {
    use meshc_fake_apiserver::Forbid;
    let cluster = TestCluster::fake("namespace-rbac");
    let server = cluster.fake_server().unwrap();
    server.add_namespace("shop2");
    // Cluster-wide lists are forbidden; namespaced ones are allowed.
    server.forbid(Forbid::new(&["list"], "/api/v1/namespaces"));
    for path in ["/apis/telemetry.istio.io/*/telemetries", "/apis/extensions.istio.io/*/wasmplugins"] {
        server.forbid(Forbid::new(&["list"], path));
    }
    let pkg = shop_package(&cluster, "10%");
    let first = cluster.meshc(&["apply", pkg.to_str().unwrap()]);
    assert_eq!(first.status.code(), Some(0), "{}{}", stdout(&first), stderr(&first));
    // Everything in shop moves to shop2: the package no longer names shop at all.
    let moved = shop_mesh("10%").replace("in namespace \"{shop}\"", "in namespace \"shop2\"");
    let pkg = cluster.package("pkg", &[("mesh.toml", MANIFEST), ("main.mesh", &moved)]);
    let output = cluster.meshc(&["apply", pkg.to_str().unwrap(), "--prune"]);
    assert_eq!(output.status.code(), Some(0), "{}{}", stdout(&output), stderr(&output));
    assert_contains(
        &stdout(&output),
        &[
            "Telemetry shop2/shop-tracing created",
            "Telemetry shop/shop-tracing pruned",
            "WasmPlugin shop/auth pruned",
            "2 created, 1 unchanged, 2 pruned",
        ],
    );
    assert_eq!(cluster.get("telemetry.istio.io/v1", "Telemetry", "shop", "shop-tracing"), None);
    assert_eq!(cluster.get("extensions.istio.io/v1alpha1", "WasmPlugin", "shop", "auth"), None);
    let parent = cluster.get("v1", "ConfigMap", "istio-system", "meshc-shop").unwrap();
    assert_eq!(parent["metadata"]["annotations"]["applyset.kubernetes.io/additional-namespaces"], "shop2");
    let requests = server.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.method == "GET" && r.path == "/apis/telemetry.istio.io/v1/namespaces/shop/telemetries"),
        "meshc read the namespace it left, one namespace at a time"
    );
}

/// Another manager's item in a keyed list (a WasmPlugin's `vmConfig.env`, keyed by
/// name) is merged by the server, not a change: meshc writes nothing and diffs nothing.
#[test]
fn another_managers_item_in_a_keyed_list_is_not_a_change() {
    let cluster = TestCluster::fake("keyed-list");
    let mesh = shop_mesh("10%").replace("  phase authn\n", "  phase authn\n  env TIER = \"gold\"\n");
    let pkg = cluster.package("pkg", &[("mesh.toml", MANIFEST), ("main.mesh", &mesh)]);
    let first = cluster.meshc(&["apply", pkg.to_str().unwrap()]);
    assert_eq!(first.status.code(), Some(0), "{}{}", stdout(&first), stderr(&first));
    let injected = json!({
        "apiVersion": "extensions.istio.io/v1alpha1", "kind": "WasmPlugin",
        "metadata": {"name": "auth", "namespace": "shop"},
        "spec": {"vmConfig": {"env": [{"name": "CLUSTER", "value": "eu-1"}]}}
    });
    cluster.apply_as("env-injector", &injected, false).unwrap();
    let plugin = cluster.get("extensions.istio.io/v1alpha1", "WasmPlugin", "shop", "auth").unwrap();
    assert_eq!(plugin["spec"]["vmConfig"]["env"].as_array().map(Vec::len), Some(2), "{plugin}");
    cluster.take_writes();
    let before = cluster.versions();
    let diff = cluster.meshc(&["diff", pkg.to_str().unwrap()]);
    assert_eq!(diff.status.code(), Some(0), "{}{}", stdout(&diff), stderr(&diff));
    let apply = cluster.meshc(&["apply", pkg.to_str().unwrap()]);
    assert_contains(&stdout(&apply), &["WasmPlugin shop/auth unchanged", "\n3 unchanged; context"]);
    cluster.assert_unwritten(&before, "another manager's item");
}

/// An admission webhook that denies the resource (Istio's validation webhook, a policy
/// engine) is a rejection at the declaration, not a failure of the credentials.
#[test]
fn an_admission_webhook_denial_is_a_rejection_at_the_declaration() {
    let cluster = TestCluster::fake("webhook");
    cluster
        .fake_server()
        .unwrap()
        .deny_writes_with_webhook("WasmPlugin", "image registry ghcr.io/example is not allowed");
    let pkg = shop_package(&cluster, "10%");
    let output = cluster.meshc(&["apply", pkg.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}{}", stdout(&output), stderr(&output));
    assert_contains(
        &stderr(&output),
        &[
            "error[E1100]: WasmPlugin shop/auth: the cluster rejected it",
            "pkg/main.mesh:11:",
            "image registry ghcr.io/example is not allowed",
        ],
    );
    assert_eq!(cluster.take_writes(), Some(vec![]), "nothing is written");
}
