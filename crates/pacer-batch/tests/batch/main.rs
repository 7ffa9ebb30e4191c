//! The batch layer, one test binary (each test file a module): reading, scanning and
//! streaming prompt inputs and their errors, and the results journal: records, opening,
//! resuming, the summary and export.

mod common;

mod input_errors;
mod input_formats;
mod input_scan;
mod input_shapes;
mod input_stream;
mod journal_export;
mod journal_open;
mod journal_record;
mod journal_resume;
mod journal_summary;
