//! Request bodies whose client stops sending. hyper bounds the wait for request headers, not
//! for the body: here a body that brings no byte for `timeout` fails (`RequestTimeout`), so a
//! stalled upload cannot hold its connection, its blob lease and a half-written blob for ever;
//! the blob goes to the reaper like any failed upload's.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// The body stalled. Told apart from other body failures by its text (`crate::error`).
#[derive(Debug, thiserror::Error)]
#[error("RequestTimeout: no request body bytes for {0:?}")]
pub struct Stalled(Duration);

pub struct IdleTimeout<B> {
    inner: B,
    timeout: Duration,
    deadline: Pin<Box<Sleep>>,
    /// Whether the reader is waiting for the client (the clock runs only then: a reader that
    /// was busy elsewhere, say with a slow provider, does not count against the client).
    waiting: bool,
}

impl<B> IdleTimeout<B> {
    pub fn new(inner: B, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            waiting: false,
        }
    }
}

impl<B> Body for IdleTimeout<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                self.waiting = false;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                if !self.waiting {
                    self.waiting = true;
                    let at = Instant::now() + self.timeout;
                    self.deadline.as_mut().reset(at);
                }
                match self.deadline.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Stalled(self.timeout).into()))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, StreamBody};

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stops_sending_fails_and_a_slow_one_does_not() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(4);
        let body = StreamBody::new(tokio_stream_from(rx));
        let mut body = IdleTimeout::new(body, Duration::from_secs(10));
        // A byte every 9 seconds keeps it alive.
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_secs(9)).await;
            tx.send(Ok(Frame::data(Bytes::from_static(b"x")))).await.unwrap();
            assert!(body.frame().await.unwrap().is_ok());
        }
        // A reader busy elsewhere for longer than the timeout does not count against the client.
        tokio::time::sleep(Duration::from_secs(30)).await;
        tx.send(Ok(Frame::data(Bytes::from_static(b"x")))).await.unwrap();
        assert!(body.frame().await.unwrap().is_ok());
        let started = Instant::now();
        let e = body.frame().await.unwrap().unwrap_err();
        assert!(e.to_string().starts_with("RequestTimeout"), "{e}");
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }

    fn tokio_stream_from<T>(mut rx: tokio::sync::mpsc::Receiver<T>) -> impl futures::Stream<Item = T> {
        futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
    }
}
