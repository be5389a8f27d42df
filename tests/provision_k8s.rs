//! The Kubernetes side without a cluster: every example spec renders to the golden files
//! under `fixtures/provision/`, every rendered manifest validates against the official
//! Kubernetes OpenAPI schemas (`kubernetes-validate`), sealing round-trips with a test key,
//! GitOps re-renders leave files byte-identical, and no plaintext Secret reaches a file.
//!
//! Set `RESTAGE_UPDATE_GOLDEN=1` to rewrite the golden files after an intended change.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::kube::{kubernetes_validate, validator, KUBE_VERSION};
use restage::provision::bundle;
use restage::provision::deliver::{self, gitops};
use restage::provision::plan::Op;
use restage::provision::seal::{self, CertSealer};
use restage::provision::secrets::{self, AppConnection, Secret, Values};
use restage::provision::spec::{self, DeliveryKind, LoadedSpec, SecretFormat};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn examples() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root().join("examples/envs"))
        .expect("examples/envs")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    out.sort();
    // One example per environment kind; each has its golden files, and no golden directory
    // outlives its example.
    assert!(out.len() >= 6, "examples missing: {out:?}");
    let stems: Vec<String> = out
        .iter()
        .map(|p| {
            p.file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    for e in std::fs::read_dir(root().join("fixtures/provision")).expect("fixtures/provision") {
        let p = e.expect("entry").path();
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        assert!(
            !p.is_dir() || stems.contains(&name),
            "fixtures/provision/{name} has no example in examples/envs"
        );
    }
    out
}

fn test_key() -> String {
    std::fs::read_to_string(root().join("fixtures/provision/sealing-test-key.pem"))
        .expect("test key")
}

/// Fixed values: generated secrets are `test-<name>`, supplied ones sandbox keys.
fn fixed_values(loaded: &LoadedSpec) -> Values {
    let spec = &loaded.spec;
    let existing: BTreeMap<String, Secret> = spec
        .secrets
        .iter()
        .filter(|(_, s)| s.get_ref().generate.is_some())
        .map(|(n, _)| (n.clone(), Secret::new(format!("test-{n}"))))
        .collect();
    let env = |var: &str| {
        Some(if var.starts_with("PRODUCTION") {
            format!("sk_live_{var}")
        } else {
            format!("sk_test_{var}")
        })
    };
    let conn = AppConnection {
        host: spec
            .target
            .app_host
            .clone()
            .unwrap_or_else(|| "localhost".into()),
        port: spec.target.app_port.unwrap_or(5432),
        username: spec.database.app_role.get_ref().clone(),
        dbname: spec.database.name.get_ref().clone(),
        sslmode: spec
            .target
            .app_sslmode
            .as_ref()
            .map(|s| s.get_ref().clone()),
    };
    let values = secrets::resolve(spec, &existing, &[], &conn, &env).expect("values");
    assert!(values.generated.is_empty());
    values
}

/// Replaces sealed values by a marker after checking that they open to the right value
/// with the test key under the strict-scope label.
fn check_and_mask_sealed(
    text: &str,
    expected: &BTreeMap<String, BTreeMap<String, Secret>>,
) -> String {
    let mut doc: serde_yaml::Value = serde_yaml::from_str(text).expect("YAML");
    if doc["kind"].as_str() != Some("SealedSecret") {
        return text.to_owned();
    }
    let name = doc["metadata"]["name"].as_str().expect("name").to_owned();
    let ns = doc["metadata"]["namespace"]
        .as_str()
        .expect("namespace")
        .to_owned();
    let key = test_key();
    let data = doc["spec"]["encryptedData"]
        .as_mapping_mut()
        .expect("encryptedData");
    for (k, v) in data.iter_mut() {
        let k = k.as_str().expect("key");
        let opened =
            seal::unseal_with_pem(&key, &ns, &name, v.as_str().expect("value")).expect("unseal");
        assert_eq!(
            String::from_utf8(opened).expect("utf8"),
            expected[&name][k].expose(),
            "{name}.{k} does not unseal to its value"
        );
        // The label binds the value to its object: another name must not open it.
        assert!(seal::unseal_with_pem(&key, &ns, "other-name", v.as_str().unwrap_or("")).is_err());
        *v = serde_yaml::Value::String(
            "<sealed: opens with fixtures/provision/sealing-test-key.pem>".into(),
        );
    }
    serde_yaml::to_string(&doc).expect("YAML")
}

/// Renders every delivery of one example into `out` (file name → content).
fn render_example(path: &Path, scratch: &Path) -> BTreeMap<String, String> {
    let loaded = spec::load(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = &loaded.spec;
    let values = fixed_values(&loaded);
    let mut expected_data: BTreeMap<String, BTreeMap<String, Secret>> = BTreeMap::new();
    for (_, o) in spec.secret_objects() {
        expected_data.insert(
            o.name.clone(),
            bundle::object_data(o, &values).expect("data"),
        );
    }
    let mut out = BTreeMap::new();
    for (i, d) in spec.delivery.iter().enumerate() {
        let d = d.get_ref();
        match d.kind() {
            DeliveryKind::Apply => {
                let manifests = deliver::manifests_for(&loaded, d, &values).expect("manifests");
                let mut text = String::new();
                for m in &manifests {
                    if m.plaintext_secret {
                        assert!(m.to_yaml().is_err(), "a plaintext Secret rendered to YAML");
                    }
                    text.push_str("---\n");
                    text.push_str(&serde_yaml::to_string(&m.value).expect("YAML"));
                }
                out.insert(format!("{i}-apply.yaml"), text);
            }
            DeliveryKind::GitOps => {
                assert_ne!(d.format(), SecretFormat::Secret);
                let manifests = deliver::manifests_for(&loaded, d, &values).expect("manifests");
                let dir = scratch.join(format!("{i}-gitops"));
                let first = gitops::write(&dir, &manifests, false).expect("gitops");
                assert!(first.iter().all(|r| r.op == Op::Create));
                // Byte-identical on a re-run, although sealing is randomized.
                let snapshot = read_dir(&dir);
                let again = deliver::manifests_for(&loaded, d, &values).expect("manifests");
                let second = gitops::write(&dir, &again, false).expect("gitops");
                assert!(
                    second.iter().all(|r| r.op == Op::Unchanged),
                    "re-render changed files"
                );
                assert_eq!(snapshot, read_dir(&dir));
                for (name, text) in snapshot {
                    assert!(
                        !text.contains("kind: Secret\n"),
                        "{name}: plaintext Secret in git"
                    );
                    out.insert(
                        format!("{i}-gitops/{name}"),
                        check_and_mask_sealed(&text, &expected_data),
                    );
                }
                if let Some(flux) = &d.flux {
                    out.insert(
                        format!("{i}-flux-kustomization.yaml"),
                        gitops::flux_yaml(flux).expect("flux"),
                    );
                }
            }
            DeliveryKind::Dotenv => {
                let entries = deliver::dotenv_entries(d, &values);
                let text = deliver::dotenv_text(d, &entries).expect("dotenv");
                out.insert(format!("{i}-dotenv.env"), text);
            }
            DeliveryKind::Json => {
                out.insert(
                    format!("{i}-json.json"),
                    deliver::json_document(spec, d, &values).expect("json"),
                );
            }
        }
    }
    if spec.refresh.is_some() {
        out.insert(
            "cronjob.yaml".into(),
            restage::provision::cronjob::render(&loaded).expect("cronjob"),
        );
    }
    out
}

fn read_dir(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).expect("dir") {
        let p = e.expect("entry").path();
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        out.insert(name, std::fs::read_to_string(&p).expect("file"));
    }
    out
}

#[test]
fn every_example_renders_to_its_golden_files_and_validates() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let update = std::env::var_os("RESTAGE_UPDATE_GOLDEN").is_some();
    let mut to_validate = Vec::new();
    let mut checked = 0;
    for example in examples() {
        let stem = example
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let rendered = render_example(&example, &scratch.path().join(&stem));
        assert!(!rendered.is_empty(), "{stem} renders nothing");
        let golden_dir = root().join("fixtures/provision").join(&stem);
        for (name, text) in &rendered {
            let golden = golden_dir.join(name);
            if update {
                std::fs::create_dir_all(golden.parent().unwrap_or(&golden_dir)).expect("mkdir");
                std::fs::write(&golden, text).expect("write golden");
            }
            let want = std::fs::read_to_string(&golden).unwrap_or_else(|_| {
                panic!(
                    "missing golden file {} (RESTAGE_UPDATE_GOLDEN=1 writes it)",
                    golden.display()
                )
            });
            assert_eq!(
                &want,
                text,
                "{} differs from its golden file",
                golden.display()
            );
            checked += 1;
            if name.ends_with(".yaml") && !name.ends_with("kustomization.yaml") {
                let file = scratch
                    .path()
                    .join(format!("validate-{stem}-{}", name.replace('/', "-")));
                std::fs::write(&file, text).expect("write");
                to_validate.push(file);
            }
        }
    }
    assert!(checked >= 20, "only {checked} golden files");
    kubernetes_validate(&to_validate);
}

