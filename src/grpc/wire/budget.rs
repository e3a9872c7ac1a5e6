//! The memory budget for request bytes: what peers may make the server hold, across every
//! connection, before their messages are handed to a handler.
//!
//! A message is charged at its full announced length as soon as its 5-byte prefix arrives, and
//! before the HTTP/2 window is given back for the rest of it: the peer cannot send more than
//! one window (64 KiB a connection, h2's default) beyond what the budget covers, so flow
//! control is what enforces it. One connection may hold at most half the budget, so one peer
//! cannot take it all. A message the budget cannot cover fails its call at once with
//! RESOURCE_EXHAUSTED (waiting could deadlock: every stream holding part of what the others
//! need); the charge goes back when the message is handed out or its stream ends.

use crate::grpc::wire::status::{Code, Status};
use std::cell::Cell;
use std::rc::Rc;

/// Request bytes held across all connections, against `grpc.request_budget`.
#[derive(Debug)]
pub struct Budget {
    limit: Cell<usize>,
    used: Cell<usize>,
}

impl Budget {
    /// A budget of `limit` bytes for everything its shares hold.
    pub fn new(limit: usize) -> Rc<Budget> {
        Rc::new(Budget {
            limit: Cell::new(limit),
            used: Cell::new(0),
        })
    }

    /// A reload's new limit; charges already made stay until they are given back.
    pub fn set_limit(&self, limit: usize) {
        self.limit.set(limit);
    }

    /// Bytes charged now.
    pub fn used(&self) -> usize {
        self.used.get()
    }
}

/// One connection's part of the budget.
#[derive(Debug)]
pub struct Share {
    budget: Rc<Budget>,
    used: Cell<usize>,
}

impl Share {
    /// One connection's share of `budget`.
    pub fn new(budget: Rc<Budget>) -> Rc<Share> {
        Rc::new(Share {
            budget,
            used: Cell::new(0),
        })
    }

    /// Charges `bytes` to this connection and the budget, or says why it cannot.
    pub fn charge(self: &Rc<Self>, bytes: usize) -> Result<Charge, Status> {
        let limit = self.budget.limit.get();
        let conn = self.used.get().saturating_add(bytes);
        let all = self.budget.used.get().saturating_add(bytes);
        if conn > limit / 2 || all > limit {
            return Err(Status::new(
                Code::ResourceExhausted,
                format!(
                    "a message of {bytes} bytes does not fit the request memory budget now \
                     (grpc.request_budget {limit} bytes, at most half on one connection)"
                ),
            ));
        }
        self.used.set(conn);
        self.budget.used.set(all);
        Ok(Charge {
            share: self.clone(),
            bytes,
        })
    }
}

/// Bytes charged for one message; given back on drop.
#[derive(Debug)]
pub struct Charge {
    share: Rc<Share>,
    bytes: usize,
}

impl Charge {
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        let share = &self.share;
        share.used.set(share.used.get() - self.bytes);
        let budget = &share.budget;
        budget.used.set(budget.used.get() - self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_gets_half_and_all_of_them_the_whole() {
        let budget = Budget::new(1000);
        let (a, b, c) = (
            Share::new(budget.clone()),
            Share::new(budget.clone()),
            Share::new(budget.clone()),
        );
        let a1 = a.charge(400).unwrap();
        let e = a.charge(101).unwrap_err();
        assert_eq!(e.code, Code::ResourceExhausted);
        let a2 = a.charge(100).unwrap();
        let b1 = b.charge(500).unwrap();
        assert!(c.charge(1).is_err(), "the budget is spent");
        assert_eq!(budget.used(), 1000);
        drop(b1);
        let c1 = c.charge(500).unwrap();
        drop((a1, a2, c1));
        assert_eq!(budget.used(), 0);
        assert_eq!(a.used.get() + b.used.get() + c.used.get(), 0);
    }

    #[test]
    fn a_lower_limit_applies_to_new_charges_only() {
        let budget = Budget::new(1000);
        let a = Share::new(budget.clone());
        let held = a.charge(500).unwrap();
        budget.set_limit(100);
        assert!(a.charge(1).is_err());
        drop(held);
        assert!(a.charge(50).is_ok());
        assert!(a.charge(usize::MAX).is_err(), "no overflow");
    }
}
