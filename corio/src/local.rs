//! Coro-local storage: `coro_local!`, the `thread_local!` of coros (Perl's
//! `Coro::Specific`, and the per-coro `$_`, `$@`, `$/` of Coro).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::sched::bind::Bind;
use crate::sched::sched;

/// Declares coro-local statics: each coro (the main coro included) sees its
/// own value, created from the initialiser on first access and dropped when
/// the coro ends.
///
/// The shape is that of [`thread_local!`]; access goes through
/// [`CoroLocal::with`] and, for `Cell` and `RefCell` values, the same
/// shortcuts `LocalKey` has (`get`, `set`, `take`, `replace`, `with_borrow`,
/// `with_borrow_mut`).
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
///
/// corio::coro_local! {
///     static REQUESTS: Cell<u32> = Cell::new(0);
/// }
///
/// let a = corio::spawn(|| {
///     REQUESTS.set(REQUESTS.get() + 1);
///     corio::cede();
///     REQUESTS.get()
/// });
/// let b = corio::spawn(|| {
///     REQUESTS.set(REQUESTS.get() + 10);
///     corio::cede();
///     REQUESTS.get()
/// });
/// assert_eq!(a.join().unwrap(), 1);
/// assert_eq!(b.join().unwrap(), 10);
/// assert_eq!(REQUESTS.get(), 0); // the main coro's own value
/// ```
#[macro_export]
macro_rules! coro_local {
    () => {};
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr; $($rest:tt)*) => {
        $(#[$attr])* $vis static $name: $crate::CoroLocal<$t> = $crate::CoroLocal::new({
            fn __corio_local_init() -> $t { $init }
            __corio_local_init
        });
        $crate::coro_local!($($rest)*);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr) => {
        $crate::coro_local!($(#[$attr])* $vis static $name: $t = $init;);
    };
}

/// Next free slot index in every coro's local table.
static NEXT_INDEX: AtomicUsize = AtomicUsize::new(1);

/// A coro-local key, made by [`coro_local!`].
pub struct CoroLocal<T: 'static> {
    init: fn() -> T,
    /// Slot index + 1, or 0 before the first access.
    index: AtomicUsize,
}

impl<T: 'static> fmt::Debug for CoroLocal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CoroLocal").finish_non_exhaustive()
    }
}

impl<T: 'static> CoroLocal<T> {
    /// A key whose values start as `init()`. Use [`coro_local!`] instead.
    #[doc(hidden)]
    pub const fn new(init: fn() -> T) -> Self {
        CoroLocal {
            init,
            index: AtomicUsize::new(0),
        }
    }

    fn index(&self) -> usize {
        let i = self.index.load(Ordering::Relaxed);
        if i != 0 {
            return i - 1;
        }
        let fresh = NEXT_INDEX.fetch_add(1, Ordering::Relaxed);
        match self
            .index
            .compare_exchange(0, fresh, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => fresh - 1,
            Err(won) => won - 1,
        }
    }

    /// Calls `f` with the current coro's value, creating it first if this
    /// coro never touched the key.
    ///
    /// # Panics
    /// Panics if `f` panics; the value stays in place. A generator may not
    /// yield from inside `f` ([`Yielder::yield_`](crate::Yielder::yield_)
    /// panics there): `f`'s reference points into this coro's locals, and a
    /// suspended generator could carry it to another coro or past this
    /// one's end.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro (`f` may).
    ///
    /// # Examples
    ///
    /// ```
    /// corio::coro_local! {
    ///     static NAME: String = format!("coro {}", corio::current().id());
    /// }
    /// let mine = NAME.with(|n| n.clone());
    /// let theirs = corio::spawn(|| NAME.with(|n| n.clone())).join().unwrap();
    /// assert_ne!(mine, theirs);
    /// ```
    pub fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        let index = self.index();
        let c = sched().cur();
        let find = |locals: &mut Vec<Option<Box<dyn Any>>>| -> *const T {
            match locals.get(index) {
                Some(Some(b)) => b.downcast_ref::<T>().map_or(std::ptr::null(), |v| v),
                _ => std::ptr::null(),
            }
        };
        let mut p = c.extra_mut(|e| find(&mut e.locals));
        if p.is_null() {
            // The initialiser is user code: run it without a borrow held.
            let value = (self.init)();
            p = c.extra_mut(|e| {
                if e.locals.len() <= index {
                    e.locals.resize_with(index + 1, || None);
                }
                if e.locals[index].is_none() {
                    e.locals[index] = Some(Box::new(value));
                }
                find(&mut e.locals)
            });
        }
        // While `f` runs, this frame is bound to `c` (see `sched/bind.rs`):
        // a generator cannot yield from inside `f`, so `f` runs in `c` from
        // start to end.
        let _bind = Bind::new(c);
        // SAFETY: `p` points into a `Box<T>` stored in `c`'s local table.
        // Boxes there are only removed when `c` ends, after its last frame
        // was unwound — and this frame is `c`'s for as long as it exists (the
        // bind above) — never replaced, and growing the table moves the
        // boxes, not their contents.
        f(unsafe { &*p })
    }
}

