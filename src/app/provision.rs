//! `restage provision`: spec → lock → guards → values (reused, generated, supplied,
//! derived) → PostgreSQL → deliveries → plan. Never imports the data path.

use std::collections::BTreeSet;

use super::run::{provision_failure, spec_connection};
use super::Failure;
use crate::cli::ProvisionArgs;
use crate::conn::ConnSpec;
use crate::exit;
use crate::provision::deliver::{self, DeliverError};
use crate::provision::plan::{Op, Plan, Rotation};
use crate::provision::postgres::{self, MigrationsRole, PgTask};
use crate::provision::secrets::{self, AppConnection, SecretError};
use crate::provision::spec::{self, DeliveryKind, LoadedSpec, SpecError};
use crate::provision::{cronjob, guards};

const APPLICATION_NAME: &str = "restage-provision";

pub fn run(args: &ProvisionArgs) -> Result<(), Failure> {
    let loaded =
        spec::load(&args.env).map_err(|e: SpecError| Failure::new(exit::USAGE, e.to_string()))?;
    let spec = &loaded.spec;

    if args.print_cronjob {
        let yaml = cronjob::render(&loaded).map_err(|e| match e {
            cronjob::CronJobError::NoRefresh { .. }
            | cronjob::CronJobError::Missing { .. }
            | cronjob::CronJobError::Invalid { .. } => Failure::new(exit::USAGE, e.to_string()),
            _ => Failure::new(exit::FAILURE, e.to_string()),
        })?;
        print!("{yaml}");
        return Ok(());
    }

    for name in &args.rotate {
        let generated = spec
            .secrets
            .get(name)
            .is_some_and(|s| s.get_ref().generate.is_some());
        if !generated {
            return Err(Failure::new(
                exit::USAGE,
                format!("--rotate {name}: not a generated secret in {}", loaded.path),
            ));
        }
    }

    let admin = spec_connection(
        "[target] admin",
        spec.target.admin_url_env.as_ref(),
        spec.target.admin_url.as_ref(),
    )?;
    let source = match &spec.source {
        Some(s) => Some(spec_connection(
            "[source]",
            s.url_env.as_ref(),
            s.url.as_ref(),
        )?),
        None => None,
    };
    let dry_run = args.dry_run || args.check;
    if args.kube_state.is_some() && !dry_run {
        return Err(Failure::new(
            exit::USAGE,
            "--kube-state only plans: use it with --dry-run or --check",
        ));
    }
    let kube_state = match &args.kube_state {
        Some(path) => Some(
            deliver::KubeState::load(path).map_err(|e| Failure::new(exit::USAGE, e.to_string()))?,
        ),
        None => None,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(exit::FAILURE, format!("cannot start a runtime: {e}")))?;
    let (plan, stdout_docs) = rt.block_on(execute(
        &loaded,
        &admin,
        source.as_ref(),
        args,
        dry_run,
        kube_state.as_ref(),
    ))?;

    // A JSON delivery on stdout owns stdout; the plan then goes to stderr.
    let stdout_delivery = spec.delivery.iter().any(|d| {
        let d = d.get_ref();
        d.kind() == DeliveryKind::Json && d.path.as_deref().is_none_or(|p| p == "-")
    });
    let text = if args.json {
        Some(format!("{}\n", plan.to_json()))
    } else if !args.quiet {
        Some(plan.render())
    } else {
        None
    };
    if let Some(text) = text {
        if stdout_delivery {
            eprint!("{text}");
        } else {
            print!("{text}");
        }
    }
    for doc in stdout_docs {
        print!("{doc}");
    }
    // A dry run planned a change this admin cannot make: not drift that a run would fix.
    if let Some(message) = &plan.cannot {
        return Err(Failure::new(exit::PRIVILEGES, message.clone()));
    }
    if args.check && plan.pending() > 0 {
        return Err(Failure::new(
            exit::DRIFT,
            format!(
                "{} change(s) pending for environment {}",
                plan.pending(),
                spec.environment.get_ref()
            ),
        ));
    }
    Ok(())
}

fn deliver_failure(e: DeliverError) -> Failure {
    Failure::new(exit::FAILURE, e.to_string())
}

