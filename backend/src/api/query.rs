//! The query string of an API request, read into a typed value; a bad parameter is a `400
//! INVALID_QUERY` in the API's envelope that names the parameter, like every other API error.

use std::future::{Ready, ready};

use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, dev::Payload};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::model::ErrorCode;

/// A request's query, deserialised.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned> Query<T> {
    /// Reads a query string.
    pub fn parse(query: &str) -> Result<Self, ApiError> {
        let pairs = url::form_urlencoded::parse(query.as_bytes());
        let de = serde_urlencoded::Deserializer::new(pairs);
        serde_path_to_error::deserialize(de).map(Self).map_err(|e| {
            let field = e.path().to_string();
            let inner = e.into_inner().to_string();
            let (field, message) = match missing_field(&inner) {
                Some(missing) => (missing.to_owned(), format!("the query needs `{missing}`")),
                None => (field.clone(), format!("`{field}`: {inner}")),
            };
            ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidQuery, message).field(field)
        })
    }

    /// The value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// serde names a missing field only in its message: "missing field `ref`".
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.strip_suffix('`')
}

impl<T> std::ops::Deref for Query<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::parse(req.query_string()))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Filter {
        #[expect(dead_code, reason = "only read")]
        status: Option<crate::model::ListStatus>,
        #[expect(dead_code, reason = "only read")]
        limit: Option<i64>,
        #[serde(rename = "ref")]
        #[expect(dead_code, reason = "only read")]
        reference: String,
    }

    #[test]
    fn a_bad_parameter_is_refused_naming_it() {
        let err = Query::<Filter>::parse("ref=x&status=bogus").err().unwrap();
        let d = err.detail();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert_eq!(d.code, ErrorCode::InvalidQuery);
        assert_eq!(d.field.as_deref(), Some("status"));
        assert!(d.message.contains("is not a list status"), "{}", d.message);

        let limit = Query::<Filter>::parse("ref=x&limit=abc").err().unwrap();
        assert_eq!(limit.detail().field.as_deref(), Some("limit"));
        let missing = Query::<Filter>::parse("limit=3").err().unwrap();
        assert_eq!(missing.detail().field.as_deref(), Some("ref"));
        assert!(Query::<Filter>::parse("ref=a%2Fb&limit=3").is_ok());
    }
}
