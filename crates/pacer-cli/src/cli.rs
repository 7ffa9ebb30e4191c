//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Send prompts × models × samples to language models, paced just under every rate limit,
/// retried, and resumable after any crash.
#[derive(Debug, Parser)]
#[command(
    name = "pacer",
    version,
    about = "Pacer: prompts × models × samples sent to language models, paced just under every rate limit, retried and resumable (run, validate, export); one set of limits shared by many clients (serve); a local stand-in for the providers' APIs (mock)."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every prompt on every model; one record per model × prompt × sample.
    Run(RunArgs),
    /// Write seed 003's combined results.json from a run's folder.
    Export(ExportArgs),
    /// Serve a local stand-in for the OpenAI, Anthropic and Gemini APIs, with rate limits,
    /// headers and faults.
    Mock(crate::mock::MockArgs),
    /// Check a run's setup before anything is spent: keys, files, output folder, limits, and
    /// the tokens and cost of the whole run.
    Validate(ValidateArgs),
    /// Serve an OpenAI-compatible gateway that paces every client's requests under the
    /// config's model limits.
    Serve(ServeArgs),
    /// Run jobs of a `pacer run --redis` coordinator on this host: models from the run,
    /// keys from this host's environment (or `--config`), pacing shared through Redis.
    Worker(WorkerArgs),
    /// List a run's batches (batch mode) and their state at the provider; `--cancel`
    /// cancels those still running.
    Batches(BatchesArgs),
    /// Write one self-contained HTML report of one or more run folders: overview, models
    /// compared, charts of pacing, latency, errors and tokens, and the answers side by side.
    Report(ReportArgs),
}

/// `pacer report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The runs' output folders; two or more are shown side by side.
    #[arg(value_name = "DIR", required = true)]
    pub dirs: Vec<PathBuf>,
    /// Where to write the report [default: DIR/report.html of the first folder].
    #[arg(short, long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The most prompts in the report's prompt browser (the same prompts in every run).
    #[arg(long, value_name = "N", default_value_t = pacer_report::DEFAULT_PROMPTS)]
    pub prompts: usize,
}

/// `pacer batches`.
#[derive(Debug, Args)]
pub struct BatchesArgs {
    /// The run's output folder.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Cancel the batches still running (their unanswered jobs stay pending; a resume
    /// submits them again).
    #[arg(long)]
    pub cancel: bool,
    /// The run's config, for its models' keys and URLs [default: the config kept in the
    /// folder's run.json, keys from the environment].
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `pacer worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The Redis server of the run (`redis://host:6379`).
    #[arg(long, value_name = "URL", env = "PACER_REDIS", hide_env_values = true)]
    pub redis: String,
    /// A config whose models give this worker their keys and, where set, their `base_url`
    /// (by label; a run's published URL is not trusted over it) [default: each provider's
    /// usual environment variable].
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The run to work on [default: the newest run in progress, waiting for one].
    #[arg(long, value_name = "ID")]
    pub run: Option<String>,
    /// Exit when the run ends, instead of waiting for the next.
    #[arg(long)]
    pub once: bool,
    /// Take over the jobs of a worker silent this long, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub idle_timeout: f64,
    /// This worker's name among the run's workers [default: host name and process id].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

/// `pacer serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The config file: its models (as for `pacer run`) and gateway settings; or none, with
    /// the models given by `-m` (keys from PACER_GATEWAY_KEYS).
    #[arg(short, long, value_name = "FILE", required_unless_present = "models")]
    pub config: Option<PathBuf>,
    /// The models and their limits (replacing the config's models).
    #[command(flatten)]
    pub model: ModelFlags,
    /// The address to listen on [default: the config's `listen`, else 127.0.0.1:8787].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Where the usage log goes: a file, or `-` for standard output [default: the config's
    /// `usage_log`, else standard output].
    #[arg(long, value_name = "FILE")]
    pub usage_log: Option<PathBuf>,
    /// Also write each request's and reply's body to the usage log.
    #[arg(long)]
    pub log_bodies: bool,
    /// Serve without gateway keys (anyone who can reach the address may use it).
    #[arg(long)]
    pub no_auth: bool,
    /// Share each model's limits through this Redis server with every other gateway, run
    /// and worker on it [default: the config's `redis`].
    #[arg(long, value_name = "URL")]
    pub redis: Option<String>,
}

/// `pacer validate`: the same options as `pacer run`, plus `--ping`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The run to check.
    #[command(flatten)]
    pub run: RunArgs,
    /// Also send one tiny request per model.
    #[arg(long)]
    pub ping: bool,
}

