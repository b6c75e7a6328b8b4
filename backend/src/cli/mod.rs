//! The `manifold` command line: a drop-in for manifest-tool v2 (`push from-spec`, `push from-args`,
//! `inspect`, and v1's `pushml`) with the same global flags, plus `--json` output for scripts.
//!
//! Results go to stdout, progress and errors to stderr; a failure exits non-zero.

mod commands;
mod doctor;
mod id_token;
mod logging;
pub mod output;
mod parse;
mod submit;

pub use parse::{command, parse};

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::model::{AskedOptions, ListFormat, ListType};
use crate::registry::{ClientConfig, Credentials, DockerConfig, Keychain, RegistryClient};
use crate::spec;

/// The version `--version` prints: the crate's, and the commit it was built from.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("MANIFOLD_COMMIT"),
    ")"
);

/// Assembles multi-architecture container images: manifest lists and OCI indexes.
///
/// Exit status, as manifest-tool's: 0 on success (and for help), 1 when the command failed or its
/// arguments are wrong, 3 for an unknown command.
#[derive(Debug, Parser)]
#[command(name = "manifold", version = VERSION, about)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Flags every command takes (manifest-tool's global flags, and a few more).
#[derive(Debug, Args)]
struct GlobalArgs {
    /// Print debug output (every registry request) on stderr.
    #[arg(long, global = true)]
    debug: bool,
    /// Print only results and errors: no progress on stderr.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Skip TLS certificate verification.
    #[arg(long, global = true)]
    insecure: bool,
    /// Talk to registries over plain HTTP.
    #[arg(long = "plain-http", global = true)]
    plain_http: bool,
    /// Registry user name (for every registry the command talks to).
    #[arg(long, global = true, env = "MANIFOLD_USERNAME")]
    username: Option<String>,
    /// Registry password or access token.
    #[arg(long, global = true, env = "MANIFOLD_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// A directory holding a docker config.json, or such a file.
    #[arg(long = "docker-cfg", global = true, value_name = "PATH")]
    docker_cfg: Option<PathBuf>,
    /// A PEM file of CA certificates to trust in addition to the system's (repeatable).
    #[arg(long = "ca-cert", global = true, value_name = "FILE")]
    ca_cert: Vec<PathBuf>,
    /// Resolve a registry host name to this address instead of asking DNS (HOST:IP, repeatable).
    #[arg(long, global = true, value_name = "HOST:IP")]
    resolve: Vec<String>,
    /// Requests to the registry in flight at once.
    #[arg(long, global = true, default_value_t = crate::engine::DEFAULT_CONCURRENCY, value_name = "N")]
    concurrency: usize,
    #[command(flatten)]
    timeouts: crate::config::TransferArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Push a manifest list or OCI index built from a spec or from arguments.
    Push(PushArgs),
    /// Push a manifest list from a YAML spec (manifest-tool v1's command; same as `push from-spec`).
    Pushml(FromSpecArgs),
    /// Show what a reference holds: list entries, platforms, layers.
    Inspect(InspectArgs),
    /// Check a list the way consumers resolve it: every platform it names must pick its own entry.
    Verify(VerifyArgs),
    /// Push a list without some of its entries (by platform or digest).
    Remove(RemoveArgs),
    /// Copy a list (or an image) with every child and blob to another repository or registry,
    /// byte for byte: the digest stays the same.
    Copy(CopyArgs),
    /// Submit a list to a manifold service (--server) and follow its push: each status on
    /// stderr, then manifest-tool's Digest line; exit 0 when it succeeded.
    Submit(Box<submit::SubmitArgs>),
    /// Probe what a registry does: auth, scheme and HTTP version, rate-limit headers, the
    /// referrers API, and with --write cross-repository mounts and the list formats it accepts.
    Doctor(doctor::DoctorArgs),
    /// Run the service: the REST API, the pages and the push workers.
    Serve(Box<crate::config::Settings>),
    /// Apply the database migrations and exit (serve applies them too).
    Migrate(MigrateArgs),
    /// Print the OpenAPI document of the REST API.
    Openapi,
    /// Print a completion script for a shell: `manifold completions bash > /etc/bash_completion.d/manifold`.
    Completions(CompletionsArgs),
    /// Print the manual page (roff): `manifold man > manifold.1`; `manifold man push` prints
    /// manifold-push(1), the page of one command.
    Man(ManArgs),
}

#[derive(Debug, Args)]
struct ManArgs {
    /// The command whose page to print (`push`, `push from-spec`, …); none for manifold(1).
    command: Vec<String>,
}

#[derive(Debug, Args)]
struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

