//! Self-test of the testkit's token server and token-mode registries: what distribution 2.8
//! answers in token mode, the Pusher and skopeo authenticating through it, the OAuth2 POST
//! form, and the request log. HTTPS is tested in `tls.rs`.

use std::collections::BTreeSet;

use base64::Engine;
use manifold_testkit::bearer::{
    self, TokenError, expect_bearer, request_token, request_token_post,
};
use manifold_testkit::certs::pem_to_der;
use manifold_testkit::media_types::ACCEPT_ALL;
use manifold_testkit::token::ADMIN_USER;
use manifold_testkit::{
    Access, ImageFixture, Pusher, RegistryAuth, TestRegistry, TokenServer, decode_jwt, run_skopeo,
    skopeo_inspect, skopeo_pick,
};
use reqwest::{Client, StatusCode};

/// A client with no proxy and the system's roots.
fn client() -> Client {
    manifold_testkit::http_client().build().unwrap()
}

/// Status and `WWW-Authenticate` of `GET url` with an optional bearer token.
async fn get(url: &str, token: Option<&str>) -> (StatusCode, Option<String>, String) {
    let mut builder = client().get(url);
    if let Some(token) = token {
        builder = builder.bearer_auth(token);
    }
    let resp = builder.send().await.unwrap();
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    (resp.status(), challenge, resp.text().await.unwrap())
}

