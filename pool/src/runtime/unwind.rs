//! Calls into code the pool does not own (a [`Manager`](super::Manager),
//! a scaling policy, a snapshot hook) with its panics caught where the
//! pool makes the call, so that a panic becomes that step's failure (a
//! failed create or check, a skipped decision or hook) instead of a slot
//! held forever or a dead controller.
//!
//! Hand-written rather than `futures::FutureExt::catch_unwind`: it is the
//! one thing the pool would take from `futures`, and it is a dozen lines.

use std::any::Any;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::task::Poll;

/// A panic caught at a call into user code: its message, when it had one.
#[derive(Debug, Clone)]
pub(crate) struct Panicked(pub(crate) String);

impl Panicked {
    fn from_payload(p: &(dyn Any + Send)) -> Panicked {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into());
        Panicked(msg)
    }
}

impl std::fmt::Display for Panicked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "panicked: {}", self.0)
    }
}

/// Runs `f`, catching a panic.
///
/// What `f` touched is not used again after a panic except through the
/// step's failure path (the connection is closed, the policy replaced), so
/// asserting unwind safety is sound.
pub(crate) fn call<R>(f: impl FnOnce() -> R) -> Result<R, Panicked> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| Panicked::from_payload(&*p))
}

/// Awaits `fut`, catching a panic in any of its polls (see [`call`]).
pub(crate) async fn call_async<F: Future>(fut: F) -> Result<F::Output, Panicked> {
    let mut fut = pin!(fut);
    poll_fn(|cx| match call(|| fut.as_mut().poll(cx)) {
        Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
        Ok(Poll::Pending) => Poll::Pending,
        Err(p) => Poll::Ready(Err(p)),
    })
    .await
}
