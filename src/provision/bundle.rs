//! The Kubernetes namespace bundle, built from `k8s-openapi` types: Namespace,
//! ResourceQuota, LimitRange, NetworkPolicies, ServiceAccount, and the secrets as a plain
//! `Secret`, a `SealedSecret` or an `ExternalSecret` depending on the delivery.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ConfigMap, LimitRange, LimitRangeItem, LimitRangeSpec, Namespace, ResourceQuota,
    ResourceQuotaSpec, Secret as KubeSecret, ServiceAccount,
};
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::ByteString;
use serde::Serialize;

use super::seal::{SealError, Sealer};
use super::secrets::{fingerprint, Secret, Values};
use super::spec::{
    ClusterRoleBindingSpec, EnvSpec, KubeSecretSpec, KubeSpec, RoleBindingSpec, RoleSpec,
    SecretFormat, ServiceAccountSpec, SubjectSpec,
};
use super::template::{self, TemplateError};

/// Label every object carries.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "restage");
/// Annotation with a fingerprint of a secret object's values: lets re-runs keep sealed
/// files byte-identical when nothing changed (sealing is randomized).
pub const FINGERPRINT_ANNOTATION: &str = "restage.io/values-fingerprint";

/// One rendered object.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
    /// The object as JSON (for apply).
    pub value: serde_json::Value,
    /// Whether the object holds plaintext secret values (a `Secret`).
    pub plaintext_secret: bool,
    /// For secret objects: fingerprint of the values.
    pub values_fingerprint: Option<String>,
    /// The object belongs to a namespace other than the spec's first: its GitOps file name
    /// carries the namespace, so that objects of the same kind and name never collide.
    pub qualify_file: bool,
}

impl Manifest {
    pub fn new<T: Serialize>(
        obj: &T,
        kind: &str,
        api_version: &str,
        name: &str,
        namespace: Option<&str>,
    ) -> Result<Manifest, BundleError> {
        Ok(Manifest {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            name: name.to_owned(),
            namespace: namespace.map(str::to_owned),
            value: serde_json::to_value(obj).map_err(|e| BundleError::Serialize(e.to_string()))?,
            plaintext_secret: false,
            values_fingerprint: None,
            qualify_file: false,
        })
    }

    /// `kind/name` for plan lines.
    pub fn id(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{}/{} -n {ns}", self.kind, self.name),
            None => format!("{}/{}", self.kind, self.name),
        }
    }

    /// A stable file name for GitOps directories.
    pub fn file_name(&self) -> String {
        match (&self.namespace, self.qualify_file) {
            (Some(ns), true) => {
                format!("{}-{}.{ns}.yaml", self.kind.to_ascii_lowercase(), self.name)
            }
            _ => format!("{}-{}.yaml", self.kind.to_ascii_lowercase(), self.name),
        }
    }

    /// YAML text. Plaintext `Secret`s refuse to render (they only ever go to an API server).
    pub fn to_yaml(&self) -> Result<String, BundleError> {
        if self.plaintext_secret {
            return Err(BundleError::PlaintextSecret(self.id()));
        }
        serde_yaml::to_string(&self.value).map_err(|e| BundleError::Serialize(e.to_string()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("cannot serialize a manifest: {0}")]
    Serialize(String),
    /// The spec lacks fields an object needs.
    #[error("{0}")]
    Incomplete(String),
    #[error("{0} holds plaintext secret values and is never written to a file")]
    PlaintextSecret(String),
    #[error("Secret {object}: key {key} refers to secret {secret}, which has no value")]
    MissingValue {
        object: String,
        key: String,
        secret: String,
    },
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error("Secret {object}: template {key}: {source}")]
    Template {
        object: String,
        key: String,
        source: TemplateError,
    },
}

fn meta(name: &str, namespace: Option<&str>, labels: &BTreeMap<String, String>) -> ObjectMeta {
    let mut l = labels.clone();
    l.insert(MANAGED_BY.0.to_owned(), MANAGED_BY.1.to_owned());
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        labels: Some(l),
        ..ObjectMeta::default()
    }
}

