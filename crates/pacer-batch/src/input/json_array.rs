//! JSON input, streamed element by element: an array of prompt objects, or an object holding
//! one under `prompts` (its other keys are skipped unread).
//!
//! serde_json parses on a thread of its own, which hands each element, as a
//! [`serde_json::Value`], through a bounded channel; the reader pulls them one at a time. So
//! memory holds at most the channel's few elements, whatever the size of the file.

use std::fmt;
use std::io::{self, Read};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::{self, JoinHandle};

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer as _};
use serde_json::Value;

use super::error::Problem;
use super::jsonl::syntax_message;
use super::progress::{LineCounter, Progress};
use super::step::Step;

/// Elements parsed ahead of the reader, at most.
const AHEAD: usize = 64;

/// The elements of a JSON file's prompt array, parsed on their own thread.
pub(crate) struct JsonElements {
    steps: Receiver<Step>,
    parser: Option<JoinHandle<()>>,
}

impl JsonElements {
    /// Starts parsing `input`. Dropping the result stops the parser at its next element.
    pub(crate) fn start(input: impl Read + Send + 'static) -> io::Result<Self> {
        let (sender, steps) = sync_channel(AHEAD);
        let parser = thread::Builder::new()
            .name("pacer-json-input".to_owned())
            .spawn(move || parse(input, &sender))?;
        Ok(Self {
            steps,
            parser: Some(parser),
        })
    }

    pub(crate) fn step(&mut self) -> Step {
        if let Ok(step) = self.steps.recv() {
            return step;
        }
        // The parser hung up: it finished, or it panicked, which must not pass for the end.
        match self.parser.take().map(JoinHandle::join) {
            Some(Err(_)) => Step::Fatal {
                line: None,
                problem: Problem::Read {
                    source: io::Error::other("the JSON parser stopped unexpectedly"),
                },
            },
            Some(Ok(())) | None => Step::End,
        }
    }
}

/// Parses the whole of `input`, sending each element, then what stopped it if not the end.
fn parse(input: impl Read, sender: &SyncSender<Step>) {
    let progress = Progress::new();
    let mut json = serde_json::Deserializer::from_reader(LineCounter::new(input, progress.clone()));
    let mut sink = Sink {
        progress: &progress,
        sender,
        hung_up: false,
    };
    let shape = json
        .deserialize_any(Prompts {
            sink: &mut sink,
            top_level: true,
        })
        .and_then(|shape| json.end().map(|()| shape));
    let (line, problem) = match shape {
        Ok(Shape::Streamed) => return,
        Err(_) if sink.hung_up => return,
        // Nothing but whitespace: the reader reports the file as empty.
        Err(error) if error.is_eof() && progress.blank() => return,
        Ok(Shape::Other(found)) => (None, Problem::TopLevel { found }),
        Err(error) if error.is_io() => (
            None,
            Problem::Read {
                source: error.into(),
            },
        ),
        Err(error) => (
            Some(error.line() as u64),
            Problem::JsonSyntax {
                column: error.column() as u64,
                message: syntax_message(&error),
            },
        ),
    };
    // The reader may be gone already; then nobody is left to tell.
    let _ = sender.send(Step::Fatal { line, problem });
}

/// Where parsed elements go.
struct Sink<'a> {
    progress: &'a Progress,
    sender: &'a SyncSender<Step>,
    hung_up: bool,
}

impl Sink<'_> {
    /// Sends every element of `seq` on, stopping early when the reader is gone.
    fn drain<'de, A: SeqAccess<'de>>(&mut self, mut seq: A) -> Result<Shape, A::Error> {
        let progress = self.progress;
        while let Some((line, value)) = seq.next_element_seed(Element { progress })? {
            let step = Step::Item {
                line,
                item: Ok(value),
            };
            if self.sender.send(step).is_err() {
                self.hung_up = true;
                return Err(de::Error::custom("the prompt reader was dropped"));
            }
        }
        Ok(Shape::Streamed)
    }
}

/// What the file's prompts turned out to be.
enum Shape {
    /// An array, whose elements were all sent on.
    Streamed,
    /// Something else, described for the error.
    Other(String),
}

/// Visits the top-level value (an array, or an object holding `prompts`), or the value of
/// `prompts` (an array).
struct Prompts<'s, 'a> {
    sink: &'s mut Sink<'a>,
    top_level: bool,
}

impl Prompts<'_, '_> {
    fn other<E>(&self, found: &str) -> Result<Shape, E> {
        Ok(Shape::Other(if self.top_level {
            found.to_owned()
        } else {
            format!("an object whose `prompts` is {found}")
        }))
    }
}

impl<'de> Visitor<'de> for Prompts<'_, '_> {
    type Value = Shape;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of prompts, or an object holding a `prompts` array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Shape, A::Error> {
        self.sink.drain(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        if !self.top_level {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return self.other("an object");
        }
        let mut shape = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "prompts" && shape.is_none() {
                let prompts = PromptsSeed(Prompts {
                    sink: &mut *self.sink,
                    top_level: false,
                });
                shape = Some(map.next_value_seed(prompts)?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(shape.unwrap_or_else(|| Shape::Other("an object without `prompts`".to_owned())))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Shape, E> {
        self.other("a boolean")
    }

    fn visit_i64<E>(self, _: i64) -> Result<Shape, E> {
        self.other("a number")
    }

    fn visit_u64<E>(self, _: u64) -> Result<Shape, E> {
        self.other("a number")
    }

    fn visit_f64<E>(self, _: f64) -> Result<Shape, E> {
        self.other("a number")
    }

    fn visit_str<E>(self, _: &str) -> Result<Shape, E> {
        self.other("a string")
    }

    fn visit_unit<E>(self) -> Result<Shape, E> {
        self.other("null")
    }
}

/// Parses the value of `prompts` with [`Prompts`].
struct PromptsSeed<'s, 'a>(Prompts<'s, 'a>);

impl<'de> DeserializeSeed<'de> for PromptsSeed<'_, '_> {
    type Value = Shape;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Shape, D::Error> {
        deserializer.deserialize_any(self.0)
    }
}

/// One element, with the line it starts on.
struct Element<'a> {
    progress: &'a Progress,
}

impl<'de> DeserializeSeed<'de> for Element<'_> {
    type Value = (u64, Value);

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        // serde_json has consumed the element's first byte and nothing past it, so the
        // newlines read so far are exactly those before the element.
        let line = self.progress.line();
        Value::deserialize(deserializer).map(|value| (line, value))
    }
}
