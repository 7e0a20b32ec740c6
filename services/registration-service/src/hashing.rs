//! Argon2 runs on a few dedicated threads, one per core, fed by a queue.
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

/// Runs `work` on a hashing thread and waits for it without blocking the async runtime.
pub async fn run<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> anyhow::Result<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    QUEUE
        .send(Box::new(move || {
            let _ = tx.send(work());
        }))
        .map_err(|_| anyhow::anyhow!("hashing threads are gone"))?;
    Ok(rx.await?)
}
