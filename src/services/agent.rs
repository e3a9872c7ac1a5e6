//! `agent.v1.AgentService/HealthCheck`, in three tiers: 1 the agent answers (liveness, real
//! uptime); 2 also ocserv's main process runs and its control socket accepts a connection;
//! 3 also a real STATUS round trip and writable per-user / per-group config directories. Any
//! other tier is INVALID_ARGUMENT. `healthy` is true only when every check of the tier passed;
//! `checks` says what each one found.

use crate::grpc::server::{Access, Router};
use crate::grpc::{Code, Status};
use crate::ocserv::ctl::Client;
use crate::proto::agent::v1::{HealthCheckRequest, HealthCheckResponse};
use bytes::Bytes;
use prost::Message;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

pub const HEALTH_CHECK: &str = "/agent.v1.AgentService/HealthCheck";

/// How long tier 3's STATUS may take: a health check must answer while ocserv is stuck.
const STATUS_TIMEOUT: Duration = Duration::from_secs(3);

/// Where tiers 2 and 3 look, from the configuration in force at the time of the check.
#[derive(Clone, Debug)]
pub struct Probe {
    pub ctl_socket: PathBuf,
    pub config_dirs: Vec<(&'static str, PathBuf)>,
    /// `/proc`, or a stand-in for tests.
    pub proc_dir: PathBuf,
}

/// Registers this service's methods. `started` is when the daemon started (for uptime);
/// `probe` says where ocserv is, read for each check (a reload may move it).
pub fn register(router: &mut Router, started: Instant, probe: Rc<dyn Fn() -> Probe>) {
    // Any CA-signed client: liveness says nothing about users or sessions.
    router.unary_for(Access::AnyClient, HEALTH_CHECK, move |_call, message| {
        let probe = probe();
        async move { health_check(&message, started, &probe).await }
    });
}

/// Runs the checks of the requested tier.
pub async fn health_check(
    message: &[u8],
    started: Instant,
    probe: &Probe,
) -> Result<Bytes, Status> {
    let request = HealthCheckRequest::decode(message).map_err(|e| {
        Status::new(
            Code::Internal,
            format!("undecodable HealthCheckRequest: {e}"),
        )
    })?;
    if !(1..=3).contains(&request.tier) {
        return Err(Status::new(
            Code::InvalidArgument,
            format!("tier must be 1, 2 or 3, not {}", request.tier),
        ));
    }
    let mut checks = HashMap::new();
    let mut failed: Vec<&'static str> = Vec::new();
    let mut check = |name: &'static str, result: Result<String, String>| match result {
        Ok(text) => {
            checks.insert(name.to_string(), text);
        }
        Err(text) => {
            checks.insert(name.to_string(), text);
            failed.push(name);
        }
    };
    check("agent", Ok("ok".into()));
    check(
        "uptime_seconds",
        Ok(started.elapsed().as_secs().to_string()),
    );
    if request.tier >= 2 {
        check("ocserv_process", ocserv_process(&probe.proc_dir));
        check("control_socket", control_socket(&probe.ctl_socket));
    }
    if request.tier >= 3 {
        let client = Client::new(&probe.ctl_socket, STATUS_TIMEOUT);
        match client.status().await {
            Ok(st) if st.status.unwrap_or(false) => {
                check("ocserv_status", Ok("online".into()));
                check(
                    "active_sessions",
                    Ok(st.active_clients.unwrap_or(0).to_string()),
                );
            }
            Ok(_) => check("ocserv_status", Err("ocserv reports an error state".into())),
            Err(e) => check("ocserv_status", Err(e.to_string())),
        }
        for (name, dir) in &probe.config_dirs {
            check(name, writable(dir));
        }
    }
    let healthy = failed.is_empty();
    let response = HealthCheckResponse {
        healthy,
        status_message: if healthy {
            format!(
                "ocserv-agent {} running; tier {} checks passed",
                env!("CARGO_PKG_VERSION"),
                request.tier
            )
        } else {
            format!("failed: {}", failed.join(", "))
        },
        checks,
        timestamp: Some(crate::proto::timestamp(SystemTime::now())),
    };
    Ok(Bytes::from(response.encode_to_vec()))
}

