//! The fake API server driven over real HTTP/1 (a hand-written client on std's TcpStream) and through its in-process API.

use meshc_fake_apiserver::{FakeApiServer, Fault, Forbid, istio_crd};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;

const TELEMETRY: &str = "/apis/telemetry.istio.io/v1/namespaces/shop/telemetries";

struct Reply {
    code: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

/// One request with `Connection: close`; None when the server dropped the connection without answering.
fn send(
    url: &str,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: Option<&Value>,
    token: Option<&str>,
) -> Option<Reply> {
    let address = url.strip_prefix("http://").unwrap();
    let mut stream = TcpStream::connect(address).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nAccept: application/json\r\n");
    if let Some(content_type) = content_type {
        request.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    if let Some(token) = token {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    if response.is_empty() {
        return None;
    }
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let code = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .map(|l| {
            let (k, v) = l.split_once(": ").unwrap();
            (k.to_ascii_lowercase(), v.to_string())
        })
        .collect();
    Some(Reply { code, headers, body: serde_json::from_str(body).unwrap() })
}

fn apply(url: &str, path: &str, query: &str, body: &Value) -> Reply {
    send(url, "PATCH", &format!("{path}?{query}"), Some("application/apply-patch+yaml"), Some(body), None).unwrap()
}

fn get(url: &str, path: &str) -> Reply {
    send(url, "GET", path, None, None, None).unwrap()
}

fn schema(kind: &str) -> Value {
    let file = format!("{}/../../shared/reference/istio-crds/1.30/{kind}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
}

/// A cluster with the three Istio CRDs and the namespace "shop".
fn cluster() -> FakeApiServer {
    let server = FakeApiServer::new();
    for (kind, file) in [("Telemetry", "telemetry"), ("WasmPlugin", "wasmplugin"), ("EnvoyFilter", "envoyfilter")] {
        server.install_crd(&istio_crd(kind, schema(file)));
    }
    server.add_namespace("shop");
    server
}

fn telemetry(spec: Value) -> Value {
    json!({"apiVersion": "telemetry.istio.io/v1", "kind": "Telemetry",
        "metadata": {"name": "mesh-default", "namespace": "shop", "labels": {"app": "meshc"}}, "spec": spec})
}

fn managed(object: &Value) -> Vec<(String, String, Value)> {
    object["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (e["manager"].as_str().unwrap().into(), e["operation"].as_str().unwrap().into(), e["fieldsV1"].clone())
        })
        .collect()
}

#[test]
fn apply_creates_then_is_a_no_op_then_changes() {
    let server = cluster();
    let running = server.start();
    let url = running.url();
    let config = telemetry(json!({"tracing": [{"randomSamplingPercentage": 10}]}));
    let created = apply(&url, &format!("{TELEMETRY}/mesh-default"), "fieldManager=meshc", &config);
    assert_eq!(created.code, 201, "{}", created.body);
    // The three built-in namespaces, the three CRDs and `shop` came first.
    assert_eq!(created.body["metadata"]["uid"], "00000000-0000-0000-0000-000000000008");
    assert_eq!(created.body["metadata"]["generation"], 1);
    assert_eq!(created.body["metadata"]["creationTimestamp"], "2026-01-01T00:00:00Z");
    assert_eq!(
        created.body["metadata"]["managedFields"],
        json!([{"apiVersion": "telemetry.istio.io/v1", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:tracing": {}}},
            "manager": "meshc", "operation": "Apply", "time": "2026-01-01T00:00:00Z"}])
    );
    let rv = created.body["metadata"]["resourceVersion"].clone();

    let again = apply(&url, &format!("{TELEMETRY}/mesh-default"), "fieldManager=meshc", &config);
    assert_eq!(again.code, 200);
    assert_eq!(again.body["metadata"]["resourceVersion"], rv);
    assert_eq!(again.body, created.body);

    let changed = apply(
        &url,
        &format!("{TELEMETRY}/mesh-default"),
        "fieldManager=meshc",
        &telemetry(json!({"tracing": [{"randomSamplingPercentage": 20}]})),
    );
    assert_eq!(changed.code, 200);
    assert_ne!(changed.body["metadata"]["resourceVersion"], rv);
    assert_eq!(changed.body["metadata"]["generation"], 2);
    assert_eq!(get(&url, &format!("{TELEMETRY}/mesh-default")).body, changed.body);

    // Read in the other served version: only apiVersion differs.
    let v1alpha1 = get(&url, "/apis/telemetry.istio.io/v1alpha1/namespaces/shop/telemetries/mesh-default");
    assert_eq!(v1alpha1.body["apiVersion"], "telemetry.istio.io/v1alpha1");
    assert_eq!(v1alpha1.body["spec"], changed.body["spec"]);
}

#[test]
fn conflicts_force_and_shared_ownership() {
    let server = cluster();
    let running = server.start();
    let url = running.url();
    let path = format!("{TELEMETRY}/mesh-default");
    apply(&url, &path, "fieldManager=meshc", &telemetry(json!({"tracing": [{"randomSamplingPercentage": 10}]})));
    // Someone edits the tracing and adds access logging.
    let mut edited = server.object("telemetry.istio.io", "telemetries", Some("shop"), "mesh-default").unwrap();
    edited["spec"]["tracing"] = json!([{"randomSamplingPercentage": 50}]);
    edited["spec"]["accessLogging"] = json!([{"disabled": true}]);
    server.update_as("kubectl-edit", &edited).unwrap();

    let conflict =
        apply(&url, &path, "fieldManager=meshc", &telemetry(json!({"tracing": [{"randomSamplingPercentage": 10}]})));
    assert_eq!(conflict.code, 409);
    assert_eq!(
        conflict.body,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using telemetry.istio.io/v1: .spec.tracing",
            "reason": "Conflict",
            "details": {"causes": [{"reason": "FieldManagerConflict", "message": "conflict with \"kubectl-edit\" using telemetry.istio.io/v1", "field": ".spec.tracing"}]},
            "code": 409})
    );

    // Equal values are shared: applying what kubectl-edit set is no conflict.
    let shared = server.apply_as("other", &telemetry(json!({"accessLogging": [{"disabled": true}]})), false).unwrap();
    let owners: Vec<String> = managed(&shared)
        .into_iter()
        .filter(|(_, _, f)| f["f:spec"].get("f:accessLogging").is_some())
        .map(|(m, o, _)| format!("{m}/{o}"))
        .collect();
    assert_eq!(owners, ["other/Apply", "kubectl-edit/Update"]);

    let forced = apply(
        &url,
        &path,
        "fieldManager=meshc&force=true",
        &telemetry(json!({"tracing": [{"randomSamplingPercentage": 10}]})),
    );
    assert_eq!(forced.code, 200, "{}", forced.body);
    assert_eq!(forced.body["spec"]["tracing"], json!([{"randomSamplingPercentage": 10}]));
    let entries = managed(&forced.body);
    let edit = entries.iter().find(|(m, _, _)| m == "kubectl-edit").unwrap();
    assert_eq!(edit.2, json!({"f:spec": {"f:accessLogging": {}}}));

    // Two conflicts with two managers: the multi-line message.
    server
        .update_as(
            "ctl",
            &telemetry(json!({"tracing": [{"randomSamplingPercentage": 1}], "accessLogging": [{"disabled": false}]})),
        )
        .unwrap();
    let error = server
        .apply_as(
            "meshc",
            &telemetry(json!({"tracing": [{"randomSamplingPercentage": 2}], "accessLogging": [{"disabled": true}]})),
            false,
        )
        .unwrap_err();
    assert_eq!(
        error.body["message"],
        "Apply failed with 2 conflicts: conflicts with \"ctl\" using telemetry.istio.io/v1:\n- .spec.accessLogging\n- .spec.tracing"
    );
}

#[test]
fn fields_no_longer_applied_are_removed() {
    let server = cluster();
    server
        .apply_as(
            "meshc",
            &telemetry(
                json!({"tracing": [{"randomSamplingPercentage": 10}], "selector": {"matchLabels": {"app": "web"}}}),
            ),
            false,
        )
        .unwrap();
    server.apply_as("other", &telemetry(json!({"selector": {"matchLabels": {"app": "web"}}})), false).unwrap();
    let mut config = telemetry(json!({"accessLogging": [{"disabled": true}]}));
    config["metadata"].as_object_mut().unwrap().remove("labels");
    let after = server.apply_as("meshc", &config, false).unwrap();
    // tracing and the label went (only meshc owned them); the selector stays (other owns it too).
    assert_eq!(
        after["spec"],
        json!({"accessLogging": [{"disabled": true}], "selector": {"matchLabels": {"app": "web"}}})
    );
    assert_eq!(after["metadata"].get("labels"), Some(&json!({"app": "meshc"})), "other applied the label too");
    let mut config = telemetry(json!({"accessLogging": [{"disabled": true}]}));
    config["metadata"]["labels"] = json!({});
    let both_gone = server.apply_as("other", &config, false).unwrap();
    assert!(both_gone["spec"].get("selector").is_none(), "{both_gone}");
}

#[test]
fn dry_run_persists_nothing() {
    let server = cluster();
    let running = server.start();
    let url = running.url();
    let path = format!("{TELEMETRY}/mesh-default");
    let dry = apply(&url, &path, "fieldManager=meshc&dryRun=All", &telemetry(json!({"tracing": []})));
    assert_eq!(dry.code, 201);
    assert_eq!(dry.body["metadata"]["generation"], 1);
    assert!(server.objects().iter().all(|o| o["kind"] != "Telemetry"));
    assert_eq!(get(&url, &path).code, 404);
    let invalid = apply(
        &url,
        &path,
        "fieldManager=meshc&dryRun=All",
        &telemetry(json!({"tracing": [{"randomSamplingPercentage": 200}]})),
    );
    assert_eq!(invalid.code, 422);
    assert!(!server.requests().last().unwrap().is_write());

    apply(&url, &path, "fieldManager=meshc", &telemetry(json!({"tracing": []})));
    let before = server.objects();
    let delete = send(&url, "DELETE", &format!("{path}?dryRun=All"), None, None, None).unwrap();
    assert_eq!(delete.code, 200);
    assert_eq!(server.objects(), before);
    let delete =
        send(&url, "DELETE", &path, Some("application/json"), Some(&json!({"propagationPolicy": "Background"})), None)
            .unwrap();
    assert_eq!(delete.body["metadata"]["name"], "mesh-default");
    assert_eq!(send(&url, "DELETE", &path, None, None, None).unwrap().code, 404);
}

#[test]
fn lists_with_label_selectors() {
    let server = cluster();
    let running = server.start();
    let url = running.url();
    for (name, ns, app) in [("a", "shop", "web"), ("b", "shop", "api"), ("c", "default", "web")] {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns, "labels": {"app": app}}, "data": {"k": "v"}});
        let created = apply(&url, &format!("/api/v1/namespaces/{ns}/configmaps/{name}"), "fieldManager=meshc", &cm);
        assert_eq!(created.code, 201, "{}", created.body);
    }
    let names = |path: &str| -> Vec<String> {
        let list = get(&url, path);
        assert_eq!(list.code, 200, "{}", list.body);
        assert_eq!(list.body["kind"], "ConfigMapList");
        list.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names("/api/v1/configmaps?labelSelector=app%3Dweb"), ["c", "a"]);
    assert_eq!(names("/api/v1/namespaces/shop/configmaps"), ["a", "b"]);
    assert_eq!(names("/api/v1/namespaces/shop/configmaps?labelSelector=app%20in%20(api,x),!missing"), ["b"]);
    assert_eq!(names("/api/v1/namespaces/shop/configmaps?labelSelector=app!=web"), ["b"]);
    let item = &get(&url, "/api/v1/namespaces/shop/configmaps").body["items"][0];
    assert_eq!(item["apiVersion"], "v1");
    assert_eq!(item["kind"], "ConfigMap");

    server.apply_as("meshc", &telemetry(json!({})), false).unwrap();
    let list = get(&url, "/apis/telemetry.istio.io/v1/telemetries?labelSelector=app");
    assert_eq!(list.body["kind"], "TelemetryList");
    assert_eq!(list.body["apiVersion"], "telemetry.istio.io/v1");
    assert_eq!(list.body["items"][0]["kind"], "Telemetry");
    assert_eq!(list.body["metadata"]["resourceVersion"], server.resource_version().to_string());
}