fn q(text: &str) -> Quantity {
    Quantity(text.to_owned())
}

/// The non-secret objects of the namespace bundle.
pub fn namespace_objects(spec: &EnvSpec, k: &KubeSpec) -> Result<Vec<Manifest>, BundleError> {
    let ns = k.namespace.get_ref().as_str();
    let mut labels = k.labels.clone();
    labels
        .entry("restage.io/environment".to_owned())
        .or_insert_with(|| spec.environment.get_ref().clone());
    let mut out = Vec::new();

    let namespace = Namespace {
        metadata: meta(ns, None, &labels),
        ..Namespace::default()
    };
    out.push(Manifest::new(&namespace, "Namespace", "v1", ns, None)?);

    if let Some(quota) = &k.quota {
        let mut hard = BTreeMap::new();
        hard.insert("requests.cpu".to_owned(), q(&quota.cpu));
        hard.insert("limits.cpu".to_owned(), q(&quota.cpu));
        hard.insert("requests.memory".to_owned(), q(&quota.memory));
        hard.insert("limits.memory".to_owned(), q(&quota.memory));
        if let Some(pods) = quota.pods {
            hard.insert("pods".to_owned(), q(&pods.to_string()));
        }
        let obj = ResourceQuota {
            metadata: meta("quota", Some(ns), &labels),
            spec: Some(ResourceQuotaSpec {
                hard: Some(hard),
                ..ResourceQuotaSpec::default()
            }),
            ..ResourceQuota::default()
        };
        out.push(Manifest::new(
            &obj,
            "ResourceQuota",
            "v1",
            "quota",
            Some(ns),
        )?);
    }

    if let Some(lr) = &k.limit_range {
        let pair = |cpu: &str, mem: &str| {
            BTreeMap::from([("cpu".to_owned(), q(cpu)), ("memory".to_owned(), q(mem))])
        };
        let mut max = BTreeMap::new();
        if let Some(c) = &lr.max_cpu {
            max.insert("cpu".to_owned(), q(c));
        }
        if let Some(m) = &lr.max_memory {
            max.insert("memory".to_owned(), q(m));
        }
        let obj = LimitRange {
            metadata: meta("limits", Some(ns), &labels),
            spec: Some(LimitRangeSpec {
                limits: vec![LimitRangeItem {
                    type_: "Container".to_owned(),
                    default: Some(pair(&lr.default_cpu, &lr.default_memory)),
                    default_request: Some(pair(
                        &lr.default_request_cpu,
                        &lr.default_request_memory,
                    )),
                    max: (!max.is_empty()).then_some(max),
                    ..LimitRangeItem::default()
                }],
            }),
        };
        out.push(Manifest::new(&obj, "LimitRange", "v1", "limits", Some(ns))?);
    }

    if let Some(np) = &k.network_policy {
        let all_pods = LabelSelector::default();
        let same_ns = NetworkPolicyPeer {
            pod_selector: Some(all_pods.clone()),
            ..NetworkPolicyPeer::default()
        };
        let ns_peer = |name: &str| NetworkPolicyPeer {
            namespace_selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([(
                    "kubernetes.io/metadata.name".to_owned(),
                    name.to_owned(),
                )])),
                ..LabelSelector::default()
            }),
            ..NetworkPolicyPeer::default()
        };
        let port = |p: i32, proto: &str| NetworkPolicyPort {
            port: Some(IntOrString::Int(p)),
            protocol: Some(proto.to_owned()),
            ..NetworkPolicyPort::default()
        };
        let policy = |name: &str, spec: NetworkPolicySpec| NetworkPolicy {
            metadata: meta(name, Some(ns), &labels),
            spec: Some(spec),
        };
        let mut policies = vec![
            policy(
                "default-deny",
                NetworkPolicySpec {
                    pod_selector: Some(all_pods.clone()),
                    policy_types: Some(vec!["Ingress".to_owned(), "Egress".to_owned()]),
                    ..NetworkPolicySpec::default()
                },
            ),
            policy(
                "allow-same-namespace",
                NetworkPolicySpec {
                    pod_selector: Some(all_pods.clone()),
                    ingress: Some(vec![NetworkPolicyIngressRule {
                        from: Some(vec![same_ns.clone()]),
                        ports: None,
                    }]),
                    egress: Some(vec![NetworkPolicyEgressRule {
                        to: Some(vec![same_ns.clone()]),
                        ports: None,
                    }]),
                    policy_types: Some(vec!["Ingress".to_owned(), "Egress".to_owned()]),
                },
            ),
            policy(
                "allow-dns",
                NetworkPolicySpec {
                    pod_selector: Some(all_pods.clone()),
                    egress: Some(vec![NetworkPolicyEgressRule {
                        to: Some(vec![ns_peer("kube-system")]),
                        ports: Some(vec![port(53, "UDP"), port(53, "TCP")]),
                    }]),
                    policy_types: Some(vec!["Egress".to_owned()]),
                    ..NetworkPolicySpec::default()
                },
            ),
        ];
        if !np.egress.is_empty() {
            let rules = np
                .egress
                .iter()
                .map(|e| {
                    let peer = match (&e.cidr, &e.namespace) {
                        (Some(cidr), _) => NetworkPolicyPeer {
                            ip_block: Some(IPBlock {
                                cidr: cidr.clone(),
                                except: None,
                            }),
                            ..NetworkPolicyPeer::default()
                        },
                        (None, Some(n)) => ns_peer(n),
                        (None, None) => NetworkPolicyPeer::default(),
                    };
                    NetworkPolicyEgressRule {
                        to: Some(vec![peer]),
                        ports: (!e.ports.is_empty())
                            .then(|| e.ports.iter().map(|p| port(i32::from(*p), "TCP")).collect()),
                    }
                })
                .collect();
            policies.push(policy(
                "allow-egress",
                NetworkPolicySpec {
                    pod_selector: Some(all_pods.clone()),
                    egress: Some(rules),
                    policy_types: Some(vec!["Egress".to_owned()]),
                    ..NetworkPolicySpec::default()
                },
            ));
        }
        if !np.ingress_from_namespaces.is_empty() {
            policies.push(policy(
                "allow-ingress",
                NetworkPolicySpec {
                    pod_selector: Some(all_pods.clone()),
                    ingress: Some(vec![NetworkPolicyIngressRule {
                        from: Some(
                            np.ingress_from_namespaces
                                .iter()
                                .map(|n| ns_peer(n))
                                .collect(),
                        ),
                        ports: None,
                    }]),
                    policy_types: Some(vec!["Ingress".to_owned()]),
                    ..NetworkPolicySpec::default()
                },
            ));
        }
        for p in policies {
            let name = p.metadata.name.clone().unwrap_or_default();
            out.push(Manifest::new(
                &p,
                "NetworkPolicy",
                "networking.k8s.io/v1",
                &name,
                Some(ns),
            )?);
        }
    }

    for sa in k.service_account.iter().chain(k.service_accounts.iter()) {
        out.push(service_account(sa, ns, &labels)?);
    }
    for cm in &k.config_maps {
        let cm = cm.get_ref();
        let obj = ConfigMap {
            metadata: meta(&cm.name, Some(ns), &labels),
            data: Some(cm.data.clone()),
            ..ConfigMap::default()
        };
        out.push(Manifest::new(&obj, "ConfigMap", "v1", &cm.name, Some(ns))?);
    }
    for role in &k.roles {
        out.push(role_object(role.get_ref(), ns, &labels)?);
    }
    for binding in &k.role_bindings {
        out.push(role_binding(binding.get_ref(), ns, &labels)?);
    }
    for binding in &k.cluster_role_bindings {
        out.push(cluster_role_binding(binding.get_ref(), ns, &labels)?);
    }
    Ok(out)
}

