//! The engine's lanes, one test binary (each test file a module): their guarantees, attempts,
//! single calls, in-flight count and pacing on tokio's paused clock, the budget, structured
//! output, and lanes against `pacer mock` on loopback.

mod common;

mod budget;
mod lane;
mod lane_attempts;
mod lane_call;
mod lane_in_flight;
mod lane_mock_server;
mod lane_pacing;
mod structured;