#[test]
fn not_found_answers() {
    let server = cluster();
    let running = server.start();
    let url = running.url();
    let unknown = apply(
        &url,
        "/apis/security.istio.io/v1/namespaces/shop/authorizationpolicies/x",
        "fieldManager=meshc",
        &json!({}),
    );
    assert_eq!(unknown.code, 404);
    assert_eq!(unknown.body["reason"], "NotFound");
    assert_eq!(unknown.body["message"], "the server could not find the requested resource");
    assert_eq!(get(&url, "/apis/security.istio.io").code, 404);
    assert_eq!(get(&url, "/apis/telemetry.istio.io/v2").code, 404);

    let mut config = telemetry(json!({}));
    config["metadata"]["namespace"] = json!("nowhere");
    let missing = apply(
        &url,
        "/apis/telemetry.istio.io/v1/namespaces/nowhere/telemetries/mesh-default",
        "fieldManager=meshc",
        &config,
    );
    assert_eq!(missing.code, 404);
    assert_eq!(missing.body["message"], "namespaces \"nowhere\" not found");
    assert_eq!(missing.body["details"], json!({"name": "nowhere", "kind": "namespaces"}));

    let object = get(&url, &format!("{TELEMETRY}/absent"));
    assert_eq!(object.body["message"], "telemetries.telemetry.istio.io \"absent\" not found");
    assert_eq!(object.body["details"], json!({"name": "absent", "group": "telemetry.istio.io", "kind": "telemetries"}));
    assert_eq!(get(&url, "/api/v1/namespaces/nowhere").body["message"], "namespaces \"nowhere\" not found");
}

