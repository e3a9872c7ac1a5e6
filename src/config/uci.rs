//! A parser for UCI files (`/etc/config/*`) that accepts what libuci accepts and means the same.
//!
//! The rules, as in libuci's `file.c`:
//! - Commands: `package`/`p`, `config`/`c`, `option`/`o`, `list`/`l`. The keyword is a bare word.
//! - Words are shell-like: `'…'` is literal and may span lines, `"…"` takes `\x` as a literal `x`
//!   and may span lines, unquoted text takes `\x` as `x`, and pieces join (`'a'"b"c` = `abc`).
//! - An unquoted `#` ends the line (libuci does this even in the middle of a word), `;` ends a
//!   command, and a backslash at the end of a line joins the next line.
//! - Section and option names are `[A-Za-z0-9_]+`; section types are printable ASCII.
//! - `option x ''` unsets `x`; a later `option` replaces an earlier one; `list` appends (and turns
//!   an earlier `option` of the same name into the first item). A second `config t 'name'`
//!   re-opens the section of that name, which must have the same type.
//! - A command with more words than it takes is an error ("too many arguments").
//!
//! Unlike libuci, the parser does not stop at the first error: it reports it, skips to the next
//! command and goes on, so that `check-config` can list every problem in one run.

use std::fmt;

/// A parsed file: its sections in file order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Package {
    /// The name given by a `package` line, if the file has one.
    pub declared_name: Option<(String, u32)>,
    pub sections: Vec<Section>,
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
    pub options: Vec<Opt>,
}

/// One option or list, with the line that last set it.
#[derive(Clone, Debug, PartialEq)]
pub struct Opt {
    pub name: String,
    pub value: Value,
    pub line: u32,
}

/// What an option holds.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Single(String),
    List(Vec<String>),
}

