//! GitOps directory: one YAML file per object plus a `kustomization.yaml`. Plaintext
//! `Secret`s are refused; files whose content is unchanged are left byte-identical. Sealed
//! secrets are randomized on every sealing, so an existing sealed file is kept when its
//! values fingerprint annotation matches.

use std::path::Path;

use serde::Serialize;

use super::files::{write_if_changed, WriteError};
use crate::provision::bundle::{BundleError, Manifest, FINGERPRINT_ANNOTATION, MANAGED_BY};
use crate::provision::plan::Op;

#[derive(Debug, thiserror::Error)]
pub enum GitOpsError {
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Write(#[from] WriteError),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Kustomization<'a> {
    api_version: &'static str,
    kind: &'static str,
    resources: Vec<&'a str>,
}

/// One file's outcome.
pub struct FileResult {
    pub file: String,
    pub op: Op,
    pub detail: String,
}

fn existing_fingerprint(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let value: serde_yaml::Value = serde_yaml::from_str(&text).ok()?;
    value
        .get("metadata")?
        .get("annotations")?
        .get(FINGERPRINT_ANNOTATION)?
        .as_str()
        .map(str::to_owned)
}

/// What writing `manifests` into `dir` would do; writes unless `dry_run`.
pub fn write(
    dir: &Path,
    manifests: &[Manifest],
    dry_run: bool,
) -> Result<Vec<FileResult>, GitOpsError> {
    // (file name, new content or None to keep the file as it is)
    let mut files: Vec<(String, Option<Vec<u8>>)> = Vec::new();
    for m in manifests {
        let path = dir.join(m.file_name());
        // A sealed secret with the same values stays as it is.
        let keep = m.kind == "SealedSecret"
            && m.values_fingerprint.is_some()
            && existing_fingerprint(&path) == m.values_fingerprint;
        let content = if keep {
            None
        } else {
            Some(m.to_yaml()?.into_bytes())
        };
        files.push((m.file_name(), content));
    }
    let names: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
    let mut sorted: Vec<&str> = names.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    let kustomization = Kustomization {
        api_version: "kustomize.config.k8s.io/v1beta1",
        kind: "Kustomization",
        resources: sorted,
    };
    let text =
        serde_yaml::to_string(&kustomization).map_err(|e| BundleError::Serialize(e.to_string()))?;
    files.push(("kustomization.yaml".to_owned(), Some(text.into_bytes())));

    let mut out = Vec::new();
    for (name, content) in files {
        let path = dir.join(&name);
        let op = match content {
            None => Op::Unchanged,
            Some(bytes) => {
                let before = std::fs::read(&path).ok();
                match before {
                    Some(b) if b == bytes => Op::Unchanged,
                    Some(_) => {
                        if !dry_run {
                            write_if_changed(&path, &bytes)?;
                        }
                        Op::Change
                    }
                    None => {
                        if !dry_run {
                            write_if_changed(&path, &bytes)?;
                        }
                        Op::Create
                    }
                }
            }
        };
        out.push(FileResult {
            file: name,
            op,
            detail: String::new(),
        });
    }

    // Files restage wrote for objects that are no longer in the spec: removed, so that the
    // GitOps controller prunes them (kustomization.yaml no longer lists them either).
    let mut stale: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".yaml") && n != "kustomization.yaml" && !names.contains(n))
                .filter(|n| managed_by_restage(&dir.join(n)))
                .collect()
        })
        .unwrap_or_default();
    stale.sort();
    for name in stale {
        if !dry_run {
            let path = dir.join(&name);
            std::fs::remove_file(&path).map_err(|source| WriteError {
                path: path.display().to_string(),
                source,
            })?;
        }
        out.push(FileResult {
            file: name,
            op: Op::Change,
            detail: "removed: no longer in the spec".to_owned(),
        });
    }
    Ok(out)
}

fn managed_by_restage(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    let Ok(value) = serde_yaml::from_str::<serde_yaml::Value>(&text) else {
        return false;
    };
    value
        .get("metadata")
        .and_then(|m| m.get("labels"))
        .and_then(|l| l.get(MANAGED_BY.0))
        .and_then(|v| v.as_str())
        == Some(MANAGED_BY.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(kind: &str, name: &str) -> Manifest {
        let value = serde_json::json!({
            "apiVersion": "v1", "kind": kind,
            "metadata": {"name": name, "labels": {MANAGED_BY.0: MANAGED_BY.1}}
        });
        Manifest {
            api_version: "v1".into(),
            kind: kind.into(),
            name: name.into(),
            namespace: None,
            value,
            plaintext_secret: false,
            values_fingerprint: None,
        }
    }

    #[test]
    fn unchanged_files_stay_and_stale_ones_go() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = manifest("Namespace", "a");
        let b = manifest("ServiceAccount", "b");
        std::fs::write(dir.path().join("notes.yaml"), "hand: written\n").expect("write");
        let first = write(dir.path(), &[a.clone(), b], false).expect("write");
        assert!(first.iter().all(|r| r.op == Op::Create));
        let second = write(dir.path(), &[a], false).expect("write");
        let ops: Vec<(&str, Op)> = second.iter().map(|r| (r.file.as_str(), r.op)).collect();
        assert_eq!(
            ops,
            vec![
                ("namespace-a.yaml", Op::Unchanged),
                ("kustomization.yaml", Op::Change),
                ("serviceaccount-b.yaml", Op::Change),
            ]
        );
        assert!(!dir.path().join("serviceaccount-b.yaml").exists());
        assert!(
            dir.path().join("notes.yaml").exists(),
            "a file restage did not write was removed"
        );
    }

    #[test]
    fn plaintext_secrets_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = manifest("Secret", "s");
        s.plaintext_secret = true;
        assert!(matches!(
            write(dir.path(), &[s], false),
            Err(GitOpsError::Bundle(BundleError::PlaintextSecret(_)))
        ));
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
    }
}
