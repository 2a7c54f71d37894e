//! The file a disk workload runs against: what it is, whether skubench may
//! write to it, creating and laying it out, opening it, and turning the
//! errors users meet (O_DIRECT refused, disk full) into clear messages.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use bench_core::WorkloadError;

use super::pattern::Rng;
use super::verify;

/// What a path names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetKind {
    /// Nothing yet: skubench creates it (and removes it afterwards).
    Missing,
    /// An existing regular file of this length.
    Regular {
        /// Length in bytes.
        len: u64,
    },
    /// A block device.
    BlockDevice,
    /// Anything else (character device, directory, FIFO, socket).
    Other(&'static str),
}

/// Classifies `path` (following symbolic links, since a link to a block
/// device is as dangerous as the device).
pub fn classify(path: &Path) -> io::Result<TargetKind> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(TargetKind::Missing),
        Err(e) => return Err(e),
    };
    let ft = meta.file_type();
    Ok(if ft.is_file() {
        TargetKind::Regular { len: meta.len() }
    } else if ft.is_block_device() {
        TargetKind::BlockDevice
    } else if ft.is_char_device() {
        TargetKind::Other("character device")
    } else if ft.is_dir() {
        TargetKind::Other("directory")
    } else if ft.is_fifo() {
        TargetKind::Other("FIFO")
    } else if ft.is_socket() {
        TargetKind::Other("socket")
    } else {
        TargetKind::Other("special file")
    })
}

/// Decides whether a workload may use `path` of kind `kind`. `writes` is
/// whether it will write; `allow_destructive` is the user's explicit
/// permission to overwrite what skubench did not create.
pub fn check_access(
    path: &Path,
    kind: &TargetKind,
    writes: bool,
    allow_destructive: bool,
) -> Result<(), WorkloadError> {
    let p = path.display();
    match kind {
        TargetKind::Missing => Ok(()),
        TargetKind::Other(what) => Err(WorkloadError::Other(format!(
            "{p} is a {what}, not a regular file or block device; refusing to use it"
        ))),
        TargetKind::Regular { .. } if writes && !allow_destructive => {
            Err(WorkloadError::Other(format!(
                "refusing to write to {p}: the file exists and skubench did not create it \
             (its data would be overwritten); pass --allow-destructive \
             (allow_destructive = true) to write to it anyway, or pick a new filename"
            )))
        }
        TargetKind::BlockDevice if writes && !allow_destructive => {
            Err(WorkloadError::Other(format!(
                "refusing to write to block device {p}: it would destroy the data on it; \
             pass --allow-destructive (allow_destructive = true) if that is intended"
            )))
        }
        _ => Ok(()),
    }
}

/// Length of an open file or block device (seeks to its end).
pub fn length_of(f: &File) -> io::Result<u64> {
    use std::io::Seek;
    let mut f = f;
    f.seek(io::SeekFrom::End(0))
}

/// A unique name for a file skubench creates in `dir`.
pub fn temp_name(dir: &Path) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    dir.join(format!(
        "skubench-disk.{}.{nanos:09}.tmp",
        std::process::id()
    ))
}

/// Free bytes for unprivileged users on the file system holding `dir`.
pub fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized,
    // writable statvfs the call fills in.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &mut st) != 0 {
            return None;
        }
        Some((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
    }
}

/// Explains an error of `what` on `path` in the terms a user can act on.
pub fn explain(what: &str, path: &Path, e: io::Error, direct: bool) -> WorkloadError {
    let p = path.display();
    match e.raw_os_error() {
        Some(libc::EINVAL) if direct => WorkloadError::Other(format!(
            "{what} {p}: O_DIRECT was refused (EINVAL): the file system does not support \
             direct I/O, or the block size/offset is not a multiple of the device's logical \
             block size; use direct=0 (--direct false) or a block size such as 4k"
        )),
        Some(libc::ENOSPC) => WorkloadError::Other(format!(
            "{what} {p}: no space left on the device (ENOSPC); free space, pick another \
             --dir, or lower size"
        )),
        Some(libc::EDQUOT) => WorkloadError::Other(format!(
            "{what} {p}: disk quota exceeded (EDQUOT); lower size or pick another --dir"
        )),
        _ => WorkloadError::io(format!("{what} {p}"), e),
    }
}

/// Creates `path` (it must not exist) and writes `[offset, offset+size)`
/// with real data, so reads hit the device rather than unwritten extents
/// (a fallocated file reads at a fake, memory-speed IOPS). With `verify`,
/// every `unit` block is stamped with `seed`. Removes the file on failure.
pub fn create_and_lay_out(
    path: &Path,
    offset: u64,
    size: u64,
    verify_unit: Option<usize>,
    seed: u64,
    stop: &AtomicBool,
) -> Result<(), WorkloadError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| explain("create", path, e, false))?;
    let r = lay_out(&mut f, path, offset, size, verify_unit, seed, stop);
    if r.is_err() {
        drop(f);
        let _ = std::fs::remove_file(path);
    }
    r
}

