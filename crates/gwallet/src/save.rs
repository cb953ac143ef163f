//! The "Save to Google Wallet" link: `<save URL>/<JWT>`.

use serde_json::{Map, Value, json};

use crate::{Error, PassKind, ServiceAccount};

/// Google's save URL (`PASSMINT_GOOGLE_SAVE_URL` overrides it).
pub const DEFAULT_SAVE_URL: &str = "https://pay.google.com/gp/v/save";

/// An object to put in a save link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectRef<'a> {
    /// Its pass type.
    pub kind: PassKind,
    /// The object id.
    pub id: &'a str,
    /// Its class id.
    pub class_id: &'a str,
}

/// The claims of a save JWT (SPEC §13): `iss` the service account, `aud` `google`, `typ`
/// `savetowallet`, `iat`, the `origins` allowed to show the button, and a payload naming each
/// object by id and class id (the objects themselves are written through the REST API first, so
/// the link stays short).
#[must_use]
pub fn save_claims(client_email: &str, origins: &[&str], objects: &[ObjectRef<'_>], issued_at: u64) -> Value {
    let mut payload = Map::new();
    for object in objects {
        let list = payload
            .entry(object.kind.jwt_objects_key())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = list {
            list.push(json!({ "id": object.id, "classId": object.class_id }));
        }
    }
    json!({
        "iss": client_email,
        "aud": "google",
        "typ": "savetowallet",
        "iat": issued_at,
        "origins": origins,
        "payload": payload,
    })
}

/// A save JWT signed RS256 with the service account's key.
///
/// `issued_at` is in seconds since the Unix epoch; pass a fixed time (the pass's last change, say)
/// to give the same pass the same link each time it is shown.
///
/// # Errors
/// [`Error::Signing`] if signing fails.
pub fn save_jwt(
    account: &ServiceAccount,
    origins: &[&str],
    objects: &[ObjectRef<'_>],
    issued_at: u64,
) -> Result<String, Error> {
    account.sign_jwt(&save_claims(account.client_email(), origins, objects, issued_at))
}

/// `<save URL>/<JWT>`.
#[must_use]
pub fn save_url(save_base: &str, jwt: &str) -> String {
    format!("{}/{jwt}", save_base.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_listed_under_their_types_payload_key() {
        let claims = save_claims(
            "sa@p.iam.gserviceaccount.com",
            &["https://passes.example.com"],
            &[
                ObjectRef {
                    kind: PassKind::EventTicket,
                    id: "1.a",
                    class_id: "1.c",
                },
                ObjectRef {
                    kind: PassKind::Loyalty,
                    id: "1.b",
                    class_id: "1.d",
                },
            ],
            1_700_000_000,
        );
        assert_eq!(
            claims,
            json!({
                "iss": "sa@p.iam.gserviceaccount.com",
                "aud": "google",
                "typ": "savetowallet",
                "iat": 1_700_000_000,
                "origins": ["https://passes.example.com"],
                "payload": {
                    "eventTicketObjects": [{"id": "1.a", "classId": "1.c"}],
                    "loyaltyObjects": [{"id": "1.b", "classId": "1.d"}],
                }
            })
        );
        assert_eq!(
            save_url("https://pay.google.com/gp/v/save/", "a.b.c"),
            "https://pay.google.com/gp/v/save/a.b.c"
        );
    }
}
