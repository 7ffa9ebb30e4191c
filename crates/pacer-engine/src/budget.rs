//! A spending cap shared by every lane of a run, in US dollars, tokens, or both.
//!
//! Before a request goes out, its worst case (the prompt's estimate plus every output token
//! it may write, priced at the lane's price) is reserved; when the reply is in, the
//! reservation is replaced by what was billed. A request whose worst case would pass the cap
//! is not sent: the lane stops with [`ErrorKind::BudgetExhausted`] and its items stay pending
//! for a resume with a larger budget. So the cap holds even with many requests in flight.
//!
//! Written by hand: it is a few sums under one lock, and it must agree exactly with the
//! lane's accounting of billed usage.
//!
//! [`ErrorKind::BudgetExhausted`]: pacer_core::ErrorKind::BudgetExhausted

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use pacer_core::{Price, Usage};

/// The caps and what has gone against them.
pub struct Budget {
    max_usd: Option<f64>,
    max_tokens: Option<u64>,
    state: Mutex<Spent>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Spent {
    usd: f64,
    tokens: u64,
    reserved_usd: f64,
    reserved_tokens: u64,
}

/// What a run has spent so far.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Spending {
    /// US dollars billed (of the requests whose price is known).
    pub usd: f64,
    /// Tokens billed.
    pub tokens: u64,
}

impl Budget {
    /// A budget of at most `max_usd` dollars and `max_tokens` tokens (either may be absent),
    /// of which `already` was spent by earlier runs of the same output folder.
    pub fn new(max_usd: Option<f64>, max_tokens: Option<u64>, already: Spending) -> Arc<Self> {
        Arc::new(Self {
            max_usd,
            max_tokens,
            state: Mutex::new(Spent {
                usd: already.usd,
                tokens: already.tokens,
                ..Spent::default()
            }),
        })
    }

    /// Whether the budget caps dollars, which needs every lane's price.
    pub fn caps_usd(&self) -> bool {
        self.max_usd.is_some()
    }

    fn lock(&self) -> MutexGuard<'_, Spent> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reserves the worst case of a request: `tokens` (prompt estimate plus its whole output
    /// allowance) costing `usd`. `Err` says which cap it would pass; nothing is reserved
    /// then.
    pub fn reserve(self: &Arc<Self>, usd: f64, tokens: u64) -> Result<Reservation, Exhausted> {
        let mut s = self.lock();
        if let Some(max) = self.max_tokens
            && s.tokens + s.reserved_tokens + tokens > max
        {
            return Err(Exhausted::Tokens {
                max,
                spent: s.tokens,
                held: s.reserved_tokens,
            });
        }
        // A millionth of a cent of slack, so sums of prices that land on the cap fit it.
        if let Some(max) = self.max_usd
            && s.usd + s.reserved_usd + usd > max + 1e-8
        {
            return Err(Exhausted::Usd {
                max,
                spent: s.usd,
                held: s.reserved_usd,
            });
        }
        s.reserved_usd += usd;
        s.reserved_tokens += tokens;
        Ok(Reservation {
            budget: Arc::clone(self),
            usd,
            tokens,
        })
    }

    /// Reserves the worst case of a request of `cost` (its prompt estimate and whole output
    /// allowance), at `price` where there is one: what a lane and a gateway key hold.
    pub fn reserve_worst_case(
        self: &Arc<Self>,
        cost: &pacer_limit::Cost,
        price: Option<&Price>,
    ) -> Result<Reservation, Exhausted> {
        let usd = price.map_or(0.0, |p| p.worst_case(cost.input_tokens, cost.output_tokens));
        self.reserve(usd, cost.input_tokens + cost.output_tokens)
    }

    /// What has been billed so far.
    pub fn spent(&self) -> Spending {
        let s = self.lock();
        Spending {
            usd: s.usd,
            tokens: s.tokens,
        }
    }
}

impl fmt::Debug for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Budget")
            .field("max_usd", &self.max_usd)
            .field("max_tokens", &self.max_tokens)
            .field("state", &*self.lock())
            .finish()
    }
}

/// A request's worst case, held against the budget until it is settled or dropped (dropped:
/// the request was never answered, so nothing is billed).
#[derive(Debug)]
#[must_use = "a reservation is released when dropped"]
pub struct Reservation {
    budget: Arc<Budget>,
    usd: f64,
    tokens: u64,
}

impl Reservation {
    /// Replaces the reservation by what `usage` cost at `price` (tokens only when the price
    /// is unknown).
    pub fn settle(self, usage: &Usage, price: Option<&Price>) {
        let mut s = self.budget.lock();
        s.tokens += usage.total();
        if let Some(price) = price {
            s.usd += price.cost(usage);
        }
        // Drop releases the reservation itself.
    }
}

impl Reservation {
    /// Bills the whole worst case held: for a request whose usage never came (a stream the
    /// client left before its usage chunk, which the upstream bills all the same).
    pub fn settle_worst_case(self) {
        let mut s = self.budget.lock();
        s.tokens += self.tokens;
        s.usd += self.usd;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut s = self.budget.lock();
        s.reserved_usd = (s.reserved_usd - self.usd).max(0.0);
        s.reserved_tokens = s.reserved_tokens.saturating_sub(self.tokens);
    }
}

/// The cap a request would pass.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum Exhausted {
    /// The dollar cap.
    #[error(
        "the budget of ${max} would be passed (${spent:.6} billed, ${held:.6} held for requests in flight)"
    )]
    Usd {
        /// The cap.
        max: f64,
        /// Billed so far.
        spent: f64,
        /// The worst cases of the requests in flight.
        held: f64,
    },
    /// The token cap.
    #[error(
        "the budget of {max} tokens would be passed ({spent} billed, {held} held for requests in flight)"
    )]
    Tokens {
        /// The cap.
        max: u64,
        /// Billed so far.
        spent: u64,
        /// The worst cases of the requests in flight.
        held: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(input: u64, output: u64) -> Usage {
        Usage {
            input_tokens: input,
            output_tokens: output,
            ..Usage::default()
        }
    }

    #[test]
    fn reservations_hold_the_worst_case_until_settled() {
        let budget = Budget::new(None, Some(1_000), Spending::default());
        let a = budget.reserve(0.0, 600).unwrap();
        assert!(matches!(
            budget.reserve(0.0, 500),
            Err(Exhausted::Tokens {
                max: 1_000,
                spent: 0,
                held: 600
            })
        ));
        a.settle(&usage(100, 50), None);
        assert_eq!(budget.spent().tokens, 150);
        // 150 spent, nothing reserved: 850 fit, 851 do not.
        let b = budget.reserve(0.0, 850).unwrap();
        drop(b);
        assert!(budget.reserve(0.0, 851).is_err());
    }

    #[test]
    fn dollars_are_priced_and_earlier_spending_counts() {
        let price = Price::new(1.0, 2.0);
        let budget = Budget::new(
            Some(0.01),
            None,
            Spending {
                usd: 0.004,
                tokens: 0,
            },
        );
        // 0.004 spent: a worst case of 0.006 fits exactly, a little more does not.
        let r = budget.reserve(0.006, 0).unwrap();
        assert!(matches!(
            budget.reserve(1e-6, 0),
            Err(Exhausted::Usd { .. })
        ));
        // 1,000 input + 500 output tokens at $1/$2 per million = $0.002.
        r.settle(&usage(1_000, 500), Some(&price));
        assert!((budget.spent().usd - 0.006).abs() < 1e-12);
        assert!(budget.reserve(0.004, 0).is_ok());
        assert!(budget.reserve(0.0041, 0).is_err());
    }
}