impl Command {
    /// Whether the command was asked for one JSON document (its error is then one too).
    fn wants_json(&self) -> bool {
        match self {
            Self::Push(a) => a.json,
            Self::Inspect(a) => a.json,
            Self::Verify(a) => a.json,
            Self::Remove(a) => a.json,
            Self::Copy(a) => a.json,
            Self::Doctor(a) => a.json,
            Self::Submit(a) => a.json(),
            _ => false,
        }
    }
}

#[derive(Debug, Args)]
struct MigrateArgs {
    /// Database URL: postgres://user@host:port/db, or sqlite://path [default: sqlite://manifold.db].
    #[arg(
        long = "database-url",
        env = "DATABASE_URL",
        hide_env_values = true,
        default_value = crate::config::DEFAULT_DATABASE
    )]
    database_url: String,
}

#[derive(Debug, Args)]
struct PushArgs {
    /// The list type: docker (manifest list), oci (image index), or auto (OCI when a child is OCI
    /// or annotations are given). A spec's own keys (`type:`, `append:`, …) win over these flags.
    /// [default: the spec's `type`, else auto]
    #[arg(long = "type", global = true, value_enum)]
    list_type: Option<ListType>,
    /// How the list is written: manifold (compact JSON) or manifest-tool (byte for byte as
    /// manifest-tool v2 pushes it, so with its digest; a Docker list unless --type oci or
    /// annotations). [default: the spec's `format`, else manifold]
    #[arg(long, global = true, value_enum)]
    format: Option<ListFormat>,
    /// Resolve the sources and print the list and its digest, writing nothing.
    #[arg(long = "dry-run", global = true)]
    dry_run: bool,
    /// Print the result as one JSON document.
    #[arg(long, global = true)]
    json: bool,
    /// Take the platforms the spec gives without checking them against the images' configs.
    #[arg(long = "trust-platforms", global = true)]
    trust_platforms: bool,
    /// Merge the entries into the list the target holds (an entry of a platform it has replaces
    /// that one; the rest stay) instead of replacing the list.
    #[arg(long, global = true)]
    append: bool,
    /// Bring every child's signatures, attestations and SBOMs (cosign tags and OCI referrers)
    /// into the target repository with it.
    #[arg(long, global = true)]
    referrers: bool,
    /// Give the index the org.opencontainers.image.* annotations (description, source, licenses,
    /// version, revision, url, title, vendor) every image child agrees on, from their manifests'
    /// annotations or their configs' labels; the spec's own annotations win.
    #[arg(long = "inherit-annotations", global = true)]
    inherit_annotations: bool,
    #[command(subcommand)]
    how: PushCommand,
}

impl PushArgs {
    /// The options these flags ask for (a flag not given asks nothing; the spec's keys win).
    fn asked(&self, ignore_missing: bool) -> AskedOptions {
        AskedOptions {
            list_type: self.list_type,
            format: self.format,
            ignore_missing: ignore_missing.then_some(true),
            append: self.append.then_some(true),
            trust_platforms: self.trust_platforms.then_some(true),
            referrers: self.referrers.then_some(true),
            inherit_annotations: self.inherit_annotations.then_some(true),
            follow: None,
            repair: None,
            callback_url: None,
            stage: None,
        }
    }
}

#[derive(Debug, Subcommand)]
enum PushCommand {
    /// Push from a YAML (or JSON) spec file, manifest-tool's format.
    FromSpec(FromSpecArgs),
    /// Push from a platform list and a source image template.
    FromArgs(FromArgsArgs),
}

#[derive(Debug, Args)]
struct FromSpecArgs {
    /// Only warn about sources that do not exist, and leave them out.
    #[arg(long = "ignore-missing")]
    ignore_missing: bool,
    /// The spec file (`-` for standard input).
    file: PathBuf,
}

#[derive(Debug, Args)]
struct FromArgsArgs {
    /// Platforms, comma-separated: os/arch[/variant].
    #[arg(long, required = true)]
    platforms: Vec<String>,
    /// Source image pattern; OS, ARCH and VARIANT are replaced by each platform's values.
    #[arg(long, required = true)]
    template: String,
    /// The list to push; given again, one more target the same list is published to (in two
    /// phases: every child present everywhere first, then every tag).
    #[arg(long, required = true)]
    target: Vec<String>,
    /// Extra tags, comma-separated.
    #[arg(long, value_delimiter = ',')]
    tags: Vec<String>,
    /// Index annotations, key=value, comma-separated as manifest-tool takes them (OCI index
    /// only).
    #[arg(long, value_delimiter = ',')]
    annotations: Vec<String>,
    /// Only warn about sources that do not exist, and leave them out.
    #[arg(long = "ignore-missing")]
    ignore_missing: bool,
}

