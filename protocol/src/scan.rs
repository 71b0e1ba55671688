//! A reader of Automerge change chunks that never expands them: it walks the chunk header and
//! sums the run lengths of every column, so the work and memory a change would cost are known
//! before Automerge decodes one operation of it.
//!
//! Why this exists: Automerge's columnar format is run-length encoded. A change of a few dozen
//! bytes can encode twenty million inserted characters or null list items, or one key string
//! repeated a hundred thousand times; `Change::try_from` verifies every operation one by one and
//! applying it allocates per operation. Everything here is linear in the *encoded* bytes.
//!
//! Layout read (Automerge binary format): magic `85 6f 4a 83`, 4 checksum bytes, chunk type (1 =
//! change; 2 = compressed change and 0 = document are refused), uLEB128 length, then the change:
//! dependencies (count + 32-byte hashes), actor, seq, start op, time, message, other actors,
//! column metadata (count + (spec, length) pairs), column data, extra bytes.

/// Limits a change must satisfy. [`crate::gate`] passes its protocol limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanLimits {
    pub max_bytes: usize,
    /// Most rows any column may encode (the change's operations).
    pub max_ops: u64,
    /// Most items all group columns together may point to (predecessors, …).
    pub max_group_items: u64,
    /// Most bytes the string columns may expand to (a repeated key is counted once per row).
    pub max_string_bytes: u64,
    pub max_deps: usize,
    pub max_actors: usize,
    pub max_message: usize,
    pub max_extra: usize,
    pub max_columns: usize,
}

/// What the scan found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScanInfo {
    /// Operations (the most rows of any column).
    pub ops: u64,
    pub bytes: usize,
    pub deps: usize,
    pub actors: usize,
}

/// Why a change was refused by the scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanError {
    /// Not a well-formed change chunk.
    Malformed(&'static str),
    /// A compressed chunk or compressed columns (devices send changes uncompressed; the sync
    /// body is compressed as a whole).
    Compressed,
    /// Well-formed, but over a limit (named).
    TooLarge(&'static str),
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScanError::Malformed(what) => write!(f, "not an Automerge change: {what}"),
            ScanError::Compressed => f.write_str(
                "compressed changes are not accepted: send raw change bytes (the sync body is compressed as a whole)",
            ),
            ScanError::TooLarge(what) => write!(f, "the change is over the limit of {what}"),
        }
    }
}

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const CHUNK_CHANGE: u8 = 1;
const CHUNK_COMPRESSED: u8 = 2;

// Column types (the low 3 bits of a column spec); bit 3 marks a deflated column.
const COL_GROUP: u32 = 0;
const COL_ACTOR: u32 = 1;
const COL_ULEB: u32 = 2;
const COL_DELTA: u32 = 3;
const COL_BOOL: u32 = 4;
const COL_STRING: u32 = 5;
const COL_VALUE_META: u32 = 6;
const COL_VALUE_RAW: u32 = 7;
const COL_DEFLATE: u32 = 8;

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

type R<T> = Result<T, ScanError>;

impl<'a> Cursor<'a> {
    fn new(b: &'a [u8]) -> Self {
        Cursor { b, pos: 0 }
    }
    fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }
    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        if n > self.remaining() {
            return Err(ScanError::Malformed("truncated"));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> R<u8> {
        Ok(self.take(1)?[0])
    }
    fn uleb(&mut self) -> R<u64> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let byte = self.u8()?;
            let bits = u64::from(byte & 0x7f);
            if i == 9 && bits > 1 {
                return Err(ScanError::Malformed("integer overflow"));
            }
            v |= bits << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(ScanError::Malformed("integer overflow"))
    }
    fn sleb(&mut self) -> R<i64> {
        let mut v: i64 = 0;
        let mut shift = 0u32;
        loop {
            let byte = self.u8()?;
            if shift >= 64 {
                return Err(ScanError::Malformed("integer overflow"));
            }
            v |= i64::from(byte & 0x7f).wrapping_shl(shift);
            shift += 7;
            if byte & 0x80 == 0 {
                if shift < 64 && byte & 0x40 != 0 {
                    v |= -1i64 << shift;
                }
                return Ok(v);
            }
        }
    }
    fn len(&mut self) -> R<usize> {
        let n = self.uleb()?;
        let n = usize::try_from(n).map_err(|_| ScanError::Malformed("length out of range"))?;
        if n > self.remaining() {
            return Err(ScanError::Malformed("truncated"));
        }
        Ok(n)
    }
    fn bytes(&mut self) -> R<&'a [u8]> {
        let n = self.len()?;
        self.take(n)
    }
    /// A count of items each at least `min` bytes long, checked against what is left.
    fn count(&mut self, min: usize) -> R<usize> {
        let n = self.uleb()?;
        let n = usize::try_from(n).map_err(|_| ScanError::Malformed("count out of range"))?;
        if n.saturating_mul(min) > self.remaining() {
            return Err(ScanError::Malformed("count exceeds the chunk"));
        }
        Ok(n)
    }
    fn done(&self) -> bool {
        self.pos == self.b.len()
    }
}

