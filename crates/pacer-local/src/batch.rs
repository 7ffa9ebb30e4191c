//! Batched decoding: one thread per loaded model runs every request it has been given
//! together. Each step is one [`Net::forward`] over every active sequence: a decoding
//! sequence's newest token, or the next chunk of a prompt being read. Sequences join and
//! leave between steps; sampling, stop rules and log-probabilities stay each request's own.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use pacer_core::{ErrorKind, FinishReason, ProviderError, TokenLogprob};
use tokio::sync::oneshot;

use super::LOGPROB_TOKENS;
use super::generate::{Generated, Sampling, log_softmax, sample, top_k_ids};
use super::model::Model;
use super::net::{Cache, Item};

/// Prompt tokens read per step, over all sequences still reading theirs: a long prompt is
/// read a chunk at a time between the others' tokens instead of stalling them.
pub(super) const PREFILL_CHUNK: usize = 64;

/// One request for the model's thread.
pub(super) struct Job {
    pub prompt_ids: Vec<u32>,
    pub sampling: Sampling,
    /// Set when the caller gives up (a timeout, a shutdown): the sequence leaves at the next
    /// step.
    pub cancelled: Arc<AtomicBool>,
    pub reply: oneshot::Sender<Result<Generated, ProviderError>>,
    /// When the request was handed over: its time to first token counts from here.
    pub sent: std::time::Instant,
}

/// The handle to a model's thread; the thread ends once every handle is dropped.
pub(super) struct Batcher {
    jobs: mpsc::Sender<Job>,
}

impl Batcher {
    /// Starts the thread that runs `model`, at most `batch` sequences at a time.
    pub(super) fn start(model: Arc<Model>, batch: usize) -> std::io::Result<Batcher> {
        let (jobs, inbox) = mpsc::channel();
        std::thread::Builder::new()
            .name("pacer-local".into())
            .spawn(move || run(&model, batch.max(1), &inbox))?;
        Ok(Batcher { jobs })
    }

    /// Hands `job` to the thread.
    pub(super) fn submit(&self, job: Job) -> Result<(), ProviderError> {
        self.jobs.send(job).map_err(|_| {
            ProviderError::new(ErrorKind::Server, "local model: its thread has stopped")
        })
    }
}

/// A request being answered.
struct Sequence {
    job: Job,
    cache: Cache,
    /// Prompt tokens read so far.
    read: usize,
    generated: Vec<u32>,
    logprobs: Vec<TokenLogprob>,
    rng: fastrand::Rng,
    /// Where a stop sequence begins in the text.
    cut: Option<usize>,
    /// How long after it was sent its first token was sampled.
    first_token: Option<std::time::Duration>,
}

impl Sequence {
    fn new(job: Job) -> Sequence {
        let rng = fastrand::Rng::with_seed(job.sampling.seed);
        Sequence {
            job,
            cache: Cache::default(),
            read: 0,
            generated: Vec::new(),
            logprobs: Vec::new(),
            rng,
            cut: None,
            first_token: None,
        }
    }

    fn abandoned(&self) -> bool {
        job_abandoned(&self.job)
    }

    /// Takes the logits after the sequence's last token: samples the next one, records its
    /// log-probabilities. Returns how the answer ended, if it did.
    fn next(&mut self, logits: &[f32], model: &Model) -> Option<FinishReason> {
        let s = &self.job.sampling;
        let next = sample(logits, s, &mut self.rng) as u32;
        if self.first_token.is_none() {
            self.first_token = Some(self.job.sent.elapsed());
        }
        if model.stop_ids.contains(&next) {
            return Some(FinishReason::Stop);
        }
        if let Some(top) = s.top_logprobs
            && self.generated.len() < LOGPROB_TOKENS
        {
            // The model's own distribution, before temperature and cuts.
            let lp = log_softmax(logits);
            let best = top_k_ids(&lp, top);
            self.logprobs.push(TokenLogprob {
                token_position: self.generated.len(),
                token: model.tokenizer.token_text(next),
                logprob: f64::from(lp[next as usize]),
                top_tokens: best
                    .iter()
                    .map(|&i| model.tokenizer.token_text(i as u32))
                    .collect(),
                top_logprobs: best.iter().map(|&i| f64::from(lp[i])).collect(),
            });
        }
        self.generated.push(next);
        // Stop strings may span tokens: look for them in the text so far.
        if !s.stop.is_empty() {
            let text = model.tokenizer.decode(&self.generated);
            self.cut = s
                .stop
                .iter()
                .filter_map(|stop| text.find(stop.as_str()))
                .min();
            if self.cut.is_some() {
                return Some(FinishReason::Stop);
            }
        }
        (self.generated.len() >= s.max_tokens).then_some(FinishReason::Length)
    }

    fn answer(self, finish: FinishReason, model: &Model) {
        let mut text = model.tokenizer.decode(&self.generated);
        if let Some(cut) = self.cut {
            text.truncate(cut);
        }
        let _ = self.job.reply.send(Ok(Generated {
            text,
            finish,
            logprobs: self.logprobs,
            input_tokens: self.job.prompt_ids.len(),
            output_tokens: self.generated.len(),
            first_token: self.first_token,
        }));
    }