impl<T: Copy + 'static> CoroLocal<Cell<T>> {
    /// Returns a copy of the current coro's value.
    ///
    /// # Examples
    ///
    /// ```
    /// corio::coro_local! { static N: std::cell::Cell<u8> = std::cell::Cell::new(3); }
    /// assert_eq!(N.get(), 3);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn get(&'static self) -> T {
        self.with(Cell::get)
    }
}

impl<T: 'static> CoroLocal<Cell<T>> {
    /// Sets the current coro's value.
    ///
    /// # Examples
    ///
    /// ```
    /// corio::coro_local! { static N: std::cell::Cell<u8> = std::cell::Cell::new(0); }
    /// N.set(9);
    /// assert_eq!(N.get(), 9);
    /// assert_eq!(corio::spawn(|| N.get()).join().unwrap(), 0);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn set(&'static self, value: T) {
        self.with(|c| c.set(value));
    }

    /// Replaces the current coro's value, returning the old one.
    ///
    /// # Examples
    ///
    /// ```
    /// corio::coro_local! { static N: std::cell::Cell<u8> = std::cell::Cell::new(1); }
    /// assert_eq!(N.replace(2), 1);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn replace(&'static self, value: T) -> T {
        self.with(|c| c.replace(value))
    }

    /// Takes the current coro's value, leaving `Default::default()`.
    ///
    /// # Examples
    ///
    /// ```
    /// corio::coro_local! { static N: std::cell::Cell<u8> = std::cell::Cell::new(5); }
    /// assert_eq!(N.take(), 5);
    /// assert_eq!(N.get(), 0);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn take(&'static self) -> T
    where
        T: Default,
    {
        self.with(Cell::take)
    }
}

impl<T: 'static> CoroLocal<RefCell<T>> {
    /// Borrows the current coro's value.
    ///
    /// # Examples
    ///
    /// ```
    /// corio::coro_local! { static V: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![1]); }
    /// assert_eq!(V.with_borrow(|v| v.len()), 1);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn with_borrow<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        self.with(|c| f(&c.borrow()))
    }

    /// Mutably borrows the current coro's value.
    ///
    /// # Examples
    ///
    /// ```
    /// corio::coro_local! { static V: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![]); }
    /// V.with_borrow_mut(|v| v.push(7));
    /// assert_eq!(V.with_borrow(|v| v.clone()), [7]);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn with_borrow_mut<R>(&'static self, f: impl FnOnce(&mut T) -> R) -> R {
        self.with(|c| f(&mut c.borrow_mut()))
    }

    /// Sets the current coro's value.
    ///
    /// # Examples
    ///
    /// ```
    /// corio::coro_local! { static S: std::cell::RefCell<String> = std::cell::RefCell::new(String::new()); }
    /// S.set("mine".to_string());
    /// assert_eq!(S.with_borrow(|s| s.clone()), "mine");
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn set(&'static self, value: T) {
        self.with(|c| *c.borrow_mut() = value);
    }

    /// Replaces the current coro's value, returning the old one.
    ///
    /// # Examples
    ///
    /// ```
    /// corio::coro_local! { static S: std::cell::RefCell<String> = std::cell::RefCell::new("a".into()); }
    /// assert_eq!(S.replace("b".into()), "a");
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn replace(&'static self, value: T) -> T {
        self.with(|c| c.replace(value))
    }

    /// Takes the current coro's value, leaving `Default::default()`.
    ///
    /// # Examples
    ///
    /// ```
    /// corio::coro_local! { static S: std::cell::RefCell<String> = std::cell::RefCell::new("x".into()); }
    /// assert_eq!(S.take(), "x");
    /// assert_eq!(S.take(), "");
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn take(&'static self) -> T
    where
        T: Default,
    {
        self.with(RefCell::take)
    }
}
