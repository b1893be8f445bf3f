//! The server-wide channel: many connections, one receiving thread.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use crate::engine::{Engine, Event, Incoming, NotQueued, SharedFrame, Sink};
use crate::error::{Error, Result};
use crate::info::Info;
use crate::message::{Message, TrySendError};
use crate::message_socket::Sender;

/// One channel that the reader threads of many connections deliver into,
/// so that one application thread can serve them all.
///
/// Accept connections into it with
/// [`Request::accept_into`](crate::Request::accept_into); receive
/// `(connection, message)` and `(connection, end)` events with
/// [`recv`](Hub::recv); answer or close through the [`Connection`] handle.
/// A chat server is one accept loop and one thread:
///
/// ```
/// use wsock::{Hub, HubEvent, MessageWebSocket, Server};
///
/// let server = Server::bind("127.0.0.1:0")?;
/// let url = format!("ws://{}/chat", server.local_addr()?);
/// let hub = Hub::new();
/// let accepting = hub.clone();
/// std::thread::spawn(move || {
///     for request in server.incoming() {
///         let _ = request.and_then(|r| r.accept_into(&accepting));
///     }
/// });
/// std::thread::spawn(move || loop {
///     // Every message goes to every connection; one that reads too
///     // slowly misses messages instead of holding up the others.
///     if let HubEvent::Message(_from, message) = hub.recv() {
///         hub.broadcast(&message);
///     }
/// });
///
/// let alice = MessageWebSocket::connect(&url)?;
/// alice.send_text("hello, room")?;
/// assert_eq!(alice.recv()?.as_text(), Some("hello, room"));
/// # Ok::<(), wsock::Error>(())
/// ```
///
/// Cheap to clone (an `Arc`); every clone is the same hub. A hub connection
/// lives until either side closes it: no handle's drop closes it.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    tx: mpsc::Sender<HubEvent>,
    rx: Mutex<mpsc::Receiver<HubEvent>>,
    live: Mutex<HashMap<u64, Connection>>,
    /// A [`WhenFull`] as its discriminant.
    when_full: AtomicU8,
}

/// What [`Hub::broadcast`] does with a connection whose send queue is full
/// (it has `outbound_queue_limit` bytes waiting: its peer reads more slowly
/// than the hub sends).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum WhenFull {
    /// The connection misses this message and stays (as Python websockets'
    /// `broadcast` does). The default: right for state that the next
    /// message replaces (tickers, positions, presence).
    #[default]
    Skip,
    /// The connection is closed with 1008 and the reason "too slow: its
    /// send queue is full" (as OkHttp does at its queue limit): right when
    /// every message matters (chat, a log), so a member that cannot keep
    /// up leaves instead of missing some.
    Close,
}

impl fmt::Debug for Hub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub")
            .field("connections", &self.len())
            .finish()
    }
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new()
    }
}

/// What a [`Hub`] delivers. For each connection: `Opened` first, then its
/// messages, then `Closed` last.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum HubEvent {
    /// A connection joined (accepted with
    /// [`accept_into`](crate::Request::accept_into)).
    Opened(Connection),
    /// A whole message from a connection.
    Message(Connection, Message),
    /// A connection ended (its last event): after a close handshake the
    /// error's [`close_frame`](Error::close_frame) is the peer's code and
    /// reason, otherwise its status says why.
    Closed(Connection, Error),
}

impl Hub {
    /// A hub with no connections.
    pub fn new() -> Hub {
        let (tx, rx) = mpsc::channel();
        Hub {
            inner: Arc::new(Inner {
                tx,
                rx: Mutex::new(rx),
                live: Mutex::new(HashMap::new()),
                when_full: AtomicU8::new(WhenFull::Skip as u8),
            }),
        }
    }

    /// Sets what [`broadcast`](Hub::broadcast) does with a connection whose
    /// send queue is full (the default: [`WhenFull::Skip`]).
    ///
    /// ```
    /// let hub = wsock::Hub::new().when_full(wsock::WhenFull::Close);
    /// ```
    pub fn when_full(self, policy: WhenFull) -> Hub {
        self.inner.when_full.store(policy as u8, Ordering::Relaxed);
        self
    }

    /// Queues `message` on every live connection without waiting for any
    /// (each connection's [`try_send`](Connection::try_send)); returns how
    /// many connections it was queued on. The frame is encoded once for
    /// them all. A connection whose send queue is full is skipped or
    /// closed, as [`when_full`](Hub::when_full) says; one that is closing
    /// is left out.
    pub fn broadcast(&self, message: &Message) -> usize {
        let policy = match self.inner.when_full.load(Ordering::Relaxed) {
            p if p == WhenFull::Close as u8 => WhenFull::Close,
            _ => WhenFull::Skip,
        };
        let connections = self.connections();
        queue_on_all(connections.iter().map(|c| &c.sender), message, policy)
    }

