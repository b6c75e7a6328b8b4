//! A token server for registries in token mode (distribution's `auth.token`), written for tests:
//! actix-web on 127.0.0.1 with a free port, on a thread of its own with its own actix `System`
//! (so it works from any test, async or not, and stops synchronously on Drop).
//!
//! It speaks distribution's token spec — `GET /token?service=&scope=` with optional Basic auth
//! and the OAuth2 `POST /token` form (`grant_type=password` or `refresh_token`) — and keeps a
//! request [log](TokenServer::requests) and the list of tokens issued; it can also leave requests
//! unanswered, as a realm that stalls does ([`TokenServer::stall`]). This module owns the API
//! (builder, server lifetime, log types); the handlers are in `token_http`, who gets what is the [`TokenPolicy`] ([`crate::token_policy`]), and signing
//! is the [`TokenSigner`]'s.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use actix_web::dev::ServerHandle;
use actix_web::web;
use anyhow::Context;

use crate::certs::TokenSigner;
use crate::serve::serve_on_thread;
use crate::token_http::{State, get_token, lock, post_token, unix_now};
pub use crate::token_policy::{Access, Grant, Subject, TokenPolicy, parse_scope};

/// The `service` (the tokens' `aud`) unless [`TokenServerBuilder::service`] says otherwise.
pub const DEFAULT_SERVICE: &str = "manifold-test-registry";
/// The `iss` of the tokens unless [`TokenServerBuilder::issuer`] says otherwise.
pub const DEFAULT_ISSUER: &str = "manifold-testkit-token-server";
/// The user every server has unless [`TokenServerBuilder::no_admin`]: all actions everywhere.
pub const ADMIN_USER: &str = "testkit-admin";
/// [`ADMIN_USER`]'s password.
pub const ADMIN_PASSWORD: &str = "testkit-admin-password";

/// One request the token server got, and what it answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRequest {
    /// `GET` or `POST`.
    pub method: String,
    /// The `service` parameter.
    pub service: Option<String>,
    /// Every `scope` asked for (query parameters, or the form's space-separated list), in order.
    pub scopes: Vec<String>,
    /// The form's `grant_type` (POST), `None` for GET.
    pub grant_type: Option<String>,
    /// The `client_id` parameter.
    pub client_id: Option<String>,
    /// The `account` parameter (GET).
    pub account: Option<String>,
    /// Whether an `Authorization: Basic` header came.
    pub basic_auth: bool,
    /// The user named by the Basic header or the form's `username`.
    pub user: Option<String>,
    /// Whether a password came (Basic header or form).
    pub password_sent: bool,
    /// Whether a `refresh_token` came (form).
    pub refresh_token_sent: bool,
    /// The status answered (0: none, the request was [left unanswered](TokenServer::stall)).
    pub status: u16,
    /// The `sub` of the token issued (`Some("")` for anonymous), `None` when none was issued.
    pub subject: Option<String>,
    /// The `access` claim of the token issued (empty when none was).
    pub granted: Vec<Access>,
}

impl TokenRequest {
    /// Whether the client sent any credential: Basic auth, a password or a refresh token.
    pub fn credentials_sent(&self) -> bool {
        self.basic_auth || self.password_sent || self.refresh_token_sent
    }
}

/// Options for a [`TokenServer`].
#[derive(Clone, Debug)]
pub struct TokenServerBuilder {
    service: String,
    issuer: String,
    expires_in: u64,
    get_disabled: bool,
    admin: bool,
    policy: TokenPolicy,
}

impl Default for TokenServerBuilder {
    fn default() -> Self {
        TokenServerBuilder {
            service: DEFAULT_SERVICE.to_owned(),
            issuer: DEFAULT_ISSUER.to_owned(),
            expires_in: 300,
            get_disabled: false,
            admin: true,
            policy: TokenPolicy::default(),
        }
    }
}

impl TokenServerBuilder {
    /// The `service` registries name in their challenge and tokens carry as `aud`.
    pub fn service(mut self, service: &str) -> Self {
        self.service = service.to_owned();
        self
    }

    /// The `iss` of the tokens (the registry's `auth.token.issuer`).
    pub fn issuer(mut self, issuer: &str) -> Self {
        self.issuer = issuer.to_owned();
        self
    }

    /// Lifetime of tokens in seconds (`expires_in`, `exp - iat`); default 300.
    pub fn expires_in(mut self, seconds: u64) -> Self {
        self.expires_in = seconds;
        self
    }

    /// Whether `GET /token` answers 404, so that clients must use the OAuth2 POST form.
    pub fn get_disabled(mut self, disabled: bool) -> Self {
        self.get_disabled = disabled;
        self
    }

    /// Leaves out the built-in [`ADMIN_USER`].
    pub fn no_admin(mut self) -> Self {
        self.admin = false;
        self
    }

    /// Adds a user with this password.
    pub fn user(mut self, name: &str, password: &str) -> Self {
        self.policy.add_user(name, password);
        self
    }

    /// Grants `user` these actions on repositories matching `pattern` (an exact name, or a
    /// prefix ending in `*`; `*` alone matches every repository).
    pub fn grant(mut self, user: &str, pattern: &str, actions: &[&str]) -> Self {
        self.policy.grants.push(Grant::repository(
            Subject::User(user.to_owned()),
            pattern,
            actions,
        ));
        self
    }

    /// Grants these actions to everyone, anonymous clients included.
    pub fn grant_anonymous(mut self, pattern: &str, actions: &[&str]) -> Self {
        self.policy
            .grants
            .push(Grant::repository(Subject::Anyone, pattern, actions));
        self
    }

