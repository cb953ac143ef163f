//! Untrusted text on its way into the server log (device log messages, header values): every
//! control character is escaped, so a value can't end the line it is on and forge another
//! (`\n… request finished status=201`), nor drive a terminal with escape sequences.
use std::borrow::Cow;
use std::fmt::Write;

/// `text` with `\` doubled, `\n`, `\r`, `\t` written as such, and every other control
/// character (C0, DEL, C1) and the Unicode line and paragraph separators as `\u{…}`.
pub fn escape(text: &str) -> Cow<'_, str> {
    let needs = |c: char| c == '\\' || c.is_control() || matches!(c, '\u{2028}' | '\u{2029}');
    if !text.chars().any(needs) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn leaves_plain_text_alone_and_escapes_every_control_character() {
        assert_eq!(escape("plain text, ünïcode"), "plain text, ünïcode");
        assert_eq!(
            escape("a\nb\r\tc\u{1b}[31m\u{7f}\u{85}\u{2028}\\"),
            "a\\nb\\r\\tc\\u{1b}[31m\\u{7f}\\u{85}\\u{2028}\\\\"
        );
        assert!(!escape("x\n request finished status=201").contains('\n'));
    }
}
