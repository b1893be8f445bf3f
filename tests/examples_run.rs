//! The examples run and do what their headers say: each is started as a
//! program (the binaries `cargo test` builds beside the tests) with a flag
//! or an input that makes it finish, and its output is checked.
//! `cargo test --test examples_run` alone does not rebuild the examples:
//! `cargo build --examples` first.
//!
//! wscat against Python websockets needs a Python with `websockets` in
//! `WSOCK_PYTHON`, so that test is ignored by default; `.ci/interop.sh`
//! runs it with `--ignored`.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

mod support;

use support::{example, Running};
use wsock::{MessageWebSocket, Server};

const WAIT: Duration = Duration::from_secs(20);

/// `command` with all three of its standard streams piped.
fn piped(command: &mut Command) -> &mut Command {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
}

/// Lines of a child's stdout, as they come, on a channel.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().expect("piped stdout");
    thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Waits (bounded) for a line containing `wanted`; returns it.
fn wait_for(lines: &mpsc::Receiver<String>, wanted: &str) -> String {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(wanted) => return line,
            Ok(_) => {}
            Err(_) => panic!("no line with {wanted:?} in time"),
        }
    }
}

/// The next line, within `WAIT`.
fn next_line(lines: &mpsc::Receiver<String>) -> String {
    lines.recv_timeout(WAIT).expect("no line in time")
}

/// Waits (bounded) for the child's stdout to close, then for its exit.
fn exit_status(child: &mut Running, lines: &mpsc::Receiver<String>) -> ExitStatus {
    loop {
        match lines.recv_timeout(WAIT) {
            Ok(_) => {}
            Err(RecvTimeoutError::Disconnected) => return child.wait().unwrap(),
            Err(RecvTimeoutError::Timeout) => panic!("still running after {WAIT:?}"),
        }
    }
}

/// Runs a command to its end (within `WAIT`; killed otherwise): its exit
/// status, stdout and stderr.
fn finishes(command: &mut Command) -> (ExitStatus, String, String) {
    let mut child = Running::spawn(command.stdout(Stdio::piped()).stderr(Stdio::piped()));
    let read_all = |mut out: Box<dyn Read + Send>| {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut text = String::new();
            let _ = out.read_to_string(&mut text);
            let _ = tx.send(text);
        });
        rx
    };
    let out = read_all(Box::new(child.stdout.take().unwrap()));
    let err = read_all(Box::new(child.stderr.take().unwrap()));
    let out = out.recv_timeout(WAIT).expect("still running");
    let err = err.recv_timeout(WAIT).expect("still running");
    (child.wait().unwrap(), out, err)
}

fn echo_server() -> String {
    let server = Server::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", server.local_addr().unwrap());
    thread::spawn(move || {
        for request in server.incoming() {
            let Ok(ws) = request.and_then(|r| r.accept_message()) else {
                continue;
            };
            thread::spawn(move || {
                for m in ws.messages() {
                    let Ok(m) = m else { break };
                    let _ = ws.send(m);
                }
            });
        }
    });
    url
}

#[test]
fn wscat_sends_one_message_and_prints_the_reply() {
    let url = echo_server();
    let out = example("wscat")
        .args(["-x", "hello there", &url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "< hello there");
}

#[test]
fn wscat_relays_stdin_and_prints_what_arrives_until_the_close() {
    let url = echo_server();
    let mut child = Running::spawn(piped(example("wscat").arg(&url)));
    let lines = lines_of(&mut child);
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "one").unwrap();
    writeln!(stdin, "two").unwrap();
    wait_for(&lines, "< one");
    wait_for(&lines, "< two");
    drop(stdin); // end of input: wscat closes with 1000 and exits
    let status = child.wait().unwrap();
    assert!(status.success());
}

#[test]
fn wscat_listens_for_one_connection() {
    let mut child = Running::spawn(piped(example("wscat").args(["--listen", "0"])));
    // "listening on ws://127.0.0.1:PORT/" on stderr.
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let url = line.trim().trim_start_matches("listening on ").to_owned();
    let ws = MessageWebSocket::connect(&url).unwrap();
    ws.send_text("from the client").unwrap();
    let lines = lines_of(&mut child);
    wait_for(&lines, "< from the client");
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "from wscat").unwrap();
    assert_eq!(ws.recv_timeout(WAIT).unwrap().as_text(), Some("from wscat"));
    drop(stdin);
    assert!(
        ws.recv_timeout(WAIT).is_err(),
        "wscat closes at the end of its input"
    );
    assert!(child.wait().unwrap().success());
}

