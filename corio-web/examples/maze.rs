//! The seed's scenario, in a browser (corio's `terminal_maze` example asks the same
//! questions on a terminal, through a generator): "I needed to solicit user input in
//! the middle of a recursive backtracking algorithm".
//!
//! `search` is an ordinary depth-first search, recursive. At every
//! junction it asks the browser which way to go — from whatever depth of
//! the recursion it is at — and goes on with the answer; a dead end
//! returns, and the search backs up to the junction it came from and
//! tries what is left. Between two questions the whole search (the
//! recursion's frames, `seen`, `path`) waits on the session coro's stack.
//!
//! ```text
//! cargo run -p corio-web --example maze -- 127.0.0.1:8080
//! ```

use std::collections::HashSet;

use corio_web::{App, Html, Session, html};

const MAZE: &[&str] = &[
    "#####################",
    "#S      #           #",
    "##### # # ####### # #",
    "#     # # # #   # # #",
    "# # ### # # # # ### #",
    "# #     #   # #     #",
    "# # ####### # ##### #",
    "#   #     # #       #",
    "# ##### ### ##### # #",
    "#     #         # # #",
    "##### ########### ###",
    "#       #       #   #",
    "# # ### # ##### ### #",
    "# #       #        E#",
    "#####################",
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

    fn letter(self) -> &'static str {
        ["n", "e", "s", "w"][self as usize]
    }

    fn name(self) -> &'static str {
        ["North ↑", "East →", "South ↓", "West ←"][self as usize]
    }
}

fn cell(p: Pos) -> u8 {
    MAZE[p.0].as_bytes()[p.1]
}

fn find(ch: u8) -> Pos {
    (0..MAZE.len())
        .find_map(|r| MAZE[r].bytes().position(|b| b == ch).map(|c| (r, c)))
        .expect("the maze has a start and an exit")
}

/// One walk through the maze: the search's state besides its stack.
struct Walk<'s> {
    s: &'s mut Session,
    seen: HashSet<Pos>,
    /// The way from the start to where the search is: one entry per level
    /// of recursion.
    path: Vec<Pos>,
    questions: u32,
    backtracked: u32,
    /// What happened since the last question.
    news: Html,
}

fn maze(s: &mut Session) {
    let mut walk = Walk {
        s,
        seen: HashSet::new(),
        path: Vec::new(),
        questions: 0,
        backtracked: 0,
        news: html!("You are at the start (S). Find the exit (E)."),
    };
    search(&mut walk, find(b'S'));
    let grid = svg(&walk.seen, &walk.path, None);
    let (steps, questions, backtracked) = (walk.path.len() - 1, walk.questions, walk.backtracked);
    walk.s.show(html!(
        "<h1>The maze</h1><p id=done class=hint>You reached the exit: {} steps from the start, \
         {} questions answered, {} steps backtracked out of dead ends.</p>{}<p><a href=/>Walk again</a></p>",
        steps,
        questions,
        backtracked,
        grid
    ));
}

/// Depth-first search from `at`; true when it reached the exit (then
/// `path` is the way there).
fn search(w: &mut Walk, at: Pos) -> bool {
    w.seen.insert(at);
    w.path.push(at);
    if cell(at) == b'E' {
        return true;
    }
    loop {
        let ways: Vec<Dir> = Dir::ALL
            .into_iter()
            .filter(|d| cell(d.step(at)) != b'#' && !w.seen.contains(&d.step(at)))
            .collect();
        let way = match ways[..] {
            [] => break,
            [only] => only,
            _ => ask_way(w, at, &ways), // half-way down the recursion: ask
        };
        if search(w, way.step(at)) {
            return true;
        }
        w.backtracked += 1;
        w.news = html!(
            "That way was a dead end: the search backed up to row {}, column {}.",
            at.0,
            at.1
        );
    }
    w.path.pop();
    false
}

/// Asks which of `ways` to try from the junction at `at`.
fn ask_way(w: &mut Walk, at: Pos, ways: &[Dir]) -> Dir {
    loop {
        let mut buttons = Html::new();
        for d in ways {
            buttons.push(html!(
                "<button name=go value={} id=go-{}>{}</button> ",
                d.letter(),
                d.letter(),
                d.name()
            ));
        }
        let page = html!(
            "<h1>The maze</h1><p class=hint id=news>{}</p>{}\
             <p id=where data-row={} data-col={}>A junction at row {}, column {}; \
             the search is <b id=depth>{}</b> calls deep. Which way?</p>\
             <form method=post>{}</form>",
            w.news,
            svg(&w.seen, &w.path, Some(at)),
            at.0,
            at.1,
            at.0,
            at.1,
            w.path.len(),
            buttons
        );
        let answer = w.s.ask(page);
        w.questions += 1;
        let chosen = answer.get("go");
        if let Some(&d) = ways.iter().find(|d| Some(d.letter()) == chosen) {
            w.news = Html::new();
            return d;
        }
        w.news = html!("Please choose one of the ways shown.");
    }
}

/// The maze as an SVG picture: walls, cells seen, the current path, where
/// the search is.
fn svg(seen: &HashSet<Pos>, path: &[Pos], here: Option<Pos>) -> Html {
    const S: usize = 22;
    let (h, w) = (MAZE.len(), MAZE[0].len());
    let mut out = html!(
        "<svg id=maze xmlns=\"http://www.w3.org/2000/svg\" width={} height={} viewBox=\"0 0 {} {}\" role=img aria-label=\"the maze\">",
        w * S,
        h * S,
        w * S,
        h * S
    );
    let on_path: HashSet<Pos> = path.iter().copied().collect();
    for (r, line) in MAZE.iter().enumerate() {
        for (c, b) in line.bytes().enumerate() {
            let fill = match b {
                b'#' => "#3b3f4a",
                b'E' => "#3cb371",
                _ if on_path.contains(&(r, c)) => "#f6c453",
                _ if seen.contains(&(r, c)) => "#c9d3e0",
                _ => "#ffffff",
            };
            out.push(html!(
                "<rect x={} y={} width={} height={} fill=\"{}\"/>",
                c * S,
                r * S,
                S,
                S,
                fill
            ));
        }
    }
    if let Some((r, c)) = here {
        out.push(html!(
            "<circle cx={} cy={} r={} fill=\"#d62828\"/>",
            c * S + S / 2,
            r * S + S / 2,
            S / 3
        ));
    }
    out.push(Html::raw("</svg>"));
    out
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let listener = corio::net::TcpListener::bind(addr.as_str())?;
    println!("maze: http://{}/", listener.local_addr()?);
    App::new(maze).title("The maze").serve_on(listener)
}