/// Scans a raw change chunk. Linear in `bytes.len()`, allocation-free except for the column table.
pub fn scan_change(bytes: &[u8], lim: &ScanLimits) -> Result<ScanInfo, ScanError> {
    if bytes.len() > lim.max_bytes {
        return Err(ScanError::TooLarge("bytes per change"));
    }
    let mut c = Cursor::new(bytes);
    if c.take(4)? != MAGIC {
        return Err(ScanError::Malformed("bad magic"));
    }
    c.take(4)?; // checksum: Automerge verifies it
    match c.u8()? {
        CHUNK_CHANGE => {}
        CHUNK_COMPRESSED => return Err(ScanError::Compressed),
        _ => return Err(ScanError::Malformed("not a change chunk")),
    }
    let body_len = c.len()?;
    let body = c.take(body_len)?;
    if !c.done() {
        return Err(ScanError::Malformed("bytes after the chunk"));
    }
    let mut c = Cursor::new(body);
    let deps = c.count(32)?;
    if deps > lim.max_deps {
        return Err(ScanError::TooLarge("dependencies per change"));
    }
    c.take(deps * 32)?;
    let actor = c.bytes()?;
    if actor.is_empty() {
        return Err(ScanError::Malformed("empty actor id"));
    }
    c.uleb()?; // seq
    if c.uleb()? == 0 {
        return Err(ScanError::Malformed("start op is zero"));
    }
    c.sleb()?; // time
    let message = c.bytes()?;
    if message.len() > lim.max_message {
        return Err(ScanError::TooLarge("message bytes"));
    }
    let others = c.count(1)?;
    if others.saturating_add(1) > lim.max_actors {
        return Err(ScanError::TooLarge("actors per change"));
    }
    for _ in 0..others {
        c.bytes()?;
    }
    let ncols = c.count(2)?;
    if ncols > lim.max_columns {
        return Err(ScanError::TooLarge("columns per change"));
    }
    let mut cols: Vec<(u32, usize)> = Vec::with_capacity(ncols);
    let mut total = 0usize;
    for _ in 0..ncols {
        let spec = u32::try_from(c.uleb()?).map_err(|_| ScanError::Malformed("bad column spec"))?;
        let len = usize::try_from(c.uleb()?).map_err(|_| ScanError::Malformed("bad length"))?;
        total = total
            .checked_add(len)
            .ok_or(ScanError::Malformed("column lengths overflow"))?;
        if spec & COL_DEFLATE != 0 {
            return Err(ScanError::Compressed);
        }
        cols.push((spec, len));
    }
    if total > c.remaining() {
        return Err(ScanError::Malformed("columns exceed the chunk"));
    }
    let mut info = ScanInfo {
        ops: 0,
        bytes: bytes.len(),
        deps,
        actors: others + 1,
    };
    let mut group_items = 0u64;
    let mut string_bytes = 0u64;
    let actors = (others + 1) as u64;
    for (spec, len) in cols {
        let data = c.take(len)?;
        let typ = spec & 7;
        // Values Automerge converts to u32 (counters, actor indices) are checked here: it
        // unwraps those conversions, so an out-of-range value would panic inside it.
        let (rows, sum, strings) = match typ {
            COL_ACTOR => rle(data, Val::Uleb { max: actors - 1 }, lim)?,
            COL_GROUP | COL_ULEB => rle(data, Val::Uleb { max: U32 }, lim)?,
            COL_VALUE_META => rle(data, Val::Uleb { max: u64::MAX }, lim)?,
            COL_DELTA => rle(data, Val::Delta, lim)?,
            COL_STRING => rle(data, Val::Str, lim)?,
            COL_BOOL => (bool_rows(data, lim)?, 0, 0),
            COL_VALUE_RAW => (0, 0, 0),
            _ => return Err(ScanError::Malformed("unknown column type")),
        };
        if rows > lim.max_ops {
            return Err(ScanError::TooLarge("operations per change"));
        }
        info.ops = info.ops.max(rows);
        if typ == COL_GROUP {
            group_items = group_items.saturating_add(sum);
            if group_items > lim.max_group_items {
                return Err(ScanError::TooLarge("grouped items per change"));
            }
        }
        string_bytes = string_bytes.saturating_add(strings);
        if string_bytes > lim.max_string_bytes {
            return Err(ScanError::TooLarge("expanded string bytes per change"));
        }
    }
    if c.remaining() > lim.max_extra {
        return Err(ScanError::TooLarge("extra bytes"));
    }
    Ok(info)
}

