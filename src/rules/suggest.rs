//! Suggestions for `restage rules init`: from a column's name, type, keys and a profile of
//! sampled values to a rules-file entry and the reason for it, and the skeleton file itself.
//!
//! Pure: no I/O. Sampled values are only counted ([`SampleProfile`]); nothing here keeps,
//! returns or formats a value, so no sampled value can reach the generated file or a log.
//!
//! A suggestion is only made for a rule the running build has and whose declaration fits the
//! column (`compose::check_params` and `compose::check_fit`: type class, NOT NULL, UNIQUE,
//! `varchar(n)`); otherwise it falls back to `hash` (with a `length` when the column is
//! bounded), and failing that to `keep` marked `REVIEW`.

use std::fmt::Write as _;

use crate::sanitize::compose::{check_fit, check_params};
use crate::sanitize::spec::{ColumnInfo, MaxLen, ParamKind, RuleSpec, TypeClass};

/// What kind of personal (or secret) data a column looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pii {
    Email,
    FirstName,
    LastName,
    FullName,
    Username,
    Phone,
    StreetAddress,
    City,
    Region,
    PostalCode,
    Country,
    BirthDate,
    NationalId,
    BankAccount,
    CardNumber,
    IpAddress,
    Password,
    Secret,
    Company,
    Url,
    FreeText,
    Photo,
}

impl Pii {
    /// Noun phrase for comments: "looks like an email address".
    pub fn what(self) -> &'static str {
        match self {
            Pii::Email => "an email address",
            Pii::FirstName => "a first name",
            Pii::LastName => "a last name",
            Pii::FullName => "a person's name",
            Pii::Username => "a user name",
            Pii::Phone => "a phone number",
            Pii::StreetAddress => "a street address",
            Pii::City => "a city",
            Pii::Region => "a state or region",
            Pii::PostalCode => "a postal code",
            Pii::Country => "a country",
            Pii::BirthDate => "a birth date",
            Pii::NationalId => "a national id number",
            Pii::BankAccount => "a bank account number",
            Pii::CardNumber => "a payment card number",
            Pii::IpAddress => "an IP address",
            Pii::Password => "a password or password hash",
            Pii::Secret => "a secret or token",
            Pii::Company => "a company name",
            Pii::Url => "a URL",
            Pii::FreeText => "free text",
            Pii::Photo => "a photo",
        }
    }

    /// Plural for sample counts: "3/5 sampled values look like email addresses".
    fn plural(self) -> &'static str {
        match self {
            Pii::Email => "email addresses",
            Pii::Phone => "phone numbers",
            Pii::CardNumber => "payment card numbers (Luhn-valid)",
            Pii::IpAddress => "IP addresses",
            Pii::BankAccount => "IBANs (valid checksum)",
            Pii::Secret => "JWT-like tokens",
            _ => self.what(),
        }
    }

    /// Rules to try, best first; the first one present in the build that fits the column wins.
    pub fn candidates(self) -> &'static [&'static str] {
        match self {
            Pii::Email => &["email"],
            Pii::FirstName => &["first_name", "person_name"],
            Pii::LastName => &["last_name", "person_name"],
            Pii::FullName => &["person_name", "full_name"],
            Pii::Username => &["username"],
            Pii::Phone => &["phone"],
            Pii::StreetAddress => &["street_address", "address"],
            Pii::City => &["city"],
            Pii::Region => &["state", "region"],
            Pii::PostalCode => &["postcode", "postal_code", "zip"],
            Pii::Country => &["country"],
            Pii::BirthDate => &["birth_date", "date_shift", "date_noise"],
            Pii::NationalId => &["national_id", "ssn"],
            Pii::BankAccount => &["iban", "bank_account"],
            Pii::CardNumber => &["card_number", "credit_card"],
            Pii::IpAddress => &["ip_address", "ip"],
            Pii::Password => &["password_hash", "password"],
            Pii::Secret => &["token", "secret"],
            Pii::Company => &["company", "company_name"],
            Pii::Url => &["url"],
            Pii::FreeText => &["lorem", "text", "paragraph", "null"],
            Pii::Photo => &["image", "null"],
        }
    }

    /// Mapping domain shared by every column of this kind, for values that join or repeat
    /// across tables (the same email must map alike in `users` and `invoices`).
    pub fn domain(self) -> Option<&'static str> {
        match self {
            Pii::Email => Some("email"),
            Pii::Username => Some("username"),
            Pii::Phone => Some("phone"),
            Pii::NationalId => Some("national_id"),
            Pii::BankAccount => Some("bank_account"),
            Pii::CardNumber => Some("card_number"),
            Pii::IpAddress => Some("ip_address"),
            _ => None,
        }
    }

    /// Whether a keyed hash is an acceptable stand-in when no dedicated rule fits. Not for
    /// coarse location parts (a hashed country is noise, the country alone rarely identifies
    /// anyone) nor for dates.
    fn hash_fallback(self) -> bool {
        !matches!(
            self,
            Pii::City | Pii::Region | Pii::Country | Pii::BirthDate | Pii::Photo
        )
    }

    /// Type classes a column of this kind can have; a name match on another class
    /// (`email_verified boolean`, `phone_count int`) is not personal data.
    fn classes(self) -> &'static [TypeClass] {
        use TypeClass::*;
        match self {
            Pii::Phone | Pii::NationalId | Pii::BankAccount | Pii::CardNumber => {
                &[Text, Integer, Numeric, Other]
            }
            Pii::BirthDate => &[Date, Timestamp, Text],
            Pii::IpAddress => &[Inet, Text, Other],
            Pii::Password | Pii::Secret => &[Text, Bytea, Uuid, Other],
            Pii::FreeText => &[Text, Json, Other],
            Pii::Photo => &[Bytea, Text],
            // A JSON `shipping_address` is still an address, if not one a text rule can take.
            _ => &[Text, Json, Other],
        }
    }
}

/// How a column takes part in keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRole {
    None,
    /// Member of the primary key.
    Primary,
    /// Member of the primary key and of a foreign key to this table.
    PrimaryForeign(String),
    /// Member of a foreign key to this table (`schema.table`).
    Foreign(String),
}

// ---------------------------------------------------------------------------------------------
// Column names

