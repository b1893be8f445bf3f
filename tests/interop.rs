//! wsock talks to WebSocket peers nobody here wrote, Python `websockets` and
//! Node `ws`, as client and as server: text, binary, 4 MiB, 1,000 small
//! messages in order, a fragmented message reassembled, the subprotocol the
//! server chose, and a close 1000 whose reason both sides see; all of it
//! compressed (permessage-deflate, which every peer here offers or accepts,
//! with every message compressed).
//!
//! The peers are in `.ci/interop/` (`python/script.py` and `node/script.js`
//! hold the same conversation as [`script`] here). They need a Python with
//! `websockets` in `WSOCK_PYTHON` and a folder with `node_modules/ws` in
//! `WSOCK_NODE_DIR`, so these tests are ignored by default;
//! `.ci/interop.sh` runs them with `--ignored`.
//!
//! The same conversations run over `wss://` (module `wss`): a throwaway CA
//! made at test time (`support/tls.rs`) signs a certificate for `localhost`
//! and 127.0.0.1, and the peers get the PEM files in a temporary directory.

use std::io::{BufRead, BufReader, Read};
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use wsock::{Builder, CloseFrame, Deflate, Message, MessageWebSocket, Server, TlsInfo};

#[cfg(feature = "tls")]
#[path = "support/tls.rs"]
mod certs;

/// Bound on each single wait: a peer's port, one echo, the peer's exit.
const STEP: Duration = Duration::from_secs(20);
/// Bound on a whole conversation seen from a wsock server.
const CONVERSATION: Duration = Duration::from_secs(60);

const PATH: &str = "/interop";
const OFFERED_PROTOCOLS: [&str; 2] = ["chat.v0", "chat.v1"];
const PROTOCOL: &str = "chat.v1";
const TEXT: &str = "hello from the client: h\u{e9}llo w\u{f6}rld \u{2713} \u{1f980}";
const BIG_LEN: usize = 4 * 1024 * 1024;
const SMALL_COUNT: usize = 1000;
/// The peers send (or echo) this one in fragments: "fragmented:", " one", ...
const FRAGMENTED: &str = "fragmented: one two three";
const CLOSE_CODE: u16 = 1000;

/// Every message the client sends, in order; the server echoes each one.
fn script() -> Vec<Message> {
    let mut messages = vec![
        Message::Text(TEXT.into()),
        Message::Binary((0..=255u8).collect::<Vec<u8>>().into()),
        Message::Binary(
            (0..BIG_LEN)
                .map(|i| (i % 251) as u8)
                .collect::<Vec<u8>>()
                .into(),
        ),
    ];
    messages.extend((0..SMALL_COUNT).map(|i| Message::Text(format!("message {i}").into())));
    messages.push(Message::Text(FRAGMENTED.into()));
    messages
}

fn close_frame(client: &str) -> CloseFrame {
    CloseFrame {
        code: CLOSE_CODE,
        reason: format!("bye from {client}"),
    }
}

/// A message in a few words, for failure reports (never 4 MiB of it).
fn describe(message: &Message) -> String {
    match message {
        Message::Text(text) => {
            let head: String = text.chars().take(40).collect();
            format!("text of {} bytes starting {head:?}", text.len())
        }
        Message::Binary(bytes) => {
            let head = &bytes[..bytes.len().min(16)];
            format!("binary of {} bytes starting {head:02x?}", bytes.len())
        }
    }
}

fn assert_same(index: usize, got: &Message, want: &Message) {
    assert!(
        got == want,
        "message {index}: got {}, want {}",
        describe(got),
        describe(want)
    );
}

// --- peers -------------------------------------------------------------------

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci/interop")
}

fn env_path(name: &str) -> PathBuf {
    match std::env::var_os(name) {
        Some(value) if !value.is_empty() => PathBuf::from(value),
        _ => panic!(
            "{name} is not set: these tests need the interop peers \
             (WSOCK_PYTHON: a python with websockets; WSOCK_NODE_DIR: a folder with \
             node_modules/ws); .ci/interop.sh sets both"
        ),
    }
}

