//! What an endpoint's connections run under: their bounds ([`Settings`]), the settings in
//! force across reloads ([`InForce`]), and the graceful-shutdown signal ([`Shutdown`]).

use crate::grpc::transport::keepalive::Keepalive;
use crate::grpc::wire::frame;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// Bounds for one server.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The largest request message taken.
    pub max_message: usize,
    /// Calls open at once on one connection.
    pub max_concurrent_streams: u32,
    /// The largest header block taken.
    pub max_header_list_size: u32,
    /// How long a TLS handshake may take.
    pub handshake_timeout: Duration,
    /// Client identities allowed the guarded methods (empty: any).
    pub allowed_clients: Vec<String>,
    /// Pings on quiet connections.
    pub keepalive: Keepalive,
    /// The deadline of a unary call whose client sent none.
    pub unary_time_limit: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            max_message: frame::DEFAULT_MAX_MESSAGE,
            max_concurrent_streams: 100,
            max_header_list_size: 16 * 1024,
            handshake_timeout: Duration::from_secs(10),
            allowed_clients: Vec::new(),
            keepalive: Keepalive::default(),
            unary_time_limit: Duration::from_secs(120),
        }
    }
}

/// The settings in force for an endpoint's connections. A reload replaces them and ends the
/// generation every open connection is watching: each then checks its peer against the
/// allow-list in force (calls from then on are judged by it; a client that was allowed and is
/// no longer gets GOAWAY), and a connection made under certificate files that have since
/// changed gets GOAWAY (its client reconnects under the new ones).
pub struct InForce {
    current: RefCell<Generation>,
}

/// One reload's worth of settings, and the signal that it is over.
#[derive(Clone)]
pub(super) struct Generation {
    pub(super) settings: Rc<Settings>,
    /// Identifies the certificate files' contents.
    pub(super) tls_files: u64,
    pub(super) ended: Rc<Shutdown>,
}

impl InForce {
    /// `settings` in force, under certificate files identified by `tls_files`.
    pub fn new(settings: Rc<Settings>, tls_files: u64) -> InForce {
        InForce {
            current: RefCell::new(Generation {
                settings,
                tls_files,
                ended: Rc::new(Shutdown::new()),
            }),
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> Rc<Settings> {
        self.current.borrow().settings.clone()
    }

    /// New settings (and certificate files identified by `tls_files`) for every connection,
    /// open ones included.
    pub fn replace(&self, settings: Rc<Settings>, tls_files: u64) {
        let old = self.current.replace(Generation {
            settings,
            tls_files,
            ended: Rc::new(Shutdown::new()),
        });
        old.ended.request();
    }

    pub(super) fn current(&self) -> Generation {
        self.current.borrow().clone()
    }
}

/// Tells connections to stop taking new calls (GOAWAY) and finish the ones in flight.
#[derive(Default)]
pub struct Shutdown {
    requested: Cell<bool>,
    /// Wakers of the [`Requested`] futures alive now, by key: a future that is dropped takes
    /// its waker out, so a long-lived connection racing one per accepted stream keeps this
    /// at one entry, not one per stream ever served.
    waiters: RefCell<HashMap<u64, Waker>>,
    next_key: Cell<u64>,
}

impl Shutdown {
    /// Not requested yet.
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Starts the graceful shutdown of every connection holding this handle.
    pub fn request(&self) {
        self.requested.set(true);
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        for waker in waiters.into_values() {
            waker.wake();
        }
    }

    /// Resolves once shutdown is requested.
    pub fn requested(&self) -> Requested<'_> {
        Requested {
            shutdown: self,
            key: None,
        }
    }

    /// Futures waiting now (for tests).
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.waiters.borrow().len()
    }
}

/// The future of [`Shutdown::requested`].
pub struct Requested<'a> {
    shutdown: &'a Shutdown,
    key: Option<u64>,
}

impl Future for Requested<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let shutdown = self.shutdown;
        if shutdown.requested.get() {
            return Poll::Ready(());
        }
        let key = *self.key.get_or_insert_with(|| {
            let key = shutdown.next_key.get();
            shutdown.next_key.set(key + 1);
            key
        });
        let mut waiters = shutdown.waiters.borrow_mut();
        match waiters.get_mut(&key) {
            Some(w) if w.will_wake(cx.waker()) => {}
            Some(w) => w.clone_from(cx.waker()),
            None => {
                waiters.insert(key, cx.waker().clone());
            }
        }
        Poll::Pending
    }
}

impl Drop for Requested<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.shutdown.waiters.borrow_mut().remove(&key);
        }
    }
}
