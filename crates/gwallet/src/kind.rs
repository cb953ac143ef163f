//! Which Google Wallet pass type a `pass.json` becomes (SPEC §13's table).

use std::fmt;

use serde_json::Value;

/// A Google Wallet pass type: each has a class resource and an object resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PassKind {
    /// `eventTicket` → `eventTicketClass` / `eventTicketObject`.
    EventTicket,
    /// `boardingPass` with `PKTransitTypeAir` → `flightClass` / `flightObject`.
    Flight,
    /// Any other `boardingPass` → `transitClass` / `transitObject`.
    Transit,
    /// `storeCard` → `loyaltyClass` / `loyaltyObject`.
    Loyalty,
    /// `coupon` → `offerClass` / `offerObject`.
    Offer,
    /// `generic` → `genericClass` / `genericObject`.
    Generic,
}

impl PassKind {
    /// Every kind, in SPEC §13's order.
    pub const ALL: [Self; 6] = [
        Self::EventTicket,
        Self::Flight,
        Self::Transit,
        Self::Loyalty,
        Self::Offer,
        Self::Generic,
    ];

    /// The kind for a `pass.json`, from its style key (and `transitType` for a boarding pass);
    /// `None` when it has no style Apple defines.
    #[must_use]
    pub fn of_pass_json(pass: &Value) -> Option<Self> {
        let pass = pass.as_object()?;
        if pass.contains_key("eventTicket") {
            Some(Self::EventTicket)
        } else if let Some(boarding) = pass.get("boardingPass") {
            let air = boarding.get("transitType").and_then(Value::as_str) == Some("PKTransitTypeAir");
            Some(if air { Self::Flight } else { Self::Transit })
        } else if pass.contains_key("storeCard") {
            Some(Self::Loyalty)
        } else if pass.contains_key("coupon") {
            Some(Self::Offer)
        } else if pass.contains_key("generic") {
            Some(Self::Generic)
        } else {
            None
        }
    }

    /// The `pass.json` style key this kind comes from.
    #[must_use]
    pub fn apple_style(self) -> &'static str {
        match self {
            Self::EventTicket => "eventTicket",
            Self::Flight | Self::Transit => "boardingPass",
            Self::Loyalty => "storeCard",
            Self::Offer => "coupon",
            Self::Generic => "generic",
        }
    }

    /// The stem of Google's resource names: `eventTicket`, `flight`, `transit`, `loyalty`,
    /// `offer`, `generic`.
    #[must_use]
    pub fn stem(self) -> &'static str {
        match self {
            Self::EventTicket => "eventTicket",
            Self::Flight => "flight",
            Self::Transit => "transit",
            Self::Loyalty => "loyalty",
            Self::Offer => "offer",
            Self::Generic => "generic",
        }
    }

    /// The class resource's path segment, e.g. `eventTicketClass` in
    /// `/walletobjects/v1/eventTicketClass`.
    #[must_use]
    pub fn class_resource(self) -> &'static str {
        match self {
            Self::EventTicket => "eventTicketClass",
            Self::Flight => "flightClass",
            Self::Transit => "transitClass",
            Self::Loyalty => "loyaltyClass",
            Self::Offer => "offerClass",
            Self::Generic => "genericClass",
        }
    }

    /// The object resource's path segment, e.g. `eventTicketObject`.
    #[must_use]
    pub fn object_resource(self) -> &'static str {
        match self {
            Self::EventTicket => "eventTicketObject",
            Self::Flight => "flightObject",
            Self::Transit => "transitObject",
            Self::Loyalty => "loyaltyObject",
            Self::Offer => "offerObject",
            Self::Generic => "genericObject",
        }
    }

    /// The key of the save JWT's payload that lists objects of this kind, e.g.
    /// `eventTicketObjects`.
    #[must_use]
    pub fn jwt_objects_key(self) -> &'static str {
        match self {
            Self::EventTicket => "eventTicketObjects",
            Self::Flight => "flightObjects",
            Self::Transit => "transitObjects",
            Self::Loyalty => "loyaltyObjects",
            Self::Offer => "offerObjects",
            Self::Generic => "genericObjects",
        }
    }

    /// The discovery document's schema name for the class, e.g. `EventTicketClass`.
    #[must_use]
    pub fn class_schema(self) -> &'static str {
        match self {
            Self::EventTicket => "EventTicketClass",
            Self::Flight => "FlightClass",
            Self::Transit => "TransitClass",
            Self::Loyalty => "LoyaltyClass",
            Self::Offer => "OfferClass",
            Self::Generic => "GenericClass",
        }
    }

    /// The discovery document's schema name for the object, e.g. `EventTicketObject`.
    #[must_use]
    pub fn object_schema(self) -> &'static str {
        match self {
            Self::EventTicket => "EventTicketObject",
            Self::Flight => "FlightObject",
            Self::Transit => "TransitObject",
            Self::Loyalty => "LoyaltyObject",
            Self::Offer => "OfferObject",
            Self::Generic => "GenericObject",
        }
    }
}

impl PassKind {
    /// The kind in words, with its article: `an event ticket`, `a flight`, … (for messages).
    #[must_use]
    pub fn described(self) -> &'static str {
        match self {
            Self::EventTicket => "an event ticket",
            Self::Flight => "a flight",
            Self::Transit => "a transit pass",
            Self::Loyalty => "a loyalty card",
            Self::Offer => "an offer",
            Self::Generic => "a generic pass",
        }
    }
}

impl fmt::Display for PassKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.stem())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_style_becomes_the_type_in_the_spec_table() {
        let cases = [
            (json!({"eventTicket": {}}), PassKind::EventTicket),
            (
                json!({"boardingPass": {"transitType": "PKTransitTypeAir"}}),
                PassKind::Flight,
            ),
            (
                json!({"boardingPass": {"transitType": "PKTransitTypeTrain"}}),
                PassKind::Transit,
            ),
            (json!({"boardingPass": {}}), PassKind::Transit),
            (json!({"storeCard": {}}), PassKind::Loyalty),
            (json!({"coupon": {}}), PassKind::Offer),
            (json!({"generic": {}}), PassKind::Generic),
        ];
        for (pass, kind) in cases {
            assert_eq!(PassKind::of_pass_json(&pass), Some(kind), "{pass}");
        }
        assert_eq!(PassKind::of_pass_json(&json!({"description": "x"})), None);
    }
}
