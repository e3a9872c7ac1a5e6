//! `config policy 'local'` and the `config rule` sections: decisions without a portal. In one
//! place: its type and defaults, how the file's options are read (and checked against each other),
//! and its `uci show` form.

use super::from_uci::{number_in, parse_account_name};
use super::reader::{Problem, SectionReader};
use super::schema::{keyword_str, parse_keyword, Keyword, SectionWriter};
use super::uci::Section;
use super::units::{format_bool, parse_bool, Cidr};

/// Allow or deny: a rule's action, the policy default and the hook's fallback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Admit.
    Allow,
    /// Refuse.
    Deny,
}

/// `config policy 'local'` plus the `config rule` sections: decisions without a portal.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// What happens when no rule matches.
    pub default: Verdict,
    /// The rules in file order; the first that matches decides.
    pub rules: Vec<Rule>,
}

/// One `config rule` section. Every criterion given must match; an empty criterion matches all.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// The section name, if the rule has one.
    pub name: Option<String>,
    /// Line of the `config rule` command, for log messages that cite the rule.
    pub line: u32,
    /// `option enabled`: a disabled rule matches nothing.
    pub enabled: bool,
    /// `option action`: what a match decides.
    pub action: Verdict,
    /// `list user`: names that match.
    pub users: Vec<String>,
    /// `list group`: groups that match.
    pub groups: Vec<String>,
    /// `list source`: client addresses (IP_REAL) that match.
    pub sources: Vec<Cidr>,
    /// For allow rules: the most concurrent sessions a matching user may have.
    pub max_sessions: Option<u32>,
    /// With `max_sessions`: end the user's oldest session(s) instead of refusing the new one
    /// (the stale-session lockout of `max-same-clients 1`). Needs ocserv's control socket.
    pub replace_oldest: bool,
}

impl Keyword for Verdict {
    const WORDS: &'static [(&'static str, Self)] =
        &[("allow", Verdict::Allow), ("deny", Verdict::Deny)];
    const WHAT: &'static str = "action";
}

/// Reads one `rule` section (`index`: its place among the rules, for its label).
pub(super) fn read_rule(section: &Section, index: usize, problems: &mut Vec<Problem>) -> Rule {
    let label = match &section.name {
        Some(name) => format!("rule '{name}'"),
        None => format!("rule @rule[{index}]"),
    };
    let mut r = SectionReader::new(section, label.clone(), problems);
    let action = r.value("action", parse_keyword);
    let rule = Rule {
        name: section.name.clone(),
        line: section.line,
        enabled: r.or("enabled", true, parse_bool),
        action: action.unwrap_or(Verdict::Deny),
        users: r.list("user", parse_account_name).unwrap_or_default(),
        groups: r.list("group", parse_account_name).unwrap_or_default(),
        sources: r.list("source", Cidr::parse).unwrap_or_default(),
        max_sessions: r.value("max_sessions", |s| number_in(s, 1, 10_000)),
        replace_oldest: r.or("replace_oldest", false, parse_bool),
    };
    if action.is_none() && section.get("action").is_none() {
        r.problem(
            "action",
            format!("{label} needs 'option action' (allow or deny)"),
        );
    }
    if rule.replace_oldest && rule.max_sessions.is_none() {
        r.problem(
            "replace_oldest",
            format!("option 'replace_oldest' in {label} needs 'option max_sessions'"),
        );
    }
    if rule.action == Verdict::Deny && rule.max_sessions.is_some() {
        r.problem(
            "max_sessions",
            format!("option 'max_sessions' in {label} only applies to allow rules"),
        );
    }
    r.finish();
    rule
}

/// The policy section and one `rule` section per rule, in `uci show` form.
pub(super) fn write(policy: &Policy) -> Vec<Section> {
    let mut sections = Vec::new();
    let mut s = SectionWriter::new("policy", Some("local"));
    s.set("default", keyword_str(policy.default));
    sections.push(s.0);
    for rule in &policy.rules {
        let mut s = SectionWriter::new("rule", rule.name.as_deref());
        s.set("enabled", format_bool(rule.enabled))
            .set("action", keyword_str(rule.action))
            .list("user", rule.users.iter().cloned())
            .list("group", rule.groups.iter().cloned())
            .list("source", rule.sources.iter().map(Cidr::to_string));
        if let Some(n) = rule.max_sessions {
            s.set("max_sessions", n.to_string());
            s.set("replace_oldest", format_bool(rule.replace_oldest));
        }
        sections.push(s.0);
    }
    sections
}