/// A syntax error and the line it was found on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: u32,
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

    fn set(&mut self, name: String, value: String, line: u32) {
        let pos = self.options.iter().position(|o| o.name == name);
        match (pos, value.is_empty()) {
            (Some(i), true) => {
                self.options.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => {
                self.options[i] = Opt {
                    name,
                    value: Value::Single(value),
                    line,
                }
            }
            (None, false) => self.options.push(Opt {
                name,
                value: Value::Single(value),
                line,
            }),
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

/// Parses a whole file. Returns what could be parsed and every syntax error found.
pub fn parse(input: &[u8]) -> (Package, Vec<SyntaxError>) {
    let mut parser = Parser {
        lexer: Lexer {
            input,
            pos: 0,
            line: 1,
        },
        package: Package::default(),
        current: None,
        errors: Vec::new(),
    };
    parser.run();
    (parser.package, parser.errors)
}

/// A word of a command, with the line it started on.
struct Word {
    bytes: Vec<u8>,
    line: u32,
    /// True when no quote or backslash was involved (keywords must be bare).
    bare: bool,
}

/// How a command ended.
enum End {
    /// A newline, `;`, or the end of the input.
    Command,
    /// An error that makes the rest of the input unreadable (an unterminated quote).
    Fatal(SyntaxError),
}

struct Lexer<'a> {
    input: &'a [u8],
    pos: usize,
    line: u32,
}

/// libuci uses C's `isspace`.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

impl Lexer<'_> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        if b == b'\n' {
            self.line += 1;
        }
        Some(b)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.input.len()
    }

    /// After a backslash: consumes a line break (`\n` or `\r\n`) and returns true if there is one.
    fn line_continuation(&mut self) -> bool {
        match (self.peek(), self.input.get(self.pos + 1)) {
            (Some(b'\n'), _) => {
                self.bump();
                true
            }
            (Some(b'\r'), Some(b'\n')) => {
                self.bump();
                self.bump();
                true
            }
            _ => false,
        }
    }

    /// Reads the words of the next command.
    fn command(&mut self, words: &mut Vec<Word>) -> End {
        loop {
            while matches!(self.peek(), Some(b) if b != b'\n' && is_space(b)) {
                self.bump();
            }
            match self.peek() {
                None => return End::Command,
                Some(b'\n') | Some(b';') => {
                    self.bump();
                    return End::Command;
                }
                Some(b'#') => {
                    while !matches!(self.peek(), None | Some(b'\n')) {
                        self.bump();
                    }
                }
                Some(b'\\')
                    if self.input.get(self.pos + 1).is_some_and(|&b| b == b'\n')
                        || self.input[self.pos..].starts_with(b"\\\r\n") =>
                {
                    self.bump();
                    self.line_continuation();
                }
                Some(_) => match self.word() {
                    Ok(word) => words.push(word),
                    Err(e) => return End::Fatal(e),
                },
            }
        }
    }

    /// Reads one word: quoted and unquoted pieces up to white space, `;`, `#` or the end.
    fn word(&mut self) -> Result<Word, SyntaxError> {
        let mut word = Word {
            bytes: Vec::new(),
            line: self.line,
            bare: true,
        };
        while let Some(b) = self.peek() {
            match b {
                b if is_space(b) => break,
                b';' | b'#' => break,
                b'\'' => {
                    word.bare = false;
                    self.single_quoted(&mut word.bytes)?;
                }
                b'"' => {
                    word.bare = false;
                    self.double_quoted(&mut word.bytes)?;
                }
                b'\\' => {
                    word.bare = false;
                    self.bump();
                    if !self.line_continuation() {
                        if let Some(b) = self.bump() {
                            word.bytes.push(b);
                        }
                    }
                }
                _ => {
                    self.bump();
                    word.bytes.push(b);
                }
            }
        }
        Ok(word)
    }

    fn single_quoted(&mut self, out: &mut Vec<u8>) -> Result<(), SyntaxError> {
        let start = self.line;
        self.bump();
        loop {
            match self.bump() {
                Some(b'\'') => return Ok(()),
                Some(b) => out.push(b),
                None => return Err(unterminated(start, '\'')),
            }
        }
    }

    fn double_quoted(&mut self, out: &mut Vec<u8>) -> Result<(), SyntaxError> {
        let start = self.line;
        self.bump();
        loop {
            match self.bump() {
                Some(b'"') => return Ok(()),
                Some(b'\\') => {
                    if !self.line_continuation() {
                        match self.bump() {
                            Some(b) => out.push(b),
                            None => return Err(unterminated(start, '"')),
                        }
                    }
                }
                Some(b) => out.push(b),
                None => return Err(unterminated(start, '"')),
            }
        }
    }
}

fn unterminated(line: u32, quote: char) -> SyntaxError {
    SyntaxError {
        line,
        message: format!("unterminated {quote} (the quote opened on this line is never closed)"),
    }
}

/// Section and option names: `[A-Za-z0-9_]+` (they become shell variable names in OpenWrt).
pub fn is_valid_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Section types and package names: printable ASCII without spaces.
pub fn is_valid_type(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (33..=126).contains(&b))
}

struct Parser<'a> {
    lexer: Lexer<'a>,
    package: Package,
    /// Index of the section that `option` and `list` go to. `None` before the first section,
    /// and after a broken `config` line (so its options do not land in the previous section).
    current: Option<usize>,
    errors: Vec<SyntaxError>,
}

