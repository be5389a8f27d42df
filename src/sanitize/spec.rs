//! The contract between rule files, the catalog and the sanitizers.

use std::fmt;

use super::Key;

/// Broad classes of PostgreSQL types a rule can accept. Domains count as their base type;
/// arrays are sanitized element-wise by the rules that accept their element class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TypeClass {
    /// text, varchar(n), char(n), name, citext.
    Text,
    /// int2, int4, int8.
    Integer,
    /// numeric, float4, float8.
    Numeric,
    Date,
    /// timestamp, timestamptz.
    Timestamp,
    Bool,
    Uuid,
    /// json, jsonb.
    Json,
    Bytea,
    /// inet, cidr.
    Inet,
    /// User-defined enums (only label-producing rules apply).
    Enum,
    /// Anything else (only `keep`, `null`, `constant` apply).
    Other,
}

impl fmt::Display for TypeClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            TypeClass::Text => "text",
            TypeClass::Integer => "integer",
            TypeClass::Numeric => "numeric",
            TypeClass::Date => "date",
            TypeClass::Timestamp => "timestamp",
            TypeClass::Bool => "bool",
            TypeClass::Uuid => "uuid",
            TypeClass::Json => "json",
            TypeClass::Bytea => "bytea",
            TypeClass::Inet => "inet",
            TypeClass::Enum => "enum",
            TypeClass::Other => "other",
        };
        f.write_str(name)
    }
}

impl TypeClass {
    /// Every class (rules that take any value: keep, null).
    pub const ALL: &'static [TypeClass] = &[
        TypeClass::Text,
        TypeClass::Integer,
        TypeClass::Numeric,
        TypeClass::Date,
        TypeClass::Timestamp,
        TypeClass::Bool,
        TypeClass::Uuid,
        TypeClass::Json,
        TypeClass::Bytea,
        TypeClass::Inet,
        TypeClass::Enum,
        TypeClass::Other,
    ];

    /// The class of a scalar type (domains and arrays already unwrapped). `type_name` is the
    /// unqualified `pg_type.typname`; it catches extension types sent as text (citext).
    pub fn of_scalar(oid: u32, type_name: &str, is_enum: bool) -> TypeClass {
        if is_enum {
            return TypeClass::Enum;
        }
        match oid {
            oids::TEXT | oids::VARCHAR | oids::BPCHAR | oids::NAME => TypeClass::Text,
            oids::INT2 | oids::INT4 | oids::INT8 => TypeClass::Integer,
            oids::NUMERIC | oids::FLOAT4 | oids::FLOAT8 => TypeClass::Numeric,
            oids::DATE => TypeClass::Date,
            oids::TIMESTAMP | oids::TIMESTAMPTZ => TypeClass::Timestamp,
            oids::BOOL => TypeClass::Bool,
            oids::UUID => TypeClass::Uuid,
            oids::JSON | oids::JSONB => TypeClass::Json,
            oids::BYTEA => TypeClass::Bytea,
            oids::INET | oids::CIDR => TypeClass::Inet,
            _ if type_name == "citext" => TypeClass::Text,
            _ => TypeClass::Other,
        }
    }
}

/// OIDs of the built-in types rules know the binary format of (fixed in every PostgreSQL).
pub mod oids {
    pub const BOOL: u32 = 16;
    pub const BYTEA: u32 = 17;
    pub const NAME: u32 = 19;
    pub const INT8: u32 = 20;
    pub const INT2: u32 = 21;
    pub const INT4: u32 = 23;
    pub const TEXT: u32 = 25;
    pub const JSON: u32 = 114;
    pub const XML: u32 = 142;
    pub const CIDR: u32 = 650;
    pub const FLOAT4: u32 = 700;
    pub const FLOAT8: u32 = 701;
    pub const INET: u32 = 869;
    pub const BPCHAR: u32 = 1042;
    pub const VARCHAR: u32 = 1043;
    pub const DATE: u32 = 1082;
    pub const TIMESTAMP: u32 = 1114;
    pub const TIMESTAMPTZ: u32 = 1184;
    pub const NUMERIC: u32 = 1700;
    pub const UUID: u32 = 2950;
    pub const TSVECTOR: u32 = 3614;
    pub const JSONB: u32 = 3802;
}

