//! A publish: one list (or one copied list) written to several destinations in two phases, so
//! that when the submission ends they announce the same release — the new one everywhere, or the
//! one each announced before. Owns the order across destinations; what is done at each is a
//! push's (`push.rs`: `Plan::prepare`, `put_tag`; `copy.rs`).
//!
//! The plan is made once, against the first destination: sources resolved once, the document the
//! same bytes everywhere. Phase one, every destination at once (each registry within its own rate
//! budget, the client's): what it holds read, every child (and, with `referrers`, what refers to
//! them) made present, and what each of its tags holds read — digest, bytes, media type. A
//! destination that fails here fails the submission before any tag moves anywhere. Phase two: the
//! list PUT under every tag of every destination at once; should one PUT fail, every tag moved
//! meanwhile is PUT back to the bytes it held before and asked for again. A tag that did not exist
//! before cannot be taken back (distribution deletes no tag by name): the error names it.
//!
//! Knows nothing of queues: a service job calls [`publish`] as the CLI does.

use futures::future::join_all;

use super::current::{Current, Held};
use super::error::EngineError;
use super::plan::{Plan, PushOptions};
use super::push::{Prepared, PushReport, plan_of, put_tag, run};
use super::{refused, settle};
use crate::model::{Destination, Outcome, Reference};
use crate::registry::RegistryClient;
use crate::spec::Work;

/// A publish that failed: why, and what became of each destination.
#[derive(Debug)]
pub struct PublishFailure {
    /// What the user reads: the destination at fault and what was done elsewhere.
    pub message: String,
    /// The first failure.
    pub cause: EngineError,
    /// Every destination, in order.
    pub destinations: Vec<Destination>,
}

/// One destination between the phases: its plan, what phase one did there, and what each of
/// its tags holds (what phase two would put back).
struct Ready<'c> {
    plan: Plan,
    prepared: Prepared<'c>,
    tags: Vec<(Reference, Option<Held>)>,
}

/// A tag PUT in phase two: its destination's index, the tag, what it held.
type Move<'r> = (usize, &'r Reference, &'r Option<Held>);

/// Carries out a submission's work at each of its targets: one target as [`run`] does; several
/// in the two phases of this module. `append` is refused with several targets (each target's
/// current list would make another list).
pub async fn publish(
    client: &RegistryClient,
    work: &Work,
    options: &PushOptions,
) -> Result<PushReport, EngineError> {
    let targets = work.targets();
    if targets.len() < 2 {
        return run(client, work, options).await;
    }
    if options.list.append {
        return Err(EngineError::Invalid(format!(
            "append merges into the list each target holds, so {} targets would get {} lists; \
             append to one target at a time, or push the whole list to all of them",
            targets.len(),
            targets.len()
        )));
    }
    let first = plan_of(client, work, options).await?;
    let phase_one = join_all(
        targets
            .iter()
            .map(|target| ready(client, &first, target, options)),
    )
    .await;
    let mut readies = Vec::new();
    let mut failures = Vec::new();
    for (target, result) in targets.iter().zip(phase_one) {
        match result {
            Ok(ready) => readies.push(ready),
            Err(e) => failures.push(((*target).clone(), e)),
        }
    }
    if !failures.is_empty() {
        return Err(not_started(work.tags(), &targets, failures));
    }
    flip(client, readies).await
}

/// Phase one at `target`: the plan made for it (the first plan, its target's current list read
/// for another), every child present, what each tag holds read.
async fn ready<'c>(
    client: &'c RegistryClient,
    first: &Plan,
    target: &Reference,
    options: &PushOptions,
) -> Result<Ready<'c>, EngineError> {
    let mut plan = first.clone();
    if plan.target != *target {
        plan.current = Current::read(client, target).await?;
        plan.tags.retain(|t| Some(t.as_str()) != target.tag());
        plan.target = target.clone();
    }
    let prepared = plan.prepare(client, options).await?;
    let own = &plan.target;
    let extra = join_all(plan.tags.iter().map(|t| async move {
        let reference = own.with_tag(t);
        let held = Held::read(client, &reference).await?;
        Ok::<_, EngineError>((reference, held))
    }))
    .await;
    let mut tags = vec![(plan.target.clone(), plan.current.held.clone())];
    for tag in extra {
        tags.push(tag?);
    }
    Ok(Ready {
        plan,
        prepared,
        tags,
    })
}

