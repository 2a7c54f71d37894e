//! I/O buffers the kernel can DMA into.

use bench_core::WorkloadError;

/// A zeroed, 4 KiB-aligned buffer (O_DIRECT needs aligned memory).
pub(super) struct AlignedBuf {
    ptr: *mut u8,
    len: usize,
    layout: std::alloc::Layout,
}

// SAFETY: the buffer is uniquely owned plain memory.
unsafe impl Send for AlignedBuf {}

impl AlignedBuf {
    /// At least `len` bytes, filled with random data from `seed` (what a
    /// write without verify sends).
    pub(super) fn new(len: usize, seed: u64) -> Result<Self, WorkloadError> {
        const HUGE: usize = 2 << 20;
        let len = len.max(4096).div_ceil(4096) * 4096;
        // Large buffers on 2 MiB boundaries, backed by huge pages where the
        // kernel allows: a 1 MiB direct I/O then needs a handful of DMA
        // segments instead of 256 (virtio-blk allows ~254 per request, so
        // 4 KiB pages would split every 1 MiB request in two).
        let align = if len >= HUGE { HUGE } else { 4096 };
        let len = len.div_ceil(align) * align;
        let layout = std::alloc::Layout::from_size_align(len, align)
            .map_err(|e| WorkloadError::Other(format!("buffer of {len} bytes: {e}")))?;
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { std::alloc::alloc(layout) };
        if ptr.is_null() {
            return Err(WorkloadError::Other(format!(
                "cannot allocate a {len} byte I/O buffer"
            )));
        }
        if align == HUGE {
            // SAFETY: advisory call on memory we just allocated, page aligned.
            unsafe {
                libc::madvise(ptr.cast(), len, libc::MADV_HUGEPAGE);
            }
        }
        // SAFETY: `ptr` is valid for `len` bytes; zero it after the advice
        // so the first touch already faults in huge pages.
        unsafe { std::ptr::write_bytes(ptr, 0, len) };
        let mut buf = Self { ptr, len, layout };
        let mut rng = super::super::pattern::Rng::new(seed);
        for w in buf.slice_mut(0, len).chunks_mut(8) {
            let v = rng.next_u64().to_le_bytes();
            w.copy_from_slice(&v[..w.len()]);
        }
        Ok(buf)
    }

    /// `len` bytes from `off`.
    pub(super) fn slice_mut(&mut self, off: usize, len: usize) -> &mut [u8] {
        assert!(off + len <= self.len);
        // SAFETY: in bounds (checked above) of memory we own; `&mut self`
        // guarantees no other reference from safe code.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(off), len) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated with this layout in `new`.
        unsafe { std::alloc::dealloc(self.ptr, self.layout) }
    }
}
