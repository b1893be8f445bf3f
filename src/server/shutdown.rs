//! What the listener, its handshake threads, the accepted connections and
//! the [`ShutdownHandle`] share: whether the server is shut down, the
//! connections it accepted, and how many still have a reader thread.
//!
//! Run by the acceptor and handshake threads (taking slots), the reader
//! threads of accepted connections (giving them back as they end), and any
//! thread holding a handle. `connections` and `ended_lock` are leaves.

use super::*;

/// The state a server shares with its handles and connections.
pub(super) struct Served {
    /// `shutdown` was called: accept nothing more.
    pub(super) shut: AtomicBool,
    /// The listening socket, to wake the acceptor's `accept` (closed at
    /// shutdown, so no handle keeps a descriptor).
    listener: Mutex<Option<TcpListener>>,
    /// Complete requests, for `incoming()`; and a sender to wake a thread
    /// blocked there at shutdown.
    pub(super) requests: Mutex<mpsc::Receiver<Result<Request>>>,
    wake: Mutex<mpsc::Sender<Result<Request>>>,
    /// Connection slots taken: connections with a reader thread, and
    /// requests being decided.
    live: AtomicUsize,
    /// Of those, the connections (a graceful shutdown waits for these).
    connected: AtomicUsize,
    ended_lock: Mutex<()>,
    ended: Condvar,
    /// Every accepted connection, to close at a graceful shutdown.
    connections: Mutex<Vec<Weak<engine::Engine>>>,
    close_timeout: Duration,
}

impl Served {
    pub(super) fn new(
        listener: TcpListener,
        (wake, requests): (
            mpsc::Sender<Result<Request>>,
            mpsc::Receiver<Result<Request>>,
        ),
        close_timeout: Duration,
    ) -> Served {
        Served {
            shut: AtomicBool::new(false),
            listener: Mutex::new(Some(listener)),
            requests: Mutex::new(requests),
            wake: Mutex::new(wake),
            live: AtomicUsize::new(0),
            connected: AtomicUsize::new(0),
            ended_lock: Mutex::new(()),
            ended: Condvar::new(),
            connections: Mutex::new(Vec::new()),
            close_timeout,
        }
    }

    pub(super) fn is_shut(&self) -> bool {
        self.shut.load(Ordering::SeqCst)
    }

    /// Takes one of `max` connection slots; `None` at the limit.
    pub(super) fn take_slot(self: &Arc<Self>, max: usize) -> Option<ConnectionSlot> {
        if self.live.fetch_add(1, Ordering::SeqCst) >= max {
            self.give_back(false);
            return None;
        }
        Some(ConnectionSlot {
            served: Arc::clone(self),
            connected: false,
        })
    }

    fn give_back(&self, connected: bool) {
        self.live.fetch_sub(1, Ordering::SeqCst);
        if connected && self.connected.fetch_sub(1, Ordering::SeqCst) == 1 {
            drop(crate::sync::lock(&self.ended_lock));
            self.ended.notify_all();
        }
    }

    /// Remembers an accepted connection (forgetting those that are gone);
    /// one accepted after a shutdown began is closed with 1001 at once.
    pub(super) fn accepted(&self, engine: &Arc<engine::Engine>) {
        let mut all = crate::sync::lock(&self.connections);
        // A graceful shutdown sets `shut` before it takes the list: either
        // it finds this connection there, or this sees `shut`.
        if self.is_shut() {
            drop(all);
            let _ = engine.close(1001, GOING_AWAY, false);
            return;
        }
        if all.len() >= 64 && all.len() >= 2 * self.connected.load(Ordering::SeqCst) {
            all.retain(|w| w.strong_count() > 0);
        }
        all.push(Arc::downgrade(engine));
    }

    /// Stops listening and wakes a thread blocked in `incoming()`.
    pub(super) fn shutdown(&self) {
        if self.shut.swap(true, Ordering::SeqCst) {
            return;
        }
        // Wakes the acceptor's blocked accept() (Linux returns EINVAL).
        if let Some(listener) = crate::sync::lock(&self.listener).take() {
            let _ = SockRef::from(&listener).shutdown(Shutdown::Both);
        }
        let _ = crate::sync::lock(&self.wake).send(Err(Error::ServerShutDown));
        // Requests queued and not taken are answered now (503), unless a
        // thread in `incoming()` holds the queue: it does so as it wakes.
        if let Ok(requests) = self.requests.try_lock() {
            while requests.try_recv().is_ok() {}
        }
    }

