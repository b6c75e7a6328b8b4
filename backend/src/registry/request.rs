//! The one request loop every registry request goes through, in three parts: one attempt (build
//! the request, authorize it, send it), the classification of its answer (success, auth challenge
//! to learn from, scheme upgrade, retryable or final error), and the retries, which are
//! [`RetryPolicy::run`]'s.
//!
//! Owns when requests are sent again; it has no backoff of its own (delays and the number of
//! attempts are the policy's) and knows nothing of which registry operations exist (that is `ops`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, HeaderMap};
use reqwest::{Method, Response, StatusCode};
use tokio::sync::{MutexGuard, Semaphore};
use tracing::Instrument as _;

use super::auth::{Challenge, Scope, challenges, insufficient_scope};
use super::budget::{MAX_THROTTLED, Ticket};
use super::config::ClientConfig;
use super::error::{ApiErrorDetail, RegistryError, warn_retrying};
use super::host::{AuthMode, Host};
use super::protocol;
use super::span;
use super::throttle::{self, Throttle, ThrottleKind};
use super::timing::{Progress, Timeouts, reporting, silent_error};
use super::transport::{self, Body, Wire};
use crate::retry::{RetryPolicy, Verdict};

/// A request as the loop sends it.
pub(crate) struct Request {
    /// The HTTP method.
    pub method: Method,
    /// `/v2/...` or an upload `Location` (absolute or relative).
    pub target: String,
    /// Headers besides `Authorization`, which the loop adds.
    pub headers: HeaderMap,
    /// The body: replayable bytes, or a stream sent once.
    pub body: Body,
    /// The access the request needs, for bearer tokens.
    pub scopes: Vec<Scope>,
    /// Says what is being done, in errors (`GET manifest reg/repo:tag`).
    pub operation: String,
    /// A streamed transfer: no whole-request timeout.
    pub streaming: bool,
    /// For an upload: when its body last moved (the request fails when it stays still for the
    /// idle timeout).
    pub progress: Option<Progress>,
    /// The registry commits what the request sent (a blob upload's request, a manifest PUT):
    /// once sent, its answer may take the commit budget, not the answer budget.
    pub commits: bool,
}

impl Request {
    /// A request without headers or body, not streamed.
    pub(crate) fn new(
        method: Method,
        target: String,
        scopes: Vec<Scope>,
        operation: String,
    ) -> Self {
        Self {
            method,
            target,
            headers: HeaderMap::new(),
            body: Body::Empty,
            scopes,
            operation,
            streaming: false,
            progress: None,
            commits: false,
        }
    }

    /// The same request, which commits what it sends (see [`Request::commits`]).
    pub(crate) fn committing(mut self) -> Self {
        self.commits = true;
        self
    }
}

/// Sends requests for one registry client: its wire (and so its request count), its bound on
/// requests in flight, its timeout and its retry policy.
pub(crate) struct Requester {
    wire: Wire,
    limit: Semaphore,
    timeouts: Timeouts,
    retry: RetryPolicy,
}

impl Requester {
    /// A requester on (shared) reqwest clients — the HTTP/1.1-only one for hosts that broke
    /// HTTP/2 — with nothing sent yet.
    pub(crate) fn new(
        http: reqwest::Client,
        http1: reqwest::Client,
        config: &ClientConfig,
    ) -> Self {
        Self {
            wire: Wire::new(http, config.timeouts).with_http1(http1),
            limit: Semaphore::new(config.max_in_flight.max(1)),
            timeouts: config.timeouts,
            retry: config.retry.clone(),
        }
    }

    /// HTTP requests sent so far (token requests and retries included).
    pub(crate) fn sent(&self) -> u64 {
        self.wire.sent()
    }

