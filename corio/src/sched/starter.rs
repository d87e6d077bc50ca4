//! The closure of a deferred spawn (see `inner::Deferred`), kept until its
//! coro starts and makes its coroutine with it.
//!
//! A burst of short coros spawns thousands of these and starts them one by
//! one, so where a closure lives matters: a `Box` each made glibc's
//! `malloc`/`free` (with `malloc_consolidate` over the freed boxes) more
//! than half the cost of such a spawn. A closure of up to one word (a
//! function, a captured number, an `Rc` or a `Box`) lives in the starter
//! itself; closures of up to [`BLOCK`] bytes live in blocks that the thread
//! recycles; bigger ones, or ones aligned beyond 16 bytes, in a `Box`.
//! (Blocks allocated between control blocks stay resident after they are
//! freed: a million parked coros held 80 bytes more each through them
//! before one-word closures stopped needing a block.)

use std::alloc::{Layout, alloc, dealloc, handle_alloc_error};
use std::cell::RefCell;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ptr::NonNull;

use super::inner::Context;
use crate::stack::Stack;

/// Bytes of a recycled block, and its alignment.
const BLOCK: usize = 64;
const BLOCK_ALIGN: usize = 16;

/// Free blocks a thread keeps (1 MiB).
const KEEP: usize = 16 * 1024;

fn block_layout() -> Layout {
    // 64 is a power of two, and 16 divides it.
    Layout::from_size_align(BLOCK, BLOCK_ALIGN).expect("a valid layout")
}

/// A thread's free blocks, given back to the allocator when it exits.
struct Blocks(Vec<NonNull<u8>>);

impl Drop for Blocks {
    fn drop(&mut self) {
        for b in self.0.drain(..) {
            // SAFETY: every block here was allocated with `block_layout`
            // and is owned by this list alone.
            unsafe { dealloc(b.as_ptr(), block_layout()) };
        }
    }
}

thread_local! {
    static FREE: RefCell<Blocks> = const { RefCell::new(Blocks(Vec::new())) };
}

fn take_block() -> NonNull<u8> {
    let reused = FREE
        .try_with(|f| f.try_borrow_mut().ok()?.0.pop())
        .ok()
        .flatten();
    reused.unwrap_or_else(|| {
        // SAFETY: the layout has a non-zero size.
        let p = unsafe { alloc(block_layout()) };
        NonNull::new(p).unwrap_or_else(|| handle_alloc_error(block_layout()))
    })
}

/// Gives a block back: kept for the next closure, or freed.
///
/// # Safety
/// `b` came from [`take_block`], holds no live value, and is not used again.
unsafe fn give_block(b: NonNull<u8>) {
    let kept = FREE
        .try_with(|f| match f.try_borrow_mut() {
            Ok(mut f) if f.0.len() < KEEP => {
                f.0.push(b);
                true
            }
            _ => false,
        })
        .unwrap_or(false);
    if !kept {
        // SAFETY: `b` was allocated with `block_layout` (the caller's
        // guarantee) and is ours.
        unsafe { dealloc(b.as_ptr(), block_layout()) };
    }
}

/// A [`Starter`]'s word: the closure itself (see [`inline`]), or a pointer
/// to it.
type Data = MaybeUninit<*mut u8>;

/// The operations of one closure type, for a [`Starter`] that forgot it.
struct Ops {
    /// Moves the closure out of `*data`, frees what held it, and makes the
    /// coroutine on `stack`.
    start: unsafe fn(data: *mut Data, stack: Stack) -> Context,
    /// Drops the closure in `*data` and frees what held it.
    drop: unsafe fn(data: *mut Data),
}

/// The closure `F` of a deferred spawn, its type forgotten. Owns it: drop
/// it and the closure is dropped. Like every part of a coro's control
/// block, it stays on the thread that made it.
pub(crate) struct Starter {
    /// The `F` itself when it fits a word ([`inline`]); else a block's
    /// pointer from [`take_block`] holding an `F` ([`fits`]), or a
    /// `Box<F>`'s.
    data: Data,
    ops: &'static Ops,
    /// Not `Send`: `F` need not be, and blocks go back to this thread.
    _not_send: PhantomData<*const ()>,
}