const U32: u64 = u32::MAX as u64;

#[derive(Clone, Copy)]
enum Val {
    /// Unsigned values, each at most `max`.
    Uleb {
        max: u64,
    },
    /// Deltas of a counter: the running value must stay within 0..=u32::MAX.
    Delta,
    Str,
}

/// Sums a run-length-encoded column: (rows, sum of unsigned values, expanded string bytes), and
/// checks every value against its kind's range.
fn rle(data: &[u8], val: Val, lim: &ScanLimits) -> R<(u64, u64, u64)> {
    let mut c = Cursor::new(data);
    let (mut rows, mut sum, mut strings) = (0u64, 0u64, 0u64);
    // The running value of a delta column (a counter), i128 so no sum of checked steps overflows.
    let mut running: i128 = 0;
    let over = || ScanError::TooLarge("operations per change");
    let mut step = |c: &mut Cursor<'_>, times: u64| -> R<(u64, u64)> {
        match val {
            Val::Uleb { max } => {
                let v = c.uleb()?;
                if v > max {
                    return Err(ScanError::Malformed(
                        "a counter or actor index is out of range",
                    ));
                }
                Ok((v, 0))
            }
            Val::Delta => {
                let d = c.sleb()?;
                // A run repeats the delta `times` times: check where it ends (it moves one way).
                running += i128::from(d) * i128::from(times);
                if !(0..=i128::from(U32)).contains(&running) {
                    return Err(ScanError::Malformed("a counter is out of range"));
                }
                Ok((0, 0))
            }
            Val::Str => {
                let s = c.bytes()?;
                Ok((0, s.len() as u64))
            }
        }
    };
    while !c.done() {
        let n = c.sleb()?;
        match n.cmp(&0) {
            std::cmp::Ordering::Greater => {
                let n = n.unsigned_abs();
                let (v, slen) = step(&mut c, n)?;
                rows = rows.checked_add(n).ok_or_else(over)?;
                sum = sum.saturating_add(n.saturating_mul(v));
                strings = strings.saturating_add(n.saturating_mul(slen));
            }
            std::cmp::Ordering::Less => {
                let n = n.unsigned_abs();
                // A literal run holds n encoded values: each takes at least one byte.
                if n > c.remaining() as u64 {
                    return Err(ScanError::Malformed("literal run exceeds the column"));
                }
                for _ in 0..n {
                    let (v, slen) = step(&mut c, 1)?;
                    sum = sum.saturating_add(v);
                    strings = strings.saturating_add(slen);
                }
                rows = rows.checked_add(n).ok_or_else(over)?;
            }
            std::cmp::Ordering::Equal => {
                let nulls = c.uleb()?;
                rows = rows.checked_add(nulls).ok_or_else(over)?;
            }
        }
        if rows > lim.max_ops {
            return Err(over());
        }
    }
    Ok((rows, sum, strings))
}