    /// An identity (refresh) token that the POST form's `grant_type=refresh_token` accepts
    /// for `user`.
    pub fn refresh_token(mut self, token: &str, user: &str) -> Self {
        self.policy
            .refresh_tokens
            .insert(token.to_owned(), user.to_owned());
        self
    }

    /// Replaces the whole policy (the admin user is added on start unless [`Self::no_admin`]).
    pub fn policy(mut self, policy: TokenPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Starts the server; panics when it cannot.
    pub fn start(self) -> TokenServer {
        self.try_start().unwrap_or_else(|err| panic!("{err:#}"))
    }

    /// Makes the signing key and starts the server on 127.0.0.1 with a free port.
    pub fn try_start(mut self) -> anyhow::Result<TokenServer> {
        if self.admin {
            self.policy.add_admin(ADMIN_USER, ADMIN_PASSWORD);
        }
        let signer = TokenSigner::new()?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").context("bind 127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(State {
            service: self.service,
            issuer: self.issuer,
            expires_in: AtomicU64::new(self.expires_in),
            get_disabled: AtomicBool::new(self.get_disabled),
            stall: AtomicU64::new(0),
            stalled: AtomicU64::new(0),
            policy: Mutex::new(self.policy),
            log: Mutex::new(Vec::new()),
            issued: Mutex::new(Vec::new()),
            issued_refresh: Mutex::new(Vec::new()),
            signer,
        });
        let data = web::Data::from(state.clone());
        let (handle, thread) =
            serve_on_thread(format!("testkit-token-{port}"), listener, move |cfg| {
                cfg.app_data(data.clone())
                    .route("/token", web::get().to(get_token))
                    .route("/token", web::post().to(post_token));
            })?;
        Ok(TokenServer {
            port,
            state,
            handle,
            thread: Some(thread),
        })
    }
}

/// A running token server, stopped when dropped.
pub struct TokenServer {
    port: u16,
    state: Arc<State>,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for TokenServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenServer")
            .field("realm", &self.realm())
            .field("service", &self.state.service)
            .field("issuer", &self.state.issuer)
            .finish_non_exhaustive()
    }
}

impl TokenServer {
    /// Options for a server.
    pub fn builder() -> TokenServerBuilder {
        TokenServerBuilder::default()
    }

    /// A server with the defaults: the admin user only, tokens for 300 s (panics on failure).
    pub fn start() -> TokenServer {
        TokenServerBuilder::default().start()
    }

    /// `http://127.0.0.1:PORT/token`: the registry's `auth.token.realm`.
    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The `service` (registry's `auth.token.service`, tokens' `aud`).
    pub fn service(&self) -> &str {
        &self.state.service
    }

    /// The `iss` of its tokens (registry's `auth.token.issuer`).
    pub fn issuer(&self) -> &str {
        &self.state.issuer
    }

    /// The signing key and certificate (its `cert_path()` is the registry's `rootcertbundle`).
    pub fn signer(&self) -> &TokenSigner {
        &self.state.signer
    }

    /// The admin user name and password (present unless built with `no_admin`).
    pub fn admin_credentials(&self) -> Option<(String, String)> {
        lock(&self.state.policy)
            .users
            .contains_key(ADMIN_USER)
            .then(|| (ADMIN_USER.to_owned(), ADMIN_PASSWORD.to_owned()))
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<TokenRequest> {
        lock(&self.state.log).clone()
    }

    /// Forgets the requests logged so far (for instance after seeding fixtures).
    pub fn clear_requests(&self) {
        lock(&self.state.log).clear();
    }

    /// Every access token (JWT) issued so far.
    pub fn issued_tokens(&self) -> Vec<String> {
        lock(&self.state.issued).clone()
    }

    /// Every refresh token handed out so far.
    pub fn issued_refresh_tokens(&self) -> Vec<String> {
        lock(&self.state.issued_refresh).clone()
    }

    /// Changes the policy while the server runs.
    pub fn update_policy(&self, change: impl FnOnce(&mut TokenPolicy)) {
        change(&mut lock(&self.state.policy));
    }

    /// Switches the GET form off (404) or on while the server runs.
    pub fn set_get_disabled(&self, disabled: bool) {
        self.state.get_disabled.store(disabled, Ordering::Relaxed);
    }

    /// Leaves the next `requests` token requests unanswered: each is accepted, read, logged with
    /// status 0 and held open until the server stops (`u64::MAX`: every request from now on; 0:
    /// none).
    pub fn stall(&self, requests: u64) {
        self.state.stall.store(requests, Ordering::SeqCst);
    }

    /// How many requests were left unanswered so far.
    pub fn stalled(&self) -> u64 {
        self.state.stalled.load(Ordering::SeqCst)
    }

    /// Changes the lifetime of tokens issued from now on.
    pub fn set_expires_in(&self, seconds: u64) {
        self.state.expires_in.store(seconds, Ordering::Relaxed);
    }

    /// A token signed by this server, for `subject` with exactly `access` (no policy applied):
    /// for tests that need a token the policy would not give, or one for another audience.
    pub fn mint(&self, subject: &str, audience: &str, access: &[Access]) -> anyhow::Result<String> {
        self.state
            .signer
            .sign(&self.claims(subject, audience, access))
    }

    /// The claims [`Self::mint`] would sign (`iss`, `sub`, `aud`, `exp`, `nbf`, `iat`, `jti`,
    /// `access`), for a test to alter (an `exp` in the past, another `iss`) and sign with
    /// [`TokenSigner::sign`] through [`Self::signer`].
    pub fn claims(&self, subject: &str, audience: &str, access: &[Access]) -> serde_json::Value {
        self.state.claims(subject, audience, access, unix_now())
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        // `stop` sends its command at once; the returned future only waits for completion.
        drop(self.handle.stop(false));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
