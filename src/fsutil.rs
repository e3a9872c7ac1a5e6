//! Writing files so that a crash or a full disk never leaves a half-written one, and reading
//! and replacing them without following a symbolic link someone put in their place (a per-user
//! file that points at /etc/shadow must not be copied into a backup, nor written through).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Replaces `path` with `bytes`: a temporary file beside it (same file system, so the rename
/// is atomic), written, fsynced, renamed over `path`, then the directory fsynced so the rename
/// itself survives a power cut. On any error the temporary file is removed and `path` is
/// untouched. The new file gets `mode`. The temporary file is created exclusively and never
/// through a link (`O_EXCL | O_NOFOLLOW`), and a `path` that is a symbolic link is refused,
/// not replaced.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    refuse_link(path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file path"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let create = || {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .mode(mode)
            .open(&tmp)
    };
    let written = (|| {
        let mut f = match create() {
            // Left by a crashed process that had our pid: ours to remove (a link itself is
            // removed, never what it points at), then created afresh.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                fs::remove_file(&tmp)?;
                create()?
            }
            other => other?,
        };
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// Reads `path` without following a symbolic link (ELOOP when it is one).
pub fn read_nofollow(path: &Path) -> io::Result<Vec<u8>> {
    let mut f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    let mut bytes = Vec::new();
    io::Read::read_to_end(&mut f, &mut bytes)?;
    Ok(bytes)
}

/// An error when `path` is a symbolic link; nothing (or anything else) there is fine.
pub fn refuse_link(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "is a symbolic link; the agent does not follow or replace links",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_neither_followed_nor_replaced() {
        let dir = crate::testutil::fresh_dir("fsutil-links");
        let secret = dir.join("secret");
        fs::write(&secret, "root:x").unwrap();
        let link = dir.join("alice");
        std::os::unix::fs::symlink(&secret, &link).unwrap();
        let e = write_atomic(&link, b"mtu = 1", 0o644).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(fs::read(&secret).unwrap(), b"root:x");
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            read_nofollow(&link).unwrap_err().raw_os_error(),
            Some(libc::ELOOP)
        );
        // A temporary name someone planted as a link is removed, not written through.
        let target = dir.join("f");
        let planted = dir.join(format!(".f.tmp{}", std::process::id()));
        std::os::unix::fs::symlink(&secret, &planted).unwrap();
        write_atomic(&target, b"new", 0o600).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new");
        assert_eq!(fs::read(&secret).unwrap(), b"root:x");
        assert!(
            fs::symlink_metadata(&planted).is_err(),
            "the planted link is gone"
        );
    }

    #[test]
    fn replaces_whole_or_not_at_all() {
        let dir = std::env::temp_dir().join(format!("fsutil-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        write_atomic(&path, b"one", 0o644).unwrap();
        write_atomic(&path, b"two", 0o644).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        // A failing write (the target is a directory, so rename fails) leaves no temp file.
        let blocked = dir.join("d");
        fs::create_dir_all(blocked.join("x")).unwrap();
        assert!(write_atomic(&blocked, b"three", 0o644).is_err());
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        let _ = fs::remove_dir_all(&dir);
    }
}