    /// Sends a request to a registry, handling auth challenges, scheme upgrade and retries.
    /// Returns the response when its status is a success; any other status becomes an error. A
    /// streamed body is sent once: never again after a challenge, an upgrade or a failure.
    pub(crate) async fn send(&self, host: &Host, req: Request) -> Result<Response, RegistryError> {
        let replayable = req.body.is_replayable();
        let span = span::request_span(&req.method, &host.registry, &req.target);
        let started = Instant::now();
        // A request the registry keeps refusing for its rate stops waiting after this.
        let deadline = tokio::time::Instant::now() + MAX_THROTTLED;
        // Once per request, across attempts: one more send after an auth challenge taught us more.
        let auth_retried = AtomicBool::new(false);
        let (req, auth_retried) = (&req, &auth_retried);
        let result = self
            .retry
            .run(
                move |attempt| self.attempt(host, req, auth_retried, attempt, deadline),
                move |failed| failed.verdict(replayable, &self.retry, deadline),
            )
            .instrument(span.clone())
            .await
            .map_err(|(failed, attempts)| failed.into_error(attempts));
        let status = match &result {
            Ok(response) => Some(response.status().as_u16()),
            Err(RegistryError::Api { status, .. }) => Some(*status),
            Err(_) => None,
        };
        span::ended(&span, status, started);
        result
    }

