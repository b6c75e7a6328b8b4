//! What a registry's answer says about its rate limit: whether the answer refused the request for
//! its rate (`429`, GitHub's `403` "secondary rate limit", `503`), how long it asked us to wait —
//! `Retry-After` in seconds or as an HTTP date, GHCR's `retry-after: 10.3ms` in the error body —
//! the rate it allows where it says (GHCR's `allowed: 2000/minute`), and the `RateLimit-Remaining`
//! and `RateLimit-Reset` headers of any answer (Docker Hub's `100;w=21600` form included).
//!
//! Pure reading of an answer; what is done about it is `budget`'s.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::error::{ApiErrorDetail, RegistryError};

/// GitHub's advice for a secondary rate limit that names no wait: at least a minute.
const SECONDARY_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// How a registry limited a request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Throttle {
    /// What it was: a refusal for the rate (`429`, `403` rate limit) or an overload (`503`).
    pub kind: ThrottleKind,
    /// How long it asked us to wait, when it said.
    pub wait: Option<Duration>,
    /// The requests a second it allows, when it said.
    pub allowed_per_sec: Option<f64>,
}

/// Why a request was limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ThrottleKind {
    /// Refused for the rate: sent again without counting as a failed attempt.
    Refused,
    /// Overloaded (`503`): fewer requests at once, but it counts as a failed attempt (a registry
    /// that is down answers so too).
    Overloaded,
}

impl Throttle {
    /// What an error answer says of the rate, if it is about the rate at all.
    pub(crate) fn of(status: u16, headers: &HeaderMap, errors: &[ApiErrorDetail]) -> Option<Self> {
        let kind = match status {
            429 => ThrottleKind::Refused,
            // GitHub's secondary limit says so in its body, or (a HEAD has none) in Retry-After.
            403 if errors.iter().any(ApiErrorDetail::mentions_rate_limit)
                || headers.contains_key(RETRY_AFTER) =>
            {
                ThrottleKind::Refused
            }
            503 => ThrottleKind::Overloaded,
            _ => return None,
        };
        let body_wait = errors.iter().find_map(|e| body_wait(&e.message));
        let wait = retry_after(headers)
            .or(body_wait)
            .or_else(|| reset_when_spent(headers))
            .or((status == 403).then_some(SECONDARY_LIMIT_WAIT));
        let allowed_per_sec = errors.iter().find_map(|e| allowed_rate(&e.message));
        Some(Self {
            kind,
            wait,
            allowed_per_sec,
        })
    }
}

/// `Retry-After` as seconds or as an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// The wait until the window resets, when an answer says none is left of it: `RateLimit-Remaining:
/// 0` with `RateLimit-Reset: SECONDS`. Docker Hub names the window (`;w=21600`) but not when it
/// resets: then the whole window.
pub(crate) fn reset_when_spent(headers: &HeaderMap) -> Option<Duration> {
    let remaining = header_number(headers, "ratelimit-remaining")?;
    if remaining > 0 {
        return None;
    }
    if let Some(secs) = header_number(headers, "ratelimit-reset") {
        return Some(Duration::from_secs(secs));
    }
    let window = headers.get("ratelimit-remaining")?.to_str().ok()?;
    let secs = window
        .split(';')
        .find_map(|p| p.trim().strip_prefix("w="))?;
    Some(Duration::from_secs(secs.trim().parse().ok()?))
}

/// The leading number of a header (`76;w=21600` → 76).
fn header_number(headers: &HeaderMap, name: &str) -> Option<u64> {
    let value = headers.get(name)?.to_str().ok()?;
    value.split([';', ',']).next()?.trim().parse().ok()
}

/// The entry an error gets when only its headers said it was a refusal for the rate.
pub(crate) fn rate_limit_entry() -> ApiErrorDetail {
    ApiErrorDetail {
        code: "TOOMANYREQUESTS".to_owned(),
        message: "the registry limits the rate".to_owned(),
        detail: serde_json::Value::Null,
    }
}

/// The error of a request not sent because its registry asked everyone to wait `wait`, longer
/// than a request waits for the rate.
pub(crate) fn waits_too_long(operation: &str, registry: &str, wait: Duration) -> RegistryError {
    RegistryError::Api {
        operation: operation.to_owned(),
        status: 429,
        errors: vec![ApiErrorDetail {
            code: "TOOMANYREQUESTS".to_owned(),
            message: format!(
                "{registry} limits the rate and asks to wait {} s before the next request, \
                 longer than a request waits for it; try again after that",
                wait.as_secs_f64().ceil()
            ),
            detail: serde_json::Value::Null,
        }],
        retry_after: Some(wait.as_secs_f64().ceil() as u64),
    }
}

/// GHCR's wait in its error message: `retry-after: 10.305464ms, allowed: 2000/minute`.
fn body_wait(message: &str) -> Option<Duration> {
    let lower = message.to_ascii_lowercase();
    let rest = &lower[lower.find("retry-after:")? + "retry-after:".len()..];
    let value = rest.trim_start().split([',', ' ']).next()?;
    go_duration(value)
}

