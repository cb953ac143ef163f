//! Newtypes for the identifiers that travel together and are easy to swap: a template id, a
//! pass id and a serial number are all strings on the wire and in the store. Each is checked
//! once, where it enters, and is canonical afterwards.
use std::fmt;

use super::error::Problem;

macro_rules! uuid_id {
    ($name:ident, $what:literal) => {
        #[doc = concat!("A ", $what, " id: a UUID in its canonical hyphenated lower-case form.")]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// A new random id.
            pub fn new() -> Self {
                Self(uuid::Uuid::new_v4().hyphenated().to_string())
            }

            /// Any UUID spelling, made canonical; `None` if `text` is not a UUID.
            pub fn parse(text: &str) -> Option<Self> {
                uuid::Uuid::parse_str(text)
                    .ok()
                    .map(|u| Self(u.hyphenated().to_string()))
            }

            /// An id read back from the store (written canonical by us).
            pub fn from_stored(text: String) -> Self {
                Self(text)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

uuid_id!(TemplateId, "template");
uuid_id!(PassId, "pass");
uuid_id!(RolloutId, "rollout");

/// A pass's serial number: 1–128 characters, no `/`, `\` or control characters (it travels in
/// PassKit URL paths).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SerialNumber(String);

impl SerialNumber {
    /// Longest serial number accepted.
    pub const MAX_CHARS: usize = 128;

    /// A new serial number: a random UUID.
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// Checks `text`; the problem is reported under `param`.
    pub fn parse(text: &str, param: &str) -> Result<Self, Problem> {
        Self::problem(text).map_or_else(|| Ok(Self(text.to_string())), |msg| Err(Problem::new(param, msg)))
    }

    /// Why `text` can't be a serial number, if it can't.
    pub fn problem(text: &str) -> Option<&'static str> {
        if text.is_empty() || text.chars().count() > Self::MAX_CHARS {
            return Some("must be 1 to 128 characters");
        }
        if text.chars().any(|c| c.is_control() || c == '/' || c == '\\') {
            return Some("must not contain '/', '\\' or control characters");
        }
        None
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for SerialNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_canonical_whatever_the_spelling() {
        let upper = "6F9619FF-8B86-D011-B42D-00CF4FC964FF";
        let id = TemplateId::parse(upper).unwrap();
        assert_eq!(id.as_str(), "6f9619ff-8b86-d011-b42d-00cf4fc964ff");
        assert_eq!(TemplateId::parse("6f9619ff8b86d011b42d00cf4fc964ff"), Some(id));
        assert!(PassId::parse("").is_none());
        assert!(PassId::parse("not-a-uuid").is_none());
    }

    #[test]
    fn serial_numbers_refuse_what_cannot_travel_in_a_path() {
        assert!(SerialNumber::parse("ABC-123", "serialNumber").is_ok());
        assert!(SerialNumber::parse(&"x".repeat(128), "serialNumber").is_ok());
        for bad in ["", "a/b", "a\\b", "a\nb", &"x".repeat(129)] {
            let problem = SerialNumber::parse(bad, "items[2].serialNumber").unwrap_err();
            assert_eq!(problem.param, "items[2].serialNumber");
        }
    }
}