#[derive(Debug, Args)]
struct CopyArgs {
    /// Extra tags at the destination, comma-separated.
    #[arg(long, value_delimiter = ',')]
    tags: Vec<String>,
    /// Print the result as one JSON document.
    #[arg(long)]
    json: bool,
    /// Leave the signatures, attestations and SBOMs of the source and its children behind
    /// (copied by default).
    #[arg(long = "no-referrers")]
    no_referrers: bool,
    /// What to copy: registry/repository:tag or @digest.
    source: String,
    /// Where to: registry/repository:tag; several, each in a repository of its own, get the
    /// copy in two phases (every child present everywhere first, then every tag).
    #[arg(required = true, value_name = "DESTINATION")]
    destinations: Vec<String>,
}

#[derive(Debug, Args)]
struct RemoveArgs {
    /// Remove the entry of this platform (os/arch[/variant]; repeatable).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Vec<String>,
    /// Remove the entry of this digest (repeatable).
    #[arg(long, value_name = "DIGEST")]
    digest: Vec<String>,
    /// Print the result as one JSON document.
    #[arg(long)]
    json: bool,
    /// The list: registry/repository:tag.
    reference: String,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// Print the result as one JSON document.
    #[arg(long)]
    json: bool,
    /// Also ask the registry for each image's config and layers (one request each).
    #[arg(long)]
    deep: bool,
    /// The list: registry/repository:tag or @digest.
    reference: String,
}

#[derive(Debug, Args)]
struct InspectArgs {
    /// Show the child a consumer on this platform pulls (os/arch[/variant]) instead of the list.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    /// Print manifest-tool's raw JSON: a list's name, digest and every child's image manifest,
    /// or an image's manifest with its name, digest, os and architecture.
    #[arg(long, conflicts_with_all = ["json", "raw_bytes"])]
    raw: bool,
    /// Print the exact bytes the registry stored (one request).
    #[arg(long = "raw-bytes", conflicts_with_all = ["json", "expand_config"])]
    raw_bytes: bool,
    /// Also read and show each image's config (with --raw: manifest-tool's expanded form).
    #[arg(long = "expand-config")]
    expand_config: bool,
    /// Print one JSON document: the list, every entry's descriptor and layers.
    #[arg(long)]
    json: bool,
    /// Do not look for what refers to the reference and its children (signatures,
    /// attestations, SBOMs).
    #[arg(long = "no-referrers")]
    no_referrers: bool,
    /// The reference: registry/repository:tag or @digest.
    reference: String,
}

/// Runs the command line; returns the process exit code.
pub async fn run(cli: Cli) -> i32 {
    let verbosity = logging::Verbosity {
        debug: cli.global.debug,
        quiet: cli.global.quiet,
    };
    logging::init(verbosity, matches!(cli.command, Command::Serve(_)));
    let json = cli.command.wants_json();
    match dispatch(cli).await {
        Ok(()) => 0,
        Err(e) if output::reader_gone(&e) => output::READER_GONE,
        Err(e) => match e.downcast::<clap::Error>() {
            Ok(usage) => parse::report(&usage),
            Err(e) => {
                output::error(&e, json);
                1
            }
        },
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(mut args) => {
            args.timeouts = cli.global.timeouts.clone();
            let settings = crate::config::Settings::load(*args)?;
            let app = crate::startup::Application::build(settings).await?;
            return app.run_until_stopped().await;
        }
        Command::Migrate(args) => {
            crate::store::Store::open(&args.database_url, 1)
                .await
                .map_err(|e| anyhow::anyhow!("cannot migrate the database: {e}"))?;
            eprintln!("the database is up to date");
            return Ok(());
        }
        Command::Openapi => return output::stdout(crate::api::openapi_json().as_bytes()),
        Command::Completions(args) => {
            let mut script = Vec::new();
            clap_complete::generate(args.shell, &mut command(), "manifold", &mut script);
            return output::stdout(&script);
        }
        Command::Man(args) => return output::stdout(&manual(&args.command)?),
        _ => {}
    }
    let client = RegistryClient::new(client_config(&cli.global)?)?;
    let concurrency = cli.global.concurrency;
    match cli.command {
        Command::Submit(args) => submit::run(&args).await,
        Command::Push(args) => commands::push(&client, &args, concurrency).await,
        Command::Pushml(f) => commands::pushml(&client, &f, concurrency).await,
        Command::Inspect(args) => commands::inspect(&client, &args).await,
        Command::Copy(args) => commands::copy(&client, &args, concurrency).await,
        Command::Remove(args) => commands::remove(&client, &args, concurrency).await,
        Command::Verify(args) => commands::verify(&client, &args).await,
        Command::Doctor(args) => doctor::run(&client, &args).await,
        Command::Serve(_)
        | Command::Migrate(_)
        | Command::Openapi
        | Command::Completions(_)
        | Command::Man(_) => unreachable!("handled above"),
    }
}

