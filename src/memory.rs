//! The allocator's settings for a long-running server.

/// glibc gives each thread that meets contention an arena of its own, up to eight per core,
/// and keeps what each arena once held: under steady traffic the server's memory then creeps
/// up by megabytes for no live data (seen in `scripts/soak.sh` on SQLite, whose connections
/// each run on a thread of their own). Two arenas are plenty for a server on a few threads.
/// `MALLOC_ARENA_MAX`, when set, still wins. Call while the process has one thread.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only changes an allocator setting; no other thread allocates yet.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

/// glibc serves a large block (from 128 KiB) with a mapping of its own and unmaps it when it is
/// freed, but after the first such free it raises that threshold to the block's size, so the
/// next ones come from an arena and stay resident once freed: every password check (argon2id's
/// 19 MiB) then left 19 MiB behind in each arena it ran on, about 40 MiB of a 56 MiB server
/// after one setup and one device approval (`scripts/bench.sh`). A fixed threshold keeps large
/// blocks mapped and returned. `MALLOC_MMAP_THRESHOLD_`, when set, still wins. Call while the
/// process has one thread.
pub fn return_large_blocks() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
        // SAFETY: mallopt only changes an allocator setting; no other thread allocates yet.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        }
    }
}
