//! A sample pass of every style and every iOS 18/26/27 feature lints clean, issues and verifies;
//! every key in the key table is known; undocumented keys, keys newer than the rest of the pass
//! and keys read only on other layouts are warned about.
mod common;

use std::collections::BTreeMap;

use common::*;
use pkpass::keys::{self, Kind};
use pkpass::{PassIdentity, PreparedTemplate, Problem, RenderInput, Template, TemplateError};
use serde_json::{Value, json};

fn fields(label: &str) -> Value {
    json!({
        "headerFields": [{"key": "h", "label": "WHEN", "value": "8 May"}],
        "primaryFields": [{"key": "p", "label": label, "value": "Main"}],
        "secondaryFields": [{"key": "s", "label": "NAME", "value": "{{ name }}"}],
        "auxiliaryFields": [{"key": "a", "label": "ROW", "value": "12", "row": 0}],
        "backFields": [{"key": "b", "label": "TERMS", "value": "None"}]
    })
}

fn base(style: &str, body: Value) -> Value {
    json!({
        "formatVersion": 1,
        "organizationName": "Example",
        "description": format!("A {style}"),
        "backgroundColor": "rgb(20, 30, 40)",
        "foregroundColor": "rgb(255, 255, 255)",
        "barcodes": [{"format": "PKBarcodeFormatQR", "message": "{{ code }}", "messageEncoding": "iso-8859-1"}],
        style: body
    })
}

fn merge(mut pass: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().unwrap() {
        pass[k] = v.clone();
    }
    pass
}

fn poster_event() -> Value {
    merge(
        base("eventTicket", {
            let mut f = fields("EVENT");
            f["additionalInfoFields"] = json!([{"key": "x", "label": "INFO", "value": "Doors at 7"}]);
            f
        }),
        json!({
            "preferredStyleSchemes": ["posterEventTicket", "eventTicket"],
            "eventLogoText": "Live at the Park",
            "useAutomaticColors": true,
            "footerBackgroundColor": "rgb(10, 10, 10)",
            "suppressHeaderDarkening": true,
            "auxiliaryStoreIdentifiers": [123456789],
            "relevantDates": [{"startDate": "2026-05-08T18:00:00+02:00", "endDate": "2026-05-08T23:00:00+02:00"}],
            "bagPolicyURL": "https://example.com/bags",
            "parkingInformationURL": "https://example.com/parking",
            "transferURL": "https://example.com/transfer",
            "contactVenueEmail": "venue@example.com",
            "semantics": {
                "eventName": "Live at the Park",
                "eventStartDate": "2026-05-08T19:00:00+02:00",
                "venueName": "The Park",
                "venueLocation": {"latitude": 52.5, "longitude": 13.4},
                "admissionLevel": "General admission",
                "seats": [{"seatSection": "A", "seatRow": "12", "seatNumber": "7"}]
            }
        }),
    )
}

fn upcoming_events() -> Value {
    merge(
        poster_event(),
        json!({
            "upcomingPassInformation": [{
                "type": "event",
                "identifier": "night-2",
                "name": "Live at the Park, night 2",
                "isActive": true,
                "dateInformation": {"date": "2026-05-09T19:00:00+02:00", "timeZone": "Europe/Berlin"},
                "semantics": {"venueName": "The Park", "venuePlaceID": "I7C250D2CDCB364A"},
                "URLs": {"parkingInformationURL": "https://example.com/parking"},
                "images": {"venueMap": {"reuseExisting": true}},
                "additionalInfoFields": [{"key": "n2", "label": "NIGHT", "value": "2"}]
            }],
            // iOS 26 form of a relevant date.
            "relevantDates": [{"date": "2026-05-08T19:00:00+02:00"}]
        }),
    )
}

fn semantic_boarding_pass() -> Value {
    let mut f = fields("FROM");
    f["transitType"] = json!("PKTransitTypeAir");
    merge(
        base("boardingPass", f),
        json!({
            "preferredStyleSchemes": ["semanticBoardingPass", "boardingPass"],
            "groupingIdentifier": "trip-42",
            "upgradeURL": "https://example.com/upgrade",
            "entertainmentURL": "https://example.com/entertainment",
            "managementURL": "https://example.com/manage",
            "changeSeatURL": "https://example.com/seat",
            "purchaseWifiURL": "https://example.com/wifi",
            "transitProviderPhoneNumber": "+49 30 1234",
            "relevantDates": [{"date": "2026-05-08T06:00:00Z"}],
            "semantics": {
                "airlineCode": "EX",
                "flightNumber": 42,
                "departureAirportCode": "BER",
                "destinationAirportCode": "LIS",
                "departureCityName": "Berlin",
                "boardingZone": "2",
                "passengerName": {"givenName": "Ada", "familyName": "Lovelace"}
            }
        }),
    )
}

