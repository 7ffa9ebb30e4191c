//! The lane's guarantees, on tokio's paused clock.

use std::collections::HashSet;
use std::num::{NonZeroU64, NonZeroUsize};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use pacer_core::{
    Accounting, Choice, ErrorKind, FinishReason, Provider, ProviderError, Request, Response, Usage,
};
use pacer_engine::{
    AttemptSchedule, Event, Lane, LaneConfig, Middleware, Observer, RetryPolicy, WorkItem,
};
use pacer_limit::{Limiter, LimiterConfig, Limits};
use pacer_providers::{MockConfig, MockProvider};
use tokio::time::Instant;

fn ok(text: &str) -> Response {
    Response {
        model_version: None,
        choices: vec![Choice {
            text: text.into(),
            finish_reason: FinishReason::Stop,
            logprobs: None,
            parsed: None,
        }],
        usage: Usage {
            input_tokens: 10,
            output_tokens: 5,
            ..Usage::default()
        },
        rate_limits: None,
    }
}

/// A provider whose answer is scripted by a closure over (call number, request).
struct Scripted<F>(F, AtomicU64);

impl<F> Scripted<F>
where
    F: Fn(u64, &Request) -> Result<Response, ProviderError> + Send + Sync,
{
    fn new(f: F) -> Arc<Self> {
        Arc::new(Self(f, AtomicU64::new(0)))
    }
}

#[async_trait]
impl<F> Provider for Scripted<F>
where
    F: Fn(u64, &Request) -> Result<Response, ProviderError> + Send + Sync,
{
    fn kind(&self) -> &'static str {
        "scripted"
    }
    fn accounting(&self) -> Accounting {
        Accounting::Actual
    }
    async fn send(&self, request: &Request) -> Result<Response, ProviderError> {
        let call = self.1.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
        (self.0)(call, request)
    }
}

fn config(concurrency: usize) -> LaneConfig {
    let mut config = LaneConfig::new("test");
    config.concurrency = NonZeroUsize::new(concurrency).unwrap();
    config.jitter_seed = Some(7);
    config
}

