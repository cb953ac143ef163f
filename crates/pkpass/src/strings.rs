//! `.lproj/pass.strings`: Apple's "old-style" strings files, UTF-8 or UTF-16 with a BOM.

/// How a strings file was encoded, so a rendered copy keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8 without a byte order mark.
    Utf8,
    /// UTF-8 with a byte order mark.
    Utf8Bom,
    /// UTF-16, little-endian, with a byte order mark.
    Utf16Le,
    /// UTF-16, big-endian, with a byte order mark.
    Utf16Be,
}

/// Decodes a strings file's bytes to text.
pub fn decode(bytes: &[u8]) -> Result<(String, Encoding), String> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        let text = std::str::from_utf8(rest).map_err(|e| format!("is not valid UTF-8: {e}"))?;
        return Ok((text.to_owned(), Encoding::Utf8Bom));
    }
    let utf16 = |rest: &[u8], enc: Encoding| {
        if !rest.len().is_multiple_of(2) {
            return Err("is UTF-16 with an odd number of bytes".to_owned());
        }
        let units = rest.chunks_exact(2).map(|c| match enc {
            Encoding::Utf16Le => u16::from_le_bytes([c[0], c[1]]),
            _ => u16::from_be_bytes([c[0], c[1]]),
        });
        char::decode_utf16(units)
            .collect::<Result<String, _>>()
            .map(|t| (t, enc))
            .map_err(|e| format!("is not valid UTF-16: {e}"))
    };
    if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        return utf16(rest, Encoding::Utf16Le);
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        return utf16(rest, Encoding::Utf16Be);
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|e| format!("is neither UTF-8 nor UTF-16 with a byte order mark ({e})"))?;
    Ok((text.to_owned(), Encoding::Utf8))
}

/// Encodes text back in `encoding`.
#[must_use]
pub fn encode(text: &str, encoding: Encoding) -> Vec<u8> {
    match encoding {
        Encoding::Utf8 => text.as_bytes().to_vec(),
        Encoding::Utf8Bom => [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat(),
        Encoding::Utf16Le => {
            let mut out = vec![0xFF, 0xFE];
            out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
            out
        }
        Encoding::Utf16Be => {
            let mut out = vec![0xFE, 0xFF];
            out.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
            out
        }
    }
}

/// Parses a strings file: `"key" = "value";` pairs, `/* */` and `//` comments.
/// The error names the line.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut p = Parser {
        chars: text.chars().collect(),
        pos: 0,
    };
    let mut entries = Vec::new();
    loop {
        p.skip_blank()?;
        if p.pos >= p.chars.len() {
            return Ok(entries);
        }
        let key = p.token()?;
        p.skip_blank()?;
        let value = if p.peek() == Some('=') {
            p.pos += 1;
            p.skip_blank()?;
            p.token()?
        } else {
            key.clone()
        };
        p.skip_blank()?;
        if p.peek() != Some(';') {
            return Err(p.err("expected ';' after an entry"));
        }
        p.pos += 1;
        entries.push((key, value));
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn line(&self) -> usize {
        1 + self.chars[..self.pos.min(self.chars.len())]
            .iter()
            .filter(|c| **c == '\n')
            .count()
    }

    fn err(&self, what: &str) -> String {
        format!("line {}: {what}", self.line())
    }

    fn skip_blank(&mut self) -> Result<(), String> {
        loop {
            match (self.peek(), self.chars.get(self.pos + 1).copied()) {
                (Some(c), _) if c.is_whitespace() || c == '\u{feff}' => self.pos += 1,
                (Some('/'), Some('*')) => {
                    let start = self.pos;
                    self.pos += 2;
                    loop {
                        match (self.peek(), self.chars.get(self.pos + 1).copied()) {
                            (Some('*'), Some('/')) => {
                                self.pos += 2;
                                break;
                            }
                            (Some(_), _) => self.pos += 1,
                            (None, _) => {
                                self.pos = start;
                                return Err(self.err("comment is never closed"));
                            }
                        }
                    }
                }
                (Some('/'), Some('/')) => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.pos += 1;
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    /// A quoted string or a bare word (letters, digits, `_.-:/$`).
    fn token(&mut self) -> Result<String, String> {
        match self.peek() {
            Some('"') => self.quoted(),
            Some(c) if c.is_alphanumeric() || "_.-:/$".contains(c) => {
                let mut out = String::new();
                while let Some(c) = self
                    .peek()
                    .filter(|c| c.is_alphanumeric() || "_.-:/$".contains(*c))
                {
                    out.push(c);
                    self.pos += 1;
                }
                Ok(out)
            }
            Some(c) => Err(self.err(&format!("unexpected '{c}'"))),
            None => Err(self.err("unexpected end of file")),
        }
    }

    fn quoted(&mut self) -> Result<String, String> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                self.pos = start;
                return Err(self.err("string is never closed"));
            };
            self.pos += 1;
            match c {
                '"' => return Ok(out),
                '\\' => {
                    let Some(e) = self.peek() else {
                        return Err(self.err("string is never closed"));
                    };
                    self.pos += 1;
                    match e {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        'U' | 'u' => {
                            let hex: String = self.chars.iter().skip(self.pos).take(4).collect();
                            let code = u32::from_str_radix(&hex, 16)
                                .ok()
                                .filter(|_| hex.len() == 4)
                                .ok_or_else(|| self.err("\\U needs four hex digits"))?;
                            self.pos += 4;
                            out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                        }
                        other => out.push(other),
                    }
                }
                c => out.push(c),
            }
        }
    }
}

