//! Writes a [`Package`] the way `uci show <package>` prints it, so operators can compare our
//! effective configuration with what `uci` tools see, and scripts can parse it the same way.

use super::uci::{Package, Value};
use std::fmt::Write;

/// Renders `pkg.section=type` and `pkg.section.option='value'` lines.
///
/// Anonymous sections are addressed as `@type[N]`, N counting every section of that type
/// before it, named ones included (as libuci does); lists print as space-separated quoted
/// items; an embedded `'` becomes `'\''`.
pub fn show(package_name: &str, package: &Package) -> String {
    let mut out = String::new();
    let mut seen_of_kind: Vec<(&str, usize)> = Vec::new();
    for section in &package.sections {
        let n = match seen_of_kind.iter_mut().find(|(k, _)| *k == section.kind) {
            Some((_, n)) => {
                *n += 1;
                *n - 1
            }
            None => {
                seen_of_kind.push((&section.kind, 1));
                0
            }
        };
        let address = match &section.name {
            Some(name) => name.clone(),
            None => format!("@{}[{n}]", section.kind),
        };
        let _ = writeln!(out, "{package_name}.{address}={}", section.kind);
        for opt in &section.options {
            let _ = write!(out, "{package_name}.{address}.{}=", opt.name);
            match &opt.value {
                Value::Single(v) => out.push_str(&quote(v)),
                Value::List(items) => {
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            out.push(' ');
                        }
                        out.push_str(&quote(item));
                    }
                }
            }
            out.push('\n');
        }
    }
    out
}

/// Single-quotes a value for `uci show` and sh: `it's` becomes `'it'\''s'`.
pub fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::uci::parse;

    #[test]
    fn shows_named_anonymous_and_lists() {
        let (pkg, errors) = parse(
            b"config agent 'main'\n\toption id 'r1'\nconfig rule\n\tlist user 'a'\n\tlist user \"it's\"\nconfig rule\n\toption action deny\n",
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            show("ocserv-agent", &pkg),
            "ocserv-agent.main=agent\n\
             ocserv-agent.main.id='r1'\n\
             ocserv-agent.@rule[0]=rule\n\
             ocserv-agent.@rule[0].user='a' 'it'\\''s'\n\
             ocserv-agent.@rule[1]=rule\n\
             ocserv-agent.@rule[1].action='deny'\n"
        );
    }

    #[test]
    fn quoting_round_trips_through_sh_rules() {
        assert_eq!(quote("plain"), "'plain'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a'b"), "'a'\\''b'");
        // What `uci show` prints parses back to the same value with our lexer.
        let (pkg, errors) =
            parse(format!("config x 'y'\noption v {}\n", quote("a'b c")).as_bytes());
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            pkg.sections[0].get("v").unwrap().value,
            Value::Single("a'b c".into())
        );
    }
}
