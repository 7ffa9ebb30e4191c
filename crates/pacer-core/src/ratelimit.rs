//! What a server says about its rate limits in a reply's headers, parsed once at the
//! provider's edge so the limiter can learn from it.
//!
//! OpenAI and the servers that copy it send `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`
//! on every reply, resets written as Go durations (`6m0s`, `1s`, `20ms`), and `retry-after`
//! (seconds) or `retry-after-ms` on a 429. Anthropic sends
//! `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}`,
//! resets written as RFC 3339 timestamps.

use std::time::{Duration, SystemTime};

/// One limit as the server reported it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimitReading {
    /// The per-minute limit.
    pub limit: Option<u64>,
    /// Units the server would still admit right now.
    pub remaining: Option<u64>,
    /// Time until the limit is fully replenished.
    pub reset: Option<Duration>,
}

impl LimitReading {
    /// Whether the server said nothing about this limit.
    pub fn is_empty(&self) -> bool {
        self.limit.is_none() && self.remaining.is_none() && self.reset.is_none()
    }

    /// Whether the server says nothing more may go now.
    pub fn is_exhausted(&self) -> bool {
        self.remaining == Some(0)
    }
}

/// Every limit a reply's headers reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimitInfo {
    /// Requests per minute.
    pub requests: LimitReading,
    /// Tokens per minute.
    pub tokens: LimitReading,
    /// Input tokens per minute (Anthropic).
    pub input_tokens: LimitReading,
    /// Output tokens per minute (Anthropic).
    pub output_tokens: LimitReading,
}

impl RateLimitInfo {
    /// Reads the `x-ratelimit-*` headers from `headers` (names in any case); `None` when the
    /// reply carried none.
    ///
    /// ```
    /// use std::time::Duration;
    /// use pacer_core::RateLimitInfo;
    ///
    /// let info = RateLimitInfo::from_headers([
    ///     ("x-ratelimit-limit-requests", "1200"),
    ///     ("x-ratelimit-remaining-requests", "1199"),
    ///     ("x-ratelimit-reset-requests", "50ms"),
    ///     ("x-ratelimit-reset-tokens", "6m0s"),
    /// ]).unwrap();
    /// assert_eq!(info.requests.limit, Some(1200));
    /// assert_eq!(info.requests.reset, Some(Duration::from_millis(50)));
    /// assert_eq!(info.tokens.reset, Some(Duration::from_secs(360)));
    /// ```
    pub fn from_headers<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<Self> {
        let mut info = RateLimitInfo::default();
        let mut any = false;
        for (name, value) in headers {
            let Some(rest) = strip_prefix_ignore_case(name, "x-ratelimit-") else {
                continue;
            };
            let rest = rest.to_ascii_lowercase();
            let Some((field, dimension)) = rest.split_once('-') else {
                continue;
            };
            let reading = match dimension {
                "requests" => &mut info.requests,
                "tokens" => &mut info.tokens,
                "input-tokens" => &mut info.input_tokens,
                "output-tokens" => &mut info.output_tokens,
                _ => continue,
            };
            let value = value.trim();
            match field {
                "limit" => reading.limit = parse_count(value),
                "remaining" => reading.remaining = parse_count(value),
                "reset" => reading.reset = parse_duration(value),
                _ => continue,
            }
            any = true;
        }
        any.then_some(info)
    }

