//! The parser against libuci: each case is a whole file and what libuci (openwrt/uci, strict
//! mode, as `uci show` loads a file) makes of it, written out: the `uci show` lines, or the
//! error and its line. Cases 1-10 are issue 14's, found by comparing with the real libuci.

use super::*;

/// What a file means: `uci show p` output, or `line: reason`; then the lines whose text after
/// a glued `;` was dropped, if any.
fn read(input: &[u8]) -> String {
    let (pkg, errors) = parse(input);
    let mut out = match errors.first() {
        // libuci's reason; the agent adds the word after "invalid command".
        Some(e) if e.message.starts_with("invalid command") => {
            format!("error {}: invalid command", e.line)
        }
        Some(e) => format!("error {}: {}", e.line, e.message),
        None => crate::config::show::show("p", &pkg),
    };
    if !pkg.dropped.is_empty() {
        out += &format!("dropped {:?}", pkg.dropped);
    }
    out
}

/// Every case: the file, and libuci's reading of it.
const CASES: &[(&str, &[u8], &str)] = &[
    // 1. An empty value does not unset: the earlier value stays.
    (
        "1a empty option after a list",
        b"config rule\n\toption action 'deny'\n\tlist user 'mallory'\n\toption user ''\n",
        "p.@rule[0]=rule\np.@rule[0].action='deny'\np.@rule[0].user='mallory'\n",
    ),
    (
        "1b empty option after a value",
        b"config rule\n\toption enabled '0'\n\toption enabled ''\n",
        "p.@rule[0]=rule\np.@rule[0].enabled='0'\n",
    ),
    (
        "1c bare option after a value",
        b"config agent 'main'\n\toption id 'r1'\n\toption id\n",
        "p.main=agent\np.main.id='r1'\n",
    ),
    (
        "1d empty option never set",
        b"config agent 'main'\n\toption id ''\n",
        "p.main=agent\n",
    ),
    // 2. A `;` glued to an unquoted word ends the line; the rest is dropped.
    (
        "2a glued ; in a list",
        b"config rule\n\tlist user alice; list user mallory\n",
        "p.@rule[0]=rule\np.@rule[0].user='alice'\ndropped [2]",
    ),
    (
        "2b glued ; after a value",
        b"config rule\n\toption action deny;option enabled 0\n",
        "p.@rule[0]=rule\np.@rule[0].action='deny'\ndropped [2]",
    ),
    (
        "2c glued ; after a type",
        b"config rule;option action deny\n",
        "p.@rule[0]=rule\ndropped [1]",
    ),
    (
        "2d glued ; at the end of a line drops nothing",
        b"config rule\n\toption action deny;\n",
        "p.@rule[0]=rule\np.@rule[0].action='deny'\n",
    ),
    (
        "2e quoted word then ; goes on",
        b"config rule\n\toption action 'deny';option enabled 0\n",
        "p.@rule[0]=rule\np.@rule[0].action='deny'\np.@rule[0].enabled='0'\n",
    ),
    (
        "2f space then ; goes on",
        b"config rule\n\toption action deny ;option enabled 0\n",
        "p.@rule[0]=rule\np.@rule[0].action='deny'\np.@rule[0].enabled='0'\n",
    ),
    // 3. A NUL ends the physical line and the next line is read onto it.
    (
        "3 NUL in a comment swallows the next line",
        b"config rule\n\toption action 'deny'\t# \0\n\toption action 'allow'\n\tlist user 'mallory'\n",
        "p.@rule[0]=rule\np.@rule[0].action='deny'\np.@rule[0].user='mallory'\n",
    ),
    // 4. Other `;` forms are errors.
    (
        "4a ; as a section name",
        b"config rule ; option action 'deny'\n",
        "error 1: too many arguments",
    ),
    (
        "4b trailing space ;",
        b"config rule\n\toption action deny ;\n",
        "error 2: invalid command",
    ),
    (
        "4c ; at line start",
        b"config rule\n;option action deny\n",
        "error 2: invalid command",
    ),
    (
        "4d ;;",
        b"config rule\n\toption action deny ;;\n",
        "error 2: invalid command",
    ),
    // 5. Backslash-newline: the next line's first blank ends the word.
    (
        "5a continued value then indentation",
        b"config rule\n\tlist user \\\n\t\t'mallory'\n",
        "error 3: too many arguments",
    ),
    (
        "5b continued keyword then indentation",
        b"config rule\n\tlist \\\n\tuser x\n",
        "error 3: insufficient arguments",
    ),
    (
        "5c a line of only a backslash",
        b"config rule\n\\\n",
        "error 2: invalid command",
    ),
    (
        "5d continuation inside a word",
        b"config rule\n\toption ac\\\ntion deny\n",
        "p.@rule[0]=rule\np.@rule[0].action='deny'\n",
    ),
    // 6. Command words split on space and tab only.
    (
        "6a vertical tab",
        b"config\x0brule\n",
        "error 1: invalid command",
    ),
    ("6b form feed", b"config\x0crule\n", "error 1: invalid command"),
    ("6c carriage return", b"config\rrule\n", "error 1: invalid command"),
    // 7. A NUL inside quotes: the quote never ends.
    (
        "7 NUL in a quoted path",
        b"config ocserv 'ocserv'\n\toption per_user_dir '/a\0b'\n",
        "error 2: EOF with unterminated '",
    ),
    // 8. Package names: [A-Za-z0-9_-].
    (
        "8a package '.'",
        b"package '.'\nconfig rule\n",
        "error 1: invalid character in name field",
    ),
    (
        "8b package with a dash is read and ignored",
        b"package 'ocserv-agent'\nconfig rule\n",
        "p.@rule[0]=rule\n",
    ),
    // 9. What libuci accepts.
    (
        "9a continuation after a complete command",
        b"config rule\n\tlist user 'bob' \\\n\tlist user 'mallory'\n",
        "p.@rule[0]=rule\np.@rule[0].user='bob' 'mallory'\n",
    ),
    (
        "9b NUL at the start of a line",
        b"config rule\n\0option action allow\n\toption action deny\n",
        "p.@rule[0]=rule\np.@rule[0].action='deny'\n",
    ),
    (
        "9c NUL-only line",
        b"config rule\n\0\n\toption action deny\n",
        "p.@rule[0]=rule\np.@rule[0].action='deny'\n",
    ),
    (
        "9d errors in dropped text",
        b"config rule\n\toption action deny;option 'bad name' x y z\n",
        "p.@rule[0]=rule\np.@rule[0].action='deny'\ndropped [2]",
    ),
    // 10. `@type[N]` counts named sections too.
    (
        "10 numbering",
        b"config rule 'a'\nconfig rule\n\toption action deny\n",
        "p.a=rule\np.@rule[1]=rule\np.@rule[1].action='deny'\n",
    ),
    // The rules every file relies on.
    (
        "quotes join and escape",
        b"config agent 'main'\n\toption id 'a'\"b\\\"c\"d\\ e\n",
        "p.main=agent\np.main.id='ab\"cd e'\n",
    ),
    (
        "single quotes take backslashes literally",
        b"config agent 'main'\n\toption id 'a\\b'\n",
        "p.main=agent\np.main.id='a\\b'\n",
    ),
    (
        "# ends the line mid-word",
        b"config agent 'main'\n\toption id ab#cd\n",
        "p.main=agent\np.main.id='ab'\n",
    ),
    (
        "a quoted value spans lines",
        b"config agent 'main'\n\toption id 'a\nb'\n\toption socket x\n",
        "p.main=agent\np.main.id='a\nb'\np.main.socket='x'\n",
    ),
    (
        "abbreviated commands",
        b"c rule\n\to action deny\n\tl user a\n",
        "p.@rule[0]=rule\np.@rule[0].action='deny'\np.@rule[0].user='a'\n",
    ),
    (
        "a list after an option keeps both; an option after a list replaces it",
        b"config rule\n\toption user a\n\tlist user b\n\tlist group g\n\toption group h\n",
        "p.@rule[0]=rule\np.@rule[0].user='a' 'b'\np.@rule[0].group='h'\n",
    ),
    (
        "an empty list item is an item",
        b"config rule\n\tlist user ''\n",
        "p.@rule[0]=rule\np.@rule[0].user=''\n",
    ),
    (
        "a named section reopens",
        b"config agent 'main'\n\toption id a\nconfig rule\nconfig agent 'main'\n\toption socket s\n",
        "p.main=agent\np.main.id='a'\np.main.socket='s'\np.@rule[0]=rule\n",
    ),
    (
        "a named section of another type",
        b"config agent 'main'\nconfig rule 'main'\n",
        "error 2: section of different type overwrites prior section with same name",
    ),
    (
        "option before any section",
        b"option id x\n",
        "error 1: option/list command found before the first section",
    ),
    ("config alone", b"config\n", "error 1: invalid command"),
    (
        "config alone at the end of the file",
        b"config",
        "error 1: config without name",
    ),
    (
        "bad option name",
        b"config rule\n\toption a.b x\n",
        "error 2: invalid character in name field",
    ),
    (
        "bad section type",
        b"config 'a b'\n",
        "error 1: invalid character in type field",
    ),
    (
        "unterminated double quote",
        b"config rule\n\toption a \"x\n",
        "error 2: EOF with unterminated \"",
    ),
    (
        "the first error stops reading",
        b"config rule\n\toption a b c\n\toption d e f\n",
        "error 2: too many arguments",
    ),
    (
        "a last line without a newline",
        b"config rule\n\toption action deny",
        "p.@rule[0]=rule\np.@rule[0].action='deny'\n",
    ),
    (
        "a long line grows the buffer",
        b"config rule\n\toption action 'deny-deny-deny-deny-deny-deny-deny-deny-deny-deny-deny-deny'\n",
        "p.@rule[0]=rule\np.@rule[0].action='deny-deny-deny-deny-deny-deny-deny-deny-deny-deny-deny-deny'\n",
    ),
    (
        "a keyword in quotes is not a keyword",
        b"'config' rule\n",
        "error 1: invalid command",
    ),
    (
        "comments and blank lines",
        b"# head\n\n  \t\nconfig rule # tail\n\t# option action allow\n",
        "p.@rule[0]=rule\n",
    ),
];

