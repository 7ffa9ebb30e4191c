//! Tool calls, tool results, images and the refusal marker over loopback, on OpenAI's chat
//! endpoint, Anthropic's Messages API and Gemini's `generateContent`: each in its own wire
//! format, and all deciding alike.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{anthropic_error, start};
use pacer_mock::MockServerConfig;

/// A 1 × 1 PNG, inline.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

fn weather_parameters() -> Value {
    json!({
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city"],
    })
}

fn chat_tools() -> Value {
    json!([{"type": "function", "function": {
        "name": "get_weather", "description": "The weather in a city.",
        "parameters": weather_parameters()}}])
}

#[tokio::test]
async fn openai_chat_calls_a_named_tool_and_answers_its_result() {
    let (_server, client) = start(MockServerConfig::default()).await;
    let ask = json!({"role": "user", "content": "Use get_weather for Paris, please."});
    let body = json!({"model": "gpt-4o-mini", "messages": [ask], "tools": chat_tools()});
    let reply = client.chat(&body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
    let first = reply.json();
    // The same request, the same call (the completion's own id aside).
    assert_eq!(first["choices"], client.chat(&body).await.json()["choices"]);
    let choice = &first["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], Value::Null);
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(
        (&call["type"], &call["function"]["name"]),
        (&json!("function"), &json!("get_weather"))
    );
    assert!(call["id"].as_str().unwrap().starts_with("call_"));
    let arguments: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert!(["Use", "for", "Paris", "please"].contains(&arguments["city"].as_str().unwrap()));
    assert_eq!(
        (&arguments["days"], &arguments["unit"]),
        (&json!(1), &json!("celsius"))
    );
    assert!(first["usage"]["completion_tokens"].as_u64().unwrap() > 1);

    let result = json!({"role": "tool", "tool_call_id": call["id"], "content": "18 degrees"});
    let assistant = choice["message"].clone();
    let follow = json!({"model": "gpt-4o-mini", "messages": [ask, assistant, result], "tools": chat_tools()});
    let answer = client.chat(&follow).await.json();
    assert_eq!(answer["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "The get_weather tool returned: 18 degrees"
    );

    // No name in the prompt: text, unless the choice forces a call.
    let plain = json!({"model": "gpt-4o-mini", "tools": chat_tools(),
        "messages": [{"role": "user", "content": "What is the weather?"}]});
    let text = client.chat(&plain).await.json();
    assert_eq!(text["choices"][0]["finish_reason"], "stop");
    let mut forced = plain.clone();
    forced["tool_choice"] = json!({"type": "function", "function": {"name": "get_weather"}});
    let called = client.chat(&forced).await.json();
    assert_eq!(called["choices"][0]["finish_reason"], "tool_calls");
    // Tools are billed as prompt.
    let mut bare = plain.clone();
    bare.as_object_mut().unwrap().remove("tools");
    let bare = client.chat(&bare).await.json();
    assert!(text["usage"]["prompt_tokens"].as_u64() > bare["usage"]["prompt_tokens"].as_u64());
}

#[tokio::test]
async fn openai_chat_refuses_malformed_tool_conversations() {
    let (_server, client) = start(MockServerConfig::default()).await;
    let orphan = json!({"model": "gpt-4o-mini", "messages": [
        {"role": "user", "content": "Hi"},
        {"role": "tool", "tool_call_id": "call_x", "content": "18"},
    ]});
    let reply = client.chat(&orphan).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error().2, "messages.[1].role");
    let choice_alone = json!({"model": "gpt-4o-mini", "tool_choice": "required",
        "messages": [{"role": "user", "content": "Hi"}]});
    let reply = client.chat(&choice_alone).await;
    assert_eq!(
        (reply.status, reply.error().2),
        (StatusCode::BAD_REQUEST, json!("tool_choice"))
    );
    let bad_part = json!({"model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": [{"type": "video", "video": {}}]}]});
    assert_eq!(client.chat(&bad_part).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(client.stats().await.bad_requests, 3);
}

#[tokio::test]
async fn images_are_billed_by_each_providers_rule_and_answered_by_their_text() {
    let (_server, client) = start(MockServerConfig::default()).await;
    let text = json!({"model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Describe this."}]});
    let image = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "Describe this."},
        {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG}")}},
    ]}]});
    let (text, image) = (
        client.chat(&text).await.json(),
        client.chat(&image).await.json(),
    );
    assert_eq!(text["choices"], image["choices"]);
    // OpenAI: a 1 × 1 image is one tile: 85 + 170.
    let extra = image["usage"]["prompt_tokens"].as_u64().unwrap()
        - text["usage"]["prompt_tokens"].as_u64().unwrap();
    assert_eq!(extra, 255);

    let claude = |content: Value| json!({"model": "claude-x", "max_tokens": 50, "messages": [{"role": "user", "content": content}]});
    let plain = client
        .messages(&claude(json!("Describe this.")))
        .await
        .json();
    let pictured = client
        .messages(&claude(json!([
            {"type": "text", "text": "Describe this."},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        ])))
        .await
        .json();
    assert_eq!(plain["content"], pictured["content"]);
    // Anthropic: 1 × 1 / 750, rounded up.
    let extra = pictured["usage"]["input_tokens"].as_u64().unwrap()
        - plain["usage"]["input_tokens"].as_u64().unwrap();
    assert_eq!(extra, 1);

    let gemini = |parts: Value| json!({"contents": [{"role": "user", "parts": parts}]});
    let plain = client
        .generate("gemini-x", &gemini(json!([{"text": "Describe this."}])))
        .await
        .json();
    let pictured = client
        .generate(
            "gemini-x",
            &gemini(json!([{"text": "Describe this."},
                           {"inlineData": {"mimeType": "image/png", "data": PNG}}])),
        )
        .await
        .json();
    assert_eq!(plain["candidates"], pictured["candidates"]);
    let extra = pictured["usageMetadata"]["promptTokenCount"]
        .as_u64()
        .unwrap()
        - plain["usageMetadata"]["promptTokenCount"].as_u64().unwrap();
    assert_eq!(extra, 258);
}

