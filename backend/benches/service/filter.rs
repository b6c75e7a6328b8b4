//! Whether the target filter stays flat as history grows: one store filled by
//! [`crate::history`] to each of [`HISTORY_SIZES`] in turn (rows added between measurements), and
//! at each size a service with no workers (nothing drains) asked
//! `GET /lists?target=<one repository>&limit=50`: first [`FILTER_REQUESTS`] requests one at a
//! time (latency without queueing), then under the connection load.

use std::time::Duration;

use crate::history::{self, History};
use crate::load::{Measured, load, sequential};
use crate::phases::page;
use crate::report::thousands;
use crate::serve::Serve;
use crate::store::{BenchStore, Kind};
use crate::{Bench, PAGE_SIZE};

/// Lists of the measured repository at each measurement.
pub const HISTORY_SIZES: [u64; 3] = [1_000, 10_000, 100_000];
/// Sequential requests at each size (after [`FILTER_WARMUP`] uncounted ones).
pub const FILTER_REQUESTS: usize = 300;
const FILTER_WARMUP: usize = 20;
/// Longest time for the sequential requests of one size.
const FILTER_LIMIT: Duration = Duration::from_secs(60);

/// The filter measured at one history size.
pub struct FilterRun {
    /// Lists stored.
    pub size: u64,
    /// How long adding this size's rows took.
    pub fill: Duration,
    /// One request at a time.
    pub sequential: Measured,
    /// Under the connection load.
    pub loaded: Measured,
}

/// Every size on one new store of `kind`.
pub async fn run(bench: &Bench, kind: Kind, memory: &mut Vec<(String, f64)>) -> Vec<FilterRun> {
    let store = BenchStore::create(kind, &bench.admin, &bench.dir).await;
    history::migrate(&store).await;
    let mut history = History::new(&bench.host);
    let repository = history::measured_repository(&bench.host);
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("target", &repository)
        .append_pair("limit", &PAGE_SIZE.to_string())
        .finish();
    let mut runs = Vec::new();
    for size in HISTORY_SIZES {
        let fill = history.grow(&store, size).await;
        let (stored, in_repository) = history::count(&store, &bench.host).await;
        assert_eq!(
            in_repository, size as i64,
            "the measured repository's lists"
        );
        assert_eq!(
            stored,
            (size + size / history::NEIGHBOUR_EVERY) as i64,
            "the history"
        );
        let name = format!("{}-filter-{size}", kind.label());
        let serve = Serve::start(&store.url, 0, &bench.dir, &name).await;
        let url = format!("{}/lists?{query}", serve.base);
        let items = page(&bench.http, &url).await;
        assert_eq!(items.len(), PAGE_SIZE, "a full page");
        let tag_of = format!("{repository}:");
        assert!(
            items
                .iter()
                .all(|l| l["target"].as_str().is_some_and(|t| t.starts_with(&tag_of))),
            "the filter returned another repository's lists"
        );
        let cpu = store.cpu(serve.pid);
        let limits = (FILTER_WARMUP, FILTER_REQUESTS);
        let sequential = sequential(&bench.http, &cpu, &url, limits, FILTER_LIMIT).await;
        let loaded = load(&bench.http, &cpu, {
            let url = url.clone();
            move |http: &reqwest::Client, _| http.get(&url)
        })
        .await;
        if size == HISTORY_SIZES[HISTORY_SIZES.len() - 1] {
            memory.push((
                format!(
                    "idle after the filter load ({} lists, 0 workers)",
                    thousands(size)
                ),
                serve.idle_rss_mb().await,
            ));
        }
        serve.stop().await;
        runs.push(FilterRun {
            size,
            fill,
            sequential,
            loaded,
        });
    }
    runs
}