    /// One attempt: sends the request, and sends it again at once when a challenge taught the host
    /// how to authenticate or a loopback registry turned out to speak HTTPS.
    async fn attempt<'h>(
        &self,
        host: &'h Host,
        req: &Request,
        auth_retried: &AtomicBool,
        attempt: u32,
        deadline: tokio::time::Instant,
    ) -> Result<Response, Failed<'h>> {
        let replayable = req.body.is_replayable();
        loop {
            let probe = host.probe().await;
            let mode = host.auth_mode();
            let failure = match self.exchange(host, req, &mode, deadline).await {
                Answer::Success(response) => return Ok(response),
                Answer::Challenge(challenges, response) => {
                    if replayable
                        && !auth_retried.load(Ordering::Relaxed)
                        && host.learn(&mode, &challenges, &req.scopes)
                    {
                        auth_retried.store(true, Ordering::Relaxed);
                        continue;
                    }
                    let anonymous = host.credentials.is_none().then_some(host.registry.as_str());
                    Failure::Final(refusal(&req.operation, response, &challenges, anonymous).await)
                }
                Answer::HttpsServer => {
                    if replayable && host.upgrade_to_https() {
                        continue;
                    }
                    Failure::Final(transport::https_server_error(&req.operation, host.peer()))
                }
                // The host broke HTTP/2 and is spoken to over HTTP/1.1 now: sent again there at
                // once (a streamed body cannot be; its caller starts it again).
                Answer::Http1(_) if replayable => continue,
                Answer::Http1(e) => Failure::Retryable(e),
                Answer::Failed(failure) => failure,
            };
            return Err(Failed {
                failure,
                attempt,
                _probe: probe,
            });
        }
    }

    /// Sends the request once under `mode`, when the host's rate budget admits it (by
    /// `deadline`), and reads what its answer means; tells the budget how it was answered.
    async fn exchange(
        &self,
        host: &Host,
        req: &Request,
        mode: &AuthMode,
        deadline: tokio::time::Instant,
    ) -> Answer {
        let ticket = match host.budget.admit(deadline).await {
            Ok(ticket) => ticket,
            Err(wait) => {
                let err = throttle::waits_too_long(&req.operation, &host.registry, wait);
                return Answer::Failed(Failure::Final(err));
            }
        };
        let (response, same_host, https) = match self.send_once(host, req, mode).await {
            Ok(sent) => sent,
            Err(Failure::Retryable(e)) if protocol::fell_back(&e) => return Answer::Http1(e),
            // A loopback registry asked over plain HTTP that answers with a TLS alert speaks TLS.
            Err(Failure::Retryable(e) | Failure::Final(e))
                if !host.is_https() && transport::answered_not_http(&e) =>
            {
                tracing::debug!(
                    "{} answered plain HTTP with something else: {e}",
                    host.registry
                );
                return Answer::HttpsServer;
            }
            Err(failure) => return Answer::Failed(failure),
        };
        if let Some(wait) = throttle::reset_when_spent(response.headers()) {
            host.budget.pause(wait);
        }
        // The scheme this request went out on: another may have upgraded the host since.
        let class = classify(response.status(), same_host, https);
        if class != Class::Challenge {
            host.answered(mode);
        }
        let headers = (class == Class::Error).then(|| response.headers().clone());
        let answer = read_answer(&req.operation, class, response).await;
        settle(ticket, answer, headers.as_ref())
    }

    /// Builds the request (its URL on the host's current scheme, `Authorization` only for the host
    /// itself) and sends it once; returns the answer, whether it came from the host itself, and
    /// whether it went out over HTTPS.
    async fn send_once(
        &self,
        host: &Host,
        req: &Request,
        mode: &AuthMode,
    ) -> Result<(Response, bool, bool), Failure> {
        let Some(wait) = host.silence.wait(self.timeouts.answer) else {
            let budget = self.timeouts.answer;
            return Err(Failure::Final(silent_error(
                &req.operation,
                &host.registry,
                budget,
            )));
        };
        let base = host.base_url();
        let url = transport::resolve_url(&base, &req.target);
        let same_host = transport::same_authority(&url, &base);
        let http1 = host.speaks_http1();
        let builder = if req.streaming || req.commits {
            self.wire.stream_request(http1, req.method.clone(), &url)
        } else {
            self.wire.request(http1, req.method.clone(), &url)
        };
        let mut builder = builder.headers(req.headers.clone());
        if same_host {
            let authorization = host
                .authorization(&self.wire, &self.retry, mode, &req.scopes)
                .await;
            if let Some(value) = authorization.map_err(Failure::Final)? {
                builder = builder.header(AUTHORIZATION, value);
            }
        }
        let builder = req.body.attach(builder);
        let _permit = self.limit.acquire().await.expect("semaphore open");
        let sent = Instant::now();
        // An upload may take as long as its body keeps moving; once a body is sent, a request
        // that commits it waits for its answer as long as the commit budget allows; anything
        // else as long as the registry's silence budget allows.
        let (progress, wait) = match &req.progress {
            Some(progress) => (progress.clone(), self.timeouts.idle),
            None if req.commits => {
                let sent_now = Progress::default();
                sent_now.sent_all();
                (sent_now, self.timeouts.commit)
            }
            None => (Progress::default(), wait),
        };
        let answer = if req.commits {
            self.timeouts.commit
        } else {
            wait
        };
        let work = reporting(&req.operation, self.wire.send(builder));
        let Some(result) = progress.watch(wait, answer, work).await else {
            return Err(self.unanswered(host, req, sent, &progress, wait));
        };
        let response = result.map_err(|e| {
            if e.is_timeout() {
                host.silence.unanswered(sent);
            }
            if !http1 && protocol::is_http2_failure(&e) {
                // The why without the request's URL (an upload's carries its session state).
                let why = transport::error_chain(&e);
                let why = e
                    .url()
                    .map_or(why.clone(), |u| why.replace(&format!(" for url ({u})"), ""));
                host.fall_back_to_http1(&why);
                return Failure::Retryable(protocol::fell_back_error(
                    &req.operation,
                    &host.registry,
                    &e,
                ));
            }
            Failure::of(transport::transport_error(&req.operation, host.peer(), &e))
        })?;
        host.silence.answered();
        tracing::debug!(method = %req.method, url = %url, status = response.status().as_u16(), "registry request");
        Ok((response, same_host, url.starts_with("https://")))
    }

    /// The failure of a request that got no answer within `wait`: an upload that stalled, a
    /// commit that took longer than its budget, a registry that is slow to answer (retryable),
    /// or one whose silence budget is spent.
    fn unanswered(
        &self,
        host: &Host,
        req: &Request,
        sent: Instant,
        progress: &Progress,
        wait: Duration,
    ) -> Failure {
        let operation = &req.operation;
        if req.commits && progress.is_sent() {
            return Failure::of(RegistryError::Transport {
                operation: operation.clone(),
                message: format!(
                    "{} did not answer within {} s of being sent everything                      (--commit-timeout, MANIFOLD_COMMIT_TIMEOUT)",
                    host.registry,
                    self.timeouts.commit.as_secs_f64()
                ),
                timeout: true,
                permanent: false,
            });
        }
        if req.progress.is_some() {
            return Failure::of(RegistryError::Transport {
                operation: operation.clone(),
                message: format!(
                    "the transfer stalled: nothing moved for {} s (--idle-timeout)",
                    wait.as_secs_f64()
                ),
                timeout: true,
                permanent: false,
            });
        }
        host.silence.unanswered(sent);
        if host.silence.wait(self.timeouts.answer).is_none() {
            return Failure::Final(silent_error(
                operation,
                &host.registry,
                self.timeouts.answer,
            ));
        }
        Failure::of(RegistryError::Transport {
            operation: operation.clone(),
            message: format!(
                "{} did not answer within {} s",
                host.registry,
                wait.as_secs_f64()
            ),
            timeout: true,
            permanent: false,
        })
    }
}

