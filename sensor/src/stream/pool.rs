//! The per-worker pool of fixed-size stream chunks.
//!
//! Every byte the reassembler buffers lives in a [`CHUNK`]-byte chunk taken from this pool. A
//! chunk covers one `CHUNK`-aligned window of one direction's stream offsets and carries two
//! bitmaps: which of its bytes are present, and where a stored segment started (the overlap
//! policies need segment starts). Chunks are allocated in blocks the first time the pool grows
//! (warm-up) and are never returned to the allocator: a freed chunk goes on a free list and is
//! reused, so steady-state traffic allocates nothing. The pool never holds more than
//! `max_chunks` chunks; that is how the memcap is enforced.

/// Bytes per chunk.
pub const CHUNK: usize = 2048;
/// Bitmap words per chunk.
const WORDS: usize = CHUNK / 64;
/// Chunks allocated together when the pool grows.
const BLOCK_CHUNKS: usize = 32;

/// A chunk handle: index + 1, so that 0 can mean "none" in `Default` state.
pub type Handle = u32;
/// No chunk.
pub const NONE: Handle = 0;

/// Bookkeeping of one chunk.
#[derive(Clone)]
pub struct Meta {
    /// Stream offset of the chunk's first byte (a multiple of `CHUNK`).
    pub offset: u64,
    /// The next chunk of the same direction, in offset order.
    pub next: Handle,
    /// Bit i: byte i holds data.
    pub present: [u64; WORDS],
    /// Bit i: a stored segment started at byte i.
    pub starts: [u64; WORDS],
}

impl Default for Meta {
    fn default() -> Self {
        Meta {
            offset: 0,
            next: NONE,
            present: [0; WORDS],
            starts: [0; WORDS],
        }
    }
}

struct Block {
    data: Box<[u8]>,
    meta: Box<[Meta]>,
}

/// The pool.
pub struct Pool {
    blocks: Vec<Block>,
    free: Vec<Handle>,
    max_chunks: usize,
    in_use: usize,
    peak: usize,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("allocated", &self.allocated())
            .field("in_use", &self.in_use)
            .field("max_chunks", &self.max_chunks)
            .finish()
    }
}

impl Pool {
    /// A pool that never holds more than `max_bytes` of chunk data.
    pub fn new(max_bytes: usize) -> Pool {
        let max_chunks = (max_bytes / CHUNK).min(Handle::MAX as usize - 1);
        let max_blocks = max_chunks.div_ceil(BLOCK_CHUNKS);
        Pool {
            // Only the block table and the free list are sized now (a few bytes per chunk);
            // chunk memory itself is allocated block by block while the pool warms up.
            blocks: Vec::with_capacity(max_blocks),
            free: Vec::with_capacity(max_chunks),
            max_chunks,
            in_use: 0,
            peak: 0,
        }
    }

    /// Chunks handed out now.
    pub fn in_use(&self) -> usize {
        self.in_use
    }

    /// Most chunks ever handed out at once.
    pub fn peak(&self) -> usize {
        self.peak
    }

    /// Chunks allocated from the system (in use or free).
    pub fn allocated(&self) -> usize {
        self.blocks.len() * BLOCK_CHUNKS
    }

    /// A cleared chunk for stream offset `offset`, or `None` when the memcap is reached.
    pub fn alloc(&mut self, offset: u64) -> Option<Handle> {
        if self.in_use >= self.max_chunks {
            return None;
        }
        if self.free.is_empty() {
            self.grow()?;
        }
        let h = self.free.pop()?;
        let m = self.meta_mut(h)?;
        m.offset = offset;
        m.next = NONE;
        m.present = [0; WORDS];
        m.starts = [0; WORDS];
        self.in_use += 1;
        self.peak = self.peak.max(self.in_use);
        Some(h)
    }

    /// Returns a chunk to the free list.
    pub fn release(&mut self, h: Handle) {
        if h != NONE && self.free.len() < self.free.capacity() {
            self.free.push(h);
            self.in_use = self.in_use.saturating_sub(1);
        }
    }

    fn grow(&mut self) -> Option<()> {
        let first = self.allocated();
        if first >= self.max_chunks {
            return None;
        }
        let n = BLOCK_CHUNKS.min(self.max_chunks - first);
        self.blocks.push(Block {
            data: vec![0u8; BLOCK_CHUNKS * CHUNK].into_boxed_slice(),
            meta: vec![Meta::default(); BLOCK_CHUNKS].into_boxed_slice(),
        });
        // Hand out low indices first (the free list is a stack).
        for i in (first..first + n).rev() {
            self.free.push(Handle::try_from(i + 1).ok()?);
        }
        Some(())
    }

    fn locate(h: Handle) -> Option<(usize, usize)> {
        let i = (h as usize).checked_sub(1)?;
        Some((i / BLOCK_CHUNKS, i % BLOCK_CHUNKS))
    }

