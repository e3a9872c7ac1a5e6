//! libuci's reader (`uci_import` in openwrt/uci `file.c`), step for step, so that a file means
//! to the agent exactly what it means to LuCI and the `uci` CLI.
//!
//! libuci reads a line with `fgets` into a growing buffer, then edits that buffer in place:
//! `strtok` cuts the command word at a space or tab, each argument is unquoted into the bytes it
//! was read from, and a NUL ends whatever is being read. Its quirks follow from that and are
//! kept here on purpose, because the file is the same for both readers:
//! - a NUL byte ends the physical line and the next line is read onto it (`fgets` keeps the
//!   bytes, `strlen` does not see past the NUL); a line that starts with NUL is skipped;
//! - a `;` glued to the end of an unquoted word is overwritten by that word's terminator, and
//!   the rest of the line is dropped (the agent reports it: [`Reader::dropped`]);
//! - `#` ends the line even in the middle of a word;
//! - a backslash at the end of a line joins the next line, whose first space then ends the
//!   word;
//! - command words are split on space and tab only (`config\vrule` is one unknown word).
//!
//! The reader only reads; [`super::uci`] applies each command as libuci's `uci_set` and
//! `uci_add_list` do. Like libuci (strict mode, its default), reading stops at the first error.

/// libuci's first buffer size; it doubles as lines need.
const LINEBUF: usize = 32;
/// libuci's `LINEBUF_MAX`: a buffer of more than half of it does not double again, the line
/// is "too long" (and a line cut by NUL bytes cannot double it without end: found by
/// fuzz/fuzz_targets/uci.rs, 3.7 KB of them took 2 GB).
const LINEBUF_MAX: usize = 4096;

/// One command read, its words unquoted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `package NAME`.
    Package(Vec<u8>),
    /// `config TYPE [NAME]`.
    Config { kind: Vec<u8>, name: Vec<u8> },
    /// `option NAME VALUE`.
    Option { name: Vec<u8>, value: Vec<u8> },
    /// `list NAME VALUE`.
    List { name: Vec<u8>, value: Vec<u8> },
}

/// A reading error: libuci's reason, on the physical line where reading stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadError {
    /// The physical line.
    pub line: u32,
    /// libuci's words for the error.
    pub reason: &'static str,
    /// The word an "invalid command" was (cut to 32 bytes, shown lossily).
    pub word: Option<String>,
}

/// Reads commands from a whole file the way libuci does.
pub struct Reader<'a> {
    input: &'a [u8],
    /// Next byte of `input` to read (the stream position).
    at: usize,
    /// `feof`: a read hit the end of the input.
    eof: bool,
    /// The C buffer: its length is libuci's `bufsz`; bytes past the string are stale, as there.
    buf: Vec<u8>,
    /// `buf_filled`: where the last read line ends.
    filled: usize,
    pos: usize,
    /// Lines whose text the agent's reports may point at, one per `\n` consumed.
    newlines: u32,
    /// Where a `;` glued to an unquoted word cut a line short, while that line is parsed.
    cut_at: Option<usize>,
    /// Physical lines whose text after a glued `;` was dropped.
    dropped: Vec<u32>,
    /// A `config` command was read (options need a section to go in).
    in_section: bool,
    /// The word of an invalid command, for its error.
    bad_word: Option<String>,
}

/// C's `isspace` in the "C" locale.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// libuci's `uci_validate_str`: names take `[A-Za-z0-9_]` (packages also `-`), types any
/// printable ASCII but space; never empty.
pub fn valid_str(s: &[u8], name: bool, package: bool) -> bool {
    !s.is_empty()
        && s.iter().all(|&c| {
            c.is_ascii_alphanumeric()
                || c == b'_'
                || (c == b'-' && package)
                || (!name && (33..=126).contains(&c))
        })
}

