//! Deliveries: where the secrets and the namespace bundle go (a cluster through server-side
//! apply, a GitOps directory, a dotenv file, JSON for another secret store), and reading
//! values back from them so that re-runs reuse what exists.

pub mod apply;
pub mod dotenv;
pub mod files;
pub mod gitops;

use std::collections::{BTreeMap, BTreeSet};

use super::bundle::{self, BundleError, Manifest, SecretRendering};
use super::plan::{Line, Op};
use super::seal::{CertSealer, SealError};
use super::secrets::{Secret, Values};
use super::spec::{DeliveryKind, DeliverySpec, Derived, EnvSpec, LoadedSpec, SecretFormat};

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
    #[error(transparent)]
    CronJob(#[from] super::cronjob::CronJobError),
}

/// The secret names a delivery carries (directly, by key).
pub fn carried_secrets(spec: &EnvSpec, d: &DeliverySpec) -> BTreeSet<String> {
    match d.kind() {
        DeliveryKind::Dotenv => d.keys.values().cloned().collect(),
        DeliveryKind::Json if !d.keys.is_empty() => d.keys.values().cloned().collect(),
        _ => spec
            .kubernetes
            .iter()
            .flat_map(|k| k.secrets.iter())
            .flat_map(|o| o.get_ref().keys.values().cloned())
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
    let Some(k) = &spec.kubernetes else {
        return Ok(Vec::new());
    };
    let mut out = bundle::namespace_objects(spec, k)?;
    let secrets = match d.format() {
        SecretFormat::Secret => bundle::secret_objects(spec, k, values, &SecretRendering::Plain)?,
        SecretFormat::Sealed => {
            let cert = d.sealing_cert.as_deref().unwrap_or("");
            let sealer = CertSealer::from_file(&loaded.resolve(cert))?;
            bundle::secret_objects(spec, k, values, &SecretRendering::Sealed(&sealer))?
        }
        SecretFormat::External => bundle::secret_objects(
            spec,
            k,
            values,
            &SecretRendering::External {
                store: d.store.as_deref().unwrap_or(""),
                store_kind: &d.store_kind,
            },
        )?,
    };
    out.extend(secrets);
    // A schedule asks for the refresh CronJob: it ships with the bundle, with the ConfigMap
    // and NetworkPolicy it needs, so that what is applied is what runs.
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

/// The JSON document a `json` delivery writes: a flat map when it lists `keys`, otherwise
/// every Secret object with its store path.
pub fn json_document(
    spec: &EnvSpec,
    d: &DeliverySpec,
    values: &Values,
) -> Result<String, DeliverError> {
    let doc = if !d.keys.is_empty() {
        let map: serde_json::Map<String, serde_json::Value> = dotenv_entries(d, values)
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v.expose().to_owned())))
            .collect();
        serde_json::Value::Object(map)
    } else {
        let mut objects = Vec::new();
        if let Some(k) = &spec.kubernetes {
            for obj in &k.secrets {
                let o = obj.get_ref();
                let data: serde_json::Map<String, serde_json::Value> =
                    bundle::object_data(o, values)?
                        .into_iter()
                        .map(|(k, v)| (k, serde_json::Value::String(v.expose().to_owned())))
                        .collect();
                objects.push(serde_json::json!({
                    "name": o.name,
                    "namespace": k.namespace.get_ref(),
                    "remote_key": bundle::remote_key(spec, o),
                    "data": data,
                }));
            }
        }
        serde_json::json!({ "environment": spec.environment.get_ref(), "secrets": objects })
    };
    let mut text =
        serde_json::to_string_pretty(&doc).map_err(|e| BundleError::Serialize(e.to_string()))?;
    text.push('\n');
    Ok(text)
}

/// Values found in the deliveries (and the state file), by secret name.
pub async fn read_existing(loaded: &LoadedSpec) -> Result<BTreeMap<String, Secret>, DeliverError> {
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
    let objects: Vec<&super::spec::KubeSecretSpec> = spec
        .kubernetes
        .iter()
        .flat_map(|k| k.secrets.iter().map(|o| o.get_ref()))
        .collect();
    for d in &spec.delivery {
        let d = d.get_ref();
        match d.kind() {
            DeliveryKind::Dotenv => {
                let path = loaded.resolve(d.path.as_deref().unwrap_or(""));
                if let Ok(text) = std::fs::read_to_string(&path) {
                    let parsed = dotenv::parse(&text);
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
                        for o in objects.iter().filter(|o| o.name == name) {
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
                let Some(k) = &spec.kubernetes else { continue };
                let applier =
                    apply::Applier::connect(d.server.as_deref(), &d.field_manager).await?;
                for o in &objects {
                    if let Some(data) = applier.read_secret(k.namespace.get_ref(), &o.name).await? {
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
}

/// Runs every delivery (or previews it with `dry_run`).
pub async fn deliver_all(
    loaded: &LoadedSpec,
    values: &Values,
    dry_run: bool,
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
                    .map(|t| dotenv::parse(&t))
                    .ok();
                let text = dotenv::render(&entries);
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
                for r in gitops::write(&dir, &manifests, dry_run)? {
                    changed |= r.op != Op::Unchanged;
                    out.lines
                        .push(Line::new(r.op, label.clone(), r.file, r.detail));
                }
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
}
