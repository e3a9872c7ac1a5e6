//! The decision cache: fixed capacity, LRU eviction, separate TTLs for allow and deny, and a
//! bounded stale window used only when the portal fails.
//!
//! Layout: a slab of entries allocated once at construction, a doubly linked recency list
//! threaded through the slab by `u32` indices, and a `hashbrown::HashTable` of slab indices keyed
//! by the xxh3 hash of the key. `get`, `insert` and eviction are O(1); a hit touches no
//! allocator. Full keys are compared on a hash match, so a collision can never return another
//! user's decision.
//!
//! Keys ([`CacheKey`]) are the decision input as length-prefixed fields on the stack, so
//! `alice` + `b:c` and `alice:b` + `c` differ, and the user is always the first field (which is
//! how [`DecisionCache::invalidate_user`] finds exactly one user's entries: `bob`, never `bobby`).
//!
//! Freshness: an allow is fresh for `allow_ttl`, a deny for `deny_ttl`; the portal may lower
//! either per decision (the engine reads it from the `cache_ttl_seconds` metadata key of
//! `CheckPolicyResponse` and passes it as `ttl_cap`; `0` means "do not cache"). After that the
//! entry is *stale* for `stale_ttl`: [`DecisionCache::get`] no longer returns it, only
//! [`DecisionCache::get_stale`] does, which the engine calls only when the portal has failed.
//!
//! An entry keeps when it was stored and the portal's cap, not a deadline: its windows are
//! worked out from the TTLs in force at each read, so a reload that shortens a TTL applies to
//! what is already cached (an allow stored under `cache_ttl 10m` is not served after a reload to
//! `cache_ttl 0`). [`DecisionCache::resize`] applies a new capacity, keeping the most recent
//! entries, and [`DecisionCache::sweep_some`] drops dead entries a bounded number of slots at a
//! time, so a timer can keep the count of live entries honest without a long pause.

use hashbrown::HashTable;
use std::fmt;
use std::time::{Duration, Instant};
use xxhash_rust::xxh3::xxh3_64;

/// Longest encoded key; a user name and group of 256 bytes each plus an address fit.
pub const MAX_KEY_LEN: usize = 1024;

/// No slot: the end of the recency list, or of the free list.
const NIL: u32 = u32::MAX;

/// The decision input, encoded as `u32` little-endian lengths and bytes, on the stack.
#[derive(Clone)]
pub struct CacheKey {
    len: u16,
    bytes: [u8; MAX_KEY_LEN],
}

/// A key field that does not fit in [`MAX_KEY_LEN`]; such a request is not cached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyTooLong;

impl fmt::Display for KeyTooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cache key longer than {MAX_KEY_LEN} bytes")
    }
}

impl CacheKey {
    /// Starts a key with the user name, the field [`DecisionCache::invalidate_user`] matches.
    pub fn new(username: &[u8]) -> Result<CacheKey, KeyTooLong> {
        let mut key = CacheKey {
            len: 0,
            bytes: [0; MAX_KEY_LEN],
        };
        key.push(username)?;
        Ok(key)
    }

    /// Appends one field.
    pub fn push(&mut self, field: &[u8]) -> Result<(), KeyTooLong> {
        let start = usize::from(self.len);
        let end = start + 4 + field.len();
        if end > MAX_KEY_LEN {
            return Err(KeyTooLong);
        }
        // Little-endian on purpose: the same bytes on every router, though the cache never
        // leaves the process.
        self.bytes[start..start + 4].copy_from_slice(&(field.len() as u32).to_le_bytes());
        self.bytes[start + 4..end].copy_from_slice(field);
        self.len = end as u16;
        Ok(())
    }

    #[inline]
    /// The encoded fields, as hashed and compared.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CacheKey({:?})",
            String::from_utf8_lossy(self.as_bytes())
        )
    }
}

/// Sizes and lifetimes; see the module docs.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Most entries held; the least recently used goes first.
    pub capacity: u32,
    /// How long an allow is fresh.
    pub allow_ttl: Duration,
    /// How long a deny is fresh.
    pub deny_ttl: Duration,
    /// How long past fresh a decision may still be served while the portal fails.
    pub stale_ttl: Duration,
}

/// Whether the cached decision admits the user; allow and deny live for different times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The portal admitted the user.
    Allow,
    /// The portal refused the user.
    Deny,
}

