//! One model the gateway serves: its deployments, each a lane (limiter, retries, budget)
//! with its own slots, and the choice of the deployment a request goes to.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pacer_core::Price;
use pacer_engine::{Budget, Lane, LaneConfig, RetryPolicy};
use pacer_limit::{Cost, Limiter, LimiterConfig};
use pacer_providers::anthropic::AnthropicProvider;
use pacer_providers::openai::{self, Api, Encoding, OpenAiProvider};
use tokio::sync::Semaphore;

use crate::{Deployment, ModelRoute, ServeError, Upstream};

/// One model: its settings and deployments.
pub(crate) struct Route {
    pub(crate) spec: ModelRoute,
    pub(crate) deployments: Vec<Dep>,
    /// The smooth weighted round-robin's running weights, one per deployment: the choice
    /// between deployments that would admit a request equally soon.
    turns: Mutex<Vec<i64>>,
}

/// One deployment of a model.
pub(crate) struct Dep {
    /// Its id; empty for a model's only, unnamed deployment.
    pub(crate) id: String,
    pub(crate) upstream_model: String,
    pub(crate) lane: Lane,
    /// Requests out upstream at once, streams until their end.
    pub(crate) slots: Arc<Semaphore>,
    /// Set for OpenAI-compatible deployments: client bodies pass through as they are.
    pub(crate) pass_through: Option<Arc<OpenAiProvider>>,
    /// Set for Anthropic deployments: Messages API bodies pass through as they are.
    pub(crate) anthropic: Option<Arc<AnthropicProvider>>,
    pub(crate) price: Option<Price>,
    /// Its share of the model's traffic when every deployment has room: its limit.
    weight: i64,
}

/// What every deployment of a gateway shares.
pub(crate) struct Common<'a> {
    pub(crate) budget: Option<&'a Arc<Budget>>,
    pub(crate) shared_limits: &'a std::collections::HashMap<String, pacer_limit::remote::SharedKey>,
}

impl Route {
    pub(crate) fn new(mut spec: ModelRoute, common: &Common<'_>) -> Result<Self, ServeError> {
        let named = !spec.deployments.is_empty();
        let specs: Vec<Deployment> = if named {
            std::mem::take(&mut spec.deployments)
        } else {
            vec![Deployment {
                id: String::new(),
                upstream_model: spec.upstream_model.clone(),
                upstream: spec.upstream.clone(),
                limits: spec.limits,
                concurrency: spec.concurrency,
                price: spec.price,
                timeout: None,
            }]
        };
        // With several deployments a failure goes to another one at once, rather than
        // backing off on the same: the route retries (see `forward`), the lanes do not.
        let retry = if specs.len() > 1 {
            RetryPolicy {
                max_retries: 0,
                ..spec.retry.clone()
            }
        } else {
            spec.retry.clone()
        };
        let mut deployments: Vec<Dep> = Vec::with_capacity(specs.len());
        for d in specs {
            if deployments.iter().any(|e| e.id == d.id) {
                return Err(ServeError::DuplicateDeployment {
                    model: spec.name.clone(),
                    id: d.id,
                });
            }
            if d.price.is_none() && common.budget.is_some_and(|b| b.caps_usd()) {
                return Err(ServeError::NoPrice(spec.name.clone()));
            }
            let model_error = |error| ServeError::Model {
                model: if d.id.is_empty() {
                    spec.name.clone()
                } else {
                    format!("{} (deployment {})", spec.name, d.id)
                },
                error: Box::new(error),
            };
            let mut anthropic = None;
            let (provider, pass_through) = match &d.upstream {
                Upstream::OpenAi(config) => {
                    let provider = OpenAiProvider::new(openai::OpenAiConfig {
                        api: Api::Chat,
                        ..config.clone()
                    })
                    .map_err(model_error)?;
                    // Loading the tokenizer takes a while: not on the first request.
                    Encoding::for_model(&d.upstream_model).warm();
                    let provider = Arc::new(provider);
                    (provider.clone() as _, Some(provider))
                }
                Upstream::Anthropic(config) => {
                    let provider =
                        Arc::new(AnthropicProvider::new(config.clone()).map_err(model_error)?);
                    anthropic = Some(provider.clone());
                    (provider as _, None)
                }
                Upstream::Provider(provider) => (provider.clone(), None),
            };
            let name = if d.id.is_empty() {
                spec.name.clone()
            } else {
                format!("{}@{}", spec.name, d.id)
            };
            let lane_config = LaneConfig {
                limits: d.limits,
                timeout: d.timeout.unwrap_or(spec.timeout),
                retry: retry.clone(),
                price: d.price,
                budget: common.budget.cloned(),
                ..LaneConfig::new(name.clone())
            };
            let mut lane = Lane::builder(lane_config, provider.clone());
            if let Some(key) = common.shared_limits.get(&name) {
                let limiter = Limiter::shared(
                    LimiterConfig {
                        probe: provider.reports_rate_limits(),
                        ..LimiterConfig::new(d.limits)
                    },
                    key.clone(),
                );
                lane = lane.limiter(Arc::new(limiter));
            }
            let weight = [d.limits.rpm, d.limits.tpm, d.limits.itpm]
                .into_iter()
                .flatten()
                .next()
                .map_or(1, |v| i64::try_from(v.get()).unwrap_or(i64::MAX / 4));
            deployments.push(Dep {
                id: d.id,
                upstream_model: d.upstream_model,
                lane: lane.build(),
                slots: Arc::new(Semaphore::new(d.concurrency.max(1))),
                pass_through,
                anthropic,
                price: d.price,
                weight,
            });
        }
        Ok(Self {
            turns: Mutex::new(vec![0; deployments.len()]),
            spec,
            deployments,
        })
    }

