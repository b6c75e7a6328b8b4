//! The pages' forms over plain HTTP, as a browser would not send them: the CSRF cookie and the
//! token a page's forms carry, and a form posted without following the answer's redirect.

use super::client::ServiceClient;

/// The CSRF cookie a page sets, and the token its forms carry.
pub async fn csrf(app: &ServiceClient, path: &str) -> (String, String) {
    let page = app.get(path).await;
    let cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("manifold_csrf="))
        .expect("a CSRF cookie")
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let token = cookie["manifold_csrf=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let body = page.text().await.unwrap();
    assert!(
        body.contains(&format!("name=\"csrf\" value=\"{token}\"")),
        "the form carries the token"
    );
    (format!("manifold_csrf={token}"), token)
}

/// A client that shows redirects instead of following them.
pub fn no_redirects() -> reqwest::Client {
    manifold_testkit::http_client()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Posts a form (without following the answer's redirect).
pub async fn post_form(
    app: &ServiceClient,
    path: &str,
    cookie: Option<&str>,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut request = no_redirects()
        .post(format!("{}{path}", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(c) = cookie {
        request = request.header("cookie", c);
    }
    request.send().await.unwrap()
}

/// Signs in on the sign-in page with `token`: the session cookie (`manifold_session=…`), and the
/// CSRF token the sign-in form carried.
pub async fn sign_in(app: &ServiceClient, token: &str) -> (String, String) {
    let (cookie, csrf_token) = csrf(app, "/ui/login").await;
    let signed = post_form(
        app,
        "/ui/login",
        Some(&cookie),
        &[("csrf", &csrf_token), ("token", token), ("next", "/")],
    )
    .await;
    let session = signed
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("manifold_session="))
        .expect("a session")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    (session, csrf_token)
}

/// The page at `path` as the holder of the session `cookie` sees it (redirects not followed).
pub async fn page_as(app: &ServiceClient, path: &str, cookie: &str) -> String {
    no_redirects()
        .get(format!("{}{path}", app.base))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}
