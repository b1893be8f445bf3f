// This page's first sentence is the doc comment on `pub mod guide;` in
// lib.rs; the empty `//!` line below starts this text as a paragraph of
// its own.
//!
//! Each page is one module with documentation and no code. Read them in
//! any order; the [crate root](crate) has the shortest program, one round
//! trip against a local server.
//!
//! | page | read it for |
//! |---|---|
//! | [Message mode](crate::guide::message_mode) | whole text and binary messages: send, receive, close, messages in parts |
//! | [Stream mode](crate::guide::stream_mode) | a byte pipe with `Read` and `Write`, for files and large transfers |
//! | [The server](crate::guide::server) | listening, inspecting requests, answering plain HTTP, many connections on one thread, shutting down |
//! | [Threads and blocking](crate::guide::threads_and_blocking) | which calls block, for how long at most, and from which threads they may be called |
//! | [Errors](crate::guide::errors) | every [`Status`](crate::Status): when it happens and what to do |
//! | [Coming from Windows](crate::guide::coming_from_windows) | `MessageWebSocket` and `StreamWebSocket` of `Windows.Networking.Sockets`, member by member |
//! | [Coming from tungstenite](crate::guide::coming_from_tungstenite) | the same program in both, and what differs |
//!
//! Every example on these pages runs as a doctest (`cargo test --doc`)
//! against a [`Server`](crate::Server) on `127.0.0.1:0` in the same
//! program: no setup, and no network beyond loopback.
//!
//! Two things hold on every page:
//!
//! - **No call hangs on a dead peer.** Each blocking call is bounded by a
//!   timeout with a default, or, while it waits on a peer that is only
//!   quiet (an idle `recv`), by keepalive pings that end the connection
//!   once the peer stops answering ([Threads and blocking](crate::guide::threads_and_blocking)
//!   lists every call and its bound).
//! - **Every end says why.** A connection ends with a close handshake (the
//!   peer's code and reason) or with an [`Error`](crate::Error) whose
//!   [`status`](crate::Error::status) names the cause ([Errors](crate::guide::errors)).

// The pages link to the TLS settings, which exist only with the `tls`
// feature (on by default): without it those links cannot resolve.
#![cfg_attr(not(feature = "tls"), allow(rustdoc::broken_intra_doc_links))]

pub mod coming_from_tungstenite;
pub mod coming_from_windows;
pub mod errors;
pub mod message_mode;
pub mod server;
pub mod stream_mode;
pub mod threads_and_blocking;
