//! GitOps directory: one YAML file per object plus a `kustomization.yaml`. Plaintext
//! `Secret`s are refused; files whose content is unchanged are left byte-identical. Sealed
//! secrets are randomized on every sealing, so an existing sealed file is kept when its
//! values fingerprint annotation matches.

use std::path::Path;

use serde::Serialize;

use super::files::{write_if_changed, WriteError};
use crate::provision::bundle::{BundleError, Manifest, FINGERPRINT_ANNOTATION, MANAGED_BY};
use crate::provision::plan::Op;
use crate::provision::spec::{FluxSpec, LoadedSpec};

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
    let stale = stale_files(dir, &names);
    let text = kustomization(dir, &names, &stale)?;
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

/// Files restage wrote for objects that are no longer in the spec: removed, so that the
/// GitOps controller prunes them (kustomization.yaml no longer lists them either). Files
/// restage did not write are never touched.
fn stale_files(dir: &Path, names: &[String]) -> Vec<String> {
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
    stale
}

/// The `kustomization.yaml`: restage's files first (sorted), then every entry someone else
/// added (in their order), and every other field of an existing file kept as it was.
fn kustomization(dir: &Path, names: &[String], stale: &[String]) -> Result<String, GitOpsError> {
    let mut sorted: Vec<&str> = names.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    let existing: Option<serde_yaml::Mapping> =
        std::fs::read_to_string(dir.join("kustomization.yaml"))
            .ok()
            .and_then(|t| serde_yaml::from_str(&t).ok());
    let Some(mut doc) = existing else {
        let fresh = Kustomization {
            api_version: "kustomize.config.k8s.io/v1beta1",
            kind: "Kustomization",
            resources: sorted,
        };
        return serde_yaml::to_string(&fresh)
            .map_err(|e| BundleError::Serialize(e.to_string()).into());
    };
    let mut resources: Vec<serde_yaml::Value> = sorted
        .iter()
        .map(|n| serde_yaml::Value::String((*n).to_owned()))
        .collect();
    let theirs = doc
        .get("resources")
        .and_then(|r| r.as_sequence())
        .cloned()
        .unwrap_or_default();
    for entry in theirs {
        let ours = entry
            .as_str()
            .is_some_and(|e| names.iter().any(|n| n == e) || stale.iter().any(|n| n == e));
        if !ours {
            resources.push(entry);
        }
    }
    doc.insert("resources".into(), serde_yaml::Value::Sequence(resources));
    serde_yaml::to_string(&doc).map_err(|e| BundleError::Serialize(e.to_string()).into())
}

/// A Flux `Kustomization` (kustomize.toolkit.fluxcd.io/v1) pointing Flux at the directory.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FluxKustomization<'a> {
    api_version: &'static str,
    kind: &'static str,
    metadata: FluxMeta<'a>,
    spec: FluxKustomizationSpec<'a>,
}

#[derive(Serialize)]
struct FluxMeta<'a> {
    name: &'a str,
    namespace: &'a str,
    labels: std::collections::BTreeMap<&'static str, &'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FluxKustomizationSpec<'a> {
    interval: &'a str,
    path: &'a str,
    prune: bool,
    source_ref: FluxSourceRef<'a>,
}

#[derive(Serialize)]
struct FluxSourceRef<'a> {
    kind: &'static str,
    name: &'a str,
}

/// The Flux `Kustomization` of a GitOps delivery, as YAML.
pub fn flux_yaml(flux: &FluxSpec) -> Result<String, GitOpsError> {
    let obj = FluxKustomization {
        api_version: "kustomize.toolkit.fluxcd.io/v1",
        kind: "Kustomization",
        metadata: FluxMeta {
            name: &flux.name,
            namespace: &flux.namespace,
            labels: std::collections::BTreeMap::from([MANAGED_BY]),
        },
        spec: FluxKustomizationSpec {
            interval: &flux.interval,
            path: &flux.path,
            prune: true,
            source_ref: FluxSourceRef {
                kind: "GitRepository",
                name: &flux.source,
            },
        },
    };
    Ok(serde_yaml::to_string(&obj).map_err(|e| BundleError::Serialize(e.to_string()))?)
}

/// Writes the Flux `Kustomization` of a GitOps delivery (unless `dry_run`).
pub fn write_flux(
    loaded: &LoadedSpec,
    flux: &FluxSpec,
    dry_run: bool,
) -> Result<FileResult, GitOpsError> {
    let text = flux_yaml(flux)?;
    let path = loaded.resolve(&flux.file);
    let op = match std::fs::read(&path) {
        Ok(b) if b == text.as_bytes() => Op::Unchanged,
        Ok(_) => Op::Change,
        Err(_) => Op::Create,
    };
    if !dry_run && op != Op::Unchanged {
        write_if_changed(&path, text.as_bytes())?;
    }
    Ok(FileResult {
        file: flux.file.clone(),
        op,
        detail: format!("Flux Kustomization {} → {}", flux.name, flux.path),
    })
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
            qualify_file: false,
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
    fn entries_and_fields_added_by_hand_are_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = manifest("Namespace", "a");
        let b = manifest("ServiceAccount", "b");
        write(dir.path(), &[a.clone(), b], false).expect("write");
        let path = dir.path().join("kustomization.yaml");
        let edited = std::fs::read_to_string(&path).expect("read").replace(
            "resources:\n",
            "namespace: staging\nresources:\n- ../monitoring\n- hand-made.yaml\n",
        );
        std::fs::write(&path, edited).expect("edit");
        std::fs::write(dir.path().join("hand-made.yaml"), "kind: ConfigMap\n").expect("write");
        write(dir.path(), &[a], false).expect("re-run");
        let text = std::fs::read_to_string(&path).expect("read");
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("YAML");
        let resources: Vec<&str> = doc["resources"]
            .as_sequence()
            .expect("resources")
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert_eq!(
            resources,
            vec!["namespace-a.yaml", "../monitoring", "hand-made.yaml"],
            "{text}"
        );
        assert_eq!(doc["namespace"].as_str(), Some("staging"), "{text}");
        assert!(dir.path().join("hand-made.yaml").exists());
        // A second run changes nothing.
        let again = write(dir.path(), &[manifest("Namespace", "a")], false).expect("again");
        assert!(again.iter().all(|r| r.op == Op::Unchanged));
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
