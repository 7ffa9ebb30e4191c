//! An embedding request's reply shared back out, one record per prompt of its pack, and
//! the side file that holds the vectors of a large run as binary instead of JSON text.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use pacer_core::{ErrorKind, Price, ProviderError, Response, Usage};

use super::embed::{Member, share};
use crate::{Embedding, EmbeddingIndex, Record, RecordError, RecordStatus};

/// The side file of the vectors, in the output folder.
pub const EMBEDDINGS_FILE: &str = "embeddings.f32";

/// The records of a packed embedding request: each member gets its own vectors, and its
/// share of the tokens (by its texts' estimated tokens, so the shares add up to the bill).
pub(crate) fn pack_records(
    template: Record,
    members: &[Member],
    result: Result<Response, ProviderError>,
    all_attempts: &Usage,
    price: Option<Price>,
) -> Vec<Record> {
    let expected: usize = members.iter().map(|m| m.texts).sum();
    let result = result.and_then(|response| match response.embeddings.len() {
        n if n == expected => Ok(response),
        n => Err(ProviderError::new(
            ErrorKind::InvalidResponse,
            format!("asked for {expected} embeddings, the reply had {n}"),
        )),
    });
    let (mut vectors, usage, version) = match &result {
        Ok(response) => (
            response.embeddings.clone().into_iter(),
            response.usage,
            response.model_version.clone(),
        ),
        Err(error) => (
            Vec::new().into_iter(),
            error.usage.unwrap_or_default(),
            None,
        ),
    };
    members
        .iter()
        .enumerate()
        .map(|(i, member)| {
            let mut record = template.clone();
            record.prompt_id = member.prompt_id.clone();
            record.metadata = (*member.metadata).clone();
            record.sample = 0;
            record.finish_reason = None;
            record.model_version = version.clone();
            let billed = share(all_attempts, members, i);
            record.usage_all_attempts = billed.into();
            record.cost_usd = price.map(|price| price.cost(&billed));
            record.tokens_used = share(&usage, members, i).into();
            match &result {
                Ok(_) => {
                    let mut own: Vec<Vec<f32>> = vectors.by_ref().take(member.texts).collect();
                    record.embedding = Some(match (member.list, own.len()) {
                        (false, 1) => Embedding::One(own.remove(0)),
                        _ => Embedding::Many(own),
                    });
                }
                Err(error) => {
                    record.status = RecordStatus::Error;
                    record.error = Some(RecordError::from(error));
                }
            }
            record
        })
        .collect()
}

/// The side file, open for appending: the vectors go to its end, each record says where.
pub(crate) struct SideFile {
    file: BufWriter<File>,
    len: u64,
}

impl SideFile {
    /// Opens (or creates) `EMBEDDINGS_FILE` in `dir`. Vectors of an interrupted session that
    /// no record points to stay in it, unread: a record is written only after its vectors.
    pub(crate) fn open(dir: &Path) -> io::Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(EMBEDDINGS_FILE))?;
        let len = file.metadata()?.len();
        Ok(Self {
            file: BufWriter::new(file),
            len,
        })
    }

    /// Moves `record`'s vectors into the file, leaving their place in `embedding_index`.
    pub(crate) fn keep(&mut self, record: &mut Record) -> io::Result<()> {
        let Some(embedding) = record.embedding.take() else {
            return Ok(());
        };
        let vectors = embedding.vectors();
        let dimensions = vectors.first().map_or(0, |v| v.len());
        let offset = self.len;
        for vector in &vectors {
            for value in *vector {
                self.file.write_all(&value.to_le_bytes())?;
            }
            self.len += 4 * vector.len() as u64;
        }
        record.embedding_index = Some(EmbeddingIndex {
            file: EMBEDDINGS_FILE.to_owned(),
            offset,
            count: vectors.len() as u32,
            dimensions: dimensions as u32,
        });
        Ok(())
    }

    /// Writes out what is buffered: before the records that point into it.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}
