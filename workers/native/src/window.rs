//! `SeenWindow`: the recent event ids of one entity key with the offset each arrived at, oldest
//! first (workers/ingest/dedupe.py, `remember`, is the reference: same verdicts, same window).
//!
//! A window is a view (`start..end`) into an append-only buffer that the windows grown from one
//! another share, as a ledger's entries are (`shared::Entries`): remembering a new id appends it
//! in place when the view ends the buffer (the usual case: the table's window is replaced by the
//! one remembered from it), and the oldest id drops out by moving `start`. No Python object is
//! made, held or freed per id. Each id has a 32-bit hash beside it: a look-up reads the hashes
//! (four bytes an id, side by side: a window of 64 ids in four cache lines) and compares an
//! id's bytes only where its hash is the same.
//! The copy a window made at each new id, and the ids read at each look-up, were cold memory in
//! a month's replay: a fifth of its last-level cache misses.
//!
//! The buffer is copied when another window already grew from the same one (a retried batch
//! remembers again from the window before it), and when its dead front outgrows the view, so a
//! buffer's memory stays within a few windows.

use std::sync::{Arc, Mutex, MutexGuard};

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::shared::{lock, must_copy, KEEP_DEAD};

pub const NEW: u8 = 0;
pub const REPLAY: u8 = 1;
pub const DUPLICATE: u8 = 2;

#[derive(Default)]
struct Buffer {
    hashes: Vec<u32>,
    offsets: Vec<i64>,
    ends: Vec<usize>, // where each id ends in `ids`
    ids: String,      // the ids, end to end
}

impl Buffer {
    fn id(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.ids[start..self.ends[i]]
    }

    fn push(&mut self, hash: u32, event_id: &str, offset: i64) {
        self.hashes.push(hash);
        self.offsets.push(offset);
        self.ids.push_str(event_id);
        self.ends.push(self.ids.len());
    }

    /// The index of `event_id` among `range`, if there.
    fn find(&self, start: usize, end: usize, hash: u32, event_id: &str) -> Option<usize> {
        (start..end).find(|&i| self.hashes[i] == hash && self.id(i) == event_id)
    }

    /// A buffer of its own with the ids of `start..end`.
    fn copy(&self, start: usize, end: usize, extra: usize) -> Buffer {
        let cut = if start == 0 { 0 } else { self.ends[start - 1] };
        let last = if end == 0 { 0 } else { self.ends[end - 1] };
        let mut ids = String::with_capacity(last - cut + extra * 40);
        ids.push_str(&self.ids[cut..last]);
        let room = end - start + extra;
        let mut hashes = Vec::with_capacity(room);
        hashes.extend_from_slice(&self.hashes[start..end]);
        let mut offsets = Vec::with_capacity(room);
        offsets.extend_from_slice(&self.offsets[start..end]);
        let mut ends = Vec::with_capacity(room);
        ends.extend(self.ends[start..end].iter().map(|e| e - cut));
        Buffer {
            hashes,
            offsets,
            ends,
            ids,
        }
    }
}

/// FNV-1a, 64 bits folded to 32: ids are short (a UUID is 36 bytes), and only told apart,
/// never exposed (a look-up in a window of 64 finds another id's hash equal to its own about
/// once in 67 million, and then compares their bytes).
fn hash(text: &str) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h ^ (h >> 32)) as u32
}

#[pyclass(frozen, module = "dealstream_core")]
pub struct SeenWindow {
    buffer: Arc<Mutex<Buffer>>,
    start: usize,
    end: usize,
}

impl Default for SeenWindow {
    fn default() -> Self {
        SeenWindow::own(Buffer::default())
    }
}

impl SeenWindow {
    fn own(buffer: Buffer) -> SeenWindow {
        let end = buffer.hashes.len();
        SeenWindow {
            buffer: Arc::new(Mutex::new(buffer)),
            start: 0,
            end,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Buffer> {
        lock(&self.buffer)
    }

    /// (id, offset) pairs, oldest first.
    fn pairs(&self) -> Vec<(String, i64)> {
        let buffer = self.lock();
        (self.start..self.end)
            .map(|i| (buffer.id(i).to_owned(), buffer.offsets[i]))
            .collect()
    }

    /// This window with `event_id` at `offset` added as the newest, at most `window` long.
    fn with(&self, hash: u32, event_id: &str, offset: i64, window: usize) -> SeenWindow {
        let keep = window.saturating_sub(1).min(self.end - self.start); // the newest stay
        let start = self.end - keep;
        let mut buffer = self.lock();
        let ends_buffer = buffer.hashes.len() == self.end;
        if window == 0 || must_copy(ends_buffer, start, keep + 1) {
            // shedding a full window's dead front: room for the ids it takes until it sheds it
            // again (`must_copy`), which the buffer grows to anyway, without a reallocation (a
            // copy) on the way; any other copy (of a window another already grew from, as the
            // empty window is for every new key but the first) holds what it holds: a key's
            // window may stay small
            let extra = if ends_buffer {
                KEEP_DEAD.max(window) + 1
            } else {
                1
            };
            let mut own = buffer.copy(start, self.end, extra);
            drop(buffer);
            if window > 0 {
                own.push(hash, event_id, offset);
            }
            return SeenWindow::own(own);
        }
        buffer.push(hash, event_id, offset);
        SeenWindow {
            buffer: self.buffer.clone(),
            start,
            end: self.end + 1,
        }
    }
}

#[pymethods]
impl SeenWindow {
    /// Empty, or from the tables' form: {event id: offset}, oldest first.
    #[new]
    #[pyo3(signature = (stored = None))]
    fn new(stored: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let mut buffer = Buffer::default();
        if let Some(stored) = stored {
            for (id, offset) in stored.iter() {
                let id = id.extract::<&str>()?;
                buffer.push(hash(id), id, offset.extract()?);
            }
        }
        Ok(SeenWindow::own(buffer))
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
        let h = hash(event_id);
        let seen = {
            let buffer = me.lock();
            buffer
                .find(me.start, me.end, h, event_id)
                .map(|i| buffer.offsets[i])
        };
        match seen {
            Some(seen) if seen == offset => (REPLAY, slf.clone().unbind()),
            Some(_) => (DUPLICATE, slf.clone().unbind()),
            None => {
                let new = me.with(h, event_id, offset, window);
                (
                    NEW,
                    Py::new(slf.py(), new).expect("a window is always made"),
                )
            }
        }
    }

    /// The offset `event_id` arrived at, if this window remembers it.
    fn get(&self, event_id: &str) -> Option<i64> {
        let buffer = self.lock();
        buffer
            .find(self.start, self.end, hash(event_id), event_id)
            .map(|i| buffer.offsets[i])
    }

    /// The window as a table keeps it: {event id: offset}, oldest first.
    fn table_form<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let form = PyDict::new(py);
        for (id, offset) in self.pairs() {
            form.set_item(id, offset)?;
        }
        Ok(form)
    }

    fn __len__(&self) -> usize {
        self.end - self.start
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        match other.downcast::<SeenWindow>() {
            Ok(o) => o.get().pairs() == self.pairs(),
            Err(_) => false,
        }
    }

    fn __repr__(&self) -> String {
        format!("SeenWindow({} ids)", self.end - self.start)
    }
}
