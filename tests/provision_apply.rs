//! The apply delivery against an HTTP-level fake Kubernetes API server (a small HTTP/1.1
//! server on 127.0.0.1 inside this test): server-side apply PATCHes with the field manager
//! and content type, `--dry-run` as `dryRun=All`, reading Secrets back on re-runs, and a
//! 409 conflict reported with the conflicting manager. A real cluster is not exercised here.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use common::*;

#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    query: BTreeMap<String, String>,
    content_type: String,
    body: String,
}

#[derive(Default)]
struct State {
    objects: BTreeMap<String, serde_json::Value>,
    requests: Vec<Request>,
    /// Paths whose apply answers 409 (another manager owns a field).
    conflicts: BTreeSet<String>,
}

struct FakeApi {
    port: u16,
    state: Arc<Mutex<State>>,
}

fn status(code: u16, reason: &str, message: &str) -> (u16, String) {
    (
        code,
        serde_json::json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": message, "reason": reason, "code": code
        })
        .to_string(),
    )
}

fn handle(state: &Mutex<State>, req: Request) -> (u16, String) {
    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
    st.requests.push(req.clone());
    match req.method.as_str() {
        "GET" => match st.objects.get(&req.path) {
            Some(obj) => (200, obj.to_string()),
            None => status(404, "NotFound", "not found"),
        },
        "PATCH" => {
            if st.conflicts.contains(&req.path) {
                return status(
                    409,
                    "Conflict",
                    "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using v1: .data.DATABASE_URL",
                );
            }
            // Namespaced objects need their namespace (as a real API server would).
            if let Some(rest) = req.path.strip_prefix("/api/v1/namespaces/") {
                if let Some((ns, _)) = rest.split_once('/') {
                    let ns_path = format!("/api/v1/namespaces/{ns}");
                    if !st.objects.contains_key(&ns_path) {
                        return status(404, "NotFound", &format!("namespaces \"{ns}\" not found"));
                    }
                }
            } else if req.path.starts_with("/apis/") && req.path.contains("/namespaces/") {
                let ns = req
                    .path
                    .split("/namespaces/")
                    .nth(1)
                    .and_then(|r| r.split('/').next())
                    .unwrap_or("");
                if !st.objects.contains_key(&format!("/api/v1/namespaces/{ns}")) {
                    return status(404, "NotFound", &format!("namespaces \"{ns}\" not found"));
                }
            }
            let Ok(mut obj) = serde_json::from_str::<serde_json::Value>(&req.body) else {
                return status(400, "BadRequest", "body is not JSON");
            };
            obj["metadata"]["resourceVersion"] = serde_json::json!("1");
            obj["metadata"]["managedFields"] = serde_json::json!([{
                "manager": req.query.get("fieldManager").cloned().unwrap_or_default(),
                "operation": "Apply"
            }]);
            if req.query.get("dryRun").map(String::as_str) != Some("All") {
                st.objects.insert(req.path.clone(), obj.clone());
            }
            (200, obj.to_string())
        }
        _ => status(405, "MethodNotAllowed", "unexpected method"),
    }
}

