//! Column and table names → the personal data they point at.

use super::kinds::Pii;

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
        // `line` of an address type or table: its first line.
        || (first == "line" && w.len() == 1 && table.address)
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
