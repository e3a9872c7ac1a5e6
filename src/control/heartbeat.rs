//! The heartbeat the agent sends on the control stream: its own state, the router's load from
//! /proc, and ocserv's from a STATUS round trip.

use crate::ocserv::ctl::Client;
use crate::proto::agent::v1::{AgentStatus, Heartbeat, OcservStatus, SystemMetrics};
use std::path::Path;

/// CPU time from /proc/stat's first line: (busy, total) in clock ticks since boot.
pub type CpuSample = (u64, u64);

/// Builds a heartbeat. `cpu` holds the previous sample: CPU use is the busy share of the time
/// between two heartbeats (0 for the first one, which has nothing to compare with).
pub async fn heartbeat(ctl: &Client, proc: &Path, cpu: &mut Option<CpuSample>) -> Heartbeat {
    let now = cpu_sample(&read(proc, "stat"));
    let cpu_usage_percent = match (*cpu, now) {
        (Some(before), Some(after)) => cpu_percent(before, after),
        _ => 0.0,
    };
    *cpu = now;
    let (memory_total_bytes, memory_used_bytes) = memory(&read(proc, "meminfo"));
    let system = SystemMetrics {
        cpu_usage_percent,
        memory_usage_percent: if memory_total_bytes == 0 {
            0.0
        } else {
            memory_used_bytes as f64 * 100.0 / memory_total_bytes as f64
        },
        memory_total_bytes,
        memory_used_bytes,
        load_average_1m: load1(&read(proc, "loadavg")),
    };
    let (status, ocserv) = match ctl.status().await {
        Ok(s) => (
            AgentStatus::Healthy,
            OcservStatus {
                is_running: s.status.unwrap_or(false),
                // Asked of the running binary (once per ocserv process); empty when it
                // cannot be had: nothing is made up.
                version: crate::ocserv::version::of_main_pid(s.pid)
                    .await
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
                active_sessions: s.active_clients.unwrap_or(0),
                total_bytes_in: s.kbytes_in.unwrap_or(0).saturating_mul(1024),
                total_bytes_out: s.kbytes_out.unwrap_or(0).saturating_mul(1024),
            },
        ),
        Err(e) => {
            log::debug!("control: heartbeat without ocserv: {e}");
            (AgentStatus::Degraded, OcservStatus::default())
        }
    };
    Heartbeat {
        status: status as i32,
        system: Some(system),
        ocserv: Some(ocserv),
    }
}

fn read(proc: &Path, name: &str) -> String {
    std::fs::read_to_string(proc.join(name)).unwrap_or_default()
}

/// `cpu  user nice system idle iowait irq softirq steal ...`: idle and iowait are not busy.
fn cpu_sample(stat: &str) -> Option<CpuSample> {
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .take(8)
        .map(|t| t.parse().ok())
        .collect::<Option<_>>()?;
    if ticks.len() < 4 {
        return None;
    }
    let total: u64 = ticks.iter().sum();
    let idle = ticks[3] + ticks.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

fn cpu_percent(before: CpuSample, after: CpuSample) -> f64 {
    let busy = after.0.saturating_sub(before.0);
    let total = after.1.saturating_sub(before.1);
    if total == 0 {
        0.0
    } else {
        busy as f64 * 100.0 / total as f64
    }
}

/// (total, used) bytes; used = MemTotal - MemAvailable (what the kernel could not hand out
/// without swapping), as `free` shows it.
fn memory(meminfo: &str) -> (u64, u64) {
    let kb = |key: &str| -> Option<u64> {
        let line = meminfo.lines().find(|l| l.starts_with(key))?;
        line[key.len()..].split_whitespace().next()?.parse().ok()
    };
    match (kb("MemTotal:"), kb("MemAvailable:")) {
        (Some(total), Some(available)) => (total * 1024, total.saturating_sub(available) * 1024),
        (Some(total), None) => (total * 1024, 0),
        _ => (0, 0),
    }
}

/// The first field of /proc/loadavg, which the kernel writes as `N.NN`. Read as integers:
/// parsing text as f64 would link std's float parser (about 20 KB on armv7) for this one field.
fn load1(loadavg: &str) -> f64 {
    let Some(first) = loadavg.split_whitespace().next() else {
        return 0.0;
    };
    let (whole, frac) = first.split_once('.').unwrap_or((first, ""));
    let frac = format!("{frac:0<2}");
    let hundredths = frac.get(..2).and_then(|f| f.parse::<u32>().ok());
    let (Ok(whole), Some(hundredths)) = (whole.parse::<u32>(), hundredths) else {
        return 0.0;
    };
    f64::from(whole) + f64::from(hundredths) / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_use_is_the_busy_share_between_two_samples() {
        let a = cpu_sample("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n").unwrap();
        assert_eq!(a, (150, 1000));
        let b = cpu_sample("cpu  160 0 90 1000 50 0 0 0 0 0\n").unwrap();
        assert_eq!(cpu_percent(a, b), 100.0 * 100.0 / 300.0);
        assert_eq!(cpu_percent(b, b), 0.0);
        assert_eq!(cpu_sample("intr 1 2 3"), None);
        assert_eq!(cpu_sample("cpu  1 x 3 4"), None);
    }

    #[test]
    fn memory_and_load_come_from_proc_and_missing_files_give_zeros() {
        let meminfo = "MemTotal:       1000 kB\nMemFree:         100 kB\nMemAvailable:    400 kB\n";
        assert_eq!(memory(meminfo), (1_024_000, 614_400));
        assert_eq!(memory(""), (0, 0));
        assert_eq!(load1("0.42 0.30 0.10 1/80 1234\n"), 0.42);
        assert_eq!(load1("12.5 1 1 1/1 1"), 12.5);
        assert_eq!(load1("3 1 1 1/1 1"), 3.0);
        assert_eq!(load1(""), 0.0);
        assert_eq!(load1("x.yy 1"), 0.0);
        assert_eq!(load1("1.€ 1"), 0.0);
    }

    #[test]
    fn without_ocserv_the_agent_says_degraded() {
        let dir = crate::testutil::fresh_dir("heartbeat");
        std::fs::write(dir.join("stat"), "cpu  1 0 1 8 0 0 0 0\n").unwrap();
        std::fs::write(dir.join("loadavg"), "1.50 1 1 1/1 1\n").unwrap();
        let client = Client::new(dir.join("none.socket"), std::time::Duration::from_secs(1));
        let mut cpu = None;
        let hb = async_io::block_on(heartbeat(&client, &dir, &mut cpu));
        assert_eq!(hb.status, AgentStatus::Degraded as i32);
        assert_eq!(cpu, Some((2, 10)));
        let system = hb.system.unwrap();
        assert_eq!(system.load_average_1m, 1.5);
        assert_eq!(system.memory_total_bytes, 0);
        assert!(!hb.ocserv.unwrap().is_running);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
