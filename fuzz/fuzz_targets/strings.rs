//! `.lproj/pass.strings` bytes: decoding (UTF-8 / UTF-16 with a BOM) and parsing must never
//! panic; comments are found where the parser finds them; and what the renderer writes into a strings file must read back as written:
//! an escaped value parses back to itself, and encoded text decodes back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pkpass::strings::{self, Encoding};

fuzz_target!(|data: &[u8]| {
    if let Ok((text, _)) = strings::decode(data) {
        let parsed = strings::parse(&text);
        // The renderer leaves comments alone: it must see them exactly where the parser does.
        let pieces = strings::split_comments(&text);
        assert_eq!(pieces.iter().map(|(p, _)| *p).collect::<String>(), text);
        if let Ok(entries) = parsed {
            let blanked: String = pieces.iter().map(|&(p, c)| if c { " " } else { p }).collect();
            assert_eq!(
                strings::parse(&blanked),
                Ok(entries),
                "comments split differently"
            );
        }
    }

    // The same bytes as a value the renderer inserts.
    let value = String::from_utf8_lossy(data);
    let line = format!("\"key\" = \"{}\";\n", strings::escape(&value));
    let parsed = strings::parse(&line).expect("an escaped value parses");
    assert_eq!(parsed, vec![("key".to_owned(), value.clone().into_owned())]);

    for encoding in [
        Encoding::Utf8,
        Encoding::Utf8Bom,
        Encoding::Utf16Le,
        Encoding::Utf16Be,
    ] {
        let bytes = strings::encode(&line, encoding);
        let (back, found) = strings::decode(&bytes).expect("encoded text decodes");
        assert_eq!(back, line);
        assert_eq!(found, encoding);
    }
});
