//! A publish in the store, on both backends: one submission to several targets is one list per
//! destination, the first holding the one job. It waits for an older list of any destination, an
//! older list of another target does not, a newer list of a destination waits for it; its lists
//! move together (running, succeeded with one digest, failed with each destination's outcome,
//! queued again by a retry asked of any of them), and each lands in its own target's history.

use manifold::model::{Destination, Digest, ListStatus, Outcome};
use manifold::store::{ListRecord, NewList, PushOutcome, Store, Transition};

use crate::store::{Backend, claim, insert, new_list, outcome};
use crate::support::on_both_stores;

on_both_stores!(
    a_publish_waits_for_an_older_list_of_any_destination_and_holds_back_newer_ones,
    a_publish_lands_every_destination_at_once_each_in_its_own_history,
    a_failed_publish_keeps_each_destinations_outcome_and_a_retry_of_any_list_queues_them_all,
);

/// A publish of `new_list(first)` to `first` and each of `more`.
fn publish_of(first: &str, more: &[&str]) -> NewList {
    let mut new = new_list(first);
    new.more = more
        .iter()
        .map(|target| {
            let one = new_list(target);
            (one.target, one.spec)
        })
        .collect();
    new
}

async fn get(store: &Store, id: uuid::Uuid) -> ListRecord {
    store.get_list(id).await.unwrap().expect("the list exists")
}

/// The publish's lists, in order, as the first reads them.
fn group(first: &ListRecord) -> Vec<uuid::Uuid> {
    first.publish.iter().map(|m| m.list_id).collect()
}

async fn a_publish_waits_for_an_older_list_of_any_destination_and_holds_back_newer_ones(
    b: Backend,
) {
    let older = insert(&b.store, &new_list("two:v1")).await;
    let publish = insert(&b.store, &publish_of("one:v1", &["two:v1", "three:v1"])).await;
    let newer = insert(&b.store, &new_list("three:v1")).await;
    let elsewhere = insert(&b.store, &new_list("four:v1")).await;

    let ids = group(&publish);
    assert_eq!(ids.len(), 3, "{:?}", publish.publish);
    assert_eq!(ids[0], publish.id, "the first list runs it");
    assert_eq!(publish.publish_id, Some(publish.id));
    let targets: Vec<&str> = publish.publish.iter().map(|m| m.target.as_str()).collect();
    assert_eq!(
        targets,
        [
            "127.0.0.1:5000/one:v1",
            "127.0.0.1:5000/two:v1",
            "127.0.0.1:5000/three:v1"
        ]
    );

    let first = claim(&b.store, "w1").await.expect("the older list is due");
    assert_eq!(first.list_id, older.id);
    let second = claim(&b.store, "w2").await.expect("another target is due");
    assert_eq!(
        second.list_id, elsewhere.id,
        "the publish waits for two:v1's older list, and three:v1's newer one for the publish"
    );
    assert!(claim(&b.store, "w3").await.is_none());

    assert!(b.store.complete_push(&first, &outcome(), 3).await.unwrap());
    let job = claim(&b.store, "w3").await.expect("the publish is due now");
    assert_eq!(job.list_id, publish.id);
    let members: Vec<uuid::Uuid> = job.members.iter().map(|(id, _)| *id).collect();
    assert_eq!(members, ids[1..]);
    for id in &ids {
        assert_eq!(get(&b.store, *id).await.status, ListStatus::Running);
    }
    assert!(
        claim(&b.store, "w4").await.is_none(),
        "three:v1's newer list waits while the publish runs"
    );
    assert!(b.store.complete_push(&job, &outcome(), 3).await.unwrap());
    let last = claim(&b.store, "w4").await.expect("then the newer list");
    assert_eq!(last.list_id, newer.id);
}

