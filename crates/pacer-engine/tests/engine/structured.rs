//! Structured output in the lane, on tokio's paused clock: every reply checked against the
//! schema, invalid ones retried as `InvalidOutput`, the parsed value handed on.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use pacer_core::{
    Accounting, Choice, ErrorKind, FinishReason, Provider, ProviderError, Request, Response, Usage,
};
use pacer_engine::{Event, Lane, LaneConfig, Observer, Outcome, SchemaValidator, WorkItem};
use serde_json::{Value, json};

/// A provider answering call `i` with the `i`-th script entry (the last one repeating); an
/// entry holds one text per choice.
struct Scripted {
    texts: Vec<Vec<&'static str>>,
    calls: AtomicU64,
}

#[async_trait]
impl Provider for Scripted {
    fn kind(&self) -> &'static str {
        "scripted"
    }
    fn accounting(&self) -> Accounting {
        Accounting::Actual
    }
    async fn send(&self, _: &Request) -> Result<Response, ProviderError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) as usize;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let texts = &self.texts[call.min(self.texts.len() - 1)];
        Ok(Response {
            model_version: None,
            choices: texts
                .iter()
                .map(|text| Choice {
                    text: (*text).into(),
                    finish_reason: FinishReason::Stop,
                    logprobs: None,
                    parsed: None,
                    tool_calls: Vec::new(),
                })
                .collect(),
            usage: Usage {
                input_tokens: 10,
                output_tokens: 5,
                ..Usage::default()
            },
            rate_limits: None,
            first_token: None,
            embeddings: Vec::new(),
        })
    }
}

/// Records the kind of every retry.
#[derive(Default)]
struct Retries(Mutex<Vec<ErrorKind>>);

impl Observer for Retries {
    fn on_event(&self, event: &Event<'_>) {
        if let Event::Retried { kind, .. } = event {
            self.0.lock().unwrap().push(*kind);
        }
    }
}

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {"answer": {"type": "string"}, "confidence": {"type": "number"}},
        "required": ["answer", "confidence"]
    })
}

/// Runs one item through a lane with `schema()` as its validator; the outcome, the calls
/// made and the retries' kinds.
async fn run(texts: Vec<Vec<&'static str>>, validate: bool) -> (Outcome<()>, u64, Vec<ErrorKind>) {
    let provider = Arc::new(Scripted {
        texts,
        calls: AtomicU64::new(0),
    });
    let mut config = LaneConfig::new("structured");
    config.concurrency = Some(NonZeroUsize::MIN);
    config.jitter_seed = Some(7);
    if validate {
        config.validator = Some(Arc::new(SchemaValidator::new(Arc::new(schema())).unwrap()));
    }
    let retries = Arc::new(Retries::default());
    let lane = Lane::builder(config, provider.clone())
        .observer(retries.clone())
        .build();
    let mut outcomes = Vec::new();
    let item = WorkItem::prompt("q", Request::text("m", None, "Capital of France?"), ());
    lane.process_all([item], |o| outcomes.push(o)).await;
    assert_eq!(outcomes.len(), 1);
    let kinds = retries.0.lock().unwrap().clone();
    (
        outcomes.pop().unwrap(),
        provider.calls.load(Ordering::SeqCst),
        kinds,
    )
}

const VALID: &str = r#"{"answer": "Paris", "confidence": 0.9}"#;

#[tokio::test(start_paused = true)]
async fn invalid_twice_then_valid_succeeds_after_two_retries_with_the_value() {
    let (outcome, calls, retries) = run(
        vec![
            vec!["Sure! The answer is Paris."],
            vec![r#"{"answer": "Paris"}"#],
            vec![VALID],
        ],
        true,
    )
    .await;
    let response = outcome.result.as_ref().expect("the third reply is valid");
    assert_eq!(
        response.choices[0].parsed,
        Some(json!({"answer": "Paris", "confidence": 0.9}))
    );
    assert_eq!((outcome.attempts, outcome.retry_count(), calls), (3, 2, 3));
    assert_eq!(retries, [ErrorKind::InvalidOutput; 2]);
    // The two refused replies were billed too.
    assert_eq!(outcome.usage_all_attempts.input_tokens, 30);
}

#[tokio::test(start_paused = true)]
async fn always_invalid_ends_as_invalid_output_after_the_retries() {
    let (outcome, calls, retries) = run(vec![vec![r#"{"answer": 42}"#]], true).await;
    let error = outcome.result.expect_err("never valid");
    assert_eq!(error.kind, ErrorKind::InvalidOutput);
    assert_eq!(
        error.message,
        "does not match the schema: at /: \"confidence\" is a required property; \
         at /answer: 42 is not of type \"string\""
    );
    // The default policy: 3 retries, so 4 calls, and the last one's bill on the error.
    assert_eq!((outcome.attempts, calls), (4, 4));
    assert_eq!(retries, [ErrorKind::InvalidOutput; 3]);
    assert_eq!(error.usage.map(|u| u.output_tokens), Some(5));
    assert_eq!(outcome.usage_all_attempts.output_tokens, 20);
}

#[tokio::test(start_paused = true)]
async fn one_invalid_choice_makes_the_whole_call_invalid() {
    let (outcome, calls, _) = run(
        vec![
            vec![VALID, "no JSON here"],
            vec![
                VALID,
                "```json\n{\"answer\": \"Lyon\", \"confidence\": 0.1}\n```",
            ],
        ],
        true,
    )
    .await;
    let response = outcome.result.expect("the second call is valid");
    assert_eq!(calls, 2);
    let parsed: Vec<_> = response.choices.iter().map(|c| c.parsed.clone()).collect();
    assert_eq!(
        parsed,
        [
            Some(json!({"answer": "Paris", "confidence": 0.9})),
            // Fenced JSON is read without its fence; the text is kept as it came.
            Some(json!({"answer": "Lyon", "confidence": 0.1})),
        ]
    );
    assert!(response.choices[1].text.starts_with("```json"));
}

#[tokio::test(start_paused = true)]
async fn the_error_names_the_invalid_choice_of_several() {
    let (outcome, _, _) = run(vec![vec![VALID, "no JSON here"]], true).await;
    let error = outcome.result.unwrap_err();
    assert!(
        error.message.starts_with("completion 1 of 2: not JSON: ")
            && error.message.ends_with("the reply began \"no JSON here\""),
        "{}",
        error.message
    );
}

#[tokio::test(start_paused = true)]
async fn without_a_validator_nothing_is_checked_or_parsed() {
    let (outcome, calls, _) = run(vec![vec!["not JSON at all"]], false).await;
    let response = outcome.result.unwrap();
    assert_eq!((calls, response.choices[0].parsed.clone()), (1, None));
}
