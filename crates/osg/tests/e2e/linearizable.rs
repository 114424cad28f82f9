//! A linearizability checker for one key's history, seen as a register: every read must
//! return what some order of the operations, consistent with their real-time order (an
//! operation that ended before another began comes first), would have it return. Writes put
//! unique values, so a read names the write it saw.
//!
//! The search is Wing and Gong's, with the memoization of Lowe: try each operation that could
//! come next, remember the (linearized set, register value) states already explored.

use std::collections::HashSet;

/// What an operation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    Write(u64),
    Delete,
    /// What the read returned: a write's value, or nothing.
    Read(Option<u64>),
}

/// One completed operation, with the times (any unit, one clock) it started and ended.
#[derive(Debug, Clone, Copy)]
pub struct Op {
    pub start: u64,
    pub end: u64,
    pub act: Act,
}

/// `Ok` if the history is linearizable from an empty register; otherwise a description.
pub fn check(ops: &[Op]) -> Result<(), String> {
    let mut ops = ops.to_vec();
    ops.sort_by_key(|o| o.start);
    let mut seen = HashSet::new();
    let done = vec![false; ops.len()];
    if search(&ops, done, None, &mut seen) {
        Ok(())
    } else {
        Err(format!("not linearizable: {ops:?}"))
    }
}

fn search(ops: &[Op], mut done: Vec<bool>, value: Option<u64>, seen: &mut HashSet<(Vec<bool>, Option<u64>)>) -> bool {
    let pending: Vec<usize> = (0..ops.len()).filter(|&i| !done[i]).collect();
    let Some(earliest_end) = pending.iter().map(|&i| ops[i].end).min() else {
        return true;
    };
    // An operation may come next unless another ended before it started.
    for &i in pending.iter().filter(|&&i| ops[i].start <= earliest_end) {
        let next = match ops[i].act {
            Act::Write(v) => Some(v),
            Act::Delete => None,
            Act::Read(r) if r == value => value,
            Act::Read(_) => continue,
        };
        done[i] = true;
        if seen.insert((done.clone(), next)) && search(ops, done.clone(), next, seen) {
            return true;
        }
        done[i] = false;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(start: u64, end: u64, act: Act) -> Op {
        Op { start, end, act }
    }

    #[test]
    fn accepts_what_some_order_explains() {
        // Sequential.
        assert!(check(&[op(0, 1, Act::Write(1)), op(2, 3, Act::Read(Some(1)))]).is_ok());
        // A read concurrent with a write may see the old value or the new one.
        assert!(check(&[op(0, 10, Act::Write(1)), op(1, 2, Act::Read(None))]).is_ok());
        assert!(check(&[op(0, 10, Act::Write(1)), op(1, 2, Act::Read(Some(1)))]).is_ok());
        // Concurrent writes, then reads agreeing on the one that came last.
        let h = [
            op(0, 5, Act::Write(1)),
            op(1, 6, Act::Write(2)),
            op(7, 8, Act::Read(Some(1))),
            op(9, 10, Act::Read(Some(1))),
        ];
        assert!(check(&h).is_ok());
        assert!(
            check(&[
                op(0, 1, Act::Write(1)),
                op(2, 3, Act::Delete),
                op(4, 5, Act::Read(None))
            ])
            .is_ok()
        );
    }

    #[test]
    fn refuses_what_no_order_explains() {
        // A stale read after the write completed.
        assert!(check(&[op(0, 1, Act::Write(1)), op(2, 3, Act::Read(None))]).is_err());
        // A lost write: the later write's value disappears.
        let lost = [
            op(0, 1, Act::Write(1)),
            op(2, 3, Act::Write(2)),
            op(4, 5, Act::Read(Some(1))),
        ];
        assert!(check(&lost).is_err());
        // Two readers see the concurrent writes in opposite orders.
        let flip = [
            op(0, 5, Act::Write(1)),
            op(0, 5, Act::Write(2)),
            op(6, 7, Act::Read(Some(1))),
            op(8, 9, Act::Read(Some(2))),
            op(10, 11, Act::Read(Some(1))),
        ];
        assert!(check(&flip).is_err());
        // A value no write put.
        assert!(check(&[op(0, 1, Act::Read(Some(9)))]).is_err());
        // A read of a deleted value.
        let resurrected = [
            op(0, 1, Act::Write(1)),
            op(2, 3, Act::Delete),
            op(4, 5, Act::Read(Some(1))),
        ];
        assert!(check(&resurrected).is_err());
    }
}
