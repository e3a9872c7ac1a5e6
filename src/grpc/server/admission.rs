//! Who may start a TLS handshake with the gRPC endpoint: before a client has shown a
//! certificate, it costs the daemon a socket and handshake CPU on the thread that answers hooks,
//! so both are capped.
//!
//! - Each source address gets a token bucket: [`RATE`] new connections a second, bursts of
//!   [`BURST`]. A connection beyond it is closed on arrival, before any TLS byte.
//! - Connections still in their TLS handshake live in a pool of their own, apart from
//!   `grpc.max_connections` (which counts authenticated ones). When the pool is full, the
//!   oldest connection in it is dropped to make room: sockets that never start TLS can delay a
//!   client by at most one turn of the pool, never lock it out.

use super::settings::Shutdown;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::rc::Rc;
use std::time::Instant;

/// Connections in their TLS handshake at once.
pub const POOL: usize = 8;
/// New connections a second from one source address, sustained.
pub const RATE: u32 = 20;
/// New connections from one source address at once.
pub const BURST: u32 = 40;
/// Source addresses tracked; beyond, idle ones are forgotten first.
const SOURCES: usize = 1024;

/// One source's bucket, in thousandths of a connection.
#[derive(Clone, Copy)]
struct Bucket {
    milli: u32,
    at: Instant,
}

impl Bucket {
    fn refilled(self, now: Instant) -> u32 {
        let ms = now.saturating_duration_since(self.at).as_millis();
        let gained = ms.saturating_mul(u128::from(RATE));
        u32::try_from(gained).map_or(BURST * 1000, |g| {
            self.milli.saturating_add(g).min(BURST * 1000)
        })
    }
}

/// The endpoint's admission state (single-threaded, like the executor it runs on).
#[derive(Default)]
pub struct Admission {
    buckets: RefCell<HashMap<IpAddr, Bucket>>,
    pool: RefCell<VecDeque<(u64, Rc<Shutdown>)>>,
    next: Cell<u64>,
}

/// A connection's place in the handshake pool; leaves it on drop.
pub struct Handshaking {
    admission: Rc<Admission>,
    id: u64,
    dropped: Rc<Shutdown>,
}

impl Handshaking {
    /// Requested when the pool dropped this connection for a newer one.
    pub fn dropped(&self) -> &Shutdown {
        &self.dropped
    }
}

impl Drop for Handshaking {
    fn drop(&mut self) {
        self.admission
            .pool
            .borrow_mut()
            .retain(|(id, _)| *id != self.id);
    }
}

impl Admission {
    /// Admission with the default rates and pool size.
    pub fn new() -> Rc<Admission> {
        Rc::new(Admission::default())
    }

    /// Takes a token from `source`'s bucket; false when it has none (close the connection).
    pub fn allow(&self, source: IpAddr, now: Instant) -> bool {
        let mut buckets = self.buckets.borrow_mut();
        if buckets.len() >= SOURCES && !buckets.contains_key(&source) {
            buckets.retain(|_, b| b.refilled(now) < BURST * 1000);
        }
        let full = Bucket {
            milli: BURST * 1000,
            at: now,
        };
        let bucket = buckets.get(&source).copied().unwrap_or(full);
        let milli = bucket.refilled(now);
        let Some(left) = milli.checked_sub(1000) else {
            return false;
        };
        if buckets.len() < SOURCES || buckets.contains_key(&source) {
            buckets.insert(
                source,
                Bucket {
                    milli: left,
                    at: now,
                },
            );
        }
        true
    }

    /// Enters the handshake pool, dropping the oldest connection in it when it is full.
    pub fn enter(self: &Rc<Self>) -> Handshaking {
        let mut pool = self.pool.borrow_mut();
        if pool.len() >= POOL {
            if let Some((_, oldest)) = pool.pop_front() {
                oldest.request();
            }
        }
        let id = self.next.get();
        self.next.set(id.wrapping_add(1));
        let dropped = Rc::new(Shutdown::new());
        pool.push_back((id, dropped.clone()));
        Handshaking {
            admission: self.clone(),
            id,
            dropped,
        }
    }

    /// Connections in their handshake now.
    pub fn handshaking(&self) -> usize {
        self.pool.borrow().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn a_source_gets_its_burst_then_its_rate() {
        let a = Admission::default();
        let t0 = Instant::now();
        for _ in 0..BURST {
            assert!(a.allow(ip(2), t0));
        }
        assert!(!a.allow(ip(2), t0), "the burst is spent");
        assert!(a.allow(ip(1), t0), "another source has its own bucket");
        // 1/RATE seconds later: one more.
        let later = t0 + Duration::from_millis(1000 / u64::from(RATE));
        assert!(a.allow(ip(2), later));
        assert!(!a.allow(ip(2), later));
        // A long silence refills to the burst, not beyond.
        let much_later = t0 + Duration::from_secs(3600 * 24 * 365);
        for _ in 0..BURST {
            assert!(a.allow(ip(2), much_later));
        }
        assert!(!a.allow(ip(2), much_later));
    }

    #[test]
    fn sources_are_bounded_and_idle_ones_forgotten_first() {
        let a = Admission::default();
        let t0 = Instant::now();
        for i in 0..SOURCES as u32 {
            assert!(a.allow(IpAddr::from(i.to_be_bytes()), t0));
        }
        assert_eq!(a.buckets.borrow().len(), SOURCES);
        // Two seconds on, every bucket is full again (idle): a new source makes room.
        let t1 = t0 + Duration::from_secs(2);
        assert!(a.allow(ip(9), t1));
        assert!(a.buckets.borrow().len() <= SOURCES);
        assert!(a.buckets.borrow().contains_key(&ip(9)));
    }

    #[test]
    fn a_full_pool_drops_its_oldest_member() {
        let a = Admission::new();
        let first = a.enter();
        let rest: Vec<_> = (1..POOL).map(|_| a.enter()).collect();
        assert_eq!(a.handshaking(), POOL);
        assert!(
            futures_lite::future::block_on(futures_lite::future::poll_once(
                first.dropped().requested()
            ))
            .is_none()
        );
        let newest = a.enter();
        assert_eq!(a.handshaking(), POOL);
        assert!(
            futures_lite::future::block_on(futures_lite::future::poll_once(
                first.dropped().requested()
            ))
            .is_some()
        );
        // Leaving (a finished handshake) frees a place without dropping anyone.
        drop(rest);
        drop(newest);
        drop(first);
        assert_eq!(a.handshaking(), 0);
    }
}
