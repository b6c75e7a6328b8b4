//! Requests too large to take, refused before routing with the API's envelope: an address (path
//! and query) over [`MAX_URI_BYTES`] with `414`, headers over [`MAX_HEADER_BYTES`] in all with
//! `431` naming the largest, both `REQUEST_TOO_LARGE`.
//!
//! These bounds sit below those of actix-http's own parser, which answers a request past its
//! limits itself, with an empty body, before any service or middleware sees it: an address over
//! 65,534 bytes (`http::Uri`'s limit) gets `400`, a request head over 128 KiB (actix-http 3's
//! `MAX_BUFFER_SIZE`) gets `431`. Neither limit nor answer can be configured in actix-http 3, so
//! the service answers in its envelope what it is able to see, and past the parser's limits the
//! client gets the parser's empty answer (the same status family).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError as _};

use super::error::ApiError;
use crate::model::ErrorCode;

/// Longest address (path and query) taken: 16 KiB.
pub const MAX_URI_BYTES: usize = 16 * 1024;

/// Most header bytes taken, names and values together: 64 KiB.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// The answer to a request too large to take, if it is one.
pub fn oversized(req: &HttpRequest) -> Option<HttpResponse> {
    let uri = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if uri > MAX_URI_BYTES {
        let message = format!(
            "the address is {uri} bytes, over the {MAX_URI_BYTES}-byte limit; send long values in \
             a body"
        );
        let error = ApiError::new(
            StatusCode::URI_TOO_LONG,
            ErrorCode::RequestTooLarge,
            message,
        );
        return Some(error.error_response());
    }
    let headers = req.headers();
    let total: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if total <= MAX_HEADER_BYTES {
        return None;
    }
    let largest = headers
        .iter()
        .max_by_key(|(name, value)| name.as_str().len() + value.len())
        .map(|(name, _)| name.as_str().to_owned())
        .unwrap_or_default();
    let message = format!(
        "the headers are {total} bytes, over the {MAX_HEADER_BYTES}-byte limit; the largest is \
         {largest}"
    );
    let error = ApiError::new(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        ErrorCode::RequestTooLarge,
        message,
    );
    Some(error.field(largest).error_response())
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn a_request_within_the_bounds_passes_and_one_past_them_is_refused_by_part() {
        let fits = TestRequest::get()
            .uri(&format!("/lists?target={}", "a".repeat(MAX_URI_BYTES - 20)))
            .insert_header(("x-big", "b".repeat(MAX_HEADER_BYTES - 100)))
            .to_http_request();
        assert!(oversized(&fits).is_none());
        let long = TestRequest::get()
            .uri(&format!("/lists?target={}", "a".repeat(MAX_URI_BYTES)))
            .to_http_request();
        assert_eq!(oversized(&long).unwrap().status(), StatusCode::URI_TOO_LONG);
        let big = TestRequest::get()
            .uri("/lists")
            .insert_header(("x-small", "s"))
            .insert_header(("x-big", "b".repeat(MAX_HEADER_BYTES)))
            .to_http_request();
        let answer = oversized(&big).unwrap();
        assert_eq!(answer.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    }
}
