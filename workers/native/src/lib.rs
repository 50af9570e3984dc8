//! dealstream's native core, for Python (PyO3). `Ledger` is a contact's engagement ledger with
//! its decay sums, immutable like the reference's lists (its entries are a view of a buffer
//! shared with the ledgers it grew from: `shared::Entries`); `EngagementCore` is the engagement
//! rules' arithmetic over it (workers/scoring/engagement.py, `EngagementScorer`, is the
//! reference: same results, bit for bit). `SeenWindow` is an entity key's recent event ids
//! (workers/ingest/dedupe.py is its reference). `DueIndex` is which keys of a partition are due
//! next (triggers, decay re-scores). `expected_partition` is Kafka's default partitioner
//! (workers/ingest/partitioning.py); `rfc3339` the input times' format (workers/ingest/times.py).

mod contact;
mod due;
mod engagement_py;
mod ledger;
mod partition;
mod points;
mod score;
mod score_py;
mod shared;
mod small;
mod times;
mod window;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

use due::DueIndex;
use engagement_py::EngagementCore;
use ledger::{Entry, Sums};
use score_py::ScoreCore;
use shared::{Columns, Entries};
use small::{Names, SmallStr};
use window::SeenWindow;

#[pyclass(frozen, module = "dealstream_core")]
pub struct Ledger {
    pub(crate) entries: Entries,
    pub(crate) sums: Option<Sums>,
}

/// Decay sums from the tables' form: (period, anchor, size, {rule id: sum}), any sequence.
fn sums_from(sums: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Sums>> {
    let Some(sums) = sums.filter(|s| !s.is_none()) else {
        return Ok(None);
    };
    let by_rule = sums.get_item(3)?;
    let by_rule = by_rule.downcast::<PyDict>()?;
    let mut out = smallvec::SmallVec::with_capacity(by_rule.len());
    let mut names = Names::default();
    for (rule, sum) in by_rule.iter() {
        out.push((names.of(rule.extract::<&str>()?), sum.extract::<f64>()?));
    }
    Ok(Some(Sums {
        period: sums.get_item(0)?.extract()?,
        anchor: sums.get_item(1)?.extract()?,
        size: sums.get_item(2)?.extract()?,
        sums: out,
    }))
}

/// Entries from the tables' form: (rule id, hundredths, epoch seconds, event id) sequences.
fn entries_from(entries: Option<&Bound<'_, PyAny>>) -> PyResult<Columns> {
    let Some(entries) = entries.filter(|e| !e.is_none()) else {
        return Ok(Columns::default());
    };
    let size = entries.len().unwrap_or(0);
    let mut out = Columns {
        entries: Vec::with_capacity(size),
        events: Vec::with_capacity(size),
    };
    let mut names = Names::default();
    for entry in entries.try_iter()? {
        let entry = entry?;
        out.entries.push(Entry {
            rule: names.of(entry.get_item(0)?.extract::<&str>()?),
            cents: entry.get_item(1)?.extract()?,
            at: entry.get_item(2)?.extract()?,
        });
        let event = entry.get_item(3)?;
        out.events.push(SmallStr::new(event.extract::<&str>()?));
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
            entries: Entries::new(entries_from(entries)?),
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
        let columns = self.entries.to_columns(); // no Python object is made with the buffer locked
        let items = columns
            .entries
            .iter()
            .zip(&columns.events)
            .map(|(e, event)| {
                (
                    PyString::new(py, &e.rule),
                    e.cents,
                    e.at,
                    PyString::new(py, event),
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
            by_rule.set_item(rule.as_str(), *sum)?;
        }
        let form = (s.period, s.anchor, s.size, by_rule).into_pyobject(py)?;
        Ok(Some(PyList::new(py, form.iter())?))
    }

    /// The newest entry's event id (None when empty).
    fn last_event(&self) -> Option<String> {
        self.entries
            .with_events(|_, events| events.last().map(|e| e.as_str().to_owned()))
    }

    fn __len__(&self) -> usize {
        self.entries.len()
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        match other.downcast::<Ledger>() {
            Ok(o) => {
                let o = o.get();
                let theirs = o.entries.to_columns(); // one buffer locked at a time
                o.sums == self.sums
                    && self.entries.with_events(|mine, events| {
                        mine == theirs.entries.as_slice() && events == theirs.events.as_slice()
                    })
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

/// Kafka's murmur2 of `data`, as an unsigned 32-bit int (workers/ingest/partitioning.py).
#[pyfunction]
fn murmur2(data: &[u8]) -> u32 {
    partition::murmur2(data)
}

/// The partition Kafka's default partitioner gives `key` among `partitions`.
#[pyfunction]
fn expected_partition(key: &[u8], partitions: u32) -> PyResult<u32> {
    if partitions == 0 {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "partitions must be at least 1",
        ));
    }
    Ok(partition::partition_of(key, partitions))
}

/// Whether `text` is an RFC 3339 time with `Z` or a `+HH:MM` offset, as the pattern
/// `workers/ingest/times.py` `RFC3339` matches it (False for a text that is not UTF-8).
#[pyfunction]
fn rfc3339(text: &Bound<'_, PyString>) -> bool {
    text.to_str().is_ok_and(times::rfc3339)
}

#[pymodule]
fn dealstream_core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Ledger>()?;
    m.add_class::<EngagementCore>()?;
    m.add_class::<ScoreCore>()?;
    m.add_class::<SeenWindow>()?;
    m.add_class::<DueIndex>()?;
    m.add_function(wrap_pyfunction!(murmur2, m)?)?;
    m.add_function(wrap_pyfunction!(expected_partition, m)?)?;
    m.add_function(wrap_pyfunction!(rfc3339, m)?)?;
    m.add("MAX_LEDGER", ledger::MAX_LEDGER)?;
    Ok(())
}
