//! GitOps directory: one YAML file per object plus a `kustomization.yaml`. Plaintext
//! `Secret`s are refused; files whose content is unchanged are left byte-identical. Sealed
//! secrets are randomized on every sealing, so an existing sealed file is kept when its
//! values fingerprint annotation matches.

use std::path::Path;

use serde::Serialize;

use super::files::{write_if_changed, WriteError};
use crate::provision::bundle::{BundleError, Manifest, FINGERPRINT_ANNOTATION};
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
        out.push(FileResult { file: name, op });
    }
    Ok(out)
}