/// Phase two: every tag that does not hold the list yet PUT at once; on a failure, the moved
/// ones put back.
async fn flip(client: &RegistryClient, readies: Vec<Ready<'_>>) -> Result<PushReport, EngineError> {
    let document = &readies[0].plan.document;
    let moves: Vec<Move<'_>> = readies
        .iter()
        .enumerate()
        .flat_map(|(d, ready)| ready.tags.iter().map(move |(r, held)| (d, r, held)))
        .filter(|(_, _, held)| held.as_ref().is_none_or(|h| h.digest != document.digest))
        .collect();
    let results = join_all(moves.iter().map(|(_, reference, _)| async move {
        let what = format!("PUT {reference}");
        settle::settled(&what, || put_tag(client, reference, document)).await
    }))
    .await;
    let (mut moved, mut failed) = (Vec::new(), Vec::new());
    for (step, result) in moves.into_iter().zip(results) {
        match result {
            Ok(()) => moved.push(step),
            Err(e) => failed.push((step, refused::in_publish(&readies[step.0].plan, e))),
        }
    }
    if failed.is_empty() {
        return Ok(published(client, readies));
    }
    let undone = put_back(client, &moved).await;
    Err(rolled_back(&readies, failed, &moved, undone))
}

/// The report of a publish that landed everywhere: the first destination's, with every
/// destination's outcome.
fn published(client: &RegistryClient, readies: Vec<Ready<'_>>) -> PushReport {
    let destinations: Vec<Destination> = readies
        .iter()
        .map(|r| Destination {
            target: r.plan.target.to_string(),
            tags: r.plan.tags.clone(),
            outcome: Outcome::Published,
            digest: Some(r.plan.document.digest.clone()),
            unchanged: r.plan.unchanged(),
            error: None,
        })
        .collect();
    let unchanged = destinations.iter().all(|d| d.unchanged);
    let Ready { plan, prepared, .. } = readies.into_iter().next().expect("a destination");
    tracing::info!(
        "published {} to {} destinations",
        plan.document.digest,
        destinations.len()
    );
    let mut report = plan.report(client, false);
    report.restored = prepared.restored;
    report.referrers = prepared.carried;
    report.unchanged = unchanged;
    report.destinations = destinations;
    report
}

