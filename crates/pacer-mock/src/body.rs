//! The body of every reply: whole, as JSON replies are sent, or a list of frames sent one by
//! one, as a streamed reply's events are.
//!
//! Frames go out as HTTP/1.1 chunks: the body reports no exact size, so hyper sends no
//! `content-length` and a client reads each event as it comes, as from the real APIs.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Frame, SizeHint};

/// A reply body, always ready: the mock makes every reply whole before it sends it.
#[derive(Debug)]
pub(crate) enum Body {
    /// One buffer, sent with its length.
    Whole(Full<Bytes>),
    /// Frames still to send, in order, each its own chunk.
    Frames(VecDeque<Bytes>),
}

impl Body {
    /// A body of `bytes`, sent whole.
    pub(crate) fn whole(bytes: impl Into<Bytes>) -> Self {
        Body::Whole(Full::new(bytes.into()))
    }

    /// A body sent as `frames`, one after the other (empty ones left out, as HTTP/1.1
    /// would read an empty chunk as the end).
    pub(crate) fn frames(frames: impl IntoIterator<Item = Bytes>) -> Self {
        Body::Frames(frames.into_iter().filter(|f| !f.is_empty()).collect())
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Body::Whole(full) => Pin::new(full).poll_frame(cx),
            Body::Frames(frames) => Poll::Ready(frames.pop_front().map(|f| Ok(Frame::data(f)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Whole(full) => full.is_end_stream(),
            Body::Frames(frames) => frames.is_empty(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Whole(full) => full.size_hint(),
            // No exact size: hyper sends the frames as chunks, as a stream is sent.
            Body::Frames(_) => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http_body_util::BodyExt;
    use hyper::body::Body as _;

    use super::Body;

    #[tokio::test]
    async fn frames_come_one_by_one_with_no_size() {
        let mut body = Body::frames(["a", "", "bc"].map(Bytes::from));
        assert_eq!(body.size_hint().exact(), None);
        let mut seen = Vec::new();
        while let Some(frame) = body.frame().await {
            seen.push(frame.unwrap().into_data().unwrap());
        }
        assert_eq!(seen, ["a", "bc"]);
        assert!(body.is_end_stream());
        assert_eq!(Body::whole("xyz").size_hint().exact(), Some(3));
    }
}
