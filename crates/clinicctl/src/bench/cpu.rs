//! CPU time spent during the measured window (Linux `/proc`): the whole machine, named processes
//! (e.g. the services, given as `--cpu-of name=pid`) and this load generator itself. Per call, it
//! says where a call's cost goes, which throughput alone cannot.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Timing;

/// `/proc` counts in USER_HZ, which Linux fixes at 100 per second for user space.
const TICKS_PER_SECOND: f64 = 100.0;

#[derive(Debug, Clone, Serialize)]
pub struct CpuUsage {
    /// Busy CPU milliseconds of the whole machine (all cores) in the window.
    pub machine_ms: f64,
    /// This load generator's CPU milliseconds.
    pub load_generator_ms: f64,
    /// Each named process's CPU milliseconds.
    pub processes_ms: BTreeMap<String, f64>,
}

fn machine_busy_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu = stat.lines().next()?;
    let v: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal …: all but idle and iowait.
    Some(
        v.iter()
            .enumerate()
            .filter(|(i, _)| *i != 3 && *i != 4)
            .map(|(_, x)| x)
            .sum(),
    )
}

fn process_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

struct Snapshot {
    machine: u64,
    own: u64,
    processes: Vec<u64>,
}

fn snapshot(pids: &[(String, String)]) -> Snapshot {
    Snapshot {
        machine: machine_busy_ticks().unwrap_or(0),
        own: process_ticks("self").unwrap_or(0),
        processes: pids
            .iter()
            .map(|(_, pid)| process_ticks(pid).unwrap_or(0))
            .collect(),
    }
}

fn ms(ticks: u64) -> f64 {
    ticks as f64 * 1000.0 / TICKS_PER_SECOND
}

/// Snapshots at the start and end of the window; `named` holds `name=pid` pairs.
pub async fn watch(timing: Timing, named: Vec<String>) -> CpuUsage {
    let pids: Vec<(String, String)> = named
        .iter()
        .filter_map(|s| s.split_once('=').map(|(n, p)| (n.to_owned(), p.to_owned())))
        .collect();
    tokio::time::sleep_until(timing.measure_from.into()).await;
    let before = snapshot(&pids);
    tokio::time::sleep_until(timing.end.into()).await;
    let after = snapshot(&pids);
    CpuUsage {
        machine_ms: ms(after.machine.saturating_sub(before.machine)),
        load_generator_ms: ms(after.own.saturating_sub(before.own)),
        processes_ms: pids
            .iter()
            .zip(after.processes.iter().zip(&before.processes))
            .map(|((name, _), (a, b))| (name.clone(), ms(a.saturating_sub(*b))))
            .collect(),
    }
}
