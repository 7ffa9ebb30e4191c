//! The `local` provider on the real SmolLM2-135M-Instruct: set `PACER_SMOLLM2` to its .gguf
//! (`scripts/fetch-smollm2.sh` prints the path); without it these tests skip with a note.
#![cfg(feature = "local")]

use std::sync::OnceLock;

use pacer_core::{Provider, Request};
use pacer_providers::local::{LocalConfig, LocalProvider};

fn model() -> Option<&'static LocalProvider> {
    static MODEL: OnceLock<Option<LocalProvider>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let Some(path) = std::env::var_os("PACER_SMOLLM2") else {
                eprintln!(
                    "skipped: set PACER_SMOLLM2 to SmolLM2's .gguf (scripts/fetch-smollm2.sh)"
                );
                return None;
            };
            let config = LocalConfig {
                model_path: path.into(),
                device: "cpu".into(),
            };
            Some(LocalProvider::load(&config).expect("the model loads"))
        })
        .as_ref()
}

fn ask(prompt: &str, max_tokens: u32) -> Request {
    // With its template's default system prompt ("You are a helpful AI assistant named
    // SmolLM, ...") the 135M model at Q4_1 answers the capital question with "L'Étoile, ...";
    // with a plain one it answers "The capital of France is Paris."
    let mut request = Request::text("local", Some("You are a helpful assistant."), prompt);
    request.params.max_tokens = Some(max_tokens);
    request
}

#[tokio::test]
async fn the_capital_of_france_is_paris() {
    let Some(model) = model() else { return };
    let mut request = ask("What is the capital of France?", 24);
    request.params.temperature = Some(0.0);
    request.params.logprobs = true;
    let response = model.send(&request).await.unwrap();
    let choice = &response.choices[0];
    assert!(choice.text.contains("Paris"), "{:?}", choice.text);
    assert!(response.usage.input_tokens > 5 && response.usage.output_tokens > 0);
    let lps = choice.logprobs.as_ref().unwrap();
    assert!(!lps.is_empty() && lps.len() <= 50);
    for (i, lp) in lps.iter().enumerate() {
        assert_eq!(lp.token_position, i);
        assert_eq!(lp.top_tokens.len(), 5);
        assert_eq!(lp.top_logprobs.len(), 5);
        assert!(lp.top_logprobs.windows(2).all(|w| w[0] >= w[1]), "{lp:?}");
        assert!(lp.top_logprobs.iter().all(|l| *l <= 0.0), "{lp:?}");
        // Greedy: the chosen token is the most likely one.
        assert_eq!(lp.token, lp.top_tokens[0]);
    }
}

#[tokio::test]
async fn the_same_seed_gives_the_same_text() {
    let Some(model) = model() else { return };
    let mut request = ask("Write one sentence about the sea.", 20);
    request.params.temperature = Some(0.9);
    request.params.top_p = Some(0.95);
    request.params.seed = Some(42);
    let a = model.send(&request).await.unwrap().choices[0].text.clone();
    let b = model.send(&request).await.unwrap().choices[0].text.clone();
    assert_eq!(a, b);
    assert!(!a.is_empty());
}

#[tokio::test]
async fn max_tokens_and_stop_sequences_end_the_text() {
    let Some(model) = model() else { return };
    let mut request = ask("Count from 1 to 20, separated by commas.", 5);
    request.params.temperature = Some(0.0);
    let r = model.send(&request).await.unwrap();
    assert_eq!(r.usage.output_tokens, 5);
    assert_eq!(r.choices[0].finish_reason.as_str(), "length");
    request.params.max_tokens = Some(40);
    request.params.stop = vec!["5".into()];
    let r = model.send(&request).await.unwrap();
    assert!(!r.choices[0].text.contains('5'), "{:?}", r.choices[0].text);
    assert_eq!(r.choices[0].finish_reason.as_str(), "stop");
}
