//! wsock beside blocking tungstenite and raw TCP, on 127.0.0.1, in one run.
//!
//! ```text
//! cargo run --release --example bench                 # full run, under 5 minutes on 2 cores
//! cargo run --release --example bench -- --quick      # a ~15 s pass (fewer, shorter runs)
//! cargo run --release --example bench -- --only echo  # one row kind (repeat or comma-separate)
//! cargo run --release --example bench -- --runs 9     # more repetitions per figure
//! ```
//!
//! Client and server always run in separate processes: the bench re-executes
//! itself as `bench --serve ROLE`, and the child prints its port on stdout
//! line 1 and exits when its stdin closes. With `taskset` on PATH the parent
//! pins itself to core 0 (`taskset -cp 0`, before it starts any thread, so
//! every thread it starts inherits that) and starts the child under
//! `taskset -c 1`; the "1 core" echo rows start it under `taskset -c 0`.
//! Without `taskset` everything runs unpinned and the output says so.
//!
//! Row kinds (`--only` names):
//!
//! - `echo`: 16 B text round trips, p50 and p99 in µs (lower is better), on
//!   2 cores and on 1 core: a wsock `MessageWebSocket` client against a wsock
//!   `Server` echo; the reference is a blocking tungstenite client against a
//!   tungstenite echo server, and raw TCP 16 B ping-pong.
//! - `send64`: 64 B binary one way, messages/s (higher is better). The client
//!   sends for a bounded time, then a "done" text; the server counts and
//!   acks with one final message, and the clock stops at the ack. The
//!   receiving server is the same tungstenite sink for both columns, so the
//!   row measures the sending side: wsock `send_binary` against tungstenite
//!   `send` (default write buffer, flushed per message). Its second line is 4
//!   threads sending through `sender()` handles of one wsock socket (the
//!   total), against the same single tungstenite sender.
//! - `recv64`: 64 B receive side, messages/s: one tungstenite client sends to
//!   the server under test, which counts: wsock `Server` + `recv` against a
//!   tungstenite server's direct `read` loop. The client uses `write`
//!   without a flush per message (its 128 KiB buffer goes out when full), so
//!   it outruns both receivers and the row measures the receiving side.
//! - `1mib`, `16mib`: binary one way in MB/s (MB = 10^6 bytes), send side as
//!   in `send64` (tungstenite sink); `1mib` adds raw TCP 1 MiB writes.
//!
//! Every figure is the median of `--runs` runs (5; 3 with `--quick`), the
//! runs of a row's variants interleaved so drift hits them alike. Every loop
//! is bounded in count and in time. TCP_NODELAY is on everywhere.
//!
//! To profile the server side, set `BENCH_SERVER_WRAPPER`, e.g.
//! `BENCH_SERVER_WRAPPER="valgrind --tool=callgrind" bench --only recv64 --quick`
//! (the client side: run the bench itself under the profiler).
//!
//! Rows for stream mode, wss and idle connections come with those features:
//! see [`LATER`] and the `match` in `main`.

use std::error::Error;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Bytes, Message as Wire, Utf8Bytes};
use wsock::{Message, MessageWebSocket, Server};

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// Row kinds not measured yet, and what they wait for.
const LATER: &[(&str, &str)] = &[
    (
        "stream",
        "1 GiB in 64 KiB / 1 MiB writes vs raw TCP: waits for StreamWebSocket",
    ),
    (
        "wss",
        "1 MiB one way and 16 B echo over rustls: waits for TLS",
    ),
    (
        "idle",
        "10,000 idle connections (RSS, threads, connect time): the scale issue",
    ),
];
/// Row kinds measured now, in output order.
const ROWS: &[&str] = &["echo", "send64", "recv64", "1mib", "16mib"];

const ECHO_TEXT: &str = "0123456789abcdef"; // 16 bytes
/// Limit for any single wait on a peer (ack, handshake, close).
const PEER_WAIT: Duration = Duration::from_secs(60);
/// How long the machine is watched for other load before each row.
const LOAD_SAMPLE: Duration = Duration::from_millis(300);
/// Upper bound of bytes sent in one large-message run.
const LARGE_RUN_BYTES: usize = 2 << 30;