#[test]
fn namespaces_and_discovery() {
    let server = cluster();
    let running = server.start();
    let url = running.url();
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "mesh"}});
    let created = apply(&url, "/api/v1/namespaces/mesh", "fieldManager=meshc", &ns);
    assert_eq!(created.code, 201);
    assert_eq!(created.body["status"]["phase"], "Active");
    assert_eq!(get(&url, "/api/v1/namespaces/mesh").code, 200);
    let posted = send(
        &url,
        "POST",
        "/api/v1/namespaces",
        Some("application/json"),
        Some(&json!({"metadata": {"name": "other"}})),
        None,
    )
    .unwrap();
    assert_eq!(posted.code, 201);

    assert_eq!(get(&url, "/version").body["gitVersion"], "v1.34.0-meshc-fake");
    assert_eq!(get(&url, "/api").body["versions"], json!(["v1"]));
    let groups = get(&url, "/apis").body;
    let telemetry = groups["groups"].as_array().unwrap().iter().find(|g| g["name"] == "telemetry.istio.io").unwrap();
    assert_eq!(telemetry["versions"][0]["version"], "v1");
    assert_eq!(telemetry["preferredVersion"]["version"], "v1");
    let resources = get(&url, "/apis/networking.istio.io/v1alpha3").body;
    assert_eq!(resources["resources"][0]["name"], "envoyfilters");
    assert_eq!(resources["resources"][0]["kind"], "EnvoyFilter");
    assert_eq!(resources["resources"][0]["namespaced"], true);
    assert_eq!(get(&url, "/apis/extensions.istio.io").body["kind"], "APIGroup");
}

const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";

/// A CRD of a kind of its own, served in v1beta1 and v1 (storage).
fn widget_crd() -> Value {
    let schema = json!({"type": "object", "properties": {
        "spec": {"type": "object", "properties": {"size": {"type": "integer", "maximum": 10}}}}});
    let version = |name: &str, storage: bool| json!({"name": name, "served": true, "storage": storage, "schema": {"openAPIV3Schema": schema}});
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets"},
            "versions": [version("v1beta1", false), version("v1", true)]},
    })
}

