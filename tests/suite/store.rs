//! The store's contract, run against both backends: PostgreSQL (a fresh database per test) and
//! the embedded SQLite (a fresh file per test). Every store function, the claim / lease / fence /
//! retry cycle, callbacks, and recovery after the process holding a job went away.

use std::collections::BTreeMap;
use std::time::Duration;

use manifold::model::{Clock, Digest, Entry, ListOptions, ListStatus, Operation, SpecFormat};
use manifold::store::{
    ClaimedJob, Inserted, JobKind, ListFilter, NewList, PushOutcome, Store, Transition,
};

use crate::support::on_both_stores;
use crate::support::stores::{Db, DbGuard, OnStore, TestDb};

pub(crate) const LEASE: Duration = Duration::from_millis(300);

/// A store on one backend, and what keeps its database alive.
pub(crate) struct Backend {
    pub(crate) store: Store,
    /// The store's clock, a manual one: leases and backoffs pass when a test moves it on.
    pub(crate) clock: Clock,
    pub(crate) url: String,
    pub(crate) db: Db,
    _keep: DbGuard,
}

impl OnStore for Backend {
    async fn open(db: Db) -> Self {
        let (keep, url) = DbGuard::create(db).await;
        let clock = Clock::manual();
        Backend {
            store: Store::open_with_clock(&url, 5, clock.clone())
                .await
                .unwrap(),
            clock,
            url,
            db,
            _keep: keep,
        }
    }
}

on_both_stores!(
    a_list_is_written_with_its_push_job_and_read_back,
    an_idempotency_key_answers_the_first_list_or_refuses_another_body,
    lists_are_paged_newest_first_and_filtered,
    a_claim_takes_a_lease_and_a_second_worker_finds_nothing_due,
    an_expired_lease_lets_another_worker_take_over_and_fences_the_first,
    a_failed_attempt_is_retried_after_its_delay_then_fails_for_good,
    retry_and_cancel_follow_the_status_rules,
    a_finished_list_with_a_callback_queues_one_and_records_its_delivery,
    queue_depth_and_next_due_describe_the_queue,
    a_job_held_by_a_process_that_went_away_is_taken_over_after_reopening,
);

pub(crate) fn new_list(target: &str) -> NewList {
    let spec = manifold::spec::parse::from_yaml(&format!(
        "image: 127.0.0.1:5000/{target}\nmanifests:\n  - image: 127.0.0.1:5000/src:v1\n    platform: {{os: linux, architecture: amd64}}\n"
    ))
    .unwrap();
    NewList {
        target: spec.image.to_string(),
        tags: vec!["latest".into()],
        spec: serde_json::to_value(&spec).unwrap(),
        spec_text: "image: …".into(),
        spec_format: SpecFormat::Yaml,
        idempotency_key: None,
        request_hash: format!("hash-{target}"),
        operation: Operation::Push,
        options: ListOptions::default(),
        identity: None,
        more: Vec::new(),
    }
}

pub(crate) async fn insert(store: &Store, new: &NewList) -> manifold::store::ListRecord {
    match store.insert_list(new, 3).await.unwrap() {
        Inserted::New(list) => list,
        other => panic!("expected a new list, got {other:?}"),
    }
}

pub(crate) async fn claim(store: &Store, worker: &str) -> Option<ClaimedJob> {
    store.claim(worker, LEASE).await.unwrap()
}

pub(crate) fn outcome() -> PushOutcome {
    PushOutcome {
        digest: Digest::of(b"the list"),
        media_type: "application/vnd.oci.image.index.v1+json".into(),
        size: 321,
        entries: vec![Entry {
            image: "127.0.0.1:5000/src:v1".into(),
            digest: Digest::of(b"the child"),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            size: 100,
            platform: Some(manifold::model::Platform::parse("linux/arm/v7").unwrap()),
            annotations: BTreeMap::from([("k".to_owned(), "v".to_owned())]),
            attestation: false,
        }],
        sources: Vec::new(),
        destinations: Vec::new(),
        watch_at: None,
    }
}

async fn a_list_is_written_with_its_push_job_and_read_back(b: Backend) {
    let list = insert(&b.store, &new_list("one:v1")).await;

    let read = b.store.get_list(list.id).await.unwrap().unwrap();

    assert_eq!(read.status, ListStatus::Queued);
    assert_eq!(read.target, "127.0.0.1:5000/one:v1");
    assert_eq!(read.tags, vec!["latest".to_owned()]);
    assert_eq!(read.spec_format, "yaml");
    assert_eq!(read.attempts, 0);
    assert!(read.entries.is_empty());
    assert!(
        b.store
            .get_list(uuid::Uuid::new_v4())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        b.store.queue_depth().await.unwrap(),
        vec![("push".to_owned(), 1)]
    );
    b.store.probe().await.unwrap();
}

