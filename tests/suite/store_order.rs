//! The store's order of submissions and its watch, on both backends: jobs of one target run one at
//! a time, oldest first, a list overtaken by a newer one that landed is claimed as superseded (an
//! append only by a replacing list), a retry makes a list the newest; only the list that landed
//! last on a target is watched, a list that becomes drifted queues its callback once, and a
//! followed list whose source moved queues its follow-up and hands the following over.

use std::time::Duration;

use chrono::Utc;
use manifold::model::{Digest, DriftReason, DriftStatus, ListStatus, Operation};
use manifold::store::{DriftFound, JobKind, NewList, Store, Transition};

use crate::store::{Backend, claim, insert, new_list, outcome};
use crate::support::on_both_stores;

on_both_stores!(
    jobs_of_one_target_run_one_at_a_time_oldest_first,
    a_job_whose_worker_died_keeps_its_turn_and_is_taken_over_first,
    a_list_waiting_out_a_backoff_lets_a_newer_one_land_and_is_then_claimed_as_superseded,
    appends_overtaken_by_appends_still_run_but_a_newer_push_supersedes_them,
    a_retry_makes_a_list_the_newest_of_its_target,
    only_the_list_that_landed_last_is_watched_and_its_drift_recorded,
    the_watch_backlog_counts_due_checks_and_in_sync_findings_are_recorded_together,
    a_followed_list_whose_source_moved_queues_one_follow_up_that_takes_the_following_over,
);

fn list_of(target: &str, operation: Operation) -> NewList {
    NewList {
        operation,
        ..new_list(target)
    }
}

/// Claims and completes the next job, which must be `id`'s push.
async fn land(store: &Store, id: uuid::Uuid, watch_at: Option<chrono::DateTime<Utc>>) {
    let job = claim(store, "w").await.expect("a job is due");
    assert_eq!(job.list_id, id);
    assert_eq!(job.superseded_by, None);
    let done = manifold::store::PushOutcome {
        watch_at,
        ..outcome()
    };
    assert!(store.complete_push(&job, &done, 3).await.unwrap());
}

async fn jobs_of_one_target_run_one_at_a_time_oldest_first(b: Backend) {
    let first = insert(&b.store, &new_list("app:v1")).await;
    let second = insert(&b.store, &new_list("app:v1")).await;
    let other = insert(&b.store, &new_list("other:v1")).await;
    assert!(first.sequence < second.sequence && second.sequence < other.sequence);

    let a = claim(&b.store, "w1").await.unwrap();
    let c = claim(&b.store, "w2").await.unwrap();
    let none = claim(&b.store, "w3").await;

    assert_eq!(a.list_id, first.id);
    assert_eq!(c.list_id, other.id, "the second app:v1 waits for the first");
    assert!(none.is_none(), "nothing else may run: {none:?}");
    assert!(b.store.complete_push(&a, &outcome(), 3).await.unwrap());
    let next = claim(&b.store, "w3").await.unwrap();
    assert_eq!(next.list_id, second.id);
    assert_eq!(
        next.superseded_by, None,
        "an older list landed, not a newer one"
    );
}

async fn a_job_whose_worker_died_keeps_its_turn_and_is_taken_over_first(b: Backend) {
    let first = insert(&b.store, &new_list("app:v1")).await;
    let second = insert(&b.store, &new_list("app:v1")).await;
    let held = claim(&b.store, "died").await.unwrap();
    assert_eq!(held.list_id, first.id);
    assert!(claim(&b.store, "w").await.is_none(), "the target is taken");

    b.clock
        .advance(crate::store::LEASE + Duration::from_millis(50));
    let taken_over = claim(&b.store, "w").await.unwrap();

    assert_eq!((taken_over.list_id, taken_over.attempt), (first.id, 2));
    assert!(
        claim(&b.store, "w").await.is_none(),
        "{:?} waits",
        second.id
    );
    assert!(
        !b.store.complete_push(&held, &outcome(), 3).await.unwrap(),
        "fenced"
    );
    assert!(
        b.store
            .complete_push(&taken_over, &outcome(), 3)
            .await
            .unwrap()
    );
    assert_eq!(claim(&b.store, "w").await.unwrap().list_id, second.id);
}

