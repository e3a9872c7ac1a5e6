//! The outbox's journal: the events the portal has not confirmed, in a file that outlives the
//! daemon process.
//!
//! One record per line: an event as a JSON object, or `ack SEQ` once the event with that
//! sequence number is settled. Appends are single `write` calls on an `O_APPEND` file and are not
//! fsynced: the default directory is tmpfs (fsync does nothing there), and on flash a sync per
//! VPN login would wear the chip; a crashed *process* loses nothing either way, because the
//! kernel already holds the write. A torn last line (power cut mid-append) is skipped on load.
//! After a write that failed or was cut short (a full disk), the next record starts with a
//! newline of its own, so it can never be glued to the torn one and lost with it; a record
//! glued to a torn line by an older writer is still recovered on load.
//! Acknowledged records are dropped by compaction: the live events are written to a temporary
//! file, fsynced and renamed over the journal, so a crash mid-compaction leaves the old journal.

use nanoserde::{DeJson, SerJson};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The journal's file name inside the configured directory.
pub const FILE_NAME: &str = "events.journal";

/// Which report an event becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, SerJson, DeJson)]
pub enum Kind {
    #[nserde(rename = "connect")]
    Connect,
    #[nserde(rename = "disconnect")]
    Disconnect,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Connect => "connect",
            Kind::Disconnect => "disconnect",
        }
    }
}

/// One session event waiting for the portal; the fields of ReportConnect / ReportDisconnect.
#[derive(Clone, Debug, PartialEq, Eq, SerJson, DeJson)]
pub struct Event {
    /// Order of arrival; the key of `ack` records.
    pub seq: u32,
    pub kind: Kind,
    /// ocserv's session ID.
    pub session: u32,
    pub user: String,
    pub group: String,
    pub client_ip: String,
    pub vpn_ip: String,
    pub device: String,
    /// When it happened: seconds since the Unix epoch.
    pub at: u64,
    /// Disconnects: what ocserv counted (STATS_BYTES_IN, STATS_BYTES_OUT, STATS_DURATION).
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub duration: u64,
    /// The session's trace id (32 hex digits; empty when none, and in journals written before
    /// traces): its reports carry it in `traceparent`.
    #[nserde(default)]
    pub trace: String,
}

/// What [`Journal::open`] found in an existing file.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Events not yet acknowledged, oldest first.
    pub events: Vec<Event>,
    /// Lines that were not records (a torn write, or someone edited the file).
    pub skipped: usize,
}

/// The open journal file.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    file: File,
    /// Records written since the last compaction, live or not.
    records: usize,
    /// The file may end inside a line (a write failed or was cut short).
    torn: bool,
}

/// Whether a journal of `records` lines, `live` of them events still waiting, holds enough
/// settled ones that [`Journal::compact`] is worth its write: more than twice the live ones
/// and a margin, so a steady trickle does not rewrite the file at every ack.
pub fn worth_compacting(records: usize, live: usize) -> bool {
    records > 2 * live + 64
}

impl Journal {
    /// Opens (creating the directory, mode 0700, if needed) and replays the journal in `dir`,
    /// then compacts it to the live events.
    pub fn open(dir: &Path) -> io::Result<(Journal, Loaded)> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let path = dir.join(FILE_NAME);
        let loaded = match fs::read(&path) {
            Ok(bytes) => replay(&bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Loaded::default(),
            Err(e) => return Err(e),
        };
        let mut journal = Journal {
            dir: dir.to_path_buf(),
            file: append_to(&path)?,
            records: 0,
            torn: false,
        };
        journal.compact(loaded.events.iter())?;
        Ok((journal, loaded))
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    /// Records a new event.
    pub fn append(&mut self, event: &Event) -> io::Result<()> {
        let mut line = event.serialize_json();
        line.push('\n');
        self.write(line.as_bytes())
    }

    /// Records that the event `seq` is settled (delivered, refused or dropped).
    pub fn ack(&mut self, seq: u32) -> io::Result<()> {
        self.write(format!("ack {seq}\n").as_bytes())
    }

    /// Rewrites the journal with only `live`: temporary file, fsync, rename, fsync directory.
    pub fn compact<'a>(&mut self, live: impl Iterator<Item = &'a Event>) -> io::Result<()> {
        let path = self.path();
        let text = records(live);
        crate::fsutil::write_atomic(&path, text.as_bytes(), 0o600)?;
        self.file = append_to(&path)?;
        self.records = text.lines().count();
        self.torn = false;
        Ok(())
    }

