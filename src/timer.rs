//! One process-wide timer thread for deadlines that no socket call can
//! observe by itself (a dropped socket's close timeout: its reader thread may
//! be blocked in a read with no timeout). The thread starts with the first
//! pending task and ends when none is left, so an idle process has no
//! wsock threads at all.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Instant;

type Task = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Queue {
    /// Pending tasks in the order they are due (one per socket with a close
    /// or a flush retry pending: thousands on a busy server).
    tasks: BTreeMap<(Instant, u64), Task>,
    /// When each pending task is due, by id (for `cancel`).
    due: HashMap<u64, Instant>,
    next_id: u64,
    running: bool,
}

struct Timer {
    queue: Mutex<Queue>,
    wake: Condvar,
}

fn timer() -> &'static Timer {
    static TIMER: OnceLock<Timer> = OnceLock::new();
    TIMER.get_or_init(|| Timer {
        queue: Mutex::new(Queue::default()),
        wake: Condvar::new(),
    })
}

/// A scheduled task; [`cancel`] drops it unrun.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimerId(u64);

/// Runs `task` on the timer thread at `at` (or at once if it has passed).
/// Returns `None` if the timer thread could not be started (then the task
/// is dropped: the caller's deadline is not enforced).
pub(crate) fn schedule(at: Instant, task: impl FnOnce() + Send + 'static) -> Option<TimerId> {
    let t = timer();
    let mut q = crate::sync::lock(&t.queue);
    q.next_id += 1;
    let id = q.next_id;
    q.tasks.insert((at, id), Box::new(task));
    q.due.insert(id, at);
    if !q.running {
        let spawned = std::thread::Builder::new()
            .name("wsock-timer".into())
            .stack_size(64 << 10)
            .spawn(run);
        if spawned.is_err() {
            q.tasks.remove(&(at, id));
            q.due.remove(&id);
            return None;
        }
        q.running = true;
    }
    t.wake.notify_one();
    Some(TimerId(id))
}

/// Drops a task that has not run yet.
pub(crate) fn cancel(id: TimerId) {
    let t = timer();
    let mut q = crate::sync::lock(&t.queue);
    if let Some(at) = q.due.remove(&id.0) {
        q.tasks.remove(&(at, id.0));
    }
    t.wake.notify_one();
}

fn run() {
    let t = timer();
    let mut q = crate::sync::lock(&t.queue);
    loop {
        let Some(&(next, _)) = q.tasks.keys().next() else {
            q.running = false;
            return;
        };
        let now = Instant::now();
        if next <= now {
            let mut due: Vec<Task> = Vec::new();
            while let Some(entry) = q.tasks.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                let ((_, id), task) = entry.remove_entry();
                q.due.remove(&id);
                due.push(task);
            }
            drop(q);
            for task in due {
                task();
            }
            q = crate::sync::lock(&t.queue);
        } else {
            q = crate::sync::wait_for(&t.wake, q, next - now);
        }
    }
}
