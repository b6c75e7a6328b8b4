//! The watch says when it falls behind. A service watching 70 pushed lists whose registry stops
//! answering: the checks it holds wait on the registry, the rest stay due, and `/metrics` says how
//! many (`manifold_watch_due`) and how late the oldest is (`manifold_watch_lag_seconds`); while it
//! keeps up, both are 0. The store's clock is a manual one, moved on past the lists' next check.

use std::time::Duration;

use manifold::model::Clock;
use manifold_testkit::TestRegistry;

use crate::living_service::metric;
use crate::support::app::TestApp;
use crate::support::cli::seed_demo;
use crate::support::demo::demo_spec;
use crate::support::stalled::StalledRegistry;
use crate::support::stores::Db;
use crate::support::wait;

/// Lists watched: more than one process holds (32 checking, 32 taken and waiting).
const LISTS: usize = 70;
const HELD: usize = 64;
const INTERVAL: Duration = Duration::from_secs(3600);

#[tokio::test(flavor = "multi_thread")]
async fn the_watch_says_how_many_checks_wait_and_how_late_the_oldest_is() {
    for db in [Db::Postgres, Db::Sqlite] {
        let mut registry = TestRegistry::plain().await;
        seed_demo(&registry).await;
        let app = TestApp::spawn_at(db, Clock::manual(), |s| {
            s.workers = Some(0);
            s.watch_interval_secs = Some(INTERVAL.as_secs());
        })
        .await;
        for i in 0..LISTS {
            let spec = demo_spec(&registry.host()).target(&format!("w{i}:v1"));
            app.submit(&spec.json()).await;
        }
        assert_eq!(app.run_pending_jobs().await, LISTS, "{db:?}");
        let keeping_up = app.get("/metrics").await.text().await.unwrap();

        registry.stop();
        let _stalled = StalledRegistry::start(&format!("127.0.0.1:{}", registry.port())).await;
        app.clock().advance(2 * INTERVAL);
        let seen = std::sync::Mutex::new(String::new());
        let context = || format!(": {db:?}, last metrics:\n{}", seen.lock().unwrap());
        let behind = wait::until_some("the watch holding all it can", context, || async {
            let text = app.get("/metrics").await.text().await.unwrap();
            *seen.lock().unwrap() = text.clone();
            (metric(&text, "manifold_watch_due") == (LISTS - HELD) as f64).then_some(text)
        })
        .await;

        assert_eq!(
            metric(&keeping_up, "manifold_watch_due"),
            0.0,
            "{keeping_up}"
        );
        assert_eq!(metric(&keeping_up, "manifold_watch_lag_seconds"), 0.0);
        let lag = metric(&behind, "manifold_watch_lag_seconds");
        // Each list's next check is the interval ±10 % after its push; the clock moved two on.
        let (least, most) = (0.85 * INTERVAL.as_secs_f64(), 1.1 * INTERVAL.as_secs_f64());
        assert!(least < lag && lag < most, "{db:?}: lag {lag}\n{behind}");
    }
}
