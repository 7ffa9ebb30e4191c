//! What every completion goes through once its endpoint has checked it, whatever the
//! protocol: the limits, latency, faults and the reply. What each API says its own way
//! (error bodies, headers, the reply's shape) sits behind [`Protocol`].

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use hyper::StatusCode;
use pacer_core::{Request, Response};
use tokio::time::Instant;

use crate::handler::Shared;
use crate::limiter::{Cost, Limited, Readings, Refusal};
use crate::respond::{Dropped, Reply, json};
use crate::stats::Counters;

/// A fault injected into one completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    Fail500,
    Fail503,
    Drop,
    Truncate,
    Slow,
    /// A 429 while the limits have room.
    Busy,
}

/// The faults, in the order their probabilities are drawn.
pub(crate) const FAULTS: [Fault; 6] = [
    Fault::Fail500,
    Fault::Fail503,
    Fault::Drop,
    Fault::Truncate,
    Fault::Slow,
    Fault::Busy,
];

/// A completion request that passed its endpoint's checks.
#[derive(Debug)]
pub(crate) struct Job {
    /// Pacer's request, which the reply generator answers.
    pub(crate) request: Request,
    /// What it costs in the limits.
    pub(crate) cost: Cost,
    /// The output tokens charged at admission: the cap, over all its completions.
    pub(crate) output_cap: u64,
}

/// A completion request checked and priced, with the protocol that words its reply: what
/// an endpoint's checks make of a body, before the limits. The live endpoints send it on to
/// [`Shared::complete`]; a batch line is [rendered](Prepared::render) on its own.
#[derive(Debug)]
pub(crate) struct Prepared<P> {
    /// The request and its cost.
    pub(crate) job: Job,
    /// How its API words the reply.
    pub(crate) protocol: P,
}

impl<P: Protocol> Prepared<P> {
    /// The reply, as the server's `id`-th, with no limit, latency, fault or counter: how a
    /// batch line is answered, apart from the live traffic.
    pub(crate) fn render(&self, id: u64) -> Rendered {
        self.protocol
            .render(id, pacer_providers::mock::reply(&self.job.request))
    }
}

/// A reply body and the tokens it reports.
#[derive(Debug)]
pub(crate) struct Rendered {
    /// The JSON body.
    pub(crate) body: Vec<u8>,
    /// Prompt tokens reported.
    pub(crate) prompt_tokens: u64,
    /// Output tokens reported (reasoning included).
    pub(crate) output_tokens: u64,
    /// Vectors in the reply (embedding requests; 0 for the others).
    pub(crate) embedded: u64,
}

/// What one API says its own way.
pub(crate) trait Protocol {
    /// Whether the output charged at admission is corrected to the output the reply used
    /// (Anthropic and Google do so); OpenAI keeps the charge.
    const SETTLES: bool;

    /// The refusal for a spent token quota.
    fn quota(&self, model: &str) -> Reply;

    /// The 429 for a limit, with the retry headers the API sends.
    fn limited(&self, limited: &Limited, model: &str) -> Reply;

    /// An injected 500.
    fn server_error(&self) -> Reply;

    /// An injected overload (a 503, or the API's own status for it).
    fn overloaded(&self) -> Reply;

    /// An injected 429 while the limits have room: the provider is short of capacity. It
    /// asks for `retry-after: 1`.
    fn busy(&self, model: &str) -> Reply;

    /// Adds the API's rate-limit headers, if it sends any.
    fn rate_headers(&self, reply: &mut Reply, readings: &Readings);

    /// The body of the reply to `response`, the server's `id`-th.
    fn render(&self, id: u64, response: Response) -> Rendered;
}

