//! The providers' batch APIs, faithful to their wire formats: OpenAI's files and
//! `/v1/batches`, Anthropic's `/v1/messages/batches` and Gemini's `batchGenerateContent`
//! and `batches`, so that a batch client can be tested without a network.
//!
//! A batch is a separate pool from the live endpoints: none of their limits, latency or
//! faults apply, and its requests count only in `requests` and `batch_requests` (its lines
//! in the `batch_*` counters). Each line's body is the body the live endpoint takes, read,
//! checked and answered by the live endpoint's own code. What becomes of a line (answered,
//! refused, failed, expired) is drawn when its batch is created ([`draw`]); when it ends is
//! worked out from the clock when it is read ([`clock`]); its results are made when they
//! are read, in a shuffled order where the API matches results by `custom_id`.
//!
//! Gemini's paths are also served under `/v1`, where `GET /v1/batches` is OpenAI's list
//! unless the request carries a Gemini key (`x-goog-api-key`, `?key=`) or Gemini's paging
//! (`pageSize`, `pageToken`), and `/v1/batches/{id}` is Gemini's when the id is a bare
//! number (OpenAI's are `batch_<n>`).

mod anthropic;
mod clock;
mod config;
mod draw;
mod gemini;
mod lines;
mod openai;
mod store;

use hyper::body::Incoming;

pub use config::MockBatchConfig;
pub(crate) use store::Batches;

use crate::handler::Shared;
use crate::respond::{Dropped, Reply};
use store::Batch;

/// A batch or file endpoint, by API.
#[derive(Debug)]
pub(crate) enum Route {
    /// One of OpenAI's.
    OpenAi(openai::Route),
    /// One of Anthropic's.
    Anthropic(anthropic::Route),
    /// One of Gemini's.
    Gemini(gemini::Route),
}

/// The batch or file endpoint `req` is for; `None` for any other request.
pub(crate) fn route<B>(req: &hyper::Request<B>) -> Option<Route> {
    let (method, path) = (req.method(), req.uri().path());
    if let Some(route) = anthropic::route(method, path) {
        return Some(Route::Anthropic(route));
    }
    if let Some(route) = gemini::route(req) {
        return Some(Route::Gemini(route));
    }
    openai::route(method, path).map(Route::OpenAi)
}

/// Serves a batch or file request, after counting in the stats the batches that have ended.
pub(crate) async fn serve(
    shared: &Shared,
    route: Route,
    req: hyper::Request<Incoming>,
) -> Result<Reply, Dropped> {
    shared
        .batches
        .settle(tokio::time::Instant::now(), &shared.counters);
    match route {
        Route::OpenAi(route) => openai::serve(shared, route, req).await,
        Route::Anthropic(route) => anthropic::serve(shared, route, req).await,
        Route::Gemini(route) => gemini::serve(shared, route, req).await,
    }
}

/// The query parameter `name` of `req`, percent-decoded (`+` as a space).
pub(crate) fn query<B>(req: &hyper::Request<B>, name: &str) -> Option<String> {
    req.uri().query()?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name)
            .then(|| crate::gemini::percent_decode(&value.replace('+', " ")).unwrap_or_default())
    })
}

/// The query parameter `name` of `req` as a page size: `default` when absent or not a
/// number, else clamped to `1..=max`.
pub(crate) fn page_size<B>(
    req: &hyper::Request<B>,
    name: &str,
    default: usize,
    max: usize,
) -> usize {
    query(req, name)
        .and_then(|v| v.parse::<usize>().ok())
        .map_or(default, |n| n.clamp(1, max))
}