/// Rows of a boolean column: alternating run lengths (false first).
fn bool_rows(data: &[u8], lim: &ScanLimits) -> R<u64> {
    let mut c = Cursor::new(data);
    let mut rows = 0u64;
    while !c.done() {
        rows = rows
            .checked_add(c.uleb()?)
            .ok_or(ScanError::TooLarge("operations per change"))?;
        if rows > lim.max_ops {
            return Err(ScanError::TooLarge("operations per change"));
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::{CommitOptions, Transactable};
    use automerge::{Automerge, ObjType, ROOT};

    fn limits() -> ScanLimits {
        ScanLimits {
            max_bytes: 1 << 20,
            max_ops: 100_000,
            max_group_items: 400_000,
            max_string_bytes: 8 << 20,
            max_deps: 256,
            max_actors: 64,
            max_message: 128,
            max_extra: 1024,
            max_columns: 64,
        }
    }

    fn change_with(f: impl FnOnce(&mut automerge::transaction::Transaction<'_>)) -> Vec<u8> {
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        f(&mut tx);
        tx.commit_with(CommitOptions::default().with_message("u1".to_owned()));
        doc.get_last_local_change()
            .map(|c| c.raw_bytes().to_vec())
            .unwrap_or_default()
    }

    #[test]
    fn counts_the_operations_of_real_changes() {
        let bytes = change_with(|tx| {
            tx.put(ROOT, "severity", 2).unwrap();
            let t = tx.put_object(ROOT, "title", ObjType::Text).unwrap();
            tx.splice_text(&t, 0, 0, "楼道堆物").unwrap();
        });
        let info = scan_change(&bytes, &limits()).unwrap();
        // put + make text + 4 inserted characters
        assert_eq!(info.ops, 6);
        assert_eq!(info.deps, 0);
        assert_eq!(automerge::Change::try_from(&bytes[..]).unwrap().len(), 6);
    }

    #[test]
    fn a_small_change_encoding_many_operations_is_refused_before_parsing() {
        let bytes = change_with(|tx| {
            let t = tx.put_object(ROOT, "description", ObjType::Text).unwrap();
            tx.splice_text(&t, 0, 0, &"a".repeat(200_000)).unwrap();
        });
        assert_eq!(
            scan_change(&bytes, &limits()),
            Err(ScanError::TooLarge("operations per change"))
        );
        let bytes = change_with(|tx| {
            let l = tx.put_object(ROOT, "photos", ObjType::List).unwrap();
            tx.splice(&l, 0, 0, (0..150_000).map(|_| automerge::ScalarValue::Null))
                .unwrap();
        });
        assert!(
            bytes.len() < 2_000,
            "run-length encoded: {} bytes",
            bytes.len()
        );
        assert_eq!(
            scan_change(&bytes, &limits()),
            Err(ScanError::TooLarge("operations per change"))
        );
    }

    #[test]
    fn counters_and_actor_indices_automerge_would_unwrap_are_refused() {
        // Found by the fuzzer: Automerge panics (`TryFromIntError` unwrapped) on these.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/known-crashes/change_gate");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            assert!(scan_change(&bytes, &limits()).is_err());
            n += 1;
        }
        assert!(n >= 3);
    }

    #[test]
    fn compressed_chunks_and_garbage_are_refused() {
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        let t = tx.put_object(ROOT, "notes", ObjType::Text).unwrap();
        tx.splice_text(&t, 0, 0, &"重复的文字".repeat(400)).unwrap();
        tx.commit();
        let mut c = doc.get_last_local_change().unwrap().clone();
        let compressed = c.bytes().to_vec();
        assert_ne!(compressed, c.raw_bytes());
        assert_eq!(
            scan_change(&compressed, &limits()),
            Err(ScanError::Compressed)
        );
        for bad in [
            &b""[..],
            b"\x85\x6f\x4a\x83",
            b"hello world",
            &[
                0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f,
            ],
        ] {
            assert!(matches!(
                scan_change(bad, &limits()),
                Err(ScanError::Malformed(_))
            ));
        }
        let big = vec![0u8; (1 << 20) + 1];
        assert_eq!(
            scan_change(&big, &limits()),
            Err(ScanError::TooLarge("bytes per change"))
        );
    }
}