async fn a_publish_lands_every_destination_at_once_each_in_its_own_history(b: Backend) {
    let before = insert(&b.store, &new_list("two:v1")).await;
    let job = claim(&b.store, "w").await.unwrap();
    assert!(b.store.complete_push(&job, &outcome(), 3).await.unwrap());
    let publish = insert(&b.store, &publish_of("one:v1", &["two:v1"])).await;
    let job = claim(&b.store, "w").await.unwrap();
    let digest = Digest::of(b"the published list");
    let destinations: Vec<Destination> = publish
        .publish
        .iter()
        .map(|m| Destination {
            target: m.target.clone(),
            tags: vec!["latest".into()],
            outcome: Outcome::Published,
            digest: Some(digest.clone()),
            unchanged: false,
            error: None,
        })
        .collect();
    let done = PushOutcome {
        digest: digest.clone(),
        destinations,
        ..outcome()
    };

    assert!(b.store.complete_push(&job, &done, 3).await.unwrap());

    for id in group(&publish) {
        let list = get(&b.store, id).await;
        assert_eq!(list.status, ListStatus::Succeeded);
        assert_eq!(list.digest.as_ref(), Some(&digest));
        assert_eq!(list.entries, done.entries, "each keeps the entries");
        let mine = list.publish.iter().find(|m| m.list_id == id).unwrap();
        let outcome = mine.outcome.as_ref().expect("its outcome is kept");
        assert_eq!(
            (outcome.outcome, &outcome.target),
            (Outcome::Published, &list.target)
        );
        assert!(
            list.publish
                .iter()
                .all(|m| m.status == ListStatus::Succeeded)
        );
    }
    let two = get(&b.store, group(&publish)[1]).await;
    assert_eq!(two.target, before.target);
    assert_eq!(
        get(&b.store, before.id).await.replaced_by,
        Some(two.id),
        "the publish's list replaced two:v1's earlier one"
    );
    assert!(
        claim(&b.store, "w").await.is_none(),
        "one job for the publish"
    );
}

async fn a_failed_publish_keeps_each_destinations_outcome_and_a_retry_of_any_list_queues_them_all(
    b: Backend,
) {
    let publish = insert(&b.store, &publish_of("one:v1", &["two:v1"])).await;
    let ids = group(&publish);
    let job = claim(&b.store, "w").await.unwrap();
    let held = Digest::of(b"what two:v1 held");
    let destinations = [
        (Outcome::PutBack, None),
        (
            Outcome::Untouched,
            Some("DENIED: requested access to the resource is denied"),
        ),
    ]
    .into_iter()
    .zip(&publish.publish)
    .map(|((outcome, error), m)| Destination {
        target: m.target.clone(),
        tags: Vec::new(),
        outcome,
        digest: Some(held.clone()),
        unchanged: false,
        error: error.map(str::to_owned),
    })
    .collect::<Vec<_>>();

    let failed = b.store.fail_push(
        &job,
        ("DENIED", "refused at two:v1"),
        &destinations,
        None,
        3,
    );
    assert!(failed.await.unwrap());

    let first = get(&b.store, ids[0]).await;
    for m in &first.publish {
        assert_eq!(m.status, ListStatus::Failed);
    }
    let outcomes: Vec<Outcome> = first
        .publish
        .iter()
        .map(|m| m.outcome.as_ref().unwrap().outcome)
        .collect();
    assert_eq!(outcomes, [Outcome::PutBack, Outcome::Untouched]);
    let second = get(&b.store, ids[1]).await;
    assert_eq!(second.error_message.as_deref(), Some("refused at two:v1"));
    assert_eq!(second.attempts, 1, "its attempts are the publish's job's");

    match b.store.retry(ids[1], 3).await.unwrap() {
        Transition::Done(list) => assert_eq!(list.id, ids[1], "answers the list asked for"),
        other => panic!("expected the retry to be taken, got {other:?}"),
    }
    for id in &ids {
        let list = get(&b.store, *id).await;
        assert_eq!(list.status, ListStatus::Queued, "{id}");
        assert!(list.publish.iter().all(|m| m.outcome.is_none()));
    }
    let again = claim(&b.store, "w").await.expect("the publish's job again");
    assert_eq!(again.list_id, ids[0]);
    assert_eq!(again.members.len(), 1);
}