fn service_account(
    sa: &ServiceAccountSpec,
    ns: &str,
    labels: &BTreeMap<String, String>,
) -> Result<Manifest, BundleError> {
    let mut all_labels = labels.clone();
    all_labels.extend(sa.labels.clone());
    let mut metadata = meta(&sa.name, Some(ns), &all_labels);
    metadata.annotations = (!sa.annotations.is_empty()).then(|| sa.annotations.clone());
    let obj = ServiceAccount {
        metadata,
        automount_service_account_token: Some(sa.automount_token),
        ..ServiceAccount::default()
    };
    Manifest::new(&obj, "ServiceAccount", "v1", &sa.name, Some(ns))
}

/// A Role, or a ClusterRole (cluster-scoped: no namespace).
fn role_object(
    role: &RoleSpec,
    ns: &str,
    labels: &BTreeMap<String, String>,
) -> Result<Manifest, BundleError> {
    let non_empty = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    let rules: Vec<PolicyRule> = role
        .rules
        .iter()
        .map(|r| PolicyRule {
            api_groups: non_empty(&r.api_groups),
            resources: non_empty(&r.resources),
            resource_names: non_empty(&r.resource_names),
            verbs: r.verbs.clone(),
            ..PolicyRule::default()
        })
        .collect();
    if role.cluster {
        let obj = ClusterRole {
            metadata: meta(&role.name, None, labels),
            rules: Some(rules),
            ..ClusterRole::default()
        };
        Manifest::new(&obj, "ClusterRole", RBAC_VERSION, &role.name, None)
    } else {
        let obj = Role {
            metadata: meta(&role.name, Some(ns), labels),
            rules: Some(rules),
        };
        Manifest::new(&obj, "Role", RBAC_VERSION, &role.name, Some(ns))
    }
}

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
const RBAC_VERSION: &str = "rbac.authorization.k8s.io/v1";

