//! The tokio task that carries one run of one node: wait out the backoff if there is one, run
//! the runnable with panics caught, and report how it ended. Exactly one `Exited` is sent per
//! task, unless the task is aborted at the end of a timed-out shutdown.
//!
//! A task's size is a node's largest cost (tokio rounds task cells up to 128 bytes), so an
//! immediate start, the common case, gets a future with no timer in it, and the node's span is
//! entered from the context rather than stored twice.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use crate::message::{Msg, Outcome};
use crate::{Context, RunFuture, Runnable};

/// Spawns the task for `ctx`'s run on the current runtime, and gives the context its abort
/// handle.
pub(crate) fn spawn(ctx: Context, runnable: Arc<dyn Runnable>, delay: Duration) {
    let task = if delay.is_zero() {
        let fut = CatchUnwind::start(&*runnable, ctx.clone());
        tokio::spawn(InSpan {
            ctx: ctx.clone(),
            fut: Report(fut),
        })
    } else {
        let fut: Delayed = Box::pin(after_backoff(ctx.clone(), runnable, delay));
        tokio::spawn(InSpan {
            ctx: ctx.clone(),
            fut,
        })
    };
    ctx.set_task(task.abort_handle());
}

/// Waits out the backoff, unless the node is told to stop meanwhile, then runs.
async fn after_backoff(ctx: Context, runnable: Arc<dyn Runnable>, delay: Duration) {
    let began = tokio::time::Instant::now();
    tokio::select! {
        biased;
        () = ctx.cancelled() => {
            ctx.end_run();
            return exited(&ctx, Outcome::NotStarted);
        }
        () = wait(began, delay) => {}
    }
    // Report the wait as it happened: the timer rounds up to its millisecond tick.
    ctx.send(Msg::Started {
        ctx: ctx.clone(),
        delay: began.elapsed(),
    });
    let result = CatchUnwind::start(&*runnable, ctx.clone()).await;
    report(&ctx, result);
}

/// tokio's timer resolution.
const TICK: Duration = Duration::from_millis(1);

/// How many times a wait shorter than a tick yields before it falls back to the timer.
const SPIN_LIMIT: u32 = 10_000;

/// Waits until `began + delay`. The timer would round a delay shorter than its tick up to a
/// whole millisecond; such a delay is waited by yielding to the runtime until the deadline
/// (at most one tick of a worker's time), then, if the clock has not moved (tokio's paused
/// clock only advances when the runtime is idle), by the timer.
async fn wait(began: tokio::time::Instant, delay: Duration) {
    let deadline = began + delay;
    if delay < TICK {
        for _ in 0..SPIN_LIMIT {
            if tokio::time::Instant::now() >= deadline {
                return;
            }
            tokio::task::yield_now().await;
        }
    }
    tokio::time::sleep_until(deadline).await;
}

/// Polls `fut` inside the node's span, and reports the outcome of a run when it has one.
struct InSpan<F> {
    ctx: Context,
    fut: F,
}

/// Marks a future whose output is a run's result, which [`InSpan`] reports when it completes.
struct Report(CatchUnwind);

trait Finish: Future + Unpin {
    fn finish(ctx: &Context, output: Self::Output);
}

impl Finish for Report {
    fn finish(ctx: &Context, output: Self::Output) {
        report(ctx, output);
    }
}

impl Future for Report {
    type Output = Result<anyhow::Result<()>, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

/// A start after a backoff: rare, so boxed to keep the common task small.
type Delayed = Pin<Box<dyn Future<Output = ()> + Send>>;

impl Finish for Delayed {
    fn finish(_ctx: &Context, (): ()) {}
}

impl<F: Finish> Future for InSpan<F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let this = &mut *self;
        let _entered = this.ctx.span().enter();
        match Pin::new(&mut this.fut).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(output) => {
                F::finish(&this.ctx, output);
                Poll::Ready(())
            }
        }
    }
}

fn report(ctx: &Context, result: Result<anyhow::Result<()>, String>) {
    let end = ctx.end_run();
    let outcome = match result {
        Ok(result) => Outcome::Returned {
            result,
            done_requested: end.done_requested,
            misused: end.misused,
        },
        Err(message) => Outcome::Panicked { message },
    };
    exited(ctx, outcome);
}

fn exited(ctx: &Context, outcome: Outcome) {
    ctx.send(Msg::Exited {
        ctx: ctx.clone(),
        outcome,
    });
}

/// Runs a runnable's future, turning a panic (in `run` itself or in any poll) into `Err`.
enum CatchUnwind {
    Running(RunFuture),
    Panicked(Option<String>),
}

impl CatchUnwind {
    fn start(runnable: &dyn Runnable, ctx: Context) -> Self {
        match catch_unwind(AssertUnwindSafe(|| runnable.run(ctx))) {
            Ok(fut) => CatchUnwind::Running(fut),
            Err(payload) => CatchUnwind::Panicked(Some(panic_message(payload))),
        }
    }
}

impl Future for CatchUnwind {
    type Output = Result<anyhow::Result<()>, String>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        // Sound to unwind through: after a panic the future is dropped and never polled again.
        let this = self.get_mut();
        match this {
            CatchUnwind::Running(fut) => {
                match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
                    Ok(Poll::Pending) => Poll::Pending,
                    Ok(Poll::Ready(result)) => Poll::Ready(Ok(result)),
                    Err(payload) => {
                        *this = CatchUnwind::Panicked(None);
                        Poll::Ready(Err(panic_message(payload)))
                    }
                }
            }
            CatchUnwind::Panicked(message) => Poll::Ready(Err(message
                .take()
                .unwrap_or_else(|| "polled after a panic".to_owned()))),
        }
    }
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    #[tokio::test(start_paused = true)]
    async fn a_sub_tick_wait_ends_even_on_a_paused_clock() {
        // The clock does not move while the task yields; the wait falls back to the timer.
        let began = Instant::now();
        wait(began, Duration::from_micros(300)).await;
        assert!(began.elapsed() >= Duration::from_micros(300));
    }

    #[tokio::test]
    async fn a_sub_tick_wait_waits_at_least_its_delay() {
        let began = Instant::now();
        wait(began, Duration::from_micros(50)).await;
        let waited = began.elapsed();
        assert!(waited >= Duration::from_micros(50), "{waited:?}");
    }
}