    /// Reads Anthropic's `anthropic-ratelimit-*` headers (names in any case); `None` when the
    /// reply carried none. Resets are absolute RFC 3339 times, turned into waits from `now`
    /// (zero when already past).
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use pacer_core::{RateLimitInfo, parse_rfc3339};
    ///
    /// let now = parse_rfc3339("2026-11-24T03:00:00Z").unwrap();
    /// let info = RateLimitInfo::from_anthropic_headers([
    ///     ("anthropic-ratelimit-requests-limit", "50"),
    ///     ("anthropic-ratelimit-requests-remaining", "49"),
    ///     ("anthropic-ratelimit-requests-reset", "2026-11-24T03:00:30Z"),
    ///     ("anthropic-ratelimit-input-tokens-reset", "2026-11-24T02:59:59Z"),
    /// ], now).unwrap();
    /// assert_eq!(info.requests.limit, Some(50));
    /// assert_eq!(info.requests.reset, Some(Duration::from_secs(30)));
    /// assert_eq!(info.input_tokens.reset, Some(Duration::ZERO));
    /// ```
    pub fn from_anthropic_headers<'a>(
        headers: impl IntoIterator<Item = (&'a str, &'a str)>,
        now: SystemTime,
    ) -> Option<Self> {
        let mut info = RateLimitInfo::default();
        let mut any = false;
        for (name, value) in headers {
            let Some(rest) = strip_prefix_ignore_case(name, "anthropic-ratelimit-") else {
                continue;
            };
            let rest = rest.to_ascii_lowercase();
            let Some((dimension, field)) = rest.rsplit_once('-') else {
                continue;
            };
            let reading = match dimension {
                "requests" => &mut info.requests,
                "tokens" => &mut info.tokens,
                "input-tokens" => &mut info.input_tokens,
                "output-tokens" => &mut info.output_tokens,
                _ => continue,
            };
            let value = value.trim();
            match field {
                "limit" => reading.limit = parse_count(value),
                "remaining" => reading.remaining = parse_count(value),
                "reset" => {
                    reading.reset = crate::parse_rfc3339(value)
                        .map(|at| at.duration_since(now).unwrap_or(Duration::ZERO))
                }
                _ => continue,
            }
            any = true;
        }
        any.then_some(info)
    }

    /// The readings, with the dimension each is about.
    pub fn readings(&self) -> [(LimitDimension, LimitReading); 4] {
        [
            (LimitDimension::Requests, self.requests),
            (LimitDimension::Tokens, self.tokens),
            (LimitDimension::InputTokens, self.input_tokens),
            (LimitDimension::OutputTokens, self.output_tokens),
        ]
    }

    /// The longest reset among the limits the server says are used up: how long to wait
    /// after a 429 that carried no `retry-after`.
    pub fn exhausted_reset(&self) -> Option<Duration> {
        self.readings()
            .into_iter()
            .filter(|(_, r)| r.is_exhausted())
            .filter_map(|(_, r)| r.reset)
            .max()
    }
}

/// Which limit a [`LimitReading`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LimitDimension {
    /// Requests per minute.
    Requests,
    /// Tokens per minute.
    Tokens,
    /// Input tokens per minute.
    InputTokens,
    /// Output tokens per minute.
    OutputTokens,
}

/// The wait a refusal asks for: `retry-after-ms` (milliseconds, preferred), else
/// `retry-after` in seconds. An HTTP date is not honoured (no provider sends one).
///
/// ```
/// use std::time::Duration;
/// use pacer_core::retry_after;
///
/// assert_eq!(retry_after([("Retry-After", "2")]), Some(Duration::from_secs(2)));
/// assert_eq!(retry_after([("retry-after", "2"), ("retry-after-ms", "1500")]), Some(Duration::from_millis(1500)));
/// assert_eq!(retry_after([("retry-after", "soon")]), None);
/// ```
pub fn retry_after<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<Duration> {
    let mut seconds = None;
    let mut millis = None;
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("retry-after-ms") {
            millis = parse_seconds(value.trim()).map(|ms| ms / 1000.0);
        } else if name.eq_ignore_ascii_case("retry-after") {
            seconds = parse_seconds(value.trim());
        }
    }
    millis
        .or(seconds)
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(86_400.0)))
}

