//! For each pass style, the class and object passmint writes: compared with the files in
//! `tests/data/expected/` (read them to see what Google gets), checked against Google's discovery
//! document, and the mapping rules that matter spelled out.
//!
//! After an intended change, `GWALLET_BLESS=1 cargo test -p gwallet --test mapping` rewrites the
//! expected files; review the diff.

mod common;

use std::path::Path;

use common::{Fixture, assert_fits, payload};
use gwallet::{GoogleTemplate, Localizations, PassKind, TemplateInput};
use serde_json::{Value, json};

/// The style fixtures: (name in tests/data/expected, template).
const STYLES: [(&str, &str); 6] = [
    ("event-ticket", "event"),
    ("flight", "flight"),
    ("transit", "train"),
    ("loyalty", "examples/storecard.pass"),
    ("offer", "coupon"),
    ("generic", "generic"),
];

fn expected_path(name: &str, part: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/expected/{name}.{part}.json"))
}

fn compare(name: &str, part: &str, got: &Value) {
    let path = expected_path(name, part);
    let pretty = serde_json::to_string_pretty(got).unwrap() + "\n";
    if std::env::var_os("GWALLET_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &pretty).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let expected: Value = serde_json::from_str(&expected).unwrap();
    assert_eq!(
        got,
        &expected,
        "{name}.{part} differs from {}; got:\n{pretty}",
        path.display()
    );
}

#[test]
fn each_style_writes_the_expected_class_and_object_and_both_fit_googles_schemas() {
    for (name, template) in STYLES {
        let fixture = Fixture::load(template);
        let kind = fixture.google.kind();
        let object = fixture.object(&payload(template), false);
        assert_fits(kind.class_schema(), fixture.google.class_json());
        assert_fits(kind.object_schema(), &object.json);
        compare(name, "class", fixture.google.class_json());
        compare(name, "object", &object.json);
        assert!(object.warnings.is_empty(), "{name}: {:?}", object.warnings);
    }
}

#[test]
fn each_style_becomes_the_google_type_of_the_spec_table() {
    let kinds: Vec<PassKind> = STYLES
        .iter()
        .map(|(_, t)| Fixture::load(t).google.kind())
        .collect();
    assert_eq!(
        kinds,
        [
            PassKind::EventTicket,
            PassKind::Flight,
            PassKind::Transit,
            PassKind::Loyalty,
            PassKind::Offer,
            PassKind::Generic
        ]
    );
}

#[test]
fn ids_are_the_issuer_and_the_template_or_pass_id_without_dashes() {
    let fixture = Fixture::load("event");
    assert_eq!(
        fixture.google.class_id(),
        "3388000000012345678.0190f3a27c1d7e2f8a9b0c1d2e3f4a5b"
    );
    let object = fixture.object(&payload("event"), false);
    assert_eq!(object.id, "3388000000012345678.0190f3a200007000800000000000002a");
    assert_eq!(object.json["id"], object.id.as_str());
    assert_eq!(object.json["classId"], fixture.google.class_id());
}

#[test]
fn a_voided_pass_is_an_inactive_object_of_every_type() {
    for (name, template) in STYLES {
        let fixture = Fixture::load(template);
        let active = fixture.object(&payload(template), false);
        let voided = fixture.object(&payload(template), true);
        assert_eq!(active.json["state"], "ACTIVE", "{name}");
        assert_eq!(voided.json["state"], "INACTIVE", "{name}");
        assert_fits(fixture.google.kind().object_schema(), &voided.json);
    }
}

#[test]
fn barcodes_of_each_apple_format_become_googles_barcode() {
    let cases = [
        ("event", "QR_CODE"),
        ("flight", "PDF_417"),
        ("train", "AZTEC"),
        ("coupon", "CODE_128"),
    ];
    for (template, google) in cases {
        let fixture = Fixture::load(template);
        let object = fixture.object(&payload(template), false);
        assert_eq!(object.json["barcode"]["type"], google, "{template}");
    }
    let event = Fixture::load("event").object(&payload("event"), false);
    assert_eq!(
        event.json["barcode"],
        json!({"type": "QR_CODE", "value": "TKT-0001", "alternateText": "TKT-0001"})
    );
}

#[test]
fn the_legacy_barcode_key_of_apples_own_store_card_is_read() {
    let fixture = Fixture::from_zip("crates/pkpass/tests/data/samples/apple-storecard.pkpass");
    let object = fixture.object(&json!({}), false);
    assert_eq!(object.json["barcode"]["type"], "PDF_417");
    assert_fits("LoyaltyClass", fixture.google.class_json());
    assert_fits("LoyaltyObject", &object.json);
}

#[test]
fn colours_expiry_and_images_map_to_hex_valid_time_interval_and_asset_urls() {
    let event = Fixture::load("event");
    let class = event.google.class_json();
    assert_eq!(class["hexBackgroundColor"], "#141e30"); // rgb(20, 30, 48)
    let base = "https://passes.example.com/assets/0190f3a2-7c1d-7e2f-8a9b-0c1d2e3f4a5b/3";
    assert_eq!(class["logo"]["sourceUri"]["uri"], format!("{base}/logo@2x.png"));
    assert_eq!(
        class["heroImage"]["sourceUri"]["uri"],
        format!("{base}/strip@2x.png")
    );
    let object = event.object(&payload("event"), false);
    assert_eq!(
        object.json["validTimeInterval"],
        json!({"end": {"date": "2026-07-02T04:00:00+02:00"}})
    );

    let train = Fixture::load("train"); // "#8B0000"
    assert_eq!(train.google.class_json()["hexBackgroundColor"], "#8b0000");
    // A flight template without a logo: Google gets the icon as the airline's logo.
    let flight = Fixture::load("flight");
    assert_eq!(
        flight.google.class_json()["flightHeader"]["carrier"]["airlineLogo"]["sourceUri"]["uri"],
        format!("{base}/icon@2x.png")
    );
}

#[test]
fn pass_strings_become_translated_values_and_the_default_language_table_the_default() {
    let event = Fixture::load("event");
    let class = event.google.class_json();
    assert_eq!(
        class["eventName"],
        json!({"defaultValue": {"language": "en", "value": "Summer Night Live"},
               "translatedValues": [{"language": "de", "value": "Sommernacht Live"}]})
    );
    let object = event.object(&payload("event"), false);
    let terms = object.json["textModulesData"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "terms")
        .unwrap();
    assert_eq!(
        terms["localizedBody"]["translatedValues"][0],
        json!({"language": "de", "value": "Kein Wiedereinlass."})
    );
    // en.lproj translates the storecard's labels: the default value is the English text.
    let card = Fixture::load("examples/storecard.pass");
    let points = card.object(&payload("examples/storecard.pass"), false).json["loyaltyPoints"].clone();
    assert_eq!(points["label"], "Points");
    assert_eq!(
        points["localizedLabel"]["translatedValues"],
        json!([{"language": "de", "value": "Punkte"}])
    );
}

#[test]
fn back_fields_become_text_modules_and_their_links_link_modules() {
    let object = Fixture::load("event").object(&payload("event"), false);
    let links: Vec<(&str, &str)> = object.json["linksModuleData"]["uris"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["uri"].as_str().unwrap(), u["description"].as_str().unwrap()))
        .collect();
    assert_eq!(
        links,
        [
            ("https://arena.example.com", "WEBSITE"),
            ("tel:+15550100100", "BOX OFFICE"),
            ("mailto:help@arena.example.com", "HELP"),
            ("https://arena.example.com/map", "MAP"),
            ("https://arena.example.com/bags", "Bag policy"),
        ]
    );
    let texts: Vec<&str> = object.json["textModulesData"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["date", "terms"]);
}

