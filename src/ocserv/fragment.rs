//! The agent's block inside ocserv's main-config fragment (`ocserv.local_conf`, on OpenWrt
//! `/etc/ocserv/ocserv.conf.local`). That file is shared: first boot puts the hook's
//! `connect-script` / `disconnect-script` lines there, and an operator may keep lines of their
//! own. UpdateConfig MAIN owns only the lines between [`BEGIN`] and [`END`]; every other byte of
//! the file is kept as it was, so no update can take away the lines that make ocserv ask the
//! agent.

use super::conffile::{render_lines, Directive};
use std::fmt;

/// The line that opens the agent's block.
pub const BEGIN: &str =
    "# BEGIN ocserv-agent: UpdateConfig replaces the lines up to END; the rest is left alone";
/// The line that closes it.
pub const END: &str = "# END ocserv-agent";

/// A file whose markers the agent cannot make sense of; it is not touched.
#[derive(Debug, PartialEq, Eq)]
pub enum SpliceError {
    /// Markers missing their partner, repeated, or out of order: the 1-based line numbers.
    Markers {
        begins: Vec<usize>,
        ends: Vec<usize>,
    },
}

impl fmt::Display for SpliceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpliceError::Markers { begins, ends } => write!(
                f,
                "the agent's block markers are damaged (BEGIN at line(s) {begins:?}, END at line(s) {ends:?}); fix the file by hand, the agent will not guess which lines are its own"
            ),
        }
    }
}

impl std::error::Error for SpliceError {}

/// `existing` with the agent's block set to `directives`: the block replaced where it is, or
/// added at the end (after a newline, if the last line had none). Nothing else changes.
pub fn splice(existing: &str, directives: &[Directive]) -> Result<String, SpliceError> {
    let lines: Vec<&str> = existing.split_inclusive('\n').collect();
    let is = |line: &str, marker: &str| line.trim_end() == marker;
    let begins: Vec<usize> = (0..lines.len()).filter(|&i| is(lines[i], BEGIN)).collect();
    let ends: Vec<usize> = (0..lines.len()).filter(|&i| is(lines[i], END)).collect();
    let block = format!("{BEGIN}\n{}{END}\n", render_lines(directives));
    match (begins.as_slice(), ends.as_slice()) {
        ([], []) => {
            let mut text = existing.to_string();
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text += &block;
            Ok(text)
        }
        ([b], [e]) if b < e => {
            let mut text: String = lines[..*b].concat();
            text += &block;
            text += &lines[e + 1..].concat();
            Ok(text)
        }
        _ => Err(SpliceError::Markers {
            begins: begins.iter().map(|i| i + 1).collect(),
            ends: ends.iter().map(|i| i + 1).collect(),
        }),
    }
}

/// At most this much of the file is quoted back in a reply.
const EXCERPT: usize = 16 * 1024;

/// The file's text as a reply quotes it: whole, or its first [`EXCERPT`] bytes and a note.
pub fn excerpt(text: &str) -> String {
    if text.len() <= EXCERPT {
        return text.to_string();
    }
    let mut cut = EXCERPT;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..cut], text.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocserv::conffile::directive;

    fn lines(pairs: &[(&str, &str)]) -> Vec<Directive> {
        pairs
            .iter()
            .map(|(k, v)| directive(k, v).unwrap())
            .collect()
    }

    const HOOKS: &str = "connect-script = /usr/libexec/ocserv-agent/hook\ndisconnect-script = /usr/libexec/ocserv-agent/hook\n";

    #[test]
    fn the_block_is_added_after_what_is_there_and_replaced_in_place() {
        let once = splice(HOOKS, &lines(&[("max-same-clients", "4")])).unwrap();
        assert_eq!(
            once,
            format!("{HOOKS}{BEGIN}\nmax-same-clients = 4\n{END}\n")
        );
        // An operator adds a line after the block; the next update keeps it, and the hooks.
        let edited = format!("{once}# mine\nbanner = hello\n");
        let twice = splice(&edited, &lines(&[("mtu", "1400"), ("dns", "10.0.0.53")])).unwrap();
        assert_eq!(
            twice,
            format!("{HOOKS}{BEGIN}\nmtu = 1400\ndns = 10.0.0.53\n{END}\n# mine\nbanner = hello\n")
        );
        // An empty update leaves an empty block, not an empty file.
        let empty = splice(&twice, &[]).unwrap();
        assert_eq!(
            empty,
            format!("{HOOKS}{BEGIN}\n{END}\n# mine\nbanner = hello\n")
        );
    }

    #[test]
    fn bytes_outside_the_block_are_kept_exactly() {
        // CRLF, tabs, no final newline, odd spacing: all kept.
        let odd = "connect-script\t=  /x/hook\r\n\r\n#c\t\nudp-port = 443";
        let out = splice(odd, &lines(&[("mtu", "1400")])).unwrap();
        assert!(out.starts_with(odd), "{out:?}");
        assert_eq!(&out[odd.len()..], format!("\n{BEGIN}\nmtu = 1400\n{END}\n"));
        let again = splice(&out, &lines(&[("mtu", "1300")])).unwrap();
        assert!(again.starts_with(odd));
        assert!(again.ends_with(&format!("{BEGIN}\nmtu = 1300\n{END}\n")));
        // Markers with trailing blanks (an editor's) are still ours.
        let spaced = format!("{HOOKS}{BEGIN}  \nmtu = 1\n{END}\t\n");
        assert_eq!(
            splice(&spaced, &[]).unwrap(),
            format!("{HOOKS}{BEGIN}\n{END}\n")
        );
    }

    #[test]
    fn damaged_markers_are_refused_not_guessed() {
        for bad in [
            format!("{BEGIN}\nmtu = 1\n"),
            format!("mtu = 1\n{END}\n"),
            format!("{END}\n{BEGIN}\n"),
            format!("{BEGIN}\n{END}\n{BEGIN}\n{END}\n"),
        ] {
            let err = splice(&bad, &[]).unwrap_err();
            assert!(err.to_string().contains("fix the file by hand"), "{bad:?}");
        }
    }

    #[test]
    fn long_files_are_quoted_in_part() {
        assert_eq!(excerpt("a = b\n"), "a = b\n");
        let long = "é".repeat(EXCERPT);
        let e = excerpt(&long);
        assert!(
            e.len() < EXCERPT + 40 && e.ends_with("bytes in all)"),
            "{}",
            e.len()
        );
    }
}
