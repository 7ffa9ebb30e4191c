//! The lane events of a run, `OUTPUT/events.jsonl`: one JSON line per session start,
//! cool-down, rate-limit refusal, limit learned or lowered, retry, lane stopped or budget
//! reached, with its time,
//! for `pacer report`'s timelines and for a person reading what happened.
//!
//! Each line is written whole in one `write` on a file opened to append, so a crash leaves at
//! most a torn last line, which readers skip and a resume ends before appending. Events are
//! rare beside requests (a retry or a refusal is one per request at most, the rest one per
//! pause or change), and each is one small append to the page cache, so the lane's task
//! writes inline.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use pacer_core::ErrorKind;
use pacer_engine::{Event, Observer};
use serde::{Deserialize, Serialize};

use crate::journal::JournalError;
use crate::record::format_timestamp;

/// The events file's name inside the output folder.
pub const EVENTS_FILE: &str = "events.jsonl";

/// One line of `events.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventLine {
    /// When it happened, RFC 3339 UTC with microseconds.
    pub time: String,
    /// The model label it happened to; absent for the run itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lane: Option<String>,
    /// What happened.
    #[serde(flatten)]
    pub what: What,
}

/// What an event line says.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum What {
    /// A session of the run started: the first, or a `--resume`.
    Session {
        /// The run's id.
        run_id: String,
        /// Whether it continued an earlier session.
        resumed: bool,
    },
    /// A rate-limit refusal paused the lane.
    Cooldown {
        /// How long the pause lasts.
        seconds: f64,
        /// The refusal's HTTP status.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
        /// The refusal, in the server's words.
        cause: String,
    },
    /// A rate-limit refusal that paused nothing: a capacity hiccup retried alone, or a
    /// refusal that joined a pause already begun.
    Refused {
        /// The refusal's HTTP status.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
        /// The refusal, in the server's words.
        cause: String,
    },
    /// A limit the lane paces by changed (learned from headers, lowered, followed).
    Limit {
        /// `rpm`, `tpm`, `itpm` or `otpm`.
        dimension: String,
        /// Per minute before; absent when the lane had none.
        #[serde(default)]
        from: Option<u64>,
        /// Per minute now.
        #[serde(default)]
        to: Option<u64>,
    },
    /// A job failed with a retryable error and is sent again after a backoff.
    Retry {
        /// The job's item id.
        item: String,
        /// The error's kind.
        kind: ErrorKind,
        /// Which retry this is, from 1.
        retry: u32,
        /// The backoff before it.
        delay_seconds: f64,
    },
    /// The lane stopped taking jobs; those not done stay pending.
    Stopped {
        /// The error kind that stopped it, if one did.
        #[serde(default)]
        kind: Option<ErrorKind>,
        /// Why, in words.
        reason: String,
    },
    /// The run's budget was reached: the lane stopped taking jobs.
    Budget {
        /// What was said, in words.
        reason: String,
    },
}

/// The run's events file, open to append; an [`Observer`] of every lane.
#[derive(Debug)]
pub struct EventLog {
    file: Mutex<File>,
}

impl EventLog {
    /// Opens `dir/events.jsonl`: appended to when `resumed`, else started empty.
    pub fn open(dir: &Path, resumed: bool) -> Result<EventLog, JournalError> {
        let path = dir.join(EVENTS_FILE);
        let mut options = OpenOptions::new();
        options.create(true);
        if resumed {
            // Read too: a torn last line is looked for before appending.
            options.append(true).read(true);
        } else {
            options.write(true).truncate(true);
        }
        let mut file = options
            .open(&path)
            .map_err(JournalError::io("open", &path))?;
        if resumed {
            end_torn_line(&mut file).map_err(JournalError::io("repair", &path))?;
        }
        Ok(EventLog {
            file: Mutex::new(file),
        })
    }

    /// Writes one line: `what`, now, for `lane`. A failed write is left out: the events
    /// are an account of the run, never a reason to stop it.
    pub fn log(&self, lane: Option<&str>, what: What) {
        self.log_at(Utc::now(), lane, what);
    }

    fn log_at(&self, time: DateTime<Utc>, lane: Option<&str>, what: What) {
        let line = EventLine {
            time: format_timestamp(&time),
            lane: lane.map(str::to_owned),
            what,
        };
        let Ok(mut text) = serde_json::to_string(&line) else {
            return;
        };
        text.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let _ = file.write_all(text.as_bytes());
    }
}

/// Ends a torn last line (a crash mid-write) so that the next line starts on its own: the
/// torn piece stays a line that readers skip.
fn end_torn_line(file: &mut File) -> std::io::Result<()> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    let mut last = [0u8];
    let mut reader = &*file;
    reader.seek(SeekFrom::Start(len - 1))?;
    reader.read_exact(&mut last)?;
    if last[0] != b'\n' {
        file.write_all(b"\n")?;
    }
    Ok(())
}

