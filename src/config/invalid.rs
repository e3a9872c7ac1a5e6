//! Why an option's value is refused, as a type: every value parser of the configuration
//! returns an [`Invalid`], and its `Display` is the message `check-config` prints after
//! `PATH:LINE: option 'NAME' in SECTION: `. The messages say what was expected, so an operator
//! can fix the line without the documentation.

use std::fmt;

/// A refused option value. The text fields hold what the file said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invalid {
    /// Not a duration (`30`, `500ms`, `5s`, `2m`, `1h`).
    Duration(String),
    /// A duration over 1000 h.
    DurationTooLong(String),
    /// Not an OpenWrt boolean word.
    Bool(String),
    /// Not an octal file mode.
    Mode(String),
    /// A CIDR whose address part does not parse.
    CidrAddress {
        /// The address part as written.
        address: String,
        /// The whole CIDR as written.
        text: String,
    },
    /// A CIDR prefix length over 32 (IPv4) or 128 (IPv6).
    CidrPrefix {
        /// The prefix as written.
        prefix: String,
        /// The whole CIDR as written.
        text: String,
        /// The family's longest prefix.
        max: u8,
    },
    /// A CIDR with host bits set: likely a typo for `network/prefix`.
    CidrHostBits {
        /// The CIDR as written.
        text: String,
        /// The network it probably meant.
        network: String,
        /// Its prefix length.
        prefix: u8,
    },
    /// Not `host:port`.
    HostPort {
        /// The address as written.
        text: String,
        /// The part that is wrong.
        why: &'static str,
    },
    /// A duration outside the option's range (bounds as the file would write them).
    OutOfRange {
        /// The duration as written.
        text: String,
        /// The shortest allowed.
        min: String,
        /// The longest allowed.
        max: String,
    },
    /// Not a whole number within the option's range.
    Number {
        /// The value as written.
        text: String,
        /// The smallest allowed.
        min: u32,
        /// The largest allowed.
        max: u32,
    },
    /// Not 1-64 printable characters.
    Id(String),
    /// Not a numeric uid.
    Uid(String),
    /// A path with a line break (it would break the files it is written into).
    LineBreak,
    /// A relative path where an absolute one is needed.
    NotAbsolute(String),
    /// A socket path longer than `sun_path` allows.
    SocketPathLength(usize),
    /// A path that names no file (`/`, `..`).
    NotAFile(String),
    /// A socket mode that opens the hook's socket too wide or locks its owner out.
    SocketMode {
        /// The mode as written.
        mode: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// Not `IP:port`.
    Listen(String),
    /// Not a TLS server name.
    ServerName(String),
    /// Not a user or group name as ocserv passes them.
    AccountName(String),
    /// Not a client identity (DNS name, URI or CN).
    ClientIdentity(String),
    /// Not one of the occtl commands the agent runs.
    Command {
        /// The command as written.
        text: String,
        /// The verbs allowed.
        verbs: String,
    },
    /// Not one of a keyword option's words (`what` the option is, `words` the choices).
    Keyword {
        /// What the option is.
        what: &'static str,
        /// The word as written.
        text: String,
        /// The words allowed.
        words: String,
    },
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Invalid::Duration(t) => write!(f, "invalid duration '{t}': use a whole number of seconds or a number with ms, s, m or h (e.g. 500ms, 5s, 2m)"),
            Invalid::DurationTooLong(t) => write!(f, "duration '{t}' is too long (at most 1000h)"),
            Invalid::Bool(t) => write!(f, "invalid boolean '{t}': use 1, on, true, yes, enabled or 0, off, false, no, disabled"),
            Invalid::Mode(t) => write!(f, "invalid file mode '{t}': use octal digits such as 0600 or 0660"),
            Invalid::CidrAddress { address, text } => write!(f, "invalid address '{address}' in '{text}'"),
            Invalid::CidrPrefix { prefix, text, max } => write!(f, "invalid prefix length '{prefix}' in '{text}' (0..={max})"),
            Invalid::CidrHostBits { text, network, prefix } => write!(f, "'{text}' has host bits set; did you mean '{network}/{prefix}'?"),
            Invalid::HostPort { text, why } => write!(f, "invalid address '{text}': {why} (expected host:port)"),
            Invalid::OutOfRange { text, min, max } => write!(f, "'{text}' is out of range ({min} to {max})"),
            Invalid::Number { text, min, max } => write!(f, "'{text}' is not a whole number from {min} to {max}"),
            Invalid::Id(t) => write!(f, "'{t}' is not a valid id (1-64 printable characters, no spaces)"),
            Invalid::Uid(t) => write!(f, "'{t}' is not a numeric uid"),
            Invalid::LineBreak => f.write_str("a path cannot contain a line break"),
            Invalid::NotAbsolute(t) => write!(f, "'{t}' is not an absolute path"),
            Invalid::SocketPathLength(n) => write!(f, "socket path is {n} bytes; the limit is 107"),
            Invalid::NotAFile(t) => write!(f, "'{t}' does not name a file"),
            Invalid::SocketMode { mode, why } => write!(f, "mode {mode} {why}; use 0600 or 0660"),
            Invalid::Listen(t) => write!(f, "'{t}' is not an IP address and port (e.g. 127.0.0.1:9101 or [::1]:9101)"),
            Invalid::ServerName(t) => write!(f, "'{t}' is not a valid TLS server name"),
            Invalid::AccountName(t) => write!(f, "'{t}' is not a valid user or group name (no spaces or control characters)"),
            Invalid::ClientIdentity(t) => write!(f, "'{t}' is not a valid client identity (a DNS name, URI or CN without spaces)"),
            Invalid::Command { text, verbs } => write!(f, "'{text}' is not an occtl command ({verbs})"),
            Invalid::Keyword { what, text, words } => write!(f, "invalid {what} '{text}': use {words}"),
        }
    }
}

impl std::error::Error for Invalid {}
