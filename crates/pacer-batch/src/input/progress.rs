//! How far a JSON parse has read: a [`Read`] wrapper that counts the newlines going through,
//! so that an element can be given the line it starts on while serde_json parses it.

use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;

/// What has been read so far, shared between a [`LineCounter`] and whoever asks.
pub(crate) struct Progress {
    newlines: Cell<u64>,
    blank: Cell<bool>,
}

impl Progress {
    pub(crate) fn new() -> Rc<Self> {
        Rc::new(Self {
            newlines: Cell::new(0),
            blank: Cell::new(true),
        })
    }

    /// The 1-based line of the next byte to read.
    pub(crate) fn line(&self) -> u64 {
        self.newlines.get() + 1
    }

    /// Whether everything read so far was whitespace.
    pub(crate) fn blank(&self) -> bool {
        self.blank.get()
    }
}

/// Passes reads through, recording them in a [`Progress`]. serde_json reads one byte at a
/// time, so the count is exact at every point of its parse.
pub(crate) struct LineCounter<R> {
    inner: R,
    progress: Rc<Progress>,
}

impl<R> LineCounter<R> {
    pub(crate) fn new(inner: R, progress: Rc<Progress>) -> Self {
        Self { inner, progress }
    }
}

impl<R: Read> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        let bytes = &buf[..read];
        let newlines = bytes.iter().filter(|&&byte| byte == b'\n').count() as u64;
        let progress = &self.progress;
        progress.newlines.set(progress.newlines.get() + newlines);
        if progress.blank.get() && !bytes.iter().all(u8::is_ascii_whitespace) {
            progress.blank.set(false);
        }
        Ok(read)
    }
}