async fn a_list_waiting_out_a_backoff_lets_a_newer_one_land_and_is_then_claimed_as_superseded(
    b: Backend,
) {
    let stale = insert(&b.store, &new_list("app:v1")).await;
    back_off(&b, stale.id, 400).await;
    let newer = insert(&b.store, &new_list("app:v1")).await;

    land(&b.store, newer.id, None).await;
    b.clock.advance(Duration::from_millis(450));
    let retried = claim(&b.store, "w").await.unwrap();

    assert_eq!(retried.list_id, stale.id);
    assert_eq!(retried.superseded_by, Some(newer.id));
    assert!(b.store.supersede(&retried, newer.id, 3).await.unwrap());
    let read = b.store.get_list(stale.id).await.unwrap().unwrap();
    assert_eq!(read.status, ListStatus::Superseded);
    assert_eq!(read.superseded_by, Some(newer.id));
    assert!(read.finished_at.is_some() && read.digest.is_none());
    assert!(claim(&b.store, "w").await.is_none(), "the job is done");
}

/// Claims the next job, which must be `id`'s, and puts it back for `ms` milliseconds from now.
async fn back_off(b: &Backend, id: uuid::Uuid, ms: i64) {
    let job = claim(&b.store, "w").await.expect("a job is due");
    assert_eq!(job.list_id, id);
    let at = b.clock.now() + chrono::Duration::milliseconds(ms);
    let put_back = b
        .store
        .fail_push(&job, ("REGISTRY_UNREACHABLE", "down"), &[], Some(at), 3);
    assert!(put_back.await.unwrap());
}

async fn appends_overtaken_by_appends_still_run_but_a_newer_push_supersedes_them(b: Backend) {
    let older = insert(&b.store, &list_of("app:v1", Operation::Append)).await;
    back_off(&b, older.id, 300).await;
    let newer_append = insert(&b.store, &list_of("app:v1", Operation::Append)).await;
    land(&b.store, newer_append.id, None).await;
    b.clock.advance(Duration::from_millis(350));
    let append = claim(&b.store, "w").await.unwrap();
    assert_eq!(
        (append.list_id, append.superseded_by),
        (older.id, None),
        "appends compose"
    );
    assert!(b.store.complete_push(&append, &outcome(), 3).await.unwrap());

    let stale = insert(&b.store, &list_of("app:v1", Operation::Append)).await;
    back_off(&b, stale.id, 300).await;
    let push = insert(&b.store, &list_of("app:v1", Operation::Push)).await;
    land(&b.store, push.id, None).await;
    b.clock.advance(Duration::from_millis(350));
    let overtaken = claim(&b.store, "w").await.unwrap();

    assert_eq!(overtaken.list_id, stale.id);
    assert_eq!(
        overtaken.superseded_by,
        Some(push.id),
        "the push replaced what it would edit"
    );
}

async fn a_retry_makes_a_list_the_newest_of_its_target(b: Backend) {
    let old = insert(&b.store, &new_list("app:v1")).await;
    let job = claim(&b.store, "w").await.unwrap();
    b.store
        .fail_push(&job, ("MANIFEST_UNKNOWN", "gone"), &[], None, 3)
        .await
        .unwrap();
    let newer = insert(&b.store, &new_list("app:v1")).await;
    land(&b.store, newer.id, None).await;

    let Transition::Done(retried) = b.store.retry(old.id, 3).await.unwrap() else {
        panic!("a failed list can be retried");
    };
    let job = claim(&b.store, "w").await.unwrap();

    assert!(retried.sequence > newer.sequence, "{retried:?}");
    assert_eq!((job.list_id, job.superseded_by), (old.id, None));
}

