//! Local policy: the `config rule` sections and `policy.default`, evaluated for a connect.
//!
//! A matching deny rule always wins (even over the portal); otherwise the first matching allow
//! rule applies, with its `max_sessions`; with no match, `policy.default`. Rules are checked in
//! file order, disabled ones skipped. Every criterion a rule gives must match; a criterion it
//! leaves out matches everyone.

use crate::config::{Policy, Rule, Verdict};
use crate::session::SessionEvent;

/// What the local rules say about one connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Local {
    /// A deny rule matched: final, whatever the portal would say.
    Denied { rule: String },
    /// An allow rule matched.
    Allowed {
        rule: String,
        max_sessions: Option<u32>,
        /// End the oldest sessions rather than refuse (see `Rule::replace_oldest`).
        replace_oldest: bool,
    },
    /// No rule matched; `policy.default` applies when the portal is not asked.
    NoMatch { default: Verdict },
}

/// Evaluates `policy` for `event`.
pub fn evaluate(policy: &Policy, event: &SessionEvent) -> Local {
    let mut allowed = None;
    for rule in policy
        .rules
        .iter()
        .filter(|r| r.enabled && matches(r, event))
    {
        match rule.action {
            Verdict::Deny => {
                return Local::Denied {
                    rule: describe(rule),
                }
            }
            Verdict::Allow if allowed.is_none() => {
                allowed = Some(Local::Allowed {
                    rule: describe(rule),
                    max_sessions: rule.max_sessions,
                    replace_oldest: rule.replace_oldest,
                })
            }
            Verdict::Allow => {}
        }
    }
    allowed.unwrap_or(Local::NoMatch {
        default: policy.default,
    })
}

fn matches(rule: &Rule, event: &SessionEvent) -> bool {
    let user = rule.users.is_empty() || rule.users.contains(&event.username);
    let group = rule.groups.is_empty() || rule.groups.contains(&event.groupname);
    // A rule about source addresses cannot match a client whose address ocserv did not give.
    let source = rule.sources.is_empty()
        || event
            .ip_real
            .is_some_and(|ip| rule.sources.iter().any(|c| c.contains(ip)));
    user && group && source
}

/// How log lines and replies cite a rule: its name, or where it is in the file.
fn describe(rule: &Rule) -> String {
    match &rule.name {
        Some(name) => format!("rule '{name}'"),
        None => format!("the rule at line {}", rule.line),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::units::Cidr;
    use crate::session::Reason;

    fn event(user: &str, group: &str, ip: &str) -> SessionEvent {
        let mut e = SessionEvent::new(Reason::Connect, 100, user);
        e.groupname = group.into();
        e.ip_real = ip.parse().ok();
        e
    }

    fn rule(action: Verdict, users: &[&str], groups: &[&str], sources: &[&str]) -> Rule {
        Rule {
            name: None,
            line: 7,
            enabled: true,
            action,
            users: users.iter().map(|s| s.to_string()).collect(),
            groups: groups.iter().map(|s| s.to_string()).collect(),
            sources: sources.iter().map(|s| Cidr::parse(s).unwrap()).collect(),
            max_sessions: None,
            replace_oldest: false,
        }
    }

    fn policy(default: Verdict, rules: Vec<Rule>) -> Policy {
        Policy { default, rules }
    }

    #[test]
    fn no_rules_means_the_default() {
        for d in [Verdict::Allow, Verdict::Deny] {
            let p = policy(d, vec![]);
            assert_eq!(
                evaluate(&p, &event("alice", "", "192.0.2.1")),
                Local::NoMatch { default: d }
            );
        }
    }

    #[test]
    fn every_given_criterion_must_match() {
        let r = rule(Verdict::Allow, &["alice"], &["eng"], &["192.0.2.0/24"]);
        let p = policy(Verdict::Deny, vec![r]);
        let allowed = |e: &SessionEvent| matches!(evaluate(&p, e), Local::Allowed { .. });
        assert!(allowed(&event("alice", "eng", "192.0.2.9")));
        assert!(!allowed(&event("bob", "eng", "192.0.2.9")));
        assert!(!allowed(&event("alice", "ops", "192.0.2.9")));
        assert!(!allowed(&event("alice", "eng", "198.51.100.1")));
        // No address from ocserv: a source rule cannot match.
        assert!(!allowed(&event("alice", "eng", "")));
    }

    #[test]
    fn a_deny_rule_wins_wherever_it_is() {
        let p = policy(
            Verdict::Allow,
            vec![
                rule(Verdict::Allow, &["mallory"], &[], &[]),
                rule(Verdict::Deny, &[], &[], &["203.0.113.0/24"]),
            ],
        );
        assert_eq!(
            evaluate(&p, &event("mallory", "", "203.0.113.5")),
            Local::Denied {
                rule: "the rule at line 7".into()
            }
        );
        assert!(matches!(
            evaluate(&p, &event("mallory", "", "192.0.2.5")),
            Local::Allowed { .. }
        ));
    }

    #[test]
    fn the_first_allow_rule_gives_max_sessions_and_disabled_rules_are_skipped() {
        let mut off = rule(Verdict::Deny, &["alice"], &[], &[]);
        off.enabled = false;
        let mut one = rule(Verdict::Allow, &["alice"], &[], &[]);
        one.name = Some("one-device".into());
        one.max_sessions = Some(1);
        let mut three = rule(Verdict::Allow, &[], &[], &[]);
        three.max_sessions = Some(3);
        let p = policy(Verdict::Deny, vec![off, one, three]);
        assert_eq!(
            evaluate(&p, &event("alice", "", "192.0.2.1")),
            Local::Allowed {
                rule: "rule 'one-device'".into(),
                max_sessions: Some(1),
                replace_oldest: false
            }
        );
        assert_eq!(
            evaluate(&p, &event("bob", "", "192.0.2.1")),
            Local::Allowed {
                rule: "the rule at line 7".into(),
                max_sessions: Some(3),
                replace_oldest: false
            }
        );
    }

    #[test]
    fn ipv6_sources_match() {
        let p = policy(
            Verdict::Allow,
            vec![rule(Verdict::Deny, &[], &[], &["2001:db8::/32"])],
        );
        assert!(matches!(
            evaluate(&p, &event("a", "", "2001:db8::1")),
            Local::Denied { .. }
        ));
        assert!(matches!(
            evaluate(&p, &event("a", "", "2001:db9::1")),
            Local::NoMatch { .. }
        ));
    }
}