impl Observer for EventLog {
    fn on_event(&self, event: &Event<'_>) {
        let seconds = Duration::as_secs_f64;
        match *event {
            Event::RateLimited {
                lane,
                cooldown: Some(pause),
                status,
                message,
                ..
            } => self.log(
                Some(lane),
                What::Cooldown {
                    seconds: seconds(&pause),
                    status,
                    cause: message.to_owned(),
                },
            ),
            Event::LimitChanged {
                lane,
                dimension,
                from,
                to,
            } => self.log(
                Some(lane),
                What::Limit {
                    dimension: dimension.to_owned(),
                    from,
                    to,
                },
            ),
            Event::Retried {
                lane,
                item,
                kind,
                retry,
                delay,
            } => self.log(
                Some(lane),
                What::Retry {
                    item: item.to_owned(),
                    kind,
                    retry,
                    delay_seconds: seconds(&delay),
                },
            ),
            Event::LaneStopped {
                lane,
                kind: Some(ErrorKind::BudgetExhausted),
                reason,
            } => self.log(
                Some(lane),
                What::Budget {
                    reason: reason.to_owned(),
                },
            ),
            Event::LaneStopped { lane, kind, reason } => self.log(
                Some(lane),
                What::Stopped {
                    kind,
                    reason: reason.to_owned(),
                },
            ),
            Event::RateLimited {
                lane,
                cooldown: None,
                status,
                message,
                ..
            } => self.log(
                Some(lane),
                What::Refused {
                    status,
                    cause: message.to_owned(),
                },
            ),
            _ => {}
        }
    }
}

/// Reads the event lines of `dir/events.jsonl`, calling `each` for every whole line; lines
/// that are not events (a torn last line) are skipped. No file: no lines.
pub fn read_events(dir: &Path, mut each: impl FnMut(EventLine)) -> Result<(), JournalError> {
    use std::io::BufRead as _;
    let path = dir.join(EVENTS_FILE);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(JournalError::io("read", &path)(err)),
    };
    let mut reader = std::io::BufReader::new(file);
    // Bytes, not text: a line torn inside a character is skipped like any torn line.
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(JournalError::io("read", &path))?;
        if read == 0 {
            return Ok(());
        }
        if let Ok(event) = serde_json::from_slice::<EventLine>(&line) {
            each(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lane_events_become_lines_and_read_back() {
        let tmp = tempfile::tempdir().unwrap();
        let log = EventLog::open(tmp.path(), false).unwrap();
        log.log(
            None,
            What::Session {
                run_id: "a1b2c3d4".into(),
                resumed: false,
            },
        );
        log.on_event(&Event::RateLimited {
            lane: "m",
            item: "p1#0",
            cooldown: Some(Duration::from_millis(1500)),
            status: Some(429),
            message: "slow down",
        });
        // A refusal that started no pause is one too.
        log.on_event(&Event::RateLimited {
            lane: "m",
            item: "p2#0",
            cooldown: None,
            status: Some(429),
            message: "slow down",
        });
        log.on_event(&Event::LimitChanged {
            lane: "m",
            dimension: "rpm",
            from: None,
            to: Some(500),
        });
        log.on_event(&Event::LaneStopped {
            lane: "m",
            kind: Some(ErrorKind::BudgetExhausted),
            reason: "budget",
        });
        drop(log);
        // A crash tore the last line (inside a character); the resumed session appends after
        // it, and the torn piece is skipped.
        let mut file = OpenOptions::new()
            .append(true)
            .open(tmp.path().join(EVENTS_FILE))
            .unwrap();
        file.write_all(b"{\"time\": \"2026\xc3").unwrap();
        let log = EventLog::open(tmp.path(), true).unwrap();
        log.on_event(&Event::LaneStopped {
            lane: "m",
            kind: Some(ErrorKind::Auth),
            reason: "bad key",
        });
        drop(log);
        file.write_all(b"{\"time\": \"2026").unwrap();
        let mut lines = Vec::new();
        read_events(tmp.path(), |line| lines.push(line)).unwrap();
        let mut what: Vec<&What> = lines.iter().map(|l| &l.what).collect();
        assert_eq!(what.len(), 6, "{what:?}");
        assert!(matches!(what[0], What::Session { resumed: false, .. }));
        let refused = what.remove(2);
        assert!(matches!(
            refused,
            What::Refused {
                status: Some(429),
                ..
            }
        ));
        assert_eq!(
            what[1],
            &What::Cooldown {
                seconds: 1.5,
                status: Some(429),
                cause: "slow down".into()
            }
        );
        assert_eq!(
            what[2],
            &What::Limit {
                dimension: "rpm".into(),
                from: None,
                to: Some(500)
            }
        );
        assert!(matches!(what[3], What::Budget { .. }));
        assert!(matches!(
            what[4],
            What::Stopped {
                kind: Some(ErrorKind::Auth),
                ..
            }
        ));
        assert_eq!(lines[1].lane.as_deref(), Some("m"));
        assert_eq!(lines[0].lane, None);
        let bytes = std::fs::read(tmp.path().join(EVENTS_FILE)).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.starts_with("{\"time\":"), "{text}");
        assert!(text.contains("\"event\":\"cooldown\""), "{text}");
    }
}
