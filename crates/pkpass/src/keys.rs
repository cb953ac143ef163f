//! Every key Apple documents for `pass.json`, as data: its JSON type, the layouts it belongs to,
//! the iOS release that brought it, and the entitlement it needs. `pass_json` validates and warns
//! from these tables alone; adding next year's keys means adding rows here (README, "The pass.json
//! key table").
//!
//! Sources: Apple's Wallet Passes reference (developer.apple.com/documentation/walletpasses:
//! `Pass`, `PassFields`, `PassFieldContent`, `SemanticTags`, `Pass.RelevantDates`,
//! "Creating a poster event pass using semantic tags", "Creating an airline boarding pass using
//! semantic tags"), the WWDC24 "What's new in Wallet and Apple Pay", WWDC25 and WWDC26 "What's new
//! in Wallet" sessions, and, where Apple's pages were not at hand, the `@iOSVersion` annotations
//! of passkit-generator 3.6.1's schemas (npm). Rows taken from passkit-generator alone say so.

/// The JSON type a key expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A string.
    String,
    /// A string holding a URL.
    Url,
    /// An integer.
    Integer,
    /// Any number.
    Number,
    /// `true` or `false`.
    Bool,
    /// An array.
    Array,
    /// An object.
    Object,
    /// A W3C date-time string.
    Date,
    /// A colour string: `rgb(r, g, b)` (or `#rrggbb` from iOS 18).
    Color,
    /// Any JSON value.
    Any,
}

/// The iOS release (major, minor) that brought a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ios(pub u8, pub u8);

impl std::fmt::Display for Ios {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.1 == 0 {
            write!(f, "iOS {}", self.0)
        } else {
            write!(f, "iOS {}.{}", self.0, self.1)
        }
    }
}

/// A set of pass layouts: the five styles, and the newer layouts Wallet draws for some of them
/// (asked for with `preferredStyleSchemes`, or the `posterGeneric` style key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layouts(u16);

impl Layouts {
    /// A classic boarding pass.
    pub const BOARDING_PASS: Self = Self(1);
    /// The iOS 26 boarding pass built from semantic tags (`semanticBoardingPass`).
    pub const SEMANTIC_BOARDING_PASS: Self = Self(1 << 1);
    /// A coupon.
    pub const COUPON: Self = Self(1 << 2);
    /// A classic event ticket.
    pub const EVENT_TICKET: Self = Self(1 << 3);
    /// The iOS 18 poster event ticket (`posterEventTicket`).
    pub const POSTER_EVENT_TICKET: Self = Self(1 << 4);
    /// A generic pass.
    pub const GENERIC: Self = Self(1 << 5);
    /// The iOS 27 poster generic pass (`posterGeneric` style key).
    pub const POSTER_GENERIC: Self = Self(1 << 6);
    /// A store card.
    pub const STORE_CARD: Self = Self(1 << 7);
    /// No layout.
    pub const NONE: Self = Self(0);
    /// Every layout.
    pub const ALL: Self = Self(0xff);
    const NAMES: [(Self, &'static str); 8] = [
        (Self::BOARDING_PASS, "boardingPass"),
        (Self::SEMANTIC_BOARDING_PASS, "semanticBoardingPass"),
        (Self::COUPON, "coupon"),
        (Self::EVENT_TICKET, "eventTicket"),
        (Self::POSTER_EVENT_TICKET, "posterEventTicket"),
        (Self::GENERIC, "generic"),
        (Self::POSTER_GENERIC, "posterGeneric"),
        (Self::STORE_CARD, "storeCard"),
    ];

    /// Both sets together.
    #[must_use]
    pub const fn or(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// This set without `other`'s layouts.
    #[must_use]
    pub const fn without(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }

    /// True when the sets share a layout.
    #[must_use]
    pub const fn meets(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }

    /// The layout a style key or style scheme names.
    #[must_use]
    pub fn named(name: &str) -> Option<Self> {
        Self::NAMES.iter().find(|(_, n)| *n == name).map(|(l, _)| *l)
    }

    /// The layouts' names, for messages.
    #[must_use]
    pub fn names(self) -> Vec<&'static str> {
        Self::NAMES
            .iter()
            .filter(|(l, _)| self.meets(*l))
            .map(|(_, n)| *n)
            .collect()
    }
}

const ALL: Layouts = Layouts::ALL;
const BOARDING: Layouts = Layouts::BOARDING_PASS;
const SEMANTIC_BOARDING: Layouts = Layouts::SEMANTIC_BOARDING_PASS;
const EVENT: Layouts = Layouts::EVENT_TICKET;
const POSTER_EVENT: Layouts = Layouts::POSTER_EVENT_TICKET;
const POSTER_GENERIC: Layouts = Layouts::POSTER_GENERIC;
const COUPON: Layouts = Layouts::COUPON;
const GENERIC: Layouts = Layouts::GENERIC;
const STORE: Layouts = Layouts::STORE_CARD;
/// What Apple calls "enhanced" layouts draw the event guide and the boarding services.
const POSTER_EVENT_OR_SEMANTIC_BOARDING: Layouts = POSTER_EVENT.or(SEMANTIC_BOARDING);

/// Keys older than this iOS release are taken as read everywhere: a pass isn't warned that
/// `barcodes` (iOS 9) needs a newer iOS than `logoText` (iOS 6). iOS 16 is the oldest release
/// still on iPhones Apple updates (iPhone 8 and X).
pub const OLDEST_IOS_IN_USE: u8 = 16;

/// One documented key.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// The key as it appears in JSON.
    pub name: &'static str,
    /// Its JSON type.
    pub kind: Kind,
    /// The layouts on which Wallet reads it.
    pub layouts: Layouts,
    /// The iOS release that brought it.
    pub since: Ios,
    /// The entitlement the pass type certificate needs for Wallet to accept the key.
    pub entitlement: Option<&'static str>,
}

