//! [`Value`]: a `Box<dyn Any>` that keeps small values inline, so that a
//! coro returning a `u64` or a `Result<u32, E>` allocates nothing.

use std::any::TypeId;
use std::fmt;
use std::marker::PhantomData;
use std::mem::{MaybeUninit, align_of, size_of};
use std::ptr;

type Words = [MaybeUninit<usize>; 2];

/// What a [`Value`] needs to know about the type it holds.
struct Meta {
    type_id: TypeId,
    /// Drops the value held in the words.
    drop: unsafe fn(*mut Words),
    inline: bool,
}

struct MetaOf<T>(PhantomData<T>);

impl<T: 'static> MetaOf<T> {
    const INLINE: bool =
        size_of::<T>() <= size_of::<Words>() && align_of::<T>() <= align_of::<Words>();
    const META: &'static Meta = &Meta {
        type_id: TypeId::of::<T>(),
        drop: drop_value::<T>,
        inline: Self::INLINE,
    };
}

/// # Safety
/// `words` must hold a live `T` as written by [`Value::new::<T>`].
unsafe fn drop_value<T: 'static>(words: *mut Words) {
    if MetaOf::<T>::INLINE {
        // SAFETY: an inline `T` sits at the start of the words, aligned.
        unsafe { ptr::drop_in_place(words.cast::<T>()) };
    } else {
        // SAFETY: the first word is the pointer of a leaked `Box<T>`.
        drop(unsafe { Box::from_raw((*words)[0].assume_init() as *mut T) });
    }
}

/// A value of some `'static` type, inline when it fits in two words.
///
/// # Invariant
/// `words` holds a live value of the type `meta` describes: inline if
/// `meta.inline`, else as a `Box` pointer in the first word.
pub(crate) struct Value {
    words: Words,
    meta: &'static Meta,
    /// The value may be `!Send` or `!Sync`.
    _not_send: PhantomData<*const ()>,
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Value").finish_non_exhaustive()
    }
}

impl Value {
    #[inline]
    pub(crate) fn new<T: 'static>(v: T) -> Value {
        let mut words: Words = [MaybeUninit::uninit(); 2];
        if MetaOf::<T>::INLINE {
            // SAFETY: `T` fits in the words and is no more aligned than them.
            unsafe { ptr::write(words.as_mut_ptr().cast::<T>(), v) };
        } else {
            words[0] = MaybeUninit::new(Box::into_raw(Box::new(v)) as usize);
        }
        Value {
            words,
            meta: MetaOf::<T>::META,
            _not_send: PhantomData,
        }
    }

    /// The value, if it is a `T`.
    #[inline]
    pub(crate) fn take<T: 'static>(self) -> Result<T, Value> {
        if self.meta.type_id != TypeId::of::<T>() {
            return Err(self);
        }
        let this = std::mem::ManuallyDrop::new(self);
        let v = if this.meta.inline {
            // SAFETY: the type matches and the value is inline (invariant);
            // `this` is never dropped, so the value is moved out once.
            unsafe { ptr::read(this.words.as_ptr().cast::<T>()) }
        } else {
            // SAFETY: the type matches and the first word is its box.
            *unsafe { Box::from_raw(this.words[0].assume_init() as *mut T) }
        };
        Ok(v)
    }
}

impl Drop for Value {
    fn drop(&mut self) {
        // SAFETY: the words hold a live value of the type of `meta`.
        unsafe { (self.meta.drop)(&mut self.words) };
    }
}

#[cfg(test)]
mod tests {
    use super::Value;
    use std::rc::Rc;

    #[test]
    fn small_and_large_values_round_trip() {
        assert_eq!(Value::new(7u64).take::<u64>().unwrap(), 7);
        assert_eq!(Value::new(()).take::<()>().unwrap(), ());
        let s = String::from("a string is three words");
        assert_eq!(Value::new(s.clone()).take::<String>().unwrap(), s);
        assert_eq!(Value::new([1u64; 8]).take::<[u64; 8]>().unwrap(), [1; 8]);
        let wrong = Value::new(5u32).take::<u64>();
        assert_eq!(wrong.unwrap_err().take::<u32>().unwrap(), 5);
    }

    #[test]
    fn dropping_drops_the_value_once() {
        let rc = Rc::new(());
        drop(Value::new(rc.clone()));
        drop(Value::new((rc.clone(), [0u8; 64])));
        assert_eq!(Rc::strong_count(&rc), 1);
        let v = Value::new(rc.clone()).take::<Rc<()>>().unwrap();
        assert_eq!(Rc::strong_count(&rc), 2);
        drop(v);
        assert_eq!(Rc::strong_count(&rc), 1);
    }
}
