//! The one estimate of what a request costs before it is sent: its prompt tokens plus its
//! output cap times its completions. The lane paces and budgets by it, the gateway's
//! pass-through is paced by it, and `pacer validate` totals a run with it.

use pacer_core::{Provider, Request};
use pacer_limit::Cost;

/// What `request` costs on `provider` at most: its prompt tokens (counted with the provider's
/// tokenizer when `count_prompt`, else 0, for a lane with no token limit or budget to feed)
/// plus `max_tokens` (else the provider's [`default_max_tokens`](Provider::default_max_tokens))
/// times its `n` completions. An embedding request writes nothing: its cost is its inputs.
///
/// ```
/// use pacer_core::Request;
/// use pacer_providers::MockProvider;
///
/// let mut request = Request::text("m", None, "hello");
/// request.params.max_tokens = Some(100);
/// request.params.n = 3;
/// let cost = pacer_engine::estimate(&MockProvider::default(), &request, true);
/// assert_eq!((cost.input_tokens, cost.output_tokens), (9, 300));
/// ```
pub fn estimate(provider: &dyn Provider, request: &Request, count_prompt: bool) -> Cost {
    let input = if count_prompt {
        provider.estimate_input_tokens(request)
    } else {
        0
    };
    let output = if request.is_embedding() {
        0
    } else {
        request
            .params
            .max_output_tokens(provider.default_max_tokens())
    };
    Cost::request(input, output)
}