    fn fail(self, error: ProviderError) {
        let _ = self.job.reply.send(Err(error));
    }
}

/// Whether the caller gave up on `job` (its flag, or its reply no longer awaited).
fn job_abandoned(job: &Job) -> bool {
    job.cancelled.load(Ordering::Relaxed) || job.reply.is_closed()
}

fn abandoned_error() -> ProviderError {
    ProviderError::new(ErrorKind::Timeout, "local model: the request was abandoned")
}

/// The thread's loop: take new jobs, run a step, answer the finished, until every handle is
/// gone and nothing is left.
fn run(model: &Model, batch: usize, inbox: &mpsc::Receiver<Job>) {
    // Each step runs inside rayon's pool, so that the forward pass's many parallel loops are
    // forked and joined among its workers instead of each being handed over from this thread
    // (measured: about a tenth of a step went to those hand-overs).
    let pool = rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("pacer-local-{i}"))
        .build();
    let mut waiting: VecDeque<Job> = VecDeque::new();
    let mut active: Vec<Sequence> = Vec::new();
    loop {
        if active.is_empty() && waiting.is_empty() {
            match inbox.recv() {
                Ok(job) => waiting.push_back(job),
                Err(_) => return,
            }
        }
        waiting.extend(inbox.try_iter());
        for job in std::mem::take(&mut waiting) {
            if job_abandoned(&job) {
                let _ = job.reply.send(Err(abandoned_error()));
            } else if job.sampling.max_tokens == 0 {
                // Nothing to generate: the prompt is not even read.
                Sequence::new(job).answer(FinishReason::Length, model);
            } else if active.len() < batch {
                active.push(Sequence::new(job));
            } else {
                waiting.push_back(job);
            }
        }
        let (kept, gone): (Vec<_>, Vec<_>) = active.into_iter().partition(|s| !s.abandoned());
        active = kept;
        gone.into_iter().for_each(|s| s.fail(abandoned_error()));
        if active.is_empty() {
            continue;
        }
        // A panic in a step (a defect, never an input) fails that step's requests instead of
        // taking the thread, and every later request, with it.
        let stepped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match &pool {
            Ok(pool) => pool.install(|| step(model, &mut active)),
            Err(_) => step(model, &mut active),
        }));
        if stepped.is_err() {
            for seq in active.drain(..) {
                seq.fail(ProviderError::new(
                    ErrorKind::Server,
                    "local model: the step panicked (a defect: please report it)",
                ));
            }
        }
    }
}

/// One forward pass over the active sequences; the finished leave `active`, answered.
fn step(model: &Model, active: &mut Vec<Sequence>) {
    let mut budget = PREFILL_CHUNK;
    // Which sequence each item is, and how many prompt tokens it reads.
    let mut whose = Vec::new();
    let mut items = Vec::new();
    for (i, seq) in active.iter_mut().enumerate() {
        let prompt = &seq.job.prompt_ids;
        if seq.read < prompt.len() {
            let take = (prompt.len() - seq.read).min(budget);
            if take == 0 {
                continue;
            }
            budget -= take;
            whose.push((i, take));
            items.push(Item {
                cache: &mut seq.cache,
                tokens: &prompt[seq.read..seq.read + take],
                logits: seq.read + take == prompt.len(),
            });
        } else {
            whose.push((i, 0));
            let last = seq.generated.len() - 1;
            items.push(Item {
                cache: &mut seq.cache,
                tokens: &seq.generated[last..],
                logits: true,
            });
        }
    }
    let wants: Vec<bool> = items.iter().map(|i| i.logits).collect();
    let result = model.net.forward(&mut items);
    drop(items);
    let logits = match result {
        Ok(logits) => logits,
        Err(e) => {
            // The caches of this step are half-written: every sequence in it fails.
            let stepped: Vec<usize> = whose.iter().map(|(i, _)| *i).collect();
            for (i, seq) in std::mem::take(active).into_iter().enumerate() {
                if stepped.contains(&i) {
                    seq.fail(ProviderError::new(
                        ErrorKind::Server,
                        format!("local model: {e}"),
                    ));
                } else {
                    active.push(seq);
                }
            }
            return;
        }
    };
    let mut logits = logits.into_iter();
    let mut finished = Vec::new();
    for (&(i, read), wants) in whose.iter().zip(wants) {
        let seq = &mut active[i];
        seq.read += read;
        if wants {
            let row = logits
                .next()
                .expect("one row of logits per item that wants them");
            if let Some(finish) = seq.next(&row, model) {
                finished.push((i, finish));
            }
        }
    }
    // Answer the finished, latest index first so the others keep theirs.
    finished.sort_by_key(|(i, _)| std::cmp::Reverse(*i));
    for (i, finish) in finished {
        active.remove(i).answer(finish, model);
    }
}
