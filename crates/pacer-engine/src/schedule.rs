//! Per-attempt parameters: seed 002's progressive temperature.

use pacer_core::Request;

/// Parameters that change with each error retry. Attempt `k` (0-based, counting error
/// retries) takes entry `min(k, len - 1)`; an empty schedule changes nothing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AttemptSchedule {
    /// Temperatures per attempt, e.g. `[0.0, 0.25, 0.5]`.
    pub temperature: Vec<f64>,
}

impl AttemptSchedule {
    /// `request` as it should be sent after `retry` error retries.
    pub fn apply(&self, mut request: Request, retry: u32) -> Request {
        if let Some(last) = self.temperature.len().checked_sub(1) {
            let index = (retry as usize).min(last);
            request.params.temperature = Some(self.temperature[index]);
        }
        request
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warms_up_then_stays_at_the_last_entry() {
        let schedule = AttemptSchedule {
            temperature: vec![0.0, 0.25, 0.5],
        };
        let request = Request::text("m", None, "p");
        let temps: Vec<_> = (0..5)
            .map(|k| schedule.apply(request.clone(), k).params.temperature)
            .collect();
        assert_eq!(
            temps,
            [Some(0.0), Some(0.25), Some(0.5), Some(0.5), Some(0.5)]
        );
        assert_eq!(
            AttemptSchedule::default().apply(request.clone(), 2),
            request
        );
    }
}
