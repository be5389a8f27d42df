//! Planning an apply delivery without a cluster: the live objects come from a file
//! (`kubectl get … -o yaml`, a `List` or `---`-separated documents) or a directory of YAML
//! files (a GitOps checkout), given with `--kube-state`. Only plans: nothing is applied.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Deserialize;

use crate::conn::Secret;
use crate::provision::bundle::Manifest;
use crate::provision::plan::Op;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("--kube-state {path}: {message}")]
    Read { path: String, message: String },
}

/// Objects by (kind, namespace, name).
type Key = (String, Option<String>, String);

/// What the cluster holds, as recorded in files.
#[derive(Debug, Default)]
pub struct KubeState {
    /// Where it was read from, for the plan.
    pub origin: String,
    objects: BTreeMap<Key, serde_json::Value>,
}

fn read_error(path: &Path, message: impl ToString) -> StateError {
    StateError::Read {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

impl KubeState {
    /// Reads a YAML file, or every `.yaml`/`.yml` file of a directory.
    pub fn load(path: &Path) -> Result<KubeState, StateError> {
        let mut files: Vec<PathBuf> = Vec::new();
        if path.is_dir() {
            for entry in std::fs::read_dir(path).map_err(|e| read_error(path, e))? {
                let p = entry.map_err(|e| read_error(path, e))?.path();
                if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                    files.push(p);
                }
            }
            files.sort();
        } else {
            files.push(path.to_path_buf());
        }
        let mut state = KubeState {
            origin: path.display().to_string(),
            objects: BTreeMap::new(),
        };
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|e| read_error(&file, e))?;
            for doc in serde_yaml::Deserializer::from_str(&text) {
                let value =
                    serde_json::Value::deserialize(doc).map_err(|e| read_error(&file, e))?;
                state.add(value);
            }
        }
        Ok(state)
    }

    fn add(&mut self, value: serde_json::Value) {
        if let Some(items) = value.get("items").and_then(|i| i.as_array()) {
            for item in items {
                self.add(item.clone());
            }
            return;
        }
        let text = |v: Option<&serde_json::Value>| v.and_then(|x| x.as_str()).map(str::to_owned);
        let meta = value.get("metadata");
        let (Some(kind), Some(name)) = (
            text(value.get("kind")),
            text(meta.and_then(|m| m.get("name"))),
        ) else {
            return;
        };
        let ns = text(meta.and_then(|m| m.get("namespace")));
        self.objects.insert((kind, ns, name), value);
    }

    fn get(&self, kind: &str, ns: Option<&str>, name: &str) -> Option<&serde_json::Value> {
        self.objects
            .get(&(kind.to_owned(), ns.map(str::to_owned), name.to_owned()))
    }

    /// A recorded Secret's values (`data` is base64, `stringData` plain).
    pub fn secret_data(&self, ns: &str, name: &str) -> Option<BTreeMap<String, Secret>> {
        let obj = self.get("Secret", Some(ns), name)?;
        let mut out = BTreeMap::new();
        if let Some(data) = obj.get("data").and_then(|d| d.as_object()) {
            for (k, v) in data {
                let decoded = v
                    .as_str()
                    .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                    .map(|b| String::from_utf8_lossy(&b).into_owned());
                if let Some(d) = decoded {
                    out.insert(k.clone(), Secret::new(d));
                }
            }
        }
        if let Some(data) = obj.get("stringData").and_then(|d| d.as_object()) {
            for (k, v) in data {
                if let Some(s) = v.as_str() {
                    out.insert(k.clone(), Secret::new(s));
                }
            }
        }
        Some(out)
    }

    /// What applying `m` would do to the recorded state: which of the fields restage sets
    /// differ (the server's defaults and other managers' fields are not restage's).
    pub fn plan(&self, m: &Manifest) -> (Op, String) {
        let Some(live) = self.get(&m.kind, m.namespace.as_deref(), &m.name) else {
            return (Op::Create, String::new());
        };
        let mut differing = Vec::new();
        differences("", live, &m.value, &mut differing);
        if differing.is_empty() {
            (Op::Unchanged, String::new())
        } else {
            (Op::Change, differing.join(", "))
        }
    }
}

/// Paths (`spec.rules`, `data.KEY`) where `wanted` is not contained in `live`.
fn differences(
    path: &str,
    live: &serde_json::Value,
    wanted: &serde_json::Value,
    out: &mut Vec<String>,
) {
    match (live, wanted) {
        (serde_json::Value::Object(l), serde_json::Value::Object(w)) => {
            for (k, wv) in w {
                let sub = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match l.get(k) {
                    Some(lv) => differences(&sub, lv, wv, out),
                    None => out.push(sub),
                }
            }
        }
        (serde_json::Value::Array(l), serde_json::Value::Array(w)) => {
            let mut inner = Vec::new();
            if l.len() == w.len() {
                for (lv, wv) in l.iter().zip(w) {
                    differences(path, lv, wv, &mut inner);
                }
            }
            if l.len() != w.len() || !inner.is_empty() {
                out.push(path.to_owned());
            }
        }
        (l, w) if l == w => {}
        _ => out.push(path.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_fields_restage_sets_are_compared() {
        let live = serde_json::json!({"metadata": {"name": "a", "uid": "x", "labels": {"l": "1", "k": "2"}},
                                      "data": {"A": "QQ=="}, "type": "Opaque"});
        let same = serde_json::json!({"metadata": {"name": "a", "labels": {"l": "1"}}, "data": {"A": "QQ=="}});
        let other =
            serde_json::json!({"metadata": {"name": "a"}, "data": {"A": "Qg==", "B": "Qg=="}});
        let mut out = Vec::new();
        differences("", &live, &same, &mut out);
        assert!(out.is_empty(), "{out:?}");
        differences("", &live, &other, &mut out);
        assert_eq!(out, vec!["data.A", "data.B"]);
    }
}
