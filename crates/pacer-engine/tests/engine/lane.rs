//! The lane's guarantees, on tokio's paused clock: no record lost, errors recorded once with
//! their kind, an auth error stopping the lane, retries capped, backoff and timeouts.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use async_trait::async_trait;
use pacer_core::{Accounting, ErrorKind, Provider, ProviderError, Request, Response};
use pacer_engine::{Event, Lane, Observer, RetryPolicy};
use pacer_providers::{MockConfig, MockProvider};
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn no_record_lost_with_200_items_on_20_workers() {
    let mock = MockProvider::new(MockConfig {
        latency: Duration::from_millis(50),
        fail_rate: 0.3,
        ..MockConfig::default()
    });
    let mut cfg = config(20);
    cfg.retry.max_retries = 1;
    let lane = Lane::builder(cfg, Arc::new(mock)).build();
    let mut seen = HashSet::new();
    let stats = lane
        .process_all(items(200), |o| {
            assert!(seen.insert(o.context), "twice: {}", o.id)
        })
        .await;
    assert_eq!(seen.len(), 200);
    assert_eq!(stats.total, 200);
    assert_eq!(stats.total, stats.succeeded + stats.failed);
    assert!(stats.failed > 0 && stats.retries > 0, "{stats:?}");
    assert_eq!(
        stats
            .error_counts
            .get(&ErrorKind::Server)
            .copied()
            .unwrap_or(0),
        stats.failed
    );
}

#[tokio::test(start_paused = true)]
async fn auth_error_stops_the_lane_and_leaves_the_rest_pending() {
    let provider = Scripted::new(|_, _| {
        Err(ProviderError::new(ErrorKind::Auth, "invalid key").with_status(401))
    });
    let lane = Lane::builder(config(4), provider.clone()).build();
    let mut outcomes = 0;
    let stats = lane.process_all(items(100), |_| outcomes += 1).await;
    assert_eq!(outcomes, 0);
    assert_eq!(stats.total, 0);
    assert_eq!(stats.pending, 4);
    // Only what was in flight was sent: the other 96 were never taken.
    assert_eq!(provider.1.load(Ordering::SeqCst), 4);
    let reason = lane.stopped().unwrap();
    assert_eq!(reason.kind, Some(ErrorKind::Auth));
    assert!(
        reason.message.contains("HTTP 401") && reason.message.contains("API key"),
        "{}",
        reason.message
    );
}

#[tokio::test(start_paused = true)]
async fn backoff_is_never_shorter_than_retry_after() {
    let provider = Scripted::new(|call, _| {
        if call == 0 {
            Err(ProviderError::new(ErrorKind::Overloaded, "busy")
                .with_retry_after(Duration::from_secs(30)))
        } else {
            Ok(ok("ok"))
        }
    });
    let lane = Lane::builder(config(1), provider).build();
    let start = Instant::now();
    let stats = lane.process_all(items(1), |_| {}).await;
    assert_eq!((stats.succeeded, stats.retries), (1, 1));
    assert!(start.elapsed() >= Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn a_slow_reply_times_out_and_is_retried() {
    struct Slow(AtomicU32);
    #[async_trait]
    impl Provider for Slow {
        fn kind(&self) -> &'static str {
            "slow"
        }
        fn accounting(&self) -> Accounting {
            Accounting::Actual
        }
        async fn send(&self, _: &Request) -> Result<Response, ProviderError> {
            if self.0.fetch_add(1, Ordering::SeqCst) == 0 {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            Ok(ok("second time"))
        }
    }
    let mut cfg = config(1);
    cfg.timeout = Duration::from_secs(5);
    let lane = Lane::builder(cfg, Arc::new(Slow(AtomicU32::new(0)))).build();
    let mut kinds = Vec::new();
    struct Kinds(Arc<Mutex<Vec<ErrorKind>>>);
    impl Observer for Kinds {
        fn on_event(&self, event: &Event<'_>) {
            if let Event::Retried { kind, .. } = event {
                self.0.lock().unwrap().push(*kind);
            }
        }
    }
    let retried = Arc::new(Mutex::new(Vec::new()));
    let lane_with_observer = Lane::builder(
        {
            let mut c = config(1);
            c.timeout = Duration::from_secs(5);
            c
        },
        Arc::new(Slow(AtomicU32::new(0))),
    )
    .observer(Arc::new(Kinds(retried.clone())))
    .build();
    lane.process_all(items(1), |o| kinds.push(o.is_ok())).await;
    assert_eq!(kinds, [true]);
    lane_with_observer
        .process_all(items(1), |o| assert!(o.is_ok()))
        .await;
    assert_eq!(*retried.lock().unwrap(), [ErrorKind::Timeout]);
}

#[tokio::test(start_paused = true)]
async fn final_errors_are_recorded_once_with_their_kind() {
    let provider = Scripted::new(|_, _| {
        Err(ProviderError::new(ErrorKind::ContextLength, "too long").with_status(400))
    });
    let lane = Lane::builder(config(2), provider.clone()).build();
    let mut errors = Vec::new();
    let stats = lane
        .process_all(items(3), |o| errors.push(o.result.unwrap_err().kind))
        .await;
    assert_eq!(errors, [ErrorKind::ContextLength; 3]);
    assert_eq!((stats.failed, stats.retries), (3, 0));
    assert_eq!(provider.1.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn retry_policy_caps_error_retries() {
    let provider =
        Scripted::new(|_, _| Err(ProviderError::new(ErrorKind::Server, "down").with_status(503)));
    let mut cfg = config(1);
    cfg.retry = RetryPolicy {
        max_retries: 2,
        ..RetryPolicy::default()
    };
    let lane = Lane::builder(cfg, provider.clone()).build();
    let mut attempts = 0;
    lane.process_all(items(1), |o| attempts = o.attempts).await;
    assert_eq!((attempts, provider.1.load(Ordering::SeqCst)), (3, 3));
}