#[test]
fn validation_catches_a_broken_manifest() {
    // The validator is really consulted: a wrong field fails.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: q\nspec:\n  hardd: {}\n",
    )
    .expect("write");
    let out = validator()
        .args(["--strict", "-k", KUBE_VERSION])
        .arg(&file)
        .output()
        .expect("kubernetes-validate is installed (pip install kubernetes-validate==1.37.0)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Additional properties are not allowed"),
        "the validator did not reject a broken manifest (is kubernetes-validate installed? \
         `pip install kubernetes-validate==1.37.0`):\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "a broken manifest validated");
}

#[test]
fn sealing_round_trips_with_the_test_key() {
    let cert = std::fs::read_to_string(root().join("examples/envs/sealed-secrets-cert.pem"))
        .expect("cert");
    let sealer = CertSealer::from_pem(&cert, "cert").expect("certificate");
    let value = Secret::new("postgresql://app:pw@db/app");
    use restage::provision::seal::Sealer;
    let a = sealer
        .seal("staging", "app-database", &value)
        .expect("seal");
    let b = sealer
        .seal("staging", "app-database", &value)
        .expect("seal");
    assert_ne!(a, b, "sealing must be randomized");
    let key = test_key();
    let opened = seal::unseal_with_pem(&key, "staging", "app-database", &a).expect("unseal");
    assert_eq!(opened, value.expose().as_bytes());
    assert!(seal::unseal_with_pem(&key, "production", "app-database", &a).is_err());
    // Layout: two-byte big-endian length of the RSA block, which is the key size.
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&a)
        .expect("base64");
    assert_eq!(u16::from_be_bytes([raw[0], raw[1]]), 256);
    assert_eq!(raw.len(), 2 + 256 + value.expose().len() + 16);
}