/// A page of `batches` (newest first): up to `limit` of those older than the one numbered
/// `after`, or else of those newer than `before` (the nearest to it), or else the newest;
/// and whether there are more that way.
pub(crate) fn page(
    batches: Vec<Batch>,
    after: Option<u64>,
    before: Option<u64>,
    limit: usize,
) -> (Vec<Batch>, bool) {
    let mut batches: Vec<Batch> = match (after, before) {
        (Some(after), _) => batches.into_iter().filter(|b| b.number < after).collect(),
        (None, Some(before)) => {
            let newer: Vec<Batch> = batches.into_iter().filter(|b| b.number > before).collect();
            let more = newer.len() > limit;
            let skip = newer.len().saturating_sub(limit);
            return (newer.into_iter().skip(skip).collect(), more);
        }
        (None, None) => batches,
    };
    let more = batches.len() > limit;
    batches.truncate(limit);
    (batches, more)
}

#[cfg(test)]
mod tests {
    use hyper::{Method, Request};

    use super::store::{Api, Batch};
    use super::{Route, anthropic, gemini, openai, page, route};

    fn routed(method: Method, uri: &str, header: Option<(&str, &str)>) -> Option<Route> {
        let mut builder = Request::builder().method(method).uri(uri);
        if let Some((name, value)) = header {
            builder = builder.header(name, value);
        }
        route(&builder.body(()).unwrap())
    }

    #[test]
    fn v1_paths_go_to_openai_unless_they_are_geminis() {
        use Method as M;
        let openai = |m, uri| matches!(routed(m, uri, None), Some(Route::OpenAi(_)));
        let gemini = |m, uri, header| matches!(routed(m, uri, header), Some(Route::Gemini(_)));
        assert!(openai(M::GET, "/v1/batches"));
        assert!(openai(M::GET, "/v1/batches?limit=2&after=batch_3"));
        assert!(openai(M::GET, "/v1/batches/batch_3"));
        assert!(openai(M::POST, "/v1/batches/batch_3/cancel"));
        assert!(openai(M::DELETE, "/v1/files/file-1"));
        assert!(gemini(M::GET, "/v1/batches?pageSize=2", None));
        assert!(gemini(M::GET, "/v1/batches", Some(("x-goog-api-key", "k"))));
        assert!(gemini(M::GET, "/v1/batches/3", None));
        assert!(gemini(M::POST, "/v1/batches/3:cancel", None));
        assert!(gemini(M::DELETE, "/v1beta/batches/3", None));
        assert!(gemini(
            M::POST,
            "/v1/models/gemini-2.0-flash:batchGenerateContent",
            None
        ));
        assert!(matches!(
            routed(M::GET, "/v1/messages/batches/msgbatch_1/results", None),
            Some(Route::Anthropic(anthropic::Route::Results(id))) if id == "msgbatch_1"
        ));
        assert!(matches!(
            routed(M::POST, "/v1beta/batches/7:cancel", None),
            Some(Route::Gemini(gemini::Route::Cancel(id))) if id == "7"
        ));
        assert!(matches!(
            routed(M::GET, "/v1/files/file-2/content", None),
            Some(Route::OpenAi(openai::Route::Content(id))) if id == "file-2"
        ));
        for (method, uri) in [
            (M::POST, "/v1/chat/completions"),
            (M::POST, "/v1beta/models/g:generateContent"),
            (M::GET, "/v1/models"),
            (M::PUT, "/v1/batches"),
            (M::POST, "/v1/filesystem"),
        ] {
            assert!(routed(method, uri, None).is_none(), "{uri}");
        }
    }

    #[test]
    fn pages_run_newest_first_either_way() {
        let all = || {
            (1..=5)
                .rev()
                .map(|n| Batch::failed(n, Api::Anthropic))
                .collect::<Vec<_>>()
        };
        let numbers = |(page, more): (Vec<Batch>, bool)| {
            (page.iter().map(|b| b.number).collect::<Vec<_>>(), more)
        };
        assert_eq!(numbers(page(all(), None, None, 2)), (vec![5, 4], true));
        assert_eq!(numbers(page(all(), Some(4), None, 2)), (vec![3, 2], true));
        assert_eq!(numbers(page(all(), Some(2), None, 2)), (vec![1], false));
        assert_eq!(numbers(page(all(), None, Some(2), 2)), (vec![4, 3], true));
        assert_eq!(numbers(page(all(), None, Some(4), 2)), (vec![5], false));
    }
}
