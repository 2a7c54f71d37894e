//! Struct member offsets from the kernel's BTF (`/sys/kernel/btf/vmlinux`).
//!
//! The raw block tracepoints hand the eBPF program a `struct request *`;
//! finding its device takes three member offsets that differ between
//! kernels and builds. BTF carries them. Written by hand, about a hundred
//! lines: aya-obj parses BTF but keeps its type accessors crate-private, and
//! the one standalone parser (btf-rs) is LGPL, which a statically linked
//! Apache-2.0 binary would rather not carry. Only what a member lookup needs
//! is read; every length is checked, so a damaged file is an error, never a
//! panic.

use std::collections::HashMap;

/// Why an offset could not be found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BtfError {
    /// Not BTF, or cut short.
    #[error("not a BTF blob: {0}")]
    Format(String),
    /// No struct of that name has that member.
    #[error("no struct {strukt} with a member {member} in kernel BTF")]
    NoMember {
        /// Struct name.
        strukt: String,
        /// Member name.
        member: String,
    },
    /// The member is a bitfield or not byte-aligned.
    #[error("{strukt}.{member} is a bitfield")]
    Bitfield {
        /// Struct name.
        strukt: String,
        /// Member name.
        member: String,
    },
}

const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;

/// One member of a struct: its name, byte offset and type id.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Member {
    name: String,
    /// Bit offset, or `None` for a bitfield.
    bit_offset: Option<u32>,
}

/// The structs of a BTF blob, by name (the first of each name wins: vmlinux
/// BTF is deduplicated, so there is one).
#[derive(Debug, Default)]
pub struct Structs {
    by_name: HashMap<String, Vec<Member>>,
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, BtfError> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| BtfError::Format(format!("cut short at byte {at}")))
}

fn cstr(strings: &[u8], off: u32) -> Result<String, BtfError> {
    let s = strings
        .get(off as usize..)
        .ok_or_else(|| BtfError::Format(format!("string offset {off} out of range")))?;
    let end = s.iter().position(|&c| c == 0).unwrap_or(s.len());
    Ok(String::from_utf8_lossy(&s[..end]).into_owned())
}

impl Structs {
    /// Parses a little-endian BTF blob (as the running kernel exports it).
    pub fn parse(b: &[u8]) -> Result<Self, BtfError> {
        if b.len() < 24 || b[0..2] != [0x9f, 0xeb] {
            return Err(BtfError::Format("no BTF magic".into()));
        }
        let hdr_len = u32_at(b, 4)? as usize;
        let (type_off, type_len) = (u32_at(b, 8)? as usize, u32_at(b, 12)? as usize);
        let (str_off, str_len) = (u32_at(b, 16)? as usize, u32_at(b, 20)? as usize);
        let section = |off: usize, len: usize| {
            hdr_len
                .checked_add(off)
                .and_then(|s| Some((s, s.checked_add(len)?)))
                .and_then(|(s, e)| b.get(s..e))
                .ok_or_else(|| BtfError::Format("a section lies outside the blob".into()))
        };
        let types = section(type_off, type_len)?;
        let strings = section(str_off, str_len)?;
        let mut out = Structs::default();
        let mut at = 0usize;
        while at < types.len() {
            let name_off = u32_at(types, at)?;
            let info = u32_at(types, at + 4)?;
            let (vlen, kind, kflag) = (info & 0xffff, (info >> 24) & 0x1f, info >> 31 == 1);
            at += 12;
            // Bytes of kind-specific data after the common 12-byte header.
            let extra = match kind {
                1 | 14 | 17 => 4,                      // int, var, decl_tag
                3 => 12,                               // array
                4 | 5 | 15 | 19 => 12 * vlen as usize, // struct, union, datasec, enum64
                6 | 13 => 8 * vlen as usize,           // enum, func_proto
                2 | 7..=12 | 16 | 18 => 0,
                k => return Err(BtfError::Format(format!("unknown type kind {k}"))),
            };
            if matches!(kind, KIND_STRUCT | KIND_UNION) && name_off != 0 {
                let name = cstr(strings, name_off)?;
                if let std::collections::hash_map::Entry::Vacant(slot) = out.by_name.entry(name) {
                    let mut members = Vec::with_capacity(vlen as usize);
                    for i in 0..vlen as usize {
                        let m = at + 12 * i;
                        let raw = u32_at(types, m + 8)?;
                        let (bits, size) = if kflag {
                            (raw & 0xff_ffff, raw >> 24)
                        } else {
                            (raw, 0)
                        };
                        members.push(Member {
                            name: cstr(strings, u32_at(types, m)?)?,
                            bit_offset: (size == 0 && bits % 8 == 0).then_some(bits),
                        });
                    }
                    slot.insert(members);
                }
            }
            at += extra;
        }
        Ok(out)
    }

