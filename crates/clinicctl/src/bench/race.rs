//! One round of a race: every actor calls at the same moment (a barrier, never a sleep), and the
//! round is judged: exactly one winner, every loser told one of the expected reasons.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::Barrier;
use tonic::Status;

use super::{Recorder, recorder::reason};

/// What each actor's call gave, with its start and duration.
pub type Outcomes<T> = Vec<(Instant, Duration, Result<T, Status>)>;

/// Runs `call(i)` for actors `0..n`, all released together.
pub async fn round<T, Fut>(n: usize, call: impl Fn(usize) -> Fut) -> anyhow::Result<Outcomes<T>>
where
    T: Send + 'static,
    Fut: Future<Output = Result<T, Status>> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(n));
    let calls: Vec<_> = (0..n)
        .map(|i| {
            let (barrier, call) = (barrier.clone(), call(i));
            tokio::spawn(async move {
                barrier.wait().await;
                let started = Instant::now();
                let res = call.await;
                (started, started.elapsed(), res)
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for c in calls {
        out.push(c.await?);
    }
    Ok(out)
}

/// Records every call and returns the winner's value, or notes why the round broke the rules.
pub fn judge<T>(
    what: &str,
    outcomes: Outcomes<T>,
    losses: &[&str],
    rec: &mut Recorder,
    violations: &mut Vec<String>,
) -> Option<T> {
    let mut won = Vec::new();
    for (started, took, res) in outcomes {
        rec.record(started, took, res.as_ref().err());
        match res {
            Ok(v) => won.push(v),
            Err(s) if losses.contains(&reason(&s).as_str()) => {}
            Err(s) => violations.push(format!(
                "{what}: a loser was told {} {}",
                reason(&s),
                s.message()
            )),
        }
    }
    if won.len() == 1 {
        won.pop()
    } else {
        violations.push(format!("{what}: {} winners", won.len()));
        None
    }
}