#[test]
fn cronjob_uses_the_secrets_and_the_schedule() {
    let loaded = spec::load(&root().join("examples/envs/homelab-k3s.toml")).expect("spec");
    let yaml = restage::provision::cronjob::render(&loaded).expect("render");
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&yaml)
        .map(|d| serde::Deserialize::deserialize(d).expect("YAML"))
        .collect();
    let doc = docs
        .iter()
        .find(|d| d["kind"].as_str() == Some("CronJob"))
        .expect("a CronJob");
    assert_eq!(doc["spec"]["schedule"].as_str(), Some("0 3 1 * *"));
    let container = &doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["args"][0].as_str(), Some("refresh"));
    assert_eq!(
        container["env"][1]["valueFrom"]["secretKeyRef"]["name"].as_str(),
        Some("restage-target")
    );
}

#[test]
fn print_cronjob_prints_the_golden_cronjob_without_any_connection() {
    let out = Command::new(env!("CARGO_BIN_EXE_restage"))
        .args(["provision", "--print-cronjob", "--env"])
        .arg(root().join("examples/envs/homelab-k3s.toml"))
        .env_remove("STAGING_ADMIN_URL")
        .env_remove("PRODUCTION_DATABASE_URL")
        .output()
        .expect("restage");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let golden =
        std::fs::read_to_string(root().join("fixtures/provision/homelab-k3s/cronjob.yaml"))
            .expect("golden");
    assert_eq!(String::from_utf8_lossy(&out.stdout), golden);
}