fn python(script: &str) -> Command {
    let mut command = Command::new(env_path("WSOCK_PYTHON"));
    command
        .arg(interop_dir().join("python").join(script))
        .env("PYTHONDONTWRITEBYTECODE", "1"); // no __pycache__ in the repo
    command
}

fn node(script: &str) -> Command {
    let mut command = Command::new("node");
    command
        .arg(interop_dir().join("node").join(script))
        .env("NODE_PATH", env_path("WSOCK_NODE_DIR").join("node_modules"));
    command
}

/// A peer program running as a child process: its first stdout line on a
/// channel, everything it prints collected for failure reports, killed on drop.
struct Peer {
    name: &'static str,
    child: Child,
    first_line: mpsc::Receiver<String>,
    output: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl Peer {
    fn spawn(name: &'static str, mut command: Command) -> Peer {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the {name} peer ({command:?}): {e}"));
        let output = Arc::new(Mutex::new(String::new()));
        let (first_line_tx, first_line) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let readers = vec![
            collect_lines(stdout, "stdout", Arc::clone(&output), Some(first_line_tx)),
            collect_lines(stderr, "stderr", Arc::clone(&output), None),
        ];
        Peer {
            name,
            child,
            first_line,
            output,
            readers,
        }
    }

    /// The port a peer server prints as its first stdout line.
    fn port(&self) -> u16 {
        let line = self.first_line.recv_timeout(STEP).unwrap_or_else(|e| {
            panic!(
                "the {} peer did not print its port within {STEP:?}: {e}",
                self.name
            )
        });
        line.trim().parse().unwrap_or_else(|e| {
            panic!(
                "the {} peer's first line {line:?} is not a port: {e}",
                self.name
            )
        })
    }

    /// Waits (bounded) for the peer to exit, which it does when its side of
    /// the conversation is over.
    fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
                Ok(None) => return None,
                Err(e) => panic!("waiting for the {} peer: {e}", self.name),
            }
        }
    }

    /// The peer's exit status if it has ended, unsuccessfully.
    fn failed(&mut self) -> Option<ExitStatus> {
        match self.child.try_wait() {
            Ok(Some(status)) if !status.success() => Some(status),
            _ => None,
        }
    }

    /// Asserts the peer ends and says its checks passed (exit status 0).
    fn assert_success(&mut self) {
        match self.wait(STEP) {
            Some(status) => assert!(status.success(), "the {} peer failed: {status}", self.name),
            None => panic!("the {} peer did not exit within {STEP:?}", self.name),
        }
    }

    /// Runs `body`; if it panics, prints everything the peer said, then
    /// carries on panicking.
    fn run<T>(&mut self, body: impl FnOnce(&mut Peer) -> T) -> T {
        match panic::catch_unwind(AssertUnwindSafe(|| body(self))) {
            Ok(value) => value,
            Err(cause) => {
                // Let a peer that is still complaining finish, then stop it.
                if self.wait(Duration::from_secs(2)).is_none() {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                }
                for reader in self.readers.drain(..) {
                    let _ = reader.join();
                }
                let output = self.output.lock().map(|o| o.clone()).unwrap_or_default();
                eprintln!(
                    "--- what the {} peer printed ---\n{output}--- end ---",
                    self.name
                );
                panic::resume_unwind(cause)
            }
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

fn collect_lines(
    stream: impl Read + Send + 'static,
    label: &'static str,
    output: Arc<Mutex<String>>,
    mut first_line: Option<mpsc::Sender<String>>,
) -> JoinHandle<()> {
    thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if let Some(tx) = first_line.take() {
                let _ = tx.send(line.clone());
            }
            if let Ok(mut output) = output.lock() {
                output.push_str(&format!("{label}: {line}\n"));
            }
        }
    })
}

// --- wsock as the server -----------------------------------------------------

/// What a wsock server saw of one conversation.
struct Served {
    path: String,
    offered: Vec<String>,
    protocol: Option<String>,
    compression: Option<String>,
    tls: Option<TlsInfo>,
    received: Vec<Message>,
    end: wsock::Error,
}