    /// Sends appends to another file (`/dev/full` to simulate a full disk).
    #[cfg(test)]
    pub fn use_file_for_test(&mut self, path: &str) {
        self.file = OpenOptions::new().append(true).open(path).unwrap();
    }

    fn write(&mut self, line: &[u8]) -> io::Result<()> {
        // One write call per record: with O_APPEND the line lands whole or, on a full disk,
        // fails; a short write leaves a torn line that the next load skips. After one, the
        // record brings its own line break, so the torn bytes stay a line of their own.
        let mut owned;
        let line = if self.torn {
            owned = Vec::with_capacity(line.len() + 1);
            owned.push(b'\n');
            owned.extend_from_slice(line);
            owned.as_slice()
        } else {
            line
        };
        let n = match self.file.write(line) {
            Ok(n) => n,
            Err(e) => {
                self.torn = true;
                return Err(e);
            }
        };
        if n != line.len() {
            self.torn = true;
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("short write ({n} of {} bytes)", line.len()),
            ));
        }
        self.torn = false;
        self.records += 1;
        Ok(())
    }
}

/// Journal text holding `events`, one record a line, as [`Journal::compact`] writes it.
pub(crate) fn records<'a>(events: impl Iterator<Item = &'a Event>) -> String {
    let mut text = String::new();
    for event in events {
        text += &event.serialize_json();
        text.push('\n');
    }
    text
}

fn append_to(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
}

/// How every event record begins (nanoserde writes the fields in declaration order).
const RECORD_START: &str = "{\"seq\":";

