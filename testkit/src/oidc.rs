//! A local OIDC issuer for tests, as GitHub Actions' or GitLab's: actix-web on 127.0.0.1 with a
//! free port (on a thread of its own, as the [`crate::token`] server), serving discovery
//! (`/.well-known/openid-configuration`) and its keys (`/jwks`: an RSA key `rsa-1` and a P-256 key
//! `ec-1`, both made by the test process), counting the fetches of its keys. It mints ID tokens
//! with whatever header and claims a test wants — RS256, ES256, and the shapes a verifier must
//! refuse (`alg: none`, HS256) — and answers GitHub's ID token request
//! (`GET <ACTIONS_ID_TOKEN_REQUEST_URL>&audience=X` with `Authorization: Bearer
//! <ACTIONS_ID_TOKEN_REQUEST_TOKEN>` → `{"value": "<jwt>"}`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;

use actix_web::dev::ServerHandle;
use actix_web::{HttpRequest, HttpResponse, web};
use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair,
    RsaPublicKeyComponents,
};
use serde_json::{Value, json};

use crate::certs::TokenSigner;
use crate::serve::serve_on_thread;

/// The kid of the issuer's RSA key.
pub const RSA_KID: &str = "rsa-1";
/// The kid of the issuer's P-256 key.
pub const EC_KID: &str = "ec-1";

/// How a token is signed.
#[derive(Clone, Debug)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 SHA-256 with the RSA key.
    Rs256,
    /// ECDSA P-256 SHA-256 with the EC key.
    Es256,
    /// `alg: none`, an empty signature.
    None,
    /// HMAC-SHA256 keyed with these bytes (a verifier must never take it).
    Hs256(Vec<u8>),
}

impl Alg {
    fn name(&self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
            Alg::None => "none",
            Alg::Hs256(_) => "HS256",
        }
    }
}

struct Keys {
    rsa: RsaKeyPair,
    ec: EcdsaKeyPair,
}

struct State {
    url: String,
    keys: Arc<Keys>,
    jwks_fetches: AtomicU64,
    request_token: String,
    github_claims: Mutex<Value>,
    audiences: Mutex<Vec<String>>,
}

/// The RSA key is made once per test process (openssl takes a while); the EC key too.
fn keys() -> anyhow::Result<Arc<Keys>> {
    static KEYS: OnceLock<Arc<Keys>> = OnceLock::new();
    if let Some(keys) = KEYS.get() {
        return Ok(keys.clone());
    }
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| anyhow::anyhow!("cannot make a P-256 key"))?;
    let ec = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
        .map_err(|e| anyhow::anyhow!("P-256 key: {e}"))?;
    let keys = Arc::new(Keys {
        rsa: TokenSigner::new()?.into_key_pair(),
        ec,
    });
    Ok(KEYS.get_or_init(|| keys).clone())
}

/// A running issuer, stopped when dropped.
pub struct OidcIssuer {
    state: Arc<State>,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
}

