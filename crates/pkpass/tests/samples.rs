//! Real templates made elsewhere (Apple's samples, passkit-generator's), in tests/data/samples.
mod common;

use std::path::{Path, PathBuf};

use common::*;
use pkpass::{PassIdentity, PreparedTemplate, RenderInput, Template, TemplateError};
use serde_json::{Value, json};

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/samples")
        .join(name)
}

/// Signs `template` with a fresh chain and checks the result with `openssl cms -verify`.
fn signs_into_a_verifying_pass(template: Template) -> Value {
    let chain = chain();
    let payload = json!({});
    let input = RenderInput {
        payload: &payload,
        overrides: &Value::Null,
        identity: PassIdentity {
            pass_type_identifier: "pass.com.example.test",
            team_identifier: "TEAM123456",
            serial_number: "sample-1",
            web_service: Some((
                "https://passes.example.com/passkit",
                "0123456789abcdef0123456789abcdef",
            )),
        },
    };
    let pass = PreparedTemplate::new(template)
        .issue(&input, &identity(&chain))
        .unwrap();
    let files = verify_pass(&pass.bytes, &chain.root_pem);
    serde_json::from_slice(&files["pass.json"]).unwrap()
}

#[test]
fn apples_event_ticket_lints_clean_and_signs() {
    let template = Template::from_dir(&sample("apple-event.pass"), &limits()).unwrap();
    assert!(template.files().contains_key("background@2x.png"));
    let pass = signs_into_a_verifying_pass(template);
    assert_eq!(pass["relevantDate"], "2011-12-08T13:00-04:00");
}

#[test]
fn apples_signed_store_card_used_as_a_template_drops_its_old_manifest_and_signature() {
    let bytes = std::fs::read(sample("apple-storecard.pkpass")).unwrap();
    let template = Template::from_zip(&bytes, &limits()).unwrap();
    assert!(!template.files().contains_key("manifest.json"));
    assert!(!template.files().contains_key("signature"));
    assert!(template.files().contains_key("strip@2x.png"));
    // The legacy `barcode` key without `barcodes` is worth a warning.
    assert!(
        template
            .warnings()
            .iter()
            .any(|w| w.location == "pass.json: barcode")
    );
    let pass = signs_into_a_verifying_pass(template);
    assert_eq!(pass["serialNumber"], "sample-1");
    assert_eq!(pass["webServiceURL"], "https://passes.example.com/passkit");
}

#[test]
fn passkit_generators_localized_event_lints_with_an_app_launch_url_warning_and_signs() {
    let template = Template::from_dir(&sample("pkgen-event-localized.pass"), &limits()).unwrap();
    assert!(template.files().contains_key("de.lproj/icon@2x.png"));
    assert!(
        template
            .warnings()
            .iter()
            .any(|w| w.location == "pass.json: appLaunchURL"
                && w.message.contains("associatedStoreIdentifiers")),
        "{:#?}",
        template.warnings()
    );
    signs_into_a_verifying_pass(template);
}

#[test]
fn passkit_generators_booking_is_refused_for_its_missing_transit_type() {
    match Template::from_dir(&sample("pkgen-booking.pass"), &limits()) {
        Err(TemplateError::Invalid { findings }) => {
            assert!(
                findings
                    .errors
                    .iter()
                    .any(|e| e.location == "pass.json: boardingPass.transitType"
                        && e.message.contains("required")),
                "{:#?}",
                findings.errors
            );
        }
        other => panic!("expected the booking pass to be refused, got {other:?}"),
    }
}
