//! What is sent: headers and payload, checked once when built so each send is cheap.

use bytes::Bytes;
use http::HeaderValue;

use crate::Error;

/// APNs refuses payloads larger than this (4 KiB for everything but VoIP).
const MAX_PAYLOAD: usize = 4096;
/// APNs refuses `apns-collapse-id` values longer than this.
const MAX_COLLAPSE_ID: usize = 64;

/// One notification's headers and body. Build it once per topic and send it to many tokens:
/// cloning is cheap.
#[derive(Clone, Debug)]
pub struct Notification {
    pub(crate) topic: HeaderValue,
    pub(crate) push_type: HeaderValue,
    pub(crate) priority: HeaderValue,
    pub(crate) expiration: Option<HeaderValue>,
    pub(crate) collapse_id: Option<HeaderValue>,
    pub(crate) payload: Bytes,
}

impl Notification {
    /// The Wallet "pass changed" push for a pass type identifier: `apns-push-type: background`,
    /// `apns-priority: 5`, body `{}`.
    ///
    /// # Errors
    /// [`Error::InvalidNotification`] if the topic is empty or not a header-safe string.
    pub fn wallet(pass_type_identifier: &str) -> Result<Self, Error> {
        Ok(Self {
            topic: header("apns-topic", pass_type_identifier)?,
            push_type: HeaderValue::from_static("background"),
            priority: HeaderValue::from_static("5"),
            expiration: None,
            collapse_id: None,
            payload: Bytes::from_static(b"{}"),
        })
    }

    /// Sets `apns-push-type` (`alert`, `background`, …).
    ///
    /// # Errors
    /// [`Error::InvalidNotification`] for an empty or non-header-safe value.
    pub fn with_push_type(mut self, push_type: &str) -> Result<Self, Error> {
        self.push_type = header("apns-push-type", push_type)?;
        Ok(self)
    }

    /// Sets `apns-priority`: 10 (immediate), 5 (power-considerate) or 1 (low).
    ///
    /// # Errors
    /// [`Error::InvalidNotification`] for any other number.
    pub fn with_priority(mut self, priority: u8) -> Result<Self, Error> {
        if ![1, 5, 10].contains(&priority) {
            return Err(Error::InvalidNotification(format!(
                "apns-priority {priority} is not one of 1, 5, 10"
            )));
        }
        self.priority = HeaderValue::from(u16::from(priority));
        Ok(self)
    }

    /// Sets `apns-expiration`: Unix seconds after which APNs stops trying; 0 means deliver once
    /// or drop. Without it APNs stores the push for a while.
    #[must_use]
    pub fn with_expiration(mut self, unix_seconds: u64) -> Self {
        self.expiration = Some(HeaderValue::from(unix_seconds));
        self
    }

    /// Sets `apns-collapse-id` (at most 64 bytes).
    ///
    /// # Errors
    /// [`Error::InvalidNotification`] if it is empty, too long or not header-safe.
    pub fn with_collapse_id(mut self, collapse_id: &str) -> Result<Self, Error> {
        if collapse_id.len() > MAX_COLLAPSE_ID {
            return Err(Error::InvalidNotification(format!(
                "apns-collapse-id is {} bytes; at most {MAX_COLLAPSE_ID} allowed",
                collapse_id.len()
            )));
        }
        self.collapse_id = Some(header("apns-collapse-id", collapse_id)?);
        Ok(self)
    }

    /// Sets the JSON payload (at most 4 KiB; must be a JSON object).
    ///
    /// # Errors
    /// [`Error::InvalidNotification`] if it is too large or not a JSON object.
    pub fn with_payload(mut self, payload: impl Into<Bytes>) -> Result<Self, Error> {
        let payload = payload.into();
        if payload.len() > MAX_PAYLOAD {
            return Err(Error::InvalidNotification(format!(
                "payload is {} bytes; APNs accepts at most {MAX_PAYLOAD}",
                payload.len()
            )));
        }
        match serde_json::from_slice::<serde_json::Value>(&payload) {
            Ok(serde_json::Value::Object(_)) => {}
            _ => {
                return Err(Error::InvalidNotification("payload must be a JSON object".into()));
            }
        }
        self.payload = payload;
        Ok(self)
    }

    /// The `apns-topic`.
    #[must_use]
    pub fn topic(&self) -> &str {
        self.topic.to_str().unwrap_or_default()
    }

    /// The body sent.
    #[must_use]
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }
}

fn header(name: &str, value: &str) -> Result<HeaderValue, Error> {
    if value.trim().is_empty() {
        return Err(Error::InvalidNotification(format!("{name} is empty")));
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::InvalidNotification(format!(
            "{name} {value:?} must be printable ASCII without spaces"
        )));
    }
    HeaderValue::from_str(value)
        .map_err(|_| Error::InvalidNotification(format!("{name} {value:?} is not a valid header value")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wallet_defaults_are_background_priority_5_and_an_empty_object() {
        let n = Notification::wallet("pass.com.example").unwrap();
        assert_eq!(n.topic(), "pass.com.example");
        assert_eq!(n.push_type, "background");
        assert_eq!(n.priority, "5");
        assert_eq!(&n.payload[..], b"{}");
    }

    #[test]
    fn rejects_bad_topics_priorities_collapse_ids_and_payloads() {
        assert!(Notification::wallet("").is_err());
        assert!(Notification::wallet("pass.x\r\nfoo: bar").is_err());
        let n = Notification::wallet("pass.x").unwrap();
        assert!(n.clone().with_priority(7).is_err());
        assert!(n.clone().with_collapse_id(&"c".repeat(65)).is_err());
        assert!(n.clone().with_payload(vec![b' '; 5000]).is_err());
        assert!(n.clone().with_payload(&b"[1]"[..]).is_err());
        assert!(n.with_payload(&br#"{"aps":{}}"#[..]).is_ok());
    }
}
