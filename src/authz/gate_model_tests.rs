//! A model-based test of the gate: random histories of portal behaviour (allow, deny, each
//! status code, hangs past the deadline, undecodable replies, odd metadata, an open breaker),
//! clock steps, reloads, revocations (also while a call is out) and sweeps. After every connect
//! the invariant is checked against a model that remembers only what the rule allows to admit:
//!
//! a connect is admitted only by the portal's answer to this very call; or by the portal's
//! latest answer for that key, within the TTLs in force now and not revoked since; or, after a
//! failure of the failure class, by `fail_mode open` or by a stale allow within
//! `cache_stale_ttl`. Nothing else admits.
//!
//! Seeds are fixed so a failure repeats; the message names the seed and the steps so far.

use super::*;
use crate::config::{Environment, FailMode};
use crate::grpc::{Code, Status};
use crate::portal::auth::{answer, classify};
use crate::proto::vpn::v1::CheckPolicyResponse;
use prost::Message;
use std::collections::HashMap;
use std::time::Duration;

const USERS: [&str; 3] = ["alice", "bob", "bobby"];
const ADDRS: [&str; 2] = ["192.0.2.1", "198.51.100.2"];

/// What the model remembers of the portal's latest answer for a key.
#[derive(Clone, Copy, Debug)]
struct Remembered {
    allowed: bool,
    at: Instant,
    cap: Option<Duration>,
}

struct Model {
    settings: Resilience,
    now: Instant,
    last: HashMap<(usize, usize), Remembered>,
}

impl Model {
    fn ttl(&self, r: &Remembered) -> Duration {
        let configured = if r.allowed {
            self.settings.cache_ttl
        } else {
            self.settings.cache_deny_ttl
        };
        r.cap.map_or(configured, |c| c.min(configured))
    }

    /// The latest answer is an allow within its TTL in force now.
    fn fresh_allow(&self, key: (usize, usize)) -> bool {
        self.last.get(&key).is_some_and(|r| {
            let ttl = self.ttl(r);
            r.allowed && !ttl.is_zero() && self.now.saturating_duration_since(r.at) < ttl
        })
    }

    /// The latest answer is an allow within its TTL plus the stale window in force now.
    fn stale_allow(&self, key: (usize, usize)) -> bool {
        self.last.get(&key).is_some_and(|r| {
            let ttl = self.ttl(r);
            r.allowed
                && !ttl.is_zero()
                && self.now.saturating_duration_since(r.at) < ttl + self.settings.cache_stale_ttl
        })
    }

    fn revoke(&mut self, user: Option<usize>) {
        self.last.retain(|&(u, _), _| user.is_some_and(|v| v != u));
    }
}

fn cache_key(user: usize, addr: usize) -> CacheKey {
    let mut k = CacheKey::new(USERS[user].as_bytes()).unwrap();
    k.push(b"staff").unwrap();
    k.push(ADDRS[addr].as_bytes()).unwrap();
    k
}

fn pick<T: Copy>(rng: &mut fastrand::Rng, from: &[T]) -> T {
    from[rng.usize(..from.len())]
}

fn random_settings(rng: &mut fastrand::Rng) -> Resilience {
    let secs = |rng: &mut fastrand::Rng| Duration::from_secs(pick(rng, &[0, 1, 5, 30, 300, 600]));
    Resilience {
        fail_mode: pick(
            rng,
            &[
                FailMode::Open,
                FailMode::Close,
                FailMode::Stale,
                FailMode::Stale,
            ],
        ),
        environment: Environment::Development,
        cache_ttl: secs(rng),
        cache_deny_ttl: secs(rng),
        cache_stale_ttl: Duration::from_secs(pick(rng, &[0, 10, 60, 1800])),
        cache_max_size: pick(rng, &[1, 2, 4, 16]),
        ..Resilience::default()
    }
}

/// One portal behaviour, as the engine would hand it over, and its name for the trace.
fn random_outcome(rng: &mut fastrand::Rng) -> (Outcome, String) {
    match rng.u8(..6) {
        0 | 1 => {
            let mut reply = CheckPolicyResponse {
                allowed: rng.bool(),
                should_disconnect: rng.u8(..5) == 0,
                deny_reason: "because".into(),
                ..CheckPolicyResponse::default()
            };
            if rng.bool() {
                let ttl = pick(
                    rng,
                    &["0", "1", "3", "30", "100000", "30s", "-1", "1.5", "", "x"],
                );
                reply
                    .metadata
                    .insert("cache_ttl_seconds".into(), ttl.into());
            }
            let name = format!(
                "reply allowed={} should_disconnect={} meta={:?}",
                reply.allowed, reply.should_disconnect, reply.metadata
            );
            (answer(&reply.encode_to_vec()), name)
        }
        2 => {
            let code = Code::from_number(rng.u32(1..=16));
            (
                Err(classify(Status::new(code, "x"))),
                format!("status {code}"),
            )
        }
        3 => (
            Err(classify(Status::new(
                Code::DeadlineExceeded,
                "hung past the deadline",
            ))),
            "hang".into(),
        ),
        4 => {
            let garbage: Vec<u8> = (0..rng.usize(1..12)).map(|_| rng.u8(..)).collect();
            (answer(&garbage), format!("bytes {garbage:?}"))
        }
        _ => (
            Err(Failure::BreakerOpen("circuit breaker open".into())),
            "breaker open".into(),
        ),
    }
}

