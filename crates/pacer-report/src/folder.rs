//! One run folder read into a [`Run`]: its results streamed once, then `run.json` (the
//! configured limits, the prompts file), `summary.json` (what was pending, why a lane
//! stopped) and `events.jsonl` (sessions, cool-downs, limits, stops) added.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use pacer_batch::input::PromptReader;
use pacer_batch::{Manifest, RESULTS_FILE, Summary, read_events};
use serde_json::Value;

use crate::ReportError;
use crate::aggregate::{RunAgg, bucket_width};
use crate::data::{Limits, PromptView, Run, Tokens};
use crate::events::Events;
use crate::line::Line;
use crate::sample::{Sampler, clip};

/// Characters of a prompt kept for the browser.
const MAX_PROMPT: usize = 4000;

/// What reading one folder gives.
pub(crate) struct Read {
    pub run: Run,
    /// The prompts file, where it could be found.
    pub prompts_file: Option<PathBuf>,
    /// The distinct prompts its busiest label answered.
    pub prompts_seen: u64,
}

/// Reads the folder `dir`, run number `index`, offering its records to `sampler`.
pub(crate) fn read(index: usize, dir: &Path, sampler: &mut Sampler) -> Result<Read, ReportError> {
    let path = dir.join(RESULTS_FILE);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(ReportError::NoResults(dir.to_path_buf()));
        }
        Err(source) => {
            return Err(ReportError::Io {
                doing: "read",
                path,
                source,
            });
        }
    };
    let mut agg = RunAgg::default();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    // Bytes, not text: a last line torn inside a character is skipped like any torn line.
    let mut bytes = Vec::new();
    let mut number = 0u64;
    loop {
        bytes.clear();
        let read = reader
            .read_until(b'\n', &mut bytes)
            .map_err(|source| ReportError::Io {
                doing: "read",
                path: path.clone(),
                source,
            })?;
        if read == 0 {
            break;
        }
        number += 1;
        let whole = bytes.ends_with(b"\n");
        let bad = |message: String| ReportError::BadLine {
            path: path.clone(),
            line: number,
            message,
        };
        let text = match std::str::from_utf8(&bytes) {
            Ok(text) => text.trim(),
            Err(_) if !whole => break,
            Err(e) => return Err(bad(format!("not UTF-8 text: {e}"))),
        };
        if text.is_empty() {
            continue;
        }
        let line: Line = match serde_json::from_str(text) {
            Ok(line) => line,
            // A torn last line (a run killed mid-write): what `--resume` drops too.
            Err(_) if !whole => break,
            // Read again to name the field (`prompt_id: invalid type: integer…`): tracking
            // the path of every line would double the time of a good one.
            Err(e) => {
                let again: Result<Line, _> =
                    serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(text));
                let message = again
                    .err()
                    .map_or_else(|| e.to_string(), |e| field_error(&e));
                return Err(bad(message));
            }
        };
        agg.add(&line);
        sampler.offer(index, &line, text);
    }
    let manifest = Manifest::read(dir)?;
    let summary = Summary::read(dir)?;
    let mut events = Events::default();
    read_events(dir, |event| events.add(event))?;
    let prompts_seen = agg
        .models
        .values()
        .map(|m| m.first_samples)
        .max()
        .unwrap_or(0);
    let prompts_file = manifest
        .as_ref()
        .and_then(|m| m.prompts_file.as_deref())
        .and_then(|file| find_prompts(dir, file));
    let run = assemble(dir, agg, manifest, summary, events);
    Ok(Read {
        run,
        prompts_file,
        prompts_seen,
    })
}

/// `field: what serde said`, without serde's position in the line.
fn field_error(error: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let inner = error.inner();
    let mut what = inner.to_string();
    if let Some(at) = what.rfind(" at line ") {
        what.truncate(at);
    }
    match error.path().to_string().as_str() {
        "." => what,
        path => format!("field `{path}`: {what}"),
    }
}

