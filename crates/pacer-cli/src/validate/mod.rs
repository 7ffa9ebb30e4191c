//! `pacer validate`: checks a run's setup before anything is spent (seed 003's
//! `validate_setup`): the config, every model's key and endpoint, the prompts, the output
//! folder, the limits against the largest request, and the tokens, cost and time of the
//! whole run; `--ping` sends one tiny request per model.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use pacer_core::{Provider, Request};
use pacer_limit::{Dimension, Limiter, LimiterConfig};

use crate::cli::ValidateArgs;
use crate::config::{Connection, ModelSpec};
use crate::providers;
use crate::run::load;

mod estimate;

use estimate::{estimate, minutes};

/// Runs `pacer validate`; exits 1 when a check fails (2 for a config error, as `pacer run`).
pub async fn main(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let config = load(&args.run)?;
    let mut failed = false;
    let mut out = String::new();
    let say = |out: &mut String, ok: bool, what: String| {
        let _ = writeln!(out, "{} {what}", if ok { "ok  " } else { "FAIL" });
    };

    let scan = pacer_batch::scan(&config.prompts, config.num_prompts, true);
    let prompts = match &scan {
        Ok(scan) => {
            let invalid = match scan.invalid.len() {
                0 => String::new(),
                n => format!(", {n} invalid (the first: {})", scan.invalid[0]),
            };
            say(
                &mut out,
                scan.invalid.is_empty(),
                format!(
                    "prompts: {} valid in {}{invalid}",
                    scan.count,
                    config.prompts.display()
                ),
            );
            failed |= !scan.invalid.is_empty();
            scan.count
        }
        Err(e) => {
            say(&mut out, false, format!("prompts: {e}"));
            failed = true;
            0
        }
    };
    let writable = check_output(&config.output);
    say(
        &mut out,
        writable.is_ok(),
        match &writable {
            Ok(note) => format!("output folder {}: {note}", config.output.display()),
            Err(e) => format!("output folder {}: {e}", config.output.display()),
        },
    );
    failed |= writable.is_err();

    let mut total_usd = Some(0.0);
    for model in &config.models {
        let provider = match providers::build(model) {
            Ok(provider) => provider,
            Err(e) => {
                say(&mut out, false, format!("{}: {}", model.label, e.message));
                failed = true;
                continue;
            }
        };
        say(
            &mut out,
            true,
            format!("{}: {}", model.label, endpoint(model)),
        );
        let estimate = estimate(&config, model, provider.as_ref());
        let limiter = Limiter::new(LimiterConfig::new(model.limits));
        let fits = limiter.check(estimate.largest);
        let limits = describe_limits(model, provider.as_ref());
        say(
            &mut out,
            fits.is_ok(),
            match &fits {
                Ok(()) => format!("{}: limits {limits}", model.label),
                Err(e) => format!(
                    "{}: limits {limits}: the largest request cannot pass: {e}",
                    model.label
                ),
            },
        );
        failed |= fits.is_err();
        if model.batch.is_some() && provider.batch_api().is_none() {
            say(
                &mut out,
                false,
                format!(
                    "{}: batch mode, but {} has no batch API (openai, anthropic and gemini do)",
                    model.label,
                    provider.kind()
                ),
            );
            failed = true;
        }
        if model.embed.is_some() && provider.embedding_limits().is_none() {
            say(
                &mut out,
                false,
                format!(
                    "{}: an embedding model, but {} has no embeddings API (openai, gemini and mock do)",
                    model.label,
                    provider.kind()
                ),
            );
            failed = true;
        }
        let worst =
            |p: pacer_core::Price| p.worst_case(estimate.input_tokens, estimate.max_output_tokens);
        let live = model.price.map(worst);
        let batch = model
            .batch
            .clone()
            .unwrap_or_default()
            .price_over(model.price)
            .map(worst);
        let cost = if model.batch.is_some() { batch } else { live };
        total_usd = total_usd.zip(cost).map(|(a, b)| a + b);
        // Embedding models run live only: no batch price to compare with.
        let batchable = provider.batch_api().is_some() && model.embed.is_none();
        let costs = match (live, batch, batchable) {
            (None, _, _) => "cost unknown (no price)".into(),
            (Some(live), Some(batch), true) => {
                let (chosen, other) = if model.batch.is_some() {
                    ("batch", "live")
                } else {
                    ("live", "batch")
                };
                let (a, b) = if model.batch.is_some() {
                    (batch, live)
                } else {
                    (live, batch)
                };
                format!("at most ${a:.4} {chosen} (${b:.4} {other})")
            }
            (Some(live), _, _) => format!("at most ${live:.4}"),
        };
        let _ = writeln!(
            out,
            "     {}: {} jobs in {} calls, ~{} input tokens, at most {} output tokens, {costs}{}",
            model.label,
            estimate.jobs,
            estimate.calls,
            estimate.input_tokens,
            estimate.max_output_tokens,
            if model.batch.is_some() {
                ", answered within 24 hours (batch mode)".to_owned()
            } else {
                minutes(model, &estimate)
            },
        );
        if args.ping {
            let (ok, line) = ping(model, provider.as_ref()).await;
            say(&mut out, ok, format!("{}: ping {line}", model.label));
            failed |= !ok;
        }
    }
    if let Some(usd) = total_usd {
        let _ = writeln!(out, "     whole run ({prompts} prompts): at most ${usd:.4}");
    }
    if let Some(max) = config.budget.usd {
        let _ = writeln!(
            out,
            "     budget: ${max} (the run stops dispatching before it)"
        );
    }
    if let Some(max) = config.budget.tokens {
        let _ = writeln!(out, "     budget: {max} tokens");
    }
    print!("{out}");
    Ok(if failed {
        println!("pacer validate: some checks failed");
        ExitCode::from(1)
    } else {
        println!("pacer validate: ready");
        ExitCode::SUCCESS
    })
}

