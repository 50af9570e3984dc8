//! `SmallStr`: a ledger entry's rule and event ids. Held inline when short (as ids are: a UUID
//! is 36 bytes), so an entry is plain data: copying a ledger of hundreds of entries is one
//! `memcpy`, and freeing one touches nothing else. With `Arc<str>` ids, each copy and each free
//! changed two reference counts an entry, in allocations all over the heap: over a month's
//! replay (ledgers of a few hundred entries) that was the largest single cost of an engagement.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

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
