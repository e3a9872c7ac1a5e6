//! Decision cache tests, with explicit instants (no sleeping).

use super::*;

fn settings(capacity: u32) -> Settings {
    Settings {
        capacity,
        allow_ttl: Duration::from_secs(300),
        deny_ttl: Duration::from_secs(30),
        stale_ttl: Duration::from_secs(1800),
    }
}

fn key(user: &str, rest: &[&str]) -> CacheKey {
    let mut k = CacheKey::new(user.as_bytes()).unwrap();
    for f in rest {
        k.push(f.as_bytes()).unwrap();
    }
    k
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn keys_are_unambiguous() {
    assert_ne!(key("a:b", &["c"]).as_bytes(), key("a", &["b:c"]).as_bytes());
    assert_ne!(key("ab", &[""]).as_bytes(), key("a", &["b"]).as_bytes());
    assert_eq!(key("a", &["b"]).as_bytes(), key("a", &["b"]).as_bytes());
    let mut k = CacheKey::new(&[b'x'; 1000]).unwrap();
    assert_eq!(k.push(&[b'y'; 100]), Err(KeyTooLong));
    assert!(CacheKey::new(&[b'x'; MAX_KEY_LEN]).is_err());
}

#[test]
fn get_returns_fresh_decisions_only() {
    let mut c = DecisionCache::new(settings(8));
    let t = Instant::now();
    let k = key("alice", &["eng", "192.0.2.1"]);
    assert_eq!(c.get(&k, t), None);
    c.insert(&k, "allow", Kind::Allow, None, t);
    assert_eq!(c.get(&k, t + secs(299)), Some(&"allow"));
    assert_eq!(c.get(&k, t + secs(300)), None, "expired at allow_ttl");
    let s = c.stats();
    assert_eq!((s.hits, s.misses, s.inserts, s.size), (1, 2, 1, 1));
}

#[test]
fn deny_decisions_live_for_deny_ttl() {
    let mut c = DecisionCache::new(settings(8));
    let t = Instant::now();
    let k = key("mallory", &[]);
    c.insert(&k, "deny", Kind::Deny, None, t);
    assert_eq!(c.get(&k, t + secs(29)), Some(&"deny"));
    assert_eq!(c.get(&k, t + secs(30)), None);
}

#[test]
fn the_portal_can_lower_but_not_raise_a_ttl() {
    let mut c = DecisionCache::new(settings(8));
    let t = Instant::now();
    let k = key("a", &[]);
    c.insert(&k, 1, Kind::Allow, Some(secs(10)), t);
    assert_eq!(c.get(&k, t + secs(10)), None);
    c.insert(&k, 2, Kind::Allow, Some(secs(100_000)), t);
    assert_eq!(c.get(&k, t + secs(299)), Some(&2));
    assert_eq!(c.get(&k, t + secs(300)), None);
    // Zero: do not cache, and forget what was there.
    c.insert(&k, 3, Kind::Allow, None, t);
    c.insert(&k, 4, Kind::Allow, Some(Duration::ZERO), t);
    assert_eq!(c.get_stale(&k, t), None);
}

#[test]
fn stale_decisions_only_through_get_stale_and_only_within_the_window() {
    let mut c = DecisionCache::new(settings(8));
    let t = Instant::now();
    let k = key("bob", &[]);
    c.insert(&k, "allow", Kind::Allow, None, t);
    let later = t + secs(300 + 1799);
    assert_eq!(c.get(&k, later), None, "get never serves stale");
    assert_eq!(c.get_stale(&k, later), Some(&"allow"));
    assert_eq!(c.get_stale(&k, t + secs(300 + 1800)), None, "bounded");
    assert!(
        c.is_empty(),
        "an entry past its stale window is dropped when seen"
    );
    let s = c.stats();
    assert_eq!((s.stale_hits, s.expirations), (1, 1));
}

#[test]
fn least_recently_used_is_evicted() {
    let mut c = DecisionCache::new(settings(3));
    let t = Instant::now();
    let (a, b, d, e) = (key("a", &[]), key("b", &[]), key("d", &[]), key("e", &[]));
    c.insert(&a, 'a', Kind::Allow, None, t);
    c.insert(&b, 'b', Kind::Allow, None, t);
    c.insert(&d, 'd', Kind::Allow, None, t);
    assert_eq!(c.get(&a, t), Some(&'a')); // a is now the most recent; b the least
    c.insert(&e, 'e', Kind::Allow, None, t);
    assert_eq!(c.get(&b, t), None);
    assert_eq!(c.get(&a, t), Some(&'a'));
    assert_eq!(c.get(&d, t), Some(&'d'));
    assert_eq!(c.get(&e, t), Some(&'e'));
    assert_eq!(c.stats().evictions, 1);
    assert_eq!(c.len(), 3);
}

#[test]
fn reinserting_a_key_replaces_its_decision() {
    let mut c = DecisionCache::new(settings(2));
    let t = Instant::now();
    let k = key("a", &[]);
    c.insert(&k, 1, Kind::Allow, None, t);
    c.insert(&k, 2, Kind::Deny, None, t + secs(1));
    assert_eq!(c.len(), 1);
    assert_eq!(c.get(&k, t + secs(30)), Some(&2));
    assert_eq!(c.get(&k, t + secs(31)), None, "the deny TTL applies now");
}

#[test]
fn invalidate_user_is_exact() {
    let mut c = DecisionCache::new(settings(16));
    let t = Instant::now();
    for (user, ip) in [("bob", "1"), ("bob", "2"), ("bobby", "1"), ("alice", "1")] {
        c.insert(&key(user, &[ip]), user, Kind::Allow, None, t);
    }
    assert_eq!(c.invalidate_user(b"bob"), 2);
    assert_eq!(c.get(&key("bob", &["1"]), t), None);
    assert_eq!(c.get(&key("bobby", &["1"]), t), Some(&"bobby"));
    assert_eq!(c.get(&key("alice", &["1"]), t), Some(&"alice"));
    assert!(c.invalidate(&key("alice", &["1"])));
    assert!(!c.invalidate(&key("alice", &["1"])));
    assert_eq!(c.len(), 1);
    c.clear();
    assert_eq!(c.len(), 0);
    // Each entry dropped on purpose is counted once; a miss is not.
    assert_eq!((c.stats().invalidations, c.stats().expirations), (4, 0));
}

#[test]
fn sweep_drops_only_entries_past_their_stale_window() {
    let mut c = DecisionCache::new(settings(16));
    let t = Instant::now();
    c.insert(&key("old", &[]), 1, Kind::Deny, None, t);
    c.insert(&key("new", &[]), 2, Kind::Allow, None, t + secs(1000));
    assert_eq!(c.sweep(t + secs(30 + 1800)), 1);
    assert_eq!(c.len(), 1);
    assert_eq!(c.stats().expirations, 1);
    assert_eq!(c.get_stale(&key("new", &[]), t + secs(1000)), Some(&2));
}

#[test]
fn clear_and_slot_reuse_keep_the_structure_consistent() {
    let mut c = DecisionCache::new(settings(4));
    let t = Instant::now();
    for round in 0..50u32 {
        for i in 0..6u32 {
            let k = key(&format!("u{}", (i * 7 + round) % 9), &[]);
            c.insert(&k, i, Kind::Allow, None, t);
            if i % 3 == 0 {
                c.invalidate(&k);
            }
        }
        assert!(c.len() <= 4);
        assert_eq!(c.live_slots().count() as u32, c.len());
        assert_eq!(c.table.len() as u32, c.len());
    }
    c.clear();
    assert!(c.is_empty());
    assert_eq!(c.table.len(), 0);
    c.insert(&key("again", &[]), 9, Kind::Allow, None, t);
    assert_eq!(c.get(&key("again", &[]), t), Some(&9));
}

#[test]
fn memory_is_reserved_once() {
    let mut c = DecisionCache::new(settings(100));
    // The table's allocation, not `capacity()`: that counts remaining growth, which removals'
    // tombstones lower (more so with the portable group width on 32-bit ARM and MIPS).
    let (slab, table) = (c.slots.capacity(), c.table.allocation_size());
    let t = Instant::now();
    for i in 0..10_000u32 {
        let k = key(&i.to_string(), &[]);
        c.insert(&k, i, Kind::Allow, None, t);
        if i % 7 == 0 {
            c.invalidate(&k); // churn leaves tombstones in the table
        }
    }
    assert!(c.len() >= 99);
    assert_eq!(c.slots.capacity(), slab, "the slab never grows");
    assert_eq!(
        c.table.allocation_size(),
        table,
        "the table is never reallocated"
    );
}

#[test]
fn shorter_ttls_apply_to_decisions_already_cached() {
    let mut c = DecisionCache::new(settings(4));
    let t = Instant::now();
    let (a, d) = (key("a", &[]), key("d", &[]));
    c.update_ttls(secs(600), secs(30), secs(1800));
    c.insert(&a, 1, Kind::Allow, None, t);
    c.insert(&d, 2, Kind::Deny, None, t);
    assert_eq!(c.get(&a, t + secs(100)), Some(&1));
    // Reload to cache_ttl 0: the allow stored under 10 m is not served, not even stale.
    c.update_ttls(secs(0), secs(30), secs(1800));
    assert_eq!(c.get(&a, t + secs(100)), None);
    assert_eq!(c.get_stale(&a, t + secs(100)), None);
    // A shorter stale window applies too.
    c.update_ttls(secs(60), secs(30), secs(10));
    assert_eq!(c.get_stale(&d, t + secs(39)), Some(&2));
    assert_eq!(c.get_stale(&d, t + secs(40)), None);
    // Longer TTLs lengthen nothing past the portal's cap.
    let k = key("capped", &[]);
    c.insert(&k, 3, Kind::Allow, Some(secs(5)), t);
    c.update_ttls(secs(3600), secs(30), secs(0));
    assert_eq!(c.get(&k, t + secs(5)), None);
}

#[test]
fn a_new_capacity_keeps_the_most_recent_entries() {
    let mut c = DecisionCache::new(settings(8));
    let t = Instant::now();
    for i in 0..8u32 {
        c.insert(
            &key(&format!("u{i}"), &[]),
            i,
            Kind::Allow,
            None,
            t + secs(u64::from(i)),
        );
    }
    c.get(&key("u0", &[]), t + secs(9)); // u0 is now the most recent
    c.resize(3);
    assert_eq!(c.len(), 3);
    assert_eq!(c.stats().capacity, 3);
    assert_eq!(c.stats().evictions, 5);
    for (user, there) in [("u0", true), ("u7", true), ("u6", true), ("u5", false)] {
        assert_eq!(
            c.get_stale(&key(user, &[]), t + secs(10)).is_some(),
            there,
            "{user}"
        );
    }
    // Stored times survive: u6 was stored at t+6 and expires at t+6+300.
    assert_eq!(c.get(&key("u6", &[]), t + secs(305)), Some(&6));
    assert_eq!(c.get(&key("u6", &[]), t + secs(306)), None);
    // Growing keeps everything and makes room.
    c.resize(16);
    assert_eq!(c.len(), 3);
    for i in 10..23u32 {
        c.insert(&key(&format!("n{i}"), &[]), i, Kind::Allow, None, t);
    }
    assert_eq!(c.len(), 16);
    assert_eq!(c.live_slots().count(), 16);
    assert_eq!(c.table.len(), 16);
}

#[test]
fn sweep_some_visits_a_bounded_number_of_slots() {
    let mut c = DecisionCache::new(settings(100));
    let t = Instant::now();
    for i in 0..100u32 {
        c.insert(&key(&i.to_string(), &[]), i, Kind::Deny, None, t);
    }
    let dead = t + secs(30 + 1800);
    assert_eq!(c.sweep_some(dead, 30), 30);
    assert_eq!(c.len(), 70);
    assert_eq!(c.sweep_some(dead, 30), 30);
    assert_eq!(c.sweep_some(dead, 1000), 40, "wraps, never past the slab");
    assert!(c.is_empty());
    assert_eq!(c.stats().expirations, 100);
}

#[test]
fn ttl_changes_apply_to_new_inserts() {
    let mut c = DecisionCache::new(settings(4));
    let t = Instant::now();
    c.update_ttls(secs(10), secs(5), secs(0));
    let k = key("a", &[]);
    c.insert(&k, 1, Kind::Allow, None, t);
    assert_eq!(c.get(&k, t + secs(10)), None);
    assert_eq!(c.get_stale(&k, t + secs(10)), None, "no stale window");
}

#[test]
fn hit_rate() {
    let mut c = DecisionCache::new(settings(4));
    assert_eq!(c.stats().hit_rate(), 0.0);
    let t = Instant::now();
    let k = key("a", &[]);
    c.get(&k, t);
    c.insert(&k, 1, Kind::Allow, None, t);
    c.get(&k, t);
    c.get(&k, t);
    c.get(&k, t);
    assert_eq!(c.stats().hit_rate(), 0.75);
}
