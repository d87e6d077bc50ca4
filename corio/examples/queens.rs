//! N queens, solved by a plain recursive backtracking search that hands out
//! every solution from the bottom of its recursion through a `Generator`.
//! The caller just iterates; the search keeps its whole state on its own
//! stack between solutions.
//!
//! ```text
//! cargo run --release --example queens          # 8 queens: the first solution and the count
//! cargo run --release --example queens -- 6 4   # 6 queens, show 4 solutions
//! ```

use corio::{Generator, Yielder};

/// Places a queen in every row from `row` on, yielding each complete board
/// (the column of the queen in each row).
fn place(y: &Yielder<Vec<usize>>, n: usize, row: usize, cols: &mut Vec<usize>) {
    if row == n {
        y.yield_(cols.clone());
        return;
    }
    for col in 0..n {
        let safe = cols
            .iter()
            .enumerate()
            .all(|(r, &c)| c != col && row - r != col.abs_diff(c));
        if safe {
            cols.push(col);
            place(y, n, row + 1, cols);
            cols.pop();
        }
    }
}

fn solutions(n: usize) -> Generator<Vec<usize>> {
    Generator::new(move |y, ()| place(y, n, 0, &mut Vec::with_capacity(n)))
}

fn draw(board: &[usize]) -> String {
    let n = board.len();
    let mut out = String::new();
    for &col in board {
        for c in 0..n {
            out.push_str(if c == col { " Q" } else { " ." });
        }
        out.push('\n');
    }
    out
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(8);
    let show: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);

    let mut count = 0;
    for board in solutions(n) {
        count += 1;
        if count <= show {
            println!("solution {count}:\n{}", draw(&board));
        }
    }
    println!("{n} queens: {count} solutions");
}
