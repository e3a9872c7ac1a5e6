//! Reads typed values out of one UCI section and keeps every problem with its line.
//!
//! The reader remembers each option name it was asked for; whatever is left in the section at
//! [`SectionReader::finish`] is unknown, and is reported with the closest known name. That way
//! the list of known options cannot drift from the code that reads them.

use super::invalid::Invalid;
use super::uci::{Section, Value};

/// A problem in the file: the line (0 when it concerns the file as a whole) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The line, or 0 for the file as a whole.
    pub line: u32,
    /// What is wrong, naming the option.
    pub message: String,
}

/// Pulls typed options out of a section; see the module docs.
pub struct SectionReader<'a> {
    section: &'a Section,
    label: String,
    asked: Vec<&'static str>,
    problems: &'a mut Vec<Problem>,
}

impl<'a> SectionReader<'a> {
    /// `label` names the section in messages, e.g. `agent 'main'` or `rule #2`.
    pub fn new(section: &'a Section, label: String, problems: &'a mut Vec<Problem>) -> Self {
        SectionReader {
            section,
            label,
            asked: Vec::new(),
            problems,
        }
    }

    /// The line an option was set on, or the section's line if it is not set.
    pub fn line_of(&self, name: &str) -> u32 {
        self.section.get(name).map_or(self.section.line, |o| o.line)
    }

    /// Records a problem on the line of `name` (or of the section).
    pub fn problem(&mut self, name: &str, message: String) {
        let line = self.line_of(name);
        self.problems.push(Problem { line, message });
    }

    /// The raw text of a scalar option. A list where a scalar is expected is an error.
    pub fn raw(&mut self, name: &'static str) -> Option<&'a str> {
        self.asked.push(name);
        let opt = self.section.get(name)?;
        match &opt.value {
            Value::Single(v) => Some(v),
            Value::List(_) => {
                self.problems.push(Problem {
                    line: opt.line,
                    message: format!(
                        "option '{name}' in {} takes one value: use 'option {name}', not 'list {name}'",
                        self.label
                    ),
                });
                None
            }
        }
    }

    /// A scalar option parsed by `parse`; `None` if unset or invalid (invalid is recorded).
    pub fn value<T>(
        &mut self,
        name: &'static str,
        parse: impl Fn(&str) -> Result<T, Invalid>,
    ) -> Option<T> {
        let text = self.raw(name)?;
        match parse(text) {
            Ok(v) => Some(v),
            Err(why) => {
                let message = format!("option '{name}' in {}: {why}", self.label);
                self.problem(name, message);
                None
            }
        }
    }

    /// A scalar option with a default for when it is unset (or invalid, which is recorded).
    pub fn or<T>(
        &mut self,
        name: &'static str,
        default: T,
        parse: impl Fn(&str) -> Result<T, Invalid>,
    ) -> T {
        self.value(name, parse).unwrap_or(default)
    }

    /// A list option, each item parsed by `parse`. A plain `option` counts as a one-item list,
    /// as OpenWrt's shell helpers treat it. `None` if unset.
    pub fn list<T>(
        &mut self,
        name: &'static str,
        parse: impl Fn(&str) -> Result<T, Invalid>,
    ) -> Option<Vec<T>> {
        self.asked.push(name);
        let opt = self.section.get(name)?;
        let items: Vec<&str> = match &opt.value {
            Value::Single(v) => vec![v.as_str()],
            Value::List(items) => items.iter().map(String::as_str).collect(),
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            match parse(item) {
                Ok(v) => out.push(v),
                Err(why) => self.problems.push(Problem {
                    line: opt.line,
                    message: format!("list '{name}' in {}: {why}", self.label),
                }),
            }
        }
        Some(out)
    }

    /// Reports every option that nobody asked for, suggesting the closest known name.
    pub fn finish(self) {
        for opt in &self.section.options {
            if self.asked.contains(&opt.name.as_str()) {
                continue;
            }
            let hint = match closest(&opt.name, self.asked.iter().copied()) {
                Some(near) => format!(" (did you mean '{near}'?)"),
                None => format!(" (known options: {})", self.asked.join(", ")),
            };
            self.problems.push(Problem {
                line: opt.line,
                message: format!("unknown option '{}' in {}{hint}", opt.name, self.label),
            });
        }
    }
}

/// The candidate nearest to `word` by edit distance, if it is near enough to be a typo.
pub fn closest<'c>(word: &str, candidates: impl Iterator<Item = &'c str>) -> Option<&'c str> {
    let limit = (word.chars().count() / 3).max(1) + 1;
    candidates
        .map(|c| (edit_distance(word, c), c))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Levenshtein distance, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::uci::parse;

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("socket", "socket"), 0);
        assert_eq!(edit_distance("sokcet", "socket"), 2);
        assert_eq!(edit_distance("log_levl", "log_level"), 1);
    }

    #[test]
    fn closest_suggests_only_plausible_names() {
        let known = ["socket", "socket_mode", "log_level"];
        assert_eq!(closest("sockt", known.iter().copied()), Some("socket"));
        assert_eq!(
            closest("loglevel", known.iter().copied()),
            Some("log_level")
        );
        assert_eq!(closest("zzz", known.iter().copied()), None);
    }

    #[test]
    fn reader_types_lists_and_unknowns() {
        let (pkg, errors) = parse(
            b"config agent 'main'\n option n 5\n list l a\n list l b\n option one x\n list two y\n option bad z\n option sokcet /x\n",
        );
        assert!(errors.is_empty());
        let mut problems = Vec::new();
        let mut r = SectionReader::new(&pkg.sections[0], "agent 'main'".into(), &mut problems);
        assert_eq!(
            r.value("n", |s| s
                .parse::<u32>()
                .map_err(|_| Invalid::Uid(s.into()))),
            Some(5)
        );
        assert_eq!(
            r.list("l", |s| Ok(s.to_string())),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(r.list("one", |s| Ok(s.to_string())), Some(vec!["x".into()]));
        assert_eq!(r.raw("two"), None);
        assert_eq!(
            r.or("bad", 7u32, |s| s.parse().map_err(|_| Invalid::Number {
                text: s.into(),
                min: 0,
                max: 9
            })),
            7
        );
        assert_eq!(r.or("missing", 9u32, |_| Err(Invalid::LineBreak)), 9);
        r.raw("socket");
        r.finish();
        let got: Vec<(u32, &str)> = problems
            .iter()
            .map(|p| (p.line, p.message.as_str()))
            .collect();
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[0].0, 6);
        assert!(got[0].1.contains("not 'list two'"), "{}", got[0].1);
        assert_eq!(got[1].0, 7);
        assert!(got[1]
            .1
            .contains("option 'bad' in agent 'main': 'z' is not a whole number"));
        assert_eq!(got[2].0, 8);
        assert!(got[2].1.contains("did you mean 'socket'?"), "{}", got[2].1);
    }
}