/// Lower-case words of an identifier: `BillingPostalCode` → billing, postal, code;
/// `IPAddress` → ip, address; `address_line1` → address, line, 1.
pub fn words(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.chars().collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if let Some(&prev) = i
            .checked_sub(1)
            .and_then(|p| chars.get(p))
            .filter(|_| !cur.is_empty())
        {
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let boundary = (prev.is_lowercase() && c.is_uppercase())
                || (prev.is_uppercase() && c.is_uppercase() && next_lower)
                || (prev.is_ascii_digit() != c.is_ascii_digit());
            if boundary {
                out.push(std::mem::take(&mut cur));
            }
        }
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Words that make a name about a fact *of* the data rather than the data itself:
/// `email_verified`, `phone_count`, `address_type`, `login_at`.
const META_SUFFIX: &[&str] = &[
    "at",
    "on",
    "count",
    "counts",
    "verified",
    "confirmed",
    "enabled",
    "disabled",
    "sent",
    "status",
    "type",
    "kind",
    "format",
    "flag",
    "valid",
    "validated",
    "opt",
    "optin",
    "consent",
    "bounced",
    "len",
    "length",
    "hint",
    "policy",
    "changed",
    "updated",
    "expires",
    "expiry",
    "attempts",
    "visible",
    "public",
    "private",
    "required",
    "template",
    "provider",
    "domain",
    "pattern",
    "mask",
    "prefix",
    "suffix",
    "scheme",
];
const META_PREFIX: &[&str] = &["is", "has", "num", "n", "no", "allow", "can", "should"];

/// Table names whose rows are people (a bare `name` column there is a person's name).
const PERSON_TABLES: &[&str] = &[
    "user",
    "customer",
    "employee",
    "person",
    "people",
    "contact",
    "member",
    "client",
    "patient",
    "staff",
    "student",
    "account",
    "profile",
    "author",
    "subscriber",
    "applicant",
    "candidate",
    "guest",
    "driver",
    "passenger",
    "teacher",
    "doctor",
    "buyer",
    "seller",
    "recipient",
    "owner",
    "visitor",
    "volunteer",
    "donor",
    "lead",
    "worker",
    "physician",
];

fn singular(word: &str) -> &str {
    word.strip_suffix('s').unwrap_or(word)
}

/// What the table is about, for names that are only personal in a personal table.
#[derive(Debug, Clone, Default)]
pub struct TableContext {
    /// Rows are people: `users`, `Customer`, `employees`…
    pub person: bool,
    /// The table has address columns, so `state`/`region` are address parts too.
    pub address: bool,
}

impl TableContext {
    pub fn new(table_name: &str, column_names: &[&str]) -> TableContext {
        let person = words(table_name)
            .iter()
            .any(|w| PERSON_TABLES.contains(&singular(w)));
        let address = column_names.iter().any(|c| {
            let w = words(c);
            let joined: String = w.concat();
            w.iter().any(|x| {
                matches!(
                    x.as_str(),
                    "address" | "street" | "city" | "zip" | "postcode" | "postal"
                )
            }) || joined.contains("zipcode")
                || joined.contains("postalcode")
        });
        TableContext { person, address }
    }
}

/// Personal data a column name points at, whatever the type.
pub fn by_name(name: &str, table: &TableContext) -> Option<Pii> {
    let w = words(name);
    let first = w.first().map(String::as_str)?;
    let last = w.last().map(String::as_str).unwrap_or(first);
    if w.len() > 1 && (META_SUFFIX.contains(&last) || META_PREFIX.contains(&first)) {
        return None;
    }
    // `customer_id`, `address_uuid`: a key to something, not the thing (except id numbers).
    let id_number = w
        .iter()
        .any(|x| matches!(x.as_str(), "national" | "tax" | "passport" | "nin"));
    if w.len() > 1 && matches!(last, "id" | "ids" | "uuid" | "fk") && !id_number {
        return None;
    }
    let joined: String = w.concat();
    let has = |x: &str| w.iter().any(|y| y == x);
    let has_any = |xs: &[&str]| w.iter().any(|y| xs.contains(&y.as_str()));
    let name_with = |xs: &[&str]| has("name") && has_any(xs);

    if has_any(&[
        "password",
        "passwd",
        "pwd",
        "passhash",
        "passwordhash",
        "passphrase",
    ]) || (has("pass") && has_any(&["hash", "word", "digest"]))
    {
        return Some(Pii::Password);
    }
    if has_any(&[
        "token", "secret", "apikey", "otp", "totp", "mfa", "jwt", "nonce",
    ]) || joined.contains("apikey")
        || joined.contains("accesskey")
        || joined.contains("privatekey")
        || (has("api") && has("key"))
    {
        return Some(Pii::Secret);
    }
    if has_any(&["email", "mail", "emailaddress"]) || joined.starts_with("email") {
        return Some(Pii::Email);
    }
    if has_any(&[
        "phone",
        "phones",
        "mobile",
        "fax",
        "tel",
        "telephone",
        "cell",
        "cellphone",
        "msisdn",
        "whatsapp",
        "phonenumber",
        "mobilephone",
        "homephone",
    ]) || joined.contains("phonenumber")
    {
        return Some(Pii::Phone);
    }
    if has_any(&[
        "ssn",
        "nin",
        "sin",
        "passport",
        "nationalid",
        "taxid",
        "tin",
    ]) || (has("national") && has_any(&["id", "number", "no"]))
        || (has("tax") && has_any(&["number", "no"]))
        || (has("social") && has("security"))
        || (has_any(&["driver", "drivers", "driving"]) && has_any(&["license", "licence"]))
    {
        return Some(Pii::NationalId);
    }
    if has_any(&["iban", "bic", "swift"])
        || (has_any(&["account", "acct", "bank"]) && has_any(&["number", "no", "num", "nr"]))
        || (has("bank") && has("account"))
        || joined.contains("accountnumber")
    {
        return Some(Pii::BankAccount);
    }
    if has_any(&["pan", "cvv", "cvc", "creditcard", "cardnumber", "ccnum"])
        || (has_any(&["card", "cc"]) && has_any(&["number", "no", "num", "nr"]))
        || joined.contains("creditcard")
        || joined.contains("cardnumber")
    {
        return Some(Pii::CardNumber);
    }
    if has_any(&["ip", "ipaddr", "ipaddress", "ipv4", "ipv6"])
        || w.iter().any(|x| x.starts_with("ipaddr"))
        || (has("remote") && has_any(&["addr", "address", "host"]))
    {
        return Some(Pii::IpAddress);
    }
    if has_any(&["birth", "dob", "birthday", "birthdate", "born"])
        || joined.contains("dateofbirth")
        || joined.contains("birthdate")
    {
        return Some(Pii::BirthDate);
    }
    if has_any(&[
        "username",
        "login",
        "handle",
        "nickname",
        "nick",
        "screenname",
    ]) || name_with(&["user", "screen", "login", "nick"])
        || joined == "username"
    {
        return Some(Pii::Username);
    }
    if has_any(&["firstname", "givenname", "forename", "middlename"])
        || name_with(&["first", "given", "fore", "middle"])
    {
        return Some(Pii::FirstName);
    }
    if has_any(&["lastname", "surname", "familyname", "maiden", "maidenname"])
        || name_with(&["last", "family", "sur"])
    {
        return Some(Pii::LastName);
    }
    if has_any(&["fullname", "contactname", "displayname", "personname"])
        || name_with(&[
            "full",
            "contact",
            "display",
            "person",
            "recipient",
            "ship",
            "shipping",
            "billing",
            "customer",
            "employee",
            "owner",
            "holder",
            "cardholder",
            "signer",
            "patient",
            "legal",
            "real",
        ])
        || (w.len() == 1 && first == "name" && table.person)
    {
        return Some(Pii::FullName);
    }
    if has_any(&[
        "company",
        "organisation",
        "organization",
        "employer",
        "firm",
        "companyname",
    ]) || (has("business") && has("name"))
        || (has("org") && has("name"))
    {
        return Some(Pii::Company);
    }
    let machine = has_any(&["mac", "hardware", "memory", "host", "server", "bluetooth"]);
    let street = has_any(&[
        "address",
        "street",
        "addr",
        "streetaddress",
        "address1",
        "address2",
    ]) || joined.ends_with("address");
    if (street && !machine)
        || joined.starts_with("addressline")
        || (has("line") && w.len() == 2 && w[1].chars().all(|c| c.is_ascii_digit()))
    {
        return Some(Pii::StreetAddress);
    }
    if has_any(&["city", "town"]) {
        return Some(Pii::City);
    }
    if has_any(&["zip", "zipcode", "postcode", "postal", "postalcode"]) {
        return Some(Pii::PostalCode);
    }
    if has_any(&["state", "region", "province", "county"])
        && (table.address
            || has_any(&[
                "billing",
                "shipping",
                "ship",
                "home",
                "mailing",
                "residence",
            ]))
    {
        return Some(Pii::Region);
    }
    if has("country") {
        return Some(Pii::Country);
    }
    if has_any(&[
        "url", "website", "homepage", "webpage", "blog", "linkedin", "twitter",
    ]) || joined.ends_with("url")
    {
        return Some(Pii::Url);
    }
    if has_any(&[
        "photo",
        "avatar",
        "selfie",
        "portrait",
        "signature",
        "headshot",
    ]) || (has("picture") && table.person)
    {
        return Some(Pii::Photo);
    }
    if has_any(&[
        "note",
        "notes",
        "comment",
        "comments",
        "remark",
        "remarks",
        "bio",
        "biography",
        "about",
        "message",
        "messages",
        "memo",
        "feedback",
        "diagnosis",
    ]) {
        return Some(Pii::FreeText);
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Sampled values

/// The kinds sampled values are tested for, in the order they are tried.
const CONTENT_KINDS: [Pii; 6] = [
    Pii::Secret,
    Pii::Email,
    Pii::BankAccount,
    Pii::CardNumber,
    Pii::IpAddress,
    Pii::Phone,
];

/// Counts over a column's sampled values. Holds no value: only how many looked like what.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SampleProfile {
    /// Non-null values looked at.
    pub sampled: usize,
    /// Per kind of [`CONTENT_KINDS`], values that are wholly one of those.
    whole: [usize; 6],
    /// Values with an email address somewhere inside (free text, JSON).
    pub containing_email: usize,
}

impl SampleProfile {
    pub fn add(&mut self, value: &str) {
        self.sampled += 1;
        if let Some(kind) = classify_value(value) {
            if let Some(i) = CONTENT_KINDS.iter().position(|k| *k == kind) {
                self.whole[i] += 1;
            }
        }
        if contains_email(value) {
            self.containing_email += 1;
        }
    }

    /// Adds another sample of the same column (another partition's).
    pub fn merge(&mut self, other: &SampleProfile) {
        self.sampled += other.sampled;
        for (mine, theirs) in self.whole.iter_mut().zip(other.whole) {
            *mine += theirs;
        }
        self.containing_email += other.containing_email;
    }

    /// How many sampled values are wholly of `kind`.
    pub fn count(&self, kind: Pii) -> usize {
        CONTENT_KINDS
            .iter()
            .position(|k| *k == kind)
            .map_or(0, |i| self.whole[i])
    }

    /// The kind at least half of the sampled values are, with its count.
    pub fn dominant(&self) -> Option<(Pii, usize)> {
        CONTENT_KINDS
            .iter()
            .map(|k| (*k, self.count(*k)))
            .filter(|(_, n)| *n > 0 && n * 2 >= self.sampled)
            .max_by_key(|(_, n)| *n)
    }

    /// Free text with email addresses in at least one value in ten.
    pub fn embeds_emails(&self) -> bool {
        self.containing_email > 0 && self.containing_email * 10 >= self.sampled
    }
}

/// What one value wholly is, if it is one of the recognised kinds.
pub fn classify_value(value: &str) -> Option<Pii> {
    let v = value.trim();
    if v.is_empty() || v.len() > 4096 {
        return None;
    }
    if is_jwt(v) {
        Some(Pii::Secret)
    } else if is_email(v) {
        Some(Pii::Email)
    } else if is_iban(v) {
        Some(Pii::BankAccount)
    } else if is_card_number(v) {
        Some(Pii::CardNumber)
    } else if is_ip(v) {
        Some(Pii::IpAddress)
    } else if is_phone(v) {
        Some(Pii::Phone)
    } else {
        None
    }
}

pub fn is_email(v: &str) -> bool {
    let Some((local, domain)) = v.split_once('@') else {
        return false;
    };
    if local.is_empty() || local.len() > 64 || domain.contains('@') {
        return false;
    }
    let local_ok = local
        .chars()
        .all(|c| c.is_alphanumeric() || "._%+-'!#$&*=?^`{|}~/".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.chars().count() >= 2 && tld.chars().all(char::is_alphabetic));
    local_ok && domain_ok
}

/// An email address somewhere in free text.
pub fn contains_email(v: &str) -> bool {
    v.contains('@')
        && v.split(|c: char| c.is_whitespace() || "<>()[],;:\"'".contains(c))
            .map(|t| t.trim_end_matches(['.', '!', '?']))
            .any(is_email)
}

/// Luhn checksum over the digits of `v` (which must be digits only).
pub fn luhn(digits: &str) -> bool {
    let mut sum = 0;
    for (i, c) in digits.chars().rev().enumerate() {
        let Some(mut d) = c.to_digit(10) else {
            return false;
        };
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum % 10 == 0
}

/// 13–19 digits, optionally grouped with spaces or dashes, passing Luhn, not one repeated digit.
pub fn is_card_number(v: &str) -> bool {
    if !v
        .chars()
        .all(|c| c.is_ascii_digit() || c == ' ' || c == '-')
    {
        return false;
    }
    let digits: String = v.chars().filter(char::is_ascii_digit).collect();
    let first = digits.chars().next();
    (13..=19).contains(&digits.len())
        && !digits.chars().all(|c| Some(c) == first)
        && !digits.starts_with('0')
        && luhn(&digits)
}

/// An IBAN (spaces allowed) whose ISO 13616 mod-97 checksum is valid.
pub fn is_iban(v: &str) -> bool {
    let s: String = v.chars().filter(|c| *c != ' ').collect();
    let b = s.as_bytes();
    if !(15..=34).contains(&b.len())
        || !b[..2].iter().all(u8::is_ascii_uppercase)
        || !b[2..4].iter().all(u8::is_ascii_digit)
        || !b[4..]
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        return false;
    }
    let mut rem: u32 = 0;
    for &c in b[4..].iter().chain(&b[..4]) {
        let n = if c.is_ascii_digit() {
            u32::from(c - b'0')
        } else {
            u32::from(c - b'A') + 10
        };
        rem = if n >= 10 {
            (rem * 100 + n) % 97
        } else {
            (rem * 10 + n) % 97
        };
    }
    rem == 1
}

pub fn is_ip(v: &str) -> bool {
    let addr = v.split_once('/').map_or(v, |(a, _)| a);
    if addr.parse::<std::net::Ipv4Addr>().is_ok() {
        return addr.split('.').count() == 4;
    }
    addr.contains(':') && addr.parse::<std::net::Ipv6Addr>().is_ok()
}

/// `header.payload.signature` in base64url, header starting `eyJ` (`{"`).
pub fn is_jwt(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    parts.len() == 3
        && v.starts_with("eyJ")
        && v.len() >= 30
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '=')
        })
}

