//! What a lane tells its observers.

use std::time::Duration;

use pacer_core::{ErrorKind, Usage};

/// Something that happened to an item or a lane. More may be added: match with a `_` arm.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Event<'a> {
    /// The item's first request is about to go.
    Started {
        /// The lane's name.
        lane: &'a str,
        /// The item.
        item: &'a str,
    },
    /// The item failed with a retryable error and will be sent again after `delay`.
    Retried {
        /// The lane's name.
        lane: &'a str,
        /// The item.
        item: &'a str,
        /// Why.
        kind: ErrorKind,
        /// The error retry this is (1 for the first).
        retry: u32,
        /// The backoff before it.
        delay: Duration,
    },
    /// The item was refused with a rate-limit error and goes back in the lane's queue.
    /// `cooldown` is set when this refusal started the lane's pause.
    RateLimited {
        /// The lane's name.
        lane: &'a str,
        /// The item.
        item: &'a str,
        /// The pause this event started, if it started one.
        cooldown: Option<Duration>,
        /// The refusal's HTTP status, when there was one.
        status: Option<u16>,
        /// The refusal, in the server's words (never a key: see `ProviderError`).
        message: &'a str,
    },
    /// A limit the lane paces by changed: learned from the server's headers (`from` is
    /// `None`), lowered to what the server says, or followed as the server changed it.
    LimitChanged {
        /// The lane's name.
        lane: &'a str,
        /// Which limit: `rpm`, `tpm`, `itpm` or `otpm`.
        dimension: &'static str,
        /// Per minute before; `None` when the lane had none.
        from: Option<u64>,
        /// Per minute now; `None` when the lane has none any more.
        to: Option<u64>,
    },
    /// The item ended; its outcome goes to the sink.
    Finished {
        /// The lane's name.
        lane: &'a str,
        /// The item.
        item: &'a str,
        /// `None` on success, else the final error's kind.
        error: Option<ErrorKind>,
        /// Tokens over all its attempts.
        usage: Usage,
        /// Time from its first try to its end.
        elapsed: Duration,
    },
    /// The lane stopped dispatching; the items not yet finished stay pending.
    LaneStopped {
        /// The lane's name.
        lane: &'a str,
        /// The error kind that stopped it (`BudgetExhausted` when the budget was reached);
        /// `None` when its caller stopped it.
        kind: Option<ErrorKind>,
        /// Why, in words.
        reason: &'a str,
    },
}

/// Receives a lane's events. Called inline on the lane's task: keep it quick and
/// non-blocking (count, log, forward to a channel).
///
/// # Example
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use pacer_engine::{Event, Observer};
///
/// #[derive(Default)]
/// struct CountRetries(AtomicU64);
///
/// impl Observer for CountRetries {
///     fn on_event(&self, event: &Event<'_>) {
///         if let Event::Retried { .. } = event {
///             self.0.fetch_add(1, Ordering::Relaxed);
///         }
///     }
/// }
/// ```
pub trait Observer: Send + Sync {
    /// Called for every event.
    fn on_event(&self, event: &Event<'_>);
}
