//! Coro::Intro's first real program: `cede` passes the CPU back and forth
//! between the main coro and a spawned one. Prints exactly what Perl's Coro
//! prints for `examples/perl/intro_cede.pl`:
//!
//! ```text
//! main 1
//! async 1
//! main 2
//! async 2
//! ```

fn main() {
    let _coro = corio::spawn(|| {
        println!("async 1");
        corio::cede();
        println!("async 2");
    });

    println!("main 1");
    corio::cede();
    println!("main 2");
    corio::cede();
}
