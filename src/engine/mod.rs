//! The engine: one WebSocket connection driven by two kinds of threads.
//!
//! ```text
//!  caller threads                        reader thread (one per socket)
//!  send() ─► encode ─► outbox ─► wire ─► socket      socket ─► decode (proto)
//!                        ▲                                     │
//!                        └──── pong / close replies ◄──────────┤
//!  recv() ◄──────────────── mpsc channel ◄──────────── messages ◄───────┘
//! ```
//!
//! **Threads.** The caller's threads send; the reader thread, which the
//! socket owns, reads the socket. It turns bytes into messages with
//! our decoder (`decode.rs`) and hands them over a std `mpsc` channel (a
//! batch per socket read).
//!
//! **Who reads.** Whoever holds the `ReadState` (the read buffer, the frame
//! tracker, the keepalive and receive deadlines) reads the socket; it lives
//! in the `read_slot` between reads. Normally that is the reader thread.
//! When the reader thread hands messages to a thread waiting in `recv`, it
//! stands aside: that thread's next `recv`, finding nothing queued, takes
//! the state and reads the socket itself, so a request/response exchange
//! costs no thread hand-over (the same system calls as a plain blocking
//! socket). The reader thread takes the state back once no receiving thread
//! has read for [`STAND_ASIDE`], and at once when a close or a failure needs
//! it; a receiving thread whose read ends the connection hands the end to
//! the reader thread, which concludes it (close handshake, End event). Either
//! way only one thread reads at a time, and what the reader thread decoded
//! is in the channel before it lets go of the state, so order is kept.
//!
//! **Rooms**, one file per role (each opens with the threads that run it
//! and the locks they hold):
//!
//! | file | what it is |
//! |---|---|
//! | `readers.rs` | who reads: the reader thread, and a receiving thread standing in for it |
//! | `read.rs` | the read path: one socket read, its deadlines, handing messages over |
//! | `decode.rs` | the receive half of the protocol: frames parsed, messages assembled, the rules checked |
//! | `utf8.rs` | UTF-8 checked piece by piece (received text, a `MessageWriter`'s text) |
//! | `fragments.rs` | sending one message in parts, pings and pongs between its frames |
//! | `protocol.rs` | the sending half (close sent, control frames encoded); acting on what was decoded |
//! | `send.rs` | the send path: a caller's message to frames on the wire |
//! | `wire.rs` | the right to write the socket, and the bytes not yet written |
//! | `outbox.rs` | frames waiting for the wire, in order |
//! | `lifecycle.rs` | the lifecycle as one state, and its transitions |
//! | `closing.rs` | closing, failing, the End event, the end of TCP |
//! | `backpressure.rs` | the receive queue limit |
//!
//! The receiving end of the channel is `crate::inbox`. The whole picture
//! (every lock of the crate, the lifecycle table, the invariants) is in
//! ARCHITECTURE.md at the repository's root.
//!
//! **Locks**, always taken in this order (a thread holding one may take a
//! later one, never an earlier one):
//!
//! 1. `wire`: the right to write the socket, and the bytes taken from the
//!    outbox that are not yet written. A sender takes it after queueing its
//!    frame and writes everything queued up to that frame (so senders that
//!    queue meanwhile share one system call); a message too large for the
//!    outbox holds it for the whole frame. A small message whose sender
//!    finds `wire` free and nothing queued skips the outbox: it is encoded
//!    straight into the wire buffer (`send_alone`). The reader only ever
//!    `try_lock`s it, and then writes without blocking (`MSG_DONTWAIT`).
//! 2. `proto`: the sending half of the protocol state ([`Protocol`]: our
//!    close frame queued or not, control frames encoded). Held only for
//!    in-memory work, never across a socket call. Releasing it moves the
//!    encoded pongs and close frames to the outbox.
//! 3. `outbox`: encoded frames in the order they must leave, data and
//!    control alike; held only to append or to take everything.
//! 4. `lifecycle`: the connection's [`Lifecycle`] (its state, the close
//!    frames, the first failure, deadlines, how far the End event got);
//!    signalled by the `lifecycle_changed` condvar.
//!
//! `read_slot` is a leaf beside them: held only to take or return the read
//! state (or to signal its condvar), with no other lock taken under it. So
//! is `pings` (the pings of ours not yet answered, signalled by
//! `pong_seen`): taken under `proto` when a pong is decoded, and alone.
//!
//! **Blocking.** The reader blocks only in its socket read (with no timeout
//! while the connection is idle between messages, with one-second slices
//! while a deadline runs). A sender blocks in socket writes of at most
//! [`WRITE_SLICE`](crate::transport::WRITE_SLICE) each, until its frame is
//! out or the send timeout passes. Bytes the reader queues (pongs, close
//! replies) leave with the next writer, or with the reader's non-blocking
//! write when no one holds `wire`; every holder of `wire` looks at the outbox
//! once more after releasing it, so nothing is stranded.