/// ocserv's main process, found by its name in `/proc/PID/comm` (`ocserv-main` once it has set
/// its title, `ocserv` before).
fn ocserv_process(proc_dir: &Path) -> Result<String, String> {
    let entries = std::fs::read_dir(proc_dir)
        .map_err(|e| format!("cannot read {}: {e}", proc_dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        if let Ok(comm) = std::fs::read_to_string(entry.path().join("comm")) {
            if matches!(comm.trim_end(), "ocserv-main" | "ocserv") {
                return Ok(format!("running (pid {pid})"));
            }
        }
    }
    Err("not running".into())
}

/// The control socket accepts a connection (closed at once, without a request).
fn control_socket(path: &Path) -> Result<String, String> {
    std::os::unix::net::UnixStream::connect(path)
        .map(|_| format!("{} accepts connections", path.display()))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// A directory the agent can write config files into.
fn writable(dir: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if !meta.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())
        .map_err(|_| format!("{}: a NUL in the path", dir.display()))?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    if unsafe { libc::access(c.as_ptr(), libc::W_OK) } == 0 {
        Ok(format!("{} writable", dir.display()))
    } else {
        Err(format!(
            "{}: {}",
            dir.display(),
            std::io::Error::last_os_error()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        crate::testutil::fresh_dir(&format!("health-{name}"))
    }

    fn probe(dir: &Path) -> Probe {
        Probe {
            ctl_socket: dir.join("occtl.socket"),
            config_dirs: vec![("per_user_dir", dir.join("users"))],
            proc_dir: dir.join("proc"),
        }
    }

    fn ask(tier: i32, probe: &Probe) -> Result<HealthCheckResponse, Status> {
        let started = Instant::now() - Duration::from_secs(42);
        let msg = HealthCheckRequest { tier }.encode_to_vec();
        async_io::block_on(health_check(&msg, started, probe))
            .map(|b| HealthCheckResponse::decode(b).unwrap())
    }

    #[test]
    fn tier_one_reports_liveness_and_real_uptime() {
        let r = ask(1, &probe(Path::new("/nonexistent"))).unwrap();
        assert!(r.healthy);
        assert_eq!(r.checks["agent"], "ok");
        assert_eq!(r.checks["uptime_seconds"], "42");
        assert!(r.timestamp.unwrap().seconds > 1_700_000_000);
    }

    #[test]
    fn tiers_two_and_three_look_at_ocserv_for_real() {
        let dir = tmp("tiers");
        let p = probe(&dir);
        // Nothing there: unhealthy, and each check says why.
        let r = ask(3, &p).unwrap();
        assert!(!r.healthy);
        assert_eq!(
            r.checks["ocserv_process"],
            "cannot read ".to_string()
                + &dir.join("proc").display().to_string()
                + ": No such file or directory (os error 2)"
        );
        assert!(
            r.checks["control_socket"].contains("No such file"),
            "{:?}",
            r.checks
        );
        assert!(
            r.checks["per_user_dir"].contains("No such file"),
            "{:?}",
            r.checks
        );
        assert!(
            r.status_message
                .starts_with("failed: ocserv_process, control_socket, ocserv_status"),
            "{}",
            r.status_message
        );

        // An ocserv-main in the (stand-in) process table, a control socket answering STATUS,
        // a writable directory.
        std::fs::create_dir_all(dir.join("proc/4242")).unwrap();
        std::fs::write(dir.join("proc/4242/comm"), "ocserv-main\n").unwrap();
        std::fs::create_dir_all(dir.join("proc/self")).unwrap();
        std::fs::create_dir_all(dir.join("users")).unwrap();
        // Tier 2 connects and closes; tier 3 does that and sends STATUS.
        let status = vec![0x08, 0x01, 0x20, 0x07]; // status=true, active_clients=7
        let server = crate::ocserv::ctl_fake::scripted(&p.ctl_socket, vec![Some((101, status))]);
        let r = ask(2, &p).unwrap();
        assert!(r.healthy, "{:?}", r.checks);
        assert_eq!(r.checks["ocserv_process"], "running (pid 4242)");
        let r = ask(3, &p).unwrap();
        assert!(r.healthy, "{:?}", r.checks);
        assert_eq!(r.checks["ocserv_status"], "online");
        assert_eq!(r.checks["active_sessions"], "7");
        assert!(r.checks["per_user_dir"].ends_with("writable"));
        server.join().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn other_tiers_are_invalid() {
        let p = probe(Path::new("/nonexistent"));
        for bad in [0, 4, -1, i32::MAX] {
            assert_eq!(
                ask(bad, &p).unwrap_err().code,
                Code::InvalidArgument,
                "tier {bad}"
            );
        }
        let e = async_io::block_on(health_check(b"\xff\xff\xff", Instant::now(), &p)).unwrap_err();
        assert_eq!(e.code, Code::Internal);
    }
}
