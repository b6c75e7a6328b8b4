//! `manifold submit`: the command line as a client of the service, for CI jobs that release
//! through it. The spec (a file, or from arguments, as `push` takes them) and the push flags are
//! merged as `push` merges them, posted to `--server` (`MANIFOLD_SERVER`) with `--token`
//! (`MANIFOLD_TOKEN`) or, in CI, the job's OIDC ID token (`id_token.rs`), and the list is
//! followed until it finishes: each status on stderr, then
//! manifest-tool's `Digest:` line on stdout and exit 0 — or the service's error code and message
//! and exit 1. `--no-wait` prints the list's id once the service has stored it. With `--expect`,
//! the submission brings its platforms to a staged release and waits while it is `staged` (saying
//! which platforms the release still awaits) until the release's list lands, or fails.

use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use serde_json::Value;

use super::id_token::{self, Choice, Source};
use super::{PushArgs, PushCommand, from_args, output, read_spec};
use crate::model::{ListOptions, OnDeadline, Staging};

/// How often the list is asked for while it runs.
const POLL: Duration = Duration::from_millis(500);

/// `submit`'s arguments: where to, and the push's own.
#[derive(Debug, Args)]
pub(super) struct SubmitArgs {
    /// The service's address (`https://manifold.example`).
    #[arg(long, env = "MANIFOLD_SERVER")]
    server: String,
    /// An API token of the service. Without one, in GitHub Actions an OIDC ID token is fetched
    /// (the job needs `permissions: id-token: write`), and in GitLab CI the one `--id-token-env`
    /// names is sent.
    #[arg(long, env = "MANIFOLD_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The audience of the ID token asked for in GitHub Actions: the one the service expects.
    #[arg(long, env = "MANIFOLD_AUDIENCE", default_value = crate::oidc::DEFAULT_AUDIENCE)]
    audience: String,
    /// The environment variable holding the job's ID token in GitLab CI (declared under
    /// `id_tokens:`) [default: MANIFOLD_ID_TOKEN].
    #[arg(
        long = "id-token-env",
        env = "MANIFOLD_ID_TOKEN_ENV",
        value_name = "NAME"
    )]
    id_token_env: Option<String>,
    /// Print the list's id once the service has stored it, and do not wait for the push.
    #[arg(long = "no-wait")]
    no_wait: bool,
    /// The longest wait for the push to finish, in seconds.
    #[arg(long = "wait-timeout", default_value_t = 3600, value_name = "SECONDS")]
    wait_timeout: u64,
    #[command(flatten)]
    release: ReleaseArgs,
    #[command(flatten)]
    push: PushArgs,
}

/// A staged release this submission brings its platforms to.
#[derive(Debug, Args)]
struct ReleaseArgs {
    /// A platform the release must have before its tag moves (repeat it, or separate with
    /// commas): the submission's children are copied into the target repository now, and the
    /// tag is PUT once, when every expected platform has arrived from the jobs that build them.
    #[arg(long, value_delimiter = ',', value_name = "PLATFORM")]
    expect: Vec<String>,
    /// The release's key (default: the target): the submissions of one release name the same.
    #[arg(long, value_name = "KEY", requires = "expect")]
    release: Option<String>,
    /// Seconds from the release's first submission until it ends, if incomplete (default a day).
    #[arg(long = "deadline-secs", value_name = "SECONDS", requires = "expect")]
    deadline_secs: Option<u64>,
    /// What the deadline does to an incomplete release: fail (the tag stays) or push what arrived.
    #[arg(long = "on-deadline", value_name = "WHAT", requires = "expect", value_parser = on_deadline)]
    on_deadline: Option<OnDeadline>,
}

impl ReleaseArgs {
    /// The staged release these flags ask for, if any; an error names the flag at fault.
    fn staging(&self) -> anyhow::Result<Option<Staging>> {
        if self.expect.is_empty() {
            return Ok(None);
        }
        let staging = Staging::new(
            &self.expect,
            self.release.as_deref(),
            self.deadline_secs,
            self.on_deadline,
        )
        .map_err(|(field, message)| anyhow::anyhow!("--{}: {message}", field.replace('_', "-")))?;
        Ok(Some(staging))
    }
}