/// Accepts one connection, chooses chat.v1, echoes every message until the
/// connection ends.
fn serve_one(server: Server) -> Result<Served, wsock::Error> {
    let mut request = server.incoming().next().expect("incoming() never ends")?;
    let path = request.path().to_string();
    let offered = request.protocols().iter().map(|p| p.to_string()).collect();
    request.select_protocol(PROTOCOL)?;
    let ws = request.accept_message()?;
    let info = ws.info();
    let (protocol, compression, tls) = (info.protocol, info.compression, info.tls);
    let mut received = Vec::new();
    let end = loop {
        match ws.recv() {
            Ok(message) => {
                received.push(message.clone());
                ws.send(message)?;
            }
            Err(end) => break end,
        }
    };
    Ok(Served {
        path,
        offered,
        protocol,
        compression,
        tls,
        received,
        end,
    })
}

/// A peer client (`client`, given the URL of `server` on `host`, `scheme`
/// ws or wss) runs the conversation against `server`; what the server saw.
fn wsock_server_with(
    name: &'static str,
    server: Server,
    scheme: &str,
    host: &str,
    client: impl FnOnce(&str) -> Command,
) -> Served {
    let port = server.local_addr().expect("local_addr").port();
    let url = format!("{scheme}://{host}:{port}{PATH}");
    let mut peer = Peer::spawn(name, client(&url));
    peer.run(|peer| {
        let (done_tx, done) = mpsc::channel();
        thread::spawn(move || {
            let _ = done_tx.send(serve_one(server));
        });
        // Bounded, and cut short by a peer that gives up: a client that
        // fails its (TLS) handshake never becomes a request, so the server
        // alone would wait out the whole bound.
        let deadline = Instant::now() + CONVERSATION;
        let served = loop {
            match done.recv_timeout(Duration::from_millis(50)) {
                Ok(Ok(served)) => break served,
                Ok(Err(e)) => panic!("wsock server: {e}"),
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {
                    if let Some(status) = peer.failed() {
                        panic!("the {name} peer failed ({status}) before the conversation ended")
                    }
                }
                Err(e) => panic!(
                    "wsock server: the conversation did not end within {CONVERSATION:?} ({e})"
                ),
            }
        };

        assert_eq!(served.path, PATH);
        assert_eq!(served.offered, OFFERED_PROTOCOLS);
        assert_eq!(served.protocol.as_deref(), Some(PROTOCOL));
        // Both peers offer permessage-deflate.
        assert!(
            served
                .compression
                .as_deref()
                .is_some_and(|c| c.starts_with("permessage-deflate")),
            "compression: {:?}",
            served.compression
        );
        let want = script();
        for (index, (got, want)) in served.received.iter().zip(&want).enumerate() {
            assert_same(index, got, want);
        }
        assert_eq!(served.received.len(), want.len(), "messages received");
        assert_eq!(
            served.end.close_frame(),
            Some(&close_frame(name)),
            "how the conversation ended: {}",
            served.end
        );
        peer.assert_success();
        served
    })
}

/// Every message compressed, the small ones too.
fn every_message() -> Deflate {
    Deflate::default().threshold(0)
}

fn plain_server() -> Server {
    Server::builder()
        .compression(every_message())
        .bind(("127.0.0.1", 0))
        .expect("bind")
}

#[test]
#[ignore = "needs the interop peers; .ci/run runs them with --ignored"]
fn python_client_to_wsock_server() {
    let served = wsock_server_with("python", plain_server(), "ws", "127.0.0.1", |url| {
        let mut command = python("client.py");
        command.arg(url);
        command
    });
    let tls = served.tls;
    assert!(tls.is_none(), "TLS on a ws:// server: {tls:?}");
}

#[test]
#[ignore = "needs the interop peers; .ci/run runs them with --ignored"]
fn node_client_to_wsock_server() {
    let served = wsock_server_with("node", plain_server(), "ws", "127.0.0.1", |url| {
        let mut command = node("client.js");
        command.arg(url);
        command
    });
    let tls = served.tls;
    assert!(tls.is_none(), "TLS on a ws:// server: {tls:?}");
}

// --- wsock as the client -----------------------------------------------------

