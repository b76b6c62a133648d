//! Request batching. Each worker owns one model (or the encoder) on its own thread and takes
//! every job waiting in its queue as one batch: an idle server answers a lone request at once,
//! a busy one runs one forward pass for many requests.

use anyhow::{anyhow, Result};
use std::sync::mpsc;
use tokio::sync::oneshot;

type Reply<O> = oneshot::Sender<Result<Vec<O>, String>>;

struct Job<I, O> {
    items: Vec<I>,
    reply: Reply<O>,
}

pub struct Batcher<I, O> {
    tx: mpsc::Sender<Job<I, O>>,
}

impl<I: Send + 'static, O: Send + 'static> Batcher<I, O> {
    /// Start the worker thread. `run` maps a batch of items to one output per item;
    /// `observe(batch_items)` sees the size of each batch (for the metrics).
    pub fn spawn<F, B>(name: &str, max_items: usize, run: F, observe: B) -> Result<Self>
    where
        F: Fn(Vec<I>) -> Result<Vec<O>> + Send + 'static,
        B: Fn(usize) + Send + 'static,
    {
        let (tx, rx) = mpsc::channel::<Job<I, O>>();
        std::thread::Builder::new()
            .name(format!("batch-{name}"))
            .spawn(move || {
                // Ends when every sender (the server state) is dropped.
                while let Ok(first) = rx.recv() {
                    let mut n = first.items.len();
                    let mut jobs = vec![first];
                    while n < max_items {
                        match rx.try_recv() {
                            Ok(j) => {
                                n += j.items.len();
                                jobs.push(j);
                            }
                            Err(_) => break,
                        }
                    }
                    observe(n);
                    let mut counts = Vec::with_capacity(jobs.len());
                    let mut items = Vec::with_capacity(n);
                    let mut replies = Vec::with_capacity(jobs.len());
                    for j in jobs {
                        counts.push(j.items.len());
                        items.extend(j.items);
                        replies.push(j.reply);
                    }
                    // A panic in a forward pass must not take the worker (and every later
                    // request) with it.
                    let result =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(items)))
                            .unwrap_or_else(|_| Err(anyhow!("the batch worker panicked")));
                    match result {
                        Ok(outputs) if outputs.len() == n => {
                            let mut outputs = outputs.into_iter();
                            for (reply, c) in replies.into_iter().zip(counts) {
                                let _ = reply.send(Ok(outputs.by_ref().take(c).collect()));
                            }
                        }
                        Ok(outputs) => {
                            let msg = format!("batch of {n} items gave {} outputs", outputs.len());
                            replies.into_iter().for_each(|r| {
                                let _ = r.send(Err(msg.clone()));
                            });
                        }
                        Err(e) => {
                            let msg = format!("{e:#}");
                            replies.into_iter().for_each(|r| {
                                let _ = r.send(Err(msg.clone()));
                            });
                        }
                    }
                }
            })?;
        Ok(Self { tx })
    }

    /// Queue `items` and wait for their outputs (in order).
    pub async fn run(&self, items: Vec<I>) -> Result<Vec<O>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job { items, reply })
            .map_err(|_| anyhow!("the batch worker has stopped"))?;
        rx.await
            .map_err(|_| anyhow!("the batch worker dropped the request"))?
            .map_err(|e| anyhow!(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_jobs_share_batches_and_get_their_own_outputs() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let b = Arc::new(
            Batcher::spawn(
                "test",
                64,
                |items: Vec<u32>| {
                    // Slow enough that jobs queue up behind the first one.
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    Ok(items.into_iter().map(|x| x * 10).collect())
                },
                move |n| seen.lock().unwrap().push(n),
            )
            .unwrap(),
        );
        let mut tasks = Vec::new();
        for i in 0..32u32 {
            let b = b.clone();
            tasks.push(tokio::spawn(async move {
                (i, b.run(vec![i, i + 100]).await.unwrap())
            }));
        }
        for t in tasks {
            let (i, out) = t.await.unwrap();
            assert_eq!(out, vec![i * 10, (i + 100) * 10]);
        }
        let sizes = sizes.lock().unwrap();
        assert_eq!(sizes.iter().sum::<usize>(), 64);
        assert!(
            sizes.len() < 32 && sizes.iter().any(|&n| n > 2),
            "jobs were never batched: {sizes:?}"
        );
    }

    #[tokio::test]
    async fn a_failing_or_panicking_batch_fails_its_jobs_and_the_worker_goes_on() {
        let b = Batcher::spawn(
            "test",
            8,
            |items: Vec<i32>| {
                if items.contains(&-1) {
                    panic!("boom");
                }
                if items.contains(&0) {
                    anyhow::bail!("zero");
                }
                Ok(items)
            },
            |_| {},
        )
        .unwrap();
        assert!(b
            .run(vec![-1])
            .await
            .unwrap_err()
            .to_string()
            .contains("panicked"));
        assert!(b
            .run(vec![0])
            .await
            .unwrap_err()
            .to_string()
            .contains("zero"));
        assert_eq!(b.run(vec![3, 4]).await.unwrap(), vec![3, 4]);
    }
}
