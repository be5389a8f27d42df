//! The environment spec (TOML): what an environment is made of. Parsed strictly
//! (`deny_unknown_fields`), then checked as a whole: every problem is reported at once, each
//! with its line and column, before any connection opens.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

/// One problem in a spec file, with its position (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Everything wrong with a spec file.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{}", render_diagnostics(path, diagnostics))]
    Invalid {
        path: String,
        diagnostics: Vec<Diagnostic>,
    },
}

fn render_diagnostics(path: &str, diagnostics: &[Diagnostic]) -> String {
    let mut out = format!(
        "{} problem{} in {path}:",
        diagnostics.len(),
        if diagnostics.len() == 1 { "" } else { "s" }
    );
    for d in diagnostics {
        out.push_str(&format!(
            "\n  {path}:{}:{}: {}",
            d.line, d.column, d.message
        ));
    }
    out
}

/// A whole environment.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvSpec {
    /// Environment name (`staging`): labels, annotations, file names.
    pub environment: Spanned<String>,
    /// Where generated values are kept (0600, JSON) so that re-runs reuse them when no
    /// delivery can be read back (sealed or external secrets only).
    #[serde(default)]
    pub state_file: Option<Spanned<String>>,
    #[serde(default)]
    pub source: Option<SourceSpec>,
    pub target: TargetSpec,
    pub database: DatabaseSpec,
    #[serde(default)]
    pub secrets: BTreeMap<String, Spanned<SecretSpec>>,
    #[serde(default)]
    pub kubernetes: Option<KubeSpec>,
    /// More namespaces, each a bundle of the same shape as `[kubernetes]` (a monitoring
    /// namespace beside the app's); they need not hold any database secret.
    #[serde(default)]
    pub namespaces: Vec<KubeSpec>,
    #[serde(default)]
    pub delivery: Vec<Spanned<DeliverySpec>>,
    #[serde(default)]
    pub refresh: Option<RefreshSpec>,
}

/// Production, read-only: only the guards use it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// Name of the environment variable holding the production connection string.
    #[serde(default)]
    pub url_env: Option<Spanned<String>>,
    /// The connection string itself (without a password: use PGPASSWORD or ~/.pgpass).
    #[serde(default)]
    pub url: Option<Spanned<String>>,
    /// Shared instance only: revoke CONNECT on the production database from PUBLIC so that
    /// the staging roles cannot reach it, granting it back to these production roles.
    #[serde(default)]
    pub keep_connect: Option<Vec<String>>,
}

/// The server that will hold the staging database.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// Name of the environment variable holding an admin connection string (a role with
    /// CREATEROLE and CREATEDB).
    #[serde(default)]
    pub admin_url_env: Option<Spanned<String>>,
    #[serde(default)]
    pub admin_url: Option<Spanned<String>>,
    /// Host the application uses (derived URLs); default: the admin connection's host.
    #[serde(default)]
    pub app_host: Option<String>,
    #[serde(default)]
    pub app_port: Option<u16>,
    /// `sslmode` put into derived URLs (e.g. `require`).
    #[serde(default)]
    pub app_sslmode: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Grants {
    /// SELECT, INSERT, UPDATE, DELETE on tables; USAGE, SELECT on sequences.
    Readwrite,
    /// SELECT on tables and sequences.
    Readonly,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSpec {
    pub name: Spanned<String>,
    /// NOLOGIN role that owns the database and its objects.
    pub owner: Spanned<String>,
    /// LOGIN role the application connects as.
    pub app_role: Spanned<String>,
    /// Name of the secret (in `[secrets]`) that is the app role's password.
    pub password_secret: Spanned<String>,
    /// CONNECTION LIMIT of the app role (-1: none).
    #[serde(default = "no_limit")]
    pub connection_limit: i32,
    #[serde(default)]
    pub extensions: Vec<String>,
    #[serde(default = "readwrite")]
    pub grants: Grants,
    #[serde(default = "public_schema")]
    pub schemas: Vec<String>,
    /// The database belongs to the platform (Supabase's `postgres`, a managed service's
    /// default database): it must exist, its owner and who may connect to it stay as they
    /// are, and `owner` owns only the application's `schemas` inside it.
    #[serde(default)]
    pub platform: bool,
    /// LOGIN role for schema migrations: a member of the owner whose sessions act as the
    /// owner (`SET role` per database), so what it creates belongs to the owner.
    #[serde(default)]
    pub migrations_role: Option<Spanned<String>>,
    /// Name of the secret (in `[secrets]`) that is the migrations role's password.
    #[serde(default)]
    pub migrations_password_secret: Option<Spanned<String>>,
}

fn no_limit() -> i32 {
    -1
}
fn readwrite() -> Grants {
    Grants::Readwrite
}
fn public_schema() -> Vec<String> {
    vec!["public".to_owned()]
}

/// A secret: exactly one of `generate`, `derive`, `from_env`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSpec {
    #[serde(default)]
    pub generate: Option<GenerateSpec>,
    /// `url`, `json`, `host`, `port`, `username`, `dbname`: the app role's connection;
    /// `migrations_url`: the migrations role's.
    #[serde(default)]
    pub derive: Option<Spanned<String>>,
    /// Supplied: the environment variable that holds the value.
    #[serde(default)]
    pub from_env: Option<Spanned<String>>,
    /// Supplied values must match this regular expression (e.g. `^sk_test_`).
    #[serde(default)]
    pub must_match: Option<Spanned<String>>,
    /// Environment variable holding the production value; the staging value must differ.
    #[serde(default)]
    pub production_env: Option<Spanned<String>>,
}