/// Counters for status and metrics. Lifetime counters wrap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Lookups that found a fresh decision.
    pub hits: u32,
    /// Lookups that found none.
    pub misses: u32,
    /// Stale decisions served while the portal failed.
    pub stale_hits: u32,
    /// Decisions stored.
    pub inserts: u32,
    /// Entries dropped to make room (or by a smaller capacity).
    pub evictions: u32,
    /// Entries dropped past their stale time (found so by a lookup or the sweep).
    pub expirations: u32,
    /// Entries dropped on purpose: a revocation, `cache clear`, a disconnect order.
    pub invalidations: u32,
    /// Entries held now.
    pub size: u32,
    /// Most entries held.
    pub capacity: u32,
}

impl Stats {
    /// Fresh hits over fresh lookups, 0 when there were none.
    pub fn hit_rate(&self) -> f64 {
        let lookups = f64::from(self.hits) + f64::from(self.misses);
        if lookups == 0.0 {
            0.0
        } else {
            f64::from(self.hits) / lookups
        }
    }
}

struct Entry<V> {
    hash: u64,
    /// Reused across the slot's lives, so a warm cache rarely allocates even on insert.
    key: Vec<u8>,
    value: Option<V>,
    /// When the decision was stored.
    at: Instant,
    kind: Kind,
    /// The portal's cap on this decision's TTL.
    cap: Option<Duration>,
}

/// Where an entry stands at one instant, under the TTLs in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Age {
    Fresh,
    Stale,
    Dead,
}

/// A slot's place in the recency list (or the free list, through `next`). Kept apart from the
/// entries so that moving an entry to the front touches three small links, not three entries.
#[derive(Clone, Copy)]
struct Link {
    prev: u32,
    next: u32,
}

/// The cache; see the module docs.
pub struct DecisionCache<V> {
    settings: Settings,
    table: HashTable<u32>,
    slots: Vec<Entry<V>>,
    links: Vec<Link>,
    /// Most recently used.
    head: u32,
    /// Least recently used: evicted first.
    tail: u32,
    /// Slots emptied by invalidation or expiry, chained through `next`.
    free: u32,
    len: u32,
    /// Where the next [`DecisionCache::sweep_some`] starts.
    cursor: u32,
    stats: Stats,
}

impl<V> DecisionCache<V> {
    /// A cache for `settings.capacity` decisions (at least one); its memory is reserved now.
    pub fn new(settings: Settings) -> DecisionCache<V> {
        let capacity = settings.capacity.max(1);
        DecisionCache {
            // Twice the entries: removals leave tombstones, and hashbrown rehashes in place
            // (instead of growing) only while the table is at most half full.
            table: HashTable::with_capacity(capacity as usize * 2),
            slots: Vec::with_capacity(capacity as usize),
            links: Vec::with_capacity(capacity as usize),
            settings: Settings {
                capacity,
                ..settings
            },
            head: NIL,
            tail: NIL,
            free: NIL,
            len: 0,
            cursor: 0,
            stats: Stats {
                capacity,
                ..Stats::default()
            },
        }
    }

    /// A fresh decision, if there is one; marks it most recently used.
    pub fn get(&mut self, key: &CacheKey, now: Instant) -> Option<&V> {
        let Some(i) = self.find(key.as_bytes()) else {
            self.stats.misses = self.stats.misses.wrapping_add(1);
            return None;
        };
        let age = self.age(i, now);
        if age == Age::Fresh {
            self.stats.hits = self.stats.hits.wrapping_add(1);
            self.touch(i);
            return self.slots[i as usize].value.as_ref();
        }
        self.stats.misses = self.stats.misses.wrapping_add(1);
        if age == Age::Dead {
            self.remove_slot(i);
            self.stats.expirations = self.stats.expirations.wrapping_add(1);
        }
        None
    }

    /// A decision within its stale window (or still fresh): only for when the portal failed.
    pub fn get_stale(&mut self, key: &CacheKey, now: Instant) -> Option<&V> {
        let i = self.find(key.as_bytes())?;
        if self.age(i, now) == Age::Dead {
            self.remove_slot(i);
            self.stats.expirations = self.stats.expirations.wrapping_add(1);
            return None;
        }
        self.stats.stale_hits = self.stats.stale_hits.wrapping_add(1);
        self.touch(i);
        self.slots[i as usize].value.as_ref()
    }

    /// Stores a decision. `ttl_cap` (from the portal) can only shorten the configured TTL; a
    /// TTL of zero stores nothing and drops any older decision for the key.
    pub fn insert(
        &mut self,
        key: &CacheKey,
        value: V,
        kind: Kind,
        ttl_cap: Option<Duration>,
        now: Instant,
    ) {
        if self.ttl(kind, ttl_cap).is_zero() {
            self.invalidate(key);
            return;
        }
        self.stats.inserts = self.stats.inserts.wrapping_add(1);
        self.place(key.as_bytes(), value, kind, ttl_cap, now);
    }

