//! Reading JSON-lines files: counting and streaming their lines, and cutting off a torn last
//! line.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use serde::de::DeserializeOwned;

use super::JournalError;

/// Lines in `path` (0 when it does not exist), read in chunks.
pub(super) fn count_lines(path: &Path) -> Result<u64, JournalError> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(err) => return Err(JournalError::io("read", path)(err)),
    };
    let mut buf = vec![0; 64 * 1024];
    let (mut lines, mut last) = (0, b'\n');
    loop {
        let n = file
            .read(&mut buf)
            .map_err(JournalError::io("read", path))?;
        if n == 0 {
            return Ok(lines + u64::from(last != b'\n'));
        }
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        last = buf[n - 1];
    }
}

pub(super) fn truncate(path: &Path, len: u64) -> Result<(), JournalError> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(JournalError::io("open", path))?;
    file.set_len(len)
        .and_then(|()| file.sync_all())
        .map_err(JournalError::io("repair", path))
}

/// Cuts `file` back to just after its last newline, so appends start on a line of their own.
pub(super) fn cut_torn_tail(mut file: &File) -> io::Result<()> {
    let len = file.metadata()?.len();
    let mut end = len;
    let mut chunk = [0u8; 8192];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let part = &mut chunk[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(part)?;
        if let Some(i) = part.iter().rposition(|&b| b == b'\n') {
            end = start + i as u64 + 1;
            break;
        }
        end = start;
    }
    if end < len {
        file.set_len(end)?;
    }
    Ok(())
}

/// Where a scan of a JSON-lines file stopped.
pub(crate) struct Scan {
    /// Whole lines read (blank ones included).
    pub(crate) lines: u64,
    /// Bytes up to the end of the last whole, valid line.
    pub(crate) whole_len: u64,
    /// Bytes after it: a torn last line, or 0.
    pub(crate) torn_bytes: u64,
}

/// Streams `path` line by line, handing `visit` each line's number (from 1), its bytes and
/// its parse as `T`. Blank lines are skipped. A last line that has no newline or does not
/// parse is torn: the scan stops before it. Any other line that does not parse is an error.
pub(crate) fn scan_lines<T: DeserializeOwned>(
    path: &Path,
    mut visit: impl FnMut(u64, &[u8], T) -> Result<(), JournalError>,
) -> Result<Scan, JournalError> {
    let file = File::open(path).map_err(JournalError::io("read", path))?;
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let mut buf = Vec::new();
    let mut scan = Scan {
        lines: 0,
        whole_len: 0,
        torn_bytes: 0,
    };
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(JournalError::io("read", path))? as u64;
        if n == 0 {
            return Ok(scan);
        }
        if buf.last() != Some(&b'\n') {
            scan.torn_bytes = n;
            return Ok(scan);
        }
        let body = buf.trim_ascii_end();
        if !body.is_empty() {
            match serde_json::from_slice(body) {
                Ok(value) => visit(scan.lines + 1, body, value)?,
                Err(source) => {
                    let at_end = reader
                        .fill_buf()
                        .map_err(JournalError::io("read", path))?
                        .is_empty();
                    if at_end {
                        scan.torn_bytes = n;
                        return Ok(scan);
                    }
                    return Err(JournalError::CorruptLine {
                        path: path.to_path_buf(),
                        line: scan.lines + 1,
                        source,
                    });
                }
            }
        }
        scan.lines += 1;
        scan.whole_len += n;
    }
}