    /// A chunk's bookkeeping.
    pub fn meta(&self, h: Handle) -> Option<&Meta> {
        let (b, i) = Self::locate(h)?;
        self.blocks.get(b)?.meta.get(i)
    }

    /// A chunk's bookkeeping, mutable.
    pub fn meta_mut(&mut self, h: Handle) -> Option<&mut Meta> {
        let (b, i) = Self::locate(h)?;
        self.blocks.get_mut(b)?.meta.get_mut(i)
    }

    /// A chunk's bytes.
    pub fn data(&self, h: Handle) -> Option<&[u8]> {
        let (b, i) = Self::locate(h)?;
        self.blocks.get(b)?.data.get(i * CHUNK..(i + 1) * CHUNK)
    }

    /// A chunk's bytes and bookkeeping, mutable.
    pub fn parts_mut(&mut self, h: Handle) -> Option<(&mut [u8], &mut Meta)> {
        let (b, i) = Self::locate(h)?;
        let block = self.blocks.get_mut(b)?;
        let data = block.data.get_mut(i * CHUNK..(i + 1) * CHUNK)?;
        let meta = block.meta.get_mut(i)?;
        Some((data, meta))
    }
}

/// Bit operations on a chunk bitmap; ranges are `[a, b)` with `b <= CHUNK`.
pub mod bits {
    use super::WORDS;

    fn mask(word: usize, a: usize, b: usize) -> u64 {
        let lo = word * 64;
        let s = a.max(lo) - lo;
        let e = b.min(lo + 64) - lo;
        if s >= e {
            return 0;
        }
        let high = if e == 64 { u64::MAX } else { (1u64 << e) - 1 };
        high & !((1u64 << s) - 1)
    }

    fn words(a: usize, b: usize) -> std::ops::Range<usize> {
        (a / 64)..b.div_ceil(64).min(WORDS)
    }

    /// Sets bits `[a, b)`.
    pub fn set(map: &mut [u64; WORDS], a: usize, b: usize) {
        for w in words(a, b) {
            if let Some(x) = map.get_mut(w) {
                *x |= mask(w, a, b);
            }
        }
    }

    /// Sets bit `i`.
    pub fn set_one(map: &mut [u64; WORDS], i: usize) {
        set(map, i, i + 1);
    }

    /// Bit `i`.
    pub fn get(map: &[u64; WORDS], i: usize) -> bool {
        map.get(i / 64).is_some_and(|w| w & (1u64 << (i % 64)) != 0)
    }

    /// The first index in `[a, b)` whose bit equals `value`.
    pub fn find(map: &[u64; WORDS], a: usize, b: usize, value: bool) -> Option<usize> {
        for w in words(a, b) {
            let x = map.get(w).copied().unwrap_or(0);
            let x = if value { x } else { !x };
            let hit = x & mask(w, a, b);
            if hit != 0 {
                return Some(w * 64 + hit.trailing_zeros() as usize);
            }
        }
        None
    }

    /// The last index in `[a, b)` whose bit equals `value`.
    pub fn rfind(map: &[u64; WORDS], a: usize, b: usize, value: bool) -> Option<usize> {
        for w in words(a, b).rev() {
            let x = map.get(w).copied().unwrap_or(0);
            let x = if value { x } else { !x };
            let hit = x & mask(w, a, b);
            if hit != 0 {
                return Some(w * 64 + 63 - hit.leading_zeros() as usize);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_ranges() {
        let mut m = [0u64; WORDS];
        bits::set(&mut m, 3, 130);
        assert!(!bits::get(&m, 2));
        assert!(bits::get(&m, 3) && bits::get(&m, 64) && bits::get(&m, 129));
        assert!(!bits::get(&m, 130));
        assert_eq!(bits::find(&m, 0, CHUNK, true), Some(3));
        assert_eq!(bits::find(&m, 3, CHUNK, false), Some(130));
        assert_eq!(bits::rfind(&m, 0, CHUNK, true), Some(129));
        assert_eq!(bits::rfind(&m, 0, 100, false), Some(2));
        assert_eq!(bits::find(&m, 10, 100, false), None);
        bits::set(&mut m, 0, CHUNK);
        assert_eq!(bits::find(&m, 0, CHUNK, false), None);
    }

    #[test]
    fn pool_caps_and_reuses() {
        let mut p = Pool::new(3 * CHUNK);
        let a = p.alloc(0).unwrap();
        let b = p.alloc(CHUNK as u64).unwrap();
        let c = p.alloc(0).unwrap();
        assert!(p.alloc(0).is_none());
        assert_eq!(p.in_use(), 3);
        p.release(b);
        let d = p.alloc(7 * CHUNK as u64).unwrap();
        assert_eq!(d, b);
        assert_eq!(p.meta(d).unwrap().offset, 7 * CHUNK as u64);
        assert_ne!(a, c);
        assert_eq!(p.allocated(), BLOCK_CHUNKS);
        assert_eq!(p.peak(), 3);
    }
}