impl Drop for OidcIssuer {
    fn drop(&mut self) {
        let stopped = self.handle.stop(false);
        drop(stopped);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl OidcIssuer {
    /// Starts an issuer on 127.0.0.1 with a free port; panics when it cannot.
    pub fn start() -> OidcIssuer {
        Self::try_start().unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// Starts an issuer on 127.0.0.1 with a free port.
    pub fn try_start() -> anyhow::Result<OidcIssuer> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").context("bind 127.0.0.1:0")?;
        let url = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
        let mut token = [0u8; 16];
        crate::random_fill(&mut token).map_err(|_| anyhow::anyhow!("no randomness"))?;
        let state = Arc::new(State {
            github_claims: Mutex::new(default_claims(&url)),
            url,
            keys: keys()?,
            jwks_fetches: AtomicU64::new(0),
            request_token: hex::encode(token),
            audiences: Mutex::default(),
        });
        let data = web::Data::from(state.clone());
        let (handle, thread) = serve_on_thread("testkit-oidc".to_owned(), listener, move |cfg| {
            cfg.app_data(data.clone())
                .route(
                    "/.well-known/openid-configuration",
                    web::get().to(discovery),
                )
                .route("/jwks", web::get().to(jwks))
                .route("/github/token", web::get().to(github_token));
        })?;
        Ok(OidcIssuer {
            state,
            handle,
            thread: Some(thread),
        })
    }

    /// The issuer's URL (`iss`): `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.state.url.clone()
    }

    /// How many times its keys (`/jwks`) were fetched.
    pub fn jwks_fetches(&self) -> u64 {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    /// Claims as GitHub Actions gives them for `example-org/demo` on `refs/heads/main`, for the
    /// audience `manifold`, valid from now for five minutes.
    pub fn claims(&self) -> Value {
        default_claims(&self.state.url)
    }

    /// The claims, RS256 with the RSA key (`kid: rsa-1`).
    pub fn rs256(&self, claims: &Value) -> String {
        self.sign(Alg::Rs256, Some(RSA_KID), claims)
    }

    /// The claims, ES256 with the EC key (`kid: ec-1`).
    pub fn es256(&self, claims: &Value) -> String {
        self.sign(Alg::Es256, Some(EC_KID), claims)
    }

    /// The claims signed as `alg` says, the header naming `kid` (any kid: it need not be the
    /// signing key's).
    pub fn sign(&self, alg: Alg, kid: Option<&str>, claims: &Value) -> String {
        sign(&self.state.keys, alg, kid, claims)
    }

    /// The RSA key as its JWK (what an HS256 forgery would take as its secret).
    pub fn rsa_jwk(&self) -> Value {
        rsa_jwk(&self.state.keys)
    }

    /// `ACTIONS_ID_TOKEN_REQUEST_URL`: GitHub's has a query already, so clients add
    /// `&audience=…`.
    pub fn github_request_url(&self) -> String {
        format!("{}/github/token?api-version=2.0", self.state.url)
    }

    /// `ACTIONS_ID_TOKEN_REQUEST_TOKEN`.
    pub fn github_request_token(&self) -> String {
        self.state.request_token.clone()
    }

    /// The claims of the tokens the GitHub endpoint gives (its `aud` is the audience asked).
    pub fn set_github_claims(&self, claims: Value) {
        *self
            .state
            .github_claims
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = claims;
    }

    /// The audiences the GitHub endpoint was asked for, oldest first.
    pub fn github_audiences(&self) -> Vec<String> {
        self.state
            .audiences
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn default_claims(url: &str) -> Value {
    let now = now();
    json!({
        "iss": url,
        "aud": "manifold",
        "sub": "repo:example-org/demo:ref:refs/heads/main",
        "repository": "example-org/demo",
        "repository_owner": "example-org",
        "ref": "refs/heads/main",
        "run_id": "4242",
        "workflow": "release",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
    })
}

fn sign(keys: &Keys, alg: Alg, kid: Option<&str>, claims: &Value) -> String {
    let mut header = json!({"typ": "JWT", "alg": alg.name()});
    if let Some(kid) = kid {
        header["kid"] = kid.into();
    }
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let rng = SystemRandom::new();
    let signature = match alg {
        Alg::Rs256 => {
            let key = &keys.rsa;
            let mut signature = vec![0; key.public().modulus_len()];
            key.sign(&RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut signature)
                .expect("RSA signs");
            signature
        }
        Alg::Es256 => keys
            .ec
            .sign(&rng, input.as_bytes())
            .expect("ECDSA signs")
            .as_ref()
            .to_vec(),
        Alg::None => Vec::new(),
        Alg::Hs256(secret) => {
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret);
            ring::hmac::sign(&key, input.as_bytes()).as_ref().to_vec()
        }
    };
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn rsa_jwk(keys: &Keys) -> Value {
    let public = RsaPublicKeyComponents::<Vec<u8>>::from(keys.rsa.public());
    json!({
        "kty": "RSA", "kid": RSA_KID, "alg": "RS256", "use": "sig",
        "n": URL_SAFE_NO_PAD.encode(&public.n),
        "e": URL_SAFE_NO_PAD.encode(&public.e),
    })
}

fn ec_jwk(keys: &Keys) -> Value {
    let point = keys.ec.public_key().as_ref();
    json!({
        "kty": "EC", "kid": EC_KID, "alg": "ES256", "use": "sig", "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
    })
}

async fn discovery(state: web::Data<State>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "issuer": state.url,
        "jwks_uri": format!("{}/jwks", state.url),
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
    }))
}

async fn jwks(state: web::Data<State>) -> HttpResponse {
    state.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    HttpResponse::Ok().json(json!({"keys": [rsa_jwk(&state.keys), ec_jwk(&state.keys)]}))
}

#[derive(serde::Deserialize)]
struct TokenQuery {
    audience: Option<String>,
}

async fn github_token(
    state: web::Data<State>,
    req: HttpRequest,
    query: web::Query<TokenQuery>,
) -> HttpResponse {
    let expected = format!("Bearer {}", state.request_token);
    let sent = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    if sent != Some(expected.as_str()) {
        return HttpResponse::Unauthorized().json(json!({"message": "bad request token"}));
    }
    let mut claims = state
        .github_claims
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    if let Some(audience) = &query.audience {
        claims["aud"] = audience.as_str().into();
        state
            .audiences
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(audience.clone());
    }
    let now = now();
    claims["iat"] = now.into();
    claims["nbf"] = now.into();
    claims["exp"] = (now + 300).into();
    let value = sign(&state.keys, Alg::Rs256, Some(RSA_KID), &claims);
    HttpResponse::Ok().json(json!({"value": value, "count": 1}))
}