#[test]
fn fields_go_to_the_types_own_fields_where_google_has_them() {
    let event = Fixture::load("event").object(&payload("event"), false).json;
    assert_eq!(event["seatInfo"]["section"]["defaultValue"]["value"], "A");
    assert_eq!(event["seatInfo"]["row"]["defaultValue"]["value"], "12");
    assert_eq!(event["seatInfo"]["seat"]["defaultValue"]["value"], "7");
    assert_eq!(event["seatInfo"]["gate"]["defaultValue"]["value"], "B");
    assert_eq!(event["ticketHolderName"], "Ada Lovelace");

    let flight_class = Fixture::load("flight").google.class_json().clone();
    assert_eq!(flight_class["flightHeader"]["carrier"]["carrierIataCode"], "EX");
    assert_eq!(flight_class["flightHeader"]["flightNumber"], "123");
    assert_eq!(flight_class["origin"]["airportIataCode"], "SFO");
    assert_eq!(flight_class["destination"]["airportIataCode"], "LHR");
    // Google wants the airport's local time, without an offset.
    assert_eq!(
        flight_class["localScheduledDepartureDateTime"],
        "2026-05-01T09:30:00"
    );
    let flight = Fixture::load("flight").object(&payload("flight"), false).json;
    assert_eq!(flight["passengerName"], "Ada Lovelace");
    assert_eq!(flight["reservationInfo"]["confirmationCode"], "ABC123");
    assert_eq!(
        flight["boardingAndSeatingInfo"],
        json!({"seatNumber": "12A", "seatClass": "Economy", "boardingGroup": "3"})
    );

    let train = Fixture::load("train");
    assert_eq!(train.google.class_json()["transitType"], "RAIL");
    let leg = train.object(&payload("train"), false).json["ticketLeg"].clone();
    assert_eq!(leg["originName"]["defaultValue"]["value"], "Berlin Hbf");
    assert_eq!(leg["destinationName"]["defaultValue"]["value"], "München Hbf");
    assert_eq!(leg["departureDateTime"], "2026-06-01T08:04:00+02:00");
    assert_eq!(leg["platform"], "7");

    let card = Fixture::load("examples/storecard.pass")
        .object(&payload("examples/storecard.pass"), false)
        .json;
    assert_eq!(card["loyaltyPoints"]["balance"], json!({"int": 120}));
    assert_eq!(
        card["secondaryLoyaltyPoints"]["balance"],
        json!({"money": {"micros": "21750000", "currencyCode": "USD"}})
    );

    let offer = Fixture::load("coupon").google.class_json().clone();
    assert_eq!(offer["title"], "25% off");
    assert_eq!(offer["provider"], "Example Shop");

    let generic = Fixture::load("generic").object(&payload("generic"), false).json;
    assert_eq!(generic["cardTitle"]["defaultValue"]["value"], "Example Gym");
    assert_eq!(generic["header"]["defaultValue"]["value"], "Ada Lovelace");
    assert_eq!(generic["subheader"]["defaultValue"]["value"], "MEMBER");
}