/// The TOML type of a rule parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    String,
    Integer,
    Float,
    Bool,
    StringList,
    /// A list of numbers (e.g. `weights`).
    FloatList,
    /// A nested table (e.g. JSON path → rule).
    Table,
}

#[derive(Debug, Clone, Copy)]
pub struct ParamSpec {
    pub name: &'static str,
    pub kind: ParamKind,
    pub required: bool,
    /// One line for `restage rules explain`, including the default when optional.
    pub doc: &'static str,
}

/// The longest output a rule can produce, checked against `varchar(n)`/`char(n)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxLen {
    /// Output has no bound (the rule refuses `varchar(n)` columns unless it can truncate).
    Unbounded,
    /// At most this many characters.
    Chars(usize),
    /// Fits any varchar(n): cut to the column's length where it would not fit. Nothing bounds it
    /// on a text column, where it may be longer than the input (a fake email for a short one).
    SameAsInput,
    /// Bounded by an integer parameter (e.g. `length`).
    Param(&'static str),
}

/// What a rule declares about itself: parameters, accepted types, guarantees, an example.
#[derive(Debug, Clone, Copy)]
pub struct RuleSpec {
    pub name: &'static str,
    pub summary: &'static str,
    pub params: &'static [ParamSpec],
    pub accepts: &'static [TypeClass],
    pub may_produce_null: bool,
    /// Distinct inputs give distinct outputs (safe on UNIQUE / primary-key columns).
    pub unique_preserving: bool,
    pub max_len: MaxLen,
    /// A TOML example line, e.g. `email = { rule = "email", domain = "example.com" }`.
    pub example: &'static str,
}

/// The column a rule is applied to.
#[derive(Debug, Clone)]
pub struct ColumnInfo {
    pub table: String,
    pub name: String,
    pub type_name: String,
    pub class: TypeClass,
    /// OID of the scalar type after unwrapping domains and one array level (e.g. 23 for an
    /// `int4[]` column): tells a rule the exact binary format within its class.
    pub scalar_oid: u32,
    /// The column is an array; rules apply to each element (`class` is the element's).
    pub array: bool,
    /// `n` of varchar(n)/char(n).
    pub max_chars: Option<usize>,
    /// For a composite type (or an array of one): its fields, each named by the field's name
    /// alone, in wire order. Empty for every other type.
    pub fields: Vec<ColumnInfo>,
    pub not_null: bool,
    /// Member of a primary key, UNIQUE constraint or unique index.
    pub unique: bool,
}

/// Parameters of one rule application as written in the rules file.
pub struct RuleArgs<'a> {
    pub params: &'a toml::Table,
    pub column: &'a ColumnInfo,
    /// Mapping domain: columns sharing it map equal inputs to equal outputs.
    pub domain: &'a str,
    /// Every copied column of the table, in COPY order (for rules that read other columns:
    /// `template`, `when`, `date_shift` per row key).
    pub row: &'a [ColumnInfo],
    /// Rule + domain pairs that rule a unique column somewhere: rules that build inner rules
    /// (`json` paths, `scrub` tokens, `composite` fields) build those in the unique form, so a
    /// value inside a document maps as the unique column of its domain maps it.
    pub unique_domains: &'a UniqueDomains,
    /// The production values of the run's sanitized domains, for rules that find them inside
    /// free text (`scrub`); None outside a run (or when no rule of the run needs them).
    pub dictionary: Option<&'a std::sync::Arc<super::dictionary::Dictionary>>,
}

/// Rule + domain pairs whose mapping is the unique-preserving one.
pub type UniqueDomains = std::collections::BTreeSet<(String, String)>;

/// For builds outside a rules file's resolution (tests, `rules explain`): no unique domains.
pub static NO_UNIQUE_DOMAINS: UniqueDomains = std::collections::BTreeSet::new();

impl RuleArgs<'_> {
    /// Whether an inner rule `rule` mapping in `domain` takes the unique form.
    pub fn unique_in(&self, rule: &str, domain: &str) -> bool {
        self.unique_domains
            .contains(&(rule.to_string(), domain.to_string()))
    }
}