/// How much to measure.
struct Plan {
    runs: usize,
    /// Sending time of one one-way run.
    run_time: Duration,
    /// Upper bound of messages in one 64 B run.
    small_max: usize,
    echo_trips: usize,
    echo_warmup: usize,
    /// Time bound of one echo run.
    echo_time: Duration,
    pinned: bool,
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--serve") {
        let role = args.get(1).ok_or("--serve needs a role")?;
        return serve(role);
    }
    let cores = core_count();
    // Pin first: threads started later inherit the main thread's affinity.
    let pinned = cores >= 2 && pin_self_to_core0();
    let mut only: Vec<String> = Vec::new();
    let mut quick = false;
    let mut runs = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--only" => {
                let v = it.next().ok_or("--only needs a row kind")?;
                only.extend(v.split(',').map(str::to_owned));
            }
            "--runs" => runs = Some(it.next().ok_or("--runs needs a number")?.parse()?),
            other => return Err(format!("unknown argument {other:?}; see the file header").into()),
        }
    }
    for o in &only {
        if let Some((_, what)) = LATER.iter().find(|(n, _)| n == o) {
            return Err(format!("{o} is not measured yet ({what})").into());
        }
        if !ROWS.contains(&o.as_str()) {
            return Err(format!("unknown row kind {o:?}; known: {}", ROWS.join(", ")).into());
        }
    }
    let plan = if quick {
        Plan {
            runs: runs.unwrap_or(3),
            run_time: Duration::from_millis(400),
            small_max: 2_000_000,
            echo_trips: 2_000,
            echo_warmup: 200,
            echo_time: Duration::from_secs(1),
            pinned,
        }
    } else {
        Plan {
            runs: runs.unwrap_or(5),
            run_time: Duration::from_secs(1),
            small_max: 10_000_000,
            echo_trips: 10_000,
            echo_warmup: 1_000,
            echo_time: Duration::from_secs(3),
            pinned,
        }
    };
    if plan.runs == 0 {
        return Err("--runs must be at least 1".into());
    }
    if !pinned {
        eprintln!(
            "note: running unpinned ({}); the 1-core echo rows are skipped",
            if cores < 2 {
                "fewer than 2 cores"
            } else {
                "taskset not usable"
            }
        );
    }

    let started = Instant::now();
    let mut table = Vec::new();
    let mut loads = Vec::new();
    for row in ROWS {
        if !only.is_empty() && !only.iter().any(|o| o == row) {
            continue;
        }
        let busy = other_load();
        loads.push((*row, busy));
        eprintln!("== {row} (cores busy before it: {:.0}%)", busy * 100.0);
        match *row {
            "echo" => {
                table.extend(echo_rows(&plan, 2)?);
                if plan.pinned {
                    table.extend(echo_rows(&plan, 1)?);
                }
            }
            "send64" => table.extend(send_rows(&plan, 64, true)?),
            "recv64" => table.extend(receive_row(&plan)?),
            "1mib" => table.extend(send_rows(&plan, 1 << 20, false)?),
            "16mib" => table.extend(send_rows(&plan, 16 << 20, false)?),
            // Place for the later rows: "stream" => stream_rows(&plan)?,
            // "wss" => wss_rows(&plan)?, "idle" => idle_rows(&plan)?.
            _ => unreachable!("checked above"),
        }
    }
    print_report(&table, &plan, &loads, quick, started.elapsed());
    Ok(())
}

// ---------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------

/// One line of the table.
struct Line {
    row: String,
    wsock: f64,
    reference: f64,
    reference_name: &'static str,
    higher_is_better: bool,
    /// The issue's target for the ratio: at least (higher is better) or at most.
    target: Option<f64>,
}

