//! Checks of the namespace bundles (`[kubernetes]` and `[[namespaces]]`): names, references
//! between objects, templates, external-store locations.

use std::collections::BTreeSet;

use super::{is_dns_label, Collector};
use crate::provision::spec::{EnvSpec, KubeSecretSpec, KubeSpec, SubjectSpec};
use crate::provision::template;

/// Checks every bundle; returns the names of all Secret objects (for `[refresh]`).
pub(super) fn check(spec: &EnvSpec, c: &mut Collector<'_>) -> BTreeSet<String> {
    let mut object_names = BTreeSet::new();
    let mut namespaces = BTreeSet::new();
    // Cluster-scoped objects have one name across every bundle of the spec: a second
    // definition would silently overwrite the first.
    let mut cluster_scoped = BTreeSet::new();
    for k in spec.kube_specs() {
        for role in k.roles.iter().filter(|r| r.get_ref().cluster) {
            let name = &role.get_ref().name;
            if !cluster_scoped.insert(("ClusterRole", name.clone())) {
                c.on(role, format!("ClusterRole {name:?} is defined twice"));
            }
        }
        for binding in &k.cluster_role_bindings {
            let name = &binding.get_ref().name;
            if !cluster_scoped.insert(("ClusterRoleBinding", name.clone())) {
                c.on(
                    binding,
                    format!("ClusterRoleBinding {name:?} is defined twice"),
                );
            }
        }
        let ns = k.namespace.get_ref();
        if !is_dns_label(ns) {
            c.on(
                &k.namespace,
                "namespace must be a DNS label (a-z, 0-9, `-`)",
            );
        }
        if !namespaces.insert(ns.clone()) {
            c.on(&k.namespace, format!("namespace {ns:?} is defined twice"));
        }
        let mut in_namespace = BTreeSet::new();
        for obj in &k.secrets {
            let o = obj.get_ref();
            if !is_dns_label(&o.name) {
                c.on(obj, format!("Secret name {:?} must be a DNS label", o.name));
            }
            if !in_namespace.insert(o.name.clone()) {
                c.on(obj, format!("Secret {:?} is defined twice in {ns}", o.name));
            }
            object_names.insert(o.name.clone());
            for secret in o.keys.values() {
                if !spec.secrets.contains_key(secret) {
                    c.on(
                        obj,
                        format!(
                            "Secret {:?} refers to {secret:?}, which is not in [secrets]",
                            o.name
                        ),
                    );
                }
            }
            if o.keys.is_empty() && o.literals.is_empty() {
                c.on(obj, format!("Secret {:?} has no keys", o.name));
            }
            for problem in secret_object_problems(o) {
                c.on(obj, format!("Secret {:?}: {problem}", o.name));
            }
        }
        if let Some(np) = &k.network_policy {
            for e in &np.egress {
                if e.cidr.is_some() == e.namespace.is_some() {
                    c.at(
                        k.namespace.span(),
                        "each network_policy.egress entry needs exactly one of `cidr`, `namespace`",
                    );
                }
            }
        }
        check_objects(k, c);
    }
    object_names
}

/// `remote` and `templates` name keys the object has; templates parse.
fn secret_object_problems(o: &KubeSecretSpec) -> Vec<String> {
    let mut out = Vec::new();
    let has = |k: &String| o.keys.contains_key(k) || o.literals.contains_key(k);
    for key in o.remote.keys() {
        if !has(key) {
            out.push(format!("remote {key:?} is not a key of the object"));
        }
    }
    for (key, text) in &o.templates {
        if has(key) {
            out.push(format!("template {key:?} is also a key of the object"));
        }
        match template::keys(text) {
            Ok(used) => {
                for u in used.iter().filter(|u| !has(u)) {
                    out.push(format!(
                        "template {key:?} reads {u:?}, which is not a key of the object"
                    ));
                }
            }
            Err(e) => out.push(format!("template {key:?}: {e}")),
        }
    }
    out
}

