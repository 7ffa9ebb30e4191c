//! What the OpenAI provider's tests share on top of the loopback [`Server`]: the key they send,
//! configs and providers pointed at the server's `/v1`, and the requests and replies.

use pacer_core::{Provider, Request};
use pacer_providers::openai::{OpenAiConfig, OpenAiProvider};
use serde_json::{Value, json};

use super::{Reply, Server};

/// The API key the tests send.
pub const KEY: &str = "sk-test-SECRETsecret0123456789";

/// The server as an OpenAI-compatible endpoint.
pub trait OpenAiServer {
    /// `http://127.0.0.1:PORT/v1`.
    fn base_url(&self) -> String;

    /// An `OpenAiConfig` pointed at this server.
    fn config(&self, key: Option<&str>) -> OpenAiConfig {
        let mut config = OpenAiConfig::new(key.map(str::to_owned));
        config.base_url = self.base_url();
        config
    }

    /// A provider pointed at this server.
    fn provider(&self, key: Option<&str>) -> OpenAiProvider {
        OpenAiProvider::new(self.config(key)).unwrap()
    }
}

impl OpenAiServer for Server {
    fn base_url(&self) -> String {
        format!("{}/v1", self.root)
    }
}

/// A one-choice chat completion saying `text`.
pub fn chat_reply(text: &str) -> Value {
    json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}
    })
}

/// Every parameter set, on a system + user conversation.
pub fn full_request(model: &str) -> Request {
    let mut request = Request::text(model, Some("Be brief."), "Hello");
    let p = &mut request.params;
    p.temperature = Some(0.7);
    p.top_p = Some(0.9);
    p.max_tokens = Some(64);
    p.seed = Some(42);
    p.stop = vec!["\n\n".into(), "END".into()];
    p.n = 3;
    p.logprobs = true;
    p.extra
        .insert("response_format".into(), json!({"type": "json_object"}));
    request
}

/// Sends `request` through a provider made from `config` (its base_url replaced) and returns
/// the body the server got.
pub async fn sent_body(mut config: OpenAiConfig, request: &Request) -> Value {
    let server = Server::start(Reply::ok(&chat_reply("ok"))).await;
    config.base_url = server.base_url();
    let provider = OpenAiProvider::new(config).unwrap();
    provider.send(request).await.unwrap();
    let seen = server.only();
    let body = provider.body(request).unwrap();
    assert_eq!(seen.body, serde_json::from_slice::<Value>(&body).unwrap());
    seen.body
}