/// 16 B text echo, p50 and p99, with the server on its own core (`cores` 2)
/// or on the client's core (`cores` 1).
fn echo_rows(plan: &Plan, cores: usize) -> Res<Vec<Line>> {
    let core = if cores == 2 { 1 } else { 0 };
    let wsock_server = Peer::start("wsock-echo", plan.pinned.then_some(core))?;
    let tung_server = Peer::start("tungstenite-echo", plan.pinned.then_some(core))?;
    let raw_server = Peer::start("raw-echo", plan.pinned.then_some(core))?;
    // p50 and p99 of each run: wsock, tungstenite, raw TCP.
    let (mut w, mut t, mut r) = (Runs::default(), Runs::default(), Runs::default());
    for run in 0..plan.runs {
        let trips = w.add(echo_wsock(wsock_server.port, plan)?);
        t.add(echo_tungstenite(tung_server.port, plan)?);
        r.add(echo_raw(raw_server.port, plan)?);
        eprintln!(
            "  {cores} core(s), run {}: p50 wsock {:.1} tungstenite {:.1} raw {:.1} µs; \
             trips over 1 ms: {} {} {} (of {trips})",
            run + 1,
            w.p50[run],
            t.p50[run],
            r.p50[run],
            w.over_1ms[run],
            t.over_1ms[run],
            r.over_1ms[run],
        );
    }
    let p50_target = if cores == 2 { 1.1 } else { 1.5 };
    let cores_name = match (plan.pinned, cores) {
        (false, _) => "unpinned",
        (true, 1) => "1 core",
        (true, _) => "2 cores",
    };
    let name = |p: &str| format!("echo 16 B text, {cores_name}, {p} µs (lower is better)");
    let line = |row: String, w: &[f64], r: &[f64], rn, target| Line {
        row,
        wsock: median(w),
        reference: median(r),
        reference_name: rn,
        higher_is_better: false,
        target,
    };
    Ok(vec![
        line(name("p50"), &w.p50, &t.p50, "tungstenite", Some(p50_target)),
        line(name("p99"), &w.p99, &t.p99, "tungstenite", None),
        line(name("p50"), &w.p50, &r.p50, "raw TCP", None),
        line(name("p99"), &w.p99, &r.p99, "raw TCP", None),
    ])
}

/// One way, send side: wsock and tungstenite clients send `size`-byte binary
/// messages to the same tungstenite sink; for 64 B also 4 wsock threads, and
/// for 1 MiB also raw TCP writes.
fn send_rows(plan: &Plan, size: usize, small: bool) -> Res<Vec<Line>> {
    let core = plan.pinned.then_some(1);
    let sink = Peer::start("tungstenite-sink", core)?;
    let raw_sink = if size == 1 << 20 {
        Some(Peer::start("raw-sink", core)?)
    } else {
        None
    };
    let max = if small {
        plan.small_max
    } else {
        (LARGE_RUN_BYTES / size).max(1)
    };
    let payload = vec![0x5au8; size];
    let (mut w1, mut w4, mut tung, mut raw) = (vec![], vec![], vec![], vec![]);
    for run in 0..plan.runs {
        let w = send_wsock(sink.port, &payload, 1, max, plan.run_time)?;
        let t = send_tungstenite(sink.port, &payload, max, plan.run_time, false)?;
        w1.push(w.per_second(small));
        tung.push(t.per_second(small));
        let mut more = String::new();
        if small {
            let w = send_wsock(sink.port, &payload, 4, max, plan.run_time)?;
            w4.push(w.per_second(true));
            more = format!("; wsock 4 threads {}", w.show(true));
        }
        if let Some(raw_sink) = &raw_sink {
            let r = send_raw(raw_sink.port, &payload, max, plan.run_time)?;
            raw.push(r.per_second(false));
            more = format!("; raw TCP {}", r.show(false));
        }
        eprintln!(
            "  run {}: wsock {}; tungstenite {}{more}",
            run + 1,
            w.show(small),
            t.show(small)
        );
    }
    let what = format!("{} binary one way, send side", size_name(size));
    let unit = if small { "msg/s" } else { "MB/s" };
    let target = if small { 1.0 } else { 0.95 };
    let mut lines = vec![Line {
        row: format!("{what}, {unit} (higher is better)"),
        wsock: median(&w1),
        reference: median(&tung),
        reference_name: "tungstenite",
        higher_is_better: true,
        target: Some(target),
    }];
    if small {
        lines.push(Line {
            row: format!("{what}, 4 threads on one socket (total), {unit} (higher is better)"),
            wsock: median(&w4),
            reference: median(&tung),
            reference_name: "tungstenite, 1 thread",
            higher_is_better: true,
            target: Some(1.0),
        });
    }
    if !raw.is_empty() {
        lines.push(Line {
            row: format!("{what}, {unit} (higher is better)"),
            wsock: median(&w1),
            reference: median(&raw),
            reference_name: "raw TCP 1 MiB writes",
            higher_is_better: true,
            target: None,
        });
    }
    Ok(lines)
}