#[test]
fn every_case_reads_as_libuci_reads_it() {
    let mut wrong = Vec::new();
    for (name, input, libuci) in CASES {
        let ours = read(input);
        if ours != *libuci {
            wrong.push(format!("{name}:\n  libuci: {libuci:?}\n  ours:   {ours:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn invalid_utf8_is_refused_on_purpose() {
    // libuci takes any bytes; the agent compares names and builds paths from these values, so
    // it refuses what is not text (README, "UCI").
    let (_, errors) = parse(b"config rule\n\tlist user 'j\xf6rg'\n");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].line, 2);
    assert!(errors[0].message.contains("UTF-8"), "{}", errors[0].message);
}

#[test]
fn lines_and_kinds_are_kept_for_reports() {
    let (pkg, errors) = parse(b"config agent 'main'\n\toption id 'r1'\n\n\tlist allowed_uid 0\n");
    assert!(errors.is_empty());
    let s = &pkg.sections[0];
    assert_eq!(
        (s.kind.as_str(), s.name.as_deref(), s.line),
        ("agent", Some("main"), 1)
    );
    assert_eq!(s.get("id").unwrap().line, 2);
    assert_eq!(s.get("allowed_uid").unwrap().line, 4);
    assert_eq!(
        s.get("allowed_uid").unwrap().value,
        Value::List(vec!["0".into()])
    );
}

#[test]
fn the_declared_package_is_kept_for_a_warning() {
    let (pkg, errors) = parse(b"package other\nconfig rule\n");
    assert!(errors.is_empty());
    assert_eq!(pkg.declared_name, Some(("other".to_string(), 1)));
}

/// libuci's LINEBUF_MAX: a line (with what a backslash or an open quote joins to it) that does
/// not fit 4096 bytes is "line too long", as `uci` says. Before, the buffer doubled without
/// end, and each NUL byte in a line doubled it once more: fuzz/fuzz_targets/uci.rs found 3.7 KB
/// that took 2 GB (fuzz/regressions/uci).
#[test]
fn a_line_longer_than_libucis_buffer_is_too_long() {
    let fits = format!("config a\n\toption b '{}'\n", "x".repeat(4000));
    let (package, errors) = parse(fits.as_bytes());
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(package.sections[0].options.len(), 1);
    for long in [
        format!("config a\n\toption b '{}'\n", "x".repeat(4100)),
        format!("config a\n\toption b 'x\n{}'\n", "y\n".repeat(2100)),
        // A NUL ends what strlen sees, so each of these lines doubles the buffer once.
        format!("config a\n\toption b x{}\n", "y\0\n".repeat(40)),
    ] {
        let (_, errors) = parse(long.as_bytes());
        assert_eq!(errors.len(), 1, "{:?}", &long[..40]);
        assert_eq!(errors[0].message, "line too long");
    }
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut rng = fastrand::Rng::with_seed(14);
    let alphabet = b"co lp'\"\\;#\n\t\r\x0b\0a_-.";
    for _ in 0..20_000 {
        let len = rng.usize(0..80);
        let input: Vec<u8> = (0..len)
            .map(|_| alphabet[rng.usize(..alphabet.len())])
            .collect();
        let _ = parse(&input);
    }
}