/// Binding subjects; a ServiceAccount without a namespace is one of `ns`.
fn subjects(subjects: &[SubjectSpec], ns: &str) -> Vec<Subject> {
    subjects
        .iter()
        .map(|s| {
            let service_account = s.kind == "ServiceAccount";
            Subject {
                kind: s.kind.clone(),
                name: s.name.clone(),
                namespace: service_account
                    .then(|| s.namespace.clone().unwrap_or_else(|| ns.to_owned())),
                api_group: (!service_account).then(|| RBAC_GROUP.to_owned()),
            }
        })
        .collect()
}

fn role_ref(kind: &str, name: &str) -> RoleRef {
    RoleRef {
        api_group: RBAC_GROUP.to_owned(),
        kind: kind.to_owned(),
        name: name.to_owned(),
    }
}

fn role_binding(
    b: &RoleBindingSpec,
    ns: &str,
    labels: &BTreeMap<String, String>,
) -> Result<Manifest, BundleError> {
    let kind = if b.cluster_role {
        "ClusterRole"
    } else {
        "Role"
    };
    let obj = RoleBinding {
        metadata: meta(&b.name, Some(ns), labels),
        role_ref: role_ref(kind, &b.role),
        subjects: Some(subjects(&b.subjects, ns)),
    };
    Manifest::new(&obj, "RoleBinding", RBAC_VERSION, &b.name, Some(ns))
}

/// A ClusterRoleBinding (cluster-scoped: no namespace; its subjects keep theirs).
fn cluster_role_binding(
    b: &ClusterRoleBindingSpec,
    ns: &str,
    labels: &BTreeMap<String, String>,
) -> Result<Manifest, BundleError> {
    let obj = ClusterRoleBinding {
        metadata: meta(&b.name, None, labels),
        role_ref: role_ref("ClusterRole", &b.role),
        subjects: Some(subjects(&b.subjects, ns)),
    };
    Manifest::new(&obj, "ClusterRoleBinding", RBAC_VERSION, &b.name, None)
}