/// CRDs through the API, as an installer (kubectl, helm, a test harness through kube-rs) sends them:
/// discovery of apiextensions.k8s.io, server-side apply with the status the controllers write,
/// the new kind served at once, a no-op re-apply, validation, and deletion with the CRD's objects.
#[test]
fn crds_are_applied_served_and_deleted_through_the_api() {
    let server = FakeApiServer::new();
    let running = server.start();
    let url = running.url();
    let groups = get(&url, "/apis").body;
    assert_eq!(groups["groups"][0]["name"], "apiextensions.k8s.io");
    assert_eq!(get(&url, "/apis/apiextensions.k8s.io").body["preferredVersion"]["version"], "v1");
    let resources = get(&url, "/apis/apiextensions.k8s.io/v1").body;
    assert_eq!(resources["resources"][0]["name"], "customresourcedefinitions");
    assert_eq!(resources["resources"][0]["namespaced"], false);
    assert_eq!(resources["resources"][0]["kind"], "CustomResourceDefinition");
    assert_eq!(get(&url, "/apis/example.com/v1").code, 404);

    let created = apply(&url, &format!("{CRDS}/widgets.example.com"), "fieldManager=installer", &widget_crd());
    assert_eq!(created.code, 201, "{}", created.body);
    assert_eq!(created.body["kind"], "CustomResourceDefinition");
    assert_eq!(created.body["metadata"]["generation"], 1);
    assert_eq!(created.body["metadata"]["managedFields"][0]["manager"], "installer");
    assert_eq!(
        created.body["status"]["conditions"],
        json!([
            {"lastTransitionTime": "2026-01-01T00:00:00Z", "message": "no conflicts found", "reason": "NoConflicts", "status": "True", "type": "NamesAccepted"},
            {"lastTransitionTime": "2026-01-01T00:00:00Z", "message": "the initial names have been accepted", "reason": "InitialNamesAccepted", "status": "True", "type": "Established"},
        ])
    );
    assert_eq!(
        created.body["status"]["acceptedNames"],
        json!({"kind": "Widget", "listKind": "WidgetList", "plural": "widgets", "singular": "widget"})
    );
    assert_eq!(created.body["status"]["storedVersions"], json!(["v1"]));
    assert_eq!(get(&url, &format!("{CRDS}/widgets.example.com")).body, created.body);
    let list = get(&url, CRDS).body;
    assert_eq!(list["kind"], "CustomResourceDefinitionList");
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(server.objects(), Vec::<Value>::new(), "objects() leaves CRDs out");
    // `kubectl wait --for=condition=Established crd/NAME` lists with a field selector.
    server.install_crd(&istio_crd("EnvoyFilter", schema("envoyfilter")));
    let named = get(&url, &format!("{CRDS}?fieldSelector=metadata.name%3Dwidgets.example.com")).body;
    assert_eq!(named["items"].as_array().unwrap().len(), 1);
    assert_eq!(named["items"][0]["metadata"]["name"], "widgets.example.com");
    let others = get(&url, &format!("{CRDS}?fieldSelector=metadata.name!%3Dwidgets.example.com")).body;
    assert_eq!(others["items"][0]["metadata"]["name"], "envoyfilters.networking.istio.io");
    let unsupported = get(&url, &format!("{CRDS}?fieldSelector=spec.group%3Dexample.com"));
    assert_eq!(
        (unsupported.code, &unsupported.body["message"]),
        (400, &json!("field label not supported: spec.group"))
    );

    // Served at once, in both versions, with the schema.
    assert_eq!(get(&url, "/apis/example.com").body["preferredVersion"]["version"], "v1");
    assert_eq!(get(&url, "/apis/example.com/v1beta1").body["resources"][0]["name"], "widgets");
    server.add_namespace("shop");
    let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "shop"}, "spec": {"size": 3}});
    let path = "/apis/example.com/v1/namespaces/shop/widgets/w";
    assert_eq!(apply(&url, path, "fieldManager=meshc", &widget).code, 201);
    let too_big = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "shop"}, "spec": {"size": 30}});
    assert_eq!(apply(&url, path, "fieldManager=meshc", &too_big).code, 422);

    // The same CRD again changes nothing, whoever installs it.
    let again = apply(&url, &format!("{CRDS}/widgets.example.com"), "fieldManager=installer", &widget_crd());
    assert_eq!(again.code, 200);
    assert_eq!(again.body, created.body);
    server.install_crd(&widget_crd());
    assert_eq!(get(&url, &format!("{CRDS}/widgets.example.com")).body, created.body);

    // A name other than PLURAL.GROUP, as kube-apiserver's validation words it.
    let mut misnamed = widget_crd();
    misnamed["metadata"]["name"] = json!("gadgets.example.com");
    let refused = apply(&url, &format!("{CRDS}/gadgets.example.com"), "fieldManager=installer", &misnamed);
    assert_eq!(refused.code, 422);
    assert_eq!(
        refused.body["message"],
        "CustomResourceDefinition.apiextensions.k8s.io \"gadgets.example.com\" is invalid: metadata.name: Invalid value: \"gadgets.example.com\": must be spec.names.plural+\".\"+spec.group"
    );

    // Deleting the CRD stops serving the kind and deletes its objects.
    let deleted = send(&url, "DELETE", &format!("{CRDS}/widgets.example.com"), None, None, None).unwrap();
    assert_eq!(deleted.code, 200);
    assert_eq!(get(&url, "/apis/example.com/v1").code, 404);
    assert_eq!(get(&url, &format!("{CRDS}/widgets.example.com")).code, 404);
    assert_eq!(server.objects().iter().filter(|o| o["kind"] == "Widget").count(), 0);
    assert_eq!(apply(&url, &format!("{CRDS}/widgets.example.com"), "fieldManager=installer", &widget_crd()).code, 201);
    assert_eq!(get(&url, path).code, 404, "a new CRD of the same name starts empty");

    // Namespaces are deleted at once, with what is in them.
    assert_eq!(send(&url, "DELETE", "/api/v1/namespaces/shop", None, None, None).unwrap().code, 200);
    assert_eq!(get(&url, "/api/v1/namespaces/shop").code, 404);
}

