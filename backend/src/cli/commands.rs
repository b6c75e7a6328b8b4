//! The commands that talk to registries: push (and manifest-tool v1's pushml), inspect, verify,
//! copy, remove — each reads its arguments, calls the engine and prints the result.

use super::{
    CopyArgs, FromSpecArgs, InspectArgs, PushArgs, PushCommand, RemoveArgs, VerifyArgs, from_args,
    output, read_spec,
};
use crate::engine::{self, PushOptions};
use crate::model::Reference;
use crate::model::{AskedOptions, Digest, ListOptions, Platform};
use crate::registry::RegistryClient;
use crate::spec::{CopySpec, Removal, Work};

/// `push from-spec` and `push from-args`.
pub(super) async fn push(
    client: &RegistryClient,
    args: &PushArgs,
    concurrency: usize,
) -> anyhow::Result<()> {
    let (submission, ignore_missing) = match &args.how {
        PushCommand::FromSpec(f) => (read_spec(&f.file)?, f.ignore_missing),
        PushCommand::FromArgs(a) => (from_args(a)?, a.ignore_missing),
    };
    let asked = args.asked(ignore_missing);
    let options = PushOptions::new(submission.options.over(&asked), concurrency);
    let report = if args.dry_run {
        let plan = engine::plan(client, &submission.spec, &options).await?;
        plan.dry_run(client, &options).await?
    } else {
        engine::publish(client, &Work::List(submission.spec), &options).await?
    };
    output::push_report(&report, args.json)
}

/// `pushml FILE`, manifest-tool v1's spelling of `push from-spec`.
pub(super) async fn pushml(
    client: &RegistryClient,
    f: &FromSpecArgs,
    concurrency: usize,
) -> anyhow::Result<()> {
    let submission = read_spec(&f.file)?;
    let asked = AskedOptions {
        ignore_missing: f.ignore_missing.then_some(true),
        ..AskedOptions::default()
    };
    let options = PushOptions::new(submission.options.over(&asked), concurrency);
    let report = engine::publish(client, &Work::List(submission.spec), &options).await?;
    output::push_report(&report, false)
}

/// `copy SRC DEST`.
pub(super) async fn copy(
    client: &RegistryClient,
    args: &CopyArgs,
    concurrency: usize,
) -> anyhow::Result<()> {
    let work = Work::Copy(CopySpec::parse(
        &args.source,
        &args.destinations,
        &args.tags,
    )?);
    let list = ListOptions {
        referrers: !args.no_referrers,
        ..ListOptions::default()
    };
    let options = PushOptions::new(list, concurrency);
    run(client, &work, &options, args.json).await
}

/// `remove --platform … --digest … REF`.
pub(super) async fn remove(
    client: &RegistryClient,
    args: &RemoveArgs,
    concurrency: usize,
) -> anyhow::Result<()> {
    let image = Reference::parse(&args.reference)?;
    let platforms = args
        .platform
        .iter()
        .map(|p| Platform::parse(p).map_err(|e| anyhow::anyhow!("--platform: {e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let digests = args
        .digest
        .iter()
        .map(|d| Digest::parse(d).map_err(|e| anyhow::anyhow!("--digest: {e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if platforms.is_empty() && digests.is_empty() {
        anyhow::bail!("remove needs --platform or --digest: which entries to remove");
    }
    let work = Work::Remove(Removal {
        image,
        platforms,
        digests,
    });
    let options = PushOptions::new(ListOptions::default(), concurrency);
    run(client, &work, &options, args.json).await
}

/// Carries out a removal or a copy and prints its report.
async fn run(
    client: &RegistryClient,
    work: &Work,
    options: &PushOptions,
    json: bool,
) -> anyhow::Result<()> {
    let report = engine::publish(client, work, options).await?;
    output::push_report(&report, json)
}

/// `verify REF`: fails when a platform does not resolve to its own entry, or a pull of an entry
/// would fail or run the wrong image.
pub(super) async fn verify(client: &RegistryClient, args: &VerifyArgs) -> anyhow::Result<()> {
    let reference = Reference::parse(&args.reference)?;
    let verification = engine::verify(client, &reference, args.deep).await?;
    output::verification(&verification, args.json)?;
    if verification.ok() {
        Ok(())
    } else {
        Err(output::Reported(format!(
            "{} does not pull as it should on every platform",
            args.reference
        ))
        .into())
    }
}

/// `inspect`: the reference, or the child a consumer on `--platform` pulls; `--raw-bytes` reads
/// only the manifest asked for, `--raw` prints manifest-tool's document of it.
pub(super) async fn inspect(client: &RegistryClient, args: &InspectArgs) -> anyhow::Result<()> {
    let mut reference = Reference::parse(&args.reference)?;
    let mut name = args.reference.clone();
    if let Some(platform) = &args.platform {
        let platform = Platform::parse(platform).map_err(|e| anyhow::anyhow!("--platform: {e}"))?;
        let child = engine::pick(client, &reference, &platform).await?;
        reference = reference.with_digest(&child);
        name = reference.to_string();
    }
    if args.raw_bytes {
        let (bytes, _) = client
            .get_manifest_bytes(&reference)
            .await
            .map_err(|e| engine::EngineError::registry(&reference, e))?;
        return output::stdout(&bytes);
    }
    let referrers = !args.no_referrers && !args.raw;
    let inspection = engine::inspect(client, &reference, args.expand_config, referrers).await?;
    if args.raw {
        return output::manifest_tool_raw(&name, &inspection, args.expand_config);
    }
    output::inspection(&name, &inspection, args.json)
}
