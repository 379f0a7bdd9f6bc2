//! The set of distinct addresses seen so far (case-insensitive), remembering where each was first seen.
//!
//! This is the only structure of a run that grows with the input, so it is kept compact: the lowercased
//! addresses and their first positions live back to back in one byte arena, and the hash table holds only
//! 8-byte offsets into it. A million distinct addresses cost about 50 MB rather than the ~120 MB of a
//! `HashMap<String, _>`. Comparison is exact (no hashing shortcuts), so no address is ever mistaken for another.

use std::hash::BuildHasher;

use hashbrown::HashTable;

/// Where a row came from: index of the input source and its line there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowRef {
    pub source: u32,
    pub line: u64,
}

const REF_LEN: usize = 4 + 8;

pub struct Seen {
    /// Records of `[len: u16][lowercased address][source: u32][line: u64]`.
    arena: Vec<u8>,
    table: HashTable<usize>,
    hasher: hashbrown::DefaultHashBuilder,
    scratch: String,
}

impl Default for Seen {
    fn default() -> Self {
        Self::new()
    }
}

impl Seen {
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// A set sized for about `n` distinct addresses, so a large input does not pay for regrowing.
    pub fn with_capacity(n: usize) -> Self {
        Seen {
            arena: Vec::with_capacity(n * 32),
            table: HashTable::with_capacity(n),
            hasher: hashbrown::DefaultHashBuilder::default(),
            scratch: String::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Records `addr` as seen at `at`. Returns where it was first seen if it is a duplicate.
    pub fn insert(&mut self, addr: &str, at: RowRef) -> Option<RowRef> {
        self.scratch.clear();
        if addr.is_ascii() {
            self.scratch.push_str(addr);
            self.scratch.make_ascii_lowercase();
        } else {
            self.scratch
                .extend(addr.chars().flat_map(char::to_lowercase));
        }
        let key = self.scratch.as_bytes();
        let hash = self.hasher.hash_one(key);
        let arena = &self.arena;
        if let Some(&offset) = self.table.find(hash, |&off| entry_key(arena, off) == key) {
            return Some(entry_ref(arena, offset));
        }
        let offset = self.arena.len();
        let len = u16::try_from(key.len()).unwrap_or(u16::MAX);
        let key = &key[..usize::from(len)];
        self.arena.extend_from_slice(&len.to_le_bytes());
        self.arena.extend_from_slice(key);
        self.arena.extend_from_slice(&at.source.to_le_bytes());
        self.arena.extend_from_slice(&at.line.to_le_bytes());
        let (arena, hasher) = (&self.arena, &self.hasher);
        self.table
            .insert_unique(hash, offset, |&off| hasher.hash_one(entry_key(arena, off)));
        None
    }
}

fn entry_key(arena: &[u8], offset: usize) -> &[u8] {
    let len = u16::from_le_bytes([arena[offset], arena[offset + 1]]) as usize;
    &arena[offset + 2..offset + 2 + len]
}

fn entry_ref(arena: &[u8], offset: usize) -> RowRef {
    let key_end = offset + 2 + entry_key(arena, offset).len();
    let r = &arena[key_end..key_end + REF_LEN];
    RowRef {
        source: u32::from_le_bytes(r[..4].try_into().expect("4 bytes")),
        line: u64::from_le_bytes(r[4..].try_into().expect("8 bytes")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: u64) -> RowRef {
        RowRef { source: 0, line }
    }

    #[test]
    fn finds_duplicates_ignoring_case() {
        let mut seen = Seen::new();
        assert_eq!(seen.insert("Jane@Example.com", at(2)), None);
        assert_eq!(seen.insert("bob@example.com", at(3)), None);
        assert_eq!(seen.insert("JANE@example.COM", at(9)), Some(at(2)));
        assert_eq!(seen.insert("ÉLISE@example.fr", at(10)), None);
        assert_eq!(seen.insert("élise@example.fr", at(11)), Some(at(10)));
        assert_eq!(seen.len(), 3);
    }

    #[test]
    fn survives_growth_with_exact_answers() {
        let mut seen = Seen::new();
        for i in 0..50_000u64 {
            assert_eq!(seen.insert(&format!("user{i}@example.com"), at(i)), None);
        }
        for i in (0..50_000u64).step_by(7) {
            assert_eq!(
                seen.insert(&format!("USER{i}@EXAMPLE.COM"), at(i + 1_000_000)),
                Some(at(i))
            );
        }
        assert_eq!(seen.len(), 50_000);
    }
}
