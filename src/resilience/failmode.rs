//! What to decide when the portal cannot answer (down, slow, lying, or the breaker is open).
//!
//! - `open`: allow, marked as a fallback so it is counted and logged as such;
//! - `close`: deny, with a reason that says the portal was unavailable;
//! - `stale`: the most recent portal decision if it is within its bounded stale window, else
//!   deny.
//!
//! `open` in `environment production` is refused unless explicitly allowed. The check is made
//! by the config loader and again here, so no code path can switch a production router to
//! fail-open silently. The mode can change at run time (config reload).

use std::fmt;

/// What to decide when the portal cannot answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailMode {
    /// Allow, marked as a fallback decision.
    Open,
    /// Deny with a clear reason.
    Close,
    /// Serve a recent (bounded-stale) portal decision if there is one, else deny.
    Stale,
}

/// Where the router runs; `production` refuses `fail_mode open` unless explicitly allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    /// A live router: `fail_mode open` needs `allow_fail_open_in_production`.
    Production,
    /// A test deployment: any fail mode.
    Staging,
    /// A developer's machine: any fail mode.
    Development,
}

/// What the configuration says of fail modes (`config resilience`, read by config/).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// What to do when the portal cannot answer.
    pub mode: FailMode,
    /// Where the router runs.
    pub environment: Environment,
    /// `allow_fail_open_in_production`.
    pub allow_open_in_production: bool,
}

impl Settings {
    /// The production rule, in its one place: `open` in `production` is refused unless
    /// explicitly allowed. The config loader asks it (a problem in the file) and so does
    /// [`FailPolicy`] (no code path switches a production router to fail-open silently).
    pub fn check(&self) -> Result<(), FailOpenRefused> {
        if self.mode == FailMode::Open
            && self.environment == Environment::Production
            && !self.allow_open_in_production
        {
            Err(FailOpenRefused)
        } else {
            Ok(())
        }
    }
}

/// The fallback decision.
#[derive(Debug, PartialEq, Eq)]
pub enum Fallback<'a, V> {
    /// Allowed because of fail mode `open`.
    Allow,
    /// Denied; the text is what the user's session log and the operator see.
    Deny(&'static str),
    /// A recent portal decision, served because of fail mode `stale`.
    Stale(&'a V),
}

/// `fail_mode open` with `environment production` without `allow_fail_open_in_production`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailOpenRefused;

impl fmt::Display for FailOpenRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "fail mode 'open' is refused in production unless allow_fail_open_in_production is set",
        )
    }
}

impl std::error::Error for FailOpenRefused {}

/// The reason of a deny by fail mode `close`.
pub const DENY_CLOSED: &str = "policy portal unavailable (fail mode close)";
/// The reason of a deny by fail mode `stale` when no recent decision exists.
pub const DENY_NO_STALE: &str =
    "policy portal unavailable and no recent decision for this user (fail mode stale)";

/// The fail mode in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailPolicy {
    mode: FailMode,
}

impl FailPolicy {
    /// The fail mode of `settings`, unless the production rule refuses it.
    pub fn new(settings: Settings) -> Result<FailPolicy, FailOpenRefused> {
        settings.check()?;
        Ok(FailPolicy {
            mode: settings.mode,
        })
    }

    /// Switches mode at run time; a refused change keeps the current mode.
    pub fn update(&mut self, settings: Settings) -> Result<(), FailOpenRefused> {
        settings.check()?;
        self.mode = settings.mode;
        Ok(())
    }

    /// The mode in force.
    pub fn mode(&self) -> FailMode {
        self.mode
    }

    /// Decides without the portal. `stale` is asked only in `stale` mode.
    pub fn decide<'a, V>(&self, stale: impl FnOnce() -> Option<&'a V>) -> Fallback<'a, V> {
        match self.mode {
            FailMode::Open => Fallback::Allow,
            FailMode::Close => Fallback::Deny(DENY_CLOSED),
            FailMode::Stale => match stale() {
                Some(v) => Fallback::Stale(v),
                None => Fallback::Deny(DENY_NO_STALE),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(mode: FailMode, environment: Environment, allow: bool) -> Settings {
        Settings {
            mode,
            environment,
            allow_open_in_production: allow,
        }
    }

    #[test]
    fn each_mode_decides() {
        let open = FailPolicy::new(settings(FailMode::Open, Environment::Staging, false)).unwrap();
        assert_eq!(open.decide::<u8>(|| panic!("not asked")), Fallback::Allow);
        let close =
            FailPolicy::new(settings(FailMode::Close, Environment::Production, false)).unwrap();
        assert_eq!(
            close.decide::<u8>(|| panic!("not asked")),
            Fallback::Deny(DENY_CLOSED)
        );
        let stale =
            FailPolicy::new(settings(FailMode::Stale, Environment::Production, false)).unwrap();
        assert_eq!(stale.decide(|| Some(&7)), Fallback::Stale(&7));
        assert_eq!(stale.decide::<u8>(|| None), Fallback::Deny(DENY_NO_STALE));
    }

    #[test]
    fn open_in_production_needs_consent() {
        assert_eq!(
            FailPolicy::new(settings(FailMode::Open, Environment::Production, false)),
            Err(FailOpenRefused)
        );
        assert!(FailPolicy::new(settings(FailMode::Open, Environment::Production, true)).is_ok());
        assert!(FailPolicy::new(settings(FailMode::Open, Environment::Development, false)).is_ok());
    }

    #[test]
    fn the_mode_changes_at_run_time_and_a_refused_change_keeps_the_old_one() {
        let mut p =
            FailPolicy::new(settings(FailMode::Stale, Environment::Production, false)).unwrap();
        p.update(settings(FailMode::Close, Environment::Production, false))
            .unwrap();
        assert_eq!(p.mode(), FailMode::Close);
        assert_eq!(
            p.update(settings(FailMode::Open, Environment::Production, false)),
            Err(FailOpenRefused)
        );
        assert_eq!(p.mode(), FailMode::Close);
    }
}
