//! The rate limiter on tokio's paused clock, one test binary (each test file a module): its
//! arithmetic, first come first served, pacing to what a server says, and rate-limit
//! verdicts; and, against a real `redis-server`, limits shared between limiters.

mod limiter;
mod line;
mod server_word;
mod shared;
mod verdicts;
