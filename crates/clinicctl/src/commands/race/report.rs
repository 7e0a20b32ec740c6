//! The outcome of one race: every actor's answer, counts per outcome, the e-mails, the verdict.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{bench::race::Outcomes, failure::Failure, output, table};

/// What one actor did and was told.
#[derive(Debug, Serialize)]
pub struct ActorOutcome {
    pub actor: usize,
    /// Who acted (an e-mail).
    pub who: String,
    /// `approve`, `reject` or `reserve`.
    pub action: &'static str,
    pub won: bool,
    pub took_ms: f64,
    /// The loser's error: code, reason, metadata, retry delay.
    pub error: Option<Failure>,
}

impl ActorOutcome {
    /// `WON`, or the loser's reason (its code when it has none).
    pub fn outcome(&self) -> String {
        match &self.error {
            None => "WON".to_owned(),
            Some(f) => f.reason.clone().unwrap_or_else(|| f.code.to_owned()),
        }
    }
}

/// One e-mail the notifier recorded for the race's target.
#[derive(Debug, Serialize)]
pub struct EmailSeen {
    pub delivery_id: String,
    pub event_type: String,
    pub recipient: String,
    pub status: String,
}

#[derive(Debug, Serialize)]
pub struct RaceReport {
    /// `registration` or `appointment`.
    pub race: &'static str,
    /// The raced request or appointment.
    pub target: String,
    pub actors: Vec<ActorOutcome>,
    /// Actor index of each winner (the rule: exactly one).
    pub winners: Vec<usize>,
    /// `WON` or a loser's reason → how many actors.
    pub outcomes: BTreeMap<String, usize>,
    /// What the target looks like after the race (status, version, decided_by / patient_id).
    pub after: serde_json::Value,
    pub emails: Vec<EmailSeen>,
    pub passed: bool,
    /// Why it did not pass.
    pub problems: Vec<String>,
}

/// Each actor's outcome from a barrier round, in actor order; `who` and `action` name actor `i`.
pub fn actors(
    round: Outcomes<()>,
    who: impl Fn(usize) -> String,
    action: impl Fn(usize) -> &'static str,
) -> Vec<ActorOutcome> {
    round
        .into_iter()
        .enumerate()
        .map(|(i, (_, took, res))| ActorOutcome {
            actor: i,
            who: who(i),
            action: action(i),
            won: res.is_ok(),
            took_ms: took.as_secs_f64() * 1e3,
            error: res.err().map(|s| Failure::from_status(&s)),
        })
        .collect()
}

/// The race target as read back after the race: the named fields of `stored` (proto field names).
pub fn after<M: output::Shown>(stored: &M, fields: &[&str]) -> serde_json::Value {
    let stored = output::to_json(stored);
    fields
        .iter()
        .map(|f| ((*f).to_owned(), stored[*f].clone()))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

impl RaceReport {
    /// The report of one race, judged against the reasons a loser may be told (`expected`).
    pub fn judged(
        race: &'static str,
        target: String,
        actors: Vec<ActorOutcome>,
        after: serde_json::Value,
        emails: Vec<EmailSeen>,
        expected: &[&str],
    ) -> RaceReport {
        let mut report = RaceReport {
            race,
            target,
            actors,
            winners: Vec::new(),
            outcomes: BTreeMap::new(),
            after,
            emails,
            passed: false,
            problems: Vec::new(),
        };
        report.judge(expected);
        report
    }

    /// Counts the outcomes and judges: one winner, every loser told an `expected` reason, one e-mail.
    fn judge(&mut self, expected: &[&str]) {
        self.winners = self
            .actors
            .iter()
            .filter(|a| a.won)
            .map(|a| a.actor)
            .collect();
        self.outcomes.clear();
        for a in &self.actors {
            *self.outcomes.entry(a.outcome()).or_default() += 1;
        }
        if self.winners.len() != 1 {
            self.problems
                .push(format!("{} winners, want exactly 1", self.winners.len()));
        }
        for (outcome, n) in &self.outcomes {
            if outcome != "WON" && !expected.contains(&outcome.as_str()) {
                self.problems.push(format!(
                    "{n} losers told {outcome}, want one of {expected:?}"
                ));
            }
        }
        if self.emails.len() != 1 {
            self.problems
                .push(format!("{} e-mails, want exactly 1", self.emails.len()));
        }
        self.passed = self.problems.is_empty();
    }

    pub fn print(&self, json: bool) -> std::io::Result<()> {
        if json {
            let value = serde_json::to_value(self).expect("a report serializes");
            return output::emit(&format!("{value:#}\n"));
        }
        output::emit(&self.render())
    }

    fn render(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .actors
            .iter()
            .map(|a| {
                let told = a.error.as_ref().map_or_else(String::new, told);
                vec![
                    a.actor.to_string(),
                    a.who.clone(),
                    a.action.to_owned(),
                    format!("{:.1}", a.took_ms),
                    a.outcome(),
                    told,
                ]
            })
            .collect();
        let mut out = format!("{} race on {}\n\n", self.race, self.target);
        out += &table::render(&["actor", "who", "action", "ms", "outcome", "told"], &rows);
        out += "\noutcomes:\n";
        for (outcome, n) in &self.outcomes {
            out += &format!("  {outcome:<30} {n}\n");
        }
        out += &format!("after the race: {}\n", self.after);
        out += &format!("e-mails: {}\n", self.emails.len());
        for e in &self.emails {
            out += &format!(
                "  {}  {}  to {}  ({})\n",
                e.event_type, e.status, e.recipient, e.delivery_id
            );
        }
        if self.passed {
            out += "PASS: exactly one winner and exactly one e-mail\n";
        } else {
            for p in &self.problems {
                out += &format!("FAIL: {p}\n");
            }
        }
        out
    }
}

/// A loser's answer on one line: code, metadata, retry delay.
fn told(f: &Failure) -> String {
    let mut parts = vec![f.code.to_owned()];
    parts.extend(f.metadata.iter().map(|(k, v)| format!("{k}={v}")));
    if let Some(ms) = f.retry_delay_ms {
        parts.push(format!("retry after {ms} ms"));
    }
    parts.join(" ")
}