    /// Blocks until the next event from any connection.
    pub fn recv(&self) -> HubEvent {
        let rx = crate::sync::lock(&self.inner.rx);
        // The hub holds a sender itself, so the channel never disconnects.
        let event = rx.recv().expect("the hub keeps its channel open");
        drop(rx);
        self.taken(event)
    }

    /// The next event, or `None` if none came within `timeout`. Threads
    /// receive one at a time: while another thread is in `recv`, this waits
    /// for it to take its event first, which may be longer than `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<HubEvent> {
        let rx = crate::sync::lock(&self.inner.rx);
        let event = rx.recv_timeout(timeout).ok()?;
        drop(rx);
        Some(self.taken(event))
    }

    /// An event if one is queued. Never blocks: while another thread is
    /// receiving, the events are that thread's and this returns `None`.
    pub fn try_recv(&self) -> Option<HubEvent> {
        let rx = crate::sync::try_lock(&self.inner.rx)?;
        let event = rx.try_recv().ok()?;
        drop(rx);
        Some(self.taken(event))
    }

    /// Bookkeeping when the application takes an event.
    fn taken(&self, event: HubEvent) -> HubEvent {
        match &event {
            HubEvent::Opened(_) => {}
            HubEvent::Message(c, m) => c.sender.shared.consumed(m.len()),
            HubEvent::Closed(c, _) => {
                c.sender.shared.end_taken();
                self.detach(c.id);
            }
        }
        event
    }

    /// The connections that have not ended (whose `Closed` event has not
    /// been received), in no particular order.
    pub fn connections(&self) -> Vec<Connection> {
        let live = crate::sync::lock(&self.inner.live);
        live.values().cloned().collect()
    }

    /// How many connections have not ended.
    pub fn len(&self) -> usize {
        crate::sync::lock(&self.inner.live).len()
    }

    /// True if no connection is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A new connection's handle and the sink its reader thread delivers
    /// to; the connection's `Opened` event goes first, before its reader
    /// thread starts.
    pub(crate) fn attach(&self, shared: &Arc<Engine>, path: &str) -> (Connection, Sink) {
        let id = shared.id;
        let connection = Connection {
            id,
            path: path.into(),
            sender: Sender {
                shared: Arc::clone(shared),
            },
        };
        crate::sync::lock(&self.inner.live).insert(id, connection.clone());
        let _ = self.inner.tx.send(HubEvent::Opened(connection.clone()));
        let (tx, own) = (self.inner.tx.clone(), connection.clone());
        let sink = Sink::Hub(Box::new(move |event| match event {
            // A hub never asks for parts: every item is a whole message.
            Event::One(Incoming::Message(m)) => tx.send(HubEvent::Message(own.clone(), m)).is_ok(),
            Event::One(Incoming::Part(_)) => true,
            Event::Batch(batch) => batch
                .into_iter()
                .filter_map(|i| match i {
                    Incoming::Message(m) => Some(m),
                    Incoming::Part(_) => None,
                })
                .all(|m| tx.send(HubEvent::Message(own.clone(), m)).is_ok()),
            Event::End(e) => tx.send(HubEvent::Closed(own.clone(), e)).is_ok(),
        }));
        (connection, sink)
    }

    pub(crate) fn detach(&self, id: u64) {
        crate::sync::lock(&self.inner.live).remove(&id);
    }

    /// A connection whose `Opened` went out but whose engine did not start:
    /// its `Closed` follows, so every `Opened` has one.
    pub(crate) fn failed_to_start(&self, connection: Connection, error: Error) {
        // Sends through its handles fail from now on.
        connection.sender.shared.fail(error.clone());
        self.detach(connection.id);
        let _ = self.inner.tx.send(HubEvent::Closed(connection, error));
    }
}

/// A connection served through a [`Hub`]: send to it and close it from any
/// thread. Cheap to clone; compares by identity ([`id`](Connection::id)).
#[derive(Clone)]
pub struct Connection {
    id: u64,
    /// The path of the upgrade request (with its query).
    path: Arc<str>,
    sender: Sender,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.id)
            .field("path", &self.path)
            .field("peer_addr", &self.sender.shared.peer_addr())
            .finish()
    }
}

impl PartialEq for Connection {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for Connection {}

impl std::hash::Hash for Connection {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}

impl Connection {
    /// A number unique among the process's connections (the same as its
    /// [`Sender::id`]).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The path of the upgrade request, with its query (`/chat?nick=ann`):
    /// what the client asked for, so a chat can keep nicknames without a
    /// side table.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.sender.peer_addr()
    }

