//! The spec's shape (which keys exist, what type each holds), checked on the spanned TOML
//! tree before deserializing, so that every syntax error, unknown key and wrong type is
//! reported at once with its position rather than only the first.

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::spec::{line_col, Diagnostic};

/// What a value must look like.
pub enum Shape {
    Str,
    Int,
    Bool,
    /// Array of values of one shape.
    Array(&'static Shape),
    /// Table with any keys, values of one shape.
    Map(&'static Shape),
    /// Table with these keys (`true`: required).
    Table(&'static [(&'static str, bool, Shape)]),
}

use Shape::*;

const STRS: Shape = Array(&Str);
const STR_MAP: Shape = Map(&Str);

const GENERATE: Shape = Table(&[
    ("bytes", false, Int),
    ("length", false, Int),
    ("encoding", false, Str),
    ("alphabet", false, Str),
]);

const SECRET: Shape = Table(&[
    ("generate", false, GENERATE),
    ("derive", false, Str),
    ("from_env", false, Str),
    ("must_match", false, Str),
    ("production_env", false, Str),
]);

const EGRESS: Shape = Table(&[
    ("cidr", false, Str),
    ("namespace", false, Str),
    ("ports", false, Array(&Int)),
]);

const KUBE_SECRET: Shape = Table(&[
    ("name", true, Str),
    ("keys", false, STR_MAP),
    ("literals", false, STR_MAP),
    ("remote_key", false, Str),
    (
        "remote",
        false,
        Map(&Table(&[("key", true, Str), ("property", false, Str)])),
    ),
    ("templates", false, STR_MAP),
]);

const SERVICE_ACCOUNT: Shape = Table(&[
    ("name", true, Str),
    ("automount_token", false, Bool),
    ("annotations", false, STR_MAP),
    ("labels", false, STR_MAP),
]);

const CONFIG_MAP: Shape = Table(&[("name", true, Str), ("data", false, STR_MAP)]);

const RULE: Shape = Table(&[
    ("api_groups", false, STRS),
    ("resources", false, STRS),
    ("verbs", true, STRS),
    ("resource_names", false, STRS),
]);

const ROLE: Shape = Table(&[
    ("name", true, Str),
    ("cluster", false, Bool),
    ("rules", true, Array(&RULE)),
]);

const SUBJECT: Shape = Table(&[
    ("kind", true, Str),
    ("name", true, Str),
    ("namespace", false, Str),
]);

const ROLE_BINDING: Shape = Table(&[
    ("name", true, Str),
    ("role", true, Str),
    ("cluster_role", false, Bool),
    ("subjects", true, Array(&SUBJECT)),
]);

const CLUSTER_ROLE_BINDING: Shape = Table(&[
    ("name", true, Str),
    ("role", true, Str),
    ("subjects", true, Array(&SUBJECT)),
]);

const FLUX: Shape = Table(&[
    ("name", true, Str),
    ("file", true, Str),
    ("path", true, Str),
    ("source", false, Str),
    ("namespace", false, Str),
    ("interval", false, Str),
]);

const KUBERNETES: Shape = Table(&[
    ("namespace", true, Str),
    ("labels", false, STR_MAP),
    (
        "quota",
        false,
        Table(&[
            ("cpu", true, Str),
            ("memory", true, Str),
            ("pods", false, Int),
        ]),
    ),
    (
        "limit_range",
        false,
        Table(&[
            ("default_cpu", true, Str),
            ("default_memory", true, Str),
            ("default_request_cpu", true, Str),
            ("default_request_memory", true, Str),
            ("max_cpu", false, Str),
            ("max_memory", false, Str),
        ]),
    ),
    (
        "network_policy",
        false,
        Table(&[
            ("egress", false, Array(&EGRESS)),
            ("ingress_from_namespaces", false, STRS),
        ]),
    ),
    ("service_account", false, SERVICE_ACCOUNT),
    ("secrets", false, Array(&KUBE_SECRET)),
    ("service_accounts", false, Array(&SERVICE_ACCOUNT)),
    ("config_maps", false, Array(&CONFIG_MAP)),
    ("roles", false, Array(&ROLE)),
    ("role_bindings", false, Array(&ROLE_BINDING)),
    ("cluster_role_bindings", false, Array(&CLUSTER_ROLE_BINDING)),
]);

const DELIVERY: Shape = Table(&[
    ("kind", true, Str),
    ("secret_format", false, Str),
    ("dir", false, Str),
    ("path", false, Str),
    ("sealing_cert", false, Str),
    ("store", false, Str),
    ("store_kind", false, Str),
    ("keys", false, STR_MAP),
    ("literals", false, STR_MAP),
    ("field_manager", false, Str),
    ("server", false, Str),
    ("flux", false, FLUX),
    ("remote_key", false, Str),
    ("dialect", false, Str),
]);

const KEY_REF: Shape = Table(&[("name", true, Str), ("key", true, Str)]);

