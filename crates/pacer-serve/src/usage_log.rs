//! The usage log: one JSON line per request, flushed as written. It is also the ledger of
//! what each gateway key has spent: a gateway started on the same log reads it back.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Write};
use std::path::Path;
use std::sync::Mutex;

use pacer_core::{Price, Usage};
use pacer_engine::Spending;
use serde_json::Value;

use crate::UsageLog;

pub(crate) struct Writer {
    sink: Mutex<Option<Sink>>,
}

enum Sink {
    Stdout,
    File(File),
}

impl Writer {
    pub(crate) fn open(log: &UsageLog) -> io::Result<Self> {
        let sink = match log {
            UsageLog::Off => None,
            UsageLog::Stdout => Some(Sink::Stdout),
            UsageLog::File(path) => Some(Sink::File(
                OpenOptions::new().create(true).append(true).open(path)?,
            )),
        };
        Ok(Self {
            sink: Mutex::new(sink),
        })
    }

    pub(crate) fn enabled(&self) -> bool {
        self.sink.lock().is_ok_and(|s| s.is_some())
    }

    pub(crate) fn write(&self, line: &Value) {
        let mut text = line.to_string();
        text.push('\n');
        let mut sink = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        let written = match sink.as_mut() {
            None => return,
            Some(Sink::Stdout) => io::stdout().lock().write_all(text.as_bytes()),
            Some(Sink::File(file)) => file.write_all(text.as_bytes()),
        };
        if let Err(e) = written {
            tracing::warn!("cannot write the usage log: {e}");
        }
    }
}

/// What each client key spent by the lines of the log at `path`: every line's tokens, and
/// their cost at its model's price in `prices` (none for a model not served any more). No
/// file: nothing spent. A torn last line, or any line that is not one of the log's, is
/// skipped.
pub(crate) fn spent_per_client(
    path: &Path,
    prices: &HashMap<String, Option<Price>>,
) -> io::Result<HashMap<String, Spending>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => return Err(e),
    };
    let mut spent: HashMap<String, Spending> = HashMap::new();
    let mut reader = io::BufReader::new(file);
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(spent);
        }
        let Ok(value) = serde_json::from_slice::<Value>(&line) else {
            continue;
        };
        let (Some(client), Some(model)) = (value["client"].as_str(), value["model"].as_str())
        else {
            continue;
        };
        let usage = Usage {
            input_tokens: value["input_tokens"].as_u64().unwrap_or(0),
            output_tokens: value["output_tokens"].as_u64().unwrap_or(0),
            ..Usage::default()
        };
        let entry = spent.entry(client.to_owned()).or_default();
        entry.tokens += usage.total();
        if let Some(Some(price)) = prices.get(model) {
            entry.usd += price.cost(&usage);
        }
    }
}
