//! What `pacer validate` estimates of one model's share of a run: its calls (embedding
//! prompts packed as the run packs them), tokens, largest request, and the least time its
//! limits allow.

use pacer_batch::PromptReader;
use pacer_core::Provider;
use pacer_limit::Cost;

use crate::config::{ModelSpec, RunConfig};

/// What one model's share of the run needs.
#[derive(Default)]
pub(super) struct Estimate {
    pub(super) calls: u64,
    pub(super) jobs: u64,
    pub(super) input_tokens: u64,
    pub(super) max_output_tokens: u64,
    pub(super) largest: Cost,
}

/// The run's calls, tokens and largest request on `model`, read from the prompts.
pub(super) fn estimate(config: &RunConfig, model: &ModelSpec, provider: &dyn Provider) -> Estimate {
    let mut e = Estimate::default();
    let Ok(reader) = PromptReader::open(&config.prompts) else {
        return e;
    };
    // A batch line answers one sample.
    let per_call = match model.batch {
        Some(_) => 1,
        None => u64::from(provider.max_samples_per_call(&model.name).max(1)),
    };
    if let Some(embed) = &model.embed {
        return embed_estimate(config, model, provider, embed, reader);
    }
    let samples = u64::from(model.samples);
    for prompt in reader
        .with_limit(config.num_prompts)
        .flatten()
        .filter(pacer_batch::Prompt::for_chat)
    {
        let mut request = pacer_batch::job_request(
            &model.name,
            &model.params,
            prompt.messages,
            prompt.params.as_ref(),
        );
        // The largest call: as many samples as one call takes.
        request.params.n = u32::try_from(samples.min(per_call)).unwrap_or(u32::MAX);
        let largest = pacer_engine::estimate(provider, &request, true);
        let calls = samples.div_ceil(per_call);
        let max_out = largest.output_tokens / u64::from(request.params.n.max(1));
        e.jobs += samples;
        e.calls += calls;
        e.input_tokens += largest.input_tokens * calls;
        e.max_output_tokens += max_out * samples;
        if largest.input_tokens + largest.output_tokens
            > e.largest.input_tokens + e.largest.output_tokens
        {
            e.largest = largest;
        }
    }
    e
}

/// An embedding model's calls and tokens: its prompts packed as the run packs them.
fn embed_estimate(
    config: &RunConfig,
    model: &ModelSpec,
    provider: &dyn Provider,
    embed: &pacer_batch::EmbedSettings,
    reader: PromptReader,
) -> Estimate {
    let mut e = Estimate::default();
    let per_minute = [model.limits.tpm, model.limits.itpm]
        .into_iter()
        .flatten()
        .min()
        .map(std::num::NonZeroU64::get);
    let limits = pacer_batch::PackLimits::new(provider, embed.batch, per_minute);
    let mut packer = pacer_batch::Packer::new(limits);
    let mut count = |pack: pacer_batch::Pack<()>| {
        e.calls += 1;
        if pack.tokens > e.largest.input_tokens {
            e.largest = Cost::request(pack.tokens, 0);
        }
    };
    let (mut jobs, mut input_tokens) = (0, 0);
    for prompt in reader.with_limit(config.num_prompts).flatten() {
        let Some(texts) = prompt.embed_texts() else {
            continue;
        };
        let texts: Vec<String> = texts.into_iter().map(str::to_owned).collect();
        let tokens = pacer_batch::text_tokens(provider, &model.name, &texts);
        jobs += 1;
        input_tokens += tokens.iter().sum::<u64>();
        packer
            .add((), texts, &tokens, prompt.params)
            .into_iter()
            .for_each(&mut count);
    }
    packer.finish().into_iter().for_each(&mut count);
    e.jobs = jobs;
    e.input_tokens = input_tokens;
    e
}

/// The least time the limits allow for the run, in words.
pub(super) fn minutes(model: &ModelSpec, e: &Estimate) -> String {
    let per = |amount: u64, limit: Option<std::num::NonZeroU64>| {
        limit.map_or(0.0, |l| amount as f64 / l.get() as f64)
    };
    let l = &model.limits;
    let least = [
        per(e.calls, l.rpm),
        per(e.input_tokens + e.max_output_tokens, l.tpm),
        per(e.input_tokens, l.itpm),
        per(e.max_output_tokens, l.otpm),
    ]
    .into_iter()
    .fold(0.0, f64::max);
    if least > 0.0 {
        format!("; at least {least:.1} min at these limits")
    } else {
        String::new()
    }
}