/// GHCR's allowed rate in its error message: `allowed: 44000/minute` → requests a second.
fn allowed_rate(message: &str) -> Option<f64> {
    let lower = message.to_ascii_lowercase();
    let rest = &lower[lower.find("allowed:")? + "allowed:".len()..];
    let (count, per) = rest.trim_start().split_once('/')?;
    let count: f64 = count.trim().parse().ok()?;
    let unit: String = per.chars().take_while(char::is_ascii_alphabetic).collect();
    let secs = match unit.as_str() {
        "second" | "s" | "sec" => 1.0,
        "minute" | "min" | "m" => 60.0,
        "hour" | "h" => 3600.0,
        _ => return None,
    };
    (count > 0.0).then_some(count / secs)
}

/// A Go duration (`1h2m3.5s`, `880.092µs`, `10ms`), as GHCR writes its waits.
fn go_duration(text: &str) -> Option<Duration> {
    let mut total = 0.0f64;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "µs" | "μs" | "us" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[unit_end..];
    }
    Duration::try_from_secs_f64(total).ok()
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn entry(code: &str, message: &str) -> ApiErrorDetail {
        ApiErrorDetail {
            code: code.into(),
            message: message.into(),
            detail: serde_json::Value::Null,
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn ghcrs_wait_and_allowed_rate_are_read_from_its_error_body() {
        let ghcr = entry(
            "TOOMANYREQUESTS",
            "retry-after: 10.305464ms, allowed: 2000/minute",
        );
        let throttle = Throttle::of(429, &HeaderMap::new(), &[ghcr]).unwrap();
        assert_eq!(throttle.kind, ThrottleKind::Refused);
        assert_eq!(throttle.wait, Some(Duration::from_nanos(10_305_464)));
        let rate = throttle.allowed_per_sec.unwrap();
        assert!((rate - 2000.0 / 60.0).abs() < 1e-9, "{rate}");
        let micro = entry(
            "TOOMANYREQUESTS",
            "retry-after: 880.092µs, allowed: 44000/minute",
        );
        let wait = Throttle::of(429, &HeaderMap::new(), &[micro]).unwrap().wait;
        assert_eq!(wait, Some(Duration::from_nanos(880_092)));
    }

    #[test]
    fn go_durations_of_several_units_add_up_and_nonsense_is_none() {
        assert_eq!(go_duration("1m2.5s"), Some(Duration::from_millis(62_500)));
        assert_eq!(go_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(go_duration("15us"), Some(Duration::from_micros(15)));
        assert_eq!(go_duration("ten seconds"), None);
        assert_eq!(
            go_duration("5"),
            None,
            "a number without a unit is not Go's"
        );
        assert_eq!(go_duration(""), None);
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_as_a_date() {
        let secs = headers(&[("retry-after", "3")]);
        assert_eq!(
            Throttle::of(429, &secs, &[]).unwrap().wait,
            Some(Duration::from_secs(3))
        );
        let later = SystemTime::now() + Duration::from_secs(120);
        let date = headers(&[("retry-after", &httpdate::fmt_http_date(later))]);
        let wait = Throttle::of(429, &date, &[]).unwrap().wait.unwrap();
        assert!(wait > Duration::from_secs(110) && wait <= Duration::from_secs(120));
        let past = headers(&[("retry-after", "Mon, 01 Jan 2024 00:00:00 GMT")]);
        assert_eq!(
            Throttle::of(429, &past, &[]).unwrap().wait,
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn a_403_is_a_rate_limit_only_when_it_says_so() {
        let secondary = entry("DENIED", "You have exceeded a secondary rate limit");
        let limited = Throttle::of(403, &HeaderMap::new(), &[secondary]).unwrap();
        assert_eq!(limited.kind, ThrottleKind::Refused);
        assert_eq!(limited.wait, Some(SECONDARY_LIMIT_WAIT), "GitHub's advice");
        let denied = entry("DENIED", "requested access to the resource is denied");
        assert_eq!(Throttle::of(403, &HeaderMap::new(), &[denied]), None);
        let head = Throttle::of(403, &headers(&[("retry-after", "2")]), &[]).unwrap();
        assert_eq!(
            (head.kind, head.wait),
            (ThrottleKind::Refused, Some(Duration::from_secs(2))),
            "a HEAD has no body: its Retry-After says it"
        );
        assert_eq!(Throttle::of(404, &HeaderMap::new(), &[]), None);
        let overloaded = Throttle::of(503, &HeaderMap::new(), &[]).unwrap();
        assert_eq!(overloaded.kind, ThrottleKind::Overloaded);
        assert_eq!(overloaded.wait, None);
    }

    #[test]
    fn a_spent_window_waits_for_its_reset_or_docker_hubs_whole_window() {
        let reset = headers(&[("ratelimit-remaining", "0"), ("ratelimit-reset", "7")]);
        assert_eq!(reset_when_spent(&reset), Some(Duration::from_secs(7)));
        let hub = headers(&[
            ("ratelimit-limit", "100;w=21600"),
            ("ratelimit-remaining", "0;w=21600"),
        ]);
        assert_eq!(reset_when_spent(&hub), Some(Duration::from_secs(21_600)));
        let left = headers(&[("ratelimit-remaining", "76;w=21600")]);
        assert_eq!(reset_when_spent(&left), None);
        assert_eq!(reset_when_spent(&HeaderMap::new()), None);
    }
}
