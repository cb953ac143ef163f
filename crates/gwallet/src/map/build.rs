//! The per-type rules: which `pass.json` value goes to which Google field.

use std::collections::BTreeSet;

use pkpass::Problem;
use serde_json::{Map, Value, json};

use super::TemplateInput;
use super::fields::{self, Field, Texts};
use super::values::{PassDate, best_image, hex_color, is_templated};
use crate::{Localizations, PassKind};

// Field keys (compared without case or punctuation) that passmint recognises for Google's own
// fields. Apple's `semantics` are read first where Apple defines one.
const VENUE_NAME: &[&str] = &["venue", "venuename", "location", "loc"];
const VENUE_ADDRESS: &[&str] = &["address", "venueaddress"];
const SEAT: &[&str] = &["seat", "seatnumber", "seatno"];
const ROW: &[&str] = &["row", "seatrow"];
const SECTION: &[&str] = &["section", "seatsection", "block"];
const GATE: &[&str] = &["gate", "entrance", "door"];
const TICKET_HOLDER: &[&str] = &["holder", "ticketholder", "holdername", "attendee", "attendeename"];
const TICKET_NUMBER: &[&str] = &["ticket", "ticketnumber", "ticketno", "ticketid"];
const CONFIRMATION: &[&str] = &[
    "confirmation",
    "confirmationcode",
    "confirmationnumber",
    "pnr",
    "booking",
    "bookingreference",
    "bookingref",
    "order",
    "ordernumber",
];
const FLIGHT: &[&str] = &["flight", "flightnumber", "flightno", "flightcode"];
const TERMINAL: &[&str] = &["terminal"];
const DEPARTURE: &[&str] = &["departure", "departs", "depart", "departuretime", "departuredate"];
const BOARDING_TIME: &[&str] = &["boarding", "boardingtime", "boards"];
const PASSENGER: &[&str] = &["passenger", "passengername", "name", "traveller", "traveler"];
const ETICKET: &[&str] = &["eticket", "eticketnumber", "ticket", "ticketnumber"];
const BOARDING_GROUP: &[&str] = &["group", "boardinggroup", "zone"];
const BOARDING_POSITION: &[&str] = &["position", "boardingposition"];
const SEQUENCE: &[&str] = &["sequence", "seq", "sequencenumber"];
const SEAT_CLASS: &[&str] = &["class", "seatclass", "cabin", "fareclass"];
const PLATFORM: &[&str] = &["platform", "track"];
const CARRIAGE: &[&str] = &["carriage", "car", "wagon"];
const COACH: &[&str] = &["coach"];
const ACCOUNT_NAME: &[&str] = &[
    "name",
    "membername",
    "accountname",
    "holder",
    "holdername",
    "cardholder",
];
const ACCOUNT_ID: &[&str] = &[
    "memberid",
    "membernumber",
    "memberno",
    "accountid",
    "accountnumber",
    "cardnumber",
    "number",
];

/// Google shows at most this many text modules from the object (and as many from the class).
pub(crate) const MAX_TEXT_MODULES: usize = 10;

/// The template's images as Google `Image`s, by URL.
#[derive(Debug, Clone, Default)]
pub(crate) struct Images {
    /// `logo` at its best scale, else `icon`.
    pub logo: Option<Value>,
    /// `strip`, Google's banner ("hero") image.
    pub hero: Option<Value>,
}

/// Images Apple shows that Google has no place for.
const UNPLACED_IMAGES: [&str; 8] = [
    "background",
    "thumbnail",
    "footer",
    "primaryLogo",
    "secondaryLogo",
    "personalizationLogo",
    "artwork",
    "venueMap",
];

impl Images {
    pub(crate) fn new(input: &TemplateInput<'_>, kind: PassKind, warnings: &mut Vec<Problem>) -> Self {
        let base = input.public_url.trim_end_matches('/');
        let image = |file: &str| json!({ "sourceUri": { "uri": format!("{base}/assets/{}/{}/{file}", input.template_id, input.revision) } });
        let top: Vec<String> = input
            .file_names
            .iter()
            .filter(|n| !n.contains('/'))
            .cloned()
            .collect();
        let logo = best_image(&top, "logo").or_else(|| best_image(&top, "icon"));
        let hero = best_image(&top, "strip");
        for unplaced in UNPLACED_IMAGES {
            if let Some(file) = best_image(&top, unplaced) {
                warnings.push(Problem::new(
                    file,
                    format!(
                        "Google Wallet has no place for a {unplaced} image on {}; it is not shown",
                        kind.described()
                    ),
                ));
            }
        }
        if let Some(localized) = input
            .file_names
            .iter()
            .find(|n| n.contains(".lproj/") && n.ends_with(".png"))
        {
            warnings.push(Problem::new(
                localized.as_str(),
                "Google Wallet shows the same images in every language; localised images are not used",
            ));
        }
        Self {
            logo: logo.map(image),
            hero: hero.map(image),
        }
    }
}

