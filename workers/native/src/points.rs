//! A ledger's points at a time (after decay and the total cap), what pruning keeps, and when
//! time alone next changes them: the rest of `EngagementScorer` (workers/scoring/engagement.py).

use smallvec::SmallVec;

use crate::ledger::{power, round_half_even, Decay, Entry, Lines, Rules, Sums};

/// What pruning keeps of a ledger.
pub enum Pruned {
    /// Nothing dropped.
    Whole,
    /// The entries from this one on.
    From(usize),
    /// The entries at these indexes (entries of any time were dropped: a ledger not oldest
    /// first).
    Kept(Vec<usize>),
}

impl Rules {
    /// (points at the anchor, rules counted, anchor) when the sums tell the ledger's exact
    /// points as one power of time and decay can only lower them.
    pub fn decay_total(
        &self,
        ledger: &[Entry],
        sums: &Option<Sums>,
        now: f64,
    ) -> Option<(f64, i64, f64)> {
        let sums = self.sums_of(sums, ledger.len())?;
        if ledger.last().is_some_and(|e| e.at > now) {
            return None;
        }
        let (mut weight, mut rules) = (0.0f64, 0i64);
        for (rule, summed) in &sums.sums {
            let Some(points) = self.points_of(rule) else {
                continue;
            };
            if points < 0 {
                return None;
            }
            if *summed > 0.0 {
                weight += points as f64 * summed;
            }
            rules += 1;
        }
        Some((weight, rules, sums.anchor))
    }

    fn factor(&self, age: f64) -> f64 {
        if age <= 0.0 || self.decay == Decay::Never {
            return 1.0;
        }
        match self.decay {
            Decay::HalfLife => power(0.5, age / self.period),
            Decay::Linear => f64::max(0.0, 1.0 - age / self.period),
            _ => {
                if age < self.period {
                    1.0
                } else {
                    0.0
                }
            }
        }
    }

    /// Per rule, its points after decay; then (rule id, hundredths) in the rules' order and the
    /// total cap as a negative line (`None` for its id), and their sum.
    pub fn contributions(&self, ledger: &[Entry], sums: &Option<Sums>, now: f64) -> (Lines, i64) {
        let fresh = ledger.last().map_or(true, |e| e.at <= now);
        let mut per_rule: SmallVec<[(&str, f64); 16]> = SmallVec::new();
        match self.sums_of(sums, ledger.len()) {
            Some(s) if fresh => {
                let scale = power(0.5, (now - s.anchor) / s.period);
                for (rule, summed) in &s.sums {
                    if let Some(points) = self.points_of(rule) {
                        // the sums hold each id once: no lookup before the push
                        per_rule.push((rule.as_str(), points as f64 * summed * scale));
                    }
                }
            }
            _ => {
                for e in ledger {
                    let Some(points) = self.points_of(&e.rule) else {
                        continue;
                    };
                    let value = if self.decay == Decay::HalfLife {
                        let age = now - e.at;
                        if age > 0.0 {
                            points as f64 * power(0.5, age / self.period)
                        } else {
                            points as f64 * 1.0
                        }
                    } else {
                        points as f64 * self.factor(now - e.at)
                    };
                    let so_far = get(&per_rule, &e.rule).unwrap_or(0.0);
                    set(&mut per_rule, &e.rule, so_far + value);
                }
            }
        }
        let mut out: Lines = SmallVec::new();
        let mut total = 0i64;
        for rule in &self.order {
            if let Some(value) = get(&per_rule, rule) {
                let cents = round_half_even(value);
                if cents != 0 {
                    out.push((Some(rule.clone()), cents));
                    total += cents;
                }
            }
        }
        if let Some(max) = self.max_cents {
            if total > max {
                out.push((None, max - total));
                total = max;
            }
        }
        (out, total)
    }

    /// The ledger without the entries that can no longer count or cap anything.
    #[allow(clippy::neg_cmp_op_on_partial_ord)] // `not a < b`, as the reference says it
    pub fn prune(&self, ledger: &[Entry], now: f64) -> Pruned {
        let keep = |e: &Entry| now - e.at < self.horizon;
        match ledger.first() {
            Some(first) if !keep(first) => {
                let from = ledger.iter().position(keep).unwrap_or(ledger.len());
                if ledger[from..].iter().all(keep) {
                    Pruned::From(from) // the oldest entries (a ledger is oldest first)
                } else {
                    Pruned::Kept((0..ledger.len()).filter(|&n| keep(&ledger[n])).collect())
                }
            }
            _ => Pruned::Whole, // the common case: nothing to drop
        }
    }

    /// When the engagement score next needs recomputing because of time alone.
    #[allow(clippy::neg_cmp_op_on_partial_ord)] // `not a < b`, as the reference says it
    pub fn next_change(&self, ledger: &[Entry], now: f64, interval: f64) -> Option<f64> {
        let newest = ledger.last()?.at;
        match self.decay {
            Decay::Never => None,
            Decay::Expire => ledger
                .iter()
                .map(|e| e.at + self.period)
                .filter(|end| *end > now)
                .fold(None, |m: Option<f64>, end| {
                    Some(m.map_or(end, |m| if end < m { end } else { m }))
                }),
            _ => {
                if !(now - newest < self.zero_after) {
                    return None;
                }
                if self.decay == Decay::Linear {
                    let (a, b) = (now + interval, newest + self.period);
                    return Some(if b < a { b } else { a });
                }
                Some(now + interval)
            }
        }
    }
}

fn get(per_rule: &[(&str, f64)], rule: &str) -> Option<f64> {
    per_rule.iter().find(|(id, _)| *id == rule).map(|(_, v)| *v)
}

fn set<'a>(per_rule: &mut SmallVec<[(&'a str, f64); 16]>, rule: &'a str, value: f64) {
    match per_rule.iter_mut().find(|(id, _)| *id == rule) {
        Some((_, v)) => *v = value,
        None => per_rule.push((rule, value)),
    }
}
