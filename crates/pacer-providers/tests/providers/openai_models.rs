//! What the OpenAI provider does differently per model: reasoning models' parameters and
//! samples per call, a custom reasoning pattern, `supports_n`, the encoding behind token
//! estimates, and its accounting (with the key kept out of `Debug`).

use crate::support::openai::*;
use pacer_core::{Accounting, Provider, Request};
use pacer_providers::openai::{
    Api, Encoding, OpenAiConfig, OpenAiProvider, chat_prompt_tokens, completion_prompt_tokens,
};
use regex::Regex;
use serde_json::json;

#[tokio::test]
async fn reasoning_models_get_max_completion_tokens_and_no_sampling_parameters() {
    for model in ["o3-mini", "o1", "gpt-5", "ft:o4-mini:acme::x"] {
        let mut request = full_request(model);
        request
            .params
            .extra
            .insert("reasoning_effort".into(), "low".into());
        let body = sent_body(OpenAiConfig::new(Some(KEY.into())), &request).await;
        assert_eq!(body["model"], model);
        assert_eq!(body["max_completion_tokens"], 64, "{model}: {body}");
        for refused in [
            "max_tokens",
            "temperature",
            "top_p",
            "n",
            "stop",
            "logprobs",
            "top_logprobs",
        ] {
            assert!(
                body.get(refused).is_none(),
                "{model} was sent {refused}: {body}"
            );
        }
        assert_eq!(body["seed"], 42, "{model}");
        assert_eq!(body["reasoning_effort"], "low", "{model}");
        assert_eq!(
            body["response_format"],
            json!({"type": "json_object"}),
            "{model}"
        );
        assert_eq!(body["messages"][0]["role"], "system", "{model}");
    }
}

#[test]
fn samples_per_call_follow_the_reasoning_pattern_and_supports_n() {
    let provider = OpenAiProvider::new(OpenAiConfig::new(None)).unwrap();
    assert_eq!(provider.max_samples_per_call("o3-mini"), 1);
    assert_eq!(provider.max_samples_per_call("ft:o4-mini:acme::x"), 1);
    assert!(provider.max_samples_per_call("gpt-4o") > 1);

    let mut config = OpenAiConfig::new(None);
    config.supports_n = Some(false);
    let provider = OpenAiProvider::new(config).unwrap();
    assert_eq!(provider.max_samples_per_call("gpt-4o"), 1);
}

#[tokio::test]
async fn a_custom_reasoning_pattern_decides_which_models_reason() {
    let mut config = OpenAiConfig::new(None);
    config.reasoning = Regex::new("^my-thinker").unwrap();
    assert!(config.is_reasoning("my-thinker-7b") && !config.is_reasoning("o3-mini"));
    let provider = OpenAiProvider::new(config.clone()).unwrap();
    assert_eq!(provider.max_samples_per_call("my-thinker-7b"), 1);
    assert!(provider.max_samples_per_call("o3-mini") > 1);

    let body = sent_body(config.clone(), &full_request("my-thinker-7b")).await;
    assert_eq!(body["max_completion_tokens"], 64);
    assert!(
        body.get("temperature").is_none() && body.get("n").is_none(),
        "{body}"
    );
    let body = sent_body(config, &full_request("o3-mini")).await;
    assert_eq!(body["max_tokens"], 64);
    assert_eq!(body["temperature"], json!(0.7));
    assert_eq!(body["n"], 3);
}

#[tokio::test]
async fn supports_n_true_keeps_n_for_reasoning_models() {
    let mut config = OpenAiConfig::new(None);
    config.supports_n = Some(true);
    let provider = OpenAiProvider::new(config.clone()).unwrap();
    assert!(provider.max_samples_per_call("o3-mini") > 1);
    let mut request = Request::text("o3-mini", None, "Hi");
    request.params.n = 4;
    let body = sent_body(config, &request).await;
    assert_eq!(body["n"], 4, "{body}");
}

#[test]
fn estimates_use_the_model_encoding() {
    // A text o200k and cl100k count differently, so a wrong encoding would show.
    let text = "こんにちは世界。今日はとても良い天気ですね、散歩に行きましょう。";
    assert_ne!(Encoding::O200k.count(text), Encoding::Cl100k.count(text));
    let provider = OpenAiProvider::new(OpenAiConfig::new(Some(KEY.into()))).unwrap();
    // The second model differs from the first, which the provider caches.
    for model in ["gpt-4o", "gpt-4-turbo", "o3-mini", "llama-3.1-8b", "gpt-4o"] {
        let request = Request::text(model, Some("Answer in Japanese."), text);
        assert_eq!(
            provider.estimate_input_tokens(&request),
            chat_prompt_tokens(Encoding::for_model(model), &request.messages),
            "{model}"
        );
    }

    let mut config = OpenAiConfig::new(None);
    config.api = Api::Completions;
    let provider = OpenAiProvider::new(config).unwrap();
    let request = Request::text("gpt-3.5-turbo-instruct", Some("System."), text);
    assert_eq!(
        provider.estimate_input_tokens(&request),
        completion_prompt_tokens(Encoding::Cl100k, &format!("System.\n\n{text}"))
    );
}

#[test]
fn accounting_rate_limits_and_debug_without_the_key() {
    let config = OpenAiConfig::new(Some(KEY.into()));
    let provider = OpenAiProvider::new(config.clone()).unwrap();
    assert_eq!(provider.accounting(), Accounting::Estimate);
    assert!(provider.reports_rate_limits());
    assert_eq!(provider.kind(), "openai");
    for debug in [
        format!("{provider:?}"),
        format!("{config:?}"),
        format!("{config:#?}"),
    ] {
        assert!(!debug.contains(KEY) && !debug.contains("SECRET"), "{debug}");
        assert!(debug.contains("[redacted]"), "{debug}");
    }
}
