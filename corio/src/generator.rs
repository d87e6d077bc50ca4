//! `Generator`: a stackful generator (Perl's `Coro::State` layer), usable
//! with or without the scheduler.

use std::cell::Cell;
use std::fmt;
use std::io;
use std::marker::PhantomData;

use corosensei::{Coroutine, CoroutineResult};

use crate::sched::bind::{self, Mark, Refusal};
use crate::stack::{self, OWNER_GENERATOR, Stack};

/// What [`Generator::resume`] gives back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GeneratorState<Y, R> {
    /// The generator called [`Yielder::yield_`] with this value.
    Yielded(Y),
    /// The generator's closure returned this value; it cannot be resumed
    /// again.
    Complete(R),
}

/// Passed to a generator's closure: yields values to whoever resumes it,
/// from any depth of recursion.
pub struct Yielder<Y, I = ()> {
    inner: *const corosensei::Yielder<(I, Mark), Y>,
    /// The coro that resumed the generator last and its bind count (see
    /// `sched/bind.rs`): a yield from another coro, or that finds a larger
    /// count, is refused.
    base: Cell<Mark>,
}

impl<Y, I> fmt::Debug for Yielder<Y, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Yielder").finish_non_exhaustive()
    }
}

impl<Y, I> Yielder<Y, I> {
    /// Hands `value` to the caller of [`Generator::resume`] and waits; returns
    /// the input of the next `resume`.
    ///
    /// # Panics
    ///
    /// Panics, without yielding, when called inside a corio call whose
    /// frame belongs to the coro running the generator:
    /// [`CoroLocal::with`](crate::CoroLocal::with) (and its shortcuts),
    /// [`timeout`](crate::timeout), [`scope`](crate::scope) (and the
    /// coros it runs), [`select!`](crate::select!) (and its branches) and
    /// [`block_on`](crate::block_on) (inside the future's `poll`). Such a
    /// frame keeps pointers to that coro (its locals, its timer, its wait
    /// nodes, the coros that borrow from it); a suspended generator could
    /// carry it to another coro, or past the coro's end. Yield outside the
    /// call instead.
    ///
    /// A `Drop` that yields while an unfinished generator is being dropped
    /// (its stack unwinds) cannot be suspended: the process aborts with
    /// "panic in a destructor during cleanup".
    ///
    /// # Switching
    ///
    /// Switches to the generator's caller (not to another coro: the
    /// scheduler is not involved).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut g = corio::Generator::new(|y: &corio::Yielder<&str, u32>, first: u32| {
    ///     let second = y.yield_("got the first");
    ///     first + second
    /// });
    /// assert_eq!(g.resume(1), corio::GeneratorState::Yielded("got the first"));
    /// assert_eq!(g.resume(2), corio::GeneratorState::Complete(3));
    /// ```
    ///
    /// Not from inside a bound call:
    ///
    /// ```should_panic
    /// use std::time::Duration;
    /// let mut g = corio::Generator::new(|y: &corio::Yielder<()>, ()| {
    ///     corio::timeout(Duration::from_secs(1), || y.yield_(())).ok();
    /// });
    /// g.resume(()); // panics: "cannot yield inside ..."
    /// ```
    #[track_caller]
    pub fn yield_(&self, value: Y) -> I {
        if let Some(why) = bind::yield_refused(self.base.get()) {
            refused_yield(why);
        }
        // SAFETY: `inner` is the yielder of the coroutine whose closure made
        // this `Yielder` on its own stack; user code only ever sees `&self`,
        // borrowed from that frame, so the coroutine is running right now.
        let (input, base) = unsafe { (*self.inner).suspend(value) };
        self.base.set(base);
        input
    }
}

#[cold]
#[track_caller]
fn refused_yield(why: Refusal) -> ! {
    match why {
        Refusal::Bound => panic!(
            "corio: Yielder::yield_ called inside CoroLocal::with, timeout(), scope(), \
             select! or block_on(): those calls keep pointers to the coro running the generator, and a \
             suspended generator could carry them to another coro; yield outside the call"
        ),
        Refusal::OtherCoro => panic!(
            "corio: Yielder::yield_ called from another coro than the one running the \
             generator (a scoped coro or a select! branch that borrowed the yielder); \
             only the generator's own code may yield it"
        ),
    }
}

