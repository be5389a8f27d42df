//! Server-side apply through `kube`, with a stable field manager. The plan compares the
//! live object with a server dry-run of the apply; `--dry-run` never sends anything but
//! reads and dry-runs. Conflicts name the manager that owns the field.

use std::collections::BTreeMap;

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::{Client, Config};

use crate::conn::Secret;
use crate::provision::bundle::Manifest;
use crate::provision::plan::Op;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("cannot reach the Kubernetes API: {0} (to plan without a cluster: --dry-run or --check with --kube-state FILE|DIR)")]
    Connect(String),
    #[error("{object}: field conflict with manager {manager:?}: {message} (another tool owns these fields; change them there, or remove that manager's ownership)")]
    Conflict {
        object: String,
        manager: String,
        message: String,
    },
    #[error("{object}: {message}")]
    Api { object: String, message: String },
}

pub struct Applier {
    client: Client,
    manager: String,
}

/// The object's state with server-owned bookkeeping removed, for comparisons.
fn comparable(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(obj) = v.as_object_mut() {
        obj.remove("status");
        if let Some(meta) = obj.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            for k in [
                "managedFields",
                "resourceVersion",
                "uid",
                "creationTimestamp",
                "generation",
                "selfLink",
            ] {
                meta.remove(k);
            }
        }
    }
    v
}

/// Which top-level parts (or Secret keys) differ, without values.
fn differences(live: &serde_json::Value, wanted: &serde_json::Value) -> Vec<String> {
    let (Some(a), Some(b)) = (live.as_object(), wanted.as_object()) else {
        return vec!["object".to_owned()];
    };
    let mut out = Vec::new();
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for k in keys {
        if a.get(k) == b.get(k) {
            continue;
        }
        match (
            k.as_str(),
            a.get(k).and_then(|x| x.as_object()),
            b.get(k).and_then(|x| x.as_object()),
        ) {
            ("data", Some(x), Some(y)) => {
                let sub: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                for s in sub {
                    if x.get(s) != y.get(s) {
                        out.push(format!("data.{s}"));
                    }
                }
            }
            _ => out.push(k.clone()),
        }
    }
    out
}

/// A server that cannot be reached (no connection, TLS, authentication) is not an error of
/// one object: it says how to plan without the cluster.
fn transport_or_api(object: String, e: kube::Error) -> ApplyError {
    match e {
        kube::Error::HyperError(_)
        | kube::Error::Service(_)
        | kube::Error::RustlsTls(_)
        | kube::Error::Auth(_) => ApplyError::Connect(format!("{object}: {e}")),
        other => ApplyError::Api {
            object,
            message: other.to_string(),
        },
    }
}

fn conflict_manager(message: &str) -> String {
    regex::Regex::new(r#"conflicts? with "([^"]+)""#)
        .ok()
        .and_then(|re| re.captures(message).map(|c| c[1].to_owned()))
        .unwrap_or_else(|| "unknown".to_owned())
}

impl Applier {
    /// `server`: an API server URL (no credentials); default: kubeconfig / in-cluster.
    pub async fn connect(server: Option<&str>, manager: &str) -> Result<Applier, ApplyError> {
        let config = match server {
            Some(url) => Config::new(
                url.parse()
                    .map_err(|e: http::uri::InvalidUri| ApplyError::Connect(e.to_string()))?,
            ),
            None => Config::infer()
                .await
                .map_err(|e| ApplyError::Connect(e.to_string()))?,
        };
        let client = Client::try_from(config).map_err(|e| ApplyError::Connect(e.to_string()))?;
        Ok(Applier {
            client,
            manager: manager.to_owned(),
        })
    }

    fn api(&self, m: &Manifest) -> Api<DynamicObject> {
        let (group, version) = match m.api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", m.api_version.as_str()),
        };
        let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, &m.kind));
        match &m.namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &ar),
            None => Api::all_with(self.client.clone(), &ar),
        }
    }

    fn error(m: &Manifest, e: kube::Error) -> ApplyError {
        match e {
            kube::Error::Api(resp) if resp.code == 409 => ApplyError::Conflict {
                object: m.id(),
                manager: conflict_manager(&resp.message),
                message: resp.message,
            },
            kube::Error::Api(resp) => ApplyError::Api {
                object: m.id(),
                message: format!("{} ({}, HTTP {})", resp.message, resp.reason, resp.code),
            },
            other => transport_or_api(m.id(), other),
        }
    }

    /// The values of a live Secret (for reuse on re-runs), or `None` when absent.
    pub async fn read_secret(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<BTreeMap<String, Secret>>, ApplyError> {
        let api: Api<k8s_openapi::api::core::v1::Secret> =
            Api::namespaced(self.client.clone(), namespace);
        let found = api
            .get_opt(name)
            .await
            .map_err(|e| transport_or_api(format!("Secret/{name} -n {namespace}"), e))?;
        Ok(found.map(|s| {
            s.data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, Secret::new(String::from_utf8_lossy(&v.0).into_owned())))
                .collect()
        }))
    }

    /// Plans one object and applies it unless `dry_run`. Returns the operation and what
    /// differs.
    pub async fn apply(&self, m: &Manifest, dry_run: bool) -> Result<(Op, String), ApplyError> {
        let api = self.api(m);
        let live = api.get_opt(&m.name).await.map_err(|e| Self::error(m, e))?;
        let params = PatchParams::apply(&self.manager);
        let Some(live) = live else {
            if dry_run {
                // The server validates the object; a namespace that does not exist yet
                // (created by this same plan) is the one acceptable refusal.
                match api
                    .patch(&m.name, &params.clone().dry_run(), &Patch::Apply(&m.value))
                    .await
                {
                    Ok(_) => {}
                    Err(kube::Error::Api(resp)) if resp.code == 404 => {}
                    Err(e) => return Err(Self::error(m, e)),
                }
            } else {
                api.patch(&m.name, &params, &Patch::Apply(&m.value))
                    .await
                    .map_err(|e| Self::error(m, e))?;
            }
            return Ok((Op::Create, String::new()));
        };
        let preview = api
            .patch(&m.name, &params.clone().dry_run(), &Patch::Apply(&m.value))
            .await
            .map_err(|e| Self::error(m, e))?;
        let to_value = |o: &DynamicObject| serde_json::to_value(o).unwrap_or_default();
        let diff = differences(
            &comparable(to_value(&live)),
            &comparable(to_value(&preview)),
        );
        if diff.is_empty() {
            return Ok((Op::Unchanged, String::new()));
        }
        if !dry_run {
            api.patch(&m.name, &params, &Patch::Apply(&m.value))
                .await
                .map_err(|e| Self::error(m, e))?;
        }
        Ok((Op::Change, diff.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_manager_is_extracted() {
        let msg = r#"Apply failed with 1 conflict: conflict with "kubectl-edit" using v1: .data.X"#;
        assert_eq!(conflict_manager(msg), "kubectl-edit");
        assert_eq!(conflict_manager("something else"), "unknown");
    }

    #[test]
    fn differences_name_secret_keys_not_values() {
        let a = serde_json::json!({"data": {"A": "x", "B": "y"}, "kind": "Secret"});
        let b = serde_json::json!({"data": {"A": "x", "B": "z"}, "kind": "Secret"});
        assert_eq!(differences(&a, &b), vec!["data.B".to_owned()]);
    }
}