/// `text` cut into pieces, each marked `true` when it is a comment (`/* … */`, or `// …` up to
/// the end of its line), scanning as [`parse`] does: quotes and their escapes are respected, and
/// a `/` inside a bare word is part of the word. An unclosed comment runs to the end. Joined
/// again the pieces are `text`.
#[must_use]
pub fn split_comments(text: &str) -> Vec<(&str, bool)> {
    let is_word = |c: char| c.is_alphanumeric() || "_.-:/$".contains(c);
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    let mut in_quotes = false;
    let mut in_word = false;
    while let Some((i, c)) = chars.next() {
        if in_quotes {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => in_quotes = false,
                _ => {}
            }
            continue;
        }
        let next = chars.peek().map(|(_, n)| *n);
        if c == '/' && !in_word && matches!(next, Some('*' | '/')) {
            let end = if next == Some('*') {
                text[i + 2..].find("*/").map_or(text.len(), |n| i + 2 + n + 2)
            } else {
                text[i..].find('\n').map_or(text.len(), |n| i + n)
            };
            if i > start {
                out.push((&text[start..i], false));
            }
            out.push((&text[i..end], true));
            start = end;
            while chars.peek().is_some_and(|(j, _)| *j < end) {
                chars.next();
            }
            continue;
        }
        in_quotes = c == '"';
        in_word = is_word(c);
    }
    if start < text.len() {
        out.push((&text[start..], false));
    }
    out
}

/// Escapes text inserted into a quoted strings-file value.
#[must_use]
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quoted_entries_and_comments() {
        let text = "/* header */\n\"a\" = \"A \\\"x\\\"\";\n// c\n\"b\"=\"\\U00e9\";\nbare = word;\n";
        let entries = parse(text).unwrap();
        assert_eq!(
            entries,
            vec![
                ("a".into(), "A \"x\"".into()),
                ("b".into(), "é".into()),
                ("bare".into(), "word".into())
            ]
        );
    }

    #[test]
    fn splits_comments_as_the_parser_reads_them() {
        let text = "/* a \"b\" */ \"k/*\" = \"v\\\" // no\"; // c {{ x }}\nurl//x = y; /* open";
        let pieces = split_comments(text);
        assert_eq!(pieces.iter().map(|(p, _)| *p).collect::<String>(), text);
        let comments: Vec<&str> = pieces.iter().filter(|(_, c)| *c).map(|(p, _)| *p).collect();
        assert_eq!(comments, vec!["/* a \"b\" */", "// c {{ x }}", "/* open"]);
    }

    #[test]
    fn names_the_line_of_a_missing_semicolon() {
        let err = parse("\"a\" = \"b\";\n\"c\" = \"d\"\n").unwrap_err();
        assert!(err.contains("line 3") || err.contains("line 2"), "{err}");
    }

    #[test]
    fn decodes_utf16_with_a_byte_order_mark_both_ways() {
        for enc in [Encoding::Utf16Le, Encoding::Utf16Be, Encoding::Utf8Bom] {
            let bytes = encode("\"k\" = \"é\";", enc);
            let (text, got) = decode(&bytes).unwrap();
            assert_eq!(got, enc);
            assert_eq!(parse(&text).unwrap(), vec![("k".into(), "é".into())]);
        }
    }

    #[test]
    fn never_panics_on_mangled_input() {
        let good = "/* c */ \"a\" = \"b \\U00e9\";\n// x\nk = v;\n\"q\" = \"{{ name }}\";\n";
        let chars: Vec<char> = good.chars().collect();
        let mut x = 0x1234_5678_u32;
        for round in 0..5000 {
            let mut c = chars.clone();
            for _ in 0..1 + round % 4 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let i = x as usize % c.len();
                c[i] = ['"', '\\', ';', '=', '/', '*', 'U', '\n', 'é'][x as usize % 9];
            }
            let text: String = c.into_iter().collect();
            let _ = parse(&text);
            let cut = x as usize % text.len();
            if text.is_char_boundary(cut) {
                let _ = parse(&text[..cut]);
            }
        }
    }
}