async fn an_idempotency_key_answers_the_first_list_or_refuses_another_body(b: Backend) {
    let mut new = new_list("idem:v1");
    new.idempotency_key = Some("key-1".into());
    let first = insert(&b.store, &new).await;

    let again = b.store.insert_list(&new, 3).await.unwrap();
    new.request_hash = "another".into();
    let other = b.store.insert_list(&new, 3).await.unwrap();

    assert!(matches!(again, Inserted::Existing(l) if l.id == first.id));
    assert!(matches!(other, Inserted::KeyReused));
    assert_eq!(
        b.store.queue_depth().await.unwrap(),
        vec![("push".to_owned(), 1)]
    );
}

async fn lists_are_paged_newest_first_and_filtered(b: Backend) {
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            insert(
                &b.store,
                &new_list(&format!("{}:v{i}", if i % 2 == 0 { "even" } else { "odd" })),
            )
            .await
            .id,
        );
    }
    let page = |before, limit| ListFilter {
        before,
        limit,
        ..ListFilter::default()
    };

    let first = b.store.list_lists(&page(None, 2)).await.unwrap();
    let second = b.store.list_lists(&page(first.next, 2)).await.unwrap();
    let third = b.store.list_lists(&page(second.next, 2)).await.unwrap();
    let even = b
        .store
        .list_lists(&ListFilter {
            target: Some("127.0.0.1:5000/even".into()),
            limit: 50,
            ..ListFilter::default()
        })
        .await
        .unwrap();
    let running = b
        .store
        .list_lists(&ListFilter {
            status: Some(ListStatus::Running),
            limit: 50,
            ..ListFilter::default()
        })
        .await
        .unwrap();

    let got: Vec<_> = [&first, &second, &third]
        .iter()
        .flat_map(|p| p.items.iter().map(|l| l.id))
        .collect();
    let newest_first: Vec<_> = ids.iter().rev().copied().collect();
    assert_eq!(got, newest_first);
    assert!(third.next.is_none());
    assert_eq!(even.items.len(), 3);
    assert!(running.items.is_empty());
}

async fn a_claim_takes_a_lease_and_a_second_worker_finds_nothing_due(b: Backend) {
    let list = insert(&b.store, &new_list("claim:v1")).await;

    let job = claim(&b.store, "w1").await.expect("a job is due");
    let none = claim(&b.store, "w2").await;

    assert_eq!(job.list_id, list.id);
    assert_eq!(job.kind, JobKind::Push);
    assert_eq!(job.attempt, 1);
    assert_eq!(job.max_attempts, 3);
    assert_eq!(job.operation, Operation::Push);
    assert_eq!(job.work.target().to_string(), "127.0.0.1:5000/claim:v1");
    assert!(none.is_none());
    let read = b.store.get_list(list.id).await.unwrap().unwrap();
    assert_eq!(read.status, ListStatus::Running);
    assert!(read.started_at.is_some());
    assert!(b.store.extend_lease(&job, LEASE).await.unwrap());
    assert!(b.store.complete_push(&job, &outcome(), 3).await.unwrap());
    let done = b.store.get_list(list.id).await.unwrap().unwrap();
    assert_eq!(done.status, ListStatus::Succeeded);
    assert_eq!(done.digest, Some(Digest::of(b"the list")));
    assert_eq!(done.size, Some(321));
    assert_eq!(done.entries.len(), 1);
    assert_eq!(
        done.entries[0]
            .platform
            .as_ref()
            .unwrap()
            .variant
            .as_deref(),
        Some("v7")
    );
    assert_eq!(done.entries[0].annotations["k"], "v");
    assert!(done.finished_at.is_some());
    assert!(
        claim(&b.store, "w3").await.is_none(),
        "a finished job is not claimed again"
    );
}

async fn an_expired_lease_lets_another_worker_take_over_and_fences_the_first(b: Backend) {
    let list = insert(&b.store, &new_list("lease:v1")).await;
    let first = claim(&b.store, "w1").await.unwrap();

    b.clock.advance(LEASE + Duration::from_millis(100));
    let second = claim(&b.store, "w2")
        .await
        .expect("the expired job is due again");

    assert_eq!(second.attempt, 2);
    assert!(
        !b.store.extend_lease(&first, LEASE).await.unwrap(),
        "the first worker lost its lease"
    );
    assert!(
        !b.store.complete_push(&first, &outcome(), 3).await.unwrap(),
        "the first worker is fenced out"
    );
    assert!(
        !b.store
            .fail_push(&first, ("X", "late"), &[], None, 3)
            .await
            .unwrap()
    );
    assert!(b.store.complete_push(&second, &outcome(), 3).await.unwrap());
    let done = b.store.get_list(list.id).await.unwrap().unwrap();
    assert_eq!(done.status, ListStatus::Succeeded);
    assert_eq!(done.attempts, 2);
}