fn drifted(reasons: Vec<DriftReason>) -> DriftFound {
    DriftFound {
        status: DriftStatus::Drifted,
        reasons,
        error: None,
    }
}

async fn only_the_list_that_landed_last_is_watched_and_its_drift_recorded(b: Backend) {
    let mut first = new_list("app:v1");
    first.options.callback_url = Some("http://127.0.0.1:9/hook".into());
    let first = insert(&b.store, &first).await;
    land(&b.store, first.id, Some(b.clock.now())).await;
    let due = b
        .store
        .take_due_checks(10, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(due.iter().map(|l| l.id).collect::<Vec<_>>(), vec![first.id]);
    assert_eq!(
        due[0].entries,
        outcome().entries,
        "taken whole, with its entries"
    );
    assert!(
        b.store
            .take_due_checks(10, Duration::from_secs(60))
            .await
            .unwrap()
            .is_empty(),
        "taking a list moves its next check on"
    );
    let moved = DriftReason::TagMoved {
        tag: first.target.clone(),
        expected: Digest::of(b"the list"),
        found: None,
    };

    let once = b
        .store
        .record_drift(first.id, &drifted(vec![moved.clone()]), 3)
        .await
        .unwrap();
    let twice = b
        .store
        .record_drift(first.id, &drifted(vec![moved.clone()]), 3)
        .await
        .unwrap();

    assert!(once.recorded && once.became_drifted && !twice.became_drifted);
    let unknown = DriftFound {
        status: DriftStatus::Unknown,
        reasons: Vec::new(),
        error: Some("the registry does not answer".into()),
    };
    let record = |found: DriftFound| {
        let store = &b.store;
        async move { store.record_drift(first.id, &found, 3).await.unwrap() }
    };
    assert!(!record(unknown).await.became_drifted);
    assert!(
        !record(drifted(vec![moved.clone()])).await.became_drifted,
        "a registry that could not be asked for a while does not alert again"
    );
    let in_sync = DriftFound {
        status: DriftStatus::InSync,
        reasons: Vec::new(),
        error: None,
    };
    assert!(!record(in_sync).await.became_drifted);
    assert!(
        record(drifted(vec![moved.clone()])).await.became_drifted,
        "drifted again after it was found in sync"
    );
    let read = b.store.get_list(first.id).await.unwrap().unwrap();
    let drift = read.drift.expect("recorded");
    assert_eq!(
        (drift.status, drift.reasons),
        (DriftStatus::Drifted, vec![moved])
    );
    assert_eq!(read.callback_event.as_deref(), Some("list.drifted"));
    assert_eq!(b.store.drifted_count().await.unwrap(), 1);
    let callback = claim(&b.store, "w").await.unwrap();
    assert_eq!(
        (callback.kind, callback.list_id),
        (JobKind::Callback, first.id)
    );
    let second = insert(&b.store, &new_list("app:v1")).await;
    land(&b.store, second.id, Some(b.clock.now())).await;
    let read = b.store.get_list(first.id).await.unwrap().unwrap();
    assert!(!read.watched, "a newer list landed on the target");
    assert_eq!(b.store.drifted_count().await.unwrap(), 0);
    let stale = b
        .store
        .record_drift(first.id, &drifted(Vec::new()), 3)
        .await
        .unwrap();
    assert!(
        !stale.recorded,
        "a check of a list no longer watched is dropped"
    );
}

async fn the_watch_backlog_counts_due_checks_and_in_sync_findings_are_recorded_together(
    b: Backend,
) {
    let due_at = b.clock.now();
    let mut lists = Vec::new();
    for (i, target) in ["a:v1", "b:v1", "c:v1"].into_iter().enumerate() {
        let list = insert(&b.store, &new_list(target)).await;
        let at = due_at + chrono::Duration::milliseconds(i as i64);
        land(&b.store, list.id, Some(at)).await;
        lists.push(list.id);
    }
    b.clock.advance(Duration::from_secs(30));

    let (due, oldest) = b.store.watch_backlog().await.unwrap();
    let taken = b
        .store
        .take_due_checks(2, Duration::from_secs(60))
        .await
        .unwrap();
    let (left, _) = b.store.watch_backlog().await.unwrap();
    let mut ids: Vec<_> = taken.iter().map(|l| l.id).collect();
    ids.sort_by_key(|id| lists.iter().position(|l| l == id));
    let newer = insert(&b.store, &new_list("b:v1")).await;
    land(&b.store, newer.id, None).await;
    let recorded = b.store.record_in_sync(&ids).await.unwrap();

    assert_eq!(due, 3);
    assert_eq!(
        oldest.map(|t| t.timestamp_micros()),
        Some(due_at.timestamp_micros()),
        "due since the oldest check's time"
    );
    assert_eq!(left, 1, "taking moves the taken lists' checks on");
    assert_eq!(ids, lists[..2], "the longest due taken");
    assert_eq!(
        recorded, 1,
        "b:v1 is no longer watched: a newer list landed on it"
    );
    let checked = |id| {
        let store = &b.store;
        async move {
            let drift = store.get_list(id).await.unwrap().unwrap().drift.unwrap();
            assert_eq!(drift.status, DriftStatus::InSync);
            drift.checked_at.expect("checked at landing, at least")
        }
    };
    let late = due_at + chrono::Duration::seconds(30);
    assert!(checked(lists[0]).await >= late, "recorded now");
    assert!(checked(lists[1]).await < late, "left as it landed");
}

async fn a_followed_list_whose_source_moved_queues_one_follow_up_that_takes_the_following_over(
    b: Backend,
) {
    let mut asked = new_list("app:v1");
    asked.options.follow = true;
    asked.identity = Some(manifold::model::Identity {
        issuer: "https://issuer.test".into(),
        subject: "repo:org/app:ref:refs/heads/main".into(),
        repository: Some("org/app".into()),
        git_ref: Some("refs/heads/main".into()),
        run_id: Some("7".into()),
        rule: Some("app-main".into()),
    });
    let followed = insert(&b.store, &asked).await;
    land(&b.store, followed.id, Some(b.clock.now())).await;
    let moved = DriftReason::SourceMoved {
        image: "127.0.0.1:5000/src:v1".into(),
        expected: Digest::of(b"old"),
        found: Some(Digest::of(b"new")),
    };

    let done = b
        .store
        .record_drift(followed.id, &drifted(vec![moved.clone()]), 3)
        .await
        .unwrap();
    let again = b
        .store
        .record_drift(followed.id, &drifted(vec![moved]), 3)
        .await
        .unwrap();

    let next = done.follow_up.expect("a follow-up is queued");
    assert_eq!(again.follow_up, None, "the following was handed over");
    let old = b.store.get_list(followed.id).await.unwrap().unwrap();
    let new = b.store.get_list(next).await.unwrap().unwrap();
    assert_eq!((old.options.follow, old.followed_by), (false, Some(next)));
    assert_eq!((new.options.follow, new.follows), (true, Some(followed.id)));
    assert_eq!((new.status, &new.target), (ListStatus::Queued, &old.target));
    assert_eq!(new.spec_text, old.spec_text);
    assert_eq!(old.identity, asked.identity, "who submitted it is kept");
    assert_eq!(new.identity, old.identity, "and the follow-up keeps it");
    assert!(new.sequence > old.sequence);
    let job = claim(&b.store, "w").await.unwrap();
    assert_eq!((job.kind, job.list_id), (JobKind::Push, next));
    let stopped = b
        .store
        .set_follow(followed.id, false)
        .await
        .unwrap()
        .unwrap();
    assert!(!stopped.options.follow);
    let new = b.store.get_list(next).await.unwrap().unwrap();
    assert!(
        !new.options.follow,
        "unfollowing stops the follow-ups after it too"
    );
}
