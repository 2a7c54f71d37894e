//! Data verification: every written block carries a header with its own
//! offset, the writer's seed and a CRC-32 of the whole block; reads check it.
//!
//! Block layout (`unit` bytes, little-endian):
//! `[0..8)` magic, `[8..16)` offset, `[16..24)` seed, `[24..28)` CRC-32 of
//! the block with this field left out, `[28..32)` unit length, then a body
//! generated from (seed, offset). A block from another run, a misdirected
//! write (wrong offset) and a flipped bit are all caught.

use super::pattern::Rng;

/// Header magic (`SKUBDSK1`).
pub const MAGIC: u64 = u64::from_le_bytes(*b"SKUBDSK1");
/// Smallest block that can hold a header and some body.
pub const MIN_UNIT: u64 = 64;
/// Header length in bytes.
pub const HEADER: usize = 32;

/// A verification failure at one block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// Byte offset of the bad block in the file.
    pub offset: u64,
    /// What did not match.
    pub what: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "verify failed at offset {}: {}", self.offset, self.what)
    }
}

/// Fills `buf` (a multiple of `unit`) with stamped blocks starting at file
/// offset `offset`, written by `seed`.
pub fn stamp(buf: &mut [u8], offset: u64, unit: usize, seed: u64) {
    for (i, block) in buf.chunks_exact_mut(unit).enumerate() {
        let off = offset + (i * unit) as u64;
        let mut rng = Rng::new(seed ^ off.rotate_left(17));
        for w in block[HEADER..].chunks_mut(8) {
            let v = rng.next_u64().to_le_bytes();
            w.copy_from_slice(&v[..w.len()]);
        }
        block[0..8].copy_from_slice(&MAGIC.to_le_bytes());
        block[8..16].copy_from_slice(&off.to_le_bytes());
        block[16..24].copy_from_slice(&seed.to_le_bytes());
        block[28..32].copy_from_slice(&(unit as u32).to_le_bytes());
        let crc = block_crc(block);
        block[24..28].copy_from_slice(&crc.to_le_bytes());
    }
}

fn block_crc(block: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&block[0..24]);
    h.update(&block[28..]);
    h.finalize()
}

fn le64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

fn le32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

/// Checks the blocks of `buf`, read from file offset `offset`. `tag` is the
/// run's tag: the high 32 bits of every writer's seed, so a block left by
/// another run is caught too.
pub fn check(buf: &[u8], offset: u64, unit: usize, tag: u64) -> Result<(), Mismatch> {
    for (i, block) in buf.chunks_exact(unit).enumerate() {
        let off = offset + (i * unit) as u64;
        let bad = |what: String| Mismatch { offset: off, what };
        let magic = le64(&block[0..8]);
        if magic != MAGIC {
            return Err(bad(format!(
                "no block header (magic {magic:#018x}): the block was not written by skubench or was overwritten"
            )));
        }
        let stored_off = le64(&block[8..16]);
        if stored_off != off {
            return Err(bad(format!(
                "block carries offset {stored_off} (a misplaced write)"
            )));
        }
        let seed = le64(&block[16..24]);
        if seed >> 32 != tag >> 32 {
            return Err(bad(format!(
                "block was written by another run (seed {seed:#x})"
            )));
        }
        let stored_unit = le32(&block[28..32]) as usize;
        if stored_unit != unit {
            return Err(bad(format!(
                "block length {stored_unit} in the header, expected {unit}"
            )));
        }
        let crc = le32(&block[24..28]);
        let actual = block_crc(block);
        if crc != actual {
            return Err(bad(format!(
                "checksum mismatch (stored {crc:#010x}, computed {actual:#010x})"
            )));
        }
    }
    Ok(())
}