fn on_deadline(text: &str) -> Result<OnDeadline, String> {
    match text {
        "fail" => Ok(OnDeadline::Fail),
        "push" => Ok(OnDeadline::Push),
        _ => Err(format!("{text:?} is not fail or push")),
    }
}

impl SubmitArgs {
    /// Whether the result is asked for as JSON.
    pub(super) fn json(&self) -> bool {
        self.push.json
    }
}

/// Submits the list and follows it.
pub(super) async fn run(args: &SubmitArgs) -> anyhow::Result<()> {
    if args.push.dry_run {
        anyhow::bail!(
            "--dry-run: a submission is stored and pushed; `manifold push --dry-run` plans one without writing"
        );
    }
    let (submission, ignore_missing) = match &args.push.how {
        PushCommand::FromSpec(f) => (read_spec(&f.file)?, f.ignore_missing),
        PushCommand::FromArgs(a) => (from_args(a)?, a.ignore_missing),
    };
    let mut asked = args.push.asked(ignore_missing);
    asked.stage = args.release.staging()?;
    let options = submission.options.over(&asked);
    let body = body(&submission.spec, &options)?;
    let mut service = Service::new(args).await?;
    let list = service.submit(&body).await?;
    let id = text(&list, "id")?;
    if args.no_wait {
        return output::stdout(format!("{id}\n").as_bytes());
    }
    let done = service
        .follow(&id, Duration::from_secs(args.wait_timeout))
        .await?;
    finish(&done, args.push.json)
}

/// The spec as the service takes it, with the merged options as its own keys.
fn body(spec: &crate::spec::ListSpec, options: &ListOptions) -> anyhow::Result<Value> {
    let mut body = serde_json::to_value(spec)?;
    let Value::Object(fields) = &mut body else {
        anyhow::bail!("the spec did not serialise as an object");
    };
    let Value::Object(mut asked) = serde_json::to_value(options)? else {
        anyhow::bail!("the options did not serialise as an object");
    };
    asked.remove("stage");
    if let Some(stage) = &options.stage {
        asked.insert("expect".into(), serde_json::json!(stage.expected()));
        asked.insert("release".into(), serde_json::json!(stage.release));
        asked.insert("deadline_secs".into(), stage.deadline_secs.into());
        asked.insert(
            "on_deadline".into(),
            serde_json::to_value(stage.on_deadline)?,
        );
    }
    for (key, value) in asked {
        if value != Value::Bool(false) && !value.is_null() {
            fields.insert(key, value);
        }
    }
    Ok(body)
}

/// Prints the finished list: the `Digest:` line (or the list as JSON), or its error.
fn finish(list: &Value, json: bool) -> anyhow::Result<()> {
    let status = text(list, "status")?;
    if json {
        let mut doc = serde_json::to_string_pretty(list)?;
        doc.push('\n');
        output::stdout(doc.as_bytes())?;
    }
    if status != "succeeded" {
        let code = list["error"]["code"].as_str().unwrap_or("FAILED");
        let message = list["error"]["message"]
            .as_str()
            .map_or_else(|| format!("the list ended {status}"), str::to_owned);
        let failure = anyhow::anyhow!("{code}: {message}");
        return Err(if json {
            failure.context(output::Reported(status))
        } else {
            failure
        });
    }
    if !json {
        let digest = text(list, "digest")?;
        let size = list["size"].as_u64().unwrap_or(0);
        output::stdout(format!("Digest: {digest} {size}\n").as_bytes())?;
    }
    Ok(())
}

fn text(value: &Value, key: &str) -> anyhow::Result<String> {
    value[key]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("the service answered without `{key}`: {value}"))
}

/// The service, as this command talks to it.
struct Service {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    source: Source,
}

