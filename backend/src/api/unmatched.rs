//! What a request that matches no handler gets: the API's envelope, `404 NOT_FOUND` for an
//! address the API does not have, `405 METHOD_NOT_ALLOWED` (with `Allow`) for one it has with
//! other methods. The API's addresses and methods are read from its own OpenAPI document.

use std::sync::LazyLock;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError as _};

use super::error::ApiError;
use crate::model::ErrorCode;

/// An API path, as segments (`None` for a `{parameter}`), with its methods.
type Route = (Vec<Option<String>>, Vec<&'static str>);

/// Every API path.
static ROUTES: LazyLock<Vec<Route>> = LazyLock::new(|| {
    super::openapi()
        .paths
        .paths
        .iter()
        .map(|(path, item)| {
            let segments = path
                .trim_matches('/')
                .split('/')
                .map(|s| (!s.starts_with('{')).then(|| s.to_owned()))
                .collect();
            let methods = [
                ("GET", item.get.is_some()),
                ("PUT", item.put.is_some()),
                ("POST", item.post.is_some()),
                ("DELETE", item.delete.is_some()),
                ("PATCH", item.patch.is_some()),
            ]
            .into_iter()
            .filter_map(|(m, has)| has.then_some(m))
            .collect();
            (segments, methods)
        })
        .collect()
});

/// The methods the API takes at `path`, if it has that address.
fn methods_at(path: &str) -> Option<Vec<&'static str>> {
    let given: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut found: Option<Vec<&'static str>> = None;
    for (segments, methods) in ROUTES.iter() {
        let same = segments.len() == given.len()
            && segments
                .iter()
                .zip(&given)
                .all(|(s, g)| s.as_deref().is_none_or(|s| s == *g));
        if same {
            found.get_or_insert_with(Vec::new).extend(methods);
        }
    }
    found
}

/// The answer to a request no handler took.
pub fn unmatched(req: &HttpRequest) -> HttpResponse {
    match methods_at(req.path()) {
        Some(methods) if !methods.contains(&req.method().as_str()) => {
            let allow = methods.join(", ");
            let mut response = ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorCode::MethodNotAllowed,
                format!(
                    "{} {} is not an operation; it takes {allow}",
                    req.method(),
                    req.path()
                ),
            )
            .error_response();
            if let Ok(value) = allow.parse() {
                response
                    .headers_mut()
                    .insert(actix_web::http::header::ALLOW, value);
            }
            response
        }
        _ => ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("{} is not an address of this API (see /docs)", req.path()),
        )
        .error_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_addresses_come_from_its_document() {
        assert_eq!(methods_at("/lists"), Some(vec!["GET", "POST"]));
        assert_eq!(methods_at("/lists/0f0e"), Some(vec!["GET"]));
        assert_eq!(methods_at("/lists/0f0e/retry"), Some(vec!["POST"]));
        assert_eq!(methods_at("/nowhere"), None);
        assert_eq!(methods_at("/lists/a/b/c"), None);
    }
}