    /// Queues a message without waiting; see [`Sender::try_send`].
    pub fn try_send(&self, message: Message) -> std::result::Result<(), TrySendError> {
        self.sender.try_send(message)
    }

    /// Sends a batch of messages, many frames per system call; see
    /// [`Sender::send_all`].
    pub fn send_all(&self, messages: impl IntoIterator<Item = Message>) -> Result<usize> {
        self.sender.send_all(messages)
    }

    /// Sends a ping; see [`Sender::ping`].
    pub fn ping(&self, payload: impl AsRef<[u8]>) -> Result<()> {
        self.sender.ping(payload)
    }

    /// Pings the peer and waits for its pong; see [`Sender::round_trip`].
    pub fn round_trip(&self, timeout: Duration) -> Result<Duration> {
        self.sender.round_trip(timeout)
    }

    /// Sends a text message; returns once it is written to the socket.
    pub fn send_text(&self, text: impl AsRef<str>) -> Result<()> {
        self.sender.send_text(text)
    }

    /// Sends a binary message; returns once it is written to the socket.
    pub fn send_binary(&self, data: impl AsRef<[u8]>) -> Result<()> {
        self.sender.send_binary(data)
    }

    /// Sends a whole message.
    pub fn send(&self, message: Message) -> Result<()> {
        self.sender.send(message)
    }

    /// Starts the close handshake without waiting; the connection's
    /// `Closed` event comes through the hub when it is over.
    pub fn close(&self, code: u16, reason: &str) -> Result<()> {
        self.sender.shared.close(code, reason, false)
    }

    /// A [`Sender`] for this connection.
    pub fn sender(&self) -> Sender {
        self.sender.clone()
    }

    /// The Information: addresses, subprotocol, traffic counters.
    pub fn info(&self) -> Info {
        self.sender.shared.info()
    }
}

/// Queues `message` on each of `senders` without waiting for any, as
/// [`Hub::broadcast`] does with [`WhenFull::Skip`]: a sender whose send
/// queue is full, or whose connection is closing, is left out. Returns how
/// many it was queued on. The frame is encoded once for all server-side
/// connections (they send the same bytes); a client's is masked, so
/// encoded for it alone.
///
/// ```no_run
/// # let senders: Vec<wsock::Sender> = Vec::new();
/// let delivered = wsock::broadcast(&senders, &"tick".into());
/// println!("{delivered} of {} got it", senders.len());
/// ```
pub fn broadcast<'a>(senders: impl IntoIterator<Item = &'a Sender>, message: &Message) -> usize {
    queue_on_all(senders, message, WhenFull::Skip)
}

fn queue_on_all<'a>(
    senders: impl IntoIterator<Item = &'a Sender>,
    message: &Message,
    policy: WhenFull,
) -> usize {
    let mut frame = None;
    let mut queued = 0;
    for sender in senders {
        let frame = frame.get_or_insert_with(|| SharedFrame::new(message));
        match sender.shared.try_queue_shared(frame) {
            Ok(()) => queued += 1,
            Err(NotQueued::Full) if policy == WhenFull::Close => {
                let _ = sender
                    .shared
                    .close(1008, "too slow: its send queue is full", false);
            }
            Err(NotQueued::Full | NotQueued::Closed(_)) => {}
        }
    }
    queued
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MessageWebSocket, Server};

    #[test]
    fn a_broadcast_encodes_its_frame_once_for_every_connection() {
        let server = Server::bind("127.0.0.1:0").unwrap();
        let url = format!("ws://{}/", server.local_addr().unwrap());
        let hub = Hub::new();
        let accepting = hub.clone();
        std::thread::spawn(move || {
            for request in server.incoming() {
                let _ = request.and_then(|r| r.accept_into(&accepting));
            }
        });
        let clients: Vec<MessageWebSocket> = (0..100)
            .map(|_| MessageWebSocket::connect(&url).unwrap())
            .collect();
        let wait = Duration::from_secs(10);
        for _ in &clients {
            let event = hub.recv_timeout(wait).expect("every connection opens");
            assert!(matches!(event, HubEvent::Opened(_)), "{event:?}");
        }
        let before = crate::engine::ENCODED.load(Ordering::Relaxed);
        assert_eq!(hub.broadcast(&Message::Binary(vec![1u8; 4096].into())), 100);
        assert_eq!(crate::engine::ENCODED.load(Ordering::Relaxed) - before, 1);
        for c in &clients {
            assert_eq!(c.recv_timeout(wait).unwrap().len(), 4096);
        }
    }
}
