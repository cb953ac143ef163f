//! Rewards enrollment ("personalizable passes"): the checks on a template's
//! `personalization.json`, which files a personalized pass leaves out, and the body Wallet posts
//! to the web service's personalize endpoint.
//!
//! Apple's rules (Wallet Developer Guide, "Rewards Enrollment"; the `Personalize` object of the
//! Wallet Passes reference): `personalization.json` holds `requiredPersonalizationFields` (a
//! non-empty array of `PKPassPersonalizationField*` names), `description` (required string) and
//! `termsAndConditions` (optional string); a `personalizationLogo` image (150 x 40 points) is
//! shown at the top of the signup form; rewards enrollment is only offered on NFC-enabled
//! store cards ("reward cards"), so the pass needs `nfc`.
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::problem::{Findings, Problem};

/// The file that makes a template personalizable.
pub const FILE: &str = "personalization.json";
/// The base name of the signup form's logo (`personalizationLogo.png`, `@2x`, `@3x`).
pub const LOGO: &str = "personalizationLogo";
/// Longest `personalizationToken` accepted (Wallet's are far shorter).
pub const MAX_TOKEN_BYTES: usize = 4096;
/// Longest value of one `requiredPersonalizationInfo` member, in characters.
pub const MAX_VALUE_CHARS: usize = 256;
/// Longest `description` / `termsAndConditions` accepted in `personalization.json` (bytes).
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

/// What Wallet's signup form can ask the holder for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// `PKPassPersonalizationFieldName`: answered as `fullName` (and `givenName`/`familyName`).
    Name,
    /// `PKPassPersonalizationFieldPostalCode`: `postalCode` (and `ISOCountryCode`).
    PostalCode,
    /// `PKPassPersonalizationFieldEmailAddress`: `emailAddress`.
    EmailAddress,
    /// `PKPassPersonalizationFieldPhoneNumber`: `phoneNumber`.
    PhoneNumber,
}

impl Field {
    /// Every field, in Apple's order.
    pub const ALL: [Self; 4] = [
        Self::Name,
        Self::PostalCode,
        Self::EmailAddress,
        Self::PhoneNumber,
    ];

    /// The name Apple uses in `requiredPersonalizationFields`.
    #[must_use]
    pub fn apple_name(self) -> &'static str {
        match self {
            Self::Name => "PKPassPersonalizationFieldName",
            Self::PostalCode => "PKPassPersonalizationFieldPostalCode",
            Self::EmailAddress => "PKPassPersonalizationFieldEmailAddress",
            Self::PhoneNumber => "PKPassPersonalizationFieldPhoneNumber",
        }
    }

    /// The field named `name` in `requiredPersonalizationFields`.
    #[must_use]
    pub fn from_apple(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.apple_name() == name)
    }

    /// The `requiredPersonalizationInfo` member(s) that answer this field (any one will do).
    #[must_use]
    pub fn info_keys(self) -> &'static [&'static str] {
        match self {
            Self::Name => &["fullName", "givenName", "familyName"],
            Self::PostalCode => &["postalCode"],
            Self::EmailAddress => &["emailAddress"],
            Self::PhoneNumber => &["phoneNumber"],
        }
    }
}

/// A checked `personalization.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Personalization {
    /// What the signup form asks for (no duplicates, at least one).
    pub fields: Vec<Field>,
    /// The program's description, shown on the signup form.
    pub description: String,
    /// The program's terms, if any.
    pub terms_and_conditions: Option<String>,
}

fn at(member: &str) -> String {
    format!("{FILE}: {member}")
}