/// Where the model is reached, and whether a key is set (never the key itself).
fn endpoint(model: &ModelSpec) -> String {
    let key = |set: bool| if set { "key set" } else { "no key" };
    match &model.connection {
        Connection::Mock => "mock provider, in-process".into(),
        Connection::OpenAi(c) => format!("openai at {}, {}", c.base_url, key(c.api_key.is_some())),
        Connection::Anthropic(c) => {
            format!("anthropic at {}, {}", c.base_url, key(c.api_key.is_some()))
        }
        Connection::Gemini(c) => format!("gemini at {}, {}", c.base_url, key(c.api_key.is_some())),
        #[cfg(feature = "local")]
        Connection::Local(c) => format!("local model {} on {}", c.model_path.display(), c.device),
    }
}

fn describe_limits(model: &ModelSpec, provider: &dyn Provider) -> String {
    let set: Vec<String> = Dimension::ALL
        .iter()
        .filter_map(|d| model.limits.get(*d).map(|v| format!("{v} {}", d.key())))
        .collect();
    match (set.is_empty(), provider.reports_rate_limits()) {
        (false, _) => set.join(", "),
        (true, true) => "none given: learned from the first reply's headers".into(),
        (true, false) => "none given, and the provider reports none: not limited".into(),
    }
}

/// Whether results can be written to `dir`: it is probed with a file of its own, or, when it
/// does not exist yet, its nearest existing parent.
fn check_output(dir: &Path) -> Result<String, String> {
    let (probe_dir, note) = if dir.is_dir() {
        (dir.to_path_buf(), "writable")
    } else if dir.exists() {
        return Err("exists and is not a folder".into());
    } else {
        let parent = dir
            .ancestors()
            .skip(1)
            .find(|p| p.as_os_str().is_empty() || p.is_dir())
            .map(|p| {
                if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                }
            })
            .unwrap_or(Path::new("."));
        (parent.to_path_buf(), "will be created")
    };
    let probe = probe_dir.join(format!(".pacer-validate-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map(|()| note.to_owned())
        .map_err(|e| format!("cannot write in {}: {e}", probe_dir.display()))
}

/// One tiny request: "ok in N ms" with the start of the reply, or the classified error.
async fn ping(model: &ModelSpec, provider: &dyn Provider) -> (bool, String) {
    let mut request = match model.embed {
        Some(_) => Request::embedding(&model.name, vec!["OK".into()]),
        None => Request::text(&model.name, None, "Reply with the word OK."),
    };
    request.params = model.params.clone();
    request.params.max_tokens = (!request.is_embedding()).then_some(16);
    request.params.n = 1;
    request.params.logprobs = false;
    request.params.top_logprobs = None;
    let started = Instant::now();
    let result = tokio::time::timeout(model.timeout, provider.send(&request)).await;
    let ms = started.elapsed().as_millis();
    match result {
        Ok(Ok(response)) if request.is_embedding() => {
            let version = response.model_version.unwrap_or_else(|| model.name.clone());
            let dimensions = response.embeddings.first().map_or(0, Vec::len);
            (
                true,
                format!("ok in {ms} ms from {version}: a vector of {dimensions}"),
            )
        }
        Ok(Ok(response)) => {
            let text: String = response
                .choices
                .first()
                .map(|c| c.text.chars().take(40).collect())
                .unwrap_or_default();
            let version = response.model_version.unwrap_or_else(|| model.name.clone());
            (true, format!("ok in {ms} ms from {version}: {text:?}"))
        }
        Ok(Err(error)) if error.kind.stops_lane() => {
            (false, format!("{error}; {}", error.kind.advice()))
        }
        Ok(Err(error)) => (false, error.to_string()),
        Err(_) => (false, format!("no reply within {:?}", model.timeout)),
    }
}
