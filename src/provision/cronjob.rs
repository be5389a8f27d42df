//! The monthly refresh as Kubernetes objects: the CronJob running `restage refresh`, the
//! ConfigMap holding the spec, rules and seed files it reads (mounted at [`MOUNT_DIR`] under
//! the relative names the spec gives them), and, when the bundle denies egress by default,
//! the NetworkPolicy that lets the job reach the two database ports. Connection URLs and the
//! sanitizing key come from Secrets as the environment variables the spec names, never on
//! the command line; temporary files go to an emptyDir, since the root filesystem is
//! read-only.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapVolumeSource, Container, EmptyDirVolumeSource, EnvVar,
    EnvVarSource, KeyToPath, PodSecurityContext, PodSpec, PodTemplateSpec, ResourceRequirements,
    SeccompProfile, SecretKeySelector, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::bundle::{BundleError, Manifest, MANAGED_BY};
use super::quantity;
use super::spec::{EnvSpec, LoadedSpec, RefreshSpec, SecretKeyRef};

/// Where the ConfigMap is mounted; the spec's relative paths resolve against it.
pub const MOUNT_DIR: &str = "/etc/restage";
/// The spec's name inside [`MOUNT_DIR`].
pub const SPEC_FILE: &str = "env.toml";
/// The writable directory (an emptyDir) for temporary files.
pub const TMP_DIR: &str = "/tmp";
/// The user the image runs as (the `Dockerfile`'s).
pub const RUN_AS: i64 = 10001;
/// Container resources when `[refresh]` names none.
const DEFAULT_CPU: &str = "1";
const DEFAULT_MEMORY: &str = "1Gi";
/// `activeDeadlineSeconds` when `[refresh]` names none: a hung refresh ends after 4 hours.
const DEFAULT_DEADLINE_SECONDS: u32 = 4 * 3600;
/// A ConfigMap holds at most 1 MiB.
const CONFIGMAP_LIMIT: usize = 1024 * 1024;
/// The label the NetworkPolicy selects the job's pods by.
const NAME_LABEL: &str = "app.kubernetes.io/name";
const NAME: &str = "restage-refresh";

#[derive(Debug, thiserror::Error)]
pub enum CronJobError {
    #[error("{spec} has no [refresh] section (rules, schedule, image, source_secret, target_secret, key_secret)")]
    NoRefresh { spec: String },
    #[error("{spec}: the refresh CronJob needs {}", missing.join(", "))]
    Missing { spec: String, missing: Vec<String> },
    #[error("{spec}: {message}")]
    Invalid { spec: String, message: String },
    #[error("cannot read {path} ([refresh] {field}): {source}")]
    Read {
        field: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Bundle(#[from] BundleError),
}

/// One file of the ConfigMap: its key, the path it is mounted at (relative to
/// [`MOUNT_DIR`]), its content.
#[derive(Debug, Clone)]
pub struct MountedFile {
    pub key: String,
    pub path: String,
    pub content: String,
}

/// The name shared by the CronJob, its ConfigMap and its NetworkPolicy.
pub fn object_name(spec: &EnvSpec) -> String {
    format!("{NAME}-{}", spec.environment.get_ref())
}

fn namespace(spec: &EnvSpec) -> String {
    spec.primary_namespace()
        .map(str::to_owned)
        .unwrap_or_else(|| spec.environment.get_ref().clone())
}

fn labels(spec: &EnvSpec) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY.0.to_owned(), MANAGED_BY.1.to_owned()),
        (NAME_LABEL.to_owned(), NAME.to_owned()),
        (
            "restage.io/environment".to_owned(),
            spec.environment.get_ref().clone(),
        ),
    ])
}

fn meta(spec: &EnvSpec) -> ObjectMeta {
    ObjectMeta {
        name: Some(object_name(spec)),
        namespace: Some(namespace(spec)),
        labels: Some(labels(spec)),
        ..ObjectMeta::default()
    }
}