    /// Puts a decision stored at `at` in front of the recency list.
    fn place(&mut self, bytes: &[u8], value: V, kind: Kind, cap: Option<Duration>, at: Instant) {
        if let Some(i) = self.find(bytes) {
            let entry = &mut self.slots[i as usize];
            entry.value = Some(value);
            (entry.at, entry.kind, entry.cap) = (at, kind, cap);
            self.touch(i);
            return;
        }
        let i = self.take_slot();
        let hash = xxh3_64(bytes);
        let entry = &mut self.slots[i as usize];
        entry.hash = hash;
        entry.key.clear();
        entry.key.extend_from_slice(bytes);
        entry.value = Some(value);
        (entry.at, entry.kind, entry.cap) = (at, kind, cap);
        let slots = &self.slots;
        self.table
            .insert_unique(hash, i, |&j| slots[j as usize].hash);
        self.push_front(i);
        self.len += 1;
    }

    /// The TTL in force for a decision of `kind` with the portal's `cap`.
    fn ttl(&self, kind: Kind, cap: Option<Duration>) -> Duration {
        let configured = match kind {
            Kind::Allow => self.settings.allow_ttl,
            Kind::Deny => self.settings.deny_ttl,
        };
        cap.map_or(configured, |cap| cap.min(configured))
    }

    /// Slot `i`'s age at `now` under the TTLs in force. Elapsed time is measured from the
    /// entry (never `at + ttl`, which could overflow for long TTLs); a clock that went back
    /// counts as no time elapsed.
    fn age(&self, i: u32, now: Instant) -> Age {
        let e = &self.slots[i as usize];
        let elapsed = now.saturating_duration_since(e.at);
        let ttl = self.ttl(e.kind, e.cap);
        if ttl.is_zero() {
            // A TTL of zero in force now means "do not cache": nothing of it is served,
            // not even stale.
            return Age::Dead;
        }
        if elapsed < ttl {
            Age::Fresh
        } else if elapsed - ttl < self.settings.stale_ttl {
            Age::Stale
        } else {
            Age::Dead
        }
    }

    /// Drops one decision; returns whether there was one.
    pub fn invalidate(&mut self, key: &CacheKey) -> bool {
        match self.find(key.as_bytes()) {
            Some(i) => {
                self.remove_slot(i);
                self.stats.invalidations = self.stats.invalidations.wrapping_add(1);
                true
            }
            None => false,
        }
    }

    /// Drops every decision of exactly this user; returns how many.
    pub fn invalidate_user(&mut self, username: &[u8]) -> u32 {
        let Ok(prefix) = CacheKey::new(username) else {
            return 0;
        };
        let prefix = prefix.as_bytes();
        let doomed: Vec<u32> = self
            .live_slots()
            .filter(|&i| self.slots[i as usize].key.starts_with(prefix))
            .collect();
        for &i in &doomed {
            self.remove_slot(i);
        }
        let n = doomed.len() as u32;
        self.stats.invalidations = self.stats.invalidations.wrapping_add(n);
        n
    }

    /// Drops everything.
    pub fn clear(&mut self) {
        let all: Vec<u32> = self.live_slots().collect();
        let n = all.len() as u32;
        for i in all {
            self.remove_slot(i);
        }
        self.stats.invalidations = self.stats.invalidations.wrapping_add(n);
    }

    /// Drops decisions past their stale window; returns how many. Visits every entry: for
    /// tests and small caches; the daemon's timer uses [`DecisionCache::sweep_some`].
    pub fn sweep(&mut self, now: Instant) -> u32 {
        let n = self.slots.len() as u32;
        self.sweep_some(now, n)
    }

    /// Looks at the next `max_slots` slots (wrapping around) and drops those whose decision is
    /// past its stale window under the TTLs in force; returns how many. The work per call is
    /// bounded, so a timer can run it often without stalling the daemon's one thread, and
    /// memory held by keys nobody asks for again is returned.
    pub fn sweep_some(&mut self, now: Instant, max_slots: u32) -> u32 {
        let total = self.slots.len() as u32;
        let mut dropped = 0;
        for _ in 0..max_slots.min(total) {
            if self.cursor >= total {
                self.cursor = 0;
            }
            let i = self.cursor;
            self.cursor += 1;
            if self.slots[i as usize].value.is_some() && self.age(i, now) == Age::Dead {
                self.remove_slot(i);
                dropped += 1;
            }
        }
        self.stats.expirations = self.stats.expirations.wrapping_add(dropped);
        dropped
    }