#[test]
fn wscat_says_the_status_and_exits_1_on_a_failure() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = example("wscat")
        .args(["-x", "hi", &format!("ws://127.0.0.1:{port}/")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CannotConnect"), "{err}");
    let out = example("wscat").arg("--bogus").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn ticker_pushes_to_every_subscriber_and_the_slow_one_holds_up_no_one() {
    let out = example("ticker").args(["--ticks", "30"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().any(|l| l == "fast saw 30 of 30 prices"),
        "{text}"
    );
    assert!(text.contains("also fast saw 30 of 30 prices"), "{text}");
    assert!(text.contains("slow saw "), "{text}");
}

#[cfg(feature = "tls")]
#[test]
fn tls_echo_makes_a_certificate_and_does_a_wss_round_trip() {
    let out = example("tls_echo").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("over TLSv1_3"), "{text}");
    assert!(text.contains("received: hello over TLS"), "{text}");
}

#[test]
fn two_chat_clients_talk_through_chat_server() {
    let mut server = Running::spawn(example("chat_server").arg("0").stdout(Stdio::piped()));
    let said = lines_of(&mut server);
    // "chat on ws://127.0.0.1:PORT/yourname"
    let first = next_line(&said);
    let url = first
        .strip_prefix("chat on ")
        .and_then(|u| u.strip_suffix("yourname"))
        .unwrap_or_else(|| panic!("not the address: {first:?}"))
        .to_owned();
    let client = |nick: &str| {
        let mut child = Running::spawn(
            example("chat_client")
                .args([url.as_str(), nick])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped()),
        );
        let lines = lines_of(&mut child);
        let input = child.stdin.take().unwrap();
        (child, input, lines)
    };

    let (mut ann, mut ann_types, ann_sees) = client("ann");
    assert_eq!(next_line(&ann_sees), "connected as ann");
    assert_eq!(next_line(&ann_sees), "ann joined");
    let (mut bob, mut bob_types, bob_sees) = client("bob");
    assert_eq!(next_line(&bob_sees), "connected as bob");
    assert_eq!(next_line(&bob_sees), "bob joined");
    assert_eq!(next_line(&ann_sees), "bob joined");

    // Each line typed reaches everyone, the sender too, with its nickname.
    writeln!(ann_types, "hello from ann").unwrap();
    assert_eq!(next_line(&bob_sees), "ann: hello from ann");
    assert_eq!(next_line(&ann_sees), "ann: hello from ann");
    writeln!(bob_types, "hello from bob").unwrap();
    assert_eq!(next_line(&ann_sees), "bob: hello from bob");
    assert_eq!(next_line(&bob_sees), "bob: hello from bob");

    // The end of input leaves the room with a clean close.
    drop(ann_types);
    assert_eq!(next_line(&ann_sees), "left the room (1000 bye)");
    assert!(exit_status(&mut ann, &ann_sees).success());
    assert_eq!(next_line(&bob_sees), "ann left");
    assert!(next_line(&said).starts_with("ann left: "));
    drop(bob_types);
    assert_eq!(next_line(&bob_sees), "left the room (1000 bye)");
    assert!(exit_status(&mut bob, &bob_sees).success());
    assert!(next_line(&said).starts_with("bob left: "));
}

#[test]
fn sendfile_sends_a_file_and_draws_no_bar_off_a_terminal() {
    let source =
        std::env::temp_dir().join(format!("wsock-sendfile-test-{}.bin", std::process::id()));
    let data: Vec<u8> = (0..8u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&source, &data).unwrap();
    let (status, out, err) = finishes(example("sendfile").arg(&source));
    std::fs::remove_file(&source).unwrap();
    assert!(status.success(), "{err}");
    assert!(
        out.starts_with("sent 8388608 bytes, received 8388608 bytes in "),
        "{out}"
    );
    assert!(out.trim_end().ends_with(": same"), "{out}");
    // Its progress bar draws on stderr only when that is a terminal.
    assert_eq!(err, "");
}

/// `.ci/interop/python/echo_server.py` in the Python of `WSOCK_PYTHON`
/// (a venv with websockets; `.ci/interop.sh` sets it), serving
/// `connections` connections; its URL, and its stdout after the port.
fn python_echo_server(connections: usize) -> (Running, String, mpsc::Receiver<String>) {
    let python = std::env::var_os("WSOCK_PYTHON")
        .filter(|p| !p.is_empty())
        .expect("WSOCK_PYTHON: a python with websockets (.ci/interop.sh sets it)");
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci/interop/python/echo_server.py");
    let mut child = Running::spawn(
        Command::new(python)
            .arg(script)
            .arg(connections.to_string())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdout(Stdio::piped()),
    );
    let lines = lines_of(&mut child);
    let port: u16 = next_line(&lines).parse().expect("a port first");
    (child, format!("ws://127.0.0.1:{port}/"), lines)
}

#[test]
#[ignore = "needs Python websockets (WSOCK_PYTHON): .ci/interop.sh"]
fn wscat_talks_to_python_websockets() {
    let (mut server, url, server_says) = python_echo_server(3);

    let (status, out, err) = finishes(example("wscat").args(["-x", "hello", &url]));
    assert!(status.success(), "{err}");
    assert_eq!(out, "< hello\n");
    assert_eq!(next_line(&server_says), "closed 1000");

    let (status, out, err) = finishes(example("wscat").args(["--binary", "-x", "bytes", &url]));
    assert!(status.success(), "{err}");
    assert_eq!(out, "< (5 bytes binary) [62, 79, 74, 65, 73]\n");
    assert_eq!(next_line(&server_says), "closed 1000");

    // Lines of stdin out, echoes in, a clean close at the end of input.
    let mut wscat = Running::spawn(piped(example("wscat").arg(&url)));
    let echoes = lines_of(&mut wscat);
    let mut input = wscat.stdin.take().unwrap();
    for line in ["one", "two"] {
        writeln!(input, "{line}").unwrap();
        assert_eq!(next_line(&echoes), format!("< {line}"));
    }
    drop(input);
    assert!(exit_status(&mut wscat, &echoes).success());
    assert_eq!(next_line(&server_says), "closed 1000");
    assert!(exit_status(&mut server, &server_says).success());
}
