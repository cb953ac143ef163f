//! A faithful preview of a pass, as Wallet lays it out for its style: colours, logo, strip or
//! thumbnail, the four field rows, the barcode; and its back. Not a surface: the holder pages
//! (`share/`) and the dashboard both render it into their own pages.
//!
//! ```text
//! rendered pass (pass.json, images, pass.strings, voided)
//!     └─► PassPreview::from_rendered(…) / from_pkpass(…)
//!            ├─ .front_html()  <div class="pm-pass pm-style-… pm-<scope>">…</div>
//!            ├─ .back_html()   <section class="pm-back pm-<scope>">…</section>
//!            └─ .css_rules()   the pass's colours, for the page's own <style nonce=…>
//! STYLESHEET   the layout, one embedded stylesheet every surface serves from its own origin
//! qr_svg(text) a QR code as inline SVG (a page's own URL, a share link)
//! ```
//!
//! Everything is inline: barcodes are SVG, images are `data:` URLs, so a page embedding the
//! preview loads nothing else. Colours are not in `style=""` attributes (a strict CSP refuses
//! them): they come as CSS rules scoped to this pass ([`PassPreview::css_rules`]), built from
//! parsed numbers only, for the page to put in a `<style>` its CSP allows by nonce.
use std::collections::BTreeMap;
use std::io::Read;

use askama::Template;
use base64::Engine;
use serde_json::Value;

mod barcode;
mod fields;
mod language;

pub use barcode::{Format as BarcodeFormat, qr_svg};
pub use fields::Field;
pub use language::{languages, pick as pick_language};

use fields::Strings;

/// The preview's layout, served by each surface from its own origin (CSP `style-src 'self'`).
pub const STYLESHEET: &str = include_str!("preview.css");

/// Largest .pkpass [`PassPreview::from_pkpass`] reads, and largest file in it.
const MAX_PKPASS_BYTES: u64 = 32 * 1024 * 1024;

/// The five pass styles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    BoardingPass,
    Coupon,
    EventTicket,
    Generic,
    StoreCard,
}

impl Style {
    pub const ALL: [Style; 5] = [
        Style::BoardingPass,
        Style::Coupon,
        Style::EventTicket,
        Style::Generic,
        Style::StoreCard,
    ];

    /// pass.json's key for the style.
    pub fn key(self) -> &'static str {
        match self {
            Style::BoardingPass => "boardingPass",
            Style::Coupon => "coupon",
            Style::EventTicket => "eventTicket",
            Style::Generic => "generic",
            Style::StoreCard => "storeCard",
        }
    }

    fn of(pass_json: &Value) -> Style {
        Self::ALL
            .into_iter()
            .find(|s| pass_json.get(s.key()).is_some_and(Value::is_object))
            .unwrap_or(Style::Generic)
    }
}

/// The barcode shown on the front.
#[derive(Debug, Clone)]
pub struct Barcode {
    pub format: BarcodeFormat,
    pub message: String,
    pub alt_text: Option<String>,
    /// Inline SVG (`None` when the message can't be encoded in the format).
    pub svg: Option<String>,
}

/// Why a .pkpass could not be previewed.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error("not a readable .pkpass: {0}")]
    Archive(String),
    #[error("the .pkpass has no readable pass.json")]
    NoPassJson,
}

/// A previewable pass. Build it with [`PassPreview::from_rendered`] (the files of a rendered
/// pass) or [`PassPreview::from_pkpass`] (a signed `.pkpass`).
#[derive(Debug, Clone)]
pub struct PassPreview {
    pub style: Style,
    /// The language the texts are in (`None`: pass.json's own texts).
    pub language: Option<String>,
    pub voided: bool,
    pub serial_number: String,
    pub description: String,
    pub organization_name: String,
    pub logo_text: Option<String>,
    pub header: Vec<Field>,
    pub primary: Vec<Field>,
    pub secondary: Vec<Field>,
    pub auxiliary: Vec<Field>,
    pub back: Vec<Field>,
    pub barcode: Option<Barcode>,
    /// `PKTransitType…` of a boarding pass, as a glyph name (`air`, `train`, …).
    pub transit: Option<&'static str>,
    colors: Colors,
    images: Images,
    scope: String,
}

#[derive(Debug, Clone, Default)]
struct Colors {
    background: Option<(u8, u8, u8)>,
    foreground: Option<(u8, u8, u8)>,
    label: Option<(u8, u8, u8)>,
}

/// `data:` URLs of the images the front shows.
#[derive(Debug, Clone, Default)]
struct Images {
    logo: Option<String>,
    strip: Option<String>,
    thumbnail: Option<String>,
    background: Option<String>,
    footer: Option<String>,
}

