//! Reusable argon2 working memory, one buffer per hashing permit.
//!
//! Why it exists: argon2 needs `m_cost` KiB (19 MiB by default) per hash. Allocated and freed
//! per hash, that memory stayed with the allocator: glibc serves the first big allocation with
//! `mmap`, then raises its mmap threshold to that size, so every later buffer came from a
//! per-thread arena that keeps it after `free` (1,600 sign-ins took resident memory from 25 MiB
//! to 495 MiB, and it never came back).
//!
//! Invariants:
//! - at most `capacity` buffers are kept (the number of hashing permits); a buffer lent beyond
//!   that, or one larger than the configured parameters need (a legacy hash with more memory),
//!   is dropped when the hash is done instead of being kept;
//! - kept buffers are dropped after `release_after` without any hashing, so an idle server
//!   gives the memory back;
//! - every buffer reserves more than 32 MiB of address space (only the blocks a hash touches
//!   become resident). That is above glibc's largest dynamic mmap threshold
//!   (`DEFAULT_MMAP_THRESHOLD_MAX`, 32 MiB on 64-bit), so each buffer is its own mapping and
//!   dropping it unmaps it, whatever the allocator has seen before.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use argon2::Block;

/// More than 32 MiB in 1 KiB argon2 blocks (see the module doc).
const MIN_RESERVED_BLOCKS: usize = 32 * 1024 + 1;

pub(super) struct BlockPool {
    /// Blocks the configured parameters need; kept buffers have exactly this length.
    blocks: usize,
    capacity: usize,
    release_after: Duration,
    state: Mutex<State>,
    /// Buffers allocated since start; tests read it to see reuse.
    allocations: AtomicUsize,
}

struct State {
    free: Vec<Vec<Block>>,
    lent: usize,
    last_return: Instant,
    reaper_running: bool,
}

/// A buffer on loan; dropping it hands it back.
pub(super) struct Lease<'a> {
    pool: &'a BlockPool,
    buffer: Vec<Block>,
    keep: bool,
}

impl Lease<'_> {
    pub(super) fn blocks(&mut self) -> &mut [Block] {
        &mut self.buffer
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let buffer = std::mem::take(&mut self.buffer);
        let surplus = self.pool.give_back(buffer, self.keep);
        // Unmapping happens outside the lock.
        drop(surplus);
    }
}

impl BlockPool {
    pub(super) fn new(blocks: usize, capacity: usize, release_after: Duration) -> Self {
        Self {
            blocks,
            capacity,
            release_after,
            state: Mutex::new(State {
                free: Vec::with_capacity(capacity),
                lent: 0,
                last_return: Instant::now(),
                reaper_running: false,
            }),
            allocations: AtomicUsize::new(0),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state stays consistent across a panic (each update is one assignment).
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Lends a buffer of at least `blocks` blocks. `keep` is false for one-off callers (the
    /// CLI, start-up) whose buffer should not outlive them.
    pub(super) fn lend(&self, blocks: usize, keep: bool) -> Lease<'_> {
        let standard = blocks <= self.blocks;
        let reused = {
            let mut state = self.state();
            state.lent += 1;
            if standard {
                state.free.pop()
            } else {
                None
            }
        };
        let buffer = match reused {
            Some(buffer) => buffer,
            None => self.allocate(blocks.max(self.blocks)),
        };
        Lease {
            pool: self,
            buffer,
            keep: keep && standard,
        }
    }

    fn allocate(&self, blocks: usize) -> Vec<Block> {
        self.allocations.fetch_add(1, Ordering::Relaxed);
        let mut buffer = Vec::with_capacity(blocks.max(MIN_RESERVED_BLOCKS));
        buffer.resize(blocks, Block::new());
        buffer
    }

    /// Returns the buffer that was not kept, for the caller to drop outside the lock.
    fn give_back(&self, buffer: Vec<Block>, keep: bool) -> Option<Vec<Block>> {
        let mut state = self.state();
        state.lent = state.lent.saturating_sub(1);
        state.last_return = Instant::now();
        if keep && buffer.len() == self.blocks && state.free.len() < self.capacity {
            state.free.push(buffer);
            None
        } else {
            Some(buffer)
        }
    }

    /// Makes sure kept buffers are released once hashing stops. Needs a tokio runtime; without
    /// one (the CLI) nothing is kept anyway.
    pub(super) fn schedule_release(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        {
            let mut state = self.state();
            if state.reaper_running || state.free.is_empty() {
                return;
            }
            state.reaper_running = true;
        }
        let pool = Arc::clone(self);
        runtime.spawn(async move {
            while let Some(wait) = pool.release_if_idle() {
                tokio::time::sleep(wait).await;
            }
        });
    }

    /// Drops the kept buffers if nothing hashed for `release_after`; otherwise says how long to
    /// wait before asking again.
    fn release_if_idle(&self) -> Option<Duration> {
        let released = {
            let mut state = self.state();
            let idle_for = state.last_return.elapsed();
            if state.lent > 0 {
                return Some(self.release_after);
            }
            if idle_for < self.release_after {
                return Some(self.release_after - idle_for);
            }
            state.reaper_running = false;
            std::mem::take(&mut state.free)
        };
        drop(released);
        None
    }

    #[cfg(test)]
    pub(super) fn kept(&self) -> usize {
        self.state().free.len()
    }

    #[cfg(test)]
    pub(super) fn allocations(&self) -> usize {
        self.allocations.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    pub(super) fn kept_lengths(&self) -> Vec<usize> {
        self.state().free.iter().map(Vec::len).collect()
    }
}