fn example(name: &str) -> LoadedSpec {
    spec::load(&root().join("examples/envs").join(name)).expect("spec")
}

fn apply_manifests(loaded: &LoadedSpec) -> Vec<bundle::Manifest> {
    let values = fixed_values(loaded);
    let d = loaded
        .spec
        .delivery
        .iter()
        .map(|d| d.get_ref())
        .find(|d| matches!(d.kind(), DeliveryKind::Apply | DeliveryKind::GitOps))
        .expect("a Kubernetes delivery");
    deliver::manifests_for(loaded, d, &values).expect("manifests")
}

fn find<'a>(manifests: &'a [bundle::Manifest], id: &str) -> &'a serde_json::Value {
    let ids: Vec<String> = manifests.iter().map(|m| m.id()).collect();
    &manifests
        .iter()
        .find(|m| m.id() == id)
        .unwrap_or_else(|| panic!("no {id} in {ids:?}"))
        .value
}

#[test]
fn rbac_config_maps_and_a_second_namespace_are_in_the_bundle() {
    let manifests = apply_manifests(&example("homelab-k3s.toml"));
    let role = find(&manifests, "Role/read-only -n app-staging");
    assert_eq!(role["rules"][0]["verbs"][2], "watch");
    let binding = find(&manifests, "RoleBinding/prometheus-view -n app-staging");
    assert_eq!(binding["roleRef"]["kind"], "ClusterRole");
    assert_eq!(binding["roleRef"]["name"], "view");
    assert_eq!(binding["subjects"][0]["namespace"], "monitoring-staging");
    let developers = find(
        &manifests,
        "RoleBinding/developers-read-only -n app-staging",
    );
    assert_eq!(developers["roleRef"]["kind"], "Role");
    assert_eq!(
        developers["subjects"][0]["apiGroup"],
        "rbac.authorization.k8s.io"
    );
    let config = find(&manifests, "ConfigMap/backend-config -n app-staging");
    assert_eq!(config["data"]["LOG_LEVEL"], "debug");
    // The monitoring namespace: its own objects, no database secret.
    find(&manifests, "Namespace/monitoring-staging");
    find(
        &manifests,
        "ServiceAccount/prometheus -n monitoring-staging",
    );
    find(
        &manifests,
        "ConfigMap/prometheus-config -n monitoring-staging",
    );
    assert!(!manifests
        .iter()
        .any(|m| m.kind == "Secret" && m.namespace.as_deref() == Some("monitoring-staging")));

    let aws = apply_manifests(&example("aws.toml"));
    let sa = find(&aws, "ServiceAccount/app -n staging");
    assert_eq!(
        sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
        "arn:aws:iam::123456789012:role/app-staging"
    );
    assert_eq!(sa["metadata"]["labels"][bundle::MANAGED_BY.0], "restage");

    // A CI deployer's ClusterRole bound cluster-wide: no namespace on either object, the
    // service account subject in the bundle's namespace.
    let flux = apply_manifests(&example("flux-gitops.toml"));
    let cluster_binding = find(&flux, "ClusterRoleBinding/staging-ci-deployer-discovery");
    assert!(cluster_binding["metadata"].get("namespace").is_none());
    assert_eq!(cluster_binding["roleRef"]["kind"], "ClusterRole");
    assert_eq!(
        cluster_binding["subjects"][0],
        serde_json::json!({"kind": "ServiceAccount", "name": "ci-deployer", "namespace": "staging"})
    );
    find(&flux, "ClusterRole/staging-ci-deployer-discovery");
}

