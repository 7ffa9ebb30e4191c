//! The usage log: one JSON line per request, flushed as written.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::sync::Mutex;

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