impl<'a> Reader<'a> {
    /// A reader at the start of `input`.
    pub fn new(input: &'a [u8]) -> Reader<'a> {
        Reader {
            input,
            at: 0,
            eof: false,
            buf: vec![0; LINEBUF],
            filled: 0,
            pos: 0,
            newlines: 0,
            cut_at: None,
            dropped: Vec::new(),
            in_section: false,
            bad_word: None,
        }
    }

    /// Reads the whole input; calls `apply` for each command with its physical line. Stops at
    /// the first error, from the reader or from `apply` (which gives libuci's reason).
    pub fn run(
        &mut self,
        mut apply: impl FnMut(Command, u32) -> Result<(), &'static str>,
    ) -> Result<(), ReadError> {
        while !self.eof {
            self.pos = 0;
            if let Err(reason) = self.getln(0) {
                return Err(ReadError {
                    line: self.line(),
                    reason,
                    word: None,
                });
            }
            if self.buf[0] != 0 {
                self.cut_at = None;
                let parsed = self.parse_line(&mut apply);
                parsed.map_err(|reason| ReadError {
                    line: self.line(),
                    reason,
                    word: self.bad_word.take(),
                })?;
            }
        }
        Ok(())
    }

    /// Physical lines whose text after a `;` glued to an unquoted word libuci (and so the
    /// agent) ignored.
    pub fn dropped(&self) -> &[u32] {
        &self.dropped
    }

    /// The physical line being read: `\n`s consumed, plus one for a last line without one.
    fn line(&self) -> u32 {
        let partial = self.at > 0 && self.input[self.at - 1] != b'\n';
        self.newlines.saturating_add(u32::from(partial)).max(1)
    }

    fn cur(&self, i: usize) -> u8 {
        self.buf.get(i).copied().unwrap_or(0)
    }

    fn grow(&mut self) {
        let size = self.buf.len() * 2;
        self.buf.resize(size, 0);
    }

    /// C's `fgets(&buf[at], n)`: up to `n - 1` bytes, through the first `\n`; false when
    /// nothing was left to read.
    fn fgets(&mut self, at: usize, n: usize) -> bool {
        let rest = &self.input[self.at..];
        if rest.is_empty() {
            self.eof = true;
            return false;
        }
        let mut len = rest.len().min(n - 1);
        if let Some(nl) = rest[..len].iter().position(|&c| c == b'\n') {
            len = nl + 1;
        }
        self.buf[at..at + len].copy_from_slice(&rest[..len]);
        self.buf[at + len] = 0;
        self.newlines += rest[..len].iter().filter(|&&c| c == b'\n').count() as u32;
        self.at += len;
        if self.at == self.input.len() && rest[len - 1] != b'\n' {
            self.eof = true;
        }
        true
    }

    fn strlen(&self, at: usize) -> usize {
        self.buf[at..].iter().position(|&c| c == 0).unwrap_or(0)
    }

    /// `uci_getln`: reads a line into the buffer at `offset`.
    fn getln(&mut self, offset: usize) -> Result<(), &'static str> {
        if offset >= self.buf.len() - 1 {
            self.grow_bounded()?;
        }
        let mut ofs = offset;
        loop {
            self.buf[ofs] = 0;
            let n = self.buf.len() - ofs;
            if !self.fgets(ofs, n) || self.buf[ofs] == 0 {
                return Ok(());
            }
            ofs += self.strlen(ofs);
            self.filled = ofs;
            if self.buf[ofs - 1] == b'\n' {
                return Ok(());
            }
            self.grow_bounded()?;
        }
    }