/// A stackful generator: its closure runs on a stack of its own and can
/// yield from any depth of ordinary (non-async) code — a recursive solver
/// can hand out each solution as it finds it, and get an answer back.
///
/// `Generator<Y, R, I>` yields `Y`s, finally returns an `R`, and receives
/// an `I` on every resume (the first one as the closure's second argument).
/// With `R = ()` and `I = ()` it is an [`Iterator`] of `Y`.
///
/// It needs no scheduler, but lives happily in a coro: if the closure calls
/// a blocking corio function (a `cede`, a `join`, …), that parks the coro
/// that resumed the generator, exactly as if the call had been made in the
/// coro itself; the generator continues when the coro does. Dropping an
/// unfinished generator unwinds its stack, so its `Drop`s run.
///
/// # Examples
///
/// ```
/// use corio::Generator;
///
/// // Every permutation, yielded from the bottom of the recursion.
/// fn permute(y: &corio::Yielder<Vec<u8>>, done: &mut Vec<u8>, left: &mut Vec<u8>) {
///     if left.is_empty() {
///         y.yield_(done.clone());
///     }
///     for i in 0..left.len() {
///         let x = left.remove(i);
///         done.push(x);
///         permute(y, done, left);
///         done.pop();
///         left.insert(i, x);
///     }
/// }
///
/// let perms: Vec<Vec<u8>> = Generator::new(|y, ()| permute(y, &mut vec![], &mut vec![1, 2, 3])).collect();
/// assert_eq!(perms.len(), 6);
/// assert_eq!(perms[0], [1, 2, 3]);
/// assert_eq!(perms[5], [3, 2, 1]);
/// ```
///
/// A two-way generator (a running sum):
///
/// ```
/// use corio::{Generator, GeneratorState};
///
/// let mut sum = Generator::new(|y: &corio::Yielder<u32, u32>, first: u32| -> &'static str {
///     let mut total = first;
///     while total < 10 {
///         total += y.yield_(total);
///     }
///     "enough"
/// });
/// assert_eq!(sum.resume(3), GeneratorState::Yielded(3));
/// assert_eq!(sum.resume(4), GeneratorState::Yielded(7));
/// assert_eq!(sum.resume(5), GeneratorState::Complete("enough"));
/// assert!(sum.is_complete());
/// ```
///
/// Its stack may hold anything, so it stays on its thread:
///
/// ```compile_fail
/// fn send<T: Send>(_: T) {}
/// send(corio::Generator::new(|y: &corio::Yielder<u8>, ()| y.yield_(1)));
/// ```
pub struct Generator<Y, R = (), I = ()> {
    co: Coroutine<(I, Mark), Y, R, Stack>,
    complete: bool,
    /// Feature `tracing`: the spans it had entered when it last yielded.
    #[cfg(feature = "tracing")]
    spans: crate::sched::spans::GeneratorSpans,
    _not_send: PhantomData<*const ()>,
}

/// Feature `tracing`: an unfinished generator's stack unwinds with its
/// spans entered, so that the guards on it exit what they entered.
#[cfg(feature = "tracing")]
impl<Y, R, I> Drop for Generator<Y, R, I> {
    fn drop(&mut self) {
        if self.co.started() && !self.co.done() {
            let base = self.spans.enter();
            self.co.force_unwind();
            self.spans.leave(base);
        }
        self.spans.release();
    }
}

impl<Y, R, I> fmt::Debug for Generator<Y, R, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Generator")
            .field("started", &self.co.started())
            .field("complete", &self.complete)
            .finish()
    }
}