fn poster_generic_with_featured_actions() -> Value {
    let mut f = fields("MEMBER");
    f["footerFields"] = json!([{"key": "f", "value": "Stacey's Doggy Day Care"}]);
    merge(
        base("generic", fields("MEMBER")),
        json!({
            "posterGeneric": f,
            "featuredActions": [
                {"identifier": "benefits", "type": "membershipBenefits", "url": "https://example.com/benefits"},
                {"identifier": "visit", "type": "place", "placeIdentifier": "I7C250D2CDCB364A"}
            ],
            "barcodes": [
                {"format": "PKBarcodeFormatCodabar", "message": "A1234B", "messageEncoding": "iso-8859-1"},
                {"format": "PKBarcodeFormatCode128", "message": "A1234B", "messageEncoding": "iso-8859-1"}
            ]
        }),
    )
}

/// Every sample, with the images its layout shows.
fn samples() -> Vec<(&'static str, Value, Vec<&'static str>)> {
    let mut classic_boarding = fields("FROM");
    classic_boarding["transitType"] = json!("PKTransitTypeTrain");
    vec![
        (
            "boarding pass",
            base("boardingPass", classic_boarding),
            vec!["footer"],
        ),
        ("coupon", base("coupon", fields("OFFER")), vec!["strip"]),
        (
            "event ticket",
            base("eventTicket", fields("EVENT")),
            vec!["background", "thumbnail"],
        ),
        ("generic", base("generic", fields("MEMBER")), vec!["thumbnail"]),
        ("store card", base("storeCard", fields("POINTS")), vec!["strip"]),
        (
            "poster event ticket",
            poster_event(),
            vec![
                "artwork",
                "primaryLogo",
                "secondaryLogo",
                "background",
                "venueMap",
            ],
        ),
        ("upcoming events", upcoming_events(), vec!["artwork", "venueMap"]),
        ("semantic boarding pass", semantic_boarding_pass(), vec!["footer"]),
        (
            "poster generic with featured actions",
            poster_generic_with_featured_actions(),
            vec!["background", "primaryLogo"],
        ),
    ]
}

fn files_for(pass: &Value, images: &[&str]) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    files.insert("pass.json".to_owned(), serde_json::to_vec_pretty(pass).unwrap());
    files.insert("icon.png".to_owned(), png(29, 29));
    files.insert("logo.png".to_owned(), png(160, 50));
    for image in images {
        files.insert(format!("{image}.png"), png(10, 10));
        files.insert(format!("{image}@2x.png"), png(20, 20));
    }
    files
}

fn template_of(pass: &Value, images: &[&str]) -> Result<Template, TemplateError> {
    Template::from_zip(&zip_files(&files_for(pass, images)), &limits())
}

fn warnings_of(pass: &Value) -> Vec<Problem> {
    match template_of(pass, &[]) {
        Ok(t) => t.warnings().to_vec(),
        Err(TemplateError::Invalid { findings }) => panic!("refused: {:#?}", findings.errors),
        Err(e) => panic!("{e}"),
    }
}

fn assert_warns(warnings: &[Problem], location: &str, message: &str) {
    assert!(
        warnings
            .iter()
            .any(|w| w.location == format!("pass.json: {location}") && w.message.contains(message)),
        "no warning at {location} saying {message:?} in {warnings:#?}"
    );
}

#[test]
fn every_sample_lints_clean_issues_and_verifies() {
    let chain = chain();
    let identity = identity(&chain);
    for (name, pass, images) in samples() {
        let template = match template_of(&pass, &images) {
            Ok(t) => t,
            Err(TemplateError::Invalid { findings }) => panic!("{name} is refused: {findings:#?}"),
            Err(e) => panic!("{name}: {e}"),
        };
        assert!(
            template.warnings().is_empty(),
            "{name} warns: {:#?}",
            template.warnings()
        );
        let payload = json!({"name": "Ada", "code": "C-1"});
        let input = RenderInput {
            payload: &payload,
            overrides: &Value::Null,
            identity: PassIdentity {
                pass_type_identifier: "pass.com.example.test",
                team_identifier: "TEAM123456",
                serial_number: "feature-1",
                web_service: None,
            },
        };
        let issued = PreparedTemplate::new(template).issue(&input, &identity).unwrap();
        let files = verify_pass(&issued.bytes, &chain.root_pem);
        // And the signed pass lints clean as Wallet would check it.
        let signed = pkpass::verify::check(
            &issued.bytes.to_vec(),
            &pkpass::verify::Options {
                extra_roots: vec![openssl::x509::X509::from_pem(&chain.root_pem).unwrap()],
                ..Default::default()
            },
        );
        assert!(
            signed.errors.is_empty() && signed.warnings.is_empty(),
            "{name} signed: {signed:#?}"
        );
        let json: Value = serde_json::from_slice(&files["pass.json"]).unwrap();
        assert_eq!(json["description"], pass["description"], "{name}");
        for image in &images {
            assert!(files.contains_key(&format!("{image}@2x.png")), "{name}: {image}");
        }
    }
}

