//! Image checks: an icon must exist; sizes against Apple's guidance are warnings.
use std::collections::BTreeMap;

use crate::problem::Findings;

/// Image kinds Wallet reads, with the largest size Apple recommends at 1x (points) and the styles
/// that show them.
const IMAGES: &[(&str, (u32, u32), &[&str])] = &[
    (
        "icon",
        (38, 38),
        &["boardingPass", "coupon", "eventTicket", "generic", "storeCard"],
    ),
    (
        "logo",
        (160, 50),
        &["boardingPass", "coupon", "eventTicket", "generic", "storeCard"],
    ),
    ("strip", (375, 144), &["coupon", "eventTicket", "storeCard"]),
    ("background", (180, 220), &["eventTicket"]),
    ("thumbnail", (90, 90), &["eventTicket", "generic"]),
    ("footer", (286, 15), &["boardingPass"]),
    ("primaryLogo", (126, 30), &["eventTicket"]),
    ("secondaryLogo", (135, 12), &["eventTicket"]),
    ("personalizationLogo", (150, 40), &["storeCard"]),
];

/// Width and height from a PNG's IHDR chunk, or `None` when the bytes aren't a PNG.
#[must_use]
pub fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.len() < 24 || &bytes[..8] != b"\x89PNG\r\n\x1a\n" || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let w = u32::from_be_bytes(bytes[16..20].try_into().ok()?);
    let h = u32::from_be_bytes(bytes[20..24].try_into().ok()?);
    Some((w, h))
}

/// Splits `de.lproj/icon@2x.png` into (`icon`, 2).
fn image_name(path: &str) -> Option<(&str, u32)> {
    let file = path.rsplit('/').next()?;
    let stem = file.strip_suffix(".png")?;
    for (suffix, scale) in [("@2x", 2), ("@3x", 3)] {
        if let Some(base) = stem.strip_suffix(suffix) {
            return Some((base, scale));
        }
    }
    Some((stem, 1))
}

/// Checks every `.png` file and the presence of an icon.
pub fn check(files: &BTreeMap<String, Vec<u8>>, style: Option<&str>, findings: &mut Findings) {
    let mut has_icon = false;
    for (path, bytes) in files {
        let Some((base, scale)) = image_name(path) else {
            continue;
        };
        let Some((w, h)) = png_size(bytes) else {
            findings.error(path.as_str(), "is not a PNG image");
            continue;
        };
        if base == "icon" {
            has_icon = true;
        }
        let Some((_, (max_w, max_h), styles)) = IMAGES.iter().find(|(n, _, _)| *n == base) else {
            findings.warn(path.as_str(), "is not an image Wallet shows");
            continue;
        };
        if let Some(style) = style
            && !styles.contains(&style)
        {
            findings.warn(path.as_str(), format!("{style} passes don't show a {base} image"));
        }
        let (max_w, max_h) = (max_w * scale, max_h * scale);
        if w > max_w || h > max_h {
            findings.warn(
                path.as_str(),
                format!("is {w}x{h} pixels; Apple recommends at most {max_w}x{max_h} at @{scale}x"),
            );
        }
    }
    if !has_icon {
        findings.error(
            "icon.png",
            "is missing: Wallet refuses a pass without an icon (icon.png, icon@2x.png or icon@3x.png)",
        );
    }
}