mod backpressure;
mod closing;
mod decode;
mod fragments;
mod lifecycle;
mod outbox;
mod pings;
mod protocol;
mod queue;
mod read;
mod readers;
mod send;
mod utf8;
mod wire;

// The rooms share one set of names: each file opens with `use super::*`.
pub(crate) use decode::Part;
pub(crate) use fragments::Fragments;
#[cfg(test)]
pub(crate) use queue::ENCODED;
pub(crate) use queue::{NotQueued, SharedFrame};
pub(crate) use utf8::Utf8Check;
use {
    decode::*, fragments::BetweenFrames, lifecycle::*, outbox::*, pings::*, protocol::*, read::*,
    readers::*, wire::*,
};

use std::io;
use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{
    AtomicBool, AtomicU64, AtomicUsize, Ordering::AcqRel, Ordering::Acquire, Ordering::Relaxed,
    Ordering::Release,
};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};

use crate::sync::{lock, wait_for, wait_until};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use log::{debug, trace, warn};
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::Role;
use tungstenite::Bytes;

use crate::codec::{
    encode_frame, encode_header, extend_masked, mark_compressed, HeaderExtent, MAX_HEADER, OP_PONG,
};
use crate::deflate::{Agreed, Compressor, Inflater};
use crate::error::{CloseFrame, Error, Result, Status};
use crate::info::{Info, Stats, TlsInfo};
use crate::message::Message;
use crate::options::Options;
use crate::time::Deadline;
use crate::timer::{self, TimerId};
use crate::transport::Transport;

/// How long the reader thread stands aside for a thread in `recv` that
/// reads the socket itself, before it reads again (when no receiving thread
/// has read meanwhile). Bounds how late a ping is answered while the
/// program is not receiving.
const STAND_ASIDE: Duration = Duration::from_millis(50);
/// How often the reader thread looks whether a receiving thread that reads
/// the socket (and may wait long in an idle `recv`) has given it back.
const STAND_ASIDE_IDLE: Duration = Duration::from_secs(1);
/// Smallest and largest read buffer of the reader thread; it doubles while
/// reads fill it and halves while they use less than a quarter of it. The
/// largest is a trade: fewer system calls per MiB against the messages of
/// one read all holding tungstenite's buffers (64 KiB: 64 B receive +10%
/// over 256 KiB, large transfers unchanged).
const READ_BUFFER_MIN: usize = 4 << 10;
const READ_BUFFER_MAX: usize = 64 << 10;
/// While a deadline runs, the reader wakes at least this often to check it:
/// the kernel rounds long socket timeouts up by seconds.
const DEADLINE_SLICE: Duration = Duration::from_secs(1);
/// How late this kernel may fire a long socket timeout.
const KERNEL_ROUNDING: Duration = Duration::from_secs(2);
/// A wire buffer grown past this (TLS records of a large piece) is released
/// afterwards.
const WIRE_KEEP: usize = 1 << 20;
/// First and longest wait before the timer retries a flush that found the
/// socket full.
const FLUSH_RETRY_FIRST_MS: u64 = 10;
const FLUSH_RETRY_MAX_MS: u64 = 1000;
/// How long a `close` whose wait timed out waits further for the reader
/// thread to deliver the End event (it does at once: the socket is cut).
const END_GRACE: Duration = Duration::from_secs(2);
/// The largest message [`Engine::send_alone`] takes.
const ALONE_MAX: usize = 16 << 10;
/// The most messages a new batch has room for before it grows.
const BATCH_CAPACITY_MAX: usize = 4096;
/// Messages larger than this go out in pieces of this size, so the wire
/// buffers never grow with the message (a multiple of 4: see `send_pieces`).
const PIECE: usize = 256 << 10;
/// A connection that has received nothing for this long lets its
/// compression state go (about 300 KiB to compress, 40 KiB to inflate);
/// its next compressed message makes it again from the kept history.
const COMPRESSION_IDLE: Duration = Duration::from_secs(1);