    /// The running kernel's structs.
    pub fn from_kernel() -> Result<Self, BtfError> {
        let b = std::fs::read("/sys/kernel/btf/vmlinux")
            .map_err(|e| BtfError::Format(format!("/sys/kernel/btf/vmlinux: {e}")))?;
        Self::parse(&b)
    }

    /// The byte offset of `strukt.member`.
    pub fn offset(&self, strukt: &str, member: &str) -> Result<u32, BtfError> {
        let m = self
            .by_name
            .get(strukt)
            .and_then(|ms| ms.iter().find(|m| m.name == member))
            .ok_or_else(|| BtfError::NoMember {
                strukt: strukt.into(),
                member: member.into(),
            })?;
        m.bit_offset
            .map(|b| b / 8)
            .ok_or_else(|| BtfError::Bitfield {
                strukt: strukt.into(),
                member: member.into(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A blob with one struct `s { int a; ptr b; }` at bit offsets 0, 64.
    fn blob(kflag: bool, b_off: u32) -> Vec<u8> {
        let strings = b"\0s\0a\0b\0int\0".to_vec();
        let mut types = Vec::new();
        let mut push = |v: u32| types.extend_from_slice(&v.to_le_bytes());
        // [1] int "int", 4 bytes
        push(7);
        push(1 << 24);
        push(4);
        push(32);
        // [2] ptr -> 1
        push(0);
        push(2 << 24);
        push(1);
        // [3] struct "s", 2 members, 16 bytes
        push(1);
        push((4 << 24) | 2 | if kflag { 1 << 31 } else { 0 });
        push(16);
        push(3);
        push(1);
        push(0);
        push(5);
        push(2);
        push(b_off);
        let mut b = vec![0x9f, 0xeb, 1, 0];
        for v in [
            24u32,
            0,
            types.len() as u32,
            types.len() as u32,
            strings.len() as u32,
        ] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&types);
        b.extend_from_slice(&strings);
        b
    }

    #[test]
    fn member_offsets_are_read_in_bytes() {
        let s = Structs::parse(&blob(false, 64)).unwrap();
        assert_eq!(s.offset("s", "a"), Ok(0));
        assert_eq!(s.offset("s", "b"), Ok(8));
        assert!(matches!(s.offset("s", "c"), Err(BtfError::NoMember { .. })));
        assert!(matches!(s.offset("t", "a"), Err(BtfError::NoMember { .. })));
        // kind_flag: offset in the low 24 bits, bitfield size above.
        let s = Structs::parse(&blob(true, (3 << 24) | 64)).unwrap();
        assert!(matches!(s.offset("s", "b"), Err(BtfError::Bitfield { .. })));
        let s = Structs::parse(&blob(true, 64)).unwrap();
        assert_eq!(s.offset("s", "b"), Ok(8));
    }

    #[test]
    fn damaged_blobs_are_errors_not_panics() {
        let good = blob(false, 64);
        for cut in 0..good.len() {
            let _ = Structs::parse(&good[..cut]);
        }
        let mut bad = good.clone();
        bad[0] = 0;
        assert!(Structs::parse(&bad).is_err());
        let mut bad = good.clone();
        bad[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Structs::parse(&bad).is_err());
    }

    #[test]
    fn the_running_kernel_has_the_block_layer_members() {
        // Only where the kernel exports BTF (most distribution kernels).
        let Ok(s) = Structs::from_kernel() else {
            return;
        };
        let disk = s.offset("gendisk", "major").unwrap();
        let minor = s.offset("gendisk", "first_minor").unwrap();
        assert_ne!(disk, minor);
        assert!(s.offset("request", "q").is_ok() || s.offset("request", "rq_disk").is_ok());
    }
}