async fn execute(
    loaded: &LoadedSpec,
    admin: &ConnSpec,
    source: Option<&ConnSpec>,
    args: &ProvisionArgs,
    dry_run: bool,
    kube_state: Option<&deliver::KubeState>,
) -> Result<(Plan, Vec<String>), Failure> {
    let spec = &loaded.spec;
    let dbname = spec.database.name.get_ref().as_str();
    let client = admin
        .connect(APPLICATION_NAME)
        .await
        .map_err(|e| Failure::new(exit::CONNECTION, format!("target: {e}")))?;
    tracing::info!(
        "{}: waiting for the provisioning lock of {dbname}",
        admin.masked()
    );
    postgres::lock(&client, dbname)
        .await
        .map_err(provision_failure)?;
    tracing::info!("lock taken");

    // Guards against production.
    let mut shared_production_db = None;
    if let Some(source) = source {
        let src = source
            .connect(APPLICATION_NAME)
            .await
            .map_err(|e| Failure::new(exit::CONNECTION, format!("source: {e}")))?;
        let source_id = guards::identify(&src)
            .await
            .map_err(|e| Failure::new(exit::FAILURE, e.to_string()))?;
        let target_id = guards::identify(&client)
            .await
            .map_err(|e| Failure::new(exit::FAILURE, e.to_string()))?;
        guards::check_target(source, &source_id, admin, &target_id, dbname)
            .map_err(|e| Failure::new(exit::REFUSED, e.to_string()))?;
        if guards::same_instance(source, &source_id, admin, &target_id) {
            shared_production_db = Some(source_id.database.clone());
        }
    }

    // Values: reuse what the deliveries hold, generate what is missing or rotated.
    let existing = deliver::read_existing(loaded, kube_state)
        .await
        .map_err(deliver_failure)?;
    let conn = AppConnection {
        host: spec
            .target
            .app_host
            .clone()
            .unwrap_or_else(|| admin.host().as_str().to_owned()),
        port: spec.target.app_port.unwrap_or(admin.port()),
        username: spec.database.app_role.get_ref().clone(),
        dbname: dbname.to_owned(),
        sslmode: spec
            .target
            .app_sslmode
            .as_ref()
            .map(|s| s.get_ref().clone()),
    };
    let env = |name: &str| std::env::var(name).ok();
    let values =
        secrets::resolve(spec, &existing, &args.rotate, &conn, &env).map_err(|e| match e {
            SecretError::MissingEnv { .. } | SecretError::Pattern { .. } => {
                Failure::new(exit::USAGE, e.to_string())
            }
            SecretError::Random | SecretError::Alphabet(_) => {
                Failure::new(exit::FAILURE, e.to_string())
            }
            SecretError::PatternMismatch { .. } | SecretError::SameAsProduction { .. } => {
                Failure::new(exit::REFUSED, e.to_string())
            }
        })?;
    if let Some(source) = source {
        guards::check_values_against_source(source, &values)
            .map_err(|e| Failure::new(exit::REFUSED, e.to_string()))?;
    }
    let password = values
        .get(spec.database.password_secret.get_ref())
        .cloned()
        .ok_or_else(|| Failure::new(exit::FAILURE, "the app role's password has no value"))?;

    let migrations_password = match &spec.database.migrations_password_secret {
        Some(secret) => Some(values.get(secret.get_ref()).cloned().ok_or_else(|| {
            Failure::new(exit::FAILURE, "the migrations role's password has no value")
        })?),
        None => None,
    };
    let migrations = spec
        .database
        .migrations_role
        .as_ref()
        .zip(migrations_password.as_ref())
        .map(|(role, password)| MigrationsRole {
            role: role.get_ref(),
            password,
        });
    let task = PgTask {
        admin_spec: admin,
        db: &spec.database,
        password: &password,
        shared_production_db: shared_production_db.as_deref(),
        keep_connect: spec.source.as_ref().and_then(|s| s.keep_connect.as_deref()),
        migrations,
    };
    let mut plan = Plan {
        environment: spec.environment.get_ref().clone(),
        dry_run,
        generated: values.generated.clone(),
        ..Plan::default()
    };
    if !dry_run {
        // Preflight: a delivery that would fail (a field conflict, a bad certificate) fails
        // before the database changes, so the role's password never runs ahead of the
        // deliveries that carry it.
        deliver::deliver_all(loaded, &values, true, kube_state)
            .await
            .map_err(deliver_failure)?;
    }
    let converged = postgres::converge(&client, &task, dry_run)
        .await
        .map_err(provision_failure)?;
    plan.lines = converged.lines;
    plan.cannot = converged.cannot;
    let pg_changed = plan
        .lines
        .iter()
        .any(|l| l.op != Op::Unchanged && l.object.starts_with("role "));

    let delivered = deliver::deliver_all(loaded, &values, dry_run, kube_state)
        .await
        .map_err(deliver_failure)?;
    plan.lines.extend(delivered.lines);
    plan.notes.extend(delivered.notes.iter().cloned());
    if let Some(line) = deliver::write_state(loaded, &values, dry_run).map_err(deliver_failure)? {
        plan.lines.push(line);
    }
    postgres::unlock(&client, dbname).await;

    // Which deliveries a rotation touched: the secret itself and, for the app role's
    // password, every value derived from it.
    for name in &args.rotate {
        let mut affected: BTreeSet<String> = BTreeSet::from([name.clone()]);
        if name == spec.database.password_secret.get_ref() {
            affected.extend(
                spec.secrets
                    .iter()
                    .filter(|(_, s)| s.get_ref().derive.is_some())
                    .map(|(n, _)| n.clone()),
            );
        }
        let mut deliveries: Vec<String> = Vec::new();
        let role_password = name == spec.database.password_secret.get_ref()
            || spec
                .database
                .migrations_password_secret
                .as_ref()
                .is_some_and(|s| s.get_ref() == name);
        if pg_changed && role_password {
            deliveries.push("postgres (role password)".to_owned());
        }
        deliveries.extend(
            delivered
                .changed
                .iter()
                .filter(|(_, carried)| !carried.is_disjoint(&affected))
                .map(|(label, _)| label.clone()),
        );
        plan.rotated.push(Rotation {
            secret: name.clone(),
            deliveries,
        });
    }
    Ok((plan, delivered.stdout))
}
