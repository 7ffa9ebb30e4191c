//! Every way a Gemini call can fail, classified once into an [`ErrorKind`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pacer_core::{ErrorKind, ProviderError, civil_from_days, days_from_civil, parse_duration};

use super::wire::{ErrorReply, ErrorStatus};
use crate::http::{excerpt, redact};

/// Classifies a non-2xx reply from its status and its `{"error": {code, message, status,
/// details}}` body. `now` dates the daily quota's reset.
pub(crate) fn status(
    status: u16,
    body: &[u8],
    api_key: Option<&str>,
    now: SystemTime,
) -> ProviderError {
    let detail = serde_json::from_slice::<ErrorReply>(body)
        .ok()
        .map(|r| r.error);
    let code = detail
        .as_ref()
        .map(|d| d.status.as_str())
        .unwrap_or_default();
    let mut text = match &detail {
        Some(d) if !d.message.is_empty() => d.message.clone(),
        _ => excerpt(body, api_key),
    };
    let lower = text.to_ascii_lowercase();
    let daily = detail.as_ref().and_then(daily_quota);
    let reason = |what: &str| {
        detail
            .iter()
            .flat_map(|d| &d.details)
            .any(|d| d.reason.as_deref() == Some(what))
    };
    let kind = match status {
        401 | 403 => ErrorKind::Auth,
        400 if lower.contains("api key not valid") || reason("API_KEY_INVALID") => ErrorKind::Auth,
        404 => ErrorKind::NotFound,
        429 if daily.is_some() => ErrorKind::QuotaExhausted,
        429 => ErrorKind::RateLimited,
        400 | 413
            if lower.contains("exceeds the maximum number of tokens")
                || (lower.contains("token count") && lower.contains("exceed")) =>
        {
            ErrorKind::ContextLength
        }
        400..=499 => ErrorKind::BadRequest,
        503 => ErrorKind::Overloaded,
        504 => ErrorKind::Timeout,
        // 500 INTERNAL and every other 5xx.
        _ => ErrorKind::Server,
    };
    if let (ErrorKind::QuotaExhausted, Some(quota)) = (kind, &daily) {
        let wait = until_pacific_midnight(now);
        text = format!(
            "the daily quota {quota} is used up; it resets at midnight Pacific time, in {}. {text}",
            hours_minutes(wait)
        );
    }
    let label = if code.is_empty() {
        String::new()
    } else {
        format!(" {code}")
    };
    let mut error = ProviderError::new(
        kind,
        redact(&format!("HTTP {status}{label}: {text}"), api_key),
    )
    .with_status(status);
    if kind == ErrorKind::RateLimited {
        error.retry_after = detail.as_ref().and_then(retry_delay);
    }
    error
}

/// The wait a `RetryInfo` detail asks for (`"32s"`, `"1.5s"`).
fn retry_delay(status: &ErrorStatus) -> Option<Duration> {
    status
        .details
        .iter()
        .filter(|d| d.type_url.ends_with("google.rpc.RetryInfo") || d.retry_delay.is_some())
        .find_map(|d| parse_duration(d.retry_delay.as_deref()?))
}

/// The name of the first per-day quota a `QuotaFailure` detail says is used up.
fn daily_quota(status: &ErrorStatus) -> Option<String> {
    status
        .details
        .iter()
        .flat_map(|d| &d.violations)
        .find(|v| v.is_daily())
        .map(|v| {
            v.quota_id
                .clone()
                .or_else(|| v.quota_metric.clone())
                .unwrap_or_default()
        })
}

fn hours_minutes(wait: Duration) -> String {
    let minutes = wait.as_secs().div_ceil(60);
    format!("about {}h {:02}m", minutes / 60, minutes % 60)
}

/// How long from `now` until the next midnight in America/Los_Angeles, where Google's daily
/// quotas reset: UTC−8, or UTC−7 from the second Sunday of March (02:00 PST) to the first
/// Sunday of November (02:00 PDT). The offset is the one in force at that midnight, so a
/// switch between now and then is counted.
pub(crate) fn until_pacific_midnight(now: SystemTime) -> Duration {
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let utc = since_epoch.as_secs() as i64;
    let in_force = |utc: i64| {
        let year = civil_from_days(utc.div_euclid(86_400)).0;
        let dst_start = nth_sunday(year, 3, 2) * 86_400 + 10 * 3600;
        let dst_end = nth_sunday(year, 11, 1) * 86_400 + 9 * 3600;
        if (dst_start..dst_end).contains(&utc) {
            7 * 3600
        } else {
            8 * 3600
        }
    };
    let today = (utc - in_force(utc)).div_euclid(86_400);
    // Midnight is never within an hour of a switch, so an offset of either kind finds it.
    let midnight = (today + 1) * 86_400;
    let midnight_utc = midnight + in_force(midnight + 8 * 3600);
    let wait = Duration::from_secs((midnight_utc - utc) as u64);
    wait.saturating_sub(Duration::from_nanos(since_epoch.subsec_nanos().into()))
}

/// The day number (from 1970-01-01) of the `nth` Sunday of `month`.
fn nth_sunday(year: i64, month: u32, nth: i64) -> i64 {
    let first = days_from_civil(year, month, 1);
    // 1970-01-01 was a Thursday: weekday 4 with Sunday as 0.
    let weekday = (first + 4).rem_euclid(7);
    first + (7 - weekday) % 7 + 7 * (nth - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pacer_core::parse_rfc3339;

    fn at(text: &str) -> SystemTime {
        parse_rfc3339(text).unwrap()
    }

    #[test]
    fn calendar_round_trips() {
        for days in [-800_000, -1, 0, 59, 10_957, 19_782, 20_000, 2_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        // Second Sunday of March 2026 is the 8th; first Sunday of November the 1st.
        assert_eq!(civil_from_days(nth_sunday(2026, 3, 2)), (2026, 3, 8));
        assert_eq!(civil_from_days(nth_sunday(2026, 11, 1)), (2026, 11, 1));
        assert_eq!(civil_from_days(nth_sunday(2025, 3, 2)), (2025, 3, 9));
    }

    #[test]
    fn pacific_midnight_follows_daylight_saving() {
        let h = |hours: u64| Duration::from_secs(hours * 3600);
        // Winter: 08:00 UTC is midnight PST.
        assert_eq!(until_pacific_midnight(at("2026-01-15T08:00:00Z")), h(24));
        assert_eq!(until_pacific_midnight(at("2026-01-15T20:00:00Z")), h(12));
        // Summer: 07:00 UTC is midnight PDT.
        assert_eq!(
            until_pacific_midnight(at("2026-07-01T06:30:00Z")),
            Duration::from_secs(1800)
        );
        assert_eq!(
            until_pacific_midnight(at("2026-07-01T07:00:00.25Z")),
            h(24) - Duration::from_millis(250)
        );
        // Either side of the switches (02:00 local).
        assert_eq!(
            until_pacific_midnight(at("2026-03-08T09:59:00Z")),
            h(21) + Duration::from_secs(60)
        );
        assert_eq!(until_pacific_midnight(at("2026-03-08T10:00:00Z")), h(21));
        assert_eq!(
            until_pacific_midnight(at("2026-11-01T08:59:00Z")),
            h(23) + Duration::from_secs(60)
        );
        assert_eq!(until_pacific_midnight(at("2026-11-01T09:00:00Z")), h(23));
    }
}
