//! The server-wide channel: many connections, one receiving thread.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use crate::engine::{Engine, Event, Sink};
use crate::error::{Error, Result};
use crate::info::Info;
use crate::message::Message;
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
///     // Every message goes to every connection.
///     if let HubEvent::Message(_from, message) = hub.recv() {
///         for connection in hub.connections() {
///             let _ = connection.send(message.clone());
///         }
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
    next_id: AtomicU64,
    live: Mutex<HashMap<u64, Connection>>,
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

/// What a [`Hub`] delivers.
#[derive(Debug, Clone)]
pub enum HubEvent {
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
                next_id: AtomicU64::new(1),
                live: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Blocks until the next event from any connection.
    pub fn recv(&self) -> HubEvent {
        let rx = crate::sync::lock(&self.inner.rx);
        // The hub holds a sender itself, so the channel never disconnects.
        let event = rx.recv().expect("the hub keeps its channel open");
        drop(rx);
        self.taken(event)
    }

    /// The next event, or `None` if none came within `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<HubEvent> {
        let rx = crate::sync::lock(&self.inner.rx);
        let event = rx.recv_timeout(timeout).ok()?;
        drop(rx);
        Some(self.taken(event))
    }

    /// An event if one is queued.
    pub fn try_recv(&self) -> Option<HubEvent> {
        let rx = crate::sync::lock(&self.inner.rx);
        let event = rx.try_recv().ok()?;
        drop(rx);
        Some(self.taken(event))
    }

    /// Bookkeeping when the application takes an event.
    fn taken(&self, event: HubEvent) -> HubEvent {
        match &event {
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

    /// A new connection's handle and the sink its reader thread delivers to.
    pub(crate) fn attach(&self, shared: &Arc<Engine>) -> (Connection, Sink) {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let connection = Connection {
            id,
            sender: Sender {
                shared: Arc::clone(shared),
            },
        };
        crate::sync::lock(&self.inner.live).insert(id, connection.clone());
        let (tx, own) = (self.inner.tx.clone(), connection.clone());
        let sink = Sink::Hub(Box::new(move |event| match event {
            Event::Message(m) => tx.send(HubEvent::Message(own.clone(), m)).is_ok(),
            Event::Batch(batch) => batch
                .into_iter()
                .all(|m| tx.send(HubEvent::Message(own.clone(), m)).is_ok()),
            Event::End(e) => tx.send(HubEvent::Closed(own.clone(), e)).is_ok(),
        }));
        (connection, sink)
    }

    pub(crate) fn detach(&self, id: u64) {
        crate::sync::lock(&self.inner.live).remove(&id);
    }
}

/// A connection served through a [`Hub`]: send to it and close it from any
/// thread. Cheap to clone; compares by identity ([`id`](Connection::id)).
#[derive(Clone)]
pub struct Connection {
    id: u64,
    sender: Sender,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.id)
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
    /// A number unique among the hub's connections.
    pub fn id(&self) -> u64 {
        self.id
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
