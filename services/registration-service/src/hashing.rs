//! Argon2 runs on a few dedicated threads, one per core, fed by a bounded queue.
//!
//! Each hash allocates a 19 MiB block. On tokio's blocking pool a burst of logins ran on ever new
//! threads, and the allocator kept a block per thread it had seen: measured, 680 MiB RSS after 80
//! logins, and still ~400 MiB with at most two hashes at a time. Fixed threads reuse their block, so
//! the cost is bounded by the thread count, and a flood of logins queues instead of multiplying.

use std::sync::{Arc, LazyLock, Mutex, mpsc};

type Job = Box<dyn FnOnce() + Send>;

static QUEUE: LazyLock<mpsc::Sender<Job>> = LazyLock::new(|| {
    let (tx, rx) = mpsc::channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    let threads = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    for i in 0..threads {
        let rx = rx.clone();
        std::thread::Builder::new()
            .name(format!("argon2-{i}"))
            .spawn(move || {
                loop {
                    // The lock is held only while taking a job, not while running it.
                    let job = rx.lock().map(|r| r.recv());
                    match job {
                        Ok(Ok(job)) => job(),
                        _ => return,
                    }
                }
            })
            .expect("spawn an argon2 thread");
    }
    tx
});

/// How many hashes may wait or run per hashing thread. Past it a call is refused at once ([`Busy`]):
/// a flood of logins or registrations costs neither unbounded memory (each waiting job holds a
/// password) nor minutes-long queues that every honest caller would sit in.
pub const PENDING_PER_THREAD: usize = 8;

static PENDING: LazyLock<Arc<tokio::sync::Semaphore>> = LazyLock::new(|| {
    let threads = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    Arc::new(tokio::sync::Semaphore::new(threads * PENDING_PER_THREAD))
});

/// Unit tests that hash take it, so the test that fills the queue runs alone.
#[cfg(test)]
pub static TEST_QUEUE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The hashing queue is full: the caller is told to come back shortly.
#[derive(Debug, thiserror::Error)]
#[error("password hashing queue is full")]
pub struct Busy;

/// Runs `work` on a hashing thread and waits for it without blocking the async runtime; [`Busy`]
/// when the queue is full.
pub async fn run<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> anyhow::Result<T> {
    let permit = PENDING.clone().try_acquire_owned().map_err(|_| Busy)?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    QUEUE
        .send(Box::new(move || {
            let _ = tx.send(work());
            drop(permit);
        }))
        .map_err(|_| anyhow::anyhow!("hashing threads are gone"))?;
    Ok(rx.await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With every slot taken, the next hash is refused at once; when one finishes, it is accepted.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_refuses_at_once_and_accepts_again_when_a_hash_finishes() {
        let _alone = TEST_QUEUE.lock().await;
        let capacity = PENDING.available_permits();
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        let mut held = Vec::new();
        for _ in 0..capacity {
            let gate = gate.clone();
            held.push(tokio::spawn(run(move || {
                let _ = gate.lock().unwrap().recv();
            })));
        }
        while PENDING.available_permits() > 0 {
            tokio::task::yield_now().await;
        }

        let refused = run(|| ()).await.unwrap_err();

        assert!(refused.is::<Busy>(), "{refused}");
        for _ in 0..capacity {
            release.send(()).unwrap();
        }
        for h in held {
            h.await.unwrap().unwrap();
        }
        run(|| ()).await.expect("accepted again");
    }
}
