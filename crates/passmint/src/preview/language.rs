//! Which of a pass's languages (`<lang>.lproj/pass.strings`) a visitor reads, from their
//! browser's `Accept-Language`.
use std::collections::BTreeMap;

/// The languages a pass is localized into: the `<lang>` of every `<lang>.lproj/pass.strings`.
pub fn languages(files: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    files
        .keys()
        .filter_map(|name| name.strip_suffix(".lproj/pass.strings"))
        .filter(|lang| !lang.is_empty() && !lang.contains('/'))
        .map(str::to_string)
        .collect()
}

/// The best of `available` for `accept_language` (RFC 9110 weights; `de-CH` also matches a
/// pass's `de`, and `pt_BR` a browser's `pt-BR`), or `None` when nothing matches, in which
/// case the pass's texts are shown as pass.json writes them (its default).
pub fn pick(accept_language: Option<&str>, available: &[String]) -> Option<String> {
    let header = accept_language?;
    let mut wanted: Vec<(u16, usize, String)> = header
        .split(',')
        .take(32)
        .enumerate()
        .filter_map(|(order, item)| {
            let mut parts = item.split(';');
            let tag = parts.next()?.trim();
            if tag.is_empty() || tag == "*" || tag.len() > 35 {
                return None;
            }
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q=").map(str::to_string))
                .map_or(Some(1000), |q| weight(&q))?;
            (q > 0).then(|| (q, order, normalize(tag)))
        })
        .collect();
    wanted.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let normalized: Vec<(String, &String)> = available.iter().map(|a| (normalize(a), a)).collect();
    for (_, _, tag) in &wanted {
        if let Some((_, found)) = normalized.iter().find(|(n, _)| n == tag) {
            return Some((*found).clone());
        }
        let primary = tag.split('-').next().unwrap_or(tag);
        if let Some((_, found)) = normalized
            .iter()
            .find(|(n, _)| n == primary || n.split('-').next() == Some(primary))
        {
            return Some((*found).clone());
        }
    }
    None
}

fn normalize(tag: &str) -> String {
    tag.trim().replace('_', "-").to_ascii_lowercase()
}

/// `q=0.8` as thousandths; `None` for a malformed weight (the item is ignored).
fn weight(q: &str) -> Option<u16> {
    let value: f32 = q.trim().parse().ok()?;
    (0.0..=1.0)
        .contains(&value)
        .then(|| (value * 1000.0).round() as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn langs(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_heaviest_language_the_pass_has_wins() {
        let have = langs(&["de", "en", "it"]);
        assert_eq!(
            pick(Some("fr;q=1, it;q=0.9, de;q=0.5"), &have).as_deref(),
            Some("it")
        );
        assert_eq!(pick(Some("de-CH"), &have).as_deref(), Some("de"));
        assert_eq!(pick(Some("pt-BR"), &langs(&["pt_BR"])).as_deref(), Some("pt_BR"));
        assert_eq!(
            pick(Some("en-GB,en;q=0.8"), &langs(&["en-GB", "en"])).as_deref(),
            Some("en-GB")
        );
    }

    #[test]
    fn no_match_or_no_header_means_the_default() {
        let have = langs(&["de"]);
        assert_eq!(pick(None, &have), None);
        assert_eq!(pick(Some("fr, *;q=0.1"), &have), None);
        assert_eq!(pick(Some("de;q=0"), &have), None);
        assert_eq!(pick(Some(";;;,,,q=x"), &have), None);
    }

    #[test]
    fn languages_come_from_lproj_folders() {
        let mut files = BTreeMap::new();
        files.insert("de.lproj/pass.strings".to_string(), vec![]);
        files.insert("de.lproj/logo.png".to_string(), vec![]);
        files.insert("pass.json".to_string(), vec![]);
        assert_eq!(languages(&files), vec!["de".to_string()]);
    }
}
