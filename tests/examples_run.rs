//! The examples run and do what their headers say: each is started as a
//! program (the binaries `cargo test` builds beside the tests) with a flag
//! or an input that makes it finish, and its output is checked.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use wsock::{MessageWebSocket, Server};

const WAIT: Duration = Duration::from_secs(20);

/// An example's binary (target/<profile>/examples/NAME).
fn example(name: &str) -> Command {
    let mut path: PathBuf = std::env::current_exe().unwrap();
    path.pop(); // the test binary
    if path.ends_with("deps") {
        path.pop();
    }
    let exe = path.join("examples").join(name);
    assert!(
        exe.exists(),
        "{} is not built (cargo test builds the examples)",
        exe.display()
    );
    Command::new(exe)
}

/// A child that is killed if the test ends first (a panic too), so no
/// example outlives its test holding the test run's output open.
struct Running(Child);

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
    let mut child = example("wscat")
        .arg(&url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map(Running)
        .unwrap();
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
    let mut child = example("wscat")
        .args(["--listen", "0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map(Running)
        .unwrap();
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