/// Random bytes from the OS CSPRNG.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateSpec {
    /// Number of random bytes (`hex`, `base64`, `base64url`).
    #[serde(default)]
    pub bytes: Option<usize>,
    /// Number of characters (`alphabet`).
    #[serde(default)]
    pub length: Option<usize>,
    #[serde(default = "default_encoding")]
    pub encoding: Spanned<String>,
    /// Characters to draw from (`encoding = "alphabet"`); default letters and digits.
    #[serde(default)]
    pub alphabet: Option<String>,
}

fn default_encoding() -> Spanned<String> {
    Spanned::new(0..0, "base64url".to_owned())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubeSpec {
    pub namespace: Spanned<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub quota: Option<QuotaSpec>,
    #[serde(default)]
    pub limit_range: Option<LimitRangeSpec>,
    #[serde(default)]
    pub network_policy: Option<NetworkPolicySpec>,
    #[serde(default)]
    pub service_account: Option<ServiceAccountSpec>,
    /// Secret objects: each maps keys to secrets (or literal strings).
    #[serde(default)]
    pub secrets: Vec<Spanned<KubeSecretSpec>>,
    /// More service accounts (read-only accounts, a CI deployer).
    #[serde(default)]
    pub service_accounts: Vec<ServiceAccountSpec>,
    /// Non-secret settings (`APP_ENV`, `LOG_LEVEL`, feature flags).
    #[serde(default)]
    pub config_maps: Vec<Spanned<ConfigMapSpec>>,
    /// RBAC: Roles (or ClusterRoles) and the bindings that grant them.
    #[serde(default)]
    pub roles: Vec<Spanned<RoleSpec>>,
    #[serde(default)]
    pub role_bindings: Vec<Spanned<RoleBindingSpec>>,
    /// ClusterRoleBindings: a ClusterRole granted cluster-wide (a CI deployer that creates
    /// namespaces, say); a ServiceAccount subject defaults to this namespace.
    #[serde(default)]
    pub cluster_role_bindings: Vec<Spanned<ClusterRoleBindingSpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigMapSpec {
    pub name: String,
    #[serde(default)]
    pub data: BTreeMap<String, String>,
}

/// A Role in the namespace, or a ClusterRole (`cluster = true`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSpec {
    pub name: String,
    #[serde(default)]
    pub cluster: bool,
    pub rules: Vec<RuleSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// `""` is the core group.
    #[serde(default)]
    pub api_groups: Vec<String>,
    #[serde(default)]
    pub resources: Vec<String>,
    pub verbs: Vec<String>,
    #[serde(default)]
    pub resource_names: Vec<String>,
}

/// A RoleBinding in the namespace: grants a Role of `roles`, or a ClusterRole
/// (`cluster_role = true`, e.g. the built-in `view` or `edit`), to its subjects there.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleBindingSpec {
    pub name: String,
    pub role: String,
    #[serde(default)]
    pub cluster_role: bool,
    pub subjects: Vec<SubjectSpec>,
}