/// The run from its aggregates and side files.
fn assemble(
    dir: &Path,
    agg: RunAgg,
    manifest: Option<Manifest>,
    summary: Option<Summary>,
    events: Events,
) -> Run {
    // The run's start, from run.json; without it (records of seed 003's script), the first
    // record's.
    let started = manifest.as_ref().and_then(|m| unix(&m.started_at));
    let t0 = [started.or(agg.first), events.first]
        .into_iter()
        .flatten()
        .reduce(f64::min)
        .unwrap_or(0.0)
        .floor();
    let last = agg.last.unwrap_or(t0).max(t0);
    let span = last - t0;
    let width = bucket_width(span);
    let buckets = ((span / width).floor() as usize + 1).max(1);
    let config = manifest.as_ref().map(|m| &m.config);
    let mut run = Run {
        name: String::new(),
        path: dir.display().to_string(),
        run_id: manifest.as_ref().map(|m| m.run_id.clone()).or(agg.run_id),
        started_at: manifest.as_ref().map(|m| m.started_at.clone()),
        ended_at: agg.last.and_then(|t| {
            chrono::DateTime::from_timestamp_micros((t * 1e6) as i64)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        }),
        t0,
        wall_seconds: span,
        prompts_file: manifest.as_ref().and_then(|m| m.prompts_file.clone()),
        bucket_seconds: width,
        ..Run::default()
    };
    run.name = dir
        .file_name()
        .map_or_else(|| run.path.clone(), |n| n.to_string_lossy().into_owned());
    for (label, model) in agg.models {
        let mut model = model.finish(label, t0 as i64, width, buckets);
        model.limits = configured_limits(config, &model.label);
        if let Some(lane) = summary.as_ref().and_then(|s| s.models.get(&model.label)) {
            model.pending = Some(lane.pending);
            model.stopped.clone_from(&lane.stopped);
        }
        run.records += model.records;
        run.ok += model.ok;
        run.failed += model.failed;
        let t: Tokens = model.tokens;
        run.tokens.add(t.input, t.output);
        if let Some(cost) = model.cost_usd {
            *run.cost_usd.get_or_insert(0.0) += cost;
        }
        run.models.push(model);
    }
    if let Some(summary) = &summary {
        run.pending = Some(summary.models.values().map(|m| m.pending).sum());
        run.budget_exhausted = summary.budget_exhausted;
    }
    run.sessions = events.sessions;
    run.resumes = events.resumes;
    run.events_left_out = events.left_out;
    run.events = events
        .kept
        .into_iter()
        .map(|(time, event)| crate::events::view(event, time - t0))
        .collect();
    if run.sessions == 0 && run.records > 0 {
        // A folder from before events.jsonl: the summary says whether it was resumed.
        run.sessions = 1;
        run.resumes = u32::from(summary.is_some_and(|s| s.resumed));
        run.sessions += run.resumes;
    }
    run
}

/// RFC 3339 text in Unix seconds.
pub(crate) fn unix(text: &str) -> Option<f64> {
    let time = chrono::DateTime::parse_from_rfc3339(text).ok()?;
    Some(time.timestamp_micros() as f64 / 1e6)
}

/// The limits a model entry of the run's config set: `rpm` / `requests_per_minute` and
/// `tpm` / `tokens_per_minute`, the entry's own or the config's top level.
fn configured_limits(config: Option<&Value>, label: &str) -> Limits {
    let Some(config) = config else {
        return Limits::default();
    };
    let entry = config
        .get("models")
        .and_then(Value::as_array)
        .and_then(|models| {
            models.iter().find(|m| {
                let name = m.get("label").or_else(|| m.get("name"));
                name.and_then(Value::as_str) == Some(label)
            })
        });
    let get = |keys: [&str; 2]| {
        let find = |v: &Value| keys.iter().find_map(|k| v.get(*k).and_then(Value::as_u64));
        entry.and_then(find).or_else(|| find(config))
    };
    Limits {
        rpm: get(["rpm", "requests_per_minute"]),
        tpm: get(["tpm", "tokens_per_minute"]),
    }
}

/// The prompts file `given` in `run.json`: as given (relative to where the run was started,
/// perhaps here), else beside or above the folder.
fn find_prompts(dir: &Path, given: &str) -> Option<PathBuf> {
    let given = Path::new(given);
    let mut candidates = vec![given.to_path_buf()];
    if given.is_relative() {
        candidates.push(dir.join(given));
        if let Some(name) = given.file_name() {
            candidates.push(dir.join(name));
        }
        let mut above = dir.parent();
        while let Some(parent) = above {
            candidates.push(parent.join(given));
            above = parent.parent();
        }
    }
    candidates.into_iter().find(|c| c.is_file())
}

/// Sets the text of every prompt of `prompts` that `file` holds and that has none yet. A
/// file that cannot be read leaves the texts unset: the browser shows the ids.
pub(crate) fn fill_prompt_texts(file: &Path, prompts: &mut [PromptView]) {
    let mut wanted: HashMap<String, usize> = prompts
        .iter()
        .enumerate()
        .filter(|(_, p)| p.prompt.is_none())
        .map(|(i, p)| (p.prompt_id.clone(), i))
        .collect();
    let Ok(reader) = PromptReader::open(file) else {
        return;
    };
    for prompt in reader.flatten() {
        if wanted.is_empty() {
            break;
        }
        let Some(at) = wanted.remove(&prompt.id) else {
            continue;
        };
        let text = match prompt.messages.as_slice() {
            [one] => one.text().into_owned(),
            messages => messages
                .iter()
                .map(|m| format!("{}: {}", m.role.as_str(), m.text()))
                .collect::<Vec<_>>()
                .join("\n\n"),
        };
        let text = if text.is_empty() {
            prompt.inputs.join("\n")
        } else {
            text
        };
        prompts[at].prompt = Some(clip(text, MAX_PROMPT).0);
    }
}

/// Makes the runs' names unique: a second `example` becomes `example (2)`.
pub(crate) fn unique_names(runs: &mut [Run]) {
    let mut taken = HashSet::new();
    for run in runs {
        let mut name = run.name.clone();
        let mut n = 1;
        while !taken.insert(name.clone()) {
            n += 1;
            name = format!("{} ({n})", run.name);
        }
        run.name = name;
    }
}
