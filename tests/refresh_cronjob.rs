//! The refresh CronJob as emitted: for every example environment on Kubernetes, the CronJob,
//! its ConfigMap and its NetworkPolicy validate against the Kubernetes schemas, and the
//! container agrees with the rest of the bundle: its command line names files the ConfigMap
//! mounts, its environment comes from Secrets the bundle defines (or the documented hand-made
//! ones) and holds the admin URL rather than the app role's, temporary files go to an
//! emptyDir. `Invocation` turns the rendered container into a local process (the ConfigMap's
//! files in a directory standing in for the mount, secret values supplied, TMPDIR on its own
//! writable directory), which `cronjob_command_runs_a_refresh` runs against a local cluster.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::kube::kubernetes_validate;
use common::*;
use restage::provision::cronjob::{self, MOUNT_DIR, SPEC_FILE, TMP_DIR};
use restage::provision::quantity;
use restage::provision::spec::{
    self, LoadedSpec, HAND_MADE_KEY_SECRET, HAND_MADE_SOURCE_SECRET, HAND_MADE_TARGET_SECRET,
};
use serde_yaml::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every example environment that runs on Kubernetes: each must have a refresh CronJob.
fn kubernetes_examples() -> Vec<LoadedSpec> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(root().join("examples/envs"))
        .expect("examples/envs")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    let out: Vec<LoadedSpec> = paths
        .iter()
        .map(|p| spec::load(p).unwrap_or_else(|e| panic!("{e}")))
        .filter(|l| l.spec.kubernetes.is_some())
        .collect();
    assert_eq!(out.len(), 4, "four example environments run on Kubernetes");
    for l in &out {
        assert!(
            l.spec
                .refresh
                .as_ref()
                .is_some_and(|r| r.schedule.is_some()),
            "{} runs on Kubernetes but has no refresh CronJob ([refresh] schedule)",
            l.path
        );
    }
    out
}

/// The rendered objects, by kind.
struct Rendered {
    yaml: String,
    config_map: Value,
    network_policy: Option<Value>,
    cron_job: Value,
}

impl Rendered {
    fn of(loaded: &LoadedSpec) -> Rendered {
        let yaml = cronjob::render(loaded).unwrap_or_else(|e| panic!("{}: {e}", loaded.path));
        let mut by_kind: BTreeMap<String, Value> = BTreeMap::new();
        for doc in serde_yaml::Deserializer::from_str(&yaml) {
            let v: Value = serde::Deserialize::deserialize(doc).expect("YAML");
            let kind = v["kind"].as_str().expect("kind").to_owned();
            assert!(by_kind.insert(kind.clone(), v).is_none(), "two {kind}s");
        }
        Rendered {
            yaml,
            config_map: by_kind.remove("ConfigMap").expect("a ConfigMap"),
            network_policy: by_kind.remove("NetworkPolicy"),
            cron_job: by_kind.remove("CronJob").expect("a CronJob"),
        }
    }

    fn pod(&self) -> &Value {
        &self.cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    }

    fn container(&self) -> &Value {
        &self.pod()["containers"][0]
    }