/// Puts each moved tag back to what it held (concurrently) and asks for it again; per move, what
/// could not be done, if anything.
async fn put_back(client: &RegistryClient, moved: &[Move<'_>]) -> Vec<Option<String>> {
    join_all(moved.iter().map(|(_, reference, held)| async move {
        let Some(held) = held else {
            return Some(format!(
                "{reference} did not exist before and a registry cannot be asked to delete a \
                 tag, so it holds the new list"
            ));
        };
        let put = client
            .put_manifest(reference, held.bytes.clone(), &held.media_type)
            .await;
        let back = match put {
            Ok(_) => client.head_manifest(reference).await,
            Err(e) => Err(e),
        };
        match back {
            Ok(Some(digest)) if digest == held.digest => None,
            Ok(other) => Some(format!(
                "{reference} was put back to {} but holds {} now",
                held.digest,
                other.map_or_else(|| "nothing".to_owned(), |d| d.to_string())
            )),
            Err(e) => Some(format!(
                "{reference} could not be put back to {}: {e}",
                held.digest
            )),
        }
    }))
    .await
}

/// The failure of phase one: the destinations that failed named, no tag moved anywhere.
fn not_started(
    tags: &[String],
    targets: &[&Reference],
    failures: Vec<(Reference, EngineError)>,
) -> EngineError {
    let failed: Vec<String> = failures
        .iter()
        .map(|(target, e)| format!("{target} ({e})"))
        .collect();
    let destinations = targets
        .iter()
        .map(|target| Destination {
            target: target.to_string(),
            tags: tags
                .iter()
                .filter(|t| Some(t.as_str()) != target.tag())
                .cloned()
                .collect(),
            outcome: Outcome::Untouched,
            digest: None,
            unchanged: false,
            error: failures
                .iter()
                .find(|(t, _)| t == *target)
                .map(|(_, e)| e.to_string()),
        })
        .collect();
    let message = format!(
        "the list was published nowhere: {} failed before any tag was moved; no tag was moved \
         at any of the {} destinations",
        failed.join(", "),
        targets.len()
    );
    let cause = failures.into_iter().next().expect("a failure").1;
    publish_failure(message, cause, destinations)
}

/// The failure of phase two: the PUTs that failed, and what became of the moved tags.
fn rolled_back(
    readies: &[Ready<'_>],
    failed: Vec<(Move<'_>, EngineError)>,
    moved: &[Move<'_>],
    undone: Vec<Option<String>>,
) -> EngineError {
    let at = |d: usize| &readies[d].plan.target;
    let refused: Vec<String> = failed
        .iter()
        .map(|((_, reference, _), e)| format!("{reference} ({e})"))
        .collect();
    let stranded: Vec<&String> = undone.iter().flatten().collect();
    let back: Vec<String> = moved
        .iter()
        .zip(&undone)
        .filter(|(_, problem)| problem.is_none())
        .map(|((_, reference, _), _)| reference.to_string())
        .collect();
    let mut message = format!("the list could not be PUT at {}; ", refused.join(", "));
    if back.is_empty() && stranded.is_empty() {
        message.push_str("no tag had been moved elsewhere");
    } else if !back.is_empty() {
        message.push_str(&format!(
            "the tags moved meanwhile were put back to the digests they held before: {}",
            back.join(", ")
        ));
    }
    for problem in &stranded {
        message.push_str(&format!("; {problem}"));
    }
    let destinations = readies
        .iter()
        .enumerate()
        .map(|(d, ready)| {
            let mine = |m: &&Move<'_>| m.0 == d;
            let problems: Vec<String> = moved
                .iter()
                .zip(&undone)
                .filter(|(m, _)| mine(m))
                .filter_map(|(_, p)| p.clone())
                .collect();
            let own_error = failed
                .iter()
                .find(|(m, _)| mine(&m))
                .map(|(_, e)| e.to_string());
            let touched = moved.iter().any(|m| mine(&m));
            let outcome = match (touched, problems.is_empty()) {
                (false, _) => Outcome::Untouched,
                (true, true) => Outcome::PutBack,
                (true, false) => Outcome::Stranded,
            };
            // The destination's own tag holds the list still when it could not be put back.
            let own_stranded = moved
                .iter()
                .zip(&undone)
                .any(|(m, p)| mine(&m) && *m.1 == *at(d) && p.is_some());
            let digest = match own_stranded {
                true => Some(ready.plan.document.digest.clone()),
                false => ready.tags[0].1.as_ref().map(|h| h.digest.clone()),
            };
            Destination {
                target: at(d).to_string(),
                tags: ready.plan.tags.clone(),
                outcome,
                digest,
                unchanged: ready.plan.unchanged(),
                error: own_error.or_else(|| (!problems.is_empty()).then(|| problems.join("; "))),
            }
        })
        .collect();
    let cause = failed.into_iter().next().expect("a failure").1;
    publish_failure(message, cause, destinations)
}

fn publish_failure(
    message: String,
    cause: EngineError,
    destinations: Vec<Destination>,
) -> EngineError {
    EngineError::Publish(Box::new(PublishFailure {
        message,
        cause,
        destinations,
    }))
}
