//! Barcodes and QR codes drawn as inline SVG: no image file, nothing fetched, crisp at any size.
//!
//! QR codes come from `qrcode`; PDF417, Aztec and Code 128 from `rxing` (a port of ZXing, the
//! reference encoder family the scanners at gates are tested against). Both give a module
//! matrix; one drawer turns it into a single SVG path, so every format looks the same.
use rxing::{BarcodeFormat, EncodeHintValue, EncodeHints, MultiFormatWriter, Writer};

/// The barcode formats a pass may carry (`PKBarcodeFormat…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Qr,
    Pdf417,
    Aztec,
    Code128,
}

impl Format {
    /// The format named by pass.json's `format`, if it is one Wallet knows.
    pub fn from_pass_json(name: &str) -> Option<Self> {
        match name {
            "PKBarcodeFormatQR" => Some(Self::Qr),
            "PKBarcodeFormatPDF417" => Some(Self::Pdf417),
            "PKBarcodeFormatAztec" => Some(Self::Aztec),
            "PKBarcodeFormatCode128" => Some(Self::Code128),
            _ => None,
        }
    }

    /// A short lowercase name, used as a CSS class and a `data-format` attribute.
    pub fn css_name(self) -> &'static str {
        match self {
            Self::Qr => "qr",
            Self::Pdf417 => "pdf417",
            Self::Aztec => "aztec",
            Self::Code128 => "code128",
        }
    }

    /// Square 2-D codes are drawn square; PDF417 and Code 128 are wide.
    pub fn is_square(self) -> bool {
        matches!(self, Self::Qr | Self::Aztec)
    }
}

/// A module matrix: `dark[y][x]`.
struct Modules {
    width: usize,
    height: usize,
    dark: Vec<Vec<bool>>,
}

/// An SVG of `message` in `format`, or `None` when the message can't be encoded in it (too
/// long, or characters Code 128 can't carry).
pub fn svg(format: Format, message: &str, title: &str) -> Option<String> {
    let modules = match format {
        Format::Qr => qr_modules(message)?,
        other => rxing_modules(other, message)?,
    };
    Some(draw(&modules, format, title))
}

/// A QR code of `text` as an inline SVG (for a page's own URL, shown to desktop visitors).
pub fn qr_svg(text: &str) -> String {
    match qr_modules(text) {
        Some(modules) => draw(&modules, Format::Qr, "QR code"),
        // Only text longer than a QR code holds (about 2.9 KB) gets here.
        None => String::new(),
    }
}

fn qr_modules(text: &str) -> Option<Modules> {
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M).ok()?;
    let width = code.width();
    let colors = code.to_colors();
    let dark = colors
        .chunks(width)
        .map(|row| row.iter().map(|c| *c == qrcode::Color::Dark).collect())
        .collect();
    Some(Modules {
        width,
        height: width,
        dark,
    })
}

fn rxing_modules(format: Format, message: &str) -> Option<Modules> {
    let (barcode_format, width, height) = match format {
        Format::Pdf417 => (BarcodeFormat::PDF_417, 0, 0),
        Format::Aztec => (BarcodeFormat::AZTEC, 0, 0),
        Format::Code128 => (BarcodeFormat::CODE_128, 0, 0),
        Format::Qr => return None,
    };
    let hints = EncodeHints::default().with(EncodeHintValue::Margin("0".to_string()));
    // ZXing's encoders report what they can't encode as errors, but a port may still panic on
    // an input nobody tried; a pass's message is the holder's data, so contain it.
    let matrix = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        MultiFormatWriter.encode_with_hints(message, &barcode_format, width, height, &hints)
    }))
    .ok()?
    .ok()?;
    let (w, h) = (matrix.width() as usize, matrix.height() as usize);
    if w == 0 || h == 0 {
        return None;
    }
    let mut dark: Vec<Vec<bool>> = (0..h)
        .map(|y| (0..w).map(|x| matrix.get(x as u32, y as u32)).collect())
        .collect();
    let mut height = h;
    if format == Format::Code128 {
        // A 1-D code is one row of bars: keep one row, drawn tall below.
        dark.truncate(1);
        height = 1;
    }
    Some(Modules {
        width: w,
        height,
        dark,
    })
}

/// One `<path>` of horizontal runs, with a quiet zone, scaled by CSS to its box.
fn draw(modules: &Modules, format: Format, title: &str) -> String {
    use std::fmt::Write;
    let quiet = if format.is_square() { 2 } else { 4 };
    // A 1-D code's bars are drawn `bar_height` units tall (about a fifth of its width).
    let bar_height = if format == Format::Code128 {
        (modules.width / 5).max(20)
    } else {
        1
    };
    let view_w = modules.width + 2 * quiet;
    let view_h = modules.height * bar_height + 2 * if format.is_square() { quiet } else { 2 };
    let top = if format.is_square() { quiet } else { 2 };
    let mut path = String::new();
    for (y, row) in modules.dark.iter().enumerate() {
        let mut x = 0;
        while x < row.len() {
            if row[x] {
                let start = x;
                while x < row.len() && row[x] {
                    x += 1;
                }
                let _ = write!(
                    path,
                    "M{} {}h{}v{}h-{}z",
                    start + quiet,
                    y * bar_height + top,
                    x - start,
                    bar_height,
                    x - start
                );
            } else {
                x += 1;
            }
        }
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"pm-code pm-code-{name}\" data-format=\"{name}\" \
         viewBox=\"0 0 {view_w} {view_h}\" role=\"img\" aria-label=\"{title}\" shape-rendering=\"crispEdges\">\
         <rect width=\"{view_w}\" height=\"{view_h}\" fill=\"#fff\"/>\
         <path fill=\"#000\" d=\"{path}\"/></svg>",
        name = format.css_name(),
        title = askama_escape(title),
    )
}

fn askama_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pass_format_draws_an_svg() {
        for format in [Format::Qr, Format::Pdf417, Format::Aztec, Format::Code128] {
            let svg = svg(format, "MEMBER-0042", "barcode").unwrap();
            assert!(svg.starts_with("<svg"), "{format:?}");
            assert!(svg.contains(&format!("data-format=\"{}\"", format.css_name())));
            assert!(svg.matches('M').count() > 10, "{format:?} drew almost nothing");
        }
    }

    #[test]
    fn code_128_refuses_what_it_cannot_carry() {
        assert!(svg(Format::Code128, "Grüße ☃", "x").is_none());
    }

    #[test]
    fn the_title_is_escaped() {
        let svg = qr_svg("x");
        assert!(svg.contains("aria-label=\"QR code\""));
        assert!(!super::svg(Format::Qr, "x", "<b>").unwrap().contains("<b>"));
    }
}
