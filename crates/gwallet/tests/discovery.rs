//! Everything passmint sends Google, walked through Google's own definitions: the walletobjects v1
//! discovery document (crates/gwallet-testserver/discovery/). An unknown field, a wrong type, a
//! value outside an enum, a deprecated field or value, or a missing required field fails here.

mod common;

use common::{Fixture, assert_fits, payload};
use gwallet::{ObjectRef, PassKind, save_claims};
use gwallet_testserver::discovery::{Check, Discovery};
use serde_json::json;

/// Every template the tests have: ours per style, the repository's example, and passes made
/// elsewhere (Apple's samples, passkit-generator's localised event).
const TEMPLATES: [&str; 8] = [
    "event",
    "flight",
    "train",
    "coupon",
    "generic",
    "examples/storecard.pass",
    "crates/pkpass/tests/data/samples/apple-event.pass",
    "crates/pkpass/tests/data/samples/pkgen-event-localized.pass",
];

#[test]
fn every_class_and_object_passmint_writes_fits_googles_discovery_document() {
    let mut checked = 0;
    for template in TEMPLATES {
        let fixture = Fixture::load(template);
        let kind = fixture.google.kind();
        assert_fits(kind.class_schema(), fixture.google.class_json());
        for voided in [false, true] {
            let object = fixture.object(&payload(template), voided);
            assert_fits(kind.object_schema(), &object.json);
            checked += 1;
        }
    }
    let apple = Fixture::from_zip("crates/pkpass/tests/data/samples/apple-storecard.pkpass");
    assert_fits("LoyaltyClass", apple.google.class_json());
    assert_fits("LoyaltyObject", &apple.object(&json!({}), false).json);
    assert_eq!(checked, 16);
}

