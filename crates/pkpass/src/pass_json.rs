//! Checks `pass.json` against Apple's pass format (PassKit Package Format Reference).
//!
//! Two modes: a *template* may hold `{{placeholders}}` (format checks skip strings that contain
//! one) and may leave out the identifiers the issuer sets; a *rendered* pass must be complete.
use serde_json::{Map, Value};

use crate::keys::{self, Ios, Key, Kind, Layouts};
use crate::problem::Findings;

/// The five pass styles; a pass has exactly one.
pub const STYLES: [&str; 5] = ["boardingPass", "coupon", "eventTicket", "generic", "storeCard"];

/// Keys the issuer sets on every pass, never the template or the overrides.
pub const ISSUER_KEYS: [&str; 6] = [
    "passTypeIdentifier",
    "teamIdentifier",
    "serialNumber",
    "authenticationToken",
    "webServiceURL",
    "formatVersion",
];

const TRANSIT_TYPES: [&str; 5] = [
    "PKTransitTypeAir",
    "PKTransitTypeBoat",
    "PKTransitTypeBus",
    "PKTransitTypeGeneric",
    "PKTransitTypeTrain",
];

const DATE_STYLES: [&str; 5] = [
    "PKDateStyleNone",
    "PKDateStyleShort",
    "PKDateStyleMedium",
    "PKDateStyleLong",
    "PKDateStyleFull",
];

const NUMBER_STYLES: [&str; 4] = [
    "PKNumberStyleDecimal",
    "PKNumberStylePercent",
    "PKNumberStyleScientific",
    "PKNumberStyleSpellOut",
];

const TEXT_ALIGNMENTS: [&str; 4] = [
    "PKTextAlignmentLeft",
    "PKTextAlignmentCenter",
    "PKTextAlignmentRight",
    "PKTextAlignmentNatural",
];

const DATA_DETECTORS: [&str; 4] = [
    "PKDataDetectorTypePhoneNumber",
    "PKDataDetectorTypeLink",
    "PKDataDetectorTypeAddress",
    "PKDataDetectorTypeCalendarEvent",
];

/// How strict to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A template: `{{placeholders}}` allowed, issuer-set identifiers optional.
    Template,
    /// A rendered pass about to be signed: everything required.
    Rendered,
}

/// True when `s` holds a `{{…}}` placeholder (its format is only known after rendering).
#[must_use]
pub fn is_templated(s: &str) -> bool {
    s.contains("{{")
}

/// Parses `pass.json` bytes (UTF-8, BOM tolerated).
pub fn parse(bytes: &[u8], findings: &mut Findings) -> Option<Map<String, Value>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Some(map),
        Ok(_) => {
            findings.error("pass.json", "must be a JSON object");
            None
        }
        Err(e) => {
            findings.error("pass.json", format!("is not valid JSON: {e}"));
            None
        }
    }
}

/// Checks a parsed `pass.json`, recording every problem with its JSON path.
pub fn check(pass: &Map<String, Value>, mode: Mode, findings: &mut Findings) {
    let mut c = Checker {
        mode,
        findings,
        layouts: None,
    };
    c.top_level(pass);
}

struct Checker<'f> {
    mode: Mode,
    findings: &'f mut Findings,
    /// The pass's layouts once known; keys read only elsewhere are warned about.
    layouts: Option<Layouts>,
}

fn loc(path: &str) -> String {
    format!("pass.json: {path}")
}

fn type_name(kind: Kind) -> &'static str {
    match kind {
        Kind::String | Kind::Date | Kind::Color | Kind::Url => "a string",
        Kind::Integer => "an integer",
        Kind::Number => "a number",
        Kind::Bool => "true or false",
        Kind::Array => "an array",
        Kind::Object => "an object",
        Kind::Any => "any value",
    }
}

/// The layouts a pass asks for: its style, the `preferredStyleSchemes` that fit that style, and
/// `posterGeneric`. `None` when the pass has no style key.
#[must_use]
pub fn layouts(pass: &Map<String, Value>) -> Option<Layouts> {
    let base = STYLES.iter().copied().find(|s| pass.contains_key(*s));
    let mut found = base.and_then(Layouts::named).unwrap_or(Layouts::NONE);
    if let Some(family) = base
        .and_then(|s| keys::find(keys::PASS_KEYS, s))
        .map(|k| k.layouts)
        && let Some(Value::Array(schemes)) = pass.get("preferredStyleSchemes")
    {
        for scheme in schemes.iter().filter_map(Value::as_str) {
            if let Some(l) = Layouts::named(scheme).filter(|l| l.meets(family)) {
                found = found.or(l);
            }
        }
    }
    if pass.contains_key("posterGeneric") {
        found = found.or(Layouts::POSTER_GENERIC);
    }
    (found != Layouts::NONE).then_some(found)
}

