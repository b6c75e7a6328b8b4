//! A list's page over time: in headless Chromium, what the watch found (in sync, then drifted and
//! why, also marked on the recent lists) and the follow toggle, whose follow-up the page links; a
//! target's timeline page (the current list marked, an earlier one history) and a rollback from
//! it; the repair choice, offered on the list the target holds now only, switched and kept; over
//! plain HTTP, a list waiting out a backoff says when it is tried next, and a superseded list's
//! page names the newer list that landed first.

use std::time::Duration;

use manifold::model::Clock;
use manifold_testkit::{ImageFixture, TestRegistry};
use serde_json::json;

use crate::support::app::TestApp;
use crate::support::browser::Browser;
use crate::support::cli::{seed, seed_demo};
use crate::support::demo::demo_spec;
use crate::support::stores::Db;

/// What the drift badge says (its `data-drift`).
async fn drift_shown(b: &Browser) -> String {
    let found = b
        .js("return document.querySelector('#drift-status').dataset.drift")
        .await;
    found.as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_shows_drift_and_follows_a_list_until_its_source_moves() {
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let app = TestApp::spawn_with(|s| s.watch_interval_secs = Some(1)).await;
    let id = app
        .submit(&demo_spec(&registry.host()).target("demo:live").json())
        .await;
    app.wait_status(&id, "succeeded").await;
    let b = Browser::open(1280, 900).await;
    b.goto(&format!("{}/ui/lists/{id}", app.base)).await;
    assert_eq!(drift_shown(&b).await, "in_sync");
    assert!(b.text("#drift-status").await.ends_with("in sync"));
    assert_eq!(b.text("#list-follow").await, "no");

    let rebuilt = ImageFixture::new("linux", "s390x", None).seed(7);
    let moved = seed(&registry, "demo-s390x", "v0.2", rebuilt).await;
    app.wait_for(&id, |l| l["drift"]["status"] == "drifted")
        .await;
    b.goto(&format!("{}/ui/lists/{id}", app.base)).await;
    assert_eq!(drift_shown(&b).await, "drifted");
    let reasons = b.text("#drift-reasons").await;
    assert!(
        reasons.contains(&format!("now names {}", &moved.manifest_digest[..19])),
        "{reasons}"
    );
    b.screenshot("list-drift").await;
    b.goto(&format!("{}/", app.base)).await;
    let badge = format!("#lists a.drift-drifted[href='/ui/lists/{id}#drift']");
    assert!(b.has(&badge).await, "the recent lists mark it drifted");

    b.goto(&format!("{}/ui/lists/{id}", app.base)).await;
    b.click("#follow-form button").await;
    // The page shows it followed, or (had the watch looked in between) already re-pushed.
    b.wait_until(
        "return document.querySelector('#follow-form button')?.textContent === 'Stop following' \
         || !!document.querySelector('#list-followed-by')",
    )
    .await;
    let next = app.wait_for(&id, |l| l["followed_by"].is_string()).await["followed_by"]
        .as_str()
        .unwrap()
        .to_owned();
    b.goto(&format!("{}/ui/lists/{id}", app.base)).await;

    assert_eq!(b.text("#list-followed-by").await, next);
    assert_eq!(
        b.text("#list-follow").await,
        "no",
        "the follow-up follows now"
    );
    b.click("#list-followed-by").await;
    b.wait_until("return document.querySelector('#list-status [data-status]')?.dataset.status === 'succeeded'")
        .await;
    assert_eq!(b.text("#list-follows").await, id);
    b.click("#follow-form button").await;
    b.wait_until(
        "return document.querySelector('#follow-form button')?.textContent === 'Follow sources'",
    )
    .await;
    let stopped = app.get_json(&format!("/lists/{next}")).await;
    assert_eq!(stopped["follow"], false, "{stopped:#}");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_superseded_list_s_page_names_the_newer_list_and_offers_a_retry() {
    let registry = TestRegistry::plain().await;
    let mut sources = TestRegistry::plain().await;
    seed(
        &sources,
        "app-amd64",
        "a",
        ImageFixture::new("linux", "amd64", None),
    )
    .await;
    seed(
        &registry,
        "app-amd64",
        "b",
        ImageFixture::new("linux", "amd64", None).seed(2),
    )
    .await;
    sources.stop();
    let app = TestApp::spawn_at(Db::Postgres, Clock::manual(), |s| {
        s.workers = Some(0);
        s.job_backoff_ms = Some(1500);
    })
    .await;
    let spec = |source: String| serde_json::json!({"image": registry.reference("app", "v1"), "manifests": [{"image": source}]});
    let stale = app.submit(&spec(sources.reference("app-amd64", "a"))).await;
    app.run_pending_jobs().await;
    let waiting = app.get_json(&format!("/lists/{stale}")).await;
    let page = app
        .get(&format!("/ui/lists/{stale}"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        (&waiting["status"], &waiting["attempts"]),
        (&json!("queued"), &json!(1))
    );
    assert_eq!(waiting["max_attempts"], 5, "{waiting:#}");
    assert!(
        waiting["retry_at"].is_string(),
        "a list waiting out a backoff says when: {waiting:#}"
    );
    assert_eq!(waiting["error"]["code"], "REGISTRY_UNREACHABLE");
    assert!(page.contains("1 of 5 attempts · the next one at"), "{page}");
    let newer = app
        .submit(&spec(registry.reference("app-amd64", "b")))
        .await;
    app.run_pending_jobs().await;
    app.clock().advance(Duration::from_millis(1600));
    app.run_pending_jobs().await;

    let page = app
        .get(&format!("/ui/lists/{stale}"))
        .await
        .text()
        .await
        .unwrap();

    assert!(page.contains("id=\"superseded-note\""), "{page}");
    assert!(
        page.contains(&format!("<a href=\"/ui/lists/{newer}\">{newer}</a>")),
        "{page}"
    );
    assert!(
        page.contains(&format!("action=\"/ui/lists/{stale}/retry\"")),
        "{page}"
    );
    assert!(page.contains("data-status=\"superseded\""), "{page}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_timeline_in_a_browser_marks_what_the_tag_holds_and_rolls_back_from_history() {
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let host = registry.host();
    let app = TestApp::spawn_with(|s| s.registries = vec![host.clone()]).await;
    let first = app
        .submit(&demo_spec(&host).target("demo:timeline").json())
        .await;
    let first = app.wait_status(&first, "succeeded").await;
    let mut only_amd64 = demo_spec(&host).target("demo:timeline").json();
    only_amd64["manifests"].as_array_mut().unwrap().remove(0);
    let second = app.submit(&only_amd64).await;
    app.wait_status(&second, "succeeded").await;
    let first_id = first["id"].as_str().unwrap();
    let b = Browser::open(1280, 900).await;

    b.goto(&format!("{}/ui/lists/{first_id}", app.base)).await;
    assert!(b.has("#list-history").await, "an earlier list is history");
    assert!(!b.has("#add-title").await, "no edits of the tag on history");
    b.click("#list-history a:last-child").await;
    b.wait_until("return document.querySelectorAll('#timeline [data-now]').length === 2")
        .await;
    let marks = b
        .js("return [...document.querySelectorAll('#timeline [data-now]')].map(e => e.dataset.now)")
        .await;
    assert_eq!(
        marks,
        serde_json::json!(["current", "history"]),
        "newest first"
    );
    b.screenshot("timeline").await;

    b.goto(&format!("{}/ui/lists/{first_id}", app.base)).await;
    b.click("#rollback-form button").await;
    let page = format!("/ui/lists/{first_id}");
    b.wait_until(&format!(
        "return location.pathname.startsWith('/ui/lists/') && location.pathname !== '{page}'"
    ))
    .await;
    let rollback = b
        .url()
        .await
        .path()
        .trim_start_matches("/ui/lists/")
        .to_owned();
    let landed = app.wait_status(&rollback, "succeeded").await;
    assert_eq!(landed["operation"], "rollback");
    assert_eq!(
        landed["digest"], first["digest"],
        "the tag holds the first list again"
    );
    b.goto(&format!("{}/ui/lists/{rollback}", app.base)).await;
    assert!(
        b.has("#list-current").await,
        "the rollback is what the tag holds now"
    );
    assert_eq!(b.text("#list-operation").await, "rollback");
    let digest = b.text("#list-digest").await;
    assert!(
        digest.contains(&first["digest"].as_str().unwrap()[7..19]),
        "{digest}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_repair_choice_is_switched_on_the_current_list_s_page_only() {
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let host = registry.host();
    let app = TestApp::spawn_with(|s| s.registries = vec![host.clone()]).await;
    let first = app
        .submit(&demo_spec(&host).target("demo:kept").json())
        .await;
    app.wait_status(&first, "succeeded").await;
    let second = app
        .submit(&demo_spec(&host).target("demo:kept").json())
        .await;
    app.wait_status(&second, "succeeded").await;
    let b = Browser::open(1280, 900).await;

    b.goto(&format!("{}/ui/lists/{first}", app.base)).await;
    assert!(!b.has("#repair-form").await, "no repair choice on history");
    b.goto(&format!("{}/ui/lists/{second}", app.base)).await;
    assert_eq!(b.text("#list-repair").await, "no");
    b.js("document.querySelector('#repair-choice').value = 'tag'; return null")
        .await;
    b.click("#repair-form button").await;
    b.wait_until(
        "return document.querySelector('#list-repair')?.textContent.startsWith('yes, and the tag')",
    )
    .await;

    let kept = app.get_json(&format!("/lists/{second}")).await;
    assert_eq!(kept["repair"], "tag", "{kept:#}");
    let selected = b
        .js("return document.querySelector('#repair-choice').value")
        .await;
    assert_eq!(selected, "tag", "the page shows the choice kept");
    b.close().await;
}