/// Whether an `F` lives in the starter's own word.
const fn inline<F>() -> bool {
    size_of::<F>() <= size_of::<Data>() && align_of::<F>() <= align_of::<Data>()
}

/// Whether an `F` goes in a block rather than a `Box` (when not inline).
const fn fits<F>() -> bool {
    size_of::<F>() <= BLOCK && align_of::<F>() <= BLOCK_ALIGN
}

struct OpsOf<F, T>(PhantomData<(F, T)>);

impl<F, T> OpsOf<F, T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    const OPS: Ops = Ops {
        start: Self::start,
        drop: Self::drop,
    };

    /// # Safety
    /// `data` is a [`Starter`]'s, for an `F`, and the starter is forgotten.
    unsafe fn start(data: *mut Data, stack: Stack) -> Context {
        let f = if inline::<F>() {
            // SAFETY: the word holds an `F` (`Starter::new`), read once
            // here; the starter is forgotten, so nothing reads it again.
            unsafe { data.cast::<F>().read() }
        } else if fits::<F>() {
            // SAFETY: a block pointer was written (`Starter::new`).
            let data = unsafe { NonNull::new_unchecked((*data).assume_init()) };
            // SAFETY: the block holds an `F` (`Starter::new`), read once
            // here; the block is given back after and never read again.
            let f = unsafe { data.cast::<F>().as_ptr().read() };
            // SAFETY: from `take_block`, and its value was moved out.
            unsafe { give_block(data) };
            f
        } else {
            // SAFETY: the pointer came from `Box::<F>::into_raw`, once.
            *unsafe { Box::from_raw((*data).assume_init().cast::<F>()) }
        };
        super::context(stack, f)
    }

    /// # Safety
    /// As for `start`.
    unsafe fn drop(data: *mut Data) {
        if inline::<F>() {
            // SAFETY: the word holds an `F`, dropped once here.
            unsafe { data.cast::<F>().drop_in_place() };
        } else if fits::<F>() {
            // SAFETY: a block pointer was written (`Starter::new`).
            let data = unsafe { NonNull::new_unchecked((*data).assume_init()) };
            // Gives the block back after the closure's drop, also when
            // that panics.
            struct Give(NonNull<u8>);
            impl Drop for Give {
                fn drop(&mut self) {
                    // SAFETY: from `take_block`; the value in it is being
                    // dropped, and nothing reads it afterwards.
                    unsafe { give_block(self.0) };
                }
            }
            let _give = Give(data);
            // SAFETY: the block holds an `F`, dropped once here.
            unsafe { data.cast::<F>().as_ptr().drop_in_place() };
        } else {
            // SAFETY: the pointer came from `Box::<F>::into_raw`, once.
            drop(unsafe { Box::from_raw((*data).assume_init().cast::<F>()) });
        }
    }
}

impl Starter {
    pub(crate) fn new<F, T>(f: F) -> Starter
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        let mut data = Data::uninit();
        if inline::<F>() {
            // SAFETY: the word is big and aligned enough for an `F`
            // (`inline`), and holds nothing yet.
            unsafe { data.as_mut_ptr().cast::<F>().write(f) };
        } else if fits::<F>() {
            let b = take_block();
            // SAFETY: the block is ours, and big and aligned enough for an
            // `F` (`fits`).
            unsafe { b.cast::<F>().as_ptr().write(f) };
            data.write(b.as_ptr());
        } else {
            data.write(Box::into_raw(Box::new(f)).cast::<u8>());
        }
        Starter {
            data,
            ops: &OpsOf::<F, T>::OPS,
            _not_send: PhantomData,
        }
    }

    /// Makes the coroutine on `stack`, with the closure moved in.
    pub(crate) fn start(self, stack: Stack) -> Context {
        let mut this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `data` holds the closure `ops` was made for, and `this`
        // is never dropped, so it is consumed once.
        unsafe { (this.ops.start)(&raw mut this.data, stack) }
    }
}

impl Drop for Starter {
    fn drop(&mut self) {
        // SAFETY: as in `start`; after `drop` nothing uses `data`.
        unsafe { (self.ops.drop)(&raw mut self.data) }
    }
}