impl<Y: 'static, R: 'static, I: 'static> Generator<Y, R, I> {
    /// A generator that runs `f` on a stack of
    /// [`DEFAULT_STACK_SIZE`](crate::stack::DEFAULT_STACK_SIZE) bytes,
    /// starting at the first [`resume`](Generator::resume).
    ///
    /// # Panics
    /// Panics if no stack can be mapped (see [`with_stack_size`] for the
    /// fallible form).
    ///
    /// [`with_stack_size`]: Generator::with_stack_size
    ///
    /// # Examples
    ///
    /// ```
    /// let squares: Vec<u32> = corio::Generator::new(|y, ()| {
    ///     for i in 1..=3 {
    ///         y.yield_(i * i);
    ///     }
    /// })
    /// .collect();
    /// assert_eq!(squares, [1, 4, 9]);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    #[track_caller]
    pub fn new<F>(f: F) -> Self
    where
        F: FnOnce(&Yielder<Y, I>, I) -> R + 'static,
    {
        match Self::build(stack::DEFAULT_STACK_SIZE, f) {
            Ok(g) => g,
            Err(e) => panic!("corio::Generator::new: {e}"),
        }
    }

    /// Like [`new`](Generator::new) with a stack of `bytes` usable bytes.
    ///
    /// # Errors
    /// `InvalidInput` for 0 bytes or more than
    /// [`MAX_STACK_SIZE`](crate::stack::MAX_STACK_SIZE); the mapping's error
    /// when the stack cannot be mapped.
    ///
    /// # Examples
    ///
    /// ```
    /// let deep = corio::Generator::<u32>::with_stack_size(16 << 20, |y, ()| {
    ///     fn down(y: &corio::Yielder<u32>, n: u32) {
    ///         let pad = std::hint::black_box([0u8; 256]);
    ///         if n == 0 { y.yield_(pad[0] as u32) } else { down(y, n - 1) }
    ///     }
    ///     down(y, 10_000);
    /// })?;
    /// assert_eq!(deep.collect::<Vec<_>>(), [0]);
    /// assert!(corio::Generator::<(), (), ()>::with_stack_size(0, |_, ()| ()).is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn with_stack_size<F>(bytes: usize, f: F) -> io::Result<Self>
    where
        F: FnOnce(&Yielder<Y, I>, I) -> R + 'static,
    {
        Self::build(stack::usable_size(bytes)?, f)
    }

    fn build<F>(size: usize, f: F) -> io::Result<Self>
    where
        F: FnOnce(&Yielder<Y, I>, I) -> R + 'static,
    {
        let stack = Stack::acquire(size)?;
        stack.set_owner(OWNER_GENERATOR);
        fn body<Y, R, I>(
            y: &corosensei::Yielder<(I, Mark), Y>,
            (input, base): (I, Mark),
            f: impl FnOnce(&Yielder<Y, I>, I) -> R,
        ) -> R {
            let y = Yielder {
                inner: y,
                base: Cell::new(base),
            };
            f(&y, input)
        }
        // corosensei copies the closure onto the new stack and refuses more
        // than 1 KiB: a bigger one travels in a box.
        let co = if std::mem::size_of::<F>() <= stack::MAX_INLINE_CLOSURE {
            Coroutine::with_stack(stack, move |y, first| body(y, first, f))
        } else {
            let f = Box::new(f);
            Coroutine::with_stack(stack, move |y, first| body(y, first, *f))
        };
        Ok(Generator {
            co,
            complete: false,
            #[cfg(feature = "tracing")]
            spans: crate::sched::spans::GeneratorSpans::default(),
            _not_send: PhantomData,
        })
    }

    /// Runs the generator until it yields or returns. The first call starts
    /// the closure with `input` as its second argument; later calls make the
    /// pending [`Yielder::yield_`] return `input`.
    ///
    /// # Panics
    /// Panics if the generator already completed. A panic inside the
    /// generator propagates out of `resume` (and completes it).
    ///
    /// # Switching
    ///
    /// Switches into the generator; it may suspend the current coro if the
    /// generator makes a blocking call.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio::GeneratorState::{Complete, Yielded};
    /// let mut g = corio::Generator::new(|y: &corio::Yielder<char, char>, c: char| {
    ///     let next = y.yield_(c.to_ascii_uppercase());
    ///     next.to_ascii_uppercase()
    /// });
    /// assert_eq!(g.resume('a'), Yielded('A'));
    /// assert_eq!(g.resume('b'), Complete('B'));
    /// ```
    #[track_caller]
    pub fn resume(&mut self, input: I) -> GeneratorState<Y, R> {
        assert!(
            !self.complete,
            "corio::Generator::resume on a completed generator"
        );
        // Mark completion before resuming, so that a panic leaves the
        // generator completed.
        self.complete = true;
        #[cfg(feature = "tracing")]
        let base = self.spans.enter();
        let r = self.co.resume((input, bind::here()));
        #[cfg(feature = "tracing")]
        self.spans.leave(base);
        match r {
            CoroutineResult::Yield(y) => {
                self.complete = false;
                GeneratorState::Yielded(y)
            }
            CoroutineResult::Return(r) => GeneratorState::Complete(r),
        }
    }

    /// Whether the closure returned (or panicked).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut g = corio::Generator::new(|y: &corio::Yielder<()>, ()| y.yield_(()));
    /// g.resume(());
    /// assert!(!g.is_complete());
    /// g.resume(());
    /// assert!(g.is_complete());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// Whether [`resume`](Generator::resume) was ever called.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut g = corio::Generator::new(|_: &corio::Yielder<()>, ()| ());
    /// assert!(!g.is_started());
    /// g.resume(());
    /// assert!(g.is_started());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn is_started(&self) -> bool {
        self.co.started()
    }
}

impl<Y: 'static> Iterator for Generator<Y, (), ()> {
    type Item = Y;

    fn next(&mut self) -> Option<Y> {
        if self.complete {
            return None;
        }
        match self.resume(()) {
            GeneratorState::Yielded(y) => Some(y),
            GeneratorState::Complete(()) => None,
        }
    }
}

impl<Y: 'static> std::iter::FusedIterator for Generator<Y, (), ()> {}
