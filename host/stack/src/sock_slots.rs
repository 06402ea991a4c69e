//! The bookkeeping the socket tables share (TCP's [`crate::tcp::TcpTable`], UDP's table in
//! [`crate::udp`]): which slots are free, lowest first, and which slots hold a socket on a
//! local port (Linux's bind hash). Both only keep indices: each table places and takes its
//! sockets itself, through its own accessors, so its change marking stays its own.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// The empty slots of a socket table, lowest first: a new socket takes the lowest free slot
/// without a scan, as a new file takes the lowest free descriptor.
#[derive(Debug, Default)]
pub(crate) struct FreeSlots(BinaryHeap<Reverse<usize>>);

impl FreeSlots {
    /// The lowest freed slot, if `slots` still has it empty; `None`: the table grows by one.
    pub(crate) fn take<T>(&mut self, slots: &[Option<T>]) -> Option<usize> {
        match self.0.pop() {
            Some(Reverse(i)) if slots.get(i).is_some_and(Option::is_none) => Some(i),
            _ => None,
        }
    }

    /// Slot `i` was emptied: a later [`Self::take`] may give it out again.
    pub(crate) fn free(&mut self, i: usize) {
        self.0.push(Reverse(i));
    }
}

/// The slots of a socket table by their socket's local port (Linux's bind hash), each port's
/// in the order they were added: bind conflict checks, port pickers and lookups look at the
/// sockets on one port instead of scanning the table, so opening N sockets is not O(N²). UDP's
/// lookup counts on the order (among equal matches the last bound wins).
#[derive(Debug, Default)]
pub(crate) struct PortIndex(HashMap<u16, Vec<usize>>);

impl PortIndex {
    /// Files slot `i` under `port`, after the slots already there.
    pub(crate) fn insert(&mut self, port: u16, i: usize) {
        self.0.entry(port).or_default().push(i);
    }

    /// Takes slot `i` out from under `port`, keeping the others' order; the port goes once no
    /// slot is left under it.
    pub(crate) fn remove(&mut self, port: u16, i: usize) {
        if let Some(v) = self.0.get_mut(&port) {
            if let Some(at) = v.iter().position(|&x| x == i) {
                v.remove(at);
            }
            if v.is_empty() {
                self.0.remove(&port);
            }
        }
    }

    /// The slots under `port`, in the order they were filed.
    pub(crate) fn get(&self, port: u16) -> &[usize] {
        self.0.get(&port).map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_gives_the_lowest_freed_slot_still_empty() {
        let mut slots = vec![Some(()), None, Some(()), None];
        let mut free = FreeSlots::default();
        free.free(3);
        free.free(1);
        assert_eq!(free.take(&slots), Some(1));
        slots[1] = Some(());
        assert_eq!(free.take(&slots), Some(3));
        assert_eq!(free.take(&slots), None, "nothing freed: the table grows");
        free.free(0);
        assert_eq!(free.take(&slots), None, "slot 0 is not empty");
    }

    #[test]
    fn a_port_keeps_its_slots_in_order_and_goes_when_empty() {
        let mut idx = PortIndex::default();
        for i in [4, 2, 7] {
            idx.insert(80, i);
        }
        idx.insert(81, 1);
        idx.remove(80, 4);
        assert_eq!(idx.get(80), &[2, 7]);
        idx.remove(80, 9);
        assert_eq!(idx.get(80), &[2, 7]);
        idx.remove(81, 1);
        assert!(idx.get(81).is_empty());
        assert!(!idx.0.contains_key(&81));
    }
}