async fn a_failed_attempt_is_retried_after_its_delay_then_fails_for_good(b: Backend) {
    let list = insert(&b.store, &new_list("fail:v1")).await;
    let job = claim(&b.store, "w1").await.unwrap();

    let later = b.clock.now() + chrono::Duration::milliseconds(300);
    assert!(
        b.store
            .fail_push(&job, ("REGISTRY_UNREACHABLE", "down"), &[], Some(later), 3)
            .await
            .unwrap()
    );
    let queued = b.store.get_list(list.id).await.unwrap().unwrap();
    let too_early = claim(&b.store, "w1").await;
    let due = b.store.next_due().await.unwrap().expect("a job is waiting");
    b.clock.advance(Duration::from_millis(400));
    let again = claim(&b.store, "w2").await.expect("due after its delay");
    assert!(
        b.store
            .fail_push(&again, ("MANIFEST_UNKNOWN", "gone"), &[], None, 3)
            .await
            .unwrap()
    );

    assert_eq!(queued.status, ListStatus::Queued);
    assert_eq!(
        queued
            .error_code
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some("REGISTRY_UNREACHABLE")
    );
    assert!(too_early.is_none());
    assert!(
        (due - later).num_milliseconds().abs() < 5,
        "next_due {due} vs {later}"
    );
    assert_eq!(again.attempt, 2);
    let failed = b.store.get_list(list.id).await.unwrap().unwrap();
    assert_eq!(failed.status, ListStatus::Failed);
    assert_eq!(
        failed
            .error_code
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some("MANIFEST_UNKNOWN")
    );
    assert_eq!(failed.error_message.as_deref(), Some("gone"));
    assert!(failed.finished_at.is_some());
    assert!(claim(&b.store, "w3").await.is_none());
}

async fn retry_and_cancel_follow_the_status_rules(b: Backend) {
    let list = insert(&b.store, &new_list("rc:v1")).await;

    assert!(matches!(
        b.store.retry(list.id, 3).await.unwrap(),
        Transition::Conflict(ListStatus::Queued)
    ));
    let canceled = b.store.cancel(list.id).await.unwrap();
    assert!(matches!(&canceled, Transition::Done(l) if l.status == ListStatus::Canceled));
    assert!(
        claim(&b.store, "w").await.is_none(),
        "a canceled list is never claimed"
    );
    assert!(matches!(
        b.store.cancel(list.id).await.unwrap(),
        Transition::Conflict(ListStatus::Canceled)
    ));
    let retried = b.store.retry(list.id, 3).await.unwrap();
    assert!(matches!(&retried, Transition::Done(l) if l.status == ListStatus::Queued));
    let job = claim(&b.store, "w").await.expect("queued again");
    assert!(matches!(
        b.store.cancel(list.id).await.unwrap(),
        Transition::Conflict(ListStatus::Running)
    ));
    assert!(
        b.store
            .fail_push(&job, ("X", "no"), &[], None, 3)
            .await
            .unwrap()
    );
    let again = b.store.retry(list.id, 3).await.unwrap();
    assert!(
        matches!(&again, Transition::Done(l) if l.status == ListStatus::Queued && l.error_code.is_none())
    );
    let after = claim(&b.store, "w").await.expect("queued after a failure");
    assert_eq!(after.attempt, 2);
    assert!(
        after.max_attempts >= 4,
        "a retry gives a fresh set of attempts"
    );
    assert!(matches!(
        b.store.cancel(uuid::Uuid::new_v4()).await.unwrap(),
        Transition::NotFound
    ));
    assert!(matches!(
        b.store.retry(uuid::Uuid::new_v4(), 3).await.unwrap(),
        Transition::NotFound
    ));
}