/// Reads journal text: events in order, minus the acknowledged ones.
pub(crate) fn replay(bytes: &[u8]) -> Loaded {
    let mut loaded = Loaded::default();
    let mut acked = Vec::new();
    for line in bytes.split(|&b| b == b'\n') {
        let Ok(line) = std::str::from_utf8(line) else {
            loaded.skipped += 1;
            continue;
        };
        if line.is_empty() {
            continue;
        }
        if let Some(seq) = line.strip_prefix("ack ") {
            match seq.parse::<u32>() {
                Ok(seq) => acked.push(seq),
                Err(_) => loaded.skipped += 1,
            }
            continue;
        }
        match crate::json::decode::<Event>(line) {
            Ok(event) => loaded.events.push(event),
            Err(_) => {
                // A record glued to a torn one: the torn part is lost, the record is not.
                loaded.skipped += 1;
                let glued = line
                    .rfind(RECORD_START)
                    .filter(|&at| at > 0)
                    .and_then(|at| crate::json::decode::<Event>(&line[at..]).ok());
                loaded.events.extend(glued);
            }
        }
    }
    acked.sort_unstable();
    loaded
        .events
        .retain(|e| acked.binary_search(&e.seq).is_err());
    loaded
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u32, kind: Kind, session: u32) -> Event {
        Event {
            seq,
            kind,
            session,
            user: "alice".into(),
            group: String::new(),
            client_ip: "192.0.2.1".into(),
            vpn_ip: "10.0.0.2".into(),
            device: "vpns0".into(),
            at: 1_700_000_000,
            bytes_in: u64::MAX,
            bytes_out: 7,
            duration: 3,
            trace: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
        }
    }

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("journal-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn events_survive_a_reopen_and_acked_ones_do_not() {
        let dir = tmpdir("reopen");
        let (mut j, loaded) = Journal::open(&dir).unwrap();
        assert!(loaded.events.is_empty());
        for seq in 1..=3 {
            j.append(&event(seq, Kind::Connect, seq)).unwrap();
        }
        j.ack(2).unwrap();
        drop(j);
        let (_, loaded) = Journal::open(&dir).unwrap();
        assert_eq!(
            loaded.events,
            vec![event(1, Kind::Connect, 1), event(3, Kind::Connect, 3)]
        );
        // The reopen compacted: the file holds the two live events only.
        let text = fs::read_to_string(dir.join(FILE_NAME)).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(!text.contains("ack"), "{text}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn torn_and_damaged_lines_are_skipped_not_fatal() {
        let dir = tmpdir("torn");
        fs::create_dir_all(&dir).unwrap();
        let whole = event(1, Kind::Disconnect, 9).serialize_json();
        let torn = &event(2, Kind::Connect, 10).serialize_json()[..30];
        // A damaged line with an unknown key would make nanoserde itself panic.
        let damaged = r#"{"seq": 3, "damaged": }"#;
        fs::write(
            dir.join(FILE_NAME),
            format!("{whole}\nack x\n{damaged}\n{torn}"),
        )
        .unwrap();
        let (_, loaded) = Journal::open(&dir).unwrap();
        assert_eq!(loaded.events, vec![event(1, Kind::Disconnect, 9)]);
        assert_eq!(loaded.skipped, 3);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_record_after_a_torn_one_is_never_lost() {
        let dir = tmpdir("glue");
        let (mut j, _) = Journal::open(&dir).unwrap();
        j.append(&event(1, Kind::Connect, 1)).unwrap();
        // The disk fills mid-record: part of a line lands, the write reports failure.
        j.use_file_for_test("/dev/full");
        assert!(j.append(&event(2, Kind::Connect, 2)).is_err());
        j.use_file_for_test(dir.join(FILE_NAME).to_str().unwrap());
        let torn = &event(2, Kind::Connect, 2).serialize_json()[..40];
        fs::OpenOptions::new()
            .append(true)
            .open(dir.join(FILE_NAME))
            .unwrap()
            .write_all(torn.as_bytes())
            .unwrap();
        // Space again: the next records still land whole.
        j.append(&event(3, Kind::Disconnect, 1)).unwrap();
        j.append(&event(4, Kind::Connect, 4)).unwrap();
        j.ack(1).unwrap();
        drop(j);
        // The torn bytes are a line of their own; every record after them has its own line.
        let text = fs::read_to_string(dir.join(FILE_NAME)).unwrap();
        assert_eq!(text.lines().nth(1), Some(torn), "{text}");
        assert_eq!(text.lines().count(), 5, "{text}");
        let (_, loaded) = Journal::open(&dir).unwrap();
        assert_eq!(
            loaded.events,
            vec![event(3, Kind::Disconnect, 1), event(4, Kind::Connect, 4)]
        );
        assert_eq!(loaded.skipped, 1);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn records_keep_their_trace_and_older_ones_load_without() {
        let e = event(1, Kind::Connect, 7);
        let line = nanoserde::SerJson::serialize_json(&e);
        assert!(
            line.contains("\"trace\":\"4bf92f3577b34da6a3ce929d0e0e4736\""),
            "{line}"
        );
        let older = line.replace(",\"trace\":\"4bf92f3577b34da6a3ce929d0e0e4736\"", "");
        assert_ne!(older, line);
        let loaded = replay(format!("{line}\n{older}\n").as_bytes());
        assert_eq!(loaded.skipped, 0);
        assert_eq!(loaded.events[0], e);
        assert_eq!(loaded.events[1].trace, "");
    }

    #[test]
    fn a_record_glued_to_a_torn_line_by_an_older_writer_is_recovered() {
        let whole = |e: Event| e.serialize_json();
        let torn = &whole(event(2, Kind::Connect, 2))[..25];
        let text = format!(
            "{}\n{torn}{}\n{}\n",
            whole(event(1, Kind::Connect, 1)),
            whole(event(3, Kind::Connect, 3)),
            whole(event(4, Kind::Connect, 4))
        );
        let loaded = replay(text.as_bytes());
        let seqs: Vec<u32> = loaded.events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [1, 3, 4]);
        assert_eq!(loaded.skipped, 1);
    }

    #[test]
    fn a_full_disk_is_an_error_not_a_panic() {
        let dir = tmpdir("full");
        let (mut j, _) = Journal::open(&dir).unwrap();
        // /dev/full fails every write with ENOSPC.
        j.use_file_for_test("/dev/full");
        let e = j.append(&event(1, Kind::Connect, 1)).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn compaction_is_wanted_only_once_dead_records_pile_up() {
        let dir = tmpdir("compact");
        let (mut j, _) = Journal::open(&dir).unwrap();
        for seq in 0..100 {
            j.append(&event(seq, Kind::Connect, seq)).unwrap();
            j.ack(seq).unwrap();
        }
        assert!(worth_compacting(j.records, 0));
        j.compact([].iter()).unwrap();
        assert!(!worth_compacting(j.records, 0));
        assert_eq!(fs::read(dir.join(FILE_NAME)).unwrap().len(), 0);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_directory_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tmpdir("mode");
        let (j, _) = Journal::open(&dir.join("sub")).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.join("sub")), 0o700);
        assert_eq!(mode(&j.path()), 0o600);
        let _ = fs::remove_dir_all(&dir);
    }
}
