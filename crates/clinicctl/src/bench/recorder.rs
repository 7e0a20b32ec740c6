//! Per-worker measurement: a latency histogram and error counts for calls started inside the
//! measured window; merged when the workers finish.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use tonic::Status;
use tonic_types::StatusExt;

/// Warm-up, then the measured window.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub measure_from: Instant,
    pub end: Instant,
}

impl Timing {
    pub fn starting_now(warmup: Duration, measured: Duration) -> Self {
        let measure_from = Instant::now() + warmup;
        Self {
            measure_from,
            end: measure_from + measured,
        }
    }

    pub fn running(&self) -> bool {
        Instant::now() < self.end
    }

    pub fn measured(&self) -> Duration {
        self.end - self.measure_from
    }
}

#[derive(Debug, Clone)]
pub struct Recorder {
    timing: Timing,
    /// Microseconds, 1 µs to 60 s, 3 significant digits.
    pub latency: Histogram<u64>,
    pub ok: u64,
    pub errors: BTreeMap<String, u64>,
}

impl Recorder {
    pub fn new(timing: Timing) -> Self {
        Self {
            timing,
            latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds"),
            ok: 0,
            errors: BTreeMap::new(),
        }
    }

    /// Times `call` and records it if it started inside the measured window.
    pub async fn time<T>(
        &mut self,
        call: impl Future<Output = Result<T, Status>>,
    ) -> Result<T, Status> {
        let started = Instant::now();
        let res = call.await;
        self.record(started, started.elapsed(), res.as_ref().err());
        res
    }

    pub fn record(&mut self, started: Instant, took: Duration, error: Option<&Status>) {
        if started < self.timing.measure_from || started >= self.timing.end {
            return;
        }
        self.latency
            .saturating_record(took.as_micros().max(1) as u64);
        match error {
            None => self.ok += 1,
            Some(s) => *self.errors.entry(reason(s)).or_default() += 1,
        }
    }

    pub fn merge(&mut self, other: &Recorder) {
        self.latency
            .add(&other.latency)
            .expect("same histogram bounds");
        self.ok += other.ok;
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
    }

    pub fn timing(&self) -> Timing {
        self.timing
    }
}

/// The `ErrorInfo.reason` of a status, or its code when it has none (a transport failure).
pub fn reason(status: &Status) -> String {
    status
        .get_error_details()
        .error_info()
        .map(|i| i.reason.clone())
        .unwrap_or_else(|| format!("{:?}", status.code()))
}
