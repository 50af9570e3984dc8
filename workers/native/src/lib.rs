//! dealstream's native core, for Python (PyO3). `Ledger` is a contact's engagement ledger with
//! its decay sums, immutable like the reference's lists; `EngagementCore` is the engagement
//! rules' arithmetic over it (workers/scoring/engagement.py, `EngagementScorer`, is the
//! reference: same results, bit for bit).

mod ledger;

use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

use ledger::{Decay, Entry, Interaction, Rule, Rules, Sums};

const CAP_ID: &str = "engagement_cap";

#[pyclass(frozen, module = "dealstream_core")]
pub struct Ledger {
    entries: Vec<Entry>,
    sums: Option<Sums>,
}

/// Decay sums from the tables' form: (period, anchor, size, {rule id: sum}), any sequence.
fn sums_from(sums: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Sums>> {
    let Some(sums) = sums.filter(|s| !s.is_none()) else {
        return Ok(None);
    };
    let by_rule = sums.get_item(3)?;
    let by_rule = by_rule.downcast::<PyDict>()?;
    let mut out = Vec::with_capacity(by_rule.len());
    for (rule, sum) in by_rule.iter() {
        out.push((Arc::from(rule.extract::<&str>()?), sum.extract::<f64>()?));
    }
    Ok(Some(Sums {
        period: sums.get_item(0)?.extract()?,
        anchor: sums.get_item(1)?.extract()?,
        size: sums.get_item(2)?.extract()?,
        sums: out,
    }))
}

/// Entries from the tables' form: (rule id, hundredths, epoch seconds, event id) sequences.
fn entries_from(entries: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<Entry>> {
    let Some(entries) = entries.filter(|e| !e.is_none()) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(entries.len().unwrap_or(0));
    for entry in entries.try_iter()? {
        let entry = entry?;
        out.push(Entry {
            rule: Arc::from(entry.get_item(0)?.extract::<&str>()?),
            cents: entry.get_item(1)?.extract()?,
            at: entry.get_item(2)?.extract()?,
            event: Arc::from(entry.get_item(3)?.extract::<&str>()?),
        });
    }
    Ok(out)
}

#[pymethods]
impl Ledger {
    /// From the tables' form: entries oldest first, and the sums kept with them (or None).
    #[new]
    #[pyo3(signature = (entries = None, sums = None))]
    fn new(entries: Option<&Bound<'_, PyAny>>, sums: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        Ok(Ledger {
            entries: entries_from(entries)?,
            sums: sums_from(sums)?,
        })
    }

    /// The ledger as a table keeps it: {"entries": [...], "decay": [period, anchor, size,
    /// {rule id: sum}] or None} (msgspec's `enc_hook` asks for it at the commit).
    fn table_form<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let form = PyDict::new(py);
        form.set_item("entries", self.entries(py)?)?;
        form.set_item("decay", self.sums(py)?)?;
        Ok(form)
    }

    /// The entries in the tables' form, oldest first.
    fn entries<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let items = self.entries.iter().map(|e| {
            (
                PyString::new(py, &e.rule),
                e.cents,
                e.at,
                PyString::new(py, &e.event),
            )
        });
        PyList::new(
            py,
            items
                .map(|t| t.into_pyobject(py))
                .collect::<PyResult<Vec<_>>>()?,
        )
    }

    /// The decay sums in the tables' form ([period, anchor, size, {rule id: sum}]), or None.
    fn sums<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        let Some(s) = &self.sums else { return Ok(None) };
        let by_rule = PyDict::new(py);
        for (rule, sum) in &s.sums {
            by_rule.set_item(rule.as_ref(), *sum)?;
        }
        let form = (s.period, s.anchor, s.size, by_rule).into_pyobject(py)?;
        Ok(Some(PyList::new(py, form.iter())?))
    }

    /// The newest entry's event id (None when empty).
    fn last_event(&self) -> Option<&str> {
        self.entries.last().map(|e| e.event.as_ref())
    }

    fn __len__(&self) -> usize {
        self.entries.len()
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        match other.downcast::<Ledger>() {
            Ok(o) => {
                let o = o.get();
                o.entries == self.entries && o.sums == self.sums
            }
            Err(_) => false,
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "Ledger({} entries, sums={})",
            self.entries.len(),
            self.sums.is_some()
        )
    }
}

/// The engagement rules' arithmetic over `Ledger`s.
#[pyclass(frozen, module = "dealstream_core")]
pub struct EngagementCore {
    rules: Rules,
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

    fn ledger(&self, entries: Vec<Entry>, sums: Option<Sums>) -> Ledger {
        Ledger { entries, sums }
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
        let l = ledger.get();
        let i = Interaction {
            event_id,
            kind,
            at,
            source,
            form,
            product_line,
        };
        let (entries, sums, _) = self.rules.record_summed(&l.entries, &l.sums, &i);
        self.ledger(entries, sums)
    }

    /// (rule id, hundredths) per rule after decay, in the rules' order, then the total cap as
    /// a negative line; and their sum.
    fn contributions<'py>(
        &self,
        py: Python<'py>,
        ledger: &Bound<'py, Ledger>,
        now: f64,
    ) -> PyResult<(Bound<'py, PyList>, i64)> {
        let l = ledger.get();
        let (lines, total) = self.rules.contributions(&l.entries, &l.sums, now);
        let out = PyList::empty(py);
        for (rule, cents) in &lines {
            out.append((self.id_of(py, rule), *cents))?;
        }
        Ok((out, total))
    }

    /// The ledger without entries that can no longer count or cap anything, with its sums
    /// (made anew when anything was dropped or they were not the ledger's).
    fn prune(&self, ledger: &Bound<'_, Ledger>, now: f64) -> Py<Ledger> {
        let py = ledger.py();
        let l = ledger.get();
        match self.rules.prune(&l.entries, now) {
            None if self.rules.sums_of(&l.sums, l.entries.len()).is_some() => {
                ledger.clone().unbind()
            }
            None => {
                let sums = self.rules.decay_sums(&l.entries);
                Py::new(py, self.ledger(l.entries.clone(), sums)).expect("a ledger")
            }
            Some(kept) => {
                let sums = self.rules.decay_sums(&kept);
                Py::new(py, self.ledger(kept, sums)).expect("a ledger")
            }
        }
    }

    /// (points at the anchor, rules counted, anchor) when the sums tell the exact points as one
    /// power of time and decay can only lower them; None otherwise.
    fn decay_total(&self, ledger: &Bound<'_, Ledger>, now: f64) -> Option<(f64, i64, f64)> {
        let l = ledger.get();
        self.rules.decay_total(&l.entries, &l.sums, now)
    }

    /// When the engagement score next needs recomputing because of time alone.
    fn next_change(&self, ledger: &Bound<'_, Ledger>, now: f64, interval: f64) -> Option<f64> {
        self.rules.next_change(&ledger.get().entries, now, interval)
    }
}

#[pymodule]
fn dealstream_core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Ledger>()?;
    m.add_class::<EngagementCore>()?;
    m.add("MAX_LEDGER", ledger::MAX_LEDGER)?;
    Ok(())
}
