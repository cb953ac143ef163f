//! Google's resource ids: `<issuerId>.<identifier>`.
//!
//! Google allows letters, digits, `.`, `_` and `-` in the identifier; SPEC §13 writes passmint's
//! UUIDs without their dashes so that an id reads as one token in Google's console and logs.

/// The class id of a template: `<issuerId>.<template id without dashes>`.
#[must_use]
pub fn class_id(issuer_id: &str, template_id: &str) -> String {
    format!("{issuer_id}.{}", template_id.replace('-', ""))
}

/// The object id of a pass: `<issuerId>.<pass id without dashes>`.
#[must_use]
pub fn object_id(issuer_id: &str, pass_id: &str) -> String {
    format!("{issuer_id}.{}", pass_id.replace('-', ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_the_issuer_a_dot_and_the_uuid_without_dashes() {
        assert_eq!(
            class_id("3388000000012345678", "0190f3a2-7c1d-7e2f-8a9b-0c1d2e3f4a5b"),
            "3388000000012345678.0190f3a27c1d7e2f8a9b0c1d2e3f4a5b"
        );
        assert_eq!(object_id("1", "a-b-c"), "1.abc");
    }
}