/// 7–15 digits with phone punctuation; plain numbers, dates and times are not phones.
pub fn is_phone(v: &str) -> bool {
    let body = v.strip_prefix('+');
    let international = body.is_some();
    let body = body.unwrap_or(v).trim_start();
    if body.is_empty()
        || !body
            .chars()
            .all(|c| c.is_ascii_digit() || " -().\u{a0}/".contains(c))
    {
        return false;
    }
    let digits = body.chars().filter(char::is_ascii_digit).count();
    if !(7..=15).contains(&digits) {
        return false;
    }
    let groups: Vec<&str> = body
        .split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .collect();
    // 2024-01-31, 31.01.2024, 1/31/2024
    let date_like = groups.len() == 3
        && groups.iter().filter(|g| g.len() <= 2).count() >= 2
        && groups.iter().any(|g| g.len() == 4)
        && !body.contains('(');
    if date_like {
        return false;
    }
    let separated = body.chars().any(|c| " -()".contains(c));
    let number_like = !separated && body.chars().filter(|c| *c == '.').count() <= 1;
    if international {
        return !(number_like && body.contains('.'));
    }
    if separated {
        return groups.len() >= 2;
    }
    // Bare digits: only a national number with its trunk prefix (0…) reads as a phone.
    number_like && !body.contains('.') && body.starts_with('0') && digits >= 10
}

