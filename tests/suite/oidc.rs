//! CI identity without secrets: a CI job's OIDC ID token (from a local issuer of the testkit,
//! its keys made by the test) taken by the real service over HTTP, a real registry behind it.
//! Tokens of RS256 and ES256 land lists with the job's identity recorded and shown; every
//! refused token is refused on its own (401 saying why, never echoing it); a job whose claims no
//! rule lets write the target gets 403 naming the rules; the issuer's keys are fetched again for
//! an unknown kid at most once a minute; API tokens keep working.

use std::time::Duration;

use manifold::config::Settings;
use manifold::model::{Clock, Secret};
use manifold::oidc::{IssuerSettings, OidcSettings, Rule};
use manifold_testkit::oidc::{Alg, EC_KID, RSA_KID};
use manifold_testkit::{OidcIssuer, TestRegistry};
use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::cli::seed_demo;
use crate::support::demo::demo_spec;
use crate::support::forms::{page_as, sign_in};
use crate::support::stores::Db;

/// The service's own API token (for what ID tokens may not do).
pub(crate) const API_TOKEN: &str = "api-token-0123456789abcdef";

/// A service trusting `issuer` for the audience `manifold`, with one rule: `example-org/demo` on
/// `refs/heads/main` may write `<registry>/demo:*`.
pub(crate) async fn service(issuer: &OidcIssuer, registry: &TestRegistry, clock: Clock) -> TestApp {
    service_with(issuer, registry, clock, |_| {}).await
}

/// The same, its settings changed by `tweak`.
async fn service_with(
    issuer: &OidcIssuer,
    registry: &TestRegistry,
    clock: Clock,
    tweak: impl FnOnce(&mut Settings),
) -> TestApp {
    let host = registry.host();
    let url = issuer.url();
    TestApp::spawn_at(Db::Sqlite, clock, |s| {
        tweak(s);
        s.registries = vec![host.clone()];
        s.api_tokens = vec![Secret::new(API_TOKEN)];
        s.oidc = Some(OidcSettings {
            issuers: vec![IssuerSettings {
                issuer: url.clone(),
                audience: "manifold".to_owned(),
                jwks_hosts: Vec::new(),
            }],
            rules: vec![Rule {
                name: "demo-main".to_owned(),
                issuer: url,
                claims: [
                    ("repository".to_owned(), "example-org/demo".to_owned()),
                    ("ref".to_owned(), "refs/heads/main".to_owned()),
                ]
                .into(),
                targets: vec![format!("{host}/demo:*")],
                sources: vec![format!("{host}/demo-*")],
            }],
        });
    })
    .await
}

/// `POST path` with `body` and `Authorization: Bearer <token>`: the status and the JSON answered.
async fn post(app: &TestApp, path: &str, token: &str, body: &Value) -> (u16, Value) {
    let request = app.http.post(format!("{}{path}", app.base));
    answer(request.bearer_auth(token).json(body)).await
}