/// What the opening handshake agreed: the subprotocol, and
/// permessage-deflate.
#[derive(Debug, Default)]
pub(crate) struct Negotiated {
    pub(crate) protocol: Option<String>,
    pub(crate) deflate: Option<Agreed>,
}

/// What a client learned while connecting: the headers of the server's
/// 101, and the proxy it went through.
type ClientFacts = (Vec<(String, String)>, Option<String>);

/// One thing the receiving side takes: a whole message, or a part of one
/// (once parts are asked for: see [`Engine::want_parts`]).
#[derive(Debug)]
pub(crate) enum Incoming {
    Message(Message),
    Part(Part),
}

impl Incoming {
    /// Payload bytes (what counts against the receive queue limit).
    pub(crate) fn len(&self) -> usize {
        match self {
            Incoming::Message(m) => m.len(),
            Incoming::Part(p) => p.data.len(),
        }
    }

    /// It ends a message (which then counts as received).
    fn ends_message(&self) -> bool {
        match self {
            Incoming::Message(_) => true,
            Incoming::Part(p) => p.fin,
        }
    }
}

/// What the reader thread hands to the receiving side.
#[derive(Debug)]
pub(crate) enum Event {
    One(Incoming),
    /// Several from one socket read, in order: one hand-over (and one
    /// wake-up of the receiving thread) instead of one each.
    Batch(Vec<Incoming>),
    /// The connection ended; sent once, last.
    End(Error),
}

/// Where a reader thread delivers: its socket's own channel, or a hub's
/// channel shared by many connections (tagged with the connection's id).
pub(crate) enum Sink {
    Socket(mpsc::Sender<Event>),
    /// Delivers one event; false if no one receives any more.
    Hub(Box<dyn Fn(Event) -> bool + Send>),
}

impl Sink {
    /// Delivers; false if no one receives any more.
    fn send(&self, event: Event) -> bool {
        match self {
            Sink::Socket(tx) => tx.send(event).is_ok(),
            Sink::Hub(deliver) => deliver(event),
        }
    }
}

