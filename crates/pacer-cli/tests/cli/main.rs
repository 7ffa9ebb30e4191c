//! The `pacer` binary end to end, one test binary (each test file a module): a run, its
//! errors, resume and interrupts, budgets, schemas, exports, keys, validation, the hosted
//! providers, batch mode, `pacer serve`, runs coordinated through a real `redis-server` and
//! (feature `local`) the local models.

mod common;

mod batch;
mod budget;
mod deployments;
mod errors;
mod export;
mod hosted;
mod interrupt;
mod keys;
mod local;
mod openai;
mod redis;
mod report;
mod resume;
mod run;
mod schema;
mod serve;
mod shapes;
mod validate;