/// `GET path`, with `Authorization: Bearer <token>` when given: the status and the JSON answered.
async fn get(app: &TestApp, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = app.http.get(format!("{}{path}", app.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    answer(request).await
}

async fn answer(request: reqwest::RequestBuilder) -> (u16, Value) {
    let answer = request.send().await.unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

/// Claims with some changed.
fn with(mut claims: Value, changes: Value) -> Value {
    for (k, v) in changes.as_object().unwrap() {
        claims[k] = v.clone();
    }
    claims
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test(flavor = "multi_thread")]
async fn rs256_and_es256_tokens_of_the_job_a_rule_names_land_lists_with_its_identity_shown() {
    let issuer = OidcIssuer::start();
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let app = service(&issuer, &registry, Clock::system()).await;
    let spec = demo_spec(&registry.host()).json();
    let rs = issuer.rs256(&issuer.claims());
    let es = issuer.es256(&issuer.claims());

    let (rs_status, rs_list) = post(&app, "/lists", &rs, &spec).await;
    let (es_status, es_list) = post(&app, "/lists", &es, &spec).await;

    assert_eq!((rs_status, es_status), (202, 202), "{rs_list} {es_list}");
    let id = es_list["id"].as_str().unwrap();
    let list = app.wait_status(id, "succeeded").await;
    assert_eq!(
        list["submitted_by"],
        json!({
            "issuer": issuer.url(),
            "subject": "repo:example-org/demo:ref:refs/heads/main",
            "repository": "example-org/demo",
            "ref": "refs/heads/main",
            "run_id": "4242",
            "rule": "demo-main",
        })
    );
    let (session, _) = sign_in(&app, API_TOKEN).await;
    let page = page_as(&app, &format!("/ui/lists/{id}"), &session).await;
    let shown = page
        .split("id=\"submitted-by\"")
        .nth(1)
        .expect("the page shows who submitted it");
    for fact in [
        "example-org/demo",
        "refs/heads/main",
        "run 4242",
        "demo-main",
    ] {
        assert!(shown.contains(fact), "{fact} not shown");
    }
    assert!(
        !page.contains(&es) && !list.to_string().contains(&es),
        "the token is never shown"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn each_invalid_id_token_is_refused_401_saying_why_and_nothing_is_queued() {
    let issuer = OidcIssuer::start();
    let registry = TestRegistry::plain().await;
    let app = service(&issuer, &registry, Clock::system()).await;
    let spec = demo_spec(&registry.host()).json();
    let claims = issuer.claims();
    let other = issuer.claims();
    let good = issuer.rs256(&claims);
    let forged_payload = {
        let evil = issuer.rs256(&with(other, json!({"repository": "example-org/evil"})));
        let parts: Vec<&str> = good.split('.').collect();
        let evil_claims = evil.split('.').nth(1).unwrap();
        format!("{}.{evil_claims}.{}", parts[0], parts[2])
    };
    let hmac_secret = issuer.rsa_jwk().to_string().into_bytes();
    let cases = [
        (
            "expired",
            issuer.rs256(&with(claims.clone(), json!({"exp": now() - 600}))),
            "expired",
        ),
        (
            "nbf to come",
            issuer.es256(&with(claims.clone(), json!({"nbf": now() + 600}))),
            "not valid yet",
        ),
        (
            "no exp",
            issuer.rs256(&with(claims.clone(), json!({"exp": null}))),
            "`exp` claim",
        ),
        (
            "wrong aud",
            issuer.rs256(&with(claims.clone(), json!({"aud": ["sts.amazonaws.com"]}))),
            "aud `sts.amazonaws.com`",
        ),
        (
            "wrong iss",
            issuer.rs256(&with(
                claims.clone(),
                json!({"iss": "https://evil.example"}),
            )),
            "iss `https://evil.example`",
        ),
        (
            "alg none",
            issuer.sign(Alg::None, Some(RSA_KID), &claims),
            "alg `none`",
        ),
        (
            "HS256 with the public key",
            issuer.sign(Alg::Hs256(hmac_secret), Some(RSA_KID), &claims),
            "alg `HS256`",
        ),
        (
            "tampered payload",
            forged_payload,
            "signature does not verify",
        ),
        (
            "RS256 naming the EC key",
            issuer.sign(Alg::Rs256, Some(EC_KID), &claims),
            "does not fit its key",
        ),
        (
            "ES256 signed, RSA key named",
            issuer.sign(Alg::Es256, Some(RSA_KID), &claims),
            "does not fit its key",
        ),
    ];

    for (case, token, why) in &cases {
        let (status, body) = post(&app, "/lists", token, &spec).await;

        assert_eq!(status, 401, "{case}: {body}");
        assert_eq!(body["error"]["code"], "UNAUTHORIZED", "{case}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(why), "{case}: {message}");
        assert!(
            !body.to_string().contains(token.as_str()),
            "{case}: the token is echoed"
        );
    }
    let lists = app.get_json("/lists").await;
    assert_eq!(lists["items"], json!([]), "nothing was queued");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_whose_claims_no_rule_lets_write_the_target_gets_403_naming_the_rules() {
    let issuer = OidcIssuer::start();
    let registry = TestRegistry::plain().await;
    let app = service(&issuer, &registry, Clock::system()).await;
    let host = registry.host();
    let other_repo = issuer.rs256(&with(
        issuer.claims(),
        json!({"repository": "example-org/other"}),
    ));
    let feature = issuer.es256(&with(issuer.claims(), json!({"ref": "refs/heads/feature"})));
    let right_job = issuer.rs256(&issuer.claims());

    let (other_status, other) = post(&app, "/lists", &other_repo, &demo_spec(&host).json()).await;
    let (feature_status, _) = post(&app, "/lists", &feature, &demo_spec(&host).json()).await;
    let elsewhere = demo_spec(&host).target("elsewhere:v1").json();
    let (elsewhere_status, elsewhere) = post(&app, "/lists", &right_job, &elsewhere).await;
    let copy = json!({"source": format!("{host}/demo:v0.2"), "target": format!("{host}/prod:v1")});
    let (copy_status, _) = post(&app, "/copies", &right_job, &copy).await;
    let foreign = json!({"image": format!("{host}/demo:v1"), "manifests": [{"image": format!("{host}/secret:v1")}]});
    let (foreign_status, foreign) = post(&app, "/lists", &right_job, &foreign).await;
    let (dry_status, dry) = post(
        &app,
        "/lists?dry_run=true",
        &other_repo,
        &demo_spec(&host).json(),
    )
    .await;

    assert_eq!(
        (
            other_status,
            feature_status,
            elsewhere_status,
            copy_status,
            dry_status
        ),
        (403, 403, 403, 403, 403),
        "a dry run meets the rules too: {dry}"
    );
    assert_eq!(other["error"]["code"], "FORBIDDEN");
    assert_eq!(other["error"]["field"], "image");
    let message = other["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "no rule lets repository example-org/other (ref refs/heads/main) push to {host}/demo:v0.2"
        )),
        "{message}"
    );
    assert!(
        message.contains(&format!("rules of {}: demo-main", issuer.url())),
        "{message}"
    );
    assert_eq!(
        foreign_status, 403,
        "a source no rule lets it take: {foreign}"
    );
    assert_eq!(foreign["error"]["field"], "manifests[0].image");
    let message = foreign["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "lets it take {host}/secret:v1 (their sources: demo-main: {host}/demo-*)"
        )),
        "{message}"
    );
    let message = elsewhere["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("push to {host}/elsewhere:v1")),
        "{message}"
    );
    // Every target of a publish is checked, and a copy's source is what it reads.
    let mut publish = demo_spec(&host).json();
    publish["image"] = json!([format!("{host}/demo:v0.2"), format!("{host}/elsewhere:v1")]);
    let (publish_status, publish) = post(&app, "/lists", &right_job, &publish).await;
    assert_eq!(publish_status, 403, "{publish}");
    let message = publish["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("push to {host}/elsewhere:v1")),
        "{message}"
    );
    let taken = json!({"source": format!("{host}/secret:v1"), "target": format!("{host}/demo:v9")});
    let (taken_status, taken) = post(&app, "/copies", &right_job, &taken).await;
    assert_eq!(taken_status, 403, "a source no rule lets it take: {taken}");
    assert_eq!(taken["error"]["field"], "source", "{taken}");
    assert!(
        message.contains("matching its claims: demo-main"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_kid_fetches_the_keys_again_once_a_minute_at_most_however_many_come() {
    let issuer = OidcIssuer::start();
    let registry = TestRegistry::plain().await;
    let clock = Clock::manual();
    let app = service(&issuer, &registry, clock.clone()).await;
    let spec = demo_spec(&registry.host()).json();
    let claims = issuer.claims();
    let unknown = |kid: String| issuer.sign(Alg::Rs256, Some(&kid), &claims);

    let (first, _) = post(&app, "/lists", &issuer.rs256(&claims), &spec).await;
    let flood: Vec<_> = (0..20)
        .map(|i| {
            let (app, token, spec) = (&app, unknown(format!("made-up-{i}")), spec.clone());
            async move { post(app, "/lists", &token, &spec).await }
        })
        .collect();
    let flood = futures::future::join_all(flood).await;
    let after_flood = issuer.jwks_fetches();
    clock.advance(Duration::from_secs(61));
    let (late, refused) = post(&app, "/lists", &unknown("rotated-1".to_owned()), &spec).await;
    let after_a_minute = issuer.jwks_fetches();
    let (again, _) = post(&app, "/lists", &unknown("rotated-2".to_owned()), &spec).await;

    assert_eq!(first, 202);
    assert!(flood.iter().all(|(status, _)| *status == 401), "{flood:?}");
    assert_eq!(after_flood, 1, "the flood made no fetch");
    assert_eq!(
        (late, after_a_minute),
        (401, 2),
        "one fetch a minute later: {refused}"
    );
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("kid `rotated-1`")
    );
    assert_eq!((again, issuer.jwks_fetches()), (401, 2));
}

#[tokio::test(flavor = "multi_thread")]
async fn api_tokens_keep_working_and_an_id_token_may_not_do_what_needs_one() {
    let issuer = OidcIssuer::start();
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let app = service_with(&issuer, &registry, Clock::system(), |s| {
        s.protect_reads = Some(true);
    })
    .await;
    let id_token = issuer.rs256(&issuer.claims());
    let stranger = issuer.rs256(&with(
        issuer.claims(),
        json!({"repository": "someone/else", "sub": "repo:someone/else:ref:refs/heads/main"}),
    ));
    let spec = demo_spec(&registry.host()).json();

    let (status, list) = post(&app, "/lists", API_TOKEN, &spec).await;
    let id = list["id"].as_str().unwrap();
    let done = app.wait_final(id).await;
    let (retry, refused) = post(&app, &format!("/lists/{id}/retry"), &id_token, &json!({})).await;
    let read = get(&app, &format!("/lists/{id}"), Some(&id_token)).await;
    let (stranger_read, stranger_body) = get(&app, &format!("/lists/{id}"), Some(&stranger)).await;
    let (anonymous, _) = get(&app, &format!("/lists/{id}"), None).await;

    assert_eq!(status, 202);
    assert_eq!(
        done["submitted_by"],
        Value::Null,
        "an API token is no identity"
    );
    assert_eq!(retry, 403);
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("needs an API token"), "{message}");
    assert_eq!(
        read.0, 200,
        "an ID token a rule is for may read the list it follows"
    );
    assert_eq!(read.1["id"], id);
    assert_eq!(stranger_read, 403, "{stranger_body}");
    let message = stranger_body["error"]["message"].as_str().unwrap();
    assert!(message.contains("repository someone/else"), "{message}");
    assert!(message.contains("may not read"), "{message}");
    assert_eq!(anonymous, 401);
}