/// A ClusterRoleBinding: grants the ClusterRole `role` to its subjects in every namespace.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterRoleBindingSpec {
    pub name: String,
    pub role: String,
    pub subjects: Vec<SubjectSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectSpec {
    /// `ServiceAccount`, `User` or `Group`.
    pub kind: String,
    pub name: String,
    /// ServiceAccounts only; default: the binding's namespace.
    #[serde(default)]
    pub namespace: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaSpec {
    /// `limits.cpu` and `requests.cpu` (e.g. "4").
    pub cpu: String,
    /// `limits.memory` and `requests.memory` (e.g. "8Gi").
    pub memory: String,
    #[serde(default)]
    pub pods: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitRangeSpec {
    pub default_cpu: String,
    pub default_memory: String,
    pub default_request_cpu: String,
    pub default_request_memory: String,
    #[serde(default)]
    pub max_cpu: Option<String>,
    #[serde(default)]
    pub max_memory: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkPolicySpec {
    /// Egress beyond the namespace itself and DNS.
    #[serde(default)]
    pub egress: Vec<EgressSpec>,
    /// Namespaces (by name) allowed to send ingress traffic (e.g. the ingress controller's).
    #[serde(default)]
    pub ingress_from_namespaces: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressSpec {
    /// A CIDR (`10.0.0.0/16`).
    #[serde(default)]
    pub cidr: Option<String>,
    /// Or a namespace, by name.
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub ports: Vec<u16>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountSpec {
    pub name: String,
    #[serde(default)]
    pub automount_token: bool,
    /// e.g. `eks.amazonaws.com/role-arn` (IRSA), `iam.gke.io/gcp-service-account`.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// e.g. `azure.workload.identity/use = "true"`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubeSecretSpec {
    pub name: String,
    /// Key in the object → secret name in `[secrets]`.
    #[serde(default)]
    pub keys: BTreeMap<String, String>,
    /// Key → plain value (not secret: host names, environment names).
    #[serde(default)]
    pub literals: BTreeMap<String, String>,
    /// External secrets: the secret store path (default `<environment>/<name>`).
    #[serde(default)]
    pub remote_key: Option<String>,
    /// External secrets: where one key is read from, when not `remote_key`'s property of
    /// the key's name (`{ key = "app/staging/db", property = "password" }`).
    #[serde(default)]
    pub remote: BTreeMap<String, RemoteSpec>,
    /// Keys assembled from the others (`"postgresql://{{ .user }}:{{ .password }}@…"`):
    /// rendered here for Secrets and sealed secrets, and handed to the external-secrets
    /// template engine for ExternalSecrets.
    #[serde(default)]
    pub templates: BTreeMap<String, String>,
}

/// One field of a secret in an external store.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteSpec {
    pub key: String,
    /// A property of a JSON secret; none: the whole secret string.
    #[serde(default)]
    pub property: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverySpec {
    /// `apply`, `gitops`, `dotenv` or `json`.
    pub kind: Spanned<String>,
    /// `secret`, `sealed` or `external` (apply and gitops).
    #[serde(default)]
    pub secret_format: Option<Spanned<String>>,
    /// GitOps directory.
    #[serde(default)]
    pub dir: Option<String>,
    /// dotenv / json file (`-`: stdout, json only).
    #[serde(default)]
    pub path: Option<String>,
    /// PEM certificate of the sealed-secrets controller (`kubeseal --fetch-cert`).
    #[serde(default)]
    pub sealing_cert: Option<String>,
    /// External secrets: the (Cluster)SecretStore.
    #[serde(default)]
    pub store: Option<String>,
    #[serde(default = "cluster_secret_store")]
    pub store_kind: String,
    /// dotenv: variable → secret name.
    #[serde(default)]
    pub keys: BTreeMap<String, String>,
    /// dotenv: variable → plain value.
    #[serde(default)]
    pub literals: BTreeMap<String, String>,
    /// apply: server-side apply field manager.
    #[serde(default = "field_manager")]
    pub field_manager: String,
    /// apply: API server URL (default: the kubeconfig's current context).
    #[serde(default)]
    pub server: Option<String>,
    /// gitops: also write a Flux `Kustomization` that points Flux at `dir`.
    #[serde(default)]
    pub flux: Option<FluxSpec>,
    /// json: write only what the external store holds under this key (the document for
    /// `aws secretsmanager put-secret-value --secret-string file://…`).
    #[serde(default)]
    pub remote_key: Option<String>,
    /// dotenv: `fly` writes values the way `fly secrets import` reads them (quotes are
    /// stripped, nothing is unescaped, `"""` spans lines).
    #[serde(default)]
    pub dialect: Option<Spanned<String>>,
}

/// A Flux `Kustomization` (kustomize.toolkit.fluxcd.io/v1) for a GitOps directory.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FluxSpec {
    pub name: String,
    /// Where the object is written (relative to the spec), e.g. the cluster's directory;
    /// never inside `dir`, which it points at.
    pub file: String,
    /// `dir` as a path inside the Git repository (`./apps/staging`).
    pub path: String,
    /// The GitRepository source.
    #[serde(default = "flux_system")]
    pub source: String,
    #[serde(default = "flux_system")]
    pub namespace: String,
    #[serde(default = "flux_interval")]
    pub interval: String,
}

fn flux_system() -> String {
    "flux-system".to_owned()
}
fn flux_interval() -> String {
    "10m".to_owned()
}

fn cluster_secret_store() -> String {
    "ClusterSecretStore".to_owned()
}
fn field_manager() -> String {
    "restage".to_owned()
}

/// The monthly refresh: what `restage refresh` needs (rules, key, seed, retention, grace) and
/// what its CronJob (`--print-cronjob`, the bundle) renders, which `refresh` itself ignores.
/// Paths are relative to the spec file; the CronJob mounts them under the same relative names.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshSpec {
    /// The rules file deciding every copied column (required by `restage refresh`).
    #[serde(default)]
    pub rules: Option<Spanned<String>>,
    /// Environment variable holding the sanitizing key.
    #[serde(default = "default_key_env")]
    pub key_env: String,
    /// SQL run against the shadow database after the clone (staging-only data).
    #[serde(default)]
    pub seed_sql: Option<Spanned<String>>,
    /// A seed plan (`restage seed`'s format) run against the shadow after `seed_sql`: staging's
    /// test accounts come back after every refresh.
    #[serde(default)]
    pub seed_plan: Option<Spanned<String>>,
    /// How many previous live databases are kept as rollback targets.
    #[serde(default = "default_keep_previous")]
    pub keep_previous: u32,
    /// How long sessions on the live database may run on before the swap ends them.
    #[serde(default)]
    pub grace: Option<Spanned<String>>,
    /// Cron schedule, e.g. `0 3 1 * *` (CronJob only).
    #[serde(default)]
    pub schedule: Option<String>,
    /// The image with restage and the PostgreSQL client tools (CronJob only).
    #[serde(default)]
    pub image: Option<String>,
    /// Secret object and key holding the production (source) URL.
    #[serde(default)]
    pub source_secret: Option<SecretKeyRef>,
    /// Secret object and key holding the staging server's admin URL (never the app role's).
    #[serde(default)]
    pub target_secret: Option<SecretKeyRef>,
    /// Secret object and key holding the sanitizing key.
    #[serde(default)]
    pub key_secret: Option<SecretKeyRef>,
    /// Extra arguments after `restage refresh --env …`.
    #[serde(default)]
    pub args: Vec<String>,
    /// CPU of the job's container (request and limit), e.g. `"1"`.
    #[serde(default)]
    pub cpu: Option<String>,
    /// Memory of the job's container (request and limit), e.g. `"1Gi"`.
    #[serde(default)]
    pub memory: Option<String>,
    /// `activeDeadlineSeconds` of the job: a hung refresh is stopped after this.
    #[serde(default)]
    pub active_deadline_seconds: Option<u32>,
    /// Production's port, for the job's egress NetworkPolicy (default 5432).
    #[serde(default)]
    pub source_port: Option<u16>,
    /// The staging server's port, for the job's egress NetworkPolicy (default
    /// `[target] app_port`, else 5432).
    #[serde(default)]
    pub target_port: Option<u16>,
}

/// Secrets the CronJob may name without the bundle defining them: production's URL, the
/// staging admin's URL and the sanitizing key are never generated by `provision`.
pub const HAND_MADE_SOURCE_SECRET: &str = "restage-source";
pub const HAND_MADE_TARGET_SECRET: &str = "restage-target";
pub const HAND_MADE_KEY_SECRET: &str = "restage-key";

fn default_key_env() -> String {
    "RESTAGE_KEY".to_owned()
}

impl RefreshSpec {
    /// The files the spec names for a refresh, by field: the CronJob mounts each of them.
    pub fn files(&self) -> [(&'static str, &Option<Spanned<String>>); 3] {
        [
            ("rules", &self.rules),
            ("seed_sql", &self.seed_sql),
            ("seed_plan", &self.seed_plan),
        ]
    }
}

fn default_keep_previous() -> u32 {
    1
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretKeyRef {
    pub name: String,
    pub key: String,
}

/// What `secret_format` means for a Kubernetes delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretFormat {
    Secret,
    Sealed,
    External,
}

/// A delivery after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryKind {
    Apply,
    GitOps,
    Dotenv,
    Json,
}

/// What a derived secret is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Derived {
    Url,
    Json,
    Host,
    Port,
    Username,
    Dbname,
    /// The migrations role's URL: the app role's with the migrations role and its password.
    MigrationsUrl,
}

impl Derived {
    pub fn parse(text: &str) -> Option<Derived> {
        Some(match text {
            "url" => Derived::Url,
            "json" => Derived::Json,
            "host" => Derived::Host,
            "port" => Derived::Port,
            "username" => Derived::Username,
            "dbname" => Derived::Dbname,
            "migrations_url" => Derived::MigrationsUrl,
            _ => return None,
        })
    }
}

impl EnvSpec {
    /// Every namespace bundle: `[kubernetes]` first, then `[[namespaces]]`.
    pub fn kube_specs(&self) -> impl Iterator<Item = &KubeSpec> {
        self.kubernetes.iter().chain(self.namespaces.iter())
    }

    /// The namespace whose objects keep their short GitOps file names.
    pub fn primary_namespace(&self) -> Option<&str> {
        self.kube_specs()
            .next()
            .map(|k| k.namespace.get_ref().as_str())
    }

    /// Every Secret object with its namespace.
    pub fn secret_objects(&self) -> impl Iterator<Item = (&str, &KubeSecretSpec)> {
        self.kube_specs().flat_map(|k| {
            k.secrets
                .iter()
                .map(move |o| (k.namespace.get_ref().as_str(), o.get_ref()))
        })
    }
}

impl DeliverySpec {
    pub fn kind(&self) -> DeliveryKind {
        match self.kind.get_ref().as_str() {
            "apply" => DeliveryKind::Apply,
            "gitops" => DeliveryKind::GitOps,
            "dotenv" => DeliveryKind::Dotenv,
            _ => DeliveryKind::Json,
        }
    }

    pub fn format(&self) -> SecretFormat {
        match self.secret_format.as_ref().map(|s| s.get_ref().as_str()) {
            Some("sealed") => SecretFormat::Sealed,
            Some("external") => SecretFormat::External,
            _ => SecretFormat::Secret,
        }
    }

    /// dotenv: written the way `fly secrets import` reads it.
    pub fn fly_dialect(&self) -> bool {
        self.dialect.as_ref().is_some_and(|x| x.get_ref() == "fly")
    }

    /// A short label for plan lines.
    pub fn label(&self) -> String {
        match self.kind() {
            DeliveryKind::Apply => format!("apply({})", self.field_manager),
            DeliveryKind::GitOps => format!("gitops({})", self.dir.as_deref().unwrap_or("?")),
            DeliveryKind::Dotenv => format!("dotenv({})", self.path.as_deref().unwrap_or("?")),
            DeliveryKind::Json => format!("json({})", self.path.as_deref().unwrap_or("-")),
        }
    }
}

impl fmt::Display for Grants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Grants::Readwrite => "readwrite",
            Grants::Readonly => "readonly",
        })
    }
}

