//! Staying connected: [`Reconnect`], a builder's connect repeated with
//! jittered exponential backoff. Run by the caller's thread.

use super::*;

/// Connects again and again to one URL, waiting longer after each failure,
/// so a client script survives a server restart. Made by
/// [`Builder::reconnect`].
///
/// Each [`next`](Iterator::next) waits out the backoff (none the first
/// time), connects, and yields the socket; the program uses it until it
/// ends, then asks for the next. A failure that another try could mend (the
/// server down or restarting, a timeout, a reset, a 5xx or 429 answer, the
/// proxy unreachable) is logged and tried again, with the wait doubling from
/// `initial_delay` (1 s) up to `max_delay` (60 s), each a random part of it
/// from a half to the whole (jitter, so that many clients of one server do
/// not return at once). A failure that would only repeat ends the
/// iteration: it is yielded, then `None`: an invalid URL or option, a 4xx
/// answer (401, 403, 404...), a certificate error, a redirect refused.
/// After a successful connect the wait starts over at `initial_delay`.
///
/// ```no_run
/// use wsock::MessageWebSocket;
///
/// for ws in MessageWebSocket::builder().reconnect("ws://127.0.0.1:9001/feed") {
///     let ws = ws?; // only a failure that another try would not mend
///     for message in ws.messages() {
///         let Ok(message) = message else { break }; // the connection ended: reconnect
///         println!("{message:?}");
///     }
/// }
/// # Ok::<(), wsock::Error>(())
/// ```
#[derive(Debug)]
#[must_use = "an iterator does nothing until iterated"]
pub struct Reconnect<S> {
    builder: Builder<S>,
    url: String,
    initial: Duration,
    max: Duration,
    /// The next wait before connecting (`None`: connect at once).
    wait: Option<Duration>,
    last_error: Option<Error>,
    done: bool,
}

impl<S: Connect> Builder<S> {
    /// Connects to `url` now and again after every end: see [`Reconnect`].
    pub fn reconnect(self, url: &str) -> Reconnect<S> {
        Reconnect {
            builder: self,
            url: url.to_owned(),
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            wait: None,
            last_error: None,
            done: false,
        }
    }
}

impl<S> Reconnect<S> {
    /// The first wait after a failure (then doubling). Defaults to 1 s.
    pub fn initial_delay(mut self, delay: Duration) -> Self {
        self.initial = delay;
        self
    }

    /// The longest wait between two tries. Defaults to 60 s.
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max = delay;
        self
    }

    /// The last failure that was tried again, if any (for a status line).
    pub fn last_error(&self) -> Option<&Error> {
        self.last_error.as_ref()
    }
}

/// Whether another try could mend what `e` says.
pub(crate) fn is_transient(e: &Error) -> bool {
    match e.status() {
        Status::UnexpectedStatusCode(code) => code >= 500 || code == 408 || code == 429,
        Status::CannotConnect
        | Status::Timeout
        | Status::ConnectionReset
        | Status::ConnectionAborted
        | Status::HostNameNotResolved
        | Status::CannotConnectToProxy
        | Status::ResourceExhausted
        | Status::Unknown => true,
        _ => false,
    }
}

impl<S: Connect> Iterator for Reconnect<S> {
    type Item = Result<S>;

    fn next(&mut self) -> Option<Result<S>> {
        if self.done {
            return None;
        }
        loop {
            if let Some(wait) = self.wait {
                // A random part of the wait, from a half to the whole.
                let jittered = wait.mul_f64(0.5 + rand::random::<f64>() / 2.0);
                std::thread::sleep(jittered);
            }
            match self.builder.clone().connect(&self.url) {
                Ok(socket) => {
                    self.wait = Some(self.initial);
                    self.last_error = None;
                    // The next call connects again after the first wait:
                    // a server that accepts and drops at once is not hammered.
                    return Some(Ok(socket));
                }
                Err(e) if is_transient(&e) => {
                    log::info!("cannot connect ({e}); trying again");
                    let next = self.wait.map_or(self.initial, |w| (w * 2).min(self.max));
                    self.wait = Some(next.max(self.initial).min(self.max));
                    self.last_error = Some(e);
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}
