//! Structured output: a successful reply checked against the lane's validator.

use pacer_core::{ErrorKind, ProviderError, Response};

use super::Shared;

impl Shared {
    /// `result` with every completion checked by the lane's validator, if it has one: each
    /// valid completion gets its [`parsed`](pacer_core::Choice::parsed) value; one invalid
    /// completion makes the whole reply an [`ErrorKind::InvalidOutput`] error (simple and
    /// predictable for `n` > 1: the call is retried whole), which keeps the reply's usage,
    /// since the tokens were billed, and its rate-limit readings.
    ///
    /// Called after the limiter has learned from the reply: to the limiter the call
    /// succeeded, it is the output that failed.
    pub(super) fn check_output(
        &self,
        result: Result<Response, ProviderError>,
    ) -> Result<Response, ProviderError> {
        let Some(validator) = &self.config.validator else {
            return result;
        };
        let mut response = result?;
        let several = response.choices.len() > 1;
        for (i, choice) in response.choices.iter_mut().enumerate() {
            match validator.check(&choice.text) {
                Ok(value) => choice.parsed = Some(value),
                Err(crate::validate::Rejected(reason)) => {
                    let message = if several {
                        format!("completion {i} of {}: {reason}", response.choices.len())
                    } else {
                        reason
                    };
                    return Err(ProviderError::new(ErrorKind::InvalidOutput, message)
                        .with_usage(response.usage)
                        .with_rate_limits(response.rate_limits));
                }
            }
        }
        Ok(response)
    }
}
