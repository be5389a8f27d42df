//! Deliveries: where the secrets and the namespace bundle go (a cluster through server-side
//! apply, a GitOps directory, a dotenv file, JSON for another secret store), and reading
//! values back from them so that re-runs reuse what exists.

pub mod apply;
pub mod dotenv;
pub mod files;
pub mod gitops;
pub mod offline;

use std::collections::{BTreeMap, BTreeSet};

use super::bundle::{self, BundleError, Manifest, SecretRendering};
use super::plan::{Line, Op};
use super::seal::{CertSealer, SealError};
use super::secrets::{Secret, Values};
use super::spec::{DeliveryKind, DeliverySpec, Derived, EnvSpec, LoadedSpec, SecretFormat};
pub use offline::KubeState;

#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error(transparent)]
    Write(#[from] files::WriteError),
    #[error(transparent)]
    GitOps(#[from] gitops::GitOpsError),
    #[error(transparent)]
    Apply(#[from] apply::ApplyError),
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    #[error("--kube-state only plans an apply delivery (with --dry-run or --check); applying needs the cluster")]
    OfflineApply,
    #[error(transparent)]
    Dotenv(#[from] dotenv::DotenvError),
    #[error(transparent)]
    CronJob(#[from] super::cronjob::CronJobError),
}

/// The secret names a delivery carries (directly, by key).
pub fn carried_secrets(spec: &EnvSpec, d: &DeliverySpec) -> BTreeSet<String> {
    match d.kind() {
        DeliveryKind::Dotenv => d.keys.values().cloned().collect(),
        DeliveryKind::Json if !d.keys.is_empty() => d.keys.values().cloned().collect(),
        DeliveryKind::Json if d.remote_key.is_some() => {
            let wanted = d.remote_key.as_deref().unwrap_or("");
            spec.secret_objects()
                .flat_map(|(_, o)| {
                    bundle::remote_refs(spec, o)
                        .into_iter()
                        .filter(|(_, r)| r.key == wanted)
                        .filter_map(|(k, _)| o.keys.get(&k).cloned())
                        .collect::<Vec<_>>()
                })
                .collect()
        }
        _ => spec
            .secret_objects()
            .flat_map(|(_, o)| o.keys.values().cloned())
            .collect(),
    }
}

/// The bundle as one delivery renders it.
pub fn manifests_for(
    loaded: &LoadedSpec,
    d: &DeliverySpec,
    values: &Values,
) -> Result<Vec<Manifest>, DeliverError> {
    let spec = &loaded.spec;
    let sealer = match d.format() {
        SecretFormat::Sealed => {
            let cert = d.sealing_cert.as_deref().unwrap_or("");
            Some(CertSealer::from_file(&loaded.resolve(cert))?)
        }
        _ => None,
    };
    let rendering = match (&sealer, d.format()) {
        (Some(sealer), _) => SecretRendering::Sealed(sealer),
        (None, SecretFormat::External) => SecretRendering::External {
            store: d.store.as_deref().unwrap_or(""),
            store_kind: &d.store_kind,
        },
        (None, _) => SecretRendering::Plain,
    };
    let primary = spec.primary_namespace();
    let mut out = Vec::new();
    for k in spec.kube_specs() {
        let qualify = Some(k.namespace.get_ref().as_str()) != primary;
        let mut objects = bundle::namespace_objects(spec, k)?;
        objects.extend(bundle::secret_objects(spec, k, values, &rendering)?);
        for mut m in objects {
            m.qualify_file = qualify;
            out.push(m);
        }
    }
    // A schedule asks for the refresh CronJob: it ships with the bundle, with the ConfigMap
    // and NetworkPolicy it needs, so that what is applied is what runs. It goes to the
    // `[kubernetes]` namespace only, once.
    if spec.refresh.as_ref().is_some_and(|r| r.schedule.is_some()) {
        out.extend(super::cronjob::manifests(loaded)?);
    }
    Ok(out)
}

/// The variables a dotenv (or flat JSON) delivery holds.
pub fn dotenv_entries(d: &DeliverySpec, values: &Values) -> BTreeMap<String, Secret> {
    let mut entries: BTreeMap<String, Secret> = d
        .literals
        .iter()
        .map(|(k, v)| (k.clone(), Secret::new(v.clone())))
        .collect();
    for (var, secret) in &d.keys {
        if let Some(v) = values.get(secret) {
            entries.insert(var.clone(), v.clone());
        }
    }
    entries
}

/// A dotenv delivery's file content, in its dialect.
pub fn dotenv_text(
    d: &DeliverySpec,
    entries: &BTreeMap<String, Secret>,
) -> Result<String, DeliverError> {
    Ok(if d.fly_dialect() {
        dotenv::render_fly(entries)?
    } else {
        dotenv::render(entries)
    })
}

fn dotenv_parse(d: &DeliverySpec, text: &str) -> BTreeMap<String, Secret> {
    if d.fly_dialect() {
        dotenv::parse_fly(text)
    } else {
        dotenv::parse(text)
    }
}

/// The JSON document a `json` delivery writes: a flat map when it lists `keys`, otherwise
/// every Secret object with its store path.
pub fn json_document(
    spec: &EnvSpec,
    d: &DeliverySpec,
    values: &Values,
) -> Result<String, DeliverError> {
    let doc = if let Some(wanted) = &d.remote_key {
        store_document(spec, wanted, values)?
    } else if !d.keys.is_empty() {
        let map: serde_json::Map<String, serde_json::Value> = dotenv_entries(d, values)
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v.expose().to_owned())))
            .collect();
        serde_json::Value::Object(map)
    } else {
        let mut objects = Vec::new();
        for (namespace, o) in spec.secret_objects() {
            let data: serde_json::Map<String, serde_json::Value> = bundle::object_data(o, values)?
                .into_iter()
                .map(|(k, v)| (k, serde_json::Value::String(v.expose().to_owned())))
                .collect();
            objects.push(serde_json::json!({
                "name": o.name,
                "namespace": namespace,
                "remote_key": bundle::remote_key(spec, o),
                "data": data,
            }));
        }
        serde_json::json!({ "environment": spec.environment.get_ref(), "secrets": objects })
    };
    if let serde_json::Value::String(raw) = doc {
        // A bare secret string: the file is the value, byte for byte (`file://` reads it
        // verbatim, a newline would become part of the secret).
        return Ok(raw);
    }
    let mut text =
        serde_json::to_string_pretty(&doc).map_err(|e| BundleError::Serialize(e.to_string()))?;
    text.push('\n');
    Ok(text)
}

/// What the external store holds under `wanted`, as the ExternalSecrets read it: a JSON
/// object of the properties they name, or the bare value when they read the whole secret
/// string. This is the `--secret-string` of `aws secretsmanager put-secret-value`.
fn store_document(
    spec: &EnvSpec,
    wanted: &str,
    values: &Values,
) -> Result<serde_json::Value, DeliverError> {
    let mut properties = serde_json::Map::new();
    let mut whole: Option<String> = None;
    for (_, o) in spec.secret_objects() {
        let data = bundle::object_data(o, values)?;
        for (key, r) in bundle::remote_refs(spec, o) {
            let Some(v) = data.get(&key).filter(|_| r.key == wanted) else {
                continue;
            };
            let v = v.expose().to_owned();
            match r.property {
                Some(p) => {
                    properties.insert(p, serde_json::Value::String(v));
                }
                None => whole = Some(v),
            }
        }
    }
    Ok(match whole {
        Some(text) if properties.is_empty() => whole_document(text),
        _ => serde_json::Value::Object(properties),
    })
}

/// A store document that is one secret's whole value: a JSON object stays a document (a
/// derived `json` secret); anything else, even text that parses as another JSON value
/// (`123`, `"x"`, `true`), is the secret string itself, written byte for byte.
fn whole_document(text: String) -> serde_json::Value {
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(doc @ serde_json::Value::Object(_)) => doc,
        _ => serde_json::Value::String(text),
    }
}