/// Parses and checks `personalization.json`; every problem goes to `findings` (errors name the
/// member at fault). `None` when it has an error.
pub fn parse(bytes: &[u8], findings: &mut Findings) -> Option<Personalization> {
    let map = match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => map,
        Ok(_) => {
            findings.error(FILE, "must be a JSON object");
            return None;
        }
        Err(e) => {
            findings.error(FILE, format!("is not valid JSON ({e})"));
            return None;
        }
    };
    let errors_before = findings.errors.len();
    let mut fields = Vec::new();
    match map.get("requiredPersonalizationFields") {
        None => findings.error(at("requiredPersonalizationFields"), "is required"),
        Some(Value::Array(list)) if list.is_empty() => findings.error(
            at("requiredPersonalizationFields"),
            "must name at least one field",
        ),
        Some(Value::Array(list)) => {
            for (i, item) in list.iter().enumerate() {
                let here = at(&format!("requiredPersonalizationFields[{i}]"));
                match item.as_str().map(|s| (s, Field::from_apple(s))) {
                    Some((_, Some(field))) if fields.contains(&field) => {
                        findings.warn(here, "names the same field twice");
                    }
                    Some((_, Some(field))) => fields.push(field),
                    Some((name, None)) => findings.error(
                        here,
                        format!(
                            "{name:?} is not a personalization field; use one of {}",
                            Field::ALL.map(Field::apple_name).join(", ")
                        ),
                    ),
                    None => findings.error(here, "must be a string"),
                }
            }
        }
        Some(_) => findings.error(at("requiredPersonalizationFields"), "must be an array"),
    }
    let description = text(&map, "description", true, findings);
    let terms_and_conditions = text(&map, "termsAndConditions", false, findings);
    for key in map.keys() {
        if !matches!(
            key.as_str(),
            "requiredPersonalizationFields" | "description" | "termsAndConditions"
        ) {
            findings.warn(
                at(key),
                "is not a personalization.json key Wallet knows; it has no effect",
            );
        }
    }
    if findings.errors.len() > errors_before {
        return None;
    }
    Some(Personalization {
        fields,
        description: description.unwrap_or_default(),
        terms_and_conditions,
    })
}

fn text(map: &Map<String, Value>, key: &str, required: bool, findings: &mut Findings) -> Option<String> {
    match map.get(key) {
        None if required => {
            findings.error(at(key), "is required");
            None
        }
        None => None,
        Some(Value::String(s)) if required && s.trim().is_empty() => {
            findings.error(at(key), "must not be empty");
            None
        }
        Some(Value::String(s)) if s.len() > MAX_TEXT_BYTES => {
            findings.error(at(key), format!("must be at most {MAX_TEXT_BYTES} bytes"));
            None
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            findings.error(at(key), "must be a string");
            None
        }
    }
}

/// Whether `path` is one of the signup form's files, which a personalized pass leaves out.
#[must_use]
pub fn is_signup_file(path: &str) -> bool {
    path == FILE || logo_path(path)
}

fn logo_path(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.strip_suffix(".png").is_some_and(|stem| {
        let base = stem
            .strip_suffix("@2x")
            .or_else(|| stem.strip_suffix("@3x"))
            .unwrap_or(stem);
        base == LOGO
    })
}

/// Checks a template's rewards-enrollment files against the pass (`None` when pass.json did
/// not parse): a broken `personalization.json`, or one on a pass without `nfc` or not a store
/// card, is an error; a missing logo, or a logo without `personalization.json`, a warning.
pub fn check(files: &BTreeMap<String, Vec<u8>>, pass: Option<&Map<String, Value>>, findings: &mut Findings) {
    let has_logo = files.keys().any(|p| logo_path(p));
    for path in files.keys() {
        if path != FILE && path.ends_with(&format!("/{FILE}")) {
            findings.warn(
                path.as_str(),
                format!("Wallet reads only the top-level {FILE}; this one has no effect"),
            );
        }
    }
    let Some(bytes) = files.get(FILE) else {
        if has_logo {
            findings.warn(
                format!("{LOGO}.png"),
                format!("is only shown on the signup form, which needs {FILE}; it has no effect"),
            );
        }
        return;
    };
    parse(bytes, findings);
    if let Some(pass) = pass {
        if !pass.get("nfc").is_some_and(Value::is_object) {
            findings.error(
                "pass.json: nfc",
                format!(
                    "is required with {FILE}: Wallet offers rewards enrollment only on NFC-enabled passes"
                ),
            );
        }
        if !pass.contains_key("storeCard") {
            findings.error(
                FILE,
                "is only for store cards (rewards enrollment); this pass has another style",
            );
        }
    }
    if !has_logo {
        findings.warn(
            format!("{LOGO}.png"),
            format!(
                "is missing: the signup form shows no logo (150 x 40 points; add {LOGO}.png and @2x/@3x)"
            ),
        );
    }
}