    /// Doubles the buffer, unless it is past half of [`LINEBUF_MAX`] already.
    fn grow_bounded(&mut self) -> Result<(), &'static str> {
        if self.buf.len() > LINEBUF_MAX / 2 {
            return Err("line too long");
        }
        self.grow();
        Ok(())
    }

    fn skip_whitespace(&mut self) {
        while self.cur(self.pos) != 0 && is_space(self.cur(self.pos)) {
            self.pos += 1;
        }
    }

    fn addc(&mut self, target: &mut usize) {
        self.buf[*target] = self.buf[self.pos];
        *target += 1;
        self.pos += 1;
    }

    /// After a backslash: true if the next character is taken literally, false if the line
    /// ended there and the next one was read on.
    fn backslash(&mut self) -> Result<bool, &'static str> {
        self.pos += 1;
        let c = self.cur(self.pos);
        if c == 0
            || c == b'\n'
            || (c == b'\r' && self.cur(self.pos + 1) == b'\n' && self.cur(self.pos + 2) == 0)
        {
            self.getln(self.pos)?;
            return Ok(false);
        }
        Ok(true)
    }

    fn double_quote(&mut self, target: &mut usize) -> Result<(), &'static str> {
        self.pos += 1;
        loop {
            match self.cur(self.pos) {
                b'"' => {
                    self.pos += 1;
                    return Ok(());
                }
                0 => {
                    self.getln(self.pos)?;
                    if self.cur(self.pos) == 0 {
                        return Err("EOF with unterminated \"");
                    }
                }
                b'\\' => {
                    if self.backslash()? {
                        self.addc(target);
                    }
                }
                _ => self.addc(target),
            }
        }
    }

    fn single_quote(&mut self, target: &mut usize) -> Result<(), &'static str> {
        self.pos += 1;
        loop {
            match self.cur(self.pos) {
                b'\'' => {
                    self.pos += 1;
                    return Ok(());
                }
                0 => {
                    self.getln(self.pos)?;
                    if self.cur(self.pos) == 0 {
                        return Err("EOF with unterminated '");
                    }
                }
                _ => self.addc(target),
            }
        }
    }

    /// `parse_str`: one word, unquoted in place from `pos` to `target`.
    fn word(&mut self, target: &mut usize) -> Result<(), &'static str> {
        let mut next = true;
        loop {
            match self.cur(self.pos) {
                b'\'' => self.single_quote(target)?,
                b'"' => self.double_quote(target)?,
                b'#' => {
                    self.buf[self.pos] = 0;
                    break;
                }
                0 => break,
                b';' => {
                    next = false;
                    break;
                }
                b'\\' => {
                    if self.backslash()? {
                        self.addc(target);
                    }
                }
                _ => self.addc(target),
            }
            let c = self.cur(self.pos);
            if c == 0 || is_space(c) {
                break;
            }
        }
        if self.cur(self.pos) != 0 && next {
            self.pos += 1;
        }
        if !next && *target == self.pos {
            // The terminator lands on the `;`: the rest of the line is gone for libuci.
            self.cut_at = Some(self.pos);
        }
        self.buf[*target] = 0;
        Ok(())
    }

    /// `next_arg`: the next word's offset in the buffer.
    fn arg(&mut self, required: bool, name: bool, package: bool) -> Result<usize, &'static str> {
        self.skip_whitespace();
        let val = self.pos;
        let mut target = self.pos;
        if self.cur(self.pos) == b';' {
            self.buf[self.pos] = 0;
            self.pos += 1;
        } else {
            self.word(&mut target)?;
        }
        if self.cur(val) == 0 {
            return if required {
                Err("insufficient arguments")
            } else {
                Ok(val)
            };
        }
        if name && !valid_str(self.text(val), name, package) {
            return Err("invalid character in name field");
        }
        Ok(val)
    }

    fn text(&self, at: usize) -> &[u8] {
        &self.buf[at..at + self.strlen(at)]
    }

    fn assert_eol(&mut self) -> Result<(), &'static str> {
        self.skip_whitespace();
        let extra = self.arg(false, false, false)?;
        if self.cur(extra) != 0 {
            return Err("too many arguments");
        }
        Ok(())
    }

    /// Past the command word `strtok` cut (`uci_increase_pos`).
    fn past_keyword(&mut self, missing: &'static str) -> Result<(), &'static str> {
        let add = self.strlen(self.pos) + 1;
        if self.pos + add > self.filled {
            return Err(missing);
        }
        self.pos += add;
        Ok(())
    }

    /// `strtok(cur, " \t")`: the next command word's offset, its end cut with a NUL.
    fn strtok(&mut self) -> Option<usize> {
        let mut i = self.pos;
        while matches!(self.cur(i), b' ' | b'\t') {
            i += 1;
        }
        if self.cur(i) == 0 {
            return None;
        }
        let start = i;
        while !matches!(self.cur(i), 0 | b' ' | b'\t') {
            i += 1;
        }
        if self.cur(i) != 0 {
            self.buf[i] = 0;
        }
        Some(start)
    }

    fn parse_line(
        &mut self,
        apply: &mut impl FnMut(Command, u32) -> Result<(), &'static str>,
    ) -> Result<(), &'static str> {
        self.skip_whitespace();
        loop {
            let Some(at) = self.strtok() else {
                self.note_cut();
                return Ok(());
            };
            let word = self.text(at).to_vec();
            let keyword = |short: u8, long: &[u8]| word == [short] || word == long;
            let command = if keyword(b'p', b"package") {
                self.past_keyword("package without name")?;
                let name = self.arg(true, true, true)?;
                self.assert_eol()?;
                Command::Package(self.text(name).to_vec())
            } else if keyword(b'c', b"config") {
                self.past_keyword("config without name")?;
                let kind = self.arg(true, false, false)?;
                if !valid_str(self.text(kind), false, false) {
                    return Err("invalid character in type field");
                }
                let name = self.arg(false, true, false)?;
                self.assert_eol()?;
                self.in_section = true;
                Command::Config {
                    kind: self.text(kind).to_vec(),
                    name: self.text(name).to_vec(),
                }
            } else if keyword(b'o', b"option") || keyword(b'l', b"list") {
                let list = word[0] == b'l';
                if !self.in_section {
                    return Err("option/list command found before the first section");
                }
                self.past_keyword("option without name")?;
                let name = self.arg(true, true, false)?;
                let value = self.arg(false, false, false)?;
                self.assert_eol()?;
                let (name, value) = (self.text(name).to_vec(), self.text(value).to_vec());
                if list {
                    Command::List { name, value }
                } else {
                    Command::Option { name, value }
                }
            } else if word[0] == b'#' {
                return Ok(());
            } else {
                let shown = &word[..word.len().min(32)];
                self.bad_word = Some(String::from_utf8_lossy(shown).into_owned());
                return Err("invalid command");
            };
            apply(command, self.line())?;
        }
    }

    /// Records the line if a glued `;` cut off text that was not blank.
    fn note_cut(&mut self) {
        if let Some(at) = self.cut_at.take() {
            let rest = &self.buf[(at + 1).min(self.filled)..self.filled];
            if rest.iter().any(|&c| c != 0 && !is_space(c)) {
                self.dropped.push(self.line());
            }
        }
    }
}
