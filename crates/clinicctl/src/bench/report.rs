//! What a run measured, as a table or JSON.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Recorder, Scenario, cpu::CpuUsage};

#[derive(Debug, Serialize)]
pub struct Report {
    pub scenario: String,
    pub concurrency: usize,
    pub measured_seconds: f64,
    pub calls: u64,
    pub ok: u64,
    pub throughput_per_second: f64,
    pub latency_ms: Percentiles,
    pub errors: BTreeMap<String, u64>,
    /// Errors whose reason this scenario does not expect (e.g. INTERNAL); must be zero.
    pub unexpected_errors: u64,
    /// Race scenarios: rounds run and what broke the invariant (must be empty).
    pub rounds: Option<u64>,
    pub violations: Vec<String>,
    /// CPU milliseconds per call in the measured window: machine, load generator, named processes.
    pub cpu_ms_per_call: Option<CpuPerCall>,
}

#[derive(Debug, Serialize)]
pub struct CpuPerCall {
    pub machine: f64,
    pub load_generator: f64,
    pub processes: BTreeMap<String, f64>,
}

#[derive(Debug, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Report {
    pub fn new(scenario: Scenario, concurrency: usize, rec: &Recorder, expected: &[&str]) -> Self {
        let h = &rec.latency;
        let ms = |v: u64| v as f64 / 1000.0;
        let errors = rec.errors.clone();
        let unexpected_errors = errors
            .iter()
            .filter(|(k, _)| !expected.contains(&k.as_str()))
            .map(|(_, v)| v)
            .sum();
        let calls = rec.ok + errors.values().sum::<u64>();
        let secs = rec.timing().measured().as_secs_f64();
        Self {
            scenario: format!("{scenario:?}"),
            concurrency,
            measured_seconds: secs,
            calls,
            ok: rec.ok,
            throughput_per_second: calls as f64 / secs,
            latency_ms: Percentiles {
                p50: ms(h.value_at_quantile(0.50)),
                p95: ms(h.value_at_quantile(0.95)),
                p99: ms(h.value_at_quantile(0.99)),
                max: ms(h.max()),
            },
            errors,
            unexpected_errors,
            rounds: None,
            violations: Vec::new(),
            cpu_ms_per_call: None,
        }
    }

    pub fn set_cpu(&mut self, cpu: CpuUsage) {
        let calls = self.calls.max(1) as f64;
        self.cpu_ms_per_call = Some(CpuPerCall {
            machine: cpu.machine_ms / calls,
            load_generator: cpu.load_generator_ms / calls,
            processes: cpu
                .processes_ms
                .into_iter()
                .map(|(k, v)| (k, v / calls))
                .collect(),
        });
    }

    pub fn passed(&self) -> bool {
        self.unexpected_errors == 0 && self.violations.is_empty() && self.calls > 0
    }

    pub fn print(&self) {
        println!(
            "{} at concurrency {}: {} calls in {:.1} s = {:.0}/s ({} ok)",
            self.scenario,
            self.concurrency,
            self.calls,
            self.measured_seconds,
            self.throughput_per_second,
            self.ok
        );
        let l = &self.latency_ms;
        println!(
            "latency ms  p50 {:.2}  p95 {:.2}  p99 {:.2}  max {:.2}",
            l.p50, l.p95, l.p99, l.max
        );
        for (reason, n) in &self.errors {
            println!("error {reason:<32} {n}");
        }
        if let Some(c) = &self.cpu_ms_per_call {
            let named: Vec<String> = c
                .processes
                .iter()
                .map(|(k, v)| format!("{k} {v:.3}"))
                .collect();
            println!(
                "CPU ms per call: machine {:.3}, load generator {:.3}, {}",
                c.machine,
                c.load_generator,
                named.join(", ")
            );
        }
        if let Some(r) = self.rounds {
            println!(
                "rounds {r}, each with exactly one winner: {}",
                self.violations.is_empty()
            );
        }
        for v in &self.violations {
            println!("VIOLATION {v}");
        }
        if self.unexpected_errors > 0 {
            println!("UNEXPECTED ERRORS {}", self.unexpected_errors);
        }
    }
}
