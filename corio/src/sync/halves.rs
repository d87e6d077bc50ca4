//! `Sender` and `Receiver`: a [`Channel`] split in halves that close it
//! when the other side is gone.
//!
//! # State
//!
//! Both halves share one [`Halves`]: the channel and how many senders and
//! receivers exist. A half's `Drop` counts itself out; the last sender
//! shuts the channel down (getters drain what is buffered, then get
//! `None`), the last receiver shuts it down and drops what is buffered
//! (putters get their values back).

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use super::channel::{Channel, Closed, TryPutError};

struct Halves<T> {
    chan: Channel<T>,
    senders: Cell<usize>,
    receivers: Cell<usize>,
}

/// The sending half of [`bounded`] or [`unbounded`]: clone it for more
/// senders. When the last `Sender` is dropped, receivers get what is
/// buffered and then `None`.
///
/// # Examples
///
/// ```
/// let (tx, rx) = corio::sync::unbounded();
/// let tx2 = tx.clone();
/// tx.put(1).unwrap();
/// tx2.put(2).unwrap();
/// drop((tx, tx2));
/// assert_eq!(rx.iter().collect::<Vec<_>>(), [1, 2]);
/// ```
pub struct Sender<T> {
    h: Rc<Halves<T>>,
}

/// The receiving half of [`bounded`] or [`unbounded`]: clone it for more
/// receivers (each item goes to one of them). When the last `Receiver` is
/// dropped, what is buffered is dropped and every `put` fails with
/// [`Closed`].
///
/// # Examples
///
/// ```
/// let (tx, rx) = corio::sync::bounded::<u32>(4);
/// drop(rx);
/// assert_eq!(tx.put(7).unwrap_err().0, 7);
/// ```
pub struct Receiver<T> {
    h: Rc<Halves<T>>,
}

/// A channel that buffers `n` items (`n == 0`: a rendezvous, `put`
/// returns when a getter took the item), as [`Channel::bounded`], split in
/// halves that close it when the other side is gone: unlike a
/// [`Channel`], which only [`shutdown`](Channel::shutdown) closes.
///
/// # Examples
///
/// A worker that ends when its producer does:
///
/// ```
/// let (tx, rx) = corio::sync::bounded(2);
/// let worker = corio::spawn(move || rx.iter().sum::<u64>());
/// for n in 1..=10 {
///     tx.put(n).unwrap(); // waits while 2 are queued
/// }
/// drop(tx); // the worker's loop ends after the last item
/// assert_eq!(worker.join().unwrap(), 55);
/// ```
///
/// # Switching
///
/// Never suspends the current coro.
pub fn bounded<T>(n: usize) -> (Sender<T>, Receiver<T>) {
    split(Channel::bounded(n))
}

/// An unbounded channel (`put` never waits), split in halves that close
/// it when the other side is gone (see [`bounded`]).
///
/// # Examples
///
/// ```
/// let (tx, rx) = corio::sync::unbounded();
/// let producer = corio::spawn(move || {
///     for word in ["a", "b", "c"] {
///         tx.put(word).unwrap();
///     }
/// }); // `tx` is dropped here
/// assert_eq!(rx.iter().collect::<String>(), "abc");
/// producer.join().unwrap();
/// ```
///
/// # Switching
///
/// Never suspends the current coro.
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    split(Channel::new())
}

fn split<T>(chan: Channel<T>) -> (Sender<T>, Receiver<T>) {
    let h = Rc::new(Halves {
        chan,
        senders: Cell::new(1),
        receivers: Cell::new(1),
    });
    (Sender { h: h.clone() }, Receiver { h })
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.h.senders.set(self.h.senders.get() + 1);
        Sender { h: self.h.clone() }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.h.receivers.set(self.h.receivers.get() + 1);
        Receiver { h: self.h.clone() }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let n = self.h.senders.get() - 1;
        self.h.senders.set(n);
        if n == 0 {
            self.h.chan.shutdown();
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let n = self.h.receivers.get() - 1;
        self.h.receivers.set(n);
        if n == 0 {
            self.h.chan.shutdown();
            // Nobody can take them any more. One at a time: an item's
            // `Drop` may use the channel.
            while let Some(item) = self.h.chan.try_get() {
                drop(item);
            }
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("chan", &self.h.chan)
            .field("senders", &self.h.senders.get())
            .field("receivers", &self.h.receivers.get())
            .finish()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("chan", &self.h.chan)
            .field("senders", &self.h.senders.get())
            .field("receivers", &self.h.receivers.get())
            .finish()
    }
}

impl<T> Sender<T> {
    /// Sends `value`, waiting while the channel is full (see
    /// [`Channel::put`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = corio::sync::bounded(1);
    /// tx.put("hi").unwrap();
    /// assert_eq!(rx.get(), Some("hi"));
    /// ```
    ///
    /// # Errors
    /// [`Closed`] with the value when every [`Receiver`] is gone (also
    /// when that happens while it waits).
    ///
    /// # Panics
    /// Unwinds if the coro is cancelled, thrown at or timed out while it
    /// waits (the value is dropped, not sent).
    ///
    /// # Switching
    ///
    /// Suspends the current coro while the channel is full, and on a
    /// rendezvous channel until a receiver took the value.
    #[track_caller]
    pub fn put(&self, value: T) -> Result<(), Closed<T>> {
        self.h.chan.put(value)
    }

    /// Sends `value` if that needs no waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio::sync::TryPutError;
    /// let (tx, rx) = corio::sync::bounded(1);
    /// tx.try_put(1).unwrap();
    /// assert!(matches!(tx.try_put(2), Err(TryPutError::Full(2))));
    /// drop(rx);
    /// assert!(matches!(tx.try_put(3), Err(TryPutError::Closed(3))));
    /// ```
    ///
    /// # Errors
    /// [`TryPutError::Full`] when it would wait, [`TryPutError::Closed`]
    /// when every [`Receiver`] is gone; both give the value back.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn try_put(&self, value: T) -> Result<(), TryPutError<T>> {
        self.h.chan.try_put(value)
    }

    /// Whether every [`Receiver`] is gone (a `put` would fail).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = corio::sync::unbounded::<()>();
    /// assert!(!tx.is_closed());
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn is_closed(&self) -> bool {
        self.h.chan.is_shutdown()
    }

    /// How many items are buffered.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = corio::sync::unbounded();
    /// tx.put(1).unwrap();
    /// assert_eq!(tx.len(), 1);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn len(&self) -> usize {
        self.h.chan.len()
    }

    /// Whether no item is buffered.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = corio::sync::unbounded::<u8>();
    /// assert!(tx.is_empty());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn is_empty(&self) -> bool {
        self.h.chan.is_empty()
    }
}

