//! A wake-up at an instant for a behaviour's `poll`: the behaviour says
//! when its next decision is due, and the task polling it is woken then.

use std::{future::Future, pin::Pin, task::Context, time::Instant};

/// One pending wake-up, moved whenever the due time changes.
#[derive(Default)]
pub(crate) struct Alarm(Option<(Instant, Pin<Box<tokio::time::Sleep>>)>);

impl Alarm {
    /// Wakes the task polling with `cx` at `due` (never, with `None`); when
    /// `due` has passed, wakes it at once (decided on the next poll).
    pub(crate) fn set(&mut self, due: Option<Instant>, cx: &mut Context<'_>) {
        let Some(due) = due else {
            self.0 = None;
            return;
        };
        if self.0.as_ref().is_none_or(|(at, _)| *at != due) {
            self.0 = Some((due, Box::pin(tokio::time::sleep_until(due.into()))));
        }
        if let Some((_, sleep)) = self.0.as_mut() {
            if sleep.as_mut().poll(cx).is_ready() {
                cx.waker().wake_by_ref();
            }
        }
    }
}
