//! Duplicate ids over millions of prompts in little memory: a 64-bit hash of each id maps to
//! the item that first had it, and the rare hash hit is settled by reading that item again.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::path::{Path, PathBuf};

use super::error::{InputError, Problem};
use super::prompt::Prompt;
use super::reader::PromptReader;

/// The ids seen so far in one file.
pub(crate) struct SeenIds<S = RandomState> {
    path: PathBuf,
    hasher: S,
    /// Hash of an id -> index of the first item that had it.
    first: HashMap<u64, u64>,
    /// Ids whose hash an earlier, different id already holds: rare, so kept whole.
    collided: HashMap<String, u64>,
}

impl SeenIds {
    pub(crate) fn new(path: &Path) -> Self {
        Self::with_hasher(path, RandomState::new())
    }
}

impl<S: BuildHasher> SeenIds<S> {
    pub(crate) fn with_hasher(path: &Path, hasher: S) -> Self {
        Self {
            path: path.to_path_buf(),
            hasher,
            first: HashMap::new(),
            collided: HashMap::new(),
        }
    }

    /// Records `prompt`'s id, or fails if an earlier prompt had it.
    pub(crate) fn insert(&mut self, prompt: &Prompt) -> Result<(), InputError> {
        if let Some(&index) = self.collided.get(&prompt.id) {
            return Err(self.duplicate(prompt, self.reread(index)?.origin.line));
        }
        let hash = self.hasher.hash_one(&prompt.id);
        let Some(&index) = self.first.get(&hash) else {
            self.first.insert(hash, prompt.origin.index);
            return Ok(());
        };
        let earlier = self.reread(index)?;
        if earlier.id == prompt.id {
            return Err(self.duplicate(prompt, earlier.origin.line));
        }
        self.collided.insert(prompt.id.clone(), prompt.origin.index);
        Ok(())
    }

    /// The prompt at `index`, read again from the file.
    fn reread(&self, index: u64) -> Result<Prompt, InputError> {
        PromptReader::open(&self.path)?
            .filter_map(Result::ok)
            .find(|prompt| prompt.origin.index == index)
            .ok_or_else(|| {
                let source = std::io::Error::other("the file changed while it was being read");
                InputError::new(&self.path, Problem::Read { source })
            })
    }

    fn duplicate(&self, prompt: &Prompt, first_line: u64) -> InputError {
        let mut error = InputError::new(
            &self.path,
            Problem::DuplicateId {
                id: prompt.id.clone(),
                first_line,
            },
        );
        error.line = Some(prompt.origin.line);
        error.index = Some(prompt.origin.index);
        error
    }
}

#[cfg(test)]
mod tests {
    use std::hash::{BuildHasherDefault, Hasher};
    use std::io::Write;

    use super::*;

    /// Every id hashes alike, so every insert after the first takes the collision path.
    #[derive(Default)]
    struct Constant;

    impl Hasher for Constant {
        fn finish(&self) -> u64 {
            7
        }

        fn write(&mut self, _: &[u8]) {}
    }

    #[test]
    fn a_hash_collision_is_not_a_duplicate_but_a_later_repeat_is() {
        let mut file = tempfile::Builder::new()
            .suffix(".jsonl")
            .tempfile()
            .unwrap();
        for id in ["a", "b", "c", "b"] {
            writeln!(file, r#"{{"id": "{id}", "prompt": "p"}}"#).unwrap();
        }
        let mut seen = SeenIds::with_hasher(file.path(), BuildHasherDefault::<Constant>::default());
        let mut prompts = PromptReader::open(file.path()).unwrap().map(Result::unwrap);
        for _ in 0..3 {
            seen.insert(&prompts.next().unwrap()).unwrap();
        }
        let error = seen.insert(&prompts.next().unwrap()).unwrap_err();
        assert!(
            matches!(&error.problem, Problem::DuplicateId { id, first_line: 2 } if id == "b"),
            "{error}"
        );
        assert_eq!(error.line, Some(4));
    }
}
