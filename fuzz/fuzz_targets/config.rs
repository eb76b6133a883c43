//! The keepalived.conf lexer and parser on any text: never a panic, and every diagnostic is
//! located: in the file read, on one of its lines (line 0, "the whole file", only for
//! messages about the file as a whole, which a text given as a string never gets); and two
//! parses of one text give the same diagnostics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vrrp_agent::config::{LoadOptions, parse_str};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // `include` reads other files (any path, globs): the fuzzer would read the machine's files
    // (or /dev/zero). The include machinery has its own tests; here, one text and nothing else.
    if text.contains("include") {
        return;
    }
    for config_id in [None, Some("fuzz".to_string())] {
        let opts = LoadOptions { config_id };
        let loaded = match parse_str(&text, "fuzz.conf", &opts) {
            Ok(l) => l,
            Err(e) => panic!("parse_str returned Err for a string: {e}"),
        };
        let lines = text.split('\n').count();
        for d in &loaded.diagnostics {
            assert_eq!(d.file.to_str(), Some("fuzz.conf"), "diagnostic in another file: {d}");
            assert!(d.line >= 1 && d.line <= lines, "diagnostic outside the text's {lines} lines: {d}");
            assert!(!d.message.is_empty(), "diagnostic without a message at {}:{}", d.file.display(), d.line);
        }
        // The same text, the same report (no hash-map order leaking into the messages).
        let again = parse_str(&text, "fuzz.conf", &opts).unwrap_or_else(|e| panic!("second parse: {e}"));
        assert_eq!(again.diagnostics, loaded.diagnostics, "two parses of one text disagree");
    }
});
