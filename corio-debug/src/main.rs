//! `corio-debug`: the client of corio's debug shell
//! (`corio::debug::serve_unix` / `serve_tcp`).
//!
//! ```text
//! corio-debug /tmp/app.sock            # interactive: line editing, history
//! corio-debug 127.0.0.1:7778 ps w      # one command, its answer on stdout
//! ```
//!
//! The target is a unix socket path (anything with a `/`, or an existing
//! file) or `host:port`. Interactive sessions keep their history in
//! `~/.corio_debug_history`. Exit status: 0, or 1 with a message on stderr
//! when the shell cannot be reached or hangs up.

use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The shell's prompt, which ends every answer.
const PROMPT: &[u8] = b"> ";

trait Conn: Read + Write {}
impl<T: Read + Write> Conn for T {}

fn connect(target: &str) -> io::Result<Box<dyn Conn>> {
    let is_path = target.contains('/') || std::path::Path::new(target).exists();
    if is_path {
        let s = UnixStream::connect(target)?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(Box::new(s))
    } else {
        let s = TcpStream::connect(target)?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(Box::new(s))
    }
}

/// Reads up to the next prompt; `None` when the shell closed first (with
/// what came before it).
fn answer(conn: &mut dyn Conn) -> io::Result<(String, bool)> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if out.ends_with(PROMPT) {
            out.truncate(out.len() - PROMPT.len());
            return Ok((String::from_utf8_lossy(&out).into_owned(), true));
        }
        let n = conn.read(&mut buf)?;
        if n == 0 {
            return Ok((String::from_utf8_lossy(&out).into_owned(), false));
        }
        out.extend_from_slice(&buf[..n]);
    }
}

fn history_file() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".corio_debug_history"))
}

fn one_command(conn: &mut dyn Conn, words: &[String]) -> io::Result<()> {
    let (_greeting, open) = answer(conn)?;
    if !open {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the shell hung up",
        ));
    }
    conn.write_all(format!("{}\n", words.join(" ")).as_bytes())?;
    let (reply, open) = answer(conn)?;
    print!("{reply}");
    io::stdout().flush()?;
    if open {
        conn.write_all(b"exit\n")?;
        let _ = answer(conn);
    }
    Ok(())
}

fn interactive(conn: &mut dyn Conn) -> io::Result<()> {
    let (greeting, open) = answer(conn)?;
    print!("{greeting}");
    if !open {
        return Ok(());
    }
    let tty = io::stdin().is_terminal();
    let mut editor = if tty {
        rustyline::DefaultEditor::new().ok()
    } else {
        None
    };
    let history = history_file();
    if let (Some(ed), Some(h)) = (editor.as_mut(), history.as_ref()) {
        let _ = ed.load_history(h);
    }
    let mut stdin = io::stdin().lock();
    loop {
        let line = match editor.as_mut() {
            Some(ed) => match ed.readline("corio> ") {
                Ok(l) => {
                    if !l.trim().is_empty() {
                        let _ = ed.add_history_entry(l.as_str());
                    }
                    l
                }
                // Ctrl-C, Ctrl-D: leave politely.
                Err(_) => "exit".to_string(),
            },
            None => {
                let mut l = String::new();
                if stdin.read_line(&mut l)? == 0 {
                    "exit".to_string()
                } else {
                    l.trim_end_matches(['\n', '\r']).to_string()
                }
            }
        };
        conn.write_all(format!("{line}\n").as_bytes())?;
        let (reply, open) = answer(conn)?;
        print!("{reply}");
        io::stdout().flush()?;
        if !open {
            break;
        }
    }
    if let (Some(ed), Some(h)) = (editor.as_mut(), history.as_ref()) {
        let _ = ed.save_history(h);
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(target) = args.first() else {
        eprintln!("usage: corio-debug <unix-socket-path | host:port> [command ...]");
        return ExitCode::from(2);
    };
    let mut conn = match connect(target) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("corio-debug: cannot connect to {target}: {e}");
            return ExitCode::from(1);
        }
    };
    let result = if args.len() > 1 {
        one_command(conn.as_mut(), &args[1..])
    } else {
        interactive(conn.as_mut())
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("corio-debug: {target}: {e}");
            ExitCode::from(1)
        }
    }
}