/// Reading values out of one `pass.json`, remembering which fields were used.
struct Reader<'a> {
    pass: &'a Map<String, Value>,
    fields: Vec<Field<'a>>,
    semantics: Option<&'a Map<String, Value>>,
    texts: Texts<'a>,
    /// Keys of the fields already placed somewhere.
    taken: BTreeSet<String>,
    /// For a class: only values without placeholders count.
    fixed_only: bool,
}

impl<'a> Reader<'a> {
    fn new(
        kind: PassKind,
        pass: &'a Map<String, Value>,
        loc: &'a Localizations,
        lang: &'a str,
        taken: BTreeSet<String>,
        fixed_only: bool,
    ) -> Self {
        Self {
            pass,
            fields: fields::collect(pass, kind.apple_style()),
            semantics: pass.get("semantics").and_then(Value::as_object),
            texts: Texts { loc, lang },
            taken,
            fixed_only,
        }
    }

    fn usable(&self, text: String) -> Option<String> {
        let unusable = text.is_empty() || (self.fixed_only && is_templated(&text));
        (!unusable).then_some(text)
    }

    /// A top-level string.
    fn top(&self, key: &str) -> Option<String> {
        self.usable(self.pass.get(key)?.as_str()?.to_owned())
    }

    /// A top-level `semantics` value as text (numbers too).
    fn semantic(&self, key: &str) -> Option<String> {
        self.usable(scalar_text(self.semantics?.get(key)?)?)
    }

    /// A value of the first entry of `semantics.seats`.
    fn seat_semantic(&self, key: &str) -> Option<String> {
        let seat = self.semantics?.get("seats")?.as_array()?.first()?;
        self.usable(scalar_text(seat.get(key)?)?)
    }