    /// Whether the model has more than one deployment.
    pub(crate) fn several(&self) -> bool {
        self.deployments.len() > 1
    }

    /// Each deployment's price.
    pub(crate) fn prices(&self) -> impl Iterator<Item = Option<Price>> + '_ {
        self.deployments.iter().map(|d| d.price)
    }

    /// The deployment a request of `cost` goes to: of those not `unable` to take it, not
    /// `tried` (unless every one was) and not stopped, the one that would admit it soonest
    /// (room in its slots first, then the wait its limiter's line explains); between equals,
    /// each in turn in proportion to its limit.
    pub(crate) fn pick(&self, cost: Cost, unable: &[usize], tried: &[usize]) -> usize {
        let able: Vec<usize> = (0..self.deployments.len())
            .filter(|i| !unable.contains(i))
            .collect();
        if able.len() <= 1 {
            return able.first().copied().unwrap_or(0);
        }
        let open = |i: &usize| self.deployments[*i].lane.stopped().is_none();
        let mut candidates: Vec<usize> = able
            .iter()
            .copied()
            .filter(|i| !tried.contains(i))
            .filter(open)
            .collect();
        if candidates.is_empty() {
            candidates = able.iter().copied().filter(open).collect();
        }
        if candidates.is_empty() {
            return tried.last().copied().unwrap_or(able[0]);
        }
        let soon: Vec<(usize, (bool, Duration))> = candidates
            .iter()
            .map(|&i| {
                let d = &self.deployments[i];
                let full = d.slots.available_permits() == 0;
                (i, (full, d.lane.limiter().expected_wait(cost)))
            })
            .collect();
        let best = soon.iter().map(|(_, key)| *key).min().unwrap_or_default();
        // Waits within a millisecond are the same wait.
        let equal: Vec<usize> = soon
            .iter()
            .filter(|(_, (full, wait))| {
                *full == best.0 && wait.saturating_sub(best.1) < Duration::from_millis(1)
            })
            .map(|(i, _)| *i)
            .collect();
        self.in_turn(&equal)
    }

    /// The deployment a request that is not paced goes to (a token count): the first open
    /// one, the turns left as they are.
    pub(crate) fn first_open(&self) -> &Dep {
        self.deployments
            .iter()
            .find(|d| d.lane.stopped().is_none())
            .unwrap_or(&self.deployments[0])
    }

    /// The dearest of the deployments' prices (what a budget holds a request's worst case
    /// at, since any may answer it).
    pub(crate) fn dearest(&self) -> Option<Price> {
        let mut prices = self.deployments.iter().filter_map(|d| d.price);
        let first = prices.next()?;
        Some(prices.fold(first, |a, b| {
            let probe = pacer_core::Usage {
                input_tokens: 1_000_000,
                output_tokens: 1_000_000,
                ..Default::default()
            };
            if b.cost(&probe) > a.cost(&probe) {
                b
            } else {
                a
            }
        }))
    }

    /// Smooth weighted round-robin over `among`: each gains its weight, the highest goes
    /// and gives back the sum.
    fn in_turn(&self, among: &[usize]) -> usize {
        if among.len() == 1 {
            return among[0];
        }
        let mut turns = self.turns.lock().unwrap_or_else(|e| e.into_inner());
        let total: i64 = among.iter().map(|&i| self.deployments[i].weight).sum();
        for &i in among {
            turns[i] = turns[i].saturating_add(self.deployments[i].weight);
        }
        let chosen = among
            .iter()
            .copied()
            .max_by_key(|&i| (turns[i], std::cmp::Reverse(i)))
            .unwrap_or(among[0]);
        turns[chosen] = turns[chosen].saturating_sub(total);
        chosen
    }
}
