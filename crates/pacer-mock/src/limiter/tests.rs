//! The buckets' arithmetic, on a clock the tests move by hand.

use super::*;
use crate::timefmt::{ceil_millis, go_duration};

fn config(rpm: Option<u64>, tpm: Option<u64>) -> MockServerConfig {
    MockServerConfig {
        rpm,
        tpm,
        window: Duration::from_secs(1),
        ..MockServerConfig::default()
    }
}

fn tokens(n: u64) -> Cost {
    Cost {
        tokens: n,
        ..Cost::default()
    }
}

fn limited(verdict: Result<(), Refusal>) -> Limited {
    match verdict {
        Err(Refusal::Limited(limited)) => limited,
        other => panic!("not limited: {other:?}"),
    }
}

#[test]
fn request_bucket_refuses_then_refills() {
    let t0 = Instant::now();
    // 120 rpm over 1 s: a bucket of 2, refilling 2 per second.
    let limiter = Limiter::new(&config(Some(120), None));
    let (ok, r) = limiter.admit(t0, "m", &tokens(10));
    assert_eq!(ok, Ok(()));
    let requests = r.get(Dimension::Requests).unwrap();
    assert_eq!((requests.remaining, requests.limit), (1, 120));
    assert_eq!(requests.reset, Duration::from_millis(500));
    assert!(r.get(Dimension::Tokens).is_none());
    assert_eq!(limiter.admit(t0, "m", &tokens(10)).0, Ok(()));
    let (refused, r) = limiter.admit(t0, "m", &tokens(10));
    let refused = limited(refused);
    assert_eq!(refused.dimension, Dimension::Requests);
    assert_eq!(ceil_millis(refused.retry_after), 500);
    assert_eq!((refused.used, refused.requested), (120, 1));
    assert_eq!(r.get(Dimension::Requests).unwrap().remaining, 0);
    let later = t0 + Duration::from_millis(500);
    assert_eq!(limiter.admit(later, "m", &tokens(10)).0, Ok(()));
}

#[test]
fn full_bucket_admits_a_big_request_once_leaving_debt() {
    let t0 = Instant::now();
    // 600 tpm over 1 s: a bucket of 10 tokens, refilling 10 per second.
    let limiter = Limiter::new(&config(None, Some(600)));
    assert_eq!(limiter.admit(t0, "m", &tokens(25)).0, Ok(()));
    let (refused, r) = limiter.admit(t0 + Duration::from_secs(1), "m", &tokens(5));
    let refused = limited(refused);
    assert_eq!(refused.dimension, Dimension::Tokens);
    // Level -5 after 1 s; 5 needed: 1 s more.
    assert_eq!(ceil_millis(refused.retry_after), 1000);
    let reading = r.get(Dimension::Tokens).unwrap();
    assert_eq!(reading.remaining, 0);
    assert_eq!(go_duration(reading.reset), "1.5s");
}

#[test]
fn quota_refuses_once_spent_without_charging() {
    let t0 = Instant::now();
    let limiter = Limiter::new(&MockServerConfig {
        quota_tokens: Some(100),
        ..MockServerConfig::default()
    });
    assert_eq!(limiter.admit(t0, "m", &tokens(60)).0, Ok(()));
    assert_eq!(limiter.admit(t0, "m", &tokens(60)).0, Ok(()));
    assert_eq!(limiter.admit(t0, "m", &tokens(1)).0, Err(Refusal::Quota));
    assert_eq!(limiter.admit(t0, "m", &tokens(1)).1, Readings::default());
    // A refund lifts the account back under the quota.
    limiter.refund(t0, "m", &tokens(30));
    assert_eq!(limiter.admit(t0, "m", &tokens(1)).0, Ok(()));
}

#[test]
fn unlimited_is_free() {
    let t0 = Instant::now();
    let limiter = Limiter::new(&MockServerConfig::default());
    assert!(limiter.state.is_none());
    assert_eq!(
        limiter.admit(t0, "m", &tokens(1_000_000)),
        (Ok(()), Readings::default())
    );
}

#[test]
fn each_model_has_its_own_buckets() {
    let t0 = Instant::now();
    // A bucket of one request per model.
    let limiter = Limiter::new(&config(Some(60), None));
    assert_eq!(limiter.admit(t0, "a", &tokens(1)).0, Ok(()));
    assert!(limiter.admit(t0, "a", &tokens(1)).0.is_err());
    assert_eq!(limiter.admit(t0, "b", &tokens(1)).0, Ok(()));
}

#[test]
fn input_and_output_buckets_count_only_requests_that_name_them() {
    let t0 = Instant::now();
    // 600 itpm and 1200 otpm over 1 s: buckets of 10 input and 20 output tokens.
    let limiter = Limiter::new(&MockServerConfig {
        itpm: Some(600),
        otpm: Some(1200),
        window: Duration::from_secs(1),
        ..MockServerConfig::default()
    });
    let anthropic = |input, output| Cost {
        tokens: input + output,
        input: Some(input),
        output: Some(output),
    };
    let (ok, r) = limiter.admit(t0, "m", &anthropic(4, 16));
    assert_eq!(ok, Ok(()));
    assert_eq!(r.get(Dimension::InputTokens).unwrap().remaining, 6);
    assert_eq!(r.get(Dimension::OutputTokens).unwrap().remaining, 4);
    // Past the output bucket: refused on output, nothing charged.
    let refused = limited(limiter.admit(t0, "m", &anthropic(1, 16)).0);
    assert_eq!(refused.dimension, Dimension::OutputTokens);
    assert_eq!((refused.limit, refused.requested), (1200, 16));
    assert_eq!(ceil_millis(refused.retry_after), 600);
    // The reply used 2 of its 16: 14 come back.
    let r = limiter.refund(
        t0,
        "m",
        &Cost {
            tokens: 14,
            input: None,
            output: Some(14),
        },
    );
    assert_eq!(r.get(Dimension::OutputTokens).unwrap().remaining, 18);
    assert_eq!(r.get(Dimension::InputTokens).unwrap().remaining, 6);
    assert_eq!(limiter.admit(t0, "m", &anthropic(1, 16)).0, Ok(()));
    // A request of a protocol without these limits passes them by.
    assert_eq!(limiter.admit(t0, "m", &tokens(1000)).0, Ok(()));
}

#[test]
fn the_refusal_names_the_bucket_that_waits_longest() {
    let t0 = Instant::now();
    // Buckets of 2 requests (2 a second) and 1 input token (1 a second).
    let limiter = Limiter::new(&MockServerConfig {
        rpm: Some(120),
        itpm: Some(60),
        window: Duration::from_secs(1),
        ..MockServerConfig::default()
    });
    let cost = Cost {
        tokens: 1,
        input: Some(1),
        output: None,
    };
    assert_eq!(limiter.admit(t0, "m", &cost).0, Ok(()));
    let refused = limited(limiter.admit(t0, "m", &cost).0);
    assert_eq!(refused.dimension, Dimension::InputTokens);
    assert_eq!(ceil_millis(refused.retry_after), 1000);
    assert_eq!(refused.dimension.as_str(), "input_tokens");
}