fn expect_echo(ws: &MessageWebSocket, index: usize, want: &Message) {
    match ws.recv_timeout(STEP) {
        Ok(got) => assert_same(index, &got, want),
        Err(e) => panic!("echo {index} ({}): {e}", describe(want)),
    }
}

/// A wsock client (made by `client`) runs the conversation against a peer
/// server, at `scheme://host:PORT` (the port the peer prints); the TLS
/// session the client saw, if any.
fn wsock_client_with(
    name: &'static str,
    server: Command,
    scheme: &str,
    host: &str,
    client: Builder<MessageWebSocket>,
) -> Option<TlsInfo> {
    let mut peer = Peer::spawn(name, server);
    peer.run(|peer| {
        let url = format!("{scheme}://{host}:{}{PATH}", peer.port());
        let ws = client
            .protocols(OFFERED_PROTOCOLS)
            .compression(every_message())
            .connect(&url)
            .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
        let info = ws.info();
        assert_eq!(info.protocol.as_deref(), Some(PROTOCOL));
        assert!(
            info.compression
                .as_deref()
                .is_some_and(|c| c.starts_with("permessage-deflate")),
            "compression: {:?}",
            info.compression
        );

        let script = script();
        let (small_start, small_end) = (3, 3 + SMALL_COUNT);
        for (index, message) in script[..small_start].iter().enumerate() {
            ws.send(message.clone())
                .unwrap_or_else(|e| panic!("send {index}: {e}"));
            expect_echo(&ws, index, message);
        }
        // The small ones go out back to back; the echoes must come back in order.
        for (index, message) in script[small_start..small_end].iter().enumerate() {
            ws.send(message.clone())
                .unwrap_or_else(|e| panic!("send {}: {e}", small_start + index));
        }
        for (index, message) in script[small_start..small_end].iter().enumerate() {
            expect_echo(&ws, small_start + index, message);
        }
        // The peer echoes this one in fragments: it must arrive whole.
        let fragmented = &script[small_end];
        ws.send(fragmented.clone())
            .unwrap_or_else(|e| panic!("send {small_end}: {e}"));
        expect_echo(&ws, small_end, fragmented);

        let bye = close_frame("wsock");
        ws.close(bye.code, &bye.reason)
            .unwrap_or_else(|e| panic!("close: {e}"));
        match ws.recv_timeout(STEP) {
            Ok(message) => panic!("after close: got {}", describe(&message)),
            Err(end) => assert_eq!(
                end.close_frame(),
                Some(&bye),
                "the server's close frame: {end}"
            ),
        }
        peer.assert_success();
        info.tls
    })
}

#[test]
#[ignore = "needs the interop peers; .ci/run runs them with --ignored"]
fn wsock_client_to_python_server() {
    let builder = MessageWebSocket::builder();
    let tls = wsock_client_with("python", python("server.py"), "ws", "127.0.0.1", builder);
    assert!(tls.is_none(), "TLS on a ws:// connection: {tls:?}");
}

#[test]
#[ignore = "needs the interop peers; .ci/run runs them with --ignored"]
fn wsock_client_to_node_server() {
    let builder = MessageWebSocket::builder();
    let tls = wsock_client_with("node", node("server.js"), "ws", "127.0.0.1", builder);
    assert!(tls.is_none(), "TLS on a ws:// connection: {tls:?}");
}

// --- stream mode --------------------------------------------------------------