    /// A semantic `PersonNameComponents` (`givenName`, `familyName`) as one name.
    fn person_semantic(&self, key: &str) -> Option<String> {
        let person = self.semantics?.get(key)?;
        if let Some(s) = person.as_str() {
            return self.usable(s.to_owned());
        }
        let parts: Vec<&str> = [
            "namePrefix",
            "givenName",
            "middleName",
            "familyName",
            "nameSuffix",
        ]
        .iter()
        .filter_map(|k| person.get(*k).and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .collect();
        self.usable(parts.join(" "))
    }

    /// The first field not yet taken whose key is one of `names`, with its text.
    fn peek(&self, names: &[&str]) -> Option<(usize, String)> {
        self.fields.iter().enumerate().find_map(|(i, f)| {
            if self.taken.contains(f.key) || !names.contains(&f.norm_key().as_str()) {
                return None;
            }
            Some((i, self.usable(f.text()?)?))
        })
    }

    /// Marks field `i` as placed.
    fn claim(&mut self, i: usize) {
        let key = self.fields[i].key.to_owned();
        self.taken.insert(key);
    }

    /// [`Self::peek`] and claim it.
    fn take(&mut self, names: &[&str]) -> Option<String> {
        let (i, text) = self.peek(names)?;
        self.claim(i);
        Some(text)
    }

    /// The `n`th field of `list` if not yet taken, with its text.
    fn peek_at(&self, list: &str, n: usize) -> Option<(usize, String)> {
        let (i, f) = self
            .fields
            .iter()
            .enumerate()
            .filter(|(_, f)| f.list == list)
            .nth(n)?;
        if self.taken.contains(f.key) {
            return None;
        }
        Some((i, self.usable(f.text()?)?))
    }

    /// The first of `semantic`, then a field named like `names`, that is a date.
    fn date(&mut self, semantic: &[&str], names: &[&str]) -> Option<PassDate> {
        if let Some(date) = semantic
            .iter()
            .find_map(|k| self.semantic(k).and_then(|s| PassDate::parse(&s)))
        {
            return Some(date);
        }
        let i = self.fields.iter().position(|f| {
            !self.taken.contains(f.key)
                && names.contains(&f.norm_key().as_str())
                && f.map
                    .get("value")
                    .and_then(Value::as_str)
                    .is_some_and(|v| !(self.fixed_only && is_templated(v)) && PassDate::parse(v).is_some())
        })?;
        self.claim(i);
        PassDate::parse(self.fields[i].map.get("value")?.as_str()?)
    }

    fn localized(&self, text: &str) -> Value {
        self.texts.localized(text)
    }
}

/// A JSON string or number as text.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The class of a template.
#[allow(clippy::too_many_arguments)] // one call site; a struct would only rename the arguments
pub(crate) fn class(
    kind: PassKind,
    class_id: &str,
    pass: &Map<String, Value>,
    loc: &Localizations,
    lang: &str,
    images: &Images,
    claimed: &mut BTreeSet<String>,
    warnings: &mut Vec<Problem>,
) -> Value {
    let mut r = Reader::new(kind, pass, loc, lang, BTreeSet::new(), true);
    let mut c = Map::new();
    c.insert("id".into(), class_id.into());
    if kind != PassKind::Generic {
        let issuer = r.top("organizationName").unwrap_or_else(|| {
            warnings.push(Problem::new(
                "pass.json: organizationName",
                "Google Wallet keeps the issuer name on the class, the same for every pass; \
                 a placeholder cannot be used there, so the description is shown instead",
            ));
            r.top("description").unwrap_or_default()
        });
        r.texts
            .set_with_translations(&mut c, "issuerName", "localizedIssuerName", &issuer);
        // `draft` classes cannot have objects; Google approves `underReview` ones at once.
        c.insert("reviewStatus".into(), "UNDER_REVIEW".into());
        if let Some(hex) = r.top("backgroundColor").as_deref().and_then(hex_color) {
            c.insert("hexBackgroundColor".into(), hex.into());
        }
        if let Some(hero) = &images.hero {
            c.insert("heroImage".into(), hero.clone());
        }
    }
    match kind {
        PassKind::EventTicket => event_class(&mut r, &mut c, images),
        PassKind::Flight => flight_class(&mut r, &mut c, images, warnings),
        PassKind::Transit => transit_class(&r, &mut c, images, warnings),
        PassKind::Loyalty => loyalty_class(&r, &mut c, images, warnings),
        PassKind::Offer => offer_class(&mut r, &mut c, images),
        PassKind::Generic => {}
    }
    claimed.extend(r.taken);
    Value::Object(c)
}

fn title_fallback(r: &Reader<'_>) -> String {
    r.top("logoText")
        .or_else(|| r.top("description"))
        .or_else(|| r.top("organizationName"))
        .unwrap_or_default()
}

fn event_class(r: &mut Reader<'_>, c: &mut Map<String, Value>, images: &Images) {
    let name = r.semantic("eventName").or_else(|| {
        let (i, text) = r.peek_at("primaryFields", 0)?;
        r.claim(i);
        Some(text)
    });
    let name = name.unwrap_or_else(|| title_fallback(r));
    c.insert("eventName".into(), r.localized(&name));
    if let Some(logo) = &images.logo {
        c.insert("logo".into(), logo.clone());
    }
    // Google wants both a venue's name and address, or no venue.
    let venue_name = r
        .semantic("venueName")
        .map(|n| (None, n))
        .or_else(|| r.peek(VENUE_NAME).map(|(i, n)| (Some(i), n)));
    if let (Some((name_field, name)), Some((address_field, address))) = (venue_name, r.peek(VENUE_ADDRESS)) {
        if let Some(i) = name_field {
            r.claim(i);
        }
        r.claim(address_field);
        c.insert(
            "venue".into(),
            json!({ "name": r.localized(&name), "address": r.localized(&address) }),
        );
    }
    let start = r
        .date(&["eventStartDate"], &[])
        .or_else(|| r.top("relevantDate").and_then(|d| PassDate::parse(&d)));
    let end = r.date(&["eventEndDate"], &[]);
    if start.is_some() || end.is_some() {
        let mut dt = Map::new();
        if let Some(start) = start {
            dt.insert("start".into(), start.with_offset().into());
        }
        if let Some(end) = end {
            dt.insert("end".into(), end.with_offset().into());
        }
        c.insert("dateTime".into(), Value::Object(dt));
    }
}

/// `UA123`, `UA 123`, `LH0400` → (`UA`, `123`).
fn split_flight_code(code: &str) -> Option<(String, String)> {
    let compact: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let carrier = compact.get(..2)?;
    let number = compact.get(2..)?;
    let ok = carrier.chars().all(|c| c.is_ascii_alphanumeric())
        && carrier.chars().any(|c| c.is_ascii_alphabetic())
        && (1..=4).contains(&number.len())
        && number.chars().all(|c| c.is_ascii_digit());
    ok.then(|| {
        (
            carrier.to_ascii_uppercase(),
            number.trim_start_matches('0').to_owned(),
        )
    })
    .map(|(c, n)| (c, if n.is_empty() { "0".into() } else { n }))
}

fn is_airport_code(s: &str) -> bool {
    s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase())
}