/// Tells the budget how a request was answered (`headers`: an error answer's); an answer that
/// refused the request for its rate becomes a throttled failure, sent again without counting as
/// an attempt.
fn settle(ticket: Ticket<'_>, answer: Answer, headers: Option<&HeaderMap>) -> Answer {
    let throttle = match (&answer, headers) {
        (
            Answer::Failed(
                Failure::Retryable(RegistryError::Api { status, errors, .. })
                | Failure::Final(RegistryError::Api { status, errors, .. }),
            ),
            Some(headers),
        ) => Throttle::of(*status, headers, errors),
        _ => None,
    };
    let Some(throttle) = throttle else {
        ticket.answered();
        return answer;
    };
    ticket.limited(throttle);
    match (throttle.kind, answer) {
        (
            ThrottleKind::Refused,
            Answer::Failed(Failure::Retryable(mut err) | Failure::Final(mut err)),
        ) => {
            if !err.is_rate_limited()
                && let RegistryError::Api { errors, .. } = &mut err
            {
                // A 403 that said it only in Retry-After (a HEAD has no body).
                errors.insert(0, throttle::rate_limit_entry());
            }
            Answer::Failed(Failure::Throttled(err))
        }
        (_, answer) => answer,
    }
}

/// What an answer is, from its status and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// 2xx or 3xx: the caller's to read.
    Success,
    /// 401 from the registry itself: its challenges may teach us how to authenticate.
    Challenge,
    /// 400 over plain HTTP: perhaps an HTTPS server refusing plain HTTP (its body says).
    PlainHttpRefused,
    /// Any other status: an error.
    Error,
}

/// Classifies an answer by its status, whether it came from the registry itself, and whether the
/// registry was asked over HTTPS.
fn classify(status: StatusCode, same_host: bool, https: bool) -> Class {
    if status == StatusCode::UNAUTHORIZED && same_host {
        Class::Challenge
    } else if status == StatusCode::BAD_REQUEST && !https {
        Class::PlainHttpRefused
    } else if status.is_success() || status.is_redirection() {
        Class::Success
    } else {
        Class::Error
    }
}

/// What the loop does with an answer.
enum Answer {
    /// Hand it to the caller.
    Success(Response),
    /// Learn from its challenges and send again, or fail with it.
    Challenge(Vec<Challenge>, Response),
    /// An HTTPS server was asked over plain HTTP: upgrade and send again, or fail.
    HttpsServer,
    /// The host broke an HTTP/2 stream and is spoken to over HTTP/1.1 now: send again there,
    /// or fail with this (retryable) error.
    Http1(RegistryError),
    /// Fail, for now or for good.
    Failed(Failure),
}

