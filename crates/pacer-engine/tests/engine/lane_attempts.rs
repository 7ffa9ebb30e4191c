//! What each attempt of the lane sends, on tokio's paused clock: the temperature schedule,
//! factories and direct calls told their attempt number, and middleware around every call.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use crate::common::*;
use async_trait::async_trait;
use pacer_core::{ErrorKind, ProviderError, Request, Response, Usage};
use pacer_engine::{AttemptSchedule, Lane, Middleware, WorkItem};
use pacer_providers::MockProvider;

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

/// Records every event the lane emits, in words.
#[derive(Default)]
struct Log(Mutex<Vec<String>>);

impl pacer_engine::Observer for Log {
    fn on_event(&self, event: &pacer_engine::Event<'_>) {
        use pacer_engine::Event;
        let line = match event {
            Event::LimitChanged {
                dimension,
                from,
                to,
                ..
            } => format!("{dimension} {from:?} -> {to:?}"),
            Event::Retried { kind, .. } => format!("retry {kind:?}"),
            _ => return,
        };
        self.0.lock().unwrap().push(line);
    }
}

#[tokio::test(start_paused = true)]
async fn latency_is_the_answering_attempts_and_the_wait_is_counted_apart() {
    // 6 requests a minute (a burst of one or two): the third item waits seconds for
    // capacity. The first item's first attempt fails; every call takes 100 ms.
    let provider = Scripted::new(|call, _: &Request| {
        if call == 0 {
            return Err(ProviderError::new(ErrorKind::Server, "hiccup"));
        }
        let mut reply = ok("hi");
        // The server says what its limits are: 600 a minute, learned once.
        reply.rate_limits = Some(pacer_core::RateLimitInfo {
            requests: pacer_core::LimitReading {
                limit: Some(600),
                ..Default::default()
            },
            ..Default::default()
        });
        Ok(reply)
    });
    let mut cfg = config(8);
    cfg.limits.rpm = std::num::NonZeroU64::new(6);
    let log = Arc::new(Log::default());
    let lane = Lane::builder(cfg, provider).observer(log.clone()).build();
    let mut outcomes = Vec::new();
    lane.process_all(items(3), |o| outcomes.push(o)).await;
    outcomes.sort_by_key(|o| o.context);
    let ms = |d: std::time::Duration| d.as_millis();
    for o in &outcomes {
        assert_eq!(o.latency.map(ms), Some(100), "{}: latency", o.id);
        // What the item took is its wait, its calls and its backoff, nothing else.
        assert!(o.elapsed >= o.queued + o.upstream, "{}", o.id);
    }
    // The failed attempt counts in the time upstream, not in the latency.
    assert_eq!(ms(outcomes[0].upstream), 200);
    assert!(
        outcomes[2].queued.as_millis() >= 900,
        "{:?}",
        outcomes[2].queued
    );
    let events = log.0.lock().unwrap().clone();
    assert!(events.contains(&"retry Server".to_owned()), "{events:?}");
    // A configured limit is lowered by the server, never raised: 600 changes nothing.
    assert!(!events.iter().any(|e| e.starts_with("rpm")), "{events:?}");
}

#[tokio::test(start_paused = true)]
async fn a_limit_learned_from_the_headers_is_an_event() {
    let provider = Scripted::new(|_, _: &Request| {
        let mut reply = ok("hi");
        reply.rate_limits = Some(pacer_core::RateLimitInfo {
            tokens: pacer_core::LimitReading {
                limit: Some(90_000),
                ..Default::default()
            },
            ..Default::default()
        });
        Ok(reply)
    });
    let log = Arc::new(Log::default());
    let lane = Lane::builder(config(2), provider)
        .observer(log.clone())
        .build();
    let mut failed = Vec::new();
    lane.process_all(items(3), |o| failed.push(o.latency.is_none()))
        .await;
    assert_eq!(failed, [false; 3]);
    assert_eq!(*log.0.lock().unwrap(), ["tpm None -> Some(90000)"]);
}
