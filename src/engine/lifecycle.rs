//! The connection's lifecycle as one value: its [`State`], what the
//! states carry, and the transitions, the only code that changes it.
//!
//! Guarded by `lifecycle` (signalled by `lifecycle_changed`); the actions
//! that go with the transitions (sending the close, the End event, the
//! end of TCP) are in `closing.rs`.

use super::*;

/// Where the connection stands: one value, changed only by the
/// transitions of [`Lifecycle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// Messages flow both ways.
    Open,
    /// We sent a close frame and wait for the peer's.
    ClosingByUs,
    /// The peer's close frame came first (tungstenite answered it); the
    /// peer closes TCP next.
    ClosingByPeer,
    /// Both close frames were exchanged; what is left is the end of TCP.
    Closed,
    /// Something fatal happened (the error is [`Lifecycle::failure`]);
    /// every later call reports it.
    Failed,
}

/// How far the End event has got to the receiving side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EndEvent {
    NotSent,
    /// In the receiving side's channel (or no one receives any more): from
    /// now on every receive call reports the end.
    Sent,
    /// The receiving side has taken it.
    Taken,
}

/// The connection's lifecycle (guarded by `lifecycle`, signalled by
/// `lifecycle_changed`). The fields are private to this file: every
/// change goes through one of the transitions below.
#[derive(Debug)]
pub(super) struct Lifecycle {
    state: State,
    /// The peer's close frame: the Closed event.
    theirs: Option<CloseFrame>,
    /// The close frame we sent, if any.
    ours: Option<CloseFrame>,
    /// The first fatal error (state `Failed`).
    failure: Option<Error>,
    /// When the close handshake (or the wait for the peer's TCP close) must end.
    close_deadline: Option<Deadline>,
    close_timer: Option<TimerId>,
    end: EndEvent,
    /// The End event's error, once sent (what `close` reports when no
    /// close frame came back and nothing failed, such as a violation's).
    end_error: Option<Error>,
    reader_done: bool,
    /// The close frame owed to the peer for its protocol violation.
    violation: Option<CloseFrame>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            state: State::Open,
            theirs: None,
            ours: None,
            failure: None,
            close_deadline: None,
            close_timer: None,
            end: EndEvent::NotSent,
            end_error: None,
            reader_done: false,
            violation: None,
        }
    }
}

impl Lifecycle {
    // ---- the predicates ----

    #[cfg(test)]
    pub(super) fn state(&self) -> State {
        self.state
    }

    /// The first fatal error, if the connection failed.
    pub(super) fn failure(&self) -> Option<&Error> {
        self.failure.as_ref()
    }

    /// A close of ours or a failure is under way: the reader must not wait
    /// for the receiving side (backpressure, the End being taken).
    pub(super) fn ending(&self) -> bool {
        self.ours.is_some() || self.failure.is_some()
    }

    /// A waiting `close` may return: `send_end` has recorded the End (or
    /// no reader thread is left to deliver it). The receiving side may take
    /// the End from the channel before `send_end` records it: taking it
    /// does not count, so `close` never misses the End's error.
    pub(super) fn end_delivered(&self) -> bool {
        self.end_error.is_some() || self.reader_done
    }

    pub(super) fn close_deadline(&self) -> Option<Deadline> {
        self.close_deadline
    }

    pub(super) fn reader_done(&self) -> bool {
        self.reader_done
    }

    /// The peer's close frame, if it arrived.
    pub(super) fn peer_close(&self) -> Option<&CloseFrame> {
        self.theirs.as_ref()
    }

    /// What a waiting `close` returns: `Ok` only after the peer's close
    /// frame, else what ended the connection (`None`: nothing recorded).
    pub(super) fn close_result(&self) -> Option<Result<()>> {
        if self.theirs.is_some() {
            return Some(Ok(()));
        }
        let end = self.failure.clone().or_else(|| self.end_error.clone());
        end.map(Err)
    }

    /// The close frame to report for a send after the close: the peer's,
    /// else ours.
    pub(super) fn close_frame(&self) -> Option<CloseFrame> {
        self.theirs.clone().or_else(|| self.ours.clone())
    }

    // ---- the transitions ----

    /// open → closing by us: our close frame is queued. The close deadline
    /// is the first one set.
    pub(super) fn we_closed(&mut self, frame: CloseFrame, deadline: Deadline) {
        if self.state == State::Open {
            self.state = State::ClosingByUs;
        }
        self.ours = Some(frame);
        self.close_deadline.get_or_insert(deadline);
    }

    /// open → closing by the peer, or closing by us → closed: the peer's
    /// close frame arrived. It gets until `limit` to close TCP, unless a
    /// close of ours already runs on an earlier deadline.
    pub(super) fn peer_closed(&mut self, frame: CloseFrame, limit: Deadline) {
        self.state = match self.state {
            State::Open => State::ClosingByPeer,
            State::ClosingByUs => State::Closed,
            other => other,
        };
        self.theirs = Some(frame);
        self.close_deadline = Some(self.close_deadline.map_or(limit, |d| d.min(limit)));
    }

    /// any → failed; the first failure wins and is returned.
    pub(super) fn failed(&mut self, error: Error) -> Error {
        self.state = State::Failed;
        self.failure.get_or_insert(error).clone()
    }

    /// A protocol violation by the peer: the close frame it is owed.
    pub(super) fn owe_violation_close(&mut self, frame: CloseFrame) {
        self.violation = Some(frame);
    }