    fn strings(v: &Value) -> Vec<String> {
        v.as_sequence()
            .map(|s| {
                s.iter()
                    .map(|x| x.as_str().expect("a string").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The volume a container mount at `path` uses.
    fn volume_at(&self, path: &str) -> &Value {
        let mount = self.container()["volumeMounts"]
            .as_sequence()
            .expect("volumeMounts")
            .iter()
            .find(|m| m["mountPath"].as_str() == Some(path))
            .unwrap_or_else(|| panic!("nothing mounted at {path}"));
        self.pod()["volumes"]
            .as_sequence()
            .expect("volumes")
            .iter()
            .find(|v| v["name"] == mount["name"])
            .unwrap_or_else(|| panic!("no volume for the mount at {path}"))
    }

    fn mount_read_only(&self, path: &str) -> bool {
        self.container()["volumeMounts"]
            .as_sequence()
            .expect("volumeMounts")
            .iter()
            .any(|m| m["mountPath"].as_str() == Some(path) && m["readOnly"].as_bool() == Some(true))
    }

    /// (ConfigMap key, path under the mount) of every mounted file.
    fn items(&self) -> Vec<(String, String)> {
        self.volume_at(MOUNT_DIR)["configMap"]["items"]
            .as_sequence()
            .expect("items")
            .iter()
            .map(|i| {
                (
                    i["key"].as_str().expect("key").to_owned(),
                    i["path"].as_str().expect("path").to_owned(),
                )
            })
            .collect()
    }

    /// Environment variable → (Secret, key) or literal value.
    fn env(&self) -> BTreeMap<String, EnvSource> {
        self.container()["env"]
            .as_sequence()
            .expect("env")
            .iter()
            .map(|e| {
                let name = e["name"].as_str().expect("name").to_owned();
                let source = match e["value"].as_str() {
                    Some(v) => EnvSource::Literal(v.to_owned()),
                    None => {
                        let r = &e["valueFrom"]["secretKeyRef"];
                        EnvSource::Secret(
                            r["name"].as_str().expect("secret name").to_owned(),
                            r["key"].as_str().expect("secret key").to_owned(),
                        )
                    }
                };
                (name, source)
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum EnvSource {
    Literal(String),
    Secret(String, String),
}

/// The keys each Secret of the bundle holds.
fn bundle_secrets(loaded: &LoadedSpec) -> BTreeMap<String, BTreeSet<String>> {
    loaded
        .spec
        .kubernetes
        .iter()
        .flat_map(|k| k.secrets.iter())
        .map(|o| {
            let o = o.get_ref();
            let keys = o.keys.keys().chain(o.literals.keys()).cloned().collect();
            (o.name.clone(), keys)
        })
        .collect()
}

/// Checks one example's objects against its spec and the rest of its bundle.
fn check_consistent(loaded: &LoadedSpec, r: &Rendered) {
    let spec = &loaded.spec;
    let refresh = spec.refresh.as_ref().expect("[refresh]");
    let at = &loaded.path;
    let kube = spec.kubernetes.as_ref().expect("[kubernetes]");
    let ns = kube.namespace.get_ref().as_str();
    for obj in [&r.config_map, &r.cron_job]
        .into_iter()
        .chain(r.network_policy.as_ref())
    {
        assert_eq!(obj["metadata"]["namespace"].as_str(), Some(ns), "{at}");
    }

    // The job: one at a time, bounded, not retried blindly.
    let job = &r.cron_job["spec"];
    assert_eq!(job["concurrencyPolicy"].as_str(), Some("Forbid"), "{at}");
    assert_eq!(
        job["schedule"].as_str(),
        refresh.schedule.as_deref(),
        "{at}"
    );
    assert!(job["jobTemplate"]["spec"]["activeDeadlineSeconds"].as_i64() > Some(0));
    assert_eq!(job["jobTemplate"]["spec"]["backoffLimit"].as_i64(), Some(0));

    // The command line: restage refresh --env <the mounted spec>.
    let c = r.container();
    assert_eq!(Rendered::strings(&c["command"]), ["restage"], "{at}");
    let args = Rendered::strings(&c["args"]);
    assert_eq!(
        args[..3],
        ["refresh", "--env", &format!("{MOUNT_DIR}/{SPEC_FILE}")],
        "{at}"
    );

    // The mount: every item's key is in the ConfigMap, the spec is the spec file itself, and
    // the files the spec names are at the paths it names them by, relative to the spec.
    assert!(
        r.mount_read_only(MOUNT_DIR),
        "{at}: the config mount is read-only"
    );
    let config = r.volume_at(MOUNT_DIR);
    assert_eq!(
        config["configMap"]["name"],
        r.config_map["metadata"]["name"]
    );
    let data = r.config_map["data"].as_mapping().expect("data");
    let items = r.items();
    for (key, _) in &items {
        assert!(
            data.contains_key(key.as_str()),
            "{at}: item {key} not in the ConfigMap"
        );
    }
    let mounted = |relative: &str| -> String {
        let (key, _) = items
            .iter()
            .find(|(_, p)| p == relative)
            .unwrap_or_else(|| panic!("{at}: {relative} is not mounted"));
        data[key.as_str()].as_str().expect("text").to_owned()
    };
    assert_eq!(
        mounted(SPEC_FILE),
        std::fs::read_to_string(&loaded.path).expect("spec")
    );
    for (_, named) in refresh.files() {
        let Some(named) = named else { continue };
        let relative = named.get_ref().trim_start_matches("./");
        assert_eq!(
            mounted(relative),
            std::fs::read_to_string(loaded.resolve(named.get_ref())).expect("file"),
            "{at}: {relative}"
        );
    }

    // Temporary files: TMPDIR on a writable emptyDir, the root filesystem read-only.
    assert_eq!(
        c["securityContext"]["readOnlyRootFilesystem"].as_bool(),
        Some(true)
    );
    let env = r.env();
    assert_eq!(
        env.get("TMPDIR"),
        Some(&EnvSource::Literal(TMP_DIR.to_owned()))
    );
    assert!(r.volume_at(TMP_DIR)["emptyDir"].is_mapping(), "{at}");
    assert!(!r.mount_read_only(TMP_DIR), "{at}");

    // The environment: exactly the variables the spec reads, each from a Secret the bundle
    // defines with that key (or a documented hand-made one).
    let source_env = spec.source.as_ref().and_then(|s| s.url_env.as_ref());
    let target_env = spec.target.admin_url_env.as_ref();
    let expected: BTreeSet<String> = [
        source_env.expect("[source] url_env").get_ref().clone(),
        target_env
            .expect("[target] admin_url_env")
            .get_ref()
            .clone(),
        refresh.key_env.clone(),
        "TMPDIR".to_owned(),
    ]
    .into();
    assert_eq!(
        env.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "{at}"
    );
    let secrets = bundle_secrets(loaded);
    let hand_made = [
        HAND_MADE_SOURCE_SECRET,
        HAND_MADE_TARGET_SECRET,
        HAND_MADE_KEY_SECRET,
    ];
    for (var, source) in &env {
        let EnvSource::Secret(name, key) = source else {
            continue;
        };
        match secrets.get(name) {
            Some(keys) => assert!(
                keys.contains(key),
                "{at}: {var}: Secret {name} has no key {key}"
            ),
            None => assert!(
                hand_made.contains(&name.as_str()),
                "{at}: {var} comes from Secret {name}, which the bundle does not define"
            ),
        }
    }
    // The staging connection is the admin's: never a key carrying the app role's URL.
    let target = env
        .get(target_env.expect("admin_url_env").get_ref())
        .expect("the admin URL variable");
    let EnvSource::Secret(name, key) = target else {
        panic!("{at}: the admin URL is not from a Secret");
    };
    let carries_app = kube.secrets.iter().map(|o| o.get_ref()).any(|o| {
        o.name == *name
            && o.keys.get(key).is_some_and(|s| {
                spec.secrets
                    .get(s)
                    .is_some_and(|s| s.get_ref().derive.is_some())
            })
    });
    assert!(
        !carries_app,
        "{at}: the refresh connects with the app role's URL"
    );

    // Resources: set, and within the namespace's LimitRange maximum and quota.
    for what in ["cpu", "memory"] {
        let limit = c["resources"]["limits"][what].as_str().expect("limit");
        let request = c["resources"]["requests"][what].as_str().expect("request");
        let l = quantity::parse(limit).expect("quantity");
        assert!(quantity::parse(request).expect("quantity") <= l);
        let ceilings = [
            kube.limit_range.as_ref().and_then(|m| match what {
                "cpu" => m.max_cpu.clone(),
                _ => m.max_memory.clone(),
            }),
            kube.quota.as_ref().map(|q| match what {
                "cpu" => q.cpu.clone(),
                _ => q.memory.clone(),
            }),
        ];
        for ceiling in ceilings.into_iter().flatten() {
            assert!(
                l <= quantity::parse(&ceiling).expect("quantity"),
                "{at}: {what}"
            );
        }
    }

    // Egress: with the bundle's default deny, a policy selecting the job's pods opens the
    // database ports.
    match (&kube.network_policy, &r.network_policy) {
        (None, None) => {}
        (Some(_), Some(np)) => {
            let selector = np["spec"]["podSelector"]["matchLabels"]
                .as_mapping()
                .expect("matchLabels");
            let labels =
                &r.cron_job["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"];
            for (k, v) in selector {
                assert_eq!(&labels[k.as_str().expect("label")], v, "{at}");
            }
            let ports: Vec<i64> = np["spec"]["egress"][0]["ports"]
                .as_sequence()
                .expect("ports")
                .iter()
                .filter_map(|p| p["port"].as_i64())
                .collect();
            assert!(ports.contains(&5432), "{at}: {ports:?}");
        }
        (Some(_), None) => panic!("{at}: egress is denied by default and the job gets no policy"),
        (None, Some(_)) => panic!("{at}: a NetworkPolicy without a default deny"),
    }
}

#[test]
fn every_kubernetes_example_renders_a_cronjob_that_validates_and_agrees_with_its_bundle() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let mut files = Vec::new();
    for loaded in kubernetes_examples() {
        let r = Rendered::of(&loaded);
        check_consistent(&loaded, &r);
        let file = scratch.path().join(format!(
            "{}.yaml",
            Path::new(&loaded.path)
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
        ));
        std::fs::write(&file, &r.yaml).expect("write");
        files.push(file);
    }
    kubernetes_validate(&files);
}

#[test]
fn a_cronjob_connecting_as_the_app_role_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let example = root().join("examples/envs/homelab-k3s.toml");
    let text = std::fs::read_to_string(&example).expect("example").replace(
        "target_secret = { name = \"restage-target\", key = \"STAGING_ADMIN_URL\" }",
        "target_secret = { name = \"postgres-secret\", key = \"DATABASE_URL\" }",
    );
    let path = dir.path().join("env.toml");
    std::fs::write(&path, text).expect("write");
    let err = spec::load(&path).expect_err("the app role's URL as the refresh's connection");
    assert!(
        err.to_string().contains("the app role's connection"),
        "{err}"
    );
}

/// The examples' rules and seed files, next to a spec written into `dir`.
fn copy_example_files(dir: &Path) {
    let examples = root().join("examples/envs");
    for sub in ["rules", "seed"] {
        std::fs::create_dir_all(dir.join(sub)).expect("mkdir");
        for e in std::fs::read_dir(examples.join(sub)).expect("dir") {
            let p = e.expect("entry").path();
            std::fs::copy(&p, dir.join(sub).join(p.file_name().expect("name"))).expect("copy");
        }
    }
}

#[test]
fn files_outside_the_mount_and_resources_beyond_the_quota_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_example_files(dir.path());
    let example = root().join("examples/envs/flux-gitops.toml");
    let text = std::fs::read_to_string(&example).expect("example");
    let path = dir.path().join("env.toml");
    // A file the CronJob could not mount: a spec error at its position.
    std::fs::write(
        &path,
        text.replace(
            "rules = \"rules/app.toml\"",
            "rules = \"../rules/app.toml\"",
        ),
    )
    .expect("write");
    let err = spec::load(&path).expect_err("a rules file outside the mount");
    let line = 1 + text
        .lines()
        .position(|l| l.starts_with("rules = \"rules/app.toml\""))
        .expect("the rules line");
    let at = format!("env.toml:{line}:9: [refresh] rules must be relative");
    assert!(err.to_string().contains(&at), "{err}");
    // Resources the namespace would refuse.
    for (from, to, says) in [
        (
            "memory = \"2Gi\"",
            "memory = \"6Gi\"",
            "limit_range.max_memory",
        ),
        ("cpu = \"1\" ", "cpu = \"3\" ", "limit_range.max_cpu"),
    ] {
        assert!(text.contains(from), "{from}");
        std::fs::write(&path, text.replace(from, to)).expect("write");
        let loaded = spec::load(&path).expect("spec");
        let err = cronjob::render(&loaded).expect_err(to);
        assert!(err.to_string().contains(says), "{to}: {err}");
    }
}

/// The rendered container as a local process: the ConfigMap's files written under `mount`
/// (standing in for `/etc/restage`), TMPDIR on `tmp`, the environment cleared but for PATH
/// and what the container spec sets, secret values looked up in `secrets`.
struct Invocation {
    command: Command,
    args: Vec<String>,
    mount: PathBuf,
    tmp: PathBuf,
}

impl Invocation {
    fn new(r: &Rendered, secrets: &BTreeMap<(String, String), String>, dir: &Path) -> Invocation {
        let mount = dir.join("etc-restage");
        let tmp = dir.join("tmp");
        std::fs::create_dir_all(&tmp).expect("tmp");
        let data = r.config_map["data"].as_mapping().expect("data");
        for (key, relative) in r.items() {
            let file = mount.join(&relative);
            std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
            std::fs::write(&file, data[key.as_str()].as_str().expect("text")).expect("write");
        }
        // Container paths under the mount are the stand-in's paths.
        let local = |text: &str| -> String {
            match text.strip_prefix(MOUNT_DIR) {
                Some(rest) => format!("{}{rest}", mount.display()),
                None => text.to_owned(),
            }
        };
        let container = r.container();
        let command = Rendered::strings(&container["command"]);
        assert_eq!(command, ["restage"], "the image's restage");
        let args: Vec<String> = Rendered::strings(&container["args"])
            .iter()
            .map(|a| local(a))
            .collect();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_restage"));
        cmd.args(&args).env_clear().current_dir(&tmp);
        if let Some(path) = std::env::var_os("PATH") {
            cmd.env("PATH", path);
        }
        for (var, source) in r.env() {
            let value = match source {
                EnvSource::Literal(v) if var == "TMPDIR" => {
                    assert_eq!(v, TMP_DIR);
                    tmp.display().to_string()
                }
                EnvSource::Literal(v) => v,
                EnvSource::Secret(name, key) => secrets
                    .get(&(name.clone(), key.clone()))
                    .unwrap_or_else(|| panic!("no value supplied for Secret {name} key {key}"))
                    .clone(),
            };
            cmd.env(var, value);
        }
        set_read_only(&mount);
        Invocation {
            command: cmd,
            args,
            mount,
            tmp,
        }
    }
}

impl Drop for Invocation {
    /// Writable again, so that the temporary directory can be removed.
    fn drop(&mut self) {
        set_modes(&self.mount, 0o755, 0o644);
    }
}

/// Files 0444, directories 0555, like a ConfigMap volume.
fn set_read_only(dir: &Path) {
    set_modes(dir, 0o555, 0o444);
}

fn set_modes(dir: &Path, dirs: u32, files: u32) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::Permissions::from_mode;
    let _ = std::fs::set_permissions(dir, mode(0o755));
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            set_modes(&p, dirs, files);
        } else {
            let _ = std::fs::set_permissions(&p, mode(files));
        }
    }
    let _ = std::fs::set_permissions(dir, mode(dirs));
}

/// Placeholder values for every Secret the container reads.
fn placeholder_secrets(r: &Rendered) -> BTreeMap<(String, String), String> {
    r.env()
        .into_values()
        .filter_map(|s| match s {
            EnvSource::Secret(name, key) => Some((name, key)),
            EnvSource::Literal(_) => None,
        })
        .map(|k| {
            let v = format!("placeholder-{}-{}-0123456789abcdef", k.0, k.1);
            (k, v)
        })
        .collect()
}

#[test]
fn the_rendered_command_line_names_the_mounted_spec_and_its_files() {
    for loaded in kubernetes_examples() {
        let r = Rendered::of(&loaded);
        let dir = tempfile::tempdir().expect("tempdir");
        let inv = Invocation::new(&r, &placeholder_secrets(&r), dir.path());
        let at = &loaded.path;
        // `--env FILE`: the file exists in the mount and parses as the spec it was made from.
        let env_at = inv
            .args
            .iter()
            .position(|a| a == "--env")
            .unwrap_or_else(|| panic!("{at}: no --env"));
        let spec_path = PathBuf::from(&inv.args[env_at + 1]);
        assert!(spec_path.starts_with(&inv.mount), "{at}: {spec_path:?}");
        let mounted = spec::load(&spec_path).unwrap_or_else(|e| panic!("{at}: mounted spec: {e}"));
        assert_eq!(
            mounted.spec.database.name.get_ref(),
            loaded.spec.database.name.get_ref()
        );
        // The files it names resolve inside the mount; the rules parse there.
        let refresh = mounted.spec.refresh.as_ref().expect("[refresh]");
        let rules = mounted.resolve(refresh.rules.as_ref().expect("rules").get_ref());
        assert!(
            rules.starts_with(&inv.mount) && rules.is_file(),
            "{at}: {rules:?}"
        );
        restage::rules::load(std::slice::from_ref(&rules))
            .unwrap_or_else(|d| panic!("{at}: the mounted rules do not parse: {d:?}"));
        for (field, named) in refresh.files() {
            let Some(named) = named else { continue };
            let file = mounted.resolve(named.get_ref());
            assert!(
                file.starts_with(&inv.mount) && file.is_file(),
                "{at}: {field} {file:?}"
            );
        }
        // The seed plan parses there too.
        if let Some(plan) = &refresh.seed_plan {
            restage::seed::plan::load(&mounted.resolve(plan.get_ref()))
                .unwrap_or_else(|d| panic!("{at}: the mounted seed plan does not parse: {d:?}"));
        }
        // The process sees the variables the spec reads, and a writable TMPDIR.
        let vars: BTreeMap<String, String> = inv
            .command
            .get_envs()
            .filter_map(|(k, v)| Some((k.to_str()?.to_owned(), v?.to_str()?.to_owned())))
            .collect();
        let source_env = loaded.spec.source.as_ref().and_then(|s| s.url_env.as_ref());
        for var in [
            source_env.expect("url_env").get_ref(),
            loaded
                .spec
                .target
                .admin_url_env
                .as_ref()
                .expect("admin")
                .get_ref(),
            &refresh.key_env,
        ] {
            assert!(vars.get(var).is_some_and(|v| !v.is_empty()), "{at}: {var}");
        }
        assert_eq!(vars.get("TMPDIR"), Some(&inv.tmp.display().to_string()));
        std::fs::write(inv.tmp.join("probe"), "x").expect("TMPDIR is writable");
    }
}

/// Production for the end-to-end run: the tables `examples/envs/rules/app.toml` decides.
const PRODUCTION: &str = "
CREATE TABLE customers (id serial PRIMARY KEY, email text UNIQUE NOT NULL, full_name text,
                        phone text, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE orders (id serial PRIMARY KEY, customer_id int NOT NULL REFERENCES customers,
                     amount numeric(10,2) NOT NULL, note text,
                     created_at timestamptz NOT NULL DEFAULT now());
INSERT INTO customers (email, full_name, phone)
SELECT 'person' || i || '@production.example', 'Person ' || i, '+44 20 7946 ' || lpad(i::text, 4, '0')
FROM generate_series(1, 200) i;
INSERT INTO orders (customer_id, amount, note)
SELECT 1 + i % 200, i * 1.5, 'call Person ' || i FROM generate_series(1, 500) i;
";

#[test]
fn cronjob_command_runs_a_refresh() {
    let pg = cluster();
    let prod = fresh_db(pg, "cj_prod");
    sql(pg, &prod, PRODUCTION);
    let dir = tempfile::tempdir().expect("tempdir");
    // The homelab example (staging on production's instance), pointed at this cluster, with
    // its values delivered to a dotenv file outside the mount.
    let examples = root().join("examples/envs");
    copy_example_files(dir.path());
    let dotenv = dir.path().join("staging.env");
    let text = std::fs::read_to_string(examples.join("homelab-k3s.toml"))
        .expect("example")
        .replace("keep_connect = [\"app\"]", "keep_connect = [\"postgres\"]")
        .replace(
            "app_host = \"postgres.databases.svc.cluster.local\"\napp_port = 5432",
            &format!("app_host = \"127.0.0.1\"\napp_port = {}", pg.port()),
        )
        .replace("app_staging", "cj_staging")
        .replace(
            "[[delivery]]\nkind = \"apply\"                            # server-side apply to the kubeconfig's context\nsecret_format = \"secret\"\nfield_manager = \"restage\"\n",
            &format!(
                "[[delivery]]\nkind = \"dotenv\"\npath = \"{}\"\nkeys = {{ DB_PASSWORD = \"db_password\", MIGRATIONS_PASSWORD = \"migrations_password\", RESTAGE_KEY = \"restage_key\", SESSION_SECRET = \"session_secret\" }}\n",
                dotenv.display()
            ),
        );
    assert!(
        text.contains("kind = \"dotenv\""),
        "the example's delivery changed"
    );
    let spec_path = dir.path().join("homelab-k3s.toml");
    std::fs::write(&spec_path, text).expect("write");
    let loaded = spec::load(&spec_path).unwrap_or_else(|e| panic!("{e}"));
    let r = Rendered::of(&loaded);
    check_consistent(&loaded, &r);

    let secrets = BTreeMap::from([
        (
            (
                "restage-source".to_owned(),
                "PRODUCTION_DATABASE_URL".to_owned(),
            ),
            pg.url(&prod),
        ),
        (
            ("restage-target".to_owned(), "STAGING_ADMIN_URL".to_owned()),
            pg.url("postgres"),
        ),
        (
            ("restage-refresh".to_owned(), "RESTAGE_KEY".to_owned()),
            "cronjob-test-key-0123456789abcdef".to_owned(),
        ),
    ]);
    let run_dir = tempfile::tempdir().expect("tempdir");
    let mut inv = Invocation::new(&r, &secrets, run_dir.path());
    // `provision` makes the environment and its passwords first: the CronJob never creates
    // LOGIN roles (it cannot read their passwords back) and says so.
    let early = run_cmd(&mut inv.command);
    assert_ne!(early.code, 0, "{}", early.stdout);
    assert!(
        early
            .stderr
            .contains("does not exist: run `restage provision`"),
        "{}",
        early.stderr
    );
    let provision = run_cmd(
        restage()
            .args(["provision", "--env"])
            .arg(&spec_path)
            .env("PRODUCTION_DATABASE_URL", pg.url(&prod))
            .env("STAGING_ADMIN_URL", pg.url("postgres")),
    );
    assert_eq!(
        provision.code, 0,
        "provision failed:\n{}\n{}",
        provision.stdout, provision.stderr
    );
    let passwords = "SELECT string_agg(rolname || ':' || rolpassword, ',' ORDER BY rolname) \
                     FROM pg_authid WHERE rolname IN ('cj_staging', 'cj_staging_migrate')";
    let provisioned = sql(pg, "postgres", passwords);
    let run = run_cmd(&mut inv.command);
    assert_eq!(
        run.code, 0,
        "the CronJob's command failed:\n{}\n{}",
        run.stdout, run.stderr
    );
    // The delivered passwords still work: the refresh left them alone.
    assert_eq!(sql(pg, "postgres", passwords), provisioned);
    assert_eq!(
        sql(
            pg,
            "postgres",
            "SELECT has_database_privilege('cj_staging_migrate', 'cj_staging', 'CONNECT')"
        ),
        "t",
        "the migrations role lost the refreshed database"
    );

    // Staging serves sanitized production, the QA accounts (the seed file's and the seed
    // plan's, whose customers have their own orders), tables owned by the owner role.
    let staging = "cj_staging";
    assert_eq!(
        sql(
            pg,
            staging,
            "SELECT count(*) FROM orders o JOIN customers c ON c.id = o.customer_id \
             WHERE c.email NOT LIKE '%@qa.example.com'"
        ),
        sql(pg, &prod, "SELECT count(*) FROM orders")
    );
    assert_eq!(
        sql(
            pg,
            staging,
            "SELECT count(*) FROM customers WHERE email LIKE '%@production.example'"
        ),
        "0",
        "production e-mail addresses reached staging"
    );
    assert_eq!(
        sql(
            pg,
            staging,
            "SELECT count(*) FROM customers WHERE email = 'qa@example.com'"
        ),
        "1",
        "the seed file did not run"
    );
    assert_eq!(
        sql(
            pg,
            staging,
            "SELECT count(*) FROM customers c JOIN orders o ON o.customer_id = c.id \
             WHERE c.email LIKE '%@qa.example.com' AND o.note = 'QA order'"
        ),
        "6",
        "the seed plan did not run"
    );
    assert_eq!(
        sql(
            pg,
            staging,
            "SELECT string_agg(DISTINCT tableowner::text, ',') FROM pg_tables WHERE schemaname = 'public'"
        ),
        "cj_staging_owner"
    );
    // Nothing was written outside TMPDIR.
    assert!(inv.mount.join(SPEC_FILE).is_file());
    let stray: Vec<_> = std::fs::read_dir(run_dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(stray.len(), 2, "{stray:?}");
}

#[test]
fn the_image_runs_restage_as_the_user_the_cronjob_names() {
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).expect("Dockerfile");
    let last = |prefix: &str| -> String {
        dockerfile
            .lines()
            .rfind(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in the Dockerfile"))
            .trim_start_matches(prefix)
            .trim()
            .to_owned()
    };
    // Numeric, and the CronJob's runAsUser: runAsNonRoot can only verify a numeric user.
    assert_eq!(
        last("USER "),
        format!("{}:{}", cronjob::RUN_AS, cronjob::RUN_AS)
    );
    assert_eq!(last("ENTRYPOINT "), r#"["restage"]"#);
    // Client tools of a major at least as new as the newest supported server.
    let major: u32 = last("ARG PG_MAJOR=").parse().expect("a major");
    assert!(major >= 18, "PG_MAJOR defaults to {major}");
    assert!(dockerfile.contains("apt.postgresql.org"), "PGDG packages");
    assert!(dockerfile.contains("postgresql-client-${PG_MAJOR}"));
    // Multi-stage: the runtime image holds no toolchain.
    assert_eq!(
        dockerfile
            .lines()
            .filter(|l| l.starts_with("FROM "))
            .count(),
        2
    );
    assert!(dockerfile.contains("COPY --from=builder"));
}
