//! A string-keyed map kept in three buffers: the keys one after another in one `String`, the
//! values in one `Vec`, and a hash table of indices.
//!
//! What the hub keeps per container between scrapes (the newest sample time a node reported,
//! the rate calculator's last counter values) lives as long as the container does, and is
//! made while a scrape's answer is decoded. Kept as a small allocation per container (a
//! `String` key, a `Vec` of counters) it is scattered among the answer's short-lived
//! allocations, one every few kilobytes, and pins the allocator's pages when the answer is
//! freed: the hub's resident memory then held about 3 KB per container of free memory that
//! `malloc_trim` could not give back (scripts/bench.sh hub, malloc_info per arena). Three
//! buffers per node are a few allocations whatever the number of containers.

use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;

/// One key's place in the keys buffer, and its value.
#[derive(Debug, Clone)]
struct Entry<V> {
    start: u32,
    len: u32,
    value: V,
}

/// A map from string keys to `V`, in three buffers (see the module's documentation).
#[derive(Debug)]
pub(crate) struct PackedMap<V> {
    keys: String,
    entries: Vec<Entry<V>>,
    index: HashTable<u32>,
    hasher: RandomState,
}

impl<V> Default for PackedMap<V> {
    fn default() -> PackedMap<V> {
        PackedMap {
            keys: String::new(),
            entries: Vec::new(),
            index: HashTable::new(),
            hasher: RandomState::new(),
        }
    }
}

fn key_of<'k, V>(keys: &'k str, e: &Entry<V>) -> &'k str {
    let start = e.start as usize;
    keys.get(start..start + e.len as usize).unwrap_or("")
}

impl<V> PackedMap<V> {
    /// Entries in the map.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the map holds nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Heap bytes held (capacities, not lengths).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.keys.capacity()
            + self.entries.capacity() * std::mem::size_of::<Entry<V>>()
            + self.index.capacity() * (std::mem::size_of::<u32>() + 1)
    }

    fn find(&self, key: &str) -> Option<usize> {
        let hash = self.hasher.hash_one(key);
        let (keys, entries) = (&self.keys, &self.entries);
        self.index
            .find(hash, |&i| {
                entries
                    .get(i as usize)
                    .is_some_and(|e| key_of(keys, e) == key)
            })
            .map(|&i| i as usize)
    }

    /// The value of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&V> {
        self.find(key)
            .and_then(|i| self.entries.get(i))
            .map(|e| &e.value)
    }

    /// The value of `key`, to change.
    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        let i = self.find(key)?;
        self.entries.get_mut(i).map(|e| &mut e.value)
    }

    /// The value of `key`, made by `make` when the key is new; the flag is true then.
    pub(crate) fn get_or_insert_with(
        &mut self,
        key: &str,
        make: impl FnOnce() -> V,
    ) -> (&mut V, bool) {
        let (i, new) = match self.find(key) {
            Some(i) => (i, false),
            None => (self.push(key, make()), true),
        };
        let e = &mut self.entries[i];
        (&mut e.value, new)
    }

    /// Sets the value of `key`.
    pub(crate) fn insert(&mut self, key: &str, value: V) {
        match self.find(key) {
            Some(i) => self.entries[i].value = value,
            None => {
                self.push(key, value);
            }
        }
    }

    /// Adds a key known to be absent; returns its entry's index.
    fn push(&mut self, key: &str, value: V) -> usize {
        let i = self.entries.len();
        self.entries.push(Entry {
            start: u32::try_from(self.keys.len()).unwrap_or(u32::MAX),
            len: u32::try_from(key.len()).unwrap_or(u32::MAX),
            value,
        });
        self.keys.push_str(key);
        let (keys, entries, hasher) = (&self.keys, &self.entries, &self.hasher);
        let hash = hasher.hash_one(key);
        self.index
            .insert_unique(hash, u32::try_from(i).unwrap_or(u32::MAX), |&j| {
                hasher.hash_one(entries.get(j as usize).map_or("", |e| key_of(keys, e)))
            });
        i
    }

    /// Every key and value, in the order they were added.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.entries
            .iter()
            .map(|e| (key_of(&self.keys, e), &e.value))
    }

    /// Every value, to change.
    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.entries.iter_mut().map(|e| &mut e.value)
    }

    /// Keeps the entries for which `keep` is true. When one goes, the map is made again in
    /// buffers of the size it needs (containers come and go seldom next to scrapes).
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&str, &mut V) -> bool) {
        let keys = &self.keys;
        let before = self.entries.len();
        let mut kept_bytes = 0usize;
        let mut flags = Vec::with_capacity(before);
        for e in &mut self.entries {
            let k = keep(key_of(keys, e), &mut e.value);
            if k {
                kept_bytes += e.len as usize;
            }
            flags.push(k);
        }
        let kept = flags.iter().filter(|k| **k).count();
        if kept == before {
            return;
        }
        let old = std::mem::take(self);
        let mut fresh = PackedMap {
            keys: String::with_capacity(kept_bytes),
            entries: Vec::with_capacity(kept),
            index: HashTable::with_capacity(kept),
            hasher: old.hasher,
        };
        for (e, k) in old.entries.into_iter().zip(flags) {
            if k {
                fresh.push(key_of(&old.keys, &e), e.value);
            }
        }
        *self = fresh;
    }

    /// Empties the map, keeping its buffers.
    pub(crate) fn clear(&mut self) {
        self.keys.clear();
        self.entries.clear();
        self.index.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn behaves_as_a_hash_map_through_inserts_updates_and_removals() {
        let mut p: PackedMap<u64> = PackedMap::default();
        let mut m: HashMap<String, u64> = HashMap::new();
        // A small deterministic walk over 300 keys, with removals every so often.
        let mut x: u64 = 7;
        for step in 0..5000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let key = format!("node:n/container:/kubepods/pod{}", (x >> 33) % 300);
            match (x >> 20) % 5 {
                0..=2 => {
                    p.insert(&key, step);
                    m.insert(key, step);
                }
                3 => {
                    let (v, new) = p.get_or_insert_with(&key, || step);
                    assert_eq!(new, !m.contains_key(&key));
                    *v += 1;
                    *m.entry(key).or_insert(step) += 1;
                }
                _ => {
                    let cut = (x >> 40) % 7;
                    p.retain(|_, v| *v % 7 != cut);
                    m.retain(|_, v| *v % 7 != cut);
                }
            }
            assert_eq!(p.len(), m.len());
        }
        for (k, v) in &m {
            assert_eq!(p.get(k), Some(v), "{k}");
        }
        assert_eq!(p.iter().count(), m.len());
        assert!(p.get("absent").is_none());
        assert!(p.get("node:n/container:/kubepods/pod300").is_none());
    }

    #[test]
    fn removal_gives_the_memory_back_and_clear_keeps_it() {
        let mut p: PackedMap<u64> = PackedMap::default();
        for i in 0..1000 {
            p.insert(&format!("container-{i:04}"), i);
        }
        let full = p.heap_bytes();
        p.retain(|k, _| k.ends_with('7'));
        assert_eq!(p.len(), 100);
        assert!(p.heap_bytes() * 5 < full, "{} of {full}", p.heap_bytes());
        assert_eq!(p.get("container-0007"), Some(&7));
        assert_eq!(p.get("container-0008"), None);
        for v in p.values_mut() {
            *v += 1;
        }
        assert_eq!(p.get("container-0997"), Some(&998));
        let kept = p.heap_bytes();
        p.clear();
        assert!(p.is_empty());
        assert_eq!(p.heap_bytes(), kept);
    }
}