/// 64 B receive side: the same tungstenite client sends to a wsock sink and
/// to a tungstenite sink, with buffered writes, so the receiver is the
/// bottleneck (with a flush per message the sender would be, and its cost
/// would depend on how often it has to wake an idle receiver).
fn receive_row(plan: &Plan) -> Res<Vec<Line>> {
    let core = plan.pinned.then_some(1);
    let wsock_sink = Peer::start("wsock-sink", core)?;
    let tung_sink = Peer::start("tungstenite-sink", core)?;
    let payload = vec![0x5au8; 64];
    // The batched sender outruns the receivers: allow more messages.
    let max = plan.small_max * 4;
    let (mut w, mut t) = (vec![], vec![]);
    for run in 0..plan.runs {
        let a = send_tungstenite(wsock_sink.port, &payload, max, plan.run_time, true)?;
        let b = send_tungstenite(tung_sink.port, &payload, max, plan.run_time, true)?;
        w.push(a.per_second(true));
        t.push(b.per_second(true));
        eprintln!(
            "  run {}: wsock {}; tungstenite {}",
            run + 1,
            a.show(true),
            b.show(true)
        );
    }
    Ok(vec![Line {
        row: "64 B binary one way, receive side, msg/s (higher is better)".into(),
        wsock: median(&w),
        reference: median(&t),
        reference_name: "tungstenite read loop",
        higher_is_better: true,
        target: Some(0.9),
    }])
}

// ---------------------------------------------------------------------------
// Clients (this process)
// ---------------------------------------------------------------------------

fn url(port: u16) -> String {
    format!("ws://127.0.0.1:{port}/bench")
}

/// Round-trip times in µs of one echo run (after a warm-up), bounded by
/// `plan.echo_trips` and `plan.echo_time`.
fn echo_loop(plan: &Plan, mut trip: impl FnMut() -> Res<()>) -> Res<Vec<f64>> {
    for _ in 0..plan.echo_warmup {
        trip()?;
    }
    let mut times = Vec::with_capacity(plan.echo_trips);
    let stop = Instant::now() + plan.echo_time;
    while times.len() < plan.echo_trips && Instant::now() < stop {
        let t = Instant::now();
        trip()?;
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    Ok(times)
}

fn echo_wsock(port: u16, plan: &Plan) -> Res<Vec<f64>> {
    let ws = MessageWebSocket::connect(&url(port))?;
    let times = echo_loop(plan, || {
        ws.send_text(ECHO_TEXT)?;
        match ws.recv_timeout(PEER_WAIT)? {
            Message::Text(t) if t.len() == ECHO_TEXT.len() => Ok(()),
            other => Err(format!("unexpected echo {other:?}").into()),
        }
    })?;
    ws.close(1000, "")?;
    Ok(times)
}

fn echo_tungstenite(port: u16, plan: &Plan) -> Res<Vec<f64>> {
    let mut ws = tungstenite_client(port)?;
    let text = Utf8Bytes::from_static(ECHO_TEXT);
    let times = echo_loop(plan, || {
        ws.send(Wire::Text(text.clone()))?;
        match ws.read()? {
            Wire::Text(t) if t.len() == ECHO_TEXT.len() => Ok(()),
            other => Err(format!("unexpected echo {other:?}").into()),
        }
    })?;
    tungstenite_close(ws);
    Ok(times)
}

fn echo_raw(port: u16, plan: &Plan) -> Res<Vec<f64>> {
    let mut tcp = raw_client(port)?;
    let mut back = [0u8; 16];
    echo_loop(plan, || {
        tcp.write_all(ECHO_TEXT.as_bytes())?;
        tcp.read_exact(&mut back)?;
        Ok(())
    })
}

/// What one one-way run moved, and how long until the sink's ack.
struct Moved {
    messages: u64,
    bytes: u64,
    secs: f64,
    /// CPU time of this (client) process over the run, in cores (1.0 = one
    /// core busy all along): below 1 means the sender waited, not worked.
    cpu: f64,
}

impl Moved {
    /// Messages per second, or MB/s (10^6 bytes) when not `messages`.
    fn per_second(&self, messages: bool) -> f64 {
        if messages {
            self.messages as f64 / self.secs
        } else {
            self.bytes as f64 / 1e6 / self.secs
        }
    }

    /// For the progress lines: the rate, the count, the client's CPU use.
    fn show(&self, messages: bool) -> String {
        format!(
            "{} {} ({} messages, client cpu {:.2})",
            figure(self.per_second(messages)),
            if messages { "msg/s" } else { "MB/s" },
            self.messages,
            self.cpu
        )
    }
}

/// How many messages a sender sends between looks at the clock.
fn check_every(payload: &[u8]) -> usize {
    if payload.len() < 4096 {
        16
    } else {
        1
    }
}

/// Checks the sink's ack ("<messages> <bytes>") against what was sent.
fn check_ack(ack: &str, messages: u64, size: usize) -> Res<()> {
    let expected = format!("{messages} {}", messages * size as u64);
    if ack != expected {
        return Err(format!("sink acked {ack:?}, expected {expected:?}").into());
    }
    Ok(())
}

/// Sends `payload` from `threads` threads sharing one wsock socket until
/// `max` messages in all or `time` has passed, then "done"; waits for the ack.
fn send_wsock(port: u16, payload: &[u8], threads: usize, max: usize, time: Duration) -> Res<Moved> {
    let ws = MessageWebSocket::connect(&url(port))?;
    let (start, cpu) = (Instant::now(), cpu_seconds());
    let stop = start + time;
    let send_share = |tx: &wsock::Sender, share: usize| -> Res<u64> {
        let mut sent = 0;
        while sent < share && (sent % check_every(payload) != 0 || Instant::now() < stop) {
            tx.send_binary(payload)?;
            sent += 1;
        }
        Ok(sent as u64)
    };
    let messages = if threads == 1 {
        send_share(&ws.sender(), max)?
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let tx = ws.sender();
                    s.spawn(move || send_share(&tx, max / threads))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().map_err(|_| "a sender thread panicked")?)
                .sum::<Res<u64>>()
        })?
    };
    ws.send_text("done")?;
    let ack = ws.recv_timeout(PEER_WAIT)?;
    let secs = start.elapsed().as_secs_f64();
    let cpu = (cpu_seconds() - cpu) / secs;
    check_ack(ack.as_text().unwrap_or("<binary>"), messages, payload.len())?;
    ws.close(1000, "")?;
    Ok(Moved {
        messages,
        bytes: messages * payload.len() as u64,
        secs,
        cpu,
    })
}

