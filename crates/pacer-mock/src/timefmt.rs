//! Times as providers write them: Go durations (OpenAI's reset headers) and RFC 3339 UTC
//! timestamps (Anthropic's and Gemini's), written by hand: too small a need for a date crate.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pacer_core::civil_from_days;

/// `d` rounded up to whole milliseconds.
pub(crate) fn ceil_millis(d: Duration) -> u64 {
    let nanos = d.as_nanos();
    nanos.div_ceil(1_000_000).try_into().unwrap_or(u64::MAX)
}

/// `d` rounded up to whole seconds, at least one: what a client told to retry after `d`
/// must wait at the least (a wait of 0 would make it spin).
pub(crate) fn ceil_seconds(d: Duration) -> u64 {
    ceil_millis(d).div_ceil(1000).max(1)
}

/// `d`, rounded up to milliseconds, as Go prints durations and OpenAI sends its reset
/// headers: `0s`, `20ms`, `1.5s`, `1m2s`, `1h0m0s`.
pub(crate) fn go_duration(d: Duration) -> String {
    let ms = ceil_millis(d);
    if ms == 0 {
        return "0s".into();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let mut out = String::with_capacity(12);
    let hours = ms / 3_600_000;
    let minutes = ms / 60_000 % 60;
    let seconds = ms / 1000 % 60;
    let fraction = ms % 1000;
    if hours > 0 {
        let _ = write!(out, "{hours}h");
    }
    if hours > 0 || minutes > 0 {
        let _ = write!(out, "{minutes}m");
    }
    let _ = write!(out, "{seconds}");
    if fraction > 0 {
        let digits = format!("{fraction:03}");
        let _ = write!(out, ".{}", digits.trim_end_matches('0'));
    }
    out.push('s');
    out
}

/// `t` as an RFC 3339 UTC timestamp in whole seconds, rounded up so that a client waiting
/// until then never comes early: `2026-11-24T03:00:30Z`, as Anthropic writes its resets.
pub(crate) fn rfc3339_ceil(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    civil(since.as_secs() + u64::from(since.subsec_nanos() > 0))
}

/// `t` as an RFC 3339 UTC timestamp in whole seconds, rounded down: when something
/// happened, as the batch APIs write their times.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    civil(t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs())
}

/// `seconds` since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ`.
fn civil(seconds: u64) -> String {
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use pacer_core::parse_rfc3339;

    #[test]
    fn go_durations() {
        let ms = Duration::from_millis;
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(go_duration(Duration::from_nanos(1)), "1ms");
        assert_eq!(go_duration(ms(20)), "20ms");
        assert_eq!(go_duration(ms(999)), "999ms");
        assert_eq!(go_duration(ms(1000)), "1s");
        assert_eq!(go_duration(ms(1500)), "1.5s");
        assert_eq!(go_duration(ms(1020)), "1.02s");
        assert_eq!(go_duration(ms(60_000)), "1m0s");
        assert_eq!(go_duration(ms(62_000)), "1m2s");
        assert_eq!(go_duration(ms(90_250)), "1m30.25s");
        assert_eq!(go_duration(ms(3_600_000)), "1h0m0s");
        assert_eq!(go_duration(ms(3_723_000)), "1h2m3s");
    }

    #[test]
    fn whole_seconds_round_up() {
        assert_eq!(ceil_seconds(Duration::ZERO), 1);
        assert_eq!(ceil_seconds(Duration::from_millis(1)), 1);
        assert_eq!(ceil_seconds(Duration::from_millis(1000)), 1);
        assert_eq!(ceil_seconds(Duration::from_millis(1001)), 2);
        assert_eq!(ceil_seconds(Duration::from_secs(12)), 12);
    }

    #[test]
    fn rfc3339_round_trips_through_the_core_parser() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_489_230);
        assert_eq!(rfc3339_ceil(t), "2026-11-24T03:00:30Z");
        assert_eq!(
            rfc3339_ceil(t + Duration::from_millis(1)),
            "2026-11-24T03:00:31Z"
        );
        assert_eq!(rfc3339_ceil(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(t + Duration::from_millis(999)),
            "2026-11-24T03:00:30Z"
        );
        for (text, secs) in [
            ("2024-02-29T23:59:59Z", 1_709_251_199),
            ("2000-03-01T00:00:00Z", 951_868_800),
            ("2099-12-31T12:34:56Z", 4_102_403_696),
        ] {
            let t = UNIX_EPOCH + Duration::from_secs(secs);
            assert_eq!(rfc3339_ceil(t), text);
            assert_eq!(parse_rfc3339(text), Some(t), "{text}");
        }
    }
}