    /// New TTLs (config reload). They apply at once to every cached decision: an entry is
    /// never served past the TTLs in force.
    pub fn update_ttls(&mut self, allow_ttl: Duration, deny_ttl: Duration, stale_ttl: Duration) {
        self.settings.allow_ttl = allow_ttl;
        self.settings.deny_ttl = deny_ttl;
        self.settings.stale_ttl = stale_ttl;
    }

    /// A new capacity (config reload): the most recently used entries are kept, up to the
    /// new capacity, with their stored times; memory for the new size is reserved now.
    pub fn resize(&mut self, capacity: u32) {
        let capacity = capacity.max(1);
        if capacity == self.settings.capacity {
            return;
        }
        let order: Vec<u32> = self.live_slots().take(capacity as usize).collect();
        let mut next = DecisionCache::new(Settings {
            capacity,
            ..self.settings.clone()
        });
        next.stats = Stats {
            capacity,
            size: 0,
            ..self.stats
        };
        let dropped = self.len - order.len() as u32;
        next.stats.evictions = next.stats.evictions.wrapping_add(dropped);
        // Oldest first, so the most recent ends up in front.
        for &i in order.iter().rev() {
            let e = &mut self.slots[i as usize];
            if let Some(value) = e.value.take() {
                let (key, kind, cap, at) = (std::mem::take(&mut e.key), e.kind, e.cap, e.at);
                next.place(&key, value, kind, cap, at);
            }
        }
        *self = next;
    }

    /// Counters and the current size.
    pub fn stats(&self) -> Stats {
        Stats {
            size: self.len,
            ..self.stats
        }
    }

    /// Entries held now (fresh or stale).
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn find(&self, bytes: &[u8]) -> Option<u32> {
        let hash = xxh3_64(bytes);
        self.table
            .find(hash, |&i| {
                let e = &self.slots[i as usize];
                e.hash == hash && e.key == bytes
            })
            .copied()
    }

    /// Slots that hold a decision, most recent first.
    fn live_slots(&self) -> impl Iterator<Item = u32> + '_ {
        let mut i = self.head;
        std::iter::from_fn(move || {
            if i == NIL {
                return None;
            }
            let current = i;
            i = self.links[i as usize].next;
            Some(current)
        })
    }

    /// A slot for a new entry: a free one, a never-used one, or the least recently used.
    fn take_slot(&mut self) -> u32 {
        if self.free != NIL {
            let i = self.free;
            self.free = self.links[i as usize].next;
            return i;
        }
        if self.slots.len() < self.settings.capacity as usize {
            self.slots.push(Entry {
                hash: 0,
                key: Vec::new(),
                value: None,
                at: Instant::now(),
                kind: Kind::Deny,
                cap: None,
            });
            self.links.push(Link {
                prev: NIL,
                next: NIL,
            });
            return (self.slots.len() - 1) as u32;
        }
        let victim = self.tail;
        self.unindex(victim);
        self.unlink(victim);
        self.slots[victim as usize].value = None;
        self.len -= 1;
        self.stats.evictions = self.stats.evictions.wrapping_add(1);
        victim
    }

    fn remove_slot(&mut self, i: u32) {
        self.unindex(i);
        self.unlink(i);
        self.slots[i as usize].value = None;
        self.links[i as usize].next = self.free;
        self.free = i;
        self.len -= 1;
    }

    fn unindex(&mut self, i: u32) {
        let hash = self.slots[i as usize].hash;
        if let Ok(found) = self.table.find_entry(hash, |&j| j == i) {
            found.remove();
        }
    }

    #[inline]
    fn touch(&mut self, i: u32) {
        if self.head != i {
            self.unlink(i);
            self.push_front(i);
        }
    }

    #[inline]
    fn push_front(&mut self, i: u32) {
        let old_head = self.head;
        self.links[i as usize] = Link {
            prev: NIL,
            next: old_head,
        };
        if old_head != NIL {
            self.links[old_head as usize].prev = i;
        } else {
            self.tail = i;
        }
        self.head = i;
    }

    #[inline]
    fn unlink(&mut self, i: u32) {
        let Link { prev, next } = self.links[i as usize];
        if prev != NIL {
            self.links[prev as usize].next = next;
        } else {
            self.head = next;
        }
        if next != NIL {
            self.links[next as usize].prev = prev;
        } else {
            self.tail = prev;
        }
        self.links[i as usize] = Link {
            prev: NIL,
            next: NIL,
        };
    }
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "cache_model_tests.rs"]
mod model_tests;
