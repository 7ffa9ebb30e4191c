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