/// zlib's CRC-32 (IEEE), to compare with what the Python peer prints.
fn crc32(crc: u32, data: &[u8]) -> u32 {
    let mut crc = !crc;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
#[ignore = "needs the interop peers; .ci/run runs them with --ignored"]
fn python_messages_of_random_sizes_read_as_one_stream() {
    use std::io::Read as _;
    let server = Server::bind(("127.0.0.1", 0)).expect("bind");
    let url = format!("ws://{}/stream", server.local_addr().expect("local_addr"));
    let mut peer = Peer::spawn("python stream", {
        let mut command = python("stream_client.py");
        command.arg(&url);
        command
    });
    peer.run(|peer| {
        let (done_tx, done) = mpsc::channel();
        thread::spawn(move || {
            let read = || -> std::io::Result<(u32, u64)> {
                let mut stream = server.accept()?.accept_stream()?;
                stream.set_read_timeout(Some(STEP))?;
                let (mut crc, mut length) = (0u32, 0u64);
                let mut buf = vec![0u8; 100_000];
                loop {
                    match stream.read(&mut buf)? {
                        0 => return Ok((crc, length)),
                        n => {
                            crc = crc32(crc, &buf[..n]);
                            length += n as u64;
                        }
                    }
                }
            };
            let _ = done_tx.send(read());
        });
        let (crc, length) = match done.recv_timeout(CONVERSATION) {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => panic!("wsock stream: {e}"),
            Err(e) => panic!("wsock stream: no end of stream within {CONVERSATION:?} ({e})"),
        };
        let summary = peer
            .first_line
            .recv_timeout(STEP)
            .expect("the peer printed its checksum");
        assert_eq!(summary, format!("crc32 {crc:08x} length {length}"));
        assert_eq!(length, 64 << 20);
        peer.assert_success();
    });
}

// --- over wss:// ---------------------------------------------------------------

/// The conversations above over TLS. A throwaway CA made for this test binary
/// signs the server's certificate (for `localhost` and 127.0.0.1); wsock is
/// given its PEM directly, the peers as files in a temporary directory.
#[cfg(feature = "tls")]
mod wss {
    use std::fs;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};

    use super::*;
    use crate::certs::pki;

    /// The name the clients connect to, and so the name the server is asked
    /// for (SNI) and its certificate must carry.
    const HOST: &str = "localhost";

    /// The CA's certificate and the server's certificate and key as PEM files
    /// in a directory of their own under the system's temporary directory
    /// (never the repository), removed on drop, a failed test included.
    struct CertFiles {
        dir: PathBuf,
        ca: PathBuf,
        cert: PathBuf,
        key: PathBuf,
    }

    impl CertFiles {
        fn write() -> CertFiles {
            static MADE: AtomicUsize = AtomicUsize::new(0);
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_nanos());
            let dir = std::env::temp_dir().join(format!(
                "wsock-interop-wss-{}-{}-{nanos}",
                std::process::id(),
                MADE.fetch_add(1, Ordering::Relaxed)
            ));
            let mut builder = fs::DirBuilder::new();
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            // Not recursive: fails rather than reuse a directory that exists.
            builder
                .create(&dir)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
            let files = CertFiles {
                ca: dir.join("ca.pem"),
                cert: dir.join("server.pem"),
                key: dir.join("server.key"),
                dir,
            };
            let pki = pki();
            for (path, pem) in [
                (&files.ca, &pki.ca_pem),
                (&files.cert, &pki.server.cert_pem),
                (&files.key, &pki.server.key_pem),
            ] {
                fs::write(path, pem)
                    .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
            }
            files
        }
    }

    impl Drop for CertFiles {
        fn drop(&mut self) {
            if let Err(e) = fs::remove_dir_all(&self.dir) {
                eprintln!("cannot remove {}: {e}", self.dir.display());
            }
        }
    }

    fn tls_server() -> Server {
        let server = &pki().server;
        Server::builder()
            .compression(super::every_message())
            .tls_pem(server.cert_pem.as_bytes(), server.key_pem.as_bytes())
            .bind(("127.0.0.1", 0))
            .expect("bind_tls")
    }

    /// A wsock client that trusts the throwaway CA (beside the default roots).
    fn trusting_client() -> Builder<MessageWebSocket> {
        MessageWebSocket::builder().root_certificate_pem(pki().ca_pem.as_bytes())
    }

    fn assert_served_over_tls(served: &Served) {
        let tls = served
            .tls
            .as_ref()
            .expect("the wsock server saw no TLS session on wss://");
        assert_eq!(
            tls.server_name.as_deref(),
            Some(HOST),
            "the name the client asked the server for (SNI)"
        );
        assert!(
            tls.peer_certificates.is_empty(),
            "the peer client sent a certificate"
        );
    }

    fn assert_client_over_tls(tls: Option<TlsInfo>) {
        let tls = tls.expect("the wsock client saw no TLS session on wss://");
        assert_eq!(tls.server_name.as_deref(), Some(HOST));
        assert_eq!(
            tls.peer_certificates,
            vec![pki().server.cert_der.clone()],
            "the wsock client's view of the peer server's chain"
        );
    }

    #[test]
    #[ignore = "needs the interop peers; .ci/run runs them with --ignored"]
    fn python_client_to_wsock_server() {
        let files = CertFiles::write();
        let served = wsock_server_with("python", tls_server(), "wss", HOST, |url| {
            let mut command = python("client.py");
            command.arg(url).arg("--ca").arg(&files.ca);
            command
        });
        assert_served_over_tls(&served);
    }

    #[test]
    #[ignore = "needs the interop peers; .ci/run runs them with --ignored"]
    fn node_client_to_wsock_server() {
        let files = CertFiles::write();
        let served = wsock_server_with("node", tls_server(), "wss", HOST, |url| {
            let mut command = node("client.js");
            command.arg(url).arg("--ca").arg(&files.ca);
            command
        });
        assert_served_over_tls(&served);
    }

    #[test]
    #[ignore = "needs the interop peers; .ci/run runs them with --ignored"]
    fn wsock_client_to_python_server() {
        let files = CertFiles::write();
        let mut server = python("server.py");
        server.arg("--tls").arg(&files.cert).arg(&files.key);
        let tls = wsock_client_with("python", server, "wss", HOST, trusting_client());
        assert_client_over_tls(tls);
    }

    #[test]
    #[ignore = "needs the interop peers; .ci/run runs them with --ignored"]
    fn wsock_client_to_node_server() {
        let files = CertFiles::write();
        let mut server = node("server.js");
        server.arg("--tls").arg(&files.cert).arg(&files.key);
        let tls = wsock_client_with("node", server, "wss", HOST, trusting_client());
        assert_client_over_tls(tls);
    }
}