#[test]
fn invalid_values_and_unknown_fields() {
    let server = cluster();
    let running = server.start();
    let url = running.url();
    let path = format!("{TELEMETRY}/mesh-default");
    let invalid =
        apply(&url, &path, "fieldManager=meshc", &telemetry(json!({"tracing": [{"randomSamplingPercentage": 200}]})));
    assert_eq!(invalid.code, 422);
    assert_eq!(
        invalid.body,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "Telemetry.telemetry.istio.io \"mesh-default\" is invalid: spec.tracing[0].randomSamplingPercentage: Invalid value: 200: spec.tracing[0].randomSamplingPercentage in body should be less than or equal to 100",
            "reason": "Invalid",
            "details": {"name": "mesh-default", "group": "telemetry.istio.io", "kind": "Telemetry", "causes": [
                {"reason": "FieldValueInvalid", "message": "Invalid value: 200: spec.tracing[0].randomSamplingPercentage in body should be less than or equal to 100", "field": "spec.tracing[0].randomSamplingPercentage"}]},
            "code": 422})
    );
    let two = apply(
        &url,
        &path,
        "fieldManager=meshc",
        &telemetry(
            json!({"tracing": [{"randomSamplingPercentage": -1}], "accessLogging": [{"match": {"mode": "BOTH"}}]}),
        ),
    );
    assert_eq!(two.body["details"]["causes"].as_array().unwrap().len(), 2);
    assert_eq!(
        two.body["message"],
        "Telemetry.telemetry.istio.io \"mesh-default\" is invalid: [spec.accessLogging[0].match.mode: Unsupported value: \"BOTH\": supported values: \"CLIENT_AND_SERVER\", \"CLIENT\", \"SERVER\", spec.tracing[0].randomSamplingPercentage: Invalid value: -1: spec.tracing[0].randomSamplingPercentage in body should be greater than or equal to 0]"
    );

    // An apply with a field the schema does not declare fails in the typed conversion, whatever fieldValidation says.
    for query in ["fieldManager=meshc&fieldValidation=Strict", "fieldManager=meshc"] {
        let unknown = apply(&url, &path, query, &telemetry(json!({"foo": 1})));
        assert_eq!(unknown.code, 500);
        assert_eq!(
            unknown.body["message"],
            "failed to create typed patch object (shop/mesh-default; telemetry.istio.io/v1, Kind=Telemetry): .spec.foo: field not declared in schema"
        );
    }
    // Other writes prune unknown fields, or refuse them with Strict.
    server.apply_as("meshc", &telemetry(json!({})), false).unwrap();
    let strict = send(
        &url,
        "PATCH",
        &format!("{path}?fieldValidation=Strict"),
        Some("application/merge-patch+json"),
        Some(&json!({"spec": {"foo": 1}})),
        None,
    )
    .unwrap();
    assert_eq!(strict.code, 400);
    assert_eq!(
        strict.body["message"],
        "Telemetry in version \"v1\" cannot be handled as a Telemetry: strict decoding error: unknown field \"spec.foo\""
    );
    let warned = send(
        &url,
        "PATCH",
        &format!("{path}?fieldManager=kubectl-patch"),
        Some("application/merge-patch+json"),
        Some(&json!({"spec": {"foo": 1, "tracing": []}})),
        None,
    )
    .unwrap();
    assert_eq!(warned.code, 200);
    assert!(
        warned.headers.contains(&("warning".into(), "299 - \"unknown field \\\"spec.foo\\\"\"".into())),
        "{:?}",
        warned.headers
    );
    assert_eq!(warned.body["spec"], json!({"tracing": []}));
    assert!(managed(&warned.body).iter().any(|(m, o, _)| m == "kubectl-patch" && o == "Update"));

    let no_manager = apply(&url, &path, "", &telemetry(json!({})));
    assert_eq!(no_manager.code, 422);
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "shop"}, "data": {"n": 1}});
    let bad_data = apply(&url, "/api/v1/namespaces/shop/configmaps/x", "fieldManager=meshc", &cm);
    assert_eq!(bad_data.code, 500);
    let mismatch = apply(&url, &format!("{TELEMETRY}/other-name"), "fieldManager=meshc", &telemetry(json!({})));
    assert_eq!(mismatch.code, 400);
}