impl Shared {
    /// Runs an admitted-or-not completion: the limits, latency, faults, reply and headers.
    pub(crate) async fn complete<P: Protocol>(
        &self,
        prepared: Prepared<P>,
    ) -> Result<Reply, Dropped> {
        let Prepared { job, protocol } = prepared;
        let protocol = &protocol;
        let c = &self.counters;
        let model = job.request.model.as_str();
        let (verdict, readings) = self.limiter.admit(Instant::now(), model, &job.cost);
        if let Err(refusal) = verdict {
            let reply = match refusal {
                Refusal::Quota => {
                    Counters::bump(&c.quota_exceeded);
                    protocol.quota(model)
                }
                Refusal::Limited(limited) => {
                    Counters::bump(&c.rate_limited);
                    protocol.limited(&limited, model)
                }
            };
            return Ok(self.with_headers(protocol, reply, &readings));
        }
        let (delay, fault) = self.draw();
        if fault == Some(Fault::Busy) {
            // Refused before any work: the server takes its charge back.
            Counters::bump(&c.busy);
            let readings = self.limiter.unadmit(Instant::now(), model, &job.cost);
            return Ok(self.with_headers(protocol, protocol.busy(model), &readings));
        }
        Counters::add(&c.tokens_charged, job.cost.tokens);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let failed = match fault {
            Some(Fault::Fail500) => {
                Counters::bump(&c.server_errors);
                Some(protocol.server_error())
            }
            Some(Fault::Fail503) => {
                Counters::bump(&c.overloaded);
                Some(protocol.overloaded())
            }
            Some(Fault::Drop) => {
                Counters::bump(&c.dropped);
                self.settle::<P>(&job, 0);
                return Err(Dropped);
            }
            Some(Fault::Slow) => {
                Counters::bump(&c.slow);
                tokio::time::sleep(self.config.slow_for).await;
                None
            }
            Some(Fault::Truncate | Fault::Busy) | None => None,
        };
        if let Some(reply) = failed {
            let readings = self.settle::<P>(&job, 0).unwrap_or(readings);
            return Ok(self.with_headers(protocol, reply, &readings));
        }
        let id = self.next_id.fetch_add(1, Relaxed);
        let rendered = protocol.render(id, pacer_providers::mock::reply(&job.request));
        Counters::add(&c.prompt_tokens, rendered.prompt_tokens);
        Counters::add(&c.completion_tokens, rendered.output_tokens);
        Counters::add(&c.embedding_inputs, rendered.embedded);
        let readings = self
            .settle::<P>(&job, rendered.output_tokens)
            .unwrap_or(readings);
        let mut body = rendered.body;
        match fault {
            Some(Fault::Truncate) => {
                Counters::bump(&c.truncated);
                body.truncate(body.len() / 2);
            }
            Some(Fault::Slow) => {}
            _ => Counters::bump(&c.ok),
        }
        Ok(self.with_headers(protocol, json(StatusCode::OK, body), &readings))
    }

    /// Corrects a settling protocol's output charge to the `used` output tokens, returning
    /// the readings after; `None` for a protocol that keeps its charge.
    fn settle<P: Protocol>(&self, job: &Job, used: u64) -> Option<Readings> {
        if !P::SETTLES {
            return None;
        }
        let refund = job.output_cap.saturating_sub(used);
        Counters::sub(&self.counters.tokens_charged, refund);
        let refund = Cost {
            tokens: refund,
            input: None,
            output: job.cost.output.map(|_| refund),
        };
        Some(
            self.limiter
                .refund(Instant::now(), &job.request.model, &refund),
        )
    }

    fn with_headers<P: Protocol>(
        &self,
        protocol: &P,
        mut reply: Reply,
        readings: &Readings,
    ) -> Reply {
        if self.config.rate_headers {
            protocol.rate_headers(&mut reply, readings);
        }
        reply
    }

    /// The latency and the fault of one completion.
    fn draw(&self) -> (Duration, Option<Fault>) {
        let Some(rng) = &self.rng else {
            return (Duration::ZERO, None);
        };
        let mut rng = rng.lock().unwrap_or_else(|e| e.into_inner());
        let (mean, sd) = (self.config.latency, self.config.latency_sd);
        let delay = if sd.is_zero() {
            mean
        } else {
            // Box–Muller.
            let (u1, u2) = (1.0 - rng.f64(), rng.f64());
            let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            Duration::from_secs_f64((mean.as_secs_f64() + sd.as_secs_f64() * z).max(0.0))
        };
        let u = rng.f64();
        let fault = self
            .thresholds
            .iter()
            .position(|t| u < *t)
            .map(|i| FAULTS[i]);
        (delay, fault)
    }
}
