//! The tokio task that carries one run of one node: wait out the backoff, run the runnable with
//! panics caught, and report how it ended. Exactly one `Exited` is sent per task, unless the
//! task is aborted at the end of a timed-out shutdown.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::message::{Msg, Outcome};
use crate::{Context, RunFuture, Runnable};

/// Spawns the task for `ctx`'s run on the current runtime.
pub(crate) fn spawn(ctx: Context, runnable: Arc<dyn Runnable>, delay: Duration) -> JoinHandle<()> {
    let span = ctx.span().clone();
    tokio::spawn(run(ctx, runnable, delay).instrument(span))
}

async fn run(ctx: Context, runnable: Arc<dyn Runnable>, delay: Duration) {
    if !delay.is_zero() {
        let began = tokio::time::Instant::now();
        tokio::select! {
            biased;
            () = ctx.cancelled() => {
                ctx.end_run();
                return exited(&ctx, Outcome::NotStarted);
            }
            () = tokio::time::sleep(delay) => {}
        }
        // Report the wait as it happened: the timer rounds up to its millisecond tick.
        ctx.send(Msg::Started {
            node: ctx.node(),
            run: ctx.run_id(),
            delay: began.elapsed(),
        });
    }
    let result = CatchUnwind::start(&*runnable, ctx.clone()).await;
    let end = ctx.end_run();
    let outcome = match result {
        Ok(result) => Outcome::Returned {
            result,
            done_requested: end.done_requested,
            misused: end.misused,
        },
        Err(message) => Outcome::Panicked { message },
    };
    exited(&ctx, outcome);
}

fn exited(ctx: &Context, outcome: Outcome) {
    ctx.send(Msg::Exited {
        node: ctx.node(),
        run: ctx.run_id(),
        outcome,
        span: ctx.span().clone(),
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
