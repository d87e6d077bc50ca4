//! Coro::Intro's `printit`: every coro keeps its own state across a switch.
//! Prints `Hello, World!`, as Perl's Coro does for
//! `examples/perl/printit.pl`, and not `World!World!`.
//!
//! In Perl the point is that `my $string` is per coro. In Rust a local
//! variable already lives on the coro's own stack; this example keeps the
//! string in a `coro_local!` instead, the way a Perl program would use a
//! per-coro global like `$_`: each coro sees its own value.

use std::cell::RefCell;

corio::coro_local! {
    static STRING: RefCell<String> = RefCell::new(String::new());
}

fn printit(string: &str) {
    STRING.set(string.to_string());

    corio::cede();

    STRING.with_borrow(|s| print!("{s}"));
}

fn main() {
    let _hello = corio::spawn(|| printit("Hello, "));
    let _world = corio::spawn(|| printit("World!\n"));

    corio::cede();
    corio::cede(); // do it
}
