//! Coro::Intro's channels: a coro squares the numbers it gets from one
//! channel and puts the results into another. Prints what Perl's Coro
//! prints for `examples/perl/squares.pl`:
//!
//! ```text
//! 1 ** 2 = 1
//! 2 ** 2 = 4
//! 5 ** 2 = 25
//! 10 ** 2 = 100
//! 77 ** 2 = 5929
//! ```

use corio::sync::Channel;

fn main() {
    let calculate = Channel::new();
    let result = Channel::new();

    let (c, r) = (calculate.clone(), result.clone());
    let _squarer = corio::spawn(move || {
        // endless loop
        loop {
            let num: u64 = c.get().expect("never shut down"); // read a number
            let num = num * num; // square it
            r.put(num).expect("never shut down"); // put the result into the result queue
        }
    });

    for n in [1, 2, 5, 10, 77] {
        calculate.put(n).expect("never shut down");
        println!("{n} ** 2 = {}", result.get().expect("never shut down"));
    }
}
