//! The kinds of personal (or secret) data a column can hold, and what each kind calls for.

use crate::sanitize::spec::TypeClass;

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
    pub(super) fn plural(self) -> &'static str {
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
    pub(super) fn hash_fallback(self) -> bool {
        !matches!(
            self,
            Pii::City | Pii::Region | Pii::Country | Pii::BirthDate | Pii::Photo
        )
    }

    /// Whether values of this kind are codes whose format matters (a CHECK may ask for it), so
    /// a keyed replacement of their digits in the same format is a candidate.
    pub(super) fn format_preserving(self) -> bool {
        matches!(
            self,
            Pii::NationalId
                | Pii::Phone
                | Pii::BankAccount
                | Pii::CardNumber
                | Pii::PostalCode
                // A country code in `char(2)`, where no country name fits.
                | Pii::Country
        )
    }

    /// Type classes a column of this kind can have; a name match on another class
    /// (`email_verified boolean`, `phone_count int`) is not personal data.
    pub(super) fn classes(self) -> &'static [TypeClass] {
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
