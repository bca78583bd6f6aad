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
