//! The run's budget: the cap holds with requests in flight, the lane stops cleanly and what
//! it did not send stays pending.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::common;
use async_trait::async_trait;
use pacer_core::{Accounting, ErrorKind, Price, Provider, ProviderError, Request, Response};
use pacer_engine::{Budget, Lane, LaneConfig, Spending, WorkItem};

/// Bills 10 input and 5 output tokens per call, after 100 ms.
struct Billing(AtomicU64);

#[async_trait]
impl Provider for Billing {
    fn kind(&self) -> &'static str {
        "billing"
    }
    fn accounting(&self) -> Accounting {
        Accounting::Actual
    }
    fn estimate_input_tokens(&self, _: &Request) -> u64 {
        10
    }
    async fn send(&self, _: &Request) -> Result<Response, ProviderError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok(common::ok("ok"))
    }
}

fn items(n: usize) -> Vec<WorkItem<usize>> {
    (0..n)
        .map(|i| {
            let mut request = Request::text("m", None, "prompt");
            request.params.max_tokens = Some(20);
            WorkItem::prompt(format!("item-{i}"), request, i)
        })
        .collect()
}

fn lane(budget: &Arc<Budget>, price: Option<Price>, provider: Arc<Billing>) -> Lane {
    let mut config = LaneConfig::new("budgeted");
    config.concurrency = NonZeroUsize::new(4);
    config.budget = Some(Arc::clone(budget));
    config.price = price;
    Lane::builder(config, provider).build()
}

#[tokio::test(start_paused = true)]
async fn a_token_budget_is_never_passed_and_the_rest_stays_pending() {
    // Each request may cost 10 + 20 = 30 tokens and costs 15; 4 in flight.
    let budget = Budget::new(None, Some(300), Spending::default());
    let provider = Arc::new(Billing(AtomicU64::new(0)));
    let lane = lane(&budget, None, provider.clone());
    let mut done = 0u64;
    let stats = lane.process_all(items(100), |_| done += 1).await;
    let spent = budget.spent().tokens;
    assert!(spent <= 300, "{spent}");
    // It stops only when the next worst case no longer fits beside the three still in
    // flight (each reserving 30, billed 15).
    assert!(spent >= 300 - 30 - 3 * 15, "{spent}");
    assert_eq!(spent, done * 15);
    assert_eq!(provider.0.load(Ordering::SeqCst), done);
    assert_eq!(stats.failed, 0);
    let reason = lane.stopped().expect("the lane stops on the budget");
    assert_eq!(reason.kind, Some(ErrorKind::BudgetExhausted));
    assert!(
        reason.message.contains("300 tokens") && reason.message.contains("--resume"),
        "{}",
        reason.message
    );
}

#[tokio::test(start_paused = true)]
async fn a_dollar_budget_counts_what_earlier_runs_spent() {
    // $1 per million input, $2 per million output: a request's worst case is
    // (10 + 40) / 1e6 = $0.00005 and its bill (10 + 10) / 1e6 = $0.00002.
    let price = Price::new(1.0, 2.0);
    let already = Spending {
        usd: 0.0009,
        tokens: 0,
    };
    let budget = Budget::new(Some(0.001), None, already);
    let provider = Arc::new(Billing(AtomicU64::new(0)));
    let lane = lane(&budget, Some(price), provider.clone());
    let mut done = 0u64;
    lane.process_all(items(100), |_| done += 1).await;
    let spent = budget.spent().usd;
    assert!(spent <= 0.001 + 1e-12, "{spent}");
    assert!((spent - (0.0009 + done as f64 * 0.00002)).abs() < 1e-12);
    assert!((2..10).contains(&done), "{done}");
    assert_eq!(
        lane.stopped().unwrap().kind,
        Some(ErrorKind::BudgetExhausted)
    );
}
