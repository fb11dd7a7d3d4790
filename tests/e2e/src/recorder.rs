//! An append-only log of requests that a fake server received, which tests can wait on.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{timeout_at, Instant};

/// Shared, ordered record of items; every push wakes the waiters.
#[derive(Debug)]
pub(crate) struct Recorder<T> {
    items: Mutex<Vec<T>>,
    pushed: watch::Sender<usize>,
}

impl<T: Clone> Recorder<T> {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            items: Mutex::new(Vec::new()),
            pushed: watch::Sender::new(0),
        })
    }

    pub(crate) fn push(&self, item: T) {
        let count = {
            let mut items = self.items.lock().expect("recorder lock");
            items.push(item);
            items.len()
        };
        self.pushed.send_replace(count);
    }

    pub(crate) fn snapshot(&self) -> Vec<T> {
        self.items.lock().expect("recorder lock").clone()
    }

    /// Waits until `done` holds for the items recorded so far, or until `limit` has passed;
    /// returns the items as they are then (callers assert on them).
    pub(crate) async fn wait_until(
        &self,
        limit: Duration,
        mut done: impl FnMut(&[T]) -> bool,
    ) -> Vec<T> {
        let deadline = Instant::now() + limit;
        // Subscribing first means a push after the check below is never missed.
        let mut pushed = self.pushed.subscribe();
        loop {
            let items = self.snapshot();
            if done(&items) {
                return items;
            }
            match timeout_at(deadline, pushed.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) | Err(_) => return self.snapshot(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn returns_as_soon_as_the_condition_holds() {
        let recorder = Recorder::new();
        let pusher = recorder.clone();
        tokio::spawn(async move {
            for n in 0..3 {
                pusher.push(n);
                tokio::task::yield_now().await;
            }
        });
        let items = recorder
            .wait_until(Duration::from_secs(5), |items| items.len() >= 3)
            .await;
        assert_eq!(items, vec![0, 1, 2]);
    }

    #[tokio::test]
    async fn gives_up_at_the_deadline_with_what_arrived() {
        let recorder = Recorder::new();
        recorder.push("only");
        let started = Instant::now();
        let items = recorder
            .wait_until(Duration::from_millis(50), |items| items.len() >= 2)
            .await;
        assert_eq!(items, vec!["only"]);
        assert!(started.elapsed() >= Duration::from_millis(50));
    }
}