/// The same with a blocking tungstenite client: `send` (write and flush)
/// per message, or with `batched` `write` only, so tungstenite's 128 KiB
/// write buffer goes out when full (a sender faster than any receiver).
fn send_tungstenite(
    port: u16,
    payload: &[u8],
    max: usize,
    time: Duration,
    batched: bool,
) -> Res<Moved> {
    let mut ws = tungstenite_client(port)?;
    let data = Bytes::copy_from_slice(payload);
    let (start, cpu) = (Instant::now(), cpu_seconds());
    let stop = start + time;
    let mut sent = 0usize;
    while sent < max && (sent % check_every(payload) != 0 || Instant::now() < stop) {
        if batched {
            ws.write(Wire::Binary(data.clone()))?;
        } else {
            ws.send(Wire::Binary(data.clone()))?;
        }
        sent += 1;
    }
    ws.send(Wire::text("done"))?;
    let ack = ws.read()?;
    let secs = start.elapsed().as_secs_f64();
    let cpu = (cpu_seconds() - cpu) / secs;
    check_ack(ack.to_text()?, sent as u64, payload.len())?;
    tungstenite_close(ws);
    Ok(Moved {
        messages: sent as u64,
        bytes: (sent * payload.len()) as u64,
        secs,
        cpu,
    })
}

/// Raw TCP: `payload`-sized writes, then FIN; the sink answers the byte
/// count as 8 bytes.
fn send_raw(port: u16, payload: &[u8], max: usize, time: Duration) -> Res<Moved> {
    let mut tcp = raw_client(port)?;
    let (start, cpu) = (Instant::now(), cpu_seconds());
    let stop = start + time;
    let mut sent = 0usize;
    while sent < max && Instant::now() < stop {
        tcp.write_all(payload)?;
        sent += 1;
    }
    tcp.shutdown(Shutdown::Write)?;
    let mut ack = [0u8; 8];
    tcp.read_exact(&mut ack)?;
    let secs = start.elapsed().as_secs_f64();
    let cpu = (cpu_seconds() - cpu) / secs;
    let bytes = (sent * payload.len()) as u64;
    if u64::from_le_bytes(ack) != bytes {
        return Err(format!(
            "raw sink counted {} of {bytes} bytes",
            u64::from_le_bytes(ack)
        )
        .into());
    }
    Ok(Moved {
        messages: sent as u64,
        bytes,
        secs,
        cpu,
    })
}