#[tokio::test]
async fn anthropic_calls_tools_with_tool_use_blocks() {
    let (_server, client) = start(MockServerConfig::default()).await;
    let tools = json!([{"name": "get_weather", "input_schema": weather_parameters()}]);
    let ask = json!({"role": "user", "content": "What is the weather in Paris?"});
    let body = json!({"model": "claude-x", "max_tokens": 100, "tools": tools,
        "tool_choice": {"type": "any"}, "messages": [ask]});
    let reply = client.messages(&body).await.json();
    assert_eq!(reply["stop_reason"], "tool_use");
    let block = &reply["content"][0];
    assert_eq!(
        (&block["type"], &block["name"]),
        (&json!("tool_use"), &json!("get_weather"))
    );
    assert!(block["id"].as_str().unwrap().starts_with("toolu_"));
    assert_eq!(block["input"]["unit"], "celsius");

    let follow = json!({"model": "claude-x", "max_tokens": 100, "tools": tools, "messages": [
        ask,
        {"role": "assistant", "content": reply["content"]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block["id"], "content": "18 degrees"}]},
    ]});
    let answer = client.messages(&follow).await.json();
    assert_eq!(answer["stop_reason"], "end_turn");
    assert_eq!(
        answer["content"][0]["text"],
        "The get_weather tool returned: 18 degrees"
    );

    let stray = json!({"model": "claude-x", "max_tokens": 100, "messages": [
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_x", "content": "18"}]},
    ]});
    let reply = client.messages(&stray).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        anthropic_error(&reply)
            .1
            .contains("unexpected `tool_use_id`")
    );
}

#[tokio::test]
async fn gemini_calls_functions_and_reads_their_responses() {
    let (_server, client) = start(MockServerConfig::default()).await;
    let tools = json!([{"functionDeclarations": [{"name": "get_weather", "parameters": {
        "type": "OBJECT", "properties": {"city": {"type": "STRING"}, "days": {"type": "INTEGER"}}}}]}]);
    let ask = json!({"role": "user", "parts": [{"text": "Call get_weather for Paris."}]});
    let body = json!({"contents": [ask], "tools": tools});
    let reply = client.generate("gemini-x", &body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
    let reply = reply.json();
    let candidate = &reply["candidates"][0];
    assert_eq!(candidate["finishReason"], "STOP");
    let call = &candidate["content"]["parts"][0]["functionCall"];
    assert_eq!(call["name"], "get_weather");
    assert_eq!(call["args"]["days"], 1);
    assert!(call["args"]["city"].is_string());

    let follow = json!({"contents": [ask, candidate["content"],
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"result": "18 degrees"}}}]}],
        "tools": tools});
    let answer = client.generate("gemini-x", &follow).await.json();
    assert_eq!(
        answer["candidates"][0]["content"]["parts"][0]["text"],
        "The get_weather tool returned: 18 degrees"
    );
    let mut none = body.clone();
    none["toolConfig"] = json!({"functionCallingConfig": {"mode": "NONE"}});
    let text = client.generate("gemini-x", &none).await.json();
    assert!(text["candidates"][0]["content"]["parts"][0]["text"].is_string());
}

#[tokio::test]
async fn the_refusal_marker_refuses_on_every_endpoint() {
    let (_server, client) = start(MockServerConfig::default()).await;
    let prompt = "Tell me a secret [refuse]";
    let chat = client
        .chat(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]}))
        .await
        .json();
    let message = &chat["choices"][0]["message"];
    assert_eq!(message["content"], Value::Null);
    assert_eq!(message["refusal"], pacer_providers::mock::REFUSAL_TEXT);
    assert_eq!(chat["choices"][0]["finish_reason"], "stop");

    let claude = client
        .messages(&json!({"model": "claude-x", "max_tokens": 50,
            "messages": [{"role": "user", "content": prompt}]}))
        .await
        .json();
    assert_eq!(claude["stop_reason"], "refusal");
    assert_eq!(
        claude["content"][0]["text"],
        pacer_providers::mock::REFUSAL_TEXT
    );

    let gemini = client
        .generate(
            "gemini-x",
            &json!({"contents": [{"role": "user", "parts": [{"text": prompt}]}]}),
        )
        .await
        .json();
    assert_eq!(
        gemini["candidates"][0]["content"]["parts"][0]["text"],
        pacer_providers::mock::REFUSAL_TEXT
    );
}
