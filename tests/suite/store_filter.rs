//! The filter by repository on both stores: exact (a neighbour whose name starts alike, a nested
//! repository and a tag of its own are not its lists), paged newest first, combined with the
//! status filter, and read from an index in page order, so that a long history costs nothing.

use manifold::model::ListStatus;
use manifold::store::ListFilter;
use sqlx::Connection as _;

use crate::store::{Backend, insert, new_list};
use crate::support::on_both_stores;
use crate::support::stores::Db;

on_both_stores!(
    the_repository_filter_takes_the_repositorys_lists_and_no_neighbours,
    the_repository_filter_reads_an_index_in_page_order,
);

const REPO: &str = "127.0.0.1:5000/app";

async fn the_repository_filter_takes_the_repositorys_lists_and_no_neighbours(b: Backend) {
    let mut mine = Vec::new();
    for target in [
        "app:v1",
        "app/sub:v1",
        "app0:v1",
        "app:v2",
        "ap:v1",
        "app-x:v1",
        "app:v3",
    ] {
        let list = insert(&b.store, &new_list(target)).await;
        if target.starts_with("app:") {
            mine.push(list.id);
        }
    }
    mine.reverse();
    let filter = |status, before| ListFilter {
        target: Some(REPO.to_owned()),
        status,
        before,
        limit: 2,
    };

    let first = b.store.list_lists(&filter(None, None)).await.unwrap();
    let second = b.store.list_lists(&filter(None, first.next)).await.unwrap();
    let queued = b
        .store
        .list_lists(&ListFilter {
            limit: 50,
            ..filter(Some(ListStatus::Queued), None)
        })
        .await
        .unwrap();
    let failed = b
        .store
        .list_lists(&filter(Some(ListStatus::Failed), None))
        .await
        .unwrap();
    let nested = b
        .store
        .list_lists(&ListFilter {
            target: Some(format!("{REPO}/sub")),
            limit: 50,
            ..ListFilter::default()
        })
        .await
        .unwrap();

    let ids = |page: &manifold::store::Page| page.items.iter().map(|l| l.id).collect::<Vec<_>>();
    assert_eq!([ids(&first), ids(&second)].concat(), mine, "newest first");
    assert!(second.next.is_none(), "two pages hold the repository");
    assert_eq!(ids(&queued), mine, "with the status filter");
    assert!(failed.items.is_empty());
    assert_eq!(nested.items.len(), 1);
    assert_eq!(nested.items[0].target, format!("{REPO}/sub:v1"));
}

/// The plan of the page's condition and order on each store: the repository's index, walked in
/// page order (no sort of the repository's lists), alone and with the status.
async fn the_repository_filter_reads_an_index_in_page_order(b: Backend) {
    for i in 0..40 {
        insert(&b.store, &new_list(&format!("app:v{i}"))).await;
    }
    let order = "order by created_at desc, list_id desc limit 51";
    let alone = format!("select list_id from list where repository = '{REPO}' {order}");
    let status = format!(
        "select list_id from list where status = 'queued' and repository = '{REPO}' {order}"
    );

    for (sql, index) in [
        (alone, "list_repository_idx"),
        (status, "list_repository_status_idx"),
    ] {
        let plan = plan(&b, &sql).await;
        assert!(plan.contains(index), "{sql}:\n{plan}");
        assert!(!plan.to_lowercase().contains("sort"), "{sql}:\n{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{sql}:\n{plan}");
    }
}

/// The store's own plan of `sql`. PostgreSQL, on a table this small, would rather read every row
/// than an index; told not to, it shows which index serves the query and whether it sorts.
async fn plan(b: &Backend, sql: &str) -> String {
    use sqlx::Row as _;
    let explain = sqlx::AssertSqlSafe(match b.db {
        Db::Sqlite => format!("explain query plan {sql}"),
        Db::Postgres => format!("explain {sql}"),
    });
    let rows: Vec<String> = match b.db {
        Db::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&b.url).await.unwrap();
            let found = sqlx::query(explain).fetch_all(&mut conn).await.unwrap();
            found.iter().map(|r| r.get::<String, _>("detail")).collect()
        }
        Db::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&b.url).await.unwrap();
            sqlx::query("set enable_seqscan = off")
                .execute(&mut conn)
                .await
                .unwrap();
            let found = sqlx::query(explain).fetch_all(&mut conn).await.unwrap();
            found.iter().map(|r| r.get::<String, _>(0)).collect()
        }
    };
    rows.join("\n")
}
