//! [`scan`]: one streaming pass over an input file before a run, so that a bad item or a
//! duplicate id stops the run before the first request, not hours into it.

use std::path::Path;

use super::error::InputError;
use super::ids::SeenIds;
use super::reader::PromptReader;

impl Scan {
    /// The prompts no model of a run takes, given whether it has chat models and embedding
    /// models: they get no record.
    pub fn untaken(&self, chat_models: bool, embedding_models: bool) -> u64 {
        let taken = match (chat_models, embedding_models) {
            (true, true) => self.for_chat + self.for_embedding - self.for_both,
            (true, false) => self.for_chat,
            (false, true) => self.for_embedding,
            (false, false) => 0,
        };
        self.count - taken
    }
}

/// What [`scan`] found.
#[derive(Debug, Default)]
pub struct Scan {
    /// Valid prompts, at most the limit.
    pub count: u64,
    /// Of those, the prompts chat models answer (see [`Prompt::for_chat`](super::Prompt::for_chat)).
    pub for_chat: u64,
    /// Of those, the prompts embedding models embed (see
    /// [`Prompt::embed_texts`](super::Prompt::embed_texts)).
    pub for_embedding: u64,
    /// Of those, the prompts both kinds of model take (one plain text).
    pub for_both: u64,
    /// The invalid items passed over, in file order (only when skipping them was asked for).
    pub invalid: Vec<InputError>,
}

/// Reads the first `limit` valid prompts of `path` (all of them when `None`), checking every
/// item and that no id repeats.
///
/// With `skip_invalid`, an invalid item is recorded in [`Scan::invalid`] and the scan goes
/// on; without, the first is returned as the error. A problem with the file itself, or a
/// duplicate id, is always an error. Memory stays small: a few items at a time, plus two
/// `u64`s per id in a hash table.
pub fn scan(path: &Path, limit: Option<u64>, skip_invalid: bool) -> Result<Scan, InputError> {
    let mut seen = SeenIds::new(path);
    let mut scan = Scan::default();
    for prompt in PromptReader::open(path)?.with_limit(limit) {
        match prompt {
            Ok(prompt) => {
                seen.insert(&prompt)?;
                scan.count += 1;
                let (chat, embed) = (prompt.for_chat(), prompt.embed_texts().is_some());
                scan.for_chat += u64::from(chat);
                scan.for_embedding += u64::from(embed);
                scan.for_both += u64::from(chat && embed);
            }
            Err(error) if skip_invalid && error.is_skippable() => scan.invalid.push(error),
            Err(error) => return Err(error),
        }
    }
    Ok(scan)
}
