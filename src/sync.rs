//! Lock and wait helpers, written once. A panic on another thread that held
//! a lock must not make every later call panic too: every critical section
//! in wsock leaves the data it guards valid at each step, so a poisoned lock
//! is taken as it is.

use std::sync::{Condvar, Mutex, MutexGuard};

use crate::time::Deadline;

/// Locks `m`, ignoring poisoning.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Locks `m` if no one holds it, ignoring poisoning; `None` if it is held.
pub(crate) fn try_lock<T>(m: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match m.try_lock() {
        Ok(guard) => Some(guard),
        Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => None,
    }
}

/// Waits on `cv` at most until `deadline` (one slice of at most a day for
/// `Never`), ignoring poisoning. Callers loop and re-check their condition.
pub(crate) fn wait_until<'a, T>(
    cv: &Condvar,
    guard: MutexGuard<'a, T>,
    deadline: Deadline,
) -> MutexGuard<'a, T> {
    wait_for(cv, guard, deadline.left())
}

/// Waits on `cv` at most `timeout`, ignoring poisoning.
pub(crate) fn wait_for<'a, T>(
    cv: &Condvar,
    guard: MutexGuard<'a, T>,
    timeout: std::time::Duration,
) -> MutexGuard<'a, T> {
    cv.wait_timeout(guard, timeout)
        .unwrap_or_else(|e| e.into_inner())
        .0
}