/// Whether the model allows `d` for a connect on `key` whose call (if one was made) ended in
/// `outcome`; `None` when the gate answered from its cache without a call.
fn admissible(m: &Model, key: (usize, usize), d: &Decision, outcome: Option<&Outcome>) -> bool {
    if !d.allow {
        return true;
    }
    let failed = matches!(
        outcome,
        Some(Err(Failure::Broken(_) | Failure::BreakerOpen(_)))
    );
    match d.source {
        Source::Portal => matches!(outcome, Some(Ok(a)) if a.allowed),
        Source::Cache => outcome.is_none() && m.fresh_allow(key),
        Source::FailOpen => failed && m.settings.fail_mode == FailMode::Open,
        Source::Stale => failed && m.settings.fail_mode == FailMode::Stale && m.stale_allow(key),
        _ => false,
    }
}

fn run(seed: u64, steps: usize) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let settings = random_settings(&mut rng);
    let mut gate = Gate::new(&settings).unwrap();
    let mut m = Model {
        settings,
        now: Instant::now(),
        last: HashMap::new(),
    };
    let mut trace: Vec<String> = Vec::new();
    for _ in 0..steps {
        match rng.u8(..10) {
            0..=4 => {
                let key = (rng.usize(..USERS.len()), rng.usize(..ADDRS.len()));
                let user = USERS[key.0];
                let k = cache_key(key.0, key.1);
                if let Some(d) = gate.cached(&k, m.now) {
                    trace.push(format!("connect {key:?}: cached {d:?}"));
                    assert!(
                        admissible(&m, key, &d, None),
                        "seed {seed}: wrong allow\n{}",
                        trace.join("\n")
                    );
                    assert!(d.allow || m.last.get(&key).is_some_and(|r| !r.allowed));
                    continue;
                }
                let epoch = gate.epoch();
                // Sometimes a revocation lands while the call is out.
                let during = (rng.u8(..6) == 0).then(|| {
                    let who = (rng.u8(..3) > 0).then(|| rng.usize(..USERS.len()));
                    gate.revoke(who.map(|u| USERS[u]));
                    m.revoke(who);
                    who
                });
                let (outcome, name) = random_outcome(&mut rng);
                gate.record(&k, user, None, &outcome, epoch, m.now);
                let d = gate.decide(&k, &outcome, m.now);
                trace.push(format!(
                    "connect {key:?}, revoked during: {during:?}, {name}: {d:?}"
                ));
                assert!(
                    admissible(&m, key, &d, Some(&outcome)),
                    "seed {seed}: wrong allow\n{}",
                    trace.join("\n")
                );
                if matches!(outcome, Err(Failure::Refused(_))) {
                    assert_eq!(d.source, Source::Refused, "seed {seed}");
                }
                // What the rule lets stand afterwards.
                match &outcome {
                    Ok(a) => {
                        if a.revoke {
                            m.revoke(Some(key.0));
                        }
                        if during.is_some() {
                            m.last.remove(&key);
                        } else {
                            let r = Remembered {
                                allowed: a.allowed,
                                at: m.now,
                                cap: a.ttl_cap,
                            };
                            if m.ttl(&r).is_zero() {
                                m.last.remove(&key);
                            } else {
                                m.last.insert(key, r);
                            }
                        }
                    }
                    Err(Failure::Refused(_)) => {
                        m.last.remove(&key);
                    }
                    Err(_) => {}
                }
            }
            5 | 6 => {
                let step =
                    Duration::from_secs(pick(&mut rng, &[0, 1, 2, 4, 29, 31, 299, 301, 1800]));
                m.now += step;
                trace.push(format!("clock +{step:?}"));
            }
            7 => {
                let mut next = random_settings(&mut rng);
                if rng.u8(..4) == 0 {
                    // A refused reload changes nothing.
                    next.fail_mode = FailMode::Open;
                    next.environment = Environment::Production;
                    assert!(gate.reconfigure(&next).is_err());
                    trace.push("reload refused".into());
                    continue;
                }
                gate.reconfigure(&next).unwrap();
                trace.push(format!(
                    "reload {:?} ttl {:?} deny {:?} stale {:?} size {}",
                    next.fail_mode,
                    next.cache_ttl,
                    next.cache_deny_ttl,
                    next.cache_stale_ttl,
                    next.cache_max_size
                ));
                m.settings = next;
            }
            8 => {
                let who = (rng.u8(..3) > 0).then(|| rng.usize(..USERS.len()));
                gate.revoke(who.map(|u| USERS[u]));
                m.revoke(who);
                trace.push(format!("revoke {who:?}"));
            }
            _ => {
                gate.sweep(m.now, rng.u32(1..8));
                trace.push("sweep".into());
            }
        }
    }
}