/// The key → value pairs of one Secret object.
pub fn object_data(
    obj: &KubeSecretSpec,
    values: &Values,
) -> Result<BTreeMap<String, Secret>, BundleError> {
    let mut data = BTreeMap::new();
    for (key, literal) in &obj.literals {
        data.insert(key.clone(), Secret::new(literal.clone()));
    }
    for (key, secret) in &obj.keys {
        let v = values
            .get(secret)
            .ok_or_else(|| BundleError::MissingValue {
                object: obj.name.clone(),
                key: key.clone(),
                secret: secret.clone(),
            })?;
        data.insert(key.clone(), v.clone());
    }
    // Templates read the object's own keys, never another template.
    let mut assembled = BTreeMap::new();
    for (key, text) in &obj.templates {
        let value = template::render(text, &data).map_err(|source| BundleError::Template {
            object: obj.name.clone(),
            key: key.clone(),
            source,
        })?;
        assembled.insert(key.clone(), value);
    }
    data.extend(assembled);
    Ok(data)
}

/// Fingerprint of a whole object's values (keys and values, in key order).
pub fn data_fingerprint(data: &BTreeMap<String, Secret>) -> String {
    let mut joined = String::new();
    for (k, v) in data {
        joined.push_str(k);
        joined.push('\0');
        joined.push_str(&fingerprint(v));
        joined.push('\0');
    }
    fingerprint(&Secret::new(joined))
}

/// `SealedSecret` (bitnami.com/v1alpha1): not in k8s-openapi, so a small typed struct.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SealedSecret {
    api_version: &'static str,
    kind: &'static str,
    metadata: ObjectMeta,
    spec: SealedSecretSpec,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SealedSecretSpec {
    encrypted_data: BTreeMap<String, String>,
    template: SealedTemplate,
}

#[derive(Debug, Serialize)]
struct SealedTemplate {
    metadata: ObjectMeta,
    #[serde(rename = "type")]
    type_: &'static str,
}

/// `ExternalSecret` (external-secrets.io/v1).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ExternalSecret {
    api_version: &'static str,
    kind: &'static str,
    metadata: ObjectMeta,
    spec: ExternalSecretSpec,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ExternalSecretSpec {
    refresh_interval: &'static str,
    secret_store_ref: StoreRef,
    target: ExternalTarget,
    data: Vec<ExternalData>,
}

#[derive(Debug, Serialize)]
struct StoreRef {
    name: String,
    kind: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ExternalTarget {
    name: String,
    creation_policy: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    template: Option<ExternalTemplate>,
}

/// Keys assembled by the controller; `Merge` keeps the fetched keys beside them, as the
/// Secret and sealed renderings do.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ExternalTemplate {
    engine_version: &'static str,
    merge_policy: &'static str,
    data: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ExternalData {
    secret_key: String,
    remote_ref: RemoteRef,
}

/// Where one key of an object lives in the external store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemoteRef {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
}

/// The store location of every fetched key of an object (templates are assembled, not
/// fetched): its `remote` entry, or else the object's key and the key's name as property
/// (no property when the object holds a single key: the whole secret string).
pub fn remote_refs(spec: &EnvSpec, obj: &KubeSecretSpec) -> BTreeMap<String, RemoteRef> {
    let fetched: Vec<&String> = obj.keys.keys().chain(obj.literals.keys()).collect();
    let single = fetched.len() == 1;
    let default_key = remote_key(spec, obj);
    fetched
        .into_iter()
        .map(|k| {
            let r = match obj.remote.get(k) {
                Some(r) => RemoteRef {
                    key: r.key.clone(),
                    property: r.property.clone(),
                },
                None => RemoteRef {
                    key: default_key.clone(),
                    property: (!single).then(|| k.clone()),
                },
            };
            (k.clone(), r)
        })
        .collect()
}

/// Where an object's values live in an external store.
pub fn remote_key(spec: &EnvSpec, obj: &KubeSecretSpec) -> String {
    obj.remote_key
        .clone()
        .unwrap_or_else(|| format!("{}/{}", spec.environment.get_ref(), obj.name))
}

/// How secret objects are rendered for one delivery.
pub enum SecretRendering<'a> {
    Plain,
    Sealed(&'a dyn Sealer),
    External { store: &'a str, store_kind: &'a str },
}