#[test]
fn a_token_is_required_when_set() {
    let server = cluster();
    server.require_token("secret");
    let running = server.start();
    let url = running.url();
    let denied = send(&url, "GET", "/version", None, None, None).unwrap();
    assert_eq!(denied.code, 401);
    assert_eq!(
        denied.body,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
    );
    assert_eq!(send(&url, "GET", "/version", None, None, Some("wrong")).unwrap().code, 401);
    assert_eq!(send(&url, "GET", "/version", None, None, Some("secret")).unwrap().code, 200);
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn connections_drop_before_and_after_writes() {
    let server = cluster();
    let running = server.start();
    let url = running.url();
    let path = format!("{TELEMETRY}/mesh-default");
    let config = telemetry(json!({"tracing": []}));
    server.drop_connection_on_write(2, Fault::BeforeWrite);
    // A dry run and a read are not writes.
    assert_eq!(apply(&url, &path, "fieldManager=meshc&dryRun=All", &config).code, 201);
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "shop"}});
    assert_eq!(apply(&url, "/api/v1/namespaces/shop/configmaps/x", "fieldManager=meshc", &cm).code, 201);
    let dropped = send(
        &url,
        "PATCH",
        &format!("{path}?fieldManager=meshc"),
        Some("application/apply-patch+yaml"),
        Some(&config),
        None,
    );
    assert!(dropped.is_none());
    assert!(server.object("telemetry.istio.io", "telemetries", Some("shop"), "mesh-default").is_none());

    server.drop_connection_on_write(1, Fault::AfterWrite);
    let dropped = send(
        &url,
        "PATCH",
        &format!("{path}?fieldManager=meshc"),
        Some("application/apply-patch+yaml"),
        Some(&config),
        None,
    );
    assert!(dropped.is_none());
    assert!(server.object("telemetry.istio.io", "telemetries", Some("shop"), "mesh-default").is_some());
    assert_eq!(apply(&url, &path, "fieldManager=meshc", &config).code, 200);
    assert!(server.requests().iter().filter(|r| r.is_write()).count() >= 4);
    assert_eq!(
        server.requests()[0].query,
        [("fieldManager".to_string(), "meshc".to_string()), ("dryRun".into(), "All".into())]
    );
}

/// The process, killed when the test ends, even by a panic.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `meshc-fake-apiserver` as a person starts it: `ready URL` on stdout, the options in
/// force, a kubeconfig that reaches it; it serves until killed.
#[test]
fn the_binary_serves_until_killed() {
    let dir = std::env::temp_dir().join(format!("meshc-fake-apiserver-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    let crds = format!("{}/../../shared/reference/istio-crds/1.30", env!("CARGO_MANIFEST_DIR"));
    let mut child = Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_meshc-fake-apiserver"))
            .args(["--token", "t0ken", "--namespace", "shop", "--istio-crds", &crds, "--kubeconfig-out"])
            .arg(&kubeconfig)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.0.stdout.take().unwrap()), &mut line).unwrap();
    let url = line.trim_end().strip_prefix("ready ").unwrap_or_else(|| panic!("not a ready line: {line:?}"));
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert_eq!(std::fs::read_to_string(&kubeconfig).unwrap(), meshc_fake_apiserver::kubeconfig(url, "t0ken"));

    let version = send(url, "GET", "/version", None, None, Some("t0ken")).unwrap();
    assert_eq!((version.code, &version.body["gitVersion"]), (200, &json!("v1.34.0-meshc-fake")));
    assert_eq!(get(url, "/version").code, 401, "the token is required");
    assert_eq!(send(url, "GET", "/api/v1/namespaces/shop", None, None, Some("t0ken")).unwrap().code, 200);
    let crd = send(url, "GET", &format!("{CRDS}/telemetries.telemetry.istio.io"), None, None, Some("t0ken")).unwrap();
    assert_eq!(crd.body["status"]["conditions"][1]["type"], "Established");

    child.0.kill().unwrap();
    child.0.wait().unwrap();
    assert!(TcpStream::connect(url.strip_prefix("http://").unwrap()).is_err(), "stopped");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_binary_refuses_unknown_arguments() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_meshc-fake-apiserver"))
        .args(["--istio-crds", "/nonexistent", "--prot", "1"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("meshc-fake-apiserver: unknown argument \"--prot\"\n\nusage:"), "{stderr}");
}

fn delete_with(url: &str, path: &str, options: &Value) -> Reply {
    send(url, "DELETE", path, Some("application/json"), Some(options), None).unwrap()
}

#[test]
fn deletions_honour_preconditions() {
    let server = cluster();
    let running = server.start();
    let url = running.url();
    let path = format!("{TELEMETRY}/mesh-default");
    let created = apply(&url, &path, "fieldManager=meshc", &telemetry(json!({"tracing": []})));
    let uid = created.body["metadata"]["uid"].as_str().unwrap().to_string();
    let rv = created.body["metadata"]["resourceVersion"].as_str().unwrap().to_string();

    // The generic registry's BeforeDelete names the kind.
    let stale_uid = delete_with(
        &url,
        &path,
        &json!({"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": "other", "resourceVersion": rv}}),
    );
    assert_eq!(stale_uid.code, 409);
    assert_eq!(
        stale_uid.body,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": format!("Operation cannot be fulfilled on Telemetry.telemetry.istio.io \"mesh-default\": the UID in the precondition (other) does not match the UID in record ({uid}). The object might have been deleted and then recreated"),
            "reason": "Conflict", "details": {"name": "mesh-default", "group": "telemetry.istio.io", "kind": "Telemetry"}, "code": 409})
    );
    let stale_rv = delete_with(
        &url,
        &format!("{path}?dryRun=All"),
        &json!({"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": uid, "resourceVersion": "1"}}),
    );
    assert_eq!(stale_rv.code, 409);
    assert_eq!(
        stale_rv.body["message"],
        format!(
            "Operation cannot be fulfilled on Telemetry.telemetry.istio.io \"mesh-default\": the ResourceVersion in the precondition (1) does not match the ResourceVersion in record ({rv}). The object might have been modified"
        )
    );
    assert!(server.object("telemetry.istio.io", "telemetries", Some("shop"), "mesh-default").is_some());

    let matching = json!({"kind": "DeleteOptions", "apiVersion": "v1", "dryRun": ["All"],
        "preconditions": {"uid": uid, "resourceVersion": rv}});
    assert_eq!(delete_with(&url, &path, &matching).code, 200);
    assert!(server.object("telemetry.istio.io", "telemetries", Some("shop"), "mesh-default").is_some());
    let mut real = matching.clone();
    real.as_object_mut().unwrap().remove("dryRun");
    assert_eq!(delete_with(&url, &path, &real).code, 200);
    assert!(server.object("telemetry.istio.io", "telemetries", Some("shop"), "mesh-default").is_none());

    // Namespaces have a registry of their own, with storage's wording, on the plural.
    let namespace = get(&url, "/api/v1/namespaces/shop").body;
    let stale = delete_with(&url, "/api/v1/namespaces/shop", &json!({"preconditions": {"uid": "other"}}));
    assert_eq!(stale.code, 409);
    assert_eq!(
        stale.body["message"],
        format!(
            "Operation cannot be fulfilled on namespaces \"shop\": Precondition failed: UID in precondition: other, UID in object meta: {}",
            namespace["metadata"]["uid"].as_str().unwrap()
        )
    );
    assert_eq!(stale.body["details"], json!({"name": "shop", "kind": "namespaces"}));
}