#[test]
fn a_semantic_boarding_pass_scheme_and_its_ios_26_urls_are_accepted_without_warnings() {
    // The issue's pass: refused for "semanticBoardingPass", warned about upgradeURL.
    let pass = semantic_boarding_pass();
    assert!(warnings_of(&pass).is_empty());
}

#[test]
fn every_documented_key_is_known() {
    let value_of = |kind: Kind| match kind {
        Kind::String | Kind::Any => json!("x"),
        Kind::Url => json!("https://example.com/x"),
        Kind::Integer => json!(1),
        Kind::Number => json!(1.5),
        Kind::Bool => json!(true),
        Kind::Array => json!([]),
        Kind::Object => json!({}),
        Kind::Date => json!("2026-05-08T19:00:00Z"),
        Kind::Color => json!("rgb(1, 2, 3)"),
    };
    let unknown = |warnings: &[Problem]| {
        warnings
            .iter()
            .filter(|w| w.message.contains("Wallet knows"))
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    };
    let mut pass = base("storeCard", fields("POINTS"));
    let mut tags = serde_json::Map::new();
    for tag in keys::SEMANTIC_TAGS {
        tags.insert(tag.name.to_owned(), value_of(tag.kind));
    }
    pass["semantics"] = Value::Object(tags);
    for key in keys::PASS_KEYS {
        if key.kind == Kind::Object
            && [
                "boardingPass",
                "coupon",
                "eventTicket",
                "generic",
                "posterGeneric",
            ]
            .contains(&key.name)
        {
            continue;
        }
        if [
            "semantics",
            "nfc",
            "barcode",
            "webServiceURL",
            "authenticationToken",
        ]
        .contains(&key.name)
        {
            continue;
        }
        pass[key.name] = value_of(key.kind);
    }
    let mut style = fields("POINTS");
    for key in keys::STYLE_KEYS.iter().filter(|k| k.kind == Kind::Array) {
        if style.get(key.name).is_none() {
            style[key.name] = json!([]);
        }
    }
    pass["storeCard"] = style;
    let warnings = warnings_of(&pass);
    assert_eq!(unknown(&warnings), Vec::<String>::new());
    // The same pass with an undocumented key at each level is warned about at each.
    pass["frobnicate"] = json!(1);
    pass["semantics"]["frobnicateTag"] = json!("x");
    pass["storeCard"]["frobnicateFields"] = json!([]);
    pass["storeCard"]["primaryFields"][0]["frobnicateKey"] = json!(1);
    let warnings = warnings_of(&pass);
    for location in [
        "frobnicate",
        "semantics.frobnicateTag",
        "storeCard.frobnicateFields",
        "storeCard.primaryFields[0].frobnicateKey",
    ] {
        assert_warns(&warnings, location, "Wallet knows");
    }
    // Every scheme, barcode format and image name is accepted.
    for scheme in keys::STYLE_SCHEMES {
        let mut p = base("eventTicket", fields("E"));
        p["preferredStyleSchemes"] = json!([scheme.name]);
        assert!(template_of(&p, &[]).is_ok(), "{}", scheme.name);
    }
    for format in keys::BARCODE_FORMATS {
        let mut p = base("storeCard", fields("P"));
        p["barcodes"] = json!([{"format": format.name, "message": "1", "messageEncoding": "iso-8859-1"}]);
        assert!(template_of(&p, &[]).is_ok(), "{}", format.name);
    }
    for image in keys::IMAGES {
        let t = template_of(&base("storeCard", fields("P")), &[image.name]).unwrap();
        assert!(
            !t.warnings().iter().any(|w| w.message.contains("not an image")),
            "{}: {:?}",
            image.name,
            t.warnings()
        );
    }
}

#[test]
fn poster_event_images_are_known_and_warned_about_only_on_other_layouts() {
    let t = template_of(&poster_event(), &["artwork", "venueMap", "primaryLogo"]).unwrap();
    assert!(t.warnings().is_empty(), "{:#?}", t.warnings());
    let t = template_of(&base("storeCard", fields("P")), &["artwork"]).unwrap();
    assert!(
        t.warnings()
            .iter()
            .any(|w| w.location == "artwork.png" && w.message.contains("posterEventTicket")),
        "{:#?}",
        t.warnings()
    );
}

