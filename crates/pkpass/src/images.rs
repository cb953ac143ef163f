//! Image checks: an icon must exist; sizes against Apple's guidance are warnings.
use std::collections::BTreeMap;

use crate::keys::{self, Layouts};
use crate::problem::Findings;

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

/// Checks every `.png` file and the presence of an icon; `layouts` are the pass's (see
/// [`crate::pass_json::layouts`]), when it has a style.
pub fn check(files: &BTreeMap<String, Vec<u8>>, layouts: Option<Layouts>, findings: &mut Findings) {
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
        let Some(image) = keys::find_image(base) else {
            findings.warn(path.as_str(), "is not an image Wallet shows");
            continue;
        };
        if let Some(layouts) = layouts
            && !image.layouts.meets(layouts)
        {
            findings.warn(
                path.as_str(),
                format!(
                    "{} passes don't show a {base} image (Wallet shows it on {})",
                    layouts.names().join(" / "),
                    image.layouts.names().join(", ")
                ),
            );
        }
        if let Some((max_w, max_h)) = image.max_points {
            let (max_w, max_h) = (max_w * scale, max_h * scale);
            if w > max_w || h > max_h {
                findings.warn(
                    path.as_str(),
                    format!("is {w}x{h} pixels; Apple recommends at most {max_w}x{max_h} at @{scale}x"),
                );
            }
        }
    }
    if !has_icon {
        findings.error(
            "icon.png",
            "is missing: Wallet refuses a pass without an icon (icon.png, icon@2x.png or icon@3x.png)",
        );
    }
}