/// "has no effect" for a key read only on other layouts.
fn elsewhere(key: &Key) -> String {
    let names = key.layouts.names();
    let how = if key.layouts.meets(Layouts::POSTER_EVENT_TICKET) {
        " (an eventTicket with posterEventTicket in preferredStyleSchemes)"
    } else if key.layouts.meets(Layouts::SEMANTIC_BOARDING_PASS) {
        " (a boardingPass with semanticBoardingPass in preferredStyleSchemes)"
    } else {
        ""
    };
    format!(
        "has no effect on this pass: Wallet reads it only on {}{how}",
        names.join(", ")
    )
}

impl Checker<'_> {
    fn error(&mut self, path: &str, message: impl Into<String>) {
        self.findings.error(loc(path), message);
    }

    fn warn(&mut self, path: &str, message: impl Into<String>) {
        self.findings.warn(loc(path), message);
    }

    /// Checks `value`'s JSON type (and format for dates and colours); false when it is wrong.
    fn kind(&mut self, path: &str, value: &Value, kind: Kind) -> bool {
        // In a template, a placeholder may stand for a value of any type (`"{{ voided }}"`).
        if self.mode == Mode::Template && value.as_str().is_some_and(is_templated) {
            return true;
        }
        let ok = match kind {
            Kind::String => value.is_string(),
            Kind::Integer => value.is_i64() || value.is_u64(),
            Kind::Number => value.is_number(),
            Kind::Bool => value.is_boolean(),
            Kind::Array => value.is_array(),
            Kind::Object => value.is_object(),
            Kind::Date => {
                if let Some(s) = value.as_str() {
                    self.date(path, s);
                    true
                } else {
                    false
                }
            }
            Kind::Color => {
                if let Some(s) = value.as_str() {
                    self.color(path, s);
                    true
                } else {
                    false
                }
            }
            Kind::Url => {
                if let Some(s) = value.as_str() {
                    self.url(path, s);
                    true
                } else {
                    false
                }
            }
            Kind::Any => true,
        };
        if !ok {
            self.error(path, format!("must be {}", type_name(kind)));
        }
        ok
    }

    fn templated(&self, s: &str) -> bool {
        self.mode == Mode::Template && is_templated(s)
    }

    fn url(&mut self, path: &str, s: &str) {
        if self.templated(s) {
            return;
        }
        let scheme = s.split_once(':').map(|(scheme, _)| scheme);
        let ok = scheme.is_some_and(|sc| {
            !sc.is_empty()
                && sc.starts_with(|c: char| c.is_ascii_alphabetic())
                && sc.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        });
        if !ok {
            self.error(path, format!("\"{s}\" is not a URL (e.g. https://example.com/x)"));
        }
    }

    fn date(&mut self, path: &str, s: &str) {
        if !self.templated(s) && !is_w3c_date(s) {
            self.error(
                path,
                format!(
                    "\"{s}\" is not a W3C/ISO 8601 date with time and time zone \
                     (e.g. 2026-05-01T19:30:00+02:00)"
                ),
            );
        }
    }

    fn color(&mut self, path: &str, s: &str) {
        if self.templated(s) || is_rgb_color(s) {
            return;
        }
        if is_hex_color(s) {
            self.warn(
                path,
                format!("\"{s}\" is a hex colour: only iOS 18 and later read it; use rgb(r, g, b)"),
            );
        } else {
            self.error(
                path,
                format!("\"{s}\" is not a colour: use rgb(r, g, b) with 0–255"),
            );
        }
    }

    fn one_of(&mut self, path: &str, value: &Value, allowed: &[&str]) {
        match value.as_str() {
            Some(s) if self.templated(s) || allowed.contains(&s) => {}
            Some(s) => self.error(path, format!("\"{s}\" is not one of {}", allowed.join(", "))),
            None => self.error(path, "must be a string"),
        }
    }

    /// Checks an object's keys against `table`: unknown keys are warned about, known ones are
    /// type-checked and, when the pass's layouts are known, warned about where they have no
    /// effect. Returns the known keys that apply.
    fn keys_of(
        &mut self,
        path: &str,
        object: &Map<String, Value>,
        table: &'static [Key],
        what: &str,
    ) -> Vec<&'static Key> {
        let mut known = Vec::new();
        for (name, value) in object {
            let kpath = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            let Some(key) = keys::find(table, name) else {
                self.warn(&kpath, format!("is not {what} Wallet knows; it has no effect"));
                continue;
            };
            if !self.kind(&kpath, value, key.kind) {
                continue;
            }
            if let Some(layouts) = self.layouts
                && !key.layouts.meets(layouts)
            {
                self.warn(&kpath, elsewhere(key));
                continue;
            }
            known.push(key);
        }
        known
    }

    fn top_level(&mut self, pass: &Map<String, Value>) {
        let required: &[&str] = match self.mode {
            Mode::Template => &["description", "organizationName"],
            Mode::Rendered => &[
                "description",
                "formatVersion",
                "organizationName",
                "passTypeIdentifier",
                "serialNumber",
                "teamIdentifier",
            ],
        };
        for key in required {
            if !pass.contains_key(*key) {
                self.error(key, "is required");
            }
        }
        self.layouts = layouts(pass);
        let known = self.keys_of("", pass, keys::PASS_KEYS, "a key");
        if let Some(v) = pass.get("formatVersion")
            && v.as_i64().is_some_and(|v| v != 1)
        {
            self.error("formatVersion", "must be 1");
        }

        let styles: Vec<&str> = STYLES.iter().copied().filter(|s| pass.contains_key(*s)).collect();
        match styles.as_slice() {
            [] if pass.contains_key("posterGeneric") => self.warn(
                "posterGeneric",
                "is the only style: iOS 26 and earlier refuse this pass; add a generic style key \
                 next to it with the same fields",
            ),
            [] => self.error(
                "(style)",
                format!("needs exactly one style key, one of {}", STYLES.join(", ")),
            ),
            [style] => {
                if let Some(Value::Object(fields)) = pass.get(*style) {
                    self.style(style, fields);
                }
            }
            many => self.error(
                many.join(", ").as_str(),
                format!("a pass has exactly one style, found {}", many.len()),
            ),
        }
        if let Some(Value::Object(fields)) = pass.get("posterGeneric") {
            self.style("posterGeneric", fields);
        }

        self.barcodes(pass);
        self.web_service(pass);
        self.limited_list(pass, "locations", 10, Self::location);
        self.limited_list(pass, "beacons", 10, Self::beacon);
        let relevant_date_versions = self.relevant_dates(pass);
        if let Some(Value::Object(nfc)) = pass.get("nfc") {
            self.nfc(nfc);
        }
        if let Some(Value::Object(tags)) = pass.get("semantics") {
            self.semantics("semantics", tags);
        }
        for key in ["associatedStoreIdentifiers", "auxiliaryStoreIdentifiers"] {
            if let Some(Value::Array(ids)) = pass.get(key) {
                for (i, id) in ids.iter().enumerate() {
                    if !(id.is_u64() || id.is_i64()) {
                        self.error(&format!("{key}[{i}]"), "must be a number (an App Store item ID)");
                    }
                }
            }
        }
        if pass.contains_key("appLaunchURL") && !pass.contains_key("associatedStoreIdentifiers") {
            self.warn("appLaunchURL", "has no effect without associatedStoreIdentifiers");
        }
        let mut versions: Vec<(String, Ios)> = known.iter().map(|k| (k.name.to_owned(), k.since)).collect();
        if let Some(Value::Array(schemes)) = pass.get("preferredStyleSchemes") {
            versions.extend(self.style_schemes(pass, schemes));
        }
        versions.extend(relevant_date_versions);
        self.upcoming(pass);
        self.featured_actions(pass);
        self.newer_than_the_rest(&versions);
    }

    /// Warns about a key that needs a newer iOS than everything else in the pass: iPhones that
    /// can show the rest ignore it.
    fn newer_than_the_rest(&mut self, versions: &[(String, Ios)]) {
        for (i, (name, since)) in versions.iter().enumerate() {
            let rest = versions
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, (_, v))| v.0)
                .max()
                .unwrap_or(0)
                .max(keys::OLDEST_IOS_IN_USE);
            if since.0 > rest && !versions[..i].iter().any(|(n, _)| n == name) {
                self.warn(
                    name,
                    format!(
                        "needs {since}, while nothing else in this pass needs more than iOS \
                         {rest}: iPhones on iOS {rest} to {} ignore it",
                        since.0 - 1
                    ),
                );
            }
        }
    }

    /// Checks `preferredStyleSchemes`; returns the versions its values need.
    fn style_schemes(&mut self, pass: &Map<String, Value>, schemes: &[Value]) -> Vec<(String, Ios)> {
        let family = STYLES
            .iter()
            .find(|s| pass.contains_key(**s))
            .and_then(|s| keys::find(keys::PASS_KEYS, s))
            .map(|k| k.layouts);
        let names: Vec<&str> = keys::STYLE_SCHEMES.iter().map(|k| k.name).collect();
        let mut versions = Vec::new();
        for (i, s) in schemes.iter().enumerate() {
            let path = format!("preferredStyleSchemes[{i}]");
            let Some(name) = s.as_str() else {
                self.error(&path, "must be a string");
                continue;
            };
            if self.templated(name) {
                continue;
            }
            let Some(scheme) = keys::find(keys::STYLE_SCHEMES, name) else {
                self.one_of(&path, s, &names);
                continue;
            };
            match family {
                Some(family) if !scheme.layouts.meets(family) => self.warn(
                    &path,
                    format!(
                        "\"{name}\" has no effect on this pass: it is a layout of {}",
                        if scheme
                            .layouts
                            .meets(Layouts::EVENT_TICKET.or(Layouts::POSTER_EVENT_TICKET))
                        {
                            "eventTicket"
                        } else {
                            "boardingPass"
                        }
                    ),
                ),
                _ => versions.push((format!("preferredStyleSchemes: {name}"), scheme.since)),
            }
        }
        versions
    }

    fn style(&mut self, style: &str, fields: &Map<String, Value>) {
        let outer = self.layouts;
        // Inside posterGeneric only its own layout applies; inside the base style, the others.
        self.layouts = outer.map(|l| {
            if style == "posterGeneric" {
                Layouts::POSTER_GENERIC
            } else {
                l.without(Layouts::POSTER_GENERIC)
            }
        });
        let mut keys: Vec<(String, String)> = Vec::new();
        for (key, value) in fields {
            let path = format!("{style}.{key}");
            if key == "transitType" {
                if style == "boardingPass" {
                    self.one_of(&path, value, &TRANSIT_TYPES);
                } else {
                    self.error(&path, "is only allowed on a boardingPass");
                }
                continue;
            }
            let Some(known) = keys::find(keys::STYLE_KEYS, key) else {
                self.warn(&path, "is not a key Wallet knows; it has no effect");
                continue;
            };
            let Some(list) = value.as_array() else {
                self.error(&path, "must be an array of fields");
                continue;
            };
            if let Some(layouts) = self.layouts
                && !known.layouts.meets(layouts)
            {
                self.warn(&path, elsewhere(known));
            }
            if key == "footerFields" && list.len() > 1 {
                self.warn(&path, "holds more than one field; Wallet shows only the first");
            }
            for (i, field) in list.iter().enumerate() {
                let fpath = format!("{path}[{i}]");
                if let Some(field) = field.as_object() {
                    if let Some(k) = self.field(&fpath, field) {
                        keys.push((k, fpath));
                    }
                } else {
                    self.error(&fpath, "must be an object");
                }
            }
        }
        if style == "boardingPass" && !fields.contains_key("transitType") {
            self.error(
                "boardingPass.transitType",
                format!(
                    "is required on a boarding pass (one of {}); iOS refuses the pass without it",
                    TRANSIT_TYPES.join(", ")
                ),
            );
        }
        for (i, (key, path)) in keys.iter().enumerate() {
            if let Some((_, first)) = keys[..i].iter().find(|(k, _)| k == key) {
                self.error(
                    &format!("{path}.key"),
                    format!("\"{key}\" is already used by {first}; field keys must be unique"),
                );
            }
        }
        self.layouts = outer;
    }

    /// Checks one field dictionary; returns its key.
    fn field(&mut self, path: &str, field: &Map<String, Value>) -> Option<String> {
        for required in ["key", "value"] {
            if !field.contains_key(required) {
                self.error(&format!("{path}.{required}"), "is required");
            }
        }
        self.keys_of(path, field, keys::FIELD_KEYS, "a field key");
        if let Some(value) = field.get("value")
            && !(value.is_string() || value.is_number())
        {
            self.error(&format!("{path}.value"), "must be a string or a number");
        }
        if let Some(Value::String(msg)) = field.get("changeMessage")
            && !msg.contains("%@")
            && !self.templated(msg)
        {
            self.error(
                &format!("{path}.changeMessage"),
                "must contain %@ (where Wallet puts the new value)",
            );
        }
        for (key, allowed) in [
            ("dateStyle", &DATE_STYLES[..]),
            ("timeStyle", &DATE_STYLES[..]),
            ("numberStyle", &NUMBER_STYLES[..]),
            ("textAlignment", &TEXT_ALIGNMENTS[..]),
        ] {
            if let Some(v) = field.get(key)
                && v.is_string()
            {
                self.one_of(&format!("{path}.{key}"), v, allowed);
            }
        }
        if (field.contains_key("dateStyle") || field.contains_key("timeStyle"))
            && let Some(Value::String(s)) = field.get("value")
        {
            self.date(&format!("{path}.value"), s);
        }
        if let Some(Value::Array(detectors)) = field.get("dataDetectorTypes") {
            for (i, d) in detectors.iter().enumerate() {
                self.one_of(&format!("{path}.dataDetectorTypes[{i}]"), d, &DATA_DETECTORS);
            }
        }
        if let Some(row) = field.get("row").and_then(Value::as_i64)
            && !(0..=1).contains(&row)
        {
            self.error(&format!("{path}.row"), "must be 0 or 1");
        }
        if let Some(Value::Object(tags)) = field.get("semantics") {
            self.semantics(&format!("{path}.semantics"), tags);
        }
        field.get("key").and_then(Value::as_str).map(str::to_owned)
    }

    fn semantics(&mut self, path: &str, tags: &Map<String, Value>) {
        self.keys_of(path, tags, keys::SEMANTIC_TAGS, "a semantic tag");
    }

    fn barcodes(&mut self, pass: &Map<String, Value>) {
        if let Some(Value::Object(b)) = pass.get("barcode") {
            self.barcode("barcode", b);
            if !pass.contains_key("barcodes") {
                self.warn(
                    "barcode",
                    "is deprecated since iOS 9; add barcodes (kept for older devices)",
                );
            }
        }
        if let Some(Value::Array(list)) = pass.get("barcodes") {
            for (i, b) in list.iter().enumerate() {
                let path = format!("barcodes[{i}]");
                match b.as_object() {
                    Some(b) => self.barcode(&path, b),
                    None => self.error(&path, "must be an object"),
                }
            }
            // Wallet shows the first format it can draw; with only iOS 27 formats, older
            // iPhones show none.
            let formats: Vec<&Key> = list
                .iter()
                .filter_map(|b| b.get("format").and_then(Value::as_str))
                .filter_map(|f| keys::find(keys::BARCODE_FORMATS, f))
                .collect();
            if let Some(newest) = formats.iter().map(|k| k.since).min()
                && newest.0 >= 27
            {
                self.warn(
                    "barcodes",
                    format!(
                        "holds only formats that need {newest}: earlier iPhones show no barcode; \
                         add a QR, PDF417, Aztec or Code 128 barcode after them"
                    ),
                );
            }
        }
    }

    fn barcode(&mut self, path: &str, b: &Map<String, Value>) {
        for required in ["format", "message", "messageEncoding"] {
            if !b.contains_key(required) {
                self.error(&format!("{path}.{required}"), "is required");
            }
        }
        let formats: Vec<&str> = keys::BARCODE_FORMATS.iter().map(|k| k.name).collect();
        for (key, value) in b {
            let kpath = format!("{path}.{key}");
            match key.as_str() {
                "format" => self.one_of(&kpath, value, &formats),
                "message" | "altText" => {
                    self.kind(&kpath, value, Kind::String);
                }
                "messageEncoding" => {
                    if let Some(enc) = value.as_str() {
                        if !self.templated(enc) && !is_known_encoding(enc) {
                            self.error(
                                &kpath,
                                format!(
                                    "\"{enc}\" is not a text encoding Wallet knows \
                                     (use iso-8859-1 or utf-8)"
                                ),
                            );
                        }
                    } else {
                        self.error(&kpath, "must be a string");
                    }
                }
                _ => self.warn(&kpath, "is not a barcode key Wallet knows; it has no effect"),
            }
        }
        let since = b
            .get("format")
            .and_then(Value::as_str)
            .and_then(|f| keys::find(keys::BARCODE_FORMATS, f))
            .map(|k| k.since);
        if path == "barcode" && since.is_some_and(|s| s > Ios(8, 9)) {
            self.warn(
                "barcode.format",
                format!(
                    "needs {}: iOS 8 and earlier, which read the legacy barcode key, don't show it",
                    since.unwrap_or(Ios(9, 0))
                ),
            );
        }
    }

    fn upcoming(&mut self, pass: &Map<String, Value>) {
        let Some(Value::Array(list)) = pass.get("upcomingPassInformation") else {
            return;
        };
        for (i, entry) in list.iter().enumerate() {
            let path = format!("upcomingPassInformation[{i}]");
            let Some(entry) = entry.as_object() else {
                self.error(&path, "must be an object");
                continue;
            };
            for required in ["type", "identifier", "name"] {
                if !entry.contains_key(required) {
                    self.error(&format!("{path}.{required}"), "is required");
                }
            }
            let outer = self.layouts.take();
            self.keys_of(&path, entry, keys::UPCOMING_KEYS, "an upcoming event key");
            self.layouts = outer;
            if let Some(t) = entry.get("type") {
                self.one_of(&format!("{path}.type"), t, &["event"]);
            }
            if let Some(Value::Object(tags)) = entry.get("semantics") {
                self.semantics(&format!("{path}.semantics"), tags);
            }
            if let Some(Value::Object(d)) = entry.get("dateInformation") {
                match d.get("date") {
                    Some(date) => {
                        self.kind(&format!("{path}.dateInformation.date"), date, Kind::Date);
                    }
                    None => self.error(&format!("{path}.dateInformation.date"), "is required"),
                }
            }
            for list_key in ["additionalInfoFields", "backFields"] {
                if let Some(Value::Array(fields)) = entry.get(list_key) {
                    for (j, f) in fields.iter().enumerate() {
                        let fpath = format!("{path}.{list_key}[{j}]");
                        match f.as_object() {
                            Some(f) => {
                                self.field(&fpath, f);
                            }
                            None => self.error(&fpath, "must be an object"),
                        }
                    }
                }
            }
        }
    }

    fn featured_actions(&mut self, pass: &Map<String, Value>) {
        let Some(Value::Array(list)) = pass.get("featuredActions") else {
            return;
        };
        if list.len() > keys::MAX_FEATURED_ACTIONS {
            self.warn(
                "featuredActions",
                format!(
                    "holds {} actions; Wallet shows only the first {}",
                    list.len(),
                    keys::MAX_FEATURED_ACTIONS
                ),
            );
        }
        for (i, action) in list.iter().enumerate() {
            let path = format!("featuredActions[{i}]");
            let Some(action) = action.as_object() else {
                self.error(&path, "must be an object");
                continue;
            };
            let outer = self.layouts.take();
            self.keys_of(&path, action, keys::FEATURED_ACTION_KEYS, "a featured action key");
            self.layouts = outer;
            for required in ["identifier", "type"] {
                if !action.contains_key(required) {
                    self.error(&format!("{path}.{required}"), "is required");
                }
            }
            let Some(t) = action.get("type") else {
                continue;
            };
            self.one_of(&format!("{path}.type"), t, keys::FEATURED_ACTION_TYPES);
            let is_place = t.as_str() == Some("place");
            let (needed, refused) = if is_place {
                ("placeIdentifier", "url")
            } else {
                ("url", "placeIdentifier")
            };
            if !action.contains_key(needed) {
                self.error(&format!("{path}.{needed}"), "is required for this action type");
            }
            if action.contains_key(refused) {
                self.warn(&format!("{path}.{refused}"), "has no effect for this action type");
            }
        }
    }

    fn web_service(&mut self, pass: &Map<String, Value>) {
        let url = pass.get("webServiceURL").and_then(Value::as_str);
        let token = pass.get("authenticationToken").and_then(Value::as_str);
        match (url, token) {
            (Some(_), None) => self.error("authenticationToken", "is required when webServiceURL is set"),
            (None, Some(_)) => self.error("webServiceURL", "is required when authenticationToken is set"),
            (Some(url), Some(token)) => {
                if token.chars().count() < 16 && !self.templated(token) {
                    self.error("authenticationToken", "must be at least 16 characters long");
                }
                if !self.templated(url) {
                    if url.starts_with("http://") {
                        self.warn(
                            "webServiceURL",
                            "uses plain HTTP: iPhones only call it with the developer setting on",
                        );
                    } else if !url.starts_with("https://") {
                        self.error("webServiceURL", "must be an https:// URL");
                    }
                }
            }
            (None, None) => {}
        }
    }

    fn limited_list(
        &mut self,
        pass: &Map<String, Value>,
        key: &str,
        max: usize,
        each: fn(&mut Self, &str, &Map<String, Value>),
    ) {
        let Some(Value::Array(list)) = pass.get(key) else {
            return;
        };
        if list.len() > max {
            self.error(
                key,
                format!("holds {} entries; Wallet reads at most {max}", list.len()),
            );
        }
        for (i, item) in list.iter().enumerate() {
            let path = format!("{key}[{i}]");
            match item.as_object() {
                Some(item) => each(self, &path, item),
                None => self.error(&path, "must be an object"),
            }
        }
    }

    fn location(&mut self, path: &str, l: &Map<String, Value>) {
        for required in ["latitude", "longitude"] {
            if !l.contains_key(required) {
                self.error(&format!("{path}.{required}"), "is required");
            }
        }
        for (key, value) in l {
            let kpath = format!("{path}.{key}");
            match key.as_str() {
                "latitude" | "longitude" | "altitude" => {
                    self.kind(&kpath, value, Kind::Number);
                }
                "relevantText" => {
                    self.kind(&kpath, value, Kind::String);
                }
                _ => self.warn(&kpath, "is not a location key Wallet knows; it has no effect"),
            }
        }
        let in_range = |key: &str, limit: f64| {
            l.get(key)
                .and_then(Value::as_f64)
                .is_none_or(|v| v.abs() <= limit)
        };
        if !in_range("latitude", 90.0) {
            self.error(&format!("{path}.latitude"), "must be between -90 and 90");
        }
        if !in_range("longitude", 180.0) {
            self.error(&format!("{path}.longitude"), "must be between -180 and 180");
        }
    }

    fn beacon(&mut self, path: &str, b: &Map<String, Value>) {
        if !b.contains_key("proximityUUID") {
            self.error(&format!("{path}.proximityUUID"), "is required");
        }
        for (key, value) in b {
            let kpath = format!("{path}.{key}");
            match key.as_str() {
                "proximityUUID" => {
                    if let Some(s) = value.as_str() {
                        if !self.templated(s) && !is_uuid(s) {
                            self.error(&kpath, format!("\"{s}\" is not a UUID"));
                        }
                    } else {
                        self.error(&kpath, "must be a string");
                    }
                }
                "major" | "minor" => {
                    if value.as_u64().is_none_or(|v| v > 65535) {
                        self.error(&kpath, "must be an integer from 0 to 65535");
                    }
                }
                "relevantText" => {
                    self.kind(&kpath, value, Kind::String);
                }
                _ => self.warn(&kpath, "is not a beacon key Wallet knows; it has no effect"),
            }
        }
    }

    /// Checks `relevantDates`; returns the versions its entries need (a single `date` is the
    /// iOS 26 form, intervals came with iOS 18).
    fn relevant_dates(&mut self, pass: &Map<String, Value>) -> Vec<(String, Ios)> {
        let mut versions = Vec::new();
        let Some(Value::Array(list)) = pass.get("relevantDates") else {
            return versions;
        };
        for (i, item) in list.iter().enumerate() {
            let path = format!("relevantDates[{i}]");
            let Some(item) = item.as_object() else {
                self.error(&path, "must be an object");
                continue;
            };
            let has_date = item.contains_key("date");
            if has_date {
                versions.push((format!("{path}.date"), Ios(26, 0)));
            }
            let has_interval = item.contains_key("startDate") || item.contains_key("endDate");
            if has_date == has_interval {
                self.error(&path, "needs either date, or startDate and endDate");
            }
            if has_interval && !(item.contains_key("startDate") && item.contains_key("endDate")) {
                self.error(&path, "needs both startDate and endDate");
            }
            for (key, value) in item {
                let kpath = format!("{path}.{key}");
                if ["date", "startDate", "endDate"].contains(&key.as_str()) {
                    self.kind(&kpath, value, Kind::Date);
                } else {
                    self.warn(&kpath, "is not a key Wallet knows; it has no effect");
                }
            }
        }
        versions
    }

    fn nfc(&mut self, nfc: &Map<String, Value>) {
        match nfc.get("message") {
            None => self.error("nfc.message", "is required"),
            Some(Value::String(m)) => {
                if m.len() > 64 && !self.templated(m) {
                    self.error("nfc.message", "must be at most 64 bytes");
                }
            }
            Some(_) => self.error("nfc.message", "must be a string"),
        }
        for (key, value) in nfc {
            let kpath = format!("nfc.{key}");
            match key.as_str() {
                "message" => {}
                "encryptionPublicKey" => {
                    self.kind(&kpath, value, Kind::String);
                }
                "requiresAuthentication" => {
                    self.kind(&kpath, value, Kind::Bool);
                }
                _ => self.warn(&kpath, "is not an nfc key Wallet knows; it has no effect"),
            }
        }
    }
}

