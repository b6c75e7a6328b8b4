//! The one way a test waits for something: ask again until it holds, up to [`PATIENCE`], and fail
//! saying what never happened. Never a fixed sleep for a lease, a backoff or an interval to pass
//! (those are the store's clock's business: a test moves a manual [`Clock`] on instead).
//!
//! [`Clock`]: manifold::model::Clock

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

pub use super::client::PATIENCE;

/// How often a condition is asked again.
const EVERY: Duration = Duration::from_millis(20);

/// Asks `check` until it answers something, and returns that; fails after [`PATIENCE`], saying
/// that `what` never happened and what `context` tells then.
pub async fn until_some<T, F, Fut>(what: &str, context: impl Fn() -> String, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{what} never happened{}",
            context()
        );
        tokio::time::sleep(EVERY).await;
    }
}

/// Asks `check` until it holds; fails after [`PATIENCE`], saying that `what` never happened.
pub async fn until<F, Fut>(what: &str, context: impl Fn() -> String, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    until_some(what, context, || {
        let holds = check();
        async move { holds.await.then_some(()) }
    })
    .await
}

/// No context to add.
pub fn nothing() -> String {
    String::new()
}