#[test]
fn a_key_read_only_on_another_layout_is_a_warning_naming_that_layout() {
    // upgradeURL on a classic boarding pass, event guide URLs on a classic event ticket.
    let mut boarding = semantic_boarding_pass();
    boarding["preferredStyleSchemes"] = json!(["boardingPass"]);
    assert_warns(&warnings_of(&boarding), "upgradeURL", "semanticBoardingPass");
    let mut event = poster_event();
    event.as_object_mut().unwrap().remove("preferredStyleSchemes");
    assert_warns(&warnings_of(&event), "bagPolicyURL", "posterEventTicket");
    // A scheme of another style has no effect.
    let mut card = base("storeCard", fields("P"));
    card["preferredStyleSchemes"] = json!(["semanticBoardingPass"]);
    assert_warns(&warnings_of(&card), "preferredStyleSchemes[0]", "no effect");
    // A poster generic's footerFields in the generic dictionary do nothing there.
    let mut generic = base("generic", fields("M"));
    generic["generic"]["footerFields"] = json!([{"key": "f", "value": "x"}]);
    assert_warns(&warnings_of(&generic), "generic.footerFields", "posterGeneric");
}

#[test]
fn a_key_newer_than_the_rest_of_the_pass_is_a_warning_naming_both_releases() {
    let mut pass = base("storeCard", fields("P"));
    pass["featuredActions"] = json!([{"identifier": "a", "type": "shop", "url": "https://example.com/shop"}]);
    assert_warns(&warnings_of(&pass), "featuredActions", "needs iOS 27");
    let mut pass = base("storeCard", fields("P"));
    pass["relevantDates"] = json!([{"startDate": "2026-05-08T19:00:00Z", "endDate": "2026-05-08T21:00:00Z"}]);
    assert_warns(&warnings_of(&pass), "relevantDates", "iOS 16 to 17 ignore it");
    // A single date is the iOS 26 form.
    pass["relevantDates"] = json!([{"date": "2026-05-08T19:00:00Z"}]);
    assert_warns(&warnings_of(&pass), "relevantDates[0].date", "needs iOS 26");
    // Only iOS 27 barcode formats: older iPhones show no barcode at all.
    let mut pass = poster_generic_with_featured_actions();
    pass["barcodes"] = json!([{"format": "PKBarcodeFormatEAN13", "message": "4006381333931", "messageEncoding": "iso-8859-1"}]);
    assert_warns(&warnings_of(&pass), "barcodes", "earlier iPhones show no barcode");
}

#[test]
fn featured_actions_and_upcoming_events_are_checked_entry_by_entry() {
    let mut pass = poster_generic_with_featured_actions();
    pass["featuredActions"] = json!([
        {"identifier": "a", "type": "teleport", "url": "https://example.com"},
        {"identifier": "b", "type": "place"},
        {"identifier": "c", "type": "shop", "url": "https://example.com"}
    ]);
    match template_of(&pass, &[]) {
        Err(TemplateError::Invalid { findings }) => {
            let text = format!("{:?}", findings.errors);
            assert!(text.contains("featuredActions[0].type"), "{text}");
            assert!(text.contains("featuredActions[1].placeIdentifier"), "{text}");
            assert!(
                findings
                    .warnings
                    .iter()
                    .any(|w| w.location == "pass.json: featuredActions" && w.message.contains("first 2"))
            );
        }
        other => panic!("expected refusal, got {:?}", other.map(|t| t.warnings().to_vec())),
    }
    let mut pass = upcoming_events();
    pass["upcomingPassInformation"][0] = json!({"type": "concert", "name": "x", "dateInformation": {}});
    match template_of(&pass, &[]) {
        Err(TemplateError::Invalid { findings }) => {
            let text = format!("{:?}", findings.errors);
            for needle in [
                "upcomingPassInformation[0].identifier",
                "upcomingPassInformation[0].type",
                "upcomingPassInformation[0].dateInformation.date",
            ] {
                assert!(text.contains(needle), "{needle} in {text}");
            }
        }
        other => panic!("expected refusal, got {:?}", other.map(|t| t.warnings().to_vec())),
    }
}

#[test]
fn a_poster_generic_alone_is_accepted_with_a_warning_for_older_iphones() {
    let mut pass = poster_generic_with_featured_actions();
    pass.as_object_mut().unwrap().remove("generic");
    assert_warns(&warnings_of(&pass), "posterGeneric", "iOS 26 and earlier");
}