fn serve(stream: TcpStream, state: Arc<Mutex<State>>) {
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut writer = stream;
    // Keep-alive: bounded number of requests per connection.
    for _ in 0..1000 {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_owned();
        let target = parts.next().unwrap_or("").to_owned();
        let mut length = 0usize;
        let mut content_type = String::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                match k.trim().to_ascii_lowercase().as_str() {
                    "content-length" => length = v.trim().parse().unwrap_or(0),
                    "content-type" => content_type = v.trim().to_owned(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (
                p.to_owned(),
                q.split('&')
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
            ),
            None => (target.clone(), BTreeMap::new()),
        };
        let req = Request {
            method,
            path,
            query,
            content_type,
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        let (code, text) = handle(&state, req);
        let response = format!(
            "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

impl FakeApi {
    fn start() -> FakeApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let s = shared.clone();
                std::thread::spawn(move || serve(stream, s));
            }
        });
        FakeApi { port, state }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn take_requests(&self) -> Vec<Request> {
        std::mem::take(
            &mut self
                .state
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .requests,
        )
    }

    fn secret_data(&self, ns: &str, name: &str) -> BTreeMap<String, String> {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let obj = &st.objects[&format!("/api/v1/namespaces/{ns}/secrets/{name}")];
        obj["data"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        use base64::Engine;
                        let raw = base64::engine::general_purpose::STANDARD
                            .decode(v.as_str().unwrap_or(""))
                            .unwrap_or_default();
                        (k.clone(), String::from_utf8_lossy(&raw).into_owned())
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn write_spec(dir: &std::path::Path, api: &FakeApi, prefix: &str) -> PathBuf {
    let text = format!(
        r#"
environment = "staging"
[target]
admin_url_env = "TEST_ADMIN_URL"
app_host = "postgres.databases.svc"
[database]
name = "{prefix}_staging"
owner = "{prefix}_owner"
app_role = "{prefix}_app"
password_secret = "db_password"
[secrets.db_password]
generate = {{ bytes = 24 }}
[secrets.database_url]
derive = "url"
[kubernetes]
namespace = "app-staging"
labels = {{ environment = "staging" }}
quota = {{ cpu = "4", memory = "8Gi" }}
service_account = {{ name = "backend" }}
[kubernetes.network_policy]
egress = [{{ cidr = "10.0.0.0/8", ports = [5432] }}]
[[kubernetes.secrets]]
name = "postgres-secret"
keys = {{ DATABASE_URL = "database_url", POSTGRES_PASSWORD = "db_password" }}
[[delivery]]
kind = "apply"
server = "{url}"
field_manager = "restage-test"
"#,
        url = api.url()
    );
    let path = dir.join("env.toml");
    std::fs::write(&path, text).expect("spec");
    path
}

fn provision(spec: &std::path::Path, extra: &[&str]) -> Run {
    run_cmd(
        restage()
            .arg("provision")
            .arg("--env")
            .arg(spec)
            .args(extra)
            .env("TEST_ADMIN_URL", cluster().url("postgres")),
    )
}

#[test]
fn apply_uses_server_side_apply_reads_back_and_reports_conflicts() {
    let api = FakeApi::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = write_spec(dir.path(), &api, "apply");

    // --dry-run: reads and dry-run applies only.
    let run = provision(&spec, &["--dry-run"]);
    run.assert_ok();
    let reqs = api.take_requests();
    assert!(
        reqs.iter().any(|r| r.method == "PATCH"),
        "no dry-run apply was sent"
    );
    for r in &reqs {
        if r.method == "PATCH" {
            assert_eq!(
                r.query.get("dryRun").map(String::as_str),
                Some("All"),
                "{r:?}"
            );
        }
    }
    assert!(
        run.stdout
            .contains("+ apply(restage-test)  Namespace/app-staging"),
        "{}",
        run.stdout
    );

    // A real run: every object applied with the field manager, as apply patches.
    // At the most verbose log level, still no value on stderr.
    let first = provision(&spec, &["--log", "trace"]);
    first.assert_ok();
    assert!(
        first.stderr.contains("lock taken"),
        "trace logging is not in effect"
    );
    let reqs = api.take_requests();
    let patches: Vec<&Request> = reqs
        .iter()
        .filter(|r| r.method == "PATCH" && !r.query.contains_key("dryRun"))
        .collect();
    let kinds: BTreeSet<&str> = patches
        .iter()
        .filter_map(|r| r.path.rsplit('/').nth(1))
        .collect();
    for kind in [
        "namespaces",
        "resourcequotas",
        "networkpolicies",
        "serviceaccounts",
        "secrets",
    ] {
        assert!(kinds.contains(kind), "no apply for {kind}: {kinds:?}");
    }
    for r in &patches {
        assert_eq!(
            r.query.get("fieldManager").map(String::as_str),
            Some("restage-test")
        );
        assert_eq!(r.content_type, "application/apply-patch+yaml");
        assert_ne!(
            r.query.get("force").map(String::as_str),
            Some("true"),
            "apply must not force"
        );
    }
    let data = api.secret_data("app-staging", "postgres-secret");
    let password = restage::conn::Secret::new(data["POSTGRES_PASSWORD"].clone());
    assert!(data["DATABASE_URL"].starts_with("postgresql://apply_app:"));
    for out in [&first.stdout, &first.stderr] {
        assert!(!out.contains(password.expose()), "the password was printed");
    }

    // A re-run reads the Secret back, reuses the password, and changes nothing.
    let second = provision(&spec, &[]);
    second.assert_ok();
    assert!(
        second.stdout.contains("0 to create, 0 to change"),
        "{}",
        second.stdout
    );
    let reqs = api.take_requests();
    assert!(
        !reqs
            .iter()
            .any(|r| r.method == "PATCH" && !r.query.contains_key("dryRun")),
        "the re-run applied again"
    );
    assert_eq!(
        api.secret_data("app-staging", "postgres-secret")["POSTGRES_PASSWORD"],
        password.expose()
    );
    provision(&spec, &["--check"]).assert_ok();

    // Rotation changes the Secret and says so.
    let rotated = provision(&spec, &["--rotate", "db_password"]);
    rotated.assert_ok();
    assert!(
        rotated.stdout.contains(
            "rotated db_password: changed in postgres (role password), apply(restage-test)"
        ),
        "{}",
        rotated.stdout
    );
    assert!(
        rotated
            .stdout
            .contains("data.DATABASE_URL, data.POSTGRES_PASSWORD"),
        "{}",
        rotated.stdout
    );
    assert_ne!(
        api.secret_data("app-staging", "postgres-secret")["POSTGRES_PASSWORD"],
        password.expose()
    );

    // Another manager owns a field: the conflict names it, nothing is forced.
    api.state
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .conflicts
        .insert("/api/v1/namespaces/app-staging/secrets/postgres-secret".into());
    let conflict = provision(&spec, &["--rotate", "db_password"]);
    assert_ne!(conflict.code, 0);
    assert!(
        conflict
            .stderr
            .contains("conflict with manager \"kubectl-edit\""),
        "{}",
        conflict.stderr
    );
    assert!(!conflict.stderr.contains(password.expose()));
    // The refused run changed nothing: the role's password still matches the Secret.
    api.state
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .conflicts
        .clear();
    let check = provision(&spec, &["--check"]);
    assert_eq!(check.code, 0, "{}\n{}", check.stdout, check.stderr);
}

#[test]
fn offline_plans_use_recorded_objects_and_say_the_cluster_was_not_consulted() {
    let api = FakeApi::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = write_spec(dir.path(), &api, "offline");
    provision(&spec, &[]).assert_ok();

    // What `kubectl get … -o yaml` would record: a List of the live objects.
    let items: Vec<serde_json::Value> = api
        .state
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .objects
        .values()
        .cloned()
        .collect();
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
    let state = dir.path().join("cluster-export.yaml");
    std::fs::write(&state, serde_yaml::to_string(&list).expect("YAML")).expect("write");

    // The cluster is now unreachable.
    let text = std::fs::read_to_string(&spec).expect("spec");
    std::fs::write(&spec, text.replace(&api.url(), "http://127.0.0.1:9")).expect("spec");
    let unreachable = provision(&spec, &["--check"]);
    assert_eq!(unreachable.code, 1, "{}", unreachable.stderr);
    assert!(
        unreachable.stderr.contains("--kube-state"),
        "{}",
        unreachable.stderr
    );

    let state_arg = state.to_string_lossy().into_owned();
    let offline = provision(&spec, &["--check", "--kube-state", &state_arg]);
    assert_eq!(offline.code, 0, "{}\n{}", offline.stdout, offline.stderr);
    assert!(
        offline
            .stdout
            .contains("the cluster was not consulted; planned against"),
        "{}",
        offline.stdout
    );
    assert!(
        !offline.stdout.contains("would be generated"),
        "the recorded Secret's values were not reused: {}",
        offline.stdout
    );

    // An object missing from the record is planned as a creation: drift.
    let mut partial = list.clone();
    partial["items"]
        .as_array_mut()
        .expect("items")
        .retain(|o| o["kind"] != "ServiceAccount");
    std::fs::write(&state, serde_yaml::to_string(&partial).expect("YAML")).expect("write");
    let drift = provision(&spec, &["--check", "--kube-state", &state_arg]);
    assert_eq!(drift.code, 2, "{}\n{}", drift.stdout, drift.stderr);
    assert!(
        drift
            .stdout
            .contains("+ apply(restage-test)  ServiceAccount/backend -n app-staging"),
        "{}",
        drift.stdout
    );

    // Only plans: applying needs the cluster.
    let apply = provision(&spec, &["--kube-state", &state_arg]);
    assert_eq!(apply.code, 2, "{}", apply.stderr);
}
