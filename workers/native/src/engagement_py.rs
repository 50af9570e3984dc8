//! The engagement rules' arithmetic over native ledgers (workers/scoring/engagement.py,
//! `EngagementScorer`, is the reference).

use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};

use crate::ledger::{Decay, Interaction, Lines, Recorded, Rule, Rules};
use crate::points::Pruned;
use crate::shared::{Columns, Entries};
use crate::small::{Name, SmallStr};
use crate::Ledger;

const CAP_ID: &str = "engagement_cap";

/// The engagement rules' arithmetic over `Ledger`s.
#[pyclass(frozen, module = "dealstream_core")]
pub struct EngagementCore {
    pub(crate) rules: Rules,
    ids: Vec<(Arc<str>, Py<PyString>)>, // each rule id once, as a Python string
    cap_id: Py<PyString>,
}

type RuleTuple = (
    String,
    String,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    f64,
);

impl EngagementCore {
    fn id_of<'py>(&self, py: Python<'py>, rule: &Option<Arc<str>>) -> Bound<'py, PyString> {
        match rule {
            None => self.cap_id.bind(py).clone(),
            Some(r) => match self
                .ids
                .iter()
                .find(|(id, _)| Arc::ptr_eq(id, r) || id == r)
            {
                Some((_, s)) => s.bind(py).clone(),
                None => PyString::new(py, r),
            },
        }
    }

    /// The breakdown's lines as Python tuples (rule ids as the rules' own strings), and their
    /// sum.
    pub(crate) fn lines<'py>(
        &self,
        py: Python<'py>,
        ledger: &Ledger,
        now: f64,
    ) -> PyResult<(Bound<'py, PyList>, i64)> {
        let (lines, total) = self.points(ledger, now);
        Ok((self.py_lines(py, &lines)?, total))
    }

    /// The breakdown's lines and their sum, as Rust values.
    pub(crate) fn points(&self, ledger: &Ledger, now: f64) -> (Lines, i64) {
        ledger
            .entries
            .with(|entries| self.rules.contributions(entries, &ledger.sums, now))
    }

    /// `l` with the interaction's points added (a replay adds nothing), and its sums.
    pub(crate) fn recorded(&self, l: &Ledger, i: &Interaction) -> Ledger {
        let rules = &self.rules;
        let (change, moved) = l.entries.with_events(|old, events| {
            let change = rules.record(old, events, i);
            let current = rules.sums_of(&l.sums, old.len());
            let moved = current.and_then(|sums| change.moved_sums(old, sums));
            (change, moved)
        });
        let entries = match change {
            Recorded::Same => l.entries.view(),
            Recorded::Appended { added, from } => {
                l.entries.appended(from, &added, &SmallStr::new(i.event_id))
            }
            Recorded::Rebuilt { columns, .. } => Entries::new(columns),
        };
        let sums = moved.or_else(|| entries.with(|e| rules.decay_sums(e)));
        Ledger { entries, sums }
    }

    /// `lines` as Python tuples (rule ids as the rules' own strings).
    pub(crate) fn py_lines<'py>(
        &self,
        py: Python<'py>,
        lines: &Lines,
    ) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for (rule, cents) in lines {
            out.append((self.id_of(py, rule), *cents))?;
        }
        Ok(out)
    }
}

#[pymethods]
impl EngagementCore {
    /// `rules`: (id, kind, hundredths, source, form, product line, cap count, cap window in
    /// seconds) in the rules' order; `decay`: none, half_life, linear or expire.
    #[new]
    #[pyo3(signature = (rules, decay, period, max_cents))]
    fn new(
        py: Python<'_>,
        rules: Vec<RuleTuple>,
        decay: &str,
        period: f64,
        max_cents: Option<i64>,
    ) -> PyResult<Self> {
        let decay = Decay::parse(decay)
            .ok_or_else(|| PyValueError::new_err(format!("unknown decay kind {decay:?}")))?;
        let rules: Vec<Rule> = rules
            .into_iter()
            .map(
                |(id, kind, cents, source, form, product_line, cap_count, cap_window)| Rule {
                    name: Name::new(&id),
                    id: Arc::from(id),
                    kind,
                    cents,
                    source,
                    form,
                    product_line,
                    cap_count,
                    cap_window,
                },
            )
            .collect();
        let mut ids: Vec<(Arc<str>, Py<PyString>)> = Vec::new();
        for r in &rules {
            if !ids.iter().any(|(id, _)| id == &r.id) {
                ids.push((r.id.clone(), PyString::intern(py, &r.id).unbind()));
            }
        }
        let cap_id = PyString::intern(py, CAP_ID).unbind();
        Ok(EngagementCore {
            rules: Rules::new(rules, decay, period, max_cents),
            ids,
            cap_id,
        })
    }

