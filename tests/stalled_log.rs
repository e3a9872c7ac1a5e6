//! A log reader that stops reading must not slow the decision path: the daemon's stderr is a
//! pipe nobody reads (logd stalled), filled to the brim, and hooks are still answered within
//! 100 ms while the lines beyond the writer's queue are dropped and counted.

mod common;

use common::{bin, command, config_text, wait_for, TempDir};
use ocserv_agent::ipc::client::call;
use ocserv_agent::ipc::messages::{Reply, Request};
use ocserv_agent::session::SessionEvent;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A pipe (read end, write end) whose buffer is one page: a few dozen log lines fill it.
fn small_pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, 4096) };
    (read, write)
}

/// Bytes waiting in the pipe.
fn unread(read: &impl AsRawFd) -> usize {
    let mut n: libc::c_int = 0;
    assert_eq!(
        unsafe { libc::ioctl(read.as_raw_fd(), libc::FIONREAD, &mut n) },
        0
    );
    n as usize
}

fn connect_event(user: &str) -> Request {
    let env = [
        ("REASON", "connect"),
        ("ID", "7"),
        ("USERNAME", user),
        ("GROUPNAME", "staff"),
        ("IP_REAL", "192.0.2.1"),
    ];
    let event =
        SessionEvent::from_env(|name| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.into()));
    Request::Event(Box::new(event.unwrap()))
}

#[test]
fn a_stalled_stderr_reader_costs_log_lines_not_hooks() {
    let dir = TempDir::new("stalled-log");
    // Debug level: every decision writes lines, so the pipe fills quickly.
    let config = dir.write("c", &config_text(&dir, "\toption log_level 'debug'\n"));
    let (read, write) = small_pipe();
    let mut child = command(&bin())
        .args(["run", "-c", config.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(write))
        .spawn()
        .unwrap();
    let socket = dir.path("agent.sock");
    wait_for("the daemon's socket", || socket.exists());
    let ask = |user: &str| {
        let started = Instant::now();
        let reply = call(&socket, &connect_event(user), Duration::from_secs(5));
        (reply, started.elapsed())
    };
    // Fill the pipe: decisions until it holds (nearly) a page nobody will ever read.
    let mut filled = 0;
    while unread(&read) < 4096 - 256 {
        let (reply, _) = ask("filler");
        assert!(matches!(reply, Ok(Reply::Decision(_))), "{reply:?}");
        filled += 1;
        assert!(filled < 2000, "the pipe never filled");
    }
    // Now every write to stderr would block. 500 more decisions (the writer's queue holds 256
    // lines) are each answered within 100 ms.
    let mut slowest = Duration::ZERO;
    for i in 0..500 {
        let (reply, took) = ask(&format!("user{i}"));
        match reply {
            Ok(Reply::Decision(d)) => assert!(d.allow, "{d:?}"),
            other => panic!("decision {i}: {other:?}"),
        }
        slowest = slowest.max(took);
    }
    assert!(
        slowest < Duration::from_millis(100),
        "the slowest answer with a stalled log reader took {slowest:?}"
    );
    // The reader comes back: the queued lines follow, then how many were dropped.
    let mut pipe = std::fs::File::from(read);
    let mut seen = Vec::new();
    let note = "log line(s) dropped: the log reader fell behind";
    let until = Instant::now() + Duration::from_secs(10);
    while !String::from_utf8_lossy(&seen).contains(note) {
        assert!(Instant::now() < until, "no note of dropped lines");
        if unread(&pipe) == 0 {
            // Something to log, so that the writer has a line to follow with the note.
            let _ = call(&socket, &Request::Status, Duration::from_secs(5));
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        let mut buf = [0u8; 4096];
        let n = std::io::Read::read(&mut pipe, &mut buf).unwrap();
        seen.extend_from_slice(&buf[..n]);
    }
    let _ = child.kill();
    let _ = child.wait();
}