/// Where a rule's output characters come from. The property tests over the registry hold every
/// rule to its answer: a rule that derives its output from the keyed hash never echoes its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputSource {
    /// Every output character comes from the keyed hash of the value, apart from what the
    /// rule's parameters or format keep (separators, a country code, a fixed prefix): the output
    /// never equals the input and no run of 4+ input digits or 6+ input characters survives in
    /// place.
    KeyedHash,
    /// Near the input on purpose (a shifted date, a noised amount), never equal to it.
    Perturbed,
    /// The input's own characters, hidden or kept as the parameters say (`mask`).
    Masked,
    /// Built from the parameters or from other columns, not from this value (`constant`,
    /// `choice`, `int_range`, `null`, `template`, `regex_replace`).
    Parameters,
    /// Other rules applied to parts of the value (`json`, `scrub`, `composite`).
    Nested,
    /// The input itself (`keep`).
    Input,
}

/// A rule: its declaration and a constructor for one column.
pub trait Rule: Send + Sync {
    fn spec(&self) -> &'static RuleSpec;
    /// Where the output comes from. The default holds a new rule to the strictest promise.
    fn output_source(&self) -> OutputSource {
        OutputSource::KeyedHash
    }
    /// Problems of the parameters that no column is needed to see (a value outside the set
    /// the rule knows), each one sentence: reported when the rules file is read, before any
    /// connection. `build` reports them too.
    fn param_problems(&self, _params: &toml::Table) -> Vec<String> {
        Vec::new()
    }
    /// Validates parameters for `args.column` and builds the sanitizer. Errors are one
    /// sentence naming the parameter (the caller adds file, line, table and column).
    fn build(&self, args: &RuleArgs<'_>) -> Result<Box<dyn ColumnSanitizer>, String>;
}

/// Other fields of the row being sanitized (for `template` and `when`).
pub trait RowAccess {
    /// The original binary value of `column` (None = NULL); Err if there is no such column.
    fn original(&self, column: &str) -> Result<Option<&[u8]>, String>;
    /// The value `column` gets in the target: its own rule applied to its original (the
    /// original when it is kept). Appends to `out`, like `ColumnSanitizer::sanitize`.
    fn sanitized(&self, column: &str, out: &mut Vec<u8>) -> Result<Outcome, String>;
}

/// Per-call context. Sanitizers are stateless; scratch space belongs to the caller.
pub struct Ctx<'a> {
    pub key: &'a Key,
    pub row: Option<&'a dyn RowAccess>,
}

/// What a sanitizer did with one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The replacement was appended to `out`.
    Value,
    Null,
    /// Keep the input unchanged (e.g. a `when` branch that keeps).
    Same,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SanitizeError(pub String);

/// One column's sanitizer, built once per run and shared by all threads.
pub trait ColumnSanitizer: Send + Sync {
    /// `input` is the binary COPY value (None = NULL). Appends the binary replacement to `out`
    /// and returns `Outcome::Value`, or returns `Null`/`Same` without writing.
    fn sanitize(
        &self,
        input: Option<&[u8]>,
        ctx: &Ctx<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Outcome, SanitizeError>;

    /// Other columns of the row this sanitizer reads through `Ctx::row`, and whether it wants
    /// their sanitized values (`template` over fake names). The caller checks they exist and
    /// that reads do not form a cycle.
    fn reads(&self) -> Vec<ColumnRead> {
        Vec::new()
    }
}

/// A sanitizer whose outcome never depends on the value: `keep` (`Same`), `null` (`Null`).
pub struct FixedOutcome(pub Outcome);

impl ColumnSanitizer for FixedOutcome {
    fn sanitize(
        &self,
        _input: Option<&[u8]>,
        _ctx: &Ctx<'_>,
        _out: &mut Vec<u8>,
    ) -> Result<Outcome, SanitizeError> {
        Ok(self.0)
    }
}

/// A column another column's sanitizer reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnRead {
    pub column: String,
    pub sanitized: bool,
}
