//! `DueIndex`: which keys of one partition are due next, a heap with lazy invalidation
//! (workers/triggers/due_index.py says how it is used; tests/unit/test_opportunity_state.py
//! holds it to a sorted dict, ties by key).
//!
//! A key moved later is not pushed again: the heap keeps an entry for each key at or before its
//! due time, and an entry found early is pushed again at the key's due time when it reaches the
//! top. Most changes move a due time later (each engagement puts its contact's next decay
//! re-score further off).
//!
//! The heap was a Python list of `(due, key)` tuples: each comparison read a tuple and a float
//! object somewhere in memory, and a pop of a heap of ten thousand keys made thirty of them,
//! cold in a month's replay (a tick's `pop_due` took 32 µs, timing wrappers' cost included;
//! the due index as a whole about 3 µs an event). Here an entry is its due time and a pointer
//! shared with the map to its key, side by side in one vector: a comparison reads the due
//! times alone, and the keys' text only where two are equal.

use std::collections::HashMap;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};

type Key = Arc<str>;

struct Entry {
    due: f64,
    key: Key,
}

/// `a` before `b`: as the tuples `(due, key)` compare (a key's text compares as Python's).
fn before(a: &Entry, b: &Entry) -> bool {
    a.due < b.due || (a.due == b.due && *a.key < *b.key)
}

#[pyclass(module = "dealstream_core")]
#[derive(Default)]
pub struct DueIndex {
    heap: Vec<Entry>,
    due: HashMap<Key, f64>,
}

impl DueIndex {
    fn push(&mut self, entry: Entry) {
        self.heap.push(entry);
        self.sift_up(self.heap.len() - 1);
        if self.heap.len() > 2 * self.due.len() + 1024 {
            self.compact();
        }
    }

    fn sift_up(&mut self, mut at: usize) {
        while at > 0 {
            let parent = (at - 1) / 2;
            if !before(&self.heap[at], &self.heap[parent]) {
                break;
            }
            self.heap.swap(at, parent);
            at = parent;
        }
    }

    fn sift_down(&mut self, mut at: usize) {
        let size = self.heap.len();
        loop {
            let left = 2 * at + 1;
            if left >= size {
                break;
            }
            let right = left + 1;
            let child = if right < size && before(&self.heap[right], &self.heap[left]) {
                right
            } else {
                left
            };
            if !before(&self.heap[child], &self.heap[at]) {
                break;
            }
            self.heap.swap(at, child);
            at = child;
        }
    }

    fn pop_top(&mut self) -> Option<Entry> {
        let last = self.heap.pop()?;
        if self.heap.is_empty() {
            return Some(last);
        }
        let top = std::mem::replace(&mut self.heap[0], last);
        self.sift_down(0);
        Some(top)
    }

    fn compact(&mut self) {
        self.heap = self
            .due
            .iter()
            .map(|(key, &due)| Entry {
                due,
                key: key.clone(),
            })
            .collect();
        for at in (0..self.heap.len() / 2).rev() {
            self.sift_down(at);
        }
    }

    /// The earliest due time; the entry at the top of the heap is then that key's.
    fn settle(&mut self) -> Option<f64> {
        while let Some(top) = self.heap.first() {
            match self.due.get(&*top.key) {
                Some(&current) if current == top.due => return Some(current),
                Some(&current) if current > top.due => {
                    // moved later: wait there
                    self.heap[0].due = current;
                    self.sift_down(0);
                }
                _ => {
                    // gone, or an earlier entry of the key stands for it
                    self.pop_top();
                }
            }
        }
        None
    }
}

#[pymethods]
impl DueIndex {
    #[new]
    fn new() -> Self {
        DueIndex::default()
    }

    fn __len__(&self) -> usize {
        self.due.len()
    }

    /// Schedule `key` at `due` (epoch seconds), or unschedule it with None. A due time that is
    /// not a finite number is never due (a NaN at the top would stop every pop).
    #[pyo3(signature = (key, due))]
    fn set(&mut self, key: &Bound<'_, PyString>, due: Option<f64>) -> PyResult<()> {
        let text = key.to_str()?;
        let Some(due) = due.filter(|d| d.is_finite()) else {
            self.due.remove(text);
            return Ok(());
        };
        match self.due.get_mut(text) {
            Some(old) if *old == due => return Ok(()),
            Some(old) => {
                let later = due > *old;
                *old = due;
                if later {
                    return Ok(()); // the entry at the old time (or before) stands for it
                }
            }
            None => {
                let key: Key = Arc::from(text);
                self.due.insert(key.clone(), due);
                self.push(Entry { due, key });
                return Ok(());
            }
        }
        // moved earlier: an entry at the new time, with the map's own key
        if let Some((key, _)) = self.due.get_key_value(text) {
            let key = key.clone();
            self.push(Entry { due, key });
        }
        Ok(())
    }

    fn due_at(&self, key: &Bound<'_, PyString>) -> PyResult<Option<f64>> {
        Ok(self.due.get(key.to_str()?).copied())
    }

    /// Remove and return the keys due at `now`, earliest first (ties by key), at most `limit`.
    #[pyo3(signature = (now, limit = None))]
    fn pop_due<'py>(
        &mut self,
        py: Python<'py>,
        now: f64,
        limit: Option<i64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        let most = limit.map_or(usize::MAX, |limit| limit.max(0) as usize);
        while out.len() < most {
            match self.settle() {
                Some(due) if due <= now => {}
                _ => break,
            }
            let Some(top) = self.pop_top() else { break };
            self.due.remove(&*top.key);
            out.append(PyString::new(py, &top.key))?;
        }
        Ok(out)
    }

    /// The earliest due time, None when nothing is scheduled.
    fn next_due(&mut self) -> Option<f64> {
        self.settle()
    }
}
