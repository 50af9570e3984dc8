//! A contact's engagement ledger and its decay sums, owned natively: the same arithmetic as
//! `workers/scoring/engagement.py` (`EngagementScorer`), which stays the reference. Floats are
//! summed in the reference's order and powers come from the same libm `pow`, so both give the
//! same bits (tests/unit/test_native_ledger.py checks it on random histories).

use std::sync::Arc;

use smallvec::SmallVec;

use crate::shared::Columns;
use crate::small::{Name, SmallStr};

pub const MAX_LEDGER: usize = 500;
pub const MAX_EXPONENT: f64 = 64.0;

/// One scored interaction: rule id, hundredths of a point, epoch seconds. Its event id is kept
/// beside it (`shared::Columns`): the arithmetic never reads it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Entry {
    pub rule: Name,
    pub cents: i64,
    pub at: f64,
}

/// Per rule id (in the order first met), the sum over its entries of
/// 2 ** ((at - anchor) / period); the ledger's only for this period and `size` entries.
#[derive(Clone, Debug, PartialEq)]
pub struct Sums {
    pub period: f64,
    pub anchor: f64,
    pub size: usize,
    // plain data, held inline up to `SUMS` rules: a copy is a `memcpy`, no allocation
    pub sums: SmallVec<[(Name, f64); SUMS]>,
}

