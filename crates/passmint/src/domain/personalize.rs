//! Rewards enrollment (SPEC 14): the holder's signup data goes into the pass's payload under
//! `personalization`, the pass becomes its personalized version (new tag, pushed to its
//! devices, `pass.personalized` queued in the same transaction), and Wallet's token comes back
//! signed with the pass certificate.
//!
//! No table of its own: the personalization *is* the payload's `personalization` member
//! (written by the same compare-and-set as any change), so a repeat is told apart by
//! comparing against it: the same data again is Wallet retrying (answered again, nothing
//! changes), other data is refused.
use serde_json::{Map, Value, json};

use super::Domain;
use super::error::DomainError;
use super::render::{self, PassContent};
use crate::store::{ChangeOutcome, PassChange};
use pkpass::personalization::{Field, INFO_KEYS, Request};

/// Where the holder's data lives in a pass's payload.
pub const PAYLOAD_KEY: &str = "personalization";
/// How often an enrollment that raced another write is retried.
const ATTEMPTS: usize = 8;
const CATEGORY: &str = "passkit";

/// Whether `payload` holds the holder's signup data.
pub fn is_personalized(payload: &Value) -> bool {
    payload.get(PAYLOAD_KEY).is_some_and(Value::is_object)
}

/// `payload` with every `personalization.*` member Apple documents present (blank unless the
/// holder gave it), so a personalizable template's `{{personalization.fullName}}` renders
/// before enrollment (blank) and after it (the holder's name) alike.
pub fn with_blank_holder(payload: &Value) -> Value {
    let mut payload = payload.clone();
    let Value::Object(map) = &mut payload else {
        return payload;
    };
    let holder = map
        .entry(PAYLOAD_KEY)
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(holder) = holder {
        for key in INFO_KEYS {
            holder.entry(key).or_insert_with(|| Value::String(String::new()));
        }
    }
    payload
}

/// An issuer's new `payload` for a pass whose payload was `old`: the holder's signup data is
/// kept when the new payload doesn't say otherwise (a payload change must not undo an
/// enrollment and send the holder the signup form again).
pub fn keep_holder(old: &Value, mut new: Value) -> Value {
    if let (Some(holder), Value::Object(map)) = (old.get(PAYLOAD_KEY), &mut new)
        && holder.is_object()
        && !map.contains_key(PAYLOAD_KEY)
    {
        map.insert(PAYLOAD_KEY.into(), holder.clone());
    }
    new
}

/// A personalization done (or done before with the same data).
#[derive(Debug, Clone)]
pub struct Personalized {
    /// DER PKCS#7 detached signature over the token, with the pass certificate.
    pub signed_token: Vec<u8>,
    /// The same data had already been stored (Wallet retrying): nothing changed.
    pub repeat: bool,
}

/// Why a personalization is refused (each its own status on the PassKit surface).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No such pass.
    UnknownPass,
    /// The pass's template has no `personalization.json`.
    NotPersonalizable,
    /// The holder's data doesn't answer these required fields.
    Unanswered(Vec<Field>),
    /// The personalized pass doesn't render with the holder's data.
    Unrenderable,
    /// The pass was personalized before, with other data.
    AlreadyPersonalized,
}