fn raw_client(port: u16) -> Res<TcpStream> {
    let tcp = TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(PEER_WAIT))?;
    Ok(tcp)
}

fn tungstenite_client(port: u16) -> Res<tungstenite::WebSocket<TcpStream>> {
    let tcp = raw_client(port)?;
    let (ws, _) = tungstenite::client(url(port), tcp).map_err(|e| e.to_string())?;
    Ok(ws)
}

/// Closes a tungstenite client and waits (bounded) for the server's close.
fn tungstenite_close(mut ws: tungstenite::WebSocket<TcpStream>) {
    let _ = ws.get_ref().set_read_timeout(Some(Duration::from_secs(5)));
    let _ = ws.close(None);
    while ws.read().is_ok() {}
}

// ---------------------------------------------------------------------------
// Servers (the child process, `bench --serve ROLE`)
// ---------------------------------------------------------------------------

/// A child process serving one role on a port of 127.0.0.1.
struct Peer {
    child: std::process::Child,
    port: u16,
}

impl Peer {
    /// Starts `bench --serve role`, under `taskset -c core` if given.
    /// `BENCH_SERVER_WRAPPER` (split on spaces) goes before the bench in
    /// the command, e.g. `valgrind --tool=callgrind` to profile the servers.
    fn start(role: &str, core: Option<usize>) -> Res<Peer> {
        let mut argv: Vec<String> = Vec::new();
        if let Some(c) = core {
            argv.extend(["taskset".into(), "-c".into(), c.to_string()]);
        }
        if let Ok(wrapper) = std::env::var("BENCH_SERVER_WRAPPER") {
            argv.extend(wrapper.split_whitespace().map(str::to_owned));
        }
        argv.push(std::env::current_exe()?.to_string_lossy().into_owned());
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .args(["--serve", role])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn()?;
        let mut line = String::new();
        let stdout = child.stdout.take().ok_or("no stdout")?;
        BufReader::new(stdout).read_line(&mut line)?;
        let port = match line.trim().parse() {
            Ok(p) => p,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("server {role} did not print a port: {line:?}").into());
            }
        };
        Ok(Peer { child, port })
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        drop(self.child.stdin.take()); // the child exits when its stdin closes
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The child's body: bind, print the port, serve connections one after
/// another until stdin closes.
fn serve(role: &str) -> Res<()> {
    std::thread::spawn(|| {
        let _ = io::copy(&mut io::stdin(), &mut io::sink());
        std::process::exit(0);
    });
    if role.starts_with("wsock-") {
        let server = Server::bind("127.0.0.1:0")?;
        announce(server.local_addr()?.port())?;
        for request in server.incoming() {
            let ws = request?.accept_message()?;
            let served = match role {
                "wsock-echo" => serve_wsock_echo(&ws),
                "wsock-sink" => serve_wsock_sink(&ws),
                _ => return Err(format!("unknown role {role}").into()),
            };
            if let Err(e) = served {
                eprintln!("{role}: {e}");
            }
        }
        return Ok(());
    }
    let listener = TcpListener::bind("127.0.0.1:0")?;
    announce(listener.local_addr()?.port())?;
    for tcp in listener.incoming() {
        let tcp = tcp?;
        tcp.set_nodelay(true)?;
        let served = match role {
            "tungstenite-echo" => serve_tungstenite(tcp, true),
            "tungstenite-sink" => serve_tungstenite(tcp, false),
            "raw-echo" => serve_raw_echo(tcp),
            "raw-sink" => serve_raw_sink(tcp),
            _ => return Err(format!("unknown role {role}").into()),
        };
        if let Err(e) = served {
            eprintln!("{role}: {e}");
        }
    }
    Ok(())
}

fn announce(port: u16) -> Res<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "{port}")?;
    out.flush()?;
    Ok(())
}

