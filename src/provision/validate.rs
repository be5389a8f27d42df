//! Whole-spec checks after parsing: references, exclusive options, names. Every problem is
//! collected with its position.

use std::collections::BTreeSet;

use toml::Spanned;

use super::spec::{
    line_col, DeliveryKind, Derived, Diagnostic, EnvSpec, RefreshSpec, SecretFormat,
    HAND_MADE_KEY_SECRET, HAND_MADE_SOURCE_SECRET, HAND_MADE_TARGET_SECRET,
};

mod kube;

struct Collector<'a> {
    text: &'a str,
    out: Vec<Diagnostic>,
}

impl Collector<'_> {
    fn at(&mut self, span: std::ops::Range<usize>, message: impl Into<String>) {
        let (line, column) = line_col(self.text, span.start);
        self.out.push(Diagnostic {
            line,
            column,
            message: message.into(),
        });
    }

    fn on<T>(&mut self, item: &Spanned<T>, message: impl Into<String>) {
        self.at(item.span(), message);
    }
}

/// PostgreSQL and Kubernetes names the spec may hold: conservative on purpose, so no name
/// needs quoting rules a reader could get wrong.
fn is_pg_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 63
}

/// RFC 1123 label (namespaces, object names).
pub fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub fn check(spec: &EnvSpec, text: &str) -> Vec<Diagnostic> {
    let mut c = Collector {
        text,
        out: Vec::new(),
    };
    if !is_dns_label(spec.environment.get_ref()) {
        c.on(
            &spec.environment,
            "environment must be a lowercase name (letters, digits, `-`)",
        );
    }

    // Connections.
    if let Some(source) = &spec.source {
        if source.url.is_some() == source.url_env.is_some() {
            c.at(
                0..0,
                "[source] needs exactly one of `url_env` (recommended) or `url`",
            );
        }
        if let Some(env) = &source.url_env {
            if !is_env_name(env.get_ref()) {
                c.on(env, "`url_env` must be an environment variable name");
            }
        }
    }
    let t = &spec.target;
    if t.admin_url.is_some() == t.admin_url_env.is_some() {
        c.at(
            0..0,
            "[target] needs exactly one of `admin_url_env` (recommended) or `admin_url`",
        );
    }
    if let Some(mode) = &t.app_sslmode {
        if mode.get_ref().parse::<crate::conn::SslMode>().is_err() {
            c.on(
                mode,
                format!(
                    "unknown sslmode {:?} (one of {})",
                    mode.get_ref(),
                    crate::conn::SSLMODE_VALUES
                ),
            );
        }
    }

    // Database and roles.
    let db = &spec.database;
    for (what, name) in [
        ("database name", &db.name),
        ("owner", &db.owner),
        ("app_role", &db.app_role),
    ] {
        if !is_pg_identifier(name.get_ref()) {
            c.on(
                name,
                format!(
                    "{what} {:?} must be a lowercase identifier (a-z, 0-9, _; at most 63 bytes)",
                    name.get_ref()
                ),
            );
        }
    }
    if db.owner.get_ref() == db.app_role.get_ref() {
        c.on(
            &db.app_role,
            "app_role must differ from owner (the owner is NOLOGIN)",
        );
    }
    for name in db.extensions.iter().chain(db.schemas.iter()) {
        if !is_pg_identifier(name) {
            c.at(
                db.name.span(),
                format!("extension/schema {name:?} must be a lowercase identifier"),
            );
        }
    }
    if db.connection_limit < -1 {
        c.on(&db.name, "connection_limit must be -1 (no limit) or more");
    }
    migrations_role(spec, &mut c);
    match spec.secrets.get(db.password_secret.get_ref()) {
        None => c.on(
            &db.password_secret,
            format!(
                "password_secret {:?} is not defined in [secrets]",
                db.password_secret.get_ref()
            ),
        ),
        Some(s) if s.get_ref().derive.is_some() => c.on(
            &db.password_secret,
            "password_secret must be generated or supplied, not derived",
        ),
        Some(_) => {}
    }

    // Secrets.
    for (name, secret) in &spec.secrets {
        let s = secret.get_ref();
        if !is_pg_identifier(name) {
            c.on(
                secret,
                format!("secret name {name:?} must be lowercase (a-z, 0-9, _)"),
            );
        }
        let sources = [
            s.generate.is_some(),
            s.derive.is_some(),
            s.from_env.is_some(),
        ]
        .iter()
        .filter(|x| **x)
        .count();
        if sources != 1 {
            c.on(
                secret,
                format!("secret {name:?} needs exactly one of `generate`, `derive`, `from_env`"),
            );
        }
        if let Some(g) = &s.generate {
            match g.encoding.get_ref().as_str() {
                "hex" | "base64" | "base64url" => match g.bytes {
                    Some(n) if (16..=1024).contains(&n) => {}
                    _ => c.on(
                        secret,
                        format!("secret {name:?}: `bytes` between 16 and 1024 is required (32 = 256 bits)"),
                    ),
                },
                "alphabet" => {
                    let alphabet_len = g
                        .alphabet
                        .as_deref()
                        .map(|a| a.chars().collect::<BTreeSet<_>>().len())
                        .unwrap_or(62);
                    if !(2..=256).contains(&alphabet_len) {
                        c.on(secret, format!("secret {name:?}: the alphabet needs between 2 and 256 distinct characters"));
                    }
                    let bits = g.length.unwrap_or(0) as f64 * (alphabet_len.max(2) as f64).log2();
                    if bits < 128.0 {
                        c.on(
                            secret,
                            format!("secret {name:?}: `length` too short for the alphabet ({bits:.0} bits; at least 128 needed)"),
                        );
                    }
                }
                other => c.on(
                    &g.encoding,
                    format!("unknown encoding {other:?} (hex, base64, base64url, alphabet)"),
                ),
            }
        }
        if let Some(d) = &s.derive {
            match Derived::parse(d.get_ref()) {
                None => c.on(
                    d,
                    format!(
                        "unknown derive {:?} (url, json, host, port, username, dbname, migrations_url)",
                        d.get_ref()
                    ),
                ),
                Some(Derived::MigrationsUrl) if spec.database.migrations_role.is_none() => c.on(
                    d,
                    "derive = \"migrations_url\" needs [database] migrations_role",
                ),
                Some(_) => {}
            }
        }
        for env in [&s.from_env, &s.production_env].into_iter().flatten() {
            if !is_env_name(env.get_ref()) {
                c.on(env, "must be an environment variable name");
            }
        }
        if let Some(p) = &s.must_match {
            if s.from_env.is_none() {
                c.on(p, "`must_match` applies to supplied secrets (`from_env`)");
            }
            if let Err(e) = regex::Regex::new(p.get_ref()) {
                c.on(p, format!("invalid pattern: {e}"));
            }
        }
    }

    // Kubernetes.
    let object_names = kube::check(spec, &mut c);

    // Deliveries.
    for delivery in &spec.delivery {
        let d = delivery.get_ref();
        let kind = d.kind.get_ref().as_str();
        if !matches!(kind, "apply" | "gitops" | "dotenv" | "json") {
            c.on(
                &d.kind,
                format!("unknown delivery kind {kind:?} (apply, gitops, dotenv, json)"),
            );
            continue;
        }
        let kube = matches!(d.kind(), DeliveryKind::Apply | DeliveryKind::GitOps);
        if kube && spec.kube_specs().next().is_none() {
            c.on(
                &d.kind,
                format!("a {kind} delivery needs [kubernetes] or [[namespaces]]"),
            );
        }
        check_delivery_options(spec, delivery, &mut c);
        if let Some(f) = &d.secret_format {
            if !kube {
                c.on(f, "secret_format applies to apply and gitops deliveries");
            }
            if !matches!(f.get_ref().as_str(), "secret" | "sealed" | "external") {
                c.on(
                    f,
                    format!(
                        "unknown secret_format {:?} (secret, sealed, external)",
                        f.get_ref()
                    ),
                );
            }
        }
        match d.kind() {
            DeliveryKind::GitOps => {
                if d.dir.is_none() {
                    c.on(delivery, "a gitops delivery needs `dir`");
                }
                if d.format() == SecretFormat::Secret {
                    c.on(
                        delivery,
                        "a gitops delivery refuses plaintext Secret objects: use secret_format = \"sealed\" or \"external\"",
                    );
                }
            }
            DeliveryKind::Dotenv => {
                if d.path.as_deref().is_none_or(|p| p == "-") {
                    c.on(delivery, "a dotenv delivery needs `path` (a file)");
                }
                if d.keys.is_empty() {
                    c.on(delivery, "a dotenv delivery needs `keys`");
                }
            }
            DeliveryKind::Json | DeliveryKind::Apply => {}
        }
        if kube && d.format() == SecretFormat::Sealed && d.sealing_cert.is_none() {
            c.on(
                delivery,
                "secret_format = \"sealed\" needs `sealing_cert` (kubeseal --fetch-cert > cert.pem)",
            );
        }
        if kube && d.format() == SecretFormat::External && d.store.is_none() {
            c.on(
                delivery,
                "secret_format = \"external\" needs `store` (the SecretStore name)",
            );
        }
        for (var, secret) in &d.keys {
            if !is_env_name(var) {
                c.on(delivery, format!("{var:?} is not a variable name"));
            }
            if !spec.secrets.contains_key(secret) {
                c.on(
                    delivery,
                    format!("{var} refers to {secret:?}, which is not in [secrets]"),
                );
            }
        }
    }
    if let Some(r) = &spec.refresh {
        if spec.database.platform {
            // A refresh swaps the whole database: on a platform's own database, the
            // platform's schemas would go with it.
            c.on(
                &spec.database.name,
                "[refresh] swaps the whole staging database, which would take the platform's own \
                 schemas of a `platform = true` database with it; copy the application's schemas \
                 with `restage clone --schema NAME` instead",
            );
        }
        refresh_secrets(spec, r, &object_names, &mut c);
    }
    readable_on_rerun(spec, &mut c);
    c.out.sort_by_key(|d| (d.line, d.column));
    c.out
}

