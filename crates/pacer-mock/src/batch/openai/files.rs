//! OpenAI's Files API, as far as batches need it: a JSONL input file uploaded as a
//! multipart form (`purpose` = `batch`), read back, deleted; and the output and error files
//! of ended batches, served the same way (made when read).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use hyper::StatusCode;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::output::{file_ids, files};
use super::{Submission, number};
use crate::batch::clock::unix;
use crate::batch::store::{Api, Batch, File};
use crate::handler::{BodyError, Shared, read_body_up_to, unix_seconds};
use crate::respond::{Dropped, Reply, bad_request, error, json, json_value};
use crate::stats::Counters;

/// The largest batch input file, as OpenAI allows.
const MAX_FILE: usize = 200 << 20;

/// Room for the multipart form around the file.
const FORM_SLACK: usize = 1 << 20;

/// The number in an uploaded file's id, `file-<n>`.
pub(super) fn file_number(id: &str) -> Option<u64> {
    id.strip_prefix("file-")?.parse().ok()
}

/// A file the server holds.
enum Found {
    /// An uploaded file.
    Uploaded(u64, File),
    /// A batch's output (`errors` false) or error file.
    Output {
        batch: Batch,
        submission: Arc<Submission>,
        errors: bool,
    },
}

/// The file `id` at `now`, or OpenAI's 404.
fn find(shared: &Shared, id: &str, now: Instant) -> Result<Found, Box<Reply>> {
    if let Some(n) = file_number(id) {
        return shared
            .batches
            .file(n)
            .map(|file| Found::Uploaded(n, file))
            .ok_or_else(|| Box::new(no_file(id)));
    }
    let output = id
        .strip_prefix("file-")
        .and_then(|rest| rest.rsplit_once('-'))
        .and_then(|(batch, kind)| Some((number(batch)?, kind == "errors")))
        .and_then(|(n, errors)| Some((shared.batches.get(n)?, errors)));
    if let Some((batch, errors)) = output
        && let Api::OpenAi(submission) = &batch.api
    {
        let (out, err) = file_ids(&batch, now);
        let listed = if errors { err } else { out };
        if listed.as_deref() == Some(id) && !shared.batches.output_deleted(id) {
            let submission = submission.clone();
            return Ok(Found::Output {
                batch,
                submission,
                errors,
            });
        }
    }
    Err(Box::new(no_file(id)))
}

/// OpenAI's 404 for a file it does not hold.
fn no_file(id: &str) -> Reply {
    error(
        StatusCode::NOT_FOUND,
        format!("No such File object: {id}"),
        "invalid_request_error",
        None,
        Some("id"),
    )
}

/// A file object.
fn object(id: &str, bytes: usize, created_at: u64, filename: &str, purpose: &str) -> Value {
    json!({
        "id": id,
        "object": "file",
        "bytes": bytes,
        "created_at": created_at,
        "expires_at": null,
        "filename": filename,
        "purpose": purpose,
        "status": "processed",
        "status_details": null,
    })
}

/// The bytes of `found` at `now`, its object's fields besides.
fn contents(shared: &Shared, id: &str, found: Found, now: Instant) -> (Bytes, Value) {
    match found {
        Found::Uploaded(_, file) => {
            let object = object(id, file.bytes.len(), file.created_at, &file.name, "batch");
            (file.bytes, object)
        }
        Found::Output {
            batch,
            submission,
            errors,
        } => {
            let (output, error_file) = files(shared, &batch, &submission, now).unwrap_or_default();
            let bytes = if errors { error_file } else { output };
            let kind = if errors { "error" } else { "output" };
            let name = format!("batch_{}_{kind}.jsonl", batch.number);
            let created_at = unix(batch.timeline.wall(batch.timeline.ends()));
            let object = object(id, bytes.len(), created_at, &name, "batch_output");
            (bytes.into(), object)
        }
    }
}

/// `GET /v1/files/{id}`.
pub(super) fn get(shared: &Shared, id: &str, now: Instant) -> Reply {
    match find(shared, id, now) {
        Ok(found) => json_value(StatusCode::OK, &contents(shared, id, found, now).1),
        Err(reply) => *reply,
    }
}

/// `GET /v1/files/{id}/content`.
pub(super) fn content(shared: &Shared, id: &str, now: Instant) -> Reply {
    match find(shared, id, now) {
        Ok(found) => {
            let mut reply = json(StatusCode::OK, contents(shared, id, found, now).0);
            reply.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            reply
        }
        Err(reply) => *reply,
    }
}

