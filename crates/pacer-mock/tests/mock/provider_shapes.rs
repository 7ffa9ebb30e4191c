//! Pacer's own providers against the mock with every request shape: tool calls and tool
//! results, images, refusals and embeddings, each answered as the in-process mock answers
//! it (its [`reply`]), whichever API carries it. Loopback only.

use pacer_core::{
    Content, FinishReason, Image, Message, Part, Provider, Request, Response, Role, Tool,
    ToolChoice,
};
use pacer_mock::{MockServer, MockServerConfig};
use pacer_providers::anthropic::{AnthropicConfig, AnthropicProvider};
use pacer_providers::gemini::{GeminiConfig, GeminiProvider};
use pacer_providers::mock::{REFUSAL_TEXT, reply};
use pacer_providers::openai::{Api, OpenAiConfig, OpenAiProvider};
use serde_json::json;

async fn server() -> MockServer {
    MockServer::start(MockServerConfig::default())
        .await
        .expect("server starts")
}

fn openai(server: &MockServer, api: Api) -> OpenAiProvider {
    let mut config = OpenAiConfig::new(Some("sk-mock".into()));
    config.base_url = server.url();
    config.api = api;
    OpenAiProvider::new(config).expect("provider")
}

fn anthropic(server: &MockServer) -> AnthropicProvider {
    let mut config = AnthropicConfig::new(Some("sk-ant".into()));
    config.base_url = server.anthropic_url();
    AnthropicProvider::new(config).expect("provider")
}

fn gemini(server: &MockServer) -> GeminiProvider {
    let mut config = GeminiConfig::new(Some("AIza".into()));
    config.base_url = server.gemini_url();
    GeminiProvider::new(config).expect("provider")
}

/// A request offering `get_weather`, whose prompt names it.
fn weather(model: &str) -> Request {
    let mut request = Request::text(model, None, "Ask get_weather about Paris.");
    request.params.max_tokens = Some(200);
    request.params.tools = vec![Tool {
        name: "get_weather".into(),
        description: Some("The weather in a city.".into()),
        parameters: json!({"type": "object", "properties": {
            "city": {"type": "string"}, "days": {"type": "integer"}}}),
    }];
    request
}

/// The calls of a reply's first choice, by name and arguments (each API writes ids its own
/// way).
fn calls(response: &Response) -> Vec<(String, serde_json::Value)> {
    response.choices[0]
        .tool_calls
        .iter()
        .map(|c| (c.name.clone(), c.arguments.clone()))
        .collect()
}

/// `request` with the reply's calls and a tool result for each, `result`.
fn answered(request: &Request, response: &Response, result: &str) -> Request {
    let mut follow = request.clone();
    let mut turn = Message::new(Role::Assistant, "");
    turn.tool_calls = response.choices[0].tool_calls.clone();
    follow.messages.push(turn);
    for call in &response.choices[0].tool_calls {
        let mut message = Message::new(Role::Tool, result);
        message.tool_call_id = Some(call.id.clone());
        follow.messages.push(message);
    }
    follow
}

#[tokio::test]
async fn every_api_calls_the_tool_the_in_process_mock_calls() {
    let server = server().await;
    let providers: Vec<(&str, Box<dyn Provider>)> = vec![
        ("gpt-4o-mini", Box::new(openai(&server, Api::Chat))),
        ("gpt-4o-mini", Box::new(openai(&server, Api::Responses))),
        ("claude-x", Box::new(anthropic(&server))),
        ("gemini-x", Box::new(gemini(&server))),
    ];
    for (model, provider) in providers {
        let request = weather(model);
        let expected = reply(&request);
        let response = provider.send(&request).await.expect("a reply");
        let kind = provider.kind();
        assert_eq!(calls(&response), calls(&expected), "{kind}");
        assert_eq!(calls(&response)[0].1["days"], 1, "{kind}");
        assert_eq!(
            response.choices[0].finish_reason,
            FinishReason::ToolCalls,
            "{kind}"
        );

        let follow = answered(&request, &response, "18 degrees");
        let answer = provider.send(&follow).await.expect("a reply");
        assert_eq!(
            answer.choices[0].text, "The get_weather tool returned: 18 degrees",
            "{kind}"
        );
    }
    // OpenAI's ids are the in-process mock's.
    let request = weather("gpt-4o-mini");
    let response = openai(&server, Api::Chat).send(&request).await.unwrap();
    assert_eq!(
        response.choices[0].tool_calls,
        reply(&request).choices[0].tool_calls
    );
    let mut forced = Request::text("gpt-4o-mini", None, "What is the weather?");
    forced.params.tools = request.params.tools.clone();
    forced.params.tool_choice = Some(ToolChoice::Required);
    let response = openai(&server, Api::Chat).send(&forced).await.unwrap();
    assert_eq!(response.choices[0].tool_calls[0].name, "get_weather");
}

#[tokio::test]
async fn images_and_refusals_are_answered_alike() {
    let server = server().await;
    let image = Image {
        url: "https://example.com/cat.png".into(),
        detail: Some("low".into()),
    };
    let pictured = |model: &str| {
        let mut request = Request::text(model, None, "Describe this.");
        request.params.max_tokens = Some(200);
        request.messages[0].content = Content::Parts(vec![
            Part::Text {
                text: "Describe this.".into(),
            },
            Part::Image {
                image_url: image.clone(),
            },
        ]);
        request
    };
    let refused = |model: &str| {
        let mut request = Request::text(model, None, "Say it [refuse]");
        request.params.max_tokens = Some(200);
        request
    };
    let providers: Vec<(&str, Box<dyn Provider>)> = vec![
        ("gpt-4o-mini", Box::new(openai(&server, Api::Chat))),
        ("gpt-4o-mini", Box::new(openai(&server, Api::Responses))),
        ("claude-x", Box::new(anthropic(&server))),
        ("gemini-x", Box::new(gemini(&server))),
    ];
    for (model, provider) in providers {
        let kind = provider.kind();
        let request = pictured(model);
        let response = provider.send(&request).await.expect("a reply");
        assert_eq!(
            response.choices[0].text,
            reply(&request).choices[0].text,
            "{kind}"
        );
        let response = provider.send(&refused(model)).await.expect("a reply");
        assert_eq!(response.choices[0].text, REFUSAL_TEXT, "{kind}");
    }
    let response = openai(&server, Api::Responses)
        .send(&refused("gpt-4o-mini"))
        .await
        .unwrap();
    assert_eq!(response.choices[0].finish_reason, FinishReason::Refusal);
    let response = anthropic(&server).send(&refused("claude-x")).await.unwrap();
    assert_eq!(response.choices[0].finish_reason, FinishReason::Refusal);
}

#[tokio::test]
async fn embeddings_are_the_in_process_mocks_vectors() {
    let server = server().await;
    let inputs = vec!["Hello world".to_owned(), "A rate limit".to_owned()];
    let mut request = Request::embedding("text-embedding-3-small", inputs.clone());
    request.params.extra.insert("dimensions".into(), json!(32));
    let response = openai(&server, Api::Chat)
        .send(&request)
        .await
        .expect("vectors");
    assert_eq!(response.embeddings, reply(&request).embeddings);
    assert_eq!(response.embeddings[0].len(), 32);
    assert_eq!(response.usage.output_tokens, 0);

    let request = Request::embedding("gemini-embedding-001", inputs);
    let response = gemini(&server).send(&request).await.expect("vectors");
    assert_eq!(response.embeddings, reply(&request).embeddings);
    let stats = server.stats();
    assert_eq!((stats.embedding_requests, stats.embedding_inputs), (2, 4));
}