/// The migrations role: a third role, with its own generated or supplied password.
fn migrations_role(spec: &EnvSpec, c: &mut Collector<'_>) {
    let db = &spec.database;
    let (role, secret) = match (&db.migrations_role, &db.migrations_password_secret) {
        (None, None) => return,
        (Some(role), Some(secret)) => (role, secret),
        (Some(role), None) => {
            return c.on(
                role,
                "migrations_role needs migrations_password_secret (a secret in [secrets])",
            )
        }
        (None, Some(secret)) => {
            return c.on(secret, "migrations_password_secret needs migrations_role")
        }
    };
    if !is_pg_identifier(role.get_ref()) {
        c.on(
            role,
            format!(
                "migrations_role {:?} must be a lowercase identifier (a-z, 0-9, _; at most 63 bytes)",
                role.get_ref()
            ),
        );
    }
    if role.get_ref() == db.owner.get_ref() || role.get_ref() == db.app_role.get_ref() {
        c.on(role, "migrations_role must differ from owner and app_role");
    }
    if secret.get_ref() == db.password_secret.get_ref() {
        c.on(
            secret,
            "migrations_password_secret must differ from password_secret (each role has its own password)",
        );
    }
    match spec.secrets.get(secret.get_ref()) {
        None => c.on(
            secret,
            format!(
                "migrations_password_secret {:?} is not defined in [secrets]",
                secret.get_ref()
            ),
        ),
        Some(s) if s.get_ref().derive.is_some() => c.on(
            secret,
            "migrations_password_secret must be generated or supplied, not derived",
        ),
        Some(_) => {}
    }
}

