//! Coro::Intro's first semaphore program: the main coro blocks on a locked
//! semaphore until a coro unlocks it. Prints what Perl's Coro prints for
//! `examples/perl/semaphore.pl`:
//!
//! ```text
//! trying to lock semaphore
//! unlocking semaphore
//! we got it!
//! ```

use std::rc::Rc;

use corio::sync::Semaphore;

fn main() {
    let sem = Rc::new(Semaphore::new(0)); // a locked semaphore

    let s = sem.clone();
    let _unlocker = corio::spawn(move || {
        println!("unlocking semaphore");
        s.up();
    });

    println!("trying to lock semaphore");
    sem.down();
    println!("we got it!");
}