#[allow(clippy::too_many_arguments)]
fn lay_out(
    f: &mut File,
    path: &Path,
    offset: u64,
    size: u64,
    verify_unit: Option<usize>,
    seed: u64,
    stop: &AtomicBool,
) -> Result<(), WorkloadError> {
    use std::os::unix::fs::FileExt;
    const CHUNK: usize = 1 << 20;
    let unit = verify_unit.unwrap_or(4096).max(1);
    // A chunk that is a whole number of verify units.
    let chunk = (CHUNK / unit).max(1) * unit;
    let mut buf = vec![0u8; chunk];
    let mut rng = Rng::new(seed);
    if verify_unit.is_none() {
        // Random, incompressible data, refreshed in part per chunk below.
        for w in buf.chunks_mut(8) {
            let v = rng.next_u64().to_le_bytes();
            w.copy_from_slice(&v[..w.len()]);
        }
    }
    f.set_len(offset)
        .map_err(|e| explain("extend", path, e, false))?;
    let mut pos = offset;
    let end = offset + size;
    while pos < end {
        if stop.load(Ordering::Relaxed) {
            return Err(WorkloadError::Other(format!(
                "laying out {}: interrupted",
                path.display()
            )));
        }
        let n = ((end - pos) as usize).min(chunk);
        match verify_unit {
            Some(u) => {
                let whole = n / u * u;
                verify::stamp(&mut buf[..whole], pos, u, seed);
            }
            None => {
                // Change the first word of each 4 KiB so no two blocks are alike.
                for b in buf[..n].chunks_mut(4096) {
                    let v = rng.next_u64().to_le_bytes();
                    let k = b.len().min(8);
                    b[..k].copy_from_slice(&v[..k]);
                }
            }
        }
        f.write_all_at(&buf[..n], pos)
            .map_err(|e| explain("lay out", path, e, false))?;
        pos += n as u64;
    }
    f.flush().map_err(|e| explain("lay out", path, e, false))?;
    f.sync_all()
        .map_err(|e| explain("sync laid-out file", path, e, false))?;
    drop_cache(f);
    Ok(())
}

/// Drops the file's pages from the page cache (as fio's `invalidate=1`),
/// so buffered reads start cold. Best effort.
pub fn drop_cache(f: &File) {
    use std::os::fd::AsRawFd;
    // SAFETY: plain advisory call on a valid, open descriptor.
    unsafe {
        libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
    }
}

/// Opens the target for a worker.
pub fn open(path: &Path, write: bool, direct: bool) -> Result<File, WorkloadError> {
    let mut o = OpenOptions::new();
    o.read(true).write(write);
    if direct {
        o.custom_flags(libc::O_DIRECT);
    }
    o.open(path).map_err(|e| explain("open", path, e, direct))
}

/// The `/sys` stat file of the block device holding `path` (or of the
/// device itself), when there is one: `(device name, stat path)`.
pub fn device_stat(path: &Path) -> Option<(String, PathBuf)> {
    let meta = std::fs::metadata(path).ok()?;
    let dev = if meta.file_type().is_block_device() {
        meta.rdev()
    } else {
        meta.dev()
    };
    let (maj, min) = (libc::major(dev), libc::minor(dev));
    if maj == 0 {
        // Anonymous devices: tmpfs, overlayfs, btrfs subvolumes …
        return None;
    }
    let dir = PathBuf::from(format!("/sys/dev/block/{maj}:{min}"));
    let stat = dir.join("stat");
    if !stat.exists() {
        return None;
    }
    let name = std::fs::canonicalize(&dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| format!("{maj}:{min}"));
    Some((name, stat))
}

/// Counters of `/sys/block/<dev>/stat` that skubench reports.
#[derive(Clone, Copy, Debug, Default)]
pub struct DevStat {
    /// Completed reads.
    pub reads: u64,
    /// Sectors (512 B) read.
    pub read_sectors: u64,
    /// Milliseconds spent reading.
    pub read_ms: u64,
    /// Completed writes.
    pub writes: u64,
    /// Sectors written.
    pub write_sectors: u64,
    /// Milliseconds spent writing.
    pub write_ms: u64,
    /// Milliseconds the device had I/O in flight.
    pub io_ms: u64,
    /// Weighted milliseconds: time in flight summed over requests (its
    /// rate is the mean number of requests in flight).
    pub queue_ms: u64,
}

/// Reads a block device stat file.
pub fn read_dev_stat(path: &Path) -> Option<DevStat> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: Vec<u64> = text
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    if v.len() < 11 {
        return None;
    }
    Some(DevStat {
        reads: v[0],
        read_sectors: v[2],
        read_ms: v[3],
        writes: v[4],
        write_sectors: v[6],
        write_ms: v[7],
        io_ms: v[9],
        queue_ms: v[10],
    })
}

/// Removes a file skubench created; a missing file is not an error.
pub fn remove(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