#[test]
fn forbidden_cluster_wide_lists_and_allowed_namespaced_ones() {
    let server = cluster();
    server.forbid(Forbid::new(&["list"], "/apis/telemetry.istio.io/*/telemetries"));
    server.forbid(Forbid::new(&["GET"], "/api/v1/namespaces"));
    let running = server.start();
    let url = running.url();

    let all = get(&url, "/apis/telemetry.istio.io/v1/telemetries");
    assert_eq!(all.code, 403);
    assert_eq!(
        all.body,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "telemetries.telemetry.istio.io is forbidden: User \"system:serviceaccount:ci:meshc\" cannot list resource \"telemetries\" in API group \"telemetry.istio.io\" at the cluster scope",
            "reason": "Forbidden", "details": {"group": "telemetry.istio.io", "kind": "telemetries"}, "code": 403})
    );
    let namespaces = get(&url, "/api/v1/namespaces");
    assert_eq!(namespaces.code, 403);
    assert_eq!(
        namespaces.body["message"],
        "namespaces is forbidden: User \"system:serviceaccount:ci:meshc\" cannot list resource \"namespaces\" in API group \"\" at the cluster scope"
    );
    assert_eq!(namespaces.body["details"], json!({"kind": "namespaces"}));

    assert_eq!(get(&url, TELEMETRY).code, 200);
    assert_eq!(get(&url, "/api/v1/namespaces/shop").code, 200);
    assert_eq!(get(&url, "/apis/telemetry.istio.io/v1").code, 200);

    // A rule on a single object names it, and the namespace it is in.
    server.forbid(Forbid::new(&["delete"], &format!("{TELEMETRY}/*")).as_user("jane"));
    let delete = send(&url, "DELETE", &format!("{TELEMETRY}/mesh-default"), None, None, None).unwrap();
    assert_eq!(delete.code, 403);
    assert_eq!(
        delete.body["message"],
        "telemetries.telemetry.istio.io \"mesh-default\" is forbidden: User \"jane\" cannot delete resource \"telemetries\" in API group \"telemetry.istio.io\" in the namespace \"shop\""
    );
    assert_eq!(
        delete.body["details"],
        json!({"name": "mesh-default", "group": "telemetry.istio.io", "kind": "telemetries"})
    );
}

#[test]
fn an_admission_webhook_denies_writes_of_a_kind() {
    let server = cluster();
    let running = server.start();
    let url = running.url();
    let path = format!("{TELEMETRY}/mesh-default");
    apply(&url, &path, "fieldManager=meshc", &telemetry(json!({"tracing": []})));
    server.deny_writes_with_webhook("Telemetry", "configuration is invalid: tracing is not allowed");
    let before = server.objects();
    let expected = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "telemetries.telemetry.istio.io \"mesh-default\" is forbidden: admission webhook \"validation.istio.io\" denied the request: configuration is invalid: tracing is not allowed",
        "reason": "Forbidden", "details": {"name": "mesh-default", "group": "telemetry.istio.io", "kind": "telemetries"}, "code": 403});
    for query in ["fieldManager=meshc", "fieldManager=meshc&dryRun=All"] {
        let denied = apply(&url, &path, query, &telemetry(json!({"tracing": [{"randomSamplingPercentage": 5}]})));
        assert_eq!(denied.code, 403);
        assert_eq!(denied.body, expected);
    }
    let merge = send(&url, "PATCH", &path, Some("application/merge-patch+json"), Some(&json!({"spec": {}})), None);
    assert_eq!(merge.unwrap().body, expected);
    // Schema validation answers first, as kube-apiserver validates before it calls validating webhooks.
    let invalid =
        apply(&url, &path, "fieldManager=meshc", &telemetry(json!({"tracing": [{"randomSamplingPercentage": 200}]})));
    assert_eq!(invalid.code, 422);
    assert_eq!(server.objects(), before);
    // Other kinds and deletions pass.
    let configmap = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "shop"}});
    assert_eq!(apply(&url, "/api/v1/namespaces/shop/configmaps/c", "fieldManager=meshc", &configmap).code, 201);
    assert_eq!(send(&url, "DELETE", &path, None, None, None).unwrap().code, 200);
}