// --- messages in parts ---------------------------------------------------------

/// What wsock writes to the Python peer with `send_writer`, a write each:
/// whole characters (some outside ASCII), of growing lengths, 26 B to 16 KiB.
fn wsock_pieces() -> Vec<String> {
    (0..20)
        .map(|i| format!("piece {i:02} from wsock: caf\u{e9} \u{2713} ").repeat(i * i * 2 + 1))
        .collect()
}

/// What the Python peer sends back with `send(iterable)`, text and then
/// binary (`TEXT_PIECES` and `binary_pieces()` in `parts_peer.py`).
fn python_text_pieces() -> Vec<String> {
    (0..12)
        .map(|i| format!("piece {i} from python: h\u{e9}llo \u{1f980} ").repeat(i + 1))
        .collect()
}

fn python_binary_pieces() -> Vec<Vec<u8>> {
    (0..8u8).map(|i| vec![i; 65536 + usize::from(i)]).collect()
}

/// Reads the next message with `recv_reader`, 1,000 bytes at most a read:
/// its kind and payload.
fn read_in_parts(ws: &MessageWebSocket, what: &str) -> (wsock::MessageKind, Vec<u8>) {
    let mut reader = ws
        .recv_reader()
        .unwrap_or_else(|e| panic!("recv_reader ({what}): {e}"));
    let kind = reader.kind();
    let (mut payload, mut buf) = (Vec::new(), [0u8; 1000]);
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return (kind, payload),
            Ok(n) => payload.extend_from_slice(&buf[..n]),
            Err(e) => panic!("reading {what} after {} bytes: {e}", payload.len()),
        }
    }
}

/// What the wsock client of [`python_recv_streaming_and_send_iterable_with_send_writer_and_recv_reader`] saw.
struct InParts {
    compression: Option<String>,
    summary: (wsock::MessageKind, Vec<u8>),
    text: (wsock::MessageKind, Vec<u8>),
    binary: (wsock::MessageKind, Vec<u8>),
    end: wsock::Error,
}