fn serve_wsock_echo(ws: &MessageWebSocket) -> Res<()> {
    for m in ws.messages() {
        ws.send(m?)?;
    }
    Ok(())
}

/// Counts binary messages; answers "done" with "<messages> <bytes>".
fn serve_wsock_sink(ws: &MessageWebSocket) -> Res<()> {
    let (mut messages, mut bytes) = (0u64, 0u64);
    for m in ws.messages() {
        match m? {
            Message::Binary(b) => (messages, bytes) = (messages + 1, bytes + b.len() as u64),
            Message::Text(_) => {
                ws.send_text(format!("{messages} {bytes}"))?;
                (messages, bytes) = (0, 0);
            }
        }
    }
    Ok(())
}

/// A tungstenite server: echoes every message, or counts like the wsock sink.
fn serve_tungstenite(tcp: TcpStream, echo: bool) -> Res<()> {
    let config = WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20));
    let mut ws = tungstenite::accept_with_config(tcp, Some(config)).map_err(|e| e.to_string())?;
    let (mut messages, mut bytes) = (0u64, 0u64);
    loop {
        match ws.read() {
            Ok(m @ (Wire::Text(_) | Wire::Binary(_))) if echo => ws.send(m)?,
            Ok(Wire::Binary(b)) => (messages, bytes) = (messages + 1, bytes + b.len() as u64),
            Ok(Wire::Text(_)) => {
                ws.send(Wire::text(format!("{messages} {bytes}")))?;
                (messages, bytes) = (0, 0);
            }
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                return Ok(())
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn serve_raw_echo(mut tcp: TcpStream) -> Res<()> {
    let mut buf = [0u8; 16];
    loop {
        match tcp.read_exact(&mut buf) {
            Ok(()) => tcp.write_all(&buf)?,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Reads until FIN, then answers the byte count (8 bytes, little endian).
fn serve_raw_sink(mut tcp: TcpStream) -> Res<()> {
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        match tcp.read(&mut buf)? {
            0 => break,
            n => total += n as u64,
        }
    }
    tcp.write_all(&total.to_le_bytes())?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Stats, machine, output
// ---------------------------------------------------------------------------

/// The median of some figures (the mean of the middle two for an even count).
fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The `p`-th percentile (nearest rank) of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The p50 and p99 of each echo run, in µs, and how many trips took over 1 ms.
#[derive(Default)]
struct Runs {
    p50: Vec<f64>,
    p99: Vec<f64>,
    over_1ms: Vec<usize>,
}

impl Runs {
    /// Adds one run's round-trip times; returns how many there were.
    fn add(&mut self, mut times: Vec<f64>) -> usize {
        times.sort_by(f64::total_cmp);
        self.p50.push(percentile(&times, 50.0));
        self.p99.push(percentile(&times, 99.0));
        self.over_1ms
            .push(times.iter().filter(|&&t| t > 1000.0).count());
        times.len()
    }
}

fn size_name(size: usize) -> String {
    match size {
        s if s >= 1 << 20 && s % (1 << 20) == 0 => format!("{} MiB", s >> 20),
        s if s >= 1 << 10 && s % (1 << 10) == 0 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}

/// CPU time (user + system) this process has used so far, in seconds, from
/// /proc/self/stat (10 ms resolution); 0 where that is not available.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the ")" that ends the command name: utime is the 12th, stime the 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(u), Some(s)) => (u + s) / 100.0, // USER_HZ is 100 on Linux
        _ => 0.0,
    }
}

/// The share of all cores (0 to 1) busy during [`LOAD_SAMPLE`], from
/// /proc/stat; called while the bench itself is idle, so it is other load.
fn other_load() -> f64 {
    fn busy_and_total() -> Option<(u64, u64)> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let line = stat.lines().next()?.strip_prefix("cpu ")?;
        let v: Vec<u64> = line
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal
        let idle = v.get(3)? + v.get(4)?;
        let total: u64 = v.iter().take(8).sum();
        Some((total - idle, total))
    }
    let Some((b0, t0)) = busy_and_total() else {
        return f64::NAN;
    };
    std::thread::sleep(LOAD_SAMPLE);
    match busy_and_total() {
        Some((b1, t1)) if t1 > t0 => (b1 - b0) as f64 / (t1 - t0) as f64,
        _ => f64::NAN,
    }
}

fn core_count() -> usize {
    let listed = std::fs::read_to_string("/proc/cpuinfo")
        .map(|s| s.lines().filter(|l| l.starts_with("processor")).count())
        .unwrap_or(0);
    if listed > 0 {
        listed
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}

/// Pins this process's main thread to core 0 with `taskset -cp 0 <pid>`.
fn pin_self_to_core0() -> bool {
    let pid = std::process::id().to_string();
    Command::new("taskset")
        .args(["-cp", "0", &pid])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// tungstenite's version from the Cargo.lock next to this crate.
fn tungstenite_version() -> String {
    let lock = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock");
    std::fs::read_to_string(lock)
        .ok()
        .and_then(|s| {
            let at = s.find("name = \"tungstenite\"")?;
            let rest = &s[at..];
            let v = rest.lines().nth(1)?.strip_prefix("version = ")?;
            Some(v.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| "0.30 (from Cargo.toml)".into())
}

fn figure(v: f64) -> String {
    if v.is_nan() {
        "—".into()
    } else if v >= 1000.0 {
        // Thousands separators keep msg/s readable.
        let s = format!("{:.0}", v);
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn print_report(table: &[Line], plan: &Plan, loads: &[(&str, f64)], quick: bool, took: Duration) {
    println!("| row | wsock | reference | ratio wsock/reference |");
    println!("|---|---:|---:|---|");
    for l in table {
        let ratio = l.wsock / l.reference;
        let verdict = match l.target {
            Some(t) if l.higher_is_better => {
                format!(
                    " (target ≥ {t:.2}: {})",
                    if ratio >= t { "met" } else { "MISSED" }
                )
            }
            Some(t) => format!(
                " (target ≤ {t:.2}: {})",
                if ratio <= t { "met" } else { "MISSED" }
            ),
            None => String::new(),
        };
        println!(
            "| {} | {} | {} ({}) | {ratio:.2}{verdict} |",
            l.row,
            figure(l.wsock),
            figure(l.reference),
            l.reference_name
        );
    }
    println!();
    println!(
        "Ratios are wsock / reference: above 1 is better for msg/s and MB/s rows, \
         below 1 is better for µs rows."
    );
    println!("Not measured yet:");
    for (name, what) in LATER {
        println!("- {name}: {what}");
    }
    println!();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into());
    println!(
        "Machine: {} cores, {}, Linux {kernel}; {}.",
        core_count(),
        cpu_model(),
        if plan.pinned {
            "client pinned to core 0, server to core 1 (1-core rows: both on core 0) with taskset"
        } else {
            "unpinned (no taskset, or fewer than 2 cores)"
        }
    );
    let loads_text: Vec<String> = loads
        .iter()
        .map(|(row, busy)| format!("{row} {:.0}%", busy * 100.0))
        .collect();
    println!(
        "Other load (share of all cores busy in the {:?} before each row, while the bench \
         was idle): {}.{}",
        LOAD_SAMPLE,
        loads_text.join(", "),
        if loads.iter().any(|(_, b)| *b > 0.1) {
            " WARNING: other processes were running; these figures are unreliable."
        } else {
            ""
        }
    );
    let git = command_output(
        "git",
        &[
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "describe",
            "--always",
            "--dirty",
        ],
    );
    println!(
        "Versions: wsock {}{}, tungstenite {}, {}.",
        env!("CARGO_PKG_VERSION"),
        git.map(|g| format!(" (checkout {g})")).unwrap_or_default(),
        tungstenite_version(),
        command_output("rustc", &["--version"]).unwrap_or_else(|| "rustc unknown".into())
    );
    println!(
        "Counts: median of {} runs per figure{}; echo: {} warm-up + up to {} round trips \
         (≤ {:?}) per run; one way: sending for {:?} per run, at most {} 64 B messages \
         or {} of large ones; total {:.0} s.",
        plan.runs,
        if quick { " (--quick)" } else { "" },
        plan.echo_warmup,
        plan.echo_trips,
        plan.echo_time,
        plan.run_time,
        plan.small_max,
        size_name(LARGE_RUN_BYTES),
        took.as_secs_f64()
    );
    println!(
        "Command: cargo run --release --example bench{}",
        if quick { " -- --quick" } else { "" }
    );
}
