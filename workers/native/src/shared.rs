//! `Entries`: a ledger's entries as a view (`start..end`) into an append-only buffer that the
//! ledgers grown from one another share. A ledger is immutable, as the reference's lists are:
//! the entries a view covers are never written again. Recording an interaction appends to the
//! buffer in place when the view ends it (the usual case: a contact's state is replaced by the
//! state recorded from it), so an engagement costs its new entries, not a copy of the whole
//! ledger; dropping the oldest moves `start`. When another ledger already grew from the same
//! one (a retried batch records again from the state before it), the view ends before the
//! buffer does and the entries are copied, as before.
//!
//! Each entry's event id is kept beside the entries, in a vector of its own, index for index:
//! what scores an interaction (caps, decay sums, points) reads rules, points and times alone,
//! 32 bytes an entry, where an entry with its id inline took 88, and a month's ledgers are
//! cold when an engagement comes. The ids are read to tell a replayed interaction, and for the
//! tables' form.
//!
//! The buffer sits behind a `Mutex` (a Python object must be `Sync`); it is only ever locked
//! for the length of one read or one append, with no call into Python while held.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::ledger::Entry;
use crate::small::SmallStr;

/// Below this many dead items at its front, a buffer is never copied to shed them.
pub const KEEP_DEAD: usize = 64;

/// Whether a view that grows must copy its items to a buffer of its own: another view already
/// grew from the same buffer (this one does not end it), or the buffer's dead front (`dead`
/// items before the view's new start) outgrows the `live` items it would then hold. The rule
/// of the ledgers' entries and of the dedupe windows' ids (`window.rs`).
pub fn must_copy(ends_buffer: bool, dead: usize, live: usize) -> bool {
    !ends_buffer || (dead > KEEP_DEAD && dead > live)
}

/// The mutex's value, also when a panic while it was held poisoned it: the buffers are only
/// ever appended to, and what a view covers is never written again.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Entries, and each one's event id at the same index.
#[derive(Default)]
pub struct Columns {
    pub entries: Vec<Entry>,
    pub events: Vec<SmallStr>,
}

impl Columns {
    fn len(&self) -> usize {
        self.entries.len()
    }
}

type Buffer = Arc<Mutex<Columns>>;

pub struct Entries {
    buffer: Buffer,
    start: usize,
    end: usize,
}

impl Entries {
    /// `entries` with each one's event id, index for index.
    pub fn new(columns: Columns) -> Entries {
        debug_assert_eq!(columns.entries.len(), columns.events.len());
        let end = columns.len();
        Entries {
            buffer: Arc::new(Mutex::new(columns)),
            start: 0,
            end,
        }
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// `f` of the entries, oldest first (the buffer is locked meanwhile: `f` must not call
    /// into Python).
    pub fn with<R>(&self, f: impl FnOnce(&[Entry]) -> R) -> R {
        f(&lock(&self.buffer).entries[self.start..self.end])
    }

    /// `f` of the entries and their event ids, index for index (as `with`).
    pub fn with_events<R>(&self, f: impl FnOnce(&[Entry], &[SmallStr]) -> R) -> R {
        let buffer = lock(&self.buffer);
        let range = self.start..self.end;
        f(&buffer.entries[range.clone()], &buffer.events[range])
    }

    /// A copy of the entries and their event ids.
    pub fn to_columns(&self) -> Columns {
        self.with_events(|entries, events| Columns {
            entries: entries.to_vec(),
            events: events.to_vec(),
        })
    }

    /// The same entries (nothing is copied).
    pub fn view(&self) -> Entries {
        Entries {
            buffer: self.buffer.clone(),
            start: self.start,
            end: self.end,
        }
    }

    /// The buffer index of this view's `from`th entry (its end at most).
    fn index(&self, from: usize) -> usize {
        (self.start + from).min(self.end)
    }

    /// These entries from the `from`th on (nothing is copied).
    pub fn suffix(&self, from: usize) -> Entries {
        Entries {
            buffer: self.buffer.clone(),
            start: self.index(from),
            end: self.end,
        }
    }

    /// These entries from the `from`th on, then `added` (all of them the interaction `event`'s):
    /// appended to the shared buffer when this view ends it, else copied to a buffer of their
    /// own. They are copied too when the
    /// buffer's front before them outgrows them, so a ledger at its size limit (which drops
    /// its oldest entry at each one added) costs a copy every few hundred entries, and a
    /// buffer's memory stays within a few times its newest ledger's.
    pub fn appended(&self, from: usize, added: &[Entry], event: &SmallStr) -> Entries {
        let start = self.index(from); // also the count of dead entries before the view
        let mut buffer = lock(&self.buffer);
        let ends_buffer = buffer.len() == self.end;
        let live = self.end - start + added.len();
        if must_copy(ends_buffer, start, live) {
            let mut own = Columns {
                entries: Vec::with_capacity(live + live / 2),
                events: Vec::with_capacity(live + live / 2),
            };
            own.entries
                .extend_from_slice(&buffer.entries[start..self.end]);
            own.entries.extend_from_slice(added);
            own.events
                .extend_from_slice(&buffer.events[start..self.end]);
            own.events.extend(added.iter().map(|_| event.clone()));
            drop(buffer);
            return Entries::new(own);
        }
        // grow by half (not double): a month's ledgers are most of a replay's memory
        let more = added.len().max(buffer.len() / 2);
        if buffer.entries.capacity() - buffer.len() < added.len() {
            buffer.entries.reserve_exact(more);
        }
        if buffer.events.capacity() - buffer.len() < added.len() {
            buffer.events.reserve_exact(more);
        }
        buffer.entries.extend_from_slice(added);
        buffer.events.extend(added.iter().map(|_| event.clone()));
        Entries {
            buffer: self.buffer.clone(),
            start,
            end: self.end + added.len(),
        }
    }
}