impl Service {
    async fn new(args: &SubmitArgs) -> anyhow::Result<Self> {
        let base = args.server.trim_end_matches('/').to_owned();
        url::Url::parse(&base).with_context(|| format!("--server: {base:?} is not a URL"))?;
        let choice = Choice {
            token: args.token.as_deref(),
            audience: &args.audience,
            id_token_env: args.id_token_env.as_deref(),
        };
        let (token, source) = id_token::choose(&choice, |name| std::env::var(name).ok()).await?;
        Ok(Self {
            http: crate::registry::http_builder()
                .user_agent(concat!("manifold/", env!("CARGO_PKG_VERSION")))
                .timeout(Duration::from_secs(60))
                .build()?,
            base,
            token,
            source,
        })
    }

    /// A GitHub ID token lives minutes: a new one when the service refuses the one held.
    async fn renew(&mut self) -> anyhow::Result<bool> {
        let Source::GitHub { audience } = &self.source else {
            return Ok(false);
        };
        let var = |name| std::env::var(name).unwrap_or_default();
        let url = var(id_token::REQUEST_URL);
        let bearer = var(id_token::REQUEST_TOKEN);
        self.token = Some(id_token::github(&url, &bearer, audience).await?);
        Ok(true)
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// `POST /lists`: the stored list.
    async fn submit(&self, body: &Value) -> anyhow::Result<Value> {
        let answer = self
            .request(reqwest::Method::POST, "/lists")
            .json(body)
            .send()
            .await
            .with_context(|| format!("{} does not answer", self.base))?;
        read(answer).await
    }

    /// Asks for the list until it finishes, saying each status it passes through.
    async fn follow(&mut self, id: &str, patience: Duration) -> anyhow::Result<Value> {
        let started = std::time::Instant::now();
        let mut said = String::new();
        let mut renewed = false;
        loop {
            let answer = self
                .request(reqwest::Method::GET, &format!("/lists/{id}"))
                .send()
                .await;
            let refused = answer
                .as_ref()
                .is_ok_and(|a| a.status() == reqwest::StatusCode::UNAUTHORIZED);
            if refused && !renewed && self.renew().await? {
                renewed = true;
                continue;
            }
            renewed = false;
            // A service restarting, or a moment of network trouble, is waited out.
            if let Ok(answer) = answer {
                let list = read(answer).await?;
                let mut status = text(&list, "status")?;
                if status == "staged" {
                    status = self.staged(&list).await.unwrap_or(status);
                }
                if status != said {
                    eprintln!("{id}: {status}");
                    said = status.clone();
                }
                if !matches!(
                    text(&list, "status")?.as_str(),
                    "queued" | "running" | "staged"
                ) {
                    return Ok(list);
                }
            }
            if started.elapsed() > patience {
                anyhow::bail!(
                    "list {id} did not finish within {} s (--wait-timeout); it goes on in the service",
                    patience.as_secs()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Service {
    /// What a staged list waits for: its release's platforms arrived and awaited.
    async fn staged(&self, list: &Value) -> anyhow::Result<String> {
        let release = text(list, "release_id")?;
        let answer = self
            .request(reqwest::Method::GET, &format!("/releases/{release}"))
            .send()
            .await?;
        let release = read(answer).await?;
        let names = |key: &str| -> Vec<String> {
            release[key]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let (key, expected) = (text(&release, "key")?, names("expect").len());
        let awaited = names("awaited");
        Ok(if awaited.is_empty() {
            format!("staged for release {key} (all {expected} platforms; its list is being pushed)")
        } else {
            let arrived = expected - awaited.len();
            let awaited = awaited.join(", ");
            format!(
                "staged for release {key} ({arrived} of {expected} platforms; awaiting {awaited})"
            )
        })
    }
}

/// An answer's JSON; an error answer as the service's code and message.
async fn read(answer: reqwest::Response) -> anyhow::Result<Value> {
    let status = answer.status();
    let body: Value = answer.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(body);
    }
    let error = &body["error"];
    let code = error["code"].as_str().unwrap_or("HTTP_ERROR");
    let message = error["message"].as_str().unwrap_or("");
    anyhow::bail!("the service answered {status}: {code}: {message}")
}