impl PassPreview {
    /// From the files of a rendered pass (`pass.json` parsed as `pass_json`, the images and
    /// `*.lproj/` folders in `files`), in `language` (one of [`languages`]`(files)`, e.g. from
    /// [`pick_language`]; `None` or an unknown one: pass.json's own texts). `voided` marks
    /// the pass void (as does `"voided": true` in pass.json).
    pub fn from_rendered(
        pass_json: &Value,
        files: &BTreeMap<String, Vec<u8>>,
        language: Option<&str>,
        voided: bool,
    ) -> Self {
        let language = language.filter(|l| files.contains_key(&format!("{l}.lproj/pass.strings")));
        let strings = language.map_or_else(Strings::default, |l| strings_of(files, l));
        let style = Style::of(pass_json);
        let style_object = pass_json.get(style.key());
        let text = |key: &str| {
            pass_json
                .get(key)
                .and_then(Value::as_str)
                .map(|s| strings.text(s))
        };
        let image = |name: &str| image_url(files, language, name);
        let images = Images {
            logo: image("logo"),
            strip: matches!(style, Style::Coupon | Style::EventTicket | Style::StoreCard)
                .then(|| image("strip"))
                .flatten(),
            thumbnail: matches!(style, Style::Generic | Style::EventTicket)
                .then(|| image("thumbnail"))
                .flatten(),
            background: (style == Style::EventTicket)
                .then(|| image("background"))
                .flatten(),
            footer: (style == Style::BoardingPass).then(|| image("footer")).flatten(),
        };
        let serial_number = pass_json
            .get("serialNumber")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let transit = (style == Style::BoardingPass).then(|| {
            match style_object
                .and_then(|s| s.get("transitType"))
                .and_then(Value::as_str)
            {
                Some("PKTransitTypeTrain") => "train",
                Some("PKTransitTypeBus") => "bus",
                Some("PKTransitTypeBoat") => "boat",
                Some("PKTransitTypeGeneric") => "generic",
                _ => "air",
            }
        });
        Self {
            style,
            language: language.map(str::to_string),
            voided: voided || pass_json.get("voided").and_then(Value::as_bool) == Some(true),
            description: text("description").unwrap_or_default(),
            organization_name: text("organizationName").unwrap_or_default(),
            logo_text: text("logoText").filter(|t| !t.is_empty()),
            header: fields::row(style_object, "headerFields", &strings),
            primary: fields::row(style_object, "primaryFields", &strings),
            secondary: fields::row(style_object, "secondaryFields", &strings),
            auxiliary: fields::row(style_object, "auxiliaryFields", &strings),
            back: fields::row(style_object, "backFields", &strings),
            barcode: barcode_of(pass_json, &strings),
            transit,
            colors: Colors {
                background: color(pass_json, "backgroundColor"),
                foreground: color(pass_json, "foregroundColor"),
                label: color(pass_json, "labelColor"),
            },
            images,
            scope: scope_of(&serial_number),
            serial_number,
        }
    }

    /// From a signed `.pkpass`, in the language of `accept_language` (an `Accept-Language`
    /// header) the pass has, else its default texts.
    pub fn from_pkpass(bytes: &[u8], accept_language: Option<&str>) -> Result<Self, PreviewError> {
        let files = read_pkpass(bytes)?;
        let pass_json: Value = files
            .get("pass.json")
            .and_then(|b| serde_json::from_slice(b).ok())
            .filter(Value::is_object)
            .ok_or(PreviewError::NoPassJson)?;
        let language = pick_language(accept_language, &languages(&files));
        Ok(Self::from_rendered(
            &pass_json,
            &files,
            language.as_deref(),
            false,
        ))
    }

    /// The front of the pass, as an HTML fragment.
    pub fn front_html(&self) -> String {
        Front { p: self }.render().unwrap_or_default()
    }

    /// The back of the pass (its back fields), as an HTML fragment.
    pub fn back_html(&self) -> String {
        Back { p: self }.render().unwrap_or_default()
    }

    /// The pass's colours as CSS rules scoped to its fragments (put them in the page's
    /// `<style>`; every value is rebuilt from parsed numbers, nothing from pass.json is
    /// copied into CSS).
    pub fn css_rules(&self) -> String {
        let mut vars = String::new();
        let mut add = |name: &str, c: Option<(u8, u8, u8)>| {
            if let Some((r, g, b)) = c {
                vars.push_str(&format!("--pm-{name}:rgb({r},{g},{b});"));
            }
        };
        add("bg", self.colors.background);
        add("fg", self.colors.foreground);
        add("label", self.colors.label);
        format!(".pm-{}{{{vars}}}\n", self.scope)
    }