impl Parser<'_> {
    fn run(&mut self) {
        let mut words = Vec::new();
        loop {
            words.clear();
            let end = self.lexer.command(&mut words);
            if !words.is_empty() {
                if let Err(e) = self.command(&words) {
                    self.errors.push(e);
                }
            }
            if let End::Fatal(e) = end {
                self.errors.push(e);
                return;
            }
            if self.lexer.at_end() {
                return;
            }
        }
    }

    fn command(&mut self, words: &[Word]) -> Result<(), SyntaxError> {
        let keyword = &words[0];
        let line = keyword.line;
        let err = |message: String| SyntaxError { line, message };
        let args = &words[1..];
        let kw = if keyword.bare {
            std::str::from_utf8(&keyword.bytes).unwrap_or("")
        } else {
            ""
        };
        match kw {
            "package" | "p" => self.package_cmd(args, line),
            "config" | "c" => {
                // A broken `config` line must not let its options fall into the previous section.
                self.current = None;
                self.config_cmd(args, line)
            }
            "option" | "o" => self.option_cmd(args, line, false),
            "list" | "l" => self.option_cmd(args, line, true),
            _ => Err(err(format!(
                "invalid command '{}' (expected config, option, list or package)",
                String::from_utf8_lossy(&keyword.bytes)
            ))),
        }
    }

    fn package_cmd(&mut self, args: &[Word], line: u32) -> Result<(), SyntaxError> {
        let name = required(args, 0, line, "package without name")?;
        too_many(args, 1, line)?;
        if !is_valid_type(&name) {
            return Err(SyntaxError {
                line,
                message: format!("invalid character in package name '{name}'"),
            });
        }
        self.package.declared_name = Some((name, line));
        Ok(())
    }

    fn config_cmd(&mut self, args: &[Word], line: u32) -> Result<(), SyntaxError> {
        let kind = required(args, 0, line, "config without a section type")?;
        if !is_valid_type(&kind) {
            return Err(SyntaxError {
                line,
                message: format!(
                    "invalid character in type field '{kind}' (printable ASCII, no spaces)"
                ),
            });
        }
        let name = optional(args, 1, line)?.filter(|n| !n.is_empty());
        too_many(args, 2, line)?;
        if let Some(name) = &name {
            if !is_valid_name(name) {
                return Err(SyntaxError {
                    line,
                    message: format!(
                        "invalid character in name field '{name}' (use A-Z, a-z, 0-9 and _)"
                    ),
                });
            }
            let existing = self
                .package
                .sections
                .iter()
                .position(|s| s.name.as_deref() == Some(name));
            if let Some(i) = existing {
                let prior = &self.package.sections[i];
                if prior.kind != kind {
                    return Err(SyntaxError {
                        line,
                        message: format!(
                            "section of different type overwrites prior section with same name '{name}' (type '{}' on line {})",
                            prior.kind, prior.line
                        ),
                    });
                }
                self.current = Some(i);
                return Ok(());
            }
        }
        self.package.sections.push(Section {
            kind,
            name,
            line,
            options: Vec::new(),
        });
        self.current = Some(self.package.sections.len() - 1);
        Ok(())
    }

    fn option_cmd(&mut self, args: &[Word], line: u32, list: bool) -> Result<(), SyntaxError> {
        let what = if list { "list" } else { "option" };
        let name = required(args, 0, line, &format!("{what} without name"))?;
        let value = optional(args, 1, line)?.unwrap_or_default();
        too_many(args, 2, line)?;
        if !is_valid_name(&name) {
            return Err(SyntaxError {
                line,
                message: format!(
                    "invalid character in name field '{name}' (use A-Z, a-z, 0-9 and _)"
                ),
            });
        }
        let Some(i) = self.current else {
            if self.package.sections.is_empty() {
                return Err(SyntaxError {
                    line,
                    message: "option/list command found before the first section".into(),
                });
            }
            // The section line itself was broken and already reported.
            return Ok(());
        };
        let section = &mut self.package.sections[i];
        if list {
            section.add_list(name, value, line);
        } else {
            section.set(name, value, line);
        }
        Ok(())
    }
}

fn text(word: &Word) -> Result<String, SyntaxError> {
    String::from_utf8(word.bytes.clone()).map_err(|_| SyntaxError {
        line: word.line,
        message: "text is not valid UTF-8".into(),
    })
}

fn required(args: &[Word], i: usize, line: u32, missing: &str) -> Result<String, SyntaxError> {
    match args.get(i) {
        Some(w) => text(w),
        None => Err(SyntaxError {
            line,
            message: missing.to_string(),
        }),
    }
}

fn optional(args: &[Word], i: usize, _line: u32) -> Result<Option<String>, SyntaxError> {
    args.get(i).map(text).transpose()
}

fn too_many(args: &[Word], max: usize, line: u32) -> Result<(), SyntaxError> {
    match args.get(max) {
        Some(extra) => Err(SyntaxError {
            line,
            message: format!(
                "too many arguments (unexpected '{}'; quote values that contain spaces)",
                String::from_utf8_lossy(&extra.bytes)
            ),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
#[path = "uci_tests.rs"]
mod tests;
