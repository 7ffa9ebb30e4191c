//! Hooks around each request.

use async_trait::async_trait;
use pacer_core::{ProviderError, Request, Response};

/// Sees each request before it goes (and may change it) and each reply or error after.
///
/// # Example
///
/// ```
/// use async_trait::async_trait;
/// use pacer_core::Request;
/// use pacer_engine::Middleware;
///
/// /// Adds a house style to every prompt.
/// struct HouseStyle;
///
/// #[async_trait]
/// impl Middleware for HouseStyle {
///     async fn before(&self, _item: &str, request: &mut Request) {
///         request.params.stop.push("\n\n###".into());
///     }
/// }
/// ```
#[async_trait]
pub trait Middleware: Send + Sync {
    /// Called before each send of `item`'s request (not for direct calls).
    async fn before(&self, item: &str, request: &mut Request) {
        let _ = (item, request);
    }

    /// Called after each send with its result.
    async fn after(&self, item: &str, result: &Result<Response, ProviderError>) {
        let _ = (item, result);
    }
}
