//! Tests for the UCI parser: one per syntax rule, good and bad, with the expected line numbers.

use super::*;

fn ok(text: &str) -> Package {
    let (pkg, errors) = parse(text.as_bytes());
    assert!(
        errors.is_empty(),
        "unexpected errors {errors:?} for {text:?}"
    );
    pkg
}

fn errors(text: &str) -> Vec<(u32, String)> {
    parse(text.as_bytes())
        .1
        .into_iter()
        .map(|e| (e.line, e.message))
        .collect()
}

/// The single error of `text`, as (line, message).
fn error(text: &str) -> (u32, String) {
    let errs = errors(text);
    assert_eq!(
        errs.len(),
        1,
        "expected one error, got {errs:?} for {text:?}"
    );
    errs.into_iter().next().unwrap()
}

fn single(pkg: &Package, section: usize, option: &str) -> String {
    match &pkg.sections[section]
        .get(option)
        .unwrap_or_else(|| panic!("no option {option}"))
        .value
    {
        Value::Single(s) => s.clone(),
        v => panic!("{option} is {v:?}"),
    }
}

fn list(pkg: &Package, section: usize, option: &str) -> Vec<String> {
    match &pkg.sections[section].get(option).unwrap().value {
        Value::List(items) => items.clone(),
        v => panic!("{option} is {v:?}"),
    }
}

#[test]
fn sections_options_and_lists() {
    let pkg = ok(
        "config agent 'main'\n\toption id 'r1'\n\tlist allowed_uid '0'\n\tlist allowed_uid 100\n",
    );
    assert_eq!(pkg.sections.len(), 1);
    let s = &pkg.sections[0];
    assert_eq!(
        (s.kind.as_str(), s.name.as_deref(), s.line),
        ("agent", Some("main"), 1)
    );
    assert_eq!(single(&pkg, 0, "id"), "r1");
    assert_eq!(list(&pkg, 0, "allowed_uid"), ["0", "100"]);
    assert_eq!(s.get("allowed_uid").unwrap().line, 4);
}

#[test]
fn one_letter_keywords() {
    let pkg = ok("c agent main\no id r1\nl user a\nl user b\np ocserv-agent\n");
    assert_eq!(single(&pkg, 0, "id"), "r1");
    assert_eq!(list(&pkg, 0, "user"), ["a", "b"]);
    assert_eq!(pkg.declared_name, Some(("ocserv-agent".into(), 5)));
}

#[test]
fn keywords_must_be_exact_and_bare() {
    assert_eq!(error("conf agent\n").0, 1);
    assert!(error("configs agent\n")
        .1
        .contains("invalid command 'configs'"));
    assert!(error("'config' agent\n").1.contains("invalid command"));
    assert_eq!(error("config a\nopt x y\n").0, 2);
}

#[test]
fn anonymous_sections() {
    let pkg = ok("config rule\n\toption action deny\nconfig rule\n\toption action allow\n");
    assert_eq!(pkg.sections.len(), 2);
    assert!(pkg.sections.iter().all(|s| s.name.is_none()));
    assert_eq!(pkg.sections[1].line, 3);
    // An empty name is anonymous too, as in libuci.
    assert_eq!(ok("config rule ''\n").sections[0].name, None);
}