/// The CronJob's Secrets exist in the bundle (or are the documented hand-made ones), and the
/// staging connection is never the app role's: it cannot create databases or own objects.
fn refresh_secrets(
    spec: &EnvSpec,
    r: &RefreshSpec,
    object_names: &BTreeSet<String>,
    c: &mut Collector<'_>,
) {
    let refs = [
        ("source_secret", &r.source_secret, HAND_MADE_SOURCE_SECRET),
        ("target_secret", &r.target_secret, HAND_MADE_TARGET_SECRET),
        ("key_secret", &r.key_secret, HAND_MADE_KEY_SECRET),
    ];
    for (field, reference, hand_made) in refs {
        let Some(reference) = reference else { continue };
        if reference.name != hand_made && !object_names.contains(&reference.name) {
            c.at(
                0..0,
                format!(
                    "[refresh] {field} refers to Secret {:?}, which is not in kubernetes.secrets ({hand_made} may be created by hand)",
                    reference.name
                ),
            );
        }
    }
    // The CronJob mounts the files the spec names under their relative names.
    if r.schedule.is_some() {
        for (field, path) in r.files() {
            let Some(path) = path else { continue };
            if super::cronjob::mounted_path(path.get_ref()).is_none() {
                c.on(
                    path,
                    format!(
                        "[refresh] {field} must be relative to the spec file's directory, without `..`: the CronJob mounts it under {} by that name",
                        super::cronjob::MOUNT_DIR
                    ),
                );
            }
        }
    }
    let Some(target) = &r.target_secret else {
        return;
    };
    let app_values = spec
        .kubernetes
        .iter()
        .flat_map(|k| k.secrets.iter())
        .map(|o| o.get_ref())
        .filter(|o| o.name == target.name)
        .filter_map(|o| o.keys.get(&target.key))
        .filter(|secret| {
            spec.secrets
                .get(*secret)
                .is_some_and(|s| s.get_ref().derive.is_some())
                || *secret == spec.database.password_secret.get_ref()
        });
    for secret in app_values {
        c.at(
            0..0,
            format!(
                "[refresh] target_secret {}.{} holds {secret:?}, the app role's connection; the refresh needs the staging server's admin URL (a role with CREATEDB and CREATEROLE)",
                target.name, target.key
            ),
        );
    }
}

