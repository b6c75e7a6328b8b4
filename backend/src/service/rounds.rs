//! Reads shared by the requests that wait at the same time: per key, one read runs at a time, and
//! the requests that come meanwhile wait for the next, which starts when it ends and is made for
//! all of them at once (with every input they brought: the ids whose revisions they ask for).
//!
//! What a request is answered is always read after it came — the read it waits for starts after
//! it joined — so a shared read is never older than a read of its own would be. Owns only the
//! waiting and the sharing; what is read is the caller's.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// What one round answers its requests: the value, or `None` when the read failed.
type Answer<T> = Option<Option<Arc<T>>>;

/// The rounds of each key.
pub(super) struct Rounds<K, I, T> {
    slots: Mutex<HashMap<K, Slot<I, T>>>,
}

struct Slot<I, T> {
    /// The inputs of the requests that wait for the next round.
    inputs: Vec<I>,
    /// Where the next round answers; none while no request waits for one.
    next: Option<watch::Sender<Answer<T>>>,
}

impl<K, I, T> Default for Rounds<K, I, T> {
    fn default() -> Self {
        Self {
            slots: Mutex::default(),
        }
    }
}

impl<K, I, T> Rounds<K, I, T>
where
    K: Hash + Eq + Clone + Send + 'static,
    I: Send + 'static,
    T: Send + Sync + 'static,
{
    /// Joins the next round of `key` with `input`, starting the rounds of `key` when none runs
    /// (`read` makes each round's value of its inputs); that round's value, or `None` when its
    /// read failed.
    pub(super) async fn join<F, Fut>(self: &Arc<Self>, key: K, input: I, read: F) -> Option<Arc<T>>
    where
        F: Fn(Vec<I>) -> Fut + Send + 'static,
        Fut: Future<Output = Option<T>> + Send + 'static,
    {
        let (mut answer, start) = {
            let mut slots = self.slots.lock().expect("lock");
            let start = !slots.contains_key(&key);
            let slot = slots.entry(key.clone()).or_insert_with(|| Slot {
                inputs: Vec::new(),
                next: None,
            });
            slot.inputs.push(input);
            let answer = slot
                .next
                .get_or_insert_with(|| watch::channel(None).0)
                .subscribe();
            (answer, start)
        };
        if start {
            tokio::spawn(Arc::clone(self).run(key, read));
        }
        answer
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|a| a.clone().flatten())
    }

    /// Runs the rounds of `key`, one after another, while requests wait for one.
    async fn run<F, Fut>(self: Arc<Self>, key: K, read: F)
    where
        F: Fn(Vec<I>) -> Fut + Send + 'static,
        Fut: Future<Output = Option<T>> + Send + 'static,
    {
        loop {
            let (inputs, answer) = {
                let mut slots = self.slots.lock().expect("lock");
                let Some(slot) = slots.get_mut(&key) else {
                    return;
                };
                match slot.next.take() {
                    Some(answer) => (std::mem::take(&mut slot.inputs), answer),
                    None => {
                        slots.remove(&key);
                        return;
                    }
                }
            };
            let value = read(inputs).await.map(Arc::new);
            answer.send_replace(Some(value));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn the_requests_that_come_while_a_read_runs_share_the_next() {
        let rounds: Arc<Rounds<(), u32, Vec<u32>>> = Arc::default();
        let reads = Arc::new(AtomicUsize::new(0));
        let read = {
            let reads = Arc::clone(&reads);
            move |mut inputs: Vec<u32>| {
                let reads = Arc::clone(&reads);
                async move {
                    reads.fetch_add(1, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    inputs.sort_unstable();
                    Some(inputs)
                }
            }
        };
        let answers =
            futures::future::join_all((0..10).map(|n| rounds.join((), n, read.clone()))).await;
        for (n, answer) in answers.iter().enumerate() {
            let got = answer.as_ref().expect("answered");
            assert!(
                got.contains(&(n as u32)),
                "{n} is in the round it waited for"
            );
        }
        let all: usize = answers.iter().map(|a| a.as_ref().unwrap().len()).sum();
        assert!(reads.load(Ordering::SeqCst) < 10, "shared: {all} answers");
        assert!(rounds.slots.lock().unwrap().is_empty(), "no round is left");
    }

    #[tokio::test]
    async fn a_failed_read_answers_none_and_the_next_request_reads_again() {
        let rounds: Arc<Rounds<u8, (), u8>> = Arc::default();
        assert!(rounds.join(1, (), |_| async { None }).await.is_none());
        let again = rounds.join(1, (), |_| async { Some(7) }).await;
        assert_eq!(again.as_deref(), Some(&7));
    }
}