/// One connection's state, shared by its handles and its reader thread.
#[derive(Debug)]
pub(crate) struct Engine {
    /// Unique in the process: `Sender::id`, `Connection::id`.
    pub(crate) id: u64,
    /// This connection itself, for the timer's flush retries.
    me: Weak<Engine>,
    transport: Transport,
    role: Role,
    pub(crate) options: Arc<Options>,
    /// The URL (client) or the peer's address (server), for error messages.
    peer: String,
    pub(crate) protocol: Option<String>,
    /// The permessage-deflate agreement, as the server's answer put it.
    compression: Option<String>,
    /// Our compressor, if we compress (taken only by a holder of `wire`,
    /// so messages are compressed in the order they go out: a leaf lock).
    deflater: Option<Mutex<Compressor>>,
    /// Messages of this many bytes or more are compressed (`usize::MAX`:
    /// none).
    compress_from: usize,
    /// The headers of the server's 101 and the proxy (client side).
    response_headers: std::sync::OnceLock<ClientFacts>,
    proto: Mutex<Protocol>,
    read_slot: Mutex<ReadSlot>,
    read_slot_changed: Condvar,
    /// Data messages that do not arrive whole in one read are handed on in
    /// parts (set once, by `recv_reader` or a stream socket).
    parts: AtomicBool,
    /// Threads waiting in `recv` (or a stream read).
    pub(crate) receivers_waiting: AtomicUsize,
    /// A close or a failure needs the reader thread: it stops standing aside.
    reader_needed: AtomicBool,
    outbox: Mutex<Outbox>,
    /// The outbox holds bytes (changed only under `outbox`).
    outbox_dirty: AtomicBool,
    /// A non-blocking write left bytes in the wire buffer (changed only
    /// under `wire`).
    backlog: AtomicBool,
    /// Milliseconds until the next flush retry of a backlog (see
    /// [`Engine::retry_flush_later`]); 0 while one is armed.
    flush_retry: AtomicU64,
    /// `bytes_sent` when the last flush retry began.
    retry_mark: AtomicU64,
    /// Outbox position just past the last control frame queued (pong,
    /// close): a blocking drain does not stop before it (set under `outbox`).
    control_end: AtomicU64,
    /// Mirrors of the outbox positions, for the send queue's limit without
    /// `wire`: just past the last byte queued (set under `outbox`), and up
    /// to which every byte is written (set under `wire`).
    outbox_end: AtomicU64,
    written_end: AtomicU64,
    /// Data frames may still be queued: our close frame is not queued
    /// (cleared under `outbox`, together with queueing the close frame).
    writable: AtomicBool,
    wire: Mutex<Unsent>,
    lifecycle: Mutex<Lifecycle>,
    lifecycle_changed: Condvar,
    pub(crate) stats: Stats,
    /// Payload bytes delivered to the receiving side and not yet taken.
    inbox_bytes: AtomicUsize,
    /// Signalled when the receiving side takes `inbox_bytes` below the
    /// receive queue limit.
    inbox_room: Condvar,
    inbox_lock: Mutex<()>,
    /// Pings and pongs queued while a message goes out in parts (a leaf
    /// lock): its writer sends them between its frames.
    between_frames: Mutex<BetweenFrames>,
    /// Pings of ours not yet answered (a leaf lock), signalled by
    /// `pong_seen` when a pong answers one.
    pings: Mutex<Pings>,
    pong_seen: Condvar,
    /// Numbers the payloads of `round_trip` pings.
    round_trips: AtomicU64,
}

/// `d` after `t`, or `None` if no wait reaches it (durations such as
/// `Duration::MAX` are valid settings).
fn later(t: Instant, d: Duration) -> Option<Instant> {
    Deadline::from(t, d).instant()
}

