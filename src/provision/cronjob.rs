//! The monthly refresh as a Kubernetes CronJob: `restage clone` with the source and target
//! URLs taken from Secrets (as `RESTAGE_SOURCE`/`RESTAGE_TARGET`, never on the command line).

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{
    Container, EnvVar, EnvVarSource, PodSpec, PodTemplateSpec, SecretKeySelector, SecurityContext,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::bundle::{BundleError, MANAGED_BY};
use super::spec::{EnvSpec, RefreshSpec, SecretKeyRef};

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

/// The CronJob object.
pub fn cronjob(spec: &EnvSpec, refresh: &RefreshSpec) -> CronJob {
    let namespace = spec
        .kubernetes
        .as_ref()
        .map(|k| k.namespace.get_ref().clone())
        .unwrap_or_else(|| spec.environment.get_ref().clone());
    let service_account = spec
        .kubernetes
        .as_ref()
        .and_then(|k| k.service_account.as_ref())
        .map(|s| s.name.clone());
    let name = format!("restage-refresh-{}", spec.environment.get_ref());
    let labels = BTreeMap::from([
        (MANAGED_BY.0.to_owned(), MANAGED_BY.1.to_owned()),
        (
            "restage.io/environment".to_owned(),
            spec.environment.get_ref().clone(),
        ),
    ]);
    let mut args = vec![
        "clone".to_owned(),
        "--clean".to_owned(),
        "--quiet".to_owned(),
    ];
    args.extend(refresh.args.iter().cloned());
    let container = Container {
        name: "restage".to_owned(),
        image: refresh.image.clone(),
        args: Some(args),
        env: Some(
            [
                ("RESTAGE_SOURCE", &refresh.source_secret),
                ("RESTAGE_TARGET", &refresh.target_secret),
            ]
            .into_iter()
            .filter_map(|(name, r)| r.as_ref().map(|r| env_from(name, r)))
            .collect(),
        ),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            ..SecurityContext::default()
        }),
        ..Container::default()
    };
    CronJob {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(namespace),
            labels: Some(labels.clone()),
            ..ObjectMeta::default()
        },
        spec: Some(CronJobSpec {
            schedule: refresh.schedule.clone().unwrap_or_default(),
            concurrency_policy: Some("Forbid".to_owned()),
            successful_jobs_history_limit: Some(3),
            failed_jobs_history_limit: Some(3),
            job_template: JobTemplateSpec {
                metadata: None,
                spec: Some(JobSpec {
                    backoff_limit: Some(0),
                    template: PodTemplateSpec {
                        metadata: Some(ObjectMeta {
                            labels: Some(labels),
                            ..ObjectMeta::default()
                        }),
                        spec: Some(PodSpec {
                            restart_policy: Some("Never".to_owned()),
                            service_account_name: service_account,
                            containers: vec![container],
                            ..PodSpec::default()
                        }),
                    },
                    ..JobSpec::default()
                }),
            },
            ..CronJobSpec::default()
        }),
        ..CronJob::default()
    }
}

/// The CronJob as YAML.
pub fn render(spec: &EnvSpec, refresh: &RefreshSpec) -> Result<String, BundleError> {
    let missing: Vec<&str> = [
        ("schedule", refresh.schedule.is_none()),
        ("image", refresh.image.is_none()),
        ("source_secret", refresh.source_secret.is_none()),
        ("target_secret", refresh.target_secret.is_none()),
    ]
    .into_iter()
    .filter_map(|(field, absent)| absent.then_some(field))
    .collect();
    if !missing.is_empty() {
        return Err(BundleError::Incomplete(format!(
            "[refresh] lacks what the CronJob needs: {}",
            missing.join(", ")
        )));
    }
    serde_yaml::to_string(&cronjob(spec, refresh))
        .map_err(|e| BundleError::Serialize(e.to_string()))
}
