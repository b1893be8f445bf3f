//! The Information: read-only facts about a live socket, and the counters
//! behind them.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// The Information: read-only facts about a live socket.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Info {
    /// This side's address.
    pub local_addr: SocketAddr,
    /// The peer's address.
    pub peer_addr: SocketAddr,
    /// The subprotocol both sides agreed on, if any.
    pub protocol: Option<String>,
    /// Bytes written to the socket (frames and their headers).
    pub bytes_sent: u64,
    /// Bytes read from the socket.
    pub bytes_received: u64,
    /// Data messages sent.
    pub messages_sent: u64,
    /// Data messages received.
    pub messages_received: u64,
    /// True on the server side of the connection.
    pub is_server: bool,
    /// The round-trip time of the last ping of ours that the peer
    /// answered (keepalive, [`ping`](crate::MessageWebSocket::ping) or
    /// [`round_trip`](crate::MessageWebSocket::round_trip)): from the ping
    /// to its pong.
    pub rtt: Option<Duration>,
    /// Bytes of frames queued for the peer and not yet written to the
    /// socket (the Windows outbound buffer, Node's `bufferedAmount`):
    /// what [`try_send`](crate::MessageWebSocket::try_send) and broadcasts
    /// left waiting, bounded by `outbound_queue_limit`.
    pub queued_bytes: u64,
    /// The headers of the server's `101 Switching Protocols`, as
    /// (lower-case name, value), on the client side (empty on the server
    /// side): a cookie it set, its name, what it negotiated.
    pub response_headers: Vec<(String, String)>,
    /// The proxy the connection goes through (its URL, password hidden),
    /// on the client side.
    pub proxy: Option<String>,
    /// The permessage-deflate agreement, as the server's
    /// `Sec-WebSocket-Extensions` answer put it (e.g.
    /// `permessage-deflate; server_max_window_bits=10`); `None` if the
    /// connection is not compressed.
    pub compression: Option<String>,
    /// The TLS session (version, cipher suite, server name, the peer's
    /// certificates) on a `wss://` connection; `None` on plain `ws://`.
    pub tls: Option<crate::TlsInfo>,
}

/// Facts about a TLS session, for [`Info::tls`](crate::Info::tls).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsInfo {
    /// The protocol version, e.g. `TLSv1_3`.
    pub version: String,
    /// The negotiated cipher suite, e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher_suite: String,
    /// The server name: the host a client connected to, or the SNI name a
    /// server was asked for.
    pub server_name: Option<String>,
    /// The peer's certificate chain, end entity first (DER); empty if the
    /// peer sent none (a client without a certificate).
    pub peer_certificates: Vec<Vec<u8>>,
}

/// Counters behind [`Info`](crate::Info).
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub bytes_sent: AtomicU64,
    pub bytes_received: AtomicU64,
    pub messages_sent: AtomicU64,
    pub messages_received: AtomicU64,
    /// The last keepalive round trip, in microseconds (0: none yet).
    pub rtt_micros: AtomicU64,
}

/// A count of a stream half's payload bytes that another thread can read
/// while the half works, e.g. for a progress bar: cheap to clone (it
/// shares an `Arc`), `Send + Sync`, and it outlives the stream. From
/// [`StreamWriter::bytes_written_counter`](crate::StreamWriter::bytes_written_counter) and
/// [`StreamReader::bytes_read_counter`](crate::StreamReader::bytes_read_counter).
#[derive(Debug, Clone, Default)]
pub struct ByteCounter(std::sync::Arc<AtomicU64>);

impl ByteCounter {
    /// The count at this moment.
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }

    /// Adds `n`, by the one thread that counts (no read-modify-write).
    pub(crate) fn add(&self, n: usize) {
        self.0.store(self.0.load(Relaxed) + n as u64, Relaxed);
    }
}
