//! The input times' format: RFC 3339 with `Z` or a `+HH:MM` offset, as the pattern of every
//! schema's `date-time` fields says it (workers/ingest/times.py, `RFC3339`, is the reference;
//! tests/unit/test_times.py holds this to it). Every input record's times are checked: the
//! pattern's match cost about 2,500 instructions a time, most of them the regex engine's.

fn digits(b: &[u8], at: usize, n: usize) -> bool {
    b.len() >= at + n && b[at..at + n].iter().all(u8::is_ascii_digit)
}

fn is(b: &[u8], at: usize, allowed: &[u8]) -> bool {
    b.get(at).is_some_and(|c| allowed.contains(c))
}

/// Whether `text` matches `^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}
/// (\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$` as Python's `re.match` does: `$` also matches
/// before a newline that ends the text, and `[0-9]` is ASCII digits alone. Greedy without
/// backtracking is the same: what may follow the fraction's digits is never a digit.
pub fn rfc3339(text: &str) -> bool {
    let b = text.as_bytes();
    let b = b.strip_suffix(b"\n").unwrap_or(b);
    let head = digits(b, 0, 4)
        && is(b, 4, b"-")
        && digits(b, 5, 2)
        && is(b, 7, b"-")
        && digits(b, 8, 2)
        && is(b, 10, b"Tt ")
        && digits(b, 11, 2)
        && is(b, 13, b":")
        && digits(b, 14, 2)
        && is(b, 16, b":")
        && digits(b, 17, 2);
    if !head {
        return false;
    }
    let mut at = 19;
    if is(b, at, b".") {
        let start = at + 1;
        at = start;
        while at < b.len() && b[at].is_ascii_digit() {
            at += 1;
        }
        if at == start {
            return false;
        }
    }
    if is(b, at, b"Zz") {
        return at + 1 == b.len();
    }
    is(b, at, b"+-")
        && digits(b, at + 1, 2)
        && is(b, at + 3, b":")
        && digits(b, at + 4, 2)
        && at + 6 == b.len()
}