#[test]
fn single_quotes_are_literal() {
    let pkg = ok(r#"config x 'y'
option a 'back\slash "double" #hash ;semi'
"#);
    assert_eq!(single(&pkg, 0, "a"), r#"back\slash "double" #hash ;semi"#);
}

#[test]
fn double_quotes_take_backslash_as_next_char_literally() {
    let pkg = ok(r#"config x 'y'
option a "say \"hi\" \\ \n 'q' #h ;s"
"#);
    // No `\n` decoding: a backslash just makes the next character literal.
    assert_eq!(single(&pkg, 0, "a"), r#"say "hi" \ n 'q' #h ;s"#);
}

#[test]
fn unquoted_backslash_escapes() {
    let pkg = ok("config x 'y'\noption a one\\ word\\'s\\;\n");
    assert_eq!(single(&pkg, 0, "a"), "one word's;");
}

#[test]
fn quoted_and_unquoted_pieces_join() {
    let pkg = ok("config x 'y'\noption a 'a'\"b\"c'd e'\n");
    assert_eq!(single(&pkg, 0, "a"), "abcd e");
}

#[test]
fn multi_line_quoted_values_keep_newlines_and_count_lines() {
    let pkg = ok("config x 'y'\noption a 'line1\nline2'\noption b \"x\ny\"\noption c z\n");
    assert_eq!(single(&pkg, 0, "a"), "line1\nline2");
    assert_eq!(single(&pkg, 0, "b"), "x\ny");
    assert_eq!(pkg.sections[0].get("c").unwrap().line, 6);
    // An error after a multi-line value is reported on the right line.
    assert_eq!(error("config x 'y'\noption a 'l1\nl2\nl3'\nbogus\n").0, 5);
}

#[test]
fn comments() {
    let pkg = ok("# leading comment\n  # indented\nconfig x 'y' # trailing\n\toption a b # after value\n\toption c 'not # a comment'\n#option d e\n");
    assert_eq!(single(&pkg, 0, "a"), "b");
    assert_eq!(single(&pkg, 0, "c"), "not # a comment");
    assert!(pkg.sections[0].get("d").is_none());
    // libuci ends the line at an unquoted '#', even inside a word.
    let pkg = ok("config x 'y'\noption url http://h/#frag\n");
    assert_eq!(single(&pkg, 0, "url"), "http://h/");
}

#[test]
fn semicolons_separate_commands() {
    let pkg = ok("config x 'y'; option a 1; option b 2;list c 3\nconfig z; option d 4\n");
    assert_eq!(single(&pkg, 0, "a"), "1");
    assert_eq!(single(&pkg, 0, "b"), "2");
    assert_eq!(list(&pkg, 0, "c"), ["3"]);
    assert_eq!(single(&pkg, 1, "d"), "4");
    // A semicolon inside a word ends it.
    let pkg = ok("config x 'y'\noption a b;option c d\n");
    assert_eq!(single(&pkg, 0, "a"), "b");
    assert_eq!(single(&pkg, 0, "c"), "d");
}

#[test]
fn trailing_backslash_continues_the_line() {
    let pkg = ok("config x 'y'\noption a val\\\nue\noption \\\n b c\noption d e\n");
    assert_eq!(single(&pkg, 0, "a"), "value");
    assert_eq!(single(&pkg, 0, "b"), "c");
    assert_eq!(pkg.sections[0].get("d").unwrap().line, 6);
    // CRLF files continue too.
    let pkg = ok("config x 'y'\r\noption a val\\\r\nue\r\n");
    assert_eq!(single(&pkg, 0, "a"), "value");
    // Inside double quotes, backslash-newline joins without a newline.
    let pkg = ok("config x 'y'\noption a \"ab\\\ncd\"\n");
    assert_eq!(single(&pkg, 0, "a"), "abcd");
}

#[test]
fn crlf_and_tabs_are_white_space() {
    let pkg = ok("config\tx\t'y'\r\n\toption\ta\tb\r\n");
    assert_eq!(single(&pkg, 0, "a"), "b");
}

#[test]
fn later_option_overwrites_and_empty_unsets() {
    let pkg = ok("config x 'y'\noption a 1\noption a 2\noption b 1\noption b ''\noption c\n");
    assert_eq!(single(&pkg, 0, "a"), "2");
    assert_eq!(pkg.sections[0].get("a").unwrap().line, 3);
    assert!(pkg.sections[0].get("b").is_none());
    assert!(pkg.sections[0].get("c").is_none());
}

#[test]
fn list_after_option_keeps_the_option_as_first_item() {
    let pkg = ok("config x 'y'\noption a 1\nlist a 2\n");
    assert_eq!(list(&pkg, 0, "a"), ["1", "2"]);
    let pkg = ok("config x 'y'\nlist a 1\noption a 2\n");
    assert_eq!(single(&pkg, 0, "a"), "2");
}

#[test]
fn same_named_section_reopens() {
    let pkg = ok("config agent 'main'\noption a 1\nconfig rule\nconfig agent 'main'\noption b 2\n");
    assert_eq!(pkg.sections.len(), 2);
    assert_eq!(single(&pkg, 0, "a"), "1");
    assert_eq!(single(&pkg, 0, "b"), "2");
    let (line, msg) = error("config agent 'main'\nconfig portal 'main'\n");
    assert_eq!(line, 2);
    assert!(msg.contains("different type"), "{msg}");
}

#[test]
fn name_validation() {
    for bad in [
        "config x 'a-b'",
        "config x 'a b'",
        "config x 'ä'",
        "config x a.b",
    ] {
        let (line, msg) = error(&format!("\n{bad}\n"));
        assert_eq!(line, 2, "{bad}");
        assert!(msg.contains("invalid character in name"), "{bad}: {msg}");
    }
    let (line, msg) = error("config x 'y'\n\n\noption 'bad-name' v\n");
    assert_eq!(line, 4);
    assert!(msg.contains("invalid character in name"), "{msg}");
    assert!(error("config x 'y'\nlist a.b v\n").1.contains("name"));
}

#[test]
fn type_validation() {
    ok("config my-type.v2\n");
    let (line, msg) = error("config 'a b'\n");
    assert_eq!(line, 1);
    assert!(msg.contains("type field"), "{msg}");
    assert!(error("config 'tab\there'\n").1.contains("type field"));
}

#[test]
fn missing_arguments() {
    assert!(error("config\n")
        .1
        .contains("config without a section type"));
    assert!(error("config x 'y'\noption\n")
        .1
        .contains("option without name"));
    assert!(error("config x 'y'\nlist\n")
        .1
        .contains("list without name"));
    assert!(error("package\n").1.contains("package without name"));
}

#[test]
fn too_many_arguments() {
    let (line, msg) = error("config x 'y'\n\noption a b c\n");
    assert_eq!(line, 3);
    assert!(msg.contains("too many arguments"), "{msg}");
    assert!(error("config x y z\n").1.contains("too many arguments"));
    assert!(error("config x 'y'\nlist a b c\n").1.contains("too many"));
    assert!(error("package a b\n").1.contains("too many"));
}

#[test]
fn option_before_first_section() {
    let (line, msg) = error("# c\noption a b\n");
    assert_eq!(line, 2);
    assert!(msg.contains("before the first section"), "{msg}");
}

#[test]
fn unterminated_quotes_name_the_opening_line() {
    let (line, msg) = error("config x 'y'\noption a 'open\nmore\n");
    assert_eq!(line, 2);
    assert!(msg.contains("unterminated '"), "{msg}");
    let (line, msg) = error("config x 'y'\n\noption a \"open\n");
    assert_eq!(line, 3);
    assert!(msg.contains("unterminated \""), "{msg}");
    assert!(error("config x 'y'\noption a \"ends in backslash\\")
        .1
        .contains("unterminated"));
}

#[test]
fn invalid_utf8_values_are_errors() {
    let (pkg, errs) = parse(b"config x 'y'\noption a '\xff\xfe'\n");
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].line, 2);
    assert!(pkg.sections[0].get("a").is_none());
}

#[test]
fn errors_are_all_reported_and_parsing_recovers() {
    let text = "config agent 'main'\n\toption a 1 2\nbogus line\nconfig x 'y-z'\n\toption lost 1\nconfig rule\n\toption ok 1\n";
    let errs = errors(text);
    let lines: Vec<u32> = errs.iter().map(|e| e.0).collect();
    assert_eq!(lines, [2, 3, 4], "{errs:?}");
    let (pkg, _) = parse(text.as_bytes());
    // Options after the broken section line do not land in the section before it.
    assert!(pkg.sections[0].get("lost").is_none());
    assert_eq!(single(&pkg, 1, "ok"), "1");
}

#[test]
fn empty_and_blank_files() {
    assert_eq!(ok("").sections.len(), 0);
    assert_eq!(ok("\n\n   \n\t\n# only comments\n").sections.len(), 0);
    ok("config x 'y'"); // no trailing newline
    ok(";;;\n; ;\n");
}

/// A small deterministic generator, so failures reproduce without a fuzzing dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Feeds random bytes, and random mixes of UCI's special characters and keywords, to the
/// parser: it must never panic or loop, and every reported line must exist in the input.
#[test]
fn random_input_never_panics() {
    const PIECES: &[&[u8]] = &[
        b"config ",
        b"option ",
        b"list ",
        b"package ",
        b"c ",
        b"o ",
        b"l ",
        b"p ",
        b"'",
        b"\"",
        b"\\",
        b"\\\n",
        b"#",
        b";",
        b"\n",
        b"\r\n",
        b" ",
        b"\t",
        b"name",
        b"a-b",
        b"\xff",
        b"\0",
        b"x",
        b"_",
        b"@",
        b"=",
        b".",
        b"\xc3\xa4",
    ];
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut input = Vec::new();
    for round in 0..20_000 {
        input.clear();
        let len = (rng.next() % 64) as usize;
        for _ in 0..len {
            if round % 2 == 0 {
                input.push(rng.next() as u8);
            } else {
                let piece = PIECES[(rng.next() % PIECES.len() as u64) as usize];
                input.extend_from_slice(piece);
            }
        }
        let lines = input.iter().filter(|&&b| b == b'\n').count() as u32 + 1;
        let (pkg, errs) = parse(&input);
        for e in &errs {
            assert!(
                e.line >= 1 && e.line <= lines,
                "line {} of {lines} in {input:?}",
                e.line
            );
        }
        for s in &pkg.sections {
            assert!(is_valid_type(&s.kind));
            assert!(s.name.as_deref().is_none_or(is_valid_name));
            assert!(s.options.iter().all(|o| is_valid_name(&o.name)));
        }
    }
}