impl Refusal {
    /// A short reason, for the event (never what the request held).
    pub fn reason(&self) -> String {
        match self {
            Self::UnknownPass => "no such pass".into(),
            Self::NotPersonalizable => "the pass's template has no personalization.json".into(),
            Self::Unanswered(fields) => format!(
                "required fields not answered: {}",
                fields
                    .iter()
                    .map(|f| f.apple_name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Self::Unrenderable => "the personalized pass does not render with this data".into(),
            Self::AlreadyPersonalized => "the pass was personalized before, with other data".into(),
        }
    }
}

impl Domain {
    /// Personalizes pass (`pass_type`, `serial`) with `request` (SPEC 14) and signs its token.
    pub async fn personalize(
        &self,
        pass_type: &str,
        serial: &str,
        request: &Request,
        request_id: &str,
    ) -> Result<Result<Personalized, Refusal>, DomainError> {
        let outcome = self.personalize_once(pass_type, serial, request).await;
        let data = |extra: Value| {
            let mut data = json!({
                "passTypeIdentifier": pass_type,
                "serialNumber": serial,
            });
            if let (Some(d), Value::Object(extra)) = (data.as_object_mut(), extra) {
                d.extend(extra);
            }
            data
        };
        match &outcome {
            Ok(Ok((pass_id, done))) => {
                self.events
                    .record(
                        "PASSKIT_PASS_PERSONALIZE_SUCCESS",
                        CATEGORY,
                        request_id,
                        data(json!({
                            "passId": pass_id,
                            "fields": request.info.keys(),
                            "repeat": done.repeat,
                        })),
                    )
                    .await;
            }
            Ok(Err(refusal)) => {
                self.events
                    .record(
                        "PASSKIT_PASS_PERSONALIZE_FAIL",
                        CATEGORY,
                        request_id,
                        data(json!({ "reason": refusal.reason() })),
                    )
                    .await;
            }
            Err(_) => {}
        }
        outcome.map(|r| r.map(|(_, done)| done))
    }

    /// Records a personalize request refused before it reached a pass (its status and reason,
    /// never the request's content).
    pub async fn personalize_refused(&self, request_id: &str, data: Value) {
        self.events
            .record("PASSKIT_PASS_PERSONALIZE_FAIL", CATEGORY, request_id, data)
            .await;
    }

    async fn personalize_once(
        &self,
        pass_type: &str,
        serial: &str,
        request: &Request,
    ) -> Result<Result<(String, Personalized), Refusal>, DomainError> {
        let Some(head) = self.store.get_pass_head(pass_type, serial).await? else {
            return Ok(Err(Refusal::UnknownPass));
        };
        let holder = request.info.to_json();
        for _ in 0..ATTEMPTS {
            let Some(pass) = self.store.get_pass(&head.id).await? else {
                return Ok(Err(Refusal::UnknownPass));
            };
            // A pass always has its template (deleting one deletes its passes): gone means the
            // pass went with it.
            let Some(template) = self
                .signers
                .at_least(
                    &self.store,
                    &self.master_key,
                    &pass.template_id,
                    pass.template_revision,
                )
                .await?
            else {
                return Ok(Err(Refusal::UnknownPass));
            };
            let Some(enrollment) = &template.enrollment else {
                return Ok(Err(Refusal::NotPersonalizable));
            };
            let unanswered = request.info.unanswered(&enrollment.personalization.fields);
            if !unanswered.is_empty() {
                return Ok(Err(Refusal::Unanswered(unanswered)));
            }
            let mut content = PassContent::of(&pass)?;
            let repeat = match content.payload.get(PAYLOAD_KEY) {
                Some(stored) if stored.is_object() && *stored == holder => true,
                Some(stored) if stored.is_object() => return Ok(Err(Refusal::AlreadyPersonalized)),
                _ => false,
            };
            if !repeat {
                if let Value::Object(map) = &mut content.payload {
                    map.insert(PAYLOAD_KEY.into(), holder.clone());
                }
                let payload = content.payload.to_string();
                let (overrides, voided) = (pass.overrides.clone(), pass.voided);
                let fingerprint = match render::fingerprint(
                    template.clone(),
                    self.web_service_url.clone(),
                    content,
                )
                .await
                {
                    Ok(fp) => fp,
                    Err(DomainError::Invalid { .. }) => return Ok(Err(Refusal::Unrenderable)),
                    Err(other) => return Err(other),
                };
                let change = PassChange {
                    payload,
                    overrides,
                    voided,
                    fingerprint: fingerprint.to_vec(),
                    rendered_revision: template.revision,
                    // Always an update: the personalized pass leaves out the signup form, so
                    // Wallet must fetch it even when nothing visible changed.
                    is_update: true,
                    personalized: Some(request.info.keys().into_iter().map(str::to_owned).collect()),
                };
                match self.store.change_pass(&pass, &change).await? {
                    ChangeOutcome::Applied(record) => self.signed.forget(&record.id),
                    ChangeOutcome::Missing => return Ok(Err(Refusal::UnknownPass)),
                    ChangeOutcome::Raced => continue,
                }
            }
            let (token, signer) = (request.token.clone(), template.clone());
            let signed_token =
                tokio::task::spawn_blocking(move || signer.identity.sign_detached(token.as_bytes()))
                    .await?
                    .map_err(|e| {
                        DomainError::internal(format!("signing a personalization token failed: {e}"))
                    })?;
            self.metrics.count_signature();
            return Ok(Ok((pass.id, Personalized { signed_token, repeat })));
        }
        Err(DomainError::conflict(
            "the pass is being changed concurrently; try again",
            Vec::new(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_holder_members_fill_in_without_overwriting_the_holders() {
        let out = with_blank_holder(&json!({ "points": 1, "personalization": { "fullName": "Ada" } }));
        assert_eq!(out["personalization"]["fullName"], "Ada");
        assert_eq!(out["personalization"]["postalCode"], "");
        assert_eq!(out["points"], 1);
    }

    #[test]
    fn an_issuer_payload_change_keeps_the_holders_data_unless_it_names_it() {
        let old = json!({ "points": 1, "personalization": { "fullName": "Ada" } });
        let kept = keep_holder(&old, json!({ "points": 2 }));
        assert_eq!(
            kept,
            json!({ "points": 2, "personalization": { "fullName": "Ada" } })
        );
        let replaced = keep_holder(&old, json!({ "personalization": { "fullName": "Bo" } }));
        assert_eq!(replaced["personalization"]["fullName"], "Bo");
        assert!(!is_personalized(&keep_holder(&json!({}), json!({ "points": 2 }))));
    }
}