/// The manual page (roff) of manifold, or of the command `path` names (`["push", "from-spec"]`):
/// the pages manifold(1) refers to as manifold-push(1), manifold-push-from-spec(1), ….
fn manual(path: &[String]) -> anyhow::Result<Vec<u8>> {
    let root = parse::manual_command();
    let mut page = &root;
    for name in path {
        page = page.find_subcommand(name).ok_or_else(|| {
            let names: Vec<_> = page.get_subcommands().map(|c| c.get_name()).collect();
            let mut man = root.find_subcommand("man").cloned().unwrap_or_default();
            man.error(
                clap::error::ErrorKind::InvalidSubcommand,
                format!(
                    "{} has no command {name}; its commands: {}",
                    page.get_display_name().unwrap_or(page.get_name()),
                    names.join(", ")
                ),
            )
        })?;
    }
    let mut roff = Vec::new();
    clap_mangen::Man::new(page.clone()).render(&mut roff)?;
    Ok(roff)
}

fn client_config(global: &GlobalArgs) -> anyhow::Result<ClientConfig> {
    let mut keychain = Keychain::default();
    match (&global.username, &global.password) {
        (Some(u), Some(p)) => keychain.default = Some(Credentials::basic(u, p)),
        (Some(_), None) => anyhow::bail!("--username needs --password (or MANIFOLD_PASSWORD)"),
        (None, Some(_)) => anyhow::bail!("--password needs --username"),
        (None, None) => {}
    }
    keychain.docker = match &global.docker_cfg {
        Some(path) if !path.exists() => {
            anyhow::bail!("--docker-cfg: {} does not exist", path.display())
        }
        Some(path) => DockerConfig::load(path).map_err(anyhow::Error::msg)?,
        None => match DockerConfig::default_path() {
            Some(path) => DockerConfig::load(&path).unwrap_or_else(|e| {
                tracing::warn!("ignoring the docker config: {e}");
                None
            }),
            None => None,
        },
    };
    let resolve = global
        .resolve
        .iter()
        .map(|entry| {
            crate::config::parse_resolve(entry).map_err(|e| anyhow::anyhow!("--resolve: {e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(ClientConfig {
        plain_http: global.plain_http,
        insecure_tls: global.insecure,
        ca_certs: global.ca_cert.clone(),
        keychain,
        resolve,
        max_in_flight: global.concurrency.max(1) * 4,
        timeouts: global.timeouts.timeouts()?,
        upload_chunk: global.timeouts.upload_chunk()?,
        ..ClientConfig::default()
    })
}

fn read_spec(path: &PathBuf) -> anyhow::Result<spec::Submission> {
    let cannot = |e: std::io::Error| anyhow::anyhow!("cannot read spec {}: {e}", path.display());
    let text = if path.as_os_str() == "-" {
        read_bounded(std::io::stdin())
    } else {
        read_bounded(std::fs::File::open(path).map_err(cannot)?)
    };
    let text = text
        .map_err(cannot)?
        .ok_or_else(|| anyhow::anyhow!("{}: {}", path.display(), spec::parse::too_long()))?;
    spec::parse::submission_from_text(&text)
        .map_err(|e| anyhow::Error::new(e).context(path.display().to_string()))
}

/// The text of `input`, read no further than one byte over the spec limit; `None` when it is
/// longer.
fn read_bounded(input: impl std::io::Read) -> std::io::Result<Option<String>> {
    let mut text = String::new();
    let limit = spec::MAX_SPEC_BYTES as u64 + 1;
    std::io::Read::read_to_string(&mut std::io::Read::take(input, limit), &mut text)?;
    Ok((text.len() <= spec::MAX_SPEC_BYTES).then_some(text))
}

fn from_args(a: &FromArgsArgs) -> anyhow::Result<spec::Submission> {
    let mut spec = spec::args::FromArgs {
        platforms: a.platforms.join(","),
        template: a.template.clone(),
        target: a.target[0].clone(),
        more_targets: a.target[1..].to_vec(),
        tags: a.tags.clone(),
    }
    .to_spec()?;
    for pair in &a.annotations {
        let (k, v) = pair
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| anyhow::anyhow!("--annotations: \"{pair}\" is not key=value"))?;
        spec.annotations.insert(k.to_owned(), v.to_owned());
    }
    Ok(spec::Submission {
        several_targets: (!spec.more_targets.is_empty()).then_some("--target"),
        spec,
        options: AskedOptions::default(),
    })
}