    /// The next request for `incoming()`/`accept()`: an error with
    /// [`Status::ServerShutDown`] once shut down (requests still queued
    /// are then answered 503).
    pub(super) fn next_request(&self) -> Result<Request> {
        let requests = crate::sync::lock(&self.requests);
        let next = if self.is_shut() {
            Err(Error::ServerShutDown)
        } else {
            requests.recv().unwrap_or_else(|_| {
                Err(Error::Resource {
                    what: "accepting".into(),
                    reason: "the acceptor thread ended".into(),
                })
            })
        };
        if self.is_shut() {
            // Undecided requests hold connection slots: answer them now.
            while requests.try_recv().is_ok() {}
            if let Ok(request) = next {
                drop(request);
            }
            return Err(Error::ServerShutDown);
        }
        next
    }

    /// Answers (503) every request queued and not taken.
    pub(super) fn drain_requests(&self) {
        let requests = crate::sync::lock(&self.requests);
        while requests.try_recv().is_ok() {}
    }
}

/// The reason of the 1001 a graceful shutdown closes with.
const GOING_AWAY: &str = "the server is shutting down";

/// A place among a server's `max_connections`; freed when dropped (by the
/// connection's reader thread when it ends, or with an undecided request).
pub(super) struct ConnectionSlot {
    served: Arc<Served>,
    /// The request became a connection (see [`ConnectionSlot::connected`]).
    connected: bool,
}

impl fmt::Debug for ConnectionSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConnectionSlot")
    }
}

impl ConnectionSlot {
    pub(super) fn served(&self) -> &Arc<Served> {
        &self.served
    }

    /// The request is being accepted: from now on a graceful shutdown
    /// waits for this slot (an undecided request it does not wait for).
    pub(super) fn connected(&mut self) {
        self.connected = true;
        self.served.connected.fetch_add(1, Ordering::SeqCst);
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.served.give_back(self.connected);
    }
}

/// Stops a [`Server`] from any thread: `Clone + Send + Sync`.
///
/// ```
/// let server = wsock::Server::bind("127.0.0.1:0")?;
/// let stop = server.shutdown_handle();
/// let serving = std::thread::spawn(move || {
///     for request in server.incoming() {
///         let _ = request.and_then(|r| r.accept_message());
///     }
///     // incoming() ended: the server was shut down.
/// });
/// stop.shutdown();
/// serving.join().unwrap();
/// # Ok::<(), wsock::Error>(())
/// ```
#[derive(Clone)]
pub struct ShutdownHandle {
    pub(super) served: Arc<Served>,
}

impl fmt::Debug for ShutdownHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownHandle")
            .field("shut_down", &self.is_shut_down())
            .field("connections", &self.served.live.load(Ordering::SeqCst))
            .finish()
    }
}

impl ShutdownHandle {
    /// Stops listening: a thread blocked in [`Server::incoming`] sees its
    /// end (`None`) at once, [`Server::accept`] returns an error with
    /// [`Status::ServerShutDown`], and so does every later call. Requests
    /// whose handshake was under way are answered 503. Connections already
    /// accepted live on (see [`shutdown_gracefully`](Self::shutdown_gracefully)).
    pub fn shutdown(&self) {
        self.served.shutdown();
    }

    /// [`shutdown`](Self::shutdown), then closes every connection this
    /// server accepted with 1001 (going away) and waits until each one's
    /// reader thread has ended: within the close timeout, plus a little
    /// for the last ones to be cut. `Ok` when all have ended; a Timeout
    /// saying how many are left otherwise (they end by themselves soon).
    /// A request accepted after this began is closed with 1001 at once;
    /// one still undecided is not waited for.
    pub fn shutdown_gracefully(&self) -> Result<()> {
        self.shutdown();
        // Requests queued and not taken are answered 503 (a thread in
        // `incoming()` lets go of the queue as soon as it wakes).
        let _ = self.served.next_request();
        let all: Vec<_> = crate::sync::lock(&self.served.connections)
            .drain(..)
            .filter_map(|w| w.upgrade())
            .collect();
        for engine in &all {
            let _ = engine.close(1001, GOING_AWAY, false);
        }
        drop(all);
        let budget = self
            .served
            .close_timeout
            .saturating_add(Duration::from_secs(2));
        let deadline = Deadline::after(budget);
        let mut guard = crate::sync::lock(&self.served.ended_lock);
        loop {
            let left = self.served.connected.load(Ordering::SeqCst);
            if left == 0 {
                return Ok(());
            }
            if deadline.has_passed() {
                return Err(Error::Timeout {
                    what: format!("waiting for {left} connections to close at shutdown"),
                    after: budget,
                });
            }
            guard = crate::sync::wait_for(
                &self.served.ended,
                guard,
                deadline.slice(Duration::from_secs(1)),
            );
        }
    }

    /// True once [`shutdown`](Self::shutdown) was called.
    pub fn is_shut_down(&self) -> bool {
        self.served.is_shut()
    }
}