// ---------------------------------------------------------------------------------------------
// Suggestions

/// A column as `rules init` sees it.
#[derive(Debug, Clone)]
pub struct ColumnFacts {
    pub info: ColumnInfo,
    pub key: KeyRole,
    /// Profile of sampled values; None when the column was not sampled (type not text-like,
    /// `--sample 0`).
    pub samples: Option<SampleProfile>,
}

/// What to write for a column.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Keep,
    Rule {
        rule: String,
        domain: Option<String>,
        params: toml::Table,
    },
}

impl Entry {
    /// The TOML value: `"keep"` or `{ rule = "email", domain = "email" }`.
    pub fn to_toml(&self) -> String {
        match self {
            Entry::Keep => "\"keep\"".to_string(),
            Entry::Rule {
                rule,
                domain,
                params,
            } => {
                let mut s = format!("{{ rule = {}", toml_string(rule));
                if let Some(d) = domain {
                    let _ = write!(s, ", domain = {}", toml_string(d));
                }
                for (k, v) in params {
                    let value = match v {
                        toml::Value::String(t) => toml_string(t),
                        other => other.to_string(),
                    };
                    let _ = write!(s, ", {} = {value}", toml_key(k));
                }
                s.push_str(" }");
                s
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    pub entry: Entry,
    /// One line, no sampled value in it.
    pub reason: String,
    /// The personal data detected, if any.
    pub pii: Option<Pii>,
    /// Needs a decision: the comment starts with `REVIEW:`.
    pub review: bool,
}

impl Suggestion {
    fn keep(reason: impl Into<String>) -> Suggestion {
        Suggestion {
            entry: Entry::Keep,
            reason: reason.into(),
            pii: None,
            review: false,
        }
    }
}

/// The suggestion for one column. `rules` are the declarations of the rules this build has
/// (`registry::all()`), so only rules that exist and fit are ever suggested.
pub fn suggest(col: &ColumnFacts, table: &TableContext, rules: &[&RuleSpec]) -> Suggestion {
    let info = &col.info;
    let named = by_name(&info.name, table).filter(|k| k.classes().contains(&info.class));
    let by_type = (info.class == TypeClass::Inet).then_some(Pii::IpAddress);
    let name_kind = named.or(by_type);
    let samples = col.samples.as_ref();
    let content = samples.and_then(SampleProfile::dominant);
    let embeds = samples.is_some_and(SampleProfile::embeds_emails);

    let mut evidence = Vec::new();
    let kind = match (name_kind, content) {
        (Some(n), Some((c, _))) if n == c || n == Pii::FreeText => c,
        (Some(n), _) => n,
        (None, Some((c, _))) => c,
        (None, None) if embeds => Pii::FreeText,
        (None, None) => {
            return plain(col, samples);
        }
    };
    if named == Some(kind) {
        evidence.push(format!("column name `{}`", info.name));
    } else if by_type == Some(kind) {
        evidence.push(format!("type {}", info.type_name));
    }
    // Only content that backs the chosen kind is cited (postal codes can look like short
    // phone numbers; the name decides then).
    if let (Some(p), Some((c, count))) = (samples, content.filter(|(c, _)| *c == kind)) {
        evidence.push(format!(
            "{count}/{} sampled values look like {}",
            p.sampled,
            c.plural()
        ));
    }
    if let Some(p) = samples.filter(|_| embeds && kind == Pii::FreeText) {
        evidence.push(format!(
            "{}/{} sampled values contain email addresses",
            p.containing_email, p.sampled
        ));
    }
    let evidence = evidence.join("; ");

    match &col.key {
        KeyRole::Primary | KeyRole::PrimaryForeign(_) => {
            return Suggestion {
                entry: Entry::Keep,
                reason: format!(
                    "REVIEW: primary key that looks like {} ({evidence}); a rule here must be \
                     unique-preserving and shared (same domain) with every foreign key to it",
                    kind.what()
                ),
                pii: Some(kind),
                review: true,
            };
        }
        KeyRole::Foreign(to) => {
            return Suggestion {
                entry: Entry::Keep,
                reason: format!(
                    "REVIEW: foreign key → {to} that looks like {} ({evidence}); sanitize it \
                     with the same rule and domain as the referenced column",
                    kind.what()
                ),
                pii: Some(kind),
                review: true,
            };
        }
        KeyRole::None => {}
    }

    for name in kind.candidates() {
        if let Some(entry) = fitting(name, kind.domain(), info, rules) {
            return Suggestion {
                entry,
                reason: format!("personal data, {}: {evidence}", kind.what()),
                pii: Some(kind),
                review: false,
            };
        }
    }
    if kind.hash_fallback() {
        if let Some(entry) = fitting("hash", kind.domain(), info, rules) {
            return Suggestion {
                entry,
                reason: format!(
                    "personal data, {}: {evidence}; no fitting rule for it in this build, hashed",
                    kind.what()
                ),
                pii: Some(kind),
                review: false,
            };
        }
    }
    Suggestion {
        entry: Entry::Keep,
        reason: format!(
            "REVIEW: looks like {}, no fitting rule in this build ({evidence})",
            kind.what()
        ),
        pii: Some(kind),
        review: true,
    }
}

/// `keep` for a column nothing personal was found in, with what it is.
fn plain(col: &ColumnFacts, samples: Option<&SampleProfile>) -> Suggestion {
    let info = &col.info;
    match &col.key {
        KeyRole::Primary => return Suggestion::keep("primary key"),
        KeyRole::PrimaryForeign(to) => {
            return Suggestion::keep(format!("primary key, foreign key → {to}"))
        }
        KeyRole::Foreign(to) => return Suggestion::keep(format!("foreign key → {to}")),
        KeyRole::None => {}
    }
    let w = words(&info.name);
    let id_like = w
        .last()
        .is_some_and(|l| matches!(l.as_str(), "id" | "uuid" | "key" | "ref" | "code" | "no"));
    let what = match info.class {
        TypeClass::Bool => "boolean".to_string(),
        TypeClass::Timestamp | TypeClass::Date => info.type_name.clone(),
        TypeClass::Enum => format!("enum {} (a fixed set of labels)", info.type_name),
        TypeClass::Uuid => "identifier (uuid)".to_string(),
        TypeClass::Integer | TypeClass::Numeric if id_like || info.unique => {
            "identifier".to_string()
        }
        TypeClass::Integer | TypeClass::Numeric => format!("number ({})", info.type_name),
        TypeClass::Bytea => "binary data".to_string(),
        TypeClass::Json => match samples {
            Some(p) if p.sampled > 0 => format!(
                "JSON; no email addresses in {} sampled documents",
                p.sampled
            ),
            _ => "JSON (not sampled)".to_string(),
        },
        TypeClass::Text | TypeClass::Other | TypeClass::Inet => {
            let base = if info.unique {
                "unique text".to_string()
            } else if id_like {
                "code or identifier".to_string()
            } else {
                info.type_name.clone()
            };
            match samples {
                Some(p) if p.sampled > 0 => format!(
                    "{base}; nothing personal in the column name or in {} sampled values",
                    p.sampled
                ),
                Some(_) => {
                    format!("{base}; nothing personal in the column name, no values to sample")
                }
                None => format!("{base}; nothing personal in the column name"),
            }
        }
    };
    let unique = if info.unique && !matches!(info.class, TypeClass::Text | TypeClass::Other) {
        ", unique"
    } else {
        ""
    };
    Suggestion::keep(format!("{what}{unique}"))
}

/// `rule` as an entry if the build has it and it fits the column, with parameters filled in
/// where the column decides them (an output `length` bounded by `varchar(n)`).
fn fitting(
    rule: &str,
    domain: Option<&str>,
    column: &ColumnInfo,
    rules: &[&RuleSpec],
) -> Option<Entry> {
    let spec = rules.iter().find(|s| s.name == rule)?;
    let mut params = toml::Table::new();
    if let (MaxLen::Param(p), Some(limit)) = (spec.max_len, column.max_chars) {
        if spec
            .params
            .iter()
            .any(|d| d.name == p && d.kind == ParamKind::Integer)
        {
            params.insert(
                p.to_string(),
                toml::Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)),
            );
        }
    }
    if !check_params(spec, &params).is_empty() || !check_fit(spec, &params, column).is_empty() {
        return None;
    }
    let domain = domain.filter(|_| spec.name != "null" && spec.name != "keep");
    Some(Entry::Rule {
        rule: spec.name.to_string(),
        domain: domain.map(str::to_string),
        params,
    })
}

/// Whether values of this column are sampled: text-like scalars (and JSON, for addresses
/// inside documents). `col::text` of anything else says nothing about people.
pub fn samples_column(info: &ColumnInfo) -> bool {
    !info.array && matches!(info.class, TypeClass::Text | TypeClass::Json)
}

// ---------------------------------------------------------------------------------------------
// The file

/// A TOML basic string.
pub fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A TOML key: bare when it can be, quoted otherwise.
pub fn toml_key(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        s.to_string()
    } else {
        toml_string(s)
    }
}