/// Reads as much of an answer as its class needs: the challenges, or the error body.
async fn read_answer(operation: &str, class: Class, response: Response) -> Answer {
    match class {
        Class::Success => Answer::Success(response),
        Class::Challenge => Answer::Challenge(challenges(response.headers()), response),
        Class::PlainHttpRefused => {
            let text = response.text().await.unwrap_or_default();
            if text.contains("HTTP request to an HTTPS server") {
                Answer::HttpsServer
            } else {
                Answer::Failed(Failure::Final(transport::api_error_from_text(
                    operation, 400, &text, None,
                )))
            }
        }
        Class::Error => {
            Answer::Failed(Failure::of(transport::api_error(operation, response).await))
        }
    }
}

/// The error for a 401 that is not sent again: led, when no credentials were given for the
/// registry (`anonymous` names it), by that; else by the scope the token lacks if the registry
/// named one.
async fn refusal(
    operation: &str,
    response: Response,
    challenges: &[Challenge],
    anonymous: Option<&str>,
) -> RegistryError {
    let mut err = transport::api_error(operation, response).await;
    let RegistryError::Api { errors, .. } = &mut err else {
        return err;
    };
    let scope = insufficient_scope(challenges);
    let lead = match (anonymous, scope) {
        (Some(registry), scope) => ApiErrorDetail {
            code: "UNAUTHORIZED".to_owned(),
            message: format!(
                "no credentials were given for {registry}, and it refuses anonymous access{}",
                scope.map_or_else(String::new, |s| format!(" to {s}"))
            ),
            detail: serde_json::Value::Null,
        },
        (None, Some(scope)) => ApiErrorDetail {
            code: "INSUFFICIENT_SCOPE".to_owned(),
            message: format!("the credentials do not grant {scope}"),
            detail: serde_json::Value::Null,
        },
        (None, None) => return err,
    };
    errors.insert(0, lead);
    err
}

/// Why an attempt failed.
#[derive(Debug)]
enum Failure {
    /// It may pass if sent again: 5xx, a transport failure that is not permanent.
    Retryable(RegistryError),
    /// The registry refused it for its rate (429, a 403 rate limit): sent again once the host's
    /// rate budget admits it, without counting as an attempt, until the request has waited
    /// [`MAX_THROTTLED`].
    Throttled(RegistryError),
    /// Sending again cannot help, or is not the loop's to do (a failed token request, which the
    /// token call retried itself): the error is returned as it is.
    Final(RegistryError),
}

impl Failure {
    /// Retryable or final, as the error says.
    fn of(err: RegistryError) -> Self {
        if err.is_retryable() {
            Self::Retryable(err)
        } else {
            Self::Final(err)
        }
    }
}

/// A failed attempt, as [`RetryPolicy::run`] sees it.
struct Failed<'h> {
    failure: Failure,
    /// Which attempt failed (from 1).
    attempt: u32,
    /// The host's auth probe, if this request held it: kept until `run` has waited and drops the
    /// failure, so that no other request probes the registry while this one waits to try again.
    _probe: Option<MutexGuard<'h, ()>>,
}