/// `DELETE /v1/files/{id}`.
pub(super) fn delete(shared: &Shared, id: &str, now: Instant) -> Reply {
    let deleted = match find(shared, id, now) {
        Ok(Found::Uploaded(n, _)) => shared.batches.remove_file(n),
        Ok(Found::Output { .. }) => shared.batches.delete_output(id),
        Err(reply) => return *reply,
    };
    json_value(
        StatusCode::OK,
        &json!({"id": id, "object": "file", "deleted": deleted}),
    )
}

/// The fields of an upload form.
#[derive(Default)]
struct Form {
    purpose: Option<String>,
    /// The file's name and bytes.
    file: Option<(String, Bytes)>,
}

/// The upload form in `body`, its parts separated by `boundary`.
async fn read_form(body: Bytes, boundary: String) -> Result<Form, multer::Error> {
    let stream = futures_util::stream::once(async move { Ok::<Bytes, Infallible>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut form = Form::default();
    while let Some(field) = multipart.next_field().await? {
        match field.name() {
            Some("purpose") => form.purpose = Some(field.text().await?),
            Some("file") => {
                let name = field.file_name().unwrap_or("file.jsonl").to_owned();
                form.file = Some((name, field.bytes().await?));
            }
            _ => {}
        }
    }
    Ok(form)
}

/// What is wrong with an upload, as OpenAI words it, if anything.
fn check(form: &Form) -> Option<Reply> {
    let Some(purpose) = &form.purpose else {
        return Some(missing("purpose"));
    };
    if purpose != "batch" {
        return Some(bad_request(
            format!(
                "Invalid value for 'purpose': '{purpose}'. pacer mock stores only batch input \
                 files: 'batch'."
            ),
            Some("purpose"),
            Some("invalid_value"),
        ));
    }
    let Some((_, bytes)) = &form.file else {
        return Some(missing("file"));
    };
    if bytes.len() > MAX_FILE {
        return Some(too_large());
    }
    let first = bytes
        .split(|b| *b == b'\n')
        .find(|l| !l.trim_ascii().is_empty());
    let object = first.and_then(|line| serde_json::from_slice::<Value>(line).ok());
    if !object.is_some_and(|v| v.is_object()) {
        return Some(bad_request(
            "Invalid file format for Batch API. Must be .jsonl",
            Some("file"),
            None,
        ));
    }
    None
}

/// The 400 for a form without the field `name`.
fn missing(name: &str) -> Reply {
    bad_request(
        format!("Missing required parameter: '{name}'."),
        Some(name),
        Some("missing_required_parameter"),
    )
}

/// The 400 for a file over the limit.
fn too_large() -> Reply {
    bad_request(
        format!("The file is larger than the {MAX_FILE} bytes a batch input file may have."),
        Some("file"),
        None,
    )
}

/// `POST /v1/files`: a multipart form with `purpose` = `batch` and `file`, a JSONL file.
pub(super) async fn upload(
    shared: &Shared,
    req: hyper::Request<Incoming>,
) -> Result<Reply, Dropped> {
    let boundary = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| multer::parse_boundary(v).ok());
    let Some(boundary) = boundary else {
        return Ok(bad_request(
            "Invalid Content-Type header: expected multipart/form-data with a boundary.",
            None,
            None,
        ));
    };
    let body = match read_body_up_to(req.into_body(), MAX_FILE + FORM_SLACK).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => return Ok(too_large()),
        Err(BodyError::Gone) => return Err(Dropped),
    };
    let form = match read_form(body, boundary).await {
        Ok(form) => form,
        Err(e) => {
            return Ok(bad_request(
                format!("Could not parse the multipart form: {e}"),
                None,
                None,
            ));
        }
    };
    if let Some(reply) = check(&form) {
        return Ok(reply);
    }
    let Some((name, bytes)) = form.file else {
        return Ok(missing("file"));
    };
    let created_at = unix_seconds();
    let size = bytes.len();
    let n = shared.batches.add_file(File {
        name: name.clone(),
        bytes,
        created_at,
    });
    Counters::bump(&shared.counters.files_uploaded);
    let id = format!("file-{n}");
    Ok(json_value(
        StatusCode::OK,
        &object(&id, size, created_at, &name, "batch"),
    ))
}