/// A parsed, checked spec and the directory its relative paths are resolved against.
#[derive(Debug)]
pub struct LoadedSpec {
    pub spec: EnvSpec,
    pub base: PathBuf,
    pub path: String,
}

impl LoadedSpec {
    /// A path from the spec, relative to the spec file's directory.
    pub fn resolve(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }
}

/// Reads, parses and checks a spec file.
pub fn load(path: &Path) -> Result<LoadedSpec, SpecError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
        path: shown.clone(),
        source,
    })?;
    let spec = parse(&text).map_err(|diagnostics| SpecError::Invalid {
        path: shown.clone(),
        diagnostics,
    })?;
    let base = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    Ok(LoadedSpec {
        spec,
        base,
        path: shown,
    })
}

/// Parses and checks spec text; every problem is returned.
pub fn parse(text: &str) -> Result<EnvSpec, Vec<Diagnostic>> {
    let shape = super::shape::check(text);
    if !shape.is_empty() {
        return Err(shape);
    }
    let spec: EnvSpec = toml::from_str(text).map_err(|e| {
        let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        vec![Diagnostic {
            line,
            column,
            message: e.message().trim().to_owned(),
        }]
    })?;
    let diagnostics = super::validate::check(&spec, text);
    if diagnostics.is_empty() {
        Ok(spec)
    } else {
        Err(diagnostics)
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map(|nl| before[nl + 1..].chars().count() + 1)
        .unwrap_or_else(|| before.chars().count() + 1);
    (line, column)
}