fn items(n: usize) -> Vec<WorkItem<usize>> {
    (0..n)
        .map(|i| {
            WorkItem::prompt(
                format!("item-{i}"),
                Request::text("m", None, &format!("prompt {i}")),
                i,
            )
        })
        .collect()
}

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
async fn one_cooldown_per_rate_limit_event() {
    // Everything sent in the first 250 ms is refused: 20 requests in flight, one event.
    let t0 = Instant::now();
    let provider = Scripted::new(move |_, _| {
        if t0.elapsed() < Duration::from_millis(250) {
            Err(ProviderError::new(ErrorKind::RateLimited, "slow down")
                .with_retry_after(Duration::from_secs(2)))
        } else {
            Ok(ok("fine"))
        }
    });
    let lane = Lane::builder(config(20), provider).build();
    let stats = lane.process_all(items(20), |o| assert!(o.is_ok())).await;
    assert_eq!(stats.rate_limited_requests, 20);
    assert_eq!(stats.rate_limit_events, 1);
    assert_eq!(lane.limiter().cooldowns(), 1);
    assert_eq!(stats.succeeded, 20);
    // The pause was honoured: 100 ms to the 429, 2 s of pause, 100 ms to the reply.
    assert!(
        t0.elapsed() >= Duration::from_millis(2_200),
        "{:?}",
        t0.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn rate_limits_do_not_use_up_error_retries() {
    let provider = Scripted::new(|call, _| {
        if call < 5 {
            Err(ProviderError::new(ErrorKind::RateLimited, "429")
                .with_retry_after(Duration::from_millis(10)))
        } else {
            Ok(ok("at last"))
        }
    });
    let mut cfg = config(1);
    cfg.retry.max_retries = 0;
    let lane = Lane::builder(cfg, provider).build();
    let mut attempts = 0;
    let stats = lane
        .process_all(items(1), |o| {
            assert!(o.is_ok());
            attempts = o.attempts;
        })
        .await;
    assert_eq!((stats.succeeded, stats.retries, attempts), (1, 0, 6));
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
async fn progressive_temperature_until_the_output_is_valid() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let provider = Scripted::new(move |_, request: &Request| {
        let t = request.params.temperature.unwrap();
        log.lock().unwrap().push(t);
        if t < 0.5 {
            Err(
                ProviderError::new(ErrorKind::InvalidOutput, "not JSON").with_usage(Usage {
                    input_tokens: 10,
                    output_tokens: 3,
                    ..Usage::default()
                }),
            )
        } else {
            Ok(ok("{}"))
        }
    });
    let mut cfg = config(1);
    cfg.schedule = AttemptSchedule {
        temperature: vec![0.0, 0.25, 0.5],
    };
    let lane = Lane::builder(cfg, provider).build();
    let mut usage = Usage::default();
    lane.process_all(items(1), |o| {
        assert!(o.is_ok());
        assert_eq!(o.request.unwrap().params.temperature, Some(0.5));
        usage = o.usage_all_attempts;
    })
    .await;
    assert_eq!(*seen.lock().unwrap(), [0.0, 0.25, 0.5]);
    // Usage counts the two failed attempts too.
    assert_eq!((usage.input_tokens, usage.output_tokens), (30, 11));
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
async fn factories_and_direct_calls_see_their_attempt_numbers() {
    let lane = Lane::builder(config(2), Arc::new(MockProvider::default())).build();
    let factory = WorkItem::factory(
        "factory",
        |attempt| {
            let mut r = Request::text("m", None, "hi");
            r.params.temperature = Some(f64::from(attempt.number));
            r
        },
        0,
    );
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let direct = WorkItem::direct(
        "direct",
        move |attempt| {
            counter.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                if attempt.number < 3 {
                    Err(ProviderError::new(ErrorKind::Server, "flaky"))
                } else {
                    Ok(ok("direct"))
                }
            })
        },
        1,
    );
    let mut outcomes = Vec::new();
    lane.process_all(vec![factory, direct], |o| outcomes.push(o))
        .await;
    outcomes.sort_by_key(|o| o.context);
    assert_eq!(
        outcomes[0].request.as_ref().unwrap().params.temperature,
        Some(1.0)
    );
    assert!(outcomes[1].is_ok());
    assert_eq!((outcomes[1].attempts, calls.load(Ordering::SeqCst)), (3, 3));
}

#[tokio::test(start_paused = true)]
async fn middleware_sees_every_request_and_reply() {
    #[derive(Default)]
    struct Tag(AtomicU32, AtomicU32);
    #[async_trait]
    impl Middleware for Tag {
        async fn before(&self, _: &str, request: &mut Request) {
            self.0.fetch_add(1, Ordering::SeqCst);
            request.params.stop.push("END".into());
        }
        async fn after(&self, _: &str, _: &Result<Response, ProviderError>) {
            self.1.fetch_add(1, Ordering::SeqCst);
        }
    }
    let tag = Arc::new(Tag::default());
    let lane = Lane::builder(config(3), Arc::new(MockProvider::default()))
        .middleware(tag.clone())
        .build();
    lane.process_all(items(5), |o| {
        assert_eq!(o.request.unwrap().params.stop, ["END"]);
    })
    .await;
    assert_eq!(
        (tag.0.load(Ordering::SeqCst), tag.1.load(Ordering::SeqCst)),
        (5, 5)
    );
}

#[tokio::test(start_paused = true)]
async fn the_limiter_paces_the_lane() {
    let limiter = Arc::new(Limiter::new(LimiterConfig {
        burst: Duration::from_secs(2),
        headroom: 1.0,
        ..LimiterConfig::new(Limits {
            rpm: NonZeroU64::new(600),
            ..Limits::default()
        })
    }));
    let lane = Lane::builder(config(50), Arc::new(MockProvider::default()))
        .limiter(limiter)
        .build();
    let start = Instant::now();
    lane.process_all(items(120), |_| {}).await;
    // 20 in the burst, then 10 a second.
    assert_eq!(start.elapsed().as_secs(), 10);
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
