//! `SeenWindow`: the recent event ids of one entity key with the offset each arrived at, oldest
//! first (workers/ingest/dedupe.py, `remember`, is the reference: same verdicts, same window).
//!
//! The ids sit in one buffer, end to end, so a window is three allocations whatever its length:
//! a new window is a copy of that buffer, and no Python object is made, held or freed per id.
//! The dict it replaces held two per id (its string and its offset), each touched by every copy
//! and every free; with tens of thousands of keys those were cache misses, most of a lookup.

use pyo3::prelude::*;
use pyo3::types::PyDict;

pub const NEW: u8 = 0;
pub const REPLAY: u8 = 1;
pub const DUPLICATE: u8 = 2;

#[pyclass(frozen, module = "dealstream_core")]
#[derive(Clone, Default, PartialEq)]
pub struct SeenWindow {
    ids: String,      // the ids, oldest first, end to end
    ends: Vec<usize>, // where each id ends in `ids`
    offsets: Vec<i64>,
}

impl SeenWindow {
    fn id(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.ids[start..self.ends[i]]
    }

    fn find(&self, event_id: &str) -> Option<i64> {
        (0..self.ends.len())
            .find(|&i| self.id(i) == event_id)
            .map(|i| self.offsets[i])
    }

    fn push(&mut self, event_id: &str, offset: i64) {
        self.ids.push_str(event_id);
        self.ends.push(self.ids.len());
        self.offsets.push(offset);
    }

    /// This window with `event_id` at `offset` added as the newest, at most `window` long.
    fn with(&self, event_id: &str, offset: i64, window: usize) -> SeenWindow {
        let keep = window.saturating_sub(1).min(self.ends.len()); // the newest `keep` stay
        let first = self.ends.len() - keep;
        let cut = if first == 0 { 0 } else { self.ends[first - 1] };
        let mut ids = String::with_capacity(self.ids.len() - cut + event_id.len());
        ids.push_str(&self.ids[cut..]);
        let mut ends = Vec::with_capacity(keep + 1);
        ends.extend(self.ends[first..].iter().map(|end| end - cut));
        let mut offsets = Vec::with_capacity(keep + 1);
        offsets.extend_from_slice(&self.offsets[first..]);
        let mut out = SeenWindow { ids, ends, offsets };
        if window > 0 {
            out.push(event_id, offset);
        }
        out
    }
}

#[pymethods]
impl SeenWindow {
    /// Empty, or from the tables' form: {event id: offset}, oldest first.
    #[new]
    #[pyo3(signature = (stored = None))]
    fn new(stored: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let mut out = SeenWindow::default();
        if let Some(stored) = stored {
            for (id, offset) in stored.iter() {
                out.push(id.extract::<&str>()?, offset.extract()?);
            }
        }
        Ok(out)
    }

    /// (verdict, window): NEW with the window that remembers `event_id` at `offset` (at most
    /// `window` ids, the oldest dropped), or REPLAY (the same id at the same offset) or
    /// DUPLICATE (at another offset) with this window itself (immutable: nothing to copy).
    fn remember(
        slf: &Bound<'_, Self>,
        event_id: &str,
        offset: i64,
        window: usize,
    ) -> (u8, Py<SeenWindow>) {
        let me = slf.get();
        match me.find(event_id) {
            Some(seen) if seen == offset => (REPLAY, slf.clone().unbind()),
            Some(_) => (DUPLICATE, slf.clone().unbind()),
            None => {
                let new = me.with(event_id, offset, window);
                (
                    NEW,
                    Py::new(slf.py(), new).expect("a window is always made"),
                )
            }
        }
    }

    /// The offset `event_id` arrived at, if this window remembers it.
    fn get(&self, event_id: &str) -> Option<i64> {
        self.find(event_id)
    }

    /// The window as a table keeps it: {event id: offset}, oldest first.
    fn table_form<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let form = PyDict::new(py);
        for (i, offset) in self.offsets.iter().enumerate() {
            form.set_item(self.id(i), *offset)?;
        }
        Ok(form)
    }

    fn __len__(&self) -> usize {
        self.ends.len()
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        match other.downcast::<SeenWindow>() {
            Ok(o) => o.get() == self,
            Err(_) => false,
        }
    }

    fn __repr__(&self) -> String {
        format!("SeenWindow({} ids)", self.ends.len())
    }
}
