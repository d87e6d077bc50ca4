//! Which of corio's public types may cross threads (the others, which must
//! not, are pinned by the `compile_fail` doctests of `src/auto_traits.rs`).

fn is_send<T: Send>() {}
fn is_sync<T: Sync>() {}

#[test]
fn what_crosses_threads() {
    // Values and plain descriptions.
    is_send::<corio::CoroId>();
    is_sync::<corio::CoroId>();
    is_send::<corio::Elapsed>();
    is_sync::<corio::Elapsed>();
    is_send::<corio::JoinError>();
    is_send::<corio::Builder>();
    is_sync::<corio::Builder>();
    is_send::<corio::GeneratorState<u8, u8>>();
    is_send::<corio::sync::Closed<u8>>();
    is_send::<corio::sync::TryPutError<u8>>();
    // A coro-local key lives in a `static`.
    is_sync::<corio::CoroLocal<std::cell::Cell<u8>>>();
    // Made to cross threads.
    is_send::<corio::sync::mpmc::Channel<u8>>();
    is_sync::<corio::sync::mpmc::Channel<u8>>();
    is_send::<corio::RouseCallback<u8>>();
    is_send::<corio::thread::JoinHandle<u8>>();
    is_send::<corio::thread::Builder>();
    // A file is a descriptor; each call uses the calling thread's ring or
    // pool.
    is_send::<corio::fs::File>();
    is_sync::<corio::fs::File>();
    is_send::<corio::fs::OpenOptions>();
    // A command is a description; spawning makes a `Child` of the calling
    // thread.
    is_send::<corio::process::Command>();
    is_sync::<corio::process::Command>();
}