/// Options that belong to one kind of delivery: `flux` (gitops), `remote_key` (json),
/// `dialect` (dotenv).
fn check_delivery_options(
    spec: &EnvSpec,
    delivery: &Spanned<super::spec::DeliverySpec>,
    c: &mut Collector<'_>,
) {
    let d = delivery.get_ref();
    if let Some(flux) = &d.flux {
        if d.kind() != DeliveryKind::GitOps {
            c.on(delivery, "`flux` applies to gitops deliveries");
        }
        let inside = d.dir.as_deref().is_some_and(|dir| {
            std::path::Path::new(&flux.file).starts_with(std::path::Path::new(dir))
        });
        if inside {
            c.on(
                delivery,
                "flux.file must be outside `dir`: the Flux Kustomization points at that directory",
            );
        }
        if !is_dns_label(&flux.name) {
            c.on(delivery, "flux.name must be a DNS label");
        }
    }
    if let Some(wanted) = &d.remote_key {
        if d.kind() != DeliveryKind::Json {
            c.on(delivery, "`remote_key` applies to json deliveries");
        }
        if !d.keys.is_empty() {
            c.on(
                delivery,
                "a json delivery takes `remote_key` or `keys`, not both",
            );
        }
        let refs: Vec<_> = spec
            .secret_objects()
            .flat_map(|(_, o)| super::bundle::remote_refs(spec, o).into_values())
            .filter(|r| &r.key == wanted)
            .collect();
        if refs.is_empty() {
            c.on(
                delivery,
                format!("remote_key {wanted:?} is read by no Secret object (kubernetes.secrets remote_key or remote)"),
            );
        }
        let whole = refs.iter().filter(|r| r.property.is_none()).count();
        if whole > 1 || (whole == 1 && refs.len() > 1) {
            c.on(
                delivery,
                format!("remote_key {wanted:?} is read both whole and by property: one store secret cannot be both"),
            );
        }
    }
    if let Some(dialect) = &d.dialect {
        if d.kind() != DeliveryKind::Dotenv {
            c.on(dialect, "`dialect` applies to dotenv deliveries");
        }
        if dialect.get_ref() != "fly" {
            c.on(
                dialect,
                format!("unknown dialect {:?} (fly)", dialect.get_ref()),
            );
        }
    }
}