#[test]
fn what_cannot_be_mapped_is_a_warning_naming_where_it_is() {
    let warnings = Fixture::load("event").warning_messages();
    assert_eq!(
        warnings,
        [
            "pass.json: foregroundColor: not mapped to Google Wallet: Google Wallet picks text colours to suit the background colour",
            "pass.json: locations: not mapped to Google Wallet: Google Wallet does not bring passes up by location",
            "pass.json: eventTicket.auxiliaryFields[1].changeMessage: not mapped to Google Wallet: Google tells holders about changes in its own words",
        ]
    );
    let generic = Fixture::load("generic").warning_messages();
    assert!(
        generic.contains(
            &"thumbnail.png: Google Wallet has no place for a thumbnail image on a generic pass; it is not shown".to_owned()
        ),
        "{generic:#?}"
    );
    let localized_images =
        Fixture::load("crates/pkpass/tests/data/samples/pkgen-event-localized.pass").warning_messages();
    assert!(
        localized_images
            .iter()
            .any(|w| w.contains("localised images are not used")),
        "{localized_images:#?}"
    );
}

fn map(pass_json: &Value, names: &[&str], loc: &Localizations) -> GoogleTemplate {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    GoogleTemplate::new(&TemplateInput {
        issuer_id: common::ISSUER,
        template_id: common::TEMPLATE_ID,
        revision: 1,
        pass_json,
        localizations: loc,
        file_names: &names,
        public_url: "https://passes.example.com/",
        default_language: "en",
    })
}

#[test]
fn a_flight_whose_airports_are_placeholders_warns_that_google_needs_them_on_the_class() {
    let template = json!({
        "formatVersion": 1, "organizationName": "Example Air", "description": "Boarding pass",
        "boardingPass": {
            "transitType": "PKTransitTypeAir",
            "headerFields": [{"key": "flight", "label": "FLIGHT", "value": "{{ flight }}"}],
            "primaryFields": [
                {"key": "origin", "label": "FROM", "value": "{{ from }}"},
                {"key": "destination", "label": "TO", "value": "{{ to }}"}
            ]
        }
    });
    let google = map(&template, &["icon.png"], &Localizations::new());
    let warning = google
        .warnings()
        .iter()
        .find(|w| w.location == "pass.json: boardingPass")
        .unwrap();
    for needed in [
        "airline's IATA code",
        "flight number",
        "origin airport",
        "destination airport",
        "scheduled departure",
    ] {
        assert!(warning.message.contains(needed), "{needed}: {}", warning.message);
    }
    // The templated values still reach each pass, as text.
    let pass = json!({
        "formatVersion": 1, "organizationName": "Example Air", "description": "Boarding pass",
        "boardingPass": {
            "transitType": "PKTransitTypeAir",
            "headerFields": [{"key": "flight", "label": "FLIGHT", "value": "EX 9"}],
            "primaryFields": [
                {"key": "origin", "label": "FROM", "value": "SFO"},
                {"key": "destination", "label": "TO", "value": "LHR"}
            ]
        }
    });
    let object = google.object(common::PASS_ID, &pass);
    let bodies: Vec<&str> = object.json["textModulesData"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["EX 9", "SFO", "LHR"]);
}

