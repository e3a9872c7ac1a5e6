//! UCI files (`/etc/config/*`) as libuci reads them: `uci_read.rs` reads the commands
//! exactly as libuci's `uci_import` does, and [`parse`] applies them as its `uci_set`,
//! `uci_add_list` and `uci_add_section` do:
//! - `config TYPE` adds an anonymous section; `config TYPE 'name'` adds a named one, or reopens
//!   the section of that name (another type is an error: libuci's strict mode);
//! - `option NAME VALUE` sets or replaces the value in place; an empty or missing value changes
//!   nothing (libuci's `uci_set` of an empty value to an option found by the parser returns
//!   without deleting it);
//! - `list NAME VALUE` appends (an empty item too), turning an option of that name into the
//!   first item; a later `option` replaces the whole list;
//! - `package NAME` is checked and otherwise ignored (a file is loaded under its own name).
//!
//! Reading stops at the first error, as libuci's does. Where the agent departs from libuci, it
//! says so: values must be UTF-8 (libuci takes any bytes; the agent compares and builds paths
//! from them), and text after a `;` glued to an unquoted word, which libuci drops without a
//! word, is listed in [`Package::dropped`] for `check-config` to warn about.

use super::uci_read::{valid_str, Command, Reader};
use std::fmt;

/// A parsed file: its sections in file order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Package {
    /// The name given by a `package` line, if the file has one (libuci ignores it).
    pub declared_name: Option<(String, u32)>,
    /// The sections in file order.
    pub sections: Vec<Section>,
    /// Lines where text after a `;` glued to an unquoted word was dropped, as libuci drops it.
    pub dropped: Vec<u32>,
}

/// One `config` section.
#[derive(Clone, Debug, PartialEq)]
pub struct Section {
    /// The section type (`config <type>`).
    pub kind: String,
    /// `None` for an anonymous section, addressed as `@type[N]`.
    pub name: Option<String>,
    /// Line of the `config` command that opened it.
    pub line: u32,
    /// The options and lists, in the order first set.
    pub options: Vec<Opt>,
}

/// One option or list, with the line that last set it.
#[derive(Clone, Debug, PartialEq)]
pub struct Opt {
    /// The option's name.
    pub name: String,
    /// Its value.
    pub value: Value,
    /// The line that last set it.
    pub line: u32,
}

/// What an option holds.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `option name 'value'`.
    Single(String),
    /// `list name 'value'` lines, in order.
    List(Vec<String>),
}

/// A syntax error and the line it was found on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// Where it was found.
    pub line: u32,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl Section {
    /// Looks an option up by name.
    pub fn get(&self, name: &str) -> Option<&Opt> {
        self.options.iter().find(|o| o.name == name)
    }

    /// `option`: an empty value changes nothing; otherwise the value is set or replaced in
    /// place (a list included).
    fn set(&mut self, name: String, value: String, line: u32) {
        if value.is_empty() {
            return;
        }
        let opt = Opt {
            name,
            value: Value::Single(value),
            line,
        };
        match self.options.iter().position(|o| o.name == opt.name) {
            Some(i) => self.options[i] = opt,
            None => self.options.push(opt),
        }
    }

    fn add_list(&mut self, name: String, item: String, line: u32) {
        match self.options.iter_mut().find(|o| o.name == name) {
            Some(opt) => {
                opt.line = line;
                match &mut opt.value {
                    Value::List(items) => items.push(item),
                    Value::Single(old) => {
                        let old = std::mem::take(old);
                        opt.value = Value::List(vec![old, item]);
                    }
                }
            }
            None => self.options.push(Opt {
                name,
                value: Value::List(vec![item]),
                line,
            }),
        }
    }
}

/// Parses a whole file. Returns what was read up to the first error, and that error.
pub fn parse(input: &[u8]) -> (Package, Vec<SyntaxError>) {
    let mut package = Package::default();
    let mut current = None;
    let mut reader = Reader::new(input);
    let read = reader.run(|command, line| apply(&mut package, &mut current, command, line));
    package.dropped = reader.dropped().to_vec();
    let errors = match read {
        Ok(()) => Vec::new(),
        Err(e) => vec![SyntaxError {
            line: e.line,
            message: match e.word {
                Some(word) => format!(
                    "{} {word:?} (config, option, list or package, then a space or tab)",
                    e.reason
                ),
                None => e.reason.to_string(),
            },
        }],
    };
    (package, errors)
}

/// Section and option names: `[A-Za-z0-9_]+` (they become shell variable names in OpenWrt).
pub fn is_valid_name(s: &str) -> bool {
    valid_str(s.as_bytes(), true, false)
}

/// Section types: printable ASCII without spaces.
pub fn is_valid_type(s: &str) -> bool {
    valid_str(s.as_bytes(), false, false)
}

/// One command, as libuci's list operations apply it. `current` is the open section.
fn apply(
    package: &mut Package,
    current: &mut Option<usize>,
    command: Command,
    line: u32,
) -> Result<(), &'static str> {
    const NOT_TEXT: &str = "a value that is not UTF-8 text (the agent refuses it; libuci does not)";
    // Names and types were checked by the reader: ASCII.
    let text = |b: Vec<u8>| String::from_utf8(b).map_err(|_| NOT_TEXT);
    match command {
        Command::Package(name) => {
            package.declared_name.get_or_insert((text(name)?, line));
        }
        Command::Config { kind, name } => {
            let (kind, name) = (text(kind)?, text(name)?);
            if !name.is_empty() {
                let found = package
                    .sections
                    .iter()
                    .position(|s| s.name.as_deref() == Some(name.as_str()));
                if let Some(i) = found {
                    if package.sections[i].kind != kind {
                        return Err(
                            "section of different type overwrites prior section with same name",
                        );
                    }
                    *current = Some(i);
                    return Ok(());
                }
            }
            package.sections.push(Section {
                kind,
                name: (!name.is_empty()).then_some(name),
                line,
                options: Vec::new(),
            });
            *current = Some(package.sections.len() - 1);
        }
        Command::Option { name, value } | Command::List { name, value } if current.is_none() => {
            let _ = (name, value);
            return Err("option/list command found before the first section");
        }
        Command::Option { name, value } => {
            let section = &mut package.sections[current.unwrap_or(0)];
            section.set(text(name)?, text(value)?, line);
        }
        Command::List { name, value } => {
            let section = &mut package.sections[current.unwrap_or(0)];
            section.add_list(text(name)?, text(value)?, line);
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "uci_tests.rs"]
mod tests;