impl<T> Receiver<T> {
    /// Takes the next item, waiting while there is none; `None` once
    /// every [`Sender`] is gone and the buffer is drained.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = corio::sync::unbounded();
    /// corio::spawn(move || tx.put(5).unwrap());
    /// assert_eq!(rx.get(), Some(5)); // waits for the sender coro
    /// assert_eq!(rx.get(), None); // which is gone now
    /// ```
    ///
    /// # Panics
    /// Unwinds if the coro is cancelled, thrown at or timed out while it
    /// waits (nothing is taken).
    ///
    /// # Switching
    ///
    /// Suspends the current coro while the channel is empty and a
    /// [`Sender`] exists.
    #[track_caller]
    pub fn get(&self) -> Option<T> {
        self.h.chan.get()
    }

    /// Takes the next item if there is one.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = corio::sync::unbounded();
    /// assert_eq!(rx.try_get(), None);
    /// tx.put(1).unwrap();
    /// assert_eq!(rx.try_get(), Some(1));
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn try_get(&self) -> Option<T> {
        self.h.chan.try_get()
    }

    /// Like [`get`](Receiver::get), giving up after `timeout` with `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let (_tx, rx) = corio::sync::unbounded::<u8>();
    /// assert_eq!(rx.get_timeout(Duration::from_millis(5)), None);
    /// ```
    ///
    /// # Panics
    /// As [`get`](Receiver::get).
    ///
    /// # Switching
    ///
    /// Suspends the current coro while the channel is empty, for at most
    /// `timeout`.
    #[track_caller]
    pub fn get_timeout(&self, timeout: Duration) -> Option<T> {
        self.h.chan.get_timeout(timeout)
    }

    /// An iterator of [`get`](Receiver::get)s: it ends when every
    /// [`Sender`] is gone and the buffer is drained.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = corio::sync::unbounded();
    /// tx.put('a').unwrap();
    /// drop(tx);
    /// assert_eq!(rx.iter().collect::<Vec<_>>(), ['a']);
    /// ```
    ///
    /// # Switching
    ///
    /// Each `next` suspends the current coro while the channel is empty
    /// and a [`Sender`] exists.
    pub fn iter(&self) -> ReceiverIter<'_, T> {
        ReceiverIter { rx: self }
    }

    /// Whether every [`Sender`] is gone (what is buffered can still be
    /// taken).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = corio::sync::unbounded::<()>();
    /// drop(tx);
    /// assert!(rx.is_closed());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn is_closed(&self) -> bool {
        self.h.chan.is_shutdown()
    }

    /// How many items are buffered.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = corio::sync::unbounded();
    /// tx.put(1).unwrap();
    /// assert_eq!(rx.len(), 1);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn len(&self) -> usize {
        self.h.chan.len()
    }

    /// Whether no item is buffered.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, rx) = corio::sync::unbounded::<u8>();
    /// assert!(rx.is_empty());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn is_empty(&self) -> bool {
        self.h.chan.is_empty()
    }
}

/// Iterator over a borrowed [`Receiver`] (see [`Receiver::iter`]).
#[derive(Debug)]
pub struct ReceiverIter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for ReceiverIter<'_, T> {
    type Item = T;

    #[track_caller]
    fn next(&mut self) -> Option<T> {
        self.rx.get()
    }
}

/// Iterator over a [`Receiver`] it owns.
#[derive(Debug)]
pub struct ReceiverIntoIter<T> {
    rx: Receiver<T>,
}

impl<T> Iterator for ReceiverIntoIter<T> {
    type Item = T;

    #[track_caller]
    fn next(&mut self) -> Option<T> {
        self.rx.get()
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = ReceiverIter<'a, T>;

    fn into_iter(self) -> ReceiverIter<'a, T> {
        self.iter()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = ReceiverIntoIter<T>;

    fn into_iter(self) -> ReceiverIntoIter<T> {
        ReceiverIntoIter { rx: self }
    }
}