/// Starts the engine of a connection whose opening handshake is done: its
/// reader thread delivers into `sink`, and holds `guard` (a server's
/// connection slot) until it ends.
#[allow(clippy::too_many_arguments)] // one call site per kind of socket; a struct would only rename them
pub(crate) fn start(
    transport: Transport,
    tail: Vec<u8>,
    role: Role,
    options: Arc<Options>,
    peer: String,
    negotiated: Negotiated,
    sink: impl FnOnce(&Arc<Engine>) -> Sink,
    guard: Option<Box<dyn Send>>,
) -> Result<Arc<Engine>> {
    let stack = options.reader_stack_size;
    let Negotiated { protocol, deflate } = negotiated;
    let inflater = deflate.as_ref().map(Inflater::new);
    let read_state = Box::new(ReadState::new(&options, role, tail, inflater));
    let in_parts = options.in_parts;
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let shared = Arc::new_cyclic(|me| Engine {
        id: NEXT_ID.fetch_add(1, Relaxed),
        me: me.clone(),
        transport,
        role,
        options,
        peer,
        protocol,
        compression: deflate.as_ref().map(|d| d.extension.clone()),
        deflater: deflate.as_ref().and_then(Compressor::new).map(Mutex::new),
        compress_from: deflate.as_ref().map_or(usize::MAX, Agreed::compress_from),
        response_headers: std::sync::OnceLock::new(),
        proto: Mutex::new(Protocol::new(role)),
        read_slot: Mutex::new(ReadSlot {
            state: Some(read_state),
            receiver_steps: 0,
            over: None,
            reader_parked: false,
        }),
        read_slot_changed: Condvar::new(),
        parts: AtomicBool::new(in_parts),
        receivers_waiting: AtomicUsize::new(0),
        reader_needed: AtomicBool::new(false),
        outbox: Mutex::new(Outbox::default()),
        outbox_dirty: AtomicBool::new(false),
        backlog: AtomicBool::new(false),
        flush_retry: AtomicU64::new(FLUSH_RETRY_FIRST_MS),
        retry_mark: AtomicU64::new(0),
        control_end: AtomicU64::new(0),
        outbox_end: AtomicU64::new(0),
        written_end: AtomicU64::new(0),
        writable: AtomicBool::new(true),
        wire: Mutex::new(Unsent::default()),
        lifecycle: Mutex::new(Lifecycle::default()),
        lifecycle_changed: Condvar::new(),
        stats: Stats::default(),
        inbox_bytes: AtomicUsize::new(0),
        inbox_room: Condvar::new(),
        inbox_lock: Mutex::new(()),
        between_frames: Mutex::new(BetweenFrames::default()),
        pings: Mutex::new(Pings::default()),
        pong_seen: Condvar::new(),
        round_trips: AtomicU64::new(0),
    });
    let reader = Arc::clone(&shared);
    let sink = sink(&shared);
    std::thread::Builder::new()
        .name("wsock-reader".into())
        .stack_size(stack)
        .spawn(move || {
            reader.run_reader(sink);
            drop(guard);
        })
        .map_err(|e| {
            shared.transport.shutdown();
            Error::Resource {
                what: format!("cannot start the reader thread for {}", shared.peer),
                reason: e.to_string(),
            }
        })?;
    Ok(shared)
}

impl Engine {
    /// From now on, a data message that does not arrive whole in one read
    /// is handed on in parts as it arrives (the message it is in the middle
    /// of, if any, is still assembled). For good: the receiving side then
    /// assembles parts itself where it wants whole messages.
    pub(crate) fn want_parts(&self) {
        self.parts.store(true, Relaxed);
    }

    pub(crate) fn role(&self) -> Role {
        self.role
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.transport.local_addr()
    }

    pub(crate) fn peer_addr(&self) -> SocketAddr {
        self.transport.peer_addr()
    }

    pub(crate) fn tls_info(&self) -> Option<TlsInfo> {
        self.transport.tls_info()
    }

    /// Records the headers of the server's 101 and the proxy gone through
    /// (once, before the socket is handed out).
    pub(crate) fn set_client_facts(&self, headers: Vec<(String, String)>, proxy: Option<String>) {
        let _ = self.response_headers.set((headers, proxy));
    }

    /// The Information: addresses, subprotocol, counters, TLS.
    pub(crate) fn info(&self) -> Info {
        Info {
            local_addr: self.local_addr(),
            peer_addr: self.peer_addr(),
            protocol: self.protocol.clone(),
            bytes_sent: self.stats.bytes_sent.load(Relaxed),
            bytes_received: self.stats.bytes_received.load(Relaxed),
            messages_sent: self.stats.messages_sent.load(Relaxed),
            messages_received: self.stats.messages_received.load(Relaxed),
            is_server: self.role() == Role::Server,
            rtt: match self.stats.rtt_micros.load(Relaxed) {
                0 => None,
                us => Some(Duration::from_micros(us)),
            },
            queued_bytes: self.queued_bytes(),
            response_headers: self
                .response_headers
                .get()
                .map(|(h, _)| h.clone())
                .unwrap_or_default(),
            proxy: self.response_headers.get().and_then(|(_, p)| p.clone()),
            compression: self.compression.clone(),
            tls: self.tls_info(),
        }
    }
}