impl Sums {
    fn add(&mut self, rule: Name, term: f64) {
        match self.sums.iter_mut().find(|(id, _)| *id == rule) {
            Some((_, sum)) => *sum += term,
            None => self.sums.push((rule, 0.0 + term)),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decay {
    Never,
    HalfLife,
    Linear,
    Expire,
}

impl Decay {
    pub fn parse(kind: &str) -> Option<Decay> {
        match kind {
            "none" => Some(Decay::Never),
            "half_life" => Some(Decay::HalfLife),
            "linear" => Some(Decay::Linear),
            "expire" => Some(Decay::Expire),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Rule {
    pub id: Arc<str>,
    pub name: Name, // `id`, as entries hold it
    pub kind: String,
    pub cents: i64,
    pub source: Option<String>,
    pub form: Option<String>,
    pub product_line: Option<String>,
    pub cap_count: Option<i64>,
    pub cap_window: f64,
}

/// What happened, as the engagement rules see it.
pub struct Interaction<'a> {
    pub event_id: &'a str,
    pub kind: &'a str,
    pub at: f64,
    pub source: Option<&'a str>,
    pub form: Option<&'a str>,
    pub product_line: Option<&'a str>,
}

fn same(want: &Option<String>, got: Option<&str>) -> bool {
    match want {
        None => true,
        Some(w) => got == Some(w.as_str()),
    }
}

impl Rule {
    fn matches(&self, i: &Interaction) -> bool {
        i.kind == self.kind
            && same(&self.source, i.source)
            && same(&self.form, i.form)
            && same(&self.product_line, i.product_line)
    }
}

/// `base ** exponent` as CPython computes a float power: libm's `pow`, with the base hidden
/// from the optimiser (it would turn `pow(2, x)` into `exp2(x)`, which may differ in the last
/// bit).
#[inline]
pub fn power(base: f64, exponent: f64) -> f64 {
    std::hint::black_box(base).powf(exponent)
}

/// Python's `round(x)` of a float: halves go to the even integer.
#[inline]
pub fn round_half_even(x: f64) -> i64 {
    x.round_ties_even() as i64
}

pub struct Rules {
    pub rules: Vec<Rule>,
    pub by_kind: Vec<(String, Vec<usize>)>,
    pub points: Vec<(Arc<str>, i64)>, // the last rule of an id wins, as in a dict
    pub order: Vec<Arc<str>>,
    pub decay: Decay,
    pub period: f64,
    pub max_cents: Option<i64>,
    pub horizon: f64,
    pub zero_after: f64,
}

/// A breakdown: (rule id, or None for the total cap's line; hundredths).
/// Inline up to `LINES` lines: a re-score makes its lines without an allocation.
pub type Lines = SmallVec<[(Option<Arc<str>>, i64); LINES]>;
pub const LINES: usize = 8;
pub const SUMS: usize = 8;
/// The entries one interaction adds (one a matching rule): inline, as few rules match one.
pub type Added = SmallVec<[Entry; 4]>;

/// A ledger change: what `record` makes of a ledger.
pub enum Recorded {
    /// Nothing added: the same entries.
    Same,
    /// The ledger from its `from`th entry on (the size limit dropped those before), then
    /// `added`: the usual case, an interaction newer than the ledger.
    Appended { added: Added, from: usize },
    /// A late interaction, in its place: the new entries with their event ids, those added
    /// and those dropped.
    Rebuilt {
        columns: Columns,
        added: Added,
        dropped: Vec<Entry>,
    },
}

impl Recorded {
    /// The decay sums after the change, moved from `sums` (those of `ledger`, the ledger
    /// before it); None when they are better made anew.
    pub fn moved_sums(&self, ledger: &[Entry], sums: &Sums) -> Option<Sums> {
        match self {
            Recorded::Same => Some(sums.clone()),
            Recorded::Appended { added, from } => {
                let size = ledger.len() - from + added.len();
                moved(sums, added, &ledger[..*from], size)
            }
            Recorded::Rebuilt {
                columns,
                added,
                dropped,
            } => moved(sums, added, dropped, columns.entries.len()),
        }
    }
}

impl Rules {
    pub fn new(rules: Vec<Rule>, decay: Decay, period: f64, max_cents: Option<i64>) -> Rules {
        let mut by_kind: Vec<(String, Vec<usize>)> = Vec::new();
        let mut points: Vec<(Arc<str>, i64)> = Vec::new();
        for (n, rule) in rules.iter().enumerate() {
            match by_kind.iter_mut().find(|(k, _)| *k == rule.kind) {
                Some((_, list)) => list.push(n),
                None => by_kind.push((rule.kind.clone(), vec![n])),
            }
            match points
                .iter_mut()
                .find(|(id, _)| id.as_ref() == rule.id.as_ref())
            {
                Some((_, p)) => *p = rule.cents,
                None => points.push((rule.id.clone(), rule.cents)),
            }
        }
        let zero_after = match decay {
            Decay::Linear | Decay::Expire => period,
            Decay::HalfLife => period * 20.0,
            Decay::Never => f64::INFINITY,
        };
        let horizon = rules
            .iter()
            .map(|r| r.cap_window)
            .fold(zero_after, f64::max);
        let order = rules.iter().map(|r| r.id.clone()).collect();
        Rules {
            rules,
            by_kind,
            points,
            order,
            decay,
            period,
            max_cents,
            horizon,
            zero_after,
        }
    }

    pub fn points_of(&self, rule: &str) -> Option<i64> {
        self.points
            .iter()
            .find(|(id, _)| id.as_ref() == rule)
            .map(|(_, p)| *p)
    }

    /// Whether `sums` are those of a ledger of `size` entries, for this half-life.
    pub fn sums_of<'a>(&self, sums: &'a Option<Sums>, size: usize) -> Option<&'a Sums> {
        match sums {
            Some(s)
                if s.size == size && s.period == self.period && self.decay == Decay::HalfLife =>
            {
                Some(s)
            }
            _ => None,
        }
    }

    /// What recording `i` makes of `ledger` (`events`: its entries' event ids).
    pub fn record(&self, ledger: &[Entry], events: &[SmallStr], i: &Interaction) -> Recorded {
        let at = i.at;
        if let Some(last) = ledger.last() {
            if last.at >= at && recorded(ledger, events, i.event_id, at) {
                return Recorded::Same;
            }
        }
        let mut added: Added = SmallVec::new();
        if let Some((_, rules)) = self.by_kind.iter().find(|(k, _)| k == i.kind) {
            for &n in rules {
                let rule = &self.rules[n];
                if !rule.matches(i) || capped(ledger, rule, at) {
                    continue;
                }
                added.push(Entry {
                    rule: rule.name,
                    cents: rule.cents,
                    at,
                });
            }
        }
        if added.is_empty() {
            return Recorded::Same;
        }
        if ledger.last().map_or(true, |last| last.at <= at) {
            let over = (ledger.len() + added.len()) as i64 - MAX_LEDGER as i64;
            let from = (over.max(0) as usize).min(ledger.len());
            return Recorded::Appended { added, from };
        }
        let mut entries = ledger.to_vec(); // a late event: in its place
        let mut ids = events.to_vec();
        let place = entries.partition_point(|e| e.at <= at);
        entries.splice(place..place, added.iter().copied());
        let event = SmallStr::new(i.event_id);
        ids.splice(place..place, added.iter().map(|_| event.clone()));
        if entries.len() <= MAX_LEDGER {
            return Recorded::Rebuilt {
                columns: Columns {
                    entries,
                    events: ids,
                },
                added,
                dropped: Vec::new(),
            };
        }
        let cut = entries.len() - MAX_LEDGER;
        let kept = entries.split_off(cut);
        let kept_ids = ids.split_off(cut);
        Recorded::Rebuilt {
            columns: Columns {
                entries: kept,
                events: kept_ids,
            },
            added,
            dropped: entries,
        }
    }

    /// The decay sums of `ledger`, anchored at its newest entry (None but for half-life).
    pub fn decay_sums(&self, ledger: &[Entry]) -> Option<Sums> {
        if self.decay != Decay::HalfLife {
            return None;
        }
        let anchor = ledger.last().map_or(0.0, |e| e.at);
        let mut sums = Sums {
            period: self.period,
            anchor,
            size: ledger.len(),
            sums: SmallVec::new(),
        };
        for e in ledger {
            sums.add(e.rule, power(2.0, (e.at - anchor) / self.period));
        }
        Some(sums)
    }
}

/// Whether the event is in the ledger already: only the entries at its time are looked at.
fn recorded(ledger: &[Entry], events: &[SmallStr], event_id: &str, at: f64) -> bool {
    ledger
        .iter()
        .zip(events)
        .rev()
        .take_while(|(e, _)| e.at >= at)
        .any(|(e, id)| e.at == at && id.as_str() == event_id)
}

/// Whether `rule`'s cap is full at `at`: its entries in (at - window, at], newest back.
fn capped(entries: &[Entry], rule: &Rule, at: f64) -> bool {
    let Some(limit) = rule.cap_count else {
        return false;
    };
    if limit <= 0 {
        return true;
    }
    let (lo, mut used) = (at - rule.cap_window, 0i64);
    for e in entries.iter().rev() {
        if e.at <= lo {
            break;
        }
        if e.at <= at && e.rule == rule.name {
            used += 1;
            if used >= limit {
                return true;
            }
        }
    }
    false
}

/// `sums` with the terms of `added` in and of `dropped` out; None when better made anew.
fn moved(sums: &Sums, added: &[Entry], dropped: &[Entry], size: usize) -> Option<Sums> {
    if added.is_empty() && dropped.is_empty() {
        return Some(sums.clone());
    }
    let (anchor, period) = (sums.anchor, sums.period);
    if sums.size == 0
        || added
            .iter()
            .any(|e| (e.at - anchor) / period > MAX_EXPONENT)
    {
        return None;
    }
    let mut new = Sums {
        period,
        anchor,
        size,
        sums: sums.sums.clone(),
    };
    for e in added {
        new.add(e.rule, power(2.0, (e.at - anchor) / period));
    }
    for e in dropped {
        new.add(e.rule, -power(2.0, (e.at - anchor) / period));
    }
    Some(new)
}