/// One table's section.
#[derive(Debug, Clone)]
pub struct TableSection {
    /// `schema.table`, unquoted, as in the catalog.
    pub name: String,
    pub columns: Vec<(String, Suggestion)>,
    /// A note printed above the section (e.g. sampling failed).
    pub note: Option<String>,
}

/// The whole skeleton.
pub fn render(database: &str, date: &str, tables: &[TableSection]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# restage rules for {}, generated by `restage rules init` on {date}",
        one_line(database)
    );
    let columns: usize = tables.iter().map(|t| t.columns.len()).sum();
    let flagged: usize = tables
        .iter()
        .flat_map(|t| &t.columns)
        .filter(|(_, s)| s.pii.is_some())
        .count();
    let review: usize = tables
        .iter()
        .flat_map(|t| &t.columns)
        .filter(|(_, s)| s.review)
        .count();
    let _ = writeln!(
        out,
        "# {} tables, {columns} columns; {flagged} look personal, {review} marked REVIEW need a \
         decision.",
        tables.len()
    );
    out.push_str(
        "#\n\
         # Every copied column is listed with a suggested entry and the reason for it, found from\n\
         # the column's name, type, keys and a sample of its values (only counted, never written\n\
         # here). \"keep\" copies a value unchanged; { rule = \"…\" } replaces it. Columns sharing\n\
         # a `domain` map equal values alike, so joins on them still match.\n\
         # `restage rules list` shows the rules of this build, `restage rules explain NAME` one.\n\
         \n\
         # Glob over column names → entry, for columns a table below does not list:\n\
         # [defaults.columns]\n\
         # \"*_at\" = \"keep\"\n",
    );
    for table in tables {
        out.push('\n');
        if let Some(note) = &table.note {
            let _ = writeln!(out, "# {}", one_line(note));
        }
        let _ = writeln!(out, "[tables.{}.columns]", toml_string(&table.name));
        let keys: Vec<String> = table.columns.iter().map(|(n, _)| toml_key(n)).collect();
        let key_width = keys.iter().map(|k| k.chars().count()).max().unwrap_or(0);
        let lines: Vec<String> = keys
            .iter()
            .zip(&table.columns)
            .map(|(key, (_, s))| {
                let pad = key_width.saturating_sub(key.chars().count());
                format!("{key}{} = {}", " ".repeat(pad), s.entry.to_toml())
            })
            .collect();
        let width = lines
            .iter()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(0)
            .min(72);
        for (line, (_, s)) in lines.iter().zip(&table.columns) {
            let gap = width.saturating_sub(line.chars().count()) + 2;
            let _ = writeln!(out, "{line}{}# {}", " ".repeat(gap), one_line(&s.reason));
        }
    }
    out
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sanitize::spec::{oids, ParamSpec};

    static KEEP: RuleSpec = RuleSpec {
        name: "keep",
        summary: "Copy unchanged.",
        params: &[],
        accepts: TypeClass::ALL,
        may_produce_null: false,
        unique_preserving: true,
        max_len: MaxLen::SameAsInput,
        example: r#"a = "keep""#,
    };
    static NULL: RuleSpec = RuleSpec {
        name: "null",
        summary: "NULL.",
        params: &[],
        accepts: TypeClass::ALL,
        may_produce_null: true,
        unique_preserving: false,
        max_len: MaxLen::Chars(0),
        example: r#"a = { rule = "null" }"#,
    };
    /// Declarations shaped like the ones the rule library ships.
    static EMAIL: RuleSpec = RuleSpec {
        name: "email",
        summary: "Fake email.",
        params: &[],
        accepts: &[TypeClass::Text],
        may_produce_null: false,
        unique_preserving: true,
        max_len: MaxLen::Chars(40),
        example: r#"a = { rule = "email" }"#,
    };
    static HASH: RuleSpec = RuleSpec {
        name: "hash",
        summary: "Keyed hash.",
        params: &[ParamSpec {
            name: "length",
            kind: ParamKind::Integer,
            required: false,
            doc: "output length",
        }],
        accepts: &[TypeClass::Text],
        may_produce_null: false,
        unique_preserving: true,
        max_len: MaxLen::Param("length"),
        example: r#"a = { rule = "hash" }"#,
    };

    fn text(name: &str) -> ColumnFacts {
        ColumnFacts {
            info: ColumnInfo {
                table: "public.t".into(),
                name: name.into(),
                type_name: "text".into(),
                class: TypeClass::Text,
                scalar_oid: oids::TEXT,
                array: false,
                max_chars: None,
                fields: Vec::new(),
                not_null: false,
                unique: false,
            },
            key: KeyRole::None,
            samples: None,
        }
    }

    fn of(class: TypeClass, oid: u32, name: &str) -> ColumnFacts {
        let mut c = text(name);
        c.info.class = class;
        c.info.scalar_oid = oid;
        c.info.type_name = class.to_string();
        c
    }

    fn profile(values: &[&str]) -> SampleProfile {
        let mut p = SampleProfile::default();
        for v in values {
            p.add(v);
        }
        p
    }

    fn people() -> TableContext {
        TableContext::new("users", &["name", "address"])
    }

    #[test]
    fn words_split_case_and_separators() {
        assert_eq!(words("BillingPostalCode"), ["billing", "postal", "code"]);
        assert_eq!(words("IPAddress"), ["ip", "address"]);
        assert_eq!(words("address_line1"), ["address", "line", "1"]);
        assert_eq!(words("SupportRepId"), ["support", "rep", "id"]);
        assert_eq!(words("e-mail"), ["e", "mail"]);
    }

    #[test]
    fn names_map_to_kinds() {
        let t = people();
        let cases = [
            ("email", Some(Pii::Email)),
            ("Email", Some(Pii::Email)),
            ("contact_email_address", Some(Pii::Email)),
            ("FirstName", Some(Pii::FirstName)),
            ("last_name", Some(Pii::LastName)),
            ("contact_name", Some(Pii::FullName)),
            ("name", Some(Pii::FullName)),
            ("Phone", Some(Pii::Phone)),
            ("home_phone", Some(Pii::Phone)),
            ("Fax", Some(Pii::Phone)),
            ("BillingAddress", Some(Pii::StreetAddress)),
            ("City", Some(Pii::City)),
            ("State", Some(Pii::Region)),
            ("PostalCode", Some(Pii::PostalCode)),
            ("zip", Some(Pii::PostalCode)),
            ("Country", Some(Pii::Country)),
            ("BirthDate", Some(Pii::BirthDate)),
            ("dob", Some(Pii::BirthDate)),
            ("ssn", Some(Pii::NationalId)),
            ("iban", Some(Pii::BankAccount)),
            ("account_number", Some(Pii::BankAccount)),
            ("card_number", Some(Pii::CardNumber)),
            ("last_login_ip", Some(Pii::IpAddress)),
            ("client_ip_address", Some(Pii::IpAddress)),
            ("ship_address", Some(Pii::StreetAddress)),
            ("shipaddress", Some(Pii::StreetAddress)),
            ("mac_address", None),
            ("password_hash", Some(Pii::Password)),
            ("pass_hash", Some(Pii::Password)),
            ("api_key", Some(Pii::Secret)),
            ("reset_token", Some(Pii::Secret)),
            ("username", Some(Pii::Username)),
            ("login", Some(Pii::Username)),
            ("Company", Some(Pii::Company)),
            ("company_name", Some(Pii::Company)),
            ("website", Some(Pii::Url)),
            ("avatar_url", Some(Pii::Url)),
            ("notes", Some(Pii::FreeText)),
            ("photo", Some(Pii::Photo)),
            // Not personal, or about the data rather than the data.
            ("email_verified", None),
            ("phone_count", None),
            ("address_id", None),
            ("is_email", None),
            ("product_name", None),
            ("Title", None),
            ("description", None),
            ("created_at", None),
            ("Total", None),
        ];
        for (name, want) in cases {
            assert_eq!(by_name(name, &t), want, "{name}");
        }
    }

    #[test]
    fn bare_name_and_state_depend_on_the_table() {
        let artists = TableContext::new("Artist", &["ArtistId", "Name"]);
        assert_eq!(by_name("Name", &artists), None);
        assert_eq!(
            by_name("Name", &TableContext::new("Customer", &[])),
            Some(Pii::FullName)
        );
        let orders = TableContext::new("orders", &["state"]);
        assert_eq!(by_name("state", &orders), None, "an order's state");
        assert_eq!(by_name("ship_region", &orders), Some(Pii::Region));
        let customers = TableContext::new("customers", &["address", "region"]);
        assert_eq!(by_name("region", &customers), Some(Pii::Region));
    }

    #[test]
    fn value_detectors() {
        assert!(is_email("ana.silva+x@example.co.uk"));
        assert!(!is_email("not an email"));
        assert!(!is_email("a@b"));
        assert!(contains_email("call or write to luis@example.com."));
        assert!(!contains_email("price @ 5 dollars"));
        assert!(is_card_number("4111 1111 1111 1111"));
        assert!(is_card_number("5500-0000-0000-0004"));
        assert!(!is_card_number("4111 1111 1111 1112"), "Luhn fails");
        assert!(!is_card_number("0000000000000000"));
        assert!(is_iban("GB82 WEST 1234 5698 7654 32"));
        assert!(is_iban("DE89370400440532013000"));
        assert!(!is_iban("DE89370400440532013001"), "checksum fails");
        assert!(is_ip("192.168.10.1"));
        assert!(is_ip("2001:db8::1"));
        assert!(!is_ip("1.2.3"));
        assert!(is_jwt(
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
        ));
        assert!(!is_jwt("a.b.c"));
        assert!(is_phone("+55 (12) 3923-5555"));
        assert!(is_phone("(171) 555-7788"));
        assert!(is_phone("030-0074321"));
        assert!(is_phone("+4930123456"));
        assert!(is_phone("0301234567"));
        assert!(!is_phone("2024-01-31"));
        assert!(!is_phone("31.01.2024"));
        assert!(!is_phone("1234567.89"));
        assert!(!is_phone("12345678"), "a bare number");
        assert!(!is_phone("12"));
    }

    #[test]
    fn profile_counts_without_keeping_values() {
        let p = profile(&[
            "a@example.com",
            "b@example.org",
            "c@example.net",
            "hello",
            "4111111111111111",
        ]);
        assert_eq!(p.sampled, 5);
        assert_eq!(p.count(Pii::Email), 3);
        assert_eq!(p.count(Pii::CardNumber), 1);
        assert_eq!(p.dominant(), Some((Pii::Email, 3)));
        let mut merged = p.clone();
        merged.merge(&profile(&["d@example.com", "x"]));
        assert_eq!(merged.sampled, 7);
        assert_eq!(merged.count(Pii::Email), 4);
        assert_eq!(merged.containing_email, 4);
        let words = profile(&["hello", "world"]);
        assert_eq!(words.dominant(), None);
        assert!(!words.embeds_emails());
    }

    #[test]
    fn email_by_name_and_content_gets_the_rule_with_its_domain() {
        let mut col = text("email");
        col.samples = Some(profile(&["a@example.com", "b@example.com", "nope"]));
        let s = suggest(&col, &people(), &[&KEEP, &NULL, &EMAIL, &HASH]);
        assert_eq!(s.entry.to_toml(), r#"{ rule = "email", domain = "email" }"#);
        assert_eq!(
            s.reason,
            "personal data, an email address: column name `email`; 2/3 sampled values look \
             like email addresses"
        );
        assert!(!s.review);
    }

    #[test]
    fn a_rule_that_does_not_fit_falls_back_to_hash_with_a_length() {
        // varchar(20): the email rule may produce 40 characters.
        let mut col = text("email");
        col.info.max_chars = Some(20);
        col.info.type_name = "character varying(20)".into();
        let s = suggest(&col, &people(), &[&KEEP, &EMAIL, &HASH]);
        assert_eq!(
            s.entry.to_toml(),
            r#"{ rule = "hash", domain = "email", length = 20 }"#
        );
        assert!(
            s.reason
                .ends_with("no fitting rule for it in this build, hashed"),
            "{}",
            s.reason
        );
    }

    #[test]
    fn without_a_fitting_rule_it_keeps_and_asks_for_review() {
        let col = text("Phone");
        let s = suggest(&col, &people(), &[&KEEP, &NULL]);
        assert_eq!(s.entry, Entry::Keep);
        assert!(s.review);
        assert_eq!(
            s.reason,
            "REVIEW: looks like a phone number, no fitting rule in this build (column name \
             `Phone`)"
        );
    }

    #[test]
    fn free_text_with_emails_is_flagged_by_content_and_nulled_when_nullable() {
        let mut col = text("info");
        col.samples = Some(profile(&[
            "met at the fair, wrote to x@example.com later",
            "nothing here",
        ]));
        let s = suggest(&col, &people(), &[&KEEP, &NULL]);
        assert_eq!(s.entry.to_toml(), r#"{ rule = "null" }"#);
        assert_eq!(s.pii, Some(Pii::FreeText));
        assert!(s
            .reason
            .contains("1/2 sampled values contain email addresses"));
        // NOT NULL: null does not fit, hash is absent, so it is left for review.
        col.info.not_null = true;
        let s = suggest(&col, &people(), &[&KEEP, &NULL]);
        assert_eq!(s.entry, Entry::Keep);
        assert!(s.review);
    }

    #[test]
    fn innocent_name_with_email_values_gets_the_email_rule() {
        let mut col = text("notes");
        col.samples = Some(profile(&["x@example.com", "y@example.com"]));
        let s = suggest(&col, &people(), &[&KEEP, &EMAIL]);
        assert_eq!(s.pii, Some(Pii::Email));
        assert_eq!(s.entry.to_toml(), r#"{ rule = "email", domain = "email" }"#);
    }

    #[test]
    fn keys_types_and_plain_text_are_kept_with_the_reason() {
        let t = people();
        let mut pk = of(TypeClass::Integer, oids::INT4, "id");
        pk.key = KeyRole::Primary;
        assert_eq!(suggest(&pk, &t, &[&KEEP]), Suggestion::keep("primary key"));
        let mut fk = of(TypeClass::Integer, oids::INT4, "customer_id");
        fk.key = KeyRole::Foreign("public.customers".into());
        assert_eq!(
            suggest(&fk, &t, &[&KEEP]).reason,
            "foreign key → public.customers"
        );
        let b = of(TypeClass::Bool, oids::BOOL, "email_verified");
        assert_eq!(suggest(&b, &t, &[&KEEP, &EMAIL]).reason, "boolean");
        let ts = of(TypeClass::Timestamp, oids::TIMESTAMPTZ, "created_at");
        assert_eq!(suggest(&ts, &t, &[&KEEP]).entry, Entry::Keep);
        let amount = of(TypeClass::Numeric, oids::NUMERIC, "total");
        assert!(suggest(&amount, &t, &[&KEEP]).reason.starts_with("number"));
        let mut title = text("title");
        title.samples = Some(profile(&["Sales Manager", "IT Staff"]));
        assert_eq!(
            suggest(&title, &t, &[&KEEP]).reason,
            "text; nothing personal in the column name or in 2 sampled values"
        );
    }

    #[test]
    fn a_key_that_looks_personal_is_kept_for_review() {
        let mut col = text("email");
        col.key = KeyRole::Primary;
        col.info.unique = true;
        let s = suggest(&col, &people(), &[&KEEP, &EMAIL]);
        assert_eq!(s.entry, Entry::Keep);
        assert!(s.review);
        assert!(s.reason.starts_with("REVIEW: primary key"));
    }

    #[test]
    fn null_is_never_suggested_for_unique_or_not_null_columns() {
        let mut col = text("notes");
        col.info.unique = true;
        let s = suggest(&col, &people(), &[&KEEP, &NULL]);
        assert_eq!(s.entry, Entry::Keep);
        assert!(s.review);
    }

    #[test]
    fn inet_columns_are_ip_addresses_by_type() {
        let col = of(TypeClass::Inet, oids::INET, "origin");
        let s = suggest(&col, &people(), &[&KEEP]);
        assert_eq!(s.pii, Some(Pii::IpAddress));
        assert!(s.reason.contains("type inet"), "{}", s.reason);
    }

    #[test]
    fn keys_are_quoted_only_when_needed() {
        assert_eq!(toml_key("created_at"), "created_at");
        assert_eq!(toml_key("FirstName"), "FirstName");
        assert_eq!(toml_key("Order Date"), "\"Order Date\"");
        assert_eq!(toml_key("a\"b"), "\"a\\\"b\"");
        assert_eq!(toml_key("ä"), "\"ä\"");
    }

    #[test]
    fn rendered_file_parses_and_lists_every_column() {
        let mut email = text("e\"mail");
        email.samples = Some(profile(&["a@example.com"]));
        let sections = vec![
            TableSection {
                name: "public.Customer".into(),
                columns: vec![
                    ("CustomerId".into(), Suggestion::keep("primary key")),
                    (
                        "e\"mail".into(),
                        suggest(&email, &people(), &[&KEEP, &EMAIL]),
                    ),
                    ("Order Date".into(), Suggestion::keep("date")),
                ],
                note: None,
            },
            TableSection {
                name: "odd schema.t\"x".into(),
                columns: vec![("id".into(), Suggestion::keep("primary key"))],
                note: Some("sampling failed\nsecond line".into()),
            },
        ];
        let text = render("app", "2026-01-01", &sections);
        let doc: toml::Table = match text.parse() {
            Ok(d) => d,
            Err(e) => panic!("{e}\n{text}"),
        };
        let tables = doc["tables"].as_table().expect("tables");
        let customer = tables["public.Customer"]["columns"]
            .as_table()
            .expect("columns");
        assert_eq!(customer.len(), 3);
        assert_eq!(customer["CustomerId"].as_str(), Some("keep"));
        assert_eq!(customer["e\"mail"]["rule"].as_str(), Some("email"));
        assert_eq!(customer["e\"mail"]["domain"].as_str(), Some("email"));
        assert!(tables.contains_key("odd schema.t\"x"));
        assert!(text.starts_with(
            "# restage rules for app, generated by `restage rules init` on 2026-01-01\n"
        ));
        assert!(text.contains("\nCustomerId   = \"keep\"  "), "{text}");
        // Comments line up within a table.
        let cols: Vec<usize> = text
            .lines()
            .skip_while(|l| !l.starts_with("[tables.\"public.Customer\""))
            .skip(1)
            .take(3)
            .filter_map(|l| l.find(" # "))
            .collect();
        assert_eq!(cols.len(), 3);
        assert!(cols.windows(2).all(|w| w[0] == w[1]), "{text}");
    }

    #[test]
    fn only_text_and_json_scalars_are_sampled() {
        let mut c = text("notes").info;
        assert!(samples_column(&c));
        c.array = true;
        assert!(!samples_column(&c), "arrays are not sampled");
        let c = of(TypeClass::Json, oids::JSONB, "doc").info;
        assert!(samples_column(&c));
        let c = of(TypeClass::Integer, oids::INT4, "n").info;
        assert!(!samples_column(&c));
    }
}
