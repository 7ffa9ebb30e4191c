//! A lane's single call (`Lane::call`, the gateway's way in), on the paused clock: refused
//! when capacity would come too late or the budget would be passed, without stopping the
//! lane; a forwarded stream's worst case held until its caller settles it.

use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Duration;

use crate::common::ok;
use futures_util::FutureExt;
use pacer_core::{Request, Usage};
use pacer_engine::{Budget, Lane, LaneConfig, NotDone, Spending, WorkItem};
use pacer_limit::Limits;
use pacer_providers::MockProvider;
use tokio::time::Instant;

fn lane(limits: Limits, budget: Option<Arc<Budget>>) -> Lane {
    let config = LaneConfig {
        limits,
        budget,
        ..LaneConfig::new("m")
    };
    Lane::builder(config, Arc::new(MockProvider::default())).build()
}

fn prompt(max_tokens: u32) -> WorkItem<()> {
    let mut request = Request::text("m", None, "hello");
    request.params.max_tokens = Some(max_tokens);
    WorkItem::prompt("p", request, ())
}

#[tokio::test(start_paused = true)]
async fn a_call_that_would_wait_too_long_is_refused_with_the_wait() {
    let lane = lane(
        Limits {
            rpm: NonZeroU64::new(60),
            ..Limits::default()
        },
        None,
    );
    let wait = Duration::from_millis(200);
    let first = lane.call(prompt(16), Instant::now(), wait).await.unwrap();
    assert!(first.is_ok());
    let refused = lane
        .call(prompt(16), Instant::now(), wait)
        .await
        .unwrap_err();
    match refused.why {
        NotDone::Busy { retry_after } => assert!(retry_after > wait, "{retry_after:?}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(refused.attempts, 0);
    // The lane goes on.
    assert!(lane.stopped().is_none());
}

#[tokio::test(start_paused = true)]
async fn a_call_over_the_budget_is_refused_alone() {
    let budget = Budget::new(None, Some(100), Spending::default());
    let lane = lane(Limits::default(), Some(budget.clone()));
    let wait = Duration::from_secs(1);
    let huge = lane
        .call(prompt(1_000), Instant::now(), wait)
        .await
        .unwrap_err();
    assert!(matches!(huge.why, NotDone::OverBudget(_)), "{:?}", huge.why);
    assert!(lane.stopped().is_none(), "the lane closed");
    let small = lane.call(prompt(16), Instant::now(), wait).await.unwrap();
    assert!(small.is_ok());
    assert!(budget.spent().tokens > 0);
}

#[tokio::test(start_paused = true)]
async fn a_forwarded_stream_keeps_its_worst_case_held_until_settled() {
    let budget = Budget::new(None, Some(1_000), Spending::default());
    let lane = lane(Limits::default(), Some(budget.clone()));
    let mut stands_for = Request::text("m", None, "hello");
    stands_for.params.max_tokens = Some(400);
    // The call returns at once with no usage, as a stream's head does.
    let stream = |usage_later| {
        WorkItem::forward(
            "s",
            stands_for.clone(),
            usage_later,
            |_| {
                async {
                    let mut head = ok("");
                    head.usage = Usage::default();
                    Ok(head)
                }
                .boxed()
            },
            (),
        )
    };
    let wait = Duration::from_secs(1);
    let first = lane.call(stream(true), Instant::now(), wait).await.unwrap();
    let held = first.held.expect("the stream's worst case is held");
    assert_eq!(budget.spent().tokens, 0);
    // Held, its worst case counts: a second stream of the same size passes, a third not.
    let second = lane.call(stream(true), Instant::now(), wait).await.unwrap();
    let third = lane
        .call(stream(true), Instant::now(), wait)
        .await
        .unwrap_err();
    assert!(
        matches!(third.why, NotDone::OverBudget(_)),
        "{:?}",
        third.why
    );
    // Settled at the stream's end with what it used; one never settled bills its worst case.
    held.settle(
        &Usage {
            input_tokens: 9,
            output_tokens: 20,
            ..Usage::default()
        },
        None,
    );
    assert_eq!(budget.spent().tokens, 29);
    second.held.unwrap().settle_worst_case();
    assert!(budget.spent().tokens > 400, "{:?}", budget.spent());
    // Without `usage_later` nothing is held: the reply's usage is billed at once.
    let whole = lane
        .call(stream(false), Instant::now(), wait)
        .await
        .unwrap();
    assert!(whole.held.is_none());
}
