//! Several deployments behind one model name, driven in process on tokio's paused clock:
//! each request goes to the deployment that admits it soonest, so traffic spreads in
//! proportion to their limits; a server error or a stopped deployment sends the request on
//! to another before anything reached the client; the metrics and the usage log name the
//! deployment.

use std::sync::Arc;
use std::time::Duration;

use pacer_core::ErrorKind;
use pacer_providers::{MockConfig, MockProvider};
use pacer_serve::{Deployment, GatewayConfig, ModelRoute, Upstream, UsageLog};
use serde_json::Value;
use tokio::time::Instant;

use crate::common::chat;
use crate::common::in_process::{CHAT, get, post, route};

fn deployment(id: &str, provider: &Arc<MockProvider>, rpm: u64) -> Deployment {
    Deployment {
        id: id.into(),
        upstream_model: "m".into(),
        upstream: Upstream::Provider(provider.clone()),
        limits: pacer_limit::Limits {
            rpm: std::num::NonZeroU64::new(rpm),
            ..Default::default()
        },
        concurrency: 256,
        price: None,
        timeout: None,
    }
}

fn model(deployments: Vec<Deployment>) -> ModelRoute {
    let unused = Arc::new(MockProvider::default());
    ModelRoute {
        deployments,
        ..route("m", &unused, None)
    }
}

#[tokio::test(start_paused = true)]
async fn traffic_spreads_in_proportion_to_the_deployments_limits() {
    let (east, west) = (
        Arc::new(MockProvider::default()),
        Arc::new(MockProvider::default()),
    );
    let app = pacer_serve::router(GatewayConfig::new(vec![model(vec![
        deployment("east", &east, 60),
        deployment("west", &west, 120),
    ])]))
    .unwrap();
    let started = Instant::now();
    let requests = (0..90).map(|_| {
        let app = app.clone();
        async move { post(&app, CHAT, None, &chat("m", "hi")).await.status }
    });
    let statuses = futures_util::future::join_all(requests).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    // 90 requests at 180 a minute together: about half a minute, where either alone would
    // take one minute (west) or 1.5 (east).
    let took = started.elapsed();
    assert!(took < Duration::from_secs(40), "{took:?}");
    assert_eq!(east.calls() + west.calls(), 90);
    assert!(
        (27..=33).contains(&east.calls()),
        "east (60 rpm) took {} of 90, west (120 rpm) {}",
        east.calls(),
        west.calls()
    );
    let metrics = get(&app, "/metrics").await.text;
    assert!(
        metrics.contains(&format!(
            "pacer_deployment_requests_total{{model=\"m\",deployment=\"west\",status=\"200\"}} {}",
            west.calls()
        )),
        "{metrics}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_or_stopped_deployment_sends_the_request_to_another() {
    let broken = Arc::new(MockProvider::new(MockConfig {
        fail_rate: 1.0,
        ..MockConfig::default()
    }));
    let refused = Arc::new(MockProvider::new(MockConfig {
        fail_rate: 1.0,
        fail_kind: ErrorKind::Auth,
        ..MockConfig::default()
    }));
    let good = Arc::new(MockProvider::default());
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut config = GatewayConfig::new(vec![model(vec![
        deployment("broken", &broken, 6000),
        deployment("refused", &refused, 6000),
        deployment("good", &good, 60),
    ])]);
    config.usage_log = UsageLog::File(log.path().to_path_buf());
    let app = pacer_serve::router(config).unwrap();
    for _ in 0..6 {
        let reply = post(&app, CHAT, None, &chat("m", "hi")).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    assert_eq!(good.calls(), 6);
    // The refused key stopped its deployment after its one try; the broken one is tried
    // whenever it would admit a request sooner than the good one, and fails it over.
    assert_eq!(refused.calls(), 1);
    assert!(broken.calls() >= 1);
    let lines: Vec<Value> = std::fs::read_to_string(log.path())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    assert!(lines.iter().all(|l| l["deployment"] == "good"), "{lines:?}");
    let fell: Vec<&Value> = lines
        .iter()
        .flat_map(|l| l["fell_from"].as_array().into_iter().flatten())
        .collect();
    assert!(fell.iter().any(|d| *d == "refused"), "{lines:?}");
    assert!(fell.iter().any(|d| *d == "broken"), "{lines:?}");
    let metrics = get(&app, "/metrics").await.text;
    assert!(
        metrics.contains("pacer_deployment_fallbacks_total{model=\"m\",deployment=\"refused\"} 1"),
        "{metrics}"
    );
}

#[tokio::test(start_paused = true)]
async fn when_every_deployment_fails_the_last_error_reaches_the_client() {
    let broken = Arc::new(MockProvider::new(MockConfig {
        fail_rate: 1.0,
        ..MockConfig::default()
    }));
    let app = pacer_serve::router(GatewayConfig::new(vec![model(vec![
        deployment("a", &broken, 6000),
        deployment("b", &broken, 6000),
    ])]))
    .unwrap();
    let reply = post(&app, CHAT, None, &chat("m", "hi")).await;
    assert_eq!(reply.status, 502, "{}", reply.body);
    // The route's max_retries (3): four tries over the two deployments.
    assert_eq!(broken.calls(), 4);
}

#[tokio::test]
async fn a_request_only_some_deployments_can_take_goes_to_those() {
    let mock = pacer_mock::MockServer::start(pacer_mock::MockServerConfig::default())
        .await
        .unwrap();
    let translated = Arc::new(MockProvider::default());
    let mut openai = pacer_providers::openai::OpenAiConfig::new(Some("sk-x".into()));
    openai.base_url = mock.url();
    let mut passed = deployment("passed", &translated, 6000);
    passed.upstream = Upstream::OpenAi(openai);
    passed.upstream_model = "gpt-4o-mini".into();
    let gw = crate::common::gateway(GatewayConfig::new(vec![model(vec![
        passed,
        deployment("translated", &translated, 6000),
    ])]))
    .await;
    // A legacy completion: only the OpenAI-compatible deployment has the endpoint.
    for _ in 0..4 {
        let body = serde_json::json!({"model": "m", "prompt": "Once upon a time", "max_tokens": 8});
        let reply = crate::common::post(&gw.url(), "/completions", None, &body).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    assert_eq!(translated.calls(), 0);
    // A translated stream gets no usage chunk it did not ask for, whichever deployment
    // the body was read for first.
    let mut asked = 0;
    for _ in 0..6 {
        let mut body = chat("m", "hi");
        body["stream"] = serde_json::json!(true);
        let reply = crate::common::post(&gw.url(), "/chat/completions", None, &body).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        asked += usize::from(reply.text.contains("\"usage\""));
    }
    assert!(translated.calls() > 0, "both deployments take chat");
    assert!(
        asked <= 6 - translated.calls() as usize,
        "a translated stream carried a usage chunk"
    );
    gw.shutdown().await.unwrap();
}