/// A path from the spec as it is mounted: relative, inside the mount, `.` dropped; `None`
/// when it cannot be mounted (absolute, or reaching out with `..`).
pub fn mounted_path(text: &str) -> Option<String> {
    let mut parts = Vec::new();
    for c in Path::new(text).components() {
        match c {
            Component::Normal(p) => parts.push(p.to_str()?.to_owned()),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// The spec, the rules file and the seed file, as the job sees them.
pub fn mounted_files(loaded: &LoadedSpec) -> Result<Vec<MountedFile>, CronJobError> {
    let invalid = |message: String| CronJobError::Invalid {
        spec: loaded.path.clone(),
        message,
    };
    let spec_text = std::fs::read_to_string(&loaded.path).map_err(|source| CronJobError::Read {
        field: "spec",
        path: loaded.path.clone(),
        source,
    })?;
    let mut files = vec![MountedFile {
        key: SPEC_FILE.to_owned(),
        path: SPEC_FILE.to_owned(),
        content: spec_text,
    }];
    let Some(refresh) = &loaded.spec.refresh else {
        return Ok(files);
    };
    for (field, path) in refresh.files() {
        let Some(path) = path else { continue };
        let text = path.get_ref();
        let Some(relative) = mounted_path(text) else {
            return Err(invalid(format!(
                "[refresh] {field} = {text:?} must be a path relative to the spec file's directory, without `..`: the CronJob mounts it under {MOUNT_DIR} by that name"
            )));
        };
        let content =
            std::fs::read_to_string(loaded.resolve(text)).map_err(|source| CronJobError::Read {
                field,
                path: loaded.resolve(text).display().to_string(),
                source,
            })?;
        // ConfigMap keys allow no `/`; the mount's items put each key back at its path.
        let key = relative.replace('/', "_");
        if files.iter().any(|f| f.key == key || f.path == relative) {
            return Err(invalid(format!(
                "[refresh] {field} = {text:?} collides with another mounted file ({SPEC_FILE} is the spec)"
            )));
        }
        files.push(MountedFile {
            key,
            path: relative,
            content,
        });
    }
    let size: usize = files.iter().map(|f| f.key.len() + f.content.len()).sum();
    if size > CONFIGMAP_LIMIT {
        return Err(invalid(format!(
            "the spec, rules and seed files take {size} bytes; a ConfigMap holds at most {CONFIGMAP_LIMIT}"
        )));
    }
    Ok(files)
}

fn env_from(name: &str, r: &SecretKeyRef) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: r.name.clone(),
                key: r.key.clone(),
                optional: Some(false),
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

fn env_value(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value.to_owned()),
        ..EnvVar::default()
    }
}

/// What the CronJob needs beyond what `restage refresh` needs, all present.
struct Complete<'a> {
    schedule: &'a str,
    image: &'a str,
    /// (environment variable, Secret) for production, the staging admin and the key.
    env: [(&'a str, &'a SecretKeyRef); 3],
}

fn complete<'a>(
    loaded: &'a LoadedSpec,
    refresh: &'a RefreshSpec,
) -> Result<Complete<'a>, CronJobError> {
    let spec = &loaded.spec;
    let source_env = spec
        .source
        .as_ref()
        .and_then(|s| s.url_env.as_ref())
        .map(|v| v.get_ref().as_str());
    let target_env = spec
        .target
        .admin_url_env
        .as_ref()
        .map(|v| v.get_ref().as_str());
    let mut missing = Vec::new();
    let mut need = |present: bool, what: &str| {
        if !present {
            missing.push(what.to_owned());
        }
    };
    need(refresh.rules.is_some(), "[refresh] rules");
    need(refresh.schedule.is_some(), "[refresh] schedule");
    need(refresh.image.is_some(), "[refresh] image");
    need(refresh.source_secret.is_some(), "[refresh] source_secret");
    need(refresh.target_secret.is_some(), "[refresh] target_secret");
    need(refresh.key_secret.is_some(), "[refresh] key_secret");
    need(source_env.is_some(), "[source] url_env");
    need(target_env.is_some(), "[target] admin_url_env");
    match (
        &refresh.schedule,
        &refresh.image,
        source_env,
        &refresh.source_secret,
        target_env,
        &refresh.target_secret,
        &refresh.key_secret,
    ) {
        (
            Some(schedule),
            Some(image),
            Some(source_env),
            Some(source),
            Some(target_env),
            Some(target),
            Some(key),
        ) if missing.is_empty() => Ok(Complete {
            schedule,
            image,
            env: [
                (source_env, source),
                (target_env, target),
                (refresh.key_env.as_str(), key),
            ],
        }),
        _ => Err(CronJobError::Missing {
            spec: loaded.path.clone(),
            missing,
        }),
    }
}