const fn key(name: &'static str, kind: Kind, layouts: Layouts, since: Ios) -> Key {
    Key {
        name,
        kind,
        layouts,
        since,
        entitlement: None,
    }
}

/// Looks `name` up in `table`.
#[must_use]
pub fn find(table: &'static [Key], name: &str) -> Option<&'static Key> {
    table.iter().find(|k| k.name == name)
}

/// Top-level `pass.json` keys (Apple's `Pass` object).
pub const PASS_KEYS: &[Key] = &[
    // Identity and basics (iOS 6).
    key("description", Kind::String, ALL, Ios(6, 0)),
    key("formatVersion", Kind::Integer, ALL, Ios(6, 0)),
    key("organizationName", Kind::String, ALL, Ios(6, 0)),
    key("passTypeIdentifier", Kind::String, ALL, Ios(6, 0)),
    key("serialNumber", Kind::String, ALL, Ios(6, 0)),
    key("teamIdentifier", Kind::String, ALL, Ios(6, 0)),
    // Styles: exactly one of the five; posterGeneric may sit next to generic (iOS 27).
    key(
        "boardingPass",
        Kind::Object,
        BOARDING.or(SEMANTIC_BOARDING),
        Ios(6, 0),
    ),
    key("coupon", Kind::Object, COUPON, Ios(6, 0)),
    key("eventTicket", Kind::Object, EVENT.or(POSTER_EVENT), Ios(6, 0)),
    key("generic", Kind::Object, GENERIC, Ios(6, 0)),
    key("storeCard", Kind::Object, STORE, Ios(6, 0)),
    key("posterGeneric", Kind::Object, POSTER_GENERIC, Ios(27, 0)),
    // Associated apps, updates, relevance, appearance.
    key("appLaunchURL", Kind::String, ALL, Ios(6, 0)),
    key("associatedStoreIdentifiers", Kind::Array, ALL, Ios(6, 0)),
    key("userInfo", Kind::Any, ALL, Ios(6, 0)),
    key("authenticationToken", Kind::String, ALL, Ios(6, 0)),
    key("webServiceURL", Kind::String, ALL, Ios(6, 0)),
    key("locations", Kind::Array, ALL, Ios(6, 0)),
    key("relevantDate", Kind::Date, ALL, Ios(6, 0)),
    key("barcode", Kind::Object, ALL, Ios(6, 0)),
    key("backgroundColor", Kind::Color, ALL, Ios(6, 0)),
    key("foregroundColor", Kind::Color, ALL, Ios(6, 0)),
    key("labelColor", Kind::Color, ALL, Ios(6, 0)),
    key("logoText", Kind::String, ALL, Ios(6, 0)),
    key("suppressStripShine", Kind::Bool, ALL, Ios(6, 0)),
    key("expirationDate", Kind::Date, ALL, Ios(7, 0)),
    key("voided", Kind::Bool, ALL, Ios(7, 0)),
    key("beacons", Kind::Array, ALL, Ios(7, 0)),
    key("maxDistance", Kind::Number, ALL, Ios(7, 0)),
    key(
        "groupingIdentifier",
        Kind::String,
        BOARDING.or(SEMANTIC_BOARDING).or(EVENT).or(POSTER_EVENT),
        Ios(7, 0),
    ),
    key("barcodes", Kind::Array, ALL, Ios(9, 0)),
    Key {
        entitlement: Some("NFC pass certificate (Apple grants it per pass type identifier)"),
        ..key("nfc", Kind::Object, ALL, Ios(9, 0))
    },
    key("sharingProhibited", Kind::Bool, ALL, Ios(11, 0)),
    key("semantics", Kind::Object, ALL, Ios(12, 0)),
    // iOS 18: poster event tickets and relevance intervals.
    key("relevantDates", Kind::Array, ALL, Ios(18, 0)),
    key(
        "preferredStyleSchemes",
        Kind::Array,
        EVENT.or(POSTER_EVENT).or(BOARDING).or(SEMANTIC_BOARDING),
        Ios(18, 0),
    ),
    key("useAutomaticColors", Kind::Bool, POSTER_EVENT, Ios(18, 0)),
    key("footerBackgroundColor", Kind::Color, POSTER_EVENT, Ios(18, 0)),
    key("suppressHeaderDarkening", Kind::Bool, POSTER_EVENT, Ios(18, 0)),
    key(
        "auxiliaryStoreIdentifiers",
        Kind::Array,
        POSTER_EVENT_OR_SEMANTIC_BOARDING,
        Ios(18, 0),
    ),
    key("eventLogoText", Kind::String, POSTER_EVENT, Ios(18, 1)),
    key("accessibilityURL", Kind::Url, POSTER_EVENT, Ios(18, 0)),
    key("addOnURL", Kind::Url, POSTER_EVENT, Ios(18, 0)),
    key(
        "bagPolicyURL",
        Kind::Url,
        POSTER_EVENT_OR_SEMANTIC_BOARDING,
        Ios(18, 0),
    ),
    key("contactVenueEmail", Kind::String, POSTER_EVENT, Ios(18, 0)),
    key("contactVenuePhoneNumber", Kind::String, POSTER_EVENT, Ios(18, 0)),
    key("contactVenueWebsite", Kind::Url, POSTER_EVENT, Ios(18, 0)),
    key("directionsInformationURL", Kind::Url, POSTER_EVENT, Ios(18, 0)),
    key("merchandiseURL", Kind::Url, POSTER_EVENT, Ios(18, 0)),
    key(
        "orderFoodURL",
        Kind::Url,
        POSTER_EVENT_OR_SEMANTIC_BOARDING,
        Ios(18, 0),
    ),
    key("parkingInformationURL", Kind::Url, POSTER_EVENT, Ios(18, 0)),
    key("purchaseParkingURL", Kind::Url, POSTER_EVENT, Ios(18, 0)),
    key("sellURL", Kind::Url, POSTER_EVENT, Ios(18, 0)),
    key("transferURL", Kind::Url, POSTER_EVENT, Ios(18, 0)),
    key("transitInformationURL", Kind::Url, POSTER_EVENT, Ios(18, 0)),
    // iOS 26: upcoming events on poster event tickets; semantic boarding pass services.
    key("upcomingPassInformation", Kind::Array, POSTER_EVENT, Ios(26, 0)),
    key("changeSeatURL", Kind::Url, SEMANTIC_BOARDING, Ios(26, 0)),
    key("entertainmentURL", Kind::Url, SEMANTIC_BOARDING, Ios(26, 0)),
    key("managementURL", Kind::Url, SEMANTIC_BOARDING, Ios(26, 0)),
    key(
        "purchaseAdditionalBaggageURL",
        Kind::Url,
        SEMANTIC_BOARDING,
        Ios(26, 0),
    ),
    key(
        "purchaseLoungeAccessURL",
        Kind::Url,
        SEMANTIC_BOARDING,
        Ios(26, 0),
    ),
    key("purchaseWifiURL", Kind::Url, SEMANTIC_BOARDING, Ios(26, 0)),
    key("upgradeURL", Kind::Url, SEMANTIC_BOARDING, Ios(26, 0)),
    key(
        "registerServiceAnimalURL",
        Kind::Url,
        SEMANTIC_BOARDING,
        Ios(26, 0),
    ),
    key("reportLostBagURL", Kind::Url, SEMANTIC_BOARDING, Ios(26, 0)),
    key("requestWheelchairURL", Kind::Url, SEMANTIC_BOARDING, Ios(26, 0)),
    key(
        "transitProviderEmail",
        Kind::String,
        SEMANTIC_BOARDING,
        Ios(26, 0),
    ),
    key(
        "transitProviderPhoneNumber",
        Kind::String,
        SEMANTIC_BOARDING,
        Ios(26, 0),
    ),
    key(
        "transitProviderWebsiteURL",
        Kind::Url,
        SEMANTIC_BOARDING,
        Ios(26, 0),
    ),
    // iOS 27: actions under the pass, for every style (WWDC26 "What's new in Wallet").
    key("featuredActions", Kind::Array, ALL, Ios(27, 0)),
];

/// Keys inside a style dictionary (`PassFields`).
pub const STYLE_KEYS: &[Key] = &[
    key("headerFields", Kind::Array, ALL, Ios(6, 0)),
    key("primaryFields", Kind::Array, ALL, Ios(6, 0)),
    key("secondaryFields", Kind::Array, ALL, Ios(6, 0)),
    key("auxiliaryFields", Kind::Array, ALL, Ios(6, 0)),
    key("backFields", Kind::Array, ALL, Ios(6, 0)),
    key(
        "transitType",
        Kind::String,
        BOARDING.or(SEMANTIC_BOARDING),
        Ios(6, 0),
    ),
    key("additionalInfoFields", Kind::Array, POSTER_EVENT, Ios(18, 0)),
    key("footerFields", Kind::Array, POSTER_GENERIC, Ios(27, 0)),
];

/// Keys of one field dictionary (`PassFieldContent`).
pub const FIELD_KEYS: &[Key] = &[
    key("key", Kind::String, ALL, Ios(6, 0)),
    key("value", Kind::Any, ALL, Ios(6, 0)),
    key("label", Kind::String, ALL, Ios(6, 0)),
    key("changeMessage", Kind::String, ALL, Ios(6, 0)),
    key("currencyCode", Kind::String, ALL, Ios(6, 0)),
    key("dateStyle", Kind::String, ALL, Ios(6, 0)),
    key("timeStyle", Kind::String, ALL, Ios(6, 0)),
    key("isRelative", Kind::Bool, ALL, Ios(6, 0)),
    key("numberStyle", Kind::String, ALL, Ios(6, 0)),
    key("textAlignment", Kind::String, ALL, Ios(6, 0)),
    key("attributedValue", Kind::Any, ALL, Ios(7, 0)),
    key("dataDetectorTypes", Kind::Array, ALL, Ios(7, 0)),
    key("ignoresTimeZone", Kind::Bool, ALL, Ios(7, 0)),
    key("semantics", Kind::Object, ALL, Ios(12, 0)),
    key("row", Kind::Integer, ALL, Ios(14, 0)),
];

/// Semantic tags (`SemanticTags`), read by Wallet, Siri and the enhanced layouts.
pub const SEMANTIC_TAGS: &[Key] = &[
    key("airlineCode", Kind::String, ALL, Ios(12, 0)),
    key("artistIDs", Kind::Array, ALL, Ios(12, 0)),
    key("awayTeamAbbreviation", Kind::String, ALL, Ios(12, 0)),
    key("awayTeamLocation", Kind::String, ALL, Ios(12, 0)),
    key("awayTeamName", Kind::String, ALL, Ios(12, 0)),
    key("balance", Kind::Object, ALL, Ios(12, 0)),
    key("boardingGroup", Kind::String, ALL, Ios(12, 0)),
    key("boardingSequenceNumber", Kind::String, ALL, Ios(12, 0)),
    key("carNumber", Kind::String, ALL, Ios(12, 0)),
    key("confirmationNumber", Kind::String, ALL, Ios(12, 0)),
    key("currentArrivalDate", Kind::Date, ALL, Ios(12, 0)),
    key("currentBoardingDate", Kind::Date, ALL, Ios(12, 0)),
    key("currentDepartureDate", Kind::Date, ALL, Ios(12, 0)),
    key("departureAirportCode", Kind::String, ALL, Ios(12, 0)),
    key("departureAirportName", Kind::String, ALL, Ios(12, 0)),
    key("departureGate", Kind::String, ALL, Ios(12, 0)),
    key("departureLocation", Kind::Object, ALL, Ios(12, 0)),
    key("departureLocationDescription", Kind::String, ALL, Ios(12, 0)),
    key("departurePlatform", Kind::String, ALL, Ios(12, 0)),
    key("departureStationName", Kind::String, ALL, Ios(12, 0)),
    key("departureTerminal", Kind::String, ALL, Ios(12, 0)),
    key("destinationAirportCode", Kind::String, ALL, Ios(12, 0)),
    key("destinationAirportName", Kind::String, ALL, Ios(12, 0)),
    key("destinationGate", Kind::String, ALL, Ios(12, 0)),
    key("destinationLocation", Kind::Object, ALL, Ios(12, 0)),
    key("destinationLocationDescription", Kind::String, ALL, Ios(12, 0)),
    key("destinationPlatform", Kind::String, ALL, Ios(12, 0)),
    key("destinationStationName", Kind::String, ALL, Ios(12, 0)),
    key("destinationTerminal", Kind::String, ALL, Ios(12, 0)),
    key("duration", Kind::Number, ALL, Ios(12, 0)),
    key("eventEndDate", Kind::Date, ALL, Ios(12, 0)),
    key("eventName", Kind::String, ALL, Ios(12, 0)),
    key("eventStartDate", Kind::Date, ALL, Ios(12, 0)),
    key("eventType", Kind::String, ALL, Ios(12, 0)),
    key("flightCode", Kind::String, ALL, Ios(12, 0)),
    key("flightNumber", Kind::Number, ALL, Ios(12, 0)),
    key("genre", Kind::String, ALL, Ios(12, 0)),
    key("homeTeamAbbreviation", Kind::String, ALL, Ios(12, 0)),
    key("homeTeamLocation", Kind::String, ALL, Ios(12, 0)),
    key("homeTeamName", Kind::String, ALL, Ios(12, 0)),
    key("leagueAbbreviation", Kind::String, ALL, Ios(12, 0)),
    key("leagueName", Kind::String, ALL, Ios(12, 0)),
    key("membershipProgramName", Kind::String, ALL, Ios(12, 0)),
    key("membershipProgramNumber", Kind::String, ALL, Ios(12, 0)),
    key("originalArrivalDate", Kind::Date, ALL, Ios(12, 0)),
    key("originalBoardingDate", Kind::Date, ALL, Ios(12, 0)),
    key("originalDepartureDate", Kind::Date, ALL, Ios(12, 0)),
    key("passengerName", Kind::Object, ALL, Ios(12, 0)),
    key("performerNames", Kind::Array, ALL, Ios(12, 0)),
    key("playlistIDs", Kind::Array, ALL, Ios(12, 0)),
    key("priorityStatus", Kind::String, ALL, Ios(12, 0)),
    key("seats", Kind::Array, ALL, Ios(12, 0)),
    key("securityScreening", Kind::String, ALL, Ios(12, 0)),
    key("silenceRequested", Kind::Bool, ALL, Ios(12, 0)),
    key("sportName", Kind::String, ALL, Ios(12, 0)),
    key("totalPrice", Kind::Object, ALL, Ios(12, 0)),
    key("transitProvider", Kind::String, ALL, Ios(12, 0)),
    key("transitStatus", Kind::String, ALL, Ios(12, 0)),
    key("transitStatusReason", Kind::String, ALL, Ios(12, 0)),
    key("vehicleName", Kind::String, ALL, Ios(12, 0)),
    key("vehicleNumber", Kind::String, ALL, Ios(12, 0)),
    key("vehicleType", Kind::String, ALL, Ios(12, 0)),
    key("venueEntrance", Kind::String, ALL, Ios(12, 0)),
    key("venueLocation", Kind::Object, ALL, Ios(12, 0)),
    key("venueName", Kind::String, ALL, Ios(12, 0)),
    key("venuePhoneNumber", Kind::String, ALL, Ios(12, 0)),
    key("venueRoom", Kind::String, ALL, Ios(12, 0)),
    key("wifiAccess", Kind::Array, ALL, Ios(12, 0)),
    key("tailgatingAllowed", Kind::Bool, ALL, Ios(18, 0)),
    key("admissionLevel", Kind::String, POSTER_EVENT, Ios(18, 0)),
    key(
        "admissionLevelAbbreviation",
        Kind::String,
        POSTER_EVENT,
        Ios(18, 0),
    ),
    key("albumIDs", Kind::Array, POSTER_EVENT, Ios(18, 0)),
    key("airplay", Kind::Array, POSTER_EVENT, Ios(18, 0)),
    key("attendeeName", Kind::String, POSTER_EVENT, Ios(18, 0)),
    key(
        "additionalTicketAttributes",
        Kind::String,
        POSTER_EVENT,
        Ios(18, 0),
    ),
    key("entranceDescription", Kind::String, POSTER_EVENT, Ios(18, 0)),
    key("eventLiveMessage", Kind::String, POSTER_EVENT, Ios(18, 0)),
    key("eventStartDateInfo", Kind::Object, POSTER_EVENT, Ios(18, 0)),
    key("venueGatesOpenDate", Kind::Date, POSTER_EVENT, Ios(18, 0)),
    key("venueParkingLotsOpenDate", Kind::Date, POSTER_EVENT, Ios(18, 0)),
    key("venueBoxOfficeOpenDate", Kind::Date, POSTER_EVENT, Ios(18, 0)),
    key("venueDoorsOpenDate", Kind::Date, POSTER_EVENT, Ios(18, 0)),
    key("venueFanZoneOpenDate", Kind::Date, POSTER_EVENT, Ios(18, 0)),
    key("venueOpenDate", Kind::Date, POSTER_EVENT, Ios(18, 0)),
    key("venueCloseDate", Kind::Date, POSTER_EVENT, Ios(18, 0)),
    key("venueRegionName", Kind::String, POSTER_EVENT, Ios(18, 0)),
    key("venueEntranceGate", Kind::String, POSTER_EVENT, Ios(18, 0)),
    key("venueEntranceDoor", Kind::String, POSTER_EVENT, Ios(18, 0)),
    key("venueEntrancePortal", Kind::String, POSTER_EVENT, Ios(18, 0)),
    key("venuePlaceID", Kind::String, POSTER_EVENT, Ios(26, 0)),
    key("boardingZone", Kind::String, SEMANTIC_BOARDING, Ios(26, 0)),
    key("departureCityName", Kind::String, SEMANTIC_BOARDING, Ios(26, 0)),
    key("destinationCityName", Kind::String, SEMANTIC_BOARDING, Ios(26, 0)),
    key(
        "departureLocationSecurityPrograms",
        Kind::Array,
        SEMANTIC_BOARDING,
        Ios(26, 0),
    ),
    key(
        "destinationLocationSecurityPrograms",
        Kind::Array,
        SEMANTIC_BOARDING,
        Ios(26, 0),
    ),
    key(
        "departureLocationTimeZone",
        Kind::String,
        SEMANTIC_BOARDING,
        Ios(26, 0),
    ),
    key(
        "destinationLocationTimeZone",
        Kind::String,
        SEMANTIC_BOARDING,
        Ios(26, 0),
    ),
    key(
        "internationalDocumentsAreVerified",
        Kind::Bool,
        SEMANTIC_BOARDING,
        Ios(26, 0),
    ),
    key(
        "internationalDocumentsVerifiedDeclarationName",
        Kind::String,
        SEMANTIC_BOARDING,
        Ios(26, 0),
    ),
    key("loungePlaceIDs", Kind::Array, SEMANTIC_BOARDING, Ios(26, 0)),
    key(
        "membershipProgramStatus",
        Kind::String,
        SEMANTIC_BOARDING,
        Ios(26, 0),
    ),
    key("passengerAirlineSSRs", Kind::Array, SEMANTIC_BOARDING, Ios(26, 0)),
    key(
        "passengerCapabilities",
        Kind::Array,
        SEMANTIC_BOARDING,
        Ios(26, 0),
    ),
    key(
        "passengerEligibleSecurityPrograms",
        Kind::Array,
        SEMANTIC_BOARDING,
        Ios(26, 0),
    ),
    key(
        "passengerInformationSSRs",
        Kind::Array,
        SEMANTIC_BOARDING,
        Ios(26, 0),
    ),
    key("passengerServiceSSRs", Kind::Array, SEMANTIC_BOARDING, Ios(26, 0)),
    key("ticketFareClass", Kind::String, SEMANTIC_BOARDING, Ios(26, 0)),
];

/// Values of `preferredStyleSchemes`, each naming the layout it asks for.
pub const STYLE_SCHEMES: &[Key] = &[
    key("posterEventTicket", Kind::String, POSTER_EVENT, Ios(18, 0)),
    key("eventTicket", Kind::String, EVENT, Ios(18, 0)),
    key(
        "semanticBoardingPass",
        Kind::String,
        SEMANTIC_BOARDING,
        Ios(26, 0),
    ),
    key("boardingPass", Kind::String, BOARDING, Ios(26, 0)),
];

/// Barcode formats. The four iOS 27 formats are named as passkit-generator 3.6.1 spells them
/// (WWDC26 names EAN-13, Code 39, Codabar and ITF and shows `PKBarcodeFormatCodabar`).
pub const BARCODE_FORMATS: &[Key] = &[
    key("PKBarcodeFormatQR", Kind::String, ALL, Ios(6, 0)),
    key("PKBarcodeFormatPDF417", Kind::String, ALL, Ios(6, 0)),
    key("PKBarcodeFormatAztec", Kind::String, ALL, Ios(6, 0)),
    key("PKBarcodeFormatCode128", Kind::String, ALL, Ios(9, 0)),
    key("PKBarcodeFormatEAN13", Kind::String, ALL, Ios(27, 0)),
    key("PKBarcodeFormatCode39", Kind::String, ALL, Ios(27, 0)),
    key("PKBarcodeFormatCodabar", Kind::String, ALL, Ios(27, 0)),
    key("PKBarcodeFormatI2of5", Kind::String, ALL, Ios(27, 0)),
];

/// Keys of an `upcomingPassInformation` entry (iOS 26).
pub const UPCOMING_KEYS: &[Key] = &[
    key("type", Kind::String, POSTER_EVENT, Ios(26, 0)),
    key("identifier", Kind::String, POSTER_EVENT, Ios(26, 0)),
    key("name", Kind::String, POSTER_EVENT, Ios(26, 0)),
    key("dateInformation", Kind::Object, POSTER_EVENT, Ios(26, 0)),
    key("semantics", Kind::Object, POSTER_EVENT, Ios(26, 0)),
    key("additionalInfoFields", Kind::Array, POSTER_EVENT, Ios(26, 0)),
    key("backFields", Kind::Array, POSTER_EVENT, Ios(26, 0)),
    key("URLs", Kind::Object, POSTER_EVENT, Ios(26, 0)),
    key("images", Kind::Object, POSTER_EVENT, Ios(26, 0)),
    key("auxiliaryStoreIdentifiers", Kind::Array, POSTER_EVENT, Ios(26, 0)),
    key("isActive", Kind::Bool, POSTER_EVENT, Ios(26, 0)),
];

/// Keys of a `featuredActions` entry (iOS 27).
pub const FEATURED_ACTION_KEYS: &[Key] = &[
    key("identifier", Kind::String, ALL, Ios(27, 0)),
    key("type", Kind::String, ALL, Ios(27, 0)),
    key("url", Kind::Url, ALL, Ios(27, 0)),
    key("placeIdentifier", Kind::String, ALL, Ios(27, 0)),
];

/// `featuredActions[].type` values (passkit-generator 3.6.1; WWDC26 shows `membershipBenefits`).
/// `place` takes a `placeIdentifier` instead of a `url`.
pub const FEATURED_ACTION_TYPES: &[&str] = &[
    "viewSchedule",
    "watchTrailer",
    "listenToMusic",
    "call",
    "place",
    "addToBalance",
    "order",
    "shop",
    "membershipBenefits",
    "bookAppointment",
    "bookCar",
    "bookFlight",
    "bookStay",
    "viewOffersRewards",
];

/// Wallet shows at most this many featured actions.
pub const MAX_FEATURED_ACTIONS: usize = 2;

/// An image a pass bundle may hold.
#[derive(Debug, Clone, Copy)]
pub struct Image {
    /// The file name without scale and extension (`icon` for `icon@2x.png`).
    pub name: &'static str,
    /// The largest size Apple recommends at 1x, in points, when Apple gives one.
    pub max_points: Option<(u32, u32)>,
    /// The layouts that show it.
    pub layouts: Layouts,
    /// The iOS release that brought it.
    pub since: Ios,
}

const fn image(name: &'static str, max_points: Option<(u32, u32)>, layouts: Layouts, since: Ios) -> Image {
    Image {
        name,
        max_points,
        layouts,
        since,
    }
}

/// Images Wallet reads from a pass bundle.
pub const IMAGES: &[Image] = &[
    image("icon", Some((38, 38)), ALL, Ios(6, 0)),
    image("logo", Some((160, 50)), ALL, Ios(6, 0)),
    image("strip", Some((375, 144)), COUPON.or(EVENT).or(STORE), Ios(6, 0)),
    image(
        "background",
        Some((180, 220)),
        EVENT.or(POSTER_EVENT).or(POSTER_GENERIC),
        Ios(6, 0),
    ),
    image("thumbnail", Some((90, 90)), EVENT.or(GENERIC), Ios(6, 0)),
    image("footer", Some((286, 15)), BOARDING, Ios(6, 0)),
    image("personalizationLogo", Some((150, 40)), STORE, Ios(10, 0)),
    image("artwork", None, POSTER_EVENT, Ios(18, 0)),
    image(
        "primaryLogo",
        Some((126, 30)),
        POSTER_EVENT.or(POSTER_GENERIC),
        Ios(18, 0),
    ),
    image("secondaryLogo", Some((135, 12)), POSTER_EVENT, Ios(18, 0)),
    image("venueMap", None, POSTER_EVENT, Ios(26, 0)),
];

/// Looks an image up by name.
#[must_use]
pub fn find_image(name: &str) -> Option<&'static Image> {
    IMAGES.iter().find(|i| i.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_table_names_a_key_twice() {
        for table in [
            PASS_KEYS,
            STYLE_KEYS,
            FIELD_KEYS,
            SEMANTIC_TAGS,
            STYLE_SCHEMES,
            BARCODE_FORMATS,
            UPCOMING_KEYS,
            FEATURED_ACTION_KEYS,
        ] {
            for (i, k) in table.iter().enumerate() {
                assert!(
                    table[..i].iter().all(|o| o.name != k.name),
                    "{} is listed twice",
                    k.name
                );
            }
        }
    }

    #[test]
    fn every_style_key_names_its_layouts() {
        for style in [
            "boardingPass",
            "coupon",
            "eventTicket",
            "generic",
            "storeCard",
            "posterGeneric",
        ] {
            let k = find(PASS_KEYS, style).unwrap();
            assert!(k.layouts.meets(Layouts::named(style).unwrap()), "{style}");
        }
    }
}