#[test]
fn whole_floats_are_stored_as_integers() {
    let server = cluster();
    let running = server.start();
    let url = running.url();
    let path = format!("{TELEMETRY}/mesh-default");
    let tracing = |p: Value| telemetry(json!({"tracing": [{"randomSamplingPercentage": p}]}));
    let dry = apply(&url, &path, "fieldManager=meshc&dryRun=All", &tracing(json!(10.0)));
    assert_eq!(dry.body["spec"]["tracing"][0]["randomSamplingPercentage"], json!(10));
    let created = apply(&url, &path, "fieldManager=meshc", &tracing(json!(10.0)));
    // serde_json keeps 10 and 10.0 apart: an integer came back.
    assert_eq!(created.body["spec"]["tracing"][0]["randomSamplingPercentage"], json!(10));
    assert_ne!(created.body["spec"]["tracing"][0]["randomSamplingPercentage"], json!(10.0));
    assert_eq!(get(&url, &path).body, created.body);

    // The same value again, written either way, is a no-op; another manager applying it shares the field.
    for value in [json!(10), json!(10.0)] {
        let again = apply(&url, &path, "fieldManager=meshc", &tracing(value));
        assert_eq!(again.body, created.body);
    }
    let shared = apply(&url, &path, "fieldManager=other", &tracing(json!(10.0)));
    assert_eq!(shared.code, 200, "{}", shared.body);
    assert_eq!(managed(&shared.body).len(), 2);

    let fraction = apply(&url, &path, "fieldManager=meshc&force=true", &tracing(json!(1.5)));
    assert_eq!(fraction.body["spec"]["tracing"][0]["randomSamplingPercentage"], json!(1.5));
    let update = server.update_as("editor", &tracing(json!(20.0))).unwrap();
    assert_eq!(update["spec"]["tracing"][0]["randomSamplingPercentage"], json!(20));
}

const WASM: &str = "/apis/extensions.istio.io/v1alpha1/namespaces/shop/wasmplugins/auth";

fn wasm(spec: Value) -> Value {
    json!({"apiVersion": "extensions.istio.io/v1alpha1", "kind": "WasmPlugin",
        "metadata": {"name": "auth", "namespace": "shop"}, "spec": spec})
}

fn env(items: &[(&str, &str)]) -> Value {
    json!({"vmConfig": {"env": items.iter().map(|(n, v)| json!({"name": n, "value": v})).collect::<Vec<_>>()}})
}

#[test]
fn map_typed_lists_merge_by_key_across_managers() {
    let server = cluster();
    let running = server.start();
    let url = running.url();
    let mut mine = env(&[("A", "1"), ("B", "2")]);
    mine["url"] = "oci://auth:1".into();
    let created = apply(&url, WASM, "fieldManager=meshc", &wasm(mine.clone()));
    assert_eq!(created.code, 201, "{}", created.body);
    assert_eq!(
        managed(&created.body)[0].2,
        json!({"f:spec": {"f:url": {}, "f:vmConfig": {"f:env": {
            "k:{\"name\":\"A\"}": {".": {}, "f:name": {}, "f:value": {}},
            "k:{\"name\":\"B\"}": {".": {}, "f:name": {}, "f:value": {}}}}}})
    );

    // Another manager adds an item: no conflict, the items merge.
    let theirs = apply(&url, WASM, "fieldManager=other", &wasm(env(&[("C", "3")])));
    assert_eq!(theirs.code, 200, "{}", theirs.body);
    assert_eq!(theirs.body["spec"]["vmConfig"]["env"], env(&[("A", "1"), ("B", "2"), ("C", "3")])["vmConfig"]["env"]);

    // Changing a field of meshc's item conflicts on that field alone.
    let conflict = apply(&url, WASM, "fieldManager=other", &wasm(env(&[("A", "9"), ("C", "3")])));
    assert_eq!(conflict.code, 409);
    assert_eq!(
        conflict.body["message"],
        "Apply failed with 1 conflict: conflict with \"meshc\": .spec.vmConfig.env[name=\"A\"].value"
    );
    // The same value is shared, not a conflict.
    let shared = apply(&url, WASM, "fieldManager=other", &wasm(env(&[("A", "1"), ("C", "3")])));
    assert_eq!(shared.code, 200, "{}", shared.body);

    // meshc drops B (no one else owns it: it goes) and A (other shares it: it stays); C is not meshc's to remove.
    let dropped = apply(&url, WASM, "fieldManager=meshc", &wasm(json!({"url": "oci://auth:1"})));
    assert_eq!(dropped.code, 200, "{}", dropped.body);
    assert_eq!(dropped.body["spec"]["vmConfig"]["env"], env(&[("A", "1"), ("C", "3")])["vmConfig"]["env"]);

    // When the last owner lets go, the items, the emptied list and its map go too.
    let gone = apply(&url, WASM, "fieldManager=other", &wasm(json!({"priority": 5})));
    assert_eq!(gone.code, 200, "{}", gone.body);
    assert_eq!(gone.body["spec"], json!({"priority": 5, "url": "oci://auth:1"}));
}
