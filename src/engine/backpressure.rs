//! Receive backpressure: while the receiving side holds more than the
//! receive queue limit, the reader thread stops reading.
//!
//! Run by the reader thread (waits) and by receiving threads (`consumed`);
//! guarded by `inbox_lock` and its `inbox_room` condvar.

use super::*;

impl Engine {
    /// The receiving side took a message of `len` bytes off the queue.
    pub(crate) fn consumed(&self, len: usize) {
        let before = self.inbox_bytes.fetch_sub(len, Relaxed);
        let limit = self.options.receive_queue_limit;
        if before > limit && before - len <= limit {
            let _guard = lock(&self.inbox_lock);
            self.inbox_room.notify_all();
        }
    }

    /// Backpressure: while the receiving side holds more than the receive
    /// queue limit, the reader stops reading, so the peer meets TCP flow
    /// control instead of growing our heap. A close in progress lifts it (the
    /// peer's close frame must be seen).
    pub(super) fn wait_for_queue_room(&self) {
        let limit = self.options.receive_queue_limit;
        if self.inbox_bytes.load(Relaxed) <= limit {
            return;
        }
        loop {
            {
                if lock(&self.lifecycle).ending() {
                    return;
                }
            }
            let guard = lock(&self.inbox_lock);
            if self.inbox_bytes.load(Relaxed) <= limit {
                return;
            }
            let _ = self.inbox_room.wait_timeout(guard, DEADLINE_SLICE);
        }
    }
}