#[test]
fn a_template_without_a_google_barcode_format_or_with_a_bad_colour_is_warned_about() {
    let template = json!({
        "formatVersion": 1, "organizationName": "O", "description": "D",
        "backgroundColor": "blue",
        "barcodes": [{"format": "PKBarcodeFormatEAN13", "message": "1", "messageEncoding": "iso-8859-1"}],
        "generic": {}
    });
    let google = map(&template, &["icon.png"], &Localizations::new());
    let text: Vec<String> = google.warnings().iter().map(ToString::to_string).collect();
    assert!(
        text.iter().any(|w| w.starts_with("pass.json: barcodes[0]: ")),
        "{text:#?}"
    );
    assert!(
        text.iter().any(|w| w.starts_with("pass.json: backgroundColor: ")),
        "{text:#?}"
    );
    let object = google.object(common::PASS_ID, &template);
    assert!(object.json.get("barcode").is_none());
    assert!(object.json.get("hexBackgroundColor").is_none());
}

#[test]
fn translations_holding_placeholders_are_not_sent_and_are_warned_about() {
    let mut loc = Localizations::new();
    loc.insert("de", "Welcome", "Willkommen {{ name }}");
    loc.insert("fr", "Welcome", "Bienvenue");
    let template = json!({
        "formatVersion": 1, "organizationName": "O", "description": "D",
        "generic": {"primaryFields": [{"key": "w", "value": "Welcome"}]}
    });
    let google = map(&template, &["icon.png"], &loc);
    assert!(
        google
            .warnings()
            .iter()
            .any(|w| w.location == "de.lproj/pass.strings: Welcome")
    );
    let object = google.object(common::PASS_ID, &template);
    assert_eq!(
        object.json["header"]["translatedValues"],
        json!([{"language": "fr", "value": "Bienvenue"}])
    );
}

#[test]
fn more_fields_than_google_shows_are_warned_about_once_per_template() {
    let fields: Vec<Value> = (0..12)
        .map(|i| json!({"key": format!("f{i}"), "label": "L", "value": "v"}))
        .collect();
    let template = json!({
        "formatVersion": 1, "organizationName": "O", "description": "D",
        "coupon": {"backFields": fields}
    });
    let google = map(&template, &["icon.png"], &Localizations::new());
    assert!(
        google
            .warnings()
            .iter()
            .any(|w| w.message.contains("at most 10 text modules")),
        "{:?}",
        google.warnings()
    );
    assert!(google.object(common::PASS_ID, &template).warnings.is_empty());
}

#[test]
fn apple_semantics_are_read_before_field_keys() {
    let template = json!({
        "formatVersion": 1, "organizationName": "Example Air", "description": "Boarding pass",
        "semantics": {
            "airlineCode": "EX", "flightNumber": 42,
            "departureAirportCode": "TXL", "arrivalAirportCode": "MUC",
            "originalDepartureDate": "2026-05-01T07:15:00+02:00",
            "originalBoardingDate": "2026-05-01T06:45:00+02:00",
            "passengerName": {"givenName": "Ada", "familyName": "Lovelace"},
            "confirmationNumber": "XYZ789",
            "seats": [{"seatNumber": "1A"}]
        },
        "boardingPass": {"transitType": "PKTransitTypeAir"}
    });
    let google = map(&template, &["icon.png", "logo.png"], &Localizations::new());
    let class = google.class_json();
    assert_eq!(class["origin"]["airportIataCode"], "TXL");
    assert_eq!(class["destination"]["airportIataCode"], "MUC");
    assert_eq!(class["flightHeader"]["flightNumber"], "42");
    assert_eq!(class["localScheduledDepartureDateTime"], "2026-05-01T07:15:00");
    assert_eq!(class["localBoardingDateTime"], "2026-05-01T06:45:00");
    assert!(google.warnings().is_empty(), "{:?}", google.warnings());
    let object = google.object(common::PASS_ID, &template);
    assert_eq!(object.json["passengerName"], "Ada Lovelace");
    assert_eq!(object.json["reservationInfo"]["confirmationCode"], "XYZ789");
    assert_eq!(object.json["boardingAndSeatingInfo"]["seatNumber"], "1A");
    assert_fits("FlightClass", class);
    assert_fits("FlightObject", &object.json);
}