/// The container's CPU and memory (request = limit), checked against the namespace's
/// LimitRange maximum and ResourceQuota.
fn resources(loaded: &LoadedSpec, refresh: &RefreshSpec) -> Result<(String, String), CronJobError> {
    let cpu = refresh
        .cpu
        .clone()
        .unwrap_or_else(|| DEFAULT_CPU.to_owned());
    let memory = refresh
        .memory
        .clone()
        .unwrap_or_else(|| DEFAULT_MEMORY.to_owned());
    let kube = loaded.spec.kubernetes.as_ref();
    let max = kube.and_then(|k| k.limit_range.as_ref());
    let quota = kube.and_then(|k| k.quota.as_ref());
    let ceilings = [
        (
            "cpu",
            &cpu,
            max.and_then(|m| m.max_cpu.as_deref()),
            "limit_range.max_cpu",
        ),
        ("cpu", &cpu, quota.map(|q| q.cpu.as_str()), "quota.cpu"),
        (
            "memory",
            &memory,
            max.and_then(|m| m.max_memory.as_deref()),
            "limit_range.max_memory",
        ),
        (
            "memory",
            &memory,
            quota.map(|q| q.memory.as_str()),
            "quota.memory",
        ),
    ];
    for (field, value, ceiling, ceiling_name) in ceilings {
        let Some(v) = quantity::parse(value) else {
            return Err(CronJobError::Invalid {
                spec: loaded.path.clone(),
                message: format!("[refresh] {field} = {value:?} is not a Kubernetes quantity (e.g. \"500m\", \"2Gi\")"),
            });
        };
        if let Some(ceiling) = ceiling {
            if quantity::parse(ceiling).is_some_and(|c| v > c) {
                return Err(CronJobError::Invalid {
                    spec: loaded.path.clone(),
                    message: format!(
                        "[refresh] {field} = {value:?} exceeds the namespace's {ceiling_name} = {ceiling:?}: its pods would be refused"
                    ),
                });
            }
        }
    }
    Ok((cpu, memory))
}

fn cronjob(
    loaded: &LoadedSpec,
    refresh: &RefreshSpec,
    files: &[MountedFile],
) -> Result<CronJob, CronJobError> {
    let spec = &loaded.spec;
    let complete = complete(loaded, refresh)?;
    let (cpu, memory) = resources(loaded, refresh)?;
    let service_account = spec
        .kubernetes
        .as_ref()
        .and_then(|k| k.service_account.as_ref())
        .map(|s| s.name.clone());
    let mut args = vec![
        "refresh".to_owned(),
        "--env".to_owned(),
        format!("{MOUNT_DIR}/{SPEC_FILE}"),
    ];
    args.extend(refresh.args.iter().cloned());
    let mut env: Vec<EnvVar> = complete
        .env
        .iter()
        .map(|(var, secret)| env_from(var, secret))
        .collect();
    env.push(env_value("TMPDIR", TMP_DIR));
    let amount = BTreeMap::from([
        ("cpu".to_owned(), Quantity(cpu)),
        ("memory".to_owned(), Quantity(memory)),
    ]);
    let container = Container {
        name: "restage".to_owned(),
        image: Some(complete.image.to_owned()),
        command: Some(vec!["restage".to_owned()]),
        args: Some(args),
        env: Some(env),
        resources: Some(ResourceRequirements {
            requests: Some(amount.clone()),
            limits: Some(amount),
            ..ResourceRequirements::default()
        }),
        volume_mounts: Some(vec![
            VolumeMount {
                name: "config".to_owned(),
                mount_path: MOUNT_DIR.to_owned(),
                read_only: Some(true),
                ..VolumeMount::default()
            },
            VolumeMount {
                name: "tmp".to_owned(),
                mount_path: TMP_DIR.to_owned(),
                ..VolumeMount::default()
            },
        ]),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".to_owned()]),
                ..Capabilities::default()
            }),
            ..SecurityContext::default()
        }),
        ..Container::default()
    };
    let volumes = vec![
        Volume {
            name: "config".to_owned(),
            config_map: Some(ConfigMapVolumeSource {
                name: object_name(spec),
                items: Some(
                    files
                        .iter()
                        .map(|f| KeyToPath {
                            key: f.key.clone(),
                            path: f.path.clone(),
                            mode: None,
                        })
                        .collect(),
                ),
                default_mode: Some(0o444),
                optional: Some(false),
            }),
            ..Volume::default()
        },
        Volume {
            name: "tmp".to_owned(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Volume::default()
        },
    ];
    let pod = PodSpec {
        restart_policy: Some("Never".to_owned()),
        service_account_name: service_account,
        // The job talks to PostgreSQL only, never to the API server.
        automount_service_account_token: Some(false),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(RUN_AS),
            run_as_group: Some(RUN_AS),
            fs_group: Some(RUN_AS),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".to_owned(),
                ..SeccompProfile::default()
            }),
            ..PodSecurityContext::default()
        }),
        containers: vec![container],
        volumes: Some(volumes),
        ..PodSpec::default()
    };
    Ok(CronJob {
        metadata: meta(spec),
        spec: Some(CronJobSpec {
            schedule: complete.schedule.to_owned(),
            // A refresh still running when the next is due must not race it for the swap.
            concurrency_policy: Some("Forbid".to_owned()),
            successful_jobs_history_limit: Some(3),
            failed_jobs_history_limit: Some(3),
            job_template: JobTemplateSpec {
                metadata: None,
                spec: Some(JobSpec {
                    // A failed refresh left staging untouched; retrying blindly would only
                    // hide why it failed.
                    backoff_limit: Some(0),
                    active_deadline_seconds: Some(i64::from(
                        refresh
                            .active_deadline_seconds
                            .unwrap_or(DEFAULT_DEADLINE_SECONDS),
                    )),
                    template: PodTemplateSpec {
                        metadata: Some(ObjectMeta {
                            labels: Some(labels(spec)),
                            ..ObjectMeta::default()
                        }),
                        spec: Some(pod),
                    },
                    ..JobSpec::default()
                }),
            },
            ..CronJobSpec::default()
        }),
        ..CronJob::default()
    })
}