/// ConfigMaps, service accounts, Roles, RoleBindings and ClusterRoleBindings.
fn check_objects(k: &KubeSpec, c: &mut Collector<'_>) {
    let ns = k.namespace.get_ref();
    let mut names = BTreeSet::new();
    for cm in &k.config_maps {
        let m = cm.get_ref();
        if !is_dns_label(&m.name) {
            c.on(
                cm,
                format!("ConfigMap name {:?} must be a DNS label", m.name),
            );
        }
        if !names.insert(m.name.clone()) {
            c.on(
                cm,
                format!("ConfigMap {:?} is defined twice in {ns}", m.name),
            );
        }
        for key in m.data.keys() {
            let valid = !key.is_empty()
                && key
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "-._".contains(ch));
            if !valid {
                c.on(
                    cm,
                    format!(
                        "ConfigMap {:?}: key {key:?} must be letters, digits, `-`, `_`, `.`",
                        m.name
                    ),
                );
            }
        }
    }
    let mut accounts = BTreeSet::new();
    for sa in k.service_account.iter().chain(k.service_accounts.iter()) {
        if !is_dns_label(&sa.name) || !accounts.insert(sa.name.clone()) {
            c.on(
                &k.namespace,
                format!(
                    "service account {:?} must be a DNS label, defined once in {ns}",
                    sa.name
                ),
            );
        }
    }
    let mut roles = BTreeSet::new();
    for role in &k.roles {
        let r = role.get_ref();
        if !is_dns_label(&r.name) && !r.cluster {
            c.on(role, format!("Role name {:?} must be a DNS label", r.name));
        }
        if r.name.is_empty() || !roles.insert((r.cluster, r.name.clone())) {
            c.on(role, format!("Role {:?} is empty or defined twice", r.name));
        }
        if r.rules.is_empty() || r.rules.iter().any(|rule| rule.verbs.is_empty()) {
            c.on(
                role,
                format!(
                    "Role {:?}: every rule needs `verbs`, and a role needs a rule",
                    r.name
                ),
            );
        }
        if r.rules.iter().any(|rule| rule.resources.is_empty()) {
            c.on(
                role,
                format!("Role {:?}: every rule needs `resources`", r.name),
            );
        }
    }
    for binding in &k.role_bindings {
        let b = binding.get_ref();
        if !is_dns_label(&b.name) {
            c.on(
                binding,
                format!("RoleBinding name {:?} must be a DNS label", b.name),
            );
        }
        if !b.cluster_role && !roles.contains(&(false, b.role.clone())) {
            c.on(
                binding,
                format!(
                    "RoleBinding {:?} grants Role {:?}, which is not in this namespace's roles (set cluster_role = true for a ClusterRole such as `view`)",
                    b.name, b.role
                ),
            );
        }
        for problem in subject_problems(&b.subjects) {
            c.on(binding, format!("RoleBinding {:?}: {problem}", b.name));
        }
    }
    for binding in &k.cluster_role_bindings {
        let b = binding.get_ref();
        if !is_dns_label(&b.name) {
            c.on(
                binding,
                format!("ClusterRoleBinding name {:?} must be a DNS label", b.name),
            );
        }
        if b.role.is_empty() {
            c.on(
                binding,
                format!("ClusterRoleBinding {:?} needs a ClusterRole", b.name),
            );
        }
        for problem in subject_problems(&b.subjects) {
            c.on(
                binding,
                format!("ClusterRoleBinding {:?}: {problem}", b.name),
            );
        }
    }
}

/// What is wrong with a binding's subjects.
fn subject_problems(subjects: &[SubjectSpec]) -> Vec<String> {
    let mut out = Vec::new();
    if subjects.is_empty() {
        out.push("no subjects".to_owned());
    }
    for s in subjects {
        if !matches!(s.kind.as_str(), "ServiceAccount" | "User" | "Group") {
            out.push(format!(
                "subject kind {:?} (ServiceAccount, User, Group)",
                s.kind
            ));
        }
        if s.namespace.is_some() && s.kind != "ServiceAccount" {
            out.push("only a ServiceAccount subject has a namespace".to_owned());
        }
    }
    out
}