#[tokio::test]
async fn token_registry_challenges_and_checks_scopes() {
    let server = TokenServer::builder()
        .user("alice", "pw-a")
        .grant("alice", "app", &["pull", "push"])
        .grant_anonymous("public/*", &["pull"])
        .start();
    let registry = TestRegistry::token(&server).await;
    let realm = server.realm();
    let service = server.service();

    // Anonymous: the base challenge has no scope; a repository's names it.
    let (status, challenge, body) = get(&format!("{}/v2/", registry.url()), None).await;
    assert_eq!(status, 401);
    assert_eq!(
        challenge.as_deref(),
        Some(format!(r#"Bearer realm="{realm}",service="{service}""#).as_str())
    );
    assert!(body.contains(r#""code":"UNAUTHORIZED""#), "{body}");
    let (_, challenge, _) = get(&format!("{}/v2/app/tags/list", registry.url()), None).await;
    let challenge = expect_bearer(challenge.as_deref()).unwrap();
    assert_eq!(challenge.realm, realm);
    assert_eq!(challenge.scopes, ["repository:app:pull"]);
    assert_eq!(challenge.error, None);

    // A token for repository:app:pull,push: RS256, x5c = the rootcertbundle's DER.
    let scopes = ["repository:app:pull,push"];
    let token = request_token(
        &client(),
        &realm,
        Some(service),
        &scopes,
        Some(("alice", "pw-a")),
    )
    .await
    .unwrap();
    let (header, claims) = decode_jwt(&token).unwrap();
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "JWT");
    let pem = std::fs::read_to_string(server.signer().cert_path()).unwrap();
    let der = pem_to_der(&pem, "CERTIFICATE").unwrap();
    let x5c = base64::engine::general_purpose::STANDARD.encode(der);
    assert_eq!(header["x5c"], serde_json::json!([x5c]));
    assert_eq!(claims["iss"], server.issuer());
    assert_eq!(claims["aud"], service);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        300
    );
    assert_eq!(
        claims["access"],
        serde_json::json!([{"type": "repository", "name": "app", "actions": ["pull", "push"]}])
    );

    // It lets a Pusher push and read back.
    let image = ImageFixture::new("linux", "amd64", None).build();
    let with_token = Pusher::new(&registry).with_token(&token);
    let digest = with_token.push_image("app", "v1", &image).await.unwrap();
    assert_eq!(digest, image.manifest_digest);
    let fetched = with_token
        .get_manifest("app", "v1", ACCEPT_ALL)
        .await
        .unwrap();
    assert_eq!(fetched.bytes, image.manifest);

    // The same token for another repository: 401 insufficient_scope.
    let err = with_token
        .push_image("other", "v1", &image)
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("401"), "{err:#}");
    let (status, challenge, body) = get(
        &format!("{}/v2/app2/tags/list", registry.url()),
        Some(&token),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(
        challenge.as_deref(),
        Some(
            format!(
                r#"Bearer realm="{realm}",service="{service}",scope="repository:app2:pull",error="insufficient_scope""#
            )
            .as_str()
        )
    );
    assert!(body.contains(r#""Name":"app2","Action":"pull""#), "{body}");

    // Not granted: the token comes, without that access; wrong password: 401.
    let denied = request_token(
        &client(),
        &realm,
        Some(service),
        &["repository:other:pull,push"],
        Some(("alice", "pw-a")),
    )
    .await
    .unwrap();
    assert_eq!(
        decode_jwt(&denied).unwrap().1["access"],
        serde_json::json!([])
    );
    let wrong = request_token(
        &client(),
        &realm,
        Some(service),
        &scopes,
        Some(("alice", "nope")),
    )
    .await;
    assert!(
        matches!(wrong, Err(TokenError::Status(StatusCode::UNAUTHORIZED, _))),
        "{wrong:?}"
    );

    // Anonymous tokens get what anyone may: pull on public/*.
    let anonymous = request_token(
        &client(),
        &realm,
        Some(service),
        &["repository:public/x:pull,push"],
        None,
    )
    .await
    .unwrap();
    let claims = decode_jwt(&anonymous).unwrap().1;
    assert_eq!(claims["sub"], "");
    assert_eq!(claims["access"][0]["actions"], serde_json::json!(["pull"]));

    // Tokens the registry must refuse: other audience, expired beyond the 60 s leeway.
    let access = [Access::repository("app", &["pull"])];
    let other_aud = server.mint("alice", "another-service", &access).unwrap();
    let mut expired = server.claims("alice", service, &access);
    expired["exp"] = (expired["iat"].as_u64().unwrap() - 120).into();
    let expired = server.signer().sign(&expired).unwrap();
    for bad in [other_aud, expired, "not.a.jwt".to_owned()] {
        let (status, challenge, _) =
            get(&format!("{}/v2/app/tags/list", registry.url()), Some(&bad)).await;
        assert_eq!(status, 401);
        assert!(challenge.unwrap().ends_with(r#"error="invalid_token""#));
    }
    let good = server.mint("alice", service, &access).unwrap();
    let (status, _, _) = get(&format!("{}/v2/app/tags/list", registry.url()), Some(&good)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn pusher_follows_challenges_and_mount_needs_pull_on_source() {
    let server = TokenServer::builder()
        .user("alice", "pw-a")
        .grant("alice", "team/*", &["pull", "push"])
        .grant("alice", "drop-box", &["push"])
        .start();
    let registry = TestRegistry::token(&server).await;
    assert_eq!(
        registry.credentials(),
        Some((ADMIN_USER.to_owned(), server.admin_credentials().unwrap().1))
    );
    assert!(matches!(registry.auth(), RegistryAuth::Token { .. }));

    // The admin seeds fixtures through challenges (Basic never reaches the registry).
    let image = ImageFixture::new("linux", "s390x", None).build();
    let admin = Pusher::new(&registry);
    for repo in ["vendor/base", "drop-box", "team/src"] {
        admin.push_image(repo, "v1", &image).await.unwrap();
    }
    assert!(!registry.log().contains("auth.user.name=\"\""));

    // alice reaches team/* only.
    let alice = Pusher::new(&registry).with_credentials(Some(("alice", "pw-a")));
    alice.push_image("team/app", "v1", &image).await.unwrap();
    assert_eq!(alice.get_tags("team/app").await.unwrap(), ["v1"]);
    let err = alice
        .get_manifest("vendor/base", "v1", ACCEPT_ALL)
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("401"), "{err:#}");

    // Mounting needs pull on the source as well as pull,push on the target; without it the
    // whole request is refused with a challenge naming both.
    let layer = &image.layers[0].digest;
    let mount = |from: &str, token: &str| {
        client()
            .post(format!(
                "{}/v2/team/new/blobs/uploads/?mount={layer}&from={from}",
                registry.url()
            ))
            .bearer_auth(token)
            .send()
    };
    let scopes = ["repository:team/new:pull,push", "repository:drop-box:pull"];
    let token = request_token(
        &client(),
        &server.realm(),
        Some(server.service()),
        &scopes,
        Some(("alice", "pw-a")),
    )
    .await
    .unwrap();
    let resp = mount("drop-box", &token).await.unwrap();
    assert_eq!(resp.status(), 401);
    let challenge = expect_bearer(
        resp.headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
    )
    .unwrap();
    assert_eq!(challenge.error.as_deref(), Some("insufficient_scope"));
    // distribution names the scopes, and the actions within each, in varying order.
    let asked: BTreeSet<String> = challenge.scopes.iter().map(|s| sorted_actions(s)).collect();
    let wanted: BTreeSet<String> = scopes.iter().map(|s| sorted_actions(s)).collect();
    assert_eq!(asked, wanted);
    let scopes = ["repository:team/new:pull,push", "repository:team/src:pull"];
    let token = request_token(
        &client(),
        &server.realm(),
        Some(server.service()),
        &scopes,
        Some(("alice", "pw-a")),
    )
    .await
    .unwrap();
    let resp = mount("team/src", &token).await.unwrap();
    assert_eq!(resp.status(), 201);
}

#[tokio::test]
async fn skopeo_authenticates_through_the_token_server() {
    let server = TokenServer::builder()
        .user("carol", "pw-c")
        .grant("carol", "apps/*", &["pull"])
        .start();
    let registry = TestRegistry::token(&server).await;
    let image = ImageFixture::new("linux", "arm64", Some("v8")).build();
    Pusher::new(&registry)
        .push_image("apps/one", "v1", &image)
        .await
        .unwrap();
    server.clear_requests();

    // The helpers pass the admin's --creds; skopeo does the token dance itself.
    let seen = skopeo_inspect(&registry, "apps/one:v1", "linux", "arm64", Some("v8"))
        .await
        .unwrap();
    assert_eq!(seen["Digest"], image.manifest_digest.as_str());
    let picked = skopeo_pick(&registry, "apps/one:v1", "linux", "arm64", Some("v8")).await;
    assert_eq!(picked.unwrap(), image.manifest_digest);
    let requests = server.requests();
    assert!(!requests.is_empty());
    assert!(
        requests
            .iter()
            .all(|r| r.user.as_deref() == Some(ADMIN_USER) && r.status == 200)
    );
    assert!(
        requests
            .iter()
            .any(|r| r.scopes == ["repository:apps/one:pull"]),
        "{requests:#?}"
    );

    // Another user's credentials work as far as the policy goes.
    let reference = format!("docker://{}/apps/one:v1", registry.host());
    let inspect = |creds: &'static str| {
        let args: Vec<std::ffi::OsString> = [
            "inspect",
            "--tls-verify=false",
            "--raw",
            "--creds",
            creds,
            reference.as_str(),
        ]
        .iter()
        .map(Into::into)
        .collect();
        async move { run_skopeo(&args).await }
    };
    assert_eq!(inspect("carol:pw-c").await.unwrap(), image.manifest);
    assert!(inspect("carol:wrong").await.is_err());
    assert_eq!(server.requests().last().unwrap().status, 401);
}

#[tokio::test]
async fn post_form_refresh_tokens_and_get_disabled() {
    let server = TokenServer::builder()
        .user("bob", "pw-b")
        .grant("bob", "bob/*", &["pull", "push"])
        .refresh_token("identity-token-1", "bob")
        .get_disabled(true)
        .expires_in(60)
        .start();
    let realm = server.realm();
    let service = Some(server.service());
    let scopes = ["repository:bob/app:pull,push", "repository:bob/lib:pull"];

    let get = request_token(&client(), &realm, service, &scopes, Some(("bob", "pw-b"))).await;
    assert!(
        matches!(get, Err(TokenError::Status(StatusCode::NOT_FOUND, _))),
        "{get:?}"
    );
    let token = request_token_post(&client(), &realm, service, &scopes, "bob", "pw-b")
        .await
        .unwrap();
    let claims = decode_jwt(&token).unwrap().1;
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        60
    );
    assert_eq!(claims["access"].as_array().unwrap().len(), 2);
    let wrong = request_token_post(&client(), &realm, service, &scopes, "bob", "nope").await;
    assert!(
        matches!(wrong, Err(TokenError::Status(StatusCode::UNAUTHORIZED, _))),
        "{wrong:?}"
    );

    // The refresh flow answers with the refresh token; client_id is required.
    let form = |pairs: &[(&str, &str)]| {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        client()
            .post(&realm)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let resp = form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", "identity-token-1"),
        ("service", server.service()),
        ("scope", "repository:bob/app:pull"),
        ("client_id", "test"),
    ])
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["refresh_token"], "identity-token-1");
    assert_eq!(body["expires_in"], 60);
    assert_eq!(body["token"], body["access_token"]);
    assert!(body["issued_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        decode_jwt(body["token"].as_str().unwrap()).unwrap().1["sub"],
        "bob"
    );
    let no_client = form(&[
        ("grant_type", "password"),
        ("username", "bob"),
        ("password", "pw-b"),
    ]);
    assert_eq!(no_client.await.unwrap().status(), 400);
    let bad_refresh = form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", "x"),
        ("client_id", "t"),
    ]);
    assert_eq!(bad_refresh.await.unwrap().status(), 401);

    // The Pusher falls back to the POST form when GET answers 404.
    let registry = TestRegistry::builder()
        .auth(RegistryAuth::token(&server))
        .client_credentials("bob", "pw-b")
        .start()
        .await;
    let image = ImageFixture::new("linux", "ppc64le", None).build();
    let pusher = Pusher::new(&registry);
    pusher.push_image("bob/app", "v1", &image).await.unwrap();
    assert!(
        pusher
            .tokens()
            .iter()
            .all(|t| server.issued_tokens().contains(t))
    );

    let log = server.requests();
    let methods: Vec<&str> = log.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(&methods[..4], ["GET", "POST", "POST", "POST"]);
    assert_eq!(log[1].scopes, scopes, "space-separated scopes are split");
    assert_eq!(log[1].grant_type.as_deref(), Some("password"));
    assert!(log[1].password_sent && !log[1].basic_auth);
    assert_eq!(log[3].grant_type.as_deref(), Some("refresh_token"));
    assert!(log[3].refresh_token_sent && log[3].credentials_sent());
    assert!(
        log.iter()
            .any(|r| r.method == "GET" && r.status == 404 && r.basic_auth)
    );
    assert!(
        log.iter()
            .any(|r| r.method == "POST" && r.client_id.as_deref() == Some("manifold-testkit"))
    );
}

#[tokio::test]
async fn token_log_records_scopes_and_credentials() {
    let server = TokenServer::builder()
        .grant_anonymous("pub", &["pull"])
        .start();
    let realm = server.realm();
    let scopes = ["repository:pub:pull", "repository:priv:pull,push"];
    let anonymous = request_token(&client(), &realm, Some("svc"), &scopes, None)
        .await
        .unwrap();
    let (_, password) = server.admin_credentials().unwrap();
    let admin = request_token(
        &client(),
        &realm,
        None,
        &scopes[..1],
        Some((ADMIN_USER, &password)),
    )
    .await
    .unwrap();
    assert_eq!(server.issued_tokens(), [anonymous.clone(), admin]);
    // `aud` follows the service asked for.
    assert_eq!(decode_jwt(&anonymous).unwrap().1["aud"], "svc");

    let log = server.requests();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].scopes, scopes);
    assert_eq!(log[0].service.as_deref(), Some("svc"));
    assert!(!log[0].credentials_sent() && log[0].user.is_none());
    assert_eq!(log[0].subject.as_deref(), Some(""));
    assert_eq!(log[0].granted, [Access::repository("pub", &["pull"])]);
    assert!(log[1].basic_auth && log[1].user.as_deref() == Some(ADMIN_USER));
    assert_eq!(log[1].service, None);
    server.clear_requests();
    assert!(server.requests().is_empty());

    // The challenge parser handles several scopes, escapes and unquoted values.
    let parsed = bearer::parse_bearer_challenge(
        r#"Bearer realm="http://a/t",service=reg,scope="repository:a:pull,push repository:b:pull",error="x\"y""#,
    )
    .unwrap();
    assert_eq!(parsed.service.as_deref(), Some("reg"));
    assert_eq!(
        parsed.scopes,
        ["repository:a:pull,push", "repository:b:pull"]
    );
    assert_eq!(parsed.error.as_deref(), Some("x\"y"));
    assert!(bearer::parse_bearer_challenge(r#"Basic realm="x""#).is_none());
}

/// `repository:name:push,pull` → `repository:name:pull,push`.
fn sorted_actions(scope: &str) -> String {
    match scope.rsplit_once(':') {
        Some((resource, actions)) => {
            let mut actions: Vec<&str> = actions.split(',').collect();
            actions.sort_unstable();
            format!("{resource}:{}", actions.join(","))
        }
        None => scope.to_owned(),
    }
}