fn is_known_encoding(enc: &str) -> bool {
    const KNOWN: [&str; 9] = [
        "iso-8859-1",
        "iso8859-1",
        "latin1",
        "utf-8",
        "utf8",
        "utf-16",
        "us-ascii",
        "ascii",
        "windows-1252",
    ];
    KNOWN.iter().any(|k| k.eq_ignore_ascii_case(enc))
}

/// `rgb(r, g, b)` with each component 0–255, spaces optional.
#[must_use]
pub fn is_rgb_color(s: &str) -> bool {
    let Some(inner) = s.trim().strip_prefix("rgb(").and_then(|r| r.strip_suffix(')')) else {
        return false;
    };
    let parts: Vec<&str> = inner.split(',').map(str::trim).collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 3
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u16>().is_ok_and(|v| v <= 255)
        })
}

/// `#rrggbb` (what iOS 18 added).
#[must_use]
pub fn is_hex_color(s: &str) -> bool {
    s.strip_prefix('#')
        .is_some_and(|h| h.len() == 6 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A W3C date-time: `YYYY-MM-DDThh:mm[:ss[.s+]](Z|±hh:mm)`; Wallet needs the time and zone.
#[must_use]
pub fn is_w3c_date(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r.clone())
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
            .then(|| std::str::from_utf8(&b[r]).ok()?.parse::<u32>().ok())
            .flatten()
    };
    let (Some(_year), Some(month), Some(day)) = (digits(0..4), digits(5..7), digits(8..10)) else {
        return false;
    };
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || b.get(10) != Some(&b'T') {
        return false;
    }
    let (Some(hour), Some(minute)) = (digits(11..13), digits(14..16)) else {
        return false;
    };
    if b.get(13) != Some(&b':') {
        return false;
    }
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return false;
    }
    let mut i = 16;
    if b.get(i) == Some(&b':') {
        match digits(i + 1..i + 3) {
            Some(sec) if sec <= 60 => i += 3,
            _ => return false,
        }
        if b.get(i) == Some(&b'.') {
            let start = i + 1;
            i = start;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == start {
                return false;
            }
        }
    }
    match &b[i..] {
        b"Z" => true,
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let _ = sign;
            rest.len() == 5
                && rest[2] == b':'
                && digits(i + 1..i + 3).is_some_and(|h| h <= 23)
                && digits(i + 4..i + 6).is_some_and(|m| m <= 59)
        }
        _ => false,
    }
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                *c == b'-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_w3c_dates_with_time_and_zone_only() {
        assert!(is_w3c_date("2011-12-08T13:00-08:00"));
        assert!(is_w3c_date("2026-05-01T19:30:00Z"));
        assert!(is_w3c_date("2026-05-01T19:30:00.123+02:00"));
        assert!(!is_w3c_date("2026-05-01"));
        assert!(!is_w3c_date("2026-05-01T19:30"));
        assert!(!is_w3c_date("2026-13-01T19:30Z"));
        assert!(!is_w3c_date("tomorrow"));
    }

    #[test]
    fn reads_rgb_and_hex_colours() {
        assert!(is_rgb_color("rgb(60, 65, 76)"));
        assert!(is_rgb_color("rgb(0,0,255)"));
        assert!(!is_rgb_color("rgb(256, 0, 0)"));
        assert!(!is_rgb_color("rgb(1, 2)"));
        assert!(is_hex_color("#3c414c"));
        assert!(!is_hex_color("#3c414"));
    }
}