/// Parses a reset time: a Go duration (`1h2m3.5s`, `6m0s`, `20ms`, `150us`) or plain seconds
/// (`1.5`).
///
/// ```
/// use std::time::Duration;
/// use pacer_core::parse_duration;
///
/// assert_eq!(parse_duration("6m0s"), Some(Duration::from_secs(360)));
/// assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
/// assert_eq!(parse_duration("20ms"), Some(Duration::from_millis(20)));
/// assert_eq!(parse_duration("1h0m0s"), Some(Duration::from_secs(3600)));
/// assert_eq!(parse_duration("0.25"), Some(Duration::from_millis(250)));
/// assert_eq!(parse_duration("later"), None);
/// ```
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Some(seconds) = parse_seconds(text) {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let mut total = 0.0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_end == 0 {
            return None;
        }
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += number * scale;
        rest = &rest[unit_end..];
    }
    total
        .is_finite()
        .then(|| Duration::from_secs_f64(total.min(86_400.0 * 365.0)))
}

fn parse_seconds(text: &str) -> Option<f64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    text.parse().ok()
}

fn parse_count(text: &str) -> Option<u64> {
    text.parse()
        .ok()
        .or_else(|| text.parse::<f64>().ok().map(|v| v.max(0.0) as u64))
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_openai_headers_in_any_case_and_ignores_others() {
        let info = RateLimitInfo::from_headers([
            ("X-RateLimit-Limit-Tokens", "60000"),
            ("x-ratelimit-remaining-tokens", "59850"),
            ("x-ratelimit-reset-tokens", "150ms"),
            ("x-ratelimit-limit-requests", "not a number"),
            ("content-type", "application/json"),
        ])
        .unwrap();
        assert_eq!(
            info.tokens,
            LimitReading {
                limit: Some(60000),
                remaining: Some(59850),
                reset: Some(Duration::from_millis(150)),
            }
        );
        assert_eq!(info.requests.limit, None);
        assert!(RateLimitInfo::from_headers([("content-type", "x")]).is_none());
    }

    #[test]
    fn exhausted_reset_picks_the_used_up_limit() {
        let info = RateLimitInfo::from_headers([
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "2s"),
            ("x-ratelimit-remaining-tokens", "10"),
            ("x-ratelimit-reset-tokens", "30s"),
        ])
        .unwrap();
        assert_eq!(info.exhausted_reset(), Some(Duration::from_secs(2)));
    }

    #[test]
    fn reads_anthropic_headers_and_resets_from_now() {
        let now = crate::parse_rfc3339("2026-11-24T03:00:00.5Z").unwrap();
        let info = RateLimitInfo::from_anthropic_headers(
            [
                ("Anthropic-RateLimit-Tokens-Limit", "80000"),
                ("anthropic-ratelimit-tokens-remaining", "79000"),
                ("anthropic-ratelimit-tokens-reset", "2026-11-24T03:01:00Z"),
                ("anthropic-ratelimit-output-tokens-remaining", "0"),
                (
                    "anthropic-ratelimit-output-tokens-reset",
                    "2026-11-24T03:00:02Z",
                ),
                ("anthropic-ratelimit-requests-reset", "in a bit"),
                ("anthropic-ratelimit-unified-status", "allowed"),
                ("x-ratelimit-limit-requests", "9"),
            ],
            now,
        )
        .unwrap();
        assert_eq!(
            info.tokens,
            LimitReading {
                limit: Some(80000),
                remaining: Some(79000),
                reset: Some(Duration::from_millis(59_500)),
            }
        );
        assert_eq!(info.requests, LimitReading::default());
        assert_eq!(info.exhausted_reset(), Some(Duration::from_millis(1500)));
        assert!(
            RateLimitInfo::from_anthropic_headers([("x-ratelimit-limit-requests", "9")], now)
                .is_none()
        );
    }

    #[test]
    fn go_durations_with_fractions_and_every_unit() {
        assert_eq!(
            parse_duration("1m30.5s"),
            Some(Duration::from_millis(90_500))
        );
        assert_eq!(parse_duration("150us"), Some(Duration::from_micros(150)));
        assert_eq!(parse_duration("7ns"), Some(Duration::from_nanos(7)));
        assert_eq!(parse_duration("3x"), None);
        assert_eq!(parse_duration("ms"), None);
        assert_eq!(parse_duration(""), None);
    }
}