/// The whole spec.
pub const SPEC: Shape = Table(&[
    ("environment", true, Str),
    ("state_file", false, Str),
    (
        "source",
        false,
        Table(&[
            ("url_env", false, Str),
            ("url", false, Str),
            ("keep_connect", false, STRS),
        ]),
    ),
    (
        "target",
        true,
        Table(&[
            ("admin_url_env", false, Str),
            ("admin_url", false, Str),
            ("app_host", false, Str),
            ("app_port", false, Int),
            ("app_sslmode", false, Str),
        ]),
    ),
    (
        "database",
        true,
        Table(&[
            ("name", true, Str),
            ("owner", true, Str),
            ("app_role", true, Str),
            ("password_secret", true, Str),
            ("connection_limit", false, Int),
            ("extensions", false, STRS),
            ("grants", false, Str),
            ("schemas", false, STRS),
            ("platform", false, Bool),
            ("migrations_role", false, Str),
            ("migrations_password_secret", false, Str),
        ]),
    ),
    ("secrets", false, Map(&SECRET)),
    ("kubernetes", false, KUBERNETES),
    ("namespaces", false, Array(&KUBERNETES)),
    ("delivery", false, Array(&DELIVERY)),
    (
        "refresh",
        false,
        Table(&[
            ("rules", false, Str),
            ("key_env", false, Str),
            ("seed_sql", false, Str),
            ("seed_plan", false, Str),
            ("keep_previous", false, Int),
            ("grace", false, Str),
            ("schedule", false, Str),
            ("image", false, Str),
            ("source_secret", false, KEY_REF),
            ("target_secret", false, KEY_REF),
            ("key_secret", false, KEY_REF),
            ("args", false, STRS),
            ("cpu", false, Str),
            ("memory", false, Str),
            ("active_deadline_seconds", false, Int),
            ("source_port", false, Int),
            ("target_port", false, Int),
        ]),
    ),
]);

fn describe(shape: &Shape) -> &'static str {
    match shape {
        Str => "a string",
        Int => "an integer",
        Bool => "true or false",
        Array(_) => "an array",
        Map(_) | Table(_) => "a table",
    }
}

struct Walker<'t> {
    text: &'t str,
    out: Vec<Diagnostic>,
}

impl Walker<'_> {
    fn push(&mut self, span: std::ops::Range<usize>, message: String) {
        let (line, column) = line_col(self.text, span.start);
        self.out.push(Diagnostic {
            line,
            column,
            message,
        });
    }

    fn table(
        &mut self,
        path: &str,
        table: &DeTable<'_>,
        span: std::ops::Range<usize>,
        fields: &[(&str, bool, Shape)],
    ) {
        for (key, value) in table.iter() {
            let name: &str = key.get_ref();
            match fields.iter().find(|(f, _, _)| *f == name) {
                Some((_, _, shape)) => self.value(&join(path, name), value, shape),
                None => {
                    let known: Vec<&str> = fields.iter().map(|(f, _, _)| *f).collect();
                    self.push(
                        key.span(),
                        format!(
                            "unknown key `{}` (expected one of: {})",
                            join(path, name),
                            known.join(", ")
                        ),
                    );
                }
            }
        }
        for (field, required, _) in fields {
            if *required
                && !table.iter().any(|(k, _)| {
                    let k: &str = k.get_ref();
                    k == *field
                })
            {
                self.push(span.clone(), format!("missing key `{}`", join(path, field)));
            }
        }
    }

    fn value(&mut self, path: &str, value: &Spanned<DeValue<'_>>, shape: &Shape) {
        let span = value.span();
        match (shape, value.get_ref()) {
            (Str, DeValue::String(_))
            | (Int, DeValue::Integer(_))
            | (Bool, DeValue::Boolean(_)) => {}
            (Array(inner), DeValue::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    self.value(&format!("{path}[{i}]"), item, inner);
                }
            }
            (Map(inner), DeValue::Table(t)) => {
                for (key, v) in t.iter() {
                    let k: &str = key.get_ref();
                    self.value(&join(path, k), v, inner);
                }
            }
            (Table(fields), DeValue::Table(t)) => self.table(path, t, span, fields),
            (expected, _) => self.push(span, format!("`{path}` must be {}", describe(expected))),
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Every syntax and shape problem of `text`.
pub fn check(text: &str) -> Vec<Diagnostic> {
    let (doc, errors) = DeTable::parse_recoverable(text);
    let mut w = Walker {
        text,
        out: Vec::new(),
    };
    for e in &errors {
        let span = e.span().unwrap_or(0..0);
        w.push(span, e.message().trim().to_owned());
    }
    if errors.is_empty() {
        if let Table(fields) = &SPEC {
            w.table("", doc.get_ref(), 0..0, fields);
        }
    }
    w.out.sort_by_key(|d| (d.line, d.column));
    w.out
}