/// Egress to production's and the staging server's ports for the job's pods, needed when
/// the bundle's default-deny policy is in place.
fn network_policy(spec: &EnvSpec, refresh: &RefreshSpec) -> NetworkPolicy {
    let source = refresh.source_port.unwrap_or(5432);
    let target = refresh.target_port.or(spec.target.app_port).unwrap_or(5432);
    let mut ports = vec![source];
    if target != source {
        ports.push(target);
    }
    NetworkPolicy {
        metadata: meta(spec),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([
                    (NAME_LABEL.to_owned(), NAME.to_owned()),
                    (
                        "restage.io/environment".to_owned(),
                        spec.environment.get_ref().clone(),
                    ),
                ])),
                ..LabelSelector::default()
            }),
            egress: Some(vec![NetworkPolicyEgressRule {
                to: None,
                ports: Some(
                    ports
                        .into_iter()
                        .map(|p| NetworkPolicyPort {
                            port: Some(IntOrString::Int(i32::from(p))),
                            protocol: Some("TCP".to_owned()),
                            ..NetworkPolicyPort::default()
                        })
                        .collect(),
                ),
            }]),
            policy_types: Some(vec!["Egress".to_owned()]),
            ..NetworkPolicySpec::default()
        }),
    }
}

/// The ConfigMap, the NetworkPolicy (when the bundle denies egress) and the CronJob.
pub fn manifests(loaded: &LoadedSpec) -> Result<Vec<Manifest>, CronJobError> {
    let spec = &loaded.spec;
    let Some(refresh) = &spec.refresh else {
        return Err(CronJobError::NoRefresh {
            spec: loaded.path.clone(),
        });
    };
    let files = mounted_files(loaded)?;
    let name = object_name(spec);
    let ns = namespace(spec);
    let job = cronjob(loaded, refresh, &files)?;
    let config = ConfigMap {
        metadata: meta(spec),
        data: Some(
            files
                .iter()
                .map(|f| (f.key.clone(), f.content.clone()))
                .collect(),
        ),
        ..ConfigMap::default()
    };
    let mut out = vec![Manifest::new(&config, "ConfigMap", "v1", &name, Some(&ns))?];
    let denies_egress = spec
        .kubernetes
        .as_ref()
        .is_some_and(|k| k.network_policy.is_some());
    if denies_egress {
        out.push(Manifest::new(
            &network_policy(spec, refresh),
            "NetworkPolicy",
            "networking.k8s.io/v1",
            &name,
            Some(&ns),
        )?);
    }
    out.push(Manifest::new(
        &job,
        "CronJob",
        "batch/v1",
        &name,
        Some(&ns),
    )?);
    Ok(out)
}

/// The objects as one YAML stream.
pub fn render(loaded: &LoadedSpec) -> Result<String, CronJobError> {
    let mut out = String::new();
    for m in manifests(loaded)? {
        out.push_str("---\n");
        out.push_str(&m.to_yaml()?);
    }
    Ok(out)
}