async fn a_finished_list_with_a_callback_queues_one_and_records_its_delivery(b: Backend) {
    let mut new = new_list("cb:v1");
    new.options.callback_url = Some("http://127.0.0.1:9/hook".into());
    let list = insert(&b.store, &new).await;
    let push = claim(&b.store, "w").await.unwrap();
    assert!(b.store.complete_push(&push, &outcome(), 3).await.unwrap());

    let callback = claim(&b.store, "w").await.expect("the callback is queued");
    let pending = b.store.get_list(list.id).await.unwrap().unwrap();
    let soon = b.clock.now();
    assert!(
        b.store
            .record_callback(&callback, Err("503"), Some(soon))
            .await
            .unwrap()
    );
    let retrying = b.store.get_list(list.id).await.unwrap().unwrap();
    let again = claim(&b.store, "w")
        .await
        .expect("the callback is due again");
    assert!(b.store.record_callback(&again, Ok(()), None).await.unwrap());
    let delivered = b.store.get_list(list.id).await.unwrap().unwrap();

    assert_eq!(callback.kind, JobKind::Callback);
    assert_eq!(
        callback.options.callback_url.as_deref(),
        Some("http://127.0.0.1:9/hook")
    );
    assert_eq!(pending.callback_status.map(|s| s.as_str()), Some("pending"));
    assert_eq!(
        retrying.callback_status.map(|s| s.as_str()),
        Some("retrying")
    );
    assert_eq!(retrying.callback_error.as_deref(), Some("503"));
    assert_eq!(
        delivered.callback_status.map(|s| s.as_str()),
        Some("delivered")
    );
    assert_eq!(delivered.callback_attempts, 2);
    assert_eq!(
        delivered.status,
        ListStatus::Succeeded,
        "the callback leaves the list's status alone"
    );
    assert!(claim(&b.store, "w").await.is_none());
}

async fn queue_depth_and_next_due_describe_the_queue(b: Backend) {
    assert!(b.store.queue_depth().await.unwrap().is_empty());
    assert!(b.store.next_due().await.unwrap().is_none());
    insert(&b.store, &new_list("a:v1")).await;
    insert(&b.store, &new_list("b:v1")).await;

    let depth = b.store.queue_depth().await.unwrap();
    let due = b.store.next_due().await.unwrap().unwrap();

    assert_eq!(depth, vec![("push".to_owned(), 2)]);
    assert!(due <= b.clock.now());
}

async fn a_job_held_by_a_process_that_went_away_is_taken_over_after_reopening(b: Backend) {
    const HELD: Duration = Duration::from_secs(60);
    let list = insert(&b.store, &new_list("crash:v1")).await;
    let held = b.store.claim("gone", HELD).await.unwrap().unwrap();
    let Backend {
        store,
        clock,
        url,
        _keep,
        ..
    } = b;
    drop(store);

    let reopened = Store::open_with_clock(&url, 5, clock.clone())
        .await
        .expect("the database opens again");
    let none_yet = reopened.claim("new", LEASE).await.unwrap();
    clock.advance(HELD + Duration::from_millis(100));
    let taken = reopened
        .claim("new", LEASE)
        .await
        .unwrap()
        .expect("taken over");

    assert!(none_yet.is_none(), "the lease still holds");
    assert_eq!(taken.list_id, list.id);
    assert_eq!(taken.attempt, held.attempt + 1);
    assert!(reopened.complete_push(&taken, &outcome(), 3).await.unwrap());
    assert_eq!(
        reopened.get_list(list.id).await.unwrap().unwrap().status,
        ListStatus::Succeeded
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_store_on_the_same_sqlite_file_is_refused_with_a_pointer_to_postgresql() {
    let b = Backend::open(Db::Sqlite).await;

    let second = Store::open(&b.url, 5).await;

    let err = second.expect_err("refused").to_string();
    assert!(
        err.contains("another manifold process") && err.contains("PostgreSQL"),
        "{err}"
    );
    b.store.probe().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_in_memory_sqlite_store_works_and_keeps_nothing() {
    let store = Store::open("sqlite::memory:", 5).await.unwrap();
    let list = insert(&store, &new_list("mem:v1")).await;
    assert!(store.get_list(list.id).await.unwrap().is_some());
    assert!(store.describe().contains("in memory"));
    let other = Store::open("sqlite::memory:", 5).await.unwrap();
    assert!(other.get_list(list.id).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_postgresql_database_that_does_not_exist_is_created_when_the_store_opens() {
    let db = TestDb::unborn();

    let store = Store::open(&db.url, 2)
        .await
        .expect("the database is created");
    let list = insert(&store, &new_list("created:v1")).await;
    let again = Store::open(&db.url, 2)
        .await
        .expect("and found the next time");

    assert!(again.get_list(list.id).await.unwrap().is_some());
    let mut wrong = url::Url::parse(&db.url).unwrap();
    wrong.query_pairs_mut().append_pair("user", "nobody_here");
    let wrong = wrong.to_string();
    let refused = Store::open(&wrong, 2).await.unwrap_err().to_string();
    assert!(refused.contains("nobody_here"), "{refused}");
}