    /// The ledger with the interaction's points added (a replay adds nothing), and its sums.
    #[pyo3(signature = (ledger, event_id, kind, at, source = None, form = None, product_line = None))]
    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        ledger: &Bound<'_, Ledger>,
        event_id: &str,
        kind: &str,
        at: f64,
        source: Option<&str>,
        form: Option<&str>,
        product_line: Option<&str>,
    ) -> Ledger {
        let i = Interaction {
            event_id,
            kind,
            at,
            source,
            form,
            product_line,
        };
        self.recorded(ledger.get(), &i)
    }

    /// (rule id, hundredths) per rule after decay, in the rules' order, then the total cap as
    /// a negative line; and their sum.
    fn contributions<'py>(
        &self,
        py: Python<'py>,
        ledger: &Bound<'py, Ledger>,
        now: f64,
    ) -> PyResult<(Bound<'py, PyList>, i64)> {
        self.lines(py, ledger.get(), now)
    }

    /// The ledger without entries that can no longer count or cap anything, with its sums
    /// (made anew when anything was dropped or they were not the ledger's).
    fn prune<'py>(&self, ledger: &Bound<'py, Ledger>, now: f64) -> PyResult<Bound<'py, Ledger>> {
        pruned(&self.rules, ledger, now)
    }

    /// (points at the anchor, rules counted, anchor) when the sums tell the exact points as one
    /// power of time and decay can only lower them; None otherwise.
    fn decay_total(&self, ledger: &Bound<'_, Ledger>, now: f64) -> Option<(f64, i64, f64)> {
        let l = ledger.get();
        l.entries
            .with(|entries| self.rules.decay_total(entries, &l.sums, now))
    }

    /// When the engagement score next needs recomputing because of time alone.
    fn next_change(&self, ledger: &Bound<'_, Ledger>, now: f64, interval: f64) -> Option<f64> {
        let rules = &self.rules;
        ledger
            .get()
            .entries
            .with(|entries| rules.next_change(entries, now, interval))
    }
}

/// The ledger without entries that can no longer count or cap anything, with its sums (made
/// anew when anything was dropped or they were not the ledger's): the same object when
/// nothing changes.
pub fn pruned<'py>(
    rules: &Rules,
    ledger: &Bound<'py, Ledger>,
    now: f64,
) -> PyResult<Bound<'py, Ledger>> {
    let l = ledger.get();
    let (kept, sums) = l
        .entries
        .with_events(|entries, events| match rules.prune(entries, now) {
            Pruned::Whole if rules.sums_of(&l.sums, entries.len()).is_some() => (None, None),
            Pruned::Whole => (Some(l.entries.view()), rules.decay_sums(entries)),
            Pruned::From(from) => (
                Some(l.entries.suffix(from)),
                rules.decay_sums(&entries[from..]),
            ),
            Pruned::Kept(kept) => {
                let columns = Columns {
                    entries: kept.iter().map(|&n| entries[n]).collect(),
                    events: kept.iter().map(|&n| events[n].clone()).collect(),
                };
                let sums = rules.decay_sums(&columns.entries);
                (Some(Entries::new(columns)), sums)
            }
        });
    match kept {
        None => Ok(ledger.clone()),
        Some(entries) => Bound::new(ledger.py(), Ledger { entries, sums }),
    }
}
