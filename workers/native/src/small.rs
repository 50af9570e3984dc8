//! `SmallStr`: a ledger entry's event id, and `Name`: its rule id. A `SmallStr` is held inline
//! when short (as ids are: a UUID is 36 bytes), and a `Name` is a pointer to the one copy of its
//! text, so an entry is plain data: copying a ledger of hundreds of entries is one
//! `memcpy`, and freeing one touches nothing else. With `Arc<str>` ids, each copy and each free
//! changed two reference counts an entry, in allocations all over the heap: over a month's
//! replay (ledgers of a few hundred entries) that was the largest single cost of an engagement.

use std::collections::HashSet;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

const INLINE: usize = 46;

#[derive(Clone)]
pub enum SmallStr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Shared(Arc<str>), // longer than INLINE bytes
}

impl SmallStr {
    pub fn new(text: &str) -> SmallStr {
        if text.len() > INLINE {
            return SmallStr::Shared(Arc::from(text));
        }
        let mut bytes = [0u8; INLINE];
        bytes[..text.len()].copy_from_slice(text.as_bytes());
        SmallStr::Inline {
            len: text.len() as u8,
            bytes,
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            // SAFETY: the bytes are a copy of a `&str`'s, cut at its own length
            SmallStr::Inline { len, bytes } => unsafe {
                std::str::from_utf8_unchecked(&bytes[..*len as usize])
            },
            SmallStr::Shared(text) => text,
        }
    }
}

impl Deref for SmallStr {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for SmallStr {
    fn eq(&self, other: &SmallStr) -> bool {
        self.as_str() == other.as_str()
    }
}

impl fmt::Debug for SmallStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// A rule id, one copy per process: an entry holds a pointer to it (16 bytes, where a
/// `SmallStr` takes 48), and two are the same id when they point to the same text. Rule ids
/// are few (those of the rules, and of older rules a stored ledger still names), so the texts
/// are kept for the life of the process.
#[derive(Clone, Copy)]
pub struct Name(&'static str);

fn names() -> MutexGuard<'static, HashSet<&'static str>> {
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    NAMES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Name {
    pub fn new(text: &str) -> Name {
        let mut names = names();
        if let Some(found) = names.get(text) {
            return Name(found);
        }
        let kept: &'static str = Box::leak(Box::from(text));
        names.insert(kept);
        Name(kept)
    }

    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

impl Deref for Name {
    type Target = str;

    fn deref(&self) -> &str {
        self.0
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

/// `Name::new` with the last few names made remembered: a stored ledger names a handful of
/// rules hundreds of times.
#[derive(Default)]
pub struct Names(Vec<Name>);

impl Names {
    pub fn of(&mut self, text: &str) -> Name {
        if let Some(found) = self.0.iter().find(|n| n.0 == text) {
            return *found;
        }
        let name = Name::new(text);
        if self.0.len() < 32 {
            self.0.push(name);
        }
        name
    }
}