/// What the holder entered on the signup form (`requiredPersonalizationInfo`), members as
/// Apple names them; only the ones Wallet sent are present.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Info(BTreeMap<&'static str, String>);

/// Every member of `requiredPersonalizationInfo` Apple documents.
pub const INFO_KEYS: [&str; 7] = [
    "emailAddress",
    "familyName",
    "givenName",
    "fullName",
    "ISOCountryCode",
    "phoneNumber",
    "postalCode",
];

impl Info {
    /// The member `key`, if sent.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// The members sent, as a JSON object.
    #[must_use]
    pub fn to_json(&self) -> Value {
        Value::Object(
            self.0
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Value::String(v.clone())))
                .collect(),
        )
    }

    /// The names of the members sent.
    #[must_use]
    pub fn keys(&self) -> Vec<&'static str> {
        self.0.keys().copied().collect()
    }

    /// The fields of `required` this info does not answer.
    #[must_use]
    pub fn unanswered(&self, required: &[Field]) -> Vec<Field> {
        required
            .iter()
            .copied()
            .filter(|f| !f.info_keys().iter().any(|k| self.0.contains_key(k)))
            .collect()
    }
}

/// The body of `POST …/passes/{type}/{serial}/personalize`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The token Wallet wants signed.
    pub token: String,
    /// What the holder entered.
    pub info: Info,
}

/// Parses a personalize body: a JSON object with `personalizationToken` (a non-empty string of at
/// most [`MAX_TOKEN_BYTES`]) and `requiredPersonalizationInfo` (an object of Apple's members,
/// each a string of 1..=[`MAX_VALUE_CHARS`] characters without control characters;
/// `ISOCountryCode` two letters). Unknown members are refused. Every problem at once.
pub fn parse_request(body: &[u8]) -> Result<Request, Vec<Problem>> {
    let map = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err(vec![Problem::new("body", "must be a JSON object")]),
        Err(_) => return Err(vec![Problem::new("body", "is not valid JSON")]),
    };
    let mut problems = Vec::new();
    for key in map.keys() {
        if key != "personalizationToken" && key != "requiredPersonalizationInfo" {
            problems.push(Problem::new(
                short(key),
                "is not a member of the personalize body",
            ));
        }
    }
    let token = match map.get("personalizationToken") {
        None => {
            problems.push(Problem::new("personalizationToken", "is required"));
            None
        }
        Some(Value::String(t)) if t.is_empty() => {
            problems.push(Problem::new("personalizationToken", "must not be empty"));
            None
        }
        Some(Value::String(t)) if t.len() > MAX_TOKEN_BYTES => {
            problems.push(Problem::new(
                "personalizationToken",
                format!("must be at most {MAX_TOKEN_BYTES} bytes"),
            ));
            None
        }
        Some(Value::String(t)) => Some(t.clone()),
        Some(_) => {
            problems.push(Problem::new("personalizationToken", "must be a string"));
            None
        }
    };
    let mut info = Info::default();
    match map.get("requiredPersonalizationInfo") {
        None => problems.push(Problem::new("requiredPersonalizationInfo", "is required")),
        Some(Value::Object(members)) => {
            for (key, value) in members {
                let here = format!("requiredPersonalizationInfo.{}", short(key));
                let Some(known) = INFO_KEYS.iter().copied().find(|k| k == key) else {
                    problems.push(Problem::new(
                        here,
                        "is not a personalization member Apple documents",
                    ));
                    continue;
                };
                match value {
                    Value::String(s) => match check_value(known, s) {
                        Ok(()) => {
                            info.0.insert(known, s.clone());
                        }
                        Err(message) => problems.push(Problem::new(here, message)),
                    },
                    _ => problems.push(Problem::new(here, "must be a string")),
                }
            }
        }
        Some(_) => problems.push(Problem::new("requiredPersonalizationInfo", "must be an object")),
    }
    match token {
        Some(token) if problems.is_empty() => Ok(Request { token, info }),
        _ => Err(problems),
    }
}