fn flight_class(
    r: &mut Reader<'_>,
    c: &mut Map<String, Value>,
    images: &Images,
    warnings: &mut Vec<Problem>,
) {
    let mut missing = Vec::new();
    // The carrier and number: semantics, else a field such as "flight": "UA 123".
    let mut carrier = r.semantic("airlineCode");
    let mut number = r.semantic("flightNumber");
    if (carrier.is_none() || number.is_none())
        && let Some((c2, n2)) = r
            .semantic("flightCode")
            .and_then(|code| split_flight_code(&code))
            .or_else(|| {
                let (i, text) = r.peek(FLIGHT)?;
                let split = split_flight_code(&text)?;
                r.claim(i);
                Some(split)
            })
    {
        carrier.get_or_insert(c2);
        number.get_or_insert(n2);
    }
    let mut carrier_json = Map::new();
    match carrier {
        Some(code) => {
            carrier_json.insert("carrierIataCode".into(), code.into());
        }
        None => missing
            .push("the airline's IATA code (semantics.airlineCode, or a \"flight\" field like \"UA 123\")"),
    }
    if let Some(logo) = &images.logo {
        carrier_json.insert("airlineLogo".into(), logo.clone());
    }
    let mut header = Map::new();
    header.insert("carrier".into(), Value::Object(carrier_json));
    match number {
        Some(n) => {
            header.insert("flightNumber".into(), n.into());
        }
        None => missing.push("the flight number (semantics.flightNumber, or a \"flight\" field)"),
    }
    c.insert("flightHeader".into(), Value::Object(header));

    // Airports: semantics, else the first two primary fields when they are IATA codes (as on
    // Apple's own boarding passes: value "SFO", label "San Francisco").
    for (n, (semantic_code, terminal_key, gate_key, google_key, what)) in [
        (
            "departureAirportCode",
            "departureTerminal",
            "departureGate",
            "origin",
            "the origin airport",
        ),
        (
            "arrivalAirportCode",
            "arrivalTerminal",
            "arrivalGate",
            "destination",
            "the destination airport",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let mut airport = Map::new();
        let code = r.semantic(semantic_code).or_else(|| {
            let (i, text) = r.peek_at("primaryFields", n)?;
            if !is_airport_code(&text) {
                return None;
            }
            r.claim(i);
            if let Some(label) = r.fields[i].label().filter(|l| !l.is_empty() && !is_templated(l)) {
                airport.insert("airportNameOverride".into(), r.localized(label));
            }
            Some(text)
        });
        match code {
            Some(code) => {
                airport.insert("airportIataCode".into(), code.into());
            }
            None => missing.push(what),
        }
        let terminal = r
            .semantic(terminal_key)
            .or_else(|| (n == 0).then(|| r.take(TERMINAL)).flatten());
        if let Some(terminal) = terminal {
            airport.insert("terminal".into(), terminal.into());
        }
        let gate = r
            .semantic(gate_key)
            .or_else(|| (n == 0).then(|| r.take(GATE)).flatten());
        if let Some(gate) = gate {
            airport.insert("gate".into(), gate.into());
        }
        c.insert(google_key.into(), Value::Object(airport));
    }
    let departure = r
        .date(&["originalDepartureDate", "currentDepartureDate"], DEPARTURE)
        .or_else(|| r.top("relevantDate").and_then(|d| PassDate::parse(&d)));
    match departure {
        // Google wants the airport's local time without an offset (it knows the airport's zone).
        Some(d) => {
            c.insert("localScheduledDepartureDateTime".into(), d.local().into());
        }
        None => missing.push("the scheduled departure (semantics.originalDepartureDate, or relevantDate)"),
    }
    if let Some(boarding) = r.date(&["originalBoardingDate", "currentBoardingDate"], BOARDING_TIME) {
        c.insert("localBoardingDateTime".into(), boarding.local().into());
    }
    if !missing.is_empty() {
        warnings.push(Problem::new(
            "pass.json: boardingPass",
            format!(
                "Google Wallet keeps each flight's details on the class, the same for every pass, and \
                 refuses a flight class without {}; give the template fixed values (placeholders \
                 cannot be used there)",
                missing.join(", ")
            ),
        ));
    }
}

fn transit_class(r: &Reader<'_>, c: &mut Map<String, Value>, images: &Images, warnings: &mut Vec<Problem>) {
    let apple = r
        .pass
        .get("boardingPass")
        .and_then(|b| b.get("transitType"))
        .and_then(Value::as_str)
        .unwrap_or("PKTransitTypeGeneric");
    let google = match apple {
        "PKTransitTypeBus" => "BUS",
        "PKTransitTypeTrain" => "RAIL",
        "PKTransitTypeBoat" => "FERRY",
        _ => "OTHER",
    };
    c.insert("transitType".into(), google.into());
    match &images.logo {
        Some(logo) => {
            c.insert("logo".into(), logo.clone());
        }
        None => warnings.push(no_logo_warning("transit")),
    }
}

fn no_logo_warning(kind: &str) -> Problem {
    Problem::new(
        "logo.png",
        format!(
            "Google Wallet refuses a {kind} class without a logo, and the template has neither a logo nor an icon"
        ),
    )
}

fn loyalty_class(r: &Reader<'_>, c: &mut Map<String, Value>, images: &Images, warnings: &mut Vec<Problem>) {
    let program = r
        .top("logoText")
        .or_else(|| r.top("organizationName"))
        .or_else(|| r.top("description"))
        .unwrap_or_default();
    r.texts
        .set_with_translations(c, "programName", "localizedProgramName", &program);
    match &images.logo {
        Some(logo) => {
            c.insert("programLogo".into(), logo.clone());
        }
        None => warnings.push(no_logo_warning("loyalty")),
    }
}

fn offer_class(r: &mut Reader<'_>, c: &mut Map<String, Value>, images: &Images) {
    let title = match r.peek_at("primaryFields", 0) {
        Some((i, text)) => {
            r.claim(i);
            text
        }
        None => title_fallback(r),
    };
    r.texts
        .set_with_translations(c, "title", "localizedTitle", &title);
    let provider = r.top("organizationName").unwrap_or_else(|| title_fallback(r));
    r.texts
        .set_with_translations(c, "provider", "localizedProvider", &provider);
    // Apple coupons say nothing about where they are redeemed.
    c.insert("redemptionChannel".into(), "BOTH".into());
    if let Some(logo) = &images.logo {
        c.insert("titleImage".into(), logo.clone());
    }
}

/// The object of one pass.
#[allow(clippy::too_many_arguments)] // one call site; a struct would only rename the arguments
pub(crate) fn object(
    kind: PassKind,
    id: &str,
    class_id: &str,
    pass: &Map<String, Value>,
    loc: &Localizations,
    lang: &str,
    images: &Images,
    claimed: &BTreeSet<String>,
    warnings: &mut Vec<Problem>,
) -> Value {
    let mut r = Reader::new(kind, pass, loc, lang, claimed.clone(), false);
    let mut o = Map::new();
    o.insert("id".into(), id.into());
    o.insert("classId".into(), class_id.into());
    let voided = pass.get("voided").and_then(Value::as_bool) == Some(true);
    o.insert("state".into(), if voided { "INACTIVE" } else { "ACTIVE" }.into());
    if let Some(barcode) = barcode(pass) {
        o.insert("barcode".into(), barcode);
    }
    if let Some(expires) = pass.get("expirationDate").and_then(Value::as_str) {
        match PassDate::parse(expires) {
            Some(d) => {
                o.insert("validTimeInterval".into(), json!({ "end": { "date": d.with_offset() } }));
            }
            None => warnings.push(Problem::new(
                "pass.json: expirationDate",
                format!("Google Wallet: \"{expires}\" is not a date with a time zone; the pass is sent without an end"),
            )),
        }
    }
    if matches!(
        kind,
        PassKind::EventTicket | PassKind::Flight | PassKind::Transit | PassKind::Generic
    ) && let Some(hex) = r.top("backgroundColor").as_deref().and_then(hex_color)
    {
        o.insert("hexBackgroundColor".into(), hex.into());
    }
    match kind {
        PassKind::EventTicket => event_object(&mut r, &mut o),
        PassKind::Flight => flight_object(&mut r, &mut o, warnings),
        PassKind::Transit => transit_object(&mut r, &mut o),
        PassKind::Loyalty => loyalty_object(&mut r, &mut o),
        PassKind::Offer => {}
        PassKind::Generic => generic_object(&mut r, &mut o, images),
    }
    modules(&r, &mut o);
    Value::Object(o)
}

/// The barcode: the first entry of `barcodes` (Apple's list of fallbacks) in a format Google
/// reads, else the legacy `barcode`.
fn barcode(pass: &Map<String, Value>) -> Option<Value> {
    let candidates = pass
        .get("barcodes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .chain(pass.get("barcode"));
    candidates.filter_map(Value::as_object).find_map(|b| {
        let kind = google_barcode_type(b.get("format")?.as_str()?)?;
        let message = b.get("message")?.as_str()?;
        let mut out = json!({ "type": kind, "value": message });
        if let Some(alt) = b.get("altText").and_then(Value::as_str).filter(|a| !a.is_empty()) {
            out["alternateText"] = alt.into();
        }
        Some(out)
    })
}

fn google_barcode_type(apple: &str) -> Option<&'static str> {
    match apple {
        "PKBarcodeFormatQR" => Some("QR_CODE"),
        "PKBarcodeFormatPDF417" => Some("PDF_417"),
        "PKBarcodeFormatAztec" => Some("AZTEC"),
        "PKBarcodeFormatCode128" => Some("CODE_128"),
        _ => None,
    }
}

fn event_object(r: &mut Reader<'_>, o: &mut Map<String, Value>) {
    let mut seat = Map::new();
    for (google, semantic, names) in [
        ("seat", "seatNumber", SEAT),
        ("row", "seatRow", ROW),
        ("section", "seatSection", SECTION),
        ("gate", "", GATE),
    ] {
        let text = (!semantic.is_empty())
            .then(|| r.seat_semantic(semantic))
            .flatten()
            .or_else(|| r.take(names));
        if let Some(text) = text {
            seat.insert(google.into(), r.localized(&text));
        }
    }
    if !seat.is_empty() {
        o.insert("seatInfo".into(), Value::Object(seat));
    }
    if let Some(holder) = r.take(TICKET_HOLDER) {
        o.insert("ticketHolderName".into(), holder.into());
    }
    if let Some(number) = r.take(TICKET_NUMBER) {
        o.insert("ticketNumber".into(), number.into());
    }
    if let Some(code) = r.semantic("confirmationNumber").or_else(|| r.take(CONFIRMATION)) {
        o.insert("reservationInfo".into(), json!({ "confirmationCode": code }));
    }
}

fn flight_object(r: &mut Reader<'_>, o: &mut Map<String, Value>, warnings: &mut Vec<Problem>) {
    match r.person_semantic("passengerName").or_else(|| r.take(PASSENGER)) {
        Some(name) => {
            o.insert("passengerName".into(), name.into());
        }
        None => warnings.push(Problem::new(
            "pass.json: boardingPass",
            "Google Wallet needs the passenger's name on a flight object (semantics.passengerName, or a \
             \"passenger\" field)",
        )),
    }
    let mut reservation = Map::new();
    if let Some(code) = r.semantic("confirmationNumber").or_else(|| r.take(CONFIRMATION)) {
        reservation.insert("confirmationCode".into(), code.into());
    }
    if let Some(ticket) = r.take(ETICKET) {
        reservation.insert("eticketNumber".into(), ticket.into());
    }
    // Google requires reservationInfo, even when there is nothing to put in it.
    o.insert("reservationInfo".into(), Value::Object(reservation));
    let mut seating = Map::new();
    for (google, semantic, names) in [
        ("seatNumber", Some("seatNumber"), SEAT),
        ("seatClass", None, SEAT_CLASS),
        ("boardingGroup", None, BOARDING_GROUP),
        ("boardingPosition", None, BOARDING_POSITION),
        ("sequenceNumber", None, SEQUENCE),
    ] {
        let text = match (google, semantic) {
            ("boardingGroup", _) => r.semantic("boardingGroup"),
            ("sequenceNumber", _) => r.semantic("boardingSequenceNumber"),
            (_, Some(s)) => r.seat_semantic(s),
            _ => None,
        }
        .or_else(|| r.take(names));
        if let Some(text) = text {
            seating.insert(google.into(), text.into());
        }
    }
    if !seating.is_empty() {
        o.insert("boardingAndSeatingInfo".into(), Value::Object(seating));
    }
}

fn transit_object(r: &mut Reader<'_>, o: &mut Map<String, Value>) {
    // Apple has no round trips: a boarding pass is one leg.
    o.insert("tripType".into(), "ONE_WAY".into());
    let mut leg = Map::new();
    // Google needs an origin whenever there is a destination, so the two go together or not at all.
    let origin = r
        .semantic("departureStationName")
        .map(|n| (None, n))
        .or_else(|| r.peek_at("primaryFields", 0).map(|(i, n)| (Some(i), n)));
    let destination = r
        .semantic("destinationStationName")
        .map(|n| (None, n))
        .or_else(|| r.peek_at("primaryFields", 1).map(|(i, n)| (Some(i), n)));
    if let (Some((oi, origin)), Some((di, destination))) = (origin, destination) {
        for i in [oi, di].into_iter().flatten() {
            r.claim(i);
        }
        leg.insert("originName".into(), r.localized(&origin));
        leg.insert("destinationName".into(), r.localized(&destination));
    }
    if let Some(d) = r
        .date(&["originalDepartureDate", "currentDepartureDate"], DEPARTURE)
        .or_else(|| r.top("relevantDate").and_then(|d| PassDate::parse(&d)))
    {
        leg.insert("departureDateTime".into(), d.with_offset().into());
    }
    if let Some(d) = r.date(
        &["originalArrivalDate", "currentArrivalDate"],
        &["arrival", "arrives"],
    ) {
        leg.insert("arrivalDateTime".into(), d.with_offset().into());
    }
    if let Some(platform) = r.semantic("departurePlatform").or_else(|| r.take(PLATFORM)) {
        leg.insert("platform".into(), platform.into());
    }
    if let Some(carriage) = r.take(CARRIAGE) {
        leg.insert("carriage".into(), carriage.into());
    }
    let mut seat = Map::new();
    if let Some(s) = r.seat_semantic("seatNumber").or_else(|| r.take(SEAT)) {
        seat.insert("seat".into(), s.into());
    }
    if let Some(coach) = r.take(COACH) {
        seat.insert("coach".into(), coach.into());
    }
    if !seat.is_empty() {
        leg.insert("ticketSeat".into(), Value::Object(seat));
    }
    if !leg.is_empty() {
        o.insert("ticketLeg".into(), Value::Object(leg));
    }
    if let Some(names) = r.person_semantic("passengerName").or_else(|| r.take(PASSENGER)) {
        o.insert("passengerNames".into(), names.into());
    }
    if let Some(number) = r.take(TICKET_NUMBER) {
        o.insert("ticketNumber".into(), number.into());
    }
    if let Some(code) = r.semantic("confirmationNumber").or_else(|| r.take(CONFIRMATION)) {
        o.insert("purchaseDetails".into(), json!({ "confirmationCode": code }));
    }
}

fn loyalty_object(r: &mut Reader<'_>, o: &mut Map<String, Value>) {
    if let Some(name) = r.take(ACCOUNT_NAME) {
        o.insert("accountName".into(), name.into());
    }
    if let Some(id) = r.take(ACCOUNT_ID) {
        o.insert("accountId".into(), id.into());
    }
    // Numeric front fields are balances: the first is Google's loyalty points, the second its
    // secondary points.
    let numeric: Vec<usize> = r
        .fields
        .iter()
        .enumerate()
        .filter(|(_, f)| !f.is_back() && !r.taken.contains(f.key) && f.number().is_some())
        .map(|(i, _)| i)
        .take(2)
        .collect();
    for (google, i) in ["loyaltyPoints", "secondaryLoyaltyPoints"]
        .into_iter()
        .zip(numeric)
    {
        let field = &r.fields[i];
        let Some(n) = field.number() else { continue };
        let mut points = Map::new();
        if let Some(label) = field.label().filter(|l| !l.is_empty()) {
            r.texts
                .set_with_translations(&mut points, "label", "localizedLabel", label);
        }
        points.insert(
            "balance".into(),
            balance(n, field.map.get("currencyCode").and_then(Value::as_str)),
        );
        o.insert(google.into(), Value::Object(points));
        r.claim(i);
    }
}

/// A `LoyaltyPointsBalance`: money with a currency code, else an int (int32) or a double.
fn balance(n: &serde_json::Number, currency: Option<&str>) -> Value {
    if let Some(code) = currency {
        // Google counts money in micros (millionths), as an int64 string.
        #[allow(clippy::cast_possible_truncation)] // a balance is far below 9e12
        let micros = (n.as_f64().unwrap_or(0.0) * 1_000_000.0).round() as i64;
        return json!({ "money": { "micros": micros.to_string(), "currencyCode": code } });
    }
    if let Some(i) = n.as_i64() {
        if let Ok(small) = i32::try_from(i) {
            return json!({ "int": small });
        }
        return json!({ "string": i.to_string() });
    }
    match n.as_f64() {
        Some(f) if n.is_f64() => json!({ "double": f }),
        _ => json!({ "string": n.to_string() }),
    }
}

fn generic_object(r: &mut Reader<'_>, o: &mut Map<String, Value>, images: &Images) {
    let title = r.top("organizationName").unwrap_or_default();
    o.insert("cardTitle".into(), r.localized(&title));
    match r.peek_at("primaryFields", 0) {
        Some((i, text)) => {
            r.claim(i);
            o.insert("header".into(), r.localized(&text));
            if let Some(label) = r.fields[i].label().filter(|l| !l.is_empty()) {
                o.insert("subheader".into(), r.localized(label));
            }
        }
        None => {
            let header = r
                .top("logoText")
                .or_else(|| r.top("description"))
                .unwrap_or_default();
            o.insert("header".into(), r.localized(&header));
        }
    }
    if let Some(logo) = &images.logo {
        o.insert("logo".into(), logo.clone());
    }
    if let Some(hero) = &images.hero {
        o.insert("heroImage".into(), hero.clone());
    }
}

/// Every field not placed elsewhere as a text module; back-field links and iOS 18's event links
/// as link modules.
fn modules(r: &Reader<'_>, o: &mut Map<String, Value>) {
    let mut texts = Vec::new();
    let mut links = Vec::new();
    for field in r.fields.iter().filter(|f| !r.taken.contains(f.key)) {
        if field.is_back()
            && let Some(link) = fields::link_module(field, r.texts)
        {
            links.push(link);
        } else if let Some(module) = fields::text_module(field, r.texts) {
            texts.push(module);
        }
    }
    links.extend(fields::top_level_links(r.pass));
    if !texts.is_empty() {
        o.insert("textModulesData".into(), Value::Array(texts));
    }
    if !links.is_empty() {
        o.insert("linksModuleData".into(), json!({ "uris": links }));
    }
}

/// Top-level keys Google Wallet has no equivalent for, and why.
const NOT_MAPPED: &[(&str, &str)] = &[
    (
        "foregroundColor",
        "Google Wallet picks text colours to suit the background colour",
    ),
    (
        "labelColor",
        "Google Wallet picks text colours to suit the background colour",
    ),
    ("footerBackgroundColor", "Google Wallet has no footer"),
    ("locations", "Google Wallet does not bring passes up by location"),
    (
        "maxDistance",
        "Google Wallet does not bring passes up by location",
    ),
    ("beacons", "Google Wallet does not bring passes up near beacons"),
    ("relevantDates", "Google Wallet does not bring passes up by date"),
    (
        "nfc",
        "NFC passes need Google's Smart Tap onboarding, which passmint does not do",
    ),
    (
        "associatedStoreIdentifiers",
        "App Store apps have no Google Wallet equivalent",
    ),
    (
        "auxiliaryStoreIdentifiers",
        "App Store apps have no Google Wallet equivalent",
    ),
    ("appLaunchURL", "App Store apps have no Google Wallet equivalent"),
    (
        "sharingProhibited",
        "Google Wallet has no per-pass sharing switch",
    ),
    (
        "groupingIdentifier",
        "Google Wallet groups passes by its own rules",
    ),
    (
        "upcomingPassInformation",
        "Google Wallet has no upcoming-event list",
    ),
    (
        "preferredStyleSchemes",
        "Google Wallet lays passes out its own way",
    ),
    ("useAutomaticColors", "Google Wallet lays passes out its own way"),
    (
        "suppressHeaderDarkening",
        "Google Wallet lays passes out its own way",
    ),
    ("suppressStripShine", "Google Wallet lays passes out its own way"),
    ("eventLogoText", "Google Wallet lays passes out its own way"),
];

/// Warnings about the template as a whole: keys with no Google equivalent, barcode formats Google
/// can't show, colours it can't read.
pub(crate) fn template_warnings(kind: PassKind, pass: &Map<String, Value>, warnings: &mut Vec<Problem>) {
    let mut say = |key: &str, why: &str| {
        warnings.push(Problem::new(
            format!("pass.json: {key}"),
            format!("not mapped to Google Wallet: {why}"),
        ));
    };
    for (key, why) in NOT_MAPPED {
        if pass.contains_key(*key) {
            say(key, why);
        }
    }
    if pass.contains_key("relevantDate")
        && !matches!(kind, PassKind::EventTicket | PassKind::Flight | PassKind::Transit)
    {
        say("relevantDate", "Google Wallet does not bring passes up by date");
    }
    if let Some(color) = pass.get("backgroundColor").and_then(Value::as_str)
        && !is_templated(color)
        && hex_color(color).is_none()
    {
        say(
            "backgroundColor",
            "Google Wallet reads rgb(r, g, b) and #rrggbb colours only",
        );
    }
    let barcodes: Vec<(String, &Map<String, Value>)> = pass
        .get("barcodes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, b)| Some((format!("barcodes[{i}]"), b.as_object()?)))
        .chain(
            pass.get("barcode")
                .and_then(Value::as_object)
                .map(|b| ("barcode".to_owned(), b)),
        )
        .collect();
    if !barcodes.is_empty()
        && !barcodes.iter().any(|(_, b)| {
            b.get("format")
                .and_then(Value::as_str)
                .and_then(google_barcode_type)
                .is_some()
        })
    {
        say(
            &barcodes[0].0,
            "no barcode in a format Google Wallet shows (QR, PDF417, Aztec, Code 128)",
        );
    }
    let fields = fields::collect(pass, kind.apple_style());
    if let Some(field) = fields.iter().find(|f| f.map.contains_key("changeMessage")) {
        warnings.push(Problem::new(
            format!("pass.json: {}.changeMessage", field.path),
            "not mapped to Google Wallet: Google tells holders about changes in its own words",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flight_codes_split_into_carrier_and_number() {
        assert_eq!(split_flight_code("UA 123"), Some(("UA".into(), "123".into())));
        assert_eq!(split_flight_code("lh0400"), Some(("LH".into(), "400".into())));
        assert_eq!(split_flight_code("U2 8001"), Some(("U2".into(), "8001".into())));
        assert_eq!(split_flight_code("123"), None);
        assert_eq!(split_flight_code("UA12345"), None);
    }

    #[test]
    fn balances_are_money_with_a_currency_else_int_or_double() {
        let n = |v: Value| v.as_number().unwrap().clone();
        assert_eq!(
            balance(&n(json!(21.75)), Some("USD")),
            json!({"money": {"micros": "21750000", "currencyCode": "USD"}})
        );
        assert_eq!(balance(&n(json!(120)), None), json!({"int": 120}));
        assert_eq!(balance(&n(json!(1.5)), None), json!({"double": 1.5}));
        assert_eq!(
            balance(&n(json!(9_000_000_000_i64)), None),
            json!({"string": "9000000000"})
        );
    }
}
