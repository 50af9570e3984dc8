//! A contact's state as `ScoreCore.engage` reads and copies it: the Python struct
//! (workers/scoring/contact.py `ContactState`), read by its attributes and copied as
//! `msgspec.structs.replace` copies it, with the fields an engagement and its re-score change.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyFloat, PyList, PyString};

use crate::score_py::Published;
use crate::Ledger;

/// What `last` (a `Snapshot` or None) published, as the re-score compares with it: Some(None)
/// when nothing was; None when it is of another rules version than `version`.
pub fn published<'py>(
    last: &Bound<'py, PyAny>,
    version: &Bound<'py, PyString>,
) -> PyResult<Option<Option<Published<'py>>>> {
    if last.is_none() {
        return Ok(Some(None));
    }
    let py = last.py();
    let of = last.getattr(intern!(py, "rules_version"))?;
    if !(of.is(version) || of.eq(version)?) {
        return Ok(None);
    }
    let grade = last.getattr(intern!(py, "grade"))?;
    let grade = if grade.is_none() {
        None
    } else {
        Some(grade.downcast_into::<PyString>()?)
    };
    Ok(Some(Some((
        last.getattr(intern!(py, "total"))?.extract()?,
        last.getattr(intern!(py, "stars"))?.extract()?,
        last.getattr(intern!(py, "ready"))?.extract()?,
        grade,
    ))))
}

/// An interest in a product line (`interest` in contact.py): the lines, and the line with its
/// time when it is the newest interest.
pub struct Interest<'py> {
    lines: Option<Bound<'py, PyList>>, // None: the state's own
    newest: Option<(Bound<'py, PyAny>, f64)>,
}

/// The interest an engagement with `line` (shared) at `at` gives `state`.
pub fn interest<'py>(
    state: &Bound<'py, PyAny>,
    line: &Bound<'py, PyAny>,
    at: f64,
) -> PyResult<Interest<'py>> {
    let py = state.py();
    let lines = state.getattr(intern!(py, "product_lines"))?;
    let lines = if lines.contains(line)? {
        None
    } else {
        let more = PyList::empty(py); // `[*lines, line]`
        for item in lines.try_iter()? {
            more.append(item?)?;
        }
        more.append(line)?;
        Some(more)
    };
    let since: f64 = state.getattr(intern!(py, "interest_at"))?.extract()?;
    let newest = (at >= since).then(|| (line.clone(), at));
    Ok(Interest { lines, newest })
}

impl Interest<'_> {
    /// Set on `new`, a copy of the state.
    pub fn set(self, new: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = new.py();
        if let Some(lines) = self.lines {
            new.setattr(intern!(py, "product_lines"), lines)?;
        }
        if let Some((line, at)) = self.newest {
            new.setattr(intern!(py, "product_line"), line)?;
            new.setattr(intern!(py, "interest_at"), PyFloat::new(py, at))?;
        }
        Ok(())
    }
}

/// A copy of `state` re-scored: its pruned ledger `kept`, `cause` as what its scores come
/// from, and the snapshot published (`snap`: None when nothing is) counted.
pub fn copied<'py>(
    state: &Bound<'py, PyAny>,
    kept: &Bound<'py, Ledger>,
    cause: &Bound<'py, PyString>,
    snap: Option<&Bound<'py, PyAny>>,
    became_ready: bool,
    changed: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let py = state.py();
    let new = state.call_method0(intern!(py, "__copy__"))?;
    new.setattr(intern!(py, "ledger"), kept)?;
    new.setattr(intern!(py, "cause_event_id"), cause)?;
    if let Some(snap) = snap {
        new.setattr(intern!(py, "last"), snap)?;
    }
    if changed {
        let scores: i64 = state.getattr(intern!(py, "scores"))?.extract()?;
        new.setattr(intern!(py, "scores"), scores + 1)?;
    }
    if became_ready {
        let entries: i64 = state.getattr(intern!(py, "ready_entries"))?.extract()?;
        new.setattr(intern!(py, "ready_entries"), entries + 1)?;
    }
    Ok(new)
}
