//! wsock talks to WebSocket peers nobody here wrote, Python `websockets` and
//! Node `ws`, as client and as server: text, binary, 4 MiB, 1,000 small
//! messages in order, a fragmented message reassembled, the subprotocol the
//! server chose, and a close 1000 whose reason both sides see.
//!
//! The peers are in `.ci/interop/` (`python/script.py` and `node/script.js`
//! hold the same conversation as [`script`] here). They need a Python with
//! `websockets` in `WSOCK_PYTHON` and a folder with `node_modules/ws` in
//! `WSOCK_NODE_DIR`, so these tests are ignored by default;
//! `.ci/interop.sh` runs them with `--ignored`.

use std::io::{BufRead, BufReader, Read};
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use wsock::{CloseFrame, Message, MessageWebSocket, Server};

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
    let protocol = ws.info().protocol;
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
        received,
        end,
    })
}

/// A peer client (given the URL) runs the conversation against a wsock server.
fn wsock_server_with(name: &'static str, client: fn(&str) -> Command) {
    let server = Server::bind(("127.0.0.1", 0)).expect("bind");
    let url = format!("ws://{}{PATH}", server.local_addr().expect("local_addr"));
    let mut peer = Peer::spawn(name, client(&url));
    peer.run(|peer| {
        let (done_tx, done) = mpsc::channel();
        thread::spawn(move || {
            let _ = done_tx.send(serve_one(server));
        });
        let served = match done.recv_timeout(CONVERSATION) {
            Ok(Ok(served)) => served,
            Ok(Err(e)) => panic!("wsock server: {e}"),
            Err(e) => {
                panic!("wsock server: the conversation did not end within {CONVERSATION:?} ({e})")
            }
        };

        assert_eq!(served.path, PATH);
        assert_eq!(served.offered, OFFERED_PROTOCOLS);
        assert_eq!(served.protocol.as_deref(), Some(PROTOCOL));
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
    });
}

#[test]
#[ignore = "needs the interop peers; .ci/run runs them with --ignored"]
fn python_client_to_wsock_server() {
    wsock_server_with("python", |url| {
        let mut command = python("client.py");
        command.arg(url);
        command
    });
}

#[test]
#[ignore = "needs the interop peers; .ci/run runs them with --ignored"]
fn node_client_to_wsock_server() {
    wsock_server_with("node", |url| {
        let mut command = node("client.js");
        command.arg(url);
        command
    });
}

// --- wsock as the client -----------------------------------------------------

fn expect_echo(ws: &MessageWebSocket, index: usize, want: &Message) {
    match ws.recv_timeout(STEP) {
        Ok(got) => assert_same(index, &got, want),
        Err(e) => panic!("echo {index} ({}): {e}", describe(want)),
    }
}

/// A wsock client runs the conversation against a peer server.
fn wsock_client_with(name: &'static str, server: Command) {
    let mut peer = Peer::spawn(name, server);
    peer.run(|peer| {
        let url = format!("ws://127.0.0.1:{}{PATH}", peer.port());
        let ws = MessageWebSocket::builder()
            .protocols(OFFERED_PROTOCOLS)
            .connect(&url)
            .unwrap_or_else(|e| panic!("connect: {e}"));
        assert_eq!(ws.info().protocol.as_deref(), Some(PROTOCOL));

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
    });
}

#[test]
#[ignore = "needs the interop peers; .ci/run runs them with --ignored"]
fn wsock_client_to_python_server() {
    wsock_client_with("python", python("server.py"));
}

#[test]
#[ignore = "needs the interop peers; .ci/run runs them with --ignored"]
fn wsock_client_to_node_server() {
    wsock_client_with("node", node("server.js"));
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