    /// The class that scopes [`Self::css_rules`] to this pass's fragments.
    pub fn scope_class(&self) -> String {
        format!("pm-{}", self.scope)
    }

    fn style_class(&self) -> &'static str {
        match self.style {
            Style::BoardingPass => "pm-style-boarding",
            Style::Coupon => "pm-style-coupon",
            Style::EventTicket => "pm-style-event",
            Style::Generic => "pm-style-generic",
            Style::StoreCard => "pm-style-store",
        }
    }

    /// Coupons and store cards show secondary and auxiliary fields in one row.
    fn merged_rows(&self) -> bool {
        matches!(self.style, Style::Coupon | Style::StoreCard)
    }
}

#[derive(Template)]
#[template(path = "preview/front.html")]
struct Front<'a> {
    p: &'a PassPreview,
}

#[derive(Template)]
#[template(path = "preview/back.html")]
struct Back<'a> {
    p: &'a PassPreview,
}

/// A short stable class suffix per serial number (fragments of several passes on one page
/// each get their own colours).
fn scope_of(serial: &str) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(serial.as_bytes())[..6])
}

fn strings_of(files: &BTreeMap<String, Vec<u8>>, language: &str) -> Strings {
    let table = files
        .get(&format!("{language}.lproj/pass.strings"))
        .and_then(|bytes| pkpass::strings::decode(bytes).ok())
        .and_then(|(text, _)| pkpass::strings::parse(&text).ok())
        .unwrap_or_default();
    Strings(table.into_iter().collect())
}

/// The best image named `name` (`@2x` if present; the language's own over the pass's), as a
/// `data:` URL, if it is a PNG.
fn image_url(files: &BTreeMap<String, Vec<u8>>, language: Option<&str>, name: &str) -> Option<String> {
    let mut candidates = Vec::new();
    for scale in ["@2x", "", "@3x"] {
        if let Some(l) = language {
            candidates.push(format!("{l}.lproj/{name}{scale}.png"));
        }
    }
    for scale in ["@2x", "", "@3x"] {
        candidates.push(format!("{name}{scale}.png"));
    }
    let bytes = candidates.iter().find_map(|c| files.get(c))?;
    pkpass::images::png_size(bytes)?;
    Some(format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

/// `rgb(r, g, b)` (what Wallet reads) or `#rrggbb`.
fn color(pass_json: &Value, key: &str) -> Option<(u8, u8, u8)> {
    let text = pass_json.get(key)?.as_str()?.trim();
    if let Some(hex) = text.strip_prefix('#') {
        if hex.len() != 6 {
            return None;
        }
        let byte = |i: usize| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok();
        return Some((byte(0)?, byte(2)?, byte(4)?));
    }
    let inner = text.strip_prefix("rgb(")?.strip_suffix(')')?;
    let mut parts = inner.split(',').map(|p| p.trim().parse::<u8>().ok());
    let rgb = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(rgb)
}

fn barcode_of(pass_json: &Value, strings: &Strings) -> Option<Barcode> {
    let candidates = pass_json
        .get("barcodes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .chain(pass_json.get("barcode"));
    for b in candidates {
        let Some(format) = b
            .get("format")
            .and_then(Value::as_str)
            .and_then(BarcodeFormat::from_pass_json)
        else {
            continue;
        };
        let Some(message) = b.get("message").and_then(Value::as_str) else {
            continue;
        };
        let alt_text = b
            .get("altText")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(|t| strings.text(t));
        return Some(Barcode {
            format,
            message: message.to_string(),
            svg: barcode::svg(format, message, alt_text.as_deref().unwrap_or("barcode")),
            alt_text,
        });
    }
    None
}

/// The files of a `.pkpass` (a zip), bounded in size.
pub fn read_pkpass(bytes: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, PreviewError> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| PreviewError::Archive(e.to_string()))?;
    let mut files = BTreeMap::new();
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| PreviewError::Archive(e.to_string()))?;
        if entry.is_dir() {
            continue;
        }
        let name = entry
            .name()
            .map_err(|e| PreviewError::Archive(e.to_string()))?
            .to_string();
        let mut content = Vec::new();
        (&mut entry)
            .take(MAX_PKPASS_BYTES)
            .read_to_end(&mut content)
            .map_err(|e| PreviewError::Archive(e.to_string()))?;
        files.insert(name, content);
    }
    Ok(files)
}

#[cfg(test)]
mod tests;