#[test]
#[ignore = "needs the interop peers; .ci/run runs them with --ignored"]
fn python_recv_streaming_and_send_iterable_with_send_writer_and_recv_reader() {
    use std::io::Write as _;
    let mut peer = Peer::spawn("python parts", python("parts_peer.py"));
    peer.run(|peer| {
        let url = format!("ws://127.0.0.1:{}/parts", peer.port());
        let (done_tx, done) = mpsc::channel();
        let conversation = thread::spawn(move || {
            let ws = MessageWebSocket::builder()
                .connect_timeout(STEP)
                .connect(&url)
                .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
            let mut writer = ws
                .send_writer(wsock::MessageKind::Text)
                .unwrap_or_else(|e| panic!("send_writer: {e}"));
            for (i, piece) in wsock_pieces().iter().enumerate() {
                let n = writer
                    .write(piece.as_bytes())
                    .unwrap_or_else(|e| panic!("write {i}: {e}"));
                assert_eq!(n, piece.len(), "write {i} took part of its piece");
            }
            writer.finish().unwrap_or_else(|e| panic!("finish: {e}"));
            // Read in parts too (the first recv_reader turns parts on, so
            // the peer's fragmented messages after "go" come in parts).
            let summary = read_in_parts(&ws, "the summary");
            ws.send_text("go")
                .unwrap_or_else(|e| panic!("send go: {e}"));
            let text = read_in_parts(&ws, "the text message");
            let binary = read_in_parts(&ws, "the binary message");
            ws.close(1000, "done")
                .unwrap_or_else(|e| panic!("close: {e}"));
            let end = match ws.recv_timeout(STEP) {
                Ok(m) => panic!("after close: got {}", describe(&m)),
                Err(end) => end,
            };
            let _ = done_tx.send(InParts {
                compression: ws.info().compression,
                summary,
                text,
                binary,
                end,
            });
        });
        let seen = match done.recv_timeout(CONVERSATION) {
            Ok(seen) => seen,
            // The conversation panicked: its message.
            Err(mpsc::RecvTimeoutError::Disconnected) => match conversation.join() {
                Err(cause) => panic::resume_unwind(cause),
                Ok(()) => unreachable!("the conversation ended without a result"),
            },
            Err(e) => panic!("the conversation did not end within {CONVERSATION:?} ({e})"),
        };

        // Both sides' defaults: permessage-deflate.
        assert!(
            seen.compression
                .as_deref()
                .is_some_and(|c| c.starts_with("permessage-deflate")),
            "compression: {:?}",
            seen.compression
        );
        // recv_streaming yields a fragment per frame: one per write, then
        // finish()'s empty final frame.
        let pieces = wsock_pieces();
        let sent = pieces.concat();
        let lengths: Vec<String> = pieces
            .iter()
            .map(|p| p.len().to_string())
            .chain(["0".to_string()])
            .collect();
        let want = format!(
            "text fragments={} lengths={} bytes={} crc32={:08x}",
            pieces.len() + 1,
            lengths.join(","),
            sent.len(),
            crc32(0, sent.as_bytes())
        );
        let (kind, summary) = &seen.summary;
        assert_eq!(*kind, wsock::MessageKind::Text, "the summary's kind");
        assert_eq!(String::from_utf8_lossy(summary), want, "the peer's summary");

        let (kind, text) = &seen.text;
        assert_eq!(*kind, wsock::MessageKind::Text, "the text message's kind");
        assert!(
            *text == python_text_pieces().concat().into_bytes(),
            "the text message: got {:?}",
            String::from_utf8_lossy(&text[..text.len().min(80)])
        );
        let (kind, binary) = &seen.binary;
        assert_eq!(
            *kind,
            wsock::MessageKind::Binary,
            "the binary message's kind"
        );
        let want = python_binary_pieces().concat();
        assert_eq!(binary.len(), want.len(), "the binary message's length");
        if let Some(at) = binary.iter().zip(&want).position(|(a, b)| a != b) {
            panic!("the binary message differs at byte {at}");
        }
        assert_eq!(
            seen.end.close_frame().map(|f| f.code),
            Some(1000),
            "how the conversation ended: {}",
            seen.end
        );
        peer.assert_success();
    });
}