/// `pacer run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The prompts file (JSON, JSONL, CSV or an OpenAI batch file).
    #[arg(value_name = "PROMPTS")]
    pub prompts_arg: Option<PathBuf>,
    /// A config in the config file's form, given in memory (the Python package's
    /// `pacer.run(dict)`): relative paths in it are from the current folder.
    #[arg(skip)]
    pub config_value: Option<serde_json::Value>,
    /// Where a run is embedded (the Python package): what interrupts it, in place of
    /// Ctrl-C, which stays the host's. Notified, the run stops as at a first Ctrl-C.
    #[arg(skip)]
    pub interrupt: Option<std::sync::Arc<tokio::sync::Notify>>,
    /// A config file: Pacer's TOML or seed 003's JSON.
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The prompts file (same as the positional argument).
    #[arg(long, value_name = "FILE", conflicts_with = "prompts_arg")]
    pub prompts: Option<PathBuf>,
    /// The models and their limits.
    #[command(flatten)]
    pub model: ModelFlags,
    /// The output folder.
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Only the first N prompts.
    #[arg(long, value_name = "N")]
    pub num_prompts: Option<u64>,
    /// Continue a run in the output folder, skipping finished items.
    #[arg(long, conflicts_with = "fresh")]
    pub resume: bool,
    /// Move the output folder's old results aside and start again.
    #[arg(long)]
    pub fresh: bool,
    /// With --resume (implied): run the failed items again.
    #[arg(long, conflicts_with = "fresh")]
    pub retry_failed: bool,
    /// Record malformed prompts in invalid_inputs.jsonl and go on instead of stopping.
    #[arg(long)]
    pub skip_invalid: bool,
    /// No progress output and no table.
    #[arg(short, long)]
    pub quiet: bool,
    /// Also write seed 003's combined results.json at the end.
    #[arg(long)]
    pub export: bool,
    /// Also write report.html (see `pacer report`) into the output folder at the end.
    #[arg(long)]
    pub report: bool,
    /// Completions per prompt, for every model.
    #[arg(long, value_name = "N")]
    pub samples: Option<u32>,
    /// Sampling temperature for every model.
    #[arg(long, value_name = "T")]
    pub temperature: Option<f64>,
    /// Sampling seed for every model.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Record the top-5 log-probabilities of the first 50 tokens (`token_logprobs`), for
    /// every model.
    #[arg(long)]
    pub logprobs: bool,
    /// Send every model's jobs through its provider's batch API (half price, answered
    /// within 24 hours), except models whose entry says `mode = "live"`.
    #[arg(long)]
    pub batch: bool,
    /// Coordinate the run through this Redis server: jobs go on its streams for `pacer
    /// worker` processes on any host, results come back to this run's journal [default:
    /// the config's `redis`].
    #[arg(long, value_name = "URL")]
    pub redis: Option<String>,
    /// A JSON Schema file every output must match (structured output), for every model:
    /// sent to the provider, each reply validated, invalid ones retried.
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
}

/// The models and their limits, as `pacer run` and `pacer serve` take them.
#[derive(Debug, Args)]
pub struct ModelFlags {
    /// A model as TYPE:NAME (e.g. mock:small); repeatable; replaces the config's models.
    #[arg(short = 'm', long = "model", value_name = "TYPE:NAME")]
    pub models: Vec<String>,
    /// A cap on requests in flight per model (default: as many as the limit admits).
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Requests per minute per model.
    #[arg(long, value_name = "N")]
    pub rpm: Option<u64>,
    /// Tokens per minute per model.
    #[arg(long, value_name = "N")]
    pub tpm: Option<u64>,
    /// Input tokens per minute per model (Anthropic's ITPM).
    #[arg(long, value_name = "N")]
    pub itpm: Option<u64>,
    /// Output tokens per minute per model (Anthropic's OTPM).
    #[arg(long, value_name = "N")]
    pub otpm: Option<u64>,
    /// Known limits per model and usage tier (seed 001's rate_config.json).
    #[arg(long, value_name = "FILE")]
    pub limits: Option<PathBuf>,
    /// The usage tier to read from the limits file.
    #[arg(long, value_name = "N")]
    pub tier: Option<String>,
    /// Output cap per completion.
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<u32>,
    /// Error retries per item.
    #[arg(long, value_name = "N")]
    pub max_retries: Option<u32>,
    /// Stop dispatching before the cost (a run's, resumes included) would pass this many US
    /// dollars; a run's rest stays pending for a resume with a larger budget.
    #[arg(long, value_name = "USD")]
    pub budget_usd: Option<f64>,
    /// Stop dispatching before the tokens (a run's, resumes included) would pass this many.
    #[arg(long, value_name = "N")]
    pub budget_tokens: Option<u64>,
}

impl ModelFlags {
    /// These flags as config overrides (the rest left unset).
    pub fn overrides(&self) -> crate::config::Overrides {
        crate::config::Overrides {
            models: self.models.clone(),
            concurrency: self.concurrency,
            rpm: self.rpm,
            tpm: self.tpm,
            itpm: self.itpm,
            otpm: self.otpm,
            max_tokens: self.max_tokens,
            max_retries: self.max_retries,
            tier: self.tier.clone(),
            limits_file: self.limits.clone(),
            budget_usd: self.budget_usd,
            budget_tokens: self.budget_tokens,
            ..crate::config::Overrides::default()
        }
    }
}

/// `pacer export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The run's output folder.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Where to write (default DIR/results.json, or DIR/batch_output.jsonl).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// `seed003`: one results.json of every run, as run_pilot.py wrote it; `openai-batch`:
    /// OpenAI Batch API output lines, one per record.
    #[arg(long, value_enum, default_value = "seed003")]
    pub format: ExportFormat,
    /// `--format openai-batch`: only this model's records.
    #[arg(long, value_name = "LABEL")]
    pub label: Option<String>,
}

/// What `pacer export` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// Seed 003's combined results.json.
    Seed003,
    /// OpenAI Batch API output lines.
    OpenaiBatch,
}
