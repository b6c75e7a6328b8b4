//! What the area tests stand on: the service in-process ([`app`]) and as a `manifold serve`
//! process ([`serve`]), both driven through one [`client::ServiceClient`]; the two stores
//! ([`stores`]) and [`on_both_stores!`], which runs a test on each; the `manifold` binary, spec
//! files and seeded images ([`cli`]); the demo's spec ([`demo`]); registry credentials
//! ([`credentials`]); the container engines and the busybox sources they pull ([`engines`]); signed sources and what a target holds of them ([`referrers`]); the pages'
//! forms over plain HTTP ([`forms`]) and in Chromium ([`browser`]); a registry that accepts
//! connections and never answers ([`stalled`]); a throttling proxy that can cut an upload
//! ([`proxy`]); a front that adds the referrers API ([`referrers_api`]); what wiremock registries
//! serve alike ([`mocks`]).

pub mod app;
pub mod browser;
pub mod cli;
pub mod client;
pub mod credentials;
pub mod demo;
pub mod disk;
pub mod engines;
pub mod forms;
pub mod mocks;
pub mod proxy;
pub mod referrers;
pub mod referrers_api;
pub mod serve;
pub mod stalled;
pub mod stores;
pub mod tls_only;
pub mod wait;

/// Runs each named test function twice, once on PostgreSQL and once on SQLite, as
/// `on_postgres::NAME` and `on_sqlite::NAME` beside it. A function takes what
/// [`stores::OnStore`] opens on the store: the [`stores::Db`] itself, or a type of the area's own.
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        $crate::support::on_both_stores!(@on on_postgres, Postgres, $($name),*);
        $crate::support::on_both_stores!(@on on_sqlite, Sqlite, $($name),*);
    };
    (@on $module:ident, $store:ident, $($name:ident),*) => {
        mod $module {
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $name() {
                let on = $crate::support::stores::open($crate::support::stores::Db::$store).await;
                super::$name(on).await
            })*
        }
    };
}
pub(crate) use on_both_stores;