    /// Takes the close frame owed for a violation (once).
    pub(super) fn take_violation_close(&mut self) -> Option<CloseFrame> {
        self.violation.take()
    }

    /// After a violation's End: its close gets one close timeout from now.
    pub(super) fn violation_closing(&mut self, error: Error, limit: Deadline) {
        self.failed(error);
        self.close_deadline = Some(limit);
    }

    /// The End event is in the channel.
    pub(super) fn end_sent(&mut self, end: Error) {
        if self.end == EndEvent::NotSent {
            self.end = EndEvent::Sent;
        }
        self.end_error = Some(end);
    }

    /// The receiving side took the End event.
    pub(super) fn end_taken(&mut self) {
        self.end = EndEvent::Taken;
    }

    pub(super) fn end_is_taken(&self) -> bool {
        self.end == EndEvent::Taken
    }

    /// Arms the close timer; returns the one it replaces (to cancel).
    pub(super) fn set_close_timer(&mut self, id: Option<TimerId>) -> Option<TimerId> {
        std::mem::replace(&mut self.close_timer, id)
    }

    /// The reader thread has ended; returns the close timer to cancel.
    pub(super) fn reader_ended(&mut self) -> Option<TimerId> {
        self.reader_done = true;
        self.close_timer.take()
    }
}

/// A close reason fits in 123 bytes; cut at a character boundary.
pub(super) fn reason_for_frame(reason: &str) -> String {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(code: u16) -> CloseFrame {
        CloseFrame {
            code,
            reason: String::new(),
        }
    }

    fn timeout() -> Error {
        Error::Timeout {
            what: "test".into(),
            after: Duration::from_secs(1),
        }
    }

    #[test]
    fn our_close_then_theirs_is_a_clean_close() {
        let mut l = Lifecycle::default();
        assert_eq!(l.state(), State::Open);
        assert!(!l.ending() && !l.end_delivered() && l.close_result().is_none());
        let first = Deadline::after(Duration::from_secs(1));
        l.we_closed(frame(1000), first);
        assert_eq!(l.state(), State::ClosingByUs);
        assert!(l.ending());
        l.peer_closed(frame(1001), Deadline::after(Duration::from_secs(60)));
        assert_eq!(l.state(), State::Closed);
        // Our earlier deadline stays.
        assert_eq!(l.close_deadline(), Some(first));
        assert_eq!(l.close_frame().map(|f| f.code), Some(1001));
        assert!(matches!(l.close_result(), Some(Ok(()))));
    }

    #[test]
    fn the_peers_close_first_then_a_failure_still_closes_cleanly() {
        let mut l = Lifecycle::default();
        l.peer_closed(frame(1000), Deadline::Never);
        assert_eq!(l.state(), State::ClosingByPeer);
        assert!(
            !l.ending(),
            "the peer's close alone does not stop backpressure"
        );
        // The peer then never closes TCP: the close timer fails it.
        l.failed(timeout());
        assert_eq!(l.state(), State::Failed);
        assert!(matches!(l.close_result(), Some(Ok(()))));
    }

    #[test]
    fn the_first_failure_wins() {
        let mut l = Lifecycle::default();
        l.we_closed(frame(1000), Deadline::Never);
        let first = l.failed(timeout());
        let second = l.failed(Error::InvalidArgument("later".into()));
        assert!(matches!(first, Error::Timeout { .. }));
        assert!(matches!(second, Error::Timeout { .. }));
        assert!(matches!(l.close_result(), Some(Err(Error::Timeout { .. }))));
        assert!(matches!(l.failure(), Some(Error::Timeout { .. })));
    }

    #[test]
    fn the_end_event_goes_sent_then_taken() {
        let mut l = Lifecycle::default();
        l.end_sent(timeout());
        assert!(l.end_delivered() && !l.end_is_taken());
        // With no failure and no close frame, close reports the End's error.
        assert!(matches!(l.close_result(), Some(Err(Error::Timeout { .. }))));
        l.end_taken();
        assert!(l.end_is_taken());
        let mut m = Lifecycle::default();
        assert_eq!(m.reader_ended(), None);
        assert!(m.reader_done() && m.end_delivered());
    }

    #[test]
    fn a_violation_close_is_owed_once() {
        let mut l = Lifecycle::default();
        l.owe_violation_close(frame(1002));
        assert_eq!(l.take_violation_close().map(|f| f.code), Some(1002));
        assert!(l.take_violation_close().is_none());
        let limit = Deadline::after(Duration::from_secs(2));
        l.violation_closing(timeout(), limit);
        assert_eq!(l.state(), State::Failed);
        assert_eq!(l.close_deadline(), Some(limit));
    }

    #[test]
    fn close_reasons_are_cut_at_a_character_boundary() {
        let long = "é".repeat(100); // 200 bytes
        let cut = reason_for_frame(&long);
        assert_eq!(cut.len(), 122);
        assert!(long.starts_with(&cut));
        assert_eq!(reason_for_frame("short"), "short");
    }

    /// The receiving side can take the End from the channel before
    /// `send_end` records it (a helper's review found this race): a
    /// waiting `close` must not return then, or it misses the End's error.
    #[test]
    fn the_end_taken_before_it_is_recorded_is_not_yet_delivered() {
        let mut l = Lifecycle::default();
        l.end_taken();
        assert!(
            !l.end_delivered(),
            "close would return with no error to report"
        );
        l.end_sent(timeout());
        assert!(l.end_delivered());
        assert!(matches!(l.close_result(), Some(Err(Error::Timeout { .. }))));
    }
}
