//! Helpers shared by the integration tests: connected socket pairs, threads
//! that hand over results through channels (so every wait is bounded), and
//! a raw WebSocket peer that writes frames byte by byte.
#![allow(dead_code)] // each test file uses a different subset

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use wsock::{Builder, MessageWebSocket, Request, Server, ServerBuilder};

/// The bound of every wait that should end much sooner when wsock works.
pub const WAIT: Duration = Duration::from_secs(10);

/// Hands every upgrade request the server receives to the returned channel.
pub fn serve(server: Server) -> Receiver<wsock::Result<Request>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for request in server.incoming() {
            if tx.send(request).is_err() {
                return;
            }
        }
    });
    rx
}

/// The next upgrade request, within [`WAIT`].
pub fn next_request(requests: &Receiver<wsock::Result<Request>>) -> Request {
    requests
        .recv_timeout(WAIT)
        .expect("no upgrade request reached the server in time")
        .expect("the server failed to accept")
}

/// Connects in a thread, so the caller can handle the server side meanwhile.
pub fn connect_in_thread(
    builder: Builder<MessageWebSocket>,
    url: String,
) -> Receiver<wsock::Result<MessageWebSocket>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(builder.connect(&url));
    });
    rx
}

/// A connected (client, server-side socket) pair over 127.0.0.1.
pub fn pair() -> (MessageWebSocket, MessageWebSocket) {
    pair_with(Server::builder(), MessageWebSocket::builder())
}

/// A connected (client, server-side socket) pair with the given options.
pub fn pair_with(
    server: ServerBuilder,
    client: Builder<MessageWebSocket>,
) -> (MessageWebSocket, MessageWebSocket) {
    let server = server.bind("127.0.0.1:0").expect("bind");
    let url = format!("ws://{}/", server.local_addr().unwrap());
    let requests = serve(server);
    let client = connect_in_thread(client.connect_timeout(WAIT), url);
    let server_ws = next_request(&requests)
        .accept_message()
        .expect("accept_message");
    let client = client
        .recv_timeout(WAIT)
        .expect("the client did not connect in time")
        .expect("connect");
    (client, server_ws)
}

/// A wsock server that hand-made clients ([`raw_client`]) connect to.
pub struct RawServer {
    addr: SocketAddr,
    requests: Receiver<wsock::Result<Request>>,
}

impl RawServer {
    /// Binds `server` on 127.0.0.1 and serves its requests.
    pub fn start(server: ServerBuilder) -> RawServer {
        let server = server.bind("127.0.0.1:0").expect("bind");
        let addr = server.local_addr().unwrap();
        RawServer {
            addr,
            requests: serve(server),
        }
    }

    /// A hand-made client, its opening handshake done, and the server's
    /// socket for it (message mode).
    pub fn connect(&self) -> (MessageWebSocket, TcpStream) {
        let addr = self.addr;
        // The server answers the handshake once accepted: connect meanwhile.
        let client = thread::spawn(move || raw_client(addr));
        let ws = next_request(&self.requests)
            .accept_message()
            .expect("accept");
        (ws, client.join().expect("the hand-made client"))
    }
}

/// A raw WebSocket server (tungstenite's handshake, then raw bytes) for one
/// client: the returned channel gets its TCP stream once upgraded.
pub fn raw_server() -> (String, Receiver<TcpStream>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        let ws = tungstenite::accept(tcp).expect("server handshake");
        let _ = tx.send(ws.into_inner());
    });
    (url, rx)
}

/// Opens a TCP connection and performs the client's opening handshake by
/// hand (with the RFC 6455 sample key), checking the 101 answer.
pub fn raw_client(addr: SocketAddr) -> TcpStream {
    raw_client_with(addr, "").0
}

