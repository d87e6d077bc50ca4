//! A recursive backtracking search that stops half-way to ask you which
//! way to go — the program the "From Threads to Coroutines" post wished it
//! could write: "I needed to solicit user input in the middle of a
//! recursive backtracking algorithm".
//!
//! The search is an ordinary recursive function. At every fork it calls
//! `yield_` with a question and gets your answer back as the return value,
//! from whatever depth it is at; dead ends make it back up and try the
//! other ways. No state machine, no callbacks.
//!
//! ```text
//! cargo run --example terminal_maze                # answer n, e, s or w at each fork
//! printf 's\ne\n' | cargo run --example terminal_maze
//! ```
//!
//! At the end of input (or for an answer that is not one of the choices)
//! it takes the first choice offered.

use std::io::{self, BufRead, Write};

use corio::{Generator, GeneratorState, Yielder};

const MAZE: &[&str] = &[
    "#############",
    "#S    #     #",
    "# ### # ### #",
    "# #   #   # #",
    "# # ##### # #",
    "# #     # #E#",
    "# ##### # ###",
    "#     #     #",
    "#############",
];

type Pos = (usize, usize);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Dir {
    N,
    E,
    S,
    W,
}

impl Dir {
    const ALL: [Dir; 4] = [Dir::N, Dir::E, Dir::S, Dir::W];

    fn step(self, (r, c): Pos) -> Pos {
        match self {
            Dir::N => (r - 1, c),
            Dir::E => (r, c + 1),
            Dir::S => (r + 1, c),
            Dir::W => (r, c - 1),
        }
    }

    fn letter(self) -> char {
        match self {
            Dir::N => 'n',
            Dir::E => 'e',
            Dir::S => 's',
            Dir::W => 'w',
        }
    }
}

/// What the search asks: at this fork, which of these ways first?
struct Fork {
    at: Pos,
    ways: Vec<Dir>,
}

fn cell(p: Pos) -> u8 {
    MAZE[p.0].as_bytes()[p.1]
}

fn find(ch: u8) -> Pos {
    for (r, line) in MAZE.iter().enumerate() {
        if let Some(c) = line.bytes().position(|b| b == ch) {
            return (r, c);
        }
    }
    unreachable!("the maze has an {}", ch as char)
}

/// Depth-first search from `at`; asks at forks; returns whether the exit
/// was reached, leaving the way there in `path`.
fn search(
    y: &Yielder<Fork, Option<Dir>>,
    at: Pos,
    seen: &mut Vec<Pos>,
    path: &mut Vec<Pos>,
) -> bool {
    seen.push(at);
    path.push(at);
    if cell(at) == b'E' {
        return true;
    }
    let mut ways: Vec<Dir> = Dir::ALL
        .into_iter()
        .filter(|d| {
            let next = d.step(at);
            cell(next) != b'#' && !seen.contains(&next)
        })
        .collect();
    if ways.len() > 1 {
        // Half-way through the recursion: ask, and carry on with the answer.
        if let Some(first) = y.yield_(Fork {
            at,
            ways: ways.clone(),
        }) && let Some(i) = ways.iter().position(|&d| d == first)
        {
            ways[..=i].rotate_right(1);
        }
    }
    if ways.is_empty() {
        println!("  dead end at row {}, column {}: backing up", at.0, at.1);
    }
    for d in ways {
        if search(y, d.step(at), seen, path) {
            return true;
        }
    }
    path.pop();
    false
}

fn main() {
    let start = find(b'S');
    let mut solver = Generator::new(move |y: &Yielder<Fork, Option<Dir>>, _first| {
        let mut path = Vec::new();
        search(y, start, &mut Vec::new(), &mut path).then_some(path)
    });

    let mut answers = io::stdin().lock().lines();
    let mut answer = None;
    let mut asked = 0;
    let path = loop {
        match solver.resume(answer.take()) {
            GeneratorState::Yielded(fork) => {
                asked += 1;
                let letters: String = fork.ways.iter().map(|d| d.letter()).collect();
                print!(
                    "fork at row {}, column {}: which way first [{letters}]? ",
                    fork.at.0, fork.at.1
                );
                io::stdout().flush().ok();
                let line = answers.next().and_then(Result::ok).unwrap_or_default();
                let choice = fork
                    .ways
                    .iter()
                    .copied()
                    .find(|d| line.trim().starts_with(d.letter()))
                    .unwrap_or(fork.ways[0]);
                println!("{}", choice.letter());
                answer = Some(choice);
            }
            GeneratorState::Complete(path) => break path,
        }
    };

    match path {
        Some(path) => {
            println!("out after {} steps and {asked} questions:", path.len() - 1);
            for (r, line) in MAZE.iter().enumerate() {
                let row: String = line
                    .bytes()
                    .enumerate()
                    .map(|(c, b)| {
                        if b == b' ' && path.contains(&(r, c)) {
                            '.'
                        } else {
                            b as char
                        }
                    })
                    .collect();
                println!("{row}");
            }
        }
        None => println!("no way out"),
    }
}