/// A member name cut to something safe to echo.
fn short(key: &str) -> String {
    key.chars().filter(|c| !c.is_control()).take(64).collect()
}

fn check_value(key: &str, value: &str) -> Result<(), String> {
    let chars = value.chars().count();
    if value.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if chars > MAX_VALUE_CHARS {
        return Err(format!("must be at most {MAX_VALUE_CHARS} characters"));
    }
    if value.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    if key == "ISOCountryCode" && !(value.len() == 2 && value.bytes().all(|b| b.is_ascii_alphabetic())) {
        return Err("must be a two-letter ISO 3166-1 country code".into());
    }
    if key == "emailAddress" && !value.contains('@') {
        return Err("must be an email address".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn findings_of(json: &str) -> Findings {
        let mut findings = Findings::default();
        parse(json.as_bytes(), &mut findings);
        findings
    }

    fn locations(problems: &[Problem]) -> Vec<&str> {
        problems.iter().map(|p| p.location.as_str()).collect()
    }

    #[test]
    fn a_valid_personalization_json_parses_with_its_fields() {
        let mut findings = Findings::default();
        let p = parse(
            br#"{"requiredPersonalizationFields":["PKPassPersonalizationFieldName","PKPassPersonalizationFieldEmailAddress"],
                 "description":"Join","termsAndConditions":"Be nice"}"#,
            &mut findings,
        )
        .unwrap();
        assert!(findings.errors.is_empty() && findings.warnings.is_empty());
        assert_eq!(p.fields, vec![Field::Name, Field::EmailAddress]);
        assert_eq!(p.terms_and_conditions.as_deref(), Some("Be nice"));
    }

    #[test]
    fn each_broken_rule_is_an_error_naming_its_member() {
        let f = findings_of(r#"{"requiredPersonalizationFields":[],"termsAndConditions":5}"#);
        assert_eq!(
            locations(&f.errors),
            vec![
                "personalization.json: requiredPersonalizationFields",
                "personalization.json: description",
                "personalization.json: termsAndConditions",
            ]
        );
        let f = findings_of(r#"{"requiredPersonalizationFields":["name", 3],"description":"x"}"#);
        assert_eq!(
            locations(&f.errors),
            vec![
                "personalization.json: requiredPersonalizationFields[0]",
                "personalization.json: requiredPersonalizationFields[1]",
            ]
        );
        assert!(
            f.errors[0]
                .message
                .contains("PKPassPersonalizationFieldPostalCode")
        );
        let f = findings_of(r#"{"description":"x"}"#);
        assert_eq!(
            locations(&f.errors),
            vec!["personalization.json: requiredPersonalizationFields"]
        );
        let f = findings_of("[1]");
        assert_eq!(locations(&f.errors), vec!["personalization.json"]);
    }

    #[test]
    fn unknown_keys_and_repeated_fields_are_warnings() {
        let f = findings_of(
            r#"{"requiredPersonalizationFields":["PKPassPersonalizationFieldName","PKPassPersonalizationFieldName"],
                "description":"x","colour":"red"}"#,
        );
        assert!(f.errors.is_empty());
        assert_eq!(f.warnings.len(), 2);
    }

    fn files(entries: &[(&str, &[u8])]) -> BTreeMap<String, Vec<u8>> {
        entries
            .iter()
            .map(|(n, b)| ((*n).to_owned(), b.to_vec()))
            .collect()
    }

    const GOOD: &[u8] =
        br#"{"requiredPersonalizationFields":["PKPassPersonalizationFieldName"],"description":"x"}"#;

    #[test]
    fn the_pass_needs_nfc_and_the_store_card_style() {
        let pass: Map<String, Value> = serde_json::from_str(r#"{"generic":{}}"#).unwrap();
        let mut f = Findings::default();
        check(
            &files(&[(FILE, GOOD), ("personalizationLogo.png", b"")]),
            Some(&pass),
            &mut f,
        );
        assert_eq!(
            locations(&f.errors),
            vec!["pass.json: nfc", "personalization.json"]
        );
        let pass: Map<String, Value> =
            serde_json::from_str(r#"{"storeCard":{},"nfc":{"message":"m"}}"#).unwrap();
        let mut f = Findings::default();
        check(
            &files(&[(FILE, GOOD), ("personalizationLogo@2x.png", b"")]),
            Some(&pass),
            &mut f,
        );
        assert!(f.errors.is_empty() && f.warnings.is_empty(), "{f:?}");
    }

    #[test]
    fn a_missing_logo_is_a_warning_and_a_lone_logo_too() {
        let pass: Map<String, Value> =
            serde_json::from_str(r#"{"storeCard":{},"nfc":{"message":"m"}}"#).unwrap();
        let mut f = Findings::default();
        check(&files(&[(FILE, GOOD)]), Some(&pass), &mut f);
        assert!(f.errors.is_empty());
        assert_eq!(locations(&f.warnings), vec!["personalizationLogo.png"]);
        let mut f = Findings::default();
        check(&files(&[("personalizationLogo.png", b"")]), Some(&pass), &mut f);
        assert_eq!(locations(&f.warnings), vec!["personalizationLogo.png"]);
    }

    #[test]
    fn signup_files_are_the_json_and_every_logo() {
        assert!(is_signup_file("personalization.json"));
        assert!(is_signup_file("personalizationLogo@3x.png"));
        assert!(is_signup_file("de.lproj/personalizationLogo.png"));
        assert!(!is_signup_file("logo.png"));
        assert!(!is_signup_file("de.lproj/personalization.json.txt"));
    }

    #[test]
    fn a_personalize_body_parses_into_token_and_info() {
        let r = parse_request(
            br#"{"personalizationToken":"abc","requiredPersonalizationInfo":{"fullName":"Ada Lovelace","ISOCountryCode":"GB","postalCode":"N1"}}"#,
        )
        .unwrap();
        assert_eq!(r.token, "abc");
        assert_eq!(r.info.get("fullName"), Some("Ada Lovelace"));
        assert_eq!(r.info.keys(), vec!["ISOCountryCode", "fullName", "postalCode"]);
        assert_eq!(
            r.info.unanswered(&[Field::Name, Field::EmailAddress]),
            vec![Field::EmailAddress]
        );
    }

    #[test]
    fn hostile_personalize_bodies_are_refused_naming_each_member() {
        for body in [&b"not json"[..], b"[]", b"null", b"\"x\""] {
            assert!(parse_request(body).is_err());
        }
        let long = "x".repeat(MAX_VALUE_CHARS + 1);
        let body = serde_json::json!({
            "personalizationToken": 7,
            "requiredPersonalizationInfo": {
                "fullName": long, "ISOCountryCode": "GBR", "emailAddress": "nope",
                "phoneNumber": "1\n2", "nickname": "x", "postalCode": ["N1"]
            },
            "extra": true
        });
        let problems = parse_request(body.to_string().as_bytes()).unwrap_err();
        let mut at = locations(&problems);
        at.sort_unstable();
        assert_eq!(
            at,
            vec![
                "extra",
                "personalizationToken",
                "requiredPersonalizationInfo.ISOCountryCode",
                "requiredPersonalizationInfo.emailAddress",
                "requiredPersonalizationInfo.fullName",
                "requiredPersonalizationInfo.nickname",
                "requiredPersonalizationInfo.phoneNumber",
                "requiredPersonalizationInfo.postalCode",
            ]
        );
        let token = "t".repeat(MAX_TOKEN_BYTES + 1);
        let body = serde_json::json!({ "personalizationToken": token, "requiredPersonalizationInfo": {} });
        assert!(parse_request(body.to_string().as_bytes()).is_err());
        assert!(parse_request(br#"{"personalizationToken":"t"}"#).is_err());
    }
}