#[test]
fn no_history_admits_what_the_rule_does_not() {
    for seed in 0..400 {
        run(seed, 300);
    }
}

/// Allows fresh for 30 s, then stale for 30 min, under `mode`.
fn thirty_seconds_fresh(mode: FailMode) -> Resilience {
    Resilience {
        fail_mode: mode,
        environment: Environment::Development,
        cache_ttl: Duration::from_secs(30),
        cache_stale_ttl: Duration::from_secs(1800),
        ..Resilience::default()
    }
}

#[test]
fn the_histories_exercise_every_way_in() {
    // The same generator admits through the portal, the cache, stale and fail-open: the
    // invariant above is checked against real allows, not only denies.
    let mut seen = Vec::new();
    for seed in 0..200 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let settings = thirty_seconds_fresh(pick(&mut rng, &[FailMode::Open, FailMode::Stale]));
        let mut gate = Gate::new(&settings).unwrap();
        let k = cache_key(0, 0);
        let mut now = Instant::now();
        for _ in 0..20 {
            let d = match gate.cached(&k, now) {
                Some(d) => d,
                None => {
                    let (outcome, _) = random_outcome(&mut rng);
                    let epoch = gate.epoch();
                    gate.record(&k, "alice", None, &outcome, epoch, now);
                    gate.decide(&k, &outcome, now)
                }
            };
            if d.allow {
                seen.push(d.source);
            }
            now += Duration::from_secs(pick(&mut rng, &[1, 31]));
        }
    }
    for source in [
        Source::Portal,
        Source::Cache,
        Source::Stale,
        Source::FailOpen,
    ] {
        assert!(seen.contains(&source), "{source:?} never admitted");
    }
}

/// Each of the 16 non-OK codes, under each fail mode, with a stale allow for the key: the five
/// failure codes go to the fail mode (open admits, stale serves the old allow, close denies);
/// the other eleven deny from `portal-refused` and leave nothing to serve stale afterwards.
#[test]
fn every_status_code_under_every_fail_mode() {
    let failure = [
        Code::Unknown,
        Code::DeadlineExceeded,
        Code::ResourceExhausted,
        Code::Internal,
        Code::Unavailable,
    ];
    for n in 1..=16 {
        let code = Code::from_number(n);
        for mode in [FailMode::Open, FailMode::Stale, FailMode::Close] {
            let settings = thirty_seconds_fresh(mode);
            let mut gate = Gate::new(&settings).unwrap();
            let k = cache_key(0, 0);
            let t = Instant::now();
            let allow = answer(
                &CheckPolicyResponse {
                    allowed: true,
                    ..CheckPolicyResponse::default()
                }
                .encode_to_vec(),
            );
            gate.record(&k, "alice", None, &allow, gate.epoch(), t);
            let later = t + Duration::from_secs(60); // only stale now
            assert!(gate.cached(&k, later).is_none());
            let outcome = Err(classify(Status::new(code, "x")));
            gate.record(&k, "alice", None, &outcome, gate.epoch(), later);
            let d = gate.decide(&k, &outcome, later);
            let want = if failure.contains(&code) {
                match mode {
                    FailMode::Open => (true, Source::FailOpen),
                    FailMode::Stale => (true, Source::Stale),
                    FailMode::Close => (false, Source::FailClose),
                }
            } else {
                (false, Source::Refused)
            };
            assert_eq!((d.allow, d.source), want, "{code} under {mode:?}: {d:?}");
            if !failure.contains(&code) && mode == FailMode::Stale {
                // The refusal was the portal's latest word: a failure now finds nothing stale.
                let broken = Err(Failure::Broken(Status::new(Code::Unavailable, "down")));
                let d = gate.decide(&k, &broken, later);
                assert_eq!((d.allow, d.source), (false, Source::FailClose), "{code}");
            }
        }
    }
}
