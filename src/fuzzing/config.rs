//! The UCI file and the per-user / per-group config content the portal sends.

use crate::config::show::{quote, show};
use crate::config::uci::{self, Package, Value};
use crate::ocserv::conffile::{self, ALLOWED};

/// UCI text: the typed reading never panics and its problems name lines of the file; what the
/// low-level reader took, written back as a UCI file (as `uci export` writes it), reads again to
/// the same `uci show`.
pub fn uci(data: &[u8]) {
    let lines = data.split(|&b| b == b'\n').count() as u32;
    match crate::config::parse(data) {
        Ok(config) => {
            let _ = crate::config::show(&config);
        }
        Err(problems) => {
            assert!(!problems.is_empty(), "an error without a problem");
            for p in &problems {
                assert!(p.line <= lines, "line {} of {lines}: {}", p.line, p.message);
            }
        }
    }
    let (package, _) = uci::parse(data);
    let first = show("p", &package);
    let written = export(&package);
    let (again, errors) = uci::parse(written.as_bytes());
    assert!(errors.is_empty(), "{written:?} -> {errors:?}");
    assert_eq!(first, show("p", &again), "written as {written:?}");
}

/// A package as libuci's `uci export` writes it.
fn export(package: &Package) -> String {
    let mut out = String::new();
    for section in &package.sections {
        out += &format!("config {}", quote(&section.kind));
        if let Some(name) = &section.name {
            out += &format!(" {}", quote(name));
        }
        out.push('\n');
        for opt in &section.options {
            match &opt.value {
                Value::Single(v) => out += &format!("\toption {} {}\n", opt.name, quote(v)),
                Value::List(items) => {
                    for item in items {
                        out += &format!("\tlist {} {}\n", opt.name, quote(item));
                    }
                }
            }
        }
    }
    out
}

/// `config_content` of UpdateConfig (JSON or ocserv's lines): every directive it becomes has a
/// key from the allow-list and a value without a line break or `..`, and the file written from
/// them reads back the same. A config name that passes is a plain file name.
pub fn user_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(directives) = crate::services::config::directives(text) {
        for d in &directives {
            assert!(ALLOWED.contains(&d.key), "key {}", d.key);
            assert!(
                !d.value.contains(['\n', '\r']) && !d.value.contains(".."),
                "{} = {:?}",
                d.key,
                d.value
            );
        }
        let written = conffile::render(&directives);
        assert_eq!(conffile::parse(&written).as_ref(), Ok(&directives));
        let _ = conffile::check_main(&directives);
        let _ = conffile::check_per_user(&directives);
    }
    if conffile::check_name(text).is_ok() {
        assert!(!text.contains(['/', '\0']) && !text.starts_with('.') && text != "..");
    }
}