impl Failed<'_> {
    /// Whether to try again: only what may pass, and only with a body that can be sent again;
    /// after the registry's `Retry-After` if it gave one (the policy caps it). A request refused
    /// for the rate is sent again until `deadline`, when its host's budget admits it.
    fn verdict(
        &self,
        replayable: bool,
        policy: &RetryPolicy,
        deadline: tokio::time::Instant,
    ) -> Verdict {
        match &self.failure {
            Failure::Throttled(_) if replayable && tokio::time::Instant::now() < deadline => {
                Verdict::Again
            }
            Failure::Retryable(err) if replayable => {
                if policy.may_retry(self.attempt) {
                    warn_retrying(err, self.attempt, policy.max_attempts);
                }
                err.verdict()
            }
            _ => Verdict::Stop,
        }
    }

    /// The error to return after `attempts` attempts: a retryable one says how many were made.
    fn into_error(self, attempts: u32) -> RegistryError {
        match self.failure {
            Failure::Retryable(err) => err.after_attempts(attempts),
            Failure::Throttled(err) | Failure::Final(err) => err,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, retry_after: Option<u64>) -> RegistryError {
        RegistryError::Api {
            operation: "PUT manifest r/x:y".into(),
            status,
            errors: vec![],
            retry_after,
        }
    }

    fn failed(failure: Failure) -> Failed<'static> {
        Failed {
            failure,
            attempt: 1,
            _probe: None,
        }
    }

    #[test]
    fn answers_are_classified_by_status_origin_and_scheme() {
        let ok = |code: u16| StatusCode::from_u16(code).unwrap();
        assert_eq!(classify(ok(200), true, true), Class::Success);
        assert_eq!(classify(ok(201), true, false), Class::Success);
        assert_eq!(classify(ok(202), false, true), Class::Success);
        assert_eq!(classify(ok(307), true, true), Class::Success);
        assert_eq!(classify(ok(401), true, true), Class::Challenge);
        assert_eq!(
            classify(ok(401), false, true),
            Class::Error,
            "a 401 from elsewhere (a redirect target) teaches nothing about the registry"
        );
        assert_eq!(classify(ok(400), true, false), Class::PlainHttpRefused);
        assert_eq!(classify(ok(400), true, true), Class::Error);
        assert_eq!(classify(ok(404), true, true), Class::Error);
        assert_eq!(classify(ok(503), true, false), Class::Error);
    }

    #[tokio::test]
    async fn only_what_may_pass_is_retried_and_only_with_a_body_that_can_be_sent_again() {
        let policy = RetryPolicy::default();
        let far = tokio::time::Instant::now() + Duration::from_secs(60);
        assert_eq!(
            failed(Failure::of(api(503, None))).verdict(true, &policy, far),
            Verdict::Retry(None)
        );
        assert_eq!(
            failed(Failure::of(api(429, Some(3)))).verdict(true, &policy, far),
            Verdict::Retry(Some(Duration::from_secs(3)))
        );
        assert_eq!(
            failed(Failure::of(api(503, None))).verdict(false, &policy, far),
            Verdict::Stop,
            "a streamed body is never replayed"
        );
        assert_eq!(
            failed(Failure::of(api(404, None))).verdict(true, &policy, far),
            Verdict::Stop
        );
        assert_eq!(
            failed(Failure::Final(api(503, None))).verdict(true, &policy, far),
            Verdict::Stop,
            "a failed token request (retried by the token call) is not retried by the loop"
        );
    }

    #[tokio::test]
    async fn a_request_refused_for_the_rate_is_sent_again_uncounted_until_its_deadline() {
        let policy = RetryPolicy::default();
        let now = tokio::time::Instant::now();
        let refused = || failed(Failure::Throttled(api(429, None)));
        assert_eq!(
            refused().verdict(true, &policy, now + Duration::from_secs(60)),
            Verdict::Again
        );
        assert_eq!(
            refused().verdict(true, &policy, now),
            Verdict::Stop,
            "past its deadline it fails"
        );
        assert_eq!(
            refused().verdict(false, &policy, now + Duration::from_secs(60)),
            Verdict::Stop,
            "a streamed body is never replayed"
        );
    }

    #[test]
    fn only_a_retryable_failure_says_how_many_attempts_were_made() {
        let retried = failed(Failure::of(api(503, None)))
            .into_error(4)
            .to_string();
        assert!(
            retried.contains("(the request was tried 4 times)"),
            "{retried}"
        );
        let token = failed(Failure::Final(api(503, None)))
            .into_error(2)
            .to_string();
        assert!(!token.contains("attempts"), "{token}");
    }
}