#[test]
fn external_secrets_read_exactly_what_the_store_documents_hold() {
    // Every ExternalSecret entry names a store key and property; the json delivery for that
    // store key (what `aws secretsmanager put-secret-value --secret-string file://…` puts)
    // holds the value the Secret key must get.
    let loaded = example("aws.toml");
    let spec = &loaded.spec;
    let values = fixed_values(&loaded);
    let documents: BTreeMap<String, String> = spec
        .delivery
        .iter()
        .map(|d| d.get_ref())
        .filter_map(|d| {
            let key = d.remote_key.clone()?;
            Some((key, deliver::json_document(spec, d, &values).expect("json")))
        })
        .collect();
    let manifests = apply_manifests(&loaded);
    let mut checked = 0;
    for (_, obj) in spec.secret_objects() {
        let expected = bundle::object_data(obj, &values).expect("data");
        let ext = find(
            &manifests,
            &format!("ExternalSecret/{} -n staging", obj.name),
        );
        for entry in ext["spec"]["data"].as_array().expect("data") {
            let key = entry["secretKey"].as_str().expect("secretKey");
            let remote = entry["remoteRef"]["key"].as_str().expect("remote key");
            let doc = documents
                .get(remote)
                .unwrap_or_else(|| panic!("no json delivery writes {remote}"));
            let stored = match entry["remoteRef"]["property"].as_str() {
                Some(p) => {
                    let parsed: serde_json::Value = serde_json::from_str(doc).expect("JSON");
                    parsed[p].as_str().expect("property").to_owned()
                }
                None => doc.clone(),
            };
            assert_eq!(stored, expected[key].expose(), "{}.{key}", obj.name);
            checked += 1;
        }
        for (key, template) in &obj.templates {
            assert_eq!(
                ext["spec"]["target"]["template"]["data"][key],
                template.as_str()
            );
            assert_eq!(ext["spec"]["target"]["template"]["mergePolicy"], "Merge");
        }
    }
    assert_eq!(checked, 8); // with the migrations password and the refresh key
                            // The template renders here as the controller would, password URL-escaped.
    let rds = spec
        .secret_objects()
        .find(|(_, o)| o.name == "rds-credentials")
        .expect("rds-credentials")
        .1;
    let url = bundle::object_data(rds, &values).expect("data")["DATABASE_URL"]
        .expose()
        .to_owned();
    assert_eq!(
        url,
        "postgresql://app_staging:test-db_password@shared-db.abc123.eu-west-1.rds.amazonaws.com:5432/core_staging?sslmode=require"
    );
}

#[test]
fn namespaces_of_one_spec_never_share_a_gitops_file() {
    let text = r#"
environment = "staging"
state_file = "s.json"
[target]
admin_url_env = "ADMIN"
[database]
name = "app_staging"
owner = "app_owner"
app_role = "app_staging"
password_secret = "db_password"
[secrets.db_password]
generate = { bytes = 24 }
[kubernetes]
namespace = "app-staging"
service_account = { name = "app" }
[kubernetes.network_policy]
[[namespaces]]
namespace = "monitoring-staging"
service_account = { name = "app" }
[namespaces.network_policy]
[[delivery]]
kind = "gitops"
dir = "out"
secret_format = "external"
store = "vault"
"#;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("env.toml");
    std::fs::write(&path, text).expect("spec");
    let loaded = spec::load(&path).expect("spec");
    let manifests = apply_manifests(&loaded);
    let results = gitops::write(&dir.path().join("out"), &manifests, false).expect("write");
    let files: Vec<&str> = results.iter().map(|r| r.file.as_str()).collect();
    assert_eq!(files.len(), manifests.len() + 1, "{files:?}");
    assert!(files.contains(&"serviceaccount-app.yaml"), "{files:?}");
    assert!(
        files.contains(&"serviceaccount-app.monitoring-staging.yaml"),
        "{files:?}"
    );
    assert!(files.contains(&"networkpolicy-default-deny.monitoring-staging.yaml"));
}