/// Values found in the deliveries (and the state file), by secret name.
pub async fn read_existing(
    loaded: &LoadedSpec,
    kube_state: Option<&KubeState>,
) -> Result<BTreeMap<String, Secret>, DeliverError> {
    let spec = &loaded.spec;
    let mut found: BTreeMap<String, Secret> = BTreeMap::new();
    let mut put = |name: &str, v: Secret| {
        found.entry(name.to_owned()).or_insert(v);
    };
    if let Some(state) = &spec.state_file {
        let path = loaded.resolve(state.get_ref());
        if let Ok(text) = std::fs::read_to_string(&path) {
            let map: BTreeMap<String, String> =
                serde_json::from_str(&text).map_err(|e| DeliverError::Read {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
            for (k, v) in map {
                put(&k, Secret::new(v));
            }
        }
    }
    for d in &spec.delivery {
        let d = d.get_ref();
        match d.kind() {
            DeliveryKind::Dotenv => {
                let path = loaded.resolve(d.path.as_deref().unwrap_or(""));
                if let Ok(text) = std::fs::read_to_string(&path) {
                    let parsed = dotenv_parse(d, &text);
                    for (var, secret) in &d.keys {
                        if let Some(v) = parsed.get(var) {
                            put(secret, v.clone());
                        }
                    }
                }
            }
            DeliveryKind::Json => {
                let Some(p) = d.path.as_deref().filter(|p| *p != "-") else {
                    continue;
                };
                let Ok(text) = std::fs::read_to_string(loaded.resolve(p)) else {
                    continue;
                };
                if let Some(wanted) = &d.remote_key {
                    for (name, v) in from_store_document(spec, wanted, &text) {
                        put(&name, v);
                    }
                    continue;
                }
                let Ok(doc) = serde_json::from_str::<serde_json::Value>(&text) else {
                    continue;
                };
                if !d.keys.is_empty() {
                    for (var, secret) in &d.keys {
                        if let Some(v) = doc.get(var).and_then(|v| v.as_str()) {
                            put(secret, Secret::new(v));
                        }
                    }
                } else if let Some(list) = doc.get("secrets").and_then(|s| s.as_array()) {
                    for item in list {
                        let name = item.get("name").and_then(|n| n.as_str()).unwrap_or("");
                        for (_, o) in spec.secret_objects().filter(|(_, o)| o.name == name) {
                            for (key, secret) in &o.keys {
                                if let Some(v) = item
                                    .get("data")
                                    .and_then(|d| d.get(key))
                                    .and_then(|v| v.as_str())
                                {
                                    put(secret, Secret::new(v));
                                }
                            }
                        }
                    }
                }
            }
            DeliveryKind::Apply if d.format() == SecretFormat::Secret => {
                let source = match kube_state {
                    Some(state) => LiveSource::Offline(state),
                    None => LiveSource::Cluster(
                        apply::Applier::connect(d.server.as_deref(), &d.field_manager).await?,
                    ),
                };
                for (ns, o) in spec.secret_objects() {
                    let data = match &source {
                        LiveSource::Offline(state) => state.secret_data(ns, &o.name),
                        LiveSource::Cluster(applier) => applier.read_secret(ns, &o.name).await?,
                    };
                    if let Some(data) = data {
                        for (key, secret) in &o.keys {
                            if let Some(v) = data.get(key) {
                                put(secret, v.clone());
                            }
                        }
                    }
                }
            }
            DeliveryKind::Apply | DeliveryKind::GitOps => {}
        }
    }
    // The app role's password also lives inside a derived URL or JSON document, the
    // migrations role's inside its URL.
    let passwords = [
        Some((spec.database.password_secret.get_ref(), false)),
        spec.database
            .migrations_password_secret
            .as_ref()
            .map(|s| (s.get_ref(), true)),
    ];
    for (password, migrations) in passwords.into_iter().flatten() {
        if found.contains_key(password) {
            continue;
        }
        let derived_password = spec.secrets.iter().find_map(|(name, s)| {
            let kind = s
                .get_ref()
                .derive
                .as_ref()
                .and_then(|d| Derived::parse(d.get_ref()))?;
            if (kind == Derived::MigrationsUrl) != migrations {
                return None;
            }
            password_from_derived(kind, found.get(name)?)
        });
        if let Some(p) = derived_password {
            found.insert(password.clone(), p);
        }
    }
    Ok(found)
}

/// Where the live objects of an apply delivery are read from.
enum LiveSource<'a> {
    Cluster(apply::Applier),
    Offline(&'a KubeState),
}

/// The secrets a store document (see [`store_document`]) holds, by secret name.
fn from_store_document(spec: &EnvSpec, wanted: &str, text: &str) -> Vec<(String, Secret)> {
    let doc = serde_json::from_str::<serde_json::Value>(text).ok();
    let mut out = Vec::new();
    for (_, o) in spec.secret_objects() {
        for (key, r) in bundle::remote_refs(spec, o) {
            let Some(secret) = o.keys.get(&key).filter(|_| r.key == wanted) else {
                continue;
            };
            let value = match (&r.property, &doc) {
                (Some(p), Some(doc)) => doc.get(p).and_then(|v| v.as_str()).map(str::to_owned),
                (Some(_), None) => None,
                (None, Some(serde_json::Value::Object(_))) | (None, None) => Some(text.to_owned()),
                (None, Some(serde_json::Value::String(s))) => Some(s.clone()),
                (None, Some(_)) => Some(text.to_owned()),
            };
            if let Some(v) = value {
                out.push((secret.clone(), Secret::new(v)));
            }
        }
    }
    out
}

/// The password inside a derived `url` or `json` value.
fn password_from_derived(kind: Derived, value: &Secret) -> Option<Secret> {
    match kind {
        Derived::Json => {
            let doc: serde_json::Value = serde_json::from_str(value.expose()).ok()?;
            doc.get("password")?.as_str().map(Secret::new)
        }
        Derived::Url | Derived::MigrationsUrl => {
            let rest = value.expose().split_once("://")?.1;
            let userinfo = rest.rsplit_once('@')?.0;
            let encoded = userinfo.split_once(':')?.1;
            percent_decode(encoded).map(Secret::new)
        }
        _ => None,
    }
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Writes the state file (generated values only), 0600.
pub fn write_state(
    loaded: &LoadedSpec,
    values: &Values,
    dry_run: bool,
) -> Result<Option<Line>, DeliverError> {
    let Some(state) = &loaded.spec.state_file else {
        return Ok(None);
    };
    let map: BTreeMap<&str, &str> = loaded
        .spec
        .secrets
        .iter()
        .filter(|(_, s)| s.get_ref().generate.is_some())
        .filter_map(|(n, _)| values.get(n).map(|v| (n.as_str(), v.expose())))
        .collect();
    let mut text =
        serde_json::to_string_pretty(&map).map_err(|e| BundleError::Serialize(e.to_string()))?;
    text.push('\n');
    let path = loaded.resolve(state.get_ref());
    let op = file_op(&path, text.as_bytes());
    if !dry_run {
        files::write_if_changed(&path, text.as_bytes())?;
    }
    Ok(Some(Line::new(
        op,
        "state",
        state.get_ref().clone(),
        "generated values (0600)",
    )))
}

fn file_op(path: &std::path::Path, content: &[u8]) -> Op {
    match std::fs::read(path) {
        Ok(b) if b == content => Op::Unchanged,
        Ok(_) => Op::Change,
        Err(_) => Op::Create,
    }
}

/// The outcome of all deliveries.
#[derive(Default)]
pub struct Delivered {
    pub lines: Vec<Line>,
    /// JSON documents for stdout.
    pub stdout: Vec<String>,
    /// Labels of deliveries where something changed.
    pub changed: Vec<(String, BTreeSet<String>)>,
    /// What the plan must say besides its lines (a cluster that was not consulted).
    pub notes: Vec<String>,
}

/// Runs every delivery (or previews it with `dry_run`).
pub async fn deliver_all(
    loaded: &LoadedSpec,
    values: &Values,
    dry_run: bool,
    kube_state: Option<&KubeState>,
) -> Result<Delivered, DeliverError> {
    let spec = &loaded.spec;
    let mut out = Delivered::default();
    for d in &spec.delivery {
        let d = d.get_ref();
        let label = d.label();
        let mut changed = false;
        match d.kind() {
            DeliveryKind::Dotenv => {
                let p = d.path.as_deref().unwrap_or("");
                let path = loaded.resolve(p);
                let entries = dotenv_entries(d, values);
                let before = std::fs::read_to_string(&path)
                    .map(|t| dotenv_parse(d, &t))
                    .ok();
                let text = dotenv_text(d, &entries)?;
                let op = file_op(&path, text.as_bytes());
                let detail = match (&before, op) {
                    (Some(b), Op::Change) => {
                        let keys: Vec<&str> = entries
                            .iter()
                            .filter(|(k, v)| b.get(*k).map(|x| x.expose()) != Some(v.expose()))
                            .map(|(k, _)| k.as_str())
                            .collect();
                        format!("changed: {}", keys.join(", "))
                    }
                    _ => format!("{} variables (0600)", entries.len()),
                };
                if !dry_run {
                    files::write_if_changed(&path, text.as_bytes())?;
                }
                changed |= op != Op::Unchanged;
                out.lines.push(Line::new(op, label.clone(), p, detail));
            }
            DeliveryKind::Json => {
                let text = json_document(spec, d, values)?;
                match d.path.as_deref().filter(|p| *p != "-") {
                    None => {
                        out.lines.push(Line::new(
                            Op::Unchanged,
                            label.clone(),
                            "stdout",
                            "JSON document",
                        ));
                        if !dry_run {
                            out.stdout.push(text);
                        }
                    }
                    Some(p) => {
                        let path = loaded.resolve(p);
                        let op = file_op(&path, text.as_bytes());
                        if !dry_run {
                            files::write_if_changed(&path, text.as_bytes())?;
                        }
                        changed |= op != Op::Unchanged;
                        out.lines
                            .push(Line::new(op, label.clone(), p, "JSON document (0600)"));
                    }
                }
            }
            DeliveryKind::GitOps => {
                let manifests = manifests_for(loaded, d, values)?;
                let dir = loaded.resolve(d.dir.as_deref().unwrap_or("."));
                let mut results = gitops::write(&dir, &manifests, dry_run)?;
                if let Some(flux) = &d.flux {
                    results.push(gitops::write_flux(loaded, flux, dry_run)?);
                }
                for r in results {
                    changed |= r.op != Op::Unchanged;
                    out.lines
                        .push(Line::new(r.op, label.clone(), r.file, r.detail));
                }
            }
            DeliveryKind::Apply if kube_state.is_some() => {
                let state = kube_state.ok_or(DeliverError::OfflineApply)?;
                if !dry_run {
                    return Err(DeliverError::OfflineApply);
                }
                let manifests = manifests_for(loaded, d, values)?;
                for m in &manifests {
                    let (op, detail) = state.plan(m);
                    changed |= op != Op::Unchanged;
                    out.lines.push(Line::new(op, label.clone(), m.id(), detail));
                }
                out.notes.push(format!(
                    "{label}: the cluster was not consulted; planned against {}",
                    state.origin
                ));
            }
            DeliveryKind::Apply => {
                let manifests = manifests_for(loaded, d, values)?;
                let applier =
                    apply::Applier::connect(d.server.as_deref(), &d.field_manager).await?;
                for m in &manifests {
                    let (op, detail) = applier.apply(m, dry_run).await?;
                    changed |= op != Op::Unchanged;
                    out.lines.push(Line::new(op, label.clone(), m.id(), detail));
                }
            }
        }
        if changed {
            out.changed.push((label, carried_secrets(spec, d)));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_recovered_from_derived_values() {
        let url = Secret::new("postgresql://app:a%2Fb%40c@db:5432/app?sslmode=require");
        assert_eq!(
            password_from_derived(Derived::Url, &url).map(|s| s.expose().to_owned()),
            Some("a/b@c".to_owned())
        );
        let json = Secret::new(r#"{"host":"db","password":"p@ss","port":5432}"#);
        assert_eq!(
            password_from_derived(Derived::Json, &json).map(|s| s.expose().to_owned()),
            Some("p@ss".to_owned())
        );
        assert!(password_from_derived(Derived::Host, &url).is_none());
    }

    #[test]
    fn a_whole_value_that_looks_like_json_stays_the_string() {
        for text in ["123", "\"quoted\"", "true", "[1]", "plain"] {
            assert_eq!(
                whole_document(text.to_owned()),
                serde_json::Value::String(text.to_owned()),
                "{text}"
            );
        }
        let doc = r#"{"password":"p"}"#.to_owned();
        assert!(whole_document(doc).is_object());
    }
}