/// [`raw_client`] with `extra` header lines (each ending in `\r\n`) in
/// the request; the connection and the 101's head.
#[allow(dead_code)] // not every test binary uses it
pub fn raw_client_with(addr: SocketAddr, extra: &str) -> (TcpStream, String) {
    let mut tcp = TcpStream::connect(addr).expect("TCP connect");
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    tcp.set_write_timeout(Some(WAIT)).unwrap();
    let request = format!(
        "GET /raw HTTP/1.1\r\n\
         Host: {addr}\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n{extra}\r\n"
    );
    tcp.write_all(request.as_bytes()).unwrap();
    let head = read_http_head(&mut tcp).expect("reading the handshake response");
    assert!(
        head.starts_with("HTTP/1.1 101 "),
        "expected 101, got:\n{head}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "wrong or missing Sec-WebSocket-Accept:\n{head}"
    );
    (tcp, head)
}

/// Reads an HTTP head up to and including the blank line, one byte at a
/// time so that no byte after it is consumed.
pub fn read_http_head(tcp: &mut TcpStream) -> io::Result<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if tcp.read(&mut byte)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
        assert!(head.len() < 16 << 10, "HTTP head too long");
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;

/// Encodes one frame; `mask` is the masking key a client must use, `None`
/// for a server's (or a misbehaving client's) unmasked frame.
pub fn frame(fin: bool, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= 0xffff => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// A masked frame, as a well-behaved client sends it.
pub fn masked(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame(fin, opcode, payload, Some([0x37, 0xfa, 0x21, 0x3d]))
}

/// Reads frames until a close frame and returns its code (1005 if it has
/// none) and reason. Panics if the peer ends the connection first or
/// nothing comes within [`WAIT`].
pub fn read_close(tcp: &mut TcpStream) -> (u16, String) {
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "no close frame within {WAIT:?}");
        let (opcode, payload) = read_frame(tcp).expect("reading a frame");
        if opcode == OP_CLOSE {
            if payload.len() < 2 {
                return (1005, String::new());
            }
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            let reason = String::from_utf8(payload[2..].to_vec()).expect("close reason is UTF-8");
            return (code, reason);
        }
    }
}

/// Reads one frame (masked or not) and returns its opcode and payload.
pub fn read_frame(tcp: &mut TcpStream) -> io::Result<(u8, Vec<u8>)> {
    read_frame_head(tcp).map(|(_, opcode, payload)| (opcode, payload))
}

/// Reads one frame (masked or not) and returns its first byte (FIN, RSV
/// bits, opcode), its opcode and its payload.
#[allow(dead_code)] // not every test binary uses it
pub fn read_frame_head(tcp: &mut TcpStream) -> io::Result<(u8, u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    tcp.read_exact(&mut head)?;
    let opcode = head[0] & 0x0f;
    let len = match head[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            tcp.read_exact(&mut b)?;
            u64::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            tcp.read_exact(&mut b)?;
            u64::from_be_bytes(b)
        }
        n => u64::from(n),
    };
    let mut key = [0u8; 4];
    if head[1] & 0x80 != 0 {
        tcp.read_exact(&mut key)?;
    }
    let mut payload = vec![0u8; len as usize];
    tcp.read_exact(&mut payload)?;
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
    Ok((head[0], opcode, payload))
}

/// Bytes that deflate cannot shrink (xorshift, from `seed`).
#[allow(dead_code)] // not every test binary uses it
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// An example's binary, beside the test binaries
/// (target/<profile>/examples/NAME).
pub fn example(name: &str) -> Command {
    let mut path = std::env::current_exe().unwrap();
    path.pop(); // the test binary
    if path.ends_with("deps") {
        path.pop();
    }
    let exe = path.join("examples").join(name);
    assert!(
        exe.exists(),
        "{} is not built (cargo test builds the examples; or: cargo build --example {name})",
        exe.display()
    );
    Command::new(exe)
}

/// A child that is killed if the test ends first (a panic too), so no
/// program outlives its test holding the test run's output open.
pub struct Running(pub Child);

impl Running {
    /// Starts `command`.
    pub fn spawn(command: &mut Command) -> Running {
        Running(command.spawn().unwrap())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl std::ops::Deref for Running {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}
