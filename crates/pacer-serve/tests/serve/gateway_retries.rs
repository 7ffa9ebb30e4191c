//! The gateway in front of `pacer mock`, over loopback: upstream server errors retried, for
//! whole replies and for streams before their first byte. (Pacing, queue bounds and per-key
//! limits are tested in process on the paused clock: `gateway_in_process.rs`.)

use crate::common::*;
use pacer_mock::{MockServer, MockServerConfig};
use pacer_serve::GatewayConfig;
use serde_json::json;

#[tokio::test]
async fn upstream_server_errors_are_retried() {
    let mock = MockServer::start(MockServerConfig {
        fail_500: 0.5,
        seed: 7,
        ..MockServerConfig::default()
    })
    .await
    .unwrap();
    let gw = gateway(GatewayConfig::new(vec![openai_route(
        "m",
        "gpt-4o-mini",
        &mock,
        None,
    )]))
    .await;
    let base = gw.url();
    for i in 0..10 {
        let reply = post(
            &base,
            "/chat/completions",
            None,
            &chat("m", &format!("q{i}")),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    // Streams too: a failure before the first byte is retried.
    for i in 0..10 {
        let mut body = chat("m", &format!("s{i}"));
        body["stream"] = json!(true);
        let reply = post(&base, "/chat/completions", None, &body).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert!(reply.text.ends_with("data: [DONE]\n\n"), "{}", reply.text);
    }
    let stats = mock.stats();
    assert!(stats.server_errors > 0, "{stats:?}");
    assert_eq!(stats.ok, 20);
    let metrics = get(&format!("http://{}", gw.addr()), "/metrics", None)
        .await
        .text;
    let attempts = format!(
        "pacer_upstream_attempts_total{{model=\"m\"}} {}",
        20 + stats.server_errors
    );
    assert!(metrics.contains(&attempts), "{metrics}");
    gw.shutdown().await.unwrap();
}