impl SecretRendering<'_> {
    pub fn format(&self) -> SecretFormat {
        match self {
            SecretRendering::Plain => SecretFormat::Secret,
            SecretRendering::Sealed(_) => SecretFormat::Sealed,
            SecretRendering::External { .. } => SecretFormat::External,
        }
    }
}

/// The secret objects of one namespace bundle, rendered for one delivery.
pub fn secret_objects(
    spec: &EnvSpec,
    k: &KubeSpec,
    values: &Values,
    rendering: &SecretRendering<'_>,
) -> Result<Vec<Manifest>, BundleError> {
    let ns = k.namespace.get_ref().as_str();
    let labels = BTreeMap::from([(
        "restage.io/environment".to_owned(),
        spec.environment.get_ref().clone(),
    )]);
    let mut out = Vec::new();
    for obj in &k.secrets {
        let obj = obj.get_ref();
        let data = object_data(obj, values)?;
        let fp = data_fingerprint(&data);
        let mut m = meta(&obj.name, Some(ns), &labels);
        let mut manifest = match rendering {
            SecretRendering::Plain => {
                m.annotations = Some(BTreeMap::from([(
                    FINGERPRINT_ANNOTATION.to_owned(),
                    fp.clone(),
                )]));
                let secret = KubeSecret {
                    metadata: m,
                    data: Some(
                        data.iter()
                            .map(|(k, v)| (k.clone(), ByteString(v.expose().as_bytes().to_vec())))
                            .collect(),
                    ),
                    type_: Some("Opaque".to_owned()),
                    ..KubeSecret::default()
                };
                let mut man = Manifest::new(&secret, "Secret", "v1", &obj.name, Some(ns))?;
                man.plaintext_secret = true;
                man
            }
            SecretRendering::Sealed(sealer) => {
                m.annotations = Some(BTreeMap::from([(
                    FINGERPRINT_ANNOTATION.to_owned(),
                    fp.clone(),
                )]));
                let mut encrypted = BTreeMap::new();
                for (key, v) in &data {
                    encrypted.insert(key.clone(), sealer.seal(ns, &obj.name, v)?);
                }
                let sealed = SealedSecret {
                    api_version: "bitnami.com/v1alpha1",
                    kind: "SealedSecret",
                    metadata: m,
                    spec: SealedSecretSpec {
                        encrypted_data: encrypted,
                        template: SealedTemplate {
                            metadata: meta(&obj.name, Some(ns), &labels),
                            type_: "Opaque",
                        },
                    },
                };
                Manifest::new(
                    &sealed,
                    "SealedSecret",
                    "bitnami.com/v1alpha1",
                    &obj.name,
                    Some(ns),
                )?
            }
            SecretRendering::External { store, store_kind } => {
                let ext = ExternalSecret {
                    api_version: "external-secrets.io/v1",
                    kind: "ExternalSecret",
                    metadata: m,
                    spec: ExternalSecretSpec {
                        refresh_interval: "1h",
                        secret_store_ref: StoreRef {
                            name: (*store).to_owned(),
                            kind: (*store_kind).to_owned(),
                        },
                        target: ExternalTarget {
                            name: obj.name.clone(),
                            creation_policy: "Owner",
                            template: (!obj.templates.is_empty()).then(|| ExternalTemplate {
                                engine_version: "v2",
                                merge_policy: "Merge",
                                data: obj.templates.clone(),
                            }),
                        },
                        data: remote_refs(spec, obj)
                            .into_iter()
                            .map(|(k, r)| ExternalData {
                                secret_key: k,
                                remote_ref: r,
                            })
                            .collect(),
                    },
                };
                Manifest::new(
                    &ext,
                    "ExternalSecret",
                    "external-secrets.io/v1",
                    &obj.name,
                    Some(ns),
                )?
            }
        };
        manifest.values_fingerprint = Some(fp);
        out.push(manifest);
    }
    Ok(out)
}
