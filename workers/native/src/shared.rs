//! `Entries`: a ledger's entries as a view (`start..end`) into an append-only buffer that the
//! ledgers grown from one another share. A ledger is immutable, as the reference's lists are:
//! the entries a view covers are never written again. Recording an interaction appends to the
//! buffer in place when the view ends it (the usual case: a contact's state is replaced by the
//! state recorded from it), so an engagement costs its new entries, not a copy of the whole
//! ledger; dropping the oldest moves `start`. When another ledger already grew from the same
//! one (a retried batch records again from the state before it), the view ends before the
//! buffer does and the entries are copied, as before.
//!
//! The buffer sits behind a `Mutex` (a Python object must be `Sync`); it is only ever locked
//! for the length of one read or one append, with no call into Python while held.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::ledger::Entry;

/// Below this many dead entries at its front, a buffer is never copied to shed them.
const KEEP_DEAD: usize = 64;

type Buffer = Arc<Mutex<Vec<Entry>>>;

pub struct Entries {
    buffer: Buffer,
    start: usize,
    end: usize,
}

fn lock(buffer: &Buffer) -> MutexGuard<'_, Vec<Entry>> {
    buffer
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Entries {
    pub fn new(entries: Vec<Entry>) -> Entries {
        let end = entries.len();
        Entries {
            buffer: Arc::new(Mutex::new(entries)),
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
        f(&lock(&self.buffer)[self.start..self.end])
    }

    pub fn to_vec(&self) -> Vec<Entry> {
        self.with(|entries| entries.to_vec())
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

    /// These entries from the `from`th on, then `added`: appended to the shared buffer when
    /// this view ends it, else copied to a buffer of their own. They are copied too when the
    /// buffer's front before them outgrows them, so a ledger at its size limit (which drops
    /// its oldest entry at each one added) costs a copy every few hundred entries, and a
    /// buffer's memory stays within a few times its newest ledger's.
    pub fn appended(&self, from: usize, added: &[Entry]) -> Entries {
        let start = self.index(from); // also the count of dead entries before the view
        let mut buffer = lock(&self.buffer);
        let ends_buffer = buffer.len() == self.end;
        let live = self.end - start + added.len();
        if !ends_buffer || (start > KEEP_DEAD && start > live) {
            let mut own = Vec::with_capacity(live + live / 2);
            own.extend_from_slice(&buffer[start..self.end]);
            own.extend_from_slice(added);
            drop(buffer);
            return Entries::new(own);
        }
        let room = buffer.capacity() - buffer.len();
        if room < added.len() {
            // grow by half (not double): a month's ledgers are most of a replay's memory
            let more = added.len().max(buffer.len() / 2);
            buffer.reserve_exact(more);
        }
        buffer.extend_from_slice(added);
        Entries {
            buffer: self.buffer.clone(),
            start,
            end: self.end + added.len(),
        }
    }
}
