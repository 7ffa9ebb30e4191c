//! Work items, in seed 002's three forms.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use pacer_core::{ProviderError, Request, Response};

/// One attempt at an item, as a factory or a direct call sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// 1 for the first try, counting every send.
    pub number: u32,
    /// Error retries so far (rate-limit re-sends not counted): the index into a per-attempt
    /// parameter schedule.
    pub retry: u32,
    /// How long this attempt may take.
    pub timeout: Duration,
}

/// A call that does the whole request itself and returns the output and its usage.
pub type DirectCall =
    Arc<dyn Fn(Attempt) -> BoxFuture<'static, Result<Response, ProviderError>> + Send + Sync>;

/// How an item is turned into a request.
///
/// Prompts, by far the usual work, are kept inline: boxing them would cost an allocation
/// per item to save a few hundred bytes on the rare factory or direct call, and the items
/// waiting for a lane are few (its feed channel is bounded).
#[derive(Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Work {
    /// A prompt for the lane's model: the same request each attempt, under the lane's
    /// per-attempt schedule.
    Prompt(Request),
    /// A factory that builds the request for each attempt (e.g. a warmer temperature).
    Factory(Arc<dyn Fn(Attempt) -> Request + Send + Sync>),
    /// A direct async call that bypasses the lane's provider but still goes through its
    /// limiter, retries and observers.
    Direct(DirectCall),
    /// A direct call that stands for `stands_for` on the lane's provider: paced, budgeted
    /// and settled as that request would be, but sent by the call (a gateway passing a
    /// client's body through as it is, its reply perhaps a stream).
    Forward {
        /// Sends the request.
        call: DirectCall,
        /// What it is estimated as.
        stands_for: Request,
        /// Whether a reply's usage comes after the call returns (a stream passed on): the
        /// budget then keeps the request's worst case held, in the outcome's
        /// [`held`](crate::Outcome::held), until the caller settles it.
        usage_later: bool,
    },
}

impl fmt::Debug for Work {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Work::Prompt(request) => f.debug_tuple("Prompt").field(request).finish(),
            Work::Factory(_) => f.write_str("Factory(..)"),
            Work::Direct(_) => f.write_str("Direct(..)"),
            Work::Forward { stands_for, .. } => f
                .debug_struct("Forward")
                .field("stands_for", stands_for)
                .finish_non_exhaustive(),
        }
    }
}

/// A unit of work: an id, what to do, and a context handed back untouched in its outcome.
#[derive(Clone, Debug)]
pub struct WorkItem<C> {
    /// The item's id, unique within its lane.
    pub id: String,
    /// What to send.
    pub work: Work,
    /// Anything the caller wants back with the outcome.
    pub context: C,
}

impl<C> WorkItem<C> {
    /// A prompt item.
    pub fn prompt(id: impl Into<String>, request: Request, context: C) -> Self {
        Self {
            id: id.into(),
            work: Work::Prompt(request),
            context,
        }
    }

    /// A factory item.
    pub fn factory(
        id: impl Into<String>,
        factory: impl Fn(Attempt) -> Request + Send + Sync + 'static,
        context: C,
    ) -> Self {
        Self {
            id: id.into(),
            work: Work::Factory(Arc::new(factory)),
            context,
        }
    }

    /// A forwarded item: `call` sends it, the lane paces and budgets it as `stands_for`;
    /// `usage_later`: see [`Work::Forward`].
    pub fn forward(
        id: impl Into<String>,
        stands_for: Request,
        usage_later: bool,
        call: impl Fn(Attempt) -> BoxFuture<'static, Result<Response, ProviderError>>
        + Send
        + Sync
        + 'static,
        context: C,
    ) -> Self {
        Self {
            id: id.into(),
            work: Work::Forward {
                call: Arc::new(call),
                stands_for,
                usage_later,
            },
            context,
        }
    }

    /// A direct-call item.
    pub fn direct(
        id: impl Into<String>,
        call: impl Fn(Attempt) -> BoxFuture<'static, Result<Response, ProviderError>>
        + Send
        + Sync
        + 'static,
        context: C,
    ) -> Self {
        Self {
            id: id.into(),
            work: Work::Direct(Arc::new(call)),
            context,
        }
    }
}
