//! `kubernetes-validate`: rendered manifests against the official Kubernetes OpenAPI schemas.

use std::path::PathBuf;
use std::process::Command;

/// The Kubernetes version the manifests are validated against (k8s-openapi's feature).
pub const KUBE_VERSION: &str = "1.34.0";

/// `kubernetes-validate`, or the same tool as a Python module when its script is not on PATH.
pub fn validator() -> Command {
    let on_path = Command::new("kubernetes-validate")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if on_path {
        Command::new("kubernetes-validate")
    } else {
        let mut cmd = Command::new("python3");
        cmd.args(["-m", "kubernetes_validate"]);
        cmd
    }
}

/// Validates `files` strictly; a failed test with the validator's output otherwise.
pub fn kubernetes_validate(files: &[PathBuf]) {
    let out = validator()
        .args(["--strict", "--no-warn", "-k", KUBE_VERSION])
        .args(files)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run kubernetes-validate ({e}); install it: `pip install kubernetes-validate==1.37.0` (.ci/run does)"
            )
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && !stdout.contains("ERROR"),
        "manifests do not validate against the Kubernetes {KUBE_VERSION} schemas \
         (or the validator is missing: `pip install kubernetes-validate==1.37.0`):\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
