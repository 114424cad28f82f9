//! What an accepted connection may hold: hyper bounds the time to send a request's headers
//! once they start, not a connection that sends nothing at all, nor an idle HTTP/2 one. Here
//! every byte moved either way is noted, and a connection with no request being handled that
//! has been quiet for too long is closed: the first request must start within the header
//! timeout, later ones within the idle timeout.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// A connection's traffic and requests, shared by its IO and its service.
#[derive(Debug)]
pub struct Activity {
    origin: Instant,
    /// Milliseconds after `origin` when a byte last moved.
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
    served: AtomicU64,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            origin: Instant::now(),
            last_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            served: AtomicU64::new(0),
        })
    }

    fn touch(&self) {
        let ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn quiet_for(&self) -> Duration {
        let last = self.origin + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        Instant::now().saturating_duration_since(last)
    }

    /// Marks a request as being handled until the guard drops.
    pub fn request(self: &Arc<Self>) -> Handling {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.served.fetch_add(1, Ordering::Relaxed);
        Handling(Arc::clone(self))
    }

    /// Completes when the connection has been idle too long: no request being handled and
    /// no byte moved for `first` (before any request) or `idle` (after one).
    pub async fn idle(&self, first: Duration, idle: Duration) {
        loop {
            let limit = if self.served.load(Ordering::Relaxed) == 0 {
                first
            } else {
                idle
            };
            let quiet = self.quiet_for();
            let busy = self.in_flight.load(Ordering::Relaxed) > 0;
            if !busy && quiet >= limit {
                return;
            }
            let wait = if busy { limit } else { limit - quiet };
            tokio::time::sleep(wait.max(Duration::from_millis(50))).await;
        }
    }
}

/// A request being handled.
pub struct Handling(Arc<Activity>);

impl Drop for Handling {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection's IO, noting its traffic in an [`Activity`].
pub struct Watched<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> Watched<T> {
    pub fn new(inner: T, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn quiet_connections_close_busy_ones_do_not() {
        let a = Activity::new();
        let started = Instant::now();
        a.idle(Duration::from_secs(30), Duration::from_secs(5)).await;
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(30),
            "no request: the header timeout"
        );
        let handling = a.request();
        let idle = tokio::time::timeout(
            Duration::from_secs(120),
            a.idle(Duration::from_secs(30), Duration::from_secs(5)),
        );
        assert!(idle.await.is_err(), "a request being handled keeps it open");
        drop(handling);
        let started = Instant::now();
        a.idle(Duration::from_secs(30), Duration::from_secs(5)).await;
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(5),
            "after a request: the idle timeout"
        );
    }
}