#[test]
fn every_semantic_and_recognised_field_key_maps_to_fields_google_defines() {
    // One pass per type carrying every value the mapping reads, so every branch that writes a
    // Google field is walked.
    let fields = |keys: &[&str]| -> serde_json::Value {
        keys.iter()
            .map(|k| json!({"key": k, "label": k.to_uppercase(), "value": format!("{k}-value")}))
            .collect()
    };
    let semantics = json!({
        "eventName": "Gala", "venueName": "Hall", "eventStartDate": "2026-01-01T19:00:00Z",
        "eventEndDate": "2026-01-01T23:00:00Z", "seats": [{"seatNumber": "1", "seatRow": "2", "seatSection": "3"}],
        "confirmationNumber": "C1", "airlineCode": "EX", "flightNumber": 7, "departureAirportCode": "AMS",
        "arrivalAirportCode": "CDG", "departureTerminal": "1", "departureGate": "D4", "arrivalTerminal": "2E",
        "originalDepartureDate": "2026-01-02T07:00:00+01:00", "originalBoardingDate": "2026-01-02T06:30:00+01:00",
        "originalArrivalDate": "2026-01-02T08:15:00+01:00", "passengerName": {"givenName": "Ada", "familyName": "L"},
        "boardingGroup": "B", "boardingSequenceNumber": "42", "departureStationName": "Amsterdam Centraal",
        "destinationStationName": "Paris Nord", "departurePlatform": "5"
    });
    let every_key = fields(&[
        "address",
        "holder",
        "ticket",
        "order",
        "seatclass",
        "position",
        "eticket",
        "carriage",
        "coach",
        "name",
        "memberid",
        "terminal",
        "gate",
    ]);
    let styles = [
        ("eventTicket", json!({})),
        ("boardingPass", json!({"transitType": "PKTransitTypeAir"})),
        ("boardingPass", json!({"transitType": "PKTransitTypeBoat"})),
        ("storeCard", json!({})),
        ("coupon", json!({})),
        ("generic", json!({})),
    ];
    let mut kinds = Vec::new();
    for (style, extra) in styles {
        let mut body = extra.as_object().unwrap().clone();
        body.insert(
            "primaryFields".into(),
            json!([
                {"key": "p0", "label": "P0", "value": 12},
                {"key": "p1", "label": "P1", "value": 3.5, "currencyCode": "EUR"}
            ]),
        );
        body.insert("auxiliaryFields".into(), every_key.clone());
        body.insert(
            "backFields".into(),
            json!([
                {"key": "web", "label": "WEB", "value": "https://example.com"},
                {"key": "pct", "label": "PCT", "value": 0.5, "numberStyle": "PKNumberStylePercent"},
                {"key": "when", "label": "WHEN", "value": "2026-01-01T10:00Z", "dateStyle": "PKDateStyleLong"}
            ]),
        );
        let pass = json!({
            "formatVersion": 1, "organizationName": "Org", "description": "Desc", "logoText": "Logo text",
            "backgroundColor": "rgb(1, 2, 3)", "expirationDate": "2026-12-31T23:59:59Z",
            "relevantDate": "2026-01-01T18:00:00Z", "voided": true, "semantics": semantics,
            "barcodes": [{"format": "PKBarcodeFormatQR", "message": "m", "messageEncoding": "iso-8859-1", "altText": "alt"}],
            "transferURL": "https://example.com/transfer", "contactVenuePhoneNumber": "+1 555 0100",
            "contactVenueEmail": "venue@example.com",
            style: body,
        });
        let loc = {
            let mut loc = gwallet::Localizations::new();
            loc.insert("fr", "Org", "Org FR");
            loc.insert("fr", "P0", "P0 FR");
            loc.insert("fr", "WEB", "Toile");
            loc
        };
        let names: Vec<String> = ["icon.png", "logo.png", "strip@2x.png"]
            .map(String::from)
            .to_vec();
        let google = gwallet::GoogleTemplate::new(&gwallet::TemplateInput {
            issuer_id: common::ISSUER,
            template_id: common::TEMPLATE_ID,
            revision: 9,
            pass_json: &pass,
            localizations: &loc,
            file_names: &names,
            public_url: common::PUBLIC_URL,
            default_language: "en",
        });
        let kind = google.kind();
        assert_fits(kind.class_schema(), google.class_json());
        assert_fits(kind.object_schema(), &google.object(common::PASS_ID, &pass).json);
        kinds.push(kind);
    }
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
fn the_save_jwt_payload_fits_googles_resources_schema() {
    let objects: Vec<(PassKind, String)> = PassKind::ALL
        .iter()
        .map(|k| (*k, format!("{}.{}", common::ISSUER, k.stem())))
        .collect();
    let refs: Vec<ObjectRef<'_>> = objects
        .iter()
        .map(|(kind, id)| ObjectRef {
            kind: *kind,
            id,
            class_id: id,
        })
        .collect();
    let claims = save_claims(
        "sa@example.iam.gserviceaccount.com",
        &[common::PUBLIC_URL],
        &refs,
        1_700_000_000,
    );
    // The payload lists objects by reference only; Google's object schemas mark their other
    // required fields, which a reference leaves out, so only names and types are checked here.
    let findings = Discovery::bundled().validate("Resources", &claims["payload"], Check::Partial);
    assert!(findings.is_empty(), "{findings:#?}");
    for kind in PassKind::ALL {
        assert!(claims["payload"].get(kind.jwt_objects_key()).is_some(), "{kind}");
    }
}

#[test]
fn the_check_itself_fails_on_an_unknown_field_and_a_wrong_type() {
    let fixture = Fixture::load("event");
    let mut object = fixture.object(&payload("event"), false).json;
    object["seatInfo"]["seat"]["defaultValue"]["value"] = json!(7);
    object["colour"] = json!("red");
    let findings = Discovery::bundled().validate("EventTicketObject", &object, Check::Full);
    let paths: Vec<&str> = findings.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        ["seatInfo.seat.defaultValue.value", "colour"],
        "{findings:#?}"
    );
}