/// A generated secret must be found again on the next run (or every run would replace it):
/// in a dotenv file, a JSON file, an applied plain Secret, or the state file. The app role's
/// password is also recovered from a derived URL or JSON document.
fn readable_on_rerun(spec: &EnvSpec, c: &mut Collector<'_>) {
    if spec.state_file.is_some() {
        return;
    }
    let mut carried: BTreeSet<String> = BTreeSet::new();
    for d in &spec.delivery {
        let d = d.get_ref();
        let readable = match d.kind() {
            DeliveryKind::Dotenv => true,
            DeliveryKind::Json => d.path.as_deref().is_some_and(|p| p != "-"),
            DeliveryKind::Apply => d.format() == SecretFormat::Secret,
            DeliveryKind::GitOps => false,
        };
        if readable {
            carried.extend(super::deliver::carried_secrets(spec, d));
        }
    }
    let carried_derived = |kinds: &[Derived]| {
        carried.iter().any(|name| {
            spec.secrets
                .get(name)
                .and_then(|s| s.get_ref().derive.as_ref())
                .and_then(|d| Derived::parse(d.get_ref()))
                .is_some_and(|k| kinds.contains(&k))
        })
    };
    let password_via_derived = carried_derived(&[Derived::Url, Derived::Json]);
    let migrations_via_derived = carried_derived(&[Derived::MigrationsUrl]);
    for (name, secret) in &spec.secrets {
        if secret.get_ref().generate.is_none() || carried.contains(name) {
            continue;
        }
        if name == spec.database.password_secret.get_ref() && password_via_derived {
            continue;
        }
        let migrations_password = spec
            .database
            .migrations_password_secret
            .as_ref()
            .is_some_and(|s| s.get_ref() == name);
        if migrations_password && migrations_via_derived {
            continue;
        }
        c.on(
            secret,
            format!(
                "generated secret {name:?} cannot be read back on the next run (no dotenv file, JSON file or applied Secret carries it), \
                 so every run would replace it: set `state_file` (kept 0600, out of git)"
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::spec::parse;

    const MINIMAL: &str = r#"
environment = "staging"
state_file = "s.json"
[target]
admin_url_env = "ADMIN"
[database]
name = "app_staging"
owner = "app_owner"
app_role = "app_staging"
password_secret = "db_password"
[secrets.db_password]
generate = { bytes = 24 }
"#;

    #[test]
    fn a_migrations_role_needs_its_own_password_secret() {
        let with_role = MINIMAL.replace(
            "password_secret = \"db_password\"\n",
            "password_secret = \"db_password\"\nmigrations_role = \"app_migrate\"\n",
        );
        let errors = parse(&with_role).expect_err("no password secret");
        assert!(
            errors[0]
                .message
                .contains("needs migrations_password_secret")
                && errors[0].line == 11,
            "{errors:?}"
        );
        let shared = with_role.replace(
            "migrations_role = \"app_migrate\"\n",
            "migrations_role = \"app_owner\"\nmigrations_password_secret = \"db_password\"\n",
        );
        let messages: Vec<String> = parse(&shared)
            .expect_err("shared")
            .into_iter()
            .map(|d| d.message)
            .collect();
        assert!(
            messages
                .iter()
                .any(|m| m.contains("must differ from owner"))
                && messages
                    .iter()
                    .any(|m| m.contains("must differ from password_secret")),
            "{messages:?}"
        );
        let url_without_role = format!("{MINIMAL}[secrets.m]\nderive = \"migrations_url\"\n");
        let errors = parse(&url_without_role).expect_err("no role");
        assert!(
            errors[0]
                .message
                .contains("needs [database] migrations_role"),
            "{errors:?}"
        );
        let fine = with_role.replace(
            "migrations_role = \"app_migrate\"\n",
            "migrations_role = \"app_migrate\"\nmigrations_password_secret = \"m_pw\"\n",
        ) + "[secrets.m_pw]\ngenerate = { bytes = 24 }\n[secrets.m_url]\nderive = \"migrations_url\"\n";
        parse(&fine).expect("a migrations role with its own secret");
    }

    #[test]
    fn minimal_spec_parses() {
        let spec = parse(MINIMAL).expect("valid");
        assert_eq!(spec.database.name.get_ref(), "app_staging");
    }

    #[test]
    fn unknown_field_names_line_and_column() {
        let text = MINIMAL.replace("owner = ", "ownr = ");
        let errors = parse(&text).expect_err("invalid");
        assert_eq!(errors.len(), 2, "{errors:?}");
        let unknown = errors
            .iter()
            .find(|d| d.message.contains("ownr"))
            .expect("ownr");
        assert_eq!((unknown.line, unknown.column), (8, 1), "{errors:?}");
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_reported_together() {
        let text = MINIMAL.replace("owner = ", "ownr = ").replace(
            "generate = { bytes = 24 }",
            "generate = { bytes = \"24\", colour = 1 }",
        ) + "[kubernetes]\nnamespace = 3\n";
        let errors = parse(&text).expect_err("invalid");
        let all: Vec<String> = errors
            .iter()
            .map(|d| format!("{}:{} {}", d.line, d.column, d.message))
            .collect();
        assert!(
            all.iter()
                .any(|m| m.starts_with("8:1 unknown key `database.ownr`")),
            "{all:?}"
        );
        assert!(
            all.iter()
                .any(|m| m.contains("missing key `database.owner`")),
            "{all:?}"
        );
        assert!(
            all.iter()
                .any(|m| m.contains("`secrets.db_password.generate.bytes` must be an integer")),
            "{all:?}"
        );
        assert!(
            all.iter()
                .any(|m| m.contains("unknown key `secrets.db_password.generate.colour`")),
            "{all:?}"
        );
        assert!(
            all.iter()
                .any(|m| m.contains("`kubernetes.namespace` must be a string")),
            "{all:?}"
        );
    }

    #[test]
    fn generated_secrets_must_be_readable_on_the_next_run() {
        let bare = MINIMAL.replace("state_file = \"s.json\"\n", "");
        let text = format!("{bare}[[delivery]]\nkind = \"json\"\npath = \"-\"\n");
        let errors = parse(&text).expect_err("not readable");
        assert!(
            errors[0].message.contains("cannot be read back"),
            "{errors:?}"
        );
        assert!(parse(&format!("state_file = \"s.json\"\n{text}")).is_ok());
        let dotenv = format!(
            "{bare}[secrets.url]\nderive = \"url\"\n[[delivery]]\nkind = \"dotenv\"\npath = \".env\"\nkeys = {{ DATABASE_URL = \"url\" }}\n"
        );
        assert!(parse(&dotenv).is_ok(), "the password is inside the URL");
    }

    #[test]
    fn syntax_errors_have_positions() {
        let errors = parse("environment = \"x\"\n[target\n").expect_err("invalid");
        assert_eq!(errors[0].line, 2, "{errors:?}");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = format!(
            "{MINIMAL}\n[secrets.stripe]\nfrom_env = \"X\"\nmust_match = \"(\"\n[secrets.broken]\nderive = \"nope\"\n[[delivery]]\nkind = \"gitops\"\ndir = \"out\"\n"
        );
        let errors = parse(&text).expect_err("invalid");
        let all: Vec<_> = errors.iter().map(|d| d.message.as_str()).collect();
        assert!(all.iter().any(|m| m.contains("invalid pattern")), "{all:?}");
        assert!(all.iter().any(|m| m.contains("unknown derive")), "{all:?}");
        assert!(
            all.iter().any(|m| m.contains("needs [kubernetes]")),
            "{all:?}"
        );
        assert!(
            all.iter().any(|m| m.contains("plaintext Secret")),
            "{all:?}"
        );
        assert!(errors.iter().all(|d| d.line > 1), "{errors:?}");
    }

    #[test]
    fn bundle_references_are_checked() {
        let text = format!(
            r#"{MINIMAL}
[secrets.url]
derive = "url"
[kubernetes]
namespace = "staging"
[[kubernetes.roles]]
name = "reader"
rules = [{{ resources = ["pods"], verbs = [] }}]
[[kubernetes.role_bindings]]
name = "ci"
role = "deployer"
subjects = [{{ kind = "Robot", name = "x" }}]
[[kubernetes.config_maps]]
name = "config"
data = {{ "bad key" = "1" }}
[[kubernetes.secrets]]
name = "db"
keys = {{ url = "url" }}
templates = {{ DSN = "{{{{ .user }}}}@{{{{ .url }}}}" }}
remote = {{ other = {{ key = "k" }} }}
[[namespaces]]
namespace = "staging"
[[delivery]]
kind = "json"
remote_key = "nobody/reads/this"
path = "x.json"
[[delivery]]
kind = "gitops"
dir = "deploy/staging"
secret_format = "external"
store = "vault"
flux = {{ name = "app", file = "deploy/staging/flux.yaml", path = "./deploy/staging" }}
[[delivery]]
kind = "dotenv"
path = ".env"
keys = {{ URL = "url" }}
dialect = "heroku"
"#
        );
        let errors = parse(&text).expect_err("invalid");
        let all: Vec<&str> = errors.iter().map(|d| d.message.as_str()).collect();
        for expected in [
            "every rule needs `verbs`",
            "grants Role \"deployer\", which is not in this namespace's roles",
            "subject kind \"Robot\"",
            "key \"bad key\" must be",
            "template \"DSN\" reads \"user\", which is not a key of the object",
            "remote \"other\" is not a key of the object",
            "namespace \"staging\" is defined twice",
            "remote_key \"nobody/reads/this\" is read by no Secret object",
            "flux.file must be outside `dir`",
            "unknown dialect \"heroku\"",
        ] {
            assert!(
                all.iter().any(|m| m.contains(expected)),
                "missing {expected:?} in {all:#?}"
            );
        }
        assert!(errors.iter().all(|d| d.line > 1), "{errors:?}");
    }

    #[test]
    fn cluster_scoped_objects_are_checked_across_namespaces() {
        let text = format!(
            r#"{MINIMAL}
[kubernetes]
namespace = "staging"
[[kubernetes.cluster_role_bindings]]
name = "ci-deployer"
role = "namespace-creator"
subjects = [{{ kind = "Group", name = "ci", namespace = "staging" }}]
[[namespaces]]
namespace = "monitoring"
[[namespaces.roles]]
name = "Bad Name"
cluster = true
rules = [{{ resources = ["namespaces"], verbs = ["create"] }}]
[[namespaces.cluster_role_bindings]]
name = "ci-deployer"
role = ""
subjects = []
"#
        );
        let errors = parse(&text).expect_err("invalid");
        let all: Vec<&str> = errors.iter().map(|d| d.message.as_str()).collect();
        for expected in [
            "ClusterRoleBinding \"ci-deployer\" is defined twice",
            "ClusterRoleBinding \"ci-deployer\": only a ServiceAccount subject has a namespace",
            "ClusterRoleBinding \"ci-deployer\" needs a ClusterRole",
            "ClusterRoleBinding \"ci-deployer\": no subjects",
        ] {
            assert!(
                all.iter().any(|m| m.contains(expected)),
                "missing {expected:?} in {all:#?}"
            );
        }
        assert!(errors.iter().all(|d| d.line > 1), "{errors:?}");
    }

    #[test]
    fn a_refresh_job_on_a_platform_database_is_refused() {
        let text = format!(
            r#"{MINIMAL}
[refresh]
schedule = "0 3 1 * *"
image = "restage:1"
source_secret = {{ name = "restage-source", key = "url" }}
target_secret = {{ name = "restage-target", key = "url" }}
"#
        )
        .replace("password_secret", "platform = true\npassword_secret");
        let errors = parse(&text).expect_err("invalid");
        assert!(
            errors
                .iter()
                .any(|d| d.message.contains("would take the platform's own")),
            "{errors:?}"
        );
        let without = text.replace("platform = true\n", "");
        let parsed = parse(&without);
        assert!(parsed.is_ok(), "{:?}", parsed.err());
    }

    #[test]
    fn refresh_files_outside_the_spec_directory_are_refused_at_their_position() {
        for field in ["rules", "seed_sql", "seed_plan"] {
            let text = format!(
                r#"{MINIMAL}
[refresh]
schedule = "0 3 1 * *"
image = "restage:1"
{field} = "../outside.toml"
"#
            );
            let errors = parse(&text).expect_err("invalid");
            let wanted = format!("[refresh] {field} must be relative");
            let found = errors.iter().find(|d| d.message.contains(&wanted));
            assert!(
                found.is_some_and(|d| d.line == text.lines().count()),
                "{field}: {errors:?}"
            );
        }
    }
}
