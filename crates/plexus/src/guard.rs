//! Panic isolation: one peer's input must not stop the node.

/// Runs one handler (of an event, a command, a response). A panic in it (a bug, maybe set off
/// by what a peer sent) is logged and the node goes on: one request must not
/// stop the node. The request being handled is lost (its reply channel is
/// dropped, so its caller sees an error).
pub fn guarded(what: &str, handler: impl FnOnce()) {
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(handler)) {
        let reason = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        tracing::error!("bug: handling {what} panicked ({reason}); the node goes on");
    }
}

#[cfg(test)]
mod tests {
    use super::guarded;

    #[test]
    fn a_panicking_handler_does_not_unwind_into_the_loop() {
        let mut after = false;
        guarded("a test", || panic!("boom"));
        guarded("a test", || after = true);
        assert!(after);
    }
}
